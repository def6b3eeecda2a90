//! The one server: a single accept loop for every transport. Each accepted
//! TCP connection (optionally TLS) is classified once — TLS ALPN `h2`, or
//! the HTTP/2 connection preface on cleartext (RFC 9113 §3.4), is HTTP/2;
//! anything else is HTTP/1.1 — and every request it carries becomes an
//! [`IncomingRequest`] that goes through the same [`HandshakePolicy`] and
//! the same handler, and is accepted into the same [`WebSocket`](crate::WebSocket).
//! It stays up under load and stops cleanly (RFC 6455 §4.2.1, §7.1.2,
//! §7.4.1): bounds on concurrent connections (503 past it) and on
//! handshakes in progress, accept back-off when file descriptors run out,
//! and a graceful shutdown that closes every WebSocket with 1001 Going Away
//! (and every HTTP/2 connection with GOAWAY) and waits for the closing
//! handshakes up to a deadline.
//!
//! Contract: [`Server::run`] accepts until its [`ShutdownSignal`] is
//! triggered, then stops accepting (the listening socket is closed at once),
//! has every WebSocket start its closing handshake with 1001 the next time
//! it is read, and returns when every connection and stream task has ended
//! or [`ServerOptions::shutdown_timeout`] has passed, whichever comes first.
//! [`serve`] and [`serve_tls`] are this server with its defaults.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::config::Config;
use crate::error::{Error, TimeoutKind};
use crate::handshake::{IncomingRequest, Origin};
use crate::http2::{Http2Settings, serve_connection};
use crate::http3::{Http3Settings, StreamRequest};
use crate::tls::{ALPN_H2, TlsAcceptor};
use crate::transport::{MaybeTls, Transport};
use wsx_proto::handshake::HandshakePolicy;

/// RFC 9113 §3.4: "the client connection preface starts with a sequence of
/// 24 octets".
const HTTP2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The answer to a connection past [`ServerOptions::max_handshakes`], written
/// without reading the request (nothing is allocated for it).
const BUSY_RESPONSE: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

/// Tells a server and its connections to stop: a cheap, cloneable handle.
/// Triggering it is final.
///
/// ```
/// let shutdown = wsx::ShutdownSignal::new();
/// let handle = shutdown.clone();
/// assert!(!shutdown.is_triggered());
/// handle.trigger();
/// assert!(shutdown.is_triggered());
/// ```
#[derive(Debug, Clone, Default)]
pub struct ShutdownSignal {
    token: CancellationToken,
}

impl ShutdownSignal {
    /// A signal not yet triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Triggers the shutdown: the server stops accepting and every
    /// WebSocket it serves closes with 1001.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Whether [`trigger`](Self::trigger) was called.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes once the signal is triggered.
    pub async fn triggered(&self) {
        self.token.cancelled().await;
    }

    /// A future the driver keeps and polls among its timers.
    pub(crate) fn owned_future(&self) -> WaitForCancellationFutureOwned {
        self.token.clone().cancelled_owned()
    }
}

/// Limits and deadlines of a [`Server`]. Each default bounds what a flood of
/// clients can cost; memory per connection is about 3 KiB idle (no read or
/// write buffer is kept), plus the compressor and decompressor with
/// permessage-deflate, plus, while busy, at most the read in progress
/// (128 KiB), the write high-water (64 KiB) and the message being assembled
/// (see the README for the measured figures).
///
/// ```
/// use std::time::Duration;
/// let options = wsx::ServerOptions::default()
///     .max_connections(50_000)
///     .max_handshakes(256)
///     .shutdown_timeout(Duration::from_secs(5));
/// assert_eq!(options.get_max_connections(), 50_000);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    pub(crate) max_connections: usize,
    pub(crate) max_handshakes: usize,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) max_accept_backoff: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_handshakes: 1_024,
            shutdown_timeout: Duration::from_secs(10),
            max_accept_backoff: Duration::from_secs(1),
        }
    }
}

impl ServerOptions {
    /// The first pause after `accept` fails for lack of resources: 5 ms.
    pub const MIN_ACCEPT_BACKOFF: Duration = Duration::from_millis(5);

