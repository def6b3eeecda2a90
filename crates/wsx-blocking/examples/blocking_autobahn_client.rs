//! Runs the Autobahn TestSuite's fuzzing-server protocol as a blocking
//! client: `/getCaseCount`, then `/runCase?case=N&agent=wsx-blocking` for
//! each case echoing every message, then `/updateReports`.
//! permessage-deflate is offered on every case (sections 12 and 13 need it).
//!
//! ```text
//! cargo run --release -p wsx-blocking --example blocking_autobahn_client -- ws://127.0.0.1:9001
//! ```

use wsx_blocking::{Config, DeflateConfig, Message};

const AGENT: &str = "wsx-blocking";

fn main() -> Result<(), wsx_blocking::Error> {
    let base = std::env::args().nth(1).unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    let count = case_count(&base)?;
    eprintln!("{count} cases");
    for case in 1..=count {
        if let Err(error) = run_case(&base, case) {
            eprintln!("case {case}: {error}");
        }
    }
    let (mut ws, _) = wsx_blocking::connect(&format!("{base}/updateReports?agent={AGENT}"))?;
    while ws.recv().is_some() {}
    Ok(())
}

fn case_count(base: &str) -> Result<u32, wsx_blocking::Error> {
    let (mut ws, _) = wsx_blocking::connect(&format!("{base}/getCaseCount"))?;
    let mut count = 0;
    while let Some(message) = ws.recv() {
        if let Message::Text(text) = message? {
            count = text.trim().parse().unwrap_or(0);
        }
    }
    Ok(count)
}

fn run_case(base: &str, case: u32) -> Result<(), wsx_blocking::Error> {
    let url = format!("{base}/runCase?case={case}&agent={AGENT}");
    // The suite sends messages up to 16 MiB and up to 65,536 fragments.
    let config = Config::default()
        .max_message_size(64 << 20)
        .max_fragments(1 << 20)
        .keepalive(None)
        // Threshold 0: every message is compressed (kosoku cannot judge an
        // uncompressed text echo on a permessage-deflate connection). No
        // context takeover, so the offer carries client_no_context_takeover,
        // which the suite's server asks for in 13.2, 13.5 and 13.6 only when
        // offered; window 15, so any limit works.
        .compression(DeflateConfig::default().threshold(0).no_context_takeover(true).window_bits(15));
    let (mut ws, _) = wsx_blocking::ClientBuilder::new(&url).config(config).connect()?;
    let mut failure = None;
    while let Some(message) = ws.recv() {
        match message {
            Ok(message) if message.is_text() || message.is_binary() => ws.send(message)?,
            Ok(_) => {}
            // A violation fails the connection (its Close is written);
            // reading on waits for the server's Close and end of stream.
            Err(error) => {
                failure.get_or_insert(error);
            }
        }
    }
    failure.map_or(Ok(()), Err)
}
