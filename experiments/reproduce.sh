#!/bin/sh
# reproduce.sh — `make reproduce` (PROFILE=tiny|quick|paper): the LoRA paper's Section 7 studies end
# to end, from the data to data/results/$PROFILE/report.html.
#
#   1. data: the committed fixtures (tiny) or data/fetch.sh when data/corpus is missing
#   2. the base model (cached in data/cache by a hash of its config)
#   3. the learning-rate sweep on the dev split (study_lr.sh), which fixes the lr of every later run
#   4. plan: every study script declares its runs (LSC_PLAN mode; shared runs are trained once);
#      every run not already done with the same config, $JOBS at a time, with progress
#   5. each study: analyses -> one HDF5 file per study, figures into plots/out/$PROFILE
#   6. the regression check against experiments/baselines/$PROFILE.json (when there is one)
#   7. lorascope report -> report.html + report.md
# Run it again after a finished run and only the report is rebuilt. Exit status: 0, or 1 when a
# step fails or a metric drifted out of the baseline's tolerance.
#
# LSC_STUDIES="study_x ..." restricts steps 4-5 to those studies and their runs (the lr sweep
# always runs): default all. The regression check is then skipped (a baseline covers every study).
#
# Under `lorascope sweep` (analysis/sweep.c; LSC_SWEEP=DIR set by it) step 4 hands every planned
# run to the sweep through the FIFOs DIR/req and DIR/res (a work queue that the sweep's rank 0
# dispatches to its MPI ranks) instead of running them $JOBS at a time here.
#
# Internal: `reproduce.sh --one KIND ID ARGS...` trains one planned run (used for parallel jobs).
set -eu
cd "$(dirname "$0")/.."
export PROFILE=${PROFILE:-quick}
export BUILD=${BUILD:-build}

if [ "${1:-}" = --one ]; then
    shift
    # a failed run exits 255, which makes xargs stop starting new runs
    LSC_DIE_CODE=255
    . experiments/lib.sh
    kind=$1; id=$2; shift 2
    # registered while it runs, so that an interrupted reproduce.sh waits for its cleanup
    mkdir -p "$WORK/.workers" && : >"$WORK/.workers/$$"
    trap 'rm -f "$WORK/.workers/$$"' EXIT
    [ -e "$WORK/.interrupted" ] && exit 255   # Ctrl-C: start nothing new
    t0=$(lsc_now)
    lsc_run_kind "$kind" "$id" "$@"
    # progress: one line per finished run into the shared counter file
    if [ "$RUN_CACHED" = 1 ]; then what="cached"; else what="trained + evaluated in ${RUN_SECONDS} s"; fi
    echo "$id $RUN_CACHED" >>"$WORK/progress"
    k=$(wc -l <"$WORK/progress")
    lsc_log "run $k/$LSC_NRUNS $id: $what"
    exit 0
fi

. experiments/lib.sh
ALL_STUDIES="study_targets study_rank study_subspace_ranks study_subspace_seeds study_amplify study_full study_qlora study_intruders study_rslora study_forget"
STUDIES=${LSC_STUDIES:-$ALL_STUDIES}
for s in $STUDIES; do
    case " $ALL_STUDIES " in
        *" $s "*) ;;
        *) lsc_die "LSC_STUDIES: unknown study '$s' (one of: $ALL_STUDIES)" ;;
    esac
done

[ -x "$LSC" ] || lsc_die "$LSC not found: build first (make build)"
for c in train eval pretrain spectrum subspace amplify quanterr collect report regress deltaspec intruders; do
    "$LSC" "$c" --help >/dev/null 2>&1 || lsc_die "$LSC has no working '$c' subcommand yet"
done

# one reproduce per profile at a time
exec 9>"$RESULTS/.lock"
if command -v flock >/dev/null 2>&1 && ! flock -n 9; then
    lsc_die "another reproduce of profile $PROFILE is running (lock $RESULTS/.lock)"
