//! The I/O shared by the whole [`WebSocket`](crate::WebSocket) and its
//! split halves: timed reads that wake for the timers, vectored writes of
//! the queued frames, and the receive loop itself, written once over a
//! [`Side`] (the owner of the core, or a half that locks it).
//!
//! Contract: a read or write deadline that passes leaves the connection as
//! it was — unread bytes stay in the socket, unwritten ones in the queue —
//! and is reported as [`TimeoutKind::Read`] or [`TimeoutKind::Write`].

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use wsx_proto::Message;

use crate::core::{Core, Step};
use crate::error::{Error, TimeoutKind};
use crate::transport::Transport;

/// Most buffers handed to one vectored write.
const MAX_IOVECS: usize = 64;
/// Reads go to a buffer of this size, or larger for a large frame.
const MIN_READ: usize = 8 * 1024;
/// The most one read takes.
const MAX_READ: usize = 128 * 1024;
/// Under this much time left, the socket's read timeout is set to all of
/// it; above, to half of it, so that the timeout needs setting again only
/// after half the time has passed (a few system calls per deadline, not
/// one per read).
const EXACT_BELOW: Duration = Duration::from_millis(20);

/// The reader's state: its buffer, the read timeout set on the socket and
/// the one the application asked for.
#[derive(Debug, Default)]
pub(crate) struct ReadState {
    buf: Vec<u8>,
    /// What the socket's read timeout is now (`None`: none).
    socket_timeout: Option<Duration>,
    /// [`WebSocket::set_read_timeout`](crate::WebSocket::set_read_timeout).
    pub(crate) read_timeout: Option<Duration>,
    /// [`WebSocket::set_write_timeout`](crate::WebSocket::set_write_timeout).
    pub(crate) write_timeout: Option<Duration>,
}

/// What one timed read gave.
pub(crate) enum Read<'a> {
    Data(&'a [u8]),
    Eof,
    /// The socket's timeout passed (which may be before `deadline`).
    TimedOut,
}

fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// One read from `io`, waking by `deadline` at the latest.
pub(crate) fn read_timed<'a, R: Transport>(
    io: &mut R,
    state: &'a mut ReadState,
    deadline: Option<Instant>,
    hint: usize,
) -> Result<Read<'a>, Error> {
    let wanted = match deadline {
        None => None,
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Read::TimedOut);
            }
            Some(left)
        }
    };
    let set = match wanted {
        None => state.socket_timeout.is_some().then_some(None),
        Some(left) if state.socket_timeout.is_none_or(|current| current > left) => {
            let timeout = if left > EXACT_BELOW { left / 2 } else { left };
            Some(Some(timeout.max(Duration::from_millis(1))))
        }
        Some(_) => None,
    };
    if let Some(timeout) = set {
        io.set_read_timeout(timeout).map_err(Error::io("setting the read timeout"))?;
        state.socket_timeout = timeout;
    }
    let size = hint.clamp(MIN_READ, MAX_READ);
    if state.buf.len() < size {
        state.buf.resize(size, 0);
    }
    loop {
        return match io.read(&mut state.buf[..size]) {
            Ok(0) => Ok(Read::Eof),
            Ok(n) => Ok(Read::Data(&state.buf[..n])),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) if is_timeout(&error) => Ok(Read::TimedOut),
            Err(source) => Err(Error::Io { context: "reading from the transport", source }),
        };
    }
}

