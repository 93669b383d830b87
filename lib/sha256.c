/*
 * sha256.c — SHA-256 (FIPS 180-4) for provenance: the checksums of inputs
 * recorded in every result file. Not constant-time; not for secrets.
 *
 * Speed matters here: every analysis hashes its inputs, and a GPT-2-sized
 * base is ~230 MB (amplify). On x86-64 CPUs with the SHA extensions the
 * blocks go through sha256rnds2/msg1/msg2 (~1.5-2 GB/s instead of ~0.2),
 * chosen at run time; the portable C rounds stay as the reference and the
 * fallback (tests/test_sha256.c checks the two against each other).
 */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define LSC_SHA_X86 1
#endif

#include "lsc_internal.h"

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

LSC_WRAPS static void sha256_block(uint32_t h[8], const uint8_t p[64])
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t S1 = ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = hh + S1 + ch + K256[i] + w[i];
        uint32_t S0 = ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22);
        uint32_t mj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = S0 + mj;
        hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d;
    h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

void lsc_sha256_init(lsc_sha256 *s)
{
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, h0, sizeof h0);
    s->nbytes = 0;
    s->nbuf = 0;
}

void lsc_sha256_blocks_portable_(uint32_t h[8], const uint8_t *p, size_t nblocks)
{
    for (size_t i = 0; i < nblocks; i++)
        sha256_block(h, p + 64 * i);
}

#ifdef LSC_SHA_X86
/* The SHA-NI rounds (Intel's published sequence): the state is kept as
 * ABEF/CDGH, four rounds per message group g; groups 4..15 extend the
 * schedule with msg1/msg2: W[g] = msg2(msg1(W[g-4], W[g-3]) +
 * alignr(W[g-1], W[g-2], 4), W[g-1]). */
__attribute__((target("sha,sse4.1,ssse3")))
static void sha256_blocks_shani(uint32_t h[8], const uint8_t *p, size_t nblocks)
{
    const __m128i BSWAP = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i tmp = _mm_loadu_si128((const __m128i *)(const void *)&h[0]);
    __m128i st1 = _mm_loadu_si128((const __m128i *)(const void *)&h[4]);
    tmp = _mm_shuffle_epi32(tmp, 0xB1);                /* CDAB */
    st1 = _mm_shuffle_epi32(st1, 0x1B);                /* EFGH */
    __m128i st0 = _mm_alignr_epi8(tmp, st1, 8);        /* ABEF */
    st1 = _mm_blend_epi16(st1, tmp, 0xF0);             /* CDGH */
    for (size_t b = 0; b < nblocks; b++, p += 64) {
        __m128i abef = st0, cdgh = st1, w[4];
        for (int g = 0; g < 16; g++) {
            __m128i m;
            if (g < 4) {
                m = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16 * g)),
                                     BSWAP);
            } else {
                __m128i w4 = w[g & 3], w3 = w[(g + 1) & 3], w2 = w[(g + 2) & 3], w1 = w[(g + 3) & 3];
                m = _mm_sha256msg1_epu32(w4, w3);
                m = _mm_add_epi32(m, _mm_alignr_epi8(w1, w2, 4));
                m = _mm_sha256msg2_epu32(m, w1);
            }
            w[g & 3] = m;
            __m128i k = _mm_add_epi32(m, _mm_loadu_si128((const __m128i *)(const void *)&K256[4 * g]));
            st1 = _mm_sha256rnds2_epu32(st1, st0, k);
            st0 = _mm_sha256rnds2_epu32(st0, st1, _mm_shuffle_epi32(k, 0x0E));
        }
        st0 = _mm_add_epi32(st0, abef);
        st1 = _mm_add_epi32(st1, cdgh);
    }
    tmp = _mm_shuffle_epi32(st0, 0x1B);                /* FEBA */
    st1 = _mm_shuffle_epi32(st1, 0xB1);                /* DCHG */
    st0 = _mm_blend_epi16(tmp, st1, 0xF0);             /* DCBA */
    st1 = _mm_alignr_epi8(st1, tmp, 8);                /* HGFE */
    _mm_storeu_si128((__m128i *)(void *)&h[0], st0);
    _mm_storeu_si128((__m128i *)(void *)&h[4], st1);
}
#endif

