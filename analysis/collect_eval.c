/*
 * collect_eval.c — learning against forgetting for `lorascope collect` (issue 17, Biderman et al.
 * 2024, "LoRA Learns Less and Forgets Less"): the evalj line brings the pretraining-text losses of
 * `lorascope eval --task lm --json-out` into the study file as each run's forgetting (its loss on
 * the base's held-out pretraining text minus the base's own loss on the same windows), and the
 * vforget / vlearn verdicts compare full fine-tuning with LoRA, paired over seeds.
 *
 *   evalj    CELL  BASE.json<TAB>SEED:FILE.json[<TAB>SEED:FILE.json ...]
 *            BASE.json: `eval --base B --data F --windows N --json-out` of the base alone;
 *            FILE.json: the same of the run of CELL with seed SEED (`--adapter RUN/adapter`, or
 *            `--base RUN/model.safetensors` for full fine-tuning). forgetting = FILE's last
 *            result's val_loss − BASE's. Both must be task lm with the same ctx and windows (the
 *            same fixed windows: a paired difference), and when FILE also scored the base first
 *            (an adapter's eval does) its base loss must equal BASE's.
 *            Writes /cells/CELL/{forgetting, forgetting_seeds, lm_loss, base_lm_loss} (one value
 *            per seed; nats per byte, or per token with a tokenizer), attributes forgetting_mean,
 *            _std, _lo95, _hi95 (95 % t-interval over the seeds, NaN with one seed), lm_loss_mean,
 *            base_lm_loss; /summary CELL.forgetting (+ _lo95, _hi95 with 2+ seeds), CELL.lm_loss.
 *   vforget  NAME  FULL LORA [LORA ...]   LoRA forgets less than full fine-tuning: per seed, the
 *            forgetting of cell FULL minus the mean forgetting of the LORA cells (the seeds every
 *            cell has), paired t-test over the seeds (lsc_verdict_better, null: no difference);
 *            effect in nats per byte. Needs the cells' evalj lines before it.
 *   vlearn   NAME  FULL LORA [LORA ...]   full fine-tuning learns more: the same with the test
 *            accuracy (rank classification when every run has it) in points.
 *
 * What it is not: an evaluation (`lorascope eval` computed every loss) or a statistic of its own
 * (lib/stats.c, lib/verdict.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cli.h"
#include "collect.h"

#define MAX_SEEDS 64
#define MAX_CELLS 32

// ---- reading one eval JSON ----

/* What the evalj line needs of one `lorascope eval --json-out` file. */
typedef struct lm_eval {
    double loss;        /* the last model's val_loss */
    double base_loss;   /* results[0]'s when it is the base and another model follows, else NaN */
    double ctx, windows;
    char   base[1024];
} lm_eval;

static double num_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* Reads path into *e; one line naming the file and the problem on failure. */
static int lm_eval_read(const char *path, lm_eval *e)
{
    cJSON *j = collect_json_file_(path);
    if (!j)
        return cli_error("collect", CLI_FAIL, "%s: missing or not JSON (an eval that did not finish?)", path);
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(j, "task");
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(j, "base");
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(j, "results");
    int nres = cJSON_IsArray(res) ? cJSON_GetArraySize(res) : 0;
    e->loss = num_of(j, "val_loss");
    e->ctx = num_of(j, "ctx");
    e->windows = num_of(j, "windows");
    e->base_loss = NAN;
    snprintf(e->base, sizeof e->base, "%s", cJSON_IsString(base) ? base->valuestring : "");
    if (nres >= 2) {
        const cJSON *r0 = cJSON_GetArrayItem(res, 0), *m0 = cJSON_GetObjectItemCaseSensitive(r0, "model");
        if (cJSON_IsString(m0) && strcmp(m0->valuestring, "base") == 0)
            e->base_loss = num_of(r0, "val_loss");
    }
    int lm = cJSON_IsString(task) && strcmp(task->valuestring, "lm") == 0;
    cJSON_Delete(j);
    if (!lm)
        return cli_error("collect", CLI_FAIL, "%s: not an eval of the pretraining text (task lm)", path);
    if (!isfinite(e->loss) || e->loss < 0 || !(e->ctx >= 1) || !(e->windows >= 0) || nres < 1)
        return cli_error("collect", CLI_FAIL, "%s: no finite val_loss >= 0, ctx, windows and results", path);
    return CLI_OK;
}

