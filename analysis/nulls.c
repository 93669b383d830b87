/*
 * nulls.c — the null-distribution helpers of `lorascope subspace` and
 * `amplify` (nulls.h): options, seeds, and summaries of draws. Not the
 * draws (lib/grassmann.c) and not verdicts.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis_common.h"
#include "nulls.h"

// ---- options and seeds ----

int ana_null_opts(const char *cmd, const cli_opt *opts, int def_draws, int *ndraws,
                  uint64_t *null_seed, int *given)
{
    int bad = 0;
    long n = cli_long(opts, "null-draws", def_draws, &bad);
    if (bad)
        return CLI_USAGE;
    if (n < 1 || n > 10000000)
        return cli_error(cmd, CLI_USAGE, "--null-draws must be between 1 and 10000000, got %ld", n);
    *ndraws = (int)n;
    *null_seed = 0;
    const char *s = cli_get(opts, "null-seed");
    *given = s != NULL;
    if (s) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-')
            return cli_error(cmd, CLI_USAGE, "--null-seed needs a non-negative integer, got '%s'", s);
        *null_seed = (uint64_t)v;
    }
    return CLI_OK;
}

uint64_t ana_null_seed(uint64_t seed, const char *name, const char *tag)
{
    char buf[1400];
    snprintf(buf, sizeof buf, "%s/%s", name, tag);
    return ana_module_seed(seed, buf);
}

// ---- summaries ----

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void ana_null_summary(size_t n, const double *x, double observed, double *sorted, ana_null *s)
{
    s->mean = s->sd = s->q95 = s->p = NAN;
    if (n == 0)
        return;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return;
        sum += x[i];
    }
    double mean = sum / (double)n, ss = 0.0;
    for (size_t i = 0; i < n; i++)
        ss += (x[i] - mean) * (x[i] - mean);
    memcpy(sorted, x, n * sizeof *x);
    qsort(sorted, n, sizeof *sorted, cmp_double);
    s->mean = mean;
    s->sd = n > 1 ? sqrt(ss / (double)(n - 1)) : 0.0;
    s->q95 = lsc_quantile_sorted(sorted, (int)n, 0.95);
    s->p = lsc_mc_pvalue(observed, x, (int)n);
}

void ana_null_grid(size_t nd, size_t ncell, const double *draws, double *mean, double *q95,
                   double *scratch)
{
    for (size_t c = 0; c < ncell; c++) {
        double sum = 0.0;
        for (size_t t = 0; t < nd; t++)
            sum += scratch[t] = draws[t * ncell + c];
        qsort(scratch, nd, sizeof *scratch, cmp_double);
        mean[c] = sum / (double)nd;
        q95[c] = lsc_quantile_sorted(scratch, (int)nd, 0.95);
    }
}
