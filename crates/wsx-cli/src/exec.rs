//! `wsx serve --exec CMD`: each WebSocket connection (RFC 6455 §4.2) runs
//! CMD with `sh -c` in its own process group. Every line the command prints
//! on stdout is sent as a text message; every message received is written
//! to its stdin followed by a newline. When the command exits the connection
//! is closed (§7.1.2): 1000 for exit status 0, 1011 with the status or the
//! signal in the reason otherwise. When the connection ends first, the
//! command's group gets SIGTERM, then SIGKILL after a grace period, and the
//! command is always reaped.
//!
//! Every buffer is bounded: an output line longer than the largest message
//! closes the connection with 1009, and while the command does not read its
//! stdin, one received message waits and the socket is no longer read (so
//! the client's own writes stall instead of our memory growing); a client
//! that leaves meanwhile (a FIN or a reset) still ends the command.

use std::ffi::OsString;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::ExitStatusExt;
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::buf::Chain;
use bytes::{Buf, Bytes, BytesMut};
use futures_util::StreamExt;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio_util::codec::{Decoder, FramedRead};
use wsx::{CloseCode, IncomingRequest, Message, Transport, WebSocket};

/// How long the command's group has between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(1);
/// How long the output of a command that has exited is still read: what it
/// printed before exiting is already in the pipe; this only bounds the wait
/// for a background process that keeps the pipe open.
const DRAIN: Duration = Duration::from_secs(1);
/// How often a client whose messages wait for the command's stdin is
/// checked for having gone.
const PEER_CHECK: Duration = Duration::from_millis(250);
/// How long reaping may take after SIGKILL (a process in uninterruptible
/// sleep); past it the runtime reaps the process when it finally dies.
const REAP: Duration = Duration::from_secs(5);

/// The command run for each connection, and the longest line it may print.
#[derive(Debug)]
pub(crate) struct Exec {
    command: String,
    max_line: usize,
}

impl Exec {
    /// `command` is run with `sh -c`; output lines longer than `max_line`
    /// bytes (the server's largest message) close the connection with 1009.
    pub(crate) fn new(command: String, max_line: usize) -> Self {
        Self { command, max_line }
    }
}

/// The future that serves one request with `exec`, boxed (like every
/// endpoint of `serve`): the connection's task holds a pointer, not the
/// whole relay state.
pub(crate) fn route(incoming: IncomingRequest<Transport>, exec: Arc<Exec>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let peer = incoming.peer_addr();
        let path = incoming.request().uri().path().to_owned();
        match serve(incoming, &exec).await {
            Ok(()) => tracing::info!(?peer, %path, "connection closed"),
            Err(error) => tracing::info!(?peer, %path, %error, "connection ended with an error"),
        }
    })
}

async fn serve(incoming: IncomingRequest<Transport>, exec: &Exec) -> Result<(), wsx::Error> {
    if incoming.offer().is_err() {
        if incoming.request().headers().contains_key(http::header::UPGRADE) {
            // A broken handshake: `accept` answers it with its 400 or 426.
            return incoming.accept().await.map(drop);
        }
        return reject(incoming, http::StatusCode::UPGRADE_REQUIRED, UPGRADE_REQUIRED).await;
    }
    // Spawned before the 101, so a command that cannot start is a plain
    // HTTP 500 rather than a connection that opens and closes at once.
    let mut command = command(exec, &incoming);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) => {
            tracing::error!(%error, "cannot start the --exec command");
            return reject(incoming, http::StatusCode::INTERNAL_SERVER_ERROR, b"cannot start the command\n").await;
        }
    };
    let group = Group::of(&child);
    tracing::info!(pid = group.leader(), "command started");
    let result = match incoming.accept().await {
        Ok(ws) => relay(ws, &mut child, exec.max_line).await,
        Err(error) => Err(error),
    };
    let status = terminate(&mut child, group).await;
    tracing::debug!(?status, "command reaped");
    result
}

const UPGRADE_REQUIRED: &[u8] =
    b"this server runs a command for each WebSocket connection: connect with a WebSocket client\n";

