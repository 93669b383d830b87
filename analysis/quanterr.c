/*
 * quanterr.c — `lorascope quanterr BASE.safetensors ADAPTER -o OUT.h5`:
 * does a QLoRA adapter learn to compensate the quantisation error of its
 * NF4 base (issue 6)? For every adapted module with fp32 base weight W
 * (d, k) and the adapter's update dW = s·B·A (rank r, p = min(r, d, k)):
 *
 *   E = W − deq(Q(W))   Q = NF4 with --blocksize / double quant exactly as
 *                       `lorascope quantize` and `train --quant nf4` do it
 *                       (lsc_nf4_quantize on the stored tensor)
 *   spectrum of E       every singular value (dense SVD, lib/linalg.c)
 *   φ(i, j)             between dW's top-i singular directions and E's
 *                       top-j, 1 <= i <= p, 1 <= j <= K (K = max(--top, p)),
 *                       right (input side, R^k) and left (output side, R^d):
 *                       φ = ‖X[:i]ᵀ Y[:j]‖²_F / min(i, j) (LoRA paper Eq. 4);
 *                       the same for --compare's dW (an fp32-base LoRA run of
 *                       the same seed) and for a seeded random p-dimensional
 *                       subspace; E[φ] for random subspaces ≈ max(i, j)/n
 *   ‖UᵀEV‖_F            U, V the top-p singular vectors of dW, of the
 *                       compare dW, of E itself (the maximum, sqrt(Σσ²)),
 *                       random (sampled, and expected p·‖E‖_F/√(dk))
 *   cos(dW, E)          ⟨dW, E⟩_F / (‖dW‖_F ‖E‖_F): > 0 when dW points the
 *                       way that undoes the error (deq(W) + dW ≈ W); for an
 *                       unrelated matrix it is ~N(0, 1/(dk))
 *   error_coef          ⟨dW, E⟩_F / ‖E‖²_F: how much of E dW carries along E
 *                       (1 = all of it); a rank-p update can remove at most
 *                       Σ_{i<=p} σ_i(E)² / ‖E‖²_F of ‖E‖² (compensated_best)
 *   D = dW − dW_compare the difference of the QLoRA and the fp32-base update
 *                       of the same seed: the base is the only difference
 *                       between the two runs, so compensation shows as D
 *                       aligned with E: φ of D's top-p directions vs E's,
 *                       cos(D, E) and ⟨D, E⟩_F / ‖E‖²_F (D's SVD is the
 *                       low-rank one of [s·B, −s'·B'] · [A; A'])
 *
 * HDF5 layout (the conventions of spectrum/subspace/amplify): root
 * provenance attributes (inputs base, adapter, compare; every parameter;
 * the means over modules), and per module /modules/<module>/:
 *   error_singular_values  float64 (min(d, k)), descending
 *   delta_singular_values  float64 (p)
 *   phi_right, phi_left    float64 [p, K]   dW vs E
 *   phi_right_random, phi_left_random      float64 [p, K]   random vs E
 *   phi_right_compare, phi_left_compare    float64 [p2, K]  (--compare)
 *   compare_singular_values                float64 (p2)     (--compare)
 *   phi_right_diff, phi_left_diff          float64 [p, K]   D vs E (--compare)
 *   error                  float64 [d, k]   (--store-error only)
 *   attributes r, rank (p), top (K), alpha, scaling, in_features,
 *     out_features, blocksize, double_quant, bits_total, bits_constants,
 *     base_tensor, base_transposed, base_fro, error_fro, error_rel,
 *     error_max_abs, delta_fro, phi_right, phi_left (at i = j = p),
 *     phi_right_top1, phi_left_top1 (i = j = 1), phi_right_random,
 *     phi_left_random, phi_right_expected (p/k), phi_left_expected (p/d),
 *     proj_error_delta, proj_error_top, proj_error_random,
 *     proj_error_random_expected, cos_delta_error, error_coef,
 *     cos_random_sd (1/√(dk)), compensated_best, degenerate, n_nonfinite,
 *     random_seed, and with --compare: has_compare, compare_r,
 *     compare_degenerate, compare_delta_fro, phi_right_compare,
 *     phi_left_compare, phi_right_compare_top1, phi_left_compare_top1,
 *     proj_error_compare, cos_compare_error, compare_error_coef,
 *     phi_right_adapters, phi_left_adapters (dW vs compare dW at p),
 *     diff_fro, diff_degenerate, phi_right_diff, phi_left_diff (at p),
 *     proj_error_diff, cos_diff_error, diff_error_coef.
 * Not a trainer and not a model loader: only the 2-D base weights of
 * adapted modules are read.
 */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis_common.h"
#include "commands.h"


static const char *USAGE =
    "usage: lorascope quanterr BASE.safetensors ADAPTER -o OUT.h5 [--compare FP32_ADAPTER]\n"
    "                          [--blocksize 64] [--double-quant | --no-double-quant] [--top K]\n"
    "                          [--store-error] [--plots DIR] [options]\n"
    "\n"
    "Does a QLoRA adapter learn the quantisation error of its NF4 base? For every\n"
    "adapted module with fp32 base weight W: E = W - deq(Q(W)) (NF4 exactly as\n"
    "`quantize` / `train --quant nf4`), the singular values of E, the subspace\n"
    "similarity phi(i, j) between the top singular directions of dW = s*B*A and of\n"
    "E on the input side (right) and the output side (left) -- for ADAPTER, for\n"
    "--compare (an fp32-base LoRA run of the same seed) and for a random subspace --,\n"
    "|U^T E V|_F for U, V from dW / compare / random / E itself, cos(dW, E) and the\n"
    "fraction of ||E||^2 that deq(W) + dW removes.\n"
    "\n"
    "  BASE                 the fp32 base model (.safetensors; not an NF4 file)\n"
    "  --compare DIR        the fp32-base adapter to compare with (same modules)\n"
    "  --blocksize N        NF4 block size used in training (default 64)\n"
    "  --double-quant       double-quantised absmax (default, as QLoRA)\n"
    "  --no-double-quant    plain fp32 absmax per block\n"
    "  --top K              E's top-K directions in the phi grids (default 32;\n"
    "                       at least r, at most min(d, k))\n"
    "  --store-error        also write E itself (/modules/<m>/error, d x k)\n"
    ANA_COMMON_HELP
    "\n"
    "example:\n"
    "  lorascope quanterr base.safetensors runs/qlora-r8 --compare runs/lora-r8 \\\n"
    "      -o quanterr.h5 --plots figs\n";

typedef struct qe {
    const lsc_adapter_module *m, *c;     /* QLoRA module; compare module or NULL */
    const lsc_st_tensor      *t;         /* base tensor */
    int    transposed, p, p2, K, mn, degenerate, cdegenerate;
    double bits_total, bits_constants;
    double base_fro, error_fro, error_rel, error_max_abs, delta_fro, cdelta_fro;
    double phi_r, phi_l, phi_r1, phi_l1, phi_r_rand, phi_l_rand, phi_r_exp, phi_l_exp;
    double phi_rc, phi_lc, phi_rc1, phi_lc1, phi_r_ad, phi_l_ad, phi_rd, phi_ld;
    double proj_delta, proj_top, proj_rand, proj_rand_exp, proj_cmp, proj_diff;
    double cos_delta, cos_cmp, cos_diff, cos_sd, coef, coef_cmp, coef_diff, comp_best, diff_fro;
    int    ddegenerate;
    double *sv_err;                      /* (mn) */
    double *sv_delta, *sv_cmp;           /* (p), (p2) */
    double *phi_right, *phi_left;        /* (p, K) */
    double *phi_right_rand, *phi_left_rand;   /* (p, K) */
    double *phi_right_cmp, *phi_left_cmp;     /* (p2, K) */
    double *phi_right_diff, *phi_left_diff;   /* (p, K) */
    double *E;                           /* (d, k) with --store-error, else NULL */
    uint64_t rseed;
} qe;

