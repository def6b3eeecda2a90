//! `wss://` end to end with certificates made at test time: a good chain is
//! accepted; an expired certificate, a wrong host name and an unknown CA are
//! each refused with an error naming the cause; a TLS port drops plaintext
//! and a trickled ClientHello within the handshake deadline, with
//! `wsx::serve_tls` and with `wsx::Server::tls`.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions: a failure should panic")]

mod pki;

use std::time::{Duration, Instant};

use pki::{Ca, assert_echoes, tls_echo_server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsx::{ClientBuilder, Error, TlsConnector, TlsError};

fn trusting(ca: &Ca) -> TlsConnector {
    TlsConnector::new().root_certificates_pem(ca.pem().as_bytes()).unwrap()
}

#[tokio::test]
async fn good_chain_connects_with_sni_and_alpn() {
    let ca = Ca::new("wsx test CA");
    let port = tls_echo_server(&ca.leaf(&["localhost", "127.0.0.1"]), wsx::Config::default()).await;
    for host in ["localhost", "127.0.0.1"] {
        let (mut ws, response) =
            ClientBuilder::new(&format!("wss://{host}:{port}/echo")).tls(trusting(&ca)).connect().await.unwrap();
        assert_eq!(response.status(), 101);
        assert!(ws.get_ref().is_tls());
        assert_eq!(ws.get_ref().alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_echoes(&mut ws, "over TLS").await;
        // A message larger than one TLS record (16 KiB) goes through whole.
        let big = "x".repeat(100_000);
        assert_echoes(&mut ws, &big).await;
        ws.close(wsx::CloseCode::NORMAL, "").await.unwrap();
    }
}

#[tokio::test]
async fn expired_certificate_is_refused() {
    let ca = Ca::new("wsx test CA");
    let port = tls_echo_server(&ca.expired_leaf(&["localhost"]), wsx::Config::default()).await;
    let error = ClientBuilder::new(&format!("wss://localhost:{port}/")).tls(trusting(&ca)).connect().await.unwrap_err();
    assert!(matches!(error, Error::Tls(TlsError::CertificateExpired)), "{error:?}");
    assert!(error.to_string().contains("expired"), "{error}");
}

#[tokio::test]
async fn wrong_host_name_is_refused() {
    let ca = Ca::new("wsx test CA");
    let port = tls_echo_server(&ca.leaf(&["other.example"]), wsx::Config::default()).await;
    let error = ClientBuilder::new(&format!("wss://localhost:{port}/")).tls(trusting(&ca)).connect().await.unwrap_err();
    match &error {
        Error::Tls(TlsError::WrongHostName { host }) => assert_eq!(host, "localhost"),
        other => panic!("expected a host-name error, got {other:?}"),
    }
    assert!(error.to_string().contains("not valid for host name \"localhost\""), "{error}");
}

#[tokio::test]
async fn unknown_ca_is_refused_and_default_roots_do_not_trust_test_cas() {
    let ca = Ca::new("wsx test CA");
    let stranger = Ca::new("someone else's CA");
    let port = tls_echo_server(&stranger.leaf(&["localhost"]), wsx::Config::default()).await;
    let url = format!("wss://localhost:{port}/");
    let error = ClientBuilder::new(&url).tls(trusting(&ca)).connect().await.unwrap_err();
    assert!(matches!(error, Error::Tls(TlsError::UnknownIssuer)), "{error:?}");
    assert!(error.to_string().contains("unknown certificate authority"), "{error}");
    // The default (webpki roots) refuses it too.
    let error = ClientBuilder::new(&url).connect().await.unwrap_err();
    assert!(matches!(error, Error::Tls(TlsError::UnknownIssuer)), "{error:?}");
}

#[tokio::test]
async fn danger_accept_invalid_certs_connects_anyway() {
    let stranger = Ca::new("someone else's CA");
    let port = tls_echo_server(&stranger.expired_leaf(&["other.example"]), wsx::Config::default()).await;
    let (mut ws, _) = ClientBuilder::new(&format!("wss://localhost:{port}/"))
        .tls(TlsConnector::new().danger_accept_invalid_certs(true))
        .connect()
        .await
        .unwrap();
    assert_echoes(&mut ws, "unauthenticated but encrypted").await;
}

#[tokio::test]
async fn server_refuses_bad_pem() {
    let error = wsx::TlsAcceptor::from_pem(b"not a certificate", b"not a key").unwrap_err();
    assert!(matches!(error, TlsError::Config(_)), "{error:?}");
    let leaf = Ca::new("ca").leaf(&["localhost"]);
    let other = Ca::new("ca").leaf(&["localhost"]);
    // A key that does not match the certificate.
    let error = wsx::TlsAcceptor::from_pem(leaf.cert_pem.as_bytes(), other.key_pem.as_bytes()).unwrap_err();
    assert!(matches!(error, TlsError::Config(_)), "{error:?}");
}

/// Reads until the server closes; returns how long that took.
async fn time_until_closed(tcp: &mut tokio::net::TcpStream) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(20), tcp.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return start.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the TLS port kept the connection open for 20 s"),
        }
    }
}

