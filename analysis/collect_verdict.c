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
 *   vintr    NAME  FULL LORA...      intruder dimensions (merged /intr_<cell>_s<seed> of `lorascope
 *                                    intruders`): the first LoRA cell more than FULL, paired t by
 *                                    seed (NAME), each side above its random-rotation null
 *                                    (NAME.lora_null, NAME.full_null); every cell's mean count
 *                                    and interval (intr.<cell>.*)
 *   vstall   NAME  METRIC AL AH BL BH  the gain in METRIC from cell AL to AH larger than from BL to
 *                                    BH, paired t-test by seed (rsLoRA: A = α/√r, B = α/r)
 *   cellstat CELL  METRIC            (not a verdict) the metric's mean and 95 % interval over the
 *                                    cell's seeds into /summary
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

// ---- vintr: intruder dimensions, LoRA against full fine-tuning (issue 17) ----

/* One cell's intruder counts: per run (by seed) the merged /intr_<cell>_s<seed> totals. */
typedef struct intr_cell {
    int    n;
    long   seed[MAX_PAIRS];
    double count[MAX_PAIRS], null_mean[MAX_PAIRS], acc[MAX_PAIRS];
} intr_cell;

static int read_intr_cell(wctx *w, const char *name, const char *cell, const char *metric, intr_cell *c)
{
    c->n = 0;
    for (int i = 0; i < w->nr && c->n < MAX_PAIRS; i++) {
        const run *r = &w->runs[i];
        if (strcmp(r->cell, cell) != 0)
            continue;
        char obj[512];
        snprintf(obj, sizeof obj, "/intr_%s_s%ld", cell, r->seed);
        if (!read_attr(w, obj, "intruders_total", &c->count[c->n]) ||
            !read_attr(w, obj, "null_total_mean", &c->null_mean[c->n]))
            return cli_error("collect", CLI_FAIL, "vintr %s: %s lacks intruders_total/null_total_mean (merge the "
                             "`lorascope intruders` output of each run as intr_<cell>_s<seed>)", name, obj);
        c->seed[c->n] = r->seed;
        c->acc[c->n++] = metric_value(r, metric);
    }
    if (c->n == 0)
        return cli_error("collect", CLI_FAIL, "vintr %s: no runs of cell '%s'", name, cell);
    return CLI_OK;
}

/* /summary intr.<cell>.{count_mean,count_lo,count_hi,null_mean,accuracy}; a dat row "intr.<cell>". */
static void intr_cell_summary(wctx *w, const char *cell, const intr_cell *c, FILE *dat)
{
    lsc_ci ci, cn, ca;
    lsc_error e = {0};
    char key[200];
    snprintf(key, sizeof key, "intr.%s", cell);
    if (lsc_mean_ci(c->count, c->n, 0.95, &ci, &e) != LSC_OK || lsc_mean_ci(c->null_mean, c->n, 0.95, &cn, &e) != LSC_OK ||
        lsc_mean_ci(c->acc, c->n, 0.95, &ca, &e) != LSC_OK)
        return;
    collect_summary_(w, key, "count_mean", ci.mean);
    collect_summary_(w, key, "count_lo", ci.lo);
    collect_summary_(w, key, "count_hi", ci.hi);
    collect_summary_(w, key, "null_mean", cn.mean);
    collect_summary_(w, key, "accuracy", ca.mean);
    lsc_verdict v = {.state = LSC_NOT_MEASURED, .effect = NAN, .lo = ci.lo, .p = NAN};
    dat_row_range(dat, key, "-", &v, ci.mean, cn.mean, ca.mean, ci.lo, ci.hi);
}

/* The evidence of a paired count verdict, in intruder dimensions (the rule's words are accuracy
 * points); a not-measured verdict keeps its reason. */
static void intr_evidence(lsc_verdict *v, const char *what)
{
    if (v->state == LSC_NOT_MEASURED)
        return;
    if (v->n >= 2 && v->lo == v->hi) {
        snprintf(v->evidence, sizeof v->evidence, "%s: every one of the %d seeds differs by %+.3g intruder "
                 "dimensions (sum over the modules): no variance, so no t-test; exact sign test p = %.3g",
                 what, v->n, v->effect, v->p);
        return;
    }
    snprintf(v->evidence, sizeof v->evidence, "%s: mean %+.3g intruder dimensions per run (sum over the "
             "modules), 95%% interval [%.3g, %.3g], two-sided p = %.3g over %d seeds", what, v->effect, v->lo,
             v->hi, v->p, v->n);
}

