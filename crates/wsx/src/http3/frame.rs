//! HTTP/3 frames (RFC 9114 §7): the header every frame starts with, the
//! frame types and where each may appear, and the payloads of SETTINGS and
//! GOAWAY, the only control frames this implementation reads.
//!
//! Contract: pure functions on byte slices. [`decode_header`] reads a frame
//! header or says it needs more bytes; [`Settings::decode`] and
//! [`decode_goaway`] take a whole payload and return a typed [`H3Error`]
//! for anything RFC 9114 calls an error, never a panic. Sizes are checked
//! by the callers against their limits before a payload is buffered.

use bytes::BufMut;

use super::error::{ErrorCode, H3Error};
use super::varint;

/// Frame type codes (RFC 9114 §7.2, §11.2.1).
pub(crate) mod kind {
    /// DATA (§7.2.1).
    pub(crate) const DATA: u64 = 0x00;
    /// HEADERS (§7.2.2).
    pub(crate) const HEADERS: u64 = 0x01;
    /// CANCEL_PUSH (§7.2.3).
    pub(crate) const CANCEL_PUSH: u64 = 0x03;
    /// SETTINGS (§7.2.4).
    pub(crate) const SETTINGS: u64 = 0x04;
    /// PUSH_PROMISE (§7.2.5).
    pub(crate) const PUSH_PROMISE: u64 = 0x05;
    /// GOAWAY (§7.2.6).
    pub(crate) const GOAWAY: u64 = 0x07;
    /// MAX_PUSH_ID (§7.2.7).
    pub(crate) const MAX_PUSH_ID: u64 = 0x0d;
}

/// Unidirectional stream types (RFC 9114 §6.2, RFC 9204 §4.2).
pub(crate) mod stream_type {
    /// The control stream.
    pub(crate) const CONTROL: u64 = 0x00;
    /// A push stream (server to client).
    pub(crate) const PUSH: u64 = 0x01;
    /// The QPACK encoder stream.
    pub(crate) const QPACK_ENCODER: u64 = 0x02;
    /// The QPACK decoder stream.
    pub(crate) const QPACK_DECODER: u64 = 0x03;
}

/// Setting identifiers (RFC 9114 §7.2.4.1, RFC 9204 §5, RFC 9220 §3).
pub(crate) mod setting {
    /// SETTINGS_QPACK_MAX_TABLE_CAPACITY.
    pub(crate) const QPACK_MAX_TABLE_CAPACITY: u64 = 0x01;
    /// SETTINGS_MAX_FIELD_SECTION_SIZE.
    pub(crate) const MAX_FIELD_SECTION_SIZE: u64 = 0x06;
    /// SETTINGS_QPACK_BLOCKED_STREAMS.
    pub(crate) const QPACK_BLOCKED_STREAMS: u64 = 0x07;
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3, used by RFC 9220 §3).
    pub(crate) const ENABLE_CONNECT_PROTOCOL: u64 = 0x08;
}

/// What a frame type is, as far as where it may appear goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameKind {
    Data,
    Headers,
    Settings,
    Goaway,
    /// CANCEL_PUSH and MAX_PUSH_ID: control stream only; we never push.
    PushControl,
    /// PUSH_PROMISE: server to client on a request stream only.
    PushPromise,
    /// HTTP/2 frame types with no HTTP/3 meaning (RFC 9114 §7.2.8: "MUST
    /// be treated as a connection error of type H3_FRAME_UNEXPECTED").
    Http2Only,
    /// Anything else, the reserved (grease) types included: RFC 9114 §9:
    /// "Implementations MUST discard frames ... that have unknown or
    /// unsupported types."
    Unknown,
}

impl FrameKind {
    pub(crate) fn of(kind: u64) -> Self {
        match kind {
            kind::DATA => Self::Data,
            kind::HEADERS => Self::Headers,
            kind::SETTINGS => Self::Settings,
            kind::GOAWAY => Self::Goaway,
            kind::CANCEL_PUSH | kind::MAX_PUSH_ID => Self::PushControl,
            kind::PUSH_PROMISE => Self::PushPromise,
            0x02 | 0x06 | 0x08 | 0x09 => Self::Http2Only,
            _ => Self::Unknown,
        }
    }
}

/// A frame header: its type and the length of its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    pub(crate) kind: u64,
    pub(crate) len: u64,
}

/// The longest frame header: two 8-byte integers.
pub(crate) const MAX_HEADER_LEN: usize = 16;

