/*
 * adamw.c — the optimiser: AdamW with decoupled weight decay (Loshchilov &
 * Hutter, as torch.optim.AdamW), the learning-rate schedule (linear warm-up,
 * then cosine or linear decay, or constant), and the global gradient norm
 * used for clipping (as torch.nn.utils.clip_grad_norm_).
 *
 * It is deliberately only flat loops over one (params, grads, m, v, n) view:
 * the caller decides what is trainable (the whole model buffer in full mode,
 * the adapter buffer in LoRA mode) and owns every buffer. No allocation, no
 * RNG, no global state.
 *
 * Determinism: the update is element-wise (the same with any thread count);
 * the gradient norm is summed in fixed chunks of LSC_NORM_CHUNK elements
 * whose partial sums are then added in order, so it does not depend on the
 * number of threads either.
 */
#include <math.h>
#include <string.h>

#include "lsc_internal.h"

#define LSC_NORM_CHUNK 16384

// ---- configuration ----

void lsc_adamw_config_default(lsc_adamw_config *cfg)
{
    cfg->lr           = 1e-3;
    cfg->min_lr_frac  = 0.0;
    cfg->beta1        = 0.9;
    cfg->beta2        = 0.999;
    cfg->eps          = 1e-8;
    cfg->weight_decay = 0.0;
    cfg->grad_clip    = 1.0;
    cfg->warmup       = 0;
    cfg->steps        = 1;
    cfg->schedule     = LSC_LR_COSINE;
}

const char *lsc_lr_schedule_name(lsc_lr_schedule s)
{
    switch (s) {
    case LSC_LR_COSINE:   return "cosine";
    case LSC_LR_LINEAR:   return "linear";
    case LSC_LR_CONSTANT: return "constant";
    }
    return "unknown";
}

int lsc_lr_schedule_parse(const char *name, lsc_lr_schedule *out)
{
    for (int s = LSC_LR_COSINE; s <= LSC_LR_CONSTANT; s++)
        if (name && strcmp(name, lsc_lr_schedule_name((lsc_lr_schedule)s)) == 0) {
            *out = (lsc_lr_schedule)s;
            return LSC_OK;
        }
    return LSC_EARG;
}

// ---- schedule ----

/* step is 0-based: the learning rate used by the (step+1)-th update.
 * Warm-up: lr·(step+1)/warmup for step < warmup, so the first update is not
 * zero. Then progress p = (step − warmup)/(steps − warmup) ∈ [0, 1) and
 *   cosine:   lr_min + (lr − lr_min)·(1 + cos(π·p))/2
 *   linear:   lr − (lr − lr_min)·p
 *   constant: lr
 * with lr_min = min_lr_frac·lr. Steps past the end keep p = 1. */
double lsc_lr_at(const lsc_adamw_config *cfg, long step)
{
    double lr = cfg->lr, lo = cfg->min_lr_frac * cfg->lr;
    if (step < 0)
        step = 0;
    if (cfg->warmup > 0 && step < cfg->warmup)
        return lr * (double)(step + 1) / (double)cfg->warmup;
    if (cfg->schedule == LSC_LR_CONSTANT)
        return lr;
    long span = cfg->steps - (cfg->warmup > 0 ? cfg->warmup : 0);
    double p = span > 0 ? (double)(step - (cfg->warmup > 0 ? cfg->warmup : 0)) / (double)span : 1.0;
    if (p > 1.0)
        p = 1.0;
    if (cfg->schedule == LSC_LR_LINEAR)
        return lr - (lr - lo) * p;
    return lo + (lr - lo) * 0.5 * (1.0 + cos(3.14159265358979323846 * p));
}

// ---- gradient norm and clipping ----

double lsc_grad_norm(const float *grads, size_t n)
{
    size_t nchunk = (n + LSC_NORM_CHUNK - 1) / LSC_NORM_CHUNK;
    double total = 0.0;
    /* partial sums per fixed chunk, then added in chunk order: the result is
     * independent of the thread count */
    enum { STACK = 256 };
    for (size_t c0 = 0; c0 < nchunk; c0 += STACK) {
        double part[STACK];
        size_t cn = nchunk - c0 < STACK ? nchunk - c0 : STACK;
        long icn = (long)cn;
#pragma omp parallel for schedule(static) if (n > 4 * LSC_NORM_CHUNK)
        for (long c = 0; c < icn; c++) {
            size_t lo = (c0 + (size_t)c) * LSC_NORM_CHUNK;
            size_t hi = lo + LSC_NORM_CHUNK < n ? lo + LSC_NORM_CHUNK : n;
            double s = 0.0;
            for (size_t i = lo; i < hi; i++)
                s += (double)grads[i] * (double)grads[i];
            part[c] = s;
        }
        for (size_t c = 0; c < cn; c++)
            total += part[c];
    }
    return sqrt(total);
}

double lsc_clip_scale(double grad_norm, double max_norm)
{
    /* torch.nn.utils.clip_grad_norm_: clip_coef = max_norm / (norm + 1e-6),
     * applied only when it is below 1 */
    if (max_norm <= 0.0 || !isfinite(grad_norm))
        return 1.0;
    double c = max_norm / (grad_norm + 1e-6);
    return c < 1.0 ? c : 1.0;
}

// ---- the update ----

/* One AdamW update of n parameters; t is the 1-based step count used in the
 * bias corrections. With g = grad_scale·grads[i]:
 *   m = β1·m + (1−β1)·g,   v = β2·v + (1−β2)·g²
 *   p = p·(1 − lr·wd) − lr·(m/(1−β1^t)) / (sqrt(v/(1−β2^t)) + eps)
 * exactly torch.optim.AdamW's order of operations (in float). */
void lsc_adamw_step(float *params, const float *grads, float *m, float *v, size_t n,
                    const lsc_adamw_config *cfg, double lr, double grad_scale, long t)
{
    LSC_ASSERT(t >= 1);
    const float b1 = (float)cfg->beta1, b2 = (float)cfg->beta2, eps = (float)cfg->eps;
    const float bc1 = (float)(1.0 - pow(cfg->beta1, (double)t));
    const float bc2_sqrt = (float)sqrt(1.0 - pow(cfg->beta2, (double)t));
    const float step_size = (float)lr / bc1;
    const float decay = (float)(1.0 - lr * cfg->weight_decay);
    const float gs = (float)grad_scale;
    long in = (long)n;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < in; i++) {
        float g = grads[i] * gs;
        float mi = b1 * m[i] + (1.0f - b1) * g;
        float vi = b2 * v[i] + (1.0f - b2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        params[i] = params[i] * decay - step_size * mi / denom;
    }
}
