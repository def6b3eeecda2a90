//! One connection's load. Closed loop: K messages in flight, each echo
//! releases the next send, latency measured from the send. Open loop
//! (`--rate`): sends on a fixed timetable from a task of their own, latency
//! measured from the *scheduled* send time, so a server that stalls is
//! charged for every message it delayed (no coordinated omission). Every
//! wait has a deadline: an echo that does not come within `--timeout` of
//! its send counts as a timeout and ends the connection.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Sink as _;
use futures_util::stream::Stream as _;
use tokio::sync::oneshot;
use tokio::time::{Instant, Sleep, sleep_until};
use wsx::{CloseCode, Message, PreparedMessage};

use super::stats::{ConnStats, Progress, Tally, error_kind};

pub(super) type Ws = wsx::WebSocket<wsx::Transport>;

/// Every this many echoes, one is compared byte for byte with what was sent
/// (every echo's type and length always are).
const VERIFY_EVERY: u64 = 16;

/// What every connection sends and when; fixed once the connections are open.
#[derive(Debug)]
pub(super) struct Plan {
    pub(super) payload: Bytes,
    pub(super) text: bool,
    pub(super) in_flight: usize,
    /// Open loop: messages per second, over all connections.
    pub(super) rate: Option<f64>,
    pub(super) connections: u64,
    pub(super) start: Instant,
    /// The end of the warm-up: messages sent (or scheduled) from here on
    /// are measured.
    pub(super) measure_from: Instant,
    pub(super) end: End,
    pub(super) timeout: Duration,
}

/// A timestamp: nanoseconds since the plan's start. The loops stamp
/// messages with these rather than with `Instant`s: a round trip is then
/// one subtraction, and a message in flight takes 8 bytes of its window.
type Ticks = u64;

/// When the sending stops.
#[derive(Debug, Clone, Copy)]
pub(super) enum End {
    /// No message is sent at or after this instant.
    At(Instant),
    /// This many measured messages, over all connections.
    Messages(u64),
}

impl Plan {
    fn ticks(&self, at: Instant) -> Ticks {
        at.saturating_duration_since(self.start).as_nanos() as Ticks
    }

    fn instant(&self, ticks: Ticks) -> Instant {
        self.start + Duration::from_nanos(ticks)
    }

    /// Connection `index`'s share of `End::Messages`.
    fn quota(&self, index: u64) -> Option<u64> {
        match self.end {
            End::At(_) => None,
            End::Messages(total) => Some(total / self.connections + u64::from(index < total % self.connections)),
        }
    }

    /// A message with this connection's own copy of the payload: clones of
    /// it then touch a reference count no other connection shares.
    fn message_for_connection(&self) -> Message {
        let payload = Bytes::copy_from_slice(&self.payload);
        match (self.text, std::str::from_utf8(&payload)) {
            (true, Ok(text)) => Message::text(text),
            _ => Message::Binary(payload),
        }
    }

    /// The message encoded once: sending it skips building and dropping a
    /// `Message` per send (a client still masks each copy with a fresh key).
    fn prepared_for_connection(&self) -> PreparedMessage {
        match (self.text, std::str::from_utf8(&self.payload)) {
            (true, Ok(text)) => PreparedMessage::text(text),
            _ => PreparedMessage::binary(&self.payload),
        }
    }
}

/// A connection's counters and checks.
struct Run {
    plan: Arc<Plan>,
    stats: ConnStats,
    tally: Tally,
    /// Closed loop with `-n`: measured messages this connection may still send.
    quota: Option<u64>,
    echoes: u64,
    /// `plan.measure_from` and `End::At`'s instant, as ticks.
    measure_from: Ticks,
    end: Option<Ticks>,
    /// When the last measured echo arrived.
    last_echo: Option<Ticks>,
}

impl Run {
    fn new(plan: Arc<Plan>, index: u64, progress: Arc<Progress>) -> Self {
        let quota = plan.quota(index);
        let measure_from = plan.ticks(plan.measure_from);
        let end = match plan.end {
            End::At(end) => Some(plan.ticks(end)),
            End::Messages(_) => None,
        };
        let tally = Tally::new(progress, plan.ticks(Instant::now()));
        Self { plan, stats: ConnStats::new(), tally, quota, echoes: 0, measure_from, end, last_echo: None }
    }

    /// Whether a message may be sent at `at` (closed loop), counting it.
    #[inline]
    fn claim(&mut self, at: Ticks) -> bool {
        if at < self.measure_from {
            return true;
        }
        let allowed = match (self.end, &mut self.quota) {
            (Some(end), _) => at < end,
            (None, Some(left)) if *left > 0 => {
                *left -= 1;
                true
            }
            (None, _) => false,
        };
        self.stats.sent += u64::from(allowed);
        allowed
    }

