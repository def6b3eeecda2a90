//! The server's side of the opening handshake (RFC 6455 §4.2.1, §4.2.2):
//! validating the client's request, and building the 101 response or an
//! error response.
//!
//! Contract: [`validate_request`] enforces every MUST of §4.2.1 (plus a few
//! HTTP rules that stop request smuggling) and returns what the client
//! offered; the caller decides on a subprotocol (and extensions) and calls
//! [`accept_response`], or answers a failure with [`error_response`].

use bytes::Bytes;
use http::header::{
    CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS,
    SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Version};

use super::fields::{extension_name, is_token, list_contains, list_elements, split_top_level};
use super::key::is_valid_key;
use super::{HandshakeError, accept_key};

/// What a valid client request offered (RFC 6455 §4.2.1).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOffer {
    /// The `Sec-WebSocket-Key` value (whitespace trimmed), base64 of 16
    /// bytes; `None` for an extended CONNECT over HTTP/2 or HTTP/3, which
    /// has no key (RFC 8441 §5). It decides the form of the answer:
    /// 101 with `Sec-WebSocket-Accept`, or 200.
    pub key: Option<HeaderValue>,
    /// The subprotocols offered, in the client's order of preference, from
    /// all `Sec-WebSocket-Protocol` headers. Each is a token; none repeats.
    pub subprotocols: Vec<String>,
    /// The extension offers: raw `Sec-WebSocket-Extensions` elements
    /// (`name; params`), split at top-level commas, from all such headers, in
    /// order. Each name is a token; parameters are not parsed here.
    pub extensions: Vec<String>,
    /// The `Origin` header, if any (RFC 6455 §10.2: check it against an
    /// allow-list to stop cross-site WebSocket hijacking).
    pub origin: Option<HeaderValue>,
}

/// Checks a client's opening handshake and returns what it offered.
///
/// Every refusal is a [`HandshakeError`] whose
/// [`http_status`](HandshakeError::http_status) is 400, except a missing or
/// unsupported `Sec-WebSocket-Version`, which is 426. Answer it with
/// [`error_response`].
///
/// ```
/// use wsx_proto::handshake::{accept_response, validate_request};
/// let req = http::Request::get("/chat")
///     .header("host", "server.example.com")
///     .header("upgrade", "websocket")
///     .header("connection", "keep-alive, Upgrade")
///     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
///     .header("sec-websocket-protocol", "chat, superchat")
///     .header("sec-websocket-version", "13")
///     .body(())?;
/// let offer = validate_request(&req)?;
/// assert_eq!(offer.subprotocols, ["chat", "superchat"]);
/// let resp = accept_response(&offer, Some("chat"))?;
/// assert_eq!(resp.headers()["sec-websocket-accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// The first violation found, checked in this order: method, HTTP version,
/// request target, body, `Host`, `Upgrade`, `Connection`, `Sec-WebSocket-Key`,
/// `Sec-WebSocket-Version`, `Origin`, `Sec-WebSocket-Protocol`,
/// `Sec-WebSocket-Extensions`.
pub fn validate_request(req: &Request<()>) -> Result<ClientOffer, HandshakeError> {
    // RFC 6455 §4.2.1: "An HTTP/1.1 or higher GET request". A non-GET method
    // gets 400, as §4.2.1 suggests ("an appropriate error code (such as 400
    // Bad Request)"), rather than 405.
    if req.method() != Method::GET {
        return Err(HandshakeError::MethodNotGet { method: req.method().clone() });
    }
    if req.version() < Version::HTTP_11 {
        return Err(HandshakeError::HttpVersionTooOld { version: req.version() });
    }
    // RFC 6455 §4.2.1: the Request-URI "should be interpreted as a /resource
    // name/ ... (or an absolute HTTP/HTTPS URI containing the /resource
    // name/)": origin-form or absolute-form, never `*` or authority-form.
    if !req.uri().path().starts_with('/') {
        return Err(HandshakeError::InvalidRequestTarget);
    }
    let headers = req.headers();
    check_no_body(headers)?;
    // RFC 6455 §4.2.1: "A |Host| header field containing the server's
    // authority." RFC 9112 §3.2: a request with more than one Host is 400.
    if headers.get_all(HOST).iter().count() != 1 {
        return Err(HandshakeError::InvalidHost);
    }
    // RFC 6455 §4.2.1: "An |Upgrade| header field containing the value
    // "websocket", treated as an ASCII case-insensitive value."
    if !list_contains(headers, &UPGRADE, "websocket") {
        return Err(HandshakeError::UpgradeNotWebSocket);
    }
    // RFC 6455 §4.2.1: "A |Connection| header field that includes the token
    // "Upgrade", treated as an ASCII case-insensitive value."
    if !list_contains(headers, &CONNECTION, "upgrade") {
        return Err(HandshakeError::ConnectionNotUpgrade);
    }
    let key = client_key(headers)?;
    check_version(headers)?;
    offer(Some(key), headers)
}

