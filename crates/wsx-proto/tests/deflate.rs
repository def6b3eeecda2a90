//! permessage-deflate (RFC 7692) over bytes: in-memory client↔server pairs
//! for every negotiated parameter, hand-built frames for every receive-side
//! error (RSV1 without negotiation, on a continuation, on a control frame;
//! corrupt data; too much inflated data), the send path's RSV1 placement
//! and tail removal, and every negotiation failure mode of both roles.

use bytes::Bytes;
use rand::SeedableRng;
use rand::rngs::StdRng;
use wsx_proto::extension::{
    ClientWindowBits, DeflateConfig, DeflateOffer, DeflateParams, NegotiationError, negotiate_client, negotiate_server,
};
use wsx_proto::frame::FrameHeader;
use wsx_proto::{CloseCode, Config, Connection, Event, Message, Negotiated, ProtocolError, Role, Transmit};

fn endpoint(role: Role, deflate: Option<DeflateParams>, config: Config) -> Connection {
    let negotiated = Negotiated::new(role).with_deflate(deflate);
    Connection::new(negotiated, config, Box::new(StdRng::seed_from_u64(7)))
}

/// Moves every queued transmit of `from` into `to`; returns the bytes moved.
fn pump(from: &mut Connection, to: &mut Connection) -> Vec<u8> {
    let mut wire = Vec::new();
    while let Some(t) = from.poll_transmit() {
        if let Transmit::Bytes(b) = t {
            wire.extend_from_slice(&b);
        }
    }
    to.receive(&wire);
    wire
}

/// The frames of `wire` as (header, unmasked payload).
fn frames(wire: &[u8]) -> Vec<(FrameHeader, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = wire;
    while !rest.is_empty() {
        let (header, len) = FrameHeader::decode(rest).expect("valid header").expect("whole header");
        let end = len + header.payload_len as usize;
        let mut payload = rest[len..end].to_vec();
        if let Some(key) = header.mask {
            wsx_proto::frame::mask::apply_mask(&mut payload, key, 0);
        }
        out.push((header, payload));
        rest = &rest[end..];
    }
    out
}

fn json_like(n: usize) -> String {
    (0..n).map(|i| format!("{{\"id\":{i},\"name\":\"user{}\",\"active\":{}}},", i % 97, i % 2 == 0)).collect()
}