/* The base tensor: "<name>.weight", without a leading "transformer."/"model."
 * or with one added (as amplify). */
static const lsc_st_tensor *find_base(const lsc_st_file *f, const char *name)
{
    char cand[1100];
    const char *pre[] = {"transformer.", "model."};
    snprintf(cand, sizeof cand, "%s.weight", name);
    const lsc_st_tensor *t = lsc_st_find(f, cand);
    for (int i = 0; !t && i < 2; i++) {
        size_t l = strlen(pre[i]);
        if (strncmp(name, pre[i], l) == 0)
            snprintf(cand, sizeof cand, "%s.weight", name + l);
        else
            snprintf(cand, sizeof cand, "%s%s.weight", pre[i], name);
        t = lsc_st_find(f, cand);
    }
    return t;
}

static void fill_nan(size_t n, double *x)
{
    for (size_t i = 0; i < n; i++)
        x[i] = NAN;
}

/* (rows, cols) -> (cols, rows) */
static void transpose(size_t rows, size_t cols, const double *X, double *Y)
{
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            Y[j * rows + i] = X[i * cols + j];
}

/* Everything about one update dW = s·B·A against E: its singular values
 * S (p), right rows Vt (p, k), left rows Ut (p, d), ‖dW‖_F, ⟨dW, E⟩. */
typedef struct delta_basis {
    double *S, *Vt, *Ut, fro, inner;
    int degenerate;
} delta_basis;

/* Bd (d, r), Ad (r, k) in double: dW = scaling·Bd·Ad. */
static int delta_of(int d, int k, int r, double scaling, const double *Bd, const double *Ad, int p,
                    const double *E, delta_basis *db, double *work, size_t lwork, lsc_error *err)
{
    size_t dz = (size_t)d, kz = (size_t)k, rz = (size_t)r;
    double *S = malloc(rz * sizeof *S), *U = malloc(dz * rz * sizeof *U), *Vt = malloc(rz * kz * sizeof *Vt);
    double *BtE = malloc(rz * kz * sizeof *BtE);
    int rc = LSC_OK;
    if (!S || !U || !Vt || !BtE) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "out of memory");
        goto done;
    }
    if ((rc = lsc_lowrank_svd(d, k, r, scaling, Bd, Ad, S, U, Vt, work, lwork, err)) != LSC_OK)
        goto done;
    double ss = 0.0;
    for (int i = 0; i < r; i++)
        ss += S[i] * S[i];
    db->fro = sqrt(ss);
    double zero_tol = fabs(scaling) * lsc_fro_norm(dz * rz, Bd) * lsc_fro_norm(rz * kz, Ad) *
                      (double)(d > k ? d : k) * DBL_EPSILON;
    db->degenerate = !(S[0] > zero_tol);
    memcpy(db->S, S, (size_t)p * sizeof *S);
    memcpy(db->Vt, Vt, (size_t)p * kz * sizeof *Vt);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < p; j++)
            db->Ut[(size_t)j * dz + (size_t)i] = U[(size_t)i * rz + (size_t)j];
    /* ⟨dW, E⟩ = s·Σ (Bᵀ E) ∘ A, without the dense dW */
    memset(BtE, 0, rz * kz * sizeof *BtE);
    for (size_t i = 0; i < dz; i++)
        for (size_t a = 0; a < rz; a++) {
            double b = Bd[i * rz + a];
            const double *e = E + i * kz;
            double *o = BtE + a * kz;
            for (size_t j = 0; j < kz; j++)
                o[j] += b * e[j];
        }
    double in = 0.0;
    for (size_t i = 0; i < rz * kz; i++)
        in += BtE[i] * Ad[i];
    db->inner = scaling * in;
done:
    free(S); free(U); free(Vt); free(BtE);
    return rc;
}

/* φ(p, K) grids of a basis against E's (right rows Vt (mn, k) of E, left
 * rows UEt (K, d)), the projection ‖UᵀEV‖_F, and the (p, p) summaries.
 * Qd (d, p) scratch, G (p, K) scratch. */
static void against_error(int d, int k, int p, int K, const delta_basis *db, const double *E, const double *Vt,
                          const double *UEt, double *phi_right, double *phi_left, double *Qd, double *G,
                          double *work, double *proj, double *phr, double *phl)
{
    size_t pz = (size_t)p, Kz = (size_t)K;
    lsc_subspace_gram(k, p, db->Vt, K, Vt, G);
    lsc_phi_grid(p, K, G, phi_right);
    transpose(pz, (size_t)d, db->Ut, Qd);   /* U as columns (d, p) for the projection */
    *proj = lsc_proj_fro(d, k, E, p, Qd, p, db->Vt, k, work);
    lsc_subspace_gram(d, p, db->Ut, K, UEt, G);
    lsc_phi_grid(p, K, G, phi_left);
    *phr = phi_right[(pz - 1) * Kz + pz - 1];
    *phl = phi_left[(pz - 1) * Kz + pz - 1];
}

/* The buffers of one module's compute(); sizes in the comments. */
typedef struct qe_work {
    float  *Ws, *Dq;                     /* (s0, s1): the stored tensor, deq(Q(.)) */
    double *Bd, *Ad;                     /* (d, rd), (rd, k): factors, rd = r + r_compare */
    double *Es, *E;                      /* (s0, s1), (d, k): the error as stored, as (d, k) */
    double *S, *U, *Vt, *UEt;            /* (mn), (d, mn), (mn, k), (K, d): E's SVD */
    double *G, *Qd, *Qk, *Rt, *Rt2;      /* (pmax, max(K, pmax)), (d, pmax), (k, p), (p, d), (p, k) */
    double *w;                           /* (lw) LAPACK and projection workspace */
    size_t  lw;
    delta_basis db, dc, dd;              /* dW, the compare dW, D = dW − dW_compare */
} qe_work;

static void work_free(qe_work *w)
{
    free(w->Ws); free(w->Dq); free(w->Bd); free(w->Ad); free(w->Es); free(w->E); free(w->S);
    free(w->U); free(w->Vt); free(w->UEt); free(w->G); free(w->Qd); free(w->Qk); free(w->Rt);
    free(w->Rt2); free(w->w);
    free(w->db.S); free(w->db.Vt); free(w->db.Ut); free(w->dc.S); free(w->dc.Vt); free(w->dc.Ut);
    free(w->dd.S); free(w->dd.Vt); free(w->dd.Ut);
}

