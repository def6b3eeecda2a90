//! The client side: one QUIC connection to a server, on which any number
//! of WebSockets open as extended CONNECT request streams (RFC 9220 §3).
//!
//! Contract: [`Http3Connection::connect`] returns once the QUIC handshake
//! is done and the server's SETTINGS have arrived and allow the extended
//! CONNECT; otherwise it fails with [`Error::Http3Unavailable`] (no QUIC
//! answer within [`Http3Settings::quic_timeout`], ALPN `h3` refused, no
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL`), which
//! [`HttpMode::Http3`](crate::HttpMode::Http3) answers by falling back to
//! TCP once. The connection closes (H3_NO_ERROR) when the handle and every
//! WebSocket opened on it are gone.

use std::net::SocketAddr;
use std::sync::Arc;

use http::Response;
use wsx_proto::handshake::ClientRequest;
use wsx_proto::uri::WsUri;

use super::error::{ErrorCode, H3Error};
use super::qpack::{self, QpackError};
use super::stream::ReadError;
use super::{ConnectionHandle, FrameReader, Http3Settings, Http3Stream, Side, frame, message};
use crate::config::Config;
use crate::error::{Error, TimeoutKind};
use crate::tls::TlsConnector;
use crate::transport::Transport;
use crate::websocket::WebSocket;

/// One QUIC connection that opens WebSockets as HTTP/3 request streams:
/// many sockets, one connection. Cloning the handle shares the connection.
///
/// ```no_run
/// # async fn run() -> Result<(), wsx::Error> {
/// let connection = wsx::ClientBuilder::new("wss://example.com/").connect_http3().await?;
/// let (mut chat, _) = connection.open("/chat").await?;
/// let (mut feed, _) = connection.open("/feed").await?;
/// chat.send("hello").await?;
/// # let _ = feed.recv().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Http3Connection {
    handle: Arc<ConnectionHandle>,
    /// Kept so its driver outlives the handle's last clone.
    _endpoint: quinn::Endpoint,
    template: ClientRequest,
    config: Config,
    max_field_section_size: usize,
}

/// Why HTTP/3 could not be had from a server.
fn unavailable(reason: &'static str) -> Error {
    Error::Http3Unavailable { reason }
}

impl Http3Connection {
    /// Connects to `template`'s server over QUIC and waits for its SETTINGS.
    pub(crate) async fn connect(
        template: ClientRequest,
        config: Config,
        tls: &TlsConnector,
        settings: &Http3Settings,
    ) -> Result<Self, Error> {
        let uri = template.uri().clone();
        let host = uri.host().trim_start_matches('[').trim_end_matches(']').to_owned();
        let remote = resolve(&host, uri.port()).await?;
        let local: SocketAddr = if remote.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" }
            .parse()
            .map_err(|_| Error::io("binding a UDP socket")(std::io::ErrorKind::InvalidInput.into()))?;
        let socket = std::net::UdpSocket::bind(local).map_err(Error::io("binding a UDP socket"))?;
        let endpoint = quinn::Endpoint::new(super::endpoint_config(), None, socket, Arc::new(quinn::TokioRuntime))
            .map_err(Error::io("binding a UDP socket"))?;
        let mut client = quinn::ClientConfig::new(Arc::new(crate::tls::quic_client_config(tls)?));
        client.transport_config(Arc::new(settings.transport(false)));
        let connecting = endpoint
            .connect_with(client, remote, &host)
            .map_err(|_| unavailable("QUIC could not start a connection to this address"))?;
        let connection = match tokio::time::timeout(settings.quic_timeout, connecting).await {
            Ok(Ok(connection)) => connection,
            // Our side refused the server's certificate: a TLS error, as over TCP.
            Ok(Err(quinn::ConnectionError::TransportError(error))) if is_crypto(error.code) => {
                return Err(tls_error(error, &host));
            }
            Ok(Err(quinn::ConnectionError::ConnectionClosed(close))) if is_crypto(close.error_code) => {
                // A TLS alert from the server: ALPN `h3` refused
                // (no_application_protocol), or our offer otherwise.
                return Err(unavailable("the server refused the QUIC handshake (TLS alert)"));
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, "QUIC handshake failed");
                return Err(unavailable("the QUIC handshake failed"));
            }
            Err(_) => {
                endpoint.close(ErrorCode::NO_ERROR.varint(), b"");
                return Err(unavailable("no QUIC answer in time (UDP blocked?)"));
            }
        };
        let handle = ConnectionHandle::start(connection, Side::Client, settings.frame_settings(false))
            .await
            .map_err(|error| Error::Io { context: "opening the HTTP/3 control stream", source: error.into() })?;
        let mut peer_settings = handle.peer_settings();
        let waited = tokio::time::timeout(config.handshake_timeout, peer_settings.wait_for(Option::is_some)).await;
        let server = match waited {
            Ok(Ok(settings)) => settings.unwrap_or_default(),
            Ok(Err(_)) => return Err(unavailable("the connection closed before the server's SETTINGS")),
            Err(_) => return Err(Error::Timeout { kind: TimeoutKind::Handshake, after: config.handshake_timeout }),
        };
        // RFC 9220 §3 / RFC 8441 §3: without SETTINGS_ENABLE_CONNECT_PROTOCOL
        // = 1 a client must not send :protocol.
        if !server.enable_connect_protocol {
            return Err(unavailable("the server does not enable the extended CONNECT"));
        }
        let max_field_section_size = settings.max_field_section_size as usize;
        Ok(Self { handle, _endpoint: endpoint, template, config, max_field_section_size })
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

