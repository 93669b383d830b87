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
 *
 * What it is not: a LoRA analysis (use spectrum), nor a model loader: it reads the two
 * safetensors files tensor by tensor and needs only matching names and shapes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis_common.h"
#include "cli.h"
#include "commands.h"

static const char *USAGE =
    "usage: lorascope deltaspec --base W0.safetensors --finetuned WFT.safetensors -o OUT.h5\n"
    "                           [--targets q,k,v,o,fc_in,fc_out] [--seed N]\n"
    "\n"
    "Singular spectrum of dW = W_ft - W_0 for every adaptable weight of a fully fine-tuned\n"
    "model (dense SVD, float64): /modules/<module>/singular_values and the attributes\n"
    "delta_fro, stable_rank, rank90, rank90_frac, effective_rank (as `lorascope spectrum`),\n"
    "plus the same statistics of W_0 (w0_*) and of a seeded Gaussian matrix (random_*).\n"
    "\n"
    "  --base FILE        the pretrained model W_0 (safetensors)\n"
    "  --finetuned FILE   the fully fine-tuned model (same names and shapes)\n"
    "  --targets LIST     weight types (default q,k,v,o,fc_in,fc_out)\n"
    "  --seed N           seed of the random comparison matrix (default 1234)\n"
    "  -o, --output FILE  result (temporary name, renamed when complete)\n"
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

/* Is name "h.<l>.attn.<t>_proj.weight" or "h.<l>.mlp.<t>.weight" with t in targets? */
static int wanted(const char *name, const char *targets, char *module, size_t n)
{
    int layer, target;
    size_t l = strlen(name);
    if (l < 8 || strcmp(name + l - 7, ".weight") != 0 || l - 7 >= n)
        return 0;
    memcpy(module, name, l - 7);
    module[l - 7] = '\0';
    if (lsc_lora_module_parse(module, &layer, &target) != 0)
        return 0;
    const char *tn = lsc_lora_target_name(target);   /* "q_proj", "fc_in", ... */
    char list[256];
    snprintf(list, sizeof list, "%s", targets);
    for (char *t = strtok(list, ","); t; t = strtok(NULL, ",")) {
        int tt = lsc_lora_target_parse(t);
        if (tt == target || strcmp(t, tn) == 0)
            return 1;
    }
    return 0;
}

