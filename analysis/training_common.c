/*
 * training_common.c — what the model subcommands (pretrain, train, eval)
 * share besides the training driver: --threads, the data sources (corpus
 * and supersense task files, their defaults under data/, their digest),
 * and the --quant nf4 options with the rank check against a model's shape.
 * Declared in training.h.
 *
 * Not here: the run itself (training.c) or any numerics (lib/).
 *
 * Vocabulary: C channels, r LoRA rank.
 */
#include <cblas.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "training.h"

// ---- threads ----

/* Default $OMP_NUM_THREADS when set (so a script running jobs side by side
 * keeps its share), else every online core. Our OpenMP loops never call
 * BLAS, so P threads never become P². */
int training_threads(const cli_opt *opts, int *bad)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    const char *env = getenv("OMP_NUM_THREADS");
    long def = env && atol(env) > 0 ? atol(env) : (ncpu > 0 ? ncpu : 1);
    long p = cli_long(opts, "threads", def, bad);
    if (p < 1 || p > 1024) {
        fprintf(stderr, "lorascope: --threads must be in 1..1024 (got %ld)\n", p);
        *bad = 1;
        p = 1;
    }
    openblas_set_num_threads((int)p);
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

/* sha256 of the data files (train, then valid if any) as one digest. */
int training_data_sha(const training_data_src *d, char hex[65], lsc_error *err)
{
    char h1[65], h2[65] = "";
    int rc = lsc_sha256_file(d->train, h1, err);
    if (rc == LSC_OK && d->valid[0])
        rc = lsc_sha256_file(d->valid, h2, err);
    if (rc != LSC_OK)
        return rc;
    lsc_sha256 s;
    lsc_sha256_init(&s);
    lsc_sha256_update(&s, h1, 64);
    lsc_sha256_update(&s, h2, strlen(h2));
    lsc_sha256_final(&s, hex);
    return LSC_OK;
}

/* Resolves the train/validation paths of a data source into *src: a
 * directory (use_dir) holds DIR/<train_name> and DIR/<valid_name>; a file is
 * the training file, with vfile as its validation file when given (else
 * src->valid stays empty and the caller splits). Prints the missing-data
 * message and returns its exit code when a file is absent. */
static int resolve_data_paths(const char *cmd, const char *path, int use_dir, int given, const char *vfile,
                              const char *train_name, const char *valid_name, training_data_src *src)
{
    int rc;
    if (use_dir) {
        char b1[PATH_MAX + 64], b2[PATH_MAX + 64];
        snprintf(b1, sizeof b1, "%s/%s", path, train_name);
        snprintf(b2, sizeof b2, "%s/%s", path, valid_name);
        if ((rc = need_data(cmd, b1, 1)) != CLI_OK || (rc = need_data(cmd, b2, 1)) != CLI_OK)
            return rc;
        snprintf(src->train, sizeof src->train, "%s", b1);
        snprintf(src->valid, sizeof src->valid, "%s", b2);
        return CLI_OK;
    }
    if ((rc = need_data(cmd, path, !given)) != CLI_OK)
        return rc;
    snprintf(src->train, sizeof src->train, "%s", path);
    if (vfile) {
        if ((rc = need_data(cmd, vfile, 0)) != CLI_OK)
            return rc;
        snprintf(src->valid, sizeof src->valid, "%s", vfile);
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
    if ((rc = resolve_data_paths(cmd, data, default_dir || is_dir(data), given, vfile, "pretrain_train.txt",
                                 "pretrain_valid.txt", src)) != CLI_OK)
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
static int load_task(const char *cmd, const cli_opt *opts, lsc_task *train, lsc_task *valid,
                     training_data_src *src)
{
    lsc_error err = {0};
    char b1[PATH_MAX + 64];
    const char *file = cli_get(opts, "task-file") ? cli_get(opts, "task-file") : cli_get(opts, "data");
    const char *vfile = cli_get(opts, "task-valid");
    int given = file != NULL, rc;
    memset(train, 0, sizeof *train);
    memset(valid, 0, sizeof *valid);
    memset(src, 0, sizeof *src);
    if (!file)
        file = data_path("data/tasks", b1, sizeof b1);
    if ((rc = resolve_data_paths(cmd, file, !given || is_dir(file), given, vfile, "supersense_train.tsv",
                                 "supersense_valid.tsv", src)) != CLI_OK)
        return rc;
    if (src->valid[0]) {
        if (lsc_task_load(train, src->train, NULL, &err) != LSC_OK ||
            lsc_task_load(valid, src->valid, train, &err) != LSC_OK)
            goto fail;
        return CLI_OK;
    }
    lsc_task all;
    if (lsc_task_load(&all, src->train, NULL, &err) != LSC_OK)
        goto fail;
    rc = lsc_task_split(&all, train, valid, &err);
    lsc_task_free(&all);
    if (rc != LSC_OK)
        goto fail;
    if (valid->n == 0 || train->n == 0) {
        lsc_task_free(train);
        lsc_task_free(valid);
        return cli_error(cmd, CLI_FAIL, "%s: the hash split leaves an empty train or validation part", src->train);
    }
    return CLI_OK;
fail:
    lsc_task_free(train);
    lsc_task_free(valid);
    return cli_lib_error(cmd, &err);
}

int training_data_load(const char *cmd, const cli_opt *opts, int is_ss, const char *def_file, training_data *d)
{
    memset(d, 0, sizeof *d);
    return is_ss ? load_task(cmd, opts, &d->ttrain, &d->tvalid, &d->src)
                 : load_lm(cmd, opts, def_file, &d->ctrain, &d->cvalid, &d->src);
}

void training_data_free(training_data *d)
{
    lsc_corpus_free(&d->ctrain);
    lsc_corpus_free(&d->cvalid);
    lsc_task_free(&d->ttrain);
    lsc_task_free(&d->tvalid);
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
        int in = t == LSC_LORA_FC_OUT ? 4 * mc->n_embd : mc->n_embd;
        int out = t == LSC_LORA_FC_IN ? 4 * mc->n_embd : mc->n_embd;
        int mx = in < out ? in : out;
        if (rank[t] > mx)
            return cli_error(cmd, CLI_USAGE, "rank %d for %s is above min(in, out) = %d of that weight", rank[t],
                             lsc_lora_target_name(t), mx);
    }
    return CLI_OK;
}
