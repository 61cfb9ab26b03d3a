#!/usr/bin/env bash
# make bench: a fresh local stack (Kafka 3.9, redis-server, hms-sim) for
# tests/bench/bench.py (or the script given, e.g. tests/bench/webhooks.py
# for make bench-webhooks), stopped at the end whatever happens. BENCH_*
# knobs: see each script. bench.py's results land in bench/results/.
set -euo pipefail
cd "$(dirname "$0")/../.."

STACK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/hms-bench.XXXXXX")
stop_stack() { deploy/local/stack.sh down "$STACK_DIR" >/dev/null 2>&1 || true; }
trap stop_stack EXIT
trap 'stop_stack; exit 130' INT TERM

echo "== bench: local stack in $STACK_DIR"
if ! deploy/local/stack.sh up "$STACK_DIR" >"$STACK_DIR/stack.log" 2>&1; then
    tail -20 "$STACK_DIR/stack.log"
    exit 1
fi
set -a
# shellcheck disable=SC1091
. "$STACK_DIR/stack.env"
set +a
BENCH_TMP=$STACK_DIR build/venv/bin/python "${1:-tests/bench/bench.py}"
