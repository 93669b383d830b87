#!/bin/sh
# study_rslora.sh — rank-stabilised scaling (issue 17; Kalajdzievski 2023, rsLoRA): LoRA on
# {Wq,Wv} over the ranks $RSLORA_RANKS (up to d/2; default $RANKS) with the scaling α/r and with α/√r
# (`train --rslora`) at the same fixed α (the profile's), the profile's seeds and the lr the sweep
# chose. rsLoRA's claim: with α/r the update's scale falls as 1/r, so learning stalls at high rank;
# with α/√r the higher ranks keep improving.
# The α/r runs are the rank study's (study_rank.sh: the same lsc_run arguments, cached). At r=1
# α/√r = α/r, the same training bit for bit, so the α/r run serves both arms there.
# Per cell: the test label loss (val_loss), rank-classification accuracy (the cells' stats), the
# final training loss (mean of the last tenth of the logged steps) and the final dev-split
# validation loss (cellstat lines), and the training curves of the lowest and highest rank.
# Verdict (`vstall`, computed by lorascope collect): the gain in val_loss from the lowest to the
# highest rank is larger with α/√r than with α/r, paired by seed (paired t-test, null: no
# difference) — "learning stalls at high rank with α/r"; the same for the final training loss
# and the rank accuracy beside it. Section 7's analyses under each scaling (first seed):
# `lorascope spectrum` of the highest-rank adapter (effective rank, stable rank, rank90 of ΔW in
# the middle layer) and `lorascope subspace` φ between the r=$R_LOW and the highest-rank adapters
# (same seed, factor A) with the Haar null (--null-draws $NULL_DRAWS), merged into the file.
# Output: data/results/$PROFILE/rslora.h5 (/cells/qv_r<r> = α/r, /cells/rs_qv_r<r> = α/√r;
# /spec_{r,rs}, /phi_{r,rs}; /verdicts/stall*; /summary), figures rslora_curves, rslora_rank.
. "$(dirname "$0")/lib.sh"

ranks=${RSLORA_RANKS:-$RANKS}   # a profile without the variable: the rank study's ranks
r_lo=${ranks%% *}
r_hi=${ranks##* }
seed1=${SEEDS%% *}
case " $ranks " in *" $R_LOW "*) ;; *) lsc_die "RSLORA_RANKS ($ranks) must include R_LOW=$R_LOW (the φ pair)" ;; esac
# the α/√r cell of rank r (at r=1 it is the α/r cell: the same runs)
rs_cell() { if [ "$1" = 1 ]; then printf 'qv_r1'; else printf 'rs_qv_r%s' "$1"; fi; }

lsc_study_begin rslora
for r in $ranks; do
    for seed in $SEEDS; do
        lsc_run "$(lsc_run_id q,v "$r" "$seed")" --targets q,v --rank "$r" --seed "$seed"
        lsc_study_cell "qv_r$r"
        [ "$seed" = "$seed1" ] && eval "run_r_$r=\$RUN_DIR"
        if [ "$r" != 1 ]; then
            lsc_run "$(lsc_run_id q,v "$r" "$seed" rslora)" --targets q,v --rank "$r" --seed "$seed" --rslora
            lsc_study_cell "rs_qv_r$r"
        fi
        [ "$seed" = "$seed1" ] && eval "run_rs_$r=\$RUN_DIR"
    done
done
lsc_plan_end

W=$WORK/rslora
for s in r rs; do
    lsc_study_add merge "spec_$s" "$W/spectrum_$s.h5"
    lsc_study_add merge "phi_$s" "$W/phi_$s.h5"
    for t in q v; do
        lsc_study_add spec "spec_$s.$t" "/spec_$s/modules/$(lsc_mod "$MID_LAYER" "$t")"
        lsc_study_add phi "phi_$s.$t" "/phi_$s/modules/$(lsc_mod "$MID_LAYER" "$t")"
    done
