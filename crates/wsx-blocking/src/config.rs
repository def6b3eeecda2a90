//! Driver settings: the protocol limits plus the deadlines and buffers that
//! only a driver with a clock and a socket can enforce (DESIGN §5), with
//! the same names and defaults as the tokio driver's `wsx::Config`.

use std::time::Duration;

pub use wsx_proto::config::Keepalive;
use wsx_proto::handshake::HandshakeLimits;

/// Settings of one [`WebSocket`](crate::WebSocket) and its handshake. What
/// a server decides about handshakes (origins, subprotocols) is its
/// [`HandshakePolicy`](crate::HandshakePolicy). Every default bounds what a
/// hostile or broken peer can cost us.
///
/// ```
/// use std::time::Duration;
/// let config = wsx_blocking::Config::default()
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
    /// Deadline for the opening handshake, request to response (TLS
    /// included). Default 10 s; stops slowloris peers.
    pub handshake_timeout: Duration,
    /// Deadline for the peer's Close frame after ours, and for the transport
    /// to end after the exchange. Default 10 s; stops stalled closes.
    pub close_timeout: Duration,
    /// Keepalive pings, sent while [`recv`](crate::WebSocket::recv) waits.
    /// Default every 20 s with a 20 s timeout.
    pub keepalive: Option<Keepalive>,
    /// Close with 1001 after this long without any frame from the peer
    /// (checked while `recv` waits). Default none.
    pub idle_timeout: Option<Duration>,
    /// Messages queued with [`feed`](crate::WebSocket::feed) are written
    /// once more than this many bytes wait. Default 64 KiB.
    pub write_buffer_high_water: usize,
    /// Hard cap on queued bytes; past it the connection fails with 1008.
    /// Default `None`: max(4 × max message size, 4 MiB).
    pub write_buffer_max: Option<usize>,
    /// Size limits of the handshake head (16 KiB, 100 headers → 431).
    pub handshake_limits: HandshakeLimits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            protocol: wsx_proto::Config::default(),
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(10),
            keepalive: Some(Keepalive::default()),
            idle_timeout: None,
            write_buffer_high_water: 64 * 1024,
            write_buffer_max: None,
            handshake_limits: HandshakeLimits::default(),
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
    /// off.
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

    /// The hard cap in force.
    pub fn effective_write_buffer_max(&self) -> usize {
        self.write_buffer_max
            .unwrap_or_else(|| (self.protocol.max_message_size.saturating_mul(4)).max(4 << 20))
            .max(self.write_buffer_high_water)
    }
}
