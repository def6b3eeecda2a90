//! `wsx bench` end to end: the real binary against `wsx serve` and against
//! Python `websockets`' echo server (interop/python; required, installed
//! by `bash scripts/setup-venv.sh`). Asserts behaviour, never speed.

#![allow(clippy::unwrap_used, reason = "tests: a failure is the test's failure")]

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Node, WSX};

/// Longest any `wsx bench` run here may take before the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// Runs `wsx bench ARGS` with stdout and stderr piped (so stderr is not a
/// terminal) and stdin closed, killing it past `RUN_LIMIT`.
fn bench(args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = Command::new(WSX)
        .arg("bench")
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wsx bench starts");
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            panic!("wsx bench {args:?} still running after {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    (output, started.elapsed())
}

/// `wsx bench ARGS --json`: the report, the exit status, how long it took.
fn bench_json(args: &[&str]) -> (Value, Option<i32>, Duration) {
    let mut all = args.to_vec();
    all.push("--json");
    let (output, took) = bench(&all);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("one JSON object on stdout ({e}): {stdout:?}; stderr: {}", String::from_utf8_lossy(&output.stderr))
    });
    (report, output.status.code(), took)
}

/// The latency fields are plausible: above zero and in order.
fn assert_latency(report: &Value) {
    let latency = &report["latency_us"];
    let field = |name: &str| latency[name].as_u64().unwrap_or_else(|| panic!("latency_us.{name} in {report}"));
    let (p50, p90, p99, p999, max) = (field("p50"), field("p90"), field("p99"), field("p99_9"), field("max"));
    assert!(p50 > 0, "{report}");
    assert!(p50 <= p90 && p90 <= p99 && p99 <= p999 && p999 <= max, "{report}");
}

fn assert_clean(report: &Value, messages: u64) {
    assert_eq!(report["messages"], messages, "{report}");
    assert_eq!(report["sent"], messages, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["errors_by_kind"], serde_json::json!({}), "{report}");
    assert_eq!(report["clean_closes"], report["connections"], "{report}");
    assert_latency(report);
}

fn echo_url(node: &Node) -> String {
    format!("ws://{}/echo", node.address)
}

#[test]
fn counts_exactly_n_messages_against_wsx_serve() {
    let node = Node::start(&[]);
    let (report, status, _) = bench_json(&[&echo_url(&node), "-n", "1000", "-c", "4", "-k", "4"]);
    assert_eq!(status, Some(0), "{report}");
    assert_clean(&report, 1000);
    assert_eq!(report["mode"], "closed-loop");
    assert!(report["verified"].as_u64().unwrap() > 0, "some echoes compared byte for byte: {report}");
    assert!(report["messages_per_s"].as_f64().unwrap() > 0.0, "{report}");
    assert_eq!(report["extensions"], Value::Null, "no permessage-deflate unless --compress: {report}");
}

#[test]
fn text_messages_and_the_text_report() {
    let node = Node::start(&[]);
    let (report, status, _) = bench_json(&[&echo_url(&node), "--text", "--size", "100", "-n", "300", "-c", "3"]);
    assert_eq!(status, Some(0), "{report}");
    assert_clean(&report, 300);
    assert_eq!(report["text"], true);

    let (output, _) = bench(&[&echo_url(&node), "--text", "-n", "50", "-c", "2"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{text}");
    for needle in ["text messages", "50 echoed of 50 sent", "msg/s", "MB/s", "p50", "p99.9", "max", "errors    none"] {
        assert!(text.contains(needle), "{needle:?} in the report:\n{text}");
    }
}

#[test]
fn no_progress_display_when_stderr_is_not_a_terminal() {
    let node = Node::start(&[]);
    // Long enough for several redraws of the progress line, were it shown.
    let (output, _) = bench(&[&echo_url(&node), "-d", "1", "--warmup", "0.2", "-c", "2"]);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stdout));
    assert!(output.stderr.is_empty(), "stderr: {:?}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn a_refused_path_is_a_handshake_error_with_its_status() {
    let node = Node::start(&[]);
    let url = format!("ws://{}/nowhere", node.address);
    let (report, status, _) = bench_json(&[&url, "-n", "10", "-c", "3"]);
    assert_ne!(status, Some(0), "{report}");
    assert_eq!(report["connections_opened"], 0, "{report}");
    assert_eq!(report["messages"], 0, "{report}");
    assert_eq!(report["errors_by_kind"]["handshake: HTTP 404 Not Found"], 3, "{report}");

    let (output, _) = bench(&[&url, "-n", "10"]);
    assert_ne!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("handshake: HTTP 404 Not Found"), "{text}");
}

#[test]
fn a_server_that_does_not_echo_ends_at_the_duration_with_timeouts() {
    let node = Node::start(&[]);
    // Alone on /broadcast, a client hears nothing back.
    let url = format!("ws://{}/broadcast", node.address);
    for mode in [&["-k", "4"][..], &["--rate", "200"][..]] {
        let mut args = vec![url.as_str(), "-c", "1", "-d", "1", "--warmup", "0", "--timeout", "1"];
        args.extend_from_slice(mode);
        let (report, status, took) = bench_json(&args);
        assert_ne!(status, Some(0), "{mode:?}: {report}");
        assert!(took < Duration::from_secs(6), "{mode:?}: took {took:?}: {report}");
        assert_eq!(report["messages"], 0, "{mode:?}: {report}");
        let timeouts = report["errors_by_kind"]["timeout (no echo)"].as_u64().unwrap_or(0);
        assert!(timeouts >= 1, "{mode:?}: outstanding messages counted as timeouts: {report}");
    }
}

