//! The `wsx` binary end to end: `wsx serve` and `wsx connect` as processes.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const WSX: &str = env!("CARGO_BIN_EXE_wsx");

mod support;

/// A `wsx serve` on an ephemeral port, killed on drop.
use support::Node as Server;

fn run_connect(args: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut child = Command::new(WSX)
        .arg("connect")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wsx connect starts");
    child.stdin.take().expect("piped stdin").write_all(stdin).expect("stdin written");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if child.try_wait().expect("wait works").is_some() {
            return child.wait_with_output().expect("output");
        }
        assert!(Instant::now() < deadline, "wsx connect did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn connect_sends_stdin_lines_and_prints_the_echoes() {
    let server = Server::start(&[]);
    let url = format!("ws://{}/echo", server.address);
    let output = run_connect(&[&url], "hello\nwörld\ttab\n\n".as_bytes());
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    assert_eq!(stdout, "hello\nwörld\\ttab\n\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("closed: 1000"), "close code reported: {stderr}");
}

#[test]
fn connect_binary_sends_stdin_as_one_message() {
    let server = Server::start(&[]);
    let url = format!("ws://{}/echo", server.address);
    let output = run_connect(&["--binary", &url], b"one\ntwo\x00three");
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "one\\ntwo\\u{0}three\n");
}

#[test]
fn unknown_path_is_refused_and_connect_fails() {
    let server = Server::start(&[]);
    let url = format!("ws://{}/nowhere", server.address);
    let output = run_connect(&[&url], b"");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("404"), "the refusal names the status: {stderr}");
}

#[test]
fn connect_refused_is_a_clear_error() {
    // Bind and drop to find a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let output = run_connect(&[&format!("ws://127.0.0.1:{port}/")], b"");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("connecting"));
}

#[test]
fn broadcast_relays_to_the_other_clients_only() {
    let server = Server::start(&[]);
    let url = format!("ws://{}/broadcast", server.address);
    // A listener that prints what it receives; it exits when its stdin closes
    // and the close handshake completes, so keep stdin open while we send.
    let mut listener = Command::new(WSX)
        .args(["connect", &url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("listener starts");
    let mut listener_out = BufReader::new(listener.stdout.take().expect("stdout"));
    let mut listener_err = BufReader::new(listener.stderr.take().expect("stderr"));
    let mut line = String::new();
    listener_err.read_line(&mut line).expect("listener reports the connection");
    assert!(line.starts_with("connected"), "{line}");
    let sender = run_connect(&[&url], b"to everyone\n");
    assert!(sender.status.success());
    assert_eq!(String::from_utf8_lossy(&sender.stdout), "", "the sender gets no copy");
    let mut received = String::new();
    listener_out.read_line(&mut received).expect("listener prints the message");
    assert_eq!(received, "to everyone\n");
    drop(listener.stdin.take());
    let status = listener.wait().expect("listener exits");
    assert!(status.success());
}

/// The `Threads:` line of /proc/PID/status.
fn os_threads(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    let line = status.lines().find(|l| l.starts_with("Threads:")).expect("a Threads line");
    line["Threads:".len()..].trim().parse().expect("a count")
}

#[test]
fn serve_threads_sets_the_runtime_workers() {
    let one = Server::start(&["--threads", "1"]);
    let four = Server::start(&["--threads", "4"]);
    for server in [&one, &four] {
        let output = run_connect(&[&format!("ws://{}/echo", server.address)], b"ping\n");
        assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
        assert_eq!(String::from_utf8_lossy(&output.stdout), "ping\n");
    }
    // Four workers are three threads more than the one-thread runtime,
    // which runs its tasks on the main thread.
    let (one_threads, four_threads) = (os_threads(one.pid()), os_threads(four.pid()));
    assert!(four_threads >= one_threads + 3, "--threads 1: {one_threads} threads, --threads 4: {four_threads}");

    let refused = Command::new(WSX).args(["serve", "--threads", "0"]).output().expect("runs");
    assert_eq!(refused.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--threads"));
}

#[test]
fn every_command_has_help() {
    for args in [&["--help"][..], &["serve", "--help"], &["connect", "--help"]] {
        let output = Command::new(WSX).args(args).output().expect("runs");
        assert!(output.status.success());
        assert!(String::from_utf8_lossy(&output.stdout).contains("Usage"));
    }
    let help = Command::new(WSX).args(["connect", "--help"]).output().expect("runs");
    let help = String::from_utf8_lossy(&help.stdout);
    for line in ["Exit status:", "  0  closed normally", "  6  the connection ended abnormally (1006)"] {
        assert!(help.contains(line), "connect --help lists {line:?}: {help}");
    }
}

#[test]
fn serve_logs_without_colour_into_a_pipe_and_as_json_on_request() {
    // Piped stderr (a file, a collector): no escape codes.
    let server = Server::start(&[]);
    let output = run_connect(&[&format!("ws://{}/echo", server.address)], b"x\n");
    assert!(output.status.success());
    let lines = || server.log();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lines().contains("connection closed") {
        assert!(Instant::now() < deadline, "no log line: {}", lines());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!lines().contains('\x1b'), "escape codes in a piped log: {:?}", lines());

    let server = Server::start(&["--log-format", "json"]);
    let output = run_connect(&[&format!("ws://{}/echo", server.address)], b"x\n");
    assert!(output.status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log().contains("connection closed") {
        assert!(Instant::now() < deadline, "no log line: {}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    for line in server.log().lines() {
        let record: serde_json::Value = serde_json::from_str(line).expect("each log line is JSON");
        assert!(record["timestamp"].is_string() && record["level"].is_string(), "{line}");
    }
    let closed = server.log().lines().find(|line| line.contains("connection closed")).map(str::to_owned);
    let closed: serde_json::Value = serde_json::from_str(&closed.unwrap_or_default()).expect("JSON");
    assert_eq!(closed["fields"]["path"], "/echo");
}
