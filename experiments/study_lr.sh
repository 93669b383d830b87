#!/bin/sh
# study_lr.sh — the learning rate of every LoRA run, chosen before the studies by the rule the
# profile states ($LR_RULE) on the DEV split: {q,v} r=8 seed 1 trained at each lr of $LR_GRID,
# evaluated on the dev split (rank classification), never on test (LoRA issue 12: hyper-parameters
# chosen on the test data are not evidence). Writes $RESULTS/lr_selected (read by lib.sh for every
# later LoRA run) and data/results/$PROFILE/lr_sweep.h5 (/cells/lr<lr>: dev and test metrics;
# root attributes selected_lr, lr_grid, lr_rule; /summary selected_lr and <cell>.dev_rank_accuracy).
# Runs first in reproduce.sh; the other studies are planned after it.
. "$(dirname "$0")/lib.sh"

lsc_study_begin lr_sweep
for lr in $LR_GRID; do
    lsc_run "$(lsc_run_id q,v 8 1 sweep)-lr$lr" --targets q,v --rank 8 --seed 1 --lr "$lr" --eval-dev
    lsc_study_cell "lr$lr"
done
lsc_plan_end

# the rule: highest dev rank-classification accuracy; ties go to the smaller lr (first in the
# grid order sorted numerically). Computed from the study file, so the file records the choice.
W=$WORK/lr_sweep
if lsc_study_fresh && [ -f "$RESULTS/lr_selected" ]; then
    lsc_log "lr_sweep: up to date (lr $(cat "$RESULTS/lr_selected"))"
else
    lsc_study_add attr lr_rule_metric dev_rank_accuracy
    lsc_study_end --dat "$W/cells.dat"
    # with LR_MAX_DW_RATIO (the paper profile: the paper's regime, 3 x 0.11) only the lrs whose
    # run keeps the median ‖ΔW‖_F/‖W‖_F at or below it compete; when none does, the one with the
    # smallest ratio is taken (and the report says that the regime was not reached)
    best=$(for lr in $LR_GRID; do
               printf '%s %s %s\n' "$lr" "$(lsc_summary lr_sweep "lr$lr.dev_rank_accuracy")" \
                   "$(lsc_summary lr_sweep "lr$lr.dw_ratio_median")"
           done | sort -g -k1,1 | awk -v cap="${LR_MAX_DW_RATIO:-}" '
               { ok = cap == "" || $3 <= cap + 0 }
               ok && (!found || $2 > best + 1e-12) { best = $2; lr = $1; found = 1 }
               NR == 1 || $3 < minr { minr = $3; minlr = $1 }
               END { print found ? lr : minlr }')
    [ -n "$best" ] || lsc_die "lr_sweep: no lr chosen"
    printf '%s\n' "$best" >"$RESULTS/lr_selected.tmp" && mv "$RESULTS/lr_selected.tmp" "$RESULTS/lr_selected"
    # the choice goes into the study file too
    lsc_study_add attr selected_lr "$best"
    lsc_study_end --dat "$W/cells.dat"
    lsc_log "lr_sweep: lr $best chosen by the rule: $LR_RULE"
fi