/// Answers a request that gets no WebSocket with `status` and `body`.
async fn reject(
    incoming: IncomingRequest<Transport>,
    status: http::StatusCode,
    body: &'static [u8],
) -> Result<(), wsx::Error> {
    let mut response =
        http::Response::builder().status(status).header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8");
    if status == http::StatusCode::UPGRADE_REQUIRED {
        response = response.header(http::header::UPGRADE, "websocket").header("sec-websocket-version", "13");
    }
    match response.body(()) {
        Ok(response) => incoming.reject(response, Bytes::from_static(body)).await,
        Err(_) => Ok(()),
    }
}

/// `sh -c CMD` with piped stdin and stdout, stderr shared with the server,
/// in a process group of its own, with the CGI variables of the request.
fn command(exec: &Exec, incoming: &IncomingRequest<Transport>) -> Command {
    let (local, peer) = (incoming.local_addr(), incoming.peer_addr());
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(&exec.command)
        .envs(cgi_env(incoming.request(), peer, local, incoming.is_tls()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // Signals to the group reach whatever `sh` starts, too.
        .process_group(0)
        // A safety net only: the connection's task always reaps.
        .kill_on_drop(true);
    command
}

/// The CGI-style variables (RFC 3875 §4.1, as websocketd sets them) that
/// describe `request` to the command. Values come from the peer and go
/// into the environment only, never into a shell string.
fn cgi_env(
    request: &http::Request<()>,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    tls: bool,
) -> Vec<(OsString, OsString)> {
    let uri = request.uri();
    let mut env: Vec<(OsString, OsString)> = Vec::new();
    let mut set = |name: &str, value: &str| env.push((name.into(), value.into()));
    set("GATEWAY_INTERFACE", "CGI/1.1");
    set("SERVER_SOFTWARE", concat!("wsx/", env!("CARGO_PKG_VERSION")));
    set("SERVER_PROTOCOL", &format!("{:?}", request.version()));
    set("REQUEST_METHOD", request.method().as_str());
    set("REQUEST_URI", uri.path_and_query().map_or(uri.path(), |p| p.as_str()));
    set("SCRIPT_NAME", "");
    set("PATH_INFO", uri.path());
    set("QUERY_STRING", uri.query().unwrap_or(""));
    if tls {
        // Set only when on, as by Apache: scripts test `[ -n "$HTTPS" ]`.
        set("HTTPS", "on");
    }
    if let Some(peer) = peer {
        set("REMOTE_ADDR", &peer.ip().to_string());
        set("REMOTE_PORT", &peer.port().to_string());
    }
    if let Some(local) = local {
        set("SERVER_ADDR", &local.ip().to_string());
        set("SERVER_PORT", &local.port().to_string());
    }
    let host = request.headers().get(http::header::HOST).and_then(|h| h.to_str().ok());
    if let Some(authority) = host.and_then(|h| h.parse::<http::uri::Authority>().ok()) {
        set("SERVER_NAME", authority.host());
    }
    for name in request.headers().keys() {
        // httpoxy: a `Proxy:` header must not become HTTP_PROXY. And, as
        // Apache does, no name with `_`: `X_Forwarded_For` would pass for
        // the `X-Forwarded-For` a proxy in front of us sets.
        if name == "proxy" || name.as_str().contains('_') {
            continue;
        }
        let mut value = Vec::new();
        for (i, part) in request.headers().get_all(name).iter().enumerate() {
            if i > 0 {
                value.extend_from_slice(b", ");
            }
            value.extend_from_slice(part.as_bytes());
        }
        // The environment cannot hold NUL (the parser refuses it anyway).
        if value.contains(&0) {
            continue;
        }
        let var = format!("HTTP_{}", name.as_str().to_ascii_uppercase().replace('-', "_"));
        env.push((var.into(), OsString::from_vec(value)));
    }
    env
}

/// The command's process group (its id is the command's pid). Until
/// [`Group::disarm`], dropping it kills the whole group: a connection task
/// dropped mid-way (the runtime stopping after the shutdown deadline)
/// leaves nothing running.
struct Group {
    pgid: Option<Pid>,
}

impl Group {
    fn of(child: &Child) -> Self {
        let pgid = child.id().and_then(|id| i32::try_from(id).ok()).map(Pid::from_raw);
        Self { pgid }
    }

    fn leader(&self) -> Option<i32> {
        self.pgid.map(Pid::as_raw)
    }

    /// Sends `signal` to every process of the group; `false` when none is left.
    fn signal(&self, signal: Option<Signal>) -> bool {
        self.pgid.is_some_and(|pgid| killpg(pgid, signal).is_ok())
    }

    fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.signal(Some(Signal::SIGKILL));
    }
}

/// Ends the command's group: SIGTERM, up to [`GRACE`] for the command and
/// everything it started to exit, then SIGKILL; then reaps the command.
/// Harmless when the command has exited already.
async fn terminate(child: &mut Child, mut group: Group) -> Option<ExitStatus> {
    group.signal(Some(Signal::SIGTERM));
    let deadline = tokio::time::Instant::now() + GRACE;
    let mut status = tokio::time::timeout_at(deadline, child.wait()).await.ok().and_then(Result::ok);
    // Its children outlive it by a little (they got SIGTERM too); signal 0
    // tells whether any process of the group is left.
    while status.is_some() && group.signal(None) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if status.is_none() || group.signal(None) {
        group.signal(Some(Signal::SIGKILL));
    }
    if status.is_none() {
        status = tokio::time::timeout(REAP, child.wait()).await.ok().and_then(Result::ok);
    }
    group.disarm();
    status
}

/// The close code and reason for a command that exited with `status`.
fn exit_close(status: ExitStatus) -> (CloseCode, String) {
    if status.success() {
        return (CloseCode::NORMAL, String::new());
    }
    let reason = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => {
            let name = Signal::try_from(signal).map_or("", Signal::as_str);
            let core = if status.core_dumped() { ", core dumped" } else { "" };
            format!("killed by signal {signal} ({name}{core})").replace(" ()", "")
        }
        (None, None) => "exited".to_owned(),
    };
    (CloseCode::INTERNAL_ERROR, reason)
}

