/*
 * bench.h — what the files of `lorascope bench` share: bench.c (the
 * command, timing, the JSON frame), bench_step.c (sgemm and model: the
 * training step's GEMM speed and its FLOP/memory model) and bench_linalg.c
 * (lowrank, phi, table7: the analyses' linear algebra) and bench_tensors.c
 * (tensors: loading and listing a million-tensor adapter). Not a public
 * header: only those three files include it.
 */
#ifndef LSC_BENCH_H
#define LSC_BENCH_H

#include <stdint.h>

#include <cJSON.h>

#include "cli.h"

// ---- timing ----

/* The median, min and max of a timed repetition. */
typedef struct stat3 {
    double med, min, max;   /* seconds */
} stat3;

/* A timed piece of work: fn(ctx) once per call; returns non-zero on error. */
typedef int (*work_fn)(void *ctx);

#define MAX_REPS 64

/* warm-up calls, then reps timed repetitions of `inner` calls each (the time
 * per call is reported). CLI_OK, or CLI_FAIL when fn failed, after printing
 * err (where fn leaves its error; NULL for work that cannot fail). */
int bench_time_(work_fn fn, void *ctx, const lsc_error *err, int warm, int reps, int inner,
                stat3 *out);
/* Calls per repetition so one repetition lasts about min_s seconds. */
int bench_calibrate_(work_fn fn, void *ctx, double min_s);

// ---- the frame of a benchmark ----

/* The common options. */
typedef struct bench_opts {
    int    threads;
    int    reps;
    int    quick;
    int    json;
    long   seed;
} bench_opts;

/* The frame of every benchmark: its JSON object, the array of its cases
 * and the RNG of its random inputs (seeded with --seed). */
typedef struct bench_run {
    double   t0;
    uint64_t rng;
    cJSON   *o, *arr;
} bench_run;


void bench_begin_(bench_run *b, const bench_opts *bo);
/* The cases under key (NULL: none), the common fields, then with --json
 * the object as one line on stdout, unless the benchmark failed (rc, then
 * returned as is). Frees the frame's JSON. */
int  bench_end_(bench_run *b, const char *bench, const char *key, const bench_opts *bo, int rc);
/* prefix_ms_median, prefix_ms_min, prefix_ms_max of s into o. */
void bench_json_stat_ms_(cJSON *o, const char *prefix, stat3 s);

/* n Gaussian values of standard deviation sd from rng. */
void   bench_fill_gauss_f_(float *x, size_t n, float sd, uint64_t *rng);
void   bench_fill_gauss_d_(double *x, size_t n, double sd, uint64_t *rng);
/* |a − b| / max(|a|, |b|) (absolute below 1e-300) */
double bench_rel_diff_(double a, double b);

// ---- the benchmarks (each CLI_OK, CLI_USAGE or CLI_FAIL, message printed) ----

int bench_sgemm_(const bench_opts *bo, const char *shape);
int bench_model_(const bench_opts *bo, const cli_opt *opts);
int bench_lowrank_(const bench_opts *bo);
int bench_phi_(const bench_opts *bo);
int bench_table7_(const bench_opts *bo, int with_gaussian);
/* bench_tensors.c: load + list an adapter of count tensors */
int bench_tensors_(const bench_opts *bo, long count);

#endif /* LSC_BENCH_H */
