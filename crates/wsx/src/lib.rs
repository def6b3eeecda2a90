//! # wsx — WebSocket client and server for tokio
//!
//! A driver around the sans-I/O core [`wsx_proto`]: [`connect`] and
//! [`ClientBuilder`] for clients (HTTP/1.1, HTTP/2 with
//! [`Http2Connection`], or HTTP/3 over QUIC with [`Http3Connection`], for
//! many WebSockets on one connection), [`Server`] (HTTP/1.1 and HTTP/2 on
//! one port, HTTP/3 on the same UDP port, one [`HandshakePolicy`]),
//! [`IncomingRequest`], [`accept`] and [`accept_with`] for servers, and
//! [`WebSocket`], a
//! [`Stream`](futures_core::Stream) + [`Sink`](futures_sink::Sink) of
//! [`Message`]s that can be [`split`](WebSocket::split) into halves.
//!
//! ```no_run
//! # async fn run() -> Result<(), wsx::Error> {
//! let (mut ws, _) = wsx::connect("ws://127.0.0.1:9001/echo").await?;
//! ws.send("hello").await?;
//! if let Some(Ok(wsx::Message::Text(text))) = ws.recv().await {
//!     assert_eq!(text, "hello");
//! }
//! ws.close(wsx::CloseCode::NORMAL, "done").await?;
//! # Ok(()) }
//! ```

#[cfg(feature = "axum")]
pub mod axum;
mod client;
mod config;
mod error;
mod handshake;
mod http2;
mod http3;
#[cfg(feature = "hyper")]
pub mod hyper;
#[cfg(target_os = "linux")]
mod low_water;
mod proxy;
mod redirect;
mod server;
mod split;
mod tls;
mod transport;
mod websocket;

pub use client::{ClientBuilder, HttpMode, connect};
pub use config::{Config, Keepalive};
pub use error::{Error, TimeoutKind};
pub use handshake::{IncomingRequest, accept, accept_with};
pub use http2::{Http2Connection, Http2Settings, Http2Stream};
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use http3::fuzz_decode as __fuzz_http3_decode;
pub use http3::{Http3Connection, Http3Settings, Http3Stream};
pub use proxy::{Proxy, ProxyError, ProxyKind};
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use server::__fuzz_serve_http2;
pub use server::{Server, ServerOptions, ServerStats, ShutdownSignal, serve, serve_tls};
pub use split::{ReadHalf, ReuniteError, WriteHalf};
pub use tls::{TlsAcceptor, TlsConnector, TlsError};
pub use transport::{MaybeTls, Transport};
pub use websocket::WebSocket;

/// The TLS library in use, for building custom configurations.
pub use rustls;
/// permessage-deflate settings, for [`Config::compression`].
pub use wsx_proto::extension::DeflateConfig;
pub use wsx_proto::handshake::{Accept, AllowedOrigins, HandshakePolicy, cookie, select_subprotocol};
pub use wsx_proto::{
    self as proto, CloseCode, CloseFrame, CloseOutcome, Message, Negotiated, PreparedMessage, State, Utf8Bytes,
};

#[cfg(test)]
mod test_support {
    /// The size of the future `f` returns, without calling it.
    pub(crate) fn future_size<A, R>(_: &impl FnOnce(A) -> R) -> usize {
        std::mem::size_of::<R>()
    }
}
