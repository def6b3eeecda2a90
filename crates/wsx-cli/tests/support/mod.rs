//! Shared by the rooms tests: `wsx serve` and `redis-server` as child
//! processes on free loopback ports, and room clients.

#![allow(dead_code, reason = "each test file uses a different part")]
#![allow(clippy::unwrap_used, reason = "test helpers: a failure is the test's failure")]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::net::TcpStream;
use wsx::{Message, WebSocket};

pub(crate) const WSX: &str = env!("CARGO_BIN_EXE_wsx");
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// A `wsx serve` on an ephemeral port, killed on drop; its log is kept.
pub(crate) struct Node {
    child: Child,
    pub(crate) address: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Node {
    pub(crate) fn start(args: &[&str]) -> Self {
        Self::start_on("127.0.0.1:0", args)
    }

    pub(crate) fn start_on(listen: &str, args: &[&str]) -> Self {
        let mut child = Command::new(WSX)
            .args(["serve", "--listen", listen])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("wsx serve starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("wsx serve prints its address");
        let address = line
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("address in the first line: {line:?}"))
            .to_owned();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, address, log }
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How many log lines contain `needle`.
    pub(crate) fn log_count(&self, needle: &str) -> usize {
        self.log.lock().unwrap().iter().filter(|line| line.contains(needle)).count()
    }

    /// Waits until `needle` has appeared in the log `times` times.
    pub(crate) async fn wait_log(&self, needle: &str, times: usize) {
        let deadline = Instant::now() + WAIT;
        while self.log_count(needle) < times {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} (x{times}) in the log of {}:\n{}",
                self.address,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// SIGTERM: the graceful shutdown (1001 to every client).
    pub(crate) fn terminate(&self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -TERM");
    }

    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free loopback port (bound, then released for the child to take).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `redis-server` of its own: loopback, free port, temp dir, no persistence.
pub(crate) struct Redis {
    child: Option<Child>,
    pub(crate) port: u16,
    dir: PathBuf,
}

impl Redis {
    pub(crate) fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("wsx-rooms-redis-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut redis = Self { child: None, port: free_port(), dir };
        redis.restart();
        redis
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port.
    pub(crate) fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run redis-server ({e}); install it: apt-get install -y redis-server"));
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(mut tcp) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::{Read, Write};
                let mut reply = [0u8; 7];
                if tcp.write_all(b"PING\r\n").is_ok() && tcp.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n" {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not come up on port {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) type Ws = WebSocket<TcpStream>;

/// Joins `room` on the node at `address` as `name`.
pub(crate) async fn join(address: &str, room: &str, name: &str) -> Ws {
    let tcp = TcpStream::connect(address).await.expect("connects");
    let url = format!("ws://{address}/rooms/{room}?name={name}");
    let (ws, _) = wsx::ClientBuilder::new(&url).connect_on(tcp).await.expect("joins the room");
    ws
}

/// The next message, within [`WAIT`].
pub(crate) async fn next(ws: &mut Ws) -> Message {
    match tokio::time::timeout(WAIT, ws.recv()).await {
        Ok(Some(Ok(message))) => message,
        other => panic!("expected a message, got {other:?}"),
    }
}

/// The next text message, parsed as JSON.
pub(crate) async fn next_json(ws: &mut Ws) -> Value {
    loop {
        match next(ws).await {
            Message::Text(text) => return serde_json::from_str(&text).expect("JSON envelope"),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected a JSON text message, got {other:?}"),
        }
    }
}

/// The next envelope of type `kind`, skipping others (presence, …).
pub(crate) async fn next_of(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let value = next_json(ws).await;
        if value["type"] == kind {
            return value;
        }
    }
}

pub(crate) fn text(text: &str) -> Message {
    Message::text(serde_json::json!({"type": "message", "text": text}).to_string())
}
