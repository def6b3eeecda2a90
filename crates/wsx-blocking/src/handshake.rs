//! The opening handshake over a blocking transport (RFC 6455 §4): the
//! client's request and the check of the response, and the server's
//! reading of the request, the decision (a callback or a
//! [`HandshakePolicy`]) and the answer. The rules are the core's
//! ([`wsx_proto::handshake`]); this module moves the bytes under a
//! deadline.
//!
//! Contract: the whole handshake (TLS included) has one deadline, enforced
//! by the socket's timeouts; bytes read past the head go to the
//! connection; an invalid request is answered with the core's status
//! (400/426/431) before the error returns.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Request, Response, StatusCode};
use wsx_proto::handshake::{
    Accept, ClientOffer, ClientRequest, HandshakeError, HandshakePolicy, Refusal, encode_response, error_response,
    parse_request, parse_response, validate_request,
};

use crate::config::Config;
use crate::error::{Error, TimeoutKind};
use crate::transport::Transport;
use crate::websocket::WebSocket;

/// A deadline enforced through a socket's read and write timeouts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: Instant,
    after: Duration,
    kind: TimeoutKind,
}

impl Deadline {
    pub(crate) fn new(at: Instant, after: Duration) -> Self {
        Self { at, after, kind: TimeoutKind::Handshake }
    }

    pub(crate) fn connect(after: Duration) -> Self {
        Self { at: Instant::now() + after, after, kind: TimeoutKind::Connect }
    }

    pub(crate) fn timeout(&self) -> Error {
        Error::Timeout { kind: self.kind, after: self.after }
    }

    /// The time left, or the timeout error once none is.
    pub(crate) fn left(&self) -> Result<Duration, Error> {
        let left = self.at.saturating_duration_since(Instant::now());
        if left.is_zero() { Err(self.timeout()) } else { Ok(left) }
    }

    /// Sets the socket's timeouts to the time left.
    pub(crate) fn arm<T: Transport + ?Sized>(&self, io: &T) -> Result<(), Error> {
        let left = self.left()?;
        io.set_read_timeout(Some(left)).map_err(Error::io("setting the handshake deadline"))?;
        io.set_write_timeout(Some(left)).map_err(Error::io("setting the handshake deadline"))
    }

    /// An I/O error: the timeout if the socket's timeout fired.
    pub(crate) fn io_error(&self, context: &'static str, source: std::io::Error) -> Error {
        match source.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => self.timeout(),
            _ => Error::Io { context, source },
        }
    }
}

/// Clears the handshake's timeouts: the WebSocket sets its own.
fn disarm<T: Transport>(io: &T) -> Result<(), Error> {
    io.set_read_timeout(None).map_err(Error::io("clearing the handshake deadline"))?;
    io.set_write_timeout(None).map_err(Error::io("clearing the handshake deadline"))
}

fn write_all<T: Transport>(io: &mut T, bytes: &[u8], deadline: &Deadline, context: &'static str) -> Result<(), Error> {
    deadline.arm(io)?;
    io.write_all(bytes).and_then(|()| io.flush()).map_err(|e| deadline.io_error(context, e))
}

/// Reads until `parse` finds a whole head; returns it with the bytes read
/// past it.
fn read_head<T: Transport, H>(
    io: &mut T,
    deadline: &Deadline,
    context: &'static str,
    mut parse: impl FnMut(&[u8]) -> Result<Option<(H, usize)>, HandshakeError>,
) -> Result<(H, BytesMut), Error> {
    let mut buf = BytesMut::with_capacity(1024);
    let mut chunk = [0_u8; 2048];
    loop {
        if let Some((head, consumed)) = parse(&buf)? {
            return Ok((head, buf.split_off(consumed)));
        }
        deadline.arm(io)?;
        match io.read(&mut chunk) {
            Ok(0) => return Err(Error::Io { context, source: std::io::ErrorKind::UnexpectedEof.into() }),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(deadline.io_error(context, e)),
        }
    }
}

