//! # wsx-proto — a sans-I/O WebSocket core (RFC 6455)
//!
//! Bytes in, events and bytes out. This crate has no sockets, no async runtime,
//! no clock and no OS randomness: the caller passes in the bytes it read, an RNG
//! for masking keys, and drives timers itself. The `wsx` crate is a tokio driver
//! around it.
//!
//! ```
//! use wsx_proto::{Config, Connection, Event, Negotiated, Role, Transmit};
//! use wsx_proto::Message;
//!
//! // Two in-memory endpoints whose handshake has already happened.
//! // A client needs a CSPRNG for masking keys; a server never draws from its RNG.
//! let rng = <rand::rngs::StdRng as rand::SeedableRng>::from_os_rng();
//! let mut client = Connection::new(Negotiated::new(Role::Client), Config::default(), Box::new(rng.clone()));
//! let mut server = Connection::new(Negotiated::new(Role::Server), Config::default(), Box::new(rng));
//!
//! client.send_text("hello")?;
//! while let Some(Transmit::Bytes(bytes)) = client.poll_transmit() {
//!     server.receive(&bytes);
//! }
//! match server.poll_event() {
//!     Some(Event::Message(Message::Text(text))) => assert_eq!(text.as_str(), "hello"),
//!     other => panic!("unexpected {other:?}"),
//! }
//! # Ok::<(), wsx_proto::SendError>(())
//! ```
//!
//! [`Connection::poll_transmit`] hands each piece of output over as
//! [`bytes::Bytes`]. A driver that writes straight to a transport can instead
//! borrow the staged frames with [`Connection::peek_transmit`] and report what
//! the transport took with [`Connection::advance_transmit`], which saves an
//! allocation per flush; it falls back to `poll_transmit` whenever
//! `peek_transmit` has nothing to lend.

pub mod close;
pub mod config;
pub mod connection;
pub mod error;
pub mod extension;
pub mod frame;
pub mod handshake;
pub mod message;
pub mod prepared;
pub mod proxy;
#[cfg(feature = "rustls")]
pub mod tls;
pub mod uri;
pub mod utf8;

pub use close::{CloseCode, CloseFrame};
pub use config::Config;
pub use connection::{CloseOutcome, Connection, Event, Negotiated, Role, State, Transmit};
pub use error::{ProtocolError, SendError};
pub use message::Message;
pub use prepared::PreparedMessage;
pub use utf8::Utf8Bytes;
