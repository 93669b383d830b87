/*
 * lsc_hf.h — Hugging Face model folders (hf_folder.c): config.json and the
 * safetensors weights, unsharded or sharded behind an index.
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 */
#ifndef LSC_HF_H
#define LSC_HF_H

#include <stddef.h>

#include "lsc_error.h"
#include "lsc_safetensors.h"

// ---- Hugging Face model folders (hf_folder.c) ----

/* The config.json fields a decoder-only Llama-family model needs. Integers
 * are range-checked before conversion; unknown keys are ignored. */
typedef struct lsc_hf_config {
    char   model_type[64];       /* "llama", "mistral", "qwen2", ... ("" if absent) */
    char   architecture[128];    /* architectures[0] ("" if absent) */
    char   torch_dtype[32];      /* torch_dtype, else dtype ("" if absent) */
    int    hidden_size;          /* C (required) */
    int    intermediate_size;    /* MLP width (required) */
    int    num_hidden_layers;    /* L (required) */
    int    num_attention_heads;  /* NH (required) */
    int    num_key_value_heads;  /* default NH; divides NH */
    int    head_dim;             /* default C / NH (then NH must divide C) */
    int    max_position_embeddings; /* default 2048 */
    int    vocab_size;           /* V (required) */
    double rms_norm_eps;         /* default 1e-6; in (0, 1) */
    double rope_theta;           /* default 10000; in (0, 1e12] */
    int    tie_word_embeddings;  /* default 1 for gemma, else 0; the file wins */
    int    attention_bias;       /* q/k/v/o biases (Llama's attention_bias, default 0) */
    int    qkv_bias;             /* q/k/v biases: attention_bias, or model_type qwen2 */
    int    rope_scaling;         /* a non-null rope_scaling object is present */
    char   hidden_act[32];       /* hidden_act ("" if absent; Llama's default is silu) */
} lsc_hf_config;

/* Parses config text (a JSON object; path names it in errors). */
int lsc_hf_config_parse(lsc_hf_config *c, const char *text, size_t n,
                        const char *path, lsc_error *err);
/* Reads and parses the file at path. */
int lsc_hf_config_load(lsc_hf_config *c, const char *path, lsc_error *err);

/* One tensor of the folder: its shard and its entry there (borrowed). */
typedef struct lsc_hf_tensor {
    const char          *name;   /* borrowed from the shard's entry */
    int                  shard;  /* index into lsc_hf_folder.shards */
    const lsc_st_tensor *t;
} lsc_hf_tensor;

typedef struct lsc_hf_folder {
    char          *dir;
    lsc_hf_config  cfg;
    int            n_shards;
    lsc_st_file   *shards;      /* each mmap'ed and validated by lsc_st_open */
    int            n_tensors;
    lsc_hf_tensor *tensors;     /* shard order, then file order within a shard */
    size_t         n_buckets;   /* power of two, >= 2·n_tensors */
    int           *buckets;     /* open addressing: tensor index or -1 */
    size_t         raw_bytes;   /* sum of the tensors' byte sizes */
    size_t         n_params;    /* sum of the tensors' element counts */
} lsc_hf_folder;

/* Opens dir: dir/config.json (lsc_hf_config_load), then dir/model.safetensors
 * if it exists, else dir/model.safetensors.index.json ({"weight_map":
 * {tensor: shard file}}) and every shard it names (plain file names in dir).
 * Checks: every shard opens (validated, mmap'ed, nothing copied); no tensor
 * name in two shards; every index entry is in the shard it names, and every
 * shard tensor is in the index. On failure *hf is left empty
 * (lsc_hf_close is a no-op) and err names the offending file. The caller
 * frees with lsc_hf_close. Tensor names are not interpreted here. */
int  lsc_hf_open(lsc_hf_folder *hf, const char *dir, lsc_error *err);
void lsc_hf_close(lsc_hf_folder *hf);
/* The tensor called name, or NULL (hash lookup). */
const lsc_hf_tensor *lsc_hf_find(const lsc_hf_folder *hf, const char *name);
/* The path of the shard file holding t (borrowed). */
const char *lsc_hf_path(const lsc_hf_folder *hf, const lsc_hf_tensor *t);

/* Elements [first, first+count) of tensor t (flat, row-major) as float into
 * out[count] (caller-allocated), converting F16/BF16/F64 a tile at a time
 * straight from the mapping; the mapping's pages read are released
 * afterwards (madvise, with a 2 MB margin), so reading tensor after tensor
 * keeps the resident size near one float32 tensor (pages read again later
 * simply fault back in: safe from several threads). Other dtypes:
 * LSC_EFORMAT; a range outside the tensor: LSC_EARG. F64 values are
 * rounded to float. */
int lsc_hf_read_range(const lsc_hf_folder *hf, const lsc_hf_tensor *t,
                      size_t first, size_t count, float *out, lsc_error *err);
/* The whole tensor called name into out[cap] (cap >= numel, else
 * LSC_ESHAPE); a missing name is LSC_ENOTFOUND naming the folder. */
int lsc_hf_read_f32(const lsc_hf_folder *hf, const char *name, float *out,
                    size_t cap, lsc_error *err);
/* LSC_ENAN naming the shard file, the tensor, its dtype and the first
 * element that is NaN or infinite; name NULL checks every tensor. */
int lsc_hf_check_finite(const lsc_hf_folder *hf, const char *name, lsc_error *err);

/* The tensors whose names are not among claimed[0..n_claimed), in the
 * folder's order, into out (caller-allocated, room for hf->n_tensors;
 * the names are borrowed from hf); returns their count (>= 0) or a
 * negative LSC_E* code (LSC_ENOMEM). */
int lsc_hf_unclaimed(const lsc_hf_folder *hf, const char *const *claimed,
                     int n_claimed, const char **out, lsc_error *err);

#endif /* LSC_HF_H */
