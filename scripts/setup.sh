#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain, on a fresh
# Debian machine; idempotent, so it is the first stage of scripts/test.sh:
# Debian packages only if missing, npm packages from the committed lock files,
# and the Python venv (kosoku, websockets) via scripts/setup-venv.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive

# --- system packages, only if something is missing ----------------------------
apt_packages=()
command -v python3 >/dev/null 2>&1 || apt_packages+=(python3)
# `python3 -m venv` needs ensurepip, which Debian ships in python3-venv; try it
# for real, since the module can exist and still refuse.
if command -v python3 >/dev/null 2>&1; then
    probe="$(mktemp -d)"
    python3 -m venv "$probe/v" >/dev/null 2>&1 || apt_packages+=(python3-venv)
    rm -rf "$probe"
fi
# Real proxies for the wsx proxy tests (crates/wsx/tests/proxy.rs): tinyproxy
# (HTTP CONNECT), dante (SOCKS5) and microsocks (SOCKS5 with a password).
command -v tinyproxy >/dev/null 2>&1 || apt_packages+=(tinyproxy)
command -v danted >/dev/null 2>&1 || [[ -x /usr/sbin/danted ]] || apt_packages+=(dante-server)
command -v microsocks >/dev/null 2>&1 || apt_packages+=(microsocks)
# The rooms tests: Chromium for the demo page (crates/wsx-cli/tests/browser.rs,
# with a font so pages render), Node for playwright-core, and redis-server
# for rooms across nodes (crates/wsx-cli/tests/redis.rs).
[[ -x /usr/bin/chromium ]] || apt_packages+=(chromium)
[[ -d /usr/share/fonts/truetype/dejavu ]] || apt_packages+=(fonts-dejavu-core)
command -v node >/dev/null 2>&1 || apt_packages+=(nodejs)
command -v npm >/dev/null 2>&1 || apt_packages+=(npm)
command -v redis-server >/dev/null 2>&1 || apt_packages+=(redis-server)
# The fuzz stage (scripts/fuzz.sh): libfuzzer-sys compiles libFuzzer, C++.
command -v c++ >/dev/null 2>&1 || apt_packages+=(g++)
# `wsx` runs on jemalloc (tikv-jemalloc-sys builds it from source with make).
command -v make >/dev/null 2>&1 || apt_packages+=(make)

if ((${#apt_packages[@]})); then
    echo "ci: installing Debian packages: ${apt_packages[*]}"
    sudo=()
    ((EUID == 0)) || sudo=(sudo -n)
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${apt_packages[@]}"
fi

# --- npm packages, pinned by the committed package-lock.json -----------------
# playwright-core drives the system Chromium; it downloads no browser.
(cd interop/browser && npm ci --no-audit --no-fund --loglevel=error)
# Node `ws` 8, the permessage-deflate interop peer (crates/wsx/tests/interop_node.rs).
(cd interop/node && npm ci --no-audit --no-fund --loglevel=error)

# --- Python peers: kosoku (Autobahn) and websockets, pinned -------------------
bash scripts/setup-venv.sh
