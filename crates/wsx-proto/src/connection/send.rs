//! The send path (RFC 6455 §5.2–§5.5, §7.1.2): frames encoded into an output
//! queue, client frames masked with a fresh key each (§5.3), small frames
//! coalesced into one buffer, large server payloads passed through without a
//! copy, at most one Pong pending. With permessage-deflate (RFC 7692
//! §7.2.1) a whole message at or above the threshold is compressed, the
//! `00 00 ff ff` tail removed, and RSV1 set on its first frame only;
//! streamed messages ([`Connection::send_fragment`]) and messages sent with
//! [`Connection::send_uncompressed`] go uncompressed, which RFC 7692 allows
//! per message.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use super::{Connection, Role, State, Transmit};
use crate::close::{CloseCode, CloseFrame};
use crate::error::SendError;
use crate::extension::codec::Compressor;
use crate::frame::mask::{apply_mask, mask_into};
use crate::frame::{FrameHeader, OpCode};
use crate::message::{Message, MessageKind};
use crate::prepared::DeflateKey;
use crate::utf8::{Utf8Bytes, Utf8Validator};

/// Payloads up to this size are copied next to their header, so that many
/// small frames leave in one buffer; larger ones are queued as they are.
const INLINE_PAYLOAD: usize = 4 * 1024;
/// Least room the output buffer takes when it must grow: a burst of small
/// replies (a pipelined peer's) then fills one allocation instead of
/// growing it frame by frame from a few bytes. Small enough for the
/// allocators' per-thread caches (glibc's tcache serves up to 1,032 bytes):
/// a lone reply allocates once per flush.
const STAGING_ROOM: usize = 1024;

/// Client payloads up to this size (the most a header's 7-bit length
/// field holds) are masked into a frame built on the stack.
const SMALL_MASKED: usize = 125;

#[derive(Debug, Default)]
pub(super) struct Sender {
    /// Encoded output not yet taken, with whether each chunk ends a frame.
    chunks: VecDeque<(Bytes, bool)>,
    chunk_bytes: usize,
    /// Whole frames (or a header whose payload is the next chunk) being built.
    staging: BytesMut,
    /// The last chunk handed out ended mid-frame: a Pong must wait.
    mid_frame: bool,
    pub(super) pending_pong: Option<Bytes>,
    pub(super) shutdown_pending: bool,
    /// A fragmented message being sent, and the UTF-8 state of its text.
    outgoing: Option<MessageKind>,
    outgoing_utf8: Utf8Validator,
    /// permessage-deflate's compressor, when the handshake agreed to it;
    /// boxed, so a connection without it does not carry its size.
    pub(super) compressor: Option<Box<Compressor>>,
    /// Messages smaller than this go uncompressed.
    pub(super) threshold: usize,
    /// The compressor's settings when it starts fresh for every message: a
    /// prepared message compressed once with them can be queued as it is.
    pub(super) shared_deflate_key: Option<DeflateKey>,
}

impl Sender {
    pub(super) fn buffered_amount(&self) -> usize {
        self.chunk_bytes + self.staging.len() + self.pending_pong.as_ref().map_or(0, |p| p.len() + 14)
    }

    pub(super) fn clear(&mut self) {
        self.chunks.clear();
        self.chunk_bytes = 0;
        self.staging = BytesMut::new();
        self.pending_pong = None;
        self.shutdown_pending = false;
    }

    fn push_chunk(&mut self, chunk: Bytes, ends_frame: bool) {
        self.chunk_bytes += chunk.len();
        self.chunks.push_back((chunk, ends_frame));
    }

    /// Makes room for `needed` more bytes in `staging`.
    #[inline]
    fn reserve_staging(&mut self, needed: usize) {
        if self.staging.capacity() - self.staging.len() < needed {
            self.grow_staging(needed);
        }
    }

    #[inline(never)]
    fn grow_staging(&mut self, needed: usize) {
        if self.staging.capacity() == 0 {
            // Released while idle: a fresh allocation, without `reserve`'s
            // search for room to reclaim.
            self.staging = BytesMut::with_capacity(needed.max(STAGING_ROOM));
        } else {
            self.staging.reserve(needed.max(STAGING_ROOM));
        }
    }

    fn flush_staging(&mut self, ends_frame: bool) {
        if !self.staging.is_empty() {
            let staged = self.staging.split().freeze();
            self.push_chunk(staged, ends_frame);
        }
    }
}

