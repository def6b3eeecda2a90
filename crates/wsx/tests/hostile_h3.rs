//! Hostile HTTP/3 peers against `wsx::Server`: a raw QUIC client (quinn)
//! writes HTTP/3 frames and QPACK by hand, so it can send what no HTTP/3
//! library would. Each case checks a bounded outcome — ignored, a stream
//! error, a connection error with RFC 9114's code, or a deadline — and
//! that the server still serves a normal client afterwards.

#![allow(clippy::unwrap_used, reason = "tests: a failure should panic")]

mod pki;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use wsx::{ClientBuilder, HttpMode, Message};

const WAIT: Duration = Duration::from_secs(10);

/// RFC 9114 §8.1 and RFC 9204 §6 codes the cases expect.
const H3_STREAM_CREATION_ERROR: u32 = 0x103;
const H3_FRAME_UNEXPECTED: u32 = 0x105;
const H3_MISSING_SETTINGS: u32 = 0x10a;
const H3_REQUEST_INCOMPLETE: u32 = 0x10d;
const H3_MESSAGE_ERROR: u32 = 0x10e;
const QPACK_DECOMPRESSION_FAILED: u32 = 0x200;

struct Target {
    port: u16,
    ca: String,
    /// Each WebSocket's end: its path and whether it ended in an error.
    ended: mpsc::UnboundedReceiver<(String, bool)>,
}

/// An echo server with HTTP/3, `streams` request streams per connection,
/// and short deadlines.
async fn target(streams: u32) -> Target {
    let ca = pki::Ca::new("hostile h3 CA");
    let leaf = ca.leaf(&["127.0.0.1"]);
    let tls = wsx::TlsAcceptor::from_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let keepalive = wsx::Keepalive::default().interval(Duration::from_secs(1)).timeout(Duration::from_secs(1));
    let config = wsx::Config::default()
        .handshake_timeout(Duration::from_secs(1))
        .close_timeout(Duration::from_secs(1))
        .keepalive(Some(keepalive));
    let settings = wsx::Http3Settings::default().max_concurrent_streams(streams);
    let server = wsx::Server::new(listener, config).tls(Some(tls)).http3(settings).unwrap();
    let (tx, ended) = mpsc::unbounded_channel();
    tokio::spawn(server.run(move |incoming| {
        let tx = tx.clone();
        async move {
            let path = incoming.request().uri().path().to_owned();
            let Ok(mut ws) = incoming.accept().await else { return };
            let mut failed = false;
            while let Some(message) = ws.recv().await {
                match message {
                    Ok(message) if message.is_text() || message.is_binary() => {
                        if ws.send(message).await.is_err() {
                            failed = true;
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => {
                        failed = true;
                        break;
                    }
                }
            }
            let _ = tx.send((path, failed));
        }
    }));
    Target { port, ca: ca.pem(), ended }
}

impl Target {
    /// A raw QUIC connection with ALPN h3, nothing sent yet.
    async fn quic(&self, stream_window: Option<u32>) -> quinn::Connection {
        let mut roots = wsx::rustls::RootCertStore::empty();
        for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(self.ca.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(wsx::rustls::crypto::ring::default_provider());
        let mut tls = wsx::rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&wsx::rustls::version::TLS13])
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"h3".to_vec()];
        let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        if let Some(window) = stream_window {
            let mut transport = quinn::TransportConfig::default();
            transport.stream_receive_window(window.into()).receive_window((window * 4).into());
            config.transport_config(Arc::new(transport));
        }
        let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        let address = format!("127.0.0.1:{}", self.port).parse().unwrap();
        endpoint.connect_with(config, address, "127.0.0.1").unwrap().await.unwrap()
    }

    /// A raw connection with our control stream and empty SETTINGS.
    async fn h3(&self) -> (quinn::Connection, quinn::SendStream) {
        let connection = self.quic(None).await;
        let mut control = connection.open_uni().await.unwrap();
        control.write_all(&[0x00, 0x04, 0x00]).await.unwrap();
        (connection, control)
    }

    /// A normal wsx client still gets an echo.
    async fn still_serves(&self) {
        let tls = wsx::TlsConnector::new().root_certificates_pem(self.ca.as_bytes()).unwrap();
        let url = format!("wss://127.0.0.1:{}/after", self.port);
        let (mut ws, _) = ClientBuilder::new(&url).tls(tls).http(HttpMode::Http3Only).connect().await.unwrap();
        ws.send("still alive?").await.unwrap();
        match tokio::time::timeout(WAIT, ws.recv()).await.unwrap() {
            Some(Ok(Message::Text(text))) => assert_eq!(text, "still alive?"),
            other => panic!("no echo after the hostile case: {other:?}"),
        }
    }
}

