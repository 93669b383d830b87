/*
 * spectrum.c — `lorascope spectrum ADAPTER -o OUT.h5`: the exact singular
 * values of every module's update dW = s·B·A (through the r×r core, never
 * the d×k matrix) and the summaries researchers quote for them.
 *
 * HDF5 layout, per module group /modules/<module>/:
 *   singular_values  float64 (r), descending, of dW including the scaling s
 *   attributes r, alpha, scaling, in_features, out_features, dtype,
 *     delta_fro      ‖dW‖_F = sqrt(Σσ²)
 *     stable_rank    ‖dW‖²_F / σ₁²                (NaN when dW = 0)
 *     rank90         smallest k with Σ_{i<=k} σ² >= 0.9·Σσ² (0 when dW = 0,
 *                    -1 when the module has NaN/Inf)
 *     effective_rank exp(−Σ p log p), p = σ/Σσ     (NaN when dW = 0)
 *     degenerate     1 when dW = 0, else 0
 *     n_nonfinite    NaN/Inf values in A and B (then everything is NaN)
 * DoRA modules (lib/dora.c) with --base MODEL: singular_values are ALL
 * min(d, k) singular values of the effective update dW = m ⊙ (W0 + s·B·A) /
 * ‖W0 + s·B·A‖_row − W0 (formed densely, LAPACK dgesdd: it has full rank in
 * general), attributes update = "DoRA effective: m ⊙ (W0 + sBA)/‖·‖_row − W0",
 * effective_update = 1; with --factors-only those of s·B·A, update =
 * "factors s·B·A (NOT the effective DoRA update)", effective_update = 0.
 * A DoRA module whose base weight is missing or misshapen stops the run
 * (exit 1, one line naming the base and the module).
 * Full tensors (modules_to_save, lsc_adapter.full) with --base MODEL:
 * groups after the factored modules, singular_values ALL min(rows, k) of
 * dW = weight[:rows] − W0 (rows = the base tensor's, W0 found and checked by
 * base_match.c, read [rows, rest...] as [rows, prod(rest)]; dense dgesdd),
 * r = 0, attributes kind = "full tensor", update = "full tensor
 * (modules_to_save): dW = weight[:base_rows] − W0; added-token rows (beyond
 * the base's) excluded", base_matrix (the same with the shapes), base_tensor,
 * base_rows, n_added_rows (saved rows beyond the base's) and added_rows_fro
 * (their Frobenius norm). A missing or misshapen base tensor stops the run
 * (one line). Without --base they are named in one warning line and not
 * written; never read as LoRA factors. Root attribute n_full_tensors.
 * Root attribute "base" (an input) when a base was used; svd_method then
 * says the DoRA modules and full tensors went through the dense SVD. The
 * plot's title names what was analysed (s·B·A, DoRA's effective update or
 * its factors only, full tensors' weight − W0). LoRA modules never get
 * these attributes and are computed as without --base.
 * Root attributes: provenance (see h5io.c); "adapter" is the folder read
 * (for DIR:NAME, the adapter's subfolder when it has one). Not a plotting program: with
 * --plots it writes spectrum.dat and runs plots/spectrum.gp.
 * Self-description and tables (h5describe.c): every dataset has the string
 * attributes units and definition, every module group layer (-1 if none) and
 * proj, rank (= r) and scale (= scaling); singular_values the dimension
 * scale sv_index (1..r); --json / --csv FILE print the file's numbers as a
 * tidy table (tidy.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis_common.h"
#include "base_match.h"
#include "commands.h"
#include "tidy.h"
#include "dora_update.h"

static const char *USAGE =
    "usage: lorascope spectrum ADAPTER -o OUT.h5 [--base MODEL | --factors-only]\n"
    "                          [--plots DIR] [options]\n"
    "\n"
    "Singular values of every LoRA module's dW = s·B·A of a PEFT adapter\n"
    "directory, computed exactly from thin QRs of B and Aᵀ (the d×k matrix is\n"
    "never formed), with ‖dW‖_F, stable rank, rank90 and effective rank.\n"
    "Writes /modules/<module>/singular_values and attributes to OUT.h5.\n"
    "ADAPTER may be DIR:NAME (the adapter NAME of a folder holding several) or a\n"
    "kohya LoRA .safetensors file. Conv LoRA kernels are read as [out, in·k·k],\n"
    "embedding LoRA as [dim, vocab]. Full tensors (modules_to_save: lm_head,\n"
    "embed_tokens, ...) need --base: then all singular values of their update\n"
    "weight - W0 on the base's rows (added-token rows reported apart: their count\n"
    "and norm); without it they are named in one line and skipped. DoRA modules\n"
    "need --base too: then all singular values of their effective update\n"
    "m*(W0 + sBA)/|W0 + sBA|_row - W0 (a dense SVD; full rank in general);\n"
    "without it the command refuses, unless --factors-only.\n"
    "\n"
    "options:\n"
    "  --base MODEL         the base model of DoRA modules and full tensors:\n"
    "                       FILE.safetensors, a Hugging Face folder or a llama2.c\n"
    "                       checkpoint\n"
    ANA_DORA_HELP ANA_COMMON_HELP
    "\n"
    "example:\n"
    "  lorascope spectrum ../shared/fixtures/peft/gptneo125m-r8-qv -o spec.h5 --plots figs\n";

typedef struct spec {
    double *sv;            /* (nsv) */
    int     nsv;           /* r, or min(d, k) for a DoRA effective update or a
                              full tensor (min(base rows, k)) */
    int     effective;     /* 1: DoRA module through its effective update */
    /* full tensors (modules_to_save) against the base: */
    ana_base_mat bm;       /* the base tensor, its rows and how (base_match.h) */
    double  added_fro;     /* ‖weight[base_rows:]‖_F, the added-token rows */
    double  delta_fro, stable_rank, effective_rank;
    int     rank90, degenerate;
    int     rc;            /* of module_spectrum */
    ana_msgs msgs;         /* warnings/error of module_spectrum, printed in order */
} spec;

