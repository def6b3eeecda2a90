//! Rooms across two `wsx serve` nodes through a real `redis-server`
//! (Debian package `redis-server`; each test starts its own on a free
//! loopback port): delivery and presence across nodes, history kept in
//! Redis, a soak with no loss, duplication or reordering per sender, and
//! Redis going away and coming back.

#![allow(clippy::unwrap_used, reason = "test helpers: a failure is the test's failure")]

mod support;

use std::collections::{HashMap, HashSet};

use serde_json::Value;
use support::{Node, Redis, Ws, join, next, next_json, next_of, text};
use wsx::Message;

const CONNECTED: &str = "redis connected";
const LOST: &str = "redis connection lost";
/// The soak checks delivery, not slowness: queues deep enough for any lag.
const SOAK_ARGS: &[&str] = &["--history", "0", "--room-queue", "100000"];

async fn node(redis: &Redis, extra: &[&str]) -> Node {
    let url = redis.url();
    let mut args = vec!["--redis", url.as_str()];
    args.extend_from_slice(extra);
    let node = Node::start(&args);
    node.wait_log(CONNECTED, 1).await;
    node
}

/// Joins, then reads until this member knows all of `names` are in the room
/// (from the welcome's member list and join events).
async fn join_and_wait(address: &str, room: &str, name: &str) -> (Ws, HashSet<String>) {
    let mut ws = join(address, room, name).await;
    let welcome = next_of(&mut ws, "welcome").await;
    let known = welcome["members"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap().to_owned()).collect();
    (ws, known)
}

