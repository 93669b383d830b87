/*
 * analysis_common.h — what the spectrum, subspace, amplify and quanterr
 * subcommands share (and, for argument parsing with --help, deltaspec,
 * inspect, quantize, dequantize and bench too): the common options
 * (--seed, --threads, --json, --plots, --module), adapter loading with
 * one-line errors, the base model (a .safetensors file or a Hugging Face
 * folder) and its one name lookup, per-module random seeds, the per-module
 * tasks on worker threads, the output file from creation to the provenance
 * root attributes and commit, plot data files and figures (the final
 * JSON line and --csv: tidy.h). Not
 * library code: it prints (through cli.h) and is only linked into the
 * lorascope program.
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
    {"csv", 1, NULL}, {"help", 0, NULL}

#define ANA_COMMON_HELP                                                         \
    "  -o, --output OUT.h5  result file (required; written to a temporary\n"    \
    "                       name and renamed when complete)\n"                  \
    "  --plots DIR          also write gnuplot data and figures (PNG, SVG and\n" \
    "                       PDF), with a per-layer summary (<command>_layers)\n" \
    "  --module NAME        module to draw (default: a middle one)\n"           \
    "  --seed N             seed of every random draw (default 1234)\n"         \
    "  --threads N          threads (default: all cores): modules run in parallel\n" \
    "  --json               print one JSON object as the last line of stdout:\n"   \
    "                       wall_s, peak_rss_mb, n_modules, the summary and\n"   \
    "                       every module's numbers (as in the HDF5 file)\n"      \
    "  --csv FILE           also write those numbers as a tidy table, one row\n" \
    "                       per module x quantity x index\n"                     \
    "  -h, --help           this text\n"

/* The provenance parameters of the common options; spread into an
 * lsc_h5_param table (o: an ana_opts). */
#define ANA_COMMON_PARAMS(o)                                                    \
    {"seed", LSC_H5_INT, NULL, (long long)(o).seed, 0},                         \
    {"threads", LSC_H5_INT, NULL, (o).threads, 0},                              \
    {"plots", LSC_H5_STR, (o).plots ? (o).plots : "", 0, 0},                    \
    {"module", LSC_H5_STR, (o).module ? (o).module : "", 0, 0},                 \
    {"output", LSC_H5_STR, (o).output, 0, 0}

typedef struct ana_opts {
    const char *output;
    const char *plots;    /* NULL: no figures */
    const char *module;   /* NULL: a middle one */
    uint64_t    seed;
    long        threads;  /* 0: default */
    int         json;
    const char *csv;      /* --csv FILE, or NULL */
} ana_opts;

/* cli_parse, then --help: prints usage on stdout and sets *help (the
 * caller returns CLI_OK). CLI_OK or CLI_USAGE (the message is printed). */
int ana_parse_args(const char *cmd, const char *usage, int argc, char **argv, cli_opt *opts,
                   const char **pos, int max_pos, int *n_pos, int *help);
/* The same for a command whose one positional argument is ADAPTER (*path). */
int ana_parse_adapter_args(const char *cmd, const char *usage, int argc, char **argv,
                           cli_opt *opts, const char **path, int *help);

/* Reads the common options; applies --threads; creates the --plots
 * directory (ana_prepare_plots). CLI_OK, CLI_USAGE or CLI_FAIL (the
 * message is printed). Requires --output. */
int ana_common_opts(const char *cmd, const cli_opt *opts, ana_opts *o);
/* *hl = the --module item among n analysed ones (is(items, i, name):
 * whether item i is the one named; the last match wins), else the middle
 * one, n / 2. CLI_OK, or CLI_USAGE after printing "--module NAME: not among
 * the WHAT modules" and ana_module_names' list (name_of(items, i): item i's name). */
int ana_pick_module(const char *cmd, const ana_opts *o, int n, const char *what,
                    int (*is)(const void *items, int i, const char *name),
                    const char *(*name_of)(const void *items, int i), const void *items, int *hl);
/* Prints on stderr "valid module names (N): a, b, ..." (the first 20, then "... and K more")
 * with the closest one (edit distance) first as "did you mean 'X'?". Returns CLI_USAGE. */
int ana_module_names(const char *module, int n, const char *(*name_of)(const void *items, int i),
                     const void *items);