impl Connection {
    /// Queues a message (or control frame) of any kind.
    ///
    /// ```
    /// # use wsx_proto::{Config, Connection, Message, Negotiated, Role};
    /// let mut conn = Connection::new(Negotiated::new(Role::Server), Config::default(), Box::new(<rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0)));
    /// conn.send(Message::binary(vec![1, 2, 3]))?;
    /// assert!(conn.poll_transmit().is_some());
    /// # Ok::<(), wsx_proto::SendError>(())
    /// ```
    pub fn send(&mut self, message: Message) -> Result<(), SendError> {
        match message {
            Message::Text(text) => self.send_text(text),
            Message::Binary(data) => self.send_binary(data),
            Message::Ping(data) => self.send_ping(data),
            Message::Pong(data) => self.send_pong(data),
            Message::Close(None) => self.close(None),
            Message::Close(Some(frame)) => self.close(Some(frame)),
        }
    }

    /// Queues a text message.
    pub fn send_text(&mut self, text: impl Into<Utf8Bytes>) -> Result<(), SendError> {
        self.send_data(OpCode::Text, text.into().into_bytes())
    }

    /// Queues a binary message.
    pub fn send_binary(&mut self, data: impl Into<Bytes>) -> Result<(), SendError> {
        self.send_data(OpCode::Binary, data.into())
    }

    /// Queues a text or binary message without compressing it, even when
    /// permessage-deflate is in use (for data known not to compress, or
    /// secrets that must not share a compression context with
    /// attacker-chosen data). Control frames are sent as by [`send`](Self::send).
    ///
    /// ```
    /// # use wsx_proto::{Config, Connection, Message, Negotiated, Role, Transmit};
    /// # use wsx_proto::extension::DeflateParams;
    /// let negotiated = Negotiated::new(Role::Server).with_deflate(Some(DeflateParams::default()));
    /// let mut conn = Connection::new(negotiated, Config::default(), Box::new(<rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0)));
    /// conn.send_uncompressed(Message::text("x".repeat(100)))?;
    /// let Some(Transmit::Bytes(frame)) = conn.poll_transmit() else { unreachable!() };
    /// assert_eq!(frame[0], 0x81, "FIN, no RSV1, text");
    /// # Ok::<(), wsx_proto::SendError>(())
    /// ```
    pub fn send_uncompressed(&mut self, message: Message) -> Result<(), SendError> {
        match message {
            Message::Text(text) => self.send_data_with(OpCode::Text, text.into_bytes(), false),
            Message::Binary(data) => self.send_data_with(OpCode::Binary, data, false),
            control => self.send(control),
        }
    }

    fn send_data(&mut self, opcode: OpCode, payload: Bytes) -> Result<(), SendError> {
        self.send_data_with(opcode, payload, true)
    }

    fn send_data_with(&mut self, opcode: OpCode, payload: Bytes, compress: bool) -> Result<(), SendError> {
        self.check_can_send_data()?;
        if self.tx.outgoing.is_some() {
            return Err(SendError::FragmentedMessageInProgress);
        }
        let threshold = self.tx.threshold;
        let (payload, compressed) = match self.tx.compressor.as_mut() {
            Some(compressor) if compress && payload.len() >= threshold => {
                let packed = compressor.compress(&payload).map_err(|_| SendError::CompressionFailed)?;
                (Bytes::from(packed), true)
            }
            _ => (payload, false),
        };
        // The setter keeps the size at 1 or more: a zero step would loop
        // forever on empty frames.
        match self.config.get_fragment_size() {
            Some(size) if payload.len() > size => {
                let mut offset = 0;
                let mut first = true;
                while offset < payload.len() {
                    let end = (offset + size).min(payload.len());
                    let op = if first { opcode } else { OpCode::Continuation };
                    // RFC 7692 §6.1: RSV1 on the first frame of the message only.
                    self.write_frame_rsv1(op, end == payload.len(), first && compressed, payload.slice(offset..end));
                    first = false;
                    offset = end;
                }
            }
            _ => self.write_frame_rsv1(opcode, true, compressed, payload),
        }
        Ok(())
    }