fi
rm -rf "$RUNS"/.tmp.* "$WORK/.interrupted"
TIMING=$RESULTS/timing.tsv
printf 'stage\tseconds\n' >"$TIMING.new"
stage_t0=$(lsc_now)
stage_done() {
    printf '%s\t%s\n' "$1" "$(lsc_secs "$stage_t0" "$(lsc_now)")" >>"$TIMING.new"
    stage_t0=$(lsc_now)
}

# ---- 1. data ----
missing=
for f in $CORPUS $TASK; do [ -e "$f" ] || missing="$missing $f"; done
if [ -n "$missing" ]; then
    case "$CORPUS" in
        data/fixtures/*) lsc_die "fixture(s)$missing missing from the checkout" ;;
        *) lsc_log "data missing ($missing ): running data/fetch.sh"
           sh data/fetch.sh || lsc_die "data/fetch.sh failed" ;;
    esac
fi
stage_done data

# ---- 2-4. plan, base model, runs ----
# lsc_q WORD — WORD single-quoted for sh
lsc_q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

# lsc_sweep_env — the environment of a `--one` run as `NAME='value' ...`: what it would inherit
# from this script in the serial reproduce (the thread count included, so that the run is
# bit-identical to the serial one), for a rank that did not start from this environment.
lsc_sweep_env() {
    LSC_RUN_THREADS=${LSC_RUN_THREADS:-$(lsc_threads)}
    for _v in PROFILE BUILD ARCH FORMAT LSC_BIN LSC_RESULTS_ROOT LSC_FIGS_ROOT LSC_CACHE LSC_JOBS \
              LSC_PLOTS LSC_ROOT LSC_T0 BASE BASE_SHA TASK_SHA LSC_NRUNS LSC_RUN_THREADS OMP_NUM_THREADS; do
        eval "_set=\${$_v+1}"
        if [ -n "$_set" ]; then eval "printf '%s=%s ' \"\$_v\" \"\$(lsc_q \"\$$_v\")\""; fi
    done
}

# lsc_sweep_runs PLAN — under lorascope sweep: every run of PLAN as a request
# "ID<TAB>LOG<TAB>COMMAND" into the sweep's FIFO $LSC_SWEEP/req, then "end"; the sweep trains
# them on its ranks and answers "ID RANK STATUS" per run through $LSC_SWEEP/res, then "end".
# The FIFOs are unlinked once open. Sets SWEEP_FAILED (the failed runs); status 1 when any.
lsc_sweep_runs() {
    if [ -z "${SWEEP_OPEN:-}" ]; then
        exec 7>"$LSC_SWEEP/req" 8<"$LSC_SWEEP/res" || lsc_die "$LSC_SWEEP: cannot open the sweep's FIFOs"
        rm -f "$LSC_SWEEP/req" "$LSC_SWEEP/res"
        SWEEP_OPEN=1
    fi
    mkdir -p "$WORK/sweep-logs"
    _logs=$(cd "$WORK/sweep-logs" && pwd)
    _env=$(lsc_sweep_env)
    _root=$(lsc_q "$LSC_ROOT")
    while IFS="$(printf '\t')" read -r _kind _id _args; do
        printf '%s\t%s\tcd %s && exec env %ssh experiments/reproduce.sh --one %s %s %s\n' "$_id" \
            "$_logs/$_id.log" "$_root" "$_env" "$_kind" "$_id" "$_args" >&7
    done <"$1"
    printf 'end\n' >&7
    SWEEP_FAILED=0
    _end=
    while read -r _id _rank _status; do
        [ "$_id" = end ] && { _end=1; break; }
        [ "$_status" = 0 ] || SWEEP_FAILED=$((SWEEP_FAILED + 1))
    done <&8
    [ -n "$_end" ] || lsc_die "lorascope sweep went away"
    [ "$SWEEP_FAILED" = 0 ]
}

# plan_and_run STUDY... — every study script declares its runs (LSC_PLAN mode; shared runs are
# trained once), then every run not already done is trained, $JOBS at a time.
plan_and_run() {
    plan=$WORK/plan.tsv
    : >"$plan.all"
    for s in "$@"; do
        LSC_PLAN=$plan.all sh "experiments/$s.sh" || lsc_die "planning $s failed"
    done
    # the same run id must mean the same run in every study
    awk -F'\t' '{ if (($2 in a) && a[$2] != $0) { print "experiments: run " $2 " declared twice with different arguments" > "/dev/stderr"; bad = 1 }
                 a[$2] = $0 } END { exit bad }' "$plan.all" || exit 1
    awk -F'\t' '!seen[$2]++' "$plan.all" >"$plan"
    LSC_NRUNS=$(wc -l <"$plan" | tr -d ' ')
    export LSC_NRUNS
    : >"$WORK/progress"
    rm -rf "$WORK/.workers"
    if [ -n "${LSC_SWEEP:-}" ]; then
        lsc_log "$LSC_NRUNS runs planned for $*; handed to lorascope sweep"
        lsc_sweep_runs "$plan" || lsc_die "$SWEEP_FAILED of $LSC_NRUNS training runs failed (see the messages above)"
    else
        lsc_log "$LSC_NRUNS runs planned for $*; $JOBS at a time"
        tr '\t' ' ' <"$plan" | xargs -L 1 -P "$JOBS" sh experiments/reproduce.sh --one \
            || { [ -e "$WORK/.interrupted" ] && lsc_on_signal; lsc_die "a training run failed (see the message above)"; }
    fi
    computed=$(( computed + $(grep -c ' 0$' "$WORK/progress" || true) ))
}

lsc_log "profile $PROFILE ($ARCH, $FORMAT): $PROFILE_DESC"
lsc_base
stage_done base_model
computed=${BASE_COMPUTED:-0}
if [ "$JOBS" -gt 1 ]; then
    export LSC_RUN_THREADS=${LSC_RUN_THREADS:-1}
fi
# the learning rate first, on the dev split, by the profile's rule; every later run uses it
plan_and_run study_lr
sh experiments/study_lr.sh || lsc_die "study_lr failed"
stage_done lr_sweep
plan_and_run $STUDIES
stage_done runs

# ---- 5. studies ----
for s in $STUDIES; do
    sh "experiments/$s.sh" || lsc_die "$s failed"
    stage_done "$s"
done

# ---- 6. regression check ----
baseline=experiments/baselines/$PROFILE_TAG.json
regress_rc=0
if [ "$STUDIES" != "$ALL_STUDIES" ]; then
    rm -f "$RESULTS/regress.json"
    lsc_log "LSC_STUDIES=\"$STUDIES\": a subset of the studies, regression check skipped"
elif [ -f "$baseline" ]; then
    lsc_log "regression check against $baseline"
    "$LSC" regress --baseline "$baseline" --current "$RESULTS" --out "$RESULTS/regress.json" --quiet || regress_rc=$?
    [ "$regress_rc" -le 1 ] || lsc_die "lorascope regress failed (exit $regress_rc)"
else
    rm -f "$RESULTS/regress.json"
    lsc_log "no baseline for profile $PROFILE ($baseline): regression check skipped"
fi
stage_done regress

# ---- 7. report ----
# timing.tsv keeps the stages of the last invocation that computed something (a base or a run);
# a report-only rebuild leaves it alone
if [ "$computed" -gt 0 ] || [ ! -f "$TIMING" ]; then mv "$TIMING.new" "$TIMING"; else rm -f "$TIMING.new"; fi
"$LSC" report "$RESULTS" --figures "$FIGS" -o "$RESULTS/report.html" || lsc_die "lorascope report failed"
printf 'report\t%s\n' "$(lsc_secs "$stage_t0" "$(lsc_now)")" >>"$TIMING"
lsc_log "done in $(lsc_elapsed): $RESULTS/report.html (and report.md), figures in $FIGS"
if [ "$regress_rc" -ne 0 ]; then
    lsc_log "REGRESSION: metrics drifted out of tolerance (table above; $RESULTS/regress.json)"
fi
exit "$regress_rc"
