/*
 * collect.c — `lorascope collect MANIFEST.tsv -o STUDY.h5`: turns the runs and analysis outputs of
 * one study (experiments/study_*.sh) into the study's single HDF5 file: per-run results, per-cell
 * mean and spread over seeds, the analysis outputs of every layer merged in, and a flat /summary
 * group of headline metrics that `lorascope report` and `lorascope regress` read. Optionally it
 * also writes the plain-text tables the gnuplot scripts in plots/ draw.
 *
 * What it is not: an analysis. Every number comes from a run's train_log.h5 / run.json or from an
 * HDF5 file another subcommand wrote; collect only averages, copies and selects.
 *
 * The manifest is a text file of lines "kind<TAB>name<TAB>value" ('#' starts a comment):
 *   attr   NAME  VALUE     root attribute (string; a number when NAME ends in _seconds)
 *   run    CELL  RUN_DIR   a finished run (RUN_DIR/run.json + the final validation metrics of
 *                          RUN_DIR/train_log.h5, or RUN_DIR/eval.json) belonging to CELL
 *   merge  GROUP FILE.h5   every group, dataset and known attribute of FILE.h5 copied to /GROUP
 *   phi    KEY   PATH      summary of the phi grid at PATH (datasets phi, phi_random)
 *   amp    KEY   PATH      summary of the Table 7 attributes of the module group PATH
 *   spec   KEY   PATH      summary of the spectrum of the module group PATH
 *   qerr   KEY   PATH      summary of a merged `lorascope quanterr` output (its mean_* attributes)
 *   curve  LABEL RUN_DIR   training curve of that run (RUN_DIR/train_log.h5) for --curves
 *
 * Layout written (format_version 1, see README.md, "Results layout"):
 *   /                    provenance (lorascope_version, format_version, command, git_commit,
 *                        wall_time_s, manifest + base checksums) and every attr line; seeds
 *   /runs/<id>           attrs kind targets rank seed accuracy val_loss ... adapter_sha256
 *   /cells/<cell>        attrs targets rank n_seeds trainable_params accuracy_mean accuracy_std
 *                        val_loss_mean val_loss_std; datasets seeds, accuracy, val_loss
 *   /<GROUP>/...         merged analysis outputs
 *   /summary             one float64 attribute per headline metric ("qv_r4.accuracy", "A.q.phi_11")
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cJSON.h>

#include "analysis_common.h"
#include "cli.h"
#include "commands.h"

static const char *USAGE =
    "usage: lorascope collect MANIFEST.tsv -o STUDY.h5 [--dat FILE] [--phi-dat DIR]\n"
    "                         [--amp-dat FILE] [--spec-dat DIR] [--curves FILE]\n"
    "\n"
    "Builds the HDF5 file of one study from a manifest written by experiments/lib.sh: per-run\n"
    "eval results, per-cell mean and spread over seeds (/cells), the analysis outputs of every\n"
    "layer (/<group>), and the headline metrics in /summary (read by report and regress).\n"
    "\n"
    "manifest lines (TAB-separated): attr NAME VALUE | run CELL RUN_DIR | merge GROUP FILE.h5 |\n"
    "  phi KEY PATH | amp KEY PATH | spec KEY PATH | qerr KEY PATH | curve LABEL RUN_DIR\n"
    "\n"
    "  -o, --output STUDY.h5  the study file (temporary name, renamed when complete)\n"
    "  --dat FILE             per-cell table for gnuplot (key targets rank n acc sd loss sd)\n"
    "  --phi-dat DIR          DIR/phi_KEY.dat and DIR/phi_KEY.random.dat (j i phi) per phi line\n"
    "  --amp-dat FILE         Table 7 rows for gnuplot, one per amp line\n"
    "  --spec-dat DIR         DIR/spec_KEY.dat (i sigma sigma/sigma1 cumulative-energy) per spec line\n"
    "  --curves FILE          training loss curves of the curve lines (gnuplot index blocks)\n"
    "\n"
    "example:\n"
    "  lorascope collect data/results/tiny/work/table6_rank/manifest.tsv \\\n"
    "      -o data/results/tiny/table6_rank.h5 --dat table6.dat\n";

#define MAXLINE 8192

// ---- manifest ----

typedef struct mline {
    char *kind, *name, *value;
} mline;

typedef struct manifest {
    int    n;
    mline *lines;
    char  *text;   /* owns the strings */
} manifest;

static void manifest_free(manifest *m)
{
    free(m->lines);
    free(m->text);
    memset(m, 0, sizeof *m);
}

