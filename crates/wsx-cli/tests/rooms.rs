//! `wsx serve` rooms on one node, end to end over TCP: the envelope,
//! presence, history, per-sender order, binary relay, a member that stops
//! reading, and the demo page.

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use support::{Node, join, next, next_json, next_of, text};
use wsx::{CloseCode, Message};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_talk_see_presence_and_never_get_their_own() {
    let node = Node::start(&[]);
    let mut alice = join(&node.address, "lobby", "alice").await;
    let welcome = next_json(&mut alice).await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["room"], "lobby");
    assert_eq!(welcome["you"]["name"], "alice");
    assert_eq!(welcome["members"].as_array().unwrap().len(), 1);

    let mut bob = join(&node.address, "lobby", "bob%20b").await;
    let welcome = next_json(&mut bob).await;
    let names: Vec<&str> = welcome["members"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"alice") && names.contains(&"bob b"));
    let joined = next_json(&mut alice).await;
    assert_eq!((joined["type"].as_str(), joined["name"].as_str()), (Some("join"), Some("bob b")));
    let bob_id = joined["id"].clone();

    alice.send(text("hello \"bob\" ✓")).await.unwrap();
    alice.send(Message::text("plain line")).await.unwrap();
    alice.send(Message::binary(vec![0u8, 159, 255])).await.unwrap();
    let first = next_json(&mut bob).await;
    assert_eq!(first["type"], "message");
    assert_eq!(first["from"], "alice");
    assert_eq!(first["room"], "lobby");
    assert_eq!(first["text"], "hello \"bob\" ✓");
    assert!(first["ts"].as_u64().unwrap() > 1_600_000_000_000);
    assert_eq!(next_json(&mut bob).await["text"], "plain line");
    assert_eq!(next(&mut bob).await, Message::binary(vec![0u8, 159, 255]));

    // Bob answers; Alice's next message is his, not an echo of hers.
    bob.send(text("hi alice")).await.unwrap();
    let reply = next_json(&mut alice).await;
    assert_eq!((reply["from"].as_str(), reply["text"].as_str()), (Some("bob b"), Some("hi alice")));

    bob.close(CloseCode::NORMAL, "bye").await.unwrap();
    let left = next_json(&mut alice).await;
    assert_eq!(left["type"], "leave");
    assert_eq!(left["id"], bob_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_are_separate() {
    let node = Node::start(&[]);
    let mut a = join(&node.address, "one", "a").await;
    let mut b = join(&node.address, "two", "b").await;
    next_of(&mut a, "welcome").await;
    next_of(&mut b, "welcome").await;
    let mut a2 = join(&node.address, "one", "a2").await;
    next_of(&mut a2, "welcome").await;
    next_of(&mut a, "join").await;
    b.send(text("only in two")).await.unwrap();
    a2.send(text("only in one")).await.unwrap();
    assert_eq!(next_of(&mut a, "message").await["text"], "only in one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_holds_the_last_n_in_order() {
    let node = Node::start(&["--history", "3"]);
    let mut alice = join(&node.address, "h", "alice").await;
    next_of(&mut alice, "welcome").await;
    let mut observer = join(&node.address, "h", "observer").await;
    next_of(&mut observer, "welcome").await;
    for i in 0..5 {
        alice.send(text(&format!("m{i}"))).await.unwrap();
    }
    alice.send(Message::binary(&b"\x01\x02"[..])).await.unwrap();
    // Once the observer has them all, the room has them all.
    for i in 0..5 {
        assert_eq!(next_of(&mut observer, "message").await["text"], format!("m{i}"));
    }
    assert_eq!(next(&mut observer).await, Message::binary(&b"\x01\x02"[..]));
    // A member who joins later receives the room's last three, oldest first.
    let mut late = join(&node.address, "h", "late").await;
    let welcome = next_json(&mut late).await;
    assert_eq!(welcome["history"], 3);
    assert_eq!(next_json(&mut late).await["text"], "m3");
    assert_eq!(next_json(&mut late).await["text"], "m4");
    assert_eq!(next(&mut late).await, Message::binary(&b"\x01\x02"[..]));

    let empty = Node::start(&["--history", "0"]);
    let mut alice = join(&empty.address, "h", "alice").await;
    next_of(&mut alice, "welcome").await;
    let mut observer = join(&empty.address, "h", "observer").await;
    next_of(&mut observer, "welcome").await;
    alice.send(text("forgotten")).await.unwrap();
    assert_eq!(next_of(&mut observer, "message").await["text"], "forgotten");
    let mut bob = join(&empty.address, "h", "bob").await;
    assert_eq!(next_json(&mut bob).await["history"], 0);
    alice.send(text("live")).await.unwrap();
    // Nothing from before: the first message Bob gets is the live one.
    assert_eq!(next_of(&mut bob, "message").await["text"], "live");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sender_is_received_in_order() {
    const SENDERS: usize = 4;
    const EACH: usize = 500;
    // The test checks order, not slowness: a queue deep enough to hold every
    // message it sends, so no member is dropped however the machine lags.
    let queue = (SENDERS * EACH + 64).to_string();
    let node = Node::start(&["--history", "0", "--room-queue", &queue]);
    let mut reader = join(&node.address, "order", "reader").await;
    next_of(&mut reader, "welcome").await;
    let mut senders = Vec::new();
    for s in 0..SENDERS {
        let mut ws = join(&node.address, "order", &format!("s{s}")).await;
        next_of(&mut ws, "welcome").await;
        senders.push(ws);
    }
    // Each sender also receives the others' messages and reads them, as a
    // real client does: a member that stops reading is dropped by design
    // (tested below), which is not what this test is about.
    let tasks: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(s, ws)| {
            let (mut incoming, mut outgoing) = ws.split();
            tokio::spawn(async move { while let Some(Ok(_)) = incoming.recv().await {} });
            tokio::spawn(async move {
                for i in 0..EACH {
                    outgoing.send(text(&format!("{s}:{i}"))).await.unwrap();
                }
                outgoing
            })
        })
        .collect();
    let mut expected = [0usize; SENDERS];
    while expected.iter().sum::<usize>() < SENDERS * EACH {
        let message = next_of(&mut reader, "message").await;
        let (s, i) = message["text"].as_str().unwrap().split_once(':').unwrap();
        let (s, i): (usize, usize) = (s.parse().unwrap(), i.parse().unwrap());
        assert_eq!(i, expected[s], "sender {s}: out of order, lost or duplicated");
        expected[s] += 1;
    }
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_reading_is_dropped_with_1008_and_the_room_goes_on() {
    const COUNT: usize = 1_200;
    // A close timeout long enough for the test to come back and read: the
    // server's Close frame waits behind everything the member did not read.
    let node = Node::start(&["--history", "0", "--room-queue", "64", "--close-timeout", "300"]);
    let mut sender = join(&node.address, "busy", "sender").await;
    next_of(&mut sender, "welcome").await;
    let mut fast = join(&node.address, "busy", "fast").await;
    next_of(&mut fast, "welcome").await;
    // The slow member reads its welcome, then stops reading.
    let mut slow = join(&node.address, "busy", "slow").await;
    next_of(&mut slow, "welcome").await;
    next_of(&mut fast, "join").await;

    // The sender goes at the reading member's pace (a window of 32), so
    // only the member that stopped reading falls behind.
    let payload = "x".repeat(16 * 1024);
    let mut got = 0;
    for i in 0..COUNT {
        sender.send(text(&format!("{i}:{payload}"))).await.unwrap();
        while got + 32 <= i || (i + 1 == COUNT && got < COUNT) {
            let message = next_json(&mut fast).await;
            match message["type"].as_str() {
                Some("message") => {
                    let n: usize = message["text"].as_str().unwrap().split(':').next().unwrap().parse().unwrap();
                    assert_eq!(n, got);
                    got += 1;
                }
                Some("leave") => assert_eq!(message["name"], "slow"),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    node.wait_log("room member too slow; dropping it (1008)", 1).await;

    // Reading again, the slow member finds a prefix of the messages, then
    // the Close frame with 1008.
    let mut received = 0;
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(30), slow.recv()).await.expect("slow member sees the end") {
            Some(Ok(Message::Text(_))) => received += 1,
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("expected the close frame, got {other:?}"),
        }
    };
    assert!(received < COUNT, "the slow member was not dropped");
    assert_eq!(close.expect("a close code").code, CloseCode::POLICY_VIOLATION);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_room_names_are_refused_and_get_slash_serves_the_page() {
    let node = Node::start(&[]);
    let tcp = tokio::net::TcpStream::connect(&node.address).await.unwrap();
    let url = format!("ws://{}/rooms/a%2Fb", node.address);
    let refused = wsx::ClientBuilder::new(&url).connect_on(tcp).await;
    assert!(refused.is_err(), "a room name with an escaped slash is refused");

    let mut tcp = std::net::TcpStream::connect(&node.address).unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.to_ascii_lowercase().contains("content-type: text/html; charset=utf-8"));
    assert!(response.contains("new WebSocket(url)"));
    assert!(response.contains("</html>"));
}
