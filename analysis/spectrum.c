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
 * Root attribute "base" (an input) when a base was used; svd_method then
 * says the DoRA modules went through the dense SVD. LoRA modules never get
 * these attributes and are computed as without --base.
 * Root attributes: provenance (see h5io.c); "adapter" is the folder read
 * (for DIR:NAME, the adapter's subfolder when it has one). Not a plotting program: with
 * --plots it writes spectrum.dat and runs plots/spectrum.gp.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis_common.h"
#include "commands.h"
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
    "embedding LoRA as [dim, vocab]; full tensors (modules_to_save) are not\n"
    "analysed. DoRA modules need --base: then all singular values of their\n"
    "effective update m*(W0 + sBA)/|W0 + sBA|_row - W0 (a dense SVD; full rank in\n"
    "general); without it the command refuses, unless --factors-only.\n"
    "\n"
    "options:\n"
    "  --base MODEL         the base model of DoRA modules: FILE.safetensors, a\n"
    "                       Hugging Face folder or a llama2.c checkpoint\n"
    ANA_DORA_HELP ANA_COMMON_HELP
    "\n"
    "example:\n"
    "  lorascope spectrum ../shared/fixtures/peft/gptneo125m-r8-qv -o spec.h5 --plots figs\n";

typedef struct spec {
    double *sv;            /* (nsv) */
    int     nsv;           /* r, or min(d, k) for a DoRA effective update */
    int     effective;     /* 1: DoRA module through its effective update */
    double  delta_fro, stable_rank, effective_rank;
    int     rank90, degenerate;
    int     rc;            /* of module_spectrum */
    ana_msgs msgs;         /* warnings/error of module_spectrum, printed in order */
} spec;

static void summarise(int r, spec *s)
{
    double sum2 = 0.0, sum1 = 0.0;
    for (int i = 0; i < r; i++) {
        sum2 += s->sv[i] * s->sv[i];
        sum1 += s->sv[i];
    }
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
    double H = 0.0;
    for (int i = 0; i < r; i++) {
        double p = s->sv[i] / sum1;
        if (p > 0.0)
            H -= p * log(p);
    }
    s->effective_rank = exp(H);
}

/* All singular values of a DoRA module's effective update (base b). */
static int dora_spectrum(const char *path, const ana_base *b, const lsc_adapter *ad,
                         const lsc_adapter_module *m, spec *s)
{
    int d = m->out_features, k = m->in_features;
    size_t lw = lsc_svd_work_size(d, k, 0);
    double *dW = malloc((size_t)d * (size_t)k * sizeof *dW), *w = malloc(lw * sizeof *w);
    lsc_error err = {0};
    int rc = CLI_OK;
    if (!dW || !w)
        rc = ana_msg_error(&s->msgs, "%s: out of memory for module %s", path, m->name);
    else if ((rc = ana_dora_effective(b, ad, m, dW, &s->msgs)) != CLI_OK)
        ;
    else if (lsc_svd(d, k, dW, s->sv, NULL, NULL, w, lw, &err) != LSC_OK)
        rc = ana_msg_error(&s->msgs, "%s: module %s: %s", path, m->name, err.msg);
    free(dW);
    free(w);
    if (rc != CLI_OK)
        return rc;
    summarise(s->nsv, s);
    if (s->degenerate)
        ana_msg_warn(&s->msgs, "%s: module %s has an effective DoRA update of 0: marked degenerate",
                     path, m->name);
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
        ana_msg_warn(&s->msgs, "%s: module %s has %d NaN/Inf values in lora_A/lora_B; its spectrum is "
                      "written as NaN", path, m->name, m->n_nonfinite);
        return CLI_OK;
    }
    if (s->effective)
        return dora_spectrum(path, b, ad, m, s);
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
        (rc = ana_dora_write_attrs(h, g, m, s->effective, err)) != LSC_OK)
        return rc;
    return LSC_OK;
}

