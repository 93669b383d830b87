/*
 * diagnose.c — `lorascope diagnose ADAPTER [--base B] -o OUT.h5`: spectral
 * diagnostics of every LoRA module's update ΔW = s·B·A and, with --base, of
 * the base weight W and of W + ΔW (issue 20): the spike share σ₁²/Σσ² (the
 * share of ‖·‖²_F in the top singular direction: rank-1 spikes), the stable
 * rank Σσ²/σ₁², the entropy effective rank exp(H(σ²/Σσ²)), and, with --base,
 * the power-law exponent α of the tail of the eigenvalue density of WᵀW
 * (σ² of W) before and after adding ΔW (Clauset–Shalizi–Newman MLE, x_min by
 * the KS distance: lib/esd.c). Modules whose ΔW spike share, or whose α
 * change α(W + ΔW) − α(W), is an outlier among the adapter's modules are
 * flagged: Iglewicz–Hoaglin robust z = 0.6745·(x − median)/MAD with |z| >
 * --z (default 3.5); when MAD = 0 (over half the modules share one value)
 * the z uses 1.253314·mean|x − median| instead, and when that is 0 too
 * (all equal) nothing is flagged.
 *
 * ΔW's singular values come from the low-rank path (lsc_lowrank_svd: thin
 * QRs and an r×r core, never the d×k matrix); with --base, W and W + ΔW go
 * through a values-only dense SVD (dgesdd, float64) with one base matrix
 * per worker thread in memory at a time (read, used, its pages released).
 * DoRA modules are refused (ana_setup); full tensors (modules_to_save) are
 * named in one warning line and not analysed.
 *
 * HDF5 (format_version 1), per module /modules/<module>/: datasets
 *   delta_singular_values [r]      ΔW's, descending
 *   base_singular_values [n_sv], merged_singular_values [n_sv]   (--base:
 *                                  all min(d, k) of W and of W + ΔW)
 * attributes r, alpha, scaling, in_features, out_features, rank, scale;
 *   delta_fro, delta_spike_share, delta_stable_rank, delta_effective_rank,
 *   spike_z, spike_flag (0/1); with --base also n_sv, and for P in {base,
 *   merged}: P_fro, P_spike_share, P_stable_rank, P_effective_rank,
 *   P_alpha, P_alpha_se, P_alpha_xmin, P_alpha_ntail, P_alpha_ks, and
 *   alpha_change, alpha_change_z, alpha_change_flag.
 * Root: n_modules, n_flagged_spike, n_flagged_alpha, the settings (min_tail,
 * z_threshold) and the definitions as strings. --csv / --json: the file's
 * numbers (tidy.h). Not a plotting program (--plots: the per-layer figure of
 * delta_spike_share only).
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis_common.h"
#include "base_match.h"
#include "commands.h"
#include "tidy.h"

static const char *USAGE =
    "usage: lorascope diagnose ADAPTER -o OUT.h5 [--base MODEL] [--csv OUT.csv]\n"
    "                          [--min-tail N] [--z Z] [options]\n"
    "\n"
    "Spectral diagnostics per LoRA module: of dW = s*B*A (from the low-rank path,\n"
    "never the dense matrix) the spike share sigma_1^2 / sum sigma^2, the stable\n"
    "rank sum sigma^2 / sigma_1^2 and the effective rank exp(H) with H the entropy\n"
    "of p_i = sigma_i^2 / sum sigma^2. With --base, the same of the base weight W\n"
    "and of W + dW (values-only dense SVD, one base matrix per thread in memory)\n"
    "and the power-law exponent alpha of the tail of the eigenvalue density of\n"
    "W^T W (eigenvalues sigma^2) before and after adding dW: the continuous MLE\n"
    "alpha = 1 + n / sum ln(x_i / x_min) over x >= x_min, x_min chosen among the\n"
    "eigenvalues by the least Kolmogorov-Smirnov distance (Clauset, Shalizi and\n"
    "Newman 2009), standard error (alpha - 1) / sqrt(n). Flags the modules whose\n"
    "spike share, or alpha change, is an outlier among the adapter's modules:\n"
    "Iglewicz-Hoaglin robust z = 0.6745 (x - median) / MAD with |z| > Z (when\n"
    "MAD = 0: (x - median) / (1.253314 mean|x - median|); all equal: no flag).\n"
    "\n"
    "  --base MODEL         W: FILE.safetensors, a Hugging Face folder or a\n"
    "                       llama2.c checkpoint (modules matched as for amplify)\n"
    "  --min-tail N         least number of eigenvalues in the fitted tail\n"
    "                       (default 10; fewer positive eigenvalues: alpha NaN)\n"
    "  --z Z                robust-z threshold of the flags (default 3.5)\n"
    ANA_COMMON_HELP
    "\n"
    "examples:\n"
    "  lorascope diagnose ../shared/fixtures/peft/gptneo125m-r8-qv -o diag.h5 --csv diag.csv\n"
    "  lorascope diagnose runs/qv-r8-s1/adapter --base base.safetensors -o diag.h5\n";

#define DEF_SPIKE "spike share sigma_1^2 / sum sigma^2 (share of the squared Frobenius norm in the top " \
                  "singular direction)"
#define DEF_SRANK "stable rank sum sigma^2 / sigma_1^2"
#define DEF_ERANK "effective rank exp(H), H = -sum p_i ln p_i, p_i = sigma_i^2 / sum sigma^2"
#define DEF_ALPHA "power-law exponent of the tail of the eigenvalue density of W^T W (lambda = sigma^2): " \
                  "continuous MLE 1 + n / sum ln(lambda_i / x_min) over lambda >= x_min, x_min the "    \
                  "eigenvalue of least Kolmogorov-Smirnov distance with at least min_tail in the tail; "  \
                  "se (alpha - 1) / sqrt(n_tail) (Clauset, Shalizi, Newman 2009)"
#define DEF_Z     "Iglewicz-Hoaglin robust z = 0.6745 (x - median) / MAD over the modules; MAD = 0: "    \
                  "(x - median) / (1.253314 mean|x - median|); both 0: 0. Flag: |z| > z_threshold"

typedef struct dg_cfg {
    const char *adapter, *base_path;
    int    min_tail;
    double zt;
} dg_cfg;

/* One matrix's measures and power-law fit. */
typedef struct dg_side {
    double          *sv;    /* (n_sv) descending */
    lsc_esd_measures ms;
    lsc_powerlaw     pl;
} dg_side;

