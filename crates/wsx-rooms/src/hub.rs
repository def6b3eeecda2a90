//! This node's members and the fan-out (RFC 6455 §5.6 data frames, §7.4.1
//! close codes): every delivery is encoded once ([`PreparedMessage`],
//! compressed once per deflate setting) and the same bytes are queued for
//! every local member of the room.
//!
//! Each member has a bounded [`Outbox`]; what happens when it is full is
//! the room's [`SlowPolicy`]: the member is removed and closed with 1008
//! (the default), the oldest queued message is dropped, or (conflation)
//! a queued message with the same key as the new one is replaced by it —
//! so a slow member never slows the room. A broker hands what local members must receive to
//! [`Hub::deliver`]; the hub knows nothing of brokers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;
use wsx::{PreparedMessage, Utf8Bytes};

use crate::auth::RoomSet;
use crate::envelope::{MemberInfo, stamp};
use crate::metrics::{Metrics, add};

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
    /// The conflation key (only in conflating rooms).
    pub(crate) key: Option<Arc<str>>,
}

/// What a room does with a member whose queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SlowPolicy {
    /// Remove the member and close it with 1008 (policy violation).
    #[default]
    Close,
    /// Drop the oldest queued message to make room (the member sees a
    /// jump in offsets).
    DropOldest,
    /// Keep only the newest message per key (`"key"` of a `message`
    /// envelope): a new message replaces a queued one with its key, and
    /// moves to the back; when none shares its key and the queue is full,
    /// the oldest goes. Messages without a key are only ever dropped oldest
    /// first.
    Conflate,
}

/// A member's bounded queue of outgoing messages.
#[derive(Debug)]
pub(crate) struct Outbox {
    state: Mutex<OutboxState>,
    ready: Notify,
}

#[derive(Debug)]
struct OutboxState {
    queue: VecDeque<Arc<Outgoing>>,
    capacity: usize,
    policy: SlowPolicy,
    /// Dropped for being too slow: the session closes with 1008.
    kicked: bool,
}

/// What became of a message offered to an outbox.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Offered {
    Queued,
    /// Queued in place of the oldest message.
    DroppedOldest,
    /// Queued in place of an older message with its key.
    Conflated,
    /// Full: the member is dropped.
    Kicked,
}

/// What the session takes from its outbox.
#[derive(Debug)]
pub(crate) enum Taken {
    /// Messages were moved into the caller's buffer.
    Messages,
    Kicked,
}

impl Outbox {
    pub(crate) fn new(capacity: usize, policy: SlowPolicy) -> Self {
        let state = OutboxState { queue: VecDeque::new(), capacity: capacity.max(1), policy, kicked: false };
        Self { state: Mutex::new(state), ready: Notify::new() }
    }

