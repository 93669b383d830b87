/*
 * training_common.c — what the model subcommands (pretrain, train, eval)
 * share besides the training driver: --threads, the data sources (corpus
 * and supersense task files split train/dev/test, their defaults under
 * data/, their digest), the supersense evaluation on the seeded
 * --eval-sample with its /eval writer, the ‖ΔW‖/‖W‖ table (/delta), and
 * the --quant nf4 options with the rank check against a model's shape,
 * and the removal of an interrupted run's temporaries (every run).
 * Declared in training.h.
 *
 * Not here: the run itself (training.c) or any numerics (lib/).
 *
 * Vocabulary: C channels, r LoRA rank.
 */
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "dist.h"
#include "progress.h"
#include "training.h"

// ---- threads ----

/* Default $OMP_NUM_THREADS when set (so a script running jobs side by side
 * keeps its share), else every online core divided among the MPI ranks on
 * this node (dist_local_size; 1 without MPI). Our OpenMP loops never call
 * BLAS, so P threads never become P². */
int training_threads(const cli_opt *opts, int *bad)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    const char *env = getenv("OMP_NUM_THREADS");
    long share = (ncpu > 0 ? ncpu : 1) / dist_local_size();   /* MPI ranks on this node share it */
    long def = env && atol(env) > 0 ? atol(env) : (share > 0 ? share : 1);
    long p = cli_long(opts, "threads", def, bad);
    if (p < 1 || p > 1024) {
        fprintf(stderr, "lorascope: --threads must be in 1..1024 (got %ld)\n", p);
        *bad = 1;
        p = 1;
    }
    openblas_set_num_threads(cli_limited_memory() ? 1 : (int)p);  /* see cli_memory_guard */
#ifdef _OPENMP
    omp_set_num_threads((int)p);
#endif
    return (int)p;
}

// ---- data ----

/* A data path: as given when it exists, else relative to the program
 * (<exe>/../../<rel>, the build tree) when found there. */
static const char *data_path(const char *rel, char *buf, size_t n)
{
    if (access(rel, R_OK) == 0 || rel[0] == '/')
        return rel;
    char exe[PATH_MAX];
    if (cli_exe_dir(exe, sizeof exe)) {
        const char *up[] = {"/../..", "/..", "/../../.."};
        for (size_t i = 0; i < sizeof up / sizeof up[0]; i++) {
            if ((size_t)snprintf(buf, n, "%s%s/%s", exe, up[i], rel) >= n)
                continue;
            if (access(buf, R_OK) == 0)
                return buf;
        }
    }
    return rel;
}

/* One line naming a missing default data file and how to get it. */
static int need_data(const char *cmd, const char *path, int is_default)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
        return CLI_OK;
    if (is_default)
        return cli_error(cmd, CLI_FAIL, "%s: no such file; run `make data` to fetch and extract the corpora", path);
    return cli_error(cmd, CLI_FAIL, "%s: no such file", path);
}

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* sha256 of the data files (train, then valid/dev and test if any) as one digest. */
int training_data_sha(const training_data_src *d, char hex[65], lsc_error *err)
{
    char h[3][65] = {"", "", ""};
    const char *f[3] = {d->train, d->valid, d->test};
    lsc_sha256 s;
    lsc_sha256_init(&s);
    for (int i = 0; i < 3; i++) {
        if (i > 0 && !f[i][0])
            continue;
        int rc = lsc_sha256_file(f[i], h[i], err);
        if (rc != LSC_OK)
            return rc;
        lsc_sha256_update(&s, h[i], 64);
    }
    lsc_sha256_final(&s, hex);
    return LSC_OK;
}

/* Resolves the paths of a data source into *src: a directory (use_dir)
 * holds DIR/<names[0]> (train), DIR/<names[1]> (valid or dev) and, when
 * names[2], DIR/<names[2]> (test); a file is the training file, with
 * vfile/tfile as its other parts when given (else those stay empty and the
 * caller splits). Prints the missing-data message and returns its exit
 * code when a file is absent. */
