#!/usr/bin/env bash
# End-to-end echo benchmark: wsx (the library's echo loop, bench/src/bin/
# echo_wsx.rs, and `wsx serve`'s /echo) against Bun (uWebSockets),
# fastwebsockets, sockudo-ws, yawc, tokio-tungstenite and a raw TCP echo,
# with the neutral generator in bench/src/bin/loadgen.rs. Bun comes from npm (bench/bun,
# installed here by `npm ci` when missing).
#
#   bash bench/run.sh          # full matrix, 3 rounds (long)
#   bash bench/run.sh quick    # a few cells, 1 round, short durations (development)
#   bash bench/run.sh report   # only rebuild results.md and chart.svg from results.jsonl
#
# Writes docs/bench/results.md, docs/bench/chart.svg and the raw JSON lines
# (docs/bench/results.jsonl); quick mode writes to bench/target/quick/.
#
# The matrix runs at one server thread and again at N (CONFIGS below); the
# defaults follow the machine:
#   16+ cores: 1 thread on core 0 against a 4-thread generator on cores 8-11,
#              then 8 threads on cores 0-7 against 8 generator threads on 8-15;
#   4-15 cores: 1 thread on core 0, generator on core 1, then half the cores
#              each;
#   2-3 cores: 1 thread on core 0, generator on core 1, then 2 threads on
#              core 0: what a multi-thread runtime costs per message (wake-ups
#              across threads, work stealing), not how it scales.
# Environment overrides: ROUNDS, DURATION (s), WARMUP (s), SERVERS ("tcp wsx
# ..."), BATCHED_SERVERS (hand-batched peers for the pipelined cells; "" for
# none), IDLE_CONNS, OUT_DIR, CELLS ("SIZE:CONNS:INFLIGHT:bin|text ...", the
# one-thread matrix), MT_CELLS (the N-thread matrix), CONFIGS
# ("THREADS:SERVER_CORES:GENERATOR_CORES ...", taskset lists: "1:0:1 8:0-7:8-15";
# the generator runs one thread per core it is given), or SERVER_THREADS,
# SERVER_CPU and GEN_CPU for one configuration.
set -euo pipefail

mode=${1:-full}
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
servers=(${SERVERS:-tcp wsx wsx_serve bun fastwebsockets sockudo yawc tungstenite})
# Peers rewritten by hand to flush once per batch of ready replies
# (NAME_batched runs echo_NAME --batched): they join the pipelined cells
# (more than one message in flight) only.
batched=(${BATCHED_SERVERS-yawc_batched tungstenite_batched})
# Configurations: the servers' runtime threads (1: a current-thread runtime;
# Bun runs its JavaScript on one thread whatever it is told), their cores and
# the generator's (taskset lists: "0" or "0-7").
cores=$(nproc)
if [ -n "${SERVER_THREADS:-}${SERVER_CPU:-}${GEN_CPU:-}" ]; then
    default_configs="${SERVER_THREADS:-1}:${SERVER_CPU:-0}:${GEN_CPU:-1}"
elif [ "$cores" -ge 16 ]; then
    default_configs="1:0:8-11 8:0-7:8-15"
elif [ "$cores" -ge 4 ]; then
    half=$((cores / 2))
    default_configs="1:0:1 $half:0-$((half - 1)):$half-$((2 * half - 1))"
else
    default_configs="1:0:1 2:0:1"