    /// Sets the most connections open at once (minimum 1).
    ///
    /// Most connections open at once, handshakes included, counting each
    /// TCP connection and each WebSocket (or request) on an HTTP/2
    /// connection. Default 10,000. Past it a client's request is read
    /// (within the handshake deadline) and answered `503 Service
    /// Unavailable` with `Retry-After: 1`: a connection flood costs a
    /// bounded number of tasks and descriptors.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// Sets the most request heads read at once (minimum 1).
    ///
    /// Most request heads being read at once. Default 1,024. Past it a new
    /// connection is answered 503 at once (closed at once under TLS),
    /// without reading its request: slowloris clients that trickle their
    /// heads cannot occupy more than this many tasks, each for at most the
    /// handshake deadline.
    pub fn max_handshakes(mut self, handshakes: usize) -> Self {
        self.max_handshakes = handshakes.max(1);
        self
    }

    /// Sets how long a graceful shutdown waits for closing handshakes.
    ///
    /// How long a graceful shutdown waits for the closing handshakes after
    /// sending 1001. Default 10 s.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Sets the longest accept back-off (at least
    /// [`MIN_ACCEPT_BACKOFF`](Self::MIN_ACCEPT_BACKOFF)).
    ///
    /// Longest pause after `accept` fails for lack of descriptors or memory
    /// (EMFILE, ENFILE, ENOBUFS, ENOMEM); pauses start at 5 ms and double.
    /// Default 1 s. Waiting instead of retrying at once keeps the accept
    /// loop from spinning while the pending connection stays queued.
    pub fn max_accept_backoff(mut self, backoff: Duration) -> Self {
        self.max_accept_backoff = backoff.max(Self::MIN_ACCEPT_BACKOFF);
        self
    }

    /// The most connections open at once (minimum 1): see [`max_connections`](Self::max_connections).
    pub fn get_max_connections(&self) -> usize {
        self.max_connections
    }

    /// The most request heads read at once (minimum 1): see [`max_handshakes`](Self::max_handshakes).
    pub fn get_max_handshakes(&self) -> usize {
        self.max_handshakes
    }

    /// How long a graceful shutdown waits for closing handshakes: see [`shutdown_timeout`](Self::shutdown_timeout).
    pub fn get_shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }

    /// The longest accept back-off: see [`max_accept_backoff`](Self::max_accept_backoff).
    pub fn get_max_accept_backoff(&self) -> Duration {
        self.max_accept_backoff
    }
}

/// Counts of what a [`Server`] did, for logs and tests.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections accepted from the listening socket.
    pub accepted: u64,
    /// Connections answered 503 because `max_connections` was reached.
    pub over_connection_limit: u64,
    /// Connections answered 503 because `max_handshakes` was reached.
    pub over_handshake_limit: u64,
    /// Times `accept` failed for lack of resources and the loop backed off.
    pub accept_backoffs: u64,
    /// Connection tasks still running when the shutdown deadline passed.
    pub abandoned_at_shutdown: usize,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    over_connection_limit: AtomicU64,
    over_handshake_limit: AtomicU64,
    accept_backoffs: AtomicU64,
}

/// Live connection tasks; notifies when the last one ends.
#[derive(Debug, Default)]
struct Tracker {
    live: AtomicUsize,
    idle: Notify,
}

/// One live connection task; dropping it (task end or abort) counts it out.
struct Live(Arc<Tracker>);

impl Tracker {
    fn enter(self: &Arc<Self>) -> Live {
        self.live.fetch_add(1, Ordering::AcqRel);
        Live(self.clone())
    }

    fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    async fn wait_idle(&self) {
        loop {
            let mut notified = pin!(self.idle.notified());
            notified.as_mut().enable();
            if self.live() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if self.0.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// A WebSocket server on a TCP listener: HTTP/1.1 and HTTP/2 (RFC 8441) on
/// the same port, TLS optional, one [`HandshakePolicy`], [`ServerOptions`]
/// limits and graceful shutdown. The handler gets every request, whichever
/// HTTP version carried it, and accepts it into the same
/// [`WebSocket`](crate::WebSocket) (see [`IncomingRequest::http_version`]).
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
/// let server = wsx::Server::new(listener, wsx::Config::default())
///     .policy(wsx::HandshakePolicy::default().subprotocols(["chat.v1"]));
/// let shutdown = server.shutdown_signal();
/// tokio::spawn(async move {
///     let _ = tokio::signal::ctrl_c().await;
///     shutdown.trigger(); // every connection gets 1001 Going Away
/// });
/// server
///     .run(|incoming| async move {
///         if let Ok(mut ws) = incoming.accept().await {
///             while let Some(Ok(message)) = ws.recv().await {
///                 if message.is_text() || message.is_binary() {
///                     let _ = ws.send(message).await;
///                 }
///             }
///         }
///     })
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    config: Config,
    policy: HandshakePolicy,
    options: ServerOptions,
    shutdown: ShutdownSignal,
    counters: Arc<Counters>,
    tls: Option<TlsAcceptor>,
    http2: Option<Http2Settings>,
    http3: Option<(std::net::UdpSocket, Http3Settings)>,
}

impl Server {
    /// A server with the default [`HandshakePolicy`] (any origin, no
    /// subprotocols), [`ServerOptions`] and [`Http2Settings`]. Its
    /// WebSockets get `config`.
    pub fn new(listener: TcpListener, config: Config) -> Self {
        Self {
            listener,
            config,
            policy: HandshakePolicy::default(),
            options: ServerOptions::default(),
            shutdown: ShutdownSignal::new(),
            counters: Arc::default(),
            tls: None,
            http2: Some(Http2Settings::default()),
            http3: None,
        }
    }

    /// The handshake policy: origins, subprotocols.
    pub fn policy(mut self, policy: HandshakePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Serves `wss://`: each connection's TLS handshake runs first, within
    /// the same handshake deadline as its request head. ALPN offers `h2`
    /// and `http/1.1` (only `http/1.1` with HTTP/2 off).
    pub fn tls(mut self, tls: Option<TlsAcceptor>) -> Self {
        self.tls = tls;
        self
    }

    /// Sets the limits.
    pub fn options(mut self, options: ServerOptions) -> Self {
        self.options = options;
        self
    }

    /// HTTP/2 with these limits (the default), or `None` to speak
    /// HTTP/1.1 only.
    pub fn http2(mut self, settings: Option<Http2Settings>) -> Self {
        self.http2 = settings;
        self
    }

    /// Serves HTTP/3 too (RFC 9220: WebSockets as request streams of QUIC
    /// connections), on UDP at the listener's address — the same port
    /// number — with the certificate of [`tls`](Self::tls), which it needs
    /// (QUIC is always TLS 1.3; ALPN `h3`). The UDP socket is bound here, so
    /// a client can reach it as soon as this returns. HTTP/1.1 and HTTP/2
    /// answers then carry `Alt-Svc: h3=":PORT"`.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let tls = wsx::TlsAcceptor::from_pem_files("cert.pem", "key.pem")?;
    /// let listener = tokio::net::TcpListener::bind("0.0.0.0:443").await?;
    /// let server = wsx::Server::new(listener, wsx::Config::default())
    ///     .tls(Some(tls))
    ///     .http3(wsx::Http3Settings::default())?;
    /// # let _ = server; Ok(()) }
    /// ```
    ///
    /// # Errors
    /// The UDP socket cannot be bound (the port is taken on UDP, say).
    pub fn http3(self, settings: Http3Settings) -> std::io::Result<Self> {
        let address = self.listener.local_addr()?;
        self.http3_on(address, settings)
    }

    /// [`http3`](Self::http3) on another UDP address.
    ///
    /// # Errors
    /// The UDP socket cannot be bound.
    pub fn http3_on(mut self, address: SocketAddr, settings: Http3Settings) -> std::io::Result<Self> {
        let socket = std::net::UdpSocket::bind(address)?;
        socket.set_nonblocking(true)?;
        self.http3 = Some((socket, settings));
        Ok(self)
    }

    /// The UDP address HTTP/3 is served on, when it is.
    pub fn http3_addr(&self) -> Option<SocketAddr> {
        self.http3.as_ref().and_then(|(socket, _)| socket.local_addr().ok())
    }

    /// Uses `signal` (shared with other servers, say) instead of a fresh one.
    pub fn with_shutdown_signal(mut self, signal: ShutdownSignal) -> Self {
        self.shutdown = signal;
        self
    }

    /// The signal that stops this server; trigger it from anywhere.
    pub fn shutdown_signal(&self) -> ShutdownSignal {
        self.shutdown.clone()
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts connections and runs `handler` for each request in a task of
    /// its own, until the shutdown signal; then closes the listener, lets
    /// every WebSocket close with 1001, waits for them up to
    /// [`ServerOptions::shutdown_timeout`] and returns what it did.
    ///
    /// # Errors
    /// An `accept` error that is not transient (not a reset, an interrupt
    /// or a lack of descriptors or memory); HTTP/3 asked for without TLS,
    /// or with a certificate QUIC cannot use.
    pub async fn run<F, Fut>(self, handler: F) -> std::io::Result<ServerStats>
    where
        F: Fn(IncomingRequest<Transport>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Self { listener, mut config, policy, options, shutdown, counters, tls, http2, http3 } = self;
        config.shutdown = Some(shutdown.clone());
        let endpoint = match (&http3, &tls) {
            (None, _) => None,
            (Some(_), None) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "HTTP/3 needs TLS (QUIC is TLS 1.3)",
                ));
            }
            (Some((socket, settings)), Some(tls)) => {
                let socket = socket.try_clone()?;
                Some((crate::http3::bind_endpoint(socket, tls, settings, options.max_handshakes)?, settings.clone()))
            }
        };
        drop(http3);
        let alt_svc = endpoint.as_ref().and_then(|(endpoint, _)| endpoint.local_addr().ok()).map(|a| a.port());
        let tls = tls.map(|tls| tls.with_alpn(http2.is_some()));
        let tracker = Arc::new(Tracker::default());
        let shared = Arc::new(Shared {
            handler,
            config,
            policy: Arc::new(policy),
            http2,
            alt_svc,
            tracker: tracker.clone(),
            shutdown: shutdown.clone(),
            max_connections: options.max_connections,
            counters: counters.clone(),
        });
        let handshakes = Arc::new(Semaphore::new(options.max_handshakes));
        if let Some((endpoint, settings)) = endpoint {
            let limits = crate::http3::Limits {
                settings,
                handshakes: handshakes.clone(),
                max_handshakes: options.max_handshakes,
                handshake_timeout: shared.config.handshake_timeout,
            };
            tokio::spawn(serve_http3(endpoint, limits, shared.clone()));
        }
        let min_backoff = ServerOptions::MIN_ACCEPT_BACKOFF;
        let mut backoff = min_backoff;
        loop {
            let accepted = tokio::select! {
                biased;
                () = shutdown.triggered() => break,
                accepted = listener.accept() => accepted,
            };
            let (tcp, peer) = match accepted {
                Ok(accepted) => {
                    backoff = min_backoff;
                    accepted
                }
                Err(error) if is_resource_exhaustion(&error) => {
                    // The pending connection stays in the backlog and the
                    // listener stays readable: retrying now would spin.
                    counters.accept_backoffs.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%error, ?backoff, "accept failed for lack of resources; backing off");
                    tokio::select! {
                        () = shutdown.triggered() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(options.max_accept_backoff);
                    continue;
                }
                Err(error) if is_transient(&error) => continue,
                Err(error) => return Err(error),
            };
            counters.accepted.fetch_add(1, Ordering::Relaxed);
            let _ = tcp.set_nodelay(true);
            let Ok(permit) = handshakes.clone().try_acquire_owned() else {
                counters.over_handshake_limit.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, "too many handshakes in progress: 503");
                // One small write into an empty socket buffer never blocks.
                // A TLS client could not read a plaintext answer: it is
                // just closed.
                if tls.is_none() {
                    let _ = tcp.try_write(BUSY_RESPONSE);
                }
                continue;
            };
            let live = tracker.enter();
            let over_limit = tracker.live() > options.max_connections;
            let task = Connection { tcp, peer, tls: tls.clone(), permit, live };
            if over_limit {
                counters.over_connection_limit.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(task.refuse(shared.clone()));
            } else {
                tokio::spawn(task.serve(shared.clone()));
            }
        }
        drop(listener);
        let live = tracker.live();
        tracing::info!(connections = live, "shutting down: closing every connection with 1001");
        let abandoned = match tokio::time::timeout(options.shutdown_timeout, tracker.wait_idle()).await {
            Ok(()) => 0,
            Err(_) => tracker.live(),
        };
        if abandoned > 0 {
            tracing::warn!(connections = abandoned, "shutdown deadline passed; abandoning connections");
        }
        Ok(ServerStats {
            accepted: counters.accepted.load(Ordering::Relaxed),
            over_connection_limit: counters.over_connection_limit.load(Ordering::Relaxed),
            over_handshake_limit: counters.over_handshake_limit.load(Ordering::Relaxed),
            accept_backoffs: counters.accept_backoffs.load(Ordering::Relaxed),
            abandoned_at_shutdown: abandoned,
        })
    }
}

