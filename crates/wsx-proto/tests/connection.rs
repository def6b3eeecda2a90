//! Scenario tests of the connection state machine, over bytes (RFC 6455 §5–§7):
//! the §5.7 example frames verbatim, every peer error provoked through the
//! wire, the closing rules, fragmentation and its limits, UTF-8 fail-fast,
//! ping/pong and masking. Endpoints are in-memory client↔server pairs;
//! hostile input is built by hand with [`frame`].

#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use wsx_proto::connection::MessageKind;
use wsx_proto::frame::{FrameHeader, OpCode};
use wsx_proto::{
    CloseCode, CloseFrame, CloseOutcome, Config, Connection, Event, Message, Negotiated, ProtocolError, Role,
    SendError, State, Transmit,
};
use wsx_test_support::{KEY, frame, header, unmask};

/// An RNG that yields the same masking key every time, so client frames can
/// be compared byte for byte.
struct FixedKey([u8; 4]);

impl RngCore for FixedKey {
    fn next_u32(&mut self) -> u32 {
        u32::from_ne_bytes(self.0)
    }
    fn next_u64(&mut self) -> u64 {
        u64::from(self.next_u32()) << 32 | u64::from(self.next_u32())
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for (i, byte) in dst.iter_mut().enumerate() {
            *byte = self.0[i & 3];
        }
    }
}

fn endpoint(role: Role, config: Config) -> Connection {
    Connection::new(Negotiated::new(role), config, Box::new(StdRng::seed_from_u64(0x5eed)))
}

fn server() -> Connection {
    endpoint(Role::Server, Config::default())
}

fn client() -> Connection {
    endpoint(Role::Client, Config::default())
}

/// A client whose masking key is always [`KEY`].
fn fixed_client(config: Config) -> Connection {
    Connection::new(Negotiated::new(Role::Client), config, Box::new(FixedKey(KEY)))
}

/// A masked frame, as a client sends it.
fn c2s(b0: u8, payload: &[u8]) -> Vec<u8> {
    frame(b0, Some(KEY), payload)
}

/// An unmasked frame, as a server sends it.
fn s2c(b0: u8, payload: &[u8]) -> Vec<u8> {
    frame(b0, None, payload)
}

/// A valid frame from the peer of `conn` (a Ping "again").
fn valid_ping_for(conn: &Connection) -> Vec<u8> {
    match conn.role() {
        Role::Server => c2s(0x89, b"again"),
        Role::Client => s2c(0x89, b"again"),
    }
}

fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    [&code.to_be_bytes()[..], reason.as_bytes()].concat()
}

fn transmits(conn: &mut Connection) -> Vec<Transmit> {
    std::iter::from_fn(|| conn.poll_transmit()).collect()
}

fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

/// Everything `conn` wants written, concatenated, and whether a Shutdown
/// came (checked to be the last thing).
fn output(conn: &mut Connection) -> (Vec<u8>, bool) {
    let mut bytes = Vec::new();
    let mut shutdown = false;
    for transmit in transmits(conn) {
        assert!(!shutdown, "{transmit:?} after Shutdown");
        match transmit {
            Transmit::Bytes(chunk) => bytes.extend_from_slice(&chunk),
            Transmit::Shutdown => shutdown = true,
        }
    }
    (bytes, shutdown)
}

/// A frame of our own output, decoded and unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wire {
    fin: bool,
    opcode: OpCode,
    masked: bool,
    payload: Vec<u8>,
}

fn wire(fin: bool, opcode: OpCode, masked: bool, payload: &[u8]) -> Wire {
    Wire { fin, opcode, masked, payload: payload.to_vec() }
}

/// Splits bytes into frames; panics on anything but whole, RSV-free frames.
fn parse_frames(mut bytes: &[u8]) -> Vec<Wire> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        let (h, n) = FrameHeader::decode(bytes).unwrap().expect("a whole header");
        assert!(!h.rsv1 && !h.rsv2 && !h.rsv3, "RSV bits in our own output");
        let end = n + usize::try_from(h.payload_len).unwrap();
        let mut payload = bytes[n..end].to_vec();
        if let Some(key) = h.mask {
            unmask(&mut payload, key);
        }
        frames.push(Wire { fin: h.fin, opcode: h.opcode, masked: h.mask.is_some(), payload });
        bytes = &bytes[end..];
    }
    frames
}

/// Moves every transmit of `from` into `to`; returns the events of `to`
/// and whether `from` asked for a Shutdown.
fn pump(from: &mut Connection, to: &mut Connection) -> (Vec<Event>, bool) {
    let (bytes, shutdown) = output(from);
    to.receive(&bytes);
    (events(to), shutdown)
}

fn close_frame(code: u16, reason: &str) -> CloseFrame {
    CloseFrame::new(CloseCode::from(code), reason).unwrap()
}

fn reason_for(code: u16) -> &'static str {
    match code {
        1002 => "protocol error",
        1007 => "invalid UTF-8",
        1008 => "policy violation",
        1009 => "message too big",
        other => panic!("no failure reason for {other}"),
    }
}

/// After the connection failed with `error`: the outcome, exactly one Close
/// frame with the table's code then a Shutdown on the wire, and deafness.
fn assert_failed(conn: &mut Connection, outcome: &CloseOutcome, error: &ProtocolError, code: u16) {
    assert_eq!(outcome.error.as_ref(), Some(error));
    assert_eq!(error.close_code(), CloseCode::from(code), "table code of {error:?}");
    assert_eq!(outcome.sent, Some(Some(close_frame(code, reason_for(code)))));
    assert_eq!(outcome.received, None);
    assert_eq!(outcome.code(), CloseCode::ABNORMAL_CLOSURE);
    assert!(!outcome.is_clean());
    assert_eq!(conn.state(), &State::Closed(Box::new(outcome.clone())));
    let (bytes, shutdown) = output(conn);
    let payload = close_payload(code, reason_for(code));
    match conn.role() {
        // Exact bytes: an unmasked Close with the code and the reason.
        Role::Server => assert_eq!(bytes, s2c(0x88, &payload), "close frame for {error:?}"),
        Role::Client => assert_eq!(parse_frames(&bytes), vec![wire(true, OpCode::Close, true, &payload)]),
    }
    assert!(shutdown, "Shutdown after the Close frame for {error:?}");
    // Further input is ignored; nothing more is sent.
    let again = valid_ping_for(conn);
    conn.receive(&again);
    assert_eq!(conn.poll_event(), None);
    assert_eq!(conn.poll_transmit(), None);
    assert_eq!(conn.send_text("late"), Err(SendError::Closed));
    assert_eq!(conn.state(), &State::Closed(Box::new(outcome.clone())));
}

/// Feeds `input` at once; the connection must fail with `error`. Returns
/// the events before `Closed`.
fn assert_fails(conn: &mut Connection, input: &[u8], error: ProtocolError, code: u16) -> Vec<Event> {
    conn.receive(input);
    let mut evs = events(conn);
    let Some(Event::Closed(outcome)) = evs.pop() else {
        panic!("expected Closed for {error:?}, got {evs:?}");
    };
    assert_failed(conn, &outcome, &error, code);
    evs
}

