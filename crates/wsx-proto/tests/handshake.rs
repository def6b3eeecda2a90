//! Integration tests for the opening handshake (RFC 6455 §1.3, §4) and
//! WebSocket URIs (§3), on bytes.

use bytes::BytesMut;
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use proptest::prelude::*;
use wsx_proto::handshake::{
    ClientHandshake, ClientRequest, HandshakeError, HandshakeLimits, accept_key, accept_response, encode_request,
    encode_response, error_response, parse_request, parse_response, validate_request,
};
use wsx_proto::uri::WsUri;
use wsx_test_support::CounterRng;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The sample request of RFC 6455 §1.2 (with Version 13).
const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: server.example.com\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Version: 13\r\n\r\n";

fn limits() -> HandshakeLimits {
    HandshakeLimits::default()
}

fn parse_req(bytes: &[u8]) -> Result<Request<()>, Box<dyn std::error::Error>> {
    let (req, consumed) = parse_request(bytes, &limits())?.ok_or("incomplete head")?;
    assert_eq!(consumed, bytes.len());
    Ok(req)
}

/// A valid upgrade request with `edit` applied to its builder.
fn request_with(
    edit: impl FnOnce(http::request::Builder) -> http::request::Builder,
) -> Result<Request<()>, http::Error> {
    let builder = Request::get("/chat")
        .header("host", "server.example.com")
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("sec-websocket-version", "13");
    edit(builder).body(())
}

/// Like [`request_with`], then removes `name`.
fn request_without(name: HeaderName) -> Result<Request<()>, http::Error> {
    let mut req = request_with(|b| b)?;
    req.headers_mut().remove(name);
    Ok(req)
}

// ----- RFC vectors -------------------------------------------------------------