/// What every connection and stream task of a server shares.
struct Shared<F> {
    handler: F,
    config: Config,
    policy: Arc<HandshakePolicy>,
    http2: Option<Http2Settings>,
    /// The UDP port of HTTP/3, when it is served: advertised in `Alt-Svc`.
    alt_svc: Option<u16>,
    tracker: Arc<Tracker>,
    shutdown: ShutdownSignal,
    max_connections: usize,
    counters: Arc<Counters>,
}

/// An accepted connection and what it holds while its task runs.
struct Connection {
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    permit: OwnedSemaphorePermit,
    live: Live,
}

/// What a connection turned out to be once TLS and its first bytes are in.
enum Classified {
    /// An HTTP/1.1 request, read.
    Http1(IncomingRequest<Transport>),
    /// An HTTP/2 connection, its preface not yet read.
    Http2(MaybeTls),
}

impl Connection {
    /// The connection's task. TLS, classification and the request head are
    /// done in a boxed future, freed once they are: the task itself keeps
    /// only what the handler needs, for the whole life of the connection.
    fn serve<F, Fut>(self, shared: Arc<Shared<F>>) -> impl Future<Output = ()>
    where
        F: Fn(IncomingRequest<Transport>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Self { tcp, peer, tls, permit, live } = self;
        // The boxed setup owns the handshake slot and the peer's address
        // too, so the task does not keep room for them once they are used.
        let setup = Box::pin({
            let shared = shared.clone();
            async move {
                let classified = classify(tcp, tls, shared).await;
                // TLS and the head are in: the handshake slot goes to the next client.
                drop(permit);
                classified
                    .inspect_err(|error| tracing::debug!(%peer, %error, "handshake failed"))
                    .ok()
                    .map(|c| (c, peer))
            }
        });
        async move {
            // Nothing is awaited inside this match: a match keeps its
            // scrutinee in the task across an await in any of its arms.
            let (mut incoming, mut http2) = (None, None);
            match setup.await {
                Some((Classified::Http1(request), _)) => incoming = Some(request),
                // Boxed: inline, h2's connection state would set the size
                // of every connection's task, HTTP/1.1 ones included.
                Some((Classified::Http2(io), peer)) => http2 = Some(Box::pin(serve_http2(io, peer, &shared))),
                None => {}
            }
            if let Some(http2) = http2 {
                http2.await;
            }
            if let Some(incoming) = incoming {
                (shared.handler)(incoming).await;
            }
            drop(live);
        }
    }

