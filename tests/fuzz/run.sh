#!/usr/bin/env bash
# run.sh SECONDS -- runs every libFuzzer target of build/fuzz for SECONDS
# each, on a scratch copy of its committed seed corpus (libFuzzer writes
# new inputs into its first corpus directory). Prints per target the
# executions and findings, then "N passed, N failed"; a crash input is
# kept in build/fuzz-work/<target>/ as crash-*.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
secs=${1:-60}
passed=0
failed=0
for t in build/fuzz/fuzz_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    work="build/fuzz-work/$name"
    rm -rf "$work"
    mkdir -p "$work/corpus"
    cp tests/fuzz/corpus/"${name#fuzz_}"/* "$work/corpus/" 2>/dev/null
    (cd "$work" && "$OLDPWD/$t" -max_total_time="$secs" -timeout=10 \
        -rss_limit_mb=1024 -print_final_stats=1 corpus >log 2>&1)
    status=$?
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" |
        grep -o '[0-9]*$')
    if [ "$status" -eq 0 ]; then
        passed=$((passed + 1))
        echo "$name: ${execs:-?} executions in ${secs} s, no findings"
    else
        failed=$((failed + 1))
        echo "$name: FAILED (exit $status) after ${execs:-?} executions"
        grep -E 'ERROR|SUMMARY|crash-|deadly' "$work/log" | head -20
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
