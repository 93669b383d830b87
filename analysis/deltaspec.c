/*
 * deltaspec.c — `lorascope deltaspec --base B.safetensors --finetuned F.safetensors -o OUT.h5`:
 * the singular spectrum of the update ΔW = W_ft − W_0 of a FULL fine-tuning run, per adaptable
 * weight (attention q/k/v/o and the MLP fc_in/fc_out of every layer), for the LoRA-vs-full study
 * (experiments/study_full.sh). `lorascope spectrum` does the same for LoRA adapters, where ΔW =
 * s·B·A has rank r; here ΔW is dense, so its SVD is the dense LAPACK one (lib/linalg.c).
 *
 * Per module, group /modules/<module> (the same names as spectrum's: h.3.attn.q_proj):
 *   singular_values (float64, min(d, k), descending) of ΔW
 *   attributes in_features, out_features, n_sv, delta_fro, stable_rank (‖ΔW‖²_F/σ₁²),
 *   rank90 (smallest k with Σ_{i<=k} σ² >= 0.9 Σσ²), rank90_frac (rank90 / n_sv),
 *   effective_rank (exp of the entropy of σ/Σσ) — exactly spectrum.c's definitions —
 *   and for comparison the same three of W_0 itself (w0_*) and of a seeded Gaussian matrix of
 *   the same shape (random_*), as Biderman et al. (2024) compare rank@90% against both.
 * Self-description (h5describe.c): singular_values has the attributes units and definition
 * and the dimension scale sv_index (1..n); module groups layer and proj. --json / --csv FILE:
 * the same numbers as a tidy table (tidy.h).
 *
 * What it is not: a LoRA analysis (use spectrum), nor a model loader: it reads the two
 * safetensors files or Hugging Face folders tensor by tensor (delta_pairs.c) and needs
 * only matching names and shapes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis_common.h"
#include "cli.h"
#include "commands.h"
#include "delta_pairs.h"
#include "tidy.h"

static const char *USAGE =
    "usage: lorascope deltaspec --base W0.safetensors --finetuned WFT.safetensors -o OUT.h5\n"
    "                           [--targets q,k,v,o,fc_in,fc_out] [--seed N]\n"
    "\n"
    "Singular spectrum of dW = W_ft - W_0 for every adaptable weight of a fully fine-tuned\n"
    "model (dense SVD, float64): /modules/<module>/singular_values and the attributes\n"
    "delta_fro, stable_rank, rank90, rank90_frac, effective_rank (as `lorascope spectrum`),\n"
    "plus the same statistics of W_0 (w0_*) and of a seeded Gaussian matrix (random_*).\n"
    "\n"
    "  --base PATH        the pretrained model W_0: a safetensors file or a Hugging\n"
    "                     Face model folder (config.json, sharded or not)\n"
    "  --finetuned PATH   the fully fine-tuned model, the same way (same names and shapes)\n"
    "  --targets LIST     weight types (default q,k,v,o,fc_in,fc_out)\n"
    "  --seed N           seed of the random comparison matrix (default 1234)\n"
    "  -o, --output FILE  result (temporary name, renamed when complete)\n"
    "  --json             print the results as one JSON object, the last line of stdout\n"
    "  --csv FILE         also write them as a tidy table (module,layer,proj,quantity,index,value)\n"
    "\n"
    "example:\n"
    "  lorascope deltaspec --base data/cache/base-0123.safetensors \\\n"
    "      --finetuned data/results/quick/runs/full-s1/model.safetensors -o full_spec.h5\n";

typedef struct stats {
    double fro, stable_rank, effective_rank;
    int    rank90;
} stats;

/* spectrum.c's definitions, on n singular values in descending order. */
static void summarise(const double *sv, int n, stats *s)
{
    double sum2 = 0.0, sum1 = 0.0;
    for (int i = 0; i < n; i++) {
        sum2 += sv[i] * sv[i];
        sum1 += sv[i];
    }
    s->fro = sqrt(sum2);
    if (!(n > 0 && sv[0] > 0.0)) {
        s->stable_rank = s->effective_rank = NAN;
        s->rank90 = 0;
        return;
    }
    s->stable_rank = sum2 / (sv[0] * sv[0]);
    double acc = 0.0;
    s->rank90 = n;
    for (int i = 0; i < n; i++) {
        acc += sv[i] * sv[i];
        if (acc >= 0.9 * sum2) {
            s->rank90 = i + 1;
            break;
        }
    }
    double H = 0.0;
    for (int i = 0; i < n; i++) {
        double p = sv[i] / sum1;
        if (p > 0.0)
            H -= p * log(p);
    }
    s->effective_rank = exp(H);
}

/* What cmd_deltaspec parsed. */
typedef struct deltaspec_opts {
    const char *base, *ft, *out, *targets;
    long        seed;
    ana_opts    common;   /* output, json and csv: the table of --json / --csv (tidy.h) */
} deltaspec_opts;

