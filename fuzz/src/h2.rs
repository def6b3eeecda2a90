//! HTTP/2 client frames (RFC 9113 §4, §6) built from fuzzer bytes by a
//! small byte code, so that every input is a connection the server parses
//! past its preface, and the seeds can be written by hand
//! (`fuzz/gen_h2_seeds.py`).
//!
//! The program is a sequence of operations; each starts with a byte whose
//! value modulo 8 picks it, and takes the bytes it needs after it (missing
//! bytes read as zero; the program ends with the input):
//!
//! | op | frame | operands |
//! |---|---|---|
//! | 0 | HEADERS, an extended CONNECT (RFC 8441 §4) | stream, variant bits (below) |
//! | 1 | DATA carrying client WebSocket frames | stream, END_STREAM (bit 0), count (0–3), then per frame: first byte (FIN, RSV1, opcode as on the wire), length (0–63), payload |
//! | 2 | any frame | type, flags, stream, length (0–255), payload |
//! | 3 | RST_STREAM | stream, error code |
//! | 4 | WINDOW_UPDATE | stream, increment (4 bytes, big-endian) |
//! | 5 | SETTINGS | count (0–3), then per setting: identifier (2 bytes), value (4 bytes) |
//! | 6 | PING | ACK (bit 0), 8 bytes of data |
//! | 7 | CONTINUATION | stream, flags, length (0–63), payload |
//!
//! CONNECT variant bits: 0x01 END_STREAM; 0x02 method GET; 0x04 no
//! `:protocol`; 0x08 `:protocol` other than `websocket`; 0x10 no `:path`;
//! 0x20 `Sec-WebSocket-Version: 12`; 0x40 offer permessage-deflate; 0x80
//! path `/other` (refused by the handler) and no END_HEADERS (a
//! CONTINUATION must follow).

/// RFC 9113 §3.4: the client connection preface.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Frame types (RFC 9113 §6).
pub mod kind {
    /// DATA.
    pub const DATA: u8 = 0x0;
    /// HEADERS.
    pub const HEADERS: u8 = 0x1;
    /// RST_STREAM.
    pub const RST_STREAM: u8 = 0x3;
    /// SETTINGS.
    pub const SETTINGS: u8 = 0x4;
    /// PING.
    pub const PING: u8 = 0x6;
    /// WINDOW_UPDATE.
    pub const WINDOW_UPDATE: u8 = 0x8;
    /// CONTINUATION.
    pub const CONTINUATION: u8 = 0x9;
}

/// One frame's header as read back: its type and its whole length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// The frame type.
    pub kind: u8,
    /// Header and payload, in bytes.
    pub len: usize,
}

impl Frame {
    /// The frame at the start of `bytes`, if it is whole.
    pub fn parse(bytes: &[u8]) -> Option<Frame> {
        let head = bytes.get(..9)?;
        let payload = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        (bytes.len() >= 9 + payload).then_some(Frame { kind: head[3], len: 9 + payload })
    }
}

/// Appends one frame.
pub fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let len = payload.len() as u32;
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
}

/// HPACK (RFC 7541 §6.2.2): a literal field without indexing, new name,
/// no Huffman coding. Names and values here are under 127 bytes.
fn literal(block: &mut Vec<u8>, name: &str, value: &str) {
    block.push(0x00);
    block.push(name.len() as u8);
    block.extend_from_slice(name.as_bytes());
    block.push(value.len() as u8);
    block.extend_from_slice(value.as_bytes());
}

