//! Turns the generator's JSON lines into `docs/bench/results.md` and the SVG
//! chart: one section per server thread count, with medians and spread over
//! the rounds, ratios against the best peer and the raw TCP echo, the targets
//! of the benchmark issue checked; exact versions of every peer.
//!
//! usage: report --input RESULTS.jsonl --lock Cargo.lock --md OUT.md --svg OUT.svg
//!        [--title TEXT] [--notes FILE]...

use std::collections::BTreeMap;
use std::fmt::Write as _;

use plotters::prelude::*;
use serde_json::Value;

/// Servers in the order they are shown; the first is the ceiling.
const SERVERS: [&str; 8] = ["tcp", "wsx", "wsx_serve", "bun", "fastwebsockets", "sockudo", "yawc", "tungstenite"];
/// wsx as a library (`echo_wsx`) and as the server people start (`wsx serve`).
const OURS: [&str; 2] = ["wsx", "wsx_serve"];
const PEERS: [&str; 5] = ["bun", "fastwebsockets", "sockudo", "yawc", "tungstenite"];
/// Peers rewritten by hand to queue every ready reply and flush once; run
/// in the pipelined cells only.
const BATCHED: [&str; 2] = ["yawc_batched", "tungstenite_batched"];

/// A server's name in a ratio's brackets.
fn short(server: &str) -> &str {
    if server == "bun" { "Bun" } else { display(server) }
}

fn display(server: &str) -> &str {
    match server {
        "tcp" => "raw TCP echo",
        "wsx_serve" => "`wsx serve`",
        "tungstenite" => "tokio-tungstenite",
        "bun" => "Bun (uWebSockets)",
        "sockudo" => "sockudo-ws",
        "yawc_batched" => "yawc, hand-batched",
        "tungstenite_batched" => "tokio-tungstenite, hand-batched",
        other => other,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Cell {
    inflight: u64,
    text: bool,
    size: u64,
    connections: u64,
}

impl Cell {
    fn of(v: &Value) -> Self {
        Cell {
            inflight: v["inflight"].as_u64().unwrap_or(1),
            text: v["text"].as_bool().unwrap_or(false),
            size: v["size"].as_u64().unwrap_or(0),
            connections: v["connections"].as_u64().unwrap_or(0),
        }
    }

    fn size_label(&self) -> String {
        match self.size {
            s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
            s if s >= 1024 && s % 1024 == 0 => format!("{} KiB", s >> 10),
            s => format!("{s} B"),
        }
    }

    fn label(&self) -> String {
        let mut l = format!("{}{} × {}", self.size_label(), if self.text { " text" } else { "" }, self.connections);
        if self.inflight > 1 {
            let _ = write!(l, ", {} in flight", self.inflight);
        }
        l
    }

    fn short(&self) -> String {
        let size = self.size_label().replace(" KiB", "K").replace(" MiB", "M").replace(" B", "B");
        let mut l = format!("{size}{}×{}", if self.text { "t" } else { "" }, self.connections);
        if self.inflight > 1 {
            let _ = write!(l, " k{}", self.inflight);
        }
        l
    }
}

#[derive(Debug, Clone, Copy)]
struct Stat {
    median: f64,
    min: f64,
    max: f64,
    n: usize,
}

fn stat(mut xs: Vec<f64>) -> Option<Stat> {
    xs.retain(|x| x.is_finite());
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    let median = if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 };
    Some(Stat { median, min: xs[0], max: xs[n - 1], n })
}

struct Args {
    input: String,
    lock: String,
    md: String,
    svg: String,
    title: String,
    notes: Vec<String>,
}

fn parse_args() -> Args {
    let mut a = Args {
        input: String::new(),
        lock: "Cargo.lock".into(),
        md: "results.md".into(),
        svg: "chart.svg".into(),
        title: String::new(),
        notes: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let Some(v) = it.next() else {
            eprintln!("{flag} needs a value");
            std::process::exit(2)
        };
        match flag.as_str() {
            "--input" => a.input = v,
            "--lock" => a.lock = v,
            "--md" => a.md = v,
            "--svg" => a.svg = v,
            "--title" => a.title = v,
            "--notes" => a.notes.push(v),
            _ => {
                eprintln!("unknown flag {flag}");
                std::process::exit(2)
            }
        }
    }
    a
}

/// `name version` of each package in a Cargo.lock.
fn lock_versions(lock: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut name = None;
    for line in lock.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            name = Some(n.trim_matches('"').to_string());
        } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
            out.entry(n).or_insert_with(|| v.trim_matches('"').to_string());
        }
    }
    out
}

