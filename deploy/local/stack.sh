#!/usr/bin/env bash
# stack.sh -- the local stack: Kafka 3.9 (KRaft), redis-server and hms-sim,
# all on free 127.0.0.1 ports, with every topic of deploy/local/topics.txt.
#
#   stack.sh up DIR     start everything under DIR; write DIR/stack.env
#   stack.sh down DIR   stop everything started under DIR (safe to repeat)
#
# DIR/stack.env is what tests and `make dev` source: KAFKA_BROKERS,
# REDIS_URL, HMS_API_BASE (the simulator, over HTTPS), HMS_SIM_URL,
# HMS_API_CA_FILE (the stack's CA, which the worker trusts for it),
# HMS_SIM_TLS_CERT and HMS_SIM_TLS_KEY (its certificate), HMS_ACCESS_KEY,
# HMS_APP_SECRET_FILE, HMS_TEMPLATE_ID and HMS_SUBDOMAIN (the built-in
# template's: 100ms requires a meeting_url to start HLS, and the worker
# builds one from it). The app secret is random per stack and lives in a
# 0600 file, never in the environment file itself.
# STACK_CA_FILE is the stack's own CA (tls.sh), which signs the servers'
# certificates for TLS: clients verify them against it.
# SIM_WRAP (e.g. "valgrind ...") runs hms-sim under a wrapper; NO_SIM=1
# leaves it out (make dev against the real 100ms API).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BIN=${BIN:-$ROOT/build/${SAN:-release}}
ACCESS_KEY=hms-local-access-key
TEMPLATE_ID=6a1b00000000000000000001 # the simulator's built-in template
SUBDOMAIN=hmsworker                  # and its Prebuilt subdomain

# start_sim DIR TLS_DIR: hms-sim over HTTPS, as 100ms is, with a certificate
# of the stack's CA (TLS_DIR/sim.pem); the worker trusts that CA through
# HMS_API_CA_FILE, so every test takes production's TLS path.
start_sim() {
    local dir=$1 tls=$2 port
    mkdir -p "$dir"
    (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '\n' >"$dir/app-secret")
    rm -f "$dir/port"
    "$ROOT/deploy/local/tls.sh" cert "$tls" sim
    # shellcheck disable=SC2086 # SIM_WRAP is a command line
    HMS_APP_SECRET_FILE="$dir/app-secret" ${SIM_WRAP:-} "$BIN/hms-sim" \
        --port-file "$dir/port" --access-key "$ACCESS_KEY" \
        --tls-cert "$tls/sim.pem" --tls-key "$tls/sim.key" \
        ${SIM_ARGS:-} >"$dir/sim.log" 2>&1 &
    echo $! >"$dir/pid"
    wait_until 60 test -s "$dir/port" ||
        { cat "$dir/sim.log" >&2; die "hms-sim did not start"; }
    port=$(cat "$dir/port")
    wait_until 30 curl -fsS --cacert "$tls/ca.pem" \
        "https://127.0.0.1:$port/__sim/health" ||
        die "hms-sim does not answer on port $port"
    # HMS_SIM_TLS_*: for tests that start an hms-sim of their own
    cat >"$dir/env" <<ENV
HMS_API_BASE=https://127.0.0.1:$port/v2
HMS_SIM_URL=https://127.0.0.1:$port
HMS_API_CA_FILE=$tls/ca.pem
HMS_SIM_TLS_CERT=$tls/sim.pem
HMS_SIM_TLS_KEY=$tls/sim.key
HMS_ACCESS_KEY=$ACCESS_KEY
HMS_APP_SECRET_FILE=$dir/app-secret
HMS_TEMPLATE_ID=$TEMPLATE_ID
HMS_SUBDOMAIN=$SUBDOMAIN
ENV
}

up() {
    local dir=$1 kafka_job
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    "$ROOT/deploy/local/tls.sh" ca "$dir/tls"
    # The broker takes longest: start it while Redis and hms-sim come up.
    "$ROOT/deploy/local/kafka.sh" start "$dir/kafka" >"$dir/kafka.out" 2>&1 &
    kafka_job=$!
    "$ROOT/deploy/local/redis.sh" start "$dir/redis"
    if [ -n "${NO_SIM:-}" ]; then
        mkdir -p "$dir/sim" && : >"$dir/sim/env"
    else
        start_sim "$dir/sim" "$dir/tls"
    fi
    wait "$kafka_job" || { cat "$dir/kafka.out" >&2; die "kafka did not start"; }
    # shellcheck disable=SC1091
    . "$dir/kafka/env"
    # shellcheck disable=SC2046 # one argument per topic
    "$BIN/mktopics" "$KAFKA_BROKERS" $(grep -v '^#' "$ROOT/deploy/local/topics.txt") \
        2>"$dir/mktopics.log" || { cat "$dir/mktopics.log" >&2; die "topics"; }
    { echo "STACK_DIR=$dir"; echo "STACK_CA_FILE=$dir/tls/ca.pem"; cat "$dir/kafka/env" "$dir/redis/env" "$dir/sim/env"; } \
        >"$dir/stack.env"
}

down() {
    local dir=$1
    [ -d "$dir" ] || return 0
    stop_pid "$dir/sim/pid" 20
    "$ROOT/deploy/local/redis.sh" stop "$dir/redis"
    "$ROOT/deploy/local/kafka.sh" stop "$dir/kafka"
    rm -rf "$dir/kafka/data" # logs stay for a post-mortem
}

case "${1:-}" in
up) up "${2:?usage: stack.sh up DIR}" ;;
down) down "${2:?usage: stack.sh down DIR}" ;;
*) die "usage: stack.sh up DIR | down DIR" ;;
esac