    /// An echo of the message sent (or scheduled) at `sent_at`.
    #[inline]
    fn echo(&mut self, sent_at: Ticks, now: Ticks, message: &Message) {
        self.tally.echo(now);
        if !self.verify(message) {
            return;
        }
        if sent_at >= self.measure_from {
            self.stats.record(Duration::from_nanos(now.saturating_sub(sent_at)));
            self.last_echo = Some(now);
        } else {
            self.stats.warmup_echoed += 1;
        }
    }

    /// The connection's figures, once it is done.
    fn into_stats(self) -> ConnStats {
        let mut stats = self.stats;
        stats.last_echo = self.last_echo.map(|ticks| self.plan.instant(ticks));
        stats
    }

    /// Type and length always, content every `VERIFY_EVERY` echoes.
    #[inline]
    fn verify(&mut self, message: &Message) -> bool {
        let bytes: &[u8] = match (message, self.plan.text) {
            (Message::Text(text), true) => text.as_bytes(),
            (Message::Binary(data), false) => data,
            _ => {
                self.error("echo mismatch: message type", 1);
                return false;
            }
        };
        if bytes.len() != self.plan.payload.len() {
            self.error("echo mismatch: length", 1);
            return false;
        }
        self.echoes += 1;
        if self.echoes.is_multiple_of(VERIFY_EVERY) {
            if bytes != self.plan.payload {
                self.error("echo mismatch: content", 1);
                return false;
            }
            self.stats.verified += 1;
        }
        true
    }

    fn error(&mut self, kind: impl Into<String>, count: u64) {
        self.stats.errors.add(kind, count);
        self.tally.errors(count);
    }

    /// The server closed or failed the connection before we were done.
    fn ended_early(&mut self, message: Option<Result<Message, wsx::Error>>) {
        match message {
            Some(Ok(Message::Close(Some(frame)))) => self.error(format!("closed by the server: {}", frame.code), 1),
            Some(Ok(Message::Close(None))) => self.error("closed by the server: no status code", 1),
            Some(Err(error)) => self.error(error_kind("run", &error), 1),
            Some(Ok(_)) => self.error("unexpected message", 1),
            None => self.error("run: connection closed by the server", 1),
        }
    }
}

/// A connection's deadline timer. It is moved only when it fires early, so
/// a deadline that moves forward at every message costs no timer update
/// per message, and it is polled only when that can change something.
struct Timer {
    sleep: Pin<Box<Sleep>>,
    /// The waker the armed timer was last polled with: while the task
    /// polls with the same one and the timer has not fired, it stays
    /// registered and polling it again changes nothing.
    polled_with: Option<Waker>,
}

impl Timer {
    fn new() -> Self {
        Self { sleep: Box::pin(sleep_until(Instant::now())), polled_with: None }
    }

    /// Whether `deadline` has passed; if not, `cx` is woken when it may have.
    fn poll_expired(&mut self, cx: &mut Context<'_>, deadline: Instant) -> bool {
        if self.sleep.deadline() > deadline {
            self.sleep.as_mut().reset(deadline);
            self.polled_with = None;
        }
        if let Some(waker) = &self.polled_with
            && waker.will_wake(cx.waker())
            && !self.sleep.is_elapsed()
        {
            return false;
        }
        while self.sleep.as_mut().poll(cx).is_ready() {
            if self.sleep.deadline() >= deadline {
                self.polled_with = None;
                return true;
            }
            self.sleep.as_mut().reset(deadline);
        }
        // A timer polled after the task's budget ran out is not registered
        // (it would never wake the task): poll it again next time.
        self.polled_with = tokio::task::coop::has_budget_remaining().then(|| cx.waker().clone());
        false
    }
}

/// Polls `future` unless `deadline` passes first (`None`).
async fn until<F: Future>(future: F, timer: &mut Timer, deadline: Instant) -> Option<F::Output> {
    let mut future = pin!(future);
    poll_fn(move |cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        if timer.poll_expired(cx, deadline) { Poll::Ready(None) } else { Poll::Pending }
    })
    .await
}

