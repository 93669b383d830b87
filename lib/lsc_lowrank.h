/*
 * lsc_lowrank.h — adapter surgery on factored updates dW = s·B·A (lowrank.c):
 * the best rank-K approximation as new factors, the rank rules, the exact
 * truncation errors, and inner products of two factored updates. Never forms
 * the dense (d, k) matrix.
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 */
#ifndef LSC_LOWRANK_H
#define LSC_LOWRANK_H

#include <stddef.h>

#include "lsc_error.h"

// ---- rank rules and truncation errors (lowrank.c) ----

/* How K is chosen from the singular values σ_1 >= ... >= σ_n of dW:
 * FIXED     K = value (clamped to n);
 * ENERGY    the smallest K with Σ_{i<=K} σ_i² / Σ σ_i² >= value (0 < value <= 1);
 * SV_RATIO  kohya's rule: keep every σ_i > σ_1 / value (value >= 1).
 * K is always at least 1 (a PEFT module needs r >= 1), also when dW = 0. */
typedef enum lsc_rank_rule {
    LSC_RANK_RULE_FIXED = 0,
    LSC_RANK_RULE_ENERGY,
    LSC_RANK_RULE_SV_RATIO
} lsc_rank_rule;

/* K for the n singular values S (descending) under rule/value. */
int  lsc_rank_choose(int n, const double *S, lsc_rank_rule rule, double value);
/* The exact errors of keeping the first K of the n singular values S:
 * rel_fro = ‖dW − dW_K‖_F / ‖dW‖_F = sqrt(Σ_{i>K} σ_i² / Σ σ_i²),
 * rel_spec = ‖dW − dW_K‖_2 / ‖dW‖_2 = σ_{K+1} / σ_1 (0 when K >= n);
 * both NaN when dW = 0. fro (may be NULL) = ‖dW‖_F. */
void lsc_truncation_errors(int n, const double *S, int K, double *rel_fro, double *rel_spec,
                           double *fro);

// ---- truncated SVD as new factors ----

/* The best rank-K approximation of dW = s·B·A, B (d, r), A (r, k) float32,
 * as new float32 factors with scale 1: Bk = U_K·diag(σ_K)^{1/2} (d, K) and
 * Ak = diag(σ_K)^{1/2}·V_Kᵀ (K, k) (the balanced split), from the SVD of the
 * r×r core: through the r×r Gram matrices of B and A when both are well
 * conditioned (κ <= 1e4; level-3 BLAS only), else lsc_lowrank_svd (thin
 * Householder QR of B and Aᵀ). K is chosen
 * by rule/value from the n = min(r, d, k) singular values (lsc_rank_choose).
 * The caller allocates S (r), Bk (d·r floats) and Ak (r·k floats): K <= r,
 * and Bk is written with row stride K. *K_out receives K. work:
 * lsc_lowrank_truncate_work_size(d, k, r) doubles. LSC_ENAN for NaN/Inf. */
size_t lsc_lowrank_truncate_work_size(int d, int k, int r);
int    lsc_lowrank_truncate(int d, int k, int r, double s, const float *B, const float *A,
                            lsc_rank_rule rule, double value, int *K_out, double *S,
                            float *Bk, float *Ak, double *work, size_t lwork, lsc_error *err);

// ---- inner products of factored updates ----

/* <s1·B1·A1, s2·B2·A2>_F = s1·s2·Σ_ij (B1ᵀB2)_ij (A1A2ᵀ)_ij for B1 (d, r1),
 * A1 (r1, k), B2 (d, r2), A2 (r2, k), float32, in double: O((d+k)·r1·r2),
 * never the (d, k) products. work: 2·r1·r2 doubles. */
size_t lsc_lowrank_inner_work_size(int r1, int r2);
double lsc_lowrank_inner(int d, int k, int r1, double s1, const float *B1, const float *A1,
                         int r2, double s2, const float *B2, const float *A2, double *work);

#endif /* LSC_LOWRANK_H */
