#!/usr/bin/env bash
# The whole test suite: what CI runs and what a developer runs before pushing.
#
#   scripts/test.sh              all stages
#   scripts/test.sh fmt clippy   only these stages (names below)
#
# Stages: setup readme fmt clippy no-tokio bench test doc miri asan peers peers-h2
# autobahn-server autobahn-client autobahn-server-h2 autobahn-client-h2
# autobahn-server-blocking autobahn-client-blocking fuzz.
# Not among them by default (CI's time is spent): autobahn-server-h3 and
# autobahn-client-h3, the suite over HTTP/3 through
# crates/wsx/examples/autobahn_bridge_h3.rs (`scripts/test.sh autobahn-server-h3 autobahn-client-h3`).
# Every stage runs even when an earlier one failed (a clippy lint must not hide
# an Autobahn regression); the exit status is non-zero if any failed. The last
# line is "N passed, N failed", counting stages.
#
# Needs the Rust toolchain (with rustfmt and clippy) and python3 >= 3.10; the
# setup stage (scripts/setup.sh) installs the rest on a fresh Debian machine;
# Python peers (kosoku, websockets) go into .venv via scripts/setup-venv.sh.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

all_stages=(setup readme fmt clippy no-tokio bench test doc miri asan peers peers-h2 autobahn-server autobahn-client autobahn-server-h2 autobahn-client-h2 autobahn-server-blocking autobahn-client-blocking fuzz)
if (($#)); then stages=("$@"); else stages=("${all_stages[@]}"); fi
for stage in "${stages[@]}"; do
    [[ " ${all_stages[*]} autobahn-server-h3 autobahn-client-h3 " == *" $stage "* ]] || { echo "unknown stage '$stage'; stages: ${all_stages[*]}" >&2; exit 2; }
done

export WSX_VENV="${WSX_VENV:-$root/.venv}"
export WSX_PYTHON="${WSX_PYTHON:-$WSX_VENV/bin/python}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# CI builds once: incremental caches would only take disk.
[[ "${CI:-}" == true ]] && export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# What each stage leaves on disk that no later stage reads. CI machines have
# little disk, so under CI=true each is removed when its last reader is done
# (a developer's run keeps them: the next run is faster with them).
stage_leftovers() {
    case "$1" in
        bench) echo "bench/target" ;;
        # clippy, test and doc share target/debug; doc is its last reader.
        doc) echo "target/debug" ;;
        miri) echo "target/miri" ;;
        asan) echo "target/asan" ;;
    esac
}
disk_free() { df -Pk "$root" | awk 'NR == 2 { printf "%.1f GiB free", $4 / 1048576 }'; }

# Each stage: its command, and a time limit in seconds (a hang fails the stage,
# not the whole CI run).
stage_command() {
    case "$1" in
        setup) echo "bash scripts/setup.sh" ;;
        readme) echo "bash scripts/readme.sh" ;;
        fmt) echo "cargo fmt --all -- --check" ;;
        clippy) echo "cargo clippy --workspace --all-targets --all-features -- -D warnings" ;;
        # The blocking driver's dependency tree holds no async runtime.
        no-tokio) echo "bash scripts/no-tokio.sh" ;;
        # bench/ is a workspace of its own (the peers' crates stay out of
        # ours): it must keep compiling, lint-clean, with every change.
        bench) echo "cargo clippy --manifest-path bench/Cargo.toml --all-targets -- -D warnings" ;;
        test) echo "cargo test --workspace --all-features --no-fail-fast" ;;
        doc) echo "env RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps" ;;
        miri) echo "bash scripts/miri.sh" ;;
        asan) echo "bash scripts/asan.sh" ;;
        peers) echo "bash interop/python/selftest.sh" ;;
        peers-h2) echo "bash interop/python/h2_selftest.sh" ;;
        autobahn-server) echo "bash scripts/autobahn.sh server" ;;
        autobahn-client) echo "bash scripts/autobahn.sh client" ;;
        # The same suites over HTTP/2 (RFC 8441), through the byte-copying
        # bridge (crates/wsx/examples/autobahn_bridge.rs).
        autobahn-server-h2) echo "env AUTOBAHN_TRANSPORT=h2 bash scripts/autobahn.sh server" ;;
        autobahn-client-h2) echo "env AUTOBAHN_TRANSPORT=h2 bash scripts/autobahn.sh client" ;;
        # The same suites against the blocking driver (crates/wsx-blocking):
        # its thread-per-connection echo server and its client.
        autobahn-server-blocking) echo "env AUTOBAHN_DRIVER=blocking bash scripts/autobahn.sh server" ;;
        autobahn-client-blocking) echo "env AUTOBAHN_DRIVER=blocking bash scripts/autobahn.sh client" ;;
        autobahn-server-h3) echo "env AUTOBAHN_TRANSPORT=h3 bash scripts/autobahn.sh server" ;;
        autobahn-client-h3) echo "env AUTOBAHN_TRANSPORT=h3 bash scripts/autobahn.sh client" ;;
        fuzz) echo "bash scripts/fuzz.sh 25" ;;
    esac
}
stage_limit() {
    case "$1" in
        setup) echo 1200 ;;
        fmt | peers | peers-h2 | no-tokio) echo 300 ;;
        readme) echo 1800 ;;
        miri | asan) echo 900 ;;
        clippy | doc | bench) echo 1200 ;;
        test) echo 1800 ;;
        autobahn-*) echo 1800 ;;
        fuzz) echo 900 ;;
    esac
}
needs_venv() { [[ "$1" == readme || "$1" == peers* || "$1" == autobahn-* ]]; }

results=()
passed=0
failed=0
venv_ok=1
suite_start=$SECONDS
echo "disk: $(disk_free) at the start"

for stage in "${stages[@]}"; do
    cmd="$(stage_command "$stage")"
    limit="$(stage_limit "$stage")"
    echo
    echo "=== stage $stage: $cmd"
    start=$SECONDS
    rc=0
    if needs_venv "$stage" && ((!venv_ok)); then
        echo "skipped: the venv could not be set up"
        rc=1
    else
        # shellcheck disable=SC2086 # the commands above are split on purpose
        timeout --kill-after=30 "$limit" $cmd </dev/null || rc=$?
    fi
    took=$((SECONDS - start))
    if ((rc == 0)); then
        status=PASS
        passed=$((passed + 1))
    else
        status="FAIL (exit $rc)"
        ((rc == 124 || rc == 137)) && status="FAIL (timed out after ${limit} s)"
        failed=$((failed + 1))
        [[ "$stage" == setup ]] && venv_ok=0
    fi
    echo "=== stage $stage: $status in ${took} s ($(disk_free))"
    if [[ "${CI:-}" == true ]]; then
        for dir in $(stage_leftovers "$stage"); do
            rm -rf "${root:?}/$dir"
        done
    fi
    results+=("$(printf '%-16s %-32s %5d s' "$stage" "$status" "$took")")
done

echo
echo "=== summary ($((SECONDS - suite_start)) s)"
printf '%s\n' "${results[@]}"
echo "$passed passed, $failed failed"
((failed == 0))
