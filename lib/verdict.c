/*
 * verdict.c — the verdict rules (lsc_verdict.h): subspace overlap beyond
 * Haar chance (φ), alignment of ΔW with W beyond random ΔW, amplification
 * low rank vs high rank beyond random ΔW, saturation by TOST, "a better
 * than b" by paired t-test, and the one-line rendering of a verdict.
 *
 * Not here: the statistics themselves (stats.c) and any reading of
 * results: numbers in, verdict out. Allocation: the Monte-Carlo rules
 * allocate their resampling buffers (LSC_MALLOC) and free them before
 * returning.
 */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "lsc_internal.h"

#define VERDICT_ALPHA      0.05
#define VERDICT_RESAMPLE   10000
#define VERDICT_AMP_MIN    2000

// ---- common ----

static void verdict_start(lsc_verdict *v, double alpha, int n)
{
    memset(v, 0, sizeof *v);
    v->state = LSC_NOT_MEASURED;
    v->effect = v->lo = v->hi = v->p = v->null_value = NAN;
    v->alpha = alpha;
    v->n = n;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void put(char *dst, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, n, fmt, ap);
    va_end(ap);
}

/* The verdict after an error: not measured, the error's message as the
 * reason; returns code. */
static int verdict_error(lsc_verdict *v, int code, const lsc_error *err)
{
    v->state = LSC_NOT_MEASURED;
    put(v->evidence, sizeof v->evidence, "not measured: %s",
        err && err->code == code ? err->msg : lsc_strerror(code));
    return code;
}

/* Defaults for a zeroed (or NULL) options struct; LSC_EARG for bad ones. */
static int opts_resolve(const lsc_verdict_opts *o, int min_resample, lsc_verdict_opts *out,
                        lsc_error *err)
{
    lsc_verdict_opts r = {0};
    if (o)
        r = *o;
    if (r.alpha == 0.0)
        r.alpha = VERDICT_ALPHA;
    if (r.n_resample == 0)
        r.n_resample = VERDICT_RESAMPLE;
    if (!(r.alpha > 0.0 && r.alpha < 0.5))
        LSC_FAIL(err, LSC_EARG, "verdict: alpha %g is not in (0, 0.5)", r.alpha);
    if (r.n_resample < 1)
        LSC_FAIL(err, LSC_EARG, "verdict: n_resample %d is not >= 1", r.n_resample);
    if (r.n_resample < min_resample)
        r.n_resample = min_resample;
    *out = r;
    return LSC_OK;
}

static double alpha_or_default(double alpha)
{
    return alpha == 0.0 ? VERDICT_ALPHA : alpha;
}

/* LSC_ENAN unless every x[i] is finite; with positive, also LSC_EARG
 * unless every x[i] > 0. */
static int check_values(const double *x, size_t n, int positive, const char *fn,
                        const char *what, lsc_error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            LSC_FAIL(err, LSC_ENAN, "%s: %s %zu is not finite", fn, what, i);
        if (positive && !(x[i] > 0.0))
            LSC_FAIL(err, LSC_EARG, "%s: %s %zu is %g, not > 0", fn, what, i, x[i]);
    }
    return LSC_OK;
}

static double mean_of(const double *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    return s / (double)n;
}

/* A Monte-Carlo null with N draws can only reject at alpha when
 * 1/(N + 1) < alpha: fewer draws is not measured. Returns 1 when so. */
static int too_few_draws(lsc_verdict *v, int N, double alpha)
{
    if ((double)(N + 1) * alpha > 1.0)
        return 0;
    put(v->evidence, sizeof v->evidence,
        "not measured: %d null draws cannot reach p < %g (needs more than %d)", N, alpha,
        (int)ceil(1.0 / alpha) - 1);
    return 1;
}

/* "p = 0.0123", or "p = 0.0001 (no resampled null value reached it)" */
static void format_p(char *dst, size_t n, double p, int n_out)
{
    if (p <= 1.0 / (1.0 + n_out) * (1.0 + 1e-9))
        put(dst, n, "p = %.2g (none of the %d resampled null values reached it)", p, n_out);
    else
        put(dst, n, "p = %.2g", p);
}

