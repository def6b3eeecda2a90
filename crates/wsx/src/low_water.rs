//! The receive low-water mark (`SO_RCVLOWAT`, socket(7)) while a large frame
//! arrives. A frame header announces how much payload follows (RFC 6455
//! §5.2); before the driver waits for the rest of a large frame it sets the
//! socket's mark to what is still missing (at most [`MAX`]), so the kernel
//! wakes the connection once that much is queued instead of at every few
//! segments, and one read takes it all. The mark never exceeds what the frame
//! still needs, so it is always reached (and end of stream or an error wake
//! the connection whatever the mark); between frames it is 1 again.
//!
//! Measured on a 1 MiB echo, one connection (`bench/profile.md`, third
//! round): 6.2–7.2 → 2.3–2.6 `epoll_wait` and 7.3–8.3 → 4.5–4.9 reads per
//! message, for 1.0–1.3 `setsockopt`.
//!
//! Only on Linux, whose TCP readiness honours the mark, and only on a plain
//! TCP socket: under TLS the socket's bytes are not the frame's bytes.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

/// Frames with at least this much payload still to come get a mark.
const FROM: usize = 256 * 1024;
/// The highest mark; the driver reads up to this much at once while one is
/// set. The kernel may lower it further (to half the receive buffer).
const MAX: usize = 1024 * 1024;

/// The socket of a transport, when it is one the mark applies to.
pub(crate) type SocketOf<S> = fn(&S) -> Option<BorrowedFd<'_>>;

/// The socket of a [`MaybeTls`](crate::MaybeTls) that is plain TCP (none
/// under TLS).
pub(crate) fn plain_socket(io: &crate::MaybeTls) -> Option<BorrowedFd<'_>> {
    match io {
        crate::MaybeTls::Plain(tcp) => Some(tcp.as_fd()),
        _ => None,
    }
}

/// The socket of a [`Transport`](crate::Transport) that is plain TCP under
/// HTTP/1.1 (an HTTP/2 stream's bytes are not the socket's).
pub(crate) fn transport_socket(io: &crate::Transport) -> Option<BorrowedFd<'_>> {
    match io {
        crate::Transport::Http1(io) => plain_socket(io),
        _ => None,
    }
}

/// The mark of one connection's socket, and how to find that socket.
pub(crate) struct RecvLowWater<S> {
    socket_of: SocketOf<S>,
    /// The mark now set (1: the kernel's default).
    current: usize,
}

impl<S> RecvLowWater<S> {
    pub(crate) fn new(socket_of: SocketOf<S>) -> Self {
        Self { socket_of, current: 1 }
    }

    /// The mark in force: a read should ask for at least this much.
    pub(crate) fn current(&self) -> usize {
        self.current
    }

    /// Before waiting for input: sets the mark for a frame with `remaining`
    /// payload bytes still to arrive (0 between frames). `false` when the
    /// transport has no such socket (TLS) or the socket refused the mark;
    /// the caller then stops using marks.
    pub(crate) fn before_wait(&mut self, io: &S, remaining: usize) -> bool {
        let wanted = if remaining >= FROM { remaining.min(MAX) } else { 1 };
        // Raise it at the start of a frame; lower it when the frame needs
        // less than the mark (it could not be reached) or is done.
        let change = match (self.current, wanted) {
            (1, 1) => false,
            (1, _) | (_, 1) => true,
            (current, _) => current > remaining,
        };
        if !change {
            return true;
        }
        self.set(io, wanted)
    }

    /// Back to the default (the connection is closing: its last reads must
    /// not wait for a frame that will not come).
    pub(crate) fn reset(&mut self, io: &S) {
        if self.current != 1 {
            self.set(io, 1);
        }
    }

    fn set(&mut self, io: &S, mark: usize) -> bool {
        let Some(socket) = (self.socket_of)(io) else { return false };
        match set_rcvlowat(socket, mark) {
            Ok(()) => {
                self.current = mark;
                true
            }
            Err(error) => {
                tracing::debug!(%error, "SO_RCVLOWAT refused; reading without a low-water mark");
                false
            }
        }
    }
}

impl<S> std::fmt::Debug for RecvLowWater<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvLowWater").field("current", &self.current).finish_non_exhaustive()
    }
}

