//! `wsx` — WebSocket server, client and tools from the terminal.

mod bench;
mod connect;
mod demo;
mod exec;
mod serve;
mod term;

use clap::{Parser, Subcommand};

/// jemalloc with background threads: freed pages go back to the system
/// within `dirty_decay_ms` (10 s) even when the server is idle. glibc's malloc
/// keeps the chunks freed by a burst of connections in its per-thread arenas
/// (only `malloc_trim` returns those in the middle of a heap), so a server
/// that once held 10,000 connections stayed at 70% of that peak; without
/// background threads jemalloc purges only while allocating, never at rest.
/// Measured by `crates/wsx-cli/tests/load.rs` (`scripts/soak.sh`).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// WebSocket (RFC 6455) server and client.
#[derive(Debug, Parser)]
#[command(name = "wsx", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a WebSocket server: /echo echoes every message, /broadcast relays
    /// each message to every other client on /broadcast, /rooms/{name} is a
    /// chat room (JSON envelope, presence, history; across nodes with
    /// --redis), and GET / serves a demo chat page.
    Serve(serve::ServeArgs),
    /// Connect to a WebSocket server: stdin lines go out as text messages,
    /// received messages are printed one per line; ends with the
    /// connection, with an exit status that says how (see its --help).
    Connect(connect::ConnectArgs),
    /// Measure an echo endpoint under load: C connections send messages
    /// (closed loop, or open loop at a fixed --rate) and check every echo;
    /// reports messages/s, MB/s, latency percentiles and errors by kind.
    Bench(bench::BenchArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    // `wsx bench` builds the runtime its --threads option asks for.
    if let Command::Bench(args) = cli.command {
        return bench::run(args);
    }
    let threads = match &cli.command {
        Command::Serve(args) => args.threads,
        _ => None,
    };
    let runtime = match runtime(threads).1 {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("wsx: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let status = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Connect(args) => connect::run(args).await,
            // Run above, on a runtime of its own, before this one was built.
            Command::Bench(_) => std::process::ExitCode::FAILURE,
        }
    });
    // Nothing left to wait for: a task still blocked (a name lookup that
    // never answers) must not hold the exit back.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    status
}

/// The runtime a `--threads N` option asks for, with its thread count: a
/// current-thread runtime for 1 (no wake-ups across threads, no work
/// stealing: the cheapest per message where one core is enough), a
/// multi-thread runtime with N workers otherwise, one per available core
/// when N is not given.
pub(crate) fn runtime(threads: Option<u64>) -> (usize, std::io::Result<tokio::runtime::Runtime>) {
    let threads = threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| usize::try_from(n).unwrap_or(1),
    );
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()
    };
    (threads, runtime)
}

/// Logs to stderr: colour only on a terminal; `wsx serve --log-format json`
/// writes one JSON object per line for log collectors.
fn init_logging(cli: &Cli) {
    let no_color = match &cli.command {
        Command::Serve(args) => args.no_color,
        Command::Connect(args) => args.no_color,
        Command::Bench(_) => false,
    };
    if no_color {
        term::disable_color();
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter(cli)));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match &cli.command {
        Command::Serve(args) if args.log_format == serve::LogFormat::Json => builder.json().init(),
        _ => builder.with_ansi(term::stderr_has_color()).init(),
    }
}

fn default_filter(cli: &Cli) -> &'static str {
    match &cli.command {
        Command::Serve(_) => "info",
        Command::Connect(args) if args.verbose => "debug",
        Command::Connect(_) | Command::Bench(_) => "warn",
    }
}
