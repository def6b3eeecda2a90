//! HTTP/1.1 heads for the opening handshake (RFC 6455 §4.1, §4.2; RFC 9112):
//! incremental parsing with `httparse` into `http` types, and encoding back.
//!
//! Contract: the parsers look at a byte buffer that may hold only part of a
//! head. They return `Ok(None)` until the head is complete, then the parsed
//! message and the number of bytes the head took; the bytes after it belong
//! to the WebSocket connection. They never read more than
//! [`HandshakeLimits::max_head_bytes`] and never accept more than
//! [`HandshakeLimits::max_headers`] header fields.

use bytes::{BufMut, BytesMut};
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, Version};

use super::HandshakeError;

/// Bounds on an HTTP head, checked before anything is allocated for it.
///
/// ```
/// use wsx_proto::handshake::HandshakeLimits;
/// let limits = HandshakeLimits::default().max_headers(50);
/// assert_eq!(limits.get_max_head_bytes(), 16 * 1024);
/// assert_eq!(limits.get_max_headers(), 50);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeLimits {
    max_head_bytes: usize,
    max_headers: usize,
}

impl HandshakeLimits {
    /// The default `max_head_bytes`: 16 KiB.
    pub const DEFAULT_MAX_HEAD_BYTES: usize = 16 * 1024;
    /// The default `max_headers`: 100.
    pub const DEFAULT_MAX_HEADERS: usize = 100;

    /// Sets the largest head (request or status line, headers and the
    /// blank line) accepted, in bytes; default 16 KiB. A longer head fails with
    /// [`HandshakeError::HeadTooLarge`] (431). Stops a peer that streams an
    /// endless head to make us buffer it (header floods, slowloris memory).
    pub fn max_head_bytes(mut self, bytes: usize) -> Self {
        self.max_head_bytes = bytes;
        self
    }

    /// Sets the most header fields accepted; default 100. More fail with
    /// [`HandshakeError::TooManyHeaders`] (431). Stops a peer that sends many
    /// tiny headers to make us build a large header map (header floods, hash
    /// table CPU).
    pub fn max_headers(mut self, headers: usize) -> Self {
        self.max_headers = headers;
        self
    }

    /// The largest head accepted, in bytes ([`max_head_bytes`](Self::max_head_bytes)).
    pub fn get_max_head_bytes(&self) -> usize {
        self.max_head_bytes
    }

    /// The most header fields accepted ([`max_headers`](Self::max_headers)).
    pub fn get_max_headers(&self) -> usize {
        self.max_headers
    }
}

impl Default for HandshakeLimits {
    fn default() -> Self {
        HandshakeLimits { max_head_bytes: Self::DEFAULT_MAX_HEAD_BYTES, max_headers: Self::DEFAULT_MAX_HEADERS }
    }
}

/// What one call to `httparse` found.
enum Parsed<T> {
    Complete(T, usize),
    Partial,
}

/// The part of `buf` the parser may look at.
fn window<'b>(buf: &'b [u8], limits: &HandshakeLimits) -> &'b [u8] {
    buf.get(..limits.max_head_bytes).unwrap_or(buf)
}

/// Maps an `httparse` result, applying the limits.
fn check<T>(
    result: Result<httparse::Status<usize>, httparse::Error>,
    buf_len: usize,
    limits: &HandshakeLimits,
    build: impl FnOnce() -> Result<T, HandshakeError>,
) -> Result<Parsed<T>, HandshakeError> {
    match result {
        Ok(httparse::Status::Complete(consumed)) => Ok(Parsed::Complete(build()?, consumed)),
        Ok(httparse::Status::Partial) if buf_len >= limits.max_head_bytes => {
            Err(HandshakeError::HeadTooLarge { limit: limits.max_head_bytes })
        }
        Ok(httparse::Status::Partial) => Ok(Parsed::Partial),
        Err(httparse::Error::TooManyHeaders) => Err(HandshakeError::TooManyHeaders { limit: limits.max_headers }),
        Err(e) => Err(HandshakeError::MalformedHead { reason: describe(e) }),
    }
}

fn describe(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status code",
        httparse::Error::Token => "invalid token",
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::Version => "invalid HTTP version",
    }
}

