//! sockudo-ws echo server: its handshake helpers, then `WebSocketStream`
//! written the usual way (`next()` then `send()`), with its default
//! configuration (write coalescing on) and the same 64 MiB limits as
//! `wsx serve`. Bytes read past the request (a client may send its first
//! frames at once) are handed to the stream.

use futures_util::{SinkExt, StreamExt};
use sockudo_ws::protocol::{Message, Role};
use sockudo_ws::{Config, WebSocketStream};
use tokio::net::TcpStream;
use wsx_bench::ServerArgs;

async fn echo(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Some(leftover) = wsx_bench::sockudo::handshake(&mut stream).await else { return };
    let config = Config::builder().max_message_size(64 << 20).max_payload_length(64 << 20).build();
    let leftover = (!leftover.is_empty()).then_some(leftover);
    let mut ws = WebSocketStream::from_raw_with_leftover(stream, Role::Server, config, leftover);
    while let Some(Ok(message)) = ws.next().await {
        match message {
            Message::Text(_) | Message::Binary(_) => {
                if ws.send(message).await.is_err() {
                    return;
                }
            }
            Message::Close(_) => return,
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
}

fn main() {
    let args = ServerArgs::parse();
    args.runtime().block_on(async {
        let listener = args.bind().await;
        wsx_bench::accept_loop(listener, echo).await;
    });
}
