//! Rooms across nodes through Redis Pub/Sub: each node publishes what its
//! members send on `wsx:room:{name}` and subscribes only to the rooms it has
//! members in. Every publication carries the node id of its origin, so a
//! node skips its own (it has delivered them locally already). History is a
//! capped list per room (`wsx:history:{name}`, `RPUSH` + `LTRIM` in the same
//! transaction as the `PUBLISH`), members a hash (`wsx:members:{name}`).
//!
//! Redis going away never stops a node: local members keep talking, the
//! outage is logged, and a background task reconnects with back-off,
//! resubscribes and re-registers the local members. Publications made during
//! the outage wait in a bounded queue and go out, in order, on reconnection
//! (past the bound they are dropped and counted in the log).
//!
//! Wire format of a publication: 16 hex digits of the origin node id, `T`
//! (a UTF-8 JSON envelope) or `B` (a binary message), then the payload.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use ::redis::aio::{MultiplexedConnection, PubSubSink};
use ::redis::{AsyncCommands, Client, Msg};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::time::timeout;
use wsx::Utf8Bytes;

use super::{MemberInfo, Relay, Rooms};

/// Publications waiting for Redis (e.g. during an outage): at most this
/// many, and at most [`PUBLISH_QUEUE_BYTES`] of payload.
const PUBLISH_QUEUE: usize = 65_536;
const PUBLISH_QUEUE_BYTES: usize = 64 << 20;
/// Deadline of one connection attempt or one command.
const DEADLINE: Duration = Duration::from_secs(2);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

fn channel(room: &str) -> String {
    format!("wsx:room:{room}")
}

fn history_key(room: &str) -> String {
    format!("wsx:history:{room}")
}

fn members_key(room: &str) -> String {
    format!("wsx:members:{room}")
}

struct Publication {
    room: String,
    payload: Vec<u8>,
    keep: bool,
}

struct Inner {
    client: Client,
    node: u64,
    history: usize,
    rooms: Weak<Rooms>,
    /// Whether the subscriber connection is up (queries are skipped when not).
    up: AtomicBool,
    conn: Mutex<Option<MultiplexedConnection>>,
    sink: Mutex<Option<PubSubSink>>,
    /// Serialises (un)subscriptions so they follow the rooms' occupancy.
    subscriptions: tokio::sync::Mutex<()>,
    /// Payload bytes waiting in the publish queue.
    queued_bytes: AtomicUsize,
}

/// This node's link to Redis.
pub(crate) struct RedisLink {
    inner: Arc<Inner>,
    publisher: mpsc::Sender<Publication>,
    /// Taken by [`RedisLink::run`].
    queue: Mutex<Option<mpsc::Receiver<Publication>>>,
    dropped: AtomicU64,
}

impl RedisLink {
    /// A link for the rooms `rooms` (not connected until [`run`](Self::run)).
    pub(crate) fn new(client: Client, node: u64, history: usize, rooms: Weak<Rooms>) -> Self {
        let inner = Arc::new(Inner {
            client,
            node,
            history,
            rooms,
            up: AtomicBool::new(false),
            conn: Mutex::new(None),
            sink: Mutex::new(None),
            subscriptions: tokio::sync::Mutex::new(()),
            queued_bytes: AtomicUsize::new(0),
        });
        let (publisher, queue) = mpsc::channel(PUBLISH_QUEUE);
        Self { inner, publisher, queue: Mutex::new(Some(queue)), dropped: AtomicU64::new(0) }
    }

    /// Starts the subscriber and publisher tasks, which connect in the
    /// background and end when the rooms are dropped. Call once the rooms
    /// exist (the tasks end at once if they cannot reach them).
    pub(crate) fn run(&self) {
        if let Some(queue) = self.queue.lock().unwrap_or_else(|p| p.into_inner()).take() {
            tokio::spawn(subscriber(self.inner.clone()));
            tokio::spawn(publish_loop(self.inner.clone(), queue));
        }
    }

