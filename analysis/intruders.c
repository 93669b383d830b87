/*
 * intruders.c — `lorascope intruders --base B ADAPTER -o OUT.h5` (or
 * `--base B --finetuned WFT`): intruder dimensions (Shuttleworth et al.
 * 2024, "LoRA vs Full Fine-tuning: An Illusion of Equivalence"). Per
 * module, the dense SVD (LAPACK, float64) of the base weight W0 and of the
 * fine-tuned W = W0 + ΔW; for each of W's top-kmax left singular vectors
 * u_i (kmax = the largest --k, at most min(d, k)) its largest |cos| with
 * any of W0's min(d, k) left singular vectors, and the same on the right
 * side (v_i against W0's right singular vectors). u_i is an intruder at
 * (k, ε) when i <= k and that cosine is below ε. Counts are of the left
 * side unless named _right.
 *
 * ΔW: with ADAPTER, s·B·A of each LoRA module (DoRA: the effective update
 * m ⊙ (W0 + s·B·A)/‖·‖_row − W0; full tensors: weight − W0 on the base's
 * rows), W0 found in the base (FILE.safetensors, Hugging Face folder or
 * llama2.c checkpoint) as amplify does (ana_base_match: the names tried,
 * fan_in_fan_out, embedding and conv layouts); with --finetuned, W_ft − W0
 * of every weight of --targets, read as deltaspec does (delta_pairs.c),
 * each matrix as stored (no rank cut: the full fine-tuning itself; GPT-2
 * Conv1D files swap left and right).
 *
 * The null: W0 + R·ΔW·Qᵀ with Haar-random orthogonal R (d, d), Q (k, k)
 * (QR of a Gaussian with the signs of R's diagonal made positive), N draws
 * (--null-draws, default 50) from ana_null_seed(--null-seed or --seed,
 * module, "intruders"): ΔW's singular values kept, its directions made
 * uniformly random relative to W0's.
 *
 * HDF5, root: datasets k_values [n_k] (int), eps_values [n_eps]; attributes
 * k_default, eps_default, intruders_total (Σ over modules of n_intruders),
 * null_total_mean, null_total_q95, null_total_p (the draw-wise sum over
 * modules: draws are independent across modules), n_modules.
 * Per module /modules/<module>/: datasets
 *   sigma [kmax], base_sigma [kmax]      top singular values of W and of W0
 *   cos_left [kmax], cos_right [kmax]    max_j |u_i·u0_j|, max_j |v_i·v0_j|
 *   count_left [n_k, n_eps], count_right [n_k, n_eps]   intruders among the
 *                                        top min(k, min(d, k)) at each ε
 *   null_count [N]                       the null's count at the default cell
 *   null_count_mean [n_k, n_eps], null_count_q95 [n_k, n_eps]
 *   intruder_index [n_intruders] (int, 1-based rank i in W's spectrum) and
 *   intruder_sigma [n_intruders] at the default cell (may be empty);
 * attributes in_features, out_features, n_sv (min(d, k)), k_max, delta_fro,
 * base_fro, n_intruders, n_intruders_right (default cell), null_mean,
 * null_sd, null_q95, p_value ((1 + #{null >= n_intruders}) / (1 + N)),
 * null_draws, null_seed; with ADAPTER also r, alpha, scaling, rank, scale.
 * Units and definitions of every dataset: h5describe.c; --json / --csv: the
 * file's numbers (tidy.h).
 *
 * Not a statistics package (the verdict is collect's, vintr), and not
 * cheap on large weights: 1 + N dense SVDs of [d, k] per module; a module
 * with d or k above 16384 (an embedding's vocabulary) is skipped with a
 * warning, as its Haar rotation would hold n² doubles.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis_common.h"
#include "base_match.h"
#include "commands.h"
#include "delta_pairs.h"
#include "nulls.h"
#include "tidy.h"

static const char *USAGE =
    "usage: lorascope intruders --base MODEL ADAPTER -o OUT.h5 [--k LIST] [--eps LIST]\n"
    "                           [--at K,EPS] [--null-draws N] [--plots DIR] [options]\n"
    "       lorascope intruders --base MODEL --finetuned WFT -o OUT.h5 [--targets LIST] ...\n"
    "\n"
    "Intruder dimensions (Shuttleworth et al. 2024): per module, the SVD of the base\n"
    "weight W0 and of W = W0 + dW (dense, float64); for each of W's top-k left\n"
    "singular vectors u_i its largest |cos| with any of W0's min(d, k) left singular\n"
    "vectors (cos_left; the right side too, cos_right). An intruder is one below\n"
    "eps. Counted for every k of --k and eps of --eps (count_left, count_right), and\n"
    "for a random-rotation null W0 + R dW Q^T (Haar R, Q): its mean, 95th percentile\n"
    "and the p-value of the observed count. dW: s*B*A of the ADAPTER's modules, the\n"
    "base weight found as for amplify (fan_in_fan_out transposed; DoRA: the effective\n"
    "update), or W_ft - W0 of a full fine-tuning with --finetuned (no rank cut).\n"
    "\n"
    "  --base MODEL         W0: FILE.safetensors, a Hugging Face folder or a\n"
    "                       llama2.c checkpoint (with --finetuned: file or folder)\n"
    "  --finetuned WFT      instead of ADAPTER: a fully fine-tuned model (safetensors\n"
    "                       file or Hugging Face folder, same names and shapes)\n"
    "  --targets LIST       with --finetuned: weight types (default q,k,v,o,fc_in,fc_out)\n"
    "  --k LIST             top-k sizes counted (default 10,20,50; capped at min(d, k))\n"
    "  --eps LIST           thresholds in (0, 1] (default 0.1,0.2,...,0.9)\n"
    "  --at K,EPS           the default cell: n_intruders, the intruders' indices and\n"
    "                       sigma, the null's p-value and the per-layer figure\n"
    "                       (default 10,0.5: the top ten directions carry most of a\n"
    "                       weight's action, as in Shuttleworth et al.'s figures, and\n"
    "                       cos < 0.5 (an angle over 60 degrees to every base\n"
    "                       direction) is the middle of the sweep)\n"
    "  --null-draws N       draws of the random-rotation null (default 50; each is one\n"
    "                       dense SVD per module)\n"
    ANA_NULL_SEED_HELP
    ANA_COMMON_HELP
    "\n"
    "examples:\n"
    "  lorascope intruders --base base.safetensors runs/qv-r8-s1/adapter -o intr.h5 --plots figs\n"
    "  lorascope intruders --base base.safetensors --finetuned runs/full-s1/model.safetensors \\\n"
    "      --targets q,v -o intr_full.h5\n";

#define MAX_GRID 32
#define MAX_DIM 16384   /* the null's Haar rotation of R^n holds n² doubles (2 GiB at 16384) */

