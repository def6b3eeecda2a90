//! `wsx connect`: a WebSocket client for the terminal and for scripts
//! (wscat's job, and more): stdin lines out as text messages (or chunks as
//! binary ones), messages in as lines on stdout, slash commands, JSON lines,
//! reconnect with back-off, and an exit status that says how it ended.

mod input;
mod output;
mod session;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use clap::Args;
use tokio::sync::Mutex;
use wsx::CloseCode;

use self::input::StdinMode;
use self::output::{BinaryFormat, Printer};
use self::session::Ending;

/// The exit statuses, in `--help` and the README.
const EXIT_STATUSES: &str = "\
Exit status:
  0  closed normally: 1000, a close without a code, or 1001 (going away)
     from a server shutting down or restarting
  1  another error (reading stdin, a file given in an option)
  2  usage: a bad option or URL
  3  could not connect: name lookup, TCP, proxy, connect timeout
  4  TLS failed: certificate, TLS handshake
  5  the WebSocket handshake failed or timed out; the HTTP status is printed
  6  the connection ended abnormally (1006): dropped without a Close frame,
     or a keepalive or close timeout
  7  the server closed with an error code (printed): any but 1000 and 1001
  8  the server broke the protocol: wsx closed with the code printed
     (1002, 1007, 1008, 1009)
130  interrupted: a second Ctrl-C before the closing handshake finished";

/// How `wsx connect` ended; the numbers are its exit statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Normal = 0,
    Failure = 1,
    Usage = 2,
    Connect = 3,
    Tls = 4,
    Handshake = 5,
    Abnormal = 6,
    PeerError = 7,
    ProtocolError = 8,
    Interrupted = 130,
}

/// Options of `wsx connect`.
#[derive(Debug, Args)]
#[command(after_help = EXIT_STATUSES)]
pub(crate) struct ConnectArgs {
    /// The server URL (ws://host:port/path or wss://…).
    url: String,
    /// Extra request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Subprotocol to offer (repeatable, in preference order).
    #[arg(short = 's', long = "subprotocol", value_name = "NAME")]
    subprotocols: Vec<String>,
    /// HTTP Basic credentials, sent as `Authorization: Basic …`.
    #[arg(long, value_name = "USER:PASSWORD")]
    auth: Option<String>,
    /// Send this Host header instead of the URL's (the connection still goes to the URL's host).
    #[arg(long, value_name = "HOST[:PORT]")]
    host: Option<String>,
    /// Send this Origin header.
    #[arg(short = 'o', long, value_name = "URL")]
    origin: Option<String>,
    /// Send these text messages (repeatable) instead of reading stdin, then
    /// close once the server has been quiet for --wait seconds.
    #[arg(short = 'x', long = "execute", value_name = "MESSAGE")]
    execute: Vec<String>,
    /// Seconds the server must be quiet, once the input has ended, before
    /// the Close is sent (replies to the last message still arrive and are
    /// printed). 0 closes at once.
    #[arg(short = 'w', long, value_name = "SECS", default_value_t = 1.0)]
    wait: f64,
    /// Send each chunk read from stdin as a binary message (else each line
    /// is a text message).
    #[arg(long)]
    binary: bool,
    /// Lines starting with / are commands: /ping [data], /pong [data],
    /// /close [code [reason]], /help; // sends a line starting with /.
    /// Default: on when stdin is a terminal.
    #[arg(long, overrides_with = "no_slash")]
    slash: bool,
    /// Send lines starting with / as they are.
    #[arg(long)]
    no_slash: bool,
    /// Print received pings and pongs (to stderr).
    #[arg(short = 'P', long)]
    show_ping_pong: bool,
    /// How binary messages are printed.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "escaped")]
    show_binary: BinaryFormat,
    /// Print every event (open, text, binary, ping, pong, close, error) as
    /// one JSON object per line on stdout, with an RFC 3339 timestamp;
    /// binary payloads in base64.
    #[arg(long)]
    jsonl: bool,
    /// After the connection drops or the server closes it, connect again
    /// (back-off from 0.5 s doubling to 30 s); stops when the input ends,
    /// on /close, Ctrl-C, or a handshake refused with a 4xx status.
    #[arg(long)]
    reconnect: bool,
    /// No colour (colour is used only on a terminal, and never under NO_COLOR).
    #[arg(long)]
    pub(crate) no_color: bool,
    /// Largest message accepted, in bytes; also the longest line or chunk sent.
    #[arg(long, default_value_t = 64 << 20)]
    max_message: usize,
    /// Do not offer permessage-deflate (RFC 7692), which is offered by default.
    #[arg(long)]
    no_compress: bool,
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
    /// HTTP version of the handshake: 1.1 (an upgrade), 2 (an extended
    /// CONNECT on an HTTP/2 connection, RFC 8441: TLS with ALPN h2 for
    /// wss://, prior knowledge for ws://), auto (HTTP/2 where a wss://
    /// server offers it, else HTTP/1.1), 3 (an extended CONNECT on HTTP/3
    /// over QUIC, RFC 9220, falling back once to TCP as auto when QUIC is
    /// blocked or refused) or 3-only (HTTP/3 and nothing else).
    #[arg(long, value_enum, default_value = "1.1", value_name = "VERSION")]
    http: HttpArg,
    /// Same as --http 2.
    #[arg(long, conflicts_with = "http")]
    http2: bool,
    /// Same as --http 3-only: WebSocket over HTTP/3 (QUIC), no fallback.
    #[arg(long, conflicts_with_all = ["http", "http2"])]
    http3: bool,
    /// Follow up to N redirects (credentials are dropped across origins).
    #[arg(long, value_name = "N", default_value_t = 0)]
    max_redirects: usize,
    /// Seconds allowed for the TCP connection (and proxy tunnel).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    connect_timeout: u64,
}

