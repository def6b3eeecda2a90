//! The blocking WebSocket connection (RFC 6455 §5–§7, driven): reads pulled
//! by the application, replies coalesced and written vectored, pongs and
//! close echoes written before events are handed over, and the timers the
//! sans-I/O core cannot have, run while [`WebSocket::recv`] waits.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use wsx_proto::{CloseCode, CloseOutcome, Message, Negotiated, PreparedMessage, State};

use crate::config::Config;
use crate::core::Core;
use crate::error::Error;
use crate::io::{self, ReadState, Side};
use crate::split::{ReadHalf, WriteHalf};
use crate::transport::{Transport, TryClone};

/// A WebSocket connection over a blocking [`Transport`].
///
/// Reading is pulled: while nobody calls [`recv`](Self::recv) no bytes are
/// read, so a slow consumer slows the peer down through TCP flow control.
/// Keepalive pings, the idle timeout and the close timeout run while `recv`
/// waits (the socket's read timeout wakes it for them).
///
/// ```no_run
/// # fn run() -> Result<(), wsx_blocking::Error> {
/// let (mut ws, _response) = wsx_blocking::connect("ws://127.0.0.1:9001/echo")?;
/// ws.send("hello")?;
/// while let Some(message) = ws.recv() {
///     println!("{:?}", message?);
/// }
/// # Ok(()) }
/// ```
pub struct WebSocket<S> {
    io: S,
    core: Core,
    read: ReadState,
    batch: VecDeque<Bytes>,
}

impl<S> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket").field("core", &self.core).finish_non_exhaustive()
    }
}

impl<S: Transport> WebSocket<S> {
    /// Wraps a transport whose opening handshake is already done — by
    /// [`connect`](crate::connect), [`accept`](crate::accept) or another
    /// HTTP stack. `leftover` holds bytes read past the handshake.
    ///
    /// # Errors
    /// [`Error::Io`] if the OS has no randomness for a client's masking keys.
    pub fn from_upgraded(io: S, negotiated: Negotiated, config: Config, leftover: &[u8]) -> Result<Self, Error> {
        Ok(Self::from_parts(io, Core::new(negotiated, config, leftover)?, ReadState::default()))
    }

    pub(crate) fn from_parts(io: S, core: Core, read: ReadState) -> Self {
        Self { io, core, read, batch: VecDeque::new() }
    }

    /// The next message, `None` once the connection is over. A received
    /// Close frame comes as [`Message::Close`] (already answered) before
    /// `None`; Ping and Pong frames are delivered too (pings are answered
    /// automatically, before `recv` returns them).
    ///
    /// With a [read timeout](Self::set_read_timeout), a `recv` that waits
    /// longer returns [`Error::Timeout`] with
    /// [`TimeoutKind::Read`](crate::TimeoutKind::Read) and the connection
    /// stays usable: call `recv` again.
    pub fn recv(&mut self) -> Option<Result<Message, Error>> {
        io::recv(self)
    }

