//! yawc echo server: hyper upgrade, written the usual way: `next()` then `send()`.
//! With `--batched`, hand-batched instead: every reply that can be had
//! without waiting is queued with `feed()` and the batch goes out with one
//! `flush()`. UTF-8 validation on (as RFC 6455 §8.1 requires and every other
//! server does), limits match `wsx serve` (64 MiB messages).

use futures_util::{FutureExt, SinkExt, StreamExt};
use hyper::Request;
use hyper::body::Incoming;
use wsx_bench::ServerArgs;
use yawc::{HttpResponse, OpCode, Options, UpgradeFut, WebSocket};

async fn echo(fut: UpgradeFut) -> yawc::Result<()> {
    let mut ws = fut.await?;
    while let Some(frame) = ws.next().await {
        if matches!(frame.opcode(), OpCode::Text | OpCode::Binary) {
            ws.send(frame).await?;
        }
    }
    Ok(())
}

async fn echo_batched(fut: UpgradeFut) -> yawc::Result<()> {
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

async fn handle(mut request: Request<Incoming>, batched: bool) -> yawc::Result<HttpResponse> {
    let options = Options::default().with_utf8().with_limits(64 << 20, 128 << 20);
    let (response, fut) = WebSocket::upgrade_with_options(&mut request, options)?;
    tokio::spawn(async move {
        let _ = if batched { echo_batched(fut).await } else { echo(fut).await };
    });
    Ok(response)
}

fn main() {
    let args = ServerArgs::parse_batchable();
    let batched = args.batched;
    wsx_bench::serve_http1(&args, move |request| handle(request, batched));
}
