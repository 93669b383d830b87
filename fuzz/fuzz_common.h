/*
 * fuzz_common.h — what every libFuzzer harness in fuzz/ shares: a private
 * scratch directory (under $TMPDIR, which fuzz/run.sh points into build-fuzz/)
 * and writing the fuzzer's bytes to a file there, for the readers that take
 * a path. Static functions only: each harness is one translation unit.
 * Not a test helper and not part of the library.
 */
#ifndef LSC_FUZZ_COMMON_H
#define LSC_FUZZ_COMMON_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lsc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// ---- scratch directory ----

static char fz_dir_[512];

/* The harness's scratch directory, made on first use. */
static inline const char *fz_dir(void)
{
    if (!fz_dir_[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(fz_dir_, sizeof fz_dir_, "%s/lsc_fuzz.XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(fz_dir_)) {
            perror("fuzz: mkdtemp");
            abort();
        }
    }
    return fz_dir_;
}

/* path = scratch/name (cap bytes). */
static inline const char *fz_path(char *path, size_t cap, const char *name)
{
    snprintf(path, cap, "%s/%s", fz_dir(), name);
    return path;
}

/* Writes data[0..size) to the file path (aborts on failure: the harness is broken). */
static inline void fz_put(const char *path, const void *data, size_t size)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || (size && fwrite(data, 1, size, fp) != size) || fclose(fp) != 0) {
        perror(path);
        abort();
    }
}

/* Writes data[0..size) to scratch/name; its path in path[cap]. */
static inline const char *fz_write(char *path, size_t cap, const char *name, const uint8_t *data, size_t size)
{
    fz_put(fz_path(path, cap, name), data, size);
    return path;
}

/* The directory scratch/sub, made if missing; its path in dir[cap]. */
static inline const char *fz_subdir(char *dir, size_t cap, const char *sub)
{
    if (mkdir(fz_path(dir, cap, sub), 0700) != 0 && errno != EEXIST) {
        perror(dir);
        abort();
    }
    return dir;
}

/* dir/name as a safetensors file of e[0..n) (aborts on failure). */
static inline void fz_put_st(const char *dir, const char *name, const lsc_st_entry *e, int n)
{
    char path[700];
    lsc_error err = {0};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (lsc_st_write(path, e, n, NULL, NULL, 0, &err) != LSC_OK) {
        fprintf(stderr, "fuzz: cannot write %s: %s\n", path, err.msg);
        abort();
    }
}

/* scratch/ad holding a fixed, valid one-module adapter_model.safetensors
 * (base_model.model.h.0.attn.q_proj, r 4, 8x8), made on first use. */
static inline const char *fz_adapter_dir(void)
{
    static char dir[600];
    static float a[4 * 8], b[8 * 4];
    if (dir[0])
        return dir;
    for (int i = 0; i < 32; i++) {
        a[i] = 0.01f * (float)i;
        b[i] = 0.02f * (float)(31 - i);
    }
    lsc_st_entry e[2] = {
        {"base_model.model.h.0.attn.q_proj.lora_A.weight", LSC_DT_F32, 2, {4, 8}, a},
        {"base_model.model.h.0.attn.q_proj.lora_B.weight", LSC_DT_F32, 2, {8, 4}, b},
    };
    fz_put_st(fz_subdir(dir, sizeof dir, "ad"), "adapter_model.safetensors", e, 2);
    return dir;
}

/* Encodes text[0..n) with BOS and EOS and decodes the ids back (results unchecked). */
static inline void fz_tok_roundtrip(const lsc_tokenizer *tok, const char *text, size_t n)
{
    int ids[256];
    char out[1024];
    size_t n_ids = 0, n_out = 0;
    lsc_error err = {0};
    if (n + 3 <= 256 && lsc_tokenizer_encode(tok, text, n, 1, 1, ids, 256, &n_ids, &err) == LSC_OK)
        (void)lsc_tokenizer_decode(tok, ids, n_ids, out, sizeof out, &n_out, &err);
}

/* Splits data at the first occurrence of sep: the part before in a (na bytes), after in b (nb bytes)
 * (no sep: everything in a, b empty). */
static inline void fz_split(const uint8_t *data, size_t size, const char *sep, const uint8_t **a, size_t *na,
                     const uint8_t **b, size_t *nb)
{
    size_t ns = strlen(sep);
    *a = data;
    *na = size;
    *b = data + size;
    *nb = 0;
    for (size_t i = 0; ns <= size && i <= size - ns; i++)
        if (memcmp(data + i, sep, ns) == 0) {
            *na = i;
            *b = data + i + ns;
            *nb = size - i - ns;
            return;
        }
}

#endif /* LSC_FUZZ_COMMON_H */
