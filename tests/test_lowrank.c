/*
 * test_lowrank.c — lib/lowrank.c: the rank rules on known spectra, the
 * truncation errors in closed form, lsc_lowrank_truncate against the dense
 * oracle (lsc_lowrank_svd_dense and the dense product of the factors), the
 * balanced split, the exact identity at full rank, and lsc_lowrank_inner
 * against the dense Frobenius inner product.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lsc_internal.h"
#include "test.h"

static void fill(size_t n, float *x, double scale, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(scale * lsc_rng_normal(rng));
}

/* D (d, k) = s · B (d, r) · A (r, k), double */
static void dense(int d, int k, int r, double s, const float *B, const float *A, double *D)
{
    for (int i = 0; i < d; i++)
        for (int j = 0; j < k; j++) {
            double acc = 0.0;
            for (int q = 0; q < r; q++)
                acc += (double)B[i * r + q] * (double)A[q * k + j];
            D[i * k + j] = s * acc;
        }
}

static double fro_diff(size_t n, const double *x, const double *y)
{
    double a = 0.0;
    for (size_t i = 0; i < n; i++)
        a += (x[i] - y[i]) * (x[i] - y[i]);
    return sqrt(a);
}

static void test_rules(void)
{
    const double S[6] = {4.0, 3.0, 2.0, 1.0, 0.5, 0.0};   /* σ²: 16 9 4 1 .25 0, total 30.25 */
    CHECK(lsc_rank_choose(6, S, LSC_RANK_RULE_FIXED, 3) == 3, "fixed K = 3");
    CHECK(lsc_rank_choose(6, S, LSC_RANK_RULE_FIXED, 99) == 6, "fixed K clamped to n");
    CHECK(lsc_rank_choose(6, S, LSC_RANK_RULE_ENERGY, 0.5) == 1, "energy 0.5: 16/30.25 = 0.53 -> K = 1");
    CHECK(lsc_rank_choose(6, S, LSC_RANK_RULE_ENERGY, 0.9) == 3, "energy 0.9: 29/30.25 = 0.959 -> K = 3");
    CHECK(lsc_rank_choose(6, S, LSC_RANK_RULE_ENERGY, 0.96) == 4, "energy 0.96: 30/30.25 -> K = 4");
    CHECK(lsc_rank_choose(6, S, LSC_RANK_RULE_ENERGY, 1.0) == 5, "energy 1: every non-zero sigma -> K = 5");
    CHECK(lsc_rank_choose(6, S, LSC_RANK_RULE_SV_RATIO, 2.5) == 3, "sv-ratio 2.5: sigma > 1.6 -> K = 3");
    CHECK(lsc_rank_choose(6, S, LSC_RANK_RULE_SV_RATIO, 1.0) == 1, "sv-ratio 1: at least 1");
    const double Z[3] = {0, 0, 0};
    CHECK(lsc_rank_choose(3, Z, LSC_RANK_RULE_ENERGY, 0.9) == 1 &&
          lsc_rank_choose(3, Z, LSC_RANK_RULE_SV_RATIO, 10) == 1, "dW = 0: K = 1");
    double f, sp, fro;
    lsc_truncation_errors(6, S, 2, &f, &sp, &fro);
    CHECK(fabs(f - sqrt(5.25 / 30.25)) < 1e-15 && fabs(sp - 0.5) < 1e-15 && fabs(fro - 5.5) < 1e-15,
          "errors at K = 2: rel_fro sqrt(5.25/30.25), rel_spec 2/4, fro 5.5");
    lsc_truncation_errors(6, S, 6, &f, &sp, NULL);
    CHECK(f == 0.0 && sp == 0.0, "errors at K = n: 0");
    lsc_truncation_errors(3, Z, 1, &f, &sp, NULL);
    CHECK(isnan(f) && isnan(sp), "errors of dW = 0: NaN");
}

