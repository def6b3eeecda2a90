//! tokio-tungstenite echo server, written the usual way: `next()` then `send()`.
//! Limits match `wsx serve` (64 MiB messages and frames).

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use wsx_bench::ServerArgs;

fn main() {
    let args = ServerArgs::parse();
    args.runtime().block_on(async {
        let listener = args.bind().await;
        wsx_bench::accept_loop(listener, |stream| async move {
            let config = WebSocketConfig::default().max_message_size(Some(64 << 20)).max_frame_size(Some(64 << 20));
            let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
                return;
            };
            while let Some(Ok(message)) = ws.next().await {
                if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                    return;
                }
            }
        })
        .await;
    });
}
