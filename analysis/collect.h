/*
 * collect.h — what the files of `lorascope collect` share (private to collect*.c): the runs of
 * a study, the writer of the study file with its first-failure bookkeeping, the /summary
 * metrics and the plain-text outputs for gnuplot. collect.c is the subcommand, the manifest
 * and the driver; collect_runs.c reads the runs and writes /runs and /cells; collect_merge.c
 * copies analysis outputs in and summarises them (phi, amp, spec, qerr) and writes the curves;
 * collect_verdict.c computes the verdict lines.
 *
 * What it is not: a public interface. Nothing outside collect*.c includes it.
 */
#ifndef LSC_COLLECT_H
#define LSC_COLLECT_H

#include <stddef.h>
#include <stdio.h>

#include "analysis_common.h"

// ---- runs (collect_runs.c) ----

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
    double rank_accuracy;                       /* test split, rank classification (NaN: none) */
    double dev_accuracy, dev_rank_accuracy;     /* dev split (the lr sweep; NaN: not evaluated) */
    double dw_ratio_median, dw_ratio_max;       /* ‖ΔW‖_F/‖W‖_F over the adapted modules */
    double lr;
    long   n_items;
    long   trainable;
    char   sha256[65];
} run;

// ---- the study file being written ----

typedef struct wctx {
    lsc_h5    *h;
    lsc_error  err;
    int        rc;        /* first failure */
    char      *metrics;   /* newline-separated names of the /summary attributes */
    size_t     mlen, mcap;
    const struct run *runs;   /* the study's runs (the vsat / vbetter lines pair their cells) */
    int        nr;
} wctx;

/* Writers that do nothing once w->rc records a failure. */
static inline void w_attr_d(wctx *w, const char *obj, const char *name, double v)
{
    if (w->rc == LSC_OK)
        w->rc = lsc_h5_attr_double(w->h, obj, name, v, &w->err);
}
static inline void w_attr_i(wctx *w, const char *obj, const char *name, long long v)
{
    if (w->rc == LSC_OK)
        w->rc = lsc_h5_attr_int(w->h, obj, name, v, &w->err);
}
static inline void w_attr_s(wctx *w, const char *obj, const char *name, const char *v)
{
    if (w->rc == LSC_OK)
        w->rc = lsc_h5_attr_str(w->h, obj, name, v, &w->err);
}
static inline void w_group(wctx *w, const char *path)
{
    if (w->rc == LSC_OK)
        w->rc = lsc_h5_group(w->h, path, &w->err);
}
static inline void w_f64(wctx *w, const char *path, int ndim, const size_t *dims, const double *x)
{
    if (w->rc == LSC_OK)
        w->rc = lsc_h5_write_f64(w->h, path, ndim, dims, x, &w->err);
}

/* /summary@"<key>.<what>" (either may be empty) = v, and its name added to w->metrics
 * (collect.c). */
void collect_summary_(wctx *w, const char *key, const char *what, double v);

// ---- plain-text outputs (collect.c) ----

/* Opens *a on path (atomically replaced by collect_dat_commit_); prints the error. */
int collect_dat_open_(lsc_atomic *a, const char *path);
/* Publishes *a when it is open (a.fp != NULL); prints the error. */
int collect_dat_commit_(lsc_atomic *a);

// ---- the manifest's line kinds ----

/* collect_runs.c: reads RUN_DIR of a "run CELL RUN_DIR" line into *r. */
int collect_run_read_(run *r, const char *cell, const char *dir);
/* collect_runs.c: /runs/<id>, /cells/<cell> (and a dat row per cell when dat), the trivial
 * baselines in /summary and the root's seeds, runs_wall_seconds and n_runs. */
int collect_runs_write_(wctx *w, const run *runs, int nr, FILE *dat);

/* collect_merge.c: the other line kinds (see collect.c's comment); dat_dir / dat / fp may be
 * NULL when the plain-text output was not asked for. */
int collect_merge_(wctx *w, const char *group, const char *file);
/* Reads the 2-D dataset path of h into *x (malloc'd, *r × *c); prints the error. */
int collect_read_2d_(const lsc_h5 *h, const char *path, double **x, size_t *r, size_t *c);
int collect_phi_(wctx *w, const char *key, const char *path, const char *dat_dir);
int collect_qerr_(wctx *w, const char *key, const char *path);
int collect_amp_(wctx *w, const char *key, const char *path, FILE *dat);
int collect_spec_(wctx *w, const char *key, const char *path, const char *dat_dir);
int collect_curve_(FILE *fp, int index, const char *label, const char *dir);

/* collect_verdict.c: the verdict lines (see that file); dat may be NULL. kind of
 * collect_vpaired_ is "vsat" or "vbetter". */
int collect_vphi_(wctx *w, const char *name, const char *value, FILE *dat);
int collect_vamp_(wctx *w, const char *name, const char *value, FILE *dat);
int collect_vregime_(wctx *w, const char *name, const char *value, FILE *dat);
int collect_vpaired_(wctx *w, const char *kind, const char *name, const char *value, FILE *dat);
int collect_vintr_(wctx *w, const char *name, const char *value, FILE *dat);
int collect_vstall_(wctx *w, const char *name, const char *value, FILE *dat);
int collect_cellstat_(wctx *w, const char *cell, const char *metric);
/* collect_verdict.c, for the verdicts of other files: /verdicts/<name> with its /summary numbers; a
 * --verdict-dat row; the accuracy the verdicts use ("rank_accuracy" or "accuracy"). */
void collect_put_verdict_(wctx *w, const char *name, const lsc_verdict *v, const char *metric);
void collect_verdict_row_(FILE *dat, const char *name, const char *module, const lsc_verdict *v, double a, double b,
                          double c);
const char *collect_metric_of_(const run *runs, int nr);
/* collect_runs.c: the parsed JSON file path (NULL when missing or not JSON; cJSON_Delete it). */
struct cJSON *collect_json_file_(const char *path);
/* collect_eval.c (issue 17): evalj CELL BASE.json<TAB>SEED:FILE.json...; vforget / vlearn NAME FULL LORA... */
int collect_evalj_(wctx *w, const char *cell, const char *value);
int collect_vpool_(wctx *w, const char *kind, const char *name, const char *value, FILE *dat);

#endif /* LSC_COLLECT_H */
