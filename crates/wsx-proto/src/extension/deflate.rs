//! permessage-deflate negotiation (RFC 7692 §5, §7.1): our settings
//! ([`DeflateConfig`]), the client's offers and its check of the server's
//! response, the server's choice among the client's offers, and what both
//! agreed ([`DeflateParams`]).
//!
//! Contract: a client builds its offers with [`DeflateConfig::client_offers`]
//! and checks the accepted elements with [`negotiate_client`], which fails
//! with a typed [`NegotiationError`]; a server calls [`negotiate_server`],
//! which accepts the first offer it can honour, declines the rest and never
//! fails. Our compressor (zlib) cannot produce an 8-bit window, so it never
//! agrees to one.

use super::params::{ExtensionElement, ExtensionParam};

/// The extension name (RFC 7692 §6).
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

const SERVER_NO_CONTEXT_TAKEOVER: &str = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER: &str = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS: &str = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS: &str = "client_max_window_bits";

/// permessage-deflate settings of one endpoint, for both roles. Defaults
/// (docs/design.md §5): our window 12 bits, memLevel 5, level 6, messages under 64
/// bytes sent uncompressed, context takeover both ways, no limit asked of
/// the peer.
///
/// Memory per connection with the defaults (zlib-rs, measured as RSS): the
/// compressor holds `2^(window+1)` bytes of window, `2^(window+1)` of hash
/// chains, `7 × 2^(memLevel+6)` of literal buffers and a hash head of 128 KiB
/// (zlib-rs sizes it for 65,536 entries whatever the memLevel): with window
/// 12 and memLevel 5, 8 + 8 + 14 + 128 KiB, 160 KiB with its state, all from
/// the first message it compresses (an idle connection does not pay it); the
/// decompressor holds about 19 KiB of state and
/// tables, and from the first compressed message a window of
/// `2^peer_window` bytes (32 KiB unless the peer declares a smaller one or
/// we ask for it with [`peer_max_window_bits`](Self::peer_max_window_bits)).
/// Lower `window_bits` trades ratio for memory.
///
/// ```
/// use wsx_proto::extension::DeflateConfig;
/// let config = DeflateConfig::default().window_bits(10).mem_level(3).threshold(256);
/// assert_eq!(config.client_offers()[0].to_string(), "permessage-deflate; client_max_window_bits=10");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeflateConfig {
    window_bits: u8,
    mem_level: u8,
    level: u8,
    threshold: usize,
    no_context_takeover: bool,
    peer_no_context_takeover: bool,
    peer_max_window_bits: Option<u8>,
    offers: Vec<DeflateOffer>,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self {
            window_bits: 12,
            mem_level: 5,
            level: 6,
            threshold: 64,
            no_context_takeover: false,
            peer_no_context_takeover: false,
            peer_max_window_bits: None,
            offers: Vec::new(),
        }
    }
}

impl DeflateConfig {
    /// Sets our compressor's LZ77 window, 9–15 bits (clamped; default 12).
    /// The peer may lower it further in the negotiation.
    pub fn window_bits(mut self, bits: u8) -> Self {
        self.window_bits = bits.clamp(9, 15);
        self
    }

    /// Sets the zlib memLevel of our compressor, 1–9 (clamped; default 5).
    pub fn mem_level(mut self, level: u8) -> Self {
        self.mem_level = level.clamp(1, 9);
        self
    }

    /// Sets the zlib compression level, 0–9 (clamped; default 6).
    pub fn level(mut self, level: u8) -> Self {
        self.level = level.min(9);
        self
    }

    /// Sets the size under which messages are sent uncompressed (default
    /// 64 bytes): below it the deflate framing costs more than it saves.
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// Resets our compressor after every message (and says so in the
    /// negotiation): less ratio, no state kept between messages. Default off.
    pub fn no_context_takeover(mut self, on: bool) -> Self {
        self.no_context_takeover = on;
        self
    }

    /// Asks the peer to reset its compressor after every message. Default off.
    pub fn peer_no_context_takeover(mut self, on: bool) -> Self {
        self.peer_no_context_takeover = on;
        self
    }

    /// Asks the peer for a window of at most `bits` (clamped to 9–15),
    /// which bounds our decompressor's window. Default `None`.
    pub fn peer_max_window_bits(mut self, bits: Option<u8>) -> Self {
        self.peer_max_window_bits = bits.map(|b| b.clamp(9, 15));
        self
    }