/// Writes `batch` out, vectored, removing what was written; on an error
/// the rest stays in `batch`.
fn write_batch<W: Write>(io: &mut W, batch: &mut VecDeque<Bytes>) -> io::Result<()> {
    while !batch.is_empty() {
        let written = if batch.len() == 1 {
            io.write(&batch[0])
        } else {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let count = batch.len().min(MAX_IOVECS);
            for (slot, chunk) in slices.iter_mut().zip(batch.iter()) {
                *slot = IoSlice::new(chunk);
            }
            io.write_vectored(&slices[..count])
        };
        let mut written = match written {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        while written > 0 {
            let Some(front) = batch.front_mut() else { break };
            if front.len() <= written {
                written -= front.len();
                batch.pop_front();
            } else {
                front.advance(written);
                written = 0;
            }
        }
    }
    Ok(())
}

/// Writes one batch taken from the core (and shuts the write side down
/// when asked), flushing the transport.
pub(crate) fn write_out<W: Transport>(io: &mut W, batch: &mut VecDeque<Bytes>, shutdown: bool) -> io::Result<()> {
    write_batch(io, batch)?;
    if shutdown {
        io.shutdown_write()?;
    }
    io.flush()
}

/// The error for a failed write: a timeout leaves the connection usable,
/// anything else ends it.
pub(crate) fn write_failed(core: &mut Core, error: io::Error, write_timeout: Option<Duration>) -> Error {
    if is_timeout(&error) {
        return Error::Timeout { kind: TimeoutKind::Write, after: write_timeout.unwrap_or_default() };
    }
    core.transport_failed(Error::Io { context: "writing to the transport", source: error })
}

/// Who drives a receive: the whole WebSocket, or the read half of a split
/// one.
pub(crate) trait Side {
    /// Runs `f` on the core (under its lock, for a half).
    fn with_core<T>(&mut self, f: impl FnOnce(&mut Core) -> T) -> T;
    /// Writes what is queued; a read half leaves it to a writer already
    /// at work.
    fn flush(&mut self) -> Result<(), Error>;
    /// One timed read, handed to the core (`Ok(false)`: the socket's
    /// timeout passed).
    fn read(&mut self, deadline: Option<Instant>, discard: bool) -> Result<bool, Error>;
    /// The application's read timeout.
    fn read_timeout(&self) -> Option<Duration>;
}

/// The next message, `None` once the connection is over: the receive loop
/// of both the whole WebSocket and the read half.
pub(crate) fn recv<D: Side>(side: &mut D) -> Option<Result<Message, Error>> {
    let asked = side.read_timeout().map(|timeout| (Instant::now() + timeout, timeout));
    loop {
        let step = match side.with_core(|core| core.step(Instant::now())) {
            Ok(step) => step,
            Err(error) => return Some(Err(error)),
        };
        match step {
            Step::Deliver(message, flush) => {
                // Pongs and close echoes leave before the application sees
                // the event.
                if flush && let Err(error) = side.flush() {
                    return Some(Err(error));
                }
                return Some(Ok(message));
            }
            Step::Failed(error) => {
                // The Close with the error's code goes out first (best
                // effort: the peer broke the protocol).
                let _ = side.flush();
                return Some(Err(Error::Protocol(error)));
            }
            Step::End => return None,
            Step::Read { timer } => {
                if let Err(error) = side.flush() {
                    return Some(Err(error));
                }
                let deadline = match (timer, asked) {
                    (Some(timer), Some((asked, _))) => Some(timer.min(asked)),
                    (timer, asked) => timer.or(asked.map(|(asked, _)| asked)),
                };
                match side.read(deadline, false) {
                    Ok(true) => {}
                    Ok(false) => {
                        if let Some((asked, after)) = asked
                            && Instant::now() >= asked
                        {
                            return Some(Err(Error::Timeout { kind: TimeoutKind::Read, after }));
                        }
                    }
                    Err(error) => return Some(Err(side.with_core(|core| core.transport_failed(error)))),
                }
            }
            Step::Linger { deadline } => {
                linger(side, deadline);
                return None;
            }
        }
    }
}

/// After the core closed: write what is left, then read and discard until
/// the peer ends the transport (then end ours) or the close deadline.
fn linger<D: Side>(side: &mut D, deadline: Instant) {
    if side.flush().is_ok() {
        loop {
            match side.read(Some(deadline), true) {
                Ok(true) => {
                    if side.with_core(|core| core.phase) == crate::core::Phase::Done {
                        // End of stream: the peer closed; so do we.
                        side.with_core(Core::request_shutdown);
                        let _ = side.flush();
                        break;
                    }
                }
                Ok(false) if Instant::now() < deadline => {}
                Ok(false) | Err(_) => break,
            }
        }
    }
    side.with_core(Core::end);
}

/// Hands what a read gave to the core: `Ok(false)` when the socket timed
/// out. While discarding, end of stream ends the connection.
pub(crate) fn deliver(core: &mut Core, read: Read<'_>, discard: bool) -> bool {
    match read {
        Read::Data(bytes) => {
            if !discard {
                core.receive(Some(bytes));
            }
            true
        }
        Read::Eof if discard => {
            core.phase = crate::core::Phase::Done;
            true
        }
        Read::Eof => {
            core.receive(None);
            true
        }
        Read::TimedOut => false,
    }
}