/* the (1 − alpha) t-interval of x[n] shifted by −shift into lo, hi (NaN
 * for n = 1) */
static int t_interval(const double *x, int n, double alpha, double shift, double *lo,
                      double *hi, lsc_error *err)
{
    lsc_ci ci;
    int rc = lsc_mean_ci(x, n, 1.0 - alpha, &ci, err);
    if (rc != LSC_OK)
        return rc;
    *lo = ci.lo - shift;
    *hi = ci.hi - shift;
    return LSC_OK;
}

/* "95% interval [lo, hi]", or "one value, no interval" when lo is NaN */
static void format_interval(char *dst, size_t n, double level, double lo, double hi)
{
    if (isnan(lo))
        put(dst, n, "one value, no interval");
    else
        put(dst, n, "%g%% interval [%.3g, %.3g]", 100.0 * level, lo, hi);
}

// ---- a) φ(1,1) beyond Haar chance ----

static int phi_check(const double *trained, const double *init, int n,
                     const double *null_draws, int N, lsc_error *err)
{
    if (!trained || n < 1)
        LSC_FAIL(err, LSC_EARG, "lsc_verdict_phi: need n >= 1 trained values (n = %d)", n);
    if (!null_draws || N < 1)
        LSC_FAIL(err, LSC_EARG, "lsc_verdict_phi: need null draws (N = %d)", N);
    int rc = check_values(trained, (size_t)n, 0, "lsc_verdict_phi", "trained value", err);
    if (rc == LSC_OK && init)
        rc = check_values(init, (size_t)n, 0, "lsc_verdict_phi", "step-0 value", err);
    if (rc == LSC_OK)
        rc = check_values(null_draws, (size_t)N, 0, "lsc_verdict_phi", "null draw", err);
    return rc;
}

/* the step-0 clause of the evidence sentence */
/* Whether the trained overlap counts beyond the step-0 one (init[n] or NULL; p_init: the step-0
 * mean's own p against the Haar null). A step-0 overlap at the null's level (p_init >= alpha:
 * independent A0, as lorascope draws them) leaves the Haar test alone in charge. A step-0 overlap
 * that itself beats the null was there before training: then the trained values must exceed
 * the step-0 ones pair by pair (paired t, the (1 − alpha) interval above 0, n >= 2) and by more
 * than the null's spread of a mean (q95 − mean). The clause that says which into dst. */
static int phi_beyond_init(const double *trained, const double *init, int n, double p_init, double alpha,
                           double spread, char *dst, size_t dn, lsc_error *err)
{
    if (!init) {
        dst[0] = '\0';
        return 1;
    }
    double mean_init = mean_of(init, (size_t)n), mean_tr = mean_of(trained, (size_t)n);
    if (!(p_init < alpha)) {
        put(dst, dn, "; step-0 mean %.3g is at the null's level (p %.3g), so training added %.3g", mean_init,
            p_init, mean_tr - mean_init);
        return 1;
    }
    lsc_paired_t_result pt;
    if (n < 2 || lsc_paired_t(trained, init, n, 1.0 - alpha, &pt, err) != LSC_OK || pt.no_test) {
        put(dst, dn, "; but the step-0 mean %.3g already beats the null (p %.3g) and %d pair%s cannot show that "
            "training added to it", mean_init, p_init, n, n == 1 ? "" : "s");
        return 0;
    }
    int up = pt.mean > spread && pt.lo > 0 && (!pt.degenerate || pt.p < alpha);
    put(dst, dn, "; the step-0 mean %.3g already beats the null (p %.3g): trained − step 0 = %.3g, %.0f%% "
        "interval [%.3g, %.3g], %s 0 and the null's spread %.3g", mean_init, p_init, pt.mean,
        100 * (1 - alpha), pt.lo, pt.hi, up ? "above" : "not above", spread);
    return up;
}