type Table = BTreeMap<Cell, BTreeMap<String, Vec<Value>>>;

/// The runs at one server thread count.
#[derive(Default)]
struct Group {
    table: Table,
    idle: BTreeMap<String, Vec<Value>>,
    server_cores: String,
    generator_cores: String,
    generator_threads: u64,
}

fn metric(rows: &[Value], key: &str) -> Option<Stat> {
    stat(rows.iter().filter_map(|r| r[key].as_f64()).collect())
}

fn fmt_num(x: f64) -> String {
    match x.abs() {
        x if x >= 1e6 => format!("{:.2} M", x / 1e6),
        x if x >= 1e4 => format!("{:.0} k", x / 1e3),
        x if x >= 100.0 => format!("{x:.0}"),
        x if x >= 10.0 => format!("{x:.1}"),
        _ => format!("{x:.2}"),
    }
}

fn fmt_stat(s: Option<Stat>) -> String {
    match s {
        Some(s) if s.n > 1 => format!("{} ({}–{})", fmt_num(s.median), fmt_num(s.min), fmt_num(s.max)),
        Some(s) => fmt_num(s.median),
        None => "—".into(),
    }
}

fn header(md: &mut String, first: &str, servers: &[&str], extra: &[&str]) {
    let _ = write!(md, "| {first} |");
    for s in servers {
        let _ = write!(md, " {} |", display(s));
    }
    for e in extra {
        let _ = write!(md, " {e} |");
    }
    md.push_str("\n|---|");
    for _ in 0..servers.len() + extra.len() {
        md.push_str("---:|");
    }
    md.push('\n');
}

fn median_of(table: &Table, cell: &Cell, server: &str, key: &str) -> Option<f64> {
    table.get(cell)?.get(server).and_then(|rows| metric(rows, key)).map(|s| s.median)
}

fn best_peer(table: &Table, cell: &Cell, key: &str, lower_is_better: bool) -> Option<(String, f64)> {
    best_of(&PEERS, table, cell, key, lower_is_better)
}

fn best_of(peers: &[&str], table: &Table, cell: &Cell, key: &str, lower_is_better: bool) -> Option<(String, f64)> {
    peers
        .iter()
        .filter_map(|p| median_of(table, cell, p, key).map(|v| (p.to_string(), v)))
        .reduce(|a, b| if (b.1 < a.1) == lower_is_better { b } else { a })
}

fn cpu_table(md: &mut String, table: &Table, servers: &[&str]) {
    md.push_str("\n### Server CPU time per message (µs, lower is better)\n\n");
    md.push_str("Median over the rounds, (min–max) in brackets. CPU is user + system time of the server process from `/proc/PID/stat` over the measured window, divided by the echoes completed in it.\n\n");
    let ours: Vec<&str> = OURS.iter().copied().filter(|o| servers.contains(o)).collect();
    let extra: Vec<String> = ours
        .iter()
        .flat_map(|o| [format!("{} ÷ best peer", display(o)), format!("{} ÷ raw TCP", display(o))])
        .collect();
    header(md, "cell", servers, &extra.iter().map(String::as_str).collect::<Vec<_>>());
    let key = "server_cpu_us_per_msg";
    for (cell, by_server) in table {
        let _ = write!(md, "| {} |", cell.label());
        for s in servers {
            let _ = write!(md, " {} |", fmt_stat(by_server.get(*s).and_then(|r| metric(r, key))));
        }
        let best = best_peer(table, cell, key, true);
        let tcp = median_of(table, cell, "tcp", key);
        for o in &ours {
            let ours = median_of(table, cell, o, key);
            match (ours, &best) {
                (Some(w), Some((name, b))) => {
                    let _ = write!(md, " {:.2} ({}) |", w / b, short(name));
                }
                _ => md.push_str(" — |"),
            }
            match (ours, tcp) {
                (Some(w), Some(t)) => {
                    let _ = write!(md, " {:.2} |", w / t);
                }
                _ => md.push_str(" — |"),
            }
        }
        md.push('\n');
    }
}

