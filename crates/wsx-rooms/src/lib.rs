//! # wsx-rooms — real-time rooms over wsx WebSockets
//!
//! Publish/subscribe over WebSocket messages (RFC 6455 §5.6): every message
//! a member sends goes to every other member of its room, in one order per
//! room, each kept message with an offset so a member that reconnects gets
//! exactly what it missed (or is told of the gap). Mountable by any server:
//! [`Rooms::join`] takes the room and the request's [`Identity`],
//! [`Rooms::serve`] any [`WebSocket`] (the wsx [`Server`](wsx::Server)'s
//! HTTP/1.1 and HTTP/2 sockets, an axum upgrade, a client-built one).
//!
//! - **Fan-out** encodes each message once ([`PreparedMessage`],
//!   compressed once per deflate setting) and queues the same bytes for
//!   every member ([`Hub`]); a member whose bounded queue overflows is
//!   closed with 1008, so a slow member never slows the room.
//! - **Brokers** ([`Broker`]) order each room and keep its history:
//!   [`LocalBroker`] in the process, or [`RedisBroker`] for rooms shared by
//!   every node on one Redis (a member may resume on another node).
//! - **The envelope** (see the table in the `envelope` module docs and the
//!   README): `welcome`, `message`, `join`/`leave`, `gap`, `error` as JSON
//!   text; binary messages relayed as they are. [`Protocol::Raw`] relays
//!   everything as sent, without envelope, presence or history (the
//!   `/broadcast` endpoint of `wsx serve`).
//!
//! ```no_run
//! # async fn run(ws: wsx::WebSocket<tokio::net::TcpStream>) {
//! use wsx_rooms::{Identity, Rooms, RoomsConfig};
//! let rooms = Rooms::new(RoomsConfig::default());
//! match rooms.join("lobby", Identity::guest(Some("ada".into())), None).await {
//!     Ok(membership) => { let _ = rooms.serve(ws, membership).await; }
//!     Err(refused) => eprintln!("{refused}"),
//! }
//! # }
//! ```

pub mod auth;
mod broker;
mod envelope;
mod hub;
mod metrics;
mod session;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use wsx::{IncomingRequest, PreparedMessage, WebSocket};

pub use auth::{Refusal, RoomSet, TokenAuth};
pub use broker::{
    BoxFuture, Broker, BrokerError, Gap, Joined, LinkState, LocalBroker, Publication, RedisBroker, Resume,
};
pub use envelope::MemberInfo;
use envelope::{ServerEvent, epoch_hex, now_ms};
use hub::Outbox;
pub use hub::{Delivery, Hub, Relay, Seq, SlowPolicy};
pub use metrics::Metrics;

/// The demo page: a self-contained chat client for the rooms (HTML, CSS
/// and plain JavaScript in one file) using the browser's own `WebSocket`,
/// connecting to `/rooms/{name}` on the host that served it.
pub const DEMO_PAGE: &str = include_str!("demo.html");

/// What members exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// The JSON envelope: welcome, presence, offsets, history.
    Envelope,
    /// Messages relayed as sent: no envelope, presence, offsets or history.
    Raw,
}

/// Settings of the rooms.
#[derive(Debug, Clone)]
pub struct RoomsConfig {
    pub(crate) history: usize,
    pub(crate) queue: usize,
    pub(crate) protocol: Protocol,
    pub(crate) policies: Vec<(RoomSet, SlowPolicy)>,
}

impl Default for RoomsConfig {
    fn default() -> Self {
        Self { history: 50, queue: 1024, protocol: Protocol::Envelope, policies: Vec::new() }
    }
}

impl RoomsConfig {
    /// Kept messages per room, sent to a new member (0: none). Default 50.
    pub fn history(mut self, history: usize) -> Self {
        self.history = history;
        self
    }

    /// Messages queued for a member before it is dropped with 1008.
    /// Default 1,024.
    pub fn queue(mut self, queue: usize) -> Self {
        self.queue = queue;
        self
    }

    /// What members exchange. Default [`Protocol::Envelope`].
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// The slow-member policy of the rooms matching `rooms` (after those
    /// given before: the first match wins). Rooms that match none use
    /// [`SlowPolicy::Close`].
    pub fn policy(mut self, rooms: RoomSet, policy: SlowPolicy) -> Self {
        self.policies.push((rooms, policy));
        self
    }

    /// Messages kept per room for new members: see [`history`](Self::history).
    pub fn get_history(&self) -> usize {
        self.history
    }

    /// Messages queued per member before it is dropped: see [`queue`](Self::queue).
    pub fn get_queue(&self) -> usize {
        self.queue
    }

    /// What members exchange: see [`protocol`](Self::protocol).
    pub fn get_protocol(&self) -> Protocol {
        self.protocol
    }

