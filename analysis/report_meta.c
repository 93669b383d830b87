/*
 * report_meta.c — the sections of `lorascope report` about how the results were made: the
 * regression check (DIR/regress.json), the configuration, the wall and CPU times
 * (DIR/runs/<id>/run.json, DIR/timing.tsv, the cached base's .txt) and the provenance of every
 * study file.
 *
 * What it is not: a judgement of the results (report_paper.c) or a checker (`lorascope
 * regress` decides the verdicts this only shows).
 */
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "report.h"

// ---- regression, timing, provenance ----

/* The count key of j (0 when absent or not a number); a number that is not an integer in
 * [0, INT_MAX] is recorded in *bad (the first one) and counts 0 (issue 15: it was converted
 * unchecked). */
static int count_of(const cJSON *j, const char *key, const char *path, lsc_error *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(v))
        return 0;
    lsc_error e = {0};
    if (lsc_json_num_check(v->valuedouble, 0, INT_MAX, 1, path, key, &e) == LSC_OK)
        return (int)v->valuedouble;
    if (!bad->code)
        *bad = e;
    return 0;
}

void sec_regress_(ctx *c, const char *path)
{
    doc *d = &c->d;
    doc_h_(d, 2, "regress", "Regression check");
    int rc;
    FILE *fp = lsc_file_open_read(path, NULL);
    if (!fp) {
        doc_p_(d, "No regression check for this profile (no committed baseline "
                  "experiments/baselines/%s.json, or the check did not run).", c->profile);
        return;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    char tmp[4096];
    while ((got = fread(tmp, 1, sizeof tmp, fp)) > 0) {
        if (n + got + 1 > cap) {
            cap = 2 * (n + got + 1);
            char *nb = realloc(buf, cap);
            if (!nb)
                break;
            buf = nb;
        }
        memcpy(buf + n, tmp, got);
        n += got;
    }
    fclose(fp);
    cJSON *j = NULL;
    if (buf) {
        buf[n] = '\0';
        j = cJSON_Parse(buf);
        free(buf);
    }
    if (!j) {
        doc_p_(d, "%s is unreadable.", path);
        return;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "verdict");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "baseline");
    lsc_error bad = {0};
    int ok = count_of(j, "n_ok", path, &bad), dr = count_of(j, "n_drift", path, &bad);
    int mi = count_of(j, "n_missing", path, &bad);
    if (bad.code) {
        cli_warn("report", "%s", bad.msg);
        doc_p_(d, "The regression check's result is malformed: %s.", bad.msg);
        cJSON_Delete(j);
        return;
    }
    int pass = cJSON_IsString(v) && strcmp(v->valuestring, "pass") == 0;
    fprintf(d->html, "<p class=\"%s\">", pass ? "pass" : "fail");
    char line[1024];
    snprintf(line, sizeof line, "**%s**: %d metrics within tolerance, %d drifted, %d missing, "
             "against %s.", pass ? "PASS" : "REGRESSION", ok, dr, mi,
             cJSON_IsString(b) ? b->valuestring : "?");
    html_text_(d->html, line);
    fputs("</p>\n", d->html);
    doc_md_text_(d, line);
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(j, "rows");
    const char *heads[] = {"metric", "baseline", "current", "tolerance", "verdict"};
    table t;
    fputs("<details><summary>all metrics</summary>\n", d->html);
    doc_table_begin_(d, &t, NULL, 5, heads);
    const cJSON *r;
    cJSON_ArrayForEach(r, rows) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(r, "metric");
        const cJSON *bv = cJSON_GetObjectItemCaseSensitive(r, "baseline");
        const cJSON *cv = cJSON_GetObjectItemCaseSensitive(r, "current");
        const cJSON *tv = cJSON_GetObjectItemCaseSensitive(r, "tolerance");
        const cJSON *vv = cJSON_GetObjectItemCaseSensitive(r, "verdict");
        char s1[32], s2[32], s3[32];
        rfmt_(s1, sizeof s1, "%.6g", cJSON_IsNumber(bv) ? bv->valuedouble : NAN);
        rfmt_(s2, sizeof s2, "%.6g", cJSON_IsNumber(cv) ? cv->valuedouble : NAN);
        snprintf(s3, sizeof s3, "±%.3g", cJSON_IsNumber(tv) ? tv->valuedouble : NAN);
        const char *cells[] = {cJSON_IsString(m) ? m->valuestring : "?", s1, s2, s3,
                               cJSON_IsString(vv) ? vv->valuestring : "?"};
        doc_row_(d, &t, cells);
    }
    doc_table_end_(d);
    fputs("</details>\n", d->html);
    cJSON_Delete(j);
    (void)rc;
}