/* Loads an adapter directory (DoRA modules refused); on failure prints one line and returns
 * CLI_FAIL (the adapter is left freed). */
int ana_load_adapter(const char *cmd, const char *path, lsc_adapter *ad);
/* After a command's own option checks: the common options
 * (ana_common_opts), then the adapter at path and, unless path2 is NULL,
 * the one at path2 (*ad2, when given, is cleared first). On failure nothing
 * is left allocated. CLI_OK, CLI_USAGE or CLI_FAIL (message printed). */
int ana_setup(const char *cmd, const cli_opt *opts, ana_opts *o, const char *path,
              lsc_adapter *ad, const char *path2, lsc_adapter *ad2);

/* The same, with DoRA modules accepted when dora_ok (the caller then
 * analyses them through dora_update.h); ana_setup refuses them. */
int ana_setup_kinds(const char *cmd, const cli_opt *opts, ana_opts *o, const char *path,
                    lsc_adapter *ad, const char *path2, lsc_adapter *ad2, int dora_ok);

/* 1 when spec names an adapter directory: DIR, or DIR:NAME (one adapter of
 * a multi-adapter folder, lsc_adapter_load's syntax) with DIR a directory. */
int ana_adapter_dir_ok(const char *spec);

/* After lsc_gpt_load of path: one warning line on stderr when an imported
 * Hugging Face folder held tensors the model ignored (m->n_ignored),
 * naming the first four ("...: 'a', 'b', 'c', 'd' and N more"). */
void ana_warn_ignored(const char *cmd, const lsc_gpt *m, const char *path);

/* The base model of amplify and quanterr: one .safetensors file, or a
 * Hugging Face model folder (lib/hf_folder.c: config.json plus
 * model.safetensors or shards behind model.safetensors.index.json), every
 * file mapped and nothing copied; or a llama2.c checkpoint, loaded as a
 * model (lsc_gpt_load, float32 as the file is) and served through st as
 * an in-memory view (st.map NULL: no pages are ever released) with the
 * model's Hugging Face tensor names. */
typedef struct ana_base {
    const char   *path;     /* as given (borrowed) */
    int           is_dir;   /* 1: hf is open, else st */
    lsc_st_file   st;
    lsc_hf_folder hf;
    int           is_model; /* 1: st views model (a llama2.c checkpoint) */
    lsc_gpt       model;
} ana_base;

/* Opens path: a directory as a Hugging Face folder (lsc_hf_open), a
 * llama2.c checkpoint as a model, else a safetensors file (lsc_st_open).
 * *b is cleared first, so ana_base_close is always safe; on failure one
 * line naming the file is printed and CLI_FAIL returned. */
int  ana_base_open(const char *cmd, const char *path, ana_base *b);
void ana_base_close(ana_base *b);
/* The base weight of adapter module `module`: "<module>.weight", then the
 * name without a leading "transformer." / "model." (each that matches),
 * or, when neither matches, with "transformer." then "model." added. *file
 * is the safetensors file holding it (a folder's shard) and *t its entry
 * there (both borrowed from b), so lsc_st_bytes / lsc_st_read_f32 read it.
 * Not found: *file = *t = NULL and tried lists the names looked for
 * ("a, b, c"; cut to ntried). Returns 1 if found, else 0. */
int  ana_base_find(const ana_base *b, const char *module, const lsc_st_file **file,
                   const lsc_st_tensor **t, char *tried, size_t ntried);
/* Gives tensor t's mapped pages of file back to the kernel (madvise
 * MADV_DONTNEED; with a 2 MB margin either side, as large page-cache
 * folios may be mapped whole): they stay in the page cache and fault back
 * in if read again, so analysing module after module keeps the resident
 * size near one tensor. Advisory; safe while other threads read the
 * mapping. */
void ana_base_release(const lsc_st_file *file, const lsc_st_tensor *t);
/* The sha256 of the base as lsc_sha256_path computes it (a folder: every
 * file in it). A single file is hashed from its mapping a chunk at a time,
 * each chunk's pages released afterwards. */
int  ana_base_sha256(const ana_base *b, char hex[65], lsc_error *err);

