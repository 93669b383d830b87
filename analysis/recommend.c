/*
 * recommend.c — `lorascope recommend-ranks ADAPTER [--energy E] [--pattern OUT.json]
 * [--plots DIR]`: per module the smallest rank K that keeps the fraction E of the energy
 * of dW = s·B·A (Σ_{i<=K} σ_i² / Σ σ_i² >= E; singular values through lib/lowrank.c's
 * low-rank path), printed, written as a PEFT-style rank_pattern JSON object
 * {"<module>": K, ...} (each key matches exactly that module under PEFT's rule; `train
 * --rank-pattern-file` reads it) and drawn per layer (one line per module type).
 *
 * What it is not: a resize (lorascope resize --energy E writes the adapter itself), nor a
 * statement about accuracy: the energy of the update is a proxy for what a smaller rank
 * keeps.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis_common.h"
#include "cli.h"
#include "commands.h"
#include "delta_pairs.h"
#include "surgery.h"

static const char *USAGE =
    "usage: lorascope recommend-ranks ADAPTER [--energy E] [--pattern OUT.json] [--plots DIR]\n"
    "       lorascope recommend-ranks --full-base W0 --full-model WFT [--targets LIST] [...]\n"
    "\n"
    "Per module the smallest rank K with sum_{i<=K} s_i^2 / sum s_i^2 >= E for the singular\n"
    "values s_i of dW = s·B·A: printed, and with --pattern written as a rank_pattern JSON\n"
    "object {\"<module>\": K} (each key matches that module alone under PEFT's rule) that\n"
    "`lorascope train --rank-pattern-file` accepts; with --plots a per-layer figure.\n"
    "With --full-base/--full-model (as extract takes them: safetensors files or Hugging\n"
    "Face folders) the same for dW = W_ft - W_0 of a full fine-tuning run (dense SVD,\n"
    "one module at a time).\n"
    "\n"
    "  --energy E         the energy to keep (0 < E <= 1; default 0.9)\n"
    "  --pattern FILE     write the rank_pattern JSON there (atomically)\n"
    "  --plots DIR        write DIR/recommend.dat and the figure DIR/recommend.{png,svg,pdf}\n"
    "  --full-base PATH   instead of ADAPTER: the pretrained model W_0 ...\n"
    "  --full-model PATH  ... and the fully fine-tuned model (same names and shapes)\n"
    "  --targets LIST     with --full-*: weight types (default: all)\n"
    "  -h, --help         this text\n"
    "\n"
    "example:\n"
    "  lorascope recommend-ranks adapter_r64 --energy 0.9 --pattern ranks.json --plots fig\n";

/* The layer number's part of a module name: its first all-digit dotted part, or NULL. */
static const char *rr_layer_part(const char *name)
{
    for (const char *p = name; *p; p++) {
        if (p != name && p[-1] != '.')
            continue;
        const char *q = p;
        while (isdigit((unsigned char)*q))
            q++;
        if (q > p && (*q == '.' || *q == '\0'))
            return p;
    }
    return NULL;
}

/* The layer of a module name, else -1. */
static int rr_layer(const char *name)
{
    const char *p = rr_layer_part(name);
    return p ? atoi(p) : -1;
}

/* The module type: what follows the layer number ("attn.c_proj", "mlp.c_proj"), else the
 * last dotted part. */
static const char *rr_type(const char *name)
{
    const char *p = rr_layer_part(name);
    if (p) {
        p += strspn(p, "0123456789");
        if (*p == '.' && p[1])
            return p + 1;
    }
    const char *t = strrchr(name, '.');
    return t ? t + 1 : name;
}

