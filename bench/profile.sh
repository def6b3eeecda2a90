#!/usr/bin/env bash
# Profiles one echo server under the neutral generator: where its CPU goes
# (perf record, cpu-clock sampling: user vs kernel, top symbols) and how many
# syscalls it makes per message (perf stat on syscall tracepoints).
#
#   bash bench/profile.sh [SERVER] [CELL...]
#   bash bench/profile.sh wsx 16:100:1:bin 65536:100:1:bin 16:100:16:bin   # the defaults
#
# CELL is SIZE:CONNECTIONS:INFLIGHT:bin|text. Output: bench/target/profile/SERVER-CELL.txt
# (and .data for `perf report -i`). Needs `perf` (apt-get install linux-perf).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
server=${1:-wsx}
shift || true
cells=("$@")
[ ${#cells[@]} -gt 0 ] || cells=(16:100:1:bin 65536:100:1:bin 16:100:16:bin)
seconds=${SECONDS_PROFILED:-4}
out=$here/target/profile
mkdir -p "$out"
command -v perf >/dev/null || {
    echo "bench/profile.sh: perf is missing (apt-get install linux-perf)" >&2
    exit 1
}
(cd "$here" && cargo build --release --bins)
bin=$here/target/release

server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; true' EXIT

syscalls=recvfrom,read,readv,write,writev,sendto,sendmsg,epoll_wait,epoll_pwait,epoll_pwait2,futex,mmap,munmap,brk,madvise
extra_events=page-faults
events=$(echo "$syscalls" | tr ',' '\n' | sed 's/^/syscalls:sys_enter_/' | paste -sd,)
# Drop tracepoints this kernel lacks.
events=$(for e in ${events//,/ } $extra_events; do perf stat -e "$e" true >/dev/null 2>&1 && echo "$e"; done | paste -sd,)

for cell in "${cells[@]}"; do
    IFS=: read -r size conns inflight kind <<<"$cell"
    text=()
    [ "$kind" = text ] && text=(--text)
    name=$server-${cell//:/-}
    server_command=("$bin/echo_$server")
    # NAME_batched: the peer's hand-batched echo loop (see bench/run.sh).
    [[ $server == *_batched ]] && server_command=("$bin/echo_${server%_batched}" --batched)
    taskset -c 0 "${server_command[@]}" --threads 1 --listen 127.0.0.1:0 >"$out/$name.server" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do grep -q '^listening on ' "$out/$name.server" && break; sleep 0.05; done
    addr=$(awk '/^listening on /{print $3; exit}' "$out/$name.server")
    if [ "$server" = tcp ]; then target=(--raw "$addr"); else target=(--url "ws://$addr/echo"); fi
    taskset -c 1 "$bin/loadgen" "${target[@]}" --server-pid "$server_pid" --sources 8 --connections "$conns" \
        --size "$size" --inflight "$inflight" "${text[@]}" --warmup 1 --duration $((2 * seconds + 2)) >"$out/$name.json" &
    gen_pid=$!
    sleep 1.5
    perf stat -x, -e "$events" -p "$server_pid" -o "$out/$name.stat" -- sleep "$seconds" >/dev/null 2>&1
    perf record -q -e cpu-clock -F 2000 -p "$server_pid" -o "$out/$name.data" -- sleep "$seconds" >/dev/null 2>&1
    wait "$gen_pid"
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
    msgs_per_s=$(grep -o '"msgs_per_s":[0-9.]*' "$out/$name.json" | cut -d: -f2)
    {
        echo "== $server, cell $cell: $(cat "$out/$name.json")"
        echo
        echo "-- syscalls per message (perf stat over ${seconds} s at ${msgs_per_s} msgs/s)"
        awk -F, -v m="$msgs_per_s" -v s="$seconds" '$1 ~ /^[0-9]+$/ && $1 > 0 {
            sub("syscalls:sys_enter_", "", $3); printf "  %-12s %10.3f\n", $3, $1 / (m * s) }' "$out/$name.stat"
        echo
        echo "-- CPU by DSO"
        perf report -i "$out/$name.data" --no-children --sort dso --stdio 2>/dev/null | grep '%' | grep -v "^#" | head -8 || true
        echo
        echo "-- top symbols (self)"
        perf report -i "$out/$name.data" --no-children --sort dso,symbol --stdio 2>/dev/null | grep '%' | grep -v "^#" | head -40 || true
    } >"$out/$name.txt"
    echo "wrote $out/$name.txt" >&2
done
