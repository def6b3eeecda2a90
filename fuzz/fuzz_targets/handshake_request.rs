//! RFC 6455 §4.2.1: the request head parser and the server's checks on
//! arbitrary bytes. Every refusal is 400, 426 or 431; a parsed head never
//! exceeds the limits; a valid offer always yields a 101 whose
//! `Sec-WebSocket-Accept` matches the key (§4.2.2).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsx_proto::handshake::{
    HandshakeLimits, accept_key, accept_response, error_response, parse_request, validate_request,
};

fn check_refusal(error: &wsx_proto::handshake::HandshakeError) {
    let status = error.http_status().as_u16();
    assert!(matches!(status, 400 | 426 | 431), "{error:?} answered with {status}");
    let (response, _body) = error_response(error);
    assert_eq!(response.status().as_u16(), status);
    if status == 426 {
        assert_eq!(response.headers()["sec-websocket-version"], "13");
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = HandshakeLimits::default().max_head_bytes(4096).max_headers(32);
    match parse_request(data, &limits) {
        Ok(None) => assert!(data.len() < limits.get_max_head_bytes()),
        Ok(Some((request, consumed))) => {
            assert!(consumed <= data.len() && consumed <= limits.get_max_head_bytes());
            assert!(request.headers().len() <= limits.get_max_headers());
            match validate_request(&request) {
                Ok(offer) => {
                    let response = accept_response(&offer, None).expect("a valid offer is accepted");
                    assert_eq!(response.status(), 101);
                    let key = offer.key.as_ref().expect("an HTTP/1.1 upgrade has a key");
                    let expected = accept_key(key.as_bytes());
                    assert_eq!(response.headers()["sec-websocket-accept"], expected.as_str());
                    if let Some(first) = offer.subprotocols.first() {
                        assert!(accept_response(&offer, Some(first)).is_ok());
                    }
                    assert!(accept_response(&offer, Some("never-offered\u{1}")).is_err());
                }
                Err(error) => check_refusal(&error),
            }
        }
        Err(error) => check_refusal(&error),
    }
});
