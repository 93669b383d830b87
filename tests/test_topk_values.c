/*
 * test_topk_values.c — the float-input paths of linalg.c that amplify uses
 * for speed: lsc_svd_topk_values (W's top-K singular values by subspace
 * iteration on WᵀW with a double Rayleigh-Ritz bound) against the dense
 * double SVD, and lsc_matmul_f32d / lsc_proj_fro_f32 against plain double
 * loops and the double lsc_proj_fro. Matrices of known structure, fixed
 * seeds.
 */
#include <float.h>

#include "lsc_internal.h"
#include "test.h"

/* M (m, n) float: sum of p spikes s_i·u_i v_iᵀ, s_i = top·decay^i, on
 * Gaussian noise of standard deviation noise. p = 0: noise only. */
static void make_matrix(int m, int n, int p, double top, double decay, double noise,
                        uint64_t seed, float *M)
{
    uint64_t rng;
    lsc_rng_seed(&rng, seed);
    size_t mz = (size_t)m, nz = (size_t)n;
    double *U = malloc(mz * (size_t)(p > 0 ? p : 1) * sizeof *U);
    double *V = malloc(nz * (size_t)(p > 0 ? p : 1) * sizeof *V);
    size_t lw = lsc_random_orthonormal_work_size(m > n ? m : n, p > 0 ? p : 1);
    double *w = malloc(lw * sizeof *w);
    if (p > 0) {
        lsc_random_orthonormal(m, p, &rng, U, w, lw, NULL);
        lsc_random_orthonormal(n, p, &rng, V, w, lw, NULL);
    }
    for (size_t i = 0; i < mz; i++)
        for (size_t j = 0; j < nz; j++) {
            double x = noise * lsc_rng_normal(&rng);
            double s = top;
            for (int c = 0; c < p; c++, s *= decay)
                x += s * U[i * (size_t)p + (size_t)c] * V[j * (size_t)p + (size_t)c];
            M[i * nz + j] = (float)x;
        }
    free(U); free(V); free(w);
}

/* top-kk singular values of the double copy of M by the dense SVD */
static void dense_topk(int m, int n, int kk, const float *M, double *S)
{
    size_t mn = (size_t)m * (size_t)n;
    double *Md = malloc(mn * sizeof *Md);
    for (size_t i = 0; i < mn; i++)
        Md[i] = M[i];
    size_t lw = lsc_svd_topk_work_size(m, n, kk, LSC_TOPK_DENSE);
    double *w = malloc(lw * sizeof *w);
    lsc_svd_topk(m, n, kk, Md, S, NULL, NULL, LSC_TOPK_DENSE, 1, w, lw, NULL, NULL);
    free(Md); free(w);
}

/* max_i |a_i − b_i| / max(|b_i|, floor) */
static double max_rel(int n, const double *a, const double *b, double floor)
{
    double e = 0.0;
    for (int i = 0; i < n; i++)
        e = fmax(e, fabs(a[i] - b[i]) / fmax(fabs(b[i]), floor));
    return e;
}

