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
 * "name\0" + file bytes: one digest for an adapter directory. A directory
 * holding adapter_config.json is hashed over its two PEFT files only
 * (adapter_config.json, adapter_model.safetensors), so training logs and
 * checkpoints beside them do not change the digest. */
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
/* Matrices are flat row-major double. Every compute function takes a
 * caller-allocated workspace `work` of at least the matching *_work_size()
 * doubles (the caller allocates and frees it; sizes depend only on the
 * dimensions, so one workspace serves a loop). Compute functions never
 * allocate and keep no state. Inputs are const; outputs are caller-owned.
 * NaN/Inf inputs give LSC_ENAN, LAPACK non-convergence LSC_ENOCONV; the
 * messages name the dimensions (callers add the module or file name). */

/* Thin SVD of M (m, n): M = U·diag(S)·Vt, mn = min(m, n), S (mn) descending,
 * U (m, mn), Vt (mn, n). U and/or Vt may be NULL; want_vectors in the size
 * query must be 1 if either is requested. */
size_t lsc_svd_work_size(int m, int n, int want_vectors);
int    lsc_svd(int m, int n, const double *M, double *S, double *U, double *Vt,
               double *work, size_t lwork, lsc_error *err);

/* Exact SVD of dW = s·B·A with B (d, r), A (r, k), never forming dW: thin
 * QR of B and of Aᵀ, SVD of the r×r core s·R_B·R_Aᵀ. Cost O((d+k)·r² + r³).
 * S (r) descending (zero-padded if r > min(d, k)), U (d, r), Vt (r, k),
 * U/Vt may be NULL. */
size_t lsc_lowrank_svd_work_size(int d, int k, int r, int want_vectors);
int    lsc_lowrank_svd(int d, int k, int r, double s, const double *B, const double *A,
                       double *S, double *U, double *Vt, double *work, size_t lwork,
                       lsc_error *err);
/* The same through the dense (d, k) product and a full SVD: the oracle. */
size_t lsc_lowrank_svd_dense_work_size(int d, int k, int r, int want_vectors);
int    lsc_lowrank_svd_dense(int d, int k, int r, double s, const double *B,
                             const double *A, double *S, double *U, double *Vt,
                             double *work, size_t lwork, lsc_error *err);

/* Top-kk singular triplets of a dense M (m, n): S (kk) descending, U (m, kk),
 * Vt (kk, n), U/Vt may be NULL. LSC_TOPK_DENSE: direct LAPACK — dgesvdx
 * for just the kk wanted triplets when kk <= mn/2 (else, or if it fails,
 * the full dgesdd, truncated). LSC_TOPK_AUTO: subspace iteration (block
 * kk + max(10, kk), Rayleigh-Ritz, converged when every residual
 * ‖M·v_i − σ_i·u_i‖ <= 1e-12·σ_1) when a cost model predicts it beats the
 * direct path, falling back to it as soon as the observed convergence rate
 * says otherwise; seed fixes its random start. LSC_TOPK_ITERATIVE: try the
 * iteration even for kk > 64. *info (may be NULL) says what was used. */
typedef enum lsc_topk_method {
    LSC_TOPK_AUTO, LSC_TOPK_DENSE, LSC_TOPK_ITERATIVE
} lsc_topk_method;
typedef struct lsc_topk_info {
    lsc_topk_method method;   /* what produced the result */
    int    iterations;        /* subspace iterations done */
    double residual;          /* last max residual / σ_1 */
} lsc_topk_info;
size_t lsc_svd_topk_work_size(int m, int n, int kk, lsc_topk_method method);
int    lsc_svd_topk(int m, int n, int kk, const double *M, double *S, double *U,
                    double *Vt, lsc_topk_method method, uint64_t seed, double *work,
                    size_t lwork, lsc_topk_info *info, lsc_error *err);

/* Subspaces are given by orthonormal ROWS: Vt1 (p1, n), Vt2 (p2, n), ordered
 * by singular value. G = Vt1·Vt2ᵀ (p1, p2). */
void lsc_subspace_gram(int n, int p1, const double *Vt1, int p2, const double *Vt2,
                       double *G);
/* φ(i, j) = ‖G[:i, :j]‖²_F / min(i, j) into phi (p1, p2), phi[(i-1)·p2 + j-1],
 * by a 2-D prefix sum of G∘G: O(p1·p2), no workspace (LoRA paper Eq. 4). */
void lsc_phi_grid(int p1, int p2, const double *G, double *phi);
/* Principal angles in degrees, ascending, min(p1, p2) of them: acos of the
 * singular values of G (clamped to [0, 1]). */
size_t lsc_principal_angles_work_size(int p1, int p2);
int    lsc_principal_angles(int p1, int p2, const double *G, double *deg, double *work,
                            size_t lwork, lsc_error *err);

/* A seeded uniformly random p-dimensional subspace of R^n (p <= n):
 * Q (n, p) with orthonormal columns, from the QR of a Gaussian matrix drawn
 * with lsc_rng_normal(rng). */
size_t lsc_random_orthonormal_work_size(int n, int p);
int    lsc_random_orthonormal(int n, int p, uint64_t *rng, double *Q, double *work,
                              size_t lwork, lsc_error *err);

/* ‖Uᵀ·W·V‖_F for W (d, k), U = the first K columns of a (d, ldu) array,
 * V = the first K rows of Vt (ldvt columns) transposed (LoRA paper Table 7:
 * "UᵀWVᵀ" with its V being K×k). */
size_t lsc_proj_fro_work_size(int d, int k, int K);
double lsc_proj_fro(int d, int k, const double *W, int K, const double *U, int ldu,
                    const double *Vt, int ldvt, double *work);
/* Frobenius (2-) norm of n values, without overflow. NaN in, NaN out. */
double lsc_fro_norm(size_t n, const double *x);

/* Top-kk singular VALUES of a float M (m, n) — weights as stored, read
 * exactly — each to relative accuracy tol (<= 0: 1e-10), no vectors: what
 * Table 7's proj_base = sqrt(Σ_{i<kk} σ_i²) needs. Subspace iteration on
 * MᵀM with a fused one-pass kernel in float, then Rayleigh-Ritz in double
 * with an a-posteriori residual bound; the dense double path
 * (lsc_svd_topk on a copy) when that bound is not met or the shape does not
 * suit iteration. S (kk) descending (zero-padded beyond min(m, n)). work:
 * lsc_svd_topk_values_work_size doubles (includes the dense fallback's
 * m·n copy). *info (may be NULL): method, iterations, bound reached.
 * LSC_ENAN for NaN/Inf input. */
