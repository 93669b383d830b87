/*
 * topk.c — the top of a spectrum without the rest: the top-k singular
 * triplets of a dense double matrix (LAPACK's dgesvdx, or subspace iteration
 * with Rayleigh-Ritz and a residual test when a cost model says it is
 * cheaper, falling back to the dense SVD), and the top-k singular VALUES of
 * a float matrix as stored (subspace iteration on MᵀM with a float then a
 * double phase, eigen-residual bounds, dense fallback) that Table 7's
 * proj_base needs.
 *
 * Not here: the SVD and QR themselves (linalg.c), the fused MᵀM·Q kernels
 * (simd.c). No allocation: callers pass *_work_size() doubles of work.
 */
#include <math.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "lsc_internal.h"

// ---- top-k singular triplets of a dense matrix ----

/* Subspace iteration: block size b = kk + oversampling. */
static int topk_block(int m, int n, int kk)
{
    return lsc_mini_(lsc_mini_(m, n), kk + lsc_maxi_(10, kk));
}

/* Whether the iterative method is worth trying at all. */
static int topk_iterative_applies(int m, int n, int kk)
{
    int mn = lsc_mini_(m, n);
    return mn >= 128 && 3 * topk_block(m, n, kk) <= mn;
}

static size_t topk_dense_size(int m, int n, int want)
{
    size_t mz = (size_t)m, nz = (size_t)n, mn = (size_t)lsc_mini_(m, n);
    size_t s = mn + (want ? mz * mn + mn * nz : 0);
    return s + lsc_svd_work_size(m, n, want);
}

/* dgesvdx (bidiagonalisation, then only the wanted singular triplets of the
 * bidiagonal by bisection and inverse iteration) on the column-major view. */
static size_t topk_gesvdx_size(int m, int n, int kk)
{
    size_t mz = (size_t)m, nz = (size_t)n, mn = (size_t)lsc_mini_(m, n);
    double q = 0.0, dummy = 0.0;
    lapack_int ns = 0, iw = 0;
    size_t lw = 1;
    if (LAPACKE_dgesvdx_work(LAPACK_COL_MAJOR, 'V', 'V', 'I', n, m, &dummy, n, 0.0, 0.0, 1, kk,
                             &ns, &dummy, &dummy, n, &dummy, kk, &q, -1, &iw) == 0)
        lw = lsc_lwork_of_(q);
    return mz * nz + mn + lsc_ints_as_doubles_(12 * mn) + lw;
}

/* 1 on success (S, U, Vt filled), 0 to fall back to dgesdd. */
static int topk_gesvdx(int m, int n, int kk, const double *M, double *S, double *U, double *Vt,
                       double *work, size_t lwork)
{
    size_t mz = (size_t)m, nz = (size_t)n, mn = (size_t)lsc_mini_(m, n), kz = (size_t)kk;
    double *X = work, *Sf = X + mz * nz;
    lapack_int *iw = (lapack_int *)(Sf + mn);
    double *w = Sf + mn + lsc_ints_as_doubles_(12 * mn);
    size_t lw = lwork - (size_t)(w - work);
    if (lw > (size_t)0x7fffffff)
        lw = 0x7fffffff;
    memcpy(X, M, mz * nz * sizeof *X);
    lapack_int ns = 0;
    /* Mᵀ (n, m) column-major: its "u" (n, kk) is Vt (kk, n) row-major, its
     * "vt" (kk, m) column-major is U (m, kk) row-major */
    lapack_int info = LAPACKE_dgesvdx_work(LAPACK_COL_MAJOR, 'V', 'V', 'I', n, m, X, n, 0.0, 0.0,
                                           1, kk, &ns, Sf, Vt, n, U, kk, w, (lapack_int)lw, iw);
    if (info != 0 || ns != kk)
        return 0;
    memcpy(S, Sf, kz * sizeof *S);
    return 1;
}

/* What both top-k entry points report before doing anything: the dense
 * method, no iterations (info may be NULL). */
static void topk_info_init(lsc_topk_info *info)
{
    if (info) {
        info->method = LSC_TOPK_DENSE;
        info->iterations = 0;
        info->residual = 0.0;
    }
}

