/*
 * linalg.c — the double-precision linear algebra behind the analyses:
 * thin SVD, the exact SVD of a LoRA update dW = s·B·A through two thin QRs
 * and an r×r core (never forming the d×k matrix), the dense path kept as its
 * oracle, top-k singular triplets of a dense W (subspace iteration with a
 * residual test and a dense fallback), principal angles, the φ grid of the
 * LoRA paper (Eq. 4) through a 2-D prefix sum, seeded random orthonormal
 * bases, and the Table-7 projection norm ‖UᵀWV‖_F.
 *
 * What it deliberately is not: a general matrix library. No allocation
 * happens here: every function takes a caller-allocated double *work of at
 * least *_work_size() doubles. No global state.
 *
 * Layout: every matrix is flat and row-major. LAPACK is called in
 * column-major mode on the *transposed view* of a row-major buffer (a
 * row-major (m, n) matrix is a column-major (n, m) one), because LAPACKE's
 * row-major entry points allocate a transposed copy internally. The
 * identities used: SVD of Mᵀ = V Σ Uᵀ; an LQ of Bᵀ is a QR of B.
 *
 * Shape vocabulary: d = out features, k = in features, r = LoRA rank,
 * (m, n) a generic matrix, mn = min(m, n), p a subspace dimension,
 * K the number of directions of a projection.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "lsc_internal.h"

// ---- helpers ----

static int mini(int a, int b) { return a < b ? a : b; }
static int maxi(int a, int b) { return a > b ? a : b; }
static size_t maxz(size_t a, size_t b) { return a > b ? a : b; }

/* doubles needed to hold n lapack_ints */
static size_t ints_as_doubles(size_t n)
{
    return (n * sizeof(lapack_int) + sizeof(double) - 1) / sizeof(double);
}

static int all_finite(size_t n, const double *x)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

/* LAPACK's optimal lwork from a workspace query (lwork = -1). */
static size_t lwork_of(double q)
{
    return q > 1.0 ? (size_t)q + 1 : 1;
}

// ---- thin SVD ----

/* lapack work for dgesdd and dgesvd on a column-major (M, N) matrix */
static size_t svd_lapack_lwork(int M, int N, int want)
{
    int mn = mini(M, N);
    double q = 0.0, dummy = 0.0;
    lapack_int iw = 0;
    char job = want ? 'S' : 'N';
    size_t lw = 1;
    if (LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, job, M, N, &dummy, maxi(1, M), &dummy,
                            &dummy, maxi(1, M), &dummy, maxi(1, mn), &q, -1, &iw) == 0)
        lw = lwork_of(q);
    if (LAPACKE_dgesvd_work(LAPACK_COL_MAJOR, job, job, M, N, &dummy, maxi(1, M), &dummy,
                            &dummy, maxi(1, M), &dummy, maxi(1, mn), &q, -1) == 0)
        lw = maxz(lw, lwork_of(q));
    /* LAPACK's documented minimum for dgesdd, in case a query under-reports */
    size_t mnz = (size_t)mn, mxz = (size_t)maxi(M, N);
    size_t minimum = want ? 4 * mnz * mnz + 7 * mnz + mxz : 3 * mnz + maxz(mxz, 7 * mnz);
    return maxz(lw, minimum);
}

size_t lsc_svd_work_size(int m, int n, int want_vectors)
{
    if (m <= 0 || n <= 0)
        return 1;
    size_t mz = (size_t)m, nz = (size_t)n, mn = (size_t)mini(m, n);
    size_t s = mz * nz;                              /* copy of M (destroyed) */
    if (want_vectors)
        s += mz * mn + mn * nz;                      /* scratch U, Vt */
    s += ints_as_doubles(8 * mn);                    /* iwork */
    s += svd_lapack_lwork(n, m, want_vectors);
    return s;
}

int lsc_svd(int m, int n, const double *M, double *S, double *U, double *Vt,
            double *work, size_t lwork, lsc_error *err)
{
    if (m <= 0 || n <= 0)
        return LSC_OK;
    LSC_ASSERT(M && S && work);
    int want = U || Vt;
    LSC_ASSERT(lwork >= lsc_svd_work_size(m, n, want));
    size_t mz = (size_t)m, nz = (size_t)n, mn = (size_t)mini(m, n);
    if (!all_finite(mz * nz, M))
        LSC_FAIL(err, LSC_ENAN, "linalg: SVD input (%d x %d) has NaN or Inf", m, n);
    double *X = work;                           /* column-major (n, m) = Mᵀ */
    double *w = X + mz * nz;
    double *Us = U, *Vts = Vt;
    if (want) {
        double *su = w, *sv = w + mz * mn;
        w += mz * mn + mn * nz;
        if (!Us) Us = su;
        if (!Vts) Vts = sv;
    }
    lapack_int *iw = (lapack_int *)w;
    w += ints_as_doubles(8 * mn);
    size_t lw = lwork - (size_t)(w - work);
    if (lw > (size_t)0x7fffffff)
        lw = 0x7fffffff;
    char job = want ? 'S' : 'N';
    memcpy(X, M, mz * nz * sizeof *X);
    /* SVD of the column-major (n, m) matrix Mᵀ = V Σ Uᵀ: its "u" (n, mn)
     * column-major is Vt (mn, n) row-major; its "vt" (mn, m) column-major is
     * U (m, mn) row-major. */
    lapack_int info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, job, n, m, X, n, S,
                                          want ? Vts : NULL, n, want ? Us : NULL, (lapack_int)mn,
                                          w, (lapack_int)lw, iw);
    LSC_ASSERT(info >= 0);
    if (info > 0) {
        /* dgesdd's divide and conquer failed: retry with QR iteration */
        memcpy(X, M, mz * nz * sizeof *X);
        info = LAPACKE_dgesvd_work(LAPACK_COL_MAJOR, job, job, n, m, X, n, S,
                                   want ? Vts : NULL, n, want ? Us : NULL, (lapack_int)mn,
                                   w, (lapack_int)lw);
        LSC_ASSERT(info >= 0);
        if (info > 0)
            LSC_FAIL(err, LSC_ENOCONV, "linalg: SVD of a %d x %d matrix did not converge", m, n);
    }
    return LSC_OK;
}

