/*
 * resize.c — `lorascope resize ADAPTER -o OUT_DIR --rank K | --energy E | --sv-ratio R`:
 * per module the best rank-K approximation of dW = s·B·A (Eckart–Young: its truncated SVD,
 * computed through the low-rank QR path of lib/lowrank.c, never the dense matrix), written
 * as a PEFT adapter directory.
 *
 * Scaling: every module of OUT gets lora_alpha = r' (its new rank), so PEFT's scale is
 * alpha/r' = 1 and the factors carry the whole update: B' = U_K·diag(σ_K)^{1/2},
 * A' = diag(σ_K)^{1/2}·V_Kᵀ. The input's scale (alpha/r, or alpha/√r with use_rslora,
 * after rank_pattern/alpha_pattern) is folded in, so OUT has use_rslora false. Modules of
 * a rank other than the most common one get a rank_pattern and an alpha_pattern entry
 * whose key matches that module alone under PEFT's rule (surgery.c checks it).
 *
 * OUT_DIR: adapter_config.json, adapter_model.safetensors, resize.h5 and resize.csv,
 * written into a temporary sibling and put in place in one step. resize.h5:
 *   /modules/<module>/singular_values (float64, min(r, d, k), descending) of dW
 *   attributes in_features, out_features, rank_in (r), rank (K kept), delta_fro (‖dW‖_F),
 *   rel_fro_error (sqrt(Σ_{i>K} σ_i²/Σ σ_i²)), rel_spectral_error (σ_{K+1}/σ_1, 0 when
 *   nothing is dropped); both NaN when dW = 0;
 *   root: provenance (input adapter; rule, value) and mean/max of the errors.
 * resize.csv: one row per module, the same numbers.
 *
 * What it is not: a trainer (no fine-tuning after truncation); DoRA, embedding and conv
 * adapters are refused (their update is not s·B·A of a Linear layer or needs the base).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "analysis_common.h"
#include "cli.h"
#include "commands.h"
#include "surgery.h"
#include "tidy.h"

static const char *USAGE =
    "usage: lorascope resize ADAPTER -o OUT_DIR (--rank K | --energy E | --sv-ratio R)\n"
    "                        [--threads N] [--csv FILE] [--json]\n"
    "\n"
    "Per module the best rank-K approximation of dW = s·B·A (its truncated SVD, through\n"
    "the thin QR of B and A^T: never the dense matrix), saved as a PEFT adapter with\n"
    "lora_alpha = K per module (scale 1; the input's alpha/r or rsLoRA scale folded into\n"
    "the factors B' = U_K S_K^1/2, A' = S_K^1/2 V_K^T) and per-module ranks in rank_pattern.\n"
    "Prints and stores per module the relative Frobenius error |dW - dW_K|_F/|dW|_F and the\n"
    "relative spectral error s_{K+1}/s_1 (OUT_DIR/resize.h5 and OUT_DIR/resize.csv).\n"
    "Resizing to the original rank reproduces dW to float rounding.\n"
    "\n"
    "  --rank K           keep K (clamped to the module's rank)\n"
    "  --energy E         the smallest K with sum_{i<=K} s_i^2 / sum s_i^2 >= E (0 < E <= 1)\n"
    "  --sv-ratio R       kohya's rule: keep every s_i > s_1 / R (R >= 1)\n"
    "  -o, --output DIR   the adapter directory (replaced in one step when complete)\n"
    "  --threads N        threads (default: all cores): modules run in parallel\n"
    "  --csv FILE         also write the numbers as a tidy CSV table\n"
    "  --json             print one JSON object as the last line of stdout\n"
    "  -h, --help         this text\n"
    "\n"
    "examples:\n"
    "  lorascope resize adapter_r64 --rank 16 -o adapter_r16\n"
    "  lorascope resize adapter_r64 --energy 0.9 -o adapter_e90\n"
    "  lorascope resize adapter_r64 --sv-ratio 20 -o adapter_kohya\n";

/* One module's result (worker thread). */
typedef struct rs_result {
    double  *sv;
    int      n_sv, K, rc;
    double   fro, rel_fro, rel_spec;
    ana_msgs msgs;
} rs_result;

/* A worker thread's buffers, kept from module to module (grown to the
 * largest): a fresh malloc of tens of MB per module costs more in page
 * faults than the QR itself. */
