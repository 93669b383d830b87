/*
 * grassmann.c — subspaces and projections: the Gram matrix of two
 * orthonormal bases, the φ grid of the LoRA paper (Eq. 4) through a 2-D
 * prefix sum, principal angles, seeded random orthonormal bases, and the
 * Table-7 projection norm ‖UᵀWV‖_F (W double or float) with the
 * overflow-safe Frobenius norm; the null draws of φ and of ‖UᵀWV‖_F for
 * uniformly random subspaces and frames.
 *
 * Not here: the SVDs the bases come from (linalg.c, topk.c), and the
 * summaries of null draws (means, quantiles, p-values). No allocation:
 * callers pass *_work_size() doubles of work.
 */
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "lsc_internal.h"

// ---- subspace similarity ----

void lsc_subspace_gram(int n, int p1, const double *Vt1, int p2, const double *Vt2,
                       double *G)
{
    if (p1 <= 0 || p2 <= 0)
        return;
    if (n <= 0) {
        memset(G, 0, (size_t)p1 * (size_t)p2 * sizeof *G);
        return;
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, p1, p2, n, 1.0, Vt1, n, Vt2, n,
                0.0, G, p2);
}

void lsc_phi_grid(int p1, int p2, const double *G, double *phi)
{
    size_t a = (size_t)(p1 > 0 ? p1 : 0), b = (size_t)(p2 > 0 ? p2 : 0);
    /* 2-D prefix sum of G∘G: P[i][j] = Σ_{a<=i, b<=j} G[a][b]² */
    for (size_t i = 0; i < a; i++)
        for (size_t j = 0; j < b; j++) {
            double g = G[i * b + j];
            double v = g * g;
            if (i > 0) v += phi[(i - 1) * b + j];
            if (j > 0) v += phi[i * b + j - 1];
            if (i > 0 && j > 0) v -= phi[(i - 1) * b + j - 1];
            phi[i * b + j] = v;
        }
    for (size_t i = 0; i < a; i++)
        for (size_t j = 0; j < b; j++) {
            double v = phi[i * b + j] / (double)((i < j ? i : j) + 1);
            /* the prefix sum of nonnegative terms can drift a few ulps */
            phi[i * b + j] = v < 0.0 ? 0.0 : v;
        }
}

size_t lsc_principal_angles_work_size(int p1, int p2)
{
    if (p1 <= 0 || p2 <= 0)
        return 1;
    return (size_t)lsc_mini_(p1, p2) + lsc_svd_work_size(p1, p2, 0);
}

int lsc_principal_angles(int p1, int p2, const double *G, double *deg, double *work,
                         size_t lwork, lsc_error *err)
{
    if (p1 <= 0 || p2 <= 0)
        return LSC_OK;
    LSC_ASSERT(lwork >= lsc_principal_angles_work_size(p1, p2));
    int p = lsc_mini_(p1, p2);
    double *cs = work;
    int rc = lsc_svd(p1, p2, G, cs, NULL, NULL, cs + p, lwork - (size_t)p, err);
    if (rc != LSC_OK)
        return rc;
    const double to_deg = 180.0 / 3.14159265358979323846;
    for (int i = 0; i < p; i++) {
        double c = cs[i] > 1.0 ? 1.0 : (cs[i] < 0.0 ? 0.0 : cs[i]);
        deg[i] = acos(c) * to_deg;   /* ascending: cosines come descending */
    }
    return LSC_OK;
}

// ---- random orthonormal bases ----

size_t lsc_random_orthonormal_work_size(int n, int p)
{
    if (n <= 0 || p <= 0)
        return 1;
    return (size_t)p + lsc_qr_cols_lwork_(n, p);
}

int lsc_random_orthonormal(int n, int p, uint64_t *rng, double *Q, double *work,
                           size_t lwork, lsc_error *err)
{
    if (n <= 0 || p <= 0)
        return LSC_OK;
    if (p > n)
        LSC_FAIL(err, LSC_EARG, "linalg: cannot draw %d orthonormal vectors in dimension %d", p, n);
    LSC_ASSERT(lwork >= lsc_random_orthonormal_work_size(n, p));
    size_t np = (size_t)n * (size_t)p;
    for (size_t i = 0; i < np; i++)
        Q[i] = lsc_rng_normal(rng);
    /* the span of a Gaussian matrix is uniform on the Grassmannian */
    lsc_orthonormalize_cols_(n, p, Q, work, work + p, lwork - (size_t)p);
    return LSC_OK;
}

