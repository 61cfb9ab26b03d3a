#!/usr/bin/env bash
# dev.sh -- `make dev`: Kafka 3.9, redis-server, hms-sim and Karapace (a
# schema registry) in .dev/stack, fresh each time, then hms-worker in the
# foreground; Ctrl-C stops all.
#
# With real 100ms credentials in the environment (HMS_API_BASE unset,
# HMS_ACCESS_KEY, HMS_APP_SECRET or HMS_APP_SECRET_FILE, HMS_TEMPLATE_ID
# set) the worker talks to https://api.100ms.live/v2 and no simulator runs.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DIR="$ROOT/.dev/stack"
BIN=${BIN:-$ROOT/build/${SAN:-release}}
real=
if [ -z "${HMS_API_BASE:-}" ] && [ -n "${HMS_ACCESS_KEY:-}" ] &&
    [ -n "${HMS_APP_SECRET:-}${HMS_APP_SECRET_FILE:-}" ] &&
    [ -n "${HMS_TEMPLATE_ID:-}" ]; then
    real=1
fi
"$ROOT/deploy/local/stack.sh" down "$DIR" >/dev/null 2>&1 || true
rm -rf "$DIR"
stopping=
# shellcheck disable=SC2317 # runs from the EXIT trap
stop() {
    [ -n "$stopping" ] && return
    stopping=1
    say "dev: stopping the stack"
    "$ROOT/deploy/local/stack.sh" down "$DIR"
}
trap stop EXIT
trap 'exit 0' INT TERM

say "dev: starting Kafka $(cat "$ROOT/build/kafka/libs/.version"), redis-server${real:+ (real 100ms API)}${real:- and hms-sim} ..."
NO_SIM=$real "$ROOT/deploy/local/stack.sh" up "$DIR"
set -a
# shellcheck disable=SC1091
. "$DIR/stack.env"
set +a
if [ -z "$real" ]; then
    export HMS_SUBDOMAIN=${HMS_SUBDOMAIN:-hmsworker} # the simulator's template
fi
cat <<MSG

  Kafka       $KAFKA_BROKERS   topics: $(tr '\n' ' ' <"$ROOT/deploy/local/topics.txt")
  Redis       $REDIS_URL
  registry    $STACK_SCHEMA_REGISTRY_URL (Karapace)
  100ms API   ${HMS_API_BASE:-https://api.100ms.live/v2}${real:- (hms-sim; test controls under $HMS_SIM_URL/__sim/)}
  env         $DIR/stack.env
  webhooks    ${WEBHOOK_ADDR:+http://$WEBHOOK_ADDR${WEBHOOK_PATH:-/hms/webhooks} (hms-webhooks)}${WEBHOOK_ADDR:-off (set WEBHOOK_ADDR and WEBHOOK_SECRET_HEADERS to receive)}
  logs        $DIR/{kafka/broker.log,redis/redis.log,sim/sim.log,registry/karapace.log}

  In another terminal, send a booking and watch it become a room:
    set -a; . $DIR/stack.env; set +a
    $BIN/hmsctl send booking-created --booking-id B1 --participant alice:host --participant bob:guest
    $BIN/hmsctl show booking B1

  hms-worker runs below; Ctrl-C stops everything.

MSG
rc=0
"$BIN/hms-worker" || rc=$?
exit "$rc"
