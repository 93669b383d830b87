/*
 * arch.c — what is read off an architecture's parameter table (arch.h)
 * alone, for any architecture: shapes in config dimensions, whether a kind
 * exists under a config, tensor names, the linear layers LoRA may adapt and
 * their names (the PEFT module names and the CLI's targets), and the
 * config's resolved sizes.
 *
 * What it is not: no table (arch_gpt.c, arch_llama.c), no allocation, no
 * model (model.c builds the buffer, views and tensor table from a table).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "lsc_internal.h"

// ---- the tables ----

static const lsc_arch *const archs[] = {&lsc_gpt_arch_, &lsc_llama_arch_};
#define N_ARCHS ((int)(sizeof archs / sizeof archs[0]))

const lsc_arch *lsc_arch_of_(const lsc_gpt_config *c)
{
    return c->arch == LSC_ARCH_LLAMA ? &lsc_llama_arch_ : &lsc_gpt_arch_;
}

const char *lsc_arch_name(int arch)
{
    return arch >= 0 && arch < N_ARCHS ? archs[arch]->name : "?";
}

int lsc_arch_parse(const char *s)
{
    for (int i = 0; s && i < N_ARCHS; i++)
        if (strcmp(s, archs[i]->name) == 0)
            return i;
    return -1;
}

// ---- resolved sizes ----

int lsc_gpt_head_dim(const lsc_gpt_config *c)
{
    if (c->arch == LSC_ARCH_LLAMA && c->head_dim > 0)
        return c->head_dim;
    return c->n_head > 0 ? c->n_embd / c->n_head : 0;
}

int lsc_gpt_kv_heads(const lsc_gpt_config *c)
{
    return c->arch == LSC_ARCH_LLAMA && c->n_kv_head > 0 ? c->n_kv_head : c->n_head;
}

int lsc_gpt_ff_dim(const lsc_gpt_config *c)
{
    if (c->arch != LSC_ARCH_LLAMA)
        return 4 * c->n_embd;
    if (c->n_ff > 0)
        return c->n_ff;
    int h = (int)((8L * c->n_embd) / 3);
    return 32 * ((h + 31) / 32);
}

lsc_gpt_config lsc_gpt_config_fill(const lsc_gpt_config *c)
{
    lsc_gpt_config f = *c;
    if (f.arch != LSC_ARCH_LLAMA)
        return f;
    f.head_dim = lsc_gpt_head_dim(c);
    f.n_kv_head = lsc_gpt_kv_heads(c);
    f.n_ff = lsc_gpt_ff_dim(c);
    if (!(f.rope_theta > 0.0f))
        f.rope_theta = 10000.0f;
    if (!(f.norm_eps > 0.0f))
        f.norm_eps = 1e-5f;
    return f;
}

// ---- shapes and names ----

size_t lsc_arch_dim_(const lsc_gpt_config *c, lsc_dim d)
{
    switch (d) {
    case LSC_DIM_NONE: return 1;
    case LSC_DIM_V:    return (size_t)c->vocab;
    case LSC_DIM_CTX:  return (size_t)c->n_ctx;
    case LSC_DIM_C:    return (size_t)c->n_embd;
    case LSC_DIM_4C:   return 4 * (size_t)c->n_embd;
    case LSC_DIM_QD:   return (size_t)c->n_head * (size_t)lsc_gpt_head_dim(c);
    case LSC_DIM_KVD:  return (size_t)lsc_gpt_kv_heads(c) * (size_t)lsc_gpt_head_dim(c);
    case LSC_DIM_FF:   return (size_t)lsc_gpt_ff_dim(c);
    }
    LSC_ABORT("lsc_arch_dim_: bad dimension %d", (int)d);
}

size_t lsc_arch_numel_(const lsc_arch *a, int i, const lsc_gpt_config *c)
{
    const lsc_param_spec *p = &a->params[i];
    return lsc_arch_dim_(c, p->rows) * lsc_arch_dim_(c, p->cols);
}

int lsc_arch_present_(const lsc_arch *a, int i, const lsc_gpt_config *c)
{
    switch (a->params[i].cond) {
    case LSC_COND_ALWAYS:   return 1;
    case LSC_COND_QKV_BIAS: return c->qkv_bias != 0;
    case LSC_COND_UNTIED:   return c->untied != 0;
    }
    return 0;
}

int lsc_arch_linear_kind_(const lsc_arch *a, int target, int bias)
{
    for (int i = 0; i < a->n_params; i++)
        if (a->params[i].linear == target && strcmp(a->params[i].leaf, bias ? "bias" : "weight") == 0)
            return i;
    return -1;
}

int lsc_arch_has_target_(const lsc_arch *a, int t)
{
    return t >= 0 && t < LSC_LORA_NTARGETS && lsc_arch_linear_kind_(a, t, 0) >= 0;
}

int lsc_gpt_linear_shape(const lsc_gpt_config *c, int target, int *out, int *in)
{
    const lsc_arch *a = lsc_arch_of_(c);
    if (!lsc_arch_has_target_(a, target))
        return -1;
    size_t d, k;
    lsc_arch_target_shape_(a, c, target, &d, &k);
    *out = (int)d;
    *in = (int)k;
    return 0;
}

void lsc_arch_target_shape_(const lsc_arch *a, const lsc_gpt_config *c, int target, size_t *out,
                            size_t *in)
{
    int i = lsc_arch_linear_kind_(a, target, 0);
    LSC_ASSERT(i >= 0);
    *out = lsc_arch_dim_(c, a->params[i].rows);
    *in = lsc_arch_dim_(c, a->params[i].cols);
}

void lsc_arch_tensor_name_(const lsc_arch *a, int i, int l, char *buf, size_t n)
{
    const lsc_param_spec *p = &a->params[i];
    char pre[32] = "";
    if (p->per_layer)
        snprintf(pre, sizeof pre, a->layer_prefix, l);
    snprintf(buf, n, "%s%s.%s", pre, p->module, p->leaf);
}

float **lsc_arch_view_(const lsc_arch *a, int i, lsc_gpt_params *p)
{
    return (float **)((char *)p + a->params[i].view);
}

float *lsc_arch_view_get_(const lsc_arch *a, int i, const lsc_gpt_params *p)
{
    return *(float *const *)((const char *)p + a->params[i].view);
}

// ---- LoRA target and module names (declared in lsc_lora.h) ----

/* Short CLI alias of target t ("q", "gate"), or NULL. */
static const char *target_alias(int t)
{
    static const char *const alias[LSC_LORA_NTARGETS] = {"q", "k", "v", "o", NULL, NULL,
                                                         "gate", "up", "down"};
    return t >= 0 && t < LSC_LORA_NTARGETS ? alias[t] : NULL;
}