    /// Sends a message and writes it out, with everything queued before it.
    /// To answer a burst of messages in one write, queue the replies with
    /// [`feed`](Self::feed): the next [`recv`](Self::recv) that must read
    /// writes them first.
    ///
    /// # Errors
    /// [`Error::Send`] after the close; [`Error::WriteBufferFull`] past the
    /// hard cap; a [write timeout](Self::set_write_timeout) (the rest stays
    /// queued); a transport error.
    pub fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        self.core.send(message.into(), true)?;
        Side::flush(self)
    }

    /// Sends a text or binary message uncompressed even when
    /// permessage-deflate is in use (data that does not compress, or a
    /// secret that must not share a compression context with
    /// attacker-chosen data); otherwise like [`send`](Self::send).
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn send_uncompressed(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        self.core.send(message.into(), false)?;
        Side::flush(self)
    }

    /// Queues a message without writing it, to send several in one write:
    /// it leaves with the next [`send`](Self::send) or
    /// [`flush`](Self::flush), or before the next [`recv`](Self::recv)
    /// reads. Queued bytes past the write high-water mark are written at
    /// once.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn feed(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        self.core.send(message.into(), true)?;
        self.write_above_high_water()
    }

    /// Sends a message encoded once for many connections (see
    /// [`PreparedMessage`]); like [`send`](Self::send).
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        self.core.send_prepared(message)?;
        Side::flush(self)
    }

    /// Queues a prepared message without writing it, like [`feed`](Self::feed).
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn feed_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        self.core.send_prepared(message)?;
        self.write_above_high_water()
    }

    /// Sends a Ping (at most 125 bytes of payload).
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn ping(&mut self, payload: impl Into<Bytes>) -> Result<(), Error> {
        self.send(Message::Ping(payload.into()))
    }

    /// Writes everything queued.
    ///
    /// # Errors
    /// A [write timeout](Self::set_write_timeout) (the rest stays queued);
    /// a transport error.
    pub fn flush(&mut self) -> Result<(), Error> {
        Side::flush(self)
    }

    /// Runs the closing handshake (§7.1.2): sends a Close frame with `code`
    /// and `reason`, then reads (discarding messages) until the peer's
    /// Close and the end of the transport, or the close timeout. Returns
    /// how the connection ended. Writes wait at most the close timeout too,
    /// so a peer that stops reading cannot hold the close forever.
    ///
    /// # Errors
    /// [`Error::Send`] for a code that may not be sent or a reason over 123
    /// bytes; a close or keepalive timeout; a transport error.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<CloseOutcome, Error> {
        self.core.start_close(code, reason)?;
        let bounded =
            self.read.write_timeout.map_or(self.core.config.close_timeout, |t| t.min(self.core.config.close_timeout));
        self.io.set_write_timeout(Some(bounded)).map_err(Error::io("setting the write timeout"))?;
        let result = self.drain();
        self.io.set_write_timeout(self.read.write_timeout).map_err(Error::io("setting the write timeout"))?;
        result?;
        Ok(self.close_outcome().cloned().unwrap_or(CloseOutcome { sent: None, received: None, error: None }))
    }

    fn drain(&mut self) -> Result<(), Error> {
        while let Some(item) = self.recv() {
            match item {
                Err(error) if error.is_retryable_timeout() => {}
                Err(error) => return Err(error),
                Ok(_) => {}
            }
        }
        Ok(())
    }

    /// Makes [`recv`](Self::recv) return a read timeout after waiting this
    /// long for a message (`None`, the default: wait, running the timers).
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read.read_timeout = timeout;
    }

    /// Makes a write that makes no progress for this long return a write
    /// timeout, the rest staying queued (`None`, the default: wait). Set as
    /// the socket's send timeout.
    ///
    /// # Errors
    /// As [`Transport::set_write_timeout`].
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) -> Result<(), Error> {
        self.io.set_write_timeout(timeout).map_err(Error::io("setting the write timeout"))?;
        self.read.write_timeout = timeout;
        Ok(())
    }

    /// How the connection ended, once it has.
    pub fn close_outcome(&self) -> Option<&CloseOutcome> {
        self.core.outcome()
    }

    /// What the handshake agreed on (subprotocol, permessage-deflate).
    pub fn negotiated(&self) -> &Negotiated {
        self.core.conn.negotiated()
    }

    /// The protocol state.
    pub fn state(&self) -> &State {
        self.core.conn.state()
    }

    /// Whether messages can still be sent: no Close frame has been sent or
    /// received and the transport has not failed.
    pub fn is_open(&self) -> bool {
        self.core.conn.is_open() && self.core.phase == crate::core::Phase::Active
    }

    /// Bytes queued and not yet written.
    pub fn buffered_amount(&self) -> usize {
        self.core.buffered_amount()
    }

    /// The transport.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// The transport, mutably (reading or writing it directly corrupts the
    /// WebSocket stream: for socket options).
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.io
    }

    /// Splits the connection into a [`ReadHalf`] and a [`WriteHalf`] for two
    /// threads, over two handles on the transport ([`TryClone`]: TCP and
    /// Unix sockets; not TLS). See [`ReadHalf`] for the guarantees.
    ///
    /// # Errors
    /// As [`TryClone::try_clone`]; the WebSocket is lost with it.
    pub fn split(self) -> Result<(ReadHalf<S>, WriteHalf<S>), Error>
    where
        S: TryClone,
    {
        let reader = self.io.try_clone().map_err(Error::io("cloning the transport for the read half"))?;
        Ok(crate::split::split(reader, self.io, self.core, self.read))
    }

    fn write_above_high_water(&mut self) -> Result<(), Error> {
        if self.buffered_amount() > self.core.config.write_buffer_high_water {
            return Side::flush(self);
        }
        Ok(())
    }
}

impl<S: Transport> Side for WebSocket<S> {
    fn with_core<T>(&mut self, f: impl FnOnce(&mut Core) -> T) -> T {
        f(&mut self.core)
    }

    fn flush(&mut self) -> Result<(), Error> {
        loop {
            let shutdown = self.core.take_output(&mut self.batch);
            if self.batch.is_empty() && !shutdown {
                self.core.output_written();
                return Ok(());
            }
            match io::write_out(&mut self.io, &mut self.batch, shutdown) {
                Ok(()) => self.core.output_written(),
                Err(error) => {
                    self.core.return_output(std::mem::take(&mut self.batch), shutdown);
                    return Err(io::write_failed(&mut self.core, error, self.read.write_timeout));
                }
            }
        }
    }

    fn read(&mut self, deadline: Option<Instant>, discard: bool) -> Result<bool, Error> {
        let hint = self.core.conn.read_hint();
        let read = io::read_timed(&mut self.io, &mut self.read, deadline, hint)?;
        Ok(io::deliver(&mut self.core, read, discard))
    }

    fn read_timeout(&self) -> Option<Duration> {
        self.read.read_timeout
    }
}
