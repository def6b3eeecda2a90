//! `wsx connect` as a process against real peers: Python `websockets`
//! (interop/python/cli_peer.py, which ends connections in chosen ways), a
//! plain HTTP server, and `wsx serve`. Each exit status has its test here
//! (TLS, 4, and a proxy that cannot be reached, 3, are in tls_proxy.rs).

#![allow(clippy::unwrap_used, reason = "test helpers: a failure should panic")]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

const WSX: &str = env!("CARGO_BIN_EXE_wsx");
const DEADLINE: Duration = Duration::from_secs(30);

fn python() -> PathBuf {
    let python = std::env::var_os("WSX_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"));
    assert!(python.exists(), "{} not found: run `bash scripts/setup-venv.sh` first", python.display());
    python
}

/// `cli_peer.py --mode MODE…`, killed on drop; its JSON lines are kept.
struct Peer {
    child: Child,
    port: u16,
    lines: std::sync::mpsc::Receiver<Value>,
}

impl Peer {
    fn start(mode: &[&str]) -> Self {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/python/cli_peer.py");
        let mut child = Command::new(python())
            .arg(script)
            .args(["--port", "0", "--mode"])
            .args(mode)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = tx.send(serde_json::from_str(&line).unwrap());
            }
        });
        let first: Value = lines.recv_timeout(DEADLINE).expect("cli_peer.py starts");
        let port = first["listening"].as_u64().expect("listening line") as u16;
        Self { child, port, lines }
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }

    /// The next line that has `key`.
    fn next(&self, key: &str) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).unwrap_or_else(|_| panic!("no {key:?} line from the peer"));
            if line.get(key).is_some() {
                return line[key].clone();
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `wsx connect`: stdin piped (open until dropped), stderr
/// collected by a thread so a test can wait for a line while it runs.
struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: Arc<Mutex<String>>,
}

/// What a finished `wsx connect` left.
struct Finished {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: String,
    took: Duration,
}

impl Running {
    fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(WSX)
            .arg("connect")
            .args(args)
            .env_remove("NO_COLOR")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stderr = Arc::new(Mutex::new(String::new()));
        let pipe = BufReader::new(child.stderr.take().unwrap());
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in pipe.lines().map_while(Result::ok) {
                let mut sink = sink.lock().unwrap();
                sink.push_str(&line);
                sink.push('\n');
            }
        });
        Self { child, stdin, stderr }
    }

    fn write(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Waits until stderr has `needle` `times` times.
    fn wait_stderr(&self, needle: &str, times: usize) {
        let deadline = Instant::now() + DEADLINE;
        while self.stderr.lock().unwrap().matches(needle).count() < times {
            assert!(Instant::now() < deadline, "no {needle:?} x{times}: {}", self.stderr.lock().unwrap());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the exit (stdin left as it is); fails after `within`.
    fn finish(mut self, within: Duration) -> Finished {
        let start = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            if start.elapsed() > within {
                let _ = self.child.kill();
                panic!("wsx connect did not exit within {within:?}: {}", self.stderr.lock().unwrap());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let took = start.elapsed();
        let output = self.child.wait_with_output().unwrap();
        // The stderr thread ends with the pipe; give it a moment to drain.
        std::thread::sleep(Duration::from_millis(50));
        let stderr = self.stderr.lock().unwrap().clone();
        Finished { status: output.status, stdout: output.stdout, stderr, took }
    }
}

/// Runs `wsx connect ARGS` with `input` on stdin, then closes stdin.
fn connect(args: &[&str], input: &[u8]) -> Finished {
    let mut running = Running::spawn(args);
    running.write(input);
    running.close_stdin();
    running.finish(DEADLINE)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn status_0_on_a_normal_close_against_python_websockets() {
    let peer = Peer::start(&["echo"]);
    let out = connect(&[&peer.url()], b"one\ntwo\n");
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    assert_eq!(text(&out.stdout), "one\ntwo\n");
    assert!(out.stderr.contains("closed: 1000"), "{}", out.stderr);
    assert_eq!(peer.next("closed")["code"], 1000, "the client's Close frame");
}

#[test]
fn status_0_when_wsx_serve_goes_away_with_1001() {
    let server = support::Node::start(&[]);
    let running = Running::spawn(&[&format!("ws://{}/echo", server.address)]);
    running.wait_stderr("connected", 1);
    server.terminate();
    let out = running.finish(Duration::from_secs(15));
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    assert!(out.stderr.contains("closed: 1001"), "{}", out.stderr);
}

#[test]
fn status_3_when_nothing_listens() {
    let port = support::free_port();
    let out = connect(&[&format!("ws://127.0.0.1:{port}/")], b"");
    assert_eq!(out.status.code(), Some(3), "{}", out.stderr);
    assert!(out.stderr.contains("connecting"), "{}", out.stderr);
}

#[test]
fn status_5_with_the_http_status_when_the_handshake_is_refused() {
    let server = support::Node::start(&[]);
    let out = connect(&[&format!("ws://{}/nowhere", server.address)], b"");
    assert_eq!(out.status.code(), Some(5), "{}", out.stderr);
    assert!(out.stderr.contains("404 Not Found"), "{}", out.stderr);

    // A plain HTTP server (Python's http.server) answers 200, not 101.
    let port = support::free_port();
    let mut http = Command::new(python())
        .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string()])
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + DEADLINE;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "http.server did not start");
        std::thread::sleep(Duration::from_millis(25));
    }
    let out = connect(&[&format!("ws://127.0.0.1:{port}/")], b"");
    let _ = http.kill();
    let _ = http.wait();
    assert_eq!(out.status.code(), Some(5), "{}", out.stderr);
    assert!(out.stderr.contains("200 OK instead of 101"), "{}", out.stderr);
}

