//! WebSockets on the same port as ordinary routes, through hyper 1.x and
//! through the axum extractor; wsx's client on the other end.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions: a failure should panic")]

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wsx::{ClientBuilder, Error, Message};

async fn echo<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(mut ws: wsx::WebSocket<S>) {
    while let Some(Ok(message)) = ws.recv().await {
        if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
            break;
        }
    }
}

async fn hyper_handle(mut request: hyper::Request<Incoming>) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    if !wsx::hyper::is_upgrade_request(&request) {
        return Ok(hyper::Response::new(Full::new(Bytes::from_static(b"plain http"))));
    }
    let policy = wsx::HandshakePolicy::default();
    let upgrade = match wsx::hyper::upgrade(&mut request, &policy, wsx::Config::default()) {
        Ok(upgrade) => upgrade,
        Err(rejection) => return Ok(rejection.into_response().map(Full::new)),
    };
    let chosen = wsx::select_subprotocol(&upgrade.offer().subprotocols, &["echo.v1"]).map(str::to_owned);
    let accept = chosen.map_or_else(wsx::Accept::default, |p| wsx::Accept::default().subprotocol(p));
    Ok(match upgrade.accept(accept.header("set-cookie", "via=hyper")) {
        Ok((response, pending)) => {
            tokio::spawn(async move {
                if let Ok(ws) = pending.await {
                    echo(ws).await;
                }
            });
            response.map(Full::new)
        }
        Err(rejection) => rejection.into_response().map(Full::new),
    })
}

async fn hyper_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service_fn(hyper_handle));
                let _ = connection.with_upgrades().await;
            });
        }
    });
    port
}

/// hyper and axum over HTTP/1.1 and HTTP/2 on one port (hyper-util's auto
/// connection builder), with the extended CONNECT enabled.
async fn serve_auto<S>(service: S) -> u16
where
    S: hyper::service::Service<
            hyper::Request<Incoming>,
            Response = hyper::Response<axum::body::Body>,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let service = service.clone();
            tokio::spawn(async move {
                let mut builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                builder.http2().enable_connect_protocol();
                let _ = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service).await;
            });
        }
    });
    port
}

fn axum_app() -> axum::Router {
    use axum::routing::get;
    async fn ws(upgrade: wsx::axum::WebSocketUpgrade) -> axum::response::Response {
        let origins = wsx::AllowedOrigins::new(["https://good.example"]);
        let policy = wsx::HandshakePolicy::default().allowed_origins(origins).subprotocols(["b", "a"]);
        upgrade.policy(&policy).header("set-cookie", "via=axum").on_upgrade(echo)
    }
    axum::Router::new().route("/", get(|| async { "plain http" })).route("/echo", axum::routing::any(ws))
}