/* What cmd_intruders parsed. */
typedef struct intr_cfg {
    const char *adapter, *base_path, *ft_path, *targets;
    int      nk, neps, ks[MAX_GRID];
    double   eps[MAX_GRID];
    int      kdef;
    double   edef;
    int      ndraws;
    uint64_t null_seed;
    int      null_seed_given;
} intr_cfg;

/* One module: its inputs and results. */
typedef struct intr {
    const char *name;
    const lsc_adapter_module *m;       /* ADAPTER: the module, else NULL */
    ana_base_mat bm;                   /* ADAPTER: its base matrix */
    const lsc_st_tensor *tb, *tf;      /* --finetuned: the pair */
    int    d, k, mn, kmax;
    double delta_fro, base_fro;
    double *sigma, *base_sigma, *cos_left, *cos_right;      /* (kmax) */
    double *count_left, *count_right, *null_mean, *null_q95; /* (nk·neps) */
    double *null_count;                                      /* (ndraws) */
    int    n_intr, n_intr_right;
    int    *intr_index;                                      /* (kmax) */
    double *intr_sigma;
    ana_null sn;
    uint64_t nseed;
    int    rc;
    ana_msgs msgs;
} intr;

// ---- numerics ----

/* cos[i] = max_j |Σ_l X[l][i]·Y[l][j]| for i < p, j < q: X (n, ldx), Y
 * (n, ldy) as columns (trans = 0), or rows X (p, n), Y (q, n) (trans = 1).
 * G: p·q doubles. */
static void max_cos(int trans, int n, int p, int q, const double *X, int ldx, const double *Y, int ldy,
                    double *G, double *cos)
{
    if (trans)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, p, q, n, 1.0, X, ldx, Y, ldy, 0.0, G, q);
    else
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, p, q, n, 1.0, X, ldx, Y, ldy, 0.0, G, q);
    for (int i = 0; i < p; i++) {
        double b = 0.0;
        for (int j = 0; j < q; j++)
            b = fmax(b, fabs(G[(size_t)i * (size_t)q + (size_t)j]));
        cos[i] = b;
    }
}

/* grid[a][e] = #{i < min(ks[a], kmax) : cos[i] < eps[e]} */
static void count_grid(const intr_cfg *c, int kmax, const double *cos, double *grid)
{
    for (int a = 0; a < c->nk; a++)
        for (int e = 0; e < c->neps; e++) {
            int kk = c->ks[a] < kmax ? c->ks[a] : kmax, n = 0;
            for (int i = 0; i < kk; i++)
                n += cos[i] < c->eps[e];
            grid[a * c->neps + e] = n;
        }
}

static int count_at(int kk, const double *cos, double eps)
{
    int n = 0;
    for (int i = 0; i < kk; i++)
        n += cos[i] < eps;
    return n;
}

/* A Haar-random orthogonal Q (n, n): the QR of a Gaussian G (drawn from a
 * copy of the stream lsc_random_orthonormal draws its own from) with each
 * column's sign that of R's diagonal, (QᵀG)_jj. G: n·n doubles. */
static int haar(int n, uint64_t *rng, double *Q, double *G, double *w, size_t lw, lsc_error *err)
{
    uint64_t r2 = *rng;
    size_t nn = (size_t)n * (size_t)n;
    for (size_t i = 0; i < nn; i++)
        G[i] = lsc_rng_normal(&r2);
    int rc = lsc_random_orthonormal(n, n, rng, Q, w, lw, err);
    if (rc != LSC_OK)
        return rc;
    for (size_t j = 0; j < (size_t)n; j++) {
        double s = 0.0;
        for (size_t i = 0; i < (size_t)n; i++)
            s += Q[i * (size_t)n + j] * G[i * (size_t)n + j];
        if (s < 0.0)
            for (size_t i = 0; i < (size_t)n; i++)
                Q[i * (size_t)n + j] = -Q[i * (size_t)n + j];
    }
    return LSC_OK;
}

