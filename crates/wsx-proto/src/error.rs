//! Errors of the protocol core (RFC 6455 §7.1.7, §7.4).
//!
//! [`ProtocolError`] is everything a peer can do wrong after the opening
//! handshake. Each one fails the connection with the close code that
//! [`ProtocolError::close_code`] gives: that match, in the `close` module
//! next to the codes, is the one table that turns peer errors into close
//! codes. [`SendError`] is the caller's misuse of the
//! send API; it never touches the connection.

/// A violation of RFC 6455 by the peer. It fails the connection: the core
/// queues a Close frame with [`close_code`](Self::close_code) and stops
/// processing input.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// RSV1, RSV2 or RSV3 set while no negotiated extension defines it (§5.2).
    #[error("reserved bits set without a negotiated extension (RSV1={rsv1}, RSV2={rsv2}, RSV3={rsv3})")]
    ReservedBits {
        /// RSV1 was set.
        rsv1: bool,
        /// RSV2 was set.
        rsv2: bool,
        /// RSV3 was set.
        rsv3: bool,
    },
    /// An opcode that RFC 6455 reserves (0x3–0x7, 0xB–0xF) (§5.2).
    #[error("reserved opcode {0:#x}")]
    ReservedOpcode(u8),
    /// A control frame without FIN (§5.5).
    #[error("fragmented control frame")]
    FragmentedControlFrame,
    /// A control frame whose payload is longer than 125 bytes (§5.5).
    #[error("control frame payload of {0} bytes exceeds 125")]
    ControlFrameTooLong(u64),
    /// A client sent an unmasked frame (§5.1).
    #[error("unmasked frame from the client")]
    UnmaskedFrame,
    /// A server sent a masked frame (§5.1).
    #[error("masked frame from the server")]
    MaskedFrame,
    /// A 64-bit payload length with its most significant bit set (§5.2).
    #[error("64-bit payload length with the most significant bit set")]
    PayloadLengthMsbSet,
    /// A continuation frame while no fragmented message was in progress (§5.4).
    #[error("continuation frame without a message in progress")]
    UnexpectedContinuation,
    /// A new text or binary frame inside a fragmented message (§5.4).
    #[error("new data frame inside a fragmented message; expected a continuation")]
    ExpectedContinuation,
    /// Text that is not valid UTF-8 (§5.6, §8.1).
    #[error("invalid UTF-8 in a text message")]
    InvalidUtf8,
    /// A Close frame with a one-byte payload (§5.5.1).
    #[error("close frame payload of 1 byte; a status code takes 2")]
    CloseFrameOneByte,
    /// A Close frame carrying a status code that may not be sent (§7.4).
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// A Close frame whose reason is not valid UTF-8 (§5.5.1).
    #[error("close reason is not valid UTF-8")]
    InvalidCloseReason,
    /// A frame whose declared payload exceeds the frame limit (checked at the header).
    #[error("frame payload of {len} bytes exceeds the limit of {max}")]
    FrameTooLarge {
        /// The declared payload length.
        len: u64,
        /// The configured limit.
        max: usize,
    },
    /// A message that would exceed the message limit (checked at each frame header).
    #[error("message of at least {len} bytes exceeds the limit of {max}")]
    MessageTooLarge {
        /// The size the message would reach.
        len: u64,
        /// The configured limit.
        max: usize,
    },
    /// A message split into more frames than the limit allows.
    #[error("message split into more than {max} frames")]
    TooManyFragments {
        /// The configured limit.
        max: usize,
    },
    /// RSV1 ("Per-Message Compressed") on a control frame (RFC 7692 §6.1).
    #[error("RSV1 set on a control frame")]
    CompressedControlFrame,
    /// RSV1 on a continuation frame: only the first frame of a message
    /// carries it (RFC 7692 §6.1).
    #[error("RSV1 set on a continuation frame")]
    CompressedContinuation,
    /// A compressed message that is not a valid DEFLATE stream (RFC 7692 §7.2.2).
    #[error("invalid compressed data")]
    InvalidCompressedData,
}

/// The caller asked for something the connection cannot do. The connection
/// is left as it was.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// A Close frame was already sent or the connection is closed; RFC 6455
    /// §5.5.1: "the endpoint MUST NOT send any more data frames".
    #[error("the connection is closing or closed")]
    Closed,
    /// Control frame payloads are limited to 125 bytes (§5.5).
    #[error("control frame payload of {0} bytes exceeds 125")]
    ControlPayloadTooLong(usize),
    /// This close code may not be sent in a Close frame (§7.4).
    #[error("close code {0} may not be sent")]
    InvalidCloseCode(u16),
    /// The close reason does not fit in a control frame (at most 123 bytes).
    #[error("close reason of {0} bytes exceeds 123")]
    CloseReasonTooLong(usize),
    /// A whole message was sent while a fragmented one is unfinished (§5.4).
    #[error("a fragmented message is in progress; finish it first")]
    FragmentedMessageInProgress,
    /// A fragment continued a message of the other kind.
    #[error("fragment kind differs from the message in progress")]
    FragmentKindMismatch,
    /// Fragments of a text message must form valid UTF-8 (§5.6).
    #[error("text fragments are not valid UTF-8")]
    InvalidUtf8,
    /// The compressor failed (an internal zlib error; the message was not sent).
    #[error("compressing the message failed")]
    CompressionFailed,
}
