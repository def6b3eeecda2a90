//! The rooms mounted in an axum app beside ordinary routes:
//! `cargo run -p wsx-rooms --example axum_rooms [ADDR]`, then open
//! `http://127.0.0.1:9004/` (the demo chat page) or
//! `wsx connect 'ws://127.0.0.1:9004/rooms/lobby?name=ada'`; `GET /health`
//! is a plain route. `/rooms/{room}` is routed with `any`, so an HTTP/2
//! extended CONNECT (RFC 8441) reaches it as well as an HTTP/1.1 upgrade.
//! With `REDIS_URL=redis://127.0.0.1:6379` the rooms are shared with every
//! node on that Redis (a `wsx serve --redis …` included).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get};
use wsx::axum::WebSocketUpgrade;
use wsx_rooms::{Identity, JoinParams, Rooms, RoomsConfig};

async fn room(
    upgrade: WebSocketUpgrade,
    Path(room): Path<String>,
    RawQuery(query): RawQuery,
    State(rooms): State<Arc<Rooms>>,
) -> Response {
    if !wsx_rooms::valid_room_name(&room) {
        return (http::StatusCode::BAD_REQUEST, "bad room name\n").into_response();
    }
    // Who the member is comes from the request: here the name it asks for;
    // an app with its own login would take it from its session instead.
    let params = JoinParams::from_query(query.as_deref());
    upgrade.on_upgrade(move |ws| async move {
        match rooms.join(&room, Identity::guest(params.name), params.resume).await {
            Ok(membership) => {
                if let Err(error) = rooms.serve(ws, membership).await {
                    eprintln!("room {room}: {error}");
                }
            }
            Err(refused) => eprintln!("room {room}: {refused}"),
        }
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9004".to_owned());
    let config = RoomsConfig::default().history(100);
    let rooms = match std::env::var("REDIS_URL") {
        Ok(url) => Rooms::with_redis(config, &url)?,
        Err(_) => Rooms::new(config),
    };
    let app = Router::new()
        .route("/", get(|| async { Html(wsx_rooms::DEMO_PAGE) }))
        .route("/health", get(|| async { "ok\n" }))
        .route("/rooms/{room}", any(room))
        .with_state(Arc::new(rooms));
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
