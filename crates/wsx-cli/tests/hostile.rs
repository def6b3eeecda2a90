//! A hostile peer against a real `wsx serve` (RFC 6455 §4.2, §5, §7, §10):
//! hand-made bytes on a plain TCP socket, each case asserting the exact answer
//! (HTTP status or close code) and that the server still serves a normal
//! client afterwards. Memory is read from /proc/PID/status. The limits relied
//! on are `wsx serve` defaults (64 MiB messages, 131,072 fragments, 16 KiB /
//! 100-header request heads, 64 KiB write high-water) or passed as flags.

#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test")]

mod raw;

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use raw::{Frame, Peer, Served, encode_header, upgrade_request};

/// What a flood may add to the server's peak memory: far below what the
/// flood would cost if it were buffered.
const FLOOD_MEMORY_KIB: u64 = 48 * 1024;

/// Sends `request` and returns the status and the whole head.
fn answer(server: &Served, request: &[u8]) -> (u16, String) {
    let mut peer = Peer::connect(server.addr);
    // The server may answer and close before reading everything: a failed
    // write is part of the scenario.
    let _ = peer.tcp.write_all(request);
    let head = peer.read_head();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status");
    (status, head)
}

fn with_header(header: &str) -> String {
    upgrade_request("/echo").replace("\r\n\r\n", &format!("\r\n{header}\r\n\r\n"))
}

// ----- handshake -------------------------------------------------------------

#[test]
fn a_one_megabyte_header_line_is_431() {
    let server = Served::start(&[]);
    let mut request = b"GET /echo HTTP/1.1\r\nHost: localhost\r\nX-Big: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 1 << 20));
    request.extend_from_slice(b"\r\n\r\n");
    let (status, _) = answer(&server, &request);
    assert_eq!(status, 431);
    // The head limit is 16 KiB: nothing close to the megabyte is kept.
    assert!(server.status_kib("VmHWM") < 64 * 1024, "peak RSS {} KiB", server.status_kib("VmHWM"));
    server.assert_serves();
}

#[test]
fn thousands_of_headers_are_431() {
    let server = Served::start(&[]);
    for count in [101, 5_000] {
        let headers: String = (0..count).map(|i| format!("X-H{i}: v\r\n")).collect();
        let (status, _) = answer(&server, with_header(headers.trim_end()).as_bytes());
        assert_eq!(status, 431, "{count} headers");
    }
    server.assert_serves();
}

#[test]
fn slowloris_is_closed_at_the_handshake_deadline() {
    let server = Served::start(&["--handshake-timeout", "2"]);
    let mut peer = Peer::connect(server.addr);
    let request = upgrade_request("/echo");
    let start = Instant::now();
    let mut closed_early = false;
    for byte in request.as_bytes() {
        // One byte every 100 ms: the whole request would take ~17 s.
        if peer.tcp.write_all(&[*byte]).is_err() {
            closed_early = true;
            break;
        }
        thread::sleep(Duration::from_millis(100));
        if start.elapsed() > Duration::from_secs(4) {
            break;
        }
    }
    // Closed without any answer: no 101, no bytes.
    if !closed_early {
        peer.expect_eof();
    }
    assert!(start.elapsed() >= Duration::from_secs(2), "closed before the deadline");
    server.assert_serves();
}

