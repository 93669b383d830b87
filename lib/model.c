/*
 * model.c — the GPT: configuration, one contiguous parameter buffer with
 * named views built from a size table (llm.c's malloc_and_point), the
 * safetensors file, activations for (B, T), and forward/backward as a call
 * list of layers.c kernels (backward is forward's list in reverse).
 *
 * What it is not: no optimiser (adamw.c), no training loop (train.c), no
 * LoRA arithmetic (lora.c; the model only calls its hooks after each
 * adaptable linear layer).
 *
 * Shapes: B batch, T time, C = n_embd, V vocab, L layers, NH heads,
 * N = B*T rows. Linear weights are (out, in).
 *
 * Frozen mode (LSC_GPT_FROZEN) allocates no base gradients; backward then
 * passes NULL for every weight gradient, so the kernels compute only input
 * gradients, and it stops below the lowest layer that holds an adapter.
 *
 * NF4 mode (QLoRA, issue 6): the linear weights of the quantised targets
 * live as lsc_nf4 (nf4.c) in m->nf4[(l, t)] and the size table gives their
 * kinds 0 floats, so params_memory never holds them; linear_forward and
 * linear_backward call lsc_nf4_matmul_forward / _backward_input, which
 * dequantise a tile of rows at a time into m->nf4_tile. Such a model is
 * always frozen (no weight gradients exist for 4-bit weights).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lsc_internal.h"

// ---- configuration and the parameter size table ----

int lsc_gpt_config_check(const lsc_gpt_config *cfg, lsc_error *err)
{
    if (cfg->n_layer < 1 || cfg->n_layer > 64)
        LSC_FAIL(err, LSC_EARG, "model config: n_layer = %d, must be in [1, 64]", cfg->n_layer);
    if (cfg->n_embd < 1 || cfg->n_embd > 65536)
        LSC_FAIL(err, LSC_EARG, "model config: n_embd = %d, must be in [1, 65536]", cfg->n_embd);
    if (cfg->n_head < 1 || cfg->n_embd % cfg->n_head != 0)
        LSC_FAIL(err, LSC_EARG, "model config: n_head = %d must be >= 1 and divide n_embd = %d",
                 cfg->n_head, cfg->n_embd);
    if (cfg->n_ctx < 1 || cfg->n_ctx > 65536)
        LSC_FAIL(err, LSC_EARG, "model config: n_ctx = %d, must be in [1, 65536]", cfg->n_ctx);
    if (cfg->vocab < 1 || cfg->vocab > (1 << 24))
        LSC_FAIL(err, LSC_EARG, "model config: vocab = %d, must be in [1, 2^24]", cfg->vocab);
    return LSC_OK;
}

/* View index (kind) of each LoRA target's weight, and the reverse. */
static const int target_kind[LSC_LORA_NTARGETS] = {4, 6, 8, 10, 14, 16};

static int kind_target(int kind)
{
    for (int t = 0; t < LSC_LORA_NTARGETS; t++)
        if (target_kind[t] == kind)
            return t;
    return -1;
}

/* The size table, in the order of the fields of lsc_gpt_params; the kinds
 * of the targets in qmask (NF4) get 0 floats. */
static void fill_param_sizes(size_t *sz, const lsc_gpt_config *cfg, int qmask)
{
    size_t V = (size_t)cfg->vocab, C = (size_t)cfg->n_embd, L = (size_t)cfg->n_layer;
    size_t T = (size_t)cfg->n_ctx;
    size_t i = 0;
    sz[i++] = V * C;         // wte
    sz[i++] = T * C;         // wpe
    sz[i++] = L * C;         // ln1w
    sz[i++] = L * C;         // ln1b
    sz[i++] = L * C * C;     // qw
    sz[i++] = L * C;         // qb
    sz[i++] = L * C * C;     // kw
    sz[i++] = L * C;         // kb
    sz[i++] = L * C * C;     // vw
    sz[i++] = L * C;         // vb
    sz[i++] = L * C * C;     // ow
    sz[i++] = L * C;         // ob
    sz[i++] = L * C;         // ln2w
    sz[i++] = L * C;         // ln2b
    sz[i++] = L * 4 * C * C; // fcw
    sz[i++] = L * 4 * C;     // fcb
    sz[i++] = L * C * 4 * C; // fcprojw
    sz[i++] = L * C;         // fcprojb
    sz[i++] = C;             // lnfw
    sz[i++] = C;             // lnfb
    LSC_ASSERT(i == LSC_GPT_NKINDS);
    for (int t = 0; t < LSC_LORA_NTARGETS; t++)
        if ((qmask >> t) & 1)
            sz[target_kind[t]] = 0;
}

/* Points the views at consecutive slices of mem (NULL for empty kinds). */
static void point_params(lsc_gpt_params *p, float *mem, const size_t *sz)
{
    float **ptrs[LSC_GPT_NKINDS] = {
        &p->wte, &p->wpe, &p->ln1w, &p->ln1b, &p->qw, &p->qb, &p->kw, &p->kb,
        &p->vw, &p->vb, &p->ow, &p->ob, &p->ln2w, &p->ln2b, &p->fcw, &p->fcb,
        &p->fcprojw, &p->fcprojb, &p->lnfw, &p->lnfb,
    };
    for (int i = 0; i < LSC_GPT_NKINDS; i++) {
        *ptrs[i] = sz[i] ? mem : NULL;
        mem += sz[i];
    }
}

/* Per-layer tensors: name suffix, view index, rows, cols (cols 0 = 1-D),
 * in units of C (rows4/cols4 multiply by 4). */
static const struct {
    const char *suffix;
    int kind;
    int rows4, cols;   /* rows = C or 4C; cols: 0 (1-D), 1 (C), 4 (4C) */
} layer_tensors[16] = {
    {"ln_1.weight", 2, 0, 0},         {"ln_1.bias", 3, 0, 0},
    {"attn.q_proj.weight", 4, 0, 1},  {"attn.q_proj.bias", 5, 0, 0},
    {"attn.k_proj.weight", 6, 0, 1},  {"attn.k_proj.bias", 7, 0, 0},
    {"attn.v_proj.weight", 8, 0, 1},  {"attn.v_proj.bias", 9, 0, 0},
    {"attn.o_proj.weight", 10, 0, 1}, {"attn.o_proj.bias", 11, 0, 0},
    {"ln_2.weight", 12, 0, 0},        {"ln_2.bias", 13, 0, 0},
    {"mlp.fc_in.weight", 14, 1, 1},   {"mlp.fc_in.bias", 15, 1, 0},
    {"mlp.fc_out.weight", 16, 0, 4},  {"mlp.fc_out.bias", 17, 0, 0},
};

