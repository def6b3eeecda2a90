//! TLS handshakes for `wss://` (RFC 6455 §4.1, §11.1.2) over blocking
//! sockets with rustls' `StreamOwned`. The settings ([`TlsConnector`],
//! [`TlsAcceptor`]) and the typed failure ([`TlsError`]) are
//! [`wsx_proto::tls`]'s, shared with the tokio driver.
//!
//! Contract: the handshake runs to completion before any WebSocket byte,
//! under the caller's deadline (the socket's timeouts); server-name
//! indication and host-name verification are always on unless the
//! connector turns verification off.

use std::io;
use std::net::TcpStream;
use std::time::Instant;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConnection, StreamOwned};
use wsx_proto::tls::Alpn;
pub use wsx_proto::tls::{TlsAcceptor, TlsConnector, TlsError};

use crate::error::Error;
use crate::handshake::Deadline;
use crate::transport::MaybeTls;

/// An I/O error out of a TLS handshake: [`Error::Tls`] when rustls refused,
/// [`Error::Io`] otherwise.
fn handshake_error(error: io::Error, host: &str, context: &'static str, deadline: &Deadline) -> Error {
    if let Some(tls) = TlsError::from_io(&error, host) {
        return Error::Tls(tls);
    }
    deadline.io_error(context, error)
}

/// Runs the TLS client handshake over `io` for `host` (sent as SNI and
/// verified against the certificate).
pub(crate) fn connect(tls: &TlsConnector, host: &str, io: MaybeTls, deadline: &Deadline) -> Result<MaybeTls, Error> {
    // RFC 6455 §4.1: "If /secure/ is true, the client MUST perform a TLS
    // handshake over the connection after opening the connection and
    // before sending the handshake data", and "MUST use the Server Name
    // Indication extension in the TLS handshake".
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| TlsError::Config(format!("{host:?} is not a valid TLS server name")))?;
    let connection = ClientConnection::new(tls.client_config_for(Alpn::Http1)?, name)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let mut stream = StreamOwned::new(connection, io);
    while stream.conn.is_handshaking() {
        deadline.arm(&stream.sock)?;
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| handshake_error(e, host, "TLS handshake with the server", deadline))?;
    }
    Ok(MaybeTls::ClientTls(Box::new(stream)))
}

/// Runs the TLS server handshake on an accepted connection within
/// `timeout`; then [`accept`](crate::accept) the WebSocket on the result.
///
/// ```no_run
/// # fn run() -> Result<(), wsx_blocking::Error> {
/// let acceptor = wsx_blocking::TlsAcceptor::from_pem_files("cert.pem", "key.pem")?;
/// let listener = std::net::TcpListener::bind("127.0.0.1:9443").map_err(|e| wsx_blocking::Error::Io { context: "bind", source: e })?;
/// for tcp in listener.incoming().flatten() {
///     let tls = wsx_blocking::accept_tls(&acceptor, tcp, std::time::Duration::from_secs(10))?;
///     let mut ws = wsx_blocking::accept(tls)?;
///     // …
/// #   let _ = ws.recv();
/// }
/// # Ok(()) }
/// ```
///
/// # Errors
/// [`Error::Tls`] when the handshake fails; a handshake timeout.
pub fn accept_tls(tls: &TlsAcceptor, tcp: TcpStream, timeout: std::time::Duration) -> Result<MaybeTls, Error> {
    let deadline = Deadline::new(Instant::now() + timeout, timeout);
    let connection = ServerConnection::new(tls.config().clone()).map_err(|e| TlsError::Config(e.to_string()))?;
    let mut stream = StreamOwned::new(connection, tcp);
    while stream.conn.is_handshaking() {
        deadline.arm(&stream.sock)?;
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(|e| handshake_error(e, "", "TLS handshake with the client", &deadline))?;
    }
    stream.sock.set_read_timeout(None).map_err(Error::io("clearing the socket's timeouts"))?;
    stream.sock.set_write_timeout(None).map_err(Error::io("clearing the socket's timeouts"))?;
    Ok(MaybeTls::ServerTls(Box::new(stream)))
}
