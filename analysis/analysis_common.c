/*
 * analysis_common.c — shared plumbing of the analysis subcommands (see
 * analysis_common.h). No numerics here: those live in lib/linalg.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cblas.h>

#include "analysis_common.h"
#include "progress.h"
#include "tidy.h"

// ---- options ----

int ana_parse_args(const char *cmd, const char *usage, int argc, char **argv, cli_opt *opts,
                   const char **pos, int max_pos, int *n_pos, int *help)
{
    *help = 0;
    int rc = cli_parse(cmd, argc, argv, opts, pos, max_pos, n_pos);
    if (rc != CLI_OK)
        return rc;
    if (cli_flag(opts, "help")) {
        fputs(usage, stdout);
        *help = 1;
    }
    return CLI_OK;
}

int ana_parse_adapter_args(const char *cmd, const char *usage, int argc, char **argv,
                           cli_opt *opts, const char **path, int *help)
{
    const char *pos[2];
    int npos = 0;
    int rc = ana_parse_args(cmd, usage, argc, argv, opts, pos, 2, &npos, help);
    if (rc != CLI_OK || *help)
        return rc;
    if (npos != 1)
        return cli_error(cmd, CLI_USAGE, npos ? "expected one ADAPTER directory" : "missing ADAPTER");
    *path = pos[0];
    return CLI_OK;
}

int ana_common_opts(const char *cmd, const cli_opt *opts, ana_opts *o)
{
    int bad = 0;
    memset(o, 0, sizeof *o);
    o->output = cli_get(opts, "output");
    o->plots = cli_get(opts, "plots");
    o->module = cli_get(opts, "module");
    o->json = cli_flag(opts, "json");
    o->csv = cli_get(opts, "csv");
    if (o->csv && !o->csv[0])
        return cli_error(cmd, CLI_USAGE, "option '--csv' needs a file name");
    const char *s = cli_get(opts, "seed");
    o->seed = 1234;
    if (s) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-')
            return cli_error(cmd, CLI_USAGE, "option '--seed' needs a non-negative integer, got '%s'", s);
        o->seed = (uint64_t)v;
    }
    o->threads = cli_long(opts, "threads", 0, &bad);
    if (bad)
        return CLI_USAGE;
    if (o->threads < 0 || o->threads > 1024)
        return cli_error(cmd, CLI_USAGE, "option '--threads' must be between 1 and 1024, got %ld",
                         o->threads);
    if (!o->output || !o->output[0])
        return cli_error(cmd, CLI_USAGE, "missing -o OUT.h5");
    if (o->threads > 0 && !cli_limited_memory())
        openblas_set_num_threads((int)o->threads);
    return o->plots ? ana_prepare_plots(cmd, o->plots) : CLI_OK;
}

int ana_module_names(const char *module, int n, const char *(*name_of)(const void *items, int i),
                     const void *items)
{
    const char *best = cli_closest(module, n, name_of, items);
    if (best)
        fprintf(stderr, "did you mean '%s'?\n", cli_safe(best));
    fprintf(stderr, "valid module names (%d):", n);
    for (int i = 0; i < n && i < 20; i++)
        fprintf(stderr, "%s %s", i ? "," : "", cli_safe(name_of(items, i)));
    if (n > 20)
        fprintf(stderr, ", ... and %d more", n - 20);
    fputc('\n', stderr);
    return CLI_USAGE;
}

int ana_pick_module(const char *cmd, const ana_opts *o, int n, const char *what,
                    int (*is)(const void *items, int i, const char *name),
                    const char *(*name_of)(const void *items, int i), const void *items, int *hl)
{
    *hl = n / 2;
    if (!o->module)
        return CLI_OK;
    *hl = -1;
    for (int i = 0; i < n; i++)
        if (is(items, i, o->module))
            *hl = i;
    if (*hl < 0) {
        cli_error(cmd, CLI_FAIL, "--module %s: not among the %s modules", o->module, what);
        return ana_module_names(o->module, n, name_of, items);
    }
    return CLI_OK;
}

// ---- adapters ----

static int load_adapter(const char *cmd, const char *path, lsc_adapter *ad, int dora_ok)
{
    lsc_error err = {0};
    if (lsc_adapter_load(ad, path, &err) != LSC_OK) {  /* DIR, DIR:NAME or a kohya file; one-line errors */
        lsc_adapter_free(ad);
        return cli_lib_error(cmd, &err);
    }
    if (ad->n_modules == 0 && ad->n_full == 0) {   /* full tensors alone are an update too (issue 14) */
        lsc_adapter_free(ad);
        return cli_error(cmd, CLI_FAIL, "%s: no LoRA modules (no *.lora_A.weight / *.lora_B.weight tensors)",
                         path);
    }
    int dora = lsc_adapter_first_of_kind(ad, LSC_ADAPTER_DORA);  /* issue 14: never analysed as plain LoRA */
    if (dora >= 0 && !dora_ok) {
        int rc = cli_error(cmd, CLI_FAIL, "%s: module '%s' is DoRA: the effective update needs the base "
                                          "(not implemented yet)", path, ad->modules[dora].name);
        lsc_adapter_free(ad);
        return rc;
    }
    return CLI_OK;
}

