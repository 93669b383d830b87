/*
 * bench.c — `lorascope bench sgemm|lowrank|phi|table7|model|tensors`: the parts of
 * `make bench` (issue 5) that are not existing subcommands.
 *
 *   sgemm    the machine's limit: SGEMM GFLOP/s through OpenBLAS at the
 *            GEMM shapes of one training step (N = B·T token rows against
 *            the d×d, 4d×d and d×4d weights, forward, input gradient and
 *            weight gradient), with a given thread count.
 *   lowrank  the spectrum of dW = s·B·A by the low-rank path (QR of B and
 *            Aᵀ, SVD of the r×r core) against the dense LAPACK SVD of the
 *            d×d product, with the largest relative difference of the
 *            singular values.
 *   phi      the φ grid of two subspaces r1 = 8 and r2 = 64 at d = 1024, part
 *            by part, and against the definition evaluated naively.
 *   table7   LoRA paper Table 7 for a d×d W: W's own top-r directions by the
 *            top-k (subspace iteration) method against a full SVD.
 *   model    the FLOP and memory model of one training step for a shape
 *            (the same flags as `lorascope train --synthetic`).
 *   tensors  loading and listing an adapter of a million tensors
 *            (issue 15), bench_tensors.c.
 *
 * Every timed figure is the median of --reps repetitions after one warm-up,
 * with min and max beside it. Each subcommand prints a table and, with
 * --json, one JSON object as the last line of stdout. This file is a
 * measuring tool, not a test: nothing here asserts a speed.
 *
 * This file is the command, the timing and the JSON frame; the
 * benchmarks are in bench_step.c (sgemm, model) and bench_linalg.c
 * (lowrank, phi, table7), sharing bench.h.
 *
 * Shape vocabulary: N token rows (B·T), d model width (C), r LoRA rank,
 * k in features; FLOPs count a multiply-add as 2.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>
#include <cblas.h>

#include "analysis_common.h"
#include "bench.h"
#include "commands.h"

// ---- timing ----

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static stat3 stat_of(double *t, int n)
{
    stat3 s = {0, 0, 0};
    if (n <= 0)
        return s;
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    s.min = t[0];
    s.max = t[n - 1];
    s.med = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    return s;
}


/* warm-up calls, then reps timed repetitions of `inner` calls each (the time
 * per call is reported). CLI_OK, or CLI_FAIL when fn failed, after printing
 * err (where fn leaves its error; NULL for work that cannot fail). */
int bench_time_(work_fn fn, void *ctx, const lsc_error *err, int warm, int reps, int inner,
                     stat3 *out)
{
    double t[MAX_REPS];
    if (reps > MAX_REPS)
        reps = MAX_REPS;
    if (reps < 1)
        reps = 1;
    for (int i = 0; i < warm; i++)
        if (fn(ctx))
            goto fail;
    for (int rep = 0; rep < reps; rep++) {
        double t0 = cli_now();
        for (int i = 0; i < inner; i++)
            if (fn(ctx))
                goto fail;
        t[rep] = (cli_now() - t0) / inner;
    }
    *out = stat_of(t, reps);
    return CLI_OK;
fail:
    return err ? cli_lib_error("bench", err) : CLI_FAIL;
}

/* Calls per repetition so one repetition lasts about min_s seconds. */
int bench_calibrate_(work_fn fn, void *ctx, double min_s)
{
    double t0 = cli_now();
    if (fn(ctx))
        return 1;
    double dt = cli_now() - t0;
    if (dt <= 0.0)
        dt = 1e-7;
    double n = ceil(min_s / dt);
    return n < 1 ? 1 : (n > 100000 ? 100000 : (int)n);
}

// ---- common options ----


static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

static void set_threads(int p)
{
    openblas_set_num_threads(p);
}

void bench_fill_gauss_f_(float *x, size_t n, float sd, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++)
        x[i] = sd * (float)lsc_rng_normal(rng);
}

void bench_fill_gauss_d_(double *x, size_t n, double sd, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++)
        x[i] = sd * lsc_rng_normal(rng);
}

