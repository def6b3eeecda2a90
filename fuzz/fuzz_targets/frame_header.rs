//! RFC 6455 §5.2: the frame header decoder on arbitrary bytes. It asks for
//! more only while the header is incomplete, refuses only reserved opcodes
//! and 64-bit lengths with the top bit set, and what it decodes re-encodes
//! to a header that decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsx_proto::ProtocolError;
use wsx_proto::frame::FrameHeader;

fuzz_target!(|data: &[u8]| {
    match FrameHeader::decode(data) {
        Ok(None) => assert!(data.len() < FrameHeader::MAX_LEN, "{} bytes are enough for any header", data.len()),
        Ok(Some((header, len))) => {
            assert!((2..=FrameHeader::MAX_LEN).contains(&len) && len <= data.len());
            assert!(header.payload_len >> 63 == 0);
            assert_eq!(header.mask.is_some(), data[1] & 0x80 != 0);
            // Every prefix of the header asks for more.
            for end in 0..len {
                assert_eq!(FrameHeader::decode(&data[..end]), Ok(None), "prefix {end} of {len}");
            }
            let mut out = [0; FrameHeader::MAX_LEN];
            let n = header.encode(&mut out);
            assert!(n <= len, "minimal encoding is never longer");
            assert_eq!(FrameHeader::decode(&out[..n]), Ok(Some((header, n))));
        }
        Err(ProtocolError::ReservedOpcode(op)) => assert!(matches!(op, 3..=7 | 0xB..=0xF)),
        Err(ProtocolError::PayloadLengthMsbSet) => assert!(data[1] & 0x7F == 127 && data[2] & 0x80 != 0),
        Err(other) => panic!("undocumented header error {other:?}"),
    }
});
