//! TLS handshakes for `wss://` (RFC 6455 §4.1, §11.1.2) over tokio with
//! tokio-rustls. The settings ([`TlsConnector`], [`TlsAcceptor`]) and the
//! typed failure ([`TlsError`]) are [`wsx_proto::tls`]'s, shared with the
//! blocking driver.
//!
//! Contract: server-name indication and host-name verification are always
//! on unless the connector turns verification off; a failed handshake is
//! [`Error::Tls`] when rustls refused it, [`Error::Io`] otherwise.

use std::io;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
pub(crate) use wsx_proto::tls::{ALPN_H2, Alpn};
pub use wsx_proto::tls::{TlsAcceptor, TlsConnector, TlsError};

use crate::error::Error;
use crate::transport::MaybeTls;

/// Turns an I/O error out of a TLS handshake into [`Error::Tls`] when rustls
/// is behind it, and into [`Error::Io`] otherwise.
pub(crate) fn handshake_error(error: io::Error, host: &str, context: &'static str) -> Error {
    match TlsError::from_io(&error, host) {
        Some(tls) => Error::Tls(tls),
        None => Error::Io { context, source: error },
    }
}

/// Runs the TLS client handshake over `io` for `host` (sent as SNI and
/// verified against the certificate), offering `alpn`.
pub(crate) async fn connect(tls: &TlsConnector, host: &str, io: MaybeTls, alpn: Alpn) -> Result<MaybeTls, Error> {
    // RFC 6455 §4.1: "If /secure/ is true, the client MUST perform a TLS
    // handshake over the connection after opening the connection and
    // before sending the handshake data", and "MUST use the Server Name
    // Indication extension in the TLS handshake".
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| TlsError::Config(format!("{host:?} is not a valid TLS server name")))?;
    if tls.accepts_invalid_certs() {
        tracing::warn!("TLS certificate verification is OFF: the peer is not authenticated");
    }
    let connector = tokio_rustls::TlsConnector::from(tls.client_config_for(alpn)?);
    let stream =
        connector.connect(name, io).await.map_err(|e| handshake_error(e, host, "TLS handshake with the server"))?;
    Ok(MaybeTls::ClientTls(Box::new(stream)))
}

/// Runs the TLS server handshake (no deadline of its own: callers wrap it
/// in the handshake deadline).
pub(crate) async fn accept<S>(tls: &TlsAcceptor, io: S) -> Result<tokio_rustls::server::TlsStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    tokio_rustls::TlsAcceptor::from(tls.config().clone())
        .accept(io)
        .await
        .map_err(|e| handshake_error(e, "", "TLS handshake with the client"))
}

/// RFC 9114 §3.1: HTTP/3 over QUIC is identified by "h3".
pub(crate) const ALPN_H3: &[u8] = b"h3";

/// The connector's trust settings for QUIC (RFC 9001: TLS 1.3 inside QUIC),
/// offering ALPN `h3` only.
pub(crate) fn quic_client_config(tls: &TlsConnector) -> Result<quinn::crypto::rustls::QuicClientConfig, Error> {
    if tls.accepts_invalid_certs() {
        tracing::warn!("TLS certificate verification is OFF: the peer is not authenticated");
    }
    let mut config = (*tls.client_config_for(Alpn::Http1)?).clone();
    config.alpn_protocols = vec![ALPN_H3.to_vec()];
    quinn::crypto::rustls::QuicClientConfig::try_from(config)
        .map_err(|e| TlsError::Config(format!("unusable for QUIC: {e}")).into())
}

/// The acceptor's certificate for QUIC (RFC 9001): ALPN `h3` only, no 0-RTT
/// (replayable early data is refused: quinn needs 0 or unlimited).
pub(crate) fn quic_server_config(tls: &TlsAcceptor) -> Result<quinn::crypto::rustls::QuicServerConfig, Error> {
    let mut config = (**tls.config()).clone();
    config.alpn_protocols = vec![ALPN_H3.to_vec()];
    config.max_early_data_size = 0;
    quinn::crypto::rustls::QuicServerConfig::try_from(config)
        .map_err(|e| TlsError::Config(format!("unusable for QUIC: {e}")).into())
}