static void summarise(int r, spec *s)
{
    double sum2 = 0.0;
    for (int i = 0; i < r; i++)
        sum2 += s->sv[i] * s->sv[i];
    s->delta_fro = sqrt(sum2);
    s->degenerate = !(s->sv[0] > 0.0);
    if (s->degenerate) {
        s->stable_rank = NAN;
        s->effective_rank = NAN;
        s->rank90 = 0;
        return;
    }
    s->stable_rank = sum2 / (s->sv[0] * s->sv[0]);
    double acc = 0.0;
    s->rank90 = r;
    for (int i = 0; i < r; i++) {
        acc += s->sv[i] * s->sv[i];
        if (acc >= 0.9 * sum2) {
            s->rank90 = i + 1;
            break;
        }
    }
    s->effective_rank = ana_effective_rank(r, s->sv);
}

/* A full tensor's dW = weight[:rows] − W0 (s->bm matched) into dW. */
static int full_delta(const ana_base *b, const lsc_adapter_module *m, spec *s, double *dW)
{
    lsc_error err = {0};
    float *W0 = ana_base_mat_read(&s->bm, &err);
    if (!W0)
        return ana_msg_error(&s->msgs, "%s: module %s: %s", b->path, m->name, err.msg);
    ana_full_delta(&s->bm, m, W0, dW, &s->added_fro);
    free(W0);
    return CLI_OK;
}

/* All singular values of a dense update (base b): a DoRA module's
 * effective update, or a full tensor's dW = weight[:rows] − W0 (rows: the
 * base's; the added-token rows apart, their norm in added_fro). */
static int dense_spectrum(const char *path, const ana_base *b, const lsc_adapter *ad,
                          const lsc_adapter_module *m, spec *s)
{
    int full = m->kind == LSC_ADAPTER_FULL, d = m->out_features, k = m->in_features;
    if (full) {
        char why[2000], line[2100];
        int found = ana_base_match(b, ad, m, &s->bm, why, sizeof why);
        if (found != 1) {
            ana_base_why(found, m, why, line, sizeof line);
            return ana_msg_error(&s->msgs, "%s: %s (a full tensor's update needs its base tensor)", b->path,
                                 line);
        }
        d = s->bm.rows;
        s->nsv = d < k ? d : k;
    }
    size_t lw = lsc_svd_work_size(d, k, 0);
    double *dW = malloc((size_t)d * (size_t)k * sizeof *dW), *w = malloc(lw * sizeof *w);
    lsc_error err = {0};
    int rc = CLI_OK;
    if (!dW || !w)
        rc = ana_msg_error(&s->msgs, "%s: out of memory for module %s", path, m->name);
    else if ((rc = full ? full_delta(b, m, s, dW) : ana_dora_effective(b, ad, m, dW, &s->msgs)) != CLI_OK)
        ;
    else if (lsc_svd(d, k, dW, s->sv, NULL, NULL, w, lw, &err) != LSC_OK)
        rc = ana_msg_error(&s->msgs, "%s: module %s: %s", path, m->name, err.msg);
    free(dW);
    free(w);
    if (rc != CLI_OK)
        return rc;
    summarise(s->nsv, s);
    if (s->degenerate)
        ana_msg_warn(&s->msgs, "%s: %s %s %s: marked degenerate", path, full ? "full tensor" : "module", m->name,
                     full ? "equals the base's (dW = 0)" : "has an effective DoRA update of 0");
    return CLI_OK;
}

