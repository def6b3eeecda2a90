#!/usr/bin/env bash
# Self-test of the HTTP/2 (RFC 8441) Python peers: h2_ws_client.py against
# hypercorn_echo.py over TLS (ALPN h2, a throw-away CA from trustme) and over
# h2c (prior knowledge), several WebSockets on one connection, so that a broken
# peer is told apart from a wsx bug. Then the hostile probes, reported only
# (they judge the server; hypercorn's own answers are listed, not required).
#
#   interop/python/h2_selftest.sh            (uses $WSX_PYTHON, else .venv/bin/python)
#
# hypercorn 0.18 leaves the stream open after a client-initiated close
# handshake (no END_STREAM), so the client-closes cases run with
# --allow-open-stream; the server-closes case is strict.
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

# A throw-away CA and a server certificate for localhost and 127.0.0.1.
"$python" - "$work" <<'PY'
import sys, trustme
ca = trustme.CA()
cert = ca.issue_cert("localhost", "127.0.0.1")
ca.cert_pem.write_to_path(f"{sys.argv[1]}/ca.pem")
cert.private_key_pem.write_to_path(f"{sys.argv[1]}/key.pem")
cert.cert_chain_pems[0].write_to_path(f"{sys.argv[1]}/cert.pem")
for pem in cert.cert_chain_pems[1:]:
    pem.write_to_path(f"{sys.argv[1]}/cert.pem", append=True)
PY

# start_server ARGS...: starts hypercorn_echo.py --port 0, sets $server and $port.
start_server() {
    : >"$work/server.out"
    "$python" "$here/hypercorn_echo.py" --port 0 "$@" </dev/null >"$work/server.out" 2>"$work/server.err" &
    server=$!
    local deadline=$((SECONDS + 20))
    port=""
    while [[ -z "$port" ]] && ((SECONDS < deadline)); do
        kill -0 "$server" 2>/dev/null || break
        port="$(sed -n 's/^{"listening": \([0-9]*\)}$/\1/p' "$work/server.out")"
        [[ -n "$port" ]] || sleep 0.1
    done
    if [[ -z "$port" ]]; then
        echo "h2_selftest: hypercorn_echo.py did not start:" >&2
        cat "$work/server.err" >&2
        return 1
    fi
}

stop_server() {
    kill "$server" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while kill -0 "$server" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -KILL "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    server=""
}

failed=0
# run_case NAME SOCKETS MESSAGES-PER-SOCKET "SERVER-ARGS" CLIENT-ARGS...
run_case() {
    local name="$1" sockets="$2" per="$3" server_args="$4"; shift 4
    local url_scheme=ws transport=(--h2c) host=127.0.0.1
    # shellcheck disable=SC2086
    start_server $server_args
    if [[ "$server_args" == *--cert* ]]; then
        url_scheme=wss transport=(--ca "$work/ca.pem") host=localhost
    fi
    if timeout 120 "$python" "$here/h2_ws_client.py" --url "$url_scheme://$host:$port/echo" "${transport[@]}" \
        --sockets "$sockets" "$@" </dev/null >"$work/$name.out" 2>"$work/$name.err"; then
        echo "h2_selftest: $name: ok ($(grep -o '"summary": {[^}]*}' "$work/$name.out"))"
    else
        echo "h2_selftest: $name: FAILED; client output:"
        grep -v '"sent"\|"received"' "$work/$name.out" | cut -c1-300
        cut -c1-300 "$work/$name.err"
        failed=1
    fi
    sleep 0.3
    stop_server
    # The server saw every socket over HTTP/2 and every message the client sent.
    local h2_sockets messages
    h2_sockets="$(grep -c '"http_version": "2"' "$work/server.out" | head -1 || true)"
    messages="$(grep -c '"kind"' "$work/server.out" || true)"
    if [[ "$h2_sockets" != "$((2 * sockets))" ]]; then  # one "accepted", one "closed" line each
        echo "h2_selftest: $name: server logged $h2_sockets HTTP/2 lines, expected $((2 * sockets))"
        failed=1
    fi
    if [[ "$messages" != "$((sockets * per))" ]]; then
        echo "h2_selftest: $name: server logged $messages messages, expected $((sockets * per))"
        failed=1
    fi
    if grep -q Traceback "$work/server.err"; then
        echo "h2_selftest: $name: hypercorn logged an exception:"
        grep -A3 Traceback "$work/server.err" | head -20
        failed=1
    fi
}

tls="--cert $work/cert.pem --key $work/key.pem"
run_case tls 4 3 "$tls" --allow-open-stream
run_case tls-deflate 2 3 "$tls" --allow-open-stream --deflate
run_case tls-server-close 3 4 "$tls" --server-close 4001 "done here"
run_case h2c 4 3 "--subprotocol chat" --allow-open-stream --subprotocol chat --subprotocol other
if ! grep -q '"sec-websocket-protocol": "chat"' "$work/h2c.out"; then
    echo "h2_selftest: h2c: the subprotocol chat was not agreed"
    failed=1
fi
run_case h2c-deflate 3 3 "" --allow-open-stream --deflate --size 1000000
run_case h2c-server-close 3 4 "" --server-close 4002 "bye now"

# The probes: they must all run and give a verdict; hypercorn's verdicts are shown.
start_server
if timeout 300 "$python" "$here/h2_ws_client.py" --url "ws://127.0.0.1:$port/echo" --h2c --timeout 5 \
    --probe all --report-only </dev/null >"$work/probes.out" 2>"$work/probes.err" \
    && [[ "$(grep -c '"probe"' "$work/probes.out")" == 9 ]]; then
    echo "h2_selftest: probes: ran ($(grep -o '"summary": {[^}]*}' "$work/probes.out") against hypercorn)"
    sed -n 's/^{"probe": "\([^"]*\)".*"verdict": "\([a-z]*\)", "why": \(.*\)}$/h2_selftest:   \1: \2 (\3)/p' \
        "$work/probes.out" | cut -c1-200
else
    echo "h2_selftest: probes: FAILED to run:"
    cut -c1-300 "$work/probes.out" "$work/probes.err"
    failed=1
fi
stop_server

if ((failed)); then
    echo "h2_selftest: FAILED"
    exit 1
fi
echo "h2_selftest: HTTP/2 Python peers OK ($("$python" -c 'import importlib.metadata as m; print(", ".join(f"{n} {m.version(n)}" for n in ("h2", "wsproto", "hypercorn")))'))"