int cmd_deltaspec(int argc, char **argv)
{
    cli_opt opts[] = {{"base", 1, NULL},   {"finetuned", 1, NULL}, {"output", 1, NULL},
                      {"targets", 1, NULL}, {"seed", 1, NULL},     {"help", 0, NULL},
                      {NULL, 0, NULL}};
    const char *pos[1];
    int npos;
    int rc = cli_parse("deltaspec", argc, argv, opts, pos, 0, &npos);
    if (rc != CLI_OK)
        return rc;
    if (cli_flag(opts, "help")) {
        fputs(USAGE, stdout);
        return CLI_OK;
    }
    const char *base = cli_get(opts, "base"), *ft = cli_get(opts, "finetuned"),
               *out = cli_get(opts, "output");
    const char *targets = cli_get(opts, "targets");
    if (!targets)
        targets = "q,k,v,o,fc_in,fc_out";
    int bad = 0;
    long seed = cli_long(opts, "seed", 1234, &bad);
    if (bad)
        return CLI_USAGE;
    if (!base || !ft || !out)
        return cli_error("deltaspec", CLI_USAGE, "need --base, --finetuned and -o (see --help)");
    {
        char list[256];
        snprintf(list, sizeof list, "%s", targets);
        for (char *t = strtok(list, ","); t; t = strtok(NULL, ","))
            if (lsc_lora_target_parse(t) < 0)
                return cli_error("deltaspec", CLI_USAGE, "unknown target '%s' (q k v o fc_in fc_out)", t);
    }
    double t0 = cli_now();
    lsc_error err = {0};
    lsc_st_file fb, ff;
    memset(&fb, 0, sizeof fb);
    memset(&ff, 0, sizeof ff);
    lsc_h5 *h = NULL;
    double *W0 = NULL, *D = NULL, *S = NULL, *work = NULL;
    size_t cap = 0, wcap = 0;
    int n_mod = 0;
    if (lsc_st_open(&fb, base, &err) != LSC_OK || lsc_st_open(&ff, ft, &err) != LSC_OK) {
        rc = cli_lib_error("deltaspec", &err);
        goto fail;
    }
    if (lsc_h5_create(&h, out, &err) != LSC_OK) {
        rc = cli_lib_error("deltaspec", &err);
        goto fail;
    }
    uint64_t rng;
    lsc_rng_seed(&rng, (uint64_t)seed);
    for (int ti = 0; ti < fb.n_tensors; ti++) {
        const lsc_st_tensor *tb = &fb.tensors[ti];
        char module[128];
        if (tb->ndim != 2 || !wanted(tb->name, targets, module, sizeof module))
            continue;
        const lsc_st_tensor *tf = lsc_st_find(&ff, tb->name);
        if (!tf || tf->ndim != 2 || tf->shape[0] != tb->shape[0] || tf->shape[1] != tb->shape[1]) {
            rc = cli_error("deltaspec", CLI_FAIL, "%s: tensor %s missing or of another shape than in %s",
                           ft, tb->name, base);
            goto fail;
        }
        int d = (int)tb->shape[0], k = (int)tb->shape[1], mn = d < k ? d : k;
        size_t numel = (size_t)d * (size_t)k;
        size_t lw = lsc_svd_work_size(d, k, 0);
        if (numel > cap) {
            free(W0);
            free(D);
            free(S);
            W0 = malloc(numel * sizeof *W0);
            D = malloc(numel * sizeof *D);
            S = malloc((size_t)mn * sizeof *S + numel * sizeof *S);
            cap = numel;
            if (!W0 || !D || !S) {
                rc = cli_error("deltaspec", CLI_FAIL, "out of memory for %s (%d x %d)", tb->name, d, k);
                goto fail;
            }
        }
        if (lw > wcap) {
            free(work);
            work = malloc(lw * sizeof *work);
            wcap = lw;
            if (!work) {
                rc = cli_error("deltaspec", CLI_FAIL, "out of memory for the SVD workspace");
                goto fail;
            }
        }
        if (lsc_st_read_f64(&fb, tb, W0, &err) != LSC_OK || lsc_st_read_f64(&ff, tf, D, &err) != LSC_OK) {
            rc = cli_lib_error("deltaspec", &err);
            goto fail;
        }
        for (size_t i = 0; i < numel; i++)
            D[i] -= W0[i];
        stats sd, s0, sr;
        char g[256], p[300];
        snprintf(g, sizeof g, "/modules/%s", module);
        /* ΔW */
        if (lsc_svd(d, k, D, S, NULL, NULL, work, lw, &err) != LSC_OK) {
            rc = cli_error("deltaspec", CLI_FAIL, "%s: module %s: %s", ft, module, err.msg);
            goto fail;
        }
        summarise(S, mn, &sd);
        snprintf(p, sizeof p, "%s/singular_values", g);
        size_t dims[1] = {(size_t)mn};
        if (lsc_h5_write_f64(h, p, 1, dims, S, &err) != LSC_OK)
            goto h5fail;
        /* W_0 and a Gaussian matrix of the same shape, for scale */
        if (lsc_svd(d, k, W0, S, NULL, NULL, work, lw, &err) != LSC_OK) {
            rc = cli_error("deltaspec", CLI_FAIL, "%s: module %s: %s", base, module, err.msg);
            goto fail;
        }
        summarise(S, mn, &s0);
        for (size_t i = 0; i < numel; i++)
            D[i] = lsc_rng_normal(&rng);
        if (lsc_svd(d, k, D, S, NULL, NULL, work, lw, &err) != LSC_OK) {
            rc = cli_error("deltaspec", CLI_FAIL, "random %d x %d matrix: %s", d, k, err.msg);
            goto fail;
        }
        summarise(S, mn, &sr);
        if (lsc_h5_attr_int(h, g, "in_features", k, &err) != LSC_OK ||
            lsc_h5_attr_int(h, g, "out_features", d, &err) != LSC_OK ||
            lsc_h5_attr_int(h, g, "n_sv", mn, &err) != LSC_OK ||
            lsc_h5_attr_double(h, g, "delta_fro", sd.fro, &err) != LSC_OK ||
            lsc_h5_attr_double(h, g, "stable_rank", sd.stable_rank, &err) != LSC_OK ||
            lsc_h5_attr_int(h, g, "rank90", sd.rank90, &err) != LSC_OK ||
            lsc_h5_attr_double(h, g, "rank90_frac", (double)sd.rank90 / mn, &err) != LSC_OK ||
            lsc_h5_attr_double(h, g, "effective_rank", sd.effective_rank, &err) != LSC_OK ||
            lsc_h5_attr_double(h, g, "w0_fro", s0.fro, &err) != LSC_OK ||
            lsc_h5_attr_double(h, g, "w0_stable_rank", s0.stable_rank, &err) != LSC_OK ||
            lsc_h5_attr_int(h, g, "w0_rank90", s0.rank90, &err) != LSC_OK ||
            lsc_h5_attr_double(h, g, "w0_effective_rank", s0.effective_rank, &err) != LSC_OK ||
            lsc_h5_attr_double(h, g, "random_stable_rank", sr.stable_rank, &err) != LSC_OK ||
            lsc_h5_attr_int(h, g, "random_rank90", sr.rank90, &err) != LSC_OK ||
            lsc_h5_attr_double(h, g, "random_effective_rank", sr.effective_rank, &err) != LSC_OK)
            goto h5fail;
        n_mod++;
    }
    if (n_mod == 0) {
        rc = cli_error("deltaspec", CLI_FAIL, "%s: no weights of types %s found", base, targets);
        goto fail;
    }
    {
        lsc_h5_input inputs[2] = {{"base", base}, {"finetuned", ft}};
        lsc_h5_param params[3] = {{"targets", LSC_H5_STR, targets, 0, 0},
                                  {"seed", LSC_H5_INT, NULL, seed, 0},
                                  {"n_modules", LSC_H5_INT, NULL, n_mod, 0}};
        if (ana_write_provenance(h, t0, 2, inputs, 3, params, &err) != LSC_OK)
            goto h5fail;
    }
    lsc_h5 *hh = h;
    h = NULL;
    if (lsc_h5_commit(hh, &err) != LSC_OK) {
        rc = cli_lib_error("deltaspec", &err);
        goto fail;
    }
    printf("deltaspec: %s: %d modules (%.2f s)\n", out, n_mod, cli_now() - t0);
    rc = CLI_OK;
    goto done;
h5fail:
    rc = cli_lib_error("deltaspec", &err);
fail:
    lsc_h5_abort(h);
done:
    lsc_st_close(&fb);
    lsc_st_close(&ff);
    free(W0);
    free(D);
    free(S);
    free(work);
    return rc;
}
