//! RFC 6455 §8.1: the incremental UTF-8 validator against
//! `std::str::from_utf8`, over split points chosen by the fuzzer. The first
//! byte picks up to three split points; the verdict must not depend on them,
//! and an error must come no later than the piece holding the first invalid
//! byte (fail-fast, Autobahn 6.4).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsx_proto::utf8::Utf8Validator;

fuzz_target!(|data: &[u8]| {
    let Some((&seed, text)) = data.split_first() else { return };
    let mut cuts: Vec<usize> = (0..3u32)
        .map(|i| if text.is_empty() { 0 } else { (usize::from(seed.rotate_left(i * 3)) * 7919) % (text.len() + 1) })
        .collect();
    cuts.push(text.len());
    cuts.sort_unstable();
    let expected = std::str::from_utf8(text);
    let mut validator = Utf8Validator::default();
    let mut start = 0;
    let mut failed_at = None;
    for &end in &cuts {
        if validator.feed(&text[start..end]).is_err() {
            failed_at = Some(end);
            break;
        }
        start = end;
    }
    let verdict = failed_at.is_none() && validator.finish().is_ok();
    assert_eq!(verdict, expected.is_ok(), "split at {cuts:?}");
    if let (Err(error), Some(end)) = (expected, failed_at) {
        // Reported inside the piece where the bad sequence becomes certain.
        let certain = error.valid_up_to() + error.error_len().unwrap_or(0);
        assert!(end >= certain.min(text.len()), "failed at {end} before the error at {certain}");
    }
    if let Err(error) = expected
        && error.error_len().is_some()
    {
        // A definitely invalid sequence fails before `finish`.
        assert!(failed_at.is_some(), "invalid sequence at {} only found at the end", error.valid_up_to());
    }
});
