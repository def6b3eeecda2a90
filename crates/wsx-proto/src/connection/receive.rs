//! The receive path (RFC 6455 §5.2–§5.6, §7): frame headers checked against
//! the role, extensions and limits before anything is reserved; payloads
//! unmasked and UTF-8-checked in place as they arrive (so invalid text fails
//! before the frame is complete); fragments assembled; control frames handled.
//! With permessage-deflate (RFC 7692 §6, §7.2.2) RSV1 marks the first frame
//! of a compressed message; its frames are inflated as they complete, in
//! bounded steps, the inflated size checked against the message limit and
//! text validated on the inflated bytes after every step.

use bytes::{Buf, Bytes, BytesMut};

use super::{CloseOutcome, Connection, Event, Role, State};
use crate::close::CloseFrame;
use crate::error::ProtocolError;
use crate::extension::codec::{Decompressor, Inflated};
use crate::frame::mask::apply_mask;
use crate::frame::{FrameHeader, OpCode};
use crate::message::Message;
use crate::utf8::{Utf8Bytes, Utf8Validator};

/// Least spare room asked for in one read, and the least room reserved for
/// a fragmented message.
const SMALL_BUFFER: usize = 4 * 1024;
/// Most room reserved ahead for a fragmented message, from the size of the
/// last one.
const ASSEMBLY_HINT_MAX: usize = 1024 * 1024;
/// Most spare room asked for in one read: a 64 KiB message and its header
/// fit in one (at exactly 64 KiB the 14 header bytes took a second read,
/// which grew the full buffer by copying it).
const MAX_READ_HINT: usize = 128 * 1024;

#[derive(Debug, Default)]
pub(super) struct Receiver {
    pub(super) buf: BytesMut,
    frame: Option<PartialFrame>,
    /// Boxed: only a fragmented message needs it, every connection would
    /// carry its size.
    assembly: Option<Box<Assembly>>,
    utf8: Utf8Validator,
    /// Header and payload length of the last data frame: between frames,
    /// the next one is expected to be alike (see `read_hint`).
    last_data_frame: usize,
    /// Size of the last fragmented message assembled (uncompressed ones),
    /// the room reserved for the next one at its first fragment.
    last_assembled: usize,
    pub(super) eof: bool,
    /// permessage-deflate's decompressor, when the handshake agreed to it;
    /// boxed, so a connection without it does not carry its size.
    pub(super) inflater: Option<Box<Decompressor>>,
}

/// A frame whose header was consumed and whose payload is arriving.
#[derive(Debug, Clone, Copy)]
struct PartialFrame {
    header: FrameHeader,
    len: usize,
    /// Payload bytes at the front of `buf` already unmasked and validated.
    processed: usize,
    /// The frame belongs to a text message.
    text: bool,
    /// The frame belongs to a compressed message (RSV1 on its first frame).
    compressed: bool,
}

/// A fragmented message in progress (§5.4).
#[derive(Debug)]
struct Assembly {
    text: bool,
    /// The payload so far: wire bytes, or inflated bytes when `compressed`.
    data: BytesMut,
    frames: usize,
    compressed: bool,
    /// The inflated message so far (compressed messages only), never
    /// holding more than the limit plus one inflate step.
    inflated: Inflated,
}

impl Receiver {
    pub(super) fn read_hint(&self) -> usize {
        let wanted = match &self.frame {
            Some(frame) => frame.len.saturating_sub(self.buf.len()),
            None => self.last_data_frame.saturating_sub(self.buf.len()),
        };
        // And the next frame's header: see `Connection::read_hint`.
        (wanted + FrameHeader::MAX_LEN).clamp(SMALL_BUFFER, MAX_READ_HINT)
    }

    pub(super) fn pending_frame_bytes(&self) -> usize {
        self.frame.as_ref().map_or(0, |frame| frame.len.saturating_sub(self.buf.len()))
    }

    /// Whether the buffered input holds a whole frame (or a header the
    /// next parse rejects), so the next parse makes progress without a read.
    pub(super) fn has_complete_frame(&self) -> bool {
        match &self.frame {
            Some(frame) => self.buf.len() >= frame.len,
            None => match FrameHeader::decode(&self.buf) {
                Ok(Some((header, header_len))) => (self.buf.len() - header_len) as u64 >= header.payload_len,
                Ok(None) => false,
                Err(_) => true,
            },
        }
    }

