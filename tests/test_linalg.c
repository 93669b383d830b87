/*
 * test_linalg.c — the analysis linear algebra on matrices of known rank and
 * spectrum (built from seeded random orthonormal U, V and chosen σ):
 * SVD reconstruction and orthogonality, the low-rank dW path against the
 * dense oracle, top-k against the full SVD, φ invariants (self = 1 on the
 * diagonal, rotation, orthogonal = 0, random ≈ max(i,j)/n), principal
 * angles, and the Table-7 projections on a case with a known answer.
 * Tolerances are c·n·DBL_EPSILON, scaled by the norm involved.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "lsc_internal.h"
#include "test.h"

// ---- helpers ----

static double *dalloc(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof *p);
    if (!p) {
        fprintf(stderr, "test_linalg: out of memory\n");
        exit(1);
    }
    return p;
}

/* Q (n, p) with orthonormal columns */
static double *rand_orth(int n, int p, uint64_t *rng)
{
    double *Q = dalloc((size_t)n * (size_t)p);
    size_t lw = lsc_random_orthonormal_work_size(n, p);
    double *w = dalloc(lw);
    int rc = lsc_random_orthonormal(n, p, rng, Q, w, lw, NULL);
    if (rc != LSC_OK) {
        fprintf(stderr, "test_linalg: random_orthonormal failed\n");
        exit(1);
    }
    free(w);
    return Q;
}

/* Transpose of a (m, n) matrix into a new (n, m) one. */
static double *transpose(int m, int n, const double *X)
{
    double *T = dalloc((size_t)m * (size_t)n);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            T[(size_t)j * m + i] = X[(size_t)i * n + j];
    return T;
}

/* W (m, n) = U0 (m, p) · diag(sig) · V0ᵀ, V0 (n, p). */
static double *make_rank(int m, int n, int p, const double *sig, const double *U0,
                         const double *V0)
{
    double *W = dalloc((size_t)m * (size_t)n);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int l = 0; l < p; l++)
                s += U0[(size_t)i * p + l] * sig[l] * V0[(size_t)j * p + l];
            W[(size_t)i * n + j] = s;
        }
    return W;
}

/* max |XᵀX − I| for X (m, p) with columns as vectors (stride ld) */
static double orth_err_cols(int m, int p, const double *X, int ld)
{
    double worst = 0.0;
    for (int a = 0; a < p; a++)
        for (int b = 0; b < p; b++) {
            double s = 0.0;
            for (int i = 0; i < m; i++)
                s += X[(size_t)i * ld + a] * X[(size_t)i * ld + b];
            double e = fabs(s - (a == b ? 1.0 : 0.0));
            if (e > worst)
                worst = e;
        }
    return worst;
}

/* max |X·Xᵀ − I| for X (p, n) with rows as vectors */
static double orth_err_rows(int p, int n, const double *X)
{
    double *T = transpose(p, n, X);
    double e = orth_err_cols(n, p, T, p);
    free(T);
    return e;
}

/* max |U·diag(S)·Vt − W| */
static double recon_err(int m, int n, int p, const double *U, const double *S,
                        const double *Vt, const double *W)
{
    double worst = 0.0;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0;
            for (int l = 0; l < p; l++)
                s += U[(size_t)i * p + l] * S[l] * Vt[(size_t)l * n + j];
            double e = fabs(s - W[(size_t)i * n + j]);
            if (e > worst)
                worst = e;
        }
    return worst;
}

static double max_reldiff(int n, const double *a, const double *b, double floor_)
{
    double worst = 0.0;
    for (int i = 0; i < n; i++) {
        double m = fmax(fmax(fabs(a[i]), fabs(b[i])), floor_);
        double e = fabs(a[i] - b[i]) / m;
        if (e > worst)
            worst = e;
    }
    return worst;
}

static void gauss(size_t n, double *x, double scale, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++)
        x[i] = scale * lsc_rng_normal(rng);
}

// ---- thin SVD ----

