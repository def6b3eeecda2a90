//! The server's handshake policy, one for every path a WebSocket request
//! takes (HTTP/1.1 upgrade, HTTP/2 extended CONNECT; our server, hyper,
//! axum): the Origin allow-list (RFC 6455 §10.2, §4.2.2 step 4 of
//! "/origin/"), subprotocol selection (§4.2.2, §11.3.4), and reading
//! cookies (RFC 6265 §5.4).
//!
//! Contract: [`HandshakePolicy`] is checked in one place per decision:
//! [`HandshakePolicy::check_origin`] before the application sees a request,
//! [`HandshakePolicy::choose_subprotocol`] when it accepts with the
//! defaults.

use super::ClientOffer;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode};

/// What a server decides about every WebSocket handshake before and when
/// the application accepts it: which origins may connect, which
/// subprotocols it speaks, and whether one is required. Shared by
/// every server path of the `wsx` drivers (tokio and blocking; HTTP/1.1
/// and HTTP/2, hyper and axum).
///
/// ```
/// let policy = wsx_proto::handshake::HandshakePolicy::default()
///     .allowed_origins(wsx_proto::handshake::AllowedOrigins::new(["https://app.example.com"]))
///     .subprotocols(["chat.v2", "chat.v1"])
///     .require_subprotocol(true);
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, Default)]
pub struct HandshakePolicy {
    allowed_origins: Option<AllowedOrigins>,
    subprotocols: Vec<String>,
    require_subprotocol: bool,
}

/// Why a [`HandshakePolicy`] refused a request: the response to send
/// (boxed: a whole response head, on the rare path).
pub type Refusal = Box<(Response<()>, Bytes)>;

impl HandshakePolicy {
    /// Refuses (403) handshakes from origins not in `origins`. Default: any
    /// origin — set it for any endpoint a browser reaches with cookies, or
    /// cross-site WebSocket hijacking is possible.
    pub fn allowed_origins(mut self, origins: AllowedOrigins) -> Self {
        self.allowed_origins = Some(origins);
        self
    }

    /// The subprotocols spoken here, in the server's order; accepting with
    /// the defaults selects the first of the client's list found here
    /// (RFC 6455 §4.2.2). Default: none.
    pub fn subprotocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subprotocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Refuses (400) a client that offers none of the
    /// [`subprotocols`](Self::subprotocols), instead of connecting without
    /// one. Default `false`.
    pub fn require_subprotocol(mut self, require: bool) -> Self {
        self.require_subprotocol = require;
        self
    }

    /// The subprotocols spoken here.
    pub fn supported_subprotocols(&self) -> &[String] {
        &self.subprotocols
    }

    /// The 403 for an offer whose `Origin` is not allowed.
    pub fn check_origin(&self, offer: &ClientOffer) -> Result<(), Refusal> {
        match &self.allowed_origins {
            Some(allowed) if !allowed.allows(offer.origin.as_ref()) => Err(forbidden_origin()),
            _ => Ok(()),
        }
    }

    /// The subprotocol to accept `offer` with, or the 400 when one is
    /// required and none is shared.
    pub fn choose_subprotocol<'a>(&self, offer: &'a ClientOffer) -> Result<Option<&'a str>, Refusal> {
        match select_subprotocol(&offer.subprotocols, &self.subprotocols) {
            Some(protocol) => Ok(Some(protocol)),
            None if self.require_subprotocol => {
                let mut response = Response::new(());
                *response.status_mut() = StatusCode::BAD_REQUEST;
                let body = format!("no supported subprotocol; this server speaks: {}\n", self.subprotocols.join(", "));
                Err(Box::new((response, Bytes::from(body))))
            }
            None => Ok(None),
        }
    }
}

/// The origins allowed to open WebSockets here: the defence against
/// cross-site WebSocket hijacking.
///
/// A browser attaches the victim's cookies to a WebSocket handshake that a
/// page on *any* site starts, and the same-origin policy does not apply to
/// WebSockets; without this check, `evil.example` could open a socket to
/// your server as the logged-in user and read their data. Browsers always
/// send `Origin` and scripts cannot forge it, so refusing unknown origins
/// stops the attack.
///
/// RFC 6455 §10.2: "If the origin indicated is unacceptable to the server,
/// then it SHOULD respond to the WebSocket handshake with a reply containing
/// HTTP 403 Forbidden status code."
///
/// Origins compare as ASCII case-insensitive serialisations
/// (`scheme://host[:port]`, a trailing `/` and a default port ignored). A request without
/// `Origin` (a non-browser client, which carries no ambient cookies of a
/// victim) is allowed unless [`require_origin`](Self::require_origin) is set.
///
/// ```
/// let origins = wsx_proto::handshake::AllowedOrigins::new(["https://app.example.com"]);
/// let policy = wsx_proto::handshake::HandshakePolicy::default().allowed_origins(origins);
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigins {
    origins: Vec<String>,
    require_origin: bool,
}