    /// Past `max_connections`: read the request (so the client sees the
    /// answer rather than a reset) and answer 503.
    async fn refuse<F, Fut>(self, shared: Arc<Shared<F>>)
    where
        F: Fn(IncomingRequest<Transport>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Self { tcp, peer, tls, permit, live } = self;
        tracing::debug!(%peer, "connection limit reached: 503");
        match classify(tcp, tls, shared.clone()).await {
            Ok(Classified::Http1(incoming)) => {
                let _ = incoming.reject(service_unavailable(), Bytes::from_static(b"too many connections\n")).await;
            }
            // Its streams are refused one by one, as they come.
            Ok(Classified::Http2(io)) => serve_http2(io, peer, &shared).await,
            Err(_) => {}
        }
        drop((permit, live));
    }
}

/// 503 with `Retry-After: 1`.
fn service_unavailable() -> http::Response<()> {
    let mut response = http::Response::new(());
    *response.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert(http::header::RETRY_AFTER, http::HeaderValue::from_static("1"));
    response
}

/// TLS (if configured), then the HTTP version — ALPN, or the preface on
/// cleartext — and for HTTP/1.1 the request head, all before one deadline.
async fn classify<F>(tcp: TcpStream, tls: Option<TlsAcceptor>, shared: Arc<Shared<F>>) -> Result<Classified, Error> {
    let config = &shared.config;
    let timeout = config.handshake_timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    let expired = |_| Error::Timeout { kind: TimeoutKind::Handshake, after: timeout };
    let origin = Origin {
        peer: tcp.peer_addr().ok(),
        local: tcp.local_addr().ok(),
        tls: tls.is_some(),
        alt_svc: shared.alt_svc,
    };
    let (io, http2) = match tls {
        Some(tls) => {
            let stream = tokio::time::timeout_at(deadline, crate::tls::accept(&tls, tcp)).await.map_err(expired)??;
            let http2 = stream.get_ref().1.alpn_protocol() == Some(ALPN_H2);
            (MaybeTls::ServerTls(Box::new(stream)), http2)
        }
        None if shared.http2.is_some() => {
            let http2 = tokio::time::timeout_at(deadline, starts_with_preface(&tcp))
                .await
                .map_err(expired)?
                .map_err(Error::io("reading the first bytes"))?;
            (MaybeTls::Plain(tcp), http2)
        }
        None => (MaybeTls::Plain(tcp), false),
    };
    if http2 {
        return Ok(Classified::Http2(io));
    }
    #[allow(unused_mut, reason = "the low-water mark is Linux-only")]
    let mut incoming =
        IncomingRequest::read_until(Transport::Http1(io), config.clone(), shared.policy.clone(), origin, deadline)
            .await?;
    #[cfg(target_os = "linux")]
    incoming.use_low_water(crate::low_water::transport_socket);
    Ok(Classified::Http1(incoming))
}

