#!/bin/sh
# test_mpi_sweep.sh — `mpirun -np 2 lorascope sweep tiny STUDY` (issue 18) against the serial
# `LSC_STUDIES=STUDY experiments/reproduce.sh` of the same profile, in a scratch directory:
#   - every run directory, every adapter/init/model file (sha256) and every dataset of the
#     study's HDF5 file and of lr_sweep.h5 are identical to the serial ones; both ranks trained
#   - a second sweep trains nothing (every run cached)
#   - an injected failure (a wrapper LSC_BIN whose `train` fails for one run): reported with its
#     rank and its log, the other missing run is still trained, exit 1, the analyses skipped;
#     then a sweep on one process (no launcher) trains only that run, and the results are again
#     the serial ones
#   - Ctrl-C (SIGINT to mpirun) while runs train: no process, half-built run or FIFO is left
# STUDY is a subset of the tiny profile to keep CI short: study_targets (14 runs + the lr
# sweep's 4) by default; LSC_SWEEP_STUDY=study_rank (30 runs) takes about twice as long.
# Needs the MPI program ($LSC_MPI_BIN, else $BUILD/mpi/lorascope: `make mpi-bin`) and mpirun:
# SKIP without them, FAIL under CI=true. LSC_QUICK=1 (make check) skips the pipelines.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
BUILD=${LSC_BUILD:-build}
LSC=${LSC_BIN:-$ROOT/$BUILD/lorascope}
MPI_BIN=${LSC_MPI_BIN:-$ROOT/$BUILD/mpi/lorascope}
STUDY=${LSC_SWEEP_STUDY:-study_targets}
PY=/usr/bin/python3
. tests/lib.sh
tmpdir mpi_sweep
MPIRUN="mpirun --oversubscribe --allow-run-as-root"
# Open MPI's own allocations at exit are not ours to fix
[ "${LSC_ASAN:-}" = 1 ] && export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"

if [ ! -x "$MPI_BIN" ] || ! command -v mpirun >/dev/null 2>&1; then
    why="no MPI build: $MPI_BIN missing (make mpi-bin; needs mpicc) or no mpirun"
    if [ "${CI:-}" = true ]; then bad "MPI sweep ($why)"; else skip "MPI sweep" "$why"; fi
    finish
fi

# ---- 0. usage (fast) ----
expect_error 0 "" "sweep --help exits 0" -- "$MPI_BIN" sweep --help
grep -q 'srun' "$T/o"; verdict "sweep --help shows a Slurm example"
expect_error 2 "need PROFILE" "sweep without a profile: usage error" -- "$MPI_BIN" sweep
expect_error 2 "unknown profile 'nosuch'" "sweep: unknown profile" -- "$MPI_BIN" sweep nosuch
expect_error 2 "unknown study 'study_nope'" "sweep: unknown study" -- "$MPI_BIN" sweep tiny study_nope
expect_error 2 "unknown study 'study_lr'" "sweep: the lr sweep is not a study to name" -- "$MPI_BIN" sweep tiny study_lr

if [ -n "${LSC_QUICK:-}" ]; then
    skip "the MPI sweep pipelines" "LSC_QUICK is set: make check skips them"
    finish
fi

H5=$(sed -n 's/^lsc_study_begin \([a-z0-9_]*\).*/\1/p' "experiments/$STUDY.sh").h5
export PROFILE=tiny BUILD LSC_CACHE="$T/cache" LSC_STUDIES="$STUDY" LSC_ROOT="$ROOT"
mkdir -p "$T/tmp"
# into NAME CMD...: CMD with the environment of a pipeline writing into $T/NAME
into() { _o=$1; shift; env LSC_RESULTS_ROOT="$T/$_o" LSC_FIGS_ROOT="$T/$_o-figures" TMPDIR="$T/tmp" "$@"; }
R=tiny   # the profile's results directory under each root

