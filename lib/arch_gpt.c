/*
 * arch_gpt.c — the GPT's parameter table (arch.h): its tensors, their
 * shapes in config dimensions, init rules and the linear layers LoRA may
 * adapt (PEFT module names "h.{l}.attn.q_proj"); and the CLI's short target
 * aliases ("q" for q_proj).
 *
 * What it is not: it allocates nothing and holds no model; arch.c reads the
 * table, model.c builds the buffer, views and tensor table from it, lora.c
 * the adapter. The Llama family is the second table (arch_llama.c).
 *
 * Shapes: L layers, C = n_embd, V vocab, n_ctx positions; linear weights
 * are (out, in).
 */
#include <stddef.h>

#include "lsc_internal.h"

// ---- the table ----

#define VIEW(f) offsetof(lsc_gpt_params, f)

/* In the order of the fields of lsc_gpt_params (= the buffer's order). */
static const lsc_param_spec gpt_params[LSC_GPT_NKINDS] = {
    /* module         leaf      layer rows         cols          init                 linear           lora decay view (cond) */
    {"wte",          "weight", 0, LSC_DIM_V,   LSC_DIM_C,    LSC_INIT_NORMAL,     -1,              0, 1, VIEW(wte), LSC_COND_ALWAYS},
    {"wpe",          "weight", 0, LSC_DIM_CTX, LSC_DIM_C,    LSC_INIT_NORMAL,     -1,              0, 1, VIEW(wpe), LSC_COND_ALWAYS},
    {"ln_1",         "weight", 1, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ONES,       -1,              0, 0, VIEW(ln1w), LSC_COND_ALWAYS},
    {"ln_1",         "bias",   1, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ZEROS,      -1,              0, 0, VIEW(ln1b), LSC_COND_ALWAYS},
    {"attn.q_proj",  "weight", 1, LSC_DIM_C,   LSC_DIM_C,    LSC_INIT_NORMAL,     LSC_LORA_Q,      1, 1, VIEW(qw), LSC_COND_ALWAYS},
    {"attn.q_proj",  "bias",   1, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ZEROS,      LSC_LORA_Q,      0, 0, VIEW(qb), LSC_COND_ALWAYS},
    {"attn.k_proj",  "weight", 1, LSC_DIM_C,   LSC_DIM_C,    LSC_INIT_NORMAL,     LSC_LORA_K,      1, 1, VIEW(kw), LSC_COND_ALWAYS},
    {"attn.k_proj",  "bias",   1, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ZEROS,      LSC_LORA_K,      0, 0, VIEW(kb), LSC_COND_ALWAYS},
    {"attn.v_proj",  "weight", 1, LSC_DIM_C,   LSC_DIM_C,    LSC_INIT_NORMAL,     LSC_LORA_V,      1, 1, VIEW(vw), LSC_COND_ALWAYS},
    {"attn.v_proj",  "bias",   1, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ZEROS,      LSC_LORA_V,      0, 0, VIEW(vb), LSC_COND_ALWAYS},
    {"attn.o_proj",  "weight", 1, LSC_DIM_C,   LSC_DIM_C,    LSC_INIT_NORMAL_RES, LSC_LORA_O,      1, 1, VIEW(ow), LSC_COND_ALWAYS},
    {"attn.o_proj",  "bias",   1, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ZEROS,      LSC_LORA_O,      0, 0, VIEW(ob), LSC_COND_ALWAYS},
    {"ln_2",         "weight", 1, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ONES,       -1,              0, 0, VIEW(ln2w), LSC_COND_ALWAYS},
    {"ln_2",         "bias",   1, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ZEROS,      -1,              0, 0, VIEW(ln2b), LSC_COND_ALWAYS},
    {"mlp.fc_in",    "weight", 1, LSC_DIM_4C,  LSC_DIM_C,    LSC_INIT_NORMAL,     LSC_LORA_FC_IN,  1, 1, VIEW(fcw), LSC_COND_ALWAYS},
    {"mlp.fc_in",    "bias",   1, LSC_DIM_4C,  LSC_DIM_NONE, LSC_INIT_ZEROS,      LSC_LORA_FC_IN,  0, 0, VIEW(fcb), LSC_COND_ALWAYS},
    {"mlp.fc_out",   "weight", 1, LSC_DIM_C,   LSC_DIM_4C,   LSC_INIT_NORMAL_RES, LSC_LORA_FC_OUT, 1, 1, VIEW(fcprojw), LSC_COND_ALWAYS},
    {"mlp.fc_out",   "bias",   1, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ZEROS,      LSC_LORA_FC_OUT, 0, 0, VIEW(fcprojb), LSC_COND_ALWAYS},
    {"ln_f",         "weight", 0, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ONES,       -1,              0, 0, VIEW(lnfw), LSC_COND_ALWAYS},
    {"ln_f",         "bias",   0, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ZEROS,      -1,              0, 0, VIEW(lnfb), LSC_COND_ALWAYS},
};

const lsc_arch lsc_gpt_arch_ = {"gpt", "h.%d.", LSC_GPT_NKINDS, gpt_params};
