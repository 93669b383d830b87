/*
 * lsc_model.h — the GPT model (arch_gpt.c model.c model_forward.c
 * model_decode.c model_io.c model_nf4.c; kernels in layers.c).
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 */
#ifndef LSC_MODEL_H
#define LSC_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "lsc_error.h"

// ---- batches (shared by data.c and train.c) ----
/* Fills one batch: inputs/targets (B, T) token ids in [0, V), mask (B, T)
 * loss weights (1 = position counts, 0 = ignored). All randomness comes from
 * *rng, which the trainer saves in its checkpoints so that a resumed run
 * draws exactly the batches an uninterrupted run would. ctx is the data
 * source (borrowed). Returns LSC_OK or a negative code with *err set. */
typedef int (*lsc_batch_fn)(void *ctx, int B, int T, int *inputs, int *targets,
                            float *mask, uint64_t *rng, lsc_error *err);

// ---- the model ----
/*
 * A GPT-2-style decoder (pre-LN, learned positions, causal multi-head
 * attention with separate q/k/v/o, GELU-tanh MLP 4C, final LN, LM head tied
 * to wte) trained on the CPU. llm.c's layout: every base weight lives in ONE
 * contiguous float buffer (params_memory) with named views built from the
 * architecture's parameter table (arch_gpt.c); grads_memory mirrors it exactly (same offsets) and exists only in
 * LSC_GPT_FULL mode. Activations are one buffer sized for (B, T) by an
 * explicit lsc_gpt_alloc_acts. Backward accumulates into the grads; call
 * lsc_gpt_zero_grad once per step. Threads: the GEMMs run on OpenBLAS's
 * threads, everything else is serial; results are bit-identical for the
 * same OPENBLAS_NUM_THREADS.
 *
 *     lsc_gpt m; uint64_t rng; lsc_rng_seed(&rng, 1);
 *     lsc_gpt_config cfg = {.n_layer = 2, .n_head = 2, .n_embd = 64,
 *                           .n_ctx = 64, .vocab = 256};
 *     lsc_gpt_init(&m, &cfg, &err);  lsc_gpt_init_weights(&m, &rng);
 *     lsc_gpt_set_trainable(&m, LSC_GPT_FULL, &err);
 *     lsc_gpt_alloc_acts(&m, B, T, &err);
 *     lsc_gpt_zero_grad(&m);
 *     lsc_gpt_forward(&m, inputs, targets, mask, B, T, &rng, &err);  // m.mean_loss
 *     lsc_gpt_backward(&m, &err);   // grads in m.grads_memory (and the LoRA's)
 *     ... optimiser over (m.params_memory, m.grads_memory, m.num_parameters)
 *     lsc_gpt_free(&m);
 */

/* The architecture of a model (the parameter tables arch_gpt.c, arch_llama.c). */
enum lsc_arch_id {
    LSC_ARCH_GPT   = 0,  /* the GPT above */
    LSC_ARCH_LLAMA = 1,  /* Llama family: RMSNorm, RoPE, SwiGLU, grouped-query
                            attention, no position table, optional q/k/v biases
                            (Qwen2) and untied LM head; Hugging Face tensor names */
};

/* Zero-initialised fields take their defaults, so a GPT config needs only
 * the first five. The Llama fields are ignored for a GPT (head size C/NH,
 * MLP 4C). lsc_gpt_init stores the config with the defaults filled in. */
typedef struct lsc_gpt_config {
    int n_layer;  /* L */
    int n_head;   /* NH, divides n_embd (GPT) */
    int n_embd;   /* C */
    int n_ctx;    /* maximum T (rows of wpe; Llama: the RoPE context) */
    int vocab;    /* V, 256 for bytes */
    int arch;     /* enum lsc_arch_id; 0 = GPT */
    /* Llama only */
    int   n_kv_head;   /* grouped-query attention: divides NH; 0 = NH */
    int   head_dim;    /* hs; 0 = C / NH (then NH must divide C) */
    int   n_ff;        /* SwiGLU hidden width (intermediate_size); 0 = llama2.c's
                          rule: floor(8C/3) rounded up to a multiple of 32 */
    float rope_theta;  /* 0 = 10000 */
    float norm_eps;    /* RMSNorm epsilon; 0 = 1e-5 (llama2.c) */
    int   rope_half;   /* 1: Hugging Face rotate_half pairs (j, j+hs/2); 0: llama2.c /
                          Meta interleaved pairs (2j, 2j+1) */
    int   qkv_bias;    /* q/k/v projections carry biases (Qwen2) */
    int   untied;      /* separate lm_head (else the LM head is embed_tokens) */
} lsc_gpt_config;