    fn state(&self) -> MutexGuard<'_, OutboxState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn offer(&self, outgoing: Arc<Outgoing>) -> Offered {
        let mut state = self.state();
        if state.kicked {
            return Offered::Kicked;
        }
        let mut offered = Offered::Queued;
        if state.policy == SlowPolicy::Conflate
            && let Some(key) = &outgoing.key
            && let Some(at) = state.queue.iter().position(|queued| queued.key.as_ref() == Some(key))
        {
            state.queue.remove(at);
            offered = Offered::Conflated;
        } else if state.queue.len() >= state.capacity {
            if state.policy == SlowPolicy::Close {
                state.kicked = true;
                state.queue.clear();
                drop(state);
                self.ready.notify_one();
                return Offered::Kicked;
            }
            state.queue.pop_front();
            offered = Offered::DroppedOldest;
        }
        // The session waits only on an empty queue, so only the first
        // message into one needs to wake it (a notify costs more than the
        // rest of an offer).
        let was_empty = state.queue.is_empty();
        state.queue.push_back(outgoing);
        drop(state);
        if was_empty {
            self.ready.notify_one();
        }
        offered
    }

    /// Waits for messages and moves them (at most `batch`) into `into`,
    /// or for the kick.
    pub(crate) async fn take(&self, batch: usize, into: &mut Vec<Arc<Outgoing>>) -> Taken {
        loop {
            {
                let mut state = self.state();
                if state.kicked {
                    return Taken::Kicked;
                }
                if !state.queue.is_empty() {
                    let n = state.queue.len().min(batch);
                    into.extend(state.queue.drain(..n));
                    return Taken::Messages;
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

#[derive(Default)]
struct LocalRoom {
    policy: SlowPolicy,
    members: BTreeMap<u64, Member>,
}

struct HubInner {
    rooms: Mutex<HashMap<String, LocalRoom>>,
    /// Put the offset into text envelopes.
    stamped: bool,
    /// Slow-member policies by room pattern, first match wins.
    policies: Vec<(RoomSet, SlowPolicy)>,
    metrics: Arc<Metrics>,
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
    pub(crate) fn new(stamped: bool, policies: Vec<(RoomSet, SlowPolicy)>, metrics: Arc<Metrics>) -> Self {
        Self(Arc::new(HubInner { rooms: Mutex::new(HashMap::new()), stamped, policies, metrics }))
    }

    fn rooms(&self) -> MutexGuard<'_, HashMap<String, LocalRoom>> {
        self.0.rooms.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The slow-member policy of `room`.
    pub fn policy(&self, room: &str) -> SlowPolicy {
        self.0.policies.iter().find(|(rooms, _)| rooms.allows(room)).map_or(SlowPolicy::Close, |(_, policy)| *policy)
    }

    pub(crate) fn add(&self, room: &str, key: u64, info: MemberInfo, outbox: Arc<Outbox>) {
        let mut rooms = self.rooms();
        let local = rooms
            .entry(room.to_owned())
            .or_insert_with(|| LocalRoom { policy: self.policy(room), ..LocalRoom::default() });
        local.members.insert(key, Member { info, outbox });
        add(&self.0.metrics.members, 1);
    }

    /// Removes a member; true if the room has no local member left.
    pub(crate) fn remove(&self, room: &str, key: u64) -> bool {
        let mut rooms = self.rooms();
        let Some(local) = rooms.get_mut(room) else { return true };
        if local.members.remove(&key).is_some() {
            self.0.metrics.members.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
        let empty = local.members.is_empty();
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
        self.rooms().get(room).map(|local| local.members.values().map(|m| m.info.clone()).collect()).unwrap_or_default()
    }

    /// Encodes the message once and queues it for every local member of the
    /// room but `except`, under the room's [`SlowPolicy`]; a member removed
    /// by it is told to close (1008). Deliveries of one room must come in
    /// offset order.
    pub fn deliver(&self, room: &str, delivery: &Delivery) {
        let metrics = &self.0.metrics;
        let mut rooms = self.rooms();
        let Some(local) = rooms.get_mut(room) else { return };
        let key = match (&delivery.relay, local.policy) {
            (Relay::Text(text), SlowPolicy::Conflate) => conflation_key(text),
            _ => None,
        };
        let message = delivery.relay.prepare(delivery.seq, self.0.stamped);
        // One reference count per member, not one per field.
        let outgoing = Arc::new(Outgoing { seq: delivery.seq, message, key });
        add(&metrics.messages_out, 1);
        // Counted here and added once: the loop below runs per member.
        let (mut deliveries, mut dropped_oldest, mut conflated) = (0, 0, 0);
        let mut kicked = Vec::new();
        for (&key, member) in &local.members {
            if Some(key) == delivery.except {
                continue;
            }
            deliveries += 1;
            match member.outbox.offer(outgoing.clone()) {
                Offered::Queued => {}
                Offered::DroppedOldest => dropped_oldest += 1,
                Offered::Conflated => conflated += 1,
                Offered::Kicked => {
                    tracing::warn!(room, member = %member.info.id, name = %member.info.name, "room member too slow; dropping it (1008)");
                    kicked.push(key);
                }
            }
        }
        add(&metrics.deliveries, deliveries);
        add(&metrics.dropped_oldest, dropped_oldest);
        add(&metrics.conflated, conflated);
        for key in &kicked {
            local.members.remove(key);
        }
        if !kicked.is_empty() {
            metrics.members.fetch_sub(kicked.len() as u64, std::sync::atomic::Ordering::Relaxed);
        }
        if local.members.is_empty() {
            rooms.remove(room);
        }
    }
}

/// The `key` of a `message` envelope, if it has one.
fn conflation_key(envelope: &str) -> Option<Arc<str>> {
    #[derive(serde::Deserialize)]
    struct Keyed<'a> {
        #[serde(borrow)]
        key: Option<std::borrow::Cow<'a, str>>,
    }
    let keyed: Keyed<'_> = serde_json::from_str(envelope).ok()?;
    keyed.key.map(|key| Arc::from(&*key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outgoing(offset: u64, key: Option<&str>) -> Arc<Outgoing> {
        let seq = Some(Seq { epoch: 1, offset });
        Arc::new(Outgoing { seq, message: PreparedMessage::text(offset.to_string()), key: key.map(Arc::from) })
    }

    async fn offsets(outbox: &Outbox) -> Vec<u64> {
        let mut batch = Vec::new();
        match outbox.take(usize::MAX, &mut batch).await {
            Taken::Messages => batch.iter().filter_map(|o| o.seq.map(|s| s.offset)).collect(),
            Taken::Kicked => panic!("kicked"),
        }
    }

    #[tokio::test]
    async fn drop_oldest_keeps_the_newest() {
        let outbox = Outbox::new(3, SlowPolicy::DropOldest);
        let offered: Vec<Offered> = (1..=5).map(|o| outbox.offer(outgoing(o, None))).collect();
        assert_eq!(offered[..3], [Offered::Queued, Offered::Queued, Offered::Queued]);
        assert_eq!(offered[3..], [Offered::DroppedOldest, Offered::DroppedOldest]);
        assert_eq!(offsets(&outbox).await, vec![3, 4, 5]);
    }

    #[tokio::test]
    async fn conflation_keeps_the_newest_per_key_in_order() {
        let outbox = Outbox::new(3, SlowPolicy::Conflate);
        for (offset, key) in [(1, "a"), (2, "b"), (3, "a"), (4, "c"), (5, "b")] {
            outbox.offer(outgoing(offset, Some(key)));
        }
        // a→3 replaced 1, b→5 replaced 2; order by offset.
        assert_eq!(offsets(&outbox).await, vec![3, 4, 5]);
        for (offset, key) in [(6, "a"), (7, "b"), (8, "c"), (9, "d")] {
            outbox.offer(outgoing(offset, Some(key)));
        }
        // Full with three distinct keys: "d" pushes out the oldest.
        assert_eq!(offsets(&outbox).await, vec![7, 8, 9]);
        assert_eq!(conflation_key(r#"{"offset":1,"type":"message","key":"BTC","text":"1"}"#).as_deref(), Some("BTC"));
        assert_eq!(conflation_key(r#"{"type":"message","text":"1"}"#), None);
    }

    #[tokio::test]
    async fn close_kicks_when_full() {
        let outbox = Outbox::new(2, SlowPolicy::Close);
        assert_eq!(outbox.offer(outgoing(1, None)), Offered::Queued);
        assert_eq!(outbox.offer(outgoing(2, None)), Offered::Queued);
        assert_eq!(outbox.offer(outgoing(3, None)), Offered::Kicked);
        assert!(matches!(outbox.take(8, &mut Vec::new()).await, Taken::Kicked));
    }
}
