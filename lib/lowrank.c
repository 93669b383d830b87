/*
 * lowrank.c — adapter surgery on factored updates dW = s·B·A: the rank
 * rules (fixed K, energy, kohya's σ ratio), the exact errors of a truncation
 * from the dropped singular values, the best rank-K approximation as new
 * balanced factors (B' = U√Σ, A' = √Σ Vᵀ) through lsc_lowrank_svd, and the
 * Frobenius inner product of two factored updates from their small Gram
 * matrices.
 *
 * The truncation has two paths with one result. The fast one works on the r×r Gram
 * matrices: BᵀB = W_B Λ_B W_Bᵀ gives B = Q_B·R_B with R_B = Λ_B^{1/2} W_Bᵀ and
 * Q_B = B W_B Λ_B^{-1/2} orthonormal (the same for Aᵀ), the SVD of the r×r core
 * s·R_B·R_Aᵀ = U_c Σ V_cᵀ, and the new factors straight from the old ones,
 * B' = B·(W_B Λ_B^{-1/2} U_c,K Σ_K^{1/2}) and A' = (Σ_K^{1/2} V_c,Kᵀ Λ_A^{-1/2} W_Aᵀ)·A:
 * level-3 BLAS only, about (d + k)·r·(r + 2K) flops, no Householder panels, no explicit
 * Q. Squaring the condition number costs accuracy, so it is taken only when both Gram
 * matrices have λ_min >= 1e-8·λ_max (κ(B), κ(A) <= 1e4: an error of ~ε·κ² = 1e-8 at
 * most, below float32's rounding of the result); otherwise (rank-deficient or
 * ill-conditioned factors, r > min(d, k)) the Householder path, lsc_lowrank_svd.
 *
 * What it is not: a dense SVD (linalg.c's lsc_lowrank_svd_dense is the
 * oracle for tests), an adapter reader or writer (peft.c), or a command
 * (analysis/resize.c, combine.c, recommend.c).
 *
 * Shapes: d = out_features, k = in_features, r = rank of the input factors,
 * K = rank kept; B (d, r), A (r, k), row-major.
 */
#include <math.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

#include "lsc_internal.h"

// ---- rank rules and errors ----

int lsc_rank_choose(int n, const double *S, lsc_rank_rule rule, double value)
{
    if (n <= 0)
        return 1;
    int K = 1;
    if (rule == LSC_RANK_RULE_FIXED) {
        K = value >= (double)n ? n : (int)value;
    } else if (rule == LSC_RANK_RULE_ENERGY) {
        double tot = 0.0, acc = 0.0;
        for (int i = n - 1; i >= 0; i--)
            tot += S[i] * S[i];
        if (!(tot > 0.0))
            return 1;
        for (K = 1; K <= n; K++) {
            acc += S[K - 1] * S[K - 1];
            if (acc / tot >= value)
                break;
        }
    } else {
        double cut = S[0] / value;
        K = 0;
        while (K < n && S[K] > cut)
            K++;
    }
    if (K > n)
        K = n;
    return K < 1 ? 1 : K;
}

void lsc_truncation_errors(int n, const double *S, int K, double *rel_fro, double *rel_spec,
                           double *fro)
{
    double tot = 0.0, tail = 0.0;
    for (int i = n - 1; i >= 0; i--) {   /* smallest first: the tail sum is accurate */
        tot += S[i] * S[i];
        if (i >= K)
            tail += S[i] * S[i];
    }
    if (fro)
        *fro = sqrt(tot);
    if (!(tot > 0.0)) {
        *rel_fro = *rel_spec = NAN;
        return;
    }
    *rel_fro = sqrt(tail / tot);
    *rel_spec = K < n ? S[K] / S[0] : 0.0;
}

// ---- truncated SVD as factors ----

/* Doubles of the Gram path's scratch beyond the (d, r) and (r, k) copies. */
static size_t gram_extra(int d, int k, int r)
{
    size_t rz = (size_t)r, dz = (size_t)d, kz = (size_t)k;
    return 9 * rz * rz + 2 * rz + dz * rz + rz * kz + lsc_maxz_(lsc_svd_work_size(r, r, 1), rz * (rz + 2) + 64);
}

size_t lsc_lowrank_truncate_work_size(int d, int k, int r)
{
    if (d <= 0 || k <= 0 || r <= 0)
        return 1;
    size_t dz = (size_t)d, kz = (size_t)k, rz = (size_t)r;
    size_t house = 2 * dz * rz + 2 * rz * kz + lsc_lowrank_svd_work_size(d, k, r, 1);
    return lsc_maxz_(house, dz * rz + rz * kz + gram_extra(d, k, r));
}

