//! The server side (RFC 6455 §4.2): read and check the opening handshake,
//! let the application decide (subprotocol, extra headers, or any HTTP
//! refusal), answer, and hand leftover bytes to the connection. A listener
//! helper accepts connections and spawns a task for each.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsx_proto::handshake::{
    ClientOffer, HandshakeError, encode_response, error_response, parse_request, validate_request,
};
use wsx_proto::{Negotiated, Role};

use crate::config::Config;
use crate::error::{Error, TimeoutKind};
use crate::stream::MaybeTls;
use crate::tls::TlsAcceptor;
use crate::websocket::WebSocket;

/// The `Server` header of our 101 responses.
const SERVER_NAME: &str = concat!("wsx/", env!("CARGO_PKG_VERSION"));

/// How to accept a handshake: the subprotocol chosen from the client's list
/// and extra response headers (`Set-Cookie`, …).
///
/// ```
/// let accept = wsx::Accept::default().subprotocol("chat.v2").header("set-cookie", "id=1");
/// # let _ = accept;
/// ```
#[derive(Debug, Clone, Default)]
pub struct Accept {
    subprotocol: Option<String>,
    headers: HeaderMap,
    invalid_header: bool,
}

impl Accept {
    /// Selects a subprotocol; it must be one the client offered.
    pub fn subprotocol(mut self, protocol: impl Into<String>) -> Self {
        self.subprotocol = Some(protocol.into());
        self
    }

    /// Adds a response header (an invalid name or value makes `accept` fail).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            (Ok(name), Ok(value)) => {
                self.headers.append(name, value);
            }
            _ => self.invalid_header = true,
        }
        self
    }
}

impl Accept {
    /// The 101 response to `offer` and what it agrees to; shared by every
    /// server path (ours, hyper, axum). permessage-deflate is accepted when
    /// `config` turns it on.
    pub(crate) fn into_response(
        self,
        offer: &ClientOffer,
        config: &Config,
    ) -> Result<(Response<()>, Negotiated), Error> {
        if self.invalid_header {
            return Err(Error::Handshake(HandshakeError::InvalidHeaderName));
        }
        let deflate = config.protocol.compression.as_ref();
        let (mut response, agreed) = crate::compression::accept(offer, self.subprotocol.as_deref(), deflate)?;
        response.headers_mut().insert(http::header::SERVER, HeaderValue::from_static(SERVER_NAME));
        for (name, value) in &self.headers {
            response.headers_mut().append(name, value.clone());
        }
        Ok((response, Negotiated::new(Role::Server).with_subprotocol(self.subprotocol).with_deflate(agreed)))
    }
}

/// A handshake request read from a client, waiting for the application's
/// decision: [`accept`](Self::accept), or [`reject`](Self::reject) with any
/// HTTP response.
#[derive(Debug)]
pub struct IncomingRequest<S> {
    io: S,
    /// How the connection finds its socket for the receive low-water mark
    /// (plain TCP accepted by [`serve`] and [`serve_tls`]).
    #[cfg(target_os = "linux")]
    low_water: Option<crate::low_water::SocketOf<S>>,
    /// Boxed: a handler's future keeps room for its argument for the whole
    /// life of the connection, so the request must cost it a pointer, not
    /// the ~650 bytes of the parsed head and settings.
    head: Box<Head>,
}

/// The parsed request and what answering it needs.
#[derive(Debug)]
struct Head {
    request: Request<()>,
    offer: Result<ClientOffer, HandshakeError>,
    leftover: BytesMut,
    config: Config,
}

impl<S: AsyncRead + AsyncWrite + Unpin> IncomingRequest<S> {
    /// Reads the request head within the handshake deadline. A head that
    /// cannot be parsed (or exceeds the limits: 431) is answered here and
    /// returned as an error; a parsed request is returned even if it is not a
    /// valid WebSocket handshake, so the application can serve plain HTTP.
    pub async fn read(io: S, config: Config) -> Result<Self, Error> {
        let deadline = tokio::time::Instant::now() + config.handshake_timeout;
        Self::read_until(io, config, deadline).await
    }

