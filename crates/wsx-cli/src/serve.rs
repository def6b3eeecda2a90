//! `wsx serve`: clap options and wiring — echo, the rooms of `wsx-rooms`
//! (`/rooms/{name}`, and `/broadcast` as a room without envelope or
//! history), the demo page, `/stats`; or a command per connection (`--exec`).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use tokio::net::TcpListener;
use wsx::{IncomingRequest, Transport};
use wsx_rooms::{Identity, JoinParams, Protocol, RoomSet, Rooms, RoomsConfig, SlowPolicy};

use crate::demo;
use crate::exec;

/// Options of `wsx serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9001")]
    listen: SocketAddr,
    /// Runtime worker threads; 1 serves every connection on one thread
    /// (the least CPU per message where one core is enough)
    /// [default: the available parallelism].
    #[arg(short = 't', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub(crate) threads: Option<u64>,
    /// Largest message accepted, in bytes (after reassembly).
    #[arg(long, default_value_t = 64 << 20)]
    max_message: usize,
    /// Most frames one message may be split into.
    #[arg(long, default_value_t = 131_072)]
    max_fragments: usize,
    /// Seconds between keepalive pings (0 turns keepalive off).
    #[arg(long, default_value_t = 20)]
    keepalive: u64,
    /// Close connections idle for this many seconds (0: never).
    #[arg(long, default_value_t = 0)]
    idle_timeout: u64,
    /// Messages queued for a slow /broadcast client before it is dropped with 1008.
    #[arg(long, default_value_t = 1024)]
    broadcast_queue: usize,
    /// Serve wss://: the certificate chain (PEM, leaf first). Needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// Serve WebSockets over HTTP/3 too (RFC 9220): QUIC on UDP at the same
    /// address and port number, with the --tls-cert certificate (needed:
    /// QUIC is TLS 1.3). HTTP/1.1 and HTTP/2 answers advertise it with
    /// Alt-Svc.
    #[arg(long, requires = "tls_cert")]
    http3: bool,
    /// Allow WebSocket handshakes only from this origin (repeatable; others
    /// get 403). Default: any origin.
    #[arg(long = "origin", value_name = "URL")]
    origins: Vec<String>,
    /// A subprotocol this server speaks (repeatable): the first of the
    /// client's list found here is selected.
    #[arg(long = "subprotocol", value_name = "NAME")]
    subprotocols: Vec<String>,
    /// Refuse (400) clients that offer none of the --subprotocol names.
    #[arg(long, requires = "subprotocols")]
    require_subprotocol: bool,
    /// Decline permessage-deflate (RFC 7692), which is accepted by default.
    #[arg(long)]
    no_compress: bool,
    /// With permessage-deflate, send messages smaller than this uncompressed.
    #[arg(long, default_value_t = 64, value_name = "BYTES")]
    compress_threshold: usize,
    /// Most connections open at once; past it clients get 503.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Most handshake requests being read at once; past it clients get 503 at once.
    #[arg(long, default_value_t = 1_024)]
    max_handshakes: usize,
    /// Seconds a client has to send its whole handshake request.
    #[arg(long, default_value_t = 10)]
    handshake_timeout: u64,
    /// Seconds to wait for the peer's Close frame after ours.
    #[arg(long, default_value_t = 10)]
    close_timeout: u64,
    /// Seconds SIGINT/SIGTERM waits for the closing handshakes (1001) before exiting.
    #[arg(long, default_value_t = 10)]
    shutdown_timeout: u64,
    /// Messages of each room kept and sent to a new member of /rooms/{name} (0: none).
    #[arg(long, default_value_t = 50)]
    history: usize,
    /// Messages queued for a slow /rooms member before it is dropped with 1008.
    #[arg(long, default_value_t = 1024)]
    room_queue: usize,
    /// Share rooms with other `wsx serve` nodes through Redis (redis://HOST:PORT).
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// Require a JWT signed with this HMAC secret (HS256/384/512) on
    /// /rooms/{name} and /broadcast, in `Authorization: Bearer …` or
    /// `?token=`: claims `sub`, `name`, `exp`, `join` and `publish` (room
    /// patterns). Refusals close with 4001 (no or invalid token), 4002
    /// (expired) or 4003 (room not allowed).
    #[arg(long, value_name = "SECRET", env = "WSX_TOKEN_SECRET", hide_env_values = true)]
    token_secret: Option<String>,
    /// What a room does with a member that falls --room-queue messages
    /// behind, for rooms matching PATTERN (a name, `*`, or a prefix ending
    /// in `*`; repeatable, first match wins): close (1008, the default),
    /// drop-oldest, or conflate (keep the newest message per "key").
    #[arg(long = "room-policy", value_name = "PATTERN=POLICY", value_parser = parse_room_policy)]
    room_policies: Vec<(String, SlowPolicy)>,
    /// With --token-secret, still let clients without a token in, as guests.
    #[arg(long, requires = "token_secret")]
    allow_anonymous: bool,
    /// Log format on stderr: text (coloured on a terminal only) or json
    /// (one object per line, for log collectors).
    #[arg(long, value_enum, default_value = "text")]
    pub(crate) log_format: LogFormat,
    /// No colour in the log (colour is used only on a terminal, and never under NO_COLOR).
    #[arg(long)]
    pub(crate) no_color: bool,
    /// Run CMD (with `sh -c`) for each WebSocket connection, on any path,
    /// instead of the built-in endpoints: each line CMD prints on stdout is
    /// sent as a text message, each message received is written to its stdin
    /// followed by a newline. CMD must write each line out as it goes: many
    /// programs buffer a pipe (use `stdbuf -oL CMD`, `sed -u`, `grep
    /// --line-buffered`).
    ///
    /// Output lines are split at "\n" (a "\r" before it is dropped); a line
    /// that is not UTF-8 is sent as a binary message; a line longer than
    /// --max-message closes the connection with 1009. Binary messages are
    /// written as they are, followed by "\n". stderr goes to the server's
    /// stderr. When CMD exits the connection is closed with 1000 (exit status
    /// 0) or 1011 ("exit status N", "killed by signal N (SIGNAME)"). When the
    /// connection ends first, CMD's process group gets SIGTERM, then SIGKILL
    /// 1 s later. A plain HTTP request gets 426; a command that cannot be
    /// started, 500.
    ///
    /// CMD inherits the server's environment and working directory, and sees
    /// the request in CGI-style variables (never in the command line):
    /// REQUEST_URI, PATH_INFO and QUERY_STRING (as sent, not decoded),
    /// REMOTE_ADDR, REMOTE_PORT, SERVER_NAME, SERVER_ADDR, SERVER_PORT,
    /// SERVER_PROTOCOL, REQUEST_METHOD, HTTPS (=on with TLS), and HTTP_<NAME>
    /// for each request header (not Proxy, nor names with "_"), e.g.
    /// HTTP_USER_AGENT.
    #[arg(long, value_name = "CMD")]
    exec: Option<String>,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

