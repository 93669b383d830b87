/*
 * lsc_peft.h — PEFT adapter directories (peft.c).
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 */
#ifndef LSC_PEFT_H
#define LSC_PEFT_H

#include <stddef.h>
#include <stdint.h>

#include "lsc_hmap.h"
#include "lsc_pattern.h"
#include "lsc_safetensors.h"

// ---- PEFT adapter directories (peft.c) ----

/* adapter_config.json's "peft_type": the one value written and accepted. */
#define LSC_PEFT_TYPE "LORA"

/* What one module of an adapter is. For every kind but FULL the module holds
 * two factors with
 *     dW_lowrank = scaling · B · A,   A (r, in_features), B (out_features, r),
 * row-major float32, so code that reads A, B, scaling, in/out_features works
 * unchanged on every factored kind; the kind says what that matrix means.
 *
 * LORA       a Linear layer (or GPT-2's Conv1D): dW = s·B·A is [out, in], the
 *            orientation of torch's Linear weight, also when the adapter's
 *            fan_in_fan_out is true (only the *base* Conv1D weight is stored
 *            [in, out]; lora_A/lora_B are not transposed).
 * DORA       the same factors plus magnitude (m, out_features floats, PEFT's
 *            lora_magnitude_vector). s·B·A is NOT the update: the effective
 *            dW = m ⊙ (W0 + s·B·A) / ‖W0 + s·B·A‖_row − W0 needs the base W0
 *            ([out, in] after undoing fan_in_fan_out; one L2 norm per output
 *            row). Only Linear DoRA is read (DoRA on an embedding or a
 *            convolution is refused).
 * EMBEDDING  PEFT's lora_embedding_A [r, vocab] / lora_embedding_B [dim, r]:
 *            in_features = vocab, out_features = dim, s·B·A is [dim, vocab],
 *            the TRANSPOSE of the update of the [vocab, dim] embedding table
 *            (PEFT's Embedding.get_delta_weight is transpose(B @ A) · s; its
 *            forward adds s · A^T[ids] @ B^T). Read as a linear map from a
 *            one-hot token to the embedding, the orientation matches LORA.
 * CONV       PEFT's Conv1d/Conv2d/Conv3d LoRA (lora_A [r, C_in, k...],
 *            lora_B [C_out, r, 1...]) and kohya's lora_down [r, C_in(, kh,
 *            kw)] / lora_up [C_out, r(, 1, 1)]: the kernel is reshaped to a
 *            matrix, in_features = C_in·prod(k), out_features = C_out, and
 *            s·B·A reshaped to [C_out, C_in, k...] is the kernel update
 *            (PEFT's Conv get_delta_weight). conv_ndim/conv_kernel/
 *            conv_in_channels record the original shape. (A kohya Linear
 *            module, 2-D down/up, is LORA.)
 * FULL       a tensor saved whole (modules_to_save, or save_embedding_layers:
 *            embed_tokens, lm_head, score): weight holds full_shape's
 *            elements, out_features = full_shape[0], in_features = the rest;
 *            A, B NULL, r 0, scaling 1. It replaces the base tensor, so its
 *            update is weight − W0 (rows may exceed the base's where tokens
 *            were added). FULL modules are kept in lsc_adapter.full, never in
 *            lsc_adapter.modules. */
typedef enum lsc_adapter_kind {
    LSC_ADAPTER_LORA = 0,
    LSC_ADAPTER_DORA,
    LSC_ADAPTER_EMBEDDING,
    LSC_ADAPTER_CONV,
    LSC_ADAPTER_FULL
} lsc_adapter_kind;

typedef struct lsc_adapter_module {
    char  *name;          /* e.g. "h.3.attn.q_proj" or "transformer.h.0.attn.c_attn" */
    lsc_adapter_kind kind;
    int    r;             /* rank (rows of A); 0 for FULL */
    double alpha;         /* lora_alpha after alpha_pattern (kohya: the module's alpha) */
    double scaling;       /* alpha/r, or alpha/sqrt(r) with use_rslora; 1 for FULL */
    int    in_features;   /* k (CONV: C_in·prod(kernel)) */
    int    out_features;  /* d */
    float *A;             /* (r, k)  lora_A / lora_embedding_A / lora_down */
    float *B;             /* (d, r)  lora_B / lora_embedding_B / lora_up */
    float *magnitude;     /* DORA: (d) lora_magnitude_vector; else NULL */
    int    conv_ndim;     /* CONV: 1, 2 or 3 kernel dimensions; else 0 */
    int    conv_kernel[3];
    int    conv_in_channels;
    float *weight;        /* FULL: the tensor (full_shape); else NULL */
    int    full_ndim;
    long long full_shape[4];
    int    n_nonfinite;   /* count of NaN/Inf values in A, B, magnitude, weight */
    char   dtype[8];      /* dtype in the file, e.g. "F32" */
} lsc_adapter_module;

