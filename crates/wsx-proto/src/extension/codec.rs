//! permessage-deflate compression and decompression (RFC 7692 §7.2) on
//! zlib-rs, raw DEFLATE without a zlib header.
//!
//! Contract: [`Compressor::compress`] turns one whole message into the
//! payload of a compressed message (flushed with `Z_SYNC_FLUSH`, the
//! trailing `00 00 ff ff` removed, §7.2.1). [`Decompressor::inflate`] takes a
//! compressed message frame by frame, produces at most [`INFLATE_STEP`]
//! bytes per step and checks the size limit and the UTF-8 validator after
//! every step, so a bomb fails with 1009 holding at most the limit plus one
//! step; [`Decompressor::finish`] appends the `00 00 ff ff` tail (§7.2.2).

use bytes::Bytes;
use zlib_rs::{Deflate, DeflateFlush, Inflate, InflateFlush, Status};

use crate::error::ProtocolError;
use crate::utf8::Utf8Validator;

/// Most bytes of output one inflate step produces.
pub const INFLATE_STEP: usize = 64 * 1024;

/// The bytes of an empty stored block that `Z_SYNC_FLUSH` ends with, removed
/// by the sender and appended by the receiver (RFC 7692 §7.2.1, §7.2.2).
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Our compressor: one per connection, its window kept between messages
/// unless `no_context_takeover`.
///
/// zlib's state (≈ 160 KiB with zlib-rs, whose hash table is 128 KiB
/// whatever the memLevel) is allocated at the first message compressed, not
/// when the connection opens: a connection that stays idle, or sends only
/// messages under the threshold, does not pay for it. While messages flow it
/// stays (without context takeover it is reset after each message: freeing
/// and allocating it again measured 26 % slower per message, `cargo bench -p
/// wsx-proto --bench deflate -- "per line"`). [`release`](Self::release)
/// frees it when the connection goes quiet, keeping only the last window of
/// what was sent, from which the next message's
/// compressor is primed as a preset dictionary: the peer's decompressor
/// holds the same bytes in its window, so context takeover continues.
pub struct Compressor {
    deflate: Option<Deflate>,
    config: zlib_rs::DeflateConfig,
    no_context_takeover: bool,
    /// The sent stream's last window, with context takeover.
    history: History,
    /// Messages compressed.
    uses: u64,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor").field("no_context_takeover", &self.no_context_takeover).finish_non_exhaustive()
    }
}

/// The compressor refused its input (zlib reported an inconsistent state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("deflate failed")]
pub struct CompressError;

impl Compressor {
    /// A raw-deflate compressor. `window_bits` is clamped to 9–15 (zlib
    /// cannot produce an 8-bit window), `mem_level` to 1–9, `level` to 0–9.
    pub fn new(window_bits: u8, mem_level: u8, level: u8, no_context_takeover: bool) -> Self {
        let config = zlib_rs::DeflateConfig {
            level: i32::from(level.min(9)),
            // Negative: raw deflate, no zlib header or trailer.
            window_bits: -i32::from(window_bits.clamp(9, 15)),
            mem_level: i32::from(mem_level.clamp(1, 9)),
            ..zlib_rs::DeflateConfig::default()
        };
        let window = 1 << window_bits.clamp(9, 15);
        Self { deflate: None, config, no_context_takeover, history: History::new(window), uses: 0 }
    }

    /// Whether zlib's state is allocated (from the first message compressed
    /// until [`release`](Self::release)).
    pub fn is_allocated(&self) -> bool {
        self.deflate.is_some()
    }

    /// Frees zlib's state; the next message allocates it again, primed with
    /// the window of what was sent before (context takeover is unaffected).
    /// Returns whether there was anything to free.
    pub fn release(&mut self) -> bool {
        self.deflate.take().is_some()
    }

    /// Bytes held while released: the sent stream's last window.
    pub fn retained(&self) -> usize {
        self.history.bytes.capacity()
    }

    /// Messages compressed so far.
    pub fn uses(&self) -> u64 {
        self.uses
    }

