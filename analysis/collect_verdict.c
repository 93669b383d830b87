/*
 * collect_verdict.c — the verdict lines of `lorascope collect` (LoRA issue 12): each computes one
 * of the studies' claims from the numbers already in the study file (the merged analysis outputs,
 * the runs) with a rule of lib/verdict.c, and writes /verdicts/<name> (state, verdict, effect,
 * interval, p, the test and the null it had to beat, one sentence of evidence), the headline
 * numbers into /summary and one row per verdict into the --verdict-dat table.
 *
 *   vphi     NAME  F:MODULE          φ(1,1) of seed pairs /p<k>/F/modules/MODULE (k = 1, 2, ...)
 *                                    against their Haar draws (phi11_null) and the step-0 grids
 *                                    /p<k>/init_F/modules/MODULE
 *   vamp     NAME  MODULE LOW HIGH   Table 7 of /p<k>/r<LOW>/modules/MODULE and r<HIGH>: alignment
 *                                    with W beyond a random ΔW (align.NAME.r<r>), amplification
 *                                    larger at LOW than at HIGH beyond the null (amp.NAME)
 *   vregime  NAME  MODULE RANK       ‖ΔW‖_F/‖W‖_F of /p<k>/r<RANK>/modules/MODULE within 3× of
 *                                    the paper's (GPT-3 Wq, r=4, layer 48: 6.91/61.95)
 *   vsat     NAME  SMALL LARGE M     TOST of cells SMALL and LARGE, paired by seed, margin M; not
 *                                    measured when LARGE is not above the majority class
 *   vbetter  NAME  A B               cell A better than cell B, paired t-test by seed
 *
 * Accuracies are the test split's rank-classification accuracy when the runs have it, else the
 * greedy exact match; the verdict names which (attribute metric); effects are in accuracy points. What it is not: statistics (lib/stats.c) or the
 * rules themselves (lib/verdict.c); this file only gathers their inputs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "collect.h"

#define MAX_PAIRS 64
#define ALPHA 0.05
#define PAPER_DW_RATIO (6.91 / 61.95)   /* GPT-3 ‖ΔWq‖_F / ‖Wq‖_F at r=4, layer 48 (Table 7) */

// ---- writing a verdict ----

static const char *state_word(int s)
{
    return s == LSC_SHOWN ? "shown" : s == LSC_NOT_SHOWN ? "not shown" : "not measured";
}

/* /verdicts/<name> and its /summary numbers; a row of the dat table when dat. */
static void put_verdict(wctx *w, const char *name, const lsc_verdict *v, const char *metric)
{
    char obj[320];
    snprintf(obj, sizeof obj, "/verdicts/%s", name);
    w_group(w, "/verdicts");
    w_group(w, obj);
    w_attr_s(w, obj, "verdict", state_word(v->state));
    w_attr_i(w, obj, "state", v->state);
    w_attr_d(w, obj, "effect", v->effect);
    w_attr_d(w, obj, "lo", v->lo);
    w_attr_d(w, obj, "hi", v->hi);
    w_attr_d(w, obj, "p", v->p);
    w_attr_d(w, obj, "null_value", v->null_value);
    w_attr_d(w, obj, "alpha", v->alpha);
    w_attr_i(w, obj, "n", v->n);
    w_attr_s(w, obj, "test", v->test);
    w_attr_s(w, obj, "null", v->null_desc);
    w_attr_s(w, obj, "evidence", v->evidence);
    if (metric)
        w_attr_s(w, obj, "metric", metric);
    collect_summary_(w, name, "state", v->state);
    collect_summary_(w, name, "effect", v->effect);
    collect_summary_(w, name, "p", v->p);
}

/* Columns: name layer proj a b c effect lo p state smin smax (smin, smax: the range of a over
 * the seed pairs where a is such a mean, else NaN). */
