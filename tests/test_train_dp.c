/*
 * test_train_dp.c — data-parallel training (lib/train_dp.c) without MPI: ranks are threads
 * of this process exchanging gradients through an in-process lsc_grad_comm (one mailbox per
 * ordered pair of ranks). Checks: the micro-batch gradients (each scaled by the whole batch's
 * mask sum) add up to the one-pass gradient and loss; 2 and 3 ranks give the same parameters,
 * moments and loss curve bit for bit as one process with the same K micro-batches (LoRA, LoRA
 * with dropout, full fine-tuning); the allreduce reduction agrees to float rounding; only rank 0
 * writes its checkpoint; a resume with another rank count continues; the errors (K < N, K > B,
 * a missing callback, a failed exchange) are reported with their messages.
 * Runs from the project root (data/fixtures/tiny.txt).
 */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "lsc_internal.h"
#include "test.h"

#define MAXR 4

// ---- an in-process exchange: threads as ranks ----

typedef struct box {
    float  *buf;    /* a copy of the message, NULL when empty */
    size_t  n;
} box;

typedef struct world {
    int             size;
    pthread_mutex_t mu;
    pthread_cond_t  cv;
    box             slot[MAXR][MAXR];   /* [src][dest] */
    long            sent_floats[MAXR];  /* by sender */
} world;

typedef struct rank_ctx {
    world *w;
    int    rank;
} rank_ctx;

static int w_send(void *ctx, int dest, const float *buf, size_t n)
{
    rank_ctx *c = ctx;
    world *w = c->w;
    float *copy = malloc(n * sizeof *copy);
    if (!copy || dest < 0 || dest >= w->size) {
        free(copy);
        return -1;
    }
    memcpy(copy, buf, n * sizeof *copy);
    pthread_mutex_lock(&w->mu);
    while (w->slot[c->rank][dest].buf)
        pthread_cond_wait(&w->cv, &w->mu);
    w->slot[c->rank][dest] = (box){copy, n};
    w->sent_floats[c->rank] += (long)n;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return 0;
}

static int w_recv(void *ctx, int src, float *buf, size_t n)
{
    rank_ctx *c = ctx;
    world *w = c->w;
    pthread_mutex_lock(&w->mu);
    while (!w->slot[src][c->rank].buf)
        pthread_cond_wait(&w->cv, &w->mu);
    box b = w->slot[src][c->rank];
    w->slot[src][c->rank] = (box){NULL, 0};
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    int ok = b.n == n;
    if (ok)
        memcpy(buf, b.buf, n * sizeof *buf);
    free(b.buf);
    return ok ? 0 : -1;
}

static int w_bcast(void *ctx, int root, float *buf, size_t n)
{
    rank_ctx *c = ctx;
    if (c->rank != root)
        return w_recv(ctx, root, buf, n);
    for (int r = 0; r < c->w->size; r++)
        if (r != root && w_send(ctx, r, buf, n) != 0)
            return -1;
    return 0;
}

/* the sum over ranks at rank 0 in rank order, then broadcast */
static int w_allreduce(void *ctx, float *buf, size_t n)
{
    rank_ctx *c = ctx;
    if (c->rank != 0) {
        if (w_send(ctx, 0, buf, n) != 0)
            return -1;
        return w_recv(ctx, 0, buf, n);
    }
    float *tmp = malloc(n * sizeof *tmp);
    if (!tmp)
        return -1;
    for (int r = 1; r < c->w->size; r++) {
        if (w_recv(ctx, r, tmp, n) != 0) {
            free(tmp);
            return -1;
        }
        for (size_t i = 0; i < n; i++)
            buf[i] += tmp[i];
    }
    free(tmp);
    for (int r = 1; r < c->w->size; r++)
        if (w_send(ctx, r, buf, n) != 0)
            return -1;
    return 0;
}

// ---- tiny model, data and one run ----