static void test_truncate(int d, int k, int r, int K, double s, uint64_t *rng)
{
    size_t dr = (size_t)d * r, rk = (size_t)r * k, dk = (size_t)d * k;
    float *B = malloc(dr * sizeof *B), *A = malloc(rk * sizeof *A);
    float *Bk = malloc(dr * sizeof *Bk), *Ak = malloc(rk * sizeof *Ak);
    double *S = malloc((size_t)r * sizeof *S), *S2 = malloc((size_t)r * sizeof *S2);
    double *D = malloc(dk * sizeof *D), *Dk = malloc(dk * sizeof *Dk);
    size_t lw = lsc_lowrank_truncate_work_size(d, k, r), lw2 = lsc_lowrank_svd_dense_work_size(d, k, r, 0);
    double *w = malloc((lw > lw2 ? lw : lw2) * sizeof *w), *Bd = malloc(dr * sizeof *Bd), *Ad = malloc(rk * sizeof *Ad);
    fill(dr, B, 1.0, rng);
    fill(rk, A, 1.0 / sqrt(k), rng);
    int got = -1;
    int rc = lsc_lowrank_truncate(d, k, r, s, B, A, LSC_RANK_RULE_FIXED, K, &got, S, Bk, Ak, w, lw, NULL);
    CHECK(rc == LSC_OK && got == K, "truncate %dx%d r=%d -> K=%d: ok", d, k, r, K);
    for (size_t i = 0; i < dr; i++)
        Bd[i] = B[i];
    for (size_t i = 0; i < rk; i++)
        Ad[i] = A[i];
    lsc_lowrank_svd_dense(d, k, r, s, Bd, Ad, S2, NULL, NULL, w, lw2, NULL);
    int n = r < d ? (r < k ? r : k) : (d < k ? d : k);
    double md = 0.0;
    for (int i = 0; i < n; i++)
        md = fmax(md, fabs(S[i] - S2[i]) / S2[0]);
    CHECK(md < 1e4 * n * DBL_EPSILON, "truncate: singular values = dense oracle (max rel %.1e)", md);
    dense(d, k, r, s, B, A, D);
    dense(d, k, K, 1.0, Bk, Ak, Dk);
    double rf, rs, fro;
    lsc_truncation_errors(n, S, K, &rf, &rs, &fro);
    double e = fro_diff(dk, D, Dk) / fro;
    CHECK(fabs(e - rf) < 1e-6, "truncate: |dW - B'A'|_F/|dW|_F = %.3e = reported %.3e", e, rf);
    /* balanced: B'ᵀB' = A'A'ᵀ = diag(σ_K) */
    double bal = 0.0;
    for (int p = 0; p < K; p++)
        for (int q = 0; q < K; q++) {
            double gb = 0.0, ga = 0.0;
            for (int i = 0; i < d; i++)
                gb += (double)Bk[i * K + p] * Bk[i * K + q];
            for (int j = 0; j < k; j++)
                ga += (double)Ak[p * k + j] * Ak[q * k + j];
            double want = p == q ? S[p] : 0.0;
            bal = fmax(bal, fmax(fabs(gb - want), fabs(ga - want)) / S[0]);
        }
    CHECK(bal < 1e-5, "truncate: B'^T B' = A' A'^T = diag(sigma_K) (max %.1e)", bal);
    free(B); free(A); free(Bk); free(Ak); free(S); free(S2); free(D); free(Dk); free(w); free(Bd); free(Ad);
}

static void test_identity_and_inner(uint64_t *rng)
{
    int d = 30, k = 20, r = 5, r2 = 3;
    float B[30 * 5], A[5 * 20], Bk[30 * 5], Ak[5 * 20], B2[30 * 3], A2[3 * 20];
    double S[5], D[600], Dk[600], D2[600];
    fill(sizeof B / sizeof *B, B, 1.0, rng);
    fill(sizeof A / sizeof *A, A, 0.3, rng);
    fill(sizeof B2 / sizeof *B2, B2, 1.0, rng);
    fill(sizeof A2 / sizeof *A2, A2, 0.3, rng);
    size_t lw = lsc_lowrank_truncate_work_size(d, k, r);
    double *w = malloc(lw * sizeof *w);
    int K = 0;
    int rc = lsc_lowrank_truncate(d, k, r, 2.5, B, A, LSC_RANK_RULE_ENERGY, 1.0, &K, S, Bk, Ak, w, lw, NULL);
    dense(d, k, r, 2.5, B, A, D);
    dense(d, k, K, 1.0, Bk, Ak, Dk);
    double fro = fro_diff(600, D, (double[600]){0});
    CHECK(rc == LSC_OK && K == r && fro_diff(600, D, Dk) / fro < 1e-6,
          "truncate at full rank reproduces dW (rel %.1e)", fro_diff(600, D, Dk) / fro);
    double wi[2 * 5 * 5 + 1];
    double in = lsc_lowrank_inner(d, k, r, 2.5, B, A, r2, -0.7, B2, A2, wi);
    dense(d, k, r2, -0.7, B2, A2, D2);
    double want = 0.0;
    for (int i = 0; i < 600; i++)
        want += D[i] * D2[i];
    CHECK(fabs(in - want) < 1e-10 * fabs(want) + 1e-12, "inner <dW1, dW2>_F = dense (%.6g vs %.6g)", in, want);
    double self = lsc_lowrank_inner(d, k, r, 2.5, B, A, r, 2.5, B, A, wi);
    CHECK(fabs(sqrt(self) - fro) < 1e-10 * fro, "inner <dW, dW> = |dW|_F^2");
    float Bn[30 * 5];
    memcpy(Bn, B, sizeof Bn);
    Bn[7] = NAN;
    CHECK(lsc_lowrank_truncate(d, k, r, 1.0, Bn, A, LSC_RANK_RULE_FIXED, 2, &K, S, Bk, Ak, w, lw, NULL) == LSC_ENAN,
          "truncate: NaN input -> LSC_ENAN");
    free(w);
}

