#!/usr/bin/env bash
# run.sh -- runs the test suites; the last line is "N passed, N failed".
#
#   tests/run.sh           unit tests, then integration tests against a
#                          fresh local stack (Kafka 3.9, redis-server,
#                          hms-sim) that is stopped at the end, even on
#                          failure or Ctrl-C
#   tests/run.sh --unit    unit tests only
#
# SAN selects the build (release, asan, tsan). VALGRIND=1 runs the unit
# tests, hms-sim and hms-worker under valgrind. FUZZ_SECONDS>0 adds a short
# run of every libFuzzer target (built by make SAN=fuzz fuzz-build).
# PYTEST_PATHS narrows the Python suites (make faults). A sanitizer or
# valgrind report from hms-sim counts as a failed test.
#
# SAN=tsan: every program runs with TSAN_OPTIONS (below; the caller's own
# TSAN_OPTIONS come last and win): the suppressions of tests/tsan.supp
# (races inside the uninstrumented libraries only), all reports of a run
# (halt_on_error=0) and exit status 66 for a program that reported, so a
# unit test, itest or worker with a report fails; the stack's hms-sim log
# and every log under pytest's temporary directory (workers, the hms-sims
# tests start) are searched for "ThreadSanitizer" as well. A TSan runtime
# that cannot map its shadow memory under this kernel's mmap randomisation
# ("unexpected memory mapping": clang 14's with vm.mmap_rnd_bits 32; 28,
# the usual default, is fine) gets the whole run re-executed without ASLR
# (setarch -R, inherited by every child); TSAN_NO_ASLR=1 forces that.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 2
export BIN="$ROOT/build/${SAN:-release}"
# tsan_mapping_fails: whether the TSan runtime refuses this address space
# (it depends on where ASLR put things: tried three times).
tsan_mapping_fails() {
    local _
    for _ in 1 2 3; do
        "$BIN/hms-worker" --help 2>&1 | grep -q 'unexpected memory mapping' &&
            return 0
    done
    return 1
}
if [ "${SAN:-}" = tsan ]; then
    export TSAN_OPTIONS="suppressions=$ROOT/tests/tsan.supp halt_on_error=0 exitcode=66 history_size=4 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
    # 0x0040000: ADDR_NO_RANDOMIZE, set once we are re-executed
    if (((0x$(cat /proc/self/personality) & 0x0040000) == 0)) &&
        { [ "${TSAN_NO_ASLR:-0}" = 1 ] || tsan_mapping_fails; }; then
        if setarch "$(uname -m)" -R true 2>/dev/null; then
            echo "tsan: running without ASLR (setarch -R)"
            exec setarch "$(uname -m)" -R "$0" "$@"
        fi
        echo "tsan: cannot turn ASLR off here (setarch -R); as root:" \
            "sysctl vm.mmap_rnd_bits=28" >&2
    fi
fi
PASSED=0
FAILED=0
STACK_DIR=

VG=()
if [ "${VALGRIND:-0}" = 1 ]; then
    VG=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite
        --error-exitcode=99)
fi

# tally NAME STATUS LOG: adds the "N passed, N failed" line of LOG (or one
# failure if there is none or STATUS says the run failed).
tally() {
    local name=$1 status=$2 log=$3 line p f
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [ -n "$line" ]; then
        p=${line%% passed*}
        f=${line#*, }
        f=${f%% failed*}
    else
        p=0
        f=1
    fi
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1 # e.g. a valgrind error or a crash after the report
    fi
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
    printf '%-28s %s passed, %s failed\n' "$name" "$p" "$f"
    if [ "$f" -ne 0 ]; then
        sed 's/^/    /' "$log" | tail -n 60
    fi
}

report() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
    exit $?
}

stop_stack() {
    [ -n "$STACK_DIR" ] && deploy/local/stack.sh down "$STACK_DIR" >/dev/null 2>&1
    return 0
}

# run_each DIR: every test program in DIR (objects are not executable).
run_each() {
    local t name
    for t in "$1"/test_*; do
        [ -x "$t" ] || continue
        name=$(basename "$t")
        "${VG[@]}" "$t" >"$LOGS/$name.log" 2>&1
        tally "$name" $? "$LOGS/$name.log"
    done
}

