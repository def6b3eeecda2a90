//! The driver's state around the sans-I/O connection, shared by the whole
//! [`WebSocket`](crate::WebSocket) and its split halves: the output queue,
//! the phase of the connection's life, and the timers the core cannot have
//! (keepalive, idle, close), as deadlines checked by whoever reads.
//!
//! Contract: nothing here does I/O. [`Core::step`] says what the reader
//! must do next (hand over a message, read until a deadline, linger);
//! [`Core::take_output`] hands the writer everything queued, in order, so
//! that a Pong or a Close reply always goes out between frames, never
//! inside one.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use wsx_proto::{
    CloseCode, CloseOutcome, Connection, Event, Message, Negotiated, PreparedMessage, ProtocolError, Role, SendError,
    State, Transmit,
};

use crate::config::Config;
use crate::error::{Error, TimeoutKind};

/// Where the connection is in its life, from the driver's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Frames flow; `Connection::state` says whether a close is under way.
    Active,
    /// The core is closed; flush what is left, then wait for the transport
    /// to end (the server closes first, §7.1.1) until the close deadline.
    Lingering,
    /// Nothing more to do.
    Done,
}

#[derive(Debug)]
struct KeepaliveState {
    interval: Duration,
    timeout: Duration,
    next_ping: Instant,
    awaiting: Option<([u8; 8], Instant)>,
    counter: u64,
}

/// What the reader does next.
#[derive(Debug)]
pub(crate) enum Step {
    /// Hand this message over; with `flush`, after writing what is queued
    /// (a Pong or a Close reply).
    Deliver(Message, bool),
    /// The peer broke the protocol: write what is queued (the Close with
    /// the error's code), then report it.
    Failed(ProtocolError),
    /// Write what is queued, then read, waking by `timer` at the latest.
    Read {
        /// The next timer's deadline.
        timer: Option<Instant>,
    },
    /// Write what is queued, then read and discard until end of stream or
    /// `deadline`.
    Linger {
        /// The close deadline.
        deadline: Instant,
    },
    /// The connection is over.
    End,
}

/// The connection and the driver's state around it.
pub(crate) struct Core {
    pub(crate) conn: Connection,
    pub(crate) config: Config,
    write_cap: usize,
    out: VecDeque<Bytes>,
    out_bytes: usize,
    /// Bytes taken by a writer and not yet written.
    pub(crate) in_flight: usize,
    shutdown_requested: bool,
    pub(crate) phase: Phase,
    close_deadline: Option<Instant>,
    keepalive: Option<KeepaliveState>,
    last_activity: Instant,
    outcome: Option<CloseOutcome>,
    failed: Option<ProtocolError>,
    /// A split half is writing (see `split.rs`).
    pub(crate) writing: bool,
    /// The write side has been shut down.
    shut_down: bool,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("conn", &self.conn)
            .field("phase", &self.phase)
            .field("queued", &self.buffered_amount())
            .finish_non_exhaustive()
    }
}

/// The RNG of a server connection, which never masks (RFC 6455 §5.1).
struct NoMasking;

impl rand::RngCore for NoMasking {
    fn next_u32(&mut self) -> u32 {
        0
    }
    fn next_u64(&mut self) -> u64 {
        0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(0);
    }
}

impl Core {
    pub(crate) fn new(negotiated: Negotiated, config: Config, leftover: &[u8]) -> Result<Self, Error> {
        let rng: Box<dyn rand::RngCore + Send> = match negotiated.role {
            // RFC 6455 §10.3: masking keys "MUST" be unpredictable: a CSPRNG
            // seeded from the OS per connection.
            Role::Client => {
                Box::new(<rand::rngs::StdRng as rand::SeedableRng>::try_from_os_rng().map_err(|e| Error::Io {
                    context: "seeding the masking-key RNG",
                    source: std::io::Error::other(e),
                })?)
            }
            Role::Server => Box::new(NoMasking),
        };
        let mut conn = Connection::new(negotiated, config.protocol.clone(), rng);
        conn.receive(leftover);
        let now = Instant::now();
        let keepalive = config.keepalive.map(|k| KeepaliveState {
            interval: k.get_interval(),
            timeout: k.get_timeout(),
            next_ping: now + k.get_interval(),
            awaiting: None,
            counter: 0,
        });
        Ok(Self {
            conn,
            write_cap: config.effective_write_buffer_max(),
            config,
            out: VecDeque::new(),
            out_bytes: 0,
            in_flight: 0,
            shutdown_requested: false,
            phase: Phase::Active,
            close_deadline: None,
            keepalive,
            last_activity: now,
            outcome: None,
            failed: None,
            writing: false,
            shut_down: false,
        })
    }

