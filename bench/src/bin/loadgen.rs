//! Neutral WebSocket load generator.
//!
//! None of the servers' libraries is in its hot path: the client frames
//! (RFC 6455 §5.2, masked as §5.3 requires of a client) are built once before
//! the run, the echoes are read by the minimal frame parser below, which
//! streams payloads past the expected bytes (no per-message buffer), and the
//! opening handshake (§4.1) is written by hand. Each generator thread
//! (`--threads`, default 1) runs a current-thread runtime with its share of
//! the connections; pin the process with `taskset`.
//!
//! Load mode: C connections, S-byte messages (binary, or valid UTF-8 text), K
//! in flight per connection, a warm-up, then D measured seconds; every Nth echo
//! is compared byte for byte, every echo's length and opcode are checked.
//! Prints one JSON line: msgs/s, MB/s, p50/p99 round trip, errors, and with
//! `--server-pid` the server's CPU time per message and its peak RSS.
//!
//! Idle mode (`--idle`): opens C connections, completes the handshakes and
//! reports the server's RSS growth per connection. With `--idle-echo`, each
//! connection then sends one S-byte message and reads its echo, and the RSS
//! growth is reported again, `--settle` seconds (default 2) after the echoes.
//! With `--deflate` the handshakes offer
//! permessage-deflate (RFC 7692; refused by a server that declines it) and
//! the message is compressed: a deflate library builds and checks these few
//! messages, outside any timed path.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hdrhistogram::Histogram;
use rand::{Rng, RngCore};
use serde_json::json;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::{TcpSocket, TcpStream};
use wsx_bench::procfs;

#[derive(Debug, Clone)]
struct Args {
    addr: SocketAddr,
    path: String,
    raw: bool,
    connections: usize,
    size: usize,
    text: bool,
    inflight: usize,
    duration: f64,
    warmup: f64,
    verify_every: u64,
    server_pid: Option<u32>,
    idle: bool,
    idle_echo: bool,
    /// Seconds between the echoes and the RSS reading (`--settle`).
    settle: f64,
    deflate: bool,
    sources: u8,
    /// Generator threads (`--threads`), each with its own runtime.
    threads: usize,
    tags: Vec<(String, String)>,
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "{msg}\nusage: loadgen --url ws://HOST:PORT/PATH | --raw HOST:PORT\n  \
         [--connections C] [--size S] [--text] [--inflight K] [--duration D] [--warmup W]\n  \
         [--verify-every N] [--server-pid PID] [--idle [--idle-echo [--settle SECS]] [--deflate]] [--sources N]\n  \
         [--threads N] [--tag KEY=VALUE]..."
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        addr: SocketAddr::from(([127, 0, 0, 1], 9001)),
        path: "/echo".into(),
        raw: false,
        connections: 1,
        size: 16,
        text: false,
        inflight: 1,
        duration: 5.0,
        warmup: 1.0,
        verify_every: 16,
        server_pid: None,
        idle: false,
        idle_echo: false,
        settle: 2.0,
        deflate: false,
        sources: 1,
        threads: 1,
        tags: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    let mut target = false;
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        fn num<T: std::str::FromStr>(v: String, f: &str) -> T {
            v.parse().unwrap_or_else(|_| usage(&format!("bad value for {f}")))
        }
        match flag.as_str() {
            "--url" => {
                let url = value();
                let rest = url.strip_prefix("ws://").unwrap_or_else(|| usage("only ws:// URLs"));
                let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                a.addr = num(host.to_string(), "--url host:port");
                a.path = if path.is_empty() { "/".into() } else { path.into() };
                target = true;
            }
            "--raw" => {
                a.addr = num(value(), "--raw");
                a.raw = true;
                target = true;
            }
            "--connections" | "-c" => a.connections = num(value(), &flag),
            "--size" | "-s" => a.size = num(value(), &flag),
            "--text" => a.text = true,
            "--inflight" | "-k" => a.inflight = num(value(), &flag),
            "--duration" | "-d" => a.duration = num(value(), &flag),
            "--warmup" => a.warmup = num(value(), &flag),
            "--verify-every" => a.verify_every = num(value(), &flag),
            "--server-pid" => a.server_pid = Some(num(value(), &flag)),
            "--idle" => a.idle = true,
            "--idle-echo" => a.idle_echo = true,
            "--settle" => a.settle = num(value(), &flag),
            "--deflate" => a.deflate = true,
            "--sources" => a.sources = num(value(), &flag),
            "--threads" => a.threads = num(value(), &flag),
            "--tag" => {
                let v = value();
                let (k, val) = v.split_once('=').unwrap_or_else(|| usage("--tag KEY=VALUE"));
                a.tags.push((k.into(), val.into()));
            }
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    if !target {
        usage("--url or --raw is required");
    }
    if (a.deflate || a.idle_echo) && (!a.idle || a.raw) {
        usage("--deflate and --idle-echo go with --idle and --url");
    }
    a.connections = a.connections.max(1);
    a.inflight = a.inflight.max(1);
    a.verify_every = a.verify_every.max(1);
    a.sources = a.sources.clamp(1, 250);
    a.threads = a.threads.clamp(1, a.connections);
    a
}

/// Exactly `size` bytes of valid UTF-8, mostly ASCII with 2-, 3- and 4-byte
/// sequences mixed in, the tail padded with ASCII.
fn text_payload(size: usize) -> Vec<u8> {
    const PIECES: [&str; 6] = ["The quick brown fox ", "jumps — ", "über ", "the lazy dög ", "€42 ", "😀 "];
    let mut out = Vec::with_capacity(size);
    'fill: loop {
        for piece in PIECES {
            if out.len() + piece.len() > size {
                break 'fill;
            }
            out.extend_from_slice(piece.as_bytes());
        }
    }
    out.resize(size, b'.');
    debug_assert!(std::str::from_utf8(&out).is_ok());
    out
}

