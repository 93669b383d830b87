/*
 * training.h — the one training driver behind `pretrain` and `train`
 * (LoRA, --full, --synthetic, --resume, --stop-at), in training.c, and
 * the helpers the model subcommands share (threads, data sources, --quant
 * nf4), in training_common.c.
 *
 * A command's parser fills a training_opts (training_parse_run_opts reads
 * the optimisation options pretrain and train share) and calls
 * run_training, which loads or builds the model, loads the data, sets up
 * the checkpoint and log paths, trains with the progress line, and writes
 * the outputs (model file, PEFT adapter directory, train_log.h5) and the
 * summary. It is not the training loop itself (lib/train.c) and holds no
 * numerics.
 *
 * Vocabulary: B batch rows, T context (tokens per row), L layers, NH heads,
 * C channels, V vocabulary, r LoRA rank.
 */
#ifndef LSC_TRAINING_H
#define LSC_TRAINING_H

#include <limits.h>

#include "cli.h"

// ---- shared by the model subcommands ----

/* Where a run's data came from: the training file and, when the other
 * parts are their own files, those (else ""): valid = the LM validation
 * text or the supersense dev file; test = the supersense test file. */
typedef struct training_data_src {
    char train[PATH_MAX + 64];
    char valid[PATH_MAX + 64];
    char test[PATH_MAX + 64];
} training_data_src;

/* --threads P for OpenBLAS and OpenMP (default $OMP_NUM_THREADS, else every
 * online core); prints and sets *bad when out of 1..1024. Returns P. */
int training_threads(const cli_opt *opts, int *bad);

/* A run's data: the corpus (lm) split into a training and a validation
 * part, or the task (supersense) split into train, dev and test. Only dev
 * is seen during training (the validation curve); test is scored at the
 * end. */
typedef struct training_data {
    lsc_corpus        ctrain, cvalid;       /* lm */
    lsc_task          ttrain, tdev, ttest;  /* supersense */
    training_data_src src;
    /* token-level sources (training_tok.c): --tokenizer and --format alpaca */
    int               has_tok;              /* tok loaded */
    lsc_tokenizer     tok;
    int               tokens;               /* lm through the tokenizer: ktrain, kvalid */
    lsc_tokens        ktrain, kvalid;
    int               alpaca;               /* --format alpaca: itrain, ivalid (if --valid) */
    lsc_instruct      itrain, ivalid;
    lsc_instruct      itest;                /* --format alpaca --task-test FILE.json */
    int               evaluates;            /* scored at the end: supersense, or alpaca with itest
                                               (ttrain/tdev/ttest then the records' label-set views) */
} training_data;

/* Loads *d (zeroed first). LM: --data FILE split 90/10 at a paragraph
 * boundary (or --valid FILE); --data DIR: DIR/pretrain_{train,valid}.txt;
 * default def_file split 90/10 when given, else data/corpus/pretrain_*.txt.
 * Supersense: --task-file (or --data) FILE split three ways by the word
 * hash (lsc_task_split) unless --task-dev FILE --task-test FILE (both); a
 * directory: DIR/supersense_{train,dev,test}.tsv; default data/tasks.
 * Prints the error and returns its exit code on failure;
 * training_data_free(d) either way. */
int  training_data_load(const char *cmd, const cli_opt *opts, int is_ss, const char *def_file, training_data *d);
void training_data_free(training_data *d);

/* --tokenizer FILE (llama2.c tokenizer.bin, V entries) and --format alpaca
 * (training_tok.c). Alpaca: --data FILE.json (array or JSON lines) and
 * optionally --valid FILE.json, tokenized with the tokenizer (bytes
 * without one), records up to max_tokens; sets d->src. LM with a
 * tokenizer: d's corpora (loaded by training_data_load) encoded into
 * ktrain/kvalid. Prints the error and returns its exit code. */
int  training_tok_load(const char *cmd, const cli_opt *opts, int V, int max_tokens, training_data *d);
/* The batch functions of d's token-level source (training_tok_load); 0
 * when d has none (the byte sources apply). vfn/vctx NULL without a
 * validation part. */
