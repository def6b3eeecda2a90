//! permessage-deflate interop with Python `websockets` (pinned in
//! `interop/requirements.txt`), both directions, compression on: its
//! defaults, no context takeover both ways, reduced windows on both sides,
//! and our own requests of the peer. Every message is echoed byte for byte
//! and both sides' accounts (lengths, SHA-256) are compared; the scenarios
//! are shared with `interop_node.rs` (`peers`).

#[macro_use]
mod peers;

deflate_interop_tests!(peers::PeerKind::Python);
