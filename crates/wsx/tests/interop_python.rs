//! Interop with a real peer: Python `websockets` (pinned in
//! `interop/requirements.txt`, installed in `.venv` by `scripts/setup-venv.sh`).
//!
//! Both directions: the wsx client against a `websockets` echo server, and a
//! scripted `websockets` client against a wsx server. Each side reports what
//! it saw (lengths and SHA-256 of every payload, close codes and reasons) and
//! the tests compare both sides' accounts byte for byte.

mod peers;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use wsx::{CloseCode, Config, Message};

use peers::{Peer, PeerKind, sha256_hex, workspace_root};

/// The pattern the Python client uses for `"size": N` payloads.
fn pattern(binary: bool, size: usize) -> Vec<u8> {
    (0..size).map(|i| if binary { (i % 251) as u8 } else { 0x20 + (i % 95) as u8 }).collect()
}

fn big_config() -> Config {
    Config::default().max_message_size(32 << 20).max_fragments(1 << 20).keepalive(None)
}

async fn start_echo_server(extra: &[&str]) -> (Peer, u16) {
    let mut args = vec!["--port", "0", "--once"];
    args.extend_from_slice(extra);
    let mut peer = tokio::task::block_in_place(|| Peer::spawn(PeerKind::Python, "ws_echo_server", &args));
    let ready = tokio::task::block_in_place(|| peer.next());
    let port = ready["listening"].as_u64().expect("listening line") as u16;
    (peer, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wsx_client_against_websockets_server() {
    let (mut server, port) = start_echo_server(&[]).await;
    let url = format!("ws://127.0.0.1:{port}/");
    let (mut ws, response) =
        wsx::ClientBuilder::new(&url).config(big_config()).connect().await.expect("handshake with websockets");
    assert_eq!(response.status(), 101);

    let mut sent: Vec<Message> = vec![
        Message::text("hello"),
        Message::text("κόσμε – wsx 😀"),
        Message::text(""),
        Message::binary(Bytes::new()),
        Message::binary(vec![0x00, 0xff, 0x80, 0x7f, 0x0a, 0x0d]),
    ];
    for size in [125, 126, 65_535, 65_536, 16 << 20] {
        sent.push(Message::binary(pattern(true, size)));
    }
    sent.push(Message::text(String::from_utf8(pattern(false, 16 << 20)).expect("ASCII")));
    for message in &sent {
        ws.send(message.clone()).await.expect("send");
        let echo = ws.recv().await.expect("an echo").expect("no error");
        assert_eq!(&echo, message, "echo of a {}-byte message", message.len());
    }
    // Pings with payloads come back as Pongs with the same payload.
    for payload in [&b"are you there?"[..], b"", &[0u8; 125]] {
        ws.send(Message::Ping(Bytes::copy_from_slice(payload))).await.expect("ping");
        match ws.recv().await.expect("pong").expect("no error") {
            Message::Pong(data) => assert_eq!(&data[..], payload),
            other => panic!("expected a pong, got {other:?}"),
        }
    }
    let outcome = ws.close(CloseCode::from(4000), "client says bye").await.expect("close handshake");
    assert!(outcome.is_clean(), "{outcome:?}");
    assert_eq!(outcome.code().as_u16(), 4000, "websockets echoes our code");

    // The server's account: every message with the exact length and hash,
    // then our close code and reason.
    let report = tokio::task::block_in_place(|| server.rest());
    let (messages, closed): (Vec<_>, Vec<_>) = report.iter().partition(|line| line.get("kind").is_some());
    assert_eq!(messages.len(), sent.len());
    for (seen, message) in messages.iter().zip(&sent) {
        let kind = if message.is_text() { "text" } else { "binary" };
        assert_eq!(seen["kind"], kind);
        assert_eq!(seen["len"].as_u64(), Some(message.len() as u64));
        assert_eq!(seen["sha256"].as_str(), Some(sha256_hex(&message.payload()).as_str()));
    }
    let closed = &closed.first().expect("a closed line")["closed"];
    assert_eq!(closed["code"], 4000);
    assert_eq!(closed["reason"], "client says bye");
    assert_eq!(closed["initiator"], "client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wsx_client_sends_fragmented_messages_to_websockets() {
    let (mut server, port) = start_echo_server(&[]).await;
    let config =
        big_config().protocol(wsx::proto::Config::default().max_message_size(8 << 20).fragment_size(Some(1000)));
    let (mut ws, _) =
        wsx::ClientBuilder::new(&format!("ws://127.0.0.1:{port}/")).config(config).connect().await.expect("handshake");
    // Fragment boundaries fall inside multi-byte characters: the peer must
    // validate across them.
    let text = "ü€😀".repeat(3000);
    let binary = pattern(true, 1 << 20);
    for message in [Message::text(text.clone()), Message::binary(binary.clone())] {
        ws.send(message.clone()).await.expect("send");
        assert_eq!(ws.recv().await.expect("echo").expect("no error"), message);
    }
    ws.close(CloseCode::NORMAL, "").await.expect("close");
    let report = tokio::task::block_in_place(|| server.rest());
    assert_eq!(report[0]["sha256"].as_str(), Some(sha256_hex(text.as_bytes()).as_str()));
    assert_eq!(report[1]["sha256"].as_str(), Some(sha256_hex(&binary).as_str()));
    assert_eq!(report[2]["closed"]["code"], 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_server_initiates_the_close() {
    let (mut server, port) = start_echo_server(&["--close-after-first", "4001", "done here"]).await;
    let (mut ws, _) = wsx::ClientBuilder::new(&format!("ws://127.0.0.1:{port}/"))
        .config(big_config())
        .connect()
        .await
        .expect("handshake");
    ws.send("first").await.expect("send");
    assert_eq!(ws.recv().await.expect("echo").expect("ok"), Message::text("first"));
    ws.send("please close").await.expect("send");
    match ws.recv().await.expect("close").expect("ok") {
        Message::Close(Some(frame)) => {
            assert_eq!(frame.code.as_u16(), 4001);
            assert_eq!(frame.reason, "done here");
        }
        other => panic!("expected the server's Close, got {other:?}"),
    }
    assert!(ws.recv().await.is_none(), "the stream ends after the close");
    let outcome = ws.close_outcome().expect("closed").clone();
    assert!(outcome.is_clean());
    let report = tokio::task::block_in_place(|| server.rest());
    let closed = &report.last().expect("closed line")["closed"];
    assert_eq!(closed["initiator"], "server");
    assert_eq!(closed["code"], 4001, "our echo carries the server's code");
}

/// What the wsx server saw of one connection.
#[derive(Debug, Default, Clone)]
struct ServerLog {
    messages: Vec<(bool, usize, String)>,
    close: Option<(u16, String)>,
}

/// A wsx echo server; a text message "please close" makes it close with
/// 4001 "done here". Returns the port and the log of what it saw.
async fn start_wsx_server() -> (u16, Arc<Mutex<Vec<ServerLog>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let logs = Arc::new(Mutex::new(Vec::new()));
    let shared = logs.clone();
    tokio::spawn(wsx::serve(listener, big_config(), move |incoming| {
        let logs = shared.clone();
        async move {
            let mut ws = incoming.accept().await.expect("a valid handshake from websockets");
            let mut log = ServerLog::default();
            while let Some(message) = ws.recv().await {
                let message = message.expect("no protocol error from websockets");
                match &message {
                    Message::Text(text) if text == "please close" => {
                        log.messages.push((true, text.len(), sha256_hex(text.as_bytes())));
                        ws.close(CloseCode::from(4001), "done here").await.expect("close");
                        break;
                    }
                    Message::Text(_) | Message::Binary(_) => {
                        log.messages.push((message.is_text(), message.len(), sha256_hex(&message.payload())));
                        ws.send(message).await.expect("echo");
                    }
                    Message::Close(frame) => {
                        log.close = frame.as_ref().map(|f| (f.code.as_u16(), f.reason.to_string()));
                    }
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
            if let Some(outcome) = ws.close_outcome()
                && log.close.is_none()
            {
                log.close = Some((outcome.code().as_u16(), outcome.reason().to_string()));
            }
            logs.lock().expect("log lock").push(log);
        }
    }));
    (port, logs)
}

fn run_client_script(port: u16, case: &str) -> Vec<Value> {
    let cases = workspace_root().join("interop/python/cases").join(case);
    let url = format!("ws://127.0.0.1:{port}/echo");
    let mut peer = Peer::spawn(
        PeerKind::Python,
        "ws_client",
        &["--url", &url, "--script", cases.to_str().expect("UTF-8"), "--timeout", "60"],
    );
    let lines = peer.rest();
    assert!(peer.wait_success(), "ws_client.py {case} failed: {lines:#?}");
    assert_eq!(lines.last().map(|l| &l["ok"]), Some(&Value::Bool(true)));
    lines
}

async fn wait_for_log(logs: &Arc<Mutex<Vec<ServerLog>>>) -> ServerLog {
    for _ in 0..200 {
        if let Some(log) = logs.lock().expect("lock").first().cloned() {
            return log;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the wsx server never finished the connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_client_against_wsx_server_basic() {
    let (port, logs) = start_wsx_server().await;
    let lines = tokio::task::block_in_place(|| run_client_script(port, "basic.json"));
    // Every echo matched on the client's side…
    let received: Vec<_> = lines.iter().filter(|l| l.get("received").is_some()).collect();
    assert!(received.iter().all(|l| l["match"] == Value::Bool(true)), "{received:#?}");
    assert_eq!(received.len(), 11);
    // …and the pongs came back.
    assert_eq!(lines.iter().filter(|l| l.get("pong").is_some()).count(), 2);
    let closed = lines.iter().find_map(|l| l.get("closed")).expect("closed line");
    assert_eq!(closed["code"], 1000, "we echo the client's code");
    // Our side saw the same bytes, and the client's close code and reason.
    let log = wait_for_log(&logs).await;
    let sent: Vec<_> = lines.iter().filter_map(|l| l.get("sent")).collect();
    assert_eq!(log.messages.len(), sent.len());
    for ((text, len, hash), sent) in log.messages.iter().zip(&sent) {
        assert_eq!(sent["kind"], if *text { "text" } else { "binary" });
        assert_eq!(sent["len"].as_u64(), Some(*len as u64));
        assert_eq!(sent["sha256"].as_str(), Some(hash.as_str()));
    }
    assert_eq!(log.close, Some((1000, "bye".to_owned())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_client_against_wsx_server_large_and_fragmented() {
    let (port, logs) = start_wsx_server().await;
    let lines = tokio::task::block_in_place(|| run_client_script(port, "large.json"));
    let received: Vec<_> = lines.iter().filter(|l| l.get("received").is_some()).collect();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|l| l["match"] == Value::Bool(true)));
    let log = wait_for_log(&logs).await;
    assert_eq!(log.messages.iter().map(|m| m.1).collect::<Vec<_>>(), [16 << 20, 16 << 20, 4 << 20]);
    assert_eq!(log.messages[2].2, sha256_hex(&pattern(true, 4 << 20)));
    assert_eq!(log.close.map(|c| c.0), Some(1001));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wsx_server_initiates_the_close_to_websockets() {
    let (port, logs) = start_wsx_server().await;
    let lines = tokio::task::block_in_place(|| run_client_script(port, "server_close.json"));
    let closed = lines.iter().find_map(|l| l.get("closed")).expect("closed line");
    assert_eq!(closed["code"], 4001);
    assert_eq!(closed["reason"], "done here");
    let log = wait_for_log(&logs).await;
    assert_eq!(log.close.map(|c| c.0), Some(4001), "websockets echoed our code");
}