/* Singular values of one module; NaN-filled when it has non-finite values. */
static int module_spectrum(const char *path, const ana_base *b, const lsc_adapter *ad,
                           const lsc_adapter_module *m, spec *s)
{
    int d = m->out_features, k = m->in_features, r = m->r;
    size_t dz = (size_t)d, kz = (size_t)k, rz = (size_t)r;
    if (m->n_nonfinite > 0) {
        ana_fill_nan((size_t)s->nsv, s->sv);
        s->delta_fro = s->stable_rank = s->effective_rank = NAN;
        s->rank90 = -1;
        s->degenerate = 0;
        ana_msg_warn(&s->msgs, "%s: module %s has %d NaN/Inf values in %s; its spectrum is "
                      "written as NaN", path, m->name, m->n_nonfinite,
                     m->kind == LSC_ADAPTER_FULL ? "the tensor" : "lora_A/lora_B");
        return CLI_OK;
    }
    if (m->kind == LSC_ADAPTER_FULL || s->effective)
        return dense_spectrum(path, b, ad, m, s);
    size_t lw = lsc_lowrank_svd_work_size(d, k, r, 0);
    double *B = malloc(dz * rz * sizeof *B), *A = malloc(rz * kz * sizeof *A);
    double *w = malloc(lw * sizeof *w);
    int rc = CLI_OK;
    if (!A || !B || !w) {
        rc = ana_msg_error(&s->msgs, "%s: out of memory for module %s", path, m->name);
        goto done;
    }
    ana_to_double(dz * rz, m->B, B);
    ana_to_double(rz * kz, m->A, A);
    lsc_error err = {0};
    if (lsc_lowrank_svd(d, k, r, m->scaling, B, A, s->sv, NULL, NULL, w, lw, &err) != LSC_OK) {
        rc = ana_msg_error(&s->msgs, "%s: module %s: %s", path, m->name, err.msg);
        goto done;
    }
    summarise(r, s);
    if (s->degenerate)
        ana_msg_warn(&s->msgs, "%s: module %s has dW = 0 (%s is all zero): singular values 0, marked degenerate",
                 path, m->name, ana_all_zero(dz * rz, m->B) ? "lora_B" : "lora_A or lora_B");
done:
    free(A);
    free(B);
    free(w);
    return rc;
}

static int write_module(lsc_h5 *h, const lsc_adapter_module *m, const spec *s, lsc_error *err)
{
    char g[1200], ds[1300];
    snprintf(g, sizeof g, "/modules/%s", m->name);
    snprintf(ds, sizeof ds, "%s/singular_values", g);
    size_t dims[1] = {(size_t)s->nsv};
    int rc;
    if ((rc = lsc_h5_write_f64(h, ds, 1, dims, s->sv, err)) != LSC_OK ||
        (rc = ana_write_module_attrs(h, g, m, err)) != LSC_OK ||
        (rc = lsc_h5_attr_str(h, g, "dtype", m->dtype, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "delta_fro", s->delta_fro, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "stable_rank", s->stable_rank, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "rank90", s->rank90, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "effective_rank", s->effective_rank, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "degenerate", s->degenerate, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "n_nonfinite", m->n_nonfinite, err)) != LSC_OK ||
        (rc = ana_dora_write_attrs(h, g, m, s->effective, err)) != LSC_OK ||
        m->kind != LSC_ADAPTER_FULL)
        return rc;
    if ((rc = ana_full_attrs(h, g, m, &s->bm, s->added_fro, err)) != LSC_OK ||
        (rc = lsc_h5_attr_str(h, g, "base_tensor", s->bm.t ? s->bm.t->name : "", err)) != LSC_OK)
        return rc;
    return LSC_OK;
}

/* What the plot shows, by what was analysed: s·B·A, DoRA's effective
 * update or its factors, full tensors' weight − W0. */
