//! Rooms shared by every node on one Redis: Redis orders each room.
//!
//! Publishing a kept message runs one Lua script (atomic in Redis): it
//! takes the room's epoch (`wsx:{room}:epoch`, drawn by the first node that
//! needs it), the next offset (`INCR wsx:{room}:seq`), appends the entry to
//! the room's history (`RPUSH` + `LTRIM wsx:{room}:history`, capped in
//! messages) and `PUBLISH`es it on `wsx:room:{room}`. Redis runs scripts
//! one at a time and delivers a channel's publications in order, so every
//! node sees a room's offsets in order, its own included: a node delivers
//! to its members only what comes back from Redis (skipping the sender),
//! never straight from the sender. Presence (`join`/`leave`) is a plain
//! `PUBLISH` without an offset; members are a hash (`wsx:{room}:members`).
//!
//! Why a counter and a capped list rather than a Stream: offsets are
//! consecutive integers, so a gap is exact (the history's oldest offset is
//! past the resume point) and clients count binary messages too; and the
//! script makes sequence, history and publication one step. Stream ids are
//! timestamps whose gaps say nothing, trimming leaves no trace before
//! Redis 7's `max-deleted-entry-id`, and reading a Stream per room with
//! `XREAD BLOCK` would need the blocking read re-issued whenever a room
//! gains or loses its last member.
//!
//! When Redis is unreachable, publications are refused at once
//! ([`BrokerError::Unavailable`]; the rooms tell the sender): a message is
//! either ordered by Redis or not sent, never delivered to some members
//! only. A background task reconnects with back-off, resubscribes, registers
//! the local members again and delivers what the node missed while its
//! subscription was down (history after the last offset it delivered; a
//! room keeps at least 1,024 entries for this, however few it sends to
//! members). A
//! restarted Redis has lost the rooms: the next epoch differs, and members
//! are told of the gap.
//!
//! An entry: `{epoch:016x}:{offset}:{node:016x}:{member}:{T|B}{payload}`
//! (epoch `0`, offset `0` for presence).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ::redis::aio::{MultiplexedConnection, PubSubSink};
use ::redis::{AsyncCommands, Client, Msg};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::time::timeout;
use wsx::Utf8Bytes;

use super::{BoxFuture, Broker, BrokerError, Joined, LinkState, Publication, Resume, resume_from};
use crate::envelope::MemberInfo;
use crate::hub::{Delivery, Hub, Relay, Seq};

/// Entries kept per room at least, whatever the history sent to new
/// members: what a node whose subscription dropped catches up from, and
/// what a resuming member can get back.
const RETAIN: usize = 1024;

/// Deadline of one connection attempt or one command.
const DEADLINE: Duration = Duration::from_secs(2);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// KEYS: epoch, seq, history. ARGV: a fresh epoch, the entry's tail
/// (`node:member:K…`), the history cap, the channel. Returns the epoch
/// and the offset.
const PUBLISH: &str = r"
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
  redis.call('DEL', KEYS[2], KEYS[3])
end
local offset = redis.call('INCR', KEYS[2])
local entry = epoch .. ':' .. offset .. ':' .. ARGV[2]
local cap = tonumber(ARGV[3])
if cap > 0 then
  redis.call('RPUSH', KEYS[3], entry)
  redis.call('LTRIM', KEYS[3], -cap, -1)
end
redis.call('PUBLISH', ARGV[4], entry)
return {epoch, offset}
";

/// KEYS: epoch, seq, history. ARGV: a fresh epoch. Returns the epoch, the
/// latest offset and the history.
const READ: &str = r"
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
  redis.call('DEL', KEYS[2], KEYS[3])
end
local latest = tonumber(redis.call('GET', KEYS[2]) or '0')
return {epoch, latest, redis.call('LRANGE', KEYS[3], 0, -1)}
";

fn channel(room: &str) -> String {
    format!("wsx:room:{room}")
}

/// The room's keys, in one hash slot (`{room}`), as the scripts take them.
fn keys(room: &str) -> [String; 3] {
    [format!("wsx:{{{room}}}:epoch"), format!("wsx:{{{room}}}:seq"), format!("wsx:{{{room}}}:history")]
}

fn members_key(room: &str) -> String {
    format!("wsx:{{{room}}}:members")
}

/// A nonzero random epoch (0 marks presence entries).
fn fresh_epoch() -> String {
    format!("{:016x}", rand::random::<u64>() | 1)
}

