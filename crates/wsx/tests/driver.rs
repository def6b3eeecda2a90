//! Integration tests of the tokio driver over in-memory transports: the
//! opening handshake, messages of every size, automatic replies, the closing
//! handshake, protocol errors, split halves, the `Stream`/`Sink` impls and
//! batched writes. Timers, backpressure and cancellation are in
//! `driver_timers.rs`.

#![allow(clippy::unwrap_used)]
#![allow(clippy::result_large_err, reason = "accept_with callbacks refuse with a whole HTTP response")]

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt, TryStreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf, duplex};
use wsx::proto::handshake::{HandshakeError, accept_key};
use wsx::proto::{Negotiated, ProtocolError, Role};
use wsx::{Accept, ClientBuilder, CloseCode, CloseFrame, Config, Error, Message, WebSocket};

mod raw;

use raw::*;

// ----- helpers ---------------------------------------------------------------

/// A driver of `role` over one end of a duplex; the raw other end is returned.
fn over_raw(role: Role, config: Config) -> (WebSocket<DuplexStream>, DuplexStream) {
    let (ours, raw) = duplex(1 << 20);
    (WebSocket::from_upgraded(ours, Negotiated::new(role), config, &[]).unwrap(), raw)
}

/// A client and a server driver after a real handshake over a duplex.
async fn pair() -> (WebSocket<DuplexStream>, WebSocket<DuplexStream>) {
    let (c, s) = duplex(64 * 1024);
    let (client, server) = tokio::join!(ClientBuilder::new("ws://example.com/chat").connect_on(c), wsx::accept(s));
    (client.unwrap().0, server.unwrap())
}

const REQUEST_HEAD: &str = "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n";

/// Sends a hand-made request to `wsx::accept`; returns its result and the raw response.
async fn accept_raw(request: &[u8]) -> (Result<WebSocket<DuplexStream>, Error>, String) {
    let (mut raw, s) = duplex(64 * 1024);
    raw.write_all(request).await.unwrap();
    let result = wsx::accept(s).await;
    let mut response = Vec::new();
    if result.is_err() {
        raw.read_to_end(&mut response).await.unwrap();
    }
    (result, String::from_utf8(response).unwrap().to_ascii_lowercase())
}

// ----- opening handshake -------------------------------------------------------

