/*
 * train_cmds.c — the model subcommands: `pretrain` (a base GPT on the
 * corpus), `train` (a LoRA adapter or full fine-tuning on a task, and
 * `train --synthetic`, the public throughput benchmark), `eval` (validation
 * loss, perplexity, supersense accuracy next to its baselines), `merge`
 * (W0 ± s·B·A into a safetensors model) and `generate` (sampled text).
 *
 * Each parses its options, calls the library (train.c, model.c, lora.c,
 * data.c), prints, and writes its outputs through temporary files + rename.
 * It deliberately holds no numerics: the loop, decoding, the FLOP and
 * memory models are lib/train.c's. Progress goes to stderr (redrawn with \r
 * on a terminal, plain lines otherwise), results to stdout.
 *
 * Vocabulary: B batch rows, T context (tokens per row), L layers, NH heads,
 * C channels, V vocabulary, r LoRA rank.
 */
#include <cblas.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <cJSON.h>

#include "cli.h"
#include "commands.h"

#define STATE_FILE "train_state.safetensors"
#define LOG_FILE   "train_log.h5"

// ---- shared helpers ----

/* SIGINT asks the running trainer to stop after the current step (its
 * checkpoint is then written); a second SIGINT kills as usual. */
static volatile sig_atomic_t interrupted_;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted_ = 1;
    signal(SIGINT, SIG_DFL);
}

/* --threads P for both OpenBLAS and OpenMP; default $OMP_NUM_THREADS when
 * set (so a script running jobs side by side keeps its share), else every
 * online core. Our OpenMP loops never call BLAS, so P threads never
 * become P². */
static int set_threads(const cli_opt *opts, int *bad)
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

/* A data path: as given when it exists, else relative to the program
 * (<exe>/../../<rel>, the build tree) when found there. */
static const char *data_path(const char *rel, char *buf, size_t n)
{
    if (access(rel, R_OK) == 0 || rel[0] == '/')
        return rel;
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
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

static void fmt_time(double s, char *buf, size_t n)
{
    if (!(s >= 0) || s > 1e8)
        s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

/* text + "\n" to path through "<path>.tmp.<pid>" + rename; 0 or -1 (errno). */
static int write_text_atomic(const char *path, const char *text)
{
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *fp = fopen(tmp, "w");
    if (!fp)
        return -1;
    int ok = fputs(text, fp) >= 0 && fputc('\n', fp) != EOF;
    ok = (fclose(fp) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

typedef struct progress {
    const char *cmd;
    int    tty;        /* stderr is a terminal: redraw in place */
    int    quiet;
    long   every;      /* plain-line interval in steps */
    long   stop_at;    /* stop after this step (0: never) */
    double last_draw;
    int    drawn;      /* a \r line is on screen */
} progress;

static void progress_init(progress *p, const char *cmd, long steps, long stop_at, int quiet)
{
    memset(p, 0, sizeof *p);
    p->cmd = cmd;
    p->tty = isatty(STDERR_FILENO);
    p->quiet = quiet;
    p->every = steps >= 20 ? steps / 20 : 1;
    p->stop_at = stop_at;
}

static void progress_end(progress *p)
{
    if (p->drawn)
        fputc('\n', stderr);
    p->drawn = 0;
}

static int progress_cb(void *ctx, const lsc_train_status *st)
{
    progress *p = ctx;
    int stop = interrupted_ || (p->stop_at > 0 && st->step >= p->stop_at);
    if (p->quiet)
        return stop;
    char eta[32];
    fmt_time(st->eta_s, eta, sizeof eta);
    if (st->is_eval) {
        if (p->drawn)
            fputs("\r\033[K", stderr);
        p->drawn = 0;
        fprintf(stderr, "step %ld/%ld  val_loss %.4f  (ppl %.3f)\n", st->step, st->steps, st->val_loss,
                exp(st->val_loss));
        return stop;
    }
    double now = cli_now();
    int last = st->step == st->steps || stop;
    if (p->tty) {
        if (!last && now - p->last_draw < 0.1)
            return stop;
        fprintf(stderr, "\rstep %ld/%ld  loss %.4f  lr %.2e  %.0f tok/s  ETA %s\033[K", st->step, st->steps,
                st->loss, st->lr, st->tokens_per_s, eta);
        p->drawn = 1;
        p->last_draw = now;
    } else if (st->step % p->every == 0 || last || st->step == 1) {
        fprintf(stderr, "step %ld/%ld  loss %.4f  lr %.2e  %.0f tok/s  ETA %s\n", st->step, st->steps, st->loss,
                st->lr, st->tokens_per_s, eta);
    }
    fflush(stderr);
    return stop;
}

/* mkdir DIR if missing (one level); error if it exists as a non-directory. */
static int ensure_dir(const char *cmd, const char *dir)
{
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode))
            return cli_error(cmd, CLI_FAIL, "%s: exists and is not a directory", dir);
        return CLI_OK;
    }
    if (mkdir(dir, 0755) != 0)
        return cli_error(cmd, CLI_FAIL, "%s: cannot create directory: %s", dir, strerror(errno));
    return CLI_OK;
}

static int parse_schedule(const cli_opt *opts, lsc_lr_schedule *s, int *bad)
{
    const char *v = cli_get(opts, "schedule");
    if (v && lsc_lr_schedule_parse(v, s) != LSC_OK) {
        fprintf(stderr, "lorascope: --schedule must be cosine, linear or constant (got '%s')\n", v);
        *bad = 1;
    }
    return 0;
}

/* Writes the training log: /train/{loss,lr,grad_norm,step_ms} per step,
 * /valid/{step,loss} per validation, root provenance + every parameter, and
 * extra result attributes on /. */
typedef struct log_extra {
    const char *name;
    double      value;
} log_extra;

static int write_train_log(const char *path, const lsc_trainer *tr, const lsc_provenance *prov,
                           const log_extra *extra, int n_extra, lsc_error *err)
{
    lsc_h5 *h = NULL;
    int rc = lsc_h5_create(&h, path, err);
    if (rc != LSC_OK)
        return rc;
    size_t ns = (size_t)tr->step, ne = (size_t)tr->n_eval;
    double *steps = malloc((ne ? ne : 1) * sizeof *steps);
    double *vloss = malloc((ne ? ne : 1) * sizeof *vloss);
    if (!steps || !vloss) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", path);
        goto fail;
    }
    for (size_t i = 0; i < ne; i++) {
        steps[i] = (double)tr->eval_step[i];
        vloss[i] = tr->eval_loss[i];
    }
    if ((rc = lsc_h5_write_provenance(h, prov, err)) != LSC_OK)
        goto fail;
    if ((rc = lsc_h5_attr_str(h, "/", "lsc_format", "lorascope-train-log", err)) != LSC_OK)
        goto fail;
    if (ns > 0) {
        double *st = malloc(ns * sizeof *st);
        if (!st) {
            rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", path);
            goto fail;
        }
        for (size_t i = 0; i < ns; i++)
            st[i] = (double)(i + 1);
        rc = lsc_h5_write_f64(h, "/train/step", 1, &ns, st, err);
        free(st);
        if (rc != LSC_OK)
            goto fail;
        if ((rc = lsc_h5_write_f32(h, "/train/loss", 1, &ns, tr->log_loss, err)) != LSC_OK ||
            (rc = lsc_h5_write_f32(h, "/train/lr", 1, &ns, tr->log_lr, err)) != LSC_OK ||
            (rc = lsc_h5_write_f32(h, "/train/grad_norm", 1, &ns, tr->log_grad_norm, err)) != LSC_OK ||
            (rc = lsc_h5_write_f32(h, "/train/step_ms", 1, &ns, tr->log_step_ms, err)) != LSC_OK)
            goto fail;
        if ((rc = lsc_h5_attr_str(h, "/train/loss", "units", "nats per token (mean over masked positions)",
                                  err)) != LSC_OK)
            goto fail;
    }
    if (ne > 0) {
        if ((rc = lsc_h5_write_f64(h, "/val/step", 1, &ne, steps, err)) != LSC_OK ||
            (rc = lsc_h5_write_f64(h, "/val/loss", 1, &ne, vloss, err)) != LSC_OK)
            goto fail;
        if ((rc = lsc_h5_attr_int(h, "/val", "batches", tr->n_val, err)) != LSC_OK)
            goto fail;
    }
    if ((rc = lsc_h5_attr_double(h, "/", "train_wall_s", tr->wall_s, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, "/", "steps_done", tr->step, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, "/", "trainable_params", (long long)tr->n, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, "/", "model_params", (long long)(tr->model->num_parameters + tr->model->num_quantized), err)) != LSC_OK)
        goto fail;
    for (int i = 0; i < n_extra; i++)
        if ((rc = lsc_h5_attr_double(h, "/", extra[i].name, extra[i].value, err)) != LSC_OK)
            goto fail;
    free(steps);
    free(vloss);
    return lsc_h5_commit(h, err);
fail:
    free(steps);
    free(vloss);
    lsc_h5_abort(h);
    return rc;
}

/* Appends a parameter to a fixed array of lsc_h5_param. */
#define PAR_S(arr, n, nm, v) (arr)[(n)++] = (lsc_h5_param){.name = (nm), .type = LSC_H5_STR, .s = (v)}
#define PAR_I(arr, n, nm, v) (arr)[(n)++] = (lsc_h5_param){.name = (nm), .type = LSC_H5_INT, .i = (long long)(v)}
#define PAR_D(arr, n, nm, v) (arr)[(n)++] = (lsc_h5_param){.name = (nm), .type = LSC_H5_DOUBLE, .d = (v)}

static int add_opt_params(lsc_h5_param *par, int np, const lsc_gpt_config *mc, const lsc_train_config *tc,
                          long user_seed)
{
    PAR_I(par, np, "n_layer", mc->n_layer);
    PAR_I(par, np, "n_head", mc->n_head);
    PAR_I(par, np, "n_embd", mc->n_embd);
    PAR_I(par, np, "n_ctx", mc->n_ctx);
    PAR_I(par, np, "vocab_size", mc->vocab);
    PAR_I(par, np, "batch", tc->B);
    PAR_I(par, np, "ctx", tc->T);
    PAR_I(par, np, "steps", tc->steps);
    PAR_D(par, np, "lr", tc->opt.lr);
    PAR_D(par, np, "min_lr_frac", tc->opt.min_lr_frac);
    PAR_I(par, np, "warmup", tc->opt.warmup);
    PAR_S(par, np, "schedule", lsc_lr_schedule_name(tc->opt.schedule));
    PAR_D(par, np, "beta1", tc->opt.beta1);
    PAR_D(par, np, "beta2", tc->opt.beta2);
    PAR_D(par, np, "adam_eps", tc->opt.eps);
    PAR_D(par, np, "weight_decay", tc->opt.weight_decay);
    PAR_D(par, np, "grad_clip", tc->opt.grad_clip);
    PAR_I(par, np, "seed", user_seed);
    PAR_I(par, np, "eval_every", tc->eval_every);
    PAR_I(par, np, "eval_batches", tc->eval_batches);
    PAR_I(par, np, "eval_seed", (long long)tc->eval_seed);
    return np;
}

