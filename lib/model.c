/*
 * model.c — the GPT's parameters: configuration, ONE contiguous buffer with
 * named views, the tensor (file) table and the GPT-2 init, all built from
 * the architecture's parameter table (arch_gpt.c, arch.h) the way
 * llm.c's malloc_and_point does; trainable mode, the linear-layer accessor,
 * and the activation buffers for (B, T).
 *
 * What it is not: no forward/backward (model_forward.c), no decoding step
 * (model_decode.c), no file I/O (model_io.c), no quantisation (model_nf4.c),
 * no optimiser (adamw.c), no LoRA (lora.c; the model only holds a borrowed
 * pointer to the active adapter and sizes its activations, lora_layer.c).
 *
 * Shapes: B batch, T time, C = n_embd, V vocab, L layers, NH heads,
 * N = B*T rows. Linear weights are (out, in).
 *
 * NF4 mode (QLoRA, model_nf4.c): the linear weights of the quantised
 * targets live as lsc_nf4 in m->nf4[(l, t)] and the size table gives their
 * kinds 0 floats, so params_memory never holds them (their views are NULL).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lsc_internal.h"

// ---- configuration ----

int lsc_gpt_config_check(const lsc_gpt_config *cfg, lsc_error *err)
{
    if (cfg->arch != LSC_ARCH_GPT && cfg->arch != LSC_ARCH_LLAMA)
        LSC_FAIL(err, LSC_EARG, "model config: unknown architecture %d", cfg->arch);
    if (cfg->n_layer < 1 || cfg->n_layer > 64)
        LSC_FAIL(err, LSC_EARG, "model config: n_layer = %d, must be in [1, 64]", cfg->n_layer);
    if (cfg->n_embd < 1 || cfg->n_embd > 65536)
        LSC_FAIL(err, LSC_EARG, "model config: n_embd = %d, must be in [1, 65536]", cfg->n_embd);
    if (cfg->n_ctx < 1 || cfg->n_ctx > 65536)
        LSC_FAIL(err, LSC_EARG, "model config: n_ctx = %d, must be in [1, 65536]", cfg->n_ctx);
    if (cfg->vocab < 1 || cfg->vocab > (1 << 24))
        LSC_FAIL(err, LSC_EARG, "model config: vocab = %d, must be in [1, 2^24]", cfg->vocab);
    if (cfg->arch == LSC_ARCH_GPT || cfg->head_dim <= 0) {
        if (cfg->n_head < 1 || cfg->n_embd % cfg->n_head != 0)
            LSC_FAIL(err, LSC_EARG, "model config: n_head = %d must be >= 1 and divide n_embd = %d",
                     cfg->n_head, cfg->n_embd);
    }
    if (cfg->arch == LSC_ARCH_GPT)
        return LSC_OK;
    lsc_gpt_config f = lsc_gpt_config_fill(cfg);
    if (f.n_head < 1 || f.n_head > 1024)
        LSC_FAIL(err, LSC_EARG, "model config: n_head = %d, must be in [1, 1024]", f.n_head);
    if (f.n_kv_head < 1 || f.n_head % f.n_kv_head != 0)
        LSC_FAIL(err, LSC_EARG, "model config: n_kv_head = %d must be >= 1 and divide n_head = %d",
                 f.n_kv_head, f.n_head);
    if (f.head_dim < 2 || f.head_dim % 2 != 0 || f.head_dim > 4096)
        LSC_FAIL(err, LSC_EARG, "model config: head_dim = %d must be even and in [2, 4096]", f.head_dim);
    if (f.n_ff < 1 || f.n_ff > (1 << 20))
        LSC_FAIL(err, LSC_EARG, "model config: intermediate size %d, must be in [1, 2^20]", f.n_ff);
    if (!(f.rope_theta > 0.0f && f.rope_theta <= 1e12f))
        LSC_FAIL(err, LSC_EARG, "model config: rope_theta = %g, must be in (0, 1e12]", (double)f.rope_theta);
    if (!(f.norm_eps > 0.0f && f.norm_eps < 1.0f))
        LSC_FAIL(err, LSC_EARG, "model config: norm epsilon %g, must be in (0, 1)", (double)f.norm_eps);
    return LSC_OK;
}

// ---- sizes, views and the tensor table (from the parameter table) ----

/* Kind i of table a is held in NF4 under the target mask qmask. */
static int kind_in_nf4(const lsc_arch *a, int i, int qmask)
{
    const lsc_param_spec *p = &a->params[i];
    return p->lora && ((qmask >> p->linear) & 1);
}

