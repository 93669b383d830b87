/*
 * nulls.h — what `lorascope subspace` and `amplify` share for their null
 * distributions: the --null-draws/--null-seed options, the per-module seed
 * of a null, and the summary of a set of null draws (mean, sd, 95th
 * percentile, Monte-Carlo p-value of an observed value). The draws
 * themselves are library code (lsc_phi11_null, lsc_phi_null,
 * lsc_proj_null in lib/grassmann.c). Not a statistics package: no tests
 * beyond the one-sided Monte-Carlo p-value, no verdicts.
 */
#ifndef LSC_ANALYSIS_NULLS_H
#define LSC_ANALYSIS_NULLS_H

#include <stddef.h>
#include <stdint.h>

#include "cli.h"

/* The option entries; spread into a cli_opt table. */
#define ANA_NULL_OPTS {"null-draws", 1, NULL}, {"null-seed", 1, NULL}

#define ANA_NULL_SEED_HELP                                                      \
    "  --null-seed S        seed of the null draws (default: --seed); a module's\n" \
    "                       draws depend only on S, its name and its shape\n"

/* --null-draws (default def_draws; 1..10^7) into *ndraws and --null-seed
 * into *null_seed (*given = 0 when absent: the caller uses --seed). CLI_OK
 * or CLI_USAGE (message printed). */
int ana_null_opts(const char *cmd, const cli_opt *opts, int def_draws, int *ndraws,
                  uint64_t *null_seed, int *given);

/* The seed of one null stream of a module: ana_module_seed(seed,
 * "<name>/<tag>") (63 bits). */
uint64_t ana_null_seed(uint64_t seed, const char *name, const char *tag);

/* Summary of n null draws x against an observed value: mean, sd (n − 1 in
 * the denominator; 0 for n = 1), q95 (the 95th percentile, linear
 * interpolation between order statistics as numpy's default), p = (1 +
 * #{x >= observed}) / (1 + n), the one-sided Monte-Carlo p-value (NaN for
 * a NaN observed value). A NaN draw makes everything NaN. sorted: n
 * doubles of scratch (caller's). */
typedef struct ana_null {
    double mean, sd, q95, p;
} ana_null;
void ana_null_summary(size_t n, const double *x, double observed, double *sorted, ana_null *s);

/* Per cell of a grid: mean and q95 over nd draws of ncell values each
 * (draws (nd, ncell)) into mean (ncell), q95 (ncell). scratch: nd doubles. */
void ana_null_grid(size_t nd, size_t ncell, const double *draws, double *mean, double *q95,
                   double *scratch);

#endif
