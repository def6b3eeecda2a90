//! Hostile HTTP/2 peers against the real `wsx serve`: frames written by
//! hand (RFC 9113 §4, HPACK literals of RFC 7541 §6.2.2), so a test can
//! send what a well-behaved library would refuse to. Each probe checks the
//! server's bounded answer (a stream error, GOAWAY, or nothing buffered),
//! and that an ordinary client is served afterwards.

#![allow(clippy::unwrap_used, reason = "test helpers: a failure should panic")]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::Node;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const WAIT: Duration = Duration::from_secs(20);

// Frame types (RFC 9113 §6) and flags.
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const ACK: u8 = 0x1;

// Error codes (RFC 9113 §7).
const PROTOCOL_ERROR: u32 = 0x1;
const STREAM_CLOSED: u32 = 0x5;
const REFUSED_STREAM: u32 = 0x7;
const CANCEL: u32 = 0x8;

/// A frame received.
#[derive(Debug, Clone)]
struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

impl Frame {
    fn error_code(&self) -> Option<u32> {
        let at = match self.kind {
            RST_STREAM => 0,
            GOAWAY => 4,
            _ => return None,
        };
        self.payload.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// HPACK integer with a 7-bit prefix (RFC 7541 §5.1), as string lengths use.
fn hpack_int(mut value: usize, out: &mut Vec<u8>) {
    if value < 127 {
        out.push(value as u8);
        return;
    }
    out.push(127);
    value -= 127;
    while value >= 128 {
        out.push((value % 128 + 128) as u8);
        value /= 128;
    }
    out.push(value as u8);
}

/// A header block of literals without indexing, new names (RFC 7541 §6.2.2).
fn header_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.push(0x00);
        hpack_int(name.len(), &mut out);
        out.extend_from_slice(name.as_bytes());
        hpack_int(value.len(), &mut out);
        out.extend_from_slice(value.as_bytes());
    }
    out
}

fn extended_connect(authority: &str, path: &str) -> Vec<u8> {
    header_block(&[
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", "http"),
        (":authority", authority),
        (":path", path),
        ("sec-websocket-version", "13"),
    ])
}

/// A raw HTTP/2 connection: frames out by hand, frames in on a thread.
struct Raw {
    tcp: TcpStream,
    frames: mpsc::Receiver<Frame>,
    authority: String,
}

impl Raw {
    /// Preface and `settings` (id, value) pairs; the server's SETTINGS are
    /// acknowledged as they come.
    fn connect(address: &str, settings: &[(u16, u32)]) -> Self {
        let mut tcp = TcpStream::connect(address).unwrap();
        tcp.set_nodelay(true).unwrap();
        let mut payload = Vec::new();
        for (id, value) in settings {
            payload.extend_from_slice(&id.to_be_bytes());
            payload.extend_from_slice(&value.to_be_bytes());
        }
        tcp.write_all(PREFACE).unwrap();
        tcp.write_all(&frame(SETTINGS, 0, 0, &payload)).unwrap();
        let (tx, frames) = mpsc::channel();
        let mut reader = tcp.try_clone().unwrap();
        let mut acker = tcp.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut head = [0u8; 9];
            while reader.read_exact(&mut head).is_ok() {
                let len = (usize::from(head[0]) << 16) | (usize::from(head[1]) << 8) | usize::from(head[2]);
                let mut payload = vec![0; len];
                if reader.read_exact(&mut payload).is_err() {
                    return;
                }
                let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
                let frame_in = Frame { kind: head[3], flags: head[4], stream, payload };
                if frame_in.kind == SETTINGS && frame_in.flags & ACK == 0 {
                    let _ = acker.write_all(&frame(SETTINGS, ACK, 0, &[]));
                }
                if tx.send(frame_in).is_err() {
                    return;
                }
            }
        });
        Self { tcp, frames, authority: address.to_owned() }
    }

    fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.tcp.write_all(bytes)
    }

    /// The first frame for which `want` holds, or `None` when the
    /// connection ended or `within` passed.
    fn wait_for(&self, within: Duration, want: impl Fn(&Frame) -> bool) -> Option<Frame> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.frames.recv_timeout(left) {
                Ok(frame) if want(&frame) => return Some(frame),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Every frame until the connection ends or `within` passes.
    fn drain(&self, within: Duration) -> Vec<Frame> {
        let deadline = Instant::now() + within;
        let mut all = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.frames.recv_timeout(left) {
                Ok(frame) => all.push(frame),
                Err(_) => break,
            }
        }
        all
    }
}