// ---- thin QR on row-major buffers ----

/* lapack lwork for an orthonormal basis of a row-major (m, p) matrix, p <= m:
 * dgelqf + dorglq on its column-major (p, m) view. */
static size_t qr_cols_lwork(int m, int p)
{
    double q = 0.0, dummy = 0.0;
    size_t lw = (size_t)maxi(1, m);
    if (LAPACKE_dgelqf_work(LAPACK_COL_MAJOR, p, m, &dummy, maxi(1, p), &dummy, &q, -1) == 0)
        lw = maxz(lw, lwork_of(q));
    if (LAPACKE_dorglq_work(LAPACK_COL_MAJOR, p, m, p, &dummy, maxi(1, p), &dummy, &q, -1) == 0)
        lw = maxz(lw, lwork_of(q));
    return lw;
}

/* lapack lwork for dgeqrf + dorgqr of a column-major (m, p) matrix. */
static size_t qr_colmajor_lwork(int m, int p)
{
    double q = 0.0, dummy = 0.0;
    size_t lw = (size_t)maxi(1, p);
    if (LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, m, p, &dummy, maxi(1, m), &dummy, &q, -1) == 0)
        lw = maxz(lw, lwork_of(q));
    if (LAPACKE_dorgqr_work(LAPACK_COL_MAJOR, m, p, p, &dummy, maxi(1, m), &dummy, &q, -1) == 0)
        lw = maxz(lw, lwork_of(q));
    return lw;
}

/* Overwrites the row-major (m, p) matrix X (p <= m) with an orthonormal
 * basis of its column space (thin QR, Q only). tau: p doubles. */
static void orthonormalize_cols(int m, int p, double *X, double *tau, double *w, size_t lw)
{
    if (lw > (size_t)0x7fffffff)
        lw = 0x7fffffff;
    /* row-major (m, p) = column-major (p, m) = Xᵀ = L·Q̃, so X = Q̃ᵀ·Lᵀ */
    lapack_int info = LAPACKE_dgelqf_work(LAPACK_COL_MAJOR, p, m, X, p, tau, w, (lapack_int)lw);
    LSC_ASSERT(info == 0);
    info = LAPACKE_dorglq_work(LAPACK_COL_MAJOR, p, m, p, X, p, tau, w, (lapack_int)lw);
    LSC_ASSERT(info == 0);
}

// ---- exact SVD of dW = s·B·A ----

static size_t lowrank_dense_size(int d, int k, int r, int want)
{
    size_t dz = (size_t)d, kz = (size_t)k, mn = (size_t)mini(d, k);
    size_t s = dz * kz + mn;                         /* dW, all singular values */
    if (want)
        s += dz * mn + mn * kz;                      /* full U, Vt */
    (void)r;
    return s + lsc_svd_work_size(d, k, want);
}

size_t lsc_lowrank_svd_dense_work_size(int d, int k, int r, int want_vectors)
{
    if (d <= 0 || k <= 0 || r <= 0)
        return 1;
    return lowrank_dense_size(d, k, r, want_vectors);
}

int lsc_lowrank_svd_dense(int d, int k, int r, double s, const double *B, const double *A,
                          double *S, double *U, double *Vt, double *work, size_t lwork,
                          lsc_error *err)
{
    if (d <= 0 || k <= 0 || r <= 0)
        return LSC_OK;
    LSC_ASSERT(B && A && S && work);
    int want = U || Vt;
    LSC_ASSERT(lwork >= lowrank_dense_size(d, k, r, want));
    size_t dz = (size_t)d, kz = (size_t)k, rz = (size_t)r;
    int mn = mini(d, k);
    double *W = work;                                /* (d, k) */
    double *Sf = W + dz * kz;                        /* (mn) */
    double *Uf = NULL, *Vtf = NULL;
    double *w = Sf + mn;
    if (want) {
        Uf = w;                                      /* (d, mn) */
        Vtf = Uf + dz * (size_t)mn;                  /* (mn, k) */
        w = Vtf + (size_t)mn * kz;
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, k, r, s, B, r, A, k, 0.0, W, k);
    int rc = lsc_svd(d, k, W, Sf, Uf, Vtf, w, lwork - (size_t)(w - work), err);
    if (rc != LSC_OK)
        return rc;
    int kk = mini(r, mn);
    for (int i = 0; i < r; i++)
        S[i] = i < kk ? Sf[i] : 0.0;
    if (U) {
        for (size_t i = 0; i < dz; i++)
            for (size_t j = 0; j < rz; j++)
                U[i * rz + j] = j < (size_t)kk ? Uf[i * (size_t)mn + j] : 0.0;
    }
    if (Vt) {
        memset(Vt, 0, rz * kz * sizeof *Vt);
        memcpy(Vt, Vtf, (size_t)kk * kz * sizeof *Vt);
    }
    return LSC_OK;
}

