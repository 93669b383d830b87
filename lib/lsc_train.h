/*
 * lsc_train.h — optimiser, training loop and task evaluation (adamw.c train.c
 * task_eval.c).
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 */
#ifndef LSC_TRAIN_H
#define LSC_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "lsc_model.h"
#include "lsc_lora.h"

// ---- optimiser and training loop (adamw.c train.c) ----
/* AdamW with decoupled weight decay (torch.optim.AdamW's update), a
 * warm-up + cosine/linear/constant learning-rate schedule and clipping by
 * the global gradient norm. Flat loops over caller-owned buffers: no
 * allocation, no RNG. Same inputs → same bits with any thread count. */

typedef enum lsc_lr_schedule {
    LSC_LR_COSINE   = 0,
    LSC_LR_LINEAR   = 1,
    LSC_LR_CONSTANT = 2
} lsc_lr_schedule;

typedef struct lsc_adamw_config {
    double lr;             /* peak learning rate */
    double min_lr_frac;    /* decay floor as a fraction of lr (0 = to zero) */
    double beta1, beta2, eps;
    double weight_decay;   /* decoupled: p *= 1 - lr·wd */
    double grad_clip;      /* max global gradient norm; <= 0 disables */
    long   warmup;         /* linear warm-up steps */
    long   steps;          /* total steps (the schedule's horizon) */
    lsc_lr_schedule schedule;
} lsc_adamw_config;

/* lr 1e-3, betas (0.9, 0.999), eps 1e-8, wd 0, clip 1, no warm-up, cosine. */
void        lsc_adamw_config_default(lsc_adamw_config *cfg);
const char *lsc_lr_schedule_name(lsc_lr_schedule s);
/* "cosine" | "linear" | "constant" → *out; LSC_EARG otherwise. */
int         lsc_lr_schedule_parse(const char *name, lsc_lr_schedule *out);
/* Learning rate of the update at 0-based step (warm-up lr·(step+1)/warmup). */
double      lsc_lr_at(const lsc_adamw_config *cfg, long step);
/* Euclidean norm of grads[n], summed in double in fixed-size chunks. */
double      lsc_grad_norm(const float *grads, size_t n);
/* Factor that clips a gradient of norm grad_norm to max_norm
 * (min(1, max_norm/(norm + 1e-6)), as clip_grad_norm_); 1 when disabled. */
double      lsc_clip_scale(double grad_norm, double max_norm);
/* One AdamW update of params[n] from grad_scale·grads[n] with moments m[n],
 * v[n] (caller-owned, zero before the first step); t = 1-based step count. */
void        lsc_adamw_step(float *params, const float *grads, float *m, float *v,
                           size_t n, const lsc_adamw_config *cfg, double lr,
                           double grad_scale, long t);

/* The training loop (train.c). LoRA mode (lora != NULL): the model is set
 * LSC_GPT_FROZEN and only the adapter's buffer is trained (AdamW moments
 * sized by the adapter); full mode (lora == NULL): every model weight, with
 * weight decay on 2-D weights only. Nothing is printed: progress goes to a
 * callback. Checkpoint = one safetensors file (trainable buffer, AdamW m/v,
 * loss log; metadata: step, both RNG words, wall time, the caller's config
 * string), written atomically, so lsc_trainer_resume + lsc_trainer_run
 * reproduce an uninterrupted run bit for bit.
 *
 *     lsc_train_config tc; lsc_train_config_default(&tc);
 *     tc.B = 8; tc.T = 64; tc.steps = 200; tc.opt.lr = 1e-3;
 *     tc.ckpt_path = "out/train_state.safetensors";
 *     lsc_trainer tr;    // corpora from lsc_corpus_load + lsc_corpus_split
 *     lsc_trainer_init(&tr, &model, &lora, &tc, lsc_corpus_batch, &train,
 *                      lsc_corpus_batch, &valid, &err);
 *     if (resume) lsc_trainer_resume(&tr, tc.ckpt_path, &err);
 *     lsc_trainer_run(&tr, 0, progress, NULL, &err);   // to tc.steps
 *     lsc_lora_save(&lora, "base.safetensors", "out", &err);
 *     lsc_trainer_free(&tr);
 */