    /// The slow-member policies by room pattern, in the order given with
    /// [`policy`](Self::policy).
    pub fn get_policies(&self) -> &[(RoomSet, SlowPolicy)] {
        &self.policies
    }
}

/// Who is joining, as the server established it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Identity {
    /// The name others see (`None`: `guest-N`).
    pub name: Option<String>,
    /// The authenticated user (`None`: a guest).
    pub user: Option<String>,
    /// Rooms it may join.
    pub join: RoomSet,
    /// Rooms it may publish to.
    pub publish: RoomSet,
}

impl Identity {
    /// An unauthenticated member with the name it asked for, if any, who
    /// may join and publish anywhere.
    pub fn guest(name: Option<String>) -> Self {
        Self { name, user: None, join: RoomSet::all(), publish: RoomSet::all() }
    }
}

/// Why a member could not join.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// Room names are 1 to 64 of `A-Z a-z 0-9 - _ .`.
    BadRoomName,
    /// The identity does not allow this room (close code 4003).
    Forbidden(Refusal),
}

impl std::fmt::Display for JoinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JoinError::BadRoomName => f.write_str("room names are 1-64 of A-Z a-z 0-9 - _ ."),
            JoinError::Forbidden(refusal) => refusal.fmt(f),
        }
    }
}

impl std::error::Error for JoinError {}

/// A member's place in a room, from [`Rooms::join`] to the end of
/// [`Rooms::serve`] (or [`Rooms::leave`]).
#[derive(Debug)]
pub struct Membership {
    room: String,
    key: u64,
    info: MemberInfo,
    outbox: Arc<Outbox>,
    /// Sent first: the welcome, a gap if any, the history, oldest first.
    greeting: Vec<PreparedMessage>,
    /// The last kept message the member has (or will have from the greeting).
    cursor: Option<Seq>,
    /// Whether `message` envelopes carry offsets (and gaps are told).
    stamped: bool,
    /// Whether the member may publish (else a message closes it, 4003).
    may_publish: bool,
}

impl Membership {
    /// The room.
    pub fn room(&self) -> &str {
        &self.room
    }

    /// The member as others see it.
    pub fn info(&self) -> &MemberInfo {
        &self.info
    }
}

/// Every room of this node, with the broker that links them to the others.
pub struct Rooms {
    config: RoomsConfig,
    metrics: Arc<Metrics>,
    node: u64,
    next_member: AtomicU64,
    hub: Hub,
    broker: Box<dyn Broker>,
}

impl std::fmt::Debug for Rooms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rooms").field("config", &self.config).field("node", &self.node).finish_non_exhaustive()
    }
}

impl Rooms {
    /// Rooms of this process alone ([`LocalBroker`]).
    pub fn new(config: RoomsConfig) -> Self {
        let history = config.history;
        Self::with_broker(config, |hub, _| LocalBroker::new(hub, history))
    }

    /// Rooms shared through the Redis at `url` ([`RedisBroker`]); call
    /// inside a tokio runtime. Fails only on a malformed URL.
    pub fn with_redis(config: RoomsConfig, url: &str) -> Result<Self, BrokerError> {
        let (hub, node, metrics) = Self::parts(&config);
        let broker = RedisBroker::start(url, hub.clone(), node, config.history)?;
        Ok(Self::assemble(config, hub, node, metrics, Box::new(broker)))
    }

    /// Rooms on a broker of your own: `make` gets the hub to deliver to
    /// and this node's id.
    pub fn with_broker<B: Broker>(config: RoomsConfig, make: impl FnOnce(Hub, u64) -> B) -> Self {
        let (hub, node, metrics) = Self::parts(&config);
        let broker = Box::new(make(hub.clone(), node));
        Self::assemble(config, hub, node, metrics, broker)
    }

    fn parts(config: &RoomsConfig) -> (Hub, u64, Arc<Metrics>) {
        let metrics = Arc::new(Metrics::default());
        let hub = Hub::new(config.protocol == Protocol::Envelope, config.policies.clone(), metrics.clone());
        (hub, rand::random::<u64>(), metrics)
    }