/* One module: its inputs and results. */
typedef struct dg {
    const lsc_adapter_module *m;
    ana_base_mat bm;
    int     d, k, r, mn;
    double *dsv;                 /* (r) ΔW's singular values */
    lsc_esd_measures dms;
    dg_side base, merged;        /* --base */
    double  alpha_change, spike_z, alpha_z;
    int     spike_flag, alpha_flag;
    int     rc;
    ana_msgs msgs;
} dg;

// ---- one module ----

/* ΔW's singular values through the low-rank path; NaN for non-finite factors. */
static int delta_values(dg *a, lsc_error *err)
{
    const lsc_adapter_module *m = a->m;
    size_t dz = (size_t)a->d, kz = (size_t)a->k, rz = (size_t)a->r;
    if (m->n_nonfinite > 0) {
        ana_fill_nan(rz, a->dsv);
        ana_msg_warn(&a->msgs, "module %s has %d NaN/Inf values in lora_A/lora_B: its diagnostics are NaN",
                     m->name, m->n_nonfinite);
        return LSC_OK;
    }
    size_t lw = lsc_lowrank_svd_work_size(a->d, a->k, a->r, 0);
    double *B = malloc(dz * rz * sizeof *B), *A = malloc(rz * kz * sizeof *A), *w = malloc(lw * sizeof *w);
    int rc = LSC_ENOMEM;
    if (!B || !A || !w)
        lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "out of memory");
    else {
        ana_to_double(dz * rz, m->B, B);
        ana_to_double(rz * kz, m->A, A);
        rc = lsc_lowrank_svd(a->d, a->k, a->r, m->scaling, B, A, a->dsv, NULL, NULL, w, lw, err);
    }
    free(B);
    free(A);
    free(w);
    return rc;
}

/* Singular values of M (rows, cols) into s->sv, the measures and the fit. */
static int side_values(const dg_cfg *c, int rows, int cols, const double *M, dg_side *s, double *w, size_t lw,
                       double *lam, lsc_error *err)
{
    int mn = rows < cols ? rows : cols, rc = lsc_svd(rows, cols, M, s->sv, NULL, NULL, w, lw, err);
    if (rc != LSC_OK)
        return rc;
    lsc_esd_measures_compute(mn, s->sv, &s->ms);
    for (int i = 0; i < mn; i++)
        lam[i] = s->sv[i] * s->sv[i];
    return lsc_powerlaw_fit(mn, lam, c->min_tail, lam + mn, &s->pl, err);
}