fn simple_table(md: &mut String, table: &Table, servers: &[&str], title: &str, intro: &str, key: &str) {
    let _ = write!(md, "\n### {title}\n\n{intro}\n\n");
    header(md, "cell", servers, &[]);
    for (cell, by_server) in table {
        let _ = write!(md, "| {} |", cell.label());
        for s in servers {
            let _ = write!(md, " {} |", fmt_stat(by_server.get(*s).and_then(|r| metric(r, key))));
        }
        md.push('\n');
    }
}

fn latency_table(md: &mut String, table: &Table, servers: &[&str]) {
    md.push_str("\n### Round trip, p50 / p99 (µs, medians over the rounds)\n\n");
    header(md, "cell", servers, &[]);
    for (cell, by_server) in table {
        let _ = write!(md, "| {} |", cell.label());
        for s in servers {
            let rows = by_server.get(*s).map(Vec::as_slice).unwrap_or(&[]);
            match (metric(rows, "p50_us"), metric(rows, "p99_us")) {
                (Some(a), Some(b)) => {
                    let _ = write!(md, " {} / {} |", fmt_num(a.median), fmt_num(b.median));
                }
                _ => md.push_str(" — |"),
            }
        }
        md.push('\n');
    }
}

/// The pipelined cells again, with the peers also written by hand to queue
/// every ready reply and flush once (wsx runs its ordinary echo loop).
fn batched_table(md: &mut String, table: &Table) {
    let cells: Vec<&Cell> =
        table.iter().filter(|(_, by)| BATCHED.iter().any(|b| by.contains_key(*b))).map(|(c, _)| c).collect();
    if cells.is_empty() {
        return;
    }
    md.push_str("\n### Pipelined, against hand-batched peers\n\n");
    md.push_str("The same pipelined runs, with two peers' echo loops rewritten by hand (`--batched` in `bench/src/bin/echo_yawc.rs` and `echo_tungstenite.rs`): each reply already readable is queued with `feed()` and the batch leaves with one `flush()`. wsx runs `recv` then `feed` (its documented echo loop: the next `recv` that must wait writes the replies queued). Medians over the rounds, (min–max).\n\n");
    for cell in cells {
        let _ = write!(
            md,
            "{}:\n\n| server | CPU µs/msg | messages/s | p50 / p99 µs |\n|---|---:|---:|---:|\n",
            cell.label()
        );
        let by_server = &table[cell];
        for s in SERVERS.iter().chain(BATCHED.iter()) {
            let Some(rows) = by_server.get(*s) else { continue };
            let latency = match (metric(rows, "p50_us"), metric(rows, "p99_us")) {
                (Some(a), Some(b)) => format!("{} / {}", fmt_num(a.median), fmt_num(b.median)),
                _ => "—".into(),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {latency} |",
                display(s),
                fmt_stat(metric(rows, "server_cpu_us_per_msg")),
                fmt_stat(metric(rows, "msgs_per_s")),
            );
        }
        md.push('\n');
    }
}

