//! The client's side of the opening handshake (RFC 6455 §4.1): building the
//! upgrade request and validating the server's response.
//!
//! Contract: [`ClientRequest`] collects what the caller wants to offer;
//! [`ClientRequest::into_handshake`] checks it and produces a
//! [`ClientHandshake`] holding the request and what was offered;
//! [`ClientHandshake::validate_response`] applies every MUST of §4.1 to the
//! server's answer and reports what was agreed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::BytesMut;
use http::header::{
    AUTHORIZATION, CONNECTION, CONTENT_LENGTH, HOST, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_EXTENSIONS,
    SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, Uri};
use rand_core::RngCore;

use super::fields::{extension_name, is_token, list_contains, list_elements, split_top_level};
use super::{HandshakeError, accept_key, encode_request, generate_key};
use crate::uri::WsUri;

/// Headers the handshake sets itself; [`ClientRequest::header`] refuses them.
///
/// Besides the five of RFC 6455 §4.1 (`Host`, `Upgrade`, `Connection`,
/// `Sec-WebSocket-Key`, `Sec-WebSocket-Version`), `Origin`,
/// `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions` have their own
/// builder methods (the response is checked against what they offered), and
/// `Content-Length` / `Transfer-Encoding` would announce a body an upgrade
/// request must not have.
pub const RESERVED_REQUEST_HEADERS: [HeaderName; 10] = [
    HOST,
    UPGRADE,
    CONNECTION,
    SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_VERSION,
    ORIGIN,
    SEC_WEBSOCKET_PROTOCOL,
    SEC_WEBSOCKET_EXTENSIONS,
    CONTENT_LENGTH,
    TRANSFER_ENCODING,
];

/// What a client wants to ask for in its opening handshake; a builder.
///
/// Nothing is checked until [`into_handshake`](Self::into_handshake), so the
/// builder methods chain without `?`.
///
/// ```
/// use wsx_proto::handshake::ClientRequest;
/// let handshake = ClientRequest::new("ws://example.com/chat".parse()?)
///     .origin("https://example.com")
///     .subprotocol("chat.v2")
///     .header(http::header::USER_AGENT, http::HeaderValue::from_static("wsx"))
///     .into_handshake(&mut rand::rng())?;
/// assert_eq!(handshake.request().uri(), "/chat");
/// assert_eq!(handshake.request().headers()["host"], "example.com");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientRequest {
    uri: WsUri,
    host: Option<String>,
    origin: Option<String>,
    subprotocols: Vec<String>,
    extensions: Vec<String>,
    headers: HeaderMap,
}

impl ClientRequest {
    /// A request for `uri` with no origin, subprotocols, extensions or extra
    /// headers.
    pub fn new(uri: WsUri) -> Self {
        ClientRequest {
            uri,
            host: None,
            origin: None,
            subprotocols: Vec::new(),
            extensions: Vec::new(),
            headers: HeaderMap::new(),
        }
    }

    /// The URI this request is for.
    pub fn uri(&self) -> &WsUri {
        &self.uri
    }

    /// The same request for another URI (following a redirect); origin,
    /// offers and extra headers are kept, a [`host`](Self::host) override
    /// is dropped (it named the old URI's server).
    pub fn with_uri(mut self, uri: WsUri) -> Self {
        self.uri = uri;
        self.host = None;
        self
    }

