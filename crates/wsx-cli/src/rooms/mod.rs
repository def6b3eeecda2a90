//! Rooms for `wsx serve` (`/rooms/{name}`): publish/subscribe over WebSocket
//! messages (RFC 6455 §5.6), each delivered to every other member of the
//! room, in order per sender.
//!
//! - Fan-out encodes each message once ([`PreparedMessage`]) and queues the
//!   same bytes for every recipient.
//! - Each member has a bounded queue; one that falls behind by more than the
//!   limit is removed and closed with 1008 (RFC 6455 §7.4.1 "policy"), so a
//!   slow member never slows the room.
//! - Rooms are local to the process, or shared across nodes through Redis
//!   Pub/Sub ([`redis`]): each node delivers to its own members, publishes
//!   what they send, and subscribes only to rooms it has members in.

mod envelope;
mod redis;
pub(crate) mod session;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};
use wsx::{PreparedMessage, Utf8Bytes};

pub(crate) use envelope::MemberInfo;
use envelope::{ServerEvent, now_ms};

/// Most payload bytes of history kept per room (in-process broker); older
/// messages go first. Bounds memory whatever the message sizes.
const HISTORY_BYTES: usize = 1 << 20;

/// Most rooms kept with history but no members; past it, empty rooms are
/// forgotten (bounds memory against clients that visit many room names).
const MAX_IDLE_ROOMS: usize = 1024;

/// Settings of the rooms endpoint.
#[derive(Debug, Clone)]
pub(crate) struct RoomsConfig {
    /// Messages kept per room and sent to a new member (0: none).
    pub(crate) history: usize,
    /// Messages queued for a member before it is dropped with 1008.
    pub(crate) queue: usize,
    /// `redis://host:port` to share rooms across nodes.
    pub(crate) redis: Option<String>,
}

/// A message as it travels between members and nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Relay {
    /// A JSON envelope.
    Text(Utf8Bytes),
    /// A member's binary message, as it was sent.
    Binary(Bytes),
}

impl Relay {
    fn len(&self) -> usize {
        match self {
            Relay::Text(text) => text.len(),
            Relay::Binary(data) => data.len(),
        }
    }

    fn prepare(&self) -> PreparedMessage {
        match self {
            Relay::Text(text) => PreparedMessage::text(text.clone()),
            Relay::Binary(bytes) => PreparedMessage::binary(bytes),
        }
    }
}

struct Member {
    info: MemberInfo,
    outbox: mpsc::Sender<PreparedMessage>,
    /// Woken when the member is dropped for being too slow.
    kicked: Arc<Notify>,
}

#[derive(Default)]
struct Room {
    members: BTreeMap<u64, Member>,
    /// The last messages (in-process broker only; with Redis it is a list there).
    history: VecDeque<Relay>,
    history_bytes: usize,
}

/// Every room of this node.
pub(crate) struct Rooms {
    config: RoomsConfig,
    node: u64,
    next_member: AtomicU64,
    local: Mutex<HashMap<String, Room>>,
    redis: Option<redis::RedisLink>,
}

/// A member's place in a room, returned by [`Rooms::join`].
pub(crate) struct Membership {
    pub(crate) room: String,
    pub(crate) key: u64,
    pub(crate) info: MemberInfo,
    pub(crate) outbox: mpsc::Receiver<PreparedMessage>,
    /// Notified when the room drops this member for being too slow.
    pub(crate) kicked: Arc<Notify>,
    /// Sent first: the welcome and then the history, oldest first.
    pub(crate) greeting: Vec<PreparedMessage>,
}

impl Rooms {
    /// Starts the rooms (and the Redis link, which connects in the
    /// background). Fails only on a malformed Redis URL.
    pub(crate) fn start(config: RoomsConfig) -> Result<Arc<Self>, String> {
        let node = rand::random::<u64>();
        let client = match &config.redis {
            Some(url) => Some(::redis::Client::open(url.as_str()).map_err(|e| format!("bad --redis URL: {e}"))?),
            None => None,
        };
        let rooms = Arc::new_cyclic(|rooms| Self {
            redis: client.map(|client| redis::RedisLink::new(client, node, config.history, rooms.clone())),
            config,
            node,
            next_member: AtomicU64::new(0),
            local: Mutex::new(HashMap::new()),
        });
        if let Some(link) = &rooms.redis {
            link.run();
        }
        Ok(rooms)
    }

    fn local(&self) -> MutexGuard<'_, HashMap<String, Room>> {
        self.local.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Rooms that have local members (what a node subscribes to).
    fn occupied(&self) -> Vec<String> {
        self.local().iter().filter(|(_, room)| !room.members.is_empty()).map(|(name, _)| name.clone()).collect()
    }