/* Scratch of one module. */
typedef struct intr_ws {
    double *S0, *U0, *V0t, *W, *S, *U, *Vt, *G, *R, *Q, *T, *grid, *w;
    size_t lw;
} intr_ws;

static void ws_free(intr_ws *s)
{
    free(s->S0); free(s->U0); free(s->V0t); free(s->W); free(s->S); free(s->U); free(s->Vt);
    free(s->G); free(s->R); free(s->Q); free(s->T); free(s->grid); free(s->w);
}

static int ws_alloc(const intr_cfg *c, const intr *a, intr_ws *s)
{
    size_t d = (size_t)a->d, k = (size_t)a->k, mn = (size_t)a->mn, mx = d > k ? d : k;
    size_t l1 = lsc_svd_work_size(a->d, a->k, 1), l2 = lsc_random_orthonormal_work_size((int)mx, (int)mx);
    s->lw = l1 > l2 ? l1 : l2;
    s->S0 = malloc(mn * sizeof(double));
    s->U0 = malloc(d * mn * sizeof(double));
    s->V0t = malloc(mn * k * sizeof(double));
    s->W = malloc(d * k * sizeof(double));
    s->S = malloc(mn * sizeof(double));
    s->U = malloc(d * mn * sizeof(double));
    s->Vt = malloc(mn * k * sizeof(double));
    s->G = malloc(mx * mx * sizeof(double));
    s->R = malloc(d * d * sizeof(double));
    s->Q = malloc(k * k * sizeof(double));
    s->T = malloc(d * k * sizeof(double));
    s->grid = malloc((size_t)(c->nk * c->neps) * sizeof(double));
    s->w = malloc(s->lw * sizeof(double));
    return s->S0 && s->U0 && s->V0t && s->W && s->S && s->U && s->Vt && s->G && s->R && s->Q && s->T &&
           s->grid && s->w;
}

/* One null draw: W = W0 + R·dW·Qᵀ, its top-kmax left vectors against U0:
 * the count grid into s->grid and the default cell's count. */
static int null_draw(const intr_cfg *c, intr *a, const double *W0, const double *dW, uint64_t *rng,
                     intr_ws *s, double *cos, int *n_def, lsc_error *err)
{
    int d = a->d, k = a->k, rc;
    if ((rc = haar(d, rng, s->R, s->G, s->w, s->lw, err)) != LSC_OK ||
        (rc = haar(k, rng, s->Q, s->G, s->w, s->lw, err)) != LSC_OK)
        return rc;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, k, d, 1.0, s->R, d, dW, k, 0.0, s->T, k);
    memcpy(s->W, W0, (size_t)d * (size_t)k * sizeof *W0);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d, k, k, 1.0, s->T, k, s->Q, k, 1.0, s->W, k);
    if ((rc = lsc_svd(d, k, s->W, s->S, s->U, NULL, s->w, s->lw, err)) != LSC_OK)
        return rc;
    max_cos(0, d, a->kmax, a->mn, s->U, a->mn, s->U0, a->mn, s->G, cos);
    count_grid(c, a->kmax, cos, s->grid);
    *n_def = count_at(c->kdef < a->kmax ? c->kdef : a->kmax, cos, c->edef);
    return LSC_OK;
}

/* The null of module a (after observe(): s->U0 holds W0's left vectors). */
static int null_all(const intr_cfg *c, intr *a, const double *W0, const double *dW, intr_ws *s,
                    lsc_error *err)
{
    size_t nd = (size_t)c->ndraws, nc = (size_t)(c->nk * c->neps);
    double *draws = malloc(nd * nc * sizeof *draws), *cos = malloc((size_t)a->kmax * sizeof *cos);
    double *sc = malloc(nd * sizeof *sc);
    int rc = LSC_OK;
    if (!draws || !cos || !sc) {
        free(draws); free(cos); free(sc);
        LSC_FAIL(err, LSC_ENOMEM, "out of memory for the null of module %s", a->name);
    }
    a->nseed = ana_null_seed(c->null_seed, a->name, "intruders");
    uint64_t rng;
    lsc_rng_seed(&rng, a->nseed);
    for (size_t t = 0; t < nd && rc == LSC_OK; t++) {
        int n = 0;
        rc = null_draw(c, a, W0, dW, &rng, s, cos, &n, err);
        a->null_count[t] = n;
        memcpy(draws + t * nc, s->grid, nc * sizeof *draws);
    }
    if (rc == LSC_OK) {
        ana_null_grid(nd, nc, draws, a->null_mean, a->null_q95, sc);
        ana_null_summary(nd, a->null_count, (double)a->n_intr, sc, &a->sn);
    }
    free(draws); free(cos); free(sc);
    return rc;
}

/* The observed side: SVDs of W0 and W = W0 + dW, cosines, counts, the
 * default cell's intruders. */
