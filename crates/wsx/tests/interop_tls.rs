//! wss:// interop with Python `websockets` over the `ssl` module (OpenSSL):
//! wsx's client against its TLS server, its client against wsx's TLS server
//! (with subprotocol selection and the Origin allow-list).

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions: a failure should panic")]

mod pki;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use wsx::{AllowedOrigins, ClientBuilder, TlsConnector};

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's Python; the interop peers are not optional.
fn python() -> PathBuf {
    let python =
        std::env::var_os("WSX_PYTHON").map(PathBuf::from).unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(python.exists(), "{} not found: run `bash scripts/setup-venv.sh` first", python.display());
    python
}

/// A Python peer, killed on drop.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `tls_peer.py ARGS` and returns its first JSON line (and the process).
fn peer(args: &[&str]) -> (Peer, Value) {
    let mut child = Command::new(python())
        .arg(workspace_root().join("interop/python/tls_peer.py"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("peer printed {line:?}: {e}"));
    (Peer(child), value)
}

struct Files(PathBuf);

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Files {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("wsx-interop-tls-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, content: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path.to_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn wsx_client_against_websockets_tls_server() {
    let files = Files::new("server");
    let ca = pki::Ca::new("interop CA");
    let leaf = ca.leaf(&["localhost"]);
    let (cert, key) = (files.write("cert.pem", &leaf.cert_pem), files.write("key.pem", &leaf.key_pem));
    let (_server, ready) =
        tokio::task::spawn_blocking(move || peer(&["server", "--cert", &cert, "--key", &key, "--subprotocol", "b.v1"]))
            .await
            .unwrap();
    let port = ready["port"].as_u64().unwrap();
    let tls = TlsConnector::new().root_certificates_pem(ca.pem().as_bytes()).unwrap();
    let (mut ws, _) = ClientBuilder::new(&format!("wss://localhost:{port}/echo"))
        .tls(tls.clone())
        .subprotocol("a.v1")
        .subprotocol("b.v1")
        .connect()
        .await
        .unwrap();
    assert_eq!(ws.negotiated().subprotocol.as_deref(), Some("b.v1"));
    assert_eq!(ws.get_ref().alpn_protocol(), Some(&b"http/1.1"[..]));
    pki::assert_echoes(&mut ws, "wsx over TLS to websockets").await;
    pki::assert_echoes(&mut ws, &"y".repeat(70_000)).await;
    ws.close(wsx::CloseCode::NORMAL, "").await.unwrap();
    // Its certificate is for "localhost", not "127.0.0.1".
    let error = ClientBuilder::new(&format!("wss://127.0.0.1:{port}/")).tls(tls).connect().await.unwrap_err();
    assert!(matches!(error, wsx::Error::Tls(wsx::TlsError::WrongHostName { .. })), "{error:?}");
}

#[tokio::test]
async fn websockets_tls_client_against_wsx_server() {
    let files = Files::new("client");
    let ca = pki::Ca::new("interop CA");
    let ca_path = files.write("ca.pem", &ca.pem());
    let policy = wsx::HandshakePolicy::default()
        .subprotocols(["v2", "v1"])
        .allowed_origins(AllowedOrigins::new(["https://app.example"]));
    let port = pki::tls_echo_server_with(&ca.leaf(&["localhost"]), wsx::Config::default(), policy).await;
    let url = format!("wss://localhost:{port}/echo");
    let run = |extra: Vec<String>| {
        let mut args = vec!["client".to_owned(), "--url".to_owned(), url.clone(), "--ca".to_owned(), ca_path.clone()];
        args.extend(extra);
        tokio::task::spawn_blocking(move || peer(&args.iter().map(String::as_str).collect::<Vec<_>>()).1)
    };
    let allowed = ["--origin", "https://app.example", "--subprotocol", "v1", "--subprotocol", "v2"];
    let out = run(allowed.iter().map(|s| (*s).to_owned()).collect()).await.unwrap();
    assert_eq!(out["echo"], "hello over TLS", "{out}");
    // The first of the client's list that the server speaks.
    assert_eq!(out["subprotocol"], "v1", "{out}");
    assert_eq!(out["alpn"], "http/1.1", "{out}");
    let out = run(vec!["--origin".to_owned(), "https://evil.example".to_owned()]).await.unwrap();
    assert_eq!(out["status"], 403, "{out}");
}
