//! sockudo-ws topic fan-out, the counterpart of `wsx serve`'s /broadcast for
//! bench/fanout.sh: its handshake helpers, its `PubSub` (every socket
//! subscribes to one topic; each message a socket sends is published to the
//! others with `publish_excluding`), and one task per socket that reads its
//! messages and writes what the topic delivers, feeding every delivery
//! already queued before one flush. Same limits as the echo servers.

use futures_util::{SinkExt, StreamExt};
use sockudo_ws::protocol::{Message, Role};
use sockudo_ws::pubsub::PubSub;
use sockudo_ws::{Config, WebSocketStream};
use std::sync::{Arc, OnceLock};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use wsx_bench::ServerArgs;

const TOPIC: &str = "load";

fn pubsub() -> &'static Arc<PubSub> {
    static PUBSUB: OnceLock<Arc<PubSub>> = OnceLock::new();
    PUBSUB.get_or_init(|| Arc::new(PubSub::new()))
}

async fn member(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Some(leftover) = wsx_bench::sockudo::handshake(&mut stream).await else { return };
    let config = Config::builder().max_message_size(64 << 20).max_payload_length(64 << 20).build();
    let leftover = (!leftover.is_empty()).then_some(leftover);
    let mut ws = WebSocketStream::from_raw_with_leftover(stream, Role::Server, config, leftover);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let pubsub = pubsub();
    let id = pubsub.create_subscriber(tx);
    pubsub.subscribe(id, TOPIC);
    loop {
        tokio::select! {
            incoming = ws.next() => match incoming {
                Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                    pubsub.publish_excluding(id, TOPIC, message);
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
            },
            delivery = rx.recv() => {
                let Some(message) = delivery else { break };
                if ws.feed(message).await.is_err() {
                    break;
                }
                while let Ok(message) = rx.try_recv() {
                    if ws.feed(message).await.is_err() {
                        break;
                    }
                }
                if ws.flush().await.is_err() {
                    break;
                }
            }
        }
    }
    pubsub.remove_subscriber(id);
}

fn main() {
    let args = ServerArgs::parse();
    args.runtime().block_on(async {
        let listener = args.bind().await;
        wsx_bench::accept_loop(listener, member).await;
    });
}
