/*
 * extract.c — `lorascope extract --base W0 --finetuned WFT --rank R -o OUT_DIR`: the best
 * rank-R approximation (Eckart–Young: the truncated SVD, float64, LAPACK) of the update
 * ΔW = W_ft − W_0 of every adaptable weight of a FULL fine-tuning run, saved as a PEFT adapter
 * directory, so that LoRA and full fine-tuning are compared with the same tools (spectrum,
 * subspace and merge read it like a trained adapter). The inputs are read as `deltaspec`
 * reads them (delta_pairs.c: two safetensors files or Hugging Face folders, matching names
 * and shapes).
 *
 * With ΔW = U·diag(σ)·Vᵀ and r = min(R, min(d, k)) the module gets
 *     B = U_r·diag(σ_r)^{1/2} (d, r),   A = diag(σ_r)^{1/2}·V_rᵀ (r, k),   lora_alpha = r,
 * so that the scale alpha/r is 1 and s·B·A = ΔW_r (the balanced split: both factors carry
 * √σ). Module names are the PEFT names of the weights (train's: "h.3.attn.q_proj",
 * "model.layers.3.self_attn.q_proj"). A module whose min(d, k) < R gets r = min(d, k) (one
 * warning line) and its own rank_pattern / alpha_pattern entry.
 *
 * OUT_DIR holds adapter_config.json, adapter_model.safetensors (lib/peft.c's writer) and
 * extract.h5, written into a temporary sibling and put in place in one step. extract.h5:
 *   /modules/<module>/singular_values  (float64, min(d, k), descending) of ΔW
 *   attributes in_features (k), out_features (d), rank (r kept), delta_fro (‖ΔW‖_F),
 *   rel_fro_error (‖ΔW − ΔW_r‖_F/‖ΔW‖_F = sqrt(Σ_{i>r} σ_i²/Σ σ_i²)),
 *   rel_spectral_error (‖ΔW − ΔW_r‖_2/‖ΔW‖_2 = σ_{r+1}/σ_1; 0 when r = min(d, k));
 *   both errors NaN when ΔW = 0;
 *   root: the provenance attributes (inputs base, finetuned; rank, targets, n_modules) and
 *   mean_rel_fro_error, max_rel_fro_error, max_rel_spectral_error over the modules with ΔW ≠ 0.
 * --csv FILE / --json: those numbers read back from extract.h5 (h5describe.c).
 *
 * What it is not: a trainer (the factors are not fine-tuned further), nor a model loader (no
 * llama2.c checkpoint: only names and shapes are matched, see delta_pairs.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis_common.h"
#include "cli.h"
#include "commands.h"
#include "delta_pairs.h"
#include "surgery.h"
#include "tidy.h"

static const char *USAGE =
    "usage: lorascope extract --base W0.safetensors --finetuned WFT.safetensors --rank R -o OUT_DIR\n"
    "                         [--targets q,k,v,o,...] [--csv FILE] [--json]\n"
    "\n"
    "The best rank-R approximation (truncated SVD, float64) of dW = W_ft - W_0 of every\n"
    "adaptable weight of a fully fine-tuned model, saved as a PEFT adapter directory that\n"
    "spectrum, subspace and merge read. Split: B = U_R diag(s_R)^1/2,\n"
    "A = diag(s_R)^1/2 V_R^T, lora_alpha = R (scale 1). Prints and stores per module the\n"
    "relative Frobenius error |dW - dW_R|_F/|dW|_F and the relative spectral error\n"
    "s_{R+1}/s_1 (OUT_DIR/extract.h5: /modules/<module>/singular_values and attributes\n"
    "rank, delta_fro, rel_fro_error, rel_spectral_error). A module with min(d, k) < R keeps\n"
    "min(d, k) (one warning line).\n"
    "\n"
    "  --base PATH        the pretrained model W_0: a safetensors file or a Hugging\n"
    "                     Face model folder (config.json, sharded or not)\n"
    "  --finetuned PATH   the fully fine-tuned model, the same way (same names and shapes)\n"
    "  --rank R           rank of the adapter (R >= 1)\n"
    "  --targets LIST     weight types (default: all, q,k,v,o,fc_in,fc_out,gate,up,down)\n"
    "  -o, --output DIR   the adapter directory (replaced in one step when complete)\n"
    "  --csv FILE         also write the per-module numbers as a tidy CSV table\n"
    "  --json             print one JSON object as the last line of stdout\n"
    "  -h, --help         this text\n"
    "\n"
    "example:\n"
    "  lorascope extract --base data/cache/base-0123.safetensors \\\n"
    "      --finetuned data/results/quick/runs/full-s1/model.safetensors --rank 8 -o full_r8\n"
    "  lorascope spectrum full_r8 -o full_r8_spec.h5\n";

/* What cmd_extract parsed. */
typedef struct extract_opts {
    const char *base, *ft, *targets;
    long        rank;
    ana_opts    ao;   /* output (the directory), json, csv */
} extract_opts;

