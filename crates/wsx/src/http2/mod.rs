//! WebSocket over HTTP/2 (RFC 8441): many WebSockets as streams of one
//! connection, each opened by an extended CONNECT once the server has sent
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL = 1` (§3).
//!
//! Contract: the server side ([`serve_connection`]) turns every request
//! stream into an [`IncomingRequest`](crate::IncomingRequest) that goes
//! through the same handshake policy and application handler as an
//! HTTP/1.1 request; the client side ([`Http2Connection`]) opens WebSockets
//! on one connection. Either way a WebSocket is an ordinary
//! [`WebSocket`](crate::WebSocket) over an [`Http2Stream`], whose
//! flow-control window is the backpressure. One stream's failure (a reset)
//! is that WebSocket's 1006 alone; the connection's failure is every
//! WebSocket's.

mod client;
mod server;
mod stream;

use std::time::Duration;

pub use client::Http2Connection;
pub(crate) use server::serve_connection;
pub use stream::Http2Stream;
pub(crate) use stream::io_error;

/// The limits of an HTTP/2 connection, server or client side. Each default
/// bounds what one peer can cost.
///
/// ```
/// let settings = wsx::Http2Settings::default().max_concurrent_streams(256);
/// assert_eq!(settings.get_max_concurrent_streams(), 256);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Http2Settings {
    pub(crate) max_concurrent_streams: u32,
    pub(crate) stream_window: u32,
    pub(crate) connection_window: u32,
    pub(crate) max_header_list_size: u32,
    pub(crate) max_frame_size: u32,
    pub(crate) max_send_buffer: usize,
    pub(crate) max_pending_accept_reset_streams: usize,
    pub(crate) max_local_error_reset_streams: usize,
    pub(crate) handshake_timeout: Duration,
}