    /// Appends a client offer; offers are sent in the order added. With
    /// none (the default) a client sends the one
    /// [`client_offers`](Self::client_offers) derives from the settings.
    pub fn offer(mut self, offer: DeflateOffer) -> Self {
        self.offers.push(offer);
        self
    }

    /// Our compressor's window, 9–15 bits ([`window_bits`](Self::window_bits)).
    pub fn get_window_bits(&self) -> u8 {
        self.window_bits
    }

    /// Our compressor's zlib memLevel, 1–9 ([`mem_level`](Self::mem_level)).
    pub fn get_mem_level(&self) -> u8 {
        self.mem_level
    }

    /// Our compressor's level, 0–9 ([`level`](Self::level)).
    pub fn get_level(&self) -> u8 {
        self.level
    }

    /// The size under which messages go uncompressed ([`threshold`](Self::threshold)).
    pub fn get_threshold(&self) -> usize {
        self.threshold
    }

    /// Whether our compressor resets after every message
    /// ([`no_context_takeover`](Self::no_context_takeover)).
    pub fn get_no_context_takeover(&self) -> bool {
        self.no_context_takeover
    }

    /// Whether the peer is asked to reset its compressor after every
    /// message ([`peer_no_context_takeover`](Self::peer_no_context_takeover)).
    pub fn get_peer_no_context_takeover(&self) -> bool {
        self.peer_no_context_takeover
    }

    /// The window asked of the peer, 9–15 bits, if any
    /// ([`peer_max_window_bits`](Self::peer_max_window_bits)).
    pub fn get_peer_max_window_bits(&self) -> Option<u8> {
        self.peer_max_window_bits
    }

    /// The offers added with [`offer`](Self::offer), in order.
    pub fn get_offers(&self) -> &[DeflateOffer] {
        &self.offers
    }

    /// The offers a client sends, most preferred first.
    pub fn client_offers(&self) -> Vec<DeflateOffer> {
        if !self.offers.is_empty() {
            return self.offers.clone();
        }
        let own = self.window_bits;
        vec![DeflateOffer {
            server_no_context_takeover: self.peer_no_context_takeover,
            client_no_context_takeover: self.no_context_takeover,
            server_max_window_bits: self.peer_max_window_bits,
            client_max_window_bits: ClientWindowBits::Offered((own < 15).then_some(own)),
        }]
    }
}

/// `client_max_window_bits` in an offer (RFC 7692 §7.1.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientWindowBits {
    /// Absent: the server may not limit the client's window.
    #[default]
    Absent,
    /// Present: the server may limit the client's window; with a value, the
    /// client also declares it uses at most that window.
    Offered(Option<u8>),
}

/// One permessage-deflate offer a client sends (RFC 7692 §7.1).
///
/// ```
/// use wsx_proto::extension::{ClientWindowBits, DeflateOffer};
/// let offer = DeflateOffer::default()
///     .server_max_window_bits(Some(10))
///     .client_max_window_bits(ClientWindowBits::Offered(None));
/// assert_eq!(offer.to_string(), "permessage-deflate; server_max_window_bits=10; client_max_window_bits");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeflateOffer {
    /// Ask the server to reset its compressor after each message.
    pub server_no_context_takeover: bool,
    /// Declare that we reset our compressor after each message.
    pub client_no_context_takeover: bool,
    /// Ask the server to use at most this window (8–15).
    pub server_max_window_bits: Option<u8>,
    /// Whether (and how) the server may limit our window.
    pub client_max_window_bits: ClientWindowBits,
}

impl DeflateOffer {
    /// Asks the server to reset its compressor after each message.
    pub fn server_no_context_takeover(mut self, on: bool) -> Self {
        self.server_no_context_takeover = on;
        self
    }

    /// Declares that we reset our compressor after each message.
    pub fn client_no_context_takeover(mut self, on: bool) -> Self {
        self.client_no_context_takeover = on;
        self
    }

    /// Asks the server for a window of at most `bits` (8–15; larger values
    /// are clamped to 15, smaller to 8).
    pub fn server_max_window_bits(mut self, bits: Option<u8>) -> Self {
        self.server_max_window_bits = bits.map(|b| b.clamp(8, 15));
        self
    }

