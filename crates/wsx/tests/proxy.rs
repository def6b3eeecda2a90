//! `ws://` and `wss://` through real proxies started on loopback: tinyproxy
//! for HTTP CONNECT (with and without Basic credentials, and behind a TLS
//! front for `https://` proxy URLs), dante for SOCKS5 (remote and local
//! name resolution) and microsocks for SOCKS5 with username/password.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions: a failure should panic")]

mod pki;
mod proxies;

use std::sync::Arc;

use pki::{Ca, assert_echoes, echo_server, tls_echo_server};
use tokio::net::TcpListener;
use wsx::{ClientBuilder, Error, Proxy, ProxyError, TlsConnector};

fn trusting(ca: &Ca) -> TlsConnector {
    TlsConnector::new().root_certificates_pem(ca.pem().as_bytes()).unwrap()
}

/// Connects to `url` through `proxy`, checks the echo, and checks that the
/// TCP connection really goes to the proxy.
async fn echo_through(url: &str, proxy: Proxy, proxy_port: u16, tls: TlsConnector) {
    let (mut ws, _) = ClientBuilder::new(url).proxy(proxy).tls(tls).connect().await.unwrap();
    assert_eq!(ws.get_ref().peer_addr().unwrap().port(), proxy_port, "not connected through the proxy");
    assert_echoes(&mut ws, "through the proxy").await;
    ws.close(wsx::CloseCode::NORMAL, "").await.unwrap();
}

#[tokio::test]
async fn http_connect_for_ws_and_wss() {
    let tinyproxy = proxies::tinyproxy(None);
    let proxy = Proxy::parse(&format!("http://127.0.0.1:{}", tinyproxy.port)).unwrap();
    let port = echo_server().await;
    echo_through(&format!("ws://127.0.0.1:{port}/"), proxy.clone(), tinyproxy.port, TlsConnector::new()).await;
    let ca = Ca::new("wsx test CA");
    let port = tls_echo_server(&ca.leaf(&["localhost"]), wsx::Config::default()).await;
    echo_through(&format!("wss://localhost:{port}/"), proxy, tinyproxy.port, trusting(&ca)).await;
    assert!(tinyproxy.log().contains("CONNECT"), "tinyproxy saw no CONNECT:\n{}", tinyproxy.log());
}

#[tokio::test]
async fn http_connect_with_basic_credentials() {
    let tinyproxy = proxies::tinyproxy(Some(("alice", "s3cret")));
    let port = echo_server().await;
    let url = format!("ws://127.0.0.1:{port}/");
    let base = format!("127.0.0.1:{}", tinyproxy.port);
    for refused in [format!("http://{base}"), format!("http://alice:wrong@{base}")] {
        let error = ClientBuilder::new(&url).proxy(Proxy::parse(&refused).unwrap()).connect().await.unwrap_err();
        assert!(matches!(error, Error::Proxy(ProxyError::AuthenticationRequired)), "{refused}: {error:?}");
    }
    let proxy = Proxy::parse(&format!("http://alice:s3cret@{base}")).unwrap();
    echo_through(&url, proxy, tinyproxy.port, TlsConnector::new()).await;
    let proxy = Proxy::parse(&format!("http://{base}")).unwrap().credentials("alice", "s3cret");
    echo_through(&url, proxy, tinyproxy.port, TlsConnector::new()).await;
}

/// A TLS front for tinyproxy (as a TLS-terminating load balancer would be):
/// `https://` proxy URLs speak TLS to the proxy, then CONNECT inside it.
async fn tls_front(ca: &Ca, backend: u16) -> u16 {
    let leaf = ca.leaf(&["localhost"]);
    let mut config =
        wsx::rustls::ServerConfig::builder_with_provider(Arc::new(wsx::rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                rustls_pki_types_certs(&leaf.cert_pem),
                wsx::rustls::pki_types::pem::PemObject::from_pem_slice(leaf.key_pem.as_bytes()).unwrap(),
            )
            .unwrap();
    config.alpn_protocols.clear();
    let acceptor = tokio_rustls_acceptor(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut upstream) = tokio::net::TcpStream::connect(("127.0.0.1", backend)).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
            });
        }
    });
    port
}