static size_t topk_iter_size(int m, int n, int kk)
{
    int b = topk_block(m, n, kk);
    size_t mz = (size_t)m, nz = (size_t)n, bz = (size_t)b;
    size_t s = 2 * nz * bz + 2 * mz * bz + nz * bz + bz * bz + 3 * bz;
    size_t lw = lsc_maxz_(lsc_qr_cols_lwork_(m, b), lsc_qr_cols_lwork_(n, b));
    return s + lsc_maxz_(lw, lsc_svd_work_size(n, b, 1));
}

size_t lsc_svd_topk_work_size(int m, int n, int kk, lsc_topk_method method)
{
    if (m <= 0 || n <= 0 || kk <= 0)
        return 1;
    size_t s = topk_dense_size(m, n, 1);
    if (2 * kk <= lsc_mini_(m, n))
        s = lsc_maxz_(s, topk_gesvdx_size(m, n, kk));
    if (method != LSC_TOPK_DENSE && topk_iterative_applies(m, n, kk))
        s = lsc_maxz_(s, topk_iter_size(m, n, kk));
    return s;
}

static int topk_dense(int m, int n, int kk, const double *M, double *S, double *U,
                      double *Vt, double *work, size_t lwork, lsc_error *err)
{
    size_t mz = (size_t)m, nz = (size_t)n, mn = (size_t)lsc_mini_(m, n), kz = (size_t)kk;
    /* a few triplets of a big matrix: dgesvdx skips the full back-transform */
    if (2 * kk <= lsc_mini_(m, n) && U && Vt && topk_gesvdx(m, n, kk, M, S, U, Vt, work, lwork))
        return LSC_OK;
    double *Sf = work, *Uf = Sf + mn, *Vtf = Uf + mz * mn, *w = Vtf + mn * nz;
    int rc = lsc_svd(m, n, M, Sf, Uf, Vtf, w, lwork - (size_t)(w - work), err);
    if (rc != LSC_OK)
        return rc;
    for (size_t j = 0; j < kz; j++)
        S[j] = j < mn ? Sf[j] : 0.0;
    if (U)
        for (size_t i = 0; i < mz; i++)
            for (size_t j = 0; j < kz; j++)
                U[i * kz + j] = j < mn ? Uf[i * mn + j] : 0.0;
    if (Vt) {
        memset(Vt, 0, kz * nz * sizeof *Vt);
        memcpy(Vt, Vtf, (kz < mn ? kz : mn) * nz * sizeof *Vt);
    }
    return LSC_OK;
}

/* Subspace iteration with Rayleigh-Ritz on a row-major (m, n) M:
 *   Y = M·Q, P = orth(Y), Z = Mᵀ·P = Ũ Σ Ṽᵀ  ⇒  M ≈ (P Ṽ) Σ Ũᵀ,
 * and Q ← Ũ. The Ritz triplets are checked with the next product M·Ũ:
 * residual_i = ‖M ũ_i − σ_i (P ṽ_i)‖ ≤ tol·σ_1 for every i < kk.
 * Returns 1 when converged (outputs filled), 0 to ask for the dense path:
 * convergence predicted to cost more than the dense SVD, or stagnation. */
