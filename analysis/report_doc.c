/*
 * report_doc.c — the document of `lorascope report`, written as HTML and Markdown side by side
 * (paragraphs, headings, findings with a verdict badge, tables whose paper columns are shaded,
 * figures embedded as base64 PNG), and the accessors the sections read the study files with.
 *
 * What it is not: any section's content (report_paper.c, report_beyond.c, report_meta.c) or
 * the page's frame (report.c). Shapes: a table has at most 32 columns; a paragraph at most 8 KiB.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "report.h"

// ---- the document: HTML and Markdown written side by side ----

/* s with its control characters escaped (lsc_str_escape) in a new buffer the caller frees;
 * NULL when out of memory. Names in the report come from files: a newline or an ESC sequence
 * in one must not reach the page or a terminal showing report.md. */
static char *escaped(const char *s)
{
    size_t n = 4 * strlen(s) + 1;
    char *b = malloc(n);
    return b ? lsc_str_escape(b, n, s) : NULL;
}

/* Markdown text: control characters escaped, and HTML-active < > & as entities (Markdown
 * passes raw HTML through); in a table cell also | and ` escaped. */
static void md_text(FILE *fp, const char *text, int cell)
{
    char *safe = escaped(text);
    for (const char *s = safe ? safe : ""; *s; s++)
        switch (*s) {
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '&': fputs("&amp;", fp); break;
        case '|': fputs(cell ? "\\|" : "|", fp); break;
        case '`': fputs(cell ? "\\`" : "`", fp); break;
        default: fputc(*s, fp);
        }
    free(safe);
}

/* Text with a tiny markup: **bold**; control characters escaped, < > & " as entities. */
void html_text_(FILE *fp, const char *text)
{
    int bold = 0;
    char *safe = escaped(text);
    for (const char *s = safe ? safe : ""; *s; s++) {
        if (s[0] == '*' && s[1] == '*') {
            fputs(bold ? "</b>" : "<b>", fp);
            bold = !bold;
            s++;
            continue;
        }
        switch (*s) {
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '&': fputs("&amp;", fp); break;
        case '"': fputs("&quot;", fp); break;
        default: fputc(*s, fp);
        }
    }
    if (bold)
        fputs("</b>", fp);
    free(safe);
}

static void md_cell(FILE *fp, const char *s)
{
    md_text(fp, s, 1);
}

void doc_md_text_(doc *d, const char *text)
{
    md_text(d->md, text, 0);
    fputs("\n\n", d->md);
}

void doc_p_(doc *d, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fputs("<p>", d->html);
    html_text_(d->html, buf);
    fputs("</p>\n", d->html);
    md_text(d->md, buf, 0);
    fputs("\n\n", d->md);
}

void doc_h_(doc *d, int level, const char *id, const char *title)
{
    fprintf(d->html, "<h%d id=\"%s\">", level, id);
    html_text_(d->html, title);
    fprintf(d->html, "</h%d>\n", level);
    for (int i = 0; i < level; i++)
        fputc('#', d->md);
    fputc(' ', d->md);
    md_text(d->md, title, 0);
    fputs("\n\n", d->md);
}

/* A list item with a verdict badge. */
void doc_finding_(doc *d, const char *verdict, const char *claim, const char *evidence)
{
    const char *cls = strcmp(verdict, "yes") == 0     ? "yes"
                      : strcmp(verdict, "no") == 0    ? "no"
                      : strcmp(verdict, "noise") == 0 ? "noise"
                                                      : "partly";
    const char *word = strcmp(verdict, "yes") == 0     ? "shown"
                       : strcmp(verdict, "no") == 0    ? "not shown"
                       : strcmp(verdict, "n/a") == 0   ? "not measured"
                       : strcmp(verdict, "noise") == 0 ? "inconclusive (within noise)"
                                                       : "partly shown";
    fprintf(d->html, "<li><span class=\"badge %s\">%s</span> ", cls, word);
    html_text_(d->html, claim);
    fputs("<br><span class=\"ev\">", d->html);
    html_text_(d->html, evidence);
    fputs("</span></li>\n", d->html);
    fprintf(d->md, "- **%s** — ", word);
    md_text(d->md, claim, 0);
    fputs("  \n  ", d->md);
    md_text(d->md, evidence, 0);
    fputc('\n', d->md);
}
void doc_table_begin_(doc *d, table *t, const char *caption, int ncol, const char **heads)
{
    t->ncol = ncol;
    d->n_tab++;
    fputs("<table>\n", d->html);
    if (caption) {
        fputs("<caption>", d->html);
        html_text_(d->html, caption);
        fputs("</caption>\n", d->html);
        fputc('*', d->md);
        md_text(d->md, caption, 0);
        fputs("*\n\n", d->md);
    }
    fputs("<tr>", d->html);
    fputc('|', d->md);
    for (int i = 0; i < ncol; i++) {
        const char *h = heads[i];
        t->paper[i] = strncmp(h, "paper:", 6) == 0;
        if (t->paper[i])
            h += 6;
        fprintf(d->html, "<th%s>", t->paper[i] ? " class=\"paper\"" : "");
        html_text_(d->html, h);
        fputs("</th>", d->html);
        fputc(' ', d->md);
        md_cell(d->md, h);
        fputs(t->paper[i] ? " (paper) |" : " |", d->md);
    }
    fputs("</tr>\n", d->html);
    fputs("\n|", d->md);
    for (int i = 0; i < ncol; i++)
        fputs("---|", d->md);
    fputc('\n', d->md);
}

