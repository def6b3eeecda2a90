//! WebSocket URIs: `ws://` and `wss://` (RFC 6455 §3, with the generic syntax
//! of RFC 3986 §3).
//!
//! Contract: [`WsUri::parse`] accepts only the two WebSocket schemes and an
//! ASCII URI without whitespace, control characters or a fragment, and hands
//! back the pieces the opening handshake needs: the secure flag, `/host/`,
//! `/port/` and `/resource name/` (§3), plus the `Host` header value (§4.1) and
//! the `host:port` to open a TCP connection to.
//!
//! ```
//! use wsx_proto::uri::WsUri;
//!
//! let uri: WsUri = "wss://Example.COM/chat?room=1".parse()?;
//! assert!(uri.is_secure());
//! assert_eq!(uri.host(), "example.com");
//! assert_eq!(uri.port(), 443);
//! assert_eq!(uri.resource_name(), "/chat?room=1");
//! assert_eq!(uri.host_header(), "example.com");
//! assert_eq!(uri.authority_for_connect(), "example.com:443");
//! assert_eq!(uri.to_string(), "wss://example.com/chat?room=1");
//! # Ok::<(), wsx_proto::uri::UriError>(())
//! ```

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// Why a string is not a usable WebSocket URI.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// The scheme is neither `ws` nor `wss` (it is carried, lower-cased).
    #[error("unsupported URI scheme {0:?}: expected \"ws\" or \"wss\"")]
    UnsupportedScheme(String),
    /// The authority has no host (`ws:///path`, `ws://:80`).
    #[error("URI has no host")]
    MissingHost,
    /// The host is neither a registered name, an IPv4 address nor a
    /// bracketed IPv6 address.
    #[error("URI host is invalid")]
    InvalidHost,
    /// The port is not a decimal number in `1..=65535`.
    #[error("URI port is not a number in 1..=65535")]
    InvalidPort,
    /// The userinfo (`user:password@`) contains a character RFC 3986 does
    /// not allow there, or the authority contains more than one `@`.
    #[error("URI userinfo is invalid")]
    InvalidUserinfo,
    /// The URI has a `#fragment`, which RFC 6455 §3 forbids.
    #[error("WebSocket URIs must not contain a fragment")]
    Fragment,
    /// A character that may not appear at this place: whitespace, a control
    /// character, a non-ASCII character, or a character outside the RFC 3986
    /// grammar of the component (including a `%` not followed by two hex
    /// digits).
    #[error("invalid character {character:?} at byte {index}")]
    InvalidCharacter {
        /// The offending character.
        character: char,
        /// Its byte offset in the input.
        index: usize,
    },
    /// The string does not have the `scheme://authority` shape.
    #[error("malformed URI: expected scheme://host[:port][/path][?query]")]
    Malformed,
}

/// A parsed `ws://` or `wss://` URI (RFC 6455 §3).
///
/// The scheme and a registered-name host are lower-cased; an IPv6 host is
/// stored in its canonical text form (RFC 5952). Equality compares these
/// normalised parts, so `ws://H:80` equals `ws://h/`.
///
/// `Debug` never prints the password.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct WsUri {
    secure: bool,
    host: String,
    ipv6: bool,
    port: u16,
    username: Option<String>,
    password: Option<String>,
    /// `/resource name/`: path (at least "/") then `?query` if the query is
    /// non-empty.
    resource: String,
}

impl WsUri {
    /// Parses a WebSocket URI. See the [module docs](self) for an example.
    ///
    /// # Errors
    /// A [`UriError`] naming the first problem found.
    pub fn parse(input: &str) -> Result<WsUri, UriError> {
        // Whitespace, control and non-ASCII characters are never part of a URI
        // (RFC 3986 §2); refusing them up front also stops header injection
        // through the Host header or the request line.
        if let Some((index, character)) =
            input.char_indices().find(|&(_, c)| !c.is_ascii() || c.is_ascii_control() || c == ' ')
        {
            return Err(UriError::InvalidCharacter { character, index });
        }
        let (scheme, rest) = input.split_once("://").ok_or(UriError::Malformed)?;
        let secure = parse_scheme(scheme)?;
        let offset = scheme.len() + 3;
        // RFC 6455 §3: "Fragment identifiers are meaningless in the context of
        // WebSocket URIs and MUST NOT be used on these URIs."
        if rest.contains('#') {
            return Err(UriError::Fragment);
        }
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(authority_end);
        let (userinfo, hostport) = match authority.split_once('@') {
            Some((_, hostport)) if hostport.contains('@') => {
                return Err(UriError::InvalidUserinfo);
            }
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            Some(info) => parse_userinfo(info)?,
            None => (None, None),
        };
        let (host, ipv6, port) = parse_hostport(hostport)?;
        let default_port = if secure { 443 } else { 80 };
        let resource = parse_resource(path_and_query, offset + authority.len())?;
        Ok(WsUri { secure, host, ipv6, port: port.unwrap_or(default_port), username, password, resource })
    }

