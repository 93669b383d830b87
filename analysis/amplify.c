/*
 * amplify.c — `lorascope amplify ADAPTER --base MODEL -o OUT.h5`:
 * Table 7 of the LoRA paper (§7.3) for every module whose frozen weight W
 * is found in the base model: how strongly dW = s·B·A amplifies directions
 * of W. With U, V the top-K singular vectors (K = r, or --rank K):
 *
 *   proj_delta  = ‖Uᵀ W V‖_F, U, V of dW (the paper's "ΔWq" column)
 *   proj_base   = the same with W's own top-K (= sqrt(Σ_{i<=K} σ_i(W)²))
 *   proj_random = the same with seeded uniformly random orthonormal U, V
 *   amplification = ‖dW‖_F / proj_delta
 *
 * MODEL is FILE.safetensors or a Hugging Face folder (config.json and
 * model.safetensors, or shards behind model.safetensors.index.json; see
 * ana_base_open). The base weight is looked up as "<module>.weight", then
 * without a leading "transformer." / "model." (or with one added:
 * ana_base_find); with
 * fan_in_fan_out (GPT-2's Conv1D) it is stored (in, out) and transposed.
 * dW includes the scaling s.
 * DoRA modules: U, V are the top-K singular vectors of the effective update
 * dW = m ⊙ (W + s·B·A)/‖W + s·B·A‖_row − W (lib/dora.c, formed densely from
 * the base weight, then lsc_svd_topk's dense LAPACK path: it has full rank
 * in general, and its top-K subspace is what is compared), delta_fro is the
 * Frobenius norm of the whole effective update, the zero tolerance
 * ‖W‖_F·max(d, k)·DBL_EPSILON; attributes update = "DoRA effective: ...",
 * effective_update = 1. With --factors-only they are s·B·A's as for LoRA,
 * with update = "factors s·B·A (NOT the effective DoRA update)",
 * effective_update = 0. LoRA modules never get these two attributes.
 * Embedding LoRA modules: s·B·A is [dim, vocab], so W is the TRANSPOSE of
 * the base's [vocab, dim] table (base_transposed = 1); conv LoRA modules:
 * the base kernel [out, in, k...] read as [out, in·prod(k)]. Both get the
 * attributes kind ("embedding LoRA" / "conv LoRA") and base_matrix (how W
 * was formed from the base tensor, also at the end of the module's output
 * line); base_match.c finds and checks the base matrix of every kind.
 * Full tensors (modules_to_save) need --rank K (their update has full
 * rank, no r; without it one output line says they were not analysed):
 * dW = weight[:rows] − W0 on the base tensor's rows (added-token rows
 * apart), formed densely,
 * its top-K triplets by the dense SVD; delta_fro is the whole dW's;
 * attributes r = rank = K, out_features = the base's rows, kind = "full
 * tensor", base_matrix, update, base_rows, n_added_rows, added_rows_fro
 * (base_match.c's ana_full_attrs, as spectrum writes them).
 *
 * HDF5 layout, per module /modules/<module>/: datasets
 * delta_singular_values (K), base_singular_values (K); attributes r, rank
 * (K used), alpha, scaling, in_features, out_features, delta_fro, base_fro,
 * proj_delta, proj_base, proj_random, proj_random_expected (K·‖W‖_F/√(dk)),
 * amplification, base_tensor, base_transposed, degenerate (dW = 0: proj_delta
 * and amplification NaN), n_nonfinite, topk_method, random_seed.
 *
 * The null (--null-draws N, default 200; --null-seed S, default --seed): a
 * random dW of equal rank and Frobenius norm has Haar-random top-K
 * singular frames, so each draw is ‖UᵀWV‖_F for fresh uniformly random
 * orthonormal U (d, K), V (k, K) (lsc_proj_null; the rms of the draws is
 * proj_random_expected exactly). Per module:
 *   proj_null             float64 [N], the draws
 *   attributes proj_null_mean, proj_null_sd (n − 1), proj_null_q95 (numpy's
 *     linear quantile), proj_p ((1 + #{draws >= proj_delta}) / (1 + N),
 *     one-sided), alignment_excess (proj_delta / proj_random_expected),
 *     amplification_null (delta_fro / proj_null_mean), null_draws,
 *     null_seed (ana_module_seed(S, "<module>/null/K=<K>"): the draws depend
 *     only on S, the module name, K and the shape, so adapters of any rank
 *     analysed with the same K and S share them).
 * With --k KF (a K fixed across adapters, <= r): attribute k_fixed (= KF),
 * k_skipped (1 when KF > min(r, d, k): nothing else below is written, and a
 * warning names the module), and for the top-KF directions: proj_delta_k,
 * proj_base_k, proj_random_expected_k (KF·‖W‖_F/√(dk)), dataset proj_null_k
 * [N] with proj_null_k_mean, proj_null_k_sd, proj_null_k_q95, proj_k_p,
 * alignment_excess_k, amplification_k (delta_fro / proj_delta_k),
 * amplification_null_k, null_seed_k. NaN where the inputs are (degenerate,
 * NaN/Inf); a NaN/Inf base gives NaN draws.
 * Not a model loader: only the 2-D weights of adapted modules are read,
 * one at a time (F32 in place in the mapping, F16/BF16 converted into a
 * buffer freed after the module), and each tensor's mapped pages are given
 * back after its module (ana_base_release), so the resident size stays
 * near a few tensors, not the model. Not
 * a statistics package: the null's summaries and a Monte-Carlo p-value, no
 * verdicts.
 * Self-description and tables (h5describe.c): every dataset has the string
 * attributes units and definition, every module group layer (-1 if none) and
 * proj, scale (= scaling); delta_/base_singular_values the scales
 * sv_index_delta and sv_index_base (1..K); --json / --csv FILE print the
 * file's numbers as a tidy table (tidy.h).
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis_common.h"
#include "base_match.h"
#include "commands.h"
#include "tidy.h"
#include "dora_update.h"
#include "nulls.h"

static const char *USAGE =
    "usage: lorascope amplify ADAPTER --base MODEL -o OUT.h5 [--rank K]\n"
    "                         [--k K] [--null-draws N] [--factors-only] [--plots DIR]\n"
    "                         [options]\n"
    "\n"
    "Table 7 of the LoRA paper for every module whose base weight W is found:\n"
    "|U^T W V|_F with U, V the top-K singular vectors of dW = s*B*A, of W itself,\n"
    "and of a seeded random matrix; |W|_F, |dW|_F and the amplification factor\n"
    "|dW|_F / |U^T W V|_F; the null distribution of the projection for a random\n"
    "dW of the same rank. The base weight is '<module>.weight', tried with and\n"
    "without a leading 'transformer.' / 'model.'; transposed when the adapter\n"
    "says fan_in_fan_out (GPT-2 Conv1D). DoRA modules: U, V of the effective\n"
    "update m*(W + sBA)/|W + sBA|_row - W (its top-K directions). Embedding\n"
    "LoRA: W is the table transposed ([dim, vocab], as s*B*A is); conv LoRA: the\n"
    "kernel [out, in, k...] reshaped to [out, in*k*k]; both said in the output.\n"
    "Full tensors (modules_to_save) with --rank K: the top-K directions of their\n"
    "update weight - W0 on the base's rows (added-token rows reported apart).\n"
    "\n"
    "  --base MODEL         base model weights: FILE.safetensors or a Hugging Face\n"
    "                       folder (config.json + model.safetensors, or sharded\n"
    "                       with model.safetensors.index.json); F32/F16/BF16\n"
    "  --rank K             use the top-K directions instead of r (K <= r); needed\n"
    "                       for full tensors (modules_to_save), which have no r\n"
    "  --k K                also every quantity for a K fixed across adapters (the\n"
    "                       same K for r=4 and r=64; K <= r, else the module's\n"
    "                       fixed-K set is skipped): names with suffix _k\n"
    "  --null-draws N       the null, a random dW of equal rank and norm: N draws\n"
    "                       of |U^T W V|_F for random orthonormal U, V (default\n"
    "                       200): mean, sd, 95th percentile, the p-value of\n"
    "                       proj_dW and the alignment excess proj_dW / expected\n"
    ANA_NULL_SEED_HELP
    ANA_DORA_HELP
    ANA_COMMON_HELP
    "\n"
    "example:\n"
    "  lorascope amplify ../shared/fixtures/peft/gpt2-tigrinya-r8-cattn-cproj \\\n"
    "      --base gpt2/model.safetensors -o amp.h5 --plots figs\n";

typedef struct amp {
    const lsc_adapter_module *m;
    const lsc_st_file        *f;        /* the file holding t (a folder's shard) */
    const lsc_st_tensor      *t;        /* base tensor, NULL: not found */
    int    K, transposed, degenerate, base_nonfinite;
    int    effective;                  /* 1: a DoRA module through its effective update */
    ana_base_mat bm;                   /* the base matrix (its rows, how W0 was formed) */
    const lsc_adapter_module *orig;    /* the module as read (m: a full tensor's rows/K copy) */
    lsc_adapter_module mfull;          /* a full tensor as analysed: base rows, r = K */
    double added_fro;                  /* a full tensor's added-token rows, ‖·‖_F */
    double delta_fro, base_fro, proj_delta, proj_base, proj_random, proj_random_expected;
    double amplification;
    double *sv_delta, *sv_base;        /* (K), (K) */
    lsc_topk_method method;
    uint64_t rseed;
    /* the null: ndraws of ‖UᵀWV‖_F for Haar frames of K (and of kf) columns */
    int    ndraws;
    uint64_t nseed, nseed_k;
    double *proj_null, *proj_null_k;   /* (ndraws), (ndraws) with --k */
    ana_null sn, snk;                  /* their summaries against proj_delta(_k) */
    double alignment_excess, amplification_null;
    /* --k: the same for kf directions (k_skipped: kf > min(r, d, k)) */
    int    kf, k_skipped;
    double proj_delta_k, proj_base_k, proj_random_expected_k;
    double alignment_excess_k, amplification_k, amplification_null_k;
    int    rc;                         /* of compute() */
    ana_msgs msgs;                     /* warnings/error of compute(), printed in order */
} amp;

