//! TLS settings for `wss://` (RFC 6455 §3, §4.1, §11.1.2) with rustls and
//! the `ring` crypto provider, chosen explicitly so no process-wide default
//! is needed and nothing can panic for want of one (feature `rustls`). The
//! settings live here, without I/O, so that every driver (tokio, blocking)
//! builds the same rustls configurations from them; the drivers run the
//! TLS handshakes.
//!
//! Contract: [`TlsConnector`] holds the client's trust settings (the webpki
//! roots by default, a custom root store, or the platform's roots behind the
//! `native-roots` feature); server-name indication and host-name
//! verification are always on unless [`TlsConnector::danger_accept_invalid_certs`]
//! turns verification off. [`TlsAcceptor`] holds a server's certificate
//! chain and key (PEM) and offers ALPN `http/1.1`. Handshake failures become
//! a [`TlsError`] that names the cause (expired, wrong host, unknown CA …).

use std::io;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

/// ALPN protocol id of HTTP/1.1, the only protocol a WebSocket handshake
/// runs over here (RFC 6455 §4.1; RFC 7301).
pub const ALPN_HTTP11: &[u8] = b"http/1.1";
/// RFC 9113 §3.2: HTTP/2 over TLS is identified by "h2".
pub const ALPN_H2: &[u8] = b"h2";

/// The application protocols a client offers in its TLS handshake.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// `http/1.1` only.
    Http1,
    /// `h2`, then `http/1.1`: the server chooses.
    Http2OrHttp1,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Why a TLS handshake or TLS setting failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The peer's certificate has expired.
    #[error("certificate has expired")]
    CertificateExpired,
    /// The peer's certificate is not valid yet.
    #[error("certificate is not valid yet")]
    CertificateNotYetValid,
    /// The certificate is not issued for the host name we connected to.
    #[error("certificate is not valid for host name {host:?}")]
    WrongHostName {
        /// The host name (or address) we verified against.
        host: String,
    },
    /// The certificate chains to no trusted root (an unknown or self-signed CA).
    #[error("certificate is signed by an unknown certificate authority")]
    UnknownIssuer,
    /// The certificate was refused for another reason. (rustls's errors
    /// are boxed here: they are large, and a `Result` carries its error's
    /// size on every call that returns one.)
    #[error("invalid certificate: {0}")]
    InvalidCertificate(Box<rustls::Error>),
    /// The peer sent a TLS alert and ended the handshake.
    #[error("the peer refused the TLS handshake with alert {0:?}")]
    AlertReceived(rustls::AlertDescription),
    /// The peer did not speak TLS, or broke the TLS protocol.
    #[error("TLS protocol error: {0}")]
    Protocol(Box<rustls::Error>),
    /// A certificate, key or root store could not be loaded.
    #[error("TLS configuration: {0}")]
    Config(String),
    /// A certificate or key file could not be read.
    #[error("{context}: {source}")]
    Io {
        /// What was being read.
        context: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl TlsError {
    /// The TLS failure behind an I/O error out of a TLS handshake (rustls
    /// reports them as I/O errors carrying its own), if rustls is behind
    /// it; `host` is the name the certificate was verified against.
    pub fn from_io(error: &io::Error, host: &str) -> Option<Self> {
        let rustls_error = error.get_ref()?.downcast_ref::<rustls::Error>()?;
        Some(Self::from_rustls(rustls_error.clone(), host))
    }

    /// Maps a rustls error to the cause it names; `host` is the name the
    /// certificate was verified against.
    pub fn from_rustls(error: rustls::Error, host: &str) -> Self {
        match error {
            rustls::Error::InvalidCertificate(cause) => match cause {
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => Self::CertificateExpired,
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    Self::CertificateNotYetValid
                }
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                    Self::WrongHostName { host: host.to_owned() }
                }
                CertificateError::UnknownIssuer => Self::UnknownIssuer,
                other => Self::InvalidCertificate(Box::new(rustls::Error::InvalidCertificate(other))),
            },
            rustls::Error::AlertReceived(alert) => Self::AlertReceived(alert),
            other => Self::Protocol(Box::new(other)),
        }
    }
}