    /// Queues a publication (never waits: a full queue drops it).
    pub(crate) fn publish(&self, room: &str, relay: Relay, keep: bool) {
        let mut payload = format!("{:016x}", self.inner.node).into_bytes();
        match &relay {
            Relay::Text(text) => {
                payload.push(b'T');
                payload.extend_from_slice(text.as_bytes());
            }
            Relay::Binary(data) => {
                payload.push(b'B');
                payload.extend_from_slice(data);
            }
        }
        let size = payload.len();
        let queued = self.inner.queued_bytes.fetch_add(size, Ordering::AcqRel);
        let publication = Publication { room: room.to_owned(), payload, keep };
        if queued + size > PUBLISH_QUEUE_BYTES || self.publisher.try_send(publication).is_err() {
            self.inner.queued_bytes.fetch_sub(size, Ordering::AcqRel);
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "redis publish queue full; messages for other nodes dropped");
            }
        }
    }

    /// Subscribes to a room's channel if it has local members; returns once
    /// Redis has confirmed (or at once while Redis is away).
    pub(crate) async fn subscribe(&self, room: &str) {
        let _serial = self.inner.subscriptions.lock().await;
        if self.inner.occupied(room)
            && let Some(mut sink) = self.inner.sink()
            && let Err(error) = with_deadline(sink.subscribe(channel(room))).await
        {
            tracing::warn!(room, %error, "redis subscribe failed; retried on reconnection");
        }
    }

    /// Unsubscribes from a room's channel if it has no local members left.
    pub(crate) async fn unsubscribe(&self, room: &str) {
        let _serial = self.inner.subscriptions.lock().await;
        if !self.inner.occupied(room)
            && let Some(mut sink) = self.inner.sink()
            && let Err(error) = with_deadline(sink.unsubscribe(channel(room))).await
        {
            tracing::debug!(room, %error, "redis unsubscribe failed");
        }
    }

    pub(crate) async fn add_member(&self, room: &str, member: &MemberInfo) {
        if let Some(mut conn) = self.inner.connection().await {
            let result = with_deadline(conn.hset::<_, _, _, ()>(members_key(room), &member.id, &member.name)).await;
            self.inner.check(result, "registering a member");
        }
    }

    pub(crate) async fn remove_member(&self, room: &str, member: &MemberInfo) {
        if let Some(mut conn) = self.inner.connection().await {
            let result = with_deadline(conn.hdel::<_, _, ()>(members_key(room), &member.id)).await;
            self.inner.check(result, "removing a member");
        }
    }

    /// Every member of the room on every node (`None` while Redis is away).
    pub(crate) async fn members(&self, room: &str) -> Option<Vec<MemberInfo>> {
        let mut conn = self.inner.connection().await?;
        let result = with_deadline(conn.hgetall::<_, Vec<(String, String)>>(members_key(room))).await;
        let mut members: Vec<MemberInfo> = self
            .inner
            .check(result, "reading members")?
            .into_iter()
            .map(|(id, name)| MemberInfo { id, name })
            .collect();
        members.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.id.cmp(&b.id)));
        Some(members)
    }

    /// The room's history, oldest first (empty while Redis is away).
    pub(crate) async fn history(&self, room: &str) -> Vec<Relay> {
        if self.inner.history == 0 {
            return Vec::new();
        }
        let Some(mut conn) = self.inner.connection().await else { return Vec::new() };
        let result = with_deadline(conn.lrange::<_, Vec<Vec<u8>>>(history_key(room), 0, -1)).await;
        let entries = self.inner.check(result, "reading history").unwrap_or_default();
        entries.iter().filter_map(|entry| decode(entry).map(|(_, relay)| relay)).collect()
    }
}

impl Inner {
    fn occupied(&self, room: &str) -> bool {
        self.rooms.upgrade().is_some_and(|rooms| !rooms.members_of(room).is_empty())
    }

