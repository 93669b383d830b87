/*
 * analysis_common.h — what the spectrum, subspace and amplify subcommands
 * share: the common options (--seed, --threads, --json, --plots, --module),
 * adapter loading with one-line errors, per-module random seeds, the
 * provenance root attributes, plot-directory handling and the final JSON
 * line. Not library code: it prints (through cli.h) and is only linked
 * into the lorascope program.
 */
#ifndef LSC_ANALYSIS_COMMON_H
#define LSC_ANALYSIS_COMMON_H

#include <stdint.h>
#include <stdio.h>

#include "cli.h"

/* The option entries every analysis accepts; spread into a cli_opt table. */
#define ANA_COMMON_OPTS                                                         \
    {"output", 1, NULL}, {"plots", 1, NULL}, {"module", 1, NULL},               \
    {"seed", 1, NULL}, {"threads", 1, NULL}, {"json", 0, NULL},                 \
    {"help", 0, NULL}

#define ANA_COMMON_HELP                                                         \
    "  -o, --output OUT.h5  result file (required; written to a temporary\n"    \
    "                       name and renamed when complete)\n"                  \
    "  --plots DIR          also write gnuplot data and figures (PNG + SVG)\n"  \
    "  --module NAME        module to draw (default: a middle one)\n"           \
    "  --seed N             seed of every random draw (default 1234)\n"         \
    "  --threads N          threads (default: all cores): modules run in parallel\n" \
    "  --json               print one JSON object as the last line of stdout\n" \
    "                       (wall_s, peak_rss_mb, n_modules, ...)\n"            \
    "  -h, --help           this text\n"

/* The subcommands (also declared in main.c). */
int cmd_spectrum(int argc, char **argv);
int cmd_subspace(int argc, char **argv);
int cmd_amplify(int argc, char **argv);

typedef struct ana_opts {
    const char *output;
    const char *plots;    /* NULL: no figures */
    const char *module;   /* NULL: a middle one */
    uint64_t    seed;
    long        threads;  /* 0: default */
    int         json;
} ana_opts;

/* Reads the common options; applies --threads. CLI_OK or CLI_USAGE (the
 * message is printed). Requires --output. */
int ana_common_opts(const char *cmd, const cli_opt *opts, ana_opts *o);

/* Loads an adapter directory; on failure prints one line and returns
 * CLI_FAIL (the adapter is left freed). */
int ana_load_adapter(const char *cmd, const char *path, lsc_adapter *ad);

/* float → double */
void ana_to_double(size_t n, const float *x, double *y);
/* 1 if every value is exactly zero */
int  ana_all_zero(size_t n, const float *x);

/* A seed for one module's random draws: depends only on (seed, name);
 * 63 bits (recorded as the int64 attribute random_seed). */
uint64_t ana_module_seed(uint64_t seed, const char *name);

/* `git rev-parse HEAD` of the checkout the program was built in (with
 * "+dirty" when its tracked files differ), else "unknown". Static buffer. */
const char *ana_git_commit(void);

/* Writes the provenance root attributes with wall_time_s = now − t0. */
int ana_write_provenance(lsc_h5 *h, double t0, int n_inputs, const lsc_h5_input *inputs,
                         int n_params, const lsc_h5_param *params, lsc_error *err);
/* The same with the inputs' sha256 digests computed by the caller (NULL
 * entries are computed here). */
int ana_write_provenance_digests(lsc_h5 *h, double t0, int n_inputs, const lsc_h5_input *inputs,
                                 const char *const *digests, int n_params,
                                 const lsc_h5_param *params, lsc_error *err);
/* The messages of one work item computed on a worker thread: warnings and
 * at most one error, kept as lines and printed by the main thread in item
 * order (ana_msgs_flush), so that stderr is the same whatever the threads. */
typedef struct ana_msgs {
    char   text[3072];   /* lines "W<message>\n" or "E<message>\n" */
    size_t len;
} ana_msgs;
void ana_msg_warn(ana_msgs *m, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Records an error line; returns CLI_FAIL. */
int  ana_msg_error(ana_msgs *m, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Prints the lines through cli_warn / cli_error. */
void ana_msgs_flush(const char *cmd, const ana_msgs *m);

/* Threads for a subcommand's own parallel loops: --threads, else the
 * online cores. */
int  ana_worker_threads(const ana_opts *o);
/* OpenBLAS's thread count (1 inside our own parallel loops: no
 * oversubscription). */
void ana_blas_threads(int n);

/* mkdir -p DIR; refuses characters that cannot pass through gnuplot's -e
 * quoting. CLI_OK, CLI_USAGE or CLI_FAIL (message printed). */
int ana_prepare_plots(const char *cmd, const char *dir);
/* Opens DIR/NAME for writing through a temporary name; close with
 * ana_data_close (renames) or ana_data_abort. */
FILE *ana_data_open(const char *cmd, const char *dir, const char *name, char *tmp, size_t ntmp);
int   ana_data_close(const char *cmd, FILE *fp, const char *tmp);
/* A module name made safe for a file name ('/' and quotes replaced). */
void  ana_file_safe(const char *name, char *out, size_t n);
/* Title-safe copy (no quotes, '$', backslash or backquote). */
void  ana_title_safe(const char *s, char *out, size_t n);
/* Last path component (trailing '/' ignored), title-safe. */
void  ana_basename(const char *path, char *out, size_t n);
/* The module name without a leading "transformer." / "model." (plot labels) */
const char *ana_short_name(const char *name);

/* The last stdout line with --json: {"command":..,"output":..,"n_modules":..,
 * "n_skipped":..,"wall_s":..,"peak_rss_mb":..}. */
void ana_print_json(const char *cmd, const char *output, int n_modules, int n_skipped,
                    double t0);

#endif