/* Checks the config (GPT: 1 <= L <= 64, NH >= 1, C % NH == 0, n_ctx >= 1,
 * 1 <= V; Llama also NKV | NH, hs even, n_ff >= 1, theta > 0, eps > 0). */
int lsc_gpt_config_check(const lsc_gpt_config *cfg, lsc_error *err);
/* c with every 0 default filled in (the GPT's Llama fields left 0). */
lsc_gpt_config lsc_gpt_config_fill(const lsc_gpt_config *c);
/* Resolved sizes (defaults applied): head size, key/value heads, MLP width. */
int lsc_gpt_head_dim(const lsc_gpt_config *c);
int lsc_gpt_kv_heads(const lsc_gpt_config *c);
int lsc_gpt_ff_dim(const lsc_gpt_config *c);
/* "gpt" | "llama"; and back (-1 when unknown). */
const char *lsc_arch_name(int arch);
int         lsc_arch_parse(const char *s);

#define LSC_GPT_NKINDS 20   /* rows of the GPT's parameter table (arch_gpt.c) */
#define LSC_MAX_KINDS  20   /* rows of the largest parameter table (any arch) */

/* The model file: safetensors metadata lsc_format / lsc_format_version. */
#define LSC_GPT_FORMAT         "lorascope-gpt"
#define LSC_GPT_FORMAT_VERSION "1"

/* Named views into params_memory (or grads_memory). Per-layer tensors are
 * stacked over layers: layer l of qw is qw + l*C*C. Weights are (out, in).
 * A union: the GPT's views are the anonymous struct (p->wte), the Llama's
 * p->llama (p->llama.qw), and view[i] is the parameter table's row i. */
typedef union lsc_gpt_params {
    struct {
        float *wte;     // (V, C)
        float *wpe;     // (n_ctx, C)
        float *ln1w;    // (L, C)
        float *ln1b;    // (L, C)
        float *qw;      // (L, C, C)
        float *qb;      // (L, C)
        float *kw;      // (L, C, C)
        float *kb;      // (L, C)
        float *vw;      // (L, C, C)
        float *vb;      // (L, C)
        float *ow;      // (L, C, C)
        float *ob;      // (L, C)
        float *ln2w;    // (L, C)
        float *ln2b;    // (L, C)
        float *fcw;     // (L, 4C, C)   mlp.fc_in
        float *fcb;     // (L, 4C)
        float *fcprojw; // (L, C, 4C)   mlp.fc_out
        float *fcprojb; // (L, C)
        float *lnfw;    // (C)
        float *lnfb;    // (C)
    };
    /* Llama: Q = NH·hs, KV = NKV·hs, F = n_ff; absent kinds are NULL */
    struct lsc_llama_params {
        float *embed;     // (V, C)        model.embed_tokens
        float *attn_norm; // (L, C)        input_layernorm
        float *qw;        // (L, Q, C)
        float *qb;        // (L, Q)        qkv_bias only
        float *kw;        // (L, KV, C)
        float *kb;        // (L, KV)       qkv_bias only
        float *vw;        // (L, KV, C)
        float *vb;        // (L, KV)       qkv_bias only
        float *ow;        // (L, C, Q)
        float *mlp_norm;  // (L, C)        post_attention_layernorm
        float *gate;      // (L, F, C)
        float *up;        // (L, F, C)
        float *down;      // (L, C, F)
        float *norm;      // (C)           model.norm
        float *lm_head;   // (V, C)        untied only
    } llama;
    float *view[LSC_MAX_KINDS];
} lsc_gpt_params;

/* One safetensors tensor of the model (names as DESIGN.md §4). */
typedef struct lsc_gpt_tensor {
    char   name[64];   /* "wte.weight", "h.3.attn.q_proj.weight", "model.layers.3.mlp.up_proj.weight" */
    size_t offset;     /* in floats, into params_memory and grads_memory */
    size_t numel;
    int    ndim;       /* 1 or 2 */
    int    shape[2];
    int    is_matrix;  /* 2-D weight */
    int    decay;      /* AdamW's weight decay applies (the parameter table's rule) */
    int    nf4;        /* 1: held 4-bit (NF4 mode); offset unused, see lsc_gpt_nf4 */
    int    kind;       /* row of the parameter table (view index) */
    int    layer;      /* 0..L-1, or -1 for a tensor outside the blocks */
} lsc_gpt_tensor;