/// One client frame: FIN, opcode, MASK bit, length, key, masked payload (§5.2).
fn client_frame(opcode: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(0x80 | opcode);
    match payload.len() {
        n @ 0..=125 => frame.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame
}

/// What every connection shares: the frames to send and the bytes to expect.
struct Work {
    /// K copies of the one frame, so any in-flight window is one slice.
    burst: Vec<u8>,
    frame_len: usize,
    /// The payload each echo must carry (for `--raw`, the masked payload).
    expected: Vec<u8>,
    /// Opcode of the echo's first frame (1 text, 2 binary).
    opcode: u8,
}

/// The measured window, set by the main thread for every generator thread.
#[derive(Default)]
struct Window {
    /// Set when the measured window opens; cleared when it closes.
    measuring: AtomicBool,
    stop: AtomicBool,
}

/// One generator thread's counters.
#[derive(Default)]
struct Shared {
    window: Arc<Window>,
    completed: Cell<u64>,
    verified: Cell<u64>,
    errors: Cell<u64>,
    error_samples: RefCell<Vec<String>>,
}

impl Shared {
    fn error(&self, what: String) {
        self.errors.set(self.errors.get() + 1);
        let mut samples = self.error_samples.borrow_mut();
        if samples.len() < 5 {
            samples.push(what);
        }
    }
}

/// Streaming parser of the server's frames (RFC 6455 §5.2).
struct Rx {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Payload bytes left in the current data frame; `None` between frames.
    payload_left: Option<u64>,
    frame_fin: bool,
    /// Offset of the next payload byte within the current message.
    msg_offset: usize,
    in_message: bool,
    verify: bool,
}

enum Parsed {
    /// Need more bytes.
    More,
    /// A whole message arrived; `bool` = its payload was verified.
    Message(bool),
}

impl Rx {
    fn new(leftover: &[u8]) -> Self {
        let mut buf = vec![0u8; 64 * 1024];
        buf[..leftover.len()].copy_from_slice(leftover);
        Rx {
            buf,
            start: 0,
            end: leftover.len(),
            payload_left: None,
            frame_fin: false,
            msg_offset: 0,
            in_message: false,
            verify: false,
        }
    }

    /// Room to read into, compacting when the tail is short.
    fn spare(&mut self) -> &mut [u8] {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.buf.len() - self.end < 16 * 1024 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        &mut self.buf[self.end..]
    }

    /// Parses as far as the buffered bytes go, stopping after each message.
    fn parse(&mut self, work: &Work, seq: u64, verify_every: u64) -> Result<Parsed, String> {
        loop {
            if let Some(left) = self.payload_left {
                let avail = (self.end - self.start) as u64;
                let n = left.min(avail) as usize;
                if self.msg_offset + n > work.expected.len() {
                    return Err(format!("echo longer than {} bytes", work.expected.len()));
                }
                if self.verify {
                    let got = &self.buf[self.start..self.start + n];
                    let want = &work.expected[self.msg_offset..self.msg_offset + n];
                    // A raw TCP echo returns the masked bytes as sent, and
                    // `expected` holds those then.
                    if got != want {
                        return Err(format!("echo differs within bytes {}..{}", self.msg_offset, self.msg_offset + n));
                    }
                }
                self.start += n;
                self.msg_offset += n;
                let left = left - n as u64;
                if left > 0 {
                    self.payload_left = Some(left);
                    return Ok(Parsed::More);
                }
                self.payload_left = None;
                if self.frame_fin {
                    if self.msg_offset != work.expected.len() {
                        return Err(format!("echo of {} bytes, sent {}", self.msg_offset, work.expected.len()));
                    }
                    self.in_message = false;
                    self.msg_offset = 0;
                    return Ok(Parsed::Message(self.verify));
                }
                continue;
            }
            let avail = &self.buf[self.start..self.end];
            if avail.len() < 2 {
                return Ok(Parsed::More);
            }
            let (b0, b1) = (avail[0], avail[1]);
            let masked = b1 & 0x80 != 0;
            let ext = match b1 & 0x7F {
                126 => 2,
                127 => 8,
                _ => 0,
            };
            let header_len = 2 + ext + if masked { 4 } else { 0 };
            if avail.len() < header_len {
                return Ok(Parsed::More);
            }
            let len = match ext {
                2 => u16::from_be_bytes([avail[2], avail[3]]) as u64,
                8 => u64::from_be_bytes(avail[2..10].try_into().map_err(|_| "header")?),
                _ => (b1 & 0x7F) as u64,
            };
            let opcode = b0 & 0x0F;
            let fin = b0 & 0x80 != 0;
            if b0 & 0x70 != 0 {
                return Err("RSV bits set".into());
            }
            if opcode >= 8 {
                // Control frame: whole frame needed; pings are skipped.
                if avail.len() < header_len + len as usize {
                    return Ok(Parsed::More);
                }
                match opcode {
                    9 | 10 => {
                        self.start += header_len + len as usize;
                        continue;
                    }
                    8 => return Err("server sent Close".into()),
                    _ => return Err(format!("unknown control opcode {opcode}")),
                }
            }
            match (opcode, self.in_message) {
                (0, true) => {}
                (op, false) if op == work.opcode => {
                    self.in_message = true;
                    self.msg_offset = 0;
                    self.verify = seq.is_multiple_of(verify_every);
                }
                (op, _) => return Err(format!("unexpected opcode {op}")),
            }
            self.start += header_len;
            self.frame_fin = fin;
            self.payload_left = Some(len);
        }
    }
}

async fn connect(args: &Args, index: usize) -> std::io::Result<(TcpStream, Vec<u8>)> {
    let socket = TcpSocket::new_v4()?;
    if args.sources > 1 {
        let ip = Ipv4Addr::new(127, 0, 0, 1 + (index % args.sources as usize) as u8);
        socket.bind(SocketAddr::new(IpAddr::V4(ip), 0))?;
    }
    let mut stream = socket.connect(args.addr).await?;
    stream.set_nodelay(true)?;
    if args.raw {
        return Ok((stream, Vec::new()));
    }
    let mut key = [0u8; 16];
    rand::rng().fill_bytes(&mut key);
    let key = base64::engine::general_purpose::STANDARD.encode(key);
    // The offer browsers make (RFC 7692 §7.1.2.1: the server may limit our window).
    let extensions =
        if args.deflate { "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" } else { "" };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extensions}\r\n",
        args.path, args.addr
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::with_capacity(1024);
    let head_end = loop {
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(ErrorKind::UnexpectedEof, "closed during the handshake"));
        }
        response.extend_from_slice(&chunk[..n]);
        if let Some(i) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if response.len() > 16 * 1024 {
            return Err(std::io::Error::other("response head too large"));
        }
    };
    let head = String::from_utf8_lossy(&response[..head_end]).to_ascii_lowercase();
    if !head.starts_with("http/1.1 101") {
        return Err(std::io::Error::other(format!("no 101: {}", head.lines().next().unwrap_or(""))));
    }
    // RFC 6455 §4.1: the client MUST check Sec-WebSocket-Accept.
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let accept = base64::engine::general_purpose::STANDARD.encode(sha.finalize()).to_ascii_lowercase();
    if !head.lines().any(|l| l.starts_with("sec-websocket-accept:") && l[21..].trim() == accept) {
        return Err(std::io::Error::other("wrong or missing Sec-WebSocket-Accept"));
    }
    if args.deflate
        && !head.lines().any(|l| l.starts_with("sec-websocket-extensions:") && l.contains("permessage-deflate"))
    {
        return Err(std::io::Error::other("the server declined permessage-deflate"));
    }
    Ok((stream, response[head_end..].to_vec()))
}

