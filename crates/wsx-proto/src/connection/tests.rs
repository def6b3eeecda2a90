//! Unit tests of the connection that need its internals: the close-code
//! table over every `ProtocolError` variant (an exhaustive match, so a new
//! variant does not compile until it is listed here), the single pending
//! Pong, and the buffers released on close. Scenarios over bytes live in
//! `tests/connection.rs`.

use bytes::Bytes;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;

fn endpoint(role: Role) -> Connection {
    Connection::new(Negotiated::new(role), Config::default(), Box::new(StdRng::seed_from_u64(1)))
}

/// A masked client frame with a zero key (so the payload is sent as is).
fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    wsx_test_support::frame(b0, Some([0; 4]), payload)
}

/// The table of RFC 6455 §7.4.1 codes, one row per variant.
fn table() -> Vec<(ProtocolError, u16)> {
    vec![
        (ProtocolError::ReservedBits { rsv1: true, rsv2: false, rsv3: false }, 1002),
        (ProtocolError::ReservedOpcode(0xB), 1002),
        (ProtocolError::FragmentedControlFrame, 1002),
        (ProtocolError::ControlFrameTooLong(126), 1002),
        (ProtocolError::UnmaskedFrame, 1002),
        (ProtocolError::MaskedFrame, 1002),
        (ProtocolError::PayloadLengthMsbSet, 1002),
        (ProtocolError::UnexpectedContinuation, 1002),
        (ProtocolError::ExpectedContinuation, 1002),
        (ProtocolError::InvalidUtf8, 1007),
        (ProtocolError::CloseFrameOneByte, 1002),
        (ProtocolError::InvalidCloseCode(1005), 1002),
        (ProtocolError::InvalidCloseReason, 1007),
        (ProtocolError::FrameTooLarge { len: 2, max: 1 }, 1009),
        (ProtocolError::MessageTooLarge { len: 2, max: 1 }, 1009),
        (ProtocolError::TooManyFragments { max: 1 }, 1008),
        (ProtocolError::CompressedControlFrame, 1002),
        (ProtocolError::CompressedContinuation, 1002),
        (ProtocolError::InvalidCompressedData, 1007),
    ]
}

/// The position of a variant in [`table`]. No wildcard arm: adding a
/// variant breaks the build here until the table has a row for it.
fn row(error: &ProtocolError) -> usize {
    match error {
        ProtocolError::ReservedBits { .. } => 0,
        ProtocolError::ReservedOpcode(_) => 1,
        ProtocolError::FragmentedControlFrame => 2,
        ProtocolError::ControlFrameTooLong(_) => 3,
        ProtocolError::UnmaskedFrame => 4,
        ProtocolError::MaskedFrame => 5,
        ProtocolError::PayloadLengthMsbSet => 6,
        ProtocolError::UnexpectedContinuation => 7,
        ProtocolError::ExpectedContinuation => 8,
        ProtocolError::InvalidUtf8 => 9,
        ProtocolError::CloseFrameOneByte => 10,
        ProtocolError::InvalidCloseCode(_) => 11,
        ProtocolError::InvalidCloseReason => 12,
        ProtocolError::FrameTooLarge { .. } => 13,
        ProtocolError::MessageTooLarge { .. } => 14,
        ProtocolError::TooManyFragments { .. } => 15,
        ProtocolError::CompressedControlFrame => 16,
        ProtocolError::CompressedContinuation => 17,
        ProtocolError::InvalidCompressedData => 18,
    }
}

#[test]
fn close_code_table_covers_every_variant() {
    let table = table();
    for (i, (error, code)) in table.iter().enumerate() {
        assert_eq!(row(error), i, "{error:?} is listed once, in order");
        assert_eq!(error.close_code(), CloseCode::from(*code), "{error:?}");
        assert!(error.close_code().is_sendable(), "{error:?}: a code we may send");
        let reason = error.close_reason();
        assert!(!reason.is_empty() && reason.len() <= CloseFrame::MAX_REASON_LEN && reason.is_ascii(), "{error:?}");
        // The reason fits a Close frame, so `fail` can always build one.
        assert!(CloseFrame::new(error.close_code(), reason).is_ok());
    }
    assert_eq!(table.len(), 19);
}

