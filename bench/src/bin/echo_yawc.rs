//! yawc echo server: hyper upgrade, written the usual way: `next()` then `send()`.
//! UTF-8 validation on (as RFC 6455 §8.1 requires and every other server does),
//! limits match `wsx serve` (64 MiB messages).

use futures_util::{SinkExt, StreamExt};
use hyper::Request;
use hyper::body::Incoming;
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