#[tokio::test]
async fn handshake_then_messages_of_every_size_both_ways() {
    let (mut client, mut server) = pair().await;
    for size in [0usize, 1, 125, 126, 127, 65535, 65536, 1 << 20] {
        let binary = Message::binary((0..size).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
        let text = Message::text("a".repeat(size));
        for message in [binary, text] {
            let (sent, received) = tokio::join!(client.send(message.clone()), server.recv());
            sent.unwrap();
            assert_eq!(received.unwrap().unwrap(), message, "client → server, {size} bytes");
            let (sent, received) = tokio::join!(server.send(message.clone()), client.recv());
            sent.unwrap();
            assert_eq!(received.unwrap().unwrap(), message, "server → client, {size} bytes");
        }
    }
    assert_eq!(client.negotiated().subprotocol, None);
    assert_eq!(server.buffered_amount(), 0);
}

#[tokio::test]
async fn accept_with_selects_a_subprotocol() {
    let (c, s) = duplex(64 * 1024);
    let client = ClientBuilder::new("ws://example.com/chat?room=1").subprotocol("chat.v1").subprotocol("chat.v2");
    let (client, server) = tokio::join!(
        client.connect_on(c),
        wsx::accept_with(s, Config::default(), |request, offer| {
            assert_eq!(request.uri().path(), "/chat");
            assert_eq!(request.uri().query(), Some("room=1"));
            assert_eq!(offer.subprotocols, ["chat.v1", "chat.v2"]);
            Ok(Accept::default().subprotocol("chat.v2").header("x-served-by", "wsx"))
        }),
    );
    let (mut client, response) = client.unwrap();
    let mut server = server.unwrap();
    assert_eq!(response.status(), 101);
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat.v2");
    assert_eq!(response.headers()["x-served-by"], "wsx");
    assert_eq!(client.negotiated().subprotocol.as_deref(), Some("chat.v2"));
    assert_eq!(server.negotiated().subprotocol.as_deref(), Some("chat.v2"));
    client.send("over chat.v2").await.unwrap();
    assert_eq!(server.recv().await.unwrap().unwrap(), Message::text("over chat.v2"));
}

#[tokio::test]
async fn refusal_with_403_reaches_the_client_as_unexpected_status() {
    let (c, s) = duplex(64 * 1024);
    let (client, server) = tokio::join!(
        ClientBuilder::new("ws://example.com/private").connect_on(c),
        wsx::accept_with(s, Config::default(), |_, _| {
            Err(http::Response::builder().status(403).body(Bytes::from("go away")).unwrap())
        }),
    );
    match client {
        Err(Error::Handshake(HandshakeError::UnexpectedStatus { status, .. })) => assert_eq!(status, 403),
        other => panic!("expected UnexpectedStatus, got {other:?}"),
    }
    match server {
        Err(Error::Rejected { status }) => assert_eq!(status, 403),
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn first_frame_in_the_request_segment_is_delivered() {
    let mut segment =
        format!("{REQUEST_HEAD}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            .into_bytes();
    segment.extend(client_frame(0x81, b"early bird"));
    segment.extend(client_frame(0x82, &[1, 2, 3]));
    let (result, _) = accept_raw(&segment).await;
    let mut server = result.unwrap();
    assert_eq!(server.recv().await.unwrap().unwrap(), Message::text("early bird"));
    assert_eq!(server.recv().await.unwrap().unwrap(), Message::binary(vec![1, 2, 3]));
}

#[tokio::test]
async fn first_frame_in_the_response_segment_is_delivered() {
    let (c, mut raw) = duplex(64 * 1024);
    let server = async {
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(raw.read_u8().await.unwrap());
        }
        let head = String::from_utf8(head).unwrap();
        let key = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key").then(|| value.trim().to_owned())
            })
            .unwrap();
        let mut segment = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            accept_key(key.as_bytes())
        )
        .into_bytes();
        segment.extend(server_frame(0x81, b"welcome"));
        raw.write_all(&segment).await.unwrap();
    };
    let (client, ()) = tokio::join!(ClientBuilder::new("ws://example.com/").connect_on(c), server);
    let (mut client, _) = client.unwrap();
    assert_eq!(client.recv().await.unwrap().unwrap(), Message::text("welcome"));
}

#[tokio::test]
async fn request_without_a_key_is_answered_with_400() {
    let request = format!("{REQUEST_HEAD}Sec-WebSocket-Version: 13\r\n\r\n");
    let (result, response) = accept_raw(request.as_bytes()).await;
    assert!(matches!(result, Err(Error::Handshake(HandshakeError::MissingKey))), "{result:?}");
    assert!(response.starts_with("http/1.1 400 "), "{response}");
    assert!(response.contains("\r\nconnection: close\r\n"), "{response}");
}

#[tokio::test]
async fn version_8_is_answered_with_426_and_version_13() {
    let request =
        format!("{REQUEST_HEAD}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n");
    let (result, response) = accept_raw(request.as_bytes()).await;
    assert!(matches!(result, Err(Error::Handshake(HandshakeError::UnsupportedVersion { .. }))), "{result:?}");
    assert!(response.starts_with("http/1.1 426 "), "{response}");
    assert!(response.contains("\r\nsec-websocket-version: 13\r\n"), "{response}");
}

#[tokio::test]
async fn a_20_kib_header_is_answered_with_431() {
    let request = format!(
        "{REQUEST_HEAD}Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Big: {}\r\n\r\n",
        "x".repeat(20 * 1024)
    );
    let (result, response) = accept_raw(request.as_bytes()).await;
    assert!(matches!(result, Err(Error::Handshake(HandshakeError::HeadTooLarge { limit: 16384 }))), "{result:?}");
    assert!(response.starts_with("http/1.1 431 "), "{response}");
}

