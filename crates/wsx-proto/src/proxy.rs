//! Client proxies (RFC 6455 §1.1, §4.1), without I/O: proxy URLs and the
//! conventional environment variables (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY`, `NO_PROXY`), the HTTP `CONNECT` request (RFC 9110 §9.3.6;
//! Basic credentials, RFC 7617) and its answer, and the SOCKS5 messages
//! (RFC 1928; username/password, RFC 1929). The drivers open the sockets.
//!
//! Contract: a [`ProxyUrl`] never shows its password in `Debug`; every
//! answer of a proxy is checked before anything of the tunnel is used.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::percent_decode_str;

use crate::uri::WsUri;

/// Largest `CONNECT` response head a client reads.
pub const MAX_CONNECT_RESPONSE: usize = 16 * 1024;

/// The kind of proxy, from its URL scheme (exhaustive: the drivers match
/// on it, and a new kind is a new way to open a tunnel).
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

/// A proxy URL that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid proxy URL {url:?}: {reason}")]
pub struct InvalidProxyUrl {
    /// The URL given.
    pub url: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Where a proxy is and how to talk to it: `scheme://[user[:password]@]host[:port]`.
///
/// ```
/// use wsx_proto::proxy::{ProxyKind, ProxyUrl};
/// let proxy = ProxyUrl::parse("socks5h://user:secret@127.0.0.1")?;
/// assert_eq!((proxy.kind(), proxy.host(), proxy.port()), (ProxyKind::Socks5h, "127.0.0.1", 1080));
/// assert!(!format!("{proxy:?}").contains("secret"));
/// # Ok::<(), wsx_proto::proxy::InvalidProxyUrl>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    kind: ProxyKind,
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
}

impl std::fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyUrl")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .finish_non_exhaustive()
    }
}

impl ProxyUrl {
    /// Parses `scheme://[user[:password]@]host[:port]` with scheme `http`
    /// (default port 80), `https` (443), `socks5` or `socks5h` (1080).
    /// A URL without a scheme is taken as `http://`, as curl does.
    /// Percent-escapes in the user and password are decoded.
    ///
    /// # Errors
    /// [`InvalidProxyUrl`].
    pub fn parse(url: &str) -> Result<Self, InvalidProxyUrl> {
        let invalid = |reason| InvalidProxyUrl { url: url.to_owned(), reason };
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
        Ok(Self { kind, host, port: parsed.port_u16().unwrap_or(default_port), credentials })
    }

