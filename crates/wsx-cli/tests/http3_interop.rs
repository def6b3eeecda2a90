//! WebSocket over HTTP/3 (RFC 9220) against an independent implementation:
//! aioquic (QUIC and HTTP/3) with wsproto (WebSocket frames) as a client of
//! `wsx serve --http3` — several sockets on one QUIC connection, text,
//! binary, fragmented messages, ping, permessage-deflate, a subprotocol,
//! close codes both ways — and `wsx connect --http3` against a small
//! aioquic server (interop/python/h3_ws_server.py).

#![allow(clippy::unwrap_used, reason = "test helpers: a failure should panic")]

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// Runs `h3_ws_client.py ARGS`; returns its JSON lines and whether it passed.
fn h3_client(args: &[&str]) -> (Vec<Value>, bool) {
    let output = Command::new(python())
        .arg(root().join("interop/python/h3_ws_client.py"))
        .args(args)
        .output()
        .expect("h3_ws_client.py runs");
    let lines =
        String::from_utf8_lossy(&output.stdout).lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    if !output.status.success() {
        eprintln!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    }
    (lines, output.status.success())
}

/// A self-signed certificate for localhost, written to files.
fn certificate(name: &str) -> (String, String) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("h3-interop-{name}"));
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

fn port_of(node: &Node) -> String {
    node.address.rsplit(':').next().unwrap().to_owned()
}

#[test]
fn aioquic_client_against_wsx_serve_http3() {
    let (cert, key) = certificate("serve");
    let server = Node::start(&["--tls-cert", &cert, "--tls-key", &key, "--http3", "--subprotocol", "chat"]);
    let url = format!("wss://localhost:{}/echo", port_of(&server));
    // Four sockets on one QUIC connection: text, 100 KB of binary, a
    // fragmented message, a ping and a close each; then with
    // permessage-deflate and 1 MB messages; then a subprotocol.
    for extra in [&[][..], &["--deflate", "--size", "1000000"][..], &["--subprotocol", "chat"][..]] {
        let mut args = vec!["--url", &url, "--ca", &cert, "--sockets", "4"];
        args.extend_from_slice(extra);
        let (lines, ok) = h3_client(&args);
        assert!(ok, "{extra:?}: {lines:?}");
        assert_eq!(summary(&lines)["ok"], 4, "{lines:?}");
        assert!(lines.iter().any(|l| l["connected"]["alpn"] == "h3"), "{lines:?}");
        let settings = lines.iter().find_map(|l| l.get("settings")).unwrap();
        assert_eq!(settings["ENABLE_CONNECT_PROTOCOL"], 1, "{settings}");
        assert_eq!(settings["QPACK_MAX_TABLE_CAPACITY"], 0, "{settings}");
        let closes: Vec<&Value> = lines.iter().filter_map(|l| l.get("closed")).collect();
        assert_eq!(closes.len(), 4);
        assert!(closes.iter().all(|c| c["fin"] == true && c["code"] == 1000), "wsx ends each stream: {closes:?}");
        let responses: Vec<&Value> = lines.iter().filter_map(|l| l.get("response")).collect();
        if extra.contains(&"--deflate") {
            assert!(responses.iter().all(|r| {
                r["headers"]["sec-websocket-extensions"].as_str().is_some_and(|e| e.starts_with("permessage-deflate"))
            }));
        }
        if extra.contains(&"--subprotocol") {
            assert!(responses.iter().all(|r| r["headers"]["sec-websocket-protocol"] == "chat"), "{responses:?}");
        }
    }
    // A close code of the client's own is echoed.
    let (lines, ok) = h3_client(&["--url", &url, "--ca", &cert, "--close-code", "4001", "--close-reason", "custom"]);
    assert!(ok, "{lines:?}");
    assert_eq!(lines.iter().find_map(|l| l.get("closed")).unwrap()["code"], 4001);
    assert_eq!(server.log_count("transport=\"h3\""), 13, "{}", server.log());
    // A server-side close: a command that exits 3 closes with 1011.
    let exec = Node::start(&["--tls-cert", &cert, "--tls-key", &key, "--http3", "--exec", "read line; exit 3"]);
    let url = format!("wss://localhost:{}/", port_of(&exec));
    let (lines, ok) =
        h3_client(&["--url", &url, "--ca", &cert, "--no-echo", "--server-close", "1011", "exit status 3"]);
    assert!(ok, "{lines:?}");
    let closed = lines.iter().find_map(|l| l.get("closed")).unwrap();
    assert_eq!((closed["code"].as_u64(), closed["reason"].as_str()), (Some(1011), Some("exit status 3")));
}

