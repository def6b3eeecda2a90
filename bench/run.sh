#!/usr/bin/env bash
# End-to-end echo benchmark: wsx against Bun (uWebSockets), fastwebsockets,
# sockudo-ws, yawc, tokio-tungstenite and a raw TCP echo, with the neutral
# generator in bench/src/bin/loadgen.rs. Bun comes from npm (bench/bun,
# installed here by `npm ci` when missing).
#
#   bash bench/run.sh          # full matrix, 3 rounds (long)
#   bash bench/run.sh quick    # a few cells, 1 round, short durations (development)
#   bash bench/run.sh report   # only rebuild results.md and chart.svg from results.jsonl
#
# Writes docs/bench/results.md, docs/bench/chart.svg and the raw JSON lines
# (docs/bench/results.jsonl); quick mode writes to bench/target/quick/. Environment overrides: ROUNDS, DURATION (s),
# WARMUP (s), SERVERS ("tcp wsx ..."), BATCHED_SERVERS (hand-batched peers
# for the pipelined cells; "" for none), SERVER_CPU, GEN_CPU, IDLE_CONNS,
# SERVER_THREADS, OUT_DIR, CELLS ("SIZE:CONNS:INFLIGHT:bin|text ...").
set -euo pipefail

mode=${1:-full}
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
servers=(${SERVERS:-tcp wsx bun fastwebsockets sockudo yawc tungstenite})
# Peers rewritten by hand to flush once per batch of ready replies
# (NAME_batched runs echo_NAME --batched): they join the pipelined cells
# (more than one message in flight) only.
batched=(${BATCHED_SERVERS-yawc_batched tungstenite_batched})
# Cores (taskset lists: "0" or "0-7") and the servers' runtime threads
# (1: a current-thread runtime; Bun runs its JavaScript on one thread
# whatever it is told).
server_cpu=${SERVER_CPU:-0}
gen_cpu=${GEN_CPU:-1}
server_threads=${SERVER_THREADS:-1}

case $mode in
quick)
    rounds=${ROUNDS:-1}
    duration=${DURATION:-1}
    warmup=${WARMUP:-0.3}
    idle_conns=${IDLE_CONNS:-1000}
    out_dir=${OUT_DIR:-$here/target/quick}
    default_cells="16:100:1:bin 65536:100:1:bin 65536:100:1:text 16:100:16:bin"
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
    ;;
report)
    out_dir=${OUT_DIR:-$root/docs/bench}
    rounds=0
    idle_conns=0
    default_cells=""
    ;;
*)
    echo "usage: bench/run.sh [quick|full|report]" >&2
    exit 2
    ;;
esac
cells=(${CELLS:-$default_cells})

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
fi
bin=$here/target/release
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
printf '{"meta":true,"mode":"%s","rounds":"%s","measured seconds per cell":"%s (at least 10 where more than 64 MiB is in flight)","warm-up seconds":"%s (at least 3 there)","cells":"%s","idle connections":"%s","wsx commit":"%s","machine":"%s, %s cores, Linux %s","load average at the start":"%s","date":"%s","bun":"%s","server cores":"%s","server threads":"%s","generator cores":"%s"}\n' \
    "$mode" "$rounds" "$duration" "$warmup" "${cells[*]}" "$idle_conns" "$commit" "$cpu_model" "$(nproc)" "$(uname -r)" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(date -u +%FT%TZ)" "$bun_version" "$server_cpu" "$server_threads" "$gen_cpu" >>"$jsonl"

server_command() { # name -> the server's binary and its flags
    case $1 in
    *_batched) echo "$bin/echo_${1%_batched} --batched" ;;
    bun) echo "$here/bun/node_modules/.bin/bun $here/bun/echo.js" ;;
    *) echo "$bin/echo_$1" ;;
    esac
}

start_server() { # name -> sets server_pid, server_addr
    local name=$1
    : >"$work/server.out"
    # shellcheck disable=SC2046
    taskset -c "$server_cpu" $(server_command "$name") --threads "$server_threads" --listen 127.0.0.1:0 >"$work/server.out" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
        grep -q '^listening on ' "$work/server.out" && break
        sleep 0.05
    done
    server_addr=$(awk '/^listening on /{print $3; exit}' "$work/server.out")
    [ -n "$server_addr" ] || {
        echo "bench/run.sh: echo_$name did not start: $(cat "$work/server.out")" >&2
        exit 1
    }
}

stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}

target_args() { # name
    if [ "$1" = tcp ]; then echo "--raw $server_addr"; else echo "--url ws://$server_addr/echo"; fi
}

run_gen() { # name round label args...
    local name=$1 round=$2 label=$3
    shift 3
    local line
    # shellcheck disable=SC2046
    if line=$(taskset -c "$gen_cpu" "$bin/loadgen" $(target_args "$name") --server-pid "$server_pid" \
        --sources 8 --tag "server=$name" --tag "round=$round" "$@" 2>"$work/gen.err") && [ -n "$line" ]; then
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
    echo "round $round of $rounds" >&2
    for ci in "${!cells[@]}"; do
        IFS=: read -r size conns inflight kind <<<"${cells[$ci]}"
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
            run_gen "$name" "$round" "${cells[$ci]}" --connections "$conns" --size "$size" --inflight "$inflight" \
                "${text[@]}" --duration "$cell_duration" --warmup "$cell_warmup"
            stop_server
        done
    done
    for k in $(seq 0 $((n - 1))); do
        name=${servers[$(((k + round) % n))]}
        start_server "$name"
        sleep 0.3
        run_gen "$name" "$round" "idle" --idle --connections "$idle_conns"
        stop_server
    done
done

report