static void test_svd_known_rank(int m, int n, int p)
{
    uint64_t rng;
    lsc_rng_seed(&rng, (uint64_t)(m * 1000 + n));
    double *U0 = rand_orth(m, p, &rng), *V0 = rand_orth(n, p, &rng);
    double *sig = dalloc((size_t)p);
    for (int i = 0; i < p; i++)
        sig[i] = 10.0 * pow(0.6, i);
    double *W = make_rank(m, n, p, sig, U0, V0);
    int mn = m < n ? m : n;
    double *S = dalloc((size_t)mn), *U = dalloc((size_t)m * mn), *Vt = dalloc((size_t)mn * n);
    size_t lw = lsc_svd_work_size(m, n, 1);
    double *w = dalloc(lw);
    int rc = lsc_svd(m, n, W, S, U, Vt, w, lw, NULL);
    CHECK(rc == LSC_OK, "svd %dx%d rank %d: returns ok", m, n, p);
    double tol = 8.0 * (double)(m > n ? m : n) * DBL_EPSILON;
    double e = recon_err(m, n, mn, U, S, Vt, W);
    CHECK(e <= tol * sig[0], "svd %dx%d: reconstruction max err %.2e <= %.2e", m, n, e, tol * sig[0]);
    e = orth_err_cols(m, mn, U, mn);
    CHECK(e <= tol, "svd %dx%d: UᵀU = I (err %.2e)", m, n, e);
    e = orth_err_rows(mn, n, Vt);
    CHECK(e <= tol, "svd %dx%d: Vt·Vtᵀ = I (err %.2e)", m, n, e);
    /* backward stable: |S_i − σ_i| <= c·n·eps·σ_1 (absolute, not relative) */
    e = max_reldiff(p, S, sig, sig[0]);
    CHECK(e <= tol, "svd %dx%d: the %d chosen singular values (err/σ1 %.2e)", m, n, p, e);
    double tail = 0.0;
    for (int i = p; i < mn; i++)
        tail = fmax(tail, S[i]);
    CHECK(tail <= tol * sig[0], "svd %dx%d: singular values beyond rank %d are ~0 (%.2e)", m, n, p, tail);
    int desc = 1;
    for (int i = 1; i < mn; i++)
        desc &= S[i] <= S[i - 1];
    CHECK(desc, "svd %dx%d: singular values descending", m, n);
    /* values only */
    double *S2 = dalloc((size_t)mn);
    size_t lw2 = lsc_svd_work_size(m, n, 0);
    double *w2 = dalloc(lw2);
    rc = lsc_svd(m, n, W, S2, NULL, NULL, w2, lw2, NULL);
    e = max_reldiff(p, S, S2, 0.0);
    CHECK(rc == LSC_OK && e <= tol, "svd %dx%d: values-only path agrees (%.2e)", m, n, e);
    free(U0); free(V0); free(sig); free(W); free(S); free(U); free(Vt); free(w);
    free(S2); free(w2);
}

// ---- low-rank dW ----

static void test_lowrank(int d, int k, int r, double s, uint64_t seed)
{
    uint64_t rng;
    lsc_rng_seed(&rng, seed);
    double *B = dalloc((size_t)d * r), *A = dalloc((size_t)r * k);
    gauss((size_t)d * r, B, 0.02, &rng);
    gauss((size_t)r * k, A, 1.0 / sqrt((double)k), &rng);
    double *S1 = dalloc((size_t)r), *U1 = dalloc((size_t)d * r), *V1 = dalloc((size_t)r * k);
    double *S2 = dalloc((size_t)r), *U2 = dalloc((size_t)d * r), *V2 = dalloc((size_t)r * k);
    size_t l1 = lsc_lowrank_svd_work_size(d, k, r, 1), l2 = lsc_lowrank_svd_dense_work_size(d, k, r, 1);
    double *w1 = dalloc(l1), *w2 = dalloc(l2);
    int rc1 = lsc_lowrank_svd(d, k, r, s, B, A, S1, U1, V1, w1, l1, NULL);
    int rc2 = lsc_lowrank_svd_dense(d, k, r, s, B, A, S2, U2, V2, w2, l2, NULL);
    CHECK(rc1 == LSC_OK && rc2 == LSC_OK, "lowrank d=%d k=%d r=%d: both paths ok", d, k, r);
    int p = r < (d < k ? d : k) ? r : (d < k ? d : k);
    double e = max_reldiff(p, S1, S2, 0.0);
    CHECK(e <= 1e-10, "lowrank d=%d k=%d r=%d: singular values == dense (rel %.2e)", d, k, r, e);
    /* dW = s·B·A reconstructed from the low-rank factors */
    double *W = dalloc((size_t)d * k);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < k; j++) {
            double t = 0.0;
            for (int l = 0; l < r; l++)
                t += B[(size_t)i * r + l] * A[(size_t)l * k + j];
            W[(size_t)i * k + j] = s * t;
        }
    double tol = 16.0 * (double)(d > k ? d : k) * DBL_EPSILON * S1[0];
    e = recon_err(d, k, r, U1, S1, V1, W);
    CHECK(e <= tol, "lowrank d=%d k=%d r=%d: U·S·Vt = s·B·A (err %.2e <= %.2e)", d, k, r, e, tol);
    if (r <= (d < k ? d : k)) {
        double eu = orth_err_cols(d, r, U1, r), ev = orth_err_rows(r, k, V1);
        CHECK(eu <= 1e-12 && ev <= 1e-12, "lowrank d=%d k=%d r=%d: U, V orthonormal (%.1e, %.1e)",
              d, k, r, eu, ev);
        /* vectors agree with the dense ones up to sign (distinct σ) */
        double worst = 0.0;
        for (int l = 0; l < r; l++) {
            double dot = 0.0;
            for (int i = 0; i < k; i++)
                dot += V1[(size_t)l * k + i] * V2[(size_t)l * k + i];
            worst = fmax(worst, fabs(fabs(dot) - 1.0));
        }
        CHECK(worst <= 1e-8, "lowrank d=%d k=%d r=%d: right vectors == dense up to sign (%.1e)",
              d, k, r, worst);
    }
    /* values only */
    size_t l3 = lsc_lowrank_svd_work_size(d, k, r, 0);
    double *w3 = dalloc(l3), *S3 = dalloc((size_t)r);
    int rc3 = lsc_lowrank_svd(d, k, r, s, B, A, S3, NULL, NULL, w3, l3, NULL);
    CHECK(rc3 == LSC_OK && max_reldiff(r, S1, S3, 1e-300) <= 1e-13,
          "lowrank d=%d k=%d r=%d: values-only == with vectors", d, k, r);
    free(B); free(A); free(S1); free(U1); free(V1); free(S2); free(U2); free(V2);
    free(w1); free(w2); free(W); free(w3); free(S3);
}

