//! The blocking driver over real TCP on loopback, both ends wsx-blocking:
//! echo and the closing handshake, read and write timeouts that leave the
//! connection usable, keepalive and close deadlines, and the split halves
//! under concurrent sends, pings and pongs.

#![allow(clippy::unwrap_used, reason = "tests: a failure should panic")]

use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use wsx_blocking::{CloseCode, Config, Error, Keepalive, Message, TimeoutKind, WebSocket};

/// A server on a free port running `serve` on its first connection.
fn server<T: Send + 'static>(
    config: Config,
    serve: impl FnOnce(WebSocket<TcpStream>) -> T + Send + 'static,
) -> (String, thread::JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let handle = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        serve(wsx_blocking::accept_with_policy(tcp, config, &wsx_blocking::HandshakePolicy::default()).unwrap())
    });
    (url, handle)
}

fn echo(mut ws: WebSocket<TcpStream>) -> Option<wsx_blocking::CloseOutcome> {
    while let Some(Ok(message)) = ws.recv() {
        if (message.is_text() || message.is_binary()) && ws.send(message).is_err() {
            break;
        }
    }
    ws.close_outcome().cloned()
}

#[test]
fn echoes_and_closes_cleanly() {
    let (url, server) = server(Config::default(), echo);
    let (mut ws, response) = wsx_blocking::connect(&url).unwrap();
    assert_eq!(response.status(), 101);
    for message in [Message::from("hello"), Message::from(vec![7_u8; 200_000]), Message::from("")] {
        ws.send(message.clone()).unwrap();
        assert_eq!(ws.recv().unwrap().unwrap(), message);
    }
    ws.ping(&b"are you there"[..]).unwrap();
    assert_eq!(ws.recv().unwrap().unwrap(), Message::Pong(bytes::Bytes::from_static(b"are you there")));
    let outcome = ws.close(CloseCode::NORMAL, "bye").unwrap();
    assert!(outcome.is_clean(), "{outcome:?}");
    assert!(ws.recv().is_none());
    assert!(matches!(ws.send("late"), Err(Error::Send(_))));
    let server_outcome = server.join().unwrap().unwrap();
    assert_eq!(server_outcome.code(), CloseCode::NORMAL);
    assert_eq!(server_outcome.reason(), "bye");
}

#[test]
fn compresses_both_ways() {
    let deflate = || Config::default().compression(wsx_blocking::DeflateConfig::default().threshold(0));
    let (url, server) = server(deflate(), echo);
    let (mut ws, _) = wsx_blocking::ClientBuilder::new(&url).config(deflate()).connect().unwrap();
    assert!(ws.negotiated().deflate.is_some());
    let text = "compress me ".repeat(10_000);
    ws.send(text.as_str()).unwrap();
    assert_eq!(ws.recv().unwrap().unwrap(), Message::from(text));
    ws.close(CloseCode::NORMAL, "").unwrap();
    server.join().unwrap();
}

#[test]
fn send_writes_at_once_with_messages_unread() {
    // The server sends two messages in one write, then only reads.
    let (url, server) = server(Config::default(), |mut ws| {
        ws.feed("one").unwrap();
        ws.feed("two").unwrap();
        ws.flush().unwrap();
        ws.set_read_timeout(Some(Duration::from_secs(5)));
        let published: Vec<Message> = (0..3).map(|_| ws.recv().unwrap().unwrap()).collect();
        (published, ws)
    });
    let (mut ws, _) = wsx_blocking::connect(&url).unwrap();
    assert_eq!(ws.recv().unwrap().unwrap(), Message::from("one"));
    // "two" waits unread; a publisher that never reads again must still
    // get its messages out.
    ws.send("publish 0").unwrap();
    ws.send_uncompressed("publish 1").unwrap();
    ws.send_prepared(&wsx_blocking::PreparedMessage::text("publish 2")).unwrap();
    let (published, _server_ws) = server.join().unwrap();
    assert_eq!(published, ["publish 0", "publish 1", "publish 2"].map(Message::from));
    assert_eq!(ws.recv().unwrap().unwrap(), Message::from("two"));
}

#[test]
fn a_read_timeout_leaves_the_connection_usable() {
    let (go, wait) = mpsc::channel::<()>();
    let (url, server) = server(Config::default(), move |mut ws| {
        wait.recv().unwrap();
        ws.send("late but whole").unwrap();
        echo(ws)
    });
    let (mut ws, _) = wsx_blocking::connect(&url).unwrap();
    ws.set_read_timeout(Some(Duration::from_millis(150)));
    let started = Instant::now();
    let error = ws.recv().unwrap().unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(error, Error::Timeout { kind: TimeoutKind::Read, .. }), "{error:?}");
    assert!(error.is_retryable_timeout());
    assert!(waited >= Duration::from_millis(150) && waited < Duration::from_secs(2), "{waited:?}");
    assert!(ws.is_open());
    // A second timeout, then the message, then the connection works as before.
    assert!(matches!(ws.recv(), Some(Err(Error::Timeout { kind: TimeoutKind::Read, .. }))));
    go.send(()).unwrap();
    assert_eq!(ws.recv().unwrap().unwrap(), Message::from("late but whole"));
    ws.send("still here").unwrap();
    assert_eq!(ws.recv().unwrap().unwrap(), Message::from("still here"));
    assert!(ws.close(CloseCode::NORMAL, "").unwrap().is_clean());
    server.join().unwrap();
}

