//! WebSocket over HTTP/2 (RFC 8441) through wsx's own client and server:
//! many sockets on one connection, TLS with ALPN and prior knowledge, the
//! automatic fallback to HTTP/1.1, one socket's reset leaving the others
//! alone, shutdown with 1001 and GOAWAY, flow control as backpressure, the
//! handshake policy on HTTP/2, and a server without extended CONNECT.

#![allow(clippy::unwrap_used, reason = "tests: a failure should panic")]

mod pki;
mod raw;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::Version;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use wsx::{ClientBuilder, CloseCode, HttpMode, Message};

const WAIT: Duration = Duration::from_secs(20);

/// What the test server saw of each request.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    version: Version,
    peer: Option<SocketAddr>,
}

/// An echo server on `Server` (HTTP/1.1 and HTTP/2 on one port); each
/// request is reported, and each WebSocket's end with its close code.
struct TestServer {
    port: u16,
    seen: mpsc::UnboundedReceiver<Seen>,
    ended: mpsc::UnboundedReceiver<(String, Option<u16>)>,
    shutdown: wsx::ShutdownSignal,
}

async fn server(tls: Option<wsx::TlsAcceptor>, policy: wsx::HandshakePolicy, refuse_http2: bool) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let (ended_tx, ended) = mpsc::unbounded_channel();
    let config = wsx::Config::default().close_timeout(Duration::from_secs(2));
    let server = wsx::Server::new(listener, config).policy(policy).tls(tls);
    let shutdown = server.shutdown_signal();
    tokio::spawn(server.run(move |incoming| {
        let (seen_tx, ended_tx) = (seen_tx.clone(), ended_tx.clone());
        async move {
            let path = incoming.request().uri().path().to_owned();
            let version = incoming.http_version();
            let _ = seen_tx.send(Seen { path: path.clone(), version, peer: incoming.peer_addr() });
            if refuse_http2 && version == Version::HTTP_2 {
                let response = http::Response::builder().status(501).body(()).unwrap();
                let _ = incoming.reject(response, Bytes::new()).await;
                return;
            }
            let Ok(mut ws) = incoming.accept().await else { return };
            if path == "/silent" {
                // Never reads: the peer must be held back by flow control.
                tokio::time::sleep(WAIT).await;
                return;
            }
            let mut code = None;
            while let Some(message) = ws.recv().await {
                match message {
                    Ok(Message::Close(frame)) => code = frame.map(|f| f.code.as_u16()),
                    Ok(message) if message.is_text() || message.is_binary() => {
                        if ws.send(message).await.is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => {
                        code = Some(1006);
                        break;
                    }
                }
            }
            let _ = ended_tx.send((path, code));
        }
    }));
    TestServer { port, seen, ended, shutdown }
}

async fn echo_once<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(ws: &mut wsx::WebSocket<S>, text: &str) {
    ws.send(text).await.unwrap();
    match tokio::time::timeout(WAIT, ws.recv()).await.unwrap() {
        Some(Ok(Message::Text(got))) => assert_eq!(got, text),
        other => panic!("expected the echo of {text:?}, got {other:?}"),
    }
}

fn tls_pair() -> (wsx::TlsAcceptor, wsx::TlsConnector) {
    let ca = pki::Ca::new("http2 test CA");
    let leaf = ca.leaf(&["localhost"]);
    let acceptor = wsx::TlsAcceptor::from_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes()).unwrap();
    let connector = wsx::TlsConnector::new().root_certificates_pem(ca.pem().as_bytes()).unwrap();
    (acceptor, connector)
}

#[tokio::test]
async fn many_websockets_share_one_connection_with_prior_knowledge() {
    let mut server = server(None, wsx::HandshakePolicy::default(), false).await;
    let connection = ClientBuilder::new(&format!("ws://127.0.0.1:{}/", server.port)).connect_http2().await.unwrap();
    let mut sockets = Vec::new();
    for i in 0..20 {
        let (ws, response) = connection.open(&format!("/echo/{i}?n={i}")).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(ws.get_ref().http_version(), Version::HTTP_2);
        sockets.push(ws);
    }
    // Interleaved traffic on every socket, text and a large binary message.
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            tokio::spawn(async move {
                for round in 0..10 {
                    echo_once(&mut ws, &format!("socket {i} round {round}")).await;
                }
                let big = Bytes::from(vec![i as u8; 300_000]);
                ws.send(Message::Binary(big.clone())).await.unwrap();
                match ws.recv().await {
                    Some(Ok(Message::Binary(got))) => assert_eq!(got, big),
                    other => panic!("binary echo: {other:?}"),
                }
                ws.close(CloseCode::NORMAL, "done").await.unwrap()
            })
        })
        .collect();
    for task in tasks {
        let outcome = task.await.unwrap();
        assert!(outcome.is_clean(), "{outcome:?}");
    }
    let mut peers = Vec::new();
    for _ in 0..20 {
        let seen = server.seen.recv().await.unwrap();
        assert_eq!(seen.version, Version::HTTP_2);
        assert!(seen.path.starts_with("/echo/"));
        peers.push(seen.peer.unwrap());
    }
    peers.dedup();
    assert_eq!(peers.len(), 1, "one TCP connection carried every socket: {peers:?}");
}

