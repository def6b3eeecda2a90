//! Counters of the rooms, rendered in the Prometheus text exposition
//! format (version 0.0.4): one `# HELP` and `# TYPE` line per metric, then
//! `name{labels} value` lines.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::broker::LinkState;

/// Counters shared by the hub, the sessions and the rooms.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Members now joined.
    pub(crate) members: AtomicU64,
    /// Messages members sent that were published.
    pub(crate) messages_in: AtomicU64,
    /// Messages refused to their sender (broker unavailable).
    pub(crate) refused: AtomicU64,
    /// Deliveries handed to the hub (one per message per node).
    pub(crate) messages_out: AtomicU64,
    /// Messages queued for a member (one per member per message).
    pub(crate) deliveries: AtomicU64,
    /// Queued messages dropped by the drop-oldest policy.
    pub(crate) dropped_oldest: AtomicU64,
    /// Queued messages replaced by a newer one with the same key.
    pub(crate) conflated: AtomicU64,
    /// Members closed: too slow (1008), too big (1009), refused (4001–4003).
    pub(crate) closed_slow: AtomicU64,
    pub(crate) closed_too_big: AtomicU64,
    pub(crate) closed_refused: AtomicU64,
    /// Broker publications and their total round trip, in microseconds.
    pub(crate) publish_count: AtomicU64,
    pub(crate) publish_micros: AtomicU64,
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Metrics {
    /// Appends the counters to `out` in the Prometheus text format, with
    /// the broker's link state.
    pub fn render(&self, link: LinkState, out: &mut String) {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        metric("wsx_rooms_members", "gauge", "Members joined to a room on this node.", &[("", get(&self.members))]);
        metric(
            "wsx_rooms_messages_in_total",
            "counter",
            "Messages members sent, by outcome.",
            &[("{outcome=\"published\"}", get(&self.messages_in)), ("{outcome=\"refused\"}", get(&self.refused))],
        );
        metric(
            "wsx_rooms_messages_out_total",
            "counter",
            "Messages fanned out to this node's members (once per message).",
            &[("", get(&self.messages_out))],
        );
        metric(
            "wsx_rooms_deliveries_total",
            "counter",
            "Messages queued for a member (once per member per message).",
            &[("", get(&self.deliveries))],
        );
        metric(
            "wsx_rooms_dropped_total",
            "counter",
            "Queued messages a slow member lost, by policy.",
            &[("{policy=\"drop-oldest\"}", get(&self.dropped_oldest)), ("{policy=\"conflate\"}", get(&self.conflated))],
        );
        metric(
            "wsx_rooms_closed_total",
            "counter",
            "Members closed by the server, by reason.",
            &[
                ("{reason=\"too_slow\"}", get(&self.closed_slow)),
                ("{reason=\"too_big\"}", get(&self.closed_too_big)),
                ("{reason=\"refused\"}", get(&self.closed_refused)),
            ],
        );
        let (local, up) = match link {
            LinkState::Local => (1, 1),
            LinkState::Up => (0, 1),
            LinkState::Down => (0, 0),
        };
        metric(
            "wsx_rooms_broker_up",
            "gauge",
            "Whether the broker link is up (1) or reconnecting (0); engine=local is in-process.",
            &[(if local == 1 { "{engine=\"local\"}" } else { "{engine=\"redis\"}" }, up)],
        );
        let count = get(&self.publish_count);
        let micros = get(&self.publish_micros);
        let _ = writeln!(
            out,
            "# HELP wsx_rooms_broker_publish_seconds Round trip of publications to the broker (its lag).\n\
             # TYPE wsx_rooms_broker_publish_seconds summary\n\
             wsx_rooms_broker_publish_seconds_sum {}.{:06}\n\
             wsx_rooms_broker_publish_seconds_count {count}",
            micros / 1_000_000,
            micros % 1_000_000
        );
    }
}