    /// Sends this `Host` header instead of the URI's authority: a virtual
    /// host reached by address, or a server behind a port forward. Only the
    /// header changes; the connection (and the TLS server name) still
    /// follow the URI. Checked by [`into_handshake`](Self::into_handshake).
    ///
    /// ```
    /// use wsx_proto::handshake::ClientRequest;
    /// let handshake = ClientRequest::new("ws://127.0.0.1:8080/chat".parse()?)
    ///     .host("chat.example.com")
    ///     .into_handshake(&mut rand::rng())?;
    /// assert_eq!(handshake.request().headers()["host"], "chat.example.com");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Sets the `Origin` header (RFC 6455 §4.1, §10.2; required for browser
    /// clients, optional otherwise).
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Offers one more subprotocol; offers are sent in the order given (most
    /// preferred first). Each must be a token and appear once.
    pub fn subprotocol(mut self, protocol: impl Into<String>) -> Self {
        self.subprotocols.push(protocol.into());
        self
    }

    /// Offers several subprotocols, in order of preference.
    pub fn subprotocols<I, S>(mut self, protocols: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subprotocols.extend(protocols.into_iter().map(Into::into));
        self
    }

    /// Offers an extension: one raw `Sec-WebSocket-Extensions` value such as
    /// `"permessage-deflate; client_max_window_bits"`. The names offered are
    /// remembered, and a response accepting any other name is refused.
    pub fn extension(mut self, offer: impl Into<String>) -> Self {
        self.extensions.push(offer.into());
        self
    }

    /// Adds an extra header (appended, so a name may repeat). Reserved names
    /// ([`RESERVED_REQUEST_HEADERS`]) are refused by
    /// [`into_handshake`](Self::into_handshake).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// [`header`](Self::header) from strings, checked: CR, LF and NUL are
    /// refused, as are invalid names.
    ///
    /// # Errors
    /// [`HandshakeError::InvalidHeaderName`] or
    /// [`HandshakeError::InvalidHeaderValue`].
    pub fn header_str(self, name: &str, value: &str) -> Result<Self, HandshakeError> {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| HandshakeError::InvalidHeaderName)?;
        let value =
            HeaderValue::from_str(value).map_err(|_| HandshakeError::InvalidHeaderValue { name: name.clone() })?;
        Ok(self.header(name, value))
    }

    /// The extra headers, to edit in place.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// Checks the request and builds the handshake, drawing the
    /// `Sec-WebSocket-Key` nonce from `rng`.
    ///
    /// If the URI has userinfo and no `Authorization` header was given,
    /// `Authorization: Basic base64(user:password)` is added (userinfo is
    /// used as written, without percent-decoding).
    ///
    /// # Errors
    /// [`HandshakeError::InvalidSubprotocol`],
    /// [`HandshakeError::DuplicateSubprotocol`],
    /// [`HandshakeError::InvalidExtensionOffer`],
    /// [`HandshakeError::ReservedHeader`],
    /// [`HandshakeError::InvalidHeaderValue`] (an origin that is not a valid
    /// header value, or an extra header value containing CR, LF or NUL), or
    /// [`HandshakeError::InvalidResourceName`].
    pub fn into_handshake(self, rng: &mut dyn RngCore) -> Result<ClientHandshake, HandshakeError> {
        let extension_names = self.check()?;
        let target = Uri::try_from(self.uri.resource_name()).map_err(|_| HandshakeError::InvalidResourceName)?;
        let key = generate_key(rng);
        let mut headers = HeaderMap::new();
        // RFC 6455 §4.1: "The request MUST contain a |Host| header field whose
        // value contains /host/ plus optionally ":" followed by /port/ (when
        // not using the default port)."
        let host = self.host.clone().unwrap_or_else(|| self.uri.host_header());
        push(&mut headers, HOST, value(HOST, &host)?)?;
        // RFC 6455 §4.1: "The request MUST contain an |Upgrade| header field
        // whose value MUST include the "websocket" keyword."
        push(&mut headers, UPGRADE, HeaderValue::from_static("websocket"))?;
        // RFC 6455 §4.1: "The request MUST contain a |Connection| header
        // field whose value MUST include the "Upgrade" token."
        push(&mut headers, CONNECTION, HeaderValue::from_static("Upgrade"))?;
        // RFC 6455 §4.1: "The request MUST include a header field with the
        // name |Sec-WebSocket-Key|."
        push(&mut headers, SEC_WEBSOCKET_KEY, key.clone())?;
        self.push_offer(&mut headers)?;
        let mut request = Request::new(());
        *request.uri_mut() = target;
        *request.headers_mut() = headers;
        Ok(ClientHandshake { request, key: Some(key), subprotocols: self.subprotocols, extension_names })
    }

