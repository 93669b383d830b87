# tests/lib.sh — the helpers every tests/test_*.sh sources (POSIX sh):
#     . "$(dirname "$0")/lib.sh"
# One "PASS name" / "FAIL name" line per check, one "SKIP name (reason)" line
# per check (or group of checks) that cannot run here, and a last line
# "N passed, N failed, N skipped"; `finish` prints it and exits non-zero on
# any failure. A skip is never counted as a pass. The same conventions in C
# are tests/test.h, in Python tests/testlib.py.
# Not a framework: no test discovery, no fixtures of its own. Sourcing it
# only defines functions and sets the counters; it changes no directory.
# Variables it sets: pass fail skipped (counters), T (tmpdir), rc (the exit
# status of the last expect_exit/run), FIXTURES (fixtures_dir).

pass=0; fail=0; skipped=0

# ---- verdicts ----

ok()   { pass=$((pass + 1)); echo "PASS $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL $*"; }
# skip NAME REASON...: the check NAME cannot run here
skip() { _name=$1; shift; skipped=$((skipped + 1)); echo "SKIP $_name ($*)"; }
# CONDITION...; verdict NAME   (the status of the whole && chain decides)
verdict() { if [ $? = 0 ]; then ok "$1"; else bad "$1"; fi; }
# check NAME STATUS   (STATUS 0 passes)
check() { if [ "$2" -eq 0 ]; then ok "$1"; else bad "$1"; fi; }
summary() { echo "$pass passed, $fail failed, $skipped skipped"; }
# prints the summary and exits: 0 when nothing failed
finish() { summary; [ "$fail" = 0 ]; exit $?; }

# ---- scratch directory ----

# tmpdir NAME: T = a new ${TMPDIR:-/tmp}/lsc_test_NAME.XXXXXX, removed on exit
# (also after Ctrl-C or a kill: the signal ends the test, then the EXIT trap runs)
tmpdir() {
    T=$(mktemp -d "${TMPDIR:-/tmp}/lsc_test_$1.XXXXXX") || { bad "mktemp -d for $1"; finish; }
    trap 'rm -rf "$T"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# ---- running commands ----

# expect_exit CODE NAME CMD...: runs CMD with stdout in $T/o and stderr in
# $T/e (status in $rc); "PASS NAME: exit CODE" when it exits with CODE (never
# a signal), else FAIL naming the status and the first stderr lines.
expect_exit() {
    _code=$1; _name=$2; shift 2
    "$@" >"$T/o" 2>"$T/e"
    rc=$?
    if [ "$rc" -eq "$_code" ] && [ "$rc" -lt 128 ]; then ok "$_name: exit $_code"; else
        bad "$_name: exit $rc, expected $_code ($(_stderr_head))"; fi
}
# expect_error CODE PATTERN NAME [--] CMD...: as expect_exit, and stderr must
# match the grep PATTERN (an empty PATTERN matches anything)
expect_error() {
    _code=$1; _pat=$2; _name=$3; shift 3
    [ "${1:-}" = -- ] && shift
    "$@" >"$T/o" 2>"$T/e"
    rc=$?
    if [ "$rc" = "$_code" ] && [ "$rc" -lt 128 ] && { [ -z "$_pat" ] || grep -q -- "$_pat" "$T/e"; }; then
        ok "$_name"
    else
        bad "$_name (exit $rc, stderr: $(head -c 300 "$T/e"))"
    fi
}
# run NAME CODE ARGS...: the program $LSC with ARGS must exit with CODE
run() { _n=$1; _c=$2; shift 2; expect_exit "$_c" "$_n" "$LSC" "$@"; }

# ---- what a failed command said ($T/e of the last expect_exit/run) ----

# the stderr from which every word was taken, for FAIL lines
_stderr_head() { head -n 3 "$T/e" | tr '\n' ' '; }
_names_all() {   # _names_all FILTER STR...: every STR is in the FILTERed stderr
    _f=$1; shift
    for _s in "$@"; do $_f "$T/e" | grep -qF -- "$_s" || return 1; done
}
_first() { head -n 1 "$1"; }
# _stderr_names NAME OP MAX FILTER SAYS STR...: stderr has (test OP) MAX lines
# and its FILTERed lines contain every STR
_stderr_names() {
    _name=$1; _op=$2; _max=$3; _filter=$4; _says=$5; shift 5
    _n=$(grep -c . "$T/e")
    if [ "$_n" "$_op" "$_max" ] && _names_all "$_filter" "$@"; then ok "$_name: $_says $*"; else
        bad "$_name: stderr ($_n lines) should name $*: $(_stderr_head)"; fi
}
# one_line_stderr NAME STR...: stderr is exactly one line containing every STR
one_line_stderr() { _nm=$1; shift; _stderr_names "$_nm" -eq 1 cat "one stderr line naming" "$@"; }
# error_line_stderr NAME STR...: at most two stderr lines (the error and a
# hint), the first containing every STR
error_line_stderr() { _nm=$1; shift; _stderr_names "$_nm" -le 2 _first "one error line naming" "$@"; }
# first_line_stderr NAME STR...: the first stderr line contains every STR
# (a usage error adds a hint line)
first_line_stderr() {
    _name=$1; shift
    if _names_all _first "$@"; then ok "$_name: message names $*"; else
        bad "$_name: first stderr line should name $*: $(head -n 1 "$T/e")"; fi
}

# ---- the shared fixtures ----

# fixtures_path: $LSC_FIXTURES, else $LSC_SHARED/fixtures, else
# ../shared/fixtures (relative to the project root, where tests run)
fixtures_path() {
    if [ -n "${LSC_FIXTURES:-}" ]; then echo "$LSC_FIXTURES"
    else echo "${LSC_SHARED:-../shared}/fixtures"; fi
}
# fixtures_dir WHAT: FIXTURES = the fixtures directory (status 0), or reports
# the checks WHAT (status 1): SKIP in a user's clone without ../shared, FAIL
# when CI is "true" (CI always has the fixtures)
fixtures_dir() {
    FIXTURES=$(fixtures_path)
    [ -f "$FIXTURES/README.md" ] && return 0
    if [ "${CI:-}" = true ]; then bad "$1 (fixtures dir missing: $FIXTURES; CI=true requires it)"
    else skip "$1" "fixtures dir missing: $FIXTURES; set LSC_FIXTURES or clone ../shared"; fi
    return 1
}
