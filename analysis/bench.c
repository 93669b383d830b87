/*
 * bench.c — `lorascope bench sgemm|lowrank|phi|table7|model`: the parts of
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
 *
 * Every timed figure is the median of --reps repetitions after one warm-up,
 * with min and max beside it. Each subcommand prints a table and, with
 * --json, one JSON object as the last line of stdout. This file is a
 * measuring tool, not a test: nothing here asserts a speed.
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

#include "cli.h"
#include "commands.h"

// ---- timing ----

typedef struct stat3 {
    double med, min, max;   /* seconds */
} stat3;

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

/* A timed piece of work: fn(ctx) once per call; returns non-zero on error. */
typedef int (*work_fn)(void *ctx);

#define MAX_REPS 64

/* warm-up calls, then reps timed repetitions of `inner` calls each (the time
 * per call is reported). CLI_OK, or CLI_FAIL when fn failed, after printing
 * err (where fn leaves its error; NULL for work that cannot fail). */
static int time_work(work_fn fn, void *ctx, const lsc_error *err, int warm, int reps, int inner,
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
static int calibrate(work_fn fn, void *ctx, double min_s)
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

typedef struct bench_opts {
    int    threads;
    int    reps;
    int    quick;
    int    json;
    long   seed;
} bench_opts;

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

static void set_threads(int p)
{
    openblas_set_num_threads(p);
}

static void fill_gauss_f(float *x, size_t n, float sd, uint64_t *rng)
{
    for (size_t i = 0; i < n; i++)
        x[i] = sd * (float)lsc_rng_normal(rng);
}

static void fill_gauss_d(double *x, size_t n, double sd, uint64_t *rng)
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

static void json_stat_ms(cJSON *o, const char *prefix, stat3 s)
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

/* The frame of every benchmark: its JSON object, the array of its cases
 * and the RNG of its random inputs (seeded with --seed). */
typedef struct bench_run {
    double   t0;
    uint64_t rng;
    cJSON   *o, *arr;
} bench_run;

static void bench_begin(bench_run *b, const bench_opts *bo)
{
    b->t0 = cli_now();
    lsc_rng_seed(&b->rng, (uint64_t)bo->seed);
    b->o = cJSON_CreateObject();
    b->arr = cJSON_CreateArray();
}

/* The cases under key (NULL: none), the common fields, then with --json
 * the object as one line on stdout, unless the benchmark failed (rc, then
 * returned as is). Frees the frame's JSON. */
static int bench_end(bench_run *b, const char *bench, const char *key, const bench_opts *bo, int rc)
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

static double rel_diff(double a, double b)
{
    double m = fmax(fabs(a), fabs(b));
    return m > 1e-300 ? fabs(a - b) / m : fabs(a - b);
}

// ---- sgemm: the machine's limit at the training step's shapes ----

/* The three GEMMs of a linear layer with weight W (OC, C) on N rows, as the
 * training step calls them (row-major, lib/layers.c):
 *   fwd     out (N, OC)  = inp (N, C) · Wᵀ           sgemm(N, T,  N, OC, C)
 *   dinp    dinp (N, C) += dout (N, OC) · W          sgemm(N, N,  N, C, OC)
 *   dW      dW (OC, C)  += dout (N, OC)ᵀ · inp (N, C) sgemm(T, N, OC, C, N)
 * Per transformer block: four d×d (q, k, v, o), one 4d×d (fc_in), one d×4d
 * (fc_out). The limit of a step is Σ flops / Σ time over this mix: all three
 * kinds for full fine-tuning, fwd + dinp for a frozen base (LoRA). */
enum { G_FWD = 0, G_DINP = 1, G_DW = 2 };
static const char *const gemm_kind_name[3] = {"fwd", "dinp", "dW"};

typedef struct gemm_ctx {
    int kind, N, C, OC;
    const float *inp, *w, *dout;
    float *out;
} gemm_ctx;

static int gemm_run(void *p)
{
    gemm_ctx *g = p;
    switch (g->kind) {
    case G_FWD:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g->N, g->OC, g->C, 1.0f, g->inp,
                    g->C, g->w, g->C, 0.0f, g->out, g->OC);
        break;
    case G_DINP:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->N, g->C, g->OC, 1.0f, g->dout,
                    g->OC, g->w, g->C, 1.0f, g->out, g->C);
        break;
    default:
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g->OC, g->C, g->N, 1.0f, g->dout,
                    g->OC, g->inp, g->C, 1.0f, g->out, g->C);
        break;
    }
    return 0;
}

typedef struct bench_shape {
    const char *name;
    int layers, heads, embd, ctx, batch;
} bench_shape;

/* The training shapes (and a tiny one for --quick). */
static const bench_shape SHAPES[] = {
    {"S", 4, 4, 256, 128, 8},
    {"M", 6, 6, 384, 256, 8},
    {"L", 12, 12, 768, 128, 4},
};
static const bench_shape QUICK_SHAPE = {"quick", 2, 2, 128, 64, 4};