    /// Checks the request and builds an extended CONNECT (RFC 8441 §5 over
    /// HTTP/2, RFC 9220 over HTTP/3): method `CONNECT`, the target as
    /// `:scheme` (`https` for `wss://`, `http` for `ws://`), `:authority`
    /// (the [`host`](Self::host) override, if any) and `:path`, and the
    /// offer's headers, without `Host`, `Upgrade`, `Connection` or a key.
    /// The HTTP/2 or HTTP/3 layer adds `:protocol: websocket`, which
    /// `http::Request` has no place for.
    ///
    /// ```
    /// use wsx_proto::handshake::ClientRequest;
    /// let handshake = ClientRequest::new("wss://example.com/chat?room=1".parse()?)
    ///     .subprotocol("chat")
    ///     .into_extended_connect()?;
    /// let request = handshake.request();
    /// assert_eq!(request.method(), http::Method::CONNECT);
    /// assert_eq!(request.uri(), "https://example.com/chat?room=1");
    /// assert_eq!(request.headers()["sec-websocket-version"], "13");
    /// assert!(request.headers().get("sec-websocket-key").is_none());
    /// let ok = http::Response::builder().status(200).header("sec-websocket-protocol", "chat").body(())?;
    /// assert_eq!(handshake.validate_response(&ok)?.subprotocol.as_deref(), Some("chat"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`into_handshake`](Self::into_handshake).
    pub fn into_extended_connect(self) -> Result<ClientHandshake, HandshakeError> {
        let extension_names = self.check()?;
        let scheme = if self.uri.is_secure() { "https" } else { "http" };
        let authority = self.host.clone().unwrap_or_else(|| self.uri.host_header());
        let target = Uri::try_from(format!("{scheme}://{authority}{}", self.uri.resource_name()))
            .map_err(|_| HandshakeError::InvalidResourceName)?;
        let mut headers = HeaderMap::new();
        self.push_offer(&mut headers)?;
        let mut request = Request::new(());
        *request.method_mut() = http::Method::CONNECT;
        *request.version_mut() = http::Version::HTTP_2;
        *request.uri_mut() = target;
        *request.headers_mut() = headers;
        Ok(ClientHandshake { request, key: None, subprotocols: self.subprotocols, extension_names })
    }

    /// The checks shared by both forms; returns the extension names offered.
    fn check(&self) -> Result<Vec<String>, HandshakeError> {
        check_subprotocols(&self.subprotocols)?;
        let extension_names = check_extension_offers(&self.extensions)?;
        check_extra_headers(&self.headers)?;
        Ok(extension_names)
    }

