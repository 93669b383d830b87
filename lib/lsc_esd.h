/*
 * lsc_esd.h — spectral diagnostics of a weight matrix from its singular
 * values (esd.c): the spike share, stable rank and entropy effective rank
 * of a spectrum, the Clauset–Shalizi–Newman power-law fit of the tail of
 * the empirical spectral density (ESD) of WᵀW (the "α" of heavy-tailed
 * self-regularisation studies), and Iglewicz–Hoaglin robust z-scores to
 * flag outlying modules. Part of liblorascope's public interface; include
 * "lsc.h" for all of it.
 *
 * Vocabulary: sv (n) singular values σ_i of one matrix (any order); the
 * eigenvalues of WᵀW are λ_i = σ_i². Nothing here allocates: callers pass
 * work arrays of the stated size.
 */
#ifndef LSC_ESD_H
#define LSC_ESD_H

#include <stddef.h>

#include "lsc_error.h"

/* Spectrum measures of singular values sv (n):
 *   fro2           Σσ²                       (= ‖W‖²_F)
 *   spike_share    σ₁² / Σσ²                 (share of ‖W‖²_F in the top direction, in (0, 1])
 *   stable_rank    Σσ² / σ₁²                 (= 1 / spike_share)
 *   effective_rank exp(H), H = −Σ p_i ln p_i with p_i = σ_i² / Σσ² (Roy & Vetterli's
 *                  entropy rank on the energy distribution; 0·ln 0 = 0)
 * All but fro2 are NaN when Σσ² = 0 or a value is not finite. Note: the
 * older ana_effective_rank (spectrum, trajectory) uses p_i = σ_i / Σσ; the
 * energy form here makes it the exponential of the entropy of ‖W‖²_F's split. */
typedef struct lsc_esd_measures {
    double fro2, spike_share, stable_rank, effective_rank;
} lsc_esd_measures;
void lsc_esd_measures_compute(int n, const double *sv, lsc_esd_measures *out);

/* The continuous power-law fit p(λ) ∝ λ^−α for λ >= x_min (Clauset, Shalizi
 * & Newman 2009, §3): for each candidate x_min among the distinct positive
 * values whose tail {λ >= x_min} holds at least min_tail values, the MLE
 * α = 1 + n_tail / Σ_tail ln(λ_i / x_min), and the Kolmogorov–Smirnov
 * distance D = sup |S(λ) − P(λ)| between the tail's empirical CDF S and the
 * fitted CDF P(λ) = 1 − (λ / x_min)^(1−α) (evaluated on both sides of every
 * step: max_i max(P(λ_(i)) − i/n, (i+1)/n − P(λ_(i))), λ_(i) ascending,
 * i = 0..n_tail−1). The x_min of least D is chosen (the smallest x_min on
 * a tie). se = (α − 1) / √n_tail, the MLE's asymptotic standard error.
 * Values <= 0 and non-finite ones are left out (a rank-deficient W has zero
 * eigenvalues); n_pos counts the rest. Fewer than min_tail positive values
 * (or every tail degenerate: all values equal): alpha = se = x_min = ks =
 * NaN, n_tail = 0, LSC_OK. min_tail >= 2, else LSC_EARG.
 * work: n doubles (the sorted logarithms). */
typedef struct lsc_powerlaw {
    double alpha, se, x_min, ks;
    int    n_tail, n_pos;
} lsc_powerlaw;
int lsc_powerlaw_fit(int n, const double *x, int min_tail, double *work, lsc_powerlaw *fit,
                     lsc_error *err);

/* Iglewicz–Hoaglin modified z-scores of x (n): z_i = 0.6745·(x_i − med)/MAD
 * with med and MAD = median |x_i − med| over the finite values. MAD = 0
 * (more than half the values equal): z_i = (x_i − med) / (1.253314·MeanAD)
 * with MeanAD = the mean |x_i − med| (the usual fallback: 1.253314·MeanAD
 * estimates σ for normal data as MAD/0.6745 does); both 0 (all equal):
 * z_i = 0. Non-finite x_i get z_i = NaN and are not counted.
 * work: n doubles. Returns the number of finite values used. */
int lsc_robust_z(int n, const double *x, double *z, double *work);

#endif /* LSC_ESD_H */