static int observe(const intr_cfg *c, intr *a, const double *W0, const double *dW, intr_ws *s,
                   lsc_error *err)
{
    int d = a->d, k = a->k, mn = a->mn, kmax = a->kmax, rc;
    size_t dk = (size_t)d * (size_t)k;
    a->base_fro = lsc_fro_norm(dk, W0);
    a->delta_fro = lsc_fro_norm(dk, dW);
    if ((rc = lsc_svd(d, k, W0, s->S0, s->U0, s->V0t, s->w, s->lw, err)) != LSC_OK)
        return rc;
    for (size_t i = 0; i < dk; i++)
        s->W[i] = W0[i] + dW[i];
    if ((rc = lsc_svd(d, k, s->W, s->S, s->U, s->Vt, s->w, s->lw, err)) != LSC_OK)
        return rc;
    memcpy(a->sigma, s->S, (size_t)kmax * sizeof *s->S);
    memcpy(a->base_sigma, s->S0, (size_t)kmax * sizeof *s->S0);
    max_cos(0, d, kmax, mn, s->U, mn, s->U0, mn, s->G, a->cos_left);
    max_cos(1, k, kmax, mn, s->Vt, k, s->V0t, k, s->G, a->cos_right);
    count_grid(c, kmax, a->cos_left, a->count_left);
    count_grid(c, kmax, a->cos_right, a->count_right);
    int kd = c->kdef < kmax ? c->kdef : kmax;
    a->n_intr = 0;
    for (int i = 0; i < kd; i++)
        if (a->cos_left[i] < c->edef) {
            a->intr_index[a->n_intr] = i + 1;
            a->intr_sigma[a->n_intr++] = a->sigma[i];
        }
    a->n_intr_right = count_at(kd, a->cos_right, c->edef);
    return LSC_OK;
}

// ---- the inputs of one module ----

/* ADAPTER: W0 (d, k) from the base (transposed when stored [k, d]) and dW. */
static int adapter_inputs(intr *a, double *W0, double *dW, lsc_error *err)
{
    const lsc_adapter_module *m = a->m;
    int d = a->d, k = a->k, r = m->r, rc = LSC_OK;
    float *Wf = ana_base_mat_read(&a->bm, err);
    if (!Wf)
        return err->code ? err->code : LSC_ENOMEM;
    for (size_t i = 0; i < (size_t)d; i++)
        for (size_t j = 0; j < (size_t)k; j++)
            W0[i * (size_t)k + j] = a->bm.transposed ? Wf[j * (size_t)d + i] : Wf[i * (size_t)k + j];
    if (m->kind == LSC_ADAPTER_FULL) {
        double added;
        ana_full_delta(&a->bm, m, Wf, dW, &added);
    } else if (m->kind == LSC_ADAPTER_DORA) {
        rc = lsc_dora_delta(d, k, r, Wf, a->bm.transposed, m->A, m->B, m->scaling, m->magnitude, dW, NULL, err);
    } else {
        double *Bd = malloc((size_t)d * (size_t)r * sizeof *Bd), *Ad = malloc((size_t)r * (size_t)k * sizeof *Ad);
        if (!Bd || !Ad) {
            lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "out of memory for module %s", a->name);
            rc = LSC_ENOMEM;
        } else {
            ana_to_double((size_t)d * (size_t)r, m->B, Bd);
            ana_to_double((size_t)r * (size_t)k, m->A, Ad);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, k, r, m->scaling, Bd, r, Ad, k, 0.0, dW, k);
        }
        free(Bd);
        free(Ad);
    }
    free(Wf);
    return rc;
}

/* The tasks of ana_run_tasks: one per module. */
typedef struct intr_job {
    const intr_cfg *c;
    const ana_delta_files *files;   /* --finetuned */
    intr *items;
} intr_job;

static void intr_task(void *ctx, int i)
{
    intr_job *j = ctx;
    intr *a = &j->items[i];
    size_t dk = (size_t)a->d * (size_t)a->k;
    double *W0 = malloc(dk * sizeof *W0), *dW = malloc(dk * sizeof *dW);
    intr_ws s;
    memset(&s, 0, sizeof s);
    lsc_error err = {0};
    int rc = W0 && dW && ws_alloc(j->c, a, &s) ? LSC_OK : LSC_ENOMEM;
    if (rc != LSC_OK)
        a->rc = ana_msg_error(&a->msgs, "out of memory for module %s", a->name);
    else if (a->m && (rc = adapter_inputs(a, W0, dW, &err)) != LSC_OK)
        a->rc = ana_msg_error(&a->msgs, "module %s: %s", a->name, err.msg);
    else if (!a->m && ana_delta_read("intruders", j->files, a->tb, a->tf, W0, dW) != CLI_OK)
        a->rc = CLI_FAIL;   /* printed */
    else if ((rc = observe(j->c, a, W0, dW, &s, &err)) != LSC_OK ||
             (rc = null_all(j->c, a, W0, dW, &s, &err)) != LSC_OK)
        a->rc = ana_msg_error(&a->msgs, "module %s: %s", a->name, err.msg);
    if (a->m && a->bm.f)
        ana_base_release(a->bm.f, a->bm.t);
    ws_free(&s);
    free(W0);
    free(dW);
}

// ---- output ----

static int write_vec(lsc_h5 *h, const char *g, const char *name, int ndim, size_t n0, size_t n1,
                     const double *x, lsc_error *err)
{
    char ds[1400];
    size_t dims[2] = {n0, n1};
    snprintf(ds, sizeof ds, "%s/%s", g, name);
    return lsc_h5_write_f64(h, ds, ndim, dims, x, err);
}