// ---- evalj ----

/* The per-seed values of one cell. */
typedef struct forget_cell {
    int    n;
    double seed[MAX_SEEDS], forget[MAX_SEEDS], loss[MAX_SEEDS], base[MAX_SEEDS];
} forget_cell;

/* One "SEED:FILE" field against the base's eval b, appended to *fc. */
static int evalj_field(const char *cell, const char *field, const lm_eval *b, const char *bpath, forget_cell *fc)
{
    char *end = NULL;
    long seed = strtol(field, &end, 10);
    if (end == field || *end != ':' || !end[1])
        return cli_error("collect", CLI_FAIL, "evalj %s: '%.200s' is not SEED:FILE.json", cell, field);
    if (fc->n >= MAX_SEEDS)
        return cli_error("collect", CLI_FAIL, "evalj %s: more than %d seeds", cell, MAX_SEEDS);
    const char *path = end + 1;
    lm_eval e;
    int rc = lm_eval_read(path, &e);
    if (rc != CLI_OK)
        return rc;
    if (e.ctx != b->ctx || e.windows != b->windows)
        return cli_error("collect", CLI_FAIL, "%s: ctx %g, windows %g but %s has ctx %g, windows %g (not the same "
                         "windows)", path, e.ctx, e.windows, bpath, b->ctx, b->windows);
    if (isfinite(e.base_loss) && strcmp(e.base, b->base) == 0 &&
        fabs(e.base_loss - b->loss) > 1e-6 * fmax(1.0, fabs(b->loss)))
        return cli_error("collect", CLI_FAIL, "%s: its base scored %.9g but %s %.9g (not the same windows or data)",
                         path, e.base_loss, bpath, b->loss);
    fc->seed[fc->n] = (double)seed;
    fc->loss[fc->n] = e.loss;
    fc->base[fc->n] = b->loss;
    fc->forget[fc->n] = e.loss - b->loss;
    fc->n++;
    return CLI_OK;
}

/* /cells/<cell>/<name> (n values) with its mean, sd and 95 % interval; /summary too when sum. */
static void put_series(wctx *w, const char *obj, const char *cell, const char *name, const double *x, int n,
                       int sum)
{
    char p[600];
    size_t dims[1] = {(size_t)n};
    snprintf(p, sizeof p, "%s/%s", obj, name);
    w_f64(w, p, 1, dims, x);
    lsc_ci ci;
    lsc_error e = {0};
    if (lsc_mean_ci(x, n, 0.95, &ci, &e) != LSC_OK || n < 2) {
        double m = 0;
        for (int i = 0; i < n; i++)
            m += x[i] / n;
        ci.mean = m;
        ci.sd = n == 1 ? 0.0 : NAN;
        ci.lo = ci.hi = NAN;
    }
    static const char *const suf[4] = {"mean", "std", "lo95", "hi95"};
    double v[4] = {ci.mean, ci.sd, ci.lo, ci.hi};
    for (int k = 0; k < 4; k++) {
        snprintf(p, sizeof p, "%s_%s", name, suf[k]);
        w_attr_d(w, obj, p, v[k]);
        if (sum && (k == 0 || (k >= 2 && isfinite(ci.lo))))
            collect_summary_(w, cell, k == 0 ? name : p, v[k]);
    }
}

