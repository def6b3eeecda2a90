//! WebSocket over HTTP/3 (RFC 9220): many WebSockets as request streams of
//! one QUIC connection, each opened by an extended CONNECT once the server
//! has sent `SETTINGS_ENABLE_CONNECT_PROTOCOL = 1`.
//!
//! QUIC comes from `quinn`; the HTTP/3 layer (RFC 9114) is this module's
//! own, and implements exactly what extended CONNECT needs: the control
//! stream and its SETTINGS and GOAWAY, the peer's QPACK streams accepted
//! and drained, unknown stream and frame types ignored, HEADERS and DATA
//! on request streams, QPACK (RFC 9204) with the static table and
//! literals only (we announce a dynamic table of capacity 0), and the
//! stream and connection errors of RFC 9114 §8. The codec (`varint`,
//! `frame`, `qpack`) is pure — bytes in, frames and field lines out — so it
//! is unit-tested with the RFCs' examples and fuzzed; it lives here rather
//! than in `wsx-proto` because it is the transport's HTTP layer, as the
//! `h2` crate is for HTTP/2, and only the QUIC driver uses it.

pub(crate) mod error;
pub(crate) mod frame;
pub(crate) mod qpack;
pub(crate) mod varint;
