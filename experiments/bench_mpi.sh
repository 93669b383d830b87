#!/bin/sh
# bench_mpi.sh — strong scaling of data-parallel training on MPI ranks (issue 18; part of
# `make bench`): `lorascope train --synthetic` at one process and at 2 ranks (mpirun -np 2),
# 1 thread each, same global batch, for LoRA r=8 on q,v and for full fine-tuning; 3 interleaved
# runs of each case, the median of each run's median step time. Prints and writes tokens/s,
# speed-up, parallel efficiency and the bytes reduced per step (4 x (trainable parameters + 1):
# the gradient and the loss, what train_log.h5 records as dp_bytes_per_step), then the cluster
# model of experiments/mpi_model.py (a 7B-shaped Llama step vs the ring Allreduce of its LoRA
# gradient at 10 and 100 Gbit/s), fed with the GFLOP/s measured here. Each run's CPU seconds (all
# ranks, user + system, start-up included) say whether the ranks divided the work without waste
# even when a loaded machine leaves them no second free core to run on.
#
# One process runs the plain step (--micro-batches 1, today's path); 2 ranks run K = 2
# micro-batches of half the batch each, ordered reduction (the default).
# What it is not: a test. It fails only when a command fails. The machine is shared: the load
# average before and after is recorded, and a figure taken under load > 0.5 is flagged.
#
# Outputs: $BENCH_OUT/mpi.json (every run and the summary), mpi.txt (the table), mpi_model.txt.
# Environment: BUILD (default build), LSC_BIN (default $BUILD/lorascope), LSC_MPI_BIN (default
# $BUILD/mpi/lorascope), BENCH_OUT (default data/results/bench), BENCH_QUICK=1 (tiny shape, one
# run: checks the script in seconds), MPI_SHAPE "layers:heads:embd:ctx:batch:warmup:steps".
# Without the MPI build or mpirun it says so and exits 0 (make bench builds it when mpicc exists).
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
LSC=${LSC_BIN:-$BUILD/lorascope}
MPI_BIN=${LSC_MPI_BIN:-$BUILD/mpi/lorascope}
OUT=${BENCH_OUT:-data/results/bench}
QUICK=${BENCH_QUICK:-0}
PY=/usr/bin/python3
say() { printf '%s\n' "$*" >&2; }
die() { say "bench_mpi: $*"; exit 1; }

if [ ! -x "$MPI_BIN" ] || ! command -v mpirun >/dev/null 2>&1; then
    say "bench_mpi: skipped: no MPI build ($MPI_BIN) or no mpirun (make mpi-bin; apt-get install openmpi-bin libopenmpi-dev)"
    exit 0
fi
[ -x "$LSC" ] || die "$LSC not found: run make build first"
mkdir -p "$OUT/runs" || die "cannot create $OUT/runs"
JL=$OUT/runs/mpi.jsonl
: >"$JL"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
load1() { cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0; }

if [ "$QUICK" = 1 ]; then SHAPE=${MPI_SHAPE:-2:2:64:32:4:1:3}; RUNS=1
else SHAPE=${MPI_SHAPE:-4:4:256:128:8:2:8}; RUNS=3; fi
IFS=: read -r L H C T B W S <<EOF
$SHAPE
EOF
LOAD0=$(load1)
UPTIME0=$(uptime)
say "bench_mpi: shape L$L NH$H C$C T$T B$B, $W warm-up + $S timed steps, $RUNS interleaved runs; load $LOAD0"

# one MODE RANKS REP: one run; its --json line (rank 0's) into the jsonl with the case's labels
one() {
    mode=$1; ranks=$2; rep=$3
    case $mode in lora) m="--rank 8 --targets q,v" ;; full) m="--full" ;; esac
    args="train --synthetic --layers $L --heads $H --embd $C --ctx $T --batch $B --vocab 256 --warmup $W --steps $S --threads 1 $m --json"
    log=$OUT/runs/mpi_${mode}_${ranks}_${rep}.log
    if [ "$ranks" = 1 ]; then set -- "$LSC"; else
        set -- mpirun --oversubscribe --allow-run-as-root -np "$ranks" "$MPI_BIN"; fi
    # the CPU seconds of the whole run (all ranks: user + system of the children) on the last line
    # shellcheck disable=SC2086
    "$PY" -c 'import resource, subprocess, sys
rc = subprocess.call(sys.argv[1:])
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print("cpu_s %.3f" % (u.ru_utime + u.ru_stime)); sys.exit(rc)' "$@" $args $([ "$ranks" = 1 ] && echo --micro-batches 1) \
        >"$log" 2>&1 || die "failed: $* $args (see $log)"
    j=$(grep '^{' "$log" | tail -n 1)
    cpu=$(sed -n 's/^cpu_s //p' "$log" | tail -n 1)
    [ -n "$j" ] && [ -n "$cpu" ] || die "no JSON line in $log"
    printf '{"case":"%s","ranks":%s,"rep":%s,"load":%s,"cpu_s":%s,"run":%s}\n' "$mode" "$ranks" "$rep" "$(load1)" \
        "$cpu" "$j" >>"$JL"
}

