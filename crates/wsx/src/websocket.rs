//! The WebSocket connection over an async transport (RFC 6455 §5–§7, driven):
//! reads pulled by the application, writes coalesced and vectored, pongs and
//! close echoes written before events are handed over, and the timers the
//! sans-I/O core cannot have (close, keepalive, idle).

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

use bytes::{Buf, Bytes};
use futures_core::Stream;
use futures_sink::Sink;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use wsx_proto::{
    CloseCode, CloseFrame, CloseOutcome, Connection, Event, Message, Negotiated, PreparedMessage, ProtocolError, State,
    Transmit,
};

use crate::config::Config;
use crate::error::{Error, TimeoutKind};

/// Most buffers handed to one vectored write.
const MAX_IOVECS: usize = 64;
/// Queues this short (a header and its payload, a few frames) are written
/// from a small array of slices instead of one of `MAX_IOVECS`.
const FEW_IOVECS: usize = 8;
/// While events are ready without reading, the timers are polled once per
/// this many events (and always before a read).
const TIMER_CHECK_INTERVAL: u32 = 32;
/// Reads that start with an empty receive buffer go to a stack buffer of
/// this size first (see `WebSocket::poll_read`).
const STACK_READ: usize = 4 * 1024;

/// Where the connection is in its life, from the driver's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Frames flow; `Connection::state` says whether a close is under way.
    Active,
    /// The core is closed; flush what is left, then wait for the transport
    /// to end (the server closes first, §7.1.1) until the close deadline.
    Lingering,
    /// Nothing more to do; the stream is over.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shutdown {
    NotRequested,
    Requested,
    Done,
}

/// What of [`Config`] the socket reads once it is open; the rest went into
/// the core and the timers when it was built. An idle connection's memory
/// is mostly its socket, so the socket keeps no more than this.
struct Settings {
    write_buffer_high_water: usize,
    close_timeout: std::time::Duration,
    idle_timeout: Option<std::time::Duration>,
    shutdown: Option<crate::ShutdownSignal>,
}

struct KeepaliveState {
    interval: std::time::Duration,
    timeout: std::time::Duration,
    next_ping: Pin<Box<Sleep>>,
    awaiting: Option<([u8; 8], Pin<Box<Sleep>>)>,
    counter: u64,
}

/// A WebSocket connection: a [`Stream`] of incoming messages and a [`Sink`]
/// of outgoing ones, with `async` helpers.
///
/// Reading is pulled: while nobody calls [`recv`](Self::recv) (or polls the
/// stream) no bytes are read from the socket, so a slow consumer slows the
/// peer down through TCP flow control instead of filling memory. Keepalive
/// pings and timeouts are handled while reading.
///
/// ```no_run
/// # async fn run() -> Result<(), wsx::Error> {
/// let (mut ws, _response) = wsx::connect("ws://127.0.0.1:9001/echo").await?;
/// ws.send("hello").await?;
/// while let Some(message) = ws.recv().await {
///     println!("{:?}", message?);
/// }
/// # Ok(()) }
/// ```
pub struct WebSocket<S> {
    io: S,
    conn: Connection,
    settings: Settings,
    write_cap: usize,
    out: VecDeque<Bytes>,
    out_bytes: usize,
    shutdown: Shutdown,
    /// Bytes were written since the transport was last flushed (set from
    /// the start: whatever the handshake left is flushed once).
    unflushed: bool,
    phase: Phase,
    close_timer: Option<Pin<Box<Sleep>>>,
    keepalive: Option<KeepaliveState>,
    idle_timer: Option<Pin<Box<Sleep>>>,
    /// The release of permessage-deflate's state on a quiet connection
    /// (`Config::compression_release`), when compression was agreed;
    /// boxed, so a connection without compression does not carry it.
    compression_release: Option<Box<CompressionRelease>>,
    /// When the last message arrived, while an idle timeout is set: the
    /// idle timer is moved to its real deadline only when it fires, not
    /// at every message.
    last_activity: Instant,
    /// The waker every armed timer (and the shutdown signal) was last
    /// polled with; `None` once the close timer is armed (outside
    /// `poll_timers`) and after a poll that ran out of cooperative budget.
    /// While the task polls with the same waker and no timer has fired,
    /// polling them again changes nothing, and `poll_timers` skips it.
    timers_waker: Option<Waker>,
    /// The server's shutdown signal (`Config::shutdown`), until it fires.
    going_away: Option<Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>>,
    /// How the connection closed, once it has; boxed, as only a closed
    /// socket needs it.
    outcome: Option<Box<CloseOutcome>>,
    /// The peer's violation, held back from the application until the
    /// replies queued before it and the Close with its code have been
    /// written (or the close timeout has passed). Boxed, as only a failed
    /// connection needs it.
    failed: Option<Box<ProtocolError>>,
    /// Events handed over since the timers were last polled.
    events_since_timers: u32,
    /// Bytes handed to the core (`received_bytes`).
    received: u64,
    /// The socket's receive low-water mark, for transports that have one
    /// (plain TCP, set up by the server and client constructors).
    #[cfg(target_os = "linux")]
    low_water: Option<crate::low_water::RecvLowWater<S>>,
}