    /// Whether the server may limit our window, and the limit we declare.
    pub fn client_max_window_bits(mut self, bits: ClientWindowBits) -> Self {
        self.client_max_window_bits = match bits {
            ClientWindowBits::Offered(Some(b)) => ClientWindowBits::Offered(Some(b.clamp(9, 15))),
            other => other,
        };
        self
    }

    /// The offer as an extension element.
    pub fn to_element(&self) -> ExtensionElement {
        let mut params = Vec::new();
        let flag = |name: &str| ExtensionParam { name: name.to_owned(), value: None };
        let bits = |name: &str, bits: u8| ExtensionParam { name: name.to_owned(), value: Some(bits.to_string()) };
        if self.server_no_context_takeover {
            params.push(flag(SERVER_NO_CONTEXT_TAKEOVER));
        }
        if self.client_no_context_takeover {
            params.push(flag(CLIENT_NO_CONTEXT_TAKEOVER));
        }
        if let Some(b) = self.server_max_window_bits {
            params.push(bits(SERVER_MAX_WINDOW_BITS, b));
        }
        match self.client_max_window_bits {
            ClientWindowBits::Absent => {}
            ClientWindowBits::Offered(None) => params.push(flag(CLIENT_MAX_WINDOW_BITS)),
            ClientWindowBits::Offered(Some(b)) => params.push(bits(CLIENT_MAX_WINDOW_BITS, b)),
        }
        ExtensionElement { name: PERMESSAGE_DEFLATE.to_owned(), params }
    }
}

impl std::fmt::Display for DeflateOffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.to_element().fmt(f)
    }
}

/// What both endpoints agreed: the parameters of the accepted
/// permessage-deflate response (RFC 7692 §7.1). A `Connection` derives its
/// compressor and decompressor from these and its role.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeflateParams {
    /// The server resets its compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message.
    pub client_no_context_takeover: bool,
    /// The server's window is at most this (8–15; `None`: 15).
    pub server_max_window_bits: Option<u8>,
    /// The client's window is at most this (8–15; `None`: 15).
    pub client_max_window_bits: Option<u8>,
}

impl DeflateParams {
    /// The response element a server sends.
    pub fn to_element(&self) -> ExtensionElement {
        let offer = DeflateOffer {
            server_no_context_takeover: self.server_no_context_takeover,
            client_no_context_takeover: self.client_no_context_takeover,
            server_max_window_bits: self.server_max_window_bits,
            client_max_window_bits: match self.client_max_window_bits {
                Some(bits) => ClientWindowBits::Offered(Some(bits)),
                None => ClientWindowBits::Absent,
            },
        };
        offer.to_element()
    }
}

impl std::fmt::Display for DeflateParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.to_element().fmt(f)
    }
}