static int topk_case(const char *name, int m, int n, int kk, int p, double noise,
                     double tol_check, lsc_topk_method *method)
{
    size_t mn = (size_t)m * (size_t)n;
    float *M = malloc(mn * sizeof *M);
    make_matrix(m, n, p, 10.0, 0.85, noise, 7 + (uint64_t)m, M);
    double *S = calloc((size_t)kk, sizeof *S), *Sd = calloc((size_t)kk, sizeof *Sd);
    size_t lw = lsc_svd_topk_values_work_size(m, n, kk);
    double *w = malloc(lw * sizeof *w);
    lsc_topk_info info;
    lsc_error err = {0};
    int rc = lsc_svd_topk_values(m, n, kk, M, S, 1e-10, 3, w, lw, &info, &err);
    dense_topk(m, n, kk, M, Sd);
    double e = max_rel(kk, S, Sd, 1e-12 * fmax(Sd[0], 1e-300));
    int ok = CHECK(rc == LSC_OK && e <= tol_check,
                   "topk_values %s (%dx%d, K=%d): = dense SVD, max rel diff %.2e (method %s, %d "
                   "iterations, bound %.1e)", name, m, n, kk, e,
                   info.method == LSC_TOPK_ITERATIVE ? "iterative" : "dense", info.iterations,
                   info.residual);
    /* the same with the matrix transposed: the same values */
    float *Mt = malloc(mn * sizeof *Mt);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++)
            Mt[(size_t)j * (size_t)m + (size_t)i] = M[(size_t)i * (size_t)n + (size_t)j];
    double *St = calloc((size_t)kk, sizeof *St);
    size_t lwt = lsc_svd_topk_values_work_size(n, m, kk);
    double *wt = malloc(lwt * sizeof *wt);
    rc = lsc_svd_topk_values(n, m, kk, Mt, St, 1e-10, 3, wt, lwt, NULL, &err);
    CHECK(rc == LSC_OK && max_rel(kk, St, Sd, 1e-12 * fmax(Sd[0], 1e-300)) <= tol_check,
          "topk_values %s: the transpose has the same values", name);
    if (method)
        *method = info.method;
    free(M); free(Mt); free(S); free(St); free(Sd); free(w); free(wt);
    return ok;
}

static void test_topk_values(void)
{
    lsc_topk_method meth;
    /* spiked: the shape of trained weights; must take the iterative path */
    topk_case("spiked", 300, 700, 8, 32, 0.02, 1e-10, &meth);
    CHECK(meth == LSC_TOPK_ITERATIVE, "topk_values spiked: the iterative path is taken");
    topk_case("spiked, K=20 (block of 32)", 260, 420, 20, 40, 0.01, 1e-10, NULL);
    topk_case("spiked, m not a multiple of 4", 301, 259, 8, 24, 0.02, 1e-10, NULL);
    /* no gap at all (pure noise): slow convergence, still within tolerance */
    topk_case("gaussian", 200, 300, 8, 0, 1.0, 1e-10, NULL);
    /* small: the dense path */
    topk_case("small (dense path)", 40, 60, 4, 6, 0.01, 1e-12, &meth);
    CHECK(meth == LSC_TOPK_DENSE, "topk_values small: dense path");

    /* rank 3 with K = 8: three values right, the rest (numerically) zero */
    int m = 240, n = 300, kk = 8;
    size_t mn = (size_t)m * (size_t)n;
    float *M = malloc(mn * sizeof *M);
    make_matrix(m, n, 3, 5.0, 0.5, 0.0, 11, M);
    double S[8], Sd[8];
    size_t lw = lsc_svd_topk_values_work_size(m, n, kk);
    double *w = malloc(lw * sizeof *w);
    lsc_error err = {0};
    int rc = lsc_svd_topk_values(m, n, kk, M, S, 1e-10, 3, w, lw, NULL, &err);
    dense_topk(m, n, kk, M, Sd);
    double tail = 0.0;
    for (int i = 3; i < kk; i++)
        tail = fmax(tail, S[i]);
    CHECK(rc == LSC_OK && max_rel(3, S, Sd, 0.0) <= 1e-10 && tail <= 1e-6 * S[0],
          "topk_values rank 3, K=8: top 3 = dense (%.1e), the rest ~0 (%.1e of sigma_1)",
          max_rel(3, S, Sd, 0.0), tail / S[0]);
    /* zero matrix */
    memset(M, 0, mn * sizeof *M);
    rc = lsc_svd_topk_values(m, n, kk, M, S, 1e-10, 3, w, lw, NULL, &err);
    double mx = 0.0;
    for (int i = 0; i < kk; i++)
        mx = fmax(mx, fabs(S[i]));
    CHECK(rc == LSC_OK && mx == 0.0, "topk_values of a zero matrix: all zero");
    /* NaN */
    M[17] = NAN;
    rc = lsc_svd_topk_values(m, n, kk, M, S, 1e-10, 3, w, lw, NULL, &err);
    CHECK(rc == LSC_ENAN && strstr(err.msg, "NaN") != NULL, "topk_values NaN input: LSC_ENAN (%s)",
          err.msg);
    /* determinism: same seed, same bits */
    make_matrix(m, n, 16, 8.0, 0.8, 0.02, 5, M);
    double S1[8], S2[8];
    lsc_svd_topk_values(m, n, kk, M, S1, 1e-10, 9, w, lw, NULL, &err);
    lsc_svd_topk_values(m, n, kk, M, S2, 1e-10, 9, w, lw, NULL, &err);
    CHECK(memcmp(S1, S2, sizeof S1) == 0, "topk_values: same seed, same bits");
    free(M); free(w);

    /* kk beyond min(m, n): zero-padded */
    float small[6] = {1, 2, 3, 4, 5, 7};   /* 2 x 3 */
    double s5[5];
    size_t lw5 = lsc_svd_topk_values_work_size(2, 3, 5);
    double *w5 = malloc(lw5 * sizeof *w5);
    rc = lsc_svd_topk_values(2, 3, 5, small, s5, 1e-10, 1, w5, lw5, NULL, &err);
    CHECK(rc == LSC_OK && s5[0] > s5[1] && s5[1] > 0 && s5[2] == 0 && s5[4] == 0,
          "topk_values K > min(m, n): zero-padded");
    free(w5);
}