static size_t lowrank_qr_size(int d, int k, int r, int want)
{
    size_t dz = (size_t)d, kz = (size_t)k, rz = (size_t)r;
    size_t s = dz * rz + kz * rz + 2 * rz + 5 * rz * rz;
    size_t lw = maxz(qr_cols_lwork(d, r), qr_colmajor_lwork(k, r));
    return s + maxz(lw, lsc_svd_work_size(r, r, want));
}

size_t lsc_lowrank_svd_work_size(int d, int k, int r, int want_vectors)
{
    if (d <= 0 || k <= 0 || r <= 0)
        return 1;
    if (r > mini(d, k))
        return lowrank_dense_size(d, k, r, want_vectors);
    return lowrank_qr_size(d, k, r, want_vectors);
}

int lsc_lowrank_svd(int d, int k, int r, double s, const double *B, const double *A,
                    double *S, double *U, double *Vt, double *work, size_t lwork,
                    lsc_error *err)
{
    if (d <= 0 || k <= 0 || r <= 0)
        return LSC_OK;
    LSC_ASSERT(B && A && S && work);
    if (r > mini(d, k))  /* more columns than the space: QR is not thin */
        return lsc_lowrank_svd_dense(d, k, r, s, B, A, S, U, Vt, work, lwork, err);
    int want = U || Vt;
    LSC_ASSERT(lwork >= lowrank_qr_size(d, k, r, want));
    size_t dz = (size_t)d, kz = (size_t)k, rz = (size_t)r;
    if (!all_finite(dz * rz, B) || !all_finite(rz * kz, A) || !isfinite(s))
        LSC_FAIL(err, LSC_ENAN, "linalg: B or A (%d x %d, %d x %d) has NaN or Inf", d, r, r, k);
    double *Bq   = work;             /* (d, r) row-major = column-major (r, d) */
    double *Aq   = Bq + dz * rz;     /* (r, k) row-major = column-major (k, r) = Aᵀ */
    double *tauB = Aq + kz * rz;     /* (r) */
    double *tauA = tauB + rz;        /* (r) */
    double *RB   = tauA + rz;        /* (r, r) */
    double *RA   = RB + rz * rz;     /* (r, r) */
    double *Cm   = RA + rz * rz;     /* (r, r) core */
    double *Uc   = Cm + rz * rz;     /* (r, r) */
    double *Vct  = Uc + rz * rz;     /* (r, r) */
    double *w    = Vct + rz * rz;
    size_t lw = lwork - (size_t)(w - work);
    size_t lwi = lw > (size_t)0x7fffffff ? 0x7fffffff : lw;
    memcpy(Bq, B, dz * rz * sizeof *Bq);
    memcpy(Aq, A, rz * kz * sizeof *Aq);
    /* Bᵀ = L·Q̃ (LQ of the column-major (r, d) view), so B = Q̃ᵀ·Lᵀ: R_B = Lᵀ */
    lapack_int info = LAPACKE_dgelqf_work(LAPACK_COL_MAJOR, r, d, Bq, r, tauB, w, (lapack_int)lwi);
    LSC_ASSERT(info == 0);
    /* Aᵀ = Q_A·R_A (QR of the column-major (k, r) view) */
    info = LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, k, r, Aq, k, tauA, w, (lapack_int)lwi);
    LSC_ASSERT(info == 0);
    for (size_t i = 0; i < rz; i++)
        for (size_t j = 0; j < rz; j++) {
            RB[i * rz + j] = j >= i ? Bq[j + i * rz] : 0.0;   /* L[j][i] */
            RA[i * rz + j] = j >= i ? Aq[i + j * kz] : 0.0;   /* R_A[i][j] */
        }
    /* dW = s·Q_B·R_B·R_Aᵀ·Q_Aᵀ; core C = s·R_B·R_Aᵀ (r, r) */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r, r, r, s, RB, r, RA, r, 0.0, Cm, r);
    int rc = lsc_svd(r, r, Cm, S, want ? Uc : NULL, want ? Vct : NULL, w, lw, err);
    if (rc != LSC_OK)
        return rc;
    if (U) {
        /* Q_B (d, r) row-major = Q̃ column-major (r, d) */
        info = LAPACKE_dorglq_work(LAPACK_COL_MAJOR, r, d, r, Bq, r, tauB, w, (lapack_int)lwi);
        LSC_ASSERT(info == 0);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, r, r, 1.0, Bq, r, Uc, r,
                    0.0, U, r);
    }
    if (Vt) {
        /* Q_A column-major (k, r) = Q_Aᵀ (r, k) row-major; Vt = V_cᵀ·Q_Aᵀ */
        info = LAPACKE_dorgqr_work(LAPACK_COL_MAJOR, k, r, r, Aq, k, tauA, w, (lapack_int)lwi);
        LSC_ASSERT(info == 0);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r, k, r, 1.0, Vct, r, Aq, k,
                    0.0, Vt, k);
    }
    return LSC_OK;
}

