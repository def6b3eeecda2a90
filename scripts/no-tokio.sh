#!/usr/bin/env bash
# The blocking driver must not bring an async runtime along (issue 20): no
# tokio, nor any other runtime or futures crate, in wsx-blocking's normal
# dependency tree, with its default features and with all of them.
#
#   scripts/no-tokio.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
forbidden='^(tokio|tokio-[a-z-]+|async-std|async-io|smol|futures|futures-[a-z-]+|mio) v'
failed=0
for features in "" "--all-features"; do
    # shellcheck disable=SC2086 # empty or one flag
    tree="$(cargo tree -p wsx-blocking -e normal --prefix none $features)"
    if hits="$(grep -E "$forbidden" <<<"$tree" | sort -u)" && [[ -n "$hits" ]]; then
        echo "no-tokio: wsx-blocking ${features:-(default features)} depends on:" >&2
        echo "$hits" >&2
        failed=1
    else
        count="$(sort -u <<<"$tree" | wc -l)"
        echo "no-tokio: wsx-blocking ${features:-(default features)}: $count crates, no async runtime"
    fi
done
exit "$failed"
