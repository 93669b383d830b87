/*
 * failalloc.h — the failing allocator of tests/test_oom.c (Lua ltests'
 * failnext, SQLite's SQLITE_CONFIG_MALLOC fault injection).
 *
 * The Makefile compiles lib/ a second time into $(BUILD)/oom/ with
 * `-include tests/failalloc.h`, which defines LSC_MALLOC & co. before
 * lsc_internal.h would, so every allocation the library makes comes here.
 * Only tests/test_oom links that library. Not a general allocator: blocks
 * are the system's; this only counts calls and live blocks and makes one
 * chosen call fail. Test-only, single-threaded (the library allocates
 * outside its OpenMP regions). Allocations inside third-party libraries
 * (cJSON, HDF5, OpenBLAS/LAPACKE, the C library's regcomp) bypass it.
 */
#ifndef LSC_FAILALLOC_H
#define LSC_FAILALLOC_H

#include <stddef.h>

void *lsc_fa_malloc(size_t n);
void *lsc_fa_calloc(size_t n, size_t size);
void *lsc_fa_realloc(void *p, size_t n);
void  lsc_fa_free(void *p);

/* Makes the k-th allocation call (malloc, calloc or realloc) from now fail,
 * once, returning NULL; the calls after it succeed again. k = 0 disarms. */
void lsc_fa_fail_nth(long k);
/* Makes the k-th call and every call after it fail (memory stays
 * exhausted, as Lua's allocation limit): cleanup must not need memory. */
void lsc_fa_fail_from(long k);
/* Allocation calls and injected failures since the last lsc_fa_fail_*. */
long lsc_fa_calls(void);
long lsc_fa_failures(void);
/* Blocks allocated through this allocator and not yet freed: a leak check
 * that works without ASan, and that also catches a block freed with the
 * wrong function (LSC_FREE on a cJSON string, free() on an LSC_MALLOC one). */
long lsc_fa_live(void);

#define LSC_MALLOC(n)     lsc_fa_malloc(n)
#define LSC_CALLOC(n, s)  lsc_fa_calloc((n), (s))
#define LSC_REALLOC(p, n) lsc_fa_realloc((p), (n))
#define LSC_FREE(p)       lsc_fa_free(p)

#endif /* LSC_FAILALLOC_H */