/* Rank-deficient and zero factors: the Gram path declines, the Householder path gives the same answer. */
static void test_degenerate(uint64_t *rng)
{
    enum { d = 25, k = 18, r = 6 };
    float B[d * r], A[r * k], Bk[d * r], Ak[r * k];
    double S[r], D[d * k], Dk[d * k];
    fill(d * r, B, 1.0, rng);
    fill(r * k, A, 0.5, rng);
    for (int i = 0; i < d; i++)
        B[i * r + 4] = B[i * r + 1];   /* two equal columns: rank(B) = 5 */
    size_t lw = lsc_lowrank_truncate_work_size(d, k, r);
    double *w = malloc(lw * sizeof *w);
    int K = 0;
    int rc = lsc_lowrank_truncate(d, k, r, 1.5, B, A, LSC_RANK_RULE_FIXED, r, &K, S, Bk, Ak, w, lw, NULL);
    dense(d, k, r, 1.5, B, A, D);
    dense(d, k, K, 1.0, Bk, Ak, Dk);
    double fro = 0.0;
    for (int i = 0; i < d * k; i++)
        fro += D[i] * D[i];
    fro = sqrt(fro);
    CHECK(rc == LSC_OK && K == r && fro_diff((size_t)d * k, D, Dk) / fro < 1e-6 && S[5] < 1e-6 * S[0],
          "rank-deficient B: dW reproduced (rel %.1e), sigma_6 = %.1e ~ 0", fro_diff((size_t)d * k, D, Dk) / fro, S[5]);
    rc = lsc_lowrank_truncate(d, k, r, 1.5, B, A, LSC_RANK_RULE_ENERGY, 1.0, &K, S, Bk, Ak, w, lw, NULL);
    CHECK(rc == LSC_OK && K == 5, "rank-deficient B: energy 1 keeps the 5 non-zero directions (K = %d)", K);
    /* conditioned at the Gram path's limit: columns of B scaled over 3 decades (κ(B)² ~ 1e6) */
    fill(d * r, B, 1.0, rng);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < r; j++)
            B[i * r + j] *= (float)pow(10.0, -0.6 * j);
    double S2[r];
    double *Bd = malloc(sizeof(double) * d * r), *Ad = malloc(sizeof(double) * r * k);
    size_t lw2 = lsc_lowrank_svd_dense_work_size(d, k, r, 0);
    double *w2 = malloc(lw2 * sizeof *w2);
    for (int i = 0; i < d * r; i++)
        Bd[i] = B[i];
    for (int i = 0; i < r * k; i++)
        Ad[i] = A[i];
    lsc_lowrank_svd_dense(d, k, r, 1.5, Bd, Ad, S2, NULL, NULL, w2, lw2, NULL);
    rc = lsc_lowrank_truncate(d, k, r, 1.5, B, A, LSC_RANK_RULE_FIXED, 4, &K, S, Bk, Ak, w, lw, NULL);
    double md = 0.0;
    for (int i = 0; i < r; i++)
        md = fmax(md, fabs(S[i] - S2[i]) / S2[0]);
    dense(d, k, r, 1.5, B, A, D);
    dense(d, k, K, 1.0, Bk, Ak, Dk);
    double rf, rsp, f2;
    lsc_truncation_errors(r, S, K, &rf, &rsp, &f2);
    CHECK(rc == LSC_OK && md < 1e-10 && fabs(fro_diff((size_t)d * k, D, Dk) / f2 - rf) < 1e-6,
          "ill-conditioned B (kappa ~ 1e3): sigma = dense oracle (%.1e), error = reported", md);
    free(Bd), free(Ad), free(w2);
    memset(B, 0, sizeof B);
    rc = lsc_lowrank_truncate(d, k, r, 1.5, B, A, LSC_RANK_RULE_ENERGY, 0.9, &K, S, Bk, Ak, w, lw, NULL);
    int zero = 1;
    for (int i = 0; i < d * K; i++)
        zero &= Bk[i] == 0.0f;
    CHECK(rc == LSC_OK && K == 1 && S[0] == 0.0 && zero, "B = 0 (a fresh adapter): K = 1, factors 0");
    free(w);
}

int main(void)
{
    uint64_t rng;
    lsc_rng_seed(&rng, 20);
    test_rules();
    test_truncate(40, 30, 8, 3, 2.0, &rng);
    test_truncate(64, 17, 6, 6, 0.5, &rng);
    test_truncate(12, 9, 16, 4, 1.0, &rng);   /* r > min(d, k): the dense path inside */
    test_identity_and_inner(&rng);
    test_degenerate(&rng);
    return test_summary();
}