static int sgemm_shape(const bench_shape *sh, const bench_opts *bo, cJSON *arr, uint64_t *rng)
{
    int N = sh->batch * sh->ctx, d = sh->embd;
    /* inp, dout (N, 4d) at most; out is (N, OC) or a weight gradient (OC, C), up to 4d·d */
    size_t big = (size_t)N * 4 * (size_t)d, wsz = 4 * (size_t)d * (size_t)d;
    size_t osz = big > wsz ? big : wsz;
    float *inp = malloc(big * sizeof *inp), *dout = malloc(big * sizeof *dout);
    float *out = malloc(osz * sizeof *out), *w = malloc(wsz * sizeof *w);
    if (!inp || !dout || !out || !w) {
        free(inp); free(dout); free(out); free(w);
        return cli_error("bench", CLI_FAIL, "sgemm: out of memory for shape %s", sh->name);
    }
    fill_gauss_f(inp, big, 1.0f, rng);
    fill_gauss_f(dout, big, 1.0f, rng);
    fill_gauss_f(w, wsz, 0.02f, rng);
    memset(out, 0, osz * sizeof *out);

    /* weights (OC, C) and how often each appears per block */
    const struct { const char *name; int oc_mul, c_mul, count; } W[3] = {
        {"dxd", 1, 1, 4}, {"4dxd", 4, 1, 1}, {"dx4d", 1, 4, 1}};
    double fl_all = 0, t_all_med = 0, t_all_min = 0, t_all_max = 0;
    double fl_frz = 0, t_frz_med = 0, t_frz_min = 0, t_frz_max = 0;
    cJSON *js = cJSON_CreateObject(), *jg = cJSON_CreateArray();
    cJSON_AddStringToObject(js, "shape", sh->name);
    cJSON_AddNumberToObject(js, "rows", N);
    cJSON_AddNumberToObject(js, "d", d);
    printf("shape %s: N = B*T = %d rows, d = %d, %d thread%s\n", sh->name, N, d, bo->threads,
           bo->threads == 1 ? "" : "s");
    printf("  %-5s %-5s %6s %6s %6s %5s %10s %10s %10s %10s\n", "W", "kind", "M", "N", "K",
           "count", "ms_med", "GFLOP/s", "GF/s_min", "GF/s_max");
    for (int wi = 0; wi < 3; wi++) {
        int OC = W[wi].oc_mul * d, C = W[wi].c_mul * d;
        for (int kind = 0; kind < 3; kind++) {
            gemm_ctx g = {kind, N, C, OC, inp, w, dout, out};
            int gm = kind == G_FWD ? N : (kind == G_DINP ? N : OC);
            int gn = kind == G_FWD ? OC : C;
            int gk = kind == G_FWD ? C : (kind == G_DINP ? OC : N);
            double flops = 2.0 * gm * gn * gk;
            int inner = calibrate(gemm_run, &g, bo->quick ? 0.005 : 0.05);
            stat3 s;
            time_work(gemm_run, &g, NULL, 1, bo->reps, inner, &s);
            double cnt = W[wi].count;
            fl_all += cnt * flops;
            t_all_med += cnt * s.med; t_all_min += cnt * s.min; t_all_max += cnt * s.max;
            if (kind != G_DW) {
                fl_frz += cnt * flops;
                t_frz_med += cnt * s.med; t_frz_min += cnt * s.min; t_frz_max += cnt * s.max;
            }
            printf("  %-5s %-5s %6d %6d %6d %5d %10.3f %10.1f %10.1f %10.1f\n", W[wi].name,
                   gemm_kind_name[kind], gm, gn, gk, W[wi].count, 1e3 * s.med, flops / s.med / 1e9,
                   flops / s.max / 1e9, flops / s.min / 1e9);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "weight", W[wi].name);
            cJSON_AddStringToObject(e, "kind", gemm_kind_name[kind]);
            cJSON_AddNumberToObject(e, "M", gm);
            cJSON_AddNumberToObject(e, "N", gn);
            cJSON_AddNumberToObject(e, "K", gk);
            cJSON_AddNumberToObject(e, "count", W[wi].count);
            json_stat_ms(e, "time", s);
            cJSON_AddNumberToObject(e, "gflops_median", flops / s.med / 1e9);
            cJSON_AddNumberToObject(e, "gflops_min", flops / s.max / 1e9);
            cJSON_AddNumberToObject(e, "gflops_max", flops / s.min / 1e9);
            cJSON_AddItemToArray(jg, e);
        }
    }
    double lim = fl_all / t_all_med / 1e9, lim_lo = fl_all / t_all_max / 1e9,
           lim_hi = fl_all / t_all_min / 1e9;
    double lf = fl_frz / t_frz_med / 1e9, lf_lo = fl_frz / t_frz_max / 1e9,
           lf_hi = fl_frz / t_frz_min / 1e9;
    printf("  limit, full step mix (fwd+dinp+dW): %.1f GFLOP/s (min %.1f, max %.1f)\n", lim, lim_lo,
           lim_hi);
    printf("  limit, frozen-base mix (fwd+dinp):  %.1f GFLOP/s (min %.1f, max %.1f)\n\n", lf, lf_lo,
           lf_hi);
    cJSON_AddItemToObject(js, "gemms", jg);
    cJSON_AddNumberToObject(js, "limit_full_gflops", lim);
    cJSON_AddNumberToObject(js, "limit_full_gflops_min", lim_lo);
    cJSON_AddNumberToObject(js, "limit_full_gflops_max", lim_hi);
    cJSON_AddNumberToObject(js, "limit_frozen_gflops", lf);
    cJSON_AddNumberToObject(js, "limit_frozen_gflops_min", lf_lo);
    cJSON_AddNumberToObject(js, "limit_frozen_gflops_max", lf_hi);
    cJSON_AddNumberToObject(js, "block_gemm_flops_full", fl_all);
    cJSON_AddItemToArray(arr, js);
    free(inp); free(dout); free(out); free(w);
    return CLI_OK;
}

static int bench_sgemm(const bench_opts *bo, const char *shape)
{
    bench_run run;
    bench_begin(&run, bo);
    int rc = CLI_OK;
    printf("SGEMM through OpenBLAS (%s kernels), %d thread%s, median of %d after a warm-up\n\n",
           openblas_get_corename(), bo->threads, bo->threads == 1 ? "" : "s", bo->reps);
    if (bo->quick) {
        rc = sgemm_shape(&QUICK_SHAPE, bo, run.arr, &run.rng);
    } else {
        for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0] && rc == CLI_OK; i++)
            if (!shape || strcmp(shape, "all") == 0 || strcmp(shape, SHAPES[i].name) == 0)
                rc = sgemm_shape(&SHAPES[i], bo, run.arr, &run.rng);
    }
    return bench_end(&run, "sgemm", "shapes", bo, rc);
}

// ---- lowrank: spectrum of dW = s·B·A, low-rank path vs dense SVD ----

typedef struct lowrank_ctx {
    int d, k, r, dense, want;
    double s;
    const double *B, *A;
    double *S, *U, *Vt, *work;
    size_t lwork;
    lsc_error err;
} lowrank_ctx;

static int lowrank_run(void *p)
{
    lowrank_ctx *c = p;
    if (c->dense)
        return lsc_lowrank_svd_dense(c->d, c->k, c->r, c->s, c->B, c->A, c->S,
                                     c->want ? c->U : NULL, c->want ? c->Vt : NULL, c->work,
                                     c->lwork, &c->err) != LSC_OK;
    return lsc_lowrank_svd(c->d, c->k, c->r, c->s, c->B, c->A, c->S, c->want ? c->U : NULL,
                           c->want ? c->Vt : NULL, c->work, c->lwork, &c->err) != LSC_OK;
}

