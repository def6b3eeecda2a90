//! permessage-deflate benchmarks on the JSON-like corpus in `data/corpus.json`
//! (2,000 lines, 343 KiB; `data/gen_corpus.py` regenerates it): compression
//! and decompression throughput of our codec (default settings: window 12,
//! memLevel 5, level 6; and zlib's 15/8) against raw flate2 on the same
//! zlib-rs backend as the ceiling, both for the whole corpus as one message
//! and for each line as its own message with context takeover, plus a
//! server→client round through two `Connection`s. The compression ratios
//! are printed once at the start (criterion measures time only).
//!
//! `cargo bench -p wsx-proto --bench deflate -- --warm-up-time 1 --measurement-time 3`

#![allow(missing_docs, reason = "criterion_group!/criterion_main! generate undocumented items")]
#![allow(clippy::unwrap_used, reason = "benchmarks: a panic is the failure report")]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use rand::SeedableRng;
use rand::rngs::StdRng;
use wsx_proto::extension::codec::{Compressor, Decompressor, Inflated};
use wsx_proto::extension::{DeflateConfig, DeflateParams};
use wsx_proto::{Config, Connection, Event, Negotiated, Role, Transmit};

const CORPUS: &[u8] = include_bytes!("data/corpus.json");

fn lines() -> Vec<&'static [u8]> {
    CORPUS.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect()
}

/// Raw flate2: one message, sync flush, tail removed (what RFC 7692 sends).
fn flate2_compress(c: &mut Compress, input: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(input.len() + 64);
    let start = c.total_in();
    loop {
        let done = (c.total_in() - start) as usize;
        c.compress_vec(&input[done..], out, FlushCompress::Sync).unwrap();
        if (c.total_in() - start) as usize == input.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity());
    }
    out.truncate(out.len() - 4);
}

fn flate2_decompress(d: &mut Decompress, input: &[u8], out: &mut Vec<u8>, expected: usize) {
    out.clear();
    out.reserve(expected + 64);
    let start = d.total_in();
    let mut with_tail = Vec::with_capacity(input.len() + 4);
    with_tail.extend_from_slice(input);
    with_tail.extend_from_slice(&[0, 0, 0xff, 0xff]);
    while ((d.total_in() - start) as usize) < with_tail.len() {
        let done = (d.total_in() - start) as usize;
        d.decompress_vec(&with_tail[done..], out, FlushDecompress::Sync).unwrap();
        if out.len() == out.capacity() {
            out.reserve(out.capacity());
        }
    }
}

fn ours_inflate(d: &mut Decompressor, input: &[u8]) -> usize {
    let mut out = Inflated::default();
    d.inflate(input, &mut out, usize::MAX / 2, None).unwrap();
    d.finish(&mut out, usize::MAX / 2, None).unwrap();
    out.len()
}

fn report_ratios() {
    let lines = lines();
    let mut rows = Vec::new();
    for (name, window, mem) in [("wsx 12/5", 12, 5), ("wsx 15/8", 15, 8), ("wsx 9/1", 9, 1)] {
        let whole = Compressor::new(window, mem, 6, false).compress(CORPUS).unwrap().len();
        let mut c = Compressor::new(window, mem, 6, false);
        let per_line: usize = lines.iter().map(|l| c.compress(l).unwrap().len()).sum();
        let mut c = Compressor::new(window, mem, 6, true);
        let fresh: usize = lines.iter().map(|l| c.compress(l).unwrap().len()).sum();
        rows.push(format!("{name}: whole {whole} B ({:.1}%), per line {per_line} B ({:.1}%), per line without context takeover {fresh} B ({:.1}%)",
            100.0 * whole as f64 / CORPUS.len() as f64,
            100.0 * per_line as f64 / CORPUS.len() as f64,
            100.0 * fresh as f64 / CORPUS.len() as f64));
    }
    let mut c = Compress::new_with_window_bits(Compression::new(6), false, 15);
    let mut out = Vec::new();
    flate2_compress(&mut c, CORPUS, &mut out);
    rows.push(format!("flate2 15/8: whole {} B ({:.1}%)", out.len(), 100.0 * out.len() as f64 / CORPUS.len() as f64));
    eprintln!("corpus: {} bytes, {} lines", CORPUS.len(), lines.len());
    for row in rows {
        eprintln!("  {row}");
    }
}