// ---- top-k singular triplets of a dense matrix ----

/* Subspace iteration: block size b = kk + oversampling. */
static int topk_block(int m, int n, int kk)
{
    return mini(mini(m, n), kk + maxi(10, kk));
}

/* Whether the iterative method is worth trying at all. */
static int topk_iterative_applies(int m, int n, int kk)
{
    int mn = mini(m, n);
    return mn >= 128 && 3 * topk_block(m, n, kk) <= mn;
}

static size_t topk_dense_size(int m, int n, int want)
{
    size_t mz = (size_t)m, nz = (size_t)n, mn = (size_t)mini(m, n);
    size_t s = mn + (want ? mz * mn + mn * nz : 0);
    return s + lsc_svd_work_size(m, n, want);
}

/* dgesvdx (bidiagonalisation, then only the wanted singular triplets of the
 * bidiagonal by bisection and inverse iteration) on the column-major view. */
static size_t topk_gesvdx_size(int m, int n, int kk)
{
    size_t mz = (size_t)m, nz = (size_t)n, mn = (size_t)mini(m, n);
    double q = 0.0, dummy = 0.0;
    lapack_int ns = 0, iw = 0;
    size_t lw = 1;
    if (LAPACKE_dgesvdx_work(LAPACK_COL_MAJOR, 'V', 'V', 'I', n, m, &dummy, n, 0.0, 0.0, 1, kk,
                             &ns, &dummy, &dummy, n, &dummy, kk, &q, -1, &iw) == 0)
        lw = lwork_of(q);
    return mz * nz + mn + ints_as_doubles(12 * mn) + lw;
}

/* 1 on success (S, U, Vt filled), 0 to fall back to dgesdd. */
static int topk_gesvdx(int m, int n, int kk, const double *M, double *S, double *U, double *Vt,
                       double *work, size_t lwork)
{
    size_t mz = (size_t)m, nz = (size_t)n, mn = (size_t)mini(m, n), kz = (size_t)kk;
    double *X = work, *Sf = X + mz * nz;
    lapack_int *iw = (lapack_int *)(Sf + mn);
    double *w = Sf + mn + ints_as_doubles(12 * mn);
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
    size_t lw = maxz(qr_cols_lwork(m, b), qr_cols_lwork(n, b));
    return s + maxz(lw, lsc_svd_work_size(n, b, 1));
}

size_t lsc_svd_topk_work_size(int m, int n, int kk, lsc_topk_method method)
{
    if (m <= 0 || n <= 0 || kk <= 0)
        return 1;
    size_t s = topk_dense_size(m, n, 1);
    if (2 * kk <= mini(m, n))
        s = maxz(s, topk_gesvdx_size(m, n, kk));
    if (method != LSC_TOPK_DENSE && topk_iterative_applies(m, n, kk))
        s = maxz(s, topk_iter_size(m, n, kk));
    return s;
}

static int topk_dense(int m, int n, int kk, const double *M, double *S, double *U,
                      double *Vt, double *work, size_t lwork, lsc_error *err)
{
    size_t mz = (size_t)m, nz = (size_t)n, mn = (size_t)mini(m, n), kz = (size_t)kk;
    /* a few triplets of a big matrix: dgesvdx skips the full back-transform */
    if (2 * kk <= mini(m, n) && U && Vt && topk_gesvdx(m, n, kk, M, S, U, Vt, work, lwork))
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
    double mn = (double)mini(m, n);
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
    orthonormalize_cols(n, b, Q, tau, w, lw);

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
        orthonormalize_cols(m, b, Y, tau, w, lw);
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
    if (!all_finite((size_t)m * (size_t)n, M))
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
    return (size_t)mini(p1, p2) + lsc_svd_work_size(p1, p2, 0);
}

int lsc_principal_angles(int p1, int p2, const double *G, double *deg, double *work,
                         size_t lwork, lsc_error *err)
{
    if (p1 <= 0 || p2 <= 0)
        return LSC_OK;
    LSC_ASSERT(lwork >= lsc_principal_angles_work_size(p1, p2));
    int p = mini(p1, p2);
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
    return (size_t)p + qr_cols_lwork(n, p);
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
    orthonormalize_cols(n, p, Q, work, work + p, lwork - (size_t)p);
    return LSC_OK;
}

// ---- Table 7 ----

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
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, K, d, 1.0, U, ldu, T, K,
                0.0, P, K);
    double ss = 0.0;
    for (size_t i = 0; i < Kz * Kz; i++)
        ss += P[i] * P[i];
    return sqrt(ss);
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

// ---- top-k singular VALUES of a float matrix (the weights as stored) ----
/*
 * Table 7's proj_base = ‖U_Kᵀ W V_K‖_F = sqrt(Σ_{i<K} σ_i(W)²) needs only the
 * top-K singular values of W, and a GPT-2-sized base has dozens of W's:
 * this path is the cost of `amplify`. Subspace iteration on WᵀW with a
 * block of b = K + pad vectors (pad >= 8, b a multiple of 16):
 *   float phase:  Z = Mᵀ(M·Q) in ONE pass over M (fused kernel below, SIMD,
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

#define TKV_CHUNK 16            /* columns per kernel call */
typedef float  tkv_v8f __attribute__((vector_size(32)));
typedef double tkv_v4d __attribute__((vector_size(32)));