int  training_tok_source(training_data *d, lsc_batch_fn *fn, void **tctx, lsc_batch_fn *vfn, void **vctx);
/* The shortest context the source can be trained with (0: no limit). */
int  training_tok_min_ctx(const training_data *d);

/* sha256 of the data files (train, then valid/dev and test if any) as one digest. */
int training_data_sha(const training_data_src *d, char hex[65], lsc_error *err);

/* Supersense evaluation (train at the end of a run, eval): one split
 * scored on the seeded sample of --eval-sample N items (0: all) drawn by
 * lsc_task_sample from (--eval-seed S, the split's item count) only, so
 * every run with the same S scores the same items. */
typedef struct training_eval {
    const char          *split;        /* "test" or "dev" */
    int                  n;            /* items scored */
    int                 *item;         /* (n) index into the split's items, increasing */
    int                 *pred;         /* (n) greedy label index, -1: none */
    int                 *rank_pred;    /* (n) rank-classified label index */
    lsc_task_eval_result res;
    int                  quiet;        /* set by the caller: no progress line (--quiet, --json) */
} training_eval;
/* --eval-sample N (default 0), --eval-seed S (default 1), --eval-dev; a bad
 * value prints a line and sets *bad (returns CLI_USAGE). */
int  training_parse_eval(const cli_opt *opts, long *sample, long *seed, int *dev, int *bad);
/* Draws the sample of t into ev (item, n) without scoring it. */
int  training_eval_items(const char *cmd, const lsc_task *t, const char *split, long sample, long seed,
                         training_eval *ev);
/* Draws the sample of t and scores it with m (lsc_task_eval_items); prints
 * the error and returns its exit code on failure. Free with
 * training_eval_free (also after failure). */
int  training_eval_run(const char *cmd, lsc_gpt *m, const lsc_task *t, const char *split, long sample, long seed,
                       training_eval *ev);
void training_eval_free(training_eval *ev);
/* Alpaca with --task-test FILE.json: the test records scored with m as a
 * classification over the training records' outputs (lsc_instruct_eval_items)
 * on the sample of t (d->ttest or d->tdev, the view of recs). */
int  training_tok_eval_run(const char *cmd, lsc_gpt *m, const training_data *d, const lsc_instruct *recs,
                           const lsc_task *t, const char *split, long sample, long seed, training_eval *ev);
/* The end of a run that evaluates (d->evaluates): the test sample, and the
 * dev sample with dev, scored (supersense: training_eval_run; alpaca:
 * training_tok_eval_run), and the baselines fitted on d->ttrain on the test
 * sample (alpaca: no suffix baseline, bl->suffix = NaN). */
int  training_eval_final(const char *cmd, lsc_gpt *m, const training_data *d, long sample, long seed, int dev,
                         training_eval *test, training_eval *devev, lsc_baselines *bl);
/* The majority and 4-letter-suffix baselines fitted on train, scored on
 * the items ev evaluated. */
int  training_eval_baselines(const lsc_task *train, const lsc_task *t, const training_eval *ev, lsc_baselines *bl,
                             lsc_error *err);
/* /eval/<split>/{item, correct, rank_correct, pred, rank_pred} (int32, one
 * per item scored; correct = greedy exact match) and /eval/labels (the
 * label names pred and rank_pred index). */
int  training_eval_write(lsc_h5 *h, const lsc_task *t, const training_eval *ev, lsc_error *err);

/* ‖ΔW‖_F / ‖W‖_F at the end of a fine-tuning run: per adapted module of
 * lo (W the frozen base weight of m, deq(W) for NF4), or with lo NULL per
 * linear weight of the fully fine-tuned m against the base file again. */
typedef struct training_delta {
    lsc_gpt_config  model;         /* of the run (module names) */
    int             n;
    lsc_delta_norm *rows;          /* (n) owned */
    double          median, max;   /* of the ratios */
} training_delta;
int  training_delta_compute(const char *cmd, const lsc_gpt *m, const lsc_lora *lo, const char *base,
                            training_delta *dd);