typedef struct lsc_train_config {
    int      B, T;            /* batch rows, tokens per row (T <= n_ctx) */
    long     steps;           /* optimiser steps (also opt.steps) */
    lsc_adamw_config opt;
    uint64_t seed;            /* training RNG (LoRA dropout) */
    uint64_t data_seed;       /* RNG handed to the batch source */
    long     eval_every;      /* validate every k steps; 0 = only at the end */
    int      eval_batches;    /* size of the fixed validation set; 0 = none */
    uint64_t eval_seed;       /* seeds the draw of the validation batches */
    long     ckpt_every;      /* checkpoint every k steps; 0 = only at the end */
    const char *ckpt_path;    /* checkpoint file or NULL (borrowed) */
    const char *config_json;  /* the caller's run description, stored in the
                                 checkpoint and required to match on resume
                                 (borrowed, may be NULL) */
} lsc_train_config;

/* What the progress callback sees after each step (is_eval 0) and after
 * each validation (is_eval 1). */
typedef struct lsc_train_status {
    long   step, steps;       /* completed, total */
    double loss, lr, grad_norm, step_ms;
    double elapsed_s;         /* this session */
    double tokens_per_s;      /* this session */
    double eta_s;
    int    is_eval;
    double val_loss;          /* NaN unless is_eval */
} lsc_train_status;
/* Non-zero return: stop after this step (a checkpoint is written). */
typedef int (*lsc_train_progress_fn)(void *ctx, const lsc_train_status *st);

/* Data-parallel training (train_dp.c): the gradient exchange between ranks, as callbacks the
 * program fills (with MPI in lorascope, with threads in the tests): the library never calls MPI.
 * Each returns 0, or non-zero on failure (the step then fails with LSC_EIO). Buffers are floats.
 *   send(ctx, dest, buf, n) / recv(ctx, src, buf, n): n floats to / from one rank, blocking;
 *   bcast(ctx, root, buf, n): root's n floats into buf on every rank;
 *   allreduce(ctx, buf, n): buf becomes the elementwise sum over ranks on every rank (only
 *     for LSC_DP_ALLREDUCE; may be NULL otherwise). */
typedef struct lsc_grad_comm {
    int   rank, size;
    void *ctx;
    int (*send)(void *ctx, int dest, const float *buf, size_t n);
    int (*recv)(void *ctx, int src, float *buf, size_t n);
    int (*bcast)(void *ctx, int root, float *buf, size_t n);
    int (*allreduce)(void *ctx, float *buf, size_t n);
} lsc_grad_comm;

/* How the micro-batches' gradients are summed. ORDERED: in global micro-batch order,
 * g_0 + g_1 + ... + g_{K-1} (a chain through the ranks, in pieces, then a broadcast from the
 * last rank), so the sum has the same bits whatever the number of ranks; ALLREDUCE: each rank
 * sums its own, then comm->allreduce (float rounding may differ from ORDERED). */
typedef enum lsc_dp_reduce { LSC_DP_ORDERED = 0, LSC_DP_ALLREDUCE = 1 } lsc_dp_reduce;
const char *lsc_dp_reduce_name(lsc_dp_reduce how);
/* "ordered" | "allreduce" → *out; LSC_EARG otherwise. */
int         lsc_dp_reduce_parse(const char *name, lsc_dp_reduce *out);

typedef struct lsc_trainer {
    lsc_train_config cfg;
    lsc_gpt     *model;       /* borrowed */
    lsc_lora    *lora;        /* borrowed; NULL = full mode */
    float       *params;      /* (n) trainable buffer (borrowed view) */
    float       *grads;       /* (n) its gradients (borrowed view) */
    size_t       n;
    float       *m, *v;       /* (n) AdamW moments, owned */
    long         step;        /* completed steps */
    uint64_t     rng, data_rng;
    lsc_batch_fn batch_fn;
    void        *batch_ctx;
    int         *inputs, *targets;  /* (B, T) owned */
    float       *mask;              /* (B, T) owned */
    int          n_val;             /* fixed validation batches */
    int         *val_inputs, *val_targets; /* (n_val, B, T) owned */
    float       *val_mask;                 /* (n_val, B, T) owned */
    float       *log_loss, *log_lr, *log_grad_norm, *log_step_ms; /* (steps) owned */
    long         n_eval, eval_cap;
    long        *eval_step;       /* (eval_cap) step of each validation */
    float       *eval_loss;       /* (eval_cap) */
    double       wall_s;          /* training wall time over all sessions */
    long         last_ckpt_step;  /* step of the last checkpoint written/read */
    int          stopped;         /* the callback asked to stop */
    /* data-parallel steps (lsc_trainer_set_dp; all zero/NULL otherwise) */
    const lsc_grad_comm *comm;    /* borrowed, or NULL: one process */
    int          micro_batches;   /* K: 0 or 1 = the plain step */
    lsc_dp_reduce dp_reduce;
    int          mb_first, mb_end;/* this rank's micro-batches [mb_first, mb_end) */
    float       *dp_local;        /* (mb_end - mb_first, n + 1) owned: its gradients, loss last */
    float       *dp_acc;          /* (n + 1) owned: the sum */
} lsc_trainer;