#[test]
fn a_write_timeout_keeps_the_rest_queued() {
    let (go, wait) = mpsc::channel::<()>();
    let (url, server) = server(Config::default().max_message_size(64 << 20), move |mut ws| {
        // Not reading until told: the client's writes stall.
        wait.recv().unwrap();
        let mut received = Vec::new();
        while let Some(Ok(message)) = ws.recv() {
            if let Message::Binary(data) = message {
                received.push(data);
            }
        }
        received
    });
    let (mut ws, _) = wsx_blocking::connect(&url).unwrap();
    ws.set_write_timeout(Some(Duration::from_millis(200))).unwrap();
    let message = |i: u8| vec![i; 1 << 20];
    let mut sent = 0_u8;
    let error = loop {
        match ws.send(message(sent)) {
            Ok(()) => sent += 1,
            Err(error) => break error,
        }
        assert!(sent < 64, "the peer's buffers never filled");
    };
    assert!(matches!(error, Error::Timeout { kind: TimeoutKind::Write, .. }), "{error:?}");
    assert!(ws.buffered_amount() > 0);
    assert!(ws.is_open());
    go.send(()).unwrap();
    ws.set_write_timeout(None).unwrap();
    ws.flush().unwrap();
    ws.send(message(sent + 1)).unwrap();
    assert!(ws.close(CloseCode::NORMAL, "").unwrap().is_clean());
    let received = server.join().unwrap();
    // Every message arrived whole and in order, the one that timed out too.
    assert_eq!(received.len(), usize::from(sent) + 2);
    for (i, data) in received.iter().enumerate() {
        let expected = if i == usize::from(sent) + 1 { sent + 1 } else { u8::try_from(i).unwrap() };
        assert_eq!(&data[..], &message(expected)[..], "message {i}");
    }
}