/// Feeds `input` one byte at a time, polling events after each; returns the
/// index of the byte after which the connection closed, and the outcome.
fn feed_bytewise(conn: &mut Connection, input: &[u8]) -> Option<(usize, CloseOutcome)> {
    for (i, byte) in input.iter().enumerate() {
        conn.receive(std::slice::from_ref(byte));
        while let Some(event) = conn.poll_event() {
            if let Event::Closed(outcome) = event {
                return Some((i, *outcome));
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------
// RFC 6455 §5.7 examples, verbatim.

#[test]
fn rfc_5_7_unmasked_hello_to_client() {
    let mut c = client();
    c.receive(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(events(&mut c), vec![Event::Message(Message::text("Hello"))]);
    assert_eq!(c.poll_transmit(), None);
    assert_eq!(c.state(), &State::Open);
}

#[test]
fn rfc_5_7_fragmented_hel_lo_to_client() {
    let mut c = client();
    c.receive(&[0x01, 0x03, 0x48, 0x65, 0x6c]);
    assert_eq!(c.poll_event(), None, "no message before the final fragment");
    c.receive(&[0x80, 0x02, 0x6c, 0x6f]);
    assert_eq!(events(&mut c), vec![Event::Message(Message::text("Hello"))]);
}

#[test]
fn rfc_5_7_ping_hello_gets_the_rfc_masked_pong() {
    let mut c = fixed_client(Config::default());
    c.receive(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(events(&mut c), vec![Event::Message(Message::Ping(Bytes::from_static(b"Hello")))]);
    // §5.7: "Unmasked Ping request and masked Ping response".
    let pong = [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    assert_eq!(output(&mut c), (pong.to_vec(), false));
}

#[test]
fn rfc_5_7_256_and_65536_byte_binary_to_client() {
    let mut c = client();
    let data: Vec<u8> = (0..65536u32).map(|i| (i * 7) as u8).collect();
    let mut bytes = vec![0x82, 0x7E, 0x01, 0x00];
    bytes.extend_from_slice(&data[..256]);
    bytes.extend_from_slice(&[0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]);
    bytes.extend_from_slice(&data);
    c.receive(&bytes);
    assert_eq!(
        events(&mut c),
        vec![Event::Message(Message::binary(data[..256].to_vec())), Event::Message(Message::binary(data.clone())),]
    );
}

#[test]
fn rfc_5_7_masked_frames_to_server() {
    let mut s = server();
    // A single-frame masked text message "Hello", and a masked Pong "Hello".
    s.receive(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    s.receive(&[0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    assert_eq!(
        events(&mut s),
        vec![Event::Message(Message::text("Hello")), Event::Message(Message::Pong(Bytes::from_static(b"Hello")))]
    );
    // A masked Ping "Hello" gets the RFC's unmasked Pong... as a Pong.
    s.receive(&c2s(0x89, b"Hello"));
    assert_eq!(events(&mut s), vec![Event::Message(Message::Ping(Bytes::from_static(b"Hello")))]);
    assert_eq!(output(&mut s), (vec![0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f], false));
    // Masked 256-byte and 64 KiB binary.
    let data: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
    s.receive(&c2s(0x82, &data[..256]));
    s.receive(&c2s(0x82, &data));
    assert_eq!(
        events(&mut s),
        vec![Event::Message(Message::binary(data[..256].to_vec())), Event::Message(Message::binary(data))]
    );
}

#[test]
fn rfc_5_7_our_own_frames_are_the_rfc_bytes() {
    let mut c = fixed_client(Config::default());
    c.send_text("Hello").unwrap();
    assert_eq!(output(&mut c).0, [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    let mut s = server();
    s.send_text("Hello").unwrap();
    assert_eq!(output(&mut s).0, [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    s.send_fragment(MessageKind::Text, "Hel", false).unwrap();
    s.send_fragment(MessageKind::Text, "lo", true).unwrap();
    assert_eq!(output(&mut s).0, [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f]);
    s.send_binary(vec![0u8; 256]).unwrap();
    assert_eq!(output(&mut s).0[..4], [0x82, 0x7E, 0x01, 0x00]);
    s.send_binary(vec![0u8; 65536]).unwrap();
    let (bytes, _) = output(&mut s);
    assert_eq!(bytes[..10], [0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]);
    assert_eq!(bytes.len(), 10 + 65536);
}

// ---------------------------------------------------------------------------
// Every ProtocolError, provoked through bytes.

struct Case {
    name: &'static str,
    role: Role,
    config: Config,
    input: Vec<u8>,
    error: ProtocolError,
    code: u16,
}

fn every_error_case() -> Vec<Case> {
    let small = Config::default().max_message_size(1024);
    let case = |name, role, config, input, error, code| Case { name, role, config, input, error, code };
    let s = Role::Server;
    let d = Config::default;
    vec![
        case(
            "rsv1",
            s,
            d(),
            c2s(0xC1, b"x"),
            ProtocolError::ReservedBits { rsv1: true, rsv2: false, rsv3: false },
            1002,
        ),
        case("opcode 3", s, d(), c2s(0x83, b"x"), ProtocolError::ReservedOpcode(0x3), 1002),
        case("fragmented ping", s, d(), c2s(0x09, b"p"), ProtocolError::FragmentedControlFrame, 1002),
        case("ping of 126", s, d(), c2s(0x89, &[b'p'; 126]), ProtocolError::ControlFrameTooLong(126), 1002),
        case("unmasked to server", s, d(), s2c(0x81, b"Hello"), ProtocolError::UnmaskedFrame, 1002),
        case("masked to client", Role::Client, d(), c2s(0x81, b"Hello"), ProtocolError::MaskedFrame, 1002),
        case(
            "length msb",
            s,
            d(),
            [&[0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1][..], &KEY].concat(),
            ProtocolError::PayloadLengthMsbSet,
            1002,
        ),
        case("lone continuation", s, d(), c2s(0x80, b"x"), ProtocolError::UnexpectedContinuation, 1002),
        case(
            "text inside fragmented",
            s,
            d(),
            [c2s(0x01, b"Hel"), c2s(0x81, b"lo")].concat(),
            ProtocolError::ExpectedContinuation,
            1002,
        ),
        case("invalid utf-8", s, d(), c2s(0x81, b"ok\xff"), ProtocolError::InvalidUtf8, 1007),
        case("close of 1 byte", s, d(), c2s(0x88, &[0x03]), ProtocolError::CloseFrameOneByte, 1002),
        case(
            "close code 1005",
            s,
            d(),
            c2s(0x88, &close_payload(1005, "")),
            ProtocolError::InvalidCloseCode(1005),
            1002,
        ),
        case("close reason", s, d(), c2s(0x88, b"\x03\xe8\xc3\x28"), ProtocolError::InvalidCloseReason, 1007),
        case(
            "frame too large",
            s,
            small.clone(),
            header(0x82, 1025, Some(KEY)),
            ProtocolError::FrameTooLarge { len: 1025, max: 1024 },
            1009,
        ),
        case(
            "message too large",
            s,
            small,
            [c2s(0x02, &[0; 1000]), header(0x80, 25, Some(KEY))].concat(),
            ProtocolError::MessageTooLarge { len: 1025, max: 1024 },
            1009,
        ),
        case(
            "too many fragments",
            s,
            d().max_fragments(2),
            [c2s(0x02, b"a"), c2s(0x00, b"b"), c2s(0x00, b"c")].concat(),
            ProtocolError::TooManyFragments { max: 2 },
            1008,
        ),
    ]
}

#[test]
fn every_protocol_error_fails_the_connection_with_its_close_code() {
    let cases = every_error_case();
    assert_eq!(cases.len(), 16, "one case per ProtocolError variant");
    for case in cases {
        eprintln!("case: {}", case.name);
        let mut conn = endpoint(case.role, case.config);
        let before = assert_fails(&mut conn, &case.input, case.error, case.code);
        assert_eq!(before, vec![], "{}: no event before Closed", case.name);
    }
}

#[test]
fn every_protocol_error_fails_the_same_when_fed_byte_by_byte() {
    for case in every_error_case() {
        eprintln!("case: {}", case.name);
        let mut conn = endpoint(case.role, case.config);
        let (at, outcome) = feed_bytewise(&mut conn, &case.input).expect("the connection fails");
        // These inputs end with their offending byte: no byte after it is needed
        // (the size limits fail on the header alone, before any payload).
        let ends_with_offence = matches!(
            case.error,
            ProtocolError::FrameTooLarge { .. }
                | ProtocolError::MessageTooLarge { .. }
                | ProtocolError::InvalidUtf8
                | ProtocolError::CloseFrameOneByte
                | ProtocolError::InvalidCloseCode(_)
                | ProtocolError::InvalidCloseReason
        );
        if ends_with_offence {
            assert_eq!(at, case.input.len() - 1, "{}", case.name);
        }
        assert_failed(&mut conn, &outcome, &case.error, case.code);
    }
}

#[test]
fn a_failing_client_masks_its_close_frame_and_shuts_down() {
    let mut c = client();
    let before = assert_fails(&mut c, &s2c(0x81, b"\xed\xa0\x80"), ProtocolError::InvalidUtf8, 1007);
    assert!(before.is_empty());
}

#[test]
fn events_before_the_error_are_delivered_first() {
    let mut s = server();
    let input = [c2s(0x81, b"first"), c2s(0x89, b"p"), c2s(0x83, b"")].concat();
    let before = assert_fails(&mut s, &input, ProtocolError::ReservedOpcode(3), 1002);
    assert_eq!(
        before,
        vec![Event::Message(Message::text("first")), Event::Message(Message::Ping(Bytes::from_static(b"p")))]
    );
}

#[test]
fn every_rsv_bit_is_refused() {
    for (b0, rsv) in [
        (0xC1, (true, false, false)),
        (0xA2, (false, true, false)),
        (0x91, (false, false, true)),
        (0xF9, (true, true, true)),
    ] {
        let error = ProtocolError::ReservedBits { rsv1: rsv.0, rsv2: rsv.1, rsv3: rsv.2 };
        assert_fails(&mut server(), &c2s(b0, b"x"), error.clone(), 1002);
        assert_fails(&mut client(), &s2c(b0, b"x"), error, 1002);
    }
}

#[test]
fn every_reserved_opcode_is_refused() {
    for op in [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        assert_fails(&mut server(), &c2s(0x80 | op, b""), ProtocolError::ReservedOpcode(op), 1002);
        assert_fails(&mut client(), &s2c(op, b"abc"), ProtocolError::ReservedOpcode(op), 1002);
    }
}

#[test]
fn control_frames_of_126_bytes_and_fragmented_controls_are_refused() {
    for op in [0x8, 0x9, 0xA] {
        // 126 bytes: refused at the header. 125 is the largest allowed.
        let mut s = server();
        assert_fails(&mut s, &header(0x80 | op, 126, Some(KEY)), ProtocolError::ControlFrameTooLong(126), 1002);
        assert_fails(&mut client(), &s2c(0x80 | op, &[1; 126]), ProtocolError::ControlFrameTooLong(126), 1002);
        assert_fails(&mut client(), &s2c(op, b""), ProtocolError::FragmentedControlFrame, 1002);
    }
    let mut s = server();
    s.receive(&c2s(0x89, &[7; 125]));
    assert_eq!(events(&mut s), vec![Event::Message(Message::Ping(Bytes::from(vec![7; 125])))]);
    assert_eq!(parse_frames(&output(&mut s).0), vec![wire(true, OpCode::Pong, false, &[7; 125])]);
}

// ---------------------------------------------------------------------------
// Closing (§5.5.1, §7).

#[test]
fn empty_close_payload_is_echoed_empty() {
    let mut s = server();
    s.receive(&c2s(0x88, b""));
    let evs = events(&mut s);
    assert_eq!(evs[0], Event::Message(Message::Close(None)));
    let Event::Closed(outcome) = &evs[1] else { panic!("{evs:?}") };
    assert_eq!(evs.len(), 2);
    assert!(outcome.is_clean());
    assert_eq!(outcome.code(), CloseCode::NO_STATUS_RECEIVED);
    assert_eq!((outcome.sent.clone(), outcome.received.clone()), (Some(None), Some(None)));
    assert_eq!(output(&mut s), (vec![0x88, 0x00], true));
}

#[test]
fn a_one_byte_close_payload_is_a_protocol_error() {
    assert_fails(&mut server(), &c2s(0x88, &[0x03]), ProtocolError::CloseFrameOneByte, 1002);
    assert_fails(&mut client(), &s2c(0x88, &[0xe8]), ProtocolError::CloseFrameOneByte, 1002);
}

#[test]
fn every_valid_close_code_is_accepted_and_echoed() {
    let codes = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
    for code in codes {
        let mut s = server();
        s.receive(&c2s(0x88, &close_payload(code, "bye")));
        let evs = events(&mut s);
        assert_eq!(evs[0], Event::Message(Message::Close(Some(close_frame(code, "bye")))), "{code}");
        let Event::Closed(outcome) = &evs[1] else { panic!("{evs:?}") };
        assert!(outcome.is_clean(), "{code}");
        assert_eq!(outcome.code(), CloseCode::from(code));
        assert_eq!(outcome.reason(), "bye");
        // The echo carries the code, not the reason; then the server shuts down.
        assert_eq!(output(&mut s), (s2c(0x88, &code.to_be_bytes()), true), "{code}");
        let mut c = client();
        c.receive(&s2c(0x88, &close_payload(code, "")));
        let evs = events(&mut c);
        assert!(matches!(&evs[..], [_, Event::Closed(o)] if o.is_clean()), "{code}");
        let (bytes, shutdown) = output(&mut c);
        assert_eq!(parse_frames(&bytes), vec![wire(true, OpCode::Close, true, &code.to_be_bytes())]);
        assert!(!shutdown, "a client does not shut down after echoing ({code})");
    }
}

#[test]
fn every_invalid_close_code_is_a_protocol_error() {
    for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
        assert_fails(&mut server(), &c2s(0x88, &close_payload(code, "")), ProtocolError::InvalidCloseCode(code), 1002);
        assert_fails(&mut client(), &s2c(0x88, &close_payload(code, "x")), ProtocolError::InvalidCloseCode(code), 1002);
        // Nor may we send them.
        assert_eq!(server().close_with(CloseCode::from(code), ""), Err(SendError::InvalidCloseCode(code)));
    }
}

#[test]
fn an_invalid_utf8_close_reason_is_1007() {
    let payload = [&close_payload(1000, "ok")[..], b"\xf0\x28\x8c\x28"].concat();
    assert_fails(&mut server(), &c2s(0x88, &payload), ProtocolError::InvalidCloseReason, 1007);
    assert_fails(&mut client(), &s2c(0x88, &payload), ProtocolError::InvalidCloseReason, 1007);
}

#[test]
fn server_initiated_close_handshake_is_clean_on_both_sides() {
    let (mut c, mut s) = (client(), server());
    s.close_with(CloseCode::NORMAL, "bye").unwrap();
    assert!(s.close_expected());
    assert_eq!(s.state(), &State::Closing(Some(close_frame(1000, "bye"))));
    let (evs, shutdown) = pump(&mut s, &mut c);
    assert!(!shutdown, "the server waits for the client's Close before shutting down");
    assert_eq!(evs[0], Event::Message(Message::Close(Some(close_frame(1000, "bye")))));
    assert!(
        matches!(&evs[1], Event::Closed(o) if o.is_clean() && o.code() == CloseCode::NORMAL && o.reason() == "bye")
    );
    assert!(matches!(c.state(), State::Closed(o) if o.is_clean()));
    // The client echoes and does not shut down; the server then does.
    let (evs, client_shutdown) = pump(&mut c, &mut s);
    assert!(!client_shutdown);
    assert_eq!(evs[0], Event::Message(Message::Close(Some(close_frame(1000, "")))));
    let Event::Closed(outcome) = &evs[1] else { panic!("{evs:?}") };
    assert!(outcome.is_clean());
    assert_eq!(outcome.sent, Some(Some(close_frame(1000, "bye"))));
    assert_eq!(transmits(&mut s), vec![Transmit::Shutdown]);
    assert!(matches!(s.state(), State::Closed(o) if o.is_clean()));
    assert!(!s.close_expected());
    assert_eq!(transmits(&mut c), vec![]);
}

#[test]
fn client_initiated_close_handshake_is_clean_on_both_sides() {
    let (mut c, mut s) = (client(), server());
    c.close_with(CloseCode::GOING_AWAY, "later").unwrap();
    assert!(c.close_expected());
    let (evs, client_shutdown) = pump(&mut c, &mut s);
    assert!(!client_shutdown);
    assert_eq!(evs[0], Event::Message(Message::Close(Some(close_frame(1001, "later")))));
    assert!(matches!(&evs[1], Event::Closed(o) if o.is_clean()));
    // The server echoes, then shuts down — after the echo.
    let echo = s2c(0x88, &1001u16.to_be_bytes());
    assert_eq!(transmits(&mut s), vec![Transmit::Bytes(Bytes::from(echo.clone())), Transmit::Shutdown]);
    c.receive(&echo);
    let evs = events(&mut c);
    assert_eq!(evs[0], Event::Message(Message::Close(Some(close_frame(1001, "")))));
    assert!(matches!(&evs[1], Event::Closed(o) if o.is_clean() && o.code() == CloseCode::GOING_AWAY));
    assert!(matches!(c.state(), State::Closed(o) if o.is_clean()));
    assert!(matches!(s.state(), State::Closed(o) if o.is_clean()));
    assert_eq!(transmits(&mut c), vec![], "the client leaves the TCP close to the server");
}

#[test]
fn nothing_is_sent_after_our_close() {
    let mut s = server();
    s.close(None).unwrap();
    assert_eq!(output(&mut s), (vec![0x88, 0x00], false));
    assert_eq!(s.send_text("x"), Err(SendError::Closed));
    assert_eq!(s.send_binary(vec![1]), Err(SendError::Closed));
    assert_eq!(s.send_ping("p"), Err(SendError::Closed));
    assert_eq!(s.send_pong("p"), Err(SendError::Closed));
    assert_eq!(s.send(Message::text("x")), Err(SendError::Closed));
    assert_eq!(s.send_fragment(MessageKind::Binary, vec![1], false), Err(SendError::Closed));
    assert_eq!(s.close(None), Err(SendError::Closed));
    assert_eq!(s.close_with(CloseCode::NORMAL, ""), Err(SendError::Closed));
    // Messages still arrive while closing, but a Ping gets no Pong.
    s.receive(&[c2s(0x89, b"late ping"), c2s(0x82, b"data")].concat());
    assert_eq!(
        events(&mut s),
        vec![
            Event::Message(Message::Ping(Bytes::from_static(b"late ping"))),
            Event::Message(Message::binary(b"data".to_vec())),
        ]
    );
    assert_eq!(transmits(&mut s), vec![]);
    // The peer's Close ends it cleanly, with no second Close from us.
    s.receive(&c2s(0x88, b""));
    let evs = events(&mut s);
    assert!(matches!(&evs[1], Event::Closed(o) if o.is_clean() && o.sent == Some(None)));
    assert_eq!(transmits(&mut s), vec![Transmit::Shutdown]);
}

#[test]
fn a_protocol_error_while_closing_sends_no_second_close() {
    let mut s = server();
    s.close_with(CloseCode::NORMAL, "").unwrap();
    output(&mut s);
    s.receive(&c2s(0x83, b""));
    let evs = events(&mut s);
    let [Event::Closed(outcome)] = &evs[..] else { panic!("{evs:?}") };
    assert_eq!(outcome.error, Some(ProtocolError::ReservedOpcode(3)));
    assert_eq!(outcome.sent, Some(Some(close_frame(1000, ""))));
    assert_eq!(transmits(&mut s), vec![Transmit::Shutdown]);
}

#[test]
fn eof_while_open_is_an_abnormal_closure() {
    let mut s = server();
    s.receive(&c2s(0x81, b"whole"));
    s.receive(&c2s(0x81, b"cut off")[..5]);
    s.receive_eof();
    let evs = events(&mut s);
    assert_eq!(evs[0], Event::Message(Message::text("whole")), "buffered input is still delivered");
    let Event::Closed(outcome) = &evs[1] else { panic!("{evs:?}") };
    assert_eq!(**outcome, CloseOutcome { sent: None, received: None, error: None });
    assert_eq!(outcome.code(), CloseCode::ABNORMAL_CLOSURE);
    assert!(!outcome.is_clean());
    assert_eq!(transmits(&mut s), vec![]);
    assert!(matches!(s.state(), State::Closed(_)));
}

#[test]
fn eof_while_closing_keeps_the_close_we_sent() {
    let mut c = client();
    c.close(Some(close_frame(1000, ""))).unwrap();
    c.receive_eof();
    let evs = events(&mut c);
    let [Event::Closed(outcome)] = &evs[..] else { panic!("{evs:?}") };
    assert_eq!(outcome.sent, Some(Some(close_frame(1000, ""))));
    assert_eq!(outcome.code(), CloseCode::ABNORMAL_CLOSURE);
    assert!(!outcome.is_clean());
}

#[test]
fn abort_ends_at_once_and_sends_nothing() {
    let mut s = server();
    s.send_text("queued").unwrap();
    s.receive(&c2s(0x89, b"ping"));
    s.abort();
    assert_eq!(transmits(&mut s), vec![]);
    assert_eq!(s.buffered_amount(), 0);
    let evs = events(&mut s);
    let [Event::Closed(outcome)] = &evs[..] else { panic!("{evs:?}") };
    assert_eq!(outcome.code(), CloseCode::ABNORMAL_CLOSURE);
    assert!(!outcome.is_clean());
    s.receive(&c2s(0x81, b"more"));
    assert_eq!(s.poll_event(), None);
    assert_eq!(s.send_text("x"), Err(SendError::Closed));
    // Aborting while closing remembers the Close sent; aborting twice is harmless.
    let mut c = client();
    c.close(None).unwrap();
    c.abort();
    c.abort();
    assert!(matches!(c.state(), State::Closed(o) if o.sent == Some(None) && o.received.is_none()));
    assert_eq!(events(&mut c).len(), 1);
    assert_eq!(transmits(&mut c), vec![]);
}

// ---------------------------------------------------------------------------
// Fragmentation (§5.4) and limits.

#[test]
fn fragmented_text_and_binary_with_pings_in_between() {
    let mut s = server();
    let input = [
        c2s(0x01, b"Hel"),
        c2s(0x89, b"p1"),
        c2s(0x00, b"l"),
        c2s(0x8A, b"unsolicited"),
        c2s(0x00, b""),
        c2s(0x89, b"p2"),
        c2s(0x80, b"o"),
        c2s(0x02, &[1, 2]),
        c2s(0x89, b"p3"),
        c2s(0x80, &[3]),
    ];
    let mut evs = Vec::new();
    let mut pongs = Vec::new();
    for piece in input {
        s.receive(&piece);
        evs.extend(events(&mut s));
        pongs.extend(parse_frames(&output(&mut s).0));
    }
    let ping = |p: &'static [u8]| Event::Message(Message::Ping(Bytes::from_static(p)));
    assert_eq!(
        evs,
        vec![
            ping(b"p1"),
            Event::Message(Message::Pong(Bytes::from_static(b"unsolicited"))),
            ping(b"p2"),
            Event::Message(Message::text("Hello")),
            ping(b"p3"),
            Event::Message(Message::binary(vec![1, 2, 3])),
        ]
    );
    let pong = |p: &[u8]| wire(true, OpCode::Pong, false, p);
    assert_eq!(pongs, vec![pong(b"p1"), pong(b"p2"), pong(b"p3")]);
}

#[test]
fn continuation_without_a_start_and_new_message_inside_one() {
    assert_fails(&mut client(), &s2c(0x00, b"x"), ProtocolError::UnexpectedContinuation, 1002);
    let mut c = client();
    c.receive(&[s2c(0x81, b"done"), s2c(0x80, b"x")].concat());
    assert_eq!(c.poll_event(), Some(Event::Message(Message::text("done"))));
    assert_fails(&mut c, &[], ProtocolError::UnexpectedContinuation, 1002);
    for b0 in [0x01, 0x81, 0x02, 0x82] {
        let input = [s2c(0x02, b"a"), s2c(b0, b"b")].concat();
        assert_fails(&mut client(), &input, ProtocolError::ExpectedContinuation, 1002);
    }
}

#[test]
fn max_fragments_allows_the_limit_and_fails_beyond_it() {
    let config = Config::default().max_fragments(3);
    let mut s = endpoint(Role::Server, config.clone());
    s.receive(&[c2s(0x01, b"a"), c2s(0x89, b""), c2s(0x00, b"b"), c2s(0x80, b"c")].concat());
    let evs = events(&mut s);
    assert_eq!(evs[1], Event::Message(Message::text("abc")), "3 frames (controls do not count)");
    let mut s = endpoint(Role::Server, config);
    let input = [c2s(0x01, b"a"), c2s(0x00, b""), c2s(0x00, b""), c2s(0x80, b"d")].concat();
    assert_fails(&mut s, &input, ProtocolError::TooManyFragments { max: 3 }, 1008);
}

#[test]
fn max_message_size_is_enforced_at_the_header_before_the_payload() {
    let mut s = endpoint(Role::Server, Config::default().max_message_size(1024));
    s.receive(&c2s(0x01, &[b'a'; 1000]));
    s.receive(&c2s(0x00, &[b'b'; 24]));
    assert_eq!(s.poll_event(), None);
    assert_eq!(s.poll_transmit(), None, "1024 bytes are within the limit");
    // Only the header of the offending frame: the close is queued already.
    let error = ProtocolError::MessageTooLarge { len: 1025, max: 1024 };
    assert_fails(&mut s, &header(0x80, 1, Some(KEY)), error, 1009);
    // Exactly at the limit is accepted.
    let mut s = endpoint(Role::Server, Config::default().max_message_size(1024));
    s.receive(&[c2s(0x01, &[b'a'; 1000]), c2s(0x80, &[b'b'; 24])].concat());
    assert!(matches!(s.poll_event(), Some(Event::Message(Message::Text(t))) if t.len() == 1024));
}

#[test]
fn max_frame_size_with_a_2_pow_62_length_allocates_nothing() {
    let mut s = server();
    s.receive(&header(0x82, 1 << 62, Some(KEY)));
    let error = ProtocolError::FrameTooLarge { len: 1 << 62, max: 1 << 20 };
    assert_fails(&mut s, &[], error, 1009);
    assert!(s.receive_buffer().capacity() <= 4096, "{}", s.receive_buffer().capacity());
    // Even when the limits allow it, a declared length reserves nothing.
    let mut s = endpoint(Role::Server, Config::default().max_message_size(usize::MAX));
    s.receive(&header(0x82, 1 << 62, Some(KEY)));
    s.receive(&[0; 100]);
    assert_eq!(s.poll_event(), None);
    assert!(s.receive_buffer().capacity() <= 128 * 1024, "{}", s.receive_buffer().capacity());
    assert_eq!(s.read_hint(), 128 * 1024, "one read's room at most, whatever the declared length");
    assert_eq!(s.state(), &State::Open);
}

#[test]
fn max_frame_size_lower_than_message_size() {
    let config = Config::default().max_message_size(4096).max_frame_size(100);
    let mut s = endpoint(Role::Server, config.clone());
    s.receive(&[c2s(0x02, &[1; 100]), c2s(0x00, &[2; 100]), c2s(0x80, &[3; 100])].concat());
    assert!(matches!(s.poll_event(), Some(Event::Message(Message::Binary(b))) if b.len() == 300));
    let mut s = endpoint(Role::Server, config);
    assert_fails(&mut s, &header(0x82, 101, Some(KEY)), ProtocolError::FrameTooLarge { len: 101, max: 100 }, 1009);
}

#[test]
fn fragment_size_splits_outgoing_messages() {
    let mut c = fixed_client(Config::default().fragment_size(Some(4)));
    c.send_text("Hello world").unwrap();
    c.send_binary(vec![1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
    c.send_text("tiny").unwrap();
    c.send_text("").unwrap();
    c.send_text("Hello").unwrap();
    let (bytes, _) = output(&mut c);
    let m = |fin, op, p: &[u8]| wire(fin, op, true, p);
    assert_eq!(
        parse_frames(&bytes),
        vec![
            m(false, OpCode::Text, b"Hell"),
            m(false, OpCode::Continuation, b"o wo"),
            m(true, OpCode::Continuation, b"rld"),
            m(false, OpCode::Binary, &[1, 2, 3, 4]),
            m(true, OpCode::Continuation, &[5, 6, 7, 8]),
            m(true, OpCode::Text, b"tiny"),
            m(true, OpCode::Text, b""),
            m(false, OpCode::Text, b"Hell"),
            m(true, OpCode::Continuation, b"o"),
        ]
    );
    let mut s = server();
    s.receive(&bytes);
    assert_eq!(
        events(&mut s),
        vec![
            Event::Message(Message::text("Hello world")),
            Event::Message(Message::binary(vec![1, 2, 3, 4, 5, 6, 7, 8])),
            Event::Message(Message::text("tiny")),
            Event::Message(Message::text("")),
            Event::Message(Message::text("Hello")),
        ]
    );
    // Server side with large fragments: header and payload chunks, split at 5000.
    let mut s = endpoint(Role::Server, Config::default().fragment_size(Some(5000)));
    s.send_binary(vec![9; 12000]).unwrap();
    let frames = parse_frames(&output(&mut s).0);
    let sizes: Vec<_> = frames.iter().map(|f| (f.fin, f.opcode, f.masked, f.payload.len())).collect();
    assert_eq!(
        sizes,
        vec![
            (false, OpCode::Binary, false, 5000),
            (false, OpCode::Continuation, false, 5000),
            (true, OpCode::Continuation, false, 2000)
        ]
    );
}

/// Regression: `Some(0)` as the fragment size made `send_binary` loop
/// forever queueing empty frames. The setter raises it to `Some(1)`.
#[test]
fn a_zero_fragment_size_does_not_hang() {
    let config = Config::default().fragment_size(Some(0));
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut s = endpoint(Role::Server, config);
        let sent = s.send_binary(vec![1, 2, 3]).map(|()| parse_frames(&output(&mut s).0));
        done.send(sent).unwrap();
    });
    let frames = result.recv_timeout(std::time::Duration::from_secs(10)).expect("send_binary returns");
    assert_eq!(
        frames.unwrap(),
        vec![
            wire(false, OpCode::Binary, false, &[1]),
            wire(false, OpCode::Continuation, false, &[2]),
            wire(true, OpCode::Continuation, false, &[3]),
        ]
    );
}

#[test]
fn send_fragment_streams_a_message_with_controls_in_between() {
    let (mut c, mut s) = (client(), server());
    // "hé€": the é and the € are cut between fragments.
    s.send_fragment(MessageKind::Text, &b"h\xc3"[..], false).unwrap();
    s.send_ping("between").unwrap();
    s.send_fragment(MessageKind::Text, &b"\xa9\xe2"[..], false).unwrap();
    s.send_fragment(MessageKind::Text, &b"\x82"[..], false).unwrap();
    s.send_fragment(MessageKind::Text, &b"\xac"[..], true).unwrap();
    s.send_fragment(MessageKind::Binary, vec![1], false).unwrap();
    s.send_fragment(MessageKind::Binary, vec![2], true).unwrap();
    let (evs, _) = pump(&mut s, &mut c);
    assert_eq!(
        evs,
        vec![
            Event::Message(Message::Ping(Bytes::from_static(b"between"))),
            Event::Message(Message::text("hé€")),
            Event::Message(Message::binary(vec![1, 2])),
        ]
    );
    // Client → server likewise.
    c.send_fragment(MessageKind::Binary, vec![1, 2], false).unwrap();
    c.send_pong("hb").unwrap();
    c.send_fragment(MessageKind::Binary, Vec::new(), true).unwrap();
    let (evs, _) = pump(&mut c, &mut s);
    let pong = |p: &'static [u8]| Event::Message(Message::Pong(Bytes::from_static(p)));
    // First the client's automatic answer to "between", then its stream.
    assert_eq!(evs, vec![pong(b"between"), pong(b"hb"), Event::Message(Message::binary(vec![1, 2]))]);
}

#[test]
fn send_fragment_misuse_is_refused_and_leaves_the_stream_intact() {
    let (mut c, mut s) = (client(), server());
    s.send_fragment(MessageKind::Text, "abc", false).unwrap();
    assert_eq!(s.send_text("x"), Err(SendError::FragmentedMessageInProgress));
    assert_eq!(s.send_binary(vec![1]), Err(SendError::FragmentedMessageInProgress));
    assert_eq!(s.send_fragment(MessageKind::Binary, vec![1], true), Err(SendError::FragmentKindMismatch));
    assert_eq!(s.send_fragment(MessageKind::Text, &b"\xff"[..], false), Err(SendError::InvalidUtf8));
    assert_eq!(s.send_fragment(MessageKind::Text, &b"d\xe2\x82"[..], true), Err(SendError::InvalidUtf8), "truncated");
    s.send_fragment(MessageKind::Text, "def", true).unwrap();
    // A first fragment that is invalid does not start a message.
    assert_eq!(s.send_fragment(MessageKind::Text, &b"\xc0"[..], false), Err(SendError::InvalidUtf8));
    s.send_text("whole").unwrap();
    let (evs, _) = pump(&mut s, &mut c);
    assert_eq!(evs, vec![Event::Message(Message::text("abcdef")), Event::Message(Message::text("whole"))]);
    assert_eq!(s.send_ping(vec![0; 126]), Err(SendError::ControlPayloadTooLong(126)));
}

/// Regression: a refused text fragment used to leave the sender's UTF-8
/// state changed (a truncated final fragment dropped the carried partial
/// character), so a following fragment could complete the message with
/// invalid UTF-8 on the wire, and the peer failed the connection with 1007.
#[test]
fn a_refused_text_fragment_does_not_corrupt_the_utf8_state() {
    let (mut c, mut s) = (client(), server());
    s.send_fragment(MessageKind::Text, &b"\xe2"[..], false).unwrap();
    // "\x82" alone still leaves '€' unfinished at the end: refused.
    assert_eq!(s.send_fragment(MessageKind::Text, &b"\x82"[..], true), Err(SendError::InvalidUtf8));
    // "A" after "\xe2" is invalid UTF-8 and must be refused too.
    assert_eq!(s.send_fragment(MessageKind::Text, "A", true), Err(SendError::InvalidUtf8));
    // An invalid continuation byte after a partial one is refused, and the
    // correct continuation still works afterwards.
    assert_eq!(s.send_fragment(MessageKind::Text, &b"\x82\x41"[..], false), Err(SendError::InvalidUtf8));
    s.send_fragment(MessageKind::Text, &b"\x82\xac!"[..], true).unwrap();
    let (evs, _) = pump(&mut s, &mut c);
    assert_eq!(evs, vec![Event::Message(Message::text("€!"))]);
    assert!(c.is_open());
}

// ---------------------------------------------------------------------------
// UTF-8 fail-fast (§8.1).

#[test]
fn invalid_utf8_fails_at_the_offending_byte_not_at_the_end_of_the_frame() {
    // (valid prefix, offending sequence, index of its first invalid byte)
    let cases: [(&str, &[u8], usize); 5] = [
        ("a plain ascii prefix ", b"\xff", 0),
        // A surrogate: 0xED is fine, 0xA0 after it is not.
        ("κόσμε", b"\xed\xa0\x80", 1),
        // An overlong encoding fails at its first byte.
        ("xyz", b"\xc0\xaf", 0),
        // Beyond U+10FFFF: 0xF4 may start a character, 0x90 may not follow it.
        ("xyz€", b"\xf4\x90\x80\x80", 1),
        // A lone continuation byte.
        ("", b"\x80", 0),
    ];
    for (prefix, sequence, offset) in cases {
        let payload = [prefix.as_bytes(), sequence, &[b'z'; 40]].concat();
        let bad = prefix.len() + offset;
        let input = c2s(0x81, &payload);
        let header_len = input.len() - payload.len();
        let mut s = server();
        let (at, outcome) = feed_bytewise(&mut s, &input).expect("fails");
        assert_eq!(at, header_len + bad, "failed at input byte {at}");
        assert_failed(&mut s, &outcome, &ProtocolError::InvalidUtf8, 1007);
    }
}

#[test]
fn invalid_utf8_across_fragment_boundaries_fails_fast() {
    // '€' is E2 82 AC; the first fragment ends after E2 82, the next starts with 'A'.
    let first = c2s(0x01, b"ok\xe2\x82");
    let second = c2s(0x80, b"A and more text after it");
    let mut s = server();
    s.receive(&first);
    assert_eq!(s.poll_event(), None);
    let (at, outcome) = feed_bytewise(&mut s, &second).expect("fails");
    assert_eq!(at, 6, "at the first payload byte of the continuation");
    assert_failed(&mut s, &outcome, &ProtocolError::InvalidUtf8, 1007);
    // And a character split across three fragments with a ping in between is fine.
    let mut s = server();
    s.receive(&[c2s(0x01, b"\xe2"), c2s(0x00, b"\x82"), c2s(0x89, b""), c2s(0x80, b"\xac")].concat());
    assert_eq!(events(&mut s)[1], Event::Message(Message::text("€")));
}

#[test]
fn a_truncated_sequence_at_fin_is_1007() {
    assert_fails(&mut server(), &c2s(0x81, b"ok \xf0\x9f\x98"), ProtocolError::InvalidUtf8, 1007);
    let input = [s2c(0x01, b"ok"), s2c(0x00, b"\xf0\x9f"), s2c(0x80, b"\x98")].concat();
    assert_fails(&mut client(), &input, ProtocolError::InvalidUtf8, 1007);
    // Binary messages are not checked.
    let mut c = client();
    c.receive(&s2c(0x82, b"\xff\xf0"));
    assert_eq!(events(&mut c), vec![Event::Message(Message::binary(b"\xff\xf0".to_vec()))]);
}

// ---------------------------------------------------------------------------
// Ping and Pong (§5.5.2, §5.5.3).

#[test]
fn two_pings_without_draining_get_one_pong_with_the_newest_payload() {
    let mut c = client();
    c.receive(&[s2c(0x89, b"one"), s2c(0x89, b"two")].concat());
    assert_eq!(events(&mut c).len(), 2);
    assert_eq!(parse_frames(&output(&mut c).0), vec![wire(true, OpCode::Pong, true, b"two")]);
    let mut s = server();
    s.receive(&c2s(0x89, b"one"));
    s.poll_event();
    s.receive(&c2s(0x89, b"two"));
    s.poll_event();
    assert_eq!(output(&mut s), (s2c(0x8A, b"two"), false));
}

#[test]
fn with_draining_every_ping_gets_its_pong() {
    let mut s = server();
    let mut pongs = Vec::new();
    for i in 0..5u8 {
        s.receive(&c2s(0x89, &[i; 3]));
        assert_eq!(events(&mut s), vec![Event::Message(Message::Ping(Bytes::from(vec![i; 3])))]);
        pongs.extend(parse_frames(&output(&mut s).0));
    }
    assert_eq!(pongs, (0..5u8).map(|i| wire(true, OpCode::Pong, false, &[i; 3])).collect::<Vec<_>>());
}

#[test]
fn a_pong_never_lands_inside_a_partially_taken_frame() {
    let mut s = server();
    let data: Vec<u8> = (0..8192u32).map(|i| i as u8).collect();
    s.send_binary(data.clone()).unwrap();
    s.send_text("after").unwrap();
    let Some(Transmit::Bytes(head)) = s.poll_transmit() else { panic!("header") };
    assert_eq!(head[..], [0x82, 0x7E, 0x20, 0x00], "the header alone: the payload comes as its own chunk");
    s.receive(&c2s(0x89, b"ping"));
    assert_eq!(s.poll_event(), Some(Event::Message(Message::Ping(Bytes::from_static(b"ping")))));
    assert_eq!(s.poll_transmit(), Some(Transmit::Bytes(Bytes::from(data))), "the payload, not the pong");
    // At the frame boundary the pong goes ahead of the queued text.
    assert_eq!(s.poll_transmit(), Some(Transmit::Bytes(Bytes::from(s2c(0x8A, b"ping")))));
    assert_eq!(output(&mut s), (s2c(0x81, b"after"), false));
}

#[test]
fn lent_output_taken_in_parts_holds_the_pong_until_the_frames_are_out() {
    let mut s = server();
    s.send_text("first").unwrap();
    s.send_text("second").unwrap();
    let staged = [s2c(0x81, b"first"), s2c(0x81, b"second")].concat();
    assert_eq!(s.peek_transmit(), Some(&staged[..]), "both frames, lent from one buffer");
    s.advance_transmit(3);
    s.receive(&c2s(0x89, b"ping"));
    assert_eq!(s.poll_event(), Some(Event::Message(Message::Ping(Bytes::from_static(b"ping")))));
    // The transport is inside the first frame: the rest goes before the pong.
    assert_eq!(s.peek_transmit(), Some(&staged[3..]));
    s.advance_transmit(staged.len() - 3);
    assert_eq!(s.peek_transmit(), None);
    assert_eq!(output(&mut s), (s2c(0x8A, b"ping"), false));
}

#[test]
fn a_pong_due_at_a_frame_boundary_goes_ahead_of_the_lent_output() {
    let mut s = server();
    s.send_text("reply").unwrap();
    s.receive(&c2s(0x89, b"ping"));
    assert_eq!(s.poll_event(), Some(Event::Message(Message::Ping(Bytes::from_static(b"ping")))));
    assert_eq!(s.peek_transmit(), None, "the pong comes first, through poll_transmit");
    s.advance_transmit(4);
    assert_eq!(
        output(&mut s),
        ([s2c(0x8A, b"ping"), s2c(0x81, b"reply")].concat(), false),
        "advancing nothing lent took nothing"
    );
}

#[test]
fn nothing_is_lent_while_a_large_payload_is_queued_ahead() {
    let mut s = server();
    s.send_text("small").unwrap();
    let data = vec![7u8; 64 * 1024];
    s.send_binary(data.clone()).unwrap();
    s.send_text("tail").unwrap();
    assert_eq!(s.peek_transmit(), None);
    let (bytes, shutdown) = output(&mut s);
    assert!(!shutdown);
    let frames = parse_frames(&bytes);
    assert_eq!(
        frames,
        vec![
            wire(true, OpCode::Text, false, b"small"),
            wire(true, OpCode::Binary, false, &data),
            wire(true, OpCode::Text, false, b"tail")
        ]
    );
    assert_eq!(s.peek_transmit(), None);
}

#[test]
fn unsolicited_pongs_are_delivered_and_not_answered() {
    let mut c = client();
    c.receive(&s2c(0x8A, b"heartbeat"));
    assert_eq!(events(&mut c), vec![Event::Message(Message::Pong(Bytes::from_static(b"heartbeat")))]);
    assert_eq!(c.poll_transmit(), None);
}

#[test]
fn auto_pong_off_leaves_pings_to_the_application() {
    let mut s = endpoint(Role::Server, Config::default().auto_pong(false));
    s.receive(&c2s(0x89, b"p"));
    assert_eq!(events(&mut s), vec![Event::Message(Message::Ping(Bytes::from_static(b"p")))]);
    assert_eq!(s.poll_transmit(), None);
    s.send_pong("p").unwrap();
    assert_eq!(output(&mut s).0, s2c(0x8A, b"p"));
}

#[test]
fn a_pending_pong_is_dropped_when_the_connection_fails() {
    let mut s = server();
    s.receive(&[c2s(0x89, b"p"), c2s(0x83, b"")].concat());
    let evs = assert_fails(&mut s, &[], ProtocolError::ReservedOpcode(3), 1002);
    assert_eq!(evs, vec![Event::Message(Message::Ping(Bytes::from_static(b"p")))]);
}

// ---------------------------------------------------------------------------
// Masking (§5.1, §5.3).

#[test]
fn every_client_frame_is_masked_with_a_fresh_key() {
    let mut c = client();
    let mut keys = Vec::new();
    let mut wires = Vec::new();
    for _ in 0..4 {
        c.send_text("same message").unwrap();
        let (bytes, _) = output(&mut c);
        let (h, _) = FrameHeader::decode(&bytes).unwrap().unwrap();
        keys.push(h.mask.expect("masked"));
        assert_eq!(parse_frames(&bytes), vec![wire(true, OpCode::Text, true, b"same message")]);
        wires.push(bytes);
    }
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 4, "a fresh key per frame");
    assert_ne!(wires[0], wires[1], "identical messages, different wire bytes");
    // Control frames too.
    c.send_ping("p").unwrap();
    c.send_pong("p").unwrap();
    c.close(None).unwrap();
    assert!(parse_frames(&output(&mut c).0).iter().all(|f| f.masked));
}

#[test]
fn server_frames_are_never_masked() {
    let mut s = server();
    s.send_text("t").unwrap();
    s.send_binary(vec![0; 10_000]).unwrap();
    s.send_ping("p").unwrap();
    s.send_pong("p").unwrap();
    s.send_fragment(MessageKind::Binary, vec![1], true).unwrap();
    s.close(None).unwrap();
    let frames = parse_frames(&output(&mut s).0);
    assert_eq!(frames.len(), 6);
    assert!(frames.iter().all(|f| !f.masked));
}

#[test]
fn server_rejects_unmasked_and_client_rejects_masked() {
    assert_fails(&mut server(), &s2c(0x82, b""), ProtocolError::UnmaskedFrame, 1002);
    assert_fails(&mut server(), &s2c(0x88, b""), ProtocolError::UnmaskedFrame, 1002);
    assert_fails(&mut client(), &c2s(0x82, b""), ProtocolError::MaskedFrame, 1002);
    assert_fails(&mut client(), &c2s(0x89, b""), ProtocolError::MaskedFrame, 1002);
}

// ---------------------------------------------------------------------------
// Buffers.

#[test]
fn small_frames_are_coalesced_and_large_payloads_are_passed_through() {
    let mut s = server();
    for i in 0..10u8 {
        s.send_binary(vec![i; 10]).unwrap();
    }
    assert_eq!(s.buffered_amount(), 120);
    assert_eq!(transmits(&mut s).len(), 1, "ten small frames in one buffer");
    assert_eq!(s.buffered_amount(), 0);
    let big = Bytes::from(vec![1; 100_000]);
    s.send_binary(big.clone()).unwrap();
    let chunks = transmits(&mut s);
    assert_eq!(chunks.len(), 2);
    let Transmit::Bytes(payload) = &chunks[1] else { panic!() };
    assert_eq!(payload.as_ptr(), big.as_ptr(), "the payload is not copied");
}

#[test]
fn read_hint_follows_the_frame_in_progress() {
    let mut s = server();
    assert_eq!(s.read_hint(), 4096);
    s.receive(&header(0x82, 20_000, Some(KEY)));
    assert_eq!(s.poll_event(), None);
    // The rest of the frame, and room for the next header: a read that takes
    // exactly the rest comes back short of its room (the socket is drained).
    assert_eq!(s.read_hint(), 20_000 + 14);
    s.receive(&[0; 19_000]);
    assert_eq!(s.poll_event(), None);
    assert_eq!(s.read_hint(), 4096);
    s.receive(&[0; 1000]);
    assert!(matches!(s.poll_event(), Some(Event::Message(Message::Binary(b))) if b.len() == 20_000));
    // Between frames: one like the last (8 header bytes, 20,000 payload
    // bytes), and the header after it.
    assert_eq!(s.read_hint(), 20_008 + 14);
}
