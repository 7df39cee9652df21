#!/usr/bin/env bash
# Cross-node cost of the PostgreSQL and Redis engines: one protocol channel, a publisher and S
# subscribers, in these set-ups on the same machine and in the same run:
#   memory       one node, in-memory engine (the baseline)
#   pg-same      one node, PostgreSQL engine, publisher and subscribers on it
#   pg-cross     two nodes, PostgreSQL engine, publisher on node A, subscribers on node B
#   redis-same, redis-cross           the same on the Redis engine, redis-server on CPU 0 with the nodes
#   redis-own-core-same, -cross       redis-server on CPU 1 (beside the load generator)
# each with one publisher connection and with --publishers of them taking turns (a connection's
# commands run in order, so one connection has one publication in flight in the database at a time).
# Publication latency is measured at a fixed rate; throughput (publications/s reaching every
# subscriber) with at most --window publications in flight. Nodes and PostgreSQL run on CPU 0, the
# load generator on CPU 1. Starts a throwaway PostgreSQL (like scripts/test.sh) and stops everything
# it started at the end. Run by hand, never in CI:
#   Benchmarks/cluster.sh [--subscribers 100] [--rate 100] [--duration 10] [--window 16] [--publishers 8] [--out FILE]
#                         [--bin DIR] [--no-memory] [--no-redis]
# --bin DIR (or SWITCHBOARD_BENCH_BIN=DIR) runs the switchboard and switchboard-bench binaries in DIR
# instead of building this checkout's, so two builds (a base commit's and yours) can be compared in
# one sitting; --no-memory and --no-redis leave out those set-ups (a build without Redis runs with
# --no-redis).
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
REDIS=1
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
        --no-redis) REDIS=0; shift ;;
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
# An older switchboard-bench (a base commit's, with --bin) cannot report other processes' CPU.
ALSO_WORKS=0
if "$BIN/switchboard-bench" fanout --help 2>&1 | grep -q -- --also-pid; then ALSO_WORKS=1; fi

LOGS="$ROOT/.build/bench/cluster"
mkdir -p "$LOGS"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2> /dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2> /dev/null || true; done
    stop_postgres
    stop_redis
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
    local also=()
    if [ "$ALSO_WORKS" = 1 ]; then also=("${ALSO[@]}"); fi
    taskset -c 1 "$BIN/switchboard-bench" fanout --transport protocol --port "$port" --server-pid "$pid" "${also[@]}" \
        --server-name "$name" --subscribers "$SUBSCRIBERS" --rate "$RATE" --rate-duration "$DURATION" \
        --max-duration "$DURATION" --window "$WINDOW" "$@"
}

RESULTS=()
ALSO=()  # --also-pid NAME=PID: other processes whose CPU per publication each run reports
if [ "$MEMORY" = 1 ]; then
    node memory
    RESULTS+=("$(bench memory "$NODE_PORT" "$NODE_PID")")
    RESULTS+=("$(bench "memory-x$PUBLISHERS" "$NODE_PORT" "$NODE_PID" --publishers "$PUBLISHERS")")
    kill "$NODE_PID"; wait "$NODE_PID" 2> /dev/null || true
fi

node a --engine postgres --postgres-url "$DB"
A_PORT=$NODE_PORT
A_PID=$NODE_PID
node b --engine postgres --postgres-url "$DB"
B_PORT=$NODE_PORT
B_PID=$NODE_PID
# (PostgreSQL's CPU is spread over a process per connection: not measured here.)
RESULTS+=("$(bench pg-same "$B_PORT" "$B_PID")")
RESULTS+=("$(bench "pg-same-x$PUBLISHERS" "$B_PORT" "$B_PID" --publishers "$PUBLISHERS")")
ALSO=(--also-pid "publisher=$A_PID")
RESULTS+=("$(bench pg-cross "$B_PORT" "$B_PID" --publisher-port "$A_PORT")")
RESULTS+=("$(bench "pg-cross-x$PUBLISHERS" "$B_PORT" "$B_PID" --publisher-port "$A_PORT" --publishers "$PUBLISHERS")")
kill "$A_PID" "$B_PID"; wait "$A_PID" "$B_PID" 2> /dev/null || true

# redis_setups TAG CPU: two nodes on a throwaway redis-server pinned to CPU, same-node and cross-node runs.
redis_setups() {
    local tag=$1 cpu=$2
    echo "==> Starting a throwaway redis-server on CPU $cpu" >&2
    start_redis
    taskset -a -p -c "$cpu" "$REDIS_PID" > /dev/null
    node "$tag-a" --engine redis --redis-url "127.0.0.1:$REDIS_PORT"
    local a_port=$NODE_PORT a_pid=$NODE_PID
    node "$tag-b" --engine redis --redis-url "127.0.0.1:$REDIS_PORT"
    local b_port=$NODE_PORT b_pid=$NODE_PID
    ALSO=(--also-pid "redis=$REDIS_PID")
    RESULTS+=("$(bench "$tag-same" "$b_port" "$b_pid")")
    RESULTS+=("$(bench "$tag-same-x$PUBLISHERS" "$b_port" "$b_pid" --publishers "$PUBLISHERS")")
    ALSO+=(--also-pid "publisher=$a_pid")
    RESULTS+=("$(bench "$tag-cross" "$b_port" "$b_pid" --publisher-port "$a_port")")
    RESULTS+=("$(bench "$tag-cross-x$PUBLISHERS" "$b_port" "$b_pid" --publisher-port "$a_port" --publishers "$PUBLISHERS")")
    kill "$a_pid" "$b_pid"; wait "$a_pid" "$b_pid" 2> /dev/null || true
    stop_redis
}
if [ "$REDIS" = 1 ]; then
    redis_setups redis 0
    redis_setups redis-own-core 1
fi

{
    REDIS_VERSION=none
    if [ "$REDIS" = 1 ]; then REDIS_VERSION=$(/usr/bin/redis-server --version | cut -d' ' -f3); fi
    echo "{\"date\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"bin\":\"$BIN\",\"machine\":\"$(uname -srm) $(nproc) CPUs $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')\",\"postgres\":\"$("$PG_BIN/postgres" --version)\",\"redis\":\"$REDIS_VERSION\",\"runs\":["
    (IFS=,; echo "${RESULTS[*]}")
    echo "]}"
} > "${OUT:-/dev/stdout}"
python3 - "$OUT" "${RESULTS[@]}" <<'PY' >&2
import json, sys
print(f"{'setup':24} {'p50 ms':>8} {'p99 ms':>8} {'pubs/s':>9} {'deliveries/s':>13} {'node CPU us/delivery':>21} {'us/pub: node B':>15} {'pub node':>9} {'redis':>7} {'lost':>5}")
for line in sys.argv[2:]:
    r = json.loads(line)
    m = r["metrics"]
    store = m.get('redis_cpu_us_per_publication', float('nan'))
    print(f"{r['server']:24} {m.get('fixed_rate_p50_us', float('nan'))/1000:8.2f} {m.get('fixed_rate_p99_us', float('nan'))/1000:8.2f} "
          f"{m['publications_per_s']:9.0f} {m['deliveries_per_s']:13.0f} {m['server_cpu_us_per_delivery']:21.2f} "
          f"{m.get('server_cpu_us_per_publication', float('nan')):15.1f} {m.get('publisher_cpu_us_per_publication', float('nan')):9.1f} {store:7.1f} {m['lost']:5.0f}")
PY