    /// Compresses one whole message (RFC 7692 §7.2.1): deflate, flush with
    /// `Z_SYNC_FLUSH`, remove the trailing `00 00 ff ff`.
    ///
    /// # Errors
    /// [`CompressError`] if zlib fails (an internal error, never the input's fault).
    pub fn compress(&mut self, input: &[u8]) -> Result<Vec<u8>, CompressError> {
        let deflate = match &mut self.deflate {
            Some(deflate) => deflate,
            empty => {
                let mut fresh = Deflate::new_with_config(self.config);
                if !self.history.is_empty() {
                    // The peer's window holds these bytes: matches against
                    // them are what context takeover allows (RFC 7692 §7.2.1).
                    fresh.set_dictionary(self.history.contiguous()).map_err(|_| CompressError)?;
                }
                empty.insert(fresh)
            }
        };
        let mut out: Vec<u8> = Vec::with_capacity(input.len() / 2 + 64);
        let mut consumed = 0;
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.capacity());
            }
            let start = out.len();
            let space = out.capacity() - start;
            out.resize(start + space, 0);
            let (in_before, out_before) = (deflate.total_in(), deflate.total_out());
            let result = deflate.compress(&input[consumed..], &mut out[start..], DeflateFlush::SyncFlush);
            consumed += (deflate.total_in() - in_before) as usize;
            let produced = (deflate.total_out() - out_before) as usize;
            out.truncate(start + produced);
            result.map_err(|_| CompressError)?;
            // zlib: the flush is complete once it left output space unused.
            if consumed == input.len() && produced < space {
                break;
            }
        }
        // RFC 7692 §7.2.1: "Remove 4 octets (that are 0x00 0x00 0xff 0xff)
        // from the tail end."
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        } else if out.is_empty() {
            // zlib emits nothing for a flush with no new input; the receiver
            // appends the tail all the same, so the message must hold the
            // rest of an empty stored block: RFC 7692 §7.2.3.6, "a single
            // octet 0x00".
            out.push(0x00);
        }
        if self.no_context_takeover {
            deflate.reset();
        } else {
            self.history.record(input);
        }
        self.uses += 1;
        Ok(out)
    }
}

/// Our decompressor: one per connection, for any window the peer uses.
///
/// zlib's state (≈ 19 KiB, and the window, up to 32 KiB) is allocated at
/// the first compressed message, and [`release`](Self::release) frees it
/// when the connection goes quiet, keeping the received stream's last
/// window to prime the next message's decompressor.
pub struct Decompressor {
    inflate: Option<Inflate>,
    window_bits: u8,
    /// The received stream's last window, with context takeover.
    history: History,
    /// Messages inflated.
    uses: u64,
    /// A message is being inflated (its state cannot be released).
    in_message: bool,
    no_context_takeover: bool,
    /// The stream of this message ended with a BFINAL block.
    ended: bool,
}