    fn sink(&self) -> Option<PubSubSink> {
        self.sink.lock().unwrap_or_else(|p| p.into_inner()).clone()
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

    fn went_down(&self) {
        self.up.store(false, Ordering::Release);
        *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = None;
        *self.sink.lock().unwrap_or_else(|p| p.into_inner()) = None;
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

/// Keeps the subscription connection up and hands publications of other
/// nodes to the local members.
async fn subscriber(inner: Arc<Inner>) {
    let mut backoff = Backoff(BACKOFF_MIN);
    let mut outage_logged = false;
    loop {
        let Some(rooms) = inner.rooms.upgrade() else { return };
        drop(rooms);
        let pubsub = match with_deadline(inner.client.get_async_pubsub()).await {
            Ok(pubsub) => pubsub,
            Err(error) => {
                if !outage_logged {
                    tracing::warn!(%error, "redis unreachable; serving local members only, reconnecting");
                    outage_logged = true;
                }
                tokio::time::sleep(backoff.next()).await;
                continue;
            }
        };
        let (sink, mut stream) = pubsub.split();
        let resubscribed = resubscribe(&inner, sink).await;
        tracing::info!(rooms = resubscribed, "redis connected; subscribed to the rooms with local members");
        backoff = Backoff(BACKOFF_MIN);
        while let Some(message) = stream.next().await {
            handle(&inner, &message);
        }
        inner.went_down();
        tracing::warn!("redis connection lost; serving local members only, reconnecting");
        outage_logged = true;
    }
}

/// After (re)connecting: subscribe to every occupied room and register the
/// local members again (a restarted Redis has forgotten them).
async fn resubscribe(inner: &Inner, mut sink: PubSubSink) -> usize {
    let _serial = inner.subscriptions.lock().await;
    *inner.sink.lock().unwrap_or_else(|p| p.into_inner()) = Some(sink.clone());
    inner.up.store(true, Ordering::Release);
    let Some(rooms) = inner.rooms.upgrade() else { return 0 };
    let occupied = rooms.occupied();
    for room in &occupied {
        if let Err(error) = with_deadline(sink.subscribe(channel(room))).await {
            tracing::warn!(room, %error, "redis subscribe failed");
        }
        if let Some(mut conn) = inner.connection().await {
            for member in rooms.members_of(room) {
                let result = with_deadline(conn.hset::<_, _, _, ()>(members_key(room), &member.id, &member.name)).await;
                inner.check(result, "registering a member");
            }
        }
    }
    occupied.len()
}

fn handle(inner: &Inner, message: &Msg) {
    let Some(room) = message.get_channel_name().strip_prefix("wsx:room:") else { return };
    match decode(message.get_payload_bytes()) {
        Some((origin, _)) if origin == inner.node => {}
        Some((_, relay)) => {
            if let Some(rooms) = inner.rooms.upgrade() {
                rooms.deliver_remote(room, &relay);
            }
        }
        None => tracing::warn!(room, "malformed publication on a room channel; ignored"),
    }
}

fn decode(payload: &[u8]) -> Option<(u64, Relay)> {
    let origin = u64::from_str_radix(std::str::from_utf8(payload.get(..16)?).ok()?, 16).ok()?;
    let data = Bytes::copy_from_slice(payload.get(17..)?);
    let relay = match payload.get(16)? {
        b'T' => Relay::Text(Utf8Bytes::try_from(data).ok()?),
        b'B' => Relay::Binary(data),
        _ => return None,
    };
    Some((origin, relay))
}

/// Sends publications in order; while Redis is away, retries the oldest
/// with back-off (later ones wait behind it in the bounded queue).
async fn publish_loop(inner: Arc<Inner>, mut queue: mpsc::Receiver<Publication>) {
    let mut backoff = Backoff(BACKOFF_MIN);
    while let Some(publication) = queue.recv().await {
        loop {
            let result = match inner.connection().await {
                Some(mut conn) => {
                    let mut pipe = ::redis::pipe();
                    pipe.atomic();
                    if publication.keep && inner.history > 0 {
                        let key = history_key(&publication.room);
                        pipe.rpush(&key, &publication.payload).ignore();
                        pipe.ltrim(&key, -(inner.history as isize), -1).ignore();
                    }
                    pipe.publish(channel(&publication.room), &publication.payload).ignore();
                    let result = with_deadline(pipe.query_async::<()>(&mut conn)).await;
                    inner.check(result, "publishing").is_some()
                }
                None => false,
            };
            if result {
                inner.queued_bytes.fetch_sub(publication.payload.len(), Ordering::AcqRel);
                backoff = Backoff(BACKOFF_MIN);
                break;
            }
            tokio::time::sleep(backoff.next()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publications_round_trip() {
        let payload = b"00000000000000ffThello".to_vec();
        assert_eq!(decode(&payload), Some((255, Relay::Text("hello".into()))));
        assert_eq!(decode(b"0000000000000001B\xff\x00"), Some((1, Relay::Binary(Bytes::from_static(b"\xff\x00")))));
        assert_eq!(decode(b"0000000000000001T\xff"), None, "text must be UTF-8");
        assert_eq!(decode(b"000000000000001"), None);
        assert_eq!(decode(b"000000000000000gT"), None);
    }
}
