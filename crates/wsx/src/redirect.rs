//! Following a 3xx answer to the opening handshake (RFC 6455 §4.1: "the
//! client handles the response per HTTP procedures"; RFC 9110 §15.4 for
//! `Location`), off by default, with credentials dropped across origins
//! (the rule browsers apply to fetches, RFC 6454 for what an origin is).

use http::header::{AUTHORIZATION, COOKIE};
use wsx_proto::handshake::ClientRequest;
use wsx_proto::uri::WsUri;

/// The request to send after a redirect to `location`, or `None` when the
/// redirect must not be followed (unparsable, or `wss://` → `ws://`).
pub(crate) fn follow(request: ClientRequest, location: &str) -> Option<ClientRequest> {
    let current = request.uri().clone();
    let target = resolve(&current, location)?;
    // Never trade TLS for plain text because a server said so.
    if current.is_secure() && !target.is_secure() {
        tracing::warn!(%location, "refusing a redirect from wss:// to ws://");
        return None;
    }
    let same_origin =
        (current.is_secure(), current.host(), current.port()) == (target.is_secure(), target.host(), target.port());
    let mut next = request.with_uri(target);
    if !same_origin {
        // Credentials meant for one origin must not be handed to another.
        next.headers_mut().remove(AUTHORIZATION);
        next.headers_mut().remove(COOKIE);
    }
    Some(next)
}

/// Resolves `location` (absolute with `ws`, `wss`, `http` or `https`,
/// scheme-relative `//host/…`, absolute path `/…`, or relative path)
/// against `current`. A same-origin target keeps the URL's userinfo; any
/// other target has only the userinfo `location` gives it.
fn resolve(current: &WsUri, location: &str) -> Option<WsUri> {
    let location = location.trim();
    let scheme = current.scheme();
    if let Some((given, rest)) = location.split_once("://")
        && !given.contains('/')
    {
        let scheme = match given.to_ascii_lowercase().as_str() {
            "ws" | "http" => "ws",
            "wss" | "https" => "wss",
            _ => return None,
        };
        return WsUri::parse(&format!("{scheme}://{rest}")).ok();
    }
    if let Some(rest) = location.strip_prefix("//") {
        return WsUri::parse(&format!("{scheme}://{rest}")).ok();
    }
    let path = if location.starts_with('/') {
        location.to_owned()
    } else {
        let directory = current.path().rsplit_once('/').map_or("", |(dir, _)| dir);
        format!("{directory}/{location}")
    };
    let whole = current.to_string();
    let origin = whole.strip_suffix(current.resource_name()).unwrap_or(&whole);
    WsUri::parse(&format!("{origin}{path}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str) -> ClientRequest {
        ClientRequest::new(WsUri::parse(url).unwrap())
            .header(AUTHORIZATION, http::HeaderValue::from_static("Bearer secret"))
            .header(COOKIE, http::HeaderValue::from_static("session=1"))
    }

    #[test]
    fn resolves_every_location_form() {
        let base = WsUri::parse("ws://u:p@a.example:8080/dir/page?q=1").unwrap();
        let resolved = |l: &str| resolve(&base, l).map(|u| u.to_string());
        assert_eq!(resolved("/other").as_deref(), Some("ws://u:p@a.example:8080/other"));
        assert_eq!(resolved("next?x=2").as_deref(), Some("ws://u:p@a.example:8080/dir/next?x=2"));
        assert_eq!(resolved("https://b.example/x").as_deref(), Some("wss://b.example/x"));
        assert_eq!(resolved("http://b.example/x").as_deref(), Some("ws://b.example/x"));
        assert_eq!(resolved("//b.example/y").as_deref(), Some("ws://b.example/y"));
        assert_eq!(resolved("ftp://b.example/"), None);
    }

    #[test]
    fn credentials_stay_within_the_origin() {
        let same = follow(request("ws://a.example/x"), "/y").unwrap();
        assert_eq!(same.uri().path(), "/y");
        assert!(same.into_handshake(&mut rand::rng()).unwrap().request().headers().contains_key(AUTHORIZATION));
        let other = follow(request("ws://a.example/x"), "ws://b.example/y").unwrap();
        let headers = other.into_handshake(&mut rand::rng()).unwrap().request().headers().clone();
        assert!(!headers.contains_key(AUTHORIZATION) && !headers.contains_key(COOKIE));
        // Another port is another origin.
        let port = follow(request("ws://a.example/x"), "ws://a.example:81/x").unwrap();
        assert!(!port.into_handshake(&mut rand::rng()).unwrap().request().headers().contains_key(COOKIE));
    }

    #[test]
    fn never_downgrades_tls() {
        assert!(follow(request("wss://a.example/x"), "ws://a.example/x").is_none());
        assert!(follow(request("wss://a.example/x"), "http://a.example/x").is_none());
        assert!(follow(request("ws://a.example/x"), "wss://a.example/x").is_some());
    }
}
