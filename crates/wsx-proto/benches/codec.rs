//! Codec benchmarks of the sans-I/O core: masking (word-wise vs byte-wise),
//! the receive path (header decode + unmask + UTF-8 + split, through a
//! server `Connection`), the header codec alone, UTF-8 validation (our
//! incremental validator vs std vs simdutf8), and the send path (encode,
//! mask, drain `poll_transmit`), reading a text message's `&str`, and an
//! echo of a burst of small frames through the core.
//!
//! Short run: `cargo bench -p wsx-proto -- --warm-up-time 1 --measurement-time 2`.

#![allow(missing_docs, reason = "criterion_group!/criterion_main! generate undocumented items")]
#![allow(clippy::unwrap_used, reason = "benchmarks: a panic is the failure report")]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use wsx_proto::frame::mask::{apply_mask, apply_mask_bytewise};
use wsx_proto::frame::{FrameHeader, OpCode};
use wsx_proto::utf8::{Utf8Bytes, Utf8Validator};
use wsx_proto::{Config, Connection, Event, Message, Negotiated, Role, Transmit};

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn label(size: usize) -> String {
    match size {
        s if s >= MIB => format!("{}MiB", s / MIB),
        s if s >= KIB => format!("{}KiB", s / KIB),
        s => format!("{s}B"),
    }
}

fn endpoint(role: Role, config: Config) -> Connection {
    Connection::new(Negotiated::new(role), config, Box::new(StdRng::seed_from_u64(42)))
}

fn mask(c: &mut Criterion) {
    let mut group = c.benchmark_group("mask");
    for size in [16, 125, KIB, 64 * KIB, MIB] {
        let mut buf = vec![0xA5u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("apply_mask", label(size)), &size, |b, _| {
            b.iter(|| apply_mask(black_box(&mut buf), black_box(KEY), black_box(1)));
        });
        group.bench_with_input(BenchmarkId::new("bytewise", label(size)), &size, |b, _| {
            b.iter(|| apply_mask_bytewise(black_box(&mut buf), black_box(KEY), black_box(1)));
        });
    }
    group.finish();
}

/// Text of `size` bytes: ASCII with some 2- and 3-byte characters.
fn text_payload(size: usize) -> String {
    let pattern = "The quick brown fox — jumps over the lazy dog; κόσμε. ";
    let mut text = String::with_capacity(size + pattern.len());
    while text.len() < size {
        text.push_str(pattern);
    }
    while text.len() > size {
        text.pop();
    }
    // Popping a multi-byte character may undershoot: pad with ASCII.
    while text.len() < size {
        text.push('.');
    }
    text
}

