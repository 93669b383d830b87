/*
 * lsc_nf4.h — NF4 quantisation (nf4.c).
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 */
#ifndef LSC_NF4_H
#define LSC_NF4_H

#include <stddef.h>
#include <stdint.h>

#include "lsc_safetensors.h"

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
/* The quant_state's quant_type, written and required, and the last part of
 * its tensor name '<W>.quant_state.bitsandbytes__nf4'. */
#define LSC_NF4_QUANT_TYPE        "nf4"
#define LSC_NF4_QS_PREFIX         ".quant_state.bitsandbytes__"   /* any quant_type */
#define LSC_NF4_QS_SUFFIX         LSC_NF4_QS_PREFIX LSC_NF4_QUANT_TYPE

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
    const char *targets;       /* NULL = every linear layer of the architecture */
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
/* The same, calling progress(ctx, i, n) before tensor i of the n in the file
 * and (n, n) once written (progress may be NULL). Nothing is printed. */
typedef void (*lsc_nf4_progress_fn)(void *ctx, long done, long total);
int lsc_nf4_quantize_file_progress(const char *in, const char *out, const lsc_nf4_opts *opts,
                                   lsc_nf4_stats *stats, lsc_nf4_progress_fn progress, void *ctx,
                                   lsc_error *err);
/* The reverse: every NF4 weight becomes an F32 tensor of its JSON shape under
 * its own name; its state tensors are dropped, everything else is copied.
 * stats may be NULL (rel_err/max_abs_err/nominal are 0 here). */
int lsc_nf4_dequantize_file(const char *in, const char *out, lsc_nf4_stats *stats,
                            lsc_error *err);

#endif /* LSC_NF4_H */
