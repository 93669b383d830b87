/*
 * quanterr.c — `lorascope quanterr BASE ADAPTER -o OUT.h5` (BASE:
 * FILE.safetensors or a Hugging Face folder, ana_base_open):
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
 * DoRA modules (issue 14): dW is the effective update on the base the
 * adapter was trained on, the quantised Wq = deq(Q(W)):
 * dW = m ⊙ (Wq + s·B·A) / ‖Wq + s·B·A‖_row − Wq (lib/dora.c), formed densely;
 * p = min(r, d, k) of its top singular directions (a dense SVD; it has full
 * rank in general) enter φ and ‖UᵀEV‖_F, delta_fro and cos/error_coef use
 * the whole of it; attributes update = "DoRA effective: ...",
 * effective_update = 1, dora_base = "deq(Q(W)): the NF4 base the adapter was
 * trained on". A DoRA module (in either adapter) is not compared (one
 * warning). Embedding / conv LoRA modules are skipped with a warning (NF4
 * quantises Linear weights only).
 * This file is the command (matching modules to base tensors, the output
 * file, the table, plots); the numerics of one module are in
 * quanterr_compute.c. Not a trainer and not a model loader: only the 2-D
 * base weights of adapted modules are read, looked up as amplify does
 * (ana_base_find: "<module>.weight", then without a leading
 * "transformer." / "model.", or with one added), one at a time, and each
 * tensor's mapped pages are given back after its module.
 * Self-description and tables (h5describe.c): every dataset has the string
 * attributes units and definition, every module group layer (-1 if none) and
 * proj, scale (= scaling); each *_singular_values a scale sv_index_<prefix>
 * (1..n); --json / --csv FILE print the file's numbers as a tidy table
 * (tidy.h).
 */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base_match.h"
#include "commands.h"
#include "dora_update.h"
#include "quanterr.h"
#include "tidy.h"

/* The attribute dora_base of a DoRA module. */
#define DORA_BASE "deq(Q(W)): the NF4 base the adapter was trained on"

static const char *USAGE =
    "usage: lorascope quanterr BASE ADAPTER -o OUT.h5 [--compare FP32_ADAPTER]\n"
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
    "fraction of ||E||^2 that deq(W) + dW removes. DoRA modules: dW is their\n"
    "effective update on the quantised base Wq = deq(Q(W)) they were trained on,\n"
    "m*(Wq + sBA)/|Wq + sBA|_row - Wq (its top-r directions); --compare skips\n"
    "them. Embedding and conv LoRA modules are skipped (NF4 quantises Linear\n"
    "layers only).\n"
    "\n"
    "  BASE                 the fp32 base model: FILE.safetensors or a Hugging Face\n"
    "                       folder (config.json + model.safetensors, or sharded\n"
    "                       with model.safetensors.index.json); not an NF4 file.\n"
    "                       The weight of module M is 'M.weight', tried with and\n"
    "                       without a leading 'transformer.' / 'model.'\n"
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
    if (m->kind == LSC_ADAPTER_DORA &&   /* the effective update on Wq = deq(Q(W)) */
        ((rc = ana_dora_write_attrs(h, g, m, 1, err)) != LSC_OK ||
         (rc = lsc_h5_attr_str(h, g, "dora_base", DORA_BASE, err)) != LSC_OK))
        return rc;
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
    snprintf(title, sizeof title, "Quantisation error E = W - deq(Q(W)) vs the adapter (NF4, block %d%s)", bs,
             dq ? ", double quant" : "");
    snprintf(vars, sizeof vars,
             "datafile='%s/quanterr.dat'; specfile='%s/quanterr_spectrum.dat'; outbase='%s/quanterr'; "
             "plottitle='%s'; nmod=%d; hl=%d; hasc=%d; hlname='%s'; footnote='adapter: %s'",
             dir, dir, dir, title, n, hl, has_cmp, mod, b);
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
    ana_base     base;
    qe          *qs;         /* (ad.n_modules), the first na used */
    int          na, n_skip, n_cmp, hl;
} quanterr_run;

/* Whether module i is the one --module names. */
static int qe_is(const void *items, int i, const char *name)
{
    return strcmp(((const qe *)items)[i].m->name, name) == 0;
}

