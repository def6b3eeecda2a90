#!/usr/bin/env bash
# Autobahn TestSuite conformance run with kosoku (docs/design.md §6).
#
#   scripts/autobahn.sh server [extra kosoku args...]   # kosoku drives `wsx serve`
#   scripts/autobahn.sh client [extra kosoku args...]   # the autobahn_client example drives kosoku
#
# e.g. scripts/autobahn.sh server -i '6.*'    (kosoku globs: '*' only, and a
# pattern matches case ids that *start* with it: '*.1' matches 7.10.2 too)
#
# Environment:
#   AUTOBAHN_EXCLUDE  case globs to exclude, separated by spaces or commas (default: none, all
#                     517 cases of sections 1-13, permessage-deflate included)
#   AUTOBAHN_OUT      output directory (default target/autobahn/ROLE); the report
#                     is in OUT/report, logs in OUT/*.log
#   AUTOBAHN_TIMEOUT  seconds allowed for the whole case run (default 1200)
#   AUTOBAHN_PARALLELISM  cases kosoku runs at once in the server role (default 1:
#                     kosoku gives each case 20 s, and the 1000-message cases of
#                     section 12 need the CPU to themselves on a 2-core machine)
#   AUTOBAHN_SKIP_BUILD=1  use the release binaries already built
#   WSX_SERVE_ARGS    extra arguments for `wsx serve` (server role; default
#                     '--compress-threshold 0')
#   WSX_VENV          the venv holding kosoku (default .venv; made by setup-venv.sh)
#   AUTOBAHN_DRIVER  tokio (default: `wsx serve` and the wsx autobahn_client) or
#                     blocking: the wsx-blocking crate's thread-per-connection
#                     blocking_echo_server example (server role) and its
#                     blocking_autobahn_client example (client role); HTTP/1.1 only
#   AUTOBAHN_TRANSPORT  http1 (default) or h2: with h2 the autobahn_bridge example
#                     (crates/wsx/examples/autobahn_bridge.rs) sits between kosoku,
#                     which speaks HTTP/1.1 only, and wsx, which speaks RFC 8441
#                     WebSockets over HTTP/2; it copies the WebSocket bytes unchanged
#                     (docs/design.md §8). Its log is OUT/bridge.log.
#                       server role: kosoku -> bridge (HTTP/1.1 in) -> `wsx serve` over
#                         h2c; `wsx serve` must answer HTTP/2 with prior knowledge on
#                         its normal --listen port (no new flag), with
#                         SETTINGS_ENABLE_CONNECT_PROTOCOL = 1.
#                       client role: `autobahn_client --http2 ws://HOST:PORT` (connects
#                         over h2c with prior knowledge, every case an extended
#                         CONNECT) -> bridge (HTTP/2 in) -> kosoku's fuzzing server.
#                     or h3: the autobahn_bridge_h3 example
#                     (crates/wsx/examples/autobahn_bridge_h3.rs) does the same for
#                     RFC 9220 WebSockets over HTTP/3, with a throw-away certificate
#                     (openssl, OUT/cert.pem), every case an extended CONNECT on one
#                     QUIC connection. Not run by CI (see the README).
#                       server role: kosoku -> bridge --mode server (HTTP/1.1 in) ->
#                         `wsx serve --http3` over QUIC.
#                       client role: `autobahn_client --http3 --ca OUT/cert.pem
#                         wss://127.0.0.1:PORT` -> bridge --mode client (HTTP/3 in, QUIC
#                         on the UDP port of PORT's number) -> kosoku's fuzzing server.
#
# The verdict is scripts/autobahn_check.py's: only OK or INFORMATIONAL passes.
set -euo pipefail

