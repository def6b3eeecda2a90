//! The client side (RFC 6455 §4.1): resolve and connect (directly or through
//! a proxy), TLS for `wss://`, send the opening handshake, validate the
//! response (following redirects only when asked), hand leftover bytes to the
//! connection.

use std::time::Duration;

use bytes::BytesMut;
use http::{HeaderName, HeaderValue, Response};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use wsx_proto::handshake::{ClientRequest, HandshakeError, parse_response};
use wsx_proto::uri::WsUri;
use wsx_proto::{Negotiated, Role};

use crate::config::Config;
use crate::error::{Error, TimeoutKind};
use crate::proxy::Proxy;
use crate::redirect;
use crate::stream::MaybeTls;
use crate::tls::TlsConnector;
use crate::websocket::WebSocket;

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
pub async fn connect(url: &str) -> Result<(WebSocket<MaybeTls>, Response<()>), Error> {
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
    config: Config,
    connect_timeout: Duration,
    handshake_timeout: Option<Duration>,
    tls: TlsConnector,
    proxy: Option<Proxy>,
    max_redirects: usize,
}

impl ClientBuilder {
    /// A builder for `url` (`ws://` or `wss://`). A malformed URL is
    /// reported by [`connect`](Self::connect). Userinfo in the URL
    /// (`ws://user:password@host/`) is sent as `Authorization: Basic`.
    pub fn new(url: &str) -> Self {
        Self {
            request: WsUri::parse(url).map(ClientRequest::new).map_err(Error::from),
            config: Config::default(),
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: None,
            tls: TlsConnector::new(),
            proxy: None,
            max_redirects: 0,
        }
    }

    /// Adds a request header. Names and values are checked; CR, LF and NUL
    /// are refused, as are the headers the handshake itself sets.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.request = self.request.and_then(|request| {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| HandshakeError::InvalidHeaderName)?;
            let value =
                HeaderValue::from_str(value).map_err(|_| HandshakeError::InvalidHeaderValue { name: name.clone() })?;
            Ok(request.header(name, value))
        });
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
        self.config = config;
        self
    }

    /// Deadline for establishing the TCP connection (and the proxy tunnel,
    /// if any). Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Deadline for the TLS and WebSocket handshakes together; overrides
    /// [`Config::handshake_timeout`] (10 s).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = Some(timeout);
        self
    }

    /// TLS settings for `wss://` (default: the webpki roots, verification on).
    pub fn tls(mut self, tls: TlsConnector) -> Self {
        self.tls = tls;
        self
    }

    /// Connects through `proxy`. No proxy is used unless set here (see
    /// [`Proxy::from_env`] for the environment variables).
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Follows up to `max` redirects (3xx with `Location`); default 0, as
    /// browsers never follow them for WebSockets. On a redirect to another
    /// origin (scheme, host or port) the `Authorization` and `Cookie`
    /// headers and the URL's credentials are dropped; a redirect from
    /// `wss://` to `ws://` is never followed.
    pub fn max_redirects(mut self, max: usize) -> Self {
        self.max_redirects = max;
        self
    }

    /// Connects (through the proxy, if any), runs TLS for `wss://`, and the
    /// opening handshake, following redirects if allowed.
    pub async fn connect(self) -> Result<(WebSocket<MaybeTls>, Response<()>), Error> {
        let mut request = self.request?;
        let mut config = self.config;
        if let Some(timeout) = self.handshake_timeout {
            config.handshake_timeout = timeout;
        }
        let mut redirects = 0;
        loop {
            let uri = request.uri().clone();
            let io = open_transport(&uri, self.proxy.as_ref(), self.connect_timeout).await?;
            let deadline = config.handshake_timeout;
            let attempt = tokio::time::timeout(deadline, async {
                let io = if uri.is_secure() { self.tls.connect(uri.host(), io).await? } else { io };
                handshake_inner(io, request.clone(), config.clone()).await
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
                #[cfg(target_os = "linux")]
                Ok((mut ws, response)) => {
                    ws.use_recv_low_water(crate::low_water::plain_socket);
                    return Ok((ws, response));
                }
                other => return other,
            }
        }
    }

    /// Runs the opening handshake over a transport the caller connected
    /// (a Unix socket, a tunnel, a TLS stream).
    pub async fn connect_on<S: AsyncRead + AsyncWrite + Unpin>(
        self,
        io: S,
    ) -> Result<(WebSocket<S>, Response<()>), Error> {
        let mut config = self.config;
        if let Some(timeout) = self.handshake_timeout {
            config.handshake_timeout = timeout;
        }
        handshake(io, self.request?, config).await
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
    let handshake = crate::compression::offer(request, &config).into_handshake(&mut rng)?;
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
    let deflate = crate::compression::accepted(&config, &accepted)?;
    let negotiated = Negotiated::new(Role::Client).with_subprotocol(accepted.subprotocol).with_deflate(deflate);
    let ws = WebSocket::from_upgraded(io, negotiated, config, &buf[consumed..])?;
    Ok((ws, response))
}