    fn members_of(&self, room: &str) -> Vec<MemberInfo> {
        self.local().get(room).map(|r| r.members.values().map(|m| m.info.clone()).collect()).unwrap_or_default()
    }

    /// Adds a member: from now on it receives the room's messages. Returns
    /// its queue and the greeting (welcome and history) to send first.
    pub(crate) async fn join(&self, room: &str, name: Option<String>) -> Membership {
        let key = self.next_member.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:016x}-{key}", self.node);
        let name = name.unwrap_or_else(|| format!("guest-{key}"));
        let info = MemberInfo { id, name };
        let (tx, outbox) = mpsc::channel(self.config.queue.max(1));
        let kicked = Arc::new(Notify::new());
        let joined = ServerEvent::Join { room, id: &info.id, name: &info.name, ts: now_ms() };
        let joined = Relay::Text(joined.to_json().into());
        // Registration, the snapshot for the welcome and the join event to
        // the others happen under one lock: every local member either is in
        // the newcomer's member list or hears of it later, never both.
        let (mut members, local_history) = {
            let mut local = self.local();
            let entry = local.entry(room.to_owned()).or_default();
            entry.members.insert(key, Member { info: info.clone(), outbox: tx, kicked: kicked.clone() });
            let members: Vec<MemberInfo> = entry.members.values().map(|m| m.info.clone()).collect();
            self.fan_out(room, entry, Some(key), &joined.prepare());
            (members, entry.history.iter().cloned().collect::<Vec<_>>())
        };
        let history = match &self.redis {
            Some(link) => {
                link.subscribe(room).await;
                link.add_member(room, &info).await;
                link.publish(room, joined, false);
                if let Some(all) = link.members(room).await {
                    members = all;
                }
                link.history(room).await
            }
            None => local_history,
        };
        let welcome = ServerEvent::Welcome { room, you: &info, members: &members, history: history.len() };
        let mut greeting = vec![PreparedMessage::text(welcome.to_json())];
        greeting.extend(history.iter().map(Relay::prepare));
        Membership { room: room.to_owned(), key, info, outbox, kicked, greeting }
    }

    /// Removes the member (if a fan-out has not already dropped it) and
    /// tells the room.
    pub(crate) async fn leave(&self, membership: &Membership) {
        let emptied = {
            let mut local = self.local();
            let idle = local.values().filter(|r| r.members.is_empty()).count();
            match local.get_mut(&membership.room) {
                Some(room) => {
                    room.members.remove(&membership.key);
                    let empty = room.members.is_empty();
                    if empty && (room.history.is_empty() || idle >= MAX_IDLE_ROOMS) {
                        local.remove(&membership.room);
                    }
                    empty
                }
                None => true,
            }
        };
        let info = &membership.info;
        let event = ServerEvent::Leave { room: &membership.room, id: &info.id, name: &info.name, ts: now_ms() };
        self.publish(&membership.room, None, Relay::Text(event.to_json().into()), false);
        if let Some(link) = &self.redis {
            link.remove_member(&membership.room, info).await;
            if emptied {
                link.unsubscribe(&membership.room).await;
            }
        }
    }

    /// A member sent a text message: wrap it in the envelope and publish.
    pub(crate) fn message(&self, membership: &Membership, text: &str) {
        let info = &membership.info;
        let event = ServerEvent::Message { room: &membership.room, from: &info.name, id: &info.id, text, ts: now_ms() };
        self.publish(&membership.room, Some(membership.key), Relay::Text(event.to_json().into()), true);
    }

    /// A member sent a binary message: relay it as it is.
    pub(crate) fn binary(&self, membership: &Membership, data: Bytes) {
        self.publish(&membership.room, Some(membership.key), Relay::Binary(data), true);
    }

    /// Delivers to this node's members (but `except`) and, with Redis, to
    /// the other nodes. `keep`: part of the history.
    fn publish(&self, room: &str, except: Option<u64>, relay: Relay, keep: bool) {
        let keep = keep && self.config.history > 0;
        let local_history = (keep && self.redis.is_none()).then_some(&relay);
        self.deliver(room, except, &relay.prepare(), local_history);
        if let Some(link) = &self.redis {
            link.publish(room, relay, keep);
        }
    }

    /// Queues one encoded message for the room's local members (and in the
    /// local history, under the same lock, so history and delivery agree on
    /// the order); a member whose queue is full is removed, which closes it
    /// with 1008.
    fn deliver(&self, room: &str, except: Option<u64>, prepared: &PreparedMessage, history: Option<&Relay>) {
        let mut local = self.local();
        let Some(room_state) = local.get_mut(room) else { return };
        if let Some(relay) = history {
            room_state.history_bytes += relay.len();
            room_state.history.push_back(relay.clone());
            while room_state.history.len() > self.config.history || room_state.history_bytes > HISTORY_BYTES {
                match room_state.history.pop_front() {
                    Some(old) => room_state.history_bytes -= old.len(),
                    None => break,
                }
            }
        }
        self.fan_out(room, room_state, except, prepared);
    }

    /// Queues one encoded message for each member of `state` but `except`;
    /// a member whose queue is full is removed and told to close (1008).
    fn fan_out(&self, room: &str, state: &mut Room, except: Option<u64>, prepared: &PreparedMessage) {
        state.members.retain(|&key, member| {
            Some(key) == except
                || match member.outbox.try_send(prepared.clone()) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::warn!(
                            room,
                            member = %member.info.id,
                            name = %member.info.name,
                            queue = self.config.queue,
                            "room member too slow; dropping it (1008)"
                        );
                        member.kicked.notify_one();
                        false
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                }
        });
    }

    /// A publication from another node (never one of ours).
    fn deliver_remote(&self, room: &str, relay: &Relay) {
        self.deliver(room, None, &relay.prepare(), None);
    }
}

