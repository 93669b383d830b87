/*
 * linalg.c — the LAPACK side of the analyses' linear algebra, double
 * precision: thin SVD (dgesdd, dgesvd as its fallback), thin QR on
 * row-major buffers, and the exact SVD of a LoRA update dW = s·B·A through
 * two thin QRs and an r×r core (never forming the d×k matrix), with the
 * dense path kept as its oracle; plus the small helpers the other linalg
 * files share (workspace arithmetic, finiteness checks).
 *
 * Not here: top-k singular triplets/values (topk.c), the SIMD kernels on
 * float matrices (simd.c), subspace similarity, principal angles, random
 * bases and the Table-7 projections (grassmann.c). It is not a general
 * matrix library. No allocation happens here: every function takes a
 * caller-allocated double *work of at least *_work_size() doubles. No
 * global state.
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
#include <math.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "lsc_internal.h"

// ---- helpers shared by the linalg files ----

size_t lsc_ints_as_doubles_(size_t n)
{
    return (n * sizeof(lapack_int) + sizeof(double) - 1) / sizeof(double);
}

int lsc_all_finite_(size_t n, const double *x)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

size_t lsc_lwork_of_(double q)
{
    return q > 1.0 ? (size_t)q + 1 : 1;
}

// ---- thin SVD ----

/* lapack work for dgesdd and dgesvd on a column-major (M, N) matrix */
static size_t svd_lapack_lwork(int M, int N, int want)
{
    int mn = lsc_mini_(M, N);
    double q = 0.0, dummy = 0.0;
    lapack_int iw = 0;
    char job = want ? 'S' : 'N';
    size_t lw = 1;
    if (LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, job, M, N, &dummy, lsc_maxi_(1, M), &dummy,
                            &dummy, lsc_maxi_(1, M), &dummy, lsc_maxi_(1, mn), &q, -1, &iw) == 0)
        lw = lsc_lwork_of_(q);
    if (LAPACKE_dgesvd_work(LAPACK_COL_MAJOR, job, job, M, N, &dummy, lsc_maxi_(1, M), &dummy,
                            &dummy, lsc_maxi_(1, M), &dummy, lsc_maxi_(1, mn), &q, -1) == 0)
        lw = lsc_maxz_(lw, lsc_lwork_of_(q));
    /* LAPACK's documented minimum for dgesdd, in case a query under-reports */
    size_t mnz = (size_t)mn, mxz = (size_t)lsc_maxi_(M, N);
    size_t minimum = want ? 4 * mnz * mnz + 7 * mnz + mxz : 3 * mnz + lsc_maxz_(mxz, 7 * mnz);
    return lsc_maxz_(lw, minimum);
}

size_t lsc_svd_work_size(int m, int n, int want_vectors)
{
    if (m <= 0 || n <= 0)
        return 1;
    size_t mz = (size_t)m, nz = (size_t)n, mn = (size_t)lsc_mini_(m, n);
    size_t s = mz * nz;                              /* copy of M (destroyed) */
    if (want_vectors)
        s += mz * mn + mn * nz;                      /* scratch U, Vt */
    s += lsc_ints_as_doubles_(8 * mn);                    /* iwork */
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
    size_t mz = (size_t)m, nz = (size_t)n, mn = (size_t)lsc_mini_(m, n);
    if (!lsc_all_finite_(mz * nz, M))
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
    w += lsc_ints_as_doubles_(8 * mn);
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

size_t lsc_qr_cols_lwork_(int m, int p)
{
    double q = 0.0, dummy = 0.0;
    size_t lw = (size_t)lsc_maxi_(1, m);
    if (LAPACKE_dgelqf_work(LAPACK_COL_MAJOR, p, m, &dummy, lsc_maxi_(1, p), &dummy, &q, -1) == 0)
        lw = lsc_maxz_(lw, lsc_lwork_of_(q));
    if (LAPACKE_dorglq_work(LAPACK_COL_MAJOR, p, m, p, &dummy, lsc_maxi_(1, p), &dummy, &q, -1) == 0)
        lw = lsc_maxz_(lw, lsc_lwork_of_(q));
    return lw;
}

/* lapack lwork for dgeqrf + dorgqr of a column-major (m, p) matrix. */
static size_t qr_colmajor_lwork(int m, int p)
{
    double q = 0.0, dummy = 0.0;
    size_t lw = (size_t)lsc_maxi_(1, p);
    if (LAPACKE_dgeqrf_work(LAPACK_COL_MAJOR, m, p, &dummy, lsc_maxi_(1, m), &dummy, &q, -1) == 0)
        lw = lsc_maxz_(lw, lsc_lwork_of_(q));
    if (LAPACKE_dorgqr_work(LAPACK_COL_MAJOR, m, p, p, &dummy, lsc_maxi_(1, m), &dummy, &q, -1) == 0)
        lw = lsc_maxz_(lw, lsc_lwork_of_(q));
    return lw;
}

void lsc_orthonormalize_cols_(int m, int p, double *X, double *tau, double *w, size_t lw)
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
    size_t dz = (size_t)d, kz = (size_t)k, mn = (size_t)lsc_mini_(d, k);
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
    int mn = lsc_mini_(d, k);
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
    int kk = lsc_mini_(r, mn);
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
    size_t lw = lsc_maxz_(lsc_qr_cols_lwork_(d, r), qr_colmajor_lwork(k, r));
    return s + lsc_maxz_(lw, lsc_svd_work_size(r, r, want));
}

size_t lsc_lowrank_svd_work_size(int d, int k, int r, int want_vectors)
{
    if (d <= 0 || k <= 0 || r <= 0)
        return 1;
    if (r > lsc_mini_(d, k))
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
    if (r > lsc_mini_(d, k))  /* more columns than the space: QR is not thin */
        return lsc_lowrank_svd_dense(d, k, r, s, B, A, S, U, Vt, work, lwork, err);
    int want = U || Vt;
    LSC_ASSERT(lwork >= lowrank_qr_size(d, k, r, want));
    size_t dz = (size_t)d, kz = (size_t)k, rz = (size_t)r;
    if (!lsc_all_finite_(dz * rz, B) || !lsc_all_finite_(rz * kz, A) || !isfinite(s))
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