    /// The headers both forms send: version, origin, offers, credentials
    /// and the caller's own.
    fn push_offer(&self, headers: &mut HeaderMap) -> Result<(), HandshakeError> {
        // RFC 6455 §4.1: "The request MUST include a header field with the
        // name |Sec-WebSocket-Version|. The value of this header field MUST
        // be 13." (RFC 8441 §5 keeps it.)
        push(headers, SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"))?;
        if let Some(origin) = &self.origin {
            push(headers, ORIGIN, value(ORIGIN, origin)?)?;
        }
        if !self.subprotocols.is_empty() {
            let joined = self.subprotocols.join(", ");
            push(headers, SEC_WEBSOCKET_PROTOCOL, value(SEC_WEBSOCKET_PROTOCOL, &joined)?)?;
        }
        if !self.extensions.is_empty() {
            let joined = self.extensions.join(", ");
            push(headers, SEC_WEBSOCKET_EXTENSIONS, value(SEC_WEBSOCKET_EXTENSIONS, &joined)?)?;
        }
        if let (Some(user), false) = (self.uri.username(), self.headers.contains_key(AUTHORIZATION)) {
            let credentials = format!("{user}:{}", self.uri.password().unwrap_or(""));
            let basic = format!("Basic {}", STANDARD.encode(credentials));
            let mut basic = value(AUTHORIZATION, &basic)?;
            // Keeps the credentials out of `Debug` output and HPACK tables.
            basic.set_sensitive(true);
            push(headers, AUTHORIZATION, basic)?;
        }
        for (name, extra) in &self.headers {
            push(headers, name.clone(), extra.clone())?;
        }
        Ok(())
    }
}

fn value(name: HeaderName, text: &str) -> Result<HeaderValue, HandshakeError> {
    HeaderValue::from_str(text).map_err(|_| HandshakeError::InvalidHeaderValue { name })
}

/// Appends without the panic `HeaderMap::append` has past 32,768 entries.
fn push(headers: &mut HeaderMap, name: HeaderName, value: HeaderValue) -> Result<(), HandshakeError> {
    headers.try_append(name, value).map(|_| ()).map_err(|_| HandshakeError::TooManyHeaders { limit: headers.len() })
}

fn check_subprotocols(protocols: &[String]) -> Result<(), HandshakeError> {
    for (i, protocol) in protocols.iter().enumerate() {
        // RFC 6455 §4.1: "The elements that comprise this value MUST be
        // non-empty strings with characters in the range U+0021 to U+007E not
        // including separator characters as defined in [RFC2616] and MUST all
        // be unique strings."
        if !is_token(protocol) {
            return Err(HandshakeError::InvalidSubprotocol { protocol: protocol.clone() });
        }
        if protocols.iter().take(i).any(|earlier| earlier == protocol) {
            return Err(HandshakeError::DuplicateSubprotocol { protocol: protocol.clone() });
        }
    }
    Ok(())
}

/// Checks each raw offer and returns the extension names offered.
fn check_extension_offers(offers: &[String]) -> Result<Vec<String>, HandshakeError> {
    let mut names = Vec::new();
    for offer in offers {
        let invalid = || HandshakeError::InvalidExtensionOffer { offer: offer.clone() };
        HeaderValue::from_str(offer).map_err(|_| invalid())?;
        let elements = split_top_level(offer);
        if elements.is_empty() {
            return Err(invalid());
        }
        for element in elements {
            let name = extension_name(element).ok_or_else(invalid)?;
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

fn check_extra_headers(headers: &HeaderMap) -> Result<(), HandshakeError> {
    for (name, value) in headers {
        if RESERVED_REQUEST_HEADERS.contains(name) {
            return Err(HandshakeError::ReservedHeader { name: name.clone() });
        }
        // `HeaderValue` refuses CR and LF when built safely; check again, and
        // for NUL, so that no value can split the head or confuse a peer.
        if value.as_bytes().iter().any(|&b| matches!(b, b'\r' | b'\n' | b'\0')) {
            return Err(HandshakeError::InvalidHeaderValue { name: name.clone() });
        }
    }
    Ok(())
}

/// A client's opening handshake in flight: the request to send and what it
/// offered, to check the response against.
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    request: Request<()>,
    /// `None` for an extended CONNECT.
    key: Option<HeaderValue>,
    subprotocols: Vec<String>,
    extension_names: Vec<String>,
}

/// What the server agreed to in a valid response.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientAccepted {
    /// The subprotocol the server chose (one of those offered), if any.
    pub subprotocol: Option<String>,
    /// The accepted extensions: raw `Sec-WebSocket-Extensions` elements
    /// (`name; params`), split at top-level commas, in the server's order.
    /// Each name was offered.
    pub extensions: Vec<String>,
}

impl ClientHandshake {
    /// The request to send.
    pub fn request(&self) -> &Request<()> {
        &self.request
    }

    /// The `Sec-WebSocket-Key` sent; `None` for an extended CONNECT, which
    /// has none.
    pub fn key(&self) -> Option<&HeaderValue> {
        self.key.as_ref()
    }

    /// The subprotocols offered, in order.
    pub fn offered_subprotocols(&self) -> &[String] {
        &self.subprotocols
    }

    /// The names of the extensions offered.
    pub fn offered_extensions(&self) -> &[String] {
        &self.extension_names
    }

    /// Appends the request head to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        encode_request(&self.request, out);
    }

    /// Applies RFC 6455 §4.1's checks to the server's response.
    ///
    /// ```
    /// use wsx_proto::handshake::{accept_key, ClientRequest};
    /// let hs = ClientRequest::new("ws://h/".parse()?).into_handshake(&mut rand::rng())?;
    /// let resp = http::Response::builder()
    ///     .status(101)
    ///     .header("upgrade", "websocket")
    ///     .header("connection", "Upgrade")
    ///     .header("sec-websocket-accept", accept_key(hs.key().ok_or("no key")?.as_bytes()))
    ///     .body(())?;
    /// let accepted = hs.validate_response(&resp)?;
    /// assert_eq!(accepted.subprotocol, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`HandshakeError::UnexpectedStatus`],
    /// [`HandshakeError::ResponseUpgradeNotWebSocket`],
    /// [`HandshakeError::ResponseConnectionNotUpgrade`],
    /// [`HandshakeError::MissingAccept`], [`HandshakeError::AcceptMismatch`],
    /// [`HandshakeError::UnexpectedExtension`],
    /// [`HandshakeError::UnexpectedSubprotocol`],
    /// [`HandshakeError::MultipleSubprotocols`] or
    /// [`HandshakeError::InvalidHeaderValue`] (a non-ASCII extension or
    /// subprotocol value).
    pub fn validate_response(&self, resp: &Response<()>) -> Result<ClientAccepted, HandshakeError> {
        let Some(key) = &self.key else {
            // RFC 8441 §5: the server accepts an extended CONNECT with a
            // 2xx; there is no Upgrade, Connection or Accept to check.
            if !resp.status().is_success() {
                return Err(HandshakeError::UnexpectedStatus { status: resp.status(), extended_connect: true });
            }
            return self.accepted(resp.headers());
        };
        // RFC 6455 §4.1: "If the status code received from the server is not
        // 101, the client handles the response per HTTP [RFC2616]
        // procedures."
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return Err(HandshakeError::UnexpectedStatus { status: resp.status(), extended_connect: false });
        }
        let headers = resp.headers();
        // RFC 6455 §4.1: "If the response lacks an |Upgrade| header field or
        // the |Upgrade| header field contains a value that is not an ASCII
        // case-insensitive match for the value "websocket", the client MUST
        // _Fail the WebSocket Connection_."
        let mut upgrade = list_elements(headers, &UPGRADE).peekable();
        if upgrade.peek().is_none() || !upgrade.all(|e| e.eq_ignore_ascii_case(b"websocket")) {
            return Err(HandshakeError::ResponseUpgradeNotWebSocket);
        }
        // RFC 6455 §4.1: "If the response lacks a |Connection| header field
        // or the |Connection| header field doesn't contain a token that is an
        // ASCII case-insensitive match for the value "Upgrade", the client
        // MUST _Fail the WebSocket Connection_."
        if !list_contains(headers, &CONNECTION, "upgrade") {
            return Err(HandshakeError::ResponseConnectionNotUpgrade);
        }
        check_accept(key, headers)?;
        self.accepted(headers)
    }