static int resolve_data_paths(const char *cmd, const char *path, int use_dir, int given, const char *vfile,
                              const char *tfile, const char *const names[3], training_data_src *src)
{
    char *dst[3] = {src->train, src->valid, src->test};
    const char *file[3] = {path, vfile, tfile};
    int rc;
    for (int i = 0; i < 3; i++) {
        char b[PATH_MAX + 64];
        if (use_dir && names[i])
            snprintf(b, sizeof b, "%s/%s", path, names[i]);
        else if (!use_dir && file[i])
            snprintf(b, sizeof b, "%s", file[i]);
        else
            continue;
        if ((rc = need_data(cmd, b, use_dir || (i == 0 && !given))) != CLI_OK)
            return rc;
        snprintf(dst[i], sizeof src->train, "%s", b);
    }
    return CLI_OK;
}

/* The LM corpora (see training_data_load). */
static int load_lm(const char *cmd, const cli_opt *opts, const char *def_file, lsc_corpus *train,
                   lsc_corpus *valid, training_data_src *src)
{
    lsc_error err = {0};
    char b1[PATH_MAX + 64];
    const char *data = cli_get(opts, "data"), *vfile = cli_get(opts, "valid");
    int given = data != NULL, rc;
    memset(train, 0, sizeof *train);
    memset(valid, 0, sizeof *valid);
    memset(src, 0, sizeof *src);
    int default_dir = !data && !def_file;
    if (!data)
        data = data_path(def_file ? def_file : "data/corpus", b1, sizeof b1);
    static const char *const names[3] = {"pretrain_train.txt", "pretrain_valid.txt", NULL};
    if ((rc = resolve_data_paths(cmd, data, default_dir || is_dir(data), given, vfile, NULL, names, src)) != CLI_OK)
        return rc;
    if (src->valid[0]) {
        if (lsc_corpus_load(train, src->train, &err) != LSC_OK || lsc_corpus_load(valid, src->valid, &err) != LSC_OK) {
            lsc_corpus_free(train);
            lsc_corpus_free(valid);
            return cli_lib_error(cmd, &err);
        }
        return CLI_OK;
    }
    lsc_corpus all;
    if (lsc_corpus_load(&all, src->train, &err) != LSC_OK)
        return cli_lib_error(cmd, &err);
    rc = lsc_corpus_split(&all, 10, train, valid, &err);
    lsc_corpus_free(&all);
    if (rc != LSC_OK)
        return cli_lib_error(cmd, &err);
    return CLI_OK;
}

/* The supersense task (see training_data_load). */
static int load_task(const char *cmd, const cli_opt *opts, lsc_task *train, lsc_task *dev, lsc_task *test,
                     training_data_src *src)
{
    lsc_error err = {0};
    char b1[PATH_MAX + 64];
    const char *file = cli_get(opts, "task-file") ? cli_get(opts, "task-file") : cli_get(opts, "data");
    const char *dfile = cli_get(opts, "task-dev"), *tfile = cli_get(opts, "task-test");
    int given = file != NULL, rc;
    memset(src, 0, sizeof *src);
    if (!dfile != !tfile)
        return cli_error(cmd, CLI_USAGE, "--task-dev and --task-test go together (or neither: --task-file is split "
                                         "three ways)");
    if (!file)
        file = data_path("data/tasks", b1, sizeof b1);
    static const char *const names[3] = {"supersense_train.tsv", "supersense_dev.tsv", "supersense_test.tsv"};
    if ((rc = resolve_data_paths(cmd, file, !given || is_dir(file), given, dfile, tfile, names, src)) != CLI_OK)
        return rc;
    if (src->valid[0]) {
        if (lsc_task_load(train, src->train, NULL, &err) != LSC_OK ||
            lsc_task_load(dev, src->valid, train, &err) != LSC_OK ||
            lsc_task_load(test, src->test, train, &err) != LSC_OK)
            goto fail;
        return CLI_OK;
    }
    lsc_task all;
    if (lsc_task_load(&all, src->train, NULL, &err) != LSC_OK)
        goto fail;
    rc = lsc_task_split(&all, train, dev, test, &err);
    lsc_task_free(&all);
    if (rc != LSC_OK)
        goto fail;
    if (train->n == 0 || dev->n == 0 || test->n == 0) {
        lsc_task_free(train);
        lsc_task_free(dev);
        lsc_task_free(test);
        return cli_error(cmd, CLI_FAIL, "%s: the hash split leaves an empty train, dev or test part", src->train);
    }
    return CLI_OK;
fail:
    lsc_task_free(train);
    lsc_task_free(dev);
    lsc_task_free(test);
    return cli_lib_error(cmd, &err);
}

