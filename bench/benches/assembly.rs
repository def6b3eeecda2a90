//! Micro-benchmarks against the peers, on identical bytes:
//!
//! - **Message assembly** (receive side, RFC 6455 §5.4/§5.6): masked client
//!   frames → one complete message at a server endpoint. One 64 KiB binary
//!   frame; 64 KiB binary in 16 fragments of 4 KiB; 64 KiB text (mixed
//!   UTF-8, fragments split characters) in 16 fragments; 1 MiB binary in 16
//!   fragments of 64 KiB. wsx: a server `wsx::proto::Connection` fed as
//!   the `wsx` driver feeds it (`read_hint` bytes of room in
//!   `receive_buffer`, filled from the stream, then `poll_event`), and
//!   with the whole wire in one `receive`. tungstenite: the sync `WebSocket::from_raw_socket`
//!   and `read`. fastwebsockets: `FragmentCollector::read_frame`. yawc:
//!   `WebSocket::from_stream` (UTF-8 checking on) and `next_frame`.
//! - **permessage-deflate** (RFC 7692), one message per iteration, context
//!   takeover on: a stream of distinct JSON-lines messages cut from
//!   `crates/wsx-proto/benches/data/corpus.json` (≈ 1 KiB and ≈ 64 KiB each),
//!   compressed and decompressed in order, cycling (the first message refers
//!   to no earlier one, so the cycle stays a valid stream). wsx's codec
//!   (`wsx::proto::extension::codec`) and a wsx `Connection` (framing
//!   included) against flate2 on zlib-rs (the best crate technique, same
//!   backend) and yawc's `WebSocket` (the only peer with permessage-deflate:
//!   tungstenite 0.30 and fastwebsockets 0.10 have none). yawc compresses
//!   with flate2, which this build puts on zlib-rs too; its window is 15 bits
//!   and memLevel 8, so wsx is measured both with its defaults (12/5) and
//!   with 15/8.
//!
//! Every endpoint reads from the same in-memory stream, which serves the
//! wire bytes again and again (a read never crosses the end of one copy)
//! and discards writes. Each endpoint lives across iterations (steady state,
//! no per-message setup). The async peers run each iteration under
//! `block_on` of one current-thread tokio runtime: the stream never returns
//! `Pending`, so this adds the same small fixed cost to every async
//! measurement (≈ 0.1 µs) and none to wsx and tungstenite, which are
//! called directly. Before timing, every endpoint is checked once to
//! produce exactly the expected messages.
//!
//! `cargo bench --bench assembly -- --warm-up-time 1 --measurement-time 2` (in `bench/`).

#![allow(missing_docs, reason = "criterion_group!/criterion_main! generate undocumented items")]
#![allow(clippy::unwrap_used, reason = "benchmarks: a panic is the failure report")]

use std::hint::black_box;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use futures_util::SinkExt;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::runtime::Runtime;
use tokio_tungstenite::tungstenite;
use wsx::proto::connection::MessageKind;
use wsx::proto::extension::codec::{Compressor, Decompressor, Inflated};
use wsx::proto::extension::{DeflateConfig, DeflateParams};
use wsx::proto::{Config, Connection, Event, Message, Negotiated, Role, Transmit};

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
const CORPUS: &[u8] = include_bytes!("../../crates/wsx-proto/benches/data/corpus.json");

/// An in-memory stream: reads serve `wire` from the start again once it
/// is consumed (never crossing the end in one read), writes are dropped.
struct Replay {
    wire: Vec<u8>,
    pos: usize,
}

impl Replay {
    fn new(wire: Vec<u8>) -> Self {
        Self { wire, pos: 0 }
    }

    /// The next at most `max` bytes.
    fn take(&mut self, max: usize) -> &[u8] {
        if self.pos == self.wire.len() {
            self.pos = 0;
        }
        let start = self.pos;
        self.pos += max.min(self.wire.len() - start);
        &self.wire[start..self.pos]
    }