/* One module's numbers. */
typedef struct ex_result {
    double *sv;   /* min(d, k) singular values of ΔW */
    int     n_sv, r;
    double  fro, rel_fro, rel_spec;
} ex_result;

/* What the walk over the weight pairs builds. */
typedef struct ex_ctx {
    const extract_opts    *o;
    const ana_delta_files *f;
    lsc_adapter            ad;       /* the adapter being built */
    ex_result             *res;      /* per module of ad */
    int                    cap;      /* of ad.modules and res */
    int                    n_clamped;
    char                   clamped[128];   /* the first module clamped */
    double                *W0, *D, *U, *Vt, *work;
    size_t                 numel_cap, work_cap;
} ex_ctx;

// ---- one module ----

/* Room for one more module and a d×k SVD with vectors. CLI_OK or CLI_FAIL (printed). */
static int ex_reserve(ex_ctx *c, const char *module, int d, int k)
{
    size_t numel = (size_t)d * (size_t)k, lw = lsc_svd_work_size(d, k, 1);
    if (c->ad.n_modules == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        lsc_adapter_module *m = realloc(c->ad.modules, (size_t)cap * sizeof *m);
        if (m)
            c->ad.modules = m;
        ex_result *r = realloc(c->res, (size_t)cap * sizeof *r);
        if (r)
            c->res = r;
        if (!m || !r)
            return cli_error("extract", CLI_FAIL, "out of memory");
        c->cap = cap;
    }
    if (numel > c->numel_cap) {
        free(c->W0);
        free(c->D);
        free(c->U);
        free(c->Vt);
        c->W0 = malloc(numel * sizeof(double));
        c->D = malloc(numel * sizeof(double));
        c->U = malloc(numel * sizeof(double));    /* d·min(d, k) <= d·k */
        c->Vt = malloc(numel * sizeof(double));   /* min(d, k)·k <= d·k */
        c->numel_cap = numel;
        if (!c->W0 || !c->D || !c->U || !c->Vt) {
            c->numel_cap = 0;
            return cli_error("extract", CLI_FAIL, "out of memory for %s (%d x %d)", module, d, k);
        }
    }
    if (lw > c->work_cap) {
        free(c->work);
        c->work = malloc(lw * sizeof(double));
        c->work_cap = c->work ? lw : 0;
        if (!c->work)
            return cli_error("extract", CLI_FAIL, "out of memory for the SVD workspace of %s", module);
    }
    return CLI_OK;
}

/* The relative errors of keeping the first r of n singular values. */
static void ex_errors(const double *sv, int n, int r, ex_result *res)
{
    double tot = 0.0, tail = 0.0;
    for (int i = n - 1; i >= 0; i--) {   /* smallest first: the tail sum is accurate */
        tot += sv[i] * sv[i];
        if (i >= r)
            tail += sv[i] * sv[i];
    }
    res->fro = sqrt(tot);
    if (!(tot > 0.0)) {
        res->rel_fro = res->rel_spec = NAN;
        return;
    }
    res->rel_fro = sqrt(tail / tot);
    res->rel_spec = r < n ? sv[r] / sv[0] : 0.0;
}

/* One module (ana_delta_fn): the SVD of ΔW, the factors B, A of its rank-r
 * truncation appended to c->ad, the errors to c->res. */
