//! `rooms-load`: fan-out throughput of `wsx serve` rooms (RFC 6455 data
//! frames over `/rooms/{name}`): joins N members to one room, spread over
//! one or more nodes, has one member send K messages, and reports the
//! messages delivered per second to the other members.
//!
//! ```text
//! rooms-load --node 127.0.0.1:9001 --members 1000 --messages 200
//! rooms-load --node 127.0.0.1:9001 --node 127.0.0.1:9002 --members 1000 --messages 200
//! ```
//!
//! The sender keeps at most `--window` messages ahead of the slowest
//! member, so the run measures delivery rather than the server's
//! slow-member policy (which would drop members that fall behind).
//!
//! `--path /broadcast` measures a topic without envelope instead: every
//! member joins `ws://NODE/broadcast`, the sender sends plain text and every
//! text message a member receives counts (`wsx serve`'s `/broadcast`, or
//! bench/bun/fanout.js, Bun's topics). `--server-pid PID` reads the server's
//! resident memory before the members join and once they have, and reports
//! it per member.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::net::TcpStream;
use wsx::Message;

/// Fan-out load generator for `wsx serve` rooms.
#[derive(Debug, Parser)]
#[command(name = "rooms-load")]
struct Args {
    /// A node's address (HOST:PORT); repeat for several nodes (members are spread round-robin).
    #[arg(long = "node", required = true)]
    nodes: Vec<String>,
    /// Members in the room, the sender included.
    #[arg(long, default_value_t = 1000)]
    members: usize,
    /// Messages the sender sends.
    #[arg(long, default_value_t = 200)]
    messages: u64,
    /// Text bytes per message.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Most messages the sender may be ahead of the slowest member.
    #[arg(long, default_value_t = 256)]
    window: u64,
    /// The room.
    #[arg(long, default_value = "load")]
    room: String,
    /// Join this path instead of `/rooms/{room}`, with plain messages (no envelope).
    #[arg(long)]
    path: Option<String>,
    /// The server's process id (Linux): report its resident memory per member.
    #[arg(long)]
    server_pid: Option<u32>,
}

/// Per-member counters shared with the sender.
struct Counters {
    /// Room messages each receiving member has seen.
    received: Vec<AtomicU64>,
    /// Frames of any kind seen by anyone (to wait for presence to settle).
    frames: AtomicU64,
    /// Members whose connection ended early.
    lost: AtomicUsize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("rooms-load: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rooms-load: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn join(node: &str, args: &Args, name: &str) -> Result<wsx::WebSocket<TcpStream>, String> {
    let tcp = TcpStream::connect(node).await.map_err(|e| format!("connecting to {node}: {e}"))?;
    let url = match &args.path {
        Some(path) => format!("ws://{node}{path}"),
        None => format!("ws://{node}/rooms/{}?name={name}", args.room),
    };
    let (ws, _) = wsx::ClientBuilder::new(&url).connect_on(tcp).await.map_err(|e| format!("joining {url}: {e}"))?;
    Ok(ws)
}

async fn run(args: Args) -> Result<(), String> {
    let receivers = args.members.saturating_sub(1);
    let counters = Arc::new(Counters {
        received: (0..receivers).map(|_| AtomicU64::new(0)).collect(),
        frames: AtomicU64::new(0),
        lost: AtomicUsize::new(0),
    });
    let rss_before = args.server_pid.and_then(resident_kib);
    let raw = args.path.is_some();
    let mut sender = join(&args.nodes[0], &args, "sender").await?;
    for index in 0..receivers {
        let node = &args.nodes[(index + 1) % args.nodes.len()];
        let ws = join(node, &args, &format!("m{index}")).await?;
        tokio::spawn(receive(ws, index, counters.clone(), raw));
    }
    // Let the presence events of all those joins drain first.
    let mut last = u64::MAX;
    while counters.frames.load(Ordering::Relaxed) != last {
        last = counters.frames.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let memory = match (rss_before, args.server_pid.and_then(resident_kib)) {
        (Some(before), Some(after)) => format!(
            " | server RSS {before} KiB before, {after} KiB joined: {:.1} KiB per member",
            after.saturating_sub(before) as f64 / args.members.max(1) as f64
        ),
        _ => String::new(),
    };
    let payload = "x".repeat(args.size);
    let started = Instant::now();
    for seq in 0..args.messages {
        let mut waited = Instant::now();
        let mut behind = slowest(&counters);
        while seq >= args.window && behind + args.window <= seq {
            tokio::time::sleep(Duration::from_micros(200)).await;
            let now = slowest(&counters);
            if now != behind {
                (behind, waited) = (now, Instant::now());
            } else if waited.elapsed() > STALL {
                return Err(stalled(&counters, seq));
            }
        }
        let text =
            if raw { payload.clone() } else { serde_json::json!({"type": "message", "text": payload}).to_string() };
        sender.send(Message::text(text)).await.map_err(|e| format!("sending: {e}"))?;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while slowest(&counters) < args.messages {
        if Instant::now() > deadline {
            return Err(format!("timed out; slowest member at {} of {}", slowest(&counters), args.messages));
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let delivered = receivers as u64 * args.messages;
    println!(
        "nodes {} | members {} | messages {} x {} B | delivered {} in {:.3} s | {:.0} messages/s delivered | members lost {}{memory}",
        args.nodes.len(),
        args.members,
        args.messages,
        args.size,
        delivered,
        elapsed,
        delivered as f64 / elapsed,
        counters.lost.load(Ordering::Relaxed),
    );
    Ok(())
}

/// How long the slowest member may go without a message before the run
/// stops as stalled.
const STALL: Duration = Duration::from_secs(10);

/// The members furthest behind, for a run that stalled.
fn stalled(counters: &Counters, sent: u64) -> String {
    let mut behind: Vec<(usize, u64)> =
        counters.received.iter().enumerate().map(|(i, c)| (i, c.load(Ordering::Relaxed))).collect();
    behind.sort_by_key(|&(_, received)| received);
    let listed: Vec<String> = behind.iter().take(8).map(|(i, r)| format!("m{i} at {r}")).collect();
    format!(
        "stalled: {sent} sent, no member progress for {} s; furthest behind: {}",
        STALL.as_secs(),
        listed.join(", ")
    )
}

fn slowest(counters: &Counters) -> u64 {
    counters.received.iter().map(|c| c.load(Ordering::Relaxed)).min().unwrap_or(u64::MAX)
}

/// A member's message as the room delivers it: the envelope stamped with
/// its offset first (`{"offset":N,"type":"message",…}`), not presence.
fn is_room_message(text: &str) -> bool {
    text.starts_with(r#"{"type":"message""#)
        || (text.starts_with(r#"{"offset":"#) && text.contains(r#","type":"message""#))
}

/// Resident memory of process `pid` in KiB (`VmRSS` of /proc/PID/status).
fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn receive(mut ws: wsx::WebSocket<TcpStream>, index: usize, counters: Arc<Counters>, raw: bool) {
    while let Some(Ok(message)) = ws.recv().await {
        counters.frames.fetch_add(1, Ordering::Relaxed);
        if let Message::Text(text) = message
            && (raw || is_room_message(&text))
        {
            counters.received[index].fetch_add(1, Ordering::Relaxed);
        }
    }
    counters.lost.fetch_add(1, Ordering::Relaxed);
    // A member gone early can never catch up: count it as done so the run ends.
    counters.received[index].store(u64::MAX / 2, Ordering::Relaxed);
}