/* K per module (ranks), the singular values through the low-rank path. */
static int rr_ranks(const char *path, const lsc_adapter *ad, double energy, int *ranks)
{
    for (int i = 0; i < ad->n_modules; i++) {
        const lsc_adapter_module *m = &ad->modules[i];
        int d = m->out_features, k = m->in_features, r = m->r;
        size_t lw = lsc_lowrank_svd_work_size(d, k, r, 0), dr = (size_t)d * (size_t)r, rk = (size_t)r * (size_t)k;
        double *w = malloc((lw + dr + rk + (size_t)r) * sizeof *w);
        if (!w)
            return cli_error("recommend-ranks", CLI_FAIL, "out of memory for module %s", cli_safe(m->name));
        double *Bd = w + lw, *Ad = Bd + dr, *S = Ad + rk;
        ana_to_double(dr, m->B, Bd);
        ana_to_double(rk, m->A, Ad);
        lsc_error err = {0};
        int rc = lsc_lowrank_svd(d, k, r, m->scaling, Bd, Ad, S, NULL, NULL, w, lw, &err);
        int n = r < d ? (r < k ? r : k) : (d < k ? d : k);
        if (rc == LSC_OK)
            ranks[i] = lsc_rank_choose(n, S, LSC_RANK_RULE_ENERGY, energy);
        free(w);
        if (rc != LSC_OK)
            return cli_error("recommend-ranks", CLI_FAIL, "%s: module %s: %s", path, cli_safe(m->name), err.msg);
    }
    return CLI_OK;
}

/* {"key": K, ...} into file (atomically), keys from surg_unique_key. */
static int rr_write_pattern(const char *file, const lsc_adapter *ad, const int *ranks)
{
    int n = ad->n_modules, rc = CLI_OK;
    const char **names = malloc((size_t)n * sizeof *names);
    if (!names)
        return cli_error("recommend-ranks", CLI_FAIL, "out of memory");
    for (int i = 0; i < n; i++)
        names[i] = ad->modules[i].name;
    lsc_atomic a = {0};
    lsc_error err = {0};
    if (lsc_atomic_open(&a, file, &err) != LSC_OK) {
        free(names);
        return cli_lib_error("recommend-ranks", &err);
    }
    fprintf(a.fp, "{");
    for (int i = 0; i < n && rc == CLI_OK; i++) {
        char *key = NULL, esc[2100];
        if ((rc = surg_unique_key("recommend-ranks", n, names, i, &key)) != CLI_OK)
            break;
        size_t o = 0;   /* JSON string escape of the key */
        for (const char *s = key; *s && o + 8 < sizeof esc; s++) {
            unsigned char c = (unsigned char)*s;
            if (c == '"' || c == '\\')
                o += (size_t)snprintf(esc + o, sizeof esc - o, "\\%c", c);
            else if (c < 0x20)
                o += (size_t)snprintf(esc + o, sizeof esc - o, "\\u%04x", c);
            else
                esc[o++] = (char)c;
        }
        esc[o] = '\0';
        fprintf(a.fp, "%s\n  \"%s\": %d", i ? "," : "", esc, ranks[i]);
        free(key);
    }
    fprintf(a.fp, "\n}\n");
    free(names);
    if (rc != CLI_OK) {
        lsc_atomic_abort(&a);
        return rc;
    }
    return lsc_atomic_commit(&a, &err) == LSC_OK ? CLI_OK : cli_lib_error("recommend-ranks", &err);
}

