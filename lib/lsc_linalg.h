/*
 * lsc_linalg.h — linear algebra for the analyses, double precision
 * (linalg.c: SVD, low-rank SVD; topk.c: top-k triplets and values;
 * grassmann.c: subspaces, angles, random bases, Table-7 projections, null draws;
 * simd.c: products with a float matrix).
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 */
#ifndef LSC_LINALG_H
#define LSC_LINALG_H

#include <stddef.h>
#include <stdint.h>

#include "lsc_error.h"

// ---- linear algebra for the analyses, double precision ----
/* Matrices are flat row-major double. Every compute function takes a
 * caller-allocated workspace `work` of at least the matching *_work_size()
 * doubles (the caller allocates and frees it; sizes depend only on the
 * dimensions, so one workspace serves a loop). Compute functions never
 * allocate and keep no state. Inputs are const; outputs are caller-owned.
 * NaN/Inf inputs give LSC_ENAN, LAPACK non-convergence LSC_ENOCONV; the
 * messages name the dimensions (callers add the module or file name). */

/* Thin SVD of M (m, n): M = U·diag(S)·Vt, mn = min(m, n), S (mn) descending,
 * U (m, mn), Vt (mn, n). U and/or Vt may be NULL; want_vectors in the size
 * query must be 1 if either is requested. */
size_t lsc_svd_work_size(int m, int n, int want_vectors);
int    lsc_svd(int m, int n, const double *M, double *S, double *U, double *Vt,
               double *work, size_t lwork, lsc_error *err);

/* Exact SVD of dW = s·B·A with B (d, r), A (r, k), never forming dW: thin
 * QR of B and of Aᵀ, SVD of the r×r core s·R_B·R_Aᵀ. Cost O((d+k)·r² + r³).
 * S (r) descending (zero-padded if r > min(d, k)), U (d, r), Vt (r, k),
 * U/Vt may be NULL. */
size_t lsc_lowrank_svd_work_size(int d, int k, int r, int want_vectors);
int    lsc_lowrank_svd(int d, int k, int r, double s, const double *B, const double *A,
                       double *S, double *U, double *Vt, double *work, size_t lwork,
                       lsc_error *err);
/* The same through the dense (d, k) product and a full SVD: the oracle. */
size_t lsc_lowrank_svd_dense_work_size(int d, int k, int r, int want_vectors);
int    lsc_lowrank_svd_dense(int d, int k, int r, double s, const double *B,
                             const double *A, double *S, double *U, double *Vt,
                             double *work, size_t lwork, lsc_error *err);

/* Top-kk singular triplets of a dense M (m, n): S (kk) descending, U (m, kk),
 * Vt (kk, n), U/Vt may be NULL. LSC_TOPK_DENSE: direct LAPACK — dgesvdx
 * for just the kk wanted triplets when kk <= mn/2 (else, or if it fails,
 * the full dgesdd, truncated). LSC_TOPK_AUTO: subspace iteration (block
 * kk + max(10, kk), Rayleigh-Ritz, converged when every residual
 * ‖M·v_i − σ_i·u_i‖ <= 1e-12·σ_1) when a cost model predicts it beats the
 * direct path, falling back to it as soon as the observed convergence rate
 * says otherwise; seed fixes its random start. LSC_TOPK_ITERATIVE: try the
 * iteration even for kk > 64. *info (may be NULL) says what was used. */
typedef enum lsc_topk_method {
    LSC_TOPK_AUTO, LSC_TOPK_DENSE, LSC_TOPK_ITERATIVE
} lsc_topk_method;
typedef struct lsc_topk_info {
    lsc_topk_method method;   /* what produced the result */
    int    iterations;        /* subspace iterations done */
    double residual;          /* last max residual / σ_1 */
} lsc_topk_info;
size_t lsc_svd_topk_work_size(int m, int n, int kk, lsc_topk_method method);
int    lsc_svd_topk(int m, int n, int kk, const double *M, double *S, double *U,
                    double *Vt, lsc_topk_method method, uint64_t seed, double *work,
                    size_t lwork, lsc_topk_info *info, lsc_error *err);

/* Subspaces are given by orthonormal ROWS: Vt1 (p1, n), Vt2 (p2, n), ordered
 * by singular value. G = Vt1·Vt2ᵀ (p1, p2). */
void lsc_subspace_gram(int n, int p1, const double *Vt1, int p2, const double *Vt2,
                       double *G);
/* φ(i, j) = ‖G[:i, :j]‖²_F / min(i, j) into phi (p1, p2), phi[(i-1)·p2 + j-1],
 * by a 2-D prefix sum of G∘G: O(p1·p2), no workspace (LoRA paper Eq. 4). */
void lsc_phi_grid(int p1, int p2, const double *G, double *phi);
/* Principal angles in degrees, ascending, min(p1, p2) of them: acos of the
 * singular values of G (clamped to [0, 1]). */
