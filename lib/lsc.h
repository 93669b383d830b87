/*
 * lsc.h — the public interface of liblorascope.
 *
 * liblorascope trains LoRA adapters on a small GPT-style model and analyses
 * the low-rank updates dW = s·B·A they learn (spectra, subspace similarity,
 * amplification of the frozen W). It is a library: no main(), no exit(), no
 * mutable global state. Errors are negative LSC_E* codes with the details in
 * a caller-owned lsc_error; bugs abort through LSC_ASSERT.
 *
 * Shape vocabulary (used in every trailing comment): B batch, T time,
 * C channels (n_embd), V vocabulary, L layers, NH heads, r LoRA rank,
 * OC output channels; d = out features, k = in features of a weight W (d, k).
 * Matrices are flat and row-major.
 *
 * Worked example — the singular values of every module of a PEFT adapter:
 *
 *     lsc_error err;
 *     lsc_adapter ad;
 *     if (lsc_adapter_load(&ad, "my-adapter", &err) != LSC_OK) {
 *         fprintf(stderr, "%s\n", err.msg);
 *         return 1;
 *     }
 *     for (int i = 0; i < ad.n_modules; i++) { ... ad.modules[i].A ... }
 *     lsc_adapter_free(&ad);
 *
 * Sections of this header are owned by one .c file each (named in the rule
 * line); keep declarations next to their section.
 */
#ifndef LSC_H
#define LSC_H

#include <stddef.h>
#include <stdint.h>

#define LSC_VERSION "0.1.0"

// ---- errors (error.c) ----

enum lsc_status {
    LSC_OK        = 0,
    LSC_EIO       = -1,  /* cannot open/read/write a file */
    LSC_EFORMAT   = -2,  /* malformed file contents */
    LSC_ESHAPE    = -3,  /* shapes disagree */
    LSC_ENOMEM    = -4,  /* allocation failed */
    LSC_EARG      = -5,  /* invalid argument from the user */
    LSC_ENOCONV   = -6,  /* LAPACK did not converge */
    LSC_ENOTFOUND = -7,  /* a named tensor/module/file is missing */
    LSC_EHDF5     = -8,  /* the HDF5 library reported an error */
    LSC_ENAN      = -9,  /* NaN or Inf where finite numbers are required */
    LSC_EVERSION  = -10, /* unknown format version */
};

typedef struct lsc_error {
    int code;        /* one of enum lsc_status */
    char msg[512];   /* one line, names the file and the problem */
    const char *file; /* source file that raised it (for debugging) */
    int line;
} lsc_error;

/* Static string for a code; never NULL. */
const char *lsc_strerror(int code);

/* Fills *err (may be NULL) and returns code. The single breakpoint for every
 * recoverable failure; call it through LSC_FAIL. */
