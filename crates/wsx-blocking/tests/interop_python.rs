//! Interop with Python `websockets` (the pinned peers in interop/python),
//! both ways, plain and over TLS: the blocking client against its echo
//! server and its TLS server, and its scripted and TLS clients against the
//! blocking server. Certificates come from `trustme` in the same venv.

#![allow(clippy::unwrap_used, reason = "tests: a failure should panic")]
#![allow(clippy::result_large_err, reason = "accept_with refuses with a whole response, as wsx::accept_with does")]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};
use wsx_blocking::{CloseCode, Config, DeflateConfig, Message, TlsConnector};

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's Python; the interop peers are not optional.
fn python() -> Command {
    let python =
        std::env::var_os("WSX_PYTHON").map(PathBuf::from).unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(python.exists(), "{} not found: run `bash scripts/setup-venv.sh` first", python.display());
    Command::new(python)
}

/// A Python peer, killed on drop, whose stdout is read line by line as JSON.
struct Peer {
    child: Child,
    lines: BufReader<ChildStdout>,
}

impl Peer {
    fn start(script: &str, args: &[&str]) -> Self {
        let mut child = python()
            .arg(workspace_root().join("interop/python").join(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap());
        Self { child, lines }
    }

    fn line(&mut self) -> Value {
        let mut line = String::new();
        self.lines.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("peer printed {line:?}: {e}"))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA and a certificate for `localhost` from trustme, in a temporary folder.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("wsx-blocking-pki-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let status = python()
            .arg("-c")
            .arg(
                "import sys, trustme; ca = trustme.CA(); leaf = ca.issue_cert('localhost'); \
                 ca.cert_pem.write_to_path(sys.argv[1] + '/ca.pem'); \
                 leaf.private_key_and_cert_chain_pem.write_to_path(sys.argv[1] + '/leaf.pem')",
            )
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success());
        Self { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }

    fn connector(&self) -> TlsConnector {
        TlsConnector::new().root_certificates_pem(&std::fs::read(self.path("ca.pem")).unwrap()).unwrap()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn blocking_client_against_websockets_server() {
    let mut server = Peer::start("ws_echo_server.py", &["--port", "0", "--deflate", "", "--once"]);
    let port = server.line()["listening"].as_u64().unwrap();
    let config = Config::default().compression(DeflateConfig::default());
    let (mut ws, _) =
        wsx_blocking::ClientBuilder::new(&format!("ws://127.0.0.1:{port}/echo")).config(config).connect().unwrap();
    assert!(ws.negotiated().deflate.is_some());
    assert!(server.line()["extensions"].as_str().unwrap().starts_with("permessage-deflate"));
    let messages = [
        Message::from("héllo from the blocking client"),
        Message::from((0..100_000).map(|i| u8::try_from(i % 251).unwrap()).collect::<Vec<u8>>()),
        Message::from("x".repeat(70_000)),
    ];
    for message in messages {
        ws.send(message.clone()).unwrap();
        assert_eq!(ws.recv().unwrap().unwrap(), message);
        let seen = server.line();
        assert_eq!(seen["kind"], if message.is_text() { "text" } else { "binary" });
        assert_eq!(seen["len"], message.len());
    }
    ws.ping(&b"ping from blocking"[..]).unwrap();
    assert_eq!(ws.recv().unwrap().unwrap(), Message::Pong(bytes::Bytes::from_static(b"ping from blocking")));
    let outcome = ws.close(CloseCode::NORMAL, "bye").unwrap();
    assert!(outcome.is_clean(), "{outcome:?}");
    assert_eq!(
        server.line()["closed"],
        json!({"code": 1000, "reason": "bye", "sent": {"code": 1000, "reason": "bye"}, "initiator": "client"})
    );
}

#[test]
fn websockets_client_against_blocking_server() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let config = Config::default().compression(DeflateConfig::default());
        let mut ws = wsx_blocking::accept_with(tcp, config, |request, offer| {
            assert_eq!(request.uri().path(), "/echo");
            let chosen = offer.subprotocols.first().cloned();
            Ok(chosen.map_or_else(wsx_blocking::Accept::default, |p| wsx_blocking::Accept::default().subprotocol(p)))
        })
        .unwrap();
        let mut echoed = 0;
        while let Some(message) = ws.recv() {
            let message = message.unwrap();
            if message.is_text() || message.is_binary() {
                ws.send(message).unwrap();
                echoed += 1;
            }
        }
        (echoed, ws.close_outcome().cloned().unwrap())
    });
    let script = json!([
        {"op": "send", "kind": "text", "data": "héllo from websockets"},
        {"op": "send", "kind": "binary", "size": 70000, "fragments": 5},
        {"op": "send", "kind": "text", "size": 200000},
        {"op": "ping", "data": "are you there"},
        {"op": "close", "code": 1000, "reason": "done", "expect_code": 1000}
    ]);
    let mut client = Peer::start(
        "ws_client.py",
        &["--url", &format!("ws://127.0.0.1:{port}/echo"), "--script", "-", "--deflate", ""],
    );
    let mut stdin = client.child.stdin.take().unwrap();
    stdin.write_all(script.to_string().as_bytes()).unwrap();
    drop(stdin);
    let connected = client.line();
    assert!(connected["extensions"].as_str().unwrap().starts_with("permessage-deflate"), "{connected}");
    let mut last = Value::Null;
    let mut matches = 0;
    while last.get("ok").is_none() {
        last = client.line();
        if last["match"] == true {
            matches += 1;
        }
    }
    assert_eq!(last, json!({"ok": true}));
    assert_eq!(matches, 3);
    let (echoed, outcome) = server.join().unwrap();
    assert_eq!(echoed, 3);
    assert!(outcome.is_clean(), "{outcome:?}");
    assert_eq!(outcome.reason(), "done");
}