size_t lsc_svd_topk_values_work_size(int m, int n, int kk);
int    lsc_svd_topk_values(int m, int n, int kk, const float *M, double *S, double tol,
                           uint64_t seed, double *work, size_t lwork, lsc_topk_info *info,
                           lsc_error *err);
/* Y (m, p) = M·X for a float M (m, n), promoted exactly, and double X
 * (n, p), Y: double accumulation, one pass over M per 8 columns of X. */
void   lsc_matmul_f32d(int m, int n, int p, const float *M, const double *X, double *Y);
/* lsc_proj_fro with a float W (d, k) promoted exactly to double. */
size_t lsc_proj_fro_f32_work_size(int d, int k, int K);
double lsc_proj_fro_f32(int d, int k, const float *W, int K, const double *U, int ldu,
                        const double *Vt, int ldvt, double *work);

// ---- HDF5 results (h5io.c) ----
/* All HDF5 code lives in h5io.c. A result file is written under
 * "<path>.tmp.<pid>" and appears at <path> only through lsc_h5_commit (close,
 * fsync, rename); lsc_h5_abort removes it. Object paths are absolute HDF5
 * paths ("/", "/modules/h.0.attn.q_proj/phi"); missing parent groups are
 * created. Strings are variable-length UTF-8 (h5py gives str), integers
 * int64, doubles float64. Errors: LSC_EHDF5 with "<file>: <what> (HDF5:
 * <reason>)"; HDF5's own error printing is switched off. */
typedef struct lsc_h5 lsc_h5;   /* opaque; one open file */

/* Writers. lsc_h5_create allocates *out; commit and abort free it (commit
 * frees it even when it fails, and then removes the temporary file). */
int  lsc_h5_create(lsc_h5 **out, const char *path, lsc_error *err);
int  lsc_h5_commit(lsc_h5 *h, lsc_error *err);
void lsc_h5_abort(lsc_h5 *h);                     /* NULL is a no-op */
int  lsc_h5_group(lsc_h5 *h, const char *path, lsc_error *err);  /* ok if it exists */
int  lsc_h5_attr_str(lsc_h5 *h, const char *obj, const char *name, const char *val,
                     lsc_error *err);
int  lsc_h5_attr_int(lsc_h5 *h, const char *obj, const char *name, long long val,
                     lsc_error *err);
int  lsc_h5_attr_double(lsc_h5 *h, const char *obj, const char *name, double val,
                        lsc_error *err);
/* ndim 1 (dims[0]) or 2 (dims[0] rows, dims[1] cols), row-major data;
 * an existing dataset of that name is replaced. */
int  lsc_h5_write_f64(lsc_h5 *h, const char *path, int ndim, const size_t *dims,
                      const double *data, lsc_error *err);
int  lsc_h5_write_f32(lsc_h5 *h, const char *path, int ndim, const size_t *dims,
                      const float *data, lsc_error *err);

/* Readers. lsc_h5_open allocates *out (read-only); lsc_h5_close frees it. */
int  lsc_h5_open(lsc_h5 **out, const char *path, lsc_error *err);
void lsc_h5_close(lsc_h5 *h);                     /* NULL is a no-op */
const char *lsc_h5_path(const lsc_h5 *h);         /* the final file name */
int  lsc_h5_exists(const lsc_h5 *h, const char *path);  /* 1 if the object exists */
/* LSC_ENOTFOUND when the object or attribute is missing, LSC_EFORMAT when
 * it has another type; numbers convert between int and float. */
int  lsc_h5_read_attr_double(const lsc_h5 *h, const char *obj, const char *name, double *v,
                             lsc_error *err);
int  lsc_h5_read_attr_int(const lsc_h5 *h, const char *obj, const char *name, long long *v,
                          lsc_error *err);
/* Copies the string into buf (n bytes, truncated, NUL-terminated). */
int  lsc_h5_read_attr_str(const lsc_h5 *h, const char *obj, const char *name, char *buf,
                          size_t n, lsc_error *err);
int  lsc_h5_dataset_shape(const lsc_h5 *h, const char *path, int *ndim, size_t *dims,
                          int max_dims, lsc_error *err);
/* Reads a dataset of exactly n values (any shape) as float64 into out;
 * LSC_ESHAPE when the size differs. */
int  lsc_h5_read_f64(const lsc_h5 *h, const char *path, size_t n, double *out,
                     lsc_error *err);
/* Names of the members of a group, sorted; the caller frees them with
 * lsc_h5_free_names(*names, *n). */
int  lsc_h5_list(const lsc_h5 *h, const char *group, char ***names, int *n, lsc_error *err);
void lsc_h5_free_names(char **names, int n);
/* LSC_EVERSION unless the root attribute format_version is the one this
 * build writes (LSC_EFORMAT when it is missing). */
int  lsc_h5_check_format(const lsc_h5 *h, lsc_error *err);

/* Provenance: root attributes lorascope_version, format_version (1),
 * command, git_commit ("unknown" when NULL), wall_time_s, created_utc, and
 * for every input "<role>" = path and "<role>_sha256" (lsc_sha256_path:
 * files and adapter directories), then every parameter under its own name.
 * All pointers are borrowed. */
typedef enum lsc_h5_type { LSC_H5_STR, LSC_H5_INT, LSC_H5_DOUBLE } lsc_h5_type;
typedef struct lsc_h5_input {
    const char *role;   /* e.g. "adapter", "adapter1", "base" */
    const char *path;
} lsc_h5_input;
typedef struct lsc_h5_param {
    const char *name;   /* e.g. "seed", "factor", "rank" */
    lsc_h5_type type;
    const char *s;
    long long   i;
    double      d;
} lsc_h5_param;
typedef struct lsc_provenance {
    const char         *command;     /* the command line */
    const char         *git_commit;  /* or NULL */
    double              wall_time_s;
    int                 n_inputs;
    const lsc_h5_input *inputs;
    int                 n_params;
    const lsc_h5_param *params;
} lsc_provenance;
int lsc_h5_write_provenance(lsc_h5 *h, const lsc_provenance *p, lsc_error *err);
/* The same with digests[i] (64 hex digits of lsc_sha256_path) computed by
 * the caller for input i, e.g. on another thread while it worked; a NULL
 * array or entry: computed here. */
int lsc_h5_write_provenance_digests(lsc_h5 *h, const lsc_provenance *p,
                                    const char *const *digests, lsc_error *err);