pub(crate) async fn run(args: ConnectArgs) -> ExitCode {
    let stdout_is_terminal = std::io::stdout().is_terminal();
    let printer = Printer {
        jsonl: args.jsonl,
        binary: args.show_binary,
        show_ping_pong: args.show_ping_pong,
        marker: stdout_is_terminal && !args.jsonl,
    };
    let wait = match Duration::try_from_secs_f64(args.wait) {
        Ok(wait) => wait,
        Err(_) => return usage(&printer, &format!("--wait wants seconds >= 0, got {}", args.wait)),
    };
    let mut builder = match client(&args) {
        Ok(builder) => builder,
        Err((status, error)) => return exit(&printer, status, &error),
    };
    let slash = !args.no_slash && (args.slash || std::io::stdin().is_terminal());
    let inputs = if args.execute.is_empty() {
        input::from_stdin(StdinMode { binary: args.binary, slash, max_len: args.max_message })
    } else {
        input::from_messages(&args.execute, slash)
    };
    let inputs = Arc::new(Mutex::new(inputs));
    let mut backoff = Backoff::default();
    loop {
        let started = tokio::time::Instant::now();
        let connected = tokio::select! {
            connected = builder.connect() => connected,
            _ = tokio::signal::ctrl_c() => return ExitCode::from(Status::Interrupted as u8),
        };
        let (status, retry) = match connected {
            Ok((ws, response)) => {
                tracing::debug!(status = %response.status(), negotiated = ?ws.negotiated(), "connected");
                let extensions = header_list(&response, http::header::SEC_WEBSOCKET_EXTENSIONS);
                let transport = match ws.get_ref().http_version() {
                    http::Version::HTTP_2 => "HTTP/2 extended CONNECT",
                    http::Version::HTTP_3 => "HTTP/3 extended CONNECT (QUIC)",
                    _ => "HTTP/1.1 upgrade",
                };
                printer.connected(
                    &args.url,
                    transport,
                    ws.negotiated().subprotocol.as_deref(),
                    &extensions,
                    args.verbose,
                );
                let quic = ws.get_ref().http_version() == http::Version::HTTP_3;
                let ending = session::run(ws, inputs.clone(), printer, wait).await;
                if quic {
                    // QUIC's packets leave from a task of this process: give
                    // it a moment to send the stream's FIN and the
                    // connection's close before the process exits, or the
                    // server waits for them until its close timeout.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                (report(&printer, &ending), !ending.user_done && !ending.interrupted)
            }
            Err(error) => {
                let status = connect_status(&error);
                printer.error(kind(status), &error.to_string());
                (status, retryable(&error))
            }
        };
        if !(args.reconnect && retry) {
            return ExitCode::from(status as u8);
        }
        let delay = backoff.next(started.elapsed());
        printer.note(&format!("reconnecting in {:.1} s", delay.as_secs_f64()));
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = tokio::signal::ctrl_c() => return ExitCode::from(status as u8),
        }
        builder = match client(&args) {
            Ok(builder) => builder,
            Err((status, error)) => return exit(&printer, status, &error),
        };
    }
}

