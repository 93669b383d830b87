/*
 * tidy.c — an analysis's numbers as one tidy table (tidy.h): the rows, the
 * CSV file of --csv and the JSON line of --json. Not the HDF5 output (each
 * analysis writes that itself) and not the computing of any number.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tidy.h"

typedef struct tidy_row {
    int    module, quantity;  /* indices into the string table; module 0 is "" */
    long   index;
    double value;
} tidy_row;

struct ana_tidy {
    tidy_row *rows;
    size_t    n, cap;
    char    **str;            /* interned module and quantity names */
    int       n_str, cap_str;
    lsc_hmap  index;          /* name -> position in str */
};

ana_tidy *ana_tidy_new(void)
{
    ana_tidy *t = calloc(1, sizeof *t);
    if (t && ana_tidy_add(t, "", "", -1, 0) != 0) {  /* interns "" as 0 */
        ana_tidy_free(t);
        return NULL;
    }
    if (t)
        t->n = 0;
    return t;
}

void ana_tidy_free(ana_tidy *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->n_str; i++)
        free(t->str[i]);
    free(t->str);
    free(t->rows);
    lsc_hmap_free(&t->index);
    free(t);
}

size_t ana_tidy_rows(const ana_tidy *t)
{
    return t ? t->n : 0;
}

/* The position of s in the string table, added when new; -1 when out of memory. */
static int intern(ana_tidy *t, const char *s)
{
    int at = lsc_hmap_get(&t->index, s);
    if (at >= 0)
        return at;
    if (t->n_str == t->cap_str) {
        int cap = t->cap_str ? 2 * t->cap_str : 64;
        char **p = realloc(t->str, (size_t)cap * sizeof *p);
        if (!p)
            return -1;
        t->str = p;
        t->cap_str = cap;
    }
    char *copy = strdup(s);
    if (!copy)
        return -1;
    if (lsc_hmap_put(&t->index, copy, t->n_str) < -1) {
        free(copy);
        return -1;
    }
    t->str[t->n_str] = copy;
    return t->n_str++;
}

int ana_tidy_add(ana_tidy *t, const char *module, const char *quantity, long index, double value)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 256;
        tidy_row *p = realloc(t->rows, cap * sizeof *p);
        if (!p)
            return LSC_ENOMEM;
        t->rows = p;
        t->cap = cap;
    }
    int m = intern(t, module ? module : "");
    int q = m < 0 ? -1 : intern(t, quantity ? quantity : "");
    if (q < 0)
        return LSC_ENOMEM;
    t->rows[t->n++] = (tidy_row){m, q, index < 0 ? -1 : index, value};
    return 0;
}

int ana_tidy_add_vec(ana_tidy *t, const char *module, const char *quantity, size_t n,
                     const double *x)
{
    size_t n0 = t->n;
    for (size_t i = 0; i < n; i++)
        if (ana_tidy_add(t, module, quantity, (long)i, x[i]) != 0) {
            t->n = n0;
            return LSC_ENOMEM;
        }
    return 0;
}

// ---- module names ----

int ana_tidy_layer(const char *module)
{
    const char *p = module;
    while (p && *p) {
        const char *end = strchr(p, '.');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        size_t k = 0;
        while (k < len && p[k] >= '0' && p[k] <= '9')
            k++;
        if (len > 0 && k == len && len <= 9)
            return atoi(p);
        p = end ? end + 1 : NULL;
    }
    return -1;
}

const char *ana_tidy_proj(const char *module)
{
    const char *dot = strrchr(module, '.');
    return dot ? dot + 1 : module;
}

// ---- CSV ----

/* A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break. */
static void csv_field(FILE *fp, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, fp);
        return;
    }
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', fp);
        fputc(*s, fp);
    }
    fputc('"', fp);
}

static void csv_number(FILE *fp, double v)
{
    if (isnan(v))
        fputs("nan", fp);
    else if (isinf(v))
        fputs(v > 0 ? "inf" : "-inf", fp);
    else
        fprintf(fp, "%.17g", v);
}

int ana_tidy_write_csv(const char *cmd, const ana_tidy *t, const char *path)
{
    lsc_atomic a;
    lsc_error err = {0};
    if (lsc_atomic_open(&a, path, &err) != LSC_OK)
        return cli_lib_error(cmd, &err);
    FILE *fp = a.fp;
    fputs("module,layer,proj,quantity,index,value\n", fp);
    for (size_t i = 0; t && i < t->n; i++) {
        const tidy_row *r = &t->rows[i];
        const char *m = t->str[r->module];
        csv_field(fp, m);
        if (m[0] && ana_tidy_layer(m) >= 0)
            fprintf(fp, ",%d,", ana_tidy_layer(m));
        else
            fputs(",,", fp);
        csv_field(fp, m[0] ? ana_tidy_proj(m) : "");
        fputc(',', fp);
        csv_field(fp, t->str[r->quantity]);
        if (r->index >= 0)
            fprintf(fp, ",%ld,", r->index);
        else
            fputs(",,", fp);
        csv_number(fp, r->value);
        fputc('\n', fp);
    }
    if (lsc_atomic_commit(&a, &err) != LSC_OK)
        return cli_lib_error(cmd, &err);
    return CLI_OK;
}

