//! Helpers shared by the tests of the wsx crates (not published): a
//! deterministic RNG, and frames encoded by hand (RFC 6455 §5.2), masked
//! byte by byte here rather than with `wsx_proto`'s own masking, so a test
//! does not check the codec against itself.
//!
//! ```
//! use wsx_test_support::{KEY, client_frame, frame, server_frame};
//! assert_eq!(server_frame(0x81, b"Hello"), b"\x81\x05Hello");
//! // RFC 6455 §5.7: a masked "Hello".
//! assert_eq!(client_frame(0x81, b"Hello"), [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
//! assert_eq!(frame(0x81, Some(KEY), b"Hello"), client_frame(0x81, b"Hello"));
//! ```

use rand_core::RngCore;

/// The masking key of the RFC 6455 §5.7 examples.
pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A deterministic RNG: every byte drawn is `self.0`, which then
/// increments (wrapping). `CounterRng(1)` draws 1, 2, 3, …, so a handshake
/// key from it is `AQIDBAUGBwgJCgsMDQ4PEA==`.
#[derive(Debug, Clone)]
pub struct CounterRng(pub u8);

impl RngCore for CounterRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for b in dst {
            *b = self.0;
            self.0 = self.0.wrapping_add(1);
        }
    }
}

/// A frame header: `first` is the FIN/RSV/opcode byte as given, the length
/// uses the minimal encoding, then the masking key if any.
pub fn header(first: u8, len: u64, mask: Option<[u8; 4]>) -> Vec<u8> {
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut out = vec![first];
    match len {
        0..=125 => out.push(mask_bit | len as u8),
        126..=0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    if let Some(key) = mask {
        out.extend_from_slice(&key);
    }
    out
}

/// A frame that declares `len` bytes of payload and carries `payload`
/// (masked with `mask` if given), which may be shorter: the rest is never
/// sent.
pub fn frame_declaring(first: u8, len: u64, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    let mut out = header(first, len, mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| mask.map_or(*b, |key| b ^ key[i % 4])));
    out
}

/// One whole frame, masked with `mask` if given.
pub fn frame(first: u8, mask: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
    frame_declaring(first, payload.len() as u64, mask, payload)
}

/// A frame as a client sends it: masked with [`KEY`].
pub fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    frame(first, Some(KEY), payload)
}

/// A frame as a server sends it: unmasked.
pub fn server_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    frame(first, None, payload)
}

/// Masks or unmasks `payload` in place with `key` (the operation is its own
/// inverse).
pub fn unmask(payload: &mut [u8], key: [u8; 4]) {
    payload.iter_mut().enumerate().for_each(|(i, b)| *b ^= key[i % 4]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_use_the_minimal_encoding() {
        assert_eq!(header(0x82, 125, None), [0x82, 125]);
        assert_eq!(header(0x82, 126, None), [0x82, 126, 0, 126]);
        assert_eq!(header(0x82, 0x1_0000, None), [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    }

    #[test]
    fn counter_draws_consecutive_bytes() {
        let mut rng = CounterRng(0xfe);
        let mut out = [0; 3];
        rng.fill_bytes(&mut out);
        assert_eq!(out, [0xfe, 0xff, 0]);
    }

    #[test]
    fn unmask_undoes_masking() {
        let mut masked = client_frame(0x82, b"abcdef")[6..].to_vec();
        unmask(&mut masked, KEY);
        assert_eq!(masked, b"abcdef");
    }
}