    /// Sends one frame of a message whose size is not known in advance
    /// (§5.4): the first call starts the message, later calls continue it,
    /// and the call with `is_final` ends it. Control frames may be sent in
    /// between. Text fragments may split a character; together they must be
    /// valid UTF-8.
    ///
    /// ```
    /// # use wsx_proto::{Config, Connection, Negotiated, Role};
    /// # use wsx_proto::connection::MessageKind;
    /// let mut conn = Connection::new(Negotiated::new(Role::Server), Config::default(), Box::new(<rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0)));
    /// conn.send_fragment(MessageKind::Text, "hello, ", false)?;
    /// conn.send_ping("in between")?;
    /// conn.send_fragment(MessageKind::Text, "world", true)?;
    /// # Ok::<(), wsx_proto::SendError>(())
    /// ```
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        payload: impl Into<Bytes>,
        is_final: bool,
    ) -> Result<(), SendError> {
        self.check_can_send_data()?;
        let payload = payload.into();
        let opcode = match (self.tx.outgoing, kind) {
            (None, kind) => kind.opcode(),
            (Some(current), kind) if current == kind => OpCode::Continuation,
            (Some(_), _) => return Err(SendError::FragmentKindMismatch),
        };
        if kind == MessageKind::Text {
            // Check on a copy and keep it only if the fragment is accepted: a
            // refused fragment must leave the UTF-8 state as it was.
            let mut utf8 = match opcode {
                OpCode::Continuation => self.tx.outgoing_utf8.clone(),
                _ => Utf8Validator::default(),
            };
            utf8.feed(&payload).map_err(|_| SendError::InvalidUtf8)?;
            if is_final {
                utf8.finish().map_err(|_| SendError::InvalidUtf8)?;
            }
            self.tx.outgoing_utf8 = utf8;
        }
        self.write_frame(opcode, is_final, payload);
        self.tx.outgoing = if is_final { None } else { Some(kind) };
        Ok(())
    }

    /// Queues a Ping (payload at most 125 bytes).
    pub fn send_ping(&mut self, payload: impl Into<Bytes>) -> Result<(), SendError> {
        self.send_control(OpCode::Ping, payload.into())
    }

    /// Queues an unsolicited Pong, a unidirectional heartbeat (§5.5.3).
    pub fn send_pong(&mut self, payload: impl Into<Bytes>) -> Result<(), SendError> {
        self.send_control(OpCode::Pong, payload.into())
    }

    fn send_control(&mut self, opcode: OpCode, payload: Bytes) -> Result<(), SendError> {
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        if payload.len() > 125 {
            return Err(SendError::ControlPayloadTooLong(payload.len()));
        }
        self.write_frame(opcode, true, payload);
        Ok(())
    }

    /// Starts the closing handshake (§7.1.2): queues a Close frame (`None`:
    /// without a status code) and enters [`State::Closing`]. Messages still
    /// arrive until the peer's Close frame.
    ///
    /// ```
    /// # use wsx_proto::{CloseCode, CloseFrame, Config, Connection, Negotiated, Role};
    /// let mut conn = Connection::new(Negotiated::new(Role::Server), Config::default(), Box::new(<rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0)));
    /// conn.close(Some(CloseFrame::new(CloseCode::NORMAL, "done")?))?;
    /// assert!(conn.close_expected());
    /// assert!(conn.send_text("late").is_err());
    /// # Ok::<(), wsx_proto::SendError>(())
    /// ```
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), SendError> {
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        if let Some(frame) = &frame {
            if !frame.code.is_sendable() {
                return Err(SendError::InvalidCloseCode(frame.code.as_u16()));
            }
            if frame.reason.len() > CloseFrame::MAX_REASON_LEN {
                return Err(SendError::CloseReasonTooLong(frame.reason.len()));
            }
        }
        self.write_close(frame.as_ref());
        self.state = State::Closing(frame);
        Ok(())
    }

    /// Shorthand for `close` with a code and reason.
    pub fn close_with(&mut self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        let frame = CloseFrame::new(code, reason)?;
        self.close(Some(frame))
    }

    fn check_can_send_data(&self) -> Result<(), SendError> {
        // RFC 6455 §5.5.1: "After sending a Close frame, the endpoint MUST NOT
        // send any more data frames."
        if self.state == State::Open { Ok(()) } else { Err(SendError::Closed) }
    }

    pub(super) fn write_close(&mut self, frame: Option<&CloseFrame>) {
        let mut payload = BytesMut::with_capacity(125);
        if let Some(frame) = frame {
            frame.encode(&mut payload);
        }
        self.write_frame(OpCode::Close, true, payload.freeze());
    }

    /// Encodes one frame into the output queue.
    fn write_frame(&mut self, opcode: OpCode, fin: bool, payload: Bytes) {
        self.write_frame_rsv1(opcode, fin, false, payload);
    }

    /// Encodes one frame, with RSV1 ("Per-Message Compressed") as given.
    fn write_frame_rsv1(&mut self, opcode: OpCode, fin: bool, rsv1: bool, payload: Bytes) {
        let mask = match self.negotiated.role {
            Role::Client => Some(self.rng.next_u32().to_ne_bytes()),
            Role::Server => None,
        };
        encode_frame(&mut self.tx, opcode, fin, rsv1, mask, payload);
    }

    /// The frames staged in the core's output buffer, when they are what
    /// [`poll_transmit`](Self::poll_transmit) would hand out next: a driver
    /// can write them from where they are and report how many bytes the
    /// transport took with [`advance_transmit`](Self::advance_transmit),
    /// instead of taking them as [`Bytes`] (which shares the buffer, an
    /// allocation per flush). `None` when something else comes first (a
    /// large payload queued as it is, a Pong, the shutdown) or nothing is
    /// queued: `poll_transmit` then.
    ///
    /// ```
    /// # use wsx_proto::{Config, Connection, Negotiated, Role};
    /// let mut conn = Connection::new(Negotiated::new(Role::Server), Config::default(), Box::new(<rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0)));
    /// conn.send_text("hi")?;
    /// assert_eq!(conn.peek_transmit(), Some(&[0x81, 2, b'h', b'i'][..]));
    /// conn.advance_transmit(3); // the transport took 3 bytes
    /// assert_eq!(conn.peek_transmit(), Some(&b"i"[..]));
    /// conn.advance_transmit(1);
    /// assert_eq!(conn.peek_transmit(), None);
    /// assert!(conn.poll_transmit().is_none());
    /// # Ok::<(), wsx_proto::SendError>(())
    /// ```
    pub fn peek_transmit(&self) -> Option<&[u8]> {
        let pong_first = self.tx.pending_pong.is_some() && !self.tx.mid_frame;
        if pong_first || !self.tx.chunks.is_empty() || self.tx.staging.is_empty() {
            return None;
        }
        Some(&self.tx.staging)
    }

    /// Consumes `written` bytes of what [`peek_transmit`](Self::peek_transmit)
    /// returned (at most all of them). Until the rest is taken, a Pong
    /// waits: the transport is in the middle of a frame. Does nothing when
    /// `peek_transmit` has nothing to lend.
    pub fn advance_transmit(&mut self, written: usize) {
        if self.peek_transmit().is_none() {
            return;
        }
        if written >= self.tx.staging.len() {
            self.tx.staging.clear();
            self.tx.mid_frame = false;
        } else {
            bytes::Buf::advance(&mut self.tx.staging, written);
            self.tx.mid_frame = true;
        }
    }

    /// The next thing to do on the transport. Drain after every
    /// [`receive`](Self::receive)/[`poll_event`](Self::poll_event) and every
    /// send. A pending Pong goes out at the next frame boundary.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let tx = &mut self.tx;
        if tx.staging.is_empty() && tx.chunks.is_empty() && tx.pending_pong.is_none() && !tx.shutdown_pending {
            // Idle: release the output buffer. Once split, its capacity()
            // no longer shows the allocation it still holds (shared with the
            // bytes handed out), so an idle connection would keep its last
            // frames' buffer for good; the next frame allocates one to its
            // size.
            tx.staging = BytesMut::new();
            return None;
        }
        if !self.tx.mid_frame
            && let Some(ping_payload) = self.tx.pending_pong.take()
        {
            let mask = match self.negotiated.role {
                Role::Client => Some(self.rng.next_u32().to_ne_bytes()),
                Role::Server => None,
            };
            let mut pong = Sender::default();
            encode_frame(&mut pong, OpCode::Pong, true, false, mask, ping_payload);
            return Some(Transmit::Bytes(pong.staging.freeze()));
        }
        if let Some((chunk, ends_frame)) = self.tx.chunks.pop_front() {
            self.tx.chunk_bytes -= chunk.len();
            self.tx.mid_frame = !ends_frame;
            return Some(Transmit::Bytes(chunk));
        }
        if !self.tx.staging.is_empty() {
            self.tx.mid_frame = false;
            return Some(Transmit::Bytes(self.tx.staging.split().freeze()));
        }
        if self.tx.shutdown_pending {
            self.tx.shutdown_pending = false;
            return Some(Transmit::Shutdown);
        }
        None
    }
}