static int write_module(lsc_h5 *h, const intr_cfg *c, const intr *a, lsc_error *err)
{
    char g[1200], ds[1400];
    snprintf(g, sizeof g, "/modules/%s", a->name);
    size_t km = (size_t)a->kmax, nk = (size_t)c->nk, ne = (size_t)c->neps;
    int rc;
    snprintf(ds, sizeof ds, "%s/intruder_index", g);
    if ((rc = write_vec(h, g, "sigma", 1, km, 0, a->sigma, err)) != LSC_OK ||
        (rc = write_vec(h, g, "base_sigma", 1, km, 0, a->base_sigma, err)) != LSC_OK ||
        (rc = write_vec(h, g, "cos_left", 1, km, 0, a->cos_left, err)) != LSC_OK ||
        (rc = write_vec(h, g, "cos_right", 1, km, 0, a->cos_right, err)) != LSC_OK ||
        (rc = write_vec(h, g, "count_left", 2, nk, ne, a->count_left, err)) != LSC_OK ||
        (rc = write_vec(h, g, "count_right", 2, nk, ne, a->count_right, err)) != LSC_OK ||
        (rc = write_vec(h, g, "null_count", 1, (size_t)c->ndraws, 0, a->null_count, err)) != LSC_OK ||
        (rc = write_vec(h, g, "null_count_mean", 2, nk, ne, a->null_mean, err)) != LSC_OK ||
        (rc = write_vec(h, g, "null_count_q95", 2, nk, ne, a->null_q95, err)) != LSC_OK ||
        (rc = lsc_h5_write_i32(h, ds, (size_t)a->n_intr, a->intr_index, err)) != LSC_OK ||
        (rc = write_vec(h, g, "intruder_sigma", 1, (size_t)a->n_intr, 0, a->intr_sigma, err)) != LSC_OK)
        return rc;
    if (a->m && (rc = ana_write_module_attrs(h, g, a->m, err)) != LSC_OK)
        return rc;
    if ((!a->m && ((rc = lsc_h5_attr_int(h, g, "in_features", a->k, err)) != LSC_OK ||
                   (rc = lsc_h5_attr_int(h, g, "out_features", a->d, err)) != LSC_OK)) ||
        (rc = lsc_h5_attr_int(h, g, "n_sv", a->mn, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "k_max", a->kmax, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "delta_fro", a->delta_fro, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "base_fro", a->base_fro, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "n_intruders", a->n_intr, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "n_intruders_right", a->n_intr_right, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "null_mean", a->sn.mean, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "null_sd", a->sn.sd, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "null_q95", a->sn.q95, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "p_value", a->sn.p, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "null_draws", c->ndraws, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "null_seed", (long long)a->nseed, err)) != LSC_OK)
        return rc;
    return LSC_OK;
}

/* Root datasets and the totals over modules (draw-wise sums for the null). */
static int write_root(lsc_h5 *h, const intr_cfg *c, const intr *items, int n, lsc_error *err)
{
    size_t nd = (size_t)c->ndraws;
    double *tot = calloc(nd, sizeof *tot), *sc = malloc(nd * sizeof *sc);
    double obs = 0.0;
    int rc;
    if (!tot || !sc) {
        free(tot); free(sc);
        LSC_FAIL(err, LSC_ENOMEM, "out of memory for the totals");
    }
    for (int i = 0; i < n; i++) {
        obs += items[i].n_intr;
        for (size_t t = 0; t < nd; t++)
            tot[t] += items[i].null_count[t];
    }
    ana_null s;
    ana_null_summary(nd, tot, obs, sc, &s);
    size_t dims[1] = {(size_t)c->neps};
    if ((rc = lsc_h5_write_i32(h, "/k_values", (size_t)c->nk, c->ks, err)) == LSC_OK &&
        (rc = lsc_h5_write_f64(h, "/eps_values", 1, dims, c->eps, err)) == LSC_OK &&
        (rc = lsc_h5_attr_int(h, "/", "k_default", c->kdef, err)) == LSC_OK &&
        (rc = lsc_h5_attr_double(h, "/", "eps_default", c->edef, err)) == LSC_OK &&
        (rc = lsc_h5_attr_double(h, "/", "intruders_total", obs, err)) == LSC_OK &&
        (rc = lsc_h5_attr_double(h, "/", "null_total_mean", s.mean, err)) == LSC_OK &&
        (rc = lsc_h5_attr_double(h, "/", "null_total_q95", s.q95, err)) == LSC_OK)
        rc = lsc_h5_attr_double(h, "/", "null_total_p", s.p, err);
    free(tot);
    free(sc);
    return rc;
}

/* --plots: count against ε, one line per k, for the drawn module (and the
 * null's mean dashed). */
static int draw(const char *cmd, const ana_opts *o, const intr_cfg *c, const intr *a, const char *input)
{
    lsc_atomic tmp;
    FILE *fp = ana_data_open(cmd, o->plots, "intruders.dat", &tmp);
    if (!fp)
        return CLI_FAIL;
    for (int e = 0; e < c->neps; e++) {
        fprintf(fp, "%.6g", c->eps[e]);
        for (int q = 0; q < c->nk; q++)
            fprintf(fp, " %.17g %.17g", a->count_left[q * c->neps + e], a->null_mean[q * c->neps + e]);
        fputc('\n', fp);
    }
    if (ana_data_close(cmd, &tmp) != CLI_OK)
        return CLI_FAIL;
    char b[300], mod[300], ks[200] = "", vars[4096];
    ana_basename(input, b, sizeof b);
    ana_title_safe(a->name, mod, sizeof mod);
    for (int q = 0; q < c->nk; q++)
        snprintf(ks + strlen(ks), sizeof ks - strlen(ks), "%s%d", q ? " " : "",
                 c->ks[q] < a->kmax ? c->ks[q] : a->kmax);
    snprintf(vars, sizeof vars, "datafile='%s/intruders.dat'; outbase='%s/intruders'; nk=%d; ks='%s'; "
                                "plottitle='Intruder dimensions of %s (left singular vectors of W0 + dW)'; "
                                "footnote='%s, %d null draws'",
             o->plots, o->plots, c->nk, ks, mod, b, c->ndraws);
    return ana_draw_figure(cmd, o->plots, "intruders.gp", "intruders", vars);
}

