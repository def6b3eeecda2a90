//! Messages (RFC 6455 §5.4, §5.6): what the application sends and receives.
//! Fragment assembly and its limits live in the connection's receive path.

use bytes::Bytes;

use crate::close::CloseFrame;
use crate::frame::OpCode;
use crate::utf8::Utf8Bytes;

/// A complete message, or a control frame, as the application sees it.
///
/// ```
/// use wsx_proto::Message;
/// let text = Message::text("hi");
/// assert!(text.is_text());
/// assert_eq!(text.payload().as_ref(), b"hi");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message: valid UTF-8, shared without a copy.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A Ping (payload at most 125 bytes). Received pings are answered
    /// automatically unless `Config::auto_pong` is off.
    Ping(Bytes),
    /// A Pong (payload at most 125 bytes).
    Pong(Bytes),
    /// A Close frame: `None` when it carried no status code.
    Close(Option<CloseFrame>),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Self::Text(text.into())
    }

    /// A binary message.
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Self::Binary(data.into())
    }

    /// Whether this is a text message.
    pub fn is_text(&self) -> bool {
        matches!(self, Self::Text(_))
    }

    /// Whether this is a binary message.
    pub fn is_binary(&self) -> bool {
        matches!(self, Self::Binary(_))
    }

    /// Whether this is a Close frame.
    pub fn is_close(&self) -> bool {
        matches!(self, Self::Close(_))
    }

    /// The payload bytes (for Close, the reason).
    pub fn payload(&self) -> Bytes {
        match self {
            Self::Text(text) => text.clone().into_bytes(),
            Self::Binary(data) | Self::Ping(data) | Self::Pong(data) => data.clone(),
            Self::Close(Some(frame)) => frame.reason.clone().into_bytes(),
            Self::Close(None) => Bytes::new(),
        }
    }

    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Self::Text(text) => text.len(),
            Self::Binary(data) | Self::Ping(data) | Self::Pong(data) => data.len(),
            Self::Close(Some(frame)) => 2 + frame.reason.len(),
            Self::Close(None) => 0,
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Self::text(text)
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Self::text(text)
    }
}

impl From<Utf8Bytes> for Message {
    fn from(text: Utf8Bytes) -> Self {
        Self::Text(text)
    }
}

impl From<Bytes> for Message {
    fn from(data: Bytes) -> Self {
        Self::Binary(data)
    }
}

impl From<Vec<u8>> for Message {
    fn from(data: Vec<u8>) -> Self {
        Self::Binary(data.into())
    }
}

/// The kind of a data message, for [`Connection::send_fragment`](crate::Connection::send_fragment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// A text message: the fragments together must be valid UTF-8.
    Text,
    /// A binary message.
    Binary,
}

impl MessageKind {
    /// The opcode of the message's first frame.
    pub(crate) fn opcode(self) -> OpCode {
        match self {
            Self::Text => OpCode::Text,
            Self::Binary => OpCode::Binary,
        }
    }
}
