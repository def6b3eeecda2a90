//! The server side of the opening handshake, whichever HTTP version
//! carries it: an HTTP/1.1 upgrade (RFC 6455 §4.2) read from the
//! connection and answered 101 on it, or an HTTP/2 extended CONNECT
//! (RFC 8441 §5) answered 200 on its stream. Both go through the same
//! steps: the request is checked, the [`HandshakePolicy`] refuses origins
//! it does not allow, the application decides (subprotocol, extra headers,
//! or any HTTP refusal), and the answer opens the same [`WebSocket`] over
//! the same core.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Request, Response, StatusCode, Version};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use wsx_proto::handshake::{
    Accept, ClientOffer, HandshakeError, HandshakePolicy, encode_response, error_response, parse_request,
    validate_extended_connect, validate_request,
};

use crate::config::Config;
use crate::error::{Error, TimeoutKind};
use crate::http2::Http2Stream;
use crate::http3::Http3Stream;
use crate::websocket::WebSocket;

/// A request read from a client, waiting for the application's decision:
/// [`accept`](Self::accept), or [`reject`](Self::reject) with any HTTP
/// response. It may be a WebSocket handshake ([`offer`](Self::offer) is
/// `Ok`) or any other request, which the application may answer as a plain
/// HTTP server would.
#[derive(Debug)]
pub struct IncomingRequest<S> {
    /// Boxed: a handler's future keeps room for its argument for the whole
    /// life of the connection (an `async move` block keeps a captured
    /// value's slot after moving it out), so the request must cost it a
    /// pointer, not the ~780 bytes of the parsed head, the settings and
    /// the transport.
    parts: Box<Parts<S>>,
}

/// What an [`IncomingRequest`] holds, in one allocation.
#[derive(Debug)]
struct Parts<S> {
    head: Head,
    reply: Reply<S>,
}

/// Where the answer goes, and what the WebSocket will run over.
enum Reply<S> {
    /// HTTP/1.1: the answer is written on the connection, which becomes the
    /// WebSocket's transport.
    Http1 {
        io: S,
        /// How the connection finds its socket for the receive low-water
        /// mark (plain TCP accepted by the [`Server`](crate::Server)).
        #[cfg(target_os = "linux")]
        low_water: Option<crate::low_water::SocketOf<S>>,
    },
    /// HTTP/2: the answer is the stream's response; the stream becomes the
    /// transport, made an `S` by `wrap`.
    Http2 { respond: h2::server::SendResponse<Bytes>, body: h2::RecvStream, wrap: fn(Http2Stream) -> S },
    /// HTTP/3: the answer is a HEADERS frame on the request stream; the
    /// stream becomes the transport, made an `S` by `wrap`.
    Http3(Http3Reply<S>),
}

/// Where an HTTP/3 answer goes.
struct Http3Reply<S> {
    send: quinn::SendStream,
    reader: crate::http3::FrameReader,
    connection: Arc<crate::http3::ConnectionHandle>,
    wrap: fn(Http3Stream) -> S,
}

impl<S> std::fmt::Debug for Reply<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Http1 { .. } => f.write_str("Http1"),
            Self::Http2 { respond, .. } => f.debug_struct("Http2").field("stream_id", &respond.stream_id()).finish(),
            Self::Http3(reply) => f.debug_struct("Http3").field("stream_id", &reply.send.id()).finish(),
        }
    }
}

/// The parsed request and what answering it needs.
#[derive(Debug)]
struct Head {
    request: Request<()>,
    offer: Result<ClientOffer, HandshakeError>,
    leftover: BytesMut,
    config: Config,
    policy: Arc<HandshakePolicy>,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    tls: bool,
    alt_svc: Option<u16>,
}

/// Where a connection comes from, as the server that accepted it knows.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Origin {
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) local: Option<SocketAddr>,
    pub(crate) tls: bool,
    /// The UDP port HTTP/3 is served on, advertised with `Alt-Svc` in
    /// HTTP/1.1 and HTTP/2 answers (RFC 7838; RFC 9114 §3.1.1).
    pub(crate) alt_svc: Option<u16>,
}

