//! WebSockets next to ordinary axum routes:
//! `cargo run -p wsx --features axum --example axum_server [ADDR]`, then
//! `curl http://127.0.0.1:9003/` and `wsx connect ws://127.0.0.1:9003/echo`.
//! `/echo` is routed with `any`, so an HTTP/2 extended CONNECT (RFC 8441)
//! reaches it as well as an HTTP/1.1 upgrade.

use axum::Router;
use axum::response::Response;
use axum::routing::{any, get};
use wsx::axum::WebSocketUpgrade;

async fn echo(upgrade: WebSocketUpgrade) -> Response {
    let policy = wsx::HandshakePolicy::default()
        .allowed_origins(wsx::AllowedOrigins::new(["http://127.0.0.1:9003"]))
        .subprotocols(["echo.v1"]);
    upgrade.policy(&policy).on_upgrade(|mut ws| async move {
        while let Some(Ok(message)) = ws.recv().await {
            if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                break;
            }
        }
    })
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9003".to_owned());
    let app = Router::new().route("/", get(|| async { "hello from axum\n" })).route("/echo", any(echo));
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
