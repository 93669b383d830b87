/*
 * regress.c — `lorascope regress --baseline FILE.json --current DIR`: compares every headline
 * metric of a results directory (the /summary attributes of DIR/<study>.h5, written by
 * `lorascope collect`) with a committed baseline under the per-metric tolerances the baseline
 * keeps, prints a table (metric, baseline, current, tolerance, verdict) and exits 1 when any
 * metric drifted or disappeared, 0 otherwise. `--write-baseline FILE.json` makes a baseline
 * from DIR instead; with `--variation DIR2` (the same profile run another way, e.g. another
 * thread count) each tolerance is widened to cover 3x the difference observed between DIR and
 * DIR2.
 *
 * What it is not: a statistics package. A metric passes when
 *     |current - baseline| <= max(abs_tol, rel_tol * |baseline|)
 * (both NaN also passes). Metrics present now but absent from the baseline are listed as "new"
 * and do not fail the check.
 *
 * Baseline file (JSON): {"format": "lorascope-baseline", "format_version": 1, "profile": ...,
 * "tolerance_policy": "...", "metrics": {"<study>/<metric>": {"value": v, "abs_tol": a,
 * "rel_tol": r, "class": "...", "observed_delta": d}, ...}}.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "analysis_common.h"
#include "cli.h"
#include "commands.h"

static const char *USAGE =
    "usage: lorascope regress --baseline FILE.json --current DIR [--out RESULT.json]\n"
    "       lorascope regress --write-baseline FILE.json --current DIR [--variation DIR2]\n"
    "       lorascope regress --print STUDY.h5 [--metric NAME]\n"
    "\n"
    "Compares the headline metrics of a results directory (the /summary attributes of every\n"
    "DIR/*.h5 study file) with a baseline under its per-metric tolerances. A metric passes when\n"
    "|current - baseline| <= max(abs_tol, rel_tol*|baseline|). Prints metric, baseline, current,\n"
    "tolerance and verdict; exit 0 when every metric is within tolerance, 1 when any drifted or\n"
    "is missing or the baseline has no metrics, 2 on a usage error.\n"
    "\n"
    "  --baseline FILE.json        the committed baseline (experiments/baselines/PROFILE.json)\n"
    "  --current DIR               results directory (data/results/PROFILE)\n"
    "  --out RESULT.json           also write the verdicts as JSON (read by lorascope report)\n"
    "  --write-baseline FILE.json  write a baseline from DIR, tolerances from the policy below\n"
    "  --variation DIR2            with --write-baseline: widen each tolerance to 3x |DIR - DIR2|\n"
    "  --quiet                     print only drifted/missing rows and the verdict line\n"
    "  --print STUDY.h5            print the /summary metrics of one study file (NAME VALUE),\n"
    "                              or only the value of --metric NAME\n"
    "\n"
    "tolerance policy of --write-baseline (per metric class, by name):\n"
    "  accuracy       abs 0.05 (a few items of a small validation set)\n"
    "  val_loss       rel 0.03, abs 0.02\n"
    "  phi (learned)  abs 0.10      random_phi  abs 1e-9 (seeded, independent of training)\n"
    "  norms/proj     rel 0.10      amplification rel 0.20\n"
    "  spectra ranks  rel 0.15, abs 1      exact (r1, r2, dim, n_sv, majority/suffix) abs 1e-9\n"
    "  cosines (quanterr) abs 0.05   error coefficients (quanterr) abs 1.0\n"
    "  NF4 bits per parameter exact\n"
    "  verdicts: state exact (-1/0/1), p abs 0.10, effect abs 0.10 / rel 0.25; their null means exact\n"
    "\n"
    "example:\n"
    "  lorascope regress --baseline experiments/baselines/tiny.json --current data/results/tiny\n";

// ---- metrics of a results directory ----

typedef struct metric {
    char   name[512];   /* "<study>/<attr>" */
    double value;
} metric;

typedef struct metric_set {
    metric *m;
    int     n, cap;
} metric_set;

static int ms_add(metric_set *s, const char *name, double v)
{
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        metric *nm = realloc(s->m, (size_t)cap * sizeof *nm);
        if (!nm)
            return -1;
        s->m = nm;
        s->cap = cap;
    }
    snprintf(s->m[s->n].name, sizeof s->m[s->n].name, "%s", name);
    s->m[s->n].value = v;
    s->n++;
    return 0;
}