static void fill_tensors(lsc_gpt *m)
{
    const lsc_gpt_config *c = &m->config;
    size_t off[LSC_GPT_NKINDS], o = 0;
    for (int i = 0; i < LSC_GPT_NKINDS; i++) {
        off[i] = o;
        o += m->param_sizes[i];
    }
    int n = 0;
    lsc_gpt_tensor *t;
    t = &m->tensors[n++];
    snprintf(t->name, sizeof t->name, "wte.weight");
    t->offset = off[0], t->ndim = 2, t->shape[0] = c->vocab, t->shape[1] = c->n_embd, t->is_matrix = 1;
    t = &m->tensors[n++];
    snprintf(t->name, sizeof t->name, "wpe.weight");
    t->offset = off[1], t->ndim = 2, t->shape[0] = c->n_ctx, t->shape[1] = c->n_embd, t->is_matrix = 1;
    for (int l = 0; l < c->n_layer; l++)
        for (int j = 0; j < 16; j++) {
            t = &m->tensors[n++];
            int rows = layer_tensors[j].rows4 ? 4 * c->n_embd : c->n_embd;
            int cols = layer_tensors[j].cols * c->n_embd;
            snprintf(t->name, sizeof t->name, "h.%d.%s", l, layer_tensors[j].suffix);
            size_t per = (size_t)rows * (size_t)(cols ? cols : 1);
            int tg = kind_target(layer_tensors[j].kind);
            t->nf4 = tg >= 0 && ((m->quant_targets >> tg) & 1);
            t->offset = t->nf4 ? 0 : off[layer_tensors[j].kind] + (size_t)l * per;
            t->ndim = cols ? 2 : 1;
            t->shape[0] = rows;
            t->shape[1] = cols ? cols : 0;
            t->is_matrix = cols ? 1 : 0;
        }
    t = &m->tensors[n++];
    snprintf(t->name, sizeof t->name, "ln_f.weight");
    t->offset = off[18], t->ndim = 1, t->shape[0] = c->n_embd, t->is_matrix = 0;
    t = &m->tensors[n++];
    snprintf(t->name, sizeof t->name, "ln_f.bias");
    t->offset = off[19], t->ndim = 1, t->shape[0] = c->n_embd, t->is_matrix = 0;
    LSC_ASSERT(n == m->n_tensors);
    for (int i = 0; i < n; i++)
        m->tensors[i].numel = (size_t)m->tensors[i].shape[0] *
                              (size_t)(m->tensors[i].ndim == 2 ? m->tensors[i].shape[1] : 1);
}

// ---- construction ----

/* Shape (out, in) of target t's weight. */
static void target_dims(const lsc_gpt_config *c, int t, size_t *out, size_t *in)
{
    size_t C = (size_t)c->n_embd;
    *out = t == LSC_LORA_FC_IN ? 4 * C : C;
    *in = t == LSC_LORA_FC_OUT ? 4 * C : C;
}

/* Dequantisation tile for the targets in qmask: the largest
 * lsc_nf4_tile_floats of their shapes (0 for none). */
static size_t tile_floats_for(const lsc_gpt_config *c, int qmask)
{
    size_t best = 0;
    for (int t = 0; t < LSC_LORA_NTARGETS; t++)
        if ((qmask >> t) & 1) {
            size_t d, k;
            target_dims(c, t, &d, &k);
            size_t f = lsc_nf4_tile_floats(d, k);
            if (f > best)
                best = f;
        }
    return best;
}

static size_t quantized_count(const lsc_gpt_config *c, int qmask)
{
    size_t n = 0;
    for (int t = 0; t < LSC_LORA_NTARGETS; t++)
        if ((qmask >> t) & 1) {
            size_t d, k;
            target_dims(c, t, &d, &k);
            n += (size_t)c->n_layer * d * k;
        }
    return n;
}

/* lsc_gpt_init with the targets of qmask held in NF4: the buffer leaves
 * them out and m->nf4 (zeroed slots) and the tile are allocated. */
static int gpt_init_(lsc_gpt *m, const lsc_gpt_config *cfg, int qmask, lsc_error *err)
{
    memset(m, 0, sizeof *m);
    int rc = lsc_gpt_config_check(cfg, err);
    if (rc != LSC_OK)
        return rc;
    m->config = *cfg;
    m->quant_targets = qmask;
    fill_param_sizes(m->param_sizes, cfg, qmask);
    for (int i = 0; i < LSC_GPT_NKINDS; i++)
        m->num_parameters += m->param_sizes[i];
    m->params_memory = LSC_CALLOC(m->num_parameters, sizeof(float));
    m->n_tensors = 4 + 16 * cfg->n_layer;
    m->tensors = LSC_CALLOC((size_t)m->n_tensors, sizeof *m->tensors);
    int oom = !m->params_memory || !m->tensors;
    if (qmask) {
        m->num_quantized = quantized_count(cfg, qmask);
        m->nf4 = LSC_CALLOC((size_t)cfg->n_layer * LSC_LORA_NTARGETS, sizeof *m->nf4);
        m->nf4_tile_floats = tile_floats_for(cfg, qmask);
        m->nf4_tile = LSC_MALLOC(m->nf4_tile_floats * sizeof(float));
        oom |= !m->nf4 || !m->nf4_tile;
    }
    if (oom) {
        size_t n = m->num_parameters;   /* lsc_gpt_free zeroes *m */
        lsc_gpt_free(m);
        LSC_FAIL(err, LSC_ENOMEM, "model: out of memory for %zu parameters", n);
    }
    point_params(&m->params, m->params_memory, m->param_sizes);
    fill_tensors(m);
    m->mode = LSC_GPT_FROZEN;
    m->mean_loss = -1.0f;
    return LSC_OK;
}