/// The benchmark issue's targets. Every cell: CPU per message at most the
/// best peer's (Bun, fastwebsockets, sockudo-ws, yawc, tokio-tungstenite);
/// throughput at least theirs. With more than one server thread: 16 B at
/// most 1.05× the raw TCP echo, and pipelined at most 1.3× the raw TCP echo
/// (a byte copier). With one: pipelined at most Bun's.
fn targets(md: &mut String, group: &Group, threads: u64) {
    let (table, idle) = (&group.table, &group.idle);
    md.push_str("\n### Targets, checked on this run\n\n| target | cell | measured | met |\n|---|---|---|---|\n");
    let mut row = |target: &str, cell: &str, measured: String, met: Option<bool>| {
        let met = match met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "not measured",
        };
        let _ = writeln!(md, "| {target} | {cell} | {measured} | {met} |");
    };
    let key = "server_cpu_us_per_msg";
    for cell in table.keys() {
        let tcp = median_of(table, cell, "tcp", key);
        for ours in OURS {
            let name_of_ours = display(ours);
            let wsx = median_of(table, cell, ours, key);
            if let (Some(w), Some((name, b))) = (wsx, best_peer(table, cell, key, true)) {
                row(
                    &format!("{name_of_ours}: CPU/msg ≤ 1.0× best peer"),
                    &cell.label(),
                    format!("{:.2}× {}", w / b, short(&name)),
                    Some(w <= b),
                );
            }
            let tcp_limit = match (threads > 1, cell.inflight > 1, cell.size <= 16) {
                (true, true, _) => Some(1.3),
                (true, false, true) => Some(1.05),
                _ => None,
            };
            if let (Some(limit), Some(w), Some(t)) = (tcp_limit, wsx, tcp) {
                row(
                    &format!("{name_of_ours}: CPU/msg ≤ {limit}× raw TCP"),
                    &cell.label(),
                    format!("{:.2}×", w / t),
                    Some(w <= limit * t),
                );
            }
            if let (true, Some(w), Some(b)) =
                (threads == 1 && cell.inflight > 1, wsx, median_of(table, cell, "bun", key))
            {
                row(
                    &format!("{name_of_ours}: CPU/msg ≤ 1.0× Bun (pipelined)"),
                    &cell.label(),
                    format!("{:.2}×", w / b),
                    Some(w <= b),
                );
            }
            let thr = median_of(table, cell, ours, "msgs_per_s");
            if let (Some(w), Some((name, b))) = (thr, best_peer(table, cell, "msgs_per_s", false)) {
                row(
                    &format!("{name_of_ours}: throughput ≥ best peer"),
                    &cell.label(),
                    format!("{:.2}× {}", w / b, short(&name)),
                    Some(w >= b),
                );
            }
        }
    }
    if !idle.is_empty() {
        let idle_wsx = idle.get("wsx").and_then(|r| metric(r, "rss_per_conn_kib"));
        row(
            "wsx: idle connection ≤ 4 KiB RSS",
            "idle",
            idle_wsx.map_or("—".into(), |s| format!("{:.1} KiB", s.median)),
            idle_wsx.map(|s| s.median <= 4.0),
        );
    }
}

/// One panel per server thread count, stacked.
fn chart(path: &str, groups: &BTreeMap<u64, Group>, servers: &[&str]) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::new(path, (1280, 560 * groups.len().max(1) as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let panels = root.split_evenly((groups.len().max(1), 1));
    for ((threads, group), area) in groups.iter().zip(&panels) {
        let caption = format!(
            "Server CPU per message ÷ raw TCP echo's, {threads} server thread{} (1.0 = the ceiling; lower is better)",
            if *threads == 1 { "" } else { "s" }
        );
        chart_panel(area, &caption, &group.table, servers)?;
    }
    root.present()?;
    Ok(())
}

fn chart_panel(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    caption: &str,
    table: &Table,
    servers: &[&str],
) -> Result<(), Box<dyn std::error::Error>> {
    let cells: Vec<&Cell> = table.keys().collect();
    let shown: Vec<&str> = servers.iter().copied().filter(|s| *s != "tcp").collect();
    let ratio = |cell: &Cell, s: &str| -> Option<f64> {
        let t = median_of(table, cell, "tcp", "server_cpu_us_per_msg")?;
        Some(median_of(table, cell, s, "server_cpu_us_per_msg")? / t)
    };
    let cap = 6.0;
    let n = cells.len().max(1) as i32;
    let mut chart = ChartBuilder::on(root)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(48)
        .build_cartesian_2d(-50..n * 100 - 50, 0.0..cap)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(cells.len() + 1)
        .x_label_formatter(&|x| {
            if x % 100 == 0 {
                cells.get((*x / 100) as usize).map(|c| c.short()).unwrap_or_default()
            } else {
                String::new()
            }
        })
        .x_label_style(("sans-serif", 12))
        .y_desc("× raw TCP echo CPU per message")
        .draw()?;
    let palette = [
        RGBColor(0xd6, 0x27, 0x28),
        RGBColor(0x1f, 0x77, 0xb4),
        RGBColor(0x2c, 0xa0, 0x2c),
        RGBColor(0xff, 0x7f, 0x0e),
        RGBColor(0x94, 0x67, 0xbd),
        RGBColor(0x8c, 0x56, 0x4b),
    ];
    let width = 80 / shown.len().max(1) as i32;
    for (j, server) in shown.iter().enumerate() {
        let color = palette[j % palette.len()];
        let bars: Vec<_> = cells
            .iter()
            .enumerate()
            .filter_map(|(i, cell)| {
                let r = ratio(cell, server)?;
                let x0 = i as i32 * 100 - 40 + j as i32 * width;
                Some(Rectangle::new([(x0, 0.0), (x0 + width - 2, r.min(cap))], color.filled()))
            })
            .collect();
        chart
            .draw_series(bars)?
            .label(display(server))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled()));
        let over: Vec<_> = cells
            .iter()
            .enumerate()
            .filter_map(|(i, cell)| {
                let r = ratio(cell, server)?;
                (r > cap).then(|| {
                    let x0 = i as i32 * 100 - 40 + j as i32 * width;
                    Text::new(format!("{r:.0}×"), (x0, cap - 0.25 - 0.25 * j as f64), ("sans-serif", 11))
                })
            })
            .collect();
        chart.draw_series(over)?;
    }
    chart
        .draw_series(LineSeries::new([(-50, 1.0), (n * 100 - 50, 1.0)], BLACK.stroke_width(1)))?
        .label("raw TCP echo")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 10, y)], BLACK));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Every table of one server thread count.
