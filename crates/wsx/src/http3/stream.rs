//! One HTTP/3 request stream as a byte stream (RFC 9220 §3, by way of RFC
//! 8441 §5: after the 2xx, the stream's DATA frames carry the WebSocket's
//! bytes), so the WebSocket driver runs over it exactly as over TCP.
//!
//! Contract: reading returns the payloads of DATA frames in order, skips
//! frames of unknown types (RFC 9114 §9) and trailing HEADERS, and fails
//! the whole connection, with the RFC's code, on a frame that may not
//! appear on a request stream (§7.2.8, §4.1) or a frame cut by the
//! stream's end (§7.1). QUIC grants the peer stream credit only as we
//! read, so a reader that stops stops the peer. Writing wraps the bytes in
//! DATA frames and waits for QUIC's flow control; shutting down sends the
//! stream's FIN (the TCP FIN of RFC 6455 §7.1.1). A reset from the peer is
//! `ConnectionReset` — 1006 for that WebSocket alone; dropping the stream
//! before its FIN resets it (H3_REQUEST_CANCELLED).

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::ConnectionHandle;
use super::error::{ErrorCode, H3Error};
use super::frame::{self, FrameHeader, FrameKind, MAX_HEADER_LEN};

/// How long a dropped stream keeps its connection open for the peer to
/// acknowledge the stream's FIN.
const FIN_LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// Where a request stream's reader stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    /// Between frames.
    Header,
    /// Inside a DATA frame, this many payload bytes still to come.
    Data(u64),
    /// Inside a frame being discarded.
    Skip(u64),
}

/// Which end of the exchange reads: what a peer may send differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// We are the server, reading a request stream.
    Server,
    /// We are the client, reading a response stream.
    Client,
}

/// The frames of one request stream, read from QUIC.
#[derive(Debug)]
pub(crate) struct FrameReader {
    recv: quinn::RecvStream,
    /// Bytes received and not consumed yet.
    unread: Bytes,
    /// A frame header received in part.
    header: [u8; MAX_HEADER_LEN],
    header_len: usize,
    state: ReadState,
    /// The first HEADERS (request or final response) was read.
    headers_seen: bool,
    /// Trailers were read: only the stream's end may follow.
    trailers_seen: bool,
    /// The peer finished the stream.
    finished: bool,
    side: Side,
}

impl FrameReader {
    pub(crate) fn new(recv: quinn::RecvStream, side: Side) -> Self {
        Self {
            recv,
            unread: Bytes::new(),
            header: [0; MAX_HEADER_LEN],
            header_len: 0,
            state: ReadState::Header,
            headers_seen: false,
            trailers_seen: false,
            finished: false,
            side,
        }
    }

    /// The QUIC stream's identifier.
    pub(crate) fn id(&self) -> quinn::StreamId {
        self.recv.id()
    }

    /// Asks the peer to stop sending (STOP_SENDING with `code`).
    pub(crate) fn stop(&mut self, code: ErrorCode) {
        let _ = self.recv.stop(code.varint());
    }