/* The module path ("attn.q_proj") of target t's weight in the first table
 * that has it, or NULL. */
static const char *target_module(int t)
{
    for (int k = 0; k < N_ARCHS; k++) {
        int i = lsc_arch_has_target_(archs[k], t) ? lsc_arch_linear_kind_(archs[k], t, 0) : -1;
        if (i >= 0)
            return archs[k]->params[i].module;
    }
    return NULL;
}

const char *lsc_lora_target_name(int target)
{
    const char *m = target_module(target);
    if (!m)
        return "?";
    const char *dot = strrchr(m, '.');
    return dot ? dot + 1 : m;
}

const char *lsc_lora_target_short(int target)
{
    const char *a = target_alias(target);
    return a ? a : lsc_lora_target_name(target);
}

int lsc_lora_target_parse(const char *s)
{
    if (!s)
        return -1;
    for (int t = 0; t < LSC_LORA_NTARGETS; t++) {
        const char *alias = target_alias(t);
        if (strcmp(s, lsc_lora_target_name(t)) == 0 || (alias && strcmp(s, alias) == 0))
            return t;
    }
    return -1;
}

static void module_name(const lsc_arch *a, int layer, int target, char *buf, size_t n)
{
    int i = lsc_arch_has_target_(a, target) ? lsc_arch_linear_kind_(a, target, 0) : -1;
    char pre[32];
    snprintf(pre, sizeof pre, a->layer_prefix, layer);
    snprintf(buf, n, "%s%s", pre, i >= 0 ? a->params[i].module : "?");
}

void lsc_lora_module_name(const lsc_gpt_config *c, int layer, int target, char *buf, size_t n)
{
    module_name(lsc_arch_of_(c), layer, target, buf, n);
}

/* The layer number after a's prefix in name, or -1; *rest = what follows. */
static long parse_layer(const lsc_arch *a, const char *name, const char **rest)
{
    const char *pct = strstr(a->layer_prefix, "%d");
    size_t head = (size_t)(pct - a->layer_prefix);
    if (strncmp(name, a->layer_prefix, head) != 0)
        return -1;
    const char *s = name + head;
    if (*s < '0' || *s > '9')
        return -1;
    long l = 0;
    while (*s >= '0' && *s <= '9') {
        l = l * 10 + (*s - '0');
        if (l > 1000000)
            return -1;
        s++;
    }
    *rest = s;
    return l;
}

int lsc_lora_module_parse(const char *name, int *layer, int *target)
{
    for (int k = 0; k < N_ARCHS; k++) {
        const char *rest;
        long l = parse_layer(archs[k], name, &rest);
        if (l < 0)
            continue;
        for (int t = 0; t < LSC_LORA_NTARGETS; t++) {
            if (!lsc_arch_has_target_(archs[k], t))
                continue;
            char buf[96];
            module_name(archs[k], (int)l, t, buf, sizeof buf);
            if (strcmp(buf, name) == 0) {
                *layer = (int)l;
                *target = t;
                return 0;
            }
        }
    }
    return -1;
}
