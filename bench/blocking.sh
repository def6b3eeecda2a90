#!/usr/bin/env bash
# The blocking drivers, thread per connection: wsx-blocking's echo server
# (src/bin/echo_blocking_wsx.rs) against tungstenite's
# (src/bin/echo_blocking_tungstenite.rs), driven by the neutral generator
# (src/bin/loadgen.rs) as bench/run.sh drives the async servers: server
# pinned to SERVER_CPU, generator to GEN_CPU, server CPU time per echoed
# message from /proc/PID/stat inside the measured window.
#
#   bash bench/blocking.sh                     # 3 rounds of 4 s, 16 B and 64 KiB, 100 connections
#   ROUNDS=1 DURATION=2 bash bench/blocking.sh   # a quick look
#
# Environment: ROUNDS (3), DURATION (4 s), WARMUP (1 s), CELLS ("SIZE:CONNS
# ...", default "16:100 65536:100"), SERVER_CPU (0), GEN_CPU (1). The
# servers alternate within each round, the first one changing by round.
# Prints each run, then per cell the median µs/msg of each server and the
# ratio wsx-blocking / tungstenite.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
rounds=${ROUNDS:-3}
duration=${DURATION:-4}
warmup=${WARMUP:-1}
cells=(${CELLS:-16:100 65536:100})
server_cpu=${SERVER_CPU:-0}
gen_cpu=${GEN_CPU:-1}
servers=(blocking_wsx blocking_tungstenite)

command -v taskset >/dev/null || { echo "bench/blocking.sh: taskset is missing" >&2; exit 1; }
echo "building the servers and the generator (release)..." >&2
(cd "$here" && cargo build --release --bin loadgen --bin echo_blocking_wsx --bin echo_blocking_tungstenite)
bin=${CARGO_TARGET_DIR:-$here/target}/release

work=$(mktemp -d /tmp/wsx-blocking-bench.XXXXXX)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_server() { # name -> server_pid, server_addr
    : >"$work/server.out"
    taskset -c "$server_cpu" "$bin/echo_$1" --listen 127.0.0.1:0 >"$work/server.out" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
        grep -q '^listening on ' "$work/server.out" && break
        sleep 0.05
    done
    server_addr=$(awk '/^listening on /{print $3; exit}' "$work/server.out")
    [ -n "$server_addr" ] || { echo "bench/blocking.sh: echo_$1 did not start: $(cat "$work/server.out")" >&2; exit 1; }
}

stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}

field() { grep -o "\"$1\":[0-9.]*" | cut -d: -f2; }

echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
: >"$work/results"
for round in $(seq "$rounds"); do
    for ci in "${!cells[@]}"; do
        IFS=: read -r size conns <<<"${cells[$ci]}"
        for k in 0 1; do
            name=${servers[$(((k + round + ci) % 2))]}
            start_server "$name"
            line=$(taskset -c "$gen_cpu" "$bin/loadgen" --url "ws://$server_addr/echo" --server-pid "$server_pid" \
                --sources 8 --connections "$conns" --size "$size" --inflight 1 --duration "$duration" --warmup "$warmup")
            stop_server
            us=$(field server_cpu_us_per_msg <<<"$line")
            rate=$(field msgs_per_s <<<"$line" | cut -d. -f1)
            errors=$(field errors <<<"$line")
            echo "round $round ${size} B × $conns $name: $us µs/msg, $rate msgs/s, errors $errors" >&2
            echo "$size $conns $name $us" >>"$work/results"
        done
    done
done

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf '\n| cell | wsx-blocking µs/msg | tungstenite µs/msg | wsx-blocking / tungstenite |\n|---|---:|---:|---:|\n'
for cell in "${cells[@]}"; do
    IFS=: read -r size conns <<<"$cell"
    wsx=$(awk -v s="$size" -v c="$conns" '$1 == s && $2 == c && $3 == "blocking_wsx" { print $4 }' "$work/results" | median)
    tung=$(awk -v s="$size" -v c="$conns" '$1 == s && $2 == c && $3 == "blocking_tungstenite" { print $4 }' "$work/results" | median)
    awk -v s="$size" -v c="$conns" -v a="$wsx" -v b="$tung" \
        'BEGIN { printf "| %s B × %s | %.1f | %.1f | %.2f |\n", s, c, a, b, a / b }'
done