#[test]
fn refused_requests_get_their_status() {
    let server = Served::start(&[]);
    let valid = upgrade_request("/echo");
    let cases: Vec<(&str, String, u16)> = vec![
        ("POST", valid.replace("GET ", "POST "), 400),
        ("HTTP/1.0", valid.replace("HTTP/1.1", "HTTP/1.0"), 400),
        ("no key", valid.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""), 400),
        ("bad key", valid.replace("dGhlIHNhbXBsZSBub25jZQ==", "not-base64-of-16"), 400),
        ("short key", valid.replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="), 400),
        ("Connection without upgrade", valid.replace("Connection: Upgrade", "Connection: keep-alive"), 400),
        ("no Upgrade", valid.replace("Upgrade: websocket\r\n", ""), 400),
        ("no Host", valid.replace("Host: localhost\r\n", ""), 400),
        ("a body", with_header("Content-Length: 5") + "hello", 400),
        ("chunked body", with_header("Transfer-Encoding: chunked") + "0\r\n\r\n", 400),
        ("garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\x7c\x03\x03\r\n\r\n".to_owned(), 400),
        ("version 8", valid.replace("Version: 13", "Version: 8"), 426),
        ("no version", valid.replace("Sec-WebSocket-Version: 13\r\n", ""), 426),
    ];
    for (name, request, expected) in cases {
        let (status, head) = answer(&server, request.as_bytes());
        assert_eq!(status, expected, "{name}: {head}");
        if expected == 426 {
            // RFC 6455 §4.2.2: the versions we support, in the answer.
            assert!(head.contains("Sec-WebSocket-Version: 13\r\n"), "{name}: {head}");
        }
    }
    server.assert_serves();
}

#[test]
fn frames_in_the_same_segment_as_the_handshake_work() {
    let server = Served::start(&[]);
    let mut peer = Peer::connect(server.addr);
    let mut bytes = upgrade_request("/echo").into_bytes();
    bytes.extend(Frame::text("first").encode());
    bytes.extend(Frame::text("second").encode());
    peer.write(&bytes);
    assert!(peer.read_head().starts_with("HTTP/1.1 101 "));
    assert_eq!(peer.read_frame(), Frame::text("first").unmasked());
    assert_eq!(peer.read_frame(), Frame::text("second").unmasked());
    server.assert_serves();
}

// ----- framing ---------------------------------------------------------------

/// Opens `/echo`, sends `bytes` and expects the server to fail the
/// connection with `code`.
fn fails_with(server: &Served, bytes: &[u8], code: u16, case: &str) {
    let mut peer = Peer::open(server.addr);
    // The server may fail the connection before it has read everything.
    let _ = peer.tcp.write_all(bytes);
    let got = peer.read_close_code();
    assert_eq!(got, code, "{case}");
    peer.expect_eof();
}

#[test]
fn framing_violations_fail_with_the_right_code() {
    let server = Served::start(&[]);
    let start_text = Frame::new(0x01, "part").encode();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked frame", Frame::text("x").unmasked().encode(), 1002),
        ("RSV1", Frame::new(0xC1, "x").encode(), 1002),
        ("RSV2", Frame::new(0xA1, "x").encode(), 1002),
        ("RSV3", Frame::new(0x91, "x").encode(), 1002),
        ("reserved data opcode 0x3", Frame::new(0x83, "").encode(), 1002),
        ("reserved control opcode 0xB", Frame::new(0x8B, "").encode(), 1002),
        ("126-byte ping", Frame::new(0x89, vec![0; 126]).encode(), 1002),
        ("126-byte close", encode_header(0x88, 126, true, &[3, 232]), 1002),
        ("fragmented ping", Frame::new(0x09, "x").encode(), 1002),
        ("64-bit length, top bit set", encode_header(0x82, 1 << 63, true, b""), 1002),
        ("continuation without start", Frame::new(0x80, "x").encode(), 1002),
        ("text inside a fragmented message", [start_text.clone(), Frame::text("new").encode()].concat(), 1002),
        ("binary inside a fragmented message", [start_text, Frame::binary(vec![1]).encode()].concat(), 1002),
        ("close with 1 byte", Frame::new(0x88, vec![3]).encode(), 1002),
        ("close code 999", Frame::close(999, "").encode(), 1002),
        ("close code 1005", Frame::close(1005, "").encode(), 1002),
        ("close code 1006", Frame::close(1006, "").encode(), 1002),
        ("close code 1016", Frame::close(1016, "").encode(), 1002),
        ("close code 2999", Frame::close(2999, "").encode(), 1002),
        ("close code 5000", Frame::close(5000, "").encode(), 1002),
        ("close reason not UTF-8", Frame::new(0x88, vec![3, 232, 0xff]).encode(), 1007),
    ];
    for (case, bytes, code) in cases {
        fails_with(&server, &bytes, code, case);
    }
    server.assert_serves();
}

