#!/bin/sh
# study_forget.sh — learning against forgetting (issue 17; Biderman et al. 2024, "LoRA Learns Less
# and Forgets Less"): for LoRA on {Wq,Wk,Wv,Wo} at every rank of $FORGET_RANKS (the rank study's
# runs) and for full fine-tuning (study_full's runs), every seed of $SEEDS, the target task's test
# accuracy against the forgetting: the run's loss on the base's held-out pretraining text
# ($FORGET_DATA, `lorascope eval --task lm`, $FORGET_WINDOWS fixed windows) minus the base's own loss
# on the same windows. No training of its own: the runs are the other studies' (same arguments, so
# cached); the evals are post hoc and cached in the work directory by the run's run.json, the base
# and the eval arguments.
# Verdicts (lorascope collect, analysis/collect_eval.c): LoRA forgets less than full fine-tuning
# (vforget: per rank and the LoRA cells pooled, paired by seed) and full fine-tuning learns more
# (vlearn: the test accuracy, the same pairs). The spectrum of the full-fine-tuning ΔW (effective
# rank, rank90) is study_full's: the report reads it from lora_vs_full.h5.
# Output: data/results/$PROFILE/forget.h5 (/cells/<cell> with forgetting per seed, /verdicts,
# /summary), figure forget_pareto.
. "$(dirname "$0")/lib.sh"

lsc_study_begin forget
W=$WORK/forget
full_ev=
lora_ev=
for r in $FORGET_RANKS; do
    for sd in $SEEDS; do
        lsc_run "$(lsc_run_id q,k,v,o "$r" "$sd")" --targets q,k,v,o --rank "$r" --seed "$sd"
        lsc_study_cell "qkvo_r$r"
        lora_ev="$lora_ev qkvo_r$r:$sd:$RUN_DIR"
    done
done
for sd in $SEEDS; do
    lsc_full "full-s$sd" --seed "$sd"
    lsc_study_cell full
    full_ev="$full_ev full:$sd:$RUN_DIR"
done
lsc_plan_end

# forget_eval OUT.json RUN_DIR|- EVAL-ARGS... — `lorascope eval --task lm` on the held-out pretraining
# text, redone only when its key (the arguments, the base and the run's run.json) changes
forget_eval() {
    out=$1; run=$2; shift 2
    key=$( { printf '%s\n' "$*" "$FORGET_DATA $FORGET_WINDOWS $BASE_SHA"
             [ "$run" = - ] || cat "$run/run.json"; } | lsc_sha)
    [ -s "$out" ] && [ "$(cat "$out.key" 2>/dev/null)" = "$key" ] && return 0
    "$LSC" eval "$@" --task lm --data "$FORGET_DATA" --windows "$FORGET_WINDOWS" --threads "$(lsc_threads)" \
        --json-out "$out" >"$out.log" 2>&1 || { cat "$out.log" >&2; lsc_die "forget: lorascope eval failed ($out)"; }
    echo "$key" >"$out.key"
}

fields() {   # fields CELL — the evalj value of CELL: base.json, then SEED:FILE per seed
    v="$W/eval_base.json"
    for e in $lora_ev $full_ev; do
        c=${e%%:*}; rest=${e#*:}; s=${rest%%:*}
        [ "$c" = "$1" ] && v="$v	$s:$W/eval_${c}_s$s.json"
    done
    printf '%s' "$v"
}
cells="full"
for r in $FORGET_RANKS; do cells="$cells qkvo_r$r"; done
for c in $cells; do lsc_study_add evalj "$c" "$(fields "$c")"; done
pooled=
for r in $FORGET_RANKS; do
    lsc_study_add vforget "forget.r$r" "full qkvo_r$r"
    pooled="$pooled qkvo_r$r"
done
lsc_study_add vforget forget.pooled "full$pooled"
lsc_study_add vlearn learn.pooled "full$pooled"
for r in $FORGET_RANKS; do lsc_study_add vlearn "learn.r$r" "full qkvo_r$r"; done
if lsc_study_fresh; then
    lsc_log "forget: up to date"
else
    t0=$(lsc_now)
    forget_eval "$W/eval_base.json" - --base "$BASE"
    for e in $lora_ev $full_ev; do
        c=${e%%:*}; rest=${e#*:}; s=${rest%%:*}; run=${rest#*:}
        if [ "$c" = full ]; then
            forget_eval "$W/eval_${c}_s$s.json" "$run" --base "$run/model.safetensors"
        else
            forget_eval "$W/eval_${c}_s$s.json" "$run" --base "$BASE" --adapter "$run/adapter"
        fi
    done
    lsc_log "forget: pretraining-text evals done ($(lsc_secs "$t0" "$(lsc_now)") s)"
    lsc_study_end --verdict-dat "$W/verdicts.dat"
fi
# the Pareto plot's table: one row per cell (accuracy and forgetting, mean and 95 % interval)
"$LSC" regress --print "$RESULTS/forget.h5" >"$W/summary.txt" 2>/dev/null || lsc_die "forget: cannot read forget.h5"
metric=rank_accuracy
grep -q '^full\.rank_accuracy ' "$W/summary.txt" || metric=accuracy
for c in $cells; do printf '%s\n' "$c"; done | awk -v m="$metric" -v f="$W/summary.txt" '
    BEGIN { while ((getline l < f) > 0) { split(l, a, " "); v[a[1]] = a[2] } }
    function g(k, d) { return (k in v) ? v[k] : d }
    function pct(x) { return (x == "NaN" || x == "nan" || x == "-nan") ? "NaN" : 100 * x }
    { c = $1; am = g(c "." m, "NaN"); fm = g(c ".forgetting", "NaN")
      r = (c == "full") ? 0 : substr(c, 7)
      printf "%s %s %s %s %s %s %s %s\n", c, r, pct(am), pct(g(c "." m "_lo95", am)), pct(g(c "." m "_hi95", am)),
             fm, g(c ".forgetting_lo95", fm), g(c ".forgetting_hi95", fm) }' >"$W/pareto.dat.new"
{ echo "# cell rank acc_mean acc_lo95 acc_hi95 (% $metric) forgetting_mean lo95 hi95 (nats/byte; rank 0: full fine-tuning)"
  cat "$W/pareto.dat.new"; } >"$W/pareto.dat"
rm -f "$W/pareto.dat.new"
lsc_plot study_forget.gp forget_pareto data="$W/pareto.dat" metric="$metric" \
    maj="$(lsc_summary forget majority_accuracy)" footnote="profile $PROFILE" \
    title="Learning vs forgetting: test accuracy against the loss increase on held-out pretraining text"