// ----- automatic replies ---------------------------------------------------------

#[tokio::test]
async fn received_bytes_moves_only_with_reads() {
    let leftover = server_frame(0x81, b"early");
    let (ours, mut raw) = duplex(1 << 16);
    let mut client =
        WebSocket::from_upgraded(ours, Negotiated::new(Role::Client), Config::default(), &leftover).unwrap();
    let mut total = leftover.len() as u64;
    assert_eq!(client.received_bytes(), total, "the handshake's leftover counts");
    assert_eq!(client.recv().await.unwrap().unwrap(), Message::text("early"));
    assert_eq!(client.received_bytes(), total, "handed over from the buffer: no read");
    let burst = [server_frame(0x82, &[1, 2, 3]), server_frame(0x82, &[4])].concat();
    raw.write_all(&burst).await.unwrap();
    total += burst.len() as u64;
    assert_eq!(client.recv().await.unwrap().unwrap(), Message::binary(vec![1, 2, 3]));
    assert_eq!(client.received_bytes(), total, "one read took both frames");
    assert_eq!(client.recv().await.unwrap().unwrap(), Message::binary(vec![4]));
    assert_eq!(client.received_bytes(), total, "the second came from the buffer");
}

#[tokio::test]
async fn a_buffering_transport_is_flushed_after_every_write_out() {
    // A transport that holds writes until flushed: the flush skipped when
    // nothing was written must never be skipped after a write.
    let (ours, mut raw) = duplex(1 << 16);
    let ours = tokio::io::BufWriter::new(ours);
    let mut server = WebSocket::from_upgraded(ours, Negotiated::new(Role::Server), Config::default(), &[]).unwrap();
    for round in 0..3u8 {
        server.send(Message::binary(vec![round])).await.unwrap();
        assert_eq!(read_frame(&mut raw).await, (0x82, false, vec![round]), "round {round}: sent");
        raw.write_all(&client_frame(0x82, &[round])).await.unwrap();
        assert_eq!(server.recv().await.unwrap().unwrap(), Message::binary(vec![round]));
    }
}

#[tokio::test]
async fn pong_is_written_before_recv_returns_the_ping() {
    let (mut ws, mut raw) = over_raw(Role::Server, Config::default());
    raw.write_all(&client_frame(0x89, b"are you there")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::Ping(Bytes::from_static(b"are you there")));
    // No further call into the driver: the Pong is already on the wire.
    assert_eq!(frame_now(&mut raw), (0x8a, false, b"are you there".to_vec()));
    assert_nothing_now(&mut raw);
}

#[tokio::test]
async fn client_pong_is_masked_and_written_before_recv_returns() {
    let (mut ws, mut raw) = over_raw(Role::Client, Config::default());
    raw.write_all(&server_frame(0x89, b"")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::Ping(Bytes::new()));
    assert_eq!(frame_now(&mut raw), (0x8a, true, Vec::new()));
}

#[tokio::test]
async fn close_echo_is_written_before_recv_returns_the_close() {
    let (mut ws, mut raw) = over_raw(Role::Server, Config::default());
    raw.write_all(&client_frame(0x88, &close_payload(4001, "bye now"))).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), close_message(4001, "bye now"));
    // The echo carries the code without the reason; the server then closes
    // the TCP connection first (§7.1.1).
    assert_eq!(frame_now(&mut raw), (0x88, false, close_payload(4001, "")));
    assert_eof_now(&mut raw);
    raw.shutdown().await.unwrap();
    assert!(ws.recv().await.is_none());
    let outcome = ws.close_outcome().unwrap();
    assert!(outcome.is_clean());
    assert_eq!(outcome.code(), CloseCode::from(4001));
    assert_eq!(outcome.reason(), "bye now");
}

