//! The opening handshake in the application's hands: a server callback that
//! sees path, query, headers, cookies and the peer, and accepts (with a
//! subprotocol and Set-Cookie) or refuses with any response; the Origin
//! allow-list; subprotocol selection; client headers, credentials from the
//! URL, and redirects.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions: a failure should panic")]

mod pki;

use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use wsx::proto::handshake::{HandshakeError, accept_key};
use wsx::{Accept, AllowedOrigins, ClientBuilder, Error};

/// What the server callback saw.
#[derive(Debug)]
struct Seen {
    path: String,
    query: Option<String>,
    session: Option<String>,
    user_agent: Option<String>,
    peer_is_loopback: bool,
}

/// A server whose callback routes by path: `/chat` needs the cookie
/// `session=ok` (else 401 with WWW-Authenticate), `/private` is 403, any
/// other path 404; accepted connections echo.
async fn app_server(policy: wsx::HandshakePolicy) -> (u16, mpsc::UnboundedReceiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let server = wsx::Server::new(listener, wsx::Config::default()).policy(policy);
    tokio::spawn(server.run(move |incoming| {
        let seen_tx = seen_tx.clone();
        async move {
            let request = incoming.request();
            let _ = seen_tx.send(Seen {
                path: request.uri().path().to_owned(),
                query: request.uri().query().map(str::to_owned),
                session: incoming.cookie("session").map(str::to_owned),
                user_agent: request.headers().get("user-agent").map(|v| v.to_str().unwrap().to_owned()),
                peer_is_loopback: incoming.peer_addr().unwrap().ip().is_loopback(),
            });
            let refusal = |status: StatusCode, extra: Option<(&str, &str)>| {
                let mut response = Response::builder().status(status);
                if let Some((name, value)) = extra {
                    response = response.header(name, value);
                }
                response.body(()).unwrap()
            };
            let path = request.uri().path().to_owned();
            let response = match path.as_str() {
                "/chat" if incoming.cookie("session") == Some("ok") => None,
                "/chat" => Some(refusal(StatusCode::UNAUTHORIZED, Some(("www-authenticate", "Cookie realm=\"chat\"")))),
                "/private" => Some(refusal(StatusCode::FORBIDDEN, None)),
                _ => Some(refusal(StatusCode::NOT_FOUND, None)),
            };
            if let Some(response) = response {
                let _ = incoming.reject(response, Bytes::from_static(b"no\n")).await;
                return;
            }
            let offered = incoming.offer().map(|o| o.subprotocols.clone()).unwrap_or_default();
            let mut accept = Accept::default().header("set-cookie", "seen=1; HttpOnly");
            if let Some(protocol) = wsx::select_subprotocol(&offered, &["chat.v2", "chat.v1"]) {
                accept = accept.subprotocol(protocol);
            }
            if let Ok(mut ws) = incoming.accept_with(accept).await {
                while let Some(Ok(message)) = ws.recv().await {
                    if message.is_text() && ws.send(message).await.is_err() {
                        break;
                    }
                }
            }
        }
    }));
    (port, seen)
}

fn status_of(error: &Error) -> Option<StatusCode> {
    match error {
        Error::Handshake(HandshakeError::UnexpectedStatus { status, .. }) => Some(*status),
        _ => None,
    }
}

#[tokio::test]
async fn callback_sees_the_request_and_accepts_with_headers_and_subprotocol() {
    let (port, mut seen) = app_server(wsx::HandshakePolicy::default()).await;
    let (mut ws, response) = ClientBuilder::new(&format!("ws://127.0.0.1:{port}/chat?room=7"))
        .header("cookie", "theme=dark; session=ok")
        .header("user-agent", "wsx-test/1")
        .subprotocol("chat.v3")
        .subprotocol("chat.v1")
        .subprotocol("chat.v2")
        .connect()
        .await
        .unwrap();
    let seen = seen.recv().await.unwrap();
    assert_eq!(seen.path, "/chat");
    assert_eq!(seen.query.as_deref(), Some("room=7"));
    assert_eq!(seen.session.as_deref(), Some("ok"));
    assert_eq!(seen.user_agent.as_deref(), Some("wsx-test/1"));
    assert!(seen.peer_is_loopback);
    // The first of the client's list that the server supports.
    assert_eq!(ws.negotiated().subprotocol.as_deref(), Some("chat.v1"));
    assert_eq!(response.headers()["sec-websocket-protocol"], "chat.v1");
    assert_eq!(response.headers()["set-cookie"], "seen=1; HttpOnly");
    pki::assert_echoes(&mut ws, "hello").await;
}

