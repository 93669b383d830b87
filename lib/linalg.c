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
    if (info) {
        info->method = LSC_TOPK_DENSE;
        info->iterations = 0;
        info->residual = 0.0;
    }
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
