//! Client proxies (RFC 6455 §1.1, §4.1): an HTTP `CONNECT` tunnel
//! (RFC 9110 §9.3.6; Basic credentials, RFC 7617; TLS to the proxy for
//! `https://` proxies) or SOCKS5 (RFC 1928; username/password, RFC 1929),
//! for `ws://` and `wss://` alike, plus the conventional environment
//! variables (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`).
//!
//! Contract: [`Proxy::tunnel`] returns a stream on which the target's bytes
//! flow; TLS for `wss://` and the WebSocket handshake then run inside it.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::BytesMut;
use percent_encoding::percent_decode_str;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsx_proto::uri::WsUri;

use crate::error::{Error, TimeoutKind};
use crate::tls::TlsConnector;
use crate::transport::MaybeTls;

/// Largest `CONNECT` response head we read.
const MAX_CONNECT_RESPONSE: usize = 16 * 1024;

/// The kind of proxy, from its URL scheme.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// `http://`: an HTTP proxy, `CONNECT` over plain TCP.
    Http,
    /// `https://`: an HTTP proxy reached over TLS.
    Https,
    /// `socks5://`: SOCKS5, the target's name resolved by us.
    Socks5,
    /// `socks5h://`: SOCKS5, the target's name resolved by the proxy.
    Socks5h,
}

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
    kind: ProxyKind,
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
    tls: TlsConnector,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .finish_non_exhaustive()
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
        let invalid = |reason| Error::Proxy(ProxyError::InvalidUrl { url: url.to_owned(), reason });
        let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
        let (kind, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "http" => (ProxyKind::Http, 80),
            "https" => (ProxyKind::Https, 443),
            "socks5" => (ProxyKind::Socks5, 1080),
            "socks5h" => (ProxyKind::Socks5h, 1080),
            _ => return Err(invalid("the scheme must be http, https, socks5 or socks5h")),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let parsed: http::uri::Authority = hostport.parse().map_err(|_| invalid("bad host or port"))?;
        let host = parsed.host().trim_start_matches('[').trim_end_matches(']').to_owned();
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let decode = |s: &str| percent_decode_str(s).decode_utf8().map(|s| s.into_owned());
        let credentials = match userinfo {
            Some(userinfo) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                Some((
                    decode(user).map_err(|_| invalid("user is not UTF-8"))?,
                    decode(password).map_err(|_| invalid("password is not UTF-8"))?,
                ))
            }
            None => None,
        };
        Ok(Self { kind, host, port: parsed.port_u16().unwrap_or(default_port), credentials, tls: TlsConnector::new() })
    }

    /// The proxy for `target` from the process environment, as curl reads
    /// it: `HTTPS_PROXY` for `wss://`, `HTTP_PROXY` for `ws://`, else
    /// `ALL_PROXY` (lower-case names first); none if `NO_PROXY` matches.
    ///
    /// # Errors
    /// A variable set to an invalid proxy URL.
    pub fn from_env(target: &str) -> Result<Option<Self>, Error> {
        let uri = WsUri::parse(target)?;
        Self::from_vars(&uri, |name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables looked up by `var`.
    ///
    /// # Errors
    /// A variable set to an invalid proxy URL.
    pub fn from_vars(target: &WsUri, var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, Error> {
        let lookup =
            |name: &str| var(&name.to_ascii_lowercase()).or_else(|| var(name)).filter(|value| !value.trim().is_empty());
        if let Some(no_proxy) = lookup("NO_PROXY")
            && no_proxy_matches(&no_proxy, target.host(), target.port())
        {
            return Ok(None);
        }
        let specific = if target.is_secure() { lookup("HTTPS_PROXY") } else { lookup("HTTP_PROXY") };
        specific.or_else(|| lookup("ALL_PROXY")).map(|url| Self::parse(url.trim())).transpose()
    }

    /// Sets the credentials (Basic for HTTP proxies, RFC 1929 for SOCKS5).
    pub fn credentials(mut self, user: &str, password: &str) -> Self {
        self.credentials = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// TLS settings for an `https://` proxy (default: the webpki roots).
    pub fn tls(mut self, tls: TlsConnector) -> Self {
        self.tls = tls;
        self
    }

    /// The kind of proxy.
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// Connects to the proxy and opens a tunnel to `host:port`.
    ///
    /// RFC 6455 §4.1: "If the client is configured to use a proxy when using
    /// the WebSocket Protocol to connect to host /host/ and port /port/, then
    /// the client SHOULD connect to that proxy and ask it to open a TCP
    /// connection to the host given by /host/ and the port given by /port/."
    pub(crate) async fn tunnel(&self, host: &str, port: u16, connect_timeout: Duration) -> Result<MaybeTls, Error> {
        let tcp = tokio::time::timeout(connect_timeout, TcpStream::connect((self.host.as_str(), self.port)))
            .await
            .map_err(|_| Error::Timeout { kind: TimeoutKind::Connect, after: connect_timeout })?
            .map_err(Error::io("connecting to the proxy"))?;
        tcp.set_nodelay(true).map_err(Error::io("setting TCP_NODELAY"))?;
        match self.kind {
            ProxyKind::Http => self.http_connect(MaybeTls::Plain(tcp), host, port).await,
            ProxyKind::Https => {
                let tls = crate::tls::connect(&self.tls, &self.host, MaybeTls::Plain(tcp), crate::tls::Alpn::Http1).await?;
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
        let stream = match &self.credentials {
            Some((user, password)) => {
                tokio_socks::tcp::Socks5Stream::connect_with_password_and_socket(tcp, target, user, password).await
            }
            None => tokio_socks::tcp::Socks5Stream::connect_with_socket(tcp, target).await,
        }
        .map_err(ProxyError::Socks)?;
        Ok(MaybeTls::Plain(stream.into_inner()))
    }

    async fn http_connect(&self, mut io: MaybeTls, host: &str, port: u16) -> Result<MaybeTls, Error> {
        // RFC 9110 §9.3.6: the request target of CONNECT is `host:port`.
        let authority = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
        if let Some((user, password)) = &self.credentials {
            let token = STANDARD.encode(format!("{user}:{password}"));
            request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
        }
        request.push_str("\r\n");
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
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return Err(ProxyError::MalformedResponse.into()),
    }
    response
        .code
        .and_then(|code| http::StatusCode::from_u16(code).ok())
        .ok_or_else(|| ProxyError::MalformedResponse.into())
}

/// Whether `NO_PROXY` exempts `host:port`: `*` exempts all; each entry is a
/// host name (matching itself and its subdomains, a leading `.` allowed), an
/// IP address, optionally with `:port`; case is ignored.
pub(crate) fn no_proxy_matches(no_proxy: &str, host: &str, port: u16) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    no_proxy.split(',').map(str::trim).filter(|entry| !entry.is_empty()).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = entry.to_ascii_lowercase();
        let (name, entry_port) = split_port(&entry);
        if entry_port.is_some_and(|p| p != port) {
            return false;
        }
        let name = name.trim_start_matches("*.").trim_start_matches('.');
        host == name || host.strip_suffix(name).is_some_and(|prefix| prefix.ends_with('.'))
    })
}

fn split_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(rest) = entry.strip_prefix('[') {
        // [v6]:port or [v6]
        let (address, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (address, after.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match entry.rsplit_once(':') {
        // One colon: host:port. More: a bare IPv6 address.
        Some((name, port)) if !name.contains(':') => (name, port.parse().ok()),
        _ => (entry, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn parses_proxy_urls() {
        let p = Proxy::parse("http://us%40er:p%3Ass@127.0.0.1:3128").unwrap();
        assert_eq!((p.kind, p.host.as_str(), p.port), (ProxyKind::Http, "127.0.0.1", 3128));
        assert_eq!(p.credentials, Some(("us@er".to_owned(), "p:ss".to_owned())));
        assert!(!format!("{p:?}").contains("p:ss"), "Debug shows the password");
        let p = Proxy::parse("socks5h://[::1]").unwrap();
        assert_eq!((p.kind, p.host.as_str(), p.port, p.credentials), (ProxyKind::Socks5h, "::1", 1080, None));
        assert_eq!(Proxy::parse("proxy.example:8080").unwrap().kind, ProxyKind::Http);
        assert_eq!(Proxy::parse("https://proxy.example/").unwrap().port, 443);
        assert!(matches!(Proxy::parse("ftp://x"), Err(Error::Proxy(ProxyError::InvalidUrl { .. }))));
        assert!(matches!(Proxy::parse("http://:80"), Err(Error::Proxy(ProxyError::InvalidUrl { .. }))));
    }

    #[test]
    fn environment_picks_by_scheme_and_honours_no_proxy() {
        let ws = WsUri::parse("ws://api.example.com:8080/x").unwrap();
        let wss = WsUri::parse("wss://api.example.com/x").unwrap();
        let env = vars(&[("HTTP_PROXY", "http://p1:1"), ("https_proxy", "http://p2:2"), ("ALL_PROXY", "socks5h://p3")]);
        assert_eq!(Proxy::from_vars(&ws, &env).unwrap().unwrap().host, "p1");
        assert_eq!(Proxy::from_vars(&wss, &env).unwrap().unwrap().host, "p2");
        let all = vars(&[("all_proxy", "socks5h://p3")]);
        assert_eq!(Proxy::from_vars(&ws, &all).unwrap().unwrap().kind, ProxyKind::Socks5h);
        let lower_first = vars(&[("http_proxy", "http://lower:1"), ("HTTP_PROXY", "http://upper:1")]);
        assert_eq!(Proxy::from_vars(&ws, &lower_first).unwrap().unwrap().host, "lower");
        let exempt = vars(&[("HTTP_PROXY", "http://p1:1"), ("no_proxy", "localhost, .example.com")]);
        assert!(Proxy::from_vars(&ws, &exempt).unwrap().is_none());
        assert!(Proxy::from_vars(&ws, vars(&[])).unwrap().is_none());
        assert!(Proxy::from_vars(&ws, vars(&[("HTTP_PROXY", "gopher://x")])).is_err());
    }

    #[test]
    fn no_proxy_entries() {
        assert!(no_proxy_matches("*", "anything", 1));
        assert!(no_proxy_matches("example.com", "example.com", 80));
        assert!(no_proxy_matches("example.com", "a.b.example.com", 80));
        assert!(no_proxy_matches(".example.com", "a.example.com", 80));
        assert!(no_proxy_matches("EXAMPLE.com", "Example.COM", 80));
        assert!(!no_proxy_matches("example.com", "badexample.com", 80));
        assert!(no_proxy_matches("example.com:8080", "example.com", 8080));
        assert!(!no_proxy_matches("example.com:8080", "example.com", 80));
        assert!(no_proxy_matches("127.0.0.1", "127.0.0.1", 9));
        assert!(no_proxy_matches("::1", "::1", 9));
        assert!(no_proxy_matches("[::1]:9", "[::1]", 9));
        assert!(!no_proxy_matches("", "example.com", 80));
    }
}