static const metric *ms_find(const metric_set *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->m[i].name, name) == 0)
            return &s->m[i];
    return NULL;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every /summary metric of every study file DIR/NAME.h5 (sorted by file, then in the file's order). */
static int read_metrics(const char *dir, metric_set *out)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d)
        return cli_error("regress", CLI_FAIL, "%s: cannot open: %s", dir, strerror(errno));
    char *files[256];
    int nf = 0;
    struct dirent *e;
    while ((e = readdir(d)) && nf < 256) {
        size_t l = strlen(e->d_name);
        if (l > 3 && strcmp(e->d_name + l - 3, ".h5") == 0 && e->d_name[0] != '.')
            files[nf++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(files, (size_t)nf, sizeof *files, cmp_names);
    int rc = CLI_OK;
    char *list = malloc(1 << 20);
    if (!list)
        rc = cli_error("regress", CLI_FAIL, "out of memory");
    for (int i = 0; i < nf && rc == CLI_OK; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        lsc_h5 *h = NULL;
        lsc_error err = {0};
        if (lsc_h5_open(&h, path, &err) != LSC_OK) {
            rc = cli_lib_error("regress", &err);
            break;
        }
        if (!lsc_h5_exists(h, "/summary") ||
            lsc_h5_read_attr_str(h, "/summary", "metrics", list, 1 << 20, &err) != LSC_OK) {
            lsc_h5_close(h);
            continue;   /* not a study file (e.g. a stray analysis output) */
        }
        char study[256];
        snprintf(study, sizeof study, "%.*s", (int)(strlen(files[i]) - 3), files[i]);
        for (char *s = list; *s;) {
            char *nl = strchr(s, '\n');
            if (nl)
                *nl = '\0';
            if (*s) {
                double v;
                char name[512];
                if (lsc_h5_read_attr_double(h, "/summary", s, &v, &err) != LSC_OK) {
                    rc = cli_lib_error("regress", &err);
                    break;
                }
                snprintf(name, sizeof name, "%s/%s", study, s);
                if (ms_add(out, name, v) != 0) {
                    rc = cli_error("regress", CLI_FAIL, "out of memory");
                    break;
                }
            }
            if (!nl)
                break;
            s = nl + 1;
        }
        lsc_h5_close(h);
    }
    free(list);
    for (int i = 0; i < nf; i++)
        free(files[i]);
    if (rc == CLI_OK && out->n == 0)
        rc = cli_error("regress", CLI_FAIL, "%s: no study files with /summary metrics in it", dir);
    return rc;
}

// ---- tolerance policy (for --write-baseline) ----

typedef struct tol_class {
    const char *cls;
    double      abs_tol, rel_tol;
} tol_class;

static int has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* The class of a metric by its name (the part after "<study>/"). The floors are justified in
 * experiments/baselines/tiny.json ("tolerance_policy") and README.md ("Regression checks"). */
static tol_class classify(const char *name)
{
    const char *a = strchr(name, '/');
    a = a ? a + 1 : name;
    if (has_suffix(a, ".r1") || has_suffix(a, ".r2") || has_suffix(a, ".dim") ||
        has_suffix(a, ".n_sv") || has_suffix(a, ".r") || strcmp(a, "majority_accuracy") == 0 ||
        strcmp(a, "suffix_accuracy") == 0)
        return (tol_class){"exact", 1e-9, 0};
    if (strstr(a, ".bits_total"))
        return (tol_class){"exact", 1e-9, 0};
    if (strstr(a, ".cos_"))
        return (tol_class){"cosine", 0.05, 0};
    /* <dW, E>/|E|^2 = cos * |dW|/|E|: its random spread is |dW|/(|E| sqrt(dk)),
     * about 1 for the tiny model (|dW| ~ 40 |E|); the cosines are the strict check */
    if (strstr(a, "error_coef"))
        return (tol_class){"error_coef", 1.0, 0};
    if (strstr(a, "random_phi") || has_suffix(a, ".null_mean") || has_suffix(a, ".n_pairs") ||
        has_suffix(a, ".paper_ratio"))
        return (tol_class){"random_phi", 1e-9, 0};
    /* the verdicts (issue 12): a state is -1/0/1, its p a Monte-Carlo or t p-value, its effect
     * in the rule's own unit (phi, accuracy points, a ratio) */
    if (has_suffix(a, ".state"))
        return (tol_class){"verdict_state", 0, 0};
    if (has_suffix(a, ".p"))
        return (tol_class){"p_value", 0.10, 0};
    if (has_suffix(a, ".effect"))
        return (tol_class){"effect", 0.10, 0.25};
    if (strstr(a, "accuracy"))
        return (tol_class){"accuracy", 0.05, 0};
    if (strstr(a, "phi11"))
        return (tol_class){"phi", 0.10, 0};
    if (strstr(a, "dw_ratio"))
        return (tol_class){"norm", 0, 0.10};
    if (strstr(a, "amplification") || strstr(a, "alignment_excess"))
        return (tol_class){"amplification", 0, 0.20};
    if (strstr(a, "proj_random"))
        return (tol_class){"norm", 0, 0.10};
    if (has_suffix(a, ".accuracy"))
        return (tol_class){"accuracy", 0.05, 0};
    if (has_suffix(a, ".val_loss"))
        return (tol_class){"val_loss", 0.02, 0.03};
    if (strstr(a, ".phi_"))
        return (tol_class){"phi", 0.10, 0};
    if (has_suffix(a, ".amplification"))
        return (tol_class){"amplification", 0, 0.20};
    if (has_suffix(a, "_fro") || strstr(a, ".proj_"))
        return (tol_class){"norm", 0, 0.10};
    if (has_suffix(a, "rank90") || has_suffix(a, "effective_rank") || has_suffix(a, "stable_rank"))
        return (tol_class){"spectrum", 1, 0.15};
    return (tol_class){"other", 0, 0.10};
}

// ---- baseline file ----

static cJSON *read_json(const char *path, int *rc)
{
    lsc_error e = {0};
    FILE *fp = lsc_file_open_read(path, &e);
    if (!fp) {
        *rc = cli_error("regress", CLI_FAIL, "%s", e.msg);
        return NULL;
    }
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!buf || fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        fclose(fp);
        free(buf);
        *rc = cli_error("regress", CLI_FAIL, "%s: cannot read", path);
        return NULL;
    }
    fclose(fp);
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    if (!j) {
        *rc = cli_error("regress", CLI_FAIL, "%s: not valid JSON", path);
        return NULL;
    }
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(j, "format");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "metrics");
    if (!cJSON_IsString(f) || strcmp(f->valuestring, "lorascope-baseline") != 0 ||
        !cJSON_IsObject(m)) {
        cJSON_Delete(j);
        *rc = cli_error("regress", CLI_FAIL,
                        "%s: not a lorascope baseline (needs \"format\": \"lorascope-baseline\" "
                        "and a \"metrics\" object)", path);
        return NULL;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "format_version");
    if (!cJSON_IsNumber(v) || lsc_json_num_check(v->valuedouble, 1, 1, 1, NULL, NULL, NULL) != LSC_OK) {
        cJSON_Delete(j);
        *rc = cli_error("regress", CLI_FAIL, "%s: baseline format_version must be 1", path);
        return NULL;
    }
    if (cJSON_GetArraySize(m) == 0) {
        cJSON_Delete(j);
        *rc = cli_error("regress", CLI_FAIL, "%s: the baseline has no metrics: nothing to check",
                        path);
        return NULL;
    }
    *rc = CLI_OK;
    return j;
}

