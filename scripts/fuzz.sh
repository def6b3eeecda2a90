#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ (every &[u8] entry point of wsx-proto,
# and h2_server: the server's HTTP/2 path fed client frames).
#
#   scripts/fuzz.sh                 every target for 25 s (what CI runs)
#   scripts/fuzz.sh 3600            every target for an hour
#   scripts/fuzz.sh 600 utf8 ...    only these targets
#
# For each target: build once (address sanitizer, release), replay the
# committed seed corpus (fuzz/seeds/TARGET) and the local corpus
# (fuzz/corpus/TARGET, not committed), then fuzz for the given time with
# libFuzzer's memory limit. A crash, a failed assertion, a leak, more than
# $FUZZ_RSS_LIMIT_MB of memory or an input running over 10 s fails the
# script; the input is left in fuzz/artifacts/TARGET/ (reproduce with
# `RUSTC_BOOTSTRAP=1 cargo fuzz run -O TARGET fuzz/artifacts/TARGET/crash-…`).
#
# cargo-fuzz is installed from crates.io if missing. The toolchain is stable;
# RUSTC_BOOTSTRAP=1 lets cargo-fuzz use the nightly-only sanitizer flags.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

seconds="${1:-25}"
shift || true
all_targets=(frame_header connection_server connection_client handshake_request handshake_response extension_params inflate utf8 message_round_trip h2_server)
if (($#)); then targets=("$@"); else targets=("${all_targets[@]}"); fi
rss_limit="${FUZZ_RSS_LIMIT_MB:-512}"
cargo_fuzz_version=0.13.2

export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz $cargo_fuzz_version (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked --version "$cargo_fuzz_version"
fi

start=$SECONDS
echo "fuzz: building ${#targets[@]} targets"
# `cargo fuzz build` builds one target or all of them; all share the
# dependencies, so building all costs little more than one.
cargo fuzz build -O
echo "fuzz: built in $((SECONDS - start)) s"

triple="$(rustc -vV | sed -n 's/^host: //p')"
bin_dir="fuzz/target/$triple/release"

failed=()
for target in "${targets[@]}"; do
    bin="$bin_dir/$target"
    [[ -x "$bin" ]] || { echo "fuzz: no target '$target'; targets: ${all_targets[*]}" >&2; exit 2; }
    seeds="fuzz/seeds/$target"
    corpus="fuzz/corpus/$target"
    artifacts="fuzz/artifacts/$target/"
    mkdir -p "$corpus" "$artifacts"
    log="$(mktemp)"
    t0=$SECONDS
    # Seeds and the local corpus are replayed first, then new inputs are
    # searched for until the time is up.
    rc=0
    "$bin" "$corpus" "$seeds" -max_total_time="$seconds" -rss_limit_mb="$rss_limit" -malloc_limit_mb="$rss_limit" \
        -timeout=10 -max_len=8192 -artifact_prefix="$artifacts" -print_final_stats=1 >"$log" 2>&1 || rc=$?
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    cov="$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 || true)"
    if ((rc == 0)); then
        printf 'fuzz: %-20s ok    %9s runs in %3d s (%s)\n' "$target" "${runs:-?}" "$((SECONDS - t0))" "${cov:-cov: ?}"
    else
        printf 'fuzz: %-20s FAILED (exit %d) after %d s\n' "$target" "$rc" "$((SECONDS - t0))"
        grep -E 'panicked|ERROR|SUMMARY|Test unit written|assert' "$log" | head -n 20 || true
        tail -n 40 "$log"
        failed+=("$target")
    fi
    rm -f "$log"
done

echo "fuzz: ${#targets[@]} targets, $((${#targets[@]} - ${#failed[@]})) ok, ${#failed[@]} failed, $((SECONDS - start)) s in all"
((${#failed[@]} == 0))