static int ex_module(void *ctx, const char *module, const lsc_st_tensor *tb, const lsc_st_tensor *tf)
{
    ex_ctx *c = ctx;
    int d = (int)tb->shape[0], k = (int)tb->shape[1], mn = d < k ? d : k;
    int rc = ex_reserve(c, module, d, k);
    if (rc != CLI_OK || (rc = ana_delta_read("extract", c->f, tb, tf, c->W0, c->D)) != CLI_OK)
        return rc;
    lsc_adapter_module *am = &c->ad.modules[c->ad.n_modules];
    ex_result *res = &c->res[c->ad.n_modules];
    memset(res, 0, sizeof *res);
    c->ad.n_modules++;   /* from here on freed by lsc_adapter_free / ex_free */
    int r = c->o->rank < mn ? (int)c->o->rank : mn;
    if (r < c->o->rank && c->n_clamped++ == 0)
        snprintf(c->clamped, sizeof c->clamped, "%s, %d x %d", module, d, k);
    res->sv = malloc((size_t)mn * sizeof(double));
    if (surg_module_init(am, module, d, k, r) != 0 || !res->sv)
        return cli_error("extract", CLI_FAIL, "out of memory for %s (%d x %d)", module, d, k);
    lsc_error err = {0};
    if (lsc_svd(d, k, c->D, res->sv, c->U, c->Vt, c->work, lsc_svd_work_size(d, k, 1), &err) != LSC_OK)
        return cli_error("extract", CLI_FAIL, "%s: module %s: %s", c->f->ft, module, err.msg);
    res->n_sv = mn;
    res->r = r;
    ex_errors(res->sv, mn, r, res);
    for (int j = 0; j < r; j++) {
        double h = sqrt(res->sv[j]);
        for (int i = 0; i < d; i++)
            am->B[(size_t)i * r + j] = (float)(c->U[(size_t)i * mn + j] * h);
        for (int i = 0; i < k; i++)
            am->A[(size_t)j * k + i] = (float)(h * c->Vt[(size_t)j * k + i]);
    }
    return CLI_OK;
}

// ---- the adapter ----

/* The config: r = lora_alpha = R (the rank of most modules: R unless every
 * one was clamped, then the first module's), target_modules the targets
 * found, and a rank_pattern / alpha_pattern entry (the full module name)
 * for each module of another rank. */
static int ex_config(ex_ctx *c)
{
    lsc_adapter *ad = &c->ad;
    int n = ad->n_modules, r0 = ad->modules[0].r;
    for (int i = 0; i < n; i++)
        if (ad->modules[i].r == c->o->rank)
            r0 = (int)c->o->rank;
    ad->r = r0;
    ad->lora_alpha = r0;
    ad->base_model = strdup(c->o->base);
    ad->target_modules = calloc(LSC_LORA_NTARGETS, sizeof(char *));
    ad->rank_pattern_keys = calloc((size_t)n, sizeof(char *));
    ad->rank_pattern_vals = calloc((size_t)n, sizeof(int));
    ad->alpha_pattern_keys = calloc((size_t)n, sizeof(char *));
    ad->alpha_pattern_vals = calloc((size_t)n, sizeof(double));
    if (!ad->base_model || !ad->target_modules || !ad->rank_pattern_keys || !ad->rank_pattern_vals ||
        !ad->alpha_pattern_keys || !ad->alpha_pattern_vals)
        return cli_error("extract", CLI_FAIL, "out of memory");
    int seen[LSC_LORA_NTARGETS] = {0};
    for (int i = 0; i < n; i++) {
        const lsc_adapter_module *am = &ad->modules[i];
        int layer, t;
        if (lsc_lora_module_parse(am->name, &layer, &t) == 0 && !seen[t]++ &&
            !(ad->target_modules[ad->n_targets++] = strdup(lsc_lora_target_name(t))))
            return cli_error("extract", CLI_FAIL, "out of memory");
        if (am->r == r0)
            continue;
        int p = ad->n_rank_pattern++;
        ad->n_alpha_pattern++;
        ad->rank_pattern_vals[p] = am->r;
        ad->alpha_pattern_vals[p] = am->r;
        if (!(ad->rank_pattern_keys[p] = strdup(am->name)) || !(ad->alpha_pattern_keys[p] = strdup(am->name)))
            return cli_error("extract", CLI_FAIL, "out of memory");
    }
    return CLI_OK;
}