/// The server's RSS in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// An ordinary client still gets its echo over HTTP/2 and over HTTP/1.1.
async fn still_serves(server: &Node) {
    for mode in [wsx::HttpMode::Http2, wsx::HttpMode::Http1] {
        let (mut ws, _) = wsx::ClientBuilder::new(&format!("ws://{}/echo", server.address))
            .http(mode)
            .connect()
            .await
            .unwrap_or_else(|e| panic!("{mode:?} after the probe: {e}"));
        ws.send("still here").await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), wsx::Message::text("still here"));
        ws.close(wsx::CloseCode::NORMAL, "").await.unwrap();
    }
}

#[tokio::test]
async fn malformed_requests_are_stream_errors_and_refusals() {
    let server = Node::start(&[]);
    let mut raw = Raw::connect(&server.address, &[]);
    let authority = raw.authority.clone();
    // :protocol on a GET: malformed (RFC 8441 §4), a stream error.
    let get_with_protocol = header_block(&[
        (":method", "GET"),
        (":protocol", "websocket"),
        (":scheme", "http"),
        (":authority", &authority),
        (":path", "/echo"),
    ]);
    raw.send(&frame(HEADERS, END_HEADERS, 1, &get_with_protocol)).unwrap();
    let reset = raw.wait_for(WAIT, |f| f.kind == RST_STREAM && f.stream == 1).expect("stream 1 reset");
    assert_eq!(reset.error_code(), Some(PROTOCOL_ERROR));
    // An extended CONNECT without :path: malformed too.
    let no_path = header_block(&[
        (":method", "CONNECT"),
        (":protocol", "websocket"),
        (":scheme", "http"),
        (":authority", &authority),
    ]);
    raw.send(&frame(HEADERS, END_HEADERS, 3, &no_path)).unwrap();
    let reset = raw.wait_for(WAIT, |f| f.kind == RST_STREAM && f.stream == 3).expect("stream 3 reset");
    assert_eq!(reset.error_code(), Some(PROTOCOL_ERROR));
    // DATA after END_STREAM: the stream is closed (RFC 9113 §5.1).
    raw.send(&frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        5,
        &header_block(&[(":method", "GET"), (":scheme", "http"), (":authority", &authority), (":path", "/stats")]),
    ))
    .unwrap();
    raw.send(&frame(DATA, 0, 5, b"after the end")).unwrap();
    let error = raw
        .wait_for(WAIT, |f| (f.kind == RST_STREAM && f.stream == 5) || f.kind == GOAWAY)
        .expect("DATA after END_STREAM answered");
    // h2 answers it as a stream error (STREAM_CLOSED) or, once the stream
    // is fully closed, a connection error (PROTOCOL_ERROR): bounded either way.
    assert!(matches!(error.error_code(), Some(STREAM_CLOSED | PROTOCOL_ERROR)), "{error:?}");
    drop(raw);
    // A CONNECT without :protocol (a tunnel request) reaches wsx serve's
    // routes and is refused with a status, not a crash.
    let mut raw = Raw::connect(&server.address, &[]);
    let tunnel = header_block(&[(":method", "CONNECT"), (":authority", "example.com:443")]);
    raw.send(&frame(HEADERS, END_HEADERS, 1, &tunnel)).unwrap();
    let answer =
        raw.wait_for(WAIT, |f| f.stream == 1 && (f.kind == HEADERS || f.kind == RST_STREAM)).expect("answered");
    assert_eq!(answer.kind, HEADERS, "a status for the tunnel request: {answer:?}");
    still_serves(&server).await;
}

#[tokio::test]
async fn more_streams_than_allowed_are_refused() {
    let server = Node::start(&[]);
    let mut raw = Raw::connect(&server.address, &[]);
    let mut opened = 0;
    for i in 0..150u32 {
        let stream = 2 * i + 1;
        raw.send(&frame(HEADERS, END_HEADERS, stream, &extended_connect(&raw.authority.clone(), "/echo"))).unwrap();
        opened += 1;
    }
    // Generous: every answer must be in by then even on a loaded machine.
    let frames = raw.drain(Duration::from_secs(8));
    let refused = frames.iter().filter(|f| f.kind == RST_STREAM && f.error_code() == Some(REFUSED_STREAM)).count();
    let accepted = frames.iter().filter(|f| f.kind == HEADERS).count();
    assert_eq!(opened, 150);
    assert_eq!(accepted, 100, "SETTINGS_MAX_CONCURRENT_STREAMS is 100");
    assert_eq!(refused, 50, "the rest are REFUSED_STREAM");
    still_serves(&server).await;
}

