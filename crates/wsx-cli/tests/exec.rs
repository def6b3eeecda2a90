//! `wsx serve --exec CMD` as a real process with real clients: stdout lines
//! out as messages and messages in as stdin lines (RFC 6455 §5.6), the
//! command's exit as the closing handshake (§7.1.2: 1000, or 1011 with the
//! status), the command's process group ended and reaped when the
//! connection ends (Close, reset, unread input, server shutdown), CGI
//! variables, overlong lines (1009), and descriptors and processes back to
//! their baseline after hundreds of connections. Processes are read from
//! /proc.

#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test")]

mod raw;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use raw::{Frame, PATIENCE, Peer, Served, WSX};
use tokio::net::TcpStream;
use wsx::{CloseCode, Message, WebSocket};

type Ws = WebSocket<TcpStream>;

/// `wsx serve --exec CMD` plus `args`.
fn exec(command: &str, args: &[&str]) -> Served {
    let mut all = vec!["--exec", command];
    all.extend_from_slice(args);
    Served::start(&all)
}

async fn open(server: &Served, path: &str) -> Ws {
    let url = format!("ws://{}{path}", server.addr);
    let connect = async {
        let tcp = TcpStream::connect(server.addr).await?;
        wsx::ClientBuilder::new(&url).connect_on(tcp).await.map_err(std::io::Error::other)
    };
    let (ws, _) = tokio::time::timeout(PATIENCE, connect).await.expect("connects in time").expect("connects");
    ws
}

