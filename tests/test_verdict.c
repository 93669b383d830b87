/*
 * test_verdict.c — the verdict rules (lib/verdict.c) on synthetic inputs
 * with a known answer, generated here from lsc_rng:
 *   φ: Haar null draws in R^512 (two uniform unit vectors), random trained
 *      pairs → not shown (and the false-positive rate over 300 sets is about
 *      alpha), a planted shared direction → shown, the same planted overlap
 *      already there at step 0 → not shown; the draws follow Beta(1/2, 511/2).
 *   alignment / amplification: W (128×128, decaying spectrum), ΔW = B·A
 *      Gaussian of rank r and its top-K frames → not shown; ΔW built from W's
 *      own top (alignment) or bottom (amplification) singular vectors → shown.
 *   saturation / better: accuracies over 3 seeds with known gaps and noise.
 * plus the not-measured cases, error paths and the one-line format.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "lsc_internal.h"
#include "test.h"

#define DIM 512
#define NDRAW 1000

static double *dalloc(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof *p);
    if (!p) {
        fprintf(stderr, "test_verdict: out of memory\n");
        exit(1);
    }
    return p;
}

// ---- φ(1,1) of Haar pairs ----

static void unit_vector(double *u, int d, uint64_t *rng)
{
    double s = 0.0;
    for (int i = 0; i < d; i++) {
        u[i] = lsc_rng_normal(rng);
        s += u[i] * u[i];
    }
    for (int i = 0; i < d; i++)
        u[i] /= sqrt(s);
}

static double dot(const double *u, const double *v, int d)
{
    double s = 0.0;
    for (int i = 0; i < d; i++)
        s += u[i] * v[i];
    return s;
}

/* φ(1,1) of two Haar-random subspaces = (u·v)² for their (uniform) top vectors */
static double haar_phi(uint64_t *rng)
{
    double u[DIM], v[DIM];
    unit_vector(u, DIM, rng);
    unit_vector(v, DIM, rng);
    double c = dot(u, v, DIM);
    return c * c;
}