    /// Makes sure `unread` holds bytes; `false` at the stream's end.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        if !self.unread.is_empty() {
            return Poll::Ready(Ok(true));
        }
        if self.finished {
            return Poll::Ready(Ok(false));
        }
        // `read_chunk` hands over quinn's own buffer (no copy); its future
        // keeps no state, so a fresh one per poll is cancel-safe.
        let chunk = ready!(pin!(self.recv.read_chunk(usize::MAX, true)).poll(cx)).map_err(io::Error::from)?;
        match chunk {
            Some(chunk) => {
                self.unread = chunk.bytes;
                Poll::Ready(Ok(true))
            }
            None => {
                self.finished = true;
                Poll::Ready(Ok(false))
            }
        }
    }

    /// The next frame header, or `None` at a clean end of the stream.
    fn poll_header(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<FrameHeader>, ReadError>> {
        loop {
            let want = frame::header_len(&self.header[..self.header_len]).unwrap_or(self.header_len + 1);
            if self.header_len == want
                && let Some((header, _)) = frame::decode_header(&self.header[..self.header_len])
            {
                self.header_len = 0;
                return Poll::Ready(Ok(Some(header)));
            }
            if !ready!(self.poll_fill(cx))? {
                if self.header_len == 0 {
                    return Poll::Ready(Ok(None));
                }
                // RFC 9114 §7.1: "if the last frame on the stream was
                // truncated, this MUST be treated as a connection error of
                // type H3_FRAME_ERROR".
                return Poll::Ready(Err(H3Error::connection(
                    ErrorCode::FRAME_ERROR,
                    "stream ends inside a frame header",
                )
                .into()));
            }
            let take = (want - self.header_len).min(self.unread.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&self.unread[..take]);
            self.header_len += take;
            self.unread.advance(take);
        }
    }

    /// Where a frame of type `kind` may not appear on a request stream: the
    /// connection error to fail with.
    fn misplaced(&self, kind: FrameKind) -> Option<H3Error> {
        let unexpected = |reason| Some(H3Error::connection(ErrorCode::FRAME_UNEXPECTED, reason));
        match kind {
            FrameKind::Data | FrameKind::Unknown | FrameKind::Headers => None,
            // §7.2.4, §7.2.6, §7.2.3, §7.2.7: control stream frames "MUST
            // NOT be sent on any other stream".
            FrameKind::Settings | FrameKind::Goaway | FrameKind::PushControl => {
                unexpected("control frame on a request stream")
            }
            FrameKind::Http2Only => unexpected("HTTP/2 frame type on a request stream"),
            // §7.2.5: "A client MUST NOT send a PUSH_PROMISE frame"; a
            // server may, but only up to the MAX_PUSH_ID we sent, and we
            // sent none: H3_ID_ERROR.
            FrameKind::PushPromise => match self.side {
                Side::Server => unexpected("PUSH_PROMISE from a client"),
                Side::Client => Some(H3Error::connection(ErrorCode::ID_ERROR, "PUSH_PROMISE without MAX_PUSH_ID")),
            },
        }
    }

    /// Reads up to the first HEADERS frame and returns its payload (a
    /// field section of at most `max_len` bytes).
    pub(crate) async fn read_headers(&mut self, max_len: usize) -> Result<Vec<u8>, ReadError> {
        loop {
            let header = std::future::poll_fn(|cx| self.poll_header(cx)).await?;
            let Some(header) = header else {
                return Err(ReadError::Incomplete);
            };
            let kind = FrameKind::of(header.kind);
            if let Some(error) = self.misplaced(kind) {
                return Err(error.into());
            }
            match kind {
                // §4.1: "Receipt of an invalid sequence of frames MUST be
                // treated as a connection error of type H3_FRAME_UNEXPECTED":
                // DATA before HEADERS.
                FrameKind::Data => {
                    return Err(H3Error::connection(ErrorCode::FRAME_UNEXPECTED, "DATA before HEADERS").into());
                }
                FrameKind::Headers => {
                    let len = usize::try_from(header.len).unwrap_or(usize::MAX);
                    if len > max_len {
                        return Err(ReadError::TooLarge);
                    }
                    let mut payload = Vec::with_capacity(len);
                    while payload.len() < len {
                        if !std::future::poll_fn(|cx| self.poll_fill(cx)).await? {
                            return Err(
                                H3Error::connection(ErrorCode::FRAME_ERROR, "stream ends inside HEADERS").into()
                            );
                        }
                        let take = (len - payload.len()).min(self.unread.len());
                        payload.extend_from_slice(&self.unread[..take]);
                        self.unread.advance(take);
                    }
                    self.headers_seen = true;
                    return Ok(payload);
                }
                _ => {
                    self.state = ReadState::Skip(header.len);
                    std::future::poll_fn(|cx| self.poll_skip(cx)).await?;
                }
            }
        }
    }

    /// Discards the rest of a skipped frame.
    fn poll_skip(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ReadError>> {
        while let ReadState::Skip(left) = self.state {
            if left == 0 {
                self.state = ReadState::Header;
                break;
            }
            if !ready!(self.poll_fill(cx))? {
                return Poll::Ready(Err(
                    H3Error::connection(ErrorCode::FRAME_ERROR, "stream ends inside a frame").into()
                ));
            }
            let take = left.min(self.unread.len() as u64);
            self.unread.advance(take as usize);
            self.state = ReadState::Skip(left - take);
        }
        Poll::Ready(Ok(()))
    }

    /// Reads DATA payload bytes into `buf`; nothing at the stream's end.
    pub(crate) fn poll_data(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<Result<(), ReadError>> {
        loop {
            match self.state {
                ReadState::Data(0) | ReadState::Skip(0) => self.state = ReadState::Header,
                ReadState::Data(left) => {
                    if !ready!(self.poll_fill(cx))? {
                        return Poll::Ready(Err(H3Error::connection(
                            ErrorCode::FRAME_ERROR,
                            "stream ends inside DATA",
                        )
                        .into()));
                    }
                    let n = (left.min(self.unread.len() as u64) as usize).min(buf.remaining());
                    buf.put_slice(&self.unread[..n]);
                    self.unread.advance(n);
                    self.state = ReadState::Data(left - n as u64);
                    return Poll::Ready(Ok(()));
                }
                ReadState::Skip(_) => ready!(self.poll_skip(cx))?,
                ReadState::Header => {
                    let Some(header) = ready!(self.poll_header(cx))? else {
                        return Poll::Ready(Ok(()));
                    };
                    let kind = FrameKind::of(header.kind);
                    if let Some(error) = self.misplaced(kind) {
                        return Poll::Ready(Err(error.into()));
                    }
                    self.state = match kind {
                        _ if self.trailers_seen => {
                            // §4.1: nothing but the end after trailers.
                            return Poll::Ready(Err(H3Error::connection(
                                ErrorCode::FRAME_UNEXPECTED,
                                "frame after trailing HEADERS",
                            )
                            .into()));
                        }
                        FrameKind::Data => ReadState::Data(header.len),
                        FrameKind::Headers => {
                            // Trailers: nothing a WebSocket uses; discarded.
                            self.trailers_seen = true;
                            ReadState::Skip(header.len)
                        }
                        _ => ReadState::Skip(header.len),
                    };
                }
            }
        }
    }
}

/// Why reading a request stream failed.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer broke HTTP/3.
    Protocol(H3Error),
    /// QUIC failed: a reset, the connection lost.
    Io(io::Error),
    /// The stream ended before its HEADERS (H3_REQUEST_INCOMPLETE).
    Incomplete,
    /// HEADERS larger than our limit.
    TooLarge,
}

impl From<H3Error> for ReadError {
    fn from(error: H3Error) -> Self {
        Self::Protocol(error)
    }
}

impl From<io::Error> for ReadError {
    fn from(error: io::Error) -> Self {
        Self::Io(error)
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Protocol(error) => error.fmt(f),
            Self::Io(error) => error.fmt(f),
            Self::Incomplete => f.write_str("the stream ended before its HEADERS"),
            Self::TooLarge => f.write_str("HEADERS larger than the field section limit"),
        }
    }
}

