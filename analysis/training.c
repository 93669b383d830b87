/*
 * training.c — the training driver behind `pretrain` and `train` (see
 * training.h): run_training takes the options a command parsed and does
 * the rest in stages — model (random init, or --base, optionally NF4),
 * data (corpus, supersense task, or random tokens), the checkpoint and log
 * paths with the run's identity (checked on --resume), checkpointed
 * training with the progress line and Ctrl-C, and the outputs (model file
 * or PEFT adapter directory, train_log.h5) with the summary on stdout.
 * Supersense runs (and Alpaca runs with --task-test) validate on dev during
 * training and score the test split's --eval-sample at the end (/eval); fine-tuning runs
 * record ‖ΔW‖_F/‖W‖_F per weight (/delta).
 *
 * Not here: option parsing beyond the options pretrain and train share
 * (pretrain.c, train.c); the data sources, --threads, --quant, the
 * evaluation sample and the /eval and /delta writers (training_common.c,
 * shared with eval); any numerics — the loop, decoding,
 * the FLOP and memory models are lib/train.c's. Progress goes to stderr
 * (redrawn with \r on a terminal, plain lines otherwise), results to stdout.
 *
 * Vocabulary: B batch rows, T context (tokens per row), L layers, NH heads,
 * C channels, V vocabulary, r LoRA rank.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis_common.h"
#include "dist.h"
#include "tidy.h"
#include "training.h"

#define STATE_FILE "train_state.safetensors"
#define LOG_FILE   "train_log.h5"

// ---- time and progress ----

/* SIGINT asks the running trainer to stop after the current step (its
 * checkpoint is then written); a second SIGINT kills as usual. */
static volatile sig_atomic_t interrupted_;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted_ = 1;
    signal(SIGINT, SIG_DFL);
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

typedef struct progress {
    int    tty;        /* stderr is a terminal: redraw in place */
    int    quiet;
    long   every;      /* plain-line interval in steps */
    long   stop_at;    /* stop after this step (0: never) */
    double last_draw;
    int    drawn;      /* a \r line is on screen */
} progress;

static void progress_init(progress *p, long steps, long stop_at, int quiet)
{
    memset(p, 0, sizeof *p);
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

// ---- options ----

static void parse_schedule(const cli_opt *opts, lsc_lr_schedule *s, int *bad)
{
    const char *v = cli_get(opts, "schedule");
    if (v && lsc_lr_schedule_parse(v, s) != LSC_OK) {
        fprintf(stderr, "lorascope: --schedule must be cosine, linear or constant (got '%s')\n", v);
        *bad = 1;
    }
}

void training_parse_run_opts(const cli_opt *opts, int derive, training_opts *o, int *bad)
{
    lsc_train_config *tc = &o->tc;
    tc->steps = cli_long(opts, "steps", tc->steps, bad);
    tc->B = (int)cli_long(opts, "batch", tc->B, bad);
    tc->opt.lr = cli_double(opts, "lr", tc->opt.lr, bad);
    tc->opt.warmup = cli_long(opts, "warmup", derive ? tc->steps / 20 : tc->opt.warmup, bad);
    parse_schedule(opts, &tc->opt.schedule, bad);
    tc->opt.weight_decay = cli_double(opts, "weight-decay", tc->opt.weight_decay, bad);
    tc->opt.grad_clip = cli_double(opts, "clip", tc->opt.grad_clip, bad);
    o->seed = cli_long(opts, "seed", 1, bad);
    tc->eval_every = cli_long(opts, "eval-every", derive ? (tc->steps >= 10 ? tc->steps / 10 : 1) : tc->eval_every,
                              bad);
    tc->eval_batches = (int)cli_long(opts, "eval-batches", tc->eval_batches, bad);
    tc->ckpt_every = cli_long(opts, "ckpt-every", tc->eval_every, bad);
    o->stop_at = cli_long(opts, "stop-at", 0, bad);
    o->threads = training_threads(opts, bad);
    o->resume = cli_flag(opts, "resume");
    o->quiet = cli_flag(opts, "quiet");
    o->log = cli_get(opts, "log");
}

/* --lora-layers 0,2,... (or all) into a bit mask over the L layers. */
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

// ---- the train log ----

/* Writes the training log: /train/{loss,lr,grad_norm,step_ms} per step,
 * /valid/{step,loss} per validation, root provenance + every parameter, and
 * extra result attributes on /. */
typedef struct log_extra {
    const char *name;
    double      value;
} log_extra;

/* more(h, ctx, err), when given, adds the run's other groups (/eval, /delta). */
typedef int (*log_more_fn)(lsc_h5 *h, const void *ctx, lsc_error *err);

static int write_train_log(const char *path, const lsc_trainer *tr, const lsc_provenance *prov,
                           const log_extra *extra, int n_extra, log_more_fn more, const void *more_ctx,
                           lsc_error *err)
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
    if ((more && (rc = more(h, more_ctx, err)) != LSC_OK) ||
        (rc = ana_describe("train", h, err)) != LSC_OK)   /* units, definitions (h5describe.c) */
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
    PAR_I(par, np, "val_seed", (long long)tc->eval_seed);   /* the fixed validation batches */
    return np;
}

// ---- the run ----