struct Inner {
    client: Client,
    node: u64,
    history: usize,
    hub: Hub,
    /// Whether the subscriber connection is up (commands are refused when not).
    up: AtomicBool,
    conn: Mutex<Option<MultiplexedConnection>>,
    sink: Mutex<Option<PubSubSink>>,
    /// Serialises (un)subscriptions so they follow the rooms' occupancy.
    subscriptions: tokio::sync::Mutex<()>,
    /// The last kept message delivered to this node's members, per room.
    delivered: Mutex<HashMap<String, Seq>>,
}

/// The Redis engine. Built inside a tokio runtime: it starts its
/// subscriber task at once and connects in the background.
pub struct RedisBroker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBroker").field("node", &format_args!("{:016x}", self.inner.node)).finish_non_exhaustive()
    }
}

impl RedisBroker {
    /// A broker on the Redis at `url` (`redis://HOST:PORT`), delivering to
    /// `hub`, keeping `history` messages per room. Fails only on a
    /// malformed URL; the connection is made (and remade) in the background.
    pub fn start(url: &str, hub: Hub, node: u64, history: usize) -> Result<Self, BrokerError> {
        let client = Client::open(url).map_err(|e| BrokerError::Config(format!("bad Redis URL: {e}")))?;
        let inner = Arc::new(Inner {
            client,
            node,
            history,
            hub,
            up: AtomicBool::new(false),
            conn: Mutex::new(None),
            sink: Mutex::new(None),
            subscriptions: tokio::sync::Mutex::new(()),
            delivered: Mutex::new(HashMap::new()),
        });
        tokio::spawn(subscriber(Arc::downgrade(&inner)));
        Ok(Self { inner })
    }
}

impl Broker for RedisBroker {
    fn join<'a>(&'a self, room: &'a str, member: &'a MemberInfo, resume: Option<Resume>) -> BoxFuture<'a, Joined> {
        Box::pin(async move {
            let inner = &self.inner;
            {
                let _serial = inner.subscriptions.lock().await;
                if inner.hub.is_occupied(room)
                    && let Some(mut sink) = inner.sink()
                    && let Err(error) = with_deadline(sink.subscribe(channel(room))).await
                {
                    tracing::warn!(room, %error, "redis subscribe failed; retried on reconnection");
                }
            }
            let Some(mut conn) = inner.connection().await else {
                return Joined::default();
            };
            let result = with_deadline(conn.hset::<_, _, _, ()>(members_key(room), &member.id, &member.name)).await;
            inner.check(result, "registering a member");
            let members = inner.members(&mut conn, room).await;
            let Some((epoch, latest, entries)) = inner.read(&mut conn, room).await else {
                return Joined { members, ..Joined::default() };
            };
            // Members get at most `history` of the retained entries (the
            // rest is for nodes catching up).
            let skip = entries.len().saturating_sub(inner.history);
            let history =
                entries.into_iter().skip(skip).filter_map(|entry| Some((entry.seq?.offset, entry.relay))).collect();
            let (history, gap) = resume_from(epoch, latest, history, inner.history, resume);
            Joined { members, epoch, latest, history, gap }
        })
    }

    fn leave<'a>(&'a self, room: &'a str, member: &'a MemberInfo) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let inner = &self.inner;
            if let Some(mut conn) = inner.connection().await {
                let result = with_deadline(conn.hdel::<_, _, ()>(members_key(room), &member.id)).await;
                inner.check(result, "removing a member");
            }
            let _serial = inner.subscriptions.lock().await;
            if !inner.hub.is_occupied(room) {
                inner.lock_delivered().remove(room);
                if let Some(mut sink) = inner.sink()
                    && let Err(error) = with_deadline(sink.unsubscribe(channel(room))).await
                {
                    tracing::debug!(room, %error, "redis unsubscribe failed");
                }
            }
        })
    }

    fn publish<'a>(
        &'a self,
        room: &'a str,
        publication: Publication,
    ) -> BoxFuture<'a, Result<Option<Seq>, BrokerError>> {
        Box::pin(async move {
            let inner = &self.inner;
            let Some(mut conn) = inner.connection().await else {
                return Err(BrokerError::Unavailable("no connection to Redis".into()));
            };
            let mut tail = format!("{:016x}:{}:", inner.node, publication.sender.unwrap_or(u64::MAX)).into_bytes();
            match &publication.relay {
                Relay::Text(text) => {
                    tail.push(b'T');
                    tail.extend_from_slice(text.as_bytes());
                }
                Relay::Binary(data) => {
                    tail.push(b'B');
                    tail.extend_from_slice(data);
                }
            }
            if !publication.kept {
                let mut entry = b"0:0:".to_vec();
                entry.extend_from_slice(&tail);
                let result = with_deadline(conn.publish::<_, _, ()>(channel(room), entry)).await;
                return inner.check(result, "publishing").map(|()| None).ok_or_else(unavailable);
            }
            let [epoch_key, seq_key, history_key] = keys(room);
            let mut script = ::redis::cmd("EVAL");
            script.arg(PUBLISH).arg(3).arg(epoch_key).arg(seq_key).arg(history_key);
            script.arg(fresh_epoch()).arg(tail).arg(inner.history.max(RETAIN)).arg(channel(room));
            let result = with_deadline(script.query_async::<(String, u64)>(&mut conn)).await;
            let (epoch, offset) = inner.check(result, "publishing").ok_or_else(unavailable)?;
            let epoch = u64::from_str_radix(&epoch, 16).map_err(|_| unavailable())?;
            Ok(Some(Seq { epoch, offset }))
        })
    }

    fn link_state(&self) -> LinkState {
        if self.inner.up.load(Ordering::Acquire) { LinkState::Up } else { LinkState::Down }
    }
}

