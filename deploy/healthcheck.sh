#!/bin/bash
# The image's HEALTHCHECK: GET /health on the switchboard in this container, without curl (the
# runtime image is debian:bookworm-slim): bash's /dev/tcp. Exits 0 on 200 and 1 otherwise, printing
# the status line. Follows the address settings the server reads (SWITCHBOARD_HOST, SWITCHBOARD_PORT,
# SWITCHBOARD_PATH_PREFIX); a server bound to every address is asked on 127.0.0.1.
host=${SWITCHBOARD_HOST:-127.0.0.1}
case "$host" in 0.0.0.0 | "::" | "[::]" | "") host=127.0.0.1 ;; esac
port=${SWITCHBOARD_PORT:-8000}
prefix=${SWITCHBOARD_PATH_PREFIX:-}
prefix=${prefix%/}
exec 3<> "/dev/tcp/$host/$port" || exit 1
printf 'GET %s/health HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n\r\n' "$prefix" "$host" "$port" >&3
IFS= read -r -t 5 status <&3 || { echo "no answer from $host:$port"; exit 1; }
status=${status%$'\r'}
echo "$status"
case "$status" in "HTTP/1."?" 200"*) exit 0 ;; *) exit 1 ;; esac
