//! The rooms mounted in an axum app beside an ordinary route (as
//! `examples/axum_rooms.rs` does), over real TCP with wsx's client: the
//! plain route answers, members talk, and a member that reconnects with its
//! epoch and offset gets exactly what it missed.

#![allow(clippy::unwrap_used, reason = "tests: a failure is the test's failure")]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::{any, get};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsx::axum::WebSocketUpgrade;
use wsx::{Message, WebSocket};
use wsx_rooms::{Identity, JoinParams, Rooms, RoomsConfig};

async fn room(
    upgrade: WebSocketUpgrade,
    Path(room): Path<String>,
    RawQuery(query): RawQuery,
    State(rooms): State<Arc<Rooms>>,
) -> Response {
    let params = JoinParams::from_query(query.as_deref());
    upgrade.on_upgrade(move |ws| async move {
        if let Ok(membership) = rooms.join(&room, Identity::guest(params.name), params.resume).await {
            let _ = rooms.serve(ws, membership).await;
        }
    })
}

async fn app() -> String {
    let rooms = Arc::new(Rooms::new(RoomsConfig::default().history(10)));
    let app =
        Router::new().route("/health", get(|| async { "ok\n" })).route("/rooms/{room}", any(room)).with_state(rooms);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

type Ws = WebSocket<TcpStream>;

async fn join(address: &str, query: &str) -> Ws {
    let tcp = TcpStream::connect(address).await.unwrap();
    let url = format!("ws://{address}/rooms/lobby?{query}");
    wsx::ClientBuilder::new(&url).connect_on(tcp).await.unwrap().0
}

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.recv()).await {
            Ok(Some(Ok(Message::Text(text)))) => return serde_json::from_str(&text).unwrap(),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

async fn next_of(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let value = next_json(ws).await;
        if value["type"] == kind {
            return value;
        }
    }
}

fn text(text: &str) -> Message {
    Message::text(serde_json::json!({"type": "message", "text": text}).to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_in_axum_beside_a_plain_route_with_resume() {
    let address = app().await;
    let mut tcp = TcpStream::connect(&address).await.unwrap();
    tcp.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200") && response.ends_with("ok\n"), "{response}");

    let mut alice = join(&address, "name=alice").await;
    next_of(&mut alice, "welcome").await;
    let mut bob = join(&address, "name=bob").await;
    let welcome = next_of(&mut bob, "welcome").await;
    let epoch = welcome["epoch"].as_str().unwrap().to_owned();
    alice.send(text("one")).await.unwrap();
    let one = next_of(&mut bob, "message").await;
    assert_eq!(
        (one["text"].as_str(), one["from"].as_str(), one["offset"].as_u64()),
        (Some("one"), Some("alice"), Some(1))
    );
    bob.close(wsx::CloseCode::NORMAL, "").await.unwrap();
    next_of(&mut alice, "leave").await;

    alice.send(text("two")).await.unwrap();
    alice.send(Message::binary(&b"\x03"[..])).await.unwrap();
    alice.send(text("four")).await.unwrap();
    let mut bob = join(&address, &format!("name=bob&epoch={epoch}&offset=1")).await;
    alice.flush().await.unwrap();
    // Whether each came as history or live (the race is the server's),
    // bob gets what he missed once, in order.
    assert_eq!(next_json(&mut bob).await["type"], "welcome");
    assert_eq!(next_json(&mut bob).await["text"], "two");
    match tokio::time::timeout(Duration::from_secs(10), bob.recv()).await {
        Ok(Some(Ok(message))) => assert_eq!(message, Message::binary(&b"\x03"[..])),
        other => panic!("expected the binary message, got {other:?}"),
    }
    let four = next_json(&mut bob).await;
    assert_eq!((four["text"].as_str(), four["offset"].as_u64()), (Some("four"), Some(4)));
    alice.send(text("five")).await.unwrap();
    assert_eq!(next_of(&mut bob, "message").await["offset"], 5);
}
