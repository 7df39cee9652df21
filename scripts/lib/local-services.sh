# Shell functions for the local services that scripts/test.sh and Benchmarks/cluster.sh start: a
# throwaway PostgreSQL, a throwaway Redis, free loopback ports, and waiting for a switchboard to be
# healthy. Source it; it defines PG_DIR, PG_BIN and PG_PORT once start_postgres has run, REDIS_DIR,
# REDIS_PORT and REDIS_PID once start_redis has.

PG_DIR=""
PG_BIN=""
PG_PORT=""
REDIS_DIR=""
REDIS_PORT=""
REDIS_PID=""

# The newest installed PostgreSQL's server binaries (Debian puts them in /usr/lib/postgresql/N/bin).
postgres_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2> /dev/null | sort -V | tail -n 1)
    [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

# PostgreSQL refuses to run as root: as root, run its tools as the postgres user Debian's package made.
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_postgres: a throwaway cluster (trust auth, fsync off) on a free loopback port, its socket and
# data in a temp dir; sets SWITCHBOARD_TEST_POSTGRES_URL for the tests.
start_postgres() {
    PG_BIN=$(postgres_bin)
    PG_DIR=$(mktemp -d /tmp/switchboard-test-pg.XXXXXX)
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$PG_DIR"; fi
    PG_PORT=$(free_port)
    as_postgres "$PG_BIN/initdb" -D "$PG_DIR/data" -U switchboard -A trust -E UTF8 > "$PG_DIR/initdb.log" 2>&1 || {
        cat "$PG_DIR/initdb.log" >&2
        exit 1
    }
    # The cluster tests stop and start this PostgreSQL in the middle of a stream: with this script.
    local runas=""
    if [ "$(id -u)" -eq 0 ]; then runas="runuser -u postgres --"; fi
    cat > "$PG_DIR/control.sh" <<CONTROL
#!/usr/bin/env bash
# stop | start the test PostgreSQL (written by scripts/test.sh)
set -euo pipefail
case "\$1" in
    stop) $runas "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 60 stop > /dev/null ;;
    start) $runas "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \\
        -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start > /dev/null ;;
    *) echo "usage: \$0 stop|start" >&2; exit 2 ;;
esac
CONTROL
    chmod 755 "$PG_DIR/control.sh"
    "$PG_DIR/control.sh" start || {
        cat "$PG_DIR/server.log" >&2
        exit 1
    }
    export SWITCHBOARD_TEST_PG_CONTROL="$PG_DIR/control.sh"
    export SWITCHBOARD_TEST_POSTGRES_URL="postgres://switchboard@127.0.0.1:$PG_PORT/postgres"
    export SWITCHBOARD_REQUIRE_POSTGRES=1
}

# stop_postgres: stop the cluster start_postgres started and remove its directory (if any).
stop_postgres() {
    if [ -n "$PG_DIR" ]; then
        "$PG_DIR/control.sh" stop > /dev/null 2>&1 || true
        rm -rf "$PG_DIR"
        PG_DIR=""
    fi
}

# start_redis: a throwaway redis-server (Debian's, /usr/bin/redis-server) on a free loopback port, its
# data and log in a temp dir, nothing saved; waits until it answers PING. (The cluster tests start
# their own, from Python: Tests/Cluster/backing.py.)
start_redis() {
    REDIS_DIR=$(mktemp -d /tmp/switchboard-test-redis.XXXXXX)
    REDIS_PORT=$(free_port)
    /usr/bin/redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$REDIS_DIR" --save "" --appendonly no \
        --daemonize no --logfile "$REDIS_DIR/redis.log" &
    REDIS_PID=$!
    for _ in $(seq 1 100); do
        if python3 - "$REDIS_PORT" 2> /dev/null <<'PY'
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1) as s:
    s.sendall(b"PING\r\n")
    assert s.recv(7) == b"+PONG\r\n"
PY
        then
            return
        fi
        sleep 0.1
    done
    echo "error: redis-server did not answer on port $REDIS_PORT in 10 s; its log:" >&2
    cat "$REDIS_DIR/redis.log" >&2
    exit 1
}

# stop_redis: stop the redis-server start_redis started (by its PID) and remove its directory (if any).
stop_redis() {
    if [ -n "$REDIS_PID" ]; then
        kill "$REDIS_PID" 2> /dev/null || true
        wait "$REDIS_PID" 2> /dev/null || true
        REDIS_PID=""
    fi
    if [ -n "$REDIS_DIR" ]; then
        rm -rf "$REDIS_DIR"
        REDIS_DIR=""
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_healthy PORT LOG SECONDS [PREFIX]: wait until the switchboard on PORT answers PREFIX/health
# with 200; if it does not within SECONDS, print its LOG and exit 1.
wait_healthy() {
    local port=$1 log_file=$2 seconds=$3 prefix=${4:-}
    for _ in $(seq 1 $((seconds * 10))); do
        if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port$prefix/health', timeout=1)" 2> /dev/null; then
            return
        fi
        sleep 0.1
    done
    echo "error: switchboard on port $port did not become healthy in $seconds s; its log:" >&2
    cat "$log_file" >&2
    exit 1
}