/* ‖Aᵀ·B‖_F for A, B with n rows and K columns: A[i][a] at A[i·ai + a·aa]
 * (so a transposed view is just other strides), B[i][b] at B[i·ldb + b]. */
static double fro_atb(size_t n, size_t K, const double *A, size_t ai, size_t aa, const double *B,
                      size_t ldb)
{
    double ss = 0.0;
    for (size_t a = 0; a < K; a++)
        for (size_t b = 0; b < K; b++) {
            double p = 0.0;
            for (size_t i = 0; i < n; i++)
                p += A[i * ai + a * aa] * B[i * ldb + b];
            ss += p * p;
        }
    return sqrt(ss);
}

/* proj_delta = ‖Uᵀ W V‖_F (U (d, ldu), first K columns; Vt (K.., k)) and
 * proj_random = ‖Urᵀ W Qr‖_F (Ur (d, K), Qr (k, K)) in ONE pass over W,
 * which is given as stored: (d, k), or (k, d) = Wᵀ when transposed (then
 * the pass is Wᵀ·[U | Ur] and the norms ‖Vᵀ (WᵀU)‖, ‖Qrᵀ (WᵀUr)‖ — equal).
 * Ur = NULL: proj_delta alone (Qr, pr unused). X, T: max(d, k)·2K doubles
 * each. */
static void proj_pair(const float *Wf, int transposed, int d, int k, int K, const double *U,
                      int ldu, const double *Vt, const double *Ur, const double *Qr, double *X,
                      double *T, double *pd, double *pr)
{
    size_t dz = (size_t)d, kz = (size_t)k, Kz = (size_t)K, K2 = Ur ? 2 * Kz : Kz;
    if (!transposed) {
        for (size_t j = 0; j < kz; j++)
            for (size_t c = 0; c < Kz; c++) {
                X[j * K2 + c] = Vt[c * kz + j];
                if (Ur)
                    X[j * K2 + Kz + c] = Qr[j * Kz + c];
            }
        lsc_matmul_f32d(d, k, (int)K2, Wf, X, T);                /* T (d, 2K) = W·X */
        *pd = fro_atb(dz, Kz, U, (size_t)ldu, 1, T, K2);          /* ‖Uᵀ W V‖ */
        if (Ur)
            *pr = fro_atb(dz, Kz, Ur, Kz, 1, T + Kz, K2);
    } else {
        for (size_t i = 0; i < dz; i++)
            for (size_t c = 0; c < Kz; c++) {
                X[i * K2 + c] = U[i * (size_t)ldu + c];
                if (Ur)
                    X[i * K2 + Kz + c] = Ur[i * Kz + c];
            }
        lsc_matmul_f32d(k, d, (int)K2, Wf, X, T);                /* T (k, 2K) = Wᵀ·X */
        *pd = fro_atb(kz, Kz, Vt, 1, kz, T, K2);                  /* ‖Vᵀ Wᵀ U‖ */
        if (Ur)
            *pr = fro_atb(kz, Kz, Qr, Kz, 1, T + Kz, K2);
    }
}

/* ‖W‖_F of a float matrix in double, with four partial sums (independent
 * adds). */
