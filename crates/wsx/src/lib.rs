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

mod client;
mod config;
mod error;
mod server;
mod split;
mod websocket;

pub use client::{ClientBuilder, connect};
pub use config::{Config, Keepalive};
pub use error::{Error, TimeoutKind};
pub use server::{Accept, IncomingRequest, accept, accept_with, serve};
pub use split::{ReadHalf, WriteHalf};
pub use websocket::WebSocket;

pub use wsx_proto::{self as proto, CloseCode, CloseFrame, CloseOutcome, Message, Utf8Bytes};