size_t lsc_principal_angles_work_size(int p1, int p2);
int    lsc_principal_angles(int p1, int p2, const double *G, double *deg, double *work,
                            size_t lwork, lsc_error *err);

/* A seeded uniformly random p-dimensional subspace of R^n (p <= n):
 * Q (n, p) with orthonormal columns, from the QR of a Gaussian matrix drawn
 * with lsc_rng_normal(rng). */
size_t lsc_random_orthonormal_work_size(int n, int p);
int    lsc_random_orthonormal(int n, int p, uint64_t *rng, double *Q, double *work,
                              size_t lwork, lsc_error *err);

/* ‖Uᵀ·W·V‖_F for W (d, k), U = the first K columns of a (d, ldu) array,
 * V = the first K rows of Vt (ldvt columns) transposed (LoRA paper Table 7:
 * "UᵀWVᵀ" with its V being K×k). */
size_t lsc_proj_fro_work_size(int d, int k, int K);
double lsc_proj_fro(int d, int k, const double *W, int K, const double *U, int ldu,
                    const double *Vt, int ldvt, double *work);
/* Frobenius (2-) norm of n values, without overflow. NaN in, NaN out. */
double lsc_fro_norm(size_t n, const double *x);

/* Top-kk singular VALUES of a float M (m, n) — weights as stored, read
 * exactly — each to relative accuracy tol (<= 0: 1e-10), no vectors: what
 * Table 7's proj_base = sqrt(Σ_{i<kk} σ_i²) needs. Subspace iteration on
 * MᵀM with a fused one-pass kernel in float, then Rayleigh-Ritz in double
 * with an a-posteriori residual bound; the dense double path
 * (lsc_svd_topk on a copy) when that bound is not met or the shape does not
 * suit iteration. S (kk) descending (zero-padded beyond min(m, n)). work:
 * lsc_svd_topk_values_work_size doubles (includes the dense fallback's
 * m·n copy). *info (may be NULL): method, iterations, bound reached.
 * LSC_ENAN for NaN/Inf input. */
size_t lsc_svd_topk_values_work_size(int m, int n, int kk);
int    lsc_svd_topk_values(int m, int n, int kk, const float *M, double *S, double tol,
                           uint64_t seed, double *work, size_t lwork, lsc_topk_info *info,
                           lsc_error *err);
/* Y (m, p) = M·X for a float M (m, n), promoted exactly, and double X
 * (n, p), Y: double accumulation, one pass over M per 8 columns of X. */
void   lsc_matmul_f32d(int m, int n, int p, const float *M, const double *X, double *Y);
/* lsc_proj_fro with a float W (d, k) promoted exactly to double. */
size_t lsc_proj_fro_f32_work_size(int d, int k, int K);
double lsc_proj_fro_f32(int d, int k, const float *W, int K, const double *U, int ldu,
                        const double *Vt, int ldvt, double *work);

/* Null draws (the statistic for independent uniformly random subspaces or
 * frames; by the rotation invariance of the Haar measure one side is fixed
 * to the coordinate axes, which halves the draws and keeps the law).
 * lsc_phi11_null: ndraws values of φ(1, 1) = (u·v)² for two uniform unit
 * vectors of R^n (each v₁²/‖v‖² of one Gaussian v: n normals a draw; law
 * Beta(1/2, (n−1)/2), mean 1/n). lsc_phi_null: ndraws φ grids of a uniformly
 * random p1- and p2-dimensional subspace of R^n (p1, p2 <= n; the smaller
 * one drawn with lsc_random_orthonormal) into phi (ndraws, p1, p2).
 * Both consume rng; the draws depend only on it and the dimensions. */
void   lsc_phi11_null(int n, int ndraws, uint64_t *rng, double *phi11);
size_t lsc_phi_null_work_size(int n, int p1, int p2);
int    lsc_phi_null(int n, int p1, int p2, int ndraws, uint64_t *rng, double *phi, double *work,
                    size_t lwork, lsc_error *err);
/* Table 7's null: ndraws values of ‖UᵀWV‖_F for fresh uniformly random
 * orthonormal U (d, K) and V (k, K) (drawn in that order, U then V, with
 * lsc_random_orthonormal: the top-K singular frames of a random dW of rank
 * K) and the float W (d, k), stored (k, d) when transposed. One pass over W
 * a draw (W·V, or Wᵀ·U). K <= min(d, k). The draws depend only on rng,
 * d, k, K and W. */
size_t lsc_proj_null_work_size(int d, int k, int K);
int    lsc_proj_null(int d, int k, int K, const float *W, int transposed, int ndraws,
                     uint64_t *rng, double *proj, double *work, size_t lwork, lsc_error *err);

#endif /* LSC_LINALG_H */