static int topk_iterate(int m, int n, int kk, const double *M, uint64_t seed, double *S,
                        double *U, double *Vt, double *work, size_t lwork,
                        lsc_topk_info *info)
{
    const double tol = 1e-12;
    int b = topk_block(m, n, kk);
    size_t mz = (size_t)m, nz = (size_t)n, bz = (size_t)b, kz = (size_t)kk;
    double *Q   = work;           /* (n, b) current right basis (= Ũ) */
    double *Z   = Q + nz * bz;    /* (n, b) Mᵀ·P, destroyed by the SVD */
    double *Y   = Z + nz * bz;    /* (m, b) M·Q, then P */
    double *Ul  = Y + mz * bz;    /* (m, b) left Ritz vectors P·Ṽ */
    double *Uz  = Ul + mz * bz;   /* (n, b) Ũ */
    double *Vzt = Uz + nz * bz;   /* (b, b) Ṽᵀ */
    double *sig = Vzt + bz * bz;  /* (b) */
    double *tau = sig + bz;       /* (b) */
    double *res = tau + bz;       /* (b) */
    double *w   = res + bz;
    size_t lw = lwork - (size_t)(w - work);

    /* cost model: one iteration = two skinny (m, n, b) products, 4·m·n·b
     * flops; the direct path (dgesvdx: QR + bidiagonalisation) ≈
     * 2·m·n·mn + 2·mn³ flops; both run at about the same flop rate with
     * OpenBLAS (measured at 768..3072, one thread), so the iteration budget
     * is a little under the ratio of the two */
    double mn = (double)lsc_mini_(m, n);
    double iter_cost = 4.0 * (double)m * (double)n * (double)b;
    double dense_cost = 0.9 * (2.0 * (double)m * (double)n * mn + 2.0 * mn * mn * mn);
    int max_iter = (int)(dense_cost / iter_cost);
    if (max_iter < 4)
        return 0;
    if (max_iter > 500)
        max_iter = 500;

    uint64_t rng;
    lsc_rng_seed(&rng, seed);
    for (size_t i = 0; i < nz * bz; i++)
        Q[i] = lsc_rng_normal(&rng);
    lsc_orthonormalize_cols_(n, b, Q, tau, w, lw);

    double prev = INFINITY, rate = 0.0;
    int have_ritz = 0;
    for (int it = 1; it <= max_iter; it++) {
        /* Y = M·Q (m, b) */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, b, n, 1.0, M, n, Q, b,
                    0.0, Y, b);
        if (have_ritz) {
            /* residual of the previous Ritz triplets: Q = Ũ, so Y = M·Ũ */
            double worst = 0.0;
            for (size_t j = 0; j < kz; j++) {
                double ss = 0.0;
                for (size_t i = 0; i < mz; i++) {
                    double e = Y[i * bz + j] - sig[j] * Ul[i * bz + j];
                    ss += e * e;
                }
                res[j] = sqrt(ss);
                if (res[j] > worst)
                    worst = res[j];
            }
            double rel = sig[0] > 0.0 ? worst / sig[0] : 0.0;
            if (info) {
                info->iterations = it - 1;
                info->residual = rel;
            }
            if (rel <= tol) {
                memcpy(S, sig, kz * sizeof *S);
                if (U)
                    for (size_t i = 0; i < mz; i++)
                        memcpy(U + i * kz, Ul + i * bz, kz * sizeof *U);
                if (Vt)
                    for (size_t j = 0; j < kz; j++)
                        for (size_t i = 0; i < nz; i++)
                            Vt[j * nz + i] = Uz[i * bz + j];
                return 1;
            }
            /* predict the remaining iterations from the observed rate */
            if (prev < INFINITY && rel > 0.0) {
                rate = rel / prev;
                if (it > 3) {
                    if (rate >= 0.98)
                        return 0;
                    double more = log(tol / rel) / log(rate);
                    if ((double)it + more > (double)max_iter)
                        return 0;
                }
            }
            prev = rel;
        }
        /* P = orth(Y); Z = Mᵀ·P (n, b); Z = Ũ Σ Ṽᵀ */
        lsc_orthonormalize_cols_(m, b, Y, tau, w, lw);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, b, m, 1.0, M, n, Y, b,
                    0.0, Z, b);
        if (lsc_svd(n, b, Z, sig, Uz, Vzt, w, lw, NULL) != LSC_OK)
            return 0;
        /* left Ritz vectors P·Ṽ (m, b) */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, b, b, 1.0, Y, b, Vzt, b,
                    0.0, Ul, b);
        memcpy(Q, Uz, nz * bz * sizeof *Q);
        have_ritz = 1;
    }
    return 0;
}

int lsc_svd_topk(int m, int n, int kk, const double *M, double *S, double *U, double *Vt,
                 lsc_topk_method method, uint64_t seed, double *work, size_t lwork,
                 lsc_topk_info *info, lsc_error *err)
{
    topk_info_init(info);
    if (m <= 0 || n <= 0 || kk <= 0)
        return LSC_OK;
    LSC_ASSERT(M && S && work);
    LSC_ASSERT(lwork >= lsc_svd_topk_work_size(m, n, kk, method));
    if (!lsc_all_finite_((size_t)m * (size_t)n, M))
        LSC_FAIL(err, LSC_ENAN, "linalg: top-%d SVD input (%d x %d) has NaN or Inf", kk, m, n);
    int try_iter = method == LSC_TOPK_ITERATIVE ||
                   (method == LSC_TOPK_AUTO && kk <= 64);
    if (try_iter && topk_iterative_applies(m, n, kk)) {
        if (topk_iterate(m, n, kk, M, seed, S, U, Vt, work, lwork, info)) {
            if (info)
                info->method = LSC_TOPK_ITERATIVE;
            return LSC_OK;
        }
    }
    if (info)
        info->method = LSC_TOPK_DENSE;
    return topk_dense(m, n, kk, M, S, U, Vt, work, lwork, err);
}