static int bench_lowrank(const bench_opts *bo)
{
    static const int DS[] = {768, 1024, 4096}, QDS[] = {256};
    static const int RS[] = {8, 64};
    const int *ds = bo->quick ? QDS : DS;
    int nd = bo->quick ? 1 : 3;
    bench_run run;
    bench_begin(&run, bo);
    int rc = CLI_OK;
    printf("Spectrum of dW = s*B*A (dxd, values only): low-rank path vs dense LAPACK SVD,\n"
           "%d thread%s, median of %d after a warm-up (dense at d >= 4096: 1 run, no warm-up)\n\n",
           bo->threads, bo->threads == 1 ? "" : "s", bo->reps);
    printf("  %5s %3s %12s %12s %12s %10s %10s %12s\n", "d", "r", "lowrank_ms", "+vectors_ms",
           "dense_ms", "speedup", "sp_min", "max_rel_diff");
    for (int di = 0; di < nd && rc == CLI_OK; di++) {
        for (int ri = 0; ri < 2 && rc == CLI_OK; ri++) {
            int d = ds[di], k = ds[di], r = RS[ri];
            size_t dz = (size_t)d, kz = (size_t)k, rz = (size_t)r;
            double *B = malloc(dz * rz * sizeof *B), *A = malloc(rz * kz * sizeof *A);
            double *S1 = malloc(rz * sizeof *S1), *S2 = malloc(rz * sizeof *S2);
            double *U = malloc(dz * rz * sizeof *U), *Vt = malloc(rz * kz * sizeof *Vt);
            size_t lw1 = lsc_lowrank_svd_work_size(d, k, r, 1);
            size_t lw2 = lsc_lowrank_svd_dense_work_size(d, k, r, 0);
            double *w1 = malloc(lw1 * sizeof *w1), *w2 = malloc(lw2 * sizeof *w2);
            if (!B || !A || !S1 || !S2 || !U || !Vt || !w1 || !w2) {
                rc = cli_error("bench", CLI_FAIL, "lowrank: out of memory at d = %d", d);
                goto next;
            }
            /* PEFT-like factors: A Kaiming-scale rows, B small */
            fill_gauss_d(A, rz * kz, 1.0 / sqrt((double)k), &run.rng);
            fill_gauss_d(B, dz * rz, 0.02, &run.rng);
            lowrank_ctx lo = {d, k, r, 0, 0, 16.0 / r, B, A, S1, U, Vt, w1, lw1, {0}};
            lowrank_ctx lv = lo;
            lv.want = 1;
            lowrank_ctx de = {d, k, r, 1, 0, 16.0 / r, B, A, S2, NULL, NULL, w2, lw2, {0}};
            stat3 slo, svec, sde;
            int big = d >= 4096;
            int inner = calibrate(lowrank_run, &lo, bo->quick ? 0.002 : 0.02);
            if ((rc = time_work(lowrank_run, &lo, &lo.err, 1, bo->reps, inner, &slo)) != CLI_OK ||
                (rc = time_work(lowrank_run, &lv, &lv.err, 1, bo->reps, inner, &svec)) != CLI_OK ||
                (rc = time_work(lowrank_run, &de, &de.err, big ? 0 : 1, big ? 1 : bo->reps, 1,
                                &sde)) != CLI_OK)
                goto next;
            double maxrel = 0.0;
            for (int i = 0; i < r; i++)
                maxrel = fmax(maxrel, rel_diff(S1[i], S2[i]));
            printf("  %5d %3d %12.3f %12.3f %12.1f %9.0fx %9.0fx %12.2e\n", d, r, 1e3 * slo.med,
                   1e3 * svec.med, 1e3 * sde.med, sde.med / slo.med, sde.min / slo.max, maxrel);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "d", d);
            cJSON_AddNumberToObject(e, "k", k);
            cJSON_AddNumberToObject(e, "r", r);
            json_stat_ms(e, "lowrank", slo);
            json_stat_ms(e, "lowrank_vectors", svec);
            json_stat_ms(e, "dense", sde);
            cJSON_AddNumberToObject(e, "dense_reps", big ? 1 : bo->reps);
            cJSON_AddNumberToObject(e, "speedup", sde.med / slo.med);
            cJSON_AddNumberToObject(e, "speedup_min", sde.min / slo.max);
            cJSON_AddNumberToObject(e, "speedup_max", sde.max / slo.min);
            cJSON_AddNumberToObject(e, "max_rel_diff", maxrel);
            cJSON_AddNumberToObject(e, "sigma_1", S2[0]);
            cJSON_AddNumberToObject(e, "sigma_r", S2[r - 1]);
            cJSON_AddItemToArray(run.arr, e);
next:
            free(B); free(A); free(S1); free(S2); free(U); free(Vt); free(w1); free(w2);
        }
    }
    printf("\n  max_rel_diff = max_i |sigma_i(lowrank) - sigma_i(dense)| / sigma_i over the r values\n");
    return bench_end(&run, "lowrank", "cases", bo, rc);
}

// ---- phi: the subspace similarity grid, r1 = 8 vs r2 = 64 at d = 1024 ----

typedef struct phi_ctx {
    int k, r1, r2;
    const double *A1, *A2;           /* (r1, k), (r2, k) */
    double *S, *Vt1, *Vt2, *G, *phi, *deg, *Q1, *Q2, *Qt1, *Qt2, *Gr, *phir;
    double *work;
    size_t lwork;
    int part;                        /* which part to time, see phi_run */
    uint64_t seed;
    lsc_error err;
} phi_ctx;

enum { PHI_SVD, PHI_GRAM, PHI_GRID, PHI_ANGLES, PHI_RANDOM, PHI_ALL, PHI_NAIVE };

static void transpose_d(int n, int p, const double *Q, double *Qt)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < p; j++)
            Qt[(size_t)j * n + i] = Q[(size_t)i * p + j];
}

/* φ by its definition, every (i, j) separately: the oracle. */
static void phi_naive(int k, int r1, const double *Vt1, int r2, const double *Vt2, double *phi)
{
    for (int i = 1; i <= r1; i++)
        for (int j = 1; j <= r2; j++) {
            double ss = 0.0;
            for (int a = 0; a < i; a++)
                for (int b = 0; b < j; b++) {
                    double g = 0.0;
                    for (int t = 0; t < k; t++)
                        g += Vt1[(size_t)a * k + t] * Vt2[(size_t)b * k + t];
                    ss += g * g;
                }
            phi[(size_t)(i - 1) * r2 + (j - 1)] = ss / (i < j ? i : j);
        }
}