/* --base: W as stored (rows, cols) = (d, k), or (k, d) when transposed (the
 * singular values are the same), then W + ΔW in that layout. */
static int base_values(const dg_cfg *c, dg *a, lsc_error *err)
{
    const lsc_adapter_module *m = a->m;
    int tr = a->bm.transposed, rows = tr ? a->k : a->d, cols = tr ? a->d : a->k;
    size_t n = (size_t)a->d * (size_t)a->k, lw = lsc_svd_work_size(rows, cols, 0);
    float *Wf = ana_base_mat_read(&a->bm, err);
    double *M = malloc(n * sizeof *M), *w = malloc(lw * sizeof *w);
    double *lam = malloc(2 * (size_t)a->mn * sizeof *lam);
    double *B = malloc((size_t)a->d * (size_t)a->r * sizeof *B), *A = malloc((size_t)a->r * (size_t)a->k * sizeof *A);
    int rc = LSC_ENOMEM;
    if (!Wf)
        rc = err->code;
    else if (!M || !w || !lam || !B || !A)
        lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "out of memory");
    else {
        ana_to_double(n, Wf, M);
        free(Wf);
        Wf = NULL;
        ana_base_release(a->bm.f, a->bm.t);
        rc = side_values(c, rows, cols, M, &a->base, w, lw, lam, err);
        if (rc == LSC_OK && m->n_nonfinite > 0) {
            ana_fill_nan((size_t)a->mn, a->merged.sv);
            lsc_esd_measures_compute(a->mn, a->merged.sv, &a->merged.ms);
            a->merged.pl = (lsc_powerlaw){NAN, NAN, NAN, NAN, 0, 0};
        } else if (rc == LSC_OK) {
            ana_to_double((size_t)a->d * (size_t)a->r, m->B, B);
            ana_to_double((size_t)a->r * (size_t)a->k, m->A, A);
            if (!tr)   /* M (d, k) += s·B·A */
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, a->d, a->k, a->r, m->scaling, B, a->r, A,
                            a->k, 1.0, M, a->k);
            else       /* M (k, d) += s·Aᵀ·Bᵀ */
                cblas_dgemm(CblasRowMajor, CblasTrans, CblasTrans, a->k, a->d, a->r, m->scaling, A, a->k, B, a->r,
                            1.0, M, a->d);
            rc = side_values(c, rows, cols, M, &a->merged, w, lw, lam, err);
        }
    }
    free(Wf);
    free(M);
    free(w);
    free(lam);
    free(B);
    free(A);
    return rc;
}

typedef struct dg_job {
    const dg_cfg *c;
    dg           *items;
} dg_job;

static void dg_task(void *ctx, int i)
{
    dg_job *j = ctx;
    dg *a = &j->items[i];
    lsc_error err = {0};
    int rc = delta_values(a, &err);
    if (rc == LSC_OK) {
        lsc_esd_measures_compute(a->r, a->dsv, &a->dms);
        if (j->c->base_path)
            rc = base_values(j->c, a, &err);
    }
    if (rc != LSC_OK)
        a->rc = ana_msg_error(&a->msgs, "module %s: %s", a->m->name, err.msg);
    else if (a->dms.fro2 == 0.0)
        ana_msg_warn(&a->msgs, "module %s has dW = 0: its spike share, stable and effective rank are NaN",
                     a->m->name);
}

/* Robust z over the modules of one quantity (get(a)), then the flags. */
static int flag_all(dg *items, int n, double zt, int alpha, int *nflag)
{
    double *x = calloc((size_t)n + 1, sizeof *x), *z = calloc((size_t)n + 1, sizeof *z);
    double *w = calloc((size_t)n + 1, sizeof *w);
    if (!x || !z || !w) {
        free(x); free(z); free(w);
        return CLI_FAIL;
    }
    for (int i = 0; i < n; i++)
        x[i] = alpha ? items[i].alpha_change : items[i].dms.spike_share;
    lsc_robust_z(n, x, z, w);
    *nflag = 0;
    for (int i = 0; i < n; i++) {
        int f = fabs(z[i]) > zt;
        *nflag += f;
        if (alpha) {
            items[i].alpha_z = z[i];
            items[i].alpha_flag = f;
        } else {
            items[i].spike_z = z[i];
            items[i].spike_flag = f;
        }
    }
    free(x); free(z); free(w);
    return CLI_OK;
}

