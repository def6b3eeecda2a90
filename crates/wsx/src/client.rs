//! The client side (RFC 6455 §4.1): resolve and connect (directly or through
//! a proxy), TLS for `wss://`, send the opening handshake, validate the
//! response (following redirects only when asked), hand leftover bytes to the
//! connection.

use std::time::Duration;

use bytes::BytesMut;
use http::Response;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use wsx_proto::handshake::{ClientRequest, HandshakeError, parse_response};
use wsx_proto::uri::WsUri;

use crate::config::Config;
use crate::error::{Error, TimeoutKind};
use crate::http2::{Http2Connection, Http2Settings};
use crate::http3::{Http3Connection, Http3Settings};
use crate::proxy::Proxy;
use crate::redirect;
use crate::tls::{ALPN_H2, Alpn, TlsConnector};
use crate::transport::{MaybeTls, Transport};
use crate::websocket::WebSocket;

/// Which HTTP version a client opens its WebSocket with.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpMode {
    /// An HTTP/1.1 upgrade (RFC 6455 §4). The default.
    #[default]
    Http1,
    /// An extended CONNECT on an HTTP/2 connection (RFC 8441): TLS with
    /// ALPN `h2` for `wss://`, prior knowledge (cleartext HTTP/2 from the
    /// first byte) for `ws://`. Fails with [`Error::Http2Unavailable`]
    /// where the server does not offer it.
    Http2,
    /// HTTP/2 where the server offers it, else HTTP/1.1: for `wss://`, ALPN
    /// offers `h2` and `http/1.1` and the server chooses; a server that
    /// chose `h2` but does not enable the extended CONNECT, or refuses the
    /// CONNECT with 400, 405 or 501 (RFC 8441 §4: it cannot), is asked
    /// again over HTTP/1.1 on a new connection, once. `ws://` uses HTTP/1.1
    /// (cleartext HTTP/2 needs prior knowledge). Which one was used:
    /// [`Transport::http_version`].
    Auto,
    /// An extended CONNECT on an HTTP/3 connection over QUIC (RFC 9220),
    /// for `wss://` (QUIC is always TLS), falling back once to TCP — as
    /// [`Auto`](Self::Auto): HTTP/2 where the server offers it, else
    /// HTTP/1.1 — when QUIC is blocked (no answer within
    /// [`Http3Settings::quic_timeout`]), the server refuses it (no ALPN
    /// `h3`, no extended CONNECT in its SETTINGS) or answers the CONNECT
    /// with 400, 405 or 501. `ws://` goes straight to HTTP/1.1. Which one
    /// was used: [`Transport::http_version`].
    Http3,
    /// HTTP/3 only: as [`Http3`](Self::Http3) without the fallback; fails
    /// with [`Error::Http3Unavailable`] where the server does not offer it.
    Http3Only,
}

/// Connects to a `ws://` or `wss://` URL with the default [`Config`];
/// returns the connection and the server's handshake response.
///
/// ```no_run
/// # async fn run() -> Result<(), wsx::Error> {
/// let (mut ws, response) = wsx::connect("wss://127.0.0.1:9001/echo").await?;
/// assert_eq!(response.status(), 101);
/// ws.send("hello").await?;
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<(WebSocket<Transport>, Response<()>), Error> {
    ClientBuilder::new(url).connect().await
}

/// Builds a client connection: headers, subprotocols, TLS, proxy, limits,
/// timeouts and redirects.
///
/// Defaults: TCP connect deadline 10 s, handshake deadline (TLS included)
/// from [`Config::handshake_timeout`] (10 s), the webpki roots for `wss://`,
/// no proxy, redirects not followed.
///
/// ```no_run
/// # async fn run() -> Result<(), wsx::Error> {
/// let (ws, response) = wsx::ClientBuilder::new("ws://127.0.0.1:9001/chat")
///     .subprotocol("chat.v2")
///     .header("authorization", "Bearer abc")
///     .config(wsx::Config::default().max_message_size(16 << 20))
///     .connect()
///     .await?;
/// println!("subprotocol: {:?}", ws.negotiated().subprotocol);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ClientBuilder {
    request: Result<ClientRequest, Error>,
    options: Options,
}