static double fro_f32(size_t nw, const float *Wf)
{
    double s4[4] = {0.0, 0.0, 0.0, 0.0};
    size_t i4 = 0;
    for (; i4 + 4 <= nw; i4 += 4)
        for (int c = 0; c < 4; c++)
            s4[c] += (double)Wf[i4 + (size_t)c] * (double)Wf[i4 + (size_t)c];
    for (; i4 < nw; i4++)
        s4[0] += (double)Wf[i4] * (double)Wf[i4];
    return sqrt((s4[0] + s4[1]) + (s4[2] + s4[3]));
}

/* W of module a as float, in the orientation it is stored in (the weights
 * are float32 in the file, so nothing is lost; F16/BF16 convert exactly).
 * F32 weights are used in place in the file's mapping (no copy, no fresh
 * pages); other dtypes (and a misaligned tensor) are converted into *copy
 * (the caller frees it). NULL after recording the error. */
static const float *base_weight(amp *a, float **copy)
{
    const lsc_st_file *bf = a->f;
    size_t n = (size_t)a->m->out_features * (size_t)a->m->in_features;
    const float *Wf = NULL;
    lsc_error err = {0};
    *copy = NULL;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const void *raw = lsc_st_bytes(bf, a->t);
    if (a->t->dtype == LSC_DT_F32 && ((uintptr_t)raw % sizeof(float)) == 0)
        Wf = (const float *)raw;
#endif
    if (Wf)
        return Wf;
    if (!(*copy = malloc(n * sizeof **copy))) {
        ana_msg_error(&a->msgs, "out of memory for module %s", a->m->name);
        return NULL;
    }
    if (lsc_st_read_f32(bf, a->t, *copy, &err) != LSC_OK) {
        ana_msg_error(&a->msgs, "%s", err.msg[0] ? err.msg : lsc_strerror(err.code));
        return NULL;
    }
    return *copy;
}

/* sqrt(Σ_{i<n} x_i²) */
static double root_sum_sq(int n, const double *x)
{
    double ss = 0.0;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    return sqrt(ss);
}

/* The fixed-K set of --k (a->kf <= min(r, d, k)): proj_delta_k from the
 * first kf singular vectors of dW (U (d, r), Vt (r, k)), proj_base_k from
 * W's top-kf singular values (the first kf of sv_base when kf <= K, else
 * their own lsc_svd_topk_values; S: kf doubles). X, T, w as in compute. */
static int fixed_k(amp *a, const float *Wf, const double *U, const double *Vt, double *S,
                   double *X, double *T, double *w, size_t lw, lsc_error *err)
{
    const lsc_adapter_module *m = a->m;
    int d = m->out_features, k = m->in_features, kf = a->kf;
    if (kf <= a->K) {
        a->proj_base_k = root_sum_sq(kf, a->sv_base);
    } else {
        int rc = lsc_svd_topk_values(a->transposed ? k : d, a->transposed ? d : k, kf, Wf, S, 1e-10,
                                     a->rseed, w, lw, NULL, err);
        if (rc != LSC_OK)
            return rc;
        a->proj_base_k = root_sum_sq(kf, S);
    }
    a->proj_delta_k = NAN;
    if (!a->degenerate)
        proj_pair(Wf, a->transposed, d, k, kf, U, m->r, Vt, NULL, NULL, X, T, &a->proj_delta_k, NULL);
    return LSC_OK;
}

/* The top min(r, d, k) singular triplets of a DoRA module's effective
 * update (lsc_dora_delta on Wf), or of a full tensor's weight[:d] − W0
 * (r = K there), by the dense lsc_svd_topk into S (r), U (d, r) and Vt
 * (r, k), zero beyond min(d, k) as lsc_lowrank_svd pads; a->delta_fro =
 * ‖the whole update‖_F. */
static int dense_svd(amp *a, const float *Wf, double *S, double *U, double *Vt, double *w, size_t lw,
                    lsc_error *err)
{
    const lsc_adapter_module *m = a->m;
    int d = m->out_features, k = m->in_features, r = m->r;
    int rr = r < d ? r : d;
    rr = rr < k ? rr : k;
    size_t dk = (size_t)d * (size_t)k, rz = (size_t)r, rrz = (size_t)rr;
    double *dW = malloc(dk * sizeof *dW);
    if (!dW)
        LSC_FAIL(err, LSC_ENOMEM, "out of memory for the effective DoRA update (%d x %d)", d, k);
    int rc = LSC_OK;
    if (m->kind == LSC_ADAPTER_FULL)
        ana_full_delta(&a->bm, a->orig, Wf, dW, &a->added_fro);
    else
        rc = lsc_dora_delta(d, k, r, Wf, a->transposed, m->A, m->B, m->scaling, m->magnitude, dW, NULL, err);
    if (rc == LSC_OK) {
        a->delta_fro = lsc_fro_norm(dk, dW);
        rc = lsc_svd_topk(d, k, rr, dW, S, U, Vt, LSC_TOPK_DENSE, a->rseed, w, lw, NULL, err);
    }
    free(dW);
    if (rc != LSC_OK || rr == r)
        return rc;
    for (size_t i = (size_t)d; i > 0; i--)   /* U (d, rr) → (d, r), in place from the end */
        for (size_t c = rz; c > 0; c--)
            U[(i - 1) * rz + c - 1] = c - 1 < rrz ? U[(i - 1) * rrz + c - 1] : 0.0;
    for (size_t c = rrz; c < rz; c++)
        S[c] = 0.0;
    memset(Vt + rrz * (size_t)k, 0, (rz - rrz) * (size_t)k * sizeof *Vt);
    return LSC_OK;
}

/* dW's top singular triplets (S (r), U (d, r), Vt (r, k)), a->delta_fro,
 * a->sv_delta and a->degenerate: s·B·A through the low-rank path, or the
 * effective update of a DoRA module (dora_svd). Bd, Ad: scratch. */
