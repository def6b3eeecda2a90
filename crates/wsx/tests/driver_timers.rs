//! Integration tests of the tokio driver's timers (handshake deadline,
//! keepalive, idle and close timeouts, all with paused time), its
//! backpressure and the cancel safety of `recv`.

#![allow(clippy::unwrap_used)]
#![allow(clippy::result_large_err, reason = "accept_with callbacks refuse with a whole HTTP response")]

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
use tokio::time::advance;
use wsx::proto::{Negotiated, Role};
use wsx::{ClientBuilder, CloseCode, CloseFrame, Config, Error, Keepalive, Message, TimeoutKind, WebSocket};

// ----- helpers (as in driver.rs) ---------------------------------------------

mod raw;

use raw::{assert_nothing_now, client_frame, close_message, close_payload, now, read_server_frame, server_frame_now};

const MS: Duration = Duration::from_millis(1);

fn server(config: Config, capacity: usize) -> (WebSocket<DuplexStream>, DuplexStream) {
    let (ours, raw) = duplex(capacity);
    (WebSocket::from_upgraded(ours, Negotiated::new(Role::Server), config, &[]).unwrap(), raw)
}

fn no_keepalive() -> Config {
    Config::default().keepalive(None)
}

fn assert_timeout<T: std::fmt::Debug>(result: Result<T, Error>, kind: TimeoutKind, after: Duration) {
    match result {
        Err(Error::Timeout { kind: k, after: a }) => assert_eq!((k, a), (kind, after)),
        other => panic!("expected a {kind:?} timeout after {after:?}, got {other:?}"),
    }
}

// ----- handshake deadline ------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn server_handshake_deadline_fires_exactly_on_time() {
    for sent in [&b""[..], b"G"] {
        let (mut raw, s) = duplex(1024);
        raw.write_all(sent).await.unwrap();
        let config = Config::default().handshake_timeout(Duration::from_secs(3));
        let mut accept = pin!(wsx::accept_with(s, config, |_, _| Ok(wsx::Accept::default())));
        assert!(now(&mut accept).is_none());
        advance(Duration::from_secs(3) - MS).await;
        assert!(now(&mut accept).is_none(), "not before the deadline");
        advance(MS).await;
        let result = now(&mut accept).expect("the deadline has passed");
        assert_timeout(result, TimeoutKind::Handshake, Duration::from_secs(3));
    }
}

#[tokio::test(start_paused = true)]
async fn client_handshake_deadline_fires_exactly_on_time() {
    let (c, mut raw) = duplex(4096);
    let config = Config::default().handshake_timeout(Duration::from_secs(4));
    let mut connect = pin!(ClientBuilder::new("ws://example.com/").config(config).connect_on(c));
    assert!(now(&mut connect).is_none());
    // The server reads the request and answers only one byte.
    let mut request = [0u8; 64];
    assert!(raw.read(&mut request).await.unwrap() > 0);
    raw.write_all(b"H").await.unwrap();
    advance(Duration::from_secs(4) - MS).await;
    assert!(now(&mut connect).is_none(), "not before the deadline");
    advance(MS).await;
    let result = now(&mut connect).expect("the deadline has passed");
    assert_timeout(result.map(|_| ()), TimeoutKind::Handshake, Duration::from_secs(4));
}

// ----- keepalive and idle timeout ----------------------------------------------

fn keepalive(interval: u64, timeout: u64) -> Config {
    Config::default().keepalive(Some(
        Keepalive::default().interval(Duration::from_secs(interval)).timeout(Duration::from_secs(timeout)),
    ))
}

