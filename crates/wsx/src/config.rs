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
/// assert_eq!(config.get_protocol().get_max_message_size(), 16 << 20);
/// assert_eq!(config.get_close_timeout(), Duration::from_secs(3));
/// ```
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) protocol: wsx_proto::Config,
    pub(crate) handshake_timeout: Duration,
    pub(crate) close_timeout: Duration,
    pub(crate) keepalive: Option<Keepalive>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) compression_release: Option<Duration>,
    pub(crate) write_buffer_high_water: usize,
    pub(crate) write_buffer_max: Option<usize>,
    pub(crate) handshake_limits: HandshakeLimits,
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
    /// Sets the largest message accepted (and the frame limit, unless the
    /// protocol settings set one).
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
    /// assert!(config.get_protocol().get_compression().is_some());
    /// ```
    pub fn compression(mut self, deflate: impl Into<Option<wsx_proto::extension::DeflateConfig>>) -> Self {
        self.protocol = self.protocol.compression(deflate);
        self
    }

    /// Sets the protocol core settings.
    ///
    /// Limits and behaviour of the protocol core (message size 1 MiB,
    /// 4,096 fragments per message, automatic pongs).
    pub fn protocol(mut self, protocol: wsx_proto::Config) -> Self {
        self.protocol = protocol;
        self
    }

    /// Sets the handshake deadline.
    ///
    /// Deadline for the opening handshake, request to response. Default 10 s;
    /// stops slowloris peers that trickle a request forever.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets the close deadline.
    ///
    /// Deadline for the peer's Close frame after ours, and for the transport
    /// to end after the exchange. Default 10 s; stops stalled closes.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Sets (or turns off) keepalive pings.
    ///
    /// Keepalive pings. Default every 20 s with a 20 s timeout. Pings go out
    /// while the connection is being read (`recv` or the `Stream`).
    pub fn keepalive(mut self, keepalive: Option<Keepalive>) -> Self {
        self.keepalive = keepalive;
        self
    }

    /// Sets (or turns off) the idle timeout.
    ///
    /// Close with 1001 after this long without any frame from the peer.
    /// Default none.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets (or turns off) the release of permessage-deflate's state on a
    /// quiet connection.
    ///
    /// With permessage-deflate, free zlib's state (≈ 180 KiB per
    /// connection) once no compressed message has passed either way for
    /// between one and two of these periods; only the last window of each
    /// direction stays (at most `2^window_bits` bytes each), and the next
    /// compressed message rebuilds the state from it. Default 10 s; `None`
    /// keeps the state for the connection's life (no rebuild, most memory).
    /// Like keepalive, it runs while the connection is being read.
    pub fn compression_release(mut self, after: Option<Duration>) -> Self {
        self.compression_release = after;
        self
    }

    /// Sets the write high-water mark (minimum 1).
    ///
    /// `send` waits while more than this many bytes are queued. Default 64 KiB.
    pub fn write_buffer_high_water(mut self, bytes: usize) -> Self {
        self.write_buffer_high_water = bytes.max(1);
        self
    }

    /// Sets the hard cap on queued bytes.
    ///
    /// Hard cap on queued bytes; past it the connection fails with 1008.
    /// Default `None`: max(4 × max message size, 4 MiB).
    pub fn write_buffer_max(mut self, bytes: usize) -> Self {
        self.write_buffer_max = Some(bytes);
        self
    }

    /// Sets the size limits of the handshake head.
    ///
    /// Size limits of the handshake head (16 KiB, 100 headers → 431).
    pub fn handshake_limits(mut self, limits: HandshakeLimits) -> Self {
        self.handshake_limits = limits;
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
            .unwrap_or_else(|| (self.protocol.get_max_message_size().saturating_mul(4)).max(4 << 20))
            .max(self.write_buffer_high_water)
    }

    /// The protocol core settings: see [`protocol`](Self::protocol).
    pub fn get_protocol(&self) -> &wsx_proto::Config {
        &self.protocol
    }

    /// The handshake deadline: see [`handshake_timeout`](Self::handshake_timeout).
    pub fn get_handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// The close deadline: see [`close_timeout`](Self::close_timeout).
    pub fn get_close_timeout(&self) -> Duration {
        self.close_timeout
    }

    /// The keepalive pings, if on: see [`keepalive`](Self::keepalive).
    pub fn get_keepalive(&self) -> Option<Keepalive> {
        self.keepalive
    }

    /// The idle timeout: see [`idle_timeout`](Self::idle_timeout).
    pub fn get_idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    /// The release of permessage-deflate's state on a quiet connection: see [`compression_release`](Self::compression_release).
    pub fn get_compression_release(&self) -> Option<Duration> {
        self.compression_release
    }

    /// The write high-water mark: see [`write_buffer_high_water`](Self::write_buffer_high_water).
    pub fn get_write_buffer_high_water(&self) -> usize {
        self.write_buffer_high_water
    }

    /// The hard cap on queued bytes: see [`write_buffer_max`](Self::write_buffer_max).
    pub fn get_write_buffer_max(&self) -> Option<usize> {
        self.write_buffer_max
    }

    /// The size limits of the handshake head: see [`handshake_limits`](Self::handshake_limits).
    pub fn get_handshake_limits(&self) -> HandshakeLimits {
        self.handshake_limits
    }
}