/// Drives one connection until `stop`; returns nothing, reports through `shared`.
async fn run_connection(
    stream: TcpStream,
    leftover: Vec<u8>,
    work: Rc<Work>,
    shared: Rc<Shared>,
    hist: Rc<RefCell<Histogram<u64>>>,
    args: Rc<Args>,
    mut start: tokio::sync::watch::Receiver<bool>,
) {
    if start.wait_for(|s| *s).await.is_err() {
        return;
    }
    let mut rx = Rx::new(&leftover);
    let mut sent_at: VecDeque<Instant> = VecDeque::with_capacity(args.inflight);
    let now = Instant::now();
    for _ in 0..args.inflight {
        sent_at.push_back(now);
    }
    let mut pending = work.frame_len * args.inflight;
    let mut pos = 0usize;
    let mut seq = 0u64;
    loop {
        if shared.window.stop.load(Ordering::Relaxed) {
            return;
        }
        let interest = if pending > 0 { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
        let ready = match stream.ready(interest).await {
            Ok(r) => r,
            Err(e) => return shared.error(format!("ready: {e}")),
        };
        if ready.is_writable() && pending > 0 {
            match stream.try_write(&work.burst[pos..pos + pending]) {
                Ok(n) => {
                    pending -= n;
                    pos = (pos + n) % work.frame_len;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return shared.error(format!("write: {e}")),
            }
        }
        if ready.is_readable() {
            match stream.try_read(rx.spare()) {
                Ok(0) => return shared.error("server closed the connection".into()),
                Ok(n) => rx.end += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                Err(e) => return shared.error(format!("read: {e}")),
            }
            loop {
                match rx.parse(&work, seq, args.verify_every) {
                    Ok(Parsed::More) => break,
                    Ok(Parsed::Message(verified)) => {
                        seq += 1;
                        let t0 = sent_at.pop_front().unwrap_or(now);
                        if shared.window.measuring.load(Ordering::Relaxed) {
                            shared.completed.set(shared.completed.get() + 1);
                            shared.verified.set(shared.verified.get() + verified as u64);
                            let us = t0.elapsed().as_micros() as u64;
                            let _ = hist.borrow_mut().record(us.max(1));
                        }
                        if !shared.window.stop.load(Ordering::Relaxed) {
                            sent_at.push_back(Instant::now());
                            pending += work.frame_len;
                        }
                    }
                    Err(e) => return shared.error(e),
                }
            }
        }
    }
}

fn server_cpu(args: &Args) -> Option<f64> {
    args.server_pid.and_then(procfs::cpu_seconds)
}

fn main() {
    let args = parse_args();
    let line = if args.idle { local_runtime(idle(args)) } else { load(args) };
    println!("{line}");
}

/// Runs `task` to completion on a current-thread runtime with a `LocalSet`.
fn local_runtime<F: std::future::Future>(task: F) -> F::Output {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            std::process::exit(1)
        }
    };
    tokio::task::LocalSet::new().block_on(&rt, task)
}