static lsc_corpus tiny, tiny_train, tiny_valid;
static const lsc_gpt_config small_cfg = {.n_layer = 2, .n_head = 2, .n_embd = 32, .n_ctx = 32, .vocab = 256};

enum { MODE_LORA, MODE_DROPOUT, MODE_FULL };
static const char *mode_name[] = {"LoRA", "LoRA with dropout", "full fine-tuning"};

/* One rank's (or one process's) run and what it leaves. */
typedef struct job {
    int             mode, K, steps, stop;
    lsc_dp_reduce   how;
    const lsc_grad_comm *comm;   /* NULL: one process */
    const char     *ckpt;        /* checkpoint path or NULL */
    int             resume;
    /* results */
    int             rc;
    lsc_error       err;
    float          *params, *m, *v, *loss;   /* copies (n, n, n, steps) */
    size_t          n;
    long            step;
    size_t          dp_bytes;
} job;

static void job_free(job *j)
{
    free(j->params);
    free(j->m);
    free(j->v);
    free(j->loss);
    j->params = j->m = j->v = j->loss = NULL;
}

static void *job_run(void *arg)
{
    job *j = arg;
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    lsc_gpt m;
    lsc_lora lo;
    lsc_trainer tr;
    memset(&m, 0, sizeof m);
    memset(&lo, 0, sizeof lo);
    memset(&tr, 0, sizeof tr);
    uint64_t rng;
    lsc_rng_seed(&rng, 3);
    lsc_error *err = &j->err;
    j->rc = lsc_gpt_init(&m, &small_cfg, err);
    if (j->rc != LSC_OK)
        return NULL;
    lsc_gpt_init_weights(&m, &rng);
    if (j->mode != MODE_FULL) {
        lsc_lora_config lc;
        memset(&lc, 0, sizeof lc);
        lc.rank[LSC_LORA_Q] = 4;
        lc.rank[LSC_LORA_V] = 2;
        lc.alpha = 8;
        lc.dropout = j->mode == MODE_DROPOUT ? 0.1 : 0.0;
        lc.init = LSC_LORA_INIT_KAIMING;
        if ((j->rc = lsc_lora_init(&lo, &m.config, &lc, &rng, err)) != LSC_OK)
            goto done;
    }
    lsc_train_config tc;
    lsc_train_config_default(&tc);
    tc.B = 6;
    tc.T = 32;
    tc.steps = j->steps;
    tc.opt.lr = j->mode == MODE_FULL ? 1e-3 : 1e-2;
    tc.opt.warmup = 2;
    tc.opt.weight_decay = j->mode == MODE_FULL ? 0.1 : 0.0;
    tc.eval_every = 3;
    tc.eval_batches = 2;
    tc.ckpt_every = 2;
    tc.ckpt_path = j->ckpt;
    tc.config_json = "{\"test\":\"dp\"}";
    tc.seed = 11;
    tc.data_seed = 12;
    if ((j->rc = lsc_trainer_init(&tr, &m, j->mode == MODE_FULL ? NULL : &lo, &tc, lsc_corpus_batch, &tiny_train,
                                  lsc_corpus_batch, &tiny_valid, err)) != LSC_OK)
        goto done;
    if (j->K > 1 || j->comm)
        if ((j->rc = lsc_trainer_set_dp(&tr, j->comm, j->K, j->how, err)) != LSC_OK)
            goto done;
    if (j->resume && (j->rc = lsc_trainer_resume(&tr, j->ckpt, err)) != LSC_OK)
        goto done;
    if ((j->rc = lsc_trainer_run(&tr, j->stop, NULL, NULL, err)) != LSC_OK)
        goto done;
    j->n = tr.n;
    j->step = tr.step;
    j->dp_bytes = lsc_trainer_dp_bytes(&tr);
    j->params = malloc(tr.n * sizeof(float));
    j->m = malloc(tr.n * sizeof(float));
    j->v = malloc(tr.n * sizeof(float));
    j->loss = calloc((size_t)tc.steps, sizeof(float));
    if (!j->params || !j->m || !j->v || !j->loss) {
        j->rc = LSC_ENOMEM;
        goto done;
    }
    memcpy(j->params, tr.params, tr.n * sizeof(float));
    memcpy(j->m, tr.m, tr.n * sizeof(float));
    memcpy(j->v, tr.v, tr.n * sizeof(float));
    memcpy(j->loss, tr.log_loss, (size_t)tr.step * sizeof(float));
done:
    lsc_trainer_free(&tr);
    lsc_lora_free(&lo);
    lsc_gpt_free(&m);
    return NULL;
}