/// Checks an extended CONNECT (RFC 8441 over HTTP/2, RFC 9220 over HTTP/3)
/// and returns what it offered. `protocol` is the `:protocol`
/// pseudo-header, which `http::Request` has no place for: the HTTP/2 or
/// HTTP/3 layer passes it in.
///
/// ```
/// use wsx_proto::handshake::{accept_response, validate_extended_connect};
/// let req = http::Request::connect("https://example.com/chat")
///     .version(http::Version::HTTP_2)
///     .header("sec-websocket-version", "13")
///     .header("sec-websocket-protocol", "chat")
///     .body(())?;
/// let offer = validate_extended_connect(&req, Some("websocket"))?;
/// assert_eq!(offer.key, None);
/// let resp = accept_response(&offer, Some("chat"))?;
/// assert_eq!(resp.status(), 200);
/// assert_eq!(resp.headers()["sec-websocket-protocol"], "chat");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`HandshakeError::MethodNotConnect`], [`HandshakeError::PlainConnect`]
/// (400), [`HandshakeError::UnsupportedProtocol`] (501),
/// [`HandshakeError::InvalidRequestTarget`] (no `:scheme`, `:authority` or
/// `:path`), [`HandshakeError::UnsupportedVersion`] (426), and the
/// `Origin`, `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions` errors
/// of [`validate_request`].
pub fn validate_extended_connect(req: &Request<()>, protocol: Option<&str>) -> Result<ClientOffer, HandshakeError> {
    // RFC 8441 §4: the :protocol pseudo-header "MAY be included on request
    // HEADERS indicating the desired protocol to be spoken on the tunnel
    // created by CONNECT" — on a CONNECT, and nothing else.
    if req.method() != Method::CONNECT {
        return Err(HandshakeError::MethodNotConnect { method: req.method().clone() });
    }
    match protocol {
        None => return Err(HandshakeError::PlainConnect),
        // RFC 8441 §5: "the :protocol pseudo-header field MUST be included
        // in the CONNECT request and it MUST have a value of websocket".
        Some(protocol) if protocol != "websocket" => {
            return Err(HandshakeError::UnsupportedProtocol { protocol: protocol.to_owned() });
        }
        Some(_) => {}
    }
    // RFC 8441 §4: "On requests that contain the :protocol pseudo-header
    // field, the :scheme and :path pseudo-header fields of the target URI
    // MUST also be included."
    let uri = req.uri();
    if uri.scheme().is_none() || uri.authority().is_none() || !uri.path().starts_with('/') {
        return Err(HandshakeError::InvalidRequestTarget);
    }
    let headers = req.headers();
    // RFC 8441 §5: "The Sec-WebSocket-Key and Sec-WebSocket-Accept header
    // fields are not used"; Sec-WebSocket-Version is, with RFC 6455's rule.
    check_version(headers)?;
    offer(None, headers)
}