/* Sum of train+eval wall seconds of every finished run in DIR/runs; *cpu: their CPU seconds
 * (NaN when a run did not record them). */
static double runs_seconds(const char *dir, int *n_runs, double *cpu, int *n_cpu)
{
    *cpu = 0;
    *n_cpu = 0;
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/runs", dir);
    *n_runs = 0;
    DIR *dd = opendir(path);
    if (!dd)
        return NAN;
    double tot = 0;
    struct dirent *e;
    while ((e = readdir(dd))) {
        if (e->d_name[0] == '.')
            continue;
        char p[PATH_MAX + 300];
        snprintf(p, sizeof p, "%s/%s/run.json", path, e->d_name);
        FILE *fp = lsc_file_open_read(p, NULL);
        if (!fp)
            continue;
        char buf[8192];
        size_t n = fread(buf, 1, sizeof buf - 1, fp);
        fclose(fp);
        buf[n] = '\0';
        cJSON *j = cJSON_Parse(buf);
        if (!j)
            continue;
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "train_seconds");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "eval_seconds");
        tot += (cJSON_IsNumber(a) ? a->valuedouble : 0) + (cJSON_IsNumber(b) ? b->valuedouble : 0);
        const cJSON *cp = cJSON_GetObjectItemCaseSensitive(j, "cpu_seconds");
        if (cJSON_IsNumber(cp)) {
            *cpu += cp->valuedouble;
            (*n_cpu)++;
        }
        (*n_runs)++;
        cJSON_Delete(j);
    }
    closedir(dd);
    return tot;
}

void sec_setup_(ctx *c)
{
    doc *d = &c->d;
    const study *s = NULL;
    for (int i = 0; i < S_N && !s; i++)
        if (c->st[i].h)
            s = &c->st[i];
    doc_h_(d, 2, "setup", "Configuration");
    if (!s) {
        doc_p_(d, "No study file found in %s.", c->dir);
        return;
    }
    const char *keys[] = {"profile_description", "git_commit", "lorascope_version", "arch", "base_model",
                          "base_config", "corpus", "task", "lora_train_args", "seeds", "threads",
                          "profile_config"};
    const char *labels[] = {"profile", "git commit", "lorascope version", "architecture", "base model (cached)",
                            "base model config", "pretraining corpus", "task",
                            "LoRA training (every run)", "seeds", "threads per run",
                            "profile file"};
    const char *heads[] = {"setting", "value"};
    table t;
    doc_table_begin_(d, &t, NULL, 2, heads);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char v[4096];
        root_str_(s, keys[i], v, sizeof v);
        const char *cells[] = {labels[i], v};
        doc_row_(d, &t, cells);
    }
    doc_table_end_(d);
}