/// Whether a cleartext connection starts with the HTTP/2 preface (prior
/// knowledge, RFC 9113 §3.3). Only peeks: the bytes stay for whoever reads
/// the connection. A request line differs from the preface within its
/// first two bytes; a client that sends a prefix of the preface and stops
/// is waited for until the handshake deadline.
async fn starts_with_preface(tcp: &TcpStream) -> std::io::Result<bool> {
    let mut first = [0; HTTP2_PREFACE.len()];
    loop {
        let peeked = tcp.peek(&mut first).await?;
        if peeked == 0 || first[..peeked] != HTTP2_PREFACE[..peeked] {
            return Ok(false);
        }
        if peeked == HTTP2_PREFACE.len() {
            return Ok(true);
        }
        // The rest of the preface is on its way; peek returns at once
        // while the bytes it already has are there.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Serves an HTTP/2 connection: each request stream in a task of its own,
/// counted like a connection, through the same handler.
async fn serve_http2<F, Fut>(io: MaybeTls, peer: SocketAddr, shared: &Arc<Shared<F>>)
where
    F: Fn(IncomingRequest<Transport>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let origin =
        Origin { peer: Some(peer), local: io.tcp().local_addr().ok(), tls: io.is_tls(), alt_svc: shared.alt_svc };
    tracing::debug!(%peer, tls = origin.tls, "HTTP/2 connection");
    serve_http2_streams(io, peer, origin, shared).await;
}

/// [`serve_http2`] once the connection's origin is known, over any byte
/// stream (the fuzz targets feed it from memory).
async fn serve_http2_streams<T, F, Fut>(io: T, peer: SocketAddr, origin: Origin, shared: &Arc<Shared<F>>)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    F: Fn(IncomingRequest<Transport>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(settings) = &shared.http2 else { return };
    serve_connection(io, settings, shared.shutdown.clone(), |stream| {
        let live = shared.tracker.enter();
        let mut respond = stream.respond;
        if shared.tracker.live() > shared.max_connections {
            shared.counters.over_connection_limit.fetch_add(1, Ordering::Relaxed);
            let _ = respond.send_response(service_unavailable(), true);
            return;
        }
        let shared = shared.clone();
        let setup = (shared.config.clone(), shared.policy.clone(), origin);
        let request =
            Box::pin(IncomingRequest::from_http2(stream.parts, stream.body, respond, setup, Transport::Http2));
        tokio::spawn(async move {
            match request.await {
                Ok(incoming) => (shared.handler)(incoming).await,
                Err(error) => tracing::debug!(%peer, %error, "HTTP/2 request refused"),
            }
            drop(live);
        });
    })
    .await;
}

/// The HTTP/2 path of [`Server`] over any byte stream, with the default
/// settings, policy and [`Http2Settings`]: what a cleartext connection that
/// sent the preface gets, from its first frame to every stream's handler.
/// For the fuzz targets only (feature `fuzzing`); not part of the API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub async fn __fuzz_serve_http2<T, F, Fut>(io: T, config: Config, handler: F)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    F: Fn(IncomingRequest<Transport>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let shared = Arc::new(Shared {
        handler,
        config,
        policy: Arc::new(HandshakePolicy::default()),
        http2: Some(Http2Settings::default()),
        alt_svc: None,
        tracker: Arc::new(Tracker::default()),
        shutdown: ShutdownSignal::new(),
        max_connections: ServerOptions::default().max_connections,
        counters: Arc::new(Counters::default()),
    });
    let peer = SocketAddr::from(([127, 0, 0, 1], 0));
    serve_http2_streams(io, peer, Origin { peer: Some(peer), local: None, tls: false, alt_svc: None }, &shared).await;
}