fn base_json(args: &Args) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    for (k, v) in &args.tags {
        out.insert(k.clone(), json!(v));
    }
    out.insert("connections".into(), json!(args.connections));
    out
}

/// Opens connections `first`, `first + step`, … below `--connections`, up to
/// 200 handshakes at a time.
async fn open_all(args: &Rc<Args>, shared: &Shared, first: usize, step: usize) -> Vec<(TcpStream, Vec<u8>)> {
    let mine: Vec<usize> = (first..args.connections).step_by(step).collect();
    let mut out = Vec::with_capacity(mine.len());
    for chunk in mine.chunks(200) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|&i| {
                let args = args.clone();
                tokio::task::spawn_local(async move { connect(&args, i).await })
            })
            .collect();
        for handle in batch {
            match handle.await {
                Ok(Ok(conn)) => out.push(conn),
                Ok(Err(e)) => shared.error(format!("connect: {e}")),
                Err(e) => shared.error(format!("connect task: {e}")),
            }
        }
    }
    out
}

/// What one generator thread counted over the measured window.
struct Part {
    opened: usize,
    completed: u64,
    verified: u64,
    errors: u64,
    error_samples: Vec<String>,
    hist: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).unwrap_or_else(|e| {
        eprintln!("histogram: {e}");
        std::process::exit(1)
    })
}