    fn fill(&mut self, out: &mut [u8]) -> usize {
        let bytes = self.take(out.len());
        let n = bytes.len();
        out[..n].copy_from_slice(bytes);
        n
    }
}

impl Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.fill(buf))
    }
}

impl Write for Replay {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsyncRead for Replay {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = this.fill(buf.initialize_unfilled());
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Replay {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The next message at a wsx endpoint, read as the `wsx` driver reads:
/// `read_hint` bytes of room reserved in the receive buffer, as much as
/// the stream gives copied into it, then `poll_event`.
fn wsx_read(conn: &mut Connection, stream: &mut Replay) -> Message {
    loop {
        match conn.poll_event() {
            Some(Event::Message(m)) => return m,
            Some(other) => panic!("expected a data message, got {other:?}"),
            None => {
                let hint = conn.read_hint();
                let buf = conn.receive_buffer();
                buf.reserve(hint);
                let room = buf.capacity() - buf.len();
                buf.extend_from_slice(stream.take(room));
            }
        }
    }
}

fn rng(seed: u64) -> Box<StdRng> {
    Box::new(StdRng::seed_from_u64(seed))
}

/// A received message as (is text, bytes), whoever received it.
type Received = (bool, Vec<u8>);

fn wsx_message(event: Option<Event>) -> Received {
    match event {
        Some(Event::Message(m)) => received(&m),
        other => panic!("expected a data message, got {other:?}"),
    }
}

fn received(message: &Message) -> Received {
    match message {
        Message::Text(text) => (true, text.as_bytes().to_vec()),
        Message::Binary(data) => (false, data.to_vec()),
        other => panic!("expected a data message, got {other:?}"),
    }
}

/// Text of `size` bytes, a multi-byte character (2, 3 or 4 bytes) every
/// few words.
fn mixed_text(size: usize) -> String {
    let pieces = ["The quick brown fox ", "jumps — ", "über ", "the lazy dög ", "€42 ", "😀 "];
    let mut text = String::with_capacity(size);
    'fill: loop {
        for p in pieces {
            if text.len() + p.len() > size {
                break 'fill;
            }
            text.push_str(p);
        }
    }
    while text.len() < size {
        text.push('.');
    }
    text
}

/// The masked client frames of one message in fragments of `fragment` bytes.
fn client_frames(message: &Message, fragment: usize) -> Vec<u8> {
    let config = Config::default().max_message_size(2 * MIB);
    let mut client = Connection::new(Negotiated::new(Role::Client), config, rng(7));
    let (kind, payload) = match message {
        Message::Text(t) => (MessageKind::Text, t.as_bytes()),
        Message::Binary(b) => (MessageKind::Binary, &b[..]),
        _ => unreachable!("data messages only"),
    };
    let pieces: Vec<&[u8]> = payload.chunks(fragment).collect();
    for (i, piece) in pieces.iter().enumerate() {
        client.send_fragment(kind, piece.to_vec(), i + 1 == pieces.len()).unwrap();
    }
    let mut wire = Vec::new();
    while let Some(Transmit::Bytes(bytes)) = client.poll_transmit() {
        wire.extend_from_slice(&bytes);
    }
    wire
}

fn assembly(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let cases: [(&str, Message, usize); 4] = [
        ("64 KiB binary, 1 frame", Message::Binary(vec![0x5a; 64 * KIB].into()), 64 * KIB),
        ("64 KiB binary, 16 x 4 KiB", Message::Binary(vec![0x5a; 64 * KIB].into()), 4 * KIB),
        ("64 KiB mixed text, 16 x 4 KiB", Message::Text(mixed_text(64 * KIB).into()), 4 * KIB),
        ("1 MiB binary, 16 x 64 KiB", Message::Binary(vec![0x5a; MIB].into()), 64 * KIB),
    ];
    let mut group = c.benchmark_group("assembly");
    for (name, message, fragment) in cases {
        let wire = client_frames(&message, fragment);
        let expected = received(&message);
        group.throughput(Throughput::Bytes(expected.1.len() as u64));

        let config = Config::default().max_message_size(2 * MIB);
        let mut wsx = Connection::new(Negotiated::new(Role::Server), config.clone(), rng(1));
        let mut stream = Replay::new(wire.clone());
        assert_eq!(received(&wsx_read(&mut wsx, &mut stream)), expected, "wsx, {name}");
        group.bench_function(BenchmarkId::new("wsx Connection", name), |b| {
            b.iter(|| black_box(wsx_read(&mut wsx, &mut stream)))
        });

        // The whole wire handed over in one `receive` (one copy of it all).
        let mut wsx = Connection::new(Negotiated::new(Role::Server), config, rng(1));
        wsx.receive(&wire);
        assert_eq!(wsx_message(wsx.poll_event()), expected, "wsx, {name}");
        group.bench_function(BenchmarkId::new("wsx Connection, one receive", name), |b| {
            b.iter(|| {
                wsx.receive(black_box(&wire));
                match wsx.poll_event() {
                    Some(Event::Message(m)) => black_box(m),
                    other => panic!("{other:?}"),
                }
            })
        });

        let mut tung = tungstenite::WebSocket::from_raw_socket(
            Replay::new(wire.clone()),
            tungstenite::protocol::Role::Server,
            None,
        );
        let got = match tung.read().unwrap() {
            tungstenite::Message::Text(t) => (true, t.as_bytes().to_vec()),
            tungstenite::Message::Binary(b) => (false, b.to_vec()),
            other => panic!("{other:?}"),
        };
        assert_eq!(got, expected, "tungstenite, {name}");
        group.bench_function(BenchmarkId::new("tungstenite WebSocket::read", name), |b| {
            b.iter(|| black_box(tung.read().unwrap()))
        });

        let mut fws = fastwebsockets::FragmentCollector::new(fastwebsockets::WebSocket::after_handshake(
            Replay::new(wire.clone()),
            fastwebsockets::Role::Server,
        ));
        let got = rt.block_on(async {
            let frame = fws.read_frame().await.unwrap();
            (frame.opcode == fastwebsockets::OpCode::Text, frame.payload.to_vec())
        });
        assert_eq!(got, expected, "fastwebsockets, {name}");
        group.bench_function(BenchmarkId::new("fastwebsockets FragmentCollector", name), |b| {
            b.iter(|| rt.block_on(async { black_box(fws.read_frame().await.unwrap().payload.len()) }))
        });

        let options = yawc::Options::default().with_utf8().with_max_payload_read(2 * MIB).with_max_read_buffer(2 * MIB);
        let mut yawc = yawc::WebSocket::from_stream(Replay::new(wire.clone()), yawc::Role::Server, options).unwrap();
        let got = rt.block_on(async {
            let frame = yawc.next_frame().await.unwrap();
            (frame.opcode() == yawc::OpCode::Text, frame.payload().to_vec())
        });
        assert_eq!(got, expected, "yawc, {name}");
        group.bench_function(BenchmarkId::new("yawc WebSocket", name), |b| {
            b.iter(|| rt.block_on(async { black_box(yawc.next_frame().await.unwrap()) }))
        });
    }
    group.finish();
}

/// Distinct messages of whole corpus lines, each at least `size` bytes.
fn messages(size: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in CORPUS.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        current.push_str(std::str::from_utf8(line).unwrap());
        current.push('\n');
        if current.len() >= size {
            out.push(std::mem::take(&mut current));
        }
    }
    out
}

/// flate2 raw deflate, one message: sync flush, the `00 00 ff ff` tail cut.
fn flate2_deflate(c: &mut Compress, input: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let before = c.total_in();
    loop {
        out.reserve(input.len() / 2 + 64);
        let done = (c.total_in() - before) as usize;
        c.compress_vec(&input[done..], out, FlushCompress::Sync).unwrap();
        // Finished once all input is in and the flush left room unused.
        if (c.total_in() - before) as usize == input.len() && out.len() < out.capacity() {
            break;
        }
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
}

/// flate2 raw inflate of one message: the tail appended, `size_hint`
/// bytes of room to start with.
fn flate2_inflate(d: &mut Decompress, input: &[u8], scratch: &mut Vec<u8>, out: &mut Vec<u8>, size_hint: usize) {
    scratch.clear();
    scratch.extend_from_slice(input);
    scratch.extend_from_slice(&[0, 0, 0xff, 0xff]);
    out.clear();
    out.reserve(size_hint);
    let before = d.total_in();
    loop {
        let done = (d.total_in() - before) as usize;
        let status = d.decompress_vec(&scratch[done..], out, FlushDecompress::Sync).unwrap();
        if (d.total_in() - before) as usize == scratch.len() && out.len() < out.capacity()
            || status == Status::StreamEnd
        {
            break;
        }
        out.reserve(out.capacity().max(1024));
    }
}

fn wsx_inflate(d: &mut Decompressor, input: &[u8]) -> Vec<u8> {
    let mut out = Inflated::default();
    d.inflate(input, &mut out, usize::MAX / 2, None).unwrap();
    d.finish(&mut out, usize::MAX / 2, None).unwrap();
    out.into_bytes().into()
}

/// A wsx endpoint with permessage-deflate negotiated (no window limits),
/// compressing with `window`/`mem_level`.
fn wsx_deflate_endpoint(role: Role, window: u8, mem_level: u8) -> Connection {
    let config = Config::default()
        .max_message_size(2 * MIB)
        .compression(DeflateConfig::default().window_bits(window).mem_level(mem_level));
    Connection::new(Negotiated::new(role).with_deflate(Some(DeflateParams::default())), config, rng(3))
}

fn drain(conn: &mut Connection, wire: &mut Vec<u8>) {
    while let Some(Transmit::Bytes(bytes)) = conn.poll_transmit() {
        wire.extend_from_slice(&bytes);
    }
}

/// Checks that `wire` (server frames) holds exactly `messages`, in order.
fn check_server_wire(wire: &[u8], messages: &[String], who: &str) {
    let total: usize = messages.iter().map(String::len).sum();
    eprintln!("  {who}: {:.1}% of the input on the wire", 100.0 * wire.len() as f64 / total as f64);
    assert!(wire.len() < total / 2, "{who}: not compressed");
    let mut client = wsx_deflate_endpoint(Role::Client, 15, 8);
    client.receive(wire);
    for m in messages {
        assert_eq!(wsx_message(client.poll_event()), (true, m.as_bytes().to_vec()), "{who}");
    }
    assert!(client.poll_event().is_none(), "{who}");
}

fn deflate(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    for size in [KIB, 64 * KIB] {
        let label = if size == KIB { "1 KiB" } else { "64 KiB" };
        let msgs = messages(size);
        let total: usize = msgs.iter().map(String::len).sum();
        let n = msgs.len();
        eprintln!("deflate {label}: {n} messages, {:.0} bytes on average", total as f64 / n as f64);
        deflate_compress(c, &rt, label, &msgs, total);
        deflate_decompress(c, &rt, label, &msgs, total);
    }
}

fn deflate_compress(c: &mut Criterion, rt: &Runtime, label: &str, msgs: &[String], total: usize) {
    let n = msgs.len();
    let mut group = c.benchmark_group(format!("deflate compress {label}"));
    group.throughput(Throughput::Bytes((total / n) as u64));

    // The codecs: checked by inflating their whole output stream with flate2.
    let check_codec = |name: &str, compress: &mut dyn FnMut(&[u8]) -> Vec<u8>| {
        let mut d = Decompress::new(false);
        let (mut scratch, mut out, mut size) = (Vec::new(), Vec::new(), 0);
        for m in msgs {
            let compressed = compress(m.as_bytes());
            size += compressed.len();
            flate2_inflate(&mut d, &compressed, &mut scratch, &mut out, m.len());
            assert_eq!(out, m.as_bytes(), "{name}");
        }
        eprintln!("  {name}: {:.1}% of the input", 100.0 * size as f64 / total as f64);
    };
    for (window, mem) in [(12, 5), (15, 8)] {
        let name = format!("wsx codec {window}/{mem}");
        let mut compressor = Compressor::new(window, mem, 6, false);
        check_codec(&name, &mut |m| compressor.compress(m).unwrap());
        let mut i = 0;
        group.bench_function(BenchmarkId::new(name, label), |b| {
            b.iter(|| {
                i = (i + 1) % n;
                compressor.compress(black_box(msgs[i].as_bytes())).unwrap()
            })
        });
    }
    let mut compress = Compress::new_with_window_bits(Compression::new(6), false, 15);
    let mut out = Vec::new();
    check_codec("flate2 zlib-rs 15/8", &mut |m| {
        let mut out = Vec::new();
        flate2_deflate(&mut compress, m, &mut out);
        out
    });
    let mut i = 0;
    group.bench_function(BenchmarkId::new("flate2 zlib-rs 15/8", label), |b| {
        b.iter(|| {
            i = (i + 1) % n;
            flate2_deflate(&mut compress, black_box(msgs[i].as_bytes()), &mut out);
            out.len()
        })
    });

    // The endpoints, framing included: checked by a wsx client receiving
    // the whole stream of server frames.
    for (window, mem) in [(12, 5), (15, 8)] {
        let mut server = wsx_deflate_endpoint(Role::Server, window, mem);
        let mut wire = Vec::new();
        for m in msgs {
            server.send_text(m.as_str()).unwrap();
            drain(&mut server, &mut wire);
        }
        check_server_wire(&wire, msgs, "wsx Connection send");
        let mut i = 0;
        group.bench_function(BenchmarkId::new(format!("wsx Connection send {window}/{mem}"), label), |b| {
            b.iter(|| {
                i = (i + 1) % n;
                server.send_text(black_box(msgs[i].as_str())).unwrap();
                let mut sent = 0;
                while let Some(Transmit::Bytes(bytes)) = server.poll_transmit() {
                    sent += black_box(bytes).len();
                }
                sent
            })
        });
    }
    // yawc writes into a Vec here (to check it), then into the discarding stream.
    let yawc_options = || yawc::Options::default().with_compression_level(yawc::CompressionLevel::new(6));
    let captured = Arc::new(Mutex::new(Vec::new()));
    let mut check = yawc::WebSocket::from_stream_with_extensions(
        Capture(Arc::clone(&captured)),
        yawc::Role::Server,
        Some("permessage-deflate"),
        yawc_options(),
    )
    .unwrap();
    rt.block_on(async {
        for m in msgs {
            check.send(yawc::Frame::text(m.clone())).await.unwrap();
        }
    });
    check_server_wire(&captured.lock().unwrap(), msgs, "yawc send");
    let mut yawc = yawc::WebSocket::from_stream_with_extensions(
        Replay::new(Vec::new()),
        yawc::Role::Server,
        Some("permessage-deflate"),
        yawc_options(),
    )
    .unwrap();
    let frames: Vec<yawc::Frame> = msgs.iter().map(|m| yawc::Frame::text(m.clone())).collect();
    let mut i = 0;
    group.bench_function(BenchmarkId::new("yawc WebSocket send 15/8", label), |b| {
        b.iter(|| {
            i = (i + 1) % n;
            rt.block_on(async { yawc.send(black_box(frames[i].clone())).await.unwrap() })
        })
    });
    group.finish();
}

/// An AsyncWrite that keeps what is written (reads find nothing).
struct Capture(Arc<Mutex<Vec<u8>>>);

impl AsyncRead for Capture {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, _: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Poll::Pending
    }
}

impl AsyncWrite for Capture {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn deflate_decompress(c: &mut Criterion, rt: &Runtime, label: &str, msgs: &[String], total: usize) {
    let n = msgs.len();
    // What a zlib-default (15/8) client sends: the compressed payloads, and
    // the same messages as masked client frames, one wire per message.
    let mut client = wsx_deflate_endpoint(Role::Client, 15, 8);
    let mut compressor = Compressor::new(15, 8, 6, false);
    let mut payloads = Vec::new();
    let mut wires = Vec::new();
    for m in msgs {
        payloads.push(compressor.compress(m.as_bytes()).unwrap());
        client.send_text(m.as_str()).unwrap();
        drain(&mut client, &mut wires);
    }

