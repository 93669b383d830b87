/*
 * report.h — what the files of `lorascope report` share (private to report*.c): the document
 * written as HTML and Markdown side by side (report_doc.c), the study files it reads, the
 * report's state with the paper's findings, and the sections (report_paper.c: the paper's
 * Tables 5-7 and Figures 3-4; report_beyond.c: LoRA vs full fine-tuning and QLoRA;
 * report_meta.c: regression check, configuration, wall times, provenance; report_verdict.c: the
 * verdicts, the lr sweep, the base model and the all-layer summaries). report.c is the
 * subcommand and the driver that puts them in order.
 *
 * What it is not: a public interface. Nothing outside report*.c includes it.
 */
#ifndef LSC_REPORT_H
#define LSC_REPORT_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>

#include "analysis_common.h"

#if defined(__GNUC__)
#define REPORT_PRINTF(i, j) __attribute__((format(printf, i, j)))
#else
#define REPORT_PRINTF(i, j)
#endif

// ---- the document: HTML and Markdown written side by side (report_doc.c) ----

typedef struct doc {
    FILE       *html, *md;
    const char *figdir;
    const char *md_fig_prefix;   /* relative path from report.md to figdir */
    int         n_fig, n_fig_missing;
    int         n_tab;
} doc;

/* Tables: header cells starting with "paper:" are the paper's columns (shaded). */
typedef struct table {
    int  ncol;
    char paper[32];
} table;

/* Text with a tiny markup: **bold**, HTML-escaped. */
void html_text_(FILE *fp, const char *s);
/* A paragraph (printf-style, at most 8 KiB). */
void doc_p_(doc *d, const char *fmt, ...) REPORT_PRINTF(2, 3);
/* A paragraph of report.md only (the HTML side written by the caller), escaped as doc_p_'s. */
void doc_md_text_(doc *d, const char *text);
void doc_h_(doc *d, int level, const char *id, const char *title);
/* A list item with a verdict badge ("yes", "no", "noise", "n/a", else "partly"). */
void doc_finding_(doc *d, const char *verdict, const char *claim, const char *evidence);
/* heads: ncol (at most 32) header cells; caption may be NULL. */
void doc_table_begin_(doc *d, table *t, const char *caption, int ncol, const char **heads);
/* cells: t->ncol cells, NULL for an empty one. */
void doc_row_(doc *d, const table *t, const char **cells);
void doc_table_end_(doc *d);
/* A figure NAME.png from the figure directory, embedded; NAME.svg linked in the Markdown. */
void doc_figure_(doc *d, const char *name, const char *caption);

// ---- reading the study files (report_doc.c) ----

typedef struct study {
    const char *name;
    lsc_h5     *h;   /* NULL when the file is missing or unreadable */
    char        why[PATH_MAX + 400];
} study;

enum { S_T5, S_T6, S_F3, S_F4, S_T7, S_FULL, S_QLORA, S_LR, S_INTR, S_RSLORA, S_FORGET, S_N };

/* A /summary metric (NAN when absent); smf_ names it printf-style. */
double sm_(const study *s, const char *name);
double smf_(const study *s, const char *fmt, ...) REPORT_PRINTF(2, 3);
/* A root string attribute, "?" when absent. */
void   root_str_(const study *s, const char *name, char *buf, size_t n);
/* A numeric attribute of obj, NAN when absent. */
double attr_d_(const study *s, const char *obj, const char *name);
/* v printed with f, "—" for NaN. */
void   rfmt_(char *buf, size_t n, const char *f, double v);
/* "41.2 ± 1.3" in percent (the spread only with 2+ seeds). */
void   rfmt_acc_(char *buf, size_t n, double mean, double sd, int n_seeds);
/* Number of validation items of the task (from any run), for the binomial standard error. */
long   n_items_of_(const study *s);

typedef struct cellv {
    double acc, sd, loss, loss_sd;
    double racc, rlo, rhi;   /* rank-classification accuracy: mean, 95 % interval (NaN: none) */
    int    n_seeds;
    long   params;
    int    found;
} cellv;

/* The /cells/<key> means (NaN and found = 0 when there is no such cell). */
cellv cell_get_(const study *s, const char *key);
/* "41.2 [39.0, 43.4] (exact 35.1 ± 0.8)": rank-classification accuracy % with its 95 % interval
 * over seeds, then the greedy exact match (only the latter when the cell has no rank accuracy). */
void  rfmt_cell_(char *buf, size_t n, const cellv *v);

/* One column of metric cells: /summary "<key>.<name>" printed with fmt. */
typedef struct metric_col {
    const char *name, *fmt;
} metric_col;

/* The ranks r of the cells named exactly <prefix><r> (r > 0), ascending; at most max. Returns how many. */
int   cell_ranks_(const study *s, const char *prefix, int *ranks, int max);
/* out[j] (32 bytes each) = column j of the row of key, for j < n. */
void metric_cells_(const study *s, const char *key, const metric_col *cols, int n, char (*out)[32]);

// ---- the report's state and its sections ----

enum { NFIND = 7 };   /* the paper's findings the report checks */

typedef struct ctx {
    doc    d;
    study  st[S_N];
    char   dir[PATH_MAX];
    char   profile[64];
    /* findings, filled by the sections, printed at the top (through a second buffer) */
    char   f_verdict[NFIND][16];
    char   f_evidence[NFIND][2048];
    int    r_high;
} ctx;

/* Finding i: its verdict and its evidence (printf-style). */
void finding_set_(ctx *c, int i, const char *verdict, const char *fmt, ...) REPORT_PRINTF(4, 5);
/* A section's heading. When its study file (c->st[si]) is missing the section says so, the
 * findings f1 and f2 it decides (-1: none) become "n/a", and the result is NULL; else the study. */
const study *section_open_(ctx *c, int si, const char *id, const char *title, int f1, int f2);

/* A verdict of a study file (/verdicts/<name>, written by lorascope collect); state -2: absent. */
typedef struct vinfo {
    int    state;   /* 1 shown, 0 not shown, -1 not measured, -2 absent */
    double effect, lo, p;
    char   test[256], null_desc[256], evidence[512];
} vinfo;
void verdict_get_(const study *s, const char *name, vinfo *v);
/* The layer the figures show (root attribute mid_layer), -1 when absent. */
int  mid_layer_(const study *s);
/* Finding i from n verdicts of s (labels: how each is named in the evidence); rule: how they
 * combine, printed after them. */
void finding_from_verdicts_(ctx *c, int i, const study *s, const char *const *names, const char *const *labels,
                            int n, const char *rule);

/* report_verdict.c */
void sec_lr_(ctx *c);
void sec_base_(ctx *c);
void sec_layers_(ctx *c);
/* report_paper.c */
void sec_table5_(ctx *c);
void sec_table6_(ctx *c);
void sec_fig3_(ctx *c);
void sec_fig4_(ctx *c);
void sec_table7_(ctx *c);
/* report_beyond.c */
void sec_full_(ctx *c);
void sec_qlora_(ctx *c);
/* report_intruders.c */
void sec_intruders_(ctx *c);
/* report_rslora.c */
void sec_rslora_(ctx *c);
/* report_forget.c (issue 17) */
void sec_forget_(ctx *c);
/* report_meta.c */
void sec_regress_(ctx *c, const char *path);
void sec_setup_(ctx *c);
void sec_timing_(ctx *c);
void sec_provenance_(ctx *c);

#endif /* LSC_REPORT_H */
