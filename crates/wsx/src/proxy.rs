//! Client proxies (RFC 6455 §1.1, §4.1): an HTTP `CONNECT` tunnel
//! (RFC 9110 §9.3.6; Basic credentials, RFC 7617; TLS to the proxy for
//! `https://` proxies) or SOCKS5 (RFC 1928; username/password, RFC 1929),
//! for `ws://` and `wss://` alike, plus the conventional environment
//! variables (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`).
//!
//! Contract: [`Proxy::tunnel`] returns a stream on which the target's bytes
//! flow; TLS for `wss://` and the WebSocket handshake then run inside it.

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
pub use wsx_proto::proxy::ProxyKind;
use wsx_proto::proxy::{MAX_CONNECT_RESPONSE, ProxyUrl, connect_response_status};
use wsx_proto::uri::WsUri;

use crate::error::{Error, TimeoutKind};
use crate::tls::TlsConnector;
use crate::transport::MaybeTls;

/// Why a proxy could not give us a tunnel.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The proxy URL is not one we understand.
    #[error("invalid proxy URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The HTTP proxy wants credentials we did not give, or refused ours
    /// (407, or 401 from some proxies).
    #[error("the proxy refused: credentials missing or wrong")]
    AuthenticationRequired,
    /// The HTTP proxy answered `CONNECT` with this non-2xx status.
    #[error("the proxy refused CONNECT with {status}")]
    ConnectRefused {
        /// The proxy's status.
        status: http::StatusCode,
    },
    /// The proxy's answer to `CONNECT` is not valid HTTP or too large.
    #[error("malformed CONNECT response from the proxy")]
    MalformedResponse,
    /// The SOCKS5 proxy refused or failed.
    #[error("SOCKS5: {0}")]
    Socks(#[from] tokio_socks::Error),
}

/// A proxy to reach the server through.
///
/// ```
/// let proxy = wsx::Proxy::parse("http://user:secret@127.0.0.1:3128")?;
/// assert_eq!(proxy.kind(), wsx::ProxyKind::Http);
/// let builder = wsx::ClientBuilder::new("wss://example.com/chat").proxy(proxy);
/// # let _ = builder; Ok::<(), wsx::Error>(())
/// ```
/// `Debug` never prints the password.
#[derive(Clone)]
pub struct Proxy {
    url: ProxyUrl,
    tls: TlsConnector,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("url", &self.url).finish_non_exhaustive()
    }
}

impl From<wsx_proto::proxy::InvalidProxyUrl> for Error {
    fn from(error: wsx_proto::proxy::InvalidProxyUrl) -> Self {
        Self::Proxy(ProxyError::InvalidUrl { url: error.url, reason: error.reason })
    }
}

impl Proxy {
    /// Parses `scheme://[user[:password]@]host[:port]` with scheme `http`
    /// (default port 80), `https` (443), `socks5` or `socks5h` (1080).
    /// A URL without a scheme is taken as `http://`, as curl does.
    /// Percent-escapes in the user and password are decoded.
    ///
    /// # Errors
    /// [`ProxyError::InvalidUrl`].
    pub fn parse(url: &str) -> Result<Self, Error> {
        Ok(Self::from_url(ProxyUrl::parse(url)?))
    }

    /// The proxy at `url`, with the default TLS settings for an `https://` one.
    pub fn from_url(url: ProxyUrl) -> Self {
        Self { url, tls: TlsConnector::new() }
    }

    /// The proxy for `target` from the process environment, as curl reads
    /// it: `HTTPS_PROXY` for `wss://`, `HTTP_PROXY` for `ws://`, else
    /// `ALL_PROXY` (lower-case names first); none if `NO_PROXY` matches.
    ///
    /// # Errors
    /// A variable set to an invalid proxy URL.
    pub fn from_env(target: &str) -> Result<Option<Self>, Error> {
        Ok(ProxyUrl::from_env(&WsUri::parse(target)?)?.map(Self::from_url))
    }