/// Which certificate authorities a client trusts.
#[derive(Debug, Clone)]
enum Roots {
    Webpki,
    #[cfg(feature = "native-roots")]
    Native,
    Custom(Arc<RootCertStore>),
}

/// The client's TLS settings for `wss://` (and `https://` proxies).
///
/// Default: the Mozilla roots shipped in `webpki-roots`, SNI on, host-name
/// verification on, TLS 1.2 and 1.3, ALPN `http/1.1`.
///
/// ```no_run
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let pem = std::fs::read("ca.pem")?;
/// let tls = wsx_proto::tls::TlsConnector::new().root_certificates_pem(&pem)?;
/// let config = tls.client_config_for(wsx_proto::tls::Alpn::Http1)?;
/// # let _ = config; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TlsConnector {
    roots: Roots,
    accept_invalid_certs: bool,
    custom: Option<Arc<ClientConfig>>,
    /// The configuration built from these settings, shared by clones, so
    /// the root store is copied once and TLS sessions can be resumed.
    built: Arc<OnceLock<Arc<ClientConfig>>>,
    /// The same with ALPN `h2` offered first.
    built_h2: Arc<OnceLock<Arc<ClientConfig>>>,
}

impl Default for TlsConnector {
    fn default() -> Self {
        Self::new()
    }
}

impl TlsConnector {
    /// Trusts the `webpki-roots` certificate authorities.
    pub fn new() -> Self {
        Self {
            roots: Roots::Webpki,
            accept_invalid_certs: false,
            custom: None,
            built: Arc::default(),
            built_h2: Arc::default(),
        }
    }

    /// Trusts exactly the certificates of `store`.
    pub fn root_store(mut self, store: RootCertStore) -> Self {
        self.roots = Roots::Custom(Arc::new(store));
        self.built = Arc::default();
        self.built_h2 = Arc::default();
        self
    }

    /// Trusts exactly the CA certificates in `pem` (one or more
    /// `BEGIN CERTIFICATE` blocks).
    ///
    /// # Errors
    /// [`TlsError::Config`] if the PEM holds no usable certificate.
    pub fn root_certificates_pem(self, pem: &[u8]) -> Result<Self, TlsError> {
        let mut store = RootCertStore::empty();
        for cert in certificates_from_pem(pem)? {
            store.add(cert).map_err(|e| TlsError::Config(format!("unusable CA certificate: {e}")))?;
        }
        Ok(self.root_store(store))
    }

    /// Trusts the platform's root certificates (via `rustls-native-certs`).
    ///
    /// # Errors
    /// [`TlsError::Config`] if the platform store yields no certificate.
    #[cfg(feature = "native-roots")]
    pub fn native_roots(mut self) -> Result<Self, TlsError> {
        let loaded = rustls_native_certs::load_native_certs();
        if loaded.certs.is_empty() {
            return Err(TlsError::Config(format!("no platform root certificates: {:?}", loaded.errors)));
        }
        self.roots = Roots::Native;
        self.built = Arc::default();
        self.built_h2 = Arc::default();
        Ok(self)
    }