static void test_lowrank_known(void)
{
    /* B = U0·diag(σ), A = V0ᵀ: dW = s·U0·diag(σ)·V0ᵀ, singular values s·σ */
    int d = 96, k = 80, r = 6;
    double s = 4.0;
    uint64_t rng;
    lsc_rng_seed(&rng, 11);
    double *U0 = rand_orth(d, r, &rng), *V0 = rand_orth(k, r, &rng);
    double sig[6] = {3.0, 2.0, 1.0, 0.5, 0.25, 1e-3};
    double *B = dalloc((size_t)d * r), *A = transpose(k, r, V0);
    for (int i = 0; i < d; i++)
        for (int l = 0; l < r; l++)
            B[(size_t)i * r + l] = U0[(size_t)i * r + l] * sig[l];
    double S[6], want[6];
    for (int l = 0; l < r; l++)
        want[l] = s * sig[l];
    size_t lw = lsc_lowrank_svd_work_size(d, k, r, 0);
    double *w = dalloc(lw);
    int rc = lsc_lowrank_svd(d, k, r, s, B, A, S, NULL, NULL, w, lw, NULL);
    double e = max_reldiff(r, S, want, 0.0);
    CHECK(rc == LSC_OK && e <= 1e-12, "lowrank known spectrum: σ = s·σ0 (rel %.2e)", e);
    /* all-zero B: dW = 0, singular values exactly 0, no failure */
    memset(B, 0, (size_t)d * r * sizeof *B);
    rc = lsc_lowrank_svd(d, k, r, s, B, A, S, NULL, NULL, w, lw, NULL);
    CHECK(rc == LSC_OK && S[0] == 0.0 && S[r - 1] == 0.0, "lowrank B = 0: singular values 0");
    /* NaN: a clear error, not a LAPACK hang */
    B[5] = NAN;
    lsc_error err = {0};
    rc = lsc_lowrank_svd(d, k, r, s, B, A, S, NULL, NULL, w, lw, &err);
    CHECK(rc == LSC_ENAN && strstr(err.msg, "NaN"), "lowrank NaN input: LSC_ENAN (%s)", err.msg);
    free(U0); free(V0); free(B); free(A); free(w);
}

// ---- top-k ----

