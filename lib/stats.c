/*
 * stats.c — the statistics under the verdicts: the regularized incomplete
 * beta function, the normal and Student t distributions, t-intervals, the
 * paired t-test, TOST equivalence, Monte-Carlo p-values and the resampled
 * null distribution of a mean (declared in lsc_stats.h).
 *
 * Not here: the verdict rules built from them (verdict.c), any reading of
 * results. Pure numerics: no I/O, no allocation, no global state (the
 * resampling takes a seed and a caller-allocated work array).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "lsc_internal.h"

#define LSC_PI 3.141592653589793238462643

// ---- log Beta without cancellation ----

/* lgamma(x) − the Stirling main part, for x >= 10: 1/(12x) − 1/(360x³) + … */
static double stirling_corr(double x)
{
    double r = 1.0 / x, r2 = r * r;
    return r * (1.0 / 12 + r2 * (-1.0 / 360 + r2 * (1.0 / 1260 + r2 * (-1.0 / 1680 +
           r2 * (1.0 / 1188 + r2 * (-691.0 / 360360 + r2 * (1.0 / 156)))))));
}

/* lgamma(q) − lgamma(q + p) for q >= 10, p > 0: Stirling's series with the
 * large terms combined through log1p, so q = 5e6, p = 1/2 loses nothing. */
static double lgamma_ratio(double q, double p)
{
    return -(q - 0.5) * log1p(p / q) - p * log(q + p) + p + stirling_corr(q) -
           stirling_corr(q + p);
}

static double lbeta(double a, double b)
{
    double p = a < b ? a : b, q = a < b ? b : a;
    if (q < 10.0)
        return lgamma(a) + lgamma(b) - lgamma(a + b);
    return lgamma(p) + lgamma_ratio(q, p);
}

/* u − log(1 + u), u > −1, without cancellation for small u (series) */
static double rlog1(double u)
{
    if (fabs(u) >= 0.1)
        return u - log1p(u);
    double term = u * u, s = 0.0;   /* Σ_{k>=2} (−1)^k u^k / k */
    for (int k = 2; k < 40; k++) {
        s += (k % 2 ? -term : term) / k;
        term *= u;
        if (fabs(term) < 1e-17 * fabs(s))
            break;
    }
    return s;
}

/* log(x^a y^b / B(a, b)), y = 1 − x. For a, b >= 10 the large terms of
 * a·log x, b·log y and log B cancel; they are combined first (Stirling's
 * series and u − log(1 + u) around the mode x0 = a/(a+b), as in
 * DiDonato & Morris's brcomp), else the plain sum. */
static double log_beta_front(double a, double b, double x, double y, double lx, double ly)
{
    if (a < 10.0 || b < 10.0)
        return a * lx + b * ly - lbeta(a, b);
    double s = a + b, u = (x * s - a) / a, v = (y * s - b) / b;
    return -(a * rlog1(u) + b * rlog1(v)) + 0.5 * log(a * b / s) - 0.5 * log(2.0 * LSC_PI) -
           (stirling_corr(a) + stirling_corr(b) - stirling_corr(s));
}

// ---- incomplete beta ----

/* The continued fraction of I_x(a, b) (modified Lentz), converging fast for
 * x < (a + 1)/(a + b + 2); O(√max(a, b)) terms near that point. y = 1 − x:
 * the first term 1 − (a+b)x/(a+1) is formed as ((a+1)y + (1−b)x)/(a+1).
 * Evaluated in long double: for x near 1 and large a (the t tail at
 * df = 1e7) the recurrence 1 + aa·d cancels and double alone leaves ~4e-10
 * relative error; with x86's 64-bit mantissa it is ~1e-13 (where long
 * double is double, the 4e-10 remains). */
static double beta_cf(double a, double b, double x, double y)
{
    const long double tiny = 1e-300L, eps = 1e-18L;
    long double qab = (long double)a + b, qap = (long double)a + 1.0L;
    long double qam = (long double)a - 1.0L, lx = x;
    long double c = 1.0L, d = (qap * y + (1.0L - b) * lx) / qap;
    if (fabsl(d) < tiny)
        d = tiny;
    d = 1.0L / d;
    long double h = d;
    for (int m = 1; m <= 1000000; m++) {
        long double m2 = 2.0L * m;
        long double aa = m * (b - m) * lx / ((qam + m2) * (a + m2));
        d = 1.0L + aa * d;
        d = fabsl(d) < tiny ? 1.0L / tiny : 1.0L / d;
        c = 1.0L + aa / c;
        if (fabsl(c) < tiny)
            c = tiny;
        h *= d * c;
        aa = -(a + m) * (qab + m) * lx / ((a + m2) * (qap + m2));
        d = 1.0L + aa * d;
        d = fabsl(d) < tiny ? 1.0L / tiny : 1.0L / d;
        c = 1.0L + aa / c;
        if (fabsl(c) < tiny)
            c = tiny;
        long double del = d * c;
        h *= del;
        if (fabsl(del - 1.0L) < eps)
            return (double)h;
    }
    return NAN;
}

