/*
 * arch_gpt.c — the GPT's parameter table (arch.h) and what is read off
 * it alone: shapes in config dimensions, tensor names, the linear layers
 * LoRA may adapt, and their names (the PEFT module names "h.{l}.attn.q_proj"
 * and the targets "q_proj" / "q" of the CLI).
 *
 * What it is not: it allocates nothing and holds no model; model.c builds
 * the buffer, views and tensor table from this table, lora.c the adapter.
 * A second architecture is a second table (plus its forward/backward).
 *
 * Shapes: L layers, C = n_embd, V vocab, n_ctx positions; linear weights
 * are (out, in).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "lsc_internal.h"

// ---- the table ----

#define VIEW(f) offsetof(lsc_gpt_params, f)

/* In the order of the fields of lsc_gpt_params (= the buffer's order). */
static const lsc_param_spec gpt_params[LSC_GPT_NKINDS] = {
    /* module         leaf      layer rows         cols          init                 linear           lora decay view */
    {"wte",          "weight", 0, LSC_DIM_V,   LSC_DIM_C,    LSC_INIT_NORMAL,     -1,              0, 1, VIEW(wte)},
    {"wpe",          "weight", 0, LSC_DIM_CTX, LSC_DIM_C,    LSC_INIT_NORMAL,     -1,              0, 1, VIEW(wpe)},
    {"ln_1",         "weight", 1, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ONES,       -1,              0, 0, VIEW(ln1w)},
    {"ln_1",         "bias",   1, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ZEROS,      -1,              0, 0, VIEW(ln1b)},
    {"attn.q_proj",  "weight", 1, LSC_DIM_C,   LSC_DIM_C,    LSC_INIT_NORMAL,     LSC_LORA_Q,      1, 1, VIEW(qw)},
    {"attn.q_proj",  "bias",   1, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ZEROS,      LSC_LORA_Q,      0, 0, VIEW(qb)},
    {"attn.k_proj",  "weight", 1, LSC_DIM_C,   LSC_DIM_C,    LSC_INIT_NORMAL,     LSC_LORA_K,      1, 1, VIEW(kw)},
    {"attn.k_proj",  "bias",   1, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ZEROS,      LSC_LORA_K,      0, 0, VIEW(kb)},
    {"attn.v_proj",  "weight", 1, LSC_DIM_C,   LSC_DIM_C,    LSC_INIT_NORMAL,     LSC_LORA_V,      1, 1, VIEW(vw)},
    {"attn.v_proj",  "bias",   1, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ZEROS,      LSC_LORA_V,      0, 0, VIEW(vb)},
    {"attn.o_proj",  "weight", 1, LSC_DIM_C,   LSC_DIM_C,    LSC_INIT_NORMAL_RES, LSC_LORA_O,      1, 1, VIEW(ow)},
    {"attn.o_proj",  "bias",   1, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ZEROS,      LSC_LORA_O,      0, 0, VIEW(ob)},
    {"ln_2",         "weight", 1, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ONES,       -1,              0, 0, VIEW(ln2w)},
    {"ln_2",         "bias",   1, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ZEROS,      -1,              0, 0, VIEW(ln2b)},
    {"mlp.fc_in",    "weight", 1, LSC_DIM_4C,  LSC_DIM_C,    LSC_INIT_NORMAL,     LSC_LORA_FC_IN,  1, 1, VIEW(fcw)},
    {"mlp.fc_in",    "bias",   1, LSC_DIM_4C,  LSC_DIM_NONE, LSC_INIT_ZEROS,      LSC_LORA_FC_IN,  0, 0, VIEW(fcb)},
    {"mlp.fc_out",   "weight", 1, LSC_DIM_C,   LSC_DIM_4C,   LSC_INIT_NORMAL_RES, LSC_LORA_FC_OUT, 1, 1, VIEW(fcprojw)},
    {"mlp.fc_out",   "bias",   1, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ZEROS,      LSC_LORA_FC_OUT, 0, 0, VIEW(fcprojb)},
    {"ln_f",         "weight", 0, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ONES,       -1,              0, 0, VIEW(lnfw)},
    {"ln_f",         "bias",   0, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ZEROS,      -1,              0, 0, VIEW(lnfb)},
};