/* Seeds of one run, all derived from --seed: LoRA init, dropout, data. */
static void derive_seeds(uint64_t seed, uint64_t *init, uint64_t *train, uint64_t *data)
{
    uint64_t s;
    lsc_rng_seed(&s, seed);
    *init = lsc_rng_u64(&s);
    *train = lsc_rng_u64(&s);
    *data = lsc_rng_u64(&s);
}

// ---- pretrain ----

static const char *PRETRAIN_USAGE =
    "usage: lorascope pretrain -o BASE.safetensors [--profile tiny|quick|paper]\n"
    "         [--layers L --heads NH --embd C --ctx T] [--steps N --batch B --lr LR --warmup K]\n"
    "         [--schedule cosine|linear|constant --weight-decay WD --clip G --seed S]\n"
    "         [--eval-every K --eval-batches N --ckpt-every K --threads P]\n"
    "         [--data FILE [--valid FILE]] [--resume] [--stop-at STEP] [--quiet]\n"
    "\n"
    "Trains a byte-level GPT base model (every weight trainable) and writes it as\n"
    "safetensors, with BASE.train_log.h5 (loss per step, validation loss at\n"
    "intervals, config, wall time) and BASE.train_state.safetensors (the checkpoint\n"
    "that --resume continues from, bit for bit).\n"
    "\n"
    "profiles (options given explicitly override them):\n"
    "  tiny   L2 NH2 C48  ctx64,  batch 8,  400 steps, lr 3e-3  seconds; data/fixtures/tiny.txt\n"
    "  quick  L4 NH4 C128 ctx128, batch 16, 1200 steps, lr 2e-3 a few minutes on 2 cores (default)\n"
    "  paper  L4 NH4 C256 ctx128, batch 16, 2000 steps, lr 1e-3 the base of the paper-style studies\n"
    "  all: warm-up 5%% of the steps, cosine decay to 10%% of lr, weight decay 0.1 on 2-D\n"
    "  weights, clipping at norm 1, validation every 10%% of the steps on 16 fixed batches.\n"
    "\n"
    "data: data/corpus/pretrain_train.txt and pretrain_valid.txt (from `make data`);\n"
    "--data FILE uses FILE split 90/10 at a paragraph boundary (or --valid FILE).\n"
    "--stop-at STEP stops after STEP steps leaving the checkpoint (Ctrl-C does too);\n"
    "run again with the same options and --resume to continue. --log FILE moves the log.\n"
    "--threads P: OpenBLAS and OpenMP threads (default $OMP_NUM_THREADS, else all cores).\n"
    "\n"
    "example:\n"
    "  lorascope pretrain --profile quick -o base.safetensors\n";

/* Where a run's data came from: the training file and, when the
 * validation part is its own file, that one (else ""). */
typedef struct data_src {
    char train[PATH_MAX + 64];
    char valid[PATH_MAX + 64];
} data_src;

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* sha256 of the data files (train, then valid if any) as one digest. */
static int data_sha(const data_src *d, char hex[65], lsc_error *err)
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
                              const char *train_name, const char *valid_name, data_src *src)
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

/* LM corpora. --data FILE: FILE split 90/10 at a paragraph boundary (or
 * --valid FILE); --data DIR: DIR/pretrain_{train,valid}.txt. Default:
 * def_file split 90/10 when given, else data/corpus/pretrain_*.txt. */
static int load_lm_data(const char *cmd, const cli_opt *opts, const char *def_file, lsc_corpus *train,
                        lsc_corpus *valid, data_src *src)
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

static void path_with_suffix(const char *out, const char *suffix, char *buf, size_t n)
{
    size_t len = strlen(out);
    const char *ext = ".safetensors";
    size_t el = strlen(ext);
    if (len > el && strcmp(out + len - el, ext) == 0)
        len -= el;
    snprintf(buf, n, "%.*s%s", (int)len, out, suffix);
}

int cmd_pretrain(int argc, char **argv)
{
    const char *cmd = "pretrain";
    cli_opt opts[] = {{"output", 1, NULL}, {"profile", 1, NULL}, {"layers", 1, NULL}, {"heads", 1, NULL},
                      {"embd", 1, NULL}, {"ctx", 1, NULL}, {"steps", 1, NULL}, {"batch", 1, NULL},
                      {"lr", 1, NULL}, {"warmup", 1, NULL}, {"schedule", 1, NULL}, {"weight-decay", 1, NULL},
                      {"clip", 1, NULL}, {"seed", 1, NULL}, {"eval-every", 1, NULL}, {"eval-batches", 1, NULL},
                      {"ckpt-every", 1, NULL}, {"threads", 1, NULL}, {"data", 1, NULL}, {"valid", 1, NULL},
                      {"resume", 0, NULL}, {"stop-at", 1, NULL}, {"quiet", 0, NULL}, {"log", 1, NULL},
                      {"help", 0, NULL}, {NULL, 0, NULL}};
    const char *pos[1];
    int npos, bad = 0;
    int rc = cli_parse(cmd, argc, argv, opts, pos, 0, &npos);
    if (rc != CLI_OK)
        return rc;
    if (cli_flag(opts, "help")) {
        fputs(PRETRAIN_USAGE, stdout);
        return CLI_OK;
    }
    const char *out = cli_get(opts, "output");
    if (!out)
        return cli_error(cmd, CLI_USAGE, "missing -o BASE.safetensors");
    const char *profile = cli_get(opts, "profile") ? cli_get(opts, "profile") : "quick";
    lsc_gpt_config mc;
    lsc_train_config tc;
    if (lsc_pretrain_profile(profile, &mc, &tc) != LSC_OK)
        return cli_error(cmd, CLI_USAGE, "unknown profile '%s' (tiny, quick or paper)", profile);
    long steps_given = cli_get(opts, "steps") != NULL;
    mc.n_layer = (int)cli_long(opts, "layers", mc.n_layer, &bad);
    mc.n_head = (int)cli_long(opts, "heads", mc.n_head, &bad);
    mc.n_embd = (int)cli_long(opts, "embd", mc.n_embd, &bad);
    mc.n_ctx = (int)cli_long(opts, "ctx", mc.n_ctx, &bad);
    tc.T = mc.n_ctx;
    tc.steps = cli_long(opts, "steps", tc.steps, &bad);
    tc.B = (int)cli_long(opts, "batch", tc.B, &bad);
    tc.opt.lr = cli_double(opts, "lr", tc.opt.lr, &bad);
    tc.opt.warmup = cli_long(opts, "warmup", steps_given ? tc.steps / 20 : tc.opt.warmup, &bad);
    parse_schedule(opts, &tc.opt.schedule, &bad);
    tc.opt.weight_decay = cli_double(opts, "weight-decay", tc.opt.weight_decay, &bad);
    tc.opt.grad_clip = cli_double(opts, "clip", tc.opt.grad_clip, &bad);
    long seed = cli_long(opts, "seed", 1, &bad);
    tc.eval_every = cli_long(opts, "eval-every", steps_given ? (tc.steps >= 10 ? tc.steps / 10 : 1) : tc.eval_every,
                             &bad);
    tc.eval_batches = (int)cli_long(opts, "eval-batches", tc.eval_batches, &bad);
    tc.ckpt_every = cli_long(opts, "ckpt-every", tc.eval_every, &bad);
    long stop_at = cli_long(opts, "stop-at", 0, &bad);
    int threads = set_threads(opts, &bad);
    if (bad)
        return cli_error(cmd, CLI_USAGE, "bad option value");
    if (tc.steps < 1 || tc.B < 1 || !(tc.opt.lr > 0) || tc.opt.warmup < 0 || tc.eval_batches < 0 ||
        tc.eval_every < 0 || tc.ckpt_every < 0)
        return cli_error(cmd, CLI_USAGE, "--steps, --batch and --lr must be positive; --warmup, --eval-every, "
                                         "--ckpt-every and --eval-batches >= 0");
    lsc_error err = {0};
    if (lsc_gpt_config_check(&mc, &err) != LSC_OK)
        return cli_error(cmd, CLI_USAGE, "%s", err.msg);
    uint64_t s_init, s_train, s_data;
    derive_seeds((uint64_t)seed, &s_init, &s_train, &s_data);
    tc.seed = s_train;
    tc.data_seed = s_data;
    tc.opt.steps = tc.steps;

    int is_tiny = strcmp(profile, "tiny") == 0;
    lsc_corpus train, valid;
    data_src src;
    rc = load_lm_data(cmd, opts, is_tiny ? "data/fixtures/tiny.txt" : NULL, &train, &valid, &src);
    if (rc != CLI_OK)
        return rc;
    if (train.n < (size_t)tc.T + 1 || valid.n < (size_t)tc.T + 1) {
        rc = cli_error(cmd, CLI_FAIL, "%s: too short for context %d (train %zu, valid %zu bytes)", src.train, tc.T,
                       train.n, valid.n);
        lsc_corpus_free(&train);
        lsc_corpus_free(&valid);
        return rc;
    }
    char state[PATH_MAX], logp[PATH_MAX], sha[65] = "";
    path_with_suffix(out, ".train_state.safetensors", state, sizeof state);
    if (cli_get(opts, "log"))
        snprintf(logp, sizeof logp, "%s", cli_get(opts, "log"));
    else
        path_with_suffix(out, ".train_log.h5", logp, sizeof logp);
    lsc_sha256 hs;
    lsc_sha256_init(&hs);
    lsc_sha256_update(&hs, train.bytes, train.n);
    lsc_sha256_update(&hs, valid.bytes, valid.n);
    lsc_sha256_final(&hs, sha);
    char cfgj[2048];
    snprintf(cfgj, sizeof cfgj,
             "{\"cmd\":\"pretrain\",\"n_layer\":%d,\"n_head\":%d,\"n_embd\":%d,\"n_ctx\":%d,\"batch\":%d,"
             "\"steps\":%ld,\"lr\":%.17g,\"warmup\":%ld,\"schedule\":\"%s\",\"weight_decay\":%.17g,\"clip\":%.17g,"
             "\"seed\":%ld,\"eval_every\":%ld,\"eval_batches\":%d,\"data_sha256\":\"%s\"}",
             mc.n_layer, mc.n_head, mc.n_embd, mc.n_ctx, tc.B, tc.steps, tc.opt.lr, tc.opt.warmup,
             lsc_lr_schedule_name(tc.opt.schedule), tc.opt.weight_decay, tc.opt.grad_clip, seed, tc.eval_every,
             tc.eval_batches, sha);
    tc.ckpt_path = state;
    tc.config_json = cfgj;

    lsc_gpt m;
    memset(&m, 0, sizeof m);
    lsc_trainer tr;
    memset(&tr, 0, sizeof tr);
    double t0 = cli_now();
    uint64_t irng = s_init;
    if (lsc_gpt_init(&m, &mc, &err) != LSC_OK) {
        rc = cli_lib_error(cmd, &err);
        goto done;
    }
    lsc_gpt_init_weights(&m, &irng);
    if (lsc_trainer_init(&tr, &m, NULL, &tc, lsc_corpus_batch, &train, lsc_corpus_batch, &valid, &err) != LSC_OK) {
        rc = cli_lib_error(cmd, &err);
        goto done;
    }
    if (cli_flag(opts, "resume")) {
        if (access(state, R_OK) != 0) {
            rc = cli_error(cmd, CLI_FAIL, "%s: no checkpoint to resume from", state);
            goto done;
        }
        if (lsc_trainer_resume(&tr, state, &err) != LSC_OK) {
            rc = cli_lib_error(cmd, &err);
            goto done;
        }
        if (!cli_flag(opts, "quiet"))
            fprintf(stderr, "resuming at step %ld/%ld from %s\n", tr.step, tc.steps, state);
    }
    if (!cli_flag(opts, "quiet"))
        fprintf(stderr, "pretrain: %s profile, L%d NH%d C%d ctx %d, %.2f M parameters, %ld steps of %d x %d tokens, "
                    "%d threads\n",
            profile, mc.n_layer, mc.n_head, mc.n_embd, mc.n_ctx, (double)m.num_parameters / 1e6, tc.steps, tc.B,
            tc.T, threads);
    progress pg;
    progress_init(&pg, cmd, tc.steps, stop_at, cli_flag(opts, "quiet"));
    signal(SIGINT, on_sigint);
    int trc = lsc_trainer_run(&tr, 0, progress_cb, &pg, &err);
    signal(SIGINT, SIG_DFL);
    progress_end(&pg);
    if (trc != LSC_OK) {
        rc = cli_lib_error(cmd, &err);
        goto done;
    }
    if (tr.step < tc.steps) {
        fprintf(stderr, "lorascope %s: stopped at step %ld/%ld; checkpoint %s (continue with --resume)\n", cmd,
                tr.step, tc.steps, state);
        rc = interrupted_ ? 130 : CLI_OK;
        goto done;
    }
    if (lsc_gpt_save(&m, out, &err) != LSC_OK) {
        rc = cli_lib_error(cmd, &err);
        goto done;
    }
    double vl = tr.n_eval ? tr.eval_loss[tr.n_eval - 1] : NAN;
    double uni = lsc_corpus_unigram_xent(&train, &valid);
    lsc_h5_param par[48];
    int np = add_opt_params(par, 0, &mc, &tc, seed);
    PAR_S(par, np, "profile", profile);
    PAR_I(par, np, "threads", threads);
    lsc_h5_input inp[] = {{"data", src.train}, {"data_valid", src.valid}};
    lsc_provenance prov = {cli_command_line(), NULL, cli_now() - t0, src.valid[0] ? 2 : 1, inp, np, par};
    log_extra ex[] = {{"final_val_loss", vl}, {"unigram_xent", uni}, {"peak_rss_mb", cli_peak_rss_mb()}};
    if (write_train_log(logp, &tr, &prov, ex, 3, &err) != LSC_OK) {
        rc = cli_lib_error(cmd, &err);
        goto done;
    }
    char wall[32];
    fmt_time(tr.wall_s, wall, sizeof wall);
    printf("wrote %s (%.2f M parameters): validation loss %.4f nats/byte (ppl %.3f; unigram %.4f) after %ld steps, "
           "training wall time %s\n",
           out, (double)m.num_parameters / 1e6, vl, exp(vl), uni, tr.step, wall);
    printf("log %s, checkpoint %s\n", logp, state);
    rc = CLI_OK;
done:
    lsc_trainer_free(&tr);
    lsc_gpt_free(&m);
    lsc_corpus_free(&train);
    lsc_corpus_free(&valid);
    return rc;
}

