//! `wsx serve --token-secret`: rooms behind HMAC-signed JWTs, against the
//! real binary with wsx's client. A valid token's name is what presence
//! shows; an expired token, a wrong signature, a room not permitted and a
//! publication without permission are each refused with their close code
//! and reason (4002, 4001, 4003, 4003); without a token only
//! `--allow-anonymous` lets a client in.

#![allow(clippy::unwrap_used, reason = "tests: a failure is the test's failure")]

mod support;

use jsonwebtoken::{EncodingKey, Header, encode, get_current_timestamp};
use serde_json::json;
use support::{Node, Ws, join, next_of, text};
use wsx::{CloseCode, Message};

const SECRET: &str = "a test secret, long enough";

fn token(secret: &str, sub: &str, exp_in: i64, join: &[&str], publish: &[&str]) -> String {
    let exp = get_current_timestamp().saturating_add_signed(exp_in);
    let claims = json!({"sub": sub, "name": format!("{sub} (verified)"), "exp": exp, "join": join, "publish": publish});
    encode(&Header::default(), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

/// Joins `room` with `query` (after `?name=`), expecting the refusal: the
/// handshake succeeds, then the Close frame.
async fn refused(node: &Node, room: &str, query: &str) -> (u16, String) {
    let mut ws = join(&node.address, room, query).await;
    close_of(&mut ws).await
}

async fn close_of(ws: &mut Ws) -> (u16, String) {
    loop {
        match tokio::time::timeout(support::WAIT, ws.recv()).await.expect("the server closes") {
            Some(Ok(Message::Close(Some(frame)))) => return (frame.code.into(), frame.reason.as_str().to_owned()),
            Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a Close frame, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_decide_who_joins_and_publishes_with_clear_close_codes() {
    let node = Node::start(&["--token-secret", SECRET]);

    // A valid token: presence shows its name, not the one the client asks for.
    let ada = token(SECRET, "ada", 300, &["lobby", "chat.*"], &["lobby"]);
    let mut alice = join(&node.address, "lobby", &format!("mallory&token={ada}")).await;
    let welcome = next_of(&mut alice, "welcome").await;
    assert_eq!(welcome["you"]["name"], "ada (verified)");
    let bob_token = token(SECRET, "bob", 300, &["lobby"], &["lobby"]);
    let mut bob = join(&node.address, "lobby", &format!("x&token={bob_token}")).await;
    next_of(&mut bob, "welcome").await;
    assert_eq!(next_of(&mut alice, "join").await["name"], "bob (verified)");
    alice.send(text("hello")).await.unwrap();
    let message = next_of(&mut bob, "message").await;
    assert_eq!((message["from"].as_str(), message["text"].as_str()), (Some("ada (verified)"), Some("hello")));

    // Expired.
    let expired = token(SECRET, "ada", -120, &["*"], &["*"]);
    assert_eq!(refused(&node, "lobby", &format!("a&token={expired}")).await, (4002, "token expired".to_owned()));
    // Signed with another secret.
    let forged = token("not the secret", "ada", 300, &["*"], &["*"]);
    assert_eq!(
        refused(&node, "lobby", &format!("a&token={forged}")).await,
        (4001, "invalid token: InvalidSignature".to_owned())
    );
    // Not a token at all, and none.
    assert_eq!(refused(&node, "lobby", "a&token=abc").await.0, 4001);
    assert_eq!(refused(&node, "lobby", "a").await, (4001, "token required".to_owned()));
    // A room the token does not list.
    assert_eq!(
        refused(&node, "secret", &format!("a&token={ada}")).await,
        (4003, "not allowed to join room secret".to_owned())
    );

    // May join chat.x but not publish there: reading works, sending closes.
    let mut reader = join(&node.address, "chat.x", &format!("a&token={ada}")).await;
    next_of(&mut reader, "welcome").await;
    let writer_token = token(SECRET, "carol", 300, &["chat.*"], &["chat.*"]);
    let mut writer = join(&node.address, "chat.x", &format!("c&token={writer_token}")).await;
    next_of(&mut writer, "welcome").await;
    writer.send(text("news")).await.unwrap();
    assert_eq!(next_of(&mut reader, "message").await["text"], "news");
    reader.send(text("may I?")).await.unwrap();
    assert_eq!(close_of(&mut reader).await, (4003, "not allowed to publish in room chat.x".to_owned()));
    // The refused message reached nobody and took no offset.
    let mut other = join(&node.address, "chat.x", &format!("c2&token={writer_token}")).await;
    next_of(&mut other, "welcome").await;
    writer.send(text("after")).await.unwrap();
    // History, then live: "news" (1), "after" (2); never "may I?".
    for (offset, expected) in [(1, "news"), (2, "after")] {
        let message = next_of(&mut other, "message").await;
        assert_eq!((message["text"].as_str(), message["offset"].as_u64()), (Some(expected), Some(offset)));
    }
    bob.close(CloseCode::NORMAL, "").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_access_only_when_allowed() {
    let node = Node::start(&["--token-secret", SECRET, "--allow-anonymous"]);
    let mut guest = join(&node.address, "lobby", "gus").await;
    assert_eq!(next_of(&mut guest, "welcome").await["you"]["name"], "gus");
    // A bad token is still refused, anonymous access or not.
    let forged = token("not the secret", "ada", 300, &["*"], &["*"]);
    assert_eq!(refused(&node, "lobby", &format!("a&token={forged}")).await.0, 4001);
    // /broadcast takes the same tokens (room "broadcast").
    let ada = token(SECRET, "ada", 300, &["lobby"], &["lobby"]);
    let tcp = tokio::net::TcpStream::connect(&node.address).await.unwrap();
    let url = format!("ws://{}/broadcast?token={ada}", node.address);
    let (mut ws, _) = wsx::ClientBuilder::new(&url).connect_on(tcp).await.unwrap();
    assert_eq!(close_of(&mut ws).await, (4003, "not allowed to join room broadcast".to_owned()));
}