#[tokio::test]
async fn tls_alpn_h2_and_the_automatic_mode() {
    let (acceptor, connector) = tls_pair();
    let mut server = server(Some(acceptor), wsx::HandshakePolicy::default(), false).await;
    let url = format!("wss://localhost:{}/echo", server.port);
    for mode in [HttpMode::Http2, HttpMode::Auto] {
        let (mut ws, _) = ClientBuilder::new(&url).tls(connector.clone()).http(mode).connect().await.unwrap();
        assert_eq!(ws.get_ref().http_version(), Version::HTTP_2, "{mode:?}");
        assert_eq!(ws.get_ref().alpn_protocol(), Some(&b"h2"[..]));
        echo_once(&mut ws, "over TLS and HTTP/2").await;
        ws.close(CloseCode::NORMAL, "").await.unwrap();
        assert_eq!(server.seen.recv().await.unwrap().version, Version::HTTP_2);
    }
    // The default stays HTTP/1.1, on the same server and port.
    let (mut ws, response) = ClientBuilder::new(&url).tls(connector).connect().await.unwrap();
    assert_eq!((response.status().as_u16(), ws.get_ref().http_version()), (101, Version::HTTP_11));
    echo_once(&mut ws, "over TLS and HTTP/1.1").await;
}

#[tokio::test]
async fn the_automatic_mode_falls_back_once_to_http1() {
    // A server with HTTP/2 off answers ALPN with http/1.1 on the same
    // connection.
    let (acceptor, connector) = tls_pair();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = wsx::Server::new(listener, wsx::Config::default()).tls(Some(acceptor)).http2(None);
    tokio::spawn(server.run(|incoming| async move {
        if let Ok(mut ws) = incoming.accept().await {
            while let Some(Ok(message)) = ws.recv().await {
                if message.is_text() && ws.send(message).await.is_err() {
                    break;
                }
            }
        }
    }));
    let url = format!("wss://localhost:{port}/");
    let (mut ws, _) = ClientBuilder::new(&url).tls(connector.clone()).http(HttpMode::Auto).connect().await.unwrap();
    assert_eq!(ws.get_ref().http_version(), Version::HTTP_11);
    echo_once(&mut ws, "fell back").await;
    let forced = ClientBuilder::new(&url).tls(connector.clone()).http(HttpMode::Http2).connect().await;
    assert!(matches!(forced, Err(wsx::Error::Http2Unavailable { .. })), "{forced:?}");

    // A server that answers the CONNECT with 501 (RFC 8441 §4: it cannot)
    // is asked again over HTTP/1.1 on a new connection.
    let (acceptor, connector) = tls_pair();
    let mut refusing = server_with_refusal(acceptor).await;
    let url = format!("wss://localhost:{}/echo", refusing.port);
    let (mut ws, _) = ClientBuilder::new(&url).tls(connector.clone()).http(HttpMode::Auto).connect().await.unwrap();
    assert_eq!(ws.get_ref().http_version(), Version::HTTP_11);
    echo_once(&mut ws, "after a 501").await;
    let versions = [refusing.seen.recv().await.unwrap().version, refusing.seen.recv().await.unwrap().version];
    assert_eq!(versions, [Version::HTTP_2, Version::HTTP_11]);
    // Forced HTTP/2 reports the refusal instead.
    let forced = ClientBuilder::new(&url).tls(connector).http(HttpMode::Http2).connect().await;
    assert!(
        matches!(
            forced,
            Err(wsx::Error::Handshake(wsx::proto::handshake::HandshakeError::UnexpectedStatus {
                extended_connect: true,
                ..
            }))
        ),
        "{forced:?}"
    );
}