/* B 8, T 64, 100 steps, lsc_adamw_config_default, seeds 1/2, 8 validation
 * batches from seed 12345, validation and checkpoint only at the end. */
void lsc_train_config_default(lsc_train_config *cfg);
/* Sets the model's trainable mode, allocates activations for (B, T) if
 * smaller, makes lora the model's active adapter, allocates moments, batch
 * buffers and the log, and draws the validation set from val_fn (may be
 * NULL). Errors: T above n_ctx, non-positive sizes/steps/lr, shape mismatch.
 * Free with lsc_trainer_free (model and lora stay the caller's). */
int  lsc_trainer_init(lsc_trainer *tr, lsc_gpt *m, lsc_lora *lora,
                      const lsc_train_config *cfg, lsc_batch_fn train_fn,
                      void *train_ctx, lsc_batch_fn val_fn, void *val_ctx,
                      lsc_error *err);
void lsc_trainer_free(lsc_trainer *tr);
/* One step: batch, zero grads, forward, backward, clip, AdamW. A NaN/Inf
 * loss or gradient norm gives LSC_ENAN naming the step, before any update. */
int  lsc_trainer_step(lsc_trainer *tr, lsc_error *err);
/* Runs until step `until` (<= 0: cfg.steps) with validation and checkpoints
 * at their intervals; then writes a checkpoint (if cfg.ckpt_path). On error
 * nothing more is written: the last checkpoint stays intact. */
int  lsc_trainer_run(lsc_trainer *tr, long until, lsc_train_progress_fn fn,
                     void *ctx, lsc_error *err);
/* Data-parallel steps: each step's batch (B rows, drawn the same on every rank) is cut into K
 * micro-batches of consecutive rows (the first B % K one row longer); rank i computes
 * micro-batches [i·K/N, (i+1)·K/N) (K >= N = comm->size), each with its loss scaled by the whole
 * batch's mask sum (lsc_gpt.loss_denom) and LoRA dropout drawn from a stream of its own, so the
 * result depends on K but not on N. The trainable gradients (and the loss) are summed (how) and
 * every rank takes the same clipped AdamW step, so all ranks hold the same parameters. Only
 * rank 0 writes checkpoints (lsc_trainer_run, lsc_trainer_save are no-ops elsewhere). comm NULL:
 * one process running K micro-batches (the reference the ranks must match). Allocates the
 * per-rank gradient copies ((K/N + 1)·(n + 1) floats) and the sum. LSC_EARG: K < N, K > B, a
 * missing callback. Call after lsc_trainer_init (before or after lsc_trainer_resume). */
int    lsc_trainer_set_dp(lsc_trainer *tr, const lsc_grad_comm *comm, int micro_batches, lsc_dp_reduce how,
                          lsc_error *err);
/* Bytes each step's reduction carries: (n + 1) floats (the trainable gradient and the loss);
 * 0 for the plain step. */
size_t lsc_trainer_dp_bytes(const lsc_trainer *tr);
/* Mean loss over the fixed validation set (mask-weighted), no dropout. */
int  lsc_trainer_evaluate(lsc_trainer *tr, double *val_loss, lsc_error *err);
/* Checkpoint to path (temporary + rename) / restore from it. Resume checks
 * format, mode, trainable size, (B, T), steps and config_json. */
int  lsc_trainer_save(lsc_trainer *tr, const char *path, lsc_error *err);
int  lsc_trainer_resume(lsc_trainer *tr, const char *path, lsc_error *err);

/* Mean loss of m over n_batches drawn from fn with an rng seeded by seed
 * (no dropout); allocates m's activations for (B, T) if smaller. */
int  lsc_eval_loss(lsc_gpt *m, lsc_batch_fn fn, void *ctx, int n_batches,
                   int B, int T, uint64_t seed, double *loss, lsc_error *err);
/* Autoregressive decoding of n_rows rows at once (chunks of m->B_alloc).
 * tokens (n_rows, width): row i holds its prompt in [0, prompt_len[i]);
 * tokens are appended until stop_token (kept), max_new tokens, or width.
 * out_len[i] = final length. temperature <= 0 or rng NULL: greedy (argmax);
 * otherwise softmax(logits/temperature) sampled from rng. Beyond the
 * allocated T (m->T_alloc <= n_ctx) only the last T tokens are seen.
 * Needs lsc_gpt_alloc_acts first. */
