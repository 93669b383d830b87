/*
 * arch_llama.c — the Llama family's parameter table (arch.h): Llama,
 * Mistral, Qwen2 and Gemma-style decoders as Hugging Face names them
 * ("model.layers.{l}.self_attn.q_proj.weight"), so that a Hugging Face
 * folder's tensors and PEFT's module names are this table's names.
 *
 * What it is not: no forward/backward (model_llama.c), no file reading
 * (model_import.c), no allocation (model.c builds everything from the table).
 *
 * Shapes: C = hidden_size, Q = NH·hs, KV = NKV·hs (grouped-query
 * attention), F = intermediate_size, V vocab; weights are (out, in).
 * Optional kinds: q/k/v biases (LSC_COND_QKV_BIAS, Qwen2) and a separate
 * lm_head (LSC_COND_UNTIED; tied models use embed_tokens as the LM head).
 * Init (pretrain --arch llama): GPT-2's rule, N(0, 0.02) with the residual
 * projections o_proj and down_proj at 0.02/sqrt(2L), norms 1, biases 0.
 */
#include <stddef.h>

#include "lsc_internal.h"

#define VIEW(f) offsetof(lsc_gpt_params, llama.f)

static const lsc_param_spec llama_params[] = {
    /* module                    leaf     layer rows         cols          init                 linear        lora decay view              cond */
    {"model.embed_tokens",        "weight", 0, LSC_DIM_V,   LSC_DIM_C,    LSC_INIT_NORMAL,     -1,           0, 1, VIEW(embed),     LSC_COND_ALWAYS},
    {"input_layernorm",           "weight", 1, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ONES,       -1,           0, 0, VIEW(attn_norm), LSC_COND_ALWAYS},
    {"self_attn.q_proj",          "weight", 1, LSC_DIM_QD,  LSC_DIM_C,    LSC_INIT_NORMAL,     LSC_LORA_Q,   1, 1, VIEW(qw),        LSC_COND_ALWAYS},
    {"self_attn.q_proj",          "bias",   1, LSC_DIM_QD,  LSC_DIM_NONE, LSC_INIT_ZEROS,      LSC_LORA_Q,   0, 0, VIEW(qb),        LSC_COND_QKV_BIAS},
    {"self_attn.k_proj",          "weight", 1, LSC_DIM_KVD, LSC_DIM_C,    LSC_INIT_NORMAL,     LSC_LORA_K,   1, 1, VIEW(kw),        LSC_COND_ALWAYS},
    {"self_attn.k_proj",          "bias",   1, LSC_DIM_KVD, LSC_DIM_NONE, LSC_INIT_ZEROS,      LSC_LORA_K,   0, 0, VIEW(kb),        LSC_COND_QKV_BIAS},
    {"self_attn.v_proj",          "weight", 1, LSC_DIM_KVD, LSC_DIM_C,    LSC_INIT_NORMAL,     LSC_LORA_V,   1, 1, VIEW(vw),        LSC_COND_ALWAYS},
    {"self_attn.v_proj",          "bias",   1, LSC_DIM_KVD, LSC_DIM_NONE, LSC_INIT_ZEROS,      LSC_LORA_V,   0, 0, VIEW(vb),        LSC_COND_QKV_BIAS},
    {"self_attn.o_proj",          "weight", 1, LSC_DIM_C,   LSC_DIM_QD,   LSC_INIT_NORMAL_RES, LSC_LORA_O,   1, 1, VIEW(ow),        LSC_COND_ALWAYS},
    {"post_attention_layernorm",  "weight", 1, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ONES,       -1,           0, 0, VIEW(mlp_norm),  LSC_COND_ALWAYS},
    {"mlp.gate_proj",             "weight", 1, LSC_DIM_FF,  LSC_DIM_C,    LSC_INIT_NORMAL,     LSC_LORA_GATE, 1, 1, VIEW(gate),     LSC_COND_ALWAYS},
    {"mlp.up_proj",               "weight", 1, LSC_DIM_FF,  LSC_DIM_C,    LSC_INIT_NORMAL,     LSC_LORA_UP,  1, 1, VIEW(up),        LSC_COND_ALWAYS},
    {"mlp.down_proj",             "weight", 1, LSC_DIM_C,   LSC_DIM_FF,   LSC_INIT_NORMAL_RES, LSC_LORA_DOWN, 1, 1, VIEW(down),     LSC_COND_ALWAYS},
    {"model.norm",                "weight", 0, LSC_DIM_C,   LSC_DIM_NONE, LSC_INIT_ONES,       -1,           0, 0, VIEW(norm),      LSC_COND_ALWAYS},
    {"lm_head",                   "weight", 0, LSC_DIM_V,   LSC_DIM_C,    LSC_INIT_NORMAL,     -1,           0, 1, VIEW(lm_head),   LSC_COND_UNTIED},
};

const lsc_arch lsc_llama_arch_ = {"llama", "model.layers.%d.", (int)(sizeof llama_params / sizeof llama_params[0]),
                                  llama_params};
