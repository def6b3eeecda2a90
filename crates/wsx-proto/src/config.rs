//! Limits and behaviour of a connection (RFC 6455 §10.4 "Implementation-Specific Limits").
//!
//! Settings are builders over private fields: each setter checks or clamps
//! its value once, so the connection can trust what it reads, and each has
//! a `get_` getter (as [`std::process::Command`] pairs `arg` with
//! `get_args`). The order of the setters does not matter.

use std::time::Duration;

use crate::extension::DeflateConfig;

/// Keepalive: a Ping every [`interval`](Self::interval); no Pong within
/// [`timeout`](Self::timeout) closes the connection. Detects half-open
/// peers and keeps idle proxies from dropping us. The core has no clock:
/// the drivers run these timers.
///
/// ```
/// use std::time::Duration;
/// use wsx_proto::config::Keepalive;
/// let keepalive = Keepalive::default().interval(Duration::from_secs(5));
/// assert_eq!(keepalive.get_interval(), Duration::from_secs(5));
/// assert_eq!(keepalive.get_timeout(), Duration::from_secs(20));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    interval: Duration,
    timeout: Duration,
}

impl Default for Keepalive {
    fn default() -> Self {
        Self { interval: Duration::from_secs(20), timeout: Duration::from_secs(20) }
    }
}

impl Keepalive {
    /// Sets the time between pings (at least 1 ms). Default 20 s.
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Sets how long to wait for the matching pong. Default 20 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The time between pings ([`interval`](Self::interval)).
    pub fn get_interval(&self) -> Duration {
        self.interval
    }

    /// How long a pong is waited for ([`timeout`](Self::timeout)).
    pub fn get_timeout(&self) -> Duration {
        self.timeout
    }
}

/// Connection settings. Every default is chosen to bound what a hostile peer
/// can make us hold in memory; raise them deliberately.
///
/// ```
/// use wsx_proto::Config;
/// let config = Config::default().max_message_size(16 << 20).max_fragments(65_536);
/// assert_eq!(config.get_max_message_size(), 16 << 20);
/// // The frame limit follows the message limit unless set itself.
/// assert_eq!(config.get_max_frame_size(), 16 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    max_message_size: usize,
    /// `None`: the message limit.
    max_frame_size: Option<usize>,
    max_fragments: usize,
    auto_pong: bool,
    fragment_size: Option<usize>,
    compression: Option<DeflateConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_message_size: 1 << 20,
            max_frame_size: None,
            max_fragments: 4096,
            auto_pong: true,
            fragment_size: None,
            compression: None,
        }
    }
}

impl Config {
    /// Sets the largest message accepted, after reassembly. Default 1 MiB.
    /// A peer that declares more is answered with 1009 at the frame header,
    /// before anything is reserved: this stops memory exhaustion by huge
    /// messages.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets the largest single frame payload accepted. Default: the
    /// message limit, whatever it is set to and in whichever order (a
    /// frame above the message limit fails on that limit anyway).
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = Some(bytes);
        self
    }

    /// Sets the most frames one message may be split into, empty ones
    /// counted (minimum 1). Default 4,096. Stops floods of tiny
    /// continuation frames (answered with 1008).
    pub fn max_fragments(mut self, frames: usize) -> Self {
        self.max_fragments = frames.max(1);
        self
    }

    /// Turns automatic Pong replies (§5.5.2) on or off. Default on. At most
    /// one Pong waits unsent at a time: a newer Ping replaces it (§5.5.3
    /// allows answering only the most recent), so a ping flood from a peer
    /// that never reads cannot grow our memory.
    pub fn auto_pong(mut self, on: bool) -> Self {
        self.auto_pong = on;
        self
    }

    /// Turns permessage-deflate (RFC 7692) on (`DeflateConfig`) or off
    /// (`None`): what to offer or accept in the handshake, and our
    /// compressor's settings once it is agreed. Default `None`: not
    /// offered, and offers are declined. The connection itself compresses
    /// only when [`Negotiated::deflate`](crate::Negotiated::deflate) says
    /// the handshake agreed to it; with that and this `None`, the
    /// [`DeflateConfig`] defaults apply.
    ///
    /// ```
    /// use wsx_proto::{extension::DeflateConfig, Config};
    /// let config = Config::default().compression(DeflateConfig::default());
    /// assert!(config.get_compression().is_some());
    /// ```
    pub fn compression(mut self, deflate: impl Into<Option<DeflateConfig>>) -> Self {
        self.compression = deflate.into();
        self
    }

    /// Splits outgoing messages into frames of at most `bytes` payload
    /// bytes (minimum 1). Default `None`: one frame per message.
    pub fn fragment_size(mut self, bytes: Option<usize>) -> Self {
        self.fragment_size = bytes.map(|b| b.max(1));
        self
    }

    /// The largest message accepted ([`max_message_size`](Self::max_message_size)).
    pub fn get_max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// The largest frame payload accepted: the value set with
    /// [`max_frame_size`](Self::max_frame_size), else the message limit.
    pub fn get_max_frame_size(&self) -> usize {
        self.max_frame_size.unwrap_or(self.max_message_size)
    }

    /// The most frames per message ([`max_fragments`](Self::max_fragments)), at least 1.
    pub fn get_max_fragments(&self) -> usize {
        self.max_fragments
    }

    /// Whether Pings are answered automatically ([`auto_pong`](Self::auto_pong)).
    pub fn get_auto_pong(&self) -> bool {
        self.auto_pong
    }

    /// The largest outgoing frame payload, at least 1; `None`: one frame
    /// per message ([`fragment_size`](Self::fragment_size)).
    pub fn get_fragment_size(&self) -> Option<usize> {
        self.fragment_size
    }

    /// The permessage-deflate settings, if it is on ([`compression`](Self::compression)).
    pub fn get_compression(&self) -> Option<&DeflateConfig> {
        self.compression.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Config, Keepalive};

    #[test]
    fn setter_order_does_not_matter() {
        let a = Config::default().max_frame_size(4096).max_message_size(1 << 20);
        let b = Config::default().max_message_size(1 << 20).max_frame_size(4096);
        assert_eq!(a, b);
        assert_eq!(a.get_max_frame_size(), 4096);
        assert_eq!(a.get_max_message_size(), 1 << 20);

        // Unset, the frame limit follows the message limit, before or after.
        let c = Config::default().max_fragments(8).max_message_size(300);
        let d = Config::default().max_message_size(300).max_fragments(8);
        assert_eq!(c, d);
        assert_eq!(c.get_max_frame_size(), 300);
    }

    #[test]
    fn zero_values_are_clamped_at_the_setter() {
        let config = Config::default().max_fragments(0).fragment_size(Some(0));
        assert_eq!(config.get_max_fragments(), 1);
        assert_eq!(config.get_fragment_size(), Some(1));
        assert_eq!(Keepalive::default().interval(Duration::ZERO).get_interval(), Duration::from_millis(1));
    }
}
