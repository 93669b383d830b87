/*
 * collect_runs.c — the runs of a study for `lorascope collect`: each "run CELL RUN_DIR" line's
 * run.json, final validation metrics (RUN_DIR/eval.json, else train_log.h5's root attributes),
 * trainable-parameter count and adapter checksum; then /runs/<id>, the per-cell mean and spread
 * over seeds in /cells/<cell> (with the --dat table), and the root's seeds.
 *
 * What it is not: an evaluation. Every number comes from the run's own files; this file only
 * averages them (sample standard deviation over seeds) and copies them.
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cli.h"
#include "collect.h"

// ---- reading a run ----

static cJSON *json_file(const char *path)
{
    FILE *fp = lsc_file_open_read(path, NULL);
    if (!fp)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0, got;
    char tmp[4096];
    while ((got = fread(tmp, 1, sizeof tmp, fp)) > 0) {
        if (len + got + 1 > cap) {
            cap = 2 * (len + got + 1);
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(fp);
                return NULL;
            }
            buf = nb;
        }
        memcpy(buf + len, tmp, got);
        len += got;
    }
    fclose(fp);
    if (!buf)
        return NULL;
    buf[len] = '\0';
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    return j;
}

struct cJSON *collect_json_file_(const char *path) { return json_file(path); }

/* The first numeric member among names (a NULL-terminated list), else NAN. A number that is
 * not finite in [lo, hi] (integral when integral is set: it is converted to an integer) is
 * recorded in *bad (the first one, naming path and the key) and read as NAN (issue 15). */
static double json_num_in(const cJSON *j, const char *const *names, double lo, double hi, int integral,
                          const char *path, lsc_error *bad)
{
    for (; *names; names++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, *names);
        if (cJSON_IsNumber(v)) {
            lsc_error e = {0};
            if (lsc_json_num_check(v->valuedouble, lo, hi, integral, path, *names, &e) == LSC_OK)
                return v->valuedouble;
            if (!bad->code)
                *bad = e;
            return NAN;
        }
        if (cJSON_IsNull(v))
            return NAN;
    }
    return NAN;
}

/* A finite number (json_num_in). */
static double json_num(const cJSON *j, const char *const *names, const char *path, lsc_error *bad)
{
    return json_num_in(j, names, -DBL_MAX, DBL_MAX, 0, path, bad);
}