fi
configs=(${CONFIGS:-$default_configs})
cpu_count() { # taskset list -> number of cores in it
    local n=0 part
    for part in ${1//,/ }; do
        if [[ $part == *-* ]]; then n=$((n + ${part#*-} - ${part%-*} + 1)); else n=$((n + 1)); fi
    done
    echo "$n"
}

case $mode in
quick)
    rounds=${ROUNDS:-1}
    duration=${DURATION:-1}
    warmup=${WARMUP:-0.3}
    idle_conns=${IDLE_CONNS:-1000}
    out_dir=${OUT_DIR:-$here/target/quick}
    default_cells="16:100:1:bin 65536:100:1:bin 65536:100:1:text 16:100:16:bin"
    default_mt_cells="16:100:1:bin 16:100:16:bin"
    ;;
full)
    rounds=${ROUNDS:-3}
    duration=${DURATION:-4}
    warmup=${WARMUP:-1}
    idle_conns=${IDLE_CONNS:-10000}
    out_dir=${OUT_DIR:-$root/docs/bench}
    default_cells=""
    for size in 16 1024 65536 1048576; do
        for conns in 1 100 1000; do
            default_cells+="$size:$conns:1:bin "
        done
    done
    default_cells+="65536:100:1:text 16:100:16:bin"
    # With N threads: the cells of the benchmark issue's many-core table.
    default_mt_cells="16:1000:1:bin 1024:1000:1:bin 65536:1000:1:bin 16:100:16:bin"
    ;;
report)
    out_dir=${OUT_DIR:-$root/docs/bench}
    rounds=0
    idle_conns=0
    default_cells=""
    default_mt_cells=""
    ;;
*)
    echo "usage: bench/run.sh [quick|full|report]" >&2
    exit 2
    ;;
esac
cells=(${CELLS:-$default_cells})
mt_cells=(${MT_CELLS:-$default_mt_cells})

for tool in taskset cargo; do
    command -v "$tool" >/dev/null || {
        echo "bench/run.sh: $tool is missing (apt-get install util-linux / rustup)" >&2
        exit 1
    }
done

echo "building the servers and the generator (bench/target, release)..." >&2
if [ "$mode" = report ]; then
    (cd "$here" && cargo build --release --bin report)
else
    (cd "$here" && cargo build --release --bins)
    if [[ " ${servers[*]} " == *" wsx_serve "* ]]; then
        (cd "$root" && cargo build --release -p wsx-cli --bin wsx)
    fi
fi
bin=$here/target/release
wsx=${CARGO_TARGET_DIR:-$root/target}/release/wsx
bun_version=none
if [[ " ${servers[*]} " == *" bun "* ]]; then
    if [ ! -x "$here/bun/node_modules/.bin/bun" ]; then
        echo "installing Bun (npm ci in bench/bun)..." >&2
        (cd "$here/bun" && npm ci --no-audit --no-fund --loglevel=error)
    fi
    bun_version=$("$here/bun/node_modules/.bin/bun" --version)
fi

# 10,000 idle connections need as many descriptors on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((idle_conns + 100)) ]; then
    echo "bench/run.sh: RLIMIT_NOFILE $(ulimit -n) is below $idle_conns idle connections; lowering them" >&2
    idle_conns=$(($(ulimit -n) - 100))
fi

work=$(mktemp -d /tmp/wsx-bench.XXXXXX)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$out_dir"
jsonl=$out_dir/results.jsonl
notes=()
[ -f "$here/profile.md" ] && notes=(--notes "$here/profile.md")
report() {
    local run_mode
    run_mode=$(grep -o '"mode": *"[a-z]*"' "$jsonl" | head -1 | cut -d'"' -f4 || true)
    "$bin/report" --input "$jsonl" --lock "$here/Cargo.lock" --md "$out_dir/results.md" --svg "$out_dir/chart.svg" \
        --title "Run: \`bash bench/run.sh ${run_mode:-$mode}\`." "${notes[@]}"
    echo "wrote $out_dir/results.md and $out_dir/chart.svg" >&2
}
if [ "$mode" = report ]; then
    report
    exit 0
fi
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg) (other load on these cores shows as noise)" >&2
: >"$jsonl"

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$root" status --porcelain -- crates 2>/dev/null)" ]; then commit+=" (with uncommitted changes in crates/)"; fi
cpu_model=$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)
printf '{"meta":true,"mode":"%s","rounds":"%s","measured seconds per cell":"%s (at least 10 where more than 64 MiB is in flight)","warm-up seconds":"%s (at least 3 there)","cells at one thread":"%s","cells at more threads":"%s","configurations (server threads:server cores:generator cores)":"%s","idle connections":"%s","wsx commit":"%s","machine":"%s, %s cores, Linux %s","load average at the start":"%s","date":"%s","bun":"%s"}\n' \
    "$mode" "$rounds" "$duration" "$warmup" "${cells[*]}" "${mt_cells[*]}" "${configs[*]}" "$idle_conns" "$commit" "$cpu_model" "$cores" "$(uname -r)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(date -u +%FT%TZ)" "$bun_version" >>"$jsonl"

