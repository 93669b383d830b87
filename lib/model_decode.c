/*
 * model_decode.c — the GPT's incremental inference forward: one new position
 * per row against a key/value cache of the earlier ones (what generation and
 * greedy evaluation use), and the cache itself. Equals the full forward
 * (model_forward.c) up to float rounding: the same linear layers (with the
 * adapter, if any) and the same causal softmax row (layers.c).
 *
 * What it is not: no loss, no dropout, no backward; not the decoding loops
 * (train.c's lsc_decode drives it).
 *
 * Shapes: n rows of the step, C = n_embd, NH heads, hs = C/NH, L layers,
 * the cache (L, rows, T, C). The Llama's step is model_llama.c's; it shares
 * the cache, the checks and the attention of one position (grouped-query:
 * the cache holds NKV·hs per position).
 */
#include <math.h>
#include <string.h>

#include "lsc_internal.h"

// ---- the key/value cache ----

void lsc_kv_cache_free(lsc_kv_cache *kv)
{
    if (!kv)
        return;
    LSC_FREE(kv->k);
    LSC_FREE(kv->v);
    memset(kv, 0, sizeof *kv);
}

int lsc_kv_cache_alloc(lsc_kv_cache *kv, const lsc_gpt *m, int rows, int T, lsc_error *err)
{
    memset(kv, 0, sizeof *kv);
    const lsc_gpt_config *c = &m->config;
    if (rows < 1 || T < 1 || T > c->n_ctx)
        LSC_FAIL(err, LSC_EARG, "kv cache: %d rows of %d positions (need rows >= 1, 1 <= T <= n_ctx = %d)",
                 rows, T, c->n_ctx);
    size_t kvd = lsc_arch_dim_(c, LSC_DIM_KVD);   /* C for the GPT */
    size_t n = (size_t)c->n_layer * (size_t)rows * (size_t)T * kvd;
    kv->k = LSC_MALLOC(n * sizeof(float));
    kv->v = LSC_MALLOC(n * sizeof(float));
    if (!kv->k || !kv->v) {
        lsc_kv_cache_free(kv);
        LSC_FAIL(err, LSC_ENOMEM, "kv cache: out of memory (%zu floats)", 2 * n);
    }
    kv->rows = rows;
    kv->T = T;
    kv->n_layer = c->n_layer;
    kv->C = (int)kvd;
    return LSC_OK;
}

// ---- the step ----