static void json_str(const cJSON *j, const char *name, char *out, size_t n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    snprintf(out, n, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

/* Trainable parameters of an adapter (sum of r·(in+out)) or a full model (every tensor). */
static long count_trainable(const run *r)
{
    char path[1100];
    lsc_error err = {0};
    if (strcmp(r->kind, "full") == 0) {
        snprintf(path, sizeof path, "%s/model.safetensors", r->dir);
        lsc_st_file f;
        if (lsc_st_open(&f, path, &err) != LSC_OK)
            return -1;
        long n = 0;
        for (int i = 0; i < f.n_tensors; i++)
            n += (long)f.tensors[i].numel;
        lsc_st_close(&f);
        return n;
    }
    snprintf(path, sizeof path, "%s/adapter", r->dir);
    lsc_adapter ad;
    if (lsc_adapter_load(&ad, path, &err) != LSC_OK) {
        lsc_adapter_free(&ad);
        return -1;
    }
    long n = 0;
    for (int i = 0; i < ad.n_modules; i++)
        n += (long)ad.modules[i].r * (ad.modules[i].in_features + ad.modules[i].out_features);
    lsc_adapter_free(&ad);
    return n;
}

/* The metrics a run may lack (NaN then): rank classification and the dev split (issue 12), and
 * ‖ΔW‖/‖W‖ over its modules. */
static void read_optional(const lsc_h5 *h, run *r)
{
    static const struct { const char *name; size_t off; } opt[] = {
        {"rank_accuracy", offsetof(run, rank_accuracy)},
        {"dev_accuracy", offsetof(run, dev_accuracy)},
        {"dev_rank_accuracy", offsetof(run, dev_rank_accuracy)},
        {"dw_ratio_median", offsetof(run, dw_ratio_median)},
        {"dw_ratio_max", offsetof(run, dw_ratio_max)},
    };
    for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++) {
        lsc_error e = {0};
        double *v = (double *)((char *)r + opt[i].off);
        *v = NAN;
        lsc_h5_read_attr_double(h, "/", opt[i].name, v, &e);
    }
}

int collect_run_read_(run *r, const char *cell, const char *dir)
{
    memset(r, 0, sizeof *r);
    r->rank_accuracy = r->dev_accuracy = r->dev_rank_accuracy = r->dw_ratio_median = r->dw_ratio_max = NAN;
    snprintf(r->cell, sizeof r->cell, "%s", cell);
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    size_t l = strlen(r->dir);
    while (l > 1 && r->dir[l - 1] == '/')
        r->dir[--l] = '\0';
    char path[1100];
    snprintf(path, sizeof path, "%s/run.json", r->dir);
    cJSON *j = json_file(path);
    if (!j)
        return cli_error("collect", CLI_FAIL, "%s: missing or not JSON (an unfinished run?)", path);
    json_str(j, "id", r->id, sizeof r->id);
    json_str(j, "kind", r->kind, sizeof r->kind);
    json_str(j, "targets", r->targets, sizeof r->targets);
    json_str(j, "config_sha", r->config_sha, sizeof r->config_sha);
    const char *k_rank[] = {"rank", NULL}, *k_seed[] = {"seed", NULL},
               *k_ts[] = {"train_seconds", NULL}, *k_es[] = {"eval_seconds", NULL};
    /* eval_seconds is absent when the metrics come from train's own final evaluation */
    lsc_error bad = {0};
    double rk = json_num_in(j, k_rank, 0, INT_MAX, 1, path, &bad);
    double sd = json_num_in(j, k_seed, -9007199254740992.0, 9007199254740992.0, 1, path, &bad);
    r->rank = isfinite(rk) ? (int)rk : 0;
    r->seed = isfinite(sd) ? (long)sd : 0;
    r->train_seconds = json_num(j, k_ts, path, &bad);
    r->eval_seconds = json_num(j, k_es, path, &bad);
    const char *k_cpu[] = {"cpu_seconds", NULL}, *k_lr[] = {"lr", NULL};
    r->cpu_seconds = json_num(j, k_cpu, path, &bad);
    r->lr = json_num(j, k_lr, path, &bad);
    cJSON_Delete(j);
    if (bad.code)
        return cli_lib_error("collect", &bad);
    if (!r->id[0]) {
        const char *b = strrchr(r->dir, '/');
        snprintf(r->id, sizeof r->id, "%.127s", b ? b + 1 : r->dir);
    }
    /* metrics: eval.json (`lorascope eval --json-out FILE`) when the run has one, else the final
     * validation metrics `lorascope train` keeps as root attributes of train_log.h5 */
    snprintf(path, sizeof path, "%s/eval.json", r->dir);
    j = json_file(path);
    if (j) {
        /* {"accuracy", "val_loss", "perplexity", "items", "majority_accuracy", "suffix_accuracy",
         *  "results": [{"model", "val_loss", "perplexity", "accuracy"}...]}: the last result is the
         * run's adapter (or model) */
        const cJSON *top = j;
        const cJSON *res = cJSON_GetObjectItemCaseSensitive(j, "results");
        if (cJSON_IsArray(res) && cJSON_GetArraySize(res) > 0)
            j = cJSON_GetArrayItem(res, cJSON_GetArraySize(res) - 1);
        const char *k_acc[] = {"accuracy", "exact_match", NULL};
        const char *k_loss[] = {"val_loss", "loss", NULL};
        const char *k_ppl[] = {"perplexity", "ppl", NULL};
        const char *k_maj[] = {"majority_accuracy", "majority", NULL};
        const char *k_suf[] = {"suffix_accuracy", "suffix4", "suffix", NULL};
        const char *k_n[] = {"n_items", "items", "n", NULL};
        r->accuracy = json_num(j, k_acc, path, &bad);
        r->val_loss = json_num(j, k_loss, path, &bad);
        r->perplexity = json_num(j, k_ppl, path, &bad);
        r->majority = json_num(top, k_maj, path, &bad);
        r->suffix = json_num(top, k_suf, path, &bad);
        double n = json_num_in(top, k_n, 0, 9007199254740992.0, 1, path, &bad);
        r->n_items = isfinite(n) ? (long)n : -1;
        cJSON_Delete((cJSON *)top);
        if (bad.code)
            return cli_lib_error("collect", &bad);
    } else {
        snprintf(path, sizeof path, "%s/train_log.h5", r->dir);
        lsc_h5 *h = NULL;
        lsc_error e = {0};
        if (lsc_h5_open(&h, path, &e) != LSC_OK)
            return cli_error("collect", CLI_FAIL, "%s: no eval.json and %s", r->dir, e.msg);
        double n = NAN;
        r->accuracy = r->val_loss = r->perplexity = r->majority = r->suffix = NAN;
        if (lsc_h5_read_attr_double(h, "/", "accuracy", &r->accuracy, &e) != LSC_OK ||
            lsc_h5_read_attr_double(h, "/", "label_loss", &r->val_loss, &e) != LSC_OK) {
            lsc_h5_close(h);
            return cli_error("collect", CLI_FAIL, "%s: no final validation metrics (accuracy, "
                             "label_loss): %s", path, e.msg);
        }
        r->perplexity = exp(r->val_loss);
        lsc_h5_read_attr_double(h, "/", "majority_baseline", &r->majority, &e);
        lsc_h5_read_attr_double(h, "/", "suffix4_baseline", &r->suffix, &e);
        lsc_h5_read_attr_double(h, "/", "eval_items", &n, &e);
        r->n_items = n >= 0 && n <= 9007199254740992.0 ? (long)n : -1;
        read_optional(h, r);
        lsc_h5_close(h);
    }
    if (!isfinite(r->accuracy) && !isfinite(r->val_loss))
        return cli_error("collect", CLI_FAIL, "%s: neither accuracy nor val_loss", r->dir);
    r->trainable = count_trainable(r);
    lsc_error err = {0};
    snprintf(path, sizeof path, "%s/%s", r->dir,
             strcmp(r->kind, "full") == 0 ? "model.safetensors" : "adapter");
    if (lsc_sha256_path(path, r->sha256, &err) != LSC_OK)
        return cli_error("collect", CLI_FAIL, "%s: cannot checksum: %s", path, err.msg);
    return CLI_OK;
}

// ---- writing runs and cells ----

static void write_runs(wctx *w, const run *runs, int nr)
{
    char obj[512];
    for (int i = 0; i < nr; i++) {
        const run *r = &runs[i];
        snprintf(obj, sizeof obj, "/runs/%s", r->id);
        w_group(w, obj);
        w_attr_s(w, obj, "cell", r->cell);
        w_attr_s(w, obj, "kind", r->kind);
        w_attr_s(w, obj, "targets", r->targets);
        w_attr_i(w, obj, "rank", r->rank);
        w_attr_i(w, obj, "seed", r->seed);
        w_attr_s(w, obj, "config_sha", r->config_sha);
        w_attr_s(w, obj, "dir", r->dir);
        w_attr_s(w, obj, strcmp(r->kind, "full") ? "adapter_sha256" : "model_sha256", r->sha256);
        w_attr_i(w, obj, "trainable_params", r->trainable);
        w_attr_i(w, obj, "n_items", r->n_items);
        w_attr_d(w, obj, "accuracy", r->accuracy);
        w_attr_d(w, obj, "val_loss", r->val_loss);
        w_attr_d(w, obj, "perplexity", r->perplexity);
        w_attr_d(w, obj, "majority_accuracy", r->majority);
        w_attr_d(w, obj, "suffix_accuracy", r->suffix);
        w_attr_d(w, obj, "rank_accuracy", r->rank_accuracy);
        w_attr_d(w, obj, "dev_accuracy", r->dev_accuracy);
        w_attr_d(w, obj, "dev_rank_accuracy", r->dev_rank_accuracy);
        w_attr_d(w, obj, "dw_ratio_median", r->dw_ratio_median);
        w_attr_d(w, obj, "dw_ratio_max", r->dw_ratio_max);
        w_attr_d(w, obj, "lr", r->lr);
        w_attr_d(w, obj, "train_seconds", r->train_seconds);
        if (isfinite(r->eval_seconds))
            w_attr_d(w, obj, "eval_seconds", r->eval_seconds);
        w_attr_d(w, obj, "cpu_seconds", r->cpu_seconds);
    }
}

/* One per-seed quantity of a cell: its values, mean and 95 % t-interval over the seeds. */
typedef struct cell_stat {
    const char *name;
    double      x[64];
    lsc_ci      ci;
} cell_stat;

static void stat_finish(cell_stat *c, int n)
{
    lsc_error e = {0};
    int finite = n > 0;
    for (int i = 0; i < n; i++)
        finite &= isfinite(c->x[i]);
    if (!finite || lsc_mean_ci(c->x, n, 0.95, &c->ci, &e) != LSC_OK) {
        memset(&c->ci, 0, sizeof c->ci);
        c->ci.n = n;
        c->ci.mean = c->ci.sd = c->ci.lo = c->ci.hi = NAN;
    }
    if (n == 1)
        c->ci.sd = 0.0;   /* one seed: no spread (the interval stays NaN) */
}

/* /cells/<cell>/<name> (the per-seed values) and its attributes <name>_{mean,std,lo95,hi95};
 * /summary "<cell>.<name>" (and _lo95/_hi95 when there is an interval). */
static void write_stat(wctx *w, const char *obj, const char *cell, const cell_stat *c, int n)
{
    char p[600];
    size_t dims[1] = {(size_t)n};
    snprintf(p, sizeof p, "%s/%s", obj, c->name);
    w_f64(w, p, 1, dims, c->x);
    snprintf(p, sizeof p, "%s_mean", c->name);
    w_attr_d(w, obj, p, c->ci.mean);
    snprintf(p, sizeof p, "%s_std", c->name);
    w_attr_d(w, obj, p, c->ci.sd);
    snprintf(p, sizeof p, "%s_lo95", c->name);
    w_attr_d(w, obj, p, c->ci.lo);
    snprintf(p, sizeof p, "%s_hi95", c->name);
    w_attr_d(w, obj, p, c->ci.hi);
    collect_summary_(w, cell, c->name, c->ci.mean);
    if (isfinite(c->ci.lo)) {
        snprintf(p, sizeof p, "%s_lo95", c->name);
        collect_summary_(w, cell, p, c->ci.lo);
        snprintf(p, sizeof p, "%s_hi95", c->name);
        collect_summary_(w, cell, p, c->ci.hi);
    }
}

enum { ST_ACC, ST_LOSS, ST_RANK, ST_DEV, ST_DEVRANK, ST_DW, ST_N };

/* The cell of runs[i] (its first run): every run of the cell (at most 64), mean and 95 %
 * t-interval over the seeds of each quantity a run has. */
static void write_cell(wctx *w, const run *runs, int nr, int i, FILE *dat)
{
    static const char *const names[ST_N] = {"accuracy", "val_loss", "rank_accuracy", "dev_accuracy",
                                            "dev_rank_accuracy", "dw_ratio_median"};
    cell_stat st[ST_N];
    for (int k = 0; k < ST_N; k++)
        st[k].name = names[k];
    double seeds[64], amin = INFINITY, amax = -INFINITY;
    char ids[4096] = "";
    int n = 0;
    for (int j = i; j < nr && n < 64; j++) {
        const run *q = &runs[j];
        if (strcmp(q->cell, runs[i].cell) != 0)
            continue;
        double v[ST_N] = {q->accuracy, q->val_loss, q->rank_accuracy, q->dev_accuracy, q->dev_rank_accuracy,
                          q->dw_ratio_median};
        for (int k = 0; k < ST_N; k++)
            st[k].x[n] = v[k];
        amin = fmin(amin, q->accuracy);
        amax = fmax(amax, q->accuracy);
        seeds[n] = (double)q->seed;
        size_t l = strlen(ids);
        snprintf(ids + l, sizeof ids - l, "%s%s", l ? "," : "", q->id);
        n++;
    }
    for (int k = 0; k < ST_N; k++)
        stat_finish(&st[k], n);
    const run *r = &runs[i];
    char obj[512], p[600];
    snprintf(obj, sizeof obj, "/cells/%s", r->cell);
    w_group(w, obj);
    w_attr_s(w, obj, "kind", r->kind);
    w_attr_s(w, obj, "targets", r->targets);
    w_attr_i(w, obj, "rank", r->rank);
    w_attr_i(w, obj, "n_seeds", n);
    w_attr_i(w, obj, "trainable_params", r->trainable);
    w_attr_s(w, obj, "runs", ids);
    w_attr_d(w, obj, "lr", r->lr);
    w_attr_d(w, obj, "accuracy_min", n ? amin : NAN);
    w_attr_d(w, obj, "accuracy_max", n ? amax : NAN);
    size_t dims[1] = {(size_t)n};
    snprintf(p, sizeof p, "%s/seeds", obj);
    w_f64(w, p, 1, dims, seeds);
    for (int k = 0; k < ST_N; k++)
        if (k <= ST_LOSS || isfinite(st[k].ci.mean))
            write_stat(w, obj, r->cell, &st[k], n);
    if (dat) {
        const lsc_ci *a = &st[ST_ACC].ci, *l = &st[ST_LOSS].ci, *rk = &st[ST_RANK].ci;
        fprintf(dat, "%s %s %d %d %ld %.6g %.6g %.6g %.6g %.6g %.6g %.6g %.6g %.6g %.6g %.6g %.6g\n", r->cell,
                r->targets[0] ? r->targets : "-", r->rank, n, r->trainable, a->mean, a->sd, l->mean, l->sd,
                n ? amin : NAN, n ? amax : NAN, a->lo, a->hi, rk->mean, rk->lo, rk->hi, st[ST_DW].ci.mean);
    }
}

/* Root attributes: the seeds used (sorted, unique), the runs' wall seconds and their number. */
static void write_root_runs(wctx *w, const run *runs, int nr)
{
    char seedlist[512] = "";
    long seen[256];
    int ns = 0;
    for (int i = 0; i < nr && ns < 256; i++) {
        int dup = 0;
        for (int j = 0; j < ns; j++)
            dup |= seen[j] == runs[i].seed;
        if (!dup)
            seen[ns++] = runs[i].seed;
    }
    for (int i = 0; i < ns; i++)
        for (int j = i + 1; j < ns; j++)
            if (seen[j] < seen[i]) {
                long t = seen[i];
                seen[i] = seen[j];
                seen[j] = t;
            }
    for (int i = 0; i < ns; i++) {
        size_t l = strlen(seedlist);
        snprintf(seedlist + l, sizeof seedlist - l, "%s%ld", i ? " " : "", seen[i]);
    }
    w_attr_s(w, "/", "seeds", seedlist);
    double tsum = 0;
    for (int i = 0; i < nr; i++)
        if (isfinite(runs[i].train_seconds))
            tsum += runs[i].train_seconds + (isfinite(runs[i].eval_seconds) ? runs[i].eval_seconds : 0);
    w_attr_d(w, "/", "runs_wall_seconds", tsum);
    w_attr_i(w, "/", "n_runs", nr);
}

int collect_runs_write_(wctx *w, const run *runs, int nr, FILE *dat)
{
    write_runs(w, runs, nr);
    /* cells in order of first appearance */
    if (dat)
        fprintf(dat, "# cell targets rank n_seeds trainable_params accuracy_mean accuracy_sd "
                     "val_loss_mean val_loss_sd accuracy_min accuracy_max accuracy_lo95 accuracy_hi95 "
                     "rank_accuracy_mean rank_accuracy_lo95 rank_accuracy_hi95 dw_ratio_median_mean\n");
    for (int i = 0; i < nr; i++) {
        int first = 1;
        for (int j = 0; j < i; j++)
            if (strcmp(runs[j].cell, runs[i].cell) == 0)
                first = 0;
        if (first)
            write_cell(w, runs, nr, i, dat);
    }
    /* the task's trivial baselines, the same for every run */
    if (nr > 0) {
        collect_summary_(w, "", "majority_accuracy", runs[0].majority);
        collect_summary_(w, "", "suffix_accuracy", runs[0].suffix);
    }
    write_root_runs(w, runs, nr);
    return w->rc == LSC_OK ? CLI_OK : cli_lib_error("collect", &w->err);
}
