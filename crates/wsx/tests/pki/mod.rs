//! Certificates made at test time with rcgen, and a TLS echo server.

#![allow(dead_code, reason = "each test file uses a different part")]
#![allow(clippy::unwrap_used, reason = "test helpers: a failure should panic")]

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, date_time_ymd};
use tokio::net::TcpListener;

/// A certificate authority.
pub(crate) struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A leaf certificate and its key, in PEM.
pub(crate) struct Leaf {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
}

impl Ca {
    pub(crate) fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        Self { issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    pub(crate) fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf for `names` (DNS names or IP addresses), valid now.
    pub(crate) fn leaf(&self, names: &[&str]) -> Leaf {
        self.leaf_with(names, |_| {})
    }

    /// A leaf that expired in 2020.
    pub(crate) fn expired_leaf(&self, names: &[&str]) -> Leaf {
        self.leaf_with(names, |params| {
            params.not_before = date_time_ymd(2019, 1, 1);
            params.not_after = date_time_ymd(2020, 1, 1);
        })
    }

    fn leaf_with(&self, names: &[&str], edit: impl FnOnce(&mut CertificateParams)) -> Leaf {
        let mut params = CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, names[0]);
        edit(&mut params);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        // The chain: leaf then CA.
        Leaf { cert_pem: format!("{}{}", cert.pem(), self.issuer.pem()), key_pem: key.serialize_pem() }
    }
}

/// Starts a `wss://` echo server (`wsx::serve_tls`) with `leaf`; returns its port.
pub(crate) async fn tls_echo_server(leaf: &Leaf, config: wsx::Config) -> u16 {
    tls_echo_server_with(leaf, config, wsx::HandshakePolicy::default()).await
}

/// [`tls_echo_server`] with a handshake policy.
pub(crate) async fn tls_echo_server_with(leaf: &Leaf, config: wsx::Config, policy: wsx::HandshakePolicy) -> u16 {
    let acceptor = wsx::TlsAcceptor::from_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes()).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = wsx::Server::new(listener, config).policy(policy).tls(Some(acceptor));
    tokio::spawn(server.run(|incoming| async move {
        if let Ok(mut ws) = incoming.accept().await {
            while let Some(Ok(message)) = ws.recv().await {
                if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                    break;
                }
            }
        }
    }));
    port
}

/// A plain `ws://` echo server; returns its port.
pub(crate) async fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(wsx::serve(listener, wsx::Config::default(), |incoming| async move {
        if let Ok(mut ws) = incoming.accept().await {
            while let Some(Ok(message)) = ws.recv().await {
                if (message.is_text() || message.is_binary()) && ws.send(message).await.is_err() {
                    break;
                }
            }
        }
    }));
    port
}

/// Sends `text` and expects it back.
pub(crate) async fn assert_echoes<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    ws: &mut wsx::WebSocket<S>,
    text: &str,
) {
    ws.send(text).await.unwrap();
    match ws.recv().await {
        Some(Ok(wsx::Message::Text(got))) => assert_eq!(got, text),
        other => panic!("expected the echo of {text:?}, got {other:?}"),
    }
}
