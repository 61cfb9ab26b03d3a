#!/usr/bin/env bash
# redis.sh -- Debian's redis-server on a free 127.0.0.1 port, no
# persistence, in the foreground of a background job.
#
#   redis.sh start DIR    start and wait for PING; writes DIR/env
#   redis.sh stop DIR     TERM (redis exits at once with no persistence)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

start() {
    local dir=$1 port attempt pid
    mkdir -p "$dir"
    for attempt in 1 2 3; do
        port=$(free_port)
        redis-server --bind 127.0.0.1 --port "$port" --save '' \
            --appendonly no --dir "$dir" --daemonize no \
            --logfile "$dir/redis.log" &
        pid=$!
        echo "$pid" >"$dir/pid"
        if wait_until 20 redis-cli -h 127.0.0.1 -p "$port" ping; then
            echo "REDIS_URL=redis://127.0.0.1:$port/0" >"$dir/env"
            return 0
        fi
        stop_pid "$dir/pid" 5
        say "redis: not ready on port $port, retrying ($attempt)"
    done
    die "redis: did not start (see $dir/redis.log)"
}

case "${1:-}" in
start) start "${2:?usage: redis.sh start DIR}" ;;
stop) stop_pid "${2:?usage: redis.sh stop DIR}/pid" 10 ;;
*) die "usage: redis.sh start DIR | stop DIR" ;;
esac
