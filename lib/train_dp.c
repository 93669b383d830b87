/*
 * train_dp.c — data-parallel training steps (issue 18): a batch cut into K micro-batches, the
 * micro-batches spread over N ranks, the trainable gradients (LoRA factors, or every weight
 * with full fine-tuning) summed over the ranks, the same AdamW update on every rank.
 *
 * What it is not: MPI. The exchange goes through an lsc_grad_comm of callbacks that the program
 * fills (MPI in lorascope's analysis/training_dist.c, threads in tests/test_train_dp.c); the
 * frozen base is never exchanged, only the n trainable gradients and the loss.
 *
 * Why the result does not depend on N: every rank draws the same batch (the batch source's rng
 * is the same word everywhere), each micro-batch's loss is divided by the whole batch's mask sum
 * (so the micro-batch gradients add up to the batch's), its LoRA dropout comes from a stream of
 * its own (seeded from one draw of the trainer's rng and its index), its gradient is computed
 * from zero, and the ordered reduction adds g_0 + g_1 + ... + g_{K-1} in that order, whichever
 * rank computed which. The plain step (K = 1, one process) is train.c's and unchanged.
 *
 * Shapes: B batch rows, T context, K micro-batches, N ranks, n trainable parameters; the
 * reduced vector is (n + 1): the gradient, then the micro-batch's share of the loss.
 */
#include <string.h>

#include "lsc_internal.h"

/* Pieces of the ordered chain: a rank forwards piece p while the next piece is still on its
 * way, so the chain's latency is about one piece per rank, not one gradient per rank. */
#define DP_PIECE ((size_t)1 << 18)   /* floats (1 MiB) */

const char *lsc_dp_reduce_name(lsc_dp_reduce how)
{
    return how == LSC_DP_ALLREDUCE ? "allreduce" : "ordered";
}

int lsc_dp_reduce_parse(const char *name, lsc_dp_reduce *out)
{
    if (name && strcmp(name, "ordered") == 0)
        *out = LSC_DP_ORDERED;
    else if (name && strcmp(name, "allreduce") == 0)
        *out = LSC_DP_ALLREDUCE;
    else
        return LSC_EARG;
    return LSC_OK;
}

// ---- set-up ----

int lsc_trainer_set_dp(lsc_trainer *tr, const lsc_grad_comm *comm, int K, lsc_dp_reduce how,
                       lsc_error *err)
{
    int N = comm ? comm->size : 1, rank = comm ? comm->rank : 0;
    if (N < 1 || rank < 0 || rank >= N)
        LSC_FAIL(err, LSC_EARG, "data-parallel: rank %d of %d ranks", rank, N);
    if (K < N)
        LSC_FAIL(err, LSC_EARG, "data-parallel: %d micro-batches for %d ranks (each rank needs at least one)",
                 K, N);
    if (K > tr->cfg.B)
        LSC_FAIL(err, LSC_EARG, "data-parallel: %d micro-batches of a batch of %d rows (at most one per row)",
                 K, tr->cfg.B);
    if (comm && N > 1 && (!comm->send || !comm->recv || !comm->bcast || (how == LSC_DP_ALLREDUCE && !comm->allreduce)))
        LSC_FAIL(err, LSC_EARG, "data-parallel: the exchange lacks a callback for '%s'", lsc_dp_reduce_name(how));
    LSC_FREE(tr->dp_local);
    LSC_FREE(tr->dp_acc);
    tr->dp_local = tr->dp_acc = NULL;
    tr->comm = comm;
    tr->micro_batches = K;
    tr->dp_reduce = how;
    tr->mb_first = (int)((long)rank * K / N);
    tr->mb_end = (int)((long)(rank + 1) * K / N);
    size_t len = tr->n + 1, m = (size_t)(tr->mb_end - tr->mb_first);
    tr->dp_local = LSC_MALLOC(m * len * sizeof(float));
    tr->dp_acc = LSC_MALLOC(len * sizeof(float));
    if (!tr->dp_local || !tr->dp_acc) {
        LSC_FREE(tr->dp_local);
        LSC_FREE(tr->dp_acc);
        tr->dp_local = tr->dp_acc = NULL;
        tr->comm = NULL;
        tr->micro_batches = 0;
        LSC_FAIL(err, LSC_ENOMEM, "data-parallel: out of memory for %zu gradient copies of %zu parameters",
                 m + 1, tr->n);
    }
    return LSC_OK;
}

size_t lsc_trainer_dp_bytes(const lsc_trainer *tr)
{
    return tr->micro_batches > 1 || tr->comm ? (tr->n + 1) * sizeof(float) : 0;
}

// ---- the micro-batches of this rank ----

/* Rows [*b0, *b1) of micro-batch k of K over B rows: the first B % K are one row longer. */
static void mb_rows(int B, int K, int k, int *b0, int *b1)
{
    int q = B / K, rem = B % K;
    *b0 = k * q + (k < rem ? k : rem);
    *b1 = *b0 + q + (k < rem ? 1 : 0);
}

/* The seed of micro-batch k's dropout stream from the step's draw (a wrapping multiply). */
LSC_WRAPS static uint64_t mb_seed(uint64_t word, int k)
{
    return word ^ (0x9E3779B97F4A7C15ULL * (uint64_t)(k + 1));
}

