/*
 * model_nf4.c — the GPT's NF4 mode (QLoRA, issue 6): the linear weights of
 * the quantised targets live as lsc_nf4 (nf4.c) in m->nf4[(l, t)] and the
 * size table gives their kinds 0 floats, so params_memory never holds them;
 * the forward and input-gradient passes (model_forward.c) call
 * lsc_nf4_matmul_forward / _backward_input, which dequantise a tile of rows
 * at a time into m->nf4_tile. Such a model is always frozen (no weight
 * gradients exist for 4-bit weights). Here: the NF4 options, quantising a
 * model, the NF4 init, dequantising back to fp32, and the byte count.
 *
 * What it is not: not the NF4 format or kernels (nf4.c), not the loader
 * that quantises tensor by tensor (model_io.c).
 *
 * Shapes: a target's weight is (out, in) = (d, k) in every one of L layers.
 */
#include <string.h>

#include "lsc_internal.h"

// ---- options ----

int lsc_gpt_nf4_opts_parse_(const lsc_gpt_config *c, const lsc_nf4_opts *opts, int *mask, int *bs,
                            int *dq, lsc_error *err)
{
    const lsc_arch *a = lsc_arch_of_(c);
    const char *s = opts && opts->targets ? opts->targets : NULL;
    *bs = opts && opts->blocksize ? opts->blocksize : LSC_NF4_BLOCKSIZE_DEFAULT;
    *dq = opts ? (opts->double_quant != 0) : 1;
    *mask = 0;
    if (*bs < LSC_NF4_BLOCKSIZE_MIN || *bs > LSC_NF4_BLOCKSIZE_MAX || (*bs & (*bs - 1)) != 0)
        LSC_FAIL(err, LSC_EARG, "model: NF4 blocksize %d is not a power of two in %d..%d", *bs,
                 LSC_NF4_BLOCKSIZE_MIN, LSC_NF4_BLOCKSIZE_MAX);
    if (!s) {   /* every linear target of the architecture */
        for (int t = 0; t < LSC_LORA_NTARGETS; t++)
            if (lsc_arch_has_target_(a, t))
                *mask |= 1 << t;
        return LSC_OK;
    }
    while (*s) {
        while (*s == ',' || *s == ' ')
            s++;
        size_t n = 0;
        while (s[n] && s[n] != ',' && s[n] != ' ')
            n++;
        if (n == 0)
            break;
        char item[32];
        int t = -1;
        if (n < sizeof item) {
            memcpy(item, s, n);
            item[n] = '\0';
            t = lsc_lora_target_parse(item);
        }
        if (!lsc_arch_has_target_(a, t))
            LSC_FAIL(err, LSC_EARG, "model: NF4 target '%.*s' is not a linear layer of the %s model "
                     "(%s)", (int)(n < 64 ? n : 64), s, a->name,
                     c->arch == LSC_ARCH_LLAMA ? "q, k, v, o, gate, up, down" : "q, k, v, o, fc_in, fc_out");
        *mask |= 1 << t;
        s += n;
    }
    if (!*mask)
        LSC_FAIL(err, LSC_EARG, "model: empty list of NF4 targets");
    return LSC_OK;
}

// ---- quantise and dequantise ----

/* Reallocates params_memory for the NF4 targets qmask: the fp32 kinds that
 * stay are copied, new fp32 kinds are zero (the caller fills them), the
 * views, table, counts and tile follow. m->nf4 is not touched. On failure
 * the model is unchanged. */
