//! Errors of the blocking driver: every failure a caller can meet, typed,
//! with context; the same shape as the tokio driver's `wsx::Error`, plus
//! the read and write deadlines a blocking caller sets.

use std::time::Duration;

use wsx_proto::handshake::HandshakeError;
use wsx_proto::tls::TlsError;
use wsx_proto::uri::UriError;
use wsx_proto::{ProtocolError, SendError};

use crate::proxy::ProxyError;

/// Which deadline passed.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    /// Establishing the TCP connection (and the proxy tunnel).
    Connect,
    /// The opening handshake (TLS, request and response).
    Handshake,
    /// The peer did not answer our Close frame or close the transport.
    Close,
    /// The peer did not answer a keepalive Ping.
    Keepalive,
    /// [`WebSocket::set_read_timeout`](crate::WebSocket::set_read_timeout):
    /// no message arrived in time. The connection stays usable.
    Read,
    /// [`WebSocket::set_write_timeout`](crate::WebSocket::set_write_timeout):
    /// the transport took no bytes in time. What was not written stays
    /// queued; the connection stays usable.
    Write,
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
    /// The caller asked for something the connection cannot do (sending
    /// after the close, say).
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
    /// More than the write buffer's hard cap was queued: the connection
    /// was failed with 1008 rather than buffer more.
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
    Tls(#[from] TlsError),
    /// The proxy could not open a tunnel.
    #[error("proxy: {0}")]
    Proxy(#[from] ProxyError),
    /// The server answered the handshake with a redirect, which is not
    /// followed.
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

    /// Whether this is a [`TimeoutKind::Read`] or [`TimeoutKind::Write`]
    /// timeout, after which the connection is still usable.
    pub fn is_retryable_timeout(&self) -> bool {
        matches!(self, Self::Timeout { kind: TimeoutKind::Read | TimeoutKind::Write, .. })
    }
}