static void test_topk(int m, int n, int kk, int decaying, lsc_topk_method expect)
{
    uint64_t rng;
    lsc_rng_seed(&rng, (uint64_t)(7 * m + n + kk));
    int mn = m < n ? m : n;
    double *W = dalloc((size_t)m * n);
    if (decaying) {
        /* σ_i = 0.8^i: a real gap between σ_kk and σ_{kk+block} */
        double *U0 = rand_orth(m, mn, &rng), *V0 = rand_orth(n, mn, &rng);
        double *sig = dalloc((size_t)mn);
        for (int i = 0; i < mn; i++)
            sig[i] = 5.0 * pow(0.8, i);
        free(W);
        W = make_rank(m, n, mn, sig, U0, V0);
        free(U0); free(V0); free(sig);
    } else {
        gauss((size_t)m * n, W, 1.0, &rng);   /* flat spectrum: fallback expected */
    }
    double *S = dalloc((size_t)kk), *U = dalloc((size_t)m * kk), *Vt = dalloc((size_t)kk * n);
    size_t lw = lsc_svd_topk_work_size(m, n, kk, LSC_TOPK_AUTO);
    double *w = dalloc(lw);
    lsc_topk_info info;
    double t0 = (double)clock();
    int rc = lsc_svd_topk(m, n, kk, W, S, U, Vt, LSC_TOPK_AUTO, 42, w, lw, &info, NULL);
    double t_auto = ((double)clock() - t0) / CLOCKS_PER_SEC;
    CHECK(rc == LSC_OK, "topk %dx%d k=%d: ok", m, n, kk);
    CHECK(info.method == expect, "topk %dx%d k=%d %s spectrum: method %s (%d iterations, res %.1e)",
          m, n, kk, decaying ? "decaying" : "flat",
          info.method == LSC_TOPK_ITERATIVE ? "iterative" : "dense", info.iterations, info.residual);
    double *Sd = dalloc((size_t)mn), *Ud = dalloc((size_t)m * mn), *Vd = dalloc((size_t)mn * n);
    size_t lwd = lsc_svd_work_size(m, n, 1);
    double *wd = dalloc(lwd);
    t0 = (double)clock();
    rc = lsc_svd(m, n, W, Sd, Ud, Vd, wd, lwd, NULL);
    double t_dense = ((double)clock() - t0) / CLOCKS_PER_SEC;
    double e = max_reldiff(kk, S, Sd, 0.0);
    CHECK(rc == LSC_OK && e <= 1e-10, "topk %dx%d k=%d: σ == full SVD (rel %.2e; %.3fs vs dense %.3fs)",
          m, n, kk, e, t_auto, t_dense);
    /* the top-kk subspaces agree: ‖Vt·Vdᵀ[:kk,:kk]‖²_F = kk (gap-limited) */
    double ss = 0.0;
    for (int a = 0; a < kk; a++)
        for (int b = 0; b < kk; b++) {
            double dot = 0.0;
            for (int j = 0; j < n; j++)
                dot += Vt[(size_t)a * n + j] * Vd[(size_t)b * n + j];
            ss += dot * dot;
        }
    double gap = (Sd[kk - 1] - Sd[kk]) / Sd[0];
    CHECK(fabs(ss - kk) <= 1e-8 || gap < 1e-3,
          "topk %dx%d k=%d: right subspace == dense (|Σcos²−k| = %.1e, rel gap %.1e)",
          m, n, kk, fabs(ss - kk), gap);
    /* residuals M·v = σ·u */
    double worst = 0.0;
    for (int l = 0; l < kk; l++) {
        double r2 = 0.0;
        for (int i = 0; i < m; i++) {
            double mv = 0.0;
            for (int j = 0; j < n; j++)
                mv += W[(size_t)i * n + j] * Vt[(size_t)l * n + j];
            double dd = mv - S[l] * U[(size_t)i * kk + l];
            r2 += dd * dd;
        }
        worst = fmax(worst, sqrt(r2) / S[0]);
    }
    CHECK(worst <= 1e-10, "topk %dx%d k=%d: residuals ‖Mv−σu‖/σ1 = %.1e", m, n, kk, worst);
    free(W); free(S); free(U); free(Vt); free(w); free(Sd); free(Ud); free(Vd); free(wd);
}

/* a cluster of equal top singular values, through both methods */
static void test_topk_cluster(lsc_topk_method method)
{
    int m = 500, n = 300, kk = 5, p = 40;
    uint64_t rng;
    lsc_rng_seed(&rng, 77);
    double *U0 = rand_orth(m, p, &rng), *V0 = rand_orth(n, p, &rng), sig[40];
    for (int i = 0; i < p; i++)
        sig[i] = i < 3 ? 3.0 : (i < 5 ? 2.0 : 1e-3 * (p - i));
    double *W = make_rank(m, n, p, sig, U0, V0);
    double S[5], *U = dalloc((size_t)m * kk), *Vt = dalloc((size_t)kk * n);
    size_t lw = lsc_svd_topk_work_size(m, n, kk, method);
    double *w = dalloc(lw);
    lsc_topk_info info;
    int rc = lsc_svd_topk(m, n, kk, W, S, U, Vt, method, 3, w, lw, &info, NULL);
    const char *mn = method == LSC_TOPK_DENSE ? "dense" : "auto";
    CHECK(rc == LSC_OK && max_reldiff(kk, S, sig, 0.0) <= 1e-12,
          "topk %s, σ1 = σ2 = σ3: values (%s path)", mn,
          info.method == LSC_TOPK_ITERATIVE ? "iterative" : "direct");
    double eu = orth_err_cols(m, kk, U, kk), ev = orth_err_rows(kk, n, Vt);
    CHECK(eu <= 1e-12 && ev <= 1e-12, "topk %s cluster: U, V orthonormal (%.1e, %.1e)", mn, eu, ev);
    /* the top-5 right subspace is span(V0[:, :5]) exactly */
    double ss = 0.0;
    for (int a = 0; a < kk; a++)
        for (int b = 0; b < kk; b++) {
            double dot = 0.0;
            for (int j = 0; j < n; j++)
                dot += Vt[(size_t)a * n + j] * V0[(size_t)j * p + b];
            ss += dot * dot;
        }
    CHECK(fabs(ss - kk) <= 1e-10, "topk %s cluster: right subspace exact (|Σcos²−k| %.1e)", mn,
          fabs(ss - kk));
    double *pw = dalloc(lsc_proj_fro_work_size(m, n, kk));
    double pr = lsc_proj_fro(m, n, W, kk, U, kk, Vt, n, pw);
    CHECK(test_reldiff(pr, sqrt(3 * 9.0 + 2 * 4.0)) <= 1e-12, "topk %s cluster: ‖UᵀWV‖ = sqrt(35)", mn);
    free(U0); free(V0); free(W); free(U); free(Vt); free(w); free(pw);
}

