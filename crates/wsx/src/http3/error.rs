//! The HTTP/3 error codes (RFC 9114 §8.1, RFC 9204 §6) and the error a
//! peer's mistake becomes: a code, whether it ends the whole connection or
//! only its stream, and a short reason for the logs and the CONNECTION_CLOSE.

use std::fmt;

/// An HTTP/3 or QPACK application error code, as carried by QUIC's
/// CONNECTION_CLOSE, RESET_STREAM and STOP_SENDING.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ErrorCode(pub u64);

impl ErrorCode {
    /// No error: a graceful close.
    pub(crate) const NO_ERROR: Self = Self(0x100);
    /// An error of our own.
    pub(crate) const INTERNAL_ERROR: Self = Self(0x102);
    /// A stream of a kind the peer may not open (a second control stream,
    /// a push stream sent to a server).
    pub(crate) const STREAM_CREATION_ERROR: Self = Self(0x103);
    /// A stream the connection needs (control, QPACK) was closed or reset.
    pub(crate) const CLOSED_CRITICAL_STREAM: Self = Self(0x104);
    /// A frame not allowed in its place (DATA before HEADERS, SETTINGS on a
    /// request stream, a second SETTINGS…).
    pub(crate) const FRAME_UNEXPECTED: Self = Self(0x105);
    /// A frame whose layout is wrong (a payload longer or shorter than its
    /// fields).
    pub(crate) const FRAME_ERROR: Self = Self(0x106);
    /// The peer asks for more than we give (a frame over our size limit).
    pub(crate) const EXCESSIVE_LOAD: Self = Self(0x107);
    /// A stream or push identifier used wrongly.
    pub(crate) const ID_ERROR: Self = Self(0x108);
    /// SETTINGS with a duplicate, forbidden or out-of-range parameter.
    pub(crate) const SETTINGS_ERROR: Self = Self(0x109);
    /// The control stream did not start with SETTINGS.
    pub(crate) const MISSING_SETTINGS: Self = Self(0x10a);
    /// A request refused before any of it was processed: it may be retried.
    pub(crate) const REQUEST_REJECTED: Self = Self(0x10b);
    /// A request or response no longer needed: a WebSocket dropped before
    /// its closing handshake (RFC 8441 §5's CANCEL, for HTTP/3).
    pub(crate) const REQUEST_CANCELLED: Self = Self(0x10c);
    /// A stream ended before its request was complete.
    pub(crate) const REQUEST_INCOMPLETE: Self = Self(0x10d);
    /// A malformed request or response (RFC 9114 §4.1.2).
    pub(crate) const MESSAGE_ERROR: Self = Self(0x10e);
    /// QPACK: a field section that cannot be decoded.
    pub(crate) const QPACK_DECOMPRESSION_FAILED: Self = Self(0x200);
    /// QPACK: an instruction on the encoder stream that cannot be honoured.
    pub(crate) const QPACK_ENCODER_STREAM_ERROR: Self = Self(0x201);

    /// The code as a QUIC variable-length integer.
    pub(crate) fn varint(self) -> quinn::VarInt {
        quinn::VarInt::from_u64(self.0).unwrap_or(quinn::VarInt::MAX)
    }

    /// The RFC's name for a code we know.
    pub(crate) fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x100 => "H3_NO_ERROR",
            0x101 => "H3_GENERAL_PROTOCOL_ERROR",
            0x102 => "H3_INTERNAL_ERROR",
            0x103 => "H3_STREAM_CREATION_ERROR",
            0x104 => "H3_CLOSED_CRITICAL_STREAM",
            0x105 => "H3_FRAME_UNEXPECTED",
            0x106 => "H3_FRAME_ERROR",
            0x107 => "H3_EXCESSIVE_LOAD",
            0x108 => "H3_ID_ERROR",
            0x109 => "H3_SETTINGS_ERROR",
            0x10a => "H3_MISSING_SETTINGS",
            0x10b => "H3_REQUEST_REJECTED",
            0x10c => "H3_REQUEST_CANCELLED",
            0x10d => "H3_REQUEST_INCOMPLETE",
            0x10e => "H3_MESSAGE_ERROR",
            0x10f => "H3_CONNECT_ERROR",
            0x110 => "H3_VERSION_FALLBACK",
            0x200 => "QPACK_DECOMPRESSION_FAILED",
            0x201 => "QPACK_ENCODER_STREAM_ERROR",
            0x202 => "QPACK_DECODER_STREAM_ERROR",
            _ => return None,
        })
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{:#x}", self.0),
        }
    }
}

/// A peer's violation: what to send and how far it reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct H3Error {
    /// The code to close (or reset) with.
    pub(crate) code: ErrorCode,
    /// Whether the whole connection fails (RFC 9114 §8: a connection
    /// error) or only the stream the violation came on (a stream error).
    pub(crate) connection: bool,
    /// What went wrong, for the logs and the CONNECTION_CLOSE reason.
    pub(crate) reason: &'static str,
}

impl H3Error {
    /// A connection error.
    pub(crate) const fn connection(code: ErrorCode, reason: &'static str) -> Self {
        Self { code, connection: true, reason }
    }
}

impl fmt::Display for H3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scope = if self.connection { "connection" } else { "stream" };
        write!(f, "HTTP/3 {scope} error {}: {}", self.code, self.reason)
    }
}

impl std::error::Error for H3Error {}