static void dat_row_range(FILE *dat, const char *name, const char *module, const lsc_verdict *v, double a,
                          double b, double c, double smin, double smax)
{
    if (!dat)
        return;
    int layer = -1, target = -1;   /* either architecture's PEFT name */
    if (lsc_lora_module_parse(module, &layer, &target) != 0)
        layer = -1;
    fprintf(dat, "%s %d %c %.6g %.6g %.6g %.6g %.6g %.6g %d %.6g %.6g\n", name, layer,
            target >= 0 ? lsc_lora_target_short(target)[0] : '?', a, b, c, v->effect, v->lo, v->p, v->state,
            smin, smax);
}

static void dat_row(FILE *dat, const char *name, const char *module, const lsc_verdict *v, double a,
                    double b, double c)
{
    dat_row_range(dat, name, module, v, a, b, c, NAN, NAN);
}

// ---- reading the merged outputs ----

static int read_attr(wctx *w, const char *obj, const char *name, double *v)
{
    lsc_error e = {0};
    *v = NAN;
    return lsc_h5_read_attr_double(w->h, obj, name, v, &e) == LSC_OK;
}

/* Appends the 1-D dataset obj/name to *x (realloc'd; *n values so far). */
static int append_1d(wctx *w, const char *obj, const char *name, double **x, size_t *n)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", obj, name);
    lsc_error e = {0};
    int nd;
    size_t dims[8];
    if (!lsc_h5_exists(w->h, p) || lsc_h5_dataset_shape(w->h, p, &nd, dims, 8, &e) != LSC_OK || nd != 1)
        return cli_error("collect", CLI_FAIL, "%s: no 1-D dataset %s (an analysis output without its null?)",
                         lsc_h5_path(w->h), p);
    double *nx = realloc(*x, (*n + dims[0] + 1) * sizeof **x);
    if (!nx)
        return cli_error("collect", CLI_FAIL, "out of memory");
    *x = nx;
    if (lsc_h5_read_f64(w->h, p, dims[0], *x + *n, &e) != LSC_OK)
        return cli_lib_error("collect", &e);
    *n += dims[0];
    return CLI_OK;
}

/* φ(1,1) of the grid merged at obj (the first element of its phi dataset). */
static int read_phi11(wctx *w, const char *obj, double *v)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/phi", obj);
    double *g = NULL;
    size_t r = 0, c = 0;
    int rc = collect_read_2d_(w->h, p, &g, &r, &c);
    if (rc == CLI_OK && r * c == 0)
        rc = cli_error("collect", CLI_FAIL, "%s: empty phi grid at %s", lsc_h5_path(w->h), p);
    if (rc == CLI_OK)
        *v = g[0];
    free(g);
    return rc;
}

// ---- vphi ----

