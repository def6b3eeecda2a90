//! permessage-deflate in the driver's handshakes (RFC 7692 §5, §7.1): the
//! client adds its offers and checks the server's answer; the server picks
//! an offer and names it in the 101. The parameters themselves belong to
//! [`wsx_proto::extension`]; this module only connects them to the HTTP
//! handshake of each role.

use http::Response;
use wsx_proto::extension::{DeflateConfig, DeflateParams, negotiate_client, negotiate_server};
use wsx_proto::handshake::{
    ClientAccepted, ClientOffer, ClientRequest, HandshakeError, accept_response_with_extensions,
};

use crate::config::Config;
use crate::error::Error;

/// Adds the configured permessage-deflate offers, most preferred first.
pub(crate) fn offer(mut request: ClientRequest, config: &Config) -> ClientRequest {
    if let Some(deflate) = &config.protocol.compression {
        for offer in deflate.client_offers() {
            request = request.extension(offer.to_string());
        }
    }
    request
}

/// What the server's response agreed to; a response that breaks RFC 7692 or
/// matches none of our offers fails the handshake.
pub(crate) fn accepted(config: &Config, accepted: &ClientAccepted) -> Result<Option<DeflateParams>, Error> {
    let Some(deflate) = &config.protocol.compression else {
        // Nothing offered: the handshake already refused any extension.
        return Ok(None);
    };
    let elements = accepted.extensions.iter().map(String::as_str);
    negotiate_client(deflate, elements).map_err(|e| Error::Handshake(HandshakeError::ExtensionNegotiation(e)))
}

/// The server's 101 for `offer`: the first permessage-deflate offer we can
/// honour is accepted (the others declined) when `deflate` is set.
pub(crate) fn accept(
    offer: &ClientOffer,
    subprotocol: Option<&str>,
    deflate: Option<&DeflateConfig>,
) -> Result<(Response<()>, Option<DeflateParams>), HandshakeError> {
    let agreed = deflate.and_then(|config| negotiate_server(config, offer.extensions.iter().map(String::as_str)));
    let elements: Vec<String> = agreed.iter().map(ToString::to_string).collect();
    let response = accept_response_with_extensions(offer, subprotocol, &elements)?;
    Ok((response, agreed))
}
