/*
 * model_forward.c — the GPT's forward and backward passes over (B, T): a
 * call list of layers.c kernels (backward is forward's list in reverse),
 * each adaptable linear layer followed by its LoRA module (lora_layer.c)
 * when an unmerged adapter is active, NF4 weights (model_nf4.c) multiplied
 * a dequantised tile at a time.
 *
 * What it is not: no allocation (the buffers are model.c's), no decoding
 * step (model_decode.c), no optimiser.
 *
 * Shapes: B batch, T time, C = n_embd, V vocab, L layers, NH heads,
 * N = B*T rows. Linear weights are (out, in).
 *
 * Frozen mode (LSC_GPT_FROZEN) allocates no base gradients; backward then
 * passes NULL for every weight gradient, so the kernels compute only input
 * gradients, and it stops below the lowest layer that holds an adapter.
 */
#include <string.h>

#include "lsc_internal.h"

// ---- forward ----

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

/* The GPT's layers over the inputs lsc_gpt_forward_setup_ stored, up to the logits. */
static void gpt_forward(lsc_gpt *m, uint64_t *rng)
{
    const lsc_gpt_config *c = &m->config;
    lsc_gpt_acts *a = m->acts;
    int B = m->B, T = m->T, L = c->n_layer, C = c->n_embd, NH = c->n_head, V = c->vocab, N = B * T;
    const int *inputs = a->inputs;
    const lsc_gpt_params *p = &m->params;
    size_t NC = (size_t)N * C, Cs = (size_t)C;
    lsc_encoder_forward_(a->encoded, inputs, p->wte, p->wpe, B, T, C);
    for (int l = 0; l < L; l++) {
        size_t ls = (size_t)l;
        const float *res = l == 0 ? a->encoded : a->residual3 + (ls - 1) * NC;
        float *ln1 = a->ln1 + ls * NC, *q = a->q + ls * NC, *k = a->k + ls * NC, *v = a->v + ls * NC;
        float *att = a->att + ls * (size_t)B * NH * T * T;
        float *atty = a->atty + ls * NC, *attproj = a->attproj + ls * NC;
        float *res2 = a->residual2 + ls * NC, *ln2 = a->ln2 + ls * NC;
        float *fch = a->fch + ls * 4 * NC, *fchg = a->fch_gelu + ls * 4 * NC;
        float *fcproj = a->fcproj + ls * NC, *res3 = a->residual3 + ls * NC;

        lsc_layernorm_forward_(ln1, a->ln1_mean + ls * N, a->ln1_rstd + ls * N, res,
                               p->ln1w + ls * Cs, p->ln1b + ls * Cs, N, C);
        lsc_gpt_linear_forward_(m, l, LSC_LORA_Q, q, ln1, N, rng);
        lsc_gpt_linear_forward_(m, l, LSC_LORA_K, k, ln1, N, rng);
        lsc_gpt_linear_forward_(m, l, LSC_LORA_V, v, ln1, N, rng);
        lsc_attention_forward_(atty, att, q, k, v, B, T, C, NH);
        lsc_gpt_linear_forward_(m, l, LSC_LORA_O, attproj, atty, N, rng);
        lsc_residual_forward_(res2, res, attproj, NC);
        lsc_layernorm_forward_(ln2, a->ln2_mean + ls * N, a->ln2_rstd + ls * N, res2,
                               p->ln2w + ls * Cs, p->ln2b + ls * Cs, N, C);
        lsc_gpt_linear_forward_(m, l, LSC_LORA_FC_IN, fch, ln2, N, rng);
        lsc_gelu_forward_(fchg, fch, 4 * NC);
        lsc_gpt_linear_forward_(m, l, LSC_LORA_FC_OUT, fcproj, fchg, N, rng);
        lsc_residual_forward_(res3, res2, fcproj, NC);
    }
    lsc_layernorm_forward_(a->lnf, a->lnf_mean, a->lnf_rstd, a->residual3 + (size_t)(L - 1) * NC,
                           p->lnfw, p->lnfb, N, C);
    lsc_matmul_forward_(a->logits, a->lnf, p->wte, NULL, N, C, V);   // tied LM head
}

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
    for (int i = 0; i < N; i++)
        a->dloss[i] = msum > 0.0 ? (float)((mask ? (double)mask[i] : 1.0) / msum) : 0.0f;
    m->mask_sum = (float)msum;
    m->mean_loss = msum > 0.0 ? (float)(lsum / msum) : 0.0f;
}

int lsc_gpt_forward(lsc_gpt *m, const int *inputs, const int *targets, const float *mask,
                    int B, int T, uint64_t *rng, lsc_error *err)
{
    int rc = lsc_gpt_forward_setup_(m, inputs, targets, B, T, rng, err);
    if (rc != LSC_OK)
        return rc;
    if (m->config.arch == LSC_ARCH_LLAMA)
        lsc_llama_forward_(m, rng);
    else
        gpt_forward(m, rng);
    lsc_gpt_forward_loss_(m, targets, mask);
    return LSC_OK;
}

// ---- backward ----

