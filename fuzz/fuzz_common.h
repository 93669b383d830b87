/*
 * fuzz_common.h — what every libFuzzer harness in fuzz/ shares: a private
 * scratch directory (under $TMPDIR, which fuzz/run.sh points into build-fuzz/)
 * and writing the fuzzer's bytes to a file there, for the readers that take
 * a path. Static functions only: each harness is one translation unit.
 * Not a test helper and not part of the library.
 */
#ifndef LSC_FUZZ_COMMON_H
#define LSC_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Writes data[0..size) to scratch/name; its path in path[cap]. */
static inline const char *fz_write(char *path, size_t cap, const char *name, const uint8_t *data, size_t size)
{
    fz_path(path, cap, name);
    FILE *fp = fopen(path, "wb");
    if (!fp || (size && fwrite(data, 1, size, fp) != size) || fclose(fp) != 0) {
        perror(path);
        abort();
    }
    return path;
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