// ---- train ----

static const char *TRAIN_USAGE =
    "usage: lorascope train --base BASE.safetensors --task lm|supersense -o OUT\n"
    "         [--targets q,v --rank R --alpha A] [--rank-pattern q=8,v=4] [--rslora]\n"
    "         [--dropout P] [--init kaiming|gaussian] [--lora-layers 0,2,...]\n"
    "         [--steps N --batch B --ctx T --lr LR --warmup K --schedule cosine|linear|constant]\n"
    "         [--weight-decay WD --clip G --seed S --threads P --eval-every K --eval-batches N]\n"
    "         [--ckpt-every K] [--full] [--resume] [--stop-at STEP] [--quiet]\n"
    "         [--data FILE [--valid FILE]] [--task-file FILE [--task-valid FILE]] [--eval-limit N]\n"
    "         [--quant nf4 [--blocksize 64] [--no-double-quant] [--quant-targets q,k,v,o,fc_in,fc_out]]\n"
    "       lorascope train --synthetic --layers L --heads NH --embd C --ctx T --batch B\n"
    "         [--vocab V] --steps N [--warmup K] [--threads P] [--seed S]\n"
    "         (--rank R --targets q,v [--quant nf4 ...] | --full) [--json] [-o OUT]\n"
    "\n"
    "Fine-tunes a base model: a LoRA adapter on the chosen weights (only A and B\n"
    "are trained, the base stays frozen) or, with --full, every weight. OUT is a\n"
    "directory: a PEFT adapter (adapter_config.json, adapter_model.safetensors) or\n"
    "model.safetensors with --full, plus train_log.h5 (loss per step, validation\n"
    "loss at intervals, final metrics, config, wall time) and train_state.safetensors\n"
    "(the checkpoint --resume continues from, bit for bit).\n"
    "train_log.h5 (h5py-readable): /train/{step,loss,lr,grad_norm,step_ms} per step,\n"
    "/val/{step,loss} per validation; root attributes: every option, command, inputs with\n"
    "sha256, wall_time_s, train_wall_s, final_val_loss, and for supersense accuracy,\n"
    "label_loss, majority_baseline, suffix4_baseline.\n"
    "\n"
    "targets: q k v o fc_in fc_out (or q_proj ...); --rank R applies to each; --rank-pattern\n"
    "sets a rank per target (and adds it). Scaling alpha/r, or alpha/sqrt(r) with --rslora.\n"
    "defaults: --targets q,v --rank 8 --alpha 16 --dropout 0 --init kaiming; 1000 steps,\n"
    "batch 16, lr 1e-2 (LoRA) or 1e-3 (--full), warm-up 5%%, cosine to 10%%, clip 1,\n"
    "validation every 10%% of the steps on 16 fixed batches.\n"
    "tasks: lm = next-byte loss on data/corpus/pretrain_{train,valid}.txt (--data FILE splits\n"
    "FILE 90/10); supersense = WordNet noun -> lexicographer class on\n"
    "data/tasks/supersense_{train,valid}.tsv (--task-file FILE splits by the word hash),\n"
    "loss on the label bytes only; at the end, exact-match accuracy by greedy decoding on the\n"
    "validation items (--eval-limit N: the first N) next to the majority and suffix baselines.\n"
    "--full -o MODEL.safetensors writes the model file itself (state and log beside it);\n"
    "--log FILE moves train_log.h5. --stop-at STEP (or Ctrl-C) stops with a checkpoint;\n"
    "the same command with --resume continues exactly. --threads P: OpenBLAS and OpenMP\n"
    "threads (default $OMP_NUM_THREADS, else all cores).\n"
    "--quant nf4: QLoRA. The base's linear weights are frozen in 4-bit NormalFloat (bitsandbytes'\n"
    "NF4: blocks of --blocksize values, default 64, each with an absmax that is itself quantised\n"
    "to 8 bits unless --no-double-quant) and dequantised a tile at a time inside the forward and\n"
    "input-gradient passes; the fp32 weights are never held. A base written by `lorascope\n"
    "quantize` is recognised without the flag. `eval` and `merge` take the same flags.\n"
    "\n"
    "--synthetic: throughput benchmark on random tokens with a random-init model of the given\n"
    "shape (no --base, no data, no files unless -o). --warmup K untimed steps, then N timed\n"
    "steps; prints the median step time, tokens/s, GFLOP/s from the FLOP model of the step\n"
    "(forward 2 x matmul params x tokens + attention 4·T·C per token and layer; backward 2x\n"
    "forward for full, LoRA skips the weight-gradient GEMMs of frozen weights), peak RSS and\n"
    "the predicted memory; --json prints them as one JSON object on the last stdout line.\n"
    "\n"
    "examples:\n"
    "  lorascope train --base base.safetensors --task supersense --targets q,v --rank 8 -o ad8\n"
    "  lorascope train --synthetic --layers 4 --heads 4 --embd 256 --ctx 128 --batch 8 \\\n"
    "      --steps 20 --warmup 3 --rank 8 --targets q,v --json\n";

/* --targets and --rank-pattern into ranks per target. */
static int parse_targets(const char *cmd, const char *targets, long rank, const char *pattern,
                         int rank_out[LSC_LORA_NTARGETS])
{
    for (int t = 0; t < LSC_LORA_NTARGETS; t++)
        rank_out[t] = 0;
    char buf[512];
    if (targets) {
        snprintf(buf, sizeof buf, "%s", targets);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            int t = lsc_lora_target_parse(tok);
            if (t < 0)
                return cli_error(cmd, CLI_USAGE, "unknown target '%s' (q, k, v, o, fc_in, fc_out)", tok);
            rank_out[t] = (int)rank;
        }
    }
    if (pattern) {
        snprintf(buf, sizeof buf, "%s", pattern);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(tok, '=');
            if (!eq)
                return cli_error(cmd, CLI_USAGE, "--rank-pattern entry '%s' is not TARGET=RANK", tok);
            *eq = '\0';
            int t = lsc_lora_target_parse(tok);
            if (t < 0)
                return cli_error(cmd, CLI_USAGE, "unknown target '%s' in --rank-pattern", tok);
            char *end;
            long r = strtol(eq + 1, &end, 10);
            if (*end || end == eq + 1)
                return cli_error(cmd, CLI_USAGE, "--rank-pattern: '%s' is not a rank", eq + 1);
            if (r <= 0)
                return cli_error(cmd, CLI_USAGE, "rank must be >= 1 (got %ld for %s)", r, tok);
            rank_out[t] = (int)r;
        }
    }
    int any = 0;
    for (int t = 0; t < LSC_LORA_NTARGETS; t++)
        any |= rank_out[t] > 0;
    if (!any)
        return cli_error(cmd, CLI_USAGE, "no LoRA target selected (--targets q,v or --rank-pattern)");
    return CLI_OK;
}

static int parse_layers(const char *cmd, const char *s, int L, uint64_t *mask)
{
    *mask = 0;
    if (!s || strcmp(s, "all") == 0)
        return CLI_OK;
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *end;
        long l = strtol(tok, &end, 10);
        if (*end || end == tok || l < 0 || l >= L || l >= 64)
            return cli_error(cmd, CLI_USAGE, "--lora-layers: '%s' is not a layer of this model (0..%d)", tok, L - 1);
        *mask |= 1ull << l;
    }
    return CLI_OK;
}