#[tokio::test(start_paused = true)]
async fn keepalive_ping_goes_out_while_recv_waits_and_a_pong_keeps_the_connection() {
    let (mut ws, mut raw) = server(keepalive(5, 3), 4096);
    {
        let mut recv = pin!(ws.recv());
        assert!(now(&mut recv).is_none());
        advance(Duration::from_secs(5) - MS).await;
        assert!(now(&mut recv).is_none());
        assert_nothing_now(&mut raw);
        advance(MS).await;
        assert!(now(&mut recv).is_none());
        // Written by the poll that saw the timer, not one interval later.
        let (first, payload) = server_frame_now(&mut raw);
        assert_eq!((first, payload.as_slice()), (0x89, &1u64.to_be_bytes()[..]));
        raw.write_all(&client_frame(0x8a, &payload)).await.unwrap();
        assert_eq!(now(&mut recv).unwrap().unwrap().unwrap(), Message::Pong(Bytes::from(payload)));
    }
    let mut recv = pin!(ws.recv());
    assert!(now(&mut recv).is_none());
    advance(Duration::from_secs(5) - MS).await;
    assert!(now(&mut recv).is_none(), "the pong cancelled the keepalive deadline");
    assert_nothing_now(&mut raw);
    advance(MS).await;
    assert!(now(&mut recv).is_none());
    assert_eq!(server_frame_now(&mut raw), (0x89, 2u64.to_be_bytes().to_vec()));
}

/// A waker that records that it was woken, so one task's polls can all be
/// made with the same waker, as a runtime would.
#[derive(Default)]
struct WokenFlag(AtomicBool);

impl Wake for WokenFlag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl WokenFlag {
    fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}

/// Polls once with `waker`, after spending the task's cooperative budget
/// when `spent` (every tokio resource polled inside then answers Pending
/// without registering anything), else outside the budget.
fn poll_once<F: Future + Unpin>(fut: &mut F, waker: &Waker, spent: bool) -> Poll<F::Output> {
    let mut cx = Context::from_waker(waker);
    if !spent {
        return pin!(tokio::task::unconstrained(fut)).poll(&mut cx);
    }
    for _ in 0..10_000 {
        if pin!(tokio::task::coop::consume_budget()).poll(&mut cx).is_pending() {
            break;
        }
    }
    assert!(!tokio::task::coop::has_budget_remaining(), "the budget is spent");
    Pin::new(fut).poll(&mut cx)
}

#[tokio::test(start_paused = true)]
async fn a_timer_first_polled_without_budget_still_wakes_the_task() {
    let (mut ws, mut raw) = server(keepalive(5, 3), 4096);
    let flag = Arc::new(WokenFlag::default());
    let waker = Waker::from(flag.clone());
    let mut recv = pin!(ws.recv());
    // The keepalive timer is first polled when the budget is spent: it is
    // not registered then, so the next poll (same waker) must poll it again.
    assert!(poll_once(&mut recv, &waker, true).is_pending());
    assert!(poll_once(&mut recv, &waker, false).is_pending());
    flag.take();
    advance(Duration::from_secs(5)).await;
    assert!(flag.take(), "the keepalive timer woke the task");
    assert!(poll_once(&mut recv, &waker, false).is_pending());
    assert_eq!(server_frame_now(&mut raw), (0x89, 1u64.to_be_bytes().to_vec()));
}

#[tokio::test(start_paused = true)]
async fn the_idle_timer_set_before_a_message_wakes_the_task_and_moves() {
    let config = no_keepalive().idle_timeout(Some(Duration::from_secs(7)));
    let (mut ws, mut raw) = server(config, 4096);
    let flag = Arc::new(WokenFlag::default());
    let waker = Waker::from(flag.clone());
    {
        let mut recv = pin!(ws.recv());
        for _ in 0..3 {
            assert!(poll_once(&mut recv, &waker, false).is_pending());
        }
        advance(Duration::from_secs(4)).await;
        raw.write_all(&client_frame(0x81, b"still here")).await.unwrap();
        assert!(flag.take(), "the message woke the task");
        let message = poll_once(&mut recv, &waker, false).map(|m| m.unwrap().unwrap());
        assert_eq!(message, Poll::Ready(Message::text("still here")));
    }
    // The timer still says t = 7 s; the deadline is now t = 11 s.
    let mut recv = pin!(ws.recv());
    assert!(poll_once(&mut recv, &waker, false).is_pending());
    advance(Duration::from_secs(3)).await;
    assert!(flag.take(), "the timer set for t = 7 s woke the task");
    assert!(poll_once(&mut recv, &waker, false).is_pending());
    assert_nothing_now(&mut raw);
    advance(Duration::from_secs(4) - MS).await;
    assert!(!flag.take(), "nothing is due before t = 11 s");
    advance(MS).await;
    assert!(flag.take(), "the moved timer woke the task");
    assert!(poll_once(&mut recv, &waker, false).is_pending());
    assert_eq!(server_frame_now(&mut raw), (0x88, close_payload(1001, "idle timeout")));
}

