//! The rooms in memory: history, offsets, resume, the slow-member policy.

#![allow(clippy::unwrap_used, reason = "tests: a failure is the test's failure")]

use super::*;
use crate::broker::local::HISTORY_BYTES;
use crate::hub::Taken;

fn rooms(history: usize, queue: usize) -> Rooms {
    Rooms::new(RoomsConfig::default().history(history).queue(queue))
}

fn texts(greeting: &[PreparedMessage]) -> Vec<serde_json::Value> {
    greeting.iter().map(|m| serde_json::from_slice(&m.payload()).unwrap()).collect()
}

async fn drain(membership: &Membership) -> Vec<serde_json::Value> {
    let mut batch = Vec::new();
    match tokio::time::timeout(std::time::Duration::from_millis(50), membership.outbox.take(usize::MAX, &mut batch))
        .await
    {
        Ok(Taken::Messages) => batch.iter().map(|o| serde_json::from_slice(&o.message.payload()).unwrap()).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn room_names() {
    assert!(valid_room_name("lobby"));
    assert!(valid_room_name("a-b_c.d9"));
    assert!(!valid_room_name(""));
    assert!(!valid_room_name("a/b"));
    assert!(!valid_room_name(&"x".repeat(65)));
}

#[test]
fn join_params() {
    let name = |q: &str| JoinParams::from_query(Some(q)).name;
    assert_eq!(name("name=Ada%20L"), Some("Ada L".to_owned()));
    assert_eq!(name("x=1&name=%0Abob"), Some("bob".to_owned()));
    assert_eq!(name("name="), None);
    assert_eq!(JoinParams::from_query(None), JoinParams::default());
    assert_eq!(name(&format!("name={}", "é".repeat(40))).map(|n| n.chars().count()), Some(32));
    let resume = |q: &str| JoinParams::from_query(Some(q)).resume;
    assert_eq!(resume("epoch=00000000000000ff&offset=7"), Some(Resume { epoch: 255, offset: 7 }));
    assert_eq!(resume("epoch=zz&offset=7"), None);
    assert_eq!(resume("offset=7"), None);
}

#[tokio::test]
async fn history_is_capped_and_sent_in_order_with_offsets() {
    let rooms = rooms(2, 8);
    let alice = rooms.join("r", Identity::guest(Some("alice".into())), None).await.unwrap();
    for text in ["one", "two", "three"] {
        rooms.send_text(&alice, text, None).await.unwrap();
    }
    let bob = rooms.join("r", Identity::guest(Some("bob".into())), None).await.unwrap();
    let greeting = texts(&bob.greeting);
    assert_eq!(greeting.len(), 3);
    assert_eq!((greeting[0]["type"].as_str(), greeting[0]["history"].as_u64()), (Some("welcome"), Some(2)));
    assert_eq!(greeting[0]["offset"], 3);
    assert_eq!((greeting[1]["text"].as_str(), greeting[1]["offset"].as_u64()), (Some("two"), Some(2)));
    assert_eq!((greeting[2]["text"].as_str(), greeting[2]["offset"].as_u64()), (Some("three"), Some(3)));
}

#[tokio::test]
async fn history_is_capped_in_bytes_too() {
    let rooms = rooms(50, 8);
    let alice = rooms.join("r", Identity::guest(None), None).await.unwrap();
    for _ in 0..5 {
        rooms.send_binary(&alice, Bytes::from(vec![0u8; HISTORY_BYTES / 3])).await.unwrap();
    }
    let bob = rooms.join("r", Identity::guest(None), None).await.unwrap();
    // Welcome plus the three newest that fit in the byte budget.
    assert_eq!(bob.greeting.len(), 1 + 3);
}

#[tokio::test]
async fn zero_history_keeps_nothing() {
    let rooms = rooms(0, 8);
    let alice = rooms.join("r", Identity::guest(None), None).await.unwrap();
    rooms.send_text(&alice, "gone", None).await.unwrap();
    let bob = rooms.join("r", Identity::guest(None), None).await.unwrap();
    assert_eq!(bob.greeting.len(), 1);
}

#[tokio::test]
async fn a_resumed_member_gets_exactly_what_it_missed_or_a_gap() {
    let rooms = rooms(3, 64);
    let alice = rooms.join("r", Identity::guest(None), None).await.unwrap();
    let bob = rooms.join("r", Identity::guest(None), None).await.unwrap();
    let epoch = u64::from_str_radix(texts(&bob.greeting)[0]["epoch"].as_str().unwrap(), 16).unwrap();
    rooms.send_text(&alice, "1", None).await.unwrap();
    let seen = drain(&bob).await;
    assert_eq!(seen.iter().filter(|m| m["type"] == "message").count(), 1);
    rooms.leave(bob).await;
    for text in ["2", "3"] {
        rooms.send_text(&alice, text, None).await.unwrap();
    }
    let bob = rooms.join("r", Identity::guest(None), Some(Resume { epoch, offset: 1 })).await.unwrap();
    let greeting = texts(&bob.greeting);
    assert_eq!(greeting[0]["history"], 2);
    let missed: Vec<_> = greeting[1..].iter().map(|m| (m["offset"].as_u64().unwrap(), m["text"].clone())).collect();
    assert_eq!(missed, vec![(2, "2".into()), (3, "3".into())]);
    // Later, further back than the history holds: the gap first.
    for text in ["4", "5", "6"] {
        rooms.send_text(&alice, text, None).await.unwrap();
    }
    let carol = rooms.join("r", Identity::guest(None), Some(Resume { epoch, offset: 1 })).await.unwrap();
    let greeting = texts(&carol.greeting);
    assert_eq!(
        (greeting[1]["type"].as_str(), greeting[1]["from"].as_u64(), greeting[1]["to"].as_u64()),
        (Some("gap"), Some(2), Some(3))
    );
    let offsets: Vec<u64> = greeting[2..].iter().map(|m| m["offset"].as_u64().unwrap()).collect();
    assert_eq!(offsets, vec![4, 5, 6]);
    // Another epoch: everything after the offset is gone.
    let dave = rooms.join("r", Identity::guest(None), Some(Resume { epoch: epoch ^ 1, offset: 5 })).await.unwrap();
    let greeting = texts(&dave.greeting);
    assert_eq!((greeting[1]["type"].as_str(), greeting[1]["from"].as_u64()), (Some("gap"), Some(6)));
    assert!(greeting[1].get("to").is_none());
}

#[tokio::test]
async fn a_full_queue_drops_the_member_only() {
    let rooms = rooms(0, 2);
    let sender = rooms.join("r", Identity::guest(None), None).await.unwrap();
    let slow = rooms.join("r", Identity::guest(None), None).await.unwrap();
    let fast = rooms.join("r", Identity::guest(None), None).await.unwrap();
    drain(&sender).await;
    drain(&slow).await;
    drain(&fast).await;
    for i in 0..5 {
        rooms.send_text(&sender, &i.to_string(), None).await.unwrap();
        drain(&fast).await;
    }
    assert!(matches!(slow.outbox.take(8, &mut Vec::new()).await, Taken::Kicked));
    assert_eq!(rooms.hub.members("r").len(), 2);
}

#[tokio::test]
async fn raw_rooms_relay_as_sent_without_greeting_or_presence() {
    let rooms = Rooms::new(RoomsConfig::default().history(0).protocol(Protocol::Raw));
    let a = rooms.join("broadcast", Identity::guest(None), None).await.unwrap();
    let b = rooms.join("broadcast", Identity::guest(None), None).await.unwrap();
    assert!(a.greeting.is_empty() && b.greeting.is_empty());
    rooms.send_text(&a, "plain", None).await.unwrap();
    let mut batch = Vec::new();
    match tokio::time::timeout(std::time::Duration::from_millis(50), b.outbox.take(8, &mut batch)).await {
        Ok(Taken::Messages) => {
            assert_eq!(batch.len(), 1);
            assert_eq!(&batch[0].message.payload()[..], b"plain");
        }
        other => panic!("expected the message, got {other:?}"),
    }
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(50), a.outbox.take(8, &mut Vec::new())).await.is_err()
    );
}

/// The size of the future `f` returns, without calling it.
fn future_size<A, F: std::future::Future>(_: impl Fn(A) -> F) -> usize {
    std::mem::size_of::<F>()
}

/// A member's future lives as long as the member: it holds the socket
/// once (not once per layer of `async fn` it passes through), and the
/// handshake's steps are gone once the member is served.
#[test]
fn a_member_holds_its_socket_once() {
    type T = wsx::Transport;
    let socket = std::mem::size_of::<WebSocket<T>>();
    let accept = future_size(|(rooms, incoming): (&'static Rooms, wsx::IncomingRequest<T>)| {
        rooms.accept(incoming, "lobby", Ok(Identity::guest(None)), None)
    });
    let serve =
        future_size(|(rooms, ws, membership): (&'static Rooms, WebSocket<T>, Membership)| rooms.serve(ws, membership));
    assert!(serve <= socket + 1024, "serving takes {serve} bytes beside a {socket}-byte socket");
    assert!(accept <= serve + 512, "accepting takes {accept} bytes, serving {serve}");
}
