//! What a WebSocket runs over: a [`Transport`] is the TCP or TLS
//! connection itself after an HTTP/1.1 upgrade (RFC 6455 §4), or one
//! stream of an HTTP/2 connection (RFC 8441) or of an HTTP/3 connection
//! (RFC 9220) after an extended CONNECT.
//! [`MaybeTls`] is the byte stream under HTTP: TCP, or TLS over TCP
//! (possibly through a proxy tunnel, itself possibly TLS).
//!
//! Contract: both read and write like the stream they wrap and forward
//! vectored writes, so the driver's batching survives TLS; the WebSocket
//! protocol above them is the same whatever carries it.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::http2::Http2Stream;
use crate::http3::Http3Stream;

/// The stream a [`WebSocket`](crate::WebSocket) of this crate's client and
/// server runs over, whichever HTTP version opened it.
///
/// ```no_run
/// # async fn run() -> Result<(), wsx::Error> {
/// let (ws, _) = wsx::connect("ws://127.0.0.1:9001/echo").await?;
/// assert_eq!(ws.get_ref().http_version(), http::Version::HTTP_11);
/// # Ok(()) }
/// ```
#[non_exhaustive]
#[derive(Debug)]
pub enum Transport {
    /// The connection itself, after an HTTP/1.1 upgrade.
    Http1(MaybeTls),
    /// One stream of an HTTP/2 connection, after an extended CONNECT; its
    /// flow-control window is the backpressure.
    Http2(Http2Stream),
    /// One request stream of an HTTP/3 connection over QUIC, after an
    /// extended CONNECT (RFC 9220); QUIC's flow control is the backpressure.
    Http3(Http3Stream),
}

impl Transport {
    /// The HTTP version that opened the WebSocket.
    pub fn http_version(&self) -> http::Version {
        match self {
            Self::Http1(_) => http::Version::HTTP_11,
            Self::Http2(_) => http::Version::HTTP_2,
            Self::Http3(_) => http::Version::HTTP_3,
        }
    }

    /// The peer's address (for a proxied connection, the proxy's).
    ///
    /// # Errors
    /// As [`TcpStream::peer_addr`].
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Self::Http1(io) => io.peer_addr(),
            Self::Http2(stream) => stream.peer_addr().ok_or_else(|| io::ErrorKind::NotConnected.into()),
            Self::Http3(stream) => Ok(stream.peer_addr()),
        }
    }

    /// The TCP connection under an HTTP/1.1 WebSocket (an HTTP/2 stream
    /// shares its connection with others, an HTTP/3 one runs over UDP:
    /// `None`).
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Self::Http1(io) => Some(io.tcp()),
            Self::Http2(_) | Self::Http3(_) => None,
        }
    }

    /// Whether the connection under it is TLS (QUIC always is).
    pub fn is_tls(&self) -> bool {
        match self {
            Self::Http1(io) => io.is_tls(),
            Self::Http2(stream) => stream.is_tls(),
            Self::Http3(_) => true,
        }
    }

    /// The ALPN protocol agreed in the TLS session under it, if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        match self {
            Self::Http1(io) => io.alpn_protocol(),
            Self::Http2(stream) => stream.is_tls().then_some(crate::tls::ALPN_H2),
            Self::Http3(_) => Some(crate::tls::ALPN_H3),
        }
    }
}

impl From<MaybeTls> for Transport {
    fn from(io: MaybeTls) -> Self {
        Self::Http1(io)
    }
}

impl AsyncRead for Transport {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Http1(s) => Pin::new(s).poll_read(cx, buf),
            Self::Http2(s) => Pin::new(s).poll_read(cx, buf),
            Self::Http3(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Http1(s) => Pin::new(s).poll_write(cx, buf),
            Self::Http2(s) => Pin::new(s).poll_write(cx, buf),
            Self::Http3(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Http1(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Http2(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Http3(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Http1(s) => s.is_write_vectored(),
            Self::Http2(s) => s.is_write_vectored(),
            Self::Http3(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Http1(s) => Pin::new(s).poll_flush(cx),
            Self::Http2(s) => Pin::new(s).poll_flush(cx),
            Self::Http3(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Http1(s) => Pin::new(s).poll_shutdown(cx),
            Self::Http2(s) => Pin::new(s).poll_shutdown(cx),
            Self::Http3(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A TCP stream, or TLS over one.
#[non_exhaustive]
#[derive(Debug)]
pub enum MaybeTls {
    /// Plain TCP (`ws://`).
    Plain(TcpStream),
    /// Our side of a TLS client session (`wss://`, or an `https://` proxy),
    /// over TCP or over an outer TLS session to a proxy.
    ClientTls(Box<tokio_rustls::client::TlsStream<MaybeTls>>),
    /// Our side of a TLS server session.
    ServerTls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl MaybeTls {
    /// The TCP stream at the bottom.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(tcp) => tcp,
            Self::ClientTls(tls) => tls.get_ref().0.tcp(),
            Self::ServerTls(tls) => tls.get_ref().0,
        }
    }

    /// The peer's address (for a proxied connection, the proxy's).
    ///
    /// # Errors
    /// As [`TcpStream::peer_addr`].
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().peer_addr()
    }

    /// Whether the outermost layer is TLS.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Self::Plain(_))
    }

    /// The ALPN protocol agreed in the outermost TLS session, if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        match self {
            Self::Plain(_) => None,
            Self::ClientTls(tls) => tls.get_ref().1.alpn_protocol(),
            Self::ServerTls(tls) => tls.get_ref().1.alpn_protocol(),
        }
    }
}

impl From<TcpStream> for MaybeTls {
    fn from(tcp: TcpStream) -> Self {
        Self::Plain(tcp)
    }
}

impl AsyncRead for MaybeTls {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::ClientTls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Self::ServerTls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::ClientTls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Self::ServerTls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::ClientTls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            Self::ServerTls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::ClientTls(s) => s.is_write_vectored(),
            Self::ServerTls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::ClientTls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Self::ServerTls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::ClientTls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Self::ServerTls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
