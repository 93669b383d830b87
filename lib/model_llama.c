/*
 * model_llama.c — the Llama family's forward and backward passes over
 * (B, T) and its decoding step: a call list of layers_llama.c / layers.c
 * kernels over the parameter table of arch_llama.c (backward is forward's
 * list in reverse), each adaptable linear layer followed by its LoRA module
 * when an unmerged adapter is active (model_forward.c's linear layer, so NF4
 * weights and adapters work exactly as for the GPT).
 *
 *   x0 = embed[token]
 *   per layer: h = x + o(attn(rope(q(n1)), rope(k(n1)), v(n1))),  n1 = rms(x)·w1
 *              x' = h + down(silu(gate(n2)) · up(n2)),             n2 = rms(h)·w2
 *   logits = rms(x_L)·w · lm_head (embed_tokens when tied)
 *
 * What it is not: no allocation (model.c sizes the buffers with the
 * Llama's widths), no checks (lsc_gpt_forward / lsc_gpt_forward_step do
 * them), no loss (lsc_gpt_forward_loss_).
 *
 * Shapes: B batch, T time, N = B·T rows, C hidden, NH query heads, NKV
 * key/value heads, hs head size, Q = NH·hs, KV = NKV·hs, F MLP width,
 * V vocab, L layers. RoPE: rope_half 0 = llama2.c's interleaved pairs,
 * 1 = Hugging Face's rotate_half; q and k are stored AFTER rotation.
 */
#include <string.h>

#include "lsc_internal.h"

typedef struct dims {
    int    B, T, N, L, C, NH, NKV, hs, F, V;
    size_t Q, KV, NC;
    float  eps, theta;
    int    interleaved;
} dims;

static dims dims_of(const lsc_gpt *m, int B, int T)
{
    const lsc_gpt_config *c = &m->config;
    dims d;
    d.B = B, d.T = T, d.N = B * T, d.L = c->n_layer, d.C = c->n_embd, d.NH = c->n_head;
    d.NKV = lsc_gpt_kv_heads(c), d.hs = lsc_gpt_head_dim(c), d.F = lsc_gpt_ff_dim(c), d.V = c->vocab;
    d.Q = (size_t)d.NH * d.hs, d.KV = (size_t)d.NKV * d.hs, d.NC = (size_t)d.N * d.C;
    d.eps = c->norm_eps, d.theta = c->rope_theta, d.interleaved = !c->rope_half;
    return d;
}

/* The LM head: lm_head when untied, else embed_tokens. */
static const float *head_weight(const lsc_gpt *m)
{
    return m->params.llama.lm_head ? m->params.llama.lm_head : m->params.llama.embed;
}

static void embed_rows(float *x, const float *embed, const int *tokens, int n, int C)
{
    for (int i = 0; i < n; i++)
        memcpy(x + (size_t)i * C, embed + (size_t)tokens[i] * C, (size_t)C * sizeof(float));
}

// ---- forward ----

/* The MLP of layer l on n rows: out = down(silu(gate(in)) · up(in)); gate,
 * up and hidden are the caller's (n, F) buffers. */
static void mlp_forward(lsc_gpt *m, int l, float *out, const float *in, float *gate, float *up,
                        float *hidden, int n, int F, uint64_t *rng)
{
    lsc_gpt_linear_forward_(m, l, LSC_LORA_GATE, gate, in, n, rng);
    lsc_gpt_linear_forward_(m, l, LSC_LORA_UP, up, in, n, rng);
    lsc_swiglu_forward_(hidden, gate, up, (size_t)n * F);
    lsc_gpt_linear_forward_(m, l, LSC_LORA_DOWN, out, hidden, n, rng);
}

/* q, k, v of layer l on n rows of normed input at positions pos, q and k rotated. */
static void qkv_forward(lsc_gpt *m, int l, float *q, float *k, float *v, const float *in,
                        const int *pos, int n, const dims *d, uint64_t *rng)
{
    lsc_gpt_linear_forward_(m, l, LSC_LORA_Q, q, in, n, rng);
    lsc_gpt_linear_forward_(m, l, LSC_LORA_K, k, in, n, rng);
    lsc_gpt_linear_forward_(m, l, LSC_LORA_V, v, in, n, rng);
    lsc_rope_forward_(q, pos, n, d->NH, d->hs, d->theta, d->interleaved);
    lsc_rope_forward_(k, pos, n, d->NKV, d->hs, d->theta, d->interleaved);
}