/// Everything but the request: how to reach the server and what to run.
#[derive(Debug)]
struct Options {
    config: Config,
    connect_timeout: Duration,
    handshake_timeout: Option<Duration>,
    tls: TlsConnector,
    proxy: Option<Proxy>,
    max_redirects: usize,
    http: HttpMode,
    http2: Http2Settings,
    http3: Http3Settings,
}

impl ClientBuilder {
    /// A builder for `url` (`ws://` or `wss://`). A malformed URL is
    /// reported by [`connect`](Self::connect). Userinfo in the URL
    /// (`ws://user:password@host/`) is sent as `Authorization: Basic`.
    pub fn new(url: &str) -> Self {
        Self {
            request: WsUri::parse(url).map(ClientRequest::new).map_err(Error::from),
            options: Options {
                config: Config::default(),
                connect_timeout: Duration::from_secs(10),
                handshake_timeout: None,
                tls: TlsConnector::new(),
                proxy: None,
                max_redirects: 0,
                http: HttpMode::Http1,
                http2: Http2Settings::default(),
                http3: Http3Settings::default(),
            },
        }
    }

    /// Adds a request header. Names and values are checked; CR, LF and NUL
    /// are refused, as are the headers the handshake itself sets.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.request = self.request.and_then(|request| Ok(request.header_str(name, value)?));
        self
    }

    /// Offers a subprotocol; call again to offer several, in preference order.
    pub fn subprotocol(mut self, protocol: &str) -> Self {
        self.request = self.request.map(|request| request.subprotocol(protocol));
        self
    }

    /// Sends this `Host` header instead of the URL's authority (a virtual
    /// host reached by address); the TCP connection and the TLS server name
    /// still follow the URL. Dropped when a redirect is followed.
    pub fn host(mut self, host: &str) -> Self {
        self.request = self.request.map(|request| request.host(host));
        self
    }

    /// Sends an `Origin` header.
    pub fn origin(mut self, origin: &str) -> Self {
        self.request = self.request.map(|request| request.origin(origin));
        self
    }

    /// Connection settings.
    pub fn config(mut self, config: Config) -> Self {
        self.options.config = config;
        self
    }

    /// Deadline for establishing the TCP connection (and the proxy tunnel,
    /// if any). Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.options.connect_timeout = timeout;
        self
    }

    /// Deadline for the TLS and WebSocket handshakes together; overrides
    /// [`Config::handshake_timeout`] (10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.options.handshake_timeout = Some(timeout);
        self
    }

    /// TLS settings for `wss://` (default: the webpki roots, verification on).
    pub fn tls(mut self, tls: TlsConnector) -> Self {
        self.options.tls = tls;
        self
    }

    /// Connects through `proxy`. No proxy is used unless set here (see
    /// [`Proxy::from_env`] for the environment variables).
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.options.proxy = Some(proxy);
        self
    }

    /// Follows up to `max` redirects (3xx with `Location`); default 0, as
    /// browsers never follow them for WebSockets. On a redirect to another
    /// origin (scheme, host or port) the `Authorization` and `Cookie`
    /// headers and the URL's credentials are dropped; a redirect from
    /// `wss://` to `ws://` is never followed.
    pub fn max_redirects(mut self, max: usize) -> Self {
        self.options.max_redirects = max;
        self
    }

    /// Which HTTP version opens the WebSocket (default HTTP/1.1).
    pub fn http(mut self, mode: HttpMode) -> Self {
        self.options.http = mode;
        self
    }

    /// The limits of an HTTP/2 connection (windows, streams, headers).
    pub fn http2_settings(mut self, settings: Http2Settings) -> Self {
        self.options.http2 = settings;
        self
    }

    /// The limits of an HTTP/3 connection (windows, streams, headers, how
    /// long QUIC may take before it counts as blocked).
    pub fn http3_settings(mut self, settings: Http3Settings) -> Self {
        self.options.http3 = settings;
        self
    }

    /// Connects (through the proxy, if any), runs TLS for `wss://`, and the
    /// opening handshake over the HTTP version [`http`](Self::http) asks
    /// for, following redirects if allowed (HTTP/1.1).
    pub async fn connect(self) -> Result<(WebSocket<Transport>, Response<()>), Error> {
        let request = self.request?;
        let options = self.options.with_deadline();
        let secure = request.uri().is_secure();
        match options.http {
            HttpMode::Http1 => options.connect_http1(request).await,
            HttpMode::Http2 => options.open_http2(request).await,
            HttpMode::Auto if !secure => options.connect_http1(request).await,
            HttpMode::Auto => options.connect_auto(request).await,
            HttpMode::Http3 if !secure => options.connect_http1(request).await,
            HttpMode::Http3 => options.connect_http3_or_tcp(request).await,
            HttpMode::Http3Only => options.open_http3(request).await,
        }
    }

    /// Connects over HTTP/3 (QUIC) and returns the connection, on which
    /// [`Http3Connection::open`] opens any number of WebSockets with this
    /// builder's headers, subprotocols and settings. No proxy is used:
    /// QUIC runs over UDP.
    ///
    /// # Errors
    /// [`Error::Http3Unavailable`] if QUIC gets no answer in time, the
    /// server refuses ALPN `h3`, or does not enable the extended CONNECT;
    /// TLS errors as [`connect`](Self::connect).
    pub async fn connect_http3(self) -> Result<Http3Connection, Error> {
        let request = self.request?;
        self.options.with_deadline().connect_http3(request).await
    }

    /// Connects over HTTP/2 and returns the connection, on which
    /// [`Http2Connection::open`] opens any number of WebSockets with this
    /// builder's headers, subprotocols and settings.
    ///
    /// # Errors
    /// [`Error::Http2Unavailable`] if the server does not agree to `h2` or
    /// does not enable the extended CONNECT; connection and TLS errors as
    /// [`connect`](Self::connect).
    pub async fn connect_http2(self) -> Result<Http2Connection, Error> {
        let request = self.request?;
        self.options.with_deadline().connect_http2(request).await
    }

    /// Runs the opening handshake over a transport the caller connected
    /// (a Unix socket, a tunnel, a TLS stream), as an HTTP/1.1 upgrade.
    pub async fn connect_on<S: AsyncRead + AsyncWrite + Unpin>(
        self,
        io: S,
    ) -> Result<(WebSocket<S>, Response<()>), Error> {
        let options = self.options.with_deadline();
        handshake(io, self.request?, options.config).await
    }
}