#[test]
fn keepalive_ends_a_silent_peer() {
    // A peer that never reads never answers pings.
    let (hold, release) = mpsc::channel::<()>();
    let (url, server) = server(Config::default(), move |ws| {
        let _ = release.recv();
        drop(ws);
    });
    let keepalive = Keepalive::default().interval(Duration::from_millis(100)).timeout(Duration::from_millis(200));
    let config = Config::default().keepalive(Some(keepalive));
    let (mut ws, _) = wsx_blocking::ClientBuilder::new(&url).config(config).connect().unwrap();
    let started = Instant::now();
    let error = ws.recv().unwrap().unwrap_err();
    assert!(matches!(error, Error::Timeout { kind: TimeoutKind::Keepalive, .. }), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert!(ws.recv().is_none());
    hold.send(()).unwrap();
    server.join().unwrap();
}

#[test]
fn keepalive_pings_are_answered_while_recv_waits() {
    let (url, server) = server(Config::default(), echo);
    let keepalive = Keepalive::default().interval(Duration::from_millis(50)).timeout(Duration::from_millis(500));
    let config = Config::default().keepalive(Some(keepalive));
    let (mut ws, _) = wsx_blocking::ClientBuilder::new(&url).config(config).connect().unwrap();
    ws.set_read_timeout(Some(Duration::from_millis(100)));
    let started = Instant::now();
    let mut pongs = 0;
    while started.elapsed() < Duration::from_millis(400) {
        match ws.recv() {
            Some(Ok(Message::Pong(_))) => pongs += 1,
            Some(Err(Error::Timeout { kind: TimeoutKind::Read, .. })) => {}
            other => panic!("unexpected {other:?} after {pongs} pongs"),
        }
    }
    assert!(pongs >= 3, "{pongs} pongs in 400 ms at one ping per 50 ms");
    assert!(ws.close(CloseCode::NORMAL, "").unwrap().is_clean());
    server.join().unwrap();
}

#[test]
fn close_has_a_deadline() {
    let (hold, release) = mpsc::channel::<()>();
    let (url, server) = server(Config::default(), move |ws| {
        let _ = release.recv();
        drop(ws);
    });
    let config = Config::default().close_timeout(Duration::from_millis(300));
    let (mut ws, _) = wsx_blocking::ClientBuilder::new(&url).config(config).connect().unwrap();
    let started = Instant::now();
    let error = ws.close(CloseCode::NORMAL, "").unwrap_err();
    assert!(matches!(error, Error::Timeout { kind: TimeoutKind::Close, .. }), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    hold.send(()).unwrap();
    server.join().unwrap();
}

/// The split halves: one thread sends a stream of messages of many sizes
/// while the other receives the echoes and answers the server's pings.
/// The server pings after every echo and checks every frame strictly: a
/// Pong written inside another frame would fail it. Pongs may be fewer
/// than pings (a newer Ping replaces an unsent Pong, RFC 6455 §5.5.3), but
/// they come in order and the last Ping is answered.
#[test]
fn split_halves_never_interleave_or_lose_replies() {
    const MESSAGES: usize = 300;
    let (url, server) = server(Config::default().max_message_size(8 << 20), |mut ws| {
        let (mut pings, mut last_pong) = (0_u64, None);
        while let Some(message) = ws.recv() {
            match message.unwrap() {
                Message::Pong(payload) => {
                    let pong = u64::from_be_bytes(payload[..].try_into().unwrap());
                    assert!(
                        last_pong.is_none_or(|last| pong > last) && pong < pings,
                        "pong {pong} after {last_pong:?}"
                    );
                    last_pong = Some(pong);
                }
                message if message.is_binary() => {
                    ws.send(message).unwrap();
                    ws.ping(bytes::Bytes::copy_from_slice(&pings.to_be_bytes())).unwrap();
                    pings += 1;
                }
                _ => {}
            }
        }
        (pings, last_pong)
    });
    let config = Config::default().max_message_size(8 << 20);
    let (ws, _) = wsx_blocking::ClientBuilder::new(&url).config(config).connect().unwrap();
    let (mut reader, mut writer) = ws.split().unwrap();
    let size = |i: usize| (i * 7919) % (300 << 10) + 1;
    let sender = thread::spawn(move || {
        for i in 0..MESSAGES {
            writer.send(vec![u8::try_from(i % 251).unwrap(); size(i)]).unwrap();
        }
        writer
    });
    let mut echoed = 0;
    let mut pings = 0;
    // Every echo, and the ping after it (answered before `recv` returns it).
    while echoed < MESSAGES || pings < MESSAGES {
        match reader.recv().unwrap().unwrap() {
            Message::Binary(data) => {
                assert_eq!(data.len(), size(echoed));
                assert!(data.iter().all(|&b| usize::from(b) == echoed % 251));
                echoed += 1;
            }
            Message::Ping(_) => pings += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    let mut writer = sender.join().unwrap();
    writer.close(CloseCode::NORMAL, "done").unwrap();
    while let Some(message) = reader.recv() {
        if let Message::Ping(_) = message.unwrap() {
            pings += 1;
        }
    }
    assert!(reader.close_outcome().unwrap().is_clean());
    let (server_pings, last_pong) = server.join().unwrap();
    assert_eq!(server_pings, u64::try_from(MESSAGES).unwrap());
    assert_eq!(last_pong, Some(server_pings - 1), "the last ping answered");
    assert_eq!(pings, MESSAGES);
}

#[test]
fn halves_reunite() {
    let (url, server) = server(Config::default(), echo);
    let (ws, _) = wsx_blocking::connect(&url).unwrap();
    let (mut reader, mut writer) = ws.split().unwrap();
    writer.send("through the halves").unwrap();
    assert_eq!(reader.recv().unwrap().unwrap(), Message::from("through the halves"));
    let mut ws = reader.reunite(writer).unwrap();
    ws.send("whole again").unwrap();
    assert_eq!(ws.recv().unwrap().unwrap(), Message::from("whole again"));
    assert!(ws.close(CloseCode::NORMAL, "").unwrap().is_clean());
    server.join().unwrap();
}

#[test]
fn policy_refuses_origins_and_picks_subprotocols() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = thread::spawn(move || {
        let policy = wsx_blocking::HandshakePolicy::default()
            .subprotocols(["v2", "v1"])
            .allowed_origins(wsx_blocking::AllowedOrigins::new(["https://app.example"]));
        let mut results = Vec::new();
        for _ in 0..2 {
            let (tcp, _) = listener.accept().unwrap();
            results.push(wsx_blocking::accept_with_policy(tcp, Config::default(), &policy).map(echo));
        }
        results
    });
    let (mut ws, _) = wsx_blocking::ClientBuilder::new(&url)
        .origin("https://app.example")
        .subprotocol("v1")
        .subprotocol("v2")
        .connect()
        .unwrap();
    assert_eq!(ws.negotiated().subprotocol.as_deref(), Some("v1"));
    ws.close(CloseCode::NORMAL, "").unwrap();
    let error = wsx_blocking::ClientBuilder::new(&url).origin("https://evil.example").connect().unwrap_err();
    let Error::Handshake(error) = error else { panic!("{error:?}") };
    assert!(error.to_string().contains("403"), "{error}");
    let results = server.join().unwrap();
    assert!(results[0].is_ok());
    assert!(matches!(results[1], Err(Error::Rejected { status }) if status == 403));
}