int lsc_verdict_phi(const double *trained, const double *init, int n,
                    const double *null_draws, int N, const lsc_verdict_opts *opt,
                    lsc_verdict *v, lsc_error *err)
{
    lsc_error local = {0};
    lsc_verdict_opts o;
    if (!err)
        err = &local;
    verdict_start(v, VERDICT_ALPHA, n);
    int rc = opts_resolve(opt, 1, &o, err);
    if (rc == LSC_OK)
        rc = phi_check(trained, init, n, null_draws, N, err);
    if (rc != LSC_OK)
        return verdict_error(v, rc, err);
    v->alpha = o.alpha;
    put(v->test, sizeof v->test,
        "one-sided Monte-Carlo test, %d Haar-random draws, mean of %d pair%s (%d resamples)",
        N, n, n == 1 ? "" : "s", o.n_resample);
    double null_mean = mean_of(null_draws, (size_t)N);
    v->null_value = null_mean;
    put(v->null_desc, sizeof v->null_desc, "mean φ(1,1) of %d pair%s of %s (mean %.3g)", n,
        n == 1 ? "" : "s", o.null_desc ? o.null_desc : "Haar-random subspaces of the same dimensions",
        null_mean);
    if (too_few_draws(v, N, o.alpha))
        return LSC_OK;
    double *work = LSC_MALLOC((size_t)o.n_resample * sizeof *work);
    if (!work) {
        lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "lsc_verdict_phi: out of memory");
        return verdict_error(v, LSC_ENOMEM, err);
    }
    double mean_tr = mean_of(trained, (size_t)n);
    lsc_null_mean nm;
    rc = lsc_null_mean_test(mean_tr, null_draws, N, n, o.n_resample, o.seed, work, &nm, err);
    LSC_FREE(work);
    if (rc == LSC_OK && n >= 2)
        rc = t_interval(trained, n, o.alpha, null_mean, &v->lo, &v->hi, err);
    if (rc != LSC_OK)
        return verdict_error(v, rc, err);
    v->p = nm.p;
    v->effect = mean_tr - null_mean;
    double p_init = NAN;
    if (rc == LSC_OK && init) {
        work = LSC_MALLOC((size_t)o.n_resample * sizeof *work);
        lsc_null_mean ni;
        rc = work ? lsc_null_mean_test(mean_of(init, (size_t)n), null_draws, N, n, o.n_resample, o.seed, work,
                                       &ni, err)
                  : lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "lsc_verdict_phi: out of memory");
        LSC_FREE(work);
        p_init = ni.p;
        if (rc != LSC_OK)
            return verdict_error(v, rc, err);
    }
    char ptxt[100], itxt[300], ctxt[80];
    int beyond_init = phi_beyond_init(trained, init, n, p_init, o.alpha, nm.q95 - null_mean, itxt, sizeof itxt,
                                      err);
    v->state = v->p < o.alpha && beyond_init ? LSC_SHOWN : LSC_NOT_SHOWN;
    format_p(ptxt, sizeof ptxt, v->p, o.n_resample);
    format_interval(ctxt, sizeof ctxt, 1.0 - o.alpha, v->lo, v->hi);
    put(v->evidence, sizeof v->evidence,
        "mean trained φ(1,1) %.3g over %d pair%s, %.3g above the null mean %.3g (%s), %s%s",
        mean_tr, n, n == 1 ? "" : "s", v->effect, null_mean, ctxt, ptxt, itxt);
    return LSC_OK;
}

// ---- b) ΔW aligned with W beyond random ΔW ----

static int alignment_check(const double *proj_delta, int n, const double *proj_null, int N,
                           lsc_error *err)
{
    if (!proj_delta || n < 1)
        LSC_FAIL(err, LSC_EARG, "lsc_verdict_alignment: need n >= 1 runs (n = %d)", n);
    if (!proj_null || N < 1)
        LSC_FAIL(err, LSC_EARG, "lsc_verdict_alignment: need null draws (N = %d)", N);
    int rc = check_values(proj_delta, (size_t)n, 0, "lsc_verdict_alignment", "proj_delta", err);
    if (rc == LSC_OK)
        rc = check_values(proj_null, (size_t)n * (size_t)N, 1, "lsc_verdict_alignment",
                          "null draw", err);
    return rc;
}

/* The resampled test of the mean ratio: ratio[i] = proj_delta[i]/E_i,
 * null rows scaled by 1/E_i; *nm and the rows' spread. */