fn encode_frame(tx: &mut Sender, opcode: OpCode, fin: bool, rsv1: bool, mask: Option<[u8; 4]>, payload: Bytes) {
    let header = FrameHeader { fin, rsv1, rsv2: false, rsv3: false, opcode, mask, payload_len: payload.len() as u64 };
    let mut head = [0u8; FrameHeader::MAX_LEN];
    let head_len = header.encode(&mut head);
    match mask {
        Some(key) => stage_masked(tx, &head[..head_len], &payload, key),
        None if payload.len() <= INLINE_PAYLOAD => {
            tx.reserve_staging(head_len + payload.len());
            tx.staging.extend_from_slice(&head[..head_len]);
            tx.staging.extend_from_slice(&payload);
        }
        None => {
            tx.staging.extend_from_slice(&head[..head_len]);
            tx.flush_staging(false);
            tx.push_chunk(payload, true);
        }
    }
}

/// Stages a client frame: its header, then the payload copied and masked
/// (RFC 6455 §5.3: the client masks every frame; the copy into the output
/// buffer is where the mask is applied).
#[inline]
fn stage_masked(tx: &mut Sender, head: &[u8], payload: &[u8], key: [u8; 4]) {
    tx.reserve_staging(head.len() + payload.len());
    tx.staging.extend_from_slice(head);
    let start = tx.staging.len();
    tx.staging.extend_from_slice(payload);
    apply_mask(&mut tx.staging[start..], key, 0);
}