void lsc_llama_forward_(lsc_gpt *m, uint64_t *rng)
{
    lsc_gpt_acts *a = m->acts;
    const struct lsc_llama_params *p = &m->params.llama;
    dims d = dims_of(m, m->B, m->T);
    size_t N = (size_t)d.N, C = (size_t)d.C, F = (size_t)d.F;
    embed_rows(a->encoded, p->embed, a->inputs, d.N, d.C);
    for (int l = 0; l < d.L; l++) {
        size_t ls = (size_t)l;
        const float *res = l == 0 ? a->encoded : a->residual3 + (ls - 1) * d.NC;
        float *n1 = a->ln1 + ls * d.NC, *q = a->q + ls * N * d.Q, *k = a->k + ls * N * d.KV;
        float *v = a->v + ls * N * d.KV, *att = a->att + ls * (size_t)d.B * d.NH * d.T * d.T;
        float *atty = a->atty + ls * N * d.Q, *proj = a->attproj + ls * d.NC;
        float *res2 = a->residual2 + ls * d.NC, *n2 = a->ln2 + ls * d.NC;
        float *gate = a->fch + ls * N * F, *up = a->up + ls * N * F, *hid = a->fch_gelu + ls * N * F;
        float *down = a->fcproj + ls * d.NC, *res3 = a->residual3 + ls * d.NC;

        lsc_rmsnorm_forward_(n1, a->ln1_rstd + ls * N, res, p->attn_norm + ls * C, d.eps, d.N, d.C);
        qkv_forward(m, l, q, k, v, n1, a->pos, d.N, &d, rng);
        lsc_attention_gqa_forward_(atty, att, q, k, v, d.B, d.T, d.NH, d.NKV, d.hs);
        lsc_gpt_linear_forward_(m, l, LSC_LORA_O, proj, atty, d.N, rng);
        lsc_residual_forward_(res2, res, proj, d.NC);
        lsc_rmsnorm_forward_(n2, a->ln2_rstd + ls * N, res2, p->mlp_norm + ls * C, d.eps, d.N, d.C);
        mlp_forward(m, l, down, n2, gate, up, hid, d.N, d.F, rng);
        lsc_residual_forward_(res3, res2, down, d.NC);
    }
    lsc_rmsnorm_forward_(a->lnf, a->lnf_rstd, a->residual3 + (size_t)(d.L - 1) * d.NC, p->norm, d.eps,
                         d.N, d.C);
    lsc_matmul_forward_(a->logits, a->lnf, head_weight(m), NULL, d.N, d.C, d.V);
}

// ---- backward ----

/* dres holds the gradient of the block's output; on return, of its input
 * (when need_dinp). */
static void block_backward(lsc_gpt *m, int l, const dims *d, int need_dinp)
{
    lsc_gpt_acts *a = m->acts;
    const struct lsc_llama_params *p = &m->params.llama;
    const struct lsc_llama_params *g = m->grads_memory ? &m->grads.llama : NULL;
    size_t ls = (size_t)l, N = (size_t)d->N, C = (size_t)d->C, F = (size_t)d->F;
    const float *res = l == 0 ? a->encoded : a->residual3 + (ls - 1) * d->NC;
    const float *n1 = a->ln1 + ls * d->NC, *q = a->q + ls * N * d->Q, *k = a->k + ls * N * d->KV;
    const float *v = a->v + ls * N * d->KV, *att = a->att + ls * (size_t)d->B * d->NH * d->T * d->T;
    const float *atty = a->atty + ls * N * d->Q, *res2 = a->residual2 + ls * d->NC;
    const float *n2 = a->ln2 + ls * d->NC, *gate = a->fch + ls * N * F, *up = a->up + ls * N * F;
    const float *hid = a->fch_gelu + ls * N * F;

    // x' = h + down(silu(gate(n2)) · up(n2)), n2 = rms(h): dres flows to both
    memset(a->dfch_gelu, 0, N * F * sizeof(float));
    lsc_gpt_linear_backward_(m, l, LSC_LORA_DOWN, a->dfch_gelu, a->dres, hid, d->N);
    memset(a->dfch, 0, N * F * sizeof(float));
    memset(a->dup, 0, N * F * sizeof(float));
    lsc_swiglu_backward_(a->dfch, a->dup, a->dfch_gelu, gate, up, N * F);
    memset(a->dln, 0, d->NC * sizeof(float));
    lsc_gpt_linear_backward_(m, l, LSC_LORA_GATE, a->dln, a->dfch, n2, d->N);
    lsc_gpt_linear_backward_(m, l, LSC_LORA_UP, a->dln, a->dup, n2, d->N);
    lsc_rmsnorm_backward_(a->dres, g ? g->mlp_norm + ls * C : NULL, a->dln, res2, p->mlp_norm + ls * C,
                          a->ln2_rstd + ls * N, d->N, d->C);
    // h = x + o(attn(rope(q), rope(k), v)), n1 = rms(x)
    memset(a->datty, 0, N * d->Q * sizeof(float));
    lsc_gpt_linear_backward_(m, l, LSC_LORA_O, a->datty, a->dres, atty, d->N);
    memset(a->dq, 0, N * d->Q * sizeof(float));
    memset(a->dk, 0, N * d->KV * sizeof(float));
    memset(a->dv, 0, N * d->KV * sizeof(float));
    lsc_attention_gqa_backward_(a->dq, a->dk, a->dv, a->datt, a->datty, att, q, k, v, d->B, d->T, d->NH,
                                d->NKV, d->hs);
    lsc_rope_backward_(a->dq, a->pos, d->N, d->NH, d->hs, d->theta, d->interleaved);
    lsc_rope_backward_(a->dk, a->pos, d->N, d->NKV, d->hs, d->theta, d->interleaved);
    float *dn1 = need_dinp ? a->dln : NULL;
    if (dn1)
        memset(dn1, 0, d->NC * sizeof(float));
    lsc_gpt_linear_backward_(m, l, LSC_LORA_Q, dn1, a->dq, n1, d->N);
    lsc_gpt_linear_backward_(m, l, LSC_LORA_K, dn1, a->dk, n1, d->N);
    lsc_gpt_linear_backward_(m, l, LSC_LORA_V, dn1, a->dv, n1, d->N);
    if (need_dinp)
        lsc_rmsnorm_backward_(a->dres, g ? g->attn_norm + ls * C : NULL, a->dln, res,
                              p->attn_norm + ls * C, a->ln1_rstd + ls * N, d->N, d->C);
}

