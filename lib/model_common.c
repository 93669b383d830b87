/*
 * model_common.c — the pieces both architectures' passes are built from
 * (model_forward.c for the GPT, model_llama.c for the Llama family): a
 * linear layer with its LoRA module (NF4 weights a tile at a time) and its
 * backward, the forward's checks and bookkeeping, the loss, the lowest
 * layer a backward must reach, and causal attention of one new position
 * against a key/value cache (the decoding steps).
 *
 * What it is not: no architecture's call list, no allocation.
 *
 * Shapes: N rows, linear weights (out, in); the cache (rows, Tk, NKV·hs).
 */
#include <math.h>
#include <string.h>

#include "lsc_internal.h"

// ---- linear layers ----

/* The active adapter's module for (l, t) if it is applied unmerged, else -1. */
static int lora_module(const lsc_gpt *m, int l, int t)
{
    const lsc_lora *lo = m->lora;
    if (!lo || lo->merged)
        return -1;
    return lo->module_of[l * LSC_LORA_NTARGETS + t];
}

void lsc_gpt_linear_forward_(lsc_gpt *m, int l, int target, float *out, const float *inp, int N,
                             uint64_t *rng)
{
    float *w, *bias;
    int OC, IC;
    lsc_gpt_linear(m, l, target, &w, &bias, &OC, &IC);
    const lsc_nf4 *q = lsc_gpt_nf4(m, l, target);
    if (q)   /* QLoRA: deq(W) a tile of rows at a time, never the whole matrix */
        lsc_nf4_matmul_forward(out, inp, q, bias, m->nf4_tile, m->nf4_tile_floats, (size_t)N);
    else
        lsc_matmul_forward_(out, inp, w, bias, N, IC, OC);
    int mi = lora_module(m, l, target);
    if (mi >= 0)
        lsc_lora_module_forward_(m->lora, mi, out, inp, N, rng);
}

/* Backward of lsc_gpt_linear_forward_: dinp += ..., weight grads only in full mode. */
void lsc_gpt_linear_backward_(lsc_gpt *m, int l, int target, float *dinp, const float *dout,
                            const float *inp, int N)
{
    float *w, *bias;
    int OC, IC;
    lsc_gpt_linear(m, l, target, &w, &bias, &OC, &IC);
    const lsc_nf4 *q = lsc_gpt_nf4(m, l, target);
    if (q) {
        /* an NF4 weight is frozen: only the input gradient, through deq(W) */
        LSC_ASSERT(!m->grads_memory);
        if (dinp)
            lsc_nf4_matmul_backward_input(dinp, dout, q, m->nf4_tile, m->nf4_tile_floats, (size_t)N);
    } else {
        float *dw = NULL, *db = NULL;
        if (m->grads_memory) {
            dw = m->grads_memory + (size_t)(w - m->params_memory);
            if (bias)   /* the Llama's layers have none (Qwen2: q, k, v only) */
                db = m->grads_memory + (size_t)(bias - m->params_memory);
        }
        lsc_matmul_backward_(dinp, dw, db, dout, inp, w, N, IC, OC);
    }
    int mi = lora_module(m, l, target);
    if (mi >= 0)
        lsc_lora_module_backward_(m->lora, mi, dinp, dout, inp, N);
}

// ---- forward bookkeeping and loss ----