/* One run's state, from the model to the outputs. */
typedef struct run {
    training_opts    *o;
    lsc_gpt           m;
    lsc_lora          lo;
    lsc_trainer       tr;
    training_data     d;                /* PRETRAIN, FINETUNE */
    lsc_synthetic     syn;              /* SYNTHETIC */
    uint64_t          irng;             /* init RNG: random base weights, then LoRA A */
    uint64_t          layer_mask;       /* --lora-layers */
    double            t0;
    int               stopped;          /* --stop-at or Ctrl-C before the last step */
    char              state[PATH_MAX], logp[PATH_MAX], modelp[PATH_MAX];
    char              ranks[160];       /* "q_proj=8,v_proj=8" */
    char              cfgj[2048];       /* the run's identity, stored in the checkpoint */
    double            vl, uni, bi;      /* final metrics */
    training_eval     test, dev;        /* supersense: the test (and --eval-dev) sample */
    lsc_baselines     bl;               /* on the test items scored */
    training_delta    delta;            /* FINETUNE: ‖ΔW‖/‖W‖ per weight */
    training_snap     snap;             /* --save-every (issue 16) */
    lsc_error         err;
} run;

/* Seeds of one run, all derived from --seed: LoRA init, dropout, data. */
static void derive_seeds(uint64_t seed, uint64_t *init, uint64_t *train, uint64_t *data)
{
    uint64_t s;
    lsc_rng_seed(&s, seed);
    *init = lsc_rng_u64(&s);
    *train = lsc_rng_u64(&s);
    *data = lsc_rng_u64(&s);
}

/* out less a trailing ".safetensors", then suffix: BASE.train_log.h5 */
static void path_with_suffix(const char *out, const char *suffix, char *buf, size_t n)
{
    size_t len = strlen(out);
    const char *ext = ".safetensors";
    size_t el = strlen(ext);
    if (len > el && strcmp(out + len - el, ext) == 0)
        len -= el;
    snprintf(buf, n, "%.*s%s", (int)len, out, suffix);
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
    if (mkdir(dir, 0755) != 0 && !(errno == EEXIST && stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode)))   /* MPI ranks */
        return cli_error(cmd, CLI_FAIL, "%s: cannot create directory: %s", dir, strerror(errno));
    return CLI_OK;
}

/* --base: loaded (quantised with --quant nf4), then the ranks and
 * --lora-layers checked against its shape. */
static int load_base(run *r)
{
    training_opts *o = r->o;
    struct stat sb;
    if (stat(o->base, &sb) != 0)
        return cli_error(o->cmd, CLI_FAIL, "%s: no such file (make one with `lorascope pretrain`)", o->base);
    /* QLoRA (issue 6): quantise while loading; an NF4 file is recognised by lsc_gpt_load itself */
    if ((o->quant ? lsc_gpt_load_nf4(&r->m, o->base, &o->qo, &r->err) : lsc_gpt_load(&r->m, o->base, &r->err)) !=
        LSC_OK)
        return cli_lib_error(o->cmd, &r->err);
    ana_warn_ignored(o->cmd, &r->m, o->base);
    if (o->full && r->m.quant_targets)
        return cli_error(o->cmd, CLI_USAGE, "%s holds NF4 weights (a QLoRA base): --full needs an fp32 base",
                         o->base);
    if (o->full)
        return CLI_OK;
    int rc = training_check_ranks(o->cmd, &r->m.config, o->lc.rank);
    if (rc == CLI_OK)
        rc = parse_layers(o->cmd, cli_get(o->opts, "lora-layers"), r->m.config.n_layer, &r->layer_mask);
    return rc;
}

/* The model: --base, or a random init of the given shape. */
static int build_model(run *r)
{
    training_opts *o = r->o;
    if (o->kind == TRAINING_FINETUNE)
        return load_base(r);
    /* QLoRA (issue 6): the frozen weights are drawn and quantised one at a time, the
     * fp32 matrices never exist (same rng sequence as lsc_gpt_init_weights) */
    if (o->quant ? lsc_gpt_init_nf4(&r->m, &o->mc, &o->qo, &r->irng, &r->err) != LSC_OK
                 : lsc_gpt_init(&r->m, &o->mc, &r->err) != LSC_OK)
        return cli_lib_error(o->cmd, &r->err);
    if (!o->quant)
        lsc_gpt_init_weights(&r->m, &r->irng);
    return CLI_OK;
}

/* FINETUNE's context: the model's (LM), or just enough for the longest
 * item rounded up to 8 (supersense); never above the model's n_ctx. */
static int finetune_ctx(run *r)
{
    training_opts *o = r->o;
    const lsc_gpt_config *mc = &r->m.config;
    int def_T = mc->n_ctx, bad = 0;
    if (o->is_ss || o->alpaca) {
        int need = o->alpaca ? training_tok_min_ctx(&r->d) + 1
                             : (r->d.ttrain.max_example > r->d.tdev.max_example ? r->d.ttrain.max_example
                                                                                 : r->d.tdev.max_example);
        def_T = ((need + 7) / 8) * 8;
        if (def_T < 32)
            def_T = 32;
        if (def_T > mc->n_ctx)
            def_T = mc->n_ctx;
    }
    long T = cli_long(o->opts, "ctx", def_T, &bad);
    if (bad)
        return CLI_USAGE;   /* cli_long printed the usage error */
    if (T < 1)
        return cli_error(o->cmd, CLI_USAGE, "--ctx must be >= 1");
    if (T > mc->n_ctx)
        return cli_error(o->cmd, CLI_USAGE, "--ctx %ld is above the base model's context n_ctx = %d (%s)", T,
                         mc->n_ctx, o->base);
    if (o->is_ss && T + 1 < r->d.ttrain.max_example)
        return cli_error(o->cmd, CLI_FAIL, "%s: items need a context of %d tokens, the model has %d", r->d.src.train,
                         r->d.ttrain.max_example - 1, (int)T);
    if (o->alpaca && T < training_tok_min_ctx(&r->d))
        return cli_error(o->cmd, CLI_FAIL, "%s: records need a context of %d tokens, --ctx is %ld", r->d.src.train,
                         training_tok_min_ctx(&r->d), T);
    if (!o->is_ss && !o->alpaca && !r->d.tokens && (r->d.ctrain.n < (size_t)T + 1 || r->d.cvalid.n < (size_t)T + 1))
        return cli_error(o->cmd, CLI_FAIL, "%s: too short for context %ld", r->d.src.train, T);
    o->tc.T = (int)T;
    return CLI_OK;
}

