#!/bin/sh
# study_qlora.sh — QLoRA (issue 6): the rank study of Table 6 repeated on a base whose linear
# weights are frozen in 4-bit NormalFloat (`train --quant nf4`: bitsandbytes' NF4, block 64,
# double-quantised scales), beside the same cells on the fp32 base (same seeds, same arguments);
# and for each cell the quantisation-error analysis `lorascope quanterr`: with E = W − deq(Q(W)),
# is the QLoRA update ΔW aligned with E (does the adapter learn to undo the quantisation error)
# more than the fp32 update of the same seed, and more than a random subspace?
# Cells: $QLORA_TARGETS × $QLORA_RANKS × $QLORA_SEEDS (default: $SEEDS).
# Output: data/results/$PROFILE/qlora.h5 (/cells/<cell> and /cells/nf4_<cell>, /qerr_<cell>: the
# quanterr outputs of the first seed, every layer; /summary), figures qlora_rank, qlora_quanterr.
. "$(dirname "$0")/lib.sh"

qseeds=${QLORA_SEEDS:-$SEEDS}
seed1=${qseeds%% *}
lsc_study_begin qlora
pairs=
for targets in $QLORA_TARGETS; do
    for r in $QLORA_RANKS; do
        key=$(echo "$targets" | tr -d ,)_r$r
        for seed in $qseeds; do
            lsc_run "$(lsc_run_id "$targets" "$r" "$seed")" --targets "$targets" --rank "$r" --seed "$seed"
            fp32=$RUN_DIR
            lsc_study_cell "$key"
            lsc_run "$(lsc_run_id "$targets" "$r" "$seed" qlora)" --targets "$targets" --rank "$r" \
                --seed "$seed" --quant nf4
            lsc_study_cell "nf4_$key"
            [ "$seed" = "$seed1" ] && pairs="$pairs $key:$RUN_DIR:$fp32"
        done
    done
done
lsc_plan_end

W=$WORK/qlora
for p in $pairs; do
    key=${p%%:*}
    lsc_study_add merge "qerr_$key" "$W/quanterr_$key.h5"
    lsc_study_add qerr "$key" "/qerr_$key"
done
if lsc_study_fresh; then
    lsc_log "qlora: up to date"
else
    for p in $pairs; do
        key=${p%%:*}; rest=${p#*:}; qrun=${rest%%:*}; frun=${rest#*:}
        "$LSC" quanterr "$BASE" "$qrun/adapter" --compare "$frun/adapter" -o "$W/quanterr_$key.h5" \
            --module "$(lsc_mod $MID_LAYER v)" --plots "$W/figs_$key" >"$W/quanterr_$key.log" 2>&1 \
            || { cat "$W/quanterr_$key.log" >&2; lsc_die "qlora: lorascope quanterr failed for $key"; }
    done
    lsc_study_end --dat "$W/cells.dat"
fi
# each curve's rows consecutive: fp32 before NF4, then by targets and rank
{ head -n 1 "$W/cells.dat"; tail -n +2 "$W/cells.dat" | awk '{ print ($1 ~ /^nf4_/), $0 }' |
    sort -k1,1n -k3,3 -k4,4n | cut -d' ' -f2-; } >"$W/cells_sorted.dat"
lsc_plot study_qlora.gp qlora_rank data="$W/cells_sorted.dat" \
    maj="$(lsc_summary qlora majority_accuracy)" present="$(echo "$QLORA_TARGETS" | tr ' ' '\n' | sort -u | tr '\n' ' ')" \
    footnote="profile $PROFILE" title="QLoRA: accuracy against rank on the NF4 base and on the fp32 base"
# the quanterr figure (plots/ of the analysis helper) of the first {Wq,Wv} cell at the largest rank
for p in $pairs; do last=${p%%:*}; done
for p in $pairs; do case "${p%%:*}" in qv_r*) last=${p%%:*} ;; esac; done
for ext in png svg pdf; do
    f=$(ls "$W/figs_$last/"*.$ext 2>/dev/null | head -n 1)
    [ -n "$f" ] && cp "$f" "$FIGS/qlora_quanterr.$ext"
done
[ -s "$FIGS/qlora_quanterr.png" ] || lsc_die "qlora: quanterr drew no figure in $W/figs_$last"
echo "$last" >"$W/quanterr_figure_cell"
