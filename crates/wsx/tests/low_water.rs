//! Large frames over real TCP, where the driver sets the socket's receive
//! low-water mark while a frame arrives (Linux): whatever way the bytes
//! come — in pieces with pauses, cut off by end of stream, fragments with a
//! Ping between them — every message arrives whole, nothing waits for bytes
//! that will not come, and small frames after large ones are not held back.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, reason = "the shared raw-frame helpers unwrap")]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use wsx::{Config, Message};

mod raw;

use raw::*;

const LIMIT: Duration = Duration::from_secs(20);

/// An echo server (`wsx::serve`, 64 MiB messages) that also reports how
/// each connection's reading ended.
async fn echo_server() -> (SocketAddr, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let (ended, ends) = mpsc::unbounded_channel();
    let config = Config::default().max_message_size(64 << 20);
    tokio::spawn(wsx::serve(listener, config, move |incoming| {
        let ended = ended.clone();
        async move {
            let Ok(mut ws) = incoming.accept().await else { return };
            let end = loop {
                match ws.recv().await {
                    Some(Ok(message)) if message.is_text() || message.is_binary() => {
                        if let Err(error) = ws.send(message).await {
                            break format!("send: {error}");
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => break format!("error: {error}"),
                    None => break "end".to_owned(),
                }
            };
            let _ = ended.send(end);
        }
    }));
    (addr, ends)
}

/// A TCP connection that has done the opening handshake by hand.
async fn raw_client(addr: SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let request = format!(
        "GET /echo HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.expect("request");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = tcp.read_u8().await.expect("response");
        head.push(byte);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    tcp
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

async fn expect_echo(tcp: &mut TcpStream, first: u8, payload: &[u8]) {
    let (got_first, masked, got) = tokio::time::timeout(LIMIT, read_frame(tcp)).await.expect("echo in time");
    assert!(!masked);
    assert_eq!(got_first, first);
    assert_eq!(got.len(), payload.len());
    assert!(got == payload, "payload differs");
}

#[tokio::test]
async fn large_frames_in_pieces_with_pauses_are_echoed_whole_and_small_ones_follow() {
    let (addr, _ends) = echo_server().await;
    let mut tcp = raw_client(addr).await;
    let big = pattern(1 << 20, 1);
    let wire = client_frame(0x82, &big);
    // Header and 300 KiB, then 400 KiB, then the rest, with pauses: the
    // server waits with its mark set for what is still missing.
    for piece in [&wire[..300 << 10], &wire[300 << 10..700 << 10], &wire[700 << 10..]] {
        tcp.write_all(piece).await.expect("write");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    expect_echo(&mut tcp, 0x82, &big).await;
    // A small frame right after: the mark is back at one byte.
    tcp.write_all(&client_frame(0x81, b"small")).await.expect("write");
    expect_echo(&mut tcp, 0x81, b"small").await;
    // A 3 MiB frame at once (a mark of at most 1 MiB, lowered near the end),
    // then a Ping.
    let bigger = pattern(3 << 20, 2);
    tcp.write_all(&client_frame(0x82, &bigger)).await.expect("write");
    tcp.write_all(&client_frame(0x89, b"still there?")).await.expect("write");
    expect_echo(&mut tcp, 0x82, &bigger).await;
    expect_echo(&mut tcp, 0x8a, b"still there?").await;
}

#[tokio::test]
async fn fragments_of_a_large_text_with_a_ping_between_them() {
    let (addr, _ends) = echo_server().await;
    let mut tcp = raw_client(addr).await;
    let text = "wsx·ø€😀 ".repeat(60_000).into_bytes();
    let (first, second) = text.split_at(text.len() / 2 + 1);
    tcp.write_all(&client_frame(0x01, first)).await.expect("write");
    tcp.write_all(&client_frame(0x89, b"between")).await.expect("write");
    // The second fragment slowly: half of it, a pause, the rest.
    let wire = client_frame(0x80, second);
    tcp.write_all(&wire[..wire.len() / 2]).await.expect("write");
    expect_echo(&mut tcp, 0x8a, b"between").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    tcp.write_all(&wire[wire.len() / 2..]).await.expect("write");
    expect_echo(&mut tcp, 0x81, &text).await;
}

#[tokio::test]
async fn a_large_frame_cut_off_by_end_of_stream_ends_the_connection() {
    let (addr, mut ends) = echo_server().await;
    let mut tcp = raw_client(addr).await;
    let wire = client_frame(0x82, &pattern(2 << 20, 3));
    tcp.write_all(&wire[..300 << 10]).await.expect("write");
    tokio::time::sleep(Duration::from_millis(50)).await;
    tcp.shutdown().await.expect("shutdown");
    let end = tokio::time::timeout(LIMIT, ends.recv()).await.expect("the server noticed in time");
    let end = end.expect("a report");
    assert!(end.starts_with("error") || end == "end", "{end}");
}

#[tokio::test]
async fn client_and_server_both_with_marks_exchange_large_messages() {
    let (addr, _ends) = echo_server().await;
    let config = Config::default().max_message_size(64 << 20);
    let (mut ws, _) =
        wsx::ClientBuilder::new(&format!("ws://{addr}/echo")).config(config).connect().await.expect("connect");
    for (round, len) in [(1u8, 1 << 20), (2, 5 << 19), (3, 10), (4, 2 << 20)] {
        let payload = pattern(len, round);
        ws.send(Message::binary(payload.clone())).await.expect("send");
        let echoed = tokio::time::timeout(LIMIT, async {
            loop {
                match ws.recv().await {
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    other => return other,
                }
            }
        })
        .await
        .expect("echo in time");
        let Some(Ok(Message::Binary(echoed))) = echoed else { panic!("{echoed:?}") };
        assert!(echoed == payload, "round {round}: payload differs");
    }
}
