//! WebSockets next to ordinary axum routes:
//! `cargo run -p wsx --features axum --example axum_server [ADDR]`, then
//! `curl http://127.0.0.1:9003/` and `wsx connect ws://127.0.0.1:9003/echo`.

use axum::Router;
use axum::response::Response;
use axum::routing::get;
use wsx::axum::WebSocketUpgrade;

async fn echo(upgrade: WebSocketUpgrade) -> Response {
    upgrade
        .config(wsx::Config::default().allowed_origins(wsx::AllowedOrigins::new(["http://127.0.0.1:9003"])))
        .protocols(["echo.v1"])
        .on_upgrade(|mut ws| async move {
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
    let app = Router::new().route("/", get(|| async { "hello from axum\n" })).route("/echo", get(echo));
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
