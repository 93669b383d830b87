/*
 * layers_plot.c — the per-layer summary figure of an analysis (issue 16):
 * one number of every module against its layer, one line per projection
 * type, drawn from the analysis's own HDF5 file after it is committed (data
 * flows one way: the file, then the figure). Which number each command
 * draws is a row of LAYERS below; a new one is a new row. The figure is
 * DIR/<stem>.{png,svg,pdf} (plots/layers.gp), its data DIR/<stem>.dat.
 *
 * What it is not: the analysis's own figures (each command draws those),
 * nor a reader of anything but /modules/<module> attributes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis_common.h"
#include "tidy.h"

typedef struct layers_row {
    const char *cmd, *attr, *stem, *ylabel, *title;
} layers_row;

static const layers_row LAYERS[] = {
    {"spectrum", "delta_fro", "spectrum_layers", "‖ΔW‖_F", "‖ΔW‖_F of every module per layer"},
    {"spectrum", "effective_rank", "spectrum_layers_erank", "effective rank of ΔW",
     "effective rank exp(H(σ/Σσ)) of ΔW per layer"},
    {"subspace", "phi11", "subspace_layers", "φ(1,1)", "φ(1,1) of the two adapters' top directions per layer"},
    {"amplify", "amplification", "amplify_layers", "amplification ‖ΔW‖_F / ‖UᵀWV‖_F",
     "amplification factor per layer (U, V: the top-r directions of ΔW)"},
    {"amplify", "alignment_excess", "amplify_layers_alignment", "alignment excess",
     "alignment excess proj_ΔW / E[proj random ΔW] per layer (1: no alignment)"},
    {"quanterr", "error_rel", "quanterr_layers", "‖E‖_F / ‖W‖_F",
     "relative quantisation error of every quantised weight per layer"},
    {"intruders", "n_intruders", "intruders_layers", "intruder dimensions (default k, ε)", "intruders of W0 + ΔW per layer: top-k left singular vectors with max |cos| < ε with every one of W0"},
    {"diagnose", "delta_spike_share", "diagnose_layers", "spike share σ₁²/Σσ² of ΔW",
     "share of ‖ΔW‖²_F in its top singular direction per layer"},
    {"compare", "mean_offdiag_phi", "compare_layers", "mean off-diagonal φ",
     "mean off-diagonal φ of the adapters per layer"},
};

typedef struct point {
    const char *proj;
    int         x;
    double      v;
} point;

/* The modules' (proj, layer, value) of attr; *n of them (those without it skipped). */
static int read_points(const lsc_h5 *h, const char *attr, point **out, int *n, char ***names, int *nn,
                       lsc_error *err)
{
    int rc = lsc_h5_list(h, "/modules", names, nn, err);
    *n = 0;
    *out = rc == LSC_OK ? calloc((size_t)(*nn ? *nn : 1), sizeof **out) : NULL;
    if (rc == LSC_OK && !*out)
        LSC_FAIL(err, LSC_ENOMEM, "out of memory for the per-layer figure");
    for (int i = 0; rc == LSC_OK && i < *nn; i++) {
        char g[1200];
        double v;
        lsc_error e2 = {0};
        snprintf(g, sizeof g, "/modules/%s", (*names)[i]);
        if (lsc_h5_read_attr_double(h, g, attr, &v, &e2) != LSC_OK || !isfinite(v))
            continue;
        (*out)[*n].proj = ana_tidy_proj((*names)[i]);
        (*out)[*n].x = ana_tidy_layer((*names)[i]);
        (*out)[*n].v = v;
        (*n)++;
    }
    return rc;
}

/* By projection type, then layer (the file lists "h.10" before "h.2"). */
static int cmp_point(const void *a, const void *b)
{
    const point *p = a, *q = b;
    int c = strcmp(p->proj, q->proj);
    return c ? c : (p->x > q->x) - (p->x < q->x);
}

/* DIR/<stem>.dat: one block per projection type, rows by layer. */
static int write_dat(const char *cmd, const char *dir, const layers_row *r, point *pt, int n, char *projs,
                     size_t cap)
{
    char dat[256];
    lsc_atomic tmp;
    snprintf(dat, sizeof dat, "%s.dat", r->stem);
    FILE *fp = ana_data_open(cmd, dir, dat, &tmp);
    if (!fp)
        return CLI_FAIL;
    qsort(pt, (size_t)n, sizeof *pt, cmp_point);
    size_t len = 0;
    for (int i = 0, blocks = 0, pos = 0; i < n; i++, pos++) {
        if (i == 0 || strcmp(pt[i].proj, pt[i - 1].proj) != 0) {
            char safe[128];
            ana_file_safe(pt[i].proj, safe, sizeof safe);
            len += (size_t)snprintf(projs + len, cap - len, "%s%s", blocks ? " " : "", safe);
            len = len < cap ? len : cap - 1;
            fprintf(fp, "%s# %s: layer %s\n", blocks++ ? "\n\n" : "", safe, r->attr);
            pos = 0;
        }
        fprintf(fp, "%d %.10g\n", pt[i].x >= 0 ? pt[i].x : pos, pt[i].v);
    }
    return ana_data_close(cmd, &tmp);
}

static int draw_row(const char *cmd, const ana_opts *o, const lsc_h5 *h, const layers_row *r)
{
    point *pt = NULL;
    char **names = NULL, projs[2048] = "", vars[4096], out[300], yl[200], ti[300];
    int n = 0, nn = 0, rc = CLI_OK;
    lsc_error err = {0};
    if (read_points(h, r->attr, &pt, &n, &names, &nn, &err) != LSC_OK)
        rc = cli_lib_error(cmd, &err);
    else if (n > 0 && (rc = write_dat(cmd, o->plots, r, pt, n, projs, sizeof projs)) == CLI_OK) {
        ana_basename(o->output, out, sizeof out);
        ana_title_safe(r->ylabel, yl, sizeof yl);   /* a quote would end gnuplot's string */
        ana_title_safe(r->title, ti, sizeof ti);
        snprintf(vars, sizeof vars, "datafile='%s/%s.dat'; outbase='%s/%s'; projs='%s'; ylab='%s'; "
                                    "title1='%s'; footnote='lorascope %s -o %s'",
                 o->plots, r->stem, o->plots, r->stem, projs, yl, ti, cmd, out);
        rc = ana_draw_figure(cmd, o->plots, "layers.gp", r->stem, vars);
    }
    free(pt);
    lsc_h5_free_names(names, nn);
    return rc;
}

int ana_draw_layers(const char *cmd, const ana_opts *o)
{
    lsc_h5 *h = NULL;
    lsc_error err = {0};
    int rc = CLI_OK;
    if (!o->plots || !o->output)
        return CLI_OK;
    for (size_t i = 0; i < sizeof LAYERS / sizeof LAYERS[0] && rc == CLI_OK; i++) {
        if (strcmp(LAYERS[i].cmd, cmd) != 0)
            continue;
        if (!h && lsc_h5_open(&h, o->output, &err) != LSC_OK)
            return cli_lib_error(cmd, &err);
        if (lsc_h5_exists(h, "/modules"))
            rc = draw_row(cmd, o, h, &LAYERS[i]);
    }
    lsc_h5_close(h);
    return rc;
}
