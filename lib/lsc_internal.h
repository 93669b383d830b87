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

/* strdup through LSC_MALLOC; NULL in, NULL out. */
char *lsc_strdup_(const char *s);

/* Writes n bytes to path through "<path>.tmp.<pid>" + fsync + rename. */
int lsc_write_file_atomic_(const char *path, const void *data, size_t n,
                           lsc_error *err);
/* Reads a whole file into a NUL-terminated heap buffer (caller frees). */
int lsc_read_file_(const char *path, char **out, size_t *n, lsc_error *err);

#endif /* LSC_INTERNAL_H */