int collect_vphi_(wctx *w, const char *name, const char *value, FILE *dat)
{
    if (strlen(value) < 3 || value[1] != ':')
        return cli_error("collect", CLI_FAIL, "vphi %s: value must be F:MODULE, not '%s'", name, value);
    char f = value[0];
    const char *module = value + 2;
    double tr[MAX_PAIRS], in[MAX_PAIRS], *null = NULL;
    size_t nn = 0;
    int n = 0, nin = 0, rc = CLI_OK;
    char obj[1024];
    for (int k = 1; k <= MAX_PAIRS && rc == CLI_OK; k++) {
        snprintf(obj, sizeof obj, "/p%d/%c/modules/%s", k, f, module);
        if (!lsc_h5_exists(w->h, obj))
            break;
        if ((rc = read_phi11(w, obj, &tr[n])) != CLI_OK || (rc = append_1d(w, obj, "phi11_null", &null, &nn)) != CLI_OK)
            break;
        n++;
        snprintf(obj, sizeof obj, "/p%d/init_%c/modules/%s", k, f, module);
        if (lsc_h5_exists(w->h, obj) && (rc = read_phi11(w, obj, &in[nin])) == CLI_OK)
            nin++;
    }
    if (rc == CLI_OK && n == 0)
        rc = cli_error("collect", CLI_FAIL, "vphi %s: no /p1/%c/modules/%s (merge the pairs first)", name, f, module);
    if (rc != CLI_OK) {
        free(null);
        return rc;
    }
    lsc_verdict v;
    lsc_error e = {0};
    char nd[200];
    long long dim = 0;
    snprintf(obj, sizeof obj, "/p1/%c/modules/%s", f, module);
    lsc_h5_read_attr_int(w->h, obj, "dim", &dim, &e);
    snprintf(nd, sizeof nd, "Haar-random subspaces of R^%lld (phi11_null of `lorascope subspace`)", dim);
    lsc_verdict_opts opt = {ALPHA, 0, 12, nd};
    if (lsc_verdict_phi(tr, nin == n ? in : NULL, n, null, (int)nn, &opt, &v, &e) != LSC_OK) {
        free(null);
        return cli_error("collect", CLI_FAIL, "vphi %s: %s", name, e.msg);
    }
    double mt = 0, mi = NAN, tmin = INFINITY, tmax = -INFINITY;
    for (int i = 0; i < n; i++) {
        mt += tr[i] / n;
        tmin = fmin(tmin, tr[i]);
        tmax = fmax(tmax, tr[i]);
    }
    if (nin == n) {
        mi = 0;
        for (int i = 0; i < n; i++)
            mi += in[i] / n;
    }
    put_verdict(w, name, &v, NULL);
    collect_summary_(w, name, "phi11_mean", mt);
    collect_summary_(w, name, "init_phi11_mean", mi);
    collect_summary_(w, name, "null_mean", v.null_value);
    collect_summary_(w, name, "n_pairs", n);
    dat_row_range(dat, name, module, &v, mt, mi, v.null_value, tmin, tmax);
    free(null);
    return w->rc == LSC_OK ? CLI_OK : cli_lib_error("collect", &w->err);
}

// ---- vamp, vregime ----

/* One rank of one seed pair's Table 7 module group. */
typedef struct amp_obs {
    double delta_fro, base_fro, proj_delta, proj_delta_k;
    double *null, *null_k;   /* proj_null, proj_null_k draws */
    size_t n_null, n_null_k;
} amp_obs;

static int read_amp(wctx *w, int k, int r, const char *module, amp_obs *o)
{
    char obj[1024];
    snprintf(obj, sizeof obj, "/p%d/r%d/modules/%s", k, r, module);
    memset(o, 0, sizeof *o);
    if (!lsc_h5_exists(w->h, obj))
        return CLI_FAIL;
    if (!read_attr(w, obj, "delta_fro", &o->delta_fro) || !read_attr(w, obj, "base_fro", &o->base_fro) ||
        !read_attr(w, obj, "proj_delta", &o->proj_delta) || !read_attr(w, obj, "proj_delta_k", &o->proj_delta_k))
        return cli_error("collect", CLI_FAIL, "%s: %s lacks delta_fro, base_fro, proj_delta or proj_delta_k "
                         "(amplify --k)", lsc_h5_path(w->h), obj);
    int rc = append_1d(w, obj, "proj_null", &o->null, &o->n_null);
    if (rc == CLI_OK)
        rc = append_1d(w, obj, "proj_null_k", &o->null_k, &o->n_null_k);
    return rc;
}

static void free_amp(amp_obs *o, int n)
{
    for (int i = 0; i < n; i++) {
        free(o[i].null);
        free(o[i].null_k);
    }
}

/* Reads rank r of every seed pair into o (*n of them). */
static int read_amp_pairs(wctx *w, const char *name, const char *module, int r, amp_obs *o, int *n)
{
    *n = 0;
    for (int k = 1; k <= MAX_PAIRS; k++) {
        int rc = read_amp(w, k, r, module, &o[*n]);
        if (rc == CLI_FAIL && !o[*n].null)
            break;
        if (rc != CLI_OK) {
            free_amp(o, *n + 1);
            return rc;
        }
        (*n)++;
    }
    if (*n == 0)
        return cli_error("collect", CLI_FAIL, "%s: no /p1/r%d/modules/%s (merge the amplify outputs first)", name, r,
                         module);
    return CLI_OK;
}