static void print_results(const intr_cfg *c, const intr *items, int n)
{
    printf("%-40s %5s %5s %9s %9s %5s %5s %8s %8s %7s\n", "module", "d", "k", "|W0|_F", "|dW|_F", "intr",
           "right", "null_mn", "null_q95", "p");
    for (int i = 0; i < n; i++) {
        const intr *a = &items[i];
        printf("%-40s %5d %5d %9.4g %9.4g %5d %5d %8.3g %8.3g %7.3g", cli_safe(a->name), a->d, a->k, a->base_fro,
               a->delta_fro, a->n_intr, a->n_intr_right, a->sn.mean, a->sn.q95, a->sn.p);
        for (int q = 0; q < a->n_intr; q++)
            printf("%s%d:%.4g", q ? " " : "  intruders i:sigma ", a->intr_index[q], a->intr_sigma[q]);
        putchar('\n');
    }
    printf("intruders at k=%d, eps=%g: left singular vectors of W0 + dW among the top k with max |cos| < eps "
           "against every singular vector of W0; null: W0 + R dW Q^T, Haar R, Q, %d draws\n", c->kdef, c->edef,
           c->ndraws);
}

// ---- the run ----

typedef struct intr_run {
    const intr_cfg *c;
    ana_opts        o;
    lsc_adapter     ad;
    ana_base        base;
    ana_delta_files files;
    int             have_files;
    intr           *items;
    int             n, cap, hl;
} intr_run;

/* A module too large for the dense null is skipped with one warning line (*skipped = 1). */
static int too_large(const char *name, int d, int k)
{
    if (d <= MAX_DIM && k <= MAX_DIM)
        return 0;
    cli_warn("intruders", "module %s: [%d, %d] exceeds %d: the null's Haar rotation would need %d^2 doubles; "
             "not analysed", name, d, k, MAX_DIM, d > k ? d : k);
    return 1;
}

static intr *item_add(intr_run *R, const char *name, int d, int k)
{
    if (R->n == R->cap) {
        int cap = R->cap ? 2 * R->cap : 16;
        intr *p = realloc(R->items, (size_t)cap * sizeof *p);
        if (!p)
            return NULL;
        memset(p + R->cap, 0, (size_t)(cap - R->cap) * sizeof *p);
        R->items = p;
        R->cap = cap;
    }
    intr *a = &R->items[R->n++];
    a->name = name;
    a->d = d;
    a->k = k;
    a->mn = d < k ? d : k;
    a->kmax = 0;
    for (int q = 0; q < R->c->nk; q++)
        a->kmax = R->c->ks[q] > a->kmax ? R->c->ks[q] : a->kmax;
    a->kmax = R->c->kdef > a->kmax ? R->c->kdef : a->kmax;
    a->kmax = a->kmax < a->mn ? a->kmax : a->mn;
    return a;
}

/* ADAPTER: every module against its base matrix; a missing or misshapen
 * one is bad input (one line). */
static int match_adapter(const char *cmd, intr_run *R)
{
    for (int i = 0; i < R->ad.n_modules + R->ad.n_full; i++) {
        const lsc_adapter_module *m = i < R->ad.n_modules ? &R->ad.modules[i] : &R->ad.full[i - R->ad.n_modules];
        char why[4500], line[5000];
        ana_base_mat bm;
        int found = ana_base_match(&R->base, &R->ad, m, &bm, why, sizeof why);
        if (found != 1) {
            ana_base_why(found, m, why, line, sizeof line);
            return cli_error(cmd, CLI_FAIL, "%s: %s", R->c->base_path, line);
        }
        int d = m->kind == LSC_ADAPTER_FULL ? bm.rows : m->out_features;
        if (too_large(m->name, d, m->in_features))
            continue;
        intr *a = item_add(R, m->name, d, m->in_features);
        if (!a)
            return cli_error(cmd, CLI_FAIL, "out of memory");
        a->m = m;
        a->bm = bm;
    }
    return CLI_OK;
}

static int collect_pair(void *ctx, const char *module, const lsc_st_tensor *tb, const lsc_st_tensor *tf)
{
    intr_run *R = ctx;
    if (too_large(module, (int)tb->shape[0], (int)tb->shape[1]))
        return CLI_OK;
    char *name = strdup(module);
    intr *a = name ? item_add(R, name, (int)tb->shape[0], (int)tb->shape[1]) : NULL;
    if (!a) {
        free(name);
        return cli_error("intruders", CLI_FAIL, "out of memory");
    }
    a->tb = tb;
    a->tf = tf;
    return CLI_OK;
}