/* 0, or -1 when out of memory (w is then still safe to work_free). */
static int work_alloc(qe_work *w, const qe *a)
{
    const lsc_adapter_module *m = a->m, *c = a->c;
    int d = m->out_features, k = m->in_features, p = a->p, K = a->K, mn = a->mn;
    int p2 = c ? a->p2 : 0, pmax = p > p2 ? p : p2, rd = m->r + (c ? c->r : 0);
    size_t dz = (size_t)d, kz = (size_t)k, pz = (size_t)p, Kz = (size_t)K, n = dz * kz, pmz = (size_t)pmax;
    size_t rdz = (size_t)rd;
    memset(w, 0, sizeof *w);
    w->Ws = malloc(n * sizeof *w->Ws);
    w->Dq = malloc(n * sizeof *w->Dq);
    w->Bd = malloc(dz * rdz * sizeof *w->Bd);
    w->Ad = malloc(rdz * kz * sizeof *w->Ad);
    w->Es = malloc(n * sizeof *w->Es);
    w->E = malloc(n * sizeof *w->E);
    w->S = malloc((size_t)mn * sizeof *w->S);
    w->U = malloc(dz * (size_t)mn * sizeof *w->U);
    w->Vt = malloc((size_t)mn * kz * sizeof *w->Vt);
    w->UEt = malloc(Kz * dz * sizeof *w->UEt);
    w->G = malloc(pmz * (Kz > pmz ? Kz : pmz) * sizeof *w->G);
    w->Qd = malloc(dz * pmz * sizeof *w->Qd);
    w->Qk = malloc(kz * pz * sizeof *w->Qk);
    w->Rt = malloc(pz * dz * sizeof *w->Rt);
    w->Rt2 = malloc(pz * kz * sizeof *w->Rt2);
    w->db.S = malloc(pz * sizeof(double));
    w->db.Vt = malloc(pz * kz * sizeof(double));
    w->db.Ut = malloc(pz * dz * sizeof(double));
    if (c) {
        w->dc.S = malloc(pmz * sizeof(double));
        w->dc.Vt = malloc(pmz * kz * sizeof(double));
        w->dc.Ut = malloc(pmz * dz * sizeof(double));
        w->dd.S = malloc(pz * sizeof(double));
        w->dd.Vt = malloc(pz * kz * sizeof(double));
        w->dd.Ut = malloc(pz * dz * sizeof(double));
    }
    size_t lw = lsc_svd_work_size(d, k, 1), l2 = lsc_lowrank_svd_work_size(d, k, rd, 1);
    size_t l3 = lsc_random_orthonormal_work_size(d > k ? d : k, p), l4 = lsc_proj_fro_work_size(d, k, pmax);
    if (l2 > lw) lw = l2;
    if (l3 > lw) lw = l3;
    if (l4 > lw) lw = l4;
    w->lw = lw;
    w->w = malloc(lw * sizeof *w->w);
    if (!w->Ws || !w->Dq || !w->Es || !w->E || !w->S || !w->U || !w->Vt || !w->UEt || !w->G ||
        !w->Qd || !w->Qk || !w->Rt || !w->Rt2 || !w->db.S || !w->db.Vt || !w->db.Ut || !w->Bd ||
        !w->Ad || (c && (!w->dc.S || !w->dc.Vt || !w->dc.Ut || !w->dd.S || !w->dd.Vt || !w->dd.Ut)) ||
        !w->w)
        return -1;
    return 0;
}

static int module_fail(const char *cmd, const qe *a, const lsc_error *err)
{
    return cli_error(cmd, CLI_FAIL, "module %s: %s", a->m->name, err->msg);
}

/* E = W − deq(Q(W)) on the stored tensor, then (d, k); its norms. */
static int error_matrix(const char *cmd, const char *base_path, const lsc_st_file *bf, int bs,
                        int dq, int store, qe *a, qe_work *w)
{
    size_t n = (size_t)a->m->out_features * (size_t)a->m->in_features;
    size_t s0 = (size_t)a->t->shape[0], s1 = (size_t)a->t->shape[1];
    lsc_error err = {0};
    lsc_nf4 q;
    memset(&q, 0, sizeof q);
    if (lsc_st_read_f32(bf, a->t, w->Ws, &err) != LSC_OK)
        return module_fail(cmd, a, &err);
    if (lsc_nf4_quantize(&q, w->Ws, s0, s1, bs, dq, &err) != LSC_OK) {
        lsc_nf4_free(&q);
        return cli_error(cmd, CLI_FAIL, "%s: tensor %s: %s", base_path, a->t->name, err.msg);
    }
    lsc_nf4_bits(&q, &a->bits_constants, &a->bits_total);
    lsc_nf4_dequant_range(&q, 0, n, w->Dq);
    lsc_nf4_free(&q);
    double w2 = 0.0;
    a->error_max_abs = 0.0;
    for (size_t i = 0; i < n; i++) {
        w->Es[i] = (double)w->Ws[i] - (double)w->Dq[i];
        w2 += (double)w->Ws[i] * (double)w->Ws[i];
        a->error_max_abs = fmax(a->error_max_abs, fabs(w->Es[i]));
    }
    if (a->transposed)
        transpose(s0, s1, w->Es, w->E);
    else
        memcpy(w->E, w->Es, n * sizeof *w->E);
    a->base_fro = sqrt(w2);
    a->error_fro = lsc_fro_norm(n, w->E);
    a->error_rel = a->error_fro / a->base_fro;
    if (store && a->E)
        memcpy(a->E, w->E, n * sizeof *w->E);
    return CLI_OK;
}

/* The spectrum of E and its top-K directions (dense SVD: E is noise-like,
 * its spectrum flat, so iterative top-k would crawl), and what a rank-p
 * update or a random one can reach. */
static int error_spectrum(const char *cmd, qe *a, qe_work *w)
{
    int d = a->m->out_features, k = a->m->in_features, p = a->p, K = a->K, mn = a->mn;
    size_t dz = (size_t)d;
    lsc_error err = {0};
    if (lsc_svd(d, k, w->E, w->S, w->U, w->Vt, w->w, w->lw, &err) != LSC_OK)
        return module_fail(cmd, a, &err);
    memcpy(a->sv_err, w->S, (size_t)mn * sizeof *w->S);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < K; j++)
            w->UEt[(size_t)j * dz + (size_t)i] = w->U[(size_t)i * (size_t)mn + (size_t)j];
    double top2 = 0.0;
    for (int i = 0; i < p; i++)
        top2 += w->S[i] * w->S[i];
    a->proj_top = sqrt(top2);
    a->comp_best = top2 / (a->error_fro * a->error_fro);
    a->proj_rand_exp = (double)p * a->error_fro / sqrt((double)d * (double)k);
    a->phi_r_exp = (double)p / (double)k;
    a->phi_l_exp = (double)p / (double)d;
    a->cos_sd = 1.0 / sqrt((double)d * (double)k);
    return CLI_OK;
}

/* Random p-dimensional subspaces (the baseline). */
static int random_baseline(const char *cmd, qe *a, qe_work *w)
{
    int d = a->m->out_features, k = a->m->in_features, p = a->p, K = a->K;
    lsc_error err = {0};
    uint64_t rng;
    lsc_rng_seed(&rng, a->rseed);
    if (lsc_random_orthonormal(d, p, &rng, w->Qd, w->w, w->lw, &err) != LSC_OK ||
        lsc_random_orthonormal(k, p, &rng, w->Qk, w->w, w->lw, &err) != LSC_OK)
        return module_fail(cmd, a, &err);
    transpose((size_t)k, (size_t)p, w->Qk, w->Rt2);   /* (p, k) */
    transpose((size_t)d, (size_t)p, w->Qd, w->Rt);    /* (p, d) */
    delta_basis rb = {NULL, w->Rt2, w->Rt, 0, 0, 0};
    against_error(d, k, p, K, &rb, w->E, w->Vt, w->UEt, a->phi_right_rand, a->phi_left_rand, w->Qd,
                  w->G, w->w, &a->proj_rand, &a->phi_r_rand, &a->phi_l_rand);
    return CLI_OK;
}