/* Rank r of n runs: is proj_ΔW above its random-ΔW null (lsc_verdict_alignment)? */
static int alignment_verdict(wctx *w, const char *name, const char *module, int r, amp_obs *o, int n, FILE *dat)
{
    double pd[MAX_PAIRS] = {0};
    size_t N = o[0].n_null;
    double *nul = calloc((size_t)n * (N ? N : 1), sizeof *nul);
    if (!nul)
        return cli_error("collect", CLI_FAIL, "out of memory");
    for (int i = 0; i < n; i++) {
        if (o[i].n_null != N) {
            free(nul);
            return cli_error("collect", CLI_FAIL, "vamp %s: runs with different numbers of null draws", name);
        }
        pd[i] = o[i].proj_delta;
        memcpy(nul + (size_t)i * N, o[i].null, N * sizeof *nul);
    }
    lsc_verdict v;
    lsc_error e = {0};
    lsc_verdict_opts opt = {ALPHA, 0, 13, "random ΔW of the run's rank and norm (Haar frames; proj_null of "
                                          "`lorascope amplify`)"};
    int lrc = lsc_verdict_alignment(pd, n, nul, (int)N, &opt, &v, &e);
    free(nul);
    if (lrc != LSC_OK)
        return cli_error("collect", CLI_FAIL, "vamp %s: %s", name, e.msg);
    char vn[300];
    snprintf(vn, sizeof vn, "align.%s.r%d", name, r);
    put_verdict(w, vn, &v, NULL);
    double amp = 0;
    for (int i = 0; i < n; i++)
        amp += o[i].delta_fro / o[i].proj_delta / n;
    collect_summary_(w, vn, "amplification_mean", amp);
    dat_row(dat, vn, module, &v, amp, pd[0], v.null_value);
    return CLI_OK;
}

/* The K-fixed arm of rank r for lsc_verdict_amp_ranks (its arrays in d, p and nul, n·N). */
static int amp_arm(const char *name, int r, const amp_obs *o, int n, double *d, double *p, double **nul,
                   lsc_amp_runs *arm)
{
    size_t N = o[0].n_null_k;
    *nul = malloc((size_t)n * (N ? N : 1) * sizeof **nul);
    if (!*nul)
        return cli_error("collect", CLI_FAIL, "out of memory");
    for (int i = 0; i < n; i++) {
        if (o[i].n_null_k != N)
            return cli_error("collect", CLI_FAIL, "vamp %s: runs with different numbers of null draws", name);
        d[i] = o[i].delta_fro;
        p[i] = o[i].proj_delta_k;
        memcpy(*nul + (size_t)i * N, o[i].null_k, N * sizeof **nul);
    }
    *arm = (lsc_amp_runs){r, n, d, p, *nul, (int)N};
    return CLI_OK;
}

