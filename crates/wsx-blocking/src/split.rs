//! A WebSocket used from two threads: a [`ReadHalf`] that receives and a
//! [`WriteHalf`] that sends, over two handles on one transport (the
//! `try_clone` of a socket).
//!
//! Contract: the halves share the core under a lock that is never held
//! across a blocking read or write. Whoever writes first takes the turn to
//! write and writes everything queued, in the core's order, until nothing
//! is left: frames go out whole and in order, and a Pong or Close reply
//! queued meanwhile (by the reader) goes out between frames, never inside
//! one and never lost. The reader never waits for the writer's turn (its
//! replies ride with the writer's next batch), so a writer blocked by a
//! peer that does not read never stops the reading; the writer waits for
//! the reader's turn, which writes only those short replies.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use wsx_proto::{CloseCode, CloseOutcome, Message, Negotiated, PreparedMessage};

use crate::core::Core;
use crate::error::Error;
use crate::io::{self, ReadState, Side};
use crate::transport::Transport;
use crate::websocket::WebSocket;

/// What the halves share.
struct Shared<S> {
    core: Mutex<Core>,
    /// Signalled when a writer's turn ends.
    turn: Condvar,
    /// The writing handle; locked only by whoever holds the turn.
    writer: Mutex<S>,
    write_timeout: Mutex<Option<Duration>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A thread that panicked while holding the lock left the core in a
    // state its methods keep consistent; go on with it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S: Transport> Shared<S> {
    /// Queues with `queue` (waiting for another writer's turn to end, when
    /// `wait`), then writes everything queued. A reader (`!wait`) leaves
    /// the writing to a turn already under way.
    fn write(&self, wait: bool, queue: impl FnOnce(&mut Core) -> Result<(), Error>) -> Result<(), Error> {
        let mut core = lock(&self.core);
        if wait {
            while core.writing {
                core = self.turn.wait(core).unwrap_or_else(PoisonError::into_inner);
            }
        }
        queue(&mut core)?;
        if core.writing {
            return Ok(());
        }
        core.writing = true;
        let mut batch = VecDeque::new();
        let result = loop {
            let shutdown = core.take_output(&mut batch);
            if batch.is_empty() && !shutdown {
                core.output_written();
                break Ok(());
            }
            drop(core);
            let written = io::write_out(&mut *lock(&self.writer), &mut batch, shutdown);
            core = lock(&self.core);
            if let Err(error) = written {
                core.return_output(std::mem::take(&mut batch), shutdown);
                break Err(io::write_failed(&mut core, error, *lock(&self.write_timeout)));
            }
            core.output_written();
        };
        core.writing = false;
        drop(core);
        self.turn.notify_all();
        result
    }
}

/// The receiving half of a [split](WebSocket::split) WebSocket: `recv` on
/// one thread while a [`WriteHalf`] sends on another. It runs the timers
/// (keepalive, idle, close) and answers pings; it never waits for the
/// writer.
///
/// ```no_run
/// # fn run() -> Result<(), wsx_blocking::Error> {
/// let (ws, _) = wsx_blocking::connect("ws://127.0.0.1:9001/echo")?;
/// let (mut reader, mut writer) = ws.split()?;
/// let sender = std::thread::spawn(move || {
///     for i in 0..10 {
///         writer.send(format!("message {i}"))?;
///     }
///     writer.close(wsx_blocking::CloseCode::NORMAL, "done")
/// });
/// while let Some(message) = reader.recv() {
///     println!("{:?}", message?);
/// }
/// # let _ = sender.join();
/// # Ok(()) }
/// ```
///
/// **TLS:** a TLS stream has one rustls session for both directions, which
/// cannot be driven from two threads without a lock held across blocking
/// reads; [`MaybeTls`](crate::MaybeTls) refuses to split when TLS is on.
/// From two threads over TLS, keep the WebSocket on one thread with a
/// [read timeout](WebSocket::set_read_timeout) and hand it messages over a
/// channel.
pub struct ReadHalf<S> {
    shared: Arc<Shared<S>>,
    io: S,
    read: ReadState,
}

/// The sending half of a [split](WebSocket::split) WebSocket. Each send
/// returns once its message is written (or has failed); two `WriteHalf`
/// calls never interleave because there is one `WriteHalf`, and the
/// reader's replies go out between its frames.
///
/// Everything a [`WebSocket`] writes with is here: `send`,
/// `send_uncompressed`, `send_prepared`, `ping`, `close`, `flush`; `feed`
/// is not, since every write here happens at once.
pub struct WriteHalf<S> {
    shared: Arc<Shared<S>>,
}

impl<S> std::fmt::Debug for ReadHalf<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadHalf").finish_non_exhaustive()
    }
}

impl<S> std::fmt::Debug for WriteHalf<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteHalf").finish_non_exhaustive()
    }
}