/* I_x(a, b) with y = 1 − x, lx = log x and ly = log y given by the caller
 * (formed without cancellation where that matters: the t tail at df = 1e7
 * needs log x to full relative accuracy). */
static double beta_inc_xy(double a, double b, double x, double y, double lx, double ly)
{
    if (x <= 0.0)
        return 0.0;
    if (y <= 0.0)
        return 1.0;
    double front = exp(log_beta_front(a, b, x, y, lx, ly));
    if (x < (a + 1.0) / (a + b + 2.0))
        return front * beta_cf(a, b, x, y) / a;
    return 1.0 - front * beta_cf(b, a, y, x) / b;
}

double lsc_beta_inc(double a, double b, double x)
{
    if (!(a > 0.0) || !(b > 0.0) || !(x >= 0.0 && x <= 1.0) || isinf(a) || isinf(b))
        return NAN;
    return beta_inc_xy(a, b, x, 1.0 - x, log(x), log1p(-x));
}

// ---- normal ----

double lsc_normal_cdf(double x)
{
    return 0.5 * erfc(-x / sqrt(2.0));
}

/* Acklam's rational approximation (relative error 1.15e-9) for p <= 1/2 */
static double normal_quantile_start(double p)
{
    static const double a[6] = {-3.969683028665376e+01, 2.209460984245205e+02,
                                -2.759285104469687e+02, 1.383577518672690e+02,
                                -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[5] = {-5.447609879822406e+01, 1.615858368580409e+02,
                                -1.556989798598866e+02, 6.680131188771972e+01,
                                -1.328068155288572e+01};
    static const double c[6] = {-7.784894002430293e-03, -3.223964580411365e-01,
                                -2.400758277161838e+00, -2.549732539343734e+00,
                                4.374664141464968e+00, 2.938163982698783e+00};
    static const double d[4] = {7.784695709041462e-03, 3.224671290700398e-01,
                                2.445134137142996e+00, 3.754408661907416e+00};
    if (p < 0.02425) {
        double q = sqrt(-2.0 * log(p));
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
    }
    double q = p - 0.5, r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
}

double lsc_normal_quantile(double p)
{
    if (!(p >= 0.0 && p <= 1.0))
        return NAN;
    if (p == 0.0)
        return -INFINITY;
    if (p == 1.0)
        return INFINITY;
    if (p > 0.5)
        return -lsc_normal_quantile(1.0 - p);   /* 1 − p is exact here */
    double x = normal_quantile_start(p);
    for (int it = 0; it < 2; it++) {            /* Halley on the lower tail */
        double e = 0.5 * erfc(-x / sqrt(2.0)) - p;
        double u = e * sqrt(2.0 * LSC_PI) * exp(0.5 * x * x);
        x -= u / (1.0 + 0.5 * x * u);
    }
    return x;
}

// ---- Student t ----

/* P(T > t) for t >= 0: ½·I_{df/(df+t²)}(df/2, ½), with 1 − x = t²/(df+t²)
 * formed directly. */
static double t_upper_tail(double t, double df)
{
    if (isinf(t))
        return 0.0;
    double t2 = t * t, s = df + t2;
    if (isinf(s))
        return 0.0;
    return 0.5 * beta_inc_xy(0.5 * df, 0.5, df / s, t2 / s, -log1p(t2 / df), log(t2 / s));
}

double lsc_t_sf(double t, double df)
{
    if (!(df > 0.0) || isnan(t))
        return NAN;
    return t >= 0.0 ? t_upper_tail(t, df) : 1.0 - t_upper_tail(-t, df);
}

double lsc_t_cdf(double t, double df)
{
    if (!(df > 0.0) || isnan(t))
        return NAN;
    return t >= 0.0 ? 1.0 - t_upper_tail(t, df) : t_upper_tail(-t, df);
}

double lsc_t_pdf(double t, double df)
{
    if (!(df > 0.0) || isnan(t))
        return NAN;
    if (isinf(t))
        return 0.0;
    return exp(-0.5 * (df + 1.0) * log1p(t * t / df) - 0.5 * log(df) - lbeta(0.5 * df, 0.5));
}

/* The t >= 0 with P(T > t) = q, 0 < q < 1/2: Newton on log P(T > t) from a
 * Cornish-Fisher start, any step leaving the bracket [lo, hi] replaced by
 * bisection (geometric once lo > 0). */
static double t_upper_quantile(double q, double df)
{
    double z = -lsc_normal_quantile(q), z3 = z * z * z;
    double t = z + (z3 + z) / (4.0 * df) + (5.0 * z3 * z * z + 16.0 * z3 + 3.0 * z) /
               (96.0 * df * df);
    double lo = 0.0, hi = t > 1.0 ? 2.0 * t : 2.0;
    while (t_upper_tail(hi, df) > q && hi < 1e300)
        hi *= 4.0;
    if (!(t > lo && t < hi))
        t = 0.5 * (lo + hi);
    double lq = log(q);
    for (int it = 0; it < 300; it++) {
        double tail = t_upper_tail(t, df);
        if (tail > q)
            lo = t;
        else
            hi = t;
        double pdf = lsc_t_pdf(t, df);
        double next = pdf > 0.0 && tail > 0.0 ? t + (log(tail) - lq) * tail / pdf : NAN;
        if (!(next > lo && next < hi))
            next = lo > 0.0 && hi / lo > 4.0 ? sqrt(lo * hi) : 0.5 * (lo + hi);
        if (fabs(next - t) <= 4.0 * DBL_EPSILON * t || hi - lo <= 4.0 * DBL_EPSILON * hi)
            return next;
        t = next;
    }
    return t;
}

double lsc_t_quantile(double p, double df)
{
    if (!(df > 0.0) || !(p >= 0.0 && p <= 1.0))
        return NAN;
    if (p == 0.0)
        return -INFINITY;
    if (p == 1.0)
        return INFINITY;
    if (p == 0.5)
        return 0.0;
    if (df == 1.0)
        return p < 0.5 ? -tan(LSC_PI * (0.5 - p)) : tan(LSC_PI * (p - 0.5));
    if (df == 2.0)
        return (2.0 * p - 1.0) / sqrt(2.0 * p * (1.0 - p));
    /* 1 − p is exact for p >= 1/2 */
    return p < 0.5 ? -t_upper_quantile(p, df) : t_upper_quantile(1.0 - p, df);
}

// ---- intervals and tests ----

/* Mean and sd (n − 1; NaN for n = 1) of a − b (b may be NULL: of a), two
 * passes. LSC_ENAN names the first non-finite value. */
static int diff_stats(const double *a, const double *b, int n, double *mean, double *sd,
                      const char *fn, lsc_error *err)
{
    double s = 0.0;
    for (int i = 0; i < n; i++) {
        double v = b ? a[i] - b[i] : a[i];
        if (!isfinite(v))
            LSC_FAIL(err, LSC_ENAN, "%s: value %d is not finite", fn, i);
        s += v;
    }
    double m = s / n, ss = 0.0;
    for (int i = 0; i < n; i++) {
        double v = (b ? a[i] - b[i] : a[i]) - m;
        ss += v * v;
    }
    *mean = m;
    *sd = n > 1 ? sqrt(ss / (n - 1)) : NAN;
    return LSC_OK;
}

int lsc_mean_ci(const double *x, int n, double level, lsc_ci *out, lsc_error *err)
{
    if (!x || !out || n < 1)
        LSC_FAIL(err, LSC_EARG, "lsc_mean_ci: need n >= 1 values (n = %d)", n);
    if (!(level > 0.0 && level < 1.0))
        LSC_FAIL(err, LSC_EARG, "lsc_mean_ci: level %g is not in (0, 1)", level);
    lsc_ci c = {.n = n, .level = level};
    int rc = diff_stats(x, NULL, n, &c.mean, &c.sd, "lsc_mean_ci", err);
    if (rc != LSC_OK)
        return rc;
    if (n == 1) {
        c.no_interval = 1;
        c.se = c.tcrit = c.lo = c.hi = NAN;
    } else {
        c.se = c.sd / sqrt((double)n);
        c.tcrit = lsc_t_quantile(0.5 + 0.5 * level, n - 1);
        c.lo = c.mean - c.tcrit * c.se;
        c.hi = c.mean + c.tcrit * c.se;
    }
    *out = c;
    return LSC_OK;
}

int lsc_paired_t(const double *a, const double *b, int n, double level,
                 lsc_paired_t_result *out, lsc_error *err)
{
    if (!a || !b || !out || n < 1)
        LSC_FAIL(err, LSC_EARG, "lsc_paired_t: need n >= 1 pairs (n = %d)", n);
    if (!(level > 0.0 && level < 1.0))
        LSC_FAIL(err, LSC_EARG, "lsc_paired_t: level %g is not in (0, 1)", level);
    lsc_paired_t_result r = {.n = n, .level = level};
    int rc = diff_stats(a, b, n, &r.mean, &r.sd, "lsc_paired_t", err);
    if (rc != LSC_OK)
        return rc;
    if (n < 2) {
        r.no_test = 1;
        r.se = r.t = r.df = r.p = r.lo = r.hi = NAN;
        *out = r;
        return LSC_OK;
    }
    r.df = n - 1;
    r.se = r.sd / sqrt((double)n);
    if (r.se > 0.0) {
        r.t = r.mean / r.se;
        r.p = 2.0 * lsc_t_sf(fabs(r.t), r.df);
    } else {
        r.degenerate = 1;
        r.t = r.mean == 0.0 ? 0.0 : copysign(INFINITY, r.mean);
        r.p = r.mean == 0.0 ? 1.0 : fmin(1.0, 2.0 * pow(0.5, n));
    }
    double tc = lsc_t_quantile(0.5 + 0.5 * level, r.df);
    r.lo = r.mean - tc * r.se;
    r.hi = r.mean + tc * r.se;
    *out = r;
    return LSC_OK;
}

int lsc_tost_paired(const double *a, const double *b, int n, double margin, double alpha,
                    lsc_tost_result *out, lsc_error *err)
{
    if (!a || !b || !out || n < 1)
        LSC_FAIL(err, LSC_EARG, "lsc_tost_paired: need n >= 1 pairs (n = %d)", n);
    if (!(margin > 0.0) || isinf(margin))
        LSC_FAIL(err, LSC_EARG, "lsc_tost_paired: margin %g is not > 0", margin);
    if (!(alpha > 0.0 && alpha < 0.5))
        LSC_FAIL(err, LSC_EARG, "lsc_tost_paired: alpha %g is not in (0, 0.5)", alpha);
    lsc_tost_result r = {.n = n, .margin = margin, .alpha = alpha};
    int rc = diff_stats(a, b, n, &r.mean, &r.sd, "lsc_tost_paired", err);
    if (rc != LSC_OK)
        return rc;
    if (n < 2) {
        r.no_test = 1;
        r.se = r.df = r.t_lower = r.t_upper = r.lo = r.hi = NAN;
        r.p_lower = r.p_upper = r.p = 1.0;
        *out = r;
        return LSC_OK;
    }
    r.df = n - 1;
    r.se = r.sd / sqrt((double)n);
    if (r.se > 0.0) {
        r.t_lower = (r.mean + margin) / r.se;
        r.t_upper = (r.mean - margin) / r.se;
        r.p_lower = lsc_t_sf(r.t_lower, r.df);
        r.p_upper = lsc_t_cdf(r.t_upper, r.df);
    } else {   /* every difference equal: the mean is exact */
        r.t_lower = r.mean + margin > 0.0 ? INFINITY : -INFINITY;
        r.t_upper = r.mean - margin < 0.0 ? -INFINITY : INFINITY;
        r.p_lower = r.mean + margin > 0.0 ? 0.0 : 1.0;
        r.p_upper = r.mean - margin < 0.0 ? 0.0 : 1.0;
    }
    r.p = r.p_lower > r.p_upper ? r.p_lower : r.p_upper;
    r.equivalent = r.p < alpha;
    double tc = lsc_t_quantile(1.0 - alpha, r.df);
    r.lo = r.mean - tc * r.se;
    r.hi = r.mean + tc * r.se;
    *out = r;
    return LSC_OK;
}

// ---- Monte-Carlo ----

double lsc_mc_pvalue(double observed, const double *draws, int n)
{
    if (isnan(observed) || n < 0 || (n > 0 && !draws))
        return NAN;
    long ge = 0;
    for (int i = 0; i < n; i++)
        ge += !(draws[i] < observed);   /* NaN counts as >= */
    return (1.0 + (double)ge) / (1.0 + (double)n);
}

double lsc_quantile_sorted(const double *sorted, int n, double q)
{
    if (!sorted || n < 1 || !(q >= 0.0 && q <= 1.0))
        return NAN;
    double h = (n - 1) * q;
    int i = (int)floor(h);
    if (i >= n - 1)
        return sorted[n - 1];
    return sorted[i] + (h - i) * (sorted[i + 1] - sorted[i]);
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* The resampling behind both public entries: value i of each mean is drawn
 * from rows[i] (row_n[i] draws), or from pool (pool_n draws) when rows is
 * NULL. Fills work with the sorted means and *out. */
static int null_mean_core(double observed, int m, const double *pool, int pool_n,
                          const double *const *rows, const int *row_n, int n_out,
                          uint64_t seed, double *work, lsc_null_mean *out)
{
    uint64_t rng;
    lsc_rng_seed(&rng, seed);
    for (int k = 0; k < n_out; k++) {
        double s = 0.0;
        for (int i = 0; i < m; i++) {
            const double *d = rows ? rows[i] : pool;
            int nd = rows ? row_n[i] : pool_n;
            size_t j = (size_t)(lsc_rng_uniform_d(&rng) * nd);
            s += d[j < (size_t)nd ? j : (size_t)nd - 1];
        }
        work[k] = s / m;
    }
    lsc_null_mean r = {.m = m, .n_out = n_out, .observed = observed};
    r.p = lsc_mc_pvalue(observed, work, n_out);
    double s = 0.0, ss = 0.0;
    for (int k = 0; k < n_out; k++)
        s += work[k];
    r.mean = s / n_out;
    for (int k = 0; k < n_out; k++)
        ss += (work[k] - r.mean) * (work[k] - r.mean);
    r.sd = n_out > 1 ? sqrt(ss / (n_out - 1)) : NAN;
    qsort(work, (size_t)n_out, sizeof *work, cmp_double);
    r.q05 = lsc_quantile_sorted(work, n_out, 0.05);
    r.q50 = lsc_quantile_sorted(work, n_out, 0.50);
    r.q95 = lsc_quantile_sorted(work, n_out, 0.95);
    *out = r;
    return LSC_OK;
}

static int check_finite(const double *x, int n, const char *fn, const char *what,
                        lsc_error *err)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(x[i]))
            LSC_FAIL(err, LSC_ENAN, "%s: %s %d is not finite", fn, what, i);
    return LSC_OK;
}