static int manifest_read(const char *path, manifest *m)
{
    memset(m, 0, sizeof *m);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return cli_error("collect", CLI_FAIL, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len - 1, fp)) > 0) {
        len += got;
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(fp);
    if (!buf)
        return cli_error("collect", CLI_FAIL, "%s: out of memory", path);
    buf[len] = '\0';
    m->text = buf;
    int nl = 1;
    for (size_t i = 0; i < len; i++)
        nl += buf[i] == '\n';
    m->lines = calloc((size_t)nl, sizeof *m->lines);
    if (!m->lines)
        return cli_error("collect", CLI_FAIL, "%s: out of memory", path);
    int lineno = 0;
    for (char *s = buf; s && *s;) {
        char *e = strchr(s, '\n');
        if (e)
            *e = '\0';
        lineno++;
        size_t l = strlen(s);
        if (l && s[l - 1] == '\r')
            s[l - 1] = '\0';
        if (s[0] != '#' && s[0] != '\0') {
            char *t1 = strchr(s, '\t');
            char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
            if (!t2) {
                manifest_free(m);
                return cli_error("collect", CLI_FAIL,
                                 "%s:%d: expected kind<TAB>name<TAB>value", path, lineno);
            }
            *t1 = *t2 = '\0';
            mline *ml = &m->lines[m->n++];
            ml->kind = s;
            ml->name = t1 + 1;
            ml->value = t2 + 1;
            static const char *kinds[] = {"attr", "run", "merge", "phi", "amp", "spec", "qerr",
                                          "curve"};
            int ok = 0;
            for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
                ok |= strcmp(s, kinds[k]) == 0;
            if (!ok || !ml->name[0]) {
                int rc = ok ? cli_error("collect", CLI_FAIL, "%s:%d: empty name", path, lineno)
                            : cli_error("collect", CLI_FAIL, "%s:%d: unknown line kind '%.40s'",
                                        path, lineno, s);
                manifest_free(m);
                return rc;
            }
        }
        s = e ? e + 1 : NULL;
    }
    return CLI_OK;
}

// ---- runs ----

typedef struct run {
    char   id[128];
    char   dir[1024];
    char   cell[128];
    char   kind[16];
    char   targets[64];
    int    rank;
    long   seed;
    char   config_sha[80];
    double train_seconds, eval_seconds, cpu_seconds;
    double accuracy, val_loss, perplexity, majority, suffix;
    long   n_items;
    long   trainable;
    char   sha256[65];
} run;

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

static int run_read(run *r, const char *cell, const char *dir)
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

// ---- writing helpers ----

typedef struct wctx {
    lsc_h5    *h;
    lsc_error  err;
    int        rc;        /* first failure */
    char      *metrics;   /* newline-separated names of the /summary attributes */
    size_t     mlen, mcap;
} wctx;

static void w_attr_d(wctx *w, const char *obj, const char *name, double v)
{
    if (w->rc == LSC_OK)
        w->rc = lsc_h5_attr_double(w->h, obj, name, v, &w->err);
}
static void w_attr_i(wctx *w, const char *obj, const char *name, long long v)
{
    if (w->rc == LSC_OK)
        w->rc = lsc_h5_attr_int(w->h, obj, name, v, &w->err);
}
static void w_attr_s(wctx *w, const char *obj, const char *name, const char *v)
{
    if (w->rc == LSC_OK)
        w->rc = lsc_h5_attr_str(w->h, obj, name, v, &w->err);
}
static void w_group(wctx *w, const char *path)
{
    if (w->rc == LSC_OK)
        w->rc = lsc_h5_group(w->h, path, &w->err);
}
static void w_f64(wctx *w, const char *path, int ndim, const size_t *dims, const double *x)
{
    if (w->rc == LSC_OK)
        w->rc = lsc_h5_write_f64(w->h, path, ndim, dims, x, &w->err);
}
static void summary(wctx *w, const char *key, const char *what, double v)
{
    char name[256];
    snprintf(name, sizeof name, "%s%s%s", key, key[0] && what[0] ? "." : "", what);
    w_attr_d(w, "/summary", name, v);
    /* remember the name: /summary@metrics lists them (HDF5 readers without attribute
     * iteration, and regress --write-baseline, enumerate the metrics from it) */
    size_t l = strlen(name);
    if (w->rc != LSC_OK)
        return;
    if (w->mlen + l + 2 > w->mcap) {
        size_t cap = 2 * (w->mcap + l + 2);
        char *nb = realloc(w->metrics, cap);
        if (!nb) {
            w->rc = lsc_error_set(&w->err, LSC_ENOMEM, __FILE__, __LINE__, "out of memory");
            return;
        }
        w->metrics = nb;
        w->mcap = cap;
    }
    memcpy(w->metrics + w->mlen, name, l);
    w->mlen += l;
    w->metrics[w->mlen++] = '\n';
    w->metrics[w->mlen] = '\0';
}

// ---- merge: copy an analysis output into the study file ----

/* Attributes copied when present: the analysis outputs' documented ones (issue 2) and
 * deltaspec's. Integers keep their type; everything else numeric is float64. */