/// Parses an HTTP/1.x request head from the start of `buf`.
///
/// Returns `Ok(None)` if `buf` does not yet hold a whole head (read more and
/// call again with the longer buffer), or the request and `consumed`, the
/// length of the head: `buf[consumed..]` are the first bytes of the WebSocket
/// stream and must be handed to the connection.
///
/// Repeated headers are kept in order. The request target may be in any form
/// `http::Uri` accepts; [`validate_request`](super::validate_request) checks
/// the rest.
///
/// # Errors
/// [`HandshakeError::HeadTooLarge`] or [`HandshakeError::TooManyHeaders`]
/// (431) past the limits; [`HandshakeError::MalformedHead`],
/// [`HandshakeError::InvalidRequestTarget`], [`HandshakeError::InvalidHeaderName`]
/// or [`HandshakeError::InvalidHeaderValue`] (400) for a malformed head.
///
/// ```
/// use wsx_proto::handshake::{parse_request, HandshakeLimits};
/// let limits = HandshakeLimits::default();
/// let bytes = b"GET /chat HTTP/1.1\r\nHost: example.com\r\n\r\n\x81\x80";
/// assert!(parse_request(&bytes[..10], &limits)?.is_none());
/// let (req, consumed) = parse_request(bytes, &limits)?.expect("complete");
/// assert_eq!(req.uri(), "/chat");
/// assert_eq!(&bytes[consumed..], b"\x81\x80");
/// # Ok::<(), wsx_proto::handshake::HandshakeError>(())
/// ```
pub fn parse_request(buf: &[u8], limits: &HandshakeLimits) -> Result<Option<(Request<()>, usize)>, HandshakeError> {
    let mut slots = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut parsed = httparse::Request::new(&mut slots);
    let result = parsed.parse(window(buf, limits));
    let outcome = check(result, buf.len(), limits, || {
        let method = parsed.method.ok_or(HandshakeError::MalformedHead { reason: "no method" })?;
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| HandshakeError::MalformedHead { reason: "invalid method" })?;
        let target = parsed.path.ok_or(HandshakeError::InvalidRequestTarget)?;
        let uri = Uri::try_from(target).map_err(|_| HandshakeError::InvalidRequestTarget)?;
        let mut request = Request::new(());
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.version_mut() = version(parsed.version)?;
        *request.headers_mut() = header_map(&*parsed.headers, limits)?;
        Ok(request)
    })?;
    Ok(match outcome {
        Parsed::Complete(request, consumed) => Some((request, consumed)),
        Parsed::Partial => None,
    })
}

/// Parses an HTTP/1.x response head from the start of `buf`; the client-side
/// twin of [`parse_request`], with the same return values and limits.
///
/// # Errors
/// As [`parse_request`]; a status code outside 100–999 is
/// [`HandshakeError::MalformedHead`].
///
/// ```
/// use wsx_proto::handshake::{parse_response, HandshakeLimits};
/// let bytes = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";
/// let (resp, consumed) = parse_response(bytes, &HandshakeLimits::default())?.expect("complete");
/// assert_eq!(resp.status(), 101);
/// assert_eq!(consumed, bytes.len());
/// # Ok::<(), wsx_proto::handshake::HandshakeError>(())
/// ```
pub fn parse_response(buf: &[u8], limits: &HandshakeLimits) -> Result<Option<(Response<()>, usize)>, HandshakeError> {
    let mut slots = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut parsed = httparse::Response::new(&mut slots);
    let result = parsed.parse(window(buf, limits));
    let outcome = check(result, buf.len(), limits, || {
        let code = parsed.code.ok_or(HandshakeError::MalformedHead { reason: "no status code" })?;
        let status =
            StatusCode::from_u16(code).map_err(|_| HandshakeError::MalformedHead { reason: "invalid status code" })?;
        let mut response = Response::new(());
        *response.status_mut() = status;
        *response.version_mut() = version(parsed.version)?;
        *response.headers_mut() = header_map(&*parsed.headers, limits)?;
        Ok(response)
    })?;
    Ok(match outcome {
        Parsed::Complete(response, consumed) => Some((response, consumed)),
        Parsed::Partial => None,
    })
}

fn version(minor: Option<u8>) -> Result<Version, HandshakeError> {
    match minor {
        Some(0) => Ok(Version::HTTP_10),
        Some(1) => Ok(Version::HTTP_11),
        _ => Err(HandshakeError::MalformedHead { reason: "invalid HTTP version" }),
    }
}