    let mut group = c.benchmark_group(format!("deflate decompress {label}"));
    group.throughput(Throughput::Bytes((total / n) as u64));

    let mut d = Decompressor::new(15, false);
    for (p, m) in payloads.iter().zip(msgs) {
        assert_eq!(wsx_inflate(&mut d, p), m.as_bytes(), "wsx codec");
    }
    let mut i = 0;
    group.bench_function(BenchmarkId::new("wsx codec", label), |b| {
        b.iter(|| {
            i = (i + 1) % n;
            let mut out = Inflated::default();
            d.inflate(black_box(&payloads[i]), &mut out, usize::MAX / 2, None).unwrap();
            d.finish(&mut out, usize::MAX / 2, None).unwrap();
            out.into_bytes()
        })
    });

    let mut d = Decompress::new(false);
    let (mut scratch, mut out) = (Vec::new(), Vec::new());
    for (p, m) in payloads.iter().zip(msgs) {
        flate2_inflate(&mut d, p, &mut scratch, &mut out, m.len());
        assert_eq!(out, m.as_bytes(), "flate2");
    }
    let mut i = 0;
    group.bench_function(BenchmarkId::new("flate2 zlib-rs", label), |b| {
        b.iter(|| {
            i = (i + 1) % n;
            flate2_inflate(&mut d, black_box(&payloads[i]), &mut scratch, &mut out, msgs[i].len());
            out.len()
        })
    });

