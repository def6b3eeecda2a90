//! wsx echo server: `wsx::serve` with the settings of `wsx serve`'s `/echo`
//! (64 MiB messages, 131,072 fragments, keepalive every 20 s): `recv()`
//! then `feed()`, the loop `WebSocket::feed` documents (the replies leave
//! before the next `recv` waits for input).

use std::time::Duration;

use wsx_bench::ServerArgs;

fn main() {
    let args = ServerArgs::parse();
    args.runtime().block_on(async {
        let listener = args.bind().await;
        let config = wsx::Config::default().max_message_size(64 << 20).max_fragments(131_072).keepalive(Some(
            wsx::Keepalive::default().interval(Duration::from_secs(20)).timeout(Duration::from_secs(20)),
        ));
        let result = wsx::serve(listener, config, |incoming| async move {
            let Ok(mut ws) = incoming.accept().await else { return };
            while let Some(Ok(message)) = ws.recv().await {
                if (message.is_text() || message.is_binary()) && ws.feed(message).await.is_err() {
                    return;
                }
            }
        })
        .await;
        if let Err(e) = result {
            eprintln!("wsx::serve: {e}");
        }
    });
}