fn header_map(headers: &[httparse::Header<'_>], limits: &HandshakeLimits) -> Result<HeaderMap, HandshakeError> {
    let too_many = |_| HandshakeError::TooManyHeaders { limit: limits.max_headers };
    let mut map = HeaderMap::try_with_capacity(headers.len()).map_err(too_many)?;
    for header in headers {
        let name = HeaderName::from_bytes(header.name.as_bytes()).map_err(|_| HandshakeError::InvalidHeaderName)?;
        let value = HeaderValue::from_bytes(header.value)
            .map_err(|_| HandshakeError::InvalidHeaderValue { name: name.clone() })?;
        map.try_append(name, value).map_err(too_many)?;
    }
    Ok(map)
}

/// Appends the head of `req` to `out`: request line, headers, blank line.
///
/// The request target is the URI's path and query (origin-form, `/` if
/// empty); the version is `HTTP/1.0` for [`Version::HTTP_10`] and `HTTP/1.1`
/// for anything else. Header names are written in their usual capitalisation
/// (`Sec-WebSocket-Key`), values verbatim, in the map's order.
///
/// ```
/// use wsx_proto::handshake::encode_request;
/// let req = http::Request::get("/chat").header("host", "example.com").body(())?;
/// let mut out = bytes::BytesMut::new();
/// encode_request(&req, &mut out);
/// assert_eq!(&out[..], b"GET /chat HTTP/1.1\r\nHost: example.com\r\n\r\n");
/// # Ok::<(), http::Error>(())
/// ```
pub fn encode_request(req: &Request<()>, out: &mut BytesMut) {
    let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let target = if target.is_empty() { "/" } else { target };
    out.reserve(head_size_hint(req.headers()) + target.len() + 32);
    out.put_slice(req.method().as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(target.as_bytes());
    out.put_u8(b' ');
    out.put_slice(version_text(req.version()));
    out.put_slice(b"\r\n");
    for (name, value) in req.headers() {
        put_header(out, name, value.as_bytes());
    }
    out.put_slice(b"\r\n");
}

/// Appends `resp` and `body` to `out`: status line (with the canonical
/// reason phrase), headers, blank line, body.
///
/// For a status that may carry content (not 1xx, 204 or 304) the response's
/// own `Content-Length` and `Transfer-Encoding` headers are dropped and
/// `Content-Length: body.len()` is written instead, so the framing always
/// matches the body. For the other statuses `body` is written verbatim after
/// the head — for a 101 those are the first bytes of the WebSocket stream.
///
/// ```
/// use wsx_proto::handshake::encode_response;
/// let resp = http::Response::builder().status(400).body(())?;
/// let mut out = bytes::BytesMut::new();
/// encode_response(&resp, b"no", &mut out);
/// assert_eq!(&out[..], b"HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\nno");
/// # Ok::<(), http::Error>(())
/// ```
pub fn encode_response(resp: &Response<()>, body: &[u8], out: &mut BytesMut) {
    let status = resp.status();
    let reason = status.canonical_reason().unwrap_or("");
    out.reserve(head_size_hint(resp.headers()) + body.len() + reason.len() + 48);
    out.put_slice(version_text(resp.version()));
    out.put_u8(b' ');
    out.put_slice(status.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(reason.as_bytes());
    out.put_slice(b"\r\n");
    let has_content =
        !(status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED);
    for (name, value) in resp.headers() {
        if has_content && (name == CONTENT_LENGTH || name == TRANSFER_ENCODING) {
            continue;
        }
        put_header(out, name, value.as_bytes());
    }
    if has_content {
        put_header(out, &CONTENT_LENGTH, body.len().to_string().as_bytes());
    }
    out.put_slice(b"\r\n");
    out.put_slice(body);
}

fn version_text(version: Version) -> &'static [u8] {
    if version == Version::HTTP_10 { b"HTTP/1.0" } else { b"HTTP/1.1" }
}

fn head_size_hint(headers: &HeaderMap) -> usize {
    headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum::<usize>() + 2
}

/// Writes `Name: value\r\n`, with the name in its conventional
/// capitalisation. Header names are case-insensitive (RFC 9110 §5.1), but some
/// peers compare them case-sensitively.
fn put_header(out: &mut BytesMut, name: &HeaderName, value: &[u8]) {
    let name = name.as_str();
    let rest = match name.strip_prefix("sec-websocket-") {
        Some(rest) => {
            out.put_slice(b"Sec-WebSocket-");
            rest
        }
        None => name,
    };
    let mut upper = true;
    for &b in rest.as_bytes() {
        out.put_u8(if upper { b.to_ascii_uppercase() } else { b });
        upper = b == b'-';
    }
    out.put_slice(b": ");
    out.put_slice(value);
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    const REQUEST: &[u8] = b"GET /chat?x=1 HTTP/1.1\r\n\
        Host: server.example.com\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Protocol: chat\r\n\
        Sec-WebSocket-Protocol: superchat\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";

    #[test]
    fn parses_request_fields() -> TestResult {
        let (req, consumed) = parse_request(REQUEST, &HandshakeLimits::default())?.ok_or("incomplete")?;
        assert_eq!(consumed, REQUEST.len());
        assert_eq!(req.method(), Method::GET);
        assert_eq!(req.uri().path(), "/chat");
        assert_eq!(req.uri().query(), Some("x=1"));
        assert_eq!(req.version(), Version::HTTP_11);
        assert_eq!(req.headers().len(), 7);
        let protocols: Vec<_> = req.headers().get_all("sec-websocket-protocol").iter().collect();
        assert_eq!(protocols, ["chat", "superchat"]);
        Ok(())
    }

    #[test]
    fn partial_until_blank_line() -> TestResult {
        let limits = HandshakeLimits::default();
        for end in 0..REQUEST.len() {
            let prefix = REQUEST.get(..end).ok_or("range")?;
            assert!(parse_request(prefix, &limits)?.is_none(), "complete at {end}");
        }
        Ok(())
    }

    #[test]
    fn head_exactly_at_limit_is_accepted() -> TestResult {
        let limits = HandshakeLimits { max_head_bytes: REQUEST.len(), max_headers: 7 };
        assert!(parse_request(REQUEST, &limits)?.is_some());
        let limits = HandshakeLimits { max_head_bytes: REQUEST.len() - 1, max_headers: 7 };
        assert_eq!(
            parse_request(REQUEST, &limits).err(),
            Some(HandshakeError::HeadTooLarge { limit: REQUEST.len() - 1 })
        );
        let limits = HandshakeLimits { max_head_bytes: 1 << 20, max_headers: 6 };
        assert_eq!(parse_request(REQUEST, &limits).err(), Some(HandshakeError::TooManyHeaders { limit: 6 }));
        Ok(())
    }

    #[test]
    fn malformed_requests() {
        let limits = HandshakeLimits::default();
        let cases: [&[u8]; 6] = [
            b"GET /a HTTP/2.0\r\n\r\n",
            b"G(T /a HTTP/1.1\r\n\r\n",
            b"GET /a HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"GET /a HTTP/1.1\r\nX: a\0b\r\n\r\n",
            b"GET /a HTTP/1.1\r\nX: a\rb\r\n\r\n",
            b"GET /a HTTP/1.1\r\n folded\r\n\r\n",
        ];
        for bytes in cases {
            let err = parse_request(bytes, &limits).err();
            assert_eq!(
                err.map(|e| e.http_status()),
                Some(StatusCode::BAD_REQUEST),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn parses_response_and_keeps_leftover() -> TestResult {
        let bytes = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00";
        let (resp, consumed) = parse_response(bytes, &HandshakeLimits::default())?.ok_or("incomplete")?;
        assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(resp.headers().get("upgrade").ok_or("upgrade")?, "websocket");
        assert_eq!(bytes.get(consumed..), Some(&b"\x81\x00"[..]));
        Ok(())
    }

    #[test]
    fn bad_status_code_is_malformed() {
        let limits = HandshakeLimits::default();
        assert!(matches!(
            parse_response(b"HTTP/1.1 099 X\r\n\r\n", &limits),
            Err(HandshakeError::MalformedHead { .. })
        ));
        assert!(matches!(
            parse_response(b"HTTP/1.1 1x1 X\r\n\r\n", &limits),
            Err(HandshakeError::MalformedHead { .. })
        ));
    }

    #[test]
    fn encodes_request_with_canonical_names() -> TestResult {
        let req = Request::get("/a?b")
            .header("host", "h")
            .header("sec-websocket-key", "k")
            .header("x-two", "1")
            .header("x-two", "2")
            .body(())?;
        let mut out = BytesMut::new();
        encode_request(&req, &mut out);
        assert_eq!(&out[..], b"GET /a?b HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Key: k\r\nX-Two: 1\r\nX-Two: 2\r\n\r\n");
        Ok(())
    }

    #[test]
    fn encodes_101_without_content_length() -> TestResult {
        let resp = Response::builder().status(101).header("upgrade", "websocket").body(())?;
        let mut out = BytesMut::new();
        encode_response(&resp, b"", &mut out);
        assert_eq!(&out[..], b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n");
        Ok(())
    }

    #[test]
    fn encode_response_replaces_framing_headers() -> TestResult {
        let resp = Response::builder()
            .status(403)
            .header("content-length", "999")
            .header("transfer-encoding", "chunked")
            .body(())?;
        let mut out = BytesMut::new();
        encode_response(&resp, b"nope", &mut out);
        assert_eq!(&out[..], b"HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope");
        // A status without a canonical reason gets an empty one.
        let resp = Response::builder().status(599).body(())?;
        out.clear();
        encode_response(&resp, b"", &mut out);
        assert_eq!(&out[..], b"HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n");
        Ok(())
    }
}
