//! Close codes and Close frame payloads (RFC 6455 §5.5.1, §7.4).

use bytes::{BufMut, Bytes, BytesMut};
use std::fmt;

use crate::error::{ProtocolError, SendError};
use crate::utf8::Utf8Bytes;

/// A close status code (RFC 6455 §7.4), with the RFC's names as constants.
///
/// ```
/// use wsx_proto::CloseCode;
/// assert_eq!(CloseCode::NORMAL.as_u16(), 1000);
/// assert!(CloseCode::from(4000).is_sendable());
/// assert!(!CloseCode::from(1005).is_sendable());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(u16);

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: Self = Self(1000);
    /// 1001: an endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: Self = Self(1001);
    /// 1002: the endpoint received a frame that violates the protocol.
    pub const PROTOCOL_ERROR: Self = Self(1002);
    /// 1003: the endpoint received a type of data it cannot accept.
    pub const UNSUPPORTED_DATA: Self = Self(1003);
    /// 1005: reserved; stands for "no status code was present". Never sent.
    pub const NO_STATUS_RECEIVED: Self = Self(1005);
    /// 1006: reserved; stands for "closed without a Close frame". Never sent.
    pub const ABNORMAL_CLOSURE: Self = Self(1006);
    /// 1007: data inconsistent with the message type (e.g. invalid UTF-8).
    pub const INVALID_PAYLOAD: Self = Self(1007);
    /// 1008: a message violates the endpoint's policy.
    pub const POLICY_VIOLATION: Self = Self(1008);
    /// 1009: a message is too big to process.
    pub const MESSAGE_TOO_BIG: Self = Self(1009);
    /// 1010: the client expected the server to negotiate an extension.
    pub const MANDATORY_EXTENSION: Self = Self(1010);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: Self = Self(1011);
    /// 1012: the service is restarting (IANA registry).
    pub const SERVICE_RESTART: Self = Self(1012);
    /// 1013: try again later (IANA registry).
    pub const TRY_AGAIN_LATER: Self = Self(1013);
    /// 1014: bad gateway (IANA registry).
    pub const BAD_GATEWAY: Self = Self(1014);
    /// 1015: reserved; stands for "TLS handshake failed". Never sent.
    pub const TLS_HANDSHAKE: Self = Self(1015);

    /// The numeric value.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// Whether this code may appear in a Close frame on the wire (§7.4.1,
    /// §7.4.2): 1000–1003, 1007–1014 and 3000–4999. Everything else —
    /// below 1000, 1004–1006, 1015, unassigned 1016–2999, 5000 and above —
    /// is refused when received (1002) and when asked to send.
    pub const fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }

    /// The RFC's name for a registered code.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1000 => "normal closure",
            1001 => "going away",
            1002 => "protocol error",
            1003 => "unsupported data",
            1005 => "no status received",
            1006 => "abnormal closure",
            1007 => "invalid frame payload data",
            1008 => "policy violation",
            1009 => "message too big",
            1010 => "mandatory extension",
            1011 => "internal error",
            1012 => "service restart",
            1013 => "try again later",
            1014 => "bad gateway",
            1015 => "TLS handshake",
            _ => return None,
        })
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        Self(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} ({name})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// The payload of a Close frame that carries a status code (§5.5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason, valid UTF-8, at most 123 bytes.
    pub reason: Utf8Bytes,
}

impl CloseFrame {
    /// The longest reason that fits in a control frame: 125 − 2 bytes.
    pub const MAX_REASON_LEN: usize = 123;

    /// A Close frame payload, checked for sending.
    ///
    /// ```
    /// use wsx_proto::{CloseCode, CloseFrame};
    /// let frame = CloseFrame::new(CloseCode::NORMAL, "bye")?;
    /// assert_eq!(frame.reason.as_str(), "bye");
    /// assert!(CloseFrame::new(CloseCode::from(1006), "").is_err());
    /// # Ok::<(), wsx_proto::SendError>(())
    /// ```
    pub fn new(code: CloseCode, reason: impl Into<Utf8Bytes>) -> Result<Self, SendError> {
        let reason = reason.into();
        if !code.is_sendable() {
            return Err(SendError::InvalidCloseCode(code.as_u16()));
        }
        if reason.len() > Self::MAX_REASON_LEN {
            return Err(SendError::CloseReasonTooLong(reason.len()));
        }
        Ok(Self { code, reason })
    }

    /// Parses a received Close payload (§5.5.1): empty gives `None`; one byte
    /// is a protocol error; otherwise a sendable code and a UTF-8 reason.
    pub fn parse(payload: Bytes) -> Result<Option<Self>, ProtocolError> {
        match payload.len() {
            0 => Ok(None),
            1 => Err(ProtocolError::CloseFrameOneByte),
            _ => {
                let code = CloseCode(u16::from_be_bytes([payload[0], payload[1]]));
                // RFC 6455 §7.4: codes outside the defined ranges MUST NOT be used.
                if !code.is_sendable() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                // RFC 6455 §5.5.1: the reason "is not guaranteed to be human
                // readable" but "the data MUST be UTF-8-encoded".
                let reason = Utf8Bytes::try_from(payload.slice(2..)).map_err(|_| ProtocolError::InvalidCloseReason)?;
                Ok(Some(Self { code, reason }))
            }
        }
    }

    /// Appends the wire payload: the code in network byte order, then the reason.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u16(self.code.0);
        out.extend_from_slice(self.reason.as_bytes());
    }
}

impl ProtocolError {
    /// The status code of the Close frame sent when this error fails the
    /// connection (RFC 6455 §7.4.1). One exhaustive table.
    ///
    /// ```
    /// use wsx_proto::{CloseCode, ProtocolError};
    /// assert_eq!(ProtocolError::InvalidUtf8.close_code(), CloseCode::INVALID_PAYLOAD);
    /// ```
    pub fn close_code(&self) -> CloseCode {
        match self {
            Self::ReservedBits { .. }
            | Self::ReservedOpcode(_)
            | Self::FragmentedControlFrame
            | Self::ControlFrameTooLong(_)
            | Self::UnmaskedFrame
            | Self::MaskedFrame
            | Self::PayloadLengthMsbSet
            | Self::UnexpectedContinuation
            | Self::ExpectedContinuation
            | Self::CloseFrameOneByte
            | Self::InvalidCloseCode(_)
            | Self::CompressedControlFrame
            | Self::CompressedContinuation => CloseCode::PROTOCOL_ERROR,
            Self::InvalidUtf8 | Self::InvalidCloseReason | Self::InvalidCompressedData => CloseCode::INVALID_PAYLOAD,
            Self::FrameTooLarge { .. } | Self::MessageTooLarge { .. } => CloseCode::MESSAGE_TOO_BIG,
            Self::TooManyFragments { .. } => CloseCode::POLICY_VIOLATION,
        }
    }

    /// A short reason for the Close frame (at most 123 bytes, ASCII).
    pub fn close_reason(&self) -> &'static str {
        match self.close_code() {
            CloseCode::PROTOCOL_ERROR => "protocol error",
            CloseCode::INVALID_PAYLOAD if *self == Self::InvalidCompressedData => "invalid compressed data",
            CloseCode::INVALID_PAYLOAD => "invalid UTF-8",
            CloseCode::MESSAGE_TOO_BIG => "message too big",
            CloseCode::POLICY_VIOLATION => "policy violation",
            _ => "",
        }
    }
}