impl std::fmt::Debug for Decompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decompressor")
            .field("no_context_takeover", &self.no_context_takeover)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl Decompressor {
    /// A raw-inflate decompressor for a peer whose window is at most
    /// `peer_window_bits` (8–15). A window of 8 is inflated with 9: zlib
    /// compressors silently turn 8 into 9, and a larger window always works.
    pub fn new(peer_window_bits: u8, no_context_takeover: bool) -> Self {
        let window_bits = peer_window_bits.clamp(9, 15);
        Self {
            inflate: None,
            window_bits,
            history: History::new(1 << window_bits),
            uses: 0,
            in_message: false,
            no_context_takeover,
            ended: false,
        }
    }

    /// Whether zlib's state is allocated (from the first compressed message
    /// until [`release`](Self::release)).
    pub fn is_allocated(&self) -> bool {
        self.inflate.is_some()
    }

    /// Frees zlib's state between messages (not inside one: then it keeps
    /// it and returns `false`); the next message allocates it again, primed
    /// with the window of what was received.
    pub fn release(&mut self) -> bool {
        !self.in_message && self.inflate.take().is_some()
    }

    /// Messages inflated so far.
    pub fn uses(&self) -> u64 {
        self.uses
    }

    /// Bytes held while released: the received stream's last window.
    pub fn retained(&self) -> usize {
        self.history.bytes.capacity()
    }

    /// zlib's state, allocated (and primed with the history) if released.
    fn state(&mut self) -> Result<&mut Inflate, ProtocolError> {
        match &mut self.inflate {
            Some(inflate) => Ok(inflate),
            empty => {
                let mut fresh = Inflate::new(false, self.window_bits);
                if !self.history.is_empty() {
                    fresh
                        .set_dictionary(self.history.contiguous())
                        .map_err(|_| ProtocolError::InvalidCompressedData)?;
                }
                Ok(empty.insert(fresh))
            }
        }
    }

    /// Inflates the payload of one frame of a compressed message, appending
    /// to `out` in steps of at most [`INFLATE_STEP`] bytes. After every step
    /// the total is checked against `limit` and the new bytes are fed to
    /// `utf8` (for text).
    ///
    /// # Errors
    /// [`ProtocolError::InvalidCompressedData`] (1007) for a corrupt stream,
    /// [`ProtocolError::MessageTooLarge`] (1009) past `limit`,
    /// [`ProtocolError::InvalidUtf8`] (1007) for invalid text.
    pub fn inflate(
        &mut self,
        mut input: &[u8],
        out: &mut Inflated,
        limit: usize,
        mut utf8: Option<&mut Utf8Validator>,
    ) -> Result<(), ProtocolError> {
        self.in_message = true;
        loop {
            if self.ended {
                // A block with BFINAL ended the stream (RFC 7692 §7.2.3.4):
                // what follows it in this message is padding and the tail;
                // the next message starts a new stream (see `finish`).
                return Ok(());
            }
            let total = out.len;
            // Room for what this input likely inflates to (text commonly
            // inflates 4-10×; too little room sends zlib's tail through its
            // slow loop and splits the message into two chunks): small
            // messages get small chunks (no 64 KiB to zero for 100 bytes).
            let hint = input.len().saturating_mul(8).clamp(256, INFLATE_STEP);
            let chunk = out.room(limit, hint);
            let start = chunk.len();
            // Offer what this input likely needs (the loop comes back for
            // more): zeroing a whole step for each small frame is costly.
            let space = (chunk.capacity() - start).min(hint);
            chunk.resize(start + space, 0);
            let inflate = self.state()?;
            let (in_before, out_before) = (inflate.total_in(), inflate.total_out());
            let result = inflate.decompress(input, &mut chunk[start..], InflateFlush::SyncFlush);
            let used = (inflate.total_in() - in_before) as usize;
            let produced = (inflate.total_out() - out_before) as usize;
            chunk.truncate(start + produced);
            input = &input[used..];
            let status = result.map_err(|_| ProtocolError::InvalidCompressedData)?;
            let len = total + produced;
            if len > limit {
                return Err(ProtocolError::MessageTooLarge { len: len as u64, max: limit });
            }
            if let Some(utf8) = utf8.as_deref_mut() {
                // RFC 6455 §8.1: invalid text fails the connection; checked
                // on the inflated bytes as each step produces them.
                utf8.feed(&chunk[start..]).map_err(|_| ProtocolError::InvalidUtf8)?;
            }
            out.len = len;
            if status == Status::StreamEnd {
                self.ended = true;
                continue;
            }
            let progress = used > 0 || produced > 0;
            if (input.is_empty() && produced < space) || !progress {
                return Ok(());
            }
        }
    }

    /// Ends a message: inflates the `00 00 ff ff` tail (RFC 7692 §7.2.2:
    /// "Append 4 octets of 0x00 0x00 0xff 0xff to the tail end of the
    /// payload of the message"), then resets the window if the peer does
    /// not take over context or its stream ended.
    ///
    /// # Errors
    /// As [`inflate`](Self::inflate).
    pub fn finish(
        &mut self,
        out: &mut Inflated,
        limit: usize,
        utf8: Option<&mut Utf8Validator>,
    ) -> Result<(), ProtocolError> {
        if !self.ended {
            self.inflate(&TAIL, out, limit, utf8)?;
        }
        if self.ended || self.no_context_takeover {
            self.reset();
        } else {
            self.history.record_chunks(&out.chunks, out.len);
        }
        self.in_message = false;
        self.uses += 1;
        Ok(())
    }

    /// Drops the window and any partial message (after an error, or per message).
    pub fn reset(&mut self) {
        if let Some(inflate) = self.inflate.as_mut() {
            inflate.reset(false);
        }
        self.history.clear();
        self.in_message = false;
        self.ended = false;
    }
}

