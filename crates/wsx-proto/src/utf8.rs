//! UTF-8 for text messages (RFC 6455 §5.6, §8.1): an incremental validator
//! that fails on the first invalid byte, across frame and chunk boundaries,
//! and [`Utf8Bytes`], text that shares a `Bytes` buffer without copying.

use bytes::Bytes;
use std::fmt;

/// Bytes that are valid UTF-8: the payload of a text message, without a copy.
///
/// ```
/// use wsx_proto::Utf8Bytes;
/// let text = Utf8Bytes::from("héllo");
/// assert_eq!(text.as_str(), "héllo");
/// assert!(Utf8Bytes::try_from(bytes::Bytes::from_static(b"\xff")).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Utf8Bytes(Bytes);

/// The bytes given to [`Utf8Bytes::try_from`] were not valid UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid UTF-8 after {valid_up_to} valid bytes")]
pub struct InvalidUtf8 {
    /// How many leading bytes were valid.
    pub valid_up_to: usize,
}

impl Utf8Bytes {
    /// Text from a static string.
    pub const fn from_static(text: &'static str) -> Self {
        Self(Bytes::from_static(text.as_bytes()))
    }

    /// Wraps bytes already known to be valid UTF-8 (crate-internal: callers
    /// outside go through `TryFrom`).
    pub(crate) fn from_validated(bytes: Bytes) -> Self {
        debug_assert!(std::str::from_utf8(&bytes).is_ok());
        Self(bytes)
    }

    /// The text, without another pass over it (constant time).
    #[allow(unsafe_code, reason = "the type's invariant is valid UTF-8; see the SAFETY comment")]
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor establishes that the bytes are valid
        // UTF-8: `from_static` and the `From<&str>`/`From<String>`
        // conversions take a `str`, `TryFrom<Bytes>` validates, and
        // `from_validated` is only called by the receive path on a payload
        // that `Utf8Validator` accepted whole (`feed` on every byte, then
        // `finish`). The inner `Bytes` is private and never mutated, so the
        // bytes cannot change afterwards. Re-validating here cost a full
        // SIMD pass per call (`cargo bench -p wsx-proto --bench codec --
        // as_str`); the invariant is checked under the address sanitizer by
        // the connection fuzz targets, which compare `as_str` with
        // `std::str::from_utf8` for every text message they receive.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The underlying buffer.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = InvalidUtf8;
    fn try_from(bytes: Bytes) -> Result<Self, InvalidUtf8> {
        match simdutf8::compat::from_utf8(&bytes) {
            Ok(_) => Ok(Self(bytes)),
            Err(e) => Err(InvalidUtf8 { valid_up_to: e.valid_up_to() }),
        }
    }
}

