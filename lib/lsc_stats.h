/*
 * lsc_stats.h — the statistics the verdicts rest on (stats.c): the Student t,
 * normal and Beta distributions, mean and paired-difference t-intervals,
 * the paired t-test, TOST equivalence, Monte-Carlo p-values and the
 * resampled null distribution of a mean of null draws.
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 *
 * Pure numerics in double precision: numbers in, numbers out, no I/O, no
 * allocation (the resampling functions take a caller-allocated `work`).
 * Distribution functions return NaN for arguments outside their domain
 * (df <= 0, p outside [0, 1], NaN); the functions filling a struct return
 * LSC_OK, LSC_EARG (bad n, level, margin, alpha, NULL pointer) or LSC_ENAN
 * (a non-finite input value), with the details in *err (may be NULL).
 *
 *     lsc_paired_t_result r;
 *     if (lsc_paired_t(acc_a, acc_b, 3, 0.95, &r, &err) == LSC_OK && !r.no_test)
 *         printf("diff %.2f [%.2f, %.2f], p = %.3g\n", r.mean, r.lo, r.hi, r.p);
 */
#ifndef LSC_STATS_H
#define LSC_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "lsc_error.h"

// ---- distributions ----

/* Regularized incomplete beta function I_x(a, b) = the Beta(a, b) CDF at x
 * (a, b > 0, x in [0, 1]): continued fraction (modified Lentz), with the
 * symmetry I_x(a,b) = 1 − I_{1−x}(b,a) on the side where it converges fast,
 * and log B(a, b) free of cancellation for large a or b. Relative accuracy
 * ~1e-14. The φ(1,1) of two Haar-random subspaces of R^d is Beta(1/2, (d−1)/2). */
double lsc_beta_inc(double a, double b, double x);

/* Standard normal CDF and quantile (Acklam's rational start, two Halley
 * steps on erfc: ~1e-15). quantile(0) = −inf, quantile(1) = +inf. */
double lsc_normal_cdf(double x);
double lsc_normal_quantile(double p);

/* Student t with real df > 0: CDF P(T <= t) through
 * P(|T| > t) = I_{df/(df+t²)}(df/2, 1/2) (tails computed directly, so small
 * p-values keep their relative accuracy), density, and the quantile: closed
 * forms for df = 1, 2, else a safeguarded Newton iteration on log P(T > t)
 * inside a bisection bracket (accurate to ~1e-13 relative). */
double lsc_t_cdf(double t, double df);
double lsc_t_sf(double t, double df);  /* P(T > t) = 1 − cdf, accurate in the tail */
double lsc_t_pdf(double t, double df);
double lsc_t_quantile(double p, double df);

// ---- intervals and tests ----

/* The mean of n values with its t-interval at `level` (e.g. 0.95):
 * mean ± t_{(1+level)/2, n−1} · sd/√n, sd with n−1. n = 1: mean only,
 * no_interval = 1 and sd, se, tcrit, lo, hi are NaN ("one value, no
 * interval"). n < 1, level outside (0, 1) → LSC_EARG. */
typedef struct lsc_ci {
    int    n;
    int    no_interval;   /* 1: one value, no interval */
    double level;
    double mean, sd, se;  /* sd with n − 1, se = sd/√n */
    double tcrit;         /* t quantile at (1 + level)/2, n − 1 df */
    double lo, hi;        /* mean ∓ tcrit·se */
} lsc_ci;
int lsc_mean_ci(const double *x, int n, double level, lsc_ci *out, lsc_error *err);

/* Paired t-test of the differences d_i = a_i − b_i against mean 0:
 * t = mean/se with n − 1 df, two-sided p, and the t-interval of the mean
 * difference at `level`. n = 1: no_test = 1, only mean is set (the rest
 * NaN). All differences equal (sd = 0, n >= 2): the t-test is undefined
 * (degenerate = 1): t = 0, p = 1 when the mean is 0, else t = ±inf and p is
 * the exact two-sided sign test of n differences of one sign, 2·0.5^n (a
 * "p = 0" from t = ±inf would claim more than n pairs can show); the
 * interval is [mean, mean]. */
typedef struct lsc_paired_t_result {
    int    n;
    int    no_test;       /* 1: n < 2, no test */
    int    degenerate;    /* 1: every difference equal (sd = 0): p from the sign test */
    double level;
    double mean, sd, se;  /* of the differences a − b */
    double t, df, p;      /* p two-sided */
    double lo, hi;        /* t-interval of the mean difference at level */
} lsc_paired_t_result;
int lsc_paired_t(const double *a, const double *b, int n, double level,
                 lsc_paired_t_result *out, lsc_error *err);

/* TOST (two one-sided tests) for equivalence of paired values:
 * H0: mean(a − b) <= −margin or >= +margin; H1: |mean(a − b)| < margin.
 * t_lower = (mean + margin)/se, p_lower = P(T > t_lower); t_upper =
 * (mean − margin)/se, p_upper = P(T < t_upper); p = max of the two;
 * equivalent iff p < alpha, which is the same as the (1 − 2α) t-interval
 * [lo, hi] lying inside (−margin, margin). n = 1: no_test = 1 (never
 * equivalent). sd = 0: equivalent iff |mean| < margin. margin <= 0 or
 * alpha outside (0, 0.5) → LSC_EARG. */
typedef struct lsc_tost_result {
    int    n;
    int    no_test;       /* 1: n < 2, no test */
    int    equivalent;    /* 1: p < alpha */
    double margin, alpha;
    double mean, sd, se, df;
    double t_lower, t_upper, p_lower, p_upper, p;
    double lo, hi;        /* the (1 − 2α) two-sided t-interval of the mean difference */
} lsc_tost_result;
int lsc_tost_paired(const double *a, const double *b, int n, double margin, double alpha,
                    lsc_tost_result *out, lsc_error *err);

// ---- Monte-Carlo ----

/* One-sided Monte-Carlo p-value (1 + #{draws >= observed}) / (1 + n): never
 * 0, so a test with n draws can reject at best at 1/(n + 1). A NaN draw
 * counts as >= (conservative). NaN observed, n < 0, draws NULL with n > 0:
 * NaN. */
double lsc_mc_pvalue(double observed, const double *draws, int n);

/* Type-7 (linear interpolation, numpy's default) quantile q in [0, 1] of
 * n >= 1 values sorted ascending. */
double lsc_quantile_sorted(const double *sorted, int n, double q);

/* The null distribution of a MEAN of m values, by resampling: each of n_out
 * resampled means averages m values drawn uniformly with replacement
 * (lsc_rng seeded with `seed`, m·n_out draws, deterministic) from the
 * n null draws. p is lsc_mc_pvalue of `observed` against the n_out means.
 * work: n_out doubles, caller-allocated; on return it holds the resampled
 * means sorted ascending. */
typedef struct lsc_null_mean {
    int    m, n_out;
    double observed;
    double p;               /* one-sided: (1 + #{means >= observed}) / (1 + n_out) */
    double mean, sd;        /* of the resampled means */
    double q05, q50, q95;   /* their type-7 quantiles */
} lsc_null_mean;
int lsc_null_mean_test(double observed, const double *draws, int n, int m, int n_out,
                       uint64_t seed, double *work, lsc_null_mean *out, lsc_error *err);
/* The same when each of the m values has its own null: value i of every
 * resampled mean is drawn from rows[i] (row_n[i] >= 1 draws). */
int lsc_null_mean_test_rows(double observed, int m, const double *const *rows,
                            const int *row_n, int n_out, uint64_t seed, double *work,
                            lsc_null_mean *out, lsc_error *err);

#endif /* LSC_STATS_H */
