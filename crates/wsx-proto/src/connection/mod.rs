//! The connection state machine (RFC 6455 §5–§7), without I/O.
//!
//! Feed it what the transport read ([`Connection::receive`]), drain what it
//! must write ([`Connection::poll_transmit`]) and what happened
//! ([`Connection::poll_event`]). Input is parsed lazily, one event per
//! `poll_event` call, so a caller that stops asking for events stops the
//! parsing too. Drain `poll_transmit` after every `poll_event`, before handing
//! the event to the application: Pongs and Close echoes are never deferred.
//!
//! States: `Open → Closing → Closed`. A peer's protocol violation fails the
//! connection (§7.1.7): a Close frame with the code of
//! [`ProtocolError::close_code`] is queued, then a [`Transmit::Shutdown`], and
//! no more input is processed.

mod receive;
mod send;

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use rand_core::RngCore;

use crate::close::{CloseCode, CloseFrame};
use crate::config::Config;
use crate::error::ProtocolError;
use crate::extension::codec::{Compressor, Decompressor};
use crate::extension::{DeflateConfig, DeflateParams};
use crate::message::Message;
use crate::prepared::DeflateKey;
use crate::utf8::Utf8Bytes;

pub use crate::message::MessageKind;

/// Which end of the connection this endpoint is (RFC 6455 §1.3, §5.1).
///
/// The role decides masking: a client masks every frame it sends and a
/// server rejects unmasked frames; a server never masks and a client rejects
/// masked frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The endpoint that opened the connection and sent the handshake request.
    Client,
    /// The endpoint that accepted the connection and answered the handshake.
    Server,
}

/// What the opening handshake agreed on: all a [`Connection`] needs. An
/// upgrade done by another HTTP stack can build one and hand the socket over.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// This endpoint's role.
    pub role: Role,
    /// The subprotocol the server selected, if any (§4.2.2, §11.3.4).
    pub subprotocol: Option<String>,
    /// The permessage-deflate parameters agreed (RFC 7692), if any. RSV1
    /// is accepted on the first frame of a data message only when this is set.
    pub deflate: Option<DeflateParams>,
}

impl Negotiated {
    /// No subprotocol, no extensions.
    pub fn new(role: Role) -> Self {
        Self { role, subprotocol: None, deflate: None }
    }

    /// With the agreed permessage-deflate parameters (or none).
    pub fn with_deflate(mut self, deflate: Option<DeflateParams>) -> Self {
        self.deflate = deflate;
        self
    }

    /// With the selected subprotocol.
    pub fn with_subprotocol(mut self, subprotocol: Option<String>) -> Self {
        self.subprotocol = subprotocol;
        self
    }
}

/// Something the transport must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// Write these bytes. A frame's header and a large payload may come as
    /// separate `Bytes`, so they can be written with one vectored write.
    Bytes(Bytes),
    /// Shut down the write side of the transport (after the last Close
    /// frame). RFC 6455 §7.1.1: the server closes the TCP connection first.
    Shutdown,
}

/// What happened on the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete message, or a control frame (Ping, Pong, Close).
    Message(Message),
    /// The connection reached [`State::Closed`]; nothing more will be
    /// received. This is the last event. (Boxed: it comes once, and an
    /// `Event` is moved at every message.)
    Closed(Box<CloseOutcome>),
}

/// How a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseOutcome {
    /// The Close frame we sent, if any (`Some(None)`: one without a status code).
    pub sent: Option<Option<CloseFrame>>,
    /// The Close frame we received, if any (`Some(None)`: one without a status code).
    pub received: Option<Option<CloseFrame>>,
    /// The error with which we failed the connection, if we did.
    pub error: Option<ProtocolError>,
}

impl CloseOutcome {
    /// The closing handshake completed: both Close frames were exchanged
    /// and no error occurred (§7.1.4 "closed cleanly").
    pub fn is_clean(&self) -> bool {
        self.sent.is_some() && self.received.is_some() && self.error.is_none()
    }