/// A received message on its way to the command's stdin, with its newline.
type Pending = Chain<Bytes, Bytes>;

/// How the relay ended.
enum End {
    /// The connection is over (closed, failed, or closing already).
    Socket,
    /// The command exited.
    Exited(ExitStatus),
    /// The command printed a line longer than a message may be.
    LineTooLong,
}

/// Relays until the connection ends or the command exits, then closes
/// the connection as the ending calls for.
async fn relay(mut ws: WebSocket<Transport>, child: &mut Child, max_line: usize) -> Result<(), wsx::Error> {
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Ok(());
    };
    let mut lines = FramedRead::new(stdout, LineCodec::new(max_line));
    let end = pump(&mut ws, child, stdin, &mut lines).await?;
    match end {
        End::Socket => Ok(()),
        End::Exited(status) => {
            tracing::info!(%status, "command exited");
            if let End::LineTooLong = drain(&mut ws, &mut lines).await? {
                return line_too_long(&mut ws, max_line).await;
            }
            let (code, reason) = exit_close(status);
            finish(&mut ws, code, &reason).await
        }
        End::LineTooLong => line_too_long(&mut ws, max_line).await,
    }
}

async fn line_too_long(ws: &mut WebSocket<Transport>, max_line: usize) -> Result<(), wsx::Error> {
    tracing::warn!(max_line, "command printed a line longer than --max-message: closing with 1009");
    let reason = format!("output line over {max_line} bytes");
    finish(ws, CloseCode::MESSAGE_TOO_BIG, &reason).await
}