/// Serves HTTP/3 on `endpoint`: each QUIC connection counts as a
/// connection, each request stream on it too, and each request goes
/// through the same handler as those of HTTP/1.1 and HTTP/2.
async fn serve_http3<F, Fut>(endpoint: quinn::Endpoint, limits: crate::http3::Limits, shared: Arc<Shared<F>>)
where
    F: Fn(IncomingRequest<Transport>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let live = shared.tracker.enter();
    let local = endpoint.local_addr().ok();
    tracing::debug!(?local, "serving HTTP/3");
    let tracker = shared.tracker.clone();
    let on_connection = move || -> Box<dyn std::any::Any + Send> { Box::new(tracker.enter()) };
    let stream_shared = shared.clone();
    let on_stream = move |stream: StreamRequest| {
        let shared = stream_shared.clone();
        async move {
            let live = shared.tracker.enter();
            let peer = stream.connection.remote_address();
            if shared.tracker.live() > shared.max_connections {
                shared.counters.over_connection_limit.fetch_add(1, Ordering::Relaxed);
                let mut send = stream.send;
                let _ = crate::http3::send_response(
                    &mut send,
                    &service_unavailable(),
                    Bytes::new(),
                    shared.config.handshake_timeout,
                )
                .await;
                return;
            }
            let origin = Origin { peer: Some(peer), local, tls: true, alt_svc: None };
            let setup = (shared.config.clone(), shared.policy.clone(), origin);
            match Box::pin(IncomingRequest::from_http3(stream, setup, Transport::Http3)).await {
                Ok(incoming) => (shared.handler)(incoming).await,
                Err(error) => tracing::debug!(%peer, %error, "HTTP/3 request refused"),
            }
            drop(live);
        }
    };
    crate::http3::serve_endpoint(endpoint, limits, shared.shutdown.clone(), on_connection, on_stream).await;
    drop(live);
}