int lsc_gpt_init(lsc_gpt *m, const lsc_gpt_config *cfg, lsc_error *err)
{
    return gpt_init_(m, cfg, 0, err);
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

void lsc_gpt_free(lsc_gpt *m)
{
    if (!m)
        return;
    LSC_FREE(m->params_memory);
    LSC_FREE(m->grads_memory);
    LSC_FREE(m->tensors);
    free_nf4(m);
    if (m->acts) {
        LSC_FREE(m->acts->memory);
        LSC_FREE(m->acts->inputs);
        LSC_FREE(m->acts->targets);
        LSC_FREE(m->acts);
    }
    memset(m, 0, sizeof *m);
}

/* The GPT-2 init of one tensor into p (numel floats). */
static void draw_tensor(const lsc_gpt *m, const lsc_gpt_tensor *t, float *p, uint64_t *rng)
{
    double std = 0.02, std_res = 0.02 / sqrt(2.0 * m->config.n_layer);
    const char *nm = t->name;
    size_t len = strlen(nm);
    if (t->is_matrix) {
        int res = strstr(nm, "o_proj.weight") != NULL || strstr(nm, "fc_out.weight") != NULL;
        double s = res ? std_res : std;
        for (size_t j = 0; j < t->numel; j++)
            p[j] = (float)(s * lsc_rng_normal(rng));
    } else {
        float v = (len > 7 && strcmp(nm + len - 7, ".weight") == 0) ? 1.0f : 0.0f;
        for (size_t j = 0; j < t->numel; j++)
            p[j] = v;
    }
}

void lsc_gpt_init_weights(lsc_gpt *m, uint64_t *rng)
{
    LSC_ASSERT(!m->quant_targets);   /* NF4 models: lsc_gpt_init_nf4 */
    for (int i = 0; i < m->n_tensors; i++)
        draw_tensor(m, &m->tensors[i], m->params_memory + m->tensors[i].offset, rng);
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
            point_params(&m->grads, m->grads_memory, m->param_sizes);
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
    const lsc_gpt_params *p = &m->params;
    size_t C = (size_t)m->config.n_embd, l = (size_t)layer;
    LSC_ASSERT(layer >= 0 && layer < m->config.n_layer);
    if (target >= 0 && target < LSC_LORA_NTARGETS && ((m->quant_targets >> target) & 1)) {
        /* held in NF4: only the bias is a float view */
        size_t d, k;
        target_dims(&m->config, target, &d, &k);
        const float *bias = target == LSC_LORA_Q ? p->qb : target == LSC_LORA_K ? p->kb
                          : target == LSC_LORA_V ? p->vb : target == LSC_LORA_O ? p->ob
                          : target == LSC_LORA_FC_IN ? p->fcb : p->fcprojb;
        *w = NULL;
        *b = (float *)bias + l * d;
        *out = (int)d;
        *in = (int)k;
        return;
    }
    switch (target) {
    case LSC_LORA_Q: *w = p->qw + l * C * C, *b = p->qb + l * C, *out = (int)C, *in = (int)C; break;
    case LSC_LORA_K: *w = p->kw + l * C * C, *b = p->kb + l * C, *out = (int)C, *in = (int)C; break;
    case LSC_LORA_V: *w = p->vw + l * C * C, *b = p->vb + l * C, *out = (int)C, *in = (int)C; break;
    case LSC_LORA_O: *w = p->ow + l * C * C, *b = p->ob + l * C, *out = (int)C, *in = (int)C; break;
    case LSC_LORA_FC_IN:
        *w = p->fcw + l * 4 * C * C, *b = p->fcb + l * 4 * C, *out = (int)(4 * C), *in = (int)C;
        break;
    case LSC_LORA_FC_OUT:
        *w = p->fcprojw + l * 4 * C * C, *b = p->fcprojb + l * C, *out = (int)C, *in = (int)(4 * C);
        break;
    default: LSC_ABORT("lsc_gpt_linear: bad target %d", target);
    }
}

// ---- NF4 mode (QLoRA) ----

/* Slot of (layer, target) in m->nf4. */
static size_t nf4_slot(int layer, int target)
{
    return (size_t)layer * LSC_LORA_NTARGETS + (size_t)target;
}

/* Slot of table entry i, which must be a per-layer linear weight. */
static size_t tensor_slot(int i)
{
    int l = (i - 2) / 16, j = (i - 2) % 16;
    int t = kind_target(layer_tensors[j].kind);
    LSC_ASSERT(i >= 2 && t >= 0);
    return nf4_slot(l, t);
}

/* Target mask, blocksize and double-quant flag of opts (NULL: every linear
 * target, 64, double quant — QLoRA's setting). */
static int parse_nf4_opts(const lsc_nf4_opts *opts, int *mask, int *bs, int *dq, lsc_error *err)
{
    const char *s = opts && opts->targets ? opts->targets : LSC_NF4_DEFAULT_TARGETS;
    *bs = opts && opts->blocksize ? opts->blocksize : LSC_NF4_BLOCKSIZE_DEFAULT;
    *dq = opts ? (opts->double_quant != 0) : 1;
    *mask = 0;
    if (*bs < LSC_NF4_BLOCKSIZE_MIN || *bs > LSC_NF4_BLOCKSIZE_MAX || (*bs & (*bs - 1)) != 0)
        LSC_FAIL(err, LSC_EARG, "model: NF4 blocksize %d is not a power of two in %d..%d", *bs,
                 LSC_NF4_BLOCKSIZE_MIN, LSC_NF4_BLOCKSIZE_MAX);
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
        if (t < 0)
            LSC_FAIL(err, LSC_EARG, "model: NF4 target '%.*s' is not a linear layer of the model "
                     "(q, k, v, o, fc_in, fc_out)", (int)(n < 64 ? n : 64), s);
        *mask |= 1 << t;
        s += n;
    }
    if (!*mask)
        LSC_FAIL(err, LSC_EARG, "model: empty list of NF4 targets");
    return LSC_OK;
}

/* Reallocates params_memory for the NF4 targets qmask: the fp32 kinds that
 * stay are copied, new fp32 kinds are zero (the caller fills them), the
 * views, table, counts and tile follow. m->nf4 is not touched. On failure
 * the model is unchanged. */