impl Default for Http2Settings {
    fn default() -> Self {
        Self {
            max_concurrent_streams: 100,
            stream_window: 256 * 1024,
            connection_window: 1024 * 1024,
            max_header_list_size: 16 * 1024,
            max_frame_size: 128 * 1024,
            max_send_buffer: 128 * 1024,
            max_pending_accept_reset_streams: 20,
            max_local_error_reset_streams: 256,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl Http2Settings {
    /// Sets the most streams open at once on one connection (minimum 1).
    ///
    /// Streams (WebSockets and requests) a peer may have open on one
    /// connection at once (RFC 9113 §6.5.2 `SETTINGS_MAX_CONCURRENT_STREAMS`).
    /// Default 100: one connection cannot hold more sockets than this; a
    /// stream over it is refused (`REFUSED_STREAM`).
    pub fn max_concurrent_streams(mut self, streams: u32) -> Self {
        self.max_concurrent_streams = streams.max(1);
        self
    }

    /// Sets each stream's initial window (at least 65,535, the protocol's
    /// default; at most 2^31 − 1).
    ///
    /// The window each stream starts with: how much a peer may send on one
    /// WebSocket that the application has not read yet. Default 256 KiB
    /// (memory per socket that stops reading is bounded by it).
    pub fn stream_window(mut self, bytes: u32) -> Self {
        self.stream_window = bytes.clamp(65_535, i32::MAX as u32);
        self
    }

    /// Sets the connection's window (same bounds as a stream's).
    ///
    /// The window of the whole connection, shared by its streams. Default
    /// 1 MiB: the most unread data one connection can hold.
    pub fn connection_window(mut self, bytes: u32) -> Self {
        self.connection_window = bytes.clamp(65_535, i32::MAX as u32);
        self
    }

    /// Sets the largest header list accepted.
    ///
    /// The largest header list accepted (RFC 9113 §6.5.2
    /// `SETTINGS_MAX_HEADER_LIST_SIZE`), decompressed. Default 16 KiB, as
    /// an HTTP/1.1 head: HPACK bombs and header floods stop there.
    pub fn max_header_list_size(mut self, bytes: u32) -> Self {
        self.max_header_list_size = bytes;
        self
    }

    /// Sets the largest frame payload accepted (from 16,384, the
    /// protocol's minimum, to 16,777,215).
    ///
    /// The largest frame payload accepted (RFC 9113 §6.5.2
    /// `SETTINGS_MAX_FRAME_SIZE`). Default 128 KiB, above the protocol's
    /// 16 KiB: a WebSocket message of up to 128 KiB then crosses the
    /// connection as one DATA frame, in one write and about two reads,
    /// where 16 KiB frames took five writes and nine reads for a 64 KiB
    /// message (see `bench/transports.sh`). A frame is held whole before
    /// it is handed on, so this bounds the connection's read buffer per
    /// frame; DATA in all is bounded by the windows.
    pub fn max_frame_size(mut self, bytes: u32) -> Self {
        self.max_frame_size = bytes.clamp(16_384, (1 << 24) - 1);
        self
    }

    /// Sets the bytes queued per stream before `send` waits (minimum 1 KiB).
    ///
    /// Bytes queued for sending per stream before `send` waits. Default
    /// 128 KiB, as `max_frame_size`: a message that fits a frame is queued
    /// whole and leaves in one DATA frame rather than being cut at the
    /// buffer's edge (with 64 KiB, a 64 KiB message left as two frames
    /// and two writes). Memory queued per connection is at most this
    /// times `max_concurrent_streams`.
    pub fn max_send_buffer(mut self, bytes: usize) -> Self {
        self.max_send_buffer = bytes.max(1024);
        self
    }

    /// Sets how many streams a client may reset before the server accepted
    /// them, at once: the rapid-reset attack (CVE-2023-44487) ends in
    /// GOAWAY past it. Default 20.
    pub fn max_pending_accept_reset_streams(mut self, streams: usize) -> Self {
        self.max_pending_accept_reset_streams = streams;
        self
    }

    /// Sets how many streams the server may reset for a peer's protocol
    /// errors before it closes the connection (`ENHANCE_YOUR_CALM`).
    /// Default 256.
    pub fn max_local_error_reset_streams(mut self, streams: usize) -> Self {
        self.max_local_error_reset_streams = streams;
        self
    }

    /// Sets the deadline for the connection preface and first SETTINGS
    /// exchange (client side: the server's SETTINGS, which say whether
    /// extended CONNECT is on). Default 10 s.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The most streams open at once on one connection (minimum 1): see [`max_concurrent_streams`](Self::max_concurrent_streams).
    pub fn get_max_concurrent_streams(&self) -> u32 {
        self.max_concurrent_streams
    }

    /// Each stream's initial window: see [`stream_window`](Self::stream_window).
    pub fn get_stream_window(&self) -> u32 {
        self.stream_window
    }

    /// The connection's window (same bounds as a stream's): see [`connection_window`](Self::connection_window).
    pub fn get_connection_window(&self) -> u32 {
        self.connection_window
    }

    /// The largest header list accepted: see [`max_header_list_size`](Self::max_header_list_size).
    pub fn get_max_header_list_size(&self) -> u32 {
        self.max_header_list_size
    }

    /// The largest frame payload accepted (from 16,384, the protocol's minimum, to 16,777,215): see [`max_frame_size`](Self::max_frame_size).
    pub fn get_max_frame_size(&self) -> u32 {
        self.max_frame_size
    }

    /// The bytes queued per stream before `send` waits (minimum 1 KiB): see [`max_send_buffer`](Self::max_send_buffer).
    pub fn get_max_send_buffer(&self) -> usize {
        self.max_send_buffer
    }

    /// Streams a client may reset before they are accepted: see [`max_pending_accept_reset_streams`](Self::max_pending_accept_reset_streams).
    pub fn get_max_pending_accept_reset_streams(&self) -> usize {
        self.max_pending_accept_reset_streams
    }

    /// Streams reset for a peer's errors before the connection closes: see [`max_local_error_reset_streams`](Self::max_local_error_reset_streams).
    pub fn get_max_local_error_reset_streams(&self) -> usize {
        self.max_local_error_reset_streams
    }

    /// The deadline for the preface and first SETTINGS exchange: see [`handshake_timeout`](Self::handshake_timeout).
    pub fn get_handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }
}
