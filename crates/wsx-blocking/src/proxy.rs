//! Client proxies over blocking sockets (RFC 6455 §1.1, §4.1): an HTTP
//! `CONNECT` tunnel (TLS to the proxy for `https://` proxies) or SOCKS5,
//! for `ws://` and `wss://` alike. The URLs, the environment variables and
//! the messages are [`wsx_proto::proxy`]'s; this module moves the bytes.
//!
//! Contract: [`Proxy::tunnel`] returns a stream on which the target's bytes
//! flow, having read nothing of them; TLS for `wss://` and the WebSocket
//! handshake then run inside it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};

pub use wsx_proto::proxy::ProxyKind;
use wsx_proto::proxy::socks5::{self, Socks5Error, Target};
use wsx_proto::proxy::{InvalidProxyUrl, MAX_CONNECT_RESPONSE, ProxyUrl, connect_response_status};
use wsx_proto::uri::WsUri;

use crate::error::Error;
use crate::handshake::Deadline;
use crate::tls::TlsConnector;
use crate::transport::MaybeTls;

/// Why a proxy could not give us a tunnel.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The proxy URL is not one we understand.
    #[error(transparent)]
    InvalidUrl(#[from] InvalidProxyUrl),
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
    Socks(#[from] Socks5Error),
}

/// A proxy to reach the server through.
///
/// ```
/// let proxy = wsx_blocking::Proxy::parse("socks5h://127.0.0.1:1080")?;
/// assert_eq!(proxy.kind(), wsx_blocking::ProxyKind::Socks5h);
/// let builder = wsx_blocking::ClientBuilder::new("wss://example.com/chat").proxy(proxy);
/// # let _ = builder; Ok::<(), wsx_blocking::Error>(())
/// ```
/// `Debug` never prints the password.
#[derive(Debug, Clone)]
pub struct Proxy {
    url: ProxyUrl,
    tls: TlsConnector,
}

impl Proxy {
    /// Parses `scheme://[user[:password]@]host[:port]` with scheme `http`
    /// (default port 80), `https` (443), `socks5` or `socks5h` (1080); see
    /// [`ProxyUrl::parse`].
    ///
    /// # Errors
    /// [`ProxyError::InvalidUrl`].
    pub fn parse(url: &str) -> Result<Self, Error> {
        Ok(Self::from_url(ProxyUrl::parse(url).map_err(ProxyError::from)?))
    }

    /// The proxy at `url`, with the default TLS settings for an `https://` one.
    pub fn from_url(url: ProxyUrl) -> Self {
        Self { url, tls: TlsConnector::new() }
    }

    /// The proxy for `target` from the process environment, as curl reads
    /// it (see [`ProxyUrl::from_vars`]).
    ///
    /// # Errors
    /// An invalid target URL, or a variable set to an invalid proxy URL.
    pub fn from_env(target: &str) -> Result<Option<Self>, Error> {
        let url = ProxyUrl::from_env(&WsUri::parse(target)?).map_err(ProxyError::from)?;
        Ok(url.map(Self::from_url))
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

    /// Connects to the proxy and opens a tunnel to `host:port`, within the
    /// deadline.
    ///
    /// RFC 6455 §4.1: "If the client is configured to use a proxy when using
    /// the WebSocket Protocol to connect to host /host/ and port /port/, then
    /// the client SHOULD connect to that proxy and ask it to open a TCP
    /// connection to the host given by /host/ and the port given by /port/."
    pub(crate) fn tunnel(&self, host: &str, port: u16, deadline: &Deadline) -> Result<MaybeTls, Error> {
        let tcp = connect_tcp(self.url.host(), self.url.port(), deadline, "connecting to the proxy")?;
        match self.url.kind() {
            ProxyKind::Http => self.http_connect(MaybeTls::Plain(tcp), host, port, deadline),
            ProxyKind::Https => {
                let tls = crate::tls::connect(&self.tls, self.url.host(), MaybeTls::Plain(tcp), deadline)?;
                self.http_connect(tls, host, port, deadline)
            }
            ProxyKind::Socks5 => {
                let address = resolve(host, port)?.next().ok_or_else(|| Error::Io {
                    context: "resolving the server's name",
                    source: std::io::ErrorKind::NotFound.into(),
                })?;
                self.socks5(tcp, Target::Ip(address), deadline)
            }
            ProxyKind::Socks5h => self.socks5(tcp, Target::Domain(host, port), deadline),
        }
    }

    fn http_connect(&self, mut io: MaybeTls, host: &str, port: u16, deadline: &Deadline) -> Result<MaybeTls, Error> {
        let request = self.url.connect_request(host, port);
        exchange(&mut io, request.as_bytes(), deadline, "sending CONNECT to the proxy")?;
        // One byte at a time, so that no byte of the tunnel is read with the head.
        let mut head = Vec::with_capacity(256);
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() >= MAX_CONNECT_RESPONSE {
                return Err(ProxyError::MalformedResponse.into());
            }
            let mut byte = [0_u8];
            read_exact(&mut io, &mut byte, deadline, "reading the proxy's CONNECT response")?;
            head.push(byte[0]);
        }
        match connect_response_status(&head).ok_or(ProxyError::MalformedResponse)? {
            status if status.is_success() => Ok(io),
            // 407 is the standard answer; some proxies (tinyproxy) answer
            // wrong credentials with 401, which for CONNECT can only be about
            // the proxy's own credentials.
            http::StatusCode::PROXY_AUTHENTICATION_REQUIRED | http::StatusCode::UNAUTHORIZED => {
                Err(ProxyError::AuthenticationRequired.into())
            }
            status => Err(ProxyError::ConnectRefused { status }.into()),
        }
    }

    fn socks5(&self, tcp: TcpStream, target: Target<'_>, deadline: &Deadline) -> Result<MaybeTls, Error> {
        let mut io = MaybeTls::Plain(tcp);
        let credentials = self.url.credentials();
        let context = "talking SOCKS5 with the proxy";
        exchange(&mut io, &socks5::greeting(credentials.is_some()), deadline, context)?;
        let mut reply = [0_u8; 2];
        read_exact(&mut io, &mut reply, deadline, context)?;
        if socks5::selected_method(reply, credentials.is_some()).map_err(ProxyError::from)?
            && let Some((user, password)) = credentials
        {
            let request = socks5::password_request(user, password).map_err(ProxyError::from)?;
            exchange(&mut io, &request, deadline, context)?;
            read_exact(&mut io, &mut reply, deadline, context)?;
            socks5::password_accepted(reply).map_err(ProxyError::from)?;
        }
        exchange(&mut io, &socks5::connect_request(target).map_err(ProxyError::from)?, deadline, context)?;
        let mut head = [0_u8; 5];
        read_exact(&mut io, &mut head, deadline, context)?;
        let mut rest = vec![0_u8; socks5::reply_rest(head).map_err(ProxyError::from)?];
        read_exact(&mut io, &mut rest, deadline, context)?;
        Ok(io)
    }
}

fn exchange(io: &mut MaybeTls, bytes: &[u8], deadline: &Deadline, context: &'static str) -> Result<(), Error> {
    deadline.arm(io)?;
    io.write_all(bytes).and_then(|()| io.flush()).map_err(|e| deadline.io_error(context, e))
}

fn read_exact(io: &mut MaybeTls, buf: &mut [u8], deadline: &Deadline, context: &'static str) -> Result<(), Error> {
    deadline.arm(io)?;
    io.read_exact(buf).map_err(|e| deadline.io_error(context, e))
}

fn resolve(host: &str, port: u16) -> Result<std::vec::IntoIter<SocketAddr>, Error> {
    (host, port).to_socket_addrs().map_err(Error::io("resolving the server's name"))
}

/// TCP to `host:port` within the deadline, trying each address in turn.
pub(crate) fn connect_tcp(
    host: &str,
    port: u16,
    deadline: &Deadline,
    context: &'static str,
) -> Result<TcpStream, Error> {
    let mut last = None;
    for address in resolve(host, port)? {
        match TcpStream::connect_timeout(&address, deadline.left()?) {
            Ok(tcp) => {
                // Small frames should leave at once; we coalesce writes ourselves.
                tcp.set_nodelay(true).map_err(Error::io("setting TCP_NODELAY"))?;
                return Ok(tcp);
            }
            Err(error) => last = Some(error),
        }
    }
    let source = last.unwrap_or_else(|| std::io::ErrorKind::NotFound.into());
    Err(deadline.io_error(context, source))
}