// ----- closing handshake -----------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn client_initiated_close_between_drivers_is_clean() {
    let (mut client, mut server) = pair().await;
    let server_task = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(message) = server.recv().await {
            seen.push(message.unwrap());
        }
        (seen, server.close_outcome().cloned().unwrap())
    });
    let outcome = client.close(CloseCode::from(4000), "done").await.unwrap();
    assert!(outcome.is_clean());
    assert_eq!(outcome.sent, Some(Some(CloseFrame::new(CloseCode::from(4000), "done").unwrap())));
    assert_eq!(outcome.code(), CloseCode::from(4000));
    assert_eq!(outcome.reason(), "");
    // The server closed its side first; the client then ended its own, so
    // the server is done at once, well before its close timeout.
    let server_result = tokio::time::timeout(Duration::from_secs(1), server_task).await;
    let (seen, outcome) = server_result.expect("the server did not wait for its close timeout").unwrap();
    assert_eq!(seen, [close_message(4000, "done")]);
    assert!(outcome.is_clean());
    assert_eq!(outcome.reason(), "done");
}

#[tokio::test]
async fn server_initiated_close_between_drivers_is_clean() {
    let (mut client, mut server) = pair().await;
    let client_task = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(message) = client.recv().await {
            seen.push(message.unwrap());
        }
        (seen, client.close_outcome().cloned().unwrap())
    });
    let outcome = server.close(CloseCode::GOING_AWAY, "restarting").await.unwrap();
    assert!(outcome.is_clean());
    assert_eq!(outcome.code(), CloseCode::GOING_AWAY);
    let (seen, client_outcome) = client_task.await.unwrap();
    assert_eq!(seen, [close_message(1001, "restarting")]);
    assert!(client_outcome.is_clean());
    assert_eq!(client_outcome.sent, Some(Some(CloseFrame::new(CloseCode::GOING_AWAY, "").unwrap())));
}

#[tokio::test(start_paused = true)]
async fn server_close_shuts_down_its_write_side_after_the_echo() {
    let (mut ws, mut raw) = over_raw(Role::Server, Config::default());
    let task = tokio::spawn(async move {
        let outcome = ws.close(CloseCode::NORMAL, "bye").await;
        (ws, outcome)
    });
    assert_eq!(read_frame(&mut raw).await, (0x88, false, close_payload(1000, "bye")));
    raw.write_all(&client_frame(0x88, &close_payload(1000, "ok"))).await.unwrap();
    let mut rest = Vec::new();
    raw.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "nothing after the Close frame: {rest:02x?}");
    // Our side is still open: the server lingers until it ends.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!task.is_finished());
    drop(raw);
    let (mut ws, outcome) = task.await.unwrap();
    let outcome = outcome.unwrap();
    assert!(outcome.is_clean());
    assert_eq!(outcome.code(), CloseCode::NORMAL);
    assert_eq!(outcome.reason(), "ok");
    assert!(ws.recv().await.is_none());
    assert!(matches!(ws.send("late").await, Err(Error::Send(_))));
}

#[tokio::test(start_paused = true)]
async fn client_close_waits_for_the_servers_end_of_stream() {
    let (mut ws, mut raw) = over_raw(Role::Client, Config::default());
    let task = tokio::spawn(async move {
        let outcome = ws.close(CloseCode::NORMAL, "").await;
        (ws, outcome)
    });
    assert_eq!(read_frame(&mut raw).await, (0x88, true, close_payload(1000, "")));
    raw.write_all(&server_frame(0x88, &close_payload(1000, ""))).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!task.is_finished(), "the client waits for the server to close the TCP connection");
    // The client did not shut its side down either.
    assert_nothing_now(&mut raw);
    raw.shutdown().await.unwrap();
    let (ws, outcome) = task.await.unwrap();
    let outcome = outcome.unwrap();
    assert!(outcome.is_clean());
    assert_eq!(outcome.code(), CloseCode::NORMAL);
    // Then the client ends its side too (the connection is still alive), so
    // the server is not left waiting.
    assert_eof_now(&mut raw);
    drop(ws);
}