enum lsc_gpt_mode {
    LSC_GPT_FROZEN = 0, /* no base grads allocated; only input grads flow */
    LSC_GPT_FULL   = 1, /* every base weight trainable */
};

typedef struct lsc_gpt_acts lsc_gpt_acts;  /* internal (lsc_internal.h) */
typedef struct lsc_lora lsc_lora;
struct lsc_nf4;        /* nf4.c section below */
struct lsc_nf4_opts;

typedef struct lsc_gpt {
    lsc_gpt_config  config;
    size_t          param_sizes[LSC_MAX_KINDS]; /* floats per view, in view order */
    size_t          num_parameters;
    float          *params_memory;  /* (num_parameters) owned */
    lsc_gpt_params  params;         /* views into params_memory */
    int             mode;           /* enum lsc_gpt_mode */
    float          *grads_memory;   /* (num_parameters) owned; NULL when frozen */
    lsc_gpt_params  grads;          /* views into grads_memory (all NULL when frozen) */
    int             n_tensors;      /* globals + per-layer kinds x L (GPT: 4 + 16 L) */
    lsc_gpt_tensor *tensors;        /* owned; file/name table */
    /* activations: sized for (B_alloc, T_alloc) by lsc_gpt_alloc_acts */
    int             B_alloc, T_alloc;
    lsc_gpt_acts   *acts;           /* owned, internal */
    int             B, T;           /* shape of the last forward */
    float           mean_loss;      /* of the last forward with targets, else -1 */
    float           mask_sum;       /* sum of the mask in the last forward */
    double          loss_denom;     /* > 0: loss and gradient divided by this instead of the mask's
                                       sum: a micro-batch's share of its whole batch (train_dp.c) */
    lsc_lora       *lora;           /* active adapter (borrowed) or NULL */
    /* NF4 mode (QLoRA; lsc_gpt_quantize, lsc_gpt_init_nf4, lsc_gpt_load of an
     * NF4 file): the frozen weights of every target whose bit is set in
     * quant_targets are held 4-bit in nf4 and are NOT in params_memory (their
     * views are NULL, param_sizes 0, table entries nf4 = 1); num_parameters
     * counts only the fp32 buffer. Forward and the input-gradient pass
     * dequantise them tile by tile into nf4_tile (lsc_nf4_matmul_*). */
    int             quant_targets;  /* bit t = enum lsc_lora_target t is NF4; 0 = fp32 model */
    struct lsc_nf4 *nf4;            /* (L, LSC_LORA_NTARGETS) owned when quant_targets != 0 */
    size_t          num_quantized;  /* elements held in NF4 */
    float          *nf4_tile;       /* (nf4_tile_floats) owned dequantisation tile */
    size_t          nf4_tile_floats;
    int             n_ignored;      /* tensors of an imported Hugging Face folder that are not
                                       the model's and were ignored (lsc_gpt_load of a folder) */
    char            ignored_names[256]; /* the first of them, "'a', 'b', 'c', 'd' and N more"
                                       (truncated to fit), "" when none */
} lsc_gpt;

/* Allocates params_memory (zeroed) and the views/tables for cfg; mode is
 * LSC_GPT_FROZEN (no grads) until lsc_gpt_set_trainable. Free with
 * lsc_gpt_free (safe on a zeroed or failed struct). */
int  lsc_gpt_init(lsc_gpt *m, const lsc_gpt_config *cfg, lsc_error *err);
void lsc_gpt_free(lsc_gpt *m);
/* GPT-2 init from the caller's rng: Linear weights and embeddings N(0, 0.02),
 * o_proj and fc_out weights N(0, 0.02/sqrt(2L)), biases 0, LN weight 1 bias 0.
 * fp32 models only (an NF4 model: lsc_gpt_init_nf4). */
void lsc_gpt_init_weights(lsc_gpt *m, uint64_t *rng);
/* Saves as safetensors (F32; config in __metadata__: n_layer, n_head, n_embd,
 * n_ctx, vocab_size, lsc_format LSC_GPT_FORMAT, lsc_format_version
 * LSC_GPT_FORMAT_VERSION),
 * atomically (temporary + rename). An NF4 model writes its quantised weights in
 * bitsandbytes' layout (lsc_nf4_st_entries), as `lorascope quantize` does. */