int ana_load_adapter(const char *cmd, const char *path, lsc_adapter *ad)
{
    return load_adapter(cmd, path, ad, 0);
}

// ---- the base model: a safetensors file or a Hugging Face folder ----

int ana_adapter_dir_ok(const char *spec)
{
    struct stat sb;
    if (stat(spec, &sb) == 0)
        return S_ISDIR(sb.st_mode);
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || !colon[1] || (size_t)(colon - spec) >= 4096)
        return 0;
    char dir[4096];
    memcpy(dir, spec, (size_t)(colon - spec));
    dir[colon - spec] = '\0';
    return stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode);
}

void ana_warn_ignored(const char *cmd, const lsc_gpt *m, const char *path)
{
    if (m->n_ignored <= 0)
        return;
    fprintf(stderr, "lorascope %s: warning: %s: %d tensor%s not part of the %s model ignored%s%s\n", cmd,
            cli_safe(path), m->n_ignored, m->n_ignored == 1 ? "" : "s", lsc_arch_name(m->config.arch),
            m->ignored_names[0] ? ": " : "", cli_safe(m->ignored_names));
}

/* b->st as a view of b->model's float32 tensors (the data area is the
 * model's buffer; map NULL). */
static int view_model(ana_base *b, lsc_error *err)
{
    const lsc_gpt *m = &b->model;
    lsc_st_file *f = &b->st;
    if (!(f->tensors = calloc((size_t)m->n_tensors, sizeof *f->tensors)))
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", b->path);
    f->data = (const uint8_t *)m->params_memory;
    f->data_size = m->num_parameters * sizeof(float);
    for (int i = 0; i < m->n_tensors; i++) {
        const lsc_gpt_tensor *t = &m->tensors[i];
        if (t->nf4)
            continue;
        lsc_st_tensor *o = &f->tensors[f->n_tensors++];
        o->name = (char *)t->name;
        o->dtype = LSC_DT_F32;
        o->ndim = t->ndim;
        o->shape[0] = t->shape[0];
        o->shape[1] = t->shape[1];
        o->numel = t->numel;
        o->begin = t->offset * sizeof(float);
        o->end = o->begin + t->numel * sizeof(float);
    }
    return LSC_OK;
}

int ana_base_open(const char *cmd, const char *path, ana_base *b)
{
    lsc_error err = {0};
    struct stat st;
    memset(b, 0, sizeof *b);
    b->path = path;
    b->is_dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    int rc;
    if (b->is_dir)
        rc = lsc_hf_open(&b->hf, path, &err);
    else if (lsc_is_llama2c_file(path))
        rc = (b->is_model = lsc_gpt_load(&b->model, path, &err) == LSC_OK) ? view_model(b, &err) : LSC_EFORMAT;
    else
        rc = lsc_st_open(&b->st, path, &err);
    return rc == LSC_OK ? CLI_OK : cli_lib_error(cmd, &err);
}

void ana_base_close(ana_base *b)
{
    if (b->is_model) {   /* the view owns only its table */
        free(b->st.tensors);
        memset(&b->st, 0, sizeof b->st);
        lsc_gpt_free(&b->model);
        b->is_model = 0;
    }
    lsc_st_close(&b->st);
    lsc_hf_close(&b->hf);
}

/* name's tensor in b (and its file), or NULL */
static const lsc_st_tensor *base_lookup(const ana_base *b, const char *name, const lsc_st_file **file)
{
    if (!b->is_dir) {
        *file = &b->st;
        return lsc_st_find(&b->st, name);
    }
    const lsc_hf_tensor *ht = lsc_hf_find(&b->hf, name);
    *file = ht ? &b->hf.shards[ht->shard] : NULL;
    return ht ? ht->t : NULL;
}