int lsc_sha256_blocks_accel_(uint32_t h[8], const uint8_t *p, size_t nblocks)
{
#ifdef LSC_SHA_X86
#ifdef __clang__   /* clang 14 knows no "sha" for __builtin_cpu_supports: CPUID leaf 7, EBX bit 29 */
    unsigned ca, cb, cc, cd;
    int sha = __get_cpuid_count(7, 0, &ca, &cb, &cc, &cd) && (cb >> 29 & 1u);
#else
    int sha = __builtin_cpu_supports("sha");
#endif
    if (sha && __builtin_cpu_supports("sse4.1") &&
        __builtin_cpu_supports("ssse3")) {
        sha256_blocks_shani(h, p, nblocks);
        return 1;
    }
#else
    (void)h; (void)p; (void)nblocks;
#endif
    return 0;
}

static void sha256_blocks(uint32_t h[8], const uint8_t *p, size_t nblocks)
{
    if (nblocks && !lsc_sha256_blocks_accel_(h, p, nblocks))
        lsc_sha256_blocks_portable_(h, p, nblocks);
}

void lsc_sha256_update(lsc_sha256 *s, const void *data, size_t n)
{
    const uint8_t *p = data;
    s->nbytes += n;
    if (s->nbuf > 0) {   /* top up a partial block first */
        size_t take = 64 - s->nbuf;
        if (take > n)
            take = n;
        memcpy(s->buf + s->nbuf, p, take);
        s->nbuf += take;
        p += take;
        n -= take;
        if (s->nbuf < 64)
            return;
        sha256_blocks(s->h, s->buf, 1);
        s->nbuf = 0;
    }
    /* whole blocks straight from the input, the rest into the buffer */
    sha256_blocks(s->h, p, n / 64);
    p += n / 64 * 64;
    n %= 64;
    memcpy(s->buf, p, n);
    s->nbuf = n;
}

void lsc_sha256_final(lsc_sha256 *s, char hex[65])
{
    uint64_t bits = s->nbytes * 8;
    uint8_t pad = 0x80;
    lsc_sha256_update(s, &pad, 1);
    uint8_t zero = 0;
    while (s->nbuf != 56)
        lsc_sha256_update(s, &zero, 1);
    uint8_t len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)(bits >> (56 - 8 * i));
    lsc_sha256_update(s, len, 8);
    for (int i = 0; i < 8; i++)
        snprintf(hex + 8 * i, 9, "%08x", s->h[i]);
    hex[64] = '\0';
}

static int hash_file_into(lsc_sha256 *s, const char *path, lsc_error *err)
{
    FILE *fp = lsc_file_open_read(path, err);
    if (!fp)
        return err ? err->code : LSC_EIO;
    uint8_t buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
        lsc_sha256_update(s, buf, n);
    int bad = ferror(fp);
    fclose(fp);
    if (bad)
        LSC_FAIL(err, LSC_EIO, "%s: read error", path);
    return LSC_OK;
}

int lsc_sha256_file(const char *path, char hex[65], lsc_error *err)
{
    lsc_sha256 s;
    lsc_sha256_init(&s);
    int rc = hash_file_into(&s, path, err);
    if (rc != LSC_OK)
        return rc;
    lsc_sha256_final(&s, hex);
    return LSC_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int lsc_sha256_path(const char *path, char hex[65], lsc_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        LSC_FAIL(err, LSC_EIO, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return lsc_sha256_file(path, hex, err);
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/adapter_config.json", path);
    int is_adapter = stat(probe, &st) == 0;
    DIR *d = opendir(path);
    if (!d)
        LSC_FAIL(err, LSC_EIO, "%s: cannot open directory: %s", path, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = LSC_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        /* an adapter directory is its two PEFT files: logs and checkpoints
         * beside them (with wall times inside) must not change its digest */
        if (is_adapter && strcmp(e->d_name, "adapter_config.json") != 0 &&
            strcmp(e->d_name, "adapter_model.safetensors") != 0)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nn = LSC_REALLOC(names, cap * sizeof *names);
            if (!nn) { rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", path); goto done; }
            names = nn;
        }
        names[n] = lsc_strdup_(e->d_name);
        if (!names[n]) { rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", path); goto done; }
        n++;
    }
    qsort(names, n, sizeof *names, cmp_str);
    lsc_sha256 s;
    lsc_sha256_init(&s);
    for (size_t i = 0; i < n; i++) {
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, names[i]);
        if (stat(full, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        lsc_sha256_update(&s, names[i], strlen(names[i]) + 1);
        rc = hash_file_into(&s, full, err);
        if (rc != LSC_OK)
            goto done;
    }
    lsc_sha256_final(&s, hex);
done:
    closedir(d);
    for (size_t i = 0; i < n; i++)
        LSC_FREE(names[i]);
    LSC_FREE(names);
    return rc;
}