    /// [`read`](Self::read) with the deadline given as an instant, so time
    /// already spent (on a TLS handshake, say) counts against it. A
    /// WebSocket handshake from an origin that
    /// [`Config::allowed_origins`] refuses is answered 403 here.
    pub(crate) async fn read_until(mut io: S, config: Config, deadline: tokio::time::Instant) -> Result<Self, Error> {
        let timeout = config.handshake_timeout;
        let read = tokio::time::timeout_at(deadline, read_head(&mut io, &config)).await;
        let (request, leftover) = match read {
            Ok(Ok(parsed)) => parsed,
            Ok(Err(Error::Handshake(error))) => {
                let (response, body) = error_response(&error);
                let _ = tokio::time::timeout(timeout, write_response(&mut io, &response, &body)).await;
                return Err(Error::Handshake(error));
            }
            Ok(Err(error)) => return Err(error),
            Err(_) => return Err(Error::Timeout { kind: TimeoutKind::Handshake, after: timeout }),
        };
        let offer = validate_request(&request);
        if let (Ok(offer), Some(allowed)) = (&offer, &config.allowed_origins)
            && !allowed.allows(offer.origin.as_ref())
        {
            tracing::debug!(origin = ?offer.origin, "origin not allowed: 403");
            let (response, body) = crate::policy::forbidden_origin();
            let _ = tokio::time::timeout(timeout, write_response(&mut io, &response, &body)).await;
            let _ = io.shutdown().await;
            return Err(Error::Rejected { status: response.status() });
        }
        Ok(Self {
            io,
            #[cfg(target_os = "linux")]
            low_water: None,
            head: Box::new(Head { request, offer, leftover, config }),
        })
    }

    /// The request (method, path and query, headers).
    pub fn request(&self) -> &Request<()> {
        &self.head.request
    }

    /// What the client offered, or why the request is not a valid handshake.
    pub fn offer(&self) -> Result<&ClientOffer, &HandshakeError> {
        self.head.offer.as_ref()
    }

    /// The value of cookie `name` in the request, if sent (see [`crate::cookie`]).
    pub fn cookie(&self, name: &str) -> Option<&str> {
        crate::policy::cookie(self.head.request.headers(), name)
    }

    /// The transport (for the peer address, say).
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// Accepts with no extra headers, and the first subprotocol of the
    /// client's list that [`Config::subprotocols`] contains, if any. When
    /// there is none and [`Config::require_subprotocol`] is set, refuses
    /// with 400 and returns [`Error::Rejected`].
    ///
    /// The handshake runs in a boxed future: its response and write state
    /// are freed once it is done, instead of making the caller's future (a
    /// connection task, for its whole life) larger by several KiB.
    pub fn accept(self) -> impl Future<Output = Result<WebSocket<S>, Error>> {
        Box::pin(self.accept_default())
    }

    async fn accept_default(self) -> Result<WebSocket<S>, Error> {
        let Ok(offer) = &self.head.offer else {
            return self.accept_chosen(Accept::default()).await;
        };
        match crate::policy::select_subprotocol(&offer.subprotocols, &self.head.config.subprotocols) {
            Some(protocol) => {
                let accept = Accept::default().subprotocol(protocol);
                self.accept_chosen(accept).await
            }
            None if self.head.config.require_subprotocol => {
                let status = StatusCode::BAD_REQUEST;
                let body = format!(
                    "no supported subprotocol; this server speaks: {}\n",
                    self.head.config.subprotocols.join(", ")
                );
                let response = Response::builder().status(status).body(()).map_err(|_| Error::Rejected { status })?;
                self.reject(response, Bytes::from(body)).await?;
                Err(Error::Rejected { status })
            }
            None => self.accept_chosen(Accept::default()).await,
        }
    }

    /// Accepts: answers 101 and returns the connection. An invalid handshake
    /// is answered with its 400/426 and returned as an error. Boxed like
    /// [`accept`](Self::accept).
    pub fn accept_with(self, accept: Accept) -> impl Future<Output = Result<WebSocket<S>, Error>> {
        Box::pin(self.accept_chosen(accept))
    }

    async fn accept_chosen(mut self, accept: Accept) -> Result<WebSocket<S>, Error> {
        let offer = match std::mem::replace(&mut self.head.offer, Err(HandshakeError::MissingKey)) {
            Ok(offer) => offer,
            Err(error) => {
                let (response, body) = error_response(&error);
                self.respond(&response, &body).await?;
                return Err(Error::Handshake(error));
            }
        };
        let (response, negotiated) = accept.into_response(&offer, &self.head.config)?;
        self.respond(&response, &[]).await?;
        let Head { leftover, config, .. } = *self.head;
        #[allow(unused_mut, reason = "the low-water mark is Linux-only")]
        let mut ws = WebSocket::from_upgraded(self.io, negotiated, config, &leftover)?;
        #[cfg(target_os = "linux")]
        if let Some(socket_of) = self.low_water {
            ws.use_recv_low_water(socket_of);
        }
        Ok(ws)
    }