static int delta_svd(const char *path, amp *a, const float *Wf, double *Bd, double *Ad, double *S,
                     double *U, double *Vt, double *w, size_t lw, lsc_error *err)
{
    const lsc_adapter_module *m = a->m;
    int d = m->out_features, k = m->in_features, r = m->r, rc;
    size_t dz = (size_t)d, kz = (size_t)k, rz = (size_t)r;
    double zero_tol;
    if (a->effective || m->kind == LSC_ADAPTER_FULL) {
        if ((rc = dense_svd(a, Wf, S, U, Vt, w, lw, err)) != LSC_OK)
            return rc;
        zero_tol = a->base_fro * (double)(d > k ? d : k) * DBL_EPSILON;
    } else {
        ana_to_double(dz * rz, m->B, Bd);
        ana_to_double(rz * kz, m->A, Ad);
        if ((rc = lsc_lowrank_svd(d, k, r, m->scaling, Bd, Ad, S, U, Vt, w, lw, err)) != LSC_OK)
            return rc;
        a->delta_fro = root_sum_sq(r, S);
        zero_tol = fabs(m->scaling) * lsc_fro_norm(dz * rz, Bd) * lsc_fro_norm(rz * kz, Ad) *
                   (double)(d > k ? d : k) * DBL_EPSILON;
    }
    memcpy(a->sv_delta, S, (size_t)a->K * sizeof *S);
    a->degenerate = !(S[0] > zero_tol);
    if (a->degenerate && m->kind == LSC_ADAPTER_FULL)
        ana_msg_warn(&a->msgs, "%s: full tensor %s equals the base's (dW = 0): proj_delta and amplification "
                      "written as NaN, marked degenerate", path, m->name);
    else if (a->degenerate && a->effective)
        ana_msg_warn(&a->msgs, "%s: module %s has an effective DoRA update of 0: proj_delta and "
                      "amplification written as NaN, marked degenerate", path, m->name);
    else if (a->degenerate)
        ana_msg_warn(&a->msgs, "%s: module %s has dW = 0 (lora_B or lora_A all zero): proj_delta and "
                      "amplification written as NaN, marked degenerate", path, m->name);
    return LSC_OK;
}

/* One module's Table 7 row, W as base_weight gives it: proj_delta and
 * proj_random promote it to double on the fly, and W's own top-K enter
 * only through their singular values (proj_base = sqrt(Σ_{i<K} σ_i(W)²),
 * exact for W's top-K U, V), computed by lsc_svd_topk_values to 1e-10
 * relative. With --k, the fixed-K set too (fixed_k). */
static int compute(const char *path, const char *base_path, const float *Wf, uint64_t seed, amp *a)
{
    const lsc_adapter_module *m = a->m;
    int d = m->out_features, k = m->in_features, r = m->r, K = a->K;
    int rows = a->transposed ? k : d, cols = a->transposed ? d : k;
    int Kx = a->kf > K && !a->k_skipped ? a->kf : K;   /* the most directions used */
    size_t dz = (size_t)d, kz = (size_t)k, rz = (size_t)r, Kz = (size_t)K, Kxz = (size_t)Kx;
    lsc_error err = {0};
    int rc = CLI_OK;
    double *Bd = malloc(dz * rz * sizeof *Bd), *Ad = malloc(rz * kz * sizeof *Ad);
    double *S = malloc((rz > Kxz ? rz : Kxz) * sizeof *S), *U = malloc(dz * rz * sizeof *U);
    double *Vt = malloc(rz * kz * sizeof *Vt);
    size_t mx = dz > kz ? dz : kz;
    double *Uw = malloc(dz * Kz * sizeof *Uw), *Qk = malloc(kz * Kz * sizeof *Qk);
    double *X = malloc(mx * 2 * Kxz * sizeof *X), *T = malloc(mx * 2 * Kxz * sizeof *T);
    size_t l1 = lsc_lowrank_svd_work_size(d, k, r, 1);
    size_t l2 = lsc_svd_topk_values_work_size(rows, cols, Kx);
    size_t l3 = lsc_random_orthonormal_work_size(d > k ? d : k, K);
    int rmin = r < d ? (r < k ? r : k) : (d < k ? d : k);   /* dense_svd's triplets */
    size_t l4 = a->effective || m->kind == LSC_ADAPTER_FULL ? lsc_svd_topk_work_size(d, k, rmin, LSC_TOPK_DENSE)
                                                            : 0;
    size_t lw = l1;
    if (l2 > lw) lw = l2;
    if (l3 > lw) lw = l3;
    if (l4 > lw) lw = l4;
    double *w = malloc(lw * sizeof *w);
    if (!Bd || !Ad || !S || !U || !Vt || !Uw || !Qk || !X || !T || !w) {
        rc = ana_msg_error(&a->msgs, "out of memory for module %s", m->name);
        goto done;
    }
    a->rseed = ana_module_seed(seed, m->name);
    a->method = LSC_TOPK_DENSE;
    a->base_fro = fro_f32(dz * kz, Wf);
    a->proj_random_expected = (double)K * a->base_fro / sqrt((double)d * (double)k);
    a->proj_delta_k = a->proj_base_k = a->proj_random_expected_k = NAN;
    if (a->kf > 0 && !a->k_skipped)
        a->proj_random_expected_k = (double)a->kf * a->base_fro / sqrt((double)d * (double)k);
    if (!isfinite(a->base_fro)) {
        a->base_nonfinite = 1;
        ana_msg_warn(&a->msgs, "%s: base tensor %s has NaN/Inf values; module %s written as NaN", base_path,
                 a->t->name, m->name);
    }
    if (m->n_nonfinite > 0)
        ana_msg_warn(&a->msgs, "%s: module %s has %d NaN/Inf values in lora_A/lora_B; written as NaN", path,
                 m->name, m->n_nonfinite);
    if (m->n_nonfinite > 0 || a->base_nonfinite) {
        a->delta_fro = a->proj_delta = a->proj_base = a->proj_random = a->amplification = NAN;
        if (a->base_nonfinite)
            a->base_fro = a->proj_random_expected = NAN;
        ana_fill_nan(Kz, a->sv_delta);
        ana_fill_nan(Kz, a->sv_base);
        goto done;
    }

    /* dW's top singular triplets: s·B·A, or a DoRA module's effective update */
    if (delta_svd(path, a, Wf, Bd, Ad, S, U, Vt, w, lw, &err) != LSC_OK)
        goto liberr;

    /* W's own top-K: its singular values are all proj_base needs */
    lsc_topk_info info;
    if (lsc_svd_topk_values(rows, cols, K, Wf, a->sv_base, 1e-10, a->rseed, w, lw, &info,
                            &err) != LSC_OK)
        goto liberr;
    a->method = info.method;
    a->proj_base = root_sum_sq(K, a->sv_base);

    /* seeded random orthonormal U (d, K) and V (k, K); then both projections */
    uint64_t rng;
    lsc_rng_seed(&rng, a->rseed);
    if (lsc_random_orthonormal(d, K, &rng, Uw, w, lw, &err) != LSC_OK ||
        lsc_random_orthonormal(k, K, &rng, Qk, w, lw, &err) != LSC_OK)
        goto liberr;
    double pd, pr;
    proj_pair(Wf, a->transposed, d, k, K, U, r, Vt, Uw, Qk, X, T, &pd, &pr);
    a->proj_random = pr;
    if (a->degenerate) {
        a->proj_delta = a->amplification = NAN;
    } else {
        a->proj_delta = pd;
        a->amplification = a->delta_fro / a->proj_delta;
    }
    if (a->kf > 0 && !a->k_skipped && fixed_k(a, Wf, U, Vt, S, X, T, w, lw, &err) != LSC_OK)
        goto liberr;
    goto done;
liberr:
    rc = ana_msg_error(&a->msgs, "module %s: %s", m->name, err.msg);
done:
    free(Bd); free(Ad); free(S); free(U); free(Vt);
    free(Uw); free(Qk); free(X); free(T); free(w);
    return rc;
}