static const char *const gpt_alias[LSC_LORA_NTARGETS] = {"q", "k", "v", "o", NULL, NULL};

const lsc_arch lsc_gpt_arch_ = {"gpt", LSC_GPT_NKINDS, gpt_params, LSC_LORA_NTARGETS, gpt_alias};

// ---- shapes and names ----

size_t lsc_arch_dim_(const lsc_gpt_config *c, lsc_dim d)
{
    switch (d) {
    case LSC_DIM_NONE: return 1;
    case LSC_DIM_V:    return (size_t)c->vocab;
    case LSC_DIM_CTX:  return (size_t)c->n_ctx;
    case LSC_DIM_C:    return (size_t)c->n_embd;
    case LSC_DIM_4C:   return 4 * (size_t)c->n_embd;
    }
    LSC_ABORT("lsc_arch_dim_: bad dimension %d", (int)d);
}

size_t lsc_arch_numel_(const lsc_arch *a, int i, const lsc_gpt_config *c)
{
    const lsc_param_spec *p = &a->params[i];
    return lsc_arch_dim_(c, p->rows) * lsc_arch_dim_(c, p->cols);
}

int lsc_arch_linear_kind_(const lsc_arch *a, int target, int bias)
{
    for (int i = 0; i < a->n_params; i++)
        if (a->params[i].linear == target && strcmp(a->params[i].leaf, bias ? "bias" : "weight") == 0)
            return i;
    return -1;
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
    if (p->per_layer)
        snprintf(buf, n, "h.%d.%s.%s", l, p->module, p->leaf);
    else
        snprintf(buf, n, "%s.%s", p->module, p->leaf);
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

/* The module path ("attn.q_proj") of target t's weight, or NULL. */
static const char *target_module(int t)
{
    int i = t >= 0 && t < lsc_gpt_arch_.n_targets ? lsc_arch_linear_kind_(&lsc_gpt_arch_, t, 0) : -1;
    return i < 0 ? NULL : lsc_gpt_arch_.params[i].module;
}

const char *lsc_lora_target_name(int target)
{
    const char *m = target_module(target);
    if (!m)
        return "?";
    const char *dot = strrchr(m, '.');
    return dot ? dot + 1 : m;
}

int lsc_lora_target_parse(const char *s)
{
    if (!s)
        return -1;
    for (int t = 0; t < lsc_gpt_arch_.n_targets; t++) {
        const char *alias = lsc_gpt_arch_.target_alias[t];
        if (strcmp(s, lsc_lora_target_name(t)) == 0 || (alias && strcmp(s, alias) == 0))
            return t;
    }
    return -1;
}

void lsc_lora_module_name(int layer, int target, char *buf, size_t n)
{
    const char *m = target_module(target);
    snprintf(buf, n, "h.%d.%s", layer, m ? m : "?");
}

int lsc_lora_module_parse(const char *name, int *layer, int *target)
{
    if (strncmp(name, "h.", 2) != 0)
        return -1;
    const char *s = name + 2;
    if (*s < '0' || *s > '9')
        return -1;
    long l = 0;
    while (*s >= '0' && *s <= '9') {
        l = l * 10 + (*s - '0');
        if (l > 1000000)
            return -1;
        s++;
    }
    for (int t = 0; t < lsc_gpt_arch_.n_targets; t++) {
        char buf[64];
        lsc_lora_module_name((int)l, t, buf, sizeof buf);
        if (strcmp(buf, name) == 0) {
            *layer = (int)l;
            *target = t;
            return 0;
        }
    }
    return -1;
}