/// The relay loop. Each wait is cancel-safe, so none blocks another: the
/// command's output is read while its stdin is full, and the socket is read
/// while the command prints nothing. Only sending waits inline, which pauses
/// reading the command's output while the client is slow to read.
async fn pump(
    ws: &mut WebSocket<Transport>,
    child: &mut Child,
    stdin: ChildStdin,
    lines: &mut FramedRead<ChildStdout, LineCodec>,
) -> Result<End, wsx::Error> {
    let mut stdin = Some(stdin);
    let mut pending: Option<Pending> = None;
    let mut output_open = true;
    loop {
        let held = pending.is_some();
        tokio::select! {
            status = child.wait() => match status {
                Ok(status) => return Ok(End::Exited(status)),
                Err(error) => {
                    tracing::warn!(%error, "cannot wait for the command");
                    return Ok(End::Socket);
                }
            },
            line = lines.next(), if output_open => match line {
                Some(Ok(Line::Message(message))) => send(ws, message).await?,
                Some(Ok(Line::TooLong)) => return Ok(End::LineTooLong),
                Some(Err(error)) => {
                    tracing::debug!(%error, "reading the command's output");
                    output_open = false;
                }
                None => output_open = false,
            },
            written = write_pending(stdin.as_mut(), pending.as_mut()), if held => match written {
                Ok(_) if pending.as_ref().is_some_and(Buf::has_remaining) => {}
                Ok(_) => pending = None,
                Err(error) => {
                    // The command closed its stdin or exited: later
                    // messages have nowhere to go.
                    tracing::debug!(%error, "the command's stdin is closed");
                    stdin = None;
                    pending = None;
                }
            },
            event = socket_event(ws, held) => match event {
                Some(Ok(Message::Text(text))) => pending = stdin.is_some().then(|| line_of(text.into_bytes())),
                Some(Ok(Message::Binary(data))) => pending = stdin.is_some().then(|| line_of(data)),
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error),
                None => return Ok(End::Socket),
            },
        }
    }
}

/// The next message, or, while a message waits for the command's stdin
/// (`held`), `None` once the client has gone: the socket is not read
/// then, so a Close or end of stream behind unread messages is seen only
/// as the socket's read side closing (a FIN or a reset).
async fn socket_event(ws: &mut WebSocket<Transport>, held: bool) -> Option<Result<Message, wsx::Error>> {
    if !held {
        return ws.recv().await;
    }
    // An HTTP/2 stream shares its socket: its reset is seen once the held
    // message is written and the stream read again.
    let Some(tcp) = ws.get_ref().tcp() else {
        return std::future::pending().await;
    };
    loop {
        match tcp.ready(tokio::io::Interest::READABLE).await {
            // Readable stays set while messages wait unread: look again later.
            Ok(ready) if !ready.is_read_closed() => tokio::time::sleep(PEER_CHECK).await,
            Ok(_) => {
                tracing::debug!("client gone while its input waited for the command");
                return None;
            }
            Err(error) => return Some(Err(wsx::Error::Io { context: "waiting on the socket", source: error })),
        }
    }
}

fn line_of(payload: Bytes) -> Pending {
    payload.chain(Bytes::from_static(b"\n"))
}

/// Writes some of `pending` to `stdin` (cancel-safe: `write_buf` either
/// writes and advances, or does neither).
async fn write_pending(stdin: Option<&mut ChildStdin>, pending: Option<&mut Pending>) -> io::Result<usize> {
    match (stdin, pending) {
        (Some(stdin), Some(pending)) => stdin.write_buf(pending).await,
        _ => std::future::pending().await,
    }
}

/// Sends one output line, unless a close has started already (a
/// shutdown's 1001): then the line is dropped and `recv` goes on with the
/// closing handshake.
async fn send(ws: &mut WebSocket<Transport>, message: Message) -> Result<(), wsx::Error> {
    if ws.is_open() {
        ws.send(message).await?;
    }
    Ok(())
}

/// Sends what an exited command printed last, up to the end of its output
/// or [`DRAIN`] after its exit (a background process may hold the pipe);
/// [`End::LineTooLong`] if a line is too long, else [`End::Socket`].
async fn drain(
    ws: &mut WebSocket<Transport>,
    lines: &mut FramedRead<ChildStdout, LineCodec>,
) -> Result<End, wsx::Error> {
    let deadline = tokio::time::Instant::now() + DRAIN;
    while let Ok(Some(line)) = tokio::time::timeout_at(deadline, lines.next()).await {
        match line {
            Ok(Line::Message(message)) => send(ws, message).await?,
            Ok(Line::TooLong) => return Ok(End::LineTooLong),
            Err(_) => break,
        }
    }
    Ok(End::Socket)
}