static const char *INT_ATTRS[] = {
    "r", "r1", "r2", "dim", "rank", "in_features", "out_features", "rank90", "degenerate",
    "n_nonfinite", "seed", "n_modules", "format_version", "layer", "n_sv", "K", "n_degenerate",
    "n_skipped", "numerical_rank1", "numerical_rank2", "random_seed", "threads",
    "n_nonfinite_modules", "w0_rank90", "random_rank90", "transposed",
    /* quanterr (issue 6) */
    "top", "blocksize", "double_quant", "base_transposed", "has_compare", "compare_r",
    "compare_degenerate", "diff_degenerate", "n_compared", "store_error", "fan_in_fan_out", NULL};
static const char *NUM_ATTRS[] = {
    "alpha", "scaling", "delta_fro", "stable_rank", "effective_rank", "base_fro",
    "proj_delta", "proj_base", "proj_random", "amplification", "wall_time_s", "w0_fro",
    "ft_fro", "rank90_frac", "w0_effective_rank", "random_effective_rank",
    "w0_stable_rank", "random_stable_rank", "rank90_fraction",
    /* quanterr (issue 6): per module, then the means over modules of the root */
    "bits_total", "bits_constants", "error_fro", "error_rel", "error_max_abs", "phi_right",
    "phi_left", "phi_right_top1", "phi_left_top1", "phi_right_random", "phi_left_random",
    "phi_right_expected", "phi_left_expected", "proj_error_delta", "proj_error_top",
    "proj_error_random", "proj_error_random_expected", "cos_delta_error", "error_coef",
    "cos_random_sd", "compensated_best", "compare_delta_fro", "phi_right_compare",
    "phi_left_compare", "phi_right_compare_top1", "phi_left_compare_top1", "proj_error_compare",
    "cos_compare_error", "compare_error_coef", "phi_right_adapters", "phi_left_adapters",
    "diff_fro", "phi_right_diff", "phi_left_diff", "proj_error_diff", "cos_diff_error",
    "diff_error_coef",
    "mean_bits_total", "mean_compare_error_coef", "mean_compensated_best",
    "mean_cos_compare_error", "mean_cos_delta_error", "mean_cos_diff_error", "mean_cos_random_sd",
    "mean_diff_error_coef", "mean_error_coef", "mean_error_rel", "mean_phi_left",
    "mean_phi_left_adapters", "mean_phi_left_compare", "mean_phi_left_diff",
    "mean_phi_left_expected", "mean_phi_left_random", "mean_phi_right", "mean_phi_right_adapters",
    "mean_phi_right_compare", "mean_phi_right_diff", "mean_phi_right_expected",
    "mean_phi_right_random", "mean_proj_ratio", "mean_proj_ratio_compare", NULL};
static const char *STR_ATTRS[] = {
    "factor", "command", "git_commit", "lorascope_version", "created_utc", "adapter",
    "adapter_sha256", "adapter1", "adapter1_sha256", "adapter2", "adapter2_sha256", "base",
    "base_sha256", "finetuned", "finetuned_sha256", "module", "warning", "module1", "module2",
    "pair", "rank_tolerance", "svd_method", "dtype", "targets", "base_tensor", "compare",
    "compare_sha256", "quantiser", "svd", "zero_tolerance", NULL};

static void copy_attrs(wctx *w, const lsc_h5 *src, const char *spath, const char *dpath)
{
    lsc_error e = {0};
    char sbuf[4096];
    for (const char *const *a = INT_ATTRS; *a; a++) {
        long long v;
        if (lsc_h5_read_attr_int(src, spath, *a, &v, &e) == LSC_OK)
            w_attr_i(w, dpath, *a, v);
    }
    for (const char *const *a = NUM_ATTRS; *a; a++) {
        double v;
        if (lsc_h5_read_attr_double(src, spath, *a, &v, &e) == LSC_OK)
            w_attr_d(w, dpath, *a, v);
    }
    for (const char *const *a = STR_ATTRS; *a; a++)
        if (lsc_h5_read_attr_str(src, spath, *a, sbuf, sizeof sbuf, &e) == LSC_OK)
            w_attr_s(w, dpath, *a, sbuf);
}

static void copy_tree(wctx *w, const lsc_h5 *src, const char *spath, const char *dpath,
                      int depth)
{
    if (w->rc != LSC_OK || depth > 8)
        return;
    lsc_error e = {0};
    char **names = NULL;
    int n = 0;
    if (lsc_h5_list(src, spath, &names, &n, &e) == LSC_OK) {   /* a group */
        w_group(w, dpath);
        copy_attrs(w, src, spath, dpath);
        for (int i = 0; i < n && w->rc == LSC_OK; i++) {
            char s2[1024], d2[1024];
            snprintf(s2, sizeof s2, "%s/%s", strcmp(spath, "/") ? spath : "", names[i]);
            snprintf(d2, sizeof d2, "%s/%s", dpath, names[i]);
            copy_tree(w, src, s2, d2, depth + 1);
        }
        lsc_h5_free_names(names, n);
        return;
    }
    int nd;
    size_t dims[8];
    if (lsc_h5_dataset_shape(src, spath, &nd, dims, 8, &e) != LSC_OK || nd < 1 || nd > 2)
        return;   /* scalars and exotic objects are not part of the documented layouts */
    size_t numel = nd == 1 ? dims[0] : dims[0] * dims[1];
    double *x = malloc((numel ? numel : 1) * sizeof *x);
    if (!x) {
        w->rc = lsc_error_set(&w->err, LSC_ENOMEM, __FILE__, __LINE__, "out of memory");
        return;
    }
    if (lsc_h5_read_f64(src, spath, numel, x, &e) == LSC_OK) {
        w_f64(w, dpath, nd, dims, x);
        copy_attrs(w, src, spath, dpath);
    }
    free(x);
}