void lsc_gpt_param_sizes_(size_t *sz, const lsc_gpt_config *cfg, int qmask)
{
    const lsc_arch *a = lsc_arch_of_(cfg);
    LSC_ASSERT(a->n_params <= LSC_MAX_KINDS);
    for (int i = 0; i < LSC_MAX_KINDS; i++)
        sz[i] = 0;
    for (int i = 0; i < a->n_params; i++) {
        size_t layers = a->params[i].per_layer ? (size_t)cfg->n_layer : 1;
        int held = lsc_arch_present_(a, i, cfg) && !kind_in_nf4(a, i, qmask);
        sz[i] = held ? layers * lsc_arch_numel_(a, i, cfg) : 0;
    }
}

void lsc_gpt_point_params_(lsc_gpt_params *p, const lsc_gpt_config *cfg, float *mem, const size_t *sz)
{
    const lsc_arch *a = lsc_arch_of_(cfg);
    memset(p, 0, sizeof *p);
    for (int i = 0; i < a->n_params; i++) {
        *lsc_arch_view_(a, i, p) = sz[i] ? mem : NULL;
        mem += sz[i];
    }
}

/* Entries of the tensor table: every present global kind once, every
 * present per-layer kind once per layer. */
static int tensor_count(const lsc_gpt_config *c)
{
    const lsc_arch *a = lsc_arch_of_(c);
    int n = 0;
    for (int i = 0; i < a->n_params; i++)
        if (lsc_arch_present_(a, i, c))
            n += a->params[i].per_layer ? c->n_layer : 1;
    return n;
}

/* Table entry for kind i in layer l; off = the kinds' offsets in the buffer. */
static void set_tensor(const lsc_gpt *m, lsc_gpt_tensor *t, int i, int l, const size_t *off)
{
    const lsc_gpt_config *c = &m->config;
    const lsc_arch *a = lsc_arch_of_(c);
    const lsc_param_spec *p = &a->params[i];
    lsc_arch_tensor_name_(a, i, l, t->name, sizeof t->name);
    t->kind = i;
    t->layer = p->per_layer ? l : -1;
    t->ndim = p->cols == LSC_DIM_NONE ? 1 : 2;
    t->shape[0] = (int)lsc_arch_dim_(c, p->rows);
    t->shape[1] = t->ndim == 2 ? (int)lsc_arch_dim_(c, p->cols) : 0;
    t->numel = lsc_arch_numel_(a, i, c);
    t->is_matrix = t->ndim == 2;
    t->decay = p->decay;
    t->nf4 = kind_in_nf4(a, i, m->quant_targets);
    t->offset = t->nf4 ? 0 : off[i] + (p->per_layer ? (size_t)l * t->numel : 0);
}

/* The tensor (file) order of arch.h: leading globals, layer by layer,
 * trailing globals; absent kinds have no entries. */
void lsc_gpt_fill_tensors_(lsc_gpt *m)
{
    const lsc_gpt_config *c = &m->config;
    const lsc_arch *a = lsc_arch_of_(c);
    size_t off[LSC_MAX_KINDS], o = 0;
    int first = a->n_params, n = 0;
    for (int i = 0; i < a->n_params; i++) {
        off[i] = o;
        o += m->param_sizes[i];
        if (a->params[i].per_layer && first == a->n_params)
            first = i;
    }
    for (int i = 0; i < first; i++)
        if (lsc_arch_present_(a, i, c))
            set_tensor(m, &m->tensors[n++], i, 0, off);
    for (int l = 0; l < c->n_layer; l++)
        for (int i = first; i < a->n_params; i++)
            if (a->params[i].per_layer && lsc_arch_present_(a, i, c))
                set_tensor(m, &m->tensors[n++], i, l, off);
    for (int i = first; i < a->n_params; i++)
        if (!a->params[i].per_layer && lsc_arch_present_(a, i, c))
            set_tensor(m, &m->tensors[n++], i, 0, off);
    LSC_ASSERT(n == m->n_tensors);
}

// ---- NF4 sizes ----

