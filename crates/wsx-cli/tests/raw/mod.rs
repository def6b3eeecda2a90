//! A hand-made WebSocket peer on a plain `std::net::TcpStream` (no wsx code),
//! and a `wsx serve` child process whose memory and descriptors can be read
//! from /proc: what the hostile, lifecycle and load tests stand on.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) const WSX: &str = env!("CARGO_BIN_EXE_wsx");
/// Longest any single answer may take before a test gives up.
pub(crate) const PATIENCE: Duration = Duration::from_secs(20);

/// `wsx serve` on an ephemeral loopback port; killed on drop.
pub(crate) struct Served {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Served {
    /// Starts `wsx serve` with `args` (the listen address is added).
    pub(crate) fn start(args: &[&str]) -> Self {
        Self::start_with(Command::new(WSX).arg("serve").args(["--listen", "127.0.0.1:0"]).args(args))
    }

    /// Starts `wsx serve` with at most `nofile` file descriptors.
    pub(crate) fn start_with_fd_limit(nofile: u64, args: &[&str]) -> Self {
        let script = format!("ulimit -n {nofile} && exec \"$0\" serve --listen 127.0.0.1:0 \"$@\"");
        Self::start_with(Command::new("sh").args(["-c", &script, WSX]).args(args))
    }

    fn start_with(command: &mut Command) -> Self {
        let mut child = command
            .env("RUST_LOG", "wsx=debug,wsx_cli=info,info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("wsx serve starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("wsx serve prints its address");
        let addr = line
            .split("ws://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        let stderr = child.stderr.take().expect("piped stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                if log.len() < 4 << 20 {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        std::thread::spawn(move || {
            // Keep the pipe drained.
            let mut sink = Vec::new();
            let _ = stdout.read_to_end(&mut sink);
        });
        Self { child, addr, log }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's log so far (stderr).
    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// A field of /proc/PID/status in KiB (`VmRSS`, `VmHWM`).
    pub(crate) fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("/proc/PID/status");
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    pub(crate) fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS")
    }

    /// Open file descriptors of the server.
    pub(crate) fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).expect("/proc/PID/fd").count()
    }

    /// User plus system CPU time, in clock ticks (/proc/PID/stat).
    pub(crate) fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("/proc/PID/stat");
        // Fields after the parenthesised command name; utime and stime are 14 and 15.
        let rest = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    /// Sends a signal with the shell's `kill` builtin (no procps needed).
    pub(crate) fn signal(&self, name: &str) {
        let script = format!("kill -s {name} {}", self.pid());
        let status = Command::new("sh").args(["-c", &script]).status().unwrap();
        assert!(status.success(), "kill -{name}");
    }

    /// Waits for the process to exit.
    pub(crate) fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "wsx serve did not exit within {within:?}; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `check` holds for the server, polling.
    pub(crate) fn wait_until(&self, what: &str, mut check: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !check(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// A plain client opens `/echo`, gets a text and a binary message back,
    /// and closes cleanly: the server still serves.
    pub(crate) fn assert_serves(&self) {
        let mut peer = Peer::open(self.addr);
        peer.send(Frame::text("still there?"));
        assert_eq!(peer.read_frame(), Frame::text("still there?").unmasked());
        peer.send(Frame::binary(vec![0, 1, 2, 255]));
        assert_eq!(peer.read_frame(), Frame::binary(vec![0, 1, 2, 255]).unmasked());
        peer.send(Frame::close(1000, ""));
        assert_eq!(peer.read_frame(), Frame::close(1000, "").unmasked());
        peer.expect_eof();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A valid opening handshake for `path` (RFC 6455 §1.3's key).
pub(crate) fn upgrade_request(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// One frame, as sent or as expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    /// The first byte: FIN, RSV1–3, opcode.
    pub(crate) b0: u8,
    pub(crate) payload: Vec<u8>,
    pub(crate) masked: bool,
}

impl Frame {
    pub(crate) fn new(b0: u8, payload: impl Into<Vec<u8>>) -> Self {
        Self { b0, payload: payload.into(), masked: true }
    }
    pub(crate) fn text(text: &str) -> Self {
        Self::new(0x81, text.as_bytes())
    }
    pub(crate) fn binary(data: Vec<u8>) -> Self {
        Self::new(0x82, data)
    }
    pub(crate) fn close(code: u16, reason: &str) -> Self {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.as_bytes());
        Self::new(0x88, payload)
    }
    pub(crate) fn unmasked(mut self) -> Self {
        self.masked = false;
        self
    }

    /// The wire bytes, with a fixed masking key when masked.
    pub(crate) fn encode(&self) -> Vec<u8> {
        encode_header(self.b0, self.payload.len() as u64, self.masked, &self.payload)
    }
}

/// A frame with any declared length (the payload may be shorter: the rest
/// is never sent), masked with the RFC 6455 §5.7 key when `masked`.
pub(crate) fn encode_header(b0: u8, len: u64, masked: bool, payload: &[u8]) -> Vec<u8> {
    wsx_test_support::frame_declaring(b0, len, masked.then_some(wsx_test_support::KEY), payload)
}

/// A raw TCP connection to the server.
pub(crate) struct Peer {
    pub(crate) tcp: TcpStream,
    buf: Vec<u8>,
}

impl Peer {
    pub(crate) fn connect(addr: SocketAddr) -> Self {
        let tcp = TcpStream::connect(addr).expect("connects");
        tcp.set_read_timeout(Some(PATIENCE)).unwrap();
        tcp.set_write_timeout(Some(PATIENCE)).unwrap();
        tcp.set_nodelay(true).unwrap();
        Self { tcp, buf: Vec::new() }
    }

    /// Connects and completes the handshake on `/echo`.
    pub(crate) fn open(addr: SocketAddr) -> Self {
        let mut peer = Self::connect(addr);
        peer.write(upgrade_request("/echo").as_bytes());
        let head = peer.read_head();
        assert!(head.starts_with("HTTP/1.1 101 "), "handshake refused: {head}");
        assert!(head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), "{head}");
        peer
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        self.tcp.write_all(bytes).expect("write");
    }

    pub(crate) fn send(&mut self, frame: Frame) {
        self.write(&frame.encode());
    }

    /// Reads more bytes; `false` at end of stream or on a reset.
    fn fill(&mut self) -> bool {
        let mut chunk = [0; 16 * 1024];
        match self.tcp.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => false,
            Err(e) => panic!("read failed: {e}"),
        }
    }

    /// An HTTP response head (and its body, if `Content-Length` says so).
    pub(crate) fn read_head(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..end + 4).collect();
                return String::from_utf8(head).expect("ASCII head");
            }
            assert!(self.fill(), "connection ended before a response head: {:?}", String::from_utf8_lossy(&self.buf));
        }
    }