impl Connection {
    /// Queues a whole unfragmented, uncompressed data message as a client
    /// frame, masked with a fresh key (RFC 6455 §5.3: "The masking key
    /// needs to be unpredictable"), straight from `payload`: no `Bytes` is
    /// taken or dropped per message.
    fn send_masked(&mut self, opcode: OpCode, payload: &[u8]) {
        let key = self.rng.next_u32().to_ne_bytes();
        if payload.len() <= SMALL_MASKED {
            // The whole frame built on the stack (FIN, no RSV bit, the
            // 7-bit length, MASK and the key, §5.2) and staged with one copy.
            let mut frame = [0u8; 6 + SMALL_MASKED];
            frame[0] = 0x80 | opcode.as_u8();
            frame[1] = 0x80 | payload.len() as u8;
            frame[2..6].copy_from_slice(&key);
            let end = 6 + payload.len();
            mask_into(&mut frame[6..end], payload, key);
            self.tx.reserve_staging(end);
            self.tx.staging.extend_from_slice(&frame[..end]);
            return;
        }
        let header = FrameHeader {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask: Some(key),
            payload_len: payload.len() as u64,
        };
        let mut head = [0u8; FrameHeader::MAX_LEN];
        let head_len = header.encode(&mut head);
        stage_masked(&mut self.tx, &head[..head_len], payload, key);
    }

    /// Queues a message encoded once for many connections (see
    /// [`PreparedMessage`](crate::PreparedMessage)). A server queues the
    /// shared frame itself: no encode and no copy. With permessage-deflate,
    /// a message at or above the threshold is compressed once and shared when
    /// our compressor has no context takeover, and compressed by this
    /// connection otherwise. A client re-encodes it, because RFC 6455 §5.3
    /// requires "a new masking key" per frame; so does a connection whose
    /// `fragment_size` would split the payload.
    ///
    /// ```
    /// # use wsx_proto::{Config, Connection, Negotiated, PreparedMessage, Role, Transmit};
    /// let prepared = PreparedMessage::text("to everyone");
    /// let mut conn = Connection::new(Negotiated::new(Role::Server), Config::default(), Box::new(<rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0)));
    /// conn.send_prepared(&prepared)?;
    /// let Some(Transmit::Bytes(bytes)) = conn.poll_transmit() else { unreachable!() };
    /// assert_eq!(bytes.as_ptr(), prepared.frame().as_ptr());
    /// # Ok::<(), wsx_proto::SendError>(())
    /// ```
    pub fn send_prepared(&mut self, message: &crate::PreparedMessage) -> Result<(), SendError> {
        self.check_can_send_data()?;
        if self.tx.outgoing.is_some() {
            return Err(SendError::FragmentedMessageInProgress);
        }
        let splits = self.config.get_fragment_size().is_some_and(|size| message.len() > size);
        let compress = self.tx.compressor.is_some() && message.len() >= self.tx.threshold;
        let shared = match (self.negotiated.role, compress) {
            (Role::Client, false) if !splits => {
                self.send_masked(message.kind().opcode(), message.payload_slice());
                return Ok(());
            }
            (Role::Client, _) => None,
            (Role::Server, false) => Some(message.frame().clone()),
            // Only a compressor reset after every message compresses alike
            // on every connection; one with context takeover must use its own.
            (Role::Server, true) => self.tx.shared_deflate_key.and_then(|key| message.compressed_frame(key)),
        };
        match shared {
            Some(frame) if !splits => {
                // Frames staged so far go first; then the shared frame as its
                // own chunk, which the driver writes vectored with its neighbours.
                self.tx.flush_staging(true);
                self.tx.push_chunk(frame, true);
                Ok(())
            }
            _ => self.send_data(message.kind().opcode(), message.payload()),
        }
    }
}