usage() { echo "usage: $0 server|client [extra kosoku args...]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
role="$1"; shift
[[ "$role" == server || "$role" == client ]] || usage

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="${WSX_VENV:-$root/.venv}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
out="${AUTOBAHN_OUT:-$target_dir/autobahn/$role${AUTOBAHN_DRIVER:+-$AUTOBAHN_DRIVER}}"
run_timeout="${AUTOBAHN_TIMEOUT:-1200}"
parallelism="${AUTOBAHN_PARALLELISM:-1}"
transport="${AUTOBAHN_TRANSPORT:-http1}"
driver="${AUTOBAHN_DRIVER:-tokio}"
[[ "$driver" == tokio || "$driver" == blocking ]] || { echo "AUTOBAHN_DRIVER: tokio or blocking, not '$driver'" >&2; exit 2; }
[[ "$driver" == blocking && "$transport" != http1 ]] && { echo "AUTOBAHN_DRIVER=blocking runs over HTTP/1.1 only" >&2; exit 2; }
[[ "$transport" == http1 || "$transport" == h2 || "$transport" == h3 ]] || { echo "AUTOBAHN_TRANSPORT: http1, h2 or h3, not '$transport'" >&2; exit 2; }
exclude_list="${AUTOBAHN_EXCLUDE-}"
read -r -a exclude_globs <<<"${exclude_list//,/ }"
# --compress-threshold 0: every echo is compressed (kosoku errors out on a text
# message that arrives uncompressed on a permessage-deflate connection).
read -r -a serve_args <<<"${WSX_SERVE_ARGS:---compress-threshold 0}"

label="$role"
[[ "$transport" != http1 ]] && label="$role/$transport"
[[ "$driver" == blocking ]] && label="$role/blocking"
log() { echo "autobahn[$label]: $*"; }

# --- background processes: every one we start is killed on exit -------------
pids=()
stop_pid() {
    local pid="$1" tries=50
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    while ((tries-- > 0)) && kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    forget_pid "$pid"
}
# forget_pid PID: once reaped, a PID may be reused by someone else's process.
forget_pid() {
    local keep=() pid
    for pid in "${pids[@]}"; do [[ "$pid" == "$1" ]] || keep+=("$pid"); done
    pids=("${keep[@]}")
}
cleanup() {
    local pid
    for pid in "${pids[@]}"; do stop_pid "$pid"; done
}
# run_waited CMD...: run CMD in the foreground, but as a waited-for background job, so
# that INT/TERM reach our trap at once instead of after CMD ends.
run_waited() {
    "$@" &
    local pid=$! rc=0
    pids+=("$pid")
    wait "$pid" || rc=$?
    forget_pid "$pid"
    return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT PID SECONDS: until 127.0.0.1:PORT accepts; fails early if PID dies.
wait_port() {
    local port="$1" pid="$2" deadline=$((SECONDS + $3))
    while ((SECONDS < deadline)); do
        if ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

# --- prerequisites ------------------------------------------------------------
if [[ ! -x "$venv/bin/kosoku" ]]; then
    WSX_VENV="$venv" bash "$root/scripts/setup-venv.sh"
fi
kosoku="$venv/bin/kosoku"

if [[ "${AUTOBAHN_SKIP_BUILD:-0}" != 1 ]]; then
    log "building release binaries"
    # `--bin wsx` is needed: with `--example` alone cargo builds no binary.
    if [[ "$driver" == blocking ]]; then
        run_waited timeout 1800 cargo build --release -p wsx-blocking --example blocking_autobahn_client \
            --example blocking_echo_server
    else
        examples=(--example autobahn_client)
        [[ "$transport" == h2 ]] && examples+=(--example autobahn_bridge)
        [[ "$transport" == h3 ]] && examples+=(--example autobahn_bridge_h3)
        run_waited timeout 1800 cargo build --release -p wsx-cli --bin wsx -p wsx "${examples[@]}"
    fi
fi
wsx_bin="$target_dir/release/wsx"
client_bin="$target_dir/release/examples/autobahn_client"
[[ "$driver" == blocking ]] && client_bin="$target_dir/release/examples/blocking_autobahn_client"
bridge_bin="$target_dir/release/examples/autobahn_bridge"
bridge_h3_bin="$target_dir/release/examples/autobahn_bridge_h3"

rm -rf "$out"
mkdir -p "$out"
report="$out/report"
exclude_args=()
for glob in "${exclude_globs[@]}"; do exclude_args+=(-x "$glob"); done
port="$(free_port)"
started=$SECONDS

# --- the HTTP/1.1 <-> HTTP/2 bridge (AUTOBAHN_TRANSPORT=h2) -----------------------
bridge=""
bridge_port=""
# start_bridge MODE TARGET: starts autobahn_bridge on a free port, sets $bridge_port.
start_bridge() {
    [[ -x "$bridge_bin" ]] || { log "missing $bridge_bin"; return 1; }
    bridge_port="$(free_port)"
    "$bridge_bin" --mode "$1" --listen "127.0.0.1:$bridge_port" --target "$2" \
        </dev/null >"$out/bridge.log" 2>&1 &
    bridge=$!
    pids+=("$bridge")
    if ! wait_port "$bridge_port" "$bridge" 30; then
        log "autobahn_bridge --mode $1 --target $2 did not start; its log:"
        tail -n 30 "$out/bridge.log" || true
        [[ "$1" == server ]] && log "(does \`wsx serve\` take HTTP/2 with prior knowledge, with SETTINGS_ENABLE_CONNECT_PROTOCOL = 1, on its port?)"
        return 1
    fi
    log "autobahn_bridge (pid $bridge, mode $1) on 127.0.0.1:$bridge_port -> $2 (log: $out/bridge.log)"
}
# bridge_alive: fails (and says so) if the bridge died during the run.
bridge_alive() {
    [[ -z "$bridge" ]] && return 0
    kill -0 "$bridge" 2>/dev/null && return 0
    log "autobahn_bridge died during the run; its log:"
    tail -n 30 "$out/bridge.log" || true
    return 1
}
failed=0

# make_cert: a throw-away certificate for localhost and 127.0.0.1 in OUT/cert.pem, OUT/key.pem.
make_cert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -addext "basicConstraints=critical,CA:FALSE" \
        -keyout "$out/key.pem" -out "$out/cert.pem" 2>/dev/null || { log "openssl failed"; return 1; }
}

# start_bridge_h3 MODE TARGET ARGS...: autobahn_bridge_h3 on a free port, sets $bridge_port.
start_bridge_h3() {
    [[ -x "$bridge_h3_bin" ]] || { log "missing $bridge_h3_bin"; return 1; }
    local mode="$1" target="$2"
    shift 2
    bridge_port="$(free_port)"
    "$bridge_h3_bin" --mode "$mode" --listen "127.0.0.1:$bridge_port" --target "$target" "$@" \
        </dev/null >"$out/bridge.log" 2>&1 &
    bridge=$!
    pids+=("$bridge")
    if ! wait_port "$bridge_port" "$bridge" 30; then
        log "autobahn_bridge_h3 --mode $mode did not start; its log:"
        tail -n 30 "$out/bridge.log" || true
        return 1
    fi
    log "autobahn_bridge_h3 (pid $bridge, mode $mode) on 127.0.0.1:$bridge_port -> $target (log: $out/bridge.log)"
}

# --- server role: kosoku drives `wsx serve` -----------------------------------
run_server_role() {
    if [[ "$driver" == blocking ]]; then
        local echo_bin="$target_dir/release/examples/blocking_echo_server"
        [[ -x "$echo_bin" ]] || { log "missing $echo_bin"; return 1; }
        # --compress-threshold 0: every echo is compressed, as for wsx serve.
        "$echo_bin" "127.0.0.1:$port" --compress-threshold 0 </dev/null >"$out/wsx-serve.log" 2>&1 &
    else
        [[ -x "$wsx_bin" ]] || { log "missing $wsx_bin"; return 1; }
        local h3_args=()
        if [[ "$transport" == h3 ]]; then
            make_cert || return 1
            h3_args=(--tls-cert "$out/cert.pem" --tls-key "$out/key.pem" --http3)
        fi
        "$wsx_bin" serve --listen "127.0.0.1:$port" "${serve_args[@]}" "${h3_args[@]}" \
            </dev/null >"$out/wsx-serve.log" 2>&1 &
    fi
    local server=$!
    pids+=("$server")
    if ! wait_port "$port" "$server" 30; then
        log "wsx serve did not start listening on 127.0.0.1:$port; its log:"
        tail -n 30 "$out/wsx-serve.log" || true
        return 1
    fi
    # kosoku's URL: wsx serve itself, or the bridge in front of it.
    local url="ws://127.0.0.1:$port/echo"
    if [[ "$transport" == h2 ]]; then
        # The bridge opens its HTTP/2 connection at start: a wsx serve that does
        # not take HTTP/2 with prior knowledge fails here, with the bridge's reason.
        start_bridge server "h2c://127.0.0.1:$port" || return 1
        url="ws://127.0.0.1:$bridge_port/echo"
    elif [[ "$transport" == h3 ]]; then
        start_bridge_h3 server "localhost:$port" --ca "$out/cert.pem" || return 1
        url="ws://127.0.0.1:$bridge_port/echo"
    fi
    log "wsx serve (pid $server) on 127.0.0.1:$port; kosoku ${exclude_args[*]} $* -> $url (log: $out/kosoku.log)"
    local rc=0
    run_waited timeout --kill-after=10 "$run_timeout" "$kosoku" -p "$parallelism" -o "$report" \
        "$url" "${exclude_args[@]}" "$@" \
        </dev/null >"$out/kosoku.log" 2>&1 || rc=$?
    log "kosoku exited with $rc after $((SECONDS - started)) s"
    if ((rc == 124 || rc == 137)); then
        log "kosoku timed out after ${run_timeout} s"
        return 1
    fi
    if ! kill -0 "$server" 2>/dev/null; then
        local serve_rc=0
        wait "$server" || serve_rc=$?
        forget_pid "$server"
        log "wsx serve died during the run (exit $serve_rc); its log:"
        tail -n 30 "$out/wsx-serve.log" || true
        return 1
    fi
    bridge_alive || return 1
    # kosoku gives each case 20 s of wall time: on a loaded machine a long
    # section-12 case can run out of it with every echo right. Such cases (at
    # most 3) run once more; autobahn_check.py judges them by that run.
    local slow_ids=() include=() id
    read -r -a slow_ids <<<"$(python3 "$root/scripts/autobahn_check.py" "$report" --list-timed-out)"
    if ((${#slow_ids[@]} > 0 && ${#slow_ids[@]} <= 3)); then
        log "hit the 20 s case limit, run once more: ${slow_ids[*]} (log: $out/kosoku-rerun.log)"
        for id in "${slow_ids[@]}"; do include+=(-i "$id"); done
        run_waited timeout --kill-after=10 300 "$kosoku" -o "$out/rerun" "$url" \
            "${include[@]}" </dev/null >"$out/kosoku-rerun.log" 2>&1 || true
    fi
    stop_pid "$server"
}

# --- client role: our autobahn_client example drives kosoku's fuzzing server ---
run_client_role() {
    [[ -x "$client_bin" ]] || { log "missing $client_bin"; return 1; }
    timeout --kill-after=10 "$run_timeout" "$kosoku" -m fuzzingserver -o "$report" \
        "${exclude_args[@]}" "$@" "127.0.0.1:$port" \
        </dev/null >"$out/kosoku.log" 2>&1 &
    local server=$!
    pids+=("$server")
    if ! wait_port "$port" "$server" 60; then
        log "kosoku's fuzzing server did not start on 127.0.0.1:$port; its log:"
        tail -n 30 "$out/kosoku.log" || true
        return 1
    fi
    # How many cases the selection holds, from kosoku itself: its report covers
    # only the cases a client ran, so a client stopping early must be caught.
    local expected
    if ! expected="$("$venv/bin/python" - "ws://127.0.0.1:$port/getCaseCount" <<'PY'
import asyncio, sys
from websockets.asyncio.client import connect
async def main():
    async with connect(sys.argv[1], open_timeout=10) as ws:
        print(int(await asyncio.wait_for(ws.recv(), 10)))
asyncio.run(main())
PY
)"; then
        log "cannot read /getCaseCount from kosoku"
        return 1
    fi
    echo "$expected" >"$out/expected-cases"
    # The client's arguments: kosoku itself, or --http2 and the bridge in front of it.
    local client_args=("ws://127.0.0.1:$port")
    if [[ "$transport" == h2 ]]; then
        if ! grep -q -- '"--http2"' "$root/crates/wsx/examples/autobahn_client.rs"; then
            log "the autobahn_client example has no --http2 flag (connect over HTTP/2 with prior knowledge) yet"
            return 1
        fi
        start_bridge client "127.0.0.1:$port" || return 1
        client_args=(--http2 "ws://127.0.0.1:$bridge_port")
    elif [[ "$transport" == h3 ]]; then
        make_cert || return 1
        start_bridge_h3 client "127.0.0.1:$port" --cert "$out/cert.pem" --key "$out/key.pem" || return 1
        client_args=(--http3 --ca "$out/cert.pem" "wss://127.0.0.1:$bridge_port")
    fi
    log "kosoku fuzzing server on 127.0.0.1:$port serves $expected cases; running $client_bin ${client_args[*]} (log: $out/client.log)"
    local rc=0
    run_waited timeout --kill-after=10 "$run_timeout" "$client_bin" "${client_args[@]}" \
        </dev/null >"$out/client.log" 2>&1 || rc=$?
    log "autobahn_client exited with $rc after $((SECONDS - started)) s"
    ((rc == 0)) || { tail -n 30 "$out/client.log" || true; }
    # kosoku exits once /updateReports has written the report.
    local deadline=$((SECONDS + 120))
    while kill -0 "$server" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "$server" 2>/dev/null; then
        log "kosoku still running 120 s after the client finished (no /updateReports?)"
        stop_pid "$server"
        return 1
    fi
    local kosoku_rc=0
    wait "$server" || kosoku_rc=$?
    forget_pid "$server"
    log "kosoku exited with $kosoku_rc"
    ((kosoku_rc != 124 && kosoku_rc != 137)) || { log "kosoku timed out after ${run_timeout} s"; return 1; }
    bridge_alive || return 1
    ((rc == 0)) || return 1
}

if [[ "$role" == server ]]; then
    run_server_role "$@" || failed=1
else
    run_client_role "$@" || failed=1
fi
tail -n 3 "$out/kosoku.log" 2>/dev/null | sed 's/^/kosoku: /' || true

check_args=("$report")
[[ -f "$out/expected-cases" ]] && check_args+=(--expect-cases "$(cat "$out/expected-cases")")
[[ -f "$out/rerun/index.json" ]] && check_args+=(--rerun "$out/rerun")
python3 "$root/scripts/autobahn_check.py" "${check_args[@]}" || failed=1
if [[ -f "$report/index.html" ]]; then
    log "total $((SECONDS - started)) s; report: $report/index.html"
else
    log "total $((SECONDS - started)) s; no report written (logs in $out)"
fi
if ((failed)); then
    log "FAILED"
    exit 1
fi
log "passed"