int training_data_load(const char *cmd, const cli_opt *opts, int is_ss, const char *def_file, training_data *d)
{
    memset(d, 0, sizeof *d);
    d->evaluates = is_ss;
    return is_ss ? load_task(cmd, opts, &d->ttrain, &d->tdev, &d->ttest, &d->src)
                 : load_lm(cmd, opts, def_file, &d->ctrain, &d->cvalid, &d->src);
}

void training_data_free(training_data *d)
{
    lsc_corpus_free(&d->ctrain);
    lsc_corpus_free(&d->cvalid);
    lsc_task_free(&d->ttrain);
    lsc_task_free(&d->tdev);
    lsc_task_free(&d->ttest);
    lsc_tokens_free(&d->ktrain);
    lsc_tokens_free(&d->kvalid);
    lsc_instruct_free(&d->itrain);
    lsc_instruct_free(&d->ivalid);
    lsc_instruct_free(&d->itest);
    if (d->has_tok)
        lsc_tokenizer_free(&d->tok);
    d->has_tok = d->tokens = d->alpaca = d->evaluates = 0;
}

// ---- task evaluation ----

int training_parse_eval(const cli_opt *opts, long *sample, long *seed, int *dev, int *bad)
{
    *sample = cli_long(opts, "eval-sample", 0, bad);
    *seed = cli_long(opts, "eval-seed", 1, bad);
    *dev = cli_flag(opts, "eval-dev");
    if (*sample < 0 || *sample > INT_MAX) {
        fprintf(stderr, "lorascope: --eval-sample must be >= 0 (0: every item)\n");
        *bad = 1;
    }
    return *bad ? CLI_USAGE : CLI_OK;
}

int training_eval_items(const char *cmd, const lsc_task *t, const char *split, long sample, long seed,
                        training_eval *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->split = split;
    size_t cap = t->n > 0 ? (size_t)t->n : 1;
    ev->item = malloc(cap * sizeof(int));
    ev->pred = malloc(cap * sizeof(int));
    ev->rank_pred = malloc(cap * sizeof(int));
    if (!ev->item || !ev->pred || !ev->rank_pred)
        return cli_error(cmd, CLI_FAIL, "out of memory");
    ev->n = lsc_task_sample(t->n, (int)sample, (uint64_t)seed, ev->item);
    return CLI_OK;
}

int training_eval_run(const char *cmd, lsc_gpt *m, const lsc_task *t, const char *split, long sample, long seed,
                      training_eval *ev)
{
    lsc_error err = {0};
    int quiet = ev->quiet;   /* training_eval_items clears *ev */
    int rc = training_eval_items(cmd, t, split, sample, seed, ev);
    ev->quiet = quiet;
    if (rc != CLI_OK)
        return rc;
    ana_progress pg;   /* a progress line on a terminal (issue 16); the total from the first call */
    ana_progress_start(&pg, cmd, "items", 0, quiet);
    rc = lsc_task_eval_items_progress(m, t, ev->item, ev->n, &ev->res, ev->pred, ev->rank_pred, NULL,
                                      ana_progress_cb, &pg, &err);
    ana_progress_end(&pg);
    return rc == LSC_OK ? CLI_OK : cli_lib_error(cmd, &err);
}

int training_eval_final(const char *cmd, lsc_gpt *m, const training_data *d, long sample, long seed, int dev,
                        training_eval *test, training_eval *devev, lsc_baselines *bl)
{
    lsc_error err = {0};
    int rc = d->alpaca ? training_tok_eval_run(cmd, m, d, &d->itest, &d->ttest, "test", sample, seed, test)
                       : training_eval_run(cmd, m, &d->ttest, "test", sample, seed, test);
    if (rc == CLI_OK && dev)
        rc = d->alpaca ? training_tok_eval_run(cmd, m, d, &d->ivalid, &d->tdev, "dev", sample, seed, devev)
                       : training_eval_run(cmd, m, &d->tdev, "dev", sample, seed, devev);
    if (rc != CLI_OK)
        return rc;
    if (training_eval_baselines(&d->ttrain, &d->ttest, test, bl, &err) != LSC_OK)
        return cli_lib_error(cmd, &err);
    if (d->alpaca)   /* the prompts' last 4 bytes are the template's: no suffix baseline */
        bl->suffix = bl->suffix_seen = NAN;
    return CLI_OK;
}