#[tokio::test(start_paused = true)]
async fn keepalive_without_pong_times_out() {
    let (mut ws, mut raw) = server(keepalive(5, 3), 4096);
    let payload = {
        let mut recv = pin!(ws.recv());
        assert!(now(&mut recv).is_none());
        advance(Duration::from_secs(5)).await;
        assert!(now(&mut recv).is_none());
        let (first, payload) = server_frame_now(&mut raw);
        assert_eq!(first, 0x89);
        // A pong for another ping does not count.
        raw.write_all(&client_frame(0x8a, b"unrelated")).await.unwrap();
        assert_eq!(now(&mut recv).unwrap().unwrap().unwrap(), Message::Pong(Bytes::from_static(b"unrelated")));
        payload
    };
    {
        let mut recv = pin!(ws.recv());
        advance(Duration::from_secs(3) - MS).await;
        assert!(now(&mut recv).is_none(), "not before the deadline");
        advance(MS).await;
        assert_timeout(now(&mut recv).unwrap().unwrap(), TimeoutKind::Keepalive, Duration::from_secs(3));
    }
    assert!(ws.recv().await.is_none());
    assert_eq!(ws.close_outcome().unwrap().code(), CloseCode::ABNORMAL_CLOSURE);
    // A late pong changes nothing.
    raw.write_all(&client_frame(0x8a, &payload)).await.unwrap();
    assert!(ws.recv().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_starts_a_close_with_1001() {
    let config = no_keepalive().idle_timeout(Some(Duration::from_secs(7)));
    let (mut ws, mut raw) = server(config, 4096);
    {
        let mut recv = pin!(ws.recv());
        assert!(now(&mut recv).is_none());
        advance(Duration::from_secs(4)).await;
        raw.write_all(&client_frame(0x81, b"still here")).await.unwrap();
        assert_eq!(now(&mut recv).unwrap().unwrap().unwrap(), Message::text("still here"));
    }
    // The message restarted the timer: 7 s from t = 4 s.
    {
        let mut recv = pin!(ws.recv());
        assert!(now(&mut recv).is_none());
        advance(Duration::from_secs(7) - MS).await;
        assert!(now(&mut recv).is_none());
        assert_nothing_now(&mut raw);
        advance(MS).await;
        assert!(now(&mut recv).is_none());
        assert_eq!(server_frame_now(&mut raw), (0x88, close_payload(1001, "idle timeout")));
        raw.write_all(&client_frame(0x88, &close_payload(1001, ""))).await.unwrap();
        assert_eq!(now(&mut recv).unwrap().unwrap().unwrap(), close_message(1001, ""));
    }
    drop(raw);
    assert!(ws.recv().await.is_none());
    let outcome = ws.close_outcome().unwrap();
    assert!(outcome.is_clean());
    assert_eq!(outcome.sent, Some(Some(CloseFrame::new(CloseCode::GOING_AWAY, "idle timeout").unwrap())));
}

// ----- close timeout -------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn close_times_out_when_the_peer_never_answers() {
    let (mut ws, mut raw) = server(no_keepalive().close_timeout(Duration::from_secs(5)), 4096);
    {
        let mut close = pin!(ws.close(CloseCode::NORMAL, "bye"));
        assert!(now(&mut close).is_none());
        assert_eq!(server_frame_now(&mut raw), (0x88, close_payload(1000, "bye")));
        // The peer keeps sending data but never a Close: messages are discarded.
        raw.write_all(&client_frame(0x81, b"ignored")).await.unwrap();
        advance(Duration::from_secs(5) - MS).await;
        assert!(now(&mut close).is_none(), "not before the deadline");
        advance(MS).await;
        assert_timeout(now(&mut close).unwrap(), TimeoutKind::Close, Duration::from_secs(5));
    }
    let outcome = ws.close_outcome().unwrap();
    assert!(!outcome.is_clean());
    assert_eq!(outcome.sent, Some(Some(CloseFrame::new(CloseCode::NORMAL, "bye").unwrap())));
    assert_eq!(outcome.received, None);
    assert_eq!(outcome.code(), CloseCode::ABNORMAL_CLOSURE);
    assert!(ws.recv().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_streams_without_pause_still_meets_the_close_timeout() {
    let (mut ws, mut raw) = server(no_keepalive().close_timeout(Duration::from_secs(5)), 1 << 20);
    assert!(now(ws.close(CloseCode::NORMAL, "bye")).is_none(), "waits for the peer's Close");
    assert_eq!(server_frame_now(&mut raw), (0x88, close_payload(1000, "bye")));
    // A hundred messages arrive in one read: events are ready without
    // waiting, so the timers are only checked every few of them.
    let burst: Vec<u8> = (0..100).flat_map(|i| client_frame(0x81, format!("late {i:03}").as_bytes())).collect();
    raw.write_all(&burst).await.unwrap();
    assert_eq!(now(ws.recv()).unwrap().unwrap().unwrap(), Message::text("late 000"));
    advance(Duration::from_secs(5)).await;
    let mut delivered = 1;
    let error = loop {
        match now(ws.recv()).expect("buffered events are ready").expect("the stream has not ended") {
            Ok(_) => delivered += 1,
            Err(error) => break error,
        }
    };
    assert_timeout(Err::<(), _>(error), TimeoutKind::Close, Duration::from_secs(5));
    assert!(delivered < 40, "the deadline was noticed after {delivered} of 100 buffered messages");
}

#[tokio::test(start_paused = true)]
async fn close_gives_up_waiting_for_the_end_of_stream_after_the_close_timeout() {
    let (mut ws, mut raw) = server(no_keepalive().close_timeout(Duration::from_secs(5)), 4096);
    let mut close = pin!(ws.close(CloseCode::NORMAL, ""));
    assert!(now(&mut close).is_none());
    advance(Duration::from_secs(2)).await;
    assert_eq!(server_frame_now(&mut raw), (0x88, close_payload(1000, "")));
    raw.write_all(&client_frame(0x88, &close_payload(1000, ""))).await.unwrap();
    assert!(now(&mut close).is_none());
    // The handshake is complete; the peer keeps the transport open. A fresh
    // close timeout runs from the peer's Close frame.
    advance(Duration::from_secs(5) - MS).await;
    assert!(now(&mut close).is_none(), "not before the deadline");
    advance(MS).await;
    let outcome = now(&mut close).unwrap().unwrap();
    assert!(outcome.is_clean());
}

/// Queues data until the transport (which nobody reads) is full.
async fn fill(ws: &mut WebSocket<DuplexStream>) {
    while tokio::time::timeout(Duration::from_secs(3600), ws.feed(vec![1u8; 1000])).await.is_ok() {}
}

#[tokio::test(start_paused = true)]
async fn close_ends_at_the_close_timeout_when_the_peer_reads_nothing() {
    let (mut ws, _raw) = server(no_keepalive().write_buffer_high_water(4096), 1024);
    fill(&mut ws).await;
    let mut close = pin!(ws.close(CloseCode::NORMAL, ""));
    assert!(now(&mut close).is_none());
    advance(Duration::from_secs(10) - MS).await;
    assert!(now(&mut close).is_none(), "not before the deadline");
    advance(MS).await;
    assert_timeout(
        now(&mut close).expect("close is bounded by its timeout"),
        TimeoutKind::Close,
        Duration::from_secs(10),
    );
}

#[tokio::test(start_paused = true)]
async fn split_writer_close_ends_when_the_reader_meets_the_close_timeout() {
    let (mut ws, _raw) = server(no_keepalive().write_buffer_high_water(4096), 1024);
    fill(&mut ws).await;
    let (mut reader, mut writer) = ws.split();
    let writer_task = tokio::spawn(async move { writer.close(CloseCode::NORMAL, "").await });
    let first = tokio::time::timeout(Duration::from_secs(3600), reader.recv()).await;
    assert_timeout(first.expect("the reader is not stuck").unwrap(), TimeoutKind::Close, Duration::from_secs(10));
    assert!(reader.recv().await.is_none());
    // The writer stops waiting for a transport that will never take its bytes.
    let closed = tokio::time::timeout(Duration::from_secs(3600), writer_task).await;
    assert!(closed.expect("the writer half is not stuck").unwrap().is_ok());
}

/// Splits `ws` and reads it to the end in a task of its own.
fn spawn_reader(ws: WebSocket<DuplexStream>) -> (tokio::task::JoinHandle<Vec<Result<Message, Error>>>, WriteHalf) {
    let (mut reader, writer) = ws.split();
    let task = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(item) = reader.recv().await {
            seen.push(item);
        }
        seen
    });
    (task, writer)
}

type WriteHalf = wsx::WriteHalf<DuplexStream>;

#[tokio::test(start_paused = true)]
async fn split_sink_close_wakes_the_reader_to_run_the_close_timer() {
    let (ws, mut raw) = server(no_keepalive(), 4096);
    let (reader, mut writer) = spawn_reader(ws);
    tokio::task::yield_now().await;
    assert!(!reader.is_finished());
    let start = tokio::time::Instant::now();
    futures_util::SinkExt::close(&mut writer).await.unwrap();
    assert_eq!(read_server_frame(&mut raw).await, (0x88, close_payload(1000, "")));
    // The peer never answers: the reader, waiting on a quiet transport when
    // the close began, must still time the close out.
    let seen = tokio::time::timeout(Duration::from_secs(3600), reader).await.expect("the reader was woken").unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    assert_eq!(seen.len(), 1);
    assert!(matches!(seen[0], Err(Error::Timeout { kind: TimeoutKind::Close, .. })), "{seen:?}");
}

#[tokio::test(start_paused = true)]
async fn split_writer_over_the_cap_wakes_the_reader_to_send_the_1008() {
    let (ws, mut raw) = server(no_keepalive().write_buffer_max(64 * 1024), 1 << 20);
    let (reader, mut writer) = spawn_reader(ws);
    tokio::task::yield_now().await;
    assert!(matches!(writer.send(vec![0u8; 1 << 17]).await, Err(Error::WriteBufferFull { .. })));
    // The reader, woken, writes the Close frame.
    let close = tokio::time::timeout(Duration::from_secs(3600), read_server_frame(&mut raw)).await;
    assert_eq!(close.expect("the reader was woken"), (0x88, close_payload(1008, "write buffer full")));
    raw.write_all(&client_frame(0x88, &close_payload(1008, ""))).await.unwrap();
    let mut rest = Vec::new();
    raw.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
    drop(raw);
    let seen = reader.await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(*seen[0].as_ref().unwrap(), close_message(1008, ""));
}

// ----- backpressure ----------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn sending_waits_above_the_high_water_mark_and_memory_stays_bounded() {
    const HIGH_WATER: usize = 4096;
    const FRAME: usize = 1004; // 4-byte header + 1,000-byte payload
    let (mut ws, mut raw) = server(no_keepalive().write_buffer_high_water(HIGH_WATER), 1024);
    let message = Message::binary(vec![7u8; 1000]);
    let mut fed = 0;
    // Time is paused: a feed that waits an hour waits for good.
    while let Ok(result) = tokio::time::timeout(Duration::from_secs(3600), ws.feed(message.clone())).await {
        result.unwrap();
        fed += 1;
        assert!(ws.buffered_amount() < HIGH_WATER + FRAME, "{}", ws.buffered_amount());
        assert!(fed < 100, "feed never waited");
    }
    // Waiting: at or above the high-water mark, never a message further.
    let queued = ws.buffered_amount();
    assert!((HIGH_WATER..HIGH_WATER + FRAME).contains(&queued), "{queued}");
    assert_eq!(fed * FRAME, 1024 + queued, "the transport took exactly its capacity");
    // `send` waits too, however long.
    assert!(tokio::time::timeout(Duration::from_secs(3600), ws.send(message.clone())).await.is_err());
    assert_eq!(ws.buffered_amount(), queued, "a send that waited queued nothing");
    // Once the peer reads, everything drains.
    let reader = tokio::spawn(async move {
        let mut all = Vec::new();
        raw.read_to_end(&mut all).await.unwrap();
        all
    });
    ws.send(message).await.unwrap();
    assert_eq!(ws.buffered_amount(), 0);
    drop(ws);
    let all = reader.await.unwrap();
    assert_eq!(all.len(), (fed + 1) * FRAME);
    for frame in all.chunks(FRAME) {
        assert_eq!(frame[..4], [0x82, 126, 0x03, 0xe8]);
        assert!(frame[4..].iter().all(|&b| b == 7));
    }
}

