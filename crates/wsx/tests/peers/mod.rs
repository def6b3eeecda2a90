//! Shared by the interop tests (`interop_python.rs`, and the
//! permessage-deflate ones: `interop_deflate.rs` for Python `websockets`,
//! `interop_node.rs` for Node `ws`): the real peers as child processes
//! speaking JSON lines, a wsx echo server that logs what it
//! saw, and the scenarios both peers go through in both directions.

#![allow(dead_code, reason = "each test binary uses part of the shared helpers")]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use sha2::{Digest, Sha256};
use wsx::{CloseCode, Config, DeflateConfig, Message};

/// Which real peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PeerKind {
    /// Python `websockets` (interop/python, installed in .venv).
    Python,
    /// Node `ws` 8 (interop/node, installed by `npm ci`).
    Node,
}

pub(crate) fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl PeerKind {
    /// The interpreter; the peers are not optional, so a missing one is a
    /// failure naming the command that installs it.
    fn program(self) -> PathBuf {
        match self {
            PeerKind::Python => {
                let python = std::env::var_os("WSX_PYTHON")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
                assert!(python.exists(), "{} not found: run `bash scripts/setup-venv.sh` first", python.display());
                python
            }
            PeerKind::Node => {
                let ws = workspace_root().join("interop/node/node_modules/ws/package.json");
                assert!(
                    ws.exists(),
                    "Node `ws` not installed: run `npm ci` in interop/node (needs node and npm: apt-get install nodejs npm)"
                );
                PathBuf::from("node")
            }
        }
    }

    fn script(self, name: &str) -> PathBuf {
        match self {
            PeerKind::Python => workspace_root().join("interop/python").join(format!("{name}.py")),
            PeerKind::Node => workspace_root().join("interop/node").join(format!("{name}.js")),
        }
    }
}

/// A child process killed on drop, with its stdout read line by line as JSON.
pub(crate) struct Peer {
    child: Child,
    lines: BufReader<ChildStdout>,
}

impl Peer {
    pub(crate) fn spawn(kind: PeerKind, script: &str, args: &[&str]) -> Self {
        let mut child = Command::new(kind.program())
            .arg(kind.script(script))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{kind:?} peer {script} does not start ({e}); is it installed?"));
        let lines = BufReader::new(child.stdout.take().expect("piped stdout"));
        Self { child, lines }
    }