// ---- φ and principal angles ----

static double phi_direct(int n, int i, int j, const double *Vt1, const double *Vt2)
{
    double ss = 0.0;
    for (int a = 0; a < i; a++)
        for (int b = 0; b < j; b++) {
            double dot = 0.0;
            for (int l = 0; l < n; l++)
                dot += Vt1[(size_t)a * n + l] * Vt2[(size_t)b * n + l];
            ss += dot * dot;
        }
    return ss / (i < j ? i : j);
}

static void test_phi(void)
{
    int n = 120, p1 = 8, p2 = 20;
    uint64_t rng;
    lsc_rng_seed(&rng, 5);
    double *Q1 = rand_orth(n, p1, &rng), *Q2 = rand_orth(n, p2, &rng);
    double *V1 = transpose(n, p1, Q1), *V2 = transpose(n, p2, Q2);   /* rows = basis */
    double *G = dalloc((size_t)p1 * p2), *phi = dalloc((size_t)p1 * p2);
    double tol = 8.0 * n * DBL_EPSILON;

    /* self: φ(i, i) = 1, φ ∈ [0, 1] */
    double *Gs = dalloc((size_t)p2 * p2), *phis = dalloc((size_t)p2 * p2);
    lsc_subspace_gram(n, p2, V2, p2, V2, Gs);
    lsc_phi_grid(p2, p2, Gs, phis);
    double worst = 0.0, lo = 1.0, hi = 0.0;
    for (int i = 0; i < p2; i++)
        worst = fmax(worst, fabs(phis[(size_t)i * p2 + i] - 1.0));
    for (int i = 0; i < p2 * p2; i++) {
        lo = fmin(lo, phis[i]);
        hi = fmax(hi, phis[i]);
    }
    CHECK(worst <= tol, "phi self: diagonal = 1 (max err %.1e)", worst);
    CHECK(lo >= 0.0 && hi <= 1.0 + tol, "phi self: values in [0, 1] (%.3f..%.3f)", lo, hi);

    /* prefix sum == the definition computed directly */
    lsc_subspace_gram(n, p1, V1, p2, V2, G);
    lsc_phi_grid(p1, p2, G, phi);
    worst = 0.0;
    for (int i = 1; i <= p1; i++)
        for (int j = 1; j <= p2; j++)
            worst = fmax(worst, fabs(phi[(size_t)(i - 1) * p2 + j - 1] - phi_direct(n, i, j, V1, V2)));
    CHECK(worst <= tol, "phi grid == ‖V1[:i]ᵀV2[:j]‖²/min(i,j) directly (max err %.1e)", worst);

    /* rotation of V2's basis (R orthogonal p2×p2) leaves φ(i, p2) unchanged;
     * rotating V2 itself gives φ(V2, R·V2, p2, p2) = 1 */
    double *R = rand_orth(p2, p2, &rng);
    double *V2r = dalloc((size_t)p2 * n);
    for (int a = 0; a < p2; a++)
        for (int l = 0; l < n; l++) {
            double t = 0.0;
            for (int b = 0; b < p2; b++)
                t += R[(size_t)a * p2 + b] * V2[(size_t)b * n + l];
            V2r[(size_t)a * n + l] = t;
        }
    double *phir = dalloc((size_t)p1 * p2);
    lsc_subspace_gram(n, p1, V1, p2, V2r, G);
    lsc_phi_grid(p1, p2, G, phir);
    worst = 0.0;
    for (int i = 0; i < p1; i++)
        worst = fmax(worst, fabs(phir[(size_t)i * p2 + p2 - 1] - phi[(size_t)i * p2 + p2 - 1]));
    CHECK(worst <= tol, "phi invariant under rotation of the basis: φ(i, p2) (max diff %.1e)", worst);
    lsc_subspace_gram(n, p2, V2, p2, V2r, Gs);
    lsc_phi_grid(p2, p2, Gs, phis);
    CHECK(fabs(phis[(size_t)p2 * p2 - 1] - 1.0) <= tol,
          "phi(V, R·V, p, p) = 1 (%.17g)", phis[(size_t)p2 * p2 - 1]);

    /* orthogonal subspaces: φ = 0 */
    double *Q3 = rand_orth(n, p1 + p2, &rng), *V3 = transpose(n, p1 + p2, Q3);
    lsc_subspace_gram(n, p1, V3, p2, V3 + (size_t)p1 * n, G);
    lsc_phi_grid(p1, p2, G, phi);
    hi = 0.0;
    for (int i = 0; i < p1 * p2; i++)
        hi = fmax(hi, phi[i]);
    CHECK(hi <= tol, "phi of orthogonal subspaces = 0 (max %.1e)", hi);

    /* principal angles: 0 for self, 90 for orthogonal, θ for a constructed pair */
    size_t lw = lsc_principal_angles_work_size(p2, p2);
    double *w = dalloc(lw), ang[20];
    lsc_subspace_gram(n, p2, V2, p2, V2r, Gs);
    int rc = lsc_principal_angles(p2, p2, Gs, ang, w, lw, NULL);
    CHECK(rc == LSC_OK && ang[p2 - 1] < 1e-5, "principal angles of a rotated self: all ~0 (max %.1e deg)",
          ang[p2 - 1]);
    rc = lsc_principal_angles(p1, p2, G, ang, w, lw, NULL);
    CHECK(rc == LSC_OK && fabs(ang[0] - 90.0) < 1e-6, "principal angles of orthogonal: 90 (%.6f)", ang[0]);
    /* in R^4: x = {e1, e2}, y = {cos30·e1 + sin30·e3, cos60·e2 + sin60·e4} */
    double c30 = cos(30.0 * 3.14159265358979323846 / 180.0), s30 = 0.5;
    double x[2 * 4] = {1, 0, 0, 0, 0, 1, 0, 0};
    double y[2 * 4] = {c30, 0, s30, 0, 0, s30, 0, c30};
    double g4[4], a2[2];
    lsc_subspace_gram(4, 2, x, 2, y, g4);
    rc = lsc_principal_angles(2, 2, g4, a2, w, lw, NULL);
    CHECK(rc == LSC_OK && fabs(a2[0] - 30.0) < 1e-9 && fabs(a2[1] - 60.0) < 1e-9,
          "principal angles of a constructed pair: 30 and 60 (%.9f, %.9f)", a2[0], a2[1]);

    free(Q1); free(Q2); free(V1); free(V2); free(G); free(phi); free(Gs); free(phis);
    free(R); free(V2r); free(phir); free(Q3); free(V3); free(w);
}

