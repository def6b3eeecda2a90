//! RFC 6455 §4.1: the response head parser and the client's checks on
//! arbitrary bytes, for a fixed request (key `AQIDBAUGBwgJCgsMDQ4PEA==`,
//! subprotocols `chat` and `superchat`, extension `x-test`). Only the
//! documented errors occur, and an accepted response names only what was
//! offered.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsx_proto::handshake::{ClientHandshake, ClientRequest, HandshakeError, HandshakeLimits, parse_response};
use wsx_test_support::CounterRng;

fn handshake() -> ClientHandshake {
    let uri = "ws://example.com/chat".parse().expect("valid URI");
    ClientRequest::new(uri)
        .subprotocols(["chat", "superchat"])
        .extension("x-test")
        .into_handshake(&mut CounterRng(1))
        .expect("valid request")
}

fuzz_target!(|data: &[u8]| {
    let limits = HandshakeLimits::default().max_head_bytes(4096).max_headers(32);
    let handshake = handshake();
    assert_eq!(handshake.key().map(|key| key.as_bytes()), Some(&b"AQIDBAUGBwgJCgsMDQ4PEA=="[..]));
    match parse_response(data, &limits) {
        Ok(None) => assert!(data.len() < limits.get_max_head_bytes()),
        Ok(Some((response, consumed))) => {
            assert!(consumed <= data.len() && consumed <= limits.get_max_head_bytes());
            match handshake.validate_response(&response) {
                Ok(accepted) => {
                    assert_eq!(response.status(), 101);
                    if let Some(protocol) = &accepted.subprotocol {
                        assert!(handshake.offered_subprotocols().contains(protocol));
                    }
                    for extension in &accepted.extensions {
                        let name = extension.split(';').next().unwrap_or("").trim();
                        assert!(
                            handshake.offered_extensions().iter().any(|n| n.eq_ignore_ascii_case(name)),
                            "{extension}"
                        );
                    }
                }
                Err(error) => assert!(
                    matches!(
                        error,
                        HandshakeError::UnexpectedStatus { .. }
                            | HandshakeError::ResponseUpgradeNotWebSocket
                            | HandshakeError::ResponseConnectionNotUpgrade
                            | HandshakeError::MissingAccept
                            | HandshakeError::AcceptMismatch
                            | HandshakeError::UnexpectedSubprotocol { .. }
                            | HandshakeError::MultipleSubprotocols
                            | HandshakeError::UnexpectedExtension { .. }
                            | HandshakeError::InvalidHeaderValue { .. }
                    ),
                    "undocumented response error {error:?}"
                ),
            }
        }
        Err(error) => assert!(
            matches!(
                error,
                HandshakeError::HeadTooLarge { .. }
                    | HandshakeError::TooManyHeaders { .. }
                    | HandshakeError::MalformedHead { .. }
                    | HandshakeError::InvalidHeaderName
                    | HandshakeError::InvalidHeaderValue { .. }
            ),
            "undocumented parse error {error:?}"
        ),
    }
});