// ---- batches (shared by data.c and train.c) ----
/* Fills one batch: inputs/targets (B, T) token ids in [0, V), mask (B, T)
 * loss weights (1 = position counts, 0 = ignored). All randomness comes from
 * *rng, which the trainer saves in its checkpoints so that a resumed run
 * draws exactly the batches an uninterrupted run would. ctx is the data
 * source (borrowed). Returns LSC_OK or a negative code with *err set. */
typedef int (*lsc_batch_fn)(void *ctx, int B, int T, int *inputs, int *targets,
                            float *mask, uint64_t *rng, lsc_error *err);

// ---- model and LoRA (layers.c model.c lora.c) ----
/*
 * A GPT-2-style decoder (pre-LN, learned positions, causal multi-head
 * attention with separate q/k/v/o, GELU-tanh MLP 4C, final LN, LM head tied
 * to wte) trained on the CPU. llm.c's layout: every base weight lives in ONE
 * contiguous float buffer (params_memory) with named views built from a size
 * table; grads_memory mirrors it exactly (same offsets) and exists only in
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

typedef struct lsc_gpt_config {
    int n_layer;  /* L */
    int n_head;   /* NH, divides n_embd */
    int n_embd;   /* C */
    int n_ctx;    /* maximum T (rows of wpe) */
    int vocab;    /* V, 256 for bytes */
} lsc_gpt_config;

/* Checks 1 <= L <= 64, NH >= 1, C % NH == 0, n_ctx >= 1, 1 <= V. */
int lsc_gpt_config_check(const lsc_gpt_config *cfg, lsc_error *err);

#define LSC_GPT_NKINDS 20   /* entries of the parameter size table */

/* Named views into params_memory (or grads_memory). Per-layer tensors are
 * stacked over layers: layer l of qw is qw + l*C*C. Weights are (out, in). */
typedef struct lsc_gpt_params {
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
} lsc_gpt_params;

/* One safetensors tensor of the model (names as DESIGN.md §4). */
typedef struct lsc_gpt_tensor {
    char   name[48];   /* "wte.weight", "h.3.attn.q_proj.weight", ... */
    size_t offset;     /* in floats, into params_memory and grads_memory */
    size_t numel;
    int    ndim;       /* 1 or 2 */
    int    shape[2];
    int    is_matrix;  /* 2-D weight (weight decay usually applies) */
    int    nf4;        /* 1: held 4-bit (NF4 mode); offset unused, see lsc_gpt_nf4 */
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
    size_t          param_sizes[LSC_GPT_NKINDS]; /* floats per view, in view order */
    size_t          num_parameters;
    float          *params_memory;  /* (num_parameters) owned */
    lsc_gpt_params  params;         /* views into params_memory */
    int             mode;           /* enum lsc_gpt_mode */
    float          *grads_memory;   /* (num_parameters) owned; NULL when frozen */
    lsc_gpt_params  grads;          /* views into grads_memory (all NULL when frozen) */
    int             n_tensors;      /* 4 + 16 L */
    lsc_gpt_tensor *tensors;        /* owned; file/name table */
    /* activations: sized for (B_alloc, T_alloc) by lsc_gpt_alloc_acts */
    int             B_alloc, T_alloc;
    lsc_gpt_acts   *acts;           /* owned, internal */
    int             B, T;           /* shape of the last forward */
    float           mean_loss;      /* of the last forward with targets, else -1 */
    float           mask_sum;       /* sum of the mask in the last forward */
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
 * n_ctx, vocab_size, lsc_format "lorascope-gpt", lsc_format_version "1"),
 * atomically (temporary + rename). An NF4 model writes its quantised weights in
 * bitsandbytes' layout (lsc_nf4_st_entries), as `lorascope quantize` does. */
int  lsc_gpt_save(const lsc_gpt *m, const char *path, lsc_error *err);
/* lsc_gpt_init from the file's config + reads every tensor (F32/F16/BF16),
 * checking names and shapes. On failure *m is freed. A file holding NF4
 * weights (bitsandbytes' layout) loads in NF4 mode: see lsc_gpt_load_nf4. */
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
    int    rows, T, n_layer, C;
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
/* Makes lo the active adapter (borrowed; NULL = base only). lo must have been
 * made for m's config. Allocates lo's activation buffers for m's (B, T). */
int  lsc_gpt_set_lora(lsc_gpt *m, lsc_lora *lo, lsc_error *err);

/* QLoRA: NF4 base weights (model.c; the format is nf4.c's). opts (see
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

/* LoRA targets: the adaptable linear layers of a block. */
enum lsc_lora_target {
    LSC_LORA_Q = 0, LSC_LORA_K, LSC_LORA_V, LSC_LORA_O, LSC_LORA_FC_IN,
    LSC_LORA_FC_OUT, LSC_LORA_NTARGETS
};
/* "q_proj", "k_proj", "v_proj", "o_proj", "fc_in", "fc_out". */
const char *lsc_lora_target_name(int target);
/* Accepts "q" | "q_proj" | "k" | ... | "o" | "o_proj" | "fc_in" | "fc_out";
 * returns the target or -1. */
int lsc_lora_target_parse(const char *s);
/* Module name "h.{l}.attn.q_proj" / "h.{l}.mlp.fc_in" into buf. */
void lsc_lora_module_name(int layer, int target, char *buf, size_t n);
/* Parses such a name; returns 0 and sets layer/target, or -1. */
int lsc_lora_module_parse(const char *name, int *layer, int *target);

enum lsc_lora_init { LSC_LORA_INIT_KAIMING = 0, LSC_LORA_INIT_GAUSSIAN = 1 };

typedef struct lsc_lora_config {
    int      rank[LSC_LORA_NTARGETS]; /* r per target; 0 = not adapted */
    double   alpha;                   /* α (same for every module) */
    uint64_t layer_mask;              /* bit l = adapt layer l; 0 means all */
    double   dropout;                 /* on the LoRA input path, [0, 1) */
    int      rslora;                  /* scale α/sqrt(r) instead of α/r */
    int      init;                    /* enum lsc_lora_init for A; B = 0 */
} lsc_lora_config;

typedef struct lsc_lora_module {
    int    layer, target;  /* which weight of the model */
    int    r, in, out;     /* A (r, in), B (out, r) */
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
    /* activation caches for the model's (B, T); internal */
    float           *acts;
    size_t           num_acts;
    size_t          *act_off;      /* (n_modules, 3): u, dropped input, dropout mask */
    size_t           scratch_off;  /* du (N, r_max) then dx (N, in_max) */
    int              B_alloc, T_alloc;
    int              dropout_on;   /* the last forward applied dropout */
};