/* Z (n, 16) += Mᵀ·(M·Q) for M (m, n) row-major float, Q (n, 16) float;
 * one pass over M, four rows at a time (8 accumulators of 8 floats). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
static void tkv_fused_f32(int m, int n, const float *restrict M, const tkv_v8f *restrict Q,
                          tkv_v8f *restrict Z)
{
    size_t nz = (size_t)n;
    int i = 0;
    for (; i + 4 <= m; i += 4) {
        const float *r0 = M + (size_t)i * nz, *r1 = r0 + nz, *r2 = r1 + nz, *r3 = r2 + nz;
        tkv_v8f a0 = {0}, b0 = {0}, a1 = {0}, b1 = {0}, a2 = {0}, b2 = {0}, a3 = {0}, b3 = {0};
        for (size_t j = 0; j < nz; j++) {
            tkv_v8f q0 = Q[2 * j], q1 = Q[2 * j + 1];
            a0 += r0[j] * q0; b0 += r0[j] * q1;
            a1 += r1[j] * q0; b1 += r1[j] * q1;
            a2 += r2[j] * q0; b2 += r2[j] * q1;
            a3 += r3[j] * q0; b3 += r3[j] * q1;
        }
        for (size_t j = 0; j < nz; j++) {
            Z[2 * j] += r0[j] * a0 + r1[j] * a1 + r2[j] * a2 + r3[j] * a3;
            Z[2 * j + 1] += r0[j] * b0 + r1[j] * b1 + r2[j] * b2 + r3[j] * b3;
        }
    }
    for (; i < m; i++) {
        const float *r0 = M + (size_t)i * nz;
        tkv_v8f a0 = {0}, b0 = {0};
        for (size_t j = 0; j < nz; j++) {
            a0 += r0[j] * Q[2 * j];
            b0 += r0[j] * Q[2 * j + 1];
        }
        for (size_t j = 0; j < nz; j++) {
            Z[2 * j] += r0[j] * a0;
            Z[2 * j + 1] += r0[j] * b0;
        }
    }
}

/* The same in double: Z (n, 16) += Mᵀ·(M·Q), M float promoted exactly,
 * Q (n, 16) double; two rows at a time (8 accumulators of 4 doubles). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
static void tkv_fused_f64(int m, int n, const float *restrict M, const tkv_v4d *restrict Q,
                          tkv_v4d *restrict Z)
{
    size_t nz = (size_t)n;
    int i = 0;
    for (; i + 2 <= m; i += 2) {
        const float *r0 = M + (size_t)i * nz, *r1 = r0 + nz;
        tkv_v4d a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0};
        for (size_t j = 0; j < nz; j++) {
            double x0 = r0[j], x1 = r1[j];
            const tkv_v4d *q = Q + 4 * j;
            a0 += x0 * q[0]; a1 += x0 * q[1]; a2 += x0 * q[2]; a3 += x0 * q[3];
            c0 += x1 * q[0]; c1 += x1 * q[1]; c2 += x1 * q[2]; c3 += x1 * q[3];
        }
        for (size_t j = 0; j < nz; j++) {
            double x0 = r0[j], x1 = r1[j];
            tkv_v4d *z = Z + 4 * j;
            z[0] += x0 * a0 + x1 * c0; z[1] += x0 * a1 + x1 * c1;
            z[2] += x0 * a2 + x1 * c2; z[3] += x0 * a3 + x1 * c3;
        }
    }
    for (; i < m; i++) {
        const float *r0 = M + (size_t)i * nz;
        tkv_v4d a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (size_t j = 0; j < nz; j++) {
            double x0 = r0[j];
            const tkv_v4d *q = Q + 4 * j;
            a0 += x0 * q[0]; a1 += x0 * q[1]; a2 += x0 * q[2]; a3 += x0 * q[3];
        }
        for (size_t j = 0; j < nz; j++) {
            double x0 = r0[j];
            tkv_v4d *z = Z + 4 * j;
            z[0] += x0 * a0; z[1] += x0 * a1; z[2] += x0 * a2; z[3] += x0 * a3;
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define TKV_AVX512 1
/* 512-bit variants of the two kernels (8 accumulators of 16 floats / two
 * 8-double halves per row), chosen at run time: on an AVX-512 CPU they are
 * ~2x the 256-bit clones (measured 170 vs 95 GFLOP/s for the float pass).
 * Pointers only cross the call boundary (no 512-bit values: no ABI change);
 * Q and Z are 64-byte aligned by tkv_apply. */
typedef float  tkv_v16f __attribute__((vector_size(64)));
typedef double tkv_v8d  __attribute__((vector_size(64)));