int ana_base_find(const ana_base *b, const char *module, const lsc_st_file **file,
                  const lsc_st_tensor **t, char *tried, size_t ntried)
{
    static const char *const pre[] = {"transformer.", "model."};
    char cand[4][1100];
    int nc = 0, stripped = 0;
    snprintf(cand[nc++], sizeof cand[0], "%s.weight", module);
    for (int i = 0; i < 2; i++) {
        size_t l = strlen(pre[i]);
        if (strncmp(module, pre[i], l) == 0) {
            snprintf(cand[nc++], sizeof cand[0], "%s.weight", module + l);
            stripped = 1;
        }
    }
    if (!stripped)
        for (int i = 0; i < 2; i++)
            snprintf(cand[nc++], sizeof cand[0], "%s%s.weight", pre[i], module);
    if (ntried)
        tried[0] = '\0';
    for (int i = 0; i < nc; i++) {
        if ((*t = base_lookup(b, cand[i], file)) != NULL)
            return 1;
        size_t l = ntried ? strlen(tried) : 0;
        if (l + 1 < ntried)
            snprintf(tried + l, ntried - l, "%s%s", i ? ", " : "", cand[i]);
    }
    *file = NULL;
    *t = NULL;
    return 0;
}

/* Drops the pages of bytes [off, off+n) of f's mapping, widened by
 * ANA_SLACK either side and to whole pages (see ana_base_release). */
#define ANA_SLACK ((size_t)2 << 20)
static void drop_pages(const lsc_st_file *f, size_t off, size_t n)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0 || n == 0 || !f->map || off >= f->size)
        return;
    size_t end = n < f->size - off ? off + n : f->size;
    size_t lo = off > ANA_SLACK ? off - ANA_SLACK : 0;
    size_t hi = f->size - end > ANA_SLACK ? end + ANA_SLACK : f->size;
    uintptr_t a = (uintptr_t)(f->map + lo) & ~(uintptr_t)(pg - 1);
    (void)madvise((void *)a, (size_t)((uintptr_t)(f->map + hi) - a), MADV_DONTNEED);
}

void ana_base_release(const lsc_st_file *file, const lsc_st_tensor *t)
{
    if (file && t)
        drop_pages(file, (size_t)((const uint8_t *)lsc_st_bytes(file, t) - file->map),
                   t->end - t->begin);
}

int ana_base_sha256(const ana_base *b, char hex[65], lsc_error *err)
{
    if (b->is_dir || !b->st.map || b->st.size == 0)
        return lsc_sha256_path(b->path, hex, err);
    const size_t chunk = (size_t)64 << 20;
    lsc_sha256 sh;
    lsc_sha256_init(&sh);
    for (size_t off = 0; off < b->st.size; off += chunk) {
        size_t n = b->st.size - off < chunk ? b->st.size - off : chunk;
        lsc_sha256_update(&sh, b->st.map + off, n);
        drop_pages(&b->st, off, n);
    }
    lsc_sha256_final(&sh, hex);
    return LSC_OK;
}

int ana_write_module_attrs(lsc_h5 *h, const char *g, const lsc_adapter_module *m, lsc_error *err)
{
    int rc;
    if ((rc = lsc_h5_attr_int(h, g, "r", m->r, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "alpha", m->alpha, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "scaling", m->scaling, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "in_features", m->in_features, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "out_features", m->out_features, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "rank", m->r, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "scale", m->scaling, err)) != LSC_OK)
        return rc;
    return LSC_OK;
}

int ana_setup_kinds(const char *cmd, const cli_opt *opts, ana_opts *o, const char *path,
                    lsc_adapter *ad, const char *path2, lsc_adapter *ad2, int dora_ok)
{
    int rc;
    if (ad2)
        memset(ad2, 0, sizeof *ad2);
    if ((rc = ana_common_opts(cmd, opts, o)) != CLI_OK ||
        (rc = load_adapter(cmd, path, ad, dora_ok)) != CLI_OK)
        return rc;
    if (path2 && (rc = load_adapter(cmd, path2, ad2, dora_ok)) != CLI_OK) {
        lsc_adapter_free(ad);
        return rc;
    }
    return CLI_OK;
}