static double jnum(const cJSON *o, const char *name, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (cJSON_IsNumber(v))
        return v->valuedouble;
    if (cJSON_IsNull(v) || (cJSON_IsString(v) && strcmp(v->valuestring, "NaN") == 0))
        return NAN;
    return def;
}

/* JSON has no NaN: non-finite values are written as null. */
static cJSON *num_or_null(double v)
{
    return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

/* text and a newline to path, atomically. */
static int write_text_atomic(const char *path, const char *text)
{
    lsc_atomic a;
    lsc_error err = {0};
    if (lsc_atomic_open(&a, path, &err) != LSC_OK)
        return cli_lib_error("regress", &err);
    fputs(text, a.fp);
    fputc('\n', a.fp);
    if (lsc_atomic_commit(&a, &err) != LSC_OK)
        return cli_lib_error("regress", &err);
    return CLI_OK;
}

static const char *POLICY =
    "A metric passes when |current - baseline| <= max(abs_tol, rel_tol*|baseline|). "
    "Tolerances start from a floor per metric class and are widened to 3x the difference "
    "observed between two complete runs of the profile that differ in build and thread layout "
    "(observed_delta; the sanitizer build and OpenMP/BLAS summation order change the low bits, "
    "which training amplifies). Floors: accuracy abs 0.05 (a handful of items of the small validation set); "
    "val_loss rel 0.03; learned phi abs 0.10; random_phi and exact quantities (ranks, dims, "
    "majority/suffix baselines) abs 1e-9 since they do not depend on training; Frobenius norms "
    "and projections rel 0.10; amplification rel 0.20 (a ratio of two such norms); effective "
    "rank / rank90 / stable rank rel 0.15 or 1 rank; quanterr cosines abs 0.05 (they scatter "
    "around 0 with sd 1/sqrt(dk)) and error coefficients <dW,E>/|E|^2 abs 1.0 (the same times "
    "|dW|/|E|, about 40 here); NF4 bits per parameter exact. Verdicts: state exact (-1/0/1: a flip "
    "is a regression unless the two runs already differed), p-value abs 0.10, effect abs 0.10 or rel 0.25, "
    "the null means (seeded, independent of training) exact.";

static int write_baseline(const char *path, const char *dir, const char *var_dir)
{
    metric_set cur, var = {0};
    int rc = read_metrics(dir, &cur);
    if (rc != CLI_OK)
        return rc;
    if (var_dir && (rc = read_metrics(var_dir, &var)) != CLI_OK) {
        free(cur.m);
        return rc;
    }
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "format", "lorascope-baseline");
    cJSON_AddNumberToObject(j, "format_version", 1);
    const char *slash = strrchr(dir, '/');
    cJSON_AddStringToObject(j, "profile", slash && slash[1] ? slash + 1 : dir);
    char stamp[32];
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    cJSON_AddStringToObject(j, "created_utc", stamp);
    cJSON_AddStringToObject(j, "git_commit", ana_git_commit());
    cJSON_AddStringToObject(j, "made_from", dir);
    cJSON_AddStringToObject(j, "variation_from", var_dir ? var_dir : "");
    cJSON_AddStringToObject(j, "command", cli_command_line());
    cJSON_AddStringToObject(j, "tolerance_policy", POLICY);
    cJSON *ms = cJSON_AddObjectToObject(j, "metrics");
    int widened = 0;
    for (int i = 0; i < cur.n; i++) {
        tol_class c = classify(cur.m[i].name);
        cJSON *o = cJSON_AddObjectToObject(ms, cur.m[i].name);
        cJSON_AddItemToObject(o, "value", num_or_null(cur.m[i].value));
        double abs_tol = c.abs_tol, rel_tol = c.rel_tol;
        if (var_dir) {
            const metric *v = ms_find(&var, cur.m[i].name);
            double d = v ? fabs(v->value - cur.m[i].value) : NAN;
            cJSON_AddItemToObject(o, "observed_delta", num_or_null(d));
            double allowed = fmax(abs_tol, rel_tol * fabs(cur.m[i].value));
            if (isfinite(d) && 3 * d > allowed) {
                abs_tol = 3 * d;   /* widen: the variation decides */
                widened++;
            }
        }
        cJSON_AddNumberToObject(o, "abs_tol", abs_tol);
        cJSON_AddNumberToObject(o, "rel_tol", rel_tol);
        cJSON_AddStringToObject(o, "class", c.cls);
    }
    char *text = cJSON_Print(j);
    rc = text ? write_text_atomic(path, text) : cli_error("regress", CLI_FAIL, "out of memory");
    if (rc == CLI_OK)
        printf("regress: wrote %s: %d metrics from %s%s%s (%d tolerances widened by the "
               "observed variation)\n", path, cur.n, dir, var_dir ? ", variation from " : "",
               var_dir ? var_dir : "", widened);
    free(text);
    cJSON_Delete(j);
    free(cur.m);
    free(var.m);
    return rc;
}

