/*
 * tidy.h — the numbers of an analysis as one tidy table, for other tools:
 * one row per (module, quantity, index) with the module's layer index and
 * projection name, written by --csv FILE as CSV (header
 * "module,layer,proj,quantity,index,value") and printed by --json as one
 * JSON object, the last line of stdout. Summary values (over all modules)
 * are rows with an empty module. Not the HDF5 file: that stays the
 * complete record; this is its per-module numbers in a form pandas, R or
 * jq read without knowing our layout.
 *
 *     ana_tidy *t = ana_tidy_new();
 *     ana_tidy_add(t, "h.3.attn.q_proj", "frobenius", -1, 1.25);
 *     ana_tidy_add_vec(t, "h.3.attn.q_proj", "singular_values", n, sv);
 *     ana_tidy_add(t, NULL, "mean_frobenius", -1, 1.25);     // summary
 *     rc = ana_tidy_finish(cmd, &o, t, n_modules, n_skipped, t0);
 *     ana_tidy_free(t);
 *
 * Rows keep the order they were added in: add them from one thread (after
 * the per-module tasks), in module order, so that the output is the same
 * whatever --threads.
 *
 * Conventions of the analyses' tables (filled from their HDF5 files by
 * ana_tidy_from_h5, h5describe.c, so CSV/JSON and HDF5 never disagree):
 * quantity = the dataset or attribute name of the module group; a 2-D
 * dataset [rows, cols] (phi, phi_random, ...) is flattened row-major,
 * index = i·cols + j for element [i][j] (0-based: φ(i+1, j+1)), which
 * pandas pivots back with divmod(index, cols) (cols = the group's r2 / K);
 * modules in sorted name order; summary rows are the root's numeric
 * results (n_modules, n_degenerate, quanterr's mean_*, ...).
 */
#ifndef LSC_TIDY_H
#define LSC_TIDY_H

#include <stddef.h>

#include "analysis_common.h"

typedef struct ana_tidy ana_tidy;

/* NULL when out of memory. */
ana_tidy *ana_tidy_new(void);
void      ana_tidy_free(ana_tidy *t);

/* One value: index -1 for a scalar, else the position in a vector (0-based;
 * e.g. singular value i+1 is index i). module NULL or "" for a summary row.
 * Non-finite values are kept (CSV: nan/inf; JSON: null). Returns 0, or
 * LSC_ENOMEM (the table is unchanged). */
int ana_tidy_add(ana_tidy *t, const char *module, const char *quantity, long index, double value);
/* n values x[0..n-1] as indices 0..n-1. */
int ana_tidy_add_vec(ana_tidy *t, const char *module, const char *quantity, size_t n,
                     const double *x);

size_t ana_tidy_rows(const ana_tidy *t);

/* The layer index of a module name: its first dot-separated component that
 * is all digits ("model.layers.12.self_attn.q_proj" -> 12; kohya's
 * "lora_unet_..._3_..." has none) or -1; and its projection: the last
 * component ("q_proj", "c_attn"). */
int  ana_tidy_layer(const char *module);
const char *ana_tidy_proj(const char *module);

/* Writes the table as CSV to path (a temporary file renamed when complete).
 * Returns CLI_OK or CLI_FAIL (one line printed). */
int ana_tidy_write_csv(const char *cmd, const ana_tidy *t, const char *path);
/* Prints {"command":..,"output":..,"n_modules":..,"n_skipped":..,"wall_s":..,
 * "peak_rss_mb":..,"summary":{QUANTITY: value | [values], ...},
 * "modules":[{"module":..,"layer":..,"proj":..,"values":{QUANTITY: value |
 * [values], ...}}, ...]} as one line on stdout. */
void ana_tidy_print_json(const char *cmd, const char *output, const ana_tidy *t, int n_modules,
                         int n_skipped, double t0);
/* What every analysis does last: the CSV when o->csv, the JSON line when
 * o->json. t may be NULL (no per-module numbers: only the summary fields). */
int ana_tidy_finish(const char *cmd, const ana_opts *o, const ana_tidy *t, int n_modules,
                    int n_skipped, double t0);

/* h5describe.c: the file's self-description and the table taken from it
 * (that file's header). ana_describe: units/definition of every dataset
 * named in its table, layer/proj of every /modules group, sv_index scales.
 * ana_tidy_from_h5: t += the file's per-module datasets and numeric
 * attributes, and the root's numeric results as the summary. */
int ana_describe(const char *cmd, lsc_h5 *h, lsc_error *err);
int ana_tidy_from_h5(ana_tidy *t, const lsc_h5 *h, lsc_error *err);
/* What ana_output_commit does before committing: ana_describe, then, with
 * --json or --csv, the run's table from the file (kept until ana_finish). */
int ana_output_describe(const char *cmd, const ana_opts *o, lsc_h5 *h, lsc_error *err);
/* The last step of every analysis: with --plots the per-layer figures
 * (ana_draw_layers), then ana_tidy_finish with that table (NULL
 * when no file was written), which it then frees. */
int ana_finish(const char *cmd, const ana_opts *o, int n_modules, int n_skipped, double t0);

#endif