static int rebuild_(lsc_gpt *m, int qmask, lsc_error *err)
{
    LSC_ASSERT(!m->grads_memory);
    size_t sz[LSC_GPT_NKINDS], n = 0;
    fill_param_sizes(sz, &m->config, qmask);
    for (int i = 0; i < LSC_GPT_NKINDS; i++)
        n += sz[i];
    size_t tf = tile_floats_for(&m->config, qmask);
    float *mem = LSC_CALLOC(n, sizeof(float));
    float *tile = tf ? LSC_MALLOC(tf * sizeof(float)) : NULL;
    if (!mem || (tf && !tile)) {
        LSC_FREE(mem);
        LSC_FREE(tile);
        LSC_FAIL(err, LSC_ENOMEM, "model: out of memory for %zu parameters", n);
    }
    size_t o_old = 0, o_new = 0;
    for (int i = 0; i < LSC_GPT_NKINDS; i++) {
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
    point_params(&m->params, mem, sz);
    m->quant_targets = qmask;
    m->num_quantized = quantized_count(&m->config, qmask);
    m->nf4_tile = tile;
    m->nf4_tile_floats = tf;
    fill_tensors(m);
    return LSC_OK;
}

int lsc_gpt_quantize(lsc_gpt *m, const lsc_nf4_opts *opts, lsc_error *err)
{
    int mask, bs, dq, rc;
    if ((rc = parse_nf4_opts(opts, &mask, &bs, &dq, err)) != LSC_OK)
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
            float *w, *b;
            int out, in;
            lsc_gpt_linear(m, l, t, &w, &b, &out, &in);
            lsc_error inner;
            rc = lsc_nf4_quantize(&m->nf4[nf4_slot(l, t)], w, (size_t)out, (size_t)in, bs, dq, &inner);
            if (rc != LSC_OK) {
                char name[64];
                lsc_lora_module_name(l, t, name, sizeof name);
                rc = lsc_error_set(err, rc, __FILE__, __LINE__, "model: %s.weight: %s", name, inner.msg);
                goto undo;
            }
        }
    if ((rc = rebuild_(m, m->quant_targets | add, err)) != LSC_OK)
        goto undo;
    return LSC_OK;
undo:
    for (int t = 0; t < LSC_LORA_NTARGETS; t++)
        for (int l = 0; (add >> t) & 1 && l < L; l++)
            lsc_nf4_free(&m->nf4[nf4_slot(l, t)]);
    if (own) {
        LSC_FREE(m->nf4);
        m->nf4 = NULL;
    }
    return rc;
}

/* Largest numel of the table's NF4 tensors (the scratch a loader needs). */
static size_t max_nf4_numel(const lsc_gpt *m)
{
    size_t mx = 0;
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].nf4 && m->tensors[i].numel > mx)
            mx = m->tensors[i].numel;
    return mx;
}

int lsc_gpt_init_nf4(lsc_gpt *m, const lsc_gpt_config *cfg, const lsc_nf4_opts *opts,
                     uint64_t *rng, lsc_error *err)
{
    int mask, bs, dq, rc;
    memset(m, 0, sizeof *m);
    if ((rc = parse_nf4_opts(opts, &mask, &bs, &dq, err)) != LSC_OK)
        return rc;
    if ((rc = gpt_init_(m, cfg, mask, err)) != LSC_OK)
        return rc;
    /* the table's order is lsc_gpt_init_weights' draw order */
    float *scratch = LSC_MALLOC(max_nf4_numel(m) * sizeof(float));
    if (!scratch) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "model: out of memory for a weight");
        goto fail;
    }
    for (int i = 0; i < m->n_tensors; i++) {
        const lsc_gpt_tensor *t = &m->tensors[i];
        if (!t->nf4) {
            draw_tensor(m, t, m->params_memory + t->offset, rng);
            continue;
        }
        draw_tensor(m, t, scratch, rng);
        lsc_error inner;
        rc = lsc_nf4_quantize(&m->nf4[tensor_slot(i)], scratch, (size_t)t->shape[0], (size_t)t->shape[1],
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
    if ((rc = rebuild_(m, 0, err)) != LSC_OK) {
        m->nf4 = q;
        return rc;
    }
    for (int t = 0; t < LSC_LORA_NTARGETS; t++)
        for (int l = 0; (old >> t) & 1 && l < m->config.n_layer; l++) {
            float *w, *b;
            int out, in;
            lsc_gpt_linear(m, l, t, &w, &b, &out, &in);
            lsc_nf4 *qq = &q[nf4_slot(l, t)];
            lsc_nf4_dequant_rows(qq, 0, qq->d, w);
        }
    for (size_t i = 0; i < (size_t)m->config.n_layer * LSC_LORA_NTARGETS; i++)
        lsc_nf4_free(&q[i]);
    LSC_FREE(q);
    return LSC_OK;
}

const lsc_nf4 *lsc_gpt_nf4(const lsc_gpt *m, int layer, int target)
{
    if (!m->quant_targets || target < 0 || target >= LSC_LORA_NTARGETS ||
        !((m->quant_targets >> target) & 1) || layer < 0 || layer >= m->config.n_layer)
        return NULL;
    return &m->nf4[nf4_slot(layer, target)];
}

size_t lsc_gpt_weight_bytes(const lsc_gpt *m, lsc_gpt_bytes *parts)
{
    lsc_gpt_bytes p = {m->num_parameters * sizeof(float), 0, m->nf4_tile_floats * sizeof(float)};
    for (int t = 0; t < LSC_LORA_NTARGETS; t++)
        for (int l = 0; (m->quant_targets >> t) & 1 && l < m->config.n_layer; l++) {
            const lsc_nf4 *q = &m->nf4[nf4_slot(l, t)];
            p.nf4 += (q->n + 1) / 2;
            p.nf4 += q->nested ? q->n_blocks + q->n_nested * sizeof(float) + sizeof(float)
                               : q->n_blocks * sizeof(float);
        }
    if (parts)
        *parts = p;
    return p.fp32 + p.nf4 + p.tile;
}

// ---- safetensors ----

int lsc_gpt_save(const lsc_gpt *m, const char *path, lsc_error *err)
{
    /* NF4 weights go out in bitsandbytes' layout (up to 6 tensors each) */
    int rc = LSC_OK;
    size_t n_nf4 = 0, nt = m->n_tensors > 0 ? (size_t)m->n_tensors : 0;
    for (size_t i = 0; i < nt; i++)
        n_nf4 += m->tensors[i].nf4 != 0;
    lsc_st_entry *e = LSC_CALLOC(nt + 6 * n_nf4, sizeof *e);
    lsc_nf4_st *sts = n_nf4 ? LSC_CALLOC(n_nf4, sizeof *sts) : NULL;
    if (!e || (n_nf4 && !sts)) {
        LSC_FREE(e);
        LSC_FREE(sts);
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", path);
    }
    int ne = 0, nq = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const lsc_gpt_tensor *t = &m->tensors[i];
        if (t->nf4) {
            lsc_nf4_st *st = &sts[nq++];
            if ((rc = lsc_nf4_st_entries(st, &m->nf4[tensor_slot(i)], t->name, err)) != LSC_OK)
                goto done;
            for (int j = 0; j < st->n; j++)
                e[ne++] = st->entries[j];
            continue;
        }
        e[ne].name = t->name;
        e[ne].dtype = LSC_DT_F32;
        e[ne].ndim = t->ndim;
        e[ne].shape[0] = t->shape[0];
        e[ne].shape[1] = t->shape[1];
        e[ne].data = m->params_memory + t->offset;
        ne++;
    }
    char v[5][16];
    snprintf(v[0], sizeof v[0], "%d", m->config.n_layer);
    snprintf(v[1], sizeof v[1], "%d", m->config.n_head);
    snprintf(v[2], sizeof v[2], "%d", m->config.n_embd);
    snprintf(v[3], sizeof v[3], "%d", m->config.n_ctx);
    snprintf(v[4], sizeof v[4], "%d", m->config.vocab);
    const char *keys[] = {"format", "lsc_format", "lsc_format_version", "n_layer", "n_head",
                          "n_embd", "n_ctx", "vocab_size"};
    const char *vals[] = {"pt", "lorascope-gpt", "1", v[0], v[1], v[2], v[3], v[4]};
    rc = lsc_st_write(path, e, ne, keys, vals, 8, err);
done:
    LSC_FREE(e);
    LSC_FREE(sts);
    return rc;
}

