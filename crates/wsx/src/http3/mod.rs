//! WebSocket over HTTP/3 (RFC 9220): many WebSockets as request streams of
//! one QUIC connection, each opened by an extended CONNECT once the server
//! has sent `SETTINGS_ENABLE_CONNECT_PROTOCOL = 1`.
//!
//! QUIC comes from `quinn`; the HTTP/3 layer (RFC 9114) is this module's
//! own, and implements exactly what extended CONNECT needs: the control
//! stream and its SETTINGS and GOAWAY, the peer's QPACK streams accepted
//! and drained, unknown stream and frame types ignored, HEADERS and DATA
//! on request streams, QPACK (RFC 9204) with the static table and
//! literals only (we announce a dynamic table of capacity 0), and the
//! stream and connection errors of RFC 9114 §8. The codec (`varint`,
//! `frame`, `qpack`) is pure — bytes in, frames and field lines out — so it
//! is unit-tested with the RFCs' examples and fuzzed; it lives here rather
//! than in `wsx-proto` because it is the transport's HTTP layer, as the
//! `h2` crate is for HTTP/2, and only the QUIC driver uses it.

mod client;
mod connection;
pub(crate) mod error;
pub(crate) mod frame;
mod message;
pub(crate) mod qpack;
mod server;
mod stream;
pub(crate) mod varint;

use std::time::Duration;

pub use client::Http3Connection;
pub(crate) use connection::ConnectionHandle;
pub(crate) use error::ErrorCode;
pub(crate) use server::{Limits, StreamRequest, bind_endpoint, encode_head, send_response, serve_endpoint};
pub use stream::Http3Stream;
pub(crate) use stream::{FrameReader, Side};

/// The limits of HTTP/3 connections, server or client side. Each default
/// bounds what one peer can cost; see the README's HTTP/3 section for the
/// attack each one stops.
///
/// ```
/// let settings = wsx::Http3Settings::default().max_concurrent_streams(256);
/// assert_eq!(settings.get_max_concurrent_streams(), 256);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Http3Settings {
    pub(crate) max_concurrent_streams: u32,
    pub(crate) stream_window: u32,
    pub(crate) connection_window: u32,
    pub(crate) send_window: u32,
    pub(crate) max_field_section_size: u32,
    pub(crate) idle_timeout: Duration,
    pub(crate) quic_timeout: Duration,
    pub(crate) retry_above: usize,
}

impl Default for Http3Settings {
    fn default() -> Self {
        Self {
            max_concurrent_streams: 100,
            stream_window: 256 * 1024,
            connection_window: 1024 * 1024,
            send_window: 1024 * 1024,
            max_field_section_size: 16 * 1024,
            idle_timeout: Duration::from_secs(30),
            quic_timeout: Duration::from_secs(3),
            retry_above: 64,
        }
    }
}

impl Http3Settings {
    /// Sets the most request streams open at once on one connection (minimum 1).
    ///
    /// Request streams (WebSockets and requests) a peer may have open on
    /// one connection at once (QUIC's `initial_max_streams_bidi`, RFC 9000
    /// §4.6). Default 100: QUIC itself stops a peer from opening more.
    pub fn max_concurrent_streams(mut self, streams: u32) -> Self {
        self.max_concurrent_streams = streams.max(1);
        self
    }

    /// Sets each stream's receive window (minimum 16 KiB).
    ///
    /// How much a peer may send on one stream that the application has not
    /// read (QUIC's stream receive window). Default 256 KiB.
    pub fn stream_window(mut self, bytes: u32) -> Self {
        self.stream_window = bytes.max(16 * 1024);
        self
    }

    /// Sets the connection's receive window (minimum 16 KiB).
    ///
    /// How much a peer may send on the whole connection that has not been
    /// read (QUIC's connection receive window). Default 1 MiB.
    pub fn connection_window(mut self, bytes: u32) -> Self {
        self.connection_window = bytes.max(16 * 1024);
        self
    }

    /// Sets the bytes queued for sending on one connection before writes
    /// wait (minimum 16 KiB). Default 1 MiB.
    pub fn send_window(mut self, bytes: u32) -> Self {
        self.send_window = bytes.max(16 * 1024);
        self
    }

    /// Sets the largest field section accepted (minimum 1 KiB).
    ///
    /// The largest field section accepted (`SETTINGS_MAX_FIELD_SECTION_SIZE`,
    /// RFC 9114 §4.2.2, counted as name + value + 32 per line). Default
    /// 16 KiB, as an HTTP/1.1 head: HEADERS larger than it are not read.
    pub fn max_field_section_size(mut self, bytes: u32) -> Self {
        self.max_field_section_size = bytes.max(1024);
        self
    }