#[test]
fn rfc_1_3_accept_vector() {
    assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

#[test]
fn rfc_sample_request_gets_rfc_sample_response() -> TestResult {
    let req = parse_req(RFC_REQUEST)?;
    let offer = validate_request(&req)?;
    assert_eq!(offer.subprotocols, ["chat", "superchat"]);
    assert_eq!(offer.origin, Some(HeaderValue::from_static("http://example.com")));
    assert!(offer.extensions.is_empty());
    let resp = accept_response(&offer, Some("chat"))?;
    let mut out = BytesMut::new();
    encode_response(&resp, b"", &mut out);
    assert_eq!(
        &out[..],
        &b"HTTP/1.1 101 Switching Protocols\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
Sec-WebSocket-Protocol: chat\r\n\r\n"[..]
    );
    Ok(())
}

// ----- incremental parsing --------------------------------------------------

#[test]
fn request_split_at_every_byte_gives_same_result() -> TestResult {
    let leftover = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58";
    let mut bytes = RFC_REQUEST.to_vec();
    bytes.extend_from_slice(leftover);
    let (whole, whole_consumed) = parse_request(&bytes, &limits())?.ok_or("incomplete")?;
    assert_eq!(whole_consumed, RFC_REQUEST.len());
    for split in 0..=bytes.len() {
        // First read: the prefix; second read: everything.
        let first = bytes.get(..split).ok_or("range")?;
        let got = match parse_request(first, &limits())? {
            Some(done) => done,
            None => {
                assert!(split < RFC_REQUEST.len(), "no head at split {split}");
                parse_request(&bytes, &limits())?.ok_or("incomplete")?
            }
        };
        let (req, consumed) = got;
        assert_eq!(consumed, whole_consumed, "split {split}");
        assert_eq!(req.method(), whole.method());
        assert_eq!(req.uri(), whole.uri());
        assert_eq!(req.version(), whole.version());
        assert_eq!(req.headers(), whole.headers());
        assert_eq!(bytes.get(consumed..), Some(&leftover[..]));
    }
    Ok(())
}

#[test]
fn response_split_at_every_byte() -> TestResult {
    let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    let mut bytes = head.to_vec();
    bytes.extend_from_slice(b"\x81\x02hi");
    for split in 0..=bytes.len() {
        let prefix = bytes.get(..split).ok_or("range")?;
        match parse_response(prefix, &limits())? {
            None => assert!(split < head.len(), "split {split}"),
            Some((resp, consumed)) => {
                assert!(split >= head.len());
                assert_eq!(consumed, head.len());
                assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
                assert_eq!(resp.headers().len(), 2);
            }
        }
    }
    Ok(())
}

#[test]
fn repeated_headers_are_preserved() -> TestResult {
    let req = parse_req(b"GET / HTTP/1.1\r\nX-A: 1\r\nHost: h\r\nx-a: 2\r\nX-A: 3\r\n\r\n")?;
    let values: Vec<_> = req.headers().get_all("x-a").iter().collect();
    assert_eq!(values, ["1", "2", "3"]);
    Ok(())
}

// ----- limits: 431 ----------------------------------------------------------

#[test]
fn head_over_16_kib_is_431() -> TestResult {
    let mut bytes = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    bytes.resize(16 * 1024 + 1, b'a');
    // Still no blank line: the head cannot end within the limit.
    let err = parse_request(&bytes, &limits()).err().ok_or("accepted")?;
    assert_eq!(err, HandshakeError::HeadTooLarge { limit: 16 * 1024 });
    assert_eq!(err.http_status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    // One byte short of the limit, it is merely incomplete.
    assert!(parse_request(bytes.get(..16 * 1024 - 1).ok_or("range")?, &limits())?.is_none());
    // A complete head that is too long is refused even if it ends later.
    bytes.extend_from_slice(b"\r\n\r\n");
    assert_eq!(parse_request(&bytes, &limits()).err(), Some(HandshakeError::HeadTooLarge { limit: 16 * 1024 }));
    let mut resp = b"HTTP/1.1 101 Switching Protocols\r\nX-Big: ".to_vec();
    resp.resize(16 * 1024 + 1, b'a');
    let err = parse_response(&resp, &limits()).err().ok_or("accepted")?;
    assert_eq!(err, HandshakeError::HeadTooLarge { limit: 16 * 1024 });
    Ok(())
}

fn request_with_headers(count: usize) -> Vec<u8> {
    let mut bytes = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..count {
        bytes.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    bytes.extend_from_slice(b"\r\n");
    bytes
}

#[test]
fn more_than_100_headers_is_431() -> TestResult {
    let ok = parse_req(&request_with_headers(100))?;
    assert_eq!(ok.headers().len(), 100);
    let err = parse_request(&request_with_headers(101), &limits()).err().ok_or("accepted")?;
    assert_eq!(err, HandshakeError::TooManyHeaders { limit: 100 });
    assert_eq!(err.http_status(), 431);
    let (resp, body) = error_response(&err);
    assert_eq!(resp.status(), 431);
    assert_eq!(&body[..], b"more than 100 HTTP header fields\n");
    Ok(())
}

// ----- server validation: 400 / 426 -----------------------------------------

fn assert_refused(req: &Request<()>, expected: &HandshakeError, status: u16) {
    let err = validate_request(req).err();
    assert_eq!(err.as_ref(), Some(expected), "{req:?}");
    assert_eq!(expected.http_status(), status);
}

#[test]
fn valid_request_is_accepted() -> TestResult {
    let offer = validate_request(&request_with(|b| b)?)?;
    assert_eq!(offer.key.as_ref().map(|k| k.as_bytes()), Some(&b"dGhlIHNhbXBsZSBub25jZQ=="[..]));
    assert!(offer.subprotocols.is_empty());
    assert_eq!(offer.origin, None);
    Ok(())
}

#[test]
fn upgrade_list_and_connection_list_are_accepted() -> TestResult {
    let cases = [
        ("websocket, foo", "keep-alive, Upgrade"),
        ("foo/2, WebSocket", "Upgrade, keep-alive"),
        ("WEBSOCKET", "UPGRADE"),
        ("websocket", "keep-alive,upgrade"),
    ];
    for (upgrade, connection) in cases {
        let mut req = request_with(|b| b)?;
        let headers = req.headers_mut();
        headers.insert(header::UPGRADE, HeaderValue::from_static(upgrade));
        headers.insert(header::CONNECTION, HeaderValue::from_static(connection));
        validate_request(&req).map_err(|e| format!("{upgrade:?} / {connection:?}: {e}"))?;
    }
    // The token may also come in a second header line.
    let mut req = request_with(|b| b)?;
    let headers = req.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    headers.append(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("foo"));
    headers.append(header::UPGRADE, HeaderValue::from_static("websocket"));
    validate_request(&req)?;
    Ok(())
}

#[test]
fn wrong_method_or_version_is_400() -> TestResult {
    let req = request_with(|b| b.method("POST"))?;
    assert_refused(&req, &HandshakeError::MethodNotGet { method: http::Method::POST }, 400);
    let req = request_with(|b| b.version(Version::HTTP_10))?;
    assert_refused(&req, &HandshakeError::HttpVersionTooOld { version: Version::HTTP_10 }, 400);
    Ok(())
}

#[test]
fn missing_or_duplicate_host_is_400() -> TestResult {
    assert_refused(&request_without(header::HOST)?, &HandshakeError::InvalidHost, 400);
    let req = request_with(|b| b.header("host", "other"))?;
    assert_refused(&req, &HandshakeError::InvalidHost, 400);
    Ok(())
}

#[test]
fn missing_or_wrong_upgrade_is_400() -> TestResult {
    assert_refused(&request_without(header::UPGRADE)?, &HandshakeError::UpgradeNotWebSocket, 400);
    let mut req = request_with(|b| b)?;
    req.headers_mut().insert(header::UPGRADE, HeaderValue::from_static("h2c, websockets"));
    assert_refused(&req, &HandshakeError::UpgradeNotWebSocket, 400);
    Ok(())
}

#[test]
fn connection_without_upgrade_is_400() -> TestResult {
    assert_refused(&request_without(header::CONNECTION)?, &HandshakeError::ConnectionNotUpgrade, 400);
    let mut req = request_with(|b| b)?;
    req.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("keep-alive, upgraded"));
    assert_refused(&req, &HandshakeError::ConnectionNotUpgrade, 400);
    Ok(())
}

#[test]
fn bad_keys_are_400() -> TestResult {
    assert_refused(&request_without(header::SEC_WEBSOCKET_KEY)?, &HandshakeError::MissingKey, 400);
    let req = request_with(|b| b.header("sec-websocket-key", "AAECAwQFBgcICQoLDA0ODw=="))?;
    assert_refused(&req, &HandshakeError::DuplicateKey, 400);
    for bad in ["AAECAwQFBgcICQoLDA0O", "AAECAwQFBgcICQoLDA0ODxA=", "not base64 at all!!!!!!!", ""] {
        let mut req = request_with(|b| b)?;
        req.headers_mut().insert(header::SEC_WEBSOCKET_KEY, HeaderValue::from_str(bad)?);
        assert_refused(&req, &HandshakeError::InvalidKey, 400);
    }
    Ok(())
}

#[test]
fn wrong_version_is_426_with_version_header() -> TestResult {
    let missing = request_without(header::SEC_WEBSOCKET_VERSION)?;
    assert_refused(&missing, &HandshakeError::UnsupportedVersion { found: None }, 426);
    for bad in ["8", "12", "13, 8", "thirteen"] {
        let mut req = request_with(|b| b)?;
        let value = HeaderValue::from_str(bad)?;
        req.headers_mut().insert(header::SEC_WEBSOCKET_VERSION, value.clone());
        assert_refused(&req, &HandshakeError::UnsupportedVersion { found: Some(value) }, 426);
    }
    let twice = request_with(|b| b.header("sec-websocket-version", "13"))?;
    let err = validate_request(&twice).err().ok_or("accepted")?;
    assert_eq!(err.http_status(), 426);
    let (resp, body) = error_response(&err);
    assert_eq!(resp.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(resp.headers()["sec-websocket-version"], "13");
    assert_eq!(resp.headers()["upgrade"], "websocket");
    assert_eq!(resp.headers()["connection"], "Upgrade, close");
    let mut out = BytesMut::new();
    encode_response(&resp, &body, &mut out);
    let (parsed, consumed) = parse_response(&out, &limits())?.ok_or("incomplete")?;
    assert_eq!(parsed.status(), 426);
    assert_eq!(parsed.headers()["sec-websocket-version"], "13");
    assert_eq!(out.get(consumed..), Some(&body[..]));
    assert_eq!(parsed.headers()["content-length"], body.len().to_string().as_str());
    Ok(())
}

#[test]
fn request_body_is_400() -> TestResult {
    let req = request_with(|b| b.header("content-length", "5"))?;
    assert_refused(&req, &HandshakeError::RequestBody, 400);
    let req = request_with(|b| b.header("content-length", "zero"))?;
    assert_refused(&req, &HandshakeError::RequestBody, 400);
    let req = request_with(|b| b.header("content-length", "0").header("content-length", "7"))?;
    assert_refused(&req, &HandshakeError::RequestBody, 400);
    let req = request_with(|b| b.header("transfer-encoding", "chunked"))?;
    assert_refused(&req, &HandshakeError::RequestBody, 400);
    let req = request_with(|b| b.header("transfer-encoding", "identity"))?;
    assert_refused(&req, &HandshakeError::RequestBody, 400);
    // An explicit empty body is fine.
    validate_request(&request_with(|b| b.header("content-length", "0"))?)?;
    Ok(())
}

#[test]
fn bad_offers_are_400() -> TestResult {
    let req = request_with(|b| b.header("origin", "a").header("origin", "b"))?;
    assert_refused(&req, &HandshakeError::DuplicateOrigin, 400);
    for bad in ["chat, chat", "a b", "a/b", "chat;x"] {
        let req = request_with(|b| b.header("sec-websocket-protocol", bad))?;
        assert_refused(&req, &HandshakeError::InvalidSubprotocolList, 400);
    }
    let req = request_with(|b| b.header("sec-websocket-protocol", "a").header("sec-websocket-protocol", "a"))?;
    assert_refused(&req, &HandshakeError::InvalidSubprotocolList, 400);
    for bad in ["; x=1", "a b", "\"quoted\""] {
        let req = request_with(|b| b.header("sec-websocket-extensions", bad))?;
        assert_refused(&req, &HandshakeError::InvalidExtensionList, 400);
    }
    Ok(())
}

#[test]
fn offers_are_collected_in_order() -> TestResult {
    let req = request_with(|b| {
        b.header("sec-websocket-protocol", "b, a")
            .header("sec-websocket-protocol", "c")
            .header("sec-websocket-extensions", "permessage-deflate; client_max_window_bits, x; y=\"1,2\"")
            .header("sec-websocket-extensions", "permessage-deflate")
    })?;
    let offer = validate_request(&req)?;
    assert_eq!(offer.subprotocols, ["b", "a", "c"]);
    assert_eq!(offer.extensions, ["permessage-deflate; client_max_window_bits", "x; y=\"1,2\"", "permessage-deflate"]);
    Ok(())
}

#[test]
fn parse_errors_are_400_through_error_response() -> TestResult {
    for bytes in
        [&b"GET / HTTP/1.1\r\nX: a\0b\r\n\r\n"[..], b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", b"\x00\x01\x02\r\n\r\n"]
    {
        let err = parse_request(bytes, &limits()).err().ok_or("accepted")?;
        let (resp, body) = error_response(&err);
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{err:?}");
        assert_eq!(resp.headers()["connection"], "close");
        assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
        assert!(!body.is_empty());
    }
    Ok(())
}

#[test]
fn accepting_an_unoffered_subprotocol_is_misuse() -> TestResult {
    let offer = validate_request(&request_with(|b| b.header("sec-websocket-protocol", "chat"))?)?;
    let err = accept_response(&offer, Some("superchat")).err().ok_or("accepted")?;
    assert_eq!(err, HandshakeError::SubprotocolNotOffered { protocol: "superchat".into() });
    assert_eq!(err.http_status(), 500);
    let resp = accept_response(&offer, None)?;
    assert!(!resp.headers().contains_key("sec-websocket-protocol"));
    Ok(())
}

// ----- client ---------------------------------------------------------------

fn handshake(edit: impl FnOnce(ClientRequest) -> ClientRequest) -> Result<ClientHandshake, Box<dyn std::error::Error>> {
    let request = edit(ClientRequest::new("ws://example.com:8080/chat?x=1".parse()?));
    Ok(request.into_handshake(&mut CounterRng(0))?)
}

/// A valid response to `hs`, with `edit` applied.
fn response_to(
    hs: &ClientHandshake,
    edit: impl FnOnce(http::response::Builder) -> http::response::Builder,
) -> Result<Response<()>, http::Error> {
    let builder = Response::builder()
        .status(101)
        .header("upgrade", "websocket")
        .header("connection", "Upgrade")
        .header("sec-websocket-accept", accept_key(hs.key().map_or(&b""[..], |key| key.as_bytes())));
    edit(builder).body(())
}

#[test]
fn client_request_bytes() -> TestResult {
    let hs = handshake(|r| {
        r.origin("http://example.com")
            .subprotocols(["chat", "superchat"])
            .extension("permessage-deflate; client_max_window_bits")
            .header(header::USER_AGENT, HeaderValue::from_static("wsx-test"))
    })?;
    let mut out = BytesMut::new();
    hs.encode(&mut out);
    assert_eq!(
        std::str::from_utf8(&out)?,
        "GET /chat?x=1 HTTP/1.1\r\n\
Host: example.com:8080\r\n\
Upgrade: websocket\r\n\
Connection: Upgrade\r\n\
Sec-WebSocket-Key: AAECAwQFBgcICQoLDA0ODw==\r\n\
Sec-WebSocket-Version: 13\r\n\
Origin: http://example.com\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
User-Agent: wsx-test\r\n\r\n"
    );
    assert_eq!(hs.offered_subprotocols(), ["chat", "superchat"]);
    assert_eq!(hs.offered_extensions(), ["permessage-deflate"]);
    // Our own server accepts our own request.
    let offer = validate_request(&parse_req(&out)?)?;
    assert_eq!(offer.key.as_ref(), hs.key());
    Ok(())
}

#[test]
fn client_and_server_agree_over_bytes() -> TestResult {
    let hs = handshake(|r| r.subprotocols(["v2", "v1"]).extension("permessage-deflate"))?;
    let mut wire = BytesMut::new();
    hs.encode(&mut wire);
    let offer = validate_request(&parse_req(&wire)?)?;
    let mut resp = accept_response(&offer, Some("v1"))?;
    resp.headers_mut().insert(
        header::SEC_WEBSOCKET_EXTENSIONS,
        HeaderValue::from_static("permessage-deflate; server_no_context_takeover"),
    );
    let mut back = BytesMut::new();
    encode_response(&resp, b"\x81\x00", &mut back);
    let (parsed, consumed) = parse_response(&back, &limits())?.ok_or("incomplete")?;
    assert_eq!(back.get(consumed..), Some(&b"\x81\x00"[..]));
    let accepted = hs.validate_response(&parsed)?;
    assert_eq!(accepted.subprotocol.as_deref(), Some("v1"));
    assert_eq!(accepted.extensions, ["permessage-deflate; server_no_context_takeover"]);
    Ok(())
}

#[test]
fn userinfo_becomes_basic_authorization() -> TestResult {
    let hs = ClientRequest::new("ws://alice:secret@h/".parse()?).into_handshake(&mut CounterRng(0))?;
    assert_eq!(hs.request().headers()["authorization"], "Basic YWxpY2U6c2VjcmV0");
    let hs = ClientRequest::new("ws://bob@h/".parse()?).into_handshake(&mut CounterRng(0))?;
    assert_eq!(hs.request().headers()["authorization"], "Basic Ym9iOg==");
    // An explicit Authorization header wins.
    let hs = ClientRequest::new("ws://alice:secret@h/".parse()?)
        .header(header::AUTHORIZATION, HeaderValue::from_static("Bearer t"))
        .into_handshake(&mut CounterRng(0))?;
    let auth: Vec<_> = hs.request().headers().get_all("authorization").iter().collect();
    assert_eq!(auth, ["Bearer t"]);
    // IPv6 hosts keep their brackets in Host.
    let hs = ClientRequest::new("ws://[::1]:9001/a?b=c".parse()?).into_handshake(&mut CounterRng(0))?;
    assert_eq!(hs.request().headers()["host"], "[::1]:9001");
    assert_eq!(hs.request().uri(), "/a?b=c");
    Ok(())
}

#[test]
fn client_builder_misuse_is_refused() -> TestResult {
    let uri: WsUri = "ws://h/".parse()?;
    let build = |r: ClientRequest| r.into_handshake(&mut CounterRng(0)).err();
    assert_eq!(
        build(ClientRequest::new(uri.clone()).subprotocol("a b")),
        Some(HandshakeError::InvalidSubprotocol { protocol: "a b".into() })
    );
    assert_eq!(
        build(ClientRequest::new(uri.clone()).subprotocol("")),
        Some(HandshakeError::InvalidSubprotocol { protocol: String::new() })
    );
    assert_eq!(
        build(ClientRequest::new(uri.clone()).subprotocols(["a", "b", "a"])),
        Some(HandshakeError::DuplicateSubprotocol { protocol: "a".into() })
    );
    for offer in ["", ";x", "a b", "ok, ;bad", "x\r\ny"] {
        assert_eq!(
            build(ClientRequest::new(uri.clone()).extension(offer)),
            Some(HandshakeError::InvalidExtensionOffer { offer: offer.into() }),
            "{offer:?}"
        );
    }
    assert_eq!(
        build(ClientRequest::new(uri.clone()).origin("http://a\r\nX: y")),
        Some(HandshakeError::InvalidHeaderValue { name: header::ORIGIN })
    );
    Ok(())
}

#[test]
fn reserved_headers_cannot_be_overridden() -> TestResult {
    let uri: WsUri = "ws://h/".parse()?;
    let names = [
        header::HOST,
        header::UPGRADE,
        header::CONNECTION,
        header::SEC_WEBSOCKET_KEY,
        header::SEC_WEBSOCKET_VERSION,
        header::SEC_WEBSOCKET_PROTOCOL,
        header::SEC_WEBSOCKET_EXTENSIONS,
        header::ORIGIN,
        header::CONTENT_LENGTH,
        header::TRANSFER_ENCODING,
    ];
    for name in names {
        let req = ClientRequest::new(uri.clone()).header(name.clone(), HeaderValue::from_static("x"));
        let err = req.into_handshake(&mut CounterRng(0)).err();
        assert_eq!(err, Some(HandshakeError::ReservedHeader { name }));
    }
    Ok(())
}

#[test]
fn header_values_with_cr_lf_nul_are_refused() -> TestResult {
    // `HeaderValue` (the only way to give extra headers) refuses these bytes,
    // so no extra header can split the head we encode.
    for bad in [&b"a\rb"[..], b"a\nb", b"a\0b", b"a\r\nX-Injected: 1"] {
        assert!(HeaderValue::from_bytes(bad).is_err(), "{bad:?}");
    }
    // A peer's head with a bare CR, a NUL or a bare LF followed by junk in a
    // value is a 400.
    for bad in [&b"a\rb"[..], b"a\0b", b"a\nb"] {
        let mut bytes = b"GET / HTTP/1.1\r\nX-A: ".to_vec();
        bytes.extend_from_slice(bad);
        bytes.extend_from_slice(b"\r\n\r\n");
        let err = parse_request(&bytes, &limits()).err().ok_or("accepted")?;
        assert_eq!(err.http_status(), 400, "{bad:?}");
        let mut bytes = b"HTTP/1.1 101 OK\r\nX-A: ".to_vec();
        bytes.extend_from_slice(bad);
        bytes.extend_from_slice(b"\r\n\r\n");
        assert!(parse_response(&bytes, &limits()).is_err(), "{bad:?}");
    }
    Ok(())
}

#[test]
fn wrong_status_fails_with_status() -> TestResult {
    let hs = handshake(|r| r)?;
    let resp = response_to(&hs, |b| b.status(403))?;
    let err = hs.validate_response(&resp).err();
    assert_eq!(err, Some(HandshakeError::UnexpectedStatus { status: StatusCode::FORBIDDEN, extended_connect: false }));
    let resp = response_to(&hs, |b| b.status(200))?;
    assert_eq!(
        hs.validate_response(&resp).err(),
        Some(HandshakeError::UnexpectedStatus { status: StatusCode::OK, extended_connect: false })
    );
    Ok(())
}

#[test]
fn response_upgrade_must_be_websocket() -> TestResult {
    let hs = handshake(|r| r)?;
    let mut resp = response_to(&hs, |b| b)?;
    resp.headers_mut().remove("upgrade");
    assert_eq!(hs.validate_response(&resp).err(), Some(HandshakeError::ResponseUpgradeNotWebSocket));
    for bad in ["websocket, h2c", "web-socket", ""] {
        resp.headers_mut().insert(header::UPGRADE, HeaderValue::from_static(bad));
        assert_eq!(hs.validate_response(&resp).err(), Some(HandshakeError::ResponseUpgradeNotWebSocket), "{bad}");
    }
    resp.headers_mut().insert(header::UPGRADE, HeaderValue::from_static("WebSocket"));
    hs.validate_response(&resp)?;
    Ok(())
}

#[test]
fn response_connection_must_have_upgrade() -> TestResult {
    let hs = handshake(|r| r)?;
    let mut resp = response_to(&hs, |b| b)?;
    resp.headers_mut().remove("connection");
    assert_eq!(hs.validate_response(&resp).err(), Some(HandshakeError::ResponseConnectionNotUpgrade));
    resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    assert_eq!(hs.validate_response(&resp).err(), Some(HandshakeError::ResponseConnectionNotUpgrade));
    resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("keep-alive, upgrade"));
    hs.validate_response(&resp)?;
    Ok(())
}

#[test]
fn response_accept_must_match() -> TestResult {
    let hs = handshake(|r| r)?;
    let mut resp = response_to(&hs, |b| b)?;
    resp.headers_mut().remove("sec-websocket-accept");
    assert_eq!(hs.validate_response(&resp).err(), Some(HandshakeError::MissingAccept));
    // The RFC sample accept is for another key.
    resp.headers_mut().insert(header::SEC_WEBSOCKET_ACCEPT, HeaderValue::from_static("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    assert_eq!(hs.validate_response(&resp).err(), Some(HandshakeError::AcceptMismatch));
    // Two Accept headers, even both right, are refused.
    let right = HeaderValue::from_str(&accept_key(hs.key().ok_or("no key")?.as_bytes()))?;
    resp.headers_mut().insert(header::SEC_WEBSOCKET_ACCEPT, right.clone());
    resp.headers_mut().append(header::SEC_WEBSOCKET_ACCEPT, right);
    assert_eq!(hs.validate_response(&resp).err(), Some(HandshakeError::MissingAccept));
    // Surrounding whitespace is ignored (§4.1).
    let padded = format!(" {} ", accept_key(hs.key().ok_or("no key")?.as_bytes()));
    resp.headers_mut().insert(header::SEC_WEBSOCKET_ACCEPT, HeaderValue::from_str(&padded)?);
    hs.validate_response(&resp)?;
    Ok(())
}

#[test]
fn response_subprotocol_must_be_one_offered() -> TestResult {
    let none = handshake(|r| r)?;
    let resp = response_to(&none, |b| b.header("sec-websocket-protocol", "chat"))?;
    assert_eq!(
        none.validate_response(&resp).err(),
        Some(HandshakeError::UnexpectedSubprotocol { protocol: "chat".into() })
    );
    let hs = handshake(|r| r.subprotocols(["chat", "superchat"]))?;
    let resp = response_to(&hs, |b| b.header("sec-websocket-protocol", "other"))?;
    assert_eq!(
        hs.validate_response(&resp).err(),
        Some(HandshakeError::UnexpectedSubprotocol { protocol: "other".into() })
    );
    // Subprotocol names are compared exactly.
    let resp = response_to(&hs, |b| b.header("sec-websocket-protocol", "Chat"))?;
    assert!(hs.validate_response(&resp).is_err());
    let resp = response_to(&hs, |b| b.header("sec-websocket-protocol", "chat, superchat"))?;
    assert_eq!(hs.validate_response(&resp).err(), Some(HandshakeError::MultipleSubprotocols));
    let resp =
        response_to(&hs, |b| b.header("sec-websocket-protocol", "chat").header("sec-websocket-protocol", "chat"))?;
    assert_eq!(hs.validate_response(&resp).err(), Some(HandshakeError::MultipleSubprotocols));
    let resp = response_to(&hs, |b| b.header("sec-websocket-protocol", "superchat"))?;
    assert_eq!(hs.validate_response(&resp)?.subprotocol.as_deref(), Some("superchat"));
    // Offering subprotocols does not oblige the server to pick one.
    let resp = response_to(&hs, |b| b)?;
    assert_eq!(hs.validate_response(&resp)?.subprotocol, None);
    Ok(())
}

#[test]
fn response_extension_must_be_one_offered() -> TestResult {
    let none = handshake(|r| r)?;
    let resp = response_to(&none, |b| b.header("sec-websocket-extensions", "permessage-deflate"))?;
    assert_eq!(
        none.validate_response(&resp).err(),
        Some(HandshakeError::UnexpectedExtension { name: "permessage-deflate".into() })
    );
    let hs = handshake(|r| r.extension("permessage-deflate; client_max_window_bits"))?;
    let resp = response_to(&hs, |b| {
        b.header("sec-websocket-extensions", "permessage-deflate; client_max_window_bits=10, x-other")
    })?;
    assert_eq!(hs.validate_response(&resp).err(), Some(HandshakeError::UnexpectedExtension { name: "x-other".into() }));
    let resp = response_to(&hs, |b| b.header("sec-websocket-extensions", "Permessage-Deflate"))?;
    assert_eq!(hs.validate_response(&resp)?.extensions, ["Permessage-Deflate"]);
    Ok(())
}

// ----- round trip -------------------------------------------------------------

fn header_strategy() -> impl Strategy<Value = (String, String)> {
    (
        "[a-z][a-z0-9!#$%&'*+.^_`|~-]{0,15}",
        // Visible ASCII with inner spaces and tabs; no outer whitespace,
        // which HTTP trims.
        "([!-~]([ -~\t]{0,30}[!-~])?)?",
    )
}

proptest! {
    #[test]
    fn encode_request_then_parse_request_round_trips(
        method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "X-CUSTOM"]),
        path in "/[A-Za-z0-9._~!$&'()*+,;=:@/-]{0,30}",
        query in proptest::option::of("[A-Za-z0-9._~!$&'()*+,;=:@/?-]{0,20}"),
        http10 in any::<bool>(),
        headers in prop::collection::vec(header_strategy(), 0..20),
        leftover in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let target = match &query {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        };
        let mut builder = Request::builder()
            .method(method)
            .uri(target.as_str())
            .version(if http10 { Version::HTTP_10 } else { Version::HTTP_11 });
        for (name, value) in &headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let req = builder.body(()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut out = BytesMut::new();
        encode_request(&req, &mut out);
        let head_len = out.len();
        out.extend_from_slice(&leftover);
        let parsed = parse_request(&out, &HandshakeLimits::default())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let (back, consumed) = parsed.ok_or_else(|| TestCaseError::fail("incomplete"))?;
        prop_assert_eq!(consumed, head_len);
        prop_assert_eq!(back.method(), req.method());
        prop_assert_eq!(back.uri(), req.uri());
        prop_assert_eq!(back.version(), req.version());
        prop_assert_eq!(back.headers(), req.headers());
    }

    #[test]
    fn parsers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_request(&bytes, &HandshakeLimits::default());
        let _ = parse_response(&bytes, &HandshakeLimits::default());
    }

    #[test]
    fn uri_parser_never_panics(
        s in "\\PC{0,64}|(ws|WSS|http)://[a-zA-Z0-9.:@%/?#\\[\\]!$&'()*+,;=~_-]{0,40}",
    ) {
        if let Ok(uri) = WsUri::parse(&s) {
            prop_assert_eq!(WsUri::parse(&uri.to_string()), Ok(uri));
        }
    }
}

// ----- RFC 8441 / RFC 9220: the extended CONNECT ------------------------------

fn extended_connect(edit: impl FnOnce(http::request::Builder) -> http::request::Builder) -> Request<()> {
    let builder = Request::connect("https://example.com/chat?room=1")
        .version(http::Version::HTTP_2)
        .header("sec-websocket-version", "13");
    edit(builder).body(()).expect("a valid request")
}

#[test]
fn an_extended_connect_round_trip_agrees_without_a_key() -> TestResult {
    let hs = ClientRequest::new("wss://example.com/chat?room=1".parse()?)
        .subprotocol("v2")
        .subprotocol("v1")
        .origin("https://example.com")
        .extension("permessage-deflate; client_max_window_bits")
        .into_extended_connect()?;
    let request = hs.request();
    assert_eq!(request.method(), http::Method::CONNECT);
    assert_eq!(request.uri(), "https://example.com/chat?room=1");
    for absent in ["host", "upgrade", "connection", "sec-websocket-key"] {
        assert!(request.headers().get(absent).is_none(), "{absent} must not be sent over HTTP/2");
    }
    let offer = wsx_proto::handshake::validate_extended_connect(request, Some("websocket"))?;
    assert_eq!(offer.key, None);
    assert_eq!(offer.subprotocols, ["v2", "v1"]);
    assert_eq!(offer.origin.as_ref().map(|o| o.as_bytes()), Some(&b"https://example.com"[..]));
    let response = wsx_proto::handshake::accept_response_with_extensions(&offer, Some("v1"), &["permessage-deflate"])?;
    assert_eq!(response.status(), 200);
    for absent in ["upgrade", "connection", "sec-websocket-accept"] {
        assert!(response.headers().get(absent).is_none(), "{absent} in a 200 to an extended CONNECT");
    }
    let accepted = hs.validate_response(&response)?;
    assert_eq!(accepted.subprotocol.as_deref(), Some("v1"));
    assert_eq!(accepted.extensions, ["permessage-deflate"]);
    Ok(())
}

#[test]
fn extended_connect_refusals_carry_their_statuses() {
    use wsx_proto::handshake::validate_extended_connect as validate;
    let connect = extended_connect(|b| b);
    let cases: [(Request<()>, Option<&str>, u16); 6] = [
        (extended_connect(|b| b.method("GET")), Some("websocket"), 400),
        (connect.clone(), None, 400),
        (connect.clone(), Some("webtransport"), 501),
        (extended_connect(|b| b.uri("/chat")), Some("websocket"), 400),
        (extended_connect(|b| b.header("sec-websocket-version", "8")), Some("websocket"), 426),
        (extended_connect(|b| b.header("sec-websocket-protocol", "a, a")), Some("websocket"), 400),
    ];
    for (request, protocol, status) in cases {
        let error = validate(&request, protocol).expect_err("refused");
        assert_eq!(error.http_status(), status, "{error:?} for {request:?} {protocol:?}");
    }
    assert!(validate(&connect, Some("websocket")).is_ok());
}

#[test]
fn an_extended_connect_needs_a_2xx() -> TestResult {
    let hs = ClientRequest::new("ws://example.com/".parse()?).into_extended_connect()?;
    for status in [101, 403, 501] {
        let response = Response::builder().status(status).body(())?;
        assert_eq!(
            hs.validate_response(&response).err(),
            Some(HandshakeError::UnexpectedStatus { status: StatusCode::from_u16(status)?, extended_connect: true })
        );
    }
    let unexpected = Response::builder().status(200).header("sec-websocket-protocol", "x").body(())?;
    assert!(matches!(hs.validate_response(&unexpected), Err(HandshakeError::UnexpectedSubprotocol { .. })));
    Ok(())
}
