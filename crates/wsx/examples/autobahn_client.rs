//! Runs the Autobahn TestSuite's fuzzing-server protocol as a client:
//! `/getCaseCount`, then `/runCase?case=N&agent=wsx` for each case echoing
//! every message, then `/updateReports?agent=wsx`. permessage-deflate is
//! offered on every case (sections 12 and 13 need it; the others run the same
//! with or without it).
//!
//! With `--http2` every case runs over HTTP/2 (RFC 8441): an extended
//! CONNECT on a prior-knowledge connection for `ws://`, TLS with ALPN `h2`
//! for `wss://` — through a bridge to the suite's HTTP/1.1 server.
//!
//! ```text
//! cargo run --release -p wsx --example autobahn_client -- ws://127.0.0.1:9001
//! cargo run --release -p wsx --example autobahn_client -- --http2 ws://127.0.0.1:9002
//! ```

use wsx::{Config, DeflateConfig, HttpMode, Message};

const AGENT: &str = "wsx";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), wsx::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let http = if args.iter().any(|a| a == "--http2") { HttpMode::Http2 } else { HttpMode::Http1 };
    let base = args.into_iter().find(|a| !a.starts_with("--")).unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    let count = case_count(&base, http).await?;
    eprintln!("{count} cases");
    for case in 1..=count {
        if let Err(error) = run_case(&base, case, http).await {
            eprintln!("case {case}: {error}");
        }
    }
    let url = format!("{base}/updateReports?agent={AGENT}");
    let (mut ws, _) = wsx::ClientBuilder::new(&url).http(http).connect().await?;
    while ws.recv().await.is_some() {}
    Ok(())
}

async fn case_count(base: &str, http: HttpMode) -> Result<u32, wsx::Error> {
    let (mut ws, _) = wsx::ClientBuilder::new(&format!("{base}/getCaseCount")).http(http).connect().await?;
    let mut count = 0;
    while let Some(message) = ws.recv().await {
        if let Message::Text(text) = message? {
            count = text.trim().parse().unwrap_or(0);
        }
    }
    Ok(count)
}

async fn run_case(base: &str, case: u32, http: HttpMode) -> Result<(), wsx::Error> {
    let url = format!("{base}/runCase?case={case}&agent={AGENT}");
    // The suite sends messages up to 16 MiB and up to 65,536 fragments.
    let config = Config::default()
        .max_message_size(64 << 20)
        .max_fragments(1 << 20)
        .keepalive(None)
        // Threshold 0: every message is compressed. kosoku hands a text
        // message that arrives uncompressed on a permessage-deflate
        // connection to section 12/13's check as `str` and errors out, so
        // the suite can only judge fully compressed echoes.
        // No context takeover, so the offer carries client_no_context_takeover:
        // the suite's server asks for it in 13.2, 13.5 and 13.6 only when the
        // client offered it (RFC 7692 lets it ask regardless). Window 15, so
        // client_max_window_bits goes without a value and any limit works.
        .compression(DeflateConfig::default().threshold(0).no_context_takeover(true).window_bits(15));
    let (mut ws, _) = wsx::ClientBuilder::new(&url).config(config).http(http).connect().await?;
    let mut failure = None;
    while let Some(message) = ws.recv().await {
        match message {
            Ok(message) if message.is_text() || message.is_binary() => ws.send(message).await?,
            Ok(_) => {}
            // A violation fails the connection (its replies and Close are
            // already written); reading on waits for the server's Close
            // and end of stream rather than dropping a socket with unread
            // input, which a TCP stack answers with a reset.
            Err(error) => {
                failure.get_or_insert(error);
            }
        }
    }
    failure.map_or(Ok(()), Err)
}
