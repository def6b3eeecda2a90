//! RFC 7692 §7.2.2: the bounded inflater against flate2 on arbitrary
//! compressed data, split into two frames at a point the first byte picks.
//! Under the size limit both produce the same bytes and agree on corrupt
//! input (1007); past it ours fails with 1009 having never held more than
//! the limit plus one step.
#![no_main]

use flate2::{Decompress, FlushDecompress, Status};
use libfuzzer_sys::fuzz_target;
use wsx_proto::ProtocolError;
use wsx_proto::extension::codec::{Decompressor, INFLATE_STEP, Inflated, TAIL};

const LIMIT: usize = 256 * 1024;

/// How far flate2 goes: two steps past the limit, so that an error in the
/// step where we cross the limit is seen too.
const CAP: usize = LIMIT + 2 * INFLATE_STEP;

/// flate2's run over `data` followed by the tail: the output (at most
/// `CAP` bytes) and whether it found the stream corrupt.
fn reference(data: &[u8]) -> (Vec<u8>, bool) {
    let input = [data, &TAIL].concat();
    let mut inflate = Decompress::new(false);
    let mut out = Vec::with_capacity(CAP);
    loop {
        let (consumed, before) = (inflate.total_in() as usize, out.len());
        match inflate.decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync) {
            Err(_) => return (out, true),
            Ok(Status::StreamEnd) => return (out, false),
            Ok(_) if out.len() == CAP || inflate.total_in() as usize == input.len() => return (out, false),
            Ok(_) if out.len() == before && inflate.total_in() as usize == consumed => return (out, false),
            Ok(_) => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else { return };
    let cut = usize::from(cut).min(stream.len());
    let mut ours = Decompressor::new(15, false);
    let mut out = Inflated::default();
    let result = ours
        .inflate(&stream[..cut], &mut out, LIMIT, None)
        .and_then(|()| ours.inflate(&stream[cut..], &mut out, LIMIT, None))
        .and_then(|()| ours.finish(&mut out, LIMIT, None));
    assert!(out.len() <= LIMIT + INFLATE_STEP, "held {} bytes", out.len());
    let (expected, corrupt) = reference(stream);
    match result {
        Ok(()) => {
            assert!(!corrupt, "flate2 found the stream corrupt");
            assert!(expected.len() <= LIMIT, "flate2 made {} bytes, more than the limit", expected.len());
            assert_eq!(out.into_bytes().as_ref(), expected.as_slice());
        }
        // Too big: flate2 went past the limit before any error.
        Err(ProtocolError::MessageTooLarge { max, .. }) => {
            assert_eq!(max, LIMIT);
            assert!(expected.len() > LIMIT, "1009 for {} bytes", expected.len());
        }
        // Corrupt: at the latest in the step that crossed the limit.
        Err(ProtocolError::InvalidCompressedData) => {
            assert!(corrupt, "1007 for a stream flate2 inflates ({} bytes)", expected.len());
            assert!(expected.len() <= LIMIT + INFLATE_STEP, "1007 only after {} bytes", expected.len());
        }
        Err(other) => panic!("undocumented inflate error {other:?}"),
    }
});