    /// Bytes queued and not yet written.
    pub(crate) fn buffered_amount(&self) -> usize {
        self.out_bytes + self.in_flight + self.conn.buffered_amount()
    }

    pub(crate) fn outcome(&self) -> Option<&CloseOutcome> {
        self.outcome.as_ref()
    }

    /// Queues a message (`compress: false` opts it out of permessage-deflate).
    pub(crate) fn send(&mut self, message: Message, compress: bool) -> Result<(), Error> {
        self.check_room(message.len())?;
        if compress {
            self.conn.send(message)?
        } else {
            self.conn.send_uncompressed(message)?
        }
        Ok(())
    }

    /// Queues a prepared message.
    pub(crate) fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        self.check_room(message.len())?;
        self.conn.send_prepared(message)?;
        Ok(())
    }

    /// Refuses to queue past the hard cap: the connection fails with 1008.
    fn check_room(&mut self, size: usize) -> Result<(), Error> {
        if self.phase != Phase::Active {
            return Err(Error::Send(SendError::Closed));
        }
        if self.buffered_amount() + size > self.write_cap {
            // The Close frame goes out behind what is queued (best effort);
            // the closing handshake then runs under the close timeout.
            let _ = self.conn.close_with(CloseCode::POLICY_VIOLATION, "write buffer full");
            return Err(Error::WriteBufferFull { limit: self.write_cap });
        }
        Ok(())
    }

    /// Starts the closing handshake, unless one is under way.
    pub(crate) fn start_close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        let frame = wsx_proto::CloseFrame::new(code, reason)?;
        if self.conn.is_open() {
            self.conn.close(Some(frame))?;
        }
        Ok(())
    }

    /// Everything queued, in order, for one writer; `None` when there is
    /// nothing to write. The second value asks for the write side to be
    /// shut down after it.
    pub(crate) fn take_output(&mut self, batch: &mut VecDeque<Bytes>) -> bool {
        batch.append(&mut self.out);
        self.in_flight += self.out_bytes;
        self.out_bytes = 0;
        while let Some(transmit) = self.conn.poll_transmit() {
            match transmit {
                Transmit::Bytes(bytes) => {
                    self.in_flight += bytes.len();
                    batch.push_back(bytes);
                }
                Transmit::Shutdown => self.shutdown_requested = true,
            }
        }
        let shutdown = std::mem::take(&mut self.shutdown_requested) && !self.shut_down;
        self.shut_down |= shutdown;
        shutdown
    }

    /// The peer ended the transport after the closing handshake: end ours
    /// too (the client's turn comes after the server's, §7.1.1).
    pub(crate) fn request_shutdown(&mut self) {
        self.shutdown_requested = !self.shut_down;
    }

    /// What a writer could not write goes back to the front of the queue.
    pub(crate) fn return_output(&mut self, mut batch: VecDeque<Bytes>, shutdown: bool) {
        let left: usize = batch.iter().map(Bytes::len).sum();
        batch.append(&mut self.out);
        self.out = batch;
        self.out_bytes += left;
        self.in_flight = 0;
        if shutdown {
            self.shut_down = false;
            self.shutdown_requested = true;
        }
    }

    /// The writer is done with its batch.
    pub(crate) fn output_written(&mut self) {
        self.in_flight = 0;
    }

    /// What the reader does next (see [`Step`]).
    pub(crate) fn step(&mut self, now: Instant) -> Result<Step, Error> {
        if let Some(error) = self.failed.take() {
            return Ok(Step::Failed(error));
        }
        loop {
            match self.phase {
                Phase::Done => return Ok(Step::End),
                Phase::Lingering => {
                    let deadline = *self.close_deadline.get_or_insert(now + self.config.close_timeout);
                    return Ok(Step::Linger { deadline });
                }
                Phase::Active => {}
            }
            match self.conn.poll_event() {
                Some(Event::Message(message)) => {
                    self.on_message_received(&message, now);
                    let flush = matches!(message, Message::Ping(_) | Message::Close(_));
                    return Ok(Step::Deliver(message, flush));
                }
                Some(Event::Closed(outcome)) => {
                    self.phase = Phase::Lingering;
                    self.close_deadline = Some(now + self.config.close_timeout);
                    let outcome = *outcome;
                    self.outcome = Some(outcome.clone());
                    if let Some(error) = outcome.error {
                        return Ok(Step::Failed(error));
                    }
                }
                None => {
                    self.run_timers(now)?;
                    return Ok(Step::Read { timer: self.next_timer() });
                }
            }
        }
    }

    /// Input read from the transport (`None`: end of stream).
    pub(crate) fn receive(&mut self, bytes: Option<&[u8]>) {
        match bytes {
            Some(bytes) => self.conn.receive(bytes),
            None => self.conn.receive_eof(),
        }
    }

    /// The transport ended or failed after the core closed: done.
    pub(crate) fn end(&mut self) {
        self.phase = Phase::Done;
        self.conn.receive_buffer().clear();
        self.close_deadline = None;
    }

    /// The transport failed or a deadline passed: the connection ends
    /// without a closing handshake, and nothing more is written.
    pub(crate) fn transport_failed(&mut self, error: Error) -> Error {
        self.conn.abort();
        self.out.clear();
        self.out_bytes = 0;
        self.shutdown_requested = false;
        if let State::Closed(outcome) = self.conn.state() {
            self.outcome = Some(CloseOutcome::clone(outcome));
        }
        self.phase = Phase::Done;
        error
    }

    fn on_message_received(&mut self, message: &Message, now: Instant) {
        self.last_activity = now;
        if let (Message::Pong(payload), Some(keepalive)) = (message, self.keepalive.as_mut())
            && keepalive.awaiting.as_ref().is_some_and(|(expected, _)| payload.as_ref() == expected)
        {
            keepalive.awaiting = None;
        }
    }

    /// Keepalive pings and their timeout, the idle timeout and the close
    /// timeout, as of `now`.
    fn run_timers(&mut self, now: Instant) -> Result<(), Error> {
        if let Some(keepalive) = self.keepalive.as_mut() {
            if now >= keepalive.next_ping {
                keepalive.next_ping = now + keepalive.interval;
                if self.conn.is_open() && keepalive.awaiting.is_none() {
                    keepalive.counter += 1;
                    let payload = keepalive.counter.to_be_bytes();
                    if self.conn.send_ping(Bytes::copy_from_slice(&payload)).is_ok() {
                        keepalive.awaiting = Some((payload, now + keepalive.timeout));
                    }
                }
            }
            if let Some((_, deadline)) = keepalive.awaiting
                && now >= deadline
            {
                let after = keepalive.timeout;
                return Err(self.transport_failed(Error::Timeout { kind: TimeoutKind::Keepalive, after }));
            }
        }
        if let Some(idle) = self.config.idle_timeout
            && now >= self.last_activity + idle
            && self.conn.is_open()
        {
            let _ = self.conn.close_with(CloseCode::GOING_AWAY, "idle timeout");
        }
        if self.conn.close_expected() {
            let deadline = *self.close_deadline.get_or_insert(now + self.config.close_timeout);
            if now >= deadline {
                let after = self.config.close_timeout;
                return Err(self.transport_failed(Error::Timeout { kind: TimeoutKind::Close, after }));
            }
        }
        Ok(())
    }

    /// The earliest deadline of the timers that are armed.
    fn next_timer(&self) -> Option<Instant> {
        let keepalive = self.keepalive.as_ref().filter(|_| self.conn.is_open() || self.conn.close_expected());
        [
            keepalive.map(|k| k.next_ping),
            keepalive.and_then(|k| k.awaiting.map(|(_, deadline)| deadline)),
            self.config.idle_timeout.filter(|_| self.conn.is_open()).map(|idle| self.last_activity + idle),
            self.close_deadline.filter(|_| self.conn.close_expected()),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