int lsc_gpt_forward_step(lsc_gpt *m, lsc_kv_cache *kv, const int *tokens, const int *slot,
                         const int *pos, int n, lsc_error *err)
{
    const lsc_gpt_config *c = &m->config;
    lsc_gpt_acts *a = m->acts;
    if (!a)
        LSC_FAIL(err, LSC_EARG, "model: forward step before lsc_gpt_alloc_acts");
    if (!kv || !kv->k || kv->n_layer != c->n_layer || (size_t)kv->C != lsc_arch_dim_(c, LSC_DIM_KVD))
        LSC_FAIL(err, LSC_EARG, "model: forward step with a key/value cache of another model");
    int L = c->n_layer, C = c->n_embd, NH = c->n_head, V = c->vocab;
    if (kv->T > m->T_alloc)
        LSC_FAIL(err, LSC_EARG, "model: key/value cache of %d positions beyond the activations' T = %d",
                 kv->T, m->T_alloc);
    if (n < 1 || n > m->B_alloc * m->T_alloc || n > kv->rows)
        LSC_FAIL(err, LSC_EARG, "model: forward step of %d rows (cache %d, activations %d)", n, kv->rows,
                 m->B_alloc * m->T_alloc);
    for (int b = 0; b < n; b++) {
        if (tokens[b] < 0 || tokens[b] >= V)
            LSC_FAIL(err, LSC_EARG, "model: input token %d of row %d outside [0, %d)", tokens[b], b, V);
        if (slot[b] < 0 || slot[b] >= kv->rows || pos[b] < 0 || pos[b] >= kv->T)
            LSC_FAIL(err, LSC_EARG, "model: row %d at cache slot %d position %d outside (%d, %d)", b,
                     slot[b], pos[b], kv->rows, kv->T);
    }
    if (m->lora && !m->lora->merged && (m->lora->B_alloc * m->lora->T_alloc < n)) {
        int rc = lsc_lora_alloc_acts_(m->lora, m->B_alloc, m->T_alloc, err);
        if (rc != LSC_OK)
            return rc;
    }
    if (m->lora)
        m->lora->dropout_on = 0;
    /* the step's activations live in the first n rows of the full buffers */
    m->B = n;
    m->T = 1;
    a->has_targets = 0;
    m->mean_loss = -1.0f;
    m->mask_sum = 0.0f;
    if (c->arch == LSC_ARCH_LLAMA) {
        lsc_llama_forward_step_(m, kv, tokens, slot, pos, n);
        return LSC_OK;
    }
    const lsc_gpt_params *p = &m->params;
    size_t nC = (size_t)n * C, Cs = (size_t)C, per_layer = (size_t)kv->rows * kv->T * C;
    float *x = a->encoded, *ln = a->ln1, *q = a->q, *k = a->k, *v = a->v, *y = a->atty;
    float *proj = a->attproj, *x2 = a->residual2, *h = a->fch, *hg = a->fch_gelu;
    float *prob = a->att;   /* (T) scores of one head */
    for (int b = 0; b < n; b++) {
        const float *te = p->wte + (size_t)tokens[b] * C, *pe = p->wpe + (size_t)pos[b] * C;
        for (int i = 0; i < C; i++)
            x[(size_t)b * C + i] = te[i] + pe[i];
    }
    for (int l = 0; l < L; l++) {
        size_t ls = (size_t)l;
        float *kc = kv->k + ls * per_layer, *vc = kv->v + ls * per_layer;
        lsc_layernorm_forward_(ln, a->ln1_mean, a->ln1_rstd, x, p->ln1w + ls * Cs, p->ln1b + ls * Cs, n, C);
        lsc_gpt_linear_forward_(m, l, LSC_LORA_Q, q, ln, n, NULL);
        lsc_gpt_linear_forward_(m, l, LSC_LORA_K, k, ln, n, NULL);
        lsc_gpt_linear_forward_(m, l, LSC_LORA_V, v, ln, n, NULL);
        for (int b = 0; b < n; b++) {
            size_t at = ((size_t)slot[b] * kv->T + (size_t)pos[b]) * C;
            memcpy(kc + at, k + (size_t)b * C, Cs * sizeof(float));
            memcpy(vc + at, v + (size_t)b * C, Cs * sizeof(float));
        }
        lsc_attention_step_(y, q, kc, vc, slot, pos, n, kv->T, NH, NH, C / NH, prob);
        lsc_gpt_linear_forward_(m, l, LSC_LORA_O, proj, y, n, NULL);
        lsc_residual_forward_(x2, x, proj, nC);
        lsc_layernorm_forward_(ln, a->ln2_mean, a->ln2_rstd, x2, p->ln2w + ls * Cs, p->ln2b + ls * Cs, n, C);
        lsc_gpt_linear_forward_(m, l, LSC_LORA_FC_IN, h, ln, n, NULL);
        lsc_gelu_forward_(hg, h, 4 * nC);
        lsc_gpt_linear_forward_(m, l, LSC_LORA_FC_OUT, proj, hg, n, NULL);
        lsc_residual_forward_(x, x2, proj, nC);
    }
    lsc_layernorm_forward_(a->lnf, a->lnf_mean, a->lnf_rstd, x, p->lnfw, p->lnfb, n, C);
    lsc_matmul_forward_(a->logits, a->lnf, p->wte, NULL, n, C, V);   // tied LM head
    lsc_softmax_forward_(a->probs, a->logits, n, V);
    return LSC_OK;
}

