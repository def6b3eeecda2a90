//! QPACK field sections (RFC 9204 §4.5) without a dynamic table: we
//! announce `SETTINGS_QPACK_MAX_TABLE_CAPACITY = 0` and
//! `SETTINGS_QPACK_BLOCKED_STREAMS = 0`, so a peer may use only the static
//! table and literals, and we encode with nothing else.
//!
//! Contract: [`decode`] takes a whole encoded field section (the payload of
//! one HEADERS frame) and returns its field lines in order, or a
//! [`QpackError`] — any reference to the dynamic table, a truncated or
//! overlong integer or string, bad Huffman, or a section larger than the
//! caller's limit (counted as RFC 9114 §4.2.2 does: name + value + 32 per
//! line, checked before each string is copied). It never panics and never
//! allocates more than the limit. [`encode`] writes a section with indexed
//! static entries and literals (no Huffman).

mod huffman;
mod static_table;

use bytes::BufMut;

/// The Huffman decoder, for the fuzz target.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_huffman(input: &[u8], max_len: usize, out: &mut Vec<u8>) -> bool {
    huffman::decode(input, max_len, out).is_ok()
}

/// One field line: name and value, as octets.
pub(crate) type FieldLine = (Vec<u8>, Vec<u8>);

/// RFC 9114 §4.2.2: "the size of each field line is the sum of the length
/// of the name and value in bytes plus an overhead of 32 bytes".
pub(crate) const LINE_OVERHEAD: usize = 32;

/// Why a field section was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QpackError {
    /// It ends inside a representation.
    Truncated,
    /// An integer larger than 2^62 (RFC 9204 §4.1.1: beyond what an
    /// implementation must handle), or an index past the static table.
    BadInteger,
    /// A reference to the dynamic table, which we said has capacity 0
    /// (RFC 9204 §3.2.3, §4.5.1.1: QPACK_DECOMPRESSION_FAILED).
    DynamicReference,
    /// A Huffman-coded string that does not decode.
    Huffman,
    /// The decoded section is larger than the limit.
    TooLarge,
}

