#!/bin/sh
# test_regress_baseline.sh — issue 15: `regress --baseline` fails on a
# well-formed baseline with no metrics, and on one whose metrics the current
# results lack (one stderr line naming them); a baseline matching the results
# still passes. The study file is written with h5py (/summary attributes).
# Needs $LSC_BIN (default build/lorascope) and /usr/bin/python3 with h5py.
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
LSC=${LSC_BIN:-$PWD/build/lorascope}
tmpdir regress_baseline
mkdir "$T/cur"
if ! /usr/bin/python3 - "$T/cur/study.h5" <<'PY' 2>"$T/gen.err"; then
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "w") as f:
    g = f.create_group("summary")
    g.attrs["metrics"] = np.bytes_("acc\nloss")
    g.attrs["acc"] = 0.75
    g.attrs["loss"] = 1.5
PY
    skip "regress baseline checks" "h5py: $(head -c 200 "$T/gen.err")"; finish
fi

base() {  # base FILE METRICS-JSON
    printf '{"format": "lorascope-baseline", "format_version": 1, "metrics": {%s}}\n' "$2" >"$1"
}
M1='"study/acc": {"value": 0.75, "abs_tol": 0.01, "rel_tol": 0}'
M2='"study/loss": {"value": 1.5, "abs_tol": 0.01, "rel_tol": 0}'

base "$T/ok.json" "$M1, $M2"
run "baseline matching the results" 0 regress --baseline "$T/ok.json" --current "$T/cur"

base "$T/empty.json" ""
run "baseline with no metrics" 1 regress --baseline "$T/empty.json" --current "$T/cur"
one_line_stderr "baseline with no metrics" "$T/empty.json" "no metrics"

base "$T/miss.json" "$M1, $M2, \"study/f1\": {\"value\": 1, \"abs_tol\": 0.1, \"rel_tol\": 0}, \"gone/x\": {\"value\": 2, \"abs_tol\": 0.1, \"rel_tol\": 0}"
run "baseline metrics the results lack" 1 regress --baseline "$T/miss.json" --current "$T/cur"
one_line_stderr "baseline metrics the results lack" "$T/miss.json" "2 baseline metrics missing" "study/f1" "gone/x"
grep -q "REGRESSION" "$T/o"; verdict "baseline metrics the results lack: summary says REGRESSION"

finish