/* Allocates params and grads (zeroed) for the modules cfg selects on a model
 * with config mcfg and initialises A from rng (Kaiming-uniform U(±1/sqrt(in))
 * or Gaussian N(0, (1/r)²)), B = 0. Errors (LSC_EARG): a negative rank,
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
 * model), ranks and scalings (rank/alpha patterns, rsLoRA). Grads zeroed. */
int  lsc_lora_from_adapter(lsc_lora *lo, const lsc_gpt_config *mcfg,
                           const lsc_adapter *ad, lsc_error *err);
/* Convenience: to_adapter + lsc_adapter_save / lsc_adapter_load + from_adapter. */
int  lsc_lora_save(const lsc_lora *lo, const char *base_model, const char *dir,
                   lsc_error *err);
int  lsc_lora_load(lsc_lora *lo, const lsc_gpt_config *mcfg, const char *dir,
                   lsc_error *err);

// ---- optimiser and training loop (adamw.c train.c) ----
/* AdamW with decoupled weight decay (torch.optim.AdamW's update), a
 * warm-up + cosine/linear/constant learning-rate schedule and clipping by
 * the global gradient norm. Flat loops over caller-owned buffers: no
 * allocation, no RNG. Same inputs → same bits with any thread count. */

typedef enum lsc_lr_schedule {
    LSC_LR_COSINE   = 0,
    LSC_LR_LINEAR   = 1,
    LSC_LR_CONSTANT = 2
} lsc_lr_schedule;

typedef struct lsc_adamw_config {
    double lr;             /* peak learning rate */
    double min_lr_frac;    /* decay floor as a fraction of lr (0 = to zero) */
    double beta1, beta2, eps;
    double weight_decay;   /* decoupled: p *= 1 - lr·wd */
    double grad_clip;      /* max global gradient norm; <= 0 disables */
    long   warmup;         /* linear warm-up steps */
    long   steps;          /* total steps (the schedule's horizon) */
    lsc_lr_schedule schedule;
} lsc_adamw_config;

/* lr 1e-3, betas (0.9, 0.999), eps 1e-8, wd 0, clip 1, no warm-up, cosine. */
void        lsc_adamw_config_default(lsc_adamw_config *cfg);
const char *lsc_lr_schedule_name(lsc_lr_schedule s);
/* "cosine" | "linear" | "constant" → *out; LSC_EARG otherwise. */
int         lsc_lr_schedule_parse(const char *name, lsc_lr_schedule *out);
/* Learning rate of the update at 0-based step (warm-up lr·(step+1)/warmup). */
double      lsc_lr_at(const lsc_adamw_config *cfg, long step);
/* Euclidean norm of grads[n], summed in double in fixed-size chunks. */
double      lsc_grad_norm(const float *grads, size_t n);
/* Factor that clips a gradient of norm grad_norm to max_norm
 * (min(1, max_norm/(norm + 1e-6)), as clip_grad_norm_); 1 when disabled. */
double      lsc_clip_scale(double grad_norm, double max_norm);
/* One AdamW update of params[n] from grad_scale·grads[n] with moments m[n],
 * v[n] (caller-owned, zero before the first step); t = 1-based step count. */
void        lsc_adamw_step(float *params, const float *grads, float *m, float *v,
                           size_t n, const lsc_adamw_config *cfg, double lr,
                           double grad_scale, long t);

/* The training loop (train.c). LoRA mode (lora != NULL): the model is set
 * LSC_GPT_FROZEN and only the adapter's buffer is trained (AdamW moments
 * sized by the adapter); full mode (lora == NULL): every model weight, with
 * weight decay on 2-D weights only. Nothing is printed: progress goes to a
 * callback. Checkpoint = one safetensors file (trainable buffer, AdamW m/v,
 * loss log; metadata: step, both RNG words, wall time, the caller's config
 * string), written atomically, so lsc_trainer_resume + lsc_trainer_run
 * reproduce an uninterrupted run bit for bit.
 *
 *     lsc_train_config tc; lsc_train_config_default(&tc);
 *     tc.B = 8; tc.T = 64; tc.steps = 200; tc.opt.lr = 1e-3;
 *     tc.ckpt_path = "out/train_state.safetensors";
 *     lsc_trainer tr;    // corpora from lsc_corpus_load + lsc_corpus_split
 *     lsc_trainer_init(&tr, &model, &lora, &tc, lsc_corpus_batch, &train,
 *                      lsc_corpus_batch, &valid, &err);
 *     if (resume) lsc_trainer_resume(&tr, tc.ckpt_path, &err);
 *     lsc_trainer_run(&tr, 0, progress, NULL, &err);   // to tc.steps
 *     lsc_lora_save(&lora, "base.safetensors", "out", &err);
 *     lsc_trainer_free(&tr);
 */
typedef struct lsc_train_config {
    int      B, T;            /* batch rows, tokens per row (T <= n_ctx) */
    long     steps;           /* optimiser steps (also opt.steps) */
    lsc_adamw_config opt;
    uint64_t seed;            /* training RNG (LoRA dropout) */
    uint64_t data_seed;       /* RNG handed to the batch source */
    long     eval_every;      /* validate every k steps; 0 = only at the end */
    int      eval_batches;    /* size of the fixed validation set; 0 = none */
    uint64_t eval_seed;       /* seeds the draw of the validation batches */
    long     ckpt_every;      /* checkpoint every k steps; 0 = only at the end */
    const char *ckpt_path;    /* checkpoint file or NULL (borrowed) */
    const char *config_json;  /* the caller's run description, stored in the
                                 checkpoint and required to match on resume
                                 (borrowed, may be NULL) */
} lsc_train_config;

/* What the progress callback sees after each step (is_eval 0) and after
 * each validation (is_eval 1). */
typedef struct lsc_train_status {
    long   step, steps;       /* completed, total */
    double loss, lr, grad_norm, step_ms;
    double elapsed_s;         /* this session */
    double tokens_per_s;      /* this session */
    double eta_s;
    int    is_eval;
    double val_loss;          /* NaN unless is_eval */
} lsc_train_status;
/* Non-zero return: stop after this step (a checkpoint is written). */
typedef int (*lsc_train_progress_fn)(void *ctx, const lsc_train_status *st);

