#!/bin/sh
# study_intruders.sh — intruder dimensions (Shuttleworth et al. 2024, "LoRA vs Full Fine-tuning: An
# Illusion of Equivalence"; issue 17): singular vectors among the top $INTR_K of W0 + ΔW whose largest
# |cos| with every singular vector of W0 is below $INTR_EPS (`lorascope intruders`). LoRA on {Wq,Wv}
# at every rank of $RANKS (the rank study's runs) and full fine-tuning (study_full's runs), every
# seed of $SEEDS; no new training. Full fine-tuning adapts every weight, LoRA only q and v: both are
# measured on the same modules, q and v of every layer (--targets q,v on the full model). Per run the
# count summed over those modules, beside a random-rotation null (W0 + R ΔW Qᵀ, Haar R, Q,
# $INTR_NULL_DRAWS draws per module) and the run's task accuracy.
# Verdict (lorascope collect, `vintr`): LoRA at the lowest rank introduces more intruder dimensions
# than full fine-tuning, paired t-test by seed, and each side against its own null. The same at equal
# task accuracy (`lora_vs_full_matched`): full fine-tuning stopped after $INTR_MATCH_STEPS steps
# (runs full-n<steps>-s<seed>), against the LoRA cell of the nearest accuracy, within
# $INTR_MATCH_TOL points or "not measured".
# Output: data/results/$PROFILE/intruders.h5 (/intr_<cell>_s<seed>, /verdicts, /summary), figure
# intruders (count against rank, full fine-tuning as a band, the null dashed).
. "$(dirname "$0")/lib.sh"

lsc_study_begin intruders
W=$WORK/intruders
jobs=""
for s in $SEEDS; do
    for r in $RANKS; do
        lsc_run "$(lsc_run_id q,v "$r" "$s")" --targets q,v --rank "$r" --seed "$s"
        lsc_study_cell "qv_r$r"
        jobs="$jobs qv_r$r:$s:$RUN_DIR"
    done
    lsc_full "full-s$s" --seed "$s"
    lsc_study_cell full
    jobs="$jobs full:$s:$RUN_DIR"
    lsc_full "full-n$INTR_MATCH_STEPS-s$s" --seed "$s" --steps "$INTR_MATCH_STEPS"
    lsc_study_cell "full_n$INTR_MATCH_STEPS"
    jobs="$jobs full_n$INTR_MATCH_STEPS:$s:$RUN_DIR"
done
lsc_plan_end

cells="full"
for r in $RANKS; do cells="$cells qv_r$r"; done
for j in $jobs; do
    c=${j%%:*}; rest=${j#*:}; s=${rest%%:*}
    lsc_study_add merge "intr_${c}_s$s" "$W/intr_${c}_s$s.h5"
done
lsc_study_add attr intr_k "$INTR_K"
lsc_study_add attr intr_eps "$INTR_EPS"
lsc_study_add attr intr_null_draws "$INTR_NULL_DRAWS"
lsc_study_add vintr lora_vs_full "$cells"
lsc_study_add vintr lora_vs_full_matched "full_n$INTR_MATCH_STEPS ${cells#full } match=$INTR_MATCH_TOL"
lsc_study_add attr intr_match_steps "$INTR_MATCH_STEPS"
if lsc_study_fresh; then lsc_log "intruders: up to date"; else
    for j in $jobs; do
        c=${j%%:*}; rest=${j#*:}; s=${rest%%:*}; dir=${rest#*:}
        if [ "${c%%_n*}" = full ]; then set -- --finetuned "$dir/model.safetensors" --targets q,v; else set -- "$dir/adapter"; fi
        "$LSC" intruders --base "$BASE" "$@" --at "$INTR_K,$INTR_EPS" --null-draws "$INTR_NULL_DRAWS" \
            --seed "$s" -o "$W/intr_${c}_s$s.h5" >"$W/intruders.log" 2>&1 \
            || { cat "$W/intruders.log" >&2; lsc_die "intruders: lorascope intruders failed on $dir"; }
    done
    lsc_study_end --dat "$W/cells.dat" --verdict-dat "$W/verdicts.dat"
fi
# the figure's table: rank, LoRA's mean count and interval, its null, accuracy; full fine-tuning's
# band and null as constants (the /summary values the verdict wrote)
: >"$W/intr.dat"
for r in $RANKS; do
    printf '%s' "$r" >>"$W/intr.dat"
    for q in count_mean count_lo count_hi null_mean accuracy; do
        printf ' %s' "$(lsc_summary intruders "intr.qv_r$r.$q")" >>"$W/intr.dat"
    done
    echo >>"$W/intr.dat"
done
lsc_plot study_intruders.gp intruders data="$W/intr.dat" \
    full_mean="$(lsc_summary intruders intr.full.count_mean)" full_lo="$(lsc_summary intruders intr.full.count_lo)" \
    full_hi="$(lsc_summary intruders intr.full.count_hi)" full_null="$(lsc_summary intruders intr.full.null_mean)" \
    full_acc="$(lsc_summary intruders intr.full.accuracy)" k="$INTR_K" eps="$INTR_EPS" \
    title="Intruder dimensions of W0 + ΔW on Wq, Wv (top $INTR_K, |cos| < $INTR_EPS): LoRA by rank vs full fine-tuning" \
    footnote="profile $PROFILE; mean and 95% interval over seeds; null: W0 + R ΔW Qᵀ, Haar R, Q"