/* One side against its random-rotation null: observed count above the null's mean, paired by run. */
static void intr_null_verdict(wctx *w, const char *name, const char *side, const intr_cell *c, FILE *dat)
{
    lsc_verdict v;
    lsc_error e = {0};
    char vn[300];
    snprintf(vn, sizeof vn, "%s.%s_null", name, side);
    lsc_verdict_better(c->count, c->null_mean, c->n, ALPHA, &v, &e);
    snprintf(v.null_desc, sizeof v.null_desc, "as many intruders as W0 + R ΔW Qᵀ with Haar R, Q (ΔW's spectrum, "
             "random directions; null_total_mean of `lorascope intruders`)");
    intr_evidence(&v, "observed minus the null's mean");
    put_verdict(w, vn, &v, NULL);
    dat_row(dat, vn, "-", &v, c->count[0], c->null_mean[0], NAN);
}

static double mean_n(const double *x, int n)
{
    double t = 0;
    for (int i = 0; i < n; i++)
        t += x[i];
    return n > 0 ? t / n : NAN;
}

/* The accuracy-matched form (a "match=TOL" token): among the LoRA cells, the one whose mean accuracy
 * is nearest full fine-tuning's; -1 (and the verdict not measured, saying why) when none is within
 * TOL points. The choice looks at accuracy only, never at the intruder counts it will compare. */
static int intr_match(wctx *w, const char *name, char cells[][128], int nc, const intr_cell *full, double tol,
                      const char *metric, lsc_verdict *v)
{
    double af = 100 * mean_n(full->acc, full->n), best = INFINITY, abest = NAN;
    int ib = -1;
    for (int i = 1; i < nc; i++) {
        intr_cell c;
        if (read_intr_cell(w, name, cells[i], metric, &c) != CLI_OK)
            return -2;
        double a = 100 * mean_n(c.acc, c.n);
        if (fabs(a - af) < best) {
            best = fabs(a - af);
            ib = i;
            abest = a;
        }
    }
    if (ib > 0 && best <= tol)
        return ib;
    *v = (lsc_verdict){.state = LSC_NOT_MEASURED, .effect = NAN, .lo = NAN, .hi = NAN, .p = NAN, .alpha = ALPHA, .n = full->n};
    snprintf(v->test, sizeof v->test, "paired t-test by seed at equal accuracy (within %g points)", tol);
    snprintf(v->null_desc, sizeof v->null_desc, "equal intruder counts at equal task accuracy");
    snprintf(v->evidence, sizeof v->evidence, "not measured: no LoRA cell within %g points of full "
             "fine-tuning's accuracy %.1f%% (%.60s; nearest: %.60s at %.1f%%)", tol, af, cells[0],
             ib > 0 ? cells[ib] : "-", abest);
    return -1;
}

/* vintr NAME "FULL_CELL LORA_CELL [MORE_LORA_CELLS...] [match=TOL]": LoRA (the first LoRA cell, the
 * lowest rank; with match=TOL the LoRA cell whose accuracy is nearest FULL_CELL's, which must be
 * within TOL points) introduces more intruder dimensions than full fine-tuning, paired t-test by
 * seed; each side against its random-rotation null; every cell's mean count, interval and accuracy. */