static int phi_run(void *p)
{
    phi_ctx *c = p;
    int all = c->part == PHI_ALL;
    if (all || c->part == PHI_SVD) {
        if (lsc_svd(c->r1, c->k, c->A1, c->S, NULL, c->Vt1, c->work, c->lwork, &c->err) ||
            lsc_svd(c->r2, c->k, c->A2, c->S, NULL, c->Vt2, c->work, c->lwork, &c->err))
            return 1;
    }
    if (all || c->part == PHI_GRAM)
        lsc_subspace_gram(c->k, c->r1, c->Vt1, c->r2, c->Vt2, c->G);
    if (all || c->part == PHI_GRID)
        lsc_phi_grid(c->r1, c->r2, c->G, c->phi);
    if (all || c->part == PHI_ANGLES)
        if (lsc_principal_angles(c->r1, c->r2, c->G, c->deg, c->work, c->lwork, &c->err))
            return 1;
    if (all || c->part == PHI_RANDOM) {
        uint64_t rng;
        lsc_rng_seed(&rng, c->seed);
        if (lsc_random_orthonormal(c->k, c->r1, &rng, c->Q1, c->work, c->lwork, &c->err) ||
            lsc_random_orthonormal(c->k, c->r2, &rng, c->Q2, c->work, c->lwork, &c->err))
            return 1;
        transpose_d(c->k, c->r1, c->Q1, c->Qt1);
        transpose_d(c->k, c->r2, c->Q2, c->Qt2);
        lsc_subspace_gram(c->k, c->r1, c->Qt1, c->r2, c->Qt2, c->Gr);
        lsc_phi_grid(c->r1, c->r2, c->Gr, c->phir);
    }
    if (c->part == PHI_NAIVE)
        phi_naive(c->k, c->r1, c->Vt1, c->r2, c->Vt2, c->phir);
    return 0;
}

static int bench_phi(const bench_opts *bo)
{
    bench_run run;
    bench_begin(&run, bo);
    int k = bo->quick ? 256 : 1024, r1 = 8, r2 = 64;
    size_t kz = (size_t)k, r1z = (size_t)r1, r2z = (size_t)r2;
    size_t lwork = lsc_svd_work_size(r2, k, 1);
    size_t l2 = lsc_principal_angles_work_size(r1, r2);
    size_t l3 = lsc_random_orthonormal_work_size(k, r2);
    lwork = lwork > l2 ? lwork : l2;
    lwork = lwork > l3 ? lwork : l3;
    phi_ctx c = {0};
    c.k = k; c.r1 = r1; c.r2 = r2; c.lwork = lwork; c.seed = (uint64_t)bo->seed + 1;
    double *A1 = malloc(r1z * kz * sizeof(double)), *A2 = malloc(r2z * kz * sizeof(double));
    c.S = malloc(r2z * sizeof(double));
    c.Vt1 = malloc(r1z * kz * sizeof(double)); c.Vt2 = malloc(r2z * kz * sizeof(double));
    c.G = malloc(r1z * r2z * sizeof(double)); c.phi = malloc(r1z * r2z * sizeof(double));
    c.deg = malloc(r1z * sizeof(double));
    c.Q1 = malloc(kz * r1z * sizeof(double)); c.Q2 = malloc(kz * r2z * sizeof(double));
    c.Qt1 = malloc(kz * r1z * sizeof(double)); c.Qt2 = malloc(kz * r2z * sizeof(double));
    c.Gr = malloc(r1z * r2z * sizeof(double)); c.phir = malloc(r1z * r2z * sizeof(double));
    c.work = malloc(lwork * sizeof(double));
    int rc = CLI_OK;
    cJSON *o = run.o;
    if (!A1 || !A2 || !c.S || !c.Vt1 || !c.Vt2 || !c.G || !c.phi || !c.deg || !c.Q1 || !c.Q2 ||
        !c.Qt1 || !c.Qt2 || !c.Gr || !c.phir || !c.work) {
        rc = cli_error("bench", CLI_FAIL, "phi: out of memory");
        goto done;
    }
    /* A2 (64, k) random; A1 (8, k) = a mix of A2's first rows plus noise, so
     * the two row spaces overlap as adapters of one task at two ranks do */
    fill_gauss_d(A2, r2z * kz, 1.0 / sqrt((double)k), &run.rng);
    fill_gauss_d(A1, r1z * kz, 0.3 / sqrt((double)k), &run.rng);
    for (size_t i = 0; i < r1z; i++)
        for (size_t j = 0; j < r1z; j++) {
            double m = lsc_rng_normal(&run.rng) / sqrt((double)r1);
            for (size_t t = 0; t < kz; t++)
                A1[i * kz + t] += m * A2[j * kz + t];
        }
    c.A1 = A1; c.A2 = A2;
    static const char *const part_name[] = {"svd(A1),svd(A2)", "gram G", "phi grid",
                                            "principal angles", "random baseline", "total",
                                            "naive phi (oracle)"};
    static const char *const part_key[] = {"svd", "gram", "grid", "angles", "random", "total",
                                           "naive"};
    stat3 st[7];
    printf("phi grid, r1 = %d vs r2 = %d at k = %d, %d thread%s, median of %d after a warm-up\n\n",
           r1, r2, k, bo->threads, bo->threads == 1 ? "" : "s", bo->reps);
    printf("  %-20s %12s %12s %12s\n", "part", "ms_med", "ms_min", "ms_max");
    /* everything once so each part has valid inputs, then part by part */
    c.part = PHI_ALL;
    if (phi_run(&c)) {
        rc = cli_lib_error("bench", &c.err);
        goto done;
    }
    cJSON *parts = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "parts", parts);
    for (int p = PHI_SVD; p <= PHI_NAIVE; p++) {
        c.part = p;
        int inner = calibrate(phi_run, &c, bo->quick ? 0.002 : 0.02);
        if ((rc = time_work(phi_run, &c, &c.err, 1, p == PHI_NAIVE && !bo->quick ? 3 : bo->reps,
                            inner, &st[p])) != CLI_OK)
            goto done;
        printf("  %-20s %12.4f %12.4f %12.4f\n", part_name[p], 1e3 * st[p].med, 1e3 * st[p].min,
               1e3 * st[p].max);
        json_stat_ms(parts, part_key[p], st[p]);
    }
    double maxdiff = 0.0, diag = 0.0, rmean = 0.0;
    for (size_t i = 0; i < r1z * r2z; i++)
        maxdiff = fmax(maxdiff, fabs(c.phi[i] - c.phir[i]));   /* phir holds the naive grid */
    diag = c.phi[(r1z - 1) * r2z + (r1z - 1)];
    /* mean of the random grid for the expectation max(i, j)/k */
    c.part = PHI_RANDOM;
    phi_run(&c);
    for (size_t i = 0; i < r1z * r2z; i++)
        rmean += c.phir[i];
    rmean /= (double)(r1z * r2z);
    printf("\n  prefix-sum grid vs naive definition: max |diff| = %.2e; phi(8, 8) = %.4f;\n"
           "  mean phi of the random pair = %.4f; speedup grid+gram vs naive = %.0fx\n", maxdiff,
           diag, rmean, st[PHI_NAIVE].med / (st[PHI_GRAM].med + st[PHI_GRID].med));
    cJSON_AddNumberToObject(o, "k", k);
    cJSON_AddNumberToObject(o, "r1", r1);
    cJSON_AddNumberToObject(o, "r2", r2);
    cJSON_AddNumberToObject(o, "naive_max_abs_diff", maxdiff);
    cJSON_AddNumberToObject(o, "phi_r1_r1", diag);
    cJSON_AddNumberToObject(o, "random_phi_mean", rmean);
    cJSON_AddNumberToObject(o, "total_ms_median", 1e3 * st[PHI_ALL].med);