/* The QLoRA adapter's dW against E. */
static int own_update(const char *cmd, qe *a, qe_work *w)
{
    const lsc_adapter_module *m = a->m;
    int d = m->out_features, k = m->in_features, p = a->p, K = a->K;
    size_t pz = (size_t)p, Kz = (size_t)K, r1 = (size_t)m->r;
    double e2 = a->error_fro * a->error_fro;
    lsc_error err = {0};
    ana_to_double((size_t)d * r1, m->B, w->Bd);
    ana_to_double(r1 * (size_t)k, m->A, w->Ad);
    if (delta_of(d, k, m->r, m->scaling, w->Bd, w->Ad, p, w->E, &w->db, w->w, w->lw, &err) != LSC_OK)
        return module_fail(cmd, a, &err);
    a->delta_fro = w->db.fro;
    a->degenerate = w->db.degenerate;
    memcpy(a->sv_delta, w->db.S, pz * sizeof *w->db.S);
    if (w->db.degenerate) {
        cli_warn(cmd, "module %s has dW = 0 (lora_B or lora_A all zero): its phi, projection and cosine "
                      "are NaN, marked degenerate", m->name);
        fill_nan(pz * Kz, a->phi_right);
        fill_nan(pz * Kz, a->phi_left);
        a->phi_r = a->phi_l = a->phi_r1 = a->phi_l1 = a->proj_delta = a->cos_delta = NAN;
        a->coef = 0.0;
    } else {
        against_error(d, k, p, K, &w->db, w->E, w->Vt, w->UEt, a->phi_right, a->phi_left, w->Qd, w->G,
                      w->w, &a->proj_delta, &a->phi_r, &a->phi_l);
        a->phi_r1 = a->phi_right[0];
        a->phi_l1 = a->phi_left[0];
        a->cos_delta = w->db.inner / (w->db.fro * a->error_fro);
        a->coef = w->db.inner / e2;
    }
    return CLI_OK;
}

/* φ at (pm, pm) of two row bases (pm, n) against each other; G scratch. */
static double phi_square(int n, int pm, const double *X, const double *Y, double *G)
{
    double s2 = 0.0;
    lsc_subspace_gram(n, pm, X, pm, Y, G);
    for (size_t i = 0; i < (size_t)pm * (size_t)pm; i++)
        s2 += G[i] * G[i];
    return s2 / pm;
}

/* The fp32-base adapter of the same seed against E, and the two updates
 * against each other (top-min(p, p2) of each). */
static int compare_update(const char *cmd, qe *a, qe_work *w)
{
    const lsc_adapter_module *c = a->c;
    int d = c->out_features, k = c->in_features, p = a->p, p2 = a->p2, K = a->K;
    size_t p2z = (size_t)p2, Kz = (size_t)K, r2 = (size_t)c->r;
    double e2 = a->error_fro * a->error_fro;
    lsc_error err = {0};
    ana_to_double((size_t)d * r2, c->B, w->Bd);
    ana_to_double(r2 * (size_t)k, c->A, w->Ad);
    if (delta_of(d, k, c->r, c->scaling, w->Bd, w->Ad, p2, w->E, &w->dc, w->w, w->lw, &err) != LSC_OK)
        return module_fail(cmd, a, &err);
    a->cdelta_fro = w->dc.fro;
    a->cdegenerate = w->dc.degenerate;
    memcpy(a->sv_cmp, w->dc.S, p2z * sizeof *w->dc.S);
    if (w->dc.degenerate) {
        cli_warn(cmd, "compare module %s has dW = 0: its values are NaN", c->name);
        fill_nan(p2z * Kz, a->phi_right_cmp);
        fill_nan(p2z * Kz, a->phi_left_cmp);
        a->phi_rc = a->phi_lc = a->phi_rc1 = a->phi_lc1 = a->proj_cmp = a->cos_cmp = NAN;
        a->coef_cmp = 0.0;
    } else {
        against_error(d, k, p2, K, &w->dc, w->E, w->Vt, w->UEt, a->phi_right_cmp, a->phi_left_cmp, w->Qd,
                      w->G, w->w, &a->proj_cmp, &a->phi_rc, &a->phi_lc);
        a->phi_rc1 = a->phi_right_cmp[0];
        a->phi_lc1 = a->phi_left_cmp[0];
        a->cos_cmp = w->dc.inner / (w->dc.fro * a->error_fro);
        a->coef_cmp = w->dc.inner / e2;
    }
    a->phi_r_ad = a->phi_l_ad = NAN;
    if (!w->db.degenerate && !w->dc.degenerate) {
        int pm = p < p2 ? p : p2;
        a->phi_r_ad = phi_square(k, pm, w->db.Vt, w->dc.Vt, w->G);
        a->phi_l_ad = phi_square(d, pm, w->db.Ut, w->dc.Ut, w->G);
    }
    return CLI_OK;
}

/* D = s·B·A − s'·B'·A' = [s·B, −s'·B'] · [A; A'] against E. */
static int diff_update(const char *cmd, qe *a, qe_work *w)
{
    const lsc_adapter_module *m = a->m, *c = a->c;
    int d = m->out_features, k = m->in_features, p = a->p, K = a->K, rd = m->r + c->r;
    size_t dz = (size_t)d, kz = (size_t)k, pz = (size_t)p, Kz = (size_t)K;
    size_t r1 = (size_t)m->r, r2 = (size_t)c->r, rdz = (size_t)rd;
    lsc_error err = {0};
    for (size_t i = 0; i < dz; i++) {
        for (size_t j = 0; j < r1; j++)
            w->Bd[i * rdz + j] = m->scaling * (double)m->B[i * r1 + j];
        for (size_t j = 0; j < r2; j++)
            w->Bd[i * rdz + r1 + j] = -c->scaling * (double)c->B[i * r2 + j];
    }
    ana_to_double(r1 * kz, m->A, w->Ad);
    ana_to_double(r2 * kz, c->A, w->Ad + r1 * kz);
    if (delta_of(d, k, rd, 1.0, w->Bd, w->Ad, p, w->E, &w->dd, w->w, w->lw, &err) != LSC_OK)
        return module_fail(cmd, a, &err);
    a->diff_fro = w->dd.fro;
    a->ddegenerate = w->dd.degenerate;
    a->coef_diff = w->dd.inner / (a->error_fro * a->error_fro);
    if (w->dd.degenerate) {
        fill_nan(pz * Kz, a->phi_right_diff);
        fill_nan(pz * Kz, a->phi_left_diff);
        a->phi_rd = a->phi_ld = a->proj_diff = a->cos_diff = NAN;
    } else {
        against_error(d, k, p, K, &w->dd, w->E, w->Vt, w->UEt, a->phi_right_diff, a->phi_left_diff, w->Qd,
                      w->G, w->w, &a->proj_diff, &a->phi_rd, &a->phi_ld);
        a->cos_diff = w->dd.inner / (w->dd.fro * a->error_fro);
    }
    return CLI_OK;
}