impl Options {
    /// The handshake deadline set on the builder, if any, in the config.
    fn with_deadline(mut self) -> Self {
        if let Some(timeout) = self.handshake_timeout {
            self.config.handshake_timeout = timeout;
        }
        self
    }

    async fn connect_http2(&self, request: ClientRequest) -> Result<Http2Connection, Error> {
        let uri = request.uri().clone();
        let io = open_transport(&uri, self.proxy.as_ref(), self.connect_timeout).await?;
        let io = if uri.is_secure() {
            let io = self.tls_handshake(&uri, io, Alpn::Http2OrHttp1).await?;
            if io.alpn_protocol() != Some(ALPN_H2) {
                return Err(Error::Http2Unavailable { reason: "the server did not agree to h2 in TLS" });
            }
            io
        } else {
            io
        };
        Http2Connection::handshake(io, request, self.config.clone(), &self.http2).await
    }

    async fn connect_http3(&self, request: ClientRequest) -> Result<Http3Connection, Error> {
        if !request.uri().is_secure() {
            return Err(Error::Http3Unavailable { reason: "HTTP/3 needs wss:// (QUIC is always TLS)" });
        }
        Http3Connection::connect(request, self.config.clone(), &self.tls, &self.http3).await
    }

    /// One WebSocket on a new HTTP/3 connection.
    async fn open_http3(&self, request: ClientRequest) -> Result<(WebSocket<Transport>, Response<()>), Error> {
        let connection = self.connect_http3(request.clone()).await?;
        connection.open_request(request).await
    }

