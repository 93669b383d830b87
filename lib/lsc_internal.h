/*
 * lsc_internal.h — internals shared by lib/ and tests/ (never installed).
 *
 * Allocation goes through LSC_MALLOC/LSC_CALLOC/LSC_REALLOC/LSC_FREE so a
 * build can point them at another allocator (tests use this for failing
 * allocations). LSC_ASSERT is for bugs: it prints file:line and aborts.
 */
#ifndef LSC_INTERNAL_H
#define LSC_INTERNAL_H

#include <stdio.h>
#include <stdlib.h>

#include "lsc.h"
#include "arch.h"

#ifndef LSC_MALLOC
#define LSC_MALLOC(n)     malloc(n)
#define LSC_CALLOC(n, s)  calloc((n), (s))
#define LSC_REALLOC(p, n) realloc((p), (n))
#define LSC_FREE(p)       free(p)
#endif

#if defined(__GNUC__)
#define LSC_NORETURN __attribute__((noreturn))
#else
#define LSC_NORETURN
#endif

LSC_NORETURN void lsc_abort_(const char *file, int line, const char *fmt, ...);

#define LSC_ABORT(...) lsc_abort_(__FILE__, __LINE__, __VA_ARGS__)
#define LSC_ASSERT(x) \
    do { if (!(x)) lsc_abort_(__FILE__, __LINE__, "assertion failed: %s", #x); } while (0)

/* A function whose unsigned arithmetic wraps on purpose (hashes, RNG):
 * exempt from clang's -fsanitize=integer (`make asan` with clang). */
#if defined(__clang__)
#define LSC_WRAPS __attribute__((no_sanitize("integer")))
#else
#define LSC_WRAPS
#endif

/* strdup through LSC_MALLOC; NULL in, NULL out. */
char *lsc_strdup_(const char *s);

/* Reads a whole file into a NUL-terminated heap buffer (caller frees). */
int lsc_read_file_(const char *path, char **out, size_t *n, lsc_error *err);
/* peft.c: adapter_config.json at cfg_path into ad's config fields (peft_load.c). */
int lsc_peft_parse_config_(lsc_adapter *ad, const char *cfg_path, lsc_error *err);

/* Instruction record tokens (data_tok.c, lsc_instruct_load's rule): *ids
 * (heap, caller frees) = prompt + output + end (LF / EOS), *n_prompt the
 * prompt part; output NULL: encode(BOS + prompt) alone (the prompt's bytes
 * without tok), *n_prompt = *n_ids. path and rec (1-based) name errors. */
int lsc_instruct_encode_(const lsc_tokenizer *tok, const char *prompt, const char *output, int **ids,
                         int *n_ids, int *n_prompt, const char *path, int rec, lsc_error *err);

/* Shared by the rank classifiers (task_eval.c, instruct_eval.c):
 * log-sum-exp of one logits row in double, *best (may be NULL) its argmax,
 * the lowest index on ties (lsc_decode's greedy choice); the keys/values of
 * positions [0, plen[g]) of cache row g·L copied to rows g·L + 1..L-1 for
 * g < G; and the tally of ll (n, L) against gold (n) and the greedy gp (n):
 * rank_pred (may be NULL) = row argmax (ties: lowest), res->accuracy and
 * rank_accuracy, res->loss = -sum of the gold entries (not yet divided). */
double lsc_log_sum_exp_(const float *x, int V, int *best);
void   lsc_kv_share_prefix_(lsc_kv_cache *kv, int G, int L, const int *plen);
void   lsc_rank_tally_(const double *ll, const int *gold, const int *gp, int n, int L, int *rank_pred,
                       lsc_task_eval_result *res);
/* Both classifiers' working arrays: lsc_rank_bufs_init_ sets res to no result (n 0,
 * accuracies and loss NaN) and, for n >= 1 and L >= 1 (other sizes: no
 * arrays, the caller's item check reports them), gp = pred or owned (n),
 * ll = label_ll or owned (n, L), gold owned (n); LSC_ENOMEM "<what>: out of
 * memory". lsc_rank_bufs_free_ releases what b owns, after any init. */
typedef struct lsc_rank_bufs_ {
    int    *gp;          /* (n) greedy predictions */
    double *ll;          /* (n, L) label log-likelihoods */
    int    *gold;        /* (n) gold label indices */
    int    *pred;        /* the caller's arrays (may be NULL), never freed here */
    double *label_ll;
} lsc_rank_bufs_;
int    lsc_rank_bufs_init_(lsc_rank_bufs_ *b, lsc_task_eval_result *res, int n, int L, int *pred,
                           double *label_ll, const char *what, lsc_error *err);
void   lsc_rank_bufs_free_(lsc_rank_bufs_ *b);

// ---- kernels (layers.c): forward/backward pairs; float fast + double naive ----
/* Backward kernels accumulate (+=); a NULL gradient pointer skips that
 * gradient (a frozen weight gets no dW GEMM). Linear weights are (OC, C). */
void lsc_encoder_forward_(float *out, const int *inp, const float *wte,
                          const float *wpe, int B, int T, int C);
void lsc_encoder_backward_(float *dwte, float *dwpe, const float *dout,
                           const int *inp, int B, int T, int C);
void lsc_layernorm_forward_(float *out, float *mean, float *rstd,
                            const float *inp, const float *w, const float *b,
                            int N, int C);
void lsc_layernorm_backward_(float *dinp, float *dw, float *db,
                             const float *dout, const float *inp,
                             const float *w, const float *mean,
                             const float *rstd, int N, int C);
void lsc_matmul_forward_(float *out, const float *inp, const float *w,
                         const float *bias, int N, int C, int OC);
void lsc_matmul_backward_(float *dinp, float *dw, float *dbias,
                          const float *dout, const float *inp, const float *w,
                          int N, int C, int OC);
/* In place: s[0..t] <- softmax(s[0..t]), s[t+1..T) <- 0 (one row of causal
 * attention; also the decoding step's, so both use the same exp). */
void lsc_causal_softmax_row_(float *s, int t, int T);
void lsc_gelu_forward_(float *out, const float *inp, size_t n);
void lsc_gelu_backward_(float *dinp, const float *inp, const float *dout, size_t n);
void lsc_residual_forward_(float *out, const float *a, const float *b, size_t n);
void lsc_softmax_forward_(float *probs, const float *logits, int N, int V);
void lsc_crossentropy_forward_(float *losses, const float *logits,
                               const int *targets, int N, int V);
void lsc_crossentropy_softmax_backward_(float *dlogits, const float *probs,
                                        const int *targets, const float *dloss,
                                        int N, int V);
void lsc_lora_forward_(float *out, float *u, const float *inp, const float *A,
                       const float *Bw, float scale, int N, int C, int r, int OC);
/* du (N,r) scratch; dx (N,C) scratch used only with dmask (dropout scale per
 * element, 0 or 1/(1-p)); dinp/dA/dB may be NULL. */
void lsc_lora_backward_(float *dinp, float *dA, float *dB, float *du,
                        float *dx, const float *dout, const float *inp,
                        const float *u, const float *A, const float *Bw,
                        const float *dmask, float scale, int N, int C, int r,
                        int OC);

void lsc_encoder_forward_naive_(double *out, const int *inp, const double *wte,
                                const double *wpe, int B, int T, int C);
void lsc_encoder_backward_naive_(double *dwte, double *dwpe, const double *dout,
                                 const int *inp, int B, int T, int C);
void lsc_layernorm_forward_naive_(double *out, double *mean, double *rstd,
                                  const double *inp, const double *w,
                                  const double *b, int N, int C);
void lsc_layernorm_backward_naive_(double *dinp, double *dw, double *db,
                                   const double *dout, const double *inp,
                                   const double *w, const double *mean,
                                   const double *rstd, int N, int C);
void lsc_matmul_forward_naive_(double *out, const double *inp, const double *w,
                               const double *bias, int N, int C, int OC);
void lsc_matmul_backward_naive_(double *dinp, double *dw, double *dbias,
                                const double *dout, const double *inp,
                                const double *w, int N, int C, int OC);
void lsc_attention_forward_naive_(double *out, double *att, const double *q,
                                  const double *k, const double *v, int B,
                                  int T, int C, int NH);
void lsc_attention_backward_naive_(double *dq, double *dk, double *dv,
                                   double *datt, const double *dout,
                                   const double *att, const double *q,
                                   const double *k, const double *v, int B,
                                   int T, int C, int NH);
void lsc_gelu_forward_naive_(double *out, const double *inp, size_t n);
void lsc_gelu_backward_naive_(double *dinp, const double *inp, const double *dout, size_t n);
void lsc_residual_forward_naive_(double *out, const double *a, const double *b, size_t n);
void lsc_softmax_forward_naive_(double *probs, const double *logits, int N, int V);
void lsc_crossentropy_forward_naive_(double *losses, const double *logits,
                                     const int *targets, int N, int V);
void lsc_crossentropy_softmax_backward_naive_(double *dlogits, const double *probs,
                                              const int *targets,
                                              const double *dloss, int N, int V);
void lsc_lora_forward_naive_(double *out, double *u, const double *inp,
                             const double *A, const double *Bw, double scale,
                             int N, int C, int r, int OC);
void lsc_lora_backward_naive_(double *dinp, double *dA, double *dB,
                              const double *dout, const double *inp,
                              const double *u, const double *A,
                              const double *Bw, const double *dmask,
                              double scale, int N, int C, int r, int OC);

// ---- Llama kernels (layers_llama.c) ----
/* layers.c's conventions (backward accumulates, NULL = not wanted), except
 * lsc_rope_backward_, which maps dx in place. */
/* RMSNorm: out[i,:] = inp[i,:] · rstd[i] · w, rstd[i] = 1/sqrt(mean_j inp[i,j]² + eps);
 * rstd (N) cached for backward. */
void lsc_rmsnorm_forward_(float *out, float *rstd, const float *inp, const float *w,
                          float eps, int N, int C);
void lsc_rmsnorm_backward_(float *dinp, float *dw, const float *dout, const float *inp,
                           const float *w, const float *rstd, int N, int C);
/* Rotary position embedding in place on x: N rows of nh heads of hs (even)
 * channels, row i at position pos[i]; pair j in [0, hs/2) is rotated by
 * pos·theta^(-2j/hs) in run.c's float expressions. interleaved = 1 pairs
 * (x[2j], x[2j+1]) (llama2.c/Meta), 0 pairs (x[j], x[j+hs/2]) (Hugging Face
 * rotate_half). Backward: the transpose rotation of dx, in place, NOT
 * accumulating. */
void lsc_rope_forward_(float *x, const int *pos, int N, int nh, int hs, float theta, int interleaved);
void lsc_rope_backward_(float *dx, const int *pos, int N, int nh, int hs, float theta, int interleaved);
/* SwiGLU: h = silu(gate) · up, silu(g) = g / (1 + e^-g), n elements. */
void lsc_swiglu_forward_(float *h, const float *gate, const float *up, size_t n);
void lsc_swiglu_backward_(float *dgate, float *dup, const float *dh, const float *gate,
                          const float *up, size_t n);
/* Causal grouped-query attention, the one attention kernel of both
 * families: q, out (B,T,NH·hs); k, v (B,T,NKV·hs);
 * NKV divides NH, query head h uses kv head h / (NH/NKV); scale 1/sqrt(hs);
 * att (B,NH,T,T) the softmax probabilities (upper triangle 0). NKV == NH
 * is multi-head attention: the GPT's, with C = NH·hs (its double reference
 * is lsc_attention_forward_naive_/backward_naive_). Backward
 * accumulates into dq, dk, dv; datt (B,NH,T,T) scratch. */
void lsc_attention_gqa_forward_(float *out, float *att, const float *q, const float *k,
                                const float *v, int B, int T, int NH, int NKV, int hs);
void lsc_attention_gqa_backward_(float *dq, float *dk, float *dv, float *datt, const float *dout,
                                 const float *att, const float *q, const float *k, const float *v,
                                 int B, int T, int NH, int NKV, int hs);
/* Defined in layers.c beside lsc_causal_softmax_row_ (both attentions'
 * backward use it): in place, d = dP of row t becomes dS = p ⊙ (dP − Σ_j p dP)
 * over [0, t] and 0 after t. */
void lsc_causal_softmax_backward_row_(float *d, const float *p, int t, int T);

void lsc_rmsnorm_forward_naive_(double *out, double *rstd, const double *inp, const double *w,
                                double eps, int N, int C);
void lsc_rmsnorm_backward_naive_(double *dinp, double *dw, const double *dout, const double *inp,
                                 const double *w, const double *rstd, int N, int C);
void lsc_rope_forward_naive_(double *x, const int *pos, int N, int nh, int hs, double theta,
                             int interleaved);
void lsc_rope_backward_naive_(double *dx, const int *pos, int N, int nh, int hs, double theta,
                              int interleaved);
void lsc_swiglu_forward_naive_(double *h, const double *gate, const double *up, size_t n);
void lsc_swiglu_backward_naive_(double *dgate, double *dup, const double *dh, const double *gate,
                                const double *up, size_t n);
void lsc_attention_gqa_forward_naive_(double *out, double *att, const double *q, const double *k,
                                      const double *v, int B, int T, int NH, int NKV, int hs);
void lsc_attention_gqa_backward_naive_(double *dq, double *dk, double *dv, double *datt,
                                       const double *dout, const double *att, const double *q,
                                       const double *k, const double *v, int B, int T, int NH,
                                       int NKV, int hs);

// ---- GPT activations (model.c) ----
/* One buffer sized for (B_alloc, T_alloc); per-layer arrays are indexed with
 * the B, T of the current forward: layer l of ln1 is ln1 + l*B*T*C. The
 * Llama uses the same buffers with its widths (q, atty: Q = NH·hs; k, v:
 * KV = NKV·hs; ln1/ln2 hold the RMSNorm outputs and ln*_rstd their 1/rms;
 * ln*_mean unused) — shapes below are the GPT's. */
struct lsc_gpt_acts {
    float  *memory;
    size_t  num;
    float *encoded;    // (B,T,C)
    float *ln1;        // (L,B,T,C)
    float *ln1_mean;   // (L,B,T)
    float *ln1_rstd;   // (L,B,T)
    float *q;          // (L,B,T,C)
    float *k;          // (L,B,T,C)
    float *v;          // (L,B,T,C)
    float *att;        // (L,B,NH,T,T)
    float *atty;       // (L,B,T,C)
    float *attproj;    // (L,B,T,C)
    float *residual2;  // (L,B,T,C)
    float *ln2;        // (L,B,T,C)
    float *ln2_mean;   // (L,B,T)
    float *ln2_rstd;   // (L,B,T)
    float *fch;        // (L,B,T,4C)   Llama: gate (L,B,T,F)
    float *fch_gelu;   // (L,B,T,4C)   Llama: silu(gate)·up (L,B,T,F)
    float *up;         // (L,B,T,F)    Llama only (NULL for the GPT)
    float *fcproj;     // (L,B,T,C)
    float *residual3;  // (L,B,T,C)
    float *lnf;        // (B,T,C)
    float *lnf_mean;   // (B,T)
    float *lnf_rstd;   // (B,T)
    float *logits;     // (B,T,V)
    float *probs;      // (B,T,V)
    float *losses;     // (B,T)
    float *dloss;      // (B,T) mask/sum(mask): each position's weight in the loss
    /* backward scratch, one layer at a time */
    float *dres;       // (B,T,C) gradient of the residual stream
    float *dln;        // (B,T,C)
    float *dq;         // (B,T,C)
    float *dk;         // (B,T,C)
    float *dv;         // (B,T,C)
    float *datty;      // (B,T,C)
    float *datt;       // (B,NH,T,T)
    float *dfch;       // (B,T,4C)     Llama: dgate
    float *dfch_gelu;  // (B,T,4C)     Llama: d(silu(gate)·up)
    float *dup;        // (B,T,F)      Llama only
    float *dlogits;    // (B,T,V)
    int   *inputs;     // (B,T) copy of the last forward's inputs
    int   *targets;    // (B,T) copy of its targets
    int   *pos;        // (B,T) positions of the rows (RoPE): t, or the decoding step's
    int    has_targets;
};

// ---- the GPT's parameters across model*.c ----
/* Floats per kind (the size table, in the parameter table's order); the
 * kinds of the targets in qmask (NF4) get 0 floats. */
void   lsc_gpt_param_sizes_(size_t *sz, const lsc_gpt_config *cfg, int qmask);
/* Points the views at consecutive slices of mem (NULL for empty kinds). */
void   lsc_gpt_point_params_(lsc_gpt_params *p, const lsc_gpt_config *cfg, float *mem,
                             const size_t *sz);
/* (Re)builds m->tensors from m->param_sizes and m->quant_targets. */
void   lsc_gpt_fill_tensors_(lsc_gpt *m);
/* lsc_gpt_init with the targets of qmask held in NF4: the buffer leaves
 * them out and m->nf4 (zeroed slots) and the tile are allocated. */
int    lsc_gpt_init_q_(lsc_gpt *m, const lsc_gpt_config *cfg, int qmask, lsc_error *err);
/* The GPT-2 init of table entry t (its init rule) into p (t->numel floats). */
void   lsc_gpt_draw_tensor_(const lsc_gpt *m, const lsc_gpt_tensor *t, float *p, uint64_t *rng);
/* Dequantisation tile for the targets in qmask: the largest
 * lsc_nf4_tile_floats of their shapes (0 for none). */
size_t lsc_gpt_tile_floats_(const lsc_gpt_config *c, int qmask);
/* Elements the targets in qmask hold over all layers. */
size_t lsc_gpt_quantized_count_(const lsc_gpt_config *c, int qmask);
/* Target mask, blocksize and double-quant flag of opts (NULL: every linear
 * target of c's architecture, 64, double quant — QLoRA's setting); a target
 * the architecture lacks is an error; model_nf4.c. */
int    lsc_gpt_nf4_opts_parse_(const lsc_gpt_config *c, const struct lsc_nf4_opts *opts, int *mask,
                               int *bs, int *dq, lsc_error *err);
/* Largest numel of the table's NF4 tensors (the scratch a loader needs). */
size_t lsc_gpt_nf4_scratch_floats_(const lsc_gpt *m);
/* A linear layer plus its adapter module, if any (model_forward.c). */
void   lsc_gpt_linear_forward_(lsc_gpt *m, int l, int target, float *out, const float *inp, int N,
                               uint64_t *rng);

/* Backward of lsc_gpt_linear_forward_: dinp (may be NULL) += dout·W (and the
 * adapter's part); in full mode the weight's (and bias's) gradients too. */
void   lsc_gpt_linear_backward_(lsc_gpt *m, int l, int target, float *dinp, const float *dout,
                                const float *inp, int N);
/* lsc_gpt_forward's checks and bookkeeping (inputs, targets, positions t,
 * LoRA buffers and dropout flag, m->B/T); then an architecture's layers fill
 * the logits and lsc_gpt_forward_loss_ the probabilities and the loss. */
int    lsc_gpt_forward_setup_(lsc_gpt *m, const int *inputs, const int *targets, int B, int T,
                              uint64_t *rng, lsc_error *err);
void   lsc_gpt_forward_loss_(lsc_gpt *m, const int *targets, const float *mask);
/* The lowest layer backward must reach: 0 in full mode, the lowest adapted
 * layer with an unmerged adapter, -1 when nothing is trainable. */
int    lsc_gpt_lowest_layer_(const lsc_gpt *m);
/* Attention of one new position per row against cache rows (model_decode.c):
 * q, out (n, NH·hs); cache (rows, Tk, NKV·hs); p (Tk) scratch. */
void   lsc_attention_step_(float *out, const float *q, const float *kc, const float *vc, const int *slot,
                           const int *pos, int n, int Tk, int NH, int NKV, int hs, float *p);
/* The Llama's layers (model_llama.c): forward of the stored inputs up to the
 * logits; backward of the last forward; the decoding step (checked by
 * lsc_gpt_forward_step). */
void   lsc_llama_forward_(lsc_gpt *m, uint64_t *rng);
void   lsc_llama_backward_(lsc_gpt *m);
void   lsc_llama_forward_step_(lsc_gpt *m, lsc_kv_cache *kv, const int *tokens, const int *slot,
                               const int *pos, int n);

/* Slot of (layer, target) in m->nf4. */
static inline size_t lsc_gpt_nf4_slot_(int layer, int target)
{
    return (size_t)layer * LSC_LORA_NTARGETS + (size_t)target;
}

/* Slot in m->nf4 of table entry t, which must be a per-layer linear weight. */
static inline size_t lsc_gpt_tensor_slot_(const lsc_gpt *m, const lsc_gpt_tensor *t)
{
    int target = lsc_arch_of_(&m->config)->params[t->kind].linear;
    LSC_ASSERT(t->layer >= 0 && target >= 0);
    return lsc_gpt_nf4_slot_(t->layer, target);
}

// ---- one LoRA module inside the model's passes (lora_layer.c) ----
/* Sizes lo's activation caches for n_batch x n_time rows (no-op when big
 * enough). */
int  lsc_lora_alloc_acts_(lsc_lora *lo, int n_batch, int n_time, lsc_error *err);
/* Module i on N rows: out (N,OC) += scale·B·A·drop(inp) (B the factor); rng NULL = no
 * dropout. Caches what backward needs. */
void lsc_lora_module_forward_(lsc_lora *lo, int i, float *out, const float *inp,
                              int N, uint64_t *rng);
/* dA, dB of module i accumulated into lo->grads; dinp (N,C) += input grad. */
void lsc_lora_module_backward_(lsc_lora *lo, int i, float *dinp,
                               const float *dout, const float *inp, int N);

// ---- linear algebra shared by linalg.c, topk.c, simd.c, grassmann.c ----
static inline int    lsc_mini_(int a, int b) { return a < b ? a : b; }
static inline int    lsc_maxi_(int a, int b) { return a > b ? a : b; }
static inline size_t lsc_maxz_(size_t a, size_t b) { return a > b ? a : b; }
/* doubles needed to hold n lapack_ints */
size_t lsc_ints_as_doubles_(size_t n);
/* 1 when all n values are finite */
int    lsc_all_finite_(size_t n, const double *x);
/* LAPACK's optimal lwork from a workspace query (lwork = -1). */
size_t lsc_lwork_of_(double q);
/* lapack lwork for an orthonormal basis of a row-major (m, p) matrix, p <= m:
 * dgelqf + dorglq on its column-major (p, m) view. */
size_t lsc_qr_cols_lwork_(int m, int p);
/* Overwrites the row-major (m, p) matrix X (p <= m) with an orthonormal
 * basis of its column space (thin QR, Q only). tau: p doubles; w: lw
 * doubles, at least lsc_qr_cols_lwork_(m, p). */
void   lsc_orthonormalize_cols_(int m, int p, double *X, double *tau, double *w, size_t lw);
/* Columns per call of the fused kernels (simd.c). */
#define LSC_MTM_CHUNK 16
/* Z (n, b) = Mᵀ·M·Q for a float M (m, n) through the fused kernels,
 * LSC_MTM_CHUNK columns at a time; Q, Z row-major double (n, b), b a
 * multiple of LSC_MTM_CHUNK. f32: the float kernel (Q rounded to float),
 * else M promoted to double. chunk: 2·n·LSC_MTM_CHUNK + 8 doubles of
 * scratch (aligned to 64 bytes inside). */
void   lsc_mtm_apply_(int m, int n, int b, const float *M, const double *Q, double *Z, int f32,
                      double *chunk);

// ---- sha256 block functions (sha256.c) ----
/* nblocks 64-byte blocks into state h: the portable C rounds (the
 * reference), and the CPU's SHA extensions when present (returns 1 if it
 * ran, 0 when the CPU lacks them and nothing was done). */
void lsc_sha256_blocks_portable_(uint32_t h[8], const uint8_t *p, size_t nblocks);
int  lsc_sha256_blocks_accel_(uint32_t h[8], const uint8_t *p, size_t nblocks);

// ---- NF4 internals shared by nf4.c and nf4_file.c ----
/* 1 if bs is a blocksize bitsandbytes supports. */
int    lsc_nf4_blocksize_ok_(int bs);
/* Bytes of q's scale constants (absmax, or 8-bit absmax + nested scales + offset). */
size_t lsc_nf4_constant_bytes_(const lsc_nf4 *q);

// ---- data.c and data_tok.c: the batch rules they share (defined in data.c) ----
/* The argument checks of every lsc_batch_fn ("who: NULL argument", shape). */
int    lsc_batch_check_(const void *ctx, int B, int T, const int *inputs, const int *targets,
                        const float *mask, const uint64_t *rng, const char *who, lsc_error *err);
/* A sequence of n tokens is bytes[0..n), or ids[0..n) when bytes == NULL.
 * lsc_seq_row_: one row (T) from offset o (targets past the end: 0, mask 0);
 * lsc_seq_batch_: lsc_corpus_batch's rule (one lsc_rng_u64 draw per row,
 * o = draw % (n - T); LSC_EARG naming name and unit when n < T + 1);
 * lsc_seq_n_windows_: lsc_corpus_n_windows's count. */
void   lsc_seq_row_(const uint8_t *bytes, const int *ids, size_t n, size_t o, int T,
                    int *inputs, int *targets, float *mask);
int    lsc_seq_batch_(const uint8_t *bytes, const int *ids, size_t n, const char *name,
                      const char *unit, int B, int T, int *inputs, int *targets, float *mask,
                      uint64_t *rng, lsc_error *err);
size_t lsc_seq_n_windows_(size_t n, int T);
/* lsc_tokens_from_corpus with the chunk size (bytes) as an argument, so
 * tests can check on a small text that chunking leaves the ids unchanged
 * (data_tok.c). */
int    lsc_tokens_from_corpus_(lsc_tokens *t, const lsc_corpus *c, const lsc_tokenizer *tok,
                               size_t chunk, lsc_error *err);

// ---- training steps (train_update.c, train_dp.c) ----
/* The optimiser half of a step, once tr->grads holds the step's gradient and loss its loss:
 * NaN/Inf checks, global norm, clipping, AdamW (weight decay per tensor in full mode), the log
 * row, step + 1. Shared by lsc_trainer_step and the data-parallel step. */
int    lsc_trainer_update_(lsc_trainer *tr, double loss, lsc_error *err);
/* One data-parallel step (lsc_trainer_set_dp): micro-batches, reduction, update. */
int    lsc_trainer_step_dp_(lsc_trainer *tr, lsc_error *err);
/* 1 when this trainer writes files: no comm, or rank 0. */
int    lsc_trainer_writes_(const lsc_trainer *tr);

#endif /* LSC_INTERNAL_H */