LOGS=$(mktemp -d "${TMPDIR:-/tmp}/hms-test-logs.XXXXXX")
echo "== unit tests"
run_each "$BIN/tests"
[ "${1:-}" = --unit ] && report

if [ "${FUZZ_SECONDS:-0}" -gt 0 ] && [ -d build/fuzz ]; then
    echo "== fuzzing (${FUZZ_SECONDS} s per target)"
    tests/fuzz/run.sh "$FUZZ_SECONDS" >"$LOGS/fuzz.log" 2>&1
    status=$?
    grep -v ' passed, ' "$LOGS/fuzz.log" | sed 's/^/  /'
    tally "libFuzzer targets" $status "$LOGS/fuzz.log"
fi

echo "== integration tests (local stack)"
STACK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/hms-stack.XXXXXX")
trap 'stop_stack' EXIT
trap 'stop_stack; exit 130' INT TERM
SIM_WRAP=
if [ "${VALGRIND:-0}" = 1 ]; then
    SIM_WRAP="valgrind -q --leak-check=full --errors-for-leak-kinds=definite --log-file=$STACK_DIR/sim.valgrind"
    # the worker's valgrind errors make it exit non-zero: its test fails
    export WORKER_WRAP="valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99"
fi
t0=$SECONDS
if ! SIM_WRAP=$SIM_WRAP deploy/local/stack.sh up "$STACK_DIR" >"$LOGS/stack.log" 2>&1; then
    tally "stack up" 1 "$LOGS/stack.log"
    report
fi
echo "stack up in $((SECONDS - t0)) s ($STACK_DIR)"
set -a
# shellcheck disable=SC1091
. "$STACK_DIR/stack.env"
set +a

export IT_TOPIC=it-roundtrip
"$BIN/mktopics" "$KAFKA_BROKERS" "$IT_TOPIC:3" >"$LOGS/mktopics.log" 2>&1
run_each "$BIN/itests"

HW_LOGS=$LOGS build/venv/bin/python -m pytest -q -p no:cacheprovider \
    "${PYTEST_PATHS:-tests/integration}" --basetemp="$LOGS/pytest-tmp" \
    --junitxml="$LOGS/junit.xml" >"$LOGS/pytest.log" 2>&1
status=$?
build/venv/bin/python - "$LOGS/junit.xml" >>"$LOGS/pytest.log" <<'PY'
import sys
import xml.etree.ElementTree as ET
s = ET.parse(sys.argv[1]).getroot()
s = s if s.tag == "testsuite" else s.find("testsuite")
bad = int(s.get("failures")) + int(s.get("errors"))
print(f"{int(s.get('tests')) - bad - int(s.get('skipped'))} passed, {bad} failed")
PY
tally "pytest (sim, jwt, kafka)" $status "$LOGS/pytest.log"

# Every worker (and hms-sim) the tests started logs under pytest's
# temporary directory, including those killed before their exit status
# could tell.
if [ "${SAN:-}" = tsan ]; then
    grep -rE 'ThreadSanitizer|SUMMARY' "$LOGS/pytest-tmp" \
        >"$LOGS/worker-checks.log" 2>/dev/null
    if grep -q ThreadSanitizer "$LOGS/worker-checks.log"; then
        echo "0 passed, 1 failed" >>"$LOGS/worker-checks.log"
        tally "pytest logs (TSan)" 1 "$LOGS/worker-checks.log"
    else
        echo "1 passed, 0 failed" >"$LOGS/worker-checks.log"
        tally "pytest logs (TSan)" 0 "$LOGS/worker-checks.log"
    fi
fi

stop_stack
{
    grep -hE 'AddressSanitizer|LeakSanitizer|ThreadSanitizer|runtime error' \
        "$STACK_DIR/sim/sim.log" || true
    cat "$STACK_DIR/sim.valgrind" 2>/dev/null || true
} >"$LOGS/sim-checks.log"
if [ -s "$LOGS/sim-checks.log" ]; then
    echo "0 passed, 1 failed" >>"$LOGS/sim-checks.log"
    tally "hms-sim sanitizer/valgrind" 1 "$LOGS/sim-checks.log"
else
    echo "1 passed, 0 failed" >"$LOGS/sim-checks.log"
    tally "hms-sim sanitizer/valgrind" 0 "$LOGS/sim-checks.log"
fi
echo "logs: $LOGS"
report
