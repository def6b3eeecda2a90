//! The client side (RFC 6455 §4.1) over blocking sockets: resolve and
//! connect (directly or through a proxy), TLS for `wss://`, send the
//! opening handshake, validate the response, hand leftover bytes to the
//! connection.
//!
//! Contract: the TCP connection (and the proxy's tunnel) has one deadline,
//! TLS and the upgrade another; redirects are reported, not followed.

use std::time::{Duration, Instant};

use http::Response;
use wsx_proto::handshake::ClientRequest;
use wsx_proto::uri::WsUri;

use crate::config::Config;
use crate::error::Error;
use crate::handshake::{self, Deadline};
use crate::proxy::{Proxy, connect_tcp};
use crate::tls::TlsConnector;
use crate::transport::{MaybeTls, Transport};
use crate::websocket::WebSocket;

/// Connects to a `ws://` or `wss://` URL with the default [`Config`];
/// returns the connection and the server's handshake response.
///
/// ```no_run
/// # fn run() -> Result<(), wsx_blocking::Error> {
/// let (mut ws, response) = wsx_blocking::connect("ws://127.0.0.1:9001/echo")?;
/// assert_eq!(response.status(), 101);
/// ws.send("hello")?;
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`ClientBuilder::connect`].
pub fn connect(url: &str) -> Result<(WebSocket<MaybeTls>, Response<()>), Error> {
    ClientBuilder::new(url).connect()
}

/// Builds a client connection: headers, subprotocols, TLS, proxy, limits
/// and timeouts — the tokio driver's `wsx::ClientBuilder` without its
/// HTTP/2 modes and redirects.
///
/// Defaults: TCP connect deadline 10 s, handshake deadline (TLS included)
/// from [`Config::handshake_timeout`] (10 s), the webpki roots for
/// `wss://`, no proxy.
///
/// ```no_run
/// # fn run() -> Result<(), wsx_blocking::Error> {
/// let (ws, response) = wsx_blocking::ClientBuilder::new("ws://127.0.0.1:9001/chat")
///     .subprotocol("chat.v2")
///     .header("authorization", "Bearer abc")
///     .config(wsx_blocking::Config::default().max_message_size(16 << 20))
///     .connect()?;
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

    /// Sends this `Host` header instead of the URL's authority; the TCP
    /// connection and the TLS server name still follow the URL.
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

    /// Connects (through the proxy, if any), runs TLS for `wss://` and the
    /// opening handshake.
    ///
    /// # Errors
    /// [`Error::Uri`], a connect or handshake timeout, [`Error::Proxy`],
    /// [`Error::Tls`], [`Error::Handshake`] (the response's status among
    /// others), [`Error::Redirect`], a transport error.
    pub fn connect(self) -> Result<(WebSocket<MaybeTls>, Response<()>), Error> {
        let request = self.request?;
        let uri = request.uri().clone();
        let connecting = Deadline::connect(self.connect_timeout);
        let io = match &self.proxy {
            Some(proxy) => proxy.tunnel(uri.host(), uri.port(), &connecting)?,
            None => MaybeTls::Plain(connect_tcp(uri.host(), uri.port(), &connecting, "connecting")?),
        };
        let timeout = self.handshake_timeout.unwrap_or(self.config.handshake_timeout);
        let deadline = Deadline::new(Instant::now() + timeout, timeout);
        let io = if uri.is_secure() { crate::tls::connect(&self.tls, uri.host(), io, &deadline)? } else { io };
        handshake::client(io, request, self.config, &deadline)
    }

    /// Runs the opening handshake over a transport the caller connected
    /// (a Unix socket, a TLS stream of its own), under the handshake
    /// deadline.
    ///
    /// # Errors
    /// As [`connect`](Self::connect), less the connection's own.
    pub fn connect_on<S: Transport>(self, io: S) -> Result<(WebSocket<S>, Response<()>), Error> {
        let timeout = self.handshake_timeout.unwrap_or(self.config.handshake_timeout);
        let deadline = Deadline::new(Instant::now() + timeout, timeout);
        handshake::client(io, self.request?, self.config, &deadline)
    }
}