/* Checks r against the model: r <= min(in, out) of each adapted weight. */
static int check_ranks(const char *cmd, const lsc_gpt_config *mc, const int rank[LSC_LORA_NTARGETS])
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

static double median_of(const float *x, long n)
{
    if (n <= 0)
        return NAN;
    float *c = malloc((size_t)n * sizeof *c);
    if (!c)
        return NAN;
    memcpy(c, x, (size_t)n * sizeof *c);
    for (long i = 1; i < n; i++) {   /* insertion sort: n is small */
        float v = c[i];
        long j = i;
        while (j > 0 && c[j - 1] > v) {
            c[j] = c[j - 1];
            j--;
        }
        c[j] = v;
    }
    double med = n % 2 ? c[n / 2] : 0.5 * ((double)c[n / 2 - 1] + (double)c[n / 2]);
    free(c);
    return med;
}

/* QLoRA (issue 6): --quant nf4 [--blocksize N] [--double-quant | --no-double-quant]
 * [--quant-targets T] into *qo; *on = 1 with --quant nf4. CLI_OK or a usage error. */
static int parse_quant(const char *cmd, const cli_opt *opts, int full, lsc_nf4_opts *qo, int *on)
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

static int train_synthetic(const cli_opt *opts)
{
    const char *cmd = "train";
    int bad = 0;
    lsc_gpt_config mc = {0};
    mc.n_layer = (int)cli_long(opts, "layers", 4, &bad);
    mc.n_head = (int)cli_long(opts, "heads", 4, &bad);
    mc.n_embd = (int)cli_long(opts, "embd", 256, &bad);
    mc.n_ctx = (int)cli_long(opts, "ctx", 128, &bad);
    mc.vocab = (int)cli_long(opts, "vocab", 256, &bad);
    int B = (int)cli_long(opts, "batch", 8, &bad);
    long N = cli_long(opts, "steps", 10, &bad), K = cli_long(opts, "warmup", 2, &bad);
    long seed = cli_long(opts, "seed", 1, &bad);
    int full = cli_flag(opts, "full");
    long rank = cli_long(opts, "rank", 8, &bad);
    double alpha = cli_double(opts, "alpha", 16.0, &bad);
    int threads = set_threads(opts, &bad);
    int as_json = cli_flag(opts, "json");
    const char *out = cli_get(opts, "output");
    if (bad)
        return cli_error(cmd, CLI_USAGE, "bad option value");
    if (cli_get(opts, "base") || cli_get(opts, "data") || cli_get(opts, "task-file") || cli_flag(opts, "resume"))
        return cli_error(cmd, CLI_USAGE, "--synthetic takes no --base, --data, --task-file or --resume");
    if (B < 1 || N < 1 || K < 0)
        return cli_error(cmd, CLI_USAGE, "--batch and --steps must be >= 1, --warmup >= 0");
    /* QLoRA (issue 6) */
    lsc_nf4_opts qo;
    int quant, qrc = parse_quant(cmd, opts, full, &qo, &quant);
    if (qrc != CLI_OK)
        return qrc;
    if (mc.vocab < 1)
        return cli_error(cmd, CLI_USAGE, "--vocab must be >= 1");
    lsc_error err = {0};
    if (lsc_gpt_config_check(&mc, &err) != LSC_OK)
        return cli_error(cmd, CLI_USAGE, "%s", err.msg);
    int rank_t[LSC_LORA_NTARGETS] = {0};
    if (!full) {
        if (rank <= 0)
            return cli_error(cmd, CLI_USAGE, "--rank must be >= 1 (got %ld)", rank);
        int rc = parse_targets(cmd, cli_get(opts, "targets") ? cli_get(opts, "targets") : "q,v", rank,
                               cli_get(opts, "rank-pattern"), rank_t);
        if (rc != CLI_OK)
            return rc;
        if ((rc = check_ranks(cmd, &mc, rank_t)) != CLI_OK)
            return rc;
    }
    uint64_t s_init, s_train, s_data;
    derive_seeds((uint64_t)seed, &s_init, &s_train, &s_data);
    lsc_train_config tc;
    lsc_train_config_default(&tc);
    tc.B = B;
    tc.T = mc.n_ctx;
    tc.steps = K + N;
    tc.opt.lr = cli_double(opts, "lr", 1e-4, &bad);
    tc.opt.schedule = LSC_LR_CONSTANT;
    tc.seed = s_train;
    tc.data_seed = s_data;
    tc.eval_batches = 0;
    lsc_synthetic syn = {mc.vocab};
    lsc_gpt m;
    memset(&m, 0, sizeof m);
    lsc_lora lo;
    memset(&lo, 0, sizeof lo);
    lsc_trainer tr;
    memset(&tr, 0, sizeof tr);
    int rc = CLI_FAIL;
    double t0 = cli_now();
    uint64_t irng = s_init;
    /* QLoRA (issue 6): the frozen weights are drawn and quantised one at a time, the
     * fp32 matrices never exist (same rng sequence as lsc_gpt_init_weights) */
    if (quant ? lsc_gpt_init_nf4(&m, &mc, &qo, &irng, &err) != LSC_OK : lsc_gpt_init(&m, &mc, &err) != LSC_OK)
        goto lib_fail;
    if (!quant)
        lsc_gpt_init_weights(&m, &irng);
    if (!full) {
        lsc_lora_config lc = {0};
        memcpy(lc.rank, rank_t, sizeof lc.rank);
        lc.alpha = alpha;
        lc.init = LSC_LORA_INIT_KAIMING;
        if (lsc_lora_init(&lo, &mc, &lc, &irng, &err) != LSC_OK)
            goto lib_fail;
    }
    if (lsc_trainer_init(&tr, &m, full ? NULL : &lo, &tc, lsc_synthetic_batch, &syn, NULL, NULL, &err) != LSC_OK)
        goto lib_fail;
    progress pg;
    progress_init(&pg, cmd, tc.steps, 0, as_json || cli_flag(opts, "quiet"));
    if (lsc_trainer_run(&tr, 0, progress_cb, &pg, &err) != LSC_OK) {
        progress_end(&pg);
        goto lib_fail;
    }
    progress_end(&pg);
    double wall = cli_now() - t0;
    const float *ms = tr.log_step_ms + K;
    double med = median_of(ms, N), mn = ms[0], mx = ms[0];
    for (long i = 1; i < N; i++) {
        mn = fmin(mn, ms[i]);
        mx = fmax(mx, ms[i]);
    }
    double tokens = (double)B * (double)mc.n_ctx;
    double flops = lsc_train_step_flops(&mc, full ? NULL : &lo, B, mc.n_ctx, full);
    double tps = tokens / (med * 1e-3), gflops = flops / (med * 1e-3) / 1e9;
    /* predicted memory by part, in MiB */
    double MB = 1.0 / (1024.0 * 1024.0);
    lsc_train_memory mem;
    double pred_mb = (double)lsc_train_predicted_bytes(&tr, &mem) * MB;
    double w_mb = (double)mem.weights * MB, g_mb = (double)mem.grads * MB, o_mb = (double)mem.moments * MB;
    double a_mb = (double)mem.activations * MB;
    double rss = cli_peak_rss_mb();
    if (out) {
        rc = ensure_dir(cmd, out);
        if (rc != CLI_OK)
            goto done;
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/model.safetensors", out);
        if (full ? lsc_gpt_save(&m, p, &err) : lsc_lora_save(&lo, "synthetic", out, &err))
            goto lib_fail;
        lsc_h5_param par[48];
        int np = add_opt_params(par, 0, &mc, &tc, seed);
        PAR_S(par, np, "mode", full ? "full" : "lora");
        PAR_I(par, np, "synthetic", 1);
        PAR_S(par, np, "quant", quant ? "nf4" : "none");   /* QLoRA (issue 6) */
        PAR_I(par, np, "threads", threads);
        PAR_I(par, np, "timed_steps", N);
        PAR_I(par, np, "warmup_steps", K);
        lsc_provenance prov = {cli_command_line(), NULL, wall, 0, NULL, np, par};
        log_extra ex[] = {{"step_ms_median", med}, {"tokens_per_s", tps}, {"gflops", gflops},
                          {"peak_rss_mb", rss}, {"predicted_mb", pred_mb}};
        snprintf(p, sizeof p, "%s/%s", out, LOG_FILE);
        if (write_train_log(p, &tr, &prov, ex, 5, &err) != LSC_OK)
            goto lib_fail;
    }
    /* QLoRA (issue 6): the base weights as held (fp32 buffer + NF4 data + tile) */
    lsc_gpt_bytes wb;
    size_t wtot = lsc_gpt_weight_bytes(&m, &wb), n_base = m.num_parameters + m.num_quantized;
    printf("synthetic %s: L%d NH%d C%d T%d B%d V%d, %zu trainable of %zu parameters, %d threads\n",
           full ? "full fine-tuning" : quant ? "QLoRA (NF4 base)" : "LoRA", mc.n_layer, mc.n_head, mc.n_embd,
           mc.n_ctx, B, mc.vocab, tr.n, n_base, threads);
    if (quant)
        printf("base weights: %.1f MiB as held (NF4 %.1f, fp32 %.1f, tile %.1f) vs %.1f MiB in fp32 (%.3fx); "
               "%.4f bits per quantised parameter\n", (double)wtot * MB, (double)wb.nf4 * MB, (double)wb.fp32 * MB,
               (double)wb.tile * MB, (double)n_base * 4 * MB, (double)wtot / ((double)n_base * 4),
               8.0 * (double)wb.nf4 / (double)m.num_quantized);
    printf("step %.2f ms median (min %.2f, max %.2f) over %ld steps after %ld warm-up; %.0f tokens/s; %.2f GFLOP/s "
           "(%.3f GFLOP/step)\n",
           med, mn, mx, N, K, tps, gflops, flops / 1e9);
    printf("memory: peak RSS %.1f MiB, predicted %.1f MiB (weights %.1f, grads %.1f, moments %.1f, activations %.1f)\n",
           rss, pred_mb, w_mb, g_mb, o_mb, a_mb);
    if (as_json)
        printf("{\"mode\":\"%s\",\"layers\":%d,\"heads\":%d,\"embd\":%d,\"ctx\":%d,\"batch\":%d,\"vocab\":%d,"
               "\"threads\":%d,\"steps\":%ld,\"warmup\":%ld,\"trainable_params\":%zu,\"model_params\":%zu,"
               "\"quant\":\"%s\",\"blocksize\":%d,\"double_quant\":%d,\"base_weight_bytes\":%zu,"
               "\"base_fp32_bytes\":%zu,\"base_nf4_bytes\":%zu,\"base_tile_bytes\":%zu,\"base_fp32_equiv_bytes\":%zu,"
               "\"tokens_per_s\":%.6g,\"step_ms_median\":%.6g,\"step_ms_min\":%.6g,\"step_ms_max\":%.6g,"
               "\"flops_per_step\":%.6g,\"gflops\":%.6g,\"peak_rss_mb\":%.6g,\"predicted_mb\":%.6g,"
               "\"predicted_weights_mb\":%.6g,\"predicted_grads_mb\":%.6g,\"predicted_moments_mb\":%.6g,"
               "\"predicted_activations_mb\":%.6g,\"loss_first\":%.6g,\"loss_last\":%.6g,\"wall_s\":%.6g,"
               "\"n_params\":%zu,\"n_trainable\":%zu,\"mem_predicted_mb\":%.6g}\n",
               full ? "full" : "lora", mc.n_layer, mc.n_head, mc.n_embd, mc.n_ctx, B, mc.vocab, threads, N, K,
               tr.n, n_base, quant ? "nf4" : "none", quant ? qo.blocksize : 0, quant ? qo.double_quant : 0, wtot,
               wb.fp32, wb.nf4, wb.tile, n_base * sizeof(float), tps, med, mn, mx, flops, gflops, rss, pred_mb, w_mb, g_mb, o_mb, a_mb,
               (double)tr.log_loss[0], (double)tr.log_loss[tr.step - 1], wall, n_base, tr.n, pred_mb);
    rc = CLI_OK;
    goto done;
lib_fail:
    rc = cli_lib_error(cmd, &err);
done:
    lsc_trainer_free(&tr);
    lsc_lora_free(&lo);
    lsc_gpt_free(&m);
    return rc;
}

