#!/bin/sh
# study_subspace_ranks.sh — LoRA paper §7.2, Figure 3: how much of the subspace learned at r=8 is
# inside the one learned at r=64 (same seed, adapting Wq and Wv). phi(i, j) =
# ||V8[:, :i]^T V64[:, :j]||_F^2 / min(i, j) on the right-singular vectors of A (the paper's
# choice) and, as the output-side variant, on the left-singular vectors of B.
# One rank pair per seed of $FIG_SEEDS. Nulls (LoRA issue 12): the same grid on the step-0 adapters
# (each run's init/: A0, B = 0; factor A only, B is zero at step 0) and $NULL_DRAWS pairs of
# Haar-random subspaces of the same dimensions (`subspace --null-draws`). The verdict for every
# layer and projection (`vphi` lines, computed by lorascope collect): the mean phi(1,1) over the
# seed pairs against the null of the mean, and above the step-0 overlap.
# Output: data/results/$PROFILE/fig3_subspace_ranks.h5 (/p<k>/A, /p<k>/B, /p<k>/init_A: the
# `lorascope subspace` outputs of seed pair k; /verdicts/phi.<f>.<t>.L<l>; /summary: the figure
# pair's grid metrics A.q.*, init.A.q.*, and the verdicts), figures fig3_phi_{A,B}_{q,v}.
. "$(dirname "$0")/lib.sh"

lsc_study_begin fig3_subspace_ranks
pairs=
for seed in $FIG_SEEDS; do
    lsc_run "$(lsc_run_id q,v "$R_LOW" "$seed")" --targets q,v --rank "$R_LOW" --seed "$seed"
    low=$RUN_DIR
    lsc_run "$(lsc_run_id q,v "$R_HIGH" "$seed")" --targets q,v --rank "$R_HIGH" --seed "$seed"
    pairs="$pairs $low:$RUN_DIR"
done
lsc_plan_end

W=$WORK/fig3_subspace_ranks
k=0
for p in $pairs; do
    k=$((k + 1))
    lsc_study_add run "qv_r${R_LOW}_p$k" "${p%%:*}"
    lsc_study_add run "qv_r${R_HIGH}_p$k" "${p#*:}"
    for f in A B; do lsc_study_add merge "p$k/$f" "$W/phi_${f}_p$k.h5"; done
    lsc_study_add merge "p$k/init_A" "$W/phi_init_A_p$k.h5"
done
# the figure: seed pair 1, the layer at LAYER_DEPTH
for f in A B; do
    for t in q v; do
        lsc_study_add phi "$f.$t" "/p1/$f/modules/$(lsc_mod $MID_LAYER $t)"
    done
done
for t in q v; do
    lsc_study_add phi "init.A.$t" "/p1/init_A/modules/$(lsc_mod $MID_LAYER $t)"
done
# the verdicts, every layer and projection
for l in $LAYERS; do
    for f in A B; do
        for t in q v; do
            lsc_study_add vphi "phi.$f.$t.L$l" "$f:$(lsc_mod $l $t)"
        done
    done
done
if lsc_study_fresh; then
    lsc_log "fig3_subspace_ranks: up to date"
else
    k=0
    for p in $pairs; do
        k=$((k + 1))
        for f in A B; do
            "$LSC" subspace "${p%%:*}/adapter" "${p#*:}/adapter" --factor "$f" --null-draws "$NULL_DRAWS" \
                -o "$W/phi_${f}_p$k.h5" >"$W/subspace_${f}_p$k.log" 2>&1 \
                || { cat "$W/subspace_${f}_p$k.log" >&2; lsc_die "fig3: lorascope subspace failed"; }
        done
        # step 0 (B = 0, so dW = 0: --factor-only compares A0 itself)
        "$LSC" subspace "${p%%:*}/init" "${p#*:}/init" --factor A --factor-only --null-draws "$NULL_DRAWS" \
            -o "$W/phi_init_A_p$k.h5" >"$W/subspace_init_A_p$k.log" 2>&1 \
            || { cat "$W/subspace_init_A_p$k.log" >&2; lsc_die "fig3: lorascope subspace (step 0) failed"; }
    done
    lsc_study_end --phi-dat "$W" --verdict-dat "$W/verdicts.dat"
fi
# plots/phi.gp (the analysis' heat map, Figure 3 layout) beside the random-subspace grid
what_A="right-singular vectors of A (the paper's choice)"
what_B="left-singular vectors of B (output side)"
for f in A B; do
    eval "what=\$what_$f"
    for t in q v; do
        dim=$(lsc_summary fig3_subspace_ranks "$f.$t.dim")
        lsc_plot phi.gp "fig3_phi_${f}_$t" phifile="$W/phi_$f.$t.dat" randfile="$W/phi_$f.$t.random.dat" \
            footnote="profile $PROFILE" title1="As the paper's Figure 3: φ(${f}_r=$R_LOW, ${f}_r=$R_HIGH, i, j) of ΔW$t, layer $MID_LAYER of $N_LAYER" \
            title2="$what; r/d = $R_HIGH/$dim, random φ(1,1) expectation 1/d" r1="$R_LOW" r2="$R_HIGH" dim="$dim" \
            xlab="j (top-j directions, r=$R_HIGH)" ylab="i (top-i directions, r=$R_LOW)"
    done
done
lsc_plot study_phi_layers.gp fig3_phi_layers data="$W/verdicts.dat" \
    footnote="profile $PROFILE" title="As the paper's Figure 3: φ(1,1) of r=$R_LOW vs r=$R_HIGH per layer (mean over seed pairs, bars: their range) against the Haar null"
