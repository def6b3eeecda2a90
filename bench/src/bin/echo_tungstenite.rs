//! tokio-tungstenite echo server, written the usual way: `next()` then `send()`.
//! With `--batched`, hand-batched instead: every reply that can be had
//! without waiting is queued with `feed()` and the batch goes out with one
//! `flush()`, what an application has to write itself to answer pipelined
//! requests in one write. Limits match `wsx serve` (64 MiB messages and frames).

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use wsx_bench::ServerArgs;

async fn echo(mut ws: WebSocketStream<TcpStream>) {
    while let Some(Ok(message)) = ws.next().await {
        if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
            return;
        }
    }
}

async fn echo_batched(mut ws: WebSocketStream<TcpStream>) {
    while let Some(Ok(first)) = ws.next().await {
        let mut message = Some(first);
        while let Some(m) = message.take() {
            if (m.is_text() || m.is_binary()) && ws.feed(m).await.is_err() {
                return;
            }
            // The next message if it can be had without waiting.
            message = match ws.next().now_or_never() {
                Some(Some(Ok(m))) => Some(m),
                Some(_) => {
                    let _ = ws.flush().await;
                    return;
                }
                None => None,
            };
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
}

fn main() {
    let args = ServerArgs::parse_batchable();
    let batched = args.batched;
    args.runtime().block_on(async {
        let listener = args.bind().await;
        wsx_bench::accept_loop(listener, move |stream| async move {
            let config = WebSocketConfig::default().max_message_size(Some(64 << 20)).max_frame_size(Some(64 << 20));
            let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
                return;
            };
            if batched { echo_batched(ws).await } else { echo(ws).await }
        })
        .await;
    });
}