    /// The connection close code (§7.1.5): the code of the Close frame
    /// received, 1005 if it had none, 1006 if none was received.
    pub fn code(&self) -> CloseCode {
        match &self.received {
            Some(Some(frame)) => frame.code,
            Some(None) => CloseCode::NO_STATUS_RECEIVED,
            None => CloseCode::ABNORMAL_CLOSURE,
        }
    }

    /// The reason of the Close frame received (empty if none).
    pub fn reason(&self) -> Utf8Bytes {
        match &self.received {
            Some(Some(frame)) => frame.reason.clone(),
            _ => Utf8Bytes::default(),
        }
    }
}

/// The state of the connection (§4.1 "OPEN", §7 "CLOSING", "CLOSED").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a Close frame (`None`: without status code) and wait for the
    /// peer's. The driver should arm its close timer.
    Closing(Option<CloseFrame>),
    /// Done; nothing more is sent or processed. Boxed: every connection
    /// carries its state, and only a closed one needs the outcome's room.
    Closed(Box<CloseOutcome>),
}

/// A WebSocket connection after the opening handshake.
///
/// See the [crate documentation](crate) for an example.
pub struct Connection {
    negotiated: Negotiated,
    config: Config,
    rng: Box<dyn RngCore + Send>,
    state: State,
    rx: receive::Receiver,
    tx: send::Sender,
    events: VecDeque<Event>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.negotiated.role)
            .field("state", &self.state)
            .field("buffered_amount", &self.buffered_amount())
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection in the [`State::Open`] state. `rng` supplies client
    /// masking keys (RFC 6455 §5.3: "derived from a strong source of
    /// entropy"); a server never calls it.
    pub fn new(negotiated: Negotiated, config: Config, rng: Box<dyn RngCore + Send>) -> Self {
        let (compressor, decompressor, shared_deflate_key) = match deflate_state(&negotiated, &config) {
            Some((compressor, decompressor, key)) => (Some(Box::new(compressor)), Some(Box::new(decompressor)), key),
            None => (None, None, None),
        };
        let threshold =
            config.get_compression().map_or(DeflateConfig::default().get_threshold(), |c| c.get_threshold());
        let mut rx = receive::Receiver::default();
        rx.inflater = decompressor;
        let mut tx = send::Sender::default();
        tx.compressor = compressor;
        tx.threshold = threshold;
        tx.shared_deflate_key = shared_deflate_key;
        Self { negotiated, config, rng, state: State::Open, rx, tx, events: VecDeque::new() }
    }

    /// This endpoint's role.
    pub fn role(&self) -> Role {
        self.negotiated.role
    }

    /// What the handshake agreed on.
    pub fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Whether messages can still be sent.
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Whether we sent a Close frame and wait for the peer's: the driver
    /// arms its close timer and calls [`abort`](Self::abort) when it fires.
    pub fn close_expected(&self) -> bool {
        matches!(self.state, State::Closing(_))
    }

    /// Appends bytes read from the transport. They are parsed by
    /// [`poll_event`](Self::poll_event); peer errors never surface here.
    pub fn receive(&mut self, bytes: &[u8]) {
        if !matches!(self.state, State::Closed(_)) {
            // Payloads are split from this buffer. While input keeps coming
            // (pipelined frames), it takes the next read in place once they
            // are dropped; a buffer left empty is released by `poll_event`.
            self.rx.buf.extend_from_slice(bytes);
        }
    }

    /// The receive buffer, for a driver that reads straight into it (no
    /// copy). Append only; what is appended is parsed by `poll_event`.
    /// [`read_hint`](Self::read_hint) says how much spare room to reserve.
    pub fn receive_buffer(&mut self) -> &mut BytesMut {
        &mut self.rx.buf
    }

    /// How many bytes to reserve before the next read: enough for the rest
    /// of the frame in progress (between frames: for one as long as the last
    /// data frame, so a stream of large messages is read in large pieces
    /// from the first byte) and the next frame's header, capped at 128 KiB,
    /// and at least 4 KiB. The header's room means that a read which takes
    /// exactly the rest of the frame still comes back short of the room it
    /// was given: a readiness-based driver (tokio's, say) then knows the
    /// socket is drained instead of reading again to find nothing.
    ///
    /// ```
    /// # use wsx_proto::{Config, Connection, Negotiated, Role};
    /// let mut conn = Connection::new(Negotiated::new(Role::Server), Config::default(), Box::new(<rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0)));
    /// // The header of a masked 64 KiB frame: 65,536 payload bytes to come.
    /// conn.receive(&[0x82, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4]);
    /// assert!(conn.poll_event().is_none());
    /// assert_eq!(conn.read_hint(), 65_536 + 14);
    /// ```
    pub fn read_hint(&self) -> usize {
        self.rx.read_hint()
    }

    /// Payload bytes of the frame in progress that have not arrived yet (0
    /// between frames). A driver can tell the transport how much to wait for
    /// before it wakes (a socket's receive low-water mark, say).
    ///
    /// ```
    /// # use wsx_proto::{Config, Connection, Negotiated, Role};
    /// let mut conn = Connection::new(Negotiated::new(Role::Client), Config::default(), Box::new(<rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0)));
    /// conn.receive(&[0x82, 126, 0x01, 0x00, 1, 2, 3]); // a 256-byte frame, 3 bytes in
    /// assert!(conn.poll_event().is_none());
    /// assert_eq!(conn.pending_frame_bytes(), 253);
    /// ```
    pub fn pending_frame_bytes(&self) -> usize {
        self.rx.pending_frame_bytes()
    }

    /// Whether input already received holds at least one whole frame, or
    /// an event is waiting: the next [`poll_event`](Self::poll_event) makes
    /// progress without another read. A driver uses it to coalesce replies:
    /// while this holds, more replies are coming, and its writes can wait
    /// for them (flush before the next read).
    ///
    /// ```
    /// # use wsx_proto::{Config, Connection, Negotiated, Role};
    /// let mut conn = Connection::new(Negotiated::new(Role::Client), Config::default(), Box::new(<rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0)));
    /// conn.receive(&[0x82, 0x02, 1]);
    /// assert!(!conn.has_buffered_frame(), "one payload byte still missing");
    /// conn.receive(&[2]);
    /// assert!(conn.has_buffered_frame());
    /// ```
    pub fn has_buffered_frame(&self) -> bool {
        !self.events.is_empty() || (!matches!(self.state, State::Closed(_)) && self.rx.has_complete_frame())
    }

    /// The transport reached end of stream. If the closing handshake had not
    /// completed, the connection closes abnormally (1006).
    pub fn receive_eof(&mut self) {
        self.rx.eof = true;
    }

    /// Ends the connection at once, without a closing handshake (for
    /// timeouts and transport errors). Nothing more is sent.
    pub fn abort(&mut self) {
        if !matches!(self.state, State::Closed(_)) {
            let sent = match &self.state {
                State::Closing(frame) => Some(frame.clone()),
                _ => None,
            };
            let outcome = CloseOutcome { sent, received: None, error: None };
            self.finish(outcome);
        }
        self.tx.clear();
        self.rx.clear();
    }

    /// Bytes queued for the transport and not yet taken by `poll_transmit`.
    pub fn buffered_amount(&self) -> usize {
        self.tx.buffered_amount()
    }

    /// Messages compressed or inflated by permessage-deflate so far (0
    /// without it): a driver that sees this unchanged over a while may
    /// [`release_compression`](Self::release_compression).
    pub fn compressed_messages(&self) -> u64 {
        self.tx.compressor.as_ref().map_or(0, |c| c.uses()) + self.rx.inflater.as_ref().map_or(0, |d| d.uses())
    }

    /// Frees permessage-deflate's zlib state (≈ 160 KiB to compress with
    /// zlib-rs, ≈ 19 KiB plus the window to inflate) on a connection gone
    /// quiet. What context takeover needs is kept: the last window of each
    /// direction's uncompressed stream (at most `2^window_bits` bytes), from
    /// which the next message's state is rebuilt as a preset dictionary, at
    /// the cost of one allocation and of hashing that window. A message
    /// being inflated keeps its decompressor. Returns whether anything was
    /// freed.
    pub fn release_compression(&mut self) -> bool {
        let sent = self.tx.compressor.as_mut().is_some_and(|c| c.release());
        let received = self.rx.inflater.as_mut().is_some_and(|d| d.release());
        sent || received
    }

    /// The next event, parsing buffered input as needed. `None`: more input
    /// is needed (or the connection is closed and every event was taken).
    pub fn poll_event(&mut self) -> Option<Event> {
        if !self.events.is_empty() {
            return self.events.pop_front();
        }
        if matches!(self.state, State::Closed(_)) {
            return None;
        }
        match self.whole_data_frame() {
            Some(Ok(message)) => Some(Event::Message(message)),
            Some(Err(error)) => {
                self.fail(error);
                self.events.pop_front()
            }
            None => self.poll_event_general(),
        }
    }

    /// [`poll_event`](Self::poll_event) for everything but a whole small
    /// data frame: kept out of line, so that the common case does not pay
    /// for the general path's state on its stack.
    #[inline(never)]
    fn poll_event_general(&mut self) -> Option<Event> {
        if self.rx.buf.is_empty() && !self.rx.eof {
            // Nothing to parse: a frame in progress needs more input too.
            self.rx.shrink_if_idle();
            return None;
        }
        match self.process_input() {
            Ok(Some(event)) => Some(event),
            Ok(None) if self.rx.eof => {
                self.abort();
                self.events.pop_front()
            }
            Ok(None) => {
                self.rx.shrink_if_idle();
                None
            }
            Err(error) => {
                self.fail(error);
                self.events.pop_front()
            }
        }
    }

    /// Fails the connection (RFC 6455 §7.1.7): queue a Close frame with the
    /// error's code unless one was sent already, shut the transport down,
    /// stop processing input.
    fn fail(&mut self, error: ProtocolError) {
        let sent = match std::mem::replace(&mut self.state, State::Open) {
            State::Closing(frame) => Some(frame),
            _ => {
                let frame =
                    CloseFrame { code: error.close_code(), reason: Utf8Bytes::from_static(error.close_reason()) };
                self.tx.pending_pong = None;
                self.write_close(Some(&frame));
                Some(Some(frame))
            }
        };
        self.tx.shutdown_pending = true;
        self.finish(CloseOutcome { sent, received: None, error: Some(error) });
    }

    /// Enters `Closed`, stops input, queues the final event.
    fn finish(&mut self, outcome: CloseOutcome) {
        self.rx.clear();
        self.state = State::Closed(Box::new(outcome.clone()));
        self.events.push_back(Event::Closed(Box::new(outcome)));
    }
}

