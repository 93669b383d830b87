/*
 * lsc_lora.h — LoRA adapters on the model (lora.c; the per-module passes in
 * lora_layer.c; target and module names from the parameter table, arch_gpt.c).
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 */
#ifndef LSC_LORA_H
#define LSC_LORA_H

#include <stddef.h>
#include <stdint.h>

#include "lsc_model.h"
#include "lsc_peft.h"

/* LoRA targets: the adaptable linear layers of a block, one namespace over
 * the architectures: q, k, v, o in both; fc_in, fc_out in the GPT; gate,
 * up, down in the Llama family. A target the model's architecture lacks is
 * refused by lsc_lora_init. */
enum lsc_lora_target {
    LSC_LORA_Q = 0, LSC_LORA_K, LSC_LORA_V, LSC_LORA_O, LSC_LORA_FC_IN,
    LSC_LORA_FC_OUT, LSC_LORA_GATE, LSC_LORA_UP, LSC_LORA_DOWN, LSC_LORA_NTARGETS
};
/* Names, read off the parameter tables (arch_gpt.c, arch_llama.c): the last
 * component of the target weight's module, "q_proj", "k_proj", "v_proj",
 * "o_proj", "fc_in", "fc_out", "gate_proj", "up_proj", "down_proj" ("?" for
 * a bad target). */
const char *lsc_lora_target_name(int target);
/* The short name of the CLI and of HDF5 files: "q", "k", "v", "o", "fc_in",
 * "fc_out", "gate", "up", "down". */
const char *lsc_lora_target_short(int target);
/* Accepts "q" | "q_proj" | "k" | ... | "o" | "o_proj" | "fc_in" | "fc_out" |
 * "gate" | "gate_proj" | "up" | "up_proj" | "down" | "down_proj"; returns the
 * target or -1. */
int lsc_lora_target_parse(const char *s);
/* The PEFT module name of (layer, target) in a model of config c into buf:
 * GPT "h.{l}.attn.q_proj" / "h.{l}.mlp.fc_in"; Llama
 * "model.layers.{l}.self_attn.q_proj" / "model.layers.{l}.mlp.gate_proj". */
void lsc_lora_module_name(const lsc_gpt_config *c, int layer, int target, char *buf, size_t n);
/* Parses a name of either architecture; returns 0 and sets layer/target, or
 * -1. (The architecture is the name's; lsc_lora_from_adapter checks that it
 * is the model's.) */
int lsc_lora_module_parse(const char *name, int *layer, int *target);

enum lsc_lora_init { LSC_LORA_INIT_KAIMING = 0, LSC_LORA_INIT_GAUSSIAN = 1 };

typedef struct lsc_lora_config {
    int      rank[LSC_LORA_NTARGETS]; /* r per target; 0 = not adapted */
    double   alpha;                   /* α (same for every module) */
    uint64_t layer_mask;              /* bit l = adapt layer l; 0 means all */
    double   dropout;                 /* on the LoRA input path, [0, 1) */
    int      rslora;                  /* scale α/sqrt(r) instead of α/r */
    int      init;                    /* enum lsc_lora_init for A; B = 0 */
    /* PEFT's rank_pattern per module (borrowed; n_pattern 0: none): a module
     * whose PEFT name ("h.3.attn.q_proj") the key pattern_keys[i] matches
     * (lib/pattern.c's rule, the first key wins) gets rank pattern_vals[i]
     * (0: not adapted), also when rank[t] is 0; the others rank[t].
     * lsc_lora_init does not keep them (lo->config has n_pattern 0). */
    int                n_pattern;
    const char *const *pattern_keys;
    const int         *pattern_vals;
} lsc_lora_config;

typedef struct lsc_lora_module {
    int    layer, target;  /* which weight of the model */
    int    r, in, out;     /* A (r, in), B (out, r): B is the LoRA factor, not a batch */
    double alpha;
    float  scale;          /* alpha/r or alpha/sqrt(r) */
    size_t offset;         /* of A in params/grads; B follows at offset + r*in */
    float *A;              // (r, in)  view into params
    float *B;              // (out, r) view into params
    float *dA;             // (r, in)  view into grads
    float *dB;             // (out, r) view into grads
} lsc_lora_module;