int lsc_null_mean_test(double observed, const double *draws, int n, int m, int n_out,
                       uint64_t seed, double *work, lsc_null_mean *out, lsc_error *err)
{
    if (!draws || !work || !out || n < 1 || m < 1 || n_out < 1)
        LSC_FAIL(err, LSC_EARG, "lsc_null_mean_test: need draws (n = %d), m = %d and "
                 "n_out = %d all >= 1", n, m, n_out);
    if (isnan(observed))
        LSC_FAIL(err, LSC_ENAN, "lsc_null_mean_test: the observed mean is NaN");
    int rc = check_finite(draws, n, "lsc_null_mean_test", "null draw", err);
    if (rc != LSC_OK)
        return rc;
    return null_mean_core(observed, m, draws, n, NULL, NULL, n_out, seed, work, out);
}

int lsc_null_mean_test_rows(double observed, int m, const double *const *rows,
                            const int *row_n, int n_out, uint64_t seed, double *work,
                            lsc_null_mean *out, lsc_error *err)
{
    if (!rows || !row_n || !work || !out || m < 1 || n_out < 1)
        LSC_FAIL(err, LSC_EARG, "lsc_null_mean_test_rows: need m = %d and n_out = %d >= 1",
                 m, n_out);
    if (isnan(observed))
        LSC_FAIL(err, LSC_ENAN, "lsc_null_mean_test_rows: the observed mean is NaN");
    for (int i = 0; i < m; i++) {
        if (!rows[i] || row_n[i] < 1)
            LSC_FAIL(err, LSC_EARG, "lsc_null_mean_test_rows: row %d has no draws", i);
        int rc = check_finite(rows[i], row_n[i], "lsc_null_mean_test_rows", "null draw", err);
        if (rc != LSC_OK)
            return rc;
    }
    return null_mean_core(observed, m, NULL, 0, rows, row_n, n_out, seed, work, out);
}