static int do_merge(wctx *w, const char *group, const char *file)
{
    lsc_h5 *src = NULL;
    lsc_error e = {0};
    if (lsc_h5_open(&src, file, &e) != LSC_OK)
        return cli_lib_error("collect", &e);
    char dpath[512];
    snprintf(dpath, sizeof dpath, "/%s", group);
    copy_tree(w, src, "/", dpath, 0);
    w_attr_s(w, dpath, "source_file", file);
    char hex[65];
    if (lsc_sha256_file(file, hex, &e) == LSC_OK)
        w_attr_s(w, dpath, "source_sha256", hex);
    lsc_h5_close(src);
    return w->rc == LSC_OK ? CLI_OK : cli_lib_error("collect", &w->err);
}

// ---- phi / amp / spec summaries ----

/* Reads a 2-D dataset; *x malloc'd. */
static int read_2d(const lsc_h5 *h, const char *path, double **x, size_t *r, size_t *c)
{
    lsc_error e = {0};
    int nd;
    size_t dims[8];
    *x = NULL;
    if (lsc_h5_dataset_shape(h, path, &nd, dims, 8, &e) != LSC_OK)
        return cli_lib_error("collect", &e);
    if (nd != 2)
        return cli_error("collect", CLI_FAIL, "%s: %s is not 2-D", lsc_h5_path(h), path);
    *r = dims[0];
    *c = dims[1];
    size_t numel = *r * *c;
    *x = malloc((numel > 0 ? numel : 1) * sizeof **x);
    if (!*x)
        return cli_error("collect", CLI_FAIL, "out of memory");
    if (lsc_h5_read_f64(h, path, *r * *c, *x, &e) != LSC_OK) {
        free(*x);
        *x = NULL;
        return cli_lib_error("collect", &e);
    }
    return CLI_OK;
}

static int write_phi_dat(const char *dir, const char *key, const char *suffix, const double *phi,
                         size_t r1, size_t r2)
{
    char path[1024], tmp[1100];
    snprintf(path, sizeof path, "%s/phi_%s%s.dat", dir, key, suffix);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return cli_error("collect", CLI_FAIL, "%s: cannot write: %s", tmp, strerror(errno));
    /* the layout plots/phi.gp reads: rows "j i phi", one block per i */
    fprintf(fp, "# phi(i, j) (LoRA paper Eq. 4), i = 1..%zu, j = 1..%zu: j  i  phi\n", r1, r2);
    for (size_t i = 0; i < r1; i++) {
        for (size_t j = 0; j < r2; j++)
            fprintf(fp, "%zu %zu %.6g\n", j + 1, i + 1, phi[i * r2 + j]);
        fputc('\n', fp);
    }
    if (fclose(fp) != 0 || rename(tmp, path) != 0)
        return cli_error("collect", CLI_FAIL, "%s: cannot write", path);
    return CLI_OK;
}

/* Headline numbers of a phi grid (r1 x r2, r1 <= r2 in the studies):
 *   phi_11       φ(1,1): do the top directions coincide?
 *   phi_1_all    φ(1, r2): how much of A1's top direction lies in A2's whole subspace
 *   phi_all      φ(r1, r2): mean squared cosine between the two subspaces
 *   phi_diag     mean over i of φ(i, i), i <= min(r1, r2): top-i vs top-i overlap
 * and the same of phi_random (two random subspaces of the same shape). */
static void phi_stats(const double *phi, size_t r1, size_t r2, double out[4])
{
    size_t m = r1 < r2 ? r1 : r2;
    out[0] = phi[0];
    out[1] = phi[r2 - 1];
    out[2] = phi[(r1 - 1) * r2 + (r2 - 1)];
    double s = 0;
    for (size_t i = 0; i < m; i++)
        s += phi[i * r2 + i];
    out[3] = s / (double)m;
}

/* The summary lines name paths inside the study file: the merged copies are read back
 * through the writer's handle (HDF5 reads what the same handle wrote). */