/// Why a client refuses the server's permessage-deflate response (RFC 7692
/// §5, §7.1): each fails the handshake.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiationError {
    /// The response element does not follow RFC 6455 §9.1.
    #[error("malformed permessage-deflate response: {0}")]
    Malformed(#[from] super::GrammarError),
    /// The server accepted permessage-deflate more than once.
    #[error("permessage-deflate accepted more than once")]
    DuplicateExtension,
    /// A parameter RFC 7692 does not define.
    #[error("unknown permessage-deflate parameter {0:?}")]
    UnknownParam(String),
    /// A parameter given twice (§7.1: "multiple extension parameters with the same name").
    #[error("permessage-deflate parameter {0:?} given twice")]
    DuplicateParam(String),
    /// A value that is missing, present where none is allowed, or not 8–15.
    #[error("invalid value for permessage-deflate parameter {0:?}")]
    InvalidValue(String),
    /// A parameter the accepted offer did not allow: `client_max_window_bits`
    /// when not offered (§7.1.2.2), `server_max_window_bits` larger than
    /// offered or missing when offered (§7.1.2.1; an unsolicited one is
    /// accepted, as it only announces a smaller window), a missing
    /// `server_no_context_takeover` that was asked for (§7.1.1.1).
    #[error("permessage-deflate response does not match any offer: {0}")]
    NotOffered(&'static str),
    /// The server limited our window to 8 bits, which zlib cannot produce.
    #[error("the server asks for an 8-bit client window, which our compressor cannot honour")]
    WindowEightUnsupported,
}

/// Parsed and range-checked parameters of one element, with `client_max_window_bits`
/// as "absent / no value / value".
#[derive(Debug, Clone, Copy, Default)]
struct Parsed {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    client_max_window_bits: ClientWindowBits,
}

/// `8..=15` as 1*DIGIT without leading zeros (RFC 7692 §7.1.2.1).
fn window_value(name: &str, value: Option<&str>) -> Result<u8, NegotiationError> {
    let invalid = || NegotiationError::InvalidValue(name.to_owned());
    let value = value.ok_or_else(invalid)?;
    if value.starts_with('0') || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    value.parse::<u8>().ok().filter(|b| (8..=15).contains(b)).ok_or_else(invalid)
}

/// Checks every parameter of an element (RFC 7692 §7.1: unknown names,
/// duplicates and invalid values are refused).
fn parse_params(element: &ExtensionElement) -> Result<Parsed, NegotiationError> {
    let mut parsed = Parsed::default();
    let mut seen = [false; 4];
    for ExtensionParam { name, value } in &element.params {
        let index =
            [SERVER_NO_CONTEXT_TAKEOVER, CLIENT_NO_CONTEXT_TAKEOVER, SERVER_MAX_WINDOW_BITS, CLIENT_MAX_WINDOW_BITS]
                .iter()
                .position(|known| known.eq_ignore_ascii_case(name))
                .ok_or_else(|| NegotiationError::UnknownParam(name.clone()))?;
        if std::mem::replace(&mut seen[index], true) {
            return Err(NegotiationError::DuplicateParam(name.clone()));
        }
        let value = value.as_deref();
        let no_value = || value.is_none().then_some(true).ok_or_else(|| NegotiationError::InvalidValue(name.clone()));
        match index {
            0 => parsed.server_no_context_takeover = no_value()?,
            1 => parsed.client_no_context_takeover = no_value()?,
            2 => parsed.server_max_window_bits = Some(window_value(name, value)?),
            _ => {
                parsed.client_max_window_bits = match value {
                    None => ClientWindowBits::Offered(None),
                    Some(_) => ClientWindowBits::Offered(Some(window_value(name, value)?)),
                }
            }
        }
    }
    Ok(parsed)
}

/// The server's choice (RFC 7692 §7.1): the first offer in `offers` it can
/// honour, as the parameters to answer with, or `None` to decline them all.
/// Offers for other extensions, malformed offers and offers we cannot
/// honour (an 8-bit server window) are skipped; this never fails.
///
/// ```
/// use wsx_proto::extension::{negotiate_server, DeflateConfig};
/// let offers = ["permessage-deflate; server_max_window_bits=8", "permessage-deflate; client_max_window_bits"];
/// let params = negotiate_server(&DeflateConfig::default(), offers).expect("the second offer");
/// assert_eq!(params.to_string(), "permessage-deflate");
/// let params = negotiate_server(&DeflateConfig::default(), ["permessage-deflate; server_max_window_bits=14"]);
/// assert_eq!(params.unwrap().to_string(), "permessage-deflate; server_max_window_bits=12");
/// ```
pub fn negotiate_server<'a>(
    config: &DeflateConfig,
    offers: impl IntoIterator<Item = &'a str>,
) -> Option<DeflateParams> {
    offers.into_iter().take(super::MAX_EXTENSIONS).find_map(|raw| {
        let element = ExtensionElement::parse(raw).ok()?;
        if !element.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE) {
            return None;
        }
        accept_offer(config, &parse_params(&element).ok()?)
    })
}

fn accept_offer(config: &DeflateConfig, offer: &Parsed) -> Option<DeflateParams> {
    let own = config.window_bits;
    // RFC 7692 §7.1.2.1: the server accepts by answering "with the same or
    // smaller value as the offer". zlib cannot compress with an 8-bit
    // window: decline.
    let server_max_window_bits = match offer.server_max_window_bits {
        Some(8) => return None,
        Some(asked) => Some(asked.min(own)),
        // "If a received extension negotiation offer doesn't have the
        // server_max_window_bits extension parameter, the corresponding
        // extension negotiation response to the offer MUST NOT include" it.
        None => None,
    };
    // §7.1.2.2: the response may carry client_max_window_bits only if the
    // offer had it.
    let client_max_window_bits = match offer.client_max_window_bits {
        ClientWindowBits::Absent => None,
        ClientWindowBits::Offered(hint) => match (config.peer_max_window_bits, hint) {
            (Some(ours), Some(theirs)) => Some(ours.min(theirs)),
            (Some(ours), None) => Some(ours),
            (None, _) => None,
        },
    };
    Some(DeflateParams {
        // §7.1.1.1: asked for, it must be honoured; the server may also add it.
        server_no_context_takeover: offer.server_no_context_takeover || config.no_context_takeover,
        client_no_context_takeover: config.peer_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
    })
}