    /// HTTP/3, else once over TCP (see [`HttpMode::Http3`]).
    async fn connect_http3_or_tcp(
        &self,
        request: ClientRequest,
    ) -> Result<(WebSocket<Transport>, Response<()>), Error> {
        match self.open_http3(request.clone()).await {
            Err(error) if cannot_carry_websockets(&error) => {
                tracing::debug!(%error, "WebSocket over HTTP/3 unavailable; falling back to TCP");
                self.connect_auto(request).await
            }
            other => other,
        }
    }

    /// One WebSocket on a new HTTP/2 connection.
    async fn open_http2(&self, request: ClientRequest) -> Result<(WebSocket<Transport>, Response<()>), Error> {
        let connection = self.connect_http2(request.clone()).await?;
        connection.open_request(request).await
    }

    /// HTTP/2 if the server offers it, else HTTP/1.1 (see [`HttpMode::Auto`]).
    async fn connect_auto(&self, request: ClientRequest) -> Result<(WebSocket<Transport>, Response<()>), Error> {
        let uri = request.uri().clone();
        let io = open_transport(&uri, self.proxy.as_ref(), self.connect_timeout).await?;
        let io = self.tls_handshake(&uri, io, Alpn::Http2OrHttp1).await?;
        if io.alpn_protocol() != Some(ALPN_H2) {
            // The server chose HTTP/1.1 on this very connection.
            return self.upgrade_http1(Transport::Http1(io), request).await;
        }
        let attempt = match Http2Connection::handshake(io, request.clone(), self.config.clone(), &self.http2).await {
            Ok(connection) => connection.open_request(request.clone()).await,
            Err(error) => Err(error),
        };
        match attempt {
            Err(error) if cannot_carry_websockets(&error) => {
                tracing::debug!(%error, "WebSocket over HTTP/2 refused; falling back to HTTP/1.1");
                self.connect_http1(request).await
            }
            other => other,
        }
    }

    /// TLS for `uri` over `io`, under the handshake deadline.
    async fn tls_handshake(&self, uri: &WsUri, io: MaybeTls, alpn: Alpn) -> Result<MaybeTls, Error> {
        let deadline = self.config.handshake_timeout;
        tokio::time::timeout(deadline, crate::tls::connect(&self.tls, uri.host(), io, alpn))
            .await
            .map_err(|_| Error::Timeout { kind: TimeoutKind::Handshake, after: deadline })?
    }

    /// An HTTP/1.1 upgrade on a new connection, following redirects if
    /// allowed.
    async fn connect_http1(&self, mut request: ClientRequest) -> Result<(WebSocket<Transport>, Response<()>), Error> {
        let config = &self.config;
        let mut redirects = 0;
        loop {
            let uri = request.uri().clone();
            let io = open_transport(&uri, self.proxy.as_ref(), self.connect_timeout).await?;
            let deadline = config.handshake_timeout;
            let attempt = tokio::time::timeout(deadline, async {
                let io = if uri.is_secure() {
                    crate::tls::connect(&self.tls, uri.host(), io, Alpn::Http1).await?
                } else {
                    io
                };
                handshake_inner(Transport::Http1(io), request.clone(), config.clone()).await
            })
            .await
            .map_err(|_| Error::Timeout { kind: TimeoutKind::Handshake, after: deadline })?;
            match attempt {
                Err(Error::Redirect { status, location }) if redirects < self.max_redirects => {
                    let Some(next) = redirect::follow(request, &location) else {
                        return Err(Error::Redirect { status, location });
                    };
                    tracing::debug!(%status, %location, "following redirect");
                    request = next;
                    redirects += 1;
                }
                Ok((ws, response)) => return Ok(with_low_water(ws, response)),
                Err(error) => return Err(error),
            }
        }
    }

    /// The HTTP/1.1 upgrade on a connection already open (and TLS'd).
    async fn upgrade_http1(
        &self,
        io: Transport,
        request: ClientRequest,
    ) -> Result<(WebSocket<Transport>, Response<()>), Error> {
        let (ws, response) = handshake(io, request, self.config.clone()).await?;
        Ok(with_low_water(ws, response))
    }
}