static int compute(const char *cmd, const char *base_path, const lsc_st_file *bf, int bs, int dq,
                   uint64_t seed, int store, qe *a)
{
    qe_work w;
    int rc;
    if (work_alloc(&w, a) != 0) {
        rc = cli_error(cmd, CLI_FAIL, "out of memory for module %s", a->m->name);
    } else {
        a->rseed = ana_module_seed(seed, a->m->name);
        if ((rc = error_matrix(cmd, base_path, bf, bs, dq, store, a, &w)) == CLI_OK &&
            (rc = error_spectrum(cmd, a, &w)) == CLI_OK &&
            (rc = random_baseline(cmd, a, &w)) == CLI_OK &&
            (rc = own_update(cmd, a, &w)) == CLI_OK && a->c &&
            (rc = compare_update(cmd, a, &w)) == CLI_OK)
            rc = diff_update(cmd, a, &w);
    }
    work_free(&w);
    return rc;
}

static int write_module(lsc_h5 *h, const qe *a, int bs, int dq, lsc_error *err)
{
    const lsc_adapter_module *m = a->m;
    char g[1200], ds[1300];
    snprintf(g, sizeof g, "/modules/%s", m->name);
    size_t d1[1], d2[2];
    int rc;
#define DS1(name, n, data)                                                        \
    do {                                                                          \
        snprintf(ds, sizeof ds, "%s/%s", g, name);                                \
        d1[0] = (size_t)(n);                                                      \
        if ((rc = lsc_h5_write_f64(h, ds, 1, d1, data, err)) != LSC_OK)          \
            return rc;                                                            \
    } while (0)
#define DS2(name, r, c, data)                                                     \
    do {                                                                          \
        snprintf(ds, sizeof ds, "%s/%s", g, name);                                \
        d2[0] = (size_t)(r);                                                      \
        d2[1] = (size_t)(c);                                                      \
        if ((rc = lsc_h5_write_f64(h, ds, 2, d2, data, err)) != LSC_OK)          \
            return rc;                                                            \
    } while (0)
#define AD(name, v) if ((rc = lsc_h5_attr_double(h, g, name, v, err)) != LSC_OK) return rc
#define AI(name, v) if ((rc = lsc_h5_attr_int(h, g, name, v, err)) != LSC_OK) return rc
    DS1("error_singular_values", a->mn, a->sv_err);
    DS1("delta_singular_values", a->p, a->sv_delta);
    DS2("phi_right", a->p, a->K, a->phi_right);
    DS2("phi_left", a->p, a->K, a->phi_left);
    DS2("phi_right_random", a->p, a->K, a->phi_right_rand);
    DS2("phi_left_random", a->p, a->K, a->phi_left_rand);
    if (a->E)
        DS2("error", m->out_features, m->in_features, a->E);
    if ((rc = ana_write_module_attrs(h, g, m, err)) != LSC_OK)
        return rc;
    AI("rank", a->p);
    AI("top", a->K);
    AI("blocksize", bs);
    AI("double_quant", dq);
    AD("bits_total", a->bits_total);
    AD("bits_constants", a->bits_constants);
    if ((rc = lsc_h5_attr_str(h, g, "base_tensor", a->t->name, err)) != LSC_OK)
        return rc;
    AI("base_transposed", a->transposed);
    AD("base_fro", a->base_fro);
    AD("error_fro", a->error_fro);
    AD("error_rel", a->error_rel);
    AD("error_max_abs", a->error_max_abs);
    AD("delta_fro", a->delta_fro);
    AD("phi_right", a->phi_r);
    AD("phi_left", a->phi_l);
    AD("phi_right_top1", a->phi_r1);
    AD("phi_left_top1", a->phi_l1);
    AD("phi_right_random", a->phi_r_rand);
    AD("phi_left_random", a->phi_l_rand);
    AD("phi_right_expected", a->phi_r_exp);
    AD("phi_left_expected", a->phi_l_exp);
    AD("proj_error_delta", a->proj_delta);
    AD("proj_error_top", a->proj_top);
    AD("proj_error_random", a->proj_rand);
    AD("proj_error_random_expected", a->proj_rand_exp);
    AD("cos_delta_error", a->cos_delta);
    AD("error_coef", a->coef);
    AD("cos_random_sd", a->cos_sd);
    AD("compensated_best", a->comp_best);
    AI("degenerate", a->degenerate);
    AI("n_nonfinite", m->n_nonfinite);
    AI("random_seed", (long long)a->rseed);
    AI("has_compare", a->c != NULL);
    if (a->c) {
        DS1("compare_singular_values", a->p2, a->sv_cmp);
        DS2("phi_right_compare", a->p2, a->K, a->phi_right_cmp);
        DS2("phi_left_compare", a->p2, a->K, a->phi_left_cmp);
        AI("compare_r", a->c->r);
        AI("compare_degenerate", a->cdegenerate);
        AD("compare_delta_fro", a->cdelta_fro);
        AD("phi_right_compare", a->phi_rc);
        AD("phi_left_compare", a->phi_lc);
        AD("phi_right_compare_top1", a->phi_rc1);
        AD("phi_left_compare_top1", a->phi_lc1);
        AD("proj_error_compare", a->proj_cmp);
        AD("cos_compare_error", a->cos_cmp);
        AD("compare_error_coef", a->coef_cmp);
        AD("phi_right_adapters", a->phi_r_ad);
        AD("phi_left_adapters", a->phi_l_ad);
        DS2("phi_right_diff", a->p, a->K, a->phi_right_diff);
        DS2("phi_left_diff", a->p, a->K, a->phi_left_diff);
        AD("diff_fro", a->diff_fro);
        AI("diff_degenerate", a->ddegenerate);
        AD("phi_right_diff", a->phi_rd);
        AD("phi_left_diff", a->phi_ld);
        AD("proj_error_diff", a->proj_diff);
        AD("cos_diff_error", a->cos_diff);
        AD("diff_error_coef", a->coef_diff);
    }
#undef DS1
#undef DS2
#undef AD
#undef AI
    return LSC_OK;
}

// ---- plots ----

static void put_num(FILE *fp, double v)
{
    if (isfinite(v))
        fprintf(fp, " %.10g", v);
    else
        fprintf(fp, " NaN");
}