/// Closed loop: `in_flight` messages outstanding, each echo releases the
/// next send; ends with the closing handshake.
pub(super) async fn closed_loop(mut ws: Ws, plan: Arc<Plan>, index: u64, progress: Arc<Progress>) -> ConnStats {
    let mut run = Run::new(plan.clone(), index, progress);
    let message = plan.prepared_for_connection();
    let mut timer = Timer::new();
    let mut in_flight: VecDeque<Ticks> = VecDeque::with_capacity(plan.in_flight);
    let started = Instant::now();
    let now = plan.ticks(started);
    while in_flight.len() < plan.in_flight && run.claim(now) {
        in_flight.push_back(now);
        match until(ws.feed_prepared(&message), &mut timer, started + plan.timeout).await {
            Some(Ok(())) => {}
            Some(Err(error)) => return failed(run, &error),
            None => return timed_out(run, in_flight.len()),
        }
    }
    match until(ws.flush(), &mut timer, started + plan.timeout).await {
        Some(Ok(())) => {}
        Some(Err(error)) => return failed(run, &error),
        None => return timed_out(run, in_flight.len()),
    }
    let clock = Clock { now, received: ws.received_bytes() };
    let mut window = Window { in_flight, unsent: 0, clock };
    match poll_fn(|cx| window.poll_echoes(cx, &mut ws, &mut run, &message, &mut timer)).await {
        Ended::AllEchoed => close(&mut ws, &mut run).await,
        Ended::Failed(error) => return failed(run, &error),
        Ended::TimedOut => return timed_out(run, window.in_flight.len()),
        Ended::Early(other) => run.ended_early(other),
    }
    run.into_stats()
}

/// How the closed loop's echoes ended.
enum Ended {
    /// Every message sent was echoed and no more may be sent.
    AllEchoed,
    Failed(wsx::Error),
    /// The oldest message outstanding was not echoed in time.
    TimedOut,
    /// The server closed or failed the connection first.
    Early(Option<Result<Message, wsx::Error>>),
}

/// The closed loop's messages in flight.
struct Window {
    /// When each message not yet echoed was sent (or claimed), oldest first.
    in_flight: VecDeque<Ticks>,
    /// Of those, how many are claimed but not queued yet (the write buffer
    /// was above its high-water mark).
    unsent: usize,
    clock: Clock,
}

/// The closed loop's clock, read once per read from the socket rather than
/// once per echo: `now` was read after the first `received` bytes had come
/// in, and is read again as soon as more have.
///
/// The latencies stay honest. An echo handed over while `received` has not
/// moved came in with bytes that were all there when the clock was read,
/// so `now` is no earlier than its arrival: its round trip is measured to
/// when it reached us, not to when we got to it after the echoes before it
/// in the same read (our time, not the server's). The messages that
/// replace those echoes are stamped with that same `now`, no later than
/// they are actually written (with the next receive that finds nothing
/// buffered), so no round trip is understated; at worst one is overstated
/// by the time it takes us to go through one read's echoes, microseconds
/// against round trips of tens of microseconds and more. The end of a
/// timed run and the progress counters see the same clock.
struct Clock {
    now: Ticks,
    /// `received_bytes` when `now` was read.
    received: u64,
}

impl Window {
    /// Takes echoes as they come, replacing each with a new message,
    /// without a future per message: the echoes of one read are handed over
    /// one after another, the messages that replace them queued as they
    /// are, and all of them written in one write by the receive that finds
    /// nothing more buffered, before it reads. The deadline (the oldest
    /// message's) is polled only when there is nothing to do.
    fn poll_echoes(
        &mut self,
        cx: &mut Context<'_>,
        ws: &mut Ws,
        run: &mut Run,
        message: &PreparedMessage,
        timer: &mut Timer,
    ) -> Poll<Ended> {
        loop {
            while self.unsent > 0 {
                match Pin::new(&mut *ws).poll_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(error)) => return Poll::Ready(Ended::Failed(error)),
                    Poll::Pending => break,
                }
                if let Err(error) = ws.start_send_prepared(message) {
                    return Poll::Ready(Ended::Failed(error));
                }
                self.unsent -= 1;
            }
            let Some(&oldest) = self.in_flight.front() else {
                return Poll::Ready(Ended::AllEchoed);
            };
            match Pin::new(&mut *ws).poll_next(cx) {
                Poll::Ready(Some(Ok(echo @ (Message::Text(_) | Message::Binary(_))))) => {
                    let received = ws.received_bytes();
                    if received != self.clock.received {
                        self.clock = Clock { now: run.plan.ticks(Instant::now()), received };
                    }
                    let now = self.clock.now;
                    self.in_flight.pop_front();
                    run.echo(oldest, now, &echo);
                    if run.claim(now) {
                        self.in_flight.push_back(now);
                        self.unsent += 1;
                    }
                }
                Poll::Ready(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                Poll::Ready(other) => return Poll::Ready(Ended::Early(other)),
                Poll::Pending => {
                    let deadline = run.plan.instant(oldest) + run.plan.timeout;
                    return if timer.poll_expired(cx, deadline) { Poll::Ready(Ended::TimedOut) } else { Poll::Pending };
                }
            }
        }
    }
}