// ---- top-k singular VALUES of a float matrix (the weights as stored) ----
/*
 * Table 7's proj_base = ‖U_Kᵀ W V_K‖_F = sqrt(Σ_{i<K} σ_i(W)²) needs only the
 * top-K singular values of W, and a GPT-2-sized base has dozens of W's:
 * this path is the cost of `amplify`. Subspace iteration on WᵀW with a
 * block of b = K + pad vectors (pad >= 8, b a multiple of 16):
 *   float phase:  Z = Mᵀ(M·Q) in ONE pass over M (fused kernel in simd.c, SIMD,
 *                 several row/column register blocks), Rayleigh-Ritz in
 *                 double, until the Ritz residual is ~1e-6 of λ_1 (the
 *                 subspace is then good to ~1e-6, float's noise floor);
 *   double phase: the same product with M promoted to double (exact: M is
 *                 float), Rayleigh-Ritz, and an a-posteriori bound per value
 *                 from the eigen-residual ρ_i = ‖MᵀM x_i − λ_i x_i‖:
 *                 |λ_i − λ| <= min(ρ_i, ρ_i²/δ_i) (δ_i the gap to the next
 *                 Ritz values), accepted when it is <= tol relative for every
 *                 σ_i = sqrt(λ_i), i < K; else one more double iteration.
 * Failure to meet tol after a few double iterations, a rank-deficient top
 * (σ_K < 1e-4·σ_1, where squaring would cost accuracy), or shapes where the
 * block is not small next to min(m, n): the dense double path (lsc_svd_topk)
 * on a double copy of M. So the result is always within tol.
 */

/* Block size: K + max(8, K/2), rounded up to a multiple of 16. */
static int tkv_block(int kk)
{
    int b = kk + lsc_maxi_(8, kk / 2);
    return (b + LSC_MTM_CHUNK - 1) / LSC_MTM_CHUNK * LSC_MTM_CHUNK;
}

/* Whether the iterative path applies; otherwise the dense fallback. */
static int tkv_applies(int m, int n, int kk)
{
    int mn = lsc_mini_(m, n);
    return mn >= 128 && 3 * tkv_block(kk) <= mn;
}

static size_t tkv_syev_lwork(int b)
{
    double q = 0.0, dummy = 0.0;
    size_t lw = (size_t)lsc_maxi_(1, 3 * b);
    if (LAPACKE_dsyev_work(LAPACK_COL_MAJOR, 'V', 'U', b, &dummy, lsc_maxi_(1, b), &dummy, &q, -1) == 0)
        lw = lsc_maxz_(lw, lsc_lwork_of_(q));
    return lw;
}

/* doubles for the iterative part (the float buffers are counted in doubles) */
static size_t tkv_iter_size(int m, int n, int kk)
{
    (void)m;
    size_t nz = (size_t)n, bz = (size_t)tkv_block(kk);
    size_t fl = (2 * nz * LSC_MTM_CHUNK + 8) / 2 + 8;      /* float Q, Z chunks (+ align) */
    size_t s = 4 * nz * bz + 2 * nz * LSC_MTM_CHUNK + 8     /* Q, Z, X, R; chunks (+ align) */
               + 2 * bz * bz + 2 * bz;                  /* H, S; lambda, tau */
    size_t lw = lsc_maxz_(lsc_qr_cols_lwork_(n, (int)bz), tkv_syev_lwork((int)bz));
    return s + fl + lw;
}

size_t lsc_svd_topk_values_work_size(int m, int n, int kk)
{
    if (m <= 0 || n <= 0 || kk <= 0)
        return 1;
    /* the dense fallback: a double copy of M, all its singular values and
     * the values-only SVD's workspace */
    size_t s = (size_t)m * (size_t)n + (size_t)lsc_mini_(m, n) + lsc_svd_work_size(m, n, 0);
    if (tkv_applies(m, n, kk))
        s = lsc_maxz_(s, tkv_iter_size(m, n, kk));
    return s;
}

