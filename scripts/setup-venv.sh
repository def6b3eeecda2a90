#!/usr/bin/env bash
# Create (or reuse) the Python venv holding the pinned test peers.
#
#   scripts/setup-venv.sh          -> .venv at the repository root
#   WSX_VENV=/path scripts/...     -> somewhere else
#   PYTHON=python3.12 scripts/...  -> another interpreter
#
# Idempotent: a stamp in the venv records a hash of interop/requirements.txt
# and of the interpreter; when both match, nothing is installed. A venv whose
# python no longer runs is rebuilt. Prints the venv's path on the last line.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${WSX_VENV:-$root/.venv}"
python="${PYTHON:-python3}"
requirements="$root/interop/requirements.txt"
stamp="$venv/.wsx-requirements.sha256"

if ! command -v "$python" >/dev/null 2>&1; then
    echo "setup-venv: '$python' not found; install Python >= 3.10" >&2
    exit 1
fi

# What the venv must match: the requirements and the interpreter that made it.
want="$( { cat "$requirements"; "$python" -c 'import sys; print(sys.version, sys.executable)'; } | sha256sum | cut -d' ' -f1)"

if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c '' 2>/dev/null \
    && [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "setup-venv: up to date"
    echo "$venv"
    exit 0
fi

if ! { [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c '' 2>/dev/null; }; then
    rm -rf "$venv"
    echo "setup-venv: creating $venv with $("$python" --version 2>&1)"
    if ! "$python" -m venv "$venv"; then
        echo "setup-venv: '$python -m venv' failed; on Debian install python3-venv" >&2
        rm -rf "$venv"
        exit 1
    fi
fi

echo "setup-venv: installing $(grep -Ev '^\s*(#|$)' "$requirements" | tr '\n' ' ')"
rm -f "$stamp"
PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 \
    "$venv/bin/python" -m pip install --quiet --retries 5 --timeout 60 -r "$requirements"
"$venv/bin/python" -m pip check >/dev/null
echo "$want" >"$stamp"
"$venv/bin/python" - <<'PY'
import importlib.metadata as md
print("setup-venv: " + ", ".join(f"{n} {md.version(n)}" for n in ("kosoku", "websockets", "h2", "wsproto", "hypercorn", "trustme", "aioquic")))
PY
echo "$venv"