#[tokio::test]
async fn rapid_reset_is_bounded() {
    let server = Node::start(&[]);
    let pid = server.pid();
    let before = rss_kib(pid);
    let mut raw = Raw::connect(&server.address, &[]);
    let authority = raw.authority.clone();
    let mut sent = 0u32;
    // CVE-2023-44487: open and cancel streams as fast as possible.
    for i in 0..20_000u32 {
        let stream = 2 * i + 1;
        let mut burst = frame(HEADERS, END_HEADERS, stream, &extended_connect(&authority, "/echo"));
        burst.extend(frame(RST_STREAM, 0, stream, &CANCEL.to_be_bytes()));
        if raw.send(&burst).is_err() {
            break;
        }
        sent += 1;
    }
    let frames = raw.drain(Duration::from_secs(3));
    let goaway = frames.iter().find(|f| f.kind == GOAWAY);
    let after = rss_kib(pid);
    eprintln!("rapid reset: {sent} streams opened and cancelled; GOAWAY {goaway:?}; RSS {before} -> {after} KiB");
    assert!(after < before + 64 * 1024, "RSS grew from {before} to {after} KiB");
    still_serves(&server).await;
}

#[tokio::test]
async fn continuation_flood_ends_the_connection() {
    let server = Node::start(&[]);
    let pid = server.pid();
    let before = rss_kib(pid);
    let mut raw = Raw::connect(&server.address, &[]);
    let authority = raw.authority.clone();
    raw.send(&frame(HEADERS, 0, 1, &extended_connect(&authority, "/echo"))).unwrap();
    let filler = header_block(&[("x-filler", &"a".repeat(4000))]);
    let mut written = 0usize;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && written < 64 << 20 {
        if raw.send(&frame(CONTINUATION, 0, 1, &filler)).is_err() {
            break;
        }
        written += filler.len();
    }
    let frames = raw.drain(Duration::from_secs(3));
    let after = rss_kib(pid);
    eprintln!(
        "CONTINUATION flood: {written} bytes written; frames back {:?}; RSS {before} -> {after} KiB",
        frames.iter().map(|f| (f.kind, f.error_code())).collect::<Vec<_>>()
    );
    assert!(written < 64 << 20, "the server took {written} bytes of one header block");
    assert!(after < before + 64 * 1024, "RSS grew from {before} to {after} KiB");
    still_serves(&server).await;
}

#[tokio::test]
async fn settings_and_ping_floods_are_bounded() {
    let server = Node::start(&[]);
    let pid = server.pid();
    let before = rss_kib(pid);
    for (name, bytes) in [
        ("SETTINGS", frame(SETTINGS, 0, 0, &[0, 4, 0, 1, 0, 0])),
        ("PING", frame(PING, 0, 0, &[1, 2, 3, 4, 5, 6, 7, 8])),
    ] {
        // The flooder never reads: acknowledgements pile up on its side only.
        let mut tcp = TcpStream::connect(&server.address).unwrap();
        tcp.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        tcp.write_all(PREFACE).unwrap();
        tcp.write_all(&frame(SETTINGS, 0, 0, &[])).unwrap();
        let burst: Vec<u8> = bytes.iter().copied().cycle().take(bytes.len() * 1000).collect();
        let mut frames = 0usize;
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && tcp.write_all(&burst).is_ok() {
            frames += 1000;
        }
        let after = rss_kib(pid);
        eprintln!(
            "{name} flood: {frames} frames written before the server stopped reading or closed; RSS {before} -> {after} KiB"
        );
        assert!(after < before + 64 * 1024, "{name}: RSS grew from {before} to {after} KiB");
    }
    still_serves(&server).await;
}

#[tokio::test]
async fn a_window_that_never_opens_ends_the_socket() {
    // The client grants no window (SETTINGS_INITIAL_WINDOW_SIZE = 0): the
    // server can answer the CONNECT (HEADERS are not flow-controlled) but
    // never send a frame. Keepalive and the close timeout end the socket.
    let server = Node::start(&["--keepalive", "1", "--close-timeout", "1"]);
    let mut raw = Raw::connect(&server.address, &[(0x4, 0)]);
    let authority = raw.authority.clone();
    raw.send(&frame(HEADERS, END_HEADERS, 1, &extended_connect(&authority, "/echo"))).unwrap();
    raw.wait_for(WAIT, |f| f.kind == HEADERS && f.stream == 1).expect("the 200");
    // A masked text frame "hi" (RFC 6455 §5.7), whose echo cannot be sent.
    raw.send(&frame(DATA, 0, 1, &[0x81, 0x82, 0x37, 0xfa, 0x21, 0x3d, 0x5f, 0x93])).unwrap();
    let start = Instant::now();
    let end =
        raw.wait_for(WAIT, |f| f.stream == 1 && (f.kind == RST_STREAM || f.flags & END_STREAM != 0 || f.kind == DATA));
    let end = end.expect("the stuck socket ends");
    assert_ne!(end.kind, DATA, "no DATA may be sent without window: {end:?}");
    assert!(start.elapsed() < Duration::from_secs(10), "ended after {:?}", start.elapsed());
    still_serves(&server).await;
}
