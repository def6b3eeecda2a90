#!/usr/bin/env bash
# The long load and soak run (the CI `test` stage runs a short one):
#
#   scripts/soak.sh                 10,000 connections, 20 messages each, 60 s of churn
#   scripts/soak.sh 20000 50 600    connections, messages per connection, churn seconds
#
# Opens the connections to a real `wsx serve` (release build) from
# 127.0.0.2–17, checks every echoed message (sequence number, checksum,
# order), churns short connections, prints the server's RSS per idle
# connection, checks that its descriptors and RSS are back near the baseline
# after the churn (load.rs, `rss_allowance`) and that a second wave reuses
# the memory. Each process needs
# a descriptor per connection plus some: the soft limit is raised to the hard
# one (`ulimit -Hn`), which must therefore exceed the connection count.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

export WSX_LOAD_CONNECTIONS="${1:-10000}"
export WSX_LOAD_MESSAGES="${2:-20}"
export WSX_LOAD_CHURN_SECS="${3:-60}"
ulimit -n "$(ulimit -Hn)"
echo "soak: $WSX_LOAD_CONNECTIONS connections, $WSX_LOAD_MESSAGES messages each, ${WSX_LOAD_CHURN_SECS} s of churn (fd limit $(ulimit -n))"
exec cargo test --release -p wsx-cli --test load -- --nocapture