/* n null draws of ‖UᵀWV‖_F for Haar U (d, K), V (k, K) into out; their
 * stream is ana_null_seed(seed, module, "null/K=<K>") (*nseed), so they
 * depend only on (seed, module name, K, shape) and W. */
static int proj_null(amp *a, const float *Wf, int K, int n, uint64_t seed, uint64_t *nseed,
                     double *out)
{
    const lsc_adapter_module *m = a->m;
    int d = m->out_features, k = m->in_features;
    char tag[64];
    snprintf(tag, sizeof tag, "null/K=%d", K);
    *nseed = ana_null_seed(seed, m->name, tag);
    if (a->base_nonfinite) {
        ana_fill_nan((size_t)n, out);
        return CLI_OK;
    }
    size_t lw = lsc_proj_null_work_size(d, k, K);
    double *w = malloc(lw * sizeof *w);
    lsc_error err = {0};
    uint64_t rng;
    lsc_rng_seed(&rng, *nseed);
    int rc = CLI_OK;
    if (!w)
        rc = ana_msg_error(&a->msgs, "out of memory for the null of module %s", m->name);
    else if (lsc_proj_null(d, k, K, Wf, a->transposed, n, &rng, out, w, lw, &err) != LSC_OK)
        rc = ana_msg_error(&a->msgs, "module %s: %s", m->name, err.msg);
    free(w);
    return rc;
}

/* The nulls of module a (after compute) and what is derived from them. */
static int compute_nulls(amp *a, const float *Wf, uint64_t seed)
{
    size_t n = (size_t)a->ndraws;
    double *sc = malloc(n * sizeof *sc);
    int rc = CLI_OK;
    if (!sc)
        return ana_msg_error(&a->msgs, "out of memory for the null of module %s", a->m->name);
    if ((rc = proj_null(a, Wf, a->K, a->ndraws, seed, &a->nseed, a->proj_null)) != CLI_OK)
        goto done;
    ana_null_summary(n, a->proj_null, a->proj_delta, sc, &a->sn);
    a->alignment_excess = a->proj_delta / a->proj_random_expected;
    a->amplification_null = a->degenerate ? NAN : a->delta_fro / a->sn.mean;
    if (a->kf <= 0 || a->k_skipped)
        goto done;
    if (a->kf == a->K) {   /* the same stream: the same draws */
        a->nseed_k = a->nseed;
        memcpy(a->proj_null_k, a->proj_null, n * sizeof *sc);
    } else if ((rc = proj_null(a, Wf, a->kf, a->ndraws, seed, &a->nseed_k, a->proj_null_k)) != CLI_OK) {
        goto done;
    }
    ana_null_summary(n, a->proj_null_k, a->proj_delta_k, sc, &a->snk);
    a->alignment_excess_k = a->proj_delta_k / a->proj_random_expected_k;
    a->amplification_k = a->delta_fro / a->proj_delta_k;
    a->amplification_null_k = a->degenerate ? NAN : a->delta_fro / a->snk.mean;
done:
    free(sc);
    return rc;
}

/* One null's dataset NAME and its summary attributes NAME_mean, NAME_sd,
 * NAME_q95 (and PNAME, the p-value) in group g. */
static int write_null_set(lsc_h5 *h, const char *g, const char *name, const char *pname, int n,
                          const double *draws, const ana_null *sm, lsc_error *err)
{
    char ds[1300], an[64];
    size_t d1[1] = {(size_t)n};
    int rc;
    snprintf(ds, sizeof ds, "%s/%s", g, name);
    if ((rc = lsc_h5_write_f64(h, ds, 1, d1, draws, err)) != LSC_OK)
        return rc;
    const char *suffix[3] = {"mean", "sd", "q95"};
    const double v[3] = {sm->mean, sm->sd, sm->q95};
    for (int i = 0; i < 3; i++) {
        snprintf(an, sizeof an, "%s_%s", name, suffix[i]);
        if ((rc = lsc_h5_attr_double(h, g, an, v[i], err)) != LSC_OK)
            return rc;
    }
    return lsc_h5_attr_double(h, g, pname, sm->p, err);
}

/* The null and, with --k, the fixed-K set (header comment). */
static int write_null(lsc_h5 *h, const char *g, const amp *a, lsc_error *err)
{
    int rc;
    if ((rc = write_null_set(h, g, "proj_null", "proj_p", a->ndraws, a->proj_null, &a->sn, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "alignment_excess", a->alignment_excess, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "amplification_null", a->amplification_null, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "null_draws", a->ndraws, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "null_seed", (long long)a->nseed, err)) != LSC_OK)
        return rc;
    if (a->kf <= 0)
        return LSC_OK;
    if ((rc = lsc_h5_attr_int(h, g, "k_fixed", a->kf, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "k_skipped", a->k_skipped, err)) != LSC_OK)
        return rc;
    if (a->k_skipped)
        return LSC_OK;
    if ((rc = write_null_set(h, g, "proj_null_k", "proj_k_p", a->ndraws, a->proj_null_k, &a->snk,
                             err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "proj_delta_k", a->proj_delta_k, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "proj_base_k", a->proj_base_k, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "proj_random_expected_k", a->proj_random_expected_k, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "alignment_excess_k", a->alignment_excess_k, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "amplification_k", a->amplification_k, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "amplification_null_k", a->amplification_null_k, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "null_seed_k", (long long)a->nseed_k, err)) != LSC_OK)
        return rc;
    return LSC_OK;
}