int lsc_error_set(lsc_error *err, int code, const char *file, int line,
                  const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

#define LSC_FAIL(err, code, ...) \
    return lsc_error_set((err), (code), __FILE__, __LINE__, __VA_ARGS__)

// ---- random numbers (rng.c) ----
/* Caller-owned 64-bit state; the same seed gives the same stream everywhere. */

void     lsc_rng_seed(uint64_t *state, uint64_t seed);
uint64_t lsc_rng_u64(uint64_t *state);
uint32_t lsc_rng_u32(uint64_t *state);
float    lsc_rng_uniform(uint64_t *state);   /* [0, 1) with 24 random bits */
double   lsc_rng_uniform_d(uint64_t *state); /* [0, 1) with 53 random bits */
double   lsc_rng_normal(uint64_t *state);    /* standard normal (Box-Muller) */

// ---- sha256 (sha256.c) ----

typedef struct lsc_sha256 {
    uint32_t h[8];
    uint64_t nbytes;
    uint8_t  buf[64];
    size_t   nbuf;
} lsc_sha256;

void lsc_sha256_init(lsc_sha256 *s);
void lsc_sha256_update(lsc_sha256 *s, const void *data, size_t n);
void lsc_sha256_final(lsc_sha256 *s, char hex[65]);
/* sha256 of a whole file as 64 hex digits + NUL. */
int  lsc_sha256_file(const char *path, char hex[65], lsc_error *err);
/* sha256 of every regular file in a directory, sorted by name, hashed as
 * "name\0" + file bytes: one digest for an adapter directory. */
int  lsc_sha256_path(const char *path, char hex[65], lsc_error *err);

// ---- safetensors (safetensors.c) ----

typedef enum lsc_dtype {
    LSC_DT_BOOL, LSC_DT_U8, LSC_DT_I8, LSC_DT_I16, LSC_DT_U16, LSC_DT_F16,
    LSC_DT_BF16, LSC_DT_I32, LSC_DT_U32, LSC_DT_F32, LSC_DT_F64, LSC_DT_I64,
    LSC_DT_U64, LSC_DT_COUNT
} lsc_dtype;

const char *lsc_dtype_name(lsc_dtype dt);   /* "F32", ... */
size_t      lsc_dtype_size(lsc_dtype dt);   /* bytes per element */

#define LSC_ST_MAXDIM 8

typedef struct lsc_st_tensor {
    char     *name;
    lsc_dtype dtype;
    int       ndim;
    int64_t   shape[LSC_ST_MAXDIM];
    size_t    numel;
    size_t    begin, end;   /* byte offsets relative to the data area */
} lsc_st_tensor;

typedef struct lsc_st_file {
    char          *path;
    const uint8_t *map;       /* the whole file, read-only (mmap) */
    size_t         size;      /* file size in bytes */
    const uint8_t *data;      /* start of the data area */
    size_t         data_size;
    int            n_tensors;
    lsc_st_tensor *tensors;   /* in file order of data_offsets */
    int            n_meta;
    char         **meta_keys; /* __metadata__ (string -> string) */
    char         **meta_vals;
} lsc_st_file;

/* Opens and fully validates a safetensors file: header length bounded and
 * inside the file, JSON object, every tensor with a known dtype, shape and
 * byte range = numel·sizeof(dtype) inside the data area, no overlaps, no
 * size_t overflow. On failure *f is left empty (lsc_st_close is a no-op).
 * The caller frees with lsc_st_close. */
int  lsc_st_open(lsc_st_file *f, const char *path, lsc_error *err);
void lsc_st_close(lsc_st_file *f);
const lsc_st_tensor *lsc_st_find(const lsc_st_file *f, const char *name);
const char          *lsc_st_meta(const lsc_st_file *f, const char *key);
/* Raw bytes of a tensor (borrowed from the mapping). */
const void *lsc_st_bytes(const lsc_st_file *f, const lsc_st_tensor *t);
/* Converts F32/F16/BF16/F64 tensors to float or double into out[numel]
 * (caller-allocated). Other dtypes give LSC_EFORMAT. */
int lsc_st_read_f32(const lsc_st_file *f, const lsc_st_tensor *t, float *out,
                    lsc_error *err);
int lsc_st_read_f64(const lsc_st_file *f, const lsc_st_tensor *t, double *out,
                    lsc_error *err);

/* One tensor to write; data is borrowed, numel·dtype_size bytes. */
typedef struct lsc_st_entry {
    const char *name;
    lsc_dtype   dtype;
    int         ndim;
    int64_t     shape[LSC_ST_MAXDIM];
    const void *data;
} lsc_st_entry;

/* Writes a safetensors file the way the reference writer does (tensors
 * sorted by descending dtype alignment then name, header space-padded to a
 * multiple of 8), to "<path>.tmp.<pid>" and renamed over path, so an
 * interrupted write never leaves a half-written file. meta: n_meta key/value
 * pairs (may be 0). Output is byte-identical for identical input. */
int lsc_st_write(const char *path, const lsc_st_entry *entries, int n,
                 const char *const *meta_keys, const char *const *meta_vals,
                 int n_meta, lsc_error *err);

/* Half-precision conversions (exact for F16/BF16 -> float). */
float    lsc_f16_to_f32(uint16_t h);
float    lsc_bf16_to_f32(uint16_t h);
uint16_t lsc_f32_to_f16(float f);   /* round to nearest even */

// ---- PEFT adapter directories (peft.c) ----

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

// ---- linear algebra for the analyses, double precision (linalg.c) ----
// (owned by linalg.c)

// ---- HDF5 results (h5io.c) ----
// (owned by h5io.c)

// ---- batches (shared by data.c and train.c) ----
/* Fills one batch: inputs/targets (B, T) token ids in [0, V), mask (B, T)
 * loss weights (1 = position counts, 0 = ignored). All randomness comes from
 * *rng, which the trainer saves in its checkpoints so that a resumed run
 * draws exactly the batches an uninterrupted run would. ctx is the data
 * source (borrowed). Returns LSC_OK or a negative code with *err set. */
typedef int (*lsc_batch_fn)(void *ctx, int B, int T, int *inputs, int *targets,
                            float *mask, uint64_t *rng, lsc_error *err);

// ---- model and LoRA (layers.c model.c lora.c) ----
// (owned by layers.c model.c lora.c)

// ---- optimiser and training loop (adamw.c train.c) ----
// (owned by adamw.c train.c)

// ---- data: corpus and tasks (data.c) ----
// (owned by data.c)

// ---- NF4 quantisation (nf4.c) ----
// (owned by nf4.c)

#endif /* LSC_H */