fn group_section(md: &mut String, threads: u64, group: &Group, present: &[&str]) {
    let plural = if threads == 1 { "" } else { "s" };
    let _ = writeln!(md, "\n## {threads} server thread{plural}\n");
    let _ = write!(
        md,
        "Server cores: {}. Generator cores: {}, with {} thread{}.",
        group.server_cores,
        group.generator_cores,
        group.generator_threads,
        if group.generator_threads == 1 { "" } else { "s" }
    );
    if threads > 1 && !group.server_cores.contains(['-', ',']) {
        let _ = write!(
            md,
            " All {threads} runtime threads share one core: this measures what a multi-thread runtime costs per message (wake-ups across threads, work stealing), not how a server scales across cores."
        );
    }
    md.push_str(" Bun runs its JavaScript on one thread whatever the count.\n");
    let table = &group.table;
    cpu_table(md, table, present);
    simple_table(
        md,
        table,
        present,
        "Throughput (messages/s, higher is better)",
        "Echoes completed per second; where the generator has as many cores as the server or fewer, it often saturates first, so read this next to the CPU table.",
        "msgs_per_s",
    );
    latency_table(md, table, present);
    simple_table(
        md,
        table,
        present,
        "Server peak RSS (KiB)",
        "`VmHWM` of the server process at the end of the cell.",
        "server_peak_rss_kib",
    );
    if !group.idle.is_empty() {
        md.push_str("\n### Idle connections\n\n");
        let _ = writeln!(
            md,
            "Server RSS growth per connection after {} idle WebSocket connections (handshake done, no traffic, 2 s to settle), median (min–max) in KiB.\n",
            group.idle.values().flatten().filter_map(|v| v["opened"].as_u64()).max().unwrap_or(0)
        );
        md.push_str("| server | KiB per idle connection |\n|---|---:|\n");
        for s in present {
            let rss = group.idle.get(*s).and_then(|r| metric(r, "rss_per_conn_kib"));
            let _ = writeln!(md, "| {} | {} |", display(s), fmt_stat(rss));
        }
    }
    batched_table(md, table);
    targets(md, group, threads);
}

