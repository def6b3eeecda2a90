//! Shared oracles of the fuzz targets (RFC 6455 §5–§7): drive a
//! [`Connection`] with arbitrary bytes, decode everything it sends with a
//! peer of the other role, and check the invariants a hostile peer must never
//! break — no panic, only the documented close codes, every message within
//! the limits, a connection that always ends `Closed`.

pub mod h2;

use bytes::Bytes;
use wsx_proto::{CloseCode, CloseOutcome, Config, Connection, Event, Message, Negotiated, Role, State, Transmit};

/// The codes with which we fail a connection (`ProtocolError::close_code`):
/// protocol error, invalid payload, policy violation, message too big.
pub const FAIL_CODES: [u16; 4] = [1002, 1007, 1008, 1009];

/// Limits small enough that the fuzzer reaches them.
pub fn small_config() -> Config {
    Config::default().max_message_size(64 * 1024).max_fragments(16)
}

/// A deterministic RNG: masking keys do not need entropy under a fuzzer.
pub fn rng() -> Box<dyn rand::RngCore + Send> {
    Box::new(<rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7))
}

/// Splits `data` into chunks whose sizes follow `seed` (1 to 64 bytes, and
/// sometimes everything at once), as reads from a socket would.
pub fn chunks(seed: u8, data: &[u8]) -> Vec<&[u8]> {
    if seed & 0x80 != 0 {
        return vec![data];
    }
    let mut state = u32::from(seed) | 1;
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let size = ((state >> 16) as usize % 64 + 1).min(rest.len());
        let (head, tail) = rest.split_at(size);
        out.push(head);
        rest = tail;
    }
    out
}

/// Checks how a connection driven only by its peer's bytes ended.
pub fn check_outcome(outcome: &CloseOutcome) {
    if let Some(error) = &outcome.error {
        let code = error.close_code();
        assert!(FAIL_CODES.contains(&code.as_u16()), "{error:?} fails with {code}");
        // We never closed on our own, so the Close we sent is the failure's.
        if let Some(Some(sent)) = &outcome.sent {
            assert!(sent.code == code || outcome.received.is_some(), "sent {sent:?} for {error:?}");
        }
    }
    if let Some(Some(received)) = &outcome.received {
        assert!(received.code.is_sendable(), "accepted a Close with code {}", received.code);
    }
}

/// Drives `conn` with `input` (split into reads by its first byte), echoing
/// data messages when `echo`, then ends the transport. Everything `conn`
/// sends goes to `observer`, a peer of the other role that must accept it
/// without a protocol error. Returns the messages `conn` delivered.
pub fn drive(conn: &mut Connection, observer: &mut Connection, input: &[u8], echo: bool) -> Vec<Message> {
    let Some((&seed, data)) = input.split_first() else {
        return Vec::new();
    };
    let max_message = conn.config().get_max_message_size();
    let mut delivered = Vec::new();
    let mut closed = false;
    let mut step = |conn: &mut Connection, observer: &mut Connection, delivered: &mut Vec<Message>| loop {
        forward(conn, observer);
        match conn.poll_event() {
            Some(Event::Message(message)) => {
                assert!(!closed, "event after Closed");
                assert!(message.len() <= max_message, "message of {} bytes over the limit", message.len());
                if let Message::Text(text) = &message {
                    // `as_str` trusts the validation done on receipt.
                    assert_eq!(std::str::from_utf8(text.as_bytes()).ok(), Some(text.as_str()), "text not UTF-8");
                }
                if matches!(message, Message::Ping(_) | Message::Pong(_) | Message::Close(_)) {
                    assert!(message.len() <= 125, "control payload of {} bytes", message.len());
                }
                if echo && conn.is_open() && (message.is_text() || message.is_binary()) {
                    conn.send(message.clone()).expect("an open connection sends");
                }
                delivered.push(message);
            }
            Some(Event::Closed(outcome)) => {
                assert!(!closed, "two Closed events");
                check_outcome(&outcome);
                closed = true;
            }
            None => break,
        }
    };
    for chunk in chunks(seed, data) {
        conn.receive(chunk);
        step(conn, observer, &mut delivered);
        assert!(conn.read_hint() <= 128 * 1024, "read hint {}", conn.read_hint());
    }
    conn.receive_eof();
    step(conn, observer, &mut delivered);
    forward(conn, observer);
    assert!(matches!(conn.state(), State::Closed(_)), "not closed at end of stream: {:?}", conn.state());
    check_observer(observer);
    delivered
}

/// Moves what `conn` wants written into `observer`.
fn forward(conn: &mut Connection, observer: &mut Connection) {
    while let Some(transmit) = conn.poll_transmit() {
        match transmit {
            Transmit::Bytes(bytes) => observer.receive(&bytes),
            Transmit::Shutdown => observer.receive_eof(),
        }
    }
}

/// The observer saw only well-formed frames, and any Close it got carries a
/// code we may send.
fn check_observer(observer: &mut Connection) {
    while let Some(event) = observer.poll_event() {
        match event {
            Event::Message(Message::Close(Some(frame))) => {
                let code = frame.code.as_u16();
                assert!(FAIL_CODES.contains(&code) || CloseCode::from(code).is_sendable(), "we sent close code {code}");
            }
            Event::Closed(outcome) => {
                assert_eq!(outcome.error, None, "our output is not valid WebSocket: {outcome:?}");
            }
            Event::Message(_) => {}
        }
        while observer.poll_transmit().is_some() {}
    }
}

/// A connection of `role` with [`small_config`], and its observer.
pub fn pair(role: Role) -> (Connection, Connection) {
    let other = match role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    };
    let conn = Connection::new(Negotiated::new(role), small_config(), rng());
    // The observer accepts anything `conn` may legitimately send.
    let observer = Connection::new(Negotiated::new(other), Config::default().max_fragments(usize::MAX), rng());
    (conn, observer)
}

/// Bytes as a `Bytes`, for payload comparisons.
pub fn bytes(data: &[u8]) -> Bytes {
    Bytes::copy_from_slice(data)
}