/// An integer with an `n`-bit prefix (RFC 7541 §5.1) whose high bits are `flags`.
fn prefixed(out: &mut Vec<u8>, flags: u8, n: u32, value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut rest = value - max;
    while rest >= 0x80 {
        out.push((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}

/// A field section of literal lines with literal names (no Huffman).
fn section(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = vec![0x00, 0x00];
    for (name, value) in fields {
        prefixed(&mut out, 0x20, 3, name.len());
        out.extend_from_slice(name.as_bytes());
        prefixed(&mut out, 0x00, 7, value.len());
        out.extend_from_slice(value.as_bytes());
    }
    out
}

fn varint(out: &mut Vec<u8>, value: u64) {
    match value {
        0..=63 => out.push(value as u8),
        64..=16_383 => out.extend_from_slice(&(0x4000 | value as u16).to_be_bytes()),
        _ => out.extend_from_slice(&(0x8000_0000 | value as u32).to_be_bytes()),
    }
}

fn frame(kind: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(&mut out, kind);
    varint(&mut out, payload.len() as u64);
    out.extend_from_slice(payload);
    out
}

fn connect_fields(path: &str) -> Vec<(&'static str, String)> {
    vec![
        (":method", "CONNECT".into()),
        (":protocol", "websocket".into()),
        (":scheme", "https".into()),
        (":authority", "127.0.0.1".into()),
        (":path", path.into()),
        ("sec-websocket-version", "13".into()),
    ]
}

fn headers(fields: &[(&'static str, String)]) -> Vec<u8> {
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(n, v)| (*n, v.as_str())).collect();
    frame(0x01, &section(&borrowed))
}

/// A masked client text frame.
fn ws_text(text: &str) -> Vec<u8> {
    let mut out = vec![0x81, 0x80 | text.len() as u8, 1, 2, 3, 4];
    out.extend(text.bytes().enumerate().map(|(i, b)| b ^ [1, 2, 3, 4][i % 4]));
    out
}

/// Reads frames until the first HEADERS and returns its `:status` index
/// byte (the server encodes statuses from the static table where it can).
async fn read_response(recv: &mut quinn::RecvStream) -> Vec<u8> {
    loop {
        let (kind, payload) = read_frame(recv).await.expect("a response frame");
        if kind == 0x01 {
            return payload;
        }
    }
}

async fn read_varint(recv: &mut quinn::RecvStream) -> Option<u64> {
    let mut first = [0u8; 1];
    recv.read_exact(&mut first).await.ok()?;
    let len = 1usize << (first[0] >> 6);
    let mut rest = [0u8; 7];
    recv.read_exact(&mut rest[..len - 1]).await.ok()?;
    Some(rest[..len - 1].iter().fold(u64::from(first[0] & 0x3f), |v, b| (v << 8) | u64::from(*b)))
}

async fn read_frame(recv: &mut quinn::RecvStream) -> Option<(u64, Vec<u8>)> {
    let kind = read_varint(recv).await?;
    let len = read_varint(recv).await?;
    let mut payload = vec![0; len as usize];
    recv.read_exact(&mut payload).await.ok()?;
    Some((kind, payload))
}

/// Reads DATA frames until `text` has come back (keepalive pings may come
/// first).
async fn read_echo(recv: &mut quinn::RecvStream, text: &[u8]) {
    let mut got = Vec::new();
    while !got.windows(text.len()).any(|w| w == text) {
        let (kind, data) = tokio::time::timeout(WAIT, read_frame(recv)).await.unwrap().unwrap();
        assert_eq!(kind, 0x00, "only DATA after the response");
        got.extend(data);
    }
}

/// The application error code the connection was closed with.
async fn closed_with(connection: &quinn::Connection) -> u32 {
    match tokio::time::timeout(WAIT, connection.closed()).await.expect("the server closes the connection") {
        quinn::ConnectionError::ApplicationClosed(close) => u32::try_from(u64::from(close.error_code)).unwrap(),
        other => panic!("expected an application close, got {other:?}"),
    }
}

/// `:status 200` is static entry 25: indexed, 0xc0 | 25.
const STATUS_200: u8 = 0xd9;

#[tokio::test]
async fn unknown_frame_and_stream_types_are_ignored() {
    let target = target(100).await;
    let connection = target.quic(None).await;
    let mut control = connection.open_uni().await.unwrap();
    // SETTINGS with a reserved identifier, then reserved frame types
    // (0x1f * N + 0x21) and an unknown one on the control stream.
    let mut first = vec![0x00];
    first.extend(frame(0x04, &[0x40, 0x21, 0x05]));
    first.extend(frame(0x21, b"grease"));
    first.extend(frame(0x1f * 3 + 0x21, &[0; 100]));
    first.extend(frame(0x2a, b"unknown"));
    control.write_all(&first).await.unwrap();
    // A unidirectional stream of a reserved type: refused with STOP_SENDING.
    let mut unknown = connection.open_uni().await.unwrap();
    unknown.write_all(&[0x40, 0x54, 1, 2, 3]).await.unwrap();
    let stopped = tokio::time::timeout(WAIT, unknown.stopped()).await.unwrap().unwrap();
    assert_eq!(stopped.map(u64::from), Some(u64::from(H3_STREAM_CREATION_ERROR)));
    // A request with reserved frames before HEADERS, between DATA frames
    // and splitting one WebSocket frame in two DATA frames.
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    let mut request = frame(0x21, b"before");
    request.extend(headers(&connect_fields("/grease")));
    send.write_all(&request).await.unwrap();
    let response = read_response(&mut recv).await;
    assert_eq!(response[2], STATUS_200, "{response:x?}");
    let text = ws_text("through the grease");
    let mut data = frame(0x00, &text[..5]);
    data.extend(frame(0x1f * 9 + 0x21, b"ignored"));
    data.extend(frame(0x00, &text[5..]));
    send.write_all(&data).await.unwrap();
    read_echo(&mut recv, b"through the grease").await;
    assert!(connection.close_reason().is_none());
    target.still_serves().await;
}

#[tokio::test]
async fn frame_and_qpack_violations_close_the_connection_with_their_codes() {
    let target = target(100).await;
    // DATA before HEADERS (RFC 9114 §4.1).
    let (connection, _control) = target.h3().await;
    let (mut send, _recv) = connection.open_bi().await.unwrap();
    send.write_all(&frame(0x00, b"no headers yet")).await.unwrap();
    assert_eq!(closed_with(&connection).await, H3_FRAME_UNEXPECTED);
    // SETTINGS on a request stream (§7.2.4).
    let (connection, _control) = target.h3().await;
    let (mut send, _recv) = connection.open_bi().await.unwrap();
    send.write_all(&frame(0x04, &[])).await.unwrap();
    assert_eq!(closed_with(&connection).await, H3_FRAME_UNEXPECTED);
    // An HTTP/2 frame type (§7.2.8: 0x02 PRIORITY).
    let (connection, _control) = target.h3().await;
    let (mut send, _recv) = connection.open_bi().await.unwrap();
    send.write_all(&frame(0x02, &[0, 0])).await.unwrap();
    assert_eq!(closed_with(&connection).await, H3_FRAME_UNEXPECTED);
    // A field section referring to the dynamic table we gave no room.
    let (connection, _control) = target.h3().await;
    let (mut send, _recv) = connection.open_bi().await.unwrap();
    send.write_all(&frame(0x01, &[0x00, 0x00, 0x80])).await.unwrap();
    assert_eq!(closed_with(&connection).await, QPACK_DECOMPRESSION_FAILED);
    // Huffman with bad padding, a truncated section.
    for bad in [&[0x00, 0x00, 0x51, 0x81, 0x00][..], &[0x00][..], &[0x00, 0x00, 0x51, 0x7f][..]] {
        let (connection, _control) = target.h3().await;
        let (mut send, _recv) = connection.open_bi().await.unwrap();
        send.write_all(&frame(0x01, bad)).await.unwrap();
        assert_eq!(closed_with(&connection).await, QPACK_DECOMPRESSION_FAILED, "{bad:x?}");
    }
    // A control stream that does not start with SETTINGS (§6.2.1).
    let connection = target.quic(None).await;
    let mut control = connection.open_uni().await.unwrap();
    control.write_all(&[0x00, 0x07, 0x01, 0x00]).await.unwrap();
    assert_eq!(closed_with(&connection).await, H3_MISSING_SETTINGS);
    // A second control stream (§6.2.1).
    let (connection, _control) = target.h3().await;
    let mut second = connection.open_uni().await.unwrap();
    second.write_all(&[0x00, 0x04, 0x00]).await.unwrap();
    assert_eq!(closed_with(&connection).await, H3_STREAM_CREATION_ERROR);
    // A second SETTINGS on the control stream (§7.2.4).
    let (connection, mut control) = target.h3().await;
    control.write_all(&[0x04, 0x00]).await.unwrap();
    assert_eq!(closed_with(&connection).await, H3_FRAME_UNEXPECTED);
    // A push stream from a client (§6.2.2).
    let (connection, _control) = target.h3().await;
    let mut push = connection.open_uni().await.unwrap();
    push.write_all(&[0x01, 0x00]).await.unwrap();
    assert_eq!(closed_with(&connection).await, H3_STREAM_CREATION_ERROR);
    target.still_serves().await;
}

#[tokio::test]
async fn malformed_requests_are_stream_errors() {
    let target = target(100).await;
    let (connection, _control) = target.h3().await;
    let mut malformed: Vec<Vec<(&'static str, String)>> = Vec::new();
    // No :path; :protocol on GET; uppercase name; a pseudo-header after a
    // regular one; a connection-specific field.
    malformed.push(connect_fields("/x").into_iter().filter(|(n, _)| *n != ":path").collect());
    let mut get = connect_fields("/x");
    get[0].1 = "GET".into();
    malformed.push(get);
    let mut upper = connect_fields("/x");
    upper.push(("X-Upper", "1".into()));
    malformed.push(upper);
    let mut late = connect_fields("/x");
    late.swap(4, 5);
    malformed.push(late);
    let mut connection_field = connect_fields("/x");
    connection_field.push(("connection", "upgrade".into()));
    malformed.push(connection_field);
    for fields in &malformed {
        let (mut send, mut recv) = connection.open_bi().await.unwrap();
        send.write_all(&headers(fields)).await.unwrap();
        let mut buf = [0u8; 64];
        match tokio::time::timeout(WAIT, recv.read(&mut buf)).await.unwrap() {
            Err(quinn::ReadError::Reset(code)) => assert_eq!(u64::from(code), u64::from(H3_MESSAGE_ERROR)),
            other => panic!("{fields:?}: expected a reset with H3_MESSAGE_ERROR, got {other:?}"),
        }
    }
    // The connection is unharmed: a valid CONNECT on it is accepted.
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(&headers(&connect_fields("/fine"))).await.unwrap();
    assert_eq!(read_response(&mut recv).await[2], STATUS_200);
    assert!(connection.close_reason().is_none());
    // HEADERS over the field section limit (16 KiB): 431, never read.
    let mut big = connect_fields("/big");
    big.push(("x-filler", "a".repeat(20_000)));
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(&headers(&big)).await.unwrap();
    let response = read_response(&mut recv).await;
    // :status 431 is not in the static table: a literal with name reference.
    // (the first :status entry, 24: 0101 1111 then 24 - 15), value "431".
    assert_eq!(&response[2..], &[0x5f, 0x09, 0x03, b'4', b'3', b'1'], "{response:x?}");
    // A request stream that never sends its HEADERS: reset at the deadline.
    let (mut send, mut recv) = connection.open_bi().await.unwrap();
    send.write_all(&frame(0x21, b"only grease")).await.unwrap();
    let mut buf = [0u8; 8];
    match tokio::time::timeout(WAIT, recv.read(&mut buf)).await.unwrap() {
        Err(quinn::ReadError::Reset(code)) => assert_eq!(u64::from(code), u64::from(H3_REQUEST_INCOMPLETE)),
        other => panic!("expected a reset with H3_REQUEST_INCOMPLETE, got {other:?}"),
    }
    target.still_serves().await;
}

#[tokio::test]
async fn streams_past_the_limit_wait_for_quic_credit() {
    let mut target = target(5).await;
    let (connection, _control) = target.h3().await;
    let mut open = Vec::new();
    for i in 0..5 {
        let (mut send, mut recv) = connection.open_bi().await.unwrap();
        send.write_all(&headers(&connect_fields(&format!("/s{i}")))).await.unwrap();
        assert_eq!(read_response(&mut recv).await[2], STATUS_200);
        open.push((send, recv));
    }
    // QUIC itself holds the sixth back (RFC 9000 §4.6): no stream to open.
    assert!(tokio::time::timeout(Duration::from_millis(500), connection.open_bi()).await.is_err());
    // One ends (a reset mid-message: 1006 for it alone); the sixth opens.
    let (mut send, recv) = open.remove(0);
    send.write_all(&frame(0x00, &ws_text("cut short")[..4])).await.unwrap();
    send.reset(0x10c_u32.into()).unwrap();
    drop(recv);
    let ended = tokio::time::timeout(WAIT, target.ended.recv()).await.unwrap().unwrap();
    assert_eq!(ended, ("/s0".to_owned(), true));
    let (mut send, mut recv) = tokio::time::timeout(WAIT, connection.open_bi()).await.unwrap().unwrap();
    send.write_all(&headers(&connect_fields("/sixth"))).await.unwrap();
    assert_eq!(read_response(&mut recv).await[2], STATUS_200);
    // The others still echo.
    let (send, recv) = &mut open[0];
    send.write_all(&frame(0x00, &ws_text("others fine"))).await.unwrap();
    read_echo(recv, b"others fine").await;
}

#[tokio::test]
async fn a_peer_that_never_grants_credit_is_ended_by_keepalive() {
    let mut target = target(100).await;
    // A 16 KiB stream window that the client never reopens: it never reads.
    let connection = target.quic(Some(16 * 1024)).await;
    let mut control = connection.open_uni().await.unwrap();
    control.write_all(&[0x00, 0x04, 0x00]).await.unwrap();
    let (mut send, _recv) = connection.open_bi().await.unwrap();
    send.write_all(&headers(&connect_fields("/stalled"))).await.unwrap();
    // 100 KB of echo owed, and pings to answer, with no room to send them.
    let big = vec![b'x'; 60_000];
    for _ in 0..2 {
        let mut masked = vec![0x82, 0x80 | 127];
        masked.extend_from_slice(&(big.len() as u64).to_be_bytes());
        masked.extend_from_slice(&[0, 0, 0, 0]);
        masked.extend_from_slice(&big);
        send.write_all(&frame(0x00, &masked)).await.unwrap();
    }
    // Keepalive: a ping every 1 s, 1 s for its pong; the close timeout 1 s.
    let (path, failed) = tokio::time::timeout(Duration::from_secs(15), target.ended.recv()).await.unwrap().unwrap();
    assert_eq!((path.as_str(), failed), ("/stalled", true));
    target.still_serves().await;
}
