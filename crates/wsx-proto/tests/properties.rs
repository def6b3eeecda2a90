//! Property tests over the public API: any sequence of messages crosses a
//! client↔server pair intact whatever the chunking of the wire bytes (both
//! directions, with and without outgoing fragmentation); masking is its own
//! inverse; frame headers round-trip.

#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use wsx_proto::frame::mask::{apply_mask, apply_mask_bytewise};
use wsx_proto::frame::{FrameHeader, OpCode};
use wsx_proto::{Config, Connection, Event, Message, Negotiated, Role, Transmit};

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        4 => ".{0,600}".prop_map(Message::text),
        4 => vec(any::<u8>(), 0..4096).prop_map(Message::binary),
        1 => Just(Message::binary(Vec::new())),
        1 => Just(Message::text("")),
        1 => vec(any::<u8>(), 0..=125).prop_map(|p| Message::Ping(p.into())),
        1 => vec(any::<u8>(), 0..=125).prop_map(|p| Message::Pong(p.into())),
    ]
}

/// Sizes of the successive pieces the wire bytes are cut into (cycled).
fn chunking() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![Just(vec![1]), vec(1usize..=16, 1..8), vec(1usize..=9000, 1..8)]
}

fn endpoint(role: Role, config: Config, seed: u64) -> Connection {
    Connection::new(Negotiated::new(role), config, Box::new(StdRng::seed_from_u64(seed)))
}

/// Sends `messages` from `from`, delivers the bytes to `to` in pieces of the
/// given sizes, polling events after every piece; returns the events.
fn transfer(from: &mut Connection, to: &mut Connection, messages: &[Message], chunks: &[usize]) -> Vec<Event> {
    for message in messages {
        from.send(message.clone()).unwrap();
    }
    let mut wire = Vec::new();
    while let Some(transmit) = from.poll_transmit() {
        match transmit {
            Transmit::Bytes(bytes) => wire.extend_from_slice(&bytes),
            Transmit::Shutdown => panic!("no shutdown while open"),
        }
    }
    let mut events = Vec::new();
    let mut rest = &wire[..];
    for &size in chunks.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        to.receive(piece);
        events.extend(std::iter::from_fn(|| to.poll_event()));
        rest = tail;
    }
    events
}

