#!/usr/bin/env bash
# Latency under load: each echo server at a fixed offered rate, latency from
# each message's scheduled send time (coordinated omission corrected), at
# 50 % and 90 % of the best server's capacity.
#
#   bash bench/latency.sh                  # 1 round
#   ROUNDS=3 SECS=10 bash bench/latency.sh
#
# Capacity: the neutral generator (loadgen, closed loop, CONNS connections,
# one message in flight each) against every server; the best msgs/s is the
# reference. Then `wsx bench --rate R` (open loop: sends on a timetable, so
# a stalled server is charged for every message it delayed) against every
# server at 50 % and 90 % of that reference, same connections and size.
# Servers as in bench/run.sh (SERVERS, SERVER_CPU, GEN_CPU, SERVER_THREADS);
# builds nothing: run `cargo build --release -p wsx-cli` and bench/run.sh's
# build (or `cd bench && cargo build --release --bins`) first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
bin=$here/target/release
wsx=${CARGO_TARGET_DIR:-$root/target}/release/wsx
servers=(${SERVERS:-wsx bun fastwebsockets sockudo yawc tungstenite})
rounds=${ROUNDS:-1} secs=${SECS:-5} conns=${CONNS:-100} size=${SIZE:-16}
server_cpu=${SERVER_CPU:-0} gen_cpu=${GEN_CPU:-1} server_threads=${SERVER_THREADS:-1}
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

start() {
    local cmd="$bin/echo_$1"
    [ "$1" = bun ] && cmd="$here/bun/node_modules/.bin/bun $here/bun/echo.js"
    # shellcheck disable=SC2086
    taskset -c "$server_cpu" $cmd --threads "$server_threads" --listen 127.0.0.1:0 >"$work/out" 2>&1 &
    pid=$!
    for _ in $(seq 100); do grep -q '^listening on ' "$work/out" && break; sleep 0.05; done
    addr=$(awk '/^listening on /{print $3; exit}' "$work/out")
}
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=; }
field() { grep -o "\"$1\":[0-9.]*" | head -1 | cut -d: -f2; }

declare -A capacity
for name in "${servers[@]}"; do
    start "$name"
    line=$(taskset -c "$gen_cpu" "$bin/loadgen" --url "ws://$addr/echo" --connections "$conns" --size "$size" \
        --duration "$secs" --warmup 1 --sources 8)
    stop
    capacity[$name]=$(echo "$line" | field msgs_per_s | cut -d. -f1)
    echo "capacity $name: ${capacity[$name]} msg/s (closed loop, $conns connections)"
done
best=0
for name in "${servers[@]}"; do ((capacity[$name] > best)) && best=${capacity[$name]}; done
echo "reference: $best msg/s"
for round in $(seq "$rounds"); do
    for load in 50 90; do
        rate=$((best * load / 100))
        for name in "${servers[@]}"; do
            start "$name"
            report=$(taskset -c "$gen_cpu" "$wsx" bench "ws://$addr/echo" -c "$conns" --size "$size" --rate "$rate" \
                -d "$secs" --warmup 1 -t 1 --json 2>/dev/null || true)
            stop
            lat=$(echo "$report" | grep -o '"latency_us":{[^}]*}')
            printf 'round %s  %3s %%  %-15s p50 %6s µs  p99 %6s µs  p99.9 %6s µs  errors %s\n' "$round" "$load" "$name" \
                "$(echo "$lat" | field p50)" "$(echo "$lat" | field p99)" "$(echo "$lat" | field p99_9)" \
                "$(echo "$report" | field errors)"
        done
    done
done
