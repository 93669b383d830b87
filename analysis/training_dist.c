/*
 * training_dist.c — `train` and `pretrain` on several MPI ranks (issue 18): the options
 * --micro-batches K and --dp-reduce, the library's gradient exchange (lsc_grad_comm) filled
 * with dist.c's polite MPI calls, the stop agreement of the progress callback, the log's
 * parameters. Started without a launcher (or in a build without MPI) there is one rank and,
 * unless --micro-batches K > 1 is asked for, nothing here changes the run.
 *
 * What it is not: the numerics. How micro-batches are cut, summed and applied is the
 * library's (lib/train_dp.c); only the trainable gradients and the loss cross the network,
 * (n + 1) floats a step, never the frozen base.
 *
 * Who does what: every rank loads the same base and data, draws the same batches, computes its
 * micro-batches and takes the same AdamW step; rank 0 alone prints, writes checkpoints, the
 * adapter or model, the log and the snapshots (the others are made --quiet here, and the
 * library writes checkpoints on rank 0 only). --resume reads the checkpoint on every rank (a
 * shared file system, as on a cluster); the number of ranks and K are not part of the run's
 * identity, so a run may continue on another number of ranks.
 */
#include <stdio.h>
#include <string.h>

#include "dist.h"
#include "training.h"

#define DP_TAG 18   /* the message tag of the gradient chain */

// ---- the exchange over MPI ----

static int c_send(void *ctx, int dest, const float *buf, size_t n)
{
    (void)ctx;
    return dist_send(buf, n * sizeof(float), dest, DP_TAG);
}

static int c_recv(void *ctx, int src, float *buf, size_t n)
{
    (void)ctx;
    size_t got = 0;
    if (dist_recv(buf, n * sizeof(float), src, DP_TAG, NULL, NULL, &got) != 0)
        return -1;
    return got == n * sizeof(float) ? 0 : -1;
}

static int c_bcast(void *ctx, int root, float *buf, size_t n)
{
    (void)ctx;
    return dist_bcast(buf, n * sizeof(float), root);
}

static int c_allreduce(void *ctx, float *buf, size_t n)
{
    (void)ctx;
    return dist_allreduce_sum(buf, n);
}

// ---- options ----

int training_dist_setup(training_opts *o)
{
    int N = dist_size(), bad = 0;
    long K = cli_long(o->opts, "micro-batches", N, &bad);
    const char *how = cli_get(o->opts, "dp-reduce");
    if (bad)
        return CLI_USAGE;   /* cli_long printed it */
    if (K < N || K > o->tc.B) {
        if (dist_rank() == 0)
            cli_error(o->cmd, CLI_USAGE, "--micro-batches must be between the number of ranks (%d) and the batch "
                                         "size (%d): got %ld", N, o->tc.B, K);
        return CLI_USAGE;
    }
    o->micro_batches = (int)K;
    o->dp_reduce = LSC_DP_ORDERED;
    if (how && lsc_dp_reduce_parse(how, &o->dp_reduce) != LSC_OK) {
        if (dist_rank() == 0)
            cli_error(o->cmd, CLI_USAGE, "--dp-reduce must be ordered or allreduce (got '%s')", cli_safe(how));
        return CLI_USAGE;
    }
    if (dist_rank() != 0) {   /* rank 0 alone prints and writes */
        o->quiet = 1;
        o->json = 0;
        o->save_init = NULL;
        o->save_every = 0;
    }
    return CLI_OK;
}

int training_dist_attach(const training_opts *o, lsc_trainer *tr, lsc_error *err)
{
    static lsc_grad_comm comm;   /* one run per process; the trainer borrows it */
    if (dist_size() == 1 && o->micro_batches <= 1)
        return LSC_OK;
    comm = (lsc_grad_comm){dist_rank(), dist_size(), NULL, c_send, c_recv, c_bcast, c_allreduce};
    return lsc_trainer_set_dp(tr, dist_size() > 1 ? &comm : NULL, o->micro_batches, o->dp_reduce, err);
}

// ---- progress and log ----

int training_dist_cb(void *ctx, const lsc_train_status *st)
{
    const training_dist_cb_ctx *c = ctx;
    int stop = c->next ? c->next(c->next_ctx, st) : 0;
    return dist_size() > 1 ? dist_any(stop) : stop;
}

int training_dist_params(lsc_h5_param *par, int np, const training_opts *o, const lsc_trainer *tr)
{
    par[np++] = (lsc_h5_param){.name = "mpi_ranks", .type = LSC_H5_INT, .i = dist_size()};
    par[np++] = (lsc_h5_param){.name = "micro_batches", .type = LSC_H5_INT, .i = o->micro_batches};
    par[np++] = (lsc_h5_param){.name = "dp_reduce", .type = LSC_H5_STR, .s = lsc_dp_reduce_name(o->dp_reduce)};
    par[np++] = (lsc_h5_param){.name = "dp_bytes_per_step", .type = LSC_H5_INT,
                               .i = (long long)lsc_trainer_dp_bytes(tr)};
    return np;
}