/// Load mode: `--threads` generator threads share the connections (thread
/// `t` opens every connection whose index is `t` modulo the thread count);
/// the main thread opens and closes the one measured window for all of them.
fn load(args: Args) -> String {
    let payload: Vec<u8> = if args.text {
        text_payload(args.size)
    } else {
        let mut p = vec![0u8; args.size];
        rand::rng().fill_bytes(&mut p);
        p
    };
    let key: [u8; 4] = rand::rng().random();
    let opcode = if args.text { 1 } else { 2 };
    let frame = client_frame(opcode, &payload, key);
    let header_len = frame.len() - payload.len();
    let expected = if args.raw { frame[header_len..].to_vec() } else { payload };
    let window = Arc::new(Window::default());
    // Every thread has opened its connections and started its load.
    let started = Arc::new(Barrier::new(args.threads + 1));
    let workers: Vec<_> = (0..args.threads)
        .map(|t| {
            let (args, window, started) = (args.clone(), window.clone(), started.clone());
            let (frame, expected) = (frame.clone(), expected.clone());
            std::thread::spawn(move || {
                let work = Work { burst: frame.repeat(args.inflight), frame_len: frame.len(), expected, opcode };
                local_runtime(load_part(args, t, work, window, started))
            })
        })
        .collect();
    started.wait();
    std::thread::sleep(Duration::from_secs_f64(args.warmup));
    let cpu0 = server_cpu(&args);
    let self0 = procfs::cpu_seconds(std::process::id());
    let t0 = Instant::now();
    window.measuring.store(true, Ordering::Relaxed);
    std::thread::sleep(Duration::from_secs_f64(args.duration));
    window.measuring.store(false, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu1 = server_cpu(&args);
    let self1 = procfs::cpu_seconds(std::process::id());
    window.stop.store(true, Ordering::Relaxed);
    let mut total =
        Part { opened: 0, completed: 0, verified: 0, errors: 0, error_samples: Vec::new(), hist: histogram() };
    for worker in workers {
        match worker.join() {
            Ok(part) => {
                total.opened += part.opened;
                total.completed += part.completed;
                total.verified += part.verified;
                total.errors += part.errors;
                total.error_samples.extend(part.error_samples);
                if let Err(e) = total.hist.add(&part.hist) {
                    total.errors += 1;
                    total.error_samples.push(format!("histogram: {e}"));
                }
            }
            Err(_) => {
                total.errors += 1;
                total.error_samples.push("a generator thread panicked".into());
            }
        }
    }
    total.error_samples.truncate(5);
    let messages = total.completed;
    let h = &total.hist;
    let mut out = base_json(&args);
    out.insert("size".into(), json!(args.size));
    out.insert("text".into(), json!(args.text));
    out.insert("inflight".into(), json!(args.inflight));
    out.insert("generator_threads".into(), json!(args.threads));
    out.insert("opened".into(), json!(total.opened));
    out.insert("duration_s".into(), json!(elapsed));
    out.insert("messages".into(), json!(messages));
    out.insert("verified".into(), json!(total.verified));
    out.insert("msgs_per_s".into(), json!(messages as f64 / elapsed));
    out.insert("mb_per_s".into(), json!(messages as f64 * args.size as f64 / elapsed / 1e6));
    out.insert("p50_us".into(), json!(h.value_at_quantile(0.5)));
    out.insert("p99_us".into(), json!(h.value_at_quantile(0.99)));
    out.insert("errors".into(), json!(total.errors));
    if let (Some(c0), Some(c1)) = (cpu0, cpu1) {
        out.insert("server_cpu_s".into(), json!(c1 - c0));
        out.insert("server_cpu_pct".into(), json!((c1 - c0) / elapsed * 100.0));
        if messages > 0 {
            out.insert("server_cpu_us_per_msg".into(), json!((c1 - c0) * 1e6 / messages as f64));
        }
    }
    if let (Some(s0), Some(s1)) = (self0, self1) {
        out.insert("gen_cpu_pct".into(), json!((s1 - s0) / elapsed * 100.0));
    }
    if let Some(pid) = args.server_pid {
        out.insert("server_peak_rss_kib".into(), json!(procfs::status_kib(pid, "VmHWM")));
    }
    if !total.error_samples.is_empty() {
        out.insert("error_samples".into(), json!(total.error_samples));
    }
    serde_json::Value::Object(out).to_string()
}

/// One generator thread: opens its share of the connections, drives them
/// until the main thread sets `stop`, and returns what it counted.
async fn load_part(args: Args, thread: usize, work: Work, window: Arc<Window>, started: Arc<Barrier>) -> Part {
    let args = Rc::new(args);
    let work = Rc::new(work);
    let shared = Rc::new(Shared { window: window.clone(), ..Shared::default() });
    let hist = Rc::new(RefCell::new(histogram()));
    let conns = open_all(&args, &shared, thread, args.threads).await;
    let opened = conns.len();
    let (start_tx, start_rx) = tokio::sync::watch::channel(false);
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|(stream, leftover)| {
            tokio::task::spawn_local(run_connection(
                stream,
                leftover,
                work.clone(),
                shared.clone(),
                hist.clone(),
                args.clone(),
                start_rx.clone(),
            ))
        })
        .collect();
    let _ = start_tx.send(true);
    // The barrier blocks this thread, but its connections have not been
    // polled yet: they start when the last thread arrives.
    started.wait();
    while !window.stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for t in tasks {
        t.abort();
    }
    Part {
        opened,
        completed: shared.completed.get(),
        verified: shared.verified.get(),
        errors: shared.errors.get(),
        error_samples: shared.error_samples.take(),
        hist: hist.borrow().clone(),
    }
}