done:
    free(A1); free(A2); free(c.S); free(c.Vt1); free(c.Vt2); free(c.G); free(c.phi); free(c.deg);
    free(c.Q1); free(c.Q2); free(c.Qt1); free(c.Qt2); free(c.Gr); free(c.phir); free(c.work);
    return bench_end(&run, "phi", NULL, bo, rc);
}

// ---- table7: W's own top-r directions, top-k method vs full SVD ----

/* A d×d weight with the spectrum of a trained layer: a decaying "signal" of
 * n_spike directions, σ_i = bulk·(1 + 3·i^-0.7) (i = 1..n_spike), on top of a
 * Gaussian bulk of edge ≈ bulk (i.i.d. N(0, (bulk/(2√d))²)), the
 * spiked-covariance picture of trained weight matrices. gaussian = 1 gives
 * the bulk alone: the hard case for subspace iteration (no gap). */
static int make_weight(int d, int gaussian, uint64_t *rng, double *W, lsc_error *err)
{
    const int n_spike = 96;
    const double bulk = 1.0;
    size_t dz = (size_t)d;
    fill_gauss_d(W, dz * dz, bulk / (2.0 * sqrt((double)d)), rng);
    if (gaussian)
        return LSC_OK;
    int p = n_spike < d / 2 ? n_spike : d / 2;
    size_t pz = (size_t)p;
    size_t lw = lsc_random_orthonormal_work_size(d, p);
    double *U = malloc(dz * pz * sizeof *U), *V = malloc(dz * pz * sizeof *V);
    double *w = malloc(lw * sizeof *w);
    int rc = LSC_ENOMEM;
    if (!U || !V || !w) {
        lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "bench: out of memory (d = %d)", d);
        goto done;
    }
    if ((rc = lsc_random_orthonormal(d, p, rng, U, w, lw, err)) != LSC_OK ||
        (rc = lsc_random_orthonormal(d, p, rng, V, w, lw, err)) != LSC_OK)
        goto done;
    for (size_t i = 0; i < dz; i++)
        for (size_t j = 0; j < pz; j++)
            U[i * pz + j] *= bulk * (1.0 + 3.0 * pow((double)(j + 1), -0.7));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d, d, p, 1.0, U, p, V, p, 1.0, W, d);
    rc = LSC_OK;
done:
    free(U); free(V); free(w);
    return rc;
}

/* W's top-r: the triplets (lsc_svd_topk with method) of the double W, or
 * with Wf the singular values alone (lsc_svd_topk_values, what amplify uses:
 * proj_base = sqrt(Σσ_i²)) of the float W */
typedef struct topk_ctx {
    int d, r;
    const double *W;
    const float  *Wf;   /* non-NULL: values only */
    double *S, *U, *Vt, *work;
    size_t lwork;
    lsc_topk_method method;
    lsc_topk_info info;
    lsc_error err;
} topk_ctx;

static int topk_run(void *p)
{
    topk_ctx *c = p;
    if (c->Wf)
        return lsc_svd_topk_values(c->d, c->d, c->r, c->Wf, c->S, 1e-10, 7, c->work, c->lwork,
                                   &c->info, &c->err) != LSC_OK;
    return lsc_svd_topk(c->d, c->d, c->r, c->W, c->S, c->U, c->Vt, c->method, 7, c->work,
                        c->lwork, &c->info, &c->err) != LSC_OK;
}

/* The rest of a Table 7 row for a given W's top-r: dW's low-rank SVD, the
 * three projections. Returns proj_base via *pb etc. */
typedef struct t7_ctx {
    int d, r;
    double s;
    const double *W, *B, *A, *Ub, *Vtb;   /* Ub/Vtb: W's own top-r */
    double *Ud, *Vtd, *Sd, *Q1, *Q2, *Q2t, *work, *pwork;
    size_t lwork;
    double proj_delta, proj_base, proj_random;
    lsc_error err;
} t7_ctx;

static int t7_run(void *p)
{
    t7_ctx *c = p;
    int d = c->d, r = c->r;
    if (lsc_lowrank_svd(d, d, r, c->s, c->B, c->A, c->Sd, c->Ud, c->Vtd, c->work, c->lwork,
                        &c->err))
        return 1;
    c->proj_delta = lsc_proj_fro(d, d, c->W, r, c->Ud, r, c->Vtd, d, c->pwork);
    c->proj_base = lsc_proj_fro(d, d, c->W, r, c->Ub, r, c->Vtb, d, c->pwork);
    uint64_t rng;
    lsc_rng_seed(&rng, 99);
    if (lsc_random_orthonormal(d, r, &rng, c->Q1, c->work, c->lwork, &c->err) ||
        lsc_random_orthonormal(d, r, &rng, c->Q2, c->work, c->lwork, &c->err))
        return 1;
    transpose_d(d, r, c->Q2, c->Q2t);
    c->proj_random = lsc_proj_fro(d, d, c->W, r, c->Q1, r, c->Q2t, d, c->pwork);
    return 0;
}

static const char *method_name(lsc_topk_method m)
{
    return m == LSC_TOPK_ITERATIVE ? "iterative" : "dense-fallback";
}

/* One Table 7 case: W (d×d, rounded to float as a stored weight is, the
 * double copy exact), dW = s·B·A of rank r; W's own top-r by (a) the
 * values-only method amplify uses, (b) the triplet method (subspace
 * iteration, lsc_svd_topk AUTO), (c) the full SVD (the reference). */