/// The frame header at the front of `buf` and its length in bytes, or
/// `None` while `buf` holds only part of it.
pub(crate) fn decode_header(buf: &[u8]) -> Option<(FrameHeader, usize)> {
    let (kind, type_len) = varint::decode(buf)?;
    let (len, len_len) = varint::decode(&buf[type_len..])?;
    Some((FrameHeader { kind, len }, type_len + len_len))
}

/// How many bytes the frame header at the front of `buf` takes in all,
/// once enough of it is there to say; `None` while it cannot be told yet.
pub(crate) fn header_len(buf: &[u8]) -> Option<usize> {
    let type_len = varint::encoded_len(*buf.first()?);
    let len_len = varint::encoded_len(*buf.get(type_len)?);
    Some(type_len + len_len)
}

/// Appends a frame header.
pub(crate) fn encode_header(kind: u64, len: u64, out: &mut impl BufMut) {
    varint::encode(kind, out);
    varint::encode(len, out);
}

/// Appends a whole frame.
pub(crate) fn encode_frame(kind: u64, payload: &[u8], out: &mut impl BufMut) {
    encode_header(kind, payload.len() as u64, out);
    out.put_slice(payload);
}

/// A SETTINGS frame's parameters, as far as this implementation uses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Settings {
    /// SETTINGS_MAX_FIELD_SECTION_SIZE; unlimited when absent.
    pub(crate) max_field_section_size: Option<u64>,
    /// SETTINGS_QPACK_MAX_TABLE_CAPACITY (default 0).
    pub(crate) qpack_max_table_capacity: u64,
    /// SETTINGS_QPACK_BLOCKED_STREAMS (default 0).
    pub(crate) qpack_blocked_streams: u64,
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL = 1.
    pub(crate) enable_connect_protocol: bool,
}

impl Settings {
    /// Parses a SETTINGS payload.
    pub(crate) fn decode(mut payload: &[u8]) -> Result<Self, H3Error> {
        let mut settings = Self::default();
        // Identifiers seen, to refuse duplicates without allocating: the
        // ones we know are tracked; an unknown one repeated is harmless
        // and, with the frame's size bounded, costs nothing to skip.
        let mut seen = 0u8;
        while !payload.is_empty() {
            let truncated = || H3Error::connection(ErrorCode::FRAME_ERROR, "SETTINGS payload ends inside a parameter");
            let (id, used) = varint::decode(payload).ok_or_else(truncated)?;
            payload = &payload[used..];
            let (value, used) = varint::decode(payload).ok_or_else(truncated)?;
            payload = &payload[used..];
            let bit = match id {
                setting::QPACK_MAX_TABLE_CAPACITY => 1,
                setting::MAX_FIELD_SECTION_SIZE => 2,
                setting::QPACK_BLOCKED_STREAMS => 4,
                setting::ENABLE_CONNECT_PROTOCOL => 8,
                // RFC 9114 §7.2.4.1: "Setting identifiers that were defined
                // in [HTTP/2] where there is no corresponding HTTP/3 setting
                // have also been reserved ... Their receipt MUST be treated
                // as a connection error of type H3_SETTINGS_ERROR."
                0x00 | 0x02..=0x05 => {
                    return Err(H3Error::connection(ErrorCode::SETTINGS_ERROR, "HTTP/2 setting in HTTP/3 SETTINGS"));
                }
                // RFC 9114 §7.2.4: "An implementation MUST ignore any
                // parameter with an identifier it does not understand."
                _ => continue,
            };
            // RFC 9114 §7.2.4: "The same setting identifier MUST NOT occur
            // more than once in the SETTINGS frame."
            if seen & bit != 0 {
                return Err(H3Error::connection(ErrorCode::SETTINGS_ERROR, "a setting repeated in SETTINGS"));
            }
            seen |= bit;
            match id {
                setting::QPACK_MAX_TABLE_CAPACITY => settings.qpack_max_table_capacity = value,
                setting::MAX_FIELD_SECTION_SIZE => settings.max_field_section_size = Some(value),
                setting::QPACK_BLOCKED_STREAMS => settings.qpack_blocked_streams = value,
                _ => {
                    // RFC 8441 §3 (for HTTP/3 by RFC 9220 §3): the value
                    // "MUST be 0 or 1".
                    settings.enable_connect_protocol = match value {
                        0 => false,
                        1 => true,
                        _ => {
                            return Err(H3Error::connection(
                                ErrorCode::SETTINGS_ERROR,
                                "SETTINGS_ENABLE_CONNECT_PROTOCOL neither 0 nor 1",
                            ));
                        }
                    };
                }
            }
        }
        Ok(settings)
    }

