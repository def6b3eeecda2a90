//! `wsx bench`: a WebSocket load generator against an echo endpoint.
//! Opens the connections (bounded concurrency), warms up, measures
//! throughput and round-trip latency (HDR histogram) in closed or open loop,
//! verifies the echoes, counts failures by kind, closes cleanly, reports.

mod conn;
mod report;
mod stats;

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use rand::RngCore as _;
use tokio::task::JoinSet;
use tokio::time::Instant;

use conn::{End, Plan, Ws};
use report::{EXIT_USAGE, Negotiation, Setup, Summary};
use stats::{ConnStats, Progress, error_kind};

/// Handshakes under way at once while the connections open.
const MAX_HANDSHAKES: usize = 128;

const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  messages were echoed and no error occurred
  1  the run completed, but errors were counted (see the report)
  2  bad usage (options, --header, --ca, URL)
  3  nothing was echoed (no connection opened, or no echo came back)";

/// Options of `wsx bench`.
#[derive(Debug, Args)]
#[command(after_help = EXIT_STATUS_HELP)]
pub(crate) struct BenchArgs {
    /// The echo endpoint (ws://host:port/path or wss://…).
    url: String,
    /// Connections to open.
    #[arg(short = 'c', long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    connections: u64,
    /// Payload of each message, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 64)]
    size: usize,
    /// Send text messages (valid UTF-8, multi-byte characters included)
    /// instead of binary ones.
    #[arg(long)]
    text: bool,
    /// Closed loop: messages in flight per connection; each echo releases
    /// the next send.
    #[arg(short = 'k', long, value_name = "K", default_value_t = 1, conflicts_with = "rate",
          value_parser = clap::value_parser!(u64).range(1..=65_536))]
    in_flight: u64,
    /// Seconds to measure, after the warm-up [default: 10].
    #[arg(short = 'd', long, value_name = "SECS", value_parser = seconds, conflicts_with = "messages")]
    duration: Option<Duration>,
    /// Messages to measure in total, over all connections (instead of a duration).
    #[arg(short = 'n', long, value_name = "N")]
    messages: Option<u64>,
    /// Open loop: send N messages per second in total, on a fixed timetable
    /// (N/C per connection, connections staggered), and measure latency from
    /// each message's scheduled send time, so a server that stalls is charged
    /// for every message it delayed.
    #[arg(long, value_name = "N", value_parser = positive)]
    rate: Option<f64>,
    /// Seconds of warm-up before measuring, excluded from the figures
    /// [default: 1 with a duration, 0 with -n].
    #[arg(long, value_name = "SECS", value_parser = seconds_or_zero)]
    warmup: Option<Duration>,
    /// Runtime worker threads; 1 runs everything on this thread
    /// [default: the available parallelism].
    #[arg(short = 't', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    /// Seconds an echo may take (from its send, or its scheduled send with
    /// --rate); past it the connection's outstanding messages count as
    /// timeouts and it stops. Also bounds the closing handshake.
    #[arg(long, value_name = "SECS", default_value = "2", value_parser = seconds)]
    timeout: Duration,
    /// Seconds allowed for each TCP connection and its handshakes.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = seconds)]
    connect_timeout: Duration,
    /// Extra request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Subprotocol to offer (repeatable, in preference order).
    #[arg(short = 's', long = "subprotocol", value_name = "NAME")]
    subprotocols: Vec<String>,
    /// Offer permessage-deflate (RFC 7692). Off by default: with it the run
    /// mostly measures zlib at both ends, and the same payload sent again
    /// and again compresses far better than real traffic does.
    #[arg(long)]
    compress: bool,
    /// Open each connection's WebSocket over HTTP/2 (RFC 8441): an extended
    /// CONNECT, TLS with ALPN h2 for wss://, prior knowledge for ws://.
    #[arg(long)]
    http2: bool,
    /// Open each connection's WebSocket over HTTP/3 (RFC 9220): an extended
    /// CONNECT on a QUIC connection (wss:// only).
    #[arg(long, conflicts_with = "http2")]
    http3: bool,
    /// Open the WebSockets as streams of shared HTTP/2 connections (or
    /// QUIC connections, with --http3), N to a connection (RFC 8441, RFC
    /// 9220): `-c 100 --streams 100` is 100 WebSockets on one connection.
    /// Implies --http2 unless --http3. The server's stream limit (100 for
    /// `wsx serve`) caps N.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    streams: Option<u64>,
    /// Trust only the CA certificates in this PEM file for wss:// (default:
    /// the Mozilla roots).
    #[arg(long, value_name = "FILE")]
    ca: Option<std::path::PathBuf>,
    /// Do not verify the server's certificate (DANGEROUS outside a test bed).
    #[arg(long)]
    insecure: bool,
    /// Print the report as one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// A duration in seconds, finite and above zero.
fn seconds(value: &str) -> Result<Duration, String> {
    positive(value).and_then(|secs| Duration::try_from_secs_f64(secs).map_err(|e| e.to_string()))
}