static int do_phi(wctx *w, const char *key, const char *path, const char *dat_dir)
{
    static const char *names[4] = {"phi_11", "phi_1_all", "phi_all", "phi_diag"};
    char p[1024];
    double *phi = NULL, *rnd = NULL;
    size_t r1 = 0, r2 = 0, q1 = 0, q2 = 0;
    snprintf(p, sizeof p, "%s/phi", path);
    if (!lsc_h5_exists(w->h, p))
        return cli_error("collect", CLI_FAIL, "phi %s: no dataset %s (merge its file first)", key, p);
    int rc = read_2d(w->h, p, &phi, &r1, &r2);
    if (rc != CLI_OK)
        return rc;
    snprintf(p, sizeof p, "%s/phi_random", path);
    if (lsc_h5_exists(w->h, p) && (rc = read_2d(w->h, p, &rnd, &q1, &q2)) != CLI_OK)
        goto done;
    if (r1 == 0 || r2 == 0) {
        rc = cli_error("collect", CLI_FAIL, "phi %s: empty grid at %s", key, path);
        goto done;
    }
    double st[4];
    phi_stats(phi, r1, r2, st);
    for (int i = 0; i < 4; i++)
        summary(w, key, names[i], st[i]);
    summary(w, key, "r1", (double)r1);
    summary(w, key, "r2", (double)r2);
    if (rnd && q1 == r1 && q2 == r2) {
        char nm[64];
        phi_stats(rnd, q1, q2, st);
        for (int i = 0; i < 4; i++) {
            snprintf(nm, sizeof nm, "random_%s", names[i]);
            summary(w, key, nm, st[i]);
        }
    }
    long long dim = 0;
    lsc_error e = {0};
    if (lsc_h5_read_attr_int(w->h, path, "dim", &dim, &e) == LSC_OK)
        summary(w, key, "dim", (double)dim);
    if (w->rc != LSC_OK) {
        rc = cli_lib_error("collect", &w->err);
        goto done;
    }
    if (dat_dir) {
        if ((rc = write_phi_dat(dat_dir, key, "", phi, r1, r2)) != CLI_OK)
            goto done;
        if (rnd && (rc = write_phi_dat(dat_dir, key, ".random", rnd, q1, q2)) != CLI_OK)
            goto done;
    }
done:
    free(phi);
    free(rnd);
    return rc;
}

/* The headline numbers of a `lorascope quanterr` output (root attributes, means over the
 * adapted modules) merged at PATH. */
static const char *QERR_ATTRS[] = {
    "mean_error_rel", "mean_bits_total", "mean_phi_right", "mean_phi_right_compare",
    "mean_phi_right_diff", "mean_phi_right_random", "mean_phi_right_expected", "mean_phi_left",
    "mean_phi_left_compare", "mean_phi_left_diff", "mean_phi_left_random", "mean_cos_delta_error",
    "mean_cos_compare_error", "mean_cos_diff_error", "mean_cos_random_sd", "mean_error_coef",
    "mean_compare_error_coef", "mean_diff_error_coef", "mean_compensated_best", NULL};

static int do_qerr(wctx *w, const char *key, const char *path)
{
    lsc_error e = {0};
    for (const char *const *a = QERR_ATTRS; *a; a++) {
        double v;
        if (lsc_h5_read_attr_double(w->h, path, *a, &v, &e) != LSC_OK)
            return cli_error("collect", CLI_FAIL, "qerr %s: %s", key, e.msg);
        summary(w, key, *a + 5, v);   /* without "mean_" */
    }
    return w->rc == LSC_OK ? CLI_OK : cli_lib_error("collect", &w->err);
}

static const char *AMP_ATTRS[] = {"r", "delta_fro", "base_fro", "proj_delta", "proj_base",
                                  "proj_random", "amplification", NULL};

static int do_amp(wctx *w, const char *key, const char *path, FILE *dat)
{
    lsc_error e = {0};
    double v[8];
    int i = 0;
    for (const char *const *a = AMP_ATTRS; *a; a++, i++) {
        if (lsc_h5_read_attr_double(w->h, path, *a, &v[i], &e) != LSC_OK)
            return cli_error("collect", CLI_FAIL, "amp %s: %s", key, e.msg);
        summary(w, key, *a, v[i]);
    }
    if (w->rc != LSC_OK)
        return cli_lib_error("collect", &w->err);
    if (dat) {
        const char *t = strrchr(key, '.');
        fprintf(dat, "%s %s %g %.6g %.6g %.6g %.6g %.6g %.6g\n", key, t ? t + 1 : key, v[0], v[1],
                v[2], v[3], v[4], v[5], v[6]);
    }
    return CLI_OK;
}