static int write_module(lsc_h5 *h, const amp *a, lsc_error *err)
{
    const lsc_adapter_module *m = a->m;
    char g[1200], ds[1300];
    snprintf(g, sizeof g, "/modules/%s", m->name);
    size_t dims[1] = {(size_t)a->K};
    int rc;
    snprintf(ds, sizeof ds, "%s/delta_singular_values", g);
    if ((rc = lsc_h5_write_f64(h, ds, 1, dims, a->sv_delta, err)) != LSC_OK)
        return rc;
    snprintf(ds, sizeof ds, "%s/base_singular_values", g);
    if ((rc = lsc_h5_write_f64(h, ds, 1, dims, a->sv_base, err)) != LSC_OK ||
        (rc = ana_write_module_attrs(h, g, m, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "rank", a->K, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "delta_fro", a->delta_fro, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "base_fro", a->base_fro, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "proj_delta", a->proj_delta, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "proj_base", a->proj_base, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "proj_random", a->proj_random, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "proj_random_expected", a->proj_random_expected, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "amplification", a->amplification, err)) != LSC_OK ||
        (rc = lsc_h5_attr_str(h, g, "base_tensor", a->t->name, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "base_transposed", a->transposed, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "degenerate", a->degenerate, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "n_nonfinite", m->n_nonfinite, err)) != LSC_OK ||
        (rc = lsc_h5_attr_str(h, g, "topk_method",
                              a->method == LSC_TOPK_ITERATIVE ? "iterative" : "dense", err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "random_seed", (long long)a->rseed, err)) != LSC_OK ||
        (rc = ana_dora_write_attrs(h, g, m, a->effective, err)) != LSC_OK ||
        (m->kind == LSC_ADAPTER_FULL ? (rc = ana_full_attrs(h, g, a->orig, &a->bm, a->added_fro, err))
                                     : (rc = ana_base_mat_attrs(h, g, m, a->bm.how, err))) != LSC_OK)
        return rc;
    return write_null(h, g, a, err);
}

static void put_num(FILE *fp, double v)
{
    if (isfinite(v) && v > 0.0)
        fprintf(fp, " %.10g", v);
    else
        fprintf(fp, " NaN");
}

static int draw(const char *cmd, const char *dir, const char *path, const amp *amps, int na,
                int hl)
{
    lsc_atomic tmp;
    FILE *fp = ana_data_open(cmd, dir, "amplify.dat", &tmp);
    if (!fp)
        return CLI_FAIL;
    fprintf(fp, "# lorascope amplify (%s): columns: n module proj_delta proj_base proj_random "
                "amplification delta_fro base_fro rank\n", path);
    for (int i = 0; i < na; i++) {
        const amp *a = &amps[i];
        ana_data_row(fp, i, a->m->name);
        put_num(fp, a->proj_delta);
        put_num(fp, a->proj_base);
        put_num(fp, a->proj_random);
        put_num(fp, a->amplification);
        put_num(fp, a->delta_fro);
        put_num(fp, a->base_fro);
        fprintf(fp, " %d\n", a->K);
    }
    if (ana_data_close(cmd, &tmp) != CLI_OK)
        return CLI_FAIL;
    char b[300], title[800], vars[8192];
    ana_basename(path, b, sizeof b);
    int K0 = amps[0].K, same = 1;
    for (int i = 1; i < na; i++)
        same &= amps[i].K == K0;
    char ks[64];
    if (same)
        snprintf(ks, sizeof ks, "top-%d directions", K0);
    else
        snprintf(ks, sizeof ks, "top-K directions, K = r per module");
    snprintf(title, sizeof title, "dW vs W (LoRA paper Table 7), %s", ks);
    snprintf(vars, sizeof vars, "datafile='%s/amplify.dat'; outbase='%s/amplify'; "
                                "plottitle='%s'; nmod=%d; hl=%d; footnote='adapter: %s'",
             dir, dir, title, na, hl, b);
    return ana_draw_figure(cmd, dir, "amplify.gp", "amplify", vars);
}

/* Whether module i is the one --module names. */
static int amp_is(const void *items, int i, const char *name)
{
    return strcmp(((const amp *)items)[i].m->name, name) == 0;
}

static const char *amp_name(const void *items, int i) { return ((const amp *)items)[i].m->name; }

/* The tasks of ana_run_tasks: the sha256 of the base (task 0), then one
 * per module. */
typedef struct amplify_job {
    const char        *path, *base_path;
    const ana_base    *base;
    uint64_t           seed, null_seed;
    amp               *amps;       /* (na) */
    char               base_hex[65];
    int                sha_rc;
    lsc_error          sha_err;
} amplify_job;

static void amplify_task(void *ctx, int t)
{
    amplify_job *j = ctx;
    if (t > 0) {
        amp *a = &j->amps[t - 1];
        float *Wcopy;
        const float *Wf = base_weight(a, &Wcopy);
        a->rc = Wf ? compute(j->path, j->base_path, Wf, j->seed, a) : CLI_FAIL;
        if (a->rc == CLI_OK)
            a->rc = compute_nulls(a, Wf, j->null_seed);
        free(Wcopy);
        ana_base_release(a->f, a->t);   /* W's pages: resident one module at a time */
    } else {
        j->sha_rc = ana_base_sha256(j->base, j->base_hex, &j->sha_err);
    }
}

/* What cmd_amplify parsed. */
typedef struct amplify_opts {
    const char *path, *base_path;
    long        rank_opt;      /* --rank, 0: each module's r */
    long        k_opt;         /* --k, 0: none */
    int         ndraws;        /* --null-draws */
    uint64_t    null_seed;     /* --null-seed (null_seed_given), else --seed */
    int         null_seed_given;
    int         factors_only;  /* --factors-only: DoRA modules as s·B·A */
} amplify_opts;

/* The adapter, the base and the matched modules of one run. */
typedef struct amplify_run {
    const amplify_opts *ao;
    ana_opts    o;
    lsc_adapter ad;
    ana_base    base;
    amp        *amps;          /* (ad.n_modules + ad.n_full), the first na used */
    char      (*skipped)[1400]; /* (ad.n_modules + ad.n_full), the first n_missing used */
    int         na, n_missing, n_degenerate, n_clamped, n_kskipped, hl;
} amplify_run;

/* "why module m is skipped" into the next skipped line; a long list of
 * tried names is cut, on purpose. */