static int alignment_test(const double *proj_delta, int n, const double *proj_null, int N,
                          const lsc_verdict_opts *o, double *ratio, lsc_null_mean *nm,
                          lsc_error *err)
{
    size_t nN = (size_t)n * (size_t)N;
    double *buf = LSC_MALLOC((nN + (size_t)o->n_resample) * sizeof *buf);
    const double **rows = LSC_MALLOC((size_t)n * sizeof *rows);
    int *row_n = LSC_MALLOC((size_t)n * sizeof *row_n);
    int rc = LSC_OK;
    if (!buf || !rows || !row_n) {
        lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "lsc_verdict_alignment: out of memory");
        rc = LSC_ENOMEM;
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const double *row = proj_null + (size_t)i * N;
        double e = mean_of(row, (size_t)N);
        for (int j = 0; j < N; j++)
            buf[(size_t)i * N + j] = row[j] / e;
        ratio[i] = proj_delta[i] / e;
        rows[i] = buf + (size_t)i * N;
        row_n[i] = N;
    }
    rc = lsc_null_mean_test_rows(mean_of(ratio, (size_t)n), n, rows, row_n, o->n_resample,
                                 o->seed, buf + nN, nm, err);
done:
    LSC_FREE(buf);
    LSC_FREE(rows);
    LSC_FREE(row_n);
    return rc;
}

int lsc_verdict_alignment(const double *proj_delta, int n, const double *proj_null, int N,
                          const lsc_verdict_opts *opt, lsc_verdict *v, lsc_error *err)
{
    lsc_error local = {0};
    lsc_verdict_opts o;
    if (!err)
        err = &local;
    verdict_start(v, VERDICT_ALPHA, n);
    int rc = opts_resolve(opt, 1, &o, err);
    if (rc == LSC_OK)
        rc = alignment_check(proj_delta, n, proj_null, N, err);
    if (rc != LSC_OK)
        return verdict_error(v, rc, err);
    v->alpha = o.alpha;
    v->null_value = 1.0;
    put(v->test, sizeof v->test,
        "one-sided Monte-Carlo test, %d random ΔW per run, mean ratio over %d run%s "
        "(%d resamples)", N, n, n == 1 ? "" : "s", o.n_resample);
    put(v->null_desc, sizeof v->null_desc, "%s (ratio 1)",
        o.null_desc ? o.null_desc : "‖UᵀWV‖_F of a random ΔW of the run's rank and norm");
    if (too_few_draws(v, N, o.alpha))
        return LSC_OK;
    double *ratio = LSC_MALLOC((size_t)n * sizeof *ratio);
    lsc_null_mean nm;
    if (!ratio) {
        lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "lsc_verdict_alignment: out of memory");
        return verdict_error(v, LSC_ENOMEM, err);
    }
    rc = alignment_test(proj_delta, n, proj_null, N, &o, ratio, &nm, err);
    if (rc == LSC_OK && n >= 2)
        rc = t_interval(ratio, n, o.alpha, 0.0, &v->lo, &v->hi, err);
    v->effect = mean_of(ratio, (size_t)n);
    LSC_FREE(ratio);
    if (rc != LSC_OK)
        return verdict_error(v, rc, err);
    v->p = nm.p;
    v->state = v->p < o.alpha ? LSC_SHOWN : LSC_NOT_SHOWN;
    char ptxt[100], ctxt[80];
    format_p(ptxt, sizeof ptxt, v->p, o.n_resample);
    format_interval(ctxt, sizeof ctxt, 1.0 - o.alpha, v->lo, v->hi);
    put(v->evidence, sizeof v->evidence,
        "‖UᵀWV‖_F of ΔW is %.3gx that of a random ΔW (mean over %d run%s, %s; the null's "
        "q95 of that mean is %.3gx), %s", v->effect, n, n == 1 ? "" : "s", ctxt, nm.q95, ptxt);
    return LSC_OK;
}

// ---- c) amplification, low rank vs high rank ----