    /// [`from_env`](Self::from_env) with the variables looked up by `var`.
    ///
    /// # Errors
    /// A variable set to an invalid proxy URL.
    pub fn from_vars(target: &WsUri, var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, Error> {
        Ok(ProxyUrl::from_vars(target, var)?.map(Self::from_url))
    }

    /// Sets the credentials (Basic for HTTP proxies, RFC 1929 for SOCKS5).
    pub fn credentials(mut self, user: &str, password: &str) -> Self {
        self.url = self.url.with_credentials(user, password);
        self
    }

    /// TLS settings for an `https://` proxy (default: the webpki roots).
    pub fn tls(mut self, tls: TlsConnector) -> Self {
        self.tls = tls;
        self
    }

    /// The kind of proxy.
    pub fn kind(&self) -> ProxyKind {
        self.url.kind()
    }

    /// Connects to the proxy and opens a tunnel to `host:port`.
    ///
    /// RFC 6455 §4.1: "If the client is configured to use a proxy when using
    /// the WebSocket Protocol to connect to host /host/ and port /port/, then
    /// the client SHOULD connect to that proxy and ask it to open a TCP
    /// connection to the host given by /host/ and the port given by /port/."
    pub(crate) async fn tunnel(&self, host: &str, port: u16, connect_timeout: Duration) -> Result<MaybeTls, Error> {
        let tcp = tokio::time::timeout(connect_timeout, TcpStream::connect((self.url.host(), self.url.port())))
            .await
            .map_err(|_| Error::Timeout { kind: TimeoutKind::Connect, after: connect_timeout })?
            .map_err(Error::io("connecting to the proxy"))?;
        tcp.set_nodelay(true).map_err(Error::io("setting TCP_NODELAY"))?;
        match self.url.kind() {
            ProxyKind::Http => self.http_connect(MaybeTls::Plain(tcp), host, port).await,
            ProxyKind::Https => {
                let tls =
                    crate::tls::connect(&self.tls, self.url.host(), MaybeTls::Plain(tcp), crate::tls::Alpn::Http1)
                        .await?;
                self.http_connect(tls, host, port).await
            }
            ProxyKind::Socks5 => {
                let address = tokio::net::lookup_host((host, port))
                    .await
                    .map_err(Error::io("resolving the server's name"))?
                    .next()
                    .ok_or_else(|| Error::io("resolving the server's name")(std::io::ErrorKind::NotFound.into()))?;
                self.socks5(tcp, tokio_socks::TargetAddr::Ip(address)).await
            }
            ProxyKind::Socks5h => self.socks5(tcp, tokio_socks::TargetAddr::Domain(host.to_owned().into(), port)).await,
        }
    }

    async fn socks5(&self, tcp: TcpStream, target: tokio_socks::TargetAddr<'_>) -> Result<MaybeTls, Error> {
        let stream = match self.url.credentials() {
            Some((user, password)) => {
                tokio_socks::tcp::Socks5Stream::connect_with_password_and_socket(tcp, target, user, password).await
            }
            None => tokio_socks::tcp::Socks5Stream::connect_with_socket(tcp, target).await,
        }
        .map_err(ProxyError::Socks)?;
        Ok(MaybeTls::Plain(stream.into_inner()))
    }

    async fn http_connect(&self, mut io: MaybeTls, host: &str, port: u16) -> Result<MaybeTls, Error> {
        let request = self.url.connect_request(host, port);
        io.write_all(request.as_bytes()).await.map_err(Error::io("sending CONNECT to the proxy"))?;
        io.flush().await.map_err(Error::io("sending CONNECT to the proxy"))?;
        let status = read_connect_response(&mut io).await?;
        match status {
            s if s.is_success() => Ok(io),
            // 407 is the standard answer; some proxies (tinyproxy) answer
            // wrong credentials with 401, which for CONNECT can only be about
            // the proxy's own credentials: no origin server is involved yet.
            http::StatusCode::PROXY_AUTHENTICATION_REQUIRED | http::StatusCode::UNAUTHORIZED => {
                Err(ProxyError::AuthenticationRequired.into())
            }
            status => Err(ProxyError::ConnectRefused { status }.into()),
        }
    }
}

/// Reads the proxy's response head, one byte at a time so that no byte of
/// the tunnel is consumed with it, and returns its status.
async fn read_connect_response(io: &mut MaybeTls) -> Result<http::StatusCode, Error> {
    let mut head = BytesMut::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_CONNECT_RESPONSE {
            return Err(ProxyError::MalformedResponse.into());
        }
        let byte = io.read_u8().await.map_err(Error::io("reading the proxy's CONNECT response"))?;
        head.extend_from_slice(&[byte]);
    }
    connect_response_status(&head).ok_or_else(|| ProxyError::MalformedResponse.into())
}