int collect_vamp_(wctx *w, const char *name, const char *value, FILE *dat)
{
    char module[512];
    int lo, hi;
    if (sscanf(value, "%511s %d %d", module, &lo, &hi) != 3)
        return cli_error("collect", CLI_FAIL, "vamp %s: value must be MODULE LOW HIGH, not '%s'", name, value);
    amp_obs a[MAX_PAIRS], b[MAX_PAIRS];
    int na = 0, nb = 0, rc;
    if ((rc = read_amp_pairs(w, name, module, lo, a, &na)) != CLI_OK)
        return rc;
    if ((rc = read_amp_pairs(w, name, module, hi, b, &nb)) != CLI_OK) {
        free_amp(a, na);
        return rc;
    }
    if ((rc = alignment_verdict(w, name, module, lo, a, na, dat)) == CLI_OK)
        rc = alignment_verdict(w, name, module, hi, b, nb, dat);
    double dlo[MAX_PAIRS], plo[MAX_PAIRS], dhi[MAX_PAIRS], phi_[MAX_PAIRS], *nlo = NULL, *nhi = NULL;
    lsc_amp_runs alo, ahi;
    if (rc == CLI_OK && (rc = amp_arm(name, lo, a, na, dlo, plo, &nlo, &alo)) == CLI_OK &&
        (rc = amp_arm(name, hi, b, nb, dhi, phi_, &nhi, &ahi)) == CLI_OK) {
        lsc_verdict v;
        lsc_error e = {0};
        double kf = NAN;
        char obj[1024];
        snprintf(obj, sizeof obj, "/p1/r%d/modules/%s", lo, module);
        read_attr(w, obj, "k_fixed", &kf);
        lsc_verdict_opts opt = {ALPHA, 0, 14, "random ΔW of each run's rank and norm (Haar frames, K fixed)"};
        if (lsc_verdict_amp_ranks(&alo, &ahi, isfinite(kf) ? (int)kf : 0, &opt, &v, &e) != LSC_OK)
            rc = cli_error("collect", CLI_FAIL, "vamp %s: %s", name, e.msg);
        else {
            char vn[300];
            snprintf(vn, sizeof vn, "amp.%s", name);
            put_verdict(w, vn, &v, NULL);
            dat_row(dat, vn, module, &v, dlo[0] / plo[0], dhi[0] / phi_[0], v.null_value);
        }
    }
    free(nlo);
    free(nhi);
    free_amp(a, na);
    free_amp(b, nb);
    if (rc == CLI_OK && w->rc != LSC_OK)
        rc = cli_lib_error("collect", &w->err);
    return rc;
}

int collect_vregime_(wctx *w, const char *name, const char *value, FILE *dat)
{
    char module[512];
    int r;
    if (sscanf(value, "%511s %d", module, &r) != 2)
        return cli_error("collect", CLI_FAIL, "vregime %s: value must be MODULE RANK, not '%s'", name, value);
    double ratio[MAX_PAIRS];
    int n = 0;
    char obj[1024];
    for (int k = 1; k <= MAX_PAIRS; k++) {
        snprintf(obj, sizeof obj, "/p%d/r%d/modules/%s", k, r, module);
        double d, b;
        if (!lsc_h5_exists(w->h, obj))
            break;
        if (!read_attr(w, obj, "delta_fro", &d) || !read_attr(w, obj, "base_fro", &b))
            return cli_error("collect", CLI_FAIL, "vregime %s: %s lacks delta_fro/base_fro", name, obj);
        ratio[n++] = d / b;
    }
    if (n == 0)
        return cli_error("collect", CLI_FAIL, "vregime %s: no /p1/r%d/modules/%s", name, r, module);
    lsc_verdict v;
    lsc_error e = {0};
    if (lsc_verdict_regime(ratio, n, PAPER_DW_RATIO, 3.0, &v, &e) != LSC_OK)
        return cli_error("collect", CLI_FAIL, "vregime %s: %s", name, e.msg);
    put_verdict(w, name, &v, NULL);
    collect_summary_(w, name, "paper_ratio", PAPER_DW_RATIO);
    dat_row(dat, name, module, &v, ratio[0], PAPER_DW_RATIO, 3.0);
    return w->rc == LSC_OK ? CLI_OK : cli_lib_error("collect", &w->err);
}

// ---- vsat, vbetter: cells paired by seed ----

/* The accuracy the verdicts use: rank classification when every run has it. */
static const char *metric_of(const run *runs, int nr)
{
    for (int i = 0; i < nr; i++)
        if (!isfinite(runs[i].rank_accuracy))
            return "accuracy";
    return "rank_accuracy";
}

static double metric_value(const run *r, const char *metric)
{
    return strcmp(metric, "rank_accuracy") == 0 ? r->rank_accuracy : r->accuracy;
}

