#!/bin/sh
# study_targets.sh — LoRA paper §7.1, Table 5: which weight types to adapt when the number of
# trainable parameters is fixed. The paper's budget is "r=8 on one type": one type at r=8, two
# types at r=4, all four at r=2 (equal 2·L·d·r_total parameters). Metric: supersense test accuracy
# (rank classification and greedy exact match) and label loss, mean and 95% interval over $SEEDS.
# Verdicts (lorascope collect, `vbetter`: paired t-test by seed): {Wq,Wv} r=4 and {Wq,Wk,Wv,Wo} r=2
# each better than {Wq} r=8 (the paper: adapting Wq alone is clearly worse).
# Output: data/results/$PROFILE/table5_targets.h5 (/cells/<cell>, /verdicts, /summary), figure table5_targets.
. "$(dirname "$0")/lib.sh"

lsc_study_begin table5_targets
for cell in q:8 k:8 v:8 o:8 q,k:4 q,v:4 q,k,v,o:2; do
    targets=${cell%:*}
    r=${cell#*:}
    for seed in $SEEDS; do
        lsc_run "$(lsc_run_id "$targets" "$r" "$seed")" --targets "$targets" --rank "$r" --seed "$seed"
        lsc_study_cell "$(echo "$targets" | tr -d ,)_r$r"
    done
done
lsc_plan_end

lsc_study_add vbetter "qv_beats_q" "qv_r4 q_r8"
lsc_study_add vbetter "qkvo_beats_q" "qkvo_r2 q_r8"
if lsc_study_fresh; then lsc_log "table5_targets: up to date"; else
    lsc_study_end --dat "$WORK/table5_targets/cells.dat" --verdict-dat "$WORK/table5_targets/verdicts.dat"; fi
lsc_plot study_targets.gp table5_targets data="$WORK/table5_targets/cells.dat" \
    maj="$(lsc_summary table5_targets majority_accuracy)" suf="$(lsc_summary table5_targets suffix_accuracy)" \
    footnote="profile $PROFILE" title="Table 5: equal parameter budget across weight types (test accuracy, 95% interval)"