/// Closes with `code` and `reason`, or, when a close has started already,
/// reads until the peer's Close.
async fn finish(ws: &mut WebSocket<Transport>, code: CloseCode, reason: &str) -> Result<(), wsx::Error> {
    if ws.is_open() {
        ws.close(code, reason).await?;
    } else {
        while let Some(message) = ws.recv().await {
            message?;
        }
    }
    Ok(())
}

/// One line of the command's output.
#[derive(Debug, PartialEq)]
enum Line {
    /// A whole line as a message: text when it is UTF-8, binary otherwise.
    Message(Message),
    /// A line longer than the largest message.
    TooLong,
}

/// Splits output at `\n` (a `\r` before it is dropped too), each line at
/// most `max` bytes; a last line without `\n` counts at end of output.
#[derive(Debug)]
struct LineCodec {
    max: usize,
    /// How far the buffer is known to hold no `\n`.
    searched: usize,
}

impl LineCodec {
    fn new(max: usize) -> Self {
        Self { max, searched: 0 }
    }

    fn line(&self, mut line: BytesMut) -> Line {
        if line.last() == Some(&b'\r') {
            line.truncate(line.len() - 1);
        }
        if line.len() > self.max {
            return Line::TooLong;
        }
        let line = line.freeze();
        match wsx::Utf8Bytes::try_from(line.clone()) {
            Ok(text) => Line::Message(Message::Text(text)),
            Err(_) => Line::Message(Message::Binary(line)),
        }
    }
}