/* The data source: the corpus (pretrain: data/fixtures/tiny.txt for the
 * tiny profile), the task, or random tokens. */
static int load_data(run *r)
{
    training_opts *o = r->o;
    int rc;
    if (o->kind == TRAINING_SYNTHETIC) {
        r->syn.V = o->mc.vocab;
        return CLI_OK;
    }
    if (o->kind == TRAINING_FINETUNE) {
        int V = r->m.config.vocab;
        if (o->alpaca)   /* token-level sources: training_tok.c */
            rc = training_tok_load(o->cmd, o->opts, V, r->m.config.n_ctx + 1, &r->d);
        else if ((rc = training_data_load(o->cmd, o->opts, o->is_ss, NULL, &r->d)) == CLI_OK && !o->is_ss)
            rc = training_tok_load(o->cmd, o->opts, V, 0, &r->d);
        else if (rc == CLI_OK && V != LSC_BYTE_VOCAB)
            rc = cli_error(o->cmd, CLI_USAGE, "the supersense task is byte-level but the base has %d tokens: write "
                                              "it in Alpaca form (data/supersense_alpaca.py) and use --format alpaca", V);
        return rc != CLI_OK ? rc : finetune_ctx(r);
    }
    const char *def = strcmp(o->profile, "tiny") == 0 ? "data/fixtures/tiny.txt" : NULL;
    if ((rc = training_data_load(o->cmd, o->opts, 0, def, &r->d)) != CLI_OK)
        return rc;
    if (r->d.ctrain.n < (size_t)o->tc.T + 1 || r->d.cvalid.n < (size_t)o->tc.T + 1)
        return cli_error(o->cmd, CLI_FAIL, "%s: too short for context %d (train %zu, valid %zu bytes)", r->d.src.train,
                         o->tc.T, r->d.ctrain.n, r->d.cvalid.n);
    return CLI_OK;
}

/* Output, checkpoint and log paths. OUT is a directory, except for
 * pretrain and --full -o MODEL.safetensors: the model file, with its state
 * and log beside it. --log moves the log. */
static int set_paths(run *r)
{
    training_opts *o = r->o;
    size_t len = strlen(o->out);
    int as_file = o->kind == TRAINING_PRETRAIN ||
                  (o->kind == TRAINING_FINETUNE && o->full && len > 12 && strcmp(o->out + len - 12, ".safetensors") == 0);
    if (as_file) {
        snprintf(r->modelp, sizeof r->modelp, "%s", o->out);
        path_with_suffix(o->out, ".train_state.safetensors", r->state, sizeof r->state);
        path_with_suffix(o->out, ".train_log.h5", r->logp, sizeof r->logp);
    } else {
        int rc = ensure_dir(o->cmd, o->out);
        if (rc != CLI_OK)
            return rc;
        snprintf(r->state, sizeof r->state, "%s/%s", o->out, STATE_FILE);
        snprintf(r->logp, sizeof r->logp, "%s/%s", o->out, LOG_FILE);
        snprintf(r->modelp, sizeof r->modelp, "%s/model.safetensors", o->out);
    }
    if (o->log)
        snprintf(r->logp, sizeof r->logp, "%s", o->log);
    return CLI_OK;
}

/* The run's identity (r->cfgj), stored in the checkpoint; --resume must
 * match it. Pretrain: the shape, the options and the data's bytes. */
static void pretrain_identity(run *r)
{
    const training_opts *o = r->o;
    const lsc_gpt_config *mc = &o->mc;
    const lsc_train_config *tc = &o->tc;
    char sha[65] = "";
    lsc_sha256 hs;
    lsc_sha256_init(&hs);
    lsc_sha256_update(&hs, r->d.ctrain.bytes, r->d.ctrain.n);
    lsc_sha256_update(&hs, r->d.cvalid.bytes, r->d.cvalid.n);
    lsc_sha256_final(&hs, sha);
    snprintf(r->cfgj, sizeof r->cfgj,
             "{\"cmd\":\"pretrain\",\"n_layer\":%d,\"n_head\":%d,\"n_embd\":%d,\"n_ctx\":%d,\"batch\":%d,"
             "\"steps\":%ld,\"lr\":%.17g,\"warmup\":%ld,\"schedule\":\"%s\",\"weight_decay\":%.17g,\"clip\":%.17g,"
             "\"seed\":%ld,\"eval_every\":%ld,\"eval_batches\":%d,\"data_sha256\":\"%s\"}",
             mc->n_layer, mc->n_head, mc->n_embd, mc->n_ctx, tc->B, tc->steps, tc->opt.lr, tc->opt.warmup,
             lsc_lr_schedule_name(tc->opt.schedule), tc->opt.weight_decay, tc->opt.grad_clip, o->seed, tc->eval_every,
             tc->eval_batches, sha);
}

/* Train: the base's and the data files' sha256, the adapter and the
 * options (and the NF4 settings with --quant nf4). */