#[test]
fn huge_lengths_are_1009_at_the_header_without_allocating() {
    let server = Served::start(&[]);
    let before = server.status_kib("VmHWM");
    for len in [(64 << 20) + 1, 1 << 40, (1 << 63) - 1] {
        // Only the header is sent: the answer cannot wait for the payload.
        fails_with(&server, &encode_header(0x82, len, true, b""), 1009, &format!("length {len}"));
    }
    // A fragmented message whose total crosses the limit fails at the
    // header of the frame that crosses it.
    let mut peer = Peer::open(server.addr);
    peer.write(&encode_header(0x02, 40 << 20, true, b""));
    peer.write(&vec![0; 40 << 20]);
    peer.write(&encode_header(0x80, 30 << 20, true, b""));
    peer.expect_failed_with(1009);
    let grown = server.status_kib("VmHWM").saturating_sub(before);
    assert!(grown < 96 * 1024, "peak RSS grew by {grown} KiB");
    server.assert_serves();
}

#[test]
fn invalid_utf8_fails_fast_at_each_position() {
    let server = Served::start(&[]);
    // RFC 6455 §8.1; Autobahn 6.4: fail before the message (or the frame) ends.
    let bad = [0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xF4, 0x90, 0x80, 0x80];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("single frame", Frame::new(0x81, bad.to_vec()).encode()),
        ("first byte", Frame::new(0x81, vec![0x80]).encode()),
        ("surrogate", Frame::new(0x81, vec![0xED, 0xA0, 0x80]).encode()),
        ("overlong", Frame::new(0x81, vec![0xC0, 0xAF]).encode()),
        ("truncated at the end of the message", Frame::new(0x81, vec![b'a', 0xE2, 0x82]).encode()),
        // The message never ends: the first fragment is enough to fail.
        ("first fragment, no FIN ever", Frame::new(0x01, bad.to_vec()).encode()),
        ("continuation", [Frame::new(0x01, "ok").encode(), Frame::new(0x00, bad.to_vec()).encode()].concat()),
        ("final continuation", [Frame::new(0x01, "ok").encode(), Frame::new(0x80, vec![0xFF]).encode()].concat()),
        (
            "split across fragments",
            [Frame::new(0x01, vec![0xF4]).encode(), Frame::new(0x00, vec![0x90]).encode()].concat(),
        ),
    ];
    for (case, bytes) in cases {
        fails_with(&server, &bytes, 1007, case);
    }
    // Mid-frame: a 100-byte frame whose 3rd byte is invalid fails after 5
    // bytes of payload, the other 95 never sent.
    let frame = encode_header(0x81, 100, true, &[b'o', b'k', 0xFF, b'x', b'y']);
    fails_with(&server, &frame, 1007, "mid-frame");
    server.assert_serves();
}

// ----- floods ----------------------------------------------------------------

/// Writes `frame` `count` times, in big batches, from a thread that ignores
/// the write failing once the server gives up.
fn flood(peer: &Peer, frame: &[u8], count: usize) -> thread::JoinHandle<usize> {
    let mut tcp = peer.tcp.try_clone().unwrap();
    let batch: Vec<u8> = frame.iter().copied().cycle().take(frame.len() * 8192).collect();
    thread::spawn(move || {
        let mut sent = 0;
        while sent < count {
            if tcp.write_all(&batch).is_err() {
                break;
            }
            sent += 8192;
        }
        sent
    })
}

