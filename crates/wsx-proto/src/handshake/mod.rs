//! The opening handshake (RFC 6455 §4.1 client, §4.2 server, §11.3 header
//! fields), sans-I/O, on `http::Request<()>` / `http::Response<()>`.
//!
//! Contract: the parsers ([`parse_request`], [`parse_response`]) take the
//! bytes read so far and return `Ok(None)` until a whole head has arrived,
//! then the message and how many bytes its head took — the rest of the
//! buffer is WebSocket data for the connection. Every failure is a
//! [`HandshakeError`]; a server answers it with [`error_response`], whose
//! status comes from the one table in [`HandshakeError::http_status`].
//! Randomness (the client's key) comes from an RNG the caller passes in.
//!
//! # Client
//! ```
//! use bytes::BytesMut;
//! use wsx_proto::handshake::{parse_response, ClientRequest, HandshakeLimits};
//!
//! let handshake = ClientRequest::new("ws://example.com/chat".parse()?)
//!     .subprotocol("chat")
//!     .into_handshake(&mut rand::rng())?;
//! let mut out = BytesMut::new();
//! handshake.encode(&mut out); // write `out` to the socket
//!
//! // … read the server's answer into `buf` until the head is complete:
//! # let resp = wsx_proto::handshake::accept_response(
//! #     &wsx_proto::handshake::validate_request(handshake.request())?, Some("chat"))?;
//! # let mut buf = BytesMut::new();
//! # wsx_proto::handshake::encode_response(&resp, b"", &mut buf);
//! let Some((response, consumed)) = parse_response(&buf, &HandshakeLimits::default())? else {
//!     unreachable!("read more bytes and try again");
//! };
//! let accepted = handshake.validate_response(&response)?;
//! assert_eq!(accepted.subprotocol.as_deref(), Some("chat"));
//! let _frames = &buf[consumed..]; // hand these to the connection
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Server
//! ```
//! use bytes::BytesMut;
//! use wsx_proto::handshake::{
//!     accept_response, encode_response, error_response, parse_request, validate_request,
//!     HandshakeLimits,
//! };
//!
//! let buf = b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
//!     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
//!     Sec-WebSocket-Version: 13\r\n\r\n";
//! let mut out = BytesMut::new();
//! match parse_request(buf, &HandshakeLimits::default()) {
//!     Ok(None) => { /* read more */ }
//!     Ok(Some((request, consumed))) => match validate_request(&request) {
//!         Ok(offer) => {
//!             let response = accept_response(&offer, None)?;
//!             encode_response(&response, b"", &mut out);
//!             let _frames = &buf[consumed..]; // hand these to the connection
//!         }
//!         Err(err) => {
//!             let (response, body) = error_response(&err);
//!             encode_response(&response, &body, &mut out);
//!         }
//!     },
//!     Err(err) => {
//!         let (response, body) = error_response(&err);
//!         encode_response(&response, &body, &mut out);
//!     }
//! }
//! assert!(out.starts_with(b"HTTP/1.1 101 Switching Protocols\r\n"));
//! # Ok::<(), wsx_proto::handshake::HandshakeError>(())
//! ```

mod accept;
mod client;
mod error;
mod fields;
mod http1;
mod key;
mod policy;
mod server;

pub use accept::{Accept, SERVER_NAME};
pub use client::{ClientAccepted, ClientHandshake, ClientRequest, RESERVED_REQUEST_HEADERS};
pub use error::HandshakeError;
pub use http1::{HandshakeLimits, encode_request, encode_response, parse_request, parse_response};
pub use key::{WEBSOCKET_GUID, accept_key, generate_key};
pub use policy::{AllowedOrigins, HandshakePolicy, Refusal, cookie, select_subprotocol};
pub use server::{
    ClientOffer, accept_response, accept_response_with_extensions, error_response, validate_extended_connect,
    validate_request,
};
