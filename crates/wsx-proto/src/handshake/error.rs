//! Opening-handshake errors (RFC 6455 §4.1, §4.2.1, §4.2.2) and the one table
//! that turns them into HTTP statuses.
//!
//! Contract: every way a handshake can fail — a malformed or oversized HTTP
//! head, a client request a server must refuse, a server response a client
//! must fail, or a caller's misuse of the API — is one variant of
//! [`HandshakeError`], and [`HandshakeError::http_status`] is the single,
//! exhaustive mapping from variant to status.

use http::{HeaderName, HeaderValue, Method, StatusCode, Version};

/// Why an opening handshake failed.
///
/// Variants are grouped by where they arise:
/// - parsing an HTTP head ([`parse_request`](super::parse_request),
///   [`parse_response`](super::parse_response));
/// - a server validating a client's request ([`validate_request`](super::validate_request));
/// - a client validating the server's response
///   ([`ClientHandshake::validate_response`](super::ClientHandshake::validate_response));
/// - the caller misusing the API (building a request, choosing a subprotocol).
///
/// [`http_status`](Self::http_status) tells a server what to answer.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    // ----- HTTP head parsing -------------------------------------------------
    /// The head (request or status line plus headers) did not end within
    /// `limit` bytes.
    #[error("HTTP head larger than {limit} bytes")]
    HeadTooLarge {
        /// The configured `max_head_bytes`.
        limit: usize,
    },
    /// The head has more than `limit` header fields.
    #[error("more than {limit} HTTP header fields")]
    TooManyHeaders {
        /// The configured `max_headers`.
        limit: usize,
    },
    /// The bytes are not an HTTP/1.x head (bad request line, bad header line,
    /// bad status code…).
    #[error("malformed HTTP head: {reason}")]
    MalformedHead {
        /// What the parser rejected.
        reason: &'static str,
    },
    /// The request target is not a valid URI.
    #[error("invalid request target")]
    InvalidRequestTarget,
    /// A header name the `http` crate refuses.
    #[error("invalid header name")]
    InvalidHeaderName,
    /// A header value that contains a forbidden byte (CR, LF, NUL or another
    /// control character), or that must be visible ASCII and is not.
    #[error("invalid value for header {name}")]
    InvalidHeaderValue {
        /// The header whose value was refused.
        name: HeaderName,
    },

    // ----- server side: the client's request (RFC 6455 §4.2.1) ---------------
    /// The method is not `GET`.
    #[error("method {method} is not GET")]
    MethodNotGet {
        /// The method received.
        method: Method,
    },
    /// An HTTP/2 or HTTP/3 request with `:protocol` whose method is not
    /// `CONNECT` (RFC 8441 §4: `:protocol` belongs to an extended CONNECT).
    #[error("method {method} is not CONNECT")]
    MethodNotConnect {
        /// The method received.
        method: Method,
    },
    /// A `CONNECT` without `:protocol`: a tunnel request, which a WebSocket
    /// server does not serve (RFC 9113 §8.5).
    #[error("CONNECT without :protocol (this server opens no tunnels)")]
    PlainConnect,
    /// An extended CONNECT for a protocol other than `websocket` (RFC 8441 §4).
    #[error("unsupported :protocol {protocol:?}")]
    UnsupportedProtocol {
        /// The `:protocol` received.
        protocol: String,
    },
    /// The HTTP version is below 1.1.
    #[error("HTTP version {version:?} is below HTTP/1.1")]
    HttpVersionTooOld {
        /// The version received.
        version: Version,
    },
    /// No `Host` header, or more than one.
    #[error("request needs exactly one Host header")]
    InvalidHost,
    /// The `Upgrade` header is missing or does not list `websocket`.
    #[error("Upgrade header does not contain \"websocket\"")]
    UpgradeNotWebSocket,
    /// The `Connection` header is missing or lacks the `upgrade` token.
    #[error("Connection header does not contain the \"upgrade\" token")]
    ConnectionNotUpgrade,
    /// No `Sec-WebSocket-Key` header.
    #[error("missing Sec-WebSocket-Key header")]
    MissingKey,
    /// More than one `Sec-WebSocket-Key` header.
    #[error("more than one Sec-WebSocket-Key header")]
    DuplicateKey,
    /// The `Sec-WebSocket-Key` value is not base64 of exactly 16 bytes.
    #[error("Sec-WebSocket-Key is not base64 of 16 bytes")]
    InvalidKey,
    /// `Sec-WebSocket-Version` is missing or not exactly `13`; answered with
    /// 426 and `Sec-WebSocket-Version: 13`.
    #[error("unsupported Sec-WebSocket-Version (only 13 is supported)")]
    UnsupportedVersion {
        /// The value(s) received, if any.
        found: Option<HeaderValue>,
    },
    /// The upgrade request announces a body (`Content-Length` other than 0,
    /// or any `Transfer-Encoding`).
    #[error("upgrade request must not have a body")]
    RequestBody,
    /// More than one `Origin` header.
    #[error("more than one Origin header")]
    DuplicateOrigin,
    /// A `Sec-WebSocket-Protocol` element is empty, not a token, or repeated.
    #[error("invalid subprotocol list")]
    InvalidSubprotocolList,
    /// A `Sec-WebSocket-Extensions` element has an empty or non-token name.
    #[error("invalid extension list")]
    InvalidExtensionList,

    // ----- client side: the server's response (RFC 6455 §4.1) ----------------
    /// The server answered with a status other than 101 (HTTP/1.1), or
    /// other than 2xx to an extended CONNECT (RFC 8441 §5).
    #[error("server answered {status} instead of {expected}",
        expected = if *.extended_connect { "2xx to the extended CONNECT" } else { "101 Switching Protocols" })]
    UnexpectedStatus {
        /// The status received.
        status: StatusCode,
        /// The request was an extended CONNECT (HTTP/2 or HTTP/3).
        extended_connect: bool,
    },
    /// The response's `Upgrade` header is missing or is not `websocket`.
    #[error("response Upgrade header is not \"websocket\"")]
    ResponseUpgradeNotWebSocket,
    /// The response's `Connection` header lacks the `upgrade` token.
    #[error("response Connection header does not contain \"upgrade\"")]
    ResponseConnectionNotUpgrade,
    /// No `Sec-WebSocket-Accept` header (or more than one).
    #[error("missing Sec-WebSocket-Accept header")]
    MissingAccept,
    /// `Sec-WebSocket-Accept` does not match our key.
    #[error("Sec-WebSocket-Accept does not match the key sent")]
    AcceptMismatch,
    /// The server chose a subprotocol we did not offer (or chose one when we
    /// offered none).
    #[error("server chose subprotocol {protocol:?}, which was not offered")]
    UnexpectedSubprotocol {
        /// The subprotocol the server named.
        protocol: String,
    },
    /// The server named more than one subprotocol.
    #[error("server named more than one subprotocol")]
    MultipleSubprotocols,
    /// The server accepted an extension we did not offer.
    #[error("server accepted extension {name:?}, which was not offered")]
    UnexpectedExtension {
        /// The extension name the server used.
        name: String,
    },
    /// The server's permessage-deflate response breaks RFC 7692 or does
    /// not match what we offered (RFC 7692 §5, §7.1).
    #[error("permessage-deflate negotiation failed: {0}")]
    ExtensionNegotiation(crate::extension::NegotiationError),

    // ----- caller misuse -----------------------------------------------------
    /// A subprotocol passed to the client builder is not a valid token.
    #[error("subprotocol {protocol:?} is not a valid token")]
    InvalidSubprotocol {
        /// The offending subprotocol.
        protocol: String,
    },
    /// The same subprotocol was offered twice.
    #[error("subprotocol {protocol:?} offered twice")]
    DuplicateSubprotocol {
        /// The repeated subprotocol.
        protocol: String,
    },
    /// An extension offer passed to the client builder is not a valid
    /// header value or its name is not a token.
    #[error("invalid extension offer {offer:?}")]
    InvalidExtensionOffer {
        /// The offending offer.
        offer: String,
    },
    /// An extra header would override one the handshake sets itself.
    #[error("header {name} is set by the handshake and cannot be overridden")]
    ReservedHeader {
        /// The reserved header.
        name: HeaderName,
    },
    /// The URI's resource name could not be used as a request target.
    #[error("resource name is not a valid request target")]
    InvalidResourceName,
    /// A server tried to accept a subprotocol the client did not offer.
    #[error("subprotocol {protocol:?} was not offered by the client")]
    SubprotocolNotOffered {
        /// The subprotocol the caller chose.
        protocol: String,
    },
    /// A server tried to accept an extension the client did not offer, or
    /// an accepted element that is not a valid header value.
    #[error("extension {name:?} was not offered by the client")]
    ExtensionNotOffered {
        /// The extension name (or the whole element, if it has none).
        name: String,
    },
}

