//! `wsx::Server` as a library (RFC 6455 §7.1.2, §7.4.1): the shutdown
//! signal closes every connection with 1001 and `run` returns once the
//! closing handshakes are done; the connection limit answers 503.

#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test")]

use std::time::Duration;

use tokio::net::TcpListener;
use wsx::{CloseCode, Message, Server, ServerOptions};

async fn echo_server(
    options: ServerOptions,
) -> (std::net::SocketAddr, wsx::ShutdownSignal, tokio::task::JoinHandle<wsx::ServerStats>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Server::new(listener, wsx::Config::default()).options(options);
    let addr = server.local_addr().unwrap();
    let shutdown = server.shutdown_signal();
    let task = tokio::spawn(async move {
        server
            .run(|incoming| async move {
                if let Ok(mut ws) = incoming.accept().await {
                    while let Some(Ok(message)) = ws.recv().await {
                        if message.is_text() && ws.state() == &wsx::proto::State::Open {
                            let _ = ws.send(message).await;
                        }
                    }
                }
            })
            .await
            .unwrap()
    });
    (addr, shutdown, task)
}

#[tokio::test]
async fn the_shutdown_signal_closes_every_connection_with_1001() {
    let (addr, shutdown, task) = echo_server(ServerOptions::default()).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let (mut ws, _) = wsx::connect(&format!("ws://{addr}/")).await.unwrap();
        ws.send("hi").await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("hi"));
        clients.push(ws);
    }
    shutdown.trigger();
    for mut ws in clients {
        // The client answers the server's Close (automatically) and sees it.
        match ws.recv().await {
            Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::GOING_AWAY),
            other => panic!("expected Close 1001, got {other:?}"),
        }
        assert!(ws.recv().await.is_none());
        assert!(ws.close_outcome().unwrap().is_clean());
    }
    let stats = tokio::time::timeout(Duration::from_secs(10), task).await.unwrap().unwrap();
    assert_eq!(stats.accepted, 3);
    assert_eq!(stats.abandoned_at_shutdown, 0);
    // The listener is closed.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn past_the_connection_limit_the_handshake_gets_503() {
    let (addr, shutdown, task) = echo_server(ServerOptions::default().max_connections(1)).await;
    let (mut first, _) = wsx::connect(&format!("ws://{addr}/")).await.unwrap();
    match wsx::connect(&format!("ws://{addr}/")).await {
        Err(wsx::Error::Handshake(wsx::proto::handshake::HandshakeError::UnexpectedStatus { status })) => {
            assert_eq!(status, 503)
        }
        other => panic!("expected 503, got {:?}", other.map(|_| ())),
    }
    first.close(CloseCode::NORMAL, "").await.unwrap();
    shutdown.trigger();
    let stats = task.await.unwrap();
    assert_eq!((stats.accepted, stats.over_connection_limit), (2, 1));
}