/// Accepts connections with the default [`ServerOptions`] and
/// [`HandshakePolicy`], HTTP/1.1 and HTTP/2, and hands each request to
/// `handler` in a task of its own: [`Server`] without the knobs.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
/// wsx::serve(listener, wsx::Config::default(), |incoming| async move {
///     if let Ok(mut ws) = incoming.accept().await {
///         while let Some(Ok(message)) = ws.recv().await {
///             if message.is_text() || message.is_binary() {
///                 if ws.send(message).await.is_err() { break; }
///             }
///         }
///     }
/// })
/// .await
/// # }
/// ```
///
/// # Errors
/// As [`Server::run`].
pub async fn serve<F, Fut>(listener: TcpListener, config: Config, handler: F) -> std::io::Result<()>
where
    F: Fn(IncomingRequest<Transport>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Server::new(listener, config).run(handler).await.map(|_| ())
}

/// [`serve`] for `wss://` (or, with `tls` `None`, plain `ws://`): each
/// connection's TLS handshake and request head must both finish within
/// [`Config::handshake_timeout`], so a client that sends plaintext, or
/// trickles its ClientHello, is dropped at the deadline.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let tls = wsx::TlsAcceptor::from_pem_files("cert.pem", "key.pem")?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9443").await?;
/// wsx::serve_tls(listener, wsx::Config::default(), Some(tls), |incoming| async move {
///     if let Ok(mut ws) = incoming.accept().await {
///         while let Some(Ok(message)) = ws.recv().await {
///             if ws.send(message).await.is_err() { break; }
///         }
///     }
/// })
/// .await?;
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`Server::run`].
pub async fn serve_tls<F, Fut>(
    listener: TcpListener,
    config: Config,
    tls: Option<TlsAcceptor>,
    handler: F,
) -> std::io::Result<()>
where
    F: Fn(IncomingRequest<Transport>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    Server::new(listener, config).tls(tls).run(handler).await.map(|_| ())
}

/// `accept` failed for lack of descriptors or memory: back off.
fn is_resource_exhaustion(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(23 /* ENFILE */ | 24 /* EMFILE */ | 105 /* ENOBUFS */ | 12 /* ENOMEM */))
}

/// `accept` failed for this one connection only: go on at once.
fn is_transient(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(error.kind(), ConnectionAborted | ConnectionReset | Interrupted | WouldBlock)
}

#[cfg(test)]
mod tests {
    use std::future::Ready;

    use super::*;
    use crate::WebSocket;
    use crate::test_support::future_size;

    type Handler = fn(IncomingRequest<Transport>) -> Ready<()>;

    /// A connection's task lives as long as the connection: beside its
    /// handler's future it keeps a few pointers, not the handshake's state,
    /// the permit and address it no longer needs, or the classified request
    /// (a `match` awaiting in an arm would keep its scrutinee).
    #[test]
    fn a_connection_task_is_its_handler_and_a_few_pointers() {
        let handler = std::mem::size_of::<Ready<()>>();
        let task = future_size(&|(connection, shared): (Connection, Arc<Shared<Handler>>)| connection.serve(shared));
        assert!(task <= handler + 64, "the task takes {task} bytes beside a {handler}-byte handler future");
    }

    /// What an open socket carries inline: compression state, a closed or
    /// failed connection's outcome, an HTTP/2 stream's handles and a
    /// fragmented message's assembly are boxed, as most sockets never need
    /// them (1,200 bytes before they were).
    #[test]
    fn a_socket_carries_inline_only_what_every_connection_uses() {
        let socket = std::mem::size_of::<WebSocket<Transport>>();
        assert!(socket <= 832, "a socket is {socket} bytes");
        assert!(std::mem::size_of::<Transport>() <= 40);
        assert!(std::mem::size_of::<Error>() <= 48);
    }
}