#[tokio::test]
async fn no_common_subprotocol_connects_without_one() {
    let (port, _seen) = app_server(wsx::HandshakePolicy::default()).await;
    let (ws, response) = ClientBuilder::new(&format!("ws://127.0.0.1:{port}/chat"))
        .header("cookie", "session=ok")
        .subprotocol("mqtt")
        .connect()
        .await
        .unwrap();
    // RFC 6455 §4.2.2: no Sec-WebSocket-Protocol header when none is selected.
    assert_eq!(ws.negotiated().subprotocol, None);
    assert!(!response.headers().contains_key("sec-websocket-protocol"));
}

#[tokio::test]
async fn callback_refuses_with_any_response() {
    let (port, _seen) = app_server(wsx::HandshakePolicy::default()).await;
    let url = |path: &str| format!("ws://127.0.0.1:{port}{path}");
    let cases =
        [("/chat", StatusCode::UNAUTHORIZED), ("/private", StatusCode::FORBIDDEN), ("/nope", StatusCode::NOT_FOUND)];
    for (path, status) in cases {
        let error = ClientBuilder::new(&url(path)).connect().await.unwrap_err();
        assert_eq!(status_of(&error), Some(status), "{path}: {error:?}");
    }
    // The 401 carries its challenge: read it raw.
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tcp.write_all(
        b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("www-authenticate: cookie realm=\"chat\""), "{answer}");
}

#[tokio::test]
async fn origin_allow_list_refuses_other_sites_with_403() {
    let policy = wsx::HandshakePolicy::default().allowed_origins(AllowedOrigins::new(["https://chat.example"]));
    let (port, mut seen) = app_server(policy).await;
    let url = format!("ws://127.0.0.1:{port}/chat");
    let error = ClientBuilder::new(&url).origin("https://evil.example").header("cookie", "session=ok").connect().await;
    assert_eq!(status_of(&error.unwrap_err()), Some(StatusCode::FORBIDDEN));
    // The application never saw the hijacking attempt.
    assert!(tokio::time::timeout(Duration::from_millis(100), seen.recv()).await.is_err());
    let (ws, _) =
        ClientBuilder::new(&url).origin("https://chat.example").header("cookie", "session=ok").connect().await.unwrap();
    assert_eq!(ws.negotiated().subprotocol, None);
    // No Origin: a non-browser client, allowed unless required.
    ClientBuilder::new(&url).header("cookie", "session=ok").connect().await.unwrap();
    let strict = wsx::HandshakePolicy::default()
        .allowed_origins(AllowedOrigins::new(["https://chat.example"]).require_origin(true));
    let (port, _seen) = app_server(strict).await;
    let error = ClientBuilder::new(&format!("ws://127.0.0.1:{port}/chat")).connect().await.unwrap_err();
    assert_eq!(status_of(&error), Some(StatusCode::FORBIDDEN));
}

/// A raw server: answers each connection with `respond(request head)`;
/// sends the request heads it saw.
async fn raw_server(
    respond: impl Fn(&str) -> String + Send + Sync + 'static,
) -> (u16, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    let respond = std::sync::Arc::new(respond);
    tokio::spawn(async move {
        loop {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let (tx, respond) = (tx.clone(), respond.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                while !head.ends_with(b"\r\n\r\n") {
                    let mut byte = [0u8];
                    if tcp.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8(head).unwrap();
                let _ = tcp.write_all(respond(&head).as_bytes()).await;
                let _ = tx.send(head);
                tokio::time::sleep(Duration::from_secs(5)).await;
            });
        }
    });
    (port, rx)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn switching(head: &str, extra: &str) -> String {
    let key = header(head, "sec-websocket-key").unwrap();
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n{extra}\r\n",
        accept_key(key.as_bytes())
    )
}

#[tokio::test]
async fn client_fails_when_the_server_picks_a_subprotocol_it_did_not_offer() {
    let (port, _) = raw_server(|head| switching(head, "Sec-WebSocket-Protocol: superchat\r\n")).await;
    let error = ClientBuilder::new(&format!("ws://127.0.0.1:{port}/")).subprotocol("chat").connect().await.unwrap_err();
    assert!(
        matches!(&error, Error::Handshake(HandshakeError::UnexpectedSubprotocol { protocol }) if protocol == "superchat"),
        "{error:?}"
    );
}