/* N ranks as threads, each running base (comm, ckpt per rank filled in); jobs out[N]. */
static int run_ranks(int N, const job *base, const char *const ckpt[], job out[], world *w)
{
    memset(w, 0, sizeof *w);
    w->size = N;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    static lsc_grad_comm comm[MAXR];
    static rank_ctx rc[MAXR];
    pthread_t th[MAXR];
    int ok = 1;
    for (int r = 0; r < N; r++) {
        rc[r] = (rank_ctx){w, r};
        comm[r] = (lsc_grad_comm){r, N, &rc[r], w_send, w_recv, w_bcast, w_allreduce};
        out[r] = *base;
        out[r].comm = &comm[r];
        out[r].ckpt = ckpt ? ckpt[r] : NULL;
        if (pthread_create(&th[r], NULL, job_run, &out[r]) != 0)
            ok = 0;
    }
    for (int r = 0; r < N; r++)
        pthread_join(th[r], NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    return ok;
}

static int same_bits(const job *a, const job *b)
{
    size_t n = a->n;
    return a->rc == LSC_OK && b->rc == LSC_OK && a->n == b->n && a->step == b->step &&
           memcmp(a->params, b->params, n * sizeof(float)) == 0 && memcmp(a->m, b->m, n * sizeof(float)) == 0 &&
           memcmp(a->v, b->v, n * sizeof(float)) == 0 &&
           memcmp(a->loss, b->loss, (size_t)a->step * sizeof(float)) == 0;
}

// ---- the micro-batch gradients add up to the batch's ----

static void test_gradient_sum(int full)
{
    lsc_error err = {0};
    lsc_gpt m;
    lsc_lora lo;
    memset(&lo, 0, sizeof lo);
    uint64_t rng;
    lsc_rng_seed(&rng, 5);
    const int B = 8, T = 32, K = 4;
    int in[8 * 32], tg[8 * 32];
    float mk[8 * 32];
    int ok = lsc_gpt_init(&m, &small_cfg, &err) == LSC_OK;
    if (!ok) {
        CHECK(0, "gradient sum: model init: %s", err.msg);
        return;
    }
    lsc_gpt_init_weights(&m, &rng);
    if (!full) {
        lsc_lora_config lc;
        memset(&lc, 0, sizeof lc);
        lc.rank[LSC_LORA_Q] = lc.rank[LSC_LORA_V] = 4;
        lc.alpha = 8;
        lc.init = LSC_LORA_INIT_GAUSSIAN;   /* B = 0 at init: make B non-zero below */
        ok = lsc_lora_init(&lo, &m.config, &lc, &rng, &err) == LSC_OK;
        for (size_t i = 0; ok && i < lo.num_parameters; i++)
            lo.params[i] = 0.05f * (float)lsc_rng_normal(&rng);
    }
    ok = ok && lsc_gpt_set_trainable(&m, full ? LSC_GPT_FULL : LSC_GPT_FROZEN, &err) == LSC_OK &&
         lsc_gpt_alloc_acts(&m, B, T, &err) == LSC_OK && lsc_gpt_set_lora(&m, full ? NULL : &lo, &err) == LSC_OK &&
         lsc_corpus_batch(&tiny_train, B, T, in, tg, mk, &rng, &err) == LSC_OK;
    for (int i = 0; i < B * T; i++)   /* an uneven mask: rows weigh differently */
        mk[i] = (i / T) % 3 == 0 ? 0.0f : (i % 5 == 0 ? 0.5f : 1.0f);
    float *g = full ? m.grads_memory : lo.grads;
    size_t n = full ? m.num_parameters : lo.num_parameters;
    double *one = calloc(n, sizeof *one), *sum = calloc(n, sizeof *sum);
    ok = ok && one && sum;
    double loss1 = 0, loss_sum = 0, msum = 0;
    if (ok) {
        lsc_gpt_zero_grad(&m);
        ok = lsc_gpt_forward(&m, in, tg, mk, B, T, NULL, &err) == LSC_OK && lsc_gpt_backward(&m, &err) == LSC_OK;
        loss1 = m.mean_loss;
        for (size_t i = 0; i < n; i++)
            one[i] = g[i];
        for (int i = 0; i < B * T; i++)
            msum += mk[i];
    }
    for (int k = 0; ok && k < K; k++) {
        int r0 = k * B / K, r1 = (k + 1) * B / K;
        lsc_gpt_zero_grad(&m);
        m.loss_denom = msum;
        ok = lsc_gpt_forward(&m, in + r0 * T, tg + r0 * T, mk + r0 * T, r1 - r0, T, NULL, &err) == LSC_OK &&
             lsc_gpt_backward(&m, &err) == LSC_OK;
        m.loss_denom = 0;
        loss_sum += m.mean_loss;
        for (size_t i = 0; i < n; i++)
            sum[i] += g[i];
    }
    double maxd = 0, maxg = 0;
    for (size_t i = 0; ok && i < n; i++) {
        maxd = fmax(maxd, fabs(one[i] - sum[i]));
        maxg = fmax(maxg, fabs(one[i]));
    }
    const char *what = full ? "full" : "LoRA";
    CHECK(ok && maxg > 0 && maxd <= 1e-6 * maxg,
          "%s: the gradients of %d micro-batches (each over the batch's mask sum) add up to one pass's: max diff "
          "%.2e of max |g| %.2e (%s)", what, K, maxd, maxg, ok ? "" : err.msg);
    CHECK(ok && fabs(loss_sum - loss1) <= 1e-6 * fabs(loss1),
          "%s: the micro-batches' loss shares add up to the batch's mean loss (%.7f vs %.7f)", what, loss_sum, loss1);
    free(one);
    free(sum);
    lsc_lora_free(&lo);
    lsc_gpt_free(&m);
}

// ---- ranks equal one process, bit for bit ----

static void test_ranks_equal(int mode)
{
    const int steps = 6;
    for (int N = 2; N <= 3; N++) {
        int K = 6;
        job ref = {.mode = mode, .K = K, .steps = steps, .how = LSC_DP_ORDERED};
        job_run(&ref);
        job rk[MAXR];
        world w;
        run_ranks(N, &ref, NULL, rk, &w);
        int all = ref.rc == LSC_OK;
        for (int r = 0; r < N; r++)
            all = all && same_bits(&rk[r], &ref);
        CHECK(all, "%s: %d ranks x %d micro-batches = one process with %d micro-batches, bit for bit (parameters, "
                   "AdamW moments, loss curve on every rank)%s%s", mode_name[mode], N, K, K,
              ref.rc ? ": " : "", ref.rc ? ref.err.msg : rk[0].rc ? rk[0].err.msg : "");
        /* bytes: each step rank i < N-1 passes n + 1 floats down the chain, the last broadcasts */
        long expect = (long)steps * (long)(ref.n + 1);
        CHECK(rk[0].dp_bytes == (ref.n + 1) * sizeof(float) && w.sent_floats[0] == expect &&
              w.sent_floats[N - 1] == (long)(N - 1) * expect,
              "%s, %d ranks: (n + 1) = %zu floats reduced per step; rank 0 sent %ld floats, rank %d %ld", mode_name[mode],
              N, ref.n + 1, w.sent_floats[0], N - 1, w.sent_floats[N - 1]);
        for (int r = 0; r < N; r++)
            job_free(&rk[r]);
        job_free(&ref);
    }
    /* K = N = 2 against one process with K = 2, and K = 1 (the plain step) differs only by rounding */
    job ref2 = {.mode = mode, .K = 2, .steps = steps}, plain = {.mode = mode, .K = 1, .steps = steps};
    job_run(&ref2);
    job_run(&plain);
    job rk[MAXR];
    world w;
    run_ranks(2, &ref2, NULL, rk, &w);
    CHECK(same_bits(&rk[0], &ref2) && same_bits(&rk[1], &ref2),
          "%s: 2 ranks (default K = 2) = one process with --micro-batches 2, bit for bit", mode_name[mode]);
    double maxd = 0;
    for (int s = 0; plain.rc == LSC_OK && ref2.rc == LSC_OK && s < steps; s++)
        maxd = fmax(maxd, fabs(plain.loss[s] - ref2.loss[s]) / fabs(plain.loss[s]));
    CHECK(plain.rc == LSC_OK && ref2.rc == LSC_OK && (mode == MODE_DROPOUT || maxd < 1e-5),
          "%s: K = 2 loss curve vs the plain step: max relative diff %.2e%s", mode_name[mode], maxd,
          mode == MODE_DROPOUT ? " (dropout masks differ: not compared)" : "");
    for (int r = 0; r < 2; r++)
        job_free(&rk[r]);
    job_free(&ref2);
    job_free(&plain);
}

static void test_allreduce(void)
{
    job ord = {.mode = MODE_LORA, .K = 4, .steps = 6, .how = LSC_DP_ORDERED};
    job_run(&ord);
    job base = ord;
    base.how = LSC_DP_ALLREDUCE;
    job rk[MAXR];
    world w;
    run_ranks(2, &base, NULL, rk, &w);
    double maxd = 0;
    int ok = ord.rc == LSC_OK && rk[0].rc == LSC_OK && rk[1].rc == LSC_OK;
    for (int s = 0; ok && s < 6; s++)
        maxd = fmax(maxd, fabs(ord.loss[s] - rk[0].loss[s]) / fabs(ord.loss[s]));
    CHECK(ok && maxd < 1e-5 && memcmp(rk[0].params, rk[1].params, ord.n * sizeof(float)) == 0,
          "allreduce, 2 ranks: loss curve within %.1e of the ordered one, both ranks hold the same parameters",
          maxd);
    for (int r = 0; r < 2; r++)
        job_free(&rk[r]);
    job_free(&ord);
}

// ---- only rank 0 writes; resume with another rank count ----

static void test_writes_and_resume(void)
{
    const char *ck[MAXR] = {test_tmp("ck_r0"), test_tmp("ck_r1"), test_tmp("ck_r2"), test_tmp("ck_r3")};
    job full = {.mode = MODE_DROPOUT, .K = 6, .steps = 8};
    job_run(&full);
    /* 2 ranks to step 5 (checkpoints every 2 and at the stop), then 3 ranks resume to 8 */
    job base = {.mode = MODE_DROPOUT, .K = 6, .steps = 8, .stop = 5};
    job rk[MAXR];
    world w;
    run_ranks(2, &base, ck, rk, &w);
    CHECK(rk[0].rc == LSC_OK && rk[0].step == 5 && access(ck[0], F_OK) == 0 && access(ck[1], F_OK) != 0,
          "only rank 0 writes its checkpoint (rank 0's exists, rank 1's does not)");
    for (int r = 0; r < 2; r++)
        job_free(&rk[r]);
    const char *same[MAXR] = {ck[0], ck[0], ck[0], ck[0]};
    base.stop = 0;
    base.resume = 1;
    run_ranks(3, &base, same, rk, &w);
    CHECK(same_bits(&rk[0], &full) && same_bits(&rk[2], &full),
          "resume 2 -> 3 ranks (K = 6): the same bits as an uninterrupted one-process run%s%s",
          rk[0].rc ? ": " : "", rk[0].rc ? rk[0].err.msg : "");
    for (int r = 0; r < 3; r++)
        job_free(&rk[r]);
    job_free(&full);
}

// ---- errors ----

static int fail_send(void *ctx, int dest, const float *buf, size_t n)
{
    (void)ctx; (void)dest; (void)buf; (void)n;
    return -1;
}

static void test_errors(void)
{
    job j = {.mode = MODE_LORA, .K = 1, .steps = 2};
    lsc_grad_comm three = {0, 3, NULL, fail_send, NULL, NULL, NULL};
    j.comm = &three;
    job_run(&j);
    CHECK(j.rc == LSC_EARG && strstr(j.err.msg, "1 micro-batches for 3 ranks"), "K < N: %s", j.err.msg);
    j = (job){.mode = MODE_LORA, .K = 7, .steps = 2};
    job_run(&j);
    CHECK(j.rc == LSC_EARG && strstr(j.err.msg, "7 micro-batches of a batch of 6 rows"), "K > B: %s", j.err.msg);
    lsc_grad_comm norecv = {0, 2, NULL, fail_send, NULL, NULL, NULL};
    j = (job){.mode = MODE_LORA, .K = 2, .steps = 2, .comm = &norecv};
    job_run(&j);
    CHECK(j.rc == LSC_EARG && strstr(j.err.msg, "lacks a callback"), "missing callback: %s", j.err.msg);
    lsc_grad_comm bad = {0, 2, NULL, fail_send, w_recv, w_bcast, NULL};
    j = (job){.mode = MODE_LORA, .K = 2, .steps = 2, .comm = &bad};
    job_run(&j);
    CHECK(j.rc == LSC_EIO && strstr(j.err.msg, "step 1: data-parallel send with rank 1 failed"),
          "a failed send stops the step: %s", j.err.msg);
    j = (job){.mode = MODE_LORA, .K = 2, .steps = 2, .comm = &bad, .how = LSC_DP_ALLREDUCE};
    job_run(&j);
    CHECK(j.rc == LSC_EARG && strstr(j.err.msg, "'allreduce'"), "allreduce without its callback: %s", j.err.msg);
    lsc_dp_reduce how;
    CHECK(lsc_dp_reduce_parse("ordered", &how) == LSC_OK && how == LSC_DP_ORDERED &&
          lsc_dp_reduce_parse("allreduce", &how) == LSC_OK && how == LSC_DP_ALLREDUCE &&
          lsc_dp_reduce_parse("ring", &how) == LSC_EARG && strcmp(lsc_dp_reduce_name(how), "allreduce") == 0,
          "--dp-reduce names parse and print");
}

int main(void)
{
    if (test_tmpdir_make("train_dp") != 0)
        return 1;
#ifdef _OPENMP
    omp_set_num_threads(1);   /* bit identity is at one fixed thread count */
#endif
    openblas_set_num_threads(1);
    lsc_error err = {0};
    if (lsc_corpus_load(&tiny, "data/fixtures/tiny.txt", &err) != LSC_OK ||
        lsc_corpus_split(&tiny, 10, &tiny_train, &tiny_valid, &err) != LSC_OK) {
        CHECK(0, "data/fixtures/tiny.txt: %s", err.msg);
        return test_summary();
    }
    test_gradient_sum(0);
    test_gradient_sum(1);
    test_ranks_equal(MODE_LORA);
    test_ranks_equal(MODE_DROPOUT);
    test_ranks_equal(MODE_FULL);
    test_allreduce();
    test_writes_and_resume();
    test_errors();
    lsc_corpus_free(&tiny);
    lsc_corpus_free(&tiny_train);
    lsc_corpus_free(&tiny_valid);
    test_tmpdir_remove();
    return test_summary();
}