fn expect_message(conn: &mut Connection) -> Message {
    match conn.poll_event() {
        Some(Event::Message(m)) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

fn expect_failure(conn: &mut Connection) -> (ProtocolError, Vec<u8>) {
    loop {
        match conn.poll_event() {
            Some(Event::Closed(outcome)) => {
                let error = outcome.error.expect("failed by us");
                let mut wire = Vec::new();
                while let Some(Transmit::Bytes(b)) = conn.poll_transmit() {
                    wire.extend_from_slice(&b);
                }
                return (error, wire);
            }
            Some(Event::Message(_)) => continue,
            None => panic!("no failure"),
        }
    }
}

fn all_params() -> Vec<DeflateParams> {
    let mut list = Vec::new();
    for snct in [false, true] {
        for cnct in [false, true] {
            for (s, c) in
                [(None, None), (Some(9), Some(9)), (Some(12), Some(10)), (Some(15), Some(15)), (Some(8), None)]
            {
                let mut p = DeflateParams::default();
                p.server_no_context_takeover = snct;
                p.client_no_context_takeover = cnct;
                p.server_max_window_bits = s;
                p.client_max_window_bits = c;
                list.push(p);
            }
        }
    }
    list
}

#[test]
fn pairs_round_trip_under_every_parameter_set() {
    let body = json_like(400);
    for params in all_params() {
        for fragment_size in [None, Some(1000)] {
            let config = Config::default().fragment_size(fragment_size).compression(DeflateConfig::default());
            let mut client = endpoint(Role::Client, Some(params), config.clone());
            let mut server = endpoint(Role::Server, Some(params), config);
            for round in 0..2 {
                let text = format!("{round}:{body}");
                client.send_text(text.as_str()).unwrap();
                client.send_binary(Bytes::from(body.clone().into_bytes())).unwrap();
                let wire = pump(&mut client, &mut server);
                assert!(wire.len() < body.len(), "{params:?}: compressed ({} bytes)", wire.len());
                assert_eq!(expect_message(&mut server), Message::text(text.as_str()), "{params:?}");
                assert_eq!(expect_message(&mut server), Message::binary(body.clone().into_bytes()));
                // And back.
                server.send_text(text.as_str()).unwrap();
                pump(&mut server, &mut client);
                assert_eq!(expect_message(&mut client), Message::text(text.as_str()), "{params:?}");
            }
        }
    }
}

#[test]
fn rsv1_is_on_the_first_frame_only_and_the_tail_is_removed() {
    let config = Config::default().fragment_size(Some(8)).compression(DeflateConfig::default().threshold(0));
    let mut server = endpoint(Role::Server, Some(DeflateParams::default()), config);
    server.send_text("Hello, Hello, Hello, Hello, Hello!").unwrap();
    server.send_ping("p").unwrap();
    let mut sink = endpoint(Role::Client, None, Config::default());
    let wire = pump(&mut server, &mut sink);
    let frames = frames(&wire);
    assert!(frames.len() > 2, "fragmented: {}", frames.len());
    assert!(frames[0].0.rsv1, "RSV1 on the first frame");
    assert!(frames[1..].iter().all(|(h, _)| !h.rsv1), "never on continuations or control frames");
    let payload: Vec<u8> = frames.iter().filter(|(h, _)| !h.opcode.is_control()).flat_map(|(_, p)| p.clone()).collect();
    assert!(!payload.ends_with(&[0, 0, 0xff, 0xff]), "tail removed");
}

#[test]
fn rfc_7692_hello_on_the_wire() {
    // RFC 7692 §7.2.3.1: the server sends "Hello" as `c1 07 f2 48 cd c9 c9 07 00`.
    let config = Config::default().compression(DeflateConfig::default().threshold(0).window_bits(15));
    let mut server = endpoint(Role::Server, Some(DeflateParams::default()), config);
    server.send_text("Hello").unwrap();
    let Some(Transmit::Bytes(frame)) = server.poll_transmit() else { panic!("a frame") };
    assert_eq!(&frame[..], [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    // A client receives it, and the same message split in two frames
    // (§7.2.3.1: `41 03 f2 48 cd` and `80 04 c9 c9 07 00`), and a stored
    // block (§7.2.3.3).
    let mut client = endpoint(Role::Client, Some(DeflateParams::default()), Config::default());
    client.receive(&frame);
    client.receive(&[0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00]);
    client.receive(&[0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00]);
    for _ in 0..3 {
        assert_eq!(expect_message(&mut client), Message::text("Hello"));
    }
    // §7.2.3.2: the second "Hello" with a shared window.
    client.receive(&[0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]);
    assert_eq!(expect_message(&mut client), Message::text("Hello"));
}

#[test]
fn a_compressed_message_interleaved_with_control_frames() {
    let mut client = endpoint(Role::Client, Some(DeflateParams::default()), Config::default());
    // "Hello" in three frames with a ping and a pong in between.
    client.receive(&[0x41, 0x02, 0xf2, 0x48]);
    client.receive(&[0x89, 0x01, b'a']);
    client.receive(&[0x00, 0x02, 0xcd, 0xc9]);
    client.receive(&[0x8a, 0x00]);
    client.receive(&[0x80, 0x03, 0xc9, 0x07, 0x00]);
    assert!(matches!(expect_message(&mut client), Message::Ping(_)));
    assert!(matches!(expect_message(&mut client), Message::Pong(_)));
    assert_eq!(expect_message(&mut client), Message::text("Hello"));
}

#[test]
fn rsv1_without_negotiation_is_1002() {
    let mut client = endpoint(Role::Client, None, Config::default());
    client.receive(&[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    let (error, wire) = expect_failure(&mut client);
    assert_eq!(error, ProtocolError::ReservedBits { rsv1: true, rsv2: false, rsv3: false });
    assert_eq!(error.close_code(), CloseCode::PROTOCOL_ERROR);
    let (header, payload) = &frames(&wire)[0];
    assert_eq!((header.opcode.as_u8(), &payload[..2]), (0x8, &[0x03, 0xea][..]), "a Close frame with 1002");
}

#[test]
fn rsv1_on_a_continuation_is_1002() {
    let mut client = endpoint(Role::Client, Some(DeflateParams::default()), Config::default());
    client.receive(&[0x41, 0x03, 0xf2, 0x48, 0xcd, 0xc0, 0x04, 0xc9, 0xc9, 0x07, 0x00]);
    let (error, _) = expect_failure(&mut client);
    assert_eq!(error, ProtocolError::CompressedContinuation);
    assert_eq!(error.close_code(), CloseCode::PROTOCOL_ERROR);
    // Also when the message itself was not compressed.
    let mut client = endpoint(Role::Client, Some(DeflateParams::default()), Config::default());
    client.receive(&[0x01, 0x01, b'a', 0xc0, 0x01, b'b']);
    assert_eq!(expect_failure(&mut client).0, ProtocolError::CompressedContinuation);
}

#[test]
fn rsv1_on_a_control_frame_is_1002() {
    let mut client = endpoint(Role::Client, Some(DeflateParams::default()), Config::default());
    client.receive(&[0xc9, 0x00]);
    let (error, _) = expect_failure(&mut client);
    assert_eq!(error, ProtocolError::CompressedControlFrame);
    assert_eq!(error.close_code(), CloseCode::PROTOCOL_ERROR);
}

#[test]
fn rsv2_and_rsv3_stay_reserved_with_deflate() {
    for b0 in [0xa1, 0x91] {
        let mut client = endpoint(Role::Client, Some(DeflateParams::default()), Config::default());
        client.receive(&[b0, 0x00]);
        assert!(matches!(expect_failure(&mut client).0, ProtocolError::ReservedBits { .. }));
    }
}

#[test]
fn corrupt_compressed_data_is_1007() {
    for payload in [&[0xff, 0xff, 0xff][..], &[0x00, 0x05, 0x00, 0x00, 0x00, b'h']] {
        let mut client = endpoint(Role::Client, Some(DeflateParams::default()), Config::default());
        let mut frame = vec![0xc2, payload.len() as u8];
        frame.extend_from_slice(payload);
        client.receive(&frame);
        let (error, wire) = expect_failure(&mut client);
        assert_eq!(error, ProtocolError::InvalidCompressedData);
        let (_, close) = &frames(&wire)[0];
        assert_eq!(&close[..2], &[0x03, 0xef], "1007");
    }
}

#[test]
fn invalid_utf8_inside_compressed_text_fails_fast() {
    // Compress a large text whose first bytes are invalid UTF-8 and send only
    // the first frame: the error comes before the message is complete.
    let mut sender = endpoint(
        Role::Server,
        Some(DeflateParams::default()),
        Config::default().fragment_size(Some(400)).compression(DeflateConfig::default().threshold(0)),
    );
    let mut bad = vec![0xffu8];
    bad.extend_from_slice(json_like(500).as_bytes());
    sender.send_binary(bad).unwrap();
    let mut wire = Vec::new();
    while let Some(Transmit::Bytes(b)) = sender.poll_transmit() {
        wire.extend_from_slice(&b);
    }
    let first = &frames(&wire)[0];
    assert!(!first.0.fin);
    // The same first frame, relabelled as text.
    let mut header = first.0;
    header.opcode = wsx_proto::frame::OpCode::Text;
    let mut head = [0u8; FrameHeader::MAX_LEN];
    let n = header.encode(&mut head);
    let mut frame = head[..n].to_vec();
    frame.extend_from_slice(&first.1);
    let mut client = endpoint(Role::Client, Some(DeflateParams::default()), Config::default());
    client.receive(&frame);
    let (error, _) = expect_failure(&mut client);
    assert_eq!(error, ProtocolError::InvalidUtf8);
}

#[test]
fn inflated_size_counts_against_the_limit() {
    let params = DeflateParams::default();
    let mut sender = endpoint(
        Role::Server,
        Some(params),
        Config::default().max_message_size(1 << 30).compression(DeflateConfig::default()),
    );
    sender.send_binary(vec![b'a'; 300_000]).unwrap();
    let mut receiver = endpoint(Role::Client, Some(params), Config::default().max_message_size(200_000));
    let wire = pump(&mut sender, &mut receiver);
    assert!(wire.len() < 2000, "highly compressible: {}", wire.len());
    let (error, _) = expect_failure(&mut receiver);
    assert!(matches!(error, ProtocolError::MessageTooLarge { max: 200_000, .. }), "{error:?}");
    assert_eq!(error.close_code(), CloseCode::MESSAGE_TOO_BIG);
}

#[test]
fn opted_out_and_small_messages_go_uncompressed() {
    let params = DeflateParams::default();
    let mut server =
        endpoint(Role::Server, Some(params), Config::default().compression(DeflateConfig::default().threshold(100)));
    let mut client = endpoint(Role::Client, Some(params), Config::default());
    server.send_text("x".repeat(99)).unwrap();
    server.send_text("x".repeat(100)).unwrap();
    server.send_uncompressed(Message::text("y".repeat(1000))).unwrap();
    let wire = pump(&mut server, &mut client);
    let rsv1: Vec<bool> = frames(&wire).iter().map(|(h, _)| h.rsv1).collect();
    assert_eq!(rsv1, [false, true, false]);
    assert_eq!(expect_message(&mut client), Message::text("x".repeat(99)));
    assert_eq!(expect_message(&mut client), Message::text("x".repeat(100)));
    assert_eq!(expect_message(&mut client), Message::text("y".repeat(1000)));
}

// ----- negotiation ----------------------------------------------------------

fn client_err(config: &DeflateConfig, response: &str) -> NegotiationError {
    negotiate_client(config, [response]).expect_err(response)
}

#[test]
fn client_refuses_every_bad_response() {
    let plain = DeflateConfig::default().offer(DeflateOffer::default());
    let with_client_bits =
        DeflateConfig::default().offer(DeflateOffer::default().client_max_window_bits(ClientWindowBits::Offered(None)));
    let asks_server = DeflateConfig::default()
        .offer(DeflateOffer::default().server_no_context_takeover(true).server_max_window_bits(Some(10)));
    let pd = "permessage-deflate";
    // A parameter RFC 7692 does not define.
    assert_eq!(client_err(&plain, &format!("{pd}; foo")), NegotiationError::UnknownParam("foo".into()));
    // A duplicate.
    assert!(matches!(
        client_err(&plain, &format!("{pd}; server_no_context_takeover; server_no_context_takeover")),
        NegotiationError::DuplicateParam(_)
    ));
    // Malformed and out-of-range values.
    for bad in [
        "server_max_window_bits",
        "server_max_window_bits=7",
        "server_max_window_bits=16",
        "server_max_window_bits=010",
        "server_max_window_bits=1x",
    ] {
        assert!(
            matches!(
                client_err(&asks_server, &format!("{pd}; server_no_context_takeover; {bad}")),
                NegotiationError::InvalidValue(_)
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        client_err(&plain, &format!("{pd}; server_no_context_takeover=1")),
        NegotiationError::InvalidValue(_)
    ));
    assert!(matches!(
        client_err(&plain, &format!("{pd}; client_no_context_takeover=\"1\"")),
        NegotiationError::InvalidValue(_)
    ));
    // Grammar errors.
    assert!(matches!(client_err(&plain, &format!("{pd}; =")), NegotiationError::Malformed(_)));
    // client_max_window_bits we did not offer, or without a value.
    assert!(matches!(client_err(&plain, &format!("{pd}; client_max_window_bits=10")), NegotiationError::NotOffered(_)));
    assert!(matches!(
        client_err(&with_client_bits, &format!("{pd}; client_max_window_bits")),
        NegotiationError::InvalidValue(_)
    ));
    // An 8-bit window for our compressor.
    assert_eq!(
        client_err(&with_client_bits, &format!("{pd}; client_max_window_bits=8")),
        NegotiationError::WindowEightUnsupported
    );
    // What we asked of the server, missing or exceeded.
    assert!(matches!(
        client_err(&asks_server, &format!("{pd}; server_max_window_bits=10")),
        NegotiationError::NotOffered(_)
    ));
    assert!(matches!(
        client_err(&asks_server, &format!("{pd}; server_no_context_takeover")),
        NegotiationError::NotOffered(_)
    ));
    assert!(matches!(
        client_err(&asks_server, &format!("{pd}; server_no_context_takeover; server_max_window_bits=11")),
        NegotiationError::NotOffered(_)
    ));
    // Accepted twice.
    assert_eq!(negotiate_client(&plain, [pd, pd]), Err(NegotiationError::DuplicateExtension));
    // And what is fine.
    let ok = negotiate_client(
        &asks_server,
        [&format!("{pd}; server_no_context_takeover; server_max_window_bits=9; client_no_context_takeover") as &str],
    )
    .unwrap()
    .unwrap();
    assert_eq!((ok.server_max_window_bits, ok.client_no_context_takeover), (Some(9), true));
    assert_eq!(negotiate_client(&plain, ["x-other"]), Ok(None), "declined");
}

#[test]
fn client_matches_the_response_against_each_offer_in_order() {
    let config = DeflateConfig::default()
        .offer(DeflateOffer::default().server_max_window_bits(Some(10)))
        .offer(DeflateOffer::default());
    let offers: Vec<String> = config.client_offers().iter().map(ToString::to_string).collect();
    assert_eq!(offers, ["permessage-deflate; server_max_window_bits=10", "permessage-deflate"]);
    // The plain response answers the second offer.
    assert_eq!(negotiate_client(&config, ["permessage-deflate"]), Ok(Some(DeflateParams::default())));
}

#[test]
fn server_takes_the_first_offer_it_can_honour_and_never_fails() {
    let config = DeflateConfig::default();
    let pick = |offers: &[&str]| negotiate_server(&config, offers.iter().copied()).map(|p| p.to_string());
    let pd = "permessage-deflate";
    // Declined: another extension, malformed params, unknown or repeated
    // params, an 8-bit server window.
    let bad = [
        "x-webkit-deflate-frame",
        "permessage-deflate; foo",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; server_max_window_bits=8",
        "permessage-deflate; server_no_context_takeover=x",
        "permessage-deflate; =",
    ];
    for offer in bad {
        assert_eq!(pick(&[offer]), None, "{offer}");
    }
    let mut offers = bad.to_vec();
    offers.push("permessage-deflate; client_max_window_bits; server_no_context_takeover");
    assert_eq!(pick(&offers).as_deref(), Some("permessage-deflate; server_no_context_takeover"));
    // Our window (12) caps a larger request; a smaller one is honoured.
    assert_eq!(
        pick(&[&format!("{pd}; server_max_window_bits=15")]).as_deref(),
        Some("permessage-deflate; server_max_window_bits=12")
    );
    assert_eq!(
        pick(&[&format!("{pd}; server_max_window_bits=9")]).as_deref(),
        Some("permessage-deflate; server_max_window_bits=9")
    );
    // Asking the client for a smaller window only where it allowed it.
    let strict = DeflateConfig::default().peer_max_window_bits(Some(10)).peer_no_context_takeover(true);
    let agreed = negotiate_server(&strict, [&format!("{pd}; client_max_window_bits") as &str]).unwrap();
    assert_eq!(agreed.to_string(), "permessage-deflate; client_no_context_takeover; client_max_window_bits=10");
    let agreed = negotiate_server(&strict, [pd]).unwrap();
    assert_eq!(agreed.to_string(), "permessage-deflate; client_no_context_takeover");
    // A flood of offers is cut at the limit, never an error.
    let flood = vec!["x-junk"; 10_000];
    assert_eq!(negotiate_server(&config, flood.iter().copied()), None);
}

#[test]
fn negotiated_endpoints_interoperate_end_to_end() {
    // Client offers, server chooses, client checks: then both talk.
    let client_config = DeflateConfig::default()
        .no_context_takeover(true)
        .peer_no_context_takeover(true)
        .peer_max_window_bits(Some(9))
        .window_bits(10);
    let offers: Vec<String> = client_config.client_offers().iter().map(ToString::to_string).collect();
    let server_config = DeflateConfig::default().peer_max_window_bits(Some(11));
    let agreed = negotiate_server(&server_config, offers.iter().map(String::as_str)).unwrap();
    let response = agreed.to_string();
    assert_eq!(
        response,
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=9; client_max_window_bits=10"
    );
    let seen = negotiate_client(&client_config, [response.as_str()]).unwrap().unwrap();
    assert_eq!(seen, agreed);
    let mut client = endpoint(Role::Client, Some(seen), Config::default().compression(client_config));
    let mut server = endpoint(Role::Server, Some(agreed), Config::default().compression(server_config));
    for i in 0..5 {
        let text = format!("{i}{}", json_like(200));
        client.send_text(text.as_str()).unwrap();
        pump(&mut client, &mut server);
        let echoed = expect_message(&mut server);
        server.send(echoed).unwrap();
        pump(&mut server, &mut client);
        assert_eq!(expect_message(&mut client), Message::text(text.as_str()));
    }
}