    /// `true` for `wss` (RFC 6455 §3: the "secure flag").
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The scheme, lower-cased: `"ws"` or `"wss"`.
    pub fn scheme(&self) -> &'static str {
        if self.secure { "wss" } else { "ws" }
    }

    /// The host: a lower-cased registered name, an IPv4 address, or an IPv6
    /// address **without** brackets (`"::1"`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `true` if the host is an IPv6 literal.
    pub fn is_ipv6(&self) -> bool {
        self.ipv6
    }

    /// The port: the explicit one, else 80 for `ws` and 443 for `wss`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The default port of this URI's scheme (80 or 443).
    pub fn default_port(&self) -> u16 {
        if self.secure { 443 } else { 80 }
    }

    /// The userinfo's user name, raw (not percent-decoded).
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The userinfo's password (after the first `:`), raw (not
    /// percent-decoded).
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The `/resource name/` of RFC 6455 §3: the path (`"/"` if empty),
    /// then `"?"` and the query if the query is non-empty. This is the
    /// request target of the opening handshake.
    pub fn resource_name(&self) -> &str {
        &self.resource
    }

    /// The path part of the resource name (always starts with `/`).
    pub fn path(&self) -> &str {
        self.resource.split_once('?').map_or(self.resource.as_str(), |(path, _)| path)
    }

    /// The query, without the `?`, if non-empty.
    pub fn query(&self) -> Option<&str> {
        self.resource.split_once('?').map(|(_, query)| query)
    }

    /// The value of the `Host` header (RFC 6455 §4.1): the host (IPv6 in
    /// brackets), plus `:port` only when the port is not the default.
    pub fn host_header(&self) -> String {
        let mut out = self.bracketed_host();
        if self.port != self.default_port() {
            out.push(':');
            out.push_str(&self.port.to_string());
        }
        out
    }

    /// `host:port` with the port always present and an IPv6 host in
    /// brackets, e.g. `"[::1]:9001"`, for `TcpStream::connect` or an HTTP
    /// `CONNECT` request.
    pub fn authority_for_connect(&self) -> String {
        format!("{}:{}", self.bracketed_host(), self.port)
    }

    fn bracketed_host(&self) -> String {
        if self.ipv6 { format!("[{}]", self.host) } else { self.host.clone() }
    }
}

impl FromStr for WsUri {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        WsUri::parse(s)
    }
}

impl fmt::Display for WsUri {
    /// Writes the normalised URI; parsing the output gives an equal `WsUri`.
    /// The password is included, as it is part of the URI.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme())?;
        if let Some(user) = &self.username {
            f.write_str(user)?;
            if let Some(password) = &self.password {
                write!(f, ":{password}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}{}", self.host_header(), self.resource)
    }
}

impl fmt::Debug for WsUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsUri")
            .field("secure", &self.secure)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("resource", &self.resource)
            .finish()
    }
}

/// RFC 6455 §3: the scheme is `ws` or `wss`, matched case-insensitively.
fn parse_scheme(scheme: &str) -> Result<bool, UriError> {
    // RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
    let well_formed = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !well_formed {
        return Err(UriError::Malformed);
    }
    if scheme.eq_ignore_ascii_case("ws") {
        Ok(false)
    } else if scheme.eq_ignore_ascii_case("wss") {
        Ok(true)
    } else {
        Err(UriError::UnsupportedScheme(scheme.to_ascii_lowercase()))
    }
}

/// RFC 3986 §2.3 unreserved.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 §2.2 sub-delims.
fn is_sub_delim(b: u8) -> bool {
    matches!(b, b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=')
}

/// Checks that every byte of `s` satisfies `allowed` or starts a valid
/// percent-encoding (RFC 3986 §2.1). Returns the index of the first bad byte.
fn check_chars(s: &str, allowed: impl Fn(u8) -> bool) -> Result<(), usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return Err(i);
            }
            i += 3;
        } else if allowed(b) {
            i += 1;
        } else {
            return Err(i);
        }
    }
    Ok(())
}