    fn assemble(config: RoomsConfig, hub: Hub, node: u64, metrics: Arc<Metrics>, broker: Box<dyn Broker>) -> Self {
        Self { config, metrics, node, next_member: AtomicU64::new(0), hub, broker }
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Appends the counters and the broker's state to `out` in the
    /// Prometheus text format.
    pub fn render_metrics(&self, out: &mut String) {
        self.metrics.render(self.broker.link_state(), out);
    }

    /// This node's members.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The broker's link state.
    pub fn link_state(&self) -> LinkState {
        self.broker.link_state()
    }

    /// Adds a member to `room`: from now on it receives the room's
    /// messages. With `resume` (the epoch and last offset it saw), its
    /// greeting holds exactly the kept messages after that offset, or a
    /// `gap` first when history no longer reaches back.
    pub async fn join(&self, room: &str, identity: Identity, resume: Option<Resume>) -> Result<Membership, JoinError> {
        if !valid_room_name(room) {
            return Err(JoinError::BadRoomName);
        }
        if !identity.join.allows(room) {
            return Err(JoinError::Forbidden(Refusal::new(
                auth::FORBIDDEN,
                format!("not allowed to join room {room}"),
            )));
        }
        let may_publish = identity.publish.allows(room);
        let key = self.next_member.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:016x}-{key}", self.node);
        let name = identity.name.unwrap_or_else(|| format!("guest-{key}"));
        let info = MemberInfo { id, name };
        let outbox = Arc::new(Outbox::new(self.config.queue, self.hub.policy(room)));
        let stamped = self.config.protocol == Protocol::Envelope;
        // In the hub before the broker reads the history: a message is then
        // in the history, or queued live, or both (the cursor drops the
        // second copy) — never neither.
        self.hub.add(room, key, info.clone(), outbox.clone());
        let mut membership = Membership {
            room: room.to_owned(),
            key,
            info,
            outbox,
            greeting: Vec::new(),
            cursor: None,
            stamped,
            may_publish,
        };
        if !stamped {
            return Ok(membership);
        }
        let joined = self.broker.join(room, &membership.info, resume).await;
        let info = &membership.info;
        let event = ServerEvent::Join { room, id: &info.id, name: &info.name, ts: now_ms() };
        let presence = Publication { relay: Relay::Text(event.to_json().into()), sender: Some(key), kept: false };
        if let Err(error) = self.broker.publish(room, presence).await {
            tracing::debug!(room, %error, "join not announced");
        }
        let members = joined.members.unwrap_or_else(|| self.hub.members(room));
        let welcome = ServerEvent::Welcome {
            room,
            you: info,
            members: &members,
            history: joined.history.len(),
            epoch: epoch_hex(joined.epoch),
            offset: joined.latest,
        };
        membership.greeting.push(PreparedMessage::text(welcome.to_json()));
        if let Some(gap) = joined.gap {
            let gap = ServerEvent::Gap { room, epoch: epoch_hex(joined.epoch), from: gap.from, to: gap.to };
            membership.greeting.push(PreparedMessage::text(gap.to_json()));
        }
        let last = joined.history.last().map(|(offset, _)| *offset);
        for (offset, relay) in &joined.history {
            let seq = Seq { epoch: joined.epoch, offset: *offset };
            membership.greeting.push(relay.prepare(Some(seq), true));
        }
        // Live messages up to what the greeting holds (or, without history,
        // up to the latest offset) are the greeting's or were before the
        // member's time.
        if joined.epoch != 0 {
            membership.cursor = Some(Seq { epoch: joined.epoch, offset: last.unwrap_or(joined.latest) });
        }
        Ok(membership)
    }