/// `setsockopt(SOL_SOCKET, SO_RCVLOWAT)`: no safe wrapper exists in the
/// socket crates this project uses (socket2, rustix, nix).
#[allow(unsafe_code, reason = "setsockopt(2); a benchmark shows it pays (see the module comment)")]
fn set_rcvlowat(socket: BorrowedFd<'_>, bytes: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `socket` is an open descriptor for the whole call (the
    // borrow keeps its owner alive); the option value points to `value`, a
    // live `c_int`, and `len` is exactly its size, as SO_RCVLOWAT expects.
    // The kernel only reads those bytes.
    let rc = unsafe {
        libc::setsockopt(socket.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVLOWAT, (&raw const value).cast(), len)
    };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpSocket, TcpStream};

    use super::*;

    /// The socket of a plain TCP stream.
    fn tcp_socket(tcp: &TcpStream) -> Option<BorrowedFd<'_>> {
        Some(tcp.as_fd())
    }

    /// A connected pair. The accepted side gets a fixed 4 MiB receive
    /// buffer, so that its window is far larger than loopback's 64 KiB
    /// segments: the kernel also wakes a reader below the mark when the
    /// window left is within one segment.
    async fn pair() -> (TcpStream, TcpStream) {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4 << 20).expect("SO_RCVBUF");
        socket.bind("127.0.0.1:0".parse().expect("address")).expect("bind");
        let listener: TcpListener = socket.listen(16).expect("listen");
        let addr = listener.local_addr().expect("address");
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
        (client.expect("connect"), accepted.expect("accept").0)
    }

    /// Whether the kernel signals the socket readable within `wait`. The
    /// readiness tokio may assume before any event is cleared first, by a
    /// read that finds nothing (the caller makes sure nothing is queued).
    async fn signalled_within(tcp: &TcpStream, wait: Duration) -> bool {
        tokio::time::timeout(wait, tcp.readable()).await.is_ok()
    }

    fn expect_nothing_queued(tcp: &TcpStream) {
        match tcp.try_read(&mut [0; 16]) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            other => panic!("expected an empty socket, got {other:?}"),
        }
    }

    /// The mark takes effect: with 600 KiB of a frame missing, 1 KiB does
    /// not wake the reader, the whole rest does; back at 1, a single byte
    /// does.
    #[tokio::test]
    async fn the_socket_wakes_at_the_mark_and_at_one_byte_after_reset() {
        let (mut peer, ours) = pair().await;
        let mut mark = RecvLowWater::new(tcp_socket as SocketOf<TcpStream>);
        assert!(mark.before_wait(&ours, 600 * 1024));
        assert_eq!(mark.current(), 600 * 1024);
        expect_nothing_queued(&ours);

        peer.write_all(&[7; 1024]).await.expect("write");
        assert!(!signalled_within(&ours, Duration::from_millis(300)).await, "woke below the mark");
        peer.write_all(&vec![7; 600 * 1024 - 1024]).await.expect("write");
        assert!(signalled_within(&ours, Duration::from_secs(10)).await, "did not wake at the mark");
        let mut buf = vec![0; 1 << 20];
        let mut drained = 0;
        while drained < 600 * 1024 {
            ours.readable().await.expect("readable");
            match ours.try_read(&mut buf) {
                Ok(n) => drained += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("read: {e}"),
            }
        }
        assert_eq!(drained, 600 * 1024);

        assert!(mark.before_wait(&ours, 0));
        assert_eq!(mark.current(), 1);
        expect_nothing_queued(&ours);
        peer.write_all(&[1]).await.expect("write");
        assert!(signalled_within(&ours, Duration::from_secs(10)).await, "one byte did not wake after the reset");
    }

    /// The mark is lowered as soon as the frame needs less than it (else it
    /// could never be reached), and never set for small frames.
    #[tokio::test]
    async fn the_mark_never_exceeds_what_the_frame_still_needs() {
        let (_peer, ours) = pair().await;
        let mut mark = RecvLowWater::new(tcp_socket as SocketOf<TcpStream>);
        assert!(mark.before_wait(&ours, 100 * 1024));
        assert_eq!(mark.current(), 1, "small frames keep the default");
        assert!(mark.before_wait(&ours, 8 << 20));
        assert_eq!(mark.current(), MAX);
        assert!(mark.before_wait(&ours, 2 << 20));
        assert_eq!(mark.current(), MAX, "unchanged while reachable");
        assert!(mark.before_wait(&ours, 300 * 1024));
        assert_eq!(mark.current(), 300 * 1024);
        mark.reset(&ours);
        assert_eq!(mark.current(), 1);
    }

    /// End of stream wakes the reader even below the mark.
    #[tokio::test]
    async fn end_of_stream_wakes_below_the_mark() {
        let (mut peer, ours) = pair().await;
        let mut mark = RecvLowWater::new(tcp_socket as SocketOf<TcpStream>);
        assert!(mark.before_wait(&ours, 1 << 20));
        expect_nothing_queued(&ours);
        peer.write_all(&[7; 10]).await.expect("write");
        peer.shutdown().await.expect("shutdown");
        assert!(signalled_within(&ours, Duration::from_secs(10)).await, "FIN did not wake the reader");
    }
}
