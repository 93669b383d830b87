/*
 * collect_runs.c — the runs of a study for `lorascope collect`: each "run CELL RUN_DIR" line's
 * run.json, final validation metrics (RUN_DIR/eval.json, else train_log.h5's root attributes),
 * trainable-parameter count and adapter checksum; then /runs/<id>, the per-cell mean and spread
 * over seeds in /cells/<cell> (with the --dat table), and the root's seeds.
 *
 * What it is not: an evaluation. Every number comes from the run's own files; this file only
 * averages them (sample standard deviation over seeds) and copies them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "cli.h"
#include "collect.h"

// ---- reading a run ----

static cJSON *json_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
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

/* The first numeric member among names (a NULL-terminated list), else NAN. */
static double json_num(const cJSON *j, const char *const *names)
{
    for (; *names; names++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, *names);
        if (cJSON_IsNumber(v))
            return v->valuedouble;
        if (cJSON_IsNull(v))
            return NAN;
    }
    return NAN;
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

int collect_run_read_(run *r, const char *cell, const char *dir)
{
    memset(r, 0, sizeof *r);
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
    double rk = json_num(j, k_rank), sd = json_num(j, k_seed);
    r->rank = isfinite(rk) ? (int)rk : 0;
    r->seed = isfinite(sd) ? (long)sd : 0;
    r->train_seconds = json_num(j, k_ts);
    r->eval_seconds = json_num(j, k_es);
    const char *k_cpu[] = {"cpu_seconds", NULL};
    r->cpu_seconds = json_num(j, k_cpu);
    cJSON_Delete(j);
    if (!r->id[0]) {
        const char *b = strrchr(r->dir, '/');
        snprintf(r->id, sizeof r->id, "%.127s", b ? b + 1 : r->dir);
    }
    /* metrics: eval.json (`lorascope eval --json FILE`) when the run has one, else the final
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
        r->accuracy = json_num(j, k_acc);
        r->val_loss = json_num(j, k_loss);
        r->perplexity = json_num(j, k_ppl);
        r->majority = json_num(top, k_maj);
        r->suffix = json_num(top, k_suf);
        double n = json_num(top, k_n);
        r->n_items = isfinite(n) ? (long)n : -1;
        cJSON_Delete((cJSON *)top);
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
        r->n_items = isfinite(n) ? (long)n : -1;
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

// ---- small statistics ----

static void mean_std(const double *x, int n, double *mean, double *sd, double *lo, double *hi)
{
    double s = 0, mn = INFINITY, mx = -INFINITY;
    for (int i = 0; i < n; i++) {
        s += x[i];
        mn = fmin(mn, x[i]);
        mx = fmax(mx, x[i]);
    }
    *mean = n ? s / n : NAN;
    double v = 0;
    for (int i = 0; i < n; i++)
        v += (x[i] - *mean) * (x[i] - *mean);
    *sd = n > 1 ? sqrt(v / (n - 1)) : 0.0;   /* sample standard deviation over seeds */
    *lo = n ? mn : NAN;
    *hi = n ? mx : NAN;
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
        w_attr_d(w, obj, "train_seconds", r->train_seconds);
        if (isfinite(r->eval_seconds))
            w_attr_d(w, obj, "eval_seconds", r->eval_seconds);
        w_attr_d(w, obj, "cpu_seconds", r->cpu_seconds);
    }
}

/* The cell of runs[i] (its first run): every run of the cell (at most 64) averaged. */
static void write_cell(wctx *w, const run *runs, int nr, int i, FILE *dat)
{
    double acc[64], loss[64], seeds[64];
    char ids[4096] = "";
    int n = 0;
    for (int j = i; j < nr && n < 64; j++) {
        if (strcmp(runs[j].cell, runs[i].cell) != 0)
            continue;
        acc[n] = runs[j].accuracy;
        loss[n] = runs[j].val_loss;
        seeds[n] = (double)runs[j].seed;
        size_t l = strlen(ids);
        snprintf(ids + l, sizeof ids - l, "%s%s", l ? "," : "", runs[j].id);
        n++;
    }
    double am, as, alo, ahi, lm, ls, llo, lhi;
    mean_std(acc, n, &am, &as, &alo, &ahi);
    mean_std(loss, n, &lm, &ls, &llo, &lhi);
    const run *r = &runs[i];
    char obj[512];
    snprintf(obj, sizeof obj, "/cells/%s", r->cell);
    w_group(w, obj);
    w_attr_s(w, obj, "kind", r->kind);
    w_attr_s(w, obj, "targets", r->targets);
    w_attr_i(w, obj, "rank", r->rank);
    w_attr_i(w, obj, "n_seeds", n);
    w_attr_i(w, obj, "trainable_params", r->trainable);
    w_attr_s(w, obj, "runs", ids);
    w_attr_d(w, obj, "accuracy_mean", am);
    w_attr_d(w, obj, "accuracy_std", as);
    w_attr_d(w, obj, "accuracy_min", alo);
    w_attr_d(w, obj, "accuracy_max", ahi);
    w_attr_d(w, obj, "val_loss_mean", lm);
    w_attr_d(w, obj, "val_loss_std", ls);
    size_t dims[1] = {(size_t)n};
    char p[600];
    snprintf(p, sizeof p, "%s/seeds", obj);
    w_f64(w, p, 1, dims, seeds);
    snprintf(p, sizeof p, "%s/accuracy", obj);
    w_f64(w, p, 1, dims, acc);
    snprintf(p, sizeof p, "%s/val_loss", obj);
    w_f64(w, p, 1, dims, loss);
    collect_summary_(w, r->cell, "accuracy", am);
    collect_summary_(w, r->cell, "val_loss", lm);
    if (dat) {
        fprintf(dat, "%s %s %d %d %ld %.6g %.6g %.6g %.6g %.6g %.6g\n", r->cell,
                r->targets[0] ? r->targets : "-", r->rank, n, r->trainable, am, as, lm, ls,
                alo, ahi);
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
                     "val_loss_mean val_loss_sd accuracy_min accuracy_max\n");
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