#[test]
fn compress_reports_the_negotiated_permessage_deflate() {
    let node = Node::start(&[]);
    let (report, status, _) = bench_json(&[&echo_url(&node), "--compress", "--text", "-n", "200", "-c", "2"]);
    assert_eq!(status, Some(0), "{report}");
    assert_clean(&report, 200);
    let extensions = report["extensions"].as_str().unwrap_or_default();
    assert!(extensions.starts_with("permessage-deflate"), "{report}");
    assert_eq!(report["compress_offered"], true);
}

#[test]
fn usage_errors_exit_with_2() {
    let (output, _) = bench(&["ws://127.0.0.1:9/echo", "-H", "no colon here"]);
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    let (output, _) = bench(&["ws://127.0.0.1:9/echo", "-d", "0"]);
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    let (output, _) = bench(&["http://127.0.0.1:9/echo"]);
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn a_closed_port_is_a_connect_error() {
    let port = support::free_port().to_string();
    let url = format!("ws://127.0.0.1:{port}/echo");
    let (report, status, _) = bench_json(&[&url, "-n", "10", "-c", "2"]);
    assert_eq!(status, Some(3), "{report}");
    assert_eq!(report["errors_by_kind"]["connect: connection refused"], 2, "{report}");
}

/// Python `websockets`' echo server (interop/python), which prints one
/// JSON line per message it receives; the lines are counted.
struct PythonEcho {
    child: Child,
    port: u16,
    messages: Arc<AtomicU64>,
}

impl PythonEcho {
    fn start() -> Self {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = std::env::var_os("WSX_PYTHON").map(PathBuf::from).unwrap_or_else(|| root.join(".venv/bin/python"));
        assert!(python.exists(), "{} not found: run `bash scripts/setup-venv.sh` first", python.display());
        let mut child = Command::new(python)
            .arg(root.join("interop/python/ws_echo_server.py"))
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the Python echo server starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("a first line").unwrap();
        let ready: Value = serde_json::from_str(&first).unwrap();
        let port = ready["listening"].as_u64().unwrap_or_else(|| panic!("{{\"listening\": PORT}}: {first}")) as u16;
        let messages = Arc::new(AtomicU64::new(0));
        let counter = messages.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if line.contains("\"kind\"") {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Self { child, port, messages }
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/", self.port)
    }

    /// Messages received so far, once the count has been still for 300 ms.
    fn settled_count(&self) -> u64 {
        let mut last = self.messages.load(Ordering::Relaxed);
        loop {
            std::thread::sleep(Duration::from_millis(300));
            let now = self.messages.load(Ordering::Relaxed);
            if now == last {
                return now;
            }
            last = now;
        }
    }
}

impl Drop for PythonEcho {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn closed_loop_against_python_websockets() {
    let python = PythonEcho::start();
    let (report, status, _) = bench_json(&[&python.url(), "-n", "1000", "-c", "4", "-k", "8"]);
    assert_eq!(status, Some(0), "{report}");
    assert_clean(&report, 1000);
    assert_eq!(python.settled_count(), 1000);

    let (report, status, _) = bench_json(&[&python.url(), "--text", "--size", "33", "-n", "200", "-c", "2"]);
    assert_eq!(status, Some(0), "{report}");
    assert_clean(&report, 200);
}

#[test]
fn open_loop_sends_exactly_n_messages() {
    let python = PythonEcho::start();
    let (report, status, took) = bench_json(&[&python.url(), "--rate", "600", "-n", "300", "-c", "3"]);
    assert_eq!(status, Some(0), "{report}");
    assert_clean(&report, 300);
    assert_eq!(report["mode"], "open-loop");
    assert_eq!(report["latency_from"], "scheduled send");
    assert_eq!(python.settled_count(), 300, "the server received exactly -n messages");
    // 300 messages at 600/s: half a second of timetable, not a burst.
    assert!(took >= Duration::from_millis(450), "{took:?}");
}

#[test]
fn http2_runs_every_connection_over_an_extended_connect() {
    let node = Node::start(&[]);
    let (report, status, _) = bench_json(&[&echo_url(&node), "--http2", "-n", "1000", "-c", "4", "-k", "4"]);
    assert_eq!(status, Some(0), "{report}");
    assert_clean(&report, 1000);
    // The server logs each WebSocket with the HTTP version that carried it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while node.log_count("transport=\"h2\"") < 4 {
        assert!(std::time::Instant::now() < deadline, "{}", node.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(node.log_count("transport=\"http/1.1\""), 0, "{}", node.log());
}

#[test]
fn streams_share_http2_connections() {
    let node = Node::start(&[]);
    let (report, status, _) = bench_json(&[&echo_url(&node), "--streams", "3", "-n", "600", "-c", "7", "-k", "2"]);
    assert_eq!(status, Some(0), "{report}");
    assert_clean(&report, 600);
    assert_eq!(report["streams_per_connection"], 3, "{report}");
    assert_eq!(report["http2_connections"], 3, "7 WebSockets, 3 to a connection: {report}");
    // The server saw 7 WebSockets over HTTP/2 from 3 client ports: the
    // streams really share their connections.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while node.log_count("connection closed") < 7 {
        assert!(std::time::Instant::now() < deadline, "{}", node.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = node.log();
    let peers: std::collections::BTreeSet<&str> = log
        .lines()
        .filter(|line| line.contains("connection closed") && line.contains("transport=\"h2\""))
        .filter_map(|line| line.split("peer=").nth(1)?.split_whitespace().next())
        .collect();
    assert_eq!(peers.len(), 3, "{peers:?}\n{log}");
    assert_eq!(node.log_count("transport=\"h2\""), 7, "{log}");
}