// ---- comparison ----

static void fmt_num(char *buf, size_t n, double v)
{
    if (isnan(v))
        snprintf(buf, n, "NaN");
    else
        snprintf(buf, n, "%.6g", v);
}

static int print_study(const char *path, const char *only)
{
    lsc_h5 *h = NULL;
    lsc_error err = {0};
    if (lsc_h5_open(&h, path, &err) != LSC_OK)
        return cli_lib_error("regress", &err);
    int rc = CLI_OK;
    if (only) {
        double v;
        if (lsc_h5_read_attr_double(h, "/summary", only, &v, &err) != LSC_OK)
            rc = cli_lib_error("regress", &err);
        else
            printf("%.10g\n", v);
        lsc_h5_close(h);
        return rc;
    }
    char *list = malloc(1 << 20);
    if (!list) {
        lsc_h5_close(h);
        return cli_error("regress", CLI_FAIL, "out of memory");
    }
    if (lsc_h5_read_attr_str(h, "/summary", "metrics", list, 1 << 20, &err) != LSC_OK) {
        rc = cli_error("regress", CLI_FAIL, "%s: no /summary metrics (not a study file)", path);
    } else {
        for (char *s = strtok(list, "\n"); s; s = strtok(NULL, "\n")) {
            double v;
            if (lsc_h5_read_attr_double(h, "/summary", s, &v, &err) == LSC_OK)
                printf("%-40s %.10g\n", s, v);
        }
    }
    free(list);
    lsc_h5_close(h);
    return rc;
}

