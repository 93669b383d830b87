/*
 * lsc_verdict.h — the verdict rules of the report (verdict.c): numbers in,
 * a verdict out, each naming its test, its null, the effect with its
 * interval and the p-value, and "not shown" whenever the null is not beaten.
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 *
 * Every rule fills an lsc_verdict and returns LSC_OK, or LSC_EARG / LSC_ENAN /
 * LSC_ENOMEM with the details in *err (may be NULL); on any error the
 * verdict is still filled, as LSC_NOT_MEASURED with the reason in evidence,
 * so a caller that prints it never shows a claim it could not test. Too
 * little data (one seed, too few null draws) is LSC_OK with
 * LSC_NOT_MEASURED and the reason. alpha is 0.05 unless given.
 *
 *     lsc_verdict v;
 *     char line[1024];
 *     lsc_verdict_better(acc_r8, acc_r1, 3, 0.05, &v, &err);
 *     lsc_verdict_format(&v, line, sizeof line);
 *     // "shown — paired t-test over 3 seeds; null: ...; mean difference ..."
 *
 * Not here: reading results (the report does that) and wording beyond one
 * sentence; the caller may overwrite null_desc with its own names.
 */
#ifndef LSC_VERDICT_H
#define LSC_VERDICT_H

#include <stddef.h>
#include <stdint.h>

#include "lsc_error.h"

enum lsc_verdict_state {
    LSC_NOT_MEASURED = -1,  /* the data cannot test the claim (reason in evidence) */
    LSC_NOT_SHOWN    = 0,   /* tested; the null was not beaten */
    LSC_SHOWN        = 1,   /* tested; the null was beaten at alpha */
};

typedef struct lsc_verdict {
    int    state;           /* enum lsc_verdict_state */
    double effect;          /* the rule's effect size (see each rule) */
    double lo, hi;          /* its interval (NaN when there is none) */
    double p;               /* the test's p-value (NaN when not measured) */
    double null_value;      /* the effect under the null (0, 1 or the null mean) */
    double alpha;
    int    n;               /* pairs, runs or seeds the statistic averages */
    char   test[200];       /* the test, e.g. "paired t-test over 3 seeds" */
    char   null_desc[200];  /* the null beaten or not */
    char   evidence[400];   /* one sentence with effect, interval and p */
} lsc_verdict;

/* Options of the Monte-Carlo rules (a, b, c); a zeroed struct (or NULL)
 * means the defaults. */
typedef struct lsc_verdict_opts {
    double      alpha;       /* 0: 0.05 */
    int         n_resample;  /* resampled null statistics; 0: 10000 (rule c: at least 2000) */
    uint64_t    seed;        /* of the resampling (deterministic) */
    const char *null_desc;   /* the caller's words for one null draw, e.g. "two Haar-random
                              * 8- and 64-dim subspaces of R^512"; NULL: a generic phrase */
} lsc_verdict_opts;

/* a) Subspace overlap beyond chance. trained[n]: φ(1,1) per pair (seed
 * pairs or rank pairs) after training; init[n]: the same pairs' φ(1,1) at
 * step 0, or NULL; null_draws[N]: φ(1,1) of Haar-random pairs of the same
 * dimensions (Beta(1/2, (d−1)/2) for top directions in R^d).
 * Statistic: the mean trained φ(1,1) over the n pairs. Test: one-sided
 * Monte-Carlo test against the resampled null of the mean of n draws.
 * SHOWN iff p < alpha AND, when init is given, either the step-0 mean is
 * itself at the null's level (its own p >= alpha) or, when the step-0
 * overlap already beats the null, the trained values exceed the step-0 ones
 * pair by pair (paired t-test, the (1 − alpha) interval of trained − init
 * above 0; impossible with n = 1) and by more than the null's q95 − mean of
 * the mean of n draws: an overlap already there at initialisation does not
 * count. effect = mean trained −
 * null mean (null_value = the null mean); [lo, hi] = the (1 − alpha)
 * t-interval of the trained values minus the null mean (NaN for n = 1).
 * N < 1/alpha null draws: NOT_MEASURED. */
int lsc_verdict_phi(const double *trained, const double *init, int n,
                    const double *null_draws, int N, const lsc_verdict_opts *opt,
                    lsc_verdict *v, lsc_error *err);

