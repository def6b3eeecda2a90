#!/usr/bin/env bash
# Fan-out: one publisher, many subscribers of one topic, on one server core.
#
#   cargo build --release -p wsx-cli && (cd bench && cargo build --release --bin rooms-load --bin fanout_sockudo)
#   bash bench/fanout.sh [ROUNDS] [MEMBERS] [MESSAGES]
#
# Servers, each pinned to core 1 (the generator, rooms-load, on core 0):
#   wsx-broadcast  `wsx serve`'s /broadcast: a room without envelope,
#                  presence or history; each message encoded once
#                  (PreparedMessage) and queued for every member
#   wsx-rooms      `wsx serve`'s /rooms/load: the same fan-out with the JSON
#                  envelope, offsets and history (the in-process broker)
#   sockudo        sockudo-ws's PubSub (bench/src/bin/fanout_sockudo.rs): the
#                  same topic, a task per socket draining an unbounded channel
#   bun            Bun's built-in server (uWebSockets inside) publishing to
#                  a topic (bench/bun/fanout.js; a JavaScript runtime: its
#                  message handler is JavaScript, the fan-out is C++)
# Reports messages delivered per second (the publisher stays at most 256
# messages ahead of the slowest subscriber) and the server's resident
# memory per subscriber once all have joined, for each round, interleaved.
set -u
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
wsx="${CARGO_TARGET_DIR:-$root/target}/release/wsx"
load="$root/bench/target/release/rooms-load"
sockudo="$root/bench/target/release/fanout_sockudo"
bun="$root/bench/bun/node_modules/.bin/bun"
rounds="${1:-3}" members="${2:-1000}" messages="${3:-2000}" port=9550
for tool in "$wsx" "$load" "$sockudo"; do
    [[ -x "$tool" ]] || { echo "fanout.sh: build $tool first (see the top of this script)" >&2; exit 1; }
done
if [[ ! -x "$bun" ]]; then
    (cd "$root/bench/bun" && npm ci --no-audit --no-fund --loglevel=error) || exit 1
fi
ulimit -n "$((members * 2 + 1024))" 2>/dev/null || echo "fanout.sh: cannot raise the descriptor limit" >&2
echo "# fan-out on one server core: $members members of one topic, $messages messages of 64 B"
echo "# wsx $(git -C "$root" rev-parse --short HEAD), Bun $("$bun" --version), $(nproc) cores, $(date -u +%FT%TZ)"
for round in $(seq "$rounds"); do
    for server in wsx-broadcast wsx-rooms sockudo bun; do
        port=$((port + 1))
        case "$server" in
            bun) taskset -c 1 "$bun" "$root/bench/bun/fanout.js" --listen "127.0.0.1:$port" >/dev/null 2>&1 & ;;
            sockudo) taskset -c 1 "$sockudo" --listen "127.0.0.1:$port" --threads 1 >/dev/null 2>&1 & ;;
            *) taskset -c 1 "$wsx" serve --listen "127.0.0.1:$port" --keepalive 0 --no-compress \
                --history 1000 >/dev/null 2>&1 & ;;
        esac
        pid=$!
        sleep 1
        case "$server" in
            wsx-broadcast) path=(--path /broadcast) ;;
            wsx-rooms) path=() ;;
            bun | sockudo) path=(--path /) ;;
        esac
        line="$(taskset -c 0 "$load" --node "127.0.0.1:$port" --members "$members" --messages "$messages" \
            --size 64 --server-pid "$pid" "${path[@]}" 2>&1)"
        echo "round $round  $(printf '%-14s' "$server") $line"
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
done
