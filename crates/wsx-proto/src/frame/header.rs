//! Frame header encoding and decoding (RFC 6455 §5.2).

use crate::error::ProtocolError;

/// A frame opcode (RFC 6455 §5.2, §11.8). Reserved opcodes are refused at
/// decode time, so every value of this type is one RFC 6455 defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: connection close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// The 4-bit wire value.
    pub const fn as_u8(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Decodes a 4-bit value; reserved values are a protocol error (§5.2:
    /// "If an unknown opcode is received, the receiving endpoint MUST _Fail
    /// the WebSocket Connection_").
    pub const fn from_u8(value: u8) -> Result<Self, ProtocolError> {
        Ok(match value {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            other => return Err(ProtocolError::ReservedOpcode(other)),
        })
    }

    /// Close, Ping and Pong (opcodes with the high bit set, §5.5).
    pub const fn is_control(self) -> bool {
        self.as_u8() & 0x8 != 0
    }
}

/// A decoded frame header.
///
/// ```
/// use wsx_proto::frame::{FrameHeader, OpCode};
/// // RFC 6455 §5.7: a single-frame unmasked text message "Hello".
/// let bytes = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
/// let (header, len) = FrameHeader::decode(&bytes)?.unwrap();
/// assert_eq!((header.fin, header.opcode, header.payload_len, len), (true, OpCode::Text, 5, 2));
/// # Ok::<(), wsx_proto::ProtocolError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The final fragment of a message.
    pub fin: bool,
    /// Reserved bit 1 (used by extensions such as permessage-deflate).
    pub rsv1: bool,
    /// Reserved bit 2.
    pub rsv2: bool,
    /// Reserved bit 3.
    pub rsv3: bool,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present on every client-to-server frame.
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes.
    pub payload_len: u64,
}

impl FrameHeader {
    /// The longest header: 2 + 8 (64-bit length) + 4 (masking key).
    pub const MAX_LEN: usize = 14;

    /// Decodes a header from the start of `buf`. `Ok(None)` means more bytes
    /// are needed; `Ok(Some((header, n)))` means the header took `n` bytes.
    /// Only what the header alone can violate is checked here (reserved
    /// opcodes, the 64-bit length's top bit); rules that depend on the role,
    /// extensions or limits are the connection's.
    pub fn decode(buf: &[u8]) -> Result<Option<(Self, usize)>, ProtocolError> {
        let [b0, b1, ..] = *buf else {
            return Ok(None);
        };
        let opcode = OpCode::from_u8(b0 & 0x0F)?;
        let masked = b1 & 0x80 != 0;
        let (payload_len, mut pos) = match b1 & 0x7F {
            126 => match buf.get(2..4) {
                Some(&[a, b]) => (u64::from(u16::from_be_bytes([a, b])), 4),
                _ => return Ok(None),
            },
            127 => match buf.get(2..10).and_then(|s| <[u8; 8]>::try_from(s).ok()) {
                Some(bytes) => {
                    let len = u64::from_be_bytes(bytes);
                    // RFC 6455 §5.2: "the most significant bit MUST be 0".
                    if len >> 63 != 0 {
                        return Err(ProtocolError::PayloadLengthMsbSet);
                    }
                    (len, 10)
                }
                None => return Ok(None),
            },
            short => (u64::from(short), 2),
        };
        let mask = if masked {
            match buf.get(pos..pos + 4).and_then(|s| <[u8; 4]>::try_from(s).ok()) {
                Some(key) => {
                    pos += 4;
                    Some(key)
                }
                None => return Ok(None),
            }
        } else {
            None
        };
        let header = Self {
            fin: b0 & 0x80 != 0,
            rsv1: b0 & 0x40 != 0,
            rsv2: b0 & 0x20 != 0,
            rsv3: b0 & 0x10 != 0,
            opcode,
            mask,
            payload_len,
        };
        Ok(Some((header, pos)))
    }