static void skip_line(amplify_run *R, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void skip_line(amplify_run *R, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (vsnprintf(R->skipped[R->n_missing++], sizeof R->skipped[0], fmt, ap) >= (int)sizeof R->skipped[0])
        R->skipped[R->n_missing - 1][sizeof R->skipped[0] - 1] = '\0';
    va_end(ap);
}

/* Module m against its base matrix (ana_base_match: found 1, missing 0,
 * misshapen -1, why): an amp, or a skipped line. */
static void match_module(amplify_run *R, const lsc_adapter_module *m, const ana_base_mat *bm, int found,
                         const char *why)
{
    long rank_opt = R->ao->rank_opt;
    if (found != 1) {
        char line[sizeof R->skipped[0]];
        ana_base_why(found, m, why, line, sizeof line);
        skip_line(R, "%s", line);
        return;
    }
    amp *a = &R->amps[R->na++];
    a->m = a->orig = m;
    a->f = bm->f;
    a->t = bm->t;
    a->transposed = bm->transposed;
    a->bm = *bm;
    if (m->kind == LSC_ADAPTER_FULL) {   /* analysed on the base's rows, r = K */
        a->mfull = *m;
        a->mfull.out_features = bm->rows;
        a->mfull.r = (int)(rank_opt < bm->rows ? rank_opt : bm->rows);
        a->mfull.r = a->mfull.r < m->in_features ? a->mfull.r : m->in_features;
        m = a->m = &a->mfull;
    }
    a->effective = m->kind == LSC_ADAPTER_DORA && !R->ao->factors_only;
    int maxk = m->r;
    int mn = m->in_features < m->out_features ? m->in_features : m->out_features;
    if (maxk > mn)
        maxk = mn;
    a->K = rank_opt > 0 ? (int)(rank_opt < maxk ? rank_opt : maxk) : maxk;
    if (rank_opt > maxk)
        R->n_clamped++;
    a->ndraws = R->ao->ndraws;
    a->kf = (int)R->ao->k_opt;
    a->k_skipped = a->kf > maxk;
    R->n_kskipped += a->k_skipped;
}

/* Match modules to base weights; problems are warnings when something
 * remains to analyse, else one error line. */
static int match_modules(const char *cmd, amplify_run *R)
{
    const amplify_opts *ao = R->ao;
    int nfull = ao->rank_opt > 0 ? R->ad.n_full : 0;   /* full tensors need --rank K */
    if (R->ad.n_full > 0 && !nfull)
        printf("%s: %d full tensor%s (modules_to_save, e.g. %s) not analysed: their update weight - W0 has "
               "full rank, no r; --rank K analyses its top-K directions\n", ao->path, R->ad.n_full,
               R->ad.n_full > 1 ? "s" : "", R->ad.full[0].name);
    for (int i = 0; i < R->ad.n_modules + nfull; i++) {
        const lsc_adapter_module *m = i < R->ad.n_modules ? &R->ad.modules[i] : &R->ad.full[i - R->ad.n_modules];
        char why[4500];
        ana_base_mat bm;
        int found = ana_base_match(&R->base, &R->ad, m, &bm, why, sizeof why);
        match_module(R, m, &bm, found, why);
    }
    if (R->na == 0 && R->n_missing == 0)   /* only full tensors, and no --rank */
        return cli_error(cmd, CLI_FAIL, "%s: nothing to analyse: it holds only full tensors (modules_to_save); "
                                        "--rank K analyses their top-K directions", ao->path);
    if (R->na == 0)
        return cli_error(cmd, CLI_FAIL, "%s: none of the %d modules of %s has a usable base weight "
                                        "(first: %s)", ao->base_path, R->ad.n_modules, ao->path, R->skipped[0]);
    for (int i = 0; i < R->n_missing; i++)
        cli_warn(cmd, "%s: %s; skipped", ao->base_path, R->skipped[i]);
    if (R->n_clamped)
        cli_warn(cmd, "--rank %ld exceeds r of %d modules; their own r is used there", ao->rank_opt,
                 R->n_clamped);
    for (int i = 0; i < R->na; i++)
        if (R->amps[i].k_skipped)
            cli_warn(cmd, "module %s: r = %d (dims %d, %d) < --k %ld: its fixed-K quantities are skipped "
                          "(k_skipped = 1)", R->amps[i].m->name, R->amps[i].m->r, R->amps[i].m->out_features,
                     R->amps[i].m->in_features, ao->k_opt);
    return CLI_OK;
}

/* The null table: per module (and per fixed K with --k) the observed
 * projection against the null of a random dW of equal rank and norm. */
static void print_nulls(const amplify_run *R)
{
    printf("null: |U^T W V|_F for Haar-random U, V of K columns (a random dW of rank K), "
           "%d draws; excess = proj_dW / (K |W|_F / sqrt(dk))\n", R->ao->ndraws);
    printf("%-44s %3s %10s %10s %10s %9s %9s\n", "module", "K", "proj_dW", "null_mean", "null_q95",
           "p", "excess");
    for (int i = 0; i < R->na; i++) {
        const amp *a = &R->amps[i];
        printf("%-44s %3d %10.4g %10.4g %10.4g %9.3g %9.3g\n", cli_safe(a->m->name), a->K, a->proj_delta,
               a->sn.mean, a->sn.q95, a->sn.p, a->alignment_excess);
        if (a->kf > 0 && !a->k_skipped)
            printf("%-44s %3d %10.4g %10.4g %10.4g %9.3g %9.3g\n", cli_safe(a->m->name), a->kf, a->proj_delta_k,
                   a->snk.mean, a->snk.q95, a->snk.p, a->alignment_excess_k);
    }
}

/* Independent tasks on our own threads: the sha256 of the (large) base for
 * the provenance first, then one task per module (and the git commit).
 * BLAS runs single-threaded inside them (its products here are small);
 * the results do not depend on the thread count. Each module written and
 * printed; base_hex: the base's digest. */
static int analyse_modules(const char *cmd, amplify_run *R, lsc_h5 *h, char *base_hex)
{
    const amplify_opts *ao = R->ao;
    lsc_error err = {0};
    printf("%s on %s: %d modules%s\n", ao->path, ao->base_path, R->na, R->n_missing ? " (some skipped)" : "");
    printf("%-44s %3s %3s %9s %9s %10s %10s %11s %9s\n", "module", "r", "K", "|W|_F", "|dW|_F",
           "proj_dW", "proj_W", "proj_random", "amplif.");
    for (int i = 0; i < R->na; i++) {
        amp *a = &R->amps[i];
        a->sv_delta = calloc((size_t)a->K, sizeof(double));
        a->sv_base = calloc((size_t)a->K, sizeof(double));
        a->proj_null = calloc((size_t)a->ndraws, sizeof(double));
        if (a->kf > 0 && !a->k_skipped)
            a->proj_null_k = calloc((size_t)a->ndraws, sizeof(double));
        if (!a->sv_delta || !a->sv_base || !a->proj_null || (a->kf > 0 && !a->k_skipped && !a->proj_null_k))
            return cli_error(cmd, CLI_FAIL, "out of memory");
    }
    amplify_job job = {ao->path, ao->base_path, &R->base, R->o.seed,
                       ao->null_seed_given ? ao->null_seed : R->o.seed, R->amps, "", LSC_OK, {0}};
    ana_run_tasks(&R->o, R->na + 1, amplify_task, &job);
    for (int i = 0; i < R->na; i++) {
        amp *a = &R->amps[i];
        ana_msgs_flush(cmd, &a->msgs);   /* in module order, as a serial run */
        if (a->rc != CLI_OK)
            return a->rc;
        R->n_degenerate += a->degenerate;
        if (write_module(h, a, &err) != LSC_OK)
            return cli_lib_error(cmd, &err);
        char note[400];
        printf("%-44s %3d %3d %9.4f %9.4f %10.4g %10.4f %11.4g %9.3f%s%s\n", cli_safe(a->m->name), a->m->r, a->K,
               a->base_fro, a->delta_fro, a->proj_delta, a->proj_base, a->proj_random,
               a->amplification, ana_dora_note(a->m, a->effective),
               cli_safe(ana_base_mat_note(a->m, a->bm.how, note, sizeof note)));
    }
    if (job.sha_rc != LSC_OK)
        return cli_lib_error(cmd, &job.sha_err);
    memcpy(base_hex, job.base_hex, sizeof job.base_hex);
    print_nulls(R);
    return CLI_OK;
}

static int commit_output(const char *cmd, amplify_run *R, lsc_h5 **h, const char *base_hex, double t0)
{
    const amplify_opts *ao = R->ao;
    lsc_h5_input in[2] = {{"adapter", R->ad.path}, {"base", ao->base_path}};  /* the folder read */
    lsc_h5_param ps[] = {
        {"rank", LSC_H5_INT, NULL, ao->rank_opt, 0},   /* 0: each module's r */
        ANA_COMMON_PARAMS(R->o),
        {"fan_in_fan_out", LSC_H5_INT, NULL, R->ad.fan_in_fan_out, 0},
        {"topk_method", LSC_H5_STR, "W's top-K singular values: subspace iteration on W^T W (float, "
                                    "then double Rayleigh-Ritz) to a residual bound of 1e-10 relative, "
                                    "else dense SVD; proj_base = sqrt(sum sigma_i^2)", 0, 0},
        {"zero_tolerance", LSC_H5_STR, "sigma_1(dW) <= |s|*|B|_F*|A|_F*max(d,k)*DBL_EPSILON", 0, 0},
        {"n_modules", LSC_H5_INT, NULL, R->na, 0},
        {"n_skipped", LSC_H5_INT, NULL, R->n_missing, 0},
        {"n_degenerate", LSC_H5_INT, NULL, R->n_degenerate, 0},
        {"k", LSC_H5_INT, NULL, ao->k_opt, 0},   /* --k, 0: none */
        {"null_draws", LSC_H5_INT, NULL, ao->ndraws, 0},
        {"null_seed", LSC_H5_INT, NULL, (long long)(ao->null_seed_given ? ao->null_seed : R->o.seed), 0},
        {"null_model", LSC_H5_STR, "|U^T W V|_F for uniformly random orthonormal U (d, K), V (k, K): the "
                                   "top-K singular frames of a random dW of rank K and any norm", 0, 0},
    };
    const char *digests[2] = {NULL, base_hex};
    return ana_output_commit(cmd, &R->o, h, t0, 2, in, digests, (int)(sizeof ps / sizeof ps[0]), ps);
}

static int run_amplify(const char *cmd, const amplify_opts *ao, const cli_opt *opts, double t0)
{
    amplify_run R;
    memset(&R, 0, sizeof R);
    R.ao = ao;
    lsc_h5 *h = NULL;
    char base_hex[65] = "";
    int rc = ana_setup_kinds(cmd, opts, &R.o, ao->path, &R.ad, NULL, NULL, 1);
    if (rc != CLI_OK)
        return rc;
    if ((rc = ana_base_open(cmd, ao->base_path, &R.base)) != CLI_OK)
        goto done;
    R.amps = calloc((size_t)(R.ad.n_modules + R.ad.n_full), sizeof *R.amps);
    R.skipped = R.amps ? calloc((size_t)(R.ad.n_modules + R.ad.n_full), sizeof *R.skipped) : NULL;
    if (!R.amps || !R.skipped) {
        rc = cli_error(cmd, CLI_FAIL, "out of memory");
        goto done;
    }
    if ((rc = match_modules(cmd, &R)) != CLI_OK ||
        (rc = ana_pick_module(cmd, &R.o, R.na, "analysed", amp_is, amp_name, R.amps, &R.hl)) != CLI_OK ||
        (rc = ana_output_create(cmd, &R.o, &h)) != CLI_OK ||
        (rc = analyse_modules(cmd, &R, h, base_hex)) != CLI_OK ||
        (rc = commit_output(cmd, &R, &h, base_hex, t0)) != CLI_OK)
        goto done;
    if (R.o.plots && (rc = draw(cmd, R.o.plots, ao->path, R.amps, R.na, R.hl)) != CLI_OK)
        goto done;
    rc = ana_finish(cmd, &R.o, R.na, R.n_missing, t0);
done:
    lsc_h5_abort(h);
    if (R.amps)
        for (int i = 0; i < R.na; i++) {
            free(R.amps[i].sv_delta);
            free(R.amps[i].sv_base);
            free(R.amps[i].proj_null);
            free(R.amps[i].proj_null_k);
        }
    free(R.amps);
    free(R.skipped);
    ana_base_close(&R.base);
    lsc_adapter_free(&R.ad);
    return rc;
}

int cmd_amplify(int argc, char **argv)
{
    const char *cmd = "amplify";
    double t0 = cli_now();
    cli_opt opts[] = {ANA_COMMON_OPTS, {"base", 1, NULL}, {"rank", 1, NULL}, {"k", 1, NULL},
                      ANA_NULL_OPTS, ANA_DORA_OPTS, {NULL, 0, NULL}};
    amplify_opts ao;
    memset(&ao, 0, sizeof ao);
    int help = 0;
    int rc = ana_parse_adapter_args(cmd, USAGE, argc, argv, opts, &ao.path, &help);
    if (rc != CLI_OK || help)
        return rc;
    ao.base_path = cli_get(opts, "base");
    ao.factors_only = cli_flag(opts, "factors-only");
    if (!ao.base_path)
        return cli_error(cmd, CLI_USAGE, "missing --base MODEL (.safetensors file or Hugging Face folder)");
    int bad = 0;
    ao.rank_opt = cli_long(opts, "rank", 0, &bad);
    if (bad)
        return CLI_USAGE;
    if (cli_get(opts, "rank") && (ao.rank_opt < 1 || ao.rank_opt > 1000000))
        return cli_error(cmd, CLI_USAGE, "--rank must be a positive integer, got %ld", ao.rank_opt);
    ao.k_opt = cli_long(opts, "k", 0, &bad);
    if (bad)
        return CLI_USAGE;
    if (cli_get(opts, "k") && (ao.k_opt < 1 || ao.k_opt > 1000000))
        return cli_error(cmd, CLI_USAGE, "--k must be a positive integer, got %ld", ao.k_opt);
    if ((rc = ana_null_opts(cmd, opts, 200, &ao.ndraws, &ao.null_seed, &ao.null_seed_given)) != CLI_OK)
        return rc;
    return run_amplify(cmd, &ao, opts, t0);
}