/// `h3_ws_server.py` on a free UDP port; killed on drop; its events kept.
struct Aioquic {
    child: Child,
    port: u16,
    events: Arc<Mutex<Vec<Value>>>,
}

impl Drop for Aioquic {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Aioquic {
    fn start(cert: &str, key: &str) -> Self {
        let mut child = Command::new(python())
            .arg(root().join("interop/python/h3_ws_server.py"))
            .args(["--cert", cert, "--key", key])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("h3_ws_server.py starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{line:?}"));
        let port = ready["listening"].as_u64().unwrap() as u16;
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str(&line) {
                    sink.lock().unwrap().push(event);
                }
            }
        });
        Self { child, port, events }
    }

    /// Waits until `count` events satisfy `matches`.
    fn wait_for(&self, count: usize, matches: impl Fn(&Value) -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.events.lock().unwrap().iter().filter(|e| matches(e)).count() >= count {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

#[test]
fn wsx_connect_over_http3_to_aioquic() {
    let wsx = env!("CARGO_BIN_EXE_wsx");
    let (cert, key) = certificate("aioquic");
    let server = Aioquic::start(&cert, &key);
    let base = format!("wss://localhost:{}", server.port);
    // Text (non-ASCII too), with permessage-deflate (wsx offers it, aioquic's
    // wsproto accepts), forced HTTP/3 and HTTP/3 with fallback alike.
    for mode in [&["--http3"][..], &["--http", "3"][..]] {
        let output = Command::new(wsx)
            .args(["connect", "-v", "--ca", &cert])
            .args(mode)
            .arg(format!("{base}/echo"))
            .args(["-x", "hello aioquic", "-x", "ünïcode ✓"])
            .output()
            .unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{mode:?}: {stderr}");
        assert_eq!(stdout, "hello aioquic\nünïcode ✓\n", "{stderr}");
        assert!(stderr.contains("transport: HTTP/3 extended CONNECT (QUIC)"), "{stderr}");
        assert!(stderr.contains("extensions: permessage-deflate"), "{stderr}");
    }
    // Binary, as read from stdin, and a ping: echoed.
    let mut child = Command::new(wsx)
        .args(["connect", "--http3", "--binary", "--show-binary", "hex", "--ca", &cert, &format!("{base}/echo")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&[0x00, 0xff, 0x10, 0x80]).unwrap();
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "00ff1080");
    // The server closes with 4003 after the first message: exit status 7,
    // the code printed.
    let output = Command::new(wsx)
        .args(["connect", "--http3", "--ca", &cert, &format!("{base}/close/4003"), "-x", "one"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(7), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("4003"));
    // Every WebSocket ended with a Close and the stream's FIN from wsx.
    assert!(server.wait_for(4, |e| e.get("closed").is_some()), "{:?}", server.events.lock().unwrap());
    assert!(server.wait_for(4, |e| e["fin"] == true), "{:?}", server.events.lock().unwrap());
    assert!(!server.events.lock().unwrap().iter().any(|e| e.get("reset").is_some()));
    // A refusal over HTTP/3 (501): forced, a handshake failure (status 5);
    // with the fallback, TCP is tried (nothing listens there: status 3).
    let refuse = format!("{base}/refuse");
    let forced = Command::new(wsx).args(["connect", "--http3", "--ca", &cert, &refuse]).output().unwrap();
    assert_eq!(forced.status.code(), Some(5), "{}", String::from_utf8_lossy(&forced.stderr));
    assert!(String::from_utf8_lossy(&forced.stderr).contains("501"));
    let fallback = Command::new(wsx).args(["connect", "--http", "3", "--ca", &cert, &refuse]).output().unwrap();
    assert_eq!(fallback.status.code(), Some(3), "{}", String::from_utf8_lossy(&fallback.stderr));
}
