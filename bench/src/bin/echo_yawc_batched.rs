//! yawc echo server, hand-batched: every reply already readable is queued
//! with `feed()` and the batch goes out with one `flush()` — what an
//! application has to write itself to answer pipelined requests in one
//! write. Only the pipelined cell runs it; otherwise as `echo_yawc`.

use futures_util::{FutureExt, SinkExt, StreamExt};
use hyper::Request;
use hyper::body::Incoming;
use yawc::{HttpResponse, OpCode, Options, UpgradeFut, WebSocket};

async fn echo(fut: UpgradeFut) -> yawc::Result<()> {
    let mut ws = fut.await?;
    while let Some(first) = ws.next().await {
        let mut frame = Some(first);
        while let Some(f) = frame.take() {
            if matches!(f.opcode(), OpCode::Text | OpCode::Binary) {
                ws.feed(f).await?;
            }
            // The next frame if it can be had without waiting.
            frame = match ws.next().now_or_never() {
                Some(Some(f)) => Some(f),
                Some(None) => {
                    ws.flush().await?;
                    return Ok(());
                }
                None => None,
            };
        }
        ws.flush().await?;
    }
    Ok(())
}

async fn handle(mut request: Request<Incoming>) -> yawc::Result<HttpResponse> {
    let options = Options::default().with_utf8().with_limits(64 << 20, 128 << 20);
    let (response, fut) = WebSocket::upgrade_with_options(&mut request, options)?;
    tokio::spawn(async move {
        let _ = echo(fut).await;
    });
    Ok(response)
}

fn main() {
    wsx_bench::serve_http1(handle);
}