/// `userinfo = *( unreserved / pct-encoded / sub-delims / ":" )`, split at
/// the first `:` into user name and password.
fn parse_userinfo(info: &str) -> Result<(Option<String>, Option<String>), UriError> {
    check_chars(info, |b| is_unreserved(b) || is_sub_delim(b) || b == b':').map_err(|_| UriError::InvalidUserinfo)?;
    Ok(match info.split_once(':') {
        Some((user, password)) => (Some(user.to_owned()), Some(password.to_owned())),
        None => (Some(info.to_owned()), None),
    })
}

/// Parses `host [ ":" port ]`; returns (host, is_ipv6, explicit port).
fn parse_hostport(hostport: &str) -> Result<(String, bool, Option<u16>), UriError> {
    if let Some(after_bracket) = hostport.strip_prefix('[') {
        let (literal, after) = after_bracket.split_once(']').ok_or(UriError::InvalidHost)?;
        // IPvFuture and zone identifiers are not supported.
        let addr: Ipv6Addr = literal.parse().map_err(|_| UriError::InvalidHost)?;
        let port = match after {
            "" => None,
            _ => {
                let digits = after.strip_prefix(':').ok_or(UriError::InvalidHost)?;
                parse_port(digits)?
            }
        };
        return Ok((addr.to_string(), true, port));
    }
    let (host, port) = match hostport.split_once(':') {
        Some((host, digits)) => (host, parse_port(digits)?),
        None => (hostport, None),
    };
    if host.is_empty() {
        return Err(UriError::MissingHost);
    }
    // A host made only of digits and dots must be a valid IPv4 address; a
    // look-alike such as `999.1.1.1` is refused rather than sent to DNS.
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let addr: Ipv4Addr = host.parse().map_err(|_| UriError::InvalidHost)?;
        return Ok((addr.to_string(), false, port));
    }
    // RFC 3986 §3.2.2: reg-name = *( unreserved / pct-encoded / sub-delims )
    check_chars(host, |b| is_unreserved(b) || is_sub_delim(b)).map_err(|_| UriError::InvalidHost)?;
    Ok((host.to_ascii_lowercase(), false, port))
}

/// `port = *DIGIT` (RFC 3986 §3.2.3). An empty port means the default; 0 and
/// values above 65535 are refused.
fn parse_port(digits: &str) -> Result<Option<u16>, UriError> {
    if digits.is_empty() {
        return Ok(None);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UriError::InvalidPort);
    }
    let significant = digits.trim_start_matches('0');
    if significant.len() > 5 {
        return Err(UriError::InvalidPort);
    }
    match significant.parse::<u16>() {
        Ok(0) | Err(_) => Err(UriError::InvalidPort),
        Ok(port) => Ok(Some(port)),
    }
}