/// `--http`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum HttpArg {
    /// An HTTP/1.1 upgrade.
    #[value(name = "1.1")]
    Http1,
    /// An extended CONNECT on HTTP/2.
    #[value(name = "2")]
    Http2,
    /// HTTP/2 if the server offers it, else HTTP/1.1.
    Auto,
    /// An extended CONNECT on HTTP/3 (QUIC), else once over TCP as auto.
    #[value(name = "3")]
    Http3,
    /// HTTP/3 only.
    #[value(name = "3-only")]
    Http3Only,
}

/// The client as the options describe it: connection settings, request
/// headers, TLS trust, proxy, redirects and timeouts.
fn client(args: &ConnectArgs) -> Result<wsx::ClientBuilder, (Status, String)> {
    let config = wsx::Config::default()
        .max_message_size(args.max_message)
        .max_fragments(131_072)
        .compression((!args.no_compress).then(wsx::DeflateConfig::default));
    let mut builder = wsx::ClientBuilder::new(&args.url).config(config);
    for header in &args.headers {
        let Some((name, value)) = header.split_once(':') else {
            return Err((Status::Usage, format!("--header wants `Name: value`, got {header:?}")));
        };
        builder = builder.header(name.trim(), value.trim());
    }
    for protocol in &args.subprotocols {
        builder = builder.subprotocol(protocol);
    }
    if let Some(credentials) = &args.auth {
        let basic = base64::engine::general_purpose::STANDARD.encode(credentials);
        builder = builder.header("authorization", &format!("Basic {basic}"));
    }
    if let Some(host) = &args.host {
        builder = builder.host(host);
    }
    if let Some(origin) = &args.origin {
        builder = builder.origin(origin);
    }
    let mut tls = wsx::TlsConnector::new();
    if let Some(path) = &args.ca {
        let pem =
            std::fs::read(path).map_err(|error| (Status::Failure, format!("reading {}: {error}", path.display())))?;
        tls = tls.root_certificates_pem(&pem).map_err(|error| (Status::Tls, error.to_string()))?;
    }
    if args.insecure {
        eprintln!(
            "wsx connect: WARNING: --insecure: the server's certificate is NOT verified; \
             anyone on the path can read and change this connection"
        );
        tls = tls.danger_accept_invalid_certs(true);
    }
    let proxy = match (&args.proxy, args.no_proxy) {
        (Some(url), _) => Some(wsx::Proxy::parse(url)),
        (None, false) => wsx::Proxy::from_env(&args.url).transpose(),
        (None, true) => None,
    };
    if let Some(proxy) = proxy {
        let proxy = proxy.map_err(|error| (Status::Usage, error.to_string()))?;
        tracing::debug!(?proxy, "using a proxy");
        builder = builder.proxy(proxy.tls(tls.clone()));
    }
    let http = match (args.http2, args.http3, args.http) {
        (true, _, _) | (false, false, HttpArg::Http2) => wsx::HttpMode::Http2,
        (_, true, _) | (false, false, HttpArg::Http3Only) => wsx::HttpMode::Http3Only,
        (false, false, HttpArg::Http3) => wsx::HttpMode::Http3,
        (false, false, HttpArg::Http1) => wsx::HttpMode::Http1,
        (false, false, HttpArg::Auto) => wsx::HttpMode::Auto,
    };
    Ok(builder
        .http(http)
        .tls(tls)
        .max_redirects(args.max_redirects)
        .connect_timeout(Duration::from_secs(args.connect_timeout)))
}