    /// Refuses with any response (401 with `WWW-Authenticate`, 403, 404 …);
    /// the transport is then shut down. Never answers 101.
    pub async fn reject(mut self, mut response: Response<()>, body: Bytes) -> Result<(), Error> {
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        }
        response.headers_mut().insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        response.headers_mut().insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        self.respond(&response, &body).await?;
        let _ = self.io.shutdown().await;
        Ok(())
    }

    async fn respond(&mut self, response: &Response<()>, body: &[u8]) -> Result<(), Error> {
        let deadline = self.head.config.handshake_timeout;
        tokio::time::timeout(deadline, write_response(&mut self.io, response, body))
            .await
            .map_err(|_| Error::Timeout { kind: TimeoutKind::Handshake, after: deadline })?
    }
}

async fn read_head<S: AsyncRead + Unpin>(io: &mut S, config: &Config) -> Result<(Request<()>, BytesMut), Error> {
    let mut buf = BytesMut::with_capacity(1024);
    loop {
        if let Some((request, consumed)) = parse_request(&buf, &config.handshake_limits)? {
            let leftover = buf.split_off(consumed);
            return Ok((request, leftover));
        }
        let read = io.read_buf(&mut buf).await.map_err(Error::io("reading the handshake request"))?;
        if read == 0 {
            return Err(Error::Io {
                context: "reading the handshake request",
                source: std::io::ErrorKind::UnexpectedEof.into(),
            });
        }
    }
}

async fn write_response<S: AsyncWrite + Unpin>(io: &mut S, response: &Response<()>, body: &[u8]) -> Result<(), Error> {
    let mut out = BytesMut::with_capacity(256 + body.len());
    encode_response(response, body, &mut out);
    io.write_all(&out).await.map_err(Error::io("sending the handshake response"))?;
    io.flush().await.map_err(Error::io("sending the handshake response"))
}

/// Accepts a WebSocket handshake on `io` with the default [`Config`].
///
/// ```no_run
/// # async fn run() -> Result<(), wsx::Error> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await.map_err(|e| wsx::Error::Io { context: "bind", source: e })?;
/// let (tcp, _) = listener.accept().await.map_err(|e| wsx::Error::Io { context: "accept", source: e })?;
/// let mut ws = wsx::accept(tcp).await?;
/// while let Some(Ok(message)) = ws.recv().await {
///     if message.is_text() || message.is_binary() {
///         ws.send(message).await?;
///     }
/// }
/// # Ok(()) }
/// ```
#[allow(clippy::result_large_err, reason = "a refusal is a whole HTTP response by design, built once per handshake")]
pub fn accept<S: AsyncRead + AsyncWrite + Unpin>(io: S) -> impl Future<Output = Result<WebSocket<S>, Error>> {
    accept_with(io, Config::default(), |_, _| Ok(Accept::default()))
}

/// Accepts a handshake after `on_request` decides: `Ok(Accept)` answers 101,
/// `Err(response)` refuses with that response. The handshake runs in a
/// boxed future, freed once it is done (see [`IncomingRequest::accept`]).
///
/// ```no_run
/// # async fn run(tcp: tokio::net::TcpStream) -> Result<(), wsx::Error> {
/// let ws = wsx::accept_with(tcp, wsx::Config::default(), |request, offer| {
///     if request.uri().path() != "/chat" {
///         return Err(http::Response::builder().status(404).body(bytes::Bytes::from("no such room")).unwrap());
///     }
///     let chosen = offer.subprotocols.iter().find(|p| *p == "chat.v2");
///     Ok(chosen.map_or_else(wsx::Accept::default, |p| wsx::Accept::default().subprotocol(p.clone())))
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub fn accept_with<S, F>(io: S, config: Config, on_request: F) -> impl Future<Output = Result<WebSocket<S>, Error>>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request<()>, &ClientOffer) -> Result<Accept, Response<Bytes>>,
{
    Box::pin(decide_and_accept(io, config, on_request))
}

async fn decide_and_accept<S, F>(io: S, config: Config, on_request: F) -> Result<WebSocket<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request<()>, &ClientOffer) -> Result<Accept, Response<Bytes>>,
{
    let incoming = IncomingRequest::read(io, config).await?;
    let decision = match incoming.offer() {
        Ok(offer) => Some(on_request(incoming.request(), offer)),
        Err(_) => None,
    };
    match decision {
        Some(Err(response)) => {
            let (parts, body) = response.into_parts();
            let status = parts.status;
            incoming.reject(Response::from_parts(parts, ()), body).await?;
            Err(Error::Rejected { status })
        }
        Some(Ok(accept)) => incoming.accept_chosen(accept).await,
        None => incoming.accept_default().await,
    }
}

