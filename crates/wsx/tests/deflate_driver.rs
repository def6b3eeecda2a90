//! permessage-deflate through the tokio driver: `Config::compression` turns
//! it on for `ClientBuilder` and the server accept path, the agreed
//! parameters show on `WebSocket::negotiated`, both sides must want it,
//! compressed frames carry RSV1 on the wire, `send_uncompressed` opts a
//! message out, and a server response that breaks RFC 7692 fails the client
//! handshake with a typed reason.

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wsx::proto::extension::{DeflateParams, NegotiationError};
use wsx::proto::handshake::{HandshakeError, HandshakeLimits, accept_key, parse_request};
use wsx::proto::{Negotiated, Role};
use wsx::{Config, DeflateConfig, Error, Message, WebSocket};

fn config(deflate: Option<DeflateConfig>) -> Config {
    Config::default().keepalive(None).compression(deflate)
}

/// A wsx echo server with `server`; returns its URL.
async fn echo_server(server: Config) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(wsx::serve(listener, server, |incoming| async move {
        let Ok(mut ws) = incoming.accept().await else { return };
        let agreed = ws.negotiated().deflate.is_some();
        while let Some(Ok(message)) = ws.recv().await {
            if message.is_text() || message.is_binary() {
                // The server tells what it agreed to in each echo's first byte.
                let mut payload = vec![u8::from(agreed)];
                payload.extend_from_slice(&message.payload());
                if ws.send(Message::binary(payload)).await.is_err() {
                    break;
                }
            }
        }
    }));
    format!("ws://127.0.0.1:{port}/")
}

#[tokio::test]
async fn both_ends_agree_and_round_trip() {
    let url = echo_server(config(Some(DeflateConfig::default()))).await;
    let client = config(Some(DeflateConfig::default().no_context_takeover(true)));
    let (mut ws, response) = wsx::ClientBuilder::new(&url).config(client).connect().await.expect("connect");
    assert_eq!(response.headers()["sec-websocket-extensions"], "permessage-deflate");
    assert_eq!(ws.negotiated().deflate, Some(DeflateParams::default()));
    let text = "{\"user\":\"ada\",\"text\":\"hello\"},".repeat(2000);
    for _ in 0..3 {
        ws.send(text.as_str()).await.expect("send");
        let echo = ws.recv().await.expect("echo").expect("ok");
        assert_eq!(echo.payload()[0], 1, "the server agreed");
        assert_eq!(&echo.payload()[1..], text.as_bytes());
    }
    ws.send_uncompressed(Message::text(text.as_str())).await.expect("send uncompressed");
    assert_eq!(&ws.recv().await.expect("echo").expect("ok").payload()[1..], text.as_bytes());
}

#[tokio::test]
async fn it_takes_both_ends() {
    for (client, server) in [(true, false), (false, true), (false, false)] {
        let url = echo_server(config(server.then(DeflateConfig::default))).await;
        let ours = config(client.then(DeflateConfig::default));
        let (mut ws, response) = wsx::ClientBuilder::new(&url).config(ours).connect().await.expect("connect");
        assert!(!response.headers().contains_key("sec-websocket-extensions"));
        assert_eq!(ws.negotiated().deflate, None, "client {client}, server {server}");
        ws.send("plain").await.expect("send");
        assert_eq!(&ws.recv().await.expect("echo").expect("ok").payload()[..], b"\0plain");
    }
}

#[tokio::test]
async fn compressed_frames_carry_rsv1_and_opted_out_ones_do_not() {
    let (ours, mut theirs) = tokio::io::duplex(1 << 16);
    let negotiated = Negotiated::new(Role::Server).with_deflate(Some(DeflateParams::default()));
    let mut ws = WebSocket::from_upgraded(ours, negotiated, config(Some(DeflateConfig::default().threshold(10))), b"")
        .expect("ws");
    ws.send("hello hello hello hello").await.expect("compressed");
    ws.send("short").await.expect("under the threshold");
    ws.send_uncompressed(Message::text("hello hello hello hello")).await.expect("opted out");
    let mut wire = vec![0u8; 256];
    let mut read = 0;
    // Three frames: header byte, length, payload each (all short).
    let mut firsts = Vec::new();
    while firsts.len() < 3 {
        read += theirs.read(&mut wire[read..]).await.expect("read");
        firsts.clear();
        let mut at = 0;
        while at + 2 <= read {
            let len = usize::from(wire[at + 1] & 0x7f);
            if at + 2 + len > read {
                break;
            }
            firsts.push(wire[at]);
            at += 2 + len;
        }
    }
    assert_eq!(firsts, [0xc1, 0x81, 0x81], "FIN+RSV1+text, then FIN+text twice");
}

/// A server that answers any handshake with `extensions` in its 101.
async fn lying_server(extensions: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut buf = BytesMut::with_capacity(4096);
            let request = loop {
                if tcp.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                    return;
                }
                if let Ok(Some((request, _))) = parse_request(&buf, &HandshakeLimits::default()) {
                    break request;
                }
            };
            let key = request.headers()["sec-websocket-key"].as_bytes();
            let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Extensions: {extensions}\r\n\r\n",
                accept_key(key)
            );
            let _ = tcp.write_all(response.as_bytes()).await;
        }
    });
    format!("ws://127.0.0.1:{port}/")
}

#[tokio::test]
async fn a_response_that_breaks_rfc_7692_fails_the_handshake() {
    let cases: [(&'static str, NegotiationError); 4] = [
        ("permessage-deflate; client_max_window_bits=8", NegotiationError::WindowEightUnsupported),
        ("permessage-deflate; x_unknown", NegotiationError::UnknownParam("x_unknown".into())),
        (
            "permessage-deflate; server_max_window_bits=99",
            NegotiationError::InvalidValue("server_max_window_bits".into()),
        ),
        ("permessage-deflate, permessage-deflate", NegotiationError::DuplicateExtension),
    ];
    for (extensions, expected) in cases {
        let url = lying_server(extensions).await;
        let result = wsx::ClientBuilder::new(&url).config(config(Some(DeflateConfig::default()))).connect().await;
        match result {
            Err(Error::Handshake(HandshakeError::ExtensionNegotiation(reason))) => assert_eq!(reason, expected),
            other => panic!("{extensions}: expected a negotiation error, got {other:?}"),
        }
    }
    // Without compression configured, any extension in the answer was not offered.
    let url = lying_server("permessage-deflate").await;
    let result = wsx::ClientBuilder::new(&url).config(config(None)).connect().await;
    assert!(matches!(result, Err(Error::Handshake(HandshakeError::UnexpectedExtension { .. }))), "{result:?}");
}
