//! Shared pieces of the benchmark binaries: the servers' command line
//! (`--threads N --listen ADDR`), the runtime they all run on, and `/proc`
//! readers used by the load generator.

#![forbid(unsafe_code)]

use std::net::SocketAddr;

pub mod procfs;
pub mod sockudo;

/// Command line shared by every echo server.
#[derive(Debug, Clone)]
pub struct ServerArgs {
    /// Worker threads; 1 means a current-thread runtime.
    pub threads: usize,
    /// Address to listen on (port 0 picks a free one).
    pub listen: SocketAddr,
    /// `--batched`: the echo loop is written by hand to queue every reply
    /// that can be had without waiting and flush once (the peers that
    /// support it; the harness runs them so in the pipelined cells).
    pub batched: bool,
}

impl ServerArgs {
    /// Parses `--threads N` and `--listen ADDR` from the process arguments.
    pub fn parse() -> Self {
        Self::parse_args(false)
    }

    /// As [`parse`](Self::parse), for a server that also has a hand-batched
    /// echo loop: `--batched` selects it.
    pub fn parse_batchable() -> Self {
        Self::parse_args(true)
    }

    fn parse_args(batchable: bool) -> Self {
        let mut args = Self { threads: 1, listen: SocketAddr::from(([127, 0, 0, 1], 0)), batched: false };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let mut value = || it.next().unwrap_or_else(|| usage(&format!("{flag} needs a value")));
            match flag.as_str() {
                "--threads" => args.threads = value().parse().unwrap_or_else(|_| usage("--threads N")),
                "--listen" => args.listen = value().parse().unwrap_or_else(|_| usage("--listen ADDR")),
                "--batched" if batchable => args.batched = true,
                _ => usage(&format!("unknown flag {flag}")),
            }
        }
        args.threads = args.threads.max(1);
        args
    }

    /// Builds the runtime every server uses: current-thread for one thread,
    /// multi-thread with `threads` workers otherwise.
    pub fn runtime(&self) -> tokio::runtime::Runtime {
        let mut builder = if self.threads == 1 {
            tokio::runtime::Builder::new_current_thread()
        } else {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(self.threads);
            b
        };
        match builder.enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("cannot build the runtime: {e}");
                std::process::exit(1)
            }
        }
    }

    /// Binds the listener and prints `listening on ADDR` (the harness waits for it).
    pub async fn bind(&self) -> tokio::net::TcpListener {
        let socket = match self.listen {
            SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
            SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
        };
        let listener = socket
            .and_then(|s| {
                s.set_reuseaddr(true)?;
                s.bind(self.listen)?;
                s.listen(4096)
            })
            .unwrap_or_else(|e| {
                eprintln!("cannot listen on {}: {e}", self.listen);
                std::process::exit(1)
            });
        let addr = listener.local_addr().map_or_else(|_| self.listen.to_string(), |a| a.to_string());
        println!("listening on {addr}");
        listener
    }
}

fn usage(msg: &str) -> ! {
    eprintln!("{msg}\nusage: SERVER [--threads N] [--listen ADDR] [--batched (yawc, tungstenite)]");
    std::process::exit(2)
}

/// Accepts connections forever, sets `TCP_NODELAY` and spawns `handle` for each.
pub async fn accept_loop<F, Fut>(listener: tokio::net::TcpListener, handle: F)
where
    F: Fn(tokio::net::TcpStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(handle(stream));
            }
            Err(e) => {
                // Out of descriptors and the like: back off briefly, keep serving.
                eprintln!("accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// Runs an HTTP/1.1 server with upgrades (the way fastwebsockets and yawc
/// accept WebSocket connections) with the shared command line and runtime.
pub fn serve_http1<F, Fut, B, E>(args: &ServerArgs, handle: F)
where
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Copy + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<hyper::Response<B>, E>> + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    args.runtime().block_on(async {
        let listener = args.bind().await;
        accept_loop(listener, move |stream| async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), hyper::service::service_fn(handle))
                .with_upgrades()
                .await;
        })
        .await;
    });
}