#[tokio::test]
async fn close_rejects_unsendable_codes_and_long_reasons() {
    let (mut ws, mut raw) = over_raw(Role::Server, Config::default());
    assert!(matches!(ws.close(CloseCode::ABNORMAL_CLOSURE, "").await, Err(Error::Send(_))));
    assert!(matches!(ws.close(CloseCode::NORMAL, &"x".repeat(124)).await, Err(Error::Send(_))));
    assert_nothing_now(&mut raw);
    ws.send("still open").await.unwrap();
    assert_eq!(frame_now(&mut raw), (0x81, false, b"still open".to_vec()));
}

// ----- protocol errors -----------------------------------------------------------------

/// Feeds `bytes` to a driver of `role`; checks the error, the Close frame
/// on the wire (already written when `recv` returns) and the end of stream.
async fn assert_fails(role: Role, config: Config, bytes: &[u8], expected: ProtocolError, code: u16, reason: &str) {
    let (mut ws, mut raw) = over_raw(role, config);
    raw.write_all(bytes).await.unwrap();
    match ws.recv().await {
        Some(Err(Error::Protocol(error))) => {
            assert_eq!(error, expected);
            assert_eq!(error.close_code(), CloseCode::from(code));
        }
        other => panic!("expected {expected:?}, got {other:?}"),
    }
    let (first, masked, payload) = frame_now(&mut raw);
    assert_eq!((first, masked), (0x88, role == Role::Client));
    assert_eq!(payload, close_payload(code, reason), "{}", String::from_utf8_lossy(&payload));
    assert_eof_now(&mut raw);
    drop(raw);
    assert!(ws.recv().await.is_none());
    assert!(ws.recv().await.is_none());
    let outcome = ws.close_outcome().unwrap();
    assert_eq!(outcome.error, Some(expected));
    assert!(!outcome.is_clean());
}

#[tokio::test]
async fn unmasked_frame_to_a_server_fails_with_1002() {
    let bytes = server_frame(0x81, b"hi");
    assert_fails(Role::Server, Config::default(), &bytes, ProtocolError::UnmaskedFrame, 1002, "protocol error").await;
}

#[tokio::test]
async fn masked_frame_to_a_client_fails_with_1002() {
    let bytes = client_frame(0x81, b"hi");
    assert_fails(Role::Client, Config::default(), &bytes, ProtocolError::MaskedFrame, 1002, "protocol error").await;
}

#[tokio::test]
async fn invalid_utf8_fails_with_1007() {
    let bytes = client_frame(0x81, b"ok \xff");
    assert_fails(Role::Server, Config::default(), &bytes, ProtocolError::InvalidUtf8, 1007, "invalid UTF-8").await;
}

#[tokio::test]
async fn oversized_frame_fails_with_1009_at_the_header() {
    // Only the header of a 2 MiB frame: refused before any payload arrives.
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(2u64 << 20).to_be_bytes());
    header.extend_from_slice(&KEY);
    let expected = ProtocolError::FrameTooLarge { len: 2 << 20, max: 1 << 20 };
    assert_fails(Role::Server, Config::default(), &header, expected, 1009, "message too big").await;
}

#[tokio::test]
async fn too_many_fragments_fail_with_1008() {
    let mut bytes = client_frame(0x01, b"a");
    bytes.extend(client_frame(0x00, b"b"));
    bytes.extend(client_frame(0x80, b"c"));
    let config = Config::default().max_fragments(2);
    let expected = ProtocolError::TooManyFragments { max: 2 };
    assert_fails(Role::Server, config, &bytes, expected, 1008, "policy violation").await;
}

#[tokio::test]
async fn reserved_opcode_fails_with_1002() {
    let bytes = client_frame(0x83, b"");
    assert_fails(Role::Server, Config::default(), &bytes, ProtocolError::ReservedOpcode(3), 1002, "protocol error")
        .await;
}

// ----- split halves ------------------------------------------------------------------