/// The origin, subprotocols and extensions a request offers, either form.
fn offer(key: Option<HeaderValue>, headers: &HeaderMap) -> Result<ClientOffer, HandshakeError> {
    let mut origins = headers.get_all(ORIGIN).iter();
    let origin = origins.next().cloned();
    if origins.next().is_some() {
        return Err(HandshakeError::DuplicateOrigin);
    }
    Ok(ClientOffer {
        key,
        subprotocols: offered_subprotocols(headers)?,
        extensions: offered_extensions(headers)?,
        origin,
    })
}

/// Refuses a request that announces a body: bytes after the head would be
/// taken as WebSocket frames by us and as a body by an intermediary
/// (request smuggling).
fn check_no_body(headers: &HeaderMap) -> Result<(), HandshakeError> {
    if headers.contains_key(TRANSFER_ENCODING) {
        return Err(HandshakeError::RequestBody);
    }
    for value in headers.get_all(CONTENT_LENGTH) {
        let digits = value.as_bytes().trim_ascii();
        let zero = !digits.is_empty() && digits.iter().all(|&b| b == b'0');
        if !zero {
            return Err(HandshakeError::RequestBody);
        }
    }
    Ok(())
}

fn client_key(headers: &HeaderMap) -> Result<HeaderValue, HandshakeError> {
    let mut keys = headers.get_all(SEC_WEBSOCKET_KEY).iter();
    let key = match (keys.next(), keys.next()) {
        (None, _) => return Err(HandshakeError::MissingKey),
        (Some(_), Some(_)) => return Err(HandshakeError::DuplicateKey),
        (Some(key), None) => key.as_bytes().trim_ascii(),
    };
    // RFC 6455 §4.2.1: "A |Sec-WebSocket-Key| header field with a
    // base64-encoded (see Section 4 of [RFC4648]) value that, when decoded,
    // is 16 bytes in length."
    if !is_valid_key(key) {
        return Err(HandshakeError::InvalidKey);
    }
    HeaderValue::from_bytes(key).map_err(|_| HandshakeError::InvalidKey)
}

fn check_version(headers: &HeaderMap) -> Result<(), HandshakeError> {
    let mut versions = headers.get_all(SEC_WEBSOCKET_VERSION).iter();
    let first = versions.next();
    // RFC 6455 §4.2.1: "A |Sec-WebSocket-Version| header field, with a value
    // of 13." §4.2.2: "If this version does not match a version understood
    // by the server, the server MUST abort the WebSocket handshake ... and
    // instead send an appropriate HTTP error code (such as 426 Upgrade
    // Required) and a |Sec-WebSocket-Version| header field indicating the
    // version(s) the server is capable of understanding."
    match (first, versions.next()) {
        (Some(v), None) if v.as_bytes().trim_ascii() == b"13" => Ok(()),
        _ => Err(HandshakeError::UnsupportedVersion { found: first.cloned() }),
    }
}

fn offered_subprotocols(headers: &HeaderMap) -> Result<Vec<String>, HandshakeError> {
    let mut protocols: Vec<String> = Vec::new();
    for element in list_elements(headers, &SEC_WEBSOCKET_PROTOCOL) {
        // RFC 6455 §4.1: the elements "MUST be non-empty strings with
        // characters in the range U+0021 to U+007E not including separator
        // characters as defined in [RFC2616] and MUST all be unique strings."
        let protocol =
            std::str::from_utf8(element).ok().filter(|p| is_token(p)).ok_or(HandshakeError::InvalidSubprotocolList)?;
        if protocols.iter().any(|seen| seen == protocol) {
            return Err(HandshakeError::InvalidSubprotocolList);
        }
        protocols.push(protocol.to_owned());
    }
    Ok(protocols)
}

fn offered_extensions(headers: &HeaderMap) -> Result<Vec<String>, HandshakeError> {
    let mut offers = Vec::new();
    for value in headers.get_all(SEC_WEBSOCKET_EXTENSIONS) {
        let text = value.to_str().map_err(|_| HandshakeError::InvalidExtensionList)?;
        for element in split_top_level(text) {
            // RFC 6455 §9.1: extension-list = 1#extension;
            // extension = extension-token *( ";" extension-param )
            if extension_name(element).is_none() {
                return Err(HandshakeError::InvalidExtensionList);
            }
            offers.push(element.to_owned());
        }
    }
    Ok(offers)
}