    /// The proxy for `target` from the process environment, as curl reads
    /// it: `HTTPS_PROXY` for `wss://`, `HTTP_PROXY` for `ws://`, else
    /// `ALL_PROXY` (lower-case names first); none if `NO_PROXY` matches.
    ///
    /// # Errors
    /// A variable set to an invalid proxy URL.
    pub fn from_env(target: &WsUri) -> Result<Option<Self>, InvalidProxyUrl> {
        Self::from_vars(target, |name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables looked up by `var`.
    ///
    /// # Errors
    /// A variable set to an invalid proxy URL.
    pub fn from_vars(target: &WsUri, var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, InvalidProxyUrl> {
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
    pub fn with_credentials(mut self, user: &str, password: &str) -> Self {
        self.credentials = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// The kind of proxy.
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// The proxy's host name or address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user and password, if any.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials.as_ref().map(|(user, password)| (user.as_str(), password.as_str()))
    }

    /// The `CONNECT` request head for a tunnel to `host:port`.
    ///
    /// ```
    /// let proxy = wsx_proto::proxy::ProxyUrl::parse("http://a:b@proxy:3128")?;
    /// assert_eq!(
    ///     proxy.connect_request("::1", 443),
    ///     "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\nProxy-Authorization: Basic YTpi\r\n\r\n"
    /// );
    /// # Ok::<(), wsx_proto::proxy::InvalidProxyUrl>(())
    /// ```
    pub fn connect_request(&self, host: &str, port: u16) -> String {
        // RFC 9110 §9.3.6: the request target of CONNECT is `host:port`.
        let authority = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
        if let Some((user, password)) = &self.credentials {
            let token = STANDARD.encode(format!("{user}:{password}"));
            request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
        }
        request.push_str("\r\n");
        request
    }
}

/// The status of a complete `CONNECT` response head (ending in a blank
/// line); `None` if it is not valid HTTP.
pub fn connect_response_status(head: &[u8]) -> Option<http::StatusCode> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(head) {
        Ok(httparse::Status::Complete(_)) => response.code.and_then(|code| http::StatusCode::from_u16(code).ok()),
        _ => None,
    }
}

/// Whether `NO_PROXY` exempts `host:port`: `*` exempts all; each entry is a
/// host name (matching itself and its subdomains, a leading `.` allowed), an
/// IP address, optionally with `:port`; case is ignored.
pub fn no_proxy_matches(no_proxy: &str, host: &str, port: u16) -> bool {
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

/// The SOCKS5 messages of a client (RFC 1928; username/password
/// authentication, RFC 1929), without I/O: a driver writes each request
/// and reads each reply with the lengths given here.
pub mod socks5 {
    use std::net::SocketAddr;

    /// RFC 1928 §3: "no authentication required".
    const NO_AUTH: u8 = 0x00;
    /// RFC 1928 §3: "USERNAME/PASSWORD".
    const PASSWORD: u8 = 0x02;

    /// Where the proxy should connect.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Target<'a> {
        /// An address resolved by the client (`socks5://`).
        Ip(SocketAddr),
        /// A name the proxy resolves (`socks5h://`).
        Domain(&'a str, u16),
    }

    /// Why a SOCKS5 proxy gave no tunnel.
    #[non_exhaustive]
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    pub enum Socks5Error {
        /// The proxy does not speak SOCKS5 or sent a malformed reply.
        #[error("malformed SOCKS5 reply")]
        Malformed,
        /// The proxy accepts none of the methods offered (credentials
        /// needed, or not supported).
        #[error("the proxy accepts no offered authentication method")]
        NoAcceptableMethod,
        /// The proxy refused the user name and password.
        #[error("the proxy refused the credentials")]
        AuthenticationFailed,
        /// A user name, password or host name longer than 255 bytes.
        #[error("a user name, password or host name is longer than 255 bytes")]
        TooLong,
        /// The proxy refused the connection (RFC 1928 §6 reply code).
        #[error("the proxy refused the connection: {}", reply_text(*.0))]
        Refused(u8),
    }

    fn reply_text(code: u8) -> &'static str {
        match code {
            1 => "general SOCKS server failure",
            2 => "connection not allowed by ruleset",
            3 => "network unreachable",
            4 => "host unreachable",
            5 => "connection refused",
            6 => "TTL expired",
            7 => "command not supported",
            8 => "address type not supported",
            _ => "unassigned reply code",
        }
    }

    /// The method-selection message: no authentication, and
    /// username/password when credentials are set. Its reply is 2 bytes.
    pub fn greeting(with_password: bool) -> Vec<u8> {
        if with_password { vec![5, 2, NO_AUTH, PASSWORD] } else { vec![5, 1, NO_AUTH] }
    }

    /// Checks the method the proxy selected; `Ok(true)` when it asks for
    /// username/password authentication.
    ///
    /// # Errors
    /// [`Socks5Error::Malformed`], [`Socks5Error::NoAcceptableMethod`].
    pub fn selected_method(reply: [u8; 2], with_password: bool) -> Result<bool, Socks5Error> {
        match reply {
            [5, NO_AUTH] => Ok(false),
            [5, PASSWORD] if with_password => Ok(true),
            [5, _] => Err(Socks5Error::NoAcceptableMethod),
            _ => Err(Socks5Error::Malformed),
        }
    }

    /// The username/password request (RFC 1929 §2). Its reply is 2 bytes.
    ///
    /// # Errors
    /// [`Socks5Error::TooLong`].
    pub fn password_request(user: &str, password: &str) -> Result<Vec<u8>, Socks5Error> {
        let user_len = u8::try_from(user.len()).map_err(|_| Socks5Error::TooLong)?;
        let password_len = u8::try_from(password.len()).map_err(|_| Socks5Error::TooLong)?;
        let mut request = vec![1, user_len];
        request.extend_from_slice(user.as_bytes());
        request.push(password_len);
        request.extend_from_slice(password.as_bytes());
        Ok(request)
    }

    /// Checks the reply to the username/password request.
    ///
    /// # Errors
    /// [`Socks5Error::AuthenticationFailed`].
    pub fn password_accepted(reply: [u8; 2]) -> Result<(), Socks5Error> {
        // RFC 1929 §2: "A STATUS field of X'00' indicates success."
        if reply[1] == 0 { Ok(()) } else { Err(Socks5Error::AuthenticationFailed) }
    }

    /// The CONNECT request for `target`. Its reply starts with 5 bytes; see
    /// [`reply_rest`].
    ///
    /// # Errors
    /// [`Socks5Error::TooLong`] for a host name over 255 bytes.
    pub fn connect_request(target: Target<'_>) -> Result<Vec<u8>, Socks5Error> {
        let mut request = vec![5, 1, 0];
        let port = match target {
            Target::Ip(SocketAddr::V4(address)) => {
                request.push(1);
                request.extend_from_slice(&address.ip().octets());
                address.port()
            }
            Target::Ip(SocketAddr::V6(address)) => {
                request.push(4);
                request.extend_from_slice(&address.ip().octets());
                address.port()
            }
            Target::Domain(name, port) => {
                request.push(3);
                request.push(u8::try_from(name.len()).map_err(|_| Socks5Error::TooLong)?);
                request.extend_from_slice(name.as_bytes());
                port
            }
        };
        request.extend_from_slice(&port.to_be_bytes());
        Ok(request)
    }

    /// Checks the first 5 bytes of the CONNECT reply and says how many more
    /// belong to it (the rest of the bound address and the port).
    ///
    /// ```
    /// use wsx_proto::proxy::socks5::reply_rest;
    /// assert_eq!(reply_rest([5, 0, 0, 1, 127]), Ok(3 + 2));
    /// assert_eq!(reply_rest([5, 0, 0, 3, 9]), Ok(9 + 2));
    /// assert!(reply_rest([5, 5, 0, 1, 0]).is_err());
    /// ```
    ///
    /// # Errors
    /// [`Socks5Error::Refused`] for a reply code other than success,
    /// [`Socks5Error::Malformed`].
    pub fn reply_rest(head: [u8; 5]) -> Result<usize, Socks5Error> {
        match head {
            [5, 0, _, 1, _] => Ok(3 + 2),
            [5, 0, _, 4, _] => Ok(15 + 2),
            [5, 0, _, 3, len] => Ok(usize::from(len) + 2),
            [5, 0, ..] => Err(Socks5Error::Malformed),
            [5, code, ..] => Err(Socks5Error::Refused(code)),
            _ => Err(Socks5Error::Malformed),
        }
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
        let p = ProxyUrl::parse("http://us%40er:p%3Ass@127.0.0.1:3128").unwrap();
        assert_eq!((p.kind, p.host.as_str(), p.port), (ProxyKind::Http, "127.0.0.1", 3128));
        assert_eq!(p.credentials, Some(("us@er".to_owned(), "p:ss".to_owned())));
        assert!(!format!("{p:?}").contains("p:ss"), "Debug shows the password");
        let p = ProxyUrl::parse("socks5h://[::1]").unwrap();
        assert_eq!((p.kind, p.host.as_str(), p.port, p.credentials), (ProxyKind::Socks5h, "::1", 1080, None));
        assert_eq!(ProxyUrl::parse("proxy.example:8080").unwrap().kind, ProxyKind::Http);
        assert_eq!(ProxyUrl::parse("https://proxy.example/").unwrap().port, 443);
        assert!(matches!(ProxyUrl::parse("ftp://x"), Err(InvalidProxyUrl { .. })));
        assert!(matches!(ProxyUrl::parse("http://:80"), Err(InvalidProxyUrl { .. })));
    }

    #[test]
    fn environment_picks_by_scheme_and_honours_no_proxy() {
        let ws = WsUri::parse("ws://api.example.com:8080/x").unwrap();
        let wss = WsUri::parse("wss://api.example.com/x").unwrap();
        let env = vars(&[("HTTP_PROXY", "http://p1:1"), ("https_proxy", "http://p2:2"), ("ALL_PROXY", "socks5h://p3")]);
        assert_eq!(ProxyUrl::from_vars(&ws, &env).unwrap().unwrap().host, "p1");
        assert_eq!(ProxyUrl::from_vars(&wss, &env).unwrap().unwrap().host, "p2");
        let all = vars(&[("all_proxy", "socks5h://p3")]);
        assert_eq!(ProxyUrl::from_vars(&ws, &all).unwrap().unwrap().kind, ProxyKind::Socks5h);
        let lower_first = vars(&[("http_proxy", "http://lower:1"), ("HTTP_PROXY", "http://upper:1")]);
        assert_eq!(ProxyUrl::from_vars(&ws, &lower_first).unwrap().unwrap().host, "lower");
        let exempt = vars(&[("HTTP_PROXY", "http://p1:1"), ("no_proxy", "localhost, .example.com")]);
        assert!(ProxyUrl::from_vars(&ws, &exempt).unwrap().is_none());
        assert!(ProxyUrl::from_vars(&ws, vars(&[])).unwrap().is_none());
        assert!(ProxyUrl::from_vars(&ws, vars(&[("HTTP_PROXY", "gopher://x")])).is_err());
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