/* Over the modules with ΔW ≠ 0: mean and max of the relative errors; *n_zero the others. */
static void ex_summary(const ex_ctx *c, double s[3], int *n_zero)
{
    int n = c->ad.n_modules;
    double sum = 0.0;
    s[1] = s[2] = 0.0;
    *n_zero = 0;
    for (int i = 0; i < n; i++) {
        const ex_result *res = &c->res[i];
        if (res->fro > 0.0)
            sum += res->rel_fro;
        else
            (*n_zero)++;
        s[1] = fmax(s[1], res->rel_fro);
        s[2] = fmax(s[2], res->rel_spec);
    }
    s[0] = n > *n_zero ? sum / (n - *n_zero) : NAN;
}

/* extract.h5 at path: per module the spectrum and the errors, the summary and the provenance. */
static int ex_write_h5(const ex_ctx *c, const char *path, double t0)
{
    lsc_error err = {0};
    double sm[3];
    int n_zero;
    ex_summary(c, sm, &n_zero);
    lsc_h5 *h = NULL;
    if (lsc_h5_create(&h, path, &err) != LSC_OK)
        return cli_lib_error("extract", &err);
    for (int i = 0; i < c->ad.n_modules; i++) {
        const lsc_adapter_module *am = &c->ad.modules[i];
        const ex_result *res = &c->res[i];
        char g[256], p[300];
        snprintf(g, sizeof g, "/modules/%s", am->name);
        snprintf(p, sizeof p, "%s/singular_values", g);
        size_t dims[1] = {(size_t)res->n_sv};
        if (lsc_h5_write_f64(h, p, 1, dims, res->sv, &err) != LSC_OK ||
            lsc_h5_attr_int(h, g, "in_features", am->in_features, &err) != LSC_OK ||
            lsc_h5_attr_int(h, g, "out_features", am->out_features, &err) != LSC_OK ||
            lsc_h5_attr_int(h, g, "rank", res->r, &err) != LSC_OK ||
            lsc_h5_attr_double(h, g, "delta_fro", res->fro, &err) != LSC_OK ||
            lsc_h5_attr_double(h, g, "rel_fro_error", res->rel_fro, &err) != LSC_OK ||
            lsc_h5_attr_double(h, g, "rel_spectral_error", res->rel_spec, &err) != LSC_OK)
            goto fail;
    }
    lsc_h5_input inputs[2] = {{"base", c->o->base}, {"finetuned", c->o->ft}};
    lsc_h5_param params[3] = {{"rank", LSC_H5_INT, NULL, c->o->rank, 0},
                              {"targets", LSC_H5_STR, c->o->targets, 0, 0},
                              {"n_modules", LSC_H5_INT, NULL, c->ad.n_modules, 0}};
    if (ana_write_provenance(h, t0, 2, inputs, 3, params, &err) != LSC_OK ||
        lsc_h5_attr_double(h, "/", "mean_rel_fro_error", sm[0], &err) != LSC_OK ||
        lsc_h5_attr_double(h, "/", "max_rel_fro_error", sm[1], &err) != LSC_OK ||
        lsc_h5_attr_double(h, "/", "max_rel_spectral_error", sm[2], &err) != LSC_OK ||
        ana_output_describe("extract", &c->o->ao, h, &err) != LSC_OK)
        goto fail;
    return lsc_h5_commit(h, &err) == LSC_OK ? CLI_OK : cli_lib_error("extract", &err);
fail:
    lsc_h5_abort(h);
    return cli_lib_error("extract", &err);
}

/* The adapter and extract.h5 into a temporary sibling of OUT_DIR, then put
 * at OUT_DIR in one step (lsc_atomic_publish_dir). */
static int ex_publish(const ex_ctx *c, double t0)
{
    const char *out = c->o->ao.output;
    lsc_error err = {0};
    char wdir[4096], h5[4096 + 16];
    if (lsc_atomic_mkdtemp(wdir, sizeof wdir, out, &err) != LSC_OK)
        return cli_lib_error("extract", &err);
    snprintf(h5, sizeof h5, "%s/extract.h5", wdir);
    int rc = lsc_adapter_save(&c->ad, wdir, &err) == LSC_OK ? CLI_OK : CLI_FAIL;
    if (rc != CLI_OK) {
        lsc_atomic_errpath(&err, wdir, out);
        cli_lib_error("extract", &err);
    } else if ((rc = ex_write_h5(c, h5, t0)) == CLI_OK &&
               lsc_atomic_publish_dir(wdir, out, &err) != LSC_OK) {
        rc = cli_lib_error("extract", &err);
    }
    if (rc != CLI_OK)
        lsc_atomic_remove_tree(wdir);
    return rc;
}