async fn server_with_refusal(acceptor: wsx::TlsAcceptor) -> TestServer {
    server(Some(acceptor), wsx::HandshakePolicy::default(), true).await
}

#[tokio::test]
async fn a_reset_stream_is_1006_for_that_socket_only() {
    let mut server = server(None, wsx::HandshakePolicy::default(), false).await;
    let connection = ClientBuilder::new(&format!("ws://127.0.0.1:{}/", server.port)).connect_http2().await.unwrap();
    let (doomed, _) = connection.open("/doomed").await.unwrap();
    let (mut survivor, _) = connection.open("/survivor").await.unwrap();
    echo_once(&mut survivor, "before").await;
    // Dropping a WebSocket without its closing handshake resets its stream
    // (RST_STREAM CANCEL), HTTP/2's TCP RST.
    drop(doomed);
    let (path, code) = tokio::time::timeout(WAIT, server.ended.recv()).await.unwrap().unwrap();
    assert_eq!((path.as_str(), code), ("/doomed", Some(1006)));
    echo_once(&mut survivor, "after the other socket's reset").await;
    survivor.close(CloseCode::NORMAL, "").await.unwrap();
    let (path, code) = tokio::time::timeout(WAIT, server.ended.recv()).await.unwrap().unwrap();
    assert_eq!((path.as_str(), code), ("/survivor", Some(1000)));
}

#[tokio::test]
async fn shutdown_closes_every_socket_with_1001() {
    let server = server(None, wsx::HandshakePolicy::default(), false).await;
    let connection = ClientBuilder::new(&format!("ws://127.0.0.1:{}/", server.port)).connect_http2().await.unwrap();
    let mut sockets = Vec::new();
    for i in 0..3 {
        let (mut ws, _) = connection.open(&format!("/s{i}")).await.unwrap();
        echo_once(&mut ws, "hi").await;
        sockets.push(ws);
    }
    server.shutdown.trigger();
    for mut ws in sockets {
        let mut code = None;
        while let Some(message) = tokio::time::timeout(WAIT, ws.recv()).await.unwrap() {
            if let Ok(Message::Close(frame)) = message {
                code = frame.map(|f| f.code);
            }
        }
        assert_eq!(code, Some(CloseCode::GOING_AWAY));
        assert!(ws.close_outcome().unwrap().is_clean(), "{:?}", ws.close_outcome());
    }
    // The server stopped accepting: a new connection is refused.
    let again = ClientBuilder::new(&format!("ws://127.0.0.1:{}/", server.port)).http(HttpMode::Http2).connect().await;
    assert!(again.is_err());
}