typedef struct rs_scratch {
    double *work;
    float  *Bk, *Ak;
    size_t  lw, nB, nA;
} rs_scratch;

typedef struct rs_job {
    const char        *path;
    const lsc_adapter *in;
    lsc_adapter       *out;   /* modules calloc'd, filled by the tasks */
    rs_result         *res;
    lsc_rank_rule      rule;
    double             value;
    rs_scratch        *scr;   /* (n_scr): one per worker thread */
    int                n_scr;
} rs_job;

/* Grows *p (n elements of size sz) to at least want; 0, or -1 when out of memory. */
static int rs_grow(void **p, size_t *n, size_t want, size_t sz)
{
    if (*n >= want)
        return 0;
    free(*p);
    *p = malloc(want * sz);
    *n = *p ? want : 0;
    return *p ? 0 : -1;
}

static void rs_task(void *ctx, int i)
{
    rs_job *j = ctx;
    const lsc_adapter_module *m = &j->in->modules[i];
    rs_result *res = &j->res[i];
    int d = m->out_features, k = m->in_features, r = m->r, K = 0, t = 0;
#ifdef _OPENMP
    t = omp_get_thread_num();
#endif
    if (t < 0 || t >= j->n_scr)
        t = 0;   /* not reached: ana_run_tasks runs ana_worker_threads threads */
    rs_scratch *sc = &j->scr[t];
    size_t lw = lsc_lowrank_truncate_work_size(d, k, r);
    int oom = rs_grow((void **)&sc->work, &sc->lw, lw, sizeof(double)) ||
              rs_grow((void **)&sc->Bk, &sc->nB, (size_t)d * (size_t)r, sizeof(float)) ||
              rs_grow((void **)&sc->Ak, &sc->nA, (size_t)r * (size_t)k, sizeof(float));
    res->sv = malloc((size_t)r * sizeof *res->sv);
    lsc_error err = {0};
    if (oom || !res->sv) {
        res->rc = ana_msg_error(&res->msgs, "%s: out of memory for module %s", j->path, cli_safe(m->name));
    } else if (lsc_lowrank_truncate(d, k, r, m->scaling, m->B, m->A, j->rule, j->value, &K, res->sv,
                                    sc->Bk, sc->Ak, sc->work, sc->lw, &err) != LSC_OK) {
        res->rc = ana_msg_error(&res->msgs, "%s: module %s: %s", j->path, cli_safe(m->name), err.msg);
    } else if (surg_module_init(&j->out->modules[i], m->name, d, k, K) != 0) {
        res->rc = ana_msg_error(&res->msgs, "%s: out of memory for module %s", j->path, cli_safe(m->name));
    } else {
        lsc_adapter_module *o = &j->out->modules[i];
        memcpy(o->B, sc->Bk, (size_t)d * (size_t)K * sizeof *o->B);
        memcpy(o->A, sc->Ak, (size_t)K * (size_t)k * sizeof *o->A);
        res->n_sv = r < d ? (r < k ? r : k) : (d < k ? d : k);
        res->K = K;
        lsc_truncation_errors(res->n_sv, res->sv, K, &res->rel_fro, &res->rel_spec, &res->fro);
    }
}

// ---- outputs ----

static int rs_write_module(lsc_h5 *h, const lsc_adapter_module *m, const rs_result *res, int K,
                           lsc_error *err)
{
    char g[1100], p[1200];
    snprintf(g, sizeof g, "/modules/%s", m->name);
    snprintf(p, sizeof p, "%s/singular_values", g);
    size_t dims[1] = {(size_t)res->n_sv};
    if (lsc_h5_write_f64(h, p, 1, dims, res->sv, err) != LSC_OK ||
        lsc_h5_attr_int(h, g, "in_features", m->in_features, err) != LSC_OK ||
        lsc_h5_attr_int(h, g, "out_features", m->out_features, err) != LSC_OK ||
        lsc_h5_attr_int(h, g, "rank_in", m->r, err) != LSC_OK ||
        lsc_h5_attr_int(h, g, "rank", K, err) != LSC_OK ||
        lsc_h5_attr_double(h, g, "scaling_in", m->scaling, err) != LSC_OK ||
        lsc_h5_attr_double(h, g, "delta_fro", res->fro, err) != LSC_OK ||
        lsc_h5_attr_double(h, g, "rel_fro_error", res->rel_fro, err) != LSC_OK ||
        lsc_h5_attr_double(h, g, "rel_spectral_error", res->rel_spec, err) != LSC_OK)
        return err->code;
    return LSC_OK;
}