# ---- 1. the serial reference and the sweep on 2 ranks ----
into serial LSC_BIN="$LSC" sh experiments/reproduce.sh >"$T/serial.log" 2>&1
check "serial LSC_STUDIES=$STUDY reproduce.sh exits 0" $?
into mpi LSC_BIN="$LSC" $MPIRUN -np 2 "$MPI_BIN" sweep tiny "$STUDY" >"$T/mpi.log" 2>&1
rc=$?
check "mpirun -np 2 lorascope sweep tiny $STUDY exits 0" $rc
[ $rc = 0 ] || tail -n 20 "$T/mpi.log" | sed 's/^/    /'
n_plan=$(awk '/runs planned for/ { n += $3 } END { print n + 0 }' "$T/serial.log")
grep -q "lorascope sweep: $n_plan runs on 2 ranks (rank 0: [1-9][0-9]*, rank 1: [1-9][0-9]*), 0 failed" "$T/mpi.log"
verdict "the sweep ran the $n_plan planned runs, each rank some"
grep -q "$H5" "$T/mpi.log" && grep -q 'handed to lorascope sweep' "$T/mpi.log"; verdict "the sweep's reproduce.sh queued the runs and wrote $H5"

# compare A B: run directories, adapter/init/model sha256, every dataset of lr_sweep.h5 and $H5
compare() {
    $PY - "$1/$R" "$2/$R" "$H5" <<'EOF'
import hashlib, os, sys
import h5py, numpy as np
a, b, h5 = sys.argv[1:4]
def runs(root):
    out = {}
    for d in sorted(os.listdir(root + "/runs")):
        if d.startswith("."):
            out[d] = "half-built"
            continue
        for sub in ("adapter", "init", "model.safetensors"):
            p = os.path.join(root, "runs", d, sub)
            files = [p] if os.path.isfile(p) else [os.path.join(p, f) for f in sorted(os.listdir(p))] if os.path.isdir(p) else []
            for f in files:
                out[os.path.relpath(f, root)] = hashlib.sha256(open(f, "rb").read()).hexdigest()
    return out
ra, rb = runs(a), runs(b)
bad = sorted(k for k in set(ra) | set(rb) if ra.get(k) != rb.get(k))
print(f"{len(ra)} run files, {len(bad)} differ {bad[:5]}")
ok = not bad and len(ra) > 0
for name in ("lr_sweep.h5", h5):
    with h5py.File(f"{a}/{name}", "r") as A, h5py.File(f"{b}/{name}", "r") as B:
        da, db = [], []
        A.visit(lambda n: da.append(n) if isinstance(A[n], h5py.Dataset) else None)
        B.visit(lambda n: db.append(n) if isinstance(B[n], h5py.Dataset) else None)
        diff = [n for n in da if n not in B or not np.array_equal(A[n][()], B[n][()], equal_nan=A[n].dtype.kind in "fc")]
        print(f"{name}: {len(da)} datasets, {len(diff)} differ {diff[:5]}; the same names: {da == db}")
        ok = ok and not diff and da == db and len(da) > 0
sys.exit(0 if ok else 1)
EOF
}
compare "$T/serial" "$T/mpi" >"$T/cmp.txt" 2>&1
verdict "sweep on 2 ranks: every adapter and every dataset of lr_sweep.h5 and $H5 bit-identical to the serial reproduce ($(tr '\n' ' ' <"$T/cmp.txt"))"
[ -z "$(ls -A "$T/tmp")" ] && [ -z "$(ls -a "$T/mpi/$R/runs" | grep '^\.tmp')" ]; verdict "nothing left behind: no FIFO directory, no half-built run"

# ---- 2. a second sweep: every run cached ----
into mpi LSC_BIN="$LSC" $MPIRUN -np 2 "$MPI_BIN" sweep tiny "$STUDY" >"$T/again.log" 2>&1
check "a second sweep exits 0" $?
[ "$(grep -c 'trained + evaluated' "$T/again.log")" = 0 ] && [ "$(grep -c ': cached$' "$T/again.log")" = "$n_plan" ]
verdict "a second sweep trains nothing ($n_plan runs cached)"

