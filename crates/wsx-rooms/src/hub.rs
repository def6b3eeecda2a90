//! This node's members and the fan-out (RFC 6455 §5.6 data frames, §7.4.1
//! close codes): every delivery is encoded once ([`PreparedMessage`],
//! compressed once per deflate setting) and the same bytes are queued for
//! every local member of the room.
//!
//! Each member has a bounded [`Outbox`]; a member whose outbox is full is
//! removed and told to close with 1008, so a slow member never slows the
//! room. A broker hands what local members must receive to
//! [`Hub::deliver`]; the hub knows nothing of brokers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;
use wsx::{PreparedMessage, Utf8Bytes};

use crate::envelope::{MemberInfo, stamp};

/// Where a message stands in its room: the room's epoch (changes when its
/// history is lost) and the message's offset (consecutive from 1 within an
/// epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Seq {
    /// The room's epoch.
    pub epoch: u64,
    /// The message's offset in that epoch.
    pub offset: u64,
}

/// A message as it travels between members, brokers and nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relay {
    /// Text: a JSON envelope in a room with one, else a member's text as sent.
    Text(Utf8Bytes),
    /// A member's binary message, as it was sent.
    Binary(Bytes),
}

impl Relay {
    /// Payload size in bytes.
    pub fn len(&self) -> usize {
        match self {
            Relay::Text(text) => text.len(),
            Relay::Binary(data) => data.len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frame every member receives; an envelope gets its offset.
    pub(crate) fn prepare(&self, seq: Option<Seq>, stamped: bool) -> PreparedMessage {
        match (self, seq) {
            (Relay::Text(text), Some(seq)) if stamped => PreparedMessage::text(stamp(text, seq.offset)),
            (Relay::Text(text), _) => PreparedMessage::text(text.clone()),
            (Relay::Binary(data), _) => PreparedMessage::binary(data),
        }
    }
}

/// What a broker hands the hub for one room.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Epoch and offset of a kept message; `None` for presence.
    pub seq: Option<Seq>,
    /// The message.
    pub relay: Relay,
    /// The member of this node that sent it (it does not get it back).
    pub except: Option<u64>,
}

/// One message queued for a member.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub(crate) seq: Option<Seq>,
    pub(crate) message: PreparedMessage,
}

/// A member's bounded queue of outgoing messages.
#[derive(Debug)]
pub(crate) struct Outbox {
    state: Mutex<OutboxState>,
    ready: Notify,
}

#[derive(Debug)]
struct OutboxState {
    queue: VecDeque<Outgoing>,
    capacity: usize,
    /// Dropped for being too slow: the session closes with 1008.
    kicked: bool,
}

/// What became of a message offered to an outbox.
#[derive(Debug, PartialEq, Eq)]
enum Offered {
    Queued,
    /// Full: the member is dropped.
    Kicked,
}

/// What the session takes from its outbox.
#[derive(Debug)]
pub(crate) enum Taken {
    Messages(Vec<Outgoing>),
    Kicked,
}

impl Outbox {
    pub(crate) fn new(capacity: usize) -> Self {
        let state = OutboxState { queue: VecDeque::new(), capacity: capacity.max(1), kicked: false };
        Self { state: Mutex::new(state), ready: Notify::new() }
    }

    fn state(&self) -> MutexGuard<'_, OutboxState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn offer(&self, outgoing: Outgoing) -> Offered {
        let mut state = self.state();
        if state.kicked {
            return Offered::Kicked;
        }
        if state.queue.len() >= state.capacity {
            state.kicked = true;
            state.queue.clear();
            drop(state);
            self.ready.notify_one();
            return Offered::Kicked;
        }
        state.queue.push_back(outgoing);
        drop(state);
        self.ready.notify_one();
        Offered::Queued
    }

    /// Waits for messages (at most `batch`) or the kick.
    pub(crate) async fn take(&self, batch: usize) -> Taken {
        loop {
            {
                let mut state = self.state();
                if state.kicked {
                    return Taken::Kicked;
                }
                if !state.queue.is_empty() {
                    let n = state.queue.len().min(batch);
                    return Taken::Messages(state.queue.drain(..n).collect());
                }
            }
            // A permit stored by a notify since the check is taken at once.
            self.ready.notified().await;
        }
    }
}

struct Member {
    info: MemberInfo,
    outbox: Arc<Outbox>,
}

struct HubInner {
    rooms: Mutex<HashMap<String, BTreeMap<u64, Member>>>,
    /// Put the offset into text envelopes.
    stamped: bool,
}

/// This node's members, by room, and the fan-out to them. Cheap to clone
/// (shared).
#[derive(Clone)]
pub struct Hub(Arc<HubInner>);

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").field("rooms", &self.occupied().len()).finish()
    }
}

impl Hub {
    pub(crate) fn new(stamped: bool) -> Self {
        Self(Arc::new(HubInner { rooms: Mutex::new(HashMap::new()), stamped }))
    }

    fn rooms(&self) -> MutexGuard<'_, HashMap<String, BTreeMap<u64, Member>>> {
        self.0.rooms.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn add(&self, room: &str, key: u64, info: MemberInfo, outbox: Arc<Outbox>) {
        self.rooms().entry(room.to_owned()).or_default().insert(key, Member { info, outbox });
    }

    /// Removes a member; true if the room has no local member left.
    pub(crate) fn remove(&self, room: &str, key: u64) -> bool {
        let mut rooms = self.rooms();
        let Some(members) = rooms.get_mut(room) else { return true };
        members.remove(&key);
        let empty = members.is_empty();
        if empty {
            rooms.remove(room);
        }
        empty
    }

    /// Rooms with local members (what a node subscribes to).
    pub fn occupied(&self) -> Vec<String> {
        self.rooms().keys().cloned().collect()
    }

    /// Whether the room has local members.
    pub fn is_occupied(&self, room: &str) -> bool {
        self.rooms().contains_key(room)
    }

    /// The room's local members.
    pub fn members(&self, room: &str) -> Vec<MemberInfo> {
        self.rooms().get(room).map(|members| members.values().map(|m| m.info.clone()).collect()).unwrap_or_default()
    }

    /// Encodes the message once and queues it for every local member of the
    /// room but `except`; a member whose queue is full is removed and told
    /// to close (1008). Deliveries of one room must come in offset order.
    pub fn deliver(&self, room: &str, delivery: &Delivery) {
        let mut rooms = self.rooms();
        let Some(members) = rooms.get_mut(room) else { return };
        let outgoing = Outgoing { seq: delivery.seq, message: delivery.relay.prepare(delivery.seq, self.0.stamped) };
        members.retain(|&key, member| {
            Some(key) == delivery.except
                || match member.outbox.offer(outgoing.clone()) {
                    Offered::Queued => true,
                    Offered::Kicked => {
                        tracing::warn!(room, member = %member.info.id, name = %member.info.name, "room member too slow; dropping it (1008)");
                        false
                    }
                }
        });
        if members.is_empty() {
            rooms.remove(room);
        }
    }
}
