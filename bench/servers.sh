# The echo servers of bench/run.sh and bench/latency.sh, sourced by both.
# Reads $here (bench/), $bin (bench's release binaries), $wsx (the wsx
# binary), $work (a scratch directory), $server_cpu (a taskset list) and
# $server_threads.

server_command() { # name -> the server's binary and its flags
    case $1 in
    *_batched) echo "$bin/echo_${1%_batched} --batched" ;;
    bun) echo "$here/bun/node_modules/.bin/bun $here/bun/echo.js" ;;
    # 20,000 connections: room for the idle cell's 10,000.
    wsx_serve) echo "$wsx serve --no-color --max-connections 20000" ;;
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
        grep -q 'listening on ' "$work/server.out" && break
        sleep 0.05
    done
    # "listening on ADDR" (the echo servers), "wsx serve: listening on ws://ADDR (...)"
    server_addr=$(grep -m1 -o 'listening on \(ws://\)\?[0-9.]*:[0-9]*' "$work/server.out" | sed 's/.*listening on //; s#ws://##')
    [ -n "$server_addr" ] || {
        echo "bench: $name did not start: $(cat "$work/server.out")" >&2
        exit 1
    }
}

stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}