static void test_phi_random(void)
{
    /* E[φ(i, j)] = max(i, j)/n exactly for independent uniform subspaces
     * (E‖V1[:i]ᵀV2[:j]‖² = i·j/n) */
    int n = 200, p = 10, trials = 200;
    uint64_t rng;
    lsc_rng_seed(&rng, 99);
    double *mean = dalloc((size_t)p * p), *G = dalloc((size_t)p * p), *phi = dalloc((size_t)p * p);
    for (int t = 0; t < trials; t++) {
        double *Q1 = rand_orth(n, p, &rng), *Q2 = rand_orth(n, p, &rng);
        double *V1 = transpose(n, p, Q1), *V2 = transpose(n, p, Q2);
        lsc_subspace_gram(n, p, V1, p, V2, G);
        lsc_phi_grid(p, p, G, phi);
        for (int i = 0; i < p * p; i++)
            mean[i] += phi[i] / trials;
        free(Q1); free(Q2); free(V1); free(V2);
    }
    int bad = 0;
    double worst = 0.0, tot = 0.0, tot_expect = 0.0;
    for (int i = 1; i <= p; i++)
        for (int j = 1; j <= p; j++) {
            double expect = (double)(i > j ? i : j) / n;
            /* ‖·‖² ~ (1/n)·χ²-like with i·j terms: relative sd ≈ sqrt(2/(i·j)) per trial */
            double sd = expect * sqrt(2.0 / (i * j)) / sqrt((double)trials);
            double z = fabs(mean[(size_t)(i - 1) * p + j - 1] - expect) / sd;
            worst = fmax(worst, z);
            if (z > 5.0)
                bad++;
            tot += mean[(size_t)(i - 1) * p + j - 1];
            tot_expect += expect;
        }
    CHECK(bad == 0, "phi random: mean φ(i,j) ≈ max(i,j)/n in every cell (worst %.1f sd)", worst);
    CHECK(fabs(tot / tot_expect - 1.0) < 0.05, "phi random: grid average / expectation = %.3f",
          tot / tot_expect);
    free(mean); free(G); free(phi);
}