static int draw(const char *cmd, const char *dir, const char *adapter, const lsc_adapter *ad,
                spec *specs, int hl)
{
    lsc_atomic tmp;
    FILE *fp = ana_data_open(cmd, dir, "spectrum.dat", &tmp);
    if (!fp)
        return CLI_FAIL;
    fprintf(fp, "# lorascope spectrum: singular values of dW per module (%s)\n", adapter);
    fprintf(fp, "# one block per module (gnuplot index = module number); columns: i sigma_i\n");
    for (int mi = 0; mi < ad->n_modules; mi++) {
        const lsc_adapter_module *m = &ad->modules[mi];
        fprintf(fp, "%s# %d %s\n", mi ? "\n\n" : "", mi, m->name);
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
    char title[600], hlname[600], vars[8192], base[300];
    ana_basename(adapter, base, sizeof base);
    snprintf(title, sizeof title, "Singular values of dW = s·B·A per module (%s, %d modules)", base,
             ad->n_modules);
    ana_title_safe(ad->modules[hl].name, hlname, sizeof hlname);
    int maxr = 1;
    for (int mi = 0; mi < ad->n_modules; mi++)
        if (specs[mi].nsv > maxr)
            maxr = specs[mi].nsv;
    snprintf(vars, sizeof vars,
             "datafile='%s/spectrum.dat'; outbase='%s/spectrum'; plottitle='%s'; "
             "nmod=%d; hl=%d; hlname='%s'; maxr=%d",
             dir, dir, title, ad->n_modules, hl, hlname, maxr);
    return ana_draw_figure(cmd, dir, "spectrum.gp", "spectrum", vars);
}

/* One module on a worker thread (ana_run_tasks). */
typedef struct spectrum_job {
    const char        *path;
    const ana_base    *base;    /* NULL: no DoRA effective updates */
    const lsc_adapter *ad;
    spec              *specs;   /* (n_modules) */
} spectrum_job;

static void spectrum_task(void *ctx, int mi)
{
    spectrum_job *j = ctx;
    j->specs[mi].rc = module_spectrum(j->path, j->base, j->ad, &j->ad->modules[mi], &j->specs[mi]);
}

/* Each module's messages (in order), group and table row. */
static int write_modules(const char *cmd, lsc_h5 *h, const lsc_adapter *ad, const spec *specs,
                         int *n_degenerate, int *n_nonfinite)
{
    lsc_error err = {0};
    for (int mi = 0; mi < ad->n_modules; mi++) {
        const lsc_adapter_module *m = &ad->modules[mi];
        ana_msgs_flush(cmd, &specs[mi].msgs);
        if (specs[mi].rc != CLI_OK)
            return specs[mi].rc;
        *n_degenerate += specs[mi].degenerate;
        *n_nonfinite += m->n_nonfinite > 0;
        if (write_module(h, m, &specs[mi], &err) != LSC_OK)
            return cli_lib_error(cmd, &err);
        printf("%-48s %4d %12.6g %12.6g %11.4f %6d %9.4f%s\n", cli_safe(m->name), m->r, specs[mi].sv[0],
               specs[mi].delta_fro, specs[mi].stable_rank, specs[mi].rank90,
               specs[mi].effective_rank, ana_dora_note(m, specs[mi].effective));
    }
    return CLI_OK;
}

/* Allocates specs (ad's modules) and decides per module whether its
 * effective DoRA update is analysed (effective: a base is open). */
static spec *alloc_specs(const lsc_adapter *ad, int effective)
{
    spec *specs = calloc((size_t)ad->n_modules, sizeof *specs);
    for (int mi = 0; specs && mi < ad->n_modules; mi++) {
        const lsc_adapter_module *m = &ad->modules[mi];
        specs[mi].effective = effective && m->kind == LSC_ADAPTER_DORA;
        specs[mi].nsv = specs[mi].effective ? (m->in_features < m->out_features ? m->in_features
                                                                                : m->out_features)
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

/* The analysis of an adapter loaded with DoRA modules accepted: base_path
 * (NULL: none) is opened only when a DoRA module needs it. */
static int run_spectrum(const char *cmd, const char *path, const char *base_path, int factors_only,
                        ana_opts *o, lsc_adapter *ad, int hl, double t0)
{
    int use_base = base_path && !factors_only && ana_dora_first(ad) >= 0;
    ana_base base;
    memset(&base, 0, sizeof base);
    lsc_h5 *h = NULL;
    spec *specs = NULL;
    int n_degenerate = 0, n_nonfinite = 0, rc;
    if (use_base && (rc = ana_base_open(cmd, base_path, &base)) != CLI_OK)
        goto done;
    if (!(specs = alloc_specs(ad, use_base))) {
        rc = cli_error(cmd, CLI_FAIL, "out of memory");
        goto done;
    }
    if ((rc = ana_output_create(cmd, o, &h)) != CLI_OK)
        goto done;
    printf("%s: %d modules\n", path, ad->n_modules);
    printf("%-48s %4s %12s %12s %11s %6s %9s\n", "module", "r", "sigma_1", "delta_fro",
           "stable_rank", "rank90", "eff_rank");
    /* the modules as tasks on our own threads (BLAS single-threaded
     * inside: r×r problems); messages printed in order */
    spectrum_job job = {path, use_base ? &base : NULL, ad, specs};
    ana_run_tasks(o, ad->n_modules, spectrum_task, &job);
    if ((rc = write_modules(cmd, h, ad, specs, &n_degenerate, &n_nonfinite)) != CLI_OK)
        goto done;
    lsc_h5_input in[2] = {{"adapter", ad->path}, {"base", base_path}};   /* the folder read */
    lsc_h5_param ps[] = {
        ANA_COMMON_PARAMS(*o),
        {"rank90_fraction", LSC_H5_DOUBLE, NULL, 0, 0.9},
        {"svd_method", LSC_H5_STR, use_base ? "lowrank-qr; DoRA effective updates: dense SVD (dgesdd)"
                                            : "lowrank-qr", 0, 0},
        {"n_modules", LSC_H5_INT, NULL, ad->n_modules, 0},
        {"n_degenerate", LSC_H5_INT, NULL, n_degenerate, 0},
        {"n_nonfinite_modules", LSC_H5_INT, NULL, n_nonfinite, 0},
    };
    if ((rc = ana_output_commit(cmd, o, &h, t0, use_base ? 2 : 1, in, NULL,
                                (int)(sizeof ps / sizeof ps[0]), ps)) != CLI_OK)
        goto done;
    if (o->plots && (rc = draw(cmd, o->plots, path, ad, specs, hl)) != CLI_OK)
        goto done;
    if (o->json)
        ana_print_json(cmd, o->output, ad->n_modules, 0, t0);
done:
    lsc_h5_abort(h);
    if (specs)
        for (int mi = 0; mi < ad->n_modules; mi++)
            free(specs[mi].sv);
    free(specs);
    ana_base_close(&base);
    return rc;
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
    if (o.module && (hl = lsc_adapter_find(&ad, o.module)) < 0)
        rc = cli_error(cmd, CLI_USAGE, "--module %s: no such module in %s", o.module, path);
    else if ((rc = ana_dora_check(cmd, path, &ad, base_path, factors_only)) == CLI_OK)
        rc = run_spectrum(cmd, path, base_path, factors_only, &o, &ad, hl, t0);
    lsc_adapter_free(&ad);
    return rc;
}