/* The adapter module's own attributes in its group g: r, alpha, scaling,
 * in_features, out_features, and the same two under the names every
 * result file uses, rank (= r; amplify and quanterr replace it by the K
 * they used) and scale (= scaling). */
int ana_write_module_attrs(lsc_h5 *h, const char *g, const lsc_adapter_module *m, lsc_error *err);

/* The effective rank of singular values sv[0..n): exp(−Σ p log p) with
 * p = σ/Σσ (spectrum, trajectory); NaN when every σ is 0. */
double ana_effective_rank(int n, const double *sv);

/* float → double */
void ana_to_double(size_t n, const float *x, double *y);
/* x[0..n) = NaN (an undefined result) */
void ana_fill_nan(size_t n, double *x);
/* 1 if every value is exactly zero */
int  ana_all_zero(size_t n, const float *x);

/* A seed for one module's random draws: depends only on (seed, name);
 * 63 bits (recorded as the int64 attribute random_seed). */
uint64_t ana_module_seed(uint64_t seed, const char *name);

/* `git rev-parse HEAD` of the checkout the program was built in (with
 * "+dirty" when its tracked files differ), else "unknown". Static buffer. */
const char *ana_git_commit(void);

/* Runs task(ctx, i) for every i < n as tasks on ana_worker_threads(o)
 * threads (BLAS single-threaded inside when there are several), with the
 * git commit lookup of the provenance as one more task. A task keeps its
 * result and messages in its own item (ana_msgs), so that the caller
 * prints them in item order afterwards: the output does not depend on the
 * thread count. */
void ana_run_tasks(const ana_opts *o, int n, void (*task)(void *ctx, int i), void *ctx);

/* Creates the output file (under a temporary name, lsc_h5_create).
 * CLI_OK, or CLI_FAIL with the message printed. */
int ana_output_create(const char *cmd, const ana_opts *o, lsc_h5 **h);
/* Writes the provenance root attributes (digests as for
 * ana_write_provenance_digests; NULL: all computed here), commits the file
 * (*h is freed and set to NULL, even when the commit fails; on a failed
 * provenance write it is left to the caller's lsc_h5_abort) and prints
 * "wrote OUT". CLI_OK, or CLI_FAIL with the message printed. */
int ana_output_commit(const char *cmd, const ana_opts *o, lsc_h5 **h, double t0, int n_inputs,
                      const lsc_h5_input *inputs, const char *const *digests, int n_params,
                      const lsc_h5_param *params);

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
/* Opens DIR/NAME for writing through lib/atomic.c's temporary file (*a);
 * returns a->fp, or NULL after printing the failure. Close with
 * ana_data_close (commits: renames into place) or lsc_atomic_abort. */
FILE *ana_data_open(const char *cmd, const char *dir, const char *name, lsc_atomic *a);
/* Commits *a; CLI_OK, or CLI_FAIL with the message printed. */
int   ana_data_close(const char *cmd, lsc_atomic *a);
/* Runs gnuplot on plots/SCRIPT with vars and prints "figures:
 * DIR/OUTBASE.png DIR/OUTBASE.svg DIR/OUTBASE.pdf" (each checked whole). CLI_OK, or CLI_FAIL (gnuplot's failure
 * is a printed warning). */
int   ana_draw_figure(const char *cmd, const char *dir, const char *script, const char *outbase,
                      const char *vars);
/* layers_plot.c: with --plots, the per-layer summary figures of cmd (its
 * rows there) drawn from the committed file o->output. CLI_OK or CLI_FAIL. */
int   ana_draw_layers(const char *cmd, const ana_opts *o);
/* A module name made safe for a file name ('/' and quotes replaced). */
void  ana_file_safe(const char *name, char *out, size_t n);
/* Title-safe copy (no quotes, '$', backslash or backquote). */
void  ana_title_safe(const char *s, char *out, size_t n);
/* Last path component (trailing '/' ignored), title-safe. */
void  ana_basename(const char *path, char *out, size_t n);
/* The module name without a leading "transformer." / "model." (plot labels) */
const char *ana_short_name(const char *name);
/* Starts row i of a per-module gnuplot data file: "i label", the label
 * the module's short name, title-safe, with blanks replaced by '_'. */
void  ana_data_row(FILE *fp, int i, const char *name);

#endif