/* Orthonormal basis of the columns of the row-major (n, b) X in place by
 * CholeskyQR2 (G = XᵀX = RᵀR, X ← X·R⁻¹, twice): two small GEMMs and a
 * b×b Cholesky instead of Householder's BLAS-2 sweeps over X (which were
 * ~10 % of amplify). The second pass restores orthogonality to ~ε when
 * cond(X) < ~1e7; when the Cholesky fails or R's diagonal spans more than
 * 1e6 (nearly dependent columns), Householder does it. G: b·b doubles. */
static void tkv_orth(int n, int b, double *X, double *G, double *tau, double *w, size_t lw)
{
    size_t bz = (size_t)b;
    for (int pass = 0; pass < 2; pass++) {
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, b, n, 1.0, X, b, 0.0, G, b);
        /* row-major upper = column-major lower of the same memory: Cholesky
         * G = L·Lᵀ in column-major is G = Rᵀ·R with R = Lᵀ (row-major upper) */
        lapack_int info = LAPACKE_dpotrf_work(LAPACK_COL_MAJOR, 'L', b, G, b);
        double dmax = 0.0, dmin = INFINITY;
        for (size_t i = 0; i < bz && info == 0; i++) {
            dmax = fmax(dmax, fabs(G[i * bz + i]));
            dmin = fmin(dmin, fabs(G[i * bz + i]));
        }
        if (info != 0 || !(dmin > 1e-6 * dmax)) {
            lsc_orthonormalize_cols_(n, b, X, tau, w, lw);
            return;
        }
        /* X ← X·R⁻¹, R upper (row-major) = the column-major lower factor's transpose */
        cblas_dtrsm(CblasRowMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, n, b, 1.0,
                    G, b, X, b);
    }
}

/* Rayleigh-Ritz of MᵀM on the orthonormal Q (n, b) given Z = MᵀM·Q:
 * H = QᵀZ = S Λ Sᵀ; lam (b) descending, X = Q·S (Ritz vectors), and
 * rho_i = ‖Z·s_i − λ_i x_i‖ for i < kk. */
static void tkv_ritz(int n, int b, int kk, const double *Q, const double *Z, double *H,
                     double *lam, double *X, double *R, double *rho, double *w, size_t lw)
{
    size_t bz = (size_t)b, nz = (size_t)n;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, b, b, n, 1.0, Q, b, Z, b, 0.0, H, b);
    for (size_t i = 0; i < bz; i++)
        for (size_t j = 0; j < i; j++) {
            double s = 0.5 * (H[i * bz + j] + H[j * bz + i]);
            H[i * bz + j] = H[j * bz + i] = s;
        }
    if (lw > (size_t)0x7fffffff)
        lw = 0x7fffffff;
    /* symmetric: row-major = column-major; eigenvectors in the columns of
     * the column-major result = the rows of the row-major H; ascending */
    lapack_int info = LAPACKE_dsyev_work(LAPACK_COL_MAJOR, 'V', 'U', b, H, b, lam, w,
                                         (lapack_int)lw);
    LSC_ASSERT(info == 0);
    /* descending order: eigenvector i (ascending) is row i of H (row-major) */
    for (size_t i = 0; i < bz / 2; i++) {
        size_t j = bz - 1 - i;
        double t = lam[i]; lam[i] = lam[j]; lam[j] = t;
        for (size_t c = 0; c < bz; c++) {
            t = H[i * bz + c]; H[i * bz + c] = H[j * bz + c]; H[j * bz + c] = t;
        }
    }
    /* X = Q·Sᵀ-rows: X[:, i] = Q · H[i, :]ᵀ ;  R = Z·Hᵀ − X·diag(lam) */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, b, b, 1.0, Q, b, H, b, 0.0, X, b);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, b, b, 1.0, Z, b, H, b, 0.0, R, b);
    for (int i = 0; i < kk; i++) {
        double ss = 0.0;
        for (size_t j = 0; j < nz; j++) {
            double e = R[j * bz + (size_t)i] - lam[i] * X[j * bz + (size_t)i];
            ss += e * e;
        }
        rho[i] = sqrt(ss);
    }
}

/* The iterative part's buffers, carved from the caller's work (as counted
 * by tkv_iter_size; nothing is allocated): the block Q (n, b), Z = MᵀM·Q
 * (n, b), Ritz vectors X and Z·S (n, b each), H (b, b), lam, tau, rho (b
 * each), the kernels' aligned chunks, and LAPACK's scratch w (lw). */