/* (u·v)² for u, v = cos θ·s + sin θ·(own noise), s shared, cos²θ in [0.8, 0.93] */
static double planted_phi(const double *s, uint64_t *rng)
{
    double u[DIM], v[DIM], n[DIM];
    double c = sqrt(0.8 + 0.13 * lsc_rng_uniform_d(rng));
    unit_vector(n, DIM, rng);
    for (int i = 0; i < DIM; i++)
        u[i] = c * s[i] + sqrt(1.0 - c * c) * n[i];
    unit_vector(n, DIM, rng);
    for (int i = 0; i < DIM; i++)
        v[i] = c * s[i] + sqrt(1.0 - c * c) * n[i];
    double uv = dot(u, v, DIM) / sqrt(dot(u, u, DIM) * dot(v, v, DIM));
    return uv * uv;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_phi(void)
{
    uint64_t rng;
    lsc_rng_seed(&rng, 1);
    double *null = dalloc(NDRAW), *sorted = dalloc(NDRAW), s[DIM];
    for (int i = 0; i < NDRAW; i++)
        null[i] = sorted[i] = haar_phi(&rng);
    /* the draws follow Beta(1/2, (d−1)/2): Kolmogorov-Smirnov at 1% (1.63/√N) */
    qsort(sorted, NDRAW, sizeof *sorted, cmp_d);
    double ks = 0.0;
    for (int i = 0; i < NDRAW; i++) {
        double F = lsc_beta_inc(0.5, 0.5 * (DIM - 1), sorted[i]);
        ks = fmax(ks, fmax(fabs(F - (double)i / NDRAW), fabs(F - (double)(i + 1) / NDRAW)));
    }
    CHECK(ks < 1.63 / sqrt(NDRAW), "Haar phi(1,1) draws ~ Beta(1/2, 511/2): KS %.4f < %.4f", ks,
          1.63 / sqrt(NDRAW));
    lsc_verdict_opts o = {.null_desc = "two Haar-random 8- and 64-dim subspaces of R^512"};
    lsc_verdict v;
    double tr[3], init[3];
    for (int i = 0; i < 3; i++)
        tr[i] = haar_phi(&rng);
    int rc = lsc_verdict_phi(tr, NULL, 3, null, NDRAW, &o, &v, NULL);
    CHECK(rc == LSC_OK && v.state == LSC_NOT_SHOWN && v.p >= 0.05,
          "phi: random trained pairs -> not shown (p %.3f)", v.p);
    unit_vector(s, DIM, &rng);
    for (int i = 0; i < 3; i++)
        tr[i] = planted_phi(s, &rng);
    rc = lsc_verdict_phi(tr, NULL, 3, null, NDRAW, &o, &v, NULL);
    double m = (tr[0] + tr[1] + tr[2]) / 3.0;
    CHECK(rc == LSC_OK && v.state == LSC_SHOWN && v.p < 0.001 && m > 0.6 && m < 0.9 &&
          v.lo < v.effect && v.effect < v.hi && fabs(v.effect - (m - v.null_value)) < 1e-15 &&
          fabs(v.null_value - 1.0 / DIM) < 0.0006,
          "phi: planted shared direction (mean %.3f) -> shown, p %.2g, effect %.3f [%.3f, %.3f], "
          "null mean %.5f (1/512)", m, v.p, v.effect, v.lo, v.hi, v.null_value);
    CHECK(strstr(v.test, "1000 Haar-random draws") && strstr(v.null_desc, "R^512") &&
          strstr(v.evidence, "p = ") && strstr(v.evidence, "interval"),
          "phi: test, null and evidence name the draws, the null and p (%s | %s | %s)", v.test,
          v.null_desc, v.evidence);
    for (int i = 0; i < 3; i++)
        init[i] = tr[i];   /* the same overlap at step 0 */
    rc = lsc_verdict_phi(tr, init, 3, null, NDRAW, &o, &v, NULL);
    CHECK(rc == LSC_OK && v.state == LSC_NOT_SHOWN && v.p < 0.001 && strstr(v.evidence, "step-0"),
          "phi: planted overlap already there at step 0 -> not shown (%s)", v.evidence);
    for (int i = 0; i < 3; i++)
        init[i] = tr[i] - 0.002;   /* training added less than the null's q95 − mean (~0.003) */
    rc = lsc_verdict_phi(tr, init, 3, null, NDRAW, &o, &v, NULL);
    CHECK(rc == LSC_OK && v.state == LSC_NOT_SHOWN && strstr(v.evidence, "not above"),
          "phi: trained 0.002 above step 0, inside the null's spread -> not shown");
    for (int i = 0; i < 3; i++)
        init[i] = haar_phi(&rng);
    rc = lsc_verdict_phi(tr, init, 3, null, NDRAW, &o, &v, NULL);
    CHECK(rc == LSC_OK && v.state == LSC_SHOWN, "phi: planted overlap, random at step 0 -> shown");
    {
        double tr2[3], in2[3];
        for (int i = 0; i < 3; i++) {
            in2[i] = 0.3 + 0.01 * i;          /* an overlap already there at step 0 */
            tr2[i] = in2[i] + 0.2 + 0.01 * (i % 2);   /* and training adds 0.2 in every pair */
        }
        rc = lsc_verdict_phi(tr2, in2, 3, null, NDRAW, &o, &v, NULL);
        CHECK(rc == LSC_OK && v.state == LSC_SHOWN && strstr(v.evidence, "already beats the null"),
              "phi: step-0 overlap beats the null, training adds 0.2 in every pair -> shown (%s)", v.evidence);
        rc = lsc_verdict_phi(tr2, in2, 1, null, NDRAW, &o, &v, NULL);
        CHECK(rc == LSC_OK && v.state == LSC_NOT_SHOWN && strstr(v.evidence, "cannot show"),
              "phi: one pair with a step-0 overlap above the null -> not shown (%s)", v.evidence);
    }
    rc = lsc_verdict_phi(tr, NULL, 1, null, NDRAW, &o, &v, NULL);
    CHECK(rc == LSC_OK && v.state == LSC_SHOWN && isnan(v.lo) && strstr(v.evidence, "no interval"),
          "phi: one planted pair -> shown, no interval (%s)", v.evidence);
    rc = lsc_verdict_phi(tr, NULL, 3, null, 15, &o, &v, NULL);
    CHECK(rc == LSC_OK && v.state == LSC_NOT_MEASURED && strstr(v.evidence, "15 null draws"),
          "phi: 15 null draws cannot reach p < 0.05 -> not measured (%s)", v.evidence);
    free(null);
    free(sorted);
}

/* The false-positive rate: 300 sets of 3 random pairs, each against its own
 * 1000 null draws' resampling (the draws fixed): about alpha (binomial sd 0.013). */
static void test_phi_calibration(void)
{
    uint64_t rng;
    lsc_rng_seed(&rng, 5);
    double *null = dalloc(NDRAW);
    for (int i = 0; i < NDRAW; i++)
        null[i] = haar_phi(&rng);
    lsc_verdict_opts o = {.n_resample = 2000};
    int shown = 0, sets = 300;
    for (int k = 0; k < sets; k++) {
        double tr[3] = {haar_phi(&rng), haar_phi(&rng), haar_phi(&rng)};
        lsc_verdict v;
        o.seed = (uint64_t)k;
        lsc_verdict_phi(tr, NULL, 3, null, NDRAW, &o, &v, NULL);
        shown += v.state == LSC_SHOWN;
    }
    double rate = (double)shown / sets;
    CHECK(rate < 0.09, "phi: false-positive rate over %d random sets %.3f (alpha 0.05)", sets, rate);
    free(null);
}

// ---- W, ΔW and ‖UᵀWV‖_F ----

#define WD 128

typedef struct wfix {
    double *W, *U, *V;   /* W (WD, WD) = U·diag(sig)·Vᵀ; U, V (WD, WD) orthonormal columns */
    double sig[WD];
    double *svd_work, *proj_work;
    size_t lsvd;
} wfix;

static void wfix_init(wfix *f, uint64_t *rng)
{
    size_t lw = lsc_random_orthonormal_work_size(WD, WD);
    double *w = dalloc(lw);
    f->W = dalloc(WD * WD);
    f->U = dalloc(WD * WD);
    f->V = dalloc(WD * WD);
    if (lsc_random_orthonormal(WD, WD, rng, f->U, w, lw, NULL) != LSC_OK ||
        lsc_random_orthonormal(WD, WD, rng, f->V, w, lw, NULL) != LSC_OK) {
        fprintf(stderr, "test_verdict: random_orthonormal failed\n");
        exit(1);
    }
    free(w);
    for (int l = 0; l < WD; l++)
        f->sig[l] = 10.0 * pow(0.95, l);
    for (int i = 0; i < WD; i++)
        for (int j = 0; j < WD; j++) {
            double s = 0.0;
            for (int l = 0; l < WD; l++)
                s += f->U[i * WD + l] * f->sig[l] * f->V[j * WD + l];
            f->W[i * WD + j] = s;
        }
    f->lsvd = lsc_lowrank_svd_work_size(WD, WD, 32, 1);
    f->svd_work = dalloc(f->lsvd);
    f->proj_work = dalloc(lsc_proj_fro_work_size(WD, WD, 32));
}

static void wfix_free(wfix *f)
{
    free(f->W);
    free(f->U);
    free(f->V);
    free(f->svd_work);
    free(f->proj_work);
}

/* ‖UᵀWV‖_F with U, V the top-K frames of ΔW = B·A, B (WD, r), A (r, WD) */
static double proj_of(wfix *f, int r, const double *B, const double *A, int K)
{
    double S[32], Ud[WD * 32], Vt[32 * WD];
    size_t lw = lsc_lowrank_svd_work_size(WD, WD, r, 1);
    if (lsc_lowrank_svd(WD, WD, r, 1.0, B, A, S, Ud, Vt, f->svd_work, lw, NULL) != LSC_OK) {
        fprintf(stderr, "test_verdict: lowrank_svd failed\n");
        exit(1);
    }
    return lsc_proj_fro(WD, WD, f->W, K, Ud, r, Vt, WD, f->proj_work);
}

/* ‖UᵀWV‖_F of a Gaussian ΔW of rank r */
static double proj_random(wfix *f, int r, int K, uint64_t *rng)
{
    double B[WD * 32], A[32 * WD];
    for (int i = 0; i < WD * r; i++) {
        B[i] = lsc_rng_normal(rng);
        A[i] = lsc_rng_normal(rng);
    }
    return proj_of(f, r, B, A, K);
}

/* ‖UᵀWV‖_F of ΔW = Σ_l s_l·u_l·v_lᵀ over W's singular pairs first..first+r−1 */
static double proj_from_w(wfix *f, int first, int r, int K, uint64_t *rng)
{
    double B[WD * 32], A[32 * WD];
    for (int l = 0; l < r; l++) {
        double s = 1.0 + lsc_rng_uniform_d(rng);
        for (int i = 0; i < WD; i++) {
            B[i * r + l] = s * f->U[i * WD + first + l];
            A[l * WD + i] = f->V[i * WD + first + l];
        }
    }
    return proj_of(f, r, B, A, K);
}

#define NRUN 3
#define NNULL 200

static void test_alignment(wfix *f, uint64_t *rng)
{
    const int r = 4, K = 4;
    double pd[NRUN], pa[NRUN], *pn = dalloc(NRUN * NNULL);
    for (int i = 0; i < NRUN; i++) {
        pd[i] = proj_random(f, r, K, rng);
        pa[i] = proj_from_w(f, 0, r, K, rng);
        for (int j = 0; j < NNULL; j++)
            pn[i * NNULL + j] = proj_random(f, r, K, rng);
    }
    lsc_verdict v;
    int rc = lsc_verdict_alignment(pd, NRUN, pn, NNULL, NULL, &v, NULL);
    CHECK(rc == LSC_OK && v.state == LSC_NOT_SHOWN && v.p >= 0.05 && fabs(v.effect - 1.0) < 0.5,
          "alignment: random dW -> not shown (ratio %.3f, p %.3f)", v.effect, v.p);
    rc = lsc_verdict_alignment(pa, NRUN, pn, NNULL, NULL, &v, NULL);
    double top = sqrt(f->sig[0] * f->sig[0] + f->sig[1] * f->sig[1] + f->sig[2] * f->sig[2] +
                      f->sig[3] * f->sig[3]);
    CHECK(rc == LSC_OK && v.state == LSC_SHOWN && v.p < 0.001 && v.effect > 5.0 &&
          fabs(pa[0] - top) < 1e-9 * top && v.lo < v.effect && v.hi > v.effect,
          "alignment: dW from W's top singular vectors -> shown (proj %.4f = sqrt(sum sig^2) %.4f, "
          "ratio %.2f [%.2f, %.2f], p %.2g)", pa[0], top, v.effect, v.lo, v.hi, v.p);
    CHECK(strstr(v.test, "200 random") && strstr(v.evidence, "p = ") && v.null_value == 1.0,
          "alignment: test and evidence (%s | %s)", v.test, v.evidence);
    pd[1] = NAN;
    rc = lsc_verdict_alignment(pd, NRUN, pn, NNULL, NULL, &v, NULL);
    CHECK(rc == LSC_ENAN && v.state == LSC_NOT_MEASURED && strstr(v.evidence, "proj_delta 1"),
          "alignment: NaN proj -> LSC_ENAN, not measured (%s)", v.evidence);
    free(pn);
}

/* one arm of rule c: NRUN runs of rank r, delta_fro ≈ norm, proj from W's
 * bottom singular vectors (planted) or random */
static void amp_arm(wfix *f, int r, int K, double norm, int planted, double *fro, double *pd,
                    double *pn, uint64_t *rng)
{
    for (int i = 0; i < NRUN; i++) {
        fro[i] = norm * (1.0 + 0.1 * lsc_rng_uniform_d(rng));
        pd[i] = planted ? proj_from_w(f, WD - r, r, K, rng) : proj_random(f, r, K, rng);
        for (int j = 0; j < NNULL; j++)
            pn[i * NNULL + j] = proj_random(f, r, K, rng);
    }
}

static void test_amp(wfix *f, uint64_t *rng)
{
    const int K = 2;
    double fl[NRUN], pl[NRUN], fh[NRUN], ph[NRUN], fp[NRUN], pp[NRUN];
    double *nl = dalloc(NRUN * NNULL), *nh = dalloc(NRUN * NNULL), *np = dalloc(NRUN * NNULL);
    amp_arm(f, 2, K, 1.0, 0, fl, pl, nl, rng);
    amp_arm(f, 16, K, 3.0, 0, fh, ph, nh, rng);
    amp_arm(f, 2, K, 1.0, 1, fp, pp, np, rng);
    lsc_amp_runs lo = {2, NRUN, fl, pl, nl, NNULL}, hi = {16, NRUN, fh, ph, nh, NNULL};
    lsc_amp_runs lp = {2, NRUN, fp, pp, np, NNULL};
    lsc_verdict v;
    lsc_verdict_opts few = {.n_resample = 100};
    int rc = lsc_verdict_amp_ranks(&lo, &hi, K, &few, &v, NULL);
    CHECK(rc == LSC_OK && v.state == LSC_NOT_SHOWN && v.p >= 0.05 && v.effect > 0.5 &&
          v.effect < 2.0 && strstr(v.evidence, "excess factor"),
          "amplification: both ranks random -> not shown (excess %.3f, p %.3f; %s)", v.effect,
          v.p, v.evidence);
    CHECK(strstr(v.test, "2000 resampled") != NULL,
          "amplification: n_resample 100 is raised to 2000 (%s)", v.test);
    rc = lsc_verdict_amp_ranks(&lp, &hi, K, NULL, &v, NULL);
    CHECK(rc == LSC_OK && v.state == LSC_SHOWN && v.p < 0.01 && v.effect > 10.0 &&
          v.lo <= v.effect && v.effect <= v.hi,
          "amplification: low-rank dW in W's bottom directions -> shown (excess %.3g [%.3g, "
          "%.3g], p %.2g)", v.effect, v.lo, v.hi, v.p);
    lo.N = 10;
    rc = lsc_verdict_amp_ranks(&lo, &hi, K, NULL, &v, NULL);
    CHECK(rc == LSC_OK && v.state == LSC_NOT_MEASURED, "amplification: 10 null draws -> not measured");
    lo.N = NNULL;
    fl[0] = 0.0;
    lsc_error err;
    rc = lsc_verdict_amp_ranks(&lo, &hi, K, NULL, &v, &err);
    CHECK(rc == LSC_EARG && v.state == LSC_NOT_MEASURED && strstr(err.msg, "delta_fro 0"),
          "amplification: a zero norm -> LSC_EARG (%s)", err.msg);
    free(nl);
    free(nh);
    free(np);
}

// ---- saturation and better ----

static void seeds(double *x, int n, double base, double sd, uint64_t *rng)
{
    for (int i = 0; i < n; i++)
        x[i] = base + sd * lsc_rng_normal(rng);
}

static void test_saturation_better(void)
{
    uint64_t rng;
    lsc_rng_seed(&rng, 42);
    double s[3], l[3];
    lsc_verdict v;
    seeds(s, 3, 80.0, 0.2, &rng);
    seeds(l, 3, 80.0, 0.2, &rng);
    int rc = lsc_verdict_saturation(s, l, 3, 1.0, 0.05, &v, NULL);
    CHECK(rc == LSC_OK && v.state == LSC_SHOWN && v.lo > -1.0 && v.hi < 1.0 &&
          strcmp(v.test, "TOST, margin 1 points, alpha 0.05, paired over 3 seeds") == 0,
          "saturation: equal +- 0.2 over 3 seeds, margin 1 -> shown ([%.2f, %.2f], p %.3g)", v.lo,
          v.hi, v.p);
    seeds(s, 3, 75.0, 0.2, &rng);
    rc = lsc_verdict_saturation(s, l, 3, 1.0, 0.05, &v, NULL);
    CHECK(rc == LSC_OK && v.state == LSC_NOT_SHOWN && fabs(v.effect + 5.0) < 1.0,
          "saturation: a 5-point gap -> not shown (effect %.2f)", v.effect);
    seeds(s, 3, 80.0, 5.0, &rng);
    seeds(l, 3, 80.0, 5.0, &rng);
    rc = lsc_verdict_saturation(s, l, 3, 1.0, 0.05, &v, NULL);
    lsc_verdict b;
    lsc_verdict_better(s, l, 3, 0.05, &b, NULL);
    CHECK(rc == LSC_OK && v.state == LSC_NOT_SHOWN && b.state == LSC_NOT_SHOWN,
          "saturation: seed sd 5 -> not shown although no difference is shown either "
          "(non-significance is not equivalence; [%.1f, %.1f])", v.lo, v.hi);
    rc = lsc_verdict_saturation(s, l, 1, 1.0, 0.05, &v, NULL);
    CHECK(rc == LSC_OK && v.state == LSC_NOT_MEASURED && strstr(v.evidence, "needs >= 2 seeds"),
          "saturation: one seed -> not measured (%s)", v.evidence);
    seeds(s, 3, 83.0, 0.3, &rng);
    seeds(l, 3, 80.0, 0.3, &rng);
    rc = lsc_verdict_better(s, l, 3, 0.05, &v, NULL);
    CHECK(rc == LSC_OK && v.state == LSC_SHOWN && v.lo > 0.0 && fabs(v.effect - 3.0) < 1.0 &&
          strcmp(v.test, "paired t-test over 3 seeds") == 0,
          "better: 3-point gap, noise 0.3 -> shown (%+.2f [%.2f, %.2f], p %.3g)", v.effect, v.lo,
          v.hi, v.p);
    rc = lsc_verdict_better(l, s, 3, 0.05, &v, NULL);
    CHECK(rc == LSC_OK && v.state == LSC_NOT_SHOWN && v.p < 0.05,
          "better: b > a significantly -> still not shown for a > b (p %.3g)", v.p);
    seeds(s, 3, 80.0, 0.3, &rng);
    rc = lsc_verdict_better(s, l, 3, 0.05, &v, NULL);
    CHECK(rc == LSC_OK && v.state == LSC_NOT_SHOWN, "better: no gap -> not shown (p %.3g)", v.p);
    rc = lsc_verdict_better(s, l, 1, 0.05, &v, NULL);
    CHECK(rc == LSC_OK && v.state == LSC_NOT_MEASURED, "better: one seed -> not measured");
    {
        /* every seed's difference exactly +4 (the paper run's intruder counts at r=1): no variance,
         * no t-test; the exact sign test needs n >= 6 for p < 0.05 */
        const double c3[6] = {4, 4, 4, 4, 4, 4}, z3[6] = {0, 0, 0, 0, 0, 0};
        rc = lsc_verdict_better(c3, z3, 3, 0.05, &v, NULL);
        CHECK(rc == LSC_OK && v.state == LSC_NOT_SHOWN && v.p == 0.25 && strstr(v.evidence, "no variance"),
              "better: 3 equal differences +4 -> not shown, sign test p 0.25 (%s)", v.evidence);
        rc = lsc_verdict_better(c3, z3, 6, 0.05, &v, NULL);
        CHECK(rc == LSC_OK && v.state == LSC_SHOWN && v.p == 0.03125,
              "better: 6 equal differences +4 -> shown, sign test p 1/32 (%s)", v.evidence);
    }
    lsc_error err;
    rc = lsc_verdict_better(s, l, 3, 1.5, &v, &err);
    CHECK(rc == LSC_EARG && v.state == LSC_NOT_MEASURED && strstr(v.evidence, "alpha 1.5"),
          "better: alpha 1.5 -> LSC_EARG, not measured (%s)", v.evidence);
    rc = lsc_verdict_saturation(s, l, 3, -1.0, 0.05, &v, NULL);
    CHECK(rc == LSC_EARG && v.state == LSC_NOT_MEASURED && strstr(v.evidence, "margin -1"),
          "saturation: margin -1 -> LSC_EARG even with err = NULL (%s)", v.evidence);
}

static void test_format(void)
{
    const double a[3] = {83.1, 82.7, 83.4}, b[3] = {80.0, 80.2, 79.9};
    lsc_verdict v;
    char line[1024], small[12];
    lsc_verdict_better(a, b, 3, 0.05, &v, NULL);
    int len = lsc_verdict_format(&v, line, sizeof line);
    CHECK(len == (int)strlen(line) &&
          strncmp(line, "shown \xe2\x80\x94 paired t-test over 3 seeds; null: no difference", 53) == 0 &&
          strstr(line, "; mean difference a - b +3.03 points, 95% interval ["),
          "format: %s", line);
    int len2 = lsc_verdict_format(&v, small, sizeof small);
    CHECK(len2 == len && strlen(small) == sizeof small - 1, "format: truncates, returns the full length");
    v.state = LSC_NOT_MEASURED;
    lsc_verdict_format(&v, line, sizeof line);
    CHECK(strncmp(line, "not measured \xe2\x80\x94", 16) == 0 &&
          strcmp(lsc_verdict_state_name(LSC_NOT_SHOWN), "not shown") == 0 &&
          strcmp(lsc_verdict_state_name(7), "invalid") == 0, "format: state names");
    lsc_verdict_opts bad = {.alpha = 0.7};
    double x[2] = {0.5, 0.6}, nd[40];
    for (int i = 0; i < 40; i++)
        nd[i] = 0.01 * i;
    int rc = lsc_verdict_phi(x, NULL, 2, nd, 40, &bad, &v, NULL);
    CHECK(rc == LSC_EARG && v.state == LSC_NOT_MEASURED && strstr(v.evidence, "alpha 0.7"),
          "opts: alpha 0.7 -> LSC_EARG (%s)", v.evidence);
}

int main(void)
{
    test_phi();
    test_phi_calibration();
    uint64_t rng;
    lsc_rng_seed(&rng, 77);
    wfix f;
    wfix_init(&f, &rng);
    test_alignment(&f, &rng);
    test_amp(&f, &rng);
    wfix_free(&f);
    test_saturation_better();
    test_format();
    {
        lsc_verdict g;
        double in3[3] = {0.10, 0.12, 0.11}, out1[1] = {2.0};
        int grc = lsc_verdict_regime(in3, 3, 6.91 / 61.95, 3.0, &g, NULL);
        CHECK(grc == LSC_OK && g.state == LSC_SHOWN && fabs(g.effect - 0.11 / (6.91 / 61.95)) < 1e-12 &&
              g.lo < g.effect && g.effect < g.hi, "regime: ratios 0.10-0.12 against 0.1115 within 3x -> shown");
        grc = lsc_verdict_regime(out1, 1, 6.91 / 61.95, 3.0, &g, NULL);
        CHECK(grc == LSC_OK && g.state == LSC_NOT_SHOWN && isnan(g.lo) && strstr(g.test, "not a statistical"),
              "regime: a ratio of 2.0 (18x the paper's) -> not shown, no interval from one run");
        grc = lsc_verdict_regime(out1, 1, 0.0, 3.0, &g, NULL);
        CHECK(grc == LSC_EARG && g.state == LSC_NOT_MEASURED, "regime: reference 0 -> LSC_EARG, not measured");
    }
    return test_summary();
}
