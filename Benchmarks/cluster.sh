#!/usr/bin/env bash
# Cross-node cost of the PostgreSQL engine: one protocol channel, a publisher and S subscribers, in
# three set-ups on the same machine and in the same run:
#   memory       one node, in-memory engine (the baseline)
#   pg-same      one node, PostgreSQL engine, publisher and subscribers on it
#   pg-cross     two nodes, PostgreSQL engine, publisher on node A, subscribers on node B
# each with one publisher connection and with --publishers of them taking turns (a connection's
# commands run in order, so one connection has one publication in flight in the database at a time).
# Publication latency is measured at a fixed rate; throughput (publications/s reaching every
# subscriber) with at most --window publications in flight. Nodes and PostgreSQL run on CPU 0, the
# load generator on CPU 1. Starts a throwaway PostgreSQL (like scripts/test.sh) and stops everything
# it started at the end. Run by hand, never in CI:
#   Benchmarks/cluster.sh [--subscribers 100] [--rate 100] [--duration 10] [--window 16] [--publishers 8] [--out FILE]
#                         [--bin DIR] [--no-memory]
# --bin DIR (or SWITCHBOARD_BENCH_BIN=DIR) runs the switchboard and switchboard-bench binaries in DIR
# instead of building this checkout's, so two builds (a base commit's and yours) can be compared in
# one sitting; --no-memory leaves out the memory set-ups.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
source scripts/lib/local-services.sh

SUBSCRIBERS=100
RATE=100
DURATION=10
WINDOW=16
PUBLISHERS=8
OUT=""
BIN=${SWITCHBOARD_BENCH_BIN:-}
MEMORY=1
while [ $# -gt 0 ]; do
    case "$1" in
        --subscribers) SUBSCRIBERS=$2; shift 2 ;;
        --rate) RATE=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --window) WINDOW=$2; shift 2 ;;
        --publishers) PUBLISHERS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --bin) BIN=$2; shift 2 ;;
        --no-memory) MEMORY=0; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
command -v taskset > /dev/null || { echo "error: taskset (util-linux) is needed" >&2; exit 1; }
postgres_bin > /dev/null || { echo "error: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }

if [ -z "$BIN" ]; then
    echo "==> Building release binaries" >&2
    swift build -c release --product switchboard >&2
    swift build -c release --product switchboard-bench >&2
    BIN=$(swift build -c release --show-bin-path)
fi
BIN=$(cd "$BIN" && pwd) || { echo "error: --bin $BIN is not a directory" >&2; exit 1; }
for tool in switchboard switchboard-bench; do
    [ -x "$BIN/$tool" ] || { echo "error: $BIN/$tool is missing: build it with swift build -c release --product $tool" >&2; exit 1; }
done
echo "==> Binaries: $BIN" >&2

LOGS="$ROOT/.build/bench/cluster"
mkdir -p "$LOGS"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2> /dev/null || true; done
    stop_postgres
}
trap cleanup EXIT

echo "==> Starting a throwaway PostgreSQL on CPU 0" >&2
taskset -c 0 true  # fail early without CPU 0
start_postgres
# start_postgres launched the server unpinned: pin it (and its children) to CPU 0 now.
for pid in $(pgrep -f "postgres -D $PG_DIR/data" || true) $(pgrep -P "$(head -1 "$PG_DIR/data/postmaster.pid")" || true); do
    taskset -a -p -c 0 "$pid" > /dev/null 2>&1 || true
done
"$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U switchboard bench
DB="postgres://switchboard@127.0.0.1:$PG_PORT/bench"

# node NAME ENGINE-ARGS...: start a node on CPU 0 on a free port; sets NODE_PORT and NODE_PID.
node() {
    local name=$1
    shift
    NODE_PORT=$(free_port)
    taskset -c 0 "$BIN/switchboard" serve --host 127.0.0.1 --port "$NODE_PORT" --threads 1 --log-level warning \
        --config Benchmarks/switchboard.json "$@" > "$LOGS/node-$name.log" 2>&1 &
    NODE_PID=$!
    PIDS+=("$NODE_PID")
    wait_healthy "$NODE_PORT" "$LOGS/node-$name.log" 30
}

# bench NAME PORT PID [--publisher-port P]: one fan-out run, its JSON line tagged with NAME.
bench() {
    local name=$1 port=$2 pid=$3
    shift 3
    echo "==> $name" >&2
    taskset -c 1 "$BIN/switchboard-bench" fanout --transport protocol --port "$port" --server-pid "$pid" \
        --server-name "$name" --subscribers "$SUBSCRIBERS" --rate "$RATE" --rate-duration "$DURATION" \
        --max-duration "$DURATION" --window "$WINDOW" "$@"
}

RESULTS=()
if [ "$MEMORY" = 1 ]; then
    node memory
    RESULTS+=("$(bench memory "$NODE_PORT" "$NODE_PID")")
    RESULTS+=("$(bench "memory-x$PUBLISHERS" "$NODE_PORT" "$NODE_PID" --publishers "$PUBLISHERS")")
    kill "$NODE_PID"; wait "$NODE_PID" 2> /dev/null || true
fi

node a --engine postgres --postgres-url "$DB"
A_PORT=$NODE_PORT
node b --engine postgres --postgres-url "$DB"
B_PORT=$NODE_PORT
B_PID=$NODE_PID
RESULTS+=("$(bench pg-same "$B_PORT" "$B_PID")")
RESULTS+=("$(bench "pg-same-x$PUBLISHERS" "$B_PORT" "$B_PID" --publishers "$PUBLISHERS")")
RESULTS+=("$(bench pg-cross "$B_PORT" "$B_PID" --publisher-port "$A_PORT")")
RESULTS+=("$(bench "pg-cross-x$PUBLISHERS" "$B_PORT" "$B_PID" --publisher-port "$A_PORT" --publishers "$PUBLISHERS")")

{
    echo "{\"date\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"bin\":\"$BIN\",\"machine\":\"$(uname -srm) $(nproc) CPUs $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')\",\"postgres\":\"$("$PG_BIN/postgres" --version)\",\"runs\":["
    (IFS=,; echo "${RESULTS[*]}")
    echo "]}"
} > "${OUT:-/dev/stdout}"
python3 - "$OUT" "${RESULTS[@]}" <<'PY' >&2
import json, sys
print(f"{'setup':14} {'p50 ms':>8} {'p99 ms':>8} {'pubs/s':>9} {'deliveries/s':>13} {'node CPU us/delivery':>21} {'lost':>5}")
for line in sys.argv[2:]:
    r = json.loads(line)
    m = r["metrics"]
    print(f"{r['server']:14} {m.get('fixed_rate_p50_us', float('nan'))/1000:8.2f} {m.get('fixed_rate_p99_us', float('nan'))/1000:8.2f} "
          f"{m['publications_per_s']:9.0f} {m['deliveries_per_s']:13.0f} {m['server_cpu_us_per_delivery']:21.2f} {m['lost']:5.0f}")
PY
