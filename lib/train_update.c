/*
 * train_update.c — the optimiser half of a training step, shared by the plain step (train.c)
 * and the data-parallel one (train_dp.c): once the trainable gradient and the loss are known,
 * the NaN/Inf checks, the global gradient norm, clipping, AdamW and the log row.
 *
 * It is not the step itself: batches, forward and backward stay with the callers. A leaf of
 * the library's training files (it calls neither train.c nor train_dp.c).
 *
 * Shapes: n trainable parameters (tr->params, tr->grads, tr->m, tr->v).
 */
#include <math.h>

#include "lsc_internal.h"

/* AdamW over the trainable buffer. Full mode: one flat loop per tensor of
 * the model's table so weight decay reaches only the tensors whose row of
 * the parameter table says so (2-D weights; biases and LayerNorm
 * parameters are not decayed); LoRA mode: one loop over the adapter (A and
 * B are all matrices). */
static void optimiser_update(lsc_trainer *tr, double lr, double scale, long t)
{
    if (tr->lora || tr->cfg.opt.weight_decay == 0.0) {
        lsc_adamw_step(tr->params, tr->grads, tr->m, tr->v, tr->n, &tr->cfg.opt, lr, scale, t);
        return;
    }
    lsc_adamw_config nowd = tr->cfg.opt;
    nowd.weight_decay = 0.0;
    const lsc_gpt *m = tr->model;
    for (int i = 0; i < m->n_tensors; i++) {
        const lsc_gpt_tensor *te = &m->tensors[i];
        size_t o = te->offset;
        lsc_adamw_step(tr->params + o, tr->grads + o, tr->m + o, tr->v + o, te->numel,
                       te->decay ? &tr->cfg.opt : &nowd, lr, scale, t);
    }
}

int lsc_trainer_update_(lsc_trainer *tr, double loss, lsc_error *err)
{
    const lsc_train_config *c = &tr->cfg;
    if (!isfinite(loss))
        LSC_FAIL(err, LSC_ENAN, "step %ld: training loss is %s; stopped before updating", tr->step + 1,
                 isnan(loss) ? "NaN" : "Inf");
    double gnorm = lsc_grad_norm(tr->grads, tr->n);
    if (!isfinite(gnorm))
        LSC_FAIL(err, LSC_ENAN, "step %ld: gradient norm is %s (loss %g); stopped before updating",
                 tr->step + 1, isnan(gnorm) ? "NaN" : "Inf", loss);
    double lr = lsc_lr_at(&c->opt, tr->step);
    optimiser_update(tr, lr, lsc_clip_scale(gnorm, c->opt.grad_clip), tr->step + 1);
    tr->log_loss[tr->step] = (float)loss;
    tr->log_lr[tr->step] = (float)lr;
    tr->log_grad_norm[tr->step] = (float)gnorm;
    tr->step++;
    return LSC_OK;
}

int lsc_trainer_writes_(const lsc_trainer *tr)
{
    return !tr->comm || tr->comm->rank == 0;
}
