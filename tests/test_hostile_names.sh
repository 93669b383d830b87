#!/bin/sh
# test_hostile_names.sh — issue 15: names and strings read from files are
# printed with their control characters escaped (C0 and DEL as \xNN, C1 as
# \u00NN), on stdout (inspect, the analyses' per-module lines, regress) and
# in every error or warning line; report.md and report.html carry no raw
# <script> from a file. The adapter comes from
# `tests/make_adapters.py hostile-names` (a module name with a newline,
# ESC[2J, U+009B and <script>).
# Needs $LSC_BIN (default build/lorascope), /usr/bin/python3 with numpy and
# h5py. Runs from the project root.
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
LSC=${LSC_BIN:-$PWD/build/lorascope}
PY=/usr/bin/python3
tmpdir hostile_names
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

if ! $PY tests/make_adapters.py hostile-names "$T/h" >/dev/null 2>"$T/gen.err" ||
   ! $PY tests/make_adapters.py suite "$T/s" >/dev/null 2>>"$T/gen.err"; then
    bad "make_adapters.py: $(head -c 300 "$T/gen.err")"; finish
fi
H="$T/h/adapter"

# clean NAME FILE...: no control byte but newline and tab, no C1 (raw or
# UTF-8), in any FILE
clean() {
    _cn=$1; shift
    if $PY - "$@" <<'PY'
import re, sys
for p in sys.argv[1:]:
    try:
        t = open(p, "rb").read().decode("utf-8")
    except UnicodeDecodeError:
        sys.exit(1)
    if re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", t):
        sys.exit(1)
PY
    then ok "$_cn: no raw control characters"; else bad "$_cn: raw control characters in $*"; fi
}
# says NAME: stdout or stderr shows the escaped name
says() {
    if grep -qF 'evil\x0A\x1B[2J\u009B31m<script>' "$T/o" "$T/e"; then ok "$1: the name is shown escaped"
    else bad "$1: escaped name not shown: $(head -c 300 "$T/o" "$T/e")"; fi
}

run "inspect" 0 inspect "$H"
clean "inspect" "$T/o" "$T/e"; says "inspect"
grep -qF 'base\x0A\x1B[2J' "$T/o"; verdict "inspect: base_model_name_or_path escaped"
grep -qF 'note\x0A\x1B[2J' "$T/o"; verdict "inspect: metadata escaped"

run "spectrum" 0 spectrum "$H" -o "$T/sp.h5" --factors-only
clean "spectrum" "$T/o" "$T/e"; says "spectrum"

run "subspace" 0 subspace "$H" "$H" -o "$T/ss.h5" --factors-only
clean "subspace" "$T/o" "$T/e"; says "subspace"

# a warning quoting the name (the base lacks that module)
run "amplify warning" 0 amplify "$H" --base "$T/s/base_a.safetensors" -o "$T/am.h5" --null-draws 5
clean "amplify warning" "$T/o" "$T/e"; says "amplify warning"

# an error quoting the name: --pair with a module the other adapter lacks
printf 'h.1.evil\n\033[2J.v_proj' >"$T/pairname"
expect_exit 2 "error line (usage)" "$LSC" subspace "$H" "$T/s/a8" -o "$T/x.h5" --factors-only \
    --pair "$(cat "$T/pairname"):h.0.attn.q_proj"
clean "error line" "$T/o" "$T/e"
[ "$(grep -c . "$T/e")" -le 2 ]; verdict "error line: at most two stderr lines"

# regress: metric names from a study file and a baseline, on stdout and in report.md/html
mkdir "$T/r"
if $PY - "$T/r/study.h5" <<'PY' 2>"$T/gen.err"
import sys, h5py, numpy as np
from importlib import util
name = "m\x1b[2J<script>alert(1)</script>"
with h5py.File(sys.argv[1], "w") as f:
    f.attrs["format_version"] = 1
    g = f.create_group("summary")
    g.attrs["metrics"] = np.bytes_(name.encode())
    g.attrs[name] = 0.5
PY
then
    printf '{"format": "lorascope-baseline", "format_version": 1, "metrics": {"study/m\\u001b[2J<script>alert(1)</script>": {"value": 0.5, "abs_tol": 0.1, "rel_tol": 0}, "study/gone\\n\\u001b[2J<script>x</script>": {"value": 1, "abs_tol": 0.1, "rel_tol": 0}}}\n' >"$T/b.json"
    run "regress with hostile metric names" 1 regress --baseline "$T/b.json" --current "$T/r" --out "$T/r/regress.json"
    clean "regress" "$T/o" "$T/e"
    grep -qF 'study/gone\x0A\x1B[2J<script>x</script>' "$T/e"; verdict "regress: the missing metric named, escaped"
    cp "$T/r/study.h5" "$T/r/lora_vs_full.h5"
    run "report" 0 report "$T/r"
    clean "report output" "$T/o" "$T/e" "$T/r/report.md" "$T/r/report.html"
    if grep -q '<script>' "$T/r/report.md" "$T/r/report.html"; then bad "report: a raw <script> reached the report"
    else ok "report: no raw <script> in report.md or report.html"; fi
    grep -qF '&lt;script&gt;' "$T/r/report.md"; verdict "report.md: the metric name shown escaped"
else
    skip "regress/report with hostile names" "h5py: $(head -c 200 "$T/gen.err")"
fi

finish