static int rebuild(lsc_gpt *m, int qmask, lsc_error *err)
{
    LSC_ASSERT(!m->grads_memory);
    size_t sz[LSC_MAX_KINDS], n = 0;
    lsc_gpt_param_sizes_(sz, &m->config, qmask);
    for (int i = 0; i < LSC_MAX_KINDS; i++)
        n += sz[i];
    size_t tf = lsc_gpt_tile_floats_(&m->config, qmask);
    float *mem = LSC_CALLOC(n, sizeof(float));
    float *tile = tf ? LSC_MALLOC(tf * sizeof(float)) : NULL;
    if (!mem || (tf && !tile)) {
        LSC_FREE(mem);
        LSC_FREE(tile);
        LSC_FAIL(err, LSC_ENOMEM, "model: out of memory for %zu parameters", n);
    }
    size_t o_old = 0, o_new = 0;
    for (int i = 0; i < LSC_MAX_KINDS; i++) {
        if (m->param_sizes[i] && sz[i]) {
            LSC_ASSERT(m->param_sizes[i] == sz[i]);
            memcpy(mem + o_new, m->params_memory + o_old, sz[i] * sizeof(float));
        }
        o_old += m->param_sizes[i];
        o_new += sz[i];
    }
    LSC_FREE(m->params_memory);
    LSC_FREE(m->nf4_tile);
    m->params_memory = mem;
    memcpy(m->param_sizes, sz, sizeof sz);
    m->num_parameters = n;
    lsc_gpt_point_params_(&m->params, &m->config, mem, sz);
    m->quant_targets = qmask;
    m->num_quantized = lsc_gpt_quantized_count_(&m->config, qmask);
    m->nf4_tile = tile;
    m->nf4_tile_floats = tf;
    lsc_gpt_fill_tensors_(m);
    return LSC_OK;
}

int lsc_gpt_quantize(lsc_gpt *m, const lsc_nf4_opts *opts, lsc_error *err)
{
    int mask, bs, dq, rc;
    if ((rc = lsc_gpt_nf4_opts_parse_(&m->config, opts, &mask, &bs, &dq, err)) != LSC_OK)
        return rc;
    if (m->grads_memory)
        LSC_FAIL(err, LSC_EARG, "model: cannot quantise a model in full fine-tuning mode "
                                "(set it LSC_GPT_FROZEN first)");
    if (m->lora && m->lora->merged)
        LSC_FAIL(err, LSC_EARG, "model: the active adapter is merged into the weights; "
                                "unmerge it before quantising");
    int add = mask & ~m->quant_targets, L = m->config.n_layer;
    if (!add)
        return LSC_OK;
    int own = m->nf4 == NULL;
    if (own && !(m->nf4 = LSC_CALLOC((size_t)L * LSC_LORA_NTARGETS, sizeof *m->nf4)))
        LSC_FAIL(err, LSC_ENOMEM, "model: out of memory for the NF4 weights");
    for (int t = 0; t < LSC_LORA_NTARGETS; t++)
        for (int l = 0; (add >> t) & 1 && l < L; l++) {
            float *w, *bias;
            int out, in;
            lsc_gpt_linear(m, l, t, &w, &bias, &out, &in);
            lsc_error inner;
            rc = lsc_nf4_quantize(&m->nf4[lsc_gpt_nf4_slot_(l, t)], w, (size_t)out, (size_t)in, bs, dq, &inner);
            if (rc != LSC_OK) {
                char name[64];
                const lsc_arch *a = lsc_arch_of_(&m->config);
                lsc_arch_tensor_name_(a, lsc_arch_linear_kind_(a, t, 0), l, name, sizeof name);
                rc = lsc_error_set(err, rc, __FILE__, __LINE__, "model: %s: %s", name, inner.msg);
                goto undo;
            }
        }
    if ((rc = rebuild(m, m->quant_targets | add, err)) != LSC_OK)
        goto undo;
    return LSC_OK;
undo:
    for (int t = 0; t < LSC_LORA_NTARGETS; t++)
        for (int l = 0; (add >> t) & 1 && l < L; l++)
            lsc_nf4_free(&m->nf4[lsc_gpt_nf4_slot_(l, t)]);
    if (own) {
        LSC_FREE(m->nf4);
        m->nf4 = NULL;
    }
    return rc;
}

size_t lsc_gpt_nf4_scratch_floats_(const lsc_gpt *m)
{
    size_t mx = 0;
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].nf4 && m->tensors[i].numel > mx)
            mx = m->tensors[i].numel;
    return mx;
}

// ---- init ----