/// The wire bytes of `count` masked client frames of `size` bytes each.
fn client_wire(size: usize, count: usize, text: bool) -> Vec<u8> {
    let mut client = endpoint(Role::Client, Config::default());
    let binary = Bytes::from(vec![0x5Au8; size]);
    let text_payload = text_payload(size);
    let mut wire = Vec::new();
    for _ in 0..count {
        if text {
            client.send_text(text_payload.as_str()).unwrap();
        } else {
            client.send_binary(binary.clone()).unwrap();
        }
        while let Some(Transmit::Bytes(bytes)) = client.poll_transmit() {
            wire.extend_from_slice(&bytes);
        }
    }
    wire
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    let config = Config::default().max_message_size(2 * MIB);
    for size in [16, KIB, 64 * KIB, MIB] {
        // About 1 MiB of payload per iteration.
        let count = (MIB / size).max(1);
        group.throughput(Throughput::Bytes((size * count) as u64));
        for (kind, text) in [("binary", false), ("text", true)] {
            let wire = client_wire(size, count, text);
            group.bench_with_input(BenchmarkId::new(kind, label(size)), &wire, |b, wire| {
                b.iter(|| {
                    let mut server = endpoint(Role::Server, config.clone());
                    server.receive(wire);
                    let mut received = 0;
                    while let Some(event) = server.poll_event() {
                        match event {
                            Event::Message(Message::Binary(data)) => received += data.len(),
                            Event::Message(Message::Text(text)) => received += text.len(),
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                    assert_eq!(received, size * count);
                    black_box(received)
                });
            });
        }
    }
    group.finish();
}

fn header(c: &mut Criterion) {
    let mut group = c.benchmark_group("header");
    let shapes = [
        (
            "7bit_unmasked",
            FrameHeader {
                fin: true,
                rsv1: false,
                rsv2: false,
                rsv3: false,
                opcode: OpCode::Text,
                mask: None,
                payload_len: 100,
            },
        ),
        (
            "16bit_masked",
            FrameHeader {
                fin: true,
                rsv1: false,
                rsv2: false,
                rsv3: false,
                opcode: OpCode::Binary,
                mask: Some(KEY),
                payload_len: 4000,
            },
        ),
        (
            "64bit_masked",
            FrameHeader {
                fin: false,
                rsv1: false,
                rsv2: false,
                rsv3: false,
                opcode: OpCode::Binary,
                mask: Some(KEY),
                payload_len: 1 << 40,
            },
        ),
    ];
    for (name, header) in shapes {
        let mut out = [0u8; FrameHeader::MAX_LEN];
        let len = header.encode(&mut out);
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(BenchmarkId::new("decode", name), &out[..len], |b, bytes| {
            b.iter(|| FrameHeader::decode(black_box(bytes)).unwrap());
        });
        group.bench_with_input(BenchmarkId::new("encode", name), &header, |b, header| {
            let mut out = [0u8; FrameHeader::MAX_LEN];
            b.iter(|| {
                let n = black_box(header).encode(&mut out);
                black_box(out);
                n
            });
        });
    }
    group.finish();
}

fn utf8_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let fill = |unit: &str| {
        let mut text = String::new();
        while text.len() + unit.len() <= 64 * KIB {
            text.push_str(unit);
        }
        text.into_bytes()
    };
    vec![
        ("ascii", fill("The quick brown fox jumps over the lazy dog. 0123456789\n")),
        ("mixed", fill("Grüße, κόσμε, привет, 日本語のテキスト, plain ascii too. ")),
        ("4byte", fill("🌍🎉😀𝄞🚀 a𐍈🌈")),
    ]
}

fn utf8(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8");
    for (name, input) in utf8_inputs() {
        assert!(std::str::from_utf8(&input).is_ok());
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_with_input(BenchmarkId::new("validator_feed", name), &input, |b, input| {
            b.iter(|| {
                let mut validator = Utf8Validator::default();
                validator.feed(black_box(input)).unwrap();
                validator.finish().unwrap();
            });
        });
        group.bench_with_input(BenchmarkId::new("validator_feed_1460", name), &input, |b, input| {
            b.iter(|| {
                // As it arrives from the network: TCP-segment-sized pieces.
                let mut validator = Utf8Validator::default();
                for piece in black_box(input).chunks(1460) {
                    validator.feed(piece).unwrap();
                }
                validator.finish().unwrap();
            });
        });
        group.bench_with_input(BenchmarkId::new("std", name), &input, |b, input| {
            b.iter(|| std::str::from_utf8(black_box(input)).is_ok());
        });
        group.bench_with_input(BenchmarkId::new("simdutf8_basic", name), &input, |b, input| {
            b.iter(|| simdutf8::basic::from_utf8(black_box(input)).is_ok());
        });
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for size in [16, KIB, 64 * KIB] {
        let payload = Bytes::from(vec![0x42u8; size]);
        group.throughput(Throughput::Bytes(size as u64));
        for (name, role) in [("server", Role::Server), ("client", Role::Client)] {
            let mut conn = endpoint(role, Config::default());
            group.bench_with_input(BenchmarkId::new(name, label(size)), &payload, |b, payload| {
                b.iter(|| {
                    conn.send_binary(payload.clone()).unwrap();
                    let mut written = 0;
                    while let Some(Transmit::Bytes(bytes)) = conn.poll_transmit() {
                        written += black_box(bytes).len();
                    }
                    written
                });
            });
        }
    }
    group.finish();
}

/// Reading the text of a received message (`Utf8Bytes::as_str`), against
/// a `&str` obtained by validating the same bytes again with simdutf8.
fn as_str(c: &mut Criterion) {
    let mut group = c.benchmark_group("as_str");
    for size in [16, KIB, 64 * KIB] {
        let text = Utf8Bytes::from(text_payload(size));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("Utf8Bytes", label(size)), &text, |b, text| {
            b.iter(|| black_box(text).as_str().len());
        });
        group.bench_with_input(BenchmarkId::new("simdutf8_revalidate", label(size)), &text, |b, text| {
            b.iter(|| simdutf8::basic::from_utf8(black_box(text).as_bytes()).map(str::len).unwrap_or(0));
        });
    }
    group.finish();
}

/// A server echoing a pipelining client through the core alone: 16 masked
/// 16-byte frames arrive in one read, each is taken as an event and sent
/// back, and the replies are drained in one go (what the driver does per
/// read in the pipelined benchmark cell, without the socket).
fn echo(c: &mut Criterion) {
    let mut group = c.benchmark_group("echo");
    const BURST: usize = 16;
    let mut client = endpoint(Role::Client, Config::default());
    for _ in 0..BURST {
        client.send_binary(Bytes::from(vec![0x42u8; 16])).unwrap();
    }
    let mut burst = Vec::new();
    while let Some(Transmit::Bytes(bytes)) = client.poll_transmit() {
        burst.extend_from_slice(&bytes);
    }
    group.throughput(Throughput::Elements(BURST as u64));
    let mut server = endpoint(Role::Server, Config::default());
    group.bench_function("16x16B burst", |b| {
        b.iter(|| {
            server.receive(black_box(&burst));
            while let Some(Event::Message(message)) = server.poll_event() {
                server.send(message).unwrap();
            }
            let mut written = 0;
            while let Some(Transmit::Bytes(bytes)) = server.poll_transmit() {
                written += black_box(bytes).len();
            }
            assert_eq!(written, BURST * 18);
        });
    });
    group.finish();
}

criterion_group!(benches, mask, decode, header, utf8, encode, as_str, echo);
criterion_main!(benches);
