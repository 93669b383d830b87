#!/bin/sh
# study_subspace_ranks.sh — LoRA paper §7.2, Figure 3: how much of the subspace learned at r=8 is
# inside the one learned at r=64 (same seed, adapting Wq and Wv). phi(i, j) =
# ||V8[:, :i]^T V64[:, :j]||_F^2 / min(i, j) on the right-singular vectors of A (the paper's
# choice) and, as the output-side variant, on the left-singular vectors of B. Every layer is in
# the file; the figure shows ΔWq and ΔWv of the middle layer, as the paper does.
# The same grid on the step-0 adapters (each run's init/: A0, B = 0) is the null (LoRA issue 12):
# the trained overlap counts only above it. Factor A only: at step 0 B is all zero, so factor B
# has no subspace to compare.
# Output: data/results/$PROFILE/fig3_subspace_ranks.h5 (/A, /B: the `lorascope subspace`
# outputs; /phi_init/A: the same on the step-0 adapters; /summary, step-0 metrics under
# init.A.q.* and init.A.v.*), figures fig3_phi_{A,B}_{q,v}.
. "$(dirname "$0")/lib.sh"

seed=${SEED_PAIR%% *}
lsc_study_begin fig3_subspace_ranks
lsc_run "$(lsc_run_id q,v "$R_LOW" "$seed")" --targets q,v --rank "$R_LOW" --seed "$seed"
low=$RUN_DIR
lsc_run "$(lsc_run_id q,v "$R_HIGH" "$seed")" --targets q,v --rank "$R_HIGH" --seed "$seed"
high=$RUN_DIR
lsc_plan_end

W=$WORK/fig3_subspace_ranks
lsc_study_add run "qv_r$R_LOW" "$low"
lsc_study_add run "qv_r$R_HIGH" "$high"
for f in A B; do
    lsc_study_add merge "$f" "$W/phi_$f.h5"
    for t in q v; do
        lsc_study_add phi "$f.$t" "/$f/modules/h.$MID_LAYER.attn.${t}_proj"
    done
done
lsc_study_add merge phi_init/A "$W/phi_init_A.h5"
for t in q v; do
    lsc_study_add phi "init.A.$t" "/phi_init/A/modules/h.$MID_LAYER.attn.${t}_proj"
done
if lsc_study_fresh; then
    lsc_log "fig3_subspace_ranks: up to date"
else
    for f in A B; do
        "$LSC" subspace "$low/adapter" "$high/adapter" --factor "$f" -o "$W/phi_$f.h5" >"$W/subspace_$f.log" 2>&1 \
            || { cat "$W/subspace_$f.log" >&2; lsc_die "fig3: lorascope subspace failed"; }
    done
    # step 0 (B = 0, so dW = 0: --factor-only compares A0 itself)
    "$LSC" subspace "$low/init" "$high/init" --factor A --factor-only -o "$W/phi_init_A.h5" \
        >"$W/subspace_init_A.log" 2>&1 \
        || { cat "$W/subspace_init_A.log" >&2; lsc_die "fig3: lorascope subspace (step 0) failed"; }
    lsc_study_end --phi-dat "$W"
fi
# plots/phi.gp (the analysis' heat map, Figure 3 layout) beside the random-subspace grid
what_A="right-singular vectors of A (the paper's choice)"
what_B="left-singular vectors of B (output side)"
for f in A B; do
    eval "what=\$what_$f"
    for t in q v; do
        lsc_plot phi.gp "fig3_phi_${f}_$t" phifile="$W/phi_$f.$t.dat" randfile="$W/phi_$f.$t.random.dat" \
            title1="Figure 3 ($PROFILE): phi(${f}_r=$R_LOW, ${f}_r=$R_HIGH, i, j) of ΔW$t, layer $MID_LAYER" \
            title2="$what" r1="$R_LOW" r2="$R_HIGH" dim="$(lsc_summary fig3_subspace_ranks "$f.$t.dim")" \
            xlab="j (top-j directions, r=$R_HIGH)" ylab="i (top-i directions, r=$R_LOW)"
    done
done
