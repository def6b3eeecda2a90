//! Turns the generator's JSON lines into `docs/bench/results.md` and the SVG
//! chart: medians and spread over the rounds, ratios against the best peer
//! and the raw TCP echo, the targets of the benchmark issue checked, exact
//! versions of every peer.
//!
//! usage: report --input RESULTS.jsonl --lock Cargo.lock --md OUT.md --svg OUT.svg
//!        [--title TEXT] [--notes FILE]...

use std::collections::BTreeMap;
use std::fmt::Write as _;

use plotters::prelude::*;
use serde_json::Value;

/// Servers in the order they are shown; the first is the ceiling.
const SERVERS: [&str; 7] = ["tcp", "wsx", "bun", "fastwebsockets", "sockudo", "yawc", "tungstenite"];
const PEERS: [&str; 5] = ["bun", "fastwebsockets", "sockudo", "yawc", "tungstenite"];
/// Peers rewritten by hand to queue every ready reply and flush once; run
/// in the pipelined cells only.
const BATCHED: [&str; 2] = ["yawc_batched", "tungstenite_batched"];

fn display(server: &str) -> &str {
    match server {
        "tcp" => "raw TCP echo",
        "tungstenite" => "tokio-tungstenite",
        "bun" => "Bun (uWebSockets; a JavaScript runtime)",
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

    fn large(&self) -> bool {
        self.size >= 64 * 1024
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
    md.push_str("\n## Server CPU time per message (µs, lower is better)\n\n");
    md.push_str("Median over the rounds, (min–max) in brackets. CPU is user + system time of the server process from `/proc/PID/stat` over the measured window, divided by the echoes completed in it.\n\n");
    header(md, "cell", servers, &["wsx ÷ best peer", "wsx ÷ raw TCP"]);
    for (cell, by_server) in table {
        let _ = write!(md, "| {} |", cell.label());
        for s in servers {
            let _ = write!(md, " {} |", fmt_stat(by_server.get(*s).and_then(|r| metric(r, "server_cpu_us_per_msg"))));
        }
        let wsx = median_of(table, cell, "wsx", "server_cpu_us_per_msg");
        let best = best_peer(table, cell, "server_cpu_us_per_msg", true);
        let tcp = median_of(table, cell, "tcp", "server_cpu_us_per_msg");
        match (wsx, &best) {
            (Some(w), Some((name, b))) => {
                let _ = write!(md, " {:.2} ({}) |", w / b, display(name));
            }
            _ => md.push_str(" — |"),
        }
        match (wsx, tcp) {
            (Some(w), Some(t)) => {
                let _ = write!(md, " {:.2} |", w / t);
            }
            _ => md.push_str(" — |"),
        }
        md.push('\n');
    }
}

fn simple_table(md: &mut String, table: &Table, servers: &[&str], title: &str, intro: &str, key: &str) {
    let _ = write!(md, "\n## {title}\n\n{intro}\n\n");
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
    md.push_str("\n## Round trip, p50 / p99 (µs, medians over the rounds)\n\n");
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
    md.push_str("\n## Pipelined, against hand-batched peers\n\n");
    md.push_str("The same pipelined runs, with two peers' echo loops rewritten by hand (`--batched` in `bench/src/bin/echo_yawc.rs` and `echo_tungstenite.rs`): each reply already readable is queued with `feed()` and the batch leaves with one `flush()`. wsx runs its ordinary `recv` then `send` loop. Medians over the rounds, (min–max).\n\n");
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

fn targets(md: &mut String, table: &Table, idle: &BTreeMap<String, Vec<Value>>) {
    md.push_str("\n## Targets, checked on this run\n\n| target | cell | measured | met |\n|---|---|---|---|\n");
    let mut row = |target: &str, cell: &str, measured: String, met: Option<bool>| {
        let met = match met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "not measured",
        };
        let _ = writeln!(md, "| {target} | {cell} | {measured} | {met} |");
    };
    for cell in table.keys() {
        let key = "server_cpu_us_per_msg";
        let wsx = median_of(table, cell, "wsx", key);
        let tcp = median_of(table, cell, "tcp", key);
        let best = best_peer(table, cell, key, true);
        let (peer_limit, tcp_limit) = if cell.inflight > 1 {
            (1.0, f64::INFINITY)
        } else if cell.large() {
            (0.8, 1.15)
        } else {
            (1.0, 1.1)
        };
        if let (Some(w), Some((name, b))) = (wsx, &best) {
            row(
                &format!("CPU/msg ≤ {peer_limit}× best peer"),
                &cell.label(),
                format!("{:.2}× {}", w / b, display(name)),
                Some(w <= peer_limit * b),
            );
        }
        if tcp_limit.is_finite() {
            if let (Some(w), Some(t)) = (wsx, tcp) {
                row(
                    &format!("CPU/msg ≤ {tcp_limit}× raw TCP"),
                    &cell.label(),
                    format!("{:.2}×", w / t),
                    Some(w <= tcp_limit * t),
                );
            }
        } else if let Some(w) = wsx {
            row("CPU/msg ≤ 0.7 µs (pipelined)", &cell.label(), format!("{w:.2} µs"), Some(w <= 0.7 || cell.size > 16));
            if let Some((name, b)) = best_of(&BATCHED, table, cell, key, true) {
                row(
                    "CPU/msg ≤ 1× best hand-batched peer",
                    &cell.label(),
                    format!("{:.2}× {}", w / b, display(&name)),
                    Some(w <= b),
                );
            }
        }
        let thr = median_of(table, cell, "wsx", "msgs_per_s");
        if let (Some(w), Some((name, b))) = (thr, best_peer(table, cell, "msgs_per_s", false)) {
            row("throughput ≥ best peer", &cell.label(), format!("{:.2}× {}", w / b, display(&name)), Some(w >= b));
        }
    }
    let idle_wsx = idle.get("wsx").and_then(|r| metric(r, "rss_per_conn_kib"));
    row(
        "idle connection ≤ 4 KiB RSS",
        "idle",
        idle_wsx.map_or("—".into(), |s| format!("{:.1} KiB", s.median)),
        idle_wsx.map(|s| s.median <= 4.0),
    );
}

fn chart(path: &str, table: &Table, servers: &[&str]) -> Result<(), Box<dyn std::error::Error>> {
    let cells: Vec<&Cell> = table.keys().collect();
    let shown: Vec<&str> = servers.iter().copied().filter(|s| *s != "tcp").collect();
    let ratio = |cell: &Cell, s: &str| -> Option<f64> {
        let t = median_of(table, cell, "tcp", "server_cpu_us_per_msg")?;
        Some(median_of(table, cell, s, "server_cpu_us_per_msg")? / t)
    };
    let cap = 6.0;
    let n = cells.len().max(1) as i32;
    let root = SVGBackend::new(path, (1280, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Server CPU time per message, relative to a raw TCP echo (1.0 = the ceiling; lower is better)",
            ("sans-serif", 18),
        )
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
    root.present()?;
    Ok(())
}

fn main() {
    let args = parse_args();
    let input = std::fs::read_to_string(&args.input).unwrap_or_else(|e| {
        eprintln!("cannot read {}: {e}", args.input);
        std::process::exit(1)
    });
    let lock = std::fs::read_to_string(&args.lock).unwrap_or_default();
    let versions = lock_versions(&lock);
    let mut table: Table = BTreeMap::new();
    let mut idle: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut meta = None;
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
        if v["idle"].as_bool() == Some(true) {
            idle.entry(server).or_default().push(v);
        } else if v.get("failed").is_none() {
            table.entry(Cell::of(&v)).or_default().entry(server).or_default().push(v);
        }
    }
    let present: Vec<&str> = SERVERS
        .iter()
        .copied()
        .filter(|s| table.values().any(|m| m.contains_key(*s)) || idle.contains_key(*s))
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
    md.push_str("Each server is an echo server pinned to the server cores with the runtime threads given under \"This run\" (one thread: a current-thread tokio runtime); the neutral generator `bench/src/bin/loadgen.rs` runs on the generator cores with pre-built masked frames and its own frame parser. Servers run one after the other within each cell, in an order rotated every round (A/B interleaved), each in a fresh process. `cell` is message size × connections.\n\n");
    if let Some(m) = &meta {
        md.push_str("### This run\n\n");
        if let Some(obj) = m.as_object() {
            for (k, v) in obj.iter().filter(|(k, _)| *k != "meta") {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                let _ = writeln!(md, "- {k}: {v}");
            }
        }
        md.push('\n');
    }
    md.push_str("### Versions\n\n");
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

    cpu_table(&mut md, &table, &present);
    simple_table(
        &mut md,
        &table,
        &present,
        "Throughput (messages/s, higher is better)",
        "Echoes completed per second; on two cores the generator often saturates first, so read this next to the CPU table.",
        "msgs_per_s",
    );
    latency_table(&mut md, &table, &present);
    simple_table(
        &mut md,
        &table,
        &present,
        "Server peak RSS (KiB)",
        "`VmHWM` of the server process at the end of the cell.",
        "server_peak_rss_kib",
    );
    md.push_str("\n## Idle connections\n\n");
    let _ = writeln!(
        md,
        "Server RSS growth per connection after {} idle WebSocket connections (handshake done, no traffic, 2 s to settle), median (min–max) in KiB.\n",
        idle.values().flatten().filter_map(|v| v["opened"].as_u64()).max().unwrap_or(0)
    );
    md.push_str("| server | KiB per idle connection |\n|---|---:|\n");
    for s in &present {
        let _ =
            writeln!(md, "| {} | {} |", display(s), fmt_stat(idle.get(*s).and_then(|r| metric(r, "rss_per_conn_kib"))));
    }
    batched_table(&mut md, &table);
    targets(&mut md, &table, &idle);
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
    if let Err(e) = chart(&args.svg, &table, &present) {
        eprintln!("chart: {e}");
        std::process::exit(1);
    }
}