/// A duration in seconds, finite, zero allowed.
fn seconds_or_zero(value: &str) -> Result<Duration, String> {
    let secs: f64 = value.parse().map_err(|_| format!("{value:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|e| e.to_string())
}

/// A finite number above zero.
fn positive(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(number) if number.is_finite() && number > 0.0 => Ok(number),
        _ => Err(format!("{value:?} is not a number above zero")),
    }
}

/// Runs `wsx bench` on a runtime of its own (`--threads`).
pub(crate) fn run(args: BenchArgs) -> ExitCode {
    let target = match Target::new(&args) {
        Ok(target) => target,
        Err(message) => {
            eprintln!("wsx bench: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let (threads, runtime) = crate::runtime(args.threads);
    match runtime {
        Ok(runtime) => runtime.block_on(bench(args, target, threads)),
        Err(error) => {
            eprintln!("wsx bench: cannot start the runtime: {error}");
            ExitCode::FAILURE
        }
    }
}

/// How to open one connection: checked once, then used for each.
struct Target {
    url: String,
    /// The URL's path and query, for each stream of a shared connection.
    path: String,
    headers: Vec<(String, String)>,
    subprotocols: Vec<String>,
    tls: wsx::TlsConnector,
    config: wsx::Config,
    connect_timeout: Duration,
    http: wsx::HttpMode,
}

impl Target {
    fn new(args: &BenchArgs) -> Result<Self, String> {
        let uri = wsx::proto::uri::WsUri::parse(&args.url).map_err(|e| format!("{}: {e}", args.url))?;
        let mut headers = Vec::new();
        for header in &args.headers {
            let Some((name, value)) = header.split_once(':') else {
                return Err(format!("--header wants `Name: value`, got {header:?}"));
            };
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        let mut tls = wsx::TlsConnector::new();
        if let Some(path) = &args.ca {
            let pem = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
            tls = tls.root_certificates_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        if args.insecure {
            eprintln!("wsx bench: WARNING: --insecure: the server's certificate is NOT verified");
            tls = tls.danger_accept_invalid_certs(true);
        }
        let config = wsx::Config::default()
            .max_message_size(args.size.max(1 << 20))
            .keepalive(None)
            .close_timeout(args.timeout)
            .compression(args.compress.then(wsx::DeflateConfig::default));
        Ok(Self {
            url: args.url.clone(),
            path: uri.resource_name().to_owned(),
            headers,
            subprotocols: args.subprotocols.clone(),
            tls,
            config,
            connect_timeout: args.connect_timeout,
            http: if args.http3 {
                wsx::HttpMode::Http3Only
            } else if args.http2 || args.streams.is_some() {
                wsx::HttpMode::Http2
            } else {
                wsx::HttpMode::Http1
            },
        })
    }

    fn builder(&self) -> wsx::ClientBuilder {
        let mut builder = wsx::ClientBuilder::new(&self.url)
            .config(self.config.clone())
            .tls(self.tls.clone())
            .connect_timeout(self.connect_timeout)
            .handshake_timeout(self.connect_timeout)
            .http(self.http);
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        for protocol in &self.subprotocols {
            builder = builder.subprotocol(protocol);
        }
        builder
    }
}

/// A connection that WebSockets share (`--streams`).
enum SharedConnection {
    Http2(wsx::Http2Connection),
    Http3(wsx::Http3Connection),
}

impl Target {
    /// Opens a connection to share, of the kind the options ask for.
    async fn shared_connection(&self) -> Result<SharedConnection, String> {
        let opened = if self.http == wsx::HttpMode::Http3Only {
            self.builder().connect_http3().await.map(SharedConnection::Http3)
        } else {
            self.builder().connect_http2().await.map(SharedConnection::Http2)
        };
        opened.map_err(|e| error_kind("connect", &e))
    }
}

impl SharedConnection {
    async fn open(&self, path: &str) -> Result<(Ws, http::Response<()>), wsx::Error> {
        match self {
            Self::Http2(connection) => connection.open(path).await,
            Self::Http3(connection) => connection.open(path).await,
        }
    }
}

/// The connections that opened, the first one's negotiation, and the
/// failures of the others.
struct Opened {
    sockets: Vec<Ws>,
    negotiation: Negotiation,
    failures: ConnStats,
}

/// Opens `count` WebSockets, at most `MAX_HANDSHAKES` at a time: each on
/// a connection of its own, or (`streams`) that many to a shared HTTP/2
/// connection.
async fn open_all(target: Arc<Target>, count: u64, streams: Option<u64>, progress: &Progress) -> Opened {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
    let mut pending = JoinSet::new();
    let mut shared: Option<Arc<tokio::sync::OnceCell<Result<SharedConnection, String>>>> = None;
    for index in 0..count {
        let (target, permits) = (target.clone(), permits.clone());
        let Some(per_connection) = streams else {
            pending.spawn(async move {
                let _permit = permits.acquire_owned().await;
                target.builder().connect().await.map_err(|e| error_kind("connect", &e))
            });
            continue;
        };
        if index % per_connection == 0 {
            shared = Some(Arc::default());
        }
        let connection = shared.clone().unwrap_or_default();
        pending.spawn(async move {
            let _permit = permits.acquire_owned().await;
            // The first stream of a group opens the connection; the others
            // wait for it and share it (or its failure).
            let opened = connection.get_or_init(|| target.shared_connection()).await;
            match opened {
                Ok(connection) => connection.open(&target.path).await.map_err(|e| error_kind("connect", &e)),
                Err(kind) => Err(kind.clone()),
            }
        });
    }
    let mut opened = Opened { sockets: Vec::new(), negotiation: Negotiation::default(), failures: ConnStats::new() };
    while let Some(joined) = pending.join_next().await {
        match joined {
            Ok(Ok((ws, response))) => {
                if opened.sockets.is_empty() {
                    opened.negotiation = negotiation(&ws, &response);
                }
                opened.sockets.push(ws);
                progress.connected.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(kind)) => {
                opened.failures.errors.add(kind, 1);
                progress.errors.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => opened.failures.errors.add("internal: a connecting task failed", 1),
        }
    }
    opened
}

fn negotiation(ws: &Ws, response: &http::Response<()>) -> Negotiation {
    let extensions: Vec<&str> = response
        .headers()
        .get_all(http::header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    Negotiation {
        subprotocol: ws.negotiated().subprotocol.clone(),
        extensions: (!extensions.is_empty()).then(|| extensions.join(", ")),
    }
}

/// The payload: random bytes, or (`--text`) exactly `size` bytes of valid
/// UTF-8 mixing 1- to 4-byte characters.
fn payload(size: usize, text: bool) -> Bytes {
    if !text {
        let mut data = vec![0u8; size];
        rand::rng().fill_bytes(&mut data);
        return Bytes::from(data);
    }
    const PIECES: [&str; 6] = ["The quick brown fox ", "jumps — ", "über ", "the lazy dög ", "€42 ", "😀 "];
    let mut out = String::with_capacity(size);
    'fill: loop {
        for piece in PIECES {
            if out.len() + piece.len() > size {
                break 'fill;
            }
            out.push_str(piece);
        }
    }
    while out.len() < size {
        out.push('.');
    }
    Bytes::from(out)
}

async fn bench(args: BenchArgs, target: Target, threads: usize) -> ExitCode {
    let progress = Arc::new(Progress::default());
    let display =
        std::io::stderr().is_terminal().then(|| tokio::spawn(stats::show_progress(progress.clone(), args.connections)));
    let opened = open_all(Arc::new(target), args.connections, args.streams, &progress).await;
    let setup = setup(&args, threads, opened.sockets.len() as u64);
    let start = Instant::now();
    let measure_from = start + setup.warmup;
    let plan = Arc::new(Plan {
        payload: payload(args.size, args.text),
        text: args.text,
        in_flight: setup.in_flight,
        rate: args.rate,
        connections: (opened.sockets.len() as u64).max(1),
        start,
        measure_from,
        end: match (args.messages, setup.duration) {
            (Some(n), _) => End::Messages(n),
            (None, duration) => End::At(measure_from + duration.unwrap_or(DEFAULT_DURATION)),
        },
        timeout: args.timeout,
    });
    let mut running = JoinSet::new();
    for (index, ws) in opened.sockets.into_iter().enumerate() {
        let (plan, progress, index) = (plan.clone(), progress.clone(), index as u64);
        match plan.rate {
            // Boxed: a task's output is moved at every poll of the task.
            Some(rate) => {
                running.spawn(async move { Box::new(conn::open_loop(ws, plan, rate, index, progress).await) })
            }
            None => running.spawn(async move { Box::new(conn::closed_loop(ws, plan, index, progress).await) }),
        };
    }
    let mut total = opened.failures;
    while let Some(joined) = running.join_next().await {
        match joined {
            Ok(stats) => total.merge(&stats),
            Err(_) => total.errors.add("internal: a connection task failed", 1),
        }
    }
    if let Some(display) = display {
        display.abort();
        stats::clear_progress();
    }
    let window = total.last_echo.map_or(Duration::ZERO, |last| last.saturating_duration_since(measure_from));
    let summary = Summary { setup, stats: total, window, negotiation: opened.negotiation };
    if args.json {
        println!("{}", summary.json());
    } else {
        print!("{}", summary.text());
    }
    summary.exit_code()
}

const DEFAULT_DURATION: Duration = Duration::from_secs(10);

fn setup(args: &BenchArgs, threads: usize, opened: u64) -> Setup {
    let duration = match args.messages {
        Some(_) => None,
        None => Some(args.duration.unwrap_or(DEFAULT_DURATION)),
    };
    let default_warmup = if args.messages.is_some() { Duration::ZERO } else { Duration::from_secs(1) };
    Setup {
        url: args.url.clone(),
        connections: args.connections,
        opened,
        size: args.size,
        text: args.text,
        in_flight: usize::try_from(args.in_flight).unwrap_or(1),
        rate: args.rate,
        duration,
        messages: args.messages,
        warmup: args.warmup.unwrap_or(default_warmup),
        threads,
        compress: args.compress,
        streams: args.streams,
    }
}