static int amp_check_arm(const lsc_amp_runs *a, const char *which, lsc_error *err)
{
    if (!a || a->n < 1 || !a->delta_fro || !a->proj_delta || !a->proj_null || a->N < 1)
        LSC_FAIL(err, LSC_EARG, "lsc_verdict_amp_ranks: the %s-rank arm needs n >= 1 runs "
                 "with delta_fro, proj_delta and N >= 1 null draws", which);
    int rc = check_values(a->delta_fro, (size_t)a->n, 1, "lsc_verdict_amp_ranks", "delta_fro",
                          err);
    if (rc == LSC_OK)
        rc = check_values(a->proj_delta, (size_t)a->n, 1, "lsc_verdict_amp_ranks",
                          "proj_delta", err);
    if (rc == LSC_OK)
        rc = check_values(a->proj_null, (size_t)a->n * (size_t)a->N, 1,
                          "lsc_verdict_amp_ranks", "null draw", err);
    return rc;
}

/* One arm's rows: row i = sign·(m/n)·log(delta_fro_i / null_ij), so the
 * mean over all m rows of one draw per row is the arm's share of S; adds
 * sign·mean log amp to *S. */
static void amp_fill_arm(const lsc_amp_runs *a, double sign, int m, double *buf,
                         const double **rows, int *row_n, double *S)
{
    double w = sign * (double)m / a->n, s = 0.0;
    for (int i = 0; i < a->n; i++) {
        double *row = buf + (size_t)i * a->N;
        for (int j = 0; j < a->N; j++)
            row[j] = w * log(a->delta_fro[i] / a->proj_null[(size_t)i * a->N + j]);
        rows[i] = row;
        row_n[i] = a->N;
        s += log(a->delta_fro[i] / a->proj_delta[i]);
    }
    *S += sign * s / a->n;
}

/* S, and the resampled null of S: its p, median, q2.5 and q97.5 */
static int amp_test(const lsc_amp_runs *lo, const lsc_amp_runs *hi, const lsc_verdict_opts *o,
                    double *S, double *p, double q[3], lsc_error *err)
{
    int m = lo->n + hi->n;
    size_t nl = (size_t)lo->n * lo->N, nh = (size_t)hi->n * hi->N;
    double *buf = LSC_MALLOC((nl + nh + (size_t)o->n_resample) * sizeof *buf);
    const double **rows = LSC_MALLOC((size_t)m * sizeof *rows);
    int *row_n = LSC_MALLOC((size_t)m * sizeof *row_n);
    int rc = LSC_OK;
    if (!buf || !rows || !row_n) {
        lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "lsc_verdict_amp_ranks: out of memory");
        rc = LSC_ENOMEM;
        goto done;
    }
    *S = 0.0;
    amp_fill_arm(lo, 1.0, m, buf, rows, row_n, S);
    amp_fill_arm(hi, -1.0, m, buf + nl, rows + lo->n, row_n + lo->n, S);
    lsc_null_mean nm;
    double *work = buf + nl + nh;
    rc = lsc_null_mean_test_rows(*S, m, rows, row_n, o->n_resample, o->seed, work, &nm, err);
    if (rc == LSC_OK) {
        *p = nm.p;
        q[0] = lsc_quantile_sorted(work, o->n_resample, 0.5);
        q[1] = lsc_quantile_sorted(work, o->n_resample, 0.025);
        q[2] = lsc_quantile_sorted(work, o->n_resample, 0.975);
    }
done:
    LSC_FREE(buf);
    LSC_FREE(rows);
    LSC_FREE(row_n);
    return rc;
}

