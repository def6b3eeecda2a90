//! The server side of one HTTP/2 connection (RFC 9113, RFC 8441 §3): the
//! preface and SETTINGS with `SETTINGS_ENABLE_CONNECT_PROTOCOL = 1`, then
//! every request stream handed out while the connection is driven, and a
//! graceful GOAWAY on shutdown.
//!
//! Contract: [`serve_connection`] returns when the connection is over;
//! while it runs it polls the connection (every stream's I/O depends on
//! it). Malformed requests (`:protocol` on a method other than CONNECT,
//! or before it was enabled; missing pseudo-headers; DATA after
//! END_STREAM) are stream errors that h2 answers itself; floods of resets,
//! SETTINGS or PINGs end in GOAWAY within the limits of [`Http2Settings`].

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

use super::Http2Settings;
use crate::server::ShutdownSignal;

/// A request stream, before it becomes an [`IncomingRequest`](crate::IncomingRequest).
pub(crate) struct StreamRequest {
    pub(crate) parts: http::request::Parts,
    pub(crate) body: h2::RecvStream,
    pub(crate) respond: h2::server::SendResponse<Bytes>,
}

/// Serves one HTTP/2 connection: `on_stream` gets each request stream (and
/// must not block: it spawns). On `shutdown` the connection sends GOAWAY
/// and ends once its streams have (their WebSockets close with 1001).
pub(crate) async fn serve_connection<T: AsyncRead + AsyncWrite + Unpin>(
    io: T,
    settings: &Http2Settings,
    shutdown: ShutdownSignal,
    mut on_stream: impl FnMut(StreamRequest),
) {
    let mut builder = h2::server::Builder::new();
    builder
        // RFC 8441 §3: "SETTINGS_ENABLE_CONNECT_PROTOCOL (0x08): Upon receipt
        // of SETTINGS_ENABLE_CONNECT_PROTOCOL with a value of 1, a client MAY
        // use the Extended CONNECT".
        .enable_connect_protocol()
        .max_concurrent_streams(settings.max_concurrent_streams)
        .initial_window_size(settings.stream_window)
        .initial_connection_window_size(settings.connection_window)
        .max_header_list_size(settings.max_header_list_size)
        .max_frame_size(settings.max_frame_size)
        .max_send_buffer_size(settings.max_send_buffer)
        .max_pending_accept_reset_streams(settings.max_pending_accept_reset_streams)
        .max_local_error_reset_streams(Some(settings.max_local_error_reset_streams));
    let handshake = tokio::time::timeout(settings.handshake_timeout, builder.handshake::<_, Bytes>(io)).await;
    let mut connection = match handshake {
        Ok(Ok(connection)) => connection,
        Ok(Err(error)) => return tracing::debug!(%error, "HTTP/2 handshake failed"),
        Err(_) => return tracing::debug!("HTTP/2 handshake timed out"),
    };
    let mut going_away = false;
    loop {
        let next = tokio::select! {
            next = connection.accept() => next,
            () = shutdown.triggered(), if !going_away => {
                // RFC 9113 §6.8: GOAWAY lets the streams in progress finish.
                going_away = true;
                connection.graceful_shutdown();
                continue;
            }
        };
        match next {
            Some(Ok((request, respond))) => {
                let (parts, body) = request.into_parts();
                tracing::debug!(method = %parts.method, uri = %parts.uri, stream = ?respond.stream_id(), "HTTP/2 request");
                on_stream(StreamRequest { parts, body, respond });
            }
            Some(Err(error)) => {
                tracing::debug!(%error, "HTTP/2 connection error");
                break;
            }
            None => break,
        }
    }
}
