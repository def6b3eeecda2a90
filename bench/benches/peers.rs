//! Micro-benchmarks of wsx's codec pieces against the peers' public
//! functions and the best technique available, on the same inputs:
//! masking (RFC 6455 §5.3) from 16 B to 1 MiB, frame header decoding (§5.2),
//! UTF-8 validation (§8.1) on ASCII, mixed and 4-byte-heavy text.
//!
//! `cargo bench --bench peers` (in `bench/`); `-- --quick` for a short run.

#![allow(missing_docs, reason = "criterion_group!/criterion_main! generate undocumented items")]

use std::hint::black_box;
use std::io::Cursor;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use wsx::proto::frame::FrameHeader;
use wsx::proto::frame::mask::apply_mask;
use wsx::proto::utf8::Utf8Validator;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn label(size: usize) -> String {
    match size {
        s if s >= 1 << 20 => format!("{} MiB", s >> 20),
        s if s >= 1024 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

/// Safe 32-byte-block masking: the block loop is plain XOR of two arrays,
/// which LLVM turns into full-width SIMD (the technique proposed for wsx).
fn mask_blocks32(buf: &mut [u8], key: [u8; 4]) {
    let mut wide = [0u8; 32];
    for (i, b) in wide.iter_mut().enumerate() {
        *b = key[i & 3];
    }
    let mut chunks = buf.chunks_exact_mut(32);
    for chunk in &mut chunks {
        for (b, k) in chunk.iter_mut().zip(wide.iter()) {
            *b ^= k;
        }
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i & 3];
    }
}

fn mask(c: &mut Criterion) {
    let mut group = c.benchmark_group("mask");
    for size in [16, 1024, 64 * 1024, 1 << 20] {
        let mut buf = vec![0x5au8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::new("wsx apply_mask", label(size)), |b| {
            b.iter(|| apply_mask(black_box(&mut buf), KEY, 0))
        });
        group.bench_function(BenchmarkId::new("fastwebsockets unmask", label(size)), |b| {
            b.iter(|| fastwebsockets::unmask(black_box(&mut buf), KEY))
        });
        group.bench_function(BenchmarkId::new("yawc apply_mask", label(size)), |b| {
            b.iter(|| yawc::mask::apply_mask(black_box(&mut buf), KEY))
        });
        group.bench_function(BenchmarkId::new("32-byte blocks", label(size)), |b| {
            b.iter(|| mask_blocks32(black_box(&mut buf), KEY))
        });
    }
    group.finish();
}

fn header(c: &mut Criterion) {
    let mut group = c.benchmark_group("header decode");
    // A masked client frame header with a 16-bit length, then one with a
    // 64-bit length (§5.2).
    let inputs: [(&str, Vec<u8>); 2] = [
        ("16-bit length", vec![0x82, 0xFE, 0x04, 0x00, 0x37, 0xfa, 0x21, 0x3d]),
        ("64-bit length", vec![0x82, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 0, 0x37, 0xfa, 0x21, 0x3d]),
    ];
    for (name, bytes) in &inputs {
        group.bench_function(BenchmarkId::new("wsx FrameHeader::decode", name), |b| {
            b.iter(|| FrameHeader::decode(black_box(bytes)).ok().flatten().map(|(_, n)| n))
        });
        group.bench_function(BenchmarkId::new("tungstenite FrameHeader::parse", name), |b| {
            b.iter(|| {
                let mut cursor = Cursor::new(black_box(bytes.as_slice()));
                tokio_tungstenite::tungstenite::protocol::frame::FrameHeader::parse(&mut cursor)
                    .ok()
                    .flatten()
                    .map(|(_, n)| n)
            })
        });
    }
    group.finish();
}

/// 64 KiB of text: pure ASCII, mixed (a multi-byte character every ≈ 16
/// bytes, as the end-to-end generator sends) and 4-byte-heavy (emoji).
fn utf8_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let fill = |pieces: &[&str]| {
        let mut out = Vec::with_capacity(64 * 1024);
        'fill: loop {
            for p in pieces {
                if out.len() + p.len() > 64 * 1024 {
                    break 'fill;
                }
                out.extend_from_slice(p.as_bytes());
            }
        }
        out
    };
    vec![
        ("ascii", fill(&["{\"id\":12345,\"name\":\"benchmark\",\"tags\":[\"a\",\"b\"]} "])),
        ("mixed", fill(&["The quick brown fox ", "jumps — ", "über ", "the lazy dög ", "€42 ", "😀 "])),
        ("4-byte-heavy", fill(&["😀", "🚀", "𝄞", "a"])),
    ]
}

fn utf8(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8");
    for (name, input) in utf8_inputs() {
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(BenchmarkId::new("wsx Utf8Validator (one piece)", name), |b| {
            b.iter(|| {
                let mut v = Utf8Validator::default();
                v.feed(black_box(&input)).is_ok() && v.finish().is_ok()
            })
        });
        group.bench_function(BenchmarkId::new("wsx Utf8Validator (1460-byte pieces)", name), |b| {
            b.iter(|| {
                let mut v = Utf8Validator::default();
                black_box(&input).chunks(1460).all(|piece| v.feed(piece).is_ok()) && v.finish().is_ok()
            })
        });
        group.bench_function(BenchmarkId::new("simdutf8::basic", name), |b| {
            b.iter(|| simdutf8::basic::from_utf8(black_box(&input)).is_ok())
        });
        group.bench_function(BenchmarkId::new("std::str::from_utf8", name), |b| {
            b.iter(|| std::str::from_utf8(black_box(&input)).is_ok())
        });
    }
    group.finish();
}

criterion_group!(benches, mask, header, utf8);
criterion_main!(benches);