    /// The server's address.
    pub fn remote_address(&self) -> SocketAddr {
        self.handle.remote_address()
    }

    /// Opens a WebSocket for `request` (its URI must name this server).
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
        let (response, stream) = self.open_stream(handshake.request()).await?;
        let accepted = handshake.validate_response(&response)?;
        let negotiated = accepted.negotiated(self.config.protocol.get_compression())?;
        let ws = WebSocket::from_upgraded(Transport::Http3(stream), negotiated, self.config.clone(), &[])?;
        Ok((ws, response))
    }

    /// Sends `request` as an extended CONNECT with `:protocol websocket`
    /// (RFC 9220 §3) — its method, URI (`:scheme`, `:authority`, `:path`)
    /// and headers exactly as given, nothing added or checked — and returns
    /// the server's final response with the request stream as a byte
    /// stream, whatever the status. For bridges and proxies that carry
    /// another endpoint's WebSocket bytes unchanged (a 2xx leaves the stream
    /// open for them); [`open`](Self::open) is the WebSocket client.
    ///
    /// # Errors
    /// [`Error::Http3Unavailable`] after the server's GOAWAY; [`Error::Io`]
    /// if the stream or connection fails before the response.
    pub async fn open_stream(&self, request: &http::Request<()>) -> Result<(Response<()>, Http3Stream), Error> {
        if self.handle.goaway().borrow().is_some() {
            return Err(unavailable("the server sent GOAWAY"));
        }
        let (mut send, recv) = self
            .handle
            .quic()
            .open_bi()
            .await
            .map_err(|error| Error::Io { context: "opening an HTTP/3 stream", source: error.into() })?;
        // RFC 9220 §3: ":protocol ... MUST have a value of websocket".
        let mut section = Vec::with_capacity(256);
        message::encode_request(request, "websocket", &mut section);
        let mut head = Vec::with_capacity(section.len() + 8);
        frame::encode_frame(frame::kind::HEADERS, &section, &mut head);
        send.write_all(&head)
            .await
            .map_err(|error| Error::Io { context: "sending the extended CONNECT", source: error.into() })?;
        let mut reader = FrameReader::new(recv, Side::Client);
        let response = loop {
            let response = self.read_response(&mut reader).await?;
            // RFC 9114 §4.1: interim (1xx) responses may come first.
            if !response.status().is_informational() {
                break response;
            }
        };
        Ok((response, Http3Stream::new(reader, send, self.handle.clone())))
    }

    /// Reads one response head; the server's violations fail the connection.
    async fn read_response(&self, reader: &mut FrameReader) -> Result<Response<()>, Error> {
        let io = |context, error: std::io::Error| Error::Io { context, source: error };
        let fail = |error: H3Error| {
            self.handle.close(error);
            io("reading the extended CONNECT response", std::io::Error::new(std::io::ErrorKind::InvalidData, error))
        };
        let section = reader.read_headers(self.max_field_section_size).await.map_err(|error| match error {
            ReadError::Protocol(error) => fail(error),
            ReadError::Io(error) => io("reading the extended CONNECT response", error),
            ReadError::Incomplete => io(
                "reading the extended CONNECT response",
                std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the stream ended before a response"),
            ),
            ReadError::TooLarge => io(
                "reading the extended CONNECT response",
                std::io::Error::new(std::io::ErrorKind::InvalidData, "response HEADERS over the limit"),
            ),
        })?;
        let lines = qpack::decode(&section, self.max_field_section_size).map_err(|error| match error {
            QpackError::TooLarge => io(
                "reading the extended CONNECT response",
                std::io::Error::new(std::io::ErrorKind::InvalidData, "response headers over the limit"),
            ),
            _ => fail(H3Error::connection(ErrorCode::QPACK_DECOMPRESSION_FAILED, "response cannot be decoded")),
        })?;
        message::response_from_fields(lines).map_err(|why| {
            reader.stop(ErrorCode::MESSAGE_ERROR);
            io("reading the extended CONNECT response", std::io::Error::new(std::io::ErrorKind::InvalidData, why))
        })
    }
}

/// The server's address for `host` (the first one resolved).
async fn resolve(host: &str, port: u16) -> Result<SocketAddr, Error> {
    let mut addresses = tokio::net::lookup_host((host, port)).await.map_err(Error::io("resolving the host"))?;
    addresses.next().ok_or_else(|| Error::io("resolving the host")(std::io::ErrorKind::NotFound.into()))
}

/// RFC 9001 §4.8: a TLS alert is carried as QUIC error 0x100 + alert.
fn is_crypto(code: quinn::TransportErrorCode) -> bool {
    (0x100..0x200).contains(&u64::from(code))
}

/// A TLS failure inside the QUIC handshake, as [`Error::Tls`].
fn tls_error(error: impl std::fmt::Display, host: &str) -> Error {
    tracing::debug!(%error, %host, "TLS failed in the QUIC handshake");
    Error::Tls(crate::tls::TlsError::Config(format!("QUIC handshake with {host}: {error}")))
}
