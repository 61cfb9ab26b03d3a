#!/usr/bin/env bash
# dev.sh -- `make dev`: the local stack (Kafka 3.9, redis-server, hms-sim)
# in the foreground, in .dev/stack (fresh each time), until Ctrl-C stops
# everything. The worker joins it once it exists (next issue).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DIR="$ROOT/.dev/stack"
BIN=${BIN:-$ROOT/build/${SAN:-release}}
"$ROOT/deploy/local/stack.sh" down "$DIR" >/dev/null 2>&1 || true
rm -rf "$DIR"
stopping=
stop() {
    [ -n "$stopping" ] && return
    stopping=1
    say ""
    say "dev: stopping the stack"
    "$ROOT/deploy/local/stack.sh" down "$DIR"
}
trap stop EXIT
trap 'exit 0' INT TERM

say "dev: starting Kafka $(cat "$ROOT/build/kafka/libs/.version"), redis-server and hms-sim ..."
"$ROOT/deploy/local/stack.sh" up "$DIR"
# shellcheck disable=SC1091
. "$DIR/stack.env"
cat <<MSG

  Kafka    $KAFKA_BROKERS   topics: $(tr '\n' ' ' <"$ROOT/deploy/local/topics.txt")
  Redis    $REDIS_URL
  hms-sim  $HMS_API_BASE   (100ms REST API v2; test controls under $HMS_SIM_URL/__sim/)
  env      $DIR/stack.env   (set -a; . $DIR/stack.env; set +a)
  logs     $DIR/{kafka/broker.log,redis/redis.log,sim/sim.log}

  Try the simulator:
    export HMS_APP_SECRET=\$(cat $HMS_APP_SECRET_FILE)
    TOKEN=\$($BIN/jwtcli mgmt $HMS_ACCESS_KEY 3600)
    curl -s -H "Authorization: Bearer \$TOKEN" $HMS_API_BASE/rooms -d '{"name":"bk-demo"}'
    curl -s $HMS_SIM_URL/__sim/requests

  Ctrl-C stops everything.
MSG
sleep infinity &
wait $!