static void test_random_orthonormal(void)
{
    uint64_t a, b;
    lsc_rng_seed(&a, 3);
    lsc_rng_seed(&b, 3);
    double *Q1 = rand_orth(300, 16, &a), *Q2 = rand_orth(300, 16, &b), *Q3 = rand_orth(300, 16, &a);
    double e = orth_err_cols(300, 16, Q1, 16);
    CHECK(e <= 8 * 300 * DBL_EPSILON, "random orthonormal: QᵀQ = I (%.1e)", e);
    CHECK(memcmp(Q1, Q2, 300 * 16 * sizeof *Q1) == 0, "random orthonormal: same seed, same basis");
    CHECK(memcmp(Q1, Q3, 300 * 16 * sizeof *Q1) != 0, "random orthonormal: stream advances");
    lsc_error err = {0};
    double w[64], Q[4];
    int rc = lsc_random_orthonormal(2, 3, &a, Q, w, 64, &err);
    CHECK(rc == LSC_EARG && strstr(err.msg, "dimension 2"), "random orthonormal p > n: LSC_EARG (%s)", err.msg);
    free(Q1); free(Q2); free(Q3);
}

// ---- Table 7 ----

static void test_table7(void)
{
    /* W = U0·diag(σ)·V0ᵀ with known σ; dW = s·B·A built on W's own singular
     * directions r+1..2r. Then:
     *   proj with W's top-r            = sqrt(Σ_{i<=r} σ_i²)
     *   proj with dW's top-r           = sqrt(Σ_{r<i<=2r} σ_i²)
     *   random: E‖UᵀWV‖²_F = r²·‖W‖²_F/(d·k) */
    int d = 150, k = 110, r = 4, full = 110;
    uint64_t rng;
    lsc_rng_seed(&rng, 2021);
    double *U0 = rand_orth(d, full, &rng), *V0 = rand_orth(k, full, &rng);
    double *sig = dalloc((size_t)full);
    for (int i = 0; i < full; i++)
        sig[i] = 20.0 / (1.0 + i);
    double *W = make_rank(d, k, full, sig, U0, V0);
    double *B = dalloc((size_t)d * r), *A = dalloc((size_t)r * k);
    double dsig[4] = {4.0, 3.0, 2.0, 1.0};
    for (int l = 0; l < r; l++) {
        for (int i = 0; i < d; i++)
            B[(size_t)i * r + l] = U0[(size_t)i * full + r + l] * dsig[l];
        for (int j = 0; j < k; j++)
            A[(size_t)l * k + j] = V0[(size_t)j * full + r + l];
    }
    double s = 0.5;
    double S[4], *U = dalloc((size_t)d * r), *Vt = dalloc((size_t)r * k);
    size_t lw = lsc_lowrank_svd_work_size(d, k, r, 1);
    double *w = dalloc(lw);
    int rc = lsc_lowrank_svd(d, k, r, s, B, A, S, U, Vt, w, lw, NULL);
    double *pw = dalloc(lsc_proj_fro_work_size(d, k, r));
    double proj_delta = lsc_proj_fro(d, k, W, r, U, r, Vt, k, pw);
    double want = 0.0;
    for (int i = r; i < 2 * r; i++)
        want += sig[i] * sig[i];
    want = sqrt(want);
    CHECK(rc == LSC_OK && test_reldiff(proj_delta, want) <= 1e-12,
          "table7: proj_delta = sqrt(Σ σ_{r+1..2r}²) = %.12f (got %.12f)", want, proj_delta);
    double delta_fro = 0.0;
    for (int l = 0; l < r; l++)
        delta_fro += (s * dsig[l]) * (s * dsig[l]);
    delta_fro = sqrt(delta_fro);
    double sfro = 0.0;
    for (int l = 0; l < r; l++)
        sfro += S[l] * S[l];
    CHECK(test_reldiff(sqrt(sfro), delta_fro) <= 1e-13, "table7: ‖dW‖_F from σ = %.6f", delta_fro);
    CHECK(test_reldiff(delta_fro / proj_delta, 0.5 * sqrt(30.0) / want) <= 1e-12,
          "table7: amplification = ‖dW‖_F / proj_delta = %.6f", delta_fro / proj_delta);

    /* W's own top-r through lsc_svd_topk */
    double Sw[4], *Uw = dalloc((size_t)d * r), *Vw = dalloc((size_t)r * k);
    size_t lt = lsc_svd_topk_work_size(d, k, r, LSC_TOPK_AUTO);
    double *wt = dalloc(lt);
    rc = lsc_svd_topk(d, k, r, W, Sw, Uw, Vw, LSC_TOPK_AUTO, 1, wt, lt, NULL, NULL);
    double proj_base = lsc_proj_fro(d, k, W, r, Uw, r, Vw, k, pw);
    want = 0.0;
    for (int i = 0; i < r; i++)
        want += sig[i] * sig[i];
    want = sqrt(want);
    CHECK(rc == LSC_OK && test_reldiff(proj_base, want) <= 1e-12,
          "table7: proj_base = sqrt(Σ_{i<=r} σ_i²) = %.12f (got %.12f)", want, proj_base);

    /* a K < r subset: proj_delta with the top-2 directions of dW */
    double p2 = lsc_proj_fro(d, k, W, 2, U, r, Vt, k, pw);
    double w2 = sqrt(sig[r] * sig[r] + sig[r + 1] * sig[r + 1]);
    CHECK(test_reldiff(p2, w2) <= 1e-12, "table7: --rank 2 subset = %.9f (got %.9f)", w2, p2);

    /* random U, V: E‖UᵀWV‖² = r²‖W‖²/(dk), averaged over trials */
    double wfro2 = 0.0;
    for (int i = 0; i < full; i++)
        wfro2 += sig[i] * sig[i];
    double acc = 0.0;
    int trials = 200;
    for (int t = 0; t < trials; t++) {
        double *Ur = rand_orth(d, r, &rng), *Vr = rand_orth(k, r, &rng);
        double *Vrt = transpose(k, r, Vr);
        double pr = lsc_proj_fro(d, k, W, r, Ur, r, Vrt, k, pw);
        acc += pr * pr / trials;
        free(Ur); free(Vr); free(Vrt);
    }
    double expect = (double)r * r * wfro2 / ((double)d * k);
    CHECK(fabs(acc / expect - 1.0) < 0.25, "table7: random E‖UᵀWV‖² / (r²‖W‖²/dk) = %.3f", acc / expect);

    double fro = lsc_fro_norm((size_t)d * k, W);
    CHECK(test_reldiff(fro, sqrt(wfro2)) <= 1e-12, "fro_norm(W) = sqrt(Σσ²) (%.12f)", fro);
    double big[3] = {1e200, 1e200, 0};
    CHECK(test_reldiff(lsc_fro_norm(3, big), sqrt(2.0) * 1e200) < 1e-15, "fro_norm does not overflow");
    free(U0); free(V0); free(sig); free(W); free(B); free(A); free(U); free(Vt); free(w);
    free(pw); free(Uw); free(Vw); free(wt);
}

