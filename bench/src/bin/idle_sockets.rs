//! Idle WebSockets and the server memory they hold, by transport: each on a
//! TCP connection of its own over HTTP/1.1, each on an HTTP/2 connection of
//! its own, or many as streams of shared HTTP/2 connections (RFC 8441).
//!
//! ```text
//! idle_sockets --url ws://127.0.0.1:9001/echo --sockets 2000 --server-pid PID
//!              [--streams N]   # N WebSockets per HTTP/2 connection (1: one each)
//!              [--echo]        # each socket then echoes one 64-byte message
//! ```
//!
//! Reads the server's `VmRSS` before opening, after every socket is open
//! and settled, and (`--echo`) after each has echoed one message, and prints
//! one JSON object with the growth per socket. The sockets stay open until
//! the report is printed, then close with 1000.

use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::json;
use wsx::{ClientBuilder, Config, Http2Settings, HttpMode, Message};
use wsx_bench::procfs;

struct Args {
    url: String,
    sockets: usize,
    streams: Option<usize>,
    echo: bool,
    server_pid: u32,
}

fn parse() -> anyhow::Result<Args> {
    let mut args = Args { url: String::new(), sockets: 1000, streams: None, echo: false, server_pid: 0 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} wants a value"));
        match flag.as_str() {
            "--url" => args.url = value()?,
            "--sockets" => args.sockets = value()?.parse()?,
            "--streams" => args.streams = Some(value()?.parse()?),
            "--server-pid" => args.server_pid = value()?.parse()?,
            "--echo" => args.echo = true,
            other => bail!("unknown option {other}"),
        }
    }
    if args.url.is_empty() || args.server_pid == 0 {
        bail!("usage: idle_sockets --url URL --sockets N --server-pid PID [--streams N] [--echo]");
    }
    Ok(args)
}

fn rss(pid: u32) -> anyhow::Result<u64> {
    procfs::status_kib(pid, "VmRSS").context("reading the server's VmRSS")
}

/// Waits for the server's memory to settle after a burst of work.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = parse()?;
    let config = Config::default().keepalive(None);
    let builder = || ClientBuilder::new(&args.url).config(config.clone());
    let path = wsx::proto::uri::WsUri::parse(&args.url)?.resource_name().to_owned();
    let before = rss(args.server_pid)?;
    let mut sockets = Vec::with_capacity(args.sockets);
    match args.streams {
        None => {
            for _ in 0..args.sockets {
                sockets.push(builder().http(HttpMode::Http1).connect().await?.0);
            }
        }
        Some(per) => {
            let settings = Http2Settings::default().max_concurrent_streams(per as u32);
            let mut connection = None;
            for index in 0..args.sockets {
                let current = match connection.take() {
                    Some(current) if index % per.max(1) != 0 => current,
                    _ => builder().http2_settings(settings.clone()).connect_http2().await?,
                };
                sockets.push(current.open(&path).await?.0);
                connection = Some(current);
            }
        }
    }
    settle().await;
    let open = rss(args.server_pid)?;
    let per_socket = |after: u64| (after as f64 - before as f64) / args.sockets as f64;
    let mut report = json!({
        "sockets": args.sockets,
        "transport": match args.streams { None => "http/1.1".to_owned(), Some(per) => format!("h2, {per} per connection") },
        "server_rss_before_kib": before,
        "server_rss_open_kib": open,
        "rss_per_socket_kib": per_socket(open),
    });
    if args.echo {
        let payload = vec![7u8; 64];
        for ws in &mut sockets {
            ws.send(Message::binary(payload.clone())).await?;
            match ws.recv().await {
                Some(Ok(Message::Binary(echo))) if echo[..] == payload[..] => {}
                other => bail!("expected the echo, got {other:?}"),
            }
        }
        settle().await;
        let echoed = rss(args.server_pid)?;
        report["server_rss_after_echo_kib"] = json!(echoed);
        report["rss_per_socket_after_echo_kib"] = json!(per_socket(echoed));
    }
    println!("{report}");
    for mut ws in sockets {
        let _ = ws.close(wsx::CloseCode::NORMAL, "").await;
    }
    Ok(())
}
