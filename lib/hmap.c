/*
 * hmap.c — string-keyed hash map (open addressing, linear probing, FNV-1a)
 * for tensor-name and module-name lookup: O(1) per lookup where a linear
 * scan made listing a 200,000-tensor adapter quadratic (issue 15). Not a
 * general container: keys are borrowed, values are ints, nothing is ever
 * removed. Each slot holds the key's hash beside the key, so a probe
 * compares strings only when the hashes agree (one cache line per probe,
 * no strcmp on a collision) and growing never hashes a key again.
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "lsc_internal.h"

/* FNV-1a, 64 bit, folded to 32: the multiplication wraps on purpose. */
LSC_WRAPS static uint32_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return (uint32_t)(h ^ h >> 32);
}

/* The slot of key (hash h): where it is, or the empty slot ending its probe. */
static size_t slot_of(const lsc_hmap *m, const char *key, uint32_t h)
{
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    for (;;) {
        const lsc_hmap_slot *s = &m->slots[i];
        if (!s->key || (s->hash == h && strcmp(s->key, key) == 0))
            return i;
        i = (i + 1) & mask;
    }
}

void lsc_hmap_hint_huge_(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t b = ((uintptr_t)p + huge - 1) & ~(huge - 1), e = ((uintptr_t)p + n) & ~(huge - 1);
    if (p && e > b)
        (void)madvise((void *)b, e - b, MADV_HUGEPAGE);
#else
    (void)p;
    (void)n;
#endif
}

int lsc_hmap_reserve(lsc_hmap *m, size_t n)
{
    size_t cap = 16;
    while (2 * cap < 3 * n + 3)   /* load at most 2/3 */
        cap *= 2;
    if (cap <= m->cap)
        return LSC_OK;
    lsc_hmap g = {cap, 0, LSC_CALLOC(cap, sizeof(lsc_hmap_slot))};
    if (!g.slots)
        return LSC_ENOMEM;
    lsc_hmap_hint_huge_(g.slots, cap * sizeof(lsc_hmap_slot));
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key) {
            size_t j = (size_t)m->slots[i].hash & (cap - 1);   /* keys are distinct: the first empty slot */
            while (g.slots[j].key)
                j = (j + 1) & (cap - 1);
            g.slots[j] = m->slots[i];
            g.n++;
        }
    lsc_hmap_free(m);
    *m = g;
    return LSC_OK;
}

int lsc_hmap_put(lsc_hmap *m, const char *key, int val)
{
    if (3 * (m->n + 1) > 2 * m->cap && lsc_hmap_reserve(m, m->n + 1 > 8 ? 2 * m->n : 8) != LSC_OK)
        return LSC_ENOMEM;
    uint32_t h = fnv1a(key);
    lsc_hmap_slot *s = &m->slots[slot_of(m, key, h)];
    if (s->key)
        return s->val;
    s->key = key;
    s->hash = h;
    s->val = val;
    m->n++;
    return -1;
}

void lsc_hmap_prefetch(const lsc_hmap *m, const char *key)
{
#if defined(__GNUC__)
    if (m->cap)
        __builtin_prefetch(&m->slots[(size_t)fnv1a(key) & (m->cap - 1)], 1);
#else
    (void)m;
    (void)key;
#endif
}

int lsc_hmap_get(const lsc_hmap *m, const char *key)
{
    if (m->cap == 0)
        return -1;
    const lsc_hmap_slot *s = &m->slots[slot_of(m, key, fnv1a(key))];
    return s->key ? s->val : -1;
}

void lsc_hmap_free(lsc_hmap *m)
{
    LSC_FREE(m->slots);
    memset(m, 0, sizeof *m);
}