int collect_vintr_(wctx *w, const char *name, const char *value, FILE *dat)
{
    char cells[9][128];
    int nc = sscanf(value, "%127s %127s %127s %127s %127s %127s %127s %127s %127s", cells[0], cells[1],
                    cells[2], cells[3], cells[4], cells[5], cells[6], cells[7], cells[8]);
    double tol = NAN;
    if (nc > 2 && strncmp(cells[nc - 1], "match=", 6) == 0) {
        char *end;
        tol = strtod(cells[nc - 1] + 6, &end);
        if (*end || !(tol >= 0))
            return cli_error("collect", CLI_FAIL, "vintr %s: '%s' is not match=POINTS", name, cells[nc - 1]);
        nc--;
    }
    if (nc < 2 || strncmp(cells[nc - 1], "match=", 6) == 0)
        return cli_error("collect", CLI_FAIL, "vintr %s: value must be FULL_CELL LORA_CELL... [match=POINTS], "
                         "not '%s'", name, value);
    const char *metric = metric_of(w->runs, w->nr);
    intr_cell full, c;
    int rc = read_intr_cell(w, name, cells[0], metric, &full);
    for (int i = 1; i < nc && rc == CLI_OK; i++)
        if ((rc = read_intr_cell(w, name, cells[i], metric, &c)) == CLI_OK)
            intr_cell_summary(w, cells[i], &c, dat);
    if (rc != CLI_OK)
        return rc;
    intr_cell_summary(w, cells[0], &full, dat);
    lsc_verdict v;
    int il = isnan(tol) ? 1 : intr_match(w, name, cells, nc, &full, tol, metric, &v);
    if (il == -2)
        return CLI_FAIL;
    if (il < 0) {
        put_verdict(w, name, &v, NULL);
        dat_row(dat, name, "-", &v, NAN, NAN, NAN);
        return w->rc == LSC_OK ? CLI_OK : cli_lib_error("collect", &w->err);
    }
    if ((rc = read_intr_cell(w, name, cells[il], metric, &c)) != CLI_OK)
        return rc;
    double a[MAX_PAIRS], b[MAX_PAIRS];
    int n = 0;
    for (int i = 0; i < c.n; i++)
        for (int j = 0; j < full.n; j++)
            if (c.seed[i] == full.seed[j]) {
                a[n] = c.count[i];
                b[n++] = full.count[j];
                break;
            }
    lsc_error e = {0};
    lsc_verdict_better(a, b, n, ALPHA, &v, &e);
    snprintf(v.null_desc, sizeof v.null_desc, "equal intruder counts, LoRA %.40s and full "
             "fine-tuning %.40s, same modules, paired by seed%s", cells[il], cells[0],
             isnan(tol) ? "" : ", at equal task accuracy");
    intr_evidence(&v, "LoRA minus full fine-tuning");
    if (!isnan(tol)) {
        size_t len = strlen(v.evidence);
        snprintf(v.evidence + len, sizeof v.evidence - len, "; accuracy LoRA %.1f%%, full fine-tuning %.1f%% "
                 "(matched within %g points)", 100 * mean_n(c.acc, c.n), 100 * mean_n(full.acc, full.n), tol);
    }
    put_verdict(w, name, &v, NULL);
    char obj[320];
    snprintf(obj, sizeof obj, "/verdicts/%s", name);
    w_attr_s(w, obj, "cell_lora", cells[il]);
    w_attr_s(w, obj, "cell_full", cells[0]);
    dat_row(dat, name, "-", &v, a[0], b[0], NAN);
    intr_null_verdict(w, name, "lora", &c, dat);
    intr_null_verdict(w, name, "full", &full, dat);
    return w->rc == LSC_OK ? CLI_OK : cli_lib_error("collect", &w->err);
}

// ---- vstall, cellstat: one metric of every run, by cell and seed ----

/* The metrics of the vstall and cellstat lines: the run's own (val_loss: the label loss on the
 * test sample, the cells' val_loss; accuracy; rank_accuracy) or read from its train_log.h5
 * (final_train_loss: the mean training loss over the last tenth of the logged steps, at least
 * one; final_dev_loss: the last point of the validation curve, the root attribute
 * final_val_loss). Accuracies are fractions here and percentage points in a verdict. */
static const struct run_metric_def {
    const char *name;
    int         higher_better;
} RUN_METRICS[] = {
    {"val_loss", 0}, {"final_train_loss", 0}, {"final_dev_loss", 0}, {"accuracy", 1}, {"rank_accuracy", 1},
};
enum { N_RUN_METRICS = sizeof RUN_METRICS / sizeof RUN_METRICS[0] };

static const struct run_metric_def *run_metric_find(const char *metric)
{
    for (int i = 0; i < N_RUN_METRICS; i++)
        if (strcmp(RUN_METRICS[i].name, metric) == 0)
            return &RUN_METRICS[i];
    return NULL;
}

/* The mean of the last tenth (at least one) of the training losses in lsc's train_log.h5. */
static int final_train_loss(const lsc_h5 *h, const char *path, double *v)
{
    lsc_error e = {0};
    int nd;
    size_t dims[8];
    if (!lsc_h5_exists(h, "/train/loss") || lsc_h5_dataset_shape(h, "/train/loss", &nd, dims, 8, &e) != LSC_OK ||
        nd != 1 || dims[0] == 0)
        return cli_error("collect", CLI_FAIL, "%s: no 1-D training loss /train/loss", path);
    double *x = malloc(dims[0] * sizeof *x);
    if (!x)
        return cli_error("collect", CLI_FAIL, "out of memory");
    if (lsc_h5_read_f64(h, "/train/loss", dims[0], x, &e) != LSC_OK) {
        free(x);
        return cli_lib_error("collect", &e);
    }
    size_t k = dims[0] / 10 ? dims[0] / 10 : 1;
    double s = 0;
    for (size_t i = dims[0] - k; i < dims[0]; i++)
        s += x[i];
    free(x);
    *v = s / (double)k;
    return CLI_OK;
}

