//! What a blocking WebSocket runs over: any [`Transport`], a byte stream
//! whose reads and writes can be given deadlines (the socket options
//! `SO_RCVTIMEO` and `SO_SNDTIMEO`) and whose write side can be shut down
//! (RFC 6455 §7.1.1). [`MaybeTls`] is the stream of this crate's client and
//! server: TCP, or TLS over TCP (possibly through a proxy tunnel, itself
//! possibly TLS).
//!
//! Contract: a read or write that times out returns `WouldBlock` or
//! `TimedOut` having consumed nothing it did not report, so the driver can
//! try again; TLS streams keep partial records inside rustls.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use rustls::{ClientConnection, ServerConnection, StreamOwned};

/// A byte stream with deadlines: what a [`WebSocket`](crate::WebSocket)
/// runs over. The driver sets the read deadline to wake for its timers
/// (keepalive, close) and for [`WebSocket::set_read_timeout`](crate::WebSocket::set_read_timeout).
///
/// A stream that cannot time out may implement the two setters as no-ops:
/// the connection then works, but its timers run only when data arrives.
pub trait Transport: Read + Write {
    /// Makes reads that wait longer than `timeout` fail with `WouldBlock`
    /// or `TimedOut` (`None`: wait forever).
    ///
    /// # Errors
    /// As [`TcpStream::set_read_timeout`].
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;

    /// Makes writes that make no progress for `timeout` fail with
    /// `WouldBlock` or `TimedOut` (`None`: wait forever).
    ///
    /// # Errors
    /// As [`TcpStream::set_write_timeout`].
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;

    /// Ends the write side (after the last Close frame): TCP FIN, preceded
    /// by TLS `close_notify` on a TLS stream.
    ///
    /// # Errors
    /// As [`TcpStream::shutdown`].
    fn shutdown_write(&mut self) -> io::Result<()>;
}

/// A [`Transport`] that can be cloned into a second handle on the same
/// connection, for [`WebSocket::split`](crate::WebSocket::split): one handle
/// reads, the other writes.
pub trait TryClone: Sized {
    /// A second handle on the same connection.
    ///
    /// # Errors
    /// As [`TcpStream::try_clone`]; `Unsupported` for a TLS stream, whose
    /// one rustls session cannot be driven from two threads without a lock
    /// held across blocking reads.
    fn try_clone(&self) -> io::Result<Self>;
}

impl Transport for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

impl TryClone for TcpStream {
    fn try_clone(&self) -> io::Result<Self> {
        TcpStream::try_clone(self)
    }
}

#[cfg(unix)]
impl Transport for std::os::unix::net::UnixStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_write_timeout(self, timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

#[cfg(unix)]
impl TryClone for std::os::unix::net::UnixStream {
    fn try_clone(&self) -> io::Result<Self> {
        std::os::unix::net::UnixStream::try_clone(self)
    }
}

impl<T: Transport> Transport for StreamOwned<ClientConnection, T> {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_write_timeout(timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        self.flush()?;
        self.sock.shutdown_write()
    }
}

impl<T: Transport> Transport for StreamOwned<ServerConnection, T> {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.sock.set_write_timeout(timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        self.flush()?;
        self.sock.shutdown_write()
    }
}

/// The stream under this crate's client and server: TCP, or TLS over TCP
/// (the client's TLS may run inside a tunnel through an `https://` proxy).
#[non_exhaustive]
#[derive(Debug)]
pub enum MaybeTls {
    /// Plain TCP (or a plain tunnel through a proxy).
    Plain(TcpStream),
    /// A client's TLS session (boxed: a rustls connection is large).
    ClientTls(Box<StreamOwned<ClientConnection, MaybeTls>>),
    /// A server's TLS session.
    ServerTls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl MaybeTls {
    /// The TCP connection under it.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(tcp) => tcp,
            Self::ClientTls(tls) => tls.sock.tcp(),
            Self::ServerTls(tls) => &tls.sock,
        }
    }

    /// The peer's address (for a proxied connection, the proxy's).
    ///
    /// # Errors
    /// As [`TcpStream::peer_addr`].
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.tcp().peer_addr()
    }

    /// Whether the WebSocket's bytes are encrypted on this connection.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Self::Plain(_))
    }
}

impl Read for MaybeTls {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.read(buf),
            Self::ClientTls(tls) => tls.read(buf),
            Self::ServerTls(tls) => tls.read(buf),
        }
    }
}

impl Write for MaybeTls {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.write(buf),
            Self::ClientTls(tls) => tls.write(buf),
            Self::ServerTls(tls) => tls.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Self::Plain(tcp) => tcp.write_vectored(bufs),
            Self::ClientTls(tls) => tls.write_vectored(bufs),
            Self::ServerTls(tls) => tls.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(tcp) => tcp.flush(),
            Self::ClientTls(tls) => tls.flush(),
            Self::ServerTls(tls) => tls.flush(),
        }
    }
}

impl Transport for MaybeTls {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_write_timeout(timeout)
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(tcp) => tcp.shutdown(Shutdown::Write),
            Self::ClientTls(tls) => tls.shutdown_write(),
            Self::ServerTls(tls) => tls.shutdown_write(),
        }
    }
}

impl TryClone for MaybeTls {
    fn try_clone(&self) -> io::Result<Self> {
        match self {
            Self::Plain(tcp) => tcp.try_clone().map(Self::Plain),
            _ => Err(io::Error::new(io::ErrorKind::Unsupported, "a TLS WebSocket cannot be split into two threads")),
        }
    }
}
