//! Driver settings: protocol limits plus the deadlines and buffers that only
//! a driver with a clock and a socket can enforce (docs/design.md §5).

use std::time::Duration;

pub use wsx_proto::config::Keepalive;
use wsx_proto::handshake::HandshakeLimits;

/// Settings of one [`WebSocket`](crate::WebSocket) and its handshake: the
/// protocol limits, deadlines and buffers. What a server decides about
/// handshakes (origins, subprotocols) is its
/// [`HandshakePolicy`](crate::HandshakePolicy). Every default bounds what a
/// hostile or broken peer can cost us.
///
/// ```
/// use std::time::Duration;
/// let config = wsx::Config::default()
///     .max_message_size(16 << 20)
///     .keepalive(None)
///     .close_timeout(Duration::from_secs(3));
/// assert_eq!(config.protocol.max_message_size, 16 << 20);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct Config {
    /// Limits and behaviour of the protocol core (message size 1 MiB,
    /// 4,096 fragments per message, automatic pongs).
    pub protocol: wsx_proto::Config,
    /// Deadline for the opening handshake, request to response. Default 10 s;
    /// stops slowloris peers that trickle a request forever.
    pub handshake_timeout: Duration,
    /// Deadline for the peer's Close frame after ours, and for the transport
    /// to end after the exchange. Default 10 s; stops stalled closes.
    pub close_timeout: Duration,
    /// Keepalive pings. Default every 20 s with a 20 s timeout. Pings go out
    /// while the connection is being read (`recv` or the `Stream`).
    pub keepalive: Option<Keepalive>,
    /// Close with 1001 after this long without any frame from the peer.
    /// Default none.
    pub idle_timeout: Option<Duration>,
    /// With permessage-deflate, free zlib's state (≈ 180 KiB per
    /// connection) once no compressed message has passed either way for
    /// between one and two of these periods; only the last window of each
    /// direction stays (at most `2^window_bits` bytes each), and the next
    /// compressed message rebuilds the state from it. Default 10 s; `None`
    /// keeps the state for the connection's life (no rebuild, most memory).
    /// Like keepalive, it runs while the connection is being read.
    pub compression_release: Option<Duration>,
    /// `send` waits while more than this many bytes are queued. Default 64 KiB.
    pub write_buffer_high_water: usize,
    /// Hard cap on queued bytes; past it the connection fails with 1008.
    /// Default `None`: max(4 × max message size, 4 MiB).
    pub write_buffer_max: Option<usize>,
    /// Size limits of the handshake head (16 KiB, 100 headers → 431).
    pub handshake_limits: HandshakeLimits,
    /// Once triggered, the connection starts its closing handshake with
    /// 1001 Going Away the next time it is read ([`Config::shutdown`]).
    pub(crate) shutdown: Option<crate::ShutdownSignal>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            protocol: wsx_proto::Config::default(),
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(10),
            keepalive: Some(Keepalive::default()),
            idle_timeout: None,
            compression_release: Some(Duration::from_secs(10)),
            write_buffer_high_water: 64 * 1024,
            write_buffer_max: None,
            handshake_limits: HandshakeLimits::default(),
            shutdown: None,
        }
    }
}

impl Config {
    /// Sets the largest message (and frame) accepted.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.protocol = self.protocol.max_message_size(bytes);
        self
    }

    /// Sets the most frames a message may be split into.
    pub fn max_fragments(mut self, frames: usize) -> Self {
        self.protocol = self.protocol.max_fragments(frames);
        self
    }

    /// Turns permessage-deflate (RFC 7692) on: a client offers it, a server
    /// accepts the first offer it can honour. `None` (the default) turns it
    /// off. One line to opt in:
    ///
    /// ```
    /// let config = wsx::Config::default().compression(wsx::DeflateConfig::default());
    /// assert!(config.protocol.compression.is_some());
    /// ```
    pub fn compression(mut self, deflate: impl Into<Option<wsx_proto::extension::DeflateConfig>>) -> Self {
        self.protocol = self.protocol.compression(deflate);
        self
    }

    /// Sets the protocol core settings.
    pub fn protocol(mut self, protocol: wsx_proto::Config) -> Self {
        self.protocol = protocol;
        self
    }

    /// Sets the handshake deadline.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets the close deadline.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Sets (or turns off) keepalive pings.
    pub fn keepalive(mut self, keepalive: Option<Keepalive>) -> Self {
        self.keepalive = keepalive;
        self
    }

    /// Sets (or turns off) the idle timeout.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets (or turns off) the release of permessage-deflate's state on a
    /// quiet connection.
    pub fn compression_release(mut self, after: Option<Duration>) -> Self {
        self.compression_release = after;
        self
    }

    /// Sets the write high-water mark.
    pub fn write_buffer_high_water(mut self, bytes: usize) -> Self {
        self.write_buffer_high_water = bytes;
        self
    }

    /// Sets the hard cap on queued bytes.
    pub fn write_buffer_max(mut self, bytes: usize) -> Self {
        self.write_buffer_max = Some(bytes);
        self
    }

    /// Closes the connection with 1001 once `signal` is triggered. A
    /// [`Server`](crate::Server) sets its own; this is for WebSockets
    /// accepted elsewhere (hyper, axum, [`accept`](crate::accept)) that
    /// should go away with the application.
    pub fn shutdown(mut self, signal: crate::ShutdownSignal) -> Self {
        self.shutdown = Some(signal);
        self
    }

    /// The hard cap in force.
    pub fn effective_write_buffer_max(&self) -> usize {
        self.write_buffer_max
            .unwrap_or_else(|| (self.protocol.max_message_size.saturating_mul(4)).max(4 << 20))
            .max(self.write_buffer_high_water)
    }
}
