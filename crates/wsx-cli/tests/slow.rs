//! Slow-consumer policies per room (`wsx serve --room-policy`) under a
//! deliberately slow reader, against the real binary: a conflating room
//! keeps only the newest message per key for a member that fell behind,
//! a drop-oldest room drops the oldest, both keep the member and the order
//! and count what they dropped in `GET /metrics` (Prometheus text).

#![allow(clippy::unwrap_used, reason = "tests: a failure is the test's failure")]

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};

use serde_json::json;
use support::{Node, Ws, join, next_json, next_of};
use wsx::Message;

const COUNT: usize = 1_200;
const KEYS: usize = 4;

fn node() -> Node {
    Node::start(&[
        "--history",
        "0",
        "--room-queue",
        "8",
        "--room-policy",
        "ticker.*=conflate",
        "--room-policy",
        "feed=drop-oldest",
        "--close-timeout",
        "300",
    ])
}

/// `GET /metrics`, as text.
fn get_metrics(node: &Node) -> String {
    let mut tcp = std::net::TcpStream::connect(&node.address).unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("text/plain; version=0.0.4"), "{response}");
    response
}

fn sample(metrics: &str, series: &str) -> u64 {
    let line =
        metrics.lines().find(|line| line.starts_with(series)).unwrap_or_else(|| panic!("{series} in\n{metrics}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

/// A sender, a member that keeps up and one that stops reading after its
/// welcome; the sender goes at the reading member's pace (at most 4
/// ahead of it, within its queue of 8). Returns the
/// slow member, which has not read anything since.
async fn fill(node: &Node, room: &str) -> Ws {
    let mut sender = join(&node.address, room, "sender").await;
    next_of(&mut sender, "welcome").await;
    let mut fast = join(&node.address, room, "fast").await;
    next_of(&mut fast, "welcome").await;
    let mut slow = join(&node.address, room, "slow").await;
    next_of(&mut slow, "welcome").await;
    next_of(&mut fast, "join").await;
    let payload = "x".repeat(16 * 1024);
    // The newest index the fast member has seen (conflation may skip some
    // for it too: a queued value is replaced whenever a newer one comes).
    let mut newest = None;
    for i in 0..COUNT {
        let key = format!("k{}", i % KEYS);
        let text = json!({"type": "message", "key": key, "text": format!("{key}:{i}:{payload}")});
        sender.send(Message::text(text.to_string())).await.unwrap();
        while newest.is_none_or(|n| n + 4 < i) || (i + 1 == COUNT && newest != Some(i)) {
            let message = next_of(&mut fast, "message").await;
            newest = message["text"].as_str().unwrap().split(':').nth(1).unwrap().parse().ok();
        }
    }
    slow
}

/// Reads `ws` until `done` says so; returns (key, index, offset) of each message.
async fn drain(ws: &mut Ws, mut done: impl FnMut(&str, usize) -> bool) -> Vec<(String, usize, u64)> {
    let mut seen = Vec::new();
    loop {
        let message = next_json(ws).await;
        assert_ne!(message["type"], "gap", "{message}");
        if message["type"] != "message" {
            continue;
        }
        let mut parts = message["text"].as_str().unwrap().splitn(3, ':');
        let (key, index) = (parts.next().unwrap().to_owned(), parts.next().unwrap().parse().unwrap());
        assert_eq!(message["key"].as_str(), Some(key.as_str()));
        seen.push((key.clone(), index, message["offset"].as_u64().unwrap()));
        if done(&key, index) {
            return seen;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflation_keeps_the_newest_per_key_for_a_slow_reader() {
    let node = node();
    let mut slow = fill(&node, "ticker.btc").await;
    let last: HashMap<String, usize> = (COUNT - KEYS..COUNT).map(|i| (format!("k{}", i % KEYS), i)).collect();
    let mut finals = 0;
    let seen = drain(&mut slow, |key, index| {
        finals += usize::from(last.get(key) == Some(&index));
        finals == KEYS
    })
    .await;
    assert!(seen.len() < COUNT, "nothing was conflated ({} of {COUNT})", seen.len());
    // In order (offsets rise), never twice, and per key the values only move forward.
    assert!(seen.windows(2).all(|w| w[0].2 < w[1].2), "offsets rise");
    let mut newest: HashMap<&str, usize> = HashMap::new();
    for (key, index, offset) in &seen {
        assert_eq!(*offset, *index as u64 + 1, "offset and index agree");
        assert!(newest.insert(key, *index).is_none_or(|before| before < *index), "{key} went back");
    }
    // Each key's newest value arrived.
    for (key, index) in &last {
        assert_eq!(newest.get(key.as_str()), Some(index), "{key}");
    }
    let metrics = get_metrics(&node);
    let conflated = sample(&metrics, "wsx_rooms_dropped_total{policy=\"conflate\"}");
    assert!(conflated as usize >= COUNT - seen.len(), "{conflated} conflated; {} missing", COUNT - seen.len());
    assert_eq!(sample(&metrics, "wsx_rooms_closed_total{reason=\"too_slow\"}"), 0);
    assert_eq!(node.log_count("too slow"), 0, "the slow member stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_oldest_keeps_a_slow_reader_with_the_newest() {
    let node = node();
    let mut slow = fill(&node, "feed").await;
    let seen = drain(&mut slow, |_, index| index == COUNT - 1).await;
    assert!(seen.len() < COUNT, "nothing was dropped ({} of {COUNT})", seen.len());
    assert!(seen.windows(2).all(|w| w[0].2 < w[1].2), "offsets rise");
    assert_eq!(seen.last().map(|s| s.1), Some(COUNT - 1), "the newest arrived");
    let metrics = get_metrics(&node);
    let dropped = sample(&metrics, "wsx_rooms_dropped_total{policy=\"drop-oldest\"}");
    assert_eq!(dropped as usize, COUNT - seen.len(), "each message the slow member missed is counted once");
    assert!(sample(&metrics, "wsx_rooms_deliveries_total") >= 2 * COUNT as u64);
    // The sender and the fast member have gone (once the server has seen
    // them go); the slow one is still here.
    let deadline = std::time::Instant::now() + support::WAIT;
    while sample(&get_metrics(&node), "wsx_websockets_open{transport=\"http/1.1\"}") != 1 {
        assert!(std::time::Instant::now() < deadline, "{}", get_metrics(&node));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(sample(&metrics, "wsx_websockets_total{transport=\"http/1.1\"}"), 3);
    assert_eq!(sample(&metrics, "wsx_rooms_broker_up{engine=\"local\"}"), 1);
}
