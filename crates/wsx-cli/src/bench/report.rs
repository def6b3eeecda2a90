//! The final report: throughput, latency percentiles, errors by kind and
//! what was negotiated, as text for people or one JSON object (`--json`)
//! for machines; and the exit status that goes with it.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;

use super::stats::ConnStats;

/// Exit statuses, as `--help` documents them.
pub(super) const EXIT_ERRORS: u8 = 1;
pub(super) const EXIT_USAGE: u8 = 2;
pub(super) const EXIT_NOTHING: u8 = 3;

/// What the first connection that opened agreed on with the server.
#[derive(Debug, Default, Clone)]
pub(super) struct Negotiation {
    pub(super) subprotocol: Option<String>,
    /// The server's `Sec-WebSocket-Extensions`, as sent.
    pub(super) extensions: Option<String>,
}

/// How the load was applied, for the report's header.
#[derive(Debug)]
pub(super) struct Setup {
    pub(super) url: String,
    pub(super) connections: u64,
    pub(super) opened: u64,
    pub(super) size: usize,
    pub(super) text: bool,
    pub(super) in_flight: usize,
    pub(super) rate: Option<f64>,
    pub(super) duration: Option<Duration>,
    pub(super) messages: Option<u64>,
    pub(super) warmup: Duration,
    pub(super) threads: usize,
    pub(super) compress: bool,
    /// WebSockets per shared connection (`--streams`).
    pub(super) streams: Option<u64>,
}

impl Setup {
    /// The connections (HTTP/2 or QUIC) the WebSockets share, with `--streams`.
    fn shared_connections(&self) -> Option<u64> {
        self.streams.map(|per| self.connections.div_ceil(per))
    }
}

/// Everything measured, merged.
#[derive(Debug)]
pub(super) struct Summary {
    pub(super) setup: Setup,
    pub(super) stats: ConnStats,
    /// From the end of the warm-up to the last measured echo.
    pub(super) window: Duration,
    pub(super) negotiation: Negotiation,
}

impl Summary {
    fn rate(&self) -> f64 {
        let seconds = self.window.as_secs_f64();
        if seconds > 0.0 { self.stats.echoed as f64 / seconds } else { 0.0 }
    }

    fn megabytes_per_second(&self) -> f64 {
        self.rate() * self.setup.size as f64 / 1e6
    }

    /// Latency percentiles in microseconds: p50, p90, p99, p99.9, max.
    fn percentiles(&self) -> [(&'static str, u64); 5] {
        let h = &self.stats.latency;
        let at = |q: f64| if h.is_empty() { 0 } else { h.value_at_quantile(q) };
        [("p50", at(0.5)), ("p90", at(0.9)), ("p99", at(0.99)), ("p99.9", at(0.999)), ("max", h.max())]
    }

    pub(super) fn exit_code(&self) -> ExitCode {
        if self.stats.echoed == 0 {
            ExitCode::from(EXIT_NOTHING)
        } else if self.stats.errors.total() > 0 {
            ExitCode::from(EXIT_ERRORS)
        } else {
            ExitCode::SUCCESS
        }
    }

    fn mode(&self) -> String {
        match self.setup.rate {
            Some(rate) => format!("open loop at {rate} msg/s"),
            None => format!("closed loop, {} in flight per connection", self.setup.in_flight),
        }
    }

    /// The report for people.
    pub(super) fn text(&self) -> String {
        let s = &self.setup;
        let kind = if s.text { "text" } else { "binary" };
        let amount = match (s.messages, s.duration) {
            (Some(n), _) => format!("{n} messages"),
            (None, Some(d)) => format!("{} s", d.as_secs_f64()),
            (None, None) => String::new(),
        };
        let mut out = format!(
            "wsx bench {}\n  {} connections ({} open), {}-byte {kind} messages, {}, {amount} after {} s of warm-up, {} thread{}\n",
            s.url,
            s.connections,
            s.opened,
            s.size,
            self.mode(),
            s.warmup.as_secs_f64(),
            s.threads,
            if s.threads == 1 { "" } else { "s" },
        );
        if let (Some(per), Some(shared)) = (s.streams, s.shared_connections()) {
            out += &format!(
                "  as streams of shared connections: {per} per connection, {shared} connection{}\n",
                if shared == 1 { "" } else { "s" }
            );
        }
        let extensions = self.negotiation.extensions.as_deref().unwrap_or("none");
        let subprotocol = self.negotiation.subprotocol.as_deref().unwrap_or("none");
        out += &format!("  negotiated: extensions {extensions}; subprotocol {subprotocol}\n");
        out += &format!(
            "messages  {} echoed of {} sent in {:.2} s: {:.0} msg/s, {:.2} MB/s ({} compared byte for byte)\n",
            self.stats.echoed,
            self.stats.sent,
            self.window.as_secs_f64(),
            self.rate(),
            self.megabytes_per_second(),
            self.stats.verified,
        );
        let latency: Vec<String> =
            self.percentiles().iter().map(|(name, us)| format!("{name} {}", micros(*us))).collect();
        let from = if s.rate.is_some() { "from the scheduled send" } else { "round trip" };
        if self.stats.latency.is_empty() {
            out += "latency   none measured\n";
        } else {
            out += &format!("latency   {}  ({from})\n", latency.join("  "));
        }
        if self.stats.errors.total() == 0 {
            out += "errors    none\n";
        } else {
            out += &format!("errors    {}\n", self.stats.errors.total());
            for (kind, count) in self.stats.errors.iter() {
                out += &format!("  {count:>10}  {kind}\n");
            }
        }
        out
    }

    /// The report for machines: one JSON object.
    pub(super) fn json(&self) -> serde_json::Value {
        let s = &self.setup;
        let errors: serde_json::Map<String, serde_json::Value> =
            self.stats.errors.iter().map(|(kind, count)| (kind.to_owned(), json!(count))).collect();
        let latency: serde_json::Map<String, serde_json::Value> = self
            .percentiles()
            .iter()
            .map(|(name, us)| (name.replace('.', "_"), json!(us)))
            .chain([("mean".to_owned(), json!(self.stats.latency.mean()))])
            .collect();
        json!({
            "url": s.url,
            "connections": s.connections,
            "connections_opened": s.opened,
            "threads": s.threads,
            "streams_per_connection": s.streams,
            "http2_connections": s.shared_connections(),
            "size": s.size,
            "text": s.text,
            "mode": if s.rate.is_some() { "open-loop" } else { "closed-loop" },
            "in_flight": s.rate.is_none().then_some(s.in_flight),
            "rate": s.rate,
            "duration_s": s.duration.map(|d| d.as_secs_f64()),
            "messages_requested": s.messages,
            "warmup_s": s.warmup.as_secs_f64(),
            "compress_offered": s.compress,
            "subprotocol": self.negotiation.subprotocol,
            "extensions": self.negotiation.extensions,
            "sent": self.stats.sent,
            "messages": self.stats.echoed,
            "verified": self.stats.verified,
            "warmup_messages": self.stats.warmup_echoed,
            "elapsed_s": self.window.as_secs_f64(),
            "messages_per_s": self.rate(),
            "mb_per_s": self.megabytes_per_second(),
            "latency_us": latency,
            "latency_from": if s.rate.is_some() { "scheduled send" } else { "send" },
            "errors": self.stats.errors.total(),
            "errors_by_kind": errors,
            "clean_closes": self.stats.clean_closes,
        })
    }
}

/// Microseconds, in the unit that reads best.
fn micros(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..1_000_000 => format!("{:.2} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}