// ---- output ----

static int write_sv(lsc_h5 *h, const char *g, const char *name, int n, const double *x, lsc_error *err)
{
    char ds[1400];
    size_t dims[1] = {(size_t)n};
    snprintf(ds, sizeof ds, "%s/%s", g, name);
    return lsc_h5_write_f64(h, ds, 1, dims, x, err);
}

static int write_side(lsc_h5 *h, const char *g, const char *p, int n, const dg_side *s, lsc_error *err)
{
    char nm[64];
    struct { const char *suffix; double v; } at[] = {
        {"fro", sqrt(s->ms.fro2)}, {"spike_share", s->ms.spike_share}, {"stable_rank", s->ms.stable_rank},
        {"effective_rank", s->ms.effective_rank}, {"alpha", s->pl.alpha}, {"alpha_se", s->pl.se},
        {"alpha_xmin", s->pl.x_min}, {"alpha_ks", s->pl.ks},
    };
    int rc = LSC_OK;
    for (size_t i = 0; i < sizeof at / sizeof at[0] && rc == LSC_OK; i++) {
        snprintf(nm, sizeof nm, "%s_%s", p, at[i].suffix);
        rc = lsc_h5_attr_double(h, g, nm, at[i].v, err);
    }
    snprintf(nm, sizeof nm, "%s_alpha_ntail", p);
    if (rc == LSC_OK)
        rc = lsc_h5_attr_int(h, g, nm, s->pl.n_tail, err);
    snprintf(nm, sizeof nm, "%s_singular_values", p);
    return rc == LSC_OK ? write_sv(h, g, nm, n, s->sv, err) : rc;
}

static int write_module(lsc_h5 *h, const dg_cfg *c, const dg *a, lsc_error *err)
{
    char g[1200];
    snprintf(g, sizeof g, "/modules/%s", a->m->name);
    int rc;
    if ((rc = write_sv(h, g, "delta_singular_values", a->r, a->dsv, err)) != LSC_OK ||
        (rc = ana_write_module_attrs(h, g, a->m, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "delta_fro", sqrt(a->dms.fro2), err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "delta_spike_share", a->dms.spike_share, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "delta_stable_rank", a->dms.stable_rank, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "delta_effective_rank", a->dms.effective_rank, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "spike_z", a->spike_z, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "spike_flag", a->spike_flag, err)) != LSC_OK)
        return rc;
    if (!c->base_path)
        return LSC_OK;
    if ((rc = lsc_h5_attr_int(h, g, "n_sv", a->mn, err)) != LSC_OK ||
        (rc = write_side(h, g, "base", a->mn, &a->base, err)) != LSC_OK ||
        (rc = write_side(h, g, "merged", a->mn, &a->merged, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "alpha_change", a->alpha_change, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "alpha_change_z", a->alpha_z, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "alpha_change_flag", a->alpha_flag, err)) != LSC_OK)
        return rc;
    return ana_base_mat_attrs(h, g, a->m, a->bm.how, err);
}

static void print_results(const dg_cfg *c, const dg *items, int n, int nfs, int nfa)
{
    printf("%-44s %5s %5s %3s %9s %7s %7s %7s %6s", "module", "d", "k", "r", "|dW|_F", "spike", "srank", "erank",
           "z");
    if (c->base_path)
        printf(" %7s %7s %7s %6s", "a(W)", "a(W+dW)", "d_alpha", "z");
    printf("  flags\n");
    for (int i = 0; i < n; i++) {
        const dg *a = &items[i];
        printf("%-44s %5d %5d %3d %9.4g %7.4f %7.3f %7.3f %6.2f", cli_safe(a->m->name), a->d, a->k, a->r,
               sqrt(a->dms.fro2), a->dms.spike_share, a->dms.stable_rank, a->dms.effective_rank, a->spike_z);
        if (c->base_path)
            printf(" %7.3f %7.3f %7.4f %6.2f", a->base.pl.alpha, a->merged.pl.alpha, a->alpha_change, a->alpha_z);
        printf("  %s%s\n", a->spike_flag ? "SPIKE " : "", a->alpha_flag ? "ALPHA" : "");
    }
    printf("flagged (robust |z| > %g among %d modules): spike share %d", c->zt, n, nfs);
    if (c->base_path)
        printf(", alpha change %d", nfa);
    printf("\n");
}

