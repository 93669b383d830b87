/*
 * kernel_check.h — the helpers test_layers.c and test_layers_llama.c share
 * to check a kernel pair: double/float buffers, random fills from one
 * fixed-seed stream (rng_state, seeded by the test's main), a float vs
 * double scale-relative error, and the central finite-difference checker
 * of a naive double backward. Not a framework: plain static functions.
 */
#ifndef LSC_KERNEL_CHECK_H
#define LSC_KERNEL_CHECK_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "../lib/lsc_internal.h"

#define FD_TOL   1e-6   /* double naive backward vs double central differences */
#define FAST_TOL 2e-5   /* float fast kernels vs double naive, relative to scale */

static uint64_t rng_state;

static inline double *dalloc(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof(double));
    if (!p)
        abort();
    return p;
}

static inline float *falloc(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p)
        abort();
    return p;
}

/* x[i] uniform in [-scale, scale) */
static inline void fill(double *x, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] = scale * (2.0 * lsc_rng_uniform_d(&rng_state) - 1.0);
}

static inline float *tof(const double *x, size_t n)
{
    float *f = falloc(n);
    for (size_t i = 0; i < n; i++)
        f[i] = (float)x[i];
    return f;
}

/* max |a - b| / max |b|: the error relative to the tensor's scale */
static inline double nerr_fd(const float *a, const double *b, size_t n)
{
    double e = 0.0, s = 0.0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - b[i]));
        s = fmax(s, fabs(b[i]));
    }
    return s > 0.0 ? e / s : e;
}

static inline double dot(const double *a, const double *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

typedef double (*loss_fn)(void *ctx);

/* Central differences of f with respect to x[0..n) at up to maxcheck
 * indices (all when n <= maxcheck, else a fixed-seed sample), against the
 * analytic gradient g. Returns max |g - fd| / max(max |fd|, 1e-12). */
static inline double fd_check(loss_fn f, void *ctx, double *x, size_t n, const double *g, double h,
                              size_t maxcheck)
{
    double emax = 0.0, smax = 0.0;
    uint64_t r;
    lsc_rng_seed(&r, 77);
    for (size_t c = 0; c < (n < maxcheck ? n : maxcheck); c++) {
        size_t i = n <= maxcheck ? c : (size_t)(lsc_rng_u64(&r) % n);
        double x0 = x[i];
        x[i] = x0 + h;
        double lp = f(ctx);
        x[i] = x0 - h;
        double lm = f(ctx);
        x[i] = x0;
        double fd = (lp - lm) / (2.0 * h);
        emax = fmax(emax, fabs(fd - g[i]));
        smax = fmax(smax, fabs(fd));
    }
    return emax / fmax(smax, 1e-12);
}

#endif
