//! Raw TCP echo: the ceiling every WebSocket server is measured against.
//! Bytes are copied back as they arrive, no framing at all.

use tokio::io::AsyncWriteExt;
use wsx_bench::ServerArgs;

fn main() {
    let args = ServerArgs::parse();
    args.runtime().block_on(async {
        let listener = args.bind().await;
        wsx_bench::accept_loop(listener, |mut stream| async move {
            // The 64 KiB buffer is allocated once data has arrived (tokio's
            // first readiness may be spurious), so an idle connection costs
            // only its task and a small probe.
            let mut buf = Vec::new();
            loop {
                if stream.readable().await.is_err() {
                    return;
                }
                if buf.is_empty() {
                    let mut probe = [0u8; 1024];
                    match stream.try_read(&mut probe) {
                        Ok(0) => return,
                        Ok(n) => {
                            if stream.write_all(&probe[..n]).await.is_err() {
                                return;
                            }
                            buf = vec![0u8; 64 * 1024];
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => return,
                    }
                    continue;
                }
                match stream.try_read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        if stream.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
            }
        })
        .await;
    });
}