int lsc_verdict_amp_ranks(const lsc_amp_runs *low, const lsc_amp_runs *high, int K,
                          const lsc_verdict_opts *opt, lsc_verdict *v, lsc_error *err)
{
    lsc_error local = {0};
    lsc_verdict_opts o;
    if (!err)
        err = &local;
    verdict_start(v, VERDICT_ALPHA, (low ? low->n : 0) + (high ? high->n : 0));
    int rc = opts_resolve(opt, VERDICT_AMP_MIN, &o, err);
    if (rc == LSC_OK)
        rc = amp_check_arm(low, "low", err);
    if (rc == LSC_OK)
        rc = amp_check_arm(high, "high", err);
    if (rc == LSC_OK && K < 1)
        rc = lsc_error_set(err, LSC_EARG, __FILE__, __LINE__,
                           "lsc_verdict_amp_ranks: K = %d is not >= 1", K);
    if (rc != LSC_OK)
        return verdict_error(v, rc, err);
    v->alpha = o.alpha;
    v->null_value = 1.0;
    put(v->test, sizeof v->test,
        "one-sided Monte-Carlo test of S = mean log amp(rank %d) - mean log amp(rank %d), "
        "top-%d, %d resampled null S", low->rank, high->rank, K, o.n_resample);
    put(v->null_desc, sizeof v->null_desc, "%s",
        o.null_desc ? o.null_desc : "random ΔW of the same ranks and norms (each run's "
                                    "‖UᵀWV‖_F drawn from its own random-ΔW null)");
    if (too_few_draws(v, low->N < high->N ? low->N : high->N, o.alpha))
        return LSC_OK;
    double S = 0.0, q[3];
    rc = amp_test(low, high, &o, &S, &v->p, q, err);
    if (rc != LSC_OK)
        return verdict_error(v, rc, err);
    v->effect = exp(S - q[0]);
    v->lo = exp(S - q[2]);
    v->hi = exp(S - q[1]);
    v->state = v->p < o.alpha ? LSC_SHOWN : LSC_NOT_SHOWN;
    char ptxt[100];
    format_p(ptxt, sizeof ptxt, v->p, o.n_resample);
    put(v->evidence, sizeof v->evidence,
        "amplification at rank %d is %.3gx that at rank %d (%d and %d runs), random ΔW of "
        "the same norms give %.3gx, so the excess factor is %.3g (95%% interval [%.3g, %.3g]), %s",
        low->rank, exp(S), high->rank, low->n, high->n, exp(q[0]), v->effect, v->lo, v->hi,
        ptxt);
    return LSC_OK;
}

// ---- d) saturation (TOST) ----

/* The numbers of a by-seed verdict; 0 (and not measured, "needs >= 2
 * seeds") when the test could not run. */
static int seed_verdict(lsc_verdict *v, int no_test, int n, double effect, double lo, double hi,
                        double p, int shown)
{
    if (no_test) {
        put(v->evidence, sizeof v->evidence, "not measured: needs >= 2 seeds (has %d)", n);
        return 0;
    }
    v->effect = effect;
    v->lo = lo;
    v->hi = hi;
    v->p = p;
    v->state = shown ? LSC_SHOWN : LSC_NOT_SHOWN;
    return 1;
}

int lsc_verdict_saturation(const double *acc_small, const double *acc_large, int n,
                           double margin, double alpha, lsc_verdict *v, lsc_error *err)
{
    lsc_error local = {0};
    if (!err)
        err = &local;
    alpha = alpha_or_default(alpha);
    verdict_start(v, alpha, n);
    put(v->test, sizeof v->test, "TOST, margin %g points, alpha %g, paired over %d seed%s",
        margin, alpha, n, n == 1 ? "" : "s");
    put(v->null_desc, sizeof v->null_desc,
        "|mean accuracy difference small - large| >= %g points (not equivalent)", margin);
    v->null_value = margin;
    lsc_tost_result r;
    int rc = lsc_tost_paired(acc_small, acc_large, n, margin, alpha, &r, err);
    if (rc != LSC_OK)
        return verdict_error(v, rc, err);
    if (!seed_verdict(v, r.no_test, n, r.mean, r.lo, r.hi, r.p, r.equivalent))
        return LSC_OK;
    put(v->evidence, sizeof v->evidence,
        "mean difference small - large %+.3g points, %g%% interval [%.3g, %.3g] %s "
        "(-%g, %g), p = %.2g", r.mean, 100.0 * (1.0 - 2.0 * alpha), r.lo, r.hi,
        r.equivalent ? "inside" : "not inside", margin, margin, r.p);
    return LSC_OK;
}

// ---- e) a better than b (paired t-test) ----