fn main() {
    let args = parse_args();
    let input = std::fs::read_to_string(&args.input).unwrap_or_else(|e| {
        eprintln!("cannot read {}: {e}", args.input);
        std::process::exit(1)
    });
    let lock = std::fs::read_to_string(&args.lock).unwrap_or_default();
    let versions = lock_versions(&lock);
    let mut groups: BTreeMap<u64, Group> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut meta: Option<Value> = None;
    for line in input.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        if v.get("meta").is_some() {
            meta = Some(v);
            continue;
        }
        let server = v["server"].as_str().unwrap_or("?").to_string();
        if v["errors"].as_u64().unwrap_or(0) > 0 || v.get("failed").is_some() {
            failures.push(v.clone());
        }
        // Lines written before runs had several thread counts carry none:
        // the run's one count is in its meta line.
        let threads = [&v["threads"], meta.as_ref().map_or(&Value::Null, |m| &m["server threads"])]
            .iter()
            .find_map(|t| t.as_str().and_then(|t| t.parse().ok()))
            .unwrap_or(1);
        let group = groups.entry(threads).or_default();
        if group.server_cores.is_empty() {
            group.server_cores = v["server_cores"].as_str().unwrap_or("?").to_string();
            group.generator_cores = v["generator_cores"].as_str().unwrap_or("?").to_string();
            group.generator_threads = v["generator_threads"].as_u64().unwrap_or(1);
        }
        if v["idle"].as_bool() == Some(true) {
            group.idle.entry(server).or_default().push(v);
        } else if v.get("failed").is_none() {
            group.table.entry(Cell::of(&v)).or_default().entry(server).or_default().push(v);
        }
    }
    let present: Vec<&str> = SERVERS
        .iter()
        .copied()
        .filter(|s| groups.values().any(|g| g.table.values().any(|m| m.contains_key(*s)) || g.idle.contains_key(*s)))
        .collect();

    let mut md = String::new();
    md.push_str("# wsx end-to-end benchmark results\n\n");
    md.push_str(
        "<!-- generated by bench/run.sh (bench/src/bin/report.rs); edit bench/profile.md for the profile notes -->\n\n",
    );
    if !args.title.is_empty() {
        let _ = writeln!(md, "{}\n", args.title);
    }
    md.push_str("![server CPU per message relative to a raw TCP echo](chart.svg)\n\n");
    md.push_str("Each server is an echo server pinned to the server cores with the runtime threads of its section (one thread: a current-thread tokio runtime); the neutral generator `bench/src/bin/loadgen.rs` runs on the generator cores, one current-thread runtime per core, with pre-built masked frames and its own frame parser. Servers run one after the other within each cell, in an order rotated every round (A/B interleaved), each in a fresh process. `cell` is message size × connections.\n\n");
    if let Some(m) = &meta {
        md.push_str("## This run\n\n");
        if let Some(obj) = m.as_object() {
            for (k, v) in obj.iter().filter(|(k, _)| *k != "meta") {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                let _ = writeln!(md, "- {k}: {v}");
            }
        }
        md.push('\n');
    }
    md.push_str("## Versions\n\n");
    for (name, label) in [
        ("tokio-tungstenite", "tokio-tungstenite"),
        ("tungstenite", "tungstenite"),
        ("fastwebsockets", "fastwebsockets (features `upgrade`, `simd`; FragmentCollector)"),
        ("sockudo-ws", "sockudo-ws (features `simd`, `tokio-runtime`; default Config)"),
        ("yawc", "yawc (default features off: no TLS; `with_utf8()`)"),
        ("hyper", "hyper (upgrade path of fastwebsockets and yawc)"),
        ("tokio", "tokio"),
    ] {
        let _ = writeln!(md, "- {label}: {}", versions.get(name).map_or("?", String::as_str));
    }
    let bun = meta.as_ref().and_then(|m| m["bun"].as_str()).unwrap_or("?");
    let _ = writeln!(
        md,
        "- Bun: {bun} (npm `bun`, bench/bun/package-lock.json): its built-in `Bun.serve` WebSocket server, uWebSockets in C++ under a JavaScript runtime whose echo handler is JavaScript (bench/bun/echo.js)"
    );
    md.push_str("- wsx: this repository (see `wsx commit` above), `wsx::serve` with the settings of `wsx serve` (bench/src/bin/echo_wsx.rs)\n");
    md.push_str("- `wsx serve`: this repository's command-line server, its `/echo` with its defaults but `--threads` (the configuration's count) and `--max-connections 20000`; jemalloc, and a log line per connection\n");

    for (threads, group) in &groups {
        group_section(&mut md, *threads, group, &present);
    }
    if !failures.is_empty() {
        md.push_str("\n## Runs with errors\n\n");
        for f in &failures {
            let _ = writeln!(md, "- `{f}`");
        }
    } else {
        md.push_str("\nNo run had an error: every echo had the right opcode and length, and every sampled echo (one in 16) matched byte for byte.\n");
    }
    for notes in &args.notes {
        if let Ok(text) = std::fs::read_to_string(notes) {
            md.push('\n');
            md.push_str(&text);
        }
    }
    if let Err(e) = std::fs::write(&args.md, md) {
        eprintln!("cannot write {}: {e}", args.md);
        std::process::exit(1);
    }
    if let Err(e) = chart(&args.svg, &groups, &present) {
        eprintln!("chart: {e}");
        std::process::exit(1);
    }
}
