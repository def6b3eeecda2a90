//! RFC 6455 §5.4: a message cut into arbitrary fragments (with Pings in
//! between, §5.5), encoded by one endpoint and decoded by the other from
//! arbitrary reads, arrives as the original message, in order, in both
//! directions.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use wsx_proto::connection::MessageKind;
use wsx_proto::{Config, Connection, Event, Message, Negotiated, Role, Transmit};

#[derive(Debug, Arbitrary)]
enum Payload {
    Text(String),
    Binary(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Sent {
    payload: Payload,
    /// Fragment sizes, used in turn (0 makes an empty fragment).
    cuts: Vec<u8>,
    /// A Ping goes out after the fragment with this index.
    ping_after: Option<u8>,
}

#[derive(Debug, Arbitrary)]
struct Input {
    from_client: bool,
    messages: Vec<Sent>,
    read_seed: u8,
}

fuzz_target!(|input: Input| {
    let (from, to) = if input.from_client { (Role::Client, Role::Server) } else { (Role::Server, Role::Client) };
    let config = Config::default().max_fragments(usize::MAX);
    let mut sender = Connection::new(Negotiated::new(from), config.clone(), wsx_fuzz::rng());
    let mut receiver = Connection::new(Negotiated::new(to), config, wsx_fuzz::rng());
    let mut expected = Vec::new();
    for sent in &input.messages {
        let (kind, bytes) = match &sent.payload {
            Payload::Text(text) => (MessageKind::Text, text.as_bytes()),
            Payload::Binary(data) => (MessageKind::Binary, data.as_slice()),
        };
        let mut offset = 0;
        let mut index = 0usize;
        loop {
            let cut = sent.cuts.get(index % sent.cuts.len().max(1)).map_or(bytes.len(), |&c| usize::from(c));
            let end = if sent.cuts.is_empty() { bytes.len() } else { (offset + cut).min(bytes.len()) };
            let last = end == bytes.len() || index >= 4096;
            let end = if last { bytes.len() } else { end };
            sender.send_fragment(kind, wsx_fuzz::bytes(&bytes[offset..end]), last).expect("valid fragment");
            if sent.ping_after == Some(index as u8) && !last {
                sender.send_ping(wsx_fuzz::bytes(&[index as u8])).expect("ping");
                expected.push(Message::Ping(wsx_fuzz::bytes(&[index as u8])));
            }
            offset = end;
            index += 1;
            if last {
                break;
            }
        }
        expected.push(match &sent.payload {
            Payload::Text(text) => Message::text(text.clone()),
            Payload::Binary(data) => Message::binary(data.clone()),
        });
    }
    let mut wire = Vec::new();
    while let Some(transmit) = sender.poll_transmit() {
        if let Transmit::Bytes(bytes) = transmit {
            wire.extend_from_slice(&bytes);
        }
    }
    let mut received = Vec::new();
    for chunk in wsx_fuzz::chunks(input.read_seed, &wire) {
        receiver.receive(chunk);
        while let Some(event) = receiver.poll_event() {
            match event {
                Event::Message(message) => received.push(message),
                Event::Closed(outcome) => panic!("receiver closed: {outcome:?}"),
            }
        }
    }
    assert_eq!(received, expected);
});