typedef struct lsc_trainer {
    lsc_train_config cfg;
    lsc_gpt     *model;       /* borrowed */
    lsc_lora    *lora;        /* borrowed; NULL = full mode */
    float       *params;      /* (n) trainable buffer (borrowed view) */
    float       *grads;       /* (n) its gradients (borrowed view) */
    size_t       n;
    float       *m, *v;       /* (n) AdamW moments, owned */
    long         step;        /* completed steps */
    uint64_t     rng, data_rng;
    lsc_batch_fn batch_fn;
    void        *batch_ctx;
    int         *inputs, *targets;  /* (B, T) owned */
    float       *mask;              /* (B, T) owned */
    int          n_val;             /* fixed validation batches */
    int         *val_inputs, *val_targets; /* (n_val, B, T) owned */
    float       *val_mask;                 /* (n_val, B, T) owned */
    float       *log_loss, *log_lr, *log_grad_norm, *log_step_ms; /* (steps) owned */
    long         n_eval, eval_cap;
    long        *eval_step;       /* (eval_cap) step of each validation */
    float       *eval_loss;       /* (eval_cap) */
    double       wall_s;          /* training wall time over all sessions */
    long         last_ckpt_step;  /* step of the last checkpoint written/read */
    int          stopped;         /* the callback asked to stop */
} lsc_trainer;

/* B 8, T 64, 100 steps, lsc_adamw_config_default, seeds 1/2, 8 validation
 * batches from seed 12345, validation and checkpoint only at the end. */
void lsc_train_config_default(lsc_train_config *cfg);
/* Sets the model's trainable mode, allocates activations for (B, T) if
 * smaller, makes lora the model's active adapter, allocates moments, batch
 * buffers and the log, and draws the validation set from val_fn (may be
 * NULL). Errors: T above n_ctx, non-positive sizes/steps/lr, shape mismatch.
 * Free with lsc_trainer_free (model and lora stay the caller's). */
int  lsc_trainer_init(lsc_trainer *tr, lsc_gpt *m, lsc_lora *lora,
                      const lsc_train_config *cfg, lsc_batch_fn train_fn,
                      void *train_ctx, lsc_batch_fn val_fn, void *val_ctx,
                      lsc_error *err);
void lsc_trainer_free(lsc_trainer *tr);
/* One step: batch, zero grads, forward, backward, clip, AdamW. A NaN/Inf
 * loss or gradient norm gives LSC_ENAN naming the step, before any update. */
int  lsc_trainer_step(lsc_trainer *tr, lsc_error *err);
/* Runs until step `until` (<= 0: cfg.steps) with validation and checkpoints
 * at their intervals; then writes a checkpoint (if cfg.ckpt_path). On error
 * nothing more is written: the last checkpoint stays intact. */
int  lsc_trainer_run(lsc_trainer *tr, long until, lsc_train_progress_fn fn,
                     void *ctx, lsc_error *err);
/* Mean loss over the fixed validation set (mask-weighted), no dropout. */
int  lsc_trainer_evaluate(lsc_trainer *tr, double *val_loss, lsc_error *err);
/* Checkpoint to path (temporary + rename) / restore from it. Resume checks
 * format, mode, trainable size, (B, T), steps and config_json. */
int  lsc_trainer_save(lsc_trainer *tr, const char *path, lsc_error *err);
int  lsc_trainer_resume(lsc_trainer *tr, const char *path, lsc_error *err);

/* Mean loss of m over n_batches drawn from fn with an rng seeded by seed
 * (no dropout); allocates m's activations for (B, T) if smaller. */
int  lsc_eval_loss(lsc_gpt *m, lsc_batch_fn fn, void *ctx, int n_batches,
                   int B, int T, uint64_t seed, double *loss, lsc_error *err);
/* Autoregressive decoding of n_rows rows at once (chunks of m->B_alloc).
 * tokens (n_rows, width): row i holds its prompt in [0, prompt_len[i]);
 * tokens are appended until stop_token (kept), max_new tokens, or width.
 * out_len[i] = final length. temperature <= 0 or rng NULL: greedy (argmax);
 * otherwise softmax(logits/temperature) sampled from rng. Beyond the
 * allocated T (m->T_alloc <= n_ctx) only the last T tokens are seen.
 * Needs lsc_gpt_alloc_acts first. */
int  lsc_decode(lsc_gpt *m, int n_rows, int *tokens, int width,
                const int *prompt_len, int max_new, int stop_token,
                double temperature, uint64_t *rng, int *out_len,
                lsc_error *err);
/* FLOPs of one training step (the model is stated in train.c): full = 3×
 * forward; LoRA skips the weight-gradient GEMMs of frozen weights. */
double lsc_train_step_flops(const lsc_gpt_config *c, const lsc_lora *lora,
                            int B, int T, int full);
/* Bytes the trainer's buffers need (the prediction compared with peak RSS):
 * weights (model + adapter), grads (model in full mode, adapter in LoRA
 * mode), AdamW moments, activations (model + adapter caches), batches.
 * parts may be NULL. */
typedef struct lsc_train_memory {
    size_t weights, grads, moments, activations, batches, total;
} lsc_train_memory;
size_t lsc_train_predicted_bytes(const lsc_trainer *tr, lsc_train_memory *parts);
/* Model shape and training settings of a `pretrain --profile`: "tiny"
 * (seconds, the tests), "quick" (minutes, C=128), "paper" (C=256). Fills
 * both (defaults first); LSC_EARG for an unknown name. */
int  lsc_pretrain_profile(const char *name, lsc_gpt_config *mc, lsc_train_config *tc);

/* Evaluation of a word<TAB>label task (data.c's format) on its first
 * `limit` items (<= 0: all): exact-match accuracy of greedy decoding from
 * the prompt "word\t" until LF, and the mean cross-entropy per label byte
 * of the teacher-forced items (nats). pred (n) or NULL receives each item's
 * decoded label index (-1: none). Uses m's activations (allocated if too
 * small for one item); m's active adapter applies. */
typedef struct lsc_task lsc_task;
int  lsc_task_eval(lsc_gpt *m, const lsc_task *t, int limit, double *accuracy,
                   double *loss, int *pred, lsc_error *err);