    /// **Dangerous:** accepts any certificate for any host — expired,
    /// self-signed, issued to someone else. The connection is still
    /// encrypted, but to whoever answers, so an active attacker can read and
    /// change everything. For tests against throwaway certificates only.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.accept_invalid_certs = accept;
        self.built = Arc::default();
        self.built_h2 = Arc::default();
        self
    }

    /// Uses a rustls configuration built by the caller as is (its ALPN,
    /// roots, verifier and provider).
    pub fn client_config(mut self, config: Arc<ClientConfig>) -> Self {
        self.custom = Some(config);
        self
    }

    /// Whether certificate verification is off
    /// ([`danger_accept_invalid_certs`](Self::danger_accept_invalid_certs)).
    pub fn accepts_invalid_certs(&self) -> bool {
        self.accept_invalid_certs && self.custom.is_none()
    }

    /// The rustls configuration for these settings, offering `alpn` (a
    /// configuration set with [`client_config`](Self::client_config) as
    /// it is). Built once and shared by clones.
    ///
    /// # Errors
    /// [`TlsError::Config`] if the root store cannot be loaded.
    pub fn client_config_for(&self, alpn: Alpn) -> Result<Arc<ClientConfig>, TlsError> {
        if let Some(config) = &self.custom {
            return Ok(config.clone());
        }
        let built = match alpn {
            Alpn::Http1 => &self.built,
            Alpn::Http2OrHttp1 => &self.built_h2,
        };
        if let Some(config) = built.get() {
            return Ok(config.clone());
        }
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let mut config = if self.accept_invalid_certs {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
                .with_no_client_auth()
        } else {
            builder.with_root_certificates(self.trusted_roots()?).with_no_client_auth()
        };
        config.alpn_protocols = match alpn {
            Alpn::Http1 => vec![ALPN_HTTP11.to_vec()],
            Alpn::Http2OrHttp1 => vec![ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()],
        };
        Ok(built.get_or_init(|| Arc::new(config)).clone())
    }

    fn trusted_roots(&self) -> Result<Arc<RootCertStore>, TlsError> {
        match &self.roots {
            Roots::Webpki => Ok(Arc::new(RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() })),
            #[cfg(feature = "native-roots")]
            Roots::Native => {
                let mut store = RootCertStore::empty();
                let (_added, _ignored) =
                    store.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                Ok(Arc::new(store))
            }
            Roots::Custom(store) => Ok(store.clone()),
        }
    }
}

/// The verifier behind [`TlsConnector::danger_accept_invalid_certs`]: it
/// still checks handshake signatures (so the session keys are bound to the
/// certificate shown) but trusts any certificate.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A server's TLS settings: certificate chain, private key, ALPN `http/1.1`.
///
/// ```no_run
/// # fn run() -> Result<(), wsx_proto::tls::TlsError> {
/// let tls = wsx_proto::tls::TlsAcceptor::from_pem_files("cert.pem", "key.pem")?;
/// # let _ = tls; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TlsAcceptor {
    config: Arc<ServerConfig>,
}

impl TlsAcceptor {
    /// From a PEM certificate chain (leaf first) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    /// [`TlsError::Config`] if either cannot be parsed or they do not match.
    pub fn from_pem(cert_chain: &[u8], private_key: &[u8]) -> Result<Self, TlsError> {
        let chain = certificates_from_pem(cert_chain)?;
        let key = PrivateKeyDer::from_pem_slice(private_key)
            .map_err(|e| TlsError::Config(format!("no usable private key in the PEM: {e}")))?;
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| TlsError::Config(format!("certificate and key refused: {e}")))?;
        config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
        Ok(Self::from_config(Arc::new(config)))
    }

    /// Reads [`from_pem`](Self::from_pem)'s inputs from two files.
    ///
    /// # Errors
    /// [`TlsError::Io`] if a file cannot be read, else as `from_pem`.
    pub fn from_pem_files(cert_chain: impl AsRef<Path>, private_key: impl AsRef<Path>) -> Result<Self, TlsError> {
        let read = |path: &Path, context| std::fs::read(path).map_err(|source| TlsError::Io { context, source });
        let chain = read(cert_chain.as_ref(), "reading the TLS certificate file")?;
        let key = read(private_key.as_ref(), "reading the TLS key file")?;
        Self::from_pem(&chain, &key)
    }

    /// Uses a rustls server configuration built by the caller. The tokio
    /// driver's `Server` sets its ALPN list: `h2` and `http/1.1`, or
    /// `http/1.1` alone when HTTP/2 is off.
    pub fn from_config(config: Arc<ServerConfig>) -> Self {
        Self { config }
    }

    /// The same certificate, offering `h2` before `http/1.1` when `http2`.
    pub fn with_alpn(&self, http2: bool) -> Self {
        let mut config = (*self.config).clone();
        config.alpn_protocols =
            if http2 { vec![ALPN_H2.to_vec(), ALPN_HTTP11.to_vec()] } else { vec![ALPN_HTTP11.to_vec()] };
        Self { config: Arc::new(config) }
    }

    /// The rustls configuration.
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }
}

fn certificates_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Config(format!("unreadable certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::Config("no certificate in the PEM".to_owned()));
    }
    Ok(certs)
}