static int do_spec(wctx *w, const char *key, const char *path, const char *dat_dir)
{
    lsc_error e = {0};
    static const char *attrs[] = {"effective_rank", "rank90", "stable_rank", "delta_fro", NULL};
    for (const char *const *a = attrs; *a; a++) {
        double v;
        if (lsc_h5_read_attr_double(w->h, path, *a, &v, &e) != LSC_OK)
            return cli_error("collect", CLI_FAIL, "spec %s: %s", key, e.msg);
        summary(w, key, *a, v);
    }
    char p[1024];
    snprintf(p, sizeof p, "%s/singular_values", path);
    int nd;
    size_t dims[8];
    if (lsc_h5_dataset_shape(w->h, p, &nd, dims, 8, &e) != LSC_OK || nd != 1)
        return cli_error("collect", CLI_FAIL, "spec %s: no 1-D singular_values at %s", key, path);
    size_t n = dims[0];
    double *s = malloc((n ? n : 1) * sizeof *s);
    if (!s)
        return cli_error("collect", CLI_FAIL, "out of memory");
    if (lsc_h5_read_f64(w->h, p, n, s, &e) != LSC_OK) {
        free(s);
        return cli_lib_error("collect", &e);
    }
    summary(w, key, "n_sv", (double)n);
    int rc = CLI_OK;
    if (dat_dir) {
        char path2[1024], tmp[1100];
        snprintf(path2, sizeof path2, "%s/spec_%s.dat", dat_dir, key);
        snprintf(tmp, sizeof tmp, "%s.tmp", path2);
        FILE *fp = fopen(tmp, "w");
        if (!fp) {
            free(s);
            return cli_error("collect", CLI_FAIL, "%s: cannot write: %s", tmp, strerror(errno));
        }
        double tot = 0, cum = 0;
        for (size_t i = 0; i < n; i++)
            tot += s[i] * s[i];
        fprintf(fp, "# %s: i  sigma_i  sigma_i/sigma_1  cumulative energy sum_{k<=i} sigma_k^2 / sum sigma^2\n", key);
        for (size_t i = 0; i < n; i++) {
            cum += s[i] * s[i];
            fprintf(fp, "%zu %.6g %.6g %.6g\n", i + 1, s[i], s[0] > 0 ? s[i] / s[0] : 0.0,
                    tot > 0 ? cum / tot : 0.0);
        }
        if (fclose(fp) != 0 || rename(tmp, path2) != 0)
            rc = cli_error("collect", CLI_FAIL, "%s: cannot write", path2);
    }
    free(s);
    return w->rc == LSC_OK ? rc : cli_lib_error("collect", &w->err);
}

// ---- training curves ----

/* Reads the first 1-D dataset among names from h into *x (malloc'd), *n values. */
static int read_1d_any(const lsc_h5 *h, const char *const *names, double **x, size_t *n,
                       const char **which)
{
    lsc_error e = {0};
    *x = NULL;
    *n = 0;
    for (; *names; names++) {
        int nd;
        size_t dims[8];
        if (!lsc_h5_exists(h, *names) ||
            lsc_h5_dataset_shape(h, *names, &nd, dims, 8, &e) != LSC_OK || nd != 1)
            continue;
        *x = malloc((dims[0] ? dims[0] : 1) * sizeof **x);
        if (!*x)
            return LSC_ENOMEM;
        if (lsc_h5_read_f64(h, *names, dims[0], *x, &e) != LSC_OK) {
            free(*x);
            *x = NULL;
            continue;
        }
        *n = dims[0];
        if (which)
            *which = *names;
        return LSC_OK;
    }
    return LSC_ENOTFOUND;
}

static int do_curve(FILE *fp, int index, const char *label, const char *dir)
{
    static const char *loss_names[] = {"/train/loss", "/loss", "/train_loss", NULL};
    static const char *step_names[] = {"/train/step", "/step", "/train_step", NULL};
    static const char *vloss_names[] = {"/valid/loss", "/val/loss", "/val_loss", NULL};
    static const char *vstep_names[] = {"/valid/step", "/val/step", "/val_step", NULL};
    char path[1100];
    snprintf(path, sizeof path, "%s/train_log.h5", dir);
    lsc_h5 *h = NULL;
    lsc_error e = {0};
    if (lsc_h5_open(&h, path, &e) != LSC_OK)
        return cli_lib_error("collect", &e);
    double *loss = NULL, *step = NULL, *vl = NULL, *vs = NULL;
    size_t n = 0, ns = 0, nv = 0, nvs = 0;
    const char *which = NULL;
    int rc = CLI_OK;
    if (read_1d_any(h, loss_names, &loss, &n, &which) != LSC_OK) {
        rc = cli_error("collect", CLI_FAIL, "%s: no training loss dataset (/train/loss)", path);
        goto done;
    }
    read_1d_any(h, step_names, &step, &ns, NULL);
    read_1d_any(h, vloss_names, &vl, &nv, NULL);
    read_1d_any(h, vstep_names, &vs, &nvs, NULL);
    fprintf(fp, "%s# index %d: \"%s\" (%s): step  train_loss  [val_step val_loss]\n",
            index ? "\n\n" : "", index, label, path);
    fprintf(fp, "\"%s\"\n", label);   /* gnuplot columnheader(1) of this block */
    for (size_t i = 0; i < n; i++) {
        fprintf(fp, "%.0f %.6g", step && ns == n ? step[i] : (double)(i + 1), loss[i]);
        if (vl && i < nv)
            fprintf(fp, " %.0f %.6g", vs && nvs == nv ? vs[i] : (double)i, vl[i]);
        else
            fprintf(fp, " NaN NaN");
        fputc('\n', fp);
    }
done:
    free(loss);
    free(step);
    free(vl);
    free(vs);
    lsc_h5_close(h);
    return rc;
}