pub(crate) async fn run(args: ServeArgs) -> ExitCode {
    // One descriptor per connection: the soft limit (often 1,024) would cap
    // the server far below --max-connections; the hard limit is ours to use.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "file descriptor limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the file descriptor limit"),
    }
    let listener = match TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("wsx serve: cannot listen on {}: {error}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let tls = match tls_acceptor(&args) {
        Ok(tls) => tls,
        Err(error) => {
            eprintln!("wsx serve: {error}");
            return ExitCode::FAILURE;
        }
    };
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    let address = listener.local_addr().map_or_else(|_| args.listen.to_string(), |a| a.to_string());
    let page = if tls.is_some() { "https" } else { "http" };
    // One line: scripts read the address from it (and may close the pipe).
    let quic = if args.http3 { "; HTTP/3 on UDP, same port" } else { "" };
    if args.exec.is_some() {
        println!(
            "wsx serve: listening on {scheme}://{address} (every WebSocket connection runs the --exec command{quic})"
        );
    } else {
        println!(
            "wsx serve: listening on {scheme}://{address} (/echo, /broadcast, /rooms/{{name}}; demo page at {page}://{address}/{quic})"
        );
    }
    let keepalive = (args.keepalive > 0).then(|| {
        wsx::Keepalive::default()
            .interval(Duration::from_secs(args.keepalive))
            .timeout(Duration::from_secs(args.keepalive))
    });
    let config = wsx::Config::default()
        .max_message_size(args.max_message)
        .compression((!args.no_compress).then(|| wsx::DeflateConfig::default().threshold(args.compress_threshold)))
        .max_fragments(args.max_fragments)
        .keepalive(keepalive)
        .idle_timeout((args.idle_timeout > 0).then(|| Duration::from_secs(args.idle_timeout)))
        .handshake_timeout(Duration::from_secs(args.handshake_timeout))
        .close_timeout(Duration::from_secs(args.close_timeout));
    let broadcast = Rooms::new(RoomsConfig::default().history(0).queue(args.broadcast_queue).protocol(Protocol::Raw));
    let rooms_config = args
        .room_policies
        .iter()
        .fold(RoomsConfig::default().history(args.history).queue(args.room_queue), |config, (pattern, policy)| {
            config.policy(RoomSet::of([pattern.as_str()]), *policy)
        });
    let rooms = match &args.redis {
        Some(url) => Rooms::with_redis(rooms_config, url),
        None => Ok(Rooms::new(rooms_config)),
    };
    let rooms = match rooms {
        Ok(rooms) => rooms,
        Err(error) => {
            eprintln!("wsx serve: --redis: {error}");
            return ExitCode::FAILURE;
        }
    };
    let auth = args
        .token_secret
        .as_ref()
        .map(|secret| wsx_rooms::TokenAuth::hmac(secret.as_bytes()).allow_anonymous(args.allow_anonymous));
    let endpoints = Arc::new(Endpoints { stats: TransportStats::default(), broadcast, rooms, auth });
    let options = wsx::ServerOptions::default()
        .max_connections(args.max_connections)
        .max_handshakes(args.max_handshakes)
        .shutdown_timeout(Duration::from_secs(args.shutdown_timeout));
    let mut server = wsx::Server::new(listener, config).policy(handshake_policy(&args)).options(options).tls(tls);
    if args.http3 {
        server = match server.http3(wsx::Http3Settings::default()) {
            Ok(server) => server,
            Err(error) => {
                eprintln!("wsx serve: cannot listen on UDP {}: {error}", args.listen);
                return ExitCode::FAILURE;
            }
        };
    }
    let shutdown = server.shutdown_signal();
    tokio::spawn(async move {
        let signal = termination_signal().await;
        tracing::info!(signal, "shutting down: no new connections, 1001 to every client");
        shutdown.trigger();
    });
    let result = match args.exec {
        Some(command) => {
            let exec = Arc::new(exec::Exec::new(command, args.max_message));
            server.run(move |incoming| exec::route(incoming, exec.clone())).await
        }
        None => server.run(move |incoming| route(incoming, endpoints.clone())).await,
    };
    match result {
        Ok(stats) => {
            tracing::info!(?stats, "stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("wsx serve: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The TLS acceptor of --tls-cert/--tls-key, if given.
fn tls_acceptor(args: &ServeArgs) -> Result<Option<wsx::TlsAcceptor>, wsx::Error> {
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => wsx::TlsAcceptor::from_pem_files(cert, key).map(Some).map_err(wsx::Error::from),
        _ => Ok(None),
    }
}

/// `--room-policy PATTERN=POLICY`.
fn parse_room_policy(value: &str) -> Result<(String, SlowPolicy), String> {
    let (pattern, policy) = value.split_once('=').ok_or("expected PATTERN=POLICY, e.g. 'ticker.*=conflate'")?;
    let policy = match policy {
        "close" => SlowPolicy::Close,
        "drop-oldest" => SlowPolicy::DropOldest,
        "conflate" => SlowPolicy::Conflate,
        other => return Err(format!("unknown policy {other:?} (close, drop-oldest, conflate)")),
    };
    Ok((pattern.to_owned(), policy))
}

/// Origin allow-list and subprotocols from the options.
fn handshake_policy(args: &ServeArgs) -> wsx::HandshakePolicy {
    let policy = wsx::HandshakePolicy::default()
        .subprotocols(args.subprotocols.clone())
        .require_subprotocol(args.require_subprotocol);
    if args.origins.is_empty() { policy } else { policy.allowed_origins(wsx::AllowedOrigins::new(&args.origins)) }
}

/// Waits for SIGINT or SIGTERM and names it.
async fn termination_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut terminate) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return "SIGINT";
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}