static int draw(const char *cmd, const char *dir, const char *path, const qe *qs, int n, int hl,
                int has_cmp, int bs, int dq)
{
    lsc_atomic tmp;
    FILE *fp = ana_data_open(cmd, dir, "quanterr.dat", &tmp);
    if (!fp)
        return CLI_FAIL;
    fprintf(fp, "# lorascope quanterr (%s): columns: n module phi_right phi_right_compare phi_right_random "
                "phi_left phi_left_compare phi_left_random phi_right_expected phi_left_expected cos "
                "cos_compare cos_diff phi_right_diff phi_left_diff 2/sqrt(dk) error_coef diff_error_coef "
                "error_rel rank\n", path);
    for (int i = 0; i < n; i++) {
        const qe *a = &qs[i];
        ana_data_row(fp, i, a->m->name);
        double vals[] = {a->phi_r, a->c ? a->phi_rc : NAN, a->phi_r_rand, a->phi_l, a->c ? a->phi_lc : NAN,
                         a->phi_l_rand, a->phi_r_exp, a->phi_l_exp, a->cos_delta, a->c ? a->cos_cmp : NAN,
                         a->c ? a->cos_diff : NAN, a->c ? a->phi_rd : NAN, a->c ? a->phi_ld : NAN,
                         2.0 * a->cos_sd, a->coef, a->c ? a->coef_diff : NAN, a->error_rel};
        for (size_t j = 0; j < sizeof vals / sizeof vals[0]; j++)
            put_num(fp, vals[j]);
        fprintf(fp, " %d\n", a->p);
    }
    if (ana_data_close(cmd, &tmp) != CLI_OK)
        return CLI_FAIL;
    /* the selected module's spectra, each normalised by its largest value */
    const qe *a = &qs[hl];
    fp = ana_data_open(cmd, dir, "quanterr_spectrum.dat", &tmp);
    if (!fp)
        return CLI_FAIL;
    fprintf(fp, "# lorascope quanterr (%s), module %s: columns: i sigma_i(E)/sigma_1(E) "
                "sigma_i(dW)/sigma_1(dW) sigma_i(dW_compare)/sigma_1(dW_compare)\n", path, a->m->name);
    for (int i = 0; i < a->mn; i++) {
        fprintf(fp, "%d", i + 1);
        put_num(fp, a->sv_err[0] > 0 ? a->sv_err[i] / a->sv_err[0] : NAN);
        put_num(fp, i < a->p && a->sv_delta[0] > 0 ? a->sv_delta[i] / a->sv_delta[0] : NAN);
        put_num(fp, a->c && i < a->p2 && a->sv_cmp[0] > 0 ? a->sv_cmp[i] / a->sv_cmp[0] : NAN);
        fputc('\n', fp);
    }
    if (ana_data_close(cmd, &tmp) != CLI_OK)
        return CLI_FAIL;
    char b[300], title[900], mod[600], vars[8192];
    ana_basename(path, b, sizeof b);
    ana_title_safe(a->m->name, mod, sizeof mod);
    snprintf(title, sizeof title, "Quantisation error E = W - deq(Q(W)) vs the adapter: %s (NF4, block %d%s)", b,
             bs, dq ? ", double quant" : "");
    snprintf(vars, sizeof vars,
             "datafile='%s/quanterr.dat'; specfile='%s/quanterr_spectrum.dat'; outbase='%s/quanterr'; "
             "plottitle='%s'; nmod=%d; hl=%d; hasc=%d; hlname='%s'",
             dir, dir, dir, title, n, hl, has_cmp, mod);
    return ana_draw_figure(cmd, dir, "quanterr.gp", "quanterr", vars);
}

// ---- the command ----

/* What cmd_quanterr parsed. */
typedef struct quanterr_opts {
    const char *base_path, *path, *cmp_path;
    long        bs, top;
    int         dq, store;
} quanterr_opts;

/* The adapters, the base and the matched modules of one run. */
typedef struct quanterr_run {
    const quanterr_opts *q;
    ana_opts     o;
    lsc_adapter  ad, cad;
    lsc_st_file  bf;
    qe          *qs;         /* (ad.n_modules), the first na used */
    int          na, n_skip, n_cmp, hl;
} quanterr_run;

/* Whether module i is the one --module names. */
static int qe_is(const void *items, int i, const char *name)
{
    return strcmp(((const qe *)items)[i].m->name, name) == 0;
}

static double mean_of(const qe *qs, int n, size_t off)
{
    double s = 0.0;
    int c = 0;
    for (int i = 0; i < n; i++) {
        double v = *(const double *)((const char *)&qs[i] + off);
        if (isfinite(v))
            s += v, c++;
    }
    return c ? s / c : NAN;
}

/* The compare adapter's module for a (a->c stays NULL when there is none
 * usable, with a warning). */
static void match_compare(const char *cmd, quanterr_run *R, qe *a)
{
    const lsc_adapter_module *m = a->m;
    int ci = lsc_adapter_find(&R->cad, m->name);
    const lsc_adapter_module *c = ci >= 0 ? &R->cad.modules[ci] : NULL;
    if (!c)
        cli_warn(cmd, "%s: no module %s to compare with", R->q->cmp_path, m->name);
    else if (c->in_features != m->in_features || c->out_features != m->out_features || c->n_nonfinite)
        cli_warn(cmd, "%s: module %s has another shape or NaN/Inf values; not compared", R->q->cmp_path,
                 m->name);
    else {
        a->c = c;
        a->p2 = c->r < a->mn ? c->r : a->mn;
        R->n_cmp++;
    }
}

/* The adapter's modules with a usable fp32 base weight, into R->qs. */
static int match_modules(const char *cmd, quanterr_run *R)
{
    const quanterr_opts *q = R->q;
    const lsc_adapter *ad = &R->ad;
    for (int i = 0; i < ad->n_modules; i++) {
        const lsc_adapter_module *m = &ad->modules[i];
        const lsc_st_tensor *t = find_base(&R->bf, m->name);
        if (!t) {
            cli_warn(cmd, "%s: no base weight for module %s (tried %s.weight with and without "
                          "'transformer.'/'model.'); skipped", q->base_path, m->name, m->name);
            R->n_skip++;
            continue;
        }
        if (lsc_nf4_st_role(&R->bf, t->name) != LSC_NF4_ROLE_PLAIN)
            return cli_error(cmd, CLI_FAIL, "%s: %s is already NF4-quantised; quanterr needs the fp32 base W "
                                            "(E = W - deq(Q(W))), e.g. the file given to `lorascope quantize`",
                             q->base_path, t->name);
        int64_t want0 = ad->fan_in_fan_out ? m->in_features : m->out_features;
        int64_t want1 = ad->fan_in_fan_out ? m->out_features : m->in_features;
        if (t->ndim != 2 || t->shape[0] != want0 || t->shape[1] != want1) {
            cli_warn(cmd, "%s: base tensor %s does not have the shape [%lld, %lld] module %s needs; skipped",
                     q->base_path, t->name, (long long)want0, (long long)want1, m->name);
            R->n_skip++;
            continue;
        }
        if (m->n_nonfinite) {
            cli_warn(cmd, "%s: module %s has %d NaN/Inf values; skipped", q->path, m->name, m->n_nonfinite);
            R->n_skip++;
            continue;
        }
        qe *a = &R->qs[R->na++];
        a->m = m;
        a->t = t;
        a->transposed = ad->fan_in_fan_out;
        a->mn = m->in_features < m->out_features ? m->in_features : m->out_features;
        a->p = m->r < a->mn ? m->r : a->mn;
        a->K = (int)(q->top > a->mn ? a->mn : q->top);
        if (a->K < a->p)
            a->K = a->p;
        if (q->cmp_path)
            match_compare(cmd, R, a);
    }
    if (R->na == 0)
        return cli_error(cmd, CLI_FAIL, "%s: none of the %d modules of %s has a usable fp32 base weight",
                         q->base_path, ad->n_modules, q->path);
    return CLI_OK;
}