    /// Sets the idle timeout (at least 1 s).
    ///
    /// A connection with no packet in either direction for this long is
    /// closed (QUIC's `max_idle_timeout`). Default 30 s; WebSocket keepalive
    /// pings (every 20 s by default) keep a connection with sockets alive.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout.max(Duration::from_secs(1));
        self
    }

    /// Sets how long a client waits for QUIC before deciding it is blocked.
    ///
    /// Client: how long to wait for the QUIC handshake before deciding that
    /// QUIC is blocked on the path (and, in [`HttpMode::Http3`](crate::HttpMode::Http3),
    /// falling back to TCP). Default 3 s.
    pub fn quic_timeout(mut self, timeout: Duration) -> Self {
        self.quic_timeout = timeout;
        self
    }

    /// Sets the handshakes in progress above which a Retry is asked for
    /// (0: always).
    ///
    /// Server: QUIC handshakes in progress above which a new client must
    /// first prove it owns its address with a Retry (RFC 9000 §8.1.2),
    /// at the cost of one round trip. Default 64; 0 asks every client.
    /// Until its address is validated a client gets at most three times
    /// the bytes it sent (§8.1, enforced by QUIC), so a spoofed source
    /// cannot turn the server into an amplifier; Retry also keeps spoofed
    /// Initials from costing a TLS handshake each.
    pub fn retry_above(mut self, handshakes: usize) -> Self {
        self.retry_above = handshakes;
        self
    }

    /// The QUIC transport parameters for these limits. Neither side opens
    /// more than its control stream one-way (we never push, and use no
    /// QPACK streams); a peer may open a few (control, QPACK encoder and
    /// decoder, and some of unknown types, which are refused).
    pub(crate) fn transport(&self, accept_requests: bool) -> quinn::TransportConfig {
        let mut transport = quinn::TransportConfig::default();
        let streams = if accept_requests { self.max_concurrent_streams } else { 0 };
        transport
            .max_concurrent_bidi_streams(streams.into())
            .max_concurrent_uni_streams(8u32.into())
            .stream_receive_window(self.stream_window.into())
            .receive_window(self.connection_window.into())
            .send_window(u64::from(self.send_window))
            .max_idle_timeout(quinn::IdleTimeout::try_from(self.idle_timeout).ok())
            // No QUIC datagrams: nothing here uses them, so none is buffered.
            .datagram_receive_buffer_size(None)
            .mtu_discovery_config(Some(mtu_discovery()));
        transport
    }

    /// The SETTINGS we send (RFC 9114 §7.2.4.1, RFC 9204 §5, RFC 9220 §3).
    pub(crate) fn frame_settings(&self, server: bool) -> frame::Settings {
        frame::Settings {
            max_field_section_size: Some(u64::from(self.max_field_section_size)),
            // No dynamic table and no blocked streams: peers encode with
            // the static table and literals only.
            qpack_max_table_capacity: 0,
            qpack_blocked_streams: 0,
            enable_connect_protocol: server,
        }
    }

    /// The most request streams open at once on one connection (minimum 1): see [`max_concurrent_streams`](Self::max_concurrent_streams).
    pub fn get_max_concurrent_streams(&self) -> u32 {
        self.max_concurrent_streams
    }

    /// Each stream's receive window: see [`stream_window`](Self::stream_window).
    pub fn get_stream_window(&self) -> u32 {
        self.stream_window
    }

    /// The connection's receive window (minimum 16 KiB): see [`connection_window`](Self::connection_window).
    pub fn get_connection_window(&self) -> u32 {
        self.connection_window
    }

    /// Bytes queued for sending per connection before writes wait: see [`send_window`](Self::send_window).
    pub fn get_send_window(&self) -> u32 {
        self.send_window
    }

    /// The largest field section accepted (minimum 1 KiB): see [`max_field_section_size`](Self::max_field_section_size).
    pub fn get_max_field_section_size(&self) -> u32 {
        self.max_field_section_size
    }

    /// The idle timeout (at least 1 s): see [`idle_timeout`](Self::idle_timeout).
    pub fn get_idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// How long a client waits for QUIC before deciding it is blocked: see [`quic_timeout`](Self::quic_timeout).
    pub fn get_quic_timeout(&self) -> Duration {
        self.quic_timeout
    }

    /// The handshakes in progress above which a Retry is asked for (0: always): see [`retry_above`](Self::retry_above).
    pub fn get_retry_above(&self) -> usize {
        self.retry_above
    }
}

/// The largest UDP payload we send or accept once the path has shown it
/// carries it. QUIC starts at 1,200 bytes and its MTU discovery (RFC 9000
/// §14.3, DPLPMTUD) probes upwards; quinn stops at 1,452 by default, the
/// Ethernet size. On loopback (MTU 64 KiB) and jumbo-frame links larger
/// packets cut what QUIC spends per byte (a header, an AEAD seal, an ACK
/// range, a timer and a wake-up per packet): a 64 KiB message is some
/// fifty packets at 1,452 bytes and eleven at 6,500. Elsewhere the probes
/// above the path's MTU are lost (or refused by the kernel: QUIC sets
/// Don't Fragment) and discovery settles where it would have; the cost is
/// a few probes. Not more than 6,500: quinn hands the kernel up to ten
/// packets in one segmentation-offload send, which must fit one UDP
/// datagram (65,507 bytes over IPv4); a larger batch is refused whole
/// (EMSGSIZE), every packet in it lost, and each loss costs a probe
/// timeout (measured: 8,952 bytes here made a 128 KiB echo take 115 ms).
const MAX_UDP_PAYLOAD: u16 = 6500;