impl<S> std::fmt::Debug for WebSocket<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("conn", &self.conn)
            .field("phase", &self.phase)
            .field("queued", &self.out_bytes)
            .finish_non_exhaustive()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    /// Wraps a transport whose opening handshake is already done — by
    /// [`connect`](crate::connect), [`accept`](crate::accept) or another
    /// HTTP stack. `leftover` holds bytes read past the handshake (a peer may
    /// send its first frames in the same segment).
    pub fn from_upgraded(io: S, negotiated: Negotiated, config: Config, leftover: &[u8]) -> Result<Self, Error> {
        let rng: Box<dyn rand::RngCore + Send> = match negotiated.role {
            // RFC 6455 §10.3: masking keys "MUST" be unpredictable: a CSPRNG
            // seeded from the OS per connection.
            wsx_proto::Role::Client => {
                Box::new(<rand::rngs::StdRng as rand::SeedableRng>::try_from_os_rng().map_err(|e| Error::Io {
                    context: "seeding the masking-key RNG",
                    source: std::io::Error::other(e),
                })?)
            }
            // A server never masks; the core never draws from this one, so
            // it gets a zero-sized stand-in (boxing it allocates nothing).
            wsx_proto::Role::Server => Box::new(NoMasking),
        };
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
        let write_cap = config.effective_write_buffer_max();
        let Config { protocol, keepalive, idle_timeout, compression_release, shutdown, .. } = config;
        let settings = Settings {
            write_buffer_high_water: config.write_buffer_high_water,
            close_timeout: config.close_timeout,
            idle_timeout,
            shutdown,
        };
        let mut conn = Connection::new(negotiated, protocol, rng);
        conn.receive(leftover);
        let now = Instant::now();
        let keepalive = keepalive.map(|k| KeepaliveState {
            interval: k.get_interval(),
            timeout: k.get_timeout(),
            next_ping: Box::pin(tokio::time::sleep_until(now + k.get_interval())),
            awaiting: None,
            counter: 0,
        });
        let idle_timer = settings.idle_timeout.map(|d| Box::pin(tokio::time::sleep_until(now + d)));
        let going_away = settings.shutdown.as_ref().map(|signal| Box::pin(signal.owned_future()));
        let compression_release = compression_release.filter(|_| conn.negotiated().deflate.is_some()).map(|period| {
            Box::new(CompressionRelease {
                period,
                timer: Box::pin(tokio::time::sleep_until(now + period)),
                armed: false,
                seen: 0,
            })
        });
        Ok(Self {
            io,
            conn,
            write_cap,
            settings,
            out: VecDeque::new(),
            out_bytes: 0,
            shutdown: Shutdown::NotRequested,
            unflushed: true,
            phase: Phase::Active,
            close_timer: None,
            keepalive,
            idle_timer,
            compression_release,
            last_activity: now,
            timers_waker: None,
            going_away,
            outcome: None,
            failed: None,
            events_since_timers: 0,
            received: leftover.len() as u64,
            #[cfg(target_os = "linux")]
            low_water: None,
        })
    }

    /// Lets the driver set the receive low-water mark of the socket that
    /// `socket_of` finds in the transport while a large frame arrives (see
    /// `low_water.rs`).
    #[cfg(target_os = "linux")]
    pub(crate) fn use_recv_low_water(&mut self, socket_of: crate::low_water::SocketOf<S>) {
        self.low_water = Some(crate::low_water::RecvLowWater::new(socket_of));
    }

    /// The next message, `None` once the connection is closed. A received
    /// Close frame comes as [`Message::Close`] (already answered) before
    /// `None`. Ping and Pong frames are delivered too (pings are answered
    /// automatically).
    ///
    /// Cancel-safe: dropping the future loses no data.
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Sends a message and writes it out, with everything queued before it.
    /// Waits while the write buffer is above its high-water mark, so a peer
    /// that does not read slows us down instead of growing our memory.
    ///
    /// To answer a burst of messages in one write, queue the replies with
    /// [`feed`](Self::feed) instead: the next [`recv`](Self::recv) that has
    /// nothing left to hand over writes them before it waits.
    pub fn send(&mut self, message: impl Into<Message>) -> impl Future<Output = Result<(), Error>> {
        // Converted before the future is built: an `async fn` would keep
        // both the argument and the message in it (see `feed`).
        let message = message.into();
        async move {
            poll_fn(|cx| self.poll_send_ready(cx)).await?;
            self.start_send_message(message)?;
            poll_fn(|cx| self.poll_write_out_timed(cx)).await
        }
    }

    /// Sends a text or binary message uncompressed even when
    /// permessage-deflate is in use (data that does not compress, or a secret
    /// that must not share a compression context with attacker-chosen
    /// data); otherwise like [`send`](Self::send).
    pub fn send_uncompressed(&mut self, message: impl Into<Message>) -> impl Future<Output = Result<(), Error>> {
        let message = message.into();
        async move {
            poll_fn(|cx| self.poll_send_ready(cx)).await?;
            self.start_send(message, false)?;
            poll_fn(|cx| self.poll_write_out_timed(cx)).await
        }
    }

    /// Queues a message without writing it, for sending several in one
    /// write. What is queued leaves with the next [`send`](Self::send) or
    /// [`flush`](Self::flush), or when the next [`recv`](Self::recv) has
    /// nothing buffered to hand over: it writes everything queued before it
    /// waits for input. So an echo loop of `recv` and `feed` answers a
    /// burst of pipelined messages in one write:
    ///
    /// ```no_run
    /// # async fn echo(mut ws: wsx::WebSocket<tokio::net::TcpStream>) -> Result<(), wsx::Error> {
    /// while let Some(message) = ws.recv().await {
    ///     let message = message?;
    ///     if message.is_text() || message.is_binary() {
    ///         ws.feed(message).await?;
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn feed(&mut self, message: impl Into<Message>) -> impl Future<Output = Result<(), Error>> {
        // Converted here rather than in an `async fn`, which would keep the
        // argument and the converted message side by side in its future:
        // in an echo loop's task, for the whole life of the connection.
        let message = message.into();
        async move {
            poll_fn(|cx| self.poll_send_ready(cx)).await?;
            self.start_send_message(message)
        }
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.poll_write_out(cx)).await
    }

    /// Sends a message encoded once for many connections and writes it out.
    /// On a server connection the shared frame is queued as it is, without
    /// a copy (see [`Connection::send_prepared`]). Waits like
    /// [`send`](Self::send).
    pub async fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        self.feed_prepared(message).await?;
        poll_fn(|cx| self.poll_write_out_timed(cx)).await
    }

    /// Queues a prepared message without flushing, like [`feed`](Self::feed).
    pub async fn feed_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        poll_fn(|cx| self.poll_send_ready(cx)).await?;
        self.start_send_prepared(message)
    }

    /// Queues a prepared message without waiting or writing: the
    /// [`Sink`] counterpart of [`feed_prepared`](Self::feed_prepared), for a
    /// caller that polls. Call it after [`Sink::poll_ready`] returned
    /// `Ready(Ok(()))` (as for [`Sink::start_send`]): unlike `feed_prepared`
    /// it does not wait for room under the high-water mark, though the hard
    /// cap still applies. What it queues is written by the next
    /// [`Sink::poll_flush`], or by the next receive that has nothing
    /// buffered to hand over (before it reads).
    pub fn start_send_prepared(&mut self, message: &PreparedMessage) -> Result<(), Error> {
        if self.phase != Phase::Active {
            return Err(Error::Send(wsx_proto::SendError::Closed));
        }
        if self.buffered_amount() + message.len() > self.write_cap {
            tracing::warn!(cap = self.write_cap, "write buffer cap reached; failing the connection");
            let _ = self.conn.close_with(CloseCode::POLICY_VIOLATION, "write buffer full");
            return Err(Error::WriteBufferFull { limit: self.write_cap });
        }
        self.conn.send_prepared(message)?;
        Ok(())
    }

    /// Runs the closing handshake (§7.1.2): sends a Close frame with `code`
    /// and `reason`, then reads (discarding messages) until the peer's Close
    /// frame and the end of the transport, or the close timeout. Returns how
    /// the connection ended.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<CloseOutcome, Error> {
        let frame = CloseFrame::new(code, reason)?;
        self.start_close(Some(frame))?;
        // No separate flush: `recv` writes the Close frame as the transport
        // takes it, under the close timeout, so a peer that stops reading
        // cannot stall the close forever.
        while let Some(item) = self.recv().await {
            item?;
        }
        Ok(self.close_outcome().cloned().unwrap_or_else(|| CloseOutcome { sent: None, received: None, error: None }))
    }

    /// How the connection ended, once it has.
    pub fn close_outcome(&self) -> Option<&CloseOutcome> {
        self.outcome.as_deref()
    }

    /// What the handshake agreed on (subprotocol).
    pub fn negotiated(&self) -> &Negotiated {
        self.conn.negotiated()
    }

    /// The protocol state.
    pub fn state(&self) -> &State {
        self.conn.state()
    }

    /// Whether messages can still be sent: no Close was sent or received
    /// yet (`State::Open`).
    pub fn is_open(&self) -> bool {
        self.conn.is_open()
    }

    /// Bytes read from the transport so far for the protocol, those that
    /// came with the opening handshake's response included (not those
    /// read and discarded after the core closed). A caller that polls can
    /// compare it across a receive: unchanged, the message handed over
    /// was already buffered, read no later than the previous change.
    pub fn received_bytes(&self) -> u64 {
        self.received
    }

    /// The transport.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// Bytes queued and not yet written.
    pub fn buffered_amount(&self) -> usize {
        self.out_bytes + self.conn.buffered_amount()
    }

    pub(crate) fn start_close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        if self.conn.is_open() {
            self.conn.close(frame)?;
        }
        Ok(())
    }

    pub(crate) fn start_send_message(&mut self, message: Message) -> Result<(), Error> {
        self.start_send(message, true)
    }

    /// Queues a message; `compress: false` opts it out of permessage-deflate.
    pub(crate) fn start_send(&mut self, message: Message, compress: bool) -> Result<(), Error> {
        if self.phase != Phase::Active {
            return Err(Error::Send(wsx_proto::SendError::Closed));
        }
        let size = message.len();
        if self.buffered_amount() + size > self.write_cap {
            tracing::warn!(cap = self.write_cap, "write buffer cap reached; failing the connection");
            // The Close frame goes out behind what is queued (best effort: a
            // peer that does not read will rarely see it); the closing
            // handshake then runs under the close timeout like any other, so
            // reading ends instead of waiting for the peer forever.
            let _ = self.conn.close_with(CloseCode::POLICY_VIOLATION, "write buffer full");
            return Err(Error::WriteBufferFull { limit: self.write_cap });
        }
        if compress {
            self.conn.send(message)?;
        } else {
            self.conn.send_uncompressed(message)?;
        }
        Ok(())
    }

    /// Ready to queue another message: the write buffer is under its
    /// high-water mark (writing out as needed).
    #[inline]
    pub(crate) fn poll_send_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.phase == Phase::Active
            && self.conn.is_open()
            && self.buffered_amount() < self.settings.write_buffer_high_water
        {
            return Poll::Ready(Ok(()));
        }
        self.poll_send_room(cx)
    }

    /// [`poll_send_ready`](Self::poll_send_ready) when the connection is
    /// closing or the write buffer is at its high-water mark.
    #[inline(never)]
    fn poll_send_room(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            if self.phase != Phase::Active || !self.conn.is_open() {
                return Poll::Ready(Err(Error::Send(wsx_proto::SendError::Closed)));
            }
            if self.buffered_amount() < self.settings.write_buffer_high_water {
                return Poll::Ready(Ok(()));
            }
            ready!(self.poll_write_out_timed(cx))?;
        }
    }

    /// [`poll_write_out`](Self::poll_write_out) for a sender: while the
    /// transport takes nothing (a peer that never reads, an HTTP/2 window
    /// that never opens), the timers run too, so keepalive and the close
    /// timeout end a send that would otherwise wait forever.
    fn poll_write_out_timed(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match self.poll_write_out(cx) {
            Poll::Pending => {
                self.poll_timers(cx)?;
                Poll::Pending
            }
            ready => ready,
        }
    }

    /// Writes queued output: pulls transmits from the core (while under the
    /// high-water mark, so at most one Pong waits in the core), writes them
    /// vectored, performs a requested shutdown, flushes.
    pub(crate) fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            if self.out.is_empty()
                && let Some(staged) = self.conn.peek_transmit()
            {
                // Small frames staged in the core with nothing queued ahead
                // of them (a lone reply, a burst of them): written from the
                // core's buffer as they are.
                let written = ready!(Pin::new(&mut self.io).poll_write(cx, staged))
                    .map_err(Error::io("writing to the transport"))?;
                self.conn.advance_transmit(nonzero_write(written)?);
                self.unflushed = true;
                continue;
            }
            while self.out_bytes < self.settings.write_buffer_high_water {
                match self.conn.poll_transmit() {
                    Some(Transmit::Bytes(bytes)) => {
                        self.out_bytes += bytes.len();
                        self.out.push_back(bytes);
                    }
                    Some(Transmit::Shutdown) => self.shutdown = Shutdown::Requested,
                    None => break,
                }
            }
            if self.out.is_empty() {
                if self.shutdown == Shutdown::Requested {
                    ready!(Pin::new(&mut self.io).poll_shutdown(cx))
                        .map_err(Error::io("shutting down the transport"))?;
                    self.shutdown = Shutdown::Done;
                }
                // Only after writes: a read (which writes out first) costs no
                // flush of a transport that has nothing to flush.
                if self.shutdown != Shutdown::Done && self.unflushed {
                    ready!(Pin::new(&mut self.io).poll_flush(cx)).map_err(Error::io("flushing the transport"))?;
                    self.unflushed = false;
                }
                return Poll::Ready(Ok(()));
            }
            let written = if self.out.len() == 1 {
                // One buffer: a plain write, which the kernel serves with
                // less work than writev.
                let chunk = &self.out[0];
                ready!(Pin::new(&mut self.io).poll_write(cx, chunk)).map_err(Error::io("writing to the transport"))?
            } else if self.out.len() <= FEW_IOVECS {
                ready!(poll_write_out_vectored::<_, FEW_IOVECS>(&mut self.io, cx, &self.out))?
            } else {
                ready!(poll_write_out_vectored::<_, MAX_IOVECS>(&mut self.io, cx, &self.out))?
            };
            self.consume_written(nonzero_write(written)?);
            self.unflushed = true;
        }
    }

    fn consume_written(&mut self, mut written: usize) {
        self.out_bytes -= written;
        while written > 0 {
            let Some(front) = self.out.front_mut() else { break };
            if front.len() <= written {
                written -= front.len();
                self.out.pop_front();
            } else {
                front.advance(written);
                written = 0;
            }
        }
    }

    /// The next message: the heart of the reading side.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        if self.failed.is_some() {
            return self.poll_report_failure(cx);
        }
        loop {
            match self.phase {
                Phase::Done => return Poll::Ready(None),
                Phase::Lingering => return self.poll_linger(cx),
                Phase::Active => {}
            }
            // While events flow the timers are checked every few events (a
            // peer that streams without pause must still meet the close and
            // keepalive deadlines); before every read below, always.
            self.events_since_timers += 1;
            if self.events_since_timers >= TIMER_CHECK_INTERVAL {
                self.events_since_timers = 0;
                if let Err(error) = self.poll_timers(cx) {
                    return Poll::Ready(Some(Err(error)));
                }
            }
            match self.conn.poll_event() {
                Some(Event::Message(message)) => {
                    self.on_message_received(&message);
                    // Pongs and close echoes go out before the application sees
                    // the event (best effort if the peer is not reading). Data
                    // messages leave queued replies for the write before the
                    // next read, so that a burst is answered in one write.
                    if matches!(message, Message::Ping(_) | Message::Close(_))
                        && let Poll::Ready(Err(error)) = self.poll_write_out(cx)
                    {
                        return Poll::Ready(Some(Err(self.transport_failed(error))));
                    }
                    return Poll::Ready(Some(Ok(message)));
                }
                Some(Event::Closed(outcome)) => {
                    if self.on_closed(*outcome) {
                        return self.poll_report_failure(cx);
                    }
                }
                None => {
                    if let Err(error) = ready!(self.poll_input(cx)) {
                        return Poll::Ready(Some(Err(error)));
                    }
                }
            }
        }
    }

    /// The core closed: linger from now on. Whether it failed the
    /// connection: its error is then held in `failed` for the application.
    /// Out of line (as is `poll_input`): what runs at every message in
    /// `poll_recv` keeps a small stack frame.
    #[inline(never)]
    fn on_closed(&mut self, outcome: CloseOutcome) -> bool {
        self.phase = Phase::Lingering;
        self.arm_close_timer(false);
        self.outcome = Some(Box::new(outcome.clone()));
        #[cfg(target_os = "linux")]
        if let Some(mark) = self.low_water.as_mut() {
            // The last reads wait for the peer's Close or end
            // of stream, not for the rest of a frame.
            mark.reset(&self.io);
        }
        let Some(error) = outcome.error else { return false };
        tracing::debug!(%error, "failed the connection");
        self.failed = Some(Box::new(error));
        true
    }

    /// Nothing whole is buffered. Timers first: a keepalive Ping or an
    /// idle-timeout Close they queue leaves with the writes, and each
    /// registers this task's waker before it may wait. Then write what is
    /// queued (the replies to everything handed over so far), without
    /// waiting for it, then read. `Ready(Ok(()))`: input (or its end) came.
    #[inline(never)]
    fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.events_since_timers = 0;
        self.poll_timers(cx)?;
        if let Poll::Ready(Err(error)) = self.poll_write_out(cx) {
            return Poll::Ready(Err(self.transport_failed(error)));
        }
        if ready!(self.poll_read(cx))? == 0 {
            self.conn.receive_eof();
        }
        Poll::Ready(Ok(()))
    }

    /// Reads into the core's buffer; `Ok(0)` at end of stream.
    ///
    /// With nothing buffered and small frames expected, the read goes to the
    /// stack and only what arrived is copied into the core: an idle
    /// connection holds no receive buffer at all, and a message keeps alive
    /// only the bytes of the read it came in. Large frames are read straight
    /// into the core's buffer, whose room is released if the read finds
    /// nothing.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Result<usize, Error>> {
        #[allow(unused_mut, reason = "raised by the low-water mark on Linux")]
        let mut hint = self.conn.read_hint();
        #[cfg(target_os = "linux")]
        if let Some(mark) = &self.low_water {
            // At least the mark and the next frame's header: what woke us is
            // taken in one read, which comes back short of its room (see
            // `Connection::read_hint`).
            hint = hint.max(mark.current() + wsx_proto::frame::FrameHeader::MAX_LEN);
        }
        let result = if hint <= STACK_READ && self.conn.receive_buffer().is_empty() {
            let mut stack = [MaybeUninit::<u8>::uninit(); STACK_READ];
            let mut read = ReadBuf::uninit(&mut stack);
            match Pin::new(&mut self.io).poll_read(cx, &mut read) {
                Poll::Ready(result) => result.map(|()| {
                    self.conn.receive(read.filled());
                    read.filled().len()
                }),
                Poll::Pending => return self.wait_for_input(),
            }
        } else {
            let buf = self.conn.receive_buffer();
            buf.reserve(hint);
            let read = tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, buf);
            if read.is_pending() && buf.is_empty() {
                // Nothing arrived: a quiet connection does not keep the room.
                *buf = bytes::BytesMut::new();
            }
            match read {
                Poll::Ready(result) => result,
                Poll::Pending => return self.wait_for_input(),
            }
        };
        match result {
            Ok(n) => {
                self.received += n as u64;
                Poll::Ready(Ok(n))
            }
            Err(source) => {
                let error = Error::Io { context: "reading from the transport", source };
                Poll::Ready(Err(self.transport_failed(error)))
            }
        }
    }

    /// The read found nothing: before the task waits, the low-water mark is
    /// set for the frame in progress (or back to 1 between frames).
    fn wait_for_input(&mut self) -> Poll<Result<usize, Error>> {
        #[cfg(target_os = "linux")]
        if let Some(mark) = self.low_water.as_mut()
            && !mark.before_wait(&self.io, self.conn.pending_frame_bytes())
        {
            self.low_water = None;
        }
        Poll::Pending
    }

    /// Hands the peer's violation to the application once everything
    /// queued before it has been written: the replies to the messages read
    /// before it, then the Close with the error's code (RFC 6455 §7.1.7)
    /// and the shutdown. An application that stops at the error (`m?`)
    /// must not lose them, and over HTTP/2 the write may have to wait for
    /// window. The close timeout bounds the wait; a write error ends it.
    #[inline(never)]
    fn poll_report_failure(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        let written = self.poll_write_out(cx).is_ready();
        let expired = !written && self.close_timer.as_mut().is_some_and(|timer| timer.as_mut().poll(cx).is_ready());
        match self.failed.take() {
            Some(error) if written || expired => Poll::Ready(Some(Err(Error::Protocol(*error)))),
            failed => {
                self.failed = failed;
                Poll::Pending
            }
        }
    }

    /// After the core closed: finish writing (Close frame, shutdown), then
    /// read and discard until the transport ends or the close deadline.
    #[inline(never)]
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        let flushed = match self.poll_write_out(cx) {
            Poll::Ready(Ok(())) => true,
            Poll::Ready(Err(_)) => return self.end(),
            Poll::Pending => false,
        };
        if let Some(timer) = self.close_timer.as_mut()
            && timer.as_mut().poll(cx).is_ready()
        {
            return self.end();
        }
        if flushed {
            let mut stack = [MaybeUninit::<u8>::uninit(); STACK_READ];
            loop {
                let mut discard = ReadBuf::uninit(&mut stack);
                match Pin::new(&mut self.io).poll_read(cx, &mut discard) {
                    Poll::Ready(Ok(())) if discard.filled().is_empty() => return self.finish_transport(cx),
                    Poll::Ready(Err(_)) => return self.finish_transport(cx),
                    Poll::Ready(Ok(())) => continue,
                    Poll::Pending => break,
                }
            }
        }
        Poll::Pending
    }

    /// The peer ended the transport: end ours too (the client's turn comes
    /// after the server's, §7.1.1), so the peer is not left waiting for it.
    fn finish_transport(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Message, Error>>> {
        if self.shutdown != Shutdown::Done {
            match Pin::new(&mut self.io).poll_shutdown(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(_) => self.shutdown = Shutdown::Done,
            }
        }
        self.end()
    }

    fn end(&mut self) -> Poll<Option<Result<Message, Error>>> {
        self.phase = Phase::Done;
        self.conn.receive_buffer().clear();
        self.close_timer = None;
        Poll::Ready(None)
    }

    fn transport_failed(&mut self, error: Error) -> Error {
        self.conn.abort();
        // Nothing more is sent: a flush must not wait for a transport that
        // failed or a peer that timed out.
        self.out.clear();
        self.out_bytes = 0;
        if let State::Closed(outcome) = self.conn.state() {
            self.outcome = Some(outcome.clone());
        }
        self.phase = Phase::Done;
        error
    }

    fn on_message_received(&mut self, message: &Message) {
        if self.idle_timer.is_some() {
            self.last_activity = Instant::now();
        }
        if let (Message::Pong(payload), Some(keepalive)) = (message, self.keepalive.as_mut())
            && keepalive.awaiting.as_ref().is_some_and(|(expected, _)| payload.as_ref() == expected)
        {
            keepalive.awaiting = None;
        }
    }

    fn arm_close_timer(&mut self, only_if_unarmed: bool) {
        if only_if_unarmed && self.close_timer.is_some() {
            return;
        }
        self.close_timer = Some(Box::pin(tokio::time::sleep(self.settings.close_timeout)));
        self.timers_waker = None;
    }

    /// Keepalive pings, their timeout, the idle timeout and the close
    /// timeout; each registers `cx` so the task wakes when it is due.
    fn poll_timers(&mut self, cx: &mut Context<'_>) -> Result<(), Error> {
        if self.timers_quiet(cx.waker()) {
            return Ok(());
        }
        if let Some(keepalive) = self.keepalive.as_mut() {
            while keepalive.next_ping.as_mut().poll(cx).is_ready() {
                keepalive.next_ping.as_mut().reset(Instant::now() + keepalive.interval);
                if self.conn.is_open() && keepalive.awaiting.is_none() {
                    keepalive.counter += 1;
                    let payload = keepalive.counter.to_be_bytes();
                    if self.conn.send_ping(Bytes::copy_from_slice(&payload)).is_ok() {
                        let deadline = Box::pin(tokio::time::sleep(keepalive.timeout));
                        keepalive.awaiting = Some((payload, deadline));
                    }
                }
            }
            if let Some((_, deadline)) = keepalive.awaiting.as_mut()
                && deadline.as_mut().poll(cx).is_ready()
            {
                let after = keepalive.timeout;
                self.transport_failed(Error::Timeout { kind: TimeoutKind::Keepalive, after });
                return Err(Error::Timeout { kind: TimeoutKind::Keepalive, after });
            }
        }
        if let (Some(timer), Some(idle)) = (self.idle_timer.as_mut(), self.settings.idle_timeout) {
            while timer.as_mut().poll(cx).is_ready() {
                let deadline = self.last_activity + idle;
                if deadline > timer.deadline() {
                    // Messages arrived since it was set: not idle yet.
                    timer.as_mut().reset(deadline);
                    continue;
                }
                self.idle_timer = None;
                if self.conn.is_open() {
                    tracing::debug!("idle timeout; closing with 1001");
                    let _ = self.conn.close_with(CloseCode::GOING_AWAY, "idle timeout");
                }
                break;
            }
        }
        self.poll_compression_release(cx);
        if let Some(signal) = self.going_away.as_mut()
            && signal.as_mut().poll(cx).is_ready()
        {
            self.going_away = None;
            if self.conn.is_open() {
                // RFC 6455 §7.4.1: 1001 "indicates that an endpoint is
                // "going away", such as a server going down".
                tracing::debug!("server shutting down; closing with 1001");
                let _ = self.conn.close_with(CloseCode::GOING_AWAY, "server shutting down");
            }
        }
        // Last, so that a close the idle timeout or a shutdown started just
        // above arms its timer now: no other wake-up may ever come.
        if self.conn.close_expected() {
            self.arm_close_timer(true);
            if let Some(timer) = self.close_timer.as_mut()
                && timer.as_mut().poll(cx).is_ready()
            {
                let after = self.settings.close_timeout;
                self.transport_failed(Error::Timeout { kind: TimeoutKind::Close, after });
                return Err(Error::Timeout { kind: TimeoutKind::Close, after });
            }
        }
        // Every timer there is was polled with this waker just now, unless
        // the task's budget ran out: a timer polled without budget is not
        // registered with the driver (it would never wake the task) and
        // must be polled again.
        self.timers_waker = tokio::task::coop::has_budget_remaining().then(|| cx.waker().clone());
        Ok(())
    }

    /// Frees permessage-deflate's state after a whole period without a
    /// compressed message; arms the period at the first one after that.
    fn poll_compression_release(&mut self, cx: &mut Context<'_>) {
        let Some(release) = self.compression_release.as_mut() else { return };
        let compressed = self.conn.compressed_messages();
        if !release.armed {
            if compressed == release.seen {
                return;
            }
            release.armed = true;
            release.seen = compressed;
            release.timer.as_mut().reset(Instant::now() + release.period);
        }
        while release.timer.as_mut().poll(cx).is_ready() {
            let compressed = self.conn.compressed_messages();
            if compressed == release.seen {
                if self.conn.release_compression() {
                    tracing::trace!("quiet connection: compression state released");
                }
                release.armed = false;
                return;
            }
            release.seen = compressed;
            release.timer.as_mut().reset(Instant::now() + release.period);
        }
    }

    /// Whether polling the timers would change nothing: they were all
    /// polled with this waker, none was armed or moved since, none fired,
    /// the shutdown signal has not come, and a close under way has its
    /// timer.
    fn timers_quiet(&self, waker: &Waker) -> bool {
        let Some(polled_with) = &self.timers_waker else { return false };
        polled_with.will_wake(waker)
            && self.keepalive.as_ref().is_none_or(|keepalive| {
                !keepalive.next_ping.is_elapsed()
                    && keepalive.awaiting.as_ref().is_none_or(|(_, deadline)| !deadline.is_elapsed())
            })
            && self.idle_timer.as_ref().is_none_or(|timer| !timer.is_elapsed())
            && self.compression_release.as_ref().is_none_or(|release| release.quiet(self.conn.compressed_messages()))
            && (self.going_away.is_none()
                || self.settings.shutdown.as_ref().is_none_or(|signal| !signal.is_triggered()))
            && (!self.conn.close_expected() || self.close_timer.as_ref().is_some_and(|timer| !timer.is_elapsed()))
    }
}