void doc_row_(doc *d, const table *t, const char **cells)
{
    fputs("<tr>", d->html);
    fputc('|', d->md);
    for (int i = 0; i < t->ncol; i++) {
        fprintf(d->html, "<td%s>", t->paper[i] ? " class=\"paper\"" : "");
        html_text_(d->html, cells[i] ? cells[i] : "");
        fputs("</td>", d->html);
        fputc(' ', d->md);
        md_cell(d->md, cells[i] ? cells[i] : "");
        fputs(" |", d->md);
    }
    fputs("</tr>\n", d->html);
    fputc('\n', d->md);
}

void doc_table_end_(doc *d)
{
    fputs("</table>\n", d->html);
    fputc('\n', d->md);
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int base64_file(FILE *out, const char *path)
{
    FILE *fp = lsc_file_open_read(path, NULL);
    if (!fp)
        return -1;
    unsigned char in[3 * 1024];
    size_t n;
    int col = 0;
    while ((n = fread(in, 1, sizeof in, fp)) > 0) {
        size_t i = 0;
        for (; i + 3 <= n; i += 3) {
            unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
            fputc(B64[v >> 18 & 63], out);
            fputc(B64[v >> 12 & 63], out);
            fputc(B64[v >> 6 & 63], out);
            fputc(B64[v & 63], out);
            col += 4;
        }
        if (i < n) {   /* only the last chunk can be short: fread fills whole buffers */
            unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0);
            fputc(B64[v >> 18 & 63], out);
            fputc(B64[v >> 12 & 63], out);
            fputc(i + 1 < n ? B64[v >> 6 & 63] : '=', out);
            fputc('=', out);
        }
    }
    (void)col;
    int err = ferror(fp);
    fclose(fp);
    return err ? -1 : 0;
}

/* A figure NAME.png from the figure directory, embedded; NAME.svg linked in the Markdown. */
void doc_figure_(doc *d, const char *name, const char *caption)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.png", d->figdir, name);
    struct stat st;
    d->n_fig++;
    if (stat(path, &st) != 0 || st.st_size < 8) {
        d->n_fig_missing++;
        fprintf(d->html, "<figure class=\"missing\"><div>figure %s.png is missing (the study "
                         "did not run or gnuplot failed)</div><figcaption>", name);
        html_text_(d->html, caption);
        fputs("</figcaption></figure>\n", d->html);
        fprintf(d->md, "*(figure %s.png missing)* ", name);
        md_text(d->md, caption, 0);
        fputs("\n\n", d->md);
        return;
    }
    fprintf(d->html, "<figure id=\"fig-%s\"><img alt=\"%s\" src=\"data:image/png;base64,", name, name);
    if (base64_file(d->html, path) != 0)
        d->n_fig_missing++;
    fprintf(d->html, "\"><figcaption><b>Figure %d.</b> ", d->n_fig);
    html_text_(d->html, caption);
    fputs("</figcaption></figure>\n", d->html);
    fprintf(d->md, "![%s](%s/%s.png)\n\n*Figure %d.* ", name, d->md_fig_prefix, name, d->n_fig);
    md_text(d->md, caption, 0);
    fprintf(d->md, " ([SVG](%s/%s.svg))\n\n", d->md_fig_prefix, name);
}

// ---- reading the study files ----

double sm_(const study *s, const char *name)
{
    double v = NAN;
    lsc_error e = {0};
    if (s->h)
        lsc_h5_read_attr_double(s->h, "/summary", name, &v, &e);
    return v;
}

double smf_(const study *s, const char *fmt, ...)
{
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return sm_(s, name);
}

void root_str_(const study *s, const char *name, char *buf, size_t n)
{
    lsc_error e = {0};
    buf[0] = '\0';
    if (!s->h || lsc_h5_read_attr_str(s->h, "/", name, buf, n, &e) != LSC_OK)
        snprintf(buf, n, "?");
}

double attr_d_(const study *s, const char *obj, const char *name)
{
    double v = NAN;
    lsc_error e = {0};
    if (s->h)
        lsc_h5_read_attr_double(s->h, obj, name, &v, &e);
    return v;
}

void rfmt_(char *buf, size_t n, const char *f, double v)
{
    if (isnan(v))
        snprintf(buf, n, "—");
    else
        snprintf(buf, n, f, v);
}