static void plot_title(const char *adapter, const lsc_adapter_module *const *mods, int nm, const spec *specs,
                       char *title, size_t n)
{
    int eff = 0, fac = 0, full = 0, low = 0;
    for (int i = 0; i < nm; i++) {
        eff += specs[i].effective;
        fac += mods[i]->kind == LSC_ADAPTER_DORA && !specs[i].effective;
        full += mods[i]->kind == LSC_ADAPTER_FULL;
        low += mods[i]->kind != LSC_ADAPTER_FULL && mods[i]->kind != LSC_ADAPTER_DORA;
    }
    char what[300] = "";
    if (low || fac)
        snprintf(what, sizeof what, "%s", fac ? (low ? "dW = s·B·A (DoRA: factors only, NOT the effective update)"
                                                     : "DoRA factors s·B·A (NOT the effective update)")
                                              : "dW = s·B·A");
    if (eff)
        snprintf(what + strlen(what), sizeof what - strlen(what), "%sDoRA effective update",
                 what[0] ? "; " : "");
    if (full)
        snprintf(what + strlen(what), sizeof what - strlen(what), "%sfull tensors: weight − W0",
                 what[0] ? "; " : "");
    (void)adapter;   /* the adapter's name goes into the footnote, not the title */
    snprintf(title, n, "Singular values of %s per module (%d modules)", what, nm);
}

static int draw(const char *cmd, const char *dir, const char *adapter, const lsc_adapter_module *const *mods,
                int nm, spec *specs, int hl)
{
    lsc_atomic tmp;
    FILE *fp = ana_data_open(cmd, dir, "spectrum.dat", &tmp);
    if (!fp)
        return CLI_FAIL;
    fprintf(fp, "# lorascope spectrum: singular values of dW per module (%s)\n", adapter);
    fprintf(fp, "# one block per module (gnuplot index = module number); columns: i sigma_i\n");
    for (int mi = 0; mi < nm; mi++) {
        fprintf(fp, "%s# %d %s\n", mi ? "\n\n" : "", mi, mods[mi]->name);
        for (int i = 0; i < specs[mi].nsv; i++) {
            double v = specs[mi].sv[i];
            if (v > 0.0 && isfinite(v))
                fprintf(fp, "%d %.17g\n", i + 1, v);
            else
                fprintf(fp, "%d NaN\n", i + 1);
        }
    }
    if (ana_data_close(cmd, &tmp) != CLI_OK)
        return CLI_FAIL;
    char title[800], hlname[600], base[300], vars[8192];
    plot_title(adapter, mods, nm, specs, title, sizeof title);
    ana_title_safe(mods[hl]->name, hlname, sizeof hlname);
    ana_basename(adapter, base, sizeof base);
    int maxr = 1;
    for (int mi = 0; mi < nm; mi++)
        if (specs[mi].nsv > maxr)
            maxr = specs[mi].nsv;
    snprintf(vars, sizeof vars,
             "datafile='%s/spectrum.dat'; outbase='%s/spectrum'; plottitle='%s'; "
             "nmod=%d; hl=%d; hlname='%s'; maxr=%d; footnote='adapter: %s'",
             dir, dir, title, nm, hl, hlname, maxr, base);
    return ana_draw_figure(cmd, dir, "spectrum.gp", "spectrum", vars);
}

/* One module on a worker thread (ana_run_tasks). */
typedef struct spectrum_job {
    const char        *path;
    const ana_base    *base;    /* NULL: no DoRA effective updates */
    const lsc_adapter *ad;
    const lsc_adapter_module *const *mods;   /* (nm): ad's modules, then its full tensors */
    spec              *specs;   /* (nm) */
} spectrum_job;

static void spectrum_task(void *ctx, int mi)
{
    spectrum_job *j = ctx;
    j->specs[mi].rc = module_spectrum(j->path, j->base, j->ad, j->mods[mi], &j->specs[mi]);
}