static int meta_int(const lsc_st_file *f, const char *key, int *out, lsc_error *err)
{
    const char *s = lsc_st_meta(f, key);
    if (!s)
        LSC_FAIL(err, LSC_EFORMAT, "%s: not a lorascope model: no '%s' in the safetensors metadata",
                 f->path, key);
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > (1L << 24))
        LSC_FAIL(err, LSC_EFORMAT, "%s: metadata %s = '%s' is not a positive integer", f->path, key, s);
    *out = (int)v;
    return LSC_OK;
}

/* Gives the pages of a read-only mapping back to the kernel (they are
 * re-read from the file if touched again), so a loader that quantises
 * tensor by tensor does not end up with the whole fp32 file resident. */
static void drop_pages(const void *p, size_t n)
{
    long ps = sysconf(_SC_PAGESIZE);
    if (ps <= 0 || n == 0)
        return;
    uintptr_t a = (uintptr_t)p, b = a + n, pg = (uintptr_t)ps;
    a = (a + pg - 1) / pg * pg;   /* whole pages inside the range only */
    b = b / pg * pg;
    if (b > a)
        (void)madvise((void *)a, b - a, MADV_DONTNEED);
}

/* lsc_gpt_load (opts NULL) and lsc_gpt_load_nf4. */
static int gpt_load_(lsc_gpt *m, const char *path, const lsc_nf4_opts *opts, lsc_error *err)
{
    lsc_st_file f;
    lsc_gpt_config cfg;
    float *scratch = NULL;
    int rc, mask = 0, bs = 0, dq = 0;
    memset(m, 0, sizeof *m);
    if (opts && (rc = parse_nf4_opts(opts, &mask, &bs, &dq, err)) != LSC_OK)
        return rc;
    if ((rc = lsc_st_open(&f, path, err)) != LSC_OK)
        return rc;
    const char *ver = lsc_st_meta(&f, "lsc_format_version");
    if (ver && strcmp(ver, "1") != 0) {
        rc = lsc_error_set(err, LSC_EVERSION, __FILE__, __LINE__,
                           "%s: model format version '%s' is not supported (expected 1)", path, ver);
        goto fail;
    }
    if ((rc = meta_int(&f, "n_layer", &cfg.n_layer, err)) != LSC_OK ||
        (rc = meta_int(&f, "n_head", &cfg.n_head, err)) != LSC_OK ||
        (rc = meta_int(&f, "n_embd", &cfg.n_embd, err)) != LSC_OK ||
        (rc = meta_int(&f, "n_ctx", &cfg.n_ctx, err)) != LSC_OK ||
        (rc = meta_int(&f, "vocab_size", &cfg.vocab, err)) != LSC_OK)
        goto fail;
    if ((rc = lsc_gpt_config_check(&cfg, err)) != LSC_OK) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "bad config");
        rc = lsc_error_set(err, rc, __FILE__, __LINE__, "%s: %s", path, msg);
        goto fail;
    }
    /* a target stays NF4 when the file holds it 4-bit in every layer (or
     * opts ask for it); NF4 weights of other tensors are dequantised */
    for (int t = 0; t < LSC_LORA_NTARGETS; t++) {
        int all = 1;
        for (int l = 0; l < cfg.n_layer && all; l++) {
            char name[64];
            lsc_lora_module_name(l, t, name, sizeof name);
            strcat(name, ".weight");
            all = lsc_nf4_st_role(&f, name) == LSC_NF4_ROLE_WEIGHT;
        }
        mask |= all << t;
    }
    if ((rc = gpt_init_(m, &cfg, mask, err)) != LSC_OK)
        goto fail;
    if (mask && !(scratch = LSC_MALLOC(max_nf4_numel(m) * sizeof(float)))) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", path);
        goto fail;
    }
    for (int i = 0; i < m->n_tensors; i++) {
        const lsc_gpt_tensor *t = &m->tensors[i];
        const lsc_st_tensor *st = lsc_st_find(&f, t->name);
        if (!st) {
            rc = lsc_error_set(err, LSC_ENOTFOUND, __FILE__, __LINE__,
                               "%s: tensor '%s' is missing", path, t->name);
            goto fail;
        }
        if (lsc_nf4_st_role(&f, t->name) == LSC_NF4_ROLE_WEIGHT) {
            lsc_nf4 q;
            if ((rc = lsc_nf4_st_load(&q, &f, t->name, err)) != LSC_OK)
                goto fail;
            if (t->ndim != 2 || q.d != (size_t)t->shape[0] || q.k != (size_t)t->shape[1]) {
                rc = lsc_error_set(err, LSC_ESHAPE, __FILE__, __LINE__,
                                   "%s: NF4 tensor '%s' has shape (%zu, %zu), the config in the metadata "
                                   "needs (%d, %d)", path, t->name, q.d, q.k, t->shape[0],
                                   t->ndim == 2 ? t->shape[1] : 1);
                lsc_nf4_free(&q);
                goto fail;
            }
            if (t->nf4) {
                m->nf4[tensor_slot(i)] = q;   /* ownership moves */
            } else {
                lsc_nf4_dequant_range(&q, 0, q.n, m->params_memory + t->offset);
                lsc_nf4_free(&q);
            }
        } else {
            int ok = st->ndim == t->ndim && st->shape[0] == t->shape[0] &&
                     (t->ndim == 1 || st->shape[1] == t->shape[1]);
            if (!ok) {
                rc = lsc_error_set(err, LSC_ESHAPE, __FILE__, __LINE__,
                                   "%s: tensor '%s' has the wrong shape for the config in its metadata",
                                   path, t->name);
                goto fail;
            }
            float *dst = t->nf4 ? scratch : m->params_memory + t->offset;
            if ((rc = lsc_st_read_f32(&f, st, dst, err)) != LSC_OK)
                goto fail;
            if (t->nf4) {
                lsc_error inner;
                rc = lsc_nf4_quantize(&m->nf4[tensor_slot(i)], scratch, (size_t)t->shape[0],
                                      (size_t)t->shape[1], bs, dq, &inner);
                if (rc != LSC_OK) {
                    rc = lsc_error_set(err, rc, __FILE__, __LINE__, "%s: tensor '%s': %s", path, t->name,
                                       inner.msg);
                    goto fail;
                }
            }
        }
        if (m->quant_targets)
            drop_pages(lsc_st_bytes(&f, st), st->end - st->begin);
    }
    for (size_t j = 0; j < m->num_parameters; j++)
        if (!isfinite(m->params_memory[j])) {
            rc = lsc_error_set(err, LSC_ENAN, __FILE__, __LINE__,
                               "%s: the model holds NaN or Inf weights", path);
            goto fail;
        }
    LSC_FREE(scratch);
    lsc_st_close(&f);
    return LSC_OK;