int  lsc_gpt_save(const lsc_gpt *m, const char *path, lsc_error *err);
/* lsc_gpt_init from the file's config + reads every tensor (F32/F16/BF16),
 * checking names and shapes. On failure *m is freed. A file holding NF4
 * weights (bitsandbytes' layout) loads in NF4 mode: see lsc_gpt_load_nf4.
 * path may also be a Hugging Face folder (lsc_gpt_load_hf, extra tensors
 * ignored) or a llama2.c checkpoint (lsc_gpt_load_llama2c). */
int  lsc_gpt_load(lsc_gpt *m, const char *path, lsc_error *err);
/* LSC_GPT_FULL allocates grads_memory (zeroed); LSC_GPT_FROZEN frees it. */
int  lsc_gpt_set_trainable(lsc_gpt *m, int mode, lsc_error *err);
/* Allocates the activation buffers for batches up to (B, T), T <= n_ctx.
 * Called once; later forwards use any B' <= B, T' <= T (e.g. decoding prefixes).
 * Calling again with another shape reallocates (not inside a step). */
int  lsc_gpt_alloc_acts(lsc_gpt *m, int B, int T, lsc_error *err);
/* Forward over inputs (B, T) token ids. targets (B, T) may be NULL (no loss,
 * mean_loss = -1); mask (B, T) loss weights may be NULL (all 1). Loss =
 * sum(mask·CE)/sum(mask) (0 when the mask is all zero). rng: NULL = inference
 * (no LoRA dropout); non-NULL = training, dropout masks drawn from it in a
 * fixed order. Errors: B/T beyond the allocation or n_ctx, ids out of [0, V). */
int  lsc_gpt_forward(lsc_gpt *m, const int *inputs, const int *targets,
                     const float *mask, int B, int T, uint64_t *rng,
                     lsc_error *err);
/* Key/value cache for decoding: keys and values of every layer for `rows`
 * independent rows of up to T positions (T <= n_ctx). */
typedef struct lsc_kv_cache {
    int    rows, T, n_layer, C;   /* C: the key/value width, n_embd (GPT) or NKV·hs (Llama) */
    float *k, *v;     /* (L, rows, T, C) each, owned */
} lsc_kv_cache;
int  lsc_kv_cache_alloc(lsc_kv_cache *kv, const lsc_gpt *m, int rows, int T, lsc_error *err);
void lsc_kv_cache_free(lsc_kv_cache *kv);   /* safe on a zeroed or freed cache */
/* Incremental inference forward of one position for each of n rows: row b
 * feeds token tokens[b] at position pos[b] of cache row slot[b], whose
 * positions 0..pos[b]-1 must hold that sequence's earlier keys/values; its
 * key/value are stored at pos[b]. The logits and probs of row b are then at
 * b*V of lsc_gpt_logits/lsc_gpt_probs (the shape of the "last forward" is
 * (n, 1)). Equals lsc_gpt_forward on the whole prefix up to float rounding;
 * no dropout, no loss. n <= B_alloc*T_alloc of the activations. */
int  lsc_gpt_forward_step(lsc_gpt *m, lsc_kv_cache *kv, const int *tokens, const int *slot,
                          const int *pos, int n, lsc_error *err);
/* Backward of the last forward (which needs targets). Accumulates into
 * grads_memory (FULL mode) and into the active LoRA's grads (if any and not
 * merged). Frozen base: no weight-gradient GEMMs, only input gradients. */
int  lsc_gpt_backward(lsc_gpt *m, lsc_error *err);
/* Zeroes grads_memory (if any) and the active LoRA's grads. */
void lsc_gpt_zero_grad(lsc_gpt *m);
/* Results of the last forward: logits and probs (B, T, V) row (b, t) at
 * ((size_t)b*T + t)*V with the T of that forward; per-position CE (B, T)
 * (unmasked; valid when targets were given). Borrowed, valid until the next
 * forward. */
const float *lsc_gpt_logits(const lsc_gpt *m);
const float *lsc_gpt_probs(const lsc_gpt *m);
const float *lsc_gpt_losses(const lsc_gpt *m);
/* Tensor table entry by name, or NULL. */
const lsc_gpt_tensor *lsc_gpt_find_tensor(const lsc_gpt *m, const char *name);
/* Weight (out, in) and bias (out) of an adaptable linear layer. */
void lsc_gpt_linear(const lsc_gpt *m, int layer, int target, float **w,
                    float **b, int *out, int *in);
