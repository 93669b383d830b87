/*
 * test_hmap.c — lib/hmap.c (issue 15): the string map keeps its answers
 * with the hash stored in each slot (puts, gets, repeats, growth from empty
 * and from a reserve, prefetch and the huge-page hint changing nothing), and lsc_adapter_find
 * answers for every module whether the loader kept the file's module order
 * (its module map becomes the index) or sorted the modules (a new index).
 * Not a timing test: bench tensors measures speed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>

#include "lsc.h"
#include "test.h"

#define NKEYS 50000

static void test_map(void)
{
    static char keys[NKEYS][16], other[16];
    lsc_hmap m = {0};
    CHECK(lsc_hmap_get(&m, "x") == -1, "get on an empty map: -1");
    lsc_hmap_prefetch(&m, "x");   /* nothing to prefetch: must not touch slots */
    int added = 1, got = 1;
    for (int i = 0; i < NKEYS; i++) {
        snprintf(keys[i], sizeof keys[i], "k.%d", i);
        if (i + 4 < NKEYS)
            lsc_hmap_prefetch(&m, keys[i]);
        added &= lsc_hmap_put(&m, keys[i], i) == -1;
    }
    CHECK(added && m.n == NKEYS, "%d distinct keys added while growing from empty (n %zu)", NKEYS, m.n);
    CHECK(3 * m.n <= 2 * m.cap && (m.cap & (m.cap - 1)) == 0, "load at most 2/3, capacity a power of two (%zu)",
          m.cap);
    for (int i = 0; i < NKEYS; i++) {
        snprintf(other, sizeof other, "k.%d", i);   /* an equal string, not the same pointer */
        got &= lsc_hmap_get(&m, other) == i;
    }
    CHECK(got, "every key found by an equal string");
    CHECK(lsc_hmap_put(&m, "k.777", 5) == 777 && lsc_hmap_get(&m, "k.777") == 777 && m.n == NKEYS,
          "a repeated key: its value returned, nothing changed");
    CHECK(lsc_hmap_get(&m, "k.50000") == -1 && lsc_hmap_get(&m, "") == -1 && lsc_hmap_get(&m, "k.") == -1,
          "absent keys: -1");
    lsc_hmap_free(&m);
    CHECK(m.cap == 0 && m.n == 0 && m.slots == NULL && lsc_hmap_get(&m, "k.1") == -1, "freed: empty again");
    int rc = lsc_hmap_reserve(&m, 1000);
    CHECK(rc == LSC_OK && m.cap >= 1500, "reserve 1000: room at load 2/3 (cap %zu)", m.cap);
    size_t cap = m.cap;
    got = 1;
    for (int i = 0; i < 1000; i++)
        got &= lsc_hmap_put(&m, keys[i], i) == -1;
    CHECK(got && m.cap == cap, "1000 keys after reserve 1000: no growth");
    lsc_hmap_free(&m);
}

/* An adapter of n modules m.I (1x1 lora_A, lora_B) into dir, written by
 * lsc_st_write (names in byte order: m.10 before m.2 once n > 10). */
static int write_adapter(const char *dir, int n)
{
    char path[700];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f || fputs("{\"peft_type\": \"LORA\", \"r\": 1, \"lora_alpha\": 2}\n", f) < 0 || fclose(f) != 0)
        return -1;
    lsc_st_entry *e = calloc((size_t)(2 * n), sizeof *e);
    char (*names)[64] = calloc((size_t)(2 * n), sizeof *names);
    static const float one = 1.0f;
    if (!e || !names)
        return -1;
    for (int i = 0; i < 2 * n; i++) {
        snprintf(names[i], sizeof names[i], "base_model.model.m.%d.lora_%c.weight", i / 2, i % 2 ? 'B' : 'A');
        e[i] = (lsc_st_entry){names[i], LSC_DT_F32, 2, {1, 1}, &one};
    }
    lsc_error err = {0};
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    int rc = lsc_st_write(path, e, 2 * n, NULL, NULL, 0, &err);
    free(e);
    free(names);
    return rc == LSC_OK ? 0 : -1;
}

static void test_find(const char *label, int n)
{
    char dir[600], name[64];
    snprintf(dir, sizeof dir, "%s", test_tmp(label));
    mkdir(dir, 0755);
    lsc_adapter ad;
    lsc_error err = {0};
    if (write_adapter(dir, n) != 0 || lsc_adapter_load(&ad, dir, &err) != LSC_OK) {
        CHECK(0, "%s: adapter of %d modules written and loaded (%s)", label, n, err.msg);
        return;
    }
    int in_order = 1;   /* the file's modules already in natural order? (which path the loader took) */
    for (int i = 0; i < ad.st.n_tensors; i += 2) {
        snprintf(name, sizeof name, "base_model.model.m.%d.", i / 2);
        in_order &= strncmp(ad.st.tensors[i].name, name, strlen(name)) == 0;
    }
    CHECK(in_order == (n <= 10), "%s: the file's order is %snatural", label, n <= 10 ? "" : "not ");
    int ok = ad.n_modules == n;
    for (int i = 0; i < n && ok; i++) {
        snprintf(name, sizeof name, "m.%d", i);
        ok = lsc_adapter_find(&ad, name) == i && strcmp(ad.modules[i].name, name) == 0;
    }
    CHECK(ok, "%s: %d modules in natural order, each found at its index", label, n);
    CHECK(lsc_adapter_find(&ad, "m") == -1 && lsc_adapter_find(&ad, "m.1.lora_A") == -1, "%s: absent names: -1",
          label);
    lsc_adapter_free(&ad);
}

/* The huge-page hint changes nothing: contents kept, NULL and small or
 * unaligned ranges accepted. */
static void test_hint(void)
{
    size_t n = (size_t)5 << 20;
    unsigned char *p = malloc(n);
    if (!p)
        return;
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(i * 7);
    lsc_hmap_hint_huge_(p + 3, n - 3);
    lsc_hmap_hint_huge_(p, 100);
    lsc_hmap_hint_huge_(NULL, n);
    int same = 1;
    for (size_t i = 0; i < n; i++)
        same &= p[i] == (unsigned char)(i * 7);
    CHECK(same, "the huge-page hint keeps 5 MiB of contents (unaligned, small and NULL ranges too)");
    free(p);
}

int main(void)
{
    if (test_tmpdir_make("hmap") != 0)
        return 1;
    test_map();
    test_hint();
    test_find("in_order", 9);    /* m.0..m.8: file order is natural order, the module map is the index */
    test_find("sorted", 1200);   /* m.10 before m.2 in the file: sorted, the index built anew */
    test_tmpdir_remove();
    return test_summary();
}