typedef struct rs_out {
    const rs_job   *job;
    const ana_opts *ao;
    const char     *rule_name;
    double          t0;
} rs_out;

/* resize.h5 and resize.csv into dir (surg_publish's write_extra). */
static int rs_write_extra(void *ctx, const char *dir)
{
    const rs_out *o = ctx;
    const rs_job *j = o->job;
    lsc_error err = {0};
    char path[4200];
    snprintf(path, sizeof path, "%s/resize.h5", dir);
    lsc_h5 *h = NULL;
    if (lsc_h5_create(&h, path, &err) != LSC_OK)
        return cli_lib_error("resize", &err);
    double sum = 0.0, mx_fro = 0.0, mx_spec = 0.0;
    int n = j->in->n_modules, n_nz = 0;
    for (int i = 0; i < n; i++) {
        const rs_result *res = &j->res[i];
        if (rs_write_module(h, &j->in->modules[i], res, res->K, &err) != LSC_OK)
            goto fail;
        if (res->fro > 0.0) {
            sum += res->rel_fro;
            n_nz++;
            mx_fro = fmax(mx_fro, res->rel_fro);
            mx_spec = fmax(mx_spec, res->rel_spec);
        }
    }
    lsc_h5_input inputs[1] = {{"adapter", j->path}};
    lsc_h5_param params[4] = {{"rule", LSC_H5_STR, o->rule_name, 0, 0},
                              {"value", LSC_H5_DOUBLE, NULL, 0, j->value},
                              {"threads", LSC_H5_INT, NULL, o->ao->threads, 0},
                              {"n_modules", LSC_H5_INT, NULL, n, 0}};
    if (ana_write_provenance(h, o->t0, 1, inputs, 4, params, &err) != LSC_OK ||
        lsc_h5_attr_double(h, "/", "mean_rel_fro_error", n_nz ? sum / n_nz : NAN, &err) != LSC_OK ||
        lsc_h5_attr_double(h, "/", "max_rel_fro_error", mx_fro, &err) != LSC_OK ||
        lsc_h5_attr_double(h, "/", "max_rel_spectral_error", mx_spec, &err) != LSC_OK ||
        ana_output_describe("resize", o->ao, h, &err) != LSC_OK)
        goto fail;
    if (lsc_h5_commit(h, &err) != LSC_OK)
        return cli_lib_error("resize", &err);
    snprintf(path, sizeof path, "%s/resize.csv", dir);
    lsc_atomic a = {0};
    if (lsc_atomic_open(&a, path, &err) != LSC_OK)
        return cli_lib_error("resize", &err);
    fprintf(a.fp, "module,in_features,out_features,rank_in,rank,delta_fro,rel_fro_error,rel_spectral_error\n");
    for (int i = 0; i < n; i++) {
        const lsc_adapter_module *m = &j->in->modules[i];
        const rs_result *res = &j->res[i];
        fprintf(a.fp, "\"%s\",%d,%d,%d,%d,%.17g,%.17g,%.17g\n", m->name, m->in_features, m->out_features,
                m->r, res->K, res->fro, res->rel_fro, res->rel_spec);
    }
    return lsc_atomic_commit(&a, &err) == LSC_OK ? CLI_OK : cli_lib_error("resize", &err);
fail:
    lsc_h5_abort(h);
    return cli_lib_error("resize", &err);
}

// ---- the command ----