async fn idle(args: Args) -> String {
    let args = Rc::new(args);
    let shared = Shared::default();
    let rss = |pid: Option<u32>| pid.and_then(|p| procfs::status_kib(p, "VmRSS"));
    let before = rss(args.server_pid);
    let mut conns = open_all(&args, &shared, 0, 1).await;
    // Let the server settle: handshake tasks finish, buffers shrink if they do.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss(args.server_pid);
    let mut out = base_json(&args);
    out.insert("idle".into(), json!(true));
    out.insert("deflate".into(), json!(args.deflate));
    out.insert("opened".into(), json!(conns.len()));
    out.insert("server_rss_before_kib".into(), json!(before));
    out.insert("server_rss_after_kib".into(), json!(after));
    if let (Some(b), Some(a), false) = (before, after, conns.is_empty()) {
        out.insert("rss_per_conn_kib".into(), json!((a as f64 - b as f64) / conns.len() as f64));
    }
    if args.idle_echo {
        let payload = if args.text { text_payload(args.size) } else { vec![0x5a; args.size] };
        let mut compressed_echoes = 0u64;
        for (stream, leftover) in &mut conns {
            match echo_once(stream, leftover, &args, &payload).await {
                Ok(compressed) => compressed_echoes += compressed as u64,
                Err(e) => shared.error(format!("echo: {e}")),
            }
        }
        // A server may release per-connection state once it is quiet
        // (wsx: `Config::compression_release`): `--settle` waits for it.
        tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
        let after_echo = rss(args.server_pid);
        out.insert("size".into(), json!(args.size));
        out.insert("text".into(), json!(args.text));
        out.insert("compressed_echoes".into(), json!(compressed_echoes));
        out.insert("settle_s".into(), json!(args.settle));
        out.insert("server_rss_after_echo_kib".into(), json!(after_echo));
        if let (Some(b), Some(a), false) = (before, after_echo, conns.is_empty()) {
            out.insert("rss_per_conn_after_echo_kib".into(), json!((a as f64 - b as f64) / conns.len() as f64));
        }
    }
    out.insert("errors".into(), json!(shared.errors.get()));
    let samples = shared.error_samples.borrow();
    if !samples.is_empty() {
        out.insert("error_samples".into(), json!(*samples));
    }
    drop(conns);
    serde_json::Value::Object(out).to_string()
}