static int finetune_identity(run *r)
{
    const training_opts *o = r->o;
    const lsc_train_config *tc = &o->tc;
    char base_sha[65], dsha[65];
    if (lsc_sha256_path(o->base, base_sha, &r->err) != LSC_OK || training_data_sha(&r->d.src, dsha, &r->err) != LSC_OK)
        return cli_lib_error(o->cmd, &r->err);
    for (int t = 0, k = 0; t < LSC_LORA_NTARGETS; t++)
        if (o->lc.rank[t] > 0)
            k += snprintf(r->ranks + k, sizeof r->ranks - (size_t)k, "%s%s=%d", k ? "," : "",
                          lsc_lora_target_name(t), o->lc.rank[t]);
    snprintf(r->cfgj, sizeof r->cfgj,
             "{\"cmd\":\"train\",\"base_sha256\":\"%s\",\"data_sha256\":\"%s\",\"task\":\"%s\",\"full\":%d,"
             "\"ranks\":\"%s\",\"alpha\":%.17g,\"rslora\":%d,\"dropout\":%.17g,\"init\":\"%s\",\"layers\":%llu,"
             "\"batch\":%d,\"ctx\":%d,\"steps\":%ld,\"lr\":%.17g,\"warmup\":%ld,\"schedule\":\"%s\","
             "\"weight_decay\":%.17g,\"clip\":%.17g,\"seed\":%ld,\"eval_every\":%ld,\"eval_batches\":%d}",
             base_sha, dsha, o->task, o->full, r->ranks, o->lc.alpha, o->lc.rslora, o->lc.dropout, o->init,
             (unsigned long long)r->layer_mask, tc->B, tc->T, tc->steps, tc->opt.lr, tc->opt.warmup,
             lsc_lr_schedule_name(tc->opt.schedule), tc->opt.weight_decay, tc->opt.grad_clip, o->seed, tc->eval_every,
             tc->eval_batches);
    if (o->rank_file) {   /* issue 20: the per-module ranks' file, by content */
        size_t l = strlen(r->cfgj);
        snprintf(r->cfgj + l - 1, sizeof r->cfgj - (l - 1), ",\"rank_pattern_sha256\":\"%s\"}", o->rank_file_sha);
    }
    if (o->quant) {   /* QLoRA (issue 6): part of the run's identity, checked on --resume */
        size_t l = strlen(r->cfgj);
        snprintf(r->cfgj + l - 1, sizeof r->cfgj - (l - 1), ",\"quant\":\"nf4\",\"blocksize\":%d,\"double_quant\":%d,"
                 "\"quant_targets\":\"%s\"}", o->qo.blocksize, o->qo.double_quant,
                 o->qo.targets ? o->qo.targets : LSC_NF4_DEFAULT_TARGETS);
    }
    return CLI_OK;
}

/* Paths and identity of a checkpointed run (all but SYNTHETIC). */
static int set_checkpoint(run *r)
{
    int rc = set_paths(r);
    if (rc != CLI_OK)
        return rc;
    if (r->o->kind == TRAINING_PRETRAIN)
        pretrain_identity(r);
    else if ((rc = finetune_identity(r)) != CLI_OK)
        return rc;
    r->o->tc.ckpt_path = r->state;
    r->o->tc.config_json = r->cfgj;
    return CLI_OK;
}

static int init_lora(run *r)
{
    training_opts *o = r->o;
    if (o->full)
        return CLI_OK;
    lsc_lora_config lc = o->lc;
    lc.layer_mask = r->layer_mask;
    if (lsc_lora_init(&r->lo, &r->m.config, &lc, &r->irng, &r->err) != LSC_OK)
        return cli_lib_error(o->cmd, &r->err);
    /* --save-init: the step-0 adapter (A0, B = 0), the subspace studies' null (issue 12) */
    if (o->save_init && lsc_lora_save(&r->lo, o->base, o->save_init, &r->err) != LSC_OK)
        return cli_lib_error(o->cmd, &r->err);
    /* --save-every: OUT.snapshots/step-000000 now, the others from train_steps (issue 16) */
    if (o->save_every)
        return training_snap_start(&r->snap, o->cmd, o->out, o->base, &r->lo, o->save_every, o->tc.steps, o->resume);
    return CLI_OK;
}

/* The trainer over the run's batch source, resumed from the checkpoint
 * with --resume. */
static int init_trainer(run *r)
{
    training_opts *o = r->o;
    lsc_batch_fn fn = lsc_corpus_batch, vfn = lsc_corpus_batch;
    void *tctx = &r->d.ctrain, *vctx = &r->d.cvalid;
    if (o->kind == TRAINING_SYNTHETIC) {
        fn = lsc_synthetic_batch;
        tctx = &r->syn;
        vfn = NULL;
        vctx = NULL;
    } else if (training_tok_source(&r->d, &fn, &tctx, &vfn, &vctx)) {
        /* --tokenizer / --format alpaca (training_tok.c) */
    } else if (o->is_ss) {
        fn = vfn = lsc_task_batch;
        tctx = &r->d.ttrain;
        vctx = &r->d.tdev;   /* the validation curve sees dev only, never test */
    }
    if (lsc_trainer_init(&r->tr, &r->m, o->full ? NULL : &r->lo, &o->tc, fn, tctx, vfn, vctx, &r->err) != LSC_OK ||
        training_dist_attach(o, &r->tr, &r->err) != LSC_OK)   /* several MPI ranks (issue 18) */
        return cli_lib_error(o->cmd, &r->err);
    /* a killed run's "<file>.tmp.XXXXXX" of these outputs (ours only), on
     * a fresh run as on --resume */
    const char *tmps[] = {r->state, r->logp, r->modelp, o->full ? NULL : o->out};
    if (dist_rank() == 0)
        training_clean_orphans(tmps, 4, o->quiet);
    if (!o->resume)
        return CLI_OK;
    if (access(r->state, R_OK) != 0)
        return cli_error(o->cmd, CLI_FAIL, "%s: no checkpoint to resume from", r->state);
    if (lsc_trainer_resume(&r->tr, r->state, &r->err) != LSC_OK)
        return cli_lib_error(o->cmd, &r->err);
    if (!o->quiet)
        fprintf(stderr, "resuming at step %ld/%ld from %s\n", r->tr.step, o->tc.steps, r->state);
    return CLI_OK;
}