/// A room name: 1 to 64 of `A-Z a-z 0-9 - _ .`.
pub(crate) fn valid_room_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// The member name from a request's query (`?name=…`): at most 32
/// characters, control characters removed.
pub(crate) fn member_name(query: Option<&str>) -> Option<String> {
    let (_, value) = form_urlencoded::parse(query?.as_bytes()).find(|(key, _)| key == "name")?;
    let name: String = value.chars().filter(|c| !c.is_control()).take(32).collect();
    let name = name.trim().to_owned();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names() {
        assert!(valid_room_name("lobby"));
        assert!(valid_room_name("a-b_c.d9"));
        assert!(!valid_room_name(""));
        assert!(!valid_room_name("a/b"));
        assert!(!valid_room_name(&"x".repeat(65)));
    }

    #[test]
    fn member_names() {
        assert_eq!(member_name(Some("name=Ada%20L")), Some("Ada L".to_owned()));
        assert_eq!(member_name(Some("x=1&name=%0Abob")), Some("bob".to_owned()));
        assert_eq!(member_name(Some("name=")), None);
        assert_eq!(member_name(None), None);
        assert_eq!(member_name(Some(&format!("name={}", "é".repeat(40)))).map(|n| n.chars().count()), Some(32));
    }

    #[tokio::test]
    async fn history_is_capped_and_sent_in_order() {
        let rooms = Rooms::start(RoomsConfig { history: 2, queue: 8, redis: None }).unwrap();
        let alice = rooms.join("r", Some("alice".into())).await;
        for text in ["one", "two", "three"] {
            rooms.message(&alice, text);
        }
        let bob = rooms.join("r", Some("bob".into())).await;
        let texts: Vec<String> =
            bob.greeting.iter().map(|m| String::from_utf8(m.payload().to_vec()).unwrap()).collect();
        assert_eq!(texts.len(), 3);
        assert!(texts[0].contains("\"type\":\"welcome\"") && texts[0].contains("\"history\":2"));
        assert!(texts[1].contains("\"text\":\"two\""));
        assert!(texts[2].contains("\"text\":\"three\""));
    }

    #[tokio::test]
    async fn history_is_capped_in_bytes_too() {
        let rooms = Rooms::start(RoomsConfig { history: 50, queue: 8, redis: None }).unwrap();
        let alice = rooms.join("r", None).await;
        for _ in 0..5 {
            rooms.binary(&alice, Bytes::from(vec![0u8; HISTORY_BYTES / 3]));
        }
        let bob = rooms.join("r", None).await;
        // Welcome plus the three newest that fit in the byte budget.
        assert_eq!(bob.greeting.len(), 1 + 3);
    }

    #[tokio::test]
    async fn zero_history_keeps_nothing() {
        let rooms = Rooms::start(RoomsConfig { history: 0, queue: 8, redis: None }).unwrap();
        let alice = rooms.join("r", None).await;
        rooms.message(&alice, "gone");
        let bob = rooms.join("r", None).await;
        assert_eq!(bob.greeting.len(), 1);
    }

    #[tokio::test]
    async fn full_queue_drops_the_member_only() {
        let rooms = Rooms::start(RoomsConfig { history: 0, queue: 2, redis: None }).unwrap();
        let sender = rooms.join("r", None).await;
        let mut slow = rooms.join("r", None).await;
        let mut fast = rooms.join("r", None).await;
        for i in 0..5 {
            rooms.message(&sender, &i.to_string());
            while fast.outbox.try_recv().is_ok() {}
        }
        // The slow member got its two, then its queue was closed.
        assert!(slow.outbox.recv().await.is_some());
        assert!(slow.outbox.recv().await.is_some());
        assert!(slow.outbox.recv().await.is_none());
        assert_eq!(rooms.members_of("r").len(), 2);
    }
}
