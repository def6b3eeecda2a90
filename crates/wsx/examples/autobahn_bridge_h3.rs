//! A test bridge between HTTP/1.1 WebSockets and WebSockets over HTTP/3
//! (RFC 9220), so that an HTTP/1.1-only conformance suite (kosoku's
//! Autobahn cases) can judge an HTTP/3 server or client. It completes the
//! handshake on each side and then copies the WebSocket bytes unchanged:
//! frames, masks and compression are the two endpoints' business.
//!
//! ```text
//! # HTTP/1.1 in, HTTP/3 out: kosoku -> bridge -> wsx serve --http3
//! autobahn_bridge_h3 --mode server --listen 127.0.0.1:9002 --target localhost:9443 [--ca FILE | --insecure]
//!
//! # HTTP/3 in, HTTP/1.1 out: an HTTP/3 WebSocket client -> bridge -> kosoku's fuzzing server
//! autobahn_bridge_h3 --mode client --listen 127.0.0.1:9003 --target 127.0.0.1:9001 --cert FILE --key FILE
//! ```
//!
//! Server mode: each HTTP/1.1 upgrade becomes an extended CONNECT
//! (`:protocol websocket`) on one shared QUIC connection to the target
//! (opened at start, re-opened if it ends), carrying the path and query,
//! `Origin`, and the `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions`
//! offers; the target's 2xx becomes a 101 with `Sec-WebSocket-Accept`
//! computed from the client's key and the target's answers; any other
//! status is passed on. Client mode is the mirror: a `wsx::Server` with
//! HTTP/3 on (QUIC on the UDP port of the same number as `--listen`, with
//! the `--cert` certificate) whose every extended CONNECT becomes an
//! HTTP/1.1 upgrade to the target, its 101 mapped into a 200 through
//! `IncomingRequest::accept_stream`, any other status passed on.
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Response, StatusCode};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::time::timeout;
use wsx_proto::handshake::{
    ClientRequest, HandshakeLimits, accept_response_with_extensions, encode_response, error_response, parse_request,
    parse_response, validate_request,
};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const USAGE: &str = "usage: autobahn_bridge_h3 --mode server --listen ADDR --target HOST:PORT [--ca FILE | --insecure]\n       \
     autobahn_bridge_h3 --mode client --listen ADDR --target HOST:PORT --cert FILE --key FILE\n       \
     common: [--timeout SECS]";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Server,
    Client,
}

struct Options {
    mode: Mode,
    listen: SocketAddr,
    target: String,
    ca: Option<PathBuf>,
    insecure: bool,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    timeout: Duration,
}

