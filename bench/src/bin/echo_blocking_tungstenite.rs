//! tungstenite's blocking echo server, thread per connection, written the
//! usual way: `read` then `send`. Limits match `wsx serve` (64 MiB messages
//! and frames). `--threads` is ignored (a thread per connection).

use std::net::{TcpListener, TcpStream};

use tungstenite::protocol::WebSocketConfig;
use wsx_bench::ServerArgs;

fn echo(tcp: TcpStream) -> Result<(), tungstenite::Error> {
    let config = WebSocketConfig::default().max_message_size(Some(64 << 20)).max_frame_size(Some(64 << 20));
    let mut ws = tungstenite::accept_with_config(tcp, Some(config)).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(e) => e,
        tungstenite::HandshakeError::Interrupted(_) => tungstenite::Error::ConnectionClosed,
    })?;
    loop {
        let message = ws.read()?;
        if message.is_text() || message.is_binary() {
            ws.send(message)?;
        }
    }
}

fn main() {
    let args = ServerArgs::parse();
    let listener = TcpListener::bind(args.listen).unwrap_or_else(|e| {
        eprintln!("cannot listen on {}: {e}", args.listen);
        std::process::exit(1)
    });
    match listener.local_addr() {
        Ok(address) => println!("listening on {address}"),
        Err(e) => eprintln!("no local address: {e}"),
    }
    for tcp in listener.incoming().flatten() {
        let _ = tcp.set_nodelay(true);
        std::thread::spawn(move || echo(tcp));
    }
}