#[tokio::test(start_paused = true)]
async fn a_message_over_the_hard_cap_fails_with_1008() {
    let config = no_keepalive().write_buffer_high_water(16 * 1024).write_buffer_max(64 * 1024);
    let (mut ws, mut raw) = server(config, 1 << 20);
    ws.send("before").await.unwrap();
    assert_eq!(server_frame_now(&mut raw), (0x81, b"before".to_vec()));
    match ws.send(vec![0u8; 64 * 1024 + 1]).await {
        Err(Error::WriteBufferFull { limit }) => assert_eq!(limit, 64 * 1024),
        other => panic!("expected WriteBufferFull, got {other:?}"),
    }
    assert!(matches!(ws.send("after").await, Err(Error::Send(_))));
    // The connection closes with 1008 under the close deadline; it does not hang.
    {
        let mut recv = pin!(ws.recv());
        assert!(now(&mut recv).is_none());
        assert_eq!(server_frame_now(&mut raw), (0x88, close_payload(1008, "write buffer full")));
        raw.write_all(&client_frame(0x88, &close_payload(1008, ""))).await.unwrap();
        assert_eq!(now(&mut recv).unwrap().unwrap().unwrap(), close_message(1008, ""));
    }
    drop(raw);
    assert!(ws.recv().await.is_none());
    assert_eq!(ws.close_outcome().unwrap().code(), CloseCode::POLICY_VIOLATION);
}

