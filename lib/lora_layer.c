/*
 * lora_layer.c — one LoRA module applied inside the model's passes: the
 * activation caches an adapter needs for the model's (batch, time) rows, and
 * the forward/backward of module i that model_forward.c and model_decode.c
 * call after each adapted linear layer (dropout on the LoRA input only).
 *
 * What it is not: no adapter construction, merge or file (lora.c, which
 * sits above the model; this file sits below it).
 *
 * Shapes: for a module adapting W0 (out, in): the factors A (r, in) and
 * md->B (out, r), delta W = scale·B·A; N rows of activations (the model's
 * batch times time), u = x·A^T (N, r).
 */
#include <stdint.h>
#include <string.h>

#include "lsc_internal.h"

// ---- activations ----

int lsc_lora_alloc_acts_(lsc_lora *lo, int n_batch, int n_time, lsc_error *err)
{
    if (lo->acts && lo->B_alloc >= n_batch && lo->T_alloc >= n_time)
        return LSC_OK;
    size_t N = (size_t)n_batch * n_time, off = 0;
    int drop = lo->config.dropout > 0.0;
    size_t *ao = LSC_MALLOC((size_t)lo->n_modules * 3 * sizeof *ao);
    if (!ao)
        LSC_FAIL(err, LSC_ENOMEM, "LoRA: out of memory for activations");
    int rmax = 0, inmax = 0;
    for (int i = 0; i < lo->n_modules; i++) {
        const lsc_lora_module *md = &lo->modules[i];
        ao[3 * i] = off;                      // u (N, r)
        off += N * md->r;
        ao[3 * i + 1] = off;                  // dropped input (N, in)
        off += drop ? N * md->in : 0;
        ao[3 * i + 2] = off;                  // dropout mask (N, in)
        off += drop ? N * md->in : 0;
        if (md->r > rmax)
            rmax = md->r;
        if (md->in > inmax)
            inmax = md->in;
    }
    size_t scratch = off;
    off += N * rmax + (drop ? N * inmax : 0);  // du, dx
    float *acts = LSC_CALLOC(off, sizeof(float));
    if (!acts) {
        LSC_FREE(ao);
        LSC_FAIL(err, LSC_ENOMEM, "LoRA: out of memory for activations (%zu floats)", off);
    }
    LSC_FREE(lo->acts);
    LSC_FREE(lo->act_off);
    lo->acts = acts;
    lo->act_off = ao;
    lo->num_acts = off;
    lo->scratch_off = scratch;
    lo->B_alloc = n_batch;
    lo->T_alloc = n_time;
    return LSC_OK;
}

// ---- forward and backward of one module ----

void lsc_lora_module_forward_(lsc_lora *lo, int i, float *out, const float *inp, int N,
                              uint64_t *rng)
{
    const lsc_lora_module *md = &lo->modules[i];
    LSC_ASSERT(lo->acts && (size_t)N <= (size_t)lo->B_alloc * lo->T_alloc);
    float *u = lo->acts + lo->act_off[3 * i];
    const float *x = inp;
    if (rng && lo->config.dropout > 0.0) {
        /* inverted dropout on the LoRA path only; the draws are serial so the
         * masks do not depend on the thread count */
        float *xd = lo->acts + lo->act_off[3 * i + 1];
        float *mask = lo->acts + lo->act_off[3 * i + 2];
        float p = (float)lo->config.dropout, keep = 1.0f / (1.0f - p);
        size_t n = (size_t)N * md->in;
        for (size_t j = 0; j < n; j++) {
            mask[j] = lsc_rng_uniform(rng) < p ? 0.0f : keep;
            xd[j] = inp[j] * mask[j];
        }
        x = xd;
    }
    lsc_lora_forward_(out, u, x, md->A, md->B, md->scale, N, md->in, md->r, md->out);
}

void lsc_lora_module_backward_(lsc_lora *lo, int i, float *dinp, const float *dout,
                               const float *inp, int N)
{
    lsc_lora_module *md = &lo->modules[i];
    const float *u = lo->acts + lo->act_off[3 * i];
    float *du = lo->acts + lo->scratch_off;
    const float *x = inp, *dmask = NULL;
    float *dx = NULL;
    if (lo->dropout_on) {
        x = lo->acts + lo->act_off[3 * i + 1];
        dmask = lo->acts + lo->act_off[3 * i + 2];
        int rmax = 0;
        for (int j = 0; j < lo->n_modules; j++)
            if (lo->modules[j].r > rmax)
                rmax = lo->modules[j].r;
        dx = du + (size_t)lo->B_alloc * lo->T_alloc * rmax;
    }
    lsc_lora_backward_(dinp, md->dA, md->dB, du, dx, dout, x, u, md->A, md->B, dmask, md->scale, N,
                       md->in, md->r, md->out);
}
