/*
 * test_sha256.c — SHA-256: known answers (FIPS 180-4 examples) through the
 * public API, whatever block function the CPU selects, and the accelerated
 * block function (SHA-NI) against the portable reference on random data.
 */
#include <stdint.h>

#include "lsc_internal.h"
#include "test.h"

static void hash(const void *p, size_t n, char hex[65])
{
    lsc_sha256 s;
    lsc_sha256_init(&s);
    lsc_sha256_update(&s, p, n);
    lsc_sha256_final(&s, hex);
}

int main(void)
{
    char hex[65];
    hash("abc", 3, hex);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0,
          "sha256('abc')");
    hash("", 0, hex);
    CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0,
          "sha256('')");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hash(two, strlen(two), hex);
    CHECK(strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0,
          "sha256 of the 448-bit FIPS message");

    /* one million 'a', fed in uneven pieces (partial blocks, whole blocks) */
    size_t n = 1000000;
    char *a = malloc(n);
    memset(a, 'a', n);
    lsc_sha256 s;
    lsc_sha256_init(&s);
    size_t off = 0, step = 1;
    while (off < n) {
        size_t take = step < n - off ? step : n - off;
        lsc_sha256_update(&s, a + off, take);
        off += take;
        step = step * 3 + 1;
        if (step > 100000)
            step = 7;
    }
    lsc_sha256_final(&s, hex);
    CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0,
          "sha256 of a million 'a' in uneven pieces");
    free(a);

    /* the accelerated blocks = the portable blocks, random data */
    size_t nb = 1000;
    uint8_t *buf = malloc(64 * nb);
    uint64_t rng;
    lsc_rng_seed(&rng, 42);
    for (size_t i = 0; i < 64 * nb; i++)
        buf[i] = (uint8_t)lsc_rng_u32(&rng);
    uint32_t h1[8] = {1, 2, 3, 4, 5, 6, 7, 8}, h2[8];
    memcpy(h2, h1, sizeof h1);
    lsc_sha256_blocks_portable_(h1, buf, nb);
    if (lsc_sha256_blocks_accel_(h2, buf, nb))
        CHECK(memcmp(h1, h2, sizeof h1) == 0, "SHA-NI blocks = portable blocks (%zu random blocks)",
              nb);
    else
        test_skip("SHA-NI blocks = portable blocks", "the CPU has no SHA extensions: only the portable path is used");
    free(buf);
    return test_summary();
}
