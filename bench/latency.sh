#!/usr/bin/env bash
# Latency under load: each echo server at a fixed offered rate, latency from
# each message's scheduled send time (coordinated omission corrected), at
# 50 % and 90 % of the best peer's capacity.
#
#   bash bench/latency.sh                  # 1 round
#   ROUNDS=3 SECS=10 bash bench/latency.sh
#
# Capacity: the neutral generator (loadgen, closed loop, CONNS connections,
# one message in flight each) against every server; the best peer's msgs/s
# is the reference (wsx's own capacity does not set the load). Then `wsx bench --rate R` (open loop: sends on a timetable, so
# a stalled server is charged for every message it delayed) against every
# server at 50 % and 90 % of that reference, same connections and size.
# Ends with the medians over the rounds and wsx's p99 against the best
# peer's at each load.
# Servers as in bench/run.sh (SERVERS, SERVER_CPU, GEN_CPU, SERVER_THREADS);
# builds nothing: run `cargo build --release -p wsx-cli` and bench/run.sh's
# build (or `cd bench && cargo build --release --bins`) first.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
bin=$here/target/release
wsx=${CARGO_TARGET_DIR:-$root/target}/release/wsx
servers=(${SERVERS:-wsx wsx_serve bun fastwebsockets sockudo yawc tungstenite})
rounds=${ROUNDS:-1} secs=${SECS:-5} conns=${CONNS:-100} size=${SIZE:-16}
server_cpu=${SERVER_CPU:-0} gen_cpu=${GEN_CPU:-1} server_threads=${SERVER_THREADS:-1}
work=$(mktemp -d)
server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT
# shellcheck source=bench/servers.sh
source "$here/servers.sh"
field() { grep -o "\"$1\":[0-9.]*" | head -1 | cut -d: -f2; }

declare -A capacity
for name in "${servers[@]}"; do
    start_server "$name"
    line=$(taskset -c "$gen_cpu" "$bin/loadgen" --url "ws://$server_addr/echo" --connections "$conns" --size "$size" \
        --duration "$secs" --warmup 1 --sources 8)
    stop_server
    capacity[$name]=$(echo "$line" | field msgs_per_s | cut -d. -f1)
    echo "capacity $name: ${capacity[$name]} msg/s (closed loop, $conns connections)"
done
# The reference is the best peer's capacity: wsx's own does not set the load.
best=0 best_name=
for name in "${servers[@]}"; do
    [[ $name == wsx* ]] && continue
    if ((capacity[$name] > best)); then best=${capacity[$name]} best_name=$name; fi
done
((best > 0)) || { echo "bench/latency.sh: no peer among SERVERS to set the load" >&2; exit 1; }
echo "reference: $best msg/s ($best_name)"
for round in $(seq "$rounds"); do
    for load in 50 90; do
        rate=$((best * load / 100))
        for name in "${servers[@]}"; do
            start_server "$name"
            report=$(taskset -c "$gen_cpu" "$wsx" bench "ws://$server_addr/echo" -c "$conns" --size "$size" --rate "$rate" \
                -d "$secs" --warmup 1 -t 1 --json 2>/dev/null || true)
            stop_server
            lat=$(echo "$report" | grep -o '"latency_us":{[^}]*}')
            p50=$(echo "$lat" | field p50) p99=$(echo "$lat" | field p99) p999=$(echo "$lat" | field p99_9)
            errors=$(echo "$report" | field errors)
            printf 'round %s  %3s %%  %-15s p50 %6s µs  p99 %6s µs  p99.9 %6s µs  errors %s\n' "$round" "$load" "$name" \
                "$p50" "$p99" "$p999" "$errors"
            [ -n "$p99" ] && echo "$load $name ${p50:-0} $p99 ${p999:-0} ${errors:-0}" >>"$work/results"
        done
    done
done

# Medians over the rounds, then wsx's p99 against the best peer's.
echo
echo "medians over $rounds round(s), µs (load % of $best msg/s):"
printf '%-5s %-15s %8s %8s %8s %7s\n' load server p50 p99 p99.9 errors
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
for load in 50 90; do
    best_p99=
    unset p99_of_wsx p99_of_wsx_serve
    for name in "${servers[@]}"; do
        row=$(awk -v l="$load" -v n="$name" '$1 == l && $2 == n' "$work/results" 2>/dev/null || true)
        [ -n "$row" ] || continue
        p50=$(echo "$row" | awk '{ print $3 }' | median)
        p99=$(echo "$row" | awk '{ print $4 }' | median)
        p999=$(echo "$row" | awk '{ print $5 }' | median)
        errors=$(echo "$row" | awk '{ s += $6 } END { print s }')
        printf '%-5s %-15s %8s %8s %8s %7s\n' "$load%" "$name" "$p50" "$p99" "$p999" "$errors"
        eval "p99_of_${name}=$p99"
        if [[ $name != wsx* ]] && { [ -z "$best_p99" ] || awk -v a="$p99" -v b="$best_p99" 'BEGIN { exit !(a < b) }'; }; then
            best_p99=$p99
        fi
    done
    for ours in wsx wsx_serve; do
        var="p99_of_$ours"
        [ -n "${!var:-}" ] && [ -n "$best_p99" ] &&
            echo "$load%: $ours p99 ÷ best peer's p99 = $(awk -v a="${!var}" -v b="$best_p99" 'BEGIN { printf "%.2f", a / b }')"
    done
done