/* The supersense task. --task-file (or --data) FILE: split by the word
 * hash unless --task-valid FILE; a directory: DIR/supersense_{train,
 * valid}.tsv. Default data/tasks. */
static int load_task_data(const char *cmd, const cli_opt *opts, lsc_task *train, lsc_task *valid, data_src *src)
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

int cmd_train(int argc, char **argv)
{
    const char *cmd = "train";
    cli_opt opts[] = {{"output", 1, NULL}, {"base", 1, NULL}, {"task", 1, NULL}, {"targets", 1, NULL},
                      {"rank", 1, NULL}, {"alpha", 1, NULL}, {"rank-pattern", 1, NULL}, {"rslora", 0, NULL},
                      {"dropout", 1, NULL}, {"init", 1, NULL}, {"lora-layers", 1, NULL}, {"steps", 1, NULL},
                      {"batch", 1, NULL}, {"ctx", 1, NULL}, {"lr", 1, NULL}, {"warmup", 1, NULL},
                      {"schedule", 1, NULL}, {"weight-decay", 1, NULL}, {"clip", 1, NULL}, {"seed", 1, NULL},
                      {"threads", 1, NULL}, {"eval-every", 1, NULL}, {"eval-batches", 1, NULL},
                      {"ckpt-every", 1, NULL}, {"full", 0, NULL}, {"resume", 0, NULL}, {"stop-at", 1, NULL},
                      {"quiet", 0, NULL}, {"data", 1, NULL}, {"valid", 1, NULL}, {"task-file", 1, NULL},
                      {"task-valid", 1, NULL}, {"eval-limit", 1, NULL}, {"synthetic", 0, NULL},
                      {"layers", 1, NULL}, {"heads", 1, NULL}, {"embd", 1, NULL}, {"vocab", 1, NULL},
                      {"json", 0, NULL}, {"log", 1, NULL}, {"quant", 1, NULL}, {"blocksize", 1, NULL},
                      {"double-quant", 0, NULL}, {"no-double-quant", 0, NULL}, {"quant-targets", 1, NULL},
                      {"help", 0, NULL}, {NULL, 0, NULL}};   /* quant..quant-targets: QLoRA (issue 6) */
    const char *pos[1];
    int npos, bad = 0;
    int rc = cli_parse(cmd, argc, argv, opts, pos, 0, &npos);
    if (rc != CLI_OK)
        return rc;
    if (cli_flag(opts, "help")) {
        fputs(TRAIN_USAGE, stdout);
        return CLI_OK;
    }
    if (cli_flag(opts, "synthetic"))
        return train_synthetic(opts);
    if (cli_get(opts, "layers") || cli_get(opts, "heads") || cli_get(opts, "embd") || cli_get(opts, "vocab") ||
        cli_flag(opts, "json"))
        return cli_error(cmd, CLI_USAGE, "--layers/--heads/--embd/--vocab/--json belong to --synthetic; "
                                         "the shape comes from --base");
    const char *base = cli_get(opts, "base"), *out = cli_get(opts, "output");
    const char *task = cli_get(opts, "task") ? cli_get(opts, "task") : "lm";
    if (!base)
        return cli_error(cmd, CLI_USAGE, "missing --base BASE.safetensors");
    if (!out)
        return cli_error(cmd, CLI_USAGE, "missing -o OUT (the output directory)");
    int is_ss = strcmp(task, "supersense") == 0;
    if (!is_ss && strcmp(task, "lm") != 0)
        return cli_error(cmd, CLI_USAGE, "unknown task '%s' (lm or supersense)", task);
    int full = cli_flag(opts, "full");
    long rank = cli_long(opts, "rank", 8, &bad);
    double alpha = cli_double(opts, "alpha", 16.0, &bad);
    double dropout = cli_double(opts, "dropout", 0.0, &bad);
    const char *init = cli_get(opts, "init") ? cli_get(opts, "init") : "kaiming";
    long seed = cli_long(opts, "seed", 1, &bad);
    long stop_at = cli_long(opts, "stop-at", 0, &bad);
    long eval_limit = cli_long(opts, "eval-limit", 0, &bad);
    int threads = set_threads(opts, &bad);
    lsc_train_config tc;
    lsc_train_config_default(&tc);
    tc.steps = cli_long(opts, "steps", 1000, &bad);
    tc.B = (int)cli_long(opts, "batch", 16, &bad);
    tc.opt.lr = cli_double(opts, "lr", full ? 1e-3 : 1e-2, &bad);
    tc.opt.warmup = cli_long(opts, "warmup", tc.steps / 20, &bad);
    parse_schedule(opts, &tc.opt.schedule, &bad);
    tc.opt.min_lr_frac = 0.1;
    tc.opt.weight_decay = cli_double(opts, "weight-decay", 0.0, &bad);
    tc.opt.grad_clip = cli_double(opts, "clip", 1.0, &bad);
    tc.eval_every = cli_long(opts, "eval-every", tc.steps >= 10 ? tc.steps / 10 : 1, &bad);
    tc.eval_batches = (int)cli_long(opts, "eval-batches", 16, &bad);
    tc.ckpt_every = cli_long(opts, "ckpt-every", tc.eval_every, &bad);
    if (bad)
        return cli_error(cmd, CLI_USAGE, "bad option value");
    if (tc.steps < 1 || tc.B < 1 || tc.opt.warmup < 0 || tc.eval_every < 0 || tc.eval_batches < 0 ||
        tc.ckpt_every < 0)
        return cli_error(cmd, CLI_USAGE, "--steps and --batch must be >= 1; --warmup, --eval-every, --ckpt-every, "
                                         "--eval-batches >= 0");
    if (!(tc.opt.lr > 0) || !isfinite(tc.opt.lr))
        return cli_error(cmd, CLI_USAGE, "--lr must be a positive number");
    int init_kind = strcmp(init, "kaiming") == 0 ? LSC_LORA_INIT_KAIMING
                    : strcmp(init, "gaussian") == 0 ? LSC_LORA_INIT_GAUSSIAN : -1;
    int rank_t[LSC_LORA_NTARGETS] = {0};
    if (!full) {
        if (init_kind < 0)
            return cli_error(cmd, CLI_USAGE, "--init must be kaiming or gaussian (got '%s')", init);
        if (rank <= 0)
            return cli_error(cmd, CLI_USAGE, "--rank must be >= 1 (got %ld)", rank);
        if (!(alpha > 0))
            return cli_error(cmd, CLI_USAGE, "--alpha must be > 0");
        if (!(dropout >= 0 && dropout < 1))
            return cli_error(cmd, CLI_USAGE, "--dropout must be in [0, 1)");
        if ((rc = parse_targets(cmd, cli_get(opts, "targets") ? cli_get(opts, "targets")
                                     : cli_get(opts, "rank-pattern") ? NULL : "q,v",
                                rank, cli_get(opts, "rank-pattern"), rank_t)) != CLI_OK)
            return rc;
    } else if (cli_get(opts, "targets") || cli_get(opts, "rank-pattern") || cli_get(opts, "rank")) {
        return cli_error(cmd, CLI_USAGE, "--full trains every weight: no --targets, --rank or --rank-pattern");
    }

    /* QLoRA (issue 6) */
    lsc_nf4_opts qo;
    int quant;
    if ((rc = parse_quant(cmd, opts, full, &qo, &quant)) != CLI_OK)
        return rc;
    lsc_error err = {0};
    lsc_gpt m;
    memset(&m, 0, sizeof m);
    lsc_lora lo;
    memset(&lo, 0, sizeof lo);
    lsc_trainer tr;
    memset(&tr, 0, sizeof tr);
    lsc_corpus ctrain, cvalid;
    memset(&ctrain, 0, sizeof ctrain);
    memset(&cvalid, 0, sizeof cvalid);
    lsc_task ttrain, tvalid;
    memset(&ttrain, 0, sizeof ttrain);
    memset(&tvalid, 0, sizeof tvalid);
    double t0 = cli_now();
    struct stat sb;
    if (stat(base, &sb) != 0)
        return cli_error(cmd, CLI_FAIL, "%s: no such file (make one with `lorascope pretrain`)", base);
    /* QLoRA (issue 6): quantise while loading; an NF4 file is recognised by lsc_gpt_load itself */
    if ((quant ? lsc_gpt_load_nf4(&m, base, &qo, &err) : lsc_gpt_load(&m, base, &err)) != LSC_OK)
        return cli_lib_error(cmd, &err);
    if (full && m.quant_targets) {
        lsc_gpt_free(&m);
        return cli_error(cmd, CLI_USAGE, "%s holds NF4 weights (a QLoRA base): --full needs an fp32 base", base);
    }
    const lsc_gpt_config mc = m.config;
    data_src src;
    if (!full && ((rc = check_ranks(cmd, &mc, rank_t)) != CLI_OK))
        goto done;
    uint64_t layer_mask = 0;
    if (!full && (rc = parse_layers(cmd, cli_get(opts, "lora-layers"), mc.n_layer, &layer_mask)) != CLI_OK)
        goto done;
    rc = is_ss ? load_task_data(cmd, opts, &ttrain, &tvalid, &src)
               : load_lm_data(cmd, opts, NULL, &ctrain, &cvalid, &src);
    if (rc != CLI_OK)
        goto done;
    /* context: the model's (LM), or just enough for the longest item
     * rounded up to 8 (supersense); never above the model's n_ctx */
    int def_T = mc.n_ctx;
    if (is_ss) {
        int need = (ttrain.max_example > tvalid.max_example ? ttrain.max_example : tvalid.max_example);
        def_T = ((need + 7) / 8) * 8;
        if (def_T < 32)
            def_T = 32;
        if (def_T > mc.n_ctx)
            def_T = mc.n_ctx;
    }
    long T = cli_long(opts, "ctx", def_T, &bad);
    if (T < 1) {
        rc = cli_error(cmd, CLI_USAGE, "--ctx must be >= 1");
        goto done;
    }
    if (T > mc.n_ctx) {
        rc = cli_error(cmd, CLI_USAGE, "--ctx %ld is above the base model's context n_ctx = %d (%s)", T, mc.n_ctx,
                       base);
        goto done;
    }
    if (is_ss && T + 1 < ttrain.max_example) {
        rc = cli_error(cmd, CLI_FAIL, "%s: items need a context of %d tokens, the model has %d", src.train,
                       ttrain.max_example - 1, (int)T);
        goto done;
    }
    if (!is_ss && (ctrain.n < (size_t)T + 1 || cvalid.n < (size_t)T + 1)) {
        rc = cli_error(cmd, CLI_FAIL, "%s: too short for context %ld", src.train, T);
        goto done;
    }
    tc.T = (int)T;
    uint64_t s_init, s_train, s_data;
    derive_seeds((uint64_t)seed, &s_init, &s_train, &s_data);
    tc.seed = s_train;
    tc.data_seed = s_data;
    tc.opt.steps = tc.steps;

    /* OUT is a directory, except --full -o MODEL.safetensors: the model
     * file, with its state and log beside it */
    char state[PATH_MAX], logp[PATH_MAX], modelp[PATH_MAX], base_sha[65], dsha[65];
    size_t outlen = strlen(out);
    int out_file = full && outlen > 12 && strcmp(out + outlen - 12, ".safetensors") == 0;
    if (out_file) {
        snprintf(modelp, sizeof modelp, "%s", out);
        path_with_suffix(out, ".train_state.safetensors", state, sizeof state);
        path_with_suffix(out, ".train_log.h5", logp, sizeof logp);
    } else {
        if ((rc = ensure_dir(cmd, out)) != CLI_OK)
            goto done;
        snprintf(state, sizeof state, "%s/%s", out, STATE_FILE);
        snprintf(logp, sizeof logp, "%s/%s", out, LOG_FILE);
        snprintf(modelp, sizeof modelp, "%s/model.safetensors", out);
    }
    if (cli_get(opts, "log"))
        snprintf(logp, sizeof logp, "%s", cli_get(opts, "log"));
    if (lsc_sha256_file(base, base_sha, &err) != LSC_OK || data_sha(&src, dsha, &err) != LSC_OK) {
        rc = cli_lib_error(cmd, &err);
        goto done;
    }
    char ranks[160] = "";
    for (int t = 0, k = 0; t < LSC_LORA_NTARGETS; t++)
        if (rank_t[t] > 0)
            k += snprintf(ranks + k, sizeof ranks - (size_t)k, "%s%s=%d", k ? "," : "", lsc_lora_target_name(t),
                          rank_t[t]);
    char cfgj[2048];
    snprintf(cfgj, sizeof cfgj,
             "{\"cmd\":\"train\",\"base_sha256\":\"%s\",\"data_sha256\":\"%s\",\"task\":\"%s\",\"full\":%d,"
             "\"ranks\":\"%s\",\"alpha\":%.17g,\"rslora\":%d,\"dropout\":%.17g,\"init\":\"%s\",\"layers\":%llu,"
             "\"batch\":%d,\"ctx\":%d,\"steps\":%ld,\"lr\":%.17g,\"warmup\":%ld,\"schedule\":\"%s\","
             "\"weight_decay\":%.17g,\"clip\":%.17g,\"seed\":%ld,\"eval_every\":%ld,\"eval_batches\":%d}",
             base_sha, dsha, task, full, ranks, alpha, cli_flag(opts, "rslora"), dropout, init,
             (unsigned long long)layer_mask, tc.B, tc.T, tc.steps, tc.opt.lr, tc.opt.warmup,
             lsc_lr_schedule_name(tc.opt.schedule), tc.opt.weight_decay, tc.opt.grad_clip, seed, tc.eval_every,
             tc.eval_batches);
    if (quant) {   /* QLoRA (issue 6): part of the run's identity, checked on --resume */
        size_t l = strlen(cfgj);
        snprintf(cfgj + l - 1, sizeof cfgj - (l - 1), ",\"quant\":\"nf4\",\"blocksize\":%d,\"double_quant\":%d,"
                 "\"quant_targets\":\"%s\"}", qo.blocksize, qo.double_quant,
                 qo.targets ? qo.targets : LSC_NF4_DEFAULT_TARGETS);
    }
    tc.ckpt_path = state;
    tc.config_json = cfgj;

    if (!full) {
        lsc_lora_config lc = {0};
        memcpy(lc.rank, rank_t, sizeof lc.rank);
        lc.alpha = alpha;
        lc.layer_mask = layer_mask;
        lc.dropout = dropout;
        lc.rslora = cli_flag(opts, "rslora");
        lc.init = init_kind;
        uint64_t irng = s_init;
        if (lsc_lora_init(&lo, &mc, &lc, &irng, &err) != LSC_OK) {
            rc = cli_lib_error(cmd, &err);
            goto done;
        }
    }
    lsc_batch_fn fn = is_ss ? lsc_task_batch : lsc_corpus_batch;
    void *tctx = is_ss ? (void *)&ttrain : (void *)&ctrain, *vctx = is_ss ? (void *)&tvalid : (void *)&cvalid;
    if (lsc_trainer_init(&tr, &m, full ? NULL : &lo, &tc, fn, tctx, fn, vctx, &err) != LSC_OK) {
        rc = cli_lib_error(cmd, &err);
        goto done;
    }
    if (cli_flag(opts, "resume")) {
        if (access(state, R_OK) != 0) {
            rc = cli_error(cmd, CLI_FAIL, "%s: no checkpoint to resume from", state);
            goto done;
        }
        if (lsc_trainer_resume(&tr, state, &err) != LSC_OK) {
            rc = cli_lib_error(cmd, &err);
            goto done;
        }
        if (!cli_flag(opts, "quiet"))
            fprintf(stderr, "resuming at step %ld/%ld from %s\n", tr.step, tc.steps, state);
    }
    if (!cli_flag(opts, "quiet"))
        fprintf(stderr, "train: %s on %s, %s, %zu trainable of %zu parameters, %ld steps of %d x %d tokens, %d threads\n",
            full ? "full fine-tuning" : m.quant_targets ? "QLoRA (NF4 base)" : "LoRA", task, full ? "all weights" : ranks,
            tr.n, m.num_parameters + m.num_quantized, tc.steps,
            tc.B, tc.T, threads);
    progress pg;
    progress_init(&pg, cmd, tc.steps, stop_at, cli_flag(opts, "quiet"));
    signal(SIGINT, on_sigint);
    int trc = lsc_trainer_run(&tr, 0, progress_cb, &pg, &err);
    signal(SIGINT, SIG_DFL);
    progress_end(&pg);
    if (trc != LSC_OK) {
        rc = cli_lib_error(cmd, &err);
        goto done;
    }
    if (tr.step < tc.steps) {
        fprintf(stderr, "lorascope %s: stopped at step %ld/%ld; checkpoint %s (continue with --resume)\n", cmd,
                tr.step, tc.steps, state);
        rc = interrupted_ ? 130 : CLI_OK;
        goto done;
    }
    /* final metrics */
    double vl = tr.n_eval ? tr.eval_loss[tr.n_eval - 1] : NAN;
    log_extra ex[8];
    int nex = 0;
    ex[nex++] = (log_extra){"final_val_loss", vl};
    ex[nex++] = (log_extra){"final_val_ppl", exp(vl)};
    double acc = NAN, tloss = NAN;
    lsc_baselines bl = {0};
    if (is_ss) {
        if (lsc_task_eval(&m, &tvalid, (int)eval_limit, &acc, &tloss, NULL, &err) != LSC_OK ||
            lsc_task_baselines(&ttrain, &tvalid, 4, &bl, &err) != LSC_OK) {
            rc = cli_lib_error(cmd, &err);
            goto done;
        }
        ex[nex++] = (log_extra){"accuracy", acc};
        ex[nex++] = (log_extra){"label_loss", tloss};
        ex[nex++] = (log_extra){"majority_baseline", bl.majority};
        ex[nex++] = (log_extra){"suffix4_baseline", bl.suffix};
        ex[nex++] = (log_extra){"eval_items", (double)(eval_limit > 0 && eval_limit < tvalid.n ? eval_limit : tvalid.n)};
    }
    ex[nex++] = (log_extra){"peak_rss_mb", cli_peak_rss_mb()};
    if (full ? lsc_gpt_save(&m, modelp, &err) : lsc_lora_save(&lo, base, out, &err)) {
        rc = cli_lib_error(cmd, &err);
        goto done;
    }
    lsc_h5_param par[64];
    int np = add_opt_params(par, 0, &mc, &tc, seed);
    PAR_S(par, np, "task", task);
    PAR_S(par, np, "mode", full ? "full" : "lora");
    /* QLoRA (issue 6): how the base was held (an NF4 file counts as nf4 with its own settings) */
    PAR_S(par, np, "quant", m.quant_targets ? "nf4" : "none");
    if (m.quant_targets) {
        lsc_gpt_bytes wb;
        lsc_gpt_weight_bytes(&m, &wb);
        int tq = 0;
        while (!((m.quant_targets >> tq) & 1))
            tq++;
        PAR_I(par, np, "quant_blocksize", lsc_gpt_nf4(&m, 0, tq)->blocksize);
        PAR_I(par, np, "quant_double_quant", lsc_gpt_nf4(&m, 0, tq)->nested);
        PAR_I(par, np, "quant_targets_mask", m.quant_targets);
        PAR_D(par, np, "quant_bits_per_param", 8.0 * (double)wb.nf4 / (double)m.num_quantized);
    }
    PAR_I(par, np, "threads", threads);
    if (!full) {
        PAR_S(par, np, "ranks", ranks);
        PAR_I(par, np, "rank", rank);
        PAR_D(par, np, "alpha", alpha);
        PAR_I(par, np, "rslora", cli_flag(opts, "rslora"));
        PAR_D(par, np, "dropout", dropout);
        PAR_S(par, np, "init", init);
        PAR_I(par, np, "layer_mask", (long long)layer_mask);
    }
    lsc_h5_input inp[] = {{"base", base}, {"data", src.train}, {"data_valid", src.valid}};
    lsc_provenance prov = {cli_command_line(), NULL, cli_now() - t0, src.valid[0] ? 3 : 2, inp, np, par};
    if (write_train_log(logp, &tr, &prov, ex, nex, &err) != LSC_OK) {
        rc = cli_lib_error(cmd, &err);
        goto done;
    }
    char wall[32];
    fmt_time(tr.wall_s, wall, sizeof wall);
    printf("wrote %s (%s): validation loss %.4f (ppl %.3f) after %ld steps, training wall time %s\n",
           full ? modelp : out, full ? "full model" : "PEFT adapter", vl, exp(vl), tr.step, wall);
    if (is_ss)
        printf("supersense exact match %.2f%% on %d validation items (label loss %.4f); baselines: majority %.2f%%, "
               "4-letter suffix %.2f%%\n",
               100 * acc, eval_limit > 0 && eval_limit < tvalid.n ? (int)eval_limit : tvalid.n, tloss,
               100 * bl.majority, 100 * bl.suffix);
    rc = CLI_OK;
done:
    lsc_trainer_free(&tr);
    lsc_lora_free(&lo);
    lsc_gpt_free(&m);
    lsc_corpus_free(&ctrain);
    lsc_corpus_free(&cvalid);
    lsc_task_free(&ttrain);
    lsc_task_free(&tvalid);
    return rc;
}

