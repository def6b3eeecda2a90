//! WebSocket over HTTP/2 (RFC 8441) against independent implementations:
//! Python `h2` + `wsproto` as a client of `wsx serve` (several sockets on
//! one connection, TLS and prior knowledge, permessage-deflate, and the
//! hostile probes), and `wsx connect --http2` against hypercorn.

#![allow(clippy::unwrap_used, reason = "test helpers: a failure should panic")]

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use support::Node;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn python() -> PathBuf {
    let python = std::env::var_os("WSX_PYTHON").map(PathBuf::from).unwrap_or_else(|| root().join(".venv/bin/python"));
    assert!(python.exists(), "{} not found: run `bash scripts/setup-venv.sh` first", python.display());
    python
}

/// Runs `h2_ws_client.py ARGS`; returns its JSON lines and whether it passed.
fn h2_client(args: &[&str]) -> (Vec<Value>, bool) {
    let output = Command::new(python())
        .arg(root().join("interop/python/h2_ws_client.py"))
        .args(args)
        .output()
        .expect("h2_ws_client.py runs");
    let lines =
        String::from_utf8_lossy(&output.stdout).lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    if !output.status.success() {
        eprintln!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    }
    (lines, output.status.success())
}

/// A certificate for localhost, written to files; returns (cert, key, dir).
fn certificate(name: &str) -> (String, String) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("h2-interop-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    (cert.to_str().unwrap().to_owned(), key.to_str().unwrap().to_owned())
}

fn summary(lines: &[Value]) -> Value {
    lines.iter().find_map(|line| line.get("summary").cloned()).unwrap_or(Value::Null)
}

#[test]
fn python_h2_and_wsproto_against_wsx_serve() {
    // Prior knowledge: four sockets on one connection, each with text,
    // 100 KB of binary (past the default window), a fragmented message, a
    // ping and a close; then the same with permessage-deflate.
    let server = Node::start(&[]);
    let url = format!("ws://{}/echo", server.address);
    for extra in [&[][..], &["--deflate"][..]] {
        let mut args = vec!["--url", &url, "--h2c", "--sockets", "4"];
        args.extend_from_slice(extra);
        let (lines, ok) = h2_client(&args);
        assert!(ok, "{extra:?}: {lines:?}");
        assert_eq!(summary(&lines)["ok"], 4, "{lines:?}");
        let closes: Vec<&Value> = lines.iter().filter_map(|l| l.get("closed")).collect();
        assert_eq!(closes.len(), 4);
        assert!(closes.iter().all(|c| c["end_stream"] == true), "wsx ends each stream: {closes:?}");
    }
    // A server-initiated close (the server's 1000 after the client asks).
    // TLS with ALPN h2, a subprotocol, a large message.
    let (cert, key) = certificate("serve");
    let tls = Node::start(&["--tls-cert", &cert, "--tls-key", &key, "--subprotocol", "chat"]);
    let port = tls.address.rsplit(':').next().unwrap().to_owned();
    let url = format!("wss://localhost:{port}/echo");
    let (lines, ok) =
        h2_client(&["--url", &url, "--ca", &cert, "--sockets", "3", "--subprotocol", "chat", "--size", "1000000"]);
    assert!(ok, "{lines:?}");
    assert!(lines.iter().any(|l| l["connected"]["alpn"] == "h2"), "{lines:?}");
    let responses: Vec<&Value> = lines.iter().filter_map(|l| l.get("response")).collect();
    assert_eq!(responses.len(), 3);
    for response in responses {
        assert_eq!(response["status"], 200);
        assert_eq!(response["headers"]["sec-websocket-protocol"], "chat");
    }
    // Both servers counted the sockets as h2.
    assert_eq!(server.log_count("transport=\"h2\""), 8, "{}", server.log());
}

#[test]
fn hostile_http2_probes_get_bounded_answers() {
    let server = Node::start(&[]);
    let url = format!("ws://{}/echo", server.address);
    let (lines, ok) = h2_client(&["--url", &url, "--h2c", "--probe", "all"]);
    let probes: Vec<&Value> = lines.iter().filter(|l| l.get("probe").is_some()).collect();
    for probe in &probes {
        eprintln!("probe {} -> {} {}", probe["probe"], probe["verdict"], probe["answers"]);
    }
    assert!(ok, "{lines:?}");
    assert!(probes.len() >= 9, "{lines:?}");
    assert!(probes.iter().all(|p| p["verdict"] == "pass"), "{probes:?}");
    // And the server still serves.
    let (lines, ok) = h2_client(&["--url", &url, "--h2c", "--sockets", "2"]);
    assert!(ok, "{lines:?}");
}

/// `hypercorn_echo.py` on a free port; killed on drop.
struct Hypercorn(Child, u16);

impl Drop for Hypercorn {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn hypercorn(args: &[&str]) -> Hypercorn {
    let mut child = Command::new(python())
        .arg(root().join("interop/python/hypercorn_echo.py"))
        .args(["--port", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("hypercorn_echo.py starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    // It reports every message on stdout: keep the pipe drained and open.
    std::thread::spawn(move || for _ in stdout.lines().map_while(Result::ok) {});
    let ready: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{line:?}"));
    let port = ready["listening"].as_u64().unwrap() as u16;
    Hypercorn(child, port)
}

#[test]
fn wsx_connect_over_http2_to_hypercorn() {
    let wsx = env!("CARGO_BIN_EXE_wsx");
    let (cert, key) = certificate("hypercorn");
    for (server, url, extra) in [
        (hypercorn(&[]), "ws", vec!["--http2"]),
        (hypercorn(&["--cert", &cert, "--key", &key]), "wss", vec!["--http2", "--ca", &cert]),
        (hypercorn(&["--cert", &cert, "--key", &key]), "wss", vec!["--http", "auto", "--ca", &cert]),
    ] {
        let host = if url == "wss" { "localhost" } else { "127.0.0.1" };
        let target = format!("{url}://{host}:{}/echo", server.1);
        let mut command = Command::new(wsx);
        command.arg("connect").arg("-v").args(&extra).arg(&target).args(["-x", "hello hypercorn", "-x", "ünïcode"]);
        let output = command.output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{target} {extra:?}: {stderr}");
        assert_eq!(stdout, "hello hypercorn\nünïcode\n", "{stderr}");
        assert!(stderr.contains("transport: HTTP/2 extended CONNECT"), "{stderr}");
        assert!(stderr.contains("extensions: permessage-deflate"), "{stderr}");
    }
    // A refusal by hypercorn (403) is a handshake failure, status 5.
    let server = hypercorn(&[]);
    let output = Command::new(wsx)
        .args(["connect", "--http2", &format!("ws://127.0.0.1:{}/refuse", server.1)])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(5), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("403"));
}