/// What the built-in endpoints share.
struct Endpoints {
    stats: TransportStats,
    broadcast: Rooms,
    rooms: Rooms,
    /// --token-secret.
    auth: Option<wsx_rooms::TokenAuth>,
}

impl Endpoints {
    /// Who the request is: from its token with --token-secret, else a guest.
    fn identify(&self, request: &http::Request<()>, name: Option<String>) -> Result<Identity, wsx_rooms::Refusal> {
        match &self.auth {
            Some(auth) => auth.identify(request),
            None => Ok(Identity::guest(name)),
        }
    }
}

async fn route(incoming: IncomingRequest<Transport>, endpoints: Arc<Endpoints>) {
    let peer = incoming.peer_addr();
    let path = incoming.request().uri().path().to_owned();
    let transport = transport_name(incoming.http_version());
    if path == "/stats" && incoming.offer().is_err() {
        // Boxed, like the endpoints: the connection's task keeps no room for it.
        let _ = Box::pin(incoming.reject(stats_response(), Bytes::from(endpoints.stats.to_json()))).await;
        return;
    }
    if path == "/metrics" && incoming.offer().is_err() {
        let mut body = endpoints.stats.to_prometheus();
        endpoints.rooms.render_metrics(&mut body);
        let _ = Box::pin(incoming.reject(metrics_response(), Bytes::from(body))).await;
        return;
    }
    let _open = incoming.offer().is_ok().then(|| endpoints.stats.open(incoming.http_version()));
    let result = endpoint(incoming, &path, &endpoints).await;
    match result {
        Ok(()) => tracing::info!(?peer, %path, transport, "connection closed"),
        Err(error) => tracing::info!(?peer, %path, transport, %error, "connection ended with an error"),
    }
}

