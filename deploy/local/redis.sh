#!/usr/bin/env bash
# redis.sh -- Debian's redis-server on a free 127.0.0.1 port, no
# persistence, in the foreground of a background job.
#
#   redis.sh start DIR [TLS_DIR]   start and wait for PING; writes DIR/env
#   redis.sh stop DIR              TERM (redis exits at once with no
#                                  persistence)
#
# With TLS_DIR (a tls.sh CA), the same server also listens with TLS on a
# second free port, its certificate "redis" issued by that CA (for
# 127.0.0.1 and localhost); a client certificate is optional and, when
# sent, verified against the CA. DIR/env then has REDIS_TLS_URL too,
# rediss://localhost:PORT/0: by name, so SNI and the name check are
# exercised (hiredis tries IPv4 first).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# The tls-* arguments of redis-server for TLS_DIR on port $2, or nothing.
tls_args() {
    local tls=$1 port=$2
    [ -n "$tls" ] || return 0
    printf '%s\n' --tls-port "$port" --tls-cert-file "$tls/redis.pem" \
        --tls-key-file "$tls/redis.key" --tls-ca-cert-file "$tls/ca.pem" \
        --tls-auth-clients optional
}

start() {
    local dir=$1 tls=${2:-} port tls_port='' attempt pid
    local -a extra
    mkdir -p "$dir"
    [ -z "$tls" ] || "$(dirname "$0")/tls.sh" cert "$tls" redis
    for attempt in 1 2 3; do
        port=$(free_port)
        [ -z "$tls" ] || tls_port=$(free_port)
        mapfile -t extra < <(tls_args "$tls" "$tls_port")
        redis-server --bind 127.0.0.1 --port "$port" --save '' \
            --appendonly no --dir "$dir" --daemonize no \
            --logfile "$dir/redis.log" "${extra[@]}" &
        pid=$!
        echo "$pid" >"$dir/pid"
        if wait_until 20 redis-cli -h 127.0.0.1 -p "$port" ping &&
            { [ -z "$tls" ] || wait_until 10 redis-cli -h localhost \
                -p "$tls_port" --tls --cacert "$tls/ca.pem" ping; }; then
            echo "REDIS_URL=redis://127.0.0.1:$port/0" >"$dir/env"
            [ -z "$tls" ] ||
                echo "REDIS_TLS_URL=rediss://localhost:$tls_port/0" >>"$dir/env"
            return 0
        fi
        stop_pid "$dir/pid" 5
        say "redis: not ready on port $port, retrying ($attempt)"
    done
    die "redis: did not start (see $dir/redis.log)"
}

case "${1:-}" in
start) start "${2:?usage: redis.sh start DIR [TLS_DIR]}" "${3:-}" ;;
stop) stop_pid "${2:?usage: redis.sh stop DIR}/pid" 10 ;;
*) die "usage: redis.sh start DIR [TLS_DIR] | stop DIR" ;;
esac
