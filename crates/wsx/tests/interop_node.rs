//! permessage-deflate interop with Node `ws` 8 (pinned in
//! `interop/node/package-lock.json`, `perMessageDeflate` on), both
//! directions, compression on: its defaults, no context takeover both ways,
//! reduced windows on both sides, and our own requests of the peer. Every
//! message is echoed byte for byte and both sides' accounts (lengths,
//! SHA-256) are compared; the scenarios are shared with
//! `interop_deflate.rs` (`peers`).

#[macro_use]
mod peers;

deflate_interop_tests!(peers::PeerKind::Node);
