//! `Sec-WebSocket-Key` and `Sec-WebSocket-Accept` (RFC 6455 §1.3, §4.1,
//! §4.2.2, §11.3.1, §11.3.3).
//!
//! Contract: [`generate_key`] draws a fresh 16-byte nonce from the RNG it is
//! given; [`accept_key`] computes the server's proof of receipt for a key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderValue;
use rand_core::RngCore;
use sha1::{Digest, Sha1};

/// The GUID appended to the key before hashing (RFC 6455 §1.3).
pub const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A new `Sec-WebSocket-Key` value: 16 random bytes, base64-encoded
/// (24 characters).
///
/// ```
/// let key = wsx_proto::handshake::generate_key(&mut rand::rng());
/// assert_eq!(key.len(), 24);
/// ```
pub fn generate_key(rng: &mut dyn RngCore) -> HeaderValue {
    // RFC 6455 §4.1: "The value of this header field MUST be a nonce
    // consisting of a randomly selected 16-byte value that has been
    // base64-encoded ... The nonce MUST be selected randomly for each
    // connection."
    let mut nonce = [0u8; 16];
    rng.fill_bytes(&mut nonce);
    let encoded = STANDARD.encode(nonce);
    // Cannot fail (and does not depend on peer input): the base64 alphabet is
    // visible ASCII, always a valid header value. A panic is preferred over a
    // fallback that would send a non-random key.
    HeaderValue::from_maybe_shared(bytes::Bytes::from(encoded)).expect("base64 is always a valid header value")
}

/// The `Sec-WebSocket-Accept` value for a `Sec-WebSocket-Key` value `key`
/// (as sent, not base64-decoded): base64 of the SHA-1 of `key` followed by
/// [`WEBSOCKET_GUID`] (RFC 6455 §4.2.2).
///
/// ```
/// use wsx_proto::handshake::accept_key;
/// assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(WEBSOCKET_GUID.as_bytes());
    STANDARD.encode(sha1.finalize())
}

/// `true` if `key` is base64 (RFC 4648 §4, padded) of exactly 16 bytes.
pub(crate) fn is_valid_key(key: &[u8]) -> bool {
    // RFC 6455 §4.2.1: "A |Sec-WebSocket-Key| header field with a
    // base64-encoded (see Section 4 of [RFC4648]) value that, when decoded,
    // is 16 bytes in length."
    // 16 bytes encode to exactly 24 characters; checking the length first
    // keeps the decode bounded.
    key.len() == 24 && STANDARD.decode(key).is_ok_and(|raw| raw.len() == 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    use wsx_test_support::CounterRng as Counter;

    #[test]
    fn rfc_1_3_vector() {
        // RFC 6455 §1.3: key "dGhlIHNhbXBsZSBub25jZQ==" gives
        // "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn generated_key_is_base64_of_rng_bytes() {
        let key = generate_key(&mut Counter(0));
        // base64 of 00 01 02 … 0f.
        assert_eq!(key, "AAECAwQFBgcICQoLDA0ODw==");
        assert!(is_valid_key(key.as_bytes()));
        // Each call draws fresh bytes.
        let mut rng = Counter(0);
        assert_ne!(generate_key(&mut rng), generate_key(&mut rng));
    }

    #[test]
    fn key_validation() {
        assert!(is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ=="));
        // 15 and 17 bytes.
        assert!(!is_valid_key(b"AAECAwQFBgcICQoLDA0O"));
        assert!(!is_valid_key(b"AAECAwQFBgcICQoLDA0ODxA="));
        // Right length, not base64.
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ!="));
        // Unpadded.
        assert!(!is_valid_key(b"dGhlIHNhbXBsZSBub25jZQ"));
        assert!(!is_valid_key(b""));
    }
}