static void test_errors(void)
{
    double M[6] = {1, 2, 3, 4, NAN, 6}, S[2];
    size_t lw = lsc_svd_work_size(2, 3, 0);
    double *w = dalloc(lw);
    lsc_error err = {0};
    int rc = lsc_svd(2, 3, M, S, NULL, NULL, w, lw, &err);
    CHECK(rc == LSC_ENAN && strstr(err.msg, "2 x 3"), "svd NaN input: LSC_ENAN naming dims (%s)", err.msg);
    free(w);
}

int main(void)
{
    test_svd_known_rank(60, 40, 10);
    test_svd_known_rank(30, 70, 7);
    test_svd_known_rank(25, 25, 25);
    test_lowrank(200, 120, 8, 2.0, 1);
    test_lowrank(64, 300, 16, 0.5, 2);
    test_lowrank(50, 50, 1, 32.0, 3);
    test_lowrank(40, 30, 30, 1.0, 4);     /* r = min(d, k) */
    test_lowrank(20, 12, 16, 1.0, 5);     /* r > min(d, k): dense route */
    test_lowrank_known();
    test_topk(600, 400, 8, 1, LSC_TOPK_ITERATIVE);
    test_topk(300, 500, 4, 1, LSC_TOPK_ITERATIVE);
    test_topk(400, 300, 8, 0, LSC_TOPK_DENSE);
    test_topk(60, 50, 5, 1, LSC_TOPK_DENSE);  /* too small to iterate */
    test_topk_cluster(LSC_TOPK_DENSE);
    test_topk_cluster(LSC_TOPK_AUTO);
    test_phi();
    test_phi_random();
    test_random_orthonormal();
    test_table7();
    test_errors();
    return test_summary();
}