typedef struct lsc_adapter {
    char   *path;                /* the directory (or kohya file) read */
    char   *adapter_name;        /* "default", a subfolder's or a key's name; NULL for kohya */
    int     is_kohya;            /* 1: a kohya/Stable-Diffusion .safetensors file (no config) */
    int     r;                   /* config r (kohya: 0) */
    double  lora_alpha;
    double  lora_dropout;
    int     use_rslora;
    int     use_dora;            /* config "use_dora" */
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
    lsc_pattern **rank_pattern_re;  /* the keys compiled (config reader; NULL: compiled when used) */
    lsc_pattern **alpha_pattern_re;
    int     n_modules;
    lsc_adapter_module *modules; /* factored kinds only; natural order of name */
    int     n_full;
    lsc_adapter_module *full;    /* kind FULL (modules_to_save); natural order */
    int     n_ignored;
    char  **ignored;             /* tensors read as none of the above (e.g. lora_B.bias) */
    /* module name -> index into modules, made by the loader (peft_load.c) for lsc_adapter_find;
     * used only while module_index_of_ == modules and it holds n_modules names (an adapter
     * built or changed otherwise is searched linearly) */
    lsc_hmap module_index_;
    const lsc_adapter_module *module_index_of_;
    /* the weights file as the loader opened it (tensors, metadata), kept
     * until lsc_adapter_free so that a caller listing it need not parse it again */
    lsc_st_file st;
} lsc_adapter;

/* Reads an adapter. spec is
 *   DIR        a PEFT directory: DIR/adapter_config.json (peft_type LORA;
 *              any other type: "not supported: TYPE") and
 *              DIR/adapter_model.safetensors (adapter_model.bin alone is
 *              refused, never unpickled). Several adapters in DIR (PEFT's
 *              save_pretrained writes the default one at the top and every
 *              other one in a subfolder named after it, each with its own
 *              adapter_config.json; or keys carrying adapter names): an
 *              error listing the names.
 *   DIR:NAME   the adapter NAME of DIR (only when DIR:NAME is not itself an
 *              existing path): the subfolder DIR/NAME, the keys carrying
 *              NAME, or "default" for the top level.
 *   FILE       a kohya / Stable-Diffusion LoRA .safetensors file (NAME.lora_down
 *              .weight, NAME.lora_up.weight, NAME.alpha; scaling alpha/r, alpha
 *              = r when absent or 0).
 * Accepted PEFT key forms ("base_model.model." prefix optional, NAME an
 * adapter name):
 *   M.lora_A[.NAME].weight, M.lora_B[.NAME].weight           LORA, CONV
 *   M.lora_embedding_A[.NAME], M.lora_embedding_B[.NAME]      EMBEDDING
 *   M.lora_magnitude_vector[.NAME][.weight]                   DORA
 *   M[.modules_to_save.NAME].weight (no lora_ part)           FULL
 * Checks that every module has both factors, that shapes agree, that r
 * agrees with the config (after rank_pattern), that a DoRA magnitude has
 * out_features elements. Caller frees with lsc_adapter_free (also safe
 * after a failed load). */
int  lsc_adapter_load(lsc_adapter *ad, const char *spec, lsc_error *err);
/* The same with the adapter name apart: path is DIR or FILE as above, name
 * NULL for "the only one". */
int  lsc_adapter_load_named(lsc_adapter *ad, const char *path, const char *name, lsc_error *err);
/* "LoRA", "DoRA", "embedding LoRA", "conv LoRA", "full tensor". */
const char *lsc_adapter_kind_name(lsc_adapter_kind kind);
/* Index of the first module of ad->modules of this kind, or -1. */
int  lsc_adapter_first_of_kind(const lsc_adapter *ad, lsc_adapter_kind kind);
void lsc_adapter_free(lsc_adapter *ad);
/* Writes DIR (created if missing) in PEFT's layout (LORA modules only;
 * any other kind, or ad->full, is refused with LSC_EARG): adapter_config.json with
 * PEFT's fields (sorted keys, indent 2) and adapter_model.safetensors (F32,
 * metadata {"format": "pt"}). Each file goes through a temporary + rename. */
int  lsc_adapter_save(const lsc_adapter *ad, const char *dir, lsc_error *err);
/* Index of a module by exact name, or -1: a hash lookup on a loaded adapter
 * (module_index_), a linear search on one built or changed otherwise. */
int  lsc_adapter_find(const lsc_adapter *ad, const char *name);
/* r and alpha for a module name after rank_pattern/alpha_pattern (PEFT's
 * re.match(r"(.*\.)?(KEY)$", name) rule, get_pattern_key: the first key of
 * each pattern, in file order, that matches wins; pattern.c's matcher). */
void lsc_adapter_module_params(const lsc_adapter *ad, const char *name,
                               int *r, double *alpha);
/* Scaling for a given r and alpha under this config (rsLoRA aware). */
double lsc_adapter_scaling(const lsc_adapter *ad, int r, double alpha);

#endif /* LSC_PEFT_H */