#[tokio::test(start_paused = true)]
async fn after_the_hard_cap_a_silent_peer_meets_the_close_timeout() {
    let config = no_keepalive().write_buffer_max(64 * 1024).close_timeout(Duration::from_secs(5));
    let (mut ws, _raw) = server(config, 1 << 20);
    assert!(matches!(ws.send(vec![0u8; 1 << 17]).await, Err(Error::WriteBufferFull { .. })));
    let mut recv = pin!(ws.recv());
    assert!(now(&mut recv).is_none());
    advance(Duration::from_secs(5)).await;
    assert_timeout(now(&mut recv).unwrap().unwrap(), TimeoutKind::Close, Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn reads_are_pulled_by_the_application() {
    let (mut ws, mut raw) = server(no_keepalive(), 4096);
    let frame = client_frame(0x82, &[9u8; 1000]);
    let all: Vec<u8> = frame.iter().copied().cycle().take(frame.len() * 100).collect();
    let mut write = pin!(raw.write_all(&all));
    assert!(now(&mut write).is_none(), "the transport fills up");
    // Sending does not read.
    ws.send("outgoing").await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(now(&mut write).is_none(), "nobody read while the application did not call recv");
    let receive = async {
        for _ in 0..100 {
            assert_eq!(ws.recv().await.unwrap().unwrap(), Message::binary(vec![9u8; 1000]));
        }
    };
    let (written, ()) = tokio::join!(write, receive);
    written.unwrap();
}

// ----- cancel safety ---------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn recv_cancelled_mid_frame_loses_nothing() {
    let (mut ws, mut raw) = server(no_keepalive(), 1 << 16);
    let binary: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let text = "héllo wörld ✓ ".repeat(20);
    let messages = [Message::binary(binary.clone()), Message::text(text.as_str())];
    let frames = [client_frame(0x82, &binary), client_frame(0x81, text.as_bytes())];
    for (message, frame) in messages.iter().zip(&frames) {
        // Cut inside the header, inside the key, and inside the payload
        // (for the text, in the middle of a multi-byte character).
        for cuts in [[1, 5, 9], [2, 4, 8], [3, 100, frame.len() - 1], [6, 7, 10]] {
            let mut start = 0;
            for cut in cuts {
                raw.write_all(&frame[start..cut]).await.unwrap();
                start = cut;
                assert!(tokio::time::timeout(Duration::from_secs(1), ws.recv()).await.is_err());
            }
            raw.write_all(&frame[start..]).await.unwrap();
            assert_eq!(ws.recv().await.unwrap().unwrap(), *message, "cut at {cuts:?}");
        }
    }
}
