//! # wsx — WebSocket client and server for tokio
//!
//! A driver around the sans-I/O core [`wsx_proto`]: [`connect`] and
//! [`ClientBuilder`] for clients, [`accept`], [`accept_with`],
//! [`IncomingRequest`] and [`serve`] for servers, and [`WebSocket`], a
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
mod compression;
mod config;
mod error;
#[cfg(feature = "hyper")]
pub mod hyper;
mod listener;
#[cfg(target_os = "linux")]
mod low_water;
mod policy;
mod proxy;
mod redirect;
mod server;
mod split;
mod stream;
mod tls;
mod websocket;

pub use client::{ClientBuilder, connect};
pub use config::{Config, Keepalive};
pub use error::{Error, TimeoutKind};
pub use listener::{Server, ServerOptions, ServerStats, ShutdownSignal};
pub use policy::{AllowedOrigins, cookie, select_subprotocol};
pub use proxy::{Proxy, ProxyError, ProxyKind};
pub use server::{Accept, IncomingRequest, accept, accept_with, serve, serve_tls};
pub use split::{ReadHalf, WriteHalf};
pub use stream::MaybeTls;
pub use tls::{TlsAcceptor, TlsConnector, TlsError};
pub use websocket::WebSocket;

/// The TLS library in use, for building custom configurations.
pub use rustls;
/// permessage-deflate settings, for [`Config::compression`].
pub use wsx_proto::extension::DeflateConfig;
pub use wsx_proto::{self as proto, CloseCode, CloseFrame, CloseOutcome, Message, PreparedMessage, Utf8Bytes};