/* Each module's messages (in order), group and table row. */
static int write_modules(const char *cmd, lsc_h5 *h, const lsc_adapter_module *const *mods, int nm,
                         const spec *specs, int *n_degenerate, int *n_nonfinite)
{
    lsc_error err = {0};
    for (int mi = 0; mi < nm; mi++) {
        const lsc_adapter_module *m = mods[mi];
        ana_msgs_flush(cmd, &specs[mi].msgs);
        if (specs[mi].rc != CLI_OK)
            return specs[mi].rc;
        *n_degenerate += specs[mi].degenerate;
        *n_nonfinite += m->n_nonfinite > 0;
        if (write_module(h, m, &specs[mi], &err) != LSC_OK)
            return cli_lib_error(cmd, &err);
        char note[400] = "";
        if (m->kind == LSC_ADAPTER_FULL && m->out_features > specs[mi].bm.rows)
            snprintf(note, sizeof note, "  [full tensor: %s; |added rows|_F = %.6g]", specs[mi].bm.how,
                     specs[mi].added_fro);
        else if (m->kind == LSC_ADAPTER_FULL)
            snprintf(note, sizeof note, "  [full tensor: %s]", specs[mi].bm.how);
        printf("%-48s %4d %12.6g %12.6g %11.4f %6d %9.4f%s%s\n", cli_safe(m->name), m->r, specs[mi].sv[0],
               specs[mi].delta_fro, specs[mi].stable_rank, specs[mi].rank90,
               specs[mi].effective_rank, ana_dora_note(m, specs[mi].effective), cli_safe(note));
    }
    return CLI_OK;
}

/* Allocates specs (ad's modules) and decides per module whether its
 * effective DoRA update is analysed (effective: a base is open). */
static spec *alloc_specs(const lsc_adapter_module *const *mods, int nm, int effective)
{
    spec *specs = calloc((size_t)nm, sizeof *specs);
    for (int mi = 0; specs && mi < nm; mi++) {
        const lsc_adapter_module *m = mods[mi];
        specs[mi].effective = effective && m->kind == LSC_ADAPTER_DORA;
        specs[mi].nsv = specs[mi].effective || m->kind == LSC_ADAPTER_FULL
                            ? (m->in_features < m->out_features ? m->in_features : m->out_features)
                            : m->r;
        if (!(specs[mi].sv = calloc((size_t)specs[mi].nsv, sizeof(double)))) {
            for (int j = 0; j < mi; j++)
                free(specs[j].sv);
            free(specs);
            return NULL;
        }
    }
    return specs;
}

/* The items analysed (ad's modules, then with a base its full tensors)
 * into a new array *mods (count returned, -1 out of memory); without a base
 * the full tensors are named in one line and skipped. */
static int list_items(const char *cmd, const char *path, const lsc_adapter *ad, int with_full,
                      const lsc_adapter_module ***mods)
{
    int nm = ad->n_modules + (with_full ? ad->n_full : 0);
    if (!(*mods = malloc((size_t)nm * sizeof **mods)))
        return -1;
    for (int i = 0; i < nm; i++)
        (*mods)[i] = i < ad->n_modules ? &ad->modules[i] : &ad->full[i - ad->n_modules];
    if (!with_full && ad->n_full > 0) {
        char names[1024] = "";
        for (int i = 0; i < ad->n_full; i++) {
            size_t l = strlen(names);
            snprintf(names + l, sizeof names - l, "%s%s", i ? ", " : "", ad->full[i].name);
        }
        cli_warn(cmd, "%s: full tensor%s %s (modules_to_save) skipped: a full tensor's update weight − W0 "
                      "needs the base (--base MODEL)", path, ad->n_full > 1 ? "s" : "", names);
    }
    return nm;
}

/* The analysis of an adapter loaded with DoRA modules accepted: base_path
 * (NULL: none) is opened only when a DoRA module or a full tensor needs it. */
