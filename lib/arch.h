/*
 * arch.h — an architecture's parameter table (arch_gpt.c): ONE row per
 * parameter kind (name, shape in config dimensions, init rule, the linear
 * layer it belongs to and whether LoRA may adapt it, weight decay, its view
 * in lsc_gpt_params). Allocation, views, the tensor/file table, init,
 * save/load, NF4 slots, LoRA/PEFT module naming and the optimiser's decay
 * mask all read this table; nothing else spells the layout out.
 * Internal to lib/ and tests/ (included by lsc_internal.h), never installed.
 *
 * What it is not: no forward/backward (model_forward.c sequences the
 * kernels of one architecture), no allocation.
 *
 * Layout the table implies (llm.c's): params_memory holds the kinds in
 * table order, each kind stacked over layers when per_layer (layer l of a
 * (rows, cols) kind starts at l*rows*cols). The tensor (file) order is: the
 * global kinds that precede the first per-layer kind, then layer by layer
 * every per-layer kind in table order, then the remaining global kinds.
 */
#ifndef LSC_ARCH_H
#define LSC_ARCH_H

#include <stddef.h>

#include "lsc_model.h"

/* A dimension of a shape, resolved against an lsc_gpt_config. */
typedef enum lsc_dim {
    LSC_DIM_NONE = 0,   /* no second dimension: a 1-D tensor */
    LSC_DIM_V,          /* vocab */
    LSC_DIM_CTX,        /* n_ctx */
    LSC_DIM_C,          /* n_embd */
    LSC_DIM_4C,         /* 4 * n_embd (the GPT MLP's hidden width) */
    LSC_DIM_QD,         /* NH * hs: the query width (Llama; C for the GPT) */
    LSC_DIM_KVD,        /* NKV * hs: the key/value width (Llama) */
    LSC_DIM_FF,         /* n_ff: the SwiGLU hidden width (Llama) */
} lsc_dim;

/* When a kind exists (Llama's optional tensors). */
typedef enum lsc_cond {
    LSC_COND_ALWAYS = 0,
    LSC_COND_QKV_BIAS,  /* config qkv_bias (Qwen2) */
    LSC_COND_UNTIED,    /* config untied: a separate lm_head */
} lsc_cond;

/* How lsc_gpt_init_weights draws a kind (GPT-2's init). */
typedef enum lsc_init_rule {
    LSC_INIT_NORMAL,      /* N(0, 0.02) */
    LSC_INIT_NORMAL_RES,  /* N(0, 0.02/sqrt(2L)): projections into the residual stream */
    LSC_INIT_ONES,
    LSC_INIT_ZEROS,
} lsc_init_rule;

typedef struct lsc_param_spec {
    const char   *module;     /* "wte", "attn.q_proj": the tensor is "{module}.{leaf}", */
    const char   *leaf;       /*   per layer "h.{l}.{module}.{leaf}"; leaf "weight" | "bias" */
    int           per_layer;  /* stacked over the L layers */
    lsc_dim       rows, cols; /* shape (rows) or (rows, cols) per layer; weights are (out, in) */
    lsc_init_rule init;
    int           linear;     /* enum lsc_lora_target of the linear layer this is the
                                 weight or bias of, or -1 */
    int           lora;       /* LoRA may adapt it (and NF4 may hold it): a linear weight */
    int           decay;      /* AdamW's weight decay applies (2-D weights) */
    size_t        view;       /* offsetof(lsc_gpt_params, its named view) */
    lsc_cond      cond;       /* the kind exists only when this holds */
} lsc_param_spec;

typedef struct lsc_arch {
    const char           *name;          /* "gpt", "llama" */
    const char           *layer_prefix;  /* per-layer tensor/module names: "h.%d.",
                                            "model.layers.%d." (printf, the layer) */
    int                   n_params;      /* rows of params (LSC_GPT_NKINDS for GPT) */
    const lsc_param_spec *params;        /* in buffer (= view) order */
} lsc_arch;

/* The GPT of model.c (pre-LN GPT-2 with separate q/k/v/o, MLP 4C). */
extern const lsc_arch lsc_gpt_arch_;
/* The Llama family (arch_llama.c; forward and backward in model_llama.c). */
extern const lsc_arch lsc_llama_arch_;

/* The table of c->arch (the GPT's for an unknown value: configs are checked
 * by lsc_gpt_config_check before use). */
const lsc_arch *lsc_arch_of_(const lsc_gpt_config *c);
/* Kind i exists under c (its lsc_cond holds). */
int    lsc_arch_present_(const lsc_arch *a, int i, const lsc_gpt_config *c);

/* Size of dimension d under config c (1 for LSC_DIM_NONE). */
size_t lsc_arch_dim_(const lsc_gpt_config *c, lsc_dim d);
/* Elements of one layer's slice of kind i (the whole tensor when global). */
size_t lsc_arch_numel_(const lsc_arch *a, int i, const lsc_gpt_config *c);
/* Kind of the weight (bias = 0) or bias (bias = 1) of linear layer target,
 * or -1 when the architecture has none (a bias-free layer, or a target of
 * another architecture: lsc_arch_has_target_). Bias kinds may be absent
 * under a config (lsc_arch_present_). */
int    lsc_arch_linear_kind_(const lsc_arch *a, int target, int bias);
/* 1 when the architecture has LoRA target t (enum lsc_lora_target). */
int    lsc_arch_has_target_(const lsc_arch *a, int t);
/* Shape (out, in) of linear layer target's weight. */
void   lsc_arch_target_shape_(const lsc_arch *a, const lsc_gpt_config *c, int target,
                              size_t *out, size_t *in);
/* Tensor name of kind i in layer l (l ignored for global kinds) into buf. */
void   lsc_arch_tensor_name_(const lsc_arch *a, int i, int l, char *buf, size_t n);
/* The view of kind i inside a params struct (p may be the grads' views):
 * its address (to point it) and its value. */
float **lsc_arch_view_(const lsc_arch *a, int i, lsc_gpt_params *p);
float  *lsc_arch_view_get_(const lsc_arch *a, int i, const lsc_gpt_params *p);

#endif /* LSC_ARCH_H */
