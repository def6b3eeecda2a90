//! `wsx connect`: an interactive client, like wscat.

use std::process::ExitCode;

use bytes::Bytes;
use clap::Args;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use wsx::{CloseCode, Message};

/// Options of `wsx connect`.
#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// The server URL (ws://host:port/path or wss://…).
    url: String,
    /// Extra request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Subprotocol to offer (repeatable, in preference order).
    #[arg(short = 's', long = "subprotocol", value_name = "NAME")]
    subprotocols: Vec<String>,
    /// Largest message accepted, in bytes.
    #[arg(long, default_value_t = 64 << 20)]
    max_message: usize,
    /// Do not offer permessage-deflate (RFC 7692), which is offered by default.
    #[arg(long)]
    no_compress: bool,
    /// Read all of stdin and send it as one binary message.
    #[arg(long)]
    binary: bool,
    /// Log the handshake and frames to stderr, and show what was negotiated.
    #[arg(short, long)]
    pub(crate) verbose: bool,
    /// Trust only the CA certificates in this PEM file for wss:// (default:
    /// the Mozilla roots).
    #[arg(long, value_name = "FILE")]
    ca: Option<std::path::PathBuf>,
    /// Do not verify the server's certificate (DANGEROUS: anyone on the path
    /// can read and change the traffic).
    #[arg(long)]
    insecure: bool,
    /// Connect through this proxy (http://, https://, socks5://, socks5h://,
    /// with optional user:password@). Default: HTTPS_PROXY / HTTP_PROXY /
    /// ALL_PROXY from the environment, unless NO_PROXY matches.
    #[arg(long, value_name = "URL")]
    proxy: Option<String>,
    /// Ignore the proxy environment variables.
    #[arg(long, conflicts_with = "proxy")]
    no_proxy: bool,
    /// Send this Origin header.
    #[arg(long, value_name = "URL")]
    origin: Option<String>,
    /// Follow up to N redirects (credentials are dropped across origins).
    #[arg(long, value_name = "N", default_value_t = 0)]
    max_redirects: usize,
    /// Seconds allowed for the TCP connection (and proxy tunnel).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    connect_timeout: u64,
}

pub(crate) async fn run(args: ConnectArgs) -> ExitCode {
    match session(args).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("wsx connect: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn session(args: ConnectArgs) -> Result<ExitCode, wsx::Error> {
    let config = wsx::Config::default()
        .max_message_size(args.max_message)
        .max_fragments(131_072)
        .compression((!args.no_compress).then(wsx::DeflateConfig::default));
    let mut builder = wsx::ClientBuilder::new(&args.url).config(config);
    for header in &args.headers {
        let Some((name, value)) = header.split_once(':') else {
            eprintln!("wsx connect: --header wants `Name: value`, got {header:?}");
            return Ok(ExitCode::from(2));
        };
        builder = builder.header(name.trim(), value.trim());
    }
    for protocol in &args.subprotocols {
        builder = builder.subprotocol(protocol);
    }
    builder = configure_transport(builder, &args)?;
    let (ws, response) = builder.connect().await?;
    tracing::debug!(status = %response.status(), negotiated = ?ws.negotiated(), "connected");
    if let Some(protocol) = &ws.negotiated().subprotocol {
        eprintln!("connected (subprotocol: {protocol})");
    } else {
        eprintln!("connected");
    }
    if args.verbose {
        let extensions: Vec<&str> = response
            .headers()
            .get_all(http::header::SEC_WEBSOCKET_EXTENSIONS)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect();
        eprintln!("subprotocol: {}", ws.negotiated().subprotocol.as_deref().unwrap_or("none"));
        eprintln!("extensions: {}", if extensions.is_empty() { "none".to_owned() } else { extensions.join(", ") });
    }
    let (mut reader, mut writer) = ws.split();
    let binary = args.binary;
    let sender = tokio::spawn(async move {
        let result = if binary { send_binary(&mut writer).await } else { send_lines(&mut writer).await };
        match result {
            Ok(()) => writer.close(CloseCode::NORMAL, "").await,
            Err(error) => Err(error),
        }
    });
    let mut failure = None;
    while let Some(message) = reader.recv().await {
        match message {
            Ok(Message::Text(text)) => println!("{}", escape(text.as_bytes())),
            Ok(Message::Binary(data)) => println!("{}", escape(&data)),
            Ok(Message::Close(frame)) => match frame {
                Some(frame) => eprintln!("closed: {} {:?}", frame.code, frame.reason.as_str()),
                None => eprintln!("closed: no status code"),
            },
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Err(error) => {
                eprintln!("wsx connect: {error}");
                failure = Some(error);
            }
        }
    }
    sender.abort();
    let outcome = reader_outcome(&failure);
    Ok(outcome)
}

/// TLS trust, proxy, origin, redirects and timeouts from the options.
fn configure_transport(mut builder: wsx::ClientBuilder, args: &ConnectArgs) -> Result<wsx::ClientBuilder, wsx::Error> {
    let mut tls = wsx::TlsConnector::new();
    if let Some(path) = &args.ca {
        let pem = std::fs::read(path).map_err(|source| wsx::Error::Io { context: "reading the --ca file", source })?;
        tls = tls.root_certificates_pem(&pem)?;
    }
    if args.insecure {
        eprintln!(
            "wsx connect: WARNING: --insecure: the server's certificate is NOT verified; \
             anyone on the path can read and change this connection"
        );
        tls = tls.danger_accept_invalid_certs(true);
    }
    let proxy = match (&args.proxy, args.no_proxy) {
        (Some(url), _) => Some(wsx::Proxy::parse(url)?),
        (None, false) => wsx::Proxy::from_env(&args.url)?,
        (None, true) => None,
    };
    if let Some(proxy) = proxy {
        tracing::debug!(?proxy, "using a proxy");
        builder = builder.proxy(proxy.tls(tls.clone()));
    }
    if let Some(origin) = &args.origin {
        builder = builder.origin(origin);
    }
    Ok(builder
        .tls(tls)
        .max_redirects(args.max_redirects)
        .connect_timeout(std::time::Duration::from_secs(args.connect_timeout)))
}

fn reader_outcome(failure: &Option<wsx::Error>) -> ExitCode {
    if failure.is_some() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

async fn send_lines(writer: &mut wsx::WriteHalf<wsx::MaybeTls>) -> Result<(), wsx::Error> {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        match lines.next_line().await {
            Ok(Some(line)) => writer.send(Message::text(line)).await?,
            Ok(None) => return Ok(()),
            Err(source) => return Err(wsx::Error::Io { context: "reading stdin", source }),
        }
    }
}

async fn send_binary(writer: &mut wsx::WriteHalf<wsx::MaybeTls>) -> Result<(), wsx::Error> {
    let mut data = Vec::new();
    tokio::io::stdin()
        .read_to_end(&mut data)
        .await
        .map_err(|source| wsx::Error::Io { context: "reading stdin", source })?;
    writer.send(Message::Binary(Bytes::from(data))).await
}

/// Printable text with control characters (and invalid UTF-8) escaped, so
/// one message is always one line.
fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            match ch {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_control_characters_and_invalid_utf8() {
        assert_eq!(escape(b"a\nb\tc\x00\\"), "a\\nb\\tc\\u{0}\\\\");
        assert_eq!(escape("héllo".as_bytes()), "héllo");
        assert_eq!(escape(b"\xff\xfe"), "\\xff\\xfe");
    }
}