typedef struct tkv_ws {
    double *Q, *Z, *X, *R, *H, *lam, *tau, *rho, *chunk, *w;
    size_t  lw;
} tkv_ws;

static void tkv_ws_init(tkv_ws *ws, int n, int b, double *work, size_t lwork)
{
    size_t nz = (size_t)n, bz = (size_t)b;
    ws->Q = work;
    ws->Z = ws->Q + nz * bz;
    ws->X = ws->Z + nz * bz;
    ws->R = ws->X + nz * bz;
    ws->H = ws->R + nz * bz;
    ws->lam = ws->H + bz * bz;
    ws->tau = ws->lam + bz;
    ws->rho = ws->tau + bz;
    ws->chunk = ws->rho + bz;                          /* float/double chunks, aligned */
    ws->w = ws->chunk + 2 * nz * LSC_MTM_CHUNK + 8;
    ws->lw = lwork - (size_t)(ws->w - work);
}

/* One step of the subspace iteration, the body of both phases: Z = MᵀM·Q
 * (f32: the float kernel, else M promoted to double) and the Rayleigh-Ritz
 * values lam and residuals rho of the orthonormal Q. */
static void tkv_step(int m, int n, int b, int kk, const float *M, int f32, tkv_ws *ws)
{
    lsc_mtm_apply_(m, n, b, M, ws->Q, ws->Z, f32, ws->chunk);
    tkv_ritz(n, b, kk, ws->Q, ws->Z, ws->H, ws->lam, ws->X, ws->R, ws->rho, ws->w, ws->lw);
}

/* The next subspace: Q = orth(Z). */
static void tkv_next(int n, int b, tkv_ws *ws)
{
    memcpy(ws->Q, ws->Z, (size_t)n * (size_t)b * sizeof *ws->Q);
    tkv_orth(n, b, ws->Q, ws->H, ws->tau, ws->w, ws->lw);
}

/* the dense fallback: all singular values (no vectors) of a double copy */
static int tkv_dense(int m, int n, int kk, const float *M, double *S, double *work, size_t lwork,
                     lsc_topk_info *info, lsc_error *err)
{
    size_t mn = (size_t)m * (size_t)n, p = (size_t)lsc_mini_(m, n);
    double *Md = work, *Sa = Md + mn, *w = Sa + p;
    for (size_t i = 0; i < mn; i++)
        Md[i] = M[i];
    int rc = lsc_svd(m, n, Md, Sa, NULL, NULL, w, lwork - (size_t)(w - work), err);
    if (rc != LSC_OK)
        return rc;
    for (int i = 0; i < kk; i++)
        S[i] = (size_t)i < p ? Sa[i] : 0.0;
    if (info)
        info->method = LSC_TOPK_DENSE;
    return LSC_OK;
}

