#!/bin/sh
# study_rank.sh — LoRA paper §7.2, Table 6: accuracy against the rank r for {Wq}, {Wq,Wv} and
# {Wq,Wk,Wv,Wo}. The paper's finding: a rank as small as 1-4 suffices for {Wq,Wv}, {Wq} alone needs
# a larger r. Ranks come from the profile ($RANKS; the paper uses 1 2 4 8 64), seeds from $SEEDS.
# Verdicts (computed by lorascope collect): saturation = r=$SAT_LOW equivalent to r=$R_HIGH within
# $SAT_MARGIN by TOST paired over seeds (`vsat`), for each target set; {Wq} needing a larger rank =
# r=$R_HIGH better than r=$SAT_LOW by a paired t-test (`vbetter`). ‖ΔW‖/‖W‖ (median over each run's
# modules, from train_log.h5) against r in figure dw_ratio; the regime verdict is Table 7's.
# Output: data/results/$PROFILE/table6_rank.h5 (/cells/<cell>, /verdicts, /summary), figures
# table6_rank and dw_ratio (‖ΔW‖/‖W‖ against r).
. "$(dirname "$0")/lib.sh"

lsc_study_begin table6_rank
for targets in q q,v q,k,v,o; do
    for r in $RANKS; do
        for seed in $SEEDS; do
            lsc_run "$(lsc_run_id "$targets" "$r" "$seed")" --targets "$targets" --rank "$r" --seed "$seed"
            lsc_study_cell "$(echo "$targets" | tr -d ,)_r$r"
        done
    done
done
lsc_plan_end

for c in qv qkvo q; do lsc_study_add vsat "sat.$c" "${c}_r$SAT_LOW ${c}_r$R_HIGH $SAT_MARGIN"; done
lsc_study_add vbetter "q_needs_rank" "q_r$R_HIGH q_r$SAT_LOW"
if lsc_study_fresh; then lsc_log "table6_rank: up to date"; else
    lsc_study_end --dat "$WORK/table6_rank/cells.dat" --verdict-dat "$WORK/table6_rank/verdicts.dat"; fi
lsc_plot study_rank.gp table6_rank data="$WORK/table6_rank/cells.dat" \
    maj="$(lsc_summary table6_rank majority_accuracy)" suf="$(lsc_summary table6_rank suffix_accuracy)" \
    footnote="profile $PROFILE" title="Table 6: supersense test accuracy against LoRA rank (mean, 95% interval over seeds)"
lsc_plot study_dw_ratio.gp dw_ratio data="$WORK/table6_rank/cells.dat" \
    footnote="profile $PROFILE" title="‖ΔW‖_F / ‖W‖_F against rank (median over modules, mean over seeds; paper r=4: 0.115)"