fn compress(c: &mut Criterion) {
    report_ratios();
    let lines = lines();
    let mut group = c.benchmark_group("deflate/compress");
    group.throughput(Throughput::Bytes(CORPUS.len() as u64));
    group.bench_function("wsx 12/5 whole", |b| {
        let mut c = Compressor::new(12, 5, 6, false);
        b.iter(|| c.compress(black_box(CORPUS)).unwrap());
    });
    group.bench_function("wsx 15/8 whole", |b| {
        let mut c = Compressor::new(15, 8, 6, false);
        b.iter(|| c.compress(black_box(CORPUS)).unwrap());
    });
    group.bench_function("flate2 15/8 whole", |b| {
        let mut c = Compress::new_with_window_bits(Compression::new(6), false, 15);
        let mut out = Vec::new();
        b.iter(|| flate2_compress(&mut c, black_box(CORPUS), &mut out));
    });
    group.bench_function("wsx 12/5 per line", |b| {
        let mut c = Compressor::new(12, 5, 6, false);
        b.iter(|| lines.iter().map(|l| c.compress(black_box(l)).unwrap().len()).sum::<usize>());
    });
    // Without context takeover both reset zlib's state after each message.
    group.bench_function("wsx 12/5 per line, no context takeover", |b| {
        let mut c = Compressor::new(12, 5, 6, true);
        b.iter(|| lines.iter().map(|l| c.compress(black_box(l)).unwrap().len()).sum::<usize>());
    });
    group.bench_function("flate2 15/8 per line, reset after each", |b| {
        let mut c = Compress::new_with_window_bits(Compression::new(6), false, 15);
        let mut out = Vec::new();
        b.iter(|| {
            for l in &lines {
                flate2_compress(&mut c, black_box(l), &mut out);
                c.reset();
            }
        });
    });
    group.bench_function("flate2 15/8 per line", |b| {
        let mut c = Compress::new_with_window_bits(Compression::new(6), false, 15);
        let mut out = Vec::new();
        b.iter(|| {
            for l in &lines {
                flate2_compress(&mut c, black_box(l), &mut out);
            }
        });
    });
    group.finish();
}

fn decompress(c: &mut Criterion) {
    let lines = lines();
    let whole = Compressor::new(15, 8, 6, false).compress(CORPUS).unwrap();
    let mut per_line_compressor = Compressor::new(15, 8, 6, false);
    let per_line: Vec<Vec<u8>> = lines.iter().map(|l| per_line_compressor.compress(l).unwrap()).collect();
    let mut group = c.benchmark_group("deflate/decompress");
    group.throughput(Throughput::Bytes(CORPUS.len() as u64));
    group.bench_function("wsx whole", |b| {
        b.iter(|| {
            let mut d = Decompressor::new(15, false);
            ours_inflate(&mut d, black_box(&whole))
        });
    });
    group.bench_function("flate2 whole", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            let mut d = Decompress::new_with_window_bits(false, 15);
            flate2_decompress(&mut d, black_box(&whole), &mut out, CORPUS.len());
        });
    });
    group.bench_function("wsx per line", |b| {
        b.iter(|| {
            let mut d = Decompressor::new(15, false);
            per_line.iter().map(|m| ours_inflate(&mut d, black_box(m))).sum::<usize>()
        });
    });
    group.bench_function("flate2 per line", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            let mut d = Decompress::new_with_window_bits(false, 15);
            for (m, l) in per_line.iter().zip(&lines) {
                flate2_decompress(&mut d, black_box(m), &mut out, l.len());
            }
        });
    });
    group.finish();
}

/// Each line as a text message from a server `Connection` to a client one,
/// with permessage-deflate (defaults) and without.
fn connection_round(c: &mut Criterion) {
    let lines: Vec<String> = lines().iter().map(|l| String::from_utf8(l.to_vec()).unwrap()).collect();
    let mut group = c.benchmark_group("deflate/connection");
    group.throughput(Throughput::Bytes(CORPUS.len() as u64));
    for (name, deflate) in [("compressed", Some(DeflateParams::default())), ("uncompressed", None)] {
        let config = Config::default().compression(DeflateConfig::default());
        let mut server = Connection::new(
            Negotiated::new(Role::Server).with_deflate(deflate),
            config.clone(),
            Box::new(StdRng::seed_from_u64(1)),
        );
        let mut client = Connection::new(
            Negotiated::new(Role::Client).with_deflate(deflate),
            config,
            Box::new(StdRng::seed_from_u64(2)),
        );
        group.bench_function(name, |b| {
            b.iter(|| {
                for line in &lines {
                    server.send_text(line.as_str()).unwrap();
                    while let Some(Transmit::Bytes(bytes)) = server.poll_transmit() {
                        client.receive(&bytes);
                    }
                    match client.poll_event() {
                        Some(Event::Message(m)) => {
                            black_box(m);
                        }
                        other => panic!("{other:?}"),
                    }
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, compress, decompress, connection_round);
criterion_main!(benches);