static int alloc_items(intr_run *R)
{
    size_t nc = (size_t)(R->c->nk * R->c->neps), nd = (size_t)R->c->ndraws;
    for (int i = 0; i < R->n; i++) {
        intr *a = &R->items[i];
        size_t km = (size_t)a->kmax;
        a->sigma = calloc(km, sizeof(double));
        a->base_sigma = calloc(km, sizeof(double));
        a->cos_left = calloc(km, sizeof(double));
        a->cos_right = calloc(km, sizeof(double));
        a->intr_sigma = calloc(km, sizeof(double));
        a->intr_index = calloc(km, sizeof(int));
        a->count_left = calloc(nc, sizeof(double));
        a->count_right = calloc(nc, sizeof(double));
        a->null_mean = calloc(nc, sizeof(double));
        a->null_q95 = calloc(nc, sizeof(double));
        a->null_count = calloc(nd, sizeof(double));
        if (!a->sigma || !a->base_sigma || !a->cos_left || !a->cos_right || !a->intr_sigma || !a->intr_index ||
            !a->count_left || !a->count_right || !a->null_mean || !a->null_q95 || !a->null_count)
            return cli_error("intruders", CLI_FAIL, "out of memory");
    }
    return CLI_OK;
}

static void run_free(intr_run *R)
{
    for (int i = 0; i < R->n; i++) {
        intr *a = &R->items[i];
        free(a->sigma); free(a->base_sigma); free(a->cos_left); free(a->cos_right); free(a->intr_sigma);
        free(a->intr_index); free(a->count_left); free(a->count_right); free(a->null_mean);
        free(a->null_q95); free(a->null_count);
        if (!a->m)
            free((char *)a->name);
    }
    free(R->items);
    if (R->have_files)
        ana_delta_close(&R->files);
    ana_base_close(&R->base);
    lsc_adapter_free(&R->ad);
}

static int item_is(const void *items, int i, const char *name)
{
    return strcmp(((const intr *)items)[i].name, name) == 0;
}

static const char *item_name(const void *items, int i) { return ((const intr *)items)[i].name; }

/* The modules' results into the file, then the provenance and commit. */
static int write_all(const char *cmd, intr_run *R, double t0)
{
    const intr_cfg *c = R->c;
    lsc_h5 *h = NULL;
    lsc_error err = {0};
    int rc = ana_output_create(cmd, &R->o, &h);
    for (int i = 0; i < R->n && rc == CLI_OK; i++)
        if (write_module(h, c, &R->items[i], &err) != LSC_OK)
            rc = cli_lib_error(cmd, &err);
    if (rc == CLI_OK && write_root(h, c, R->items, R->n, &err) != LSC_OK)
        rc = cli_lib_error(cmd, &err);
    if (rc == CLI_OK) {
        char kl[256] = "", el[512] = "";
        for (int q = 0; q < c->nk; q++)
            snprintf(kl + strlen(kl), sizeof kl - strlen(kl), "%s%d", q ? "," : "", c->ks[q]);
        for (int e = 0; e < c->neps; e++)
            snprintf(el + strlen(el), sizeof el - strlen(el), "%s%g", e ? "," : "", c->eps[e]);
        lsc_h5_input in[2] = {{"base", c->base_path}, {c->ft_path ? "finetuned" : "adapter",
                                                       c->ft_path ? c->ft_path : c->adapter}};
        lsc_h5_param ps[] = {
            ANA_COMMON_PARAMS(R->o),
            {"k", LSC_H5_STR, kl, 0, 0},
            {"eps", LSC_H5_STR, el, 0, 0},
            {"targets", LSC_H5_STR, c->ft_path ? c->targets : "", 0, 0},
            {"n_modules", LSC_H5_INT, NULL, R->n, 0},
            {"null_draws", LSC_H5_INT, NULL, c->ndraws, 0},
            {"null_seed", LSC_H5_INT, NULL, (long long)c->null_seed, 0},
            {"null_model", LSC_H5_STR, "W0 + R dW Q^T with Haar-random orthogonal R (d, d), Q (k, k): dW's "
                                       "singular values kept, its directions uniformly random", 0, 0},
            {"fan_in_fan_out", LSC_H5_INT, NULL, c->ft_path ? 0 : R->ad.fan_in_fan_out, 0},
        };
        rc = ana_output_commit(cmd, &R->o, &h, t0, 2, in, NULL, (int)(sizeof ps / sizeof ps[0]), ps);
    }
    lsc_h5_abort(h);
    return rc;
}

static int run_intruders(const char *cmd, intr_cfg *c, const cli_opt *opts, double t0)
{
    intr_run R;
    memset(&R, 0, sizeof R);
    R.c = c;
    int rc;
    if (c->ft_path) {
        if ((rc = ana_common_opts(cmd, opts, &R.o)) != CLI_OK ||
            (rc = ana_delta_open(cmd, &R.files, c->base_path, c->ft_path)) != CLI_OK)
            goto done;
        R.have_files = 1;
        int nm = 0;
        if ((rc = ana_delta_each(cmd, &R.files, c->targets, collect_pair, &R, &nm)) != CLI_OK)
            goto done;
    } else if ((rc = ana_setup_kinds(cmd, opts, &R.o, c->adapter, &R.ad, NULL, NULL, 1)) != CLI_OK ||
               (rc = ana_base_open(cmd, c->base_path, &R.base)) != CLI_OK ||
               (rc = match_adapter(cmd, &R)) != CLI_OK) {
        goto done;
    }
    if (R.n == 0) {
        rc = cli_error(cmd, CLI_FAIL, "%s: no module small enough to analyse", c->ft_path ? c->ft_path : c->adapter);
        goto done;
    }
    if (!c->null_seed_given)
        c->null_seed = R.o.seed;   /* --null-seed, else --seed */
    if ((rc = alloc_items(&R)) != CLI_OK ||
        (rc = ana_pick_module(cmd, &R.o, R.n, "analysed", item_is, item_name, R.items, &R.hl)) != CLI_OK)
        goto done;
    printf("%s on %s: %d modules\n", c->ft_path ? c->ft_path : c->adapter, c->base_path, R.n);
    intr_job job = {c, &R.files, R.items};
    ana_run_tasks(&R.o, R.n, intr_task, &job);
    for (int i = 0; i < R.n; i++) {
        ana_msgs_flush(cmd, &R.items[i].msgs);
        if (R.items[i].rc != CLI_OK && (rc = R.items[i].rc) != CLI_OK)
            goto done;
    }
    print_results(c, R.items, R.n);
    if ((rc = write_all(cmd, &R, t0)) != CLI_OK)
        goto done;
    if (R.o.plots && (rc = draw(cmd, &R.o, c, &R.items[R.hl], c->ft_path ? c->ft_path : c->adapter)) != CLI_OK)
        goto done;
    rc = ana_finish(cmd, &R.o, R.n, 0, t0);
done:
    run_free(&R);
    return rc;
}

