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
//! With permessage-deflate (RFC 7692), a server that resets its compressor
//! after every message (`server_no_context_takeover`) compresses a message
//! the same way on every connection with the same window, memLevel and
//! level, so the compressed frame is also built once and shared (RSV1 set,
//! §7.2.1); with context takeover each connection compresses with its own
//! window. Messages under the compression threshold go uncompressed, which
//! RFC 7692 §6 allows per message.

use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};

use crate::extension::codec::Compressor;
use crate::frame::FrameHeader;
use crate::message::MessageKind;
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
#[derive(Debug, Clone)]
pub struct PreparedMessage {
    kind: MessageKind,
    frame: Bytes,
    header_len: usize,
    /// Compressed frames already built, by compressor settings.
    compressed: Arc<Mutex<Vec<(DeflateKey, Bytes)>>>,
}

/// The settings that decide a message's compressed bytes when the
/// compressor starts fresh: window bits, memLevel, level.
pub(crate) type DeflateKey = (u8, u8, u8);

/// Distinct compressor settings remembered per message (more are compressed
/// but not kept).
const COMPRESSED_VARIANTS: usize = 4;

impl PartialEq for PreparedMessage {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.frame == other.frame
    }
}

impl Eq for PreparedMessage {}

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
        let (frame, header_len) = server_frame(kind, false, payload);
        Self { kind, frame, header_len, compressed: Arc::default() }
    }

    /// The message compressed by a fresh compressor with these settings, as
    /// one frame with RSV1 set (RFC 7692 §7.2.1); built on first use and
    /// shared afterwards. `None` if zlib fails.
    pub(crate) fn compressed_frame(&self, key: DeflateKey) -> Option<Bytes> {
        let mut cache = self.compressed.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, frame)) = cache.iter().find(|(k, _)| *k == key) {
            return Some(frame.clone());
        }
        let (window_bits, mem_level, level) = key;
        let packed = Compressor::new(window_bits, mem_level, level, true).compress(&self.payload()).ok()?;
        // RFC 7692 §6.1: RSV1 on the first frame of a compressed message.
        let (frame, _) = server_frame(self.kind, true, &packed);
        if cache.len() < COMPRESSED_VARIANTS {
            cache.push((key, frame.clone()));
        }
        Some(frame)
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

    /// The payload, borrowed from the frame.
    pub(crate) fn payload_slice(&self) -> &[u8] {
        &self.frame[self.header_len..]
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

/// One whole unmasked frame (a server's), header and payload in one buffer,
/// and the header's length.
fn server_frame(kind: MessageKind, rsv1: bool, payload: &[u8]) -> (Bytes, usize) {
    let header = FrameHeader {
        fin: true,
        rsv1,
        rsv2: false,
        rsv3: false,
        opcode: kind.opcode(),
        mask: None,
        payload_len: payload.len() as u64,
    };
    let mut head = [0u8; FrameHeader::MAX_LEN];
    let header_len = header.encode(&mut head);
    let mut frame = BytesMut::with_capacity(header_len + payload.len());
    frame.put_slice(&head[..header_len]);
    frame.put_slice(payload);
    (frame.freeze(), header_len)
}

#[cfg(test)]
mod tests {
    use super::PreparedMessage;
    use crate::extension::DeflateParams;
    use crate::frame::mask::apply_mask;
    use crate::frame::{FrameHeader, OpCode};
    use crate::{Config, Connection, Event, Message, Negotiated, Role, SendError, Transmit};

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
    fn a_client_prepared_message_reaches_a_server_intact_at_every_length_encoding() {
        // Up to 125 bytes the client builds the frame on the stack; from 126
        // on (16-bit length) it stages the header and masks the copy.
        let mut client = connection(Role::Client, Config::default());
        let mut server = connection(Role::Server, Config::default());
        for len in [0, 1, 7, 8, 9, 15, 16, 17, 124, 125, 126, 127, 300, 65_536] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let text: String = (0..len).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            client.send_prepared(&PreparedMessage::binary(data.clone())).unwrap();
            client.send_prepared(&PreparedMessage::text(text.as_str())).unwrap();
            server.receive(&drain(&mut client));
            assert_eq!(server.poll_event(), Some(Event::Message(Message::binary(data))), "{len} bytes");
            assert_eq!(server.poll_event(), Some(Event::Message(Message::text(text))), "{len} bytes");
            assert_eq!(server.poll_event(), None);
        }
    }

    #[test]
    fn a_client_draws_a_fresh_key_for_every_copy() {
        // RFC 6455 §5.3: "a new masking key" for every frame, prepared or not.
        let prepared = PreparedMessage::binary(vec![0xA5u8; 37]);
        let mut conn = connection(Role::Client, Config::default());
        let mut keys = Vec::new();
        for _ in 0..4 {
            conn.send_prepared(&prepared).unwrap();
            let out = drain(&mut conn);
            let (header, len) = FrameHeader::decode(&out).unwrap().unwrap();
            assert!(header.fin && !header.rsv1 && header.opcode == OpCode::Binary);
            let key = header.mask.expect("masked");
            let mut payload = out[len..].to_vec();
            apply_mask(&mut payload, key, 0);
            assert_eq!(payload, vec![0xA5u8; 37]);
            keys.push(key);
        }
        keys.dedup();
        assert_eq!(keys.len(), 4, "every copy masked with its own key");
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

    fn deflate_pair(server_no_context_takeover: bool) -> (Connection, Connection, Connection) {
        let params = DeflateParams { server_no_context_takeover, ..DeflateParams::default() };
        let make = |role| {
            Connection::new(
                Negotiated::new(role).with_deflate(Some(params)),
                Config::default(),
                Box::new(<rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(3)),
            )
        };
        (make(Role::Server), make(Role::Server), make(Role::Client))
    }

    fn received_text(client: &mut Connection, bytes: &[u8]) -> String {
        client.receive(bytes);
        match client.poll_event() {
            Some(Event::Message(Message::Text(text))) => text.to_string(),
            other => panic!("expected a text message, got {other:?}"),
        }
    }

    #[test]
    fn without_context_takeover_the_compressed_frame_is_built_once() {
        let text = "a room message that compresses well, ".repeat(20);
        let prepared = PreparedMessage::text(text.clone());
        let (mut one, mut two, mut client) = deflate_pair(true);
        for _ in 0..2 {
            one.send_prepared(&prepared).unwrap();
            two.send_prepared(&prepared).unwrap();
            let Some(Transmit::Bytes(a)) = one.poll_transmit() else { panic!("no output") };
            let Some(Transmit::Bytes(b)) = two.poll_transmit() else { panic!("no output") };
            assert_eq!(a.as_ptr(), b.as_ptr(), "one compressed frame shared by both connections");
            let (header, _) = FrameHeader::decode(&a).unwrap().unwrap();
            assert!(header.rsv1 && (header.payload_len as usize) < text.len());
            assert_eq!(received_text(&mut client, &a), text);
        }
    }

    #[test]
    fn with_context_takeover_each_connection_compresses_with_its_own_window() {
        let text = "a room message that compresses well, ".repeat(20);
        let prepared = PreparedMessage::text(text.clone());
        let (mut server, _, mut client) = deflate_pair(false);
        let mut sizes = Vec::new();
        for _ in 0..2 {
            server.send_prepared(&prepared).unwrap();
            let out = drain(&mut server);
            let (header, _) = FrameHeader::decode(&out).unwrap().unwrap();
            assert!(header.rsv1);
            sizes.push(out.len());
            assert_eq!(received_text(&mut client, &out), text);
        }
        // The second time, the window already holds the text.
        assert!(sizes[1] < sizes[0], "{sizes:?}");
        // Below the threshold, the shared uncompressed frame goes out.
        let small = PreparedMessage::text("hi");
        server.send_prepared(&small).unwrap();
        let Some(Transmit::Bytes(frame)) = server.poll_transmit() else { panic!("no output") };
        assert_eq!(frame.as_ptr(), small.frame().as_ptr());
    }

    #[test]
    fn clones_share_the_frame() {
        let prepared = PreparedMessage::text("shared");
        let copy = prepared.clone();
        assert_eq!(prepared.frame().as_ptr(), copy.frame().as_ptr());
    }
}
