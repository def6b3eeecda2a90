//! tokio-tungstenite echo server, hand-batched: every reply already readable
//! is queued with `feed()` and the batch goes out with one `flush()` — what
//! an application has to write itself to answer pipelined requests in one
//! write. Only the pipelined cell runs it; otherwise as `echo_tungstenite`.

use futures_util::{FutureExt, SinkExt, StreamExt};
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
        })
        .await;
    });
}