/* The runs of cells a and b with the same seed, as paired arrays (*n pairs). */
static int paired_cells(const wctx *w, const char *name, const char *ca, const char *cb, const char *metric,
                        double *xa, double *xb, int *n)
{
    *n = 0;
    int found_a = 0, found_b = 0;
    for (int i = 0; i < w->nr; i++) {
        const run *r = &w->runs[i];
        found_b |= strcmp(r->cell, cb) == 0;
        if (strcmp(r->cell, ca) != 0)
            continue;
        found_a = 1;
        for (int j = 0; j < w->nr && *n < MAX_PAIRS; j++)
            if (strcmp(w->runs[j].cell, cb) == 0 && w->runs[j].seed == r->seed) {
                xa[*n] = metric_value(r, metric);
                xb[*n] = metric_value(&w->runs[j], metric);
                (*n)++;
                break;
            }
    }
    if (!found_a || !found_b)
        return cli_error("collect", CLI_FAIL, "%s: no runs of cell '%s'", name, found_a ? cb : ca);
    return CLI_OK;
}

int collect_vpaired_(wctx *w, const char *kind, const char *name, const char *value, FILE *dat)
{
    char ca[128], cb[128];
    double margin = NAN;
    int nf = sscanf(value, "%127s %127s %lf", ca, cb, &margin);
    int sat = strcmp(kind, "vsat") == 0;
    if (nf < 2 || (sat && (nf < 3 || !(margin > 0))))
        return cli_error("collect", CLI_FAIL, "%s %s: value must be CELL_A CELL_B%s, not '%s'", kind, name,
                         sat ? " MARGIN" : "", value);
    const char *metric = metric_of(w->runs, w->nr);
    double xa[MAX_PAIRS], xb[MAX_PAIRS];
    int n, rc = paired_cells(w, name, ca, cb, metric, xa, xb, &n);
    if (rc != CLI_OK)
        return rc;
    lsc_verdict v;
    lsc_error e = {0};
    /* the rules take percentage points */
    double pa[MAX_PAIRS], pb[MAX_PAIRS];
    for (int i = 0; i < n; i++) {
        pa[i] = 100 * xa[i];
        pb[i] = 100 * xb[i];
    }
    int lrc = sat ? lsc_verdict_saturation(pa, pb, n, 100 * margin, ALPHA, &v, &e)
                  : lsc_verdict_better(pa, pb, n, ALPHA, &v, &e);
    if (lrc != LSC_OK)
        return cli_error("collect", CLI_FAIL, "%s %s: %s", kind, name, e.msg);
    /* equivalence of two cells that have not learned the task (both at or below the majority
     * class) is not saturation: there is nothing to saturate */
    double mb = 0, maj = w->nr > 0 ? w->runs[0].majority : NAN;
    for (int i = 0; i < n; i++)
        mb += xb[i] / n;
    if (sat && v.state == LSC_SHOWN && !(mb > maj)) {
        v.state = LSC_NOT_MEASURED;
        snprintf(v.evidence, sizeof v.evidence, "not measured: the large cell's mean %s %.1f%% is not above the "
                 "majority class (%.1f%%), so the task is not learned and equal accuracies say nothing about "
                 "saturation", metric, 100 * mb, 100 * maj);
    }
    put_verdict(w, name, &v, metric);
    char obj[320];
    snprintf(obj, sizeof obj, "/verdicts/%s", name);
    w_attr_s(w, obj, "cell_a", ca);
    w_attr_s(w, obj, "cell_b", cb);
    if (sat)
        w_attr_d(w, obj, "margin", margin);
    double ma = 0;
    for (int i = 0; i < n; i++)
        ma += xa[i] / n;
    dat_row(dat, name, "-", &v, ma, mb, sat ? margin : NAN);
    return w->rc == LSC_OK ? CLI_OK : cli_lib_error("collect", &w->err);
}

// ---- for the verdicts of other files (collect_eval.c) ----

void collect_put_verdict_(wctx *w, const char *name, const lsc_verdict *v, const char *metric) { put_verdict(w, name, v, metric); }
void collect_verdict_row_(FILE *dat, const char *name, const char *module, const lsc_verdict *v, double a, double b,
                          double c) { dat_row(dat, name, module, v, a, b, c); }
const char *collect_metric_of_(const run *runs, int nr) { return metric_of(runs, nr); }