static void print_banner(const run *r)
{
    const training_opts *o = r->o;
    const lsc_train_config *tc = &o->tc;
    if (o->quiet || o->kind == TRAINING_SYNTHETIC)
        return;
    if (o->kind == TRAINING_PRETRAIN)
        fprintf(stderr, "pretrain: %s profile, L%d NH%d C%d ctx %d, %.2f M parameters, %ld steps of %d x %d tokens, "
                        "%d threads\n",
                o->profile, o->mc.n_layer, o->mc.n_head, o->mc.n_embd, o->mc.n_ctx,
                (double)r->m.num_parameters / 1e6, tc->steps, tc->B, tc->T, o->threads);
    else
        fprintf(stderr, "train: %s on %s, %s, %zu trainable of %zu parameters, %ld steps of %d x %d tokens, "
                        "%d threads\n",
                o->full ? "full fine-tuning" : r->m.quant_targets ? "QLoRA (NF4 base)" : "LoRA", o->task,
                o->full ? "all weights" : r->ranks, r->tr.n, r->m.num_parameters + r->m.num_quantized, tc->steps,
                tc->B, tc->T, o->threads);
}

/* Trains with the progress line until the last step, --stop-at or Ctrl-C
 * (checkpointed runs only); a stopped run sets r->stopped and names its
 * checkpoint. */
static int train_steps(run *r)
{
    training_opts *o = r->o;
    int ckpt = o->tc.ckpt_path != NULL;
    progress pg;
    progress_init(&pg, o->tc.steps, o->stop_at, o->quiet);
    if (ckpt)
        signal(SIGINT, on_sigint);
    r->snap.next = progress_cb;   /* --save-every: the snapshots around the progress line (issue 16) */
    r->snap.next_ctx = &pg;
    training_dist_cb_ctx dc = {o->save_every ? training_snap_cb : progress_cb,
                               o->save_every ? (void *)&r->snap : &pg};   /* ranks stop together */
    int trc = lsc_trainer_run(&r->tr, 0, training_dist_cb, &dc, &r->err);
    if (ckpt)
        signal(SIGINT, SIG_DFL);
    progress_end(&pg);
    if (trc != LSC_OK)
        return cli_lib_error(o->cmd, &r->err);
    if (r->snap.rc != LSC_OK)
        return cli_lib_error(o->cmd, &r->snap.err);
    if (r->tr.step < o->tc.steps) {
        if (!o->quiet || dist_rank() == 0)
            fprintf(stderr, "lorascope %s: stopped at step %ld/%ld; checkpoint %s (continue with --resume)\n",
                    o->cmd, r->tr.step, o->tc.steps, r->state);
        r->stopped = 1;
        return interrupted_ ? 130 : CLI_OK;
    }
    return CLI_OK;
}

// ---- outputs ----

/* The final metrics, also the log's extra attributes: validation loss,
 * and the unigram and bigram cross-entropies of the corpus (pretrain) or
 * perplexity; on supersense the test sample's accuracies next to their
 * baselines (and the dev sample's with --eval-dev); ‖ΔW‖/‖W‖ (FINETUNE). */
static int final_metrics(run *r, log_extra ex[24], int *nex)
{
    training_opts *o = r->o;
    int n = 0, rc;
    r->vl = r->tr.n_eval ? r->tr.eval_loss[r->tr.n_eval - 1] : NAN;
    ex[n++] = (log_extra){"final_val_loss", r->vl};
    if (o->kind == TRAINING_PRETRAIN) {
        r->uni = lsc_corpus_unigram_xent(&r->d.ctrain, &r->d.cvalid);
        if (lsc_corpus_bigram_xent(&r->d.ctrain, &r->d.cvalid, &r->bi, &r->err) != LSC_OK)
            return cli_lib_error(o->cmd, &r->err);
        ex[n++] = (log_extra){"unigram_xent", r->uni};
        ex[n++] = (log_extra){"bigram_xent", r->bi};
    } else {
        ex[n++] = (log_extra){"final_val_ppl", exp(r->vl)};
        if ((rc = training_delta_compute(o->cmd, &r->m, o->full ? NULL : &r->lo, o->base, &r->delta)) != CLI_OK)
            return rc;
    }
    if (r->d.evaluates) {   /* supersense, or alpaca with --task-test */
        r->test.quiet = r->dev.quiet = o->quiet || o->json;
        if ((rc = training_eval_final(o->cmd, &r->m, &r->d, o->eval_sample, o->eval_seed, o->eval_dev, &r->test,
                                      &r->dev, &r->bl)) != CLI_OK)
            return rc;
        ex[n++] = (log_extra){"accuracy", r->test.res.accuracy};
        ex[n++] = (log_extra){"rank_accuracy", r->test.res.rank_accuracy};
        ex[n++] = (log_extra){"label_loss", r->test.res.loss};
        ex[n++] = (log_extra){"majority_baseline", r->bl.majority};
        ex[n++] = (log_extra){"suffix4_baseline", r->bl.suffix};
        ex[n++] = (log_extra){"eval_items", (double)r->test.n};
        if (o->eval_dev) {
            ex[n++] = (log_extra){"dev_accuracy", r->dev.res.accuracy};
            ex[n++] = (log_extra){"dev_rank_accuracy", r->dev.res.rank_accuracy};
            ex[n++] = (log_extra){"dev_label_loss", r->dev.res.loss};
            ex[n++] = (log_extra){"dev_eval_items", (double)r->dev.n};
        }
    }
    ex[n++] = (log_extra){"peak_rss_mb", cli_peak_rss_mb()};
    *nex = n;
    return CLI_OK;
}