pub(crate) fn split<S: Transport>(reader: S, writer: S, core: Core, read: ReadState) -> (ReadHalf<S>, WriteHalf<S>) {
    let write_timeout = read.write_timeout;
    let shared = Arc::new(Shared {
        core: Mutex::new(core),
        turn: Condvar::new(),
        writer: Mutex::new(writer),
        write_timeout: Mutex::new(write_timeout),
    });
    (ReadHalf { shared: shared.clone(), io: reader, read }, WriteHalf { shared })
}

impl<S: Transport> ReadHalf<S> {
    /// The next message, `None` once the connection is over; as
    /// [`WebSocket::recv`].
    pub fn recv(&mut self) -> Option<Result<Message, Error>> {
        io::recv(self)
    }

    /// As [`WebSocket::set_read_timeout`].
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read.read_timeout = timeout;
    }

    /// What the handshake agreed on.
    pub fn negotiated(&self) -> Negotiated {
        lock(&self.shared.core).conn.negotiated().clone()
    }

    /// How the connection ended, once it has.
    pub fn close_outcome(&self) -> Option<CloseOutcome> {
        lock(&self.shared.core).outcome().cloned()
    }

    /// Puts the halves back together.
    ///
    /// # Errors
    /// The halves, if they come from two different WebSockets.
    pub fn reunite(self, write: WriteHalf<S>) -> Result<WebSocket<S>, (Self, WriteHalf<S>)> {
        if !Arc::ptr_eq(&self.shared, &write.shared) {
            return Err((self, write));
        }
        drop(write);
        let Self { shared, io: _reader, read } = self;
        match Arc::try_unwrap(shared) {
            Ok(shared) => {
                let core = shared.core.into_inner().unwrap_or_else(PoisonError::into_inner);
                let io = shared.writer.into_inner().unwrap_or_else(PoisonError::into_inner);
                Ok(WebSocket::from_parts(io, core, read))
            }
            // Unreachable: the two halves held the only references.
            Err(shared) => Err((Self { shared: shared.clone(), io: _reader, read }, WriteHalf { shared })),
        }
    }
}

impl<S: Transport> Side for ReadHalf<S> {
    fn with_core<T>(&mut self, f: impl FnOnce(&mut Core) -> T) -> T {
        f(&mut lock(&self.shared.core))
    }

    fn flush(&mut self) -> Result<(), Error> {
        self.shared.write(false, |_| Ok(()))
    }

    fn read(&mut self, deadline: Option<Instant>, discard: bool) -> Result<bool, Error> {
        let hint = lock(&self.shared.core).conn.read_hint();
        let read = io::read_timed(&mut self.io, &mut self.read, deadline, hint)?;
        Ok(io::deliver(&mut lock(&self.shared.core), read, discard))
    }

    fn read_timeout(&self) -> Option<Duration> {
        self.read.read_timeout
    }
}

impl<S: Transport> WriteHalf<S> {
    /// Sends a message and writes it; as [`WebSocket::send`].
    ///
    /// # Errors
    /// As [`WebSocket::send`].
    pub fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        self.shared.write(true, |core| core.send(message, true))
    }

    /// As [`WebSocket::send_uncompressed`].
    ///
    /// # Errors
    /// As [`WebSocket::send`].
    pub fn send_uncompressed(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        self.shared.write(true, |core| core.send(message, false))
    }

    /// As [`WebSocket::send_prepared`].
    ///
    /// # Errors
    /// As [`WebSocket::send`].
    pub fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        self.shared.write(true, |core| core.send_prepared(message))
    }

    /// Sends a Ping.
    ///
    /// # Errors
    /// As [`WebSocket::send`].
    pub fn ping(&mut self, payload: impl Into<Bytes>) -> Result<(), Error> {
        self.send(Message::Ping(payload.into()))
    }

    /// Writes anything queued (a reply the reader left, a write that timed
    /// out).
    ///
    /// # Errors
    /// As [`WebSocket::flush`].
    pub fn flush(&mut self) -> Result<(), Error> {
        self.shared.write(true, |_| Ok(()))
    }

    /// Sends a Close frame and writes it. The [`ReadHalf`] sees the peer's
    /// answer and ends (its `recv` returns `None`, under the close
    /// timeout).
    ///
    /// # Errors
    /// As [`WebSocket::close`].
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.shared.write(true, |core| core.start_close(code, reason))
    }

    /// As [`WebSocket::set_write_timeout`].
    ///
    /// # Errors
    /// As [`Transport::set_write_timeout`].
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) -> Result<(), Error> {
        lock(&self.shared.writer).set_write_timeout(timeout).map_err(Error::io("setting the write timeout"))?;
        *lock(&self.shared.write_timeout) = timeout;
        Ok(())
    }

    /// Whether messages can still be sent.
    pub fn is_open(&self) -> bool {
        let core = lock(&self.shared.core);
        core.conn.is_open() && core.phase == crate::core::Phase::Active
    }

    /// Bytes queued and not yet written.
    pub fn buffered_amount(&self) -> usize {
        lock(&self.shared.core).buffered_amount()
    }
}