static int table7_case(int d, int r, int gaussian, const bench_opts *bo, uint64_t *rng,
                       cJSON *arr)
{
    size_t dz = (size_t)d, rz = (size_t)r;
    int rc = CLI_OK;
    lsc_error err = {0};
    double *W = malloc(dz * dz * sizeof *W);
    float *Wf = malloc(dz * dz * sizeof *Wf);
    double *B = malloc(dz * rz * sizeof *B), *A = malloc(rz * dz * sizeof *A);
    double *S1 = malloc(rz * sizeof *S1), *U1 = malloc(dz * rz * sizeof *U1),
           *Vt1 = malloc(rz * dz * sizeof *Vt1);
    double *S2 = malloc(rz * sizeof *S2), *U2 = malloc(dz * rz * sizeof *U2),
           *Vt2 = malloc(rz * dz * sizeof *Vt2);
    double *S3 = malloc(rz * sizeof *S3);
    size_t lw = lsc_svd_topk_work_size(d, d, r, LSC_TOPK_AUTO);
    size_t lw2 = lsc_svd_topk_work_size(d, d, r, LSC_TOPK_DENSE);
    lw = lw > lw2 ? lw : lw2;
    size_t lwv = lsc_svd_topk_values_work_size(d, d, r);
    size_t lwt = lsc_lowrank_svd_work_size(d, d, r, 1);
    size_t l3 = lsc_random_orthonormal_work_size(d, r);
    lwt = lwt > l3 ? lwt : l3;
    double *work = malloc(lw * sizeof *work), *workv = malloc(lwv * sizeof *workv);
    t7_ctx t = {0};
    t.work = malloc(lwt * sizeof(double));
    t.pwork = malloc(lsc_proj_fro_work_size(d, d, r) * sizeof(double));
    t.Ud = malloc(dz * rz * sizeof(double)); t.Vtd = malloc(rz * dz * sizeof(double));
    t.Sd = malloc(rz * sizeof(double));
    t.Q1 = malloc(dz * rz * sizeof(double)); t.Q2 = malloc(dz * rz * sizeof(double));
    t.Q2t = malloc(dz * rz * sizeof(double));
    if (!W || !Wf || !B || !A || !S1 || !U1 || !Vt1 || !S2 || !U2 || !Vt2 || !S3 || !work ||
        !workv || !t.work || !t.pwork || !t.Ud || !t.Vtd || !t.Sd || !t.Q1 || !t.Q2 || !t.Q2t) {
        rc = cli_error("bench", CLI_FAIL, "table7: out of memory at d = %d", d);
        goto done;
    }
    if (make_weight(d, gaussian, rng, W, &err) != LSC_OK) {
        rc = cli_lib_error("bench", &err);
        goto done;
    }
    for (size_t i = 0; i < dz * dz; i++) {
        Wf[i] = (float)W[i];
        W[i] = Wf[i];
    }
    fill_gauss_d(A, rz * dz, 1.0 / sqrt((double)d), rng);
    fill_gauss_d(B, dz * rz, 0.02, rng);
    topk_ctx cv = {d, r, NULL, Wf, S3, NULL, NULL, workv, lwv, LSC_TOPK_AUTO, {0}, {0}};
    topk_ctx ck = {d, r, W, NULL, S1, U1, Vt1, work, lw, LSC_TOPK_AUTO, {0}, {0}};
    topk_ctx cd = {d, r, W, NULL, S2, U2, Vt2, work, lw, LSC_TOPK_DENSE, {0}, {0}};
    int big = d >= 4096;
    int reps = big ? 1 : bo->reps;
    stat3 sv, sk, sd, sr1, sr2;
    if ((rc = time_work(topk_run, &cv, &cv.err, 1, bo->reps, 1, &sv)) != CLI_OK ||
        (rc = time_work(topk_run, &ck, &ck.err, big ? 0 : 1, reps, 1, &sk)) != CLI_OK ||
        (rc = time_work(topk_run, &cd, &cd.err, big ? 0 : 1, reps, 1, &sd)) != CLI_OK)
        goto done;
    /* the rest of the row (dW's SVD, proj_delta, proj_random), timed with the
     * triplet basis; proj_base once more with the full SVD's */
    t.d = d; t.r = r; t.s = 16.0 / r; t.W = W; t.B = B; t.A = A; t.lwork = lwt;
    t.Ub = U1; t.Vtb = Vt1;
    int inner = calibrate(t7_run, &t, 0.01);
    if ((rc = time_work(t7_run, &t, &t.err, 1, bo->reps, inner, &sr1)) != CLI_OK)
        goto done;
    double pb1 = t.proj_base, pdel = t.proj_delta, prnd = t.proj_random;
    t.Ub = U2; t.Vtb = Vt2;
    if ((rc = time_work(t7_run, &t, &t.err, 0, 1, 1, &sr2)) != CLI_OK)
        goto done;
    double pb2 = t.proj_base, pbv = 0.0;
    for (int i = 0; i < r; i++)
        pbv += S3[i] * S3[i];
    pbv = sqrt(pbv);
    double srel_k = 0.0, srel_v = 0.0;
    for (int i = 0; i < r; i++) {
        srel_k = fmax(srel_k, rel_diff(S1[i], S2[i]));
        srel_v = fmax(srel_v, rel_diff(S3[i], S2[i]));
    }
    double prel_k = rel_diff(pb1, pb2), prel_v = rel_diff(pbv, pb2);
    double tot_v = sv.med + sr1.med, tot_k = sk.med + sr1.med, tot_d = sd.med + sr1.med;
    printf("  %5d %3d %-8s %10.1f %10.1f %11.1f %8.1fx %-14s %4d %9.1e %9.1e %-14s %4d %9.1e\n",
           d, r, gaussian ? "gaussian" : "spiked", 1e3 * sv.med, 1e3 * sk.med, 1e3 * sd.med,
           sd.med / sv.med, method_name(cv.info.method), cv.info.iterations,
           fmax(srel_v, 0.0), prel_v, method_name(ck.info.method), ck.info.iterations,
           fmax(srel_k, prel_k));
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "d", d);
    cJSON_AddNumberToObject(e, "r", r);
    cJSON_AddStringToObject(e, "weight", gaussian ? "gaussian" : "spiked");
    json_stat_ms(e, "values", sv);
    json_stat_ms(e, "topk", sk);
    json_stat_ms(e, "full_svd", sd);
    json_stat_ms(e, "rest_of_row", sr1);
    cJSON_AddNumberToObject(e, "reps_svd", reps);
    cJSON_AddNumberToObject(e, "speedup", sd.med / sv.med);
    cJSON_AddNumberToObject(e, "speedup_topk", sd.med / sk.med);
    cJSON_AddStringToObject(e, "values_method", method_name(cv.info.method));
    cJSON_AddNumberToObject(e, "values_iterations", cv.info.iterations);
    cJSON_AddNumberToObject(e, "values_bound", cv.info.residual);
    cJSON_AddStringToObject(e, "topk_method", method_name(ck.info.method));
    cJSON_AddNumberToObject(e, "topk_iterations", ck.info.iterations);
    cJSON_AddNumberToObject(e, "topk_residual", ck.info.residual);
    /* the values method (amplify's) against the full SVD */
    cJSON_AddNumberToObject(e, "sigma_max_rel_diff", srel_v);
    cJSON_AddNumberToObject(e, "proj_base_rel_diff", prel_v);
    cJSON_AddNumberToObject(e, "topk_sigma_max_rel_diff", srel_k);
    cJSON_AddNumberToObject(e, "topk_proj_base_rel_diff", prel_k);
    cJSON_AddBoolToObject(e, "agree_1e-8", srel_v <= 1e-8 && prel_v <= 1e-8 && srel_k <= 1e-8 &&
                                               prel_k <= 1e-8);
    cJSON_AddNumberToObject(e, "row_values_ms", 1e3 * tot_v);
    cJSON_AddNumberToObject(e, "row_topk_ms", 1e3 * tot_k);
    cJSON_AddNumberToObject(e, "row_full_svd_ms", 1e3 * tot_d);
    cJSON_AddNumberToObject(e, "proj_delta", pdel);
    cJSON_AddNumberToObject(e, "proj_base", pb2);
    cJSON_AddNumberToObject(e, "proj_random", prnd);
    cJSON_AddNumberToObject(e, "sigma_r", S2[r - 1]);
    cJSON_AddNumberToObject(e, "sigma_1", S2[0]);
    cJSON_AddItemToArray(arr, e);
    (void)sr2;