static void json_common(cJSON *o, const char *bench, const bench_opts *bo, double t0)
{
    cJSON_AddStringToObject(o, "bench", bench);
    cJSON_AddStringToObject(o, "lorascope_version", LSC_VERSION);
    cJSON_AddStringToObject(o, "blas_core", openblas_get_corename());
    cJSON_AddNumberToObject(o, "threads", bo->threads);
    cJSON_AddNumberToObject(o, "reps", bo->reps);
    cJSON_AddBoolToObject(o, "quick", bo->quick);
    cJSON_AddNumberToObject(o, "wall_s", cli_now() - t0);
    cJSON_AddNumberToObject(o, "peak_rss_mb", cli_peak_rss_mb());
}

void bench_json_stat_ms_(cJSON *o, const char *prefix, stat3 s)
{
    char k[96];
    snprintf(k, sizeof k, "%s_ms_median", prefix);
    cJSON_AddNumberToObject(o, k, 1e3 * s.med);
    snprintf(k, sizeof k, "%s_ms_min", prefix);
    cJSON_AddNumberToObject(o, k, 1e3 * s.min);
    snprintf(k, sizeof k, "%s_ms_max", prefix);
    cJSON_AddNumberToObject(o, k, 1e3 * s.max);
}

static int json_print(cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    if (!s)
        return 1;
    printf("%s\n", s);
    fflush(stdout);
    cJSON_free(s);
    return 0;
}


void bench_begin_(bench_run *b, const bench_opts *bo)
{
    b->t0 = cli_now();
    lsc_rng_seed(&b->rng, (uint64_t)bo->seed);
    b->o = cJSON_CreateObject();
    b->arr = cJSON_CreateArray();
}

/* The cases under key (NULL: none), the common fields, then with --json
 * the object as one line on stdout, unless the benchmark failed (rc, then
 * returned as is). Frees the frame's JSON. */
int bench_end_(bench_run *b, const char *bench, const char *key, const bench_opts *bo, int rc)
{
    if (key)
        cJSON_AddItemToObject(b->o, key, b->arr);
    else
        cJSON_Delete(b->arr);
    json_common(b->o, bench, bo, b->t0);
    if (rc == CLI_OK && bo->json && json_print(b->o))
        rc = CLI_FAIL;
    cJSON_Delete(b->o);
    return rc;
}

double bench_rel_diff_(double a, double b)
{
    double m = fmax(fabs(a), fabs(b));
    return m > 1e-300 ? fabs(a - b) / m : fabs(a - b);
}

// ---- the subcommand ----

static const char *USAGE =
    "usage: lorascope bench sgemm|lowrank|phi|table7|model|tensors [options]\n"
    "\n"
    "Micro-benchmarks behind `make bench` (experiments/bench.sh). Every time is the\n"
    "median of --reps runs after a warm-up, with min and max.\n"
    "\n"
    "  sgemm    SGEMM GFLOP/s through OpenBLAS at the training step's GEMM shapes\n"
    "           (N = B*T rows against dxd, 4dxd, dx4d; fwd, dinp, dW) for the\n"
    "           shapes S (d=256, B*T=1024), M (384, 2048), L (768, 512): the limit\n"
    "           that `train --synthetic` is compared with.  [--shape S|M|L|all]\n"
    "  lowrank  spectrum of dW = s*B*A by the low-rank path vs the dense SVD,\n"
    "           d in {768, 1024, 4096}, r in {8, 64}, with the max relative\n"
    "           difference of the singular values\n"
    "  phi      the phi grid r=8 vs r=64 at d=1024, part by part, vs the naive\n"
    "           definition\n"
    "  table7   Table 7 at d=1024 (r=8, 64) and 4096 (r=8): W's own top-r by the top-k\n"
    "           method vs a full SVD (agreement to 1e-8)  [--gaussian adds an\n"
    "           unstructured W at d=1024]\n"
    "  model    FLOP and memory model of one training step for a shape:\n"
    "           --layers --heads --embd --ctx --batch --vocab (--rank R --targets q,v\n"
    "           | --full), the flags of `lorascope train --synthetic`\n"
    "  tensors  load + list an adapter of --count tensors (default 1000000; --quick\n"
    "           10000) written to a temporary directory (TMPDIR) and removed after:\n"
    "           seconds per phase and tensors/s\n"
    "\n"
    "options:\n"
    "  --threads P   BLAS threads (default: all cores)\n"
    "  --reps N      timed repetitions (default 5)\n"
    "  --seed S      seed of the random inputs (default 1)\n"
    "  --quick       tiny sizes, 2 repetitions (the smoke test)\n"
    "  --json        print one JSON object as the last line of stdout\n"
    "\n"
    "example:\n"
    "  lorascope bench sgemm --threads 2 --json\n"
    "  lorascope bench model --layers 12 --heads 12 --embd 768 --ctx 128 --batch 4 --full\n";