size_t lsc_gpt_tile_floats_(const lsc_gpt_config *c, int qmask)
{
    size_t best = 0;
    for (int t = 0; t < LSC_LORA_NTARGETS; t++)
        if ((qmask >> t) & 1) {
            size_t d, k;
            lsc_arch_target_shape_(lsc_arch_of_(c), c, t, &d, &k);
            size_t f = lsc_nf4_tile_floats(d, k);
            if (f > best)
                best = f;
        }
    return best;
}

size_t lsc_gpt_quantized_count_(const lsc_gpt_config *c, int qmask)
{
    size_t n = 0;
    for (int t = 0; t < LSC_LORA_NTARGETS; t++)
        if ((qmask >> t) & 1) {
            size_t d, k;
            lsc_arch_target_shape_(lsc_arch_of_(c), c, t, &d, &k);
            n += (size_t)c->n_layer * d * k;
        }
    return n;
}

static void free_nf4(lsc_gpt *m)
{
    if (m->nf4)
        for (size_t i = 0; i < (size_t)m->config.n_layer * LSC_LORA_NTARGETS; i++)
            lsc_nf4_free(&m->nf4[i]);
    LSC_FREE(m->nf4);
    LSC_FREE(m->nf4_tile);
    m->nf4 = NULL;
    m->nf4_tile = NULL;
    m->nf4_tile_floats = 0;
}

// ---- construction ----

int lsc_gpt_init_q_(lsc_gpt *m, const lsc_gpt_config *cfg, int qmask, lsc_error *err)
{
    memset(m, 0, sizeof *m);
    int rc = lsc_gpt_config_check(cfg, err);
    if (rc != LSC_OK)
        return rc;
    m->config = lsc_gpt_config_fill(cfg);
    cfg = &m->config;
    m->quant_targets = qmask;
    lsc_gpt_param_sizes_(m->param_sizes, cfg, qmask);
    for (int i = 0; i < LSC_MAX_KINDS; i++)
        m->num_parameters += m->param_sizes[i];
    m->params_memory = LSC_CALLOC(m->num_parameters, sizeof(float));
    m->n_tensors = tensor_count(cfg);
    m->tensors = LSC_CALLOC((size_t)m->n_tensors, sizeof *m->tensors);
    int oom = !m->params_memory || !m->tensors;
    if (qmask) {
        m->num_quantized = lsc_gpt_quantized_count_(cfg, qmask);
        m->nf4 = LSC_CALLOC((size_t)cfg->n_layer * LSC_LORA_NTARGETS, sizeof *m->nf4);
        m->nf4_tile_floats = lsc_gpt_tile_floats_(cfg, qmask);
        m->nf4_tile = LSC_MALLOC(m->nf4_tile_floats * sizeof(float));
        oom |= !m->nf4 || !m->nf4_tile;
    }
    if (oom) {
        size_t n = m->num_parameters;   /* lsc_gpt_free zeroes *m */
        lsc_gpt_free(m);
        LSC_FAIL(err, LSC_ENOMEM, "model: out of memory for %zu parameters", n);
    }
    lsc_gpt_point_params_(&m->params, &m->config, m->params_memory, m->param_sizes);
    lsc_gpt_fill_tensors_(m);
    m->mode = LSC_GPT_FROZEN;
    m->mean_loss = -1.0f;
    return LSC_OK;
}

int lsc_gpt_init(lsc_gpt *m, const lsc_gpt_config *cfg, lsc_error *err)
{
    return lsc_gpt_init_q_(m, cfg, 0, err);
}

static void free_acts(lsc_gpt *m)
{
    if (m->acts) {
        LSC_FREE(m->acts->memory);
        LSC_FREE(m->acts->inputs);
        LSC_FREE(m->acts->targets);
        LSC_FREE(m->acts->pos);
        LSC_FREE(m->acts);
    }
    m->acts = NULL;
}

void lsc_gpt_free(lsc_gpt *m)
{
    if (!m)
        return;
    LSC_FREE(m->params_memory);
    LSC_FREE(m->grads_memory);
    LSC_FREE(m->tensors);
    free_nf4(m);
    free_acts(m);
    memset(m, 0, sizeof *m);
}

