#!/bin/sh
# Runs every test: the C binaries build/tests/test_*, then tests/test_*.sh
# and tests/test_*.py (run with /usr/bin/python3). Each prints one
# PASS/FAIL/SKIP line per check and ends with "N passed, N failed,
# N skipped" (the older "N passed, N failed" is still read, as 0 skipped).
# This script sums them and exits non-zero if any test failed: a failed
# check, a non-zero exit status or no summary line at all.
# Environment: BUILD (default build), LSC_BIN (the program, default
# $BUILD/lorascope). Run from the project root.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export LSC_BIN=${LSC_BIN:-$PWD/$BUILD/lorascope}
export LSC_BUILD=$BUILD
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
LOGDIR=$BUILD/test-logs
mkdir -p "$LOGDIR"
fails=0; total_p=0; total_f=0; total_s=0; bad=""
run_one() {
    name=$1; shift
    log=$LOGDIR/$name.log
    start=$(date +%s)
    "$@" >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    last=$(grep -E '^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$log" | tail -n 1)
    p=$(echo "$last" | awk '{print $1}'); f=$(echo "$last" | awk '{print $3}' | tr -d ,)
    s=$(echo "$last" | awk '{print $5}'); s=${s:-0}
    if [ -n "$p" ]; then last="$p passed, $f failed, $s skipped"
    else p=0; f=1; s=0; last="(no summary line)"; fi
    total_p=$((total_p + p)); total_f=$((total_f + f)); total_s=$((total_s + s))
    if [ $rc -ne 0 ] || [ "$f" != 0 ]; then
        fails=$((fails + 1)); bad="$bad $name"
        printf '  FAIL %-28s %s (exit %d, %ss)\n' "$name" "$last" "$rc" "$secs"
        grep -E '^FAIL|ERROR|error|Sanitizer' "$log" | head -n 15 | sed 's/^/       /'
    else
        printf '  ok   %-28s %s (%ss)\n' "$name" "$last" "$secs"
    fi
    grep '^SKIP ' "$log" | head -n 10 | sed 's/^/       /'
}
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done
for t in tests/test_*.sh; do
    [ -f "$t" ] || continue
    run_one "$(basename "$t")" sh "$t"
done
run_one soak.sh env SOAK_KILLS="${SOAK_KILLS:-5}" sh tests/soak.sh   # kill -9 + --resume (make soak: 50)
for t in tests/test_*.py; do
    [ -f "$t" ] || continue
    if [ -n "${LSC_ASAN:-}" ]; then   # a skip, counted as one: never a pass
        printf '  skip %-28s (LSC_ASAN is set: the Python oracles do not run under make asan)\n' "$(basename "$t")"
        total_s=$((total_s + 1))
        continue
    fi
    run_one "$(basename "$t")" /usr/bin/python3 "$t"
done
echo "$total_p passed, $total_f failed, $total_s skipped"
if [ $fails -ne 0 ]; then
    echo "failing:$bad (logs in $LOGDIR)"
    exit 1
fi
exit 0