#[test]
fn blocking_client_against_websockets_tls_server() {
    let pki = Pki::new("client");
    let (cert, key) = (pki.path("leaf.pem"), pki.path("leaf.pem"));
    let mut server = Peer::start("tls_peer.py", &["server", "--cert", &cert, "--key", &key, "--subprotocol", "b.v1"]);
    let port = server.line()["port"].as_u64().unwrap();
    let (mut ws, _) = wsx_blocking::ClientBuilder::new(&format!("wss://localhost:{port}/echo"))
        .tls(pki.connector())
        .subprotocol("a.v1")
        .subprotocol("b.v1")
        .connect()
        .unwrap();
    assert!(ws.get_ref().is_tls());
    assert_eq!(ws.negotiated().subprotocol.as_deref(), Some("b.v1"));
    for message in [Message::from("blocking over TLS to websockets"), Message::from("y".repeat(70_000))] {
        ws.send(message.clone()).unwrap();
        assert_eq!(ws.recv().unwrap().unwrap(), message);
    }
    assert!(ws.close(CloseCode::NORMAL, "").unwrap().is_clean());
    // The certificate is for "localhost", not "127.0.0.1".
    let error = wsx_blocking::ClientBuilder::new(&format!("wss://127.0.0.1:{port}/"))
        .tls(pki.connector())
        .connect()
        .unwrap_err();
    assert!(matches!(error, wsx_blocking::Error::Tls(wsx_blocking::TlsError::WrongHostName { .. })), "{error:?}");
    // And a client that does not trust its CA refuses it.
    let error = wsx_blocking::connect(&format!("wss://localhost:{port}/")).unwrap_err();
    assert!(matches!(error, wsx_blocking::Error::Tls(wsx_blocking::TlsError::UnknownIssuer)), "{error:?}");
}

#[test]
fn websockets_tls_client_against_blocking_server() {
    let pki = Pki::new("server");
    let leaf = std::fs::read(pki.path("leaf.pem")).unwrap();
    let acceptor = wsx_blocking::TlsAcceptor::from_pem(&leaf, &leaf).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = thread::spawn(move || {
        let policy = wsx_blocking::HandshakePolicy::default()
            .subprotocols(["v2", "v1"])
            .allowed_origins(wsx_blocking::AllowedOrigins::new(["https://app.example"]));
        let mut results = Vec::new();
        for _ in 0..2 {
            let (tcp, _) = listener.accept().unwrap();
            let tls = wsx_blocking::accept_tls(&acceptor, tcp, Duration::from_secs(10)).unwrap();
            let accepted = wsx_blocking::accept_with_policy(tls, Config::default(), &policy);
            results.push(accepted.map(|mut ws| {
                while let Some(Ok(message)) = ws.recv() {
                    if message.is_text() && ws.send(message).is_err() {
                        break;
                    }
                }
            }));
        }
        results
    });
    let url = format!("wss://localhost:{port}/echo");
    let ca = pki.path("ca.pem");
    let base = ["client", "--url", url.as_str(), "--ca", ca.as_str()];
    let allowed =
        [&base[..], &["--origin", "https://app.example", "--subprotocol", "v1", "--subprotocol", "v2"]].concat();
    let out = Peer::start("tls_peer.py", &allowed).line();
    assert_eq!(out["echo"], "hello over TLS", "{out}");
    // The first of the client's list that the server speaks.
    assert_eq!(out["subprotocol"], "v1", "{out}");
    assert_eq!(out["alpn"], "http/1.1", "{out}");
    let refused = [&base[..], &["--origin", "https://evil.example"]].concat();
    let out = Peer::start("tls_peer.py", &refused).line();
    assert_eq!(out["status"], 403, "{out}");
    let results = server.join().unwrap();
    assert!(results[0].is_ok());
    assert!(matches!(results[1], Err(wsx_blocking::Error::Rejected { status }) if status == 403));
}