    /// The extensions and subprotocol of an accepting response, checked
    /// against the offer.
    fn accepted(&self, headers: &HeaderMap) -> Result<ClientAccepted, HandshakeError> {
        let extensions = self.accepted_extensions(headers)?;
        let subprotocol = self.accepted_subprotocol(headers)?;
        Ok(ClientAccepted { subprotocol, extensions })
    }

    fn accepted_extensions(&self, headers: &HeaderMap) -> Result<Vec<String>, HandshakeError> {
        let mut accepted = Vec::new();
        for value in headers.get_all(SEC_WEBSOCKET_EXTENSIONS) {
            let text =
                value.to_str().map_err(|_| HandshakeError::InvalidHeaderValue { name: SEC_WEBSOCKET_EXTENSIONS })?;
            for element in split_top_level(text) {
                // RFC 6455 §4.1: "If the response includes a
                // |Sec-WebSocket-Extensions| header field and this header
                // field indicates the use of an extension that was not present
                // in the client's handshake ..., the client MUST _Fail the
                // WebSocket Connection_."
                let offered = extension_name(element)
                    .filter(|name| self.extension_names.iter().any(|o| o.eq_ignore_ascii_case(name)));
                if offered.is_none() {
                    let name = extension_name(element).unwrap_or(element).to_owned();
                    return Err(HandshakeError::UnexpectedExtension { name });
                }
                accepted.push(element.to_owned());
            }
        }
        Ok(accepted)
    }