async fn axum_server() -> u16 {
    let app = axum_app();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

/// A raw HTTP/1.1 exchange; returns the whole response text.
async fn raw(port: u16, request: &str) -> String {
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tcp.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

async fn assert_plain_http_and_bad_upgrades(port: u16) {
    let page = raw(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(page.starts_with("HTTP/1.1 200") && page.ends_with("plain http"), "{page}");
    let no_key = raw(port, "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n").await;
    assert!(no_key.starts_with("HTTP/1.1 400"), "{no_key}");
    let old_version = raw(port, "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n").await;
    assert!(old_version.starts_with("HTTP/1.1 426"), "{old_version}");
    assert!(old_version.to_ascii_lowercase().contains("sec-websocket-version: 13"), "{old_version}");
}

#[tokio::test]
async fn hyper_serves_websockets_next_to_plain_routes() {
    let port = hyper_server().await;
    let (mut ws, response) = ClientBuilder::new(&format!("ws://127.0.0.1:{port}/echo"))
        .subprotocol("nope")
        .subprotocol("echo.v1")
        .connect()
        .await
        .unwrap();
    assert_eq!(ws.negotiated().subprotocol.as_deref(), Some("echo.v1"));
    assert_eq!(response.headers()["set-cookie"], "via=hyper");
    ws.send("through hyper").await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("through hyper"));
    ws.close(wsx::CloseCode::NORMAL, "").await.unwrap();
    assert_plain_http_and_bad_upgrades(port).await;
}

#[tokio::test]
async fn axum_extractor_upgrades_and_checks_origin() {
    let port = axum_server().await;
    let url = format!("ws://127.0.0.1:{port}/echo");
    let (mut ws, response) = ClientBuilder::new(&url)
        .origin("https://good.example")
        .subprotocol("a")
        .subprotocol("b")
        .connect()
        .await
        .unwrap();
    // The first of the client's list that the server supports.
    assert_eq!(ws.negotiated().subprotocol.as_deref(), Some("a"));
    assert_eq!(response.headers()["set-cookie"], "via=axum");
    ws.send("through axum").await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("through axum"));
    ws.close(wsx::CloseCode::NORMAL, "").await.unwrap();
    // No subprotocol in common: accepted without one.
    let (ws, _) = ClientBuilder::new(&url).origin("https://good.example").subprotocol("z").connect().await.unwrap();
    assert_eq!(ws.negotiated().subprotocol, None);
    // A page on another site is refused.
    let error = ClientBuilder::new(&url).origin("https://evil.example").connect().await.unwrap_err();
    assert!(
        matches!(&error, Error::Handshake(wsx::proto::handshake::HandshakeError::UnexpectedStatus { status, .. }) if *status == 403),
        "{error:?}"
    );
    assert_plain_http_and_bad_upgrades(port).await;
}

#[tokio::test]
async fn hyper_and_axum_accept_websockets_over_http2() {
    // hyper: the same handler, served over HTTP/2 with the extended CONNECT.
    let hyper_port = serve_auto(service_fn(|request| async move {
        let response = hyper_handle(request).await?;
        Ok::<_, Infallible>(response.map(axum::body::Body::new))
    }))
    .await;
    // axum: the router with `any` on /echo, as a hyper service.
    let axum_port = serve_auto(hyper_util::service::TowerToHyperService::new(axum_app())).await;
    for (port, origin, cookie) in
        [(hyper_port, None, "via=hyper"), (axum_port, Some("https://good.example"), "via=axum")]
    {
        let mut builder = ClientBuilder::new(&format!("ws://127.0.0.1:{port}/echo"))
            .http(wsx::HttpMode::Http2)
            .subprotocol("echo.v1")
            .subprotocol("a");
        if let Some(origin) = origin {
            builder = builder.origin(origin);
        }
        let (mut ws, response) = builder.connect().await.unwrap();
        assert_eq!(response.status(), 200, "an extended CONNECT is accepted with 200");
        assert_eq!(response.headers()["set-cookie"], cookie);
        assert_eq!(ws.get_ref().http_version(), http::Version::HTTP_2);
        ws.send("over HTTP/2").await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("over HTTP/2"));
        ws.close(wsx::CloseCode::NORMAL, "").await.unwrap();
        // HTTP/1.1 still works on the same port.
        let mut builder = ClientBuilder::new(&format!("ws://127.0.0.1:{port}/echo"));
        if let Some(origin) = origin {
            builder = builder.origin(origin);
        }
        let (mut ws, response) = builder.connect().await.unwrap();
        assert_eq!(response.status(), 101);
        ws.send("over HTTP/1.1").await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("over HTTP/1.1"));
    }
    // The policy holds over HTTP/2 too.
    let error = ClientBuilder::new(&format!("ws://127.0.0.1:{axum_port}/echo"))
        .http(wsx::HttpMode::Http2)
        .origin("https://evil.example")
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::Handshake(wsx::proto::handshake::HandshakeError::UnexpectedStatus { status, .. }) if *status == 403),
        "{error:?}"
    );
}