fail:
    LSC_FREE(scratch);
    lsc_st_close(&f);
    lsc_gpt_free(m);
    return rc;
}

int lsc_gpt_load(lsc_gpt *m, const char *path, lsc_error *err)
{
    return gpt_load_(m, path, NULL, err);
}

int lsc_gpt_load_nf4(lsc_gpt *m, const char *path, const lsc_nf4_opts *opts, lsc_error *err)
{
    lsc_nf4_opts def = {0, 1, NULL};
    return gpt_load_(m, path, opts ? opts : &def, err);
}

// ---- activations ----

int lsc_gpt_alloc_acts(lsc_gpt *m, int B, int T, lsc_error *err)
{
    const lsc_gpt_config *c = &m->config;
    if (B < 1 || T < 1)
        LSC_FAIL(err, LSC_EARG, "model: batch shape (%d, %d) must be positive", B, T);
    if (T > c->n_ctx)
        LSC_FAIL(err, LSC_EARG, "model: context length %d exceeds the model's n_ctx = %d", T, c->n_ctx);
    if (m->acts) {
        LSC_FREE(m->acts->memory);
        LSC_FREE(m->acts->inputs);
        LSC_FREE(m->acts->targets);
        LSC_FREE(m->acts);
        m->acts = NULL;
        m->B_alloc = m->T_alloc = 0;
    }
    size_t Bs = (size_t)B, Ts = (size_t)T, C = (size_t)c->n_embd, L = (size_t)c->n_layer;
    size_t NH = (size_t)c->n_head, V = (size_t)c->vocab, N = Bs * Ts;
    lsc_gpt_acts *a = LSC_CALLOC(1, sizeof *a);
    if (!a)
        LSC_FAIL(err, LSC_ENOMEM, "model: out of memory for activations");
    struct { float **p; size_t n; } tab[] = {
        {&a->encoded, N * C},       {&a->ln1, L * N * C},        {&a->ln1_mean, L * N},
        {&a->ln1_rstd, L * N},      {&a->q, L * N * C},          {&a->k, L * N * C},
        {&a->v, L * N * C},         {&a->att, L * Bs * NH * Ts * Ts}, {&a->atty, L * N * C},
        {&a->attproj, L * N * C},   {&a->residual2, L * N * C},  {&a->ln2, L * N * C},
        {&a->ln2_mean, L * N},      {&a->ln2_rstd, L * N},       {&a->fch, L * N * 4 * C},
        {&a->fch_gelu, L * N * 4 * C}, {&a->fcproj, L * N * C},  {&a->residual3, L * N * C},
        {&a->lnf, N * C},           {&a->lnf_mean, N},           {&a->lnf_rstd, N},
        {&a->logits, N * V},        {&a->probs, N * V},          {&a->losses, N},
        {&a->dloss, N},             {&a->dres, N * C},           {&a->dln, N * C},
        {&a->dq, N * C},            {&a->dk, N * C},             {&a->dv, N * C},
        {&a->datty, N * C},         {&a->datt, Bs * NH * Ts * Ts}, {&a->dfch, N * 4 * C},
        {&a->dfch_gelu, N * 4 * C}, {&a->dlogits, N * V},
    };
    size_t ntab = sizeof tab / sizeof tab[0], total = 0;
    for (size_t i = 0; i < ntab; i++)
        total += tab[i].n;
    a->memory = LSC_CALLOC(total, sizeof(float));
    a->inputs = LSC_CALLOC(N, sizeof(int));
    a->targets = LSC_CALLOC(N, sizeof(int));
    if (!a->memory || !a->inputs || !a->targets) {
        LSC_FREE(a->memory);
        LSC_FREE(a->inputs);
        LSC_FREE(a->targets);
        LSC_FREE(a);
        LSC_FAIL(err, LSC_ENOMEM, "model: out of memory for activations (%zu floats)", total);
    }
    a->num = total;
    float *p = a->memory;
    for (size_t i = 0; i < ntab; i++) {
        *tab[i].p = p;
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
        const lsc_gpt_config *a = &m->config, *b = &lo->model;
        if (a->n_layer != b->n_layer || a->n_embd != b->n_embd || a->n_head != b->n_head)
            LSC_FAIL(err, LSC_ESHAPE,
                     "LoRA: adapter made for L=%d C=%d does not fit the model (L=%d C=%d)",
                     b->n_layer, b->n_embd, a->n_layer, a->n_embd);
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

// ---- forward ----

/* The active adapter's module for (l, t) if it is applied unmerged, else -1. */
static int lora_module(const lsc_gpt *m, int l, int t)
{
    const lsc_lora *lo = m->lora;
    if (!lo || lo->merged)
        return -1;
    return lo->module_of[l * LSC_LORA_NTARGETS + t];
}

/* A linear layer plus its adapter, if any. */
static void linear_forward(lsc_gpt *m, int l, int target, float *out, const float *inp,
                           int N, uint64_t *rng)
{
    float *w, *b;
    int OC, IC;
    lsc_gpt_linear(m, l, target, &w, &b, &OC, &IC);
    const lsc_nf4 *q = lsc_gpt_nf4(m, l, target);
    if (q)   /* QLoRA: deq(W) a tile of rows at a time, never the whole matrix */
        lsc_nf4_matmul_forward(out, inp, q, b, m->nf4_tile, m->nf4_tile_floats, (size_t)N);
    else
        lsc_matmul_forward_(out, inp, w, b, N, IC, OC);
    int mi = lora_module(m, l, target);
    if (mi >= 0)
        lsc_lora_module_forward_(m->lora, mi, out, inp, N, rng);
}

int lsc_gpt_forward(lsc_gpt *m, const int *inputs, const int *targets, const float *mask,
                    int B, int T, uint64_t *rng, lsc_error *err)
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
    int L = c->n_layer, C = c->n_embd, NH = c->n_head, V = c->vocab, N = B * T;
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
    a->has_targets = targets != NULL;
    if (targets)
        memcpy(a->targets, targets, (size_t)N * sizeof(int));
    if (m->lora)
        m->lora->dropout_on = rng != NULL && m->lora->config.dropout > 0.0;

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
        linear_forward(m, l, LSC_LORA_Q, q, ln1, N, rng);
        linear_forward(m, l, LSC_LORA_K, k, ln1, N, rng);
        linear_forward(m, l, LSC_LORA_V, v, ln1, N, rng);
        lsc_attention_forward_(atty, att, q, k, v, B, T, C, NH);
        linear_forward(m, l, LSC_LORA_O, attproj, atty, N, rng);
        lsc_residual_forward_(res2, res, attproj, NC);
        lsc_layernorm_forward_(ln2, a->ln2_mean + ls * N, a->ln2_rstd + ls * N, res2,
                               p->ln2w + ls * Cs, p->ln2b + ls * Cs, N, C);
        linear_forward(m, l, LSC_LORA_FC_IN, fch, ln2, N, rng);
        lsc_gelu_forward_(fchg, fch, 4 * NC);
        linear_forward(m, l, LSC_LORA_FC_OUT, fcproj, fchg, N, rng);
        lsc_residual_forward_(res3, res2, fcproj, NC);
    }
    lsc_layernorm_forward_(a->lnf, a->lnf_mean, a->lnf_rstd, a->residual3 + (size_t)(L - 1) * NC,
                           p->lnfw, p->lnfb, N, C);
    lsc_matmul_forward_(a->logits, a->lnf, p->wte, NULL, N, C, V);   // tied LM head
    lsc_softmax_forward_(a->probs, a->logits, N, V);

    m->mean_loss = -1.0f;
    m->mask_sum = 0.0f;
    if (targets) {
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
    return LSC_OK;
}

// ---- incremental forward with a key/value cache (decoding) ----

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
    size_t n = (size_t)c->n_layer * (size_t)rows * (size_t)T * (size_t)c->n_embd;
    kv->k = LSC_MALLOC(n * sizeof(float));
    kv->v = LSC_MALLOC(n * sizeof(float));
    if (!kv->k || !kv->v) {
        lsc_kv_cache_free(kv);
        LSC_FAIL(err, LSC_ENOMEM, "kv cache: out of memory (%zu floats)", 2 * n);
    }
    kv->rows = rows;
    kv->T = T;
    kv->n_layer = c->n_layer;
    kv->C = c->n_embd;
    return LSC_OK;
}