/* *v = the metric of run r (NaN when the run lacks it). */
static int run_metric(const run *r, const char *metric, double *v)
{
    *v = NAN;
    if (strcmp(metric, "val_loss") == 0 || strcmp(metric, "accuracy") == 0 || strcmp(metric, "rank_accuracy") == 0) {
        *v = metric[0] == 'v' ? r->val_loss : metric_value(r, metric);
        return CLI_OK;
    }
    char path[1100];
    snprintf(path, sizeof path, "%s/train_log.h5", r->dir);
    lsc_h5 *h = NULL;
    lsc_error e = {0};
    if (lsc_h5_open(&h, path, &e) != LSC_OK)
        return cli_lib_error("collect", &e);
    int rc = CLI_OK;
    if (strcmp(metric, "final_train_loss") == 0)
        rc = final_train_loss(h, path, v);
    else if (lsc_h5_read_attr_double(h, "/", "final_val_loss", v, &e) != LSC_OK)
        rc = cli_error("collect", CLI_FAIL, "%s: no final validation loss (final_val_loss): %s", path, e.msg);
    lsc_h5_close(h);
    return rc;
}

/* The metric of every run of cell, with its seed (*n of them, at most MAX_PAIRS). */
static int cell_metric(const wctx *w, const char *cell, const char *metric, long *seeds, double *x, int *n)
{
    *n = 0;
    for (int i = 0; i < w->nr && *n < MAX_PAIRS; i++) {
        if (strcmp(w->runs[i].cell, cell) != 0)
            continue;
        int rc = run_metric(&w->runs[i], metric, &x[*n]);
        if (rc != CLI_OK)
            return rc;
        seeds[(*n)++] = w->runs[i].seed;
    }
    return *n > 0 ? CLI_OK : cli_error("collect", CLI_FAIL, "no runs of cell '%s'", cell);
}

/* The value of seed in a cell's (seeds, x), NaN when the seed has no run there. */
static double at_seed(const long *seeds, const double *x, int n, long seed)
{
    for (int i = 0; i < n; i++)
        if (seeds[i] == seed)
            return x[i];
    return NAN;
}

/* cellstat CELL METRIC: /summary "<cell>.<metric>" (the mean over the cell's seeds) and, with
 * two or more seeds, its 95 % t-interval <metric>_lo95, <metric>_hi95. */
int collect_cellstat_(wctx *w, const char *cell, const char *metric)
{
    if (!run_metric_find(metric))
        return cli_error("collect", CLI_FAIL, "cellstat %s: unknown metric '%s' (val_loss, final_train_loss, "
                         "final_dev_loss, accuracy, rank_accuracy)", cell, metric);
    long seeds[MAX_PAIRS];
    double x[MAX_PAIRS];
    int n, rc = cell_metric(w, cell, metric, seeds, x, &n);
    if (rc != CLI_OK)
        return cli_error("collect", CLI_FAIL, "cellstat %s %s: the runs lack it", cell, metric);
    lsc_ci ci;
    lsc_error e = {0};
    double mean = 0;
    for (int i = 0; i < n; i++)
        mean += x[i] / n;
    collect_summary_(w, cell, metric, mean);
    if (n >= 2 && lsc_mean_ci(x, n, 0.95, &ci, &e) == LSC_OK) {
        char nm[128];
        snprintf(nm, sizeof nm, "%s_lo95", metric);
        collect_summary_(w, cell, nm, ci.lo);
        snprintf(nm, sizeof nm, "%s_hi95", metric);
        collect_summary_(w, cell, nm, ci.hi);
    }
    return w->rc == LSC_OK ? CLI_OK : cli_lib_error("collect", &w->err);
}

/* vstall NAME METRIC A_LOW A_HIGH B_LOW B_HIGH: "the gain in METRIC from the low to the high
 * rank is larger in arm A than in arm B" (rsLoRA, issue 17: A = α/√r, B = α/r; learning stalls
 * at high rank with α/r when it is shown). Per seed present in all four cells the gain
 * g = METRIC(high) − METRIC(low) (accuracies, in points) or METRIC(low) − METRIC(high)
 * (losses); the rule is lsc_verdict_better on (g_A, g_B) paired by seed: effect = mean(g_A −
 * g_B), its 95 % t-interval, the null of no difference. */