typedef struct tally {
    int ok, drift, missing, new_, bad;
} tally;

/* One metric e of the baseline (bpath) against cur: its table row (unless quiet and ok), its
 * JSON row into rows, its verdict counted in *t. */
static void compare_metric(const cJSON *e, const char *bpath, const metric_set *cur, int quiet,
                           cJSON *rows, tally *t)
{
    const char *name = e->string;
    if (!cJSON_IsObject(e)) {
        t->bad++;
        cli_warn("regress", "%s: metric %s is not an object; ignored", bpath, name);
        return;
    }
    double bv = jnum(e, "value", NAN);
    double at = jnum(e, "abs_tol", 0), rt = jnum(e, "rel_tol", 0);
    if (!(at >= 0) || !(rt >= 0)) {
        t->bad++;
        cli_warn("regress", "%s: metric %s has a negative or missing tolerance; ignored",
                 bpath, name);
        return;
    }
    double tol = fmax(at, rt * fabs(bv));
    const metric *c = ms_find(cur, name);
    const char *verdict;
    double cv = c ? c->value : NAN;
    if (!c) {
        verdict = "MISSING";
        t->missing++;
    } else if ((isnan(bv) && isnan(cv)) || (!isnan(bv) && !isnan(cv) && fabs(cv - bv) <= tol)) {
        verdict = "ok";
        t->ok++;
    } else {
        verdict = "DRIFT";
        t->drift++;
    }
    if (!quiet || strcmp(verdict, "ok") != 0) {
        char b1[32], b2[32], b3[40];
        fmt_num(b1, sizeof b1, bv);
        if (c)
            fmt_num(b2, sizeof b2, cv);
        else
            snprintf(b2, sizeof b2, "-");
        snprintf(b3, sizeof b3, "±%.3g", tol);
        printf("%-46s %12s %12s %14s  %s\n", cli_safe(name), b1, b2, b3, verdict);
    }
    cJSON *row = cJSON_CreateObject();
    cJSON_AddStringToObject(row, "metric", name);
    cJSON_AddItemToObject(row, "baseline", num_or_null(bv));
    cJSON_AddItemToObject(row, "current", c ? num_or_null(cv) : cJSON_CreateNull());
    cJSON_AddNumberToObject(row, "tolerance", tol);
    cJSON_AddStringToObject(row, "verdict", verdict);
    cJSON_AddItemToArray(rows, row);
}

/* One error line naming the baseline metrics that the results in dir lack (at most
 * about 400 characters of names, then how many more). */
static void report_missing(const char *bpath, const char *dir, const cJSON *bm,
                           const metric_set *cur, int n_missing)
{
    char names[480] = "";
    size_t len = 0;
    int listed = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, bm) {
        if (ms_find(cur, e->string) || len > 400)
            continue;
        int w = snprintf(names + len, sizeof names - len, "%s%s", listed ? ", " : "", e->string);
        if (w > 0)
            len = len + (size_t)w < sizeof names ? len + (size_t)w : sizeof names - 1;
        listed++;
    }
    cli_error("regress", CLI_FAIL, "%s: %d baseline metric%s missing from the results in %s: %s%s",
              bpath, n_missing, n_missing == 1 ? "" : "s", dir, names,
              listed < n_missing ? ", ..." : "");
}