fn check_transfer(
    role: Role,
    messages: Vec<Message>,
    fragment_size: Option<usize>,
    chunks: Vec<usize>,
    seed: u64,
) -> Result<(), TestCaseError> {
    let peer = match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    };
    let mut from = endpoint(role, Config::default().fragment_size(fragment_size), seed);
    let mut to = endpoint(peer, Config::default(), seed ^ 1);
    let events = transfer(&mut from, &mut to, &messages, &chunks);
    let expected: Vec<Event> = messages.into_iter().map(Event::Message).collect();
    prop_assert_eq!(events, expected);
    prop_assert!(to.is_open());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn client_to_server_messages_survive_any_chunking(
        messages in vec(message(), 0..8),
        fragment_size in proptest::option::of(1usize..700),
        chunks in chunking(),
        seed: u64,
    ) {
        check_transfer(Role::Client, messages, fragment_size, chunks, seed)?;
    }

    #[test]
    fn server_to_client_messages_survive_any_chunking(
        messages in vec(message(), 0..8),
        fragment_size in proptest::option::of(1usize..700),
        chunks in chunking(),
        seed: u64,
    ) {
        check_transfer(Role::Server, messages, fragment_size, chunks, seed)?;
    }

    #[test]
    fn masking_twice_is_the_identity(
        data in vec(any::<u8>(), 0..2048),
        key: [u8; 4],
        offset in 0usize..16,
        split in 0usize..2048,
    ) {
        // Mask in one go at `offset`, unmask in two pieces with the right offsets.
        let mut buf = data.clone();
        apply_mask(&mut buf, key, offset);
        // With four or more bytes every key byte is used: a non-zero key changes something.
        if key != [0; 4] && data.len() >= 4 {
            prop_assert_ne!(&buf, &data);
        }
        let mut reference = data.clone();
        apply_mask_bytewise(&mut reference, key, offset);
        prop_assert_eq!(&buf, &reference);
        let split = split.min(buf.len());
        let (a, b) = buf.split_at_mut(split);
        apply_mask(a, key, offset);
        apply_mask(b, key, offset + split);
        prop_assert_eq!(buf, data);
    }

    #[test]
    fn header_encode_decode_round_trip(
        fin: bool, rsv1: bool, rsv2: bool, rsv3: bool,
        op in 0usize..6,
        payload_len in prop_oneof![0u64..=125, 126u64..=0xFFFF, 0x1_0000u64..(1 << 63)],
        mask: Option<[u8; 4]>,
        trailing in vec(any::<u8>(), 0..8),
    ) {
        let opcode = [OpCode::Continuation, OpCode::Text, OpCode::Binary, OpCode::Close, OpCode::Ping, OpCode::Pong][op];
        let header = FrameHeader { fin, rsv1, rsv2, rsv3, opcode, mask, payload_len };
        let mut out = [0u8; FrameHeader::MAX_LEN];
        let n = header.encode(&mut out);
        // Minimal length encoding (§5.2).
        let len_bytes = match payload_len { 0..=125 => 0, 126..=0xFFFF => 2, _ => 8 };
        prop_assert_eq!(n, 2 + len_bytes + if mask.is_some() { 4 } else { 0 });
        // Decoding ignores what follows the header and needs all of it.
        let wire = [&out[..n], &trailing[..]].concat();
        prop_assert_eq!(FrameHeader::decode(&wire), Ok(Some((header, n))));
        for end in 0..n {
            prop_assert_eq!(FrameHeader::decode(&wire[..end]), Ok(None));
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics_and_re_encodes(bytes in vec(any::<u8>(), 0..16)) {
        if let Ok(Some((header, n))) = FrameHeader::decode(&bytes) {
            let mut out = [0u8; FrameHeader::MAX_LEN];
            let m = header.encode(&mut out);
            prop_assert!(m <= n, "minimal encoding is never longer");
            prop_assert_eq!(FrameHeader::decode(&out[..m]), Ok(Some((header, m))));
        }
    }

    #[test]
    fn a_server_survives_arbitrary_bytes(input in vec(any::<u8>(), 0..512), chunk in 1usize..64) {
        // Hostile input: whatever happens, no panic, and once closed, deaf.
        let mut server = endpoint(Role::Server, Config::default().max_message_size(256), 3);
        let mut closed = false;
        for piece in input.chunks(chunk) {
            server.receive(piece);
            while let Some(event) = server.poll_event() {
                prop_assert!(!closed, "an event after Closed");
                closed |= matches!(event, Event::Closed(_));
            }
            while server.poll_transmit().is_some() {}
        }
        if closed {
            prop_assert!(!server.is_open());
            server.receive(&[0x89, 0x80, 0, 0, 0, 0]);
            prop_assert_eq!(server.poll_event(), None);
        }
    }
}

#[test]
fn a_ping_between_fragments_reaches_the_peer_in_order() {
    // Deterministic companion of the properties above, with a Ping inside a
    // fragmented message: controls may interleave (§5.4).
    let mut client = endpoint(Role::Client, Config::default().fragment_size(Some(3)), 9);
    let mut server = endpoint(Role::Server, Config::default(), 10);
    client.send_fragment(wsx_proto::connection::MessageKind::Text, "abcdefg", false).unwrap();
    client.send_ping(Bytes::from_static(b"!")).unwrap();
    client.send_fragment(wsx_proto::connection::MessageKind::Text, "h", true).unwrap();
    let events = transfer(&mut client, &mut server, &[], &[1]);
    assert_eq!(
        events,
        vec![Event::Message(Message::Ping(Bytes::from_static(b"!"))), Event::Message(Message::text("abcdefgh"))]
    );
}