fn unavailable() -> BrokerError {
    BrokerError::Unavailable("Redis did not take the message".into())
}

impl Inner {
    fn sink(&self) -> Option<PubSubSink> {
        self.sink.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn lock_delivered(&self) -> MutexGuard<'_, HashMap<String, Seq>> {
        self.delivered.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A command connection, while Redis is up.
    async fn connection(&self) -> Option<MultiplexedConnection> {
        if !self.up.load(Ordering::Acquire) {
            return None;
        }
        if let Some(conn) = self.conn.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Some(conn);
        }
        let conn = with_deadline(self.client.get_multiplexed_async_connection()).await.ok()?;
        *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn.clone());
        Some(conn)
    }

    fn check<T>(&self, result: Result<T, String>, what: &str) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                tracing::warn!(%error, "redis: {what} failed");
                *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = None;
                None
            }
        }
    }

    /// Every member of the room on every node.
    async fn members(&self, conn: &mut MultiplexedConnection, room: &str) -> Option<Vec<MemberInfo>> {
        let result = with_deadline(conn.hgetall::<_, Vec<(String, String)>>(members_key(room))).await;
        let mut members: Vec<MemberInfo> =
            self.check(result, "reading members")?.into_iter().map(|(id, name)| MemberInfo { id, name }).collect();
        members.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        Some(members)
    }

    /// The room's epoch, latest offset and history (oldest first).
    async fn read(&self, conn: &mut MultiplexedConnection, room: &str) -> Option<(u64, u64, Vec<Entry>)> {
        let [epoch_key, seq_key, history_key] = keys(room);
        let mut script = ::redis::cmd("EVAL");
        script.arg(READ).arg(3).arg(epoch_key).arg(seq_key).arg(history_key).arg(fresh_epoch());
        let result = with_deadline(script.query_async::<(String, u64, Vec<Vec<u8>>)>(conn)).await;
        let (epoch, latest, entries) = self.check(result, "reading history")?;
        let epoch = u64::from_str_radix(&epoch, 16).ok()?;
        let history = entries.iter().filter_map(|entry| decode(entry)).filter(|entry| entry.seq.is_some()).collect();
        Some((epoch, latest, history))
    }

    fn went_down(&self) {
        self.up.store(false, Ordering::Release);
        *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = None;
        *self.sink.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Hands an entry to the hub unless this node delivered it already
    /// (entries of a room arrive in offset order; a backfill may overlap).
    fn deliver(&self, room: &str, entry: Entry) {
        if let Some(seq) = entry.seq {
            let mut delivered = self.lock_delivered();
            if delivered.get(room).is_some_and(|last| last.epoch == seq.epoch && last.offset >= seq.offset) {
                return;
            }
            delivered.insert(room.to_owned(), seq);
        }
        let except = (entry.node == self.node).then_some(entry.member);
        self.hub.deliver(room, &Delivery { seq: entry.seq, relay: entry.relay, except });
    }
}

async fn with_deadline<T, E: std::fmt::Display>(future: impl Future<Output = Result<T, E>>) -> Result<T, String> {
    match timeout(DEADLINE, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer within {DEADLINE:?}")),
    }
}

/// Exponential back-off with jitter, 100 ms to 5 s.
struct Backoff(Duration);

impl Backoff {
    fn next(&mut self) -> Duration {
        let delay = self.0;
        self.0 = (self.0 * 2).min(BACKOFF_MAX);
        delay + Duration::from_millis(rand::random::<u64>() % 100)
    }
}