done
for r in $ranks; do
    for c in "qv_r$r" "$(rs_cell "$r")"; do
        for m in final_train_loss final_dev_loss; do lsc_study_add cellstat "$c" "$m"; done
        [ "$r" = 1 ] && break
    done
done
lo_rs=$(rs_cell "$r_lo")
for m in val_loss final_train_loss rank_accuracy; do
    name=stall; [ "$m" = val_loss ] || name=stall.$m
    lsc_study_add vstall "$name" "$m $lo_rs rs_qv_r$r_hi qv_r$r_lo qv_r$r_hi"
done
eval "lo_r=\$run_r_$r_lo; hi_r=\$run_r_$r_hi; lo_rs=\$run_rs_$r_lo; hi_rs=\$run_rs_$r_hi"
eval "mid_r=\$run_r_$R_LOW; mid_rs=\$run_rs_$R_LOW"
if [ "$r_lo" = 1 ]; then
    lsc_study_add curve "r=1 (α/r = α/√r)" "$lo_r"
else
    lsc_study_add curve "α/r, r=$r_lo" "$lo_r"
    lsc_study_add curve "α/√r, r=$r_lo" "$lo_rs"
fi
lsc_study_add curve "α/r, r=$r_hi" "$hi_r"
lsc_study_add curve "α/√r, r=$r_hi" "$hi_rs"
if lsc_study_fresh; then
    lsc_log "rslora: up to date"
else
    for s in r rs; do
        eval "hi=\$hi_$s; mid=\$mid_$s"
        "$LSC" spectrum "$hi/adapter" -o "$W/spectrum_$s.h5" >"$W/spectrum_$s.log" 2>&1 \
            || { cat "$W/spectrum_$s.log" >&2; lsc_die "rslora: lorascope spectrum failed"; }
        "$LSC" subspace "$mid/adapter" "$hi/adapter" --factor A --null-draws "$NULL_DRAWS" \
            -o "$W/phi_$s.h5" >"$W/subspace_$s.log" 2>&1 \
            || { cat "$W/subspace_$s.log" >&2; lsc_die "rslora: lorascope subspace failed"; }
    done
    lsc_study_end --verdict-dat "$W/verdicts.dat" --curves "$W/curves.dat"
fi
# the figure's table from /summary: scaling (0 α/r, 1 α/√r) rank, then mean lo95 hi95 of the
# rank accuracy, the test label loss and the final training loss (the interval NaN for one seed);
# the rows of each scaling consecutive
"$LSC" regress --print "$RESULTS/rslora.h5" >"$W/summary.txt" 2>/dev/null || lsc_die "rslora: cannot read rslora.h5"
{ for r in $ranks; do printf '0 %s qv_r%s\n' "$r" "$r"; done
  for r in $ranks; do printf '1 %s %s\n' "$r" "$(rs_cell "$r")"; done; } | awk 'NR == FNR { v[$1] = $2; next }
    function g(k) { return (k in v) ? v[k] : "NaN" }
    { printf "%s %s", $1, $2
      n = split("rank_accuracy val_loss final_train_loss", m, " ")
      for (i = 1; i <= n; i++) printf " %s %s %s", g($3 "." m[i]), g($3 "." m[i] "_lo95"), g($3 "." m[i] "_hi95")
      printf "\n" }' "$W/summary.txt" - >"$W/rank.dat"
ncurves=3; [ "$r_lo" = 1 ] || ncurves=4
lsc_plot study_curves.gp rslora_curves data="$W/curves.dat" n="$ncurves" \
    footnote="profile $PROFILE, seed $seed1" \
    title="rsLoRA, {Wq,Wv} LoRA at r=$r_lo and r=$r_hi: training loss (lines), dev loss (points)"
lsc_plot study_rslora.gp rslora_rank data="$W/rank.dat" maj="$(lsc_summary rslora majority_accuracy)" \
    footnote="profile $PROFILE" \
    title="rsLoRA: {Wq,Wv} LoRA against rank with α/r and α/√r (α fixed; mean, 95% interval over seeds)"