/* Shape (out, in) of LoRA target t's weight in a model of config c; 0, or -1
 * (out, in untouched) when c's architecture has no such layer. */
int  lsc_gpt_linear_shape(const lsc_gpt_config *c, int target, int *out, int *in);
/* Makes lo the active adapter (borrowed; NULL = base only). lo must have been
 * made for m's config. Allocates lo's activation buffers for m's (B, T). */
int  lsc_gpt_set_lora(lsc_gpt *m, lsc_lora *lo, lsc_error *err);

/* QLoRA: NF4 base weights (model_nf4.c; the format is nf4.c's). opts (see
 * lsc_nf4_opts; NULL = blocksize 64, double quant, every linear target)
 * names the targets as LoRA does (q, k, v, o, fc_in, fc_out or q_proj, ...);
 * a target is quantised in every layer. Embeddings, LayerNorms and biases
 * stay fp32. In NF4 mode the model is frozen: LSC_GPT_FULL is refused.
 *
 * Converts the fp32 weights of the opts targets to NF4 and RELEASES their
 * fp32 storage (params_memory is reallocated without them; views into it
 * move). Targets already NF4 are left as they are. Errors (model
 * unchanged): LSC_EARG for a bad blocksize/target, a model in full mode or
 * with a merged adapter; LSC_ENOMEM. */
int  lsc_gpt_quantize(lsc_gpt *m, const struct lsc_nf4_opts *opts, lsc_error *err);
/* lsc_gpt_init + lsc_gpt_init_weights + lsc_gpt_quantize in one, without
 * ever holding the fp32 matrices: each is drawn (same rng sequence as
 * lsc_gpt_init_weights, so the result is bit-identical) into a one-matrix
 * scratch and quantised. Free with lsc_gpt_free (also after failure). */
int  lsc_gpt_init_nf4(lsc_gpt *m, const lsc_gpt_config *cfg, const struct lsc_nf4_opts *opts,
                      uint64_t *rng, lsc_error *err);
/* lsc_gpt_load, quantising the opts targets tensor by tensor as they are
 * read (the fp32 model is never in memory; the file's pages are released
 * after each tensor). Weights the file already holds in NF4 are kept as
 * stored, whatever opts say. Note: lsc_gpt_load itself recognises an NF4
 * file (bitsandbytes layout, lsc_nf4_st_role) and keeps every target that
 * is NF4 in all layers 4-bit; a target NF4 in only some layers is
 * dequantised to fp32 on load. */
int  lsc_gpt_load_nf4(lsc_gpt *m, const char *path, const struct lsc_nf4_opts *opts,
                      lsc_error *err);
/* Back to an fp32 model holding deq(W) (materialises the matrices; frees
 * the NF4 data and the tile). No-op on an fp32 model. lsc_lora_merge calls
 * it, so a merge on an NF4 base gives W = deq(W_nf4) + s·B·A. */
int  lsc_gpt_dequantize(lsc_gpt *m, lsc_error *err);
/* The NF4 weight of (layer, target), or NULL when that weight is fp32
 * (then lsc_gpt_linear gives its pointer; for an NF4 one *w is NULL). */
const struct lsc_nf4 *lsc_gpt_nf4(const lsc_gpt *m, int layer, int target);
/* Bytes the base weights occupy as held: the fp32 buffer, the NF4 data
 * (packed 4-bit + absmax, or 8-bit absmax + nested scales + offset) and the
 * dequantisation tile; returns their sum. parts may be NULL. */
typedef struct lsc_gpt_bytes {
    size_t fp32, nf4, tile;
} lsc_gpt_bytes;
size_t lsc_gpt_weight_bytes(const lsc_gpt *m, lsc_gpt_bytes *parts);

