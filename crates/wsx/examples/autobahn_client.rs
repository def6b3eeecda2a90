//! Runs the Autobahn TestSuite's fuzzing-server protocol as a client:
//! `/getCaseCount`, then `/runCase?case=N&agent=wsx` for each case echoing
//! every message, then `/updateReports?agent=wsx`. permessage-deflate is
//! offered on every case (sections 12 and 13 need it; the others run the same
//! with or without it).
//!
//! With `--http2` every case runs over HTTP/2 (RFC 8441): an extended
//! CONNECT on a prior-knowledge connection for `ws://`, TLS with ALPN `h2`
//! for `wss://` — through a bridge to the suite's HTTP/1.1 server. With
//! `--http3` every case runs over HTTP/3 (RFC 9220): an extended CONNECT on
//! one QUIC connection to a `wss://` URL, trusting the certificates of
//! `--ca FILE` (a QUIC connection that ends is opened again once).
//!
//! ```text
//! cargo run --release -p wsx --example autobahn_client -- ws://127.0.0.1:9001
//! cargo run --release -p wsx --example autobahn_client -- --http2 ws://127.0.0.1:9002
//! cargo run --release -p wsx --example autobahn_client -- --http3 --ca cert.pem wss://localhost:9003
//! ```

use wsx::{Config, DeflateConfig, Error, Http3Connection, HttpMode, Message, Transport, WebSocket};

const AGENT: &str = "wsx";

/// How each case's WebSocket is opened.
struct Client {
    base: String,
    http: HttpMode,
    /// `--http3`: the QUIC connection's TLS, and the connection once open.
    quic: Option<(wsx::TlsConnector, Option<Http3Connection>)>,
}

impl Client {
    fn from_args() -> Result<Self, Error> {
        let mut args = std::env::args().skip(1);
        let (mut http, mut http3, mut ca, mut base) = (HttpMode::Http1, false, None, None);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--http2" => http = HttpMode::Http2,
                "--http3" => http3 = true,
                "--ca" => ca = args.next(),
                _ => base = Some(arg),
            }
        }
        let quic = if http3 {
            let mut tls = wsx::TlsConnector::new();
            if let Some(ca) = ca {
                let pem = std::fs::read(&ca).map_err(|source| Error::Io { context: "reading --ca", source })?;
                tls = tls.root_certificates_pem(&pem)?;
            }
            Some((tls, None))
        } else {
            None
        };
        Ok(Self { base: base.unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned()), http, quic })
    }

    /// A WebSocket on `path_and_query` with `config`.
    async fn open(&mut self, path_and_query: &str, config: &Config) -> Result<WebSocket<Transport>, Error> {
        let url = format!("{}{path_and_query}", self.base);
        let Some((tls, connection)) = &mut self.quic else {
            let (ws, _) = wsx::ClientBuilder::new(&url).config(config.clone()).http(self.http).connect().await?;
            return Ok(ws);
        };
        let mut retried = false;
        loop {
            if connection.is_none() {
                let builder = wsx::ClientBuilder::new(&self.base)
                    .config(config.clone())
                    .tls(tls.clone())
                    // The suite's 16 MiB messages move without a round trip per window.
                    .http3_settings(wsx::Http3Settings::default().stream_window(4 << 20).connection_window(16 << 20));
                *connection = Some(builder.connect_http3().await?);
            }
            let Some(open) = connection.as_ref() else { continue };
            match open.open(path_and_query).await {
                Ok((ws, _)) => return Ok(ws),
                // The connection ended (or was told to go away): once more on a new one.
                Err(error @ (Error::Io { .. } | Error::Http3Unavailable { .. })) if !retried => {
                    eprintln!("{path_and_query}: {error}; opening a new QUIC connection");
                    *connection = None;
                    retried = true;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let mut client = Client::from_args()?;
    let config = case_config();
    let count = case_count(&mut client, &config).await?;
    eprintln!("{count} cases");
    for case in 1..=count {
        if let Err(error) = run_case(&mut client, case, &config).await {
            eprintln!("case {case}: {error}");
        }
    }
    let mut ws = client.open(&format!("/updateReports?agent={AGENT}"), &config).await?;
    while ws.recv().await.is_some() {}
    Ok(())
}

async fn case_count(client: &mut Client, config: &Config) -> Result<u32, Error> {
    let mut ws = client.open("/getCaseCount", config).await?;
    let mut count = 0;
    while let Some(message) = ws.recv().await {
        if let Message::Text(text) = message? {
            count = text.trim().parse().unwrap_or(0);
        }
    }
    Ok(count)
}

fn case_config() -> Config {
    // The suite sends messages up to 16 MiB and up to 65,536 fragments.
    Config::default()
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
        .compression(DeflateConfig::default().threshold(0).no_context_takeover(true).window_bits(15))
}

async fn run_case(client: &mut Client, case: u32, config: &Config) -> Result<(), Error> {
    let mut ws = client.open(&format!("/runCase?case={case}&agent={AGENT}"), config).await?;
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