    /// Between frames with nothing buffered, the buffer's spare room is
    /// released: a quiet connection holds no receive memory, and the driver's
    /// next read of a small frame needs none of it (a large frame's read
    /// reserves what [`read_hint`](Self::read_hint) says).
    pub(super) fn shrink_if_idle(&mut self) {
        if self.buf.is_empty() && self.frame.is_none() && self.buf.capacity() > 0 {
            self.buf = BytesMut::new();
        }
    }

    pub(super) fn clear(&mut self) {
        self.buf = BytesMut::new();
        self.frame = None;
        self.assembly = None;
        self.utf8.reset();
        if let Some(inflater) = self.inflater.as_mut() {
            inflater.reset();
        }
    }
}

impl Connection {
    /// The common case, parsed without the general path's bookkeeping: a
    /// whole text or binary frame with FIN set and no RSV bit, its length
    /// in the header's 7- or 16-bit field, at the front of the buffer
    /// between messages. `None` for anything else (a control frame, a
    /// fragment, a frame not complete yet, any header the general path
    /// would refuse), which `process_input` then handles, errors included;
    /// for a frame taken here the checks and the result are the same.
    #[inline]
    pub(super) fn whole_data_frame(&mut self) -> Option<Result<Message, ProtocolError>> {
        if self.rx.frame.is_some() || self.rx.assembly.is_some() {
            return None;
        }
        let buf = &self.rx.buf[..];
        let [b0, b1, ..] = *buf else { return None };
        let text = match b0 {
            0x81 => true,
            0x82 => false,
            _ => return None,
        };
        // RFC 6455 §5.1: client frames are masked, server frames are not.
        let masked = b1 & 0x80 != 0;
        if masked != (self.negotiated.role == Role::Server) {
            return None;
        }
        let (len, mut header_len) = match b1 & 0x7F {
            127 => return None,
            126 => match buf.get(2..4) {
                Some(&[high, low]) => (usize::from(u16::from_be_bytes([high, low])), 4),
                _ => return None,
            },
            short => (usize::from(short), 2),
        };
        let key = if masked {
            let key = <[u8; 4]>::try_from(buf.get(header_len..header_len + 4)?).ok()?;
            header_len += 4;
            Some(key)
        } else {
            None
        };
        // Over a limit: the general path fails the connection.
        if len > self.config.get_max_frame_size() || len > self.config.get_max_message_size() {
            return None;
        }
        let total = header_len + len;
        if buf.len() < total {
            return None;
        }
        self.rx.last_data_frame = total;
        let payload = &mut self.rx.buf[header_len..total];
        if let Some(key) = key {
            apply_mask(payload, key, 0);
        }
        // RFC 6455 §8.1, as in `process_input`; the whole message is here.
        if text && simdutf8::basic::from_utf8(payload).is_err() {
            return Some(Err(ProtocolError::InvalidUtf8));
        }
        let mut payload = self.rx.buf.split_to(total).freeze();
        payload.advance(header_len);
        Some(Ok(if text { Message::Text(Utf8Bytes::from_validated(payload)) } else { Message::Binary(payload) }))
    }

    /// Parses input until one event is ready (`Ok(Some)`) or more bytes are
    /// needed (`Ok(None)`).
    pub(super) fn process_input(&mut self) -> Result<Option<Event>, ProtocolError> {
        loop {
            // The frame in progress, or the next one if its header is here.
            // It is a local until its payload is complete (stored back only
            // if more input is needed): a small frame read whole is parsed
            // and handed over without a round trip through `rx.frame`.
            let mut frame = match self.rx.frame.take() {
                Some(frame) => frame,
                None => {
                    let Some((header, header_len)) = FrameHeader::decode(&self.rx.buf)? else {
                        return Ok(None);
                    };
                    let frame = self.check_header(header)?;
                    if !header.opcode.is_control() {
                        self.rx.last_data_frame = header_len + frame.len;
                    }
                    self.rx.buf.advance(header_len);
                    frame
                }
            };
            let available = self.rx.buf.len().min(frame.len);
            if available > frame.processed {
                let fresh = &mut self.rx.buf[frame.processed..available];
                if let Some(key) = frame.header.mask {
                    apply_mask(fresh, key, frame.processed);
                }
                if frame.text && !frame.compressed {
                    // RFC 6455 §8.1: "When an endpoint is to interpret a byte
                    // stream as UTF-8 but finds that the byte stream is not, in
                    // fact, a valid UTF-8 stream, that endpoint MUST _Fail the
                    // WebSocket Connection_." We check each byte as it arrives.
                    self.rx.utf8.feed(fresh).map_err(|_| ProtocolError::InvalidUtf8)?;
                }
                frame.processed = available;
            }
            if available < frame.len {
                self.rx.frame = Some(frame);
                return Ok(None);
            }
            let payload = self.rx.buf.split_to(frame.len).freeze();
            if let Some(event) = self.on_frame(frame, payload)? {
                return Ok(Some(event));
            }
        }
    }