    /// Appends a whole SETTINGS frame announcing these settings.
    pub(crate) fn encode_frame(&self, out: &mut impl BufMut) {
        let mut payload = Vec::with_capacity(32);
        let mut put = |id: u64, value: u64| {
            varint::encode(id, &mut payload);
            varint::encode(value, &mut payload);
        };
        put(setting::QPACK_MAX_TABLE_CAPACITY, self.qpack_max_table_capacity);
        put(setting::QPACK_BLOCKED_STREAMS, self.qpack_blocked_streams);
        if let Some(size) = self.max_field_section_size {
            put(setting::MAX_FIELD_SECTION_SIZE, size);
        }
        if self.enable_connect_protocol {
            put(setting::ENABLE_CONNECT_PROTOCOL, 1);
        }
        encode_frame(kind::SETTINGS, &payload, out);
    }
}

/// The stream (or push) identifier of a GOAWAY payload.
pub(crate) fn decode_goaway(payload: &[u8]) -> Result<u64, H3Error> {
    match varint::decode(payload) {
        Some((id, used)) if used == payload.len() => Ok(id),
        // RFC 9114 §7.1: a payload that "contains additional bytes after the
        // identified fields or ... terminates before the end of the
        // identified fields MUST be treated as a connection error of type
        // H3_FRAME_ERROR".
        _ => Err(H3Error::connection(ErrorCode::FRAME_ERROR, "GOAWAY payload is not one integer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_need_both_integers() {
        assert_eq!(decode_header(&[]), None);
        assert_eq!(decode_header(&[0x01]), None);
        assert_eq!(decode_header(&[0x01, 0x40]), None);
        assert_eq!(decode_header(&[0x01, 0x40, 0x80]), Some((FrameHeader { kind: 1, len: 0x80 }, 3)));
        assert_eq!(header_len(&[0x41]), None);
        assert_eq!(header_len(&[0x41, 0x00, 0x80]), Some(6));
        // A reserved (grease) type: 0x1f * N + 0x21 (§7.2.8).
        assert_eq!(FrameKind::of(0x1f * 7 + 0x21), FrameKind::Unknown);
        assert_eq!(FrameKind::of(0x08), FrameKind::Http2Only);
    }

    #[test]
    fn settings_round_trip() {
        let ours = Settings {
            max_field_section_size: Some(16 * 1024),
            qpack_max_table_capacity: 0,
            qpack_blocked_streams: 0,
            enable_connect_protocol: true,
        };
        let mut frame = Vec::new();
        ours.encode_frame(&mut frame);
        let (header, used) = decode_header(&frame).expect("a whole header");
        assert_eq!(header.kind, kind::SETTINGS);
        assert_eq!(Settings::decode(&frame[used..]), Ok(ours));
    }

    #[test]
    fn settings_errors_are_typed() {
        let code = |payload: &[u8]| Settings::decode(payload).map_err(|e| e.code);
        // Truncated in a value, and in an identifier.
        assert_eq!(code(&[0x06]), Err(ErrorCode::FRAME_ERROR));
        assert_eq!(code(&[0x06, 0x44]), Err(ErrorCode::FRAME_ERROR));
        // Duplicates, HTTP/2 identifiers, a bad ENABLE_CONNECT_PROTOCOL.
        assert_eq!(code(&[0x06, 0x01, 0x06, 0x02]), Err(ErrorCode::SETTINGS_ERROR));
        assert_eq!(code(&[0x02, 0x00]), Err(ErrorCode::SETTINGS_ERROR));
        assert_eq!(code(&[0x08, 0x02]), Err(ErrorCode::SETTINGS_ERROR));
        // Unknown and reserved identifiers are ignored, even repeated.
        assert_eq!(code(&[0x21, 0x05, 0x21, 0x07, 0x08, 0x01]).map(|s| s.enable_connect_protocol), Ok(true));
        assert_eq!(code(&[]), Ok(Settings::default()));
    }

    #[test]
    fn goaway_is_one_integer() {
        assert_eq!(decode_goaway(&[0x04]), Ok(4));
        assert_eq!(decode_goaway(&[0x40, 0x10]), Ok(16));
        assert!(decode_goaway(&[]).is_err());
        assert!(decode_goaway(&[0x40]).is_err());
        assert!(decode_goaway(&[0x04, 0x00]).is_err());
    }
}