/// The client's check of the accepted extensions (raw elements, as
/// `ClientAccepted::extensions` holds them) against what it offered:
/// `Ok(None)` when the server declined permessage-deflate.
///
/// ```
/// use wsx_proto::extension::{negotiate_client, DeflateConfig, NegotiationError};
/// let config = DeflateConfig::default();
/// let agreed = negotiate_client(&config, ["permessage-deflate; server_no_context_takeover"])?;
/// assert!(agreed.unwrap().server_no_context_takeover);
/// assert_eq!(
///     negotiate_client(&config, ["permessage-deflate; client_max_window_bits=8"]),
///     Err(NegotiationError::WindowEightUnsupported)
/// );
/// # Ok::<(), NegotiationError>(())
/// ```
///
/// # Errors
/// A [`NegotiationError`]; when the response matches none of several
/// offers, the error is the one against the most preferred offer.
pub fn negotiate_client<'a>(
    config: &DeflateConfig,
    accepted: impl IntoIterator<Item = &'a str>,
) -> Result<Option<DeflateParams>, NegotiationError> {
    let mut response = None;
    for raw in accepted {
        let element = ExtensionElement::parse(raw)?;
        if !element.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE) {
            continue;
        }
        if response.replace(element).is_some() {
            return Err(NegotiationError::DuplicateExtension);
        }
    }
    let Some(element) = response else { return Ok(None) };
    let parsed = parse_params(&element)?;
    let mut first_error = None;
    for offer in config.client_offers() {
        match check_response(&offer, &parsed) {
            Ok(params) => return Ok(Some(params)),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    Err(first_error.unwrap_or(NegotiationError::NotOffered("no offer was made")))
}

fn check_response(offer: &DeflateOffer, response: &Parsed) -> Result<DeflateParams, NegotiationError> {
    // RFC 7692 §7.1.1.1: a server accepts an offer with
    // server_no_context_takeover by including it in the response.
    if offer.server_no_context_takeover && !response.server_no_context_takeover {
        return Err(NegotiationError::NotOffered("server_no_context_takeover was asked for"));
    }
    // §7.1.2.1: "A server accepts an extension negotiation offer with this
    // parameter by including the server_max_window_bits extension parameter
    // in the extension negotiation response to send back to the client with
    // the same or smaller value as the offer."
    match (offer.server_max_window_bits, response.server_max_window_bits) {
        (Some(_), None) => return Err(NegotiationError::NotOffered("server_max_window_bits was asked for")),
        (Some(asked), Some(got)) if got > asked => {
            return Err(NegotiationError::NotOffered("server_max_window_bits above the one offered"));
        }
        // The response "MUST NOT include" it when the offer did not; Python
        // websockets and Node ws include it anyway. It only tells us the
        // server uses a smaller window, which our decompressor handles:
        // accepted.
        _ => {}
    }
    // §7.1.2.2: "If a received extension negotiation response has the
    // client_max_window_bits extension parameter but the corresponding offer
    // doesn't, the client MUST _Fail the WebSocket Connection_."
    let client_max_window_bits = match (offer.client_max_window_bits, response.client_max_window_bits) {
        (_, ClientWindowBits::Absent) => None,
        (ClientWindowBits::Absent, ClientWindowBits::Offered(_)) => {
            return Err(NegotiationError::NotOffered("client_max_window_bits was not offered"));
        }
        // In a response, the parameter must have a value.
        (_, ClientWindowBits::Offered(None)) => {
            return Err(NegotiationError::InvalidValue(CLIENT_MAX_WINDOW_BITS.to_owned()));
        }
        (_, ClientWindowBits::Offered(Some(8))) => return Err(NegotiationError::WindowEightUnsupported),
        (_, ClientWindowBits::Offered(Some(bits))) => Some(bits),
    };
    Ok(DeflateParams {
        server_no_context_takeover: response.server_no_context_takeover,
        client_no_context_takeover: response.client_no_context_takeover,
        server_max_window_bits: response.server_max_window_bits,
        client_max_window_bits,
    })
}