/// A WebSocket over plain TCP watches its socket's receive low-water mark.
fn with_low_water(
    #[allow(unused_mut, reason = "the low-water mark is Linux-only")] mut ws: WebSocket<Transport>,
    response: Response<()>,
) -> (WebSocket<Transport>, Response<()>) {
    #[cfg(target_os = "linux")]
    ws.use_recv_low_water(crate::low_water::transport_socket);
    (ws, response)
}

/// Whether an HTTP/2 or HTTP/3 attempt failed because the server cannot
/// carry WebSockets over it (RFC 8441 §4 and RFC 9220 name no status; 400,
/// 405 and 501 are what servers without it answer a CONNECT with), so
/// another version may work.
fn cannot_carry_websockets(error: &Error) -> bool {
    match error {
        Error::Http2Unavailable { .. } | Error::Http3Unavailable { .. } => true,
        Error::Handshake(HandshakeError::UnexpectedStatus { status, extended_connect: true }) => {
            matches!(status.as_u16(), 400 | 405 | 501)
        }
        _ => false,
    }
}

/// TCP to the server, or a tunnel through the proxy, within `timeout`.
async fn open_transport(uri: &WsUri, proxy: Option<&Proxy>, timeout: Duration) -> Result<MaybeTls, Error> {
    if let Some(proxy) = proxy {
        return tokio::time::timeout(timeout, proxy.tunnel(uri.host(), uri.port(), timeout))
            .await
            .map_err(|_| Error::Timeout { kind: TimeoutKind::Connect, after: timeout })?;
    }
    let tcp = tokio::time::timeout(timeout, TcpStream::connect((uri.host(), uri.port())))
        .await
        .map_err(|_| Error::Timeout { kind: TimeoutKind::Connect, after: timeout })?
        .map_err(Error::io("connecting"))?;
    // Small frames should leave at once; we coalesce writes ourselves.
    tcp.set_nodelay(true).map_err(Error::io("setting TCP_NODELAY"))?;
    Ok(MaybeTls::Plain(tcp))
}

async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    request: ClientRequest,
    config: Config,
) -> Result<(WebSocket<S>, Response<()>), Error> {
    let deadline = config.handshake_timeout;
    tokio::time::timeout(deadline, handshake_inner(io, request, config))
        .await
        .map_err(|_| Error::Timeout { kind: TimeoutKind::Handshake, after: deadline })?
}

async fn handshake_inner<S: AsyncRead + AsyncWrite + Unpin>(
    mut io: S,
    request: ClientRequest,
    config: Config,
) -> Result<(WebSocket<S>, Response<()>), Error> {
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::try_from_os_rng()
        .map_err(|e| Error::Io { context: "seeding the handshake-key RNG", source: std::io::Error::other(e) })?;
    let handshake = request.deflate_offers(config.protocol.get_compression()).into_handshake(&mut rng)?;
    let mut out = BytesMut::with_capacity(512);
    handshake.encode(&mut out);
    io.write_all(&out).await.map_err(Error::io("sending the handshake request"))?;
    io.flush().await.map_err(Error::io("sending the handshake request"))?;
    let mut buf = BytesMut::with_capacity(1024);
    let (response, consumed) = loop {
        if let Some(parsed) = parse_response(&buf, &config.handshake_limits)? {
            break parsed;
        }
        let read = io.read_buf(&mut buf).await.map_err(Error::io("reading the handshake response"))?;
        if read == 0 {
            return Err(Error::Io {
                context: "reading the handshake response",
                source: std::io::ErrorKind::UnexpectedEof.into(),
            });
        }
    };
    if response.status().is_redirection()
        && let Some(location) = response.headers().get(http::header::LOCATION)
    {
        let location = String::from_utf8_lossy(location.as_bytes()).into_owned();
        return Err(Error::Redirect { status: response.status(), location });
    }
    let accepted = handshake.validate_response(&response)?;
    tracing::debug!(subprotocol = ?accepted.subprotocol, "handshake accepted");
    let negotiated = accepted.negotiated(config.protocol.get_compression())?;
    let ws = WebSocket::from_upgraded(io, negotiated, config, &buf[consumed..])?;
    Ok((ws, response))
}