#[test]
fn status_6_when_the_connection_drops_without_a_close_frame() {
    let peer = Peer::start(&["drop"]);
    let mut running = Running::spawn(&[&peer.url()]);
    running.write(b"hello\n");
    // stdin stays open: the drop alone must end the process.
    let out = running.finish(Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(6), "{}", out.stderr);
    assert!(out.stderr.contains("1006"), "{}", out.stderr);
    assert!(out.took < Duration::from_secs(5), "ended {:?} after the drop, stdin open", out.took);
}

#[test]
fn status_7_when_the_server_closes_with_an_error_code_while_stdin_is_open() {
    let peer = Peer::start(&["close", "4001", "go away"]);
    let mut running = Running::spawn(&[&peer.url()]);
    running.write(b"hello\n");
    let out = running.finish(Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(7), "{}", out.stderr);
    assert!(out.stderr.contains("closed: 4001 \"go away\""), "{}", out.stderr);
    assert!(out.took < Duration::from_secs(5), "ended {:?} after the close, stdin open", out.took);
    assert_eq!(peer.next("closed")["code"], 4001, "the Close was echoed");
}

#[test]
fn status_8_when_the_server_breaks_the_protocol() {
    let peer = Peer::start(&["bad-frame"]);
    let mut running = Running::spawn(&[&peer.url()]);
    running.write(b"hello\n");
    let out = running.finish(Duration::from_secs(15));
    assert_eq!(out.status.code(), Some(8), "{}", out.stderr);
    assert!(out.stderr.contains("1002"), "{}", out.stderr);
    assert_eq!(peer.next("closed")["code"], 1002, "the client failed the connection with 1002");
}

#[test]
fn replies_after_the_end_of_stdin_are_waited_for_and_printed() {
    // The peer answers 300 ms late, inside the default 1 s grace period:
    // the reply must arrive every time, and the Close only after it.
    let peer = Peer::start(&["delay", "0.3"]);
    for run in 0..5 {
        let out = connect(&["--binary", &peer.url()], b"request");
        assert_eq!(out.status.code(), Some(0), "run {run}: {}", out.stderr);
        assert_eq!(text(&out.stdout), "request\n", "run {run}");
        assert_eq!(peer.next("closed")["code"], 1000);
    }
    // -x sends and waits the same way.
    let out = connect(&["-x", "first", "-x", "second", &peer.url()], b"");
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    assert_eq!(text(&out.stdout), "first\nsecond\n");
}

#[test]
fn slash_commands_ping_and_close_and_the_escape() {
    let peer = Peer::start(&["echo"]);
    let out = connect(&["--slash", "-P", &peer.url()], b"/ping hello\n//literal\n/help\n/nope\n");
    let stderr = out.stderr;
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(text(&out.stdout), "/literal\n");
    assert!(stderr.contains("< pong hello"), "the pong to /ping: {stderr}");
    assert!(stderr.contains("commands: /ping"), "/help: {stderr}");
    assert!(stderr.contains("unknown command /nope"), "{stderr}");
    assert_eq!(peer.next("closed")["code"], 1000);
    // /close sends the code and reason given; a close the user asked for is 0.
    let out = connect(&["--slash", &peer.url()], b"/close 4000 bye\n");
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let closed = peer.next("closed");
    assert_eq!((closed["code"].as_u64(), closed["reason"].as_str()), (Some(4000), Some("bye")));
    // Without --slash (stdin is not a terminal), lines go out as they are.
    let out = connect(&[&peer.url()], b"/ping\n");
    assert_eq!(text(&out.stdout), "/ping\n");
}