    /// Encodes the header into `out`, returning the number of bytes written.
    /// The length uses the minimal encoding (§5.2: "the minimal number of
    /// bytes MUST be used to encode the length").
    pub fn encode(&self, out: &mut [u8; Self::MAX_LEN]) -> usize {
        out[0] = u8::from(self.fin) << 7
            | u8::from(self.rsv1) << 6
            | u8::from(self.rsv2) << 5
            | u8::from(self.rsv3) << 4
            | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut pos = match self.payload_len {
            len @ 0..=125 => {
                out[1] = mask_bit | len as u8;
                2
            }
            len @ 126..=0xFFFF => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                4
            }
            len => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&len.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            out[pos..pos + 4].copy_from_slice(&key);
            pos += 4;
        }
        pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(opcode: OpCode, len: u64, mask: Option<[u8; 4]>) -> FrameHeader {
        FrameHeader { fin: true, rsv1: false, rsv2: false, rsv3: false, opcode, mask, payload_len: len }
    }

    #[test]
    fn rfc_5_7_examples() {
        // A single-frame masked text message "Hello".
        let masked = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d];
        let (h, n) = FrameHeader::decode(&masked).unwrap().unwrap();
        assert_eq!(h, header(OpCode::Text, 5, Some([0x37, 0xfa, 0x21, 0x3d])));
        assert_eq!(n, 6);
        // Fragmented unmasked text: "Hel" then "lo".
        let (h, _) = FrameHeader::decode(&[0x01, 0x03]).unwrap().unwrap();
        assert!(!h.fin && h.opcode == OpCode::Text && h.payload_len == 3);
        let (h, _) = FrameHeader::decode(&[0x80, 0x02]).unwrap().unwrap();
        assert!(h.fin && h.opcode == OpCode::Continuation);
        // Unmasked ping "Hello" and masked pong "Hello".
        let (h, _) = FrameHeader::decode(&[0x89, 0x05]).unwrap().unwrap();
        assert_eq!(h, header(OpCode::Ping, 5, None));
        let (h, _) = FrameHeader::decode(&[0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d]).unwrap().unwrap();
        assert_eq!(h, header(OpCode::Pong, 5, Some([0x37, 0xfa, 0x21, 0x3d])));
        // 256 bytes binary in a single unmasked frame; 64 KiB likewise.
        let (h, n) = FrameHeader::decode(&[0x82, 0x7E, 0x01, 0x00]).unwrap().unwrap();
        assert_eq!((h.payload_len, n), (256, 4));
        let (h, n) = FrameHeader::decode(&[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]).unwrap().unwrap();
        assert_eq!((h.payload_len, n), (65536, 10));
    }

    #[test]
    fn encode_matches_rfc_bytes() {
        let mut out = [0; 14];
        let n = header(OpCode::Binary, 65536, None).encode(&mut out);
        assert_eq!(&out[..n], &[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
        let n = header(OpCode::Text, 5, Some([0x37, 0xfa, 0x21, 0x3d])).encode(&mut out);
        assert_eq!(&out[..n], &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d]);
        let n = header(OpCode::Binary, 126, None).encode(&mut out);
        assert_eq!(&out[..n], &[0x82, 0x7E, 0x00, 0x7E]);
    }

    #[test]
    fn partial_headers_ask_for_more() {
        let full = [0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4];
        for end in 0..full.len() {
            assert_eq!(FrameHeader::decode(&full[..end]), Ok(None), "prefix {end}");
        }
        assert!(FrameHeader::decode(&full).unwrap().is_some());
    }

    #[test]
    fn length_with_top_bit_and_reserved_opcodes_are_refused() {
        let bad = [0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(FrameHeader::decode(&bad), Err(ProtocolError::PayloadLengthMsbSet));
        for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            assert_eq!(FrameHeader::decode(&[0x80 | op, 0]), Err(ProtocolError::ReservedOpcode(op)));
        }
    }

    proptest::proptest! {
        #[test]
        fn encode_decode_round_trip(fin: bool, rsv1: bool, rsv2: bool, rsv3: bool, op in 0usize..6, len in 0u64..(1 << 63), mask: Option<[u8; 4]>) {
            let opcode = [OpCode::Continuation, OpCode::Text, OpCode::Binary, OpCode::Close, OpCode::Ping, OpCode::Pong][op];
            let h = FrameHeader { fin, rsv1, rsv2, rsv3, opcode, mask, payload_len: len };
            let mut out = [0; 14];
            let n = h.encode(&mut out);
            proptest::prop_assert_eq!(FrameHeader::decode(&out[..n]), Ok(Some((h, n))));
        }
    }
}