static int run_resize(const char *path, const lsc_adapter *in, const ana_opts *ao, lsc_rank_rule rule,
                      double value, const char *rule_name)
{
    double t0 = cli_now();
    int n = in->n_modules, rc = CLI_OK;
    lsc_adapter out;
    memset(&out, 0, sizeof out);
    int nth = ana_worker_threads(ao);
    rs_job job = {path, in, &out, calloc((size_t)n, sizeof(rs_result)), rule, value,
                  calloc((size_t)nth, sizeof(rs_scratch)), nth};
    out.modules = calloc((size_t)n, sizeof *out.modules);
    if (!job.res || !out.modules || !job.scr) {
        free(job.res);
        free(job.scr);
        free(out.modules);
        return cli_error("resize", CLI_FAIL, "out of memory");
    }
    out.n_modules = n;
    ana_run_tasks(ao, n, rs_task, &job);
    for (int t = 0; t < nth; t++) {
        free(job.scr[t].work);
        free(job.scr[t].Bk);
        free(job.scr[t].Ak);
    }
    free(job.scr);
    for (int i = 0; i < n; i++) {
        ana_msgs_flush("resize", &job.res[i].msgs);
        if (rc == CLI_OK)
            rc = job.res[i].rc;
    }
    rs_out ro = {&job, ao, rule_name, t0};
    if (rc == CLI_OK && (rc = surg_config("resize", &out, in)) == CLI_OK &&
        (rc = surg_publish("resize", &out, ao->output, rs_write_extra, &ro)) == CLI_OK) {
        for (int i = 0; i < n; i++)
            printf("  %-40s r %d -> %-4d rel_fro_error %.6g  rel_spectral_error %.6g\n",
                   cli_safe(in->modules[i].name), in->modules[i].r, job.res[i].K, job.res[i].rel_fro,
                   job.res[i].rel_spec);
        printf("resize: %s: %d modules, %s %g (%.2f s)\n", ao->output, n, rule_name, value, cli_now() - t0);
        rc = ana_finish("resize", ao, n, 0, t0);
    }
    for (int i = 0; i < n; i++)
        free(job.res[i].sv);
    free(job.res);
    lsc_adapter_free(&out);
    return rc;
}

/* The one rank rule given; CLI_USAGE (printed) when none or several, or a bad value. */
static int rs_rule(const cli_opt *opts, lsc_rank_rule *rule, double *value, const char **name)
{
    static const char *names[3] = {"rank", "energy", "sv-ratio"};
    int given = 0, bad = 0;
    for (int i = 0; i < 3; i++)
        if (cli_get(opts, names[i])) {
            given++;
            *rule = (lsc_rank_rule)i;
            *name = names[i];
            *value = cli_double(opts, names[i], 0.0, &bad);
        }
    if (bad)
        return CLI_USAGE;
    if (given != 1)
        return cli_error("resize", CLI_USAGE, "give exactly one of --rank, --energy, --sv-ratio (see --help)");
    if ((*rule == LSC_RANK_RULE_FIXED && (!(*value >= 1) || *value > 1e6 || *value != floor(*value))) ||
        (*rule == LSC_RANK_RULE_ENERGY && !(*value > 0 && *value <= 1)) ||
        (*rule == LSC_RANK_RULE_SV_RATIO && !(*value >= 1 && isfinite(*value))))
        return cli_error("resize", CLI_USAGE, "--%s %g: out of range (see --help)", *name, *value);
    return CLI_OK;
}

int cmd_resize(int argc, char **argv)
{
    cli_opt opts[] = {ANA_COMMON_OPTS, {"rank", 1, NULL}, {"energy", 1, NULL}, {"sv-ratio", 1, NULL},
                      {NULL, 0, NULL}};
    const char *path = NULL, *rule_name = NULL;
    int help = 0;
    int rc = ana_parse_adapter_args("resize", USAGE, argc, argv, opts, &path, &help);
    if (rc != CLI_OK || help)
        return rc;
    if (cli_get(opts, "plots") || cli_get(opts, "module"))
        return cli_error("resize", CLI_USAGE, "no --plots or --module here (recommend-ranks --plots draws ranks)");
    lsc_rank_rule rule = LSC_RANK_RULE_FIXED;
    double value = 0.0;
    if ((rc = rs_rule(opts, &rule, &value, &rule_name)) != CLI_OK)
        return rc;
    ana_opts ao;
    lsc_adapter ad;
    if ((rc = ana_setup_kinds("resize", opts, &ao, path, &ad, NULL, NULL, 1)) != CLI_OK)
        return rc;
    if ((rc = surg_check_kinds("resize", path, &ad)) == CLI_OK)
        rc = run_resize(path, &ad, &ao, rule, value, rule_name);
    lsc_adapter_free(&ad);
    return rc;
}