/* Causal attention of one new position per row against the cached keys and
 * values 0..pos of its cache row, head by head (T is small: plain loops). */
static void attention_step(float *out, const float *q, const float *kc, const float *vc,
                           const int *slot, const int *pos, int n, int Tk, int C, int NH,
                           float *p)
{
    int hs = C / NH;
    float scale = 1.0f / sqrtf((float)hs);
    for (int b = 0; b < n; b++) {
        const float *K = kc + (size_t)slot[b] * Tk * C, *Vv = vc + (size_t)slot[b] * Tk * C;
        for (int h = 0; h < NH; h++) {
            const float *qh = q + (size_t)b * C + (size_t)h * hs;
            for (int j = 0; j <= pos[b]; j++) {
                const float *kj = K + (size_t)j * C + (size_t)h * hs;
                float sdot = 0.0f;
                for (int i = 0; i < hs; i++)
                    sdot += qh[i] * kj[i];
                p[j] = sdot * scale;
            }
            lsc_causal_softmax_row_(p, pos[b], pos[b] + 1);
            float *o = out + (size_t)b * C + (size_t)h * hs;
            for (int i = 0; i < hs; i++)
                o[i] = 0.0f;
            for (int j = 0; j <= pos[b]; j++) {
                const float *vj = Vv + (size_t)j * C + (size_t)h * hs;
                for (int i = 0; i < hs; i++)
                    o[i] += p[j] * vj[i];
            }
        }
    }
}