// ---- data: corpus and tasks (data.c) ----
/* Byte-level data for the GPT: a token is a byte, V = 256, no tokenizer.
 * data/fetch.sh builds the real files (data/corpus/pretrain_{train,valid}.txt,
 * data/tasks/supersense_{train,valid}.tsv; see data/SOURCES.md); unit tests
 * use data/fixtures/tiny.txt and data/fixtures/supersense_tiny.tsv.
 * Every batch function draws its randomness from the caller's rng only, so
 * the same seed gives the same batches on every machine.
 *
 * Task prompt format (supersense and any word<TAB>label task): item i is the
 * bytes   word TAB label LF   ("aardwolf\tanimal\n"); the prompt is
 * "word\t" and the expected completion "label\n". Evaluation feeds the
 * prompt alone from position 0 and decodes greedily until LF (at most
 * max_label + 1 bytes); fine-tuning rows pack whole items back to back from
 * position 0 and compute the loss only where the target is a label byte or
 * its LF. */

#define LSC_BYTE_VOCAB 256

typedef struct lsc_corpus {
    char    *path;    /* file it was read from, or the caller's name */
    uint8_t *bytes;   /* (n) the text; token t = bytes[t] */
    size_t   n;
} lsc_corpus;

/* Reads a whole file as byte tokens (at least 2 bytes, else LSC_EFORMAT).
 * *c owns its buffers; free with lsc_corpus_free (safe after a failed load,
 * and twice). */
int  lsc_corpus_load(lsc_corpus *c, const char *path, lsc_error *err);
/* A corpus holding a copy of bytes[n] (n >= 2); name is copied. */
int  lsc_corpus_from_bytes(lsc_corpus *c, const void *bytes, size_t n,
                           const char *name, lsc_error *err);
void lsc_corpus_free(lsc_corpus *c);
/* The split data/fetch.sh applies to each source: the cut is the first
 * paragraph boundary "\n\n" starting at or after byte floor(n·(100 -
 * valid_percent)/100) - 1 (else the first "\n" there); train = bytes up to
 * and including the first LF of the boundary, valid = the bytes after it.
 * Two new corpora named "<path>[train]" / "<path>[valid]"; the caller frees
 * both. LSC_EARG for valid_percent outside 1..99 or no boundary. */
int  lsc_corpus_split(const lsc_corpus *c, int valid_percent, lsc_corpus *train,
                      lsc_corpus *valid, lsc_error *err);
/* lsc_batch_fn, ctx = const lsc_corpus *: each row b is a window of T+1
 * bytes starting at o = lsc_rng_u64(rng) % (n - T) (one draw per row):
 * inputs[b,t] = bytes[o+t], targets[b,t] = bytes[o+t+1], mask 1.
 * LSC_EARG when n < T + 1 or an argument is bad. */
int  lsc_corpus_batch(void *ctx, int B, int T, int *inputs, int *targets,
                      float *mask, uint64_t *rng, lsc_error *err);
/* Deterministic evaluation: window i (0 <= i < lsc_corpus_n_windows)
 * starts at byte i·T, so every byte 1..n-1 is a target exactly once; the
 * last window is padded (input/target 0, mask 0) past the end. Fills one
 * row inputs/targets/mask (T). */
size_t lsc_corpus_n_windows(const lsc_corpus *c, int T);
void   lsc_corpus_window(const lsc_corpus *c, size_t i, int T, int *inputs,
                         int *targets, float *mask);
/* Cross-entropy (nats per byte) of eval's next bytes (1..n-1) under train's
 * add-one-smoothed byte unigram distribution: the loss of a model that
 * ignores context. eval == train gives about the entropy of the text. */
double lsc_corpus_unigram_xent(const lsc_corpus *train, const lsc_corpus *eval);

/* Random tokens for throughput benchmarks (train --synthetic). */
typedef struct lsc_synthetic {
    int V;   /* vocabulary: tokens are uniform in [0, V) */
} lsc_synthetic;

/* lsc_batch_fn, ctx = const lsc_synthetic *: per row, T+1 tokens drawn as
 * lsc_rng_u32(rng) % V; inputs/targets are that window shifted by one,
 * mask 1 (the loss cannot fall below ln V). LSC_EARG for V < 1. */
int lsc_synthetic_batch(void *ctx, int B, int T, int *inputs, int *targets,
                        float *mask, uint64_t *rng, lsc_error *err);

/* A word<TAB>label classification task (the WordNet noun supersenses). */
typedef struct lsc_task {
    char  *path;          /* file it was read from (or "<path>[train]") */
    int    n;             /* items */
    char **words;         /* (n) NUL-terminated, owned */
    int   *labels;        /* (n) index into label_names */
    int    n_labels;
    char **label_names;   /* (n_labels) sorted by byte value, owned */
    int    max_word;      /* longest word, bytes */
    int    max_label;     /* longest label, bytes */
    int    max_example;   /* longest "word\tlabel\n", bytes */
    char **completions_;  /* (n_labels) "label\n" (internal) */
} lsc_task;

/* Reads a TSV of lines "word<TAB>label" (LF endings; the last LF may be
 * missing), in file order. Each line must have exactly one TAB, a
 * non-empty word and label of at most 1024 bytes without control bytes
 * (CR included); words must be unique. With labels_from == NULL the label
 * set is this file's distinct labels; otherwise it is labels_from's
 * (pass the training task when loading validation, so indices agree) and a
 * label outside it is an error. Errors name "path:line: problem"
 * (LSC_EFORMAT; LSC_EIO when unreadable). Free with lsc_task_free. */
int  lsc_task_load(lsc_task *t, const char *path, const lsc_task *labels_from,
                   lsc_error *err);
void lsc_task_free(lsc_task *t);
/* Index of a label name of len bytes, or -1. */
int  lsc_task_label_index(const lsc_task *t, const char *name, size_t len);
/* FNV-1a 32-bit (h = 0x811c9dc5; h ^= byte; h *= 0x01000193). */
uint32_t lsc_fnv1a32(const void *data, size_t n);
/* 1 when word belongs to the validation split: fnv1a32(word) % 10 == 0
 * (the rule of data/wordnet_supersense.py). */
int  lsc_task_word_is_valid(const char *word);
/* Splits t by that rule into two new tasks with t's label set (items keep
 * their order). The caller frees both. */
int  lsc_task_split(const lsc_task *t, lsc_task *train, lsc_task *valid,
                    lsc_error *err);
/* lsc_batch_fn for fine-tuning, ctx = const lsc_task *: each row packs
 * items drawn uniformly with replacement (item = lsc_rng_u32(rng) % n)
 * back to back from position 0; the first draw that does not fit ends the
 * row, which is padded with LF (mask 0). mask[b,t] = 1 exactly where
 * targets[b,t] is a label byte or the LF after it. LSC_EARG when
 * T + 1 < max_example. */
int  lsc_task_batch(void *ctx, int B, int T, int *inputs, int *targets,
                    float *mask, uint64_t *rng, lsc_error *err);