int collect_evalj_(wctx *w, const char *cell, const char *value)
{
    char *buf = strdup(value);
    if (!buf)
        return cli_error("collect", CLI_FAIL, "out of memory");
    char *save = NULL, *bpath = strtok_r(buf, "\t", &save);
    forget_cell fc;
    memset(&fc, 0, sizeof fc);
    lm_eval b;
    int rc = bpath ? lm_eval_read(bpath, &b) : cli_error("collect", CLI_FAIL, "evalj %s: no BASE.json", cell);
    for (char *f = strtok_r(NULL, "\t", &save); f && rc == CLI_OK; f = strtok_r(NULL, "\t", &save))
        rc = evalj_field(cell, f, &b, bpath, &fc);
    if (rc == CLI_OK && fc.n == 0)
        rc = cli_error("collect", CLI_FAIL, "evalj %s: no SEED:FILE.json after %s", cell, bpath);
    free(buf);
    if (rc != CLI_OK)
        return rc;
    char obj[512];
    snprintf(obj, sizeof obj, "/cells/%s", cell);
    if (!lsc_h5_exists(w->h, "/cells"))
        w_group(w, "/cells");
    if (!lsc_h5_exists(w->h, obj))
        w_group(w, obj);
    size_t dims[1] = {(size_t)fc.n};
    char p[600];
    snprintf(p, sizeof p, "%s/forgetting_seeds", obj);
    w_f64(w, p, 1, dims, fc.seed);
    snprintf(p, sizeof p, "%s/base_lm_loss", obj);
    w_f64(w, p, 1, dims, fc.base);
    w_attr_d(w, obj, "base_lm_loss", fc.base[0]);
    put_series(w, obj, cell, "forgetting", fc.forget, fc.n, 1);
    put_series(w, obj, cell, "lm_loss", fc.loss, fc.n, 0);
    double ml = 0;
    for (int i = 0; i < fc.n; i++)
        ml += fc.loss[i] / fc.n;
    collect_summary_(w, cell, "lm_loss", ml);
    return w->rc == LSC_OK ? CLI_OK : cli_lib_error("collect", &w->err);
}

// ---- vforget, vlearn: full fine-tuning against the LoRA cells, paired by seed ----

/* Cell c's value at seed s into *v (0: the cell has no such seed). vforget: the forgetting
 * its evalj line wrote; vlearn: the run's accuracy (metric). */
static int cell_value(wctx *w, int forget, const char *c, long s, const char *metric, double *v)
{
    if (!forget) {
        for (int i = 0; i < w->nr; i++)
            if (strcmp(w->runs[i].cell, c) == 0 && w->runs[i].seed == s) {
                *v = strcmp(metric, "rank_accuracy") == 0 ? w->runs[i].rank_accuracy : w->runs[i].accuracy;
                return 1;
            }
        return 0;
    }
    char p[600], q[600];
    snprintf(p, sizeof p, "/cells/%.127s/forgetting", c);
    snprintf(q, sizeof q, "/cells/%.127s/forgetting_seeds", c);
    double x[MAX_SEEDS], sd[MAX_SEEDS];
    int nd;
    size_t dims[4];
    lsc_error e = {0};
    if (!lsc_h5_exists(w->h, p) || lsc_h5_dataset_shape(w->h, p, &nd, dims, 4, &e) != LSC_OK || nd != 1 ||
        dims[0] > MAX_SEEDS || lsc_h5_read_f64(w->h, p, dims[0], x, &e) != LSC_OK ||
        lsc_h5_read_f64(w->h, q, dims[0], sd, &e) != LSC_OK)
        return -1;
    for (size_t i = 0; i < dims[0]; i++)
        if ((long)sd[i] == s) {
            *v = x[i];
            return 1;
        }
    return 0;
}

/* The seeds of the first cell (w->runs, or its forgetting_seeds) into seeds (*n). */
static int cell_seeds(wctx *w, int forget, const char *c, long *seeds, int *n)
{
    *n = 0;
    if (forget) {
        char q[600];
        snprintf(q, sizeof q, "/cells/%.127s/forgetting_seeds", c);
        double sd[MAX_SEEDS];
        int nd;
        size_t dims[4];
        lsc_error e = {0};
        if (!lsc_h5_exists(w->h, q) || lsc_h5_dataset_shape(w->h, q, &nd, dims, 4, &e) != LSC_OK || nd != 1 ||
            dims[0] > MAX_SEEDS || lsc_h5_read_f64(w->h, q, dims[0], sd, &e) != LSC_OK)
            return 0;
        for (size_t i = 0; i < dims[0]; i++)
            seeds[(*n)++] = (long)sd[i];
        return 1;
    }
    for (int i = 0; i < w->nr && *n < MAX_SEEDS; i++)
        if (strcmp(w->runs[i].cell, c) == 0)
            seeds[(*n)++] = w->runs[i].seed;
    return *n > 0;
}

