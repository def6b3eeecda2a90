#!/usr/bin/env bash
# Runs the tests of wsx's one FFI `unsafe` block (setsockopt(SO_RCVLOWAT),
# crates/wsx/src/low_water.rs) and the driver tests that reach it over real
# TCP under the address sanitizer. Miri cannot run them: they call the
# kernel.
#
#   scripts/asan.sh
#
# Needs the nightly toolchain (the sanitizer is a nightly flag); it is
# installed with rustup when missing. Where rustup cannot fetch it, the
# script says so and stops without failing (the fuzz stage needs the same
# toolchain and would say so too).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "asan: installing the nightly toolchain"
    if ! rustup toolchain install nightly --profile minimal 2>&1 | tail -3 || ! cargo +nightly --version >/dev/null 2>&1; then
        echo "asan: not available on this machine (rustup could not fetch the nightly toolchain)"
        exit 0
    fi
fi
cargo +nightly --version
host="$(rustc -vV | sed -n 's/^host: //p')"
# An explicit --target keeps build scripts and proc macros uninstrumented;
# a target directory of its own keeps the instrumented build apart.
export RUSTFLAGS="-Zsanitizer=address" ASAN_OPTIONS="detect_leaks=0"
cargo +nightly test -p wsx --target "$host" --target-dir target/asan --lib low_water
exec cargo +nightly test -p wsx --target "$host" --target-dir target/asan --test low_water