// ---- Table 7 ----

/* ‖Uᵀ·T‖_F for T = W·V (d, K) and U the first K columns of a (d, ldu)
 * array; P: K·K doubles of scratch. */
static double ut_fro(int d, int K, const double *U, int ldu, const double *T, double *P)
{
    size_t Kz = (size_t)K;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, K, d, 1.0, U, ldu, T, K,
                0.0, P, K);
    double ss = 0.0;
    for (size_t i = 0; i < Kz * Kz; i++)
        ss += P[i] * P[i];
    return sqrt(ss);
}

size_t lsc_proj_fro_work_size(int d, int k, int K)
{
    (void)k;
    if (d <= 0 || K <= 0)
        return 1;
    return (size_t)d * (size_t)K + (size_t)K * (size_t)K;
}

double lsc_proj_fro(int d, int k, const double *W, int K, const double *U, int ldu,
                    const double *Vt, int ldvt, double *work)
{
    if (d <= 0 || k <= 0 || K <= 0)
        return 0.0;
    size_t dz = (size_t)d, Kz = (size_t)K;
    double *T = work;               /* (d, K) = W·V */
    double *P = T + dz * Kz;        /* (K, K) = Uᵀ·W·V */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d, K, k, 1.0, W, k, Vt, ldvt,
                0.0, T, K);
    return ut_fro(d, K, U, ldu, T, P);
}

double lsc_fro_norm(size_t n, const double *x)
{
    /* scaled sum of squares, immune to overflow for huge entries */
    double scale = 0.0, ssq = 1.0;
    for (size_t i = 0; i < n; i++) {
        double a = fabs(x[i]);
        if (a == 0.0)
            continue;
        if (scale < a) {
            ssq = 1.0 + ssq * (scale / a) * (scale / a);
            scale = a;
        } else {
            ssq += (a / scale) * (a / scale);
        }
    }
    return scale * sqrt(ssq);
}

// ---- Table 7 projection with a float W ----

size_t lsc_proj_fro_f32_work_size(int d, int k, int K)
{
    if (d <= 0 || k <= 0 || K <= 0)
        return 1;
    return ((size_t)d + (size_t)k + (size_t)K) * (size_t)K;
}

double lsc_proj_fro_f32(int d, int k, const float *W, int K, const double *U, int ldu,
                        const double *Vt, int ldvt, double *work)
{
    if (d <= 0 || k <= 0 || K <= 0)
        return 0.0;
    size_t dz = (size_t)d, kz = (size_t)k, Kz = (size_t)K;
    double *V = work;               /* (k, K) = the first K rows of Vt, transposed */
    double *T = V + kz * Kz;        /* (d, K) = W·V, W promoted to double */
    double *P = T + dz * Kz;        /* (K, K) = Uᵀ·W·V */
    for (size_t c = 0; c < Kz; c++)
        for (size_t j = 0; j < kz; j++)
            V[j * Kz + c] = Vt[c * (size_t)ldvt + j];
    lsc_matmul_f32d(d, k, K, W, V, T);
    return ut_fro(d, K, U, ldu, T, P);
}

// ---- null draws: uniformly random subspaces and frames ----

/* By the rotation invariance of the Haar measure, one of two independent
 * uniformly random subspaces can be taken to be the first coordinate axes:
 * φ(1, 1) = (u·v)² has the law of v₁²/‖v‖² for one Gaussian v, and the Gram
 * matrix of a p1- and a p2-frame that of the first p1 rows of one random
 * p2-frame. Half the draws, the same distribution. */

void lsc_phi11_null(int n, int ndraws, uint64_t *rng, double *phi11)
{
    for (int t = 0; t < ndraws; t++) {
        double v1 = lsc_rng_normal(rng), ss = v1 * v1;
        for (int i = 1; i < n; i++) {
            double v = lsc_rng_normal(rng);
            ss += v * v;
        }
        phi11[t] = n > 0 ? v1 * v1 / ss : 0.0;
    }
}

