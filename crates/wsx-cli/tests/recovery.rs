//! Recovery across nodes: two `wsx serve --redis` nodes on a real
//! `redis-server`; one node is killed with SIGKILL mid-stream, its members
//! reconnect to the other with the epoch and offset they last saw, and get
//! every message published meanwhile exactly once, in order, per room — or
//! an explicit gap when the room's history is too short.

#![allow(clippy::unwrap_used, reason = "tests: a failure is the test's failure")]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::{Node, Redis, Ws, join, next_json, next_of, text};

const CONNECTED: &str = "redis connected";

async fn node(redis: &Redis, history: &str) -> Node {
    let url = redis.url();
    let node = Node::start(&["--redis", &url, "--history", history, "--room-queue", "100000"]);
    node.wait_log(CONNECTED, 1).await;
    node
}

/// A member reading one room: the texts it got and where it stands.
struct Reader {
    room: String,
    epoch: String,
    offset: u64,
    texts: Vec<String>,
}

impl Reader {
    async fn join(address: &str, room: &str) -> (Self, Ws) {
        let mut ws = join(address, room, "reader").await;
        let welcome = next_of(&mut ws, "welcome").await;
        let reader = Self {
            room: room.to_owned(),
            epoch: welcome["epoch"].as_str().unwrap().to_owned(),
            offset: welcome["offset"].as_u64().unwrap(),
            texts: Vec::new(),
        };
        (reader, ws)
    }

    /// Reconnects to `address` where it left off; returns the welcome.
    async fn resume(&mut self, address: &str) -> (serde_json::Value, Ws) {
        let query = format!("reader&epoch={}&offset={}", self.epoch, self.offset);
        let mut ws = join(address, &self.room, &query).await;
        let welcome = next_of(&mut ws, "welcome").await;
        (welcome, ws)
    }

    /// Reads messages until it has `count` texts; offsets must follow on.
    async fn read_until(&mut self, ws: &mut Ws, count: usize) {
        while self.texts.len() < count {
            let message = next_json(ws).await;
            match message["type"].as_str() {
                Some("message") => self.take(&message),
                Some("gap") => panic!("{}: unexpected gap {message}", self.room),
                _ => {}
            }
        }
    }

    fn take(&mut self, message: &serde_json::Value) {
        let offset = message["offset"].as_u64().unwrap();
        assert_eq!(offset, self.offset + 1, "{}: offsets follow on", self.room);
        self.offset = offset;
        self.texts.push(message["text"].as_str().unwrap().to_owned());
    }
}

fn expected(room: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{room}:{i}")).collect()
}

/// Publishes `count` numbered messages to each room from node `address`,
/// paced so the stream is still going when the test kills a node.
fn publish(address: String, rooms: Vec<String>, count: usize, sent: Arc<AtomicUsize>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut publishers = Vec::new();
        for room in &rooms {
            let mut ws = join(&address, room, "publisher").await;
            next_of(&mut ws, "welcome").await;
            // Read (and drop) what the room sends it, as a real client does.
            let (mut incoming, outgoing) = ws.split();
            tokio::spawn(async move { while let Some(Ok(_)) = incoming.recv().await {} });
            publishers.push(outgoing);
        }
        for i in 0..count {
            for (room, ws) in rooms.iter().zip(&mut publishers) {
                ws.send(text(&format!("{room}:{i}"))).await.unwrap();
            }
            sent.store(i + 1, Ordering::Release);
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_a_node_and_its_members_resume_on_the_other_exactly_once_in_order() {
    const COUNT: usize = 400;
    let redis = Redis::start();
    let mut a = node(&redis, "1000").await;
    let b = node(&redis, "1000").await;
    let rooms = ["r1".to_owned(), "r2".to_owned()];
    let mut on_a = Vec::new();
    let mut on_b = Vec::new();
    for room in &rooms {
        on_a.push(Reader::join(&a.address, room).await);
        on_b.push(Reader::join(&b.address, room).await);
    }
    let sent = Arc::new(AtomicUsize::new(0));
    let publisher = publish(b.address.clone(), rooms.to_vec(), COUNT, sent.clone());
    for (reader, ws) in &mut on_a {
        reader.read_until(ws, 50).await;
    }
    a.stop();
    let at_kill = sent.load(Ordering::Acquire);
    assert!(at_kill < COUNT, "the stream was still going when the node died ({at_kill} of {COUNT})");
    for (reader, ws) in &mut on_a {
        let (welcome, mut resumed) = reader.resume(&b.address).await;
        assert_eq!(welcome["epoch"].as_str(), Some(reader.epoch.as_str()), "same room, same epoch on the other node");
        reader.read_until(&mut resumed, COUNT).await;
        *ws = resumed;
    }
    for (reader, ws) in &mut on_b {
        reader.read_until(ws, COUNT).await;
    }
    publisher.await.unwrap();
    for (reader, _) in on_a.iter().chain(&on_b) {
        assert_eq!(reader.texts, expected(&reader.room, COUNT), "{}: every message once, in order", reader.room);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_resuming_past_the_history_is_told_the_gap() {
    const HISTORY: usize = 5;
    let redis = Redis::start();
    let mut a = node(&redis, &HISTORY.to_string()).await;
    let b = node(&redis, &HISTORY.to_string()).await;
    let (mut reader, mut ws) = Reader::join(&a.address, "short").await;
    let sent = Arc::new(AtomicUsize::new(0));
    publish(b.address.clone(), vec!["short".to_owned()], 10, sent.clone()).await.unwrap();
    reader.read_until(&mut ws, 10).await;
    a.stop();
    drop(ws);
    // 30 more while the member is away: only the last 5 are kept. A
    // second member on B sees them all go by (the sender never gets its
    // own back).
    let mut probe = join(&b.address, "short", "probe").await;
    next_of(&mut probe, "welcome").await;
    let mut publisher = join(&b.address, "short", "publisher").await;
    next_of(&mut publisher, "welcome").await;
    for i in 10..40 {
        publisher.send(text(&format!("short:{i}"))).await.unwrap();
    }
    // Unread messages wait on the publisher's side: write at once.
    publisher.flush().await.unwrap();
    while next_of(&mut probe, "message").await["offset"] != 40 {}
    let (welcome, mut resumed) = reader.resume(&b.address).await;
    assert_eq!(welcome["history"].as_u64(), Some(HISTORY as u64));
    let gap = next_json(&mut resumed).await;
    assert_eq!(gap["type"], "gap", "{gap}");
    assert_eq!((gap["from"].as_u64(), gap["to"].as_u64()), (Some(11), Some(35)));
    reader.offset = 35;
    reader.read_until(&mut resumed, 15).await;
    assert_eq!(&reader.texts[10..], &expected("short", 40)[35..]);
}