/// Prints how the session ended and returns its status.
fn report(printer: &Printer, ending: &Ending) -> Status {
    if let Some(error) = &ending.error {
        let kind = if matches!(error, wsx::Error::Protocol(_)) { "protocol" } else { "connection" };
        printer.error(kind, &error.to_string());
    }
    if ending.interrupted {
        printer.note("interrupted before the closing handshake finished");
        return Status::Interrupted;
    }
    if !matches!(ending.error, Some(wsx::Error::Protocol(_))) {
        printer.closed(ending.received.as_ref(), ending.by_us);
    }
    match (&ending.error, &ending.received) {
        (Some(wsx::Error::Protocol(_)), _) => Status::ProtocolError,
        (_, Some(Some(frame))) if ending.by_us || frame.code == CloseCode::NORMAL => Status::Normal,
        // RFC 6455 §7.4.1: 1001 is "going away, such as a server going
        // down": an orderly end the client did nothing wrong in, and the
        // code is printed for whoever needs to tell it apart.
        (_, Some(Some(frame))) if frame.code == CloseCode::GOING_AWAY => Status::Normal,
        (_, Some(Some(_))) => Status::PeerError,
        (_, Some(None)) => Status::Normal,
        (_, None) => Status::Abnormal,
    }
}

/// The status of a connection that never opened.
fn connect_status(error: &wsx::Error) -> Status {
    use wsx::{Error, TimeoutKind};
    match error {
        Error::Uri(_) => Status::Usage,
        Error::Http2Unavailable { .. } | Error::Http3Unavailable { .. } => Status::Handshake,
        // The connection was open and the server did not answer the upgrade.
        Error::Io { context: "sending the handshake request" | "reading the handshake response", .. } => {
            Status::Handshake
        }
        // Name lookup, TCP, the proxy and its tunnel.
        Error::Io { .. } | Error::Proxy(_) | Error::Timeout { kind: TimeoutKind::Connect, .. } => Status::Connect,
        Error::Tls(_) => Status::Tls,
        Error::Handshake(_) | Error::Redirect { .. } | Error::Timeout { .. } => Status::Handshake,
        _ => Status::Failure,
    }
}

/// Whether trying again later may work: the server was unreachable or
/// overloaded, not refusing us.
fn retryable(error: &wsx::Error) -> bool {
    use wsx::proto::handshake::HandshakeError;
    match error {
        wsx::Error::Io { .. } | wsx::Error::Timeout { .. } | wsx::Error::Proxy(_) => true,
        wsx::Error::Handshake(HandshakeError::UnexpectedStatus { status, .. }) => status.is_server_error(),
        _ => false,
    }
}

/// A stable word per status, for `--jsonl` error events.
fn kind(status: Status) -> &'static str {
    match status {
        Status::Usage => "usage",
        Status::Connect => "connect",
        Status::Tls => "tls",
        Status::Handshake => "handshake",
        _ => "error",
    }
}

fn exit(printer: &Printer, status: Status, error: &str) -> ExitCode {
    printer.error(kind(status), error);
    ExitCode::from(status as u8)
}

fn usage(printer: &Printer, error: &str) -> ExitCode {
    exit(printer, Status::Usage, error)
}

/// Every value of a header, joined with ", ".
fn header_list(response: &http::Response<()>, name: http::header::HeaderName) -> String {
    let values: Vec<&str> = response.headers().get_all(name).iter().filter_map(|value| value.to_str().ok()).collect();
    values.join(", ")
}

/// Reconnect delays: 0.5 s doubling to 30 s, back to 0.5 s after a
/// connection that lasted longer than the longest delay.
#[derive(Debug, Default)]
struct Backoff {
    next: Option<Duration>,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(500);
    const MAX: Duration = Duration::from_secs(30);

    fn next(&mut self, lasted: Duration) -> Duration {
        if lasted > Self::MAX {
            self.next = None;
        }
        let delay = self.next.unwrap_or(Self::FIRST);
        self.next = Some((delay * 2).min(Self::MAX));
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_resets_after_a_long_connection() {
        let mut backoff = Backoff::default();
        let short = Duration::from_secs(1);
        let delays: Vec<u64> = (0..9).map(|_| backoff.next(short).as_millis() as u64).collect();
        assert_eq!(delays, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
        assert_eq!(backoff.next(Duration::from_secs(60)), Backoff::FIRST);
    }

    #[test]
    fn exit_statuses_are_listed_in_the_help() {
        for status in [0, 1, 2, 3, 4, 5, 6, 7, 8, 130] {
            assert!(EXIT_STATUSES.contains(&format!("\n{status:>3}  ")), "status {status} missing");
        }
    }
}