/* The log's parameters: the shape and options, then what the kind adds. */
static int run_params(const run *r, lsc_h5_param par[64])
{
    const training_opts *o = r->o;
    const lsc_gpt *m = &r->m;
    int np = add_opt_params(par, 0, &m->config, &o->tc, o->seed);
    if (o->kind == TRAINING_PRETRAIN)
        PAR_S(par, np, "profile", o->profile);
    if (o->kind == TRAINING_FINETUNE)
        PAR_S(par, np, "task", o->task);
    if (o->kind == TRAINING_FINETUNE && r->d.evaluates) {
        PAR_I(par, np, "eval_seed", o->eval_seed);
        PAR_I(par, np, "eval_sample", o->eval_sample);
        PAR_S(par, np, "eval_split", "test");
        PAR_I(par, np, "eval_dev", o->eval_dev);
    }
    if (o->kind != TRAINING_PRETRAIN)
        PAR_S(par, np, "mode", o->full ? "full" : "lora");
    if (o->kind == TRAINING_SYNTHETIC)
        PAR_I(par, np, "synthetic", 1);
    /* QLoRA (issue 6): how the base was held (an NF4 file counts as nf4 with its own settings) */
    if (o->kind != TRAINING_PRETRAIN)
        PAR_S(par, np, "quant", (o->kind == TRAINING_SYNTHETIC ? o->quant : m->quant_targets != 0) ? "nf4" : "none");
    if (o->kind == TRAINING_FINETUNE && m->quant_targets) {
        lsc_gpt_bytes wb;
        lsc_gpt_weight_bytes(m, &wb);
        int tq = 0;
        while (!((m->quant_targets >> tq) & 1))
            tq++;
        PAR_I(par, np, "quant_blocksize", lsc_gpt_nf4(m, 0, tq)->blocksize);
        PAR_I(par, np, "quant_double_quant", lsc_gpt_nf4(m, 0, tq)->nested);
        PAR_I(par, np, "quant_targets_mask", m->quant_targets);
        PAR_D(par, np, "quant_bits_per_param", 8.0 * (double)wb.nf4 / (double)m->num_quantized);
    }
    PAR_I(par, np, "threads", o->threads);
    np = training_dist_params(par, np, o, &r->tr);
    if (o->kind == TRAINING_SYNTHETIC) {
        PAR_I(par, np, "timed_steps", o->timed);
        PAR_I(par, np, "warmup_steps", o->warm);
    }
    if (o->kind == TRAINING_FINETUNE && !o->full) {
        PAR_S(par, np, "ranks", r->ranks);
        PAR_I(par, np, "rank", o->rank);
        PAR_D(par, np, "alpha", o->lc.alpha);
        PAR_I(par, np, "rslora", o->lc.rslora);
        PAR_D(par, np, "dropout", o->lc.dropout);
        PAR_S(par, np, "init", o->init);
        PAR_I(par, np, "layer_mask", (long long)r->layer_mask);
    }
    return np;
}

/* The model file (full) or the PEFT adapter directory. */
static int save_model(run *r)
{
    const training_opts *o = r->o;
    if (o->full ? lsc_gpt_save(&r->m, r->modelp, &r->err)
                : lsc_lora_save(&r->lo, o->base ? o->base : "synthetic", o->out, &r->err))
        return cli_lib_error(o->cmd, &r->err);
    return CLI_OK;
}

/* The log's /eval (supersense) and /delta (FINETUNE) groups. */
static int write_log_more(lsc_h5 *h, const void *ctx, lsc_error *err)
{
    const run *r = ctx;
    int rc = LSC_OK;
    if (r->d.evaluates && (rc = training_eval_write(h, &r->d.ttest, &r->test, err)) == LSC_OK && r->o->eval_dev)
        rc = training_eval_write(h, &r->d.tdev, &r->dev, err);
    if (rc == LSC_OK && r->delta.n > 0)
        rc = training_delta_write(h, &r->delta, err);
    if (rc == LSC_OK && r->o->save_every)
        rc = training_snap_write_log(h, r->o->save_every, r->o->tc.steps, err);
    return rc;
}

/* train_log.h5: the curves, provenance with the inputs, the parameters,
 * the extra result attributes, /eval and /delta. */
static int write_log(run *r, double wall, const log_extra *ex, int nex)
{
    const training_opts *o = r->o;
    lsc_h5_param par[64];
    int np = run_params(r, par);
    lsc_h5_input inp[4];
    int ni = 0;
    if (o->kind == TRAINING_FINETUNE)
        inp[ni++] = (lsc_h5_input){"base", o->base};
    if (o->kind != TRAINING_SYNTHETIC) {
        inp[ni++] = (lsc_h5_input){"data", r->d.src.train};
        if (r->d.src.valid[0])
            inp[ni++] = (lsc_h5_input){r->d.evaluates ? "data_dev" : "data_valid", r->d.src.valid};
        if (r->d.src.test[0])
            inp[ni++] = (lsc_h5_input){"data_test", r->d.src.test};
    }
    lsc_provenance prov = {cli_command_line(), ana_git_commit(), wall, ni, ni ? inp : NULL, np, par};
    if (write_train_log(r->logp, &r->tr, &prov, ex, nex, write_log_more, r, &r->err) != LSC_OK)
        return cli_lib_error(o->cmd, &r->err);
    return CLI_OK;
}

