#!/bin/sh
# study_rank.sh — LoRA paper §7.2, Table 6: accuracy against the rank r for {Wq}, {Wq,Wv} and
# {Wq,Wk,Wv,Wo}. The paper's finding: a rank as small as 1-4 suffices for {Wq,Wv}, {Wq} alone needs
# a larger r. Ranks come from the profile ($RANKS; the paper uses 1 2 4 8 64).
# Output: data/results/$PROFILE/table6_rank.h5 (/cells/<cell>, /summary), figure table6_rank.
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

if lsc_study_fresh; then lsc_log "table6_rank: up to date"; else lsc_study_end --dat "$WORK/table6_rank/cells.dat"; fi
lsc_plot study_rank.gp table6_rank data="$WORK/table6_rank/cells.dat" \
    maj="$(lsc_summary table6_rank majority_accuracy)" suf="$(lsc_summary table6_rank suffix_accuracy)" \
    title="Table 6 ($PROFILE): supersense accuracy against LoRA rank"