/* /delta/{module (PEFT names), layer, target (q k v o fc_in fc_out | gate up down),
 * dw_fro, w_fro, ratio} and root attributes dw_ratio_median, dw_ratio_max. */
int  training_delta_write(lsc_h5 *h, const training_delta *dd, lsc_error *err);
void training_delta_free(training_delta *dd);

/* QLoRA (issue 6): --quant nf4 [--blocksize N] [--double-quant | --no-double-quant]
 * [--quant-targets T] into *qo; *on = 1 with --quant nf4. CLI_OK or a usage error. */
int training_parse_quant(const char *cmd, const cli_opt *opts, int full, lsc_nf4_opts *qo, int *on);

/* Checks r against the model: r <= min(in, out) of each adapted weight. */
int training_check_ranks(const char *cmd, const lsc_gpt_config *mc, const int rank[LSC_LORA_NTARGETS]);

// ---- snapshots: train --save-every N (issue 16, training_snap.c) ----

/* The adapter at step 0, every `every` steps and the last step, as PEFT
 * directories OUT.snapshots/step-%06ld, written from the progress callback
 * (it only reads the adapter: the run is the same without it). */
typedef struct training_snap {
    char                  dir[PATH_MAX];   /* OUT.snapshots */
    const lsc_lora       *lo;              /* borrowed: the adapter being trained */
    const char           *base;            /* base_model_name_or_path of the snapshots */
    long                  every, steps;
    lsc_train_progress_fn next;            /* the callback it wraps (may be NULL) */
    void                 *next_ctx;
    int                   rc;              /* LSC_OK, or the failed write (err) that stopped the run */
    lsc_error             err;
} training_snap;
/* OUT.snapshots (trailing '/' of out ignored) into buf. */
void training_snap_dir(const char *out, char *buf, size_t n);
/* Makes OUT.snapshots; a fresh run removes every step-* of an earlier run
 * in it, a resumed one only interrupted writes' temporaries; writes step 0
 * (kept when resuming). CLI_OK or CLI_FAIL (printed). */
int  training_snap_start(training_snap *s, const char *cmd, const char *out, const char *base,
                         const lsc_lora *lo, long every, long steps, int resume);
/* lsc_train_progress_fn over a training_snap: calls s->next, then writes
 * the snapshot of a step that is a multiple of every or the last; a failed
 * write sets s->rc and stops the run. */
int  training_snap_cb(void *ctx, const lsc_train_status *st);
/* train_log.h5 /snapshots/step (int32: 0, N, 2N, ..., and the last step)
 * with attributes save_every and layout. */
int  training_snap_write_log(lsc_h5 *h, long every, long steps, lsc_error *err);

// ---- the training driver ----

typedef enum training_kind {
    TRAINING_PRETRAIN,    /* a base model from random init on the corpus */
    TRAINING_FINETUNE,    /* LoRA or --full on a task, from --base */
    TRAINING_SYNTHETIC,   /* the throughput benchmark on random tokens */
} training_kind;