fn rustls_pki_types_certs(pem: &str) -> Vec<wsx::rustls::pki_types::CertificateDer<'static>> {
    use wsx::rustls::pki_types::pem::PemObject;
    wsx::rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()).map(Result::unwrap).collect()
}

fn tokio_rustls_acceptor(config: wsx::rustls::ServerConfig) -> tokio_rustls::TlsAcceptor {
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[tokio::test]
async fn https_proxy_carries_ws_and_tls_in_tls() {
    let tinyproxy = proxies::tinyproxy(None);
    let ca = Ca::new("wsx test CA");
    let front = tls_front(&ca, tinyproxy.port).await;
    let proxy = Proxy::parse(&format!("https://localhost:{front}")).unwrap().tls(trusting(&ca));
    let port = echo_server().await;
    echo_through(&format!("ws://127.0.0.1:{port}/"), proxy.clone(), front, TlsConnector::new()).await;
    let port = tls_echo_server(&ca.leaf(&["localhost"]), wsx::Config::default()).await;
    echo_through(&format!("wss://localhost:{port}/"), proxy, front, trusting(&ca)).await;
    // The proxy's own certificate is verified too.
    let untrusted = Proxy::parse(&format!("https://localhost:{front}")).unwrap();
    let error = ClientBuilder::new("ws://127.0.0.1:9/").proxy(untrusted).connect().await.unwrap_err();
    assert!(matches!(error, Error::Tls(wsx::TlsError::UnknownIssuer)), "{error:?}");
}

#[tokio::test]
async fn socks5_with_remote_and_local_name_resolution() {
    let dante = proxies::danted();
    let port = echo_server().await;
    let ca = Ca::new("wsx test CA");
    let tls_port = tls_echo_server(&ca.leaf(&["localhost"]), wsx::Config::default()).await;
    for scheme in ["socks5h", "socks5"] {
        let proxy = Proxy::parse(&format!("{scheme}://127.0.0.1:{}", dante.port)).unwrap();
        echo_through(&format!("ws://localhost:{port}/"), proxy.clone(), dante.port, TlsConnector::new()).await;
        echo_through(&format!("wss://localhost:{tls_port}/"), proxy, dante.port, trusting(&ca)).await;
    }
}

#[tokio::test]
async fn proxy_that_refuses_is_reported() {
    let tinyproxy = proxies::tinyproxy(None);
    // Nothing listens on the target: tinyproxy answers CONNECT with an error.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let proxy = Proxy::parse(&format!("http://127.0.0.1:{}", tinyproxy.port)).unwrap();
    let error = ClientBuilder::new(&format!("ws://127.0.0.1:{closed}/")).proxy(proxy).connect().await.unwrap_err();
    assert!(matches!(error, Error::Proxy(ProxyError::ConnectRefused { .. })), "{error:?}");
}

#[tokio::test]
async fn socks5_with_username_and_password() {
    let socks = proxies::microsocks("carol", "pw-123");
    let port = echo_server().await;
    let url = format!("ws://localhost:{port}/");
    let base = format!("127.0.0.1:{}", socks.port);
    let proxy = Proxy::parse(&format!("socks5h://carol:pw-123@{base}")).unwrap();
    echo_through(&url, proxy, socks.port, TlsConnector::new()).await;
    for refused in [format!("socks5h://{base}"), format!("socks5h://carol:wrong@{base}")] {
        let error = ClientBuilder::new(&url).proxy(Proxy::parse(&refused).unwrap()).connect().await.unwrap_err();
        assert!(matches!(error, Error::Proxy(ProxyError::Socks(_))), "{refused}: {error:?}");
    }
}