    /// The status code of the response.
    pub(crate) fn read_status(&mut self) -> u16 {
        let head = self.read_head();
        head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("status line: {head}"))
    }

    /// The next frame from the server (which never masks).
    pub(crate) fn read_frame(&mut self) -> Frame {
        self.try_read_frame().unwrap_or_else(|| panic!("connection ended; {} bytes unparsed", self.buf.len()))
    }

    /// The next frame, or `None` if the connection ends first.
    pub(crate) fn try_read_frame(&mut self) -> Option<Frame> {
        loop {
            if self.buf.len() >= 2 {
                assert_eq!(self.buf[1] & 0x80, 0, "server frames are never masked");
                let (len, at) = match self.buf[1] & 0x7F {
                    126 if self.buf.len() >= 4 => (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4),
                    127 if self.buf.len() >= 10 => {
                        (u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize, 10)
                    }
                    126 | 127 => (usize::MAX, 0),
                    n => (n as usize, 2),
                };
                if len != usize::MAX && self.buf.len() >= at + len {
                    let b0 = self.buf[0];
                    let payload = self.buf[at..at + len].to_vec();
                    self.buf.drain(..at + len);
                    return Some(Frame { b0, payload, masked: false });
                }
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// Skips Pings and Pongs until the Close frame; returns its code.
    pub(crate) fn read_close_code(&mut self) -> u16 {
        loop {
            let frame = self.read_frame();
            match frame.b0 {
                0x89 | 0x8A => continue,
                0x88 => {
                    assert!(frame.payload.len() >= 2, "close without code");
                    if frame.payload.len() > 2 {
                        assert!(std::str::from_utf8(&frame.payload[2..]).is_ok(), "close reason not UTF-8");
                    }
                    return u16::from_be_bytes([frame.payload[0], frame.payload[1]]);
                }
                other => panic!("expected a Close frame, got opcode byte {other:#x}"),
            }
        }
    }

    /// The server failed the connection with `code` and closed the TCP
    /// connection (RFC 6455 §7.1.7: it does not wait for our Close).
    pub(crate) fn expect_failed_with(&mut self, code: u16) {
        assert_eq!(self.read_close_code(), code);
        self.expect_eof();
    }

    /// The server ends the TCP connection (FIN or reset) without more frames.
    pub(crate) fn expect_eof(&mut self) {
        assert!(self.buf.is_empty(), "expected end of stream, {} bytes unread", self.buf.len());
        let mut chunk = [0; 4096];
        match self.tcp.read(&mut chunk) {
            Ok(0) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Ok(n) => panic!("expected end of stream, got {n} more bytes"),
            Err(e) => panic!("expected end of stream: {e}"),
        }
    }

    /// Resets the connection (RST instead of FIN): linger 0, then close.
    pub(crate) fn reset(self) {
        let socket = socket2::Socket::from(self.tcp);
        socket.set_linger(Some(Duration::ZERO)).unwrap();
        drop(socket);
    }
}