#[tokio::test]
async fn a_reader_that_stops_holds_its_peer_back_and_not_the_other_sockets() {
    let server = server(None, wsx::HandshakePolicy::default(), false).await;
    let connection = ClientBuilder::new(&format!("ws://127.0.0.1:{}/", server.port)).connect_http2().await.unwrap();
    let (mut silent, _) = connection.open("/silent").await.unwrap();
    let (mut busy, _) = connection.open("/busy").await.unwrap();
    let sent = Arc::new(Mutex::new(0usize));
    let counter = sent.clone();
    let flood = tokio::spawn(async move {
        let chunk = Bytes::from(vec![7u8; 16 * 1024]);
        loop {
            if silent.send(Message::Binary(chunk.clone())).await.is_err() {
                return;
            }
            *counter.lock().unwrap() += chunk.len();
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The other socket on the same connection still flows.
    for i in 0..20 {
        echo_once(&mut busy, &format!("still flowing {i}")).await;
    }
    let stalled_at = *sent.lock().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let later = *sent.lock().unwrap();
    assert!(!flood.is_finished(), "the sender must be waiting, not failing");
    assert_eq!(stalled_at, later, "the sender must be held back by the window");
    // Stream window (256 KiB) + the server's queues + our send buffer and
    // write high-water: well under 2 MiB whatever was offered.
    assert!(later < 2 << 20, "sent {later} bytes into a socket nobody reads");
    flood.abort();
}

#[tokio::test]
async fn the_handshake_policy_applies_over_http2() {
    let policy = wsx::HandshakePolicy::default()
        .allowed_origins(wsx::AllowedOrigins::new(["https://good.example"]))
        .subprotocols(["v2", "v1"]);
    let server = server(None, policy, false).await;
    let base = format!("ws://127.0.0.1:{}/echo", server.port);
    let refused = ClientBuilder::new(&base).http(HttpMode::Http2).origin("https://evil.example").connect().await;
    match refused {
        Err(wsx::Error::Handshake(wsx::proto::handshake::HandshakeError::UnexpectedStatus { status, .. })) => {
            assert_eq!(status, 403)
        }
        other => panic!("expected 403, got {other:?}"),
    }
    let (ws, response) = ClientBuilder::new(&base)
        .http(HttpMode::Http2)
        .origin("https://good.example")
        .subprotocol("v1")
        .subprotocol("v2")
        .config(wsx::Config::default().compression(wsx::DeflateConfig::default()))
        .connect()
        .await
        .unwrap();
    assert_eq!(ws.negotiated().subprotocol.as_deref(), Some("v1"), "the client's first that the server speaks");
    assert_eq!(response.headers()["sec-websocket-protocol"], "v1");
    assert!(response.headers().get("sec-websocket-accept").is_none());
    assert!(ws.negotiated().deflate.is_none(), "the server did not turn compression on");
}

#[tokio::test]
async fn a_server_without_extended_connect_is_refused_clearly() {
    // A plain HTTP/2 server (prior knowledge) that never sends
    // SETTINGS_ENABLE_CONNECT_PROTOCOL.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut connection = h2::server::handshake(tcp).await.unwrap();
        while let Some(Ok((_, mut respond))) = connection.accept().await {
            let _ = respond.send_response(http::Response::new(()), true);
        }
    });
    let error = ClientBuilder::new(&format!("ws://127.0.0.1:{port}/")).http(HttpMode::Http2).connect().await;
    assert!(matches!(error, Err(wsx::Error::Http2Unavailable { .. })), "{error:?}");
}

#[tokio::test]
async fn a_violation_is_answered_in_full_before_the_application_sees_it() {
    // RFC 6455 §7.1.7: the connection is failed with a Close carrying the
    // code. The handler above stops at the error and drops its socket;
    // the Pong queued before the violation, the Close with 1002 and
    // END_STREAM must still all reach a client that grants its window
    // 4 bytes at a time.
    let mut server = server(None, wsx::HandshakePolicy::default(), false).await;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    let (send, mut connection) = h2::client::Builder::new().initial_window_size(4).handshake(tcp).await.unwrap();
    let mut ping_pong = connection.ping_pong().unwrap();
    tokio::spawn(connection);
    // The server's SETTINGS (extended CONNECT on) precede its PONG.
    ping_pong.ping(h2::Ping::opaque()).await.unwrap();
    let mut request = http::Request::builder()
        .method("CONNECT")
        .uri(format!("http://127.0.0.1:{}/violation", server.port))
        .header("sec-websocket-version", "13")
        .body(())
        .unwrap();
    request.extensions_mut().insert(h2::ext::Protocol::from_static("websocket"));
    let (response, mut stream) = send.ready().await.unwrap().send_request(request, false).unwrap();
    let response = tokio::time::timeout(WAIT, response).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    // A Ping, then a frame with the reserved opcode 0x3, in one DATA frame.
    let frames = [raw::client_frame(0x89, b"p"), raw::client_frame(0x83, b"")].concat();
    stream.send_data(Bytes::from(frames), false).unwrap();
    let mut body = response.into_body();
    let mut received = Vec::new();
    let ended_cleanly = tokio::time::timeout(WAIT, async {
        loop {
            match body.data().await {
                Some(Ok(data)) => {
                    received.extend_from_slice(&data);
                    body.flow_control().release_capacity(data.len()).unwrap();
                }
                Some(Err(error)) => return Err(error),
                None => return Ok(()),
            }
        }
    })
    .await
    .unwrap();
    assert!(ended_cleanly.is_ok(), "the stream ended with {ended_cleanly:?} after {received:02x?}");
    // The Pong "p", then the whole Close with 1002 (0x03EA) and a reason.
    assert_eq!(received[..3], [0x8A, 0x01, b'p'], "{received:02x?}");
    assert_eq!(received[3], 0x88, "{received:02x?}");
    assert_eq!(usize::from(received[4]), received.len() - 5, "one whole Close frame: {received:02x?}");
    assert_eq!(received[5..7], [0x03, 0xEA], "{received:02x?}");
    let (path, code) = tokio::time::timeout(WAIT, server.ended.recv()).await.unwrap().unwrap();
    assert_eq!((path.as_str(), code), ("/violation", Some(1006)), "the handler saw the error");
}