impl Head {
    /// The head of an HTTP/2 or HTTP/3 request. RFC 8441 §4 (and RFC 9220
    /// §3, which uses it as is): a request with `:protocol`, or any CONNECT,
    /// is judged as an extended CONNECT; anything else is an ordinary
    /// request (none of them is an HTTP/1.1 upgrade, so its offer is an
    /// error).
    fn extended_connect(
        request: Request<()>,
        protocol: Option<&str>,
        (config, policy, origin): (Config, Arc<HandshakePolicy>, Origin),
    ) -> Self {
        let offer = if protocol.is_some() || request.method() == http::Method::CONNECT {
            validate_extended_connect(&request, protocol)
        } else {
            validate_request(&request)
        };
        Head::new(request, offer, BytesMut::new(), config, policy, origin)
    }

    /// A head from its parts, the connection's [`Origin`] spread out.
    fn new(
        request: Request<()>,
        offer: Result<ClientOffer, HandshakeError>,
        leftover: BytesMut,
        config: Config,
        policy: Arc<HandshakePolicy>,
        origin: Origin,
    ) -> Self {
        Head {
            request,
            offer,
            leftover,
            config,
            policy,
            peer: origin.peer,
            local: origin.local,
            tls: origin.tls,
            alt_svc: origin.alt_svc,
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> IncomingRequest<S> {
    /// Reads an HTTP/1.1 request head within the handshake deadline, with
    /// no [`HandshakePolicy`] (see [`Server`](crate::Server) for one). A
    /// head that cannot be parsed (or exceeds the limits: 431) is answered
    /// here and returned as an error; a parsed request is returned even if
    /// it is not a valid WebSocket handshake, so the application can serve
    /// plain HTTP.
    pub async fn read(io: S, config: Config) -> Result<Self, Error> {
        let deadline = tokio::time::Instant::now() + config.handshake_timeout;
        Self::read_until(io, config, Arc::default(), Origin::default(), deadline).await
    }

    /// [`read`](Self::read) with the deadline given as an instant, so time
    /// already spent (on a TLS handshake, say) counts against it. A
    /// WebSocket handshake from an origin that `policy` refuses is
    /// answered 403 here.
    pub(crate) async fn read_until(
        mut io: S,
        config: Config,
        policy: Arc<HandshakePolicy>,
        origin: Origin,
        deadline: tokio::time::Instant,
    ) -> Result<Self, Error> {
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
        let head = Head::new(request, offer, leftover, config, policy, origin);
        let reply = Reply::Http1 {
            io,
            #[cfg(target_os = "linux")]
            low_water: None,
        };
        let incoming = Self { parts: Box::new(Parts { head, reply }) };
        incoming.check_origin().await
    }

    /// An HTTP/2 request (`parts` and its `:protocol`), answered on its
    /// stream; `wrap` makes the stream the WebSocket's transport.
    pub(crate) async fn from_http2(
        parts: http::request::Parts,
        body: h2::RecvStream,
        respond: h2::server::SendResponse<Bytes>,
        setup: (Config, Arc<HandshakePolicy>, Origin),
        wrap: fn(Http2Stream) -> S,
    ) -> Result<Self, Error> {
        let protocol = parts.extensions.get::<h2::ext::Protocol>().map(|p| p.as_str().to_owned());
        let head = Head::extended_connect(Request::from_parts(parts, ()), protocol.as_deref(), setup);
        let incoming = Self { parts: Box::new(Parts { head, reply: Reply::Http2 { respond, body, wrap } }) };
        incoming.check_origin().await
    }

    /// An HTTP/3 request (RFC 9220 §3), answered on its stream; `wrap`
    /// makes the stream the WebSocket's transport.
    pub(crate) async fn from_http3(
        stream: crate::http3::StreamRequest,
        setup: (Config, Arc<HandshakePolicy>, Origin),
        wrap: fn(Http3Stream) -> S,
    ) -> Result<Self, Error> {
        let (config, policy, origin) = setup;
        let crate::http3::StreamRequest { request, protocol, reader, send, connection } = stream;
        // RFC 9220 §3 uses RFC 8441 §4 as is. QUIC is always TLS, and an
        // HTTP/3 answer needs no Alt-Svc pointing at itself.
        let origin = Origin { tls: true, alt_svc: None, ..origin };
        let head = Head::extended_connect(request, protocol.as_deref(), (config, policy, origin));
        let reply = Reply::Http3(Http3Reply { send, reader, connection, wrap });
        let incoming = Self { parts: Box::new(Parts { head, reply }) };
        incoming.check_origin().await
    }

    /// Answers 403 to a WebSocket handshake from an origin the policy
    /// refuses, before the application sees it.
    async fn check_origin(self) -> Result<Self, Error> {
        let refusal = match &self.parts.head.offer {
            Ok(offer) => self.parts.head.policy.check_origin(offer).err().inspect(|_| {
                tracing::debug!(origin = ?offer.origin, "origin not allowed: 403");
            }),
            Err(_) => None,
        };
        match refusal {
            None => Ok(self),
            Some(refusal) => {
                let (response, body) = *refusal;
                let status = response.status();
                self.reject(response, body).await?;
                Err(Error::Rejected { status })
            }
        }
    }

    /// Has the WebSocket watch its socket's receive low-water mark (plain
    /// TCP under HTTP/1.1 only).
    #[cfg(target_os = "linux")]
    pub(crate) fn use_low_water(&mut self, socket_of: crate::low_water::SocketOf<S>) {
        if let Reply::Http1 { low_water, .. } = &mut self.parts.reply {
            *low_water = Some(socket_of);
        }
    }

    /// The request (method, path and query, headers).
    pub fn request(&self) -> &Request<()> {
        &self.parts.head.request
    }

    /// What the client offered, or why the request is not a valid handshake.
    pub fn offer(&self) -> Result<&ClientOffer, &HandshakeError> {
        self.parts.head.offer.as_ref()
    }

    /// The value of cookie `name` in the request, if sent (see [`crate::cookie`]).
    pub fn cookie(&self, name: &str) -> Option<&str> {
        wsx_proto::handshake::cookie(self.parts.head.request.headers(), name)
    }

    /// The HTTP version of the request: `HTTP/1.1` for an upgrade, `HTTP/2`
    /// or `HTTP/3` for a request on a stream of that version.
    pub fn http_version(&self) -> Version {
        match self.parts.reply {
            Reply::Http1 { .. } => Version::HTTP_11,
            Reply::Http2 { .. } => Version::HTTP_2,
            Reply::Http3(_) => Version::HTTP_3,
        }
    }

    /// The client's address, when the server that read the request knows it.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.parts.head.peer
    }

    /// The address the request arrived on, when known.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.parts.head.local
    }

    /// Whether the connection is TLS.
    pub fn is_tls(&self) -> bool {
        self.parts.head.tls
    }

    /// Accepts with no extra headers, and the first subprotocol of the
    /// client's list that the [`HandshakePolicy`] speaks, if any. When there
    /// is none and the policy requires one, refuses with 400 and returns
    /// [`Error::Rejected`].
    ///
    /// The handshake runs in a boxed future: its response and write state
    /// are freed once it is done, instead of making the caller's future (a
    /// connection task, for its whole life) larger by several KiB.
    pub fn accept(self) -> impl Future<Output = Result<WebSocket<S>, Error>> {
        Box::pin(self.accept_default())
    }

    async fn accept_default(self) -> Result<WebSocket<S>, Error> {
        let Ok(offer) = &self.parts.head.offer else {
            return self.accept_chosen(Accept::default()).await;
        };
        match self.parts.head.policy.choose_subprotocol(offer) {
            Ok(Some(protocol)) => {
                let accept = Accept::default().subprotocol(protocol);
                self.accept_chosen(accept).await
            }
            Ok(None) => self.accept_chosen(Accept::default()).await,
            Err(refusal) => {
                let (response, body) = *refusal;
                let status = response.status();
                self.reject(response, body).await?;
                Err(Error::Rejected { status })
            }
        }
    }

    /// Accepts: answers (101, or 200 on HTTP/2) and returns the connection.
    /// An invalid handshake is answered with its 400/426/501 and returned
    /// as an error. Boxed like [`accept`](Self::accept).
    pub fn accept_with(self, accept: Accept) -> impl Future<Output = Result<WebSocket<S>, Error>> {
        Box::pin(self.accept_chosen(accept))
    }

    async fn accept_chosen(mut self, accept: Accept) -> Result<WebSocket<S>, Error> {
        let offer = match std::mem::replace(&mut self.parts.head.offer, Err(HandshakeError::MissingKey)) {
            Ok(offer) => offer,
            Err(error) => {
                let (response, body) = error_response(&error);
                self.reject(response, body).await?;
                return Err(Error::Handshake(error));
            }
        };
        let (mut response, negotiated) = accept.respond(&offer, self.parts.head.config.protocol.get_compression())?;
        add_alt_svc(&mut response, self.parts.head.alt_svc);
        let Parts { head: Head { leftover, config, peer, tls, .. }, reply } = *self.parts;
        match reply {
            Reply::Http1 {
                mut io,
                #[cfg(target_os = "linux")]
                low_water,
            } => {
                respond_http1(&mut io, &response, &[], config.handshake_timeout).await?;
                #[allow(unused_mut, reason = "the low-water mark is Linux-only")]
                let mut ws = WebSocket::from_upgraded(io, negotiated, config, &leftover)?;
                #[cfg(target_os = "linux")]
                if let Some(socket_of) = low_water {
                    ws.use_recv_low_water(socket_of);
                }
                Ok(ws)
            }
            Reply::Http2 { mut respond, body, wrap } => {
                // RFC 8441 §5: the 2xx opens the stream for WebSocket frames.
                let send = respond.send_response(response, false).map_err(|error| Error::Io {
                    context: "sending the extended CONNECT response",
                    source: crate::http2::io_error(error),
                })?;
                let stream = Http2Stream::new(send, body, peer, tls);
                WebSocket::from_upgraded(wrap(stream), negotiated, config, &[])
            }
            Reply::Http3(reply) => {
                let Http3Reply { mut send, reader, connection, wrap } = reply;
                // RFC 9220 §3 (RFC 8441 §5): the 2xx opens the stream for
                // WebSocket frames; the stream stays open.
                let head = crate::http3::encode_head(&response);
                tokio::time::timeout(config.handshake_timeout, send.write_all(&head))
                    .await
                    .map_err(|_| Error::Timeout { kind: TimeoutKind::Handshake, after: config.handshake_timeout })?
                    .map_err(|error| Error::Io {
                        context: "sending the extended CONNECT response",
                        source: error.into(),
                    })?;
                let stream = Http3Stream::new(reader, send, connection);
                WebSocket::from_upgraded(wrap(stream), negotiated, config, &[])
            }
        }
    }

    /// Answers with `response` exactly as given (no header added, nothing
    /// negotiated or checked) and returns the connection (HTTP/1.1) or the
    /// request stream (HTTP/2, HTTP/3) as a byte stream, with the bytes
    /// that arrived after an HTTP/1.1 head. For bridges and proxies that
    /// carry another endpoint's WebSocket bytes unchanged, as
    /// [`Http3Connection::open_stream`](crate::Http3Connection::open_stream)
    /// on the client side; [`accept`](Self::accept) is the WebSocket
    /// server, [`reject`](Self::reject) the way to refuse.
    ///
    /// # Errors
    /// The answer could not be sent within the handshake deadline.
    pub async fn accept_stream(self, response: Response<()>) -> Result<(S, Bytes), Error> {
        let Parts { head: Head { leftover, config, peer, tls, .. }, reply } = *self.parts;
        let timeout = config.handshake_timeout;
        match reply {
            Reply::Http1 { mut io, .. } => {
                respond_http1(&mut io, &response, &[], timeout).await?;
                Ok((io, leftover.freeze()))
            }
            Reply::Http2 { mut respond, body, wrap } => {
                let send = respond.send_response(response, false).map_err(|error| Error::Io {
                    context: "sending the extended CONNECT response",
                    source: crate::http2::io_error(error),
                })?;
                Ok((wrap(Http2Stream::new(send, body, peer, tls)), Bytes::new()))
            }
            Reply::Http3(reply) => {
                let Http3Reply { mut send, reader, connection, wrap } = reply;
                let head = crate::http3::encode_head(&response);
                tokio::time::timeout(timeout, send.write_all(&head))
                    .await
                    .map_err(|_| Error::Timeout { kind: TimeoutKind::Handshake, after: timeout })?
                    .map_err(|error| Error::Io {
                        context: "sending the extended CONNECT response",
                        source: error.into(),
                    })?;
                Ok((wrap(Http3Stream::new(reader, send, connection)), Bytes::new()))
            }
        }
    }

    /// Refuses with any response (401 with `WWW-Authenticate`, 403, 404 …),
    /// or serves a plain HTTP request (`GET /` with a page). On HTTP/1.1 the
    /// connection is then shut down; on HTTP/2 only the stream ends. Never
    /// opens a WebSocket: a 101 (or a 2xx to an extended CONNECT) is sent
    /// as 500.
    pub async fn reject(self, mut response: Response<()>, body: Bytes) -> Result<(), Error> {
        let opens = response.status() == StatusCode::SWITCHING_PROTOCOLS
            || (self.parts.head.offer.as_ref().is_ok_and(|offer| offer.key.is_none())
                && response.status().is_success());
        if opens {
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        }
        let timeout = self.parts.head.config.handshake_timeout;
        add_alt_svc(&mut response, self.parts.head.alt_svc);
        match self.parts.reply {
            Reply::Http1 { mut io, .. } => {
                response.headers_mut().insert(http::header::CONNECTION, HeaderValue::from_static("close"));
                response.headers_mut().insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
                respond_http1(&mut io, &response, &body, timeout).await?;
                let _ = io.shutdown().await;
                Ok(())
            }
            Reply::Http2 { mut respond, .. } => {
                // RFC 9113 §8.2.2: no connection-specific header fields.
                for name in [http::header::CONNECTION, http::header::UPGRADE, http::header::TRANSFER_ENCODING] {
                    response.headers_mut().remove(name);
                }
                response.headers_mut().remove("keep-alive");
                response.headers_mut().insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
                let sent = respond
                    .send_response(response, body.is_empty())
                    .and_then(|mut send| if body.is_empty() { Ok(()) } else { send.send_data(body, true) });
                sent.map_err(|error| Error::Io {
                    context: "sending the response on the HTTP/2 stream",
                    source: crate::http2::io_error(error),
                })
            }
            Reply::Http3(reply) => {
                let Http3Reply { mut send, mut reader, .. } = reply;
                response.headers_mut().insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
                // The request body, if any, is not read: RFC 9114 §4.1.2
                // lets a server answer before it, and H3_NO_ERROR asks the
                // client to stop sending it.
                reader.stop(crate::http3::ErrorCode::NO_ERROR);
                crate::http3::send_response(&mut send, &response, body, timeout)
                    .await
                    .map_err(Error::io("sending the response on the HTTP/3 stream"))
            }
        }
    }
}

/// `Alt-Svc: h3=":PORT"` (RFC 7838 §3, RFC 9114 §3.1.1) on an HTTP/1.1 or
/// HTTP/2 answer of a server that also speaks HTTP/3.
fn add_alt_svc(response: &mut Response<()>, port: Option<u16>) {
    if let Some(port) = port
        && let Ok(value) = HeaderValue::try_from(format!("h3=\":{port}\"; ma=86400"))
    {
        response.headers_mut().insert(http::header::ALT_SVC, value);
    }
}

/// Writes an HTTP/1.1 answer within the handshake deadline.
async fn respond_http1<S: AsyncWrite + Unpin>(
    io: &mut S,
    response: &Response<()>,
    body: &[u8],
    deadline: std::time::Duration,
) -> Result<(), Error> {
    tokio::time::timeout(deadline, write_response(io, response, body))
        .await
        .map_err(|_| Error::Timeout { kind: TimeoutKind::Handshake, after: deadline })?
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

#[cfg(test)]
mod tests {
    use tokio::net::TcpStream;

    use super::*;
    use crate::test_support::future_size;

    /// A connection's task holds its handler's argument and the handshake
    /// future for the connection's whole life, so both must cost a pointer
    /// or so, not the KiB of the parsed head and the response being written.
    #[test]
    fn handshake_state_lives_in_boxes() {
        assert_eq!(std::mem::size_of::<IncomingRequest<TcpStream>>(), std::mem::size_of::<usize>());
        assert!(future_size(&|incoming: IncomingRequest<TcpStream>| incoming.accept()) <= 16);
        assert!(future_size(&|incoming: IncomingRequest<TcpStream>| incoming.accept_with(Accept::default())) <= 16);
        assert!(future_size(&|tcp: TcpStream| accept(tcp)) <= 16);
    }
}
