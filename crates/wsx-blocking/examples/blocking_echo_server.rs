//! A thread-per-connection echo server on the blocking driver: every text
//! and binary message is sent back. Used by the Autobahn server-role run
//! (`AUTOBAHN_DRIVER=blocking bash scripts/autobahn.sh server`) and the
//! benchmarks in `bench/`.
//!
//! ```text
//! cargo run --release -p wsx-blocking --example blocking_echo_server -- 127.0.0.1:9001 [--compress] [--compress-threshold N]
//! ```

use std::net::TcpListener;

use wsx_blocking::{Config, DeflateConfig};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let listen = args.iter().find(|a| !a.starts_with("--")).map_or("127.0.0.1:9001", String::as_str);
    let threshold = args
        .iter()
        .position(|a| a == "--compress-threshold")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok());
    let compress = args.iter().any(|a| a == "--compress") || threshold.is_some();
    // The suite sends messages up to 16 MiB and up to 65,536 fragments.
    let mut config = Config::default().max_message_size(64 << 20).max_fragments(1 << 20).keepalive(None);
    if compress {
        config = config.compression(DeflateConfig::default().threshold(threshold.unwrap_or(64)));
    }
    let listener = TcpListener::bind(listen)?;
    eprintln!("listening on {}", listener.local_addr()?);
    for tcp in listener.incoming() {
        let Ok(tcp) = tcp else { continue };
        let _ = tcp.set_nodelay(true);
        let config = config.clone();
        std::thread::spawn(move || {
            if let Err(error) = echo(tcp, config) {
                eprintln!("connection: {error}");
            }
        });
    }
    Ok(())
}

fn echo(tcp: std::net::TcpStream, config: Config) -> Result<(), wsx_blocking::Error> {
    let mut ws = wsx_blocking::accept_with_policy(tcp, config, &wsx_blocking::HandshakePolicy::default())?;
    while let Some(message) = ws.recv() {
        let message = message?;
        if message.is_text() || message.is_binary() {
            ws.send(message)?;
        }
    }
    Ok(())
}