// ---- the command ----

/* Per module one line on stdout; one warning line names the modules with ΔW = 0. */
static void ex_report(const ex_ctx *c)
{
    int first_zero = -1, n_zero = 0;
    for (int i = 0; i < c->ad.n_modules; i++) {
        const ex_result *res = &c->res[i];
        printf("  %-40s r=%-4d rel_fro_error %.6g  rel_spectral_error %.6g\n", c->ad.modules[i].name, res->r,
               res->rel_fro, res->rel_spec);
        if (!(res->fro > 0.0) && n_zero++ == 0)
            first_zero = i;
    }
    if (n_zero)
        cli_warn("extract", "%d module(s) unchanged (first: %s): dW = 0, its errors NaN", n_zero,
                 c->ad.modules[first_zero].name);
}

static void ex_free(ex_ctx *c)
{
    for (int i = 0; i < c->ad.n_modules; i++)
        free(c->res[i].sv);
    free(c->res);
    lsc_adapter_free(&c->ad);
    free(c->W0);
    free(c->D);
    free(c->U);
    free(c->Vt);
    free(c->work);
}

static int run_extract(const extract_opts *o)
{
    double t0 = cli_now();
    ana_delta_files f;
    ex_ctx c;
    memset(&c, 0, sizeof c);
    c.o = o;
    c.f = &f;
    int n_mod = 0;
    int rc = ana_delta_open("extract", &f, o->base, o->ft);
    if (rc == CLI_OK)
        rc = ana_delta_each("extract", &f, o->targets, ex_module, &c, &n_mod);
    if (rc == CLI_OK && c.n_clamped)
        cli_warn("extract", "--rank %ld exceeds min(d, k) of %d module(s) (first: %s): clamped to min(d, k)",
                 o->rank, c.n_clamped, c.clamped);
    if (rc == CLI_OK && (rc = ex_config(&c)) == CLI_OK && (rc = ex_publish(&c, t0)) == CLI_OK) {
        ex_report(&c);
        printf("extract: %s: %d modules at rank %ld (%.2f s)\n", o->ao.output, n_mod, o->rank, cli_now() - t0);
        rc = ana_finish("extract", &o->ao, n_mod, 0, t0);
    }
    ana_delta_close(&f);
    ex_free(&c);
    return rc;
}

int cmd_extract(int argc, char **argv)
{
    cli_opt opts[] = {{"base", 1, NULL},    {"finetuned", 1, NULL}, {"rank", 1, NULL},
                      {"output", 1, NULL},  {"targets", 1, NULL},   {"csv", 1, NULL},
                      {"json", 0, NULL},    {"help", 0, NULL},      {NULL, 0, NULL}};
    const char *pos[1];
    int npos, help = 0, bad = 0;
    int rc = ana_parse_args("extract", USAGE, argc, argv, opts, pos, 0, &npos, &help);
    if (rc != CLI_OK || help)
        return rc;
    extract_opts o;
    memset(&o, 0, sizeof o);
    o.base = cli_get(opts, "base");
    o.ft = cli_get(opts, "finetuned");
    o.ao.output = cli_get(opts, "output");
    o.ao.csv = cli_get(opts, "csv");
    o.ao.json = cli_flag(opts, "json");
    o.targets = cli_get(opts, "targets");
    if (!o.targets)
        o.targets = ANA_DELTA_ALL_TARGETS;
    o.rank = cli_long(opts, "rank", 0, &bad);
    if (bad)
        return CLI_USAGE;
    if (!o.base || !o.ft || !o.ao.output || !cli_get(opts, "rank"))
        return cli_error("extract", CLI_USAGE, "need --base, --finetuned, --rank and -o (see --help)");
    if (o.rank < 1 || o.rank > 1000000)
        return cli_error("extract", CLI_FAIL, "--rank %ld: must be a positive integer (at most 1000000)",
                         o.rank);
    if (ana_delta_targets_check("extract", o.targets) != CLI_OK)
        return CLI_USAGE;
    return run_extract(&o);
}