int lsc_svd_topk_values(int m, int n, int kk, const float *M, double *S, double tol,
                        uint64_t seed, double *work, size_t lwork, lsc_topk_info *info,
                        lsc_error *err)
{
    topk_info_init(info);
    if (m <= 0 || n <= 0 || kk <= 0)
        return LSC_OK;
    LSC_ASSERT(M && S && work);
    LSC_ASSERT(lwork >= lsc_svd_topk_values_work_size(m, n, kk));
    size_t mn = (size_t)m * (size_t)n;
    for (size_t i = 0; i < mn; i++)
        if (!isfinite(M[i]))
            LSC_FAIL(err, LSC_ENAN, "linalg: top-%d singular values input (%d x %d) has NaN or Inf",
                     kk, m, n);
    if (kk > lsc_mini_(m, n)) {   /* zero-pad beyond the rank, as lsc_svd_topk does */
        int rc = tkv_dense(m, n, lsc_mini_(m, n), M, S, work, lwork, info, err);
        for (int i = lsc_mini_(m, n); i < kk; i++)
            S[i] = 0.0;
        return rc;
    }
    if (!(tol > 0.0))
        tol = 1e-10;
    if (!tkv_applies(m, n, kk))
        return tkv_dense(m, n, kk, M, S, work, lwork, info, err);

    int b = tkv_block(kk);
    tkv_ws ws;
    tkv_ws_init(&ws, n, b, work, lwork);
    const double *lam = ws.lam, *rho = ws.rho;

    /* a seeded random start (uniform entries: any start with a component
     * in the top subspace converges; no transcendental calls) */
    uint64_t rng;
    lsc_rng_seed(&rng, seed);
    for (size_t i = 0; i < (size_t)n * (size_t)b; i++)
        ws.Q[i] = lsc_rng_uniform_d(&rng) - 0.5;
    tkv_orth(n, b, ws.Q, ws.H, ws.tau, ws.w, ws.lw);

    /* float phase. Cost model: an iteration is one fused pass, 4·m·n·b
     * flops at ~100+ GFLOP/s; the dense values-only SVD is ~4·m·n·p −
     * (4/3)·p³ flops (p = min(m, n)) at ~10 (half of it BLAS-2): iterations
     * predicted (from the observed rate) to cost more than 1/2 of that send
     * the problem to the dense path at once. Near float's noise floor (the
     * residual no longer falls below ~1e-5) the double phase takes over. */
    const double tol_f = 1e-6;
    double pd = (double)lsc_mini_(m, n);
    double dense_flops = 4.0 * (double)m * (double)n * pd - 4.0 / 3.0 * pd * pd * pd;
    double iter_flops = 4.0 * (double)m * (double)n * (double)b;
    double max_iter = fmin(2000.0, 5.0 * dense_flops / iter_flops);
    double prev = INFINITY, prev2 = INFINITY;
    int it = 0;
    for (it = 1; it <= (int)max_iter; it++) {
        tkv_step(m, n, b, kk, M, 1, &ws);
        double worst = 0.0;
        for (int i = 0; i < kk; i++)
            worst = fmax(worst, rho[i]);
        double rel = lam[0] > 0.0 ? worst / lam[0] : 0.0;
        if (info) {
            info->iterations = it;
            info->residual = rel;
        }
        if (rel <= tol_f || !(lam[0] > 0.0))
            break;
        if (it >= 4 && prev2 < INFINITY) {
            double rate = sqrt(rel / prev2);   /* per iteration, over the last two */
            if (rel < 1e-5 && rate > 0.9)
                break;                         /* float's noise floor: go to double */
            double more = rate < 1.0 ? log(tol_f / rel) / log(rate) : INFINITY;
            if ((double)it + more > max_iter)
                return tkv_dense(m, n, kk, M, S, work, lwork, info, err);
        }
        prev2 = prev;
        prev = rel;
        tkv_next(n, b, &ws);
    }
    if (it > (int)max_iter)
        return tkv_dense(m, n, kk, M, S, work, lwork, info, err);
    if (!(lam[0] > 0.0)) {   /* M = 0 */
        for (int i = 0; i < kk; i++)
            S[i] = 0.0;
        if (info)
            info->method = LSC_TOPK_ITERATIVE;
        return LSC_OK;
    }
    /* double phase: start one power step beyond the last float subspace
     * (Z = MᵀM·Q is at hand; its rounding, ~1e-7, bounds the angle, not the
     * values, which the double Rayleigh-Ritz computes exactly) */
    tkv_next(n, b, &ws);
    for (int dit = 1; dit <= 4; dit++) {
        tkv_step(m, n, b, kk, M, 0, &ws);
        if (info)
            info->iterations = it + dit;
        if (!(lam[kk - 1] > 1e-8 * lam[0]))
            break;   /* σ_K < 1e-4·σ_1: squaring costs accuracy, go dense */
        double worst = 0.0;
        for (int i = 0; i < kk; i++) {
            double gap = INFINITY;
            if (i > 0)
                gap = fmin(gap, lam[i - 1] - lam[i]);
            gap = fmin(gap, lam[i] - lam[i + 1]);   /* i + 1 < b: the block is padded */
            double e = rho[i];
            if (gap > 0.0)
                e = fmin(e, rho[i] * rho[i] / gap);
            /* σ = sqrt(λ): relative error of σ = half that of λ */
            worst = fmax(worst, 0.5 * e / lam[i]);
        }
        if (info)
            info->residual = worst;
        if (worst <= tol) {
            for (int i = 0; i < kk; i++)
                S[i] = sqrt(lam[i]);
            if (info)
                info->method = LSC_TOPK_ITERATIVE;
            return LSC_OK;
        }
        tkv_next(n, b, &ws);
    }
    return tkv_dense(m, n, kk, M, S, work, lwork, info, err);
}