int training_eval_baselines(const lsc_task *train, const lsc_task *t, const training_eval *ev, lsc_baselines *bl,
                            lsc_error *err)
{
    lsc_task sub;
    int rc = lsc_task_subset(t, ev->item, ev->n, &sub, err);
    if (rc == LSC_OK)
        rc = lsc_task_baselines(train, &sub, 4, bl, err);
    lsc_task_free(&sub);
    return rc;
}

int training_eval_write(lsc_h5 *h, const lsc_task *t, const training_eval *ev, lsc_error *err)
{
    char path[64];
    size_t n = (size_t)ev->n;
    int *ok = malloc((n ? n : 1) * sizeof *ok), *rok = malloc((n ? n : 1) * sizeof *rok);
    if (!ok || !rok) {
        free(ok);
        free(rok);
        return lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", lsc_h5_path(h));
    }
    for (size_t q = 0; q < n; q++) {
        ok[q] = ev->pred[q] == t->labels[ev->item[q]];
        rok[q] = ev->rank_pred[q] == t->labels[ev->item[q]];
    }
    int rc;
    const struct { const char *name; const int *v; } col[] = {
        {"item", ev->item}, {"correct", ok}, {"rank_correct", rok}, {"pred", ev->pred}, {"rank_pred", ev->rank_pred}};
    for (size_t c = 0; c < sizeof col / sizeof col[0]; c++) {
        snprintf(path, sizeof path, "/eval/%s/%s", ev->split, col[c].name);
        if ((rc = lsc_h5_write_i32(h, path, n, col[c].v, err)) != LSC_OK)
            break;
    }
    free(ok);
    free(rok);
    if (rc == LSC_OK)
        rc = lsc_h5_write_str(h, "/eval/labels", (size_t)t->n_labels, (const char *const *)t->label_names, err);
    return rc;
}

void training_eval_free(training_eval *ev)
{
    free(ev->item);
    free(ev->pred);
    free(ev->rank_pred);
    memset(ev, 0, sizeof *ev);
}

// ---- update norms ----

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int training_delta_compute(const char *cmd, const lsc_gpt *m, const lsc_lora *lo, const char *base,
                           training_delta *dd)
{
    lsc_error err = {0};
    memset(dd, 0, sizeof *dd);
    dd->model = m->config;
    int n = lo ? lo->n_modules : m->config.n_layer * LSC_LORA_NTARGETS, rc;
    dd->rows = calloc((size_t)n, sizeof *dd->rows);
    double *r = malloc((size_t)n * sizeof *r);
    if (!dd->rows || !r) {
        free(r);
        return cli_error(cmd, CLI_FAIL, "out of memory");
    }
    if (lo) {
        rc = lsc_delta_lora(m, lo, dd->rows, &err);
    } else {   /* full: W0 from the base file again */
        lsc_gpt m0;
        rc = lsc_gpt_load(&m0, base, &err);
        if (rc == LSC_OK)
            rc = lsc_delta_full(&m0, m, dd->rows, &n, &err);
        lsc_gpt_free(&m0);
    }
    if (rc != LSC_OK) {
        free(r);
        return cli_lib_error(cmd, &err);
    }
    dd->n = n;
    for (int i = 0; i < n; i++)
        r[i] = dd->rows[i].ratio;
    qsort(r, (size_t)n, sizeof *r, cmp_double);
    dd->median = n % 2 ? r[n / 2] : 0.5 * (r[n / 2 - 1] + r[n / 2]);
    dd->max = r[n - 1];
    free(r);
    return CLI_OK;
}

int training_delta_write(lsc_h5 *h, const training_delta *dd, lsc_error *err)
{
    size_t n = (size_t)dd->n, cap = n ? n : 1;
    char (*names)[64] = malloc(cap * sizeof *names);
    const char **np = malloc(cap * sizeof *np), **tp = malloc(cap * sizeof *tp);
    int *layer = malloc(cap * sizeof *layer);
    double *col = malloc(3 * cap * sizeof *col);
    int rc = LSC_OK;
    if (!names || !np || !tp || !layer || !col) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", lsc_h5_path(h));
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const lsc_delta_norm *d = &dd->rows[i];
        lsc_lora_module_name(&dd->model, d->layer, d->target, names[i], sizeof names[i]);
        np[i] = names[i];
        tp[i] = lsc_lora_target_short(d->target);
        layer[i] = d->layer;
        col[i] = d->dw_fro;
        col[cap + i] = d->w_fro;
        col[2 * cap + i] = d->ratio;
    }
    if ((rc = lsc_h5_write_str(h, "/delta/module", n, np, err)) != LSC_OK ||
        (rc = lsc_h5_write_i32(h, "/delta/layer", n, layer, err)) != LSC_OK ||
        (rc = lsc_h5_write_str(h, "/delta/target", n, tp, err)) != LSC_OK ||
        (rc = lsc_h5_write_f64(h, "/delta/dw_fro", 1, &n, col, err)) != LSC_OK ||
        (rc = lsc_h5_write_f64(h, "/delta/w_fro", 1, &n, col + cap, err)) != LSC_OK ||
        (rc = lsc_h5_write_f64(h, "/delta/ratio", 1, &n, col + 2 * cap, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, "/", "dw_ratio_median", dd->median, err)) != LSC_OK)
        goto done;
    rc = lsc_h5_attr_double(h, "/", "dw_ratio_max", dd->max, err);
