//! What each connection measures (latency histogram, counts, errors by
//! kind), merged once at the end, and the shared progress counters, which
//! connections update in batches rather than once per message.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;
use wsx::proto::handshake::HandshakeError;

/// Errors counted by kind: the kind is a short, stable label (`timeout`,
/// `handshake: HTTP 404 Not Found`, `closed by server: 1011`), so a run with
/// a million failures still prints a few lines.
#[derive(Debug, Default, Clone)]
pub(super) struct Errors(BTreeMap<String, u64>);

impl Errors {
    pub(super) fn add(&mut self, kind: impl Into<String>, count: u64) {
        if count > 0 {
            *self.0.entry(kind.into()).or_default() += count;
        }
    }

    pub(super) fn merge(&mut self, other: &Self) {
        for (kind, count) in &other.0 {
            self.add(kind.clone(), *count);
        }
    }

    pub(super) fn total(&self) -> u64 {
        self.0.values().sum()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(kind, count)| (kind.as_str(), *count))
    }
}

/// The error kind of a library error; `phase` says what we were doing
/// (`connect`, `run`, `close`) where the error itself does not.
pub(super) fn error_kind(phase: &str, error: &wsx::Error) -> String {
    match error {
        wsx::Error::Handshake(HandshakeError::UnexpectedStatus { status, .. }) => format!("handshake: HTTP {status}"),
        wsx::Error::Redirect { status, .. } => format!("handshake: HTTP {status} (redirect not followed)"),
        wsx::Error::Handshake(other) => format!("handshake: {other}"),
        wsx::Error::Io { source, .. } => format!("{phase}: {}", io_kind(source)),
        wsx::Error::Timeout { kind, .. } => format!("{phase}: {kind:?} timeout").to_lowercase(),
        wsx::Error::Protocol(error) => format!("protocol error (closed with {})", error.close_code()),
        wsx::Error::Tls(error) => format!("tls: {error}"),
        wsx::Error::WriteBufferFull { .. } => "write buffer full (server not reading)".to_owned(),
        other => format!("{phase}: {other}"),
    }
}

/// An I/O error without its OS-specific wording where a kind says it.
fn io_kind(error: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match error.kind() {
        K::ConnectionRefused => "connection refused".to_owned(),
        K::ConnectionReset => "connection reset".to_owned(),
        K::ConnectionAborted => "connection aborted".to_owned(),
        K::UnexpectedEof => "connection closed by the server".to_owned(),
        K::BrokenPipe => "broken pipe".to_owned(),
        K::TimedOut => "timed out".to_owned(),
        _ => error.to_string(),
    }
}

/// One connection's figures. Counts are of measured messages (sent at or
/// after the end of the warm-up) unless named otherwise.
#[derive(Debug)]
pub(super) struct ConnStats {
    /// Round-trip times in microseconds.
    pub(super) latency: Histogram<u64>,
    pub(super) sent: u64,
    pub(super) echoed: u64,
    /// Echoes compared byte for byte (the others: length and type only).
    pub(super) verified: u64,
    pub(super) warmup_echoed: u64,
    /// When the last measured echo arrived.
    pub(super) last_echo: Option<Instant>,
    pub(super) errors: Errors,
    /// Connections whose closing handshake completed (1 or 0 here).
    pub(super) clean_closes: u64,
}

impl ConnStats {
    pub(super) fn new() -> Self {
        Self {
            // Auto-resizing: it grows to the largest value recorded, so an
            // idle connection costs a few KiB, not the whole range.
            latency: Histogram::new(3).expect("3 significant figures are within the supported 0..=5"),
            sent: 0,
            echoed: 0,
            verified: 0,
            warmup_echoed: 0,
            last_echo: None,
            errors: Errors::default(),
            clean_closes: 0,
        }
    }

    /// Records a measured round trip.
    #[inline]
    pub(super) fn record(&mut self, round_trip: Duration, at: Instant) {
        let micros = (round_trip.as_micros() as u64).max(1);
        // `record` grows the histogram as needed (`saturating_record` would
        // clamp to its current top instead); it fails only past u64 range.
        if self.latency.record(micros).is_err() {
            self.latency.saturating_record(micros);
        }
        self.echoed += 1;
        self.last_echo = Some(at);
    }

