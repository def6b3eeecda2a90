//! The server's answer to a valid offer (RFC 6455 §4.2.2) with the
//! permessage-deflate agreement (RFC 7692 §5, §7.1), and the client's side
//! of that agreement: the offers it adds to its request and the check of
//! the server's answer. Every driver (tokio, blocking; HTTP/1.1 and
//! HTTP/2; hyper and axum) answers through [`Accept::respond`].
//!
//! Contract: an offer never fails the server's handshake (an offer it
//! cannot honour is declined); a response that breaks RFC 7692 fails the
//! client's with [`HandshakeError::ExtensionNegotiation`].

use http::{HeaderMap, HeaderName, HeaderValue, Response};

use super::{ClientAccepted, ClientOffer, ClientRequest, HandshakeError, accept_response_with_extensions};
use crate::connection::{Negotiated, Role};
use crate::extension::{DeflateConfig, DeflateParams, negotiate_client, negotiate_server};

/// The `Server` header of a server's answers.
pub const SERVER_NAME: &str = concat!("wsx/", env!("CARGO_PKG_VERSION"));

/// How to accept a handshake: the subprotocol chosen from the client's list
/// and extra response headers (`Set-Cookie`, …).
///
/// ```
/// let accept = wsx_proto::handshake::Accept::default().subprotocol("chat.v2").header("set-cookie", "id=1");
/// # let _ = accept;
/// ```
#[derive(Debug, Clone, Default)]
pub struct Accept {
    subprotocol: Option<String>,
    headers: HeaderMap,
    invalid_header: bool,
}

impl Accept {
    /// Selects a subprotocol; it must be one the client offered.
    pub fn subprotocol(mut self, protocol: impl Into<String>) -> Self {
        self.subprotocol = Some(protocol.into());
        self
    }

    /// Adds a response header (an invalid name or value makes
    /// [`respond`](Self::respond) fail).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            (Ok(name), Ok(value)) => {
                self.headers.append(name, value);
            }
            _ => self.invalid_header = true,
        }
        self
    }

    /// The answer to `offer` (101 for an HTTP/1.1 upgrade, 200 for an
    /// extended CONNECT) and what it agrees to. With `deflate`, the first
    /// permessage-deflate offer it can honour is accepted and the others
    /// declined.
    ///
    /// ```
    /// use wsx_proto::extension::DeflateConfig;
    /// use wsx_proto::handshake::{Accept, validate_request};
    /// let request = http::Request::get("/")
    ///     .header("host", "h")
    ///     .header("upgrade", "websocket")
    ///     .header("connection", "Upgrade")
    ///     .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
    ///     .header("sec-websocket-version", "13")
    ///     .header("sec-websocket-extensions", "permessage-deflate")
    ///     .body(())?;
    /// let offer = validate_request(&request)?;
    /// let (response, negotiated) = Accept::default().respond(&offer, Some(&DeflateConfig::default()))?;
    /// assert_eq!(response.status(), 101);
    /// assert!(negotiated.deflate.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`HandshakeError::InvalidHeaderName`] for a header added with an
    /// invalid name or value; as [`accept_response_with_extensions`].
    pub fn respond(
        self,
        offer: &ClientOffer,
        deflate: Option<&DeflateConfig>,
    ) -> Result<(Response<()>, Negotiated), HandshakeError> {
        if self.invalid_header {
            return Err(HandshakeError::InvalidHeaderName);
        }
        let agreed = deflate.and_then(|config| negotiate_server(config, offer.extensions.iter().map(String::as_str)));
        let elements: Vec<String> = agreed.iter().map(ToString::to_string).collect();
        let mut response = accept_response_with_extensions(offer, self.subprotocol.as_deref(), &elements)?;
        response.headers_mut().insert(http::header::SERVER, HeaderValue::from_static(SERVER_NAME));
        for (name, value) in &self.headers {
            response.headers_mut().append(name, value.clone());
        }
        Ok((response, Negotiated::new(Role::Server).with_subprotocol(self.subprotocol).with_deflate(agreed)))
    }
}

impl ClientRequest {
    /// Adds the permessage-deflate offers of `deflate`, most preferred
    /// first (none for `None`).
    pub fn deflate_offers(mut self, deflate: Option<&DeflateConfig>) -> Self {
        if let Some(deflate) = deflate {
            for offer in deflate.client_offers() {
                self = self.extension(offer.to_string());
            }
        }
        self
    }
}

impl ClientAccepted {
    /// The permessage-deflate parameters the server agreed to, given what
    /// was offered (`deflate`); a response that breaks RFC 7692 or matches
    /// none of the offers is an error.
    ///
    /// # Errors
    /// [`HandshakeError::ExtensionNegotiation`].
    pub fn deflate(&self, deflate: Option<&DeflateConfig>) -> Result<Option<DeflateParams>, HandshakeError> {
        let Some(deflate) = deflate else {
            // Nothing offered: validating the response already refused any
            // extension.
            return Ok(None);
        };
        negotiate_client(deflate, self.extensions.iter().map(String::as_str))
            .map_err(HandshakeError::ExtensionNegotiation)
    }

    /// What the handshake agreed to, for a client's
    /// [`Connection`](crate::Connection), given what was offered.
    ///
    /// # Errors
    /// As [`deflate`](Self::deflate).
    pub fn negotiated(&self, deflate: Option<&DeflateConfig>) -> Result<Negotiated, HandshakeError> {
        let agreed = self.deflate(deflate)?;
        Ok(Negotiated::new(Role::Client).with_subprotocol(self.subprotocol.clone()).with_deflate(agreed))
    }
}