/* The gradient and loss share of micro-batch k into out (n + 1), computed from zero. */
static int mb_gradient(lsc_trainer *tr, int k, double msum, uint64_t word, float *out, lsc_error *err)
{
    const lsc_train_config *c = &tr->cfg;
    int b0, b1, rc;
    mb_rows(c->B, tr->micro_batches, k, &b0, &b1);
    size_t o = (size_t)b0 * (size_t)c->T;
    uint64_t rng;
    lsc_rng_seed(&rng, mb_seed(word, k));
    uint64_t *drop = (tr->lora && tr->lora->config.dropout > 0.0) ? &rng : NULL;
    lsc_gpt *m = tr->model;
    lsc_gpt_zero_grad(m);
    m->loss_denom = msum;   /* 0 (an all-zero mask): every share is 0 anyway */
    rc = lsc_gpt_forward(m, tr->inputs + o, tr->targets + o, tr->mask + o, b1 - b0, c->T, drop, err);
    if (rc == LSC_OK)
        rc = lsc_gpt_backward(m, err);
    m->loss_denom = 0.0;
    if (rc != LSC_OK)
        return rc;
    memcpy(out, tr->grads, tr->n * sizeof(float));
    out[tr->n] = m->mean_loss;
    return LSC_OK;
}

// ---- the reductions ----

static int comm_fail(const lsc_trainer *tr, const char *what, int peer, lsc_error *err)
{
    return lsc_error_set(err, LSC_EIO, __FILE__, __LINE__,
                         "step %ld: data-parallel %s with rank %d failed (rank %d of %d)", tr->step + 1, what,
                         peer, tr->comm->rank, tr->comm->size);
}

/* acc[o, o + l) += this rank's micro-batch gradients in order (from the first when !have). */
static void add_local(lsc_trainer *tr, size_t o, size_t l, int have)
{
    size_t len = tr->n + 1, m = (size_t)(tr->mb_end - tr->mb_first);
    float *acc = tr->dp_acc + o;
    for (size_t j = 0; j < m; j++) {
        const float *g = tr->dp_local + j * len + o;
        if (j == 0 && !have) {
            memcpy(acc, g, l * sizeof(float));
            continue;
        }
        for (size_t i = 0; i < l; i++)
            acc[i] += g[i];
    }
}

/* ORDERED: rank 0 sums its micro-batches and passes the partial sum to rank 1, which adds its
 * own in order and passes it on, piece by piece; the last rank's sum is broadcast. */
static int reduce_ordered(lsc_trainer *tr, lsc_error *err)
{
    const lsc_grad_comm *cm = tr->comm;
    int N = cm ? cm->size : 1, r = cm ? cm->rank : 0;
    size_t len = tr->n + 1;
    for (size_t o = 0; o < len; o += DP_PIECE) {
        size_t l = len - o < DP_PIECE ? len - o : DP_PIECE;
        if (r > 0 && cm->recv(cm->ctx, r - 1, tr->dp_acc + o, l) != 0)
            return comm_fail(tr, "receive", r - 1, err);
        add_local(tr, o, l, r > 0);
        if (r < N - 1 && cm->send(cm->ctx, r + 1, tr->dp_acc + o, l) != 0)
            return comm_fail(tr, "send", r + 1, err);
    }
    if (N > 1 && cm->bcast(cm->ctx, N - 1, tr->dp_acc, len) != 0)
        return comm_fail(tr, "broadcast", N - 1, err);
    return LSC_OK;
}

/* ALLREDUCE: each rank's own sum, then the sum over ranks in the callback's order. */
static int reduce_allreduce(lsc_trainer *tr, lsc_error *err)
{
    const lsc_grad_comm *cm = tr->comm;
    add_local(tr, 0, tr->n + 1, 0);
    if (cm && cm->size > 1 && cm->allreduce(cm->ctx, tr->dp_acc, tr->n + 1) != 0)
        return comm_fail(tr, "allreduce", -1, err);
    return LSC_OK;
}

// ---- the step ----

int lsc_trainer_step_dp_(lsc_trainer *tr, lsc_error *err)
{
    const lsc_train_config *c = &tr->cfg;
    LSC_ASSERT(tr->dp_local && tr->dp_acc && tr->micro_batches >= 1);
    int rc = tr->batch_fn(tr->batch_ctx, c->B, c->T, tr->inputs, tr->targets, tr->mask, &tr->data_rng, err);
    if (rc != LSC_OK)
        return rc;
    /* the whole batch's mask sum, summed as the model's loss sums it */
    double msum = 0.0;
    size_t BT = (size_t)c->B * (size_t)c->T;
    for (size_t i = 0; i < BT; i++)
        msum += (double)tr->mask[i];
    uint64_t word = lsc_rng_u64(&tr->rng);   /* one draw per step, whatever K and N */
    size_t len = tr->n + 1;
    for (int k = tr->mb_first; k < tr->mb_end; k++)
        if ((rc = mb_gradient(tr, k, msum, word, tr->dp_local + (size_t)(k - tr->mb_first) * len, err)) != LSC_OK)
            return rc;
    rc = tr->dp_reduce == LSC_DP_ALLREDUCE ? reduce_allreduce(tr, err) : reduce_ordered(tr, err);
    if (rc != LSC_OK)
        return rc;
    memcpy(tr->grads, tr->dp_acc, tr->n * sizeof(float));
    return lsc_trainer_update_(tr, (double)tr->dp_acc[tr->n], err);
}