    /// The next JSON line (blocking; the peers bound every wait themselves).
    pub(crate) fn next(&mut self) -> Value {
        let mut line = String::new();
        let read = self.lines.read_line(&mut line).expect("peer output readable");
        assert!(read > 0, "the peer ended its output early");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("peer printed non-JSON {line:?}: {e}"))
    }

    /// Every remaining line, until the peer exits.
    pub(crate) fn rest(&mut self) -> Vec<Value> {
        let mut all = Vec::new();
        let mut line = String::new();
        while self.lines.read_line(&mut line).expect("readable") > 0 {
            all.push(serde_json::from_str(&line).expect("JSON line"));
            line.clear();
        }
        all
    }

    pub(crate) fn wait_success(&mut self) -> bool {
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

/// The JSON-like corpus of the deflate benchmark, one message per line.
pub(crate) fn corpus_lines() -> Vec<String> {
    let corpus = include_str!("../../../wsx-proto/benches/data/corpus.json");
    corpus.lines().take(300).map(str::to_owned).collect()
}

/// A peer echo server with permessage-deflate `options` (RFC 7692
/// parameter list, see interop/*/deflate_options.*); its port and the
/// `Sec-WebSocket-Extensions` it answered are read by the caller.
pub(crate) async fn start_echo_server(kind: PeerKind, options: &str) -> (Peer, u16) {
    let args = ["--port", "0", "--once", "--deflate", options];
    let mut peer = tokio::task::block_in_place(|| Peer::spawn(kind, "ws_echo_server", &args));
    let ready = tokio::task::block_in_place(|| peer.next());
    let port = ready["listening"].as_u64().expect("listening line") as u16;
    (peer, port)
}

pub(crate) fn base_config() -> Config {
    Config::default().max_message_size(32 << 20).max_fragments(1 << 20).keepalive(None)
}

/// The wsx client against a peer server: messages of every kind and size,
/// context carried across messages, fragmented sends, pings; every echo
/// equal, and the peer's account of the bytes equal to ours. Returns the
/// agreed parameters and the peer's `Sec-WebSocket-Extensions`.
pub(crate) async fn wsx_client_round(
    kind: PeerKind,
    server_options: &str,
    ours: DeflateConfig,
    fragment_size: Option<usize>,
) -> (wsx::proto::extension::DeflateParams, String) {
    let (mut server, port) = start_echo_server(kind, server_options).await;
    let config = base_config().compression(ours);
    let config = config.clone().protocol(config.get_protocol().clone().fragment_size(fragment_size));
    let url = format!("ws://127.0.0.1:{port}/");
    let (mut ws, _) = wsx::ClientBuilder::new(&url).config(config).connect().await.expect("handshake");
    let agreed = ws.negotiated().deflate.expect("permessage-deflate agreed");
    let extensions = tokio::task::block_in_place(|| server.next());
    let extensions = extensions["extensions"].as_str().expect("an extensions line").to_owned();
    let mut sent: Vec<Message> = corpus_lines().into_iter().map(Message::text).collect();
    sent.push(Message::text("κόσμε – wsx 😀 ".repeat(20_000)));
    sent.push(Message::binary((0..300_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>()));
    sent.push(Message::binary(Bytes::new()));
    sent.push(Message::text(""));
    sent.push(Message::text("x"));
    for message in &sent {
        ws.send(message.clone()).await.expect("send");
        let echo = ws.recv().await.expect("an echo").expect("no error");
        assert_eq!(&echo, message, "{kind:?} echo of a {}-byte message ({server_options:?})", message.len());
    }
    ws.send(Message::Ping(Bytes::from_static(b"ping"))).await.expect("ping");
    assert_eq!(ws.recv().await.expect("pong").expect("ok"), Message::Pong(Bytes::from_static(b"ping")));
    let outcome = ws.close(CloseCode::NORMAL, "done").await.expect("close");
    assert!(outcome.is_clean(), "{outcome:?}");
    let report = tokio::task::block_in_place(|| server.rest());
    let seen: Vec<&Value> = report.iter().filter(|l| l.get("kind").is_some()).collect();
    assert_eq!(seen.len(), sent.len());
    for (line, message) in seen.iter().zip(&sent) {
        assert_eq!(line["len"].as_u64(), Some(message.len() as u64));
        assert_eq!(line["sha256"].as_str(), Some(sha256_hex(&message.payload()).as_str()));
    }
    (agreed, extensions)
}

/// What the wsx server saw of one connection.
#[derive(Debug, Default, Clone)]
pub(crate) struct ServerLog {
    pub(crate) deflate: Option<wsx::proto::extension::DeflateParams>,
    pub(crate) messages: Vec<(usize, String)>,
    pub(crate) close: Option<u16>,
}

/// A wsx echo server with `config`; returns the port and the log of each
/// connection.
pub(crate) async fn start_wsx_server(config: Config) -> (u16, Arc<Mutex<Vec<ServerLog>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let logs = Arc::new(Mutex::new(Vec::new()));
    let shared = logs.clone();
    tokio::spawn(wsx::serve(listener, config, move |incoming| {
        let logs = shared.clone();
        async move {
            let mut ws = incoming.accept().await.expect("a valid handshake");
            let mut log = ServerLog { deflate: ws.negotiated().deflate, ..ServerLog::default() };
            while let Some(message) = ws.recv().await {
                let message = message.expect("no protocol error from the peer");
                match &message {
                    Message::Text(_) | Message::Binary(_) => {
                        log.messages.push((message.len(), sha256_hex(&message.payload())));
                        ws.send(message).await.expect("echo");
                    }
                    Message::Close(frame) => log.close = frame.as_ref().map(|f| f.code.as_u16()),
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
            logs.lock().expect("log lock").push(log);
        }
    }));
    (port, logs)
}

/// A peer's scripted client (interop/python/cases/`case`) against a wsx
/// server with `ours`; every echo must match, and the server must have seen
/// the same bytes. Returns the client's lines and the server's log.
pub(crate) async fn peer_client_round(
    kind: PeerKind,
    client_options: &str,
    ours: DeflateConfig,
    case: &str,
) -> (Vec<Value>, ServerLog) {
    let (port, logs) = start_wsx_server(base_config().compression(ours)).await;
    let url = format!("ws://127.0.0.1:{port}/echo");
    let case = workspace_root().join("interop/python/cases").join(case);
    let case = case.to_str().expect("UTF-8 path").to_owned();
    let args = ["--url", &url, "--script", &case, "--timeout", "60", "--deflate", client_options];
    let (lines, ok) = tokio::task::block_in_place(|| {
        let mut peer = Peer::spawn(kind, "ws_client", &args);
        let lines = peer.rest();
        (lines, peer.wait_success())
    });
    assert!(ok, "{kind:?} client ({client_options:?}) failed: {lines:#?}");
    let received: Vec<_> = lines.iter().filter(|l| l.get("received").is_some()).collect();
    assert!(!received.is_empty() && received.iter().all(|l| l["match"] == Value::Bool(true)), "{received:#?}");
    let mut log = None;
    for _ in 0..400 {
        if let Some(first) = logs.lock().expect("lock").first().cloned() {
            log = Some(first);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let log = log.expect("the wsx server finished the connection");
    let sent: Vec<&Value> = lines.iter().filter_map(|l| l.get("sent")).collect();
    assert_eq!(log.messages.len(), sent.len());
    for ((len, hash), sent) in log.messages.iter().zip(&sent) {
        assert_eq!(sent["len"].as_u64(), Some(*len as u64));
        assert_eq!(sent["sha256"].as_str(), Some(hash.as_str()));
    }
    (lines, log)
}

/// The `Sec-WebSocket-Extensions` a peer client saw (its "connected" line).
pub(crate) fn client_extensions(lines: &[Value]) -> String {
    let connected = lines.iter().find(|l| l.get("connected").is_some()).expect("a connected line");
    connected["extensions"].as_str().expect("extensions agreed").to_owned()
}

/// The interop tests, for one peer: the wsx client against the peer's
/// server with the peer's defaults, no context takeover (and fragmented
/// sends), reduced windows, and our own requests of the peer; the peer's
/// client against a wsx server likewise.
#[macro_export]
macro_rules! deflate_interop_tests {
    ($peer:expr) => {
        use wsx::DeflateConfig;
        use $crate::peers::{client_extensions, peer_client_round, wsx_client_round};
        fn ours() -> DeflateConfig {
            DeflateConfig::default().threshold(0)
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn wsx_client_with_the_peer_defaults() {
            let (agreed, extensions) = wsx_client_round($peer, "", ours(), None).await;
            assert!(extensions.starts_with("permessage-deflate"), "{extensions}");
            assert!(!agreed.server_no_context_takeover && !agreed.client_no_context_takeover);
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn wsx_client_without_context_takeover_fragmented() {
            let options = "server_no_context_takeover,client_no_context_takeover";
            let (agreed, _) = wsx_client_round($peer, options, ours(), Some(1000)).await;
            assert!(agreed.server_no_context_takeover && agreed.client_no_context_takeover, "{agreed:?}");
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn wsx_client_with_reduced_windows() {
            let options = "server_max_window_bits=10,client_max_window_bits=9";
            let (agreed, extensions) = wsx_client_round($peer, options, ours(), None).await;
            assert_eq!(
                (agreed.server_max_window_bits, agreed.client_max_window_bits),
                (Some(10), Some(9)),
                "{extensions}"
            );
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn wsx_client_asks_the_peer_for_limits() {
            let asks = ours().peer_no_context_takeover(true).peer_max_window_bits(Some(9)).no_context_takeover(true);
            let (agreed, extensions) = wsx_client_round($peer, "", asks, None).await;
            assert!(agreed.server_no_context_takeover, "{extensions}");
            assert_eq!(agreed.server_max_window_bits, Some(9), "{extensions}");
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn peer_client_with_its_defaults() {
            let (lines, log) = peer_client_round($peer, "", ours(), "compress.json").await;
            assert!(client_extensions(&lines).starts_with("permessage-deflate"));
            assert!(log.deflate.is_some());
            assert_eq!(log.close, Some(1000));
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn peer_client_without_context_takeover() {
            let options = "server_no_context_takeover,client_no_context_takeover";
            let (lines, log) = peer_client_round($peer, options, ours(), "basic.json").await;
            let agreed = log.deflate.expect("agreed");
            assert!(agreed.server_no_context_takeover, "{}", client_extensions(&lines));
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn peer_client_with_reduced_windows() {
            let options = "server_max_window_bits=10,client_max_window_bits";
            let (lines, log) =
                peer_client_round($peer, options, ours().peer_max_window_bits(Some(9)), "compress.json").await;
            let agreed = log.deflate.expect("agreed");
            assert_eq!((agreed.server_max_window_bits, agreed.client_max_window_bits), (Some(10), Some(9)));
            let extensions = client_extensions(&lines);
            assert!(
                extensions.contains("server_max_window_bits=10") && extensions.contains("client_max_window_bits=9"),
                "{extensions}"
            );
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn wsx_server_asks_the_peer_client_not_to_take_over_context() {
            let ask = ours().no_context_takeover(true).peer_no_context_takeover(true).window_bits(9);
            let (lines, log) = peer_client_round($peer, "", ask, "compress.json").await;
            let agreed = log.deflate.expect("agreed");
            assert!(
                agreed.server_no_context_takeover && agreed.client_no_context_takeover,
                "{}",
                client_extensions(&lines)
            );
        }
    };
}