int lsc_gpt_forward_step(lsc_gpt *m, lsc_kv_cache *kv, const int *tokens, const int *slot,
                         const int *pos, int n, lsc_error *err)
{
    const lsc_gpt_config *c = &m->config;
    lsc_gpt_acts *a = m->acts;
    if (!a)
        LSC_FAIL(err, LSC_EARG, "model: forward step before lsc_gpt_alloc_acts");
    if (!kv || !kv->k || kv->n_layer != c->n_layer || kv->C != c->n_embd)
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
    const lsc_gpt_params *p = &m->params;
    size_t nC = (size_t)n * C, Cs = (size_t)C, layer = (size_t)kv->rows * kv->T * C;
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
        float *kc = kv->k + ls * layer, *vc = kv->v + ls * layer;
        lsc_layernorm_forward_(ln, a->ln1_mean, a->ln1_rstd, x, p->ln1w + ls * Cs, p->ln1b + ls * Cs, n, C);
        linear_forward(m, l, LSC_LORA_Q, q, ln, n, NULL);
        linear_forward(m, l, LSC_LORA_K, k, ln, n, NULL);
        linear_forward(m, l, LSC_LORA_V, v, ln, n, NULL);
        for (int b = 0; b < n; b++) {
            size_t at = ((size_t)slot[b] * kv->T + (size_t)pos[b]) * C;
            memcpy(kc + at, k + (size_t)b * C, Cs * sizeof(float));
            memcpy(vc + at, v + (size_t)b * C, Cs * sizeof(float));
        }
        attention_step(y, q, kc, vc, slot, pos, n, kv->T, C, NH, prob);
        linear_forward(m, l, LSC_LORA_O, proj, y, n, NULL);
        lsc_residual_forward_(x2, x, proj, nC);
        lsc_layernorm_forward_(ln, a->ln2_mean, a->ln2_rstd, x2, p->ln2w + ls * Cs, p->ln2b + ls * Cs, n, C);
        linear_forward(m, l, LSC_LORA_FC_IN, h, ln, n, NULL);
        lsc_gelu_forward_(hg, h, 4 * nC);
        linear_forward(m, l, LSC_LORA_FC_OUT, proj, hg, n, NULL);
        lsc_residual_forward_(x, x2, proj, nC);
    }
    lsc_layernorm_forward_(a->lnf, a->lnf_mean, a->lnf_rstd, x, p->lnfw, p->lnfb, n, C);
    lsc_matmul_forward_(a->logits, a->lnf, p->wte, NULL, n, C, V);   // tied LM head
    lsc_softmax_forward_(a->probs, a->logits, n, V);
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

/* Backward of linear_forward: dinp += ..., weight grads only in full mode. */
static void linear_backward(lsc_gpt *m, int l, int target, float *dinp, const float *dout,
                            const float *inp, int N)
{
    float *w, *b;
    int OC, IC;
    lsc_gpt_linear(m, l, target, &w, &b, &OC, &IC);
    const lsc_nf4 *q = lsc_gpt_nf4(m, l, target);
    if (q) {
        /* an NF4 weight is frozen: only the input gradient, through deq(W) */
        LSC_ASSERT(!m->grads_memory);
        if (dinp)
            lsc_nf4_matmul_backward_input(dinp, dout, q, m->nf4_tile, m->nf4_tile_floats, (size_t)N);
    } else {
        float *dw = NULL, *db = NULL;
        if (m->grads_memory) {
            size_t off_w = (size_t)(w - m->params_memory), off_b = (size_t)(b - m->params_memory);
            dw = m->grads_memory + off_w;
            db = m->grads_memory + off_b;
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
    const lsc_gpt_config *c = &m->config;
    int B = m->B, T = m->T, L = c->n_layer, C = c->n_embd, NH = c->n_head, V = c->vocab;
    int N = B * T;
    size_t NC = (size_t)N * C, Cs = (size_t)C;
    int full = m->grads_memory != NULL;
    const lsc_gpt_params *p = &m->params;
    const lsc_gpt_params *g = &m->grads;

    /* the lowest layer whose backward is needed */
    int l_min = 0;
    if (!full) {
        if (!m->lora || m->lora->merged)
            return LSC_OK;   /* nothing trainable: nothing to compute */
        l_min = L;
        for (int i = 0; i < m->lora->n_modules; i++)
            if (m->lora->modules[i].layer < l_min)
                l_min = m->lora->modules[i].layer;
    }

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
        linear_backward(m, l, LSC_LORA_FC_OUT, a->dfch_gelu, a->dres, fchg, N);
        memset(a->dfch, 0, 4 * NC * sizeof(float));
        lsc_gelu_backward_(a->dfch, fch, a->dfch_gelu, 4 * NC);
        memset(a->dln, 0, NC * sizeof(float));
        linear_backward(m, l, LSC_LORA_FC_IN, a->dln, a->dfch, ln2, N);
        lsc_layernorm_backward_(a->dres, full ? g->ln2w + ls * Cs : NULL,
                                full ? g->ln2b + ls * Cs : NULL, a->dln, res2, p->ln2w + ls * Cs,
                                a->ln2_mean + ls * N, a->ln2_rstd + ls * N, N, C);
        // residual2 = res + o_proj(attention(q, k, v))
        memset(a->datty, 0, NC * sizeof(float));
        linear_backward(m, l, LSC_LORA_O, a->datty, a->dres, atty, N);
        memset(a->dq, 0, NC * sizeof(float));
        memset(a->dk, 0, NC * sizeof(float));
        memset(a->dv, 0, NC * sizeof(float));
        lsc_attention_backward_(a->dq, a->dk, a->dv, a->datt, a->datty, att, q, k, v, B, T, C, NH);
        float *dln1 = need_dinp ? a->dln : NULL;
        if (dln1)
            memset(dln1, 0, NC * sizeof(float));
        linear_backward(m, l, LSC_LORA_Q, dln1, a->dq, ln1, N);
        linear_backward(m, l, LSC_LORA_K, dln1, a->dk, ln1, N);
        linear_backward(m, l, LSC_LORA_V, dln1, a->dv, ln1, N);
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