static void test_matmul_f32d(void)
{
    uint64_t rng;
    lsc_rng_seed(&rng, 21);
    const int ps[] = {1, 7, 8, 13, 16, 24};
    for (size_t t = 0; t < sizeof ps / sizeof ps[0]; t++) {
        int m = 37, n = 53, p = ps[t];
        float *M = malloc((size_t)m * n * sizeof *M);
        double *X = malloc((size_t)n * p * sizeof *X), *Y = malloc((size_t)m * p * sizeof *Y);
        for (int i = 0; i < m * n; i++)
            M[i] = (float)lsc_rng_normal(&rng);
        for (int i = 0; i < n * p; i++)
            X[i] = lsc_rng_normal(&rng);
        lsc_matmul_f32d(m, n, p, M, X, Y);
        double e = 0.0, sc = 0.0;
        for (int i = 0; i < m; i++)
            for (int c = 0; c < p; c++) {
                double s = 0.0;
                for (int j = 0; j < n; j++)
                    s += (double)M[i * n + j] * X[j * p + c];
                e = fmax(e, fabs(s - Y[i * p + c]));
                sc = fmax(sc, fabs(s));
            }
        CHECK(e <= 64 * DBL_EPSILON * n * sc, "matmul_f32d (37x53)·(53x%d) = double loops (%.1e)",
              p, e / sc);
        free(M); free(X); free(Y);
    }
    /* lsc_proj_fro_f32 = lsc_proj_fro on the double copy */
    int d = 90, k = 70, K = 5;
    float *W = malloc((size_t)d * k * sizeof *W);
    double *Wd = malloc((size_t)d * k * sizeof *Wd), *U = malloc((size_t)d * K * sizeof *U);
    double *Vt = malloc((size_t)K * k * sizeof *Vt);
    for (int i = 0; i < d * k; i++)
        Wd[i] = W[i] = (float)lsc_rng_normal(&rng);
    for (int i = 0; i < d * K; i++)
        U[i] = lsc_rng_normal(&rng);
    for (int i = 0; i < K * k; i++)
        Vt[i] = lsc_rng_normal(&rng);
    double *w1 = malloc(lsc_proj_fro_work_size(d, k, K) * sizeof *w1);
    double *w2 = malloc(lsc_proj_fro_f32_work_size(d, k, K) * sizeof *w2);
    double a = lsc_proj_fro(d, k, Wd, K, U, K, Vt, k, w1);
    double b = lsc_proj_fro_f32(d, k, W, K, U, K, Vt, k, w2);
    CHECK(test_reldiff(a, b) <= 1e-12, "proj_fro_f32 = proj_fro on the double copy (%.1e)",
          test_reldiff(a, b));
    free(W); free(Wd); free(U); free(Vt); free(w1); free(w2);
}

int main(void)
{
    test_topk_values();
    test_matmul_f32d();
    return test_summary();
}