/// The next text or binary message, skipping pings and pongs.
async fn next(ws: &mut Ws) -> Message {
    loop {
        match tokio::time::timeout(PATIENCE, ws.recv()).await {
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            Ok(Some(Ok(message))) => return message,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

async fn next_text(ws: &mut Ws) -> String {
    match next(ws).await {
        Message::Text(text) => text.as_str().to_owned(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// Reads up to the server's Close (answered by the client) and the end of
/// the connection; returns the Close's code and reason.
async fn closed_with(ws: &mut Ws) -> (u16, String) {
    let frame = match next(ws).await {
        Message::Close(Some(frame)) => frame,
        other => panic!("expected a Close frame, got {other:?}"),
    };
    while let Ok(Some(_)) = tokio::time::timeout(PATIENCE, ws.recv()).await {}
    (frame.code.as_u16(), frame.reason.as_str().to_owned())
}

/// The state letter of process `pid` (/proc/PID/stat), `None` once it is gone.
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}

/// Field `n` (1-based, as in proc(5)) of /proc/PID/stat.
fn stat_field(pid: u32, n: usize) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].split_whitespace().nth(n - 3)?.parse().ok()
}

/// Running (not gone, not a zombie waiting for whoever adopted it).
fn running(pid: u32) -> bool {
    state(pid).is_some_and(|s| s != 'Z')
}

/// The children of `parent`, zombies included, with their states.
fn children(parent: u32) -> Vec<(u32, char)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if stat_field(pid, 4) == Some(parent)
            && let Some(s) = state(pid)
        {
            found.push((pid, s));
        }
    }
    found
}

/// Waits until `check` holds, polling (a sync wait: no runtime needed).
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_no_children(server: &Served) {
    eventually("the server to have no child process left (zombies included)", || children(server.pid()).is_empty());
}

#[tokio::test]
async fn cat_relays_messages_both_ways_in_order() {
    let server = exec("cat", &[]);
    let mut ws = open(&server, "/any/path").await;
    let sent: Vec<String> = (0..50).map(|i| format!("message {i} wörld")).collect();
    for text in &sent {
        ws.send(text.as_str()).await.unwrap();
    }
    // Binary messages go in as they are (a newline added); an empty one is
    // an empty line; a message with a newline in it is two lines.
    ws.send(Message::binary(&b"bytes\x01"[..])).await.unwrap();
    ws.send("").await.unwrap();
    ws.send("two\nlines").await.unwrap();
    for text in &sent {
        assert_eq!(&next_text(&mut ws).await, text);
    }
    assert_eq!(next_text(&mut ws).await, "bytes\x01");
    assert_eq!(next_text(&mut ws).await, "");
    assert_eq!(next_text(&mut ws).await, "two");
    assert_eq!(next_text(&mut ws).await, "lines");
    ws.close(CloseCode::NORMAL, "done").await.unwrap();
    assert_no_children(&server);
}

#[tokio::test]
async fn output_then_exit_0_is_every_line_then_close_1000() {
    // The last line has no newline; 20,000 lines are more than the pipe
    // holds, all printed before the exit is seen.
    let server = exec("printf 'one\\r\\ntwo\\n'; seq 1 20000; printf last", &[]);
    let mut ws = open(&server, "/").await;
    assert_eq!(next_text(&mut ws).await, "one");
    assert_eq!(next_text(&mut ws).await, "two");
    for i in 1..=20000 {
        assert_eq!(next_text(&mut ws).await, i.to_string());
    }
    assert_eq!(next_text(&mut ws).await, "last");
    assert_eq!(closed_with(&mut ws).await, (1000, String::new()));
    assert_no_children(&server);
}

#[tokio::test]
async fn a_failing_command_closes_with_1011_and_its_status_or_signal() {
    let command = "case \"$QUERY_STRING\" in \
                   exit) echo bye; exit 3;; \
                   signal) kill -9 $$;; \
                   missing) wsx-no-such-command;; \
                   esac";
    let server = exec(command, &[]);
    let mut ws = open(&server, "/?exit").await;
    assert_eq!(next_text(&mut ws).await, "bye");
    assert_eq!(closed_with(&mut ws).await, (1011, "exit status 3".to_owned()));
    let mut ws = open(&server, "/?signal").await;
    assert_eq!(closed_with(&mut ws).await, (1011, "killed by signal 9 (SIGKILL)".to_owned()));
    // sh reports a command it cannot find with 127.
    let mut ws = open(&server, "/?missing").await;
    assert_eq!(closed_with(&mut ws).await, (1011, "exit status 127".to_owned()));
    assert_no_children(&server);
}

/// `sh` and a grandchild it forks (`sleep`), both printed by the command.
const SH_AND_SLEEP: &str = "echo $$; sleep 1000 & echo $!; wait";

fn pid_line(frame: &Frame) -> u32 {
    assert_eq!(frame.b0, 0x81, "a text frame: {frame:?}");
    std::str::from_utf8(&frame.payload).unwrap().parse().unwrap()
}

#[test]
fn the_end_of_the_connection_ends_the_command_and_everything_it_started() {
    let server = exec(SH_AND_SLEEP, &[]);
    // A clean close, an abrupt end of stream, a reset.
    for ending in ["close", "eof", "reset"] {
        let mut peer = Peer::open(server.addr);
        let shell = pid_line(&peer.read_frame());
        let sleep = pid_line(&peer.read_frame());
        assert!(running(shell) && running(sleep), "{ending}: the command runs");
        // One process group, led by the shell.
        assert_eq!(stat_field(shell, 5), Some(shell));
        assert_eq!(stat_field(sleep, 5), Some(shell));
        assert!(children(server.pid()).iter().any(|&(pid, _)| pid == shell));
        match ending {
            "close" => {
                peer.send(Frame::close(1000, "bye"));
                assert_eq!(peer.read_close_code(), 1000);
                drop(peer);
            }
            "eof" => drop(peer),
            _ => peer.reset(),
        }
        eventually(&format!("{ending}: the shell and its sleep to end"), || !running(shell) && !running(sleep));
        assert_no_children(&server);
    }
    eventually("every connection to be done", || server.log().matches("command reaped").count() == 3);
}

/// Writes `frame` until the server stops taking it (or `cap` bytes); the
/// bytes written.
fn write_until_blocked(peer: &Peer, frame: &Frame, cap: usize) -> usize {
    let mut writer = peer.tcp.try_clone().unwrap();
    writer.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    let bytes = frame.encode();
    let mut written = 0;
    while written < cap && writer.write_all(&bytes).is_ok() {
        written += bytes.len();
    }
    written
}

#[test]
fn input_the_command_does_not_read_stays_bounded_and_leaving_still_ends_it() {
    // The command never reads its stdin.
    let server = exec("echo $$; exec sleep 1000", &[]);
    let rss = server.rss_kib();
    // A client that floods, then resets: the server stops reading it
    // (memory stays flat) and still sees it go.
    let mut peer = Peer::open(server.addr);
    let pid = pid_line(&peer.read_frame());
    let written = write_until_blocked(&peer, &Frame::binary(vec![b'x'; 64 << 10]), 64 << 20);
    assert!(written < 64 << 20, "the server read all 64 MiB for a command that reads nothing");
    let grown = server.rss_kib().saturating_sub(rss);
    assert!(grown < 8 << 10, "RSS grew by {grown} KiB while the input waited");
    assert!(running(pid));
    peer.reset();
    eventually("the command to end after the client reset", || !running(pid));
    // A client that sends a little more than the pipe holds, then its Close
    // and FIN: the Close waits behind the unread messages, the FIN is seen.
    let mut peer = Peer::open(server.addr);
    let pid = pid_line(&peer.read_frame());
    let written = write_until_blocked(&peer, &Frame::binary(vec![b'x'; 16 << 10]), 128 << 10);
    assert_eq!(written, 8 * Frame::binary(vec![b'x'; 16 << 10]).encode().len());
    peer.send(Frame::close(1000, "bye"));
    peer.tcp.shutdown(std::net::Shutdown::Write).unwrap();
    eventually("the command to end after the client's FIN", || !running(pid));
    assert_no_children(&server);
}

#[tokio::test]
async fn the_request_reaches_the_command_as_environment_variables_only() {
    let command = "printf '%s\\n' \"$QUERY_STRING\" \"$PATH_INFO\" \"$REQUEST_URI\" \"$REMOTE_ADDR\" \
                   \"$REMOTE_PORT\" \"$SERVER_PORT\" \"$HTTP_X_TOKEN\" \"$HTTP_PROXY\"; ls -l /proc/$$/fd/";
    let server = exec(command, &[]);
    let url = format!("ws://{}/some/path?q=$(touch%20/tmp/wsx-pwned);x=$HOME", server.addr);
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let local = tcp.local_addr().unwrap();
    let builder = wsx::ClientBuilder::new(&url).header("X-Token", "a b; $(id)").header("Proxy", "http://evil.example");
    let (mut ws, _) = builder.connect_on(tcp).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "q=$(touch%20/tmp/wsx-pwned);x=$HOME");
    assert_eq!(next_text(&mut ws).await, "/some/path");
    assert_eq!(next_text(&mut ws).await, "/some/path?q=$(touch%20/tmp/wsx-pwned);x=$HOME");
    assert_eq!(next_text(&mut ws).await, local.ip().to_string());
    assert_eq!(next_text(&mut ws).await, local.port().to_string());
    assert_eq!(next_text(&mut ws).await, server.addr.port().to_string());
    assert_eq!(next_text(&mut ws).await, "a b; $(id)");
    // httpoxy: a Proxy header never becomes HTTP_PROXY.
    assert_ne!(next_text(&mut ws).await, "http://evil.example");
    // The command inherits none of the server's sockets.
    let mut listing = Vec::new();
    loop {
        match next(&mut ws).await {
            Message::Text(line) => listing.push(line.as_str().to_owned()),
            Message::Close(frame) => {
                assert_eq!(frame.map(|f| f.code), Some(CloseCode::NORMAL));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(listing.len() > 3, "{listing:?}");
    assert!(!listing.iter().any(|line| line.contains("socket:")), "the command holds a socket: {listing:#?}");
    assert!(!std::path::Path::new("/tmp/wsx-pwned").exists());
}

#[tokio::test]
async fn an_output_line_over_max_message_closes_with_1009_and_ends_the_command() {
    let command = "echo $$; head -c 5000 /dev/zero | tr '\\0' a; echo; exec sleep 1000";
    let server = exec(command, &["--max-message", "1000"]);
    let mut ws = open(&server, "/").await;
    let pid: u32 = next_text(&mut ws).await.parse().unwrap();
    let (code, reason) = closed_with(&mut ws).await;
    assert_eq!((code, reason.as_str()), (1009, "output line over 1000 bytes"));
    eventually("the command to end", || !running(pid));
    assert_no_children(&server);
    // Also when the command exits right after the line (status 0).
    let server = exec("head -c 5000 /dev/zero | tr '\\0' a; echo", &["--max-message", "1000"]);
    let mut ws = open(&server, "/").await;
    assert_eq!(closed_with(&mut ws).await.0, 1009);
    // A line of exactly --max-message bytes is a message.
    let server = exec("head -c 1000 /dev/zero | tr '\\0' a; echo", &["--max-message", "1000"]);
    let mut ws = open(&server, "/").await;
    assert_eq!(next_text(&mut ws).await.len(), 1000);
    assert_eq!(closed_with(&mut ws).await.0, 1000);
}

#[test]
fn a_plain_request_gets_426() {
    let server = exec("cat", &[]);
    let mut peer = Peer::connect(server.addr);
    peer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let head = peer.read_head();
    assert!(head.starts_with("HTTP/1.1 426 "), "{head}");
    assert!(head.contains("Upgrade: websocket\r\n"), "{head}");
    assert_no_children(&server);
}

/// `wsx serve --exec true` without `sh` on its PATH.
struct NoShell {
    child: Child,
    addr: SocketAddr,
}

impl Drop for NoShell {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_command_that_cannot_start_is_answered_500() {
    let mut child = Command::new(WSX)
        .args(["serve", "--listen", "127.0.0.1:0", "--exec", "true"])
        .env("PATH", "/nonexistent")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.split("ws://").nth(1).and_then(|r| r.split_whitespace().next()).unwrap().parse().unwrap();
    let server = NoShell { child, addr };
    let mut peer = Peer::connect(server.addr);
    peer.write(raw::upgrade_request("/").as_bytes());
    let head = peer.read_head();
    assert!(head.starts_with("HTTP/1.1 500 "), "{head}");
}

#[tokio::test]
async fn a_server_shutdown_closes_with_1001_and_ends_every_command() {
    let mut server = exec(SH_AND_SLEEP, &[]);
    let mut clients = Vec::new();
    let mut pids = Vec::new();
    for _ in 0..3 {
        let mut ws = open(&server, "/").await;
        pids.push(next_text(&mut ws).await.parse::<u32>().unwrap());
        pids.push(next_text(&mut ws).await.parse::<u32>().unwrap());
        clients.push(ws);
    }
    server.signal("TERM");
    for mut ws in clients {
        assert_eq!(closed_with(&mut ws).await.0, 1001);
    }
    let status = tokio::task::spawn_blocking(move || {
        let status = server.wait_exit(PATIENCE);
        (status, server)
    });
    let (status, _server) = status.await.unwrap();
    assert!(status.success(), "{status}");
    eventually("every command to end", || pids.iter().all(|&pid| !running(pid)));
}

fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var_os("WSX_PYTHON").map_or_else(|| root.join(".venv/bin/python"), PathBuf::from);
    assert!(python.exists(), "{} not found: run `bash scripts/setup-venv.sh` first", python.display());
    python
}

#[test]
fn python_websockets_talks_to_a_command() {
    let server = exec("read line; echo \"got $line\"; read line; echo \"got $line\"; exit 3", &[]);
    let script = r#"
import asyncio, sys, websockets
async def main():
    async with websockets.connect(sys.argv[1]) as ws:
        await ws.send("hello")
        print(await ws.recv())
        await ws.send(b"bytes")
        print(await ws.recv())
        try:
            await ws.recv()
        except websockets.ConnectionClosedError as closed:
            print(closed.rcvd.code, closed.rcvd.reason)
asyncio.run(main())
"#;
    let output = Command::new(python())
        .args(["-c", script, &format!("ws://{}/", server.addr)])
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout), "got hello\ngot bytes\n1011 exit status 3\n");
    assert_no_children(&server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_connections_leave_no_descriptor_and_no_process_behind() {
    let command = "case \"$QUERY_STRING\" in hold) exec cat;; *) echo \"$QUERY_STRING\";; esac";
    let server = Arc::new(exec(command, &[]));
    // A first connection, so that the runtime's own descriptors (the
    // SIGCHLD pipe, the blocking pool) are in the baseline.
    let mut ws = open(&server, "/?warm").await;
    assert_eq!(next_text(&mut ws).await, "warm");
    assert_eq!(closed_with(&mut ws).await.0, 1000);
    assert_no_children(&server);
    let fds = server.fds();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(8));
    let mut tasks = Vec::new();
    for i in 0..300u32 {
        let permit = semaphore.clone().acquire_owned().await.unwrap();
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            match i % 3 {
                // The command prints and exits: 1000.
                0 => {
                    let mut ws = open(&server, &format!("/?{i}")).await;
                    assert_eq!(next_text(&mut ws).await, i.to_string());
                    assert_eq!(closed_with(&mut ws).await.0, 1000);
                }
                // The client closes while the command runs.
                1 => {
                    let mut ws = open(&server, "/?hold").await;
                    ws.send(i.to_string()).await.unwrap();
                    assert_eq!(next_text(&mut ws).await, i.to_string());
                    ws.close(CloseCode::NORMAL, "").await.unwrap();
                }
                // The client just goes.
                _ => {
                    let mut ws = open(&server, "/?hold").await;
                    ws.send("x").await.unwrap();
                    assert_eq!(next_text(&mut ws).await, "x");
                    drop(ws);
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let server = Arc::try_unwrap(server).ok().unwrap();
    assert_no_children(&server);
    eventually("descriptors back to the baseline", || server.fds() <= fds);
    let log = server.log();
    assert!(!log.contains("panicked"), "{log}");
}