/// How the log and `/stats` name the HTTP version that carried a WebSocket.
fn transport_name(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_2 => "h2",
        http::Version::HTTP_3 => "h3",
        _ => "http/1.1",
    }
}

fn stats_response() -> http::Response<()> {
    let mut response = http::Response::new(());
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}

fn metrics_response() -> http::Response<()> {
    let mut response = http::Response::new(());
    let kind = http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8");
    response.headers_mut().insert(http::header::CONTENT_TYPE, kind);
    response.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}

/// WebSocket requests by the HTTP version that carried them: open now, and
/// since the start (`GET /stats`).
#[derive(Debug, Default)]
struct TransportStats {
    open: [AtomicU64; 3],
    total: [AtomicU64; 3],
}

/// Counts one WebSocket request as open until dropped.
struct OpenSocket<'a>(&'a TransportStats, usize);

impl TransportStats {
    fn open(&self, version: http::Version) -> OpenSocket<'_> {
        let slot = match version {
            http::Version::HTTP_2 => 1,
            http::Version::HTTP_3 => 2,
            _ => 0,
        };
        self.open[slot].fetch_add(1, Ordering::Relaxed);
        self.total[slot].fetch_add(1, Ordering::Relaxed);
        OpenSocket(self, slot)
    }

    fn to_json(&self) -> String {
        let load = |counters: &[AtomicU64; 3]| {
            let count = |i: usize| counters[i].load(Ordering::Relaxed);
            serde_json::json!({"http/1.1": count(0), "h2": count(1), "h3": count(2)})
        };
        serde_json::json!({"websockets": {"open": load(&self.open), "total": load(&self.total)}}).to_string() + "\n"
    }
}