/// The client's handshake on a connected (and TLS'd) transport.
pub(crate) fn client<S: Transport>(
    mut io: S,
    request: ClientRequest,
    config: Config,
    deadline: &Deadline,
) -> Result<(WebSocket<S>, Response<()>), Error> {
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::try_from_os_rng()
        .map_err(|e| Error::Io { context: "seeding the handshake-key RNG", source: std::io::Error::other(e) })?;
    let deflate = config.protocol.get_compression().cloned();
    let handshake = request.deflate_offers(deflate.as_ref()).into_handshake(&mut rng)?;
    let mut out = BytesMut::with_capacity(512);
    handshake.encode(&mut out);
    write_all(&mut io, &out, deadline, "sending the handshake request")?;
    let limits = config.handshake_limits;
    let (response, leftover) =
        read_head(&mut io, deadline, "reading the handshake response", |buf| parse_response(buf, &limits))?;
    if response.status().is_redirection()
        && let Some(location) = response.headers().get(http::header::LOCATION)
    {
        let location = String::from_utf8_lossy(location.as_bytes()).into_owned();
        return Err(Error::Redirect { status: response.status(), location });
    }
    let negotiated = handshake.validate_response(&response)?.negotiated(deflate.as_ref())?;
    disarm(&io)?;
    let ws = WebSocket::from_upgraded(io, negotiated, config, &leftover)?;
    Ok((ws, response))
}

/// Accepts a WebSocket handshake on `io` with the default [`Config`]: any
/// path, no subprotocol, no compression.
///
/// ```no_run
/// # fn run() -> Result<(), wsx_blocking::Error> {
/// let listener = std::net::TcpListener::bind("127.0.0.1:9001").map_err(|e| wsx_blocking::Error::Io { context: "bind", source: e })?;
/// for tcp in listener.incoming().flatten() {
///     std::thread::spawn(move || -> Result<(), wsx_blocking::Error> {
///         let mut ws = wsx_blocking::accept(tcp)?;
///         while let Some(message) = ws.recv() {
///             let message = message?;
///             if message.is_text() || message.is_binary() {
///                 ws.send(message)?;
///             }
///         }
///         Ok(())
///     });
/// }
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`accept_with`].
#[allow(clippy::result_large_err, reason = "a refusal is a whole HTTP response by design, built once per handshake")]
pub fn accept<S: Transport>(io: S) -> Result<WebSocket<S>, Error> {
    accept_with(io, Config::default(), |_, _| Ok(Accept::default()))
}

/// Accepts a handshake after `on_request` decides: `Ok(Accept)` answers 101
/// (with the subprotocol and headers it names; permessage-deflate when
/// `config` turns it on), `Err(response)` refuses with that response.
///
/// ```no_run
/// # fn run(tcp: std::net::TcpStream) -> Result<(), wsx_blocking::Error> {
/// let ws = wsx_blocking::accept_with(tcp, wsx_blocking::Config::default(), |request, offer| {
///     if request.uri().path() != "/chat" {
///         return Err(http::Response::builder().status(404).body(bytes::Bytes::from("no such room")).unwrap());
///     }
///     let chosen = offer.subprotocols.iter().find(|p| *p == "chat.v2");
///     Ok(chosen.map_or_else(wsx_blocking::Accept::default, |p| wsx_blocking::Accept::default().subprotocol(p.clone())))
/// })?;
/// # let _ = ws; Ok(()) }
/// ```
///
/// # Errors
/// [`Error::Rejected`] after a refusal; [`Error::Handshake`] for an
/// invalid request (answered 400, 426 or 431); a handshake timeout
/// ([`Config::handshake_timeout`]); a transport error.
#[allow(clippy::result_large_err, reason = "a refusal is a whole HTTP response by design, built once per handshake")]
pub fn accept_with<S, F>(io: S, config: Config, on_request: F) -> Result<WebSocket<S>, Error>
where
    S: Transport,
    F: FnOnce(&Request<()>, &ClientOffer) -> Result<Accept, Response<Bytes>>,
{
    serve(io, config, |request, offer| {
        on_request(request, offer).map_err(|response| {
            let (parts, body) = response.into_parts();
            Box::new((Response::from_parts(parts, ()), body))
        })
    })
}