// ---- the run ----

typedef struct dg_run {
    const dg_cfg *c;
    ana_opts      o;
    lsc_adapter   ad;
    ana_base      base;
    dg           *items;
    int           n, nf_spike, nf_alpha;
} dg_run;

/* The adapter's factored modules (and, with --base, each one's base matrix:
 * a missing or misshapen one is bad input, one line). */
static int collect_items(const char *cmd, dg_run *R)
{
    R->items = calloc((size_t)(R->ad.n_modules ? R->ad.n_modules : 1), sizeof *R->items);
    if (!R->items)
        return cli_error(cmd, CLI_FAIL, "out of memory");
    if (R->ad.n_full > 0)
        cli_warn(cmd, "%s: %d full tensors (modules_to_save, e.g. %s) are not LoRA updates: not analysed",
                 R->c->adapter, R->ad.n_full, R->ad.full[0].name);
    for (int i = 0; i < R->ad.n_modules; i++) {
        const lsc_adapter_module *m = &R->ad.modules[i];
        dg *a = &R->items[R->n++];
        a->m = m;
        a->d = m->out_features;
        a->k = m->in_features;
        a->r = m->r;
        a->mn = a->d < a->k ? a->d : a->k;
        if (!R->c->base_path)
            continue;
        char why[4500], line[5000];
        int found = ana_base_match(&R->base, &R->ad, m, &a->bm, why, sizeof why);
        if (found != 1) {
            ana_base_why(found, m, why, line, sizeof line);
            return cli_error(cmd, CLI_FAIL, "%s: %s", R->c->base_path, line);
        }
    }
    if (R->n == 0)
        return cli_error(cmd, CLI_FAIL, "%s: no LoRA module to analyse", R->c->adapter);
    for (int i = 0; i < R->n; i++) {
        dg *a = &R->items[i];
        size_t mn = R->c->base_path ? (size_t)a->mn : 0;
        a->dsv = calloc((size_t)a->r, sizeof(double));
        a->base.sv = calloc(mn + 1, sizeof(double));
        a->merged.sv = calloc(mn + 1, sizeof(double));
        a->alpha_change = a->alpha_z = NAN;
        if (!a->dsv || !a->base.sv || !a->merged.sv)
            return cli_error(cmd, CLI_FAIL, "out of memory");
    }
    return CLI_OK;
}

static int item_is(const void *items, int i, const char *name)
{
    return strcmp(((const dg *)items)[i].m->name, name) == 0;
}

static const char *item_name(const void *items, int i) { return ((const dg *)items)[i].m->name; }

static void run_free(dg_run *R)
{
    for (int i = 0; i < R->n; i++) {
        free(R->items[i].dsv);
        free(R->items[i].base.sv);
        free(R->items[i].merged.sv);
    }
    free(R->items);
    ana_base_close(&R->base);
    lsc_adapter_free(&R->ad);
}

static int write_all(const char *cmd, dg_run *R, double t0)
{
    const dg_cfg *c = R->c;
    lsc_h5 *h = NULL;
    lsc_error err = {0};
    int rc = ana_output_create(cmd, &R->o, &h);
    for (int i = 0; i < R->n && rc == CLI_OK; i++)
        if (write_module(h, c, &R->items[i], &err) != LSC_OK)
            rc = cli_lib_error(cmd, &err);
    if (rc == CLI_OK) {
        lsc_h5_input in[2] = {{"adapter", R->ad.path}, {"base", c->base_path}};
        lsc_h5_param ps[] = {
            ANA_COMMON_PARAMS(R->o),
            {"n_modules", LSC_H5_INT, NULL, R->n, 0},
            {"n_flagged_spike", LSC_H5_INT, NULL, R->nf_spike, 0},
            {"n_flagged_alpha", LSC_H5_INT, NULL, c->base_path ? R->nf_alpha : 0, 0},
            {"min_tail", LSC_H5_INT, NULL, c->min_tail, 0},
            {"z_threshold", LSC_H5_DOUBLE, NULL, 0, c->zt},
            {"definition_spike_share", LSC_H5_STR, DEF_SPIKE, 0, 0},
            {"definition_stable_rank", LSC_H5_STR, DEF_SRANK, 0, 0},
            {"definition_effective_rank", LSC_H5_STR, DEF_ERANK, 0, 0},
            {"definition_alpha", LSC_H5_STR, DEF_ALPHA, 0, 0},
            {"definition_z", LSC_H5_STR, DEF_Z, 0, 0},
            {"definition_alpha_change", LSC_H5_STR, "merged_alpha - base_alpha: alpha of W + dW minus alpha of W",
             0, 0},
            {"svd_method", LSC_H5_STR, c->base_path ? "dW: lowrank-qr; W and W + dW: dense dgesdd, values only"
                                                    : "dW: lowrank-qr", 0, 0},
            {"fan_in_fan_out", LSC_H5_INT, NULL, R->ad.fan_in_fan_out, 0},
        };
        rc = ana_output_commit(cmd, &R->o, &h, t0, c->base_path ? 2 : 1, in, NULL,
                               (int)(sizeof ps / sizeof ps[0]), ps);
    }
    lsc_h5_abort(h);
    return rc;
}