#[test]
fn floods_of_tiny_continuation_frames_are_1008() {
    let server = Served::start(&[]);
    let before = server.status_kib("VmHWM");
    for (case, payload) in [("1-byte", &b"a"[..]), ("0-byte", &b""[..])] {
        let mut peer = Peer::open(server.addr);
        peer.send(Frame::new(0x02, payload));
        // A million continuation frames; the limit is 131,072 per message.
        let writer = flood(&peer, &Frame::new(0x00, payload).encode(), 1_000_000);
        assert_eq!(peer.read_close_code(), 1008, "{case}");
        peer.expect_eof();
        writer.join().unwrap();
    }
    let grown = server.status_kib("VmHWM").saturating_sub(before);
    assert!(grown < FLOOD_MEMORY_KIB, "peak RSS grew by {grown} KiB");
    server.assert_serves();
}

#[test]
fn a_ping_flood_from_a_peer_that_never_reads_stays_bounded() {
    let server = Served::start(&[]);
    let before = server.status_kib("VmHWM");
    let mut peer = Peer::open(server.addr);
    // 300,000 pings of 125 bytes (39 MB of pings, as much in pongs owed);
    // we read nothing while they go.
    let writer = flood(&peer, &Frame::new(0x89, vec![7; 125]).encode(), 300_000);
    assert!(writer.join().unwrap() >= 300_000, "the server kept reading");
    let grown = server.status_kib("VmHWM").saturating_sub(before);
    assert!(grown < FLOOD_MEMORY_KIB, "peak RSS grew by {grown} KiB");
    // The connection still works: pongs (at most the ones already written
    // plus the newest), then the echo.
    peer.send(Frame::text("after the flood"));
    loop {
        let frame = peer.read_frame();
        if frame.b0 == 0x8A {
            assert_eq!(frame.payload, vec![7; 125]);
            continue;
        }
        assert_eq!(frame, Frame::text("after the flood").unmasked());
        break;
    }
    peer.send(Frame::close(1000, ""));
    assert_eq!(peer.read_close_code(), 1000);
    server.assert_serves();
}

#[test]
fn a_slow_reader_of_a_fast_writer_costs_at_most_the_write_buffer() {
    let server = Served::start(&[]);
    let before = server.rss_kib();
    let mut peer = Peer::open(server.addr);
    peer.tcp.set_write_timeout(Some(Duration::from_secs(3))).unwrap();
    // 256 KiB messages to /echo, never reading the echoes: the server's
    // sends wait at the high-water mark, it stops reading, TCP pushes back.
    let message = Frame::binary(vec![0x5A; 256 << 10]).encode();
    let mut sent = 0usize;
    while sent < 200 {
        if peer.tcp.write_all(&message).is_err() {
            break;
        }
        sent += 1;
    }
    assert!(sent < 200, "50 MiB went in without the server pushing back");
    let grown = server.rss_kib().saturating_sub(before);
    assert!(grown < 16 * 1024, "RSS grew by {grown} KiB with {sent} messages sent");
    drop(peer);
    server.assert_serves();
}

/// A raw-deflate stream (RFC 7692 §7.2.1, tail removed) that inflates to
/// `mib` MiB of zeros: one compressed MiB repeated, ~1 KiB each.
fn deflate_bomb(mib: usize) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    let zeros = vec![0u8; 1 << 20];
    let mut deflate = Compress::new(Compression::best(), false);
    let block = |deflate: &mut Compress| {
        let mut out = Vec::with_capacity(8 << 10);
        deflate.compress_vec(&zeros, &mut out, FlushCompress::Sync).unwrap();
        assert_eq!(deflate.total_in() % (1 << 20), 0, "whole MiB consumed");
        out
    };
    // The first MiB fills the window with zeros; every later one refers
    // only to zeros, so its bytes can be repeated as they are.
    let first = block(&mut deflate);
    let next = block(&mut deflate);
    let mut stream = first;
    for _ in 1..mib {
        stream.extend_from_slice(&next);
    }
    assert!(stream.ends_with(&[0, 0, 0xff, 0xff]));
    stream.truncate(stream.len() - 4);
    stream
}