done:
    free(W); free(Wf); free(B); free(A); free(S1); free(U1); free(Vt1); free(S2); free(U2);
    free(Vt2); free(S3); free(work); free(workv); free(t.work); free(t.pwork); free(t.Ud);
    free(t.Vtd); free(t.Sd); free(t.Q1); free(t.Q2); free(t.Q2t);
    return rc;
}

static int bench_table7(const bench_opts *bo, int with_gaussian)
{
    bench_run run;
    bench_begin(&run, bo);
    int rc = CLI_OK;
    printf("Table 7 (LoRA paper) for a dxd W (float, as stored weights are): W's own top-r by\n"
           "(values) lsc_svd_topk_values, the singular values alone, what amplify uses\n"
           "(proj_base = sqrt(sum sigma_i^2)); (topk) subspace iteration for the triplets\n"
           "(lsc_svd_topk AUTO); (full) the full SVD, the reference. %d thread%s; median of %d\n"
           "after a warm-up (d >= 4096: topk and full once). rel = max relative difference to\n"
           "the full SVD of sigma_1..r and proj_base (target <= 1e-8).\n\n", bo->threads,
           bo->threads == 1 ? "" : "s", bo->reps);
    printf("  %5s %3s %-8s %10s %10s %11s %9s %-14s %4s %9s %9s %-14s %4s %9s\n", "d", "r", "W",
           "values_ms", "topk_ms", "full_ms", "speedup", "values_method", "it", "sigma_rel",
           "proj_rel", "topk_method", "it", "rel");
    if (bo->quick) {
        rc = table7_case(256, 8, 0, bo, &run.rng, run.arr);
    } else {
        static const struct { int d, r, g; } C[] = {
            {1024, 8, 0}, {1024, 64, 0}, {1024, 8, 1}, {4096, 8, 0}};
        for (size_t i = 0; i < sizeof C / sizeof C[0] && rc == CLI_OK; i++)
            if (!C[i].g || with_gaussian)
                rc = table7_case(C[i].d, C[i].r, C[i].g, bo, &run.rng, run.arr);
    }
    return bench_end(&run, "table7", "cases", bo, rc);
}

// ---- model: FLOP and memory model of one training step ----

/* FLOP model of one step (a multiply-add = 2 FLOPs; N = B·T rows):
 *   per block, forward:  linear layers 2·N·(4C² + 4C² + 4C²) = 24·N·C²
 *                        (q, k, v, o: C×C; fc_in 4C×C; fc_out C×4C)
 *                        attention 4·B·T²·C (QKᵀ and att·V over the full
 *                        T×T, as lib/layers.c computes them; the causal
 *                        half is not skipped)
 *   LM head forward:     2·N·C·V
 *   backward, full FT:   2× forward for every GEMM (input grad + weight grad)
 *   backward, frozen:    1× forward for the linear layers and the LM head
 *                        (input grad only), 2× for attention (no weights)
 *   LoRA, per module with rank r on W (OC, C): forward 2·N·r·(C + OC),
 *                        backward 4·N·r·(C + OC) (dB, du, dA, dinp)
 * Element-wise kernels (LayerNorm, GELU, softmax, residual, AdamW) are not
 * counted: they are memory-bound, and counting them would not change the
 * figures by more than ~1 %.
 *
 * Memory model (float32 bytes): base parameters P; full FT adds grads P and
 * AdamW m, v (2P); LoRA adds its own params, grads, m, v (4·P_lora) and no
 * base gradients; activations as lib/lsc_internal.h's lsc_gpt_acts lays them
 * out for (B, T): per layer 18·N·C (ln1, q, k, v, atty, attproj, residual2,
 * ln2, fcproj, residual3; fch and fch_gelu at 4C) + B·NH·T² (att) + 4·N;
 * once: encoded, lnf (2·N·C), logits, probs, dlogits (3·N·V), backward
 * scratch 14·N·C + B·NH·T² (dres, dln, dq, dk, dv, datty, dfch, dfch_gelu,
 * datt); LoRA caches N·r per module plus one (N, r) and one (N, 4C) scratch. */
typedef struct step_model {
    double flops, flops_fwd, flops_linear, flops_attn, flops_head, flops_lora;
    double n_params, n_trainable, n_lora;
    double mb_params, mb_grads, mb_adam, mb_lora, mb_acts, mb_total;
} step_model;

static int parse_targets(const char *s, int *mask)
{
    static const char *const names[6] = {"q", "k", "v", "o", "fc_in", "fc_out"};
    *mask = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int found = -1;
        for (int t = 0; t < 6; t++) {
            size_t n = strlen(names[t]);
            if (strcmp(tok, names[t]) == 0 ||
                (t < 4 && strncmp(tok, names[t], n) == 0 && strcmp(tok + n, "_proj") == 0))
                found = t;
        }
        if (found < 0)
            return -1;
        *mask |= 1 << found;
    }
    return *mask ? 0 : -1;
}

