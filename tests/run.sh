#!/bin/sh
# Runs every test: the C binaries build/tests/test_*, then tests/test_*.sh
# and tests/test_*.py (run with /usr/bin/python3). Each prints one
# PASS/FAIL/SKIP line per check and ends with "N passed, N failed,
# N skipped" (the older "N passed, N failed" is still read, as 0 skipped).
# This script sums them and exits non-zero if any test failed: a failed
# check, a non-zero exit status or no summary line at all.
#
# Tests run LSC_TEST_JOBS at a time (default: the number of CPUs), each with
# one OpenBLAS thread, so the suite's wall time is about its CPU time over the
# cores. Each test's log is $BUILD/test-logs/NAME.log and its counts
# NAME.res. tests/test_report.sh reads what tests/test_experiments.sh
# writes, so it runs alone after all the others.
# Environment: BUILD (default build), LSC_BIN (the program, default
# $BUILD/lorascope), LSC_TEST_JOBS. Run from the project root.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export LSC_BIN=${LSC_BIN:-$PWD/$BUILD/lorascope}
export LSC_BUILD=$BUILD
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
LOGDIR=$BUILD/test-logs
mkdir -p "$LOGDIR"

# ---- one test: sh tests/run.sh --one NAME COMMAND... ----
# Writes NAME.log and NAME.res ("passed failed skipped exit seconds") and
# prints the result as one write, so parallel results never interleave.
if [ "${1:-}" = --one ]; then
    name=$2; shift 2
    log=$LOGDIR/$name.log
    start=$(date +%s)
    "$@" >"$log" 2>&1 </dev/null
    rc=$?
    secs=$(( $(date +%s) - start ))
    last=$(grep -E '^[0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$' "$log" | tail -n 1)
    p=$(echo "$last" | awk '{print $1}'); f=$(echo "$last" | awk '{print $3}' | tr -d ,)
    s=$(echo "$last" | awk '{print $5}'); s=${s:-0}
    if [ -n "$p" ]; then last="$p passed, $f failed, $s skipped"
    else p=0; f=1; s=0; last="(no summary line)"; fi
    echo "$p $f $s $rc $secs" >"$LOGDIR/$name.res"
    if [ $rc -ne 0 ] || [ "$f" != 0 ]; then
        out=$(printf '  FAIL %-28s %s (exit %d, %ss)\n' "$name" "$last" "$rc" "$secs"
              grep -E '^FAIL|ERROR|error|Sanitizer' "$log" | head -n 15 | sed 's/^/       /')
    else
        out=$(printf '  ok   %-28s %s (%ss)\n' "$name" "$last" "$secs")
    fi
    skips=$(grep '^SKIP ' "$log" | head -n 10 | sed 's/^/       /')
    [ -n "$skips" ] && out="$out
$skips"
    printf '%s\n' "$out"
    exit 0
fi

# ---- the queue ----
JOBS=${LSC_TEST_JOBS:-$(nproc 2>/dev/null || echo 1)}
queue=$LOGDIR/.queue
: >"$queue"
rm -f "$LOGDIR"/*.res
total_s=0
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] && echo "$(basename "$t") $t" >>"$queue"
done
for t in tests/test_*.sh; do
    [ -f "$t" ] && [ "$t" != tests/test_report.sh ] && echo "$(basename "$t") sh $t" >>"$queue"
done
echo "soak.sh env SOAK_KILLS=${SOAK_KILLS:-5} sh tests/soak.sh" >>"$queue"   # kill -9 + --resume (make soak: 50)
for t in tests/test_*.py; do
    [ -f "$t" ] || continue
    if [ -n "${LSC_ASAN:-}" ]; then   # a skip, counted as one: never a pass
        printf '  skip %-28s (LSC_ASAN is set: the Python oracles do not run under make asan)\n' "$(basename "$t")"
        total_s=$((total_s + 1))
        continue
    fi
    echo "$(basename "$t") /usr/bin/python3 $t" >>"$queue"
done
# the longest tests first, so that they do not finish alone at the end
{ grep -E '^test_(experiments|mpi_sweep).sh ' "$queue"; grep -vE '^test_(experiments|mpi_sweep).sh ' "$queue"; } >"$queue.sorted"
xargs -P "$JOBS" -L 1 sh tests/run.sh --one <"$queue.sorted"
[ -f tests/test_report.sh ] && sh tests/run.sh --one test_report.sh sh tests/test_report.sh

# ---- the sums ----
fails=0; total_p=0; total_f=0; bad=""
while read -r name _; do
    if [ -f "$LOGDIR/$name.res" ]; then read -r p f s rc secs <"$LOGDIR/$name.res"
    else p=0; f=1; s=0; rc=1; fi   # never ran: a failure
    total_p=$((total_p + p)); total_f=$((total_f + f)); total_s=$((total_s + s))
    if [ "$rc" -ne 0 ] || [ "$f" != 0 ]; then fails=$((fails + 1)); bad="$bad $name"; fi
done <<EOF
$(cat "$queue"; [ -f tests/test_report.sh ] && echo "test_report.sh")
EOF
echo "$total_p passed, $total_f failed, $total_s skipped"
if [ $fails -ne 0 ]; then
    echo "failing:$bad (logs in $LOGDIR)"
    exit 1
fi
exit 0