/// MTU discovery up to [`MAX_UDP_PAYLOAD`].
fn mtu_discovery() -> quinn::MtuDiscoveryConfig {
    let mut mtu = quinn::MtuDiscoveryConfig::default();
    mtu.upper_bound(MAX_UDP_PAYLOAD);
    mtu
}

/// An endpoint that accepts UDP payloads up to [`MAX_UDP_PAYLOAD`] (the
/// transport parameter `max_udp_payload_size`, RFC 9000 §18.2, tells the
/// peer so; quinn sizes its receive buffers by it).
pub(crate) fn endpoint_config() -> quinn::EndpointConfig {
    let mut config = quinn::EndpointConfig::default();
    // In quinn's range (1,200 to 65,527), so this cannot fail.
    let _ = config.max_udp_payload_size(MAX_UDP_PAYLOAD);
    config
}

/// The HTTP/3 decoders on arbitrary bytes, for the fuzz target `h3_codec`
/// (feature `fuzzing`; not an API). The first byte picks a decoder, the
/// rest is its input; each may refuse the input only with its typed
/// error, and what it accepts must survive a round trip through our
/// encoder. Panics on a broken invariant.
#[cfg(feature = "fuzzing")]
pub fn fuzz_decode(data: &[u8]) {
    let Some((&selector, input)) = data.split_first() else { return };
    match selector % 4 {
        0 => fuzz_frames(input),
        1 => fuzz_field_section(input),
        2 => {
            if let Ok(settings) = frame::Settings::decode(input) {
                let mut out = Vec::new();
                settings.encode_frame(&mut out);
                let (_, used) = frame::decode_header(&out).expect("our SETTINGS frame has a whole header");
                let again = frame::Settings::decode(&out[used..]).expect("our SETTINGS decode");
                assert_eq!(again.enable_connect_protocol, settings.enable_connect_protocol);
                assert_eq!(again.max_field_section_size, settings.max_field_section_size);
            }
            let _ = frame::decode_goaway(input);
        }
        _ => {
            let mut out = Vec::new();
            let _ = qpack::fuzz_huffman(input, 4096, &mut out);
            assert!(out.len() <= 4096);
        }
    }
}

/// Frame headers one after another, as a request stream would carry them.
#[cfg(feature = "fuzzing")]
fn fuzz_frames(mut input: &[u8]) {
    while let Some((header, used)) = frame::decode_header(input) {
        assert_eq!(frame::header_len(input), Some(used));
        let mut out = Vec::new();
        frame::encode_header(header.kind, header.len, &mut out);
        assert!(out.len() <= used, "our encoding is the shortest");
        assert_eq!(frame::decode_header(&out), Some((header, out.len())));
        let _ = frame::FrameKind::of(header.kind);
        let skip = usize::try_from(header.len).unwrap_or(usize::MAX).min(input.len() - used);
        input = &input[used + skip..];
    }
}

/// A field section, then the request and response built from it.
#[cfg(feature = "fuzzing")]
fn fuzz_field_section(input: &[u8]) {
    const LIMIT: usize = 16 * 1024;
    let Ok(lines) = qpack::decode(input, LIMIT) else { return };
    let size: usize = lines.iter().map(|(n, v)| n.len() + v.len() + qpack::LINE_OVERHEAD).sum();
    assert!(size <= LIMIT, "the limit holds: {size}");
    let mut out = Vec::new();
    qpack::encode(lines.iter().map(|(n, v)| (&n[..], &v[..])), &mut out);
    assert_eq!(qpack::decode(&out, LIMIT).as_ref(), Ok(&lines), "our encoding decodes to the same lines");
    if let Ok((request, protocol)) = message::request_from_fields(lines.clone()) {
        let mut section = Vec::new();
        message::encode_request(&request, protocol.as_deref().unwrap_or("websocket"), &mut section);
        assert!(qpack::decode(&section, usize::MAX).is_ok());
    }
    if let Ok(response) = message::response_from_fields(lines) {
        let mut section = Vec::new();
        message::encode_response(&response, &mut section);
        assert!(qpack::decode(&section, usize::MAX).is_ok());
    }
}

#[cfg(all(test, feature = "fuzzing"))]
mod fuzz_tests {
    /// The fuzz target's seeds and a few thousand pseudo-random inputs
    /// (and every prefix of each seed) through the same checks, so that
    /// `cargo test --all-features` exercises them without cargo-fuzz.
    #[test]
    fn seeds_and_noise_pass_the_fuzz_checks() {
        let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/h3_codec");
        let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&seeds)
            .map(|dir| dir.filter_map(|e| e.ok()).filter_map(|e| std::fs::read(e.path()).ok()).collect())
            .unwrap_or_default();
        assert!(inputs.len() >= 10, "seeds in {}", seeds.display());
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..4000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 64) as usize;
            inputs.push((0..len).map(|i| (state >> (i % 8 * 8)) as u8 ^ i as u8).collect());
        }
        for input in &inputs {
            for end in 0..=input.len() {
                super::fuzz_decode(&input[..end]);
            }
        }
    }
}
