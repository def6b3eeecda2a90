#!/usr/bin/env bash
# `wsx bench` against the neutral generator bench/src/bin/loadgen.rs: is the
# CLI's load generator ever the bottleneck?
#
#   bash bench/cli_bench.sh                    # 3 rounds, 5 s per run, two cells
#   ROUNDS=1 DURATION=2 bash bench/cli_bench.sh  # a quick look
#
# Builds the release binaries (`wsx` at the repository root, honouring
# CARGO_TARGET_DIR; `loadgen` and `echo_wsx` in bench/, in bench/target as
# bench/run.sh does), then for each cell and round starts a fresh `echo_wsx`
# (the fastest WebSocket echo here, see docs/bench/results.md; one
# current-thread runtime) pinned to SERVER_CPU, and runs `loadgen` and
# `wsx bench --threads 1` one after the other (order alternating by round),
# each pinned to GEN_CPU with the same connections, size and messages in
# flight. For each run it records the echoes per second (the generator's own
# report) and the generator's CPU time per message: utime + stime from
# /proc/PID/stat, sampled inside the measured window, divided by the echoes
# in that window. With the server on the other core either side may be the
# limit: a generator near 100% CPU is the limit; the CPU time per message
# compares the generators' own costs either way.
#
# Environment: ROUNDS (3), DURATION (5 s measured), WARMUP (1 s),
# CELLS ("CONNS:SIZE:INFLIGHT ...", default "100:16:1 100:16:16"),
# SERVER_CPU (1), GEN_CPU (0). Prints a table of medians and the ratios.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
rounds=${ROUNDS:-3}
duration=${DURATION:-5}
warmup=${WARMUP:-1}
cells=(${CELLS:-100:16:1 100:16:16})
server_cpu=${SERVER_CPU:-1}
gen_cpu=${GEN_CPU:-0}

for tool in taskset cargo awk getconf; do
    command -v "$tool" >/dev/null || {
        echo "bench/cli_bench.sh: $tool is missing" >&2
        exit 1
    }
done

echo "building wsx (release) and the bench binaries (bench/target, release)..." >&2
(cd "$root" && cargo build --release -p wsx-cli)
(cd "$here" && CARGO_TARGET_DIR="$here/target" cargo build --release --bin loadgen --bin echo_wsx)
wsx=${CARGO_TARGET_DIR:-$root/target}/release/wsx
bin=$here/target/release
[ -x "$wsx" ] || {
    echo "bench/cli_bench.sh: $wsx not found" >&2
    exit 1
}

work=$(mktemp -d /tmp/wsx-cli-bench.XXXXXX)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ticks=$(getconf CLK_TCK)

# The echo server: echo_wsx on a current-thread runtime.
server_threads=1
# shellcheck source=bench/servers.sh
source "$here/servers.sh"

cpu_ticks() { # pid -> utime + stime, in clock ticks (fields 14 and 15; the name may hold spaces)
    sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

now() { date +%s.%N; }

# Runs one generator pinned to GEN_CPU; appends "gen cell msgs_per_s cpu_pct us_per_msg errors" to results.
run_gen() { # gen cell json-field command...
    local gen=$1 cell=$2 field=$3
    shift 3
    taskset -c "$gen_cpu" "$@" >"$work/gen.out" 2>"$work/gen.err" &
    local pid=$!
    # Sample inside the measured window: a little after the warm-up ends,
    # a little before the measurement does.
    sleep "$(awk -v w="$warmup" 'BEGIN { print w + 0.3 }')"
    local c1 t1 c2 t2
    c1=$(cpu_ticks "$pid") t1=$(now)
    sleep "$(awk -v d="$duration" 'BEGIN { print (d > 1 ? d - 0.6 : d / 2) }')"
    c2=$(cpu_ticks "$pid") t2=$(now)
    if ! wait "$pid"; then
        echo "  $cell $gen: exit status $? ($(head -c 300 "$work/gen.err"))" >&2
    fi
    local rate errors
    rate=$(grep -o "\"$field\":[0-9.e+-]*" "$work/gen.out" | head -1 | cut -d: -f2)
    errors=$(grep -o '"errors":[0-9]*' "$work/gen.out" | head -1 | cut -d: -f2)
    [ -n "$rate" ] || {
        echo "bench/cli_bench.sh: no $field from $gen: $(head -c 300 "$work/gen.out") $(head -c 300 "$work/gen.err")" >&2
        exit 1
    }
    awk -v g="$gen" -v cell="$cell" -v r="$rate" -v c1="$c1" -v c2="$c2" -v t1="$t1" -v t2="$t2" -v hz="$ticks" -v e="${errors:-0}" \
        'BEGIN { cpu = (c2 - c1) / hz / (t2 - t1); printf "%s %s %.0f %.1f %.3f %d\n", g, cell, r, cpu * 100, cpu / r * 1e6, e }' \
        | tee -a "$work/results" | awk '{ printf "  %-10s %-9s %10s msg/s  CPU %5s%%  %s µs/msg  errors %s\n", $2, $1, $3, $4, $5, $6 }' >&2
}

echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
: >"$work/results"
for round in $(seq "$rounds"); do
    echo "round $round of $rounds" >&2
    for cell in "${cells[@]}"; do
        IFS=: read -r conns size inflight <<<"$cell"
        gens=(loadgen wsx)
        [ $((round % 2)) -eq 0 ] && gens=(wsx loadgen)
        for gen in "${gens[@]}"; do
            start_server wsx
            if [ "$gen" = loadgen ]; then
                run_gen loadgen "$cell" msgs_per_s "$bin/loadgen" --url "ws://$server_addr/echo" \
                    --connections "$conns" --size "$size" --inflight "$inflight" \
                    --duration "$duration" --warmup "$warmup"
            else
                run_gen wsx "$cell" messages_per_s "$wsx" bench "ws://$server_addr/echo" --threads 1 \
                    -c "$conns" --size "$size" -k "$inflight" -d "$duration" --warmup "$warmup" --json
            fi
            stop_server
        done
    done
done

echo
echo "Medians over $rounds round(s), ${duration} s measured after ${warmup} s of warm-up; server echo_wsx on CPU $server_cpu, generators on CPU $gen_cpu."
echo "cell = connections:size:in-flight. ratio = wsx bench ÷ loadgen (msg/s: higher is better; µs/msg: lower is better)."
echo
echo "| cell | loadgen msg/s | wsx bench msg/s | msg/s ratio | loadgen CPU | wsx bench CPU | loadgen µs/msg | wsx bench µs/msg | µs/msg ratio |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for cell in "${cells[@]}"; do
    median() { # gen column
        awk -v g="$1" -v c="$cell" -v k="$2" '$1 == g && $2 == c { print $k }' "$work/results" | sort -g |
            awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
    }
    lr=$(median loadgen 3) wr=$(median wsx 3) lc=$(median loadgen 4) wc=$(median wsx 4)
    lu=$(median loadgen 5) wu=$(median wsx 5)
    awk -v cell="$cell" -v lr="$lr" -v wr="$wr" -v lc="$lc" -v wc="$wc" -v lu="$lu" -v wu="$wu" 'BEGIN {
        printf "| %s | %.0f | %.0f | %.2f | %.0f%% | %.0f%% | %.3f | %.3f | %.2f |\n", cell, lr, wr, wr / lr, lc, wc, lu, wu, wu / lu }'
done
