//! WebSocket extensions: the `Sec-WebSocket-Extensions` grammar (RFC 6455
//! §9.1) and permessage-deflate (RFC 7692).
//!
//! Contract: the handshake code owns HTTP (headers in, raw extension
//! elements out); this module owns the parameters. [`params`] parses
//! elements in linear time under fixed limits; [`deflate`] negotiates
//! permessage-deflate for either role and yields the agreed
//! [`DeflateParams`], which [`Negotiated`](crate::Negotiated) carries to the
//! connection; [`codec`] is the compression state the connection's send and
//! receive paths call. The negotiated extensions tell the frame checks which
//! RSV bits are allowed: RSV1 on the first frame of a data message when
//! permessage-deflate is in use, nothing else.
//!
//! Turning it on:
//! ```
//! use wsx_proto::extension::{negotiate_server, DeflateConfig};
//! let config = DeflateConfig::default();
//! // Client: one Sec-WebSocket-Extensions value per offer.
//! let offers: Vec<String> = config.client_offers().iter().map(|o| o.to_string()).collect();
//! assert_eq!(offers, ["permessage-deflate; client_max_window_bits=12"]);
//! // Server: the first offer it can honour, as the response element.
//! let agreed = negotiate_server(&config, offers.iter().map(String::as_str)).unwrap();
//! assert_eq!(agreed.to_string(), "permessage-deflate");
//! ```

pub mod codec;
pub mod deflate;
pub mod params;

pub use deflate::{
    ClientWindowBits, DeflateConfig, DeflateOffer, DeflateParams, NegotiationError, PERMESSAGE_DEFLATE,
    negotiate_client, negotiate_server,
};
pub use params::{ExtensionElement, ExtensionParam, GrammarError, MAX_EXTENSIONS, MAX_PARAMS, parse_extension_list};