/* DIR/recommend.dat (header "layer TYPE...", a row per layer) and the figure. */
static int rr_plot(const char *dir, const char *path, const lsc_adapter *ad, const int *ranks, double energy)
{
    enum { MAXT = 32 };
    const char *types[MAXT];
    int nt = 0, maxl = -1, n = ad->n_modules;
    for (int i = 0; i < n; i++) {
        const char *t = rr_type(ad->modules[i].name);
        int have = 0;
        for (int q = 0; q < nt; q++)
            have |= strcmp(types[q], t) == 0;
        if (!have && nt < MAXT)
            types[nt++] = t;
        int l = rr_layer(ad->modules[i].name);
        maxl = l > maxl ? l : maxl;
    }
    lsc_atomic a = {0};
    FILE *f = ana_data_open("recommend-ranks", dir, "recommend.dat", &a);
    if (!f)
        return CLI_FAIL;
    fprintf(f, "layer");
    for (int q = 0; q < nt; q++)
        fprintf(f, " %s", cli_safe(types[q]));
    fprintf(f, "\n");
    for (int l = maxl < 0 ? -1 : 0; l <= maxl; l++) {
        fprintf(f, "%d", l);
        for (int q = 0; q < nt; q++) {
            int K = -1;
            for (int i = 0; i < n; i++)
                if (rr_layer(ad->modules[i].name) == l && strcmp(rr_type(ad->modules[i].name), types[q]) == 0)
                    K = ranks[i] > K ? ranks[i] : K;
            if (K < 0)
                fprintf(f, " NaN");
            else
                fprintf(f, " %d", K);
        }
        fprintf(f, "\n");
    }
    if (ana_data_close("recommend-ranks", &a) != CLI_OK)
        return CLI_FAIL;
    char vars[8192];
    snprintf(vars, sizeof vars,
             "datafile='%s/recommend.dat'; outbase='%s/recommend'; plottitle='Rank for %.3g of the energy of dW'; "
             "ncol=%d; footnote='adapter: %s'", dir, dir, energy, nt + 1, cli_safe(path));
    return ana_draw_figure("recommend-ranks", dir, "recommend.gp", "recommend", vars);
}

/* --full-base/--full-model: K per weight of dW = W_ft − W_0 (dense SVD, values only). */
typedef struct rr_full {
    const ana_delta_files *f;
    lsc_adapter ad;     /* names, r = min(d, k), in/out features only (no factors) */
    int        *ranks, cap;
    double      energy;
    double     *W0, *D, *S, *work;
    size_t      numel_cap, work_cap;
} rr_full;

static int rr_full_module(void *ctx, const char *module, const lsc_st_tensor *tb, const lsc_st_tensor *tf)
{
    rr_full *c = ctx;
    int d = (int)tb->shape[0], k = (int)tb->shape[1], mn = d < k ? d : k;
    size_t numel = (size_t)d * (size_t)k, lw = lsc_svd_work_size(d, k, 0);
    if (c->ad.n_modules == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        lsc_adapter_module *m = realloc(c->ad.modules, (size_t)cap * sizeof *m);
        if (m)
            c->ad.modules = m;
        int *r = realloc(c->ranks, (size_t)cap * sizeof *r);
        if (r)
            c->ranks = r;
        if (!m || !r)
            return cli_error("recommend-ranks", CLI_FAIL, "out of memory");
        c->cap = cap;
    }
    if (numel > c->numel_cap || lw > c->work_cap) {
        free(c->W0), free(c->D), free(c->S), free(c->work);
        c->W0 = malloc(numel * sizeof(double));
        c->D = malloc(numel * sizeof(double));
        c->S = malloc(numel * sizeof(double));   /* >= min(d, k) */
        c->work = malloc(lw * sizeof(double));
        c->numel_cap = numel;
        c->work_cap = lw;
        if (!c->W0 || !c->D || !c->S || !c->work) {
            c->numel_cap = c->work_cap = 0;
            return cli_error("recommend-ranks", CLI_FAIL, "out of memory for %s (%d x %d)", module, d, k);
        }
    }
    int rc = ana_delta_read("recommend-ranks", c->f, tb, tf, c->W0, c->D);
    if (rc != CLI_OK)
        return rc;
    lsc_error err = {0};
    if (lsc_svd(d, k, c->D, c->S, NULL, NULL, c->work, lw, &err) != LSC_OK)
        return cli_error("recommend-ranks", CLI_FAIL, "%s: module %s: %s", c->f->ft, module, err.msg);
    lsc_adapter_module *am = &c->ad.modules[c->ad.n_modules];
    memset(am, 0, sizeof *am);
    if (!(am->name = strdup(module)))
        return cli_error("recommend-ranks", CLI_FAIL, "out of memory");
    am->r = mn;
    am->in_features = k;
    am->out_features = d;
    c->ranks[c->ad.n_modules++] = lsc_rank_choose(mn, c->S, LSC_RANK_RULE_ENERGY, c->energy);
    return CLI_OK;
}

