#!/bin/sh
# study_subspace_seeds.sh — LoRA paper §7.2, Figure 4: two r=64 runs that differ only in the seed
# (adapting Wq and Wv). phi(A_seed1, A_seed2, i, j) beside phi of two random Gaussian matrices of
# the same shape (the `phi_random` dataset of `lorascope subspace`). The paper: ΔWq shares more
# top directions across seeds than ΔWv; random matrices share none beyond max(i,j)/d.
# The same grid on the step-0 adapters (each run's init/: A0, B = 0) is the null (LoRA issue 12):
# the trained overlap counts only above it (factor A only: B is all zero at step 0).
# Output: data/results/$PROFILE/fig4_subspace_seeds.h5 (/A: the subspace output; /phi_init/A:
# the same on the step-0 adapters; /summary, step-0 metrics under init.A.q.* and init.A.v.*),
# figures fig4_phi_{q,v} (each beside its random-matrix grid).
. "$(dirname "$0")/lib.sh"

s1=${SEED_PAIR%% *}
s2=${SEED_PAIR##* }
lsc_study_begin fig4_subspace_seeds
lsc_run "$(lsc_run_id q,v "$R_HIGH" "$s1")" --targets q,v --rank "$R_HIGH" --seed "$s1"
run1=$RUN_DIR
lsc_run "$(lsc_run_id q,v "$R_HIGH" "$s2")" --targets q,v --rank "$R_HIGH" --seed "$s2"
run2=$RUN_DIR
lsc_plan_end

W=$WORK/fig4_subspace_seeds
lsc_study_add run "qv_r${R_HIGH}_s$s1" "$run1"
lsc_study_add run "qv_r${R_HIGH}_s$s2" "$run2"
lsc_study_add merge A "$W/phi_A.h5"
for t in q v; do
    lsc_study_add phi "A.$t" "/A/modules/h.$MID_LAYER.attn.${t}_proj"
done
lsc_study_add merge phi_init/A "$W/phi_init_A.h5"
for t in q v; do
    lsc_study_add phi "init.A.$t" "/phi_init/A/modules/h.$MID_LAYER.attn.${t}_proj"
done
if lsc_study_fresh; then
    lsc_log "fig4_subspace_seeds: up to date"
else
    "$LSC" subspace "$run1/adapter" "$run2/adapter" --factor A -o "$W/phi_A.h5" >"$W/subspace.log" 2>&1 \
        || { cat "$W/subspace.log" >&2; lsc_die "fig4: lorascope subspace failed"; }
    # step 0 (B = 0, so dW = 0: --factor-only compares A0 itself)
    "$LSC" subspace "$run1/init" "$run2/init" --factor A --factor-only -o "$W/phi_init_A.h5" \
        >"$W/subspace_init.log" 2>&1 \
        || { cat "$W/subspace_init.log" >&2; lsc_die "fig4: lorascope subspace (step 0) failed"; }
    lsc_study_end --phi-dat "$W"
fi
# plots/phi.gp: the learned grid beside two random Gaussian subspaces of the same shape
for t in q v; do
    lsc_plot phi.gp "fig4_phi_$t" phifile="$W/phi_A.$t.dat" randfile="$W/phi_A.$t.random.dat" \
        title1="Figure 4 ($PROFILE): phi(A_seed$s1, A_seed$s2, i, j) of ΔW$t, r=$R_HIGH, layer $MID_LAYER" \
        title2="right-singular vectors of A; right: two random Gaussian matrices of the same shape" \
        r1="$R_HIGH" r2="$R_HIGH" dim="$(lsc_summary fig4_subspace_seeds "A.$t.dim")" \
        xlab="j (seed $s2)" ylab="i (seed $s1)"
done
