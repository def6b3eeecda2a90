//! A test bridge from HTTP/1.1 WebSockets to WebSockets over HTTP/3 (RFC
//! 9220), so that an HTTP/1.1-only conformance suite (kosoku's Autobahn
//! cases) can judge an HTTP/3 server. It completes the handshake on each
//! side and then copies the WebSocket bytes unchanged: frames, masks and
//! compression are the two endpoints' business.
//!
//! ```text
//! # HTTP/1.1 in, HTTP/3 out: kosoku -> bridge -> wsx serve --http3
//! autobahn_bridge_h3 --listen 127.0.0.1:9002 --target localhost:9443 [--ca FILE | --insecure]
//! ```
//!
//! Each HTTP/1.1 upgrade becomes an extended CONNECT (`:protocol
//! websocket`) on one shared QUIC connection to the target (opened at
//! start, re-opened if it ends), carrying the path and query, `Origin`, and
//! the `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions` offers; the
//! target's 2xx becomes a 101 with `Sec-WebSocket-Accept` computed from the
//! client's key and the target's answers; any other status is passed on.
//! Then bytes are copied both ways, each direction on its own: TCP FIN ↔
//! the stream's FIN; an error on either side drops both (the HTTP/3 stream
//! is reset, H3_REQUEST_CANCELLED). QUIC's flow control paces the copy.
//!
//! stdout: `{"listening": PORT}` when ready, then one JSON line per bridged
//! WebSocket when it ends (`path`, `status`, `outcome`, bytes each way).
//! Exit status: 0 never (it serves until killed), 1 if it cannot start.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Response, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::time::timeout;
use wsx_proto::handshake::{
    ClientRequest, HandshakeLimits, accept_response_with_extensions, encode_response, error_response, parse_request,
    validate_request,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const USAGE: &str =
    "usage: autobahn_bridge_h3 --listen ADDR --target HOST:PORT [--ca FILE | --insecure] [--timeout SECS]";

struct Options {
    listen: SocketAddr,
    target: String,
    ca: Option<PathBuf>,
    insecure: bool,
    timeout: Duration,
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let (mut listen, mut target, mut ca, mut insecure, mut secs) = (None, None, None, false, 10u64);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--listen" => listen = Some(value()?.parse().map_err(|e| format!("--listen: {e}"))?),
            "--target" => target = Some(value()?),
            "--ca" => ca = Some(PathBuf::from(value()?)),
            "--insecure" => insecure = true,
            "--timeout" => secs = value()?.parse().map_err(|e| format!("--timeout: {e}"))?,
            _ => return Err(format!("unknown argument {arg:?}\n{USAGE}")),
        }
    }
    Ok(Options {
        listen: listen.ok_or(USAGE)?,
        target: target.ok_or(USAGE)?,
        ca,
        insecure,
        timeout: Duration::from_secs(secs),
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(opts) => opts,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    match run(opts).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("autobahn_bridge_h3: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The shared QUIC connection to the target, re-opened when it has ended.
struct Upstream {
    builder: Box<dyn Fn() -> wsx::ClientBuilder + Send + Sync>,
    connection: Mutex<Option<wsx::Http3Connection>>,
}

impl Upstream {
    async fn connection(&self, fresh: bool) -> Result<wsx::Http3Connection, BoxError> {
        let mut slot = self.connection.lock().await;
        if fresh || slot.is_none() {
            *slot = Some((self.builder)().connect_http3().await?);
        }
        slot.clone().ok_or_else(|| "no connection".into())
    }
}

async fn run(opts: Options) -> Result<(), BoxError> {
    let mut tls = wsx::TlsConnector::new();
    if let Some(ca) = &opts.ca {
        tls = tls.root_certificates_pem(&std::fs::read(ca)?)?;
    }
    if opts.insecure {
        tls = tls.danger_accept_invalid_certs(true);
    }
    let base = format!("wss://{}/", opts.target);
    let deadline = opts.timeout;
    let builder = move || {
        wsx::ClientBuilder::new(&base)
            .tls(tls.clone())
            .handshake_timeout(deadline)
            // The suite's 16 MiB messages move without a round trip per window.
            .http3_settings(wsx::Http3Settings::default().stream_window(4 << 20).connection_window(16 << 20))
    };
    let upstream = Arc::new(Upstream { builder: Box::new(builder), connection: Mutex::new(None) });
    // Open the shared connection now, so a wrong target fails at start.
    upstream.connection(false).await?;
    let listener = TcpListener::bind(opts.listen).await?;
    println!("{}", json!({ "listening": listener.local_addr()?.port() }));
    let opts = Arc::new(opts);
    let mut id = 0u64;
    loop {
        let Ok((tcp, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        id += 1;
        let (upstream, opts) = (upstream.clone(), opts.clone());
        tokio::spawn(async move {
            if let Err(err) = bridge(id, tcp, &upstream, &opts).await {
                eprintln!("autobahn_bridge_h3: #{id} from {peer}: {err}");
            }
        });
    }
}

async fn write_refusal(tcp: &mut TcpStream, response: &Response<()>, body: &[u8]) {
    let mut out = BytesMut::new();
    encode_response(response, body, &mut out);
    let _ = timeout(Duration::from_secs(5), async {
        tcp.write_all(&out).await?;
        tcp.shutdown().await
    })
    .await;
}

/// Reads the HTTP/1.1 request head; returns it and the bytes after it.
async fn read_head(tcp: &mut TcpStream, deadline: Duration) -> Result<(http::Request<()>, Bytes), BoxError> {
    let limits = HandshakeLimits::default();
    let mut buf = BytesMut::with_capacity(4096);
    let read = async {
        loop {
            match parse_request(&buf, &limits) {
                Ok(Some((head, consumed))) => return Ok::<_, BoxError>((head, buf.split_off(consumed).freeze())),
                Ok(None) => {}
                Err(err) => {
                    let (response, body) = error_response(&err);
                    write_refusal(tcp, &response, &body).await;
                    return Err(err.into());
                }
            }
            if tcp.read_buf(&mut buf).await? == 0 {
                return Err("the connection ended inside the HTTP/1.1 head".into());
            }
        }
    };
    timeout(deadline, read).await.map_err(|_| "timed out reading the HTTP/1.1 head")?
}

async fn bridge(id: u64, mut tcp: TcpStream, upstream: &Upstream, opts: &Options) -> Result<(), BoxError> {
    tcp.set_nodelay(true)?;
    let (request, early) = read_head(&mut tcp, opts.timeout).await?;
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let offer = match validate_request(&request) {
        Ok(offer) => offer,
        Err(err) => {
            let (response, body) = error_response(&err);
            write_refusal(&mut tcp, &response, &body).await;
            return Err(format!("{path}: refused the HTTP/1.1 request: {err}").into());
        }
    };
    let uri = format!("wss://{}{path}", opts.target).parse().map_err(|e| format!("{path}: target URI: {e}"))?;
    let mut connect = ClientRequest::new(uri).subprotocols(offer.subprotocols.iter().cloned());
    for element in &offer.extensions {
        connect = connect.extension(element.clone());
    }
    if let Some(origin) = offer.origin.as_ref().and_then(|o| o.to_str().ok()) {
        connect = connect.origin(origin);
    }
    let handshake = connect.into_extended_connect()?;
    // One retry on a fresh connection if the shared one has ended: nothing
    // of this WebSocket has been sent yet.
    let mut answer = match upstream.connection(false).await {
        Ok(connection) => connection.open_stream(handshake.request()).await.map_err(BoxError::from),
        Err(err) => Err(err),
    };
    if answer.is_err() {
        answer = match upstream.connection(true).await {
            Ok(connection) => connection.open_stream(handshake.request()).await.map_err(BoxError::from),
            Err(err) => Err(err),
        };
    }
    let (response, mut stream) = match answer {
        Ok(answer) => answer,
        Err(err) => {
            let mut response = Response::new(());
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            write_refusal(&mut tcp, &response, format!("{err}\n").as_bytes()).await;
            return Err(format!("{path}: {err}").into());
        }
    };
    if !response.status().is_success() {
        let mut refusal = Response::new(());
        *refusal.status_mut() = response.status();
        refusal.headers_mut().insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        write_refusal(&mut tcp, &refusal, b"").await;
        println!(
            "{}",
            json!({ "bridge": id, "path": path, "status": response.status().as_u16(), "outcome": "refused" })
        );
        return Ok(());
    }
    let accepted = handshake.validate_response(&response)?;
    let upgrade = accept_response_with_extensions(&offer, accepted.subprotocol.as_deref(), &accepted.extensions)?;
    let mut out = BytesMut::new();
    encode_response(&upgrade, b"", &mut out);
    timeout(opts.timeout, tcp.write_all(&out)).await.map_err(|_| "timed out writing the 101")??;
    if !early.is_empty() {
        stream.write_all(&early).await?;
    }
    // Each direction on its own; a FIN is passed on as a FIN.
    let outcome = tokio::io::copy_bidirectional(&mut tcp, &mut stream).await;
    let (outcome, up, down) = match outcome {
        Ok((up, down)) => ("closed".to_owned(), up, down),
        Err(err) => (format!("reset ({err})"), 0, 0),
    };
    println!(
        "{}",
        json!({ "bridge": id, "path": path, "status": 101, "outcome": outcome, "to_h3": up, "from_h3": down })
    );
    Ok(())
}
