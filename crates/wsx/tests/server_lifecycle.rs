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
        Err(wsx::Error::Handshake(wsx::proto::handshake::HandshakeError::UnexpectedStatus { status, .. })) => {
            assert_eq!(status, 503)
        }
        other => panic!("expected 503, got {:?}", other.map(|_| ())),
    }
    first.close(CloseCode::NORMAL, "").await.unwrap();
    shutdown.trigger();
    let stats = task.await.unwrap();
    assert_eq!((stats.accepted, stats.over_connection_limit), (2, 1));
}

/// A close the driver starts on its own (idle timeout, shutdown) is bounded
/// by the close timeout even if the peer never sends another byte: nothing
/// else would ever wake the connection up.
async fn ends_at_the_close_timeout(config: wsx::Config, trigger: impl FnOnce()) {
    let (ours, _peer) = tokio::io::duplex(1 << 16);
    let negotiated = wsx::proto::Negotiated::new(wsx::proto::Role::Server);
    let mut ws = wsx::WebSocket::from_upgraded(ours, negotiated, config.keepalive(None), b"").unwrap();
    trigger();
    let start = tokio::time::Instant::now();
    let ended = tokio::time::timeout(Duration::from_secs(600), async {
        while let Some(item) = ws.recv().await {
            if let Err(error) = item {
                return Some(error);
            }
        }
        None
    })
    .await
    .expect("the connection never ended");
    assert!(matches!(ended, Some(wsx::Error::Timeout { kind: wsx::TimeoutKind::Close, .. })), "ended with {ended:?}");
    assert!(start.elapsed() <= Duration::from_secs(4), "ended after {:?}", start.elapsed());
    let outcome = ws.close_outcome().unwrap();
    assert_eq!(outcome.sent.as_ref().and_then(|f| f.as_ref()).map(|f| f.code), Some(CloseCode::GOING_AWAY));
}

#[tokio::test(start_paused = true)]
async fn an_idle_timeout_close_ends_at_the_close_timeout() {
    let config =
        wsx::Config::default().idle_timeout(Some(Duration::from_secs(1))).close_timeout(Duration::from_secs(2));
    ends_at_the_close_timeout(config, || {}).await;
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_close_ends_at_the_close_timeout() {
    let signal = wsx::ShutdownSignal::new();
    let config = wsx::Config::default().shutdown(signal.clone()).close_timeout(Duration::from_secs(2));
    ends_at_the_close_timeout(config, || signal.trigger()).await;
}