#[test]
fn a_decompression_bomb_is_1009_with_memory_bounded_by_the_limit() {
    // 1 MiB messages: a 256 MiB bomb (about 256 KiB on the wire) must stop
    // at the limit, after inflating at most one more step.
    let server = Served::start(&["--max-message", "1048576"]);
    let before = server.status_kib("VmHWM");
    let request = with_header("Sec-WebSocket-Extensions: permessage-deflate");
    for (case, first_byte) in [("binary", 0xC2u8), ("text", 0xC1)] {
        let mut peer = Peer::connect(server.addr);
        peer.write(request.as_bytes());
        let head = peer.read_head();
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        assert!(head.to_ascii_lowercase().contains("sec-websocket-extensions: permessage-deflate"), "{head}");
        let bomb = deflate_bomb(256);
        // RSV1 marks the message compressed (RFC 7692 §6).
        let _ = peer.tcp.write_all(&encode_header(first_byte, bomb.len() as u64, true, &bomb));
        assert_eq!(peer.read_close_code(), 1009, "{case}");
        peer.expect_eof();
    }
    let grown = server.status_kib("VmHWM").saturating_sub(before);
    assert!(grown < 16 * 1024, "peak RSS grew by {grown} KiB for a 256 MiB bomb");
    server.assert_serves();
}

// ----- faults ----------------------------------------------------------------

#[test]
fn resets_mid_handshake_mid_frame_and_mid_close_release_everything() {
    let server = Served::start(&[]);
    server.assert_serves();
    let fds = server.fds();
    let rss = server.rss_kib();
    for round in 0..100 {
        // Mid-handshake.
        let mut peer = Peer::connect(server.addr);
        peer.write(&upgrade_request("/echo").as_bytes()[..40]);
        peer.reset();
        // Mid-frame: 1 MiB declared, 10 bytes sent.
        let mut peer = Peer::open(server.addr);
        peer.write(&encode_header(0x82, 1 << 20, true, &[1; 10]));
        peer.reset();
        // Mid-close: our Close sent, the server's never read.
        let mut peer = Peer::open(server.addr);
        peer.send(Frame::close(1000, "bye"));
        peer.reset();
        if round % 25 == 0 {
            server.assert_serves();
        }
    }
    server.wait_until("descriptors back to the baseline", |s| s.fds() <= fds);
    let grown = server.rss_kib().saturating_sub(rss);
    assert!(grown < 8 * 1024, "RSS grew by {grown} KiB after 300 resets");
    server.assert_serves();
}

#[test]
fn a_half_open_peer_is_dropped_by_keepalive() {
    let server = Served::start(&["--keepalive", "1"]);
    let fds = server.fds();
    let mut peer = Peer::open(server.addr);
    // A peer that has vanished: it never answers the Ping.
    let ping = peer.read_frame();
    assert_eq!(ping.b0, 0x89, "a keepalive Ping");
    let start = Instant::now();
    loop {
        match peer.try_read_frame() {
            None => break,
            Some(frame) => assert!(frame.b0 == 0x89 || frame.b0 == 0x88, "unexpected {frame:?}"),
        }
    }
    assert!(start.elapsed() < Duration::from_secs(10), "dropped after {:?}", start.elapsed());
    server.wait_until("the descriptor released", |s| s.fds() <= fds);
    server.assert_serves();
}

#[test]
fn a_peer_that_never_answers_our_close_is_dropped_at_the_close_timeout() {
    let server = Served::start(&["--idle-timeout", "1", "--close-timeout", "1", "--keepalive", "0"]);
    let fds = server.fds();
    let mut peer = Peer::open(server.addr);
    // The idle timeout closes with 1001; we never answer.
    assert_eq!(peer.read_close_code(), 1001);
    let start = Instant::now();
    peer.expect_eof();
    assert!(start.elapsed() < Duration::from_secs(10), "dropped after {:?}", start.elapsed());
    server.wait_until("the descriptor released", |s| s.fds() <= fds);
    server.assert_serves();
}
