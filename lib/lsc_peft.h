/*
 * lsc_peft.h — PEFT adapter directories (peft.c).
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 */
#ifndef LSC_PEFT_H
#define LSC_PEFT_H

#include <stddef.h>
#include <stdint.h>

#include "lsc_safetensors.h"

// ---- PEFT adapter directories (peft.c) ----

/* adapter_config.json's "peft_type": the one value written and accepted. */
#define LSC_PEFT_TYPE "LORA"

typedef struct lsc_adapter_module {
    char  *name;          /* e.g. "h.3.attn.q_proj" or "transformer.h.0.attn.c_attn" */
    int    r;             /* rank (rows of A) */
    double alpha;         /* lora_alpha after alpha_pattern */
    double scaling;       /* alpha/r, or alpha/sqrt(r) with use_rslora */
    int    in_features;   /* k */
    int    out_features;  /* d */
    float *A;             /* (r, k)  lora_A.weight */
    float *B;             /* (d, r)  lora_B.weight */
    int    n_nonfinite;   /* count of NaN/Inf values in A and B */
    char   dtype[8];      /* dtype in the file, e.g. "F32" */
} lsc_adapter_module;

typedef struct lsc_adapter {
    char   *path;                /* the directory */
    int     r;                   /* config r */
    double  lora_alpha;
    double  lora_dropout;
    int     use_rslora;
    int     fan_in_fan_out;
    char   *base_model;          /* base_model_name_or_path or NULL */
    char   *init_lora_weights;   /* "true", "gaussian", ... or NULL */
    int     n_targets;
    char  **target_modules;      /* list form */
    char   *target_regex;        /* string form (NULL when a list) */
    int     n_rank_pattern;
    char  **rank_pattern_keys;
    int    *rank_pattern_vals;
    int     n_alpha_pattern;
    char  **alpha_pattern_keys;
    double *alpha_pattern_vals;
    int     n_modules;
    lsc_adapter_module *modules; /* sorted in natural order of name */
    int     n_ignored;
    char  **ignored;             /* tensors that are not lora_A/lora_B */
} lsc_adapter;

/* Reads DIR/adapter_config.json and DIR/adapter_model.safetensors. Checks
 * that every module has both A and B, that shapes agree (A (r,k), B (d,r)),
 * that r agrees with the config (after rank_pattern). Caller frees with
 * lsc_adapter_free (also safe after a failed load). */
int  lsc_adapter_load(lsc_adapter *ad, const char *dir, lsc_error *err);
void lsc_adapter_free(lsc_adapter *ad);
/* Writes DIR (created if missing) in PEFT's layout: adapter_config.json with
 * PEFT's fields (sorted keys, indent 2) and adapter_model.safetensors (F32,
 * metadata {"format": "pt"}). Each file goes through a temporary + rename. */
int  lsc_adapter_save(const lsc_adapter *ad, const char *dir, lsc_error *err);
/* Index of a module by exact name, or -1. */
int  lsc_adapter_find(const lsc_adapter *ad, const char *name);
/* r and alpha for a module name after rank_pattern/alpha_pattern (PEFT's
 * re.match(r"(.*\.)?(KEY)$", name) rule). */
void lsc_adapter_module_params(const lsc_adapter *ad, const char *name,
                               int *r, double *alpha);
/* Scaling for a given r and alpha under this config (rsLoRA aware). */
double lsc_adapter_scaling(const lsc_adapter *ad, int r, double alpha);

#endif /* LSC_PEFT_H */