int ana_setup(const char *cmd, const cli_opt *opts, ana_opts *o, const char *path,
              lsc_adapter *ad, const char *path2, lsc_adapter *ad2)
{
    return ana_setup_kinds(cmd, opts, o, path, ad, path2, ad2, 0);
}

double ana_effective_rank(int n, const double *sv)
{
    double sum = 0.0, H = 0.0;
    for (int i = 0; i < n; i++)
        sum += sv[i];
    if (!(sum > 0.0))
        return NAN;
    for (int i = 0; i < n; i++) {
        double p = sv[i] / sum;
        if (p > 0.0)
            H -= p * log(p);
    }
    return exp(H);
}

void ana_to_double(size_t n, const float *x, double *y)
{
    for (size_t i = 0; i < n; i++)
        y[i] = (double)x[i];
}

void ana_fill_nan(size_t n, double *x)
{
    for (size_t i = 0; i < n; i++)
        x[i] = NAN;
}

int ana_all_zero(size_t n, const float *x)
{
    for (size_t i = 0; i < n; i++)
        if (x[i] != 0.0f)
            return 0;
    return 1;
}

/* FNV-1a and the Fibonacci mix wrap on purpose: exempt from clang's
 * -fsanitize=integer (lib's LSC_WRAPS, which lsc_internal.h keeps private). */
#if defined(__clang__)
__attribute__((no_sanitize("integer")))
#endif
uint64_t ana_module_seed(uint64_t seed, const char *name)
{
    /* FNV-1a of the name, mixed with the seed */
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    /* 63 bits, so that the int64 HDF5 attribute random_seed reads back as is */
    return (seed ^ (h * 0x9E3779B97F4A7C15ull)) & 0x7FFFFFFFFFFFFFFFull;
}

// ---- provenance ----

static int shell_safe(const char *s)
{
    for (; *s; s++)
        if (*s == '\'' || *s == '"' || *s == '\\' || *s == '$' || *s == '`' || *s == '\n')
            return 0;
    return 1;
}

const char *ana_git_commit(void)
{
    static char commit[128];
    if (commit[0])
        return commit;
    snprintf(commit, sizeof commit, "unknown");
#ifdef LSC_GIT_COMMIT
    /* baked in by the Makefile: the tree this program was built from, wherever it runs */
    if (LSC_GIT_COMMIT[0]) {
        snprintf(commit, sizeof commit, "%s", LSC_GIT_COMMIT);
        return commit;
    }
#endif
    char dir[PATH_MAX];
    if (!cli_exe_dir(dir, sizeof dir))
        return commit;
    const char *rev[] = {"git", "-C", dir, "rev-parse", "HEAD", NULL};
    char line[128] = {0};
    int rc = cli_run(rev, line, sizeof line);
    line[strcspn(line, "\r\n")] = '\0';
    if (rc != 0 || strlen(line) < 7 || strspn(line, "0123456789abcdef") != strlen(line))
        return commit;
    const char *diff[] = {"git", "-C", dir, "diff", "--quiet", "HEAD", "--", NULL};
    char ignored[256];
    int dirty = cli_run(diff, ignored, sizeof ignored) != 0;
    line[64] = '\0'; /* a hash: 40 (or 64) hex digits, then "+dirty" */
    if (snprintf(commit, sizeof commit, "%s%s", line, dirty ? "+dirty" : "") >= (int)sizeof commit)
        commit[sizeof commit - 1] = '\0';
    return commit;
}

int ana_write_provenance(lsc_h5 *h, double t0, int n_inputs, const lsc_h5_input *inputs,
                         int n_params, const lsc_h5_param *params, lsc_error *err)
{
    return ana_write_provenance_digests(h, t0, n_inputs, inputs, NULL, n_params, params, err);
}

int ana_write_provenance_digests(lsc_h5 *h, double t0, int n_inputs, const lsc_h5_input *inputs,
                                 const char *const *digests, int n_params,
                                 const lsc_h5_param *params, lsc_error *err)
{
    lsc_provenance p = {
        .command = cli_command_line(),
        .git_commit = ana_git_commit(),
        .wall_time_s = cli_now() - t0,
        .n_inputs = n_inputs,
        .inputs = inputs,
        .n_params = n_params,
        .params = params,
    };
    return lsc_h5_write_provenance_digests(h, &p, digests, err);
}

// ---- the output file ----