# shellcheck source=bench/servers.sh
source "$here/servers.sh"

target_args() { # name
    if [ "$1" = tcp ]; then echo "--raw $server_addr"; else echo "--url ws://$server_addr/echo"; fi
}

run_gen() { # name round label args...
    local name=$1 round=$2 label=$3
    shift 3
    local line
    # shellcheck disable=SC2046
    if line=$(taskset -c "$gen_cpu" "$bin/loadgen" $(target_args "$name") --server-pid "$server_pid" \
        --sources 8 --threads "$(cpu_count "$gen_cpu")" --tag "server=$name" --tag "round=$round" \
        --tag "threads=$server_threads" --tag "server_cores=$server_cpu" --tag "generator_cores=$gen_cpu" \
        "$@" 2>"$work/gen.err") && [ -n "$line" ]; then
        echo "$line" >>"$jsonl"
        echo "  $label $name: $(echo "$line" | grep -o '"server_cpu_us_per_msg":[0-9.]*' | cut -d: -f2) µs/msg, $(echo "$line" | grep -o '"msgs_per_s":[0-9.]*' | cut -d: -f2 | cut -d. -f1) msgs/s, errors $(echo "$line" | grep -o '"errors":[0-9]*' | cut -d: -f2)" >&2
    else
        printf '{"failed":true,"server":"%s","round":"%s","cell":"%s","stderr":%s}\n' "$name" "$round" "$label" \
            "$(head -c 300 "$work/gen.err" | tr -d '\n"\\' | sed 's/.*/"&"/')" >>"$jsonl"
        echo "  $label $name: FAILED $(head -c 300 "$work/gen.err")" >&2
    fi
}

n=${#servers[@]}
for round in $(seq "$rounds"); do
    for config_index in "${!configs[@]}"; do
        IFS=: read -r server_threads server_cpu gen_cpu <<<"${configs[$config_index]}"
        echo "round $round of $rounds: $server_threads server thread(s) on cores $server_cpu, generator on $gen_cpu" >&2
        if [ "$config_index" = 0 ]; then config_cells=("${cells[@]}"); else config_cells=("${mt_cells[@]}"); fi
        for ci in "${!config_cells[@]}"; do
            IFS=: read -r size conns inflight kind <<<"${config_cells[$ci]}"
            text=()
            [ "$kind" = text ] && text=(--text)
            # A round trip of 1,000 × 1 MiB takes seconds: cells with more than
            # 64 MiB in flight get at least 3 s of warm-up and 10 s of measurement.
            cell_duration=$duration cell_warmup=$warmup
            if [ $((size * conns * inflight)) -gt $((64 << 20)) ]; then
                cell_duration=$(awk -v d="$duration" 'BEGIN { print (d < 10 ? 10 : d) }')
                cell_warmup=$(awk -v w="$warmup" 'BEGIN { print (w < 3 ? 3 : w) }')
            fi
            in_cell=("${servers[@]}")
            [ "$inflight" -gt 1 ] && in_cell+=("${batched[@]}")
            m=${#in_cell[@]}
            for k in $(seq 0 $((m - 1))); do
                name=${in_cell[$(((k + round + ci) % m))]}
                start_server "$name"
                run_gen "$name" "$round" "${config_cells[$ci]}" --connections "$conns" --size "$size" --inflight "$inflight" \
                    "${text[@]}" --duration "$cell_duration" --warmup "$cell_warmup"
                stop_server
            done
        done
        # Idle memory: at one thread only (the threads' own stacks would read
        # as per-connection memory divided by the connections).
        [ "$config_index" = 0 ] || continue
        for k in $(seq 0 $((n - 1))); do
            name=${servers[$(((k + round) % n))]}
            start_server "$name"
            sleep 0.3
            run_gen "$name" "$round" "idle" --idle --connections "$idle_conns"
            stop_server
        done
    done
done

report