fn parse_args() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    let (mut mode, mut listen, mut target, mut ca, mut insecure, mut secs) = (None, None, None, None, false, 10u64);
    let (mut cert, mut key) = (None, None);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--mode" => {
                mode = Some(match value()?.as_str() {
                    "server" => Mode::Server,
                    "client" => Mode::Client,
                    other => return Err(format!("--mode {other}: server or client\n{USAGE}")),
                })
            }
            "--listen" => listen = Some(value()?.parse().map_err(|e| format!("--listen: {e}"))?),
            "--target" => target = Some(value()?),
            "--ca" => ca = Some(PathBuf::from(value()?)),
            "--insecure" => insecure = true,
            "--cert" => cert = Some(PathBuf::from(value()?)),
            "--key" => key = Some(PathBuf::from(value()?)),
            "--timeout" => secs = value()?.parse().map_err(|e| format!("--timeout: {e}"))?,
            _ => return Err(format!("unknown argument {arg:?}\n{USAGE}")),
        }
    }
    let mode = mode.ok_or(USAGE)?;
    match mode {
        Mode::Server if cert.is_some() || key.is_some() => return Err("--cert and --key are for client mode".into()),
        Mode::Client if ca.is_some() || insecure => return Err("--ca and --insecure are for server mode".into()),
        Mode::Client if cert.is_none() || key.is_none() => {
            return Err("client mode needs --cert and --key (QUIC is always TLS)".into());
        }
        _ => {}
    }
    Ok(Options {
        mode,
        listen: listen.ok_or(USAGE)?,
        target: target.ok_or(USAGE)?,
        ca,
        insecure,
        cert,
        key,
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
    let result = match opts.mode {
        Mode::Server => server_mode(opts).await,
        Mode::Client => client_mode(opts).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("autobahn_bridge_h3: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The windows of both modes' QUIC connections: the suite's 16 MiB
/// messages move without a round trip per window.
fn quic_settings() -> wsx::Http3Settings {
    wsx::Http3Settings::default().stream_window(4 << 20).connection_window(16 << 20)
}

// --- server mode: HTTP/1.1 in, HTTP/3 out -------------------------------------

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

async fn server_mode(opts: Options) -> Result<(), BoxError> {
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
        wsx::ClientBuilder::new(&base).tls(tls.clone()).handshake_timeout(deadline).http3_settings(quic_settings())
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
    let (outcome, up, down) = copy(&mut tcp, &mut stream).await;
    println!(
        "{}",
        json!({ "bridge": id, "path": path, "status": 101, "outcome": outcome, "to_h3": up, "from_h3": down })
    );
    Ok(())
}

/// Copies bytes both ways until both directions have ended: each on its
/// own, a FIN passed on as a FIN. Returns the outcome and the bytes copied
/// towards HTTP/3 and from it.
async fn copy<T, S>(tcp: &mut T, stream: &mut S) -> (String, u64, u64)
where
    T: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::io::copy_bidirectional(tcp, stream).await {
        Ok((up, down)) => ("closed".to_owned(), up, down),
        Err(err) => (format!("reset ({err})"), 0, 0),
    }
}

// --- client mode: HTTP/3 in, HTTP/1.1 out -------------------------------------

async fn client_mode(opts: Options) -> Result<(), BoxError> {
    let (Some(cert), Some(key)) = (&opts.cert, &opts.key) else { return Err(USAGE.into()) };
    let acceptor = wsx::TlsAcceptor::from_pem_files(cert, key)?;
    let listener = TcpListener::bind(opts.listen).await?;
    let port = listener.local_addr()?.port();
    let config = wsx::Config::default().handshake_timeout(opts.timeout);
    // HTTP/3 on the UDP port of the listener's number; the TCP listener
    // answers too (HTTP/1.1 and HTTP/2 through the same handler) but the
    // client under test uses QUIC.
    let server = wsx::Server::new(listener, config).tls(Some(acceptor)).http3(quic_settings())?;
    println!("{}", json!({ "listening": port }));
    let opts = Arc::new(opts);
    let ids = Arc::new(AtomicU64::new(1));
    server
        .run(move |incoming| {
            let (opts, id) = (opts.clone(), ids.fetch_add(1, Ordering::Relaxed));
            async move {
                if let Err(err) = bridge_request(id, incoming, &opts).await {
                    eprintln!("autobahn_bridge_h3: #{id}: {err}");
                }
            }
        })
        .await?;
    Ok(())
}

/// One extended CONNECT: an HTTP/1.1 upgrade to the target with the same
/// path and offers, its answer passed back, then the bytes copied.
async fn bridge_request(
    id: u64,
    incoming: wsx::IncomingRequest<wsx::Transport>,
    opts: &Options,
) -> Result<(), BoxError> {
    let path = incoming.request().uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let offer = match incoming.offer() {
        Ok(offer) => offer.clone(),
        Err(err) => {
            let why = format!("{path}: refused the request: {err}");
            // `accept` answers an invalid handshake with its 400/426/501.
            let _ = incoming.accept().await;
            return Err(why.into());
        }
    };
    let uri = format!("ws://{}{path}", opts.target).parse().map_err(|e| format!("{path}: not a valid URI: {e}"))?;
    let mut upgrade = ClientRequest::new(uri).subprotocols(offer.subprotocols.iter().cloned());
    for element in &offer.extensions {
        upgrade = upgrade.extension(element.clone());
    }
    if let Some(origin) = offer.origin.as_ref().and_then(|o| o.to_str().ok()) {
        upgrade = upgrade.origin(origin);
    }
    let handshake = upgrade.into_handshake(&mut rand::rng())?;
    let limits = HandshakeLimits::default();
    let attempt = async {
        let mut tcp = timeout(opts.timeout, TcpStream::connect(&opts.target))
            .await
            .map_err(|_| format!("connecting to {} timed out", opts.target))?
            .map_err(|e| format!("cannot connect to {}: {e}", opts.target))?;
        tcp.set_nodelay(true)?;
        let mut out = BytesMut::new();
        handshake.encode(&mut out);
        timeout(opts.timeout, tcp.write_all(&out)).await.map_err(|_| "timed out writing the upgrade")??;
        let (response, rest) = read_response_head(&mut tcp, opts.timeout, &limits).await?;
        Ok::<_, BoxError>((tcp, response, rest))
    };
    let gateway = |why: String| {
        let mut response = Response::new(());
        *response.status_mut() = StatusCode::BAD_GATEWAY;
        (response, Bytes::from(why))
    };
    let (mut tcp, response, rest) = match attempt.await {
        Ok(answer) => answer,
        Err(err) => {
            let (response, body) = gateway(format!("{err}\n"));
            let _ = incoming.reject(response, body).await;
            return Err(format!("{path}: {err}").into());
        }
    };
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        // The target refused: its status goes on.
        let mut refusal = Response::new(());
        *refusal.status_mut() = response.status();
        let _ = incoming.reject(refusal, rest).await;
        println!(
            "{}",
            json!({ "bridge": id, "path": path, "status": response.status().as_u16(), "outcome": "refused" })
        );
        return Ok(());
    }
    let accepted = match handshake.validate_response(&response) {
        Ok(accepted) => accepted,
        Err(err) => {
            let (response, body) = gateway(format!("the target's answer: {err}\n"));
            let _ = incoming.reject(response, body).await;
            return Err(format!("{path}: the target's answer: {err}").into());
        }
    };
    // A 200 for the extended CONNECT (RFC 9220 §3), with the target's
    // subprotocol and extensions.
    let ok = accept_response_with_extensions(&offer, accepted.subprotocol.as_deref(), &accepted.extensions)?;
    let (mut stream, _) = incoming.accept_stream(ok).await?;
    if !rest.is_empty() {
        stream.write_all(&rest).await?;
    }
    let (outcome, up, down) = copy(&mut tcp, &mut stream).await;
    println!(
        "{}",
        json!({ "bridge": id, "path": path, "status": 200, "outcome": outcome, "to_h3": up, "from_h3": down })
    );
    Ok(())
}

/// Reads the target's HTTP/1.1 response head; returns it and the bytes after it.
async fn read_response_head(
    tcp: &mut TcpStream,
    deadline: Duration,
    limits: &HandshakeLimits,
) -> Result<(Response<()>, Bytes), BoxError> {
    let mut buf = BytesMut::with_capacity(4096);
    let read = async {
        loop {
            if let Some((head, consumed)) = parse_response(&buf, limits)? {
                return Ok::<_, BoxError>((head, buf.split_off(consumed).freeze()));
            }
            if tcp.read_buf(&mut buf).await? == 0 {
                return Err("the connection ended inside the HTTP/1.1 head".into());
            }
        }
    };
    timeout(deadline, read).await.map_err(|_| "timed out reading the HTTP/1.1 head")?
}