int ana_output_create(const char *cmd, const ana_opts *o, lsc_h5 **h)
{
    lsc_error err = {0};
    if (lsc_h5_create(h, o->output, &err) != LSC_OK)
        return cli_lib_error(cmd, &err);
    return CLI_OK;
}

int ana_output_commit(const char *cmd, const ana_opts *o, lsc_h5 **h, double t0, int n_inputs,
                      const lsc_h5_input *inputs, const char *const *digests, int n_params,
                      const lsc_h5_param *params)
{
    lsc_error err = {0};
    if (ana_write_provenance_digests(*h, t0, n_inputs, inputs, digests, n_params, params,
                                     &err) != LSC_OK ||
        ana_output_describe(cmd, o, *h, &err) != LSC_OK)
        return cli_lib_error(cmd, &err);
    int rc = lsc_h5_commit(*h, &err);   /* frees h, even on failure */
    *h = NULL;
    if (rc != LSC_OK)
        return cli_lib_error(cmd, &err);
    printf("wrote %s\n", o->output);
    return CLI_OK;
}

// ---- tasks on worker threads ----

static void msg_add(ana_msgs *m, char tag, const char *fmt, va_list ap)
{
    size_t cap = sizeof m->text;
    if (m->len + 3 >= cap)
        return;
    m->text[m->len++] = tag;
    int w = vsnprintf(m->text + m->len, cap - m->len - 1, fmt, ap);
    if (w < 0)
        w = 0;
    m->len += (size_t)w < cap - m->len - 1 ? (size_t)w : cap - m->len - 2;
    m->text[m->len++] = '\n';
    m->text[m->len] = '\0';
}

void ana_msg_warn(ana_msgs *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msg_add(m, 'W', fmt, ap);
    va_end(ap);
}

int ana_msg_error(ana_msgs *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    msg_add(m, 'E', fmt, ap);
    va_end(ap);
    return CLI_FAIL;
}

void ana_msgs_flush(const char *cmd, const ana_msgs *m)
{
    const char *p = m->text, *end = m->text + m->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        int n = (int)((nl ? nl : end) - p) - 1;
        if (n >= 0) {
            if (*p == 'E')
                cli_error(cmd, CLI_FAIL, "%.*s", n, p + 1);
            else
                cli_warn(cmd, "%.*s", n, p + 1);
        }
        p = nl ? nl + 1 : end;
    }
}

void ana_run_tasks(const ana_opts *o, int n, void (*task)(void *ctx, int i), void *ctx)
{
    int nth = ana_worker_threads(o);
    if (nth > 1)
        ana_blas_threads(1);
    /* t < n + 1, not t <= n: clang's lowering of `<=` converts the bound to
     * unsigned (a -fsanitize=integer report). Iteration n is the git lookup. */
    ana_progress pg;   /* a progress line on a terminal (issue 16), none with --json */
    ana_progress_start(&pg, cli_command_name(), "items", n, o->json);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nth)
    for (int t = 0; t < n + 1; t++) {
        if (t == n) {
            (void)ana_git_commit();   /* cached for ana_write_provenance */
        } else {
            task(ctx, t);
            ana_progress_add(&pg, 1);
        }
    }
    ana_progress_end(&pg);
}

int ana_worker_threads(const ana_opts *o)
{
    if (cli_limited_memory())
        return 1;   /* each thread calling BLAS would need its own buffer */
    if (o->threads > 0)
        return (int)o->threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > 64 ? 64 : (int)n);
}

void ana_blas_threads(int n)
{
    openblas_set_num_threads(n < 1 || cli_limited_memory() ? 1 : n);
}

// ---- plots ----

int ana_prepare_plots(const char *cmd, const char *dir)
{
    if (!dir[0])
        return cli_error(cmd, CLI_USAGE, "--plots needs a directory");
    if (!shell_safe(dir))
        return cli_error(cmd, CLI_USAGE, "--plots %s: quotes, '$', '`' and '\\' are not allowed in the "
                                         "plot directory name", dir);
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return cli_error(cmd, CLI_USAGE, "--plots: path too long");
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return cli_error(cmd, CLI_FAIL, "%s: cannot create plot directory: %s", buf,
                                 strerror(errno));
            if (c == '\0')
                break;
            *p = c;
        }
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return cli_error(cmd, CLI_FAIL, "%s: not a directory", dir);
    return CLI_OK;
}