/* Loads ad (an adapter, or the full-delta pairs) and its ranks. */
static int rr_load(const cli_opt *opts, const char *path, double energy, lsc_adapter *ad, int **ranks)
{
    const char *fb = cli_get(opts, "full-base"), *fm = cli_get(opts, "full-model");
    int rc;
    if (!fb) {
        if ((rc = ana_load_adapter("recommend-ranks", path, ad)) != CLI_OK)
            return rc;
        if ((rc = surg_check_kinds("recommend-ranks", path, ad)) != CLI_OK)
            return rc;
        if (!(*ranks = calloc((size_t)ad->n_modules, sizeof **ranks)))
            return cli_error("recommend-ranks", CLI_FAIL, "out of memory");
        return rr_ranks(path, ad, energy, *ranks);
    }
    const char *targets = cli_get(opts, "targets") ? cli_get(opts, "targets") : ANA_DELTA_ALL_TARGETS;
    if (ana_delta_targets_check("recommend-ranks", targets) != CLI_OK)
        return CLI_USAGE;
    ana_delta_files f;
    rr_full c;
    memset(&c, 0, sizeof c);
    c.f = &f;
    c.energy = energy;
    int n_mod = 0;
    rc = ana_delta_open("recommend-ranks", &f, fb, fm);
    if (rc == CLI_OK)
        rc = ana_delta_each("recommend-ranks", &f, targets, rr_full_module, &c, &n_mod);
    ana_delta_close(&f);
    free(c.W0), free(c.D), free(c.S), free(c.work);
    *ad = c.ad;
    *ranks = c.ranks;
    return rc;
}

int cmd_recommend(int argc, char **argv)
{
    cli_opt opts[] = {{"energy", 1, NULL}, {"pattern", 1, NULL}, {"plots", 1, NULL}, {"full-base", 1, NULL},
                      {"full-model", 1, NULL}, {"targets", 1, NULL}, {"help", 0, NULL}, {NULL, 0, NULL}};
    const char *pos[2], *path = NULL;
    int help = 0, bad = 0, npos = 0;
    int rc = ana_parse_args("recommend-ranks", USAGE, argc, argv, opts, pos, 2, &npos, &help);
    if (rc != CLI_OK || help)
        return rc;
    int full = cli_get(opts, "full-base") != NULL;
    if (full != (cli_get(opts, "full-model") != NULL) || npos != !full)
        return cli_error("recommend-ranks", CLI_USAGE, "give one ADAPTER, or --full-base and --full-model");
    path = full ? cli_get(opts, "full-model") : pos[0];
    double energy = cli_double(opts, "energy", 0.9, &bad);
    if (bad)
        return CLI_USAGE;
    if (!(energy > 0 && energy <= 1))
        return cli_error("recommend-ranks", CLI_USAGE, "--energy %g: must be in (0, 1]", energy);
    const char *plots = cli_get(opts, "plots"), *pattern = cli_get(opts, "pattern");
    if (plots && (rc = ana_prepare_plots("recommend-ranks", plots)) != CLI_OK)
        return rc;
    lsc_adapter ad;
    memset(&ad, 0, sizeof ad);
    int *ranks = NULL;
    if ((rc = rr_load(opts, path, energy, &ad, &ranks)) == CLI_OK) {
        for (int i = 0; i < ad.n_modules; i++)
            printf("  %-40s %s=%-4d -> %d\n", cli_safe(ad.modules[i].name), full ? "min(d,k)" : "r",
                   ad.modules[i].r, ranks[i]);
        if (pattern && (rc = rr_write_pattern(pattern, &ad, ranks)) == CLI_OK)
            printf("rank_pattern: %s\n", pattern);
        if (rc == CLI_OK && plots)
            rc = rr_plot(plots, path, &ad, ranks, energy);
    }
    free(ranks);
    lsc_adapter_free(&ad);
    return rc;
}