void lsc_gpt_zero_grad(lsc_gpt *m)
{
    if (m->grads_memory)
        memset(m->grads_memory, 0, m->num_parameters * sizeof(float));
    if (m->lora && m->lora->grads)
        memset(m->lora->grads, 0, m->lora->num_parameters * sizeof(float));
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

int lsc_gpt_backward(lsc_gpt *m, lsc_error *err)
{
    lsc_gpt_acts *a = m->acts;
    if (!a || m->B == 0 || !a->has_targets)
        LSC_FAIL(err, LSC_EARG, "model: backward needs a forward with targets first");
    if (m->config.arch == LSC_ARCH_LLAMA)
        return lsc_llama_backward_(m), LSC_OK;
    const lsc_gpt_config *c = &m->config;
    int B = m->B, T = m->T, L = c->n_layer, C = c->n_embd, NH = c->n_head, V = c->vocab;
    int N = B * T;
    size_t NC = (size_t)N * C, Cs = (size_t)C;
    int full = m->grads_memory != NULL;
    const lsc_gpt_params *p = &m->params;
    const lsc_gpt_params *g = &m->grads;

    int l_min = lsc_gpt_lowest_layer_(m);
    if (l_min < 0)
        return LSC_OK;   /* nothing trainable: nothing to compute */

    // loss -> logits -> LM head -> final layernorm
    memset(a->dlogits, 0, (size_t)N * V * sizeof(float));
    lsc_crossentropy_softmax_backward_(a->dlogits, a->probs, a->targets, a->dloss, N, V);
    memset(a->dln, 0, NC * sizeof(float));
    lsc_matmul_backward_(a->dln, full ? g->wte : NULL, NULL, a->dlogits, a->lnf, p->wte, N, C, V);
    memset(a->dres, 0, NC * sizeof(float));
    lsc_layernorm_backward_(a->dres, full ? g->lnfw : NULL, full ? g->lnfb : NULL, a->dln,
                            a->residual3 + (size_t)(L - 1) * NC, p->lnfw, a->lnf_mean,
                            a->lnf_rstd, N, C);

    for (int l = L - 1; l >= l_min; l--) {
        size_t ls = (size_t)l;
        const float *res = l == 0 ? a->encoded : a->residual3 + (ls - 1) * NC;
        const float *ln1 = a->ln1 + ls * NC, *q = a->q + ls * NC, *k = a->k + ls * NC;
        const float *v = a->v + ls * NC, *att = a->att + ls * (size_t)B * NH * T * T;
        const float *atty = a->atty + ls * NC, *res2 = a->residual2 + ls * NC;
        const float *ln2 = a->ln2 + ls * NC, *fch = a->fch + ls * 4 * NC;
        const float *fchg = a->fch_gelu + ls * 4 * NC;
        int need_dinp = full || l > l_min;   /* the stream below this layer */

        // residual3 = residual2 + fc_out(gelu(fc_in(ln2(residual2)))): dres flows to both
        memset(a->dfch_gelu, 0, 4 * NC * sizeof(float));
        lsc_gpt_linear_backward_(m, l, LSC_LORA_FC_OUT, a->dfch_gelu, a->dres, fchg, N);
        memset(a->dfch, 0, 4 * NC * sizeof(float));
        lsc_gelu_backward_(a->dfch, fch, a->dfch_gelu, 4 * NC);
        memset(a->dln, 0, NC * sizeof(float));
        lsc_gpt_linear_backward_(m, l, LSC_LORA_FC_IN, a->dln, a->dfch, ln2, N);
        lsc_layernorm_backward_(a->dres, full ? g->ln2w + ls * Cs : NULL,
                                full ? g->ln2b + ls * Cs : NULL, a->dln, res2, p->ln2w + ls * Cs,
                                a->ln2_mean + ls * N, a->ln2_rstd + ls * N, N, C);
        // residual2 = res + o_proj(attention(q, k, v))
        memset(a->datty, 0, NC * sizeof(float));
        lsc_gpt_linear_backward_(m, l, LSC_LORA_O, a->datty, a->dres, atty, N);
        memset(a->dq, 0, NC * sizeof(float));
        memset(a->dk, 0, NC * sizeof(float));
        memset(a->dv, 0, NC * sizeof(float));
        lsc_attention_backward_(a->dq, a->dk, a->dv, a->datt, a->datty, att, q, k, v, B, T, C, NH);
        float *dln1 = need_dinp ? a->dln : NULL;
        if (dln1)
            memset(dln1, 0, NC * sizeof(float));
        lsc_gpt_linear_backward_(m, l, LSC_LORA_Q, dln1, a->dq, ln1, N);
        lsc_gpt_linear_backward_(m, l, LSC_LORA_K, dln1, a->dk, ln1, N);
        lsc_gpt_linear_backward_(m, l, LSC_LORA_V, dln1, a->dv, ln1, N);
        if (need_dinp)
            lsc_layernorm_backward_(a->dres, full ? g->ln1w + ls * Cs : NULL,
                                    full ? g->ln1b + ls * Cs : NULL, a->dln, res,
                                    p->ln1w + ls * Cs, a->ln1_mean + ls * N, a->ln1_rstd + ls * N,
                                    N, C);
    }
    if (full)
        lsc_encoder_backward_(g->wte, g->wpe, a->dres, a->inputs, B, T, C);
    return LSC_OK;
}