/// Echoes data messages until the stream ends.
async fn echo(mut ws: WebSocket<DuplexStream>) {
    while let Some(Ok(message)) = ws.recv().await {
        if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_halves_echo_1000_messages_in_order_then_close() {
    let (client, server) = pair().await;
    let echo_task = tokio::spawn(echo(server));
    let (mut reader, mut writer) = client.split();
    let writer_task = tokio::spawn(async move {
        for i in 0..1000 {
            let message =
                if i % 2 == 0 { Message::text(format!("message {i}")) } else { Message::binary(vec![i as u8; i]) };
            writer.send(message).await.unwrap();
        }
        writer.close(CloseCode::NORMAL, "all sent").await.unwrap();
        writer
    });
    let mut received = Vec::new();
    while let Some(message) = reader.recv().await {
        received.push(message.unwrap());
    }
    let mut writer = writer_task.await.unwrap();
    assert_eq!(received.len(), 1001);
    for (i, message) in received[..1000].iter().enumerate() {
        let expected =
            if i % 2 == 0 { Message::text(format!("message {i}")) } else { Message::binary(vec![i as u8; i]) };
        assert_eq!(*message, expected);
    }
    assert_eq!(received[1000], close_message(1000, ""));
    assert!(reader.recv().await.is_none());
    assert!(matches!(writer.send("late").await, Err(Error::Send(_))));
    drop((reader, writer));
    echo_task.await.unwrap();
}

#[tokio::test]
async fn the_write_half_sends_as_the_socket_does_and_the_halves_reunite() {
    let (client, server) = pair().await;
    let echo_task = tokio::spawn(echo(server));
    let (mut reader, mut writer) = client.split();
    // feed queues without writing; flush writes both at once.
    writer.feed("one").await.unwrap();
    writer.feed(Message::binary(vec![2u8; 3])).await.unwrap();
    writer.flush().await.unwrap();
    let prepared = wsx::PreparedMessage::text("to everyone");
    writer.send_prepared(&prepared).await.unwrap();
    writer.feed_prepared(&prepared).await.unwrap();
    writer.flush().await.unwrap();
    writer.send_uncompressed("plain").await.unwrap();
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(reader.recv().await.unwrap().unwrap());
    }
    assert_eq!(
        got,
        [
            Message::text("one"),
            Message::binary(vec![2u8; 3]),
            Message::text("to everyone"),
            Message::text("to everyone"),
            Message::text("plain")
        ]
    );
    // Halves of another connection are handed back; its own halves reunite
    // into a socket that carries on.
    let (other_client, other_server) = pair().await;
    let (other_reader, other_writer) = other_client.split();
    let mismatch = reader.reunite(other_writer).unwrap_err();
    let (reader, other_writer) = (mismatch.reader, mismatch.writer);
    let mut ws = reader.reunite(writer).unwrap();
    assert!(ws.is_open());
    ws.send("again").await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("again"));
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    assert!(!ws.is_open());
    drop((other_reader, other_writer, other_server));
    echo_task.await.unwrap();
}

// ----- Stream and Sink ---------------------------------------------------------------

#[tokio::test]
async fn stream_and_sink_work_with_send_all_and_forward() {
    let (mut client, server) = pair().await;
    let server_task = tokio::spawn(async move {
        let (reader, writer) = server.split();
        reader.try_filter(|m| std::future::ready(m.is_text() || m.is_binary())).forward(writer).await
    });
    let messages: Vec<Message> = (0..50).map(|i| Message::text(format!("n{i}"))).collect();
    client.send_all(&mut futures_util::stream::iter(messages.clone()).map(Ok)).await.unwrap();
    let echoed: Vec<Message> = client.by_ref().take(50).try_collect().await.unwrap();
    assert_eq!(echoed, messages);
    SinkExt::close(&mut client).await.unwrap();
    assert_eq!(client.next().await.unwrap().unwrap(), close_message(1000, ""));
    for _ in 0..3 {
        assert!(client.next().await.is_none(), "the stream stays ended");
    }
    assert!(client.close_outcome().unwrap().is_clean());
    assert!(client.send(Message::text("late")).await.is_err());
    drop(client);
    server_task.await.unwrap().unwrap();
}