static void step_model_compute(int L, int NH, int C, int T, int B, int V, int full, int rank,
                               int tmask, step_model *m)
{
    double N = (double)B * T, c = C, l = L, t = T;
    memset(m, 0, sizeof *m);
    double lin = 24.0 * N * c * c * l, att = 4.0 * B * t * t * c * l, head = 2.0 * N * c * V;
    double lora_params = 0.0, lora_f = 0.0, max_in = 0.0, lora_cache = 0.0;
    if (!full) {
        for (int tg = 0; tg < 6; tg++) {
            if (!(tmask & (1 << tg)))
                continue;
            double in = tg == 5 ? 4 * c : c, out = tg == 4 ? 4 * c : c;
            lora_params += l * rank * (in + out);
            lora_f += l * 6.0 * N * rank * (in + out);
            lora_cache += l * N * rank;
            max_in = fmax(max_in, in);
        }
    }
    m->flops_fwd = lin + att + head + lora_f / 3.0;
    m->flops_linear = full ? 3 * lin : 2 * lin;
    m->flops_attn = 3 * att;
    m->flops_head = full ? 3 * head : 2 * head;
    m->flops_lora = lora_f;
    m->flops = m->flops_linear + m->flops_attn + m->flops_head + m->flops_lora;
    double P = (double)V * C + (double)T * C + l * (12.0 * c * c + 13.0 * c) + 2.0 * c;
    /* n_ctx = T here: the synthetic model is built with ctx = T */
    m->n_params = P;
    m->n_lora = lora_params;
    m->n_trainable = full ? P : lora_params;
    const double MB = 1024.0 * 1024.0;
    m->mb_params = 4.0 * P / MB;
    m->mb_grads = full ? 4.0 * P / MB : 0.0;
    m->mb_adam = full ? 8.0 * P / MB : 0.0;
    m->mb_lora = 16.0 * lora_params / MB;
    double att_sz = (double)B * NH * t * t;
    double acts = l * (18.0 * N * c + att_sz + 4.0 * N) + 2.0 * N * c + 3.0 * N * V + 6.0 * N +
                  14.0 * N * c + att_sz;
    if (!full && lora_params > 0)
        acts += lora_cache + N * rank + N * max_in;
    m->mb_acts = 4.0 * acts / MB;
    m->mb_total = m->mb_params + m->mb_grads + m->mb_adam + m->mb_lora + m->mb_acts;
}

static int bench_model(const bench_opts *bo, const cli_opt *opts)
{
    int bad = 0;
    long L = cli_long(opts, "layers", 4, &bad), NH = cli_long(opts, "heads", 4, &bad);
    long C = cli_long(opts, "embd", 256, &bad), T = cli_long(opts, "ctx", 128, &bad);
    long B = cli_long(opts, "batch", 8, &bad), V = cli_long(opts, "vocab", 256, &bad);
    long R = cli_long(opts, "rank", 8, &bad);
    int full = cli_flag(opts, "full");
    const char *targets = cli_get(opts, "targets");
    if (bad)
        return CLI_USAGE;
    if (L < 1 || NH < 1 || C < 1 || C % NH || T < 1 || B < 1 || V < 1 || R < 1 || L > 1024 ||
        C > 65536 || T > 65536 || B > 65536 || V > 1 << 24)
        return cli_error("bench", CLI_USAGE,
                         "model: need layers, heads, embd, ctx, batch, vocab, rank >= 1 and "
                         "heads dividing embd");
    int tmask = 0;
    if (!full && parse_targets(targets ? targets : "q,v", &tmask))
        return cli_error("bench", CLI_USAGE, "model: bad --targets '%s' (q,k,v,o,fc_in,fc_out)",
                         targets);
    bench_run run;
    bench_begin(&run, bo);
    step_model m;
    step_model_compute((int)L, (int)NH, (int)C, (int)T, (int)B, (int)V, full, (int)R, tmask, &m);
    printf("step model: L=%ld NH=%ld C=%ld T=%ld B=%ld V=%ld, %s\n", L, NH, C, T, B, V,
           full ? "full fine-tuning" : "LoRA");
    printf("  FLOPs per step     %.4g (linear %.4g, attention %.4g, LM head %.4g, LoRA %.4g)\n",
           m.flops, m.flops_linear, m.flops_attn, m.flops_head, m.flops_lora);
    printf("  parameters         %.0f base, %.0f trainable\n", m.n_params, m.n_trainable);
    printf("  memory (MiB)       %.1f = params %.1f + grads %.1f + AdamW %.1f + LoRA %.1f + "
           "activations %.1f\n", m.mb_total, m.mb_params, m.mb_grads, m.mb_adam, m.mb_lora,
           m.mb_acts);
    cJSON *o = run.o;
    cJSON_AddNumberToObject(o, "flops_per_step", m.flops);
    cJSON_AddNumberToObject(o, "flops_forward", m.flops_fwd);
    cJSON_AddNumberToObject(o, "flops_linear", m.flops_linear);
    cJSON_AddNumberToObject(o, "flops_attention", m.flops_attn);
    cJSON_AddNumberToObject(o, "flops_head", m.flops_head);
    cJSON_AddNumberToObject(o, "flops_lora", m.flops_lora);
    cJSON_AddNumberToObject(o, "n_params", m.n_params);
    cJSON_AddNumberToObject(o, "n_trainable", m.n_trainable);
    cJSON_AddNumberToObject(o, "mem_predicted_mb", m.mb_total);
    cJSON_AddNumberToObject(o, "mem_params_mb", m.mb_params);
    cJSON_AddNumberToObject(o, "mem_grads_mb", m.mb_grads);
    cJSON_AddNumberToObject(o, "mem_adamw_mb", m.mb_adam);
    cJSON_AddNumberToObject(o, "mem_lora_mb", m.mb_lora);
    cJSON_AddNumberToObject(o, "mem_acts_mb", m.mb_acts);
    return bench_end(&run, "model", NULL, bo, CLI_OK);
}

// ---- the subcommand ----

static const char *USAGE =
    "usage: lorascope bench sgemm|lowrank|phi|table7|model [options]\n"
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
                      {"full", 0, NULL},    {"help", 0, NULL},    {NULL, 0, NULL}};
    const char *pos[1];
    int npos;
    int rc = cli_parse("bench", argc, argv, opts, pos, 1, &npos);
    if (rc != CLI_OK)
        return rc;
    if (cli_flag(opts, "help")) {
        fputs(USAGE, stdout);
        return CLI_OK;
    }
    if (npos != 1)
        return cli_error("bench", CLI_USAGE, "which benchmark? sgemm, lowrank, phi, table7 or model");
    int bad = 0;
    bench_opts bo;
    bo.quick = cli_flag(opts, "quick");
    bo.json = cli_flag(opts, "json");
    long th = cli_long(opts, "threads", default_threads(), &bad);
    long reps = cli_long(opts, "reps", bo.quick ? 2 : 5, &bad);
    bo.seed = cli_long(opts, "seed", 1, &bad);
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
        return bench_sgemm(&bo, shape);
    if (strcmp(what, "lowrank") == 0)
        return bench_lowrank(&bo);
    if (strcmp(what, "phi") == 0)
        return bench_phi(&bo);
    if (strcmp(what, "table7") == 0)
        return bench_table7(&bo, cli_flag(opts, "gaussian"));
    if (strcmp(what, "model") == 0)
        return bench_model(&bo, opts);
    return cli_error("bench", CLI_USAGE, "unknown benchmark '%s' (sgemm, lowrank, phi, table7, model)",
                     what);
}