void lsc_gpt_draw_tensor_(const lsc_gpt *m, const lsc_gpt_tensor *t, float *p, uint64_t *rng)
{
    double s = 0.02;
    float v = 0.0f;
    switch (lsc_arch_of_(&m->config)->params[t->kind].init) {
    case LSC_INIT_NORMAL_RES:
        s = 0.02 / sqrt(2.0 * m->config.n_layer);
        /* fall through */
    case LSC_INIT_NORMAL:
        for (size_t j = 0; j < t->numel; j++)
            p[j] = (float)(s * lsc_rng_normal(rng));
        return;
    case LSC_INIT_ONES:
        v = 1.0f;
        break;
    case LSC_INIT_ZEROS:
        break;
    }
    for (size_t j = 0; j < t->numel; j++)
        p[j] = v;
}

void lsc_gpt_init_weights(lsc_gpt *m, uint64_t *rng)
{
    LSC_ASSERT(!m->quant_targets);   /* NF4 models: lsc_gpt_init_nf4 */
    for (int i = 0; i < m->n_tensors; i++)
        lsc_gpt_draw_tensor_(m, &m->tensors[i], m->params_memory + m->tensors[i].offset, rng);
}

int lsc_gpt_set_trainable(lsc_gpt *m, int mode, lsc_error *err)
{
    if (mode == LSC_GPT_FROZEN) {
        LSC_FREE(m->grads_memory);
        m->grads_memory = NULL;
        memset(&m->grads, 0, sizeof m->grads);
    } else if (mode == LSC_GPT_FULL) {
        if (m->quant_targets)
            LSC_FAIL(err, LSC_EARG,
                     "model: full fine-tuning needs fp32 weights, but %zu weights are held in NF4 "
                     "(QLoRA trains adapters only; lsc_gpt_dequantize first)", m->num_quantized);
        if (!m->grads_memory) {
            m->grads_memory = LSC_CALLOC(m->num_parameters, sizeof(float));
            if (!m->grads_memory)
                LSC_FAIL(err, LSC_ENOMEM, "model: out of memory for %zu gradients", m->num_parameters);
            lsc_gpt_point_params_(&m->grads, &m->config, m->grads_memory, m->param_sizes);
        }
    } else {
        LSC_FAIL(err, LSC_EARG, "model: unknown trainable mode %d", mode);
    }
    m->mode = mode;
    return LSC_OK;
}

const lsc_gpt_tensor *lsc_gpt_find_tensor(const lsc_gpt *m, const char *name)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0)
            return &m->tensors[i];
    return NULL;
}


void lsc_gpt_linear(const lsc_gpt *m, int layer, int target, float **w, float **b,
                    int *out, int *in)
{
    const lsc_arch *a = lsc_arch_of_(&m->config);
    LSC_ASSERT(layer >= 0 && layer < m->config.n_layer);
    if (!lsc_arch_has_target_(a, target))
        LSC_ABORT("lsc_gpt_linear: bad target %d", target);
    int wi = lsc_arch_linear_kind_(a, target, 0), bi = lsc_arch_linear_kind_(a, target, 1);
    size_t d, k, l = (size_t)layer;
    lsc_arch_target_shape_(a, &m->config, target, &d, &k);
    float *wv = lsc_arch_view_get_(a, wi, &m->params);
    float *bv = bi >= 0 ? lsc_arch_view_get_(a, bi, &m->params) : NULL;
    *w = wv ? wv + l * d * k : NULL;   /* NULL: held in NF4 (lsc_gpt_nf4) */
    *b = bv ? bv + l * d : NULL;
    *out = (int)d;
    *in = (int)k;
}

// ---- activations ----

