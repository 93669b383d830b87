/*
 * model_forward.c — the model's forward and backward entry points (they
 * dispatch on the architecture: the Llama family's passes are
 * model_llama.c's) and the GPT's passes over (B, T): a call list of
 * layers.c kernels (backward is forward's list in reverse), each adaptable
 * linear layer followed by its LoRA module when an unmerged adapter is
 * active (model_common.c's linear layer; NF4 weights a tile at a time).
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
        lsc_attention_gqa_forward_(atty, att, q, k, v, B, T, NH, NH, C / NH);
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
        lsc_attention_gqa_backward_(a->dq, a->dk, a->dv, a->datt, a->datty, att, q, k, v, B, T, NH, NH, C / NH);
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