__attribute__((target("avx512f")))
static void tkv_fused_f32_avx512(int m, int n, const float *restrict M, const float *restrict Qp,
                                 float *restrict Zp)
{
    const tkv_v16f *Q = (const tkv_v16f *)(const void *)Qp;
    tkv_v16f *Z = (tkv_v16f *)(void *)Zp;
    size_t nz = (size_t)n;
    int i = 0;
    for (; i + 8 <= m; i += 8) {
        const float *r0 = M + (size_t)i * nz, *r1 = r0 + nz, *r2 = r1 + nz, *r3 = r2 + nz;
        const float *r4 = r3 + nz, *r5 = r4 + nz, *r6 = r5 + nz, *r7 = r6 + nz;
        tkv_v16f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};
        for (size_t j = 0; j < nz; j++) {
            tkv_v16f q = Q[j];
            a0 += r0[j] * q; a1 += r1[j] * q; a2 += r2[j] * q; a3 += r3[j] * q;
            a4 += r4[j] * q; a5 += r5[j] * q; a6 += r6[j] * q; a7 += r7[j] * q;
        }
        for (size_t j = 0; j < nz; j++)
            Z[j] += r0[j] * a0 + r1[j] * a1 + r2[j] * a2 + r3[j] * a3 +
                    r4[j] * a4 + r5[j] * a5 + r6[j] * a6 + r7[j] * a7;
    }
    for (; i < m; i++) {
        const float *r0 = M + (size_t)i * nz;
        tkv_v16f a0 = {0};
        for (size_t j = 0; j < nz; j++)
            a0 += r0[j] * Q[j];
        for (size_t j = 0; j < nz; j++)
            Z[j] += r0[j] * a0;
    }
}

__attribute__((target("avx512f")))
static void tkv_fused_f64_avx512(int m, int n, const float *restrict M, const double *restrict Qp,
                                 double *restrict Zp)
{
    const tkv_v8d *Q = (const tkv_v8d *)(const void *)Qp;
    tkv_v8d *Z = (tkv_v8d *)(void *)Zp;
    size_t nz = (size_t)n;
    int i = 0;
    for (; i + 4 <= m; i += 4) {
        const float *r0 = M + (size_t)i * nz, *r1 = r0 + nz, *r2 = r1 + nz, *r3 = r2 + nz;
        tkv_v8d a0 = {0}, b0 = {0}, a1 = {0}, b1 = {0}, a2 = {0}, b2 = {0}, a3 = {0}, b3 = {0};
        for (size_t j = 0; j < nz; j++) {
            tkv_v8d q0 = Q[2 * j], q1 = Q[2 * j + 1];
            double x0 = r0[j], x1 = r1[j], x2 = r2[j], x3 = r3[j];
            a0 += x0 * q0; b0 += x0 * q1; a1 += x1 * q0; b1 += x1 * q1;
            a2 += x2 * q0; b2 += x2 * q1; a3 += x3 * q0; b3 += x3 * q1;
        }
        for (size_t j = 0; j < nz; j++) {
            double x0 = r0[j], x1 = r1[j], x2 = r2[j], x3 = r3[j];
            Z[2 * j] += x0 * a0 + x1 * a1 + x2 * a2 + x3 * a3;
            Z[2 * j + 1] += x0 * b0 + x1 * b1 + x2 * b2 + x3 * b3;
        }
    }
    for (; i < m; i++) {
        const float *r0 = M + (size_t)i * nz;
        tkv_v8d a0 = {0}, b0 = {0};
        for (size_t j = 0; j < nz; j++) {
            a0 += (double)r0[j] * Q[2 * j];
            b0 += (double)r0[j] * Q[2 * j + 1];
        }
        for (size_t j = 0; j < nz; j++) {
            Z[2 * j] += (double)r0[j] * a0;
            Z[2 * j + 1] += (double)r0[j] * b0;
        }
    }
}

static int tkv_have_avx512(void)
{
    return __builtin_cpu_supports("avx512f");
}
#else
static int tkv_have_avx512(void)
{
    return 0;
}
#endif

/* Block size: K + max(8, K/2), rounded up to a multiple of 16. */
static int tkv_block(int kk)
{
    int b = kk + maxi(8, kk / 2);
    return (b + TKV_CHUNK - 1) / TKV_CHUNK * TKV_CHUNK;
}

/* Whether the iterative path applies; otherwise the dense fallback. */
static int tkv_applies(int m, int n, int kk)
{
    int mn = mini(m, n);
    return mn >= 128 && 3 * tkv_block(kk) <= mn;
}

static size_t tkv_syev_lwork(int b)
{
    double q = 0.0, dummy = 0.0;
    size_t lw = (size_t)maxi(1, 3 * b);
    if (LAPACKE_dsyev_work(LAPACK_COL_MAJOR, 'V', 'U', b, &dummy, maxi(1, b), &dummy, &q, -1) == 0)
        lw = maxz(lw, lwork_of(q));
    return lw;
}

/* doubles for the iterative part (the float buffers are counted in doubles) */
static size_t tkv_iter_size(int m, int n, int kk)
{
    (void)m;
    size_t nz = (size_t)n, bz = (size_t)tkv_block(kk);
    size_t fl = (2 * nz * TKV_CHUNK + 8) / 2 + 8;      /* float Q, Z chunks (+ align) */
    size_t s = 4 * nz * bz + 2 * nz * TKV_CHUNK + 8     /* Q, Z, X, R; chunks (+ align) */
               + 2 * bz * bz + 2 * bz;                  /* H, S; lambda, tau */
    size_t lw = maxz(qr_cols_lwork(n, (int)bz), tkv_syev_lwork((int)bz));
    return s + fl + lw;
}