static const char *qe_name(const void *items, int i) { return ((const qe *)items)[i].m->name; }

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
    else if (m->kind == LSC_ADAPTER_DORA || c->kind == LSC_ADAPTER_DORA)
        cli_warn(cmd, "%s: module %s is DoRA in %s: --compare takes LoRA modules only; not compared",
                 R->q->cmp_path, m->name, m->kind == LSC_ADAPTER_DORA ? R->q->path : R->q->cmp_path);
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
        char why[4500], line[4600];
        ana_base_mat bm;
        if (m->kind != LSC_ADAPTER_LORA && m->kind != LSC_ADAPTER_DORA) {
            cli_warn(cmd, "%s: module %s is %s: NF4 quantises Linear weights only; skipped", q->path, m->name,
                     lsc_adapter_kind_name(m->kind));
            R->n_skip++;
            continue;
        }
        int found = ana_base_match(&R->base, ad, m, &bm, why, sizeof why);
        const lsc_st_file *f = bm.f;
        const lsc_st_tensor *t = bm.t;
        if (found == 0) {
            cli_warn(cmd, "%s: no base weight for module %s (tried %s); skipped", q->base_path, m->name, why);
            R->n_skip++;
            continue;
        }
        if (lsc_nf4_st_role(f, t->name) != LSC_NF4_ROLE_PLAIN)
            return cli_error(cmd, CLI_FAIL, "%s: %s is already NF4-quantised; quanterr needs the fp32 base W "
                                            "(E = W - deq(Q(W))), e.g. the file given to `lorascope quantize`",
                             q->base_path, t->name);
        if (found < 0) {
            ana_base_why(found, m, why, line, sizeof line);
            cli_warn(cmd, "%s: %s; skipped", q->base_path, line);
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
        a->f = f;
        a->t = t;
        a->transposed = bm.transposed;
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
        rc = quanterr_compute_(cmd, q->base_path, a->f, (int)q->bs, q->dq, R->o.seed, q->store, a);
        ana_base_release(a->f, a->t);
        if (rc != CLI_OK)
            return rc;
        if (write_module(h, a, (int)q->bs, q->dq, &err) != LSC_OK)
            return cli_lib_error(cmd, &err);
        if (q->store) {   /* written: give the memory back */
            free(a->E);
            a->E = NULL;
        }
        printf("%-28s %3d %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f %9.5f %9.5f%s\n",
               cli_safe(ana_short_name(a->m->name)), a->m->r, a->error_rel, a->phi_r, a->c ? a->phi_rc : NAN,
               a->c ? a->phi_rd : NAN, a->phi_r_rand, a->phi_l, a->c ? a->phi_lc : NAN, a->c ? a->phi_ld : NAN,
               a->phi_l_rand, a->cos_delta, a->c ? a->cos_diff : NAN,
               a->m->kind == LSC_ADAPTER_DORA ? "  [DoRA effective update on deq(Q(W))]" : "");
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
    lsc_h5_input in[3] = {{"base", q->base_path}, {"adapter", R->ad.path}, {"compare", q->cmp_path}};
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
    int rc = ana_setup_kinds(cmd, opts, &R.o, q->path, &R.ad, q->cmp_path, &R.cad, 1);
    if (rc != CLI_OK)
        return rc;
    if ((rc = ana_base_open(cmd, q->base_path, &R.base)) != CLI_OK)
        goto done;
    R.qs = calloc((size_t)R.ad.n_modules, sizeof *R.qs);
    if (!R.qs) {
        rc = cli_error(cmd, CLI_FAIL, "out of memory");
        goto done;
    }
    if ((rc = match_modules(cmd, &R)) != CLI_OK ||
        (rc = ana_pick_module(cmd, &R.o, R.na, "analysed", qe_is, qe_name, R.qs, &R.hl)) != CLI_OK ||
        (rc = ana_output_create(cmd, &R.o, &h)) != CLI_OK ||
        (rc = analyse_modules(cmd, &R, h)) != CLI_OK ||
        (rc = summarise_and_commit(cmd, &R, &h, t0)) != CLI_OK)
        goto done;
    if (R.o.plots && (rc = draw(cmd, R.o.plots, q->path, R.qs, R.na, R.hl, q->cmp_path != NULL, (int)q->bs,
                                q->dq)) != CLI_OK)
        goto done;
    rc = ana_finish(cmd, &R.o, R.na, R.n_skip, t0);
done:
    lsc_h5_abort(h);
    if (R.qs)
        for (int i = 0; i < R.ad.n_modules; i++)
            free_results(&R.qs[i]);
    free(R.qs);
    ana_base_close(&R.base);
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
        return cli_error(cmd, CLI_USAGE, "expected BASE (.safetensors file or Hugging Face folder) and ADAPTER, got %d argument%s", npos,
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