async fn wait_for_members(ws: &mut Ws, known: &mut HashSet<String>, all: &[String]) {
    while !all.iter().all(|name| known.contains(name)) {
        let event = next_json(ws).await;
        if event["type"] == "join" {
            known.insert(event["name"].as_str().unwrap().to_owned());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_presence_and_history_cross_nodes_once() {
    let redis = Redis::start();
    let a = node(&redis, &["--history", "10"]).await;
    let b = node(&redis, &["--history", "10"]).await;

    let (mut alice, _) = join_and_wait(&a.address, "x", "alice").await;
    let (mut bob, known) = join_and_wait(&b.address, "x", "bob").await;
    assert!(known.contains("alice"), "the welcome lists members of every node: {known:?}");
    let joined = next_of(&mut alice, "join").await;
    assert_eq!(joined["name"], "bob");

    alice.send(text("from a")).await.unwrap();
    alice.send(Message::binary(&[9u8, 8, 7][..])).await.unwrap();
    let message = next_json(&mut bob).await;
    assert_eq!((message["from"].as_str(), message["text"].as_str()), (Some("alice"), Some("from a")));
    assert_eq!(next(&mut bob).await, Message::binary(&[9u8, 8, 7][..]));
    bob.send(text("from b")).await.unwrap();
    // Alice's next is Bob's message: her own never came back through Redis.
    assert_eq!(next_json(&mut alice).await["text"], "from b");

    // History lives in Redis: a member joining on node B gets what was said on A.
    let mut carol = join(&b.address, "x", "carol").await;
    let welcome = next_json(&mut carol).await;
    assert_eq!(welcome["history"], 3);
    assert_eq!(next_json(&mut carol).await["text"], "from a");
    assert_eq!(next(&mut carol).await, Message::binary(&[9u8, 8, 7][..]));
    assert_eq!(next_json(&mut carol).await["text"], "from b");

    // Leaving on B is seen on A.
    bob.close(wsx::CloseCode::NORMAL, "").await.unwrap();
    loop {
        let event = next_json(&mut alice).await;
        if event["type"] == "leave" {
            assert_eq!(event["name"], "bob");
            break;
        }
    }
    // Each node publishes each message once; no node delivered one twice.
    assert_eq!(a.log_count("malformed"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_across_nodes_loses_duplicates_and_reorders_nothing() {
    const PER_NODE: usize = 3;
    const EACH: usize = 400;
    let redis = Redis::start();
    let nodes = [node(&redis, SOAK_ARGS).await, node(&redis, SOAK_ARGS).await];
    let names: Vec<String> = (0..2 * PER_NODE).map(|i| format!("m{i}")).collect();
    let mut members = Vec::new();
    for (i, name) in names.iter().enumerate() {
        members.push(join_and_wait(&nodes[i % 2].address, "soak", name).await);
    }
    for (ws, known) in &mut members {
        wait_for_members(ws, known, &names).await;
    }
    let tasks: Vec<_> = members
        .into_iter()
        .enumerate()
        .map(|(me, (ws, _))| {
            tokio::spawn(async move {
                let (mut reader, mut writer) = ws.split();
                let send = tokio::spawn(async move {
                    for seq in 0..EACH {
                        writer.send(text(&format!("{me}:{seq}"))).await.unwrap();
                    }
                    writer
                });
                // From each other member: 0, 1, 2 … EACH-1, nothing else.
                let mut next_seq: HashMap<usize, usize> = HashMap::new();
                let mut total = 0;
                while total < (2 * PER_NODE - 1) * EACH {
                    let message = match tokio::time::timeout(support::WAIT, reader.recv()).await {
                        Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str::<Value>(&text).unwrap(),
                        other => panic!("member {me}: {other:?} after {total}"),
                    };
                    if message["type"] != "message" {
                        continue;
                    }
                    let (from, seq) = message["text"].as_str().unwrap().split_once(':').unwrap();
                    let (from, seq): (usize, usize) = (from.parse().unwrap(), seq.parse().unwrap());
                    assert_ne!(from, me, "member {me} got its own message back");
                    let expected = next_seq.entry(from).or_default();
                    assert_eq!(seq, *expected, "member {me} from {from}: lost, duplicated or reordered");
                    *expected += 1;
                    total += 1;
                }
                send.await.unwrap();
                next_seq
            })
        })
        .collect();
    for task in tasks {
        let counts = task.await.unwrap();
        assert_eq!(counts.len(), 2 * PER_NODE - 1);
        assert!(counts.values().all(|&n| n == EACH));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_survive_redis_going_away_refuse_meanwhile_and_resubscribe() {
    let mut redis = Redis::start();
    let a = node(&redis, &[]).await;
    let b = node(&redis, &[]).await;
    let names = ["alice".to_owned(), "carol".to_owned(), "bob".to_owned()];
    let (mut alice, mut known_a) = join_and_wait(&a.address, "r", "alice").await;
    let (mut carol, mut known_c) = join_and_wait(&a.address, "r", "carol").await;
    let (mut bob, mut known_b) = join_and_wait(&b.address, "r", "bob").await;
    wait_for_members(&mut alice, &mut known_a, &names).await;
    wait_for_members(&mut carol, &mut known_c, &names).await;
    wait_for_members(&mut bob, &mut known_b, &names).await;
    alice.send(text("before")).await.unwrap();
    assert_eq!(next_of(&mut bob, "message").await["text"], "before");
    assert_eq!(next_of(&mut carol, "message").await["text"], "before");

    redis.stop();
    a.wait_log(LOST, 1).await;
    b.wait_log(LOST, 1).await;
    // Redis orders every room: without it a message is refused to its
    // sender, never delivered to some members only.
    alice.send(text("during")).await.unwrap();
    let refused = next_of(&mut alice, "error").await;
    assert_eq!(refused["code"], "unavailable");
    assert!(refused["text"].as_str().unwrap().starts_with("not delivered"), "{refused}");

    redis.restart();
    a.wait_log(CONNECTED, 2).await;
    b.wait_log(CONNECTED, 2).await;
    alice.send(text("after")).await.unwrap();
    // The restarted Redis lost the room: a new epoch, told as a gap, then
    // "after" — and never "during".
    for member in [&mut bob, &mut carol] {
        let gap = next_json(member).await;
        assert_eq!((gap["type"].as_str(), gap["from"].as_u64()), (Some("gap"), Some(2)), "{gap}");
        let after = next_json(member).await;
        assert_eq!((after["text"].as_str(), after["offset"].as_u64()), (Some("after"), Some(1)), "{after}");
    }
    bob.send(text("back")).await.unwrap();
    assert_eq!(next_of(&mut alice, "message").await["text"], "back");
    assert_eq!(next_of(&mut carol, "message").await["text"], "back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_stream_each_message_reaches_everyone_once_or_is_refused() {
    const COUNT: usize = 600;
    let mut redis = Redis::start();
    let a = node(&redis, &["--history", "0"]).await;
    let b = node(&redis, &["--history", "0"]).await;
    let names = ["publisher".to_owned(), "ra".to_owned(), "rb".to_owned()];
    let (mut publisher, mut known_p) = join_and_wait(&a.address, "mid", "publisher").await;
    let (mut ra, mut known_a) = join_and_wait(&a.address, "mid", "ra").await;
    let (mut rb, mut known_b) = join_and_wait(&b.address, "mid", "rb").await;
    wait_for_members(&mut publisher, &mut known_p, &names).await;
    wait_for_members(&mut ra, &mut known_a, &names).await;
    wait_for_members(&mut rb, &mut known_b, &names).await;

    // The publisher counts the refusals it is told of, until "done" (sent
    // by a reader once it has everything) shows no more can come.
    let (mut incoming, mut outgoing) = publisher.split();
    let refusals = tokio::spawn(async move {
        let mut refused = 0;
        loop {
            let message = match tokio::time::timeout(support::WAIT, incoming.recv()).await {
                Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str::<Value>(&text).unwrap(),
                Ok(Some(Ok(_))) => continue,
                other => panic!("publisher: {other:?}"),
            };
            match message["type"].as_str() {
                Some("error") => {
                    assert_eq!(message["code"], "unavailable", "{message}");
                    refused += 1;
                }
                Some("message") if message["text"] == "done" => return refused,
                _ => {}
            }
        }
    });
    let sender = tokio::spawn(async move {
        for i in 0..COUNT {
            outgoing.send(text(&i.to_string())).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        outgoing
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    redis.stop();
    a.wait_log(LOST, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    redis.restart();
    let mut outgoing = sender.await.unwrap();
    // The link comes back by itself; then an end marker goes through.
    a.wait_log(CONNECTED, 2).await;
    b.wait_log(CONNECTED, 2).await;
    outgoing.send(text("end")).await.unwrap();

    // Each reader: what it received, in order, no gap but the epoch's.
    let mut received = Vec::new();
    for reader in [&mut ra, &mut rb] {
        let mut got: Vec<usize> = Vec::new();
        loop {
            let message = next_json(reader).await;
            match message["type"].as_str() {
                Some("message") if message["text"] == "end" => break,
                Some("message") => got.push(message["text"].as_str().unwrap().parse().unwrap()),
                _ => {}
            }
        }
        received.push(got);
    }
    ra.send(text("done")).await.unwrap();
    let refused = refusals.await.unwrap();
    assert_eq!(received[0], received[1], "both nodes delivered the same messages");
    let got = &received[0];
    assert!(got.windows(2).all(|w| w[0] < w[1]), "in order, never twice: {got:?}");
    assert_eq!(got.len() + refused, COUNT, "every message delivered or refused ({} + {refused})", got.len());
    assert!(refused > 0, "the restart fell mid-stream");
    assert!(got.last().is_some_and(|&last| last + refused >= COUNT - 1), "delivery resumed after the restart");
}