#[test]
fn at_most_one_pong_is_pending_and_the_newest_wins() {
    let mut conn = endpoint(Role::Server);
    conn.receive(&client_frame(0x89, b"first"));
    conn.receive(&client_frame(0x89, b"second!"));
    assert!(matches!(conn.poll_event(), Some(Event::Message(Message::Ping(_)))));
    assert_eq!(conn.tx.pending_pong, Some(Bytes::from_static(b"first")));
    assert!(matches!(conn.poll_event(), Some(Event::Message(Message::Ping(_)))));
    assert_eq!(conn.tx.pending_pong, Some(Bytes::from_static(b"second!")));
    // Counted in the buffered amount (bounded by the longest header).
    assert_eq!(conn.buffered_amount(), 7 + 14);
    assert_eq!(conn.poll_transmit(), Some(Transmit::Bytes(Bytes::from_static(b"\x8a\x07second!"))));
    assert_eq!(conn.tx.pending_pong, None);
    assert_eq!(conn.poll_transmit(), None);
}

#[test]
fn the_pong_waits_while_a_frame_is_half_taken() {
    let mut conn = endpoint(Role::Server);
    conn.send_binary(vec![0u8; 5000]).expect("open");
    assert!(matches!(conn.poll_transmit(), Some(Transmit::Bytes(head)) if head.len() == 4));
    assert_eq!(conn.buffered_amount(), 5000, "the payload chunk is still queued");
    conn.receive(&client_frame(0x89, b"p"));
    conn.poll_event();
    assert!(matches!(conn.poll_transmit(), Some(Transmit::Bytes(payload)) if payload.len() == 5000));
    assert!(conn.tx.pending_pong.is_some(), "the pong waited for the frame boundary");
    assert_eq!(conn.poll_transmit(), Some(Transmit::Bytes(Bytes::from_static(b"\x8a\x01p"))));
}

#[test]
fn closing_releases_the_receive_buffer_and_stops_input() {
    let mut conn = endpoint(Role::Server);
    conn.receive(&[client_frame(0x88, b""), client_frame(0x81, b"after close")].concat());
    assert!(matches!(conn.poll_event(), Some(Event::Message(Message::Close(None)))));
    assert_eq!(conn.rx.buf.capacity(), 0, "the bytes after the Close are dropped");
    assert!(matches!(conn.poll_event(), Some(Event::Closed(_))));
    conn.receive(b"ignored");
    assert!(conn.rx.buf.is_empty());
    assert_eq!(conn.poll_event(), None);
}

#[test]
fn an_idle_receive_buffer_shrinks_after_a_large_message() {
    let mut conn = endpoint(Role::Client);
    let mut frame = vec![0x82, 0x7F, 0, 0, 0, 0, 0, 0x04, 0, 0];
    frame.resize(frame.len() + (256 << 10), 7);
    conn.receive(&frame);
    assert!(matches!(conn.poll_event(), Some(Event::Message(Message::Binary(b))) if b.len() == 256 << 10));
    assert_eq!(conn.poll_event(), None);
    assert!(conn.rx.buf.capacity() <= 64 * 1024, "{}", conn.rx.buf.capacity());
}

#[test]
fn eof_is_only_acted_on_once_the_buffered_input_is_parsed() {
    let mut conn = endpoint(Role::Client);
    conn.receive(b"\x81\x02hi");
    conn.receive_eof();
    assert!(conn.rx.eof);
    assert_eq!(conn.poll_event(), Some(Event::Message(Message::text("hi"))));
    assert!(matches!(conn.poll_event(), Some(Event::Closed(o)) if o.code() == CloseCode::ABNORMAL_CLOSURE));
}