/// The header block of an extended CONNECT, altered by `variant`.
pub fn connect_block(variant: u8) -> Vec<u8> {
    let mut block = Vec::new();
    literal(&mut block, ":method", if variant & 0x02 != 0 { "GET" } else { "CONNECT" });
    if variant & 0x04 == 0 {
        literal(&mut block, ":protocol", if variant & 0x08 != 0 { "webtransport" } else { "websocket" });
    }
    literal(&mut block, ":scheme", "http");
    if variant & 0x10 == 0 {
        literal(&mut block, ":path", if variant & 0x80 != 0 { "/other" } else { "/echo" });
    }
    literal(&mut block, ":authority", "localhost");
    literal(&mut block, "sec-websocket-version", if variant & 0x20 != 0 { "12" } else { "13" });
    if variant & 0x40 != 0 {
        literal(&mut block, "sec-websocket-extensions", "permessage-deflate; client_max_window_bits");
    }
    block
}

/// Reads operand bytes, zero past the end.
struct Operands<'a> {
    data: &'a [u8],
}

impl Operands<'_> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&first, rest)) => {
                self.data = rest;
                first
            }
            None => 0,
        }
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
}

/// The client's bytes for `program`: the preface, an empty SETTINGS, then
/// one frame (or a few WebSocket frames in one DATA frame) per operation.
pub fn encode_program(program: &[u8]) -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    frame(&mut out, kind::SETTINGS, 0, 0, &[]);
    let mut ops = Operands { data: program };
    while !ops.data.is_empty() {
        match ops.byte() % 8 {
            0 => {
                let stream = u32::from(ops.byte());
                let variant = ops.byte();
                // END_HEADERS (0x4) unless bit 0x80 asks for a CONTINUATION.
                let flags = (variant & 0x01) | if variant & 0x80 != 0 { 0 } else { 0x04 };
                frame(&mut out, kind::HEADERS, flags, stream, &connect_block(variant));
            }
            1 => {
                let stream = u32::from(ops.byte());
                let end = ops.byte() & 0x01;
                let count = ops.byte() % 4;
                let mut payload = Vec::new();
                for _ in 0..count {
                    let first = ops.byte();
                    let len = ops.byte() % 64;
                    // Masked with a zero key: the payload goes as it is.
                    payload.extend_from_slice(&[first, 0x80 | len, 0, 0, 0, 0]);
                    payload.extend(ops.bytes(usize::from(len)));
                }
                frame(&mut out, kind::DATA, end, stream, &payload);
            }
            2 => {
                let (kind, flags, stream, len) = (ops.byte(), ops.byte(), ops.byte(), ops.byte());
                let payload = ops.bytes(usize::from(len));
                frame(&mut out, kind, flags, u32::from(stream), &payload);
            }
            3 => {
                let (stream, code) = (ops.byte(), ops.byte());
                frame(&mut out, kind::RST_STREAM, 0, u32::from(stream), &u32::from(code).to_be_bytes());
            }
            4 => {
                let stream = ops.byte();
                let increment = ops.bytes(4);
                frame(&mut out, kind::WINDOW_UPDATE, 0, u32::from(stream), &increment);
            }
            5 => {
                let count = ops.byte() % 4;
                let payload = ops.bytes(6 * usize::from(count));
                frame(&mut out, kind::SETTINGS, 0, 0, &payload);
            }
            6 => {
                let ack = ops.byte() & 0x01;
                let payload = ops.bytes(8);
                frame(&mut out, kind::PING, ack, 0, &payload);
            }
            _ => {
                let (stream, flags, len) = (ops.byte(), ops.byte(), ops.byte() % 64);
                let payload = ops.bytes(usize::from(len));
                frame(&mut out, kind::CONTINUATION, flags, u32::from(stream), &payload);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_then_a_text_frame() {
        let out = encode_program(&[0, 1, 0x00, 1, 1, 0, 1, 0x81, 2, b'h', b'i']);
        let mut rest = &out[PREFACE.len()..];
        let mut kinds = Vec::new();
        while let Some(frame) = Frame::parse(rest) {
            kinds.push(frame.kind);
            rest = &rest[frame.len..];
        }
        assert!(rest.is_empty());
        assert_eq!(kinds, [kind::SETTINGS, kind::HEADERS, kind::DATA]);
        assert!(out.ends_with(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i']));
    }
}
