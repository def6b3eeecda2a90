//! The WebSocket frame (RFC 6455 §5.2): header codec and masking (§5.3).
//!
//! The header decoder works on any prefix of a frame and says how many bytes
//! it needs; payloads are handled by the connection so that they are never
//! copied on the way in.

mod header;
pub mod mask;

pub use header::{FrameHeader, OpCode};