// ---- eval ----

static const char *EVAL_USAGE =
    "usage: lorascope eval --base BASE.safetensors [--adapter DIR ...] [--task lm|supersense]\n"
    "         [--data FILE | --task-file FILE [--task-valid FILE]] [--ctx T --batch B]\n"
    "         [--windows N] [--limit N] [--threads P] [--json FILE|-]\n"
    "         [--quant nf4 [--blocksize 64] [--no-double-quant] [--quant-targets T]]\n"
    "\n"
    "Evaluates the base model and, one after another, each adapter on it (repeat\n"
    "--adapter, or list more directories after it). lm: mean next-byte loss\n"
    "(nats/byte) and perplexity over N windows of T bytes spread evenly over the\n"
    "validation text (--windows 0: every window; default 256). supersense: the loss\n"
    "on the label bytes and exact-match accuracy by greedy decoding of every\n"
    "validation item (--limit N: the first N), printed next to the majority-class\n"
    "and 4-letter-suffix baselines. --json FILE writes the results as one JSON object\n"
    "(the last model's val_loss, perplexity, accuracy, majority_accuracy,\n"
    "suffix_accuracy at the top level, every model under \"results\"); --json - prints\n"
    "it as the last stdout line. --quant nf4 evaluates on the base quantised to NF4 as\n"
    "`train --quant nf4` trains (QLoRA); an NF4 base file is recognised without it.\n"
    "\n"
    "example:\n"
    "  lorascope eval --base base.safetensors --adapter ad8 --task supersense\n";

