#!/usr/bin/env bash
# Self-test of the Python interop peers: ws_client.py runs every script in
# cases/ against ws_echo_server.py, so a broken peer is told apart from a wsx bug.
#
#   interop/python/selftest.sh            (uses $WSX_PYTHON, else .venv/bin/python)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${WSX_PYTHON:-$root/.venv/bin/python}"
work="$(mktemp -d)"
server=""
cleanup() {
    if [[ -n "$server" ]] && kill -0 "$server" 2>/dev/null; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# start_server ARGS...: starts ws_echo_server.py --port 0 --once, sets $server and $port.
start_server() {
    # Empty the file first, here: the background job truncates it only when it
    # starts, and until then the poll below would read the previous port.
    : >"$work/server.out"
    "$python" "$here/ws_echo_server.py" --port 0 --once "$@" </dev/null >"$work/server.out" 2>"$work/server.err" &
    server=$!
    local deadline=$((SECONDS + 20))
    port=""
    while [[ -z "$port" ]] && ((SECONDS < deadline)); do
        kill -0 "$server" 2>/dev/null || break
        port="$(sed -n 's/^{"listening": \([0-9]*\)}$/\1/p' "$work/server.out")"
        [[ -n "$port" ]] || sleep 0.1
    done
    if [[ -z "$port" ]]; then
        echo "selftest: ws_echo_server.py did not start:" >&2
        cat "$work/server.err" >&2
        return 1
    fi
}

# stop_server: --once makes the server exit after its connection; wait for that.
stop_server() {
    local deadline=$((SECONDS + 10))
    while kill -0 "$server" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
}

failed=0
# run_case NAME SERVER-ARGS...: one client script against a fresh server.
run_case() {
    local name="$1"; shift
    start_server "$@"
    if timeout 120 "$python" "$here/ws_client.py" --url "ws://127.0.0.1:$port/echo" \
        --script "$here/cases/$name.json" </dev/null >"$work/$name.out" 2>&1; then
        echo "selftest: $name: ok"
    else
        echo "selftest: $name: FAILED; client output:"
        cut -c1-300 "$work/$name.out"
        failed=1
    fi
    stop_server
    # The server saw as many messages as the client got echoes, with equal digests.
    local sent echoed
    sent="$(grep -c '"received"' "$work/$name.out" || true)"
    echoed="$(grep -c '"kind"' "$work/server.out" || true)"
    if [[ "$name" != server_close ]] && [[ "$sent" != "$echoed" ]]; then
        echo "selftest: $name: client got $sent echoes, server logged $echoed messages"
        failed=1
    fi
    grep -q '"closed"' "$work/server.out" || { echo "selftest: $name: server logged no close"; failed=1; }
}

run_case basic
run_case large
run_case server_close --close-after-first 4001 "done here"

if ((failed)); then
    echo "selftest: FAILED"
    exit 1
fi
echo "selftest: Python peers OK ($("$python" -c 'import websockets; print("websockets", websockets.__version__)'))"