size_t lsc_svd_topk_values_work_size(int m, int n, int kk)
{
    if (m <= 0 || n <= 0 || kk <= 0)
        return 1;
    /* the dense fallback: a double copy of M, all its singular values and
     * the values-only SVD's workspace */
    size_t s = (size_t)m * (size_t)n + (size_t)mini(m, n) + lsc_svd_work_size(m, n, 0);
    if (tkv_applies(m, n, kk))
        s = maxz(s, tkv_iter_size(m, n, kk));
    return s;
}

/* Z (n, b) = Mᵀ·M·Q through the fused kernels, 16 columns at a time; Q, Z
 * row-major double (n, b). f32: the float kernel (Q rounded to float). */
static void tkv_apply(int m, int n, int b, const float *M, const double *Q, double *Z, int f32,
                      double *chunk)
{
    size_t nz = (size_t)n;
    /* 64-byte aligned chunk buffers inside the workspace */
    uintptr_t p = ((uintptr_t)chunk + 63) & ~(uintptr_t)63;
    int wide = tkv_have_avx512();
    (void)wide;
    for (int c0 = 0; c0 < b; c0 += TKV_CHUNK) {
        if (f32) {
            float *qf = (float *)p, *zf = qf + nz * TKV_CHUNK;
            for (size_t j = 0; j < nz; j++)
                for (int c = 0; c < TKV_CHUNK; c++) {
                    qf[j * TKV_CHUNK + (size_t)c] = (float)Q[j * (size_t)b + (size_t)(c0 + c)];
                    zf[j * TKV_CHUNK + (size_t)c] = 0.0f;
                }
#ifdef TKV_AVX512
            if (wide)
                tkv_fused_f32_avx512(m, n, M, qf, zf);
            else
#endif
                tkv_fused_f32(m, n, M, (const tkv_v8f *)(void *)qf, (tkv_v8f *)(void *)zf);
            for (size_t j = 0; j < nz; j++)
                for (int c = 0; c < TKV_CHUNK; c++)
                    Z[j * (size_t)b + (size_t)(c0 + c)] = zf[j * TKV_CHUNK + (size_t)c];
        } else {
            double *qd = (double *)p, *zd = qd + nz * TKV_CHUNK;
            for (size_t j = 0; j < nz; j++)
                for (int c = 0; c < TKV_CHUNK; c++) {
                    qd[j * TKV_CHUNK + (size_t)c] = Q[j * (size_t)b + (size_t)(c0 + c)];
                    zd[j * TKV_CHUNK + (size_t)c] = 0.0;
                }
#ifdef TKV_AVX512
            if (wide)
                tkv_fused_f64_avx512(m, n, M, qd, zd);
            else
#endif
                tkv_fused_f64(m, n, M, (const tkv_v4d *)(void *)qd, (tkv_v4d *)(void *)zd);
            for (size_t j = 0; j < nz; j++)
                for (int c = 0; c < TKV_CHUNK; c++)
                    Z[j * (size_t)b + (size_t)(c0 + c)] = zd[j * TKV_CHUNK + (size_t)c];
        }
    }
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
            orthonormalize_cols(n, b, X, tau, w, lw);
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
    ws->w = ws->chunk + 2 * nz * TKV_CHUNK + 8;
    ws->lw = lwork - (size_t)(ws->w - work);
}

/* One step of the subspace iteration, the body of both phases: Z = MᵀM·Q
 * (f32: the float kernel, else M promoted to double) and the Rayleigh-Ritz
 * values lam and residuals rho of the orthonormal Q. */