// ---- options ----

/* A comma-separated list of numbers in [lo, hi] into x (at most max);
 * integers when integer. CLI_OK or CLI_USAGE (printed). */
static int parse_list(const char *cmd, const char *opt, const char *s, int integer, double lo, double hi,
                      double *x, int max, int *n)
{
    *n = 0;
    const char *p = s;
    while (*p) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || (*end && *end != ',') || !(v >= lo && v <= hi) || (integer && v != floor(v)) ||
            *n == max)
            return cli_error(cmd, CLI_USAGE, "--%s: '%s' is not a list of at most %d %s in [%g, %g]", opt, s,
                             max, integer ? "integers" : "numbers", lo, hi);
        x[(*n)++] = v;
        p = *end ? end + 1 : end;
    }
    if (*n == 0)
        return cli_error(cmd, CLI_USAGE, "--%s: empty list", opt);
    return CLI_OK;
}

static int parse_cfg(const char *cmd, const cli_opt *opts, intr_cfg *c)
{
    double kx[MAX_GRID], at[2];
    int n = 0, rc;
    if ((rc = parse_list(cmd, "k", cli_get(opts, "k") ? cli_get(opts, "k") : "10,20,50", 1, 1, 1e6, kx,
                         MAX_GRID, &c->nk)) != CLI_OK ||
        (rc = parse_list(cmd, "eps", cli_get(opts, "eps") ? cli_get(opts, "eps") : "0.1,0.2,0.3,0.4,0.5,0.6,0.7,"
                                                                                   "0.8,0.9",
                         0, 1e-9, 1.0, c->eps, MAX_GRID, &c->neps)) != CLI_OK ||
        (rc = parse_list(cmd, "at", cli_get(opts, "at") ? cli_get(opts, "at") : "10,0.5", 0, 1e-9, 1e6, at, 2,
                         &n)) != CLI_OK)
        return rc;
    for (int q = 0; q < c->nk; q++)
        c->ks[q] = (int)kx[q];
    if (n != 2 || at[0] != floor(at[0]) || at[0] < 1 || at[1] > 1.0)
        return cli_error(cmd, CLI_USAGE, "--at: want K,EPS (an integer K >= 1, EPS in (0, 1]), got '%s'",
                         cli_get(opts, "at"));
    c->kdef = (int)at[0];
    c->edef = at[1];
    return ana_null_opts(cmd, opts, 50, &c->ndraws, &c->null_seed, &c->null_seed_given);
}

int cmd_intruders(int argc, char **argv)
{
    const char *cmd = "intruders";
    double t0 = cli_now();
    cli_opt opts[] = {ANA_COMMON_OPTS, {"base", 1, NULL}, {"finetuned", 1, NULL}, {"targets", 1, NULL},
                      {"k", 1, NULL}, {"eps", 1, NULL}, {"at", 1, NULL}, ANA_NULL_OPTS, {NULL, 0, NULL}};
    intr_cfg c;
    memset(&c, 0, sizeof c);
    const char *pos[1] = {NULL};
    int npos = 0, help = 0;
    int rc = ana_parse_args(cmd, USAGE, argc, argv, opts, pos, 1, &npos, &help);
    if (rc != CLI_OK || help)
        return rc;
    c.adapter = npos ? pos[0] : NULL;
    c.base_path = cli_get(opts, "base");
    c.ft_path = cli_get(opts, "finetuned");
    c.targets = cli_get(opts, "targets") ? cli_get(opts, "targets") : "q,k,v,o,fc_in,fc_out";
    if (!c.base_path)
        return cli_error(cmd, CLI_USAGE, "missing --base MODEL (.safetensors file or Hugging Face folder)");
    if (!c.adapter == !c.ft_path)
        return cli_error(cmd, CLI_USAGE, "give either ADAPTER or --finetuned WFT (one of them)");
    if (cli_get(opts, "targets") && !c.ft_path)
        return cli_error(cmd, CLI_USAGE, "--targets is for --finetuned (an adapter's modules are its own)");
    if (c.ft_path && ana_delta_targets_check(cmd, c.targets) != CLI_OK)
        return CLI_USAGE;
    if ((rc = parse_cfg(cmd, opts, &c)) != CLI_OK)
        return rc;
    return run_intruders(cmd, &c, opts, t0);
}