/// Accepts a handshake as `policy` decides, as the tokio driver's server
/// does: origins it does not allow are refused with 403, and the first
/// subprotocol of the client's list that it speaks is selected (400 when
/// it requires one and none is shared).
///
/// ```no_run
/// # fn run(tcp: std::net::TcpStream) -> Result<(), wsx_blocking::Error> {
/// let policy = wsx_blocking::HandshakePolicy::default()
///     .allowed_origins(wsx_blocking::AllowedOrigins::new(["https://app.example.com"]))
///     .subprotocols(["chat.v2"]);
/// let ws = wsx_blocking::accept_with_policy(tcp, wsx_blocking::Config::default(), &policy)?;
/// # let _ = ws; Ok(()) }
/// ```
///
/// # Errors
/// As [`accept_with`].
pub fn accept_with_policy<S: Transport>(
    io: S,
    config: Config,
    policy: &HandshakePolicy,
) -> Result<WebSocket<S>, Error> {
    serve(io, config, |_, offer| {
        policy.check_origin(offer)?;
        let chosen = policy.choose_subprotocol(offer)?;
        Ok(chosen.map_or_else(Accept::default, |protocol| Accept::default().subprotocol(protocol)))
    })
}

/// Reads the request, lets `decide` answer a valid offer, writes the answer.
fn serve<S: Transport>(
    mut io: S,
    config: Config,
    decide: impl FnOnce(&Request<()>, &ClientOffer) -> Result<Accept, Refusal>,
) -> Result<WebSocket<S>, Error> {
    let deadline = Deadline::new(Instant::now() + config.handshake_timeout, config.handshake_timeout);
    let limits = config.handshake_limits;
    let read = read_head(&mut io, &deadline, "reading the handshake request", |buf| parse_request(buf, &limits));
    let (request, leftover) = match read {
        Ok(parsed) => parsed,
        Err(Error::Handshake(error)) => return Err(refuse_invalid(&mut io, error, &deadline)),
        Err(error) => return Err(error),
    };
    let offer = match validate_request(&request) {
        Ok(offer) => offer,
        Err(error) => return Err(refuse_invalid(&mut io, error, &deadline)),
    };
    let accept = match decide(&request, &offer) {
        Ok(accept) => accept,
        Err(refusal) => {
            let (response, body) = *refusal;
            let status = response.status();
            refuse(&mut io, response, &body, &deadline)?;
            return Err(Error::Rejected { status });
        }
    };
    let (response, negotiated) = match accept.respond(&offer, config.protocol.get_compression()) {
        Ok(answer) => answer,
        Err(error) => {
            let (response, body) = error_response(&error);
            let _ = refuse(&mut io, response, &body, &deadline);
            return Err(Error::Handshake(error));
        }
    };
    let mut out = BytesMut::with_capacity(256);
    encode_response(&response, &[], &mut out);
    write_all(&mut io, &out, &deadline, "sending the handshake response")?;
    disarm(&io)?;
    WebSocket::from_upgraded(io, negotiated, config, &leftover)
}

/// Answers an invalid request with the core's status; returns its error.
fn refuse_invalid<S: Transport>(io: &mut S, error: HandshakeError, deadline: &Deadline) -> Error {
    let (response, body) = error_response(&error);
    let _ = refuse(io, response, &body, deadline);
    Error::Handshake(error)
}

/// Writes a refusal and ends the connection. A refusal never opens a
/// WebSocket: a 101 is sent as 500.
fn refuse<S: Transport>(io: &mut S, mut response: Response<()>, body: &[u8], deadline: &Deadline) -> Result<(), Error> {
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    }
    let headers = response.headers_mut();
    headers.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    let mut out = BytesMut::with_capacity(256 + body.len());
    encode_response(&response, body, &mut out);
    write_all(io, &out, deadline, "sending the handshake refusal")?;
    let _ = io.shutdown_write();
    Ok(())
}