    let mut server = wsx_deflate_endpoint(Role::Server, 12, 5);
    let mut stream = Replay::new(wires.clone());
    for m in msgs {
        assert_eq!(received(&wsx_read(&mut server, &mut stream)), (true, m.as_bytes().to_vec()), "wsx Connection");
    }
    group.bench_function(BenchmarkId::new("wsx Connection receive", label), |b| {
        b.iter(|| black_box(wsx_read(&mut server, &mut stream)))
    });

    let options = yawc::Options::default()
        .with_compression_level(yawc::CompressionLevel::new(6))
        .with_utf8()
        .with_max_payload_read(2 * MIB)
        .with_max_read_buffer(2 * MIB);
    let mut yawc = yawc::WebSocket::from_stream_with_extensions(
        Replay::new(wires.clone()),
        yawc::Role::Server,
        Some("permessage-deflate"),
        options,
    )
    .unwrap();
    rt.block_on(async {
        for m in msgs {
            let frame = yawc.next_frame().await.unwrap();
            assert_eq!((frame.opcode() == yawc::OpCode::Text, frame.payload().to_vec()), (true, m.as_bytes().to_vec()));
        }
    });
    group.bench_function(BenchmarkId::new("yawc WebSocket receive", label), |b| {
        b.iter(|| rt.block_on(async { black_box(yawc.next_frame().await.unwrap()) }))
    });
    group.finish();
}

criterion_group!(benches, assembly, deflate);
criterion_main!(benches);