int collect_vstall_(wctx *w, const char *name, const char *value, FILE *dat)
{
    char metric[64], c[4][128];
    if (sscanf(value, "%63s %127s %127s %127s %127s", metric, c[0], c[1], c[2], c[3]) != 5)
        return cli_error("collect", CLI_FAIL, "vstall %s: value must be METRIC A_LOW A_HIGH B_LOW B_HIGH, not '%s'",
                         name, value);
    const struct run_metric_def *md = run_metric_find(metric);
    if (!md)
        return cli_error("collect", CLI_FAIL, "vstall %s: unknown metric '%s' (val_loss, final_train_loss, "
                         "final_dev_loss, accuracy, rank_accuracy)", name, metric);
    long seeds[4][MAX_PAIRS];
    double x[4][MAX_PAIRS];
    int n[4];
    for (int k = 0; k < 4; k++) {
        int rc = cell_metric(w, c[k], metric, seeds[k], x[k], &n[k]);
        if (rc != CLI_OK)
            return cli_error("collect", CLI_FAIL, "vstall %s: cell '%s' has no %s", name, c[k], metric);
    }
    double ga[MAX_PAIRS], gb[MAX_PAIRS], unit = md->higher_better ? 100 : -1, sa = 0, sb = 0;
    int np = 0;
    for (int i = 0; i < n[0]; i++) {
        long s = seeds[0][i];
        double v[4] = {x[0][i], at_seed(seeds[1], x[1], n[1], s), at_seed(seeds[2], x[2], n[2], s),
                       at_seed(seeds[3], x[3], n[3], s)};
        if (!(isfinite(v[0]) && isfinite(v[1]) && isfinite(v[2]) && isfinite(v[3])))
            continue;
        ga[np] = unit * (v[1] - v[0]);
        gb[np] = unit * (v[3] - v[2]);
        sa += ga[np];
        sb += gb[np];
        np++;
    }
    lsc_verdict v;
    lsc_error e = {0};
    if (lsc_verdict_better(ga, gb, np, ALPHA, &v, &e) != LSC_OK && np >= 2)
        return cli_error("collect", CLI_FAIL, "vstall %s: %s", name, e.msg);
    const char *u = md->higher_better ? "points" : "nats";
    if (v.state != LSC_NOT_MEASURED)
        snprintf(v.evidence, sizeof v.evidence, "mean gain %.40s→%.40s %+.3g %s, %.40s→%.40s %+.3g %s; difference %+.3g %s, "
                 "95%% interval [%.3g, %.3g], p = %.2g", c[0], c[1], sa / np, u, c[2], c[3], sb / np, u,
                 v.effect, u, v.lo, v.hi, v.p);
    snprintf(v.null_desc, sizeof v.null_desc, "the same gain in %.20s from %.24s to %.24s as from %.24s to %.24s (mean "
             "difference 0)", metric, c[0], c[1], c[2], c[3]);
    put_verdict(w, name, &v, metric);
    char obj[320];
    snprintf(obj, sizeof obj, "/verdicts/%s", name);
    static const char *const keys[4] = {"cell_a_low", "cell_a_high", "cell_b_low", "cell_b_high"};
    for (int k = 0; k < 4; k++)
        w_attr_s(w, obj, keys[k], c[k]);
    w_attr_s(w, obj, "gain_units", md->higher_better ? "accuracy points" : "nats (loss decrease)");
    collect_summary_(w, name, "gain_a", np ? sa / np : NAN);
    collect_summary_(w, name, "gain_b", np ? sb / np : NAN);
    dat_row(dat, name, "-", &v, np ? sa / np : NAN, np ? sb / np : NAN, NAN);
    return w->rc == LSC_OK ? CLI_OK : cli_lib_error("collect", &w->err);
}

// ---- for the verdicts of other files (collect_eval.c) ----

void collect_put_verdict_(wctx *w, const char *name, const lsc_verdict *v, const char *metric) { put_verdict(w, name, v, metric); }
void collect_verdict_row_(FILE *dat, const char *name, const char *module, const lsc_verdict *v, double a, double b,
                          double c) { dat_row(dat, name, module, v, a, b, c); }
const char *collect_metric_of_(const run *runs, int nr) { return metric_of(runs, nr); }