// ----- batched writes --------------------------------------------------------------

/// A transport that counts the writes it is asked to do.
struct Counting {
    inner: DuplexStream,
    writes: Arc<AtomicUsize>,
    most_slices: Arc<AtomicUsize>,
}

impl AsyncRead for Counting {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counting {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.most_slices.fetch_max(bufs.len(), Ordering::Relaxed);
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn counting_server() -> (WebSocket<Counting>, DuplexStream, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let (ours, raw) = duplex(1 << 20);
    let writes = Arc::new(AtomicUsize::new(0));
    let most_slices = Arc::new(AtomicUsize::new(0));
    let io = Counting { inner: ours, writes: writes.clone(), most_slices: most_slices.clone() };
    let ws = WebSocket::from_upgraded(io, Negotiated::new(Role::Server), Config::default(), &[]).unwrap();
    (ws, raw, writes, most_slices)
}

#[tokio::test]
async fn feed_then_flush_writes_100_messages_in_one_write() {
    let (mut ws, mut raw, writes, _) = counting_server();
    for i in 0..100 {
        ws.feed(format!("small {i}")).await.unwrap();
    }
    assert_eq!(writes.load(Ordering::Relaxed), 0, "feed does not write below the high-water mark");
    assert_nothing_now(&mut raw);
    ws.flush().await.unwrap();
    assert_eq!(writes.load(Ordering::Relaxed), 1, "small frames are coalesced into one write");
    for i in 0..100 {
        assert_eq!(frame_now(&mut raw), (0x81, false, format!("small {i}").into_bytes()));
    }
    assert_nothing_now(&mut raw);
    assert_eq!(ws.buffered_amount(), 0);
}

#[tokio::test]
async fn replies_to_pipelined_messages_leave_in_one_write() {
    let (mut ws, mut raw, writes, _) = counting_server();
    // Sixteen requests arrive in one segment; the echo loop `feed`
    // documents (`recv` then `feed`) answers them.
    let burst: Vec<u8> = (0..16).flat_map(|i| client_frame(0x82, format!("request {i:02}").as_bytes())).collect();
    raw.write_all(&burst).await.unwrap();
    for i in 0..16 {
        let message = ws.recv().await.unwrap().unwrap();
        assert_eq!(message, Message::binary(format!("request {i:02}").into_bytes()));
        ws.feed(message).await.unwrap();
        assert_eq!(writes.load(Ordering::Relaxed), 0, "reply {i} is queued");
    }
    assert_nothing_now(&mut raw);
    assert!(now(ws.recv()).is_none(), "nothing more arrived");
    assert_eq!(writes.load(Ordering::Relaxed), 1, "the receive that waits writes all sixteen in one write");
    for i in 0..16 {
        assert_eq!(frame_now(&mut raw), (0x82, false, format!("request {i:02}").into_bytes()));
    }
    assert_nothing_now(&mut raw);
}

#[tokio::test]
async fn a_fed_reply_is_written_before_recv_waits() {
    let (mut ws, mut raw, _, _) = counting_server();
    let burst: Vec<u8> = [client_frame(0x81, b"first"), client_frame(0x81, b"second")].concat();
    raw.write_all(&burst).await.unwrap();
    let first = ws.recv().await.unwrap().unwrap();
    ws.feed(first).await.unwrap();
    assert_nothing_now(&mut raw);
    // The application reads on without answering the second message: the
    // reply to the first goes out before `recv` waits for the socket.
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("second"));
    assert!(now(ws.recv()).is_none(), "nothing more arrived");
    assert_eq!(frame_now(&mut raw), (0x81, false, b"first".to_vec()));
    assert_nothing_now(&mut raw);
}

#[tokio::test]
async fn send_writes_at_once_even_with_messages_unread() {
    let (mut ws, mut raw, writes, _) = counting_server();
    ws.send("unprompted").await.unwrap();
    assert_eq!(writes.load(Ordering::Relaxed), 1);
    assert_eq!(frame_now(&mut raw), (0x81, false, b"unprompted".to_vec()));
    // Two messages arrive; the application reads one and then only sends
    // (a publisher that ignores what comes back): every send still leaves
    // at once, the unread message notwithstanding.
    raw.write_all(&[client_frame(0x81, b"one"), client_frame(0x81, b"two")].concat()).await.unwrap();
    let one = ws.recv().await.unwrap().unwrap();
    ws.send(one).await.unwrap();
    assert_eq!(frame_now(&mut raw), (0x81, false, b"one".to_vec()));
    for i in 0..3 {
        ws.send(format!("publish {i}")).await.unwrap();
        assert_eq!(frame_now(&mut raw), (0x81, false, format!("publish {i}").into_bytes()));
    }
    ws.send_prepared(&wsx::PreparedMessage::text("prepared")).await.unwrap();
    assert_eq!(frame_now(&mut raw), (0x81, false, b"prepared".to_vec()));
    // And a fed message leaves with `flush`, the unread one still there.
    ws.feed("fed").await.unwrap();
    assert_nothing_now(&mut raw);
    ws.flush().await.unwrap();
    assert_eq!(frame_now(&mut raw), (0x81, false, b"fed".to_vec()));
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("two"));
}