// ---- JSON ----

static void json_str(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(fp, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(fp, "\\u%04x", c);
        else
            fputc(c, fp);
    }
    fputc('"', fp);
}

static void json_number(FILE *fp, double v)
{
    if (isfinite(v))
        fprintf(fp, "%.17g", v);
    else
        fputs("null", fp);
}

/* Row order for JSON: the summary first, then modules by first appearance;
 * within one, quantities by first appearance in the table; then as added. */
typedef struct { int module_rank, quantity, seq; } json_key;

static int by_key(const void *a, const void *b)
{
    const json_key *x = a, *y = b;
    if (x->module_rank != y->module_rank)
        return x->module_rank < y->module_rank ? -1 : 1;
    if (x->quantity != y->quantity)
        return x->quantity < y->quantity ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Prints the values of rows order[from..to) (one module) as {"q": v | [v...], ...}. */
static void json_values(FILE *fp, const ana_tidy *t, const json_key *order, size_t from, size_t to)
{
    fputc('{', fp);
    for (size_t i = from; i < to;) {
        size_t j = i;
        while (j < to && order[j].quantity == order[i].quantity)
            j++;
        const tidy_row *r0 = &t->rows[order[i].seq];
        if (i > from)
            fputc(',', fp);
        json_str(fp, t->str[r0->quantity]);
        fputc(':', fp);
        if (j - i == 1 && r0->index < 0) {
            json_number(fp, r0->value);
        } else {
            fputc('[', fp);
            for (size_t k = i; k < j; k++) {
                if (k > i)
                    fputc(',', fp);
                json_number(fp, t->rows[order[k].seq].value);
            }
            fputc(']', fp);
        }
        i = j;
    }
    fputc('}', fp);
}

/* The rows in JSON order, or NULL when out of memory. */
static json_key *json_order(const ana_tidy *t)
{
    json_key *k = malloc((t->n ? t->n : 1) * sizeof *k);
    int *rank = malloc((size_t)t->n_str * sizeof *rank);
    if (!k || !rank) {
        free(k);
        free(rank);
        return NULL;
    }
    for (int i = 0; i < t->n_str; i++)
        rank[i] = -1;
    int next = 0;
    for (size_t i = 0; i < t->n; i++) {
        int m = t->rows[i].module;
        if (m != 0 && rank[m] < 0)
            rank[m] = next++;
        /* the summary (module "", string 0) sorts first */
        k[i] = (json_key){m == 0 ? -1 : rank[m], t->rows[i].quantity, (int)i};
    }
    free(rank);
    qsort(k, t->n, sizeof *k, by_key);
    return k;
}

void ana_tidy_print_json(const char *cmd, const char *output, const ana_tidy *t, int n_modules,
                         int n_skipped, double t0)
{
    FILE *fp = stdout;
    fputs("{\"command\":", fp);
    json_str(fp, cmd);
    fputs(",\"output\":", fp);
    json_str(fp, output ? output : "");
    fprintf(fp, ",\"n_modules\":%d,\"n_skipped\":%d,\"wall_s\":%.6f,\"peak_rss_mb\":%.3f", n_modules,
            n_skipped, cli_now() - t0, cli_peak_rss_mb());
    json_key *order = t ? json_order(t) : NULL;
    if (t && !order)
        fputs(",\"error\":\"out of memory: per-module values left out\"", fp);
    if (order) {
        size_t i = 0;
        fputs(",\"summary\":", fp);
        size_t j = i;
        while (j < t->n && order[j].module_rank < 0)
            j++;
        json_values(fp, t, order, i, j);
        fputs(",\"modules\":[", fp);
        for (i = j; i < t->n; i = j) {
            j = i;
            while (j < t->n && order[j].module_rank == order[i].module_rank)
                j++;
            const char *m = t->str[t->rows[order[i].seq].module];
            fputs(i > 0 && order[i - 1].module_rank >= 0 ? ",{\"module\":" : "{\"module\":", fp);
            json_str(fp, m);
            fprintf(fp, ",\"layer\":%d,\"proj\":", ana_tidy_layer(m));
            json_str(fp, ana_tidy_proj(m));
            fputs(",\"values\":", fp);
            json_values(fp, t, order, i, j);
            fputc('}', fp);
        }
        fputc(']', fp);
    }
    free(order);
    fputs("}\n", fp);
    fflush(fp);
}

int ana_tidy_finish(const char *cmd, const ana_opts *o, const ana_tidy *t, int n_modules,
                    int n_skipped, double t0)
{
    if (o->csv && ana_tidy_write_csv(cmd, t, o->csv) != CLI_OK)
        return CLI_FAIL;
    if (o->json)
        ana_tidy_print_json(cmd, o->output, t, n_modules, n_skipped, t0);
    return CLI_OK;
}
