#!/usr/bin/env bash
# WebSocket over HTTP/2 (RFC 8441) against WebSocket over HTTP/1.1 on the
# same server and the same generator.
#
#   cargo build --release -p wsx-cli && (cd bench && cargo build --release --bin idle_sockets)
#   bash bench/transports.sh [ROUNDS] [SECS]
#
# 1. Server CPU per echoed message: the same `wsx serve` (pinned to core 1)
#    and the same generator (`wsx bench`, one thread on core 0, 100
#    WebSockets, one message in flight each), interleaved, for 16 B, 1 KiB
#    and 64 KiB, in three shapes:
#      http/1.1  100 TCP connections, one WebSocket each
#      h2        100 HTTP/2 connections, one WebSocket (stream) each
#      h2x100    one HTTP/2 connection carrying the 100 WebSockets
#    CPU time (user + system) from /proc/PID/stat.
# 2. Server memory per idle WebSocket (VmRSS growth over IDLE sockets,
#    default 2000, `bench/src/bin/idle_sockets.rs`), opened and then after
#    each has echoed one message, in the same three shapes.
set -u
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
wsx="${CARGO_TARGET_DIR:-$root/target}/release/wsx"
idle="$root/bench/target/release/idle_sockets"
rounds="${1:-2}" secs="${2:-4}" port=9450 idle_count="${IDLE:-2000}"
ticks="$(getconf CLK_TCK)"
ulimit -n "$((idle_count * 2 + 1024))" 2>/dev/null || echo "transports.sh: cannot raise the descriptor limit for $idle_count sockets" >&2
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
start_server() {
    port=$((port + 1))
    taskset -c 1 "$wsx" serve --listen "127.0.0.1:$port" --keepalive 0 --no-compress >/dev/null 2>&1 &
    pid=$!
    sleep 0.5
}
stop_server() {
    kill "$pid"
    wait "$pid" 2>/dev/null
}

echo "# server CPU per message (100 WebSockets, 1 in flight each)"
for size in 16 1024 65536; do
    for round in $(seq "$rounds"); do
        for shape in http/1.1 h2 h2x100; do
            start_server
            case "$shape" in
                http/1.1) extra=() ;;
                h2) extra=(--http2) ;;
                h2x100) extra=(--streams 100) ;;
            esac
            before="$(cpu "$pid")"
            report="$(taskset -c 0 "$wsx" bench "ws://127.0.0.1:$port/echo" -c 100 -k 1 --size "$size" \
                -d "$secs" --warmup 1 -t 1 "${extra[@]}" --json 2>/dev/null)"
            after="$(cpu "$pid")"
            stop_server
            python3 - "$report" "$before" "$after" "$ticks" "$size" "$shape" "$round" <<'PY'
import json, sys
report, before, after, ticks, size, shape, rnd = sys.argv[1:]
r = json.loads(report)
messages = r["messages"] + r.get("warmup_messages", 0)
micros = (float(after) - float(before)) / float(ticks) * 1e6
print(f"{size:>6} B  {shape:<8} round {rnd}: {micros / messages:7.2f} µs server CPU per message ({messages} messages, {r['messages_per_s']:.0f} msg/s)")
PY
        done
    done
done

if [[ ! -x "$idle" ]]; then
    echo "transports.sh: $idle is missing: (cd bench && cargo build --release --bin idle_sockets)" >&2
    exit 1
fi
echo "# server memory per idle WebSocket ($idle_count sockets)"
for shape in http/1.1 h2 h2x100; do
    start_server
    case "$shape" in
        http/1.1) extra=() ;;
        h2) extra=(--streams 1) ;;
        h2x100) extra=(--streams 100) ;;
    esac
    report="$("$idle" --url "ws://127.0.0.1:$port/echo" --sockets "$idle_count" --server-pid "$pid" "${extra[@]}" --echo)"
    stop_server
    python3 - "$report" "$shape" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"{sys.argv[2]:<8} {r['rss_per_socket_kib']:6.2f} KiB per socket opened, {r['rss_per_socket_after_echo_kib']:6.2f} KiB after one echo each")
PY
done