static void tkv_step(int m, int n, int b, int kk, const float *M, int f32, tkv_ws *ws)
{
    tkv_apply(m, n, b, M, ws->Q, ws->Z, f32, ws->chunk);
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
    size_t mn = (size_t)m * (size_t)n, p = (size_t)mini(m, n);
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
    if (kk > mini(m, n)) {   /* zero-pad beyond the rank, as lsc_svd_topk does */
        int rc = tkv_dense(m, n, mini(m, n), M, S, work, lwork, info, err);
        for (int i = mini(m, n); i < kk; i++)
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
    double pd = (double)mini(m, n);
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

// ---- products with a float matrix, in double ----

/* Y[:, 0:8] = M·X[:, 0:8] for M (m, n) float (promoted exactly), X (n, ldx)
 * and Y (m, ldy) double; four rows at a time, 8 accumulators of 4 doubles. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
static void mm_f32d_8(int m, int n, const float *restrict M, const double *restrict X, size_t ldx,
                      double *restrict Y, size_t ldy)
{
    size_t nz = (size_t)n;
    int i = 0;
    for (; i + 4 <= m; i += 4) {
        const float *r0 = M + (size_t)i * nz, *r1 = r0 + nz, *r2 = r1 + nz, *r3 = r2 + nz;
        tkv_v4d a0 = {0}, b0 = {0}, a1 = {0}, b1 = {0}, a2 = {0}, b2 = {0}, a3 = {0}, b3 = {0};
        for (size_t j = 0; j < nz; j++) {
            tkv_v4d x0, x1;
            memcpy(&x0, X + j * ldx, sizeof x0);
            memcpy(&x1, X + j * ldx + 4, sizeof x1);
            double m0 = r0[j], m1 = r1[j], m2 = r2[j], m3 = r3[j];
            a0 += m0 * x0; b0 += m0 * x1;
            a1 += m1 * x0; b1 += m1 * x1;
            a2 += m2 * x0; b2 += m2 * x1;
            a3 += m3 * x0; b3 += m3 * x1;
        }
        double *y = Y + (size_t)i * ldy;
        memcpy(y, &a0, sizeof a0); memcpy(y + 4, &b0, sizeof b0); y += ldy;
        memcpy(y, &a1, sizeof a1); memcpy(y + 4, &b1, sizeof b1); y += ldy;
        memcpy(y, &a2, sizeof a2); memcpy(y + 4, &b2, sizeof b2); y += ldy;
        memcpy(y, &a3, sizeof a3); memcpy(y + 4, &b3, sizeof b3);
    }
    for (; i < m; i++) {
        const float *r0 = M + (size_t)i * nz;
        tkv_v4d a0 = {0}, b0 = {0};
        for (size_t j = 0; j < nz; j++) {
            tkv_v4d x0, x1;
            memcpy(&x0, X + j * ldx, sizeof x0);
            memcpy(&x1, X + j * ldx + 4, sizeof x1);
            a0 += (double)r0[j] * x0;
            b0 += (double)r0[j] * x1;
        }
        double *y = Y + (size_t)i * ldy;
        memcpy(y, &a0, sizeof a0);
        memcpy(y + 4, &b0, sizeof b0);
    }
}

#ifdef TKV_AVX512
/* Y[:, 0:16] = M·X[:, 0:16] with 512-bit vectors: four rows, two 8-double
 * halves each (8 accumulators). */
__attribute__((target("avx512f")))
static void mm_f32d_16_avx512(int m, int n, const float *restrict M, const double *restrict X,
                              size_t ldx, double *restrict Y, size_t ldy)
{
    size_t nz = (size_t)n;
    int i = 0;
    for (; i + 4 <= m; i += 4) {
        const float *r0 = M + (size_t)i * nz, *r1 = r0 + nz, *r2 = r1 + nz, *r3 = r2 + nz;
        tkv_v8d a0 = {0}, b0 = {0}, a1 = {0}, b1 = {0}, a2 = {0}, b2 = {0}, a3 = {0}, b3 = {0};
        for (size_t j = 0; j < nz; j++) {
            tkv_v8d x0, x1;
            memcpy(&x0, X + j * ldx, sizeof x0);
            memcpy(&x1, X + j * ldx + 8, sizeof x1);
            double m0 = r0[j], m1 = r1[j], m2 = r2[j], m3 = r3[j];
            a0 += m0 * x0; b0 += m0 * x1; a1 += m1 * x0; b1 += m1 * x1;
            a2 += m2 * x0; b2 += m2 * x1; a3 += m3 * x0; b3 += m3 * x1;
        }
        double *y = Y + (size_t)i * ldy;
        memcpy(y, &a0, sizeof a0); memcpy(y + 8, &b0, sizeof b0); y += ldy;
        memcpy(y, &a1, sizeof a1); memcpy(y + 8, &b1, sizeof b1); y += ldy;
        memcpy(y, &a2, sizeof a2); memcpy(y + 8, &b2, sizeof b2); y += ldy;
        memcpy(y, &a3, sizeof a3); memcpy(y + 8, &b3, sizeof b3);
    }
    for (; i < m; i++) {
        const float *r0 = M + (size_t)i * nz;
        tkv_v8d a0 = {0}, b0 = {0};
        for (size_t j = 0; j < nz; j++) {
            tkv_v8d x0, x1;
            memcpy(&x0, X + j * ldx, sizeof x0);
            memcpy(&x1, X + j * ldx + 8, sizeof x1);
            a0 += (double)r0[j] * x0;
            b0 += (double)r0[j] * x1;
        }
        double *y = Y + (size_t)i * ldy;
        memcpy(y, &a0, sizeof a0);
        memcpy(y + 8, &b0, sizeof b0);
    }
}
#endif

void lsc_matmul_f32d(int m, int n, int p, const float *M, const double *X, double *Y)
{
    if (m <= 0 || n <= 0 || p <= 0)
        return;
    size_t nz = (size_t)n, pz = (size_t)p;
    int c0 = 0;
#ifdef TKV_AVX512
    if (tkv_have_avx512())
        for (; c0 + 16 <= p; c0 += 16)
            mm_f32d_16_avx512(m, n, M, X + c0, pz, Y + c0, pz);
#endif
    for (; c0 + 8 <= p; c0 += 8)
        mm_f32d_8(m, n, M, X + c0, pz, Y + c0, pz);
    for (; c0 < p; c0++)   /* the last p % 8 columns */
        for (size_t i = 0; i < (size_t)m; i++) {
            const float *row = M + i * nz;
            double s = 0.0;
            for (size_t j = 0; j < nz; j++)
                s += (double)row[j] * X[j * pz + (size_t)c0];
            Y[i * pz + (size_t)c0] = s;
        }
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
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, K, d, 1.0, U, ldu, T, K,
                0.0, P, K);
    double ss = 0.0;
    for (size_t i = 0; i < Kz * Kz; i++)
        ss += P[i] * P[i];
    return sqrt(ss);
}