    /// Every rule a header alone can break, checked before the payload is
    /// read or any room reserved for it.
    fn check_header(&self, header: FrameHeader) -> Result<PartialFrame, ProtocolError> {
        // RFC 6455 §5.1: "The server MUST close the connection upon receiving
        // a frame that is not masked" and "A client MUST close a connection if
        // it detects a masked frame."
        match (self.negotiated.role, header.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        // RFC 6455 §5.2: RSV1-3 "MUST be 0 unless an extension is negotiated
        // that defines meanings for non-zero values". permessage-deflate
        // defines RSV1 (RFC 7692 §6); nothing defines RSV2 or RSV3.
        let deflate = self.rx.inflater.is_some();
        if header.rsv2 || header.rsv3 || (header.rsv1 && !deflate) {
            return Err(ProtocolError::ReservedBits { rsv1: header.rsv1, rsv2: header.rsv2, rsv3: header.rsv3 });
        }
        if header.opcode.is_control() {
            // RFC 7692 §6.1: "An endpoint MUST NOT set the "Per-Message
            // Compressed" bit of control frames".
            if header.rsv1 {
                return Err(ProtocolError::CompressedControlFrame);
            }
            // RFC 6455 §5.5: "All control frames MUST have a payload length of
            // 125 bytes or less and MUST NOT be fragmented."
            if !header.fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if header.payload_len > 125 {
                return Err(ProtocolError::ControlFrameTooLong(header.payload_len));
            }
            return Ok(PartialFrame {
                header,
                len: header.payload_len as usize,
                processed: 0,
                text: false,
                compressed: false,
            });
        }
        let (text, compressed) = match (header.opcode, &self.rx.assembly) {
            // RFC 6455 §5.4: fragments of one message are not interleaved.
            (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
            // RFC 7692 §6.1: nor "non-first fragments of a data message".
            (OpCode::Continuation, Some(_)) if header.rsv1 => return Err(ProtocolError::CompressedContinuation),
            (OpCode::Continuation, Some(assembly)) => (assembly.text, assembly.compressed),
            (_, Some(_)) => return Err(ProtocolError::ExpectedContinuation),
            (opcode, None) => (opcode == OpCode::Text, header.rsv1),
        };
        let max_frame = self.config.get_max_frame_size();
        // Compressed data may be a little larger than what it encodes
        // (stored blocks: 5 bytes per 64 KiB); the inflated size is what
        // counts against the message limit, checked while inflating.
        let frame_limit = if compressed { max_frame.saturating_add(max_frame / 256 + 64) } else { max_frame };
        if header.payload_len > frame_limit as u64 {
            return Err(ProtocolError::FrameTooLarge { len: header.payload_len, max: max_frame });
        }
        let (assembled, frames) = match &self.rx.assembly {
            Some(assembly) if !compressed => (assembly.data.len() as u64, assembly.frames),
            Some(assembly) => (0, assembly.frames),
            None => (0, 0),
        };
        let max_message = self.config.get_max_message_size();
        if !compressed && assembled + header.payload_len > max_message as u64 {
            return Err(ProtocolError::MessageTooLarge { len: assembled + header.payload_len, max: max_message });
        }
        let max_fragments = self.config.get_max_fragments();
        if frames >= max_fragments {
            return Err(ProtocolError::TooManyFragments { max: max_fragments });
        }
        Ok(PartialFrame { header, len: header.payload_len as usize, processed: 0, text, compressed })
    }

    /// A frame whose payload is complete, unmasked and (for text) validated.
    fn on_frame(&mut self, frame: PartialFrame, payload: Bytes) -> Result<Option<Event>, ProtocolError> {
        let header = frame.header;
        let message = match header.opcode {
            OpCode::Text | OpCode::Binary if frame.compressed => {
                let mut inflated = Inflated::default();
                self.inflate_frame(frame.text, &payload, header.fin, &mut inflated)?;
                if !header.fin {
                    let data = BytesMut::new();
                    self.rx.assembly =
                        Some(Box::new(Assembly { text: frame.text, data, frames: 1, compressed: true, inflated }));
                    return Ok(None);
                }
                self.complete(frame.text, inflated.into_bytes())?
            }
            OpCode::Text | OpCode::Binary if header.fin => self.complete(frame.text, payload)?,
            OpCode::Text | OpCode::Binary => {
                // Room for a message like the last one assembled (at most
                // 1 MiB: a size this peer already sent, so no room a header
                // alone could claim), so that its fragments are not copied
                // again at every doubling.
                let expected = self.rx.last_assembled.min(ASSEMBLY_HINT_MAX);
                let mut data = BytesMut::with_capacity(payload.len().max(SMALL_BUFFER).max(expected));
                data.extend_from_slice(&payload);
                let inflated = Inflated::default();
                self.rx.assembly =
                    Some(Box::new(Assembly { text: frame.text, data, frames: 1, compressed: false, inflated }));
                return Ok(None);
            }
            OpCode::Continuation if frame.compressed => {
                let Some(mut assembly) = self.rx.assembly.take() else {
                    return Err(ProtocolError::UnexpectedContinuation);
                };
                self.inflate_frame(assembly.text, &payload, header.fin, &mut assembly.inflated)?;
                assembly.frames += 1;
                if !header.fin {
                    self.rx.assembly = Some(assembly);
                    return Ok(None);
                }
                self.complete(assembly.text, assembly.inflated.into_bytes())?
            }
            OpCode::Continuation => {
                let Some(assembly) = self.rx.assembly.as_mut() else {
                    return Err(ProtocolError::UnexpectedContinuation);
                };
                assembly.data.extend_from_slice(&payload);
                assembly.frames += 1;
                if !header.fin {
                    return Ok(None);
                }
                let (text, data) = match self.rx.assembly.take() {
                    Some(assembly) => {
                        self.rx.last_assembled = assembly.data.len();
                        (assembly.text, assembly.data.freeze())
                    }
                    None => return Err(ProtocolError::UnexpectedContinuation),
                };
                self.complete(text, data)?
            }
            OpCode::Ping => {
                // RFC 6455 §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST
                // send a Pong frame in response, unless it already received a
                // Close frame." A newer Ping replaces an unsent Pong (§5.5.3).
                if self.config.get_auto_pong() && self.state == State::Open {
                    self.tx.pending_pong = Some(payload.clone());
                }
                Message::Ping(payload)
            }
            OpCode::Pong => Message::Pong(payload),
            OpCode::Close => return self.on_close(payload).map(Some),
        };
        Ok(Some(Event::Message(message)))
    }

    /// Inflates one frame of a compressed message into `out` (RFC 7692
    /// §7.2.2), and the `00 00 ff ff` tail after the final one; the limit
    /// and the UTF-8 of text are checked after every bounded step.
    fn inflate_frame(
        &mut self,
        text: bool,
        payload: &[u8],
        fin: bool,
        out: &mut Inflated,
    ) -> Result<(), ProtocolError> {
        let limit = self.config.get_max_message_size();
        let Receiver { inflater, utf8, .. } = &mut self.rx;
        let Some(inflater) = inflater.as_mut() else {
            return Err(ProtocolError::ReservedBits { rsv1: true, rsv2: false, rsv3: false });
        };
        let mut validator = if text { Some(utf8) } else { None };
        inflater.inflate(payload, out, limit, validator.as_deref_mut())?;
        if fin {
            inflater.finish(out, limit, validator)?;
        }
        Ok(())
    }

    fn complete(&mut self, text: bool, payload: Bytes) -> Result<Message, ProtocolError> {
        if text {
            // A sequence cut off at the end of the message is invalid too.
            self.rx.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
            Ok(Message::Text(Utf8Bytes::from_validated(payload)))
        } else {
            Ok(Message::Binary(payload))
        }
    }

    /// RFC 6455 §5.5.1: "If an endpoint receives a Close frame and did not
    /// previously send a Close frame, the endpoint MUST send a Close frame in
    /// response." Then the server closes the TCP connection (§7.1.1).
    fn on_close(&mut self, payload: Bytes) -> Result<Event, ProtocolError> {
        let received = CloseFrame::parse(payload)?;
        let sent = match std::mem::replace(&mut self.state, State::Open) {
            State::Closing(frame) => frame,
            _ => {
                // Echo the status code (§5.5.1: "typically echos the status
                // code it received"), without the reason.
                let echo = received.as_ref().map(|frame| CloseFrame { code: frame.code, reason: Utf8Bytes::default() });
                self.write_close(echo.as_ref());
                echo
            }
        };
        if self.negotiated.role == Role::Server {
            self.tx.shutdown_pending = true;
        }
        self.finish(CloseOutcome { sent: Some(sent), received: Some(received.clone()), error: None });
        Ok(Event::Message(Message::Close(received)))
    }
}