    fn accepted_subprotocol(&self, headers: &HeaderMap) -> Result<Option<String>, HandshakeError> {
        let mut values = headers.get_all(SEC_WEBSOCKET_PROTOCOL).iter();
        let value = match (values.next(), values.next()) {
            (None, _) => return Ok(None),
            (Some(value), None) => value,
            (Some(_), Some(_)) => return Err(HandshakeError::MultipleSubprotocols),
        };
        let text = value.to_str().map_err(|_| HandshakeError::InvalidHeaderValue { name: SEC_WEBSOCKET_PROTOCOL })?;
        // RFC 6455 §4.2.2: the server selects "one of the values from the
        // |Sec-WebSocket-Protocol| field" — a single value, never a list.
        if text.contains(',') {
            return Err(HandshakeError::MultipleSubprotocols);
        }
        let protocol = text.trim();
        // RFC 6455 §4.1: "If the response includes a |Sec-WebSocket-Protocol|
        // header field and this header field indicates the use of a
        // subprotocol that was not present in the client's handshake ..., the
        // client MUST _Fail the WebSocket Connection_."
        if !self.subprotocols.iter().any(|offered| offered == protocol) {
            return Err(HandshakeError::UnexpectedSubprotocol { protocol: protocol.to_owned() });
        }
        Ok(Some(protocol.to_owned()))
    }
}

/// RFC 6455 §4.1's check of `Sec-WebSocket-Accept` against the key sent.
fn check_accept(key: &HeaderValue, headers: &HeaderMap) -> Result<(), HandshakeError> {
    let mut values = headers.get_all(SEC_WEBSOCKET_ACCEPT).iter();
    let (Some(accept), None) = (values.next(), values.next()) else {
        return Err(HandshakeError::MissingAccept);
    };
    // RFC 6455 §4.1: "If the response lacks a |Sec-WebSocket-Accept|
    // header field or the |Sec-WebSocket-Accept| contains a value other
    // than the base64-encoded SHA-1 of the concatenation of the
    // |Sec-WebSocket-Key| (as a string, not base64-decoded) with the
    // string "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" but ignoring any
    // leading and trailing whitespace, the client MUST _Fail the
    // WebSocket Connection_."
    let expected = accept_key(key.as_bytes());
    if accept.as_bytes().trim_ascii() != expected.as_bytes() {
        return Err(HandshakeError::AcceptMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn extension_offer_names() -> Result<(), HandshakeError> {
        let offers = strings(&["permessage-deflate; client_max_window_bits, x-a", "x-b; q=\"a,b\""]);
        assert_eq!(check_extension_offers(&offers)?, ["permessage-deflate", "x-a", "x-b"]);
        Ok(())
    }

    #[test]
    fn subprotocol_rules() {
        assert_eq!(check_subprotocols(&strings(&["a", "b"])), Ok(()));
        // Unique means byte-for-byte: case differs, so both are allowed.
        assert_eq!(check_subprotocols(&strings(&["a", "A"])), Ok(()));
        assert!(check_subprotocols(&strings(&["a,b"])).is_err());
    }

    #[test]
    fn generated_authorization_is_sensitive() -> Result<(), Box<dyn std::error::Error>> {
        let uri: WsUri = "ws://u:p@h/".parse()?;
        let hs = ClientRequest::new(uri).into_handshake(&mut Zero)?;
        let auth = hs.request().headers().get(AUTHORIZATION).ok_or("no authorization")?;
        assert!(auth.is_sensitive());
        assert!(!format!("{hs:?}").contains("dTpw"));
        Ok(())
    }

    #[test]
    fn host_override_is_checked_and_dropped_by_a_redirect() -> Result<(), Box<dyn std::error::Error>> {
        let request = ClientRequest::new("ws://10.0.0.1:8080/".parse()?).host("app.example:8080");
        let hs = request.clone().into_handshake(&mut Zero)?;
        assert_eq!(hs.request().headers().get_all(HOST).iter().collect::<Vec<_>>(), ["app.example:8080"]);
        let moved = request.with_uri("ws://other.example/".parse()?).into_handshake(&mut Zero)?;
        assert_eq!(moved.request().headers()[HOST], "other.example");
        let refused = ClientRequest::new("ws://h/".parse()?).host("evil\r\nx: y").into_handshake(&mut Zero);
        assert!(matches!(refused, Err(HandshakeError::InvalidHeaderValue { name }) if name == HOST));
        Ok(())
    }

    struct Zero;

    impl RngCore for Zero {
        fn next_u32(&mut self) -> u32 {
            0
        }
        fn next_u64(&mut self) -> u64 {
            0
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            dst.fill(0);
        }
    }
}