/// A WebSocket's HTTP/3 stream; see [`Transport::Http3`](crate::Transport::Http3).
pub struct Http3Stream {
    /// Boxed: the QUIC stream handles and frame state take about 200
    /// bytes, which every `Transport` (HTTP/1.1 ones too) would otherwise
    /// carry.
    inner: Box<Inner>,
}

struct Inner {
    reader: FrameReader,
    send: quinn::SendStream,
    /// A DATA frame header not yet wholly written.
    header: [u8; MAX_HEADER_LEN],
    header_len: usize,
    header_sent: usize,
    /// Payload bytes the DATA frame being written still needs.
    frame_left: u64,
    /// We sent FIN.
    send_done: bool,
    connection: Arc<ConnectionHandle>,
    peer: SocketAddr,
}

impl std::fmt::Debug for Http3Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http3Stream")
            .field("stream_id", &self.stream_id())
            .field("peer", &self.inner.peer)
            .field("send_done", &self.inner.send_done)
            .finish_non_exhaustive()
    }
}

impl Http3Stream {
    pub(crate) fn new(reader: FrameReader, send: quinn::SendStream, connection: Arc<ConnectionHandle>) -> Self {
        let peer = connection.remote_address();
        let inner = Inner {
            reader,
            send,
            header: [0; MAX_HEADER_LEN],
            header_len: 0,
            header_sent: 0,
            frame_left: 0,
            send_done: false,
            connection,
            peer,
        };
        Self { inner: Box::new(inner) }
    }

    /// The peer of the QUIC connection.
    pub fn peer_addr(&self) -> SocketAddr {
        self.inner.peer
    }

