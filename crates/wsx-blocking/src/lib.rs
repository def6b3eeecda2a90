//! # wsx-blocking — WebSocket client and server without an async runtime
//!
//! A second driver around the sans-I/O core [`wsx_proto`], on `std::net`
//! and `std::io`: [`connect`] and [`ClientBuilder`] for clients (TLS with
//! rustls, HTTP `CONNECT` and SOCKS5 proxies, permessage-deflate),
//! [`accept`], [`accept_with`] and [`accept_with_policy`] for servers (the
//! same [`HandshakePolicy`] as the tokio driver), and [`WebSocket`], which
//! can be [`split`](WebSocket::split) into a [`ReadHalf`] and a
//! [`WriteHalf`] for two threads. Messages, close codes, limits and
//! handshake rules are the core's, so they are the same as in the tokio
//! driver `wsx`; this crate has no tokio in its dependency tree.
//!
//! ```no_run
//! # fn run() -> Result<(), wsx_blocking::Error> {
//! let (mut ws, _) = wsx_blocking::connect("ws://127.0.0.1:9001/echo")?;
//! ws.send("hello")?;
//! if let Some(Ok(wsx_blocking::Message::Text(text))) = ws.recv() {
//!     assert_eq!(text, "hello");
//! }
//! ws.close(wsx_blocking::CloseCode::NORMAL, "done")?;
//! # Ok(()) }
//! ```
//!
//! **Timeouts** are the socket's: [`WebSocket::set_read_timeout`] bounds a
//! `recv` (a timed-out `recv` returns [`TimeoutKind::Read`] and the
//! connection stays usable), [`WebSocket::set_write_timeout`] a write that
//! makes no progress; keepalive pings, the idle timeout and the close
//! timeout run while `recv` waits.

mod client;
mod config;
mod core;
mod error;
mod handshake;
mod io;
mod proxy;
mod split;
mod tls;
mod transport;
mod websocket;

pub use client::{ClientBuilder, connect};
pub use config::{Config, Keepalive};
pub use error::{Error, TimeoutKind};
pub use handshake::{accept, accept_with, accept_with_policy};
pub use proxy::{Proxy, ProxyError, ProxyKind};
pub use split::{ReadHalf, WriteHalf};
pub use tls::{TlsAcceptor, TlsConnector, TlsError, accept_tls};
pub use transport::{MaybeTls, Transport, TryClone};
pub use websocket::WebSocket;

/// The TLS library in use, for building custom configurations.
pub use rustls;
/// permessage-deflate settings, for [`Config::compression`].
pub use wsx_proto::extension::DeflateConfig;
pub use wsx_proto::handshake::{Accept, AllowedOrigins, ClientOffer, HandshakePolicy, cookie, select_subprotocol};
pub use wsx_proto::{
    self as proto, CloseCode, CloseFrame, CloseOutcome, Message, Negotiated, PreparedMessage, State, Utf8Bytes,
};