/// The compressor and decompressor for the agreed permessage-deflate
/// parameters (RFC 7692 §7.1): our window is the smaller of our setting and
/// the limit the peer set; our decompressor takes any window the peer uses.
/// With them, the compressor's settings when it starts fresh for every
/// message (`server_no_context_takeover`, or our own choice): then a
/// prepared message compressed once with them is valid on this connection.
fn deflate_state(negotiated: &Negotiated, config: &Config) -> Option<(Compressor, Decompressor, Option<DeflateKey>)> {
    let params = negotiated.deflate?;
    let default = DeflateConfig::default();
    let local = config.get_compression().unwrap_or(&default);
    let (own_bits, own_reset, peer_bits, peer_reset) = match negotiated.role {
        Role::Client => (
            params.client_max_window_bits,
            params.client_no_context_takeover,
            params.server_max_window_bits,
            params.server_no_context_takeover,
        ),
        Role::Server => (
            params.server_max_window_bits,
            params.server_no_context_takeover,
            params.client_max_window_bits,
            params.client_no_context_takeover,
        ),
    };
    let window = own_bits.unwrap_or(15).min(local.get_window_bits());
    let fresh_per_message = own_reset || local.get_no_context_takeover();
    let compressor = Compressor::new(window, local.get_mem_level(), local.get_level(), fresh_per_message);
    let decompressor = Decompressor::new(peer_bits.unwrap_or(15), peer_reset);
    let shared_key = fresh_per_message.then_some((window, local.get_mem_level(), local.get_level()));
    Some((compressor, decompressor, shared_key))
}

#[cfg(test)]
mod tests;