# ---- 3. a failed run: reported with rank and log, the others go on, exit 1 ----
FAIL_ID=$(ls "$T/mpi/$R/runs" | grep '^lora-' | head -n 1)
OTHER_ID=$(ls "$T/mpi/$R/runs" | grep '^lora-' | tail -n 1)
rm -rf "$T/mpi/$R/runs/$FAIL_ID" "$T/mpi/$R/runs/$OTHER_ID"
cat >"$T/failbin" <<EOF
#!/bin/sh
case " \$* " in *"/.tmp.$FAIL_ID."*) echo "injected failure of $FAIL_ID" >&2; exit 3 ;; esac
exec "$LSC" "\$@"
EOF
chmod +x "$T/failbin"
into mpi LSC_BIN="$T/failbin" $MPIRUN -np 2 "$MPI_BIN" sweep tiny "$STUDY" >"$T/fail.log" 2>&1
rc=$?
[ $rc = 1 ]; verdict "a sweep with a failing run exits 1 (exit $rc)"
log=$(sed -n "s/^lorascope sweep: run $FAIL_ID failed on rank [01] (exit [0-9]*); log: \(.*\)$/\1/p" "$T/fail.log")
[ -n "$log" ] && grep -q "injected failure of $FAIL_ID" "$log"
verdict "the failed run is reported with its rank and its log (which holds the failure)"
[ -d "$T/mpi/$R/runs/$OTHER_ID" ] && [ ! -e "$T/mpi/$R/runs/$FAIL_ID" ]; verdict "the other missing run was trained, the failed one left no directory"
grep -q "1 of [0-9]* training runs failed" "$T/fail.log" && ! grep -q "wrote .*$H5" "$T/fail.log"
verdict "reproduce.sh stops before the analyses"

# ---- 4. the re-run on one process (no launcher): only the failed run is trained ----
into mpi LSC_BIN="$LSC" "$MPI_BIN" sweep tiny "$STUDY" >"$T/rerun.log" 2>&1
check "the re-run on one process exits 0" $?
[ "$(grep -c 'trained + evaluated' "$T/rerun.log")" = 1 ] && grep -q "run [0-9]*/[0-9]* $FAIL_ID: trained" "$T/rerun.log"
verdict "the re-run trains only the run that failed"
compare "$T/serial" "$T/mpi" >"$T/cmp.txt" 2>&1
verdict "after the re-run the results are again bit-identical to the serial ones ($(tr '\n' ' ' <"$T/cmp.txt"))"

# ---- 5. Ctrl-C: nothing left behind ----
# (env execs mpirun: $! is mpirun's pid)
env LSC_RESULTS_ROOT="$T/int" LSC_FIGS_ROOT="$T/int-figures" TMPDIR="$T/tmp" LSC_BIN="$LSC" \
    $MPIRUN -np 2 "$MPI_BIN" sweep tiny "$STUDY" >"$T/int.log" 2>&1 &
mp=$!
n=0
while [ $n -lt 600 ] && ! ls -a "$T/int/$R/runs" 2>/dev/null | grep -q '^\.tmp\.lora'; do sleep 0.1; n=$((n + 1)); done
[ $n -lt 600 ]; verdict "a run of the study was being trained when Ctrl-C came"
kill -INT $mp
wait $mp
rc=$?
[ $rc != 0 ]; verdict "the interrupted sweep exits non-zero ($rc)"
n=0
alive() {   # the --one runs registered in work/.workers, and trainers writing under $T/int
    for w in "$T/int/$R/work/.workers"/*; do [ -e "$w" ] && kill -0 "${w##*/}" 2>/dev/null && return 0; done
    ps -eo args | grep -v grep | grep -q "$T/int/"
}
while [ $n -lt 100 ] && alive; do sleep 0.1; n=$((n + 1)); done
! alive; verdict "no run or trainer of the sweep is left running"
left=$(ls -A "$T/tmp"; ls -a "$T/int/$R/runs" | grep '^\.tmp')
[ -z "$left" ]; verdict "no FIFO directory and no half-built run is left${left:+ (left: $(echo $left))}"
finish
