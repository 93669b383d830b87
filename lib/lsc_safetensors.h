/*
 * lsc_safetensors.h — safetensors files (safetensors.c).
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 */
#ifndef LSC_SAFETENSORS_H
#define LSC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "lsc_error.h"
#include "lsc_hmap.h"

// ---- safetensors (safetensors.c) ----

typedef enum lsc_dtype {
    LSC_DT_BOOL, LSC_DT_U8, LSC_DT_I8, LSC_DT_I16, LSC_DT_U16, LSC_DT_F16,
    LSC_DT_BF16, LSC_DT_I32, LSC_DT_U32, LSC_DT_F32, LSC_DT_F64, LSC_DT_I64,
    LSC_DT_U64, LSC_DT_COUNT
} lsc_dtype;

const char *lsc_dtype_name(lsc_dtype dt);   /* "F32", ... (st_header.c) */
size_t      lsc_dtype_size(lsc_dtype dt);   /* bytes per element */

#define LSC_ST_MAXDIM 8

/* The __metadata__ "format" lorascope writes (as torch's writers do). */
#define LSC_ST_FORMAT_PT "pt"

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
    lsc_hmap       index;     /* tensor name -> index into tensors (lsc_st_find) */
    char          *arena;     /* the tensor names and metadata strings */
} lsc_st_file;

struct lsc_st_file;
/* Internal (st_header.c, called by lsc_st_open): the JSON header text[0..len),
 * text[0] == '{', into f->tensors in file order (each entry's dtype, shape and
 * offsets checked against f->data_size), f->meta_*, the strings in f->arena.
 * A text that is not JSON: "PATH: header is not valid JSON". */
int lsc_st_parse_header_(struct lsc_st_file *f, const char *text, size_t len, const char *path, lsc_error *err);

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
 * multiple of 8), through lsc_atomic_open/commit (a temporary file beside
 * path, fsync'd and renamed over it), so an interrupted or failed write
 * never leaves a half-written file. meta: n_meta key/value
 * pairs (may be 0). Output is byte-identical for identical input. */
int lsc_st_write(const char *path, const lsc_st_entry *entries, int n,
                 const char *const *meta_keys, const char *const *meta_vals,
                 int n_meta, lsc_error *err);

/* Half-precision conversions (exact for F16/BF16 -> float). */
float    lsc_f16_to_f32(uint16_t h);
float    lsc_bf16_to_f32(uint16_t h);
uint16_t lsc_f32_to_f16(float f);   /* round to nearest even */

#endif /* LSC_SAFETENSORS_H */