// ---- cells ----

static int write_runs_and_cells(wctx *w, run *runs, int nr, FILE *dat)
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
    /* cells in order of first appearance */
    if (dat)
        fprintf(dat, "# cell targets rank n_seeds trainable_params accuracy_mean accuracy_sd "
                     "val_loss_mean val_loss_sd accuracy_min accuracy_max\n");
    for (int i = 0; i < nr; i++) {
        int first = 1;
        for (int j = 0; j < i; j++)
            if (strcmp(runs[j].cell, runs[i].cell) == 0)
                first = 0;
        if (!first)
            continue;
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
        summary(w, r->cell, "accuracy", am);
        summary(w, r->cell, "val_loss", lm);
        if (dat) {
            fprintf(dat, "%s %s %d %d %ld %.6g %.6g %.6g %.6g %.6g %.6g\n", r->cell,
                    r->targets[0] ? r->targets : "-", r->rank, n, r->trainable, am, as, lm, ls,
                    alo, ahi);
        }
    }
    /* the task's trivial baselines, the same for every run */
    if (nr > 0) {
        summary(w, "", "majority_accuracy", runs[0].majority);
        summary(w, "", "suffix_accuracy", runs[0].suffix);
    }
    /* root: the seeds used, sorted and unique */
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
    return w->rc == LSC_OK ? CLI_OK : cli_lib_error("collect", &w->err);
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static FILE *open_tmp(const char *path, char *tmp, size_t n)
{
    snprintf(tmp, n, "%s.tmp", path);
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        cli_error("collect", CLI_FAIL, "%s: cannot write: %s", tmp, strerror(errno));
    return fp;
}

static int close_tmp(FILE *fp, const char *tmp, const char *path)
{
    if (!fp)
        return CLI_OK;
    if (fclose(fp) != 0 || rename(tmp, path) != 0) {
        remove(tmp);
        return cli_error("collect", CLI_FAIL, "%s: cannot write", path);
    }
    return CLI_OK;
}

// ---- the subcommand ----