/// The echoes still awaited count as timeouts; the connection is dropped
/// without a closing handshake (the server is not answering).
fn timed_out(mut run: Run, outstanding: usize) -> ConnStats {
    run.error("timeout (no echo)", outstanding.max(1) as u64);
    run.into_stats()
}

fn failed(mut run: Run, error: &wsx::Error) -> ConnStats {
    run.error(error_kind("run", error), 1);
    run.into_stats()
}

/// The closing handshake (RFC 6455 §7.1.2), within the timeout.
async fn close(ws: &mut Ws, run: &mut Run) {
    match tokio::time::timeout(run.plan.timeout, ws.close(CloseCode::NORMAL, "")).await {
        Ok(Ok(outcome)) if outcome.received.is_some() => run.stats.clean_closes += 1,
        Ok(Ok(_)) => run.error("close: no Close frame from the server", 1),
        Ok(Err(error)) => run.error(error_kind("close", &error), 1),
        Err(_) => run.error("close: timeout", 1),
    }
}

/// One open-loop connection's timetable: message `k` is due at
/// `first + k × interval`.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    first: Instant,
    interval_ns: f64,
    measure_from: Instant,
    last: Last,
}

#[derive(Debug, Clone, Copy)]
enum Last {
    /// Messages due before this instant are sent.
    Before(Instant),
    /// The first this many messages are sent.
    Count(u64),
}

impl Schedule {
    /// Connection `index`'s timetable: `connections / rate` apart, the
    /// connections staggered evenly over one interval.
    fn new(plan: &Plan, rate: f64, index: u64) -> Self {
        let interval_ns = plan.connections as f64 / rate * 1e9;
        let first = plan.start + Duration::from_nanos((interval_ns * index as f64 / plan.connections as f64) as u64);
        let mut schedule = Self { first, interval_ns, measure_from: plan.measure_from, last: Last::Count(0) };
        schedule.last = match (plan.end, plan.quota(index)) {
            (End::At(end), _) => Last::Before(end),
            (End::Messages(_), quota) => Last::Count(schedule.warmup_messages() + quota.unwrap_or(0)),
        };
        schedule
    }

    #[inline]
    fn at(&self, k: u64) -> Instant {
        self.first + Duration::from_nanos((self.interval_ns * k as f64) as u64)
    }

    fn exhausted(&self, k: u64) -> bool {
        match self.last {
            Last::Before(end) => self.at(k) >= end,
            Last::Count(count) => k >= count,
        }
    }

    /// How many messages are due before the end of the warm-up.
    fn warmup_messages(&self) -> u64 {
        let warmup = self.measure_from.saturating_duration_since(self.first).as_nanos() as f64;
        (warmup / self.interval_ns).ceil() as u64
    }
}

/// The sender's count of messages written to the connection; this bit is
/// set with the final count, before its last write.
const DONE: u64 = 1 << 63;

/// What the receiving side tells the sending side when it is done.
#[derive(Debug)]
enum Stop {
    /// Every echo came: send our Close frame.
    Close,
    /// The connection failed or timed out: just stop.
    Abandon,
}

/// Open loop: a sending task on the timetable, the echoes read here.
pub(super) async fn open_loop(ws: Ws, plan: Arc<Plan>, rate: f64, index: u64, progress: Arc<Progress>) -> ConnStats {
    let schedule = Schedule::new(&plan, rate, index);
    let mut run = Run::new(plan.clone(), index, progress);
    let (mut reader, writer) = ws.split();
    let sent = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = oneshot::channel();
    let message = plan.message_for_connection();
    let sender = tokio::spawn(send_on_schedule(writer, message, schedule, sent.clone(), stop_rx, plan.timeout));
    let finished = receive_on_schedule(&mut reader, &schedule, &sent, &mut run).await;
    let _ = stop_tx.send(if finished { Stop::Close } else { Stop::Abandon });
    let count = sent.load(Ordering::Acquire) & !DONE;
    run.stats.sent = count.saturating_sub(schedule.warmup_messages());
    match sender.await {
        Ok(Ok(())) => {}
        // A failed write shows on the reading side too: counted once, there.
        Ok(Err(error)) if finished => run.error(error_kind("run", &error), 1),
        Ok(Err(_)) => {}
        Err(_) => run.error("internal: the sending task failed", 1),
    }
    if finished {
        read_to_end(&mut reader, &mut run).await;
    }
    run.into_stats()
}