/// Sends one message (compressed with `--deflate`: RSV1 set, RFC 7692 §7.2.1)
/// and reads its echo, which must carry the same payload. Returns whether the
/// echo came compressed. Idle mode only: nothing here is timed.
async fn echo_once(stream: &mut TcpStream, buf: &mut Vec<u8>, args: &Args, payload: &[u8]) -> Result<bool, String> {
    let opcode = if args.text { 1 } else { 2 };
    let body = if args.deflate { deflate_message(payload)? } else { payload.to_vec() };
    let mut frame = client_frame(opcode, &body, rand::rng().random());
    if args.deflate {
        frame[0] |= 0x40;
    }
    stream.write_all(&frame).await.map_err(|e| e.to_string())?;
    loop {
        let (b0, body) = read_frame(stream, buf).await?;
        match b0 & 0x0F {
            9 | 10 => continue,
            op if op != opcode => return Err(format!("unexpected opcode {op}")),
            _ if b0 & 0x80 == 0 => return Err("fragmented echo".into()),
            _ => {}
        }
        let compressed = b0 & 0x40 != 0;
        if compressed && !args.deflate {
            return Err("RSV1 without permessage-deflate".into());
        }
        let echoed = if compressed { inflate_message(&body, payload.len())? } else { body };
        if echoed != payload {
            return Err("the echo differs from the message".into());
        }
        return Ok(compressed);
    }
}

/// Reads one whole server frame (unmasked, RFC 6455 §5.1) into its first
/// byte and payload; `buf` holds bytes read past it.
async fn read_frame(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(u8, Vec<u8>), String> {
    loop {
        if buf.len() >= 2 {
            let (header_len, len) = match buf[1] & 0x7F {
                126 if buf.len() >= 4 => (4, u16::from_be_bytes([buf[2], buf[3]]) as usize),
                127 if buf.len() >= 10 => {
                    (10, u64::from_be_bytes(buf[2..10].try_into().map_err(|_| "header")?) as usize)
                }
                126 | 127 => (usize::MAX, 0),
                n => (2, n as usize),
            };
            if buf[1] & 0x80 != 0 {
                return Err("masked server frame".into());
            }
            if header_len != usize::MAX && buf.len() >= header_len + len {
                let b0 = buf[0];
                let body = buf[header_len..header_len + len].to_vec();
                buf.drain(..header_len + len);
                return Ok((b0, body));
            }
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed before the echo".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The `00 00 ff ff` a sync flush ends with, removed by the sender (RFC 7692 §7.2.1).
const DEFLATE_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// One message compressed as RFC 7692 §7.2.1 says: raw deflate, sync flush,
/// the tail removed.
fn deflate_message(payload: &[u8]) -> Result<Vec<u8>, String> {
    let mut deflate = flate2::Compress::new(flate2::Compression::default(), false);
    let mut out = Vec::with_capacity(payload.len() + 64);
    loop {
        let consumed = deflate.total_in() as usize;
        deflate.compress_vec(&payload[consumed..], &mut out, flate2::FlushCompress::Sync).map_err(|e| e.to_string())?;
        if deflate.total_in() as usize == payload.len() && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity().max(64));
    }
    if !out.ends_with(&DEFLATE_TAIL) {
        return Err("sync flush without its tail".into());
    }
    out.truncate(out.len() - DEFLATE_TAIL.len());
    Ok(out)
}

/// Inflates one compressed message (RFC 7692 §7.2.2: the tail appended
/// first), refusing output past `expected` bytes.
fn inflate_message(body: &[u8], expected: usize) -> Result<Vec<u8>, String> {
    let mut input = body.to_vec();
    input.extend_from_slice(&DEFLATE_TAIL);
    let mut inflate = flate2::Decompress::new(false);
    let mut out = Vec::with_capacity(expected + 64);
    loop {
        let consumed = inflate.total_in() as usize;
        inflate
            .decompress_vec(&input[consumed..], &mut out, flate2::FlushDecompress::Sync)
            .map_err(|e| e.to_string())?;
        if inflate.total_in() as usize == input.len() && out.len() < out.capacity() {
            return Ok(out);
        }
        if out.len() > expected {
            return Err(format!("the echo inflates past {expected} bytes"));
        }
        out.reserve(out.capacity().max(64));
    }
}
