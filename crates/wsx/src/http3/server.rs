//! The server side of HTTP/3 (RFC 9114, RFC 9220 §3): a QUIC endpoint on a
//! UDP socket, each connection's control streams and SETTINGS with
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL = 1`, then every request stream read
//! up to its HEADERS, decoded and handed out; GOAWAY on shutdown.
//!
//! Contract: [`serve_endpoint`] accepts QUIC connections until `shutdown`,
//! under the server's handshake limit (a client past it is refused; past
//! [`Http3Settings::retry_above`] an unvalidated one is asked to Retry)
//! and deadline. A malformed request is a stream error (H3_MESSAGE_ERROR),
//! a request whose HEADERS exceed the limit is answered 431, a request
//! stream that sends no HEADERS in time is reset (H3_REQUEST_INCOMPLETE);
//! QPACK and frame-sequence errors are connection errors with their codes.
//! On shutdown each connection sends GOAWAY, refuses new streams
//! (H3_REQUEST_REJECTED) and closes with H3_NO_ERROR once its streams
//! (whose WebSockets close with 1001) are done.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;

use super::error::{ErrorCode, H3Error};
use super::message;
use super::qpack::{self, QpackError};
use super::stream::ReadError;
use super::{ConnectionHandle, FrameReader, Http3Settings, Side};
use crate::server::ShutdownSignal;
use crate::tls::TlsAcceptor;

/// A request stream, read up to its HEADERS, before it becomes an
/// [`IncomingRequest`](crate::IncomingRequest).
pub(crate) struct StreamRequest {
    pub(crate) request: Request<()>,
    pub(crate) protocol: Option<String>,
    pub(crate) reader: FrameReader,
    pub(crate) send: quinn::SendStream,
    pub(crate) connection: Arc<ConnectionHandle>,
}

/// A QUIC server endpoint on `socket` with `tls`'s certificate, ALPN `h3`.
///
/// # Errors
/// A certificate configuration QUIC cannot use, or a socket tokio refuses.
pub(crate) fn bind_endpoint(
    socket: std::net::UdpSocket,
    tls: &TlsAcceptor,
    settings: &Http3Settings,
    max_handshakes: usize,
) -> std::io::Result<quinn::Endpoint> {
    let crypto = crate::tls::quic_server_config(tls).map_err(std::io::Error::other)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config
        .transport_config(Arc::new(settings.transport(true)))
        // Connection attempts waiting for us to accept them: past it QUIC
        // refuses new ones at once (a flood costs a bounded queue).
        .max_incoming(max_handshakes.max(1))
        // What a waiting attempt may buffer (0-RTT, handshake packets), and
        // all of them together.
        .incoming_buffer_size(64 * 1024)
        .incoming_buffer_size_total(16 * 1024 * 1024);
    quinn::Endpoint::new(super::endpoint_config(), Some(config), socket, Arc::new(quinn::TokioRuntime))
}

/// What the accept loop needs from the server around it.
pub(crate) struct Limits {
    pub(crate) settings: Http3Settings,
    pub(crate) handshakes: Arc<Semaphore>,
    pub(crate) max_handshakes: usize,
    pub(crate) handshake_timeout: Duration,
}

/// Accepts QUIC connections on `endpoint` until `shutdown`; `on_connection`
/// is called in each connection's task (it counts the connection) and
/// `on_stream` with each request stream, whose future is spawned.
pub(crate) async fn serve_endpoint<S, F>(
    endpoint: quinn::Endpoint,
    limits: Limits,
    shutdown: ShutdownSignal,
    on_connection: impl Fn() -> Box<dyn std::any::Any + Send> + Send + Sync + 'static,
    on_stream: S,
) where
    S: Fn(StreamRequest) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let limits = Arc::new(limits);
    let connections = TaskTracker::new();
    loop {
        let incoming = tokio::select! {
            biased;
            () = shutdown.triggered() => break,
            incoming = endpoint.accept() => incoming,
        };
        let Some(incoming) = incoming else { break };
        let in_progress = limits.max_handshakes - limits.handshakes.available_permits().min(limits.max_handshakes);
        if !incoming.remote_address_validated() && in_progress >= limits.settings.retry_above {
            // RFC 9000 §8.1.2: the client must echo our token from its own
            // address before we spend a handshake on it.
            let _ = incoming.retry();
            continue;
        }
        let Ok(permit) = limits.handshakes.clone().try_acquire_owned() else {
            tracing::debug!(peer = %incoming.remote_address(), "too many handshakes in progress: QUIC refused");
            incoming.refuse();
            continue;
        };
        let limits = limits.clone();
        let shutdown = shutdown.clone();
        let on_stream = on_stream.clone();
        let live = on_connection();
        connections.spawn(async move {
            let peer = incoming.remote_address();
            let connecting = match incoming.accept() {
                Ok(connecting) => connecting,
                Err(error) => return tracing::debug!(%peer, %error, "QUIC connection refused"),
            };
            let connection = match tokio::time::timeout(limits.handshake_timeout, connecting).await {
                Ok(Ok(connection)) => connection,
                Ok(Err(error)) => return tracing::debug!(%peer, %error, "QUIC handshake failed"),
                Err(_) => return tracing::debug!(%peer, "QUIC handshake timed out"),
            };
            drop(permit);
            serve_connection(connection, &limits, shutdown, on_stream).await;
            drop(live);
        });
    }
    // New attempts are refused from now on; connections in progress go on
    // to their GOAWAY (each watches the same signal).
    endpoint.set_server_config(None);
    connections.close();
    connections.wait().await;
    endpoint.close(ErrorCode::NO_ERROR.varint(), b"");
}

/// Serves one QUIC connection: its request streams, each in a task.
async fn serve_connection<S, F>(connection: quinn::Connection, limits: &Limits, shutdown: ShutdownSignal, on_stream: S)
where
    S: Fn(StreamRequest) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let peer = connection.remote_address();
    tracing::debug!(%peer, "HTTP/3 connection");
    let handle =
        match ConnectionHandle::start(connection.clone(), Side::Server, limits.settings.frame_settings(true)).await {
            Ok(handle) => handle,
            Err(error) => return tracing::debug!(%peer, %error, "HTTP/3 control stream failed"),
        };
    let streams = TaskTracker::new();
    let mut next_id = 0u64;
    let mut going_away = false;
    loop {
        let accepted = tokio::select! {
            accepted = connection.accept_bi() => accepted,
            () = shutdown.triggered(), if !going_away => {
                going_away = true;
                // RFC 9114 §5.2: GOAWAY with the first request stream we
                // will not process; those before it go on (their
                // WebSockets close with 1001).
                handle.send_goaway(next_id).await;
                streams.close();
                continue;
            }
            () = streams.wait(), if going_away => break,
        };
        let (send, recv) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                tracing::debug!(%peer, %error, "HTTP/3 connection ended");
                break;
            }
        };
        let id = u64::from(recv.id());
        next_id = next_id.max(id + 4);
        let mut reader = FrameReader::new(recv, Side::Server);
        let mut send = send;
        if going_away {
            // RFC 9114 §5.2: requests past the GOAWAY identifier are
            // rejected; the client may retry them elsewhere.
            reader.stop(ErrorCode::REQUEST_REJECTED);
            let _ = send.reset(ErrorCode::REQUEST_REJECTED.varint());
            continue;
        }
        let handle = handle.clone();
        let on_stream = on_stream.clone();
        let max = limits.settings.max_field_section_size as usize;
        let deadline = limits.handshake_timeout;
        // The head is read in the stream's own task: one slow stream does
        // not hold up the others, and each has the handshake deadline.
        streams.spawn(async move {
            match tokio::time::timeout(deadline, read_request(&mut reader, max)).await {
                Ok(Ok((request, protocol))) => {
                    tracing::debug!(method = %request.method(), uri = %request.uri(), stream = id, "HTTP/3 request");
                    on_stream(StreamRequest { request, protocol, reader, send, connection: handle }).await;
                }
                Ok(Err(RequestError::Malformed(why))) => {
                    // RFC 9114 §4.1.2: "Malformed requests or responses that
                    // are detected MUST be treated as a stream error of type
                    // H3_MESSAGE_ERROR."
                    tracing::debug!(%peer, stream = id, why, "malformed HTTP/3 request");
                    reader.stop(ErrorCode::MESSAGE_ERROR);
                    let _ = send.reset(ErrorCode::MESSAGE_ERROR.varint());
                }
                Ok(Err(RequestError::TooLarge)) => {
                    reader.stop(ErrorCode::REQUEST_REJECTED);
                    let mut response = http::Response::new(());
                    *response.status_mut() = http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
                    let _ = send_response(&mut send, &response, Bytes::new(), deadline).await;
                }
                Ok(Err(RequestError::Connection(error))) => {
                    tracing::debug!(%peer, %error, "closing the HTTP/3 connection");
                    handle.close(error);
                }
                Ok(Err(RequestError::Gone)) => {}
                Err(_) => {
                    reader.stop(ErrorCode::REQUEST_INCOMPLETE);
                    let _ = send.reset(ErrorCode::REQUEST_INCOMPLETE.varint());
                }
            }
        });
    }
}

/// Why a request stream produced no request.
enum RequestError {
    Malformed(message::Malformed),
    TooLarge,
    Connection(H3Error),
    /// Reset, or the connection lost.
    Gone,
}

/// Reads a request's HEADERS and decodes them.
async fn read_request(reader: &mut FrameReader, max: usize) -> Result<(Request<()>, Option<String>), RequestError> {
    let section = reader.read_headers(max).await.map_err(|error| match error {
        ReadError::Protocol(error) => RequestError::Connection(error),
        ReadError::TooLarge => RequestError::TooLarge,
        ReadError::Incomplete => RequestError::Malformed("stream ended before HEADERS"),
        ReadError::Io(_) => RequestError::Gone,
    })?;
    let lines = qpack::decode(&section, max).map_err(|error| match error {
        QpackError::TooLarge => RequestError::TooLarge,
        // RFC 9204 §2.2: "If the decoder encounters a reference ... to a
        // dynamic table entry that has already been evicted or that has an
        // absolute index greater than or equal to the declared Required
        // Insert Count, it MUST treat this as a connection error of type
        // QPACK_DECOMPRESSION_FAILED"; so is any section it cannot decode.
        _ => RequestError::Connection(H3Error::connection(
            ErrorCode::QPACK_DECOMPRESSION_FAILED,
            "field section cannot be decoded",
        )),
    })?;
    message::request_from_fields(lines).map_err(RequestError::Malformed)
}

/// Sends a response on a request stream: HEADERS, the body in one DATA
/// frame if any, then the stream's FIN; all within `deadline`.
pub(crate) async fn send_response(
    send: &mut quinn::SendStream,
    response: &http::Response<()>,
    body: Bytes,
    deadline: Duration,
) -> std::io::Result<()> {
    let out = encode_head(response);
    let mut out = out;
    if !body.is_empty() {
        super::frame::encode_frame(super::frame::kind::DATA, &body, &mut out);
    }
    tokio::time::timeout(deadline, send.write_all(&out))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
        .map_err(std::io::Error::from)?;
    let _ = send.finish();
    Ok(())
}

/// A HEADERS frame for `response`.
pub(crate) fn encode_head(response: &http::Response<()>) -> Vec<u8> {
    let mut section = Vec::with_capacity(128);
    message::encode_response(response, &mut section);
    let mut out = Vec::with_capacity(section.len() + 8);
    super::frame::encode_frame(super::frame::kind::HEADERS, &section, &mut out);
    out
}