/// Builds the resource name from `path-abempty [ "?" query ]`; `offset` is the
/// byte index of `s` in the original input, for error reports.
fn parse_resource(s: &str, offset: usize) -> Result<String, UriError> {
    let (path, query) = match s.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (s, None),
    };
    // RFC 3986 §3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@"
    let pchar = |b: u8| is_unreserved(b) || is_sub_delim(b) || matches!(b, b':' | b'@');
    let invalid = |index: usize| UriError::InvalidCharacter {
        character: s.as_bytes().get(index).map_or('\0', |&b| char::from(b)),
        index: offset + index,
    };
    check_chars(path, |b| pchar(b) || b == b'/').map_err(invalid)?;
    if let Some(query) = query {
        // RFC 3986 §3.4: query = *( pchar / "/" / "?" )
        check_chars(query, |b| pchar(b) || b == b'/' || b == b'?').map_err(|i| invalid(path.len() + 1 + i))?;
    }
    // RFC 6455 §3: the resource name is "/" if the path component is empty,
    // the path component, "?" if the query component is non-empty, and the
    // query component.
    let mut resource = if path.is_empty() { "/".to_owned() } else { path.to_owned() };
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        resource.push('?');
        resource.push_str(query);
    }
    Ok(resource)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<WsUri, UriError> {
        WsUri::parse(s)
    }

    #[test]
    fn ipv6_with_port_path_and_query() -> Result<(), UriError> {
        let uri = parse("ws://[::1]:9001/a?b=c")?;
        assert!(!uri.is_secure());
        assert!(uri.is_ipv6());
        assert_eq!(uri.host(), "::1");
        assert_eq!(uri.port(), 9001);
        assert_eq!(uri.resource_name(), "/a?b=c");
        assert_eq!(uri.path(), "/a");
        assert_eq!(uri.query(), Some("b=c"));
        assert_eq!(uri.host_header(), "[::1]:9001");
        assert_eq!(uri.authority_for_connect(), "[::1]:9001");
        assert_eq!(uri.to_string(), "ws://[::1]:9001/a?b=c");
        Ok(())
    }

    #[test]
    fn ipv6_default_port_and_canonical_form() -> Result<(), UriError> {
        let uri = parse("wss://[0:0:0:0:0:0:0:1]")?;
        assert_eq!(uri.host(), "::1");
        assert_eq!(uri.host_header(), "[::1]");
        assert_eq!(uri.authority_for_connect(), "[::1]:443");
        Ok(())
    }

    #[test]
    fn uppercase_scheme_and_host() -> Result<(), UriError> {
        let uri = parse("WSS://Example.COM")?;
        assert!(uri.is_secure());
        assert_eq!(uri.scheme(), "wss");
        assert_eq!(uri.host(), "example.com");
        assert_eq!(uri.port(), 443);
        assert_eq!(uri.resource_name(), "/");
        assert_eq!(uri.host_header(), "example.com");
        assert_eq!(uri.authority_for_connect(), "example.com:443");
        assert_eq!(uri.to_string(), "wss://example.com/");
        Ok(())
    }

    #[test]
    fn default_ports() -> Result<(), UriError> {
        assert_eq!(parse("ws://h")?.port(), 80);
        assert_eq!(parse("wss://h")?.port(), 443);
        // An explicit default port is left out of the Host header.
        assert_eq!(parse("ws://h:80/")?.host_header(), "h");
        assert_eq!(parse("wss://h:443/")?.host_header(), "h");
        // A non-default one is kept.
        assert_eq!(parse("ws://h:443/")?.host_header(), "h:443");
        assert_eq!(parse("wss://h:80/")?.host_header(), "h:80");
        // An empty port is the default (RFC 3986 §3.2.3).
        assert_eq!(parse("ws://h:/x")?.port(), 80);
        assert_eq!(parse("ws://h:00080/")?.port(), 80);
        Ok(())
    }

    #[test]
    fn ipv4_host() -> Result<(), UriError> {
        let uri = parse("ws://127.0.0.1:8080/echo")?;
        assert_eq!(uri.host(), "127.0.0.1");
        assert_eq!(uri.authority_for_connect(), "127.0.0.1:8080");
        assert_eq!(parse("ws://999.0.0.1/"), Err(UriError::InvalidHost));
        assert_eq!(parse("ws://1.2.3/"), Err(UriError::InvalidHost));
        Ok(())
    }

    #[test]
    fn fragment_is_refused() {
        assert_eq!(parse("ws://h/#x"), Err(UriError::Fragment));
        assert_eq!(parse("ws://h#"), Err(UriError::Fragment));
        assert_eq!(parse("ws://h/a?b#c"), Err(UriError::Fragment));
    }

    #[test]
    fn other_schemes_are_refused() {
        assert_eq!(parse("http://h/"), Err(UriError::UnsupportedScheme("http".into())));
        assert_eq!(parse("HTTPS://h/"), Err(UriError::UnsupportedScheme("https".into())));
        assert_eq!(parse("wsx://h/"), Err(UriError::UnsupportedScheme("wsx".into())));
        assert_eq!(parse("1ws://h/"), Err(UriError::Malformed));
        assert_eq!(parse("://h/"), Err(UriError::Malformed));
        assert_eq!(parse("ws:h"), Err(UriError::Malformed));
        assert_eq!(parse("h/path"), Err(UriError::Malformed));
        assert_eq!(parse(""), Err(UriError::Malformed));
    }

    #[test]
    fn empty_host_is_refused() {
        assert_eq!(parse("ws://"), Err(UriError::MissingHost));
        assert_eq!(parse("ws:///a"), Err(UriError::MissingHost));
        assert_eq!(parse("ws://:80/"), Err(UriError::MissingHost));
        assert_eq!(parse("ws://u@/"), Err(UriError::MissingHost));
        assert_eq!(parse("ws://?q"), Err(UriError::MissingHost));
    }

    #[test]
    fn bad_ports_are_refused() {
        for uri in [
            "ws://h:0/",
            "ws://h:65536/",
            "ws://h:99999999999999999999/",
            "ws://h:8o/",
            "ws://h:-1/",
            "ws://h:1:2/",
            "ws://[::1]:x/",
        ] {
            assert_eq!(parse(uri), Err(UriError::InvalidPort), "{uri}");
        }
        assert_eq!(parse("ws://h:65535/").map(|u| u.port()), Ok(65535));
    }

    #[test]
    fn bad_ipv6_is_refused() {
        for uri in ["ws://[::1/", "ws://[zz::1]/", "ws://[::1]x/", "ws://[fe80::1%25eth0]/", "ws://[]/"] {
            assert_eq!(parse(uri), Err(UriError::InvalidHost), "{uri}");
        }
    }

    #[test]
    fn bad_reg_names_are_refused() {
        for uri in ["ws://a<b/", "ws://a\"b/", "ws://a%zzb/", "ws://a[b/"] {
            assert_eq!(parse(uri), Err(UriError::InvalidHost), "{uri}");
        }
    }

    #[test]
    fn whitespace_and_controls_are_refused() {
        let cases = [
            ("ws://h/a b", ' ', 8),
            ("ws://h/a\tb", '\t', 8),
            ("ws://h\r\nX: y/", '\r', 6),
            ("ws://h/\0", '\0', 7),
            (" ws://h/", ' ', 0),
            ("ws://h/\u{7f}", '\u{7f}', 7),
            ("ws://h/é", 'é', 7),
        ];
        for (uri, character, index) in cases {
            assert_eq!(parse(uri), Err(UriError::InvalidCharacter { character, index }), "{uri:?}");
        }
    }

    #[test]
    fn bad_path_and_query_characters_are_refused() {
        assert_eq!(parse("ws://h/a<b"), Err(UriError::InvalidCharacter { character: '<', index: 8 }));
        assert_eq!(parse("ws://h/a?b=|"), Err(UriError::InvalidCharacter { character: '|', index: 11 }));
        assert_eq!(parse("ws://h/%4"), Err(UriError::InvalidCharacter { character: '%', index: 7 }));
        assert!(parse("ws://h/%41?x=%7e&y=/?:@").is_ok());
    }

    #[test]
    fn userinfo() -> Result<(), UriError> {
        let uri = parse("ws://alice:s3cr%21t@h/")?;
        assert_eq!(uri.username(), Some("alice"));
        assert_eq!(uri.password(), Some("s3cr%21t"));
        assert_eq!(uri.host(), "h");
        assert_eq!(uri.to_string(), "ws://alice:s3cr%21t@h/");
        assert!(!format!("{uri:?}").contains("s3cr"));
        let uri = parse("ws://bob@h")?;
        assert_eq!(uri.username(), Some("bob"));
        assert_eq!(uri.password(), None);
        let uri = parse("ws://h/")?;
        assert_eq!(uri.username(), None);
        assert_eq!(parse("ws://a@b@h/"), Err(UriError::InvalidUserinfo));
        assert_eq!(parse("ws://a<b@h/"), Err(UriError::InvalidUserinfo));
        Ok(())
    }

    #[test]
    fn resource_name_rules() -> Result<(), UriError> {
        assert_eq!(parse("ws://h")?.resource_name(), "/");
        assert_eq!(parse("ws://h?x=1")?.resource_name(), "/?x=1");
        // An empty query adds no "?" (RFC 6455 §3).
        assert_eq!(parse("ws://h/p?")?.resource_name(), "/p");
        assert_eq!(parse("ws://h/p?")?.query(), None);
        assert_eq!(parse("ws://h/a/b/?c?d")?.resource_name(), "/a/b/?c?d");
        Ok(())
    }

    #[test]
    fn display_round_trips() -> Result<(), UriError> {
        for s in [
            "ws://h",
            "WSS://Example.COM:443",
            "ws://[::1]:9001/a?b=c",
            "ws://u:p@h:1/x?",
            "wss://10.0.0.1:65535/a%20b?c=d/e",
        ] {
            let uri = parse(s)?;
            let again = parse(&uri.to_string())?;
            assert_eq!(uri, again, "{s}");
            assert_eq!(uri.to_string(), again.to_string());
        }
        Ok(())
    }

    #[test]
    fn from_str_matches_parse() {
        assert_eq!("ws://h/x".parse::<WsUri>(), parse("ws://h/x"));
    }
}