#[test]
fn binary_sends_each_chunk_as_it_comes_and_shows_hex() {
    let peer = Peer::start(&["echo"]);
    let mut running = Running::spawn(&["--binary", "--show-binary", "hex", &peer.url()]);
    running.write(b"\x00\x01");
    assert_eq!(peer.next("len"), 2, "the first chunk left before stdin ended");
    running.write(b"\xff");
    assert_eq!(peer.next("len"), 1);
    running.close_stdin();
    let out = running.finish(DEADLINE);
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    assert_eq!(text(&out.stdout), "0001\nff\n");
}

#[test]
fn jsonl_reports_every_event_with_a_timestamp() {
    let peer = Peer::start(&["echo"]);
    let out = connect(&["--jsonl", "--binary", &peer.url()], b"\x01\x02");
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let events: Vec<Value> = text(&out.stdout).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let kinds: Vec<&str> = events.iter().map(|event| event["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["open", "binary", "close"]);
    assert_eq!(events[1]["base64"], "AQI=");
    assert_eq!((events[2]["code"].as_u64(), events[2]["initiator"].as_str()), (Some(1000), Some("client")));
    for event in &events {
        let ts = event["ts"].as_str().unwrap();
        assert!(humantime_like(ts), "RFC 3339 timestamp: {ts}");
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn humantime_like(ts: &str) -> bool {
    ts.len() == 24 && ts.as_bytes()[10] == b'T' && ts.ends_with('Z')
}

#[test]
fn auth_host_and_origin_reach_the_server() {
    let peer = Peer::start(&["headers"]);
    let out = connect(&["--auth", "user:pass", "--host", "example.test", "-o", "https://app.test", &peer.url()], b"");
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let headers: Value = serde_json::from_str(text(&out.stdout).trim_end()).unwrap();
    assert_eq!(headers["authorization"], "Basic dXNlcjpwYXNz");
    assert_eq!(headers["host"], "example.test");
    assert_eq!(headers["origin"], "https://app.test");
}

#[test]
fn reconnect_comes_back_after_the_server_restarts() {
    let port = support::free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut server = support::Node::start_on(&listen, &[]);
    let mut running = Running::spawn(&["--reconnect", &format!("ws://{listen}/echo")]);
    running.wait_stderr("connected", 1);
    server.stop();
    running.wait_stderr("reconnecting in", 1);
    let _server = support::Node::start_on(&listen, &[]);
    running.wait_stderr("connected", 2);
    running.write(b"after the restart\n");
    running.close_stdin();
    let out = running.finish(DEADLINE);
    let stderr = out.stderr;
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("reconnecting in"), "{stderr}");
    assert_eq!(stderr.matches("connected").count(), 2, "{stderr}");
    assert_eq!(text(&out.stdout), "after the restart\n");
}

#[test]
fn colour_only_on_a_terminal() {
    let peer = Peer::start(&["echo"]);
    // Piped: no escape codes anywhere.
    let out = connect(&[&peer.url()], b"x\n");
    assert!(!out.stderr.contains('\x1b') && !out.stdout.contains(&0x1b), "{:?}", out.stderr);
    // On a terminal (script(1) gives it a pty): colour, unless --no-color.
    let on_tty = |extra: &str| {
        let command = format!("printf 'x\\n' | {WSX} connect {extra} {}", peer.url());
        Command::new("script").args(["-qec", &command, "/dev/null"]).env_remove("NO_COLOR").output().unwrap()
    };
    let coloured = on_tty("");
    assert!(coloured.status.success(), "{}", text(&coloured.stdout));
    assert!(coloured.stdout.contains(&0x1b), "colour on a terminal: {:?}", text(&coloured.stdout));
    let plain = on_tty("--no-color");
    assert!(plain.status.success());
    assert!(!plain.stdout.contains(&0x1b), "--no-color: {:?}", text(&plain.stdout));
}