/* The Gram path (see the top of the file) on Bd (d, r), Ad (r, k) in double. Returns
 * LSC_OK with *K set, 1 when the factors are too ill-conditioned for it (nothing
 * written), or an error. */
static int truncate_gram(int d, int k, int r, double s, const double *Bd, const double *Ad,
                         lsc_rank_rule rule, double value, int *K_out, double *S, float *Bk,
                         float *Ak, double *w, size_t lw, lsc_error *err)
{
    size_t dz = (size_t)d, kz = (size_t)k, rz = (size_t)r;
    double *GB = w, *GA = GB + rz * rz;      /* Gram matrices, then eigenvectors (col-major) */
    double *lB = GA + rz * rz, *lA = lB + rz; /* eigenvalues, ascending */
    double *RB = lA + rz, *RA = RB + rz * rz, *C = RA + rz * rz, *Uc = C + rz * rz, *Vct = Uc + rz * rz;
    double *MB = Vct + rz * rz, *NA = MB + rz * rz;   /* (r, K), (K, r) */
    double *Bo = NA + rz * rz, *Ao = Bo + dz * rz;    /* (d, K), (K, k) */
    double *ws = Ao + rz * kz;
    size_t lws = lw - (size_t)(ws - w);
    lapack_int lwi = (lapack_int)(lws > 0x7fffffff ? 0x7fffffff : lws);
    /* upper triangle in row-major = lower in column-major */
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, r, d, 1.0, Bd, r, 0.0, GB, r);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, r, k, 1.0, Ad, k, 0.0, GA, r);
    if (LAPACKE_dsyev_work(LAPACK_COL_MAJOR, 'V', 'L', r, GB, r, lB, ws, lwi) != 0 ||
        LAPACKE_dsyev_work(LAPACK_COL_MAJOR, 'V', 'L', r, GA, r, lA, ws, lwi) != 0)
        return 1;
    if (!(lB[0] >= 1e-8 * lB[rz - 1]) || !(lA[0] >= 1e-8 * lA[rz - 1]) || !(lB[rz - 1] > 0.0) ||
        !(lA[rz - 1] > 0.0))
        return 1;
    /* eigenvector j is column j: GB[i + j·r] = W_B[i][j]; R_B[j][i] = sqrt(λ_j)·W_B[i][j] */
    for (size_t j = 0; j < rz; j++)
        for (size_t i = 0; i < rz; i++) {
            RB[j * rz + i] = sqrt(lB[j]) * GB[i + j * rz];
            RA[j * rz + i] = sqrt(lA[j]) * GA[i + j * rz];
        }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r, r, r, s, RB, r, RA, r, 0.0, C, r);
    int rc = lsc_svd(r, r, C, S, Uc, Vct, ws, lws, err);
    if (rc != LSC_OK)
        return rc;
    int K = lsc_rank_choose(r, S, rule, value);
    size_t Kz = (size_t)K;
    /* MB[i][q] = Σ_j W_B[i][j] λ_j^{-1/2} Uc[j][q] √σ_q;  NA[q][i] = √σ_q Σ_j Vct[q][j] λA_j^{-1/2} W_A[i][j] */
    for (size_t i = 0; i < rz; i++)
        for (size_t q = 0; q < Kz; q++) {
            double h = sqrt(S[q] > 0.0 ? S[q] : 0.0), mb = 0.0, na = 0.0;
            for (size_t j = 0; j < rz; j++) {
                mb += GB[i + j * rz] * Uc[j * rz + q] / sqrt(lB[j]);
                na += Vct[q * rz + j] * GA[i + j * rz] / sqrt(lA[j]);
            }
            MB[i * Kz + q] = mb * h;
            NA[q * rz + i] = na * h;
        }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, K, r, 1.0, Bd, r, MB, K, 0.0, Bo, K);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, k, r, 1.0, NA, r, Ad, k, 0.0, Ao, k);
    for (size_t i = 0; i < dz * Kz; i++)
        Bk[i] = (float)Bo[i];
    for (size_t i = 0; i < Kz * kz; i++)
        Ak[i] = (float)Ao[i];
    *K_out = K;
    return LSC_OK;
}