/* b) ΔW more aligned with W's directions than chance. proj_delta[n]:
 * ‖UᵀWV‖_F per run (U, V the top-K frames of ΔW); proj_null (n, N)
 * row-major: the same for N random ΔW of the run's rank and norm. Per run
 * the ratio r_i = proj_delta_i / E_i, E_i = the mean of the run's null
 * draws. Statistic: mean r_i; its null: the mean over runs of one null
 * draw per run divided by its E_i, resampled. effect = mean r_i (1 = as
 * aligned as chance; null_value 1); [lo, hi]: (1 − alpha) t-interval of the
 * r_i. SHOWN iff the one-sided p < alpha. */
int lsc_verdict_alignment(const double *proj_delta, int n, const double *proj_null, int N,
                          const lsc_verdict_opts *opt, lsc_verdict *v, lsc_error *err);

/* One arm of rule c: n runs of one rank, N null draws each. */
typedef struct lsc_amp_runs {
    int           rank;        /* the LoRA rank (for the text) */
    int           n;           /* runs */
    const double *delta_fro;   /* (n) ‖ΔW‖_F, > 0 */
    const double *proj_delta;  /* (n) ‖UᵀWV‖_F, U V the top-K frames of ΔW, > 0 */
    const double *proj_null;   /* (n, N) the same for random ΔW of the run's rank and norm */
    int           N;
} lsc_amp_runs;

/* c) "The amplification factor ‖ΔW‖_F/‖UᵀWV‖_F (top-K, K fixed) is larger
 * at the low rank than at the high rank, beyond what random ΔWs of the
 * same ranks and norms give". S = mean log amp_low − mean log amp_high.
 * Null: S with each run's proj_delta replaced by a draw from its own null
 * (the norms are kept, only the alignment is random), max(2000,
 * n_resample) resamples. p = the one-sided Monte-Carlo p of S. effect =
 * exp(S − median null S), the excess factor (null_value 1); [lo, hi] =
 * exp(S − q97.5), exp(S − q2.5) of the null S (the test inverted under a
 * shift). The raw ratio exp(S) is in evidence. SHOWN iff p < alpha. */
int lsc_verdict_amp_ranks(const lsc_amp_runs *low, const lsc_amp_runs *high, int K,
                          const lsc_verdict_opts *opt, lsc_verdict *v, lsc_error *err);

/* d) Saturation: accuracy at the small setting equivalent to the large one.
 * acc_small[n], acc_large[n]: per seed, in percentage points. TOST paired
 * by seed with the margin (points): SHOWN iff equivalent (p < alpha);
 * effect = mean(small − large), [lo, hi] = the (1 − 2α) interval,
 * null_value = the margin. n < 2: NOT_MEASURED, "needs >= 2 seeds" — a
 * difference test that failed never counts as saturation. alpha 0: 0.05. */
int lsc_verdict_saturation(const double *acc_small, const double *acc_large, int n,
                           double margin, double alpha, lsc_verdict *v, lsc_error *err);

/* e) "a is better than b": paired t-test by seed. SHOWN iff the mean
 * difference a − b is > 0 and the (1 − alpha) two-sided t-interval excludes
 * 0; effect = mean(a − b), [lo, hi] that interval, p two-sided,
 * null_value 0. n < 2: NOT_MEASURED. alpha 0: 0.05. */
int lsc_verdict_better(const double *acc_a, const double *acc_b, int n, double alpha,
                       lsc_verdict *v, lsc_error *err);

/* g) The regime: ratio[n] (e.g. ‖ΔW‖_F/‖W‖_F per run) against a
 * reference value (the paper's) — a range check, not a statistical test:
 * SHOWN iff the mean ratio lies within [reference/factor, reference·factor];
 * effect = mean/reference (null_value 1), [lo, hi] its (1 − 0.05)
 * t-interval (NaN for n = 1), p NaN. */
int lsc_verdict_regime(const double *ratio, int n, double reference, double factor, lsc_verdict *v,
                       lsc_error *err);

/* f) One line into buf (always NUL-terminated when n > 0):
 * "shown|not shown|not measured — <test>; null: <null_desc>; <evidence>".
 * Returns the length the full line needs (as snprintf). */
int lsc_verdict_format(const lsc_verdict *v, char *buf, size_t n);
/* "shown", "not shown", "not measured" (or "invalid") */
const char *lsc_verdict_state_name(int state);

#endif /* LSC_VERDICT_H */
