//! `wsx serve` limits and lifecycle as a real process (RFC 6455 §4.2.1,
//! §7.1, §7.4.1): 503 past the connection and handshake limits, accept
//! back-off without spinning when descriptors run out, and graceful shutdown
//! on SIGTERM and SIGINT — no new connections, 1001 to every client, the
//! closing handshakes awaited up to a deadline, exit status 0.

#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test")]

mod raw;

use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use raw::{Frame, Peer, Served, upgrade_request};

#[test]
fn past_max_connections_the_handshake_is_answered_503() {
    let server = Served::start(&["--max-connections", "3"]);
    let open: Vec<Peer> = (0..3).map(|_| Peer::open(server.addr)).collect();
    let mut refused = Peer::connect(server.addr);
    refused.write(upgrade_request("/echo").as_bytes());
    let head = refused.read_head();
    assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
    assert!(head.contains("Retry-After: 1\r\n"), "{head}");
    drop(refused);
    drop(open);
    // Slots free again once those connections are gone.
    server.wait_until("a free slot", |s| {
        let mut peer = Peer::connect(s.addr);
        peer.write(upgrade_request("/echo").as_bytes());
        peer.read_status() == 101
    });
    server.assert_serves();
}

#[test]
fn past_max_handshakes_new_clients_get_503_at_once() {
    let server = Served::start(&["--max-handshakes", "2", "--handshake-timeout", "2"]);
    // Two slowloris clients hold both handshake slots.
    let slow: Vec<Peer> = (0..2)
        .map(|_| {
            let mut peer = Peer::connect(server.addr);
            peer.write(b"GET /echo HTTP/1.1\r\n");
            peer
        })
        .collect();
    // Give the server time to accept them.
    thread::sleep(Duration::from_millis(300));
    let mut third = Peer::connect(server.addr);
    // Answered before it sends anything.
    assert_eq!(third.read_status(), 503);
    third.expect_eof();
    // The deadline frees the slots.
    for mut peer in slow {
        peer.expect_eof();
    }
    server.assert_serves();
}

#[test]
fn accept_backs_off_without_spinning_when_descriptors_run_out() {
    // Room for the runtime's own descriptors and a handful of sockets.
    let server = Served::start_with_fd_limit(32, &[]);
    server.assert_serves();
    let mut held = Vec::new();
    // Open until the server cannot accept any more: later connections
    // complete in the kernel backlog but get no answer.
    for _ in 0..40 {
        held.push(TcpStream::connect(server.addr).unwrap());
    }
    server.wait_until("accept failing with EMFILE", |s| s.log().contains("backing off"));
    let before = server.cpu_ticks();
    thread::sleep(Duration::from_secs(2));
    let spent = server.cpu_ticks() - before;
    // A loop retrying accept at once would burn ~200 ticks (2 s of CPU).
    assert!(spent < 40, "{spent} ticks of CPU in 2 s while out of descriptors");
    drop(held);
    // Descriptors come back; the server accepts and serves again.
    server.wait_until("serving again", |s| {
        let mut peer = Peer::connect(s.addr);
        peer.write(upgrade_request("/echo").as_bytes());
        peer.read_status() == 101
    });
    server.assert_serves();
}

/// Clients on /echo and /broadcast get 1001 on `signal`; those that answer
/// complete the closing handshake; the server stops accepting and exits 0.
fn graceful_shutdown(signal: &str) {
    let mut server = Served::start(&["--close-timeout", "2", "--shutdown-timeout", "5"]);
    let mut polite: Vec<Peer> = (0..3).map(|_| Peer::open(server.addr)).collect();
    let mut broadcast = Peer::connect(server.addr);
    broadcast.write(upgrade_request("/broadcast").as_bytes());
    assert_eq!(broadcast.read_status(), 101);
    // This one never answers the server's Close.
    let mut silent = Peer::open(server.addr);
    let start = Instant::now();
    server.signal(signal);
    for peer in polite.iter_mut().chain([&mut broadcast]) {
        assert_eq!(peer.read_close_code(), 1001);
        peer.send(Frame::close(1001, ""));
        // The server closes the TCP connection first (§7.1.1).
        peer.expect_eof();
    }
    assert_eq!(silent.read_close_code(), 1001);
    // No new connections once the shutdown started.
    server.wait_until("the listener closed", |s| TcpStream::connect(s.addr).is_err());
    // The silent client is dropped at the close timeout; then the process ends.
    silent.expect_eof();
    let status = server.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "exit status {status:?}; log:\n{}", server.log());
    assert!(start.elapsed() < Duration::from_secs(15));
}

#[test]
fn sigterm_closes_every_connection_with_1001_and_exits_0() {
    graceful_shutdown("TERM");
}

#[test]
fn sigint_closes_every_connection_with_1001_and_exits_0() {
    graceful_shutdown("INT");
}

#[test]
fn shutdown_does_not_wait_past_its_deadline() {
    // A client that never reads: the server's Close cannot even be written
    // past the data queued for it, so only the deadline ends the wait.
    let mut server = Served::start(&["--close-timeout", "30", "--shutdown-timeout", "2"]);
    let mut stuck = Peer::open(server.addr);
    stuck.tcp.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let message = Frame::binary(vec![1; 1 << 20]).encode();
    while std::io::Write::write_all(&mut stuck.tcp, &message).is_ok() {}
    let start = Instant::now();
    server.signal("TERM");
    let status = server.wait_exit(Duration::from_secs(20));
    assert!(status.success(), "exit status {status:?}");
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(1500), "exited after {took:?}, before the deadline");
    assert!(took < Duration::from_secs(20), "exited after {took:?}");
}