int cmd_bench(int argc, char **argv)
{
    cli_opt opts[] = {{"threads", 1, NULL}, {"reps", 1, NULL},    {"seed", 1, NULL},
                      {"quick", 0, NULL},   {"json", 0, NULL},    {"shape", 1, NULL},
                      {"gaussian", 0, NULL}, {"layers", 1, NULL}, {"heads", 1, NULL},
                      {"embd", 1, NULL},    {"ctx", 1, NULL},     {"batch", 1, NULL},
                      {"vocab", 1, NULL},   {"rank", 1, NULL},    {"targets", 1, NULL},
                      {"full", 0, NULL},    {"count", 1, NULL},   {"help", 0, NULL},    {NULL, 0, NULL}};
    const char *pos[1];
    int npos, help = 0;
    int rc = ana_parse_args("bench", USAGE, argc, argv, opts, pos, 1, &npos, &help);
    if (rc != CLI_OK || help)
        return rc;
    if (npos != 1)
        return cli_error("bench", CLI_USAGE, "which benchmark? sgemm, lowrank, phi, table7 or model");
    int bad = 0;
    bench_opts bo;
    bo.quick = cli_flag(opts, "quick");
    bo.json = cli_flag(opts, "json");
    long th = cli_long(opts, "threads", default_threads(), &bad);
    long reps = cli_long(opts, "reps", bo.quick ? 2 : 5, &bad);
    bo.seed = cli_long(opts, "seed", 1, &bad);
    long count = cli_long(opts, "count", bo.quick ? 10000 : 1000000, &bad);
    if (bad)
        return CLI_USAGE;
    if (th < 1 || th > 256)
        return cli_error("bench", CLI_USAGE, "--threads must be in 1..256, got %ld", th);
    if (reps < 1 || reps > MAX_REPS)
        return cli_error("bench", CLI_USAGE, "--reps must be in 1..%d, got %ld", MAX_REPS, reps);
    bo.threads = (int)th;
    bo.reps = (int)reps;
    set_threads(bo.threads);
    const char *what = pos[0];
    const char *shape = cli_get(opts, "shape");
    if (shape && strcmp(shape, "S") && strcmp(shape, "M") && strcmp(shape, "L") &&
        strcmp(shape, "all"))
        return cli_error("bench", CLI_USAGE, "--shape must be S, M, L or all, got '%s'", shape);
    if (strcmp(what, "sgemm") == 0)
        return bench_sgemm_(&bo, shape);
    if (strcmp(what, "lowrank") == 0)
        return bench_lowrank_(&bo);
    if (strcmp(what, "phi") == 0)
        return bench_phi_(&bo);
    if (strcmp(what, "table7") == 0)
        return bench_table7_(&bo, cli_flag(opts, "gaussian"));
    if (strcmp(what, "model") == 0)
        return bench_model_(&bo, opts);
    if (strcmp(what, "tensors") == 0)
        return bench_tensors_(&bo, count);
    return cli_error("bench", CLI_USAGE, "unknown benchmark '%s' (sgemm, lowrank, phi, table7, model, tensors)",
                     what);
}
