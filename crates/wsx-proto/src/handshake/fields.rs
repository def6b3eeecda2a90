//! Header-field grammar shared by both roles (RFC 9110 §5.6; RFC 6455 §4.1,
//! §9.1): tokens, comma-separated lists, extension names.
//!
//! Contract: pure functions over header values; none allocates more than the
//! list it returns, none panics.

use http::header::{GetAll, HeaderName};
use http::{HeaderMap, HeaderValue};

/// RFC 9110 §5.6.2 `tchar`; the same set as RFC 2616's "CHAR except CTLs or
/// separators" that RFC 6455 refers to.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
        )
}

/// `token = 1*tchar`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// Optional whitespace (RFC 9110 §5.6.3).
fn trim_ows(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

/// The non-empty elements of a `#token` list spread over all values of
/// `name` (RFC 9110 §5.6.1: recipients skip empty elements).
pub(crate) fn list_elements<'a>(headers: &'a HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'a [u8]> + 'a {
    let values: GetAll<'a, HeaderValue> = headers.get_all(name);
    values
        .into_iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .map(trim_ows)
        .filter(|element| !element.is_empty())
}

/// `true` if some element of the `name` list equals `token`, ASCII
/// case-insensitively.
pub(crate) fn list_contains(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    list_elements(headers, name).any(|element| element.eq_ignore_ascii_case(token.as_bytes()))
}

/// Splits `s` at commas outside quoted strings, trimming whitespace and
/// skipping empty elements. Used for `Sec-WebSocket-Extensions`, whose
/// parameters may be quoted strings containing commas (RFC 6455 §9.1).
pub(crate) fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, b) in s.bytes().enumerate() {
        if escaped {
            escaped = false;
        } else if in_quotes && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            in_quotes = !in_quotes;
        } else if b == b',' && !in_quotes {
            push_trimmed(&mut out, s.get(start..i));
            start = i + 1;
        }
    }
    push_trimmed(&mut out, s.get(start..));
    out
}

fn push_trimmed<'a>(out: &mut Vec<&'a str>, element: Option<&'a str>) {
    if let Some(element) = element.map(str::trim).filter(|e| !e.is_empty()) {
        out.push(element);
    }
}

/// The extension name of one `Sec-WebSocket-Extensions` element
/// (`name *( ";" param )`), if it is a token.
pub(crate) fn extension_name(element: &str) -> Option<&str> {
    let name = element.split(';').next().unwrap_or(element).trim();
    is_token(name).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::CONNECTION;

    #[test]
    fn tokens() {
        assert!(is_token("chat.v2+json"));
        assert!(is_token("!#$%&'*+-.^_`|~"));
        for bad in ["", "a b", "a,b", "a;b", "a/b", "\"a\"", "a=b", "(a)", "a\t", "é"] {
            assert!(!is_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn list_spans_headers_and_skips_empties() {
        let mut headers = HeaderMap::new();
        headers.append(CONNECTION, HeaderValue::from_static("keep-alive, , Upgrade"));
        headers.append(CONNECTION, HeaderValue::from_static(",close"));
        let elements: Vec<_> = list_elements(&headers, &CONNECTION).collect();
        assert_eq!(elements, [&b"keep-alive"[..], b"Upgrade", b"close"]);
        assert!(list_contains(&headers, &CONNECTION, "upgrade"));
        assert!(!list_contains(&headers, &CONNECTION, "upgrad"));
    }

    #[test]
    fn top_level_split_respects_quotes() {
        assert_eq!(split_top_level(r#"a; x="1,2", b ;y="q\",z" ,, c"#), [r#"a; x="1,2""#, r#"b ;y="q\",z""#, "c"]);
        assert!(split_top_level(" , ").is_empty());
    }

    #[test]
    fn extension_names() {
        assert_eq!(extension_name("permessage-deflate; client_max_window_bits"), Some("permessage-deflate"));
        assert_eq!(extension_name(" foo "), Some("foo"));
        assert_eq!(extension_name("; x=1"), None);
        assert_eq!(extension_name("a b; x"), None);
    }
}