/// The response accepting `offer`, with `subprotocol` as the chosen
/// subprotocol (or none): 101 with `Sec-WebSocket-Accept` for an HTTP/1.1
/// upgrade, 200 for an extended CONNECT (`offer.key` is `None`).
///
/// To accept extensions, use [`accept_response_with_extensions`].
///
/// # Errors
/// [`HandshakeError::SubprotocolNotOffered`] if `subprotocol` is not one of
/// `offer.subprotocols` (a bug in the caller).
pub fn accept_response(offer: &ClientOffer, subprotocol: Option<&str>) -> Result<Response<()>, HandshakeError> {
    let mut resp = Response::new(());
    *resp.status_mut() = if offer.key.is_some() { StatusCode::SWITCHING_PROTOCOLS } else { StatusCode::OK };
    let headers = resp.headers_mut();
    // RFC 8441 §5: an extended CONNECT is answered with a 2xx and no
    // Upgrade, Connection or Sec-WebSocket-Accept (HTTP/2 has no
    // connection-specific headers, and no key was sent).
    if let Some(key) = &offer.key {
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        let accept = HeaderValue::from_str(&accept_key(key.as_bytes())).map_err(|_| HandshakeError::InvalidKey)?;
        headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(protocol) = subprotocol {
        // RFC 6455 §4.2.2: "The value chosen MUST be derived from the
        // client's handshake, specifically by selecting one of the values
        // from the |Sec-WebSocket-Protocol| field that the server is willing
        // to use for this connection (if any)."
        if !offer.subprotocols.iter().any(|offered| offered == protocol) {
            return Err(HandshakeError::SubprotocolNotOffered { protocol: protocol.to_owned() });
        }
        let value = HeaderValue::from_str(protocol)
            .map_err(|_| HandshakeError::SubprotocolNotOffered { protocol: protocol.to_owned() })?;
        headers.insert(SEC_WEBSOCKET_PROTOCOL, value);
    }
    Ok(resp)
}

/// The response accepting `offer` (see [`accept_response`]) with `subprotocol` and the accepted
/// `extensions`: elements such as
/// [`DeflateParams::to_string`](crate::extension::DeflateParams), written
/// in order into one `Sec-WebSocket-Extensions` header (none if empty).
///
/// ```
/// use wsx_proto::extension::{negotiate_server, DeflateConfig};
/// use wsx_proto::handshake::{accept_response_with_extensions, validate_request};
/// let req = http::Request::get("/")
///     .header("host", "h")
///     .header("upgrade", "websocket")
///     .header("connection", "Upgrade")
///     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
///     .header("sec-websocket-version", "13")
///     .header("sec-websocket-extensions", "permessage-deflate; client_max_window_bits")
///     .body(())?;
/// let offer = validate_request(&req)?;
/// let agreed = negotiate_server(&DeflateConfig::default(), offer.extensions.iter().map(String::as_str));
/// let elements: Vec<String> = agreed.iter().map(ToString::to_string).collect();
/// let resp = accept_response_with_extensions(&offer, None, &elements)?;
/// assert_eq!(resp.headers()["sec-websocket-extensions"], "permessage-deflate");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`accept_response`], and [`HandshakeError::ExtensionNotOffered`] if
/// an element names an extension the client did not offer (RFC 6455 §9.1:
/// the server's list comes from the client's) or is not a valid header value.
pub fn accept_response_with_extensions<S: AsRef<str>>(
    offer: &ClientOffer,
    subprotocol: Option<&str>,
    extensions: &[S],
) -> Result<Response<()>, HandshakeError> {
    let mut resp = accept_response(offer, subprotocol)?;
    if extensions.is_empty() {
        return Ok(resp);
    }
    for element in extensions {
        let element = element.as_ref();
        let not_offered = || HandshakeError::ExtensionNotOffered { name: element.to_owned() };
        let name = extension_name(element).ok_or_else(not_offered)?;
        let offered = offer.extensions.iter().filter_map(|o| extension_name(o)).any(|o| o.eq_ignore_ascii_case(name));
        if !offered {
            return Err(HandshakeError::ExtensionNotOffered { name: name.to_owned() });
        }
    }
    let joined = extensions.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(", ");
    let value =
        HeaderValue::from_str(&joined).map_err(|_| HandshakeError::ExtensionNotOffered { name: joined.clone() })?;
    resp.headers_mut().insert(SEC_WEBSOCKET_EXTENSIONS, value);
    Ok(resp)
}

/// The response refusing a handshake that failed with `err`, and its body.
///
/// The status is [`err.http_status()`](HandshakeError::http_status); the
/// body is the error's message as `text/plain`; the connection is closed
/// after it (`Connection: close`). A 426 also carries `Upgrade: websocket`,
/// `Connection: Upgrade, close` (RFC 9110 §15.5.22 and §7.8 require the
/// Upgrade header and the `upgrade` option in a 426) and
/// `Sec-WebSocket-Version: 13` (RFC 6455 §4.2.2).
///
/// ```
/// use wsx_proto::handshake::{error_response, HandshakeError};
/// let (resp, body) = error_response(&HandshakeError::MissingKey);
/// assert_eq!(resp.status(), 400);
/// assert_eq!(resp.headers()["connection"], "close");
/// assert_eq!(&body[..], b"missing Sec-WebSocket-Key header\n");
/// ```
pub fn error_response(err: &HandshakeError) -> (Response<()>, Bytes) {
    let status = err.http_status();
    let body = Bytes::from(format!("{err}\n"));
    let mut resp = Response::new(());
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    if status == StatusCode::UPGRADE_REQUIRED {
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(CONNECTION, HeaderValue::from_static("Upgrade, close"));
        headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    } else {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    (resp, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for &(name, value) in pairs {
            map.append(name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn zero_content_length_in_any_spelling_is_no_body() {
        assert_eq!(check_no_body(&headers(&[("content-length", "000")])), Ok(()));
        assert_eq!(check_no_body(&headers(&[])), Ok(()));
        for bad in ["", "+0", "-0", "0x0", "1"] {
            let map = headers(&[("content-length", bad)]);
            assert_eq!(check_no_body(&map), Err(HandshakeError::RequestBody), "{bad:?}");
        }
    }

    #[test]
    fn version_must_be_exactly_13() {
        assert_eq!(check_version(&headers(&[("sec-websocket-version", " 13 ")])), Ok(()));
        for bad in ["013", "13.0", "1 3"] {
            let map = headers(&[("sec-websocket-version", bad)]);
            assert!(check_version(&map).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn key_is_trimmed() -> Result<(), HandshakeError> {
        let map = headers(&[("sec-websocket-key", " dGhlIHNhbXBsZSBub25jZQ== ")]);
        assert_eq!(client_key(&map)?, "dGhlIHNhbXBsZSBub25jZQ==");
        Ok(())
    }

    #[test]
    fn non_origin_form_targets_are_refused() -> Result<(), http::Error> {
        for target in ["*", "example.com:80"] {
            let req = Request::get(target).body(())?;
            assert_eq!(validate_request(&req), Err(HandshakeError::InvalidRequestTarget));
        }
        // Absolute-form gets past the target check (and fails later).
        let req = Request::get("http://example.com/chat").body(())?;
        assert_eq!(validate_request(&req), Err(HandshakeError::InvalidHost));
        Ok(())
    }

    #[test]
    fn error_response_is_plain_text_and_closes() {
        let (resp, body) = error_response(&HandshakeError::UpgradeNotWebSocket);
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(resp.headers()[CONNECTION], "close");
        assert_eq!(resp.headers()[CONTENT_LENGTH], body.len().to_string().as_str());
        assert!(!resp.headers().contains_key(SEC_WEBSOCKET_VERSION));
        assert_eq!(&body[..], b"Upgrade header does not contain \"websocket\"\n");
    }
}