/// Reads an integer with an `n`-bit prefix (RFC 7541 §5.1, as RFC 9204
/// §4.1.1 uses it) from `buf` at `*pos`.
fn decode_int(buf: &[u8], pos: &mut usize, n: u32) -> Result<u64, QpackError> {
    let mask = ((1u16 << n) - 1) as u8;
    let first = *buf.get(*pos).ok_or(QpackError::Truncated)?;
    *pos += 1;
    let mut value = u64::from(first & mask);
    if value < u64::from(mask) {
        return Ok(value);
    }
    let mut shift = 0u32;
    loop {
        let byte = *buf.get(*pos).ok_or(QpackError::Truncated)?;
        *pos += 1;
        // 2^62 needs at most nine 7-bit groups; a longer run is an
        // overflow attempt (or padding with 0x80s), refused either way.
        if shift > 56 {
            return Err(QpackError::BadInteger);
        }
        value += u64::from(byte & 0x7f) << shift;
        if value > super::varint::MAX {
            return Err(QpackError::BadInteger);
        }
        shift += 7;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
}

/// Reads a string literal whose length has an `n`-bit prefix and whose
/// Huffman flag is the bit just above it, appending it to `out` within
/// `budget` octets (which it reduces).
fn decode_string(buf: &[u8], pos: &mut usize, n: u32, budget: &mut usize, out: &mut Vec<u8>) -> Result<(), QpackError> {
    let huffman = buf.get(*pos).ok_or(QpackError::Truncated)? & (1 << n) != 0;
    let len = decode_int(buf, pos, n)?;
    let len = usize::try_from(len).map_err(|_| QpackError::BadInteger)?;
    let end = pos.checked_add(len).ok_or(QpackError::Truncated)?;
    let bytes = buf.get(*pos..end).ok_or(QpackError::Truncated)?;
    *pos = end;
    if huffman {
        let before = out.len();
        huffman::decode(bytes, before + *budget, out).map_err(|error| match error {
            huffman::HuffmanError::TooLong => QpackError::TooLarge,
            _ => QpackError::Huffman,
        })?;
        *budget -= out.len() - before;
    } else {
        if bytes.len() > *budget {
            return Err(QpackError::TooLarge);
        }
        *budget -= bytes.len();
        out.extend_from_slice(bytes);
    }
    Ok(())
}

/// A static table entry by index.
fn static_entry(index: u64) -> Result<(&'static [u8], &'static [u8]), QpackError> {
    usize::try_from(index).ok().and_then(|i| static_table::STATIC.get(i)).copied().ok_or(QpackError::BadInteger)
}

/// Decodes a whole field section, refusing one whose size (RFC 9114 §4.2.2)
/// exceeds `max_size`.
pub(crate) fn decode(buf: &[u8], max_size: usize) -> Result<Vec<FieldLine>, QpackError> {
    let mut pos = 0;
    // RFC 9204 §4.5.1: the prefix is the Required Insert Count (8-bit
    // prefix) and the Base (sign bit and 7-bit prefix). §4.5.1.1: "If the
    // decoder encounters a value of Required Insert Count that it could not
    // have produced, it MUST treat this as a connection error of type
    // QPACK_DECOMPRESSION_FAILED": with no dynamic table, only 0.
    if decode_int(buf, &mut pos, 8)? != 0 {
        return Err(QpackError::DynamicReference);
    }
    // The Base means nothing without a dynamic table, but must be there.
    decode_int(buf, &mut pos, 7)?;
    let mut budget = max_size;
    let mut lines = Vec::new();
    while pos < buf.len() {
        // Every line costs its overhead, so a flood of empty lines is
        // bounded by the limit too.
        budget = budget.checked_sub(LINE_OVERHEAD).ok_or(QpackError::TooLarge)?;
        let first = buf[pos];
        let line = if first & 0x80 != 0 {
            // §4.5.2 Indexed Field Line: 1 T index(6+).
            if first & 0x40 == 0 {
                return Err(QpackError::DynamicReference);
            }
            let (name, value) = static_entry(decode_int(buf, &mut pos, 6)?)?;
            take(&mut budget, name.len() + value.len())?;
            (name.to_vec(), value.to_vec())
        } else if first & 0x40 != 0 {
            // §4.5.4 Literal Field Line with Name Reference: 01 N T index(4+).
            if first & 0x10 == 0 {
                return Err(QpackError::DynamicReference);
            }
            let (name, _) = static_entry(decode_int(buf, &mut pos, 4)?)?;
            take(&mut budget, name.len())?;
            let mut value = Vec::new();
            decode_string(buf, &mut pos, 7, &mut budget, &mut value)?;
            (name.to_vec(), value)
        } else if first & 0x20 != 0 {
            // §4.5.6 Literal Field Line with Literal Name: 001 N H len(3+).
            let mut name = Vec::new();
            decode_string(buf, &mut pos, 3, &mut budget, &mut name)?;
            let mut value = Vec::new();
            decode_string(buf, &mut pos, 7, &mut budget, &mut value)?;
            (name, value)
        } else {
            // §4.5.3 and §4.5.5: the post-base forms index the dynamic table.
            return Err(QpackError::DynamicReference);
        };
        lines.push(line);
    }
    Ok(lines)
}

fn take(budget: &mut usize, n: usize) -> Result<(), QpackError> {
    *budget = budget.checked_sub(n).ok_or(QpackError::TooLarge)?;
    Ok(())
}

/// Appends an integer with an `n`-bit prefix whose high bits are `flags`.
fn encode_int(flags: u8, n: u32, value: u64, out: &mut impl BufMut) {
    let mask = ((1u16 << n) - 1) as u8;
    if value < u64::from(mask) {
        out.put_u8(flags | value as u8);
        return;
    }
    out.put_u8(flags | mask);
    let mut rest = value - u64::from(mask);
    while rest >= 0x80 {
        out.put_u8((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    out.put_u8(rest as u8);
}

/// Appends a field section for `lines` (names in lowercase, as HTTP/3
/// requires): an entry of the static table where one matches whole, its
/// name with a literal value where only the name does, literals otherwise.
pub(crate) fn encode<'a>(lines: impl IntoIterator<Item = (&'a [u8], &'a [u8])>, out: &mut impl BufMut) {
    // Required Insert Count 0, Base 0.
    out.put_u8(0);
    out.put_u8(0);
    for (name, value) in lines {
        match static_table::find(name, value) {
            Some((index, true)) => encode_int(0xc0, 6, index as u64, out),
            Some((index, false)) => {
                encode_int(0x50, 4, index as u64, out);
                encode_int(0x00, 7, value.len() as u64, out);
                out.put_slice(value);
            }
            None => {
                encode_int(0x20, 3, name.len() as u64, out);
                out.put_slice(name);
                encode_int(0x00, 7, value.len() as u64, out);
                out.put_slice(value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(fields: &[(&str, &str)]) -> Vec<FieldLine> {
        fields.iter().map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec())).collect()
    }

    /// RFC 9204 Appendix B.1: a literal field line with a static name
    /// reference, `:path=/index.html`.
    #[test]
    fn rfc_9204_b1() {
        let section = [0x00, 0x00, 0x51, 0x0b, b'/', b'i', b'n', b'd', b'e', b'x', b'.', b'h', b't', b'm', b'l'];
        assert_eq!(decode(&section, 1024), Ok(lines(&[(":path", "/index.html")])));
        let mut out = Vec::new();
        encode([(&b":path"[..], &b"/index.html"[..])], &mut out);
        assert_eq!(out, section);
    }

    #[test]
    fn extended_connect_round_trips() {
        let request = lines(&[
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "https"),
            (":authority", "example.com:443"),
            (":path", "/chat?room=1"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-extensions", "permessage-deflate; client_max_window_bits"),
            ("origin", "https://example.com"),
        ]);
        let mut out = Vec::new();
        encode(request.iter().map(|(n, v)| (&n[..], &v[..])), &mut out);
        // :method CONNECT is static entry 15, indexed: 0xc0 | 15.
        assert_eq!(out[2], 0xcf);
        assert_eq!(decode(&out, 4096), Ok(request));
    }

    #[test]
    fn huffman_strings_and_long_integers() {
        let mut section = vec![0x00, 0x00];
        // user-agent (95) with a Huffman value: 0101 index 95 = 0x5f, 95 - 15 = 80.
        section.extend_from_slice(&[0x5f, 80]);
        let mut coded = Vec::new();
        huffman::encode(b"wsx test agent", &mut coded);
        section.push(0x80 | coded.len() as u8);
        section.extend_from_slice(&coded);
        // A literal name, Huffman on both: 001 N=0 H=1 len.
        let mut name = Vec::new();
        huffman::encode(b"x-custom", &mut name);
        section.push(0x28 | name.len() as u8);
        section.extend_from_slice(&name);
        section.push(0x80 | coded.len() as u8);
        section.extend_from_slice(&coded);
        assert_eq!(
            decode(&section, 4096),
            Ok(lines(&[("user-agent", "wsx test agent"), ("x-custom", "wsx test agent")]))
        );
    }

    #[test]
    fn malformed_sections_are_typed() {
        // Empty: no prefix.
        assert_eq!(decode(&[], 100), Err(QpackError::Truncated));
        assert_eq!(decode(&[0x00], 100), Err(QpackError::Truncated));
        // A Required Insert Count other than 0.
        assert_eq!(decode(&[0x02, 0x00], 100), Err(QpackError::DynamicReference));
        // Dynamic indexed, dynamic name reference, post-base forms.
        assert_eq!(decode(&[0x00, 0x00, 0x80], 100), Err(QpackError::DynamicReference));
        assert_eq!(decode(&[0x00, 0x00, 0x40, 0x00], 100), Err(QpackError::DynamicReference));
        assert_eq!(decode(&[0x00, 0x00, 0x10], 100), Err(QpackError::DynamicReference));
        assert_eq!(decode(&[0x00, 0x00, 0x00, 0x00], 100), Err(QpackError::DynamicReference));
        // A static index past the table (99).
        assert_eq!(decode(&[0x00, 0x00, 0xff, 0x24], 100), Err(QpackError::BadInteger));
        // An integer that never ends, and one past 2^62.
        assert_eq!(decode(&[0x00, 0x00, 0xff, 0x80, 0x80], 100), Err(QpackError::Truncated));
        let overlong = [0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
        assert_eq!(decode(&overlong, 100), Err(QpackError::BadInteger));
        // A string longer than what is left.
        assert_eq!(decode(&[0x00, 0x00, 0x51, 0x05, b'/'], 100), Err(QpackError::Truncated));
        // Huffman with bad padding.
        assert_eq!(decode(&[0x00, 0x00, 0x51, 0x81, 0x00], 100), Err(QpackError::Huffman));
        // A literal value longer than the limit, announced but absent: the
        // truncation is found before anything is copied.
        assert_eq!(decode(&[0x00, 0x00, 0x51, 0x7f, 0xff, 0xff, 0x03], 100), Err(QpackError::Truncated));
    }

    #[test]
    fn the_size_limit_counts_every_line() {
        let mut section = Vec::new();
        encode([(&b":path"[..], &b"/"[..])], &mut section);
        // :path (5) + / (1) + 32.
        assert_eq!(decode(&section, 38).map(|l| l.len()), Ok(1));
        assert_eq!(decode(&section, 37), Err(QpackError::TooLarge));
        // Ten thousand indexed lines in 10 KB: refused by their overhead.
        let mut flood = vec![0x00, 0x00];
        flood.extend(std::iter::repeat_n(0xc1, 10_000));
        assert_eq!(decode(&flood, 16 * 1024), Err(QpackError::TooLarge));
    }
}
