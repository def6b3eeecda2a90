//! RFC 9114 §7 and RFC 9204 §4.5: the HTTP/3 decoders of the wsx server
//! and client on arbitrary bytes — frame headers in sequence, SETTINGS and
//! GOAWAY payloads, QPACK field sections (static table, literals,
//! Huffman) and the requests and responses built from them, and the
//! Huffman decoder alone. The first byte picks the decoder. Each may
//! refuse its input only with its typed error; nothing may panic, the
//! field section size limit must hold, and whatever is accepted must come
//! back the same through our encoder (`wsx::__fuzz_http3_decode` asserts
//! it).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wsx::__fuzz_http3_decode(data);
});