int cmd_collect(int argc, char **argv)
{
    cli_opt opts[] = {{"output", 1, NULL}, {"dat", 1, NULL},    {"phi-dat", 1, NULL},
                      {"amp-dat", 1, NULL}, {"spec-dat", 1, NULL}, {"curves", 1, NULL},
                      {"help", 0, NULL},   {NULL, 0, NULL}};
    const char *pos[1];
    int npos;
    int rc = cli_parse("collect", argc, argv, opts, pos, 1, &npos);
    if (rc != CLI_OK)
        return rc;
    if (cli_flag(opts, "help")) {
        fputs(USAGE, stdout);
        return CLI_OK;
    }
    const char *out = cli_get(opts, "output");
    if (npos != 1 || !out)
        return cli_error("collect", CLI_USAGE, "need MANIFEST.tsv and -o STUDY.h5 (see --help)");
    const char *dat_path = cli_get(opts, "dat"), *amp_path = cli_get(opts, "amp-dat"),
               *curves_path = cli_get(opts, "curves"), *phi_dir = cli_get(opts, "phi-dat"),
               *spec_dir = cli_get(opts, "spec-dat");
    double t0 = cli_now();

    manifest m;
    if ((rc = manifest_read(pos[0], &m)) != CLI_OK)
        return rc;
    run *runs = NULL;
    int nr = 0;
    wctx w = {NULL, {0}, LSC_OK, NULL, 0, 0};
    FILE *dat = NULL, *amp = NULL, *cur = NULL;
    char dat_tmp[1100], amp_tmp[1100], cur_tmp[1100];

    for (int i = 0; i < m.n; i++)
        nr += strcmp(m.lines[i].kind, "run") == 0;
    runs = calloc((size_t)(nr ? nr : 1), sizeof *runs);
    if (!runs) {
        rc = cli_error("collect", CLI_FAIL, "out of memory");
        goto fail;
    }
    nr = 0;
    for (int i = 0; i < m.n; i++)
        if (strcmp(m.lines[i].kind, "run") == 0)
            if ((rc = run_read(&runs[nr++], m.lines[i].name, m.lines[i].value)) != CLI_OK)
                goto fail;

    if ((dat_path && !(dat = open_tmp(dat_path, dat_tmp, sizeof dat_tmp))) ||
        (amp_path && !(amp = open_tmp(amp_path, amp_tmp, sizeof amp_tmp))) ||
        (curves_path && !(cur = open_tmp(curves_path, cur_tmp, sizeof cur_tmp)))) {
        rc = CLI_FAIL;
        goto fail;
    }
    if (amp)
        fprintf(amp, "# key target r delta_fro base_fro proj_delta proj_base proj_random amplification\n");

    if (lsc_h5_create(&w.h, out, &w.err) != LSC_OK) {
        rc = cli_lib_error("collect", &w.err);
        goto fail;
    }
    /* provenance: the manifest and the base model are the inputs; runs carry their own sums */
    const char *base = NULL, *commit = NULL;
    double analysis_s = 0;
    for (int i = 0; i < m.n; i++) {
        const mline *l = &m.lines[i];
        if (strcmp(l->kind, "attr") != 0)
            continue;
        if (strcmp(l->name, "base_model") == 0)
            base = l->value;
        if (strcmp(l->name, "git_commit") == 0)
            commit = l->value;
        if (strcmp(l->name, "analysis_seconds") == 0)
            analysis_s = atof(l->value);
    }
    lsc_h5_input inputs[2] = {{"manifest", pos[0]}, {"base_model", base}};
    struct stat st;
    int n_in = base && stat(base, &st) == 0 ? 2 : 1;
    lsc_provenance prov = {cli_command_line(), commit ? commit : ana_git_commit(),
                           analysis_s + (cli_now() - t0), n_in, inputs, 0, NULL};
    if (lsc_h5_write_provenance(w.h, &prov, &w.err) != LSC_OK) {
        rc = cli_lib_error("collect", &w.err);
        goto fail;
    }
    for (int i = 0; i < m.n; i++) {
        const mline *l = &m.lines[i];
        if (strcmp(l->kind, "attr") != 0 || strcmp(l->name, "base_model") == 0 ||
            strcmp(l->name, "git_commit") == 0)
            continue;
        if (ends_with(l->name, "_seconds"))
            w_attr_d(&w, "/", l->name, atof(l->value));
        else
            w_attr_s(&w, "/", l->name, l->value);
    }
    w_group(&w, "/summary");
    if (w.rc != LSC_OK) {
        rc = cli_lib_error("collect", &w.err);
        goto fail;
    }
    if ((rc = write_runs_and_cells(&w, runs, nr, dat)) != CLI_OK)
        goto fail;

    int n_curves = 0;
    for (int i = 0; i < m.n; i++) {
        const mline *l = &m.lines[i];
        if (strcmp(l->kind, "merge") == 0)
            rc = do_merge(&w, l->name, l->value);
        else if (strcmp(l->kind, "phi") == 0)
            rc = do_phi(&w, l->name, l->value, phi_dir);
        else if (strcmp(l->kind, "amp") == 0)
            rc = do_amp(&w, l->name, l->value, amp);
        else if (strcmp(l->kind, "spec") == 0)
            rc = do_spec(&w, l->name, l->value, spec_dir);
        else if (strcmp(l->kind, "qerr") == 0)
            rc = do_qerr(&w, l->name, l->value);
        else if (strcmp(l->kind, "curve") == 0 && cur)
            rc = do_curve(cur, n_curves++, l->name, l->value);
        if (rc != CLI_OK)
            goto fail;
    }
    w_attr_s(&w, "/summary", "metrics", w.metrics ? w.metrics : "");
    w_attr_s(&w, "/summary", "about",
             "headline metrics of this study, one float64 attribute each; 'metrics' lists "
             "their names; read by lorascope report and lorascope regress");
    if (w.rc != LSC_OK) {
        rc = cli_lib_error("collect", &w.err);
        goto fail;
    }
    lsc_h5 *h = w.h;
    w.h = NULL;
    if (lsc_h5_commit(h, &w.err) != LSC_OK) {
        rc = cli_lib_error("collect", &w.err);
        goto fail;
    }
    rc = close_tmp(dat, dat_tmp, dat_path);
    dat = NULL;
    if (rc == CLI_OK)
        rc = close_tmp(amp, amp_tmp, amp_path);
    amp = NULL;
    if (rc == CLI_OK)
        rc = close_tmp(cur, cur_tmp, curves_path);
    cur = NULL;
    if (rc == CLI_OK)
        printf("collect: %s: %d runs, %d manifest lines\n", out, nr, m.n);
    free(w.metrics);
    free(runs);
    manifest_free(&m);
    return rc;
fail:
    lsc_h5_abort(w.h);
    if (dat) { fclose(dat); remove(dat_tmp); }
    if (amp) { fclose(amp); remove(amp_tmp); }
    if (cur) { fclose(cur); remove(cur_tmp); }
    free(w.metrics);
    free(runs);
    manifest_free(&m);
    return rc ? rc : CLI_FAIL;
}