impl From<&str> for Utf8Bytes {
    fn from(text: &str) -> Self {
        Self(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl From<String> for Utf8Bytes {
    fn from(text: String) -> Self {
        Self(Bytes::from(text))
    }
}

impl From<&String> for Utf8Bytes {
    fn from(text: &String) -> Self {
        Self::from(text.as_str())
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(text: Utf8Bytes) -> Self {
        text.0
    }
}

impl std::ops::Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Validates UTF-8 fed in arbitrary pieces. It reports an error as soon as a
/// byte makes the sequence invalid — not at the end of the message — and
/// keeps at most three bytes of an unfinished character between pieces.
///
/// ```
/// use wsx_proto::utf8::Utf8Validator;
/// let mut v = Utf8Validator::default();
/// v.feed(b"\xe2\x82").unwrap();      // first two bytes of '€'
/// v.feed(b"\xac ok").unwrap();
/// assert!(v.finish().is_ok());
/// assert!(Utf8Validator::default().feed(b"\xed\xa0\x80").is_err()); // surrogate
/// ```
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    carry: [u8; 4],
    carry_len: usize,
}

/// The input is not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid UTF-8")]
pub struct Utf8Error;

impl Utf8Validator {
    /// Validates the next piece. After an error the validator must be reset.
    pub fn feed(&mut self, mut input: &[u8]) -> Result<(), Utf8Error> {
        if self.carry_len > 0 {
            let width = sequence_width(self.carry[0]);
            let take = (width - self.carry_len).min(input.len());
            self.carry[self.carry_len..self.carry_len + take].copy_from_slice(&input[..take]);
            self.carry_len += take;
            input = &input[take..];
            match simdutf8::compat::from_utf8(&self.carry[..self.carry_len]) {
                Ok(_) => self.carry_len = 0,
                Err(e) if e.error_len().is_none() => return Ok(()),
                Err(_) => return Err(Utf8Error),
            }
        }
        // One pass over the whole characters; a character cut off at the
        // end of the piece (at most three bytes) is checked on its own.
        let (whole, tail) = input.split_at(input.len() - unfinished_tail(input));
        if simdutf8::basic::from_utf8(whole).is_err() {
            return Err(Utf8Error);
        }
        match simdutf8::compat::from_utf8(tail) {
            Ok(_) => Ok(()),
            // An unfinished but so far valid sequence at the end: keep it.
            Err(e) if e.error_len().is_none() && e.valid_up_to() == 0 => {
                self.carry[..tail.len()].copy_from_slice(tail);
                self.carry_len = tail.len();
                Ok(())
            }
            Err(_) => Err(Utf8Error),
        }
    }

    /// Ends the text: an unfinished character at the end is an error (§8.1).
    pub fn finish(&mut self) -> Result<(), Utf8Error> {
        let complete = self.carry_len == 0;
        self.carry_len = 0;
        if complete { Ok(()) } else { Err(Utf8Error) }
    }

    /// Forgets any unfinished character.
    pub fn reset(&mut self) {
        self.carry_len = 0;
    }
}

/// How many bytes at the end of `input` belong to a character its lead
/// byte says is longer than what is there (0 when the piece ends on a
/// character boundary, as far as the last four bytes tell).
fn unfinished_tail(input: &[u8]) -> usize {
    let last = input.len().saturating_sub(4);
    for start in (last..input.len()).rev() {
        let byte = input[start];
        if byte & 0xC0 != 0x80 {
            let present = input.len() - start;
            let wanted = match byte {
                0x00..=0x7F => 1,
                _ => sequence_width(byte),
            };
            return if present < wanted { present } else { 0 };
        }
    }
    0
}

/// Length of the sequence a non-ASCII lead byte starts (an invalid lead
/// byte is caught by the validation that follows).
fn sequence_width(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_split(input: &[u8], split: &[usize]) -> Result<(), Utf8Error> {
        let mut v = Utf8Validator::default();
        let mut start = 0;
        for &end in split.iter().chain(std::iter::once(&input.len())) {
            v.feed(&input[start..end])?;
            start = end;
        }
        v.finish()
    }

    #[test]
    fn every_split_of_valid_text_is_accepted() {
        let text = "κόσμε 🌍 €uro ascii".as_bytes();
        for i in 0..=text.len() {
            for j in i..=text.len() {
                assert!(feed_split(text, &[i, j]).is_ok(), "split {i} {j}");
            }
        }
    }

    #[test]
    fn fails_at_the_first_invalid_byte_not_at_the_end() {
        let mut v = Utf8Validator::default();
        v.feed("κόσμε".as_bytes()).unwrap();
        // 0xED 0xA0 is the start of a UTF-16 surrogate: invalid at the second byte.
        v.feed(b"\xed").unwrap();
        assert_eq!(v.feed(b"\xa0"), Err(Utf8Error));
        // A lead byte followed by a continuation outside its range.
        assert!(Utf8Validator::default().feed(b"\xf4\x90").is_err());
        assert!(Utf8Validator::default().feed(b"\xc0").is_err());
    }

    /// The safe counterpart of `as_str`'s unchecked conversion, for every
    /// way a `Utf8Bytes` comes to be (run under Miri too:
    /// `cargo +nightly miri test -p wsx-proto --lib as_str`).
    #[test]
    fn as_str_agrees_with_std_for_every_constructor() {
        let received = {
            use crate::{Config, Connection, Event, Message, Negotiated, Role};
            let rng = Box::new(<rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0));
            let mut conn = Connection::new(Negotiated::new(Role::Client), Config::default(), rng);
            // "κό" + "σμε" in two fragments, the second splitting nothing.
            conn.receive(&[0x01, 0x04, 0xce, 0xba, 0xcf, 0x8c, 0x80, 0x06, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5]);
            match conn.poll_event() {
                Some(Event::Message(Message::Text(text))) => text,
                other => panic!("expected a text message, got {other:?}"),
            }
        };
        let all = [
            Utf8Bytes::default(),
            Utf8Bytes::from_static("static ✓"),
            Utf8Bytes::from("borrowed κόσμε"),
            Utf8Bytes::from(String::from("owned 🌍")),
            Utf8Bytes::try_from(Bytes::from_static("checked €".as_bytes())).unwrap(),
            received,
        ];
        for text in &all {
            assert_eq!(Some(text.as_str()), std::str::from_utf8(text.as_bytes()).ok());
            assert_eq!(text.as_str().len(), text.len());
        }
        assert_eq!(all[5].as_str(), "κόσμε");
    }

    #[test]
    fn truncated_sequence_at_the_end_is_an_error() {
        let mut v = Utf8Validator::default();
        v.feed(b"ok \xf0\x9f\x98").unwrap();
        assert_eq!(v.finish(), Err(Utf8Error));
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_std_over_any_split(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64), a in 0usize..64, b in 0usize..64) {
            let (a, b) = (a.min(bytes.len()), b.min(bytes.len()));
            let (a, b) = (a.min(b), a.max(b));
            let ours = feed_split(&bytes, &[a, b]).is_ok();
            proptest::prop_assert_eq!(ours, std::str::from_utf8(&bytes).is_ok());
        }

        /// Mostly-valid text (multi-byte characters cut at random points,
        /// sometimes one byte changed), where random bytes alone are rarely valid.
        #[test]
        fn agrees_with_std_on_near_valid_text(text in "\\PC{0,40}", cuts in proptest::collection::vec(0usize..200, 0..4), flip in proptest::option::of((0usize..200, proptest::prelude::any::<u8>()))) {
            let mut bytes = text.into_bytes();
            if let Some((at, value)) = flip && !bytes.is_empty() {
                let at = at % bytes.len();
                bytes[at] = value;
            }
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let ours = feed_split(&bytes, &cuts).is_ok();
            proptest::prop_assert_eq!(ours, std::str::from_utf8(&bytes).is_ok());
        }
    }
}