impl AllowedOrigins {
    /// Allows exactly these origins.
    pub fn new<I, S>(origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self { origins: origins.into_iter().map(|o| normalise(o.as_ref())).collect(), require_origin: false }
    }

    /// Also refuses requests that carry no `Origin` header. Default `false`.
    pub fn require_origin(mut self, require: bool) -> Self {
        self.require_origin = require;
        self
    }

    /// Whether a request with this `Origin` header value is allowed.
    pub fn allows(&self, origin: Option<&HeaderValue>) -> bool {
        match origin {
            None => !self.require_origin,
            Some(value) => {
                value.to_str().is_ok_and(|origin| self.origins.iter().any(|allowed| *allowed == normalise(origin)))
            }
        }
    }
}

/// The ASCII serialisation of an origin as browsers send it (RFC 6454
/// §6.2): lower case, no trailing `/`, no default port.
fn normalise(origin: &str) -> String {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    for (scheme, port) in [("https://", ":443"), ("http://", ":80"), ("wss://", ":443"), ("ws://", ":80")] {
        if origin.starts_with(scheme)
            && let Some(bare) = origin.strip_suffix(port)
        {
            return bare.to_owned();
        }
    }
    origin
}

/// The 403 answer to a refused origin.
fn forbidden_origin() -> Refusal {
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::FORBIDDEN;
    response.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Box::new((response, Bytes::from_static(b"origin not allowed\n")))
}

/// The first subprotocol in the client's list (its order of preference)
/// that the server supports, or `None` — in which case RFC 6455 §4.2.2 lets
/// the server accept without one ("the server MUST NOT send back a
/// |Sec-WebSocket-Protocol| header field in its response" if none is
/// chosen) or refuse.
///
/// ```
/// let offered = vec!["v3".to_owned(), "v2".to_owned()];
/// assert_eq!(wsx_proto::handshake::select_subprotocol(&offered, &["v1", "v2"]), Some("v2"));
/// assert_eq!(wsx_proto::handshake::select_subprotocol(&offered, &["v1"]), None);
/// ```
pub fn select_subprotocol<'a, S: AsRef<str>>(offered: &'a [String], supported: &[S]) -> Option<&'a str> {
    offered.iter().map(String::as_str).find(|protocol| supported.iter().any(|s| s.as_ref() == *protocol))
}

/// The value of cookie `name` in the request's `Cookie` headers
/// (RFC 6265 §5.4: `name=value` pairs separated by `; `), as sent.
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// headers.insert("cookie", "theme=dark; session=abc123".parse().unwrap());
/// assert_eq!(wsx_proto::handshake::cookie(&headers, "session"), Some("abc123"));
/// assert_eq!(wsx_proto::handshake::cookie(&headers, "missing"), None);
/// ```
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| key.trim() == name)
        .map(|(_, value)| value.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_normalised() {
        let allowed = AllowedOrigins::new(["https://App.example.com/", "http://localhost:8080"]);
        let allows = |o: &'static str| allowed.allows(Some(&HeaderValue::from_static(o)));
        assert!(allows("https://app.example.com"));
        assert!(allows("HTTPS://APP.EXAMPLE.COM"));
        assert!(allows("http://localhost:8080"));
        assert!(!allows("http://localhost:8081"));
        assert!(!allows("https://app.example.com.evil.example"));
        assert!(!allows("null"));
        // Default ports are not part of the serialisation.
        assert!(
            AllowedOrigins::new(["https://a.example:443"]).allows(Some(&HeaderValue::from_static("https://a.example")))
        );
        assert!(
            AllowedOrigins::new(["http://a.example"]).allows(Some(&HeaderValue::from_static("http://a.example:80")))
        );
        assert!(
            !AllowedOrigins::new(["http://a.example:443"]).allows(Some(&HeaderValue::from_static("http://a.example")))
        );
        assert!(allowed.allows(None));
        assert!(!allowed.clone().require_origin(true).allows(None));
    }

    #[test]
    fn cookies_by_name() {
        let mut headers = HeaderMap::new();
        headers.append(http::header::COOKIE, HeaderValue::from_static("a=1; b=2"));
        headers.append(http::header::COOKIE, HeaderValue::from_static("c = 3;d=x=y"));
        assert_eq!(cookie(&headers, "a"), Some("1"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "c"), Some("3"));
        assert_eq!(cookie(&headers, "d"), Some("x=y"));
        assert_eq!(cookie(&headers, "e"), None);
    }
}
