//! One HTTP/2 stream as a byte stream (RFC 8441 §5: after the 2xx, "the
//! stream ... carries WebSocket frames" in DATA frames), so the WebSocket
//! driver runs over it exactly as over TCP.
//!
//! Contract: reading returns the DATA payloads in order and grants the
//! peer window only for what was read (a reader that stops stops the
//! peer); writing waits for window and for room in h2's per-stream send
//! buffer (a peer that stops reading stops us); shutting down sends
//! END_STREAM (RFC 8441 §5: the equivalent of TCP's FIN); a reset from the
//! peer is `ConnectionReset`, the equivalent of a TCP RST (1006 for that
//! WebSocket alone). Dropping the stream before END_STREAM resets it.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A WebSocket's HTTP/2 stream; see [`Transport::Http2`](crate::Transport::Http2).
pub struct Http2Stream {
    /// Boxed: a socket holds its transport inline, and this variant would
    /// otherwise set the size of [`Transport`](crate::Transport), and so of
    /// every HTTP/1.1 WebSocket too.
    inner: Box<StreamState>,
}

/// The stream's handles and read state.
struct StreamState {
    send: h2::SendStream<Bytes>,
    recv: h2::RecvStream,
    /// Received DATA not yet read.
    unread: Bytes,
    /// The peer ended its side (END_STREAM).
    recv_done: bool,
    /// We sent END_STREAM.
    send_done: bool,
    peer: Option<SocketAddr>,
    tls: bool,
}

impl std::fmt::Debug for Http2Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let this = &self.inner;
        f.debug_struct("Http2Stream")
            .field("stream_id", &this.send.stream_id())
            .field("peer", &this.peer)
            .field("unread", &this.unread.len())
            .field("recv_done", &this.recv_done)
            .field("send_done", &this.send_done)
            .finish_non_exhaustive()
    }
}

impl Http2Stream {
    pub(crate) fn new(send: h2::SendStream<Bytes>, recv: h2::RecvStream, peer: Option<SocketAddr>, tls: bool) -> Self {
        let inner = StreamState { send, recv, unread: Bytes::new(), recv_done: false, send_done: false, peer, tls };
        Self { inner: Box::new(inner) }
    }

    /// The peer of the HTTP/2 connection, when known.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.inner.peer
    }

    /// Whether the HTTP/2 connection runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.inner.tls
    }

    /// The stream's identifier on its connection (RFC 9113 §5.1.1).
    pub fn stream_id(&self) -> u32 {
        self.inner.send.stream_id().into()
    }
}

/// An h2 error as the I/O error a TCP socket would have given.
pub(crate) fn io_error(error: h2::Error) -> io::Error {
    if error.is_io() {
        return error.into_io().unwrap_or_else(|| io::Error::other("HTTP/2 connection I/O error"));
    }
    let kind = if error.is_go_away() {
        io::ErrorKind::ConnectionAborted
    } else if error.is_reset() {
        io::ErrorKind::ConnectionReset
    } else {
        io::ErrorKind::Other
    };
    io::Error::new(kind, error)
}

impl AsyncRead for Http2Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self.get_mut().inner;
        loop {
            if !this.unread.is_empty() {
                let n = this.unread.len().min(buf.remaining());
                buf.put_slice(&this.unread[..n]);
                this.unread.advance(n);
                // RFC 9113 §5.2: window is granted only for what the
                // application took, so a reader that stops stops the peer.
                let _ = this.recv.flow_control().release_capacity(n);
                return Poll::Ready(Ok(()));
            }
            if this.recv_done {
                return Poll::Ready(Ok(()));
            }
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => this.unread = data,
                Some(Err(error)) => return Poll::Ready(Err(io_error(error))),
                None => this.recv_done = true,
            }
        }
    }
}

impl StreamState {
    /// Sends as much of `bufs` as the window and send buffer allow, as one
    /// DATA frame's payload.
    fn poll_send(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let wanted: usize = bufs.iter().map(|b| b.len()).sum();
        if wanted == 0 {
            return Poll::Ready(Ok(0));
        }
        if self.send_done {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        // Asks for what this write needs; h2 grants at most the peer's
        // window and the room left in the stream's send buffer.
        self.send.reserve_capacity(wanted);
        // `poll_capacity` reports only increases: capacity assigned earlier
        // and not used yet is read directly.
        let mut granted = self.send.capacity();
        if granted == 0 {
            granted = match ready!(self.send.poll_capacity(cx)) {
                Some(Ok(granted)) => granted,
                Some(Err(error)) => return Poll::Ready(Err(io_error(error))),
                None => return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
            };
        }
        let granted = granted.min(wanted);
        let mut data = BytesMut::with_capacity(granted);
        for buf in bufs {
            let take = buf.len().min(granted - data.len());
            data.extend_from_slice(&buf[..take]);
            if data.len() == granted {
                break;
            }
        }
        self.send.send_data(data.freeze(), false).map_err(io_error)?;
        Poll::Ready(Ok(granted))
    }
}

impl AsyncWrite for Http2Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().inner.poll_send(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().inner.poll_send(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    /// The connection's task writes what the stream queued; there is
    /// nothing to wait for per stream.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self.get_mut().inner;
        if !this.send_done {
            this.send_done = true;
            // RFC 8441 §5: END_STREAM is the half-close TCP's FIN was.
            this.send.send_data(Bytes::new(), true).map_err(io_error)?;
        }
        Poll::Ready(Ok(()))
    }
}