int  lsc_decode(lsc_gpt *m, int n_rows, int *tokens, int width,
                const int *prompt_len, int max_new, int stop_token,
                double temperature, uint64_t *rng, int *out_len,
                lsc_error *err);
/* FLOPs of one training step (the model is stated in train.c): full = 3×
 * forward; LoRA skips the weight-gradient GEMMs of frozen weights. */
double lsc_train_step_flops(const lsc_gpt_config *c, const lsc_lora *lora,
                            int B, int T, int full);
/* Bytes the trainer's buffers need (the prediction compared with peak RSS):
 * weights (model + adapter), grads (model in full mode, adapter in LoRA
 * mode), AdamW moments, activations (model + adapter caches), batches.
 * parts may be NULL. */
typedef struct lsc_train_memory {
    size_t weights, grads, moments, activations, batches, total;
} lsc_train_memory;
size_t lsc_train_predicted_bytes(const lsc_trainer *tr, lsc_train_memory *parts);
/* Model shape and training settings of a `pretrain --profile`: "tiny"
 * (seconds, the tests), "quick" (minutes, C=128), "paper" (L2 C=512, about
 * 2.5 hours on 2 threads; d = 512 so that r = 64 is d/8). Fills
 * both (defaults first); LSC_EARG for an unknown name. */
int  lsc_pretrain_profile(const char *name, lsc_gpt_config *mc, lsc_train_config *tc);

/* Evaluation of a word<TAB>label task (data.c's format; task_eval.c) on
 * the items items[0..n_items) (indices into t; lsc_task_sample draws
 * them). Three measures per item:
 *   greedy exact match: decode from the prompt "word\t" alone until LF (at
 *     most max_label + 1 bytes); correct when it names the gold label;
 *   rank classification: the label l whose completion "label\n" has the
 *     highest total log-likelihood (sum over its bytes of log softmax,
 *     teacher-forced after the prompt) among ALL n_labels labels (ties:
 *     the lowest index); correct when that is the gold label;
 *   label loss: the gold completions' -sum of log-likelihoods / their byte
 *     count (nats per label byte, the bytes fine-tuning trains on).
 * pred, rank_pred (n_items) and label_ll (n_items, n_labels) may be NULL;
 * pred[q] is the decoded label index (-1: none). m's active adapter applies;
 * m's activations are reallocated when they cannot hold width - 1
 * positions or 256 rows of one step.
 * LSC_EARG: no items, an item out of range, items longer than n_ctx. */
typedef struct lsc_task lsc_task;
typedef struct lsc_task_eval_result {
    int    n;               /* items scored */
    double accuracy;        /* greedy exact match */
    double rank_accuracy;   /* rank classification */
    double loss;            /* label loss, nats per label byte */
} lsc_task_eval_result;
int  lsc_task_eval_items(lsc_gpt *m, const lsc_task *t, const int *items, int n_items,
                         lsc_task_eval_result *res, int *pred, int *rank_pred, double *label_ll,
                         lsc_error *err);
/* The same, calling progress(ctx, k, n_items) as the rank classifier has
 * scored k items: (0, n) before the greedy decoding, then after each batch
 * (progress may be NULL; nothing is printed). */
typedef void (*lsc_eval_progress_fn)(void *ctx, long done, long total);
int  lsc_task_eval_items_progress(lsc_gpt *m, const lsc_task *t, const int *items, int n_items,
                                  lsc_task_eval_result *res, int *pred, int *rank_pred,
                                  double *label_ll, lsc_eval_progress_fn progress, void *ctx,
                                  lsc_error *err);
/* The rank classifier's scores alone: ll (n_items, n_labels) = the total
 * log-likelihood of each label's completion after each item's prompt,
 * batched: the rows "word\tlabel\n" of ~256/n_labels items and all labels
 * advance together through the key/value-cached step forward, each prompt
 * fed once and its keys/values shared by its rows; log-softmax in double.
 * Equals scoring each row alone with lsc_gpt_forward up to float rounding
 * (tests/test_task_eval.c: 1e-6 relative). */
int  lsc_task_label_ll(lsc_gpt *m, const lsc_task *t, const int *items, int n_items, double *ll,
                       lsc_error *err);
/* lsc_task_eval_items on the first `limit` items (<= 0: all): greedy
 * accuracy and label loss; pred (n) or NULL as above. */
int  lsc_task_eval(lsc_gpt *m, const lsc_task *t, int limit, double *accuracy,
                   double *loss, int *pred, lsc_error *err);

#endif /* LSC_TRAIN_H */