// ---- Hugging Face model folders (model_hf.c) ----
/* Loads a Hugging Face Llama-family folder (LlamaForCausalLM,
 * MistralForCausalLM, Qwen2ForCausalLM; model_type llama/mistral/qwen2;
 * lsc_hf_open reads it) into a Llama-architecture model: config.json ->
 * lsc_gpt_config (n_ctx = max_position_embeddings capped to 65536,
 * rope_half = 1, qkv_bias, untied = the folder holds lm_head.weight and
 * tie_word_embeddings is false), then every table tensor read
 * (F32/F16/BF16 -> float) straight into params_memory from the mmap'ed
 * shards, their pages released after each tile, so the only full copy is
 * the float buffer. Errors, each one line naming the folder or file:
 * LSC_EFORMAT an unsupported architecture (config.json's `architectures`
 * and the supported list) or an o_proj bias; LSC_ENOTFOUND a missing
 * tensor (and the shard expected); LSC_ESHAPE a shape other than
 * config.json's (both shapes); LSC_ENAN NaN/Inf in a tensor (named);
 * truncated shards and bad indexes as lsc_hf_open reports them. Tensors
 * outside the table (RoPE's "...rotary_emb.inv_freq" buffers excepted) are
 * LSC_EFORMAT naming the first few unless allow_extra, then never read,
 * counted in *n_extra (may be NULL) and the first 4 named in m->ignored_names. tie_word_embeddings true with an
 * lm_head.weight: ignored when equal to embed_tokens, else LSC_EFORMAT.
 * On failure *m is freed. */
int lsc_gpt_load_hf(lsc_gpt *m, const char *dir, int allow_extra, int *n_extra, lsc_error *err);
/* Writes m (a Llama-architecture fp32 model; a GPT or NF4 model is
 * LSC_EARG) as a Hugging Face folder dir (created if needed): config.json
 * (LlamaForCausalLM, or Qwen2ForCausalLM when qkv_bias; torch_dtype
 * float32; max_position_embeddings = n_ctx) and F32 safetensors in the
 * table's order, one model.safetensors when the total is <= shard_bytes,
 * else model-0000k-of-0000n.safetensors shards (each <= shard_bytes unless
 * one tensor is larger) plus model.safetensors.index.json (a stale
 * model.safetensors, which would shadow the index, is removed). Every file
 * is written atomically. A llama2.c-layout model (rope_half 0) is written
 * in the rotate_half layout: q_proj/k_proj rows (and biases) permuted per
 * head as Hugging Face's convert_llama_weights_to_hf.py does, so the
 * folder computes the same function. */
int lsc_gpt_save_hf(const lsc_gpt *m, const char *dir, size_t shard_bytes, lsc_error *err);

// ---- llama2.c checkpoints (model_llama2c.c) ----
/* Reads a llama2.c checkpoint into a Llama-architecture model (lsc_gpt_init
 * inside; free with lsc_gpt_free; on failure *m is freed). Formats
 * (karpathy/llama2.c export.py): the legacy v0 file (7 int32 dim,
 * hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size (negative: a
 * separate classifier wcls), seq_len; float32 tensors in run.c's order, the
 * two RoPE tables skipped) and the fp32 "version 1" export (magic "ak42",
 * 256-byte header with a shared-classifier flag). Config: rope_half 0
 * (interleaved pairs), rope_theta 10000, norm_eps 1e-5, head_dim =
 * dim / n_heads, n_ff = hidden_dim, n_ctx = seq_len, untied when the
 * classifier is separate. Names: token_embedding_table -> model.embed_tokens,
 * rms_att -> input_layernorm, wq/wk/wv/wo -> self_attn.{q,k,v,o}_proj,
 * rms_ffn -> post_attention_layernorm, w1 -> mlp.gate_proj, w2 ->
 * mlp.down_proj, w3 -> mlp.up_proj, rms_final -> model.norm, wcls -> lm_head.
 * Each tensor is read straight into the model's buffer (no second copy).
 * Errors, each one message naming the file: LSC_EIO; LSC_EFORMAT for a
 * header field out of range (named), n_kv_heads not dividing n_heads,
 * n_heads not dividing dim, a file size other than the header implies
 * (truncated / trailing bytes, both sizes given); LSC_EVERSION for another
 * version (2 = int8); LSC_ENAN naming the tensor; LSC_ENOMEM. */
int lsc_gpt_load_llama2c(lsc_gpt *m, const char *path, lsc_error *err);
/* 1 when the file at path starts like a llama2.c checkpoint and not like a
 * safetensors file (magic "ak42", or seven small int32 with dim >= 1): what
 * lsc_gpt_load dispatches on. 0 otherwise, also when it cannot be read. */
int lsc_is_llama2c_file(const char *path);

#endif /* LSC_MODEL_H */
