//! The client side: one HTTP/2 connection to a server, on which any number
//! of WebSockets open as extended CONNECT streams (RFC 8441 §4–§5).
//!
//! Contract: [`Http2Connection::connect`] returns once the server's
//! SETTINGS have arrived and allow the extended CONNECT (a PING is sent
//! after the preface and its PONG awaited: the server's SETTINGS come
//! first, RFC 9113 §3.4); otherwise it fails with
//! [`Error::Http2Unavailable`], which the automatic mode of
//! [`ClientBuilder`](crate::ClientBuilder) answers by falling back to
//! HTTP/1.1. The connection's driver runs in a task of its own and ends
//! when the handle and every WebSocket on it are gone.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response};
use wsx_proto::handshake::ClientRequest;
use wsx_proto::uri::WsUri;

use super::{Http2Settings, Http2Stream, io_error};
use crate::config::Config;
use crate::error::{Error, TimeoutKind};
use crate::transport::{MaybeTls, Transport};
use crate::websocket::WebSocket;

/// One HTTP/2 connection that opens WebSockets as streams: many sockets,
/// one TCP (and TLS) connection. Cloning the handle shares the connection;
/// it closes once every handle and every WebSocket opened on it are gone.
///
/// ```no_run
/// # async fn run() -> Result<(), wsx::Error> {
/// let connection = wsx::ClientBuilder::new("wss://example.com/").connect_http2().await?;
/// let (mut chat, _) = connection.open("/chat").await?;
/// let (mut feed, _) = connection.open("/feed?topic=prices").await?;
/// chat.send("hello").await?;
/// # let _ = feed.recv().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Http2Connection {
    send: h2::client::SendRequest<Bytes>,
    /// The request every `open` starts from: the builder's headers,
    /// subprotocols and origin, for another path.
    template: ClientRequest,
    config: Config,
    peer: Option<SocketAddr>,
    tls: bool,
}

impl Http2Connection {
    /// Runs the HTTP/2 handshake on `io` (TLS with ALPN `h2` already agreed,
    /// or cleartext with prior knowledge) and waits for the server's
    /// SETTINGS.
    pub(crate) async fn handshake(
        io: MaybeTls,
        template: ClientRequest,
        config: Config,
        settings: &Http2Settings,
    ) -> Result<Self, Error> {
        let peer = io.peer_addr().ok();
        let tls = io.is_tls();
        let mut builder = h2::client::Builder::new();
        builder
            .initial_window_size(settings.stream_window)
            .initial_connection_window_size(settings.connection_window)
            .max_header_list_size(settings.max_header_list_size)
            .max_frame_size(settings.max_frame_size)
            .max_send_buffer_size(settings.max_send_buffer)
            .max_concurrent_streams(settings.max_concurrent_streams);
        let deadline = settings.handshake_timeout;
        let started = tokio::time::timeout(deadline, async {
            let (send, mut connection) =
                builder.handshake::<_, Bytes>(io).await.map_err(|e| h2_error("HTTP/2 handshake", e))?;
            let mut ping_pong = connection.ping_pong();
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%error, "HTTP/2 connection ended with an error");
                }
            });
            // The server's SETTINGS precede its answer to our PING.
            if let Some(ping_pong) = &mut ping_pong {
                ping_pong
                    .ping(h2::Ping::opaque())
                    .await
                    .map_err(|e| h2_error("waiting for the server's SETTINGS", e))?;
            }
            Ok::<_, Error>(send)
        })
        .await
        .map_err(|_| Error::Timeout { kind: TimeoutKind::Handshake, after: deadline })??;
        // RFC 8441 §3: "A sender MUST NOT send a SETTINGS_ENABLE_CONNECT_PROTOCOL
        // parameter with the value of 0 after previously sending a value of 1";
        // without it, a client must not use :protocol.
        if !started.is_extended_connect_protocol_enabled() {
            return Err(Error::Http2Unavailable { reason: "the server does not enable the extended CONNECT" });
        }
        Ok(Self { send: started, template, config, peer, tls })
    }

    /// Opens a WebSocket on `path_and_query` (`/chat?room=1`) with the
    /// headers, subprotocols and settings of the builder that made this
    /// connection. Waits while the server's stream limit is reached.
    ///
    /// # Errors
    /// [`Error::Handshake`] for a refusal (the status in
    /// [`HandshakeError::UnexpectedStatus`](wsx_proto::handshake::HandshakeError::UnexpectedStatus)),
    /// [`Error::Io`] if the connection failed.
    pub async fn open(&self, path_and_query: &str) -> Result<(WebSocket<Transport>, Response<()>), Error> {
        let current = self.template.uri();
        let authority = current.host_header();
        let uri = WsUri::parse(&format!("{}://{authority}{path_and_query}", current.scheme()))?;
        self.open_request(self.template.clone().with_uri(uri)).await
    }

    /// Opens a WebSocket for `request` (its URI must name this
    /// connection's server).
    pub(crate) async fn open_request(
        &self,
        request: ClientRequest,
    ) -> Result<(WebSocket<Transport>, Response<()>), Error> {
        let deadline = self.config.handshake_timeout;
        tokio::time::timeout(deadline, self.open_inner(request))
            .await
            .map_err(|_| Error::Timeout { kind: TimeoutKind::Handshake, after: deadline })?
    }

    async fn open_inner(&self, request: ClientRequest) -> Result<(WebSocket<Transport>, Response<()>), Error> {
        let handshake = request.deflate_offers(self.config.protocol.get_compression()).into_extended_connect()?;
        let mut request = Request::new(());
        *request.method_mut() = handshake.request().method().clone();
        *request.uri_mut() = handshake.request().uri().clone();
        *request.headers_mut() = handshake.request().headers().clone();
        // RFC 8441 §5: ":protocol pseudo-header field MUST be included in the
        // CONNECT request and it MUST have a value of websocket".
        request.extensions_mut().insert(h2::ext::Protocol::from_static("websocket"));
        let mut send = self.send.clone().ready().await.map_err(|e| h2_error("opening a stream", e))?;
        let (response, stream) = send.send_request(request, false).map_err(|e| h2_error("sending the CONNECT", e))?;
        let response = response.await.map_err(|e| h2_error("reading the CONNECT response", e))?;
        let (parts, body) = response.into_parts();
        let response = Response::from_parts(parts, ());
        let accepted = handshake.validate_response(&response)?;
        let negotiated = accepted.negotiated(self.config.protocol.get_compression())?;
        let stream = Http2Stream::new(stream, body, self.peer, self.tls);
        let ws = WebSocket::from_upgraded(Transport::Http2(stream), negotiated, self.config.clone(), &[])?;
        Ok((ws, response))
    }
}

fn h2_error(context: &'static str, error: h2::Error) -> Error {
    Error::Io { context, source: io_error(error) }
}