/// tokio's timer runs on a millisecond grid and fires up to a millisecond
/// after its deadline; a sender waiting for its next message's due time
/// sleeps until this long before it and yields for the rest, so messages
/// leave within microseconds of their schedule instead of up to a
/// millisecond late (which the latency figures, measured from the
/// schedule, would charge to the server). The price: the generator's
/// threads spin while a message is this close to due.
const TIMER_SLACK: Duration = Duration::from_micros(1_500);

/// Sends each message when it is due (all those due at once, in one write,
/// when behind), then waits for `stop` and closes if asked to.
async fn send_on_schedule(
    mut writer: wsx::WriteHalf<wsx::Transport>,
    message: Message,
    schedule: Schedule,
    sent: Arc<AtomicU64>,
    mut stop: oneshot::Receiver<Stop>,
    timeout: Duration,
) -> Result<(), wsx::Error> {
    let mut next = 0u64;
    let mut timer = pin!(sleep_until(schedule.at(0)));
    while !schedule.exhausted(next) {
        let due = schedule.at(next);
        if let Some(wake) = due.checked_sub(TIMER_SLACK).filter(|wake| *wake > Instant::now()) {
            timer.as_mut().reset(wake);
            tokio::select! {
                biased;
                _ = &mut stop => return Ok(()),
                () = &mut timer => {}
            }
        }
        // The last stretch: yield to the runtime (the echoes are read
        // meanwhile) until the clock reaches the due time.
        while Instant::now() < due {
            tokio::task::yield_now().await;
        }
        let now = Instant::now();
        while !schedule.exhausted(next) && schedule.at(next) <= now {
            tokio::select! {
                biased;
                _ = &mut stop => return Ok(()),
                result = writer.feed(message.clone()) => result?,
            }
            next += 1;
        }
        // Published before the write: an echo can never be seen before the
        // count that includes its message.
        let done = if schedule.exhausted(next) { DONE } else { 0 };
        sent.store(next | done, Ordering::Release);
        tokio::select! {
            biased;
            _ = &mut stop => return Ok(()),
            result = writer.flush() => result?,
        }
    }
    if let Ok(Stop::Close) = stop.await {
        match tokio::time::timeout(timeout, writer.close(CloseCode::NORMAL, "")).await {
            Ok(result) => result?,
            Err(_) => return Err(wsx::Error::Timeout { kind: wsx::TimeoutKind::Close, after: timeout }),
        }
    }
    Ok(())
}

/// Reads echoes until the sender is done and every message is answered
/// (`true`), or the connection fails or times out (`false`).
async fn receive_on_schedule(
    reader: &mut wsx::ReadHalf<wsx::Transport>,
    schedule: &Schedule,
    sent: &AtomicU64,
    run: &mut Run,
) -> bool {
    let timeout = run.plan.timeout;
    let mut timer = Timer::new();
    let mut received = 0u64;
    loop {
        let state = sent.load(Ordering::Acquire);
        if state & DONE != 0 && received >= state & !DONE {
            return true;
        }
        let Some(next) = until(reader.recv(), &mut timer, schedule.at(received) + timeout).await else {
            let count = sent.load(Ordering::Acquire) & !DONE;
            if count > received {
                run.error("timeout (no echo)", count - received);
            } else {
                run.error("timeout: sending fell behind the timetable (server not reading)", 1);
            }
            return false;
        };
        match next {
            Some(Ok(echo @ (Message::Text(_) | Message::Binary(_)))) => {
                if received >= sent.load(Ordering::Acquire) & !DONE {
                    run.error("unexpected message (more echoes than messages)", 1);
                    return false;
                }
                let plan = &run.plan;
                let (scheduled, now) = (plan.ticks(schedule.at(received)), plan.ticks(Instant::now()));
                run.echo(scheduled, now, &echo);
                received += 1;
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => {
                run.ended_early(other);
                return false;
            }
        }
    }
}

/// After our Close frame: the server's Close and the end of the stream.
async fn read_to_end(reader: &mut wsx::ReadHalf<wsx::Transport>, run: &mut Run) {
    let deadline = Instant::now() + run.plan.timeout;
    let mut close_received = false;
    loop {
        match tokio::time::timeout_at(deadline, reader.recv()).await {
            Ok(Some(Ok(Message::Close(_)))) => close_received = true,
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(error))) => return run.error(error_kind("close", &error), 1),
            Ok(None) if close_received => return run.stats.clean_closes += 1,
            Ok(None) => return run.error("close: no Close frame from the server", 1),
            Err(_) => return run.error("close: timeout", 1),
        }
    }
}