impl Decoder for LineCodec {
    type Item = Line;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Option<Line>> {
        match buf[self.searched..].iter().position(|&b| b == b'\n') {
            Some(offset) => {
                let mut line = buf.split_to(self.searched + offset + 1);
                line.truncate(line.len() - 1);
                self.searched = 0;
                Ok(Some(self.line(line)))
            }
            // Room for the line, a `\r` and the `\n` to come, no more.
            None if buf.len() > self.max.saturating_add(1) => {
                buf.clear();
                self.searched = 0;
                Ok(Some(Line::TooLong))
            }
            None => {
                self.searched = buf.len();
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> io::Result<Option<Line>> {
        if let Some(line) = self.decode(buf)? {
            return Ok(Some(line));
        }
        self.searched = 0;
        if buf.is_empty() { Ok(None) } else { Ok(Some(self.line(buf.split()))) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(max: usize, input: &[u8]) -> Vec<Line> {
        let mut codec = LineCodec::new(max);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        // One byte at a time: lines split across reads.
        for &byte in input {
            buf.extend_from_slice(&[byte]);
            while let Some(line) = codec.decode(&mut buf).expect("decodes") {
                out.push(line);
            }
        }
        while let Some(line) = codec.decode_eof(&mut buf).expect("decodes") {
            out.push(line);
        }
        out
    }

    fn text(s: &str) -> Line {
        Line::Message(Message::text(s))
    }

    #[test]
    fn lines_split_at_newlines_with_crlf_and_a_last_partial_line() {
        let lines = decode_all(16, b"one\ntwo\r\n\nwo\xc3\xb6rld\nlast");
        assert_eq!(lines, vec![text("one"), text("two"), text(""), text("wo\u{f6}rld"), text("last")]);
    }

    #[test]
    fn invalid_utf8_lines_are_binary() {
        let lines = decode_all(16, b"\xff\xfe\nok\n");
        assert_eq!(lines, vec![Line::Message(Message::binary(&b"\xff\xfe"[..])), text("ok")]);
    }

    #[test]
    fn a_line_at_the_limit_passes_and_one_over_it_is_too_long() {
        assert_eq!(decode_all(4, b"abcd\r\n"), vec![text("abcd")]);
        assert_eq!(decode_all(4, b"abcd\n"), vec![text("abcd")]);
        assert_eq!(decode_all(4, b"abcde\n")[0], Line::TooLong);
        assert_eq!(decode_all(4, b"abcdefghijkl")[0], Line::TooLong);
    }

    #[test]
    fn the_buffer_never_holds_much_more_than_a_line() {
        let mut codec = LineCodec::new(8);
        let mut buf = BytesMut::from(&b"0123456789"[..]);
        assert_eq!(codec.decode(&mut buf).expect("decodes"), Some(Line::TooLong));
        assert!(buf.is_empty());
    }

    #[test]
    fn exit_statuses_become_close_codes_and_reasons() {
        let (code, reason) = exit_close(ExitStatus::from_raw(0));
        assert_eq!((code, reason.as_str()), (CloseCode::NORMAL, ""));
        let (code, reason) = exit_close(ExitStatus::from_raw(3 << 8));
        assert_eq!((code, reason.as_str()), (CloseCode::INTERNAL_ERROR, "exit status 3"));
        let (code, reason) = exit_close(ExitStatus::from_raw(9));
        assert_eq!((code, reason.as_str()), (CloseCode::INTERNAL_ERROR, "killed by signal 9 (SIGKILL)"));
        let (_, reason) = exit_close(ExitStatus::from_raw(11 | 0x80));
        assert_eq!(reason, "killed by signal 11 (SIGSEGV, core dumped)");
    }

    #[test]
    fn the_request_becomes_cgi_variables() {
        let request = http::Request::builder()
            .uri("/chat/room?name=ann&x=%20")
            .header("host", "example.com:9001")
            .header("x-thing", "a")
            .header("x-thing", "b")
            .header("proxy", "http://evil.example")
            .header("x-forwarded-for", "10.0.0.1")
            .header("x_forwarded_for", "1.2.3.4")
            .body(())
            .expect("request");
        let peer = "10.0.0.1:5555".parse().ok();
        let local = "[::1]:9001".parse().ok();
        let env = cgi_env(&request, peer, local, false);
        let get = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.to_string_lossy().into_owned());
        assert_eq!(get("REQUEST_URI").as_deref(), Some("/chat/room?name=ann&x=%20"));
        assert_eq!(get("PATH_INFO").as_deref(), Some("/chat/room"));
        assert_eq!(get("QUERY_STRING").as_deref(), Some("name=ann&x=%20"));
        assert_eq!(get("REMOTE_ADDR").as_deref(), Some("10.0.0.1"));
        assert_eq!(get("REMOTE_PORT").as_deref(), Some("5555"));
        assert_eq!(get("SERVER_ADDR").as_deref(), Some("::1"));
        assert_eq!(get("SERVER_PORT").as_deref(), Some("9001"));
        assert_eq!(get("SERVER_NAME").as_deref(), Some("example.com"));
        assert_eq!(get("SERVER_PROTOCOL").as_deref(), Some("HTTP/1.1"));
        assert_eq!(get("HTTP_HOST").as_deref(), Some("example.com:9001"));
        assert_eq!(get("HTTP_X_THING").as_deref(), Some("a, b"));
        assert_eq!(get("HTTP_PROXY"), None);
        assert_eq!(get("HTTP_X_FORWARDED_FOR").as_deref(), Some("10.0.0.1"));
        assert_eq!(env.iter().filter(|(k, _)| k == "HTTP_X_FORWARDED_FOR").count(), 1);
        assert_eq!(get("HTTPS"), None);
        assert!(cgi_env(&request, peer, local, true).contains(&("HTTPS".into(), "on".into())));
    }

    /// The size of the future `f` returns, without calling it.
    fn future_size<A, R>(_: &impl FnOnce(A) -> R) -> usize {
        std::mem::size_of::<R>()
    }

    #[test]
    fn the_routing_future_is_boxed() {
        let size = future_size(&|(incoming, exec): (IncomingRequest<Transport>, Arc<Exec>)| route(incoming, exec));
        assert!(size <= 16, "the --exec routing future takes {size} bytes");
    }
}