/* The check: every metric of the baseline bpath against results directory dir; the verdicts
 * also to out (JSON) when out is not NULL. CLI_FAIL when any metric drifted, is missing or is
 * malformed. */
static int compare(const char *bpath, const char *dir, const char *out, int quiet)
{
    int rc;
    cJSON *base = read_json(bpath, &rc);
    if (!base)
        return rc;
    metric_set cur;
    if ((rc = read_metrics(dir, &cur)) != CLI_OK) {
        cJSON_Delete(base);
        return rc;
    }
    const cJSON *bm = cJSON_GetObjectItemCaseSensitive(base, "metrics");
    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "baseline", bpath);
    cJSON_AddStringToObject(res, "current", dir);
    cJSON *rows = cJSON_AddArrayToObject(res, "rows");
    tally t = {0, 0, 0, 0, 0};
    printf("%-46s %12s %12s %14s  %s\n", "metric", "baseline", "current", "tolerance", "verdict");
    const cJSON *e;
    cJSON_ArrayForEach(e, bm)
        compare_metric(e, bpath, &cur, quiet, rows, &t);
    for (int i = 0; i < cur.n; i++)
        if (!cJSON_GetObjectItemCaseSensitive(bm, cur.m[i].name)) {
            t.new_++;
            if (!quiet)
                printf("%-46s %12s %12.6g %14s  %s\n", cli_safe(cur.m[i].name), "-", cur.m[i].value, "-",
                       "new (not in baseline)");
        }
    int fail = t.drift > 0 || t.missing > 0 || t.bad > 0;
    if (t.missing > 0)
        report_missing(bpath, dir, bm, &cur, t.missing);
    printf("regress: %d metrics: %d ok, %d drifted, %d missing, %d new, %d malformed -> %s\n",
           t.ok + t.drift + t.missing, t.ok, t.drift, t.missing, t.new_, t.bad,
           fail ? "REGRESSION" : "within tolerance");
    cJSON_AddNumberToObject(res, "n_ok", t.ok);
    cJSON_AddNumberToObject(res, "n_drift", t.drift);
    cJSON_AddNumberToObject(res, "n_missing", t.missing);
    cJSON_AddNumberToObject(res, "n_new", t.new_);
    cJSON_AddStringToObject(res, "verdict", fail ? "regression" : "pass");
    if (out) {
        char *text = cJSON_Print(res);
        int wrc = text ? write_text_atomic(out, text) : CLI_FAIL;
        free(text);
        if (wrc != CLI_OK)
            fail = 1;
    }
    cJSON_Delete(res);
    cJSON_Delete(base);
    free(cur.m);
    return fail ? CLI_FAIL : CLI_OK;
}

// ---- the subcommand ----

int cmd_regress(int argc, char **argv)
{
    cli_opt opts[] = {{"baseline", 1, NULL}, {"current", 1, NULL},   {"out", 1, NULL},
                      {"write-baseline", 1, NULL}, {"variation", 1, NULL}, {"quiet", 0, NULL},
                      {"print", 1, NULL},    {"metric", 1, NULL},
                      {"help", 0, NULL},     {NULL, 0, NULL}};
    const char *pos[1];
    int npos;
    int rc = cli_parse("regress", argc, argv, opts, pos, 0, &npos);
    if (rc != CLI_OK)
        return rc;
    if (cli_flag(opts, "help")) {
        fputs(USAGE, stdout);
        return CLI_OK;
    }
    const char *bpath = cli_get(opts, "baseline"), *dir = cli_get(opts, "current"),
               *wpath = cli_get(opts, "write-baseline"), *vdir = cli_get(opts, "variation");
    if (cli_get(opts, "print"))
        return print_study(cli_get(opts, "print"), cli_get(opts, "metric"));
    if (!dir)
        return cli_error("regress", CLI_USAGE, "missing --current DIR (see --help)");
    if (wpath)
        return write_baseline(wpath, dir, vdir);
    if (!bpath)
        return cli_error("regress", CLI_USAGE, "missing --baseline FILE.json (or --write-baseline)");
    if (vdir)
        return cli_error("regress", CLI_USAGE, "--variation only goes with --write-baseline");
    return compare(bpath, dir, cli_get(opts, "out"), cli_flag(opts, "quiet"));
}
