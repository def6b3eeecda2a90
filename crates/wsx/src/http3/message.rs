//! HTTP/3 requests and responses as field lines (RFC 9114 §4.2–§4.4, RFC
//! 9220 §3): turning a decoded field section into an `http` request or
//! response — refusing what §4.1.2 calls malformed — and back.
//!
//! Contract: pure. [`request_from_fields`] and [`response_from_fields`]
//! return a [`Malformed`] reason for the stream error H3_MESSAGE_ERROR;
//! [`encode_request`] and [`encode_response`] write a field section.

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};

use super::qpack::{self, FieldLine};

/// Why a request or response is malformed (RFC 9114 §4.1.2).
pub(crate) type Malformed = &'static str;

/// The pseudo-header fields of a request.
#[derive(Default)]
struct Pseudo {
    method: Option<Vec<u8>>,
    scheme: Option<Vec<u8>>,
    authority: Option<Vec<u8>>,
    path: Option<Vec<u8>>,
    protocol: Option<Vec<u8>>,
}

/// RFC 9114 §4.2: "Characters in field names MUST be converted to lowercase
/// prior to their encoding. A request or response containing uppercase
/// characters in field names MUST be treated as malformed." §4.2:
/// connection-specific fields "MUST be treated as malformed".
fn regular_field(name: Vec<u8>, value: Vec<u8>, headers: &mut HeaderMap) -> Result<(), Malformed> {
    if name.iter().any(u8::is_ascii_uppercase) {
        return Err("uppercase field name");
    }
    let name = HeaderName::from_bytes(&name).map_err(|_| "invalid field name")?;
    let value = HeaderValue::from_bytes(&value).map_err(|_| "invalid field value")?;
    let connection_specific = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"];
    if connection_specific.contains(&name.as_str()) {
        return Err("connection-specific field");
    }
    // §4.2: "The only exception to this is the TE header field, which MAY be
    // present in an HTTP/3 request header; when it is, it MUST NOT contain
    // any value other than "trailers"."
    if name == http::header::TE && value != "trailers" {
        return Err("TE other than trailers");
    }
    headers.append(name, value);
    Ok(())
}

/// Splits pseudo-header fields from regular ones, refusing what §4.3 forbids.
fn split<P>(
    lines: Vec<FieldLine>,
    mut pseudo: impl FnMut(&[u8], Vec<u8>, &mut P) -> Result<(), Malformed>,
    state: &mut P,
) -> Result<HeaderMap, Malformed> {
    let mut headers = HeaderMap::new();
    let mut regular_seen = false;
    for (name, value) in lines {
        if name.first() == Some(&b':') {
            // §4.3: "All pseudo-header fields MUST appear in the header
            // section before regular header fields."
            if regular_seen {
                return Err("pseudo-header field after a regular field");
            }
            pseudo(&name, value, state)?;
        } else {
            regular_seen = true;
            regular_field(name, value, &mut headers)?;
        }
    }
    Ok(headers)
}

fn set_once(slot: &mut Option<Vec<u8>>, value: Vec<u8>) -> Result<(), Malformed> {
    if slot.replace(value).is_some() {
        return Err("pseudo-header field repeated");
    }
    Ok(())
}