#[tokio::test]
async fn plaintext_to_the_tls_port_is_dropped() {
    let ca = Ca::new("wsx test CA");
    let port = tls_echo_server(&ca.leaf(&["localhost"]), wsx::Config::default()).await;
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tcp.write_all(b"GET /echo HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\r\n").await.unwrap();
    // Not a TLS record: refused at once, well before the 10 s deadline.
    assert!(time_until_closed(&mut tcp).await < Duration::from_secs(5));
    // A client that connects and sends nothing is dropped at the deadline.
    let port =
        tls_echo_server(&ca.leaf(&["localhost"]), wsx::Config::default().handshake_timeout(Duration::from_millis(300)))
            .await;
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let waited = time_until_closed(&mut silent).await;
    assert!(waited >= Duration::from_millis(250) && waited < Duration::from_secs(5), "{waited:?}");
}

#[tokio::test]
async fn trickled_client_hello_is_cut_off_at_the_deadline() {
    let ca = Ca::new("wsx test CA");
    let deadline = Duration::from_millis(400);
    let port = tls_echo_server(&ca.leaf(&["localhost"]), wsx::Config::default().handshake_timeout(deadline)).await;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut read, mut write) = tcp.into_split();
    // A TLS handshake record header announcing 512 bytes, then one byte every
    // 50 ms: each byte is progress, so only the overall deadline stops it.
    let trickler = tokio::spawn(async move {
        write.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).await?;
        for _ in 0..400 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            write.write_all(&[0x01]).await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let start = Instant::now();
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(10), read.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0) | Err(_))), "connection still open: {closed:?}");
    assert!(start.elapsed() >= deadline - Duration::from_millis(50), "closed too early: {:?}", start.elapsed());
    trickler.abort();
}

#[tokio::test]
async fn client_handshake_deadline_covers_tls() {
    // A "server" that accepts TCP and never answers the ClientHello.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _server = tokio::spawn(async move {
        let (_tcp, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    let error = ClientBuilder::new(&format!("wss://localhost:{port}/"))
        .handshake_timeout(Duration::from_millis(200))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Timeout { kind: wsx::TimeoutKind::Handshake, .. }), "{error:?}");
}

#[tokio::test]
async fn server_with_tls_echoes_and_cuts_off_silent_clients_at_the_deadline() {
    let ca = Ca::new("wsx test CA");
    let leaf = ca.leaf(&["localhost"]);
    let acceptor = wsx::TlsAcceptor::from_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = wsx::Config::default().handshake_timeout(Duration::from_millis(300));
    let server = wsx::Server::new(listener, config).tls(Some(acceptor));
    tokio::spawn(server.run(|incoming| async move {
        if let Ok(mut ws) = incoming.accept().await {
            while let Some(Ok(message)) = ws.recv().await {
                if message.is_text() && ws.send(message).await.is_err() {
                    break;
                }
            }
        }
    }));
    let (mut ws, _) =
        ClientBuilder::new(&format!("wss://localhost:{port}/")).tls(trusting(&ca)).connect().await.unwrap();
    assert_echoes(&mut ws, "through wsx::Server").await;
    let mut silent = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let waited = time_until_closed(&mut silent).await;
    assert!(waited >= Duration::from_millis(250) && waited < Duration::from_secs(5), "{waited:?}");
}