void lsc_llama_backward_(lsc_gpt *m)
{
    int l_min = lsc_gpt_lowest_layer_(m);
    if (l_min < 0)
        return;   /* nothing trainable */
    lsc_gpt_acts *a = m->acts;
    const struct lsc_llama_params *p = &m->params.llama;
    const struct lsc_llama_params *g = m->grads_memory ? &m->grads.llama : NULL;
    dims d = dims_of(m, m->B, m->T);

    // loss -> logits -> LM head -> final RMSNorm
    memset(a->dlogits, 0, (size_t)d.N * d.V * sizeof(float));
    lsc_crossentropy_softmax_backward_(a->dlogits, a->probs, a->targets, a->dloss, d.N, d.V);
    memset(a->dln, 0, d.NC * sizeof(float));
    float *dhead = g ? (g->lm_head ? g->lm_head : g->embed) : NULL;
    lsc_matmul_backward_(a->dln, dhead, NULL, a->dlogits, a->lnf, head_weight(m), d.N, d.C, d.V);
    memset(a->dres, 0, d.NC * sizeof(float));
    lsc_rmsnorm_backward_(a->dres, g ? g->norm : NULL, a->dln, a->residual3 + (size_t)(d.L - 1) * d.NC,
                          p->norm, a->lnf_rstd, d.N, d.C);
    for (int l = d.L - 1; l >= l_min; l--)
        block_backward(m, l, &d, g != NULL || l > l_min);
    if (g)   /* embedding rows in row order: a fixed summation order */
        for (int i = 0; i < d.N; i++) {
            float *ge = g->embed + (size_t)a->inputs[i] * d.C;
            const float *dr = a->dres + (size_t)i * d.C;
            for (int j = 0; j < d.C; j++)
                ge[j] += dr[j];
        }
}

// ---- decoding step ----

void lsc_llama_forward_step_(lsc_gpt *m, lsc_kv_cache *kv, const int *tokens, const int *slot,
                             const int *pos, int n)
{
    lsc_gpt_acts *a = m->acts;
    const struct lsc_llama_params *p = &m->params.llama;
    dims d = dims_of(m, n, 1);
    size_t C = (size_t)d.C, per_layer = (size_t)kv->rows * kv->T * d.KV;
    float *x = a->encoded, *nrm = a->ln1, *q = a->q, *k = a->k, *v = a->v, *y = a->atty;
    float *proj = a->attproj, *x2 = a->residual2, *gate = a->fch, *up = a->up, *hid = a->fch_gelu;
    embed_rows(x, p->embed, tokens, n, d.C);
    for (int l = 0; l < d.L; l++) {
        size_t ls = (size_t)l;
        float *kc = kv->k + ls * per_layer, *vc = kv->v + ls * per_layer;
        lsc_rmsnorm_forward_(nrm, a->ln1_rstd, x, p->attn_norm + ls * C, d.eps, n, d.C);
        qkv_forward(m, l, q, k, v, nrm, pos, n, &d, NULL);
        for (int b = 0; b < n; b++) {
            size_t at = ((size_t)slot[b] * kv->T + (size_t)pos[b]) * d.KV;
            memcpy(kc + at, k + (size_t)b * d.KV, d.KV * sizeof(float));
            memcpy(vc + at, v + (size_t)b * d.KV, d.KV * sizeof(float));
        }
        lsc_attention_step_(y, q, kc, vc, slot, pos, n, kv->T, d.NH, d.NKV, d.hs, a->att);
        lsc_gpt_linear_forward_(m, l, LSC_LORA_O, proj, y, n, NULL);
        lsc_residual_forward_(x2, x, proj, (size_t)n * C);
        lsc_rmsnorm_forward_(nrm, a->ln2_rstd, x2, p->mlp_norm + ls * C, d.eps, n, d.C);
        mlp_forward(m, l, proj, nrm, gate, up, hid, n, d.F, NULL);
        lsc_residual_forward_(x, x2, proj, (size_t)n * C);
    }
    lsc_rmsnorm_forward_(a->lnf, a->lnf_rstd, x, p->norm, d.eps, n, d.C);
    lsc_matmul_forward_(a->logits, a->lnf, head_weight(m), NULL, n, d.C, d.V);
    lsc_softmax_forward_(a->probs, a->logits, n, d.V);
}
