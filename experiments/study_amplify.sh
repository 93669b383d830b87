#!/bin/sh
# study_amplify.sh — LoRA paper §7.3, Table 7: how ΔW relates to the frozen W. For r in
# $AMP_RANKS (the paper: 4 and 64) on Wq and Wv: ||U^T W V||_F with U, V the top-r singular
# vectors of ΔW (proj_delta), of W itself (proj_base) and of a random matrix (proj_random);
# ||W||_F, ||ΔW||_F and the amplification factor ||ΔW||_F / proj_delta. The table shows the
# middle layer; every layer is in the file.
# Output: data/results/$PROFILE/table7_amplify.h5 (/r<r>: the `lorascope amplify` outputs;
# /summary), figure table7_amplify.
. "$(dirname "$0")/lib.sh"

seed=${SEED_PAIR%% *}
lsc_study_begin table7_amplify
runs=
for r in $AMP_RANKS; do
    lsc_run "$(lsc_run_id q,v "$r" "$seed")" --targets q,v --rank "$r" --seed "$seed"
    runs="$runs $r:$RUN_DIR"
done
lsc_plan_end

W=$WORK/table7_amplify
for rr in $runs; do
    r=${rr%%:*}
    lsc_study_add run "qv_r$r" "${rr#*:}"
    lsc_study_add merge "r$r" "$W/amplify_r$r.h5"
    for t in q v; do
        lsc_study_add amp "r$r.$t" "/r$r/modules/h.$MID_LAYER.attn.${t}_proj"
    done
done
if lsc_study_fresh; then
    lsc_log "table7_amplify: up to date"
else
    for rr in $runs; do
        r=${rr%%:*}
        "$LSC" amplify "${rr#*:}/adapter" --base "$BASE" -o "$W/amplify_r$r.h5" >"$W/amplify_r$r.log" 2>&1 \
            || { cat "$W/amplify_r$r.log" >&2; lsc_die "table7: lorascope amplify failed"; }
    done
    lsc_study_end --amp-dat "$W/amplify.dat"
fi
lsc_plot study_amplify.gp table7_amplify data="$W/amplify.dat" \
    title="Table 7 ($PROFILE): ||U^T W V||_F for U,V from ΔW, from W, random (layer $MID_LAYER)"