static void print_summary(const run *r)
{
    const training_opts *o = r->o;
    char wall[32];
    fmt_time(r->tr.wall_s, wall, sizeof wall);
    if (o->kind == TRAINING_PRETRAIN) {
        printf("wrote %s (%.2f M parameters): validation loss %.4f nats/byte (ppl %.3f; unigram %.4f, bigram %.4f) "
               "after %ld steps, training wall time %s\n",
               o->out, (double)r->m.num_parameters / 1e6, r->vl, exp(r->vl), r->uni, r->bi, r->tr.step, wall);
        printf("log %s, checkpoint %s\n", r->logp, r->state);
        return;
    }
    printf("wrote %s (%s): validation loss %.4f (ppl %.3f) after %ld steps, training wall time %s\n",
           o->full ? r->modelp : o->out, o->full ? "full model" : "PEFT adapter", r->vl, exp(r->vl), r->tr.step, wall);
    printf("update size ||dW||_F/||W||_F: median %.4g, max %.4g over %d weights\n", r->delta.median, r->delta.max,
           r->delta.n);
    if (r->d.evaluates)
        printf("%s test (%d items, seed %ld): exact match %.2f%%, rank accuracy %.2f%% (label loss %.4f); "
               "baselines: majority %.2f%%, 4-letter suffix %.2f%%\n", o->alpaca ? "instruction" : "supersense",
               r->test.n, o->eval_seed, 100 * r->test.res.accuracy, 100 * r->test.res.rank_accuracy, r->test.res.loss,
               100 * r->bl.majority, 100 * r->bl.suffix);
    if (r->d.evaluates && o->eval_dev)
        printf("%s dev (%d items): exact match %.2f%%, rank accuracy %.2f%% (label loss %.4f)\n",
               o->alpaca ? "instruction" : "supersense", r->dev.n, 100 * r->dev.res.accuracy, 100 * r->dev.res.rank_accuracy, r->dev.res.loss);
}

/* Metrics, then the model or adapter, the log and the summary. */
static int write_outputs(run *r)
{
    log_extra ex[24];
    int nex = 0, rc;
    if ((rc = final_metrics(r, ex, &nex)) != CLI_OK || (rc = save_model(r)) != CLI_OK ||
        (rc = write_log(r, cli_now() - r->t0, ex, nex)) != CLI_OK)
        return rc;
    print_summary(r);
    return CLI_OK;
}

// ---- the synthetic benchmark's report ----

/* What one --synthetic run measured; sizes in MiB. */
typedef struct bench {
    double wall, med, mn, mx;        /* run wall time (s); step times (ms) over the timed steps */
    double flops, tps, gflops;       /* per step; tokens/s and GFLOP/s at the median */
    double rss, pred_mb;             /* peak RSS, predicted total */
    double w_mb, g_mb, o_mb, a_mb;   /* predicted weights, grads, moments, activations */
} bench;

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

static void bench_measure(const run *r, bench *b)
{
    const training_opts *o = r->o;
    const float *ms = r->tr.log_step_ms + o->warm;
    long N = o->timed;
    b->wall = cli_now() - r->t0;
    b->med = median_of(ms, N);
    b->mn = ms[0];
    b->mx = ms[0];
    for (long i = 1; i < N; i++) {
        b->mn = fmin(b->mn, ms[i]);
        b->mx = fmax(b->mx, ms[i]);
    }
    double tokens = (double)o->tc.B * (double)o->mc.n_ctx;
    b->flops = lsc_train_step_flops(&o->mc, o->full ? NULL : &r->lo, o->tc.B, o->mc.n_ctx, o->full);
    b->tps = tokens / (b->med * 1e-3);
    b->gflops = b->flops / (b->med * 1e-3) / 1e9;
    double MB = 1.0 / (1024.0 * 1024.0);
    lsc_train_memory mem;
    b->pred_mb = (double)lsc_train_predicted_bytes(&r->tr, &mem) * MB;
    b->w_mb = (double)mem.weights * MB;
    b->g_mb = (double)mem.grads * MB;
    b->o_mb = (double)mem.moments * MB;
    b->a_mb = (double)mem.activations * MB;
    b->rss = cli_peak_rss_mb();
}

