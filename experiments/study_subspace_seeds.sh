#!/bin/sh
# study_subspace_seeds.sh — LoRA paper §7.2, Figure 4: r=64 runs that differ only in the seed
# (adapting Wq and Wv), every pair of seeds of $FIG_SEEDS. phi(A_seed_a, A_seed_b, i, j) beside phi
# of two random Gaussian matrices of the same shape (`phi_random`). The paper: ΔWq shares more top
# directions across seeds than ΔWv; random matrices share none beyond max(i,j)/d.
# Nulls (LoRA issue 12): the same grid on the step-0 adapters (init/: A0, B = 0; factor A only) and
# $NULL_DRAWS Haar-random subspace pairs; the verdict per layer and projection (`vphi`, computed by
# lorascope collect) is the mean phi(1,1) over the seed pairs against the null of the mean.
# Output: data/results/$PROFILE/fig4_subspace_seeds.h5 (/p<k>/A, /p<k>/init_A per seed pair;
# /verdicts/phi.A.<t>.L<l>; /summary), figures fig4_phi_{q,v} (the first pair).
. "$(dirname "$0")/lib.sh"

lsc_study_begin fig4_subspace_seeds
runs=
for seed in $FIG_SEEDS; do
    lsc_run "$(lsc_run_id q,v "$R_HIGH" "$seed")" --targets q,v --rank "$R_HIGH" --seed "$seed"
    runs="$runs $seed:$RUN_DIR"
done
lsc_plan_end

W=$WORK/fig4_subspace_seeds
pairs=
k=0
for a in $runs; do
    for b in $runs; do
        [ "${a%%:*}" -lt "${b%%:*}" ] || continue
        k=$((k + 1))
        pairs="$pairs $k:${a%%:*}:${b%%:*}:${a#*:}:${b#*:}"
        lsc_study_add merge "p$k/A" "$W/phi_A_p$k.h5"
        lsc_study_add merge "p$k/init_A" "$W/phi_init_A_p$k.h5"
        lsc_study_add attr "pair_p$k" "seeds ${a%%:*} ${b%%:*}"
    done
done
for r in $runs; do lsc_study_add run "qv_r${R_HIGH}_s${r%%:*}" "${r#*:}"; done
for t in q v; do
    lsc_study_add phi "A.$t" "/p1/A/modules/$(lsc_mod $MID_LAYER $t)"
    lsc_study_add phi "init.A.$t" "/p1/init_A/modules/$(lsc_mod $MID_LAYER $t)"
done
for l in $LAYERS; do
    for t in q v; do lsc_study_add vphi "phi.A.$t.L$l" "A:$(lsc_mod $l $t)"; done
done
if lsc_study_fresh; then
    lsc_log "fig4_subspace_seeds: up to date"
else
    for p in $pairs; do
        k=${p%%:*}; rest=${p#*:}; rest=${rest#*:}; rest=${rest#*:}
        d1=${rest%%:*}; d2=${rest#*:}
        "$LSC" subspace "$d1/adapter" "$d2/adapter" --factor A --null-draws "$NULL_DRAWS" -o "$W/phi_A_p$k.h5" \
            >"$W/subspace_p$k.log" 2>&1 || { cat "$W/subspace_p$k.log" >&2; lsc_die "fig4: lorascope subspace failed"; }
        # step 0 (B = 0, so dW = 0: --factor-only compares A0 itself)
        "$LSC" subspace "$d1/init" "$d2/init" --factor A --factor-only --null-draws "$NULL_DRAWS" \
            -o "$W/phi_init_A_p$k.h5" >"$W/subspace_init_p$k.log" 2>&1 \
            || { cat "$W/subspace_init_p$k.log" >&2; lsc_die "fig4: lorascope subspace (step 0) failed"; }
    done
    lsc_study_end --phi-dat "$W" --verdict-dat "$W/verdicts.dat"
fi
# plots/phi.gp: the learned grid beside two random Gaussian subspaces of the same shape
s1=${FIG_SEEDS%% *}
s2=$(echo "$FIG_SEEDS" | awk '{ print $2 }')
for t in q v; do
    dim=$(lsc_summary fig4_subspace_seeds "A.$t.dim")
    lsc_plot phi.gp "fig4_phi_$t" phifile="$W/phi_A.$t.dat" randfile="$W/phi_A.$t.random.dat" \
        footnote="profile $PROFILE" title1="As the paper's Figure 4: φ(A_seed$s1, A_seed$s2, i, j) of ΔW$t, r=$R_HIGH, layer $MID_LAYER of $N_LAYER" \
        title2="right-singular vectors of A; r/d = $R_HIGH/$dim; right: two random Gaussian matrices of the same shape" \
        r1="$R_HIGH" r2="$R_HIGH" dim="$dim" xlab="j (seed $s2)" ylab="i (seed $s1)"
done
lsc_plot study_phi_layers.gp fig4_phi_layers data="$W/verdicts.dat" \
    footnote="profile $PROFILE" title="As the paper's Figure 4: φ(1,1) across seeds at r=$R_HIGH per layer (mean over seed pairs, bars: their range) against the Haar null"