/* The result arrays of one module; 0, or -1 when out of memory. */
static int alloc_results(qe *a, int store)
{
    size_t pz = (size_t)a->p, Kz = (size_t)a->K, p2z = (size_t)a->p2;
    a->sv_err = calloc((size_t)a->mn, sizeof(double));
    a->sv_delta = calloc(pz, sizeof(double));
    a->phi_right = calloc(pz * Kz, sizeof(double));
    a->phi_left = calloc(pz * Kz, sizeof(double));
    a->phi_right_rand = calloc(pz * Kz, sizeof(double));
    a->phi_left_rand = calloc(pz * Kz, sizeof(double));
    if (a->c) {
        a->sv_cmp = calloc(p2z, sizeof(double));
        a->phi_right_cmp = calloc(p2z * Kz, sizeof(double));
        a->phi_left_cmp = calloc(p2z * Kz, sizeof(double));
        a->phi_right_diff = calloc(pz * Kz, sizeof(double));
        a->phi_left_diff = calloc(pz * Kz, sizeof(double));
    }
    if (store)
        a->E = calloc((size_t)a->m->out_features * (size_t)a->m->in_features, sizeof(double));
    if (!a->sv_err || !a->sv_delta || !a->phi_right || !a->phi_left || !a->phi_right_rand ||
        !a->phi_left_rand || (a->c && (!a->sv_cmp || !a->phi_right_cmp || !a->phi_left_cmp || !a->phi_right_diff ||
                                                 !a->phi_left_diff)) ||
        (store && !a->E))
        return -1;
    return 0;
}

static void free_results(qe *a)
{
    free(a->sv_err); free(a->sv_delta); free(a->sv_cmp);
    free(a->phi_right); free(a->phi_left); free(a->phi_right_rand);
    free(a->phi_left_rand); free(a->phi_right_cmp); free(a->phi_left_cmp);
    free(a->E); free(a->phi_right_diff); free(a->phi_left_diff);
}

/* Every matched module: computed, written to h, one table row. */
static int analyse_modules(const char *cmd, quanterr_run *R, lsc_h5 *h)
{
    const quanterr_opts *q = R->q;
    lsc_error err = {0};
    printf("%s on %s: %d modules, NF4 blocksize %ld%s%s%s\n", q->path, q->base_path, R->na, q->bs,
           q->dq ? ", double quant" : "", q->cmp_path ? ", compared with " : "", q->cmp_path ? q->cmp_path : "");
    printf("%-28s %3s %8s %8s %8s %8s %8s %8s %8s %8s %8s %9s %9s\n", "module", "r", "|E|/|W|", "phiR",
           "phiR_cmp", "phiR_D", "phiR_rnd", "phiL", "phiL_cmp", "phiL_D", "phiL_rnd", "cos(dW,E)", "cos(D,E)");
    for (int i = 0; i < R->na; i++) {
        qe *a = &R->qs[i];
        int rc;
        if (alloc_results(a, q->store) != 0)
            return cli_error(cmd, CLI_FAIL, "out of memory");
        if ((rc = compute(cmd, q->base_path, &R->bf, (int)q->bs, q->dq, R->o.seed, q->store, a)) != CLI_OK)
            return rc;
        if (write_module(h, a, (int)q->bs, q->dq, &err) != LSC_OK)
            return cli_lib_error(cmd, &err);
        if (q->store) {   /* written: give the memory back */
            free(a->E);
            a->E = NULL;
        }
        printf("%-28s %3d %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f %9.5f %9.5f\n",
               ana_short_name(a->m->name), a->m->r, a->error_rel, a->phi_r, a->c ? a->phi_rc : NAN,
               a->c ? a->phi_rd : NAN, a->phi_r_rand, a->phi_l, a->c ? a->phi_lc : NAN, a->c ? a->phi_ld : NAN,
               a->phi_l_rand, a->cos_delta, a->c ? a->cos_diff : NAN);
    }
    return CLI_OK;
}

/* The means over modules (NaN entries left out), printed and written as
 * root attributes with the provenance; commits h. */
static int summarise_and_commit(const char *cmd, quanterr_run *R, lsc_h5 **h, double t0)
{
    const quanterr_opts *q = R->q;
    const qe *qs = R->qs;
    int na = R->na;
#define MEAN(field) mean_of(qs, na, offsetof(qe, field))
    double mr = MEAN(phi_r), ml = MEAN(phi_l), mrc = MEAN(phi_rc), mlc = MEAN(phi_lc);
    double mrr = MEAN(phi_r_rand), mlr = MEAN(phi_l_rand), mre = MEAN(phi_r_exp), mle = MEAN(phi_l_exp);
    double mcos = MEAN(cos_delta), mcosc = MEAN(cos_cmp), mcosd = MEAN(cos_diff), msd = MEAN(cos_sd);
    double mcoef = MEAN(coef), mcoefc = MEAN(coef_cmp), mcoefd = MEAN(coef_diff);
    double mbest = MEAN(comp_best), merr = MEAN(error_rel), mbits = MEAN(bits_total);
    double mrad = MEAN(phi_r_ad), mlad = MEAN(phi_l_ad), mrd = MEAN(phi_rd), mld = MEAN(phi_ld);
#undef MEAN
    double pr = 0.0, prc = 0.0;
    int npr = 0, nprc = 0;
    for (int i = 0; i < na; i++) {
        if (isfinite(qs[i].proj_delta))
            pr += qs[i].proj_delta / qs[i].proj_rand_exp, npr++;
        if (qs[i].c && isfinite(qs[i].proj_cmp))
            prc += qs[i].proj_cmp / qs[i].proj_rand_exp, nprc++;
    }
    pr = npr ? pr / npr : NAN;
    prc = nprc ? prc / nprc : NAN;
    if (!q->cmp_path)
        mrc = mlc = mcosc = mcosd = mcoefc = mcoefd = mrad = mlad = mrd = mld = prc = NAN;
    printf("mean over %d modules: phi(r,r) with E's top-r, right: dW %.4f, compare %.4f, D = dW - compare %.4f, "
           "random %.4f (expected %.4f); left: %.4f, %.4f, %.4f, %.4f (%.4f)\n",
           na, mr, mrc, mrd, mrr, mre, ml, mlc, mld, mlr, mle);
    printf("  cos with E: dW %.5f, compare %.5f, D %.5f (unrelated: sd %.5f); <., E>/|E|^2: dW %.4f, compare %.4f, "
           "D %.4f (rank-r best %.4f); |U^T E V| / random: dW %.3f, compare %.3f\n",
           mcos, mcosc, mcosd, msd, mcoef, mcoefc, mcoefd, mbest, pr, prc);
    lsc_h5_input in[3] = {{"base", q->base_path}, {"adapter", q->path}, {"compare", q->cmp_path}};
    lsc_h5_param ps[] = {
        {"blocksize", LSC_H5_INT, NULL, q->bs, 0},
        {"double_quant", LSC_H5_INT, NULL, q->dq, 0},
        {"top", LSC_H5_INT, NULL, q->top, 0},
        ANA_COMMON_PARAMS(R->o),
        {"store_error", LSC_H5_INT, NULL, q->store, 0},
        {"fan_in_fan_out", LSC_H5_INT, NULL, R->ad.fan_in_fan_out, 0},
        {"quantiser", LSC_H5_STR, "lsc_nf4_quantize on the stored base tensor (bitsandbytes NF4)", 0, 0},
        {"svd", LSC_H5_STR, "E: dense LAPACK SVD (lsc_svd); dW: thin-QR low-rank SVD (lsc_lowrank_svd)", 0, 0},
        {"zero_tolerance", LSC_H5_STR, "sigma_1(dW) <= |s|*|B|_F*|A|_F*max(d,k)*DBL_EPSILON", 0, 0},
        {"n_modules", LSC_H5_INT, NULL, na, 0},
        {"n_skipped", LSC_H5_INT, NULL, R->n_skip, 0},
        {"n_compared", LSC_H5_INT, NULL, R->n_cmp, 0},
        {"mean_error_rel", LSC_H5_DOUBLE, NULL, 0, merr},
        {"mean_bits_total", LSC_H5_DOUBLE, NULL, 0, mbits},
        {"mean_phi_right", LSC_H5_DOUBLE, NULL, 0, mr},
        {"mean_phi_left", LSC_H5_DOUBLE, NULL, 0, ml},
        {"mean_phi_right_compare", LSC_H5_DOUBLE, NULL, 0, mrc},
        {"mean_phi_left_compare", LSC_H5_DOUBLE, NULL, 0, mlc},
        {"mean_phi_right_random", LSC_H5_DOUBLE, NULL, 0, mrr},
        {"mean_phi_left_random", LSC_H5_DOUBLE, NULL, 0, mlr},
        {"mean_phi_right_expected", LSC_H5_DOUBLE, NULL, 0, mre},
        {"mean_phi_left_expected", LSC_H5_DOUBLE, NULL, 0, mle},
        {"mean_phi_right_adapters", LSC_H5_DOUBLE, NULL, 0, mrad},
        {"mean_phi_left_adapters", LSC_H5_DOUBLE, NULL, 0, mlad},
        {"mean_phi_right_diff", LSC_H5_DOUBLE, NULL, 0, mrd},
        {"mean_phi_left_diff", LSC_H5_DOUBLE, NULL, 0, mld},
        {"mean_cos_delta_error", LSC_H5_DOUBLE, NULL, 0, mcos},
        {"mean_cos_compare_error", LSC_H5_DOUBLE, NULL, 0, mcosc},
        {"mean_cos_diff_error", LSC_H5_DOUBLE, NULL, 0, mcosd},
        {"mean_cos_random_sd", LSC_H5_DOUBLE, NULL, 0, msd},
        {"mean_error_coef", LSC_H5_DOUBLE, NULL, 0, mcoef},
        {"mean_compare_error_coef", LSC_H5_DOUBLE, NULL, 0, mcoefc},
        {"mean_diff_error_coef", LSC_H5_DOUBLE, NULL, 0, mcoefd},
        {"mean_compensated_best", LSC_H5_DOUBLE, NULL, 0, mbest},
        {"mean_proj_ratio", LSC_H5_DOUBLE, NULL, 0, pr},
        {"mean_proj_ratio_compare", LSC_H5_DOUBLE, NULL, 0, prc},
    };
    return ana_output_commit(cmd, &R->o, h, t0, q->cmp_path ? 3 : 2, in, NULL,
                             (int)(sizeof ps / sizeof ps[0]), ps);
}