#[tokio::test]
async fn custom_headers_and_credentials_from_the_url_are_sent() {
    let (port, mut heads) = raw_server(|head| switching(head, "")).await;
    let (_ws, _) = ClientBuilder::new(&format!("ws://alice:pa55@127.0.0.1:{port}/x"))
        .header("x-trace", "abc")
        .connect()
        .await
        .unwrap();
    let head = heads.recv().await.unwrap();
    // base64("alice:pa55")
    assert_eq!(header(&head, "authorization"), Some("Basic YWxpY2U6cGE1NQ=="));
    assert_eq!(header(&head, "x-trace"), Some("abc"));
    assert!(head.starts_with("GET /x HTTP/1.1\r\n"), "{head}");
}

#[tokio::test]
async fn redirects_are_not_followed_by_default() {
    let (port, _) =
        raw_server(|_| "HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n".to_owned()).await;
    let error = ClientBuilder::new(&format!("ws://127.0.0.1:{port}/")).connect().await.unwrap_err();
    match error {
        Error::Redirect { status, location } => {
            assert_eq!(status, StatusCode::FOUND);
            assert_eq!(location, "/elsewhere");
        }
        other => panic!("expected a redirect error, got {other:?}"),
    }
}

#[tokio::test]
async fn redirects_followed_up_to_the_limit_drop_credentials_across_origins() {
    // The final server, on another port (another origin).
    let (final_port, mut final_heads) = raw_server(|head| switching(head, "")).await;
    // The first server redirects within its origin once, then to the other.
    let (port, mut first_heads) = raw_server(move |head| {
        if head.starts_with("GET /start ") {
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: /step\r\nContent-Length: 0\r\n\r\n".to_owned()
        } else {
            format!("HTTP/1.1 301 Moved\r\nLocation: ws://127.0.0.1:{final_port}/end\r\nContent-Length: 0\r\n\r\n")
        }
    })
    .await;
    let url = format!("ws://bob:pw@127.0.0.1:{port}/start");
    let build = || ClientBuilder::new(&url).header("cookie", "session=secret").header("x-keep", "1");
    // One redirect allowed, two needed.
    let error = build().max_redirects(1).connect().await.unwrap_err();
    assert!(matches!(error, Error::Redirect { status: StatusCode::MOVED_PERMANENTLY, .. }), "{error:?}");
    first_heads.recv().await.unwrap();
    first_heads.recv().await.unwrap();
    let (_ws, response) = build().max_redirects(2).connect().await.unwrap();
    assert_eq!(response.status(), 101);
    let start = first_heads.recv().await.unwrap();
    let step = first_heads.recv().await.unwrap();
    let end = final_heads.recv().await.unwrap();
    assert!(step.starts_with("GET /step "), "{step}");
    // Same origin: credentials kept.
    for head in [&start, &step] {
        assert!(header(head, "authorization").is_some() && header(head, "cookie").is_some(), "{head}");
    }
    // Other origin: credentials dropped, other headers kept.
    assert!(end.starts_with("GET /end "), "{end}");
    assert_eq!(header(&end, "authorization"), None, "{end}");
    assert_eq!(header(&end, "cookie"), None, "{end}");
    assert_eq!(header(&end, "x-keep"), Some("1"));
}

#[tokio::test]
async fn connect_and_handshake_timeouts() {
    // A server that accepts TCP and never answers the upgrade request.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            held.push(tcp);
        }
    });
    let error = ClientBuilder::new(&format!("ws://127.0.0.1:{port}/"))
        .handshake_timeout(Duration::from_millis(200))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Timeout { kind: wsx::TimeoutKind::Handshake, .. }), "{error:?}");
    // A proxy that accepts TCP and never answers CONNECT: the connect
    // deadline covers the tunnel.
    let proxy = wsx::Proxy::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let error = ClientBuilder::new("ws://127.0.0.1:9/")
        .proxy(proxy)
        .connect_timeout(Duration::from_millis(200))
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Timeout { kind: wsx::TimeoutKind::Connect, .. }), "{error:?}");
}
