//! RFC 6455 §5–§7, server role: a connection after a valid handshake fed
//! arbitrary bytes (split into reads by the first byte), echoing what it
//! receives. Everything it sends must be valid WebSocket for a client, every
//! failure must use a documented close code, every message must be within
//! the limits, and the connection must end `Closed` at end of stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsx_proto::Role;

fuzz_target!(|data: &[u8]| {
    let (mut conn, mut observer) = wsx_fuzz::pair(Role::Server);
    wsx_fuzz::drive(&mut conn, &mut observer, data, true);
});