int lsc_gpt_init_nf4(lsc_gpt *m, const lsc_gpt_config *cfg, const lsc_nf4_opts *opts,
                     uint64_t *rng, lsc_error *err)
{
    int mask, bs, dq, rc;
    memset(m, 0, sizeof *m);
    if ((rc = lsc_gpt_nf4_opts_parse_(cfg, opts, &mask, &bs, &dq, err)) != LSC_OK)
        return rc;
    if ((rc = lsc_gpt_init_q_(m, cfg, mask, err)) != LSC_OK)
        return rc;
    /* the table's order is lsc_gpt_init_weights' draw order */
    float *scratch = LSC_MALLOC(lsc_gpt_nf4_scratch_floats_(m) * sizeof(float));
    if (!scratch) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "model: out of memory for a weight");
        goto fail;
    }
    for (int i = 0; i < m->n_tensors; i++) {
        const lsc_gpt_tensor *t = &m->tensors[i];
        if (!t->nf4) {
            lsc_gpt_draw_tensor_(m, t, m->params_memory + t->offset, rng);
            continue;
        }
        lsc_gpt_draw_tensor_(m, t, scratch, rng);
        lsc_error inner;
        rc = lsc_nf4_quantize(&m->nf4[lsc_gpt_tensor_slot_(m, t)], scratch, (size_t)t->shape[0], (size_t)t->shape[1],
                              bs, dq, &inner);
        if (rc != LSC_OK) {
            rc = lsc_error_set(err, rc, __FILE__, __LINE__, "model: %s: %s", t->name, inner.msg);
            goto fail;
        }
    }
    LSC_FREE(scratch);
    return LSC_OK;
fail:
    LSC_FREE(scratch);
    lsc_gpt_free(m);
    return rc;
}

int lsc_gpt_dequantize(lsc_gpt *m, lsc_error *err)
{
    int old = m->quant_targets, rc;
    if (!old)
        return LSC_OK;
    lsc_nf4 *q = m->nf4;
    m->nf4 = NULL;   /* the 4-bit data outlives the rebuild */
    if ((rc = rebuild(m, 0, err)) != LSC_OK) {
        m->nf4 = q;
        return rc;
    }
    for (int t = 0; t < LSC_LORA_NTARGETS; t++)
        for (int l = 0; (old >> t) & 1 && l < m->config.n_layer; l++) {
            float *w, *bias;
            int out, in;
            lsc_gpt_linear(m, l, t, &w, &bias, &out, &in);
            lsc_nf4 *qq = &q[lsc_gpt_nf4_slot_(l, t)];
            lsc_nf4_dequant_rows(qq, 0, qq->d, w);
        }
    for (size_t i = 0; i < (size_t)m->config.n_layer * LSC_LORA_NTARGETS; i++)
        lsc_nf4_free(&q[i]);
    LSC_FREE(q);
    return LSC_OK;
}

// ---- access ----

const lsc_nf4 *lsc_gpt_nf4(const lsc_gpt *m, int layer, int target)
{
    if (!m->quant_targets || target < 0 || target >= LSC_LORA_NTARGETS ||
        !((m->quant_targets >> target) & 1) || layer < 0 || layer >= m->config.n_layer)
        return NULL;
    return &m->nf4[lsc_gpt_nf4_slot_(layer, target)];
}

size_t lsc_gpt_weight_bytes(const lsc_gpt *m, lsc_gpt_bytes *parts)
{
    lsc_gpt_bytes p = {m->num_parameters * sizeof(float), 0, m->nf4_tile_floats * sizeof(float)};
    for (int t = 0; t < LSC_LORA_NTARGETS; t++)
        for (int l = 0; (m->quant_targets >> t) & 1 && l < m->config.n_layer; l++) {
            const lsc_nf4 *q = &m->nf4[lsc_gpt_nf4_slot_(l, t)];
            p.nf4 += (q->n + 1) / 2;
            p.nf4 += q->nested ? q->n_blocks + q->n_nested * sizeof(float) + sizeof(float)
                               : q->n_blocks * sizeof(float);
        }
    if (parts)
        *parts = p;
    return p.fp32 + p.nf4 + p.tile;
}