void sec_timing_(ctx *c)
{
    doc *d = &c->d;
    doc_h_(d, 2, "timing", "Wall times");
    int n_runs = 0;
    double rcpu = NAN, base_cpu = NAN;
    int n_cpu = 0;
    double rs = runs_seconds(c->dir, &n_runs, &rcpu, &n_cpu);
    /* base model pretraining: data/cache/base-<sha>.txt beside the cached model */
    double base_s = NAN;
    for (int i = 0; i < S_N; i++) {
        if (!c->st[i].h)
            continue;
        char b[PATH_MAX];
        root_str_(&c->st[i], "base_model", b, sizeof b);
        char *dot = strstr(b, ".safetensors");
        if (dot) {
            strcpy(dot, ".txt");
            FILE *fp = lsc_file_open_read(b, NULL);
            char line[512];
            while (fp && fgets(line, sizeof line, fp))
                if (strncmp(line, "wall_seconds ", 13) == 0)
                    base_s = atof(line + 13);
                else if (strncmp(line, "cpu_seconds ", 12) == 0)
                    base_cpu = atof(line + 12);
            if (fp)
                fclose(fp);
        }
        break;
    }
    char bcpu[48] = "", rcpu_s[160] = "";
    if (!isnan(base_cpu))
        snprintf(bcpu, sizeof bcpu, " (%.0f CPU s)", base_cpu);
    if (n_cpu > 0)
        snprintf(rcpu_s, sizeof rcpu_s, "; %.0f CPU s (%.1f CPU min) for the %d runs that recorded it",
                 rcpu, rcpu / 60, n_cpu);
    doc_p_(d, "Compute behind these results: base-model pretraining %.0f s wall%s; %d training runs "
              "(each trains and evaluates) %.0f s wall in total%s. Runs train two at a time on one "
              "thread each, so the wall time of the run stage is about half the sum. Wall times "
              "depend on the machine's load, CPU seconds much less. Runs are cached: a repeated "
              "`make reproduce` only redoes what changed.",
           base_s, bcpu, n_runs, rs, rcpu_s);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/timing.tsv", c->dir);
    FILE *fp = lsc_file_open_read(path, NULL);
    if (!fp)
        return;
    const char *heads[] = {"stage (last reproduce.sh that trained something)", "wall seconds"};
    table t;
    doc_table_begin_(d, &t, NULL, 2, heads);
    char line[512];
    int first = 1;
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *tab = strchr(line, '\t');
        if (!tab || first) {
            first = 0;
            continue;
        }
        *tab = '\0';
        const char *cells[] = {line, tab + 1};
        doc_row_(d, &t, cells);
    }
    fclose(fp);
    doc_table_end_(d);
}

void sec_provenance_(ctx *c)
{
    doc *d = &c->d;
    doc_h_(d, 2, "provenance", "Provenance of the study files");
    const char *heads[] = {"file", "created (UTC)", "git commit", "sha256", "runs", "analysis s"};
    table t;
    doc_table_begin_(d, &t, NULL, 6, heads);
    for (int i = 0; i < S_N; i++) {
        const study *s = &c->st[i];
        char file[128], cr[64] = "—", gc[128] = "—", sha[80] = "—", nr[16] = "—", an[32] = "—";
        snprintf(file, sizeof file, "%s.h5", s->name);
        if (s->h) {
            root_str_(s, "created_utc", cr, sizeof cr);
            root_str_(s, "git_commit", gc, sizeof gc);
            char hex[65], p[PATH_MAX + 200];
            lsc_error e = {0};
            snprintf(p, sizeof p, "%s/%s.h5", c->dir, s->name);
            if (lsc_sha256_file(p, hex, &e) == LSC_OK)
                snprintf(sha, sizeof sha, "%.16s…", hex);
            rfmt_(nr, sizeof nr, "%.0f", attr_d_(s, "/", "n_runs"));
            rfmt_(an, sizeof an, "%.1f", attr_d_(s, "/", "wall_time_s"));
        }
        const char *cells[] = {file, cr, gc, sha, nr, an};
        doc_row_(d, &t, cells);
    }
    doc_table_end_(d);
    doc_p_(d, "Each file's root attributes hold the full configuration, the seeds, the input "
              "checksums and the command; per-run checksums are in /runs/<id>. Layout: "
              "README.md, section \"Results layout\".");
}