int lsc_lowrank_truncate(int d, int k, int r, double s, const float *B, const float *A,
                         lsc_rank_rule rule, double value, int *K_out, double *S,
                         float *Bk, float *Ak, double *work, size_t lwork, lsc_error *err)
{
    if (d <= 0 || k <= 0 || r <= 0)
        LSC_FAIL(err, LSC_ESHAPE, "lowrank: empty factors (%d x %d, %d x %d)", d, r, r, k);
    LSC_ASSERT(B && A && S && Bk && Ak && K_out && work);
    LSC_ASSERT(lwork >= lsc_lowrank_truncate_work_size(d, k, r));
    size_t dz = (size_t)d, kz = (size_t)k, rz = (size_t)r;
    double *Bd = work;              /* (d, r) */
    double *Ad = Bd + dz * rz;      /* (r, k) */
    double *U  = Ad + rz * kz;      /* (d, r)  Householder path */
    double *Vt = U + dz * rz;       /* (r, k) */
    double *w  = Vt + rz * kz;
    for (size_t i = 0; i < dz * rz; i++)
        Bd[i] = (double)B[i];
    for (size_t i = 0; i < rz * kz; i++)
        Ad[i] = (double)A[i];
    if (!lsc_all_finite_(dz * rz, Bd) || !lsc_all_finite_(rz * kz, Ad) || !isfinite(s))
        LSC_FAIL(err, LSC_ENAN, "lowrank: B or A (%d x %d, %d x %d) has NaN or Inf", d, r, r, k);
    if (r <= lsc_mini_(d, k) && s != 0.0) {
        int g = truncate_gram(d, k, r, s, Bd, Ad, rule, value, K_out, S, Bk, Ak, U,
                              lwork - (size_t)(U - work), err);
        if (g != 1)
            return g;
    }
    int rc = lsc_lowrank_svd(d, k, r, s, Bd, Ad, S, U, Vt, w, lwork - (size_t)(w - work), err);
    if (rc != LSC_OK)
        return rc;
    int n = lsc_mini_(r, lsc_mini_(d, k));
    int K = lsc_rank_choose(n, S, rule, value);
    size_t Kz = (size_t)K;
    for (size_t j = 0; j < Kz; j++) {
        double h = sqrt(S[j] > 0.0 ? S[j] : 0.0);
        for (size_t i = 0; i < dz; i++)
            Bk[i * Kz + j] = (float)(U[i * rz + j] * h);
        for (size_t i = 0; i < kz; i++)
            Ak[j * kz + i] = (float)(h * Vt[j * kz + i]);
    }
    *K_out = K;
    return LSC_OK;
}

// ---- inner products ----

size_t lsc_lowrank_inner_work_size(int r1, int r2)
{
    return 2 * (size_t)(r1 > 0 ? r1 : 0) * (size_t)(r2 > 0 ? r2 : 0) + 1;
}

/* G (p1, p2) = X1ᵀ·X2 for X1 (m, p1), X2 (m, p2) float, double sums. */
static void gram_cols(int m, int p1, const float *X1, int p2, const float *X2, double *G)
{
    size_t p1z = (size_t)p1, p2z = (size_t)p2;
    memset(G, 0, p1z * p2z * sizeof *G);
    for (size_t i = 0; i < (size_t)m; i++) {
        const float *x1 = X1 + i * p1z, *x2 = X2 + i * p2z;
        for (size_t a = 0; a < p1z; a++) {
            double v = (double)x1[a];
            double *g = G + a * p2z;
            for (size_t b = 0; b < p2z; b++)
                g[b] += v * (double)x2[b];
        }
    }
}

/* G (p1, p2) = Y1·Y2ᵀ for Y1 (p1, m), Y2 (p2, m) float, double sums. */
static void gram_rows(int m, int p1, const float *Y1, int p2, const float *Y2, double *G)
{
    size_t mz = (size_t)m;
    for (size_t a = 0; a < (size_t)p1; a++)
        for (size_t b = 0; b < (size_t)p2; b++) {
            const float *y1 = Y1 + a * mz, *y2 = Y2 + b * mz;
            double acc = 0.0;
            for (size_t i = 0; i < mz; i++)
                acc += (double)y1[i] * (double)y2[i];
            G[a * (size_t)p2 + b] = acc;
        }
}

double lsc_lowrank_inner(int d, int k, int r1, double s1, const float *B1, const float *A1,
                         int r2, double s2, const float *B2, const float *A2, double *work)
{
    if (d <= 0 || k <= 0 || r1 <= 0 || r2 <= 0)
        return 0.0;
    size_t n = (size_t)r1 * (size_t)r2;
    double *GB = work, *GA = work + n;
    gram_cols(d, r1, B1, r2, B2, GB);
    gram_rows(k, r1, A1, r2, A2, GA);
    double acc = 0.0;
    for (size_t i = 0; i < n; i++)
        acc += GB[i] * GA[i];
    return s1 * s2 * acc;
}
