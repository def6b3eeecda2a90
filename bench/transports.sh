#!/usr/bin/env bash
# Server CPU per echoed message over HTTP/1.1 and over HTTP/2 (RFC 8441):
# the same `wsx serve` (pinned to core 1) and the same generator (`wsx bench`,
# one thread on core 0, 100 connections, one message in flight each),
# interleaved, for each message size. CPU time from /proc/PID/stat.
#
#   cargo build --release -p wsx-cli && bash bench/transports.sh [ROUNDS] [SECS]
#
# Each HTTP/2 connection carries one WebSocket here (the issue's "100
# connections of 1 socket" cell).
set -u
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
wsx="${CARGO_TARGET_DIR:-$root/target}/release/wsx"
rounds="${1:-2}" secs="${2:-4}" port=9450
ticks="$(getconf CLK_TCK)"
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for size in 16 1024 65536; do
    for round in $(seq "$rounds"); do
        for transport in http/1.1 h2; do
            taskset -c 1 "$wsx" serve --listen "127.0.0.1:$port" --keepalive 0 --no-compress >/dev/null 2>&1 &
            pid=$!
            sleep 0.5
            extra=()
            [[ "$transport" == h2 ]] && extra=(--http2)
            before="$(cpu "$pid")"
            report="$(taskset -c 0 "$wsx" bench "ws://127.0.0.1:$port/echo" -c 100 -k 1 --size "$size" \
                -d "$secs" --warmup 1 -t 1 "${extra[@]}" --json 2>/dev/null)"
            after="$(cpu "$pid")"
            kill "$pid"
            wait "$pid" 2>/dev/null
            python3 - "$report" "$before" "$after" "$ticks" "$size" "$transport" "$round" <<'PY'
import json, sys
report, before, after, ticks, size, transport, rnd = sys.argv[1:]
r = json.loads(report)
messages = r["messages"] + r.get("warmup_messages", 0)
micros = (float(after) - float(before)) / float(ticks) * 1e6
print(f"{size:>6} B  {transport:<8} round {rnd}: {micros / messages:7.2f} µs server CPU per message ({messages} messages)")
PY
        done
    done
done
