#!/usr/bin/env bash
# The benchmark, in one command: builds Switchboard and the load generator in release mode, sets up
# the peers in a virtualenv (the FastAPI tutorial's code on uvicorn, and the same endpoints on
# uWebSockets through socketify), then runs every scenario against all three (Benchmarks/run.py).
#   Benchmarks/run.sh            # the full run (about 10 minutes)
#   Benchmarks/run.sh --quick    # shorter phases and sizes, to try it out
# Any other option goes to run.py (see Benchmarks/run.py --help). Run by hand, never in CI.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

command -v taskset > /dev/null || { echo "error: taskset (util-linux) is needed" >&2; exit 1; }
# The socketify peer (uWebSockets) loads Debian's libuv1.
if ! ldconfig -p | grep -q 'libuv\.so\.1'; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "==> Installing libuv1 for the socketify peer" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libuv1 >&2 || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libuv1 >&2; }
    else
        echo "error: the socketify peer needs libuv1 (apt-get install libuv1), or run with --servers switchboard,fastapi" >&2
        exit 1
    fi
fi

echo "==> Building release binaries" >&2
swift build -c release --product switchboard >&2
swift build -c release --product switchboard-bench >&2
BIN=$(swift build -c release --show-bin-path)

VENV="$ROOT/.build/bench-venv"
STAMP=$(sha256sum Benchmarks/peers/requirements.txt | cut -d' ' -f1)
if [ ! -f "$VENV/.stamp" ] || [ "$(cat "$VENV/.stamp")" != "$STAMP" ]; then
    echo "==> Installing the peers' packages (FastAPI, uvicorn, socketify) in $VENV" >&2
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r Benchmarks/peers/requirements.txt >&2
    echo "$STAMP" > "$VENV/.stamp"
fi

exec python3 Benchmarks/run.py --bench "$BIN/switchboard-bench" --switchboard "$BIN/switchboard" --fastapi-venv "$VENV" "$@"
