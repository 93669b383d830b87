/*
 * esd.c — spectral diagnostics from singular values (declared in
 * lsc_esd.h): spike share, stable rank, entropy effective rank; the
 * Clauset–Shalizi–Newman power-law fit of the tail of the eigenvalue
 * density of WᵀW with x_min chosen by the Kolmogorov–Smirnov distance;
 * Iglewicz–Hoaglin robust z-scores for flagging outlying modules.
 *
 * Not here: any SVD (linalg.c gives the singular values: the low-rank path
 * for ΔW, dense LAPACK for W), reading files, deciding what is flagged (the
 * threshold is the caller's). Pure numerics: no allocation, no global state.
 *
 * How this differs from WeightWatcher's α (Martin & Mahoney; it calls the
 * Python `powerlaw` package): the estimator is the same continuous MLE and
 * the same KS criterion for x_min, and α does not depend on the scale of the
 * eigenvalues (WeightWatcher divides WᵀW by N first; the fit is unchanged).
 * WeightWatcher, though, drops eigenvalues below a small threshold, may cap
 * x_max at the largest eigenvalue or restrict x_min to a range near the
 * density's peak ("fix_fingers"), and by default skips small layers; here
 * every positive eigenvalue is a candidate x_min whose tail holds at least
 * min_tail values, with nothing trimmed, so small matrices give α values
 * WeightWatcher would not report. Its α from a layer may differ for those
 * reasons; the definition here is the textbook one of Clauset et al. §3.
 *
 * Shapes: sv (n) singular values; x (n) eigenvalues λ = σ².
 */
#include <math.h>
#include <stdlib.h>

#include "lsc_internal.h"

// ---- spectrum measures ----

void lsc_esd_measures_compute(int n, const double *sv, lsc_esd_measures *out)
{
    double s2 = 0.0, top = 0.0;
    int finite = 1;
    for (int i = 0; i < n; i++) {
        double e = sv[i] * sv[i];
        finite &= isfinite(e) != 0;
        s2 += e;
        top = e > top ? e : top;
    }
    out->fro2 = s2;
    out->spike_share = out->stable_rank = out->effective_rank = NAN;
    if (!finite || !(s2 > 0.0))
        return;
    double h = 0.0;
    for (int i = 0; i < n; i++) {
        double p = sv[i] * sv[i] / s2;
        if (p > 0.0)
            h -= p * log(p);
    }
    out->spike_share = top / s2;
    out->stable_rank = s2 / top;
    out->effective_rank = exp(h);
}

// ---- power-law fit (Clauset, Shalizi & Newman 2009) ----

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* KS distance of the tail l[0..nt) (ascending logarithms, l[0] = ln x_min)
 * from the power law of exponent alpha. */
static double ks_tail(int nt, const double *l, double alpha)
{
    double d = 0.0, inv = 1.0 / nt;
    for (int i = 0; i < nt; i++) {
        double p = -expm1((1.0 - alpha) * (l[i] - l[0]));   /* 1 − (x/x_min)^(1−α) */
        double lo = p - i * inv, hi = (i + 1) * inv - p;
        d = lo > d ? lo : d;
        d = hi > d ? hi : d;
    }
    return d;
}

int lsc_powerlaw_fit(int n, const double *x, int min_tail, double *work, lsc_powerlaw *fit,
                     lsc_error *err)
{
    if (min_tail < 2)
        LSC_FAIL(err, LSC_EARG, "power-law fit: min_tail %d < 2", min_tail);
    if (n < 0)
        LSC_FAIL(err, LSC_EARG, "power-law fit: n %d < 0", n);
    fit->alpha = fit->se = fit->x_min = fit->ks = NAN;
    fit->n_tail = 0;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(x[i]) && x[i] > 0.0)
            work[m++] = log(x[i]);
    fit->n_pos = m;
    if (m < min_tail)
        return LSC_OK;
    qsort(work, (size_t)m, sizeof *work, cmp_double);
    double suffix = 0.0;   /* Σ_{i >= j} l_i, built from the top down */
    for (int i = m - 1; i >= m - min_tail + 1; i--)
        suffix += work[i];
    double best = INFINITY;
    for (int j = m - min_tail; j >= 0; j--) {
        suffix += work[j];
        if (j > 0 && work[j] == work[j - 1])
            continue;   /* the tail x >= x_min starts at a value's first copy */
        int nt = m - j;
        double s = suffix - nt * work[j];
        if (!(s > 0.0))
            continue;   /* every value of the tail equal: no finite MLE */
        double alpha = 1.0 + nt / s, d = ks_tail(nt, work + j, alpha);
        if (d <= best) {   /* <=: a tie goes to the smaller x_min (j counts down) */
            best = d;
            fit->alpha = alpha;
            fit->se = (alpha - 1.0) / sqrt((double)nt);
            fit->x_min = exp(work[j]);
            fit->ks = d;
            fit->n_tail = nt;
        }
    }
    return LSC_OK;
}

// ---- robust z-scores (Iglewicz & Hoaglin 1993) ----

static double median_sorted(int n, const double *s)
{
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

int lsc_robust_z(int n, const double *x, double *z, double *work)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(x[i]))
            work[m++] = x[i];
    if (m == 0) {
        for (int i = 0; i < n; i++)
            z[i] = NAN;
        return 0;
    }
    qsort(work, (size_t)m, sizeof *work, cmp_double);
    double med = median_sorted(m, work), mean_ad = 0.0;
    m = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(x[i])) {
            work[m++] = fabs(x[i] - med);
            mean_ad += fabs(x[i] - med);
        }
    mean_ad /= m;
    qsort(work, (size_t)m, sizeof *work, cmp_double);
    double mad = median_sorted(m, work);
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            z[i] = NAN;
        else if (mad > 0.0)
            z[i] = 0.6745 * (x[i] - med) / mad;
        else if (mean_ad > 0.0)
            z[i] = (x[i] - med) / (1.253314 * mean_ad);
        else
            z[i] = 0.0;
    }
    return m;
}