#[tokio::test]
async fn a_ping_in_a_burst_is_answered_before_it_is_handed_over() {
    let (mut ws, mut raw, _, _) = counting_server();
    let burst: Vec<u8> =
        [client_frame(0x81, b"data"), client_frame(0x89, b"are you there"), client_frame(0x81, b"more")].concat();
    raw.write_all(&burst).await.unwrap();
    let data = ws.recv().await.unwrap().unwrap();
    ws.feed(data).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::Ping(Bytes::from_static(b"are you there")));
    // The Pong (which goes first, at the next frame boundary) and the
    // queued reply left when the Ping was handed over.
    assert_eq!(frame_now(&mut raw), (0x8A, false, b"are you there".to_vec()));
    assert_eq!(frame_now(&mut raw), (0x81, false, b"data".to_vec()));
    assert_nothing_now(&mut raw);
}

#[tokio::test]
async fn large_messages_leave_in_one_vectored_write() {
    let (mut ws, mut raw, writes, most_slices) = counting_server();
    let payloads: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 5000]).collect();
    for payload in &payloads {
        ws.feed(Bytes::from(payload.clone())).await.unwrap();
    }
    ws.flush().await.unwrap();
    assert_eq!(writes.load(Ordering::Relaxed), 1);
    // A header and a payload per message, handed over without a copy.
    assert_eq!(most_slices.load(Ordering::Relaxed), 20);
    for payload in payloads {
        assert_eq!(frame_now(&mut raw), (0x82, false, payload));
    }
}

#[tokio::test]
async fn prepared_messages_queued_by_polling_leave_with_the_next_receive() {
    // `start_send_prepared` after `poll_ready`: queued, masked each with
    // its own key by the client (RFC 6455 §5.3), written by the receive
    // that finds nothing buffered, echoed back whole.
    let (mut client, mut server) = pair().await;
    let prepared = wsx::PreparedMessage::binary(vec![7u8; 16]);
    for _ in 0..3 {
        std::future::poll_fn(|cx| futures_util::Sink::<Message>::poll_ready(Pin::new(&mut client), cx)).await.unwrap();
        client.start_send_prepared(&prepared).unwrap();
    }
    let echo = tokio::spawn(async move {
        for _ in 0..3 {
            let message = server.recv().await.unwrap().unwrap();
            server.send(message).await.unwrap();
        }
        server
    });
    for _ in 0..3 {
        assert_eq!(client.recv().await.unwrap().unwrap(), Message::binary(vec![7u8; 16]));
    }
    let _server = echo.await.unwrap();
}
