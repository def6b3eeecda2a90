//! The client side (RFC 6455 §4.1): resolve and connect, send the opening
//! handshake, validate the response, hand leftover bytes to the connection.

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
use crate::websocket::WebSocket;

/// Connects to a `ws://` URL with the default [`Config`]; returns the
/// connection and the server's handshake response.
///
/// ```no_run
/// # async fn run() -> Result<(), wsx::Error> {
/// let (mut ws, response) = wsx::connect("ws://127.0.0.1:9001/echo").await?;
/// assert_eq!(response.status(), 101);
/// ws.send("hello").await?;
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<(WebSocket<TcpStream>, Response<()>), Error> {
    ClientBuilder::new(url).connect().await
}

/// Builds a client connection: headers, subprotocols, limits and timeouts.
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
}

impl ClientBuilder {
    /// A builder for `url` (`ws://` or `wss://`). A malformed URL is
    /// reported by [`connect`](Self::connect).
    pub fn new(url: &str) -> Self {
        Self {
            request: WsUri::parse(url).map(ClientRequest::new).map_err(Error::from),
            config: Config::default(),
            connect_timeout: Duration::from_secs(10),
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

    /// Deadline for establishing the TCP connection. Default 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Connects over TCP and runs the opening handshake.
    pub async fn connect(self) -> Result<(WebSocket<TcpStream>, Response<()>), Error> {
        let request = self.request?;
        let uri = request.uri().clone();
        if uri.is_secure() {
            return Err(Error::TlsUnsupported);
        }
        let address = (uri.host().to_owned(), uri.port());
        let tcp = tokio::time::timeout(self.connect_timeout, TcpStream::connect(address))
            .await
            .map_err(|_| Error::Timeout { kind: TimeoutKind::Connect, after: self.connect_timeout })?
            .map_err(Error::io("connecting"))?;
        // Small frames should leave at once; we coalesce writes ourselves.
        tcp.set_nodelay(true).map_err(Error::io("setting TCP_NODELAY"))?;
        handshake(tcp, request, self.config).await
    }

    /// Runs the opening handshake over a transport the caller connected
    /// (a Unix socket, a tunnel, a TLS stream).
    pub async fn connect_on<S: AsyncRead + AsyncWrite + Unpin>(
        self,
        io: S,
    ) -> Result<(WebSocket<S>, Response<()>), Error> {
        handshake(io, self.request?, self.config).await
    }
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
    let handshake = request.into_handshake(&mut rng)?;
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
    let accepted = handshake.validate_response(&response)?;
    tracing::debug!(subprotocol = ?accepted.subprotocol, "handshake accepted");
    let negotiated = Negotiated::new(Role::Client).with_subprotocol(accepted.subprotocol);
    let ws = WebSocket::from_upgraded(io, negotiated, config, &buf[consumed..])?;
    Ok((ws, response))
}