    /// Adds another connection's figures (the histograms merged).
    pub(super) fn merge(&mut self, other: &Self) {
        // Both auto-resize, so adding cannot fail for want of range.
        let _ = self.latency.add(&other.latency);
        self.sent += other.sent;
        self.echoed += other.echoed;
        self.verified += other.verified;
        self.warmup_echoed += other.warmup_echoed;
        self.last_echo = self.last_echo.max(other.last_echo);
        self.errors.merge(&other.errors);
        self.clean_closes += other.clean_closes;
    }
}

/// Counters for the live display, shared by all connections.
#[derive(Debug, Default)]
pub(super) struct Progress {
    pub(super) connected: AtomicU64,
    pub(super) running: AtomicU64,
    /// Echoes received (warm-up included).
    pub(super) echoes: AtomicU64,
    pub(super) errors: AtomicU64,
}

/// A connection's share of the progress counters, published in batches.
#[derive(Debug)]
pub(super) struct Tally {
    progress: Arc<Progress>,
    pending: u64,
    /// When the pending echoes are published at the latest.
    due: Instant,
}

/// Echoes counted locally before they are published...
const TALLY_BATCH: u64 = 256;
/// ...or this long after the last publication, whichever comes first.
const TALLY_PERIOD: Duration = Duration::from_millis(100);

impl Tally {
    pub(super) fn new(progress: Arc<Progress>) -> Self {
        progress.running.fetch_add(1, Ordering::Relaxed);
        Self { progress, pending: 0, due: Instant::now() + TALLY_PERIOD }
    }

    #[inline]
    pub(super) fn echo(&mut self, now: Instant) {
        self.pending += 1;
        if self.pending >= TALLY_BATCH || now >= self.due {
            self.publish(now);
        }
    }

    fn publish(&mut self, now: Instant) {
        self.progress.echoes.fetch_add(self.pending, Ordering::Relaxed);
        self.pending = 0;
        self.due = now + TALLY_PERIOD;
    }

    pub(super) fn errors(&self, count: u64) {
        self.progress.errors.fetch_add(count, Ordering::Relaxed);
    }
}

impl Drop for Tally {
    fn drop(&mut self) {
        self.publish(Instant::now());
        self.progress.running.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Redraws one status line on stderr every 250 ms until aborted; the
/// caller clears the line afterwards.
pub(super) async fn show_progress(progress: Arc<Progress>, connections: u64) {
    let started = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_millis(250));
    let mut last = (started, 0u64);
    loop {
        let now = ticks.tick().await;
        let echoes = progress.echoes.load(Ordering::Relaxed);
        let rate = (echoes - last.1.min(echoes)) as f64 / now.saturating_duration_since(last.0).as_secs_f64().max(1e-3);
        last = (now, echoes);
        let line = format!(
            "[{:6.1} s] connections {}/{} open, {} running | {} echoes, {}/s | {} errors",
            now.saturating_duration_since(started).as_secs_f64(),
            progress.connected.load(Ordering::Relaxed),
            connections,
            progress.running.load(Ordering::Relaxed),
            echoes,
            rate.round(),
            progress.errors.load(Ordering::Relaxed),
        );
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "\r\x1b[2K{line}");
        let _ = stderr.flush();
    }
}

/// Erases the status line.
pub(super) fn clear_progress() {
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "\r\x1b[2K");
    let _ = stderr.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_round_trips_are_recorded_as_they_are() {
        let mut stats = ConnStats::new();
        let now = Instant::now();
        stats.record(Duration::from_micros(40), now);
        stats.record(Duration::from_secs(3), now);
        assert_eq!(stats.latency.min(), 40);
        assert!(stats.latency.max() >= 2_990_000, "max {}", stats.latency.max());
        let mut merged = ConnStats::new();
        merged.merge(&stats);
        assert_eq!(merged.latency.len(), 2);
        assert!(merged.latency.max() >= 2_990_000);
    }
}