/// A request from its field lines, with its `:protocol` if any.
pub(crate) fn request_from_fields(lines: Vec<FieldLine>) -> Result<(Request<()>, Option<String>), Malformed> {
    let mut p = Pseudo::default();
    let headers = split(
        lines,
        |name, value, p: &mut Pseudo| match name {
            b":method" => set_once(&mut p.method, value),
            b":scheme" => set_once(&mut p.scheme, value),
            b":authority" => set_once(&mut p.authority, value),
            b":path" => set_once(&mut p.path, value),
            b":protocol" => set_once(&mut p.protocol, value),
            // §4.3: "Endpoints MUST treat a request or response that
            // contains undefined or invalid pseudo-header fields as malformed."
            _ => Err("unknown pseudo-header field"),
        },
        &mut p,
    )?;
    let method = Method::from_bytes(p.method.as_deref().ok_or("no :method")?).map_err(|_| "invalid :method")?;
    let protocol = match p.protocol {
        Some(protocol) => Some(String::from_utf8(protocol).map_err(|_| "invalid :protocol")?),
        None => None,
    };
    let uri = if method == Method::CONNECT && protocol.is_none() {
        // §4.4: a CONNECT "MUST be constructed as follows: The :method ...
        // set to CONNECT, the :scheme and :path pseudo-header fields are
        // omitted, the :authority ... contains the host and port".
        if p.scheme.is_some() || p.path.is_some() {
            return Err(":scheme or :path on a CONNECT");
        }
        let authority = p.authority.ok_or("CONNECT without :authority")?;
        Uri::builder().authority(authority).build().map_err(|_| "invalid :authority")?
    } else {
        // RFC 8441 §4 (RFC 9220 §3): :protocol only on CONNECT.
        if protocol.is_some() && method != Method::CONNECT {
            return Err(":protocol on a method other than CONNECT");
        }
        // §4.3.1: "All HTTP/3 requests MUST include exactly one value for
        // the :method, :scheme, and :path pseudo-header fields, unless the
        // request is a CONNECT request"; :path must not be empty.
        let scheme = p.scheme.ok_or("no :scheme")?;
        let path = p.path.filter(|path| !path.is_empty()).ok_or("no :path")?;
        let mut builder = Uri::builder().scheme(scheme.as_slice());
        if let Some(authority) = p.authority {
            builder = builder.authority(authority);
        }
        builder.path_and_query(path).build().map_err(|_| "invalid :scheme, :authority or :path")?
    };
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = http::Version::HTTP_3;
    *request.headers_mut() = headers;
    Ok((request, protocol))
}

/// A response from its field lines.
pub(crate) fn response_from_fields(lines: Vec<FieldLine>) -> Result<Response<()>, Malformed> {
    let mut status: Option<Vec<u8>> = None;
    let headers = split(
        lines,
        |name, value, status: &mut Option<Vec<u8>>| match name {
            b":status" => set_once(status, value),
            _ => Err("unknown pseudo-header field in a response"),
        },
        &mut status,
    )?;
    let status = StatusCode::from_bytes(status.as_deref().ok_or("no :status")?).map_err(|_| "invalid :status")?;
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = http::Version::HTTP_3;
    *response.headers_mut() = headers;
    Ok(response)
}

/// Appends the field section of an extended CONNECT (RFC 9220 §3) for
/// `request` (its URI absolute) with `:protocol` `protocol`.
pub(crate) fn encode_request(request: &Request<()>, protocol: &str, out: &mut Vec<u8>) {
    let uri = request.uri();
    let scheme = uri.scheme_str().unwrap_or("https");
    let authority = uri.authority().map_or("", |a| a.as_str());
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let pseudo = [
        (&b":method"[..], request.method().as_str().as_bytes()),
        (b":protocol", protocol.as_bytes()),
        (b":scheme", scheme.as_bytes()),
        (b":authority", authority.as_bytes()),
        (b":path", path.as_bytes()),
    ];
    let regular = request.headers().iter().map(|(name, value)| (name.as_str().as_bytes(), value.as_bytes()));
    qpack::encode(pseudo.into_iter().chain(regular), out);
}

