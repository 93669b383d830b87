/*
 * lsc_hmap.h — a string-keyed hash map for name lookup (hmap.c).
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 */
#ifndef LSC_HMAP_H
#define LSC_HMAP_H

#include <stddef.h>
#include <stdint.h>

#include "lsc_error.h"

// ---- hash map (hmap.c) ----

/* One slot: the key (NULL: empty), its hash, its value (16 bytes). */
typedef struct lsc_hmap_slot {
    const char *key;
    uint32_t    hash;
    int         val;
} lsc_hmap_slot;

/* Open addressing (linear probing, FNV-1a; the hash kept in the slot),
 * keys borrowed (they must outlive the map), values non-negative ints
 * (e.g. indices into an array). Grows to keep the load at most 2/3.
 * Zero-initialised ({0}) is an empty map. */
typedef struct lsc_hmap {
    size_t         cap, n;   /* slots (a power of two, or 0), keys held */
    lsc_hmap_slot *slots;    /* (cap) */
} lsc_hmap;

/* Room for n keys without growing. LSC_OK or LSC_ENOMEM. */
int  lsc_hmap_reserve(lsc_hmap *m, size_t n);
/* Adds key -> val unless key is there: -1 when added, the value already
 * held when present (nothing changed), LSC_ENOMEM (-4 < -1) when growing failed. */
int  lsc_hmap_put(lsc_hmap *m, const char *key, int val);
/* Starts loading key's slot into the cache (GCC/clang; otherwise nothing):
 * called a few keys ahead of lsc_hmap_put/get in a loop over many keys, it
 * overlaps their cache misses (a map of a million keys misses on nearly
 * every probe). Changes nothing. */
void lsc_hmap_prefetch(const lsc_hmap *m, const char *key);
/* The value of key, or -1. */
int  lsc_hmap_get(const lsc_hmap *m, const char *key);
void lsc_hmap_free(lsc_hmap *m);

/* Internal (hmap.c; the loaders' big arrays use it too): asks for
 * transparent huge pages under the 2 MiB-aligned part of [p, p+n) (Linux,
 * where the kernel leaves it to madvise). A million tensors' arrays,
 * touched once each, cost a page fault per 4 KiB otherwise (a third of
 * loading them). A hint: nothing changes when it is refused. */
void lsc_hmap_hint_huge_(void *p, size_t n);

#endif /* LSC_HMAP_H */
