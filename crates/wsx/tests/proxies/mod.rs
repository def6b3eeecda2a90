//! Real proxy servers for tests, started on loopback: tinyproxy (HTTP
//! CONNECT) and dante (`danted`, SOCKS5), each with a config file of its own
//! in a temporary directory, stopped when dropped.

#![allow(dead_code, reason = "each test file uses a different part")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers: a failure should panic")]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A proxy process, killed (by its own id) when dropped.
pub(crate) struct ProxyProcess {
    child: Child,
    pub(crate) port: u16,
    dir: PathBuf,
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        // SIGTERM first so danted takes its helper processes down with it.
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl ProxyProcess {
    /// The proxy's log so far (for failure messages).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

fn scratch_dir(kind: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "wsx-test-{kind}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn find_program(candidates: &[&str], package: &str) -> PathBuf {
    for candidate in candidates {
        let path = Path::new(candidate);
        if path.is_absolute() && path.exists() {
            return path.to_owned();
        }
        if let Some(found) = std::env::var_os("PATH")
            .into_iter()
            .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
            .map(|dir| dir.join(candidate))
            .find(|p| p.exists())
        {
            return found;
        }
    }
    panic!("{} not found: install it with `apt-get install {package}` (.ci/run does)", candidates[0]);
}

fn start(program: PathBuf, args: &[&str], dir: PathBuf, port: u16) -> ProxyProcess {
    let log = std::fs::File::create(dir.join("log")).unwrap();
    let child = Command::new(&program)
        .args(args)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let proxy = ProxyProcess { child, port, dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{} did not listen on {port}:\n{}", program.display(), proxy.log());
        std::thread::sleep(Duration::from_millis(25));
    }
    proxy
}

/// tinyproxy on loopback, allowing CONNECT to any port; with `auth`, Basic
/// credentials are required.
pub(crate) fn tinyproxy(auth: Option<(&str, &str)>) -> ProxyProcess {
    let program = find_program(&["tinyproxy", "/usr/bin/tinyproxy", "/usr/sbin/tinyproxy"], "tinyproxy");
    let dir = scratch_dir("tinyproxy");
    let port = free_port();
    // No ConnectPort line: CONNECT is allowed to every port.
    let mut config = format!(
        "Port {port}\nListen 127.0.0.1\nTimeout 30\nAllow 127.0.0.1\nMaxClients 64\nLogLevel Info\nPidFile \"{}\"\n",
        dir.join("pid").display()
    );
    if let Some((user, password)) = auth {
        config.push_str(&format!("BasicAuth {user} {password}\n"));
    }
    std::fs::write(dir.join("tinyproxy.conf"), config).unwrap();
    start(program, &["-d", "-c", "tinyproxy.conf"], dir, port)
}

/// dante's SOCKS5 server on loopback, no authentication.
pub(crate) fn danted() -> ProxyProcess {
    let program = find_program(&["danted", "/usr/sbin/danted"], "dante-server");
    let dir = scratch_dir("danted");
    let port = free_port();
    let config = format!(
        "logoutput: {log}\n\
         internal: 127.0.0.1 port = {port}\n\
         external: 127.0.0.1\n\
         clientmethod: none\n\
         socksmethod: none\n\
         user.privileged: root\n\
         user.unprivileged: nobody\n\
         client pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 }}\n\
         socks pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 command: connect }}\n",
        log = dir.join("danted.log").display()
    );
    std::fs::write(dir.join("danted.conf"), config).unwrap();
    start(program, &["-f", "danted.conf", "-p", "danted.pid"], dir, port)
}

/// microsocks, a SOCKS5 server that requires username/password
/// authentication (RFC 1929).
pub(crate) fn microsocks(user: &str, password: &str) -> ProxyProcess {
    let program = find_program(&["microsocks", "/usr/bin/microsocks"], "microsocks");
    let dir = scratch_dir("microsocks");
    let port = free_port();
    let port_text = port.to_string();
    start(program, &["-i", "127.0.0.1", "-p", &port_text, "-u", user, "-P", password], dir, port)
}