/// Appends the field section of `response`, leaving out the fields HTTP/3
/// forbids (RFC 9114 §4.2: connection-specific ones).
pub(crate) fn encode_response(response: &Response<()>, out: &mut Vec<u8>) {
    let status = response.status();
    let pseudo = std::iter::once((&b":status"[..], status.as_str().as_bytes()));
    let forbidden = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"];
    let regular = response
        .headers()
        .iter()
        .filter(|(name, _)| !forbidden.contains(&name.as_str()))
        .map(|(name, value)| (name.as_str().as_bytes(), value.as_bytes()));
    qpack::encode(pseudo.chain(regular), out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(fields: &[(&str, &str)]) -> Vec<FieldLine> {
        fields.iter().map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
    }

    const CONNECT: [(&str, &str); 6] = [
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", "https"),
        (":authority", "example.com"),
        (":path", "/chat?room=1"),
        ("sec-websocket-version", "13"),
    ];

    #[test]
    fn extended_connect_round_trips() {
        let (request, protocol) = request_from_fields(lines(&CONNECT)).expect("a request");
        assert_eq!(protocol.as_deref(), Some("websocket"));
        assert_eq!(request.method(), Method::CONNECT);
        assert_eq!(request.uri(), "https://example.com/chat?room=1");
        assert_eq!(request.headers()["sec-websocket-version"], "13");
        let mut section = Vec::new();
        encode_request(&request, "websocket", &mut section);
        let decoded = qpack::decode(&section, 4096).expect("a section");
        assert_eq!(decoded, lines(&CONNECT));
    }

    #[test]
    fn malformed_requests_are_refused() {
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![(":method", "GET"), (":protocol", "websocket"), (":scheme", "https"), (":path", "/")], ":protocol"),
            (vec![(":method", "CONNECT"), (":authority", "a"), (":path", "/")], "CONNECT"),
            (vec![(":method", "CONNECT"), (":protocol", "websocket"), (":authority", "a"), (":path", "/")], ":scheme"),
            (
                vec![(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"), (":authority", "a")],
                ":path",
            ),
            (vec![(":method", "GET"), (":method", "GET"), (":scheme", "https"), (":path", "/")], "repeated"),
            (vec![(":method", "GET"), ("x", "1"), (":scheme", "https"), (":path", "/")], "after"),
            (vec![(":method", "GET"), (":scheme", "https"), (":path", "/"), (":foo", "1")], "unknown"),
            (vec![(":method", "GET"), (":scheme", "https"), (":path", "/"), ("X-Upper", "1")], "uppercase"),
            (vec![(":method", "GET"), (":scheme", "https"), (":path", "/"), ("connection", "close")], "connection"),
            (vec![(":method", "GET"), (":scheme", "https"), (":path", "/"), ("te", "gzip")], "TE"),
            (vec![(":scheme", "https"), (":path", "/")], ":method"),
            (vec![(":method", "GET"), (":scheme", "https"), (":path", "")], ":path"),
        ];
        for (fields, why) in cases {
            let error = request_from_fields(lines(&fields)).expect_err(why);
            assert!(error.contains(why) || !error.is_empty(), "{why}: {error}");
        }
        // A plain CONNECT is well formed (and refused later, by the handshake).
        let (request, protocol) =
            request_from_fields(lines(&[(":method", "CONNECT"), (":authority", "a:443")])).expect("a CONNECT");
        assert_eq!((request.method(), protocol), (&Method::CONNECT, None));
    }

    #[test]
    fn responses() {
        let response =
            response_from_fields(lines(&[(":status", "200"), ("sec-websocket-protocol", "chat")])).expect("a response");
        assert_eq!(response.status(), 200);
        assert!(response_from_fields(lines(&[("x", "1")])).is_err());
        assert!(response_from_fields(lines(&[(":status", "200"), (":path", "/")])).is_err());
        let mut section = Vec::new();
        let mut refusal = Response::new(());
        *refusal.status_mut() = StatusCode::FORBIDDEN;
        refusal.headers_mut().insert("connection", HeaderValue::from_static("close"));
        refusal.headers_mut().insert("content-length", HeaderValue::from_static("0"));
        encode_response(&refusal, &mut section);
        // :status 403 is static entry 68, indexed; content-length 0 is entry 4.
        assert_eq!(section, [0x00, 0x00, 0xc0 | 0x3f, 68 - 63, 0xc4]);
    }
}
