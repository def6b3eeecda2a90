#!/usr/bin/env bash
# WebSocket over HTTP/3 (RFC 9220, QUIC) against WebSocket over HTTP/2
# (RFC 8441) and HTTP/1.1, all over TLS (QUIC always is), on the same
# server and the same generator.
#
#   cargo build --release -p wsx-cli
#   bash bench/transports_h3.sh [ROUNDS] [SECS]
#
# Server CPU per echoed message: the same `wsx serve --http3` (pinned to
# core 1, a throw-away certificate) and the same generator (`wsx bench
# --insecure`, one thread on core 0, 100 WebSockets, one message in flight
# each), interleaved, for 16 B, 1 KiB and 64 KiB, in five shapes:
#   wss/1.1   100 TLS connections, one WebSocket each (HTTP/1.1 upgrade)
#   wss/h2    100 TLS connections with ALPN h2, one WebSocket (stream) each
#   h2x100    one TLS connection with ALPN h2 carrying the 100 WebSockets
#   h3        100 QUIC connections, one WebSocket (request stream) each
#   h3x100    one QUIC connection carrying the 100 WebSockets
# CPU time (user + system) from /proc/PID/stat. Needs openssl for the
# certificate.
set -u
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
wsx="${CARGO_TARGET_DIR:-$root/target}/release/wsx"
rounds="${1:-2}" secs="${2:-4}" port=9470
ticks="$(getconf CLK_TCK)"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
start_server() {
    port=$((port + 1))
    taskset -c 1 "$wsx" serve --listen "127.0.0.1:$port" --keepalive 0 --no-compress \
        --tls-cert "$dir/cert.pem" --tls-key "$dir/key.pem" --http3 >/dev/null 2>&1 &
    pid=$!
    sleep 0.5
}
stop_server() {
    kill "$pid"
    wait "$pid" 2>/dev/null
}

echo "# server CPU per message over TLS (100 WebSockets, 1 in flight each)"
for size in 16 1024 65536; do
    for round in $(seq "$rounds"); do
        for shape in wss/1.1 wss/h2 h2x100 h3 h3x100; do
            start_server
            case "$shape" in
                wss/1.1) extra=() ;;
                wss/h2) extra=(--http2) ;;
                h2x100) extra=(--streams 100) ;;
                h3) extra=(--http3) ;;
                h3x100) extra=(--http3 --streams 100) ;;
            esac
            before="$(cpu "$pid")"
            report="$(taskset -c 0 "$wsx" bench "wss://127.0.0.1:$port/echo" --insecure -c 100 -k 1 --size "$size" \
                -d "$secs" --warmup 1 -t 1 "${extra[@]}" --json 2>/dev/null)"
            after="$(cpu "$pid")"
            stop_server
            python3 - "$report" "$before" "$after" "$ticks" "$size" "$shape" "$round" <<'PY'
import json, sys
report, before, after, ticks, size, shape, rnd = sys.argv[1:]
try:
    r = json.loads(report)
except json.JSONDecodeError:
    print(f"{size:>6} B  {shape:<8} round {rnd}: no report")
    sys.exit(0)
messages = r["messages"] + r.get("warmup_messages", 0)
micros = (float(after) - float(before)) / float(ticks) * 1e6
per = micros / messages if messages else float("nan")
print(f"{size:>6} B  {shape:<8} round {rnd}: {per:7.2f} µs server CPU per message ({messages} messages, {r['messages_per_s']:.0f} msg/s)")
PY
        done
    done
done