static int eval_lm(lsc_gpt *m, const lsc_corpus *c, int T, int B, long windows, double *loss, lsc_error *err)
{
    size_t total = lsc_corpus_n_windows(c, T);
    size_t n = windows > 0 && (size_t)windows < total ? (size_t)windows : total;
    int rc;
    if (m->B_alloc < B || m->T_alloc < T)
        if ((rc = lsc_gpt_alloc_acts(m, B, T, err)) != LSC_OK)
            return rc;
    int *in = malloc((size_t)B * T * sizeof *in), *tg = malloc((size_t)B * T * sizeof *tg);
    float *mk = malloc((size_t)B * T * sizeof *mk);
    if (!in || !tg || !mk) {
        free(in);
        free(tg);
        free(mk);
        LSC_FAIL(err, LSC_ENOMEM, "eval: out of memory");
    }
    double sum = 0, wsum = 0;
    rc = LSC_OK;
    for (size_t i0 = 0; i0 < n; i0 += (size_t)B) {
        int nb = n - i0 < (size_t)B ? (int)(n - i0) : B;
        for (int b = 0; b < nb; b++) {
            /* window k of n spread evenly over all of them */
            size_t k = (size_t)(((double)(i0 + (size_t)b) * (double)total) / (double)n);
            lsc_corpus_window(c, k, T, in + (size_t)b * T, tg + (size_t)b * T, mk + (size_t)b * T);
        }
        if ((rc = lsc_gpt_forward(m, in, tg, mk, nb, T, NULL, err)) != LSC_OK)
            break;
        sum += (double)m->mean_loss * m->mask_sum;
        wsum += m->mask_sum;
    }
    free(in);
    free(tg);
    free(mk);
    *loss = wsum > 0 ? sum / wsum : NAN;
    return rc;
}

int cmd_eval(int argc, char **argv)
{
    const char *cmd = "eval";
    double t_start = cli_now();
    cli_opt opts[] = {{"base", 1, NULL}, {"adapter", 1, NULL}, {"task", 1, NULL}, {"data", 1, NULL},
                      {"valid", 1, NULL}, {"task-file", 1, NULL}, {"task-valid", 1, NULL}, {"ctx", 1, NULL},
                      {"batch", 1, NULL}, {"windows", 1, NULL}, {"limit", 1, NULL}, {"threads", 1, NULL},
                      {"json", 1, NULL}, {"quant", 1, NULL}, {"blocksize", 1, NULL}, {"double-quant", 0, NULL},
                      {"no-double-quant", 0, NULL}, {"quant-targets", 1, NULL}, {"help", 0, NULL},
                      {NULL, 0, NULL}};   /* quant..quant-targets: QLoRA (issue 6) */
    enum { MAXA = 64 };
    const char *pos[MAXA];
    int npos, bad = 0;
    int rc = cli_parse(cmd, argc, argv, opts, pos, MAXA, &npos);
    if (rc != CLI_OK)
        return rc;
    if (cli_flag(opts, "help")) {
        fputs(EVAL_USAGE, stdout);
        return CLI_OK;
    }
    /* every --adapter (repeated), then the extra positionals */
    const char *ads[2 * MAXA];
    int nad = 0;
    for (int i = 1; i < argc && nad < MAXA; i++) {
        if (strcmp(argv[i], "--adapter") == 0 && i + 1 < argc)
            ads[nad++] = argv[++i];
        else if (strncmp(argv[i], "--adapter=", 10) == 0)
            ads[nad++] = argv[i] + 10;
    }
    if (npos > 0 && nad == 0)
        return cli_error(cmd, CLI_USAGE, "unexpected argument '%s' (adapters follow --adapter)", pos[0]);
    for (int i = 0; i < npos; i++)
        ads[nad++] = pos[i];
    const char *base = cli_get(opts, "base");
    const char *task = cli_get(opts, "task") ? cli_get(opts, "task") : "lm";
    if (!base)
        return cli_error(cmd, CLI_USAGE, "missing --base BASE.safetensors");
    int is_ss = strcmp(task, "supersense") == 0;
    if (!is_ss && strcmp(task, "lm") != 0)
        return cli_error(cmd, CLI_USAGE, "unknown task '%s' (lm or supersense)", task);
    int B = (int)cli_long(opts, "batch", 32, &bad);
    long windows = cli_long(opts, "windows", 256, &bad), limit = cli_long(opts, "limit", 0, &bad);
    int threads = set_threads(opts, &bad);
    const char *json_path = cli_get(opts, "json");
    if (bad)
        return cli_error(cmd, CLI_USAGE, "bad option value");
    if (B < 1 || windows < 0 || limit < 0)
        return cli_error(cmd, CLI_USAGE, "--batch must be >= 1, --windows and --limit >= 0");
    (void)threads;
    lsc_nf4_opts qo;   /* QLoRA (issue 6) */
    int quant;
    if ((rc = parse_quant(cmd, opts, 0, &qo, &quant)) != CLI_OK)
        return rc;
    struct stat sb;
    if (stat(base, &sb) != 0)
        return cli_error(cmd, CLI_FAIL, "%s: no such file", base);
    for (int i = 0; i < nad; i++)
        if (stat(ads[i], &sb) != 0 || !S_ISDIR(sb.st_mode))
            return cli_error(cmd, CLI_FAIL, "%s: not an adapter directory", ads[i]);
    lsc_error err = {0};
    lsc_gpt m;
    if ((quant ? lsc_gpt_load_nf4(&m, base, &qo, &err) : lsc_gpt_load(&m, base, &err)) != LSC_OK)
        return cli_lib_error(cmd, &err);
    lsc_corpus ctrain, cvalid;
    lsc_task ttrain, tvalid;
    memset(&ctrain, 0, sizeof ctrain);
    memset(&cvalid, 0, sizeof cvalid);
    memset(&ttrain, 0, sizeof ttrain);
    memset(&tvalid, 0, sizeof tvalid);
    data_src src;
    rc = is_ss ? load_task_data(cmd, opts, &ttrain, &tvalid, &src)
               : load_lm_data(cmd, opts, NULL, &ctrain, &cvalid, &src);
    if (rc != CLI_OK) {
        lsc_gpt_free(&m);
        return rc;
    }
    long T = cli_long(opts, "ctx", m.config.n_ctx, &bad);
    lsc_baselines bl = {0};
    if (T < 1 || T > m.config.n_ctx) {
        rc = cli_error(cmd, CLI_USAGE, "--ctx %ld is outside 1..%d (the base model's n_ctx)", T, m.config.n_ctx);
        goto done;
    }
    if (is_ss && lsc_task_baselines(&ttrain, &tvalid, 4, &bl, &err) != LSC_OK) {
        rc = cli_lib_error(cmd, &err);
        goto done;
    }
    if (is_ss && lsc_gpt_alloc_acts(&m, B, tvalid.max_word + tvalid.max_label + 1, &err) != LSC_OK) {
        rc = cli_lib_error(cmd, &err);
        goto done;
    }
    int n_items = is_ss ? (limit > 0 && limit < tvalid.n ? (int)limit : tvalid.n) : 0;
    if (is_ss)
        printf("supersense: %d validation items from %s; baselines: majority class %.2f%%, 4-letter suffix %.2f%%\n",
               n_items, src.valid[0] ? src.valid : src.train, 100 * bl.majority, 100 * bl.suffix);
    else
        printf("lm: validation text %s (%zu bytes), context %ld\n", cvalid.path, cvalid.n, T);
    printf("%-40s %10s %10s%s\n", "model", "val_loss", "ppl", is_ss ? "   accuracy" : "");
    /* JSON: the last model evaluated (the last adapter, else the base) at
     * the top level, every model under "results" */
    cJSON *js = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    cJSON_AddStringToObject(js, "task", task);
    cJSON_AddStringToObject(js, "base", base);
    for (int a = -1; a < nad; a++) {
        lsc_lora lo;
        memset(&lo, 0, sizeof lo);
        const char *name = a < 0 ? base : ads[a];
        if (a >= 0) {
            if (lsc_lora_load(&lo, &m.config, ads[a], &err) != LSC_OK || lsc_gpt_set_lora(&m, &lo, &err) != LSC_OK) {
                lsc_lora_free(&lo);
                rc = cli_lib_error(cmd, &err);
                cJSON_Delete(js);
                cJSON_Delete(arr);
                goto done;
            }
        }
        double loss = NAN, acc = NAN;
        int erc = is_ss ? lsc_task_eval(&m, &tvalid, (int)limit, &acc, &loss, NULL, &err)
                        : eval_lm(&m, &cvalid, (int)T, B, windows, &loss, &err);
        lsc_gpt_set_lora(&m, NULL, &err);
        lsc_lora_free(&lo);
        if (erc != LSC_OK) {
            rc = cli_lib_error(cmd, &err);
            cJSON_Delete(js);
            cJSON_Delete(arr);
            goto done;
        }
        if (is_ss)
            printf("%-40s %10.4f %10.3f %9.2f%%\n", name, loss, exp(loss), 100 * acc);
        else
            printf("%-40s %10.4f %10.3f\n", name, loss, exp(loss));
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "model", a < 0 ? "base" : ads[a]);
        cJSON_AddNumberToObject(r, "val_loss", loss);
        cJSON_AddNumberToObject(r, "perplexity", exp(loss));
        if (is_ss)
            cJSON_AddNumberToObject(r, "accuracy", acc);
        cJSON_AddItemToArray(arr, r);
        if (a == nad - 1) {
            cJSON_AddStringToObject(js, "model", a < 0 ? "base" : ads[a]);
            if (a >= 0)
                cJSON_AddStringToObject(js, "adapter", ads[a]);
            else
                cJSON_AddNullToObject(js, "adapter");
            cJSON_AddNumberToObject(js, "val_loss", loss);
            cJSON_AddNumberToObject(js, "perplexity", exp(loss));
            if (is_ss)
                cJSON_AddNumberToObject(js, "accuracy", acc);
        }
    }
    if (is_ss) {
        cJSON_AddNumberToObject(js, "items", n_items);
        cJSON_AddNumberToObject(js, "n_items", n_items);
        cJSON_AddNumberToObject(js, "majority_accuracy", bl.majority);
        cJSON_AddNumberToObject(js, "suffix_accuracy", bl.suffix);
    } else {
        cJSON_AddNumberToObject(js, "ctx", (double)T);
        cJSON_AddNumberToObject(js, "windows", (double)windows);
    }
    cJSON_AddItemToObject(js, "results", arr);
    cJSON_AddNumberToObject(js, "wall_seconds", cli_now() - t_start);
    if (json_path) {
        char *text = cJSON_PrintUnformatted(js);
        if (!text) {
            cJSON_Delete(js);
            rc = cli_error(cmd, CLI_FAIL, "out of memory");
            goto done;
        }
        if (strcmp(json_path, "-") == 0) {
            printf("%s\n", text);
        } else {
            if (write_text_atomic(json_path, text) != 0) {
                free(text);
                cJSON_Delete(js);
                rc = cli_error(cmd, CLI_FAIL, "%s: cannot write: %s", json_path, strerror(errno));
                goto done;
            }
        }
        free(text);
    }
    cJSON_Delete(js);
    rc = CLI_OK;