impl HandshakeError {
    /// The HTTP status a server answers this error with.
    ///
    /// - 400 Bad Request for every refused request: RFC 6455 §4.2.1 asks for
    ///   "an appropriate error code (such as 400 Bad Request)". A non-GET
    ///   method is 400 too, not 405 (which would require an `Allow` header and
    ///   suggest the resource serves other methods).
    /// - 426 Upgrade Required for a missing or wrong `Sec-WebSocket-Version`
    ///   (§4.2.2); [`error_response`](super::error_response) adds
    ///   `Sec-WebSocket-Version: 13`.
    /// - 431 Request Header Fields Too Large for a head over the limits.
    /// - 502 Bad Gateway for errors in a server's response (only a client
    ///   sees these; the value matters only if the client is a gateway).
    /// - 500 Internal Server Error for caller misuse.
    ///
    /// ```
    /// use wsx_proto::handshake::HandshakeError;
    /// assert_eq!(HandshakeError::MissingKey.http_status(), 400);
    /// assert_eq!(HandshakeError::UnsupportedVersion { found: None }.http_status(), 426);
    /// ```
    pub fn http_status(&self) -> StatusCode {
        use HandshakeError as E;
        match self {
            E::HeadTooLarge { .. } | E::TooManyHeaders { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            E::UnsupportedVersion { .. } => StatusCode::UPGRADE_REQUIRED,
            E::UnsupportedProtocol { .. } => StatusCode::NOT_IMPLEMENTED,
            E::MalformedHead { .. }
            | E::InvalidRequestTarget
            | E::InvalidHeaderName
            | E::InvalidHeaderValue { .. }
            | E::MethodNotGet { .. }
            | E::MethodNotConnect { .. }
            | E::PlainConnect
            | E::HttpVersionTooOld { .. }
            | E::InvalidHost
            | E::UpgradeNotWebSocket
            | E::ConnectionNotUpgrade
            | E::MissingKey
            | E::DuplicateKey
            | E::InvalidKey
            | E::RequestBody
            | E::DuplicateOrigin
            | E::InvalidSubprotocolList
            | E::InvalidExtensionList => StatusCode::BAD_REQUEST,
            E::UnexpectedStatus { .. }
            | E::ResponseUpgradeNotWebSocket
            | E::ResponseConnectionNotUpgrade
            | E::MissingAccept
            | E::AcceptMismatch
            | E::UnexpectedSubprotocol { .. }
            | E::MultipleSubprotocols
            | E::UnexpectedExtension { .. }
            | E::ExtensionNegotiation(_) => StatusCode::BAD_GATEWAY,
            E::InvalidSubprotocol { .. }
            | E::DuplicateSubprotocol { .. }
            | E::InvalidExtensionOffer { .. }
            | E::ReservedHeader { .. }
            | E::InvalidResourceName
            | E::SubprotocolNotOffered { .. }
            | E::ExtensionNotOffered { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::HandshakeError as E;
    use http::{HeaderName, Method, StatusCode, Version, header};

    fn status(e: E) -> u16 {
        e.http_status().as_u16()
    }

    #[test]
    fn head_limits_are_431() {
        assert_eq!(status(E::HeadTooLarge { limit: 1 }), 431);
        assert_eq!(status(E::TooManyHeaders { limit: 1 }), 431);
    }

    #[test]
    fn version_is_426() {
        assert_eq!(status(E::UnsupportedVersion { found: None }), 426);
        let found = Some(http::HeaderValue::from_static("8"));
        assert_eq!(status(E::UnsupportedVersion { found }), 426);
    }

    #[test]
    fn bad_requests_are_400() {
        let name = HeaderName::from_static("x-a");
        let cases = [
            E::MalformedHead { reason: "x" },
            E::InvalidRequestTarget,
            E::InvalidHeaderName,
            E::InvalidHeaderValue { name },
            E::MethodNotGet { method: Method::POST },
            E::HttpVersionTooOld { version: Version::HTTP_10 },
            E::InvalidHost,
            E::UpgradeNotWebSocket,
            E::ConnectionNotUpgrade,
            E::MissingKey,
            E::DuplicateKey,
            E::InvalidKey,
            E::RequestBody,
            E::DuplicateOrigin,
            E::InvalidSubprotocolList,
            E::InvalidExtensionList,
        ];
        for e in cases {
            assert_eq!(e.http_status(), StatusCode::BAD_REQUEST, "{e:?}");
        }
    }

    #[test]
    fn response_errors_are_502() {
        let cases = [
            E::UnexpectedStatus { status: StatusCode::OK, extended_connect: false },
            E::ResponseUpgradeNotWebSocket,
            E::ResponseConnectionNotUpgrade,
            E::MissingAccept,
            E::AcceptMismatch,
            E::UnexpectedSubprotocol { protocol: "p".into() },
            E::MultipleSubprotocols,
            E::UnexpectedExtension { name: "x".into() },
            E::ExtensionNegotiation(crate::extension::NegotiationError::WindowEightUnsupported),
        ];
        for e in cases {
            assert_eq!(e.http_status(), StatusCode::BAD_GATEWAY, "{e:?}");
        }
    }

    #[test]
    fn misuse_is_500() {
        let cases = [
            E::InvalidSubprotocol { protocol: "a b".into() },
            E::DuplicateSubprotocol { protocol: "a".into() },
            E::InvalidExtensionOffer { offer: ";".into() },
            E::ReservedHeader { name: header::HOST },
            E::InvalidResourceName,
            E::SubprotocolNotOffered { protocol: "a".into() },
            E::ExtensionNotOffered { name: "x".into() },
        ];
        for e in cases {
            assert_eq!(e.http_status(), StatusCode::INTERNAL_SERVER_ERROR, "{e:?}");
        }
    }

    #[test]
    fn messages_name_the_problem() {
        assert_eq!(
            E::UnexpectedStatus { status: StatusCode::FORBIDDEN, extended_connect: false }.to_string(),
            "server answered 403 Forbidden instead of 101 Switching Protocols"
        );
        assert_eq!(E::HeadTooLarge { limit: 16384 }.to_string(), "HTTP head larger than 16384 bytes");
    }
}