    /// Serves a member over `ws` until either side closes, then removes it.
    #[expect(clippy::manual_async_fn, reason = "an async fn would hold its arguments twice (see the body)")]
    pub fn serve<S>(
        &self,
        mut ws: WebSocket<S>,
        mut membership: Membership,
    ) -> impl Future<Output = Result<(), wsx::Error>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        // Not an `async fn`: one of those keeps its arguments twice (as
        // passed, and moved into its body), and the socket is the largest
        // thing a member holds for as long as it is a member.
        async move {
            let result = session::serve(self, &mut ws, &mut membership).await;
            self.leave(membership).await;
            result
        }
    }

    /// Removes a member that will not be served (its handshake failed).
    pub async fn leave(&self, membership: Membership) {
        self.hub.remove(&membership.room, membership.key);
        let info = &membership.info;
        if membership.stamped {
            let event = ServerEvent::Leave { room: &membership.room, id: &info.id, name: &info.name, ts: now_ms() };
            let presence = Publication { relay: Relay::Text(event.to_json().into()), sender: None, kept: false };
            if let Err(error) = self.broker.publish(&membership.room, presence).await {
                tracing::debug!(room = %membership.room, %error, "leave not announced");
            }
        }
        self.broker.leave(&membership.room, info).await;
    }

    /// Handles a WebSocket request for `room` on the wsx server: a bad room
    /// name gets 400; a refused identity (see [`TokenAuth::identify`]) or
    /// a room it may not join, the handshake and then a Close with the
    /// refusal's code and reason (a browser sees those, not a refused
    /// handshake's status); otherwise the member joins before the 101 (so
    /// a client that sees the upgrade already receives the room's
    /// messages) and is served.
    #[expect(clippy::manual_async_fn, reason = "an async fn would hold its arguments twice (see the body)")]
    pub fn accept<S>(
        &self,
        incoming: IncomingRequest<S>,
        room: &str,
        identity: Result<Identity, Refusal>,
        resume: Option<Resume>,
    ) -> impl Future<Output = Result<(), wsx::Error>>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        // A member's future lives as long as the member: the handshake's
        // steps (joining, a refusal, a 400) are boxed and gone once it is
        // served, so what stays is the socket, once, and the relay.
        async move {
            let Some((ws, membership)) = Box::pin(self.admit(incoming, room, identity, resume)).await? else {
                return Ok(());
            };
            self.serve(ws, membership).await
        }
    }

    /// Joins and completes the handshake; `None` when the request was
    /// refused (and answered).
    async fn admit<S>(
        &self,
        incoming: IncomingRequest<S>,
        room: &str,
        identity: Result<Identity, Refusal>,
        resume: Option<Resume>,
    ) -> Result<Option<(WebSocket<S>, Membership)>, wsx::Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let joined = match identity {
            Ok(identity) => self.join(room, identity, resume).await,
            Err(refusal) if valid_room_name(room) => Err(JoinError::Forbidden(refusal)),
            Err(_) => Err(JoinError::BadRoomName),
        };
        let membership = match joined {
            Ok(membership) => membership,
            Err(JoinError::Forbidden(refusal)) => {
                tracing::info!(room, code = u16::from(refusal.code), reason = %refusal.reason, "member refused");
                let mut ws = incoming.accept().await?;
                return ws.close(refusal.code, &refusal.reason).await.map(|_| None);
            }
            Err(refused) => {
                let response = http::Response::builder().status(http::StatusCode::BAD_REQUEST).body(());
                return match response {
                    Ok(response) => incoming.reject(response, Bytes::from(format!("{refused}\n"))).await.map(|()| None),
                    Err(_) => Ok(None),
                };
            }
        };
        match incoming.accept().await {
            Ok(ws) => Ok(Some((ws, membership))),
            Err(error) => {
                self.leave(membership).await;
                Err(error)
            }
        }
    }

    pub(crate) async fn send_text(
        &self,
        membership: &Membership,
        text: &str,
        key: Option<&str>,
    ) -> Result<(), BrokerError> {
        let relay = if membership.stamped {
            let info = &membership.info;
            let room = &membership.room;
            let event = ServerEvent::Message { room, from: &info.name, id: &info.id, text, ts: now_ms(), key };
            Relay::Text(event.to_json().into())
        } else {
            Relay::Text(text.to_owned().into())
        };
        self.publish(membership, relay).await
    }

    pub(crate) async fn send_binary(&self, membership: &Membership, data: Bytes) -> Result<(), BrokerError> {
        self.publish(membership, Relay::Binary(data)).await
    }

    async fn publish(&self, membership: &Membership, relay: Relay) -> Result<(), BrokerError> {
        let publication = Publication { relay, sender: Some(membership.key), kept: membership.stamped };
        let start = std::time::Instant::now();
        let result = self.broker.publish(&membership.room, publication).await;
        metrics::add(&self.metrics.publish_count, 1);
        metrics::add(&self.metrics.publish_micros, u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX));
        metrics::add(if result.is_ok() { &self.metrics.messages_in } else { &self.metrics.refused }, 1);
        result.map(drop)
    }
}

/// A room name: 1 to 64 of `A-Z a-z 0-9 - _ .`.
pub fn valid_room_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// What a client asks for in its request's query: `name` (at most 32
/// characters, control characters removed), `token`, and, to resume, `epoch` (16 hex
/// digits) with `offset` (the last it received).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JoinParams {
    /// The member name asked for.
    pub name: Option<String>,
    /// A token (`?token=`; see [`TokenAuth`]).
    pub token: Option<String>,
    /// Where to resume.
    pub resume: Option<Resume>,
}

impl JoinParams {
    /// Parses a request's query (`?name=…&epoch=…&offset=…`).
    pub fn from_query(query: Option<&str>) -> Self {
        let mut params = Self::default();
        let (mut epoch, mut offset) = (None, None);
        for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match &*key {
                "name" => {
                    let name: String = value.chars().filter(|c| !c.is_control()).take(32).collect();
                    let name = name.trim().to_owned();
                    params.name = (!name.is_empty()).then_some(name);
                }
                "token" => params.token = Some(value.into_owned()),
                "epoch" => epoch = u64::from_str_radix(&value, 16).ok(),
                "offset" => offset = value.parse::<u64>().ok(),
                _ => {}
            }
        }
        if let (Some(epoch), Some(offset)) = (epoch, offset) {
            params.resume = Some(Resume { epoch, offset });
        }
        params
    }
}

#[cfg(test)]
mod tests;
