#!/bin/sh
# study_amplify.sh — LoRA paper §7.3, Table 7: how ΔW relates to the frozen W. For r in
# $AMP_RANKS (the paper: 4 and 64) on Wq and Wv, one run per seed of $FIG_SEEDS:
# ||U^T W V||_F with U, V the top-r singular vectors of ΔW (proj_delta), of W itself (proj_base)
# and random (proj_random, its expectation); ||W||_F, ||ΔW||_F and the amplification factor
# ||ΔW||_F / proj_delta. Nulls (LoRA issue 12): $AMP_NULL_DRAWS random ΔW of equal rank and norm
# (Haar frames), for K = r and for K = $AMP_K fixed across ranks (`amplify --k --null-draws`).
# Verdicts per layer and projection (`vamp`, computed by lorascope collect): ΔW more aligned with W
# than a random ΔW (alignment excess), and amplification larger at the low rank beyond the null.
# Output: data/results/$PROFILE/table7_amplify.h5 (/p<k>/r<r>: the `lorascope amplify` outputs of
# seed k; /verdicts/{amp,align}.<t>.L<l>...; /summary), figure table7_amplify.
. "$(dirname "$0")/lib.sh"

lsc_study_begin table7_amplify
runs=
k=0
for seed in $FIG_SEEDS; do
    k=$((k + 1))
    for r in $AMP_RANKS; do
        lsc_run "$(lsc_run_id q,v "$r" "$seed")" --targets q,v --rank "$r" --seed "$seed"
        runs="$runs $k:$r:$RUN_DIR"
    done
done
lsc_plan_end

W=$WORK/table7_amplify
r_lo=${AMP_RANKS%% *}
r_hi=${AMP_RANKS##* }
for kr in $runs; do
    k=${kr%%:*}; rest=${kr#*:}; r=${rest%%:*}
    lsc_study_add run "qv_r${r}_p$k" "${rest#*:}"
    lsc_study_add merge "p$k/r$r" "$W/amplify_r${r}_p$k.h5"
done
for r in $AMP_RANKS; do
    for t in q v; do
        lsc_study_add amp "r$r.$t" "/p1/r$r/modules/$(lsc_mod $MID_LAYER $t)"
    done
done
for l in $LAYERS; do
    for t in q v; do
        lsc_study_add vamp "$t.L$l" "$(lsc_mod $l $t) $r_lo $r_hi"
    done
done
# ‖ΔWq‖_F/‖Wq‖_F at the low rank in the figure layer against GPT-3's (Table 7: 6.91/61.95), within 3x
lsc_study_add vregime regime "$(lsc_mod $MID_LAYER q) $r_lo"
if lsc_study_fresh; then
    lsc_log "table7_amplify: up to date"
else
    for kr in $runs; do
        k=${kr%%:*}; rest=${kr#*:}; r=${rest%%:*}
        "$LSC" amplify "${rest#*:}/adapter" --base "$BASE" --k "$AMP_K" --null-draws "$AMP_NULL_DRAWS" \
            -o "$W/amplify_r${r}_p$k.h5" >"$W/amplify_r${r}_p$k.log" 2>&1 \
            || { cat "$W/amplify_r${r}_p$k.log" >&2; lsc_die "table7: lorascope amplify failed"; }
    done
    lsc_study_end --amp-dat "$W/amplify.dat" --verdict-dat "$W/verdicts.dat"
fi
lsc_plot study_amplify.gp table7_amplify data="$W/amplify.dat" \
    footnote="profile $PROFILE" title="Table 7: ||U^T W V||_F for U,V from ΔW, from W, random (layer $MID_LAYER of $N_LAYER)"