struct lsc_lora {
    lsc_gpt_config   model;        /* the model it was made for */
    lsc_lora_config  config;
    int              n_modules;
    lsc_lora_module *modules;      /* owned; by layer, then target */
    int             *module_of;    /* (L, NTARGETS) index into modules or -1 */
    size_t           num_parameters;
    float           *params;       /* (num_parameters) owned: A,B of each module */
    float           *grads;        /* (num_parameters) owned, same layout */
    int              merged;       /* 1 while W0 holds W0 + s·B·A */
    /* activation caches for the model's (B_alloc, T_alloc) batch x time rows;
     * internal (lora_layer.c) */
    float           *acts;
    size_t           num_acts;
    size_t          *act_off;      /* (n_modules, 3): u, dropped input, dropout mask */
    size_t           scratch_off;  /* du (N, r_max) then dx (N, in_max) */
    int              B_alloc, T_alloc;
    int              dropout_on;   /* the last forward applied dropout */
};

/* Allocates params and grads (zeroed) for the modules cfg selects on a model
 * with config mcfg and initialises A (Kaiming-uniform U(±1/sqrt(in)) or
 * Gaussian N(0, (1/r)²)), B = 0. Streams (LoRA issue 12): one 64-bit key is
 * drawn from rng (rng advances by exactly one lsc_rng_u64 whatever cfg
 * selects); each module's A comes from its own stream, seeded from the key
 * mixed with a hash (FNV-1a 64, then splitmix64) of its PEFT module name
 * ("h.2.attn.q_proj") and its rank r. So the same rng state and cfg give
 * bit-identical adapters, while two ranks, two modules or two keys never
 * share A₀ (before, A was drawn module by module from rng itself and the
 * r=8 A₀ was the first 8 rows of the r=64 one). Errors (LSC_EARG): a negative rank,
 * r > min(in, out), no module selected, alpha <= 0, dropout outside [0, 1),
 * layer_mask bits >= L. Free with lsc_lora_free (safe on zeroed/failed). */
int  lsc_lora_init(lsc_lora *lo, const lsc_gpt_config *mcfg,
                   const lsc_lora_config *cfg, uint64_t *rng, lsc_error *err);
void lsc_lora_free(lsc_lora *lo);
/* The module for (layer, target), or NULL. */
lsc_lora_module *lsc_lora_find(const lsc_lora *lo, int layer, int target);
/* W0 += s·B·A for every module (lo->merged = 1); forward then skips the LoRA
 * path for lo. Unmerge: W0 -= s·B·A (restores W0 up to float rounding).
 * On an NF4 model both first turn it into an fp32 model holding deq(W)
 * (lsc_gpt_dequantize): W = deq(W_nf4) ± s·B·A.
 * Errors: already merged / not merged, config mismatch. */
int  lsc_lora_merge(lsc_gpt *m, lsc_lora *lo, lsc_error *err);
int  lsc_lora_unmerge(lsc_gpt *m, lsc_lora *lo, lsc_error *err);
/* Task switch: unmerges `from` (if merged, may be NULL), merges `to` (may be
 * NULL) and makes `to` the active adapter. W0 + B1A1 -> W0 + B2A2. */
int  lsc_lora_switch(lsc_gpt *m, lsc_lora *from, lsc_lora *to, lsc_error *err);
/* To PEFT: fills *ad (caller frees with lsc_adapter_free) with copies of
 * A and B, module names h.{l}.attn.q_proj ..., target_modules the short
 * names, r = the most common rank with rank_pattern for the others,
 * fan_in_fan_out 0. base_model may be NULL. */
int  lsc_lora_to_adapter(const lsc_lora *lo, const char *base_model,
                         lsc_adapter *ad, lsc_error *err);
/* From PEFT: an lsc_lora for model config mcfg with the adapter's modules
 * (names must parse with lsc_lora_module_parse, shapes must match the
 * model), ranks and scalings (rank/alpha patterns, rsLoRA). Grads zeroed.
 * Plain LoRA only: a module of another kind, or any full tensor
 * (ad->full), is LSC_EFORMAT with a message to merge the adapter first
 * (lsc_adapter_merge merges every kind; conv LoRA is analysis-only). */
int  lsc_lora_from_adapter(lsc_lora *lo, const lsc_gpt_config *mcfg,
                           const lsc_adapter *ad, lsc_error *err);
/* Convenience: to_adapter + lsc_adapter_save / lsc_adapter_load + from_adapter. */
int  lsc_lora_save(const lsc_lora *lo, const char *base_model, const char *dir,
                   lsc_error *err);
int  lsc_lora_load(lsc_lora *lo, const lsc_gpt_config *mcfg, const char *dir,
                   lsc_error *err);

#endif /* LSC_LORA_H */