FILE *ana_data_open(const char *cmd, const char *dir, const char *name, lsc_atomic *a)
{
    char path[PATH_MAX];
    lsc_error err = {0};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (lsc_atomic_open(a, path, &err) != LSC_OK) {
        /* errno is still mkstemp's or fopen's */
        cli_error(cmd, CLI_FAIL, "%s/%s: cannot create: %s", dir, name, strerror(errno));
        return NULL;
    }
    return a->fp;
}

int ana_data_close(const char *cmd, lsc_atomic *a)
{
    lsc_error err = {0};
    if (lsc_atomic_commit(a, &err) != LSC_OK)
        return cli_lib_error(cmd, &err);
    return CLI_OK;
}

/* 1 when path is a whole figure: a PNG that ends with its IEND chunk, an
 * SVG that ends with </svg>, a PDF that ends with %%EOF (a full disk or a
 * dying gnuplot leaves less). */
static int figure_whole(const char *path, const char *ext)
{
    FILE *fp = lsc_file_open_read(path, NULL);
    if (!fp)
        return 0;
    char tail[64] = {0};
    long n = 0;
    if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) > 0) {
        long k = n < (long)sizeof tail - 1 ? n : (long)sizeof tail - 1;
        if (fseek(fp, n - k, SEEK_SET) != 0 || fread(tail, 1, (size_t)k, fp) != (size_t)k)
            n = 0;
        tail[k] = '\0';
        if (strcmp(ext, "png") == 0)
            n = n >= 12 && memcmp(tail + k - 8, "IEND", 4) == 0 ? n : 0;
        else if (strcmp(ext, "pdf") == 0)
            n = strstr(tail, "%%EOF") ? n : 0;
        else
            n = strstr(tail, "</svg>") ? n : 0;
    }
    fclose(fp);
    return n > 0;
}

int ana_draw_figure(const char *cmd, const char *dir, const char *script, const char *outbase,
                    const char *vars)
{
    const char *ext[] = {"png", "svg", "pdf"};
    char path[3][PATH_MAX + 64];
    for (int i = 0; i < 3; i++) {
        snprintf(path[i], sizeof path[i], "%s/%s.%s", dir, outbase, ext[i]);
        unlink(path[i]);  /* a stale figure must not pass for a new one */
    }
    if (cli_gnuplot(cmd, script, vars) != 0)
        return CLI_FAIL;
    for (int i = 0; i < 3; i++)
        if (!figure_whole(path[i], ext[i]))
            return cli_error(cmd, CLI_FAIL, "%s: gnuplot wrote no complete %s figure", path[i],
                             ext[i]);
    printf("figures: %s/%s.png %s/%s.svg %s/%s.pdf\n", dir, outbase, dir, outbase, dir, outbase);
    return CLI_OK;
}

void ana_file_safe(const char *name, char *out, size_t n)
{
    size_t j = 0;
    for (const char *p = name; *p && j + 1 < n; p++) {
        char c = *p;
        out[j++] = (c == '/' || c == '\'' || c == '"' || c == '\\' || c == '$' || c == '`' ||
                    c == ' ' || c == ':')
                       ? '_' : c;
    }
    out[j] = '\0';
}

void ana_title_safe(const char *s, char *out, size_t n)
{
    size_t j = 0;
    for (const char *p = s; *p && j + 1 < n; p++) {
        char c = *p;
        /* '_' would start a subscript in gnuplot's enhanced text */
        out[j++] = (c == '\'' || c == '"' || c == '\\' || c == '$' || c == '`' || c == '\n')
                       ? ' ' : c;
    }
    out[j] = '\0';
}

void ana_basename(const char *path, char *out, size_t n)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    size_t l = strlen(buf);
    while (l > 1 && buf[l - 1] == '/')
        buf[--l] = '\0';
    const char *b = strrchr(buf, '/');
    ana_title_safe(b && b[1] ? b + 1 : buf, out, n);
}

const char *ana_short_name(const char *name)
{
    const char *pre[] = {"base_model.model.", "transformer.", "model."};
    for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++) {
        size_t l = strlen(pre[i]);
        if (strncmp(name, pre[i], l) == 0 && name[l])
            name += l;
    }
    return name;
}

void ana_data_row(FILE *fp, int i, const char *name)
{
    char label[600];
    ana_title_safe(ana_short_name(name), label, sizeof label);
    for (char *c = label; *c; c++)
        if (*c == ' ')
            *c = '_';
    fprintf(fp, "%d %s", i, label);
}