/// Keeps the subscription connection up and hands publications to the
/// local members; ends when the broker is dropped.
async fn subscriber(inner: std::sync::Weak<Inner>) {
    let mut backoff = Backoff(BACKOFF_MIN);
    let mut outage_logged = false;
    loop {
        let Some(strong) = inner.upgrade() else { return };
        let pubsub = match with_deadline(strong.client.get_async_pubsub()).await {
            Ok(pubsub) => pubsub,
            Err(error) => {
                if !outage_logged {
                    tracing::warn!(%error, "redis unreachable; publications refused, reconnecting");
                    outage_logged = true;
                }
                drop(strong);
                tokio::time::sleep(backoff.next()).await;
                continue;
            }
        };
        let (sink, mut stream) = pubsub.split();
        let resubscribed = resubscribe(&strong, sink).await;
        tracing::info!(rooms = resubscribed, "redis connected; subscribed to the rooms with local members");
        backoff = Backoff(BACKOFF_MIN);
        drop(strong);
        while let Some(message) = stream.next().await {
            let Some(strong) = inner.upgrade() else { return };
            handle(&strong, &message);
        }
        let Some(strong) = inner.upgrade() else { return };
        strong.went_down();
        tracing::warn!("redis connection lost; publications refused, reconnecting");
        outage_logged = true;
    }
}

/// After (re)connecting: subscribe to every occupied room, register the
/// local members again (a restarted Redis has forgotten them) and deliver
/// what was published while the subscription was down.
async fn resubscribe(inner: &Inner, mut sink: PubSubSink) -> usize {
    let _serial = inner.subscriptions.lock().await;
    *inner.sink.lock().unwrap_or_else(|p| p.into_inner()) = Some(sink.clone());
    inner.up.store(true, Ordering::Release);
    let occupied = inner.hub.occupied();
    for room in &occupied {
        if let Err(error) = with_deadline(sink.subscribe(channel(room))).await {
            tracing::warn!(room, %error, "redis subscribe failed");
        }
        let Some(mut conn) = inner.connection().await else { continue };
        for member in inner.hub.members(room) {
            let result = with_deadline(conn.hset::<_, _, _, ()>(members_key(room), &member.id, &member.name)).await;
            inner.check(result, "registering a member");
        }
        if let Some((_, _, history)) = inner.read(&mut conn, room).await {
            // What this node has delivered already is skipped by `deliver`.
            for entry in history {
                inner.deliver(room, entry);
            }
        }
    }
    occupied.len()
}

fn handle(inner: &Inner, message: &Msg) {
    let Some(room) = message.get_channel_name().strip_prefix("wsx:room:") else { return };
    match decode(message.get_payload_bytes()) {
        Some(entry) => inner.deliver(room, entry),
        None => tracing::warn!(room, "malformed publication on a room channel; ignored"),
    }
}

/// A decoded entry.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    seq: Option<Seq>,
    node: u64,
    member: u64,
    relay: Relay,
}

fn decode(raw: &[u8]) -> Option<Entry> {
    let mut fields = raw.splitn(5, |&b| b == b':');
    let mut next = || std::str::from_utf8(fields.next()?).ok().map(str::to_owned);
    let epoch = u64::from_str_radix(&next()?, 16).ok()?;
    let offset: u64 = next()?.parse().ok()?;
    let node = u64::from_str_radix(&next()?, 16).ok()?;
    let member: u64 = next()?.parse().ok()?;
    let rest = raw.splitn(5, |&b| b == b':').nth(4)?;
    let (&kind, payload) = rest.split_first()?;
    let data = Bytes::copy_from_slice(payload);
    let relay = match kind {
        b'T' => Relay::Text(Utf8Bytes::try_from(data).ok()?),
        b'B' => Relay::Binary(data),
        _ => return None,
    };
    let seq = (epoch != 0).then_some(Seq { epoch, offset });
    Some(Entry { seq, node, member, relay })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_decode() {
        let entry = decode(b"00000000000000ff:7:0000000000000001:3:Thel:lo").expect("an entry");
        let seq = Some(Seq { epoch: 255, offset: 7 });
        assert_eq!(entry, Entry { seq, node: 1, member: 3, relay: Relay::Text("hel:lo".into()) });
        let entry = decode(b"0:0:0000000000000002:18446744073709551615:B\xff\x00").expect("presence");
        assert_eq!(entry.seq, None);
        assert_eq!(entry.relay, Relay::Binary(Bytes::from_static(b"\xff\x00")));
        assert_eq!(decode(b"1:2:3:4:X"), None);
        assert_eq!(decode(b"1:2:3:4:T\xff"), None);
        assert_eq!(decode(b"zz:2:3:4:T"), None);
        assert_eq!(decode(b"1:2:3"), None);
        assert_eq!(decode(b""), None);
    }
}
