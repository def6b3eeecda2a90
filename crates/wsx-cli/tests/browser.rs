//! The demo page in a real browser: runs `interop/browser/rooms.test.mjs`
//! (Node with playwright-core driving Debian's Chromium) against this build
//! of `wsx`. Needs `node`, `/usr/bin/chromium` (`apt-get install -y
//! chromium`) and `npm ci` in `interop/browser` (all done by `.ci/run`);
//! fails, never skips, when one is missing. Screenshots of a failure go to
//! `target/tmp/browser/`.

use std::path::Path;
use std::process::Command;

#[test]
fn demo_page_in_chromium() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run `npm ci` in interop/browser (needs node and npm)"
    );
    assert!(Path::new("/usr/bin/chromium").exists(), "Chromium is missing: apt-get install -y chromium");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    let output = Command::new("node")
        .arg("rooms.test.mjs")
        .current_dir(&dir)
        .env("WSX_BIN", env!("CARGO_BIN_EXE_wsx"))
        .env("OUT_DIR", &out)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): apt-get install -y nodejs npm"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "browser test failed ({}):\n{stdout}\n{stderr}", output.status);
    for step in ["see each other", "text message", "binary message", "reconnected by themselves"] {
        assert!(stdout.contains(step), "step {step:?} did not run:\n{stdout}");
    }
}

/// Chromium opens WebSockets over HTTP/2 (RFC 8441) to `wsx serve` over
/// HTTPS: several sockets from one page, text and binary, counted by the
/// server as h2 and seen from one client port (`interop/browser/http2.test.mjs`).
#[test]
fn websockets_over_http2_in_chromium() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run `npm ci` in interop/browser (needs node and npm)"
    );
    assert!(Path::new("/usr/bin/chromium").exists(), "Chromium is missing: apt-get install -y chromium");
    let certs = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-http2");
    std::fs::create_dir_all(&certs).expect("a directory for the certificate");
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("a certificate");
    let (cert, key) = (certs.join("cert.pem"), certs.join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).expect("cert written");
    std::fs::write(&key, made.signing_key.serialize_pem()).expect("key written");
    let output = Command::new("node")
        .arg("http2.test.mjs")
        .current_dir(&dir)
        .env("WSX_BIN", env!("CARGO_BIN_EXE_wsx"))
        .env("CERT", &cert)
        .env("KEY", &key)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): apt-get install -y nodejs npm"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "browser test failed ({}):\n{stdout}\n{stderr}", output.status);
    for step in
        ["page loaded over h2", "socket 2: text and 70000-byte binary echoed", "open over h2", "one HTTP/2 connection"]
    {
        assert!(stdout.contains(step), "step {step:?} did not run:\n{stdout}");
    }
}