impl TransportStats {
    /// The counts in the Prometheus text format (`GET /metrics`).
    fn to_prometheus(&self) -> String {
        let mut out = String::new();
        for (name, kind, help, counters) in [
            ("wsx_websockets_open", "gauge", "WebSockets open, by the HTTP version that carried them.", &self.open),
            (
                "wsx_websockets_total",
                "counter",
                "WebSockets accepted, by the HTTP version that carried them.",
                &self.total,
            ),
        ] {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for (slot, transport) in ["http/1.1", "h2"].iter().enumerate() {
                out.push_str(&format!(
                    "{name}{{transport=\"{transport}\"}} {}\n",
                    counters[slot].load(Ordering::Relaxed)
                ));
            }
        }
        out
    }
}

impl Drop for OpenSocket<'_> {
    fn drop(&mut self) {
        self.0.open[self.1].fetch_sub(1, Ordering::Relaxed);
    }
}

/// The future that serves `path`, boxed: a connection's task lives as long
/// as the connection, and with the endpoints inline it would be as large as
/// the largest of them, so an idle `/echo` client would pay for `/rooms`.
fn endpoint<'a>(
    incoming: IncomingRequest<Transport>,
    path: &'a str,
    endpoints: &'a Endpoints,
) -> Pin<Box<dyn Future<Output = Result<(), wsx::Error>> + Send + 'a>> {
    match path {
        "/" if incoming.offer().is_err() && incoming.request().method() == http::Method::GET => {
            Box::pin(demo::serve(incoming))
        }
        room if room.starts_with("/rooms/") => {
            let params = JoinParams::from_query(incoming.request().uri().query());
            let room = &room["/rooms/".len()..];
            let identity = endpoints.identify(incoming.request(), params.name);
            Box::pin(endpoints.rooms.accept(incoming, room, identity, params.resume))
        }
        "/echo" => Box::pin(echo(incoming)),
        "/broadcast" => {
            let identity = endpoints.identify(incoming.request(), None);
            Box::pin(endpoints.broadcast.accept(incoming, "broadcast", identity, None))
        }
        _ => {
            let response = http::Response::builder().status(http::StatusCode::NOT_FOUND).body(());
            match response {
                Ok(response) => Box::pin(incoming.reject(response, Bytes::from_static(b"no such endpoint\n"))),
                Err(_) => Box::pin(std::future::ready(Ok(()))),
            }
        }
    }
}

async fn echo(incoming: IncomingRequest<Transport>) -> Result<(), wsx::Error> {
    let mut ws = incoming.accept().await?;
    tracing::debug!("echo connection open");
    let mut failure = None;
    while let Some(message) = ws.recv().await {
        let message = match message {
            Ok(message) => message,
            // A peer's violation fails the connection (the replies queued
            // before it and the Close with its code are already written);
            // reading on waits for the peer's Close and end of stream
            // rather than dropping a socket with unread input, which a TCP
            // stack answers with a reset that can destroy our Close.
            Err(error) => {
                failure.get_or_insert(error);
                continue;
            }
        };
        // Once a close has started (a shutdown's 1001, say) keep reading
        // until the peer's Close instead of failing on the send. Queued
        // only: the next `recv` that must wait writes every reply queued,
        // so a burst of messages is answered in one write.
        if (message.is_text() || message.is_binary()) && ws.is_open() {
            ws.feed(message).await?;
        }
    }
    failure.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future `f` returns, without calling it.
    fn future_size<A, R>(_: &impl FnOnce(A) -> R) -> usize {
        std::mem::size_of::<R>()
    }

    /// Every connection's task holds the routing future for its whole life:
    /// it must not grow to the size of the largest endpoint (each endpoint
    /// is boxed to its own size).
    #[test]
    fn routing_future_stays_small() {
        let size = future_size(&|(incoming, endpoints): (IncomingRequest<Transport>, Arc<Endpoints>)| {
            route(incoming, endpoints)
        });
        assert!(size <= 512, "the routing future takes {size} bytes");
    }
}