int lsc_gpt_alloc_acts(lsc_gpt *m, int B, int T, lsc_error *err)
{
    const lsc_gpt_config *c = &m->config;
    if (B < 1 || T < 1)
        LSC_FAIL(err, LSC_EARG, "model: batch shape (%d, %d) must be positive", B, T);
    if (T > c->n_ctx)
        LSC_FAIL(err, LSC_EARG, "model: context length %d exceeds the model's n_ctx = %d", T, c->n_ctx);
    free_acts(m);
    m->B_alloc = m->T_alloc = 0;
    size_t Bs = (size_t)B, Ts = (size_t)T, C = (size_t)c->n_embd, L = (size_t)c->n_layer;
    size_t NH = (size_t)c->n_head, V = (size_t)c->vocab, N = Bs * Ts;
    /* widths: query/attention output Q, key/value KV, MLP hidden F (GPT: C, C, 4C);
     * the Llama's SwiGLU keeps gate (fch), up and silu(gate)·up (fch_gelu) */
    size_t Q = lsc_arch_dim_(c, LSC_DIM_QD), KV = lsc_arch_dim_(c, LSC_DIM_KVD);
    size_t F = (size_t)lsc_gpt_ff_dim(c), llama = c->arch == LSC_ARCH_LLAMA;
    lsc_gpt_acts *a = LSC_CALLOC(1, sizeof *a);
    if (!a)
        LSC_FAIL(err, LSC_ENOMEM, "model: out of memory for activations");
    struct { float **p; size_t n; } tab[] = {
        {&a->encoded, N * C},       {&a->ln1, L * N * C},        {&a->ln1_mean, L * N},
        {&a->ln1_rstd, L * N},      {&a->q, L * N * Q},          {&a->k, L * N * KV},
        {&a->v, L * N * KV},        {&a->att, L * Bs * NH * Ts * Ts}, {&a->atty, L * N * Q},
        {&a->attproj, L * N * C},   {&a->residual2, L * N * C},  {&a->ln2, L * N * C},
        {&a->ln2_mean, L * N},      {&a->ln2_rstd, L * N},       {&a->fch, L * N * F},
        {&a->fch_gelu, L * N * F},  {&a->up, llama * L * N * F}, {&a->fcproj, L * N * C},
        {&a->residual3, L * N * C}, {&a->lnf, N * C},            {&a->lnf_mean, N},
        {&a->lnf_rstd, N},          {&a->logits, N * V},         {&a->probs, N * V},
        {&a->losses, N},            {&a->dloss, N},              {&a->dres, N * C},
        {&a->dln, N * C},           {&a->dq, N * Q},             {&a->dk, N * KV},
        {&a->dv, N * KV},           {&a->datty, N * Q},          {&a->datt, Bs * NH * Ts * Ts},
        {&a->dfch, N * F},          {&a->dfch_gelu, N * F},      {&a->dup, llama * N * F},
        {&a->dlogits, N * V},
    };
    size_t ntab = sizeof tab / sizeof tab[0], total = 0;
    for (size_t i = 0; i < ntab; i++)
        total += tab[i].n;
    a->memory = LSC_CALLOC(total, sizeof(float));
    a->inputs = LSC_CALLOC(N, sizeof(int));
    a->targets = LSC_CALLOC(N, sizeof(int));
    a->pos = LSC_CALLOC(N, sizeof(int));
    if (!a->memory || !a->inputs || !a->targets || !a->pos) {
        LSC_FREE(a->memory);
        LSC_FREE(a->inputs);
        LSC_FREE(a->targets);
        LSC_FREE(a->pos);
        LSC_FREE(a);
        LSC_FAIL(err, LSC_ENOMEM, "model: out of memory for activations (%zu floats)", total);
    }
    a->num = total;
    float *p = a->memory;
    for (size_t i = 0; i < ntab; i++) {
        *tab[i].p = p;
        if (!tab[i].n)
            *tab[i].p = NULL;
        p += tab[i].n;
    }
    m->acts = a;
    m->B_alloc = B;
    m->T_alloc = T;
    m->B = m->T = 0;
    if (m->lora)
        return lsc_lora_alloc_acts_(m->lora, B, T, err);
    return LSC_OK;
}

const float *lsc_gpt_logits(const lsc_gpt *m) { return m->acts ? m->acts->logits : NULL; }
const float *lsc_gpt_probs(const lsc_gpt *m) { return m->acts ? m->acts->probs : NULL; }
const float *lsc_gpt_losses(const lsc_gpt *m) { return m->acts ? m->acts->losses : NULL; }

int lsc_gpt_set_lora(lsc_gpt *m, lsc_lora *lo, lsc_error *err)
{
    if (lo) {
        const lsc_gpt_config *mc = &m->config, *lc = &lo->model;
        if (mc->n_layer != lc->n_layer || mc->n_embd != lc->n_embd || mc->n_head != lc->n_head)
            LSC_FAIL(err, LSC_ESHAPE,
                     "LoRA: adapter made for L=%d C=%d does not fit the model (L=%d C=%d)",
                     lc->n_layer, lc->n_embd, mc->n_layer, mc->n_embd);
        if (m->acts) {
            int rc = lsc_lora_alloc_acts_(lo, m->B_alloc, m->T_alloc, err);
            if (rc != LSC_OK)
                return rc;
        }
    }
    m->lora = lo;
    m->B = m->T = 0;   /* a backward must follow a forward with this adapter */
    return LSC_OK;
}