/* The prompt "word\t" of item i as tokens; returns its length, or LSC_EARG
 * when cap is too small. */
int  lsc_task_prompt(const lsc_task *t, int i, int *tokens, int cap);
/* The expected completion "label\n" of item i (borrowed from t). */
const char *lsc_task_completion(const lsc_task *t, int i);
/* The label a decoded completion names: its bytes before the first LF (all
 * n bytes when there is none) compared exactly with the label names;
 * -1 when they name none. */
int  lsc_task_parse(const lsc_task *t, const char *text, size_t n);
/* Exact match: 1 when lsc_task_parse(text) is item i's label, else 0. */
int  lsc_task_score(const lsc_task *t, int i, const char *text, size_t n);

/* Non-neural reference accuracies on an evaluation task. */
typedef struct lsc_baselines {
    int    n_eval;
    int    majority_label;   /* most frequent training label (ties: lowest index) */
    double majority;         /* accuracy of always answering it */
    int    suffix_len;       /* k */
    double suffix;           /* accuracy of the suffix table */
    double suffix_seen;      /* fraction of eval words whose suffix occurs in train */
} lsc_baselines;

/* Both baselines fitted on train, scored on eval: the majority class, and a
 * table from the last suffix_len bytes of a word (the whole word when
 * shorter) to its most frequent training label (ties: lowest index),
 * falling back to the majority class for an unseen suffix. The two tasks
 * must share the label set (load eval with labels_from = train), else
 * LSC_EARG; suffix_len in 1..7. */
int lsc_task_baselines(const lsc_task *train, const lsc_task *eval,
                       int suffix_len, lsc_baselines *out, lsc_error *err);

// ---- NF4 quantisation (nf4.c) ----
/*
 * QLoRA's frozen 4-bit base weights in bitsandbytes' exact format.
 * A weight W (d, k) is flattened row-major to n = d·k values and cut into
 * n_blocks = ceil(n / blocksize) blocks of consecutive values (a block may
 * straddle rows; the last one may be partial). Per block: absmax = max |w|;
 * each value becomes the index of the nearest of the 16 NF4 codes
 * (lsc_nf4_code) to w·(1/absmax), and two indices share a byte, the first
 * element in the HIGH nibble (an odd n pads the last low nibble with 0).
 * Double quantisation ("nested") replaces the fp32 absmax by 8-bit indices
 * into bitsandbytes' signed dynamic map of absmax − offset (offset =
 * mean(absmax)), one fp32 scale per 256 blocks. Dequantisation is
 * code[idx] · absmax' with absmax' = nested_code[q]·nested_absmax + offset.
 * The arithmetic (tie rules, zero blocks, float32 steps) is spelled out at
 * the top of nf4.c; tests/test_nf4_oracle.py reimplements it in numpy.
 *
 * Which weights are quantised by the file-level calls: 2-D tensors named
 * "<module>.weight" whose last module component is a target T or "T_proj";
 * the default targets are the linear weights of the transformer blocks,
 * h.*.attn.{q,k,v,o}_proj.weight and h.*.mlp.fc_{in,out}.weight. Embeddings
 * (wte, wpe, also the tied LM head), LayerNorms and biases stay as they are.
 */

#define LSC_NF4_BLOCKSIZE_DEFAULT 64
#define LSC_NF4_BLOCKSIZE_MIN     32    /* powers of two in MIN..MAX, as bitsandbytes */
#define LSC_NF4_BLOCKSIZE_MAX     4096
#define LSC_NF4_NESTED_BLOCKSIZE  256   /* absmax values per fp32 nested scale */
#define LSC_NF4_DEFAULT_TARGETS   "q,k,v,o,fc_in,fc_out"

/* The 16 NF4 code values of bitsandbytes (get_4bit_type("nf4")), index 0..15. */
extern const float lsc_nf4_code[16];

/* bitsandbytes' create_dynamic_map(signed=True) (256 sorted values in
 * [-1, 1], index 127 = 0, index 255 = 1), built in float32 as documented in
 * nf4.c. */
void lsc_nf4_dynamic_map(float map[256]);

/* A quantised weight. Every buffer is owned by the struct. */
typedef struct lsc_nf4 {
    size_t   d, k;              /* W is (d, k); n = d·k */
    size_t   n;
    int      blocksize;
    size_t   n_blocks;          /* ceil(n / blocksize) */
    uint8_t *packed;            /* ((n+1)/2) two 4-bit indices per byte, even element high */
    float    code[16];          /* quant_map (lsc_nf4_code unless loaded otherwise) */
    float   *absmax;            /* (n_blocks) fp32 absmax; NULL when nested */
    int      nested;            /* 1 = double-quantised absmax */
    uint8_t *qabsmax;           /* (n_blocks) 8-bit indices of absmax − offset; NULL unless nested */
    int      nested_blocksize;  /* 256 */
    size_t   n_nested;          /* ceil(n_blocks / nested_blocksize) */
    float   *nested_absmax;     /* (n_nested) fp32 scale per nested block */
    float    nested_code[256];  /* nested_quant_map */
    float    offset;            /* mean of the fp32 absmax (nested_offset) */
    char     dtype[16];         /* source dtype, bitsandbytes spelling: "float32" */
} lsc_nf4;

/* Quantises W (d, k) (borrowed; finite values) with blocksize in 32..4096
 * (a power of two) and, if double_quant, nested absmax. *q is overwritten;
 * free with lsc_nf4_free (also safe after a failure). Errors: LSC_EARG (bad
 * blocksize), LSC_ESHAPE (d or k is 0), LSC_ENAN (non-finite value),
 * LSC_ENOMEM. */
int  lsc_nf4_quantize(lsc_nf4 *q, const float *W, size_t d, size_t k,
                      int blocksize, int double_quant, lsc_error *err);
void lsc_nf4_free(lsc_nf4 *q);

/* The (dequantised) absmax of block b, exactly as used by dequantisation. */
float lsc_nf4_block_absmax(const lsc_nf4 *q, size_t b);
/* Dequantises flat elements [i0, i0+count) into out (count); caller's buffer. */
void lsc_nf4_dequant_range(const lsc_nf4 *q, size_t i0, size_t count, float *out);
/* Dequantises rows [row0, row0+nrows) of W into out (nrows, k). */
void lsc_nf4_dequant_rows(const lsc_nf4 *q, size_t row0, size_t nrows, float *out);