/* "41.2 ± 1.3" in percent (the spread only with 2+ seeds). */
void rfmt_acc_(char *buf, size_t n, double mean, double sd, int n_seeds)
{
    if (isnan(mean))
        snprintf(buf, n, "—");
    else if (n_seeds > 1)
        snprintf(buf, n, "%.1f ± %.1f", 100 * mean, 100 * sd);
    else
        snprintf(buf, n, "%.1f", 100 * mean);
}

void rfmt_cell_(char *buf, size_t n, const cellv *v)
{
    char a[64];
    rfmt_acc_(a, sizeof a, v->acc, v->sd, v->n_seeds);
    if (isnan(v->racc))
        snprintf(buf, n, "%s", a);
    else if (isnan(v->rlo))
        snprintf(buf, n, "%.1f (exact %s)", 100 * v->racc, a);
    else
        snprintf(buf, n, "%.1f [%.1f, %.1f] (exact %s)", 100 * v->racc, 100 * v->rlo, 100 * v->rhi, a);
}

static void missing_study(doc *d, const study *s)
{
    doc_p_(d, "Not available: %s.", s->why);
}

/* Number of validation items of the task (from any run), for the binomial standard error. */
long n_items_of_(const study *s)
{
    if (!s->h)
        return -1;
    char **names = NULL;
    int n = 0;
    lsc_error e = {0};
    long long v = -1;
    if (lsc_h5_list(s->h, "/runs", &names, &n, &e) == LSC_OK && n > 0) {
        char obj[512];
        snprintf(obj, sizeof obj, "/runs/%s", names[0]);
        lsc_h5_read_attr_int(s->h, obj, "n_items", &v, &e);
    }
    lsc_h5_free_names(names, n);
    return (long)v;
}

cellv cell_get_(const study *s, const char *key)
{
    cellv c = {NAN, NAN, NAN, NAN, NAN, NAN, NAN, 0, -1, 0};
    char obj[256];
    snprintf(obj, sizeof obj, "/cells/%s", key);
    if (!s->h || !lsc_h5_exists(s->h, obj))
        return c;
    c.found = 1;
    c.acc = attr_d_(s, obj, "accuracy_mean");
    c.sd = attr_d_(s, obj, "accuracy_std");
    c.loss = attr_d_(s, obj, "val_loss_mean");
    c.loss_sd = attr_d_(s, obj, "val_loss_std");
    c.racc = attr_d_(s, obj, "rank_accuracy_mean");
    c.rlo = attr_d_(s, obj, "rank_accuracy_lo95");
    c.rhi = attr_d_(s, obj, "rank_accuracy_hi95");
    double ns = attr_d_(s, obj, "n_seeds"), p = attr_d_(s, obj, "trainable_params");
    c.n_seeds = isnan(ns) ? 0 : (int)ns;
    c.params = isnan(p) ? -1 : (long)p;
    return c;
}

/* out[j] = the metric "<key>.<cols[j].name>" printed with cols[j].fmt ("—" when absent). */
void metric_cells_(const study *s, const char *key, const metric_col *cols, int n, char (*out)[32])
{
    for (int j = 0; j < n; j++)
        rfmt_(out[j], 32, cols[j].fmt, smf_(s, "%s.%s", key, cols[j].name));
}

// ---- sections and findings ----

void finding_set_(ctx *c, int i, const char *verdict, const char *fmt, ...)
{
    snprintf(c->f_verdict[i], sizeof c->f_verdict[i], "%s", verdict);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->f_evidence[i], sizeof c->f_evidence[i], fmt, ap);
    va_end(ap);
}

const study *section_open_(ctx *c, int si, const char *id, const char *title, int f1, int f2)
{
    const study *s = &c->st[si];
    doc_h_(&c->d, 2, id, title);
    if (s->h)
        return s;
    missing_study(&c->d, s);
    if (f1 >= 0)
        finding_set_(c, f1, "n/a", "%s.h5 is missing.", s->name);
    if (f2 >= 0)
        finding_set_(c, f2, "n/a", "%s.h5 is missing.", s->name);
    return NULL;
}

int cell_ranks_(const study *s, const char *prefix, int *ranks, int max)
{
    char **names = NULL;
    int nn = 0, n = 0;
    size_t pl = strlen(prefix);
    lsc_error e = {0};
    if (!s->h || lsc_h5_list(s->h, "/cells", &names, &nn, &e) != LSC_OK)
        return 0;
    for (int i = 0; i < nn && n < max; i++) {
        int r;
        char tail;
        if (strncmp(names[i], prefix, pl) == 0 && sscanf(names[i] + pl, "%d%c", &r, &tail) == 1 && r > 0)
            ranks[n++] = r;
    }
    lsc_h5_free_names(names, nn);
    for (int i = 1; i < n; i++)   /* insertion sort: a handful of ranks */
        for (int j = i; j > 0 && ranks[j - 1] > ranks[j]; j--) {
            int t = ranks[j];
            ranks[j] = ranks[j - 1];
            ranks[j - 1] = t;
        }
    return n;
}