    /// The stream's identifier on its QUIC connection (RFC 9000 §2.1).
    pub fn stream_id(&self) -> u64 {
        self.inner.reader.id().into()
    }
}

impl Inner {
    /// A peer's HTTP/3 violation fails the whole connection, with its code
    /// (RFC 9114 §8); the caller gets an I/O error, as from a reset TCP
    /// connection.
    fn fail(&self, error: ReadError) -> io::Error {
        match error {
            ReadError::Protocol(error) => {
                tracing::debug!(%error, stream = u64::from(self.reader.id()), "closing the HTTP/3 connection");
                self.connection.close(error);
                io::Error::new(io::ErrorKind::ConnectionAborted, error)
            }
            ReadError::Io(error) => error,
            other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
        }
    }

    /// Writes as much of `bufs` as QUIC takes now, inside DATA frames.
    fn poll_send(&mut self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let wanted: usize = bufs.iter().map(|b| b.len()).sum();
        if wanted == 0 {
            return Poll::Ready(Ok(0));
        }
        if self.send_done {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if self.frame_left == 0 && self.header_len == 0 {
            // RFC 9114 §7.2.1: one DATA frame for all the caller gives now.
            let mut header = &mut self.header[..];
            frame::encode_header(frame::kind::DATA, wanted as u64, &mut header);
            self.header_len = MAX_HEADER_LEN - header.len();
            self.header_sent = 0;
            self.frame_left = wanted as u64;
        }
        while self.header_sent < self.header_len {
            let sent = ready!(Pin::new(&mut self.send).poll_write(cx, &self.header[self.header_sent..self.header_len]))
                .map_err(io::Error::from)?;
            self.header_sent += sent;
        }
        self.header_len = 0;
        let mut written = 0;
        for buf in bufs {
            let mut buf = &buf[..];
            while !buf.is_empty() && self.frame_left > 0 {
                let take = buf.len().min(self.frame_left as usize);
                match Pin::new(&mut self.send).poll_write(cx, &buf[..take]) {
                    Poll::Ready(Ok(n)) => {
                        written += n;
                        self.frame_left -= n as u64;
                        buf = &buf[n..];
                    }
                    Poll::Ready(Err(error)) if written == 0 => return Poll::Ready(Err(error.into())),
                    Poll::Pending if written == 0 => return Poll::Pending,
                    _ => return Poll::Ready(Ok(written)),
                }
            }
            if self.frame_left == 0 {
                break;
            }
        }
        Poll::Ready(Ok(written))
    }
}

impl Drop for Inner {
    /// Dropped before its FIN (the WebSocket abandoned without its closing
    /// handshake): the stream is reset with H3_REQUEST_CANCELLED, as RFC
    /// 8441 §5 resets an HTTP/2 one with CANCEL, so the peer sees an
    /// abnormal end (1006) rather than a clean one.
    fn drop(&mut self) {
        if !self.send_done {
            let _ = self.send.reset(ErrorCode::REQUEST_CANCELLED.varint());
            self.reader.stop(ErrorCode::REQUEST_CANCELLED);
            return;
        }
        // Our FIN is queued, perhaps not sent: closing the connection now
        // (this may be its last handle) would discard it. The connection is
        // kept until the peer acknowledges the stream's end, for at most
        // FIN_LINGER.
        let acknowledged = self.send.stopped();
        let connection = self.connection.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = tokio::time::timeout(FIN_LINGER, acknowledged).await;
                drop(connection);
            });
        }
    }
}

impl AsyncRead for Http3Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self.get_mut().inner;
        match ready!(this.reader.poll_data(cx, buf)) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(error) => Poll::Ready(Err(this.fail(error))),
        }
    }
}

impl AsyncWrite for Http3Stream {
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

    /// QUIC sends what the stream holds on its own; nothing to wait for.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self.get_mut().inner;
        if !this.send_done {
            this.send_done = true;
            if this.frame_left > 0 || this.header_len > 0 {
                // A DATA frame the caller never completed: ending now would
                // truncate it (H3_FRAME_ERROR for the peer); reset instead.
                let _ = this.send.reset(ErrorCode::INTERNAL_ERROR.varint());
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            // RFC 9220 §3 / RFC 8441 §5: the stream's FIN is the half-close
            // TCP's FIN was.
            let _ = this.send.finish();
        }
        Poll::Ready(Ok(()))
    }
}
