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
# Kafka's second listener, SASL_SSL with SCRAM-SHA-512 (kafka_sasl_*):
# STACK_KAFKA_SASL_BROKERS, STACK_KAFKA_SASL_USER and
# STACK_KAFKA_SASL_PASSWORD_FILE (0600; the password itself is never in
# stack.env). STACK_ names, so the worker does not take them for typos.
# REDIS_TLS_URL: the same redis-server over TLS (rediss://localhost:PORT/0,
# its certificate from that CA; redis.sh).
# STACK_SCHEMA_REGISTRY_URL is a real Schema Registry (Karapace, by
# karapace.sh) on the stack's broker; not SCHEMA_REGISTRY_URL itself, which
# would switch every worker the tests start to the Confluent wire format.
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

# Kafka's SASL_SSL listener: the broker's certificate from the stack's CA
# and a SCRAM user with a random password in a 0600 file; kafka.sh adds
# the listener when these are in its environment.
kafka_sasl_prepare() {
    local dir=$1
    "$ROOT/deploy/local/tls.sh" cert "$dir/tls" kafka
    (umask 077 && head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' \
        >"$dir/kafka-sasl-password")
    export SASL_TLS_DIR="$dir/tls" SASL_USER=hms-worker \
        SASL_PASSWORD_FILE="$dir/kafka-sasl-password"
}

kafka_sasl_env() {
    local dir=$1
    sed 's/^KAFKA_/STACK_KAFKA_/' "$dir/kafka/sasl.env"
    echo "STACK_KAFKA_SASL_USER=$SASL_USER"
    echo "STACK_KAFKA_SASL_PASSWORD_FILE=$SASL_PASSWORD_FILE"
}

# start_registry DIR: Karapace once the broker is up (it creates its
# _schemas topic itself); logs how long it took to take writes. A fresh
# broker is fresh storage: an earlier up's configuration (its port and
# broker) must not be reused.
start_registry() {
    local dir=$1 t0
    t0=$(date +%s%N)
    rm -f "$dir/registry/config.json" "$dir/registry/env"
    "$ROOT/deploy/local/karapace.sh" start "$dir/registry" "$KAFKA_BROKERS"
    say "stack: schema registry ready in $((($(date +%s%N) - t0) / 1000000)) ms"
}

up() {
    local dir=$1 kafka_job registry_job
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    "$ROOT/deploy/local/tls.sh" ca "$dir/tls"
    kafka_sasl_prepare "$dir"
    # The broker takes longest: start it while Redis and hms-sim come up.
    "$ROOT/deploy/local/kafka.sh" start "$dir/kafka" >"$dir/kafka.out" 2>&1 &
    kafka_job=$!
    "$ROOT/deploy/local/redis.sh" start "$dir/redis" "$dir/tls"
    if [ -n "${NO_SIM:-}" ]; then
        mkdir -p "$dir/sim" && : >"$dir/sim/env"
    else
        start_sim "$dir/sim" "$dir/tls"
    fi
    wait "$kafka_job" || { cat "$dir/kafka.out" >&2; die "kafka did not start"; }
    # shellcheck disable=SC1091
    . "$dir/kafka/env"
    start_registry "$dir" >"$dir/registry.out" 2>&1 &
    registry_job=$!
    # shellcheck disable=SC2046 # one argument per topic
    "$BIN/mktopics" "$KAFKA_BROKERS" $(grep -v '^#' "$ROOT/deploy/local/topics.txt") \
        2>"$dir/mktopics.log" || { cat "$dir/mktopics.log" >&2; die "topics"; }
    wait "$registry_job" || { cat "$dir/registry.out" >&2; die "schema registry did not start"; }
    cat "$dir/registry.out" >&2
    { echo "STACK_DIR=$dir"; echo "STACK_CA_FILE=$dir/tls/ca.pem"; cat "$dir/kafka/env" "$dir/redis/env" "$dir/sim/env" "$dir/registry/env"; } \
        >"$dir/stack.env"
    kafka_sasl_env "$dir" >>"$dir/stack.env"
}

down() {
    local dir=$1
    [ -d "$dir" ] || return 0
    stop_pid "$dir/sim/pid" 20
    "$ROOT/deploy/local/karapace.sh" stop "$dir/registry"
    "$ROOT/deploy/local/redis.sh" stop "$dir/redis"
    "$ROOT/deploy/local/kafka.sh" stop "$dir/kafka"
    rm -rf "$dir/kafka/data" # logs stay for a post-mortem
}

case "${1:-}" in
up) up "${2:?usage: stack.sh up DIR}" ;;
down) down "${2:?usage: stack.sh down DIR}" ;;
*) die "usage: stack.sh up DIR | down DIR" ;;
esac