/* Everything a run needs, filled by the command's parser. */
typedef struct training_opts {
    const char      *cmd;        /* "pretrain" or "train": names errors */
    training_kind    kind;
    const cli_opt   *opts;       /* the parsed options: data paths and --ctx are read once the base is known */
    const char      *out;        /* -o: model file (pretrain, --full FILE.safetensors) or directory */
    const char      *log;        /* --log FILE, or NULL: beside the output */
    const char      *profile;    /* PRETRAIN: tiny, quick or paper */
    const char      *base;       /* FINETUNE: --base */
    const char      *task;       /* FINETUNE: lm or supersense */
    int              is_ss;      /* task is supersense */
    int              alpaca;     /* --format alpaca (task "alpaca") */
    int              full;       /* every weight trainable (always for PRETRAIN) */
    int              quant;      /* --quant nf4, options in qo */
    int              resume, quiet, json, threads;
    long             seed, stop_at;
    long             eval_sample;/* FINETUNE supersense: --eval-sample N items (0: all) */
    long             eval_seed;  /* --eval-seed S of the sample (lsc_task_sample) */
    int              eval_dev;   /* --eval-dev: the dev split is scored too */
    long             timed, warm;/* SYNTHETIC: N timed steps after K untimed */
    lsc_gpt_config   mc;         /* PRETRAIN, SYNTHETIC: the shape */
    lsc_train_config tc;
    lsc_nf4_opts     qo;
    lsc_lora_config  lc;         /* ranks, alpha, dropout, rslora, init (layer mask set by run_training) */
    long             rank;       /* --rank as given, for the log */
    const char      *init;       /* --init as given, for the config and log */
    const char      *save_init;  /* FINETUNE LoRA: --save-init DIR, the step-0 adapter, or NULL */
    long             save_every; /* FINETUNE LoRA: --save-every N snapshots (training_snap), 0: none */
    int              micro_batches; /* --micro-batches K (default: the number of MPI ranks) */
    lsc_dp_reduce    dp_reduce;  /* --dp-reduce ordered|allreduce */
    const char      *rank_file;  /* FINETUNE LoRA: --rank-pattern-file FILE.json, or NULL */
    char             rank_file_sha[65];  /* its sha256, part of the run's identity */
    char           **rp_keys;    /* its keys and ranks (lc.pattern_* point here; freed by cmd_train) */
    int             *rp_vals;
} training_opts;

/* Reads the options pretrain and train share, in this order, over the
 * defaults already in o->tc: --steps --batch --lr --warmup --schedule
 * --weight-decay --clip --seed --eval-every --eval-batches --ckpt-every
 * --stop-at --threads, plus --resume, --quiet, --log. derive: the warm-up
 * (5 %) and validation interval (10 %) defaults follow --steps rather than
 * o->tc. Malformed values print a line and set *bad. */
void training_parse_run_opts(const cli_opt *opts, int derive, training_opts *o, int *bad);

/* Every run, fresh or --resume: removes the temporaries an interrupted run
 * left (lsc_atomic_clean of each path given; NULL entries skipped) and,
 * unless quiet, says how many on stderr. */
void training_clean_orphans(const char *const paths[], int n, int quiet);

// ---- data-parallel runs on MPI ranks (issue 18, training_dist.c) ----

/* First thing of run_training: --micro-batches K (default the number of ranks) and
 * --dp-reduce ordered|allreduce into o, checked; on a rank other than 0 the run is made
 * silent (--quiet, no --json, no --save-init or --save-every: rank 0 alone prints and writes).
 * CLI_OK or a usage error (printed by rank 0). */
int  training_dist_setup(training_opts *o);
/* After lsc_trainer_init: data-parallel steps (lsc_trainer_set_dp over MPI through dist.c)
 * when there are several ranks or K > 1; nothing otherwise. LSC_OK or the library's error. */
int  training_dist_attach(const training_opts *o, lsc_trainer *tr, lsc_error *err);
/* The progress callback of a data-parallel run: calls next(next_ctx, st), then every rank
 * stops when any of them asked to (Ctrl-C, --stop-at, a failed snapshot: dist_any). */
typedef struct training_dist_cb_ctx {
    lsc_train_progress_fn next;
    void                 *next_ctx;
} training_dist_cb_ctx;
int  training_dist_cb(void *ctx, const lsc_train_status *st);
/* The log's parameters mpi_ranks, micro_batches, dp_reduce, dp_bytes_per_step appended to
 * par[np...]; returns the new count. */
int  training_dist_params(lsc_h5_param *par, int np, const training_opts *o, const lsc_trainer *tr);

/* The run: model, data, paths, checkpointed training with the progress
 * line, outputs, summary on stdout. Returns the exit status (130 when
 * stopped by Ctrl-C). */
int run_training(training_opts *o);

#endif /* LSC_TRAINING_H */
