//! wsx-blocking echo server, thread per connection: `recv` then `send`.
//! Limits match `wsx serve` (64 MiB messages and frames); no keepalive, as
//! in the tungstenite peer. `--threads` is ignored (a thread per
//! connection).

use std::net::{TcpListener, TcpStream};

use wsx_bench::ServerArgs;
use wsx_blocking::{Config, HandshakePolicy};

fn echo(tcp: TcpStream) -> Result<(), wsx_blocking::Error> {
    let config = Config::default().max_message_size(64 << 20).keepalive(None);
    let mut ws = wsx_blocking::accept_with_policy(tcp, config, &HandshakePolicy::default())?;
    while let Some(message) = ws.recv() {
        let message = message?;
        if message.is_text() || message.is_binary() {
            ws.send(message)?;
        }
    }
    Ok(())
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