static int run_spectrum(const char *cmd, const char *path, const char *base_path, int factors_only,
                        ana_opts *o, lsc_adapter *ad, int hl, double t0)
{
    int use_dora = base_path && !factors_only && ana_dora_first(ad) >= 0;
    int use_full = base_path && ad->n_full > 0, use_base = use_dora || use_full;
    ana_base base;
    memset(&base, 0, sizeof base);
    lsc_h5 *h = NULL;
    spec *specs = NULL;
    const lsc_adapter_module **mods = NULL;
    int n_degenerate = 0, n_nonfinite = 0, rc = CLI_FAIL;
    int nm = list_items(cmd, path, ad, use_full, &mods);
    if (nm == 0) {   /* full tensors only, and no --base */
        rc = cli_error(cmd, CLI_FAIL, "%s: nothing to analyse: it holds only full tensors (modules_to_save), "
                                      "whose update weight − W0 needs the base (--base MODEL)", path);
        goto done;
    }
    if (nm < 0 || !(specs = alloc_specs(mods, nm, use_dora))) {
        rc = cli_error(cmd, CLI_FAIL, "out of memory");
        goto done;
    }
    if ((use_base && (rc = ana_base_open(cmd, base_path, &base)) != CLI_OK) ||
        (rc = ana_output_create(cmd, o, &h)) != CLI_OK)
        goto done;
    printf("%s: %d modules\n", path, nm);
    printf("%-48s %4s %12s %12s %11s %6s %9s\n", "module", "r", "sigma_1", "delta_fro",
           "stable_rank", "rank90", "eff_rank");
    /* the modules as tasks on our own threads (BLAS single-threaded
     * inside: r×r problems); messages printed in order */
    spectrum_job job = {path, use_base ? &base : NULL, ad, mods, specs};
    ana_run_tasks(o, nm, spectrum_task, &job);
    if ((rc = write_modules(cmd, h, mods, nm, specs, &n_degenerate, &n_nonfinite)) != CLI_OK)
        goto done;
    lsc_h5_input in[2] = {{"adapter", ad->path}, {"base", base_path}};   /* the folder read */
    lsc_h5_param ps[] = {
        ANA_COMMON_PARAMS(*o),
        {"rank90_fraction", LSC_H5_DOUBLE, NULL, 0, 0.9},
        {"svd_method", LSC_H5_STR, use_base ? "lowrank-qr; DoRA effective updates and full tensors' "
                                              "weight - W0: dense SVD (dgesdd)"
                                            : "lowrank-qr", 0, 0},
        {"n_modules", LSC_H5_INT, NULL, nm, 0},
        {"n_full_tensors", LSC_H5_INT, NULL, use_full ? ad->n_full : 0, 0},
        {"n_degenerate", LSC_H5_INT, NULL, n_degenerate, 0},
        {"n_nonfinite_modules", LSC_H5_INT, NULL, n_nonfinite, 0},
    };
    if ((rc = ana_output_commit(cmd, o, &h, t0, use_base ? 2 : 1, in, NULL,
                                (int)(sizeof ps / sizeof ps[0]), ps)) != CLI_OK)
        goto done;
    if (o->plots && (rc = draw(cmd, o->plots, path, mods, nm, specs, hl < nm ? hl : 0)) != CLI_OK)
        goto done;
    rc = ana_finish(cmd, o, nm, 0, t0);
done:
    lsc_h5_abort(h);
    if (specs)
        for (int mi = 0; mi < nm; mi++)
            free(specs[mi].sv);
    free(specs);
    free(mods);
    ana_base_close(&base);
    return rc;
}

/* The index of --module NAME among the items run_spectrum analyses (a
 * full tensor's only with a base), or -1. */
static int find_item(const lsc_adapter *ad, const char *name, int with_full)
{
    int i = lsc_adapter_find(ad, name);
    for (int j = 0; i < 0 && with_full && j < ad->n_full; j++)
        if (strcmp(ad->full[j].name, name) == 0)
            i = ad->n_modules + j;
    return i;
}

static const char *item_name(const void *items, int i)
{
    const lsc_adapter *ad = items;
    return i < ad->n_modules ? ad->modules[i].name : ad->full[i - ad->n_modules].name;
}

int cmd_spectrum(int argc, char **argv)
{
    const char *cmd = "spectrum";
    double t0 = cli_now();
    cli_opt opts[] = {ANA_COMMON_OPTS, {"base", 1, NULL}, ANA_DORA_OPTS, {NULL, 0, NULL}};
    const char *path = NULL;
    int help = 0;
    int rc = ana_parse_adapter_args(cmd, USAGE, argc, argv, opts, &path, &help);
    if (rc != CLI_OK || help)
        return rc;
    const char *base_path = cli_get(opts, "base");
    int factors_only = cli_flag(opts, "factors-only");
    ana_opts o;
    lsc_adapter ad;
    if ((rc = ana_setup_kinds(cmd, opts, &o, path, &ad, NULL, NULL, 1)) != CLI_OK)
        return rc;
    int hl = ad.n_modules / 2;
    if (o.module && (hl = find_item(&ad, o.module, base_path != NULL)) < 0) {
        cli_error(cmd, CLI_FAIL, "--module %s: no such module in %s", o.module, path);
        rc = ana_module_names(o.module, ad.n_modules + (base_path ? ad.n_full : 0), item_name, &ad);
    } else if ((rc = ana_dora_check(cmd, path, &ad, base_path, factors_only)) == CLI_OK)
        rc = run_spectrum(cmd, path, base_path, factors_only, &o, &ad, hl, t0);
    lsc_adapter_free(&ad);
    return rc;
}