rep=1
while [ "$rep" -le "$RUNS" ]; do   # interleaved: a burst of foreign load hits one repetition of every case
    for mode in lora full; do
        for ranks in 1 2; do
            say "bench_mpi: $mode, $ranks rank(s), run $rep of $RUNS"
            one "$mode" "$ranks" "$rep"
        done
    done
    rep=$((rep + 1))
done
LOAD1=$(load1)
# the launcher's own cost: CPU seconds of `mpirun -np 2 lorascope version` (start-up and shutdown only)
LAUNCH=$("$PY" -c 'import resource, subprocess, sys
for _ in range(3):
    subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.3f" % ((u.ru_utime + u.ru_stime) / 3))' mpirun --oversubscribe --allow-run-as-root -np 2 "$MPI_BIN" version) ||
    die "mpirun -np 2 $MPI_BIN version failed"

"$PY" - "$JL" "$OUT" "$SHAPE" "$LOAD0" "$LOAD1" "$UPTIME0" "$LAUNCH" <<'EOF' || die "report failed"
import json, statistics, sys
src, out, shape, l0, l1, up, launch = sys.argv[1:8]
recs = [json.loads(l) for l in open(src) if l.strip()]
cases = {}
for r in recs:
    cases.setdefault((r["case"], r["ranks"]), []).append(r)
summary = []
lines = ["| mode | ranks | tokens/s (median of %d; min..max) | step ms | speed-up | efficiency | CPU s / run "
         "| bytes reduced / step |" % max(len(v) for v in cases.values()), "|---|---|---|---|---|---|---|---|"]
for mode in ("lora", "full"):
    base = None
    for ranks in (1, 2):
        rs = cases.get((mode, ranks), [])
        if not rs:
            continue
        tps = [r["run"]["tokens_per_s"] for r in rs]
        ms = [r["run"]["step_ms_median"] for r in rs]
        med = statistics.median(tps)
        n = rs[0]["run"]["trainable_params"]
        bytes_step = 4 * (n + 1) if ranks > 1 else 0
        if ranks == 1:
            base = med
        sp = med / base if base else float("nan")
        row = {"mode": mode, "ranks": ranks, "tokens_per_s": med, "tokens_per_s_min": min(tps),
               "tokens_per_s_max": max(tps), "step_ms": statistics.median(ms), "speedup": sp,
               "efficiency": sp / ranks, "trainable_params": n, "dp_bytes_per_step": bytes_step,
               "gflops": statistics.median(r["run"]["gflops"] for r in rs),
               "max_load": max(r["load"] for r in rs), "cpu_s": statistics.median(r["cpu_s"] for r in rs)}
        summary.append(row)
        lines.append("| %s | %d | %.0f (%.0f..%.0f) | %.1f | %.2fx | %.0f%% | %.1f | %s |" % (
            "LoRA r=8 q,v" if mode == "lora" else "full FT", ranks, med, min(tps), max(tps), row["step_ms"], sp,
            100 * row["efficiency"], row["cpu_s"],
            "%d (%.1f KiB)" % (bytes_step, bytes_step / 1024) if bytes_step else "-"))
flag = " (load > 0.5: figures are noisy)" if max(float(l0), float(l1)) > 0.5 else ""
lines.append("")
lines.append("shape L:NH:C:T:B:warmup:steps = %s, 1 thread per rank; load average %s at start, %s at end%s" %
             (shape, l0, l1, flag))
lines.append("CPU s / run: all processes of the run, start-up included; the launcher alone (mpirun -np 2 "
             "lorascope version) takes %s s" % launch)
lines.append("uptime at start: " + up.strip())
doc = {"shape": shape, "load_start": float(l0), "load_end": float(l1), "uptime": up.strip(),
       "launcher_cpu_s": float(launch),
       "summary": summary, "runs": recs}
with open(out + "/mpi.json", "w") as f:
    json.dump(doc, f, indent=1)
with open(out + "/mpi.txt", "w") as f:
    f.write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
GF=$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print([s["gflops"] for s in d["summary"] if s["mode"]=="lora" and s["ranks"]==1][0])' "$OUT/mpi.json")
"$PY" experiments/mpi_model.py --gflops "$GF" --json "$OUT/mpi_model.json" | tee "$OUT/mpi_model.txt" ||
    die "experiments/mpi_model.py failed"
