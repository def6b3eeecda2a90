//! A data message encoded once for many connections (RFC 6455 §5.2, §5.6):
//! the unmasked frame a server sends, built a single time and shared by
//! reference count, so fanning one message out to N peers costs one encode
//! and no copy per peer.
//!
//! RFC 6455 §5.1: "A server MUST NOT mask any frames that it sends to the
//! client." — so the same bytes are valid on every server connection.
//! RFC 6455 §5.3: a client must mask every frame with "a new masking key"
//! — so a client connection cannot share the bytes; it re-encodes from
//! [`PreparedMessage::payload`] (see `Connection::send_prepared`).
//!
//! The frame is never compressed (RSV1 clear). RFC 7692 §6 lets an endpoint
//! send any message uncompressed on a connection that negotiated
//! permessage-deflate, so a prepared message is valid there too.

use bytes::{BufMut, Bytes, BytesMut};

use crate::connection::MessageKind;
use crate::frame::{FrameHeader, OpCode};
use crate::utf8::Utf8Bytes;

/// A text or binary message encoded once as a single unmasked frame.
///
/// Cloning is cheap (a reference count); every clone shares the frame.
///
/// ```
/// use wsx_proto::PreparedMessage;
/// let prepared = PreparedMessage::text("Hello");
/// // RFC 6455 §5.7: a single-frame unmasked text message.
/// assert_eq!(&prepared.frame()[..], &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
/// assert_eq!(&prepared.payload()[..], b"Hello");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedMessage {
    kind: MessageKind,
    frame: Bytes,
    header_len: usize,
}

impl PreparedMessage {
    /// Encodes a text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Self::encode(MessageKind::Text, &text.into().into_bytes())
    }

    /// Encodes a binary message.
    pub fn binary(data: impl AsRef<[u8]>) -> Self {
        Self::encode(MessageKind::Binary, data.as_ref())
    }

    fn encode(kind: MessageKind, payload: &[u8]) -> Self {
        let opcode = match kind {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        };
        let header = FrameHeader {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask: None,
            payload_len: payload.len() as u64,
        };
        let mut head = [0u8; FrameHeader::MAX_LEN];
        let header_len = header.encode(&mut head);
        let mut frame = BytesMut::with_capacity(header_len + payload.len());
        frame.put_slice(&head[..header_len]);
        frame.put_slice(payload);
        Self { kind, frame: frame.freeze(), header_len }
    }

    /// Text or binary.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    /// The whole encoded frame: header and payload.
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }

    /// The payload (application data), sharing the frame's memory.
    pub fn payload(&self) -> Bytes {
        self.frame.slice(self.header_len..)
    }

    /// Size of the payload in bytes.
    pub fn len(&self) -> usize {
        self.frame.len() - self.header_len
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::PreparedMessage;
    use crate::frame::mask::apply_mask;
    use crate::frame::{FrameHeader, OpCode};
    use crate::{Config, Connection, Negotiated, Role, SendError, Transmit};

    #[test]
    fn lengths_use_the_right_encoding() {
        // RFC 6455 §5.2: 7-bit, 16-bit (126) and 64-bit (127) lengths.
        for (len, header_len) in [(0, 2), (125, 2), (126, 4), (65_535, 4), (65_536, 10)] {
            let prepared = PreparedMessage::binary(vec![7u8; len]);
            let (header, consumed) = FrameHeader::decode(prepared.frame()).unwrap().unwrap();
            assert_eq!(consumed, header_len);
            assert_eq!(header.payload_len, len as u64);
            assert_eq!(header.opcode, OpCode::Binary);
            assert!(header.fin && header.mask.is_none() && !header.rsv1);
            assert_eq!(prepared.len(), len);
            assert_eq!(prepared.payload().len(), len);
        }
    }

    fn drain(conn: &mut Connection) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(Transmit::Bytes(bytes)) = conn.poll_transmit() {
            out.extend_from_slice(&bytes);
        }
        out
    }

    fn connection(role: Role, config: Config) -> Connection {
        Connection::new(
            Negotiated::new(role),
            config,
            Box::new(<rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7)),
        )
    }

    #[test]
    fn a_server_sends_the_shared_frame_after_what_was_queued() {
        let prepared = PreparedMessage::binary(vec![5u8; 10_000]);
        let mut conn = connection(Role::Server, Config::default());
        conn.send_text("first").unwrap();
        conn.send_prepared(&prepared).unwrap();
        let Some(Transmit::Bytes(first)) = conn.poll_transmit() else { panic!("no output") };
        assert_eq!(&first[..], b"\x81\x05first");
        let Some(Transmit::Bytes(shared)) = conn.poll_transmit() else { panic!("no output") };
        assert_eq!(shared.as_ptr(), prepared.frame().as_ptr(), "queued without a copy");
        assert_eq!(shared.len(), prepared.frame().len());
    }

    #[test]
    fn a_client_masks_a_prepared_message_with_its_own_key() {
        // RFC 6455 §5.3: every client frame masked with a fresh key.
        let prepared = PreparedMessage::text("Hello");
        let mut conn = connection(Role::Client, Config::default());
        conn.send_prepared(&prepared).unwrap();
        let out = drain(&mut conn);
        let (header, len) = FrameHeader::decode(&out).unwrap().unwrap();
        let key = header.mask.expect("masked");
        let mut payload = out[len..].to_vec();
        apply_mask(&mut payload, key, 0);
        assert_eq!((header.opcode, &payload[..]), (OpCode::Text, &b"Hello"[..]));
    }

    #[test]
    fn fragment_size_still_applies_and_closed_connections_refuse() {
        let prepared = PreparedMessage::binary(vec![1u8; 10]);
        let mut conn = connection(Role::Server, Config::default().fragment_size(Some(4)));
        conn.send_prepared(&prepared).unwrap();
        let out = drain(&mut conn);
        // 4 + 4 + 2 bytes: three frames of 2-byte headers.
        assert_eq!(out.len(), 10 + 3 * 2);
        assert_eq!(out[0], 0x02, "first fragment: Binary without FIN");
        conn.close(None).unwrap();
        assert_eq!(conn.send_prepared(&prepared), Err(SendError::Closed));
    }

    #[test]
    fn clones_share_the_frame() {
        let prepared = PreparedMessage::text("shared");
        let copy = prepared.clone();
        assert_eq!(prepared.frame().as_ptr(), copy.frame().as_ptr());
    }
}