size_t lsc_phi_null_work_size(int n, int p1, int p2)
{
    if (n <= 0 || p1 <= 0 || p2 <= 0)
        return 1;
    int p = lsc_mini_(p1, p2);
    return (size_t)n * (size_t)p + 2 * (size_t)p1 * (size_t)p2 + lsc_random_orthonormal_work_size(n, p);
}

int lsc_phi_null(int n, int p1, int p2, int ndraws, uint64_t *rng, double *phi, double *work,
                 size_t lwork, lsc_error *err)
{
    if (n <= 0 || p1 <= 0 || p2 <= 0 || ndraws <= 0)
        return LSC_OK;
    if (p1 > n || p2 > n)
        LSC_FAIL(err, LSC_EARG, "linalg: cannot draw %d- and %d-dimensional subspaces of R^%d", p1, p2, n);
    LSC_ASSERT(lwork >= lsc_phi_null_work_size(n, p1, p2));
    /* draw the frame of the smaller subspace; the other is the axes */
    int p = lsc_mini_(p1, p2), q = p1 + p2 - p;
    size_t g12 = (size_t)p1 * (size_t)p2, pz = (size_t)p;
    double *Q = work;                         /* (n, p) */
    double *G = Q + (size_t)n * pz;           /* (p1, p2) */
    double *w = G + g12;
    size_t lw = lwork - (size_t)n * pz - g12;
    for (int t = 0; t < ndraws; t++) {
        int rc = lsc_random_orthonormal(n, p, rng, Q, w, lw, err);
        if (rc != LSC_OK)
            return rc;
        /* G = first q rows of Q (q, p), transposed when the axes are the
         * second subspace (p1 > p2 never draws more than p2 columns) */
        for (size_t a = 0; a < (size_t)q; a++)
            for (size_t b = 0; b < pz; b++) {
                if (p == p2)
                    G[a * pz + b] = Q[a * pz + b];
                else
                    G[b * (size_t)q + a] = Q[a * pz + b];
            }
        lsc_phi_grid(p1, p2, G, phi + (size_t)t * g12);
    }
    return LSC_OK;
}

size_t lsc_proj_null_work_size(int d, int k, int K)
{
    if (d <= 0 || k <= 0 || K <= 0)
        return 1;
    size_t Kz = (size_t)K, mx = (size_t)(d > k ? d : k);
    return ((size_t)d + (size_t)k + mx + Kz) * Kz + lsc_random_orthonormal_work_size((int)mx, K);
}

int lsc_proj_null(int d, int k, int K, const float *W, int transposed, int ndraws, uint64_t *rng,
                  double *proj, double *work, size_t lwork, lsc_error *err)
{
    if (d <= 0 || k <= 0 || K <= 0 || ndraws <= 0)
        return LSC_OK;
    if (K > d || K > k)
        LSC_FAIL(err, LSC_EARG, "linalg: cannot draw %d orthonormal vectors in dimension %d", K,
                 d < k ? d : k);
    LSC_ASSERT(lwork >= lsc_proj_null_work_size(d, k, K));
    size_t dz = (size_t)d, kz = (size_t)k, Kz = (size_t)K, mx = dz > kz ? dz : kz;
    double *U = work;                 /* (d, K) */
    double *V = U + dz * Kz;          /* (k, K) */
    double *T = V + kz * Kz;          /* (d, K) = W·V, or (k, K) = Wᵀ·U */
    double *P = T + mx * Kz;          /* (K, K) */
    double *w = P + Kz * Kz;
    size_t lw = lwork - (dz + kz + mx + Kz) * Kz;
    for (int t = 0; t < ndraws; t++) {
        int rc;
        if ((rc = lsc_random_orthonormal(d, K, rng, U, w, lw, err)) != LSC_OK ||
            (rc = lsc_random_orthonormal(k, K, rng, V, w, lw, err)) != LSC_OK)
            return rc;
        /* one pass over W as stored: ‖UᵀWV‖ = ‖Vᵀ(WᵀU)‖ */
        if (!transposed) {
            lsc_matmul_f32d(d, k, K, W, V, T);
            proj[t] = ut_fro(d, K, U, K, T, P);
        } else {
            lsc_matmul_f32d(k, d, K, W, U, T);
            proj[t] = ut_fro(k, K, V, K, T, P);
        }
    }
    return LSC_OK;
}