/* The human lines, then with --json the same as one JSON object. */
static void bench_print(const run *r, const bench *b)
{
    const training_opts *o = r->o;
    const lsc_gpt_config *mc = &o->mc;
    const lsc_gpt *m = &r->m;
    const double MB = 1.0 / (1024.0 * 1024.0);
    int B = o->tc.B, quant = o->quant;
    /* QLoRA (issue 6): the base weights as held (fp32 buffer + NF4 data + tile) */
    lsc_gpt_bytes wb;
    size_t wtot = lsc_gpt_weight_bytes(m, &wb), n_base = m->num_parameters + m->num_quantized;
    printf("synthetic %s: L%d NH%d C%d T%d B%d V%d, %zu trainable of %zu parameters, %d threads\n",
           o->full ? "full fine-tuning" : quant ? "QLoRA (NF4 base)" : "LoRA", mc->n_layer, mc->n_head, mc->n_embd,
           mc->n_ctx, B, mc->vocab, r->tr.n, n_base, o->threads);
    if (quant)
        printf("base weights: %.1f MiB as held (NF4 %.1f, fp32 %.1f, tile %.1f) vs %.1f MiB in fp32 (%.3fx); "
               "%.4f bits per quantised parameter\n", (double)wtot * MB, (double)wb.nf4 * MB, (double)wb.fp32 * MB,
               (double)wb.tile * MB, (double)n_base * 4 * MB, (double)wtot / ((double)n_base * 4),
               8.0 * (double)wb.nf4 / (double)m->num_quantized);
    printf("step %.2f ms median (min %.2f, max %.2f) over %ld steps after %ld warm-up; %.0f tokens/s; %.2f GFLOP/s "
           "(%.3f GFLOP/step)\n",
           b->med, b->mn, b->mx, o->timed, o->warm, b->tps, b->gflops, b->flops / 1e9);
    printf("memory: peak RSS %.1f MiB, predicted %.1f MiB (weights %.1f, grads %.1f, moments %.1f, activations %.1f)\n",
           b->rss, b->pred_mb, b->w_mb, b->g_mb, b->o_mb, b->a_mb);
    if (o->json)
        printf("{\"mode\":\"%s\",\"layers\":%d,\"heads\":%d,\"embd\":%d,\"ctx\":%d,\"batch\":%d,\"vocab\":%d,"
               "\"threads\":%d,\"steps\":%ld,\"warmup\":%ld,\"trainable_params\":%zu,\"model_params\":%zu,"
               "\"quant\":\"%s\",\"blocksize\":%d,\"double_quant\":%d,\"base_weight_bytes\":%zu,"
               "\"base_fp32_bytes\":%zu,\"base_nf4_bytes\":%zu,\"base_tile_bytes\":%zu,\"base_fp32_equiv_bytes\":%zu,"
               "\"tokens_per_s\":%.6g,\"step_ms_median\":%.6g,\"step_ms_min\":%.6g,\"step_ms_max\":%.6g,"
               "\"flops_per_step\":%.6g,\"gflops\":%.6g,\"peak_rss_mb\":%.6g,\"predicted_mb\":%.6g,"
               "\"predicted_weights_mb\":%.6g,\"predicted_grads_mb\":%.6g,\"predicted_moments_mb\":%.6g,"
               "\"predicted_activations_mb\":%.6g,\"loss_first\":%.6g,\"loss_last\":%.6g,\"wall_s\":%.6g,"
               "\"n_params\":%zu,\"n_trainable\":%zu,\"mem_predicted_mb\":%.6g}\n",
               o->full ? "full" : "lora", mc->n_layer, mc->n_head, mc->n_embd, mc->n_ctx, B, mc->vocab, o->threads,
               o->timed, o->warm, r->tr.n, n_base, quant ? "nf4" : "none", quant ? o->qo.blocksize : 0,
               quant ? o->qo.double_quant : 0, wtot, wb.fp32, wb.nf4, wb.tile, n_base * sizeof(float), b->tps, b->med,
               b->mn, b->mx, b->flops, b->gflops, b->rss, b->pred_mb, b->w_mb, b->g_mb, b->o_mb, b->a_mb,
               (double)r->tr.log_loss[0], (double)r->tr.log_loss[r->tr.step - 1], b->wall, n_base, r->tr.n,
               b->pred_mb);
}

/* The measurements; with -o DIR also the model or adapter and the log. */
static int bench_report(run *r)
{
    bench b;
    int rc;
    bench_measure(r, &b);
    if (r->o->out) {
        log_extra ex[] = {{"step_ms_median", b.med}, {"tokens_per_s", b.tps}, {"gflops", b.gflops},
                          {"peak_rss_mb", b.rss}, {"predicted_mb", b.pred_mb}};
        if ((rc = set_paths(r)) != CLI_OK || (rc = save_model(r)) != CLI_OK || (rc = write_log(r, b.wall, ex, 5)) != CLI_OK)
            return rc;
    }
    bench_print(r, &b);
    return CLI_OK;
}

// ---- run_training ----

int run_training(training_opts *o)
{
    run r;
    memset(&r, 0, sizeof r);
    r.o = o;
    r.t0 = cli_now();
    derive_seeds((uint64_t)o->seed, &r.irng, &o->tc.seed, &o->tc.data_seed);
    if (o->kind != TRAINING_SYNTHETIC)
        o->tc.opt.steps = o->tc.steps;
    int rc = training_dist_setup(o);   /* --micro-batches, --dp-reduce; quiet ranks > 0 */
    if (rc == CLI_OK)
        rc = build_model(&r);
    if (rc == CLI_OK)
        rc = load_data(&r);
    if (rc == CLI_OK && o->kind != TRAINING_SYNTHETIC)
        rc = set_checkpoint(&r);
    if (rc == CLI_OK)
        rc = init_lora(&r);
    if (rc == CLI_OK)
        rc = init_trainer(&r);
    if (rc == CLI_OK) {
        print_banner(&r);
        rc = train_steps(&r);
    }
    if (rc == CLI_OK && !r.stopped && dist_rank() == 0)   /* rank 0 alone writes */
        rc = o->kind == TRAINING_SYNTHETIC ? bench_report(&r) : write_outputs(&r);
    lsc_trainer_free(&r.tr);
    lsc_lora_free(&r.lo);
    lsc_gpt_free(&r.m);
    training_data_free(&r.d);
    training_eval_free(&r.test);
    training_eval_free(&r.dev);
    training_delta_free(&r.delta);
    return rc;
}