/* Frozen linear layers on an NF4 weight, never materialising W: W is
 * dequantised a tile of whole rows at a time into the caller's workspace
 * tile (tile_floats floats, at least k; lsc_nf4_tile_floats(d, k) is a good
 * size: max(256 rows, 1 MiB), at most the whole weight) and multiplied with
 * cblas_sgemm. N = B·T rows.
 *   forward:        out (N, d) = inp (N, k) · deq(W)ᵀ + bias (d, or NULL)
 *   backward_input: dinp (N, k) += dout (N, d) · deq(W)   (accumulates)
 * Results are deterministic for a given tile size and BLAS thread count; they
 * equal the dense product up to float summation order. */
size_t lsc_nf4_tile_floats(size_t d, size_t k);
void lsc_nf4_matmul_forward(float *out, const float *inp, const lsc_nf4 *q,
                            const float *bias, float *tile, size_t tile_floats,
                            size_t N);
void lsc_nf4_matmul_backward_input(float *dinp, const float *dout, const lsc_nf4 *q,
                                   float *tile, size_t tile_floats, size_t N);

/* Storage cost in bits per parameter. Nominal constants (QLoRA's formula):
 * 32/blocksize, or 8/blocksize + 32/(blocksize·256) with double quant (64:
 * 0.5 and 0.127). Measured, for one weight: constants = absmax bytes (+
 * nested absmax + offset) ·8/n, total = constants + packed bytes·8/n; the
 * fixed code tables (16 + 256 floats per weight in the file) are excluded. */
double lsc_nf4_bits_nominal(int blocksize, int double_quant);
void   lsc_nf4_bits(const lsc_nf4 *q, double *constants, double *total);

/* 1 if a tensor (name, rank) is quantised under targets (comma list of
 * module suffixes; NULL = LSC_NF4_DEFAULT_TARGETS): rank 2, name
 * "<module>.weight", last component of <module> equal to T or "T_proj". */
int lsc_nf4_is_target(const char *name, int ndim, const char *targets);

/* ---- bitsandbytes' safetensors layout, per quantised weight <name> ----
 *   <name>                                   U8  [(n+1)/2, 1]  packed
 *   <name>.absmax                            U8 [n_blocks] if nested, else F32
 *   <name>.quant_map                         F32 [16]
 *   <name>.nested_absmax                     F32 [n_nested]    (nested only)
 *   <name>.nested_quant_map                  F32 [256]         (nested only)
 *   <name>.quant_state.bitsandbytes__nf4     U8  [len]  UTF-8 JSON, as
 *     json.dumps: {"quant_type": "nf4", "blocksize": 64, "dtype": "float32",
 *     "shape": [d, k], "nested_blocksize": 256, "nested_dtype": "float32",
 *     "nested_offset": 0.0123}  (the nested_* keys only when nested). */
#define LSC_NF4_NAME_MAX 512
typedef struct lsc_nf4_st {
    int          n;                            /* entries used: 4, or 6 if nested */
    lsc_st_entry entries[6];                   /* borrow from q and from this struct */
    char         names[6][LSC_NF4_NAME_MAX];
    char         json[512];
} lsc_nf4_st;

/* Fills st with the tensors of q under <name>, ready to be appended to the
 * entries given to lsc_st_write. st and q must outlive the write. */
int lsc_nf4_st_entries(lsc_nf4_st *st, const lsc_nf4 *q, const char *name, lsc_error *err);

enum lsc_nf4_role {
    LSC_NF4_ROLE_PLAIN  = 0,   /* an ordinary tensor */
    LSC_NF4_ROLE_WEIGHT = 1,   /* packed data of a quantised weight: lsc_nf4_st_load it */
    LSC_NF4_ROLE_STATE  = 2,   /* absmax, quant_map, nested and quant_state tensors of one: skip */
};
/* What a tensor of an opened file is (see enum lsc_nf4_role). */
int lsc_nf4_st_role(const lsc_st_file *f, const char *name);
/* Loads and validates quantised weight <name> of f into *q (owned copies;
 * free with lsc_nf4_free, also after failure). Errors name the file and
 * weight: LSC_ENOTFOUND (a tensor is missing), LSC_EFORMAT (bad JSON,
 * quant_type not nf4, wrong dtypes), LSC_ESHAPE (sizes disagree with the
 * JSON shape and blocksize), LSC_ENAN (non-finite absmax), LSC_ENOMEM. */
int lsc_nf4_st_load(lsc_nf4 *q, const lsc_st_file *f, const char *name, lsc_error *err);

/* Whole files (the quantize/dequantize subcommands). */
typedef struct lsc_nf4_opts {
    int         blocksize;     /* 0 = LSC_NF4_BLOCKSIZE_DEFAULT */
    int         double_quant;  /* 1 = nested absmax (QLoRA) */
    const char *targets;       /* NULL = LSC_NF4_DEFAULT_TARGETS */
} lsc_nf4_opts;

typedef struct lsc_nf4_stats {
    int    n_quantized;            /* weights quantised (or dequantised) */
    int    n_kept;                 /* tensors copied unchanged */
    size_t n_params;               /* elements of the quantised weights */
    size_t bytes_packed;           /* 4-bit data */
    size_t bytes_constants;        /* absmax (+ nested absmax + offsets) */
    double bits_constants;         /* 8·bytes_constants / n_params */
    double bits_total;             /* 8·(bytes_packed + bytes_constants) / n_params */
    double bits_constants_nominal; /* lsc_nf4_bits_nominal (quantize only) */
    double rel_err;                /* ‖W − deq(Q(W))‖_F / ‖W‖_F over all quantised weights */
    double max_abs_err;            /* max |W − deq(Q(W))| */
} lsc_nf4_stats;

/* Reads a safetensors model, quantises the target weights (F32/F16/BF16
 * sources) and writes the bitsandbytes layout to out (temporary + rename);
 * every other tensor and the __metadata__ are copied unchanged. Fails on a
 * file that already holds quantised weights or when no tensor matches.
 * stats may be NULL. */
int lsc_nf4_quantize_file(const char *in, const char *out, const lsc_nf4_opts *opts,
                          lsc_nf4_stats *stats, lsc_error *err);
/* The reverse: every NF4 weight becomes an F32 tensor of its JSON shape under
 * its own name; its state tensors are dropped, everything else is copied.
 * stats may be NULL (rel_err/max_abs_err/nominal are 0 here). */
int lsc_nf4_dequantize_file(const char *in, const char *out, lsc_nf4_stats *stats,
                            lsc_error *err);

#endif /* LSC_H */
