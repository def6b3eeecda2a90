//! Payload masking (RFC 6455 §5.3): `j`-th byte XOR key[`j` mod 4].
//!
//! Masking is its own inverse. The hot loop works on 8-byte words so the
//! compiler can vectorise it; only the tail of fewer than 8 bytes goes byte
//! by byte.

/// Masks (or unmasks) `buf` in place with `key`, as if `buf` started at
/// byte `offset` of the payload — so a payload can be unmasked in pieces
/// as it arrives.
///
/// ```
/// use wsx_proto::frame::mask::apply_mask;
/// // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
/// let mut data = *b"Hello";
/// apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
/// assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// // Unmasking in two pieces gives the original back.
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// apply_mask(&mut data[..2], key, 0);
/// apply_mask(&mut data[2..], key, 2);
/// assert_eq!(&data, b"Hello");
/// ```
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate(key, offset);
    let mut chunks = buf.chunks_exact_mut(8);
    let word = key_word(key);
    for chunk in &mut chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i & 3];
    }
}

/// Copies `src` into `dst` (of the same length) masked with `key` from the
/// payload's first byte: the copy and the mask in one pass, for a sender
/// that must copy the payload anyway.
///
/// ```
/// use wsx_proto::frame::mask::mask_into;
/// let mut out = [0u8; 5];
/// mask_into(&mut out, b"Hello", [0x37, 0xfa, 0x21, 0x3d]);
/// assert_eq!(out, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// ```
///
/// # Panics
///
/// If the lengths differ.
#[inline]
pub fn mask_into(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    assert_eq!(dst.len(), src.len(), "mask_into: lengths differ");
    let word = key_word(key);
    let mut out = dst.chunks_exact_mut(8);
    let mut input = src.chunks_exact(8);
    for (to, from) in (&mut out).zip(&mut input) {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(from);
        to.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    for (i, (to, from)) in out.into_remainder().iter_mut().zip(input.remainder()).enumerate() {
        *to = from ^ key[i & 3];
    }
}

/// The reference byte-at-a-time version, for tests and benchmarks.
pub fn apply_mask_bytewise(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= key[(i + offset) & 3];
    }
}

/// The key twice over, as the native-endian word that masks 8 bytes.
#[inline]
fn key_word(key: [u8; 4]) -> u64 {
    let key = u64::from(u32::from_ne_bytes(key));
    key | key << 32
}

/// The key as seen from byte `offset`: rotated left by `offset mod 4` bytes
/// (one bit rotation of the little-endian word, not a slice rotation).
#[inline]
fn rotate(key: [u8; 4], offset: usize) -> [u8; 4] {
    let shift = 8 * (offset & 3) as u32;
    u32::from_le_bytes(key).rotate_right(shift).to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn matches_bytewise_at_any_offset(data in proptest::collection::vec(any::<u8>(), 0..200), key: [u8; 4], offset in 0usize..8) {
            let mut fast = data.clone();
            let mut slow = data.clone();
            apply_mask(&mut fast, key, offset);
            apply_mask_bytewise(&mut slow, key, offset);
            prop_assert_eq!(&fast, &slow);
        }

        #[test]
        fn mask_into_matches_a_copy_masked_in_place(data in proptest::collection::vec(any::<u8>(), 0..200), key: [u8; 4]) {
            let mut copied = vec![0u8; data.len()];
            mask_into(&mut copied, &data, key);
            let mut in_place = data.clone();
            apply_mask_bytewise(&mut in_place, key, 0);
            prop_assert_eq!(copied, in_place);
        }

        #[test]
        fn masking_twice_is_identity(data in proptest::collection::vec(any::<u8>(), 0..200), key: [u8; 4], split in 0usize..200) {
            let mut buf = data.clone();
            apply_mask(&mut buf, key, 0);
            let split = split.min(buf.len());
            let (a, b) = buf.split_at_mut(split);
            apply_mask(a, key, 0);
            apply_mask(b, key, split);
            prop_assert_eq!(buf, data);
        }
    }
}