int lsc_gpt_forward_setup_(lsc_gpt *m, const int *inputs, const int *targets, int B, int T,
                           uint64_t *rng, lsc_error *err)
{
    const lsc_gpt_config *c = &m->config;
    lsc_gpt_acts *a = m->acts;
    if (!a)
        LSC_FAIL(err, LSC_EARG, "model: forward before lsc_gpt_alloc_acts");
    if (T > c->n_ctx)
        LSC_FAIL(err, LSC_EARG, "model: context length %d exceeds the model's n_ctx = %d", T, c->n_ctx);
    if (B < 1 || T < 1 || B > m->B_alloc || T > m->T_alloc)
        LSC_FAIL(err, LSC_EARG, "model: batch (%d, %d) outside the allocated (%d, %d)", B, T,
                 m->B_alloc, m->T_alloc);
    int V = c->vocab, N = B * T;
    for (int i = 0; i < N; i++) {
        if (inputs[i] < 0 || inputs[i] >= V)
            LSC_FAIL(err, LSC_EARG, "model: input token %d at position %d outside [0, %d)", inputs[i], i, V);
        if (targets && (targets[i] < 0 || targets[i] >= V))
            LSC_FAIL(err, LSC_EARG, "model: target token %d at position %d outside [0, %d)", targets[i], i, V);
    }
    if (m->lora && !m->lora->merged && (m->lora->B_alloc * m->lora->T_alloc < N)) {
        int rc = lsc_lora_alloc_acts_(m->lora, m->B_alloc, m->T_alloc, err);
        if (rc != LSC_OK)
            return rc;
    }
    m->B = B;
    m->T = T;
    memcpy(a->inputs, inputs, (size_t)N * sizeof(int));
    for (int i = 0; i < N; i++)
        a->pos[i] = i % T;
    a->has_targets = targets != NULL;
    if (targets)
        memcpy(a->targets, targets, (size_t)N * sizeof(int));
    if (m->lora)
        m->lora->dropout_on = rng != NULL && m->lora->config.dropout > 0.0;
    return LSC_OK;
}

void lsc_gpt_forward_loss_(lsc_gpt *m, const int *targets, const float *mask)
{
    lsc_gpt_acts *a = m->acts;
    int N = m->B * m->T, V = m->config.vocab;
    lsc_softmax_forward_(a->probs, a->logits, N, V);
    m->mean_loss = -1.0f;
    m->mask_sum = 0.0f;
    if (!targets)
        return;
    lsc_crossentropy_forward_(a->losses, a->logits, targets, N, V);
    double msum = 0.0, lsum = 0.0;
    for (int i = 0; i < N; i++) {
        double w = mask ? (double)mask[i] : 1.0;
        msum += w;
        lsum += w * (double)a->losses[i];
    }
    /* a micro-batch of a larger batch divides by the whole batch's mask sum (loss_denom), so
     * that the micro-batches' losses and gradients add up to the whole batch's */
    double den = m->loss_denom > 0.0 ? m->loss_denom : msum;
    for (int i = 0; i < N; i++)
        a->dloss[i] = den > 0.0 ? (float)((mask ? (double)mask[i] : 1.0) / den) : 0.0f;
    m->mask_sum = (float)msum;
    m->mean_loss = den > 0.0 ? (float)(lsum / den) : 0.0f;
}

int lsc_gpt_lowest_layer_(const lsc_gpt *m)
{
    if (m->grads_memory)
        return 0;
    if (!m->lora || m->lora->merged)
        return -1;
    int l_min = m->config.n_layer;
    for (int i = 0; i < m->lora->n_modules; i++)
        if (m->lora->modules[i].layer < l_min)
            l_min = m->lora->modules[i].layer;
    return l_min;
}

// ---- attention of one position (decoding) ----

void lsc_attention_step_(float *out, const float *q, const float *kc, const float *vc, const int *slot,
                         const int *pos, int n, int Tk, int NH, int NKV, int hs, float *p)
{
    float scale = 1.0f / sqrtf((float)hs);
    size_t Q = (size_t)NH * hs, KV = (size_t)NKV * hs;
    int group = NH / NKV;
    for (int b = 0; b < n; b++) {
        const float *K = kc + (size_t)slot[b] * Tk * KV, *Vv = vc + (size_t)slot[b] * Tk * KV;
        for (int h = 0; h < NH; h++) {
            const float *qh = q + (size_t)b * Q + (size_t)h * hs;
            size_t kh = (size_t)(h / group) * hs;
            for (int j = 0; j <= pos[b]; j++) {
                const float *kj = K + (size_t)j * KV + kh;
                float sdot = 0.0f;
                for (int i = 0; i < hs; i++)
                    sdot += qh[i] * kj[i];
                p[j] = sdot * scale;
            }
            lsc_causal_softmax_row_(p, pos[b], pos[b] + 1);
            float *o = out + (size_t)b * Q + (size_t)h * hs;
            for (int i = 0; i < hs; i++)
                o[i] = 0.0f;
            for (int j = 0; j <= pos[b]; j++) {
                const float *vj = Vv + (size_t)j * KV + kh;
                for (int i = 0; i < hs; i++)
                    o[i] += p[j] * vj[i];
            }
        }
    }
}
