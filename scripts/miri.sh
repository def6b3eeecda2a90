#!/usr/bin/env bash
# Runs the tests of wsx-proto's one `unsafe` block (`Utf8Bytes::as_str`)
# under Miri, which reports undefined behaviour the tests alone cannot see.
#
#   scripts/miri.sh
#
# Miri needs the nightly toolchain with its `miri` and `rust-src` components;
# they are installed with rustup when missing. Where rustup cannot fetch them,
# the script says so and stops without failing: the same code is exercised
# under the address sanitizer by the fuzz stage (scripts/fuzz.sh), which
# checks every received text against std::str::from_utf8.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! cargo +nightly miri --version >/dev/null 2>&1; then
    echo "miri: installing the nightly toolchain's miri and rust-src components"
    if ! rustup toolchain install nightly --profile minimal --component miri,rust-src 2>&1 | tail -3 ||
        ! cargo +nightly miri --version >/dev/null 2>&1; then
        echo "miri: not available on this machine (rustup could not fetch it); the fuzz stage covers as_str under ASan"
        exit 0
    fi
fi
cargo +nightly miri --version
# Only the tests that reach the unsafe block: proptest-heavy suites take
# hours under Miri's interpreter.
exec cargo +nightly miri test -p wsx-proto --lib as_str