/* Buffers reused across modules, grown as needed. */
typedef struct ds_work {
    double *W0, *D, *S, *work;   /* (d, k), (d, k), (mn + d·k), (lwork) */
    size_t  cap, wcap;
} ds_work;

/* Room for a d×k module in ws. CLI_OK, or CLI_FAIL with the message printed. */
static int ds_reserve(const char *name, int d, int k, ds_work *ws)
{
    int mn = d < k ? d : k;
    size_t numel = (size_t)d * (size_t)k;
    size_t lw = lsc_svd_work_size(d, k, 0);
    if (numel > ws->cap) {
        free(ws->W0);
        free(ws->D);
        free(ws->S);
        ws->W0 = malloc(numel * sizeof *ws->W0);
        ws->D = malloc(numel * sizeof *ws->D);
        ws->S = malloc((size_t)mn * sizeof *ws->S + numel * sizeof *ws->S);
        ws->cap = numel;
        if (!ws->W0 || !ws->D || !ws->S)
            return cli_error("deltaspec", CLI_FAIL, "out of memory for %s (%d x %d)", name, d, k);
    }
    if (lw > ws->wcap) {
        free(ws->work);
        ws->work = malloc(lw * sizeof *ws->work);
        ws->wcap = lw;
        if (!ws->work)
            return cli_error("deltaspec", CLI_FAIL, "out of memory for the SVD workspace");
    }
    return CLI_OK;
}

/* The attributes of group g: ΔW's statistics, W_0's (w0_*) and the random
 * matrix's (random_*). */
static int write_stats(lsc_h5 *h, const char *g, int d, int k, int mn, const stats *sd,
                       const stats *s0, const stats *sr, lsc_error *err)
{
    if (lsc_h5_attr_int(h, g, "in_features", k, err) != LSC_OK ||
        lsc_h5_attr_int(h, g, "out_features", d, err) != LSC_OK ||
        lsc_h5_attr_int(h, g, "n_sv", mn, err) != LSC_OK ||
        lsc_h5_attr_double(h, g, "delta_fro", sd->fro, err) != LSC_OK ||
        lsc_h5_attr_double(h, g, "stable_rank", sd->stable_rank, err) != LSC_OK ||
        lsc_h5_attr_int(h, g, "rank90", sd->rank90, err) != LSC_OK ||
        lsc_h5_attr_double(h, g, "rank90_frac", (double)sd->rank90 / mn, err) != LSC_OK ||
        lsc_h5_attr_double(h, g, "effective_rank", sd->effective_rank, err) != LSC_OK ||
        lsc_h5_attr_double(h, g, "w0_fro", s0->fro, err) != LSC_OK ||
        lsc_h5_attr_double(h, g, "w0_stable_rank", s0->stable_rank, err) != LSC_OK ||
        lsc_h5_attr_int(h, g, "w0_rank90", s0->rank90, err) != LSC_OK ||
        lsc_h5_attr_double(h, g, "w0_effective_rank", s0->effective_rank, err) != LSC_OK ||
        lsc_h5_attr_double(h, g, "random_stable_rank", sr->stable_rank, err) != LSC_OK ||
        lsc_h5_attr_int(h, g, "random_rank90", sr->rank90, err) != LSC_OK ||
        lsc_h5_attr_double(h, g, "random_effective_rank", sr->effective_rank, err) != LSC_OK)
        return err->code ? err->code : LSC_EIO;
    return LSC_OK;
}

/* What the walk over the weight pairs carries. */
typedef struct ds_ctx {
    const deltaspec_opts  *o;
    const ana_delta_files *f;
    lsc_h5                *h;
    uint64_t               rng;
    ds_work                ws;
} ds_ctx;

/* One module (ana_delta_fn): ΔW = W_ft − W_0 (tb, tf), its spectrum written
 * to h, and the statistics of W_0 and of a Gaussian matrix of the same
 * shape, for scale. CLI_OK, or CLI_FAIL with the message printed. */