/// The last `window` bytes of a compressed stream's uncompressed data:
/// what a compressor or decompressor released between messages needs to
/// resume with context takeover (RFC 7692 §7.2.1: "the LZ77 sliding window
/// ... used to compress the last message") — the window, not zlib's
/// hash tables.
#[derive(Debug)]
struct History {
    /// Up to `window` bytes; once full, a ring whose oldest byte is at
    /// `oldest` (so recording a message copies only the message).
    bytes: Vec<u8>,
    oldest: usize,
    window: usize,
}

impl History {
    fn new(window: usize) -> Self {
        Self { bytes: Vec::new(), oldest: 0, window }
    }

    /// Appends `data`, keeping the last `window` bytes.
    fn record(&mut self, data: &[u8]) {
        let data = &data[data.len().saturating_sub(self.window)..];
        let room = self.window - self.bytes.len();
        let (fill, mut rest) = data.split_at(data.len().min(room));
        if !fill.is_empty() {
            if self.bytes.len() + fill.len() > self.bytes.capacity() {
                // Grows as a Vec does, but never past the window.
                let target = (self.bytes.len() + fill.len()).max(self.bytes.capacity() * 2).min(self.window);
                self.bytes.reserve_exact(target - self.bytes.len());
            }
            self.bytes.extend_from_slice(fill);
        }
        while !rest.is_empty() {
            let n = rest.len().min(self.window - self.oldest);
            self.bytes[self.oldest..self.oldest + n].copy_from_slice(&rest[..n]);
            self.oldest = (self.oldest + n) % self.window;
            rest = &rest[n..];
        }
    }

    /// [`record`](Self::record) for a message held in chunks, `len` in all.
    fn record_chunks(&mut self, chunks: &[Vec<u8>], len: usize) {
        let mut skip = len.saturating_sub(self.window);
        for chunk in chunks {
            if skip >= chunk.len() {
                skip -= chunk.len();
                continue;
            }
            self.record(&chunk[skip..]);
            skip = 0;
        }
    }