/* The run after option parsing: adapters and base, matching, the
 * per-module analysis, the output file, figures and JSON. */
static int run_quanterr(const char *cmd, const quanterr_opts *q, const cli_opt *opts, double t0)
{
    quanterr_run R;
    memset(&R, 0, sizeof R);
    R.q = q;
    lsc_h5 *h = NULL;
    int rc = ana_setup(cmd, opts, &R.o, q->path, &R.ad, q->cmp_path, &R.cad);
    if (rc != CLI_OK)
        return rc;
    if ((rc = ana_open_base(cmd, q->base_path, &R.bf)) != CLI_OK)
        goto done;
    R.qs = calloc((size_t)R.ad.n_modules, sizeof *R.qs);
    if (!R.qs) {
        rc = cli_error(cmd, CLI_FAIL, "out of memory");
        goto done;
    }
    if ((rc = match_modules(cmd, &R)) != CLI_OK ||
        (rc = ana_pick_module(cmd, &R.o, R.na, "analysed", qe_is, R.qs, &R.hl)) != CLI_OK ||
        (rc = ana_output_create(cmd, &R.o, &h)) != CLI_OK ||
        (rc = analyse_modules(cmd, &R, h)) != CLI_OK ||
        (rc = summarise_and_commit(cmd, &R, &h, t0)) != CLI_OK)
        goto done;
    if (R.o.plots && (rc = draw(cmd, R.o.plots, q->path, R.qs, R.na, R.hl, q->cmp_path != NULL, (int)q->bs,
                                q->dq)) != CLI_OK)
        goto done;
    if (R.o.json)
        ana_print_json(cmd, R.o.output, R.na, R.n_skip, t0);
    rc = CLI_OK;
done:
    lsc_h5_abort(h);
    if (R.qs)
        for (int i = 0; i < R.ad.n_modules; i++)
            free_results(&R.qs[i]);
    free(R.qs);
    lsc_st_close(&R.bf);
    lsc_adapter_free(&R.ad);
    lsc_adapter_free(&R.cad);
    return rc;
}

int cmd_quanterr(int argc, char **argv)
{
    const char *cmd = "quanterr";
    double t0 = cli_now();
    cli_opt opts[] = {ANA_COMMON_OPTS,          {"compare", 1, NULL},     {"blocksize", 1, NULL},
                      {"double-quant", 0, NULL}, {"no-double-quant", 0, NULL}, {"top", 1, NULL},
                      {"store-error", 0, NULL}, {NULL, 0, NULL}};
    const char *pos[3];
    int npos = 0, help = 0;
    int rc = ana_parse_args(cmd, USAGE, argc, argv, opts, pos, 3, &npos, &help);
    if (rc != CLI_OK || help)
        return rc;
    if (npos != 2)
        return cli_error(cmd, CLI_USAGE, "expected BASE.safetensors and ADAPTER, got %d argument%s", npos,
                         npos == 1 ? "" : "s");
    int bad = 0;
    quanterr_opts q;
    q.bs = cli_long(opts, "blocksize", LSC_NF4_BLOCKSIZE_DEFAULT, &bad);
    q.top = cli_long(opts, "top", 32, &bad);
    if (bad)
        return CLI_USAGE;
    if (q.bs < LSC_NF4_BLOCKSIZE_MIN || q.bs > LSC_NF4_BLOCKSIZE_MAX || (q.bs & (q.bs - 1)) != 0)
        return cli_error(cmd, CLI_USAGE, "--blocksize must be a power of two in %d..%d, got %ld",
                         LSC_NF4_BLOCKSIZE_MIN, LSC_NF4_BLOCKSIZE_MAX, q.bs);
    if (cli_flag(opts, "double-quant") && cli_flag(opts, "no-double-quant"))
        return cli_error(cmd, CLI_USAGE, "--double-quant and --no-double-quant contradict each other");
    if (q.top < 1 || q.top > 1000000)
        return cli_error(cmd, CLI_USAGE, "--top must be a positive integer, got %ld", q.top);
    q.dq = !cli_flag(opts, "no-double-quant");
    q.store = cli_flag(opts, "store-error");
    q.base_path = pos[0];
    q.path = pos[1];
    q.cmp_path = cli_get(opts, "compare");
    return run_quanterr(cmd, &q, opts, t0);
}
