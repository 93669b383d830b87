/*
 * hmap.c — string-keyed hash map (open addressing, linear probing, FNV-1a)
 * for tensor-name and module-name lookup: O(1) per lookup where a linear
 * scan made listing a 200,000-tensor adapter quadratic (issue 15). Not a
 * general container: keys are borrowed, values are ints, nothing is ever
 * removed.
 */
#include <stdint.h>
#include <string.h>

#include "lsc_internal.h"

/* FNV-1a, 64 bit: the multiplication wraps on purpose. */
LSC_WRAPS static uint64_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return h;
}

static size_t slot_of(const lsc_hmap *m, const char *key)
{
    size_t i = (size_t)(fnv1a(key) & (m->cap - 1));
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

int lsc_hmap_reserve(lsc_hmap *m, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n + 2)
        cap *= 2;
    if (cap <= m->cap)
        return LSC_OK;
    lsc_hmap g = {cap, 0, LSC_CALLOC(cap, sizeof(char *)), LSC_MALLOC(cap * sizeof(int))};
    if (!g.keys || !g.vals) {
        LSC_FREE(g.keys);
        LSC_FREE(g.vals);
        return LSC_ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) {
            size_t j = slot_of(&g, m->keys[i]);
            g.keys[j] = m->keys[i];
            g.vals[j] = m->vals[i];
            g.n++;
        }
    lsc_hmap_free(m);
    *m = g;
    return LSC_OK;
}

int lsc_hmap_put(lsc_hmap *m, const char *key, int val)
{
    if (2 * (m->n + 1) > m->cap && lsc_hmap_reserve(m, m->n + 1 > 8 ? 2 * m->n : 8) != LSC_OK)
        return LSC_ENOMEM;
    size_t i = slot_of(m, key);
    if (m->keys[i])
        return m->vals[i];
    m->keys[i] = key;
    m->vals[i] = val;
    m->n++;
    return -1;
}

int lsc_hmap_get(const lsc_hmap *m, const char *key)
{
    if (m->cap == 0)
        return -1;
    size_t i = slot_of(m, key);
    return m->keys[i] ? m->vals[i] : -1;
}

void lsc_hmap_free(lsc_hmap *m)
{
    LSC_FREE(m->keys);
    LSC_FREE(m->vals);
    memset(m, 0, sizeof *m);
}
