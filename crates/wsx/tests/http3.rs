//! WebSocket over HTTP/3 (RFC 9220) through wsx's own client and server:
//! many sockets on one QUIC connection, `Alt-Svc` on the TCP answers, the
//! fallback to TCP when QUIC is blocked or refused, one socket's end
//! leaving the others alone, shutdown with 1001 and GOAWAY, and the
//! handshake policy on HTTP/3; and the raw streams a bridge uses.

#![allow(clippy::unwrap_used, reason = "tests: a failure should panic")]

mod pki;

use std::time::Duration;

use bytes::Bytes;
use http::Version;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use wsx::{ClientBuilder, CloseCode, HttpMode, Message};

const WAIT: Duration = Duration::from_secs(20);

struct TestServer {
    port: u16,
    seen: mpsc::UnboundedReceiver<Version>,
    ended: mpsc::UnboundedReceiver<(String, Option<u16>)>,
    shutdown: wsx::ShutdownSignal,
}

/// An echo server with HTTP/3 on (unless `http3` is false); requests on
/// HTTP/3 to `/refuse` get 501.
async fn server(tls: wsx::TlsAcceptor, policy: wsx::HandshakePolicy, http3: bool) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let (ended_tx, ended) = mpsc::unbounded_channel();
    let config = wsx::Config::default().close_timeout(Duration::from_secs(2));
    let mut server = wsx::Server::new(listener, config).policy(policy).tls(Some(tls));
    if http3 {
        server = server.http3(wsx::Http3Settings::default()).unwrap();
        assert_eq!(server.http3_addr().map(|a| a.port()), Some(port));
    }
    let shutdown = server.shutdown_signal();
    tokio::spawn(server.run(move |incoming| {
        let (seen_tx, ended_tx) = (seen_tx.clone(), ended_tx.clone());
        async move {
            let path = incoming.request().uri().path().to_owned();
            let version = incoming.http_version();
            let _ = seen_tx.send(version);
            if path == "/refuse" && version == Version::HTTP_3 {
                let response = http::Response::builder().status(501).body(()).unwrap();
                let _ = incoming.reject(response, Bytes::from_static(b"not here\n")).await;
                return;
            }
            let Ok(mut ws) = incoming.accept().await else { return };
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

fn tls_pair() -> (wsx::TlsAcceptor, wsx::TlsConnector) {
    let ca = pki::Ca::new("http3 test CA");
    let leaf = ca.leaf(&["127.0.0.1", "localhost"]);
    let acceptor = wsx::TlsAcceptor::from_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes()).unwrap();
    let connector = wsx::TlsConnector::new().root_certificates_pem(ca.pem().as_bytes()).unwrap();
    (acceptor, connector)
}

async fn echo_once<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(ws: &mut wsx::WebSocket<S>, text: &str) {
    ws.send(text).await.unwrap();
    match tokio::time::timeout(WAIT, ws.recv()).await.unwrap() {
        Some(Ok(Message::Text(got))) => assert_eq!(got, text),
        other => panic!("expected the echo of {text:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn many_websockets_share_one_quic_connection() {
    let (acceptor, connector) = tls_pair();
    let mut server = server(acceptor, wsx::HandshakePolicy::default(), true).await;
    let url = format!("wss://127.0.0.1:{}/", server.port);
    let connection = ClientBuilder::new(&url).tls(connector).connect_http3().await.unwrap();
    let mut sockets = Vec::new();
    for i in 0..10 {
        let (ws, response) = connection.open(&format!("/echo/{i}")).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(ws.get_ref().http_version(), Version::HTTP_3);
        assert_eq!(ws.get_ref().alpn_protocol(), Some(&b"h3"[..]));
        sockets.push(ws);
    }
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            tokio::spawn(async move {
                for round in 0..10 {
                    echo_once(&mut ws, &format!("socket {i} round {round}")).await;
                }
                // More than a stream window (256 KiB): flow control both ways.
                let big = Bytes::from(vec![i as u8; 300_000]);
                ws.send(Message::Binary(big.clone())).await.unwrap();
                match tokio::time::timeout(WAIT, ws.recv()).await.unwrap() {
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
    for _ in 0..10 {
        assert_eq!(server.seen.recv().await.unwrap(), Version::HTTP_3);
        let (_, code) = tokio::time::timeout(WAIT, server.ended.recv()).await.unwrap().unwrap();
        assert_eq!(code, Some(1000));
    }
}

#[tokio::test]
async fn tcp_answers_advertise_http3_and_http3_mode_uses_it() {
    let (acceptor, connector) = tls_pair();
    let mut server = server(acceptor, wsx::HandshakePolicy::default(), true).await;
    let url = format!("wss://127.0.0.1:{}/echo", server.port);
    let alt_svc = format!("h3=\":{}\"; ma=86400", server.port);
    // HTTP/1.1 and HTTP/2 handshakes carry Alt-Svc.
    for mode in [HttpMode::Http1, HttpMode::Auto] {
        let (mut ws, response) = ClientBuilder::new(&url).tls(connector.clone()).http(mode).connect().await.unwrap();
        assert_eq!(response.headers()["alt-svc"], alt_svc.as_str(), "{mode:?}");
        echo_once(&mut ws, "over TCP").await;
        ws.close(CloseCode::NORMAL, "").await.unwrap();
    }
    assert_eq!(server.seen.recv().await.unwrap(), Version::HTTP_11);
    assert_eq!(server.seen.recv().await.unwrap(), Version::HTTP_2);
    for mode in [HttpMode::Http3, HttpMode::Http3Only] {
        let (mut ws, response) = ClientBuilder::new(&url).tls(connector.clone()).http(mode).connect().await.unwrap();
        assert!(response.headers().get("alt-svc").is_none());
        assert_eq!(ws.get_ref().http_version(), Version::HTTP_3, "{mode:?}");
        echo_once(&mut ws, "over QUIC").await;
        ws.close(CloseCode::NORMAL, "").await.unwrap();
        assert_eq!(server.seen.recv().await.unwrap(), Version::HTTP_3);
    }
}

#[tokio::test]
async fn blocked_or_refused_http3_falls_back_to_tcp_once() {
    let (acceptor, connector) = tls_pair();
    // No HTTP/3 on this server: its UDP port is closed.
    let mut server = server(acceptor.clone(), wsx::HandshakePolicy::default(), false).await;
    let url = format!("wss://127.0.0.1:{}/echo", server.port);
    let quick = wsx::Http3Settings::default().quic_timeout(Duration::from_millis(500));
    let builder = || ClientBuilder::new(&url).tls(connector.clone()).http3_settings(quick.clone());
    let (mut ws, _) = builder().http(HttpMode::Http3).connect().await.unwrap();
    assert_eq!(ws.get_ref().http_version(), Version::HTTP_2);
    echo_once(&mut ws, "fell back").await;
    assert_eq!(server.seen.recv().await.unwrap(), Version::HTTP_2);
    match builder().http(HttpMode::Http3Only).connect().await {
        Err(wsx::Error::Http3Unavailable { .. }) => {}
        other => panic!("expected Http3Unavailable, got {:?}", other.map(|_| ())),
    }
    // A server that refuses the CONNECT over HTTP/3 with 501.
    let mut refusing = self::server(acceptor, wsx::HandshakePolicy::default(), true).await;
    let url = format!("wss://127.0.0.1:{}/refuse", refusing.port);
    let (mut ws, _) = ClientBuilder::new(&url).tls(connector.clone()).http(HttpMode::Http3).connect().await.unwrap();
    assert_eq!(ws.get_ref().http_version(), Version::HTTP_2);
    echo_once(&mut ws, "refused, then TCP").await;
    assert_eq!(refusing.seen.recv().await.unwrap(), Version::HTTP_3);
    assert_eq!(refusing.seen.recv().await.unwrap(), Version::HTTP_2);
    match ClientBuilder::new(&url).tls(connector).http(HttpMode::Http3Only).connect().await {
        Err(wsx::Error::Handshake(wsx::proto::handshake::HandshakeError::UnexpectedStatus { status, .. })) => {
            assert_eq!(status, 501);
        }
        other => panic!("expected the 501, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn a_reset_stream_is_1006_for_that_socket_only() {
    let (acceptor, connector) = tls_pair();
    let mut server = server(acceptor, wsx::HandshakePolicy::default(), true).await;
    let url = format!("wss://127.0.0.1:{}/", server.port);
    let connection = ClientBuilder::new(&url).tls(connector).connect_http3().await.unwrap();
    let (mut kept, _) = connection.open("/kept").await.unwrap();
    let (mut dropped, _) = connection.open("/dropped").await.unwrap();
    echo_once(&mut kept, "before").await;
    echo_once(&mut dropped, "before").await;
    // Dropped without its closing handshake: its stream is reset.
    drop(dropped);
    let (path, code) = tokio::time::timeout(WAIT, server.ended.recv()).await.unwrap().unwrap();
    assert_eq!((path.as_str(), code), ("/dropped", Some(1006)));
    echo_once(&mut kept, "after").await;
    assert!(kept.close(CloseCode::NORMAL, "").await.unwrap().is_clean());
}

#[tokio::test]
async fn shutdown_closes_sockets_with_1001_and_sends_goaway() {
    let (acceptor, connector) = tls_pair();
    let server = server(acceptor, wsx::HandshakePolicy::default(), true).await;
    let url = format!("wss://127.0.0.1:{}/", server.port);
    let connection = ClientBuilder::new(&url).tls(connector).connect_http3().await.unwrap();
    let (mut ws, _) = connection.open("/echo").await.unwrap();
    echo_once(&mut ws, "hello").await;
    server.shutdown.trigger();
    match tokio::time::timeout(WAIT, ws.recv()).await.unwrap() {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::GOING_AWAY),
        other => panic!("expected a Close with 1001, got {other:?}"),
    }
    // The driver answered the Close; the socket then ends.
    assert!(tokio::time::timeout(WAIT, ws.recv()).await.unwrap().is_none());
    // After GOAWAY no new socket opens on that connection.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(connection.open("/echo").await.is_err());
}

#[tokio::test]
async fn the_handshake_policy_applies_to_http3() {
    let (acceptor, connector) = tls_pair();
    let policy = wsx::HandshakePolicy::default().allowed_origins(wsx::AllowedOrigins::new(["https://good.example"]));
    let _server = server(acceptor, policy, true).await;
    let url = format!("wss://127.0.0.1:{}/echo", _server.port);
    let refused = ClientBuilder::new(&url)
        .tls(connector.clone())
        .origin("https://evil.example")
        .http(HttpMode::Http3Only)
        .connect()
        .await;
    match refused {
        Err(wsx::Error::Handshake(wsx::proto::handshake::HandshakeError::UnexpectedStatus { status, .. })) => {
            assert_eq!(status, 403);
        }
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    let (mut ws, _) = ClientBuilder::new(&url)
        .tls(connector)
        .origin("https://good.example")
        .http(HttpMode::Http3Only)
        .connect()
        .await
        .unwrap();
    echo_once(&mut ws, "allowed").await;
}

#[tokio::test]
async fn http3_needs_tls() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = wsx::Server::new(listener, wsx::Config::default()).http3(wsx::Http3Settings::default()).unwrap();
    let error = server.run(|_| async {}).await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}

/// What a bridge uses: the server answers an extended CONNECT with a
/// response of its own and gets the stream's bytes, as the client's
/// `open_stream` does; nothing is framed, both FINs pass.
#[tokio::test]
async fn accept_stream_and_open_stream_carry_raw_bytes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (acceptor, connector) = tls_pair();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = wsx::Server::new(listener, wsx::Config::default())
        .tls(Some(acceptor))
        .http3(wsx::Http3Settings::default())
        .unwrap();
    tokio::spawn(server.run(|incoming| async move {
        assert_eq!(incoming.http_version(), Version::HTTP_3);
        let response = http::Response::builder().header("x-bridge", "raw").body(()).unwrap();
        let (mut stream, early) = incoming.accept_stream(response).await.unwrap();
        assert!(early.is_empty());
        let mut got = Vec::new();
        stream.read_to_end(&mut got).await.unwrap();
        got.reverse();
        stream.write_all(&got).await.unwrap();
        stream.shutdown().await.unwrap();
    }));
    let connection =
        ClientBuilder::new(&format!("wss://127.0.0.1:{port}/")).tls(connector).connect_http3().await.unwrap();
    let request = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(format!("https://127.0.0.1:{port}/raw"))
        .header("sec-websocket-version", "13")
        .body(())
        .unwrap();
    let (response, mut stream) = connection.open_stream(&request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-bridge"], "raw");
    // More than a stream window, and not WebSocket frames.
    let sent: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    stream.write_all(&sent).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut back = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut back)).await.unwrap().unwrap();
    back.reverse();
    assert_eq!(back, sent);
}
