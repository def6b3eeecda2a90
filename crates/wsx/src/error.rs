//! Errors of the tokio driver: every failure a caller can meet, typed, with context.

use std::time::Duration;

use wsx_proto::handshake::HandshakeError;
use wsx_proto::uri::UriError;
use wsx_proto::{ProtocolError, SendError};

/// Why a deadline fired.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    /// Establishing the TCP connection.
    Connect,
    /// The opening handshake (request and response).
    Handshake,
    /// The peer did not answer our Close frame or close the transport.
    Close,
    /// The peer did not answer a keepalive Ping.
    Keepalive,
}

/// An error of a WebSocket connection.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL is not a valid `ws://` or `wss://` URL.
    #[error("invalid URL: {0}")]
    Uri(#[from] UriError),
    /// A transport error, with what we were doing.
    #[error("{context}: {source}")]
    Io {
        /// What the driver was doing.
        context: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The opening handshake failed.
    #[error("handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// The peer violated the protocol; we failed the connection with the
    /// error's close code.
    #[error("protocol violation by the peer (closed with {code}): {0}", code = .0.close_code())]
    Protocol(ProtocolError),
    /// The caller asked for something the connection cannot do.
    #[error("cannot send: {0}")]
    Send(#[from] SendError),
    /// A deadline passed.
    #[error("{kind:?} timeout after {after:?}")]
    Timeout {
        /// Which deadline.
        kind: TimeoutKind,
        /// Its duration.
        after: Duration,
    },
    /// The peer does not read fast enough: our write buffer reached its hard
    /// cap, so the connection was failed with 1008 rather than buffer more.
    #[error("write buffer reached its cap of {limit} bytes (peer not reading)")]
    WriteBufferFull {
        /// The cap.
        limit: usize,
    },
    /// The application refused the handshake with this HTTP status.
    #[error("handshake refused by the application with {status}")]
    Rejected {
        /// The status sent.
        status: http::StatusCode,
    },
    /// The TLS handshake failed or TLS could not be set up; the error names
    /// the cause (expired certificate, wrong host name, unknown CA …).
    #[error("TLS: {0}")]
    Tls(#[from] crate::tls::TlsError),
    /// The proxy could not open a tunnel.
    #[error("proxy: {0}")]
    Proxy(#[from] crate::proxy::ProxyError),
    /// WebSockets over HTTP/2 cannot be had from this server: it did not
    /// agree to `h2` in TLS, or does not enable the extended CONNECT
    /// (RFC 8441 §3). [`ClientBuilder`](crate::ClientBuilder)'s automatic
    /// mode falls back to HTTP/1.1 on it.
    #[error("WebSocket over HTTP/2 unavailable: {reason}")]
    Http2Unavailable {
        /// What the server said or did.
        reason: &'static str,
    },
    /// The server answered the handshake with a redirect that was not
    /// followed (redirects are off by default, as in browsers; see
    /// [`ClientBuilder::max_redirects`](crate::ClientBuilder::max_redirects)).
    #[error("the server redirects ({status}) to {location:?}")]
    Redirect {
        /// The 3xx status.
        status: http::StatusCode,
        /// The `Location` header.
        location: String,
    },
}

impl Error {
    pub(crate) fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |source| Self::Io { context, source }
    }
}
