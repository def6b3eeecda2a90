#!/usr/bin/env bash
# The README's first command, run verbatim, as a newcomer on a fresh clone
# would: it must start `wsx serve`, which must then answer a real client.
#
#   scripts/readme.sh            run the check (a stage of scripts/test.sh)
#   scripts/readme.sh --print    print the two commands read from the README
#
# The commands are read from the README's first fenced block, never copied
# here: line 1 is the server, line 2 the test suite (which .ci/run reads the
# same way). A trailing `# comment` is dropped. The server command runs in a
# session of its own (setsid, so the process group can be signalled); once
# it prints "listening on ws://ADDR", Python `websockets` (from the venv)
# connects to ws://ADDR/echo, exchanges a text and a binary message and
# closes with 1000; then SIGINT stops the server, which must exit 0 within
# its shutdown deadline. Any step that fails fails the stage, with the
# server's output.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${WSX_PYTHON:-$root/.venv/bin/python}"

# readme_command N: the Nth line of the README's first fenced block,
# without its trailing comment.
readme_command() {
    awk -v n="$1" '
        /^```/ { if (inside) exit; inside = 1; next }
        inside && NF { if (++line == n) { sub(/[ \t]+#.*$/, ""); print; exit } }
    ' README.md
}

if [[ "${1:-}" == --print ]]; then
    readme_command 1
    readme_command 2
    exit 0
fi

server_cmd="$(readme_command 1)"
if [[ "$server_cmd" != *"wsx"*"serve"* ]]; then
    echo "readme: the README's first command does not run 'wsx serve': '$server_cmd'" >&2
    exit 1
fi
[[ -x "$python" ]] || { echo "readme: $python not found: run bash scripts/setup-venv.sh" >&2; exit 1; }

work="$(mktemp -d)"
pid=""
stop_server() {
    [[ -n "$pid" ]] || return 0
    kill -INT -- "-$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 20))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
}
cleanup() {
    stop_server
    rm -rf "$work"
}
trap cleanup EXIT

echo "readme: running the README's first command: $server_cmd"
# Its own session: $pid is also the process group to signal.
setsid bash -c "$server_cmd" </dev/null >"$work/out" 2>"$work/err" &
pid=$!

# The first run builds the binary: allow for a release build from scratch.
deadline=$((SECONDS + 1500))
address=""
while [[ -z "$address" ]]; do
    address="$(sed -n 's/.*listening on ws:\/\/\([^ ]*\).*/\1/p' "$work/out" | head -n 1)"
    [[ -n "$address" ]] && break
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid" && rc=0 || rc=$?
        echo "readme: the command exited ($rc) before listening; its output:" >&2
        cat "$work/out" "$work/err" >&2
        pid=""
        exit 1
    fi
    if ((SECONDS > deadline)); then
        echo "readme: no 'listening on ws://' line after $((SECONDS)) s; output:" >&2
        tail -n 40 "$work/out" "$work/err" >&2
        exit 1
    fi
    sleep 0.5
done
echo "readme: the server listens on $address; talking to it with Python websockets"

"$python" - "ws://$address/echo" <<'PY'
import asyncio, os, sys
from websockets.asyncio.client import connect

async def main(url: str) -> None:
    async with connect(url, open_timeout=10, close_timeout=10) as ws:
        await ws.send("hello from the README check")
        text = await asyncio.wait_for(ws.recv(), 10)
        assert text == "hello from the README check", f"text echo: {text!r}"
        payload = os.urandom(3000)
        await ws.send(payload)
        data = await asyncio.wait_for(ws.recv(), 10)
        assert data == payload, "binary echo differs"
        print(f"readme: /echo answered text and binary (extensions: {ws.response.headers.get('Sec-WebSocket-Extensions')})")
    assert ws.close_code == 1000, f"close code {ws.close_code}"
    print("readme: closed with 1000")

asyncio.run(main(sys.argv[1]))
PY

kill -INT -- "-$pid"
deadline=$((SECONDS + 20))
while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
if kill -0 "$pid" 2>/dev/null; then
    echo "readme: the server did not stop within 20 s of SIGINT" >&2
    exit 1
fi
wait "$pid" && rc=0 || rc=$?
pid=""
if ((rc != 0)); then
    echo "readme: the server exited $rc on SIGINT (want 0); its log:" >&2
    tail -n 20 "$work/err" >&2
    exit 1
fi
echo "readme: the server stopped cleanly on SIGINT"