static int module_spectra(void *ctx, const char *module, const lsc_st_tensor *tb,
                          const lsc_st_tensor *tf)
{
    ds_ctx *c = ctx;
    const deltaspec_opts *o = c->o;
    ds_work *ws = &c->ws;
    int d = (int)tb->shape[0], k = (int)tb->shape[1], mn = d < k ? d : k;
    size_t numel = (size_t)d * (size_t)k;
    lsc_error err = {0};
    int rc = ds_reserve(tb->name, d, k, ws);
    if (rc != CLI_OK)
        return rc;
    double *W0 = ws->W0, *D = ws->D, *S = ws->S;
    size_t lw = lsc_svd_work_size(d, k, 0);   /* this module's, not the buffer's */
    if ((rc = ana_delta_read("deltaspec", c->f, tb, tf, W0, D)) != CLI_OK)
        return rc;
    stats sd, s0, sr;
    char g[256], p[300];
    snprintf(g, sizeof g, "/modules/%s", module);
    if (lsc_svd(d, k, D, S, NULL, NULL, ws->work, lw, &err) != LSC_OK)
        return cli_error("deltaspec", CLI_FAIL, "%s: module %s: %s", o->ft, module, err.msg);
    summarise(S, mn, &sd);
    snprintf(p, sizeof p, "%s/singular_values", g);
    size_t dims[1] = {(size_t)mn};
    if (lsc_h5_write_f64(c->h, p, 1, dims, S, &err) != LSC_OK)
        return cli_lib_error("deltaspec", &err);
    if (lsc_svd(d, k, W0, S, NULL, NULL, ws->work, lw, &err) != LSC_OK)
        return cli_error("deltaspec", CLI_FAIL, "%s: module %s: %s", o->base, module, err.msg);
    summarise(S, mn, &s0);
    for (size_t i = 0; i < numel; i++)
        D[i] = lsc_rng_normal(&c->rng);
    if (lsc_svd(d, k, D, S, NULL, NULL, ws->work, lw, &err) != LSC_OK)
        return cli_error("deltaspec", CLI_FAIL, "random %d x %d matrix: %s", d, k, err.msg);
    summarise(S, mn, &sr);
    if (write_stats(c->h, g, d, k, mn, &sd, &s0, &sr, &err) != LSC_OK)
        return cli_lib_error("deltaspec", &err);
    return CLI_OK;
}

static int run_deltaspec(const deltaspec_opts *o)
{
    double t0 = cli_now();
    lsc_error err = {0};
    ana_delta_files f;
    ds_ctx c = {o, &f, NULL, 0, {NULL, NULL, NULL, NULL, 0, 0}};
    int n_mod = 0;
    int rc = ana_delta_open("deltaspec", &f, o->base, o->ft);
    if (rc != CLI_OK)
        goto done;
    if (lsc_h5_create(&c.h, o->out, &err) != LSC_OK) {
        rc = cli_lib_error("deltaspec", &err);
        goto done;
    }
    lsc_rng_seed(&c.rng, (uint64_t)o->seed);
    if ((rc = ana_delta_each("deltaspec", &f, o->targets, module_spectra, &c, &n_mod)) != CLI_OK)
        goto done;
    lsc_h5_input inputs[2] = {{"base", o->base}, {"finetuned", o->ft}};
    lsc_h5_param params[3] = {{"targets", LSC_H5_STR, o->targets, 0, 0},
                              {"seed", LSC_H5_INT, NULL, o->seed, 0},
                              {"n_modules", LSC_H5_INT, NULL, n_mod, 0}};
    if (ana_write_provenance(c.h, t0, 2, inputs, 3, params, &err) != LSC_OK ||
        ana_output_describe("deltaspec", &o->common, c.h, &err) != LSC_OK) {
        rc = cli_lib_error("deltaspec", &err);
        goto done;
    }
    lsc_h5 *hh = c.h;
    c.h = NULL;
    if (lsc_h5_commit(hh, &err) != LSC_OK) {
        rc = cli_lib_error("deltaspec", &err);
        goto done;
    }
    printf("deltaspec: %s: %d modules (%.2f s)\n", o->out, n_mod, cli_now() - t0);
    rc = ana_finish("deltaspec", &o->common, n_mod, 0, t0);
done:
    lsc_h5_abort(c.h);
    ana_delta_close(&f);
    free(c.ws.W0);
    free(c.ws.D);
    free(c.ws.S);
    free(c.ws.work);
    return rc;
}

int cmd_deltaspec(int argc, char **argv)
{
    cli_opt opts[] = {{"base", 1, NULL},   {"finetuned", 1, NULL}, {"output", 1, NULL},
                      {"targets", 1, NULL}, {"seed", 1, NULL},     {"help", 0, NULL},
                      {"json", 0, NULL},    {"csv", 1, NULL},
                      {NULL, 0, NULL}};
    const char *pos[1];
    int npos, help = 0;
    int rc = ana_parse_args("deltaspec", USAGE, argc, argv, opts, pos, 0, &npos, &help);
    if (rc != CLI_OK || help)
        return rc;
    deltaspec_opts o;
    memset(&o, 0, sizeof o);
    o.base = cli_get(opts, "base");
    o.ft = cli_get(opts, "finetuned");
    o.out = cli_get(opts, "output");
    o.targets = cli_get(opts, "targets");
    o.common.output = o.out;
    o.common.json = cli_flag(opts, "json");
    o.common.csv = cli_get(opts, "csv");
    if (!o.targets)
        o.targets = "q,k,v,o,fc_in,fc_out";
    int bad = 0;
    o.seed = cli_long(opts, "seed", 1234, &bad);
    if (bad)
        return CLI_USAGE;
    if (!o.base || !o.ft || !o.out)
        return cli_error("deltaspec", CLI_USAGE, "need --base, --finetuned and -o (see --help)");
    if (ana_delta_targets_check("deltaspec", o.targets) != CLI_OK)
        return CLI_USAGE;
    return run_deltaspec(&o);
}