/// Accepts TCP connections forever, reads each handshake request within the
/// deadline and hands it to `handler` in a task of its own.
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
pub async fn serve<F, Fut>(listener: TcpListener, config: Config, handler: F) -> std::io::Result<()>
where
    F: Fn(IncomingRequest<TcpStream>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let handler = Arc::new(handler);
    accept_loop(listener, move |tcp, peer| {
        let handler = handler.clone();
        // Boxed: the handshake's buffers and timers are freed once it is
        // done instead of sizing the task for its whole life.
        let read = Box::pin(IncomingRequest::read(tcp, config.clone()));
        tokio::spawn(async move {
            match read.await {
                #[allow(unused_mut, reason = "the low-water mark is Linux-only")]
                Ok(mut incoming) => {
                    #[cfg(target_os = "linux")]
                    {
                        incoming.low_water = Some(crate::low_water::tcp_socket);
                    }
                    handler(incoming).await
                }
                Err(error) => tracing::debug!(%peer, %error, "handshake failed"),
            }
        });
    })
    .await
}

/// [`serve`] for `wss://` (or, with `tls` `None`, plain `ws://` with the
/// same handler type): each connection's TLS handshake and request head
/// must both finish within [`Config::handshake_timeout`], so a client that
/// sends plaintext, or trickles its ClientHello, is dropped at the deadline.
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
pub async fn serve_tls<F, Fut>(
    listener: TcpListener,
    config: Config,
    tls: Option<TlsAcceptor>,
    handler: F,
) -> std::io::Result<()>
where
    F: Fn(IncomingRequest<MaybeTls>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let handler = Arc::new(handler);
    accept_loop(listener, move |tcp, peer| {
        let handler = handler.clone();
        let read = Box::pin(read_maybe_tls(tcp, tls.clone(), config.clone()));
        tokio::spawn(async move {
            match read.await {
                Ok(incoming) => handler(incoming).await,
                Err(error) => tracing::debug!(%peer, %error, "handshake failed"),
            }
        });
    })
    .await
}

/// TLS (if configured), then the request head, all before one deadline.
pub(crate) async fn read_maybe_tls(
    tcp: TcpStream,
    tls: Option<TlsAcceptor>,
    config: Config,
) -> Result<IncomingRequest<MaybeTls>, Error> {
    let timeout = config.handshake_timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    let io = match tls {
        Some(tls) => tokio::time::timeout_at(deadline, tls.accept(tcp))
            .await
            .map_err(|_| Error::Timeout { kind: TimeoutKind::Handshake, after: timeout })?
            .map(|stream| MaybeTls::ServerTls(Box::new(stream)))?,
        None => MaybeTls::Plain(tcp),
    };
    #[allow(unused_mut, reason = "the low-water mark is Linux-only")]
    let mut incoming = IncomingRequest::read_until(io, config, deadline).await?;
    #[cfg(target_os = "linux")]
    {
        incoming.low_water = Some(crate::low_water::plain_socket);
    }
    Ok(incoming)
}

/// Accepts TCP connections forever, backing off on resource exhaustion.
async fn accept_loop(
    listener: TcpListener,
    mut on_connection: impl FnMut(TcpStream, SocketAddr),
) -> std::io::Result<()> {
    let mut backoff = Duration::from_millis(5);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => {
                backoff = Duration::from_millis(5);
                accepted
            }
            Err(error) if is_transient_accept_error(&error) => {
                // EMFILE/ENFILE and friends: wait instead of spinning.
                tracing::warn!(%error, ?backoff, "accept failed; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
            Err(error) => return Err(error),
        };
        let _ = tcp.set_nodelay(true);
        on_connection(tcp, peer);
    }
}

fn is_transient_accept_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(error.kind(), ConnectionAborted | ConnectionReset | Interrupted | WouldBlock)
        || matches!(error.raw_os_error(), Some(23 /* ENFILE */ | 24 /* EMFILE */ | 105 /* ENOBUFS */ | 12 /* ENOMEM */))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future `f` returns, without calling it.
    fn future_size<A, R>(_: &impl FnOnce(A) -> R) -> usize {
        std::mem::size_of::<R>()
    }

    /// A connection's task holds its handler's argument and the handshake
    /// future for the connection's whole life, so both must cost a pointer
    /// or so, not the KiB of the parsed head and the response being written.
    #[test]
    fn handshake_state_lives_in_boxes() {
        assert!(std::mem::size_of::<IncomingRequest<TcpStream>>() <= 64);
        assert!(future_size(&|incoming: IncomingRequest<TcpStream>| incoming.accept()) <= 16);
        assert!(future_size(&|incoming: IncomingRequest<TcpStream>| incoming.accept_with(Accept::default())) <= 16);
        assert!(future_size(&|tcp: TcpStream| accept(tcp)) <= 16);
    }
}
