//! QUIC variable-length integers (RFC 9000 §16), which HTTP/3 uses for
//! stream types, frame types and lengths, setting identifiers and values
//! (RFC 9114 §1.2).
//!
//! Contract: [`decode`] reads one integer from the front of a buffer, or
//! says how many bytes it still needs; any byte string of the announced
//! length is a valid integer, so decoding never fails. [`encode`] writes
//! the shortest form.

use bytes::BufMut;

/// The largest value a variable-length integer carries: 2^62 − 1.
pub(crate) const MAX: u64 = (1 << 62) - 1;

/// The encoded length announced by a first byte (its two most significant
/// bits): 1, 2, 4 or 8.
pub(crate) fn encoded_len(first: u8) -> usize {
    1 << (first >> 6)
}

/// One integer from the front of `buf` and the bytes it took, or `None`
/// while `buf` is shorter than the integer's encoding.
pub(crate) fn decode(buf: &[u8]) -> Option<(u64, usize)> {
    let first = *buf.first()?;
    let len = encoded_len(first);
    let bytes = buf.get(..len)?;
    // RFC 9000 §16: "the remaining bits encode the integer value in
    // network byte order", after the two-bit length prefix.
    let value = bytes[1..].iter().fold(u64::from(first & 0x3f), |value, &byte| (value << 8) | u64::from(byte));
    Some((value, len))
}

/// The length of `value`'s shortest encoding.
pub(crate) fn size(value: u64) -> usize {
    match value {
        0..=63 => 1,
        64..=16_383 => 2,
        16_384..=1_073_741_823 => 4,
        _ => 8,
    }
}

/// Appends `value` (at most [`MAX`]; larger values are clamped to it, which
/// no caller produces: every value we send is a length, a type or a
/// setting we chose) in its shortest encoding.
pub(crate) fn encode(value: u64, out: &mut impl BufMut) {
    let value = value.min(MAX);
    match size(value) {
        1 => out.put_u8(value as u8),
        2 => out.put_u16(0x4000 | value as u16),
        4 => out.put_u32(0x8000_0000 | value as u32),
        _ => out.put_u64(0xc000_0000_0000_0000 | value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9000 Appendix A.1: the sample variable-length integer decodings.
    #[test]
    fn rfc_9000_samples() {
        let samples: [(&[u8], u64); 5] = [
            (&[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c], 151_288_809_941_952_652),
            (&[0x9d, 0x7f, 0x3e, 0x7d], 494_878_333),
            (&[0x7b, 0xbd], 15_293),
            (&[0x25], 37),
            (&[0x40, 0x25], 37),
        ];
        for (bytes, value) in samples {
            assert_eq!(decode(bytes), Some((value, bytes.len())));
        }
        let mut out = Vec::new();
        encode(15_293, &mut out);
        assert_eq!(out, [0x7b, 0xbd]);
    }

    #[test]
    fn truncated_needs_more() {
        assert_eq!(decode(&[]), None);
        assert_eq!(decode(&[0xc2, 0x19, 0x7c]), None);
        assert_eq!(decode(&[0x40]), None);
    }

    #[test]
    fn round_trips_at_every_boundary() {
        for value in [0, 63, 64, 16_383, 16_384, 1_073_741_823, 1_073_741_824, MAX] {
            let mut out = Vec::new();
            encode(value, &mut out);
            assert_eq!(out.len(), size(value));
            assert_eq!(decode(&out), Some((value, out.len())));
        }
    }
}