    /// The bytes, oldest first (a preset dictionary).
    fn contiguous(&mut self) -> &[u8] {
        self.bytes.rotate_left(self.oldest);
        self.oldest = 0;
        &self.bytes
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.oldest = 0;
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// The inflated bytes of one message, in chunks that are never
/// reallocated: each new chunk is as large as everything before it (at
/// least what the input at hand should inflate to, at most one step, when
/// it is the first) but never takes the total capacity past the limit plus
/// one step. So a message that ends in 1009 never held more than that, not
/// even while growing, and a message that fits one chunk is handed over
/// without a copy.
#[derive(Debug, Default)]
pub struct Inflated {
    chunks: Vec<Vec<u8>>,
    len: usize,
    capacity: usize,
}

impl Inflated {
    /// Bytes inflated so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was inflated.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The last chunk, with at least one byte of spare capacity; a new one
    /// holds at least `hint` bytes (at most one step) and grows with the total.
    fn room(&mut self, limit: usize, hint: usize) -> &mut Vec<u8> {
        let full = self.chunks.last().is_none_or(|c| c.len() == c.capacity());
        if full {
            let cap_left = limit.saturating_add(INFLATE_STEP).saturating_sub(self.capacity).max(1);
            let size = self.len.max(hint).min(cap_left);
            self.capacity += size;
            self.chunks.push(Vec::with_capacity(size));
        }
        let last = self.chunks.len() - 1;
        &mut self.chunks[last]
    }

    /// The whole message.
    pub fn into_bytes(mut self) -> Bytes {
        match self.chunks.len() {
            0 => Bytes::new(),
            1 => Bytes::from(self.chunks.swap_remove(0)),
            _ => {
                let mut all = Vec::with_capacity(self.len);
                for chunk in &self.chunks {
                    all.extend_from_slice(chunk);
                }
                Bytes::from(all)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inflate_all(d: &mut Decompressor, frames: &[&[u8]]) -> Result<Vec<u8>, ProtocolError> {
        let mut out = Inflated::default();
        for frame in frames {
            d.inflate(frame, &mut out, 1 << 20, None)?;
        }
        d.finish(&mut out, 1 << 20, None)?;
        Ok(out.into_bytes().to_vec())
    }

    /// RFC 7692 §7.2.3.1: "Hello" compressed is `f2 48 cd c9 c9 07 00`.
    #[test]
    fn rfc_7692_hello() {
        let mut c = Compressor::new(15, 8, 6, false);
        assert_eq!(c.compress(b"Hello").unwrap(), [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        let mut d = Decompressor::new(15, false);
        assert_eq!(inflate_all(&mut d, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]]).unwrap(), b"Hello");
        // §7.2.3.1, fragmented: the same bytes split across two frames.
        assert_eq!(inflate_all(&mut d, &[&[0xf2, 0x48, 0xcd], &[0xc9, 0xc9, 0x07, 0x00]]).unwrap(), b"Hello");
    }

    /// zlib's state is allocated at the first message, not before.
    #[test]
    fn the_compressor_state_is_allocated_on_first_use() {
        for no_context_takeover in [false, true] {
            let mut c = Compressor::new(15, 8, 6, no_context_takeover);
            assert!(!c.is_allocated(), "nothing allocated before the first message");
            c.compress(b"Hello").unwrap();
            assert!(c.is_allocated());
        }
        let mut fresh = Compressor::new(15, 8, 6, true);
        for _ in 0..3 {
            // Without takeover every message compresses as the first did.
            assert_eq!(fresh.compress(b"Hello").unwrap(), [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        }
    }

    /// RFC 7692 §7.2.3.2: with context takeover, a second "Hello" refers to
    /// the first: `f2 00 11 00 00`.
    #[test]
    fn rfc_7692_sharing_the_window() {
        let mut c = Compressor::new(15, 8, 6, false);
        c.compress(b"Hello").unwrap();
        assert_eq!(c.compress(b"Hello").unwrap(), [0xf2, 0x00, 0x11, 0x00, 0x00]);
        let mut d = Decompressor::new(15, false);
        assert_eq!(inflate_all(&mut d, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]]).unwrap(), b"Hello");
        assert_eq!(inflate_all(&mut d, &[&[0xf2, 0x00, 0x11, 0x00, 0x00]]).unwrap(), b"Hello");
        // Without context takeover the second message stands alone.
        let mut c = Compressor::new(15, 8, 6, true);
        let first = c.compress(b"Hello").unwrap();
        assert_eq!(c.compress(b"Hello").unwrap(), first);
    }

    /// RFC 7692 §7.2.3.3: a DEFLATE block with no compression:
    /// `00 05 00 fa ff 48 65 6c 6c 6f 00`.
    #[test]
    fn rfc_7692_no_compression_block() {
        let mut d = Decompressor::new(15, false);
        let stored = [0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00];
        assert_eq!(inflate_all(&mut d, &[&stored]).unwrap(), b"Hello");
    }

    /// RFC 7692 §7.2.3.4: a block with BFINAL set: `f3 48 cd c9 c9 07 00 00`;
    /// the tail after it is ignored and the next message starts afresh.
    #[test]
    fn rfc_7692_bfinal_block() {
        let mut d = Decompressor::new(15, false);
        assert_eq!(inflate_all(&mut d, &[&[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00]]).unwrap(), b"Hello");
        assert_eq!(inflate_all(&mut d, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]]).unwrap(), b"Hello");
    }

    /// RFC 7692 §7.2.3.5: two DEFLATE blocks in one message.
    #[test]
    fn rfc_7692_two_blocks() {
        let mut d = Decompressor::new(15, false);
        let two = [0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(inflate_all(&mut d, &[&two]).unwrap(), b"Hello");
    }

    /// RFC 7692 §7.2.3.6: an empty message is `00`, and a run of them stays
    /// decodable by an independent inflater (zlib via flate2) fed each
    /// payload with the tail appended, as every receiver does.
    #[test]
    fn empty_messages_are_a_single_zero_octet() {
        let mut c = Compressor::new(12, 5, 6, false);
        let inputs: [&[u8]; 6] = [b"", b"hello", b"", b"", b"x", b""];
        let mut inflater = flate2::Decompress::new_with_window_bits(false, 15);
        let mut ours = Decompressor::new(15, false);
        for input in inputs {
            let packed = c.compress(input).unwrap();
            if input.is_empty() {
                assert!(packed == [0x00] || packed == [0x02, 0x00], "{packed:02x?}");
            }
            let mut framed = packed.clone();
            framed.extend_from_slice(&TAIL);
            let mut out = Vec::with_capacity(64);
            inflater.decompress_vec(&framed, &mut out, flate2::FlushDecompress::Sync).unwrap();
            assert_eq!(out, input, "{packed:02x?}");
            assert_eq!(inflate_all(&mut ours, &[&packed]).unwrap(), input);
        }
    }

    #[test]
    fn corrupt_streams_are_1007() {
        let mut d = Decompressor::new(15, false);
        // BTYPE 11 is reserved (RFC 1951 §3.2.3).
        assert_eq!(inflate_all(&mut d, &[&[0xff, 0xff, 0xff]]), Err(ProtocolError::InvalidCompressedData));
        // A stored block whose NLEN is not the complement of LEN.
        let mut d = Decompressor::new(15, false);
        assert_eq!(inflate_all(&mut d, &[&[0x00, 0x05, 0x00, 0x00, 0x00]]), Err(ProtocolError::InvalidCompressedData));
    }

    #[test]
    fn round_trips_every_window_and_mem_level() {
        let text: Vec<u8> =
            (0..20_000u32).flat_map(|i| format!("{{\"id\":{},\"v\":\"x{}\"}}", i % 977, i % 13).into_bytes()).collect();
        for bits in 9..=15 {
            for mem in [1, 5, 9] {
                let mut c = Compressor::new(bits, mem, 6, false);
                let mut d = Decompressor::new(bits, false);
                for chunk in [&text[..10], &text[..], &text[1000..5000]] {
                    let packed = c.compress(chunk).unwrap();
                    let mut out = Inflated::default();
                    d.inflate(&packed, &mut out, usize::MAX / 2, None).unwrap();
                    d.finish(&mut out, usize::MAX / 2, None).unwrap();
                    assert_eq!(out.into_bytes(), chunk, "window {bits}, memLevel {mem}");
                }
            }
        }
    }

    /// JSON-like lines, each unlike the one before but sharing most words.
    fn lines(count: u32) -> Vec<Vec<u8>> {
        (0..count)
            .map(|i| {
                format!("{{\"user\":\"u{}\",\"room\":\"lobby\",\"text\":\"message {i} of the day\"}}", i % 7)
                    .into_bytes()
            })
            .collect()
    }

    #[test]
    fn rfc_7692_sharing_the_window_across_a_release() {
        // The RFC's second "Hello", compressed after the state was freed:
        // the same bytes, so the history primes the window exactly.
        let mut c = Compressor::new(15, 8, 6, false);
        c.compress(b"Hello").unwrap();
        assert!(c.release());
        assert!(!c.is_allocated());
        assert_eq!(c.compress(b"Hello").unwrap(), [0xf2, 0x00, 0x11, 0x00, 0x00]);
        let mut d = Decompressor::new(15, false);
        assert_eq!(inflate_all(&mut d, &[&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]]).unwrap(), b"Hello");
        assert!(d.release());
        assert_eq!(inflate_all(&mut d, &[&[0xf2, 0x00, 0x11, 0x00, 0x00]]).unwrap(), b"Hello");
    }

    #[test]
    fn a_released_compressor_matches_one_that_never_was() {
        // Context takeover across releases: a peer's decompressor that was
        // never released inflates every message, and the released
        // compressor compresses as well as one that kept its state (its
        // hash chains differ, so its matches may too).
        for bits in [9, 12, 15] {
            let (mut kept, mut released) = (Compressor::new(bits, 5, 6, false), Compressor::new(bits, 5, 6, false));
            let mut peer = Decompressor::new(bits, false);
            let (mut kept_size, mut released_size) = (0, 0);
            for (i, line) in lines(300).iter().enumerate() {
                if i % 3 == 0 {
                    released.release();
                }
                let packed = released.compress(line).unwrap();
                released_size += packed.len();
                kept_size += kept.compress(line).unwrap().len();
                assert_eq!(inflate_all(&mut peer, &[&packed]).unwrap(), *line, "window {bits}, message {i}");
            }
            assert!(released_size * 100 <= kept_size * 105, "window {bits}: {released_size} against {kept_size}");
            assert!(released.retained() <= 1 << bits);
        }
    }

    #[test]
    fn a_released_decompressor_inflates_what_refers_to_the_last_window() {
        let messages = lines(300);
        let mut c = Compressor::new(15, 8, 6, false);
        let mut d = Decompressor::new(15, false);
        for (i, line) in messages.iter().enumerate() {
            let packed = c.compress(line).unwrap();
            if i % 2 == 0 {
                assert_eq!(d.release(), i > 0, "allocated from the first message on");
            }
            assert_eq!(inflate_all(&mut d, &[&packed]).unwrap(), *line, "message {i}");
        }
        // A large message, then one that repeats its end: the history holds
        // the last window whole, across chunks.
        let big: Vec<u8> = messages.iter().cycle().take(2000).flatten().copied().collect();
        let packed = c.compress(&big).unwrap();
        let mut out = Inflated::default();
        for frame in packed.chunks(1000) {
            d.inflate(frame, &mut out, 1 << 24, None).unwrap();
            assert!(!d.release(), "never inside a message");
        }
        d.finish(&mut out, 1 << 24, None).unwrap();
        assert_eq!(out.into_bytes(), big);
        assert!(d.release());
        assert_eq!(d.retained(), 1 << 15);
        let tail = &big[big.len() - 20_000..];
        assert_eq!(inflate_all(&mut d, &[&c.compress(tail).unwrap()]).unwrap(), tail);
    }

    #[test]
    fn without_context_takeover_nothing_is_retained() {
        let mut c = Compressor::new(12, 5, 6, true);
        let mut d = Decompressor::new(12, true);
        for line in lines(5) {
            let packed = c.compress(&line).unwrap();
            assert_eq!(inflate_all(&mut d, &[&packed]).unwrap(), line);
        }
        assert!(c.release() && d.release());
        assert_eq!((c.uses(), d.uses()), (5, 5));
        assert_eq!((c.retained(), d.retained()), (0, 0));
    }

    #[test]
    fn the_history_keeps_the_last_window() {
        let mut h = History::new(8);
        h.record(b"abc");
        h.record(b"defgh");
        assert_eq!(h.contiguous(), b"abcdefgh");
        h.record(b"ij");
        assert_eq!(h.contiguous(), b"cdefghij");
        h.record(b"0123456789");
        assert_eq!(h.contiguous(), b"23456789");
        h.record(b"x");
        h.record(b"yz");
        h.record_chunks(&[b"ab".to_vec(), b"c".to_vec()], 3);
        assert_eq!(h.contiguous(), b"89xyzabc");
        h.record_chunks(&[b"abcd".to_vec(), b"efghijk".to_vec()], 11);
        assert_eq!(h.contiguous(), b"defghijk");
        assert_eq!(h.bytes.capacity(), 8);
    }

    #[test]
    fn the_limit_is_checked_after_every_step() {
        let zeros = vec![0u8; 4 << 20];
        let packed = Compressor::new(15, 8, 9, false).compress(&zeros).unwrap();
        let mut d = Decompressor::new(15, false);
        let mut out = Inflated::default();
        let limit = 1 << 20;
        let err = d.inflate(&packed, &mut out, limit, None).unwrap_err();
        assert!(matches!(err, ProtocolError::MessageTooLarge { max, .. } if max == limit));
        assert!(out.len() <= limit + INFLATE_STEP, "{}", out.len());
        assert!(out.capacity <= limit + INFLATE_STEP, "{}", out.capacity);
        let sizes: Vec<usize> = out.chunks.iter().map(Vec::capacity).collect();
        assert_eq!(sizes.iter().sum::<usize>(), out.capacity, "chunks never grow: {sizes:?}");
    }
}