/// The timer that frees permessage-deflate's state once no compressed
/// message has passed for a whole period. Armed by the first compressed
/// message after a release (or after the connection opens), so a quiet
/// connection holds no running timer.
struct CompressionRelease {
    period: std::time::Duration,
    timer: Pin<Box<Sleep>>,
    armed: bool,
    /// `Connection::compressed_messages` when the period began.
    seen: u64,
}

impl CompressionRelease {
    /// Whether polling would change nothing: the timer has not fired, or it
    /// is disarmed and no compressed message has passed since.
    fn quiet(&self, compressed: u64) -> bool {
        if self.armed { !self.timer.is_elapsed() } else { compressed == self.seen }
    }
}

/// One vectored write of the first `N` (at most) queued buffers. `N` is
/// chosen by the caller from the queue's length, so the array of slices
/// built (and zeroed) for each write is no larger than the write needs.
fn poll_write_out_vectored<S: AsyncWrite + Unpin, const N: usize>(
    io: &mut S,
    cx: &mut Context<'_>,
    out: &VecDeque<Bytes>,
) -> Poll<Result<usize, Error>> {
    let mut slices = [IoSlice::new(&[]); N];
    let mut count = 0;
    for (slot, chunk) in slices.iter_mut().zip(out.iter()) {
        *slot = IoSlice::new(chunk);
        count += 1;
    }
    Pin::new(io).poll_write_vectored(cx, &slices[..count]).map_err(Error::io("writing to the transport"))
}

/// A write that took nothing from a non-empty buffer: the transport can
/// take no more, ever (`poll_write` returns 0 only then).
fn nonzero_write(written: usize) -> Result<usize, Error> {
    if written == 0 {
        return Err(Error::Io { context: "writing to the transport", source: std::io::ErrorKind::WriteZero.into() });
    }
    Ok(written)
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocket<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocket<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_send_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, message: Message) -> Result<(), Error> {
        self.get_mut().start_send_message(message)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.get_mut().poll_write_out(cx)
    }

    /// Sends a Close frame (1000) if none was sent, and flushes. It does not
    /// wait for the peer's Close: keep reading the stream for that.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let this = self.get_mut();
        this.start_close(Some(CloseFrame { code: CloseCode::NORMAL, reason: Default::default() }))?;
        this.poll_write_out(cx)
    }
}
