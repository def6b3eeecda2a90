//! A permessage-deflate bomb: about 1 MiB on the wire that inflates to
//! 1 GiB. The receiver must fail with 1009 after inflating little more than
//! its message limit, whatever the ratio. The peak heap use while the bomb
//! is processed is measured by a counting global allocator (this test has a
//! binary of its own so nothing else allocates meanwhile).

use peak_alloc::PeakAlloc;
use rand::SeedableRng;
use rand::rngs::StdRng;
use wsx_proto::extension::DeflateParams;
use wsx_proto::extension::codec::{Compressor, INFLATE_STEP};
use wsx_proto::frame::{FrameHeader, OpCode};
use wsx_proto::{CloseCode, Config, Connection, Event, Negotiated, ProtocolError, Role};

#[global_allocator]
static PEAK: PeakAlloc = PeakAlloc;

/// Raw deflate of `mebibytes` MiB of zeros with `Z_SYNC_FLUSH` after each MiB,
/// tail removed. The compressor's state is the same after every full MiB of
/// zeros, so the chunks after the first are identical: the stream is built
/// by repetition instead of compressing a GiB.
fn zeros_compressed(mebibytes: usize) -> Vec<u8> {
    let zeros = vec![0u8; 1 << 20];
    let mut compressor = Compressor::new(15, 8, 9, false);
    let first = compressor.compress(&zeros).expect("compressed");
    let second = compressor.compress(&zeros).expect("compressed");
    let third = compressor.compress(&zeros).expect("compressed");
    assert_eq!(second, third, "steady-state chunks repeat");
    // Each chunk was stripped of its 00 00 ff ff; between chunks it is needed.
    let tail = [0x00, 0x00, 0xff, 0xff];
    let mut stream = first;
    for _ in 1..mebibytes {
        stream.extend_from_slice(&tail);
        stream.extend_from_slice(&second);
    }
    stream
}

/// Server-bound frames (masked with a zero key) carrying `stream` as one
/// compressed binary message split into `frame_size` pieces.
fn frames(stream: &[u8], frame_size: usize) -> Vec<u8> {
    let mut wire = Vec::with_capacity(stream.len() + stream.len() / frame_size * 14 + 14);
    let pieces: Vec<&[u8]> = stream.chunks(frame_size).collect();
    for (i, piece) in pieces.iter().enumerate() {
        let header = FrameHeader {
            fin: i + 1 == pieces.len(),
            rsv1: i == 0,
            rsv2: false,
            rsv3: false,
            opcode: if i == 0 { OpCode::Binary } else { OpCode::Continuation },
            mask: Some([0; 4]),
            payload_len: piece.len() as u64,
        };
        let mut head = [0u8; FrameHeader::MAX_LEN];
        let n = header.encode(&mut head);
        wire.extend_from_slice(&head[..n]);
        wire.extend_from_slice(piece);
    }
    wire
}

#[test]
fn a_one_gib_bomb_ends_in_1009_with_bounded_memory() {
    // The construction is checked on a small scale: 8 MiB of zeros.
    let small = zeros_compressed(8);
    let mut check = wsx_proto::extension::codec::Inflated::default();
    let mut d = wsx_proto::extension::codec::Decompressor::new(15, false);
    d.inflate(&small, &mut check, 16 << 20, None).unwrap();
    d.finish(&mut check, 16 << 20, None).unwrap();
    let check = check.into_bytes();
    assert_eq!(check.len(), 8 << 20);
    assert!(check.iter().all(|&b| b == 0));
    drop((small, check, d));

    let stream = zeros_compressed(1024);
    let ratio = (1u64 << 30) / stream.len() as u64;
    assert!(stream.len() < (2 << 20) && ratio > 500, "{} bytes, ratio {ratio}", stream.len());
    let wire = frames(&stream, 64 * 1024);
    drop(stream);

    let limit = 1 << 20;
    let negotiated = Negotiated::new(Role::Server).with_deflate(Some(DeflateParams::default()));
    let config = Config::default().max_message_size(limit);
    let mut server = Connection::new(negotiated, config, Box::new(StdRng::seed_from_u64(1)));
    // Feed the frames as a transport would, 64 KiB at a time, and measure
    // the heap from here on.
    let baseline = PEAK.current_usage();
    PEAK.reset_peak_usage();
    let mut outcome = None;
    for chunk in wire.chunks(64 * 1024) {
        server.receive(chunk);
        while let Some(event) = server.poll_event() {
            if let Event::Closed(closed) = event {
                outcome = Some(closed);
            }
        }
        if outcome.is_some() {
            break;
        }
    }
    let peak = PEAK.peak_usage() - baseline;
    let outcome = outcome.expect("the connection failed");
    let error = outcome.error.expect("failed by us");
    assert!(matches!(error, ProtocolError::MessageTooLarge { max, .. } if max == limit), "{error:?}");
    assert_eq!(error.close_code(), CloseCode::MESSAGE_TOO_BIG);
    // Held at the failure: the inflated message (at most the limit plus one
    // step, in chunks that are never reallocated), the receive buffer (one
    // read of 64 KiB, and the frame it holds) and zlib's window and tables.
    let bound = limit + INFLATE_STEP + 256 * 1024;
    eprintln!("peak heap while processing a 1 GiB bomb with a {limit}-byte limit: {peak} bytes (bound {bound})");
    assert!(peak <= bound, "peak {peak} bytes exceeds {bound}");
}