static int run_diagnose(const char *cmd, const dg_cfg *c, const cli_opt *opts, double t0)
{
    dg_run R;
    memset(&R, 0, sizeof R);
    R.c = c;
    int rc, hl = 0;   /* --module: checked (the per-layer figure shows every module) */
    if ((rc = ana_setup(cmd, opts, &R.o, c->adapter, &R.ad, NULL, NULL)) != CLI_OK)
        return rc;
    if ((c->base_path && (rc = ana_base_open(cmd, c->base_path, &R.base)) != CLI_OK) ||
        (rc = collect_items(cmd, &R)) != CLI_OK ||
        (rc = ana_pick_module(cmd, &R.o, R.n, "analysed", item_is, item_name, R.items, &hl)) != CLI_OK)
        goto done;
    printf("%s%s%s: %d modules\n", c->adapter, c->base_path ? " on " : "", c->base_path ? c->base_path : "", R.n);
    dg_job job = {c, R.items};
    ana_run_tasks(&R.o, R.n, dg_task, &job);
    for (int i = 0; i < R.n; i++) {
        ana_msgs_flush(cmd, &R.items[i].msgs);
        if (R.items[i].rc != CLI_OK)
            rc = R.items[i].rc;
        if (c->base_path)
            R.items[i].alpha_change = R.items[i].merged.pl.alpha - R.items[i].base.pl.alpha;
    }
    if (rc != CLI_OK || flag_all(R.items, R.n, c->zt, 0, &R.nf_spike) != CLI_OK ||
        (c->base_path && flag_all(R.items, R.n, c->zt, 1, &R.nf_alpha) != CLI_OK)) {
        rc = rc != CLI_OK ? rc : cli_error(cmd, CLI_FAIL, "out of memory");
        goto done;
    }
    print_results(c, R.items, R.n, R.nf_spike, R.nf_alpha);
    if ((rc = write_all(cmd, &R, t0)) == CLI_OK)
        rc = ana_finish(cmd, &R.o, R.n, R.ad.n_full, t0);
done:
    run_free(&R);
    return rc;
}

// ---- options ----

int cmd_diagnose(int argc, char **argv)
{
    const char *cmd = "diagnose";
    double t0 = cli_now();
    cli_opt opts[] = {ANA_COMMON_OPTS, {"base", 1, NULL}, {"min-tail", 1, NULL}, {"z", 1, NULL}, {NULL, 0, NULL}};
    dg_cfg c;
    memset(&c, 0, sizeof c);
    int help = 0, bad = 0;
    int rc = ana_parse_adapter_args(cmd, USAGE, argc, argv, opts, &c.adapter, &help);
    if (rc != CLI_OK || help)
        return rc;
    c.base_path = cli_get(opts, "base");
    long mt = cli_long(opts, "min-tail", 10, &bad);
    if (bad || mt < 2 || mt > 1000000)
        return cli_error(cmd, CLI_USAGE, "--min-tail: want an integer in [2, 1000000], got '%s'",
                         cli_get(opts, "min-tail"));
    c.min_tail = (int)mt;
    c.zt = 3.5;
    if (cli_get(opts, "z")) {
        char *end;
        c.zt = strtod(cli_get(opts, "z"), &end);
        if (*end || end == cli_get(opts, "z") || !(c.zt > 0.0 && c.zt < 1e6))
            return cli_error(cmd, CLI_USAGE, "--z: want a positive number, got '%s'", cli_get(opts, "z"));
    }
    return run_diagnose(cmd, &c, opts, t0);
}
