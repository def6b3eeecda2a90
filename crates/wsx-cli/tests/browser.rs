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