done:
    free(names);
    free(np);
    free(tp);
    free(layer);
    free(col);
    return rc;
}

void training_delta_free(training_delta *dd)
{
    free(dd->rows);
    memset(dd, 0, sizeof *dd);
}

// ---- model options ----

int training_parse_quant(const char *cmd, const cli_opt *opts, int full, lsc_nf4_opts *qo, int *on)
{
    int bad = 0;
    const char *q = cli_get(opts, "quant");
    *on = 0;
    memset(qo, 0, sizeof *qo);
    long bs = cli_long(opts, "blocksize", LSC_NF4_BLOCKSIZE_DEFAULT, &bad);
    qo->double_quant = !cli_flag(opts, "no-double-quant");
    qo->targets = cli_get(opts, "quant-targets");
    if (bad)
        return CLI_USAGE;
    if (q && strcmp(q, "nf4") != 0)
        return cli_error(cmd, CLI_USAGE, "--quant must be nf4 (4-bit NormalFloat, QLoRA), got '%s'", q);
    if (!q && (cli_get(opts, "blocksize") || cli_flag(opts, "double-quant") || cli_flag(opts, "no-double-quant") ||
               cli_get(opts, "quant-targets")))
        return cli_error(cmd, CLI_USAGE, "--blocksize, --double-quant, --no-double-quant and --quant-targets "
                                         "need --quant nf4");
    if (cli_flag(opts, "double-quant") && cli_flag(opts, "no-double-quant"))
        return cli_error(cmd, CLI_USAGE, "--double-quant and --no-double-quant contradict each other");
    if (q && full)
        return cli_error(cmd, CLI_USAGE, "--quant nf4 freezes the base in 4 bits (QLoRA): it trains LoRA "
                                         "adapters, not --full");
    if (bs < LSC_NF4_BLOCKSIZE_MIN || bs > LSC_NF4_BLOCKSIZE_MAX || (bs & (bs - 1)) != 0)
        return cli_error(cmd, CLI_USAGE, "--blocksize must be a power of two in %d..%d, got %ld",
                         LSC_NF4_BLOCKSIZE_MIN, LSC_NF4_BLOCKSIZE_MAX, bs);
    qo->blocksize = (int)bs;
    *on = q != NULL;
    return CLI_OK;
}

int training_check_ranks(const char *cmd, const lsc_gpt_config *mc, const int rank[LSC_LORA_NTARGETS])
{
    for (int t = 0; t < LSC_LORA_NTARGETS; t++) {
        if (rank[t] <= 0)
            continue;
        int in, out;
        if (lsc_gpt_linear_shape(mc, t, &out, &in) != 0)
            return cli_error(cmd, CLI_USAGE, "target %s is not a layer of the %s model", lsc_lora_target_name(t),
                             lsc_arch_name(mc->arch));
        int mx = in < out ? in : out;
        if (rank[t] > mx)
            return cli_error(cmd, CLI_USAGE, "rank %d for %s is above min(in, out) = %d of that weight", rank[t],
                             lsc_lora_target_name(t), mx);
    }
    return CLI_OK;
}

// ---- orphaned temporaries (fresh runs and --resume) ----

void training_clean_orphans(const char *const paths[], int n, int quiet)
{
    int removed = 0;
    for (int i = 0; i < n; i++)
        if (paths[i] && paths[i][0])
            removed += lsc_atomic_clean(paths[i]);
    if (removed > 0 && !quiet)
        fprintf(stderr, "removed %d temporar%s left by an interrupted run\n", removed, removed == 1 ? "y" : "ies");
}
