//! Limits and behaviour of a connection (RFC 6455 §10.4 "Implementation-Specific Limits").

use std::time::Duration;

use crate::extension::DeflateConfig;

/// Keepalive: a Ping every `interval`; no Pong within `timeout` closes the
/// connection. Detects half-open peers and keeps idle proxies from dropping
/// us. The core has no clock: the drivers run these timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Time between pings.
    pub interval: Duration,
    /// How long to wait for the matching pong.
    pub timeout: Duration,
}

impl Default for Keepalive {
    fn default() -> Self {
        Self { interval: Duration::from_secs(20), timeout: Duration::from_secs(20) }
    }
}

/// Connection settings. Every default is chosen to bound what a hostile peer
/// can make us hold in memory; raise them deliberately.
///
/// ```
/// use wsx_proto::Config;
/// let config = Config::default().max_message_size(16 << 20).max_fragments(65_536);
/// assert_eq!(config.max_frame_size, 16 << 20);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Largest message accepted, after reassembly. Default 1 MiB. A peer
    /// that declares more is answered with 1009 at the frame header, before
    /// anything is reserved: this stops memory exhaustion by huge messages.
    pub max_message_size: usize,
    /// Largest single frame payload accepted. Default: equal to
    /// `max_message_size` (setting the message size moves it too).
    pub max_frame_size: usize,
    /// Most frames one message may be split into; empty ones count. Default
    /// 4,096. Stops floods of tiny continuation frames (answered with 1008).
    pub max_fragments: usize,
    /// Answer each Ping with a Pong automatically (§5.5.2). Default `true`.
    /// At most one Pong waits unsent at a time: a newer Ping replaces it
    /// (§5.5.3 allows answering only the most recent), so a ping flood from
    /// a peer that never reads cannot grow our memory.
    pub auto_pong: bool,
    /// Split outgoing messages into frames of at most this many payload
    /// bytes. Default `None`: one frame per message.
    pub fragment_size: Option<usize>,
    /// permessage-deflate (RFC 7692): what to offer or accept in the
    /// handshake, and our compressor's settings once it is agreed. Default
    /// `None`: not offered, and offers are declined. The connection itself
    /// compresses only when [`Negotiated::deflate`](crate::Negotiated::deflate)
    /// says the handshake agreed to it; with that and this `None`, the
    /// [`DeflateConfig`] defaults apply.
    pub compression: Option<DeflateConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_message_size: 1 << 20,
            max_frame_size: 1 << 20,
            max_fragments: 4096,
            auto_pong: true,
            fragment_size: None,
            compression: None,
        }
    }
}

impl Config {
    /// Sets the message limit, and the frame limit to the same value.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self.max_frame_size = bytes;
        self
    }

    /// Sets the frame limit (call after `max_message_size`).
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Sets the most frames a message may be split into.
    pub fn max_fragments(mut self, frames: usize) -> Self {
        self.max_fragments = frames.max(1);
        self
    }

    /// Turns automatic Pong replies on or off.
    pub fn auto_pong(mut self, on: bool) -> Self {
        self.auto_pong = on;
        self
    }

    /// Turns permessage-deflate on (`DeflateConfig`) or off (`None`).
    ///
    /// ```
    /// use wsx_proto::{extension::DeflateConfig, Config};
    /// let config = Config::default().compression(DeflateConfig::default());
    /// assert!(config.compression.is_some());
    /// ```
    pub fn compression(mut self, deflate: impl Into<Option<DeflateConfig>>) -> Self {
        self.compression = deflate.into();
        self
    }

    /// Splits outgoing messages into frames of at most `bytes` (minimum 1);
    /// `None` sends each message as one frame.
    pub fn fragment_size(mut self, bytes: Option<usize>) -> Self {
        self.fragment_size = bytes.map(|b| b.max(1));
        self
    }
}