/* Per seed: a[k] = cell cells[0], b[k] = the mean of cells[1..nc-1]; seeds every cell has. */
static int pool_pairs(wctx *w, const char *kind, const char *name, char cells[][128], int nc, const char *metric,
                      double *a, double *b, int *n)
{
    int forget = strcmp(kind, "vforget") == 0;
    long seeds[MAX_SEEDS];
    int ns = 0;
    *n = 0;
    for (int c = 0; c < nc; c++) {
        long tmp[MAX_SEEDS];
        int nt;
        if (!cell_seeds(w, forget, cells[c], c == 0 ? seeds : tmp, c == 0 ? &ns : &nt))
            return cli_error("collect", CLI_FAIL, "%s %s: no %s of cell '%s'%s", kind, name,
                             forget ? "forgetting" : "runs", cells[c], forget ? " (its evalj line first)" : "");
    }
    for (int k = 0; k < ns; k++) {
        double x, sum = 0;
        int all = cell_value(w, forget, cells[0], seeds[k], metric, &x) == 1;
        for (int c = 1; c < nc && all; c++) {
            double y;
            all = cell_value(w, forget, cells[c], seeds[k], metric, &y) == 1;
            sum += y;
        }
        if (all) {
            a[*n] = forget ? x : 100 * x;
            b[*n] = forget ? sum / (nc - 1) : 100 * sum / (nc - 1);
            (*n)++;
        }
    }
    return CLI_OK;
}

int collect_vpool_(wctx *w, const char *kind, const char *name, const char *value, FILE *dat)
{
    char cells[MAX_CELLS][128];
    int nc = 0, off = 0, used;
    while (nc < MAX_CELLS && sscanf(value + off, "%127s%n", cells[nc], &used) == 1) {
        off += used;
        nc++;
    }
    if (nc < 2)
        return cli_error("collect", CLI_FAIL, "%s %s: value must be FULL_CELL LORA_CELL [LORA_CELL ...], not '%s'",
                         kind, name, value);
    int forget = strcmp(kind, "vforget") == 0;
    const char *metric = forget ? "forgetting" : collect_metric_of_(w->runs, w->nr);
    double a[MAX_SEEDS], b[MAX_SEEDS];
    int n, rc = pool_pairs(w, kind, name, cells, nc, metric, a, b, &n);
    if (rc != CLI_OK)
        return rc;
    lsc_verdict v;
    lsc_error e = {0};
    if (lsc_verdict_better(a, b, n, 0.05, &v, &e) != LSC_OK)
        return cli_error("collect", CLI_FAIL, "%s %s: %s", kind, name, e.msg);
    double ma = 0, mb = 0;
    for (int i = 0; i < n; i++) {
        ma += a[i] / n;
        mb += b[i] / n;
    }
    if (v.state != LSC_NOT_MEASURED)
        snprintf(v.evidence, sizeof v.evidence, "%s%s: full fine-tuning %.4g, LoRA (%d cell%s) %.4g; paired "
                 "difference %+.4g %s, 95%% interval [%.4g, %.4g], p = %.2g over %d seeds",
                 forget ? "forgetting (loss increase on the held-out pretraining text)" : "test accuracy",
                 forget ? "" : strcmp(metric, "rank_accuracy") == 0 ? " (rank classification, %)" : " (exact match, %)",
                 ma, nc - 1,
                 nc == 2 ? "" : "s pooled", mb, v.effect, forget ? "nats per byte" : "points", v.lo, v.hi, v.p, n);
    collect_put_verdict_(w, name, &v, metric);
    char obj[320], lora[MAX_CELLS * 129] = "";
    for (int c = 1; c < nc; c++)
        snprintf(lora + strlen(lora), sizeof lora - strlen(lora), "%s%s", c > 1 ? " " : "", cells[c]);
    snprintf(obj, sizeof obj, "/verdicts/%s", name);
    w_attr_s(w, obj, "cell_full", cells[0]);
    w_attr_s(w, obj, "cells_lora", lora);
    collect_summary_(w, name, "full_mean", ma);
    collect_summary_(w, name, "lora_mean", mb);
    collect_verdict_row_(dat, name, "-", &v, ma, mb, NAN);
    return w->rc == LSC_OK ? CLI_OK : cli_lib_error("collect", &w->err);
}
