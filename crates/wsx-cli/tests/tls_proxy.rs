//! `wsx serve --tls-cert/--tls-key/--origin/--subprotocol` and
//! `wsx connect --ca/--insecure/-v` end to end, and `wsx connect` honouring
//! the proxy environment variables with a real tinyproxy.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions: a failure should panic")]

#[path = "../../wsx/tests/pki/mod.rs"]
mod pki;
#[path = "../../wsx/tests/proxies/mod.rs"]
mod proxies;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const PROXY_VARS: [&str; 8] =
    ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"];

/// A `wsx serve` process, killed when dropped.
struct Served {
    child: Child,
    port: u16,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(extra: &[&str]) -> Served {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(env!("CARGO_BIN_EXE_wsx"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "wsx serve did not start");
        std::thread::sleep(Duration::from_millis(25));
    }
    Served { child, port }
}

/// Runs `wsx connect ARGS` with `input` on stdin and the given proxy
/// variables (all others removed).
fn connect(args: &[&str], input: &str, env: &[(&str, String)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_wsx"));
    command.arg("connect").args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for var in PROXY_VARS {
        command.env_remove(var);
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("wsx connect {args:?} did not finish: {:?}", child.wait_with_output().unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

struct Files {
    dir: PathBuf,
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Files {
    fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("wsx-cli-tls-{}-{:?}", std::process::id(), std::thread::current().id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    fn write(&self, name: &str, content: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, content).unwrap();
        path_str(&path)
    }
}

fn path_str(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

#[test]
fn serve_wss_with_origin_and_subprotocols_and_connect_with_ca() {
    let files = Files::new();
    let ca = pki::Ca::new("wsx cli test CA");
    let leaf = ca.leaf(&["localhost"]);
    let (cert, key, ca_pem) = (
        files.write("cert.pem", &leaf.cert_pem),
        files.write("key.pem", &leaf.key_pem),
        files.write("ca.pem", &ca.pem()),
    );
    let server = serve(&[
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
        "--origin",
        "https://ok.example",
        "--subprotocol",
        "v2",
        "--subprotocol",
        "v1",
    ]);
    let url = format!("wss://localhost:{}/echo", server.port);

    let out = connect(&["--ca", &ca_pem, "-v", "-s", "v1", "-s", "v2", &url], "hello\n", &[]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stdout, "hello\n");
    // The first of the client's list that the server speaks.
    assert!(stderr.contains("subprotocol: v1"), "{stderr}");
    assert!(stderr.contains("extensions: "), "{stderr}");

    let out = connect(&["--ca", &ca_pem, "--origin", "https://evil.example", &url], "", &[]);
    assert_eq!(out.status.code(), Some(5), "a refused handshake is status 5");
    assert!(text(&out.stderr).contains("403"), "{}", text(&out.stderr));

    let out = connect(&["--ca", &ca_pem, "--origin", "https://ok.example", &url], "hi\n", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = connect(&[&url], "", &[]);
    assert_eq!(out.status.code(), Some(4), "a TLS failure is status 4");
    assert!(text(&out.stderr).contains("unknown certificate authority"), "{}", text(&out.stderr));

    let out = connect(&["--insecure", &url], "again\n", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "again\n");
    assert!(text(&out.stderr).contains("WARNING: --insecure"), "{}", text(&out.stderr));
}

#[test]
fn required_subprotocol_refuses_clients_without_one() {
    let server = serve(&["--subprotocol", "v1", "--require-subprotocol"]);
    let url = format!("ws://127.0.0.1:{}/echo", server.port);
    let out = connect(&["-s", "other", &url], "", &[]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("400"), "{}", text(&out.stderr));
    let out = connect(&["-v", "-s", "other", "-s", "v1", &url], "x\n", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("subprotocol: v1"), "{}", text(&out.stderr));
}

#[test]
fn connect_honours_proxy_environment_variables() {
    let tinyproxy = proxies::tinyproxy(None);
    let server = serve(&[]);
    let url = format!("ws://localhost:{}/echo", server.port);
    let through = format!("http://127.0.0.1:{}", tinyproxy.port);
    let nowhere = format!(
        "http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    );

    for var in ["http_proxy", "HTTP_PROXY", "all_proxy"] {
        let out = connect(&[&url], "proxied\n", &[(var, through.clone())]);
        assert!(out.status.success(), "{var}: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "proxied\n");
    }
    assert!(tinyproxy.log().contains(&format!("localhost:{}", server.port)), "{}", tinyproxy.log());
    // HTTPS_PROXY is for wss:// only.
    let out = connect(&[&url], "direct\n", &[("HTTPS_PROXY", nowhere.clone())]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A dead proxy fails the connection …
    let out = connect(&[&url], "", &[("HTTP_PROXY", nowhere.clone())]);
    assert_eq!(out.status.code(), Some(3), "a proxy that cannot be reached is status 3");
    assert!(text(&out.stderr).contains("proxy"), "{}", text(&out.stderr));
    // … unless NO_PROXY exempts the host, or --no-proxy is given.
    let out = connect(&[&url], "direct\n", &[("HTTP_PROXY", nowhere.clone()), ("NO_PROXY", "localhost".to_owned())]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = connect(&["--no-proxy", &url], "direct\n", &[("HTTP_PROXY", nowhere)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}