int lsc_verdict_better(const double *acc_a, const double *acc_b, int n, double alpha,
                       lsc_verdict *v, lsc_error *err)
{
    lsc_error local = {0};
    if (!err)
        err = &local;
    alpha = alpha_or_default(alpha);
    verdict_start(v, alpha, n);
    put(v->test, sizeof v->test, "paired t-test over %d seed%s", n, n == 1 ? "" : "s");
    put(v->null_desc, sizeof v->null_desc, "no difference between a and b (mean difference 0)");
    v->null_value = 0.0;
    if (!(alpha > 0.0 && alpha < 1.0)) {
        lsc_error_set(err, LSC_EARG, __FILE__, __LINE__,
                      "lsc_verdict_better: alpha %g is not in (0, 1)", alpha);
        return verdict_error(v, LSC_EARG, err);
    }
    lsc_paired_t_result r;
    int rc = lsc_paired_t(acc_a, acc_b, n, 1.0 - alpha, &r, err);
    if (rc != LSC_OK)
        return verdict_error(v, rc, err);
    int shown = r.mean > 0.0 && r.lo > 0.0 && (!r.degenerate || r.p < alpha);
    if (!seed_verdict(v, r.no_test, n, r.mean, r.lo, r.hi, r.p, shown))
        return LSC_OK;
    if (r.degenerate)
        put(v->evidence, sizeof v->evidence,
            "all %d differences a - b equal %+.3g points: no variance, so no t-test; exact sign test "
            "p = %.2g", n, r.mean, r.p);
    else
        put(v->evidence, sizeof v->evidence,
            "mean difference a - b %+.3g points, %g%% interval [%.3g, %.3g], t = %.3g, p = %.2g",
            r.mean, 100.0 * (1.0 - alpha), r.lo, r.hi, r.t, r.p);
    return LSC_OK;
}

// ---- g) the regime against a reference ratio ----

int lsc_verdict_regime(const double *ratio, int n, double reference, double factor, lsc_verdict *v,
                       lsc_error *err)
{
    lsc_error local = {0};
    if (!err)
        err = &local;
    verdict_start(v, VERDICT_ALPHA, n);
    if (!ratio || n < 1 || !(reference > 0) || !(factor > 1)) {
        lsc_error_set(err, LSC_EARG, __FILE__, __LINE__,
                      "lsc_verdict_regime: need n >= 1 ratios, reference > 0, factor > 1");
        return verdict_error(v, LSC_EARG, err);
    }
    int rc = check_values(ratio, (size_t)n, 0, "lsc_verdict_regime", "ratio", err);
    if (rc != LSC_OK)
        return verdict_error(v, rc, err);
    double m = mean_of(ratio, (size_t)n);
    v->null_value = 1.0;
    v->effect = m / reference;
    if (n >= 2 && (rc = t_interval(ratio, n, v->alpha, 0.0, &v->lo, &v->hi, err)) != LSC_OK)
        return verdict_error(v, rc, err);
    v->lo /= reference;
    v->hi /= reference;
    int in = v->effect >= 1.0 / factor && v->effect <= factor;
    v->state = in ? LSC_SHOWN : LSC_NOT_SHOWN;
    put(v->test, sizeof v->test, "range check: the mean ratio within ×/÷ %g of the reference (not a "
        "statistical test)", factor);
    put(v->null_desc, sizeof v->null_desc, "a ratio outside [%.3g, %.3g] (the reference %.3g ×/÷ %g)",
        reference / factor, reference * factor, reference, factor);
    put(v->evidence, sizeof v->evidence, "mean ratio %.3g over %d run%s, %.3g× the reference %.3g", m, n,
        n == 1 ? "" : "s", v->effect, reference);
    return LSC_OK;
}

// ---- f) rendering ----

const char *lsc_verdict_state_name(int state)
{
    switch (state) {
    case LSC_SHOWN:        return "shown";
    case LSC_NOT_SHOWN:    return "not shown";
    case LSC_NOT_MEASURED: return "not measured";
    default:               return "invalid";
    }
}

int lsc_verdict_format(const lsc_verdict *v, char *buf, size_t n)
{
    if (!v)
        return snprintf(buf, n, "invalid verdict");
    return snprintf(buf, n, "%s \xe2\x80\x94 %s; null: %s; %s", lsc_verdict_state_name(v->state),
                    v->test, v->null_desc, v->evidence);
}
