//! `Config::compression_release`: a connection with permessage-deflate that
//! goes quiet frees zlib's state on both ends, and the next messages still
//! use the shared window (context takeover survives the release). The live
//! heap is measured by a counting global allocator (this test has a binary
//! of its own, so nothing else allocates meanwhile).

use std::time::Duration;

use peak_alloc::PeakAlloc;
use tokio::io::DuplexStream;
use wsx::proto::extension::DeflateParams;
use wsx::proto::{Negotiated, Role};
use wsx::{Config, DeflateConfig, Message, WebSocket};

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

fn live_kib() -> f32 {
    HEAP.current_usage_as_kb()
}

fn pair(release: Option<Duration>) -> (WebSocket<DuplexStream>, WebSocket<DuplexStream>) {
    let (a, b) = tokio::io::duplex(1 << 20);
    let config = Config::default().keepalive(None).compression(DeflateConfig::default()).compression_release(release);
    let side = |io, role| {
        let negotiated = Negotiated::new(role).with_deflate(Some(DeflateParams::default()));
        WebSocket::from_upgraded(io, negotiated, config.clone(), b"").expect("ws")
    };
    (side(a, Role::Client), side(b, Role::Server))
}

/// One message each way; returns what each side received.
async fn exchange(client: &mut WebSocket<DuplexStream>, server: &mut WebSocket<DuplexStream>, text: &str) {
    client.send(text).await.expect("client send");
    let got = server.recv().await.expect("a message").expect("ok");
    assert_eq!(got, Message::text(text));
    server.send(got).await.expect("server send");
    let echo = client.recv().await.expect("the echo").expect("ok");
    assert_eq!(echo, Message::text(text));
}

/// Both ends read (as an application waiting for messages does) for `for`
/// of the paused clock.
async fn sit_idle(client: &mut WebSocket<DuplexStream>, server: &mut WebSocket<DuplexStream>, r#for: Duration) {
    let waited = tokio::time::timeout(r#for, async { tokio::join!(client.recv(), server.recv()) }).await;
    assert!(waited.is_err(), "nothing arrives while idle: {waited:?}");
}

#[tokio::test(start_paused = true)]
async fn a_quiet_connection_frees_its_compression_state_and_resumes_its_window() {
    let text =
        "{\"user\":\"ada\",\"room\":\"lobby\",\"text\":\"the quick brown fox jumps over the lazy dog\"}".repeat(20);
    let before = live_kib();
    let (mut client, mut server) = pair(Some(Duration::from_secs(10)));
    exchange(&mut client, &mut server, &text).await;
    let busy = live_kib();
    // Two compressors (≈ 160 KiB each with zlib-rs) and two decompressors.
    assert!(busy - before > 300.0, "{before} KiB before, {busy} KiB with compression state");
    // Less than one period: nothing is released.
    sit_idle(&mut client, &mut server, Duration::from_secs(5)).await;
    assert!(live_kib() > busy - 50.0, "{} KiB after 5 s, {busy} KiB busy", live_kib());
    // More than two periods: both ends released their state.
    sit_idle(&mut client, &mut server, Duration::from_secs(20)).await;
    let quiet = live_kib();
    assert!(busy - quiet > 300.0, "{busy} KiB busy, {quiet} KiB quiet");
    // What is left of compression: at most the two windows each way.
    assert!(quiet - before < 80.0, "{before} KiB before, {quiet} KiB quiet");
    // The same text again: both sides' windows still hold it (a mismatch
    // would fail the connection with 1007 or return other bytes).
    exchange(&mut client, &mut server, &text).await;
    exchange(&mut client, &mut server, "and something new").await;
    let (closed, _) = tokio::join!(client.close(wsx::CloseCode::NORMAL, ""), server.recv());
    assert!(closed.expect("close").is_clean());
    drop((client, server));

    // Without release (one test: the heap is shared by every test in the
    // binary, so they must not run side by side).
    let (mut client, mut server) = pair(None);
    exchange(&mut client, &mut server, &text).await;
    let busy = live_kib();
    sit_idle(&mut client, &mut server, Duration::from_secs(60)).await;
    assert!(live_kib() > busy - 50.0, "{} KiB after a minute, {busy} KiB busy", live_kib());
}