done:
    lsc_gpt_free(&m);
    lsc_corpus_free(&ctrain);
    lsc_corpus_free(&cvalid);
    lsc_task_free(&ttrain);
    lsc_task_free(&tvalid);
    return rc;
}

// ---- merge ----

static const char *MERGE_USAGE =
    "usage: lorascope merge --base BASE.safetensors --adapter DIR -o MERGED.safetensors [--unmerge]\n"
    "         [--quant nf4 [--blocksize 64] [--no-double-quant] [--quant-targets T]]\n"
    "\n"
    "Writes the base model with the adapter merged in, W0 + s·B·A for every adapted\n"
    "weight (no extra latency at inference). With --unmerge, BASE is a merged model\n"
    "and the output is W0 = W - s·B·A (equal to the original up to float rounding).\n"
    "On an NF4 base (a file from `lorascope quantize`, or --quant nf4) the output is\n"
    "fp32: W = deq(W_nf4) + s·B·A, the weights the QLoRA adapter was trained with.\n"
    "\n"
    "example:\n"
    "  lorascope merge --base base.safetensors --adapter ad8 -o merged.safetensors\n";

int cmd_merge(int argc, char **argv)
{
    const char *cmd = "merge";
    cli_opt opts[] = {{"base", 1, NULL}, {"adapter", 1, NULL}, {"output", 1, NULL}, {"unmerge", 0, NULL},
                      {"quant", 1, NULL}, {"blocksize", 1, NULL}, {"double-quant", 0, NULL},
                      {"no-double-quant", 0, NULL}, {"quant-targets", 1, NULL}, {"help", 0, NULL},
                      {NULL, 0, NULL}};   /* quant..quant-targets: QLoRA (issue 6) */
    const char *pos[1];
    int npos;
    int rc = cli_parse(cmd, argc, argv, opts, pos, 0, &npos);
    if (rc != CLI_OK)
        return rc;
    if (cli_flag(opts, "help")) {
        fputs(MERGE_USAGE, stdout);
        return CLI_OK;
    }
    const char *base = cli_get(opts, "base"), *ad = cli_get(opts, "adapter"), *out = cli_get(opts, "output");
    if (!base || !ad || !out)
        return cli_error(cmd, CLI_USAGE, "needs --base BASE.safetensors, --adapter DIR and -o MERGED.safetensors");
    lsc_nf4_opts qo;   /* QLoRA (issue 6) */
    int quant;
    if ((rc = parse_quant(cmd, opts, 0, &qo, &quant)) != CLI_OK)
        return rc;
    struct stat sb;
    if (stat(base, &sb) != 0)
        return cli_error(cmd, CLI_FAIL, "%s: no such file", base);
    if (stat(ad, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cli_error(cmd, CLI_FAIL, "%s: not an adapter directory", ad);
    lsc_error err = {0};
    lsc_gpt m;
    lsc_lora lo;
    memset(&lo, 0, sizeof lo);
    if ((quant ? lsc_gpt_load_nf4(&m, base, &qo, &err) : lsc_gpt_load(&m, base, &err)) != LSC_OK)
        return cli_lib_error(cmd, &err);
    int unmerge = cli_flag(opts, "unmerge");
    if (lsc_lora_load(&lo, &m.config, ad, &err) != LSC_OK)
        goto fail;
    if (unmerge) {
        lo.merged = 1;   /* BASE holds W0 + s·B·A already */
        if (lsc_lora_unmerge(&m, &lo, &err) != LSC_OK)
            goto fail;
    } else if (lsc_lora_merge(&m, &lo, &err) != LSC_OK) {
        goto fail;
    }
    if (lsc_gpt_save(&m, out, &err) != LSC_OK)
        goto fail;
    printf("wrote %s: %s %d modules of %s %s %s\n", out, unmerge ? "subtracted" : "merged", lo.n_modules, ad,
           unmerge ? "from" : "into", base);
    lsc_lora_free(&lo);
    lsc_gpt_free(&m);
    return CLI_OK;
fail:
    rc = cli_lib_error(cmd, &err);
    lsc_lora_free(&lo);
    lsc_gpt_free(&m);
    return rc;
}

// ---- generate ----

static const char *GENERATE_USAGE =
    "usage: lorascope generate --base BASE.safetensors [--adapter DIR] --prompt TEXT\n"
    "         [--tokens N] [--temperature T] [--seed S] [--threads P]\n"
    "\n"
    "Prints TEXT followed by N sampled bytes (default 200) from the model (with the\n"
    "adapter applied). --temperature 0 decodes greedily; default 0.8. The same seed\n"
    "gives the same text.\n"
    "\n"
    "example:\n"
    "  lorascope generate --base base.safetensors --prompt 'It is a truth' --tokens 100\n";

int cmd_generate(int argc, char **argv)
{
    const char *cmd = "generate";
    cli_opt opts[] = {{"base", 1, NULL}, {"adapter", 1, NULL}, {"prompt", 1, NULL}, {"tokens", 1, NULL},
                      {"temperature", 1, NULL}, {"seed", 1, NULL}, {"threads", 1, NULL}, {"help", 0, NULL},
                      {NULL, 0, NULL}};
    const char *pos[1];
    int npos, bad = 0;
    int rc = cli_parse(cmd, argc, argv, opts, pos, 0, &npos);
    if (rc != CLI_OK)
        return rc;
    if (cli_flag(opts, "help")) {
        fputs(GENERATE_USAGE, stdout);
        return CLI_OK;
    }
    const char *base = cli_get(opts, "base"), *ad = cli_get(opts, "adapter"), *prompt = cli_get(opts, "prompt");
    long n = cli_long(opts, "tokens", 200, &bad), seed = cli_long(opts, "seed", 1, &bad);
    double temp = cli_double(opts, "temperature", 0.8, &bad);
    set_threads(opts, &bad);
    if (bad)
        return cli_error(cmd, CLI_USAGE, "bad option value");
    if (!base || !prompt)
        return cli_error(cmd, CLI_USAGE, "needs --base BASE.safetensors and --prompt TEXT");
    if (n < 0 || n > 1000000 || !(temp >= 0) || !isfinite(temp))
        return cli_error(cmd, CLI_USAGE, "--tokens must be in 0..1000000 and --temperature >= 0");
    struct stat sb;
    if (stat(base, &sb) != 0)
        return cli_error(cmd, CLI_FAIL, "%s: no such file", base);
    if (ad && (stat(ad, &sb) != 0 || !S_ISDIR(sb.st_mode)))
        return cli_error(cmd, CLI_FAIL, "%s: not an adapter directory", ad);
    lsc_error err = {0};
    lsc_gpt m;
    lsc_lora lo;
    memset(&lo, 0, sizeof lo);
    if (lsc_gpt_load(&m, base, &err) != LSC_OK)
        return cli_lib_error(cmd, &err);
    size_t plen = strlen(prompt);
    int width = (int)(plen + (size_t)n + 1);
    int *tok = malloc((size_t)width * sizeof *tok);
    if (!tok) {
        lsc_gpt_free(&m);
        return cli_error(cmd, CLI_FAIL, "out of memory");
    }
    /* an empty prompt starts from a newline, as at a paragraph start */
    int np = 0;
    if (plen == 0)
        tok[np++] = '\n';
    for (size_t i = 0; i < plen; i++)
        tok[np++] = (unsigned char)prompt[i];
    int olen = np;
    uint64_t rng;
    lsc_rng_seed(&rng, (uint64_t)seed);
    if (ad && (lsc_lora_load(&lo, &m.config, ad, &err) != LSC_OK || lsc_gpt_set_lora(&m, &lo, &err) != LSC_OK))
        goto fail;
    if (lsc_gpt_alloc_acts(&m, 1, m.config.n_ctx, &err) != LSC_OK)
        goto fail;
    if (lsc_decode(&m, 1, tok, np + (int)n, &np, (int)n, -1, temp, &rng, &olen, &err) != LSC_OK)
        goto fail;
    for (int i = plen == 0 ? 1 : 0; i < olen; i++)
        putchar(tok[i]);
    putchar('\n');
    free(tok);
    lsc_lora_free(&lo);
    lsc_gpt_free(&m);
    return CLI_OK;
fail:
    rc = cli_lib_error(cmd, &err);
    free(tok);
    lsc_lora_free(&lo);
    lsc_gpt_free(&m);
    return rc;
}
