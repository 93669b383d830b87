/*
 * test_nf4.c — NF4 quantisation (lib/nf4.c): the code table and the dynamic
 * map, a hand-worked quantise→dequantise example, packing order, tie rule,
 * error bounds, zero blocks, outliers, partial blocks, double quantisation,
 * the tiled frozen-layer products against the dense ones, the bitsandbytes
 * safetensors layout (round trip, JSON spelling) and every error path of
 * the loader and the file-level calls. The numpy oracle is
 * tests/test_nf4_oracle.py.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lsc_internal.h"
#include "test.h"

static void fill_normal(float *x, size_t n, double sd, uint64_t seed)
{
    uint64_t rng;
    lsc_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(sd * lsc_rng_normal(&rng));
}

static unsigned nibble(const lsc_nf4 *q, size_t i)
{
    return (i & 1) ? (q->packed[i >> 1] & 15u) : (q->packed[i >> 1] >> 4);
}

static double nf4_max_gap(void)
{
    double g = 0;
    for (int j = 0; j < 15; j++)
        g = fmax(g, (double)lsc_nf4_code[j + 1] - (double)lsc_nf4_code[j]);
    return g;
}

// ---- tables ----

static void test_code_table(void)
{
    /* bitsandbytes get_4bit_type("nf4"), lora-facts §5, as float32 */
    static const double bnb[16] = {
        -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
        -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
        0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
        0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0};
    int exact = 1, sorted = 1;
    for (int i = 0; i < 16; i++) {
        exact &= (double)lsc_nf4_code[i] == bnb[i];   /* each literal is a float32 value */
        if (i)
            sorted &= lsc_nf4_code[i] > lsc_nf4_code[i - 1];
    }
    CHECK(exact, "nf4 code table equals bitsandbytes' 16 values bit for bit");
    CHECK(sorted && lsc_nf4_code[7] == 0.0f, "nf4 code table sorted, index 7 is 0 (7 negative, 8 positive)");
    CHECK(fabs(nf4_max_gap() - 0.30380719900131226) < 1e-12, "nf4 largest code gap = 0.3038 (between -1 and code 1)");
}

static void test_dynamic_map(void)
{
    float m[256];
    lsc_nf4_dynamic_map(m);
    int inc = 1, sym = 1;
    for (int i = 1; i < 256; i++)
        inc &= m[i] > m[i - 1];
    for (int j = 0; j < 127; j++)
        sym &= m[128 + j] == -m[126 - j];
    CHECK(inc, "dynamic map: 256 strictly increasing values");
    CHECK(m[127] == 0.0f && m[255] == 1.0f, "dynamic map: index 127 is 0, index 255 is 1");
    CHECK(sym, "dynamic map: negatives mirror the positives (127 each)");
    /* hand derivation in double: positive values 10^(i-6)·(0.1 + 0.9·(j+½)/2^i),
     * i = 0..6, j < 2^i, in increasing order = m[128..254]; float32 rounding
     * of linspace/mean/scale leaves each within a few ulps. */
    double worst = 0;
    int idx = 128;
    for (int i = 0; i < 7; i++)
        for (int j = 0; j < (1 << i); j++) {
            double v = pow(10.0, i - 6) * (0.1 + 0.9 * (j + 0.5) / (double)(1 << i));
            worst = fmax(worst, fabs((double)m[idx++] - v) / v);
        }
    CHECK(idx == 255 && worst < 4e-7, "dynamic map: matches the double-precision construction (max rel diff %.2g)",
          worst);
    CHECK(fabs((double)m[254] - 0.99296875) < 1e-7 && fabs((double)m[0] + 0.99296875) < 1e-7 &&
              fabs((double)m[128] - 0.55e-6) < 1e-13,
          "dynamic map: largest mean 0.99296875, smallest magnitude 0.55e-6");
}

// ---- quantisation: worked examples ----

static void test_hand_example(void)
{
    /* absmax 2 (reciprocal 0.5, exact): s = 0.5 -1 0.1 0.9 -0.05
     *   0.5   lies between codes 12 (0.4407) and 13 (0.5626), midpoint 0.50166 -> 12
     *   -1    -> 0;  0.1 between 8 (0.0796) and 9 (0.1609), midpoint 0.1203 -> 8
     *   0.9   between 14 (0.7230) and 15 (1.0), midpoint 0.8615 -> 15
     *   -0.05 between 6 (-0.0911) and 7 (0.0), midpoint -0.0455 -> 6
     * bytes: (12<<4|0) (8<<4|15) (6<<4|pad 0) = C0 8F 60 */
    const float W[5] = {1.0f, -2.0f, 0.2f, 1.8f, -0.1f};
    lsc_nf4 q;
    lsc_error err;
    int rc = lsc_nf4_quantize(&q, W, 1, 5, 32, 0, &err);
    CHECK(rc == LSC_OK, "hand example: quantise (1, 5), blocksize 32");
    if (rc != LSC_OK)
        return;
    CHECK(q.n_blocks == 1 && q.absmax[0] == 2.0f, "hand example: one block, absmax 2");
    CHECK(q.packed[0] == 0xC0 && q.packed[1] == 0x8F && q.packed[2] == 0x60,
          "hand example: packed bytes C0 8F 60 (got %02X %02X %02X)", q.packed[0], q.packed[1], q.packed[2]);
    float out[5];
    lsc_nf4_dequant_range(&q, 0, 5, out);
    const float want[5] = {2 * 0.44070982933044434f, -2.0f, 2 * 0.07958029955625534f, 2.0f,
                           2 * -0.09105003625154495f};
    CHECK(memcmp(out, want, sizeof out) == 0, "hand example: dequantised = 2·code[idx] exactly");
    lsc_nf4_free(&q);

    /* with double quant, a single block's absmax - mean is 0: index 127, exact */
    rc = lsc_nf4_quantize(&q, W, 1, 5, 32, 1, &err);
    CHECK(rc == LSC_OK && q.nested && q.offset == 2.0f && q.nested_absmax[0] == 0.0f && q.qabsmax[0] == 127 &&
              lsc_nf4_block_absmax(&q, 0) == 2.0f,
          "hand example DQ: offset 2, nested absmax 0, index 127, absmax' = 2 exactly");
    lsc_nf4_free(&q);
}

static void test_packing_and_ties(void)
{
    lsc_nf4 q;
    lsc_error err;
    const float a[2] = {-1.0f, 1.0f}, b[2] = {1.0f, -1.0f};
    lsc_nf4_quantize(&q, a, 1, 2, 32, 0, &err);
    CHECK(q.packed[0] == 0x0F, "packing: [-1, 1] -> 0x0F (first element in the high nibble)");
    lsc_nf4_free(&q);
    lsc_nf4_quantize(&q, b, 2, 1, 32, 0, &err);
    CHECK(q.packed[0] == 0xF0, "packing: [1, -1] -> 0xF0");
    lsc_nf4_free(&q);

    /* a value exactly on a midpoint takes the lower code; one ulp above, the upper */
    int ties = 1, above = 1;
    for (int j = 0; j < 15; j++) {
        float mid = (float)(((double)lsc_nf4_code[j] + (double)lsc_nf4_code[j + 1]) / 2);
        float v[3] = {mid, nextafterf(mid, 2.0f), 1.0f};   /* the 1.0 fixes absmax = 1 */
        lsc_nf4_quantize(&q, v, 1, 3, 32, 0, &err);
        ties &= nibble(&q, 0) == (unsigned)j;
        above &= nibble(&q, 1) == (unsigned)j + 1;
        lsc_nf4_free(&q);
    }
    CHECK(ties, "tie rule: a value on a midpoint goes to the lower code (bitsandbytes' x > m)");
    CHECK(above, "tie rule: one ulp above a midpoint goes to the upper code");
}

static void test_dq_hand_example(void)
{
    /* three blocks of 32 with absmax 1, 2, 3: offset 2, x = -1 0 1, a2 = 1,
     * indices 0 (map min -0.99296875), 127 (0), 255 (1);
     * absmax' = 1.00703125, 2, 3 */
    float W[96] = {0};
    W[5] = 1.0f;
    W[40] = -2.0f;
    W[90] = 3.0f;
    lsc_nf4 q;
    lsc_error err;
    int rc = lsc_nf4_quantize(&q, W, 3, 32, 32, 1, &err);
    CHECK(rc == LSC_OK && q.n_blocks == 3 && q.n_nested == 1 && q.offset == 2.0f && q.nested_absmax[0] == 1.0f,
          "DQ hand example: offset 2, one nested block with scale 1");
    CHECK(q.qabsmax[0] == 0 && q.qabsmax[1] == 127 && q.qabsmax[2] == 255, "DQ hand example: indices 0 127 255");
    CHECK(fabs(lsc_nf4_block_absmax(&q, 0) - 1.00703125) < 1e-7 && lsc_nf4_block_absmax(&q, 1) == 2.0f &&
              lsc_nf4_block_absmax(&q, 2) == 3.0f,
          "DQ hand example: dequantised absmax 1.00703 2 3");
    float out[96];
    lsc_nf4_dequant_range(&q, 0, 96, out);
    CHECK(out[5] == lsc_nf4_block_absmax(&q, 0) && out[40] == -2.0f && out[90] == 3.0f && out[0] == 0.0f,
          "DQ hand example: w' = code·absmax' (the block maxima land on ±absmax')");
    lsc_nf4_free(&q);
}

// ---- quantisation: properties ----

/* max over elements of |w − w'| − bound, where bound = ½·gap·absmax_b (+ the
 * absmax error with DQ) + rounding; ≤ 0 means every element is within. */
static double excess_over_bound(const lsc_nf4 *q, const float *W, const float *absmax_exact)
{
    float *out = malloc(q->n * sizeof *out);
    lsc_nf4_dequant_range(q, 0, q->n, out);
    double worst = -INFINITY, hg = nf4_max_gap() / 2;
    for (size_t i = 0; i < q->n; i++) {
        size_t b = i / (size_t)q->blocksize;
        double a = absmax_exact[b], ad = lsc_nf4_block_absmax(q, b);
        double bound = hg * a + fabs(ad - a) + 4 * FLT_EPSILON * a;
        worst = fmax(worst, fabs((double)W[i] - (double)out[i]) - bound);
    }
    free(out);
    return worst;
}

static void exact_absmax(const float *W, size_t n, int bs, float *absmax)
{
    for (size_t b = 0; b * (size_t)bs < n; b++) {
        float a = 0;
        for (size_t i = b * (size_t)bs; i < n && i < (b + 1) * (size_t)bs; i++)
            a = fmaxf(a, fabsf(W[i]));
        absmax[b] = a;
    }
}

static void test_error_bounds(void)
{
    const size_t d = 97, k = 131;   /* n = 12707: odd, no block size divides it */
    float *W = malloc(d * k * sizeof *W), *am = malloc(d * k * sizeof *am);
    fill_normal(W, d * k, 0.02, 11);
    const int bss[4] = {32, 64, 256, 4096};
    for (int t = 0; t < 4; t++)
        for (int dq = 0; dq <= 1; dq++) {
            lsc_nf4 q;
            lsc_error err;
            int rc = lsc_nf4_quantize(&q, W, d, k, bss[t], dq, &err);
            exact_absmax(W, d * k, bss[t], am);
            double ex = rc == LSC_OK ? excess_over_bound(&q, W, am) : 1;
            CHECK(rc == LSC_OK && ex <= 0, "round trip (%zu, %zu) blocksize %d DQ %d: |w - w'| <= half the largest "
                  "gap x absmax for every element (excess %.3g)", d, k, bss[t], dq, ex);
            /* nearest code: no code is closer to s than the chosen one (without DQ) */
            if (rc == LSC_OK && !dq) {
                int nearest = 1;
                for (size_t i = 0; i < q.n; i++) {
                    float a = q.absmax[i / (size_t)q.blocksize];
                    double s = a > 0 ? (double)W[i] / a : 0;
                    double di = fabs(s - lsc_nf4_code[nibble(&q, i)]);
                    for (int j = 0; j < 16; j++)
                        nearest &= di <= fabs(s - lsc_nf4_code[j]) + 1e-6;
                }
                CHECK(nearest, "blocksize %d: every index is the nearest code", bss[t]);
            }
            lsc_nf4_free(&q);
        }
    free(W);
    free(am);
}

static void test_zero_and_outlier(void)
{
    float W[4 * 64];
    fill_normal(W, 4 * 64, 0.01, 3);
    memset(W, 0, 128 * sizeof *W);   /* blocks 0, 1: all zero */
    W[2 * 64 + 17] = 1000.0f;        /* block 2: one huge outlier */
    for (int dq = 0; dq <= 1; dq++) {
        lsc_nf4 q;
        lsc_error err;
        lsc_nf4_quantize(&q, W, 4, 64, 64, dq, &err);
        float out[4 * 64];
        lsc_nf4_dequant_range(&q, 0, 4 * 64, out);
        int zb = 1, zo = 1;
        for (int i = 0; i < 64; i++)
            zb &= q.packed[i] == 0x77;
        for (int i = 0; i < 128; i++)
            zo &= out[i] == 0.0f;
        CHECK(zb && (dq || (q.absmax[0] == 0 && q.absmax[1] == 0)), "DQ %d: all-zero blocks store index 7 "
              "(0x77) and absmax 0", dq);
        CHECK(zo, "DQ %d: all-zero blocks dequantise to exactly 0", dq);
        /* outlier block: the outlier is code 15 (1.0) -> absmax', the rest
         * (|w| <= ~0.04 << 0.0398·1000) collapse to 0 */
        int ok = nibble(&q, 2 * 64 + 17) == 15 && out[2 * 64 + 17] == lsc_nf4_block_absmax(&q, 2);
        int rest = 1;
        for (int i = 2 * 64; i < 3 * 64; i++)
            if (i != 2 * 64 + 17)
                rest &= out[i] == 0.0f;
        CHECK(ok && rest, "DQ %d: outlier 1000 kept (%g), its 63 small neighbours become 0", dq,
              (double)out[2 * 64 + 17]);
        if (!dq)
            CHECK(out[2 * 64 + 17] == 1000.0f, "outlier dequantises to exactly 1000 without DQ");
        /* the next block is unaffected by the outlier */
        float am[4];
        exact_absmax(W, 4 * 64, 64, am);
        double worst = 0;
        for (int i = 3 * 64; i < 4 * 64; i++)
            worst = fmax(worst, fabs(W[i] - out[i]));
        double bnd = nf4_max_gap() / 2 * am[3] + fabs(lsc_nf4_block_absmax(&q, 3) - am[3]) + 1e-7;
        /* without DQ the next block keeps its own small error; with DQ its
         * absmax' shares a nested scale with the outlier's (a2 ≈ 750), so its
         * error can reach 0.007·a2 — bitsandbytes behaves the same; the
         * documented bound still holds */
        CHECK(worst <= bnd, "DQ %d: the block after the outlier is within its bound (%.3g <= %.3g%s)", dq, worst, bnd,
              dq ? ", absmax' error from the shared nested scale" : ", its own small error");
        lsc_nf4_free(&q);
    }
}

static void test_partial_block(void)
{
    const size_t d = 3, k = 37, n = 111;   /* blocks 32 32 32 15; odd n */
    float W[111], am[4];
    fill_normal(W, n, 1.0, 5);
    W[110] = 5.0f;   /* the last, partial block's absmax comes from its 15 elements */
    lsc_nf4 q;
    lsc_error err;
    int rc = lsc_nf4_quantize(&q, W, d, k, 32, 0, &err);
    exact_absmax(W, n, 32, am);
    CHECK(rc == LSC_OK && q.n_blocks == 4 && q.absmax[3] == 5.0f && memcmp(q.absmax, am, sizeof am) == 0,
          "partial block: 4 blocks, the last one (15 elements) has its own absmax");
    CHECK((q.packed[55] & 0x0F) == 0 && nibble(&q, 110) == 15, "odd n: last byte = (idx << 4) | 0 pad");
    float full[111];
    lsc_nf4_dequant_range(&q, 0, n, full);
    float rows12[74];
    lsc_nf4_dequant_rows(&q, 1, 2, rows12);
    CHECK(memcmp(rows12, full + 37, sizeof rows12) == 0, "dequant_rows(1, 2) = rows 1..2 of the full matrix");
    int ok = 1;
    for (size_t i0 = 0; i0 < n; i0 += 7)
        for (size_t c = 0; c + i0 <= n && c < 40; c += 3) {
            float tmp[40];
            lsc_nf4_dequant_range(&q, i0, c, tmp);
            ok &= memcmp(tmp, full + i0, c * sizeof *tmp) == 0;
        }
    CHECK(ok, "dequant_range at odd/even starts and lengths = the slice of the full matrix");
    lsc_nf4_free(&q);
}

static void test_double_quant_bound(void)
{
    /* 700 rows x 64 = 700 blocks -> 3 nested blocks (256, 256, 188) */
    const size_t d = 700, k = 64;
    float *W = malloc(d * k * sizeof *W), am[700];
    fill_normal(W, d * k, 0.05, 21);
    for (size_t r = 0; r < d; r += 37)
        W[r * k + 3] *= 40.0f;   /* spread the absmax values */
    lsc_nf4 q;
    lsc_error err;
    int rc = lsc_nf4_quantize(&q, W, d, k, 64, 1, &err);
    exact_absmax(W, d * k, 64, am);
    double mean = 0;
    for (int b = 0; b < 700; b++)
        mean += am[b];
    mean /= 700;
    CHECK(rc == LSC_OK && q.n_nested == 3 && q.offset == (float)mean, "DQ: 3 nested blocks, offset = mean(absmax)");
    /* documented bound: |absmax' − absmax| <= ½·(largest map gap)·a2 (also
     * covers −1, whose nearest value is the map minimum) + float rounding */
    double hg = 0;
    for (int i = 1; i < 256; i++)
        hg = fmax(hg, ((double)q.nested_code[i] - q.nested_code[i - 1]) / 2);
    hg = fmax(hg, 1.0 + q.nested_code[0]);
    double worst = -1, rel = 0;
    for (size_t b = 0; b < 700; b++) {
        double a2 = q.nested_absmax[b / 256];
        double e = fabs((double)lsc_nf4_block_absmax(&q, b) - am[b]);
        worst = fmax(worst, e - (hg * a2 + 4 * FLT_EPSILON * am[b]));
        rel = fmax(rel, e / am[b]);
    }
    CHECK(fabs(hg - 0.00703125) < 1e-7, "DQ: half the largest map gap = 0.00703125 (0.9/64/2)");
    CHECK(worst <= 0, "DQ: every dequantised absmax within 0.00703·a2 of the exact one (excess %.3g; max rel %.3g)",
          worst, rel);
    double nest_ok = 1;
    for (size_t j = 0; j < 3; j++) {
        double a2 = 0;
        for (size_t b = j * 256; b < 700 && b < (j + 1) * 256; b++)
            a2 = fmax(a2, fabs((double)(am[b] - q.offset)));
        nest_ok = nest_ok && q.nested_absmax[j] == (float)a2;
    }
    CHECK(nest_ok, "DQ: nested_absmax = max |absmax - offset| per 256 blocks");
    lsc_nf4_free(&q);
    free(W);
}

static void test_bits(void)
{
    const size_t d = 768, k = 768;
    float *W = malloc(d * k * sizeof *W);
    fill_normal(W, d * k, 0.02, 768);
    for (int dq = 0; dq <= 1; dq++) {
        lsc_nf4 q;
        lsc_error err;
        lsc_nf4_quantize(&q, W, d, k, 64, dq, &err);
        double c, t;
        lsc_nf4_bits(&q, &c, &t);
        double nominal = lsc_nf4_bits_nominal(64, dq);
        printf("  768x768 blocksize 64 DQ %d: constants %.6f bits/param (formula %.6f), total %.6f\n", dq, c,
               nominal, t);
        /* measured = formula + the one fp32 offset (DQ): 32/589824 */
        double expect = dq ? (9216.0 + 4 * 36 + 4) * 8 / 589824.0 : 0.5;
        CHECK(fabs(c - expect) < 1e-12 && fabs(t - 4 - c) < 1e-12 && fabs(c - nominal) < 1e-4,
              "bits/param DQ %d on 768x768: constants %.4f (QLoRA %.4f), total %.4f", dq, c, nominal, t);
        lsc_nf4_free(&q);
    }
    CHECK(fabs(lsc_nf4_bits_nominal(64, 1) - 0.126953125) < 1e-12 && lsc_nf4_bits_nominal(64, 0) == 0.5,
          "nominal: 0.5 -> 0.127 bits/param at blocksize 64 (QLoRA)");
    free(W);
}

// ---- tiled frozen-layer products ----

static void test_matmul(void)
{
    const size_t N = 7, d = 45, k = 100;
    float *W = malloc(d * k * sizeof *W), *Wd = malloc(d * k * sizeof *Wd);
    float x[7 * 100], dy[7 * 45], bias[45], y[7 * 45], dx[7 * 100], tile[350];
    fill_normal(W, d * k, 0.1, 1);
    fill_normal(x, N * k, 1.0, 2);
    fill_normal(dy, N * d, 1.0, 3);
    fill_normal(bias, d, 1.0, 4);
    lsc_nf4 q;
    lsc_error err;
    lsc_nf4_quantize(&q, W, d, k, 64, 1, &err);   /* blocks straddle rows */
    lsc_nf4_dequant_rows(&q, 0, d, Wd);
    for (int use_bias = 0; use_bias <= 1; use_bias++) {
        for (size_t i = 0; i < N * d; i++)
            y[i] = NAN;   /* forward overwrites */
        lsc_nf4_matmul_forward(y, x, &q, use_bias ? bias : NULL, tile, 350, N);   /* 3 rows per tile */
        double worst = 0;
        for (size_t t = 0; t < N; t++)
            for (size_t o = 0; o < d; o++) {
                double s = use_bias ? bias[o] : 0;
                for (size_t i = 0; i < k; i++)
                    s += (double)x[t * k + i] * Wd[o * k + i];
                worst = fmax(worst, fabs(s - y[t * d + o]));
            }
        CHECK(worst < 1e-5, "forward y = x·deq(W)ᵀ%s, 15 tiles of 3 rows = dense (max diff %.2g)",
              use_bias ? " + b" : "", worst);
    }
    for (size_t i = 0; i < N * k; i++)
        dx[i] = 0.5f;   /* backward accumulates */
    lsc_nf4_matmul_backward_input(dx, dy, &q, tile, 350, N);
    double worst = 0;
    for (size_t t = 0; t < N; t++)
        for (size_t i = 0; i < k; i++) {
            double s = 0.5;
            for (size_t o = 0; o < d; o++)
                s += (double)dy[t * d + o] * Wd[o * k + i];
            worst = fmax(worst, fabs(s - dx[t * k + i]));
        }
    CHECK(worst < 1e-5, "backward dx += dy·deq(W) = dense (max diff %.2g)", worst);
    /* one tile holding everything gives the same result */
    size_t tf = lsc_nf4_tile_floats(d, k);
    float *big = malloc(tf * sizeof *big), y1[7 * 45], y2[7 * 45];
    lsc_nf4_matmul_forward(y1, x, &q, bias, big, tf, N);
    lsc_nf4_matmul_forward(y2, x, &q, bias, tile, k, N);   /* one row per tile */
    double dd = 0;
    for (size_t i = 0; i < N * d; i++)
        dd = fmax(dd, fabs(y1[i] - y2[i]));
    CHECK(tf >= k && tf <= d * k && tf % k == 0 && dd < 1e-5,
          "tile size %zu floats (whole rows) and 1-row tiles agree (%.2g)", tf, dd);
    free(big);
    lsc_nf4_free(&q);
    free(W);
    free(Wd);
}

// ---- safetensors layout ----

static int same_nf4(const lsc_nf4 *a, const lsc_nf4 *b)
{
    if (a->d != b->d || a->k != b->k || a->n != b->n || a->blocksize != b->blocksize || a->nested != b->nested ||
        a->n_blocks != b->n_blocks || strcmp(a->dtype, b->dtype) != 0)
        return 0;
    if (memcmp(a->packed, b->packed, (a->n + 1) / 2) || memcmp(a->code, b->code, sizeof a->code))
        return 0;
    if (!a->nested)
        return memcmp(a->absmax, b->absmax, a->n_blocks * sizeof(float)) == 0;
    return a->offset == b->offset && a->n_nested == b->n_nested && a->nested_blocksize == b->nested_blocksize &&
           memcmp(a->qabsmax, b->qabsmax, a->n_blocks) == 0 &&
           memcmp(a->nested_absmax, b->nested_absmax, a->n_nested * sizeof(float)) == 0 &&
           memcmp(a->nested_code, b->nested_code, sizeof a->nested_code) == 0;
}

static void test_st_round_trip(void)
{
    float W1[3 * 37], W2[300 * 40], bias[3] = {1, 2, 3};
    fill_normal(W1, 3 * 37, 1.0, 8);
    fill_normal(W2, 300 * 40, 0.02, 9);
    lsc_nf4 q1, q2;
    lsc_error err;
    lsc_nf4_quantize(&q1, W1, 3, 37, 32, 0, &err);
    lsc_nf4_quantize(&q2, W2, 300, 40, 64, 1, &err);
    lsc_nf4_st s1, s2;
    CHECK(lsc_nf4_st_entries(&s1, &q1, "h.0.attn.q_proj.weight", &err) == LSC_OK && s1.n == 4,
          "entries: 4 tensors without DQ");
    CHECK(lsc_nf4_st_entries(&s2, &q2, "h.0.mlp.fc_in.weight", &err) == LSC_OK && s2.n == 6,
          "entries: 6 tensors with DQ");
    CHECK(strcmp(s1.json, "{\"quant_type\": \"nf4\", \"blocksize\": 32, \"dtype\": \"float32\", \"shape\": [3, 37]}")
              == 0,
          "quant_state JSON spelled as json.dumps: %s", s1.json);
    static const char pre[] = "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float32\", \"shape\": [300, 40], "
                              "\"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": ";
    CHECK(strncmp(s2.json, pre, sizeof pre - 1) == 0,
          "quant_state JSON with the nested keys in bitsandbytes' order");
    lsc_st_entry e[11];
    int n = 0;
    for (int i = 0; i < s1.n; i++)
        e[n++] = s1.entries[i];
    for (int i = 0; i < s2.n; i++)
        e[n++] = s2.entries[i];
    e[n++] = (lsc_st_entry){"h.0.attn.q_proj.bias", LSC_DT_F32, 1, {3}, bias};
    const char *mk[1] = {"format"}, *mv[1] = {"pt"};
    const char *path = test_tmp("rt.safetensors");
    CHECK(lsc_st_write(path, e, n, mk, mv, 1, &err) == LSC_OK, "write the bitsandbytes layout with lsc_st_write");
    lsc_st_file f;
    if (lsc_st_open(&f, path, &err) != LSC_OK) {
        CHECK(0, "reopen: %s", err.msg);
        return;
    }
    const lsc_st_tensor *tp = lsc_st_find(&f, "h.0.mlp.fc_in.weight");
    const lsc_st_tensor *ta = lsc_st_find(&f, "h.0.mlp.fc_in.weight.absmax");
    const lsc_st_tensor *tn = lsc_st_find(&f, "h.0.mlp.fc_in.weight.nested_absmax");
    const lsc_st_tensor *tj = lsc_st_find(&f, "h.0.mlp.fc_in.weight.quant_state.bitsandbytes__nf4");
    CHECK(tp && tp->dtype == LSC_DT_U8 && tp->ndim == 2 && tp->shape[0] == 6000 && tp->shape[1] == 1 && ta &&
              ta->dtype == LSC_DT_U8 && ta->numel == 188 && tn && tn->dtype == LSC_DT_F32 && tn->numel == 1 && tj &&
              tj->dtype == LSC_DT_U8 && tj->ndim == 1,
          "file layout: packed U8 [6000, 1], absmax U8 [188], nested_absmax F32 [1], quant_state U8 [len]");
    const lsc_st_tensor *ta1 = lsc_st_find(&f, "h.0.attn.q_proj.weight.absmax");
    CHECK(ta1 && ta1->dtype == LSC_DT_F32 && ta1->numel == 4 && !lsc_st_find(&f, "h.0.attn.q_proj.weight.nested_absmax"),
          "file layout without DQ: absmax F32 [4], no nested tensors");
    CHECK(lsc_nf4_st_role(&f, "h.0.mlp.fc_in.weight") == LSC_NF4_ROLE_WEIGHT &&
              lsc_nf4_st_role(&f, "h.0.mlp.fc_in.weight.nested_quant_map") == LSC_NF4_ROLE_STATE &&
              lsc_nf4_st_role(&f, "h.0.attn.q_proj.weight.quant_state.bitsandbytes__nf4") == LSC_NF4_ROLE_STATE &&
              lsc_nf4_st_role(&f, "h.0.attn.q_proj.bias") == LSC_NF4_ROLE_PLAIN,
          "roles: weight / state / plain");
    lsc_nf4 r1, r2;
    int rc1 = lsc_nf4_st_load(&r1, &f, "h.0.attn.q_proj.weight", &err);
    int rc2 = lsc_nf4_st_load(&r2, &f, "h.0.mlp.fc_in.weight", &err);
    CHECK(rc1 == LSC_OK && same_nf4(&q1, &r1), "load = saved, bit for bit (no DQ)");
    CHECK(rc2 == LSC_OK && same_nf4(&q2, &r2), "load = saved, bit for bit (DQ; nested_offset through JSON exact)");
    lsc_nf4_free(&r1);
    lsc_nf4_free(&r2);
    lsc_st_close(&f);
    lsc_nf4_free(&q1);
    lsc_nf4_free(&q2);
}

static void test_offset_spelling(void)
{
    /* one block: offset = its absmax; nested_offset must read like Python's repr */
    static const struct {
        float v;
        const char *s;
    } cases[] = {{0.1f, "0.10000000149011612"}, {1e-5f, "9.999999747378752e-06"}, {2.0f, "2.0"},
                 {123.456f, "123.45600128173828"}, {1e-4f, "9.999999747378752e-05"}, {12345678.9f, "12345679.0"}};
    int ok = 1;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        float W[32] = {0};
        W[3] = cases[c].v;
        lsc_nf4 q;
        lsc_nf4_st st;
        lsc_error err;
        lsc_nf4_quantize(&q, W, 1, 32, 32, 1, &err);
        lsc_nf4_st_entries(&st, &q, "w.weight", &err);
        char want[256];
        snprintf(want, sizeof want, "\"nested_offset\": %s}", cases[c].s);
        if (!strstr(st.json, want)) {
            ok = 0;
            printf("  got %s, want ...%s\n", st.json, want);
        }
        lsc_nf4_free(&q);
    }
    CHECK(ok, "nested_offset spelled as Python's repr(float) (0.10000000149011612, 9.999999747378752e-06, 2.0...)");
}

// ---- bad inputs ----

static void test_bad_quantize_args(void)
{
    float W[64] = {0};
    lsc_nf4 q;
    lsc_error err;
    const int bad[5] = {48, 16, 8192, 0, -64};
    int ok = 1;
    for (int i = 0; i < 5; i++) {
        int rc = lsc_nf4_quantize(&q, W, 1, 64, bad[i], 0, &err);
        char want[32];
        snprintf(want, sizeof want, "blocksize %d", bad[i]);
        ok &= rc == LSC_EARG && strstr(err.msg, want) && strstr(err.msg, "power of two") && q.packed == NULL;
    }
    CHECK(ok, "blocksize 48/16/8192/0/-64: LSC_EARG \"blocksize N is not a power of two in 32..4096\"");
    W[70 % 64] = NAN;
    int rc = lsc_nf4_quantize(&q, W, 2, 32, 32, 0, &err);
    CHECK(rc == LSC_ENAN && strstr(err.msg, "non-finite") && strstr(err.msg, "[0, 6]"),
          "NaN: LSC_ENAN naming the position (%s)", err.msg);
    W[6] = INFINITY;
    rc = lsc_nf4_quantize(&q, W, 2, 32, 32, 1, &err);
    CHECK(rc == LSC_ENAN, "Inf: LSC_ENAN");
    rc = lsc_nf4_quantize(&q, W, 0, 32, 32, 0, &err);
    CHECK(rc == LSC_ESHAPE && strstr(err.msg, "empty"), "d = 0: LSC_ESHAPE (%s)", err.msg);
    lsc_nf4_free(&q);   /* safe after failures */
}

/* Writes a one-weight file whose entries are q's, with optional edits. */
static int write_variant(const char *path, const lsc_nf4 *q, const char *json, int drop, const int64_t *packed_shape,
                         lsc_error *err)
{
    lsc_nf4_st st;
    lsc_nf4_st_entries(&st, q, "m.weight", err);
    lsc_st_entry e[6];
    int n = 0;
    for (int i = 0; i < st.n; i++) {
        if (i == drop)
            continue;
        e[n] = st.entries[i];
        if (i == st.n - 1 && json) {
            e[n].data = json;
            e[n].shape[0] = (int64_t)strlen(json);
        }
        if (i == 0 && packed_shape) {
            e[n].shape[0] = packed_shape[0];
            e[n].shape[1] = packed_shape[1];
            e[n].data = calloc((size_t)(packed_shape[0] * packed_shape[1]), 1);
        }
        n++;
    }
    int rc = lsc_st_write(path, e, n, NULL, NULL, 0, err);
    if (packed_shape)
        free((void *)e[0].data);
    return rc;
}

static int load_variant(const lsc_nf4 *q, const char *json, int drop, const int64_t *packed_shape, lsc_error *err)
{
    const char *path = test_tmp("bad.safetensors");
    if (write_variant(path, q, json, drop, packed_shape, err) != LSC_OK) {
        printf("  cannot write variant: %s\n", err->msg);
        return 999;
    }
    lsc_st_file f;
    int rc = lsc_st_open(&f, path, err);
    if (rc != LSC_OK)
        return rc;
    lsc_nf4 r;
    rc = lsc_nf4_st_load(&r, &f, "m.weight", err);
    lsc_nf4_free(&r);
    lsc_st_close(&f);
    return rc;
}

static void test_bad_files(void)
{
    float W[3 * 37];
    fill_normal(W, 3 * 37, 1.0, 77);
    lsc_nf4 q, qn;
    lsc_error err;
    lsc_nf4_quantize(&q, W, 3, 37, 32, 0, &err);
    lsc_nf4_quantize(&qn, W, 3, 37, 32, 1, &err);
    int rc;
#define BAD(expr, code, frag, what)                                                                           \
    do {                                                                                                     \
        rc = (expr);                                                                                         \
        CHECK(rc == (code) && strstr(err.msg, frag) && strstr(err.msg, "m.weight") && strstr(err.msg, test_tmpdir()), \
              "%s: %s (%s)", what, lsc_strerror(code), err.msg);                                             \
    } while (0)
    BAD(load_variant(&q, "{not json", -1, NULL, &err), LSC_EFORMAT, "quant_state is not a JSON object",
        "corrupt quant_state JSON");
    BAD(load_variant(&q, "[1, 2]", -1, NULL, &err), LSC_EFORMAT, "not a JSON object", "quant_state JSON array");
    BAD(load_variant(&q, "{\"quant_type\": \"fp4\", \"blocksize\": 32, \"dtype\": \"float32\", \"shape\": [3, 37]}", -1,
                     NULL, &err),
        LSC_EFORMAT, "fp4 is not supported", "quant_type fp4");
    BAD(load_variant(&q, "{\"quant_type\": \"nf4\", \"blocksize\": 0, \"dtype\": \"float32\", \"shape\": [3, 37]}", -1,
                     NULL, &err),
        LSC_EFORMAT, "blocksize must be a positive integer", "blocksize 0 in quant_state");
    BAD(load_variant(&q, "{\"quant_type\": \"nf4\", \"blocksize\": 32.5, \"dtype\": \"float32\", \"shape\": [3, 37]}",
                     -1, NULL, &err),
        LSC_EFORMAT, "blocksize", "blocksize 32.5 in quant_state");
    BAD(load_variant(&q, "{\"quant_type\": \"nf4\", \"blocksize\": 32, \"dtype\": \"int8\", \"shape\": [3, 37]}", -1,
                     NULL, &err),
        LSC_EFORMAT, "dtype", "dtype int8");
    BAD(load_variant(&q, "{\"quant_type\": \"nf4\", \"blocksize\": 32, \"dtype\": \"float32\", \"shape\": [111]}", -1,
                     NULL, &err),
        LSC_EFORMAT, "2-D", "1-D shape");
    BAD(load_variant(&q, "{\"quant_type\": \"nf4\", \"blocksize\": 32, \"dtype\": \"float32\", \"shape\": [4, 37]}", -1,
                     NULL, &err),
        LSC_ESHAPE, "packed data has 56 bytes, expected [74, 1]", "JSON shape disagrees with the packed size");
    BAD(load_variant(&q, "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float32\", \"shape\": [3, 37]}", -1,
                     NULL, &err),
        LSC_ESHAPE, "absmax has 4 values, expected 2", "JSON blocksize disagrees with absmax count");
    BAD(load_variant(&q,
                     "{\"quant_type\": \"nf4\", \"blocksize\": 32, \"dtype\": \"float32\", \"shape\": [3, 37], "
                     "\"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": 0.5}",
                     -1, NULL, &err),
        LSC_EFORMAT, "absmax must be U8", "nested JSON with an F32 absmax");
    BAD(load_variant(&qn,
                     "{\"quant_type\": \"nf4\", \"blocksize\": 32, \"dtype\": \"float32\", \"shape\": [3, 37], "
                     "\"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": \"x\"}",
                     -1, NULL, &err),
        LSC_EFORMAT, "nested_offset", "nested_offset not a number");
    BAD(load_variant(&q, NULL, 1, NULL, &err), LSC_ENOTFOUND, "m.weight.absmax' missing", "absmax tensor missing");
    BAD(load_variant(&qn, NULL, 3, NULL, &err), LSC_ENOTFOUND, "nested_absmax' is missing",
        "nested_absmax tensor missing");
    int64_t ps[2] = {28, 2};
    BAD(load_variant(&q, NULL, -1, ps, &err), LSC_ESHAPE, "packed data", "packed shape [28, 2]");
    BAD(load_variant(&q, NULL, 0, NULL, &err), LSC_ENOTFOUND, "packed data tensor", "packed tensor missing");
#undef BAD
    lsc_nf4_free(&q);
    lsc_nf4_free(&qn);
}

// ---- whole files ----

static void test_files(void)
{
    float wte[10 * 8], q[8 * 8], qb[8], fc[32 * 8], ln[8];
    fill_normal(wte, 80, 1, 1);
    fill_normal(q, 64, 0.1, 2);
    fill_normal(qb, 8, 0.1, 3);
    fill_normal(fc, 256, 0.1, 4);
    fill_normal(ln, 8, 1, 5);
    lsc_st_entry e[5] = {
        {"wte.weight", LSC_DT_F32, 2, {10, 8}, wte},
        {"h.0.attn.q_proj.weight", LSC_DT_F32, 2, {8, 8}, q},
        {"h.0.attn.q_proj.bias", LSC_DT_F32, 1, {8}, qb},
        {"h.0.mlp.fc_in.weight", LSC_DT_F32, 2, {32, 8}, fc},
        {"h.0.ln_1.weight", LSC_DT_F32, 1, {8}, ln},
    };
    const char *mk[2] = {"n_layer", "n_embd"}, *mv[2] = {"1", "8"};
    char in[256], nf[256], back[256];
    snprintf(in, sizeof in, "%s", test_tmp("model.safetensors"));
    snprintf(nf, sizeof nf, "%s", test_tmp("model-nf4.safetensors"));
    snprintf(back, sizeof back, "%s", test_tmp("model-deq.safetensors"));
    lsc_error err;
    lsc_st_write(in, e, 5, mk, mv, 2, &err);

    CHECK(lsc_nf4_is_target("h.3.attn.q_proj.weight", 2, NULL) && lsc_nf4_is_target("h.3.mlp.fc_out.weight", 2, NULL) &&
              !lsc_nf4_is_target("wte.weight", 2, NULL) && !lsc_nf4_is_target("h.3.attn.q_proj.bias", 1, NULL) &&
              !lsc_nf4_is_target("h.3.attn.q_proj.weight", 1, NULL) && !lsc_nf4_is_target("h.3.ln_1.weight", 1, NULL) &&
              lsc_nf4_is_target("h.1.attn.v_proj.weight", 2, "k, v") &&
              !lsc_nf4_is_target("h.1.attn.q_proj.weight", 2, "k,v") &&
              lsc_nf4_is_target("transformer.h.0.attn.c_attn.weight", 2, "c_attn"),
          "targets: default = block linear weights; lists match 'T' or 'T_proj'");

    lsc_nf4_opts o = {64, 1, NULL};
    lsc_nf4_stats s;
    int rc = lsc_nf4_quantize_file(in, nf, &o, &s, &err);
    CHECK(rc == LSC_OK && s.n_quantized == 2 && s.n_kept == 3 && s.n_params == 64 + 256,
          "quantize_file: 2 weights quantised, 3 tensors kept (%s)", rc ? err.msg : "ok");
    CHECK(s.rel_err > 0.01 && s.rel_err < 0.2 && s.bits_total > 4, "quantize_file stats: rel err %.3f, %.3f bits/param",
          s.rel_err, s.bits_total);
    lsc_st_file f;
    if (lsc_st_open(&f, nf, &err) != LSC_OK) {
        CHECK(0, "open quantised file: %s", err.msg);
        return;
    }
    const lsc_st_tensor *tw = lsc_st_find(&f, "wte.weight");
    CHECK(tw && tw->dtype == LSC_DT_F32 && memcmp(lsc_st_bytes(&f, tw), wte, sizeof wte) == 0 &&
              lsc_st_meta(&f, "n_layer") && strcmp(lsc_st_meta(&f, "n_layer"), "1") == 0,
          "quantised file: embeddings copied byte for byte, metadata kept");
    lsc_nf4 ref, got;
    lsc_nf4_quantize(&ref, fc, 32, 8, 64, 1, &err);
    rc = lsc_nf4_st_load(&got, &f, "h.0.mlp.fc_in.weight", &err);
    CHECK(rc == LSC_OK && same_nf4(&ref, &got), "quantised file: fc_in equals lsc_nf4_quantize of the source");
    lsc_nf4_free(&got);
    lsc_st_close(&f);

    rc = lsc_nf4_dequantize_file(nf, back, &s, &err);
    CHECK(rc == LSC_OK && s.n_quantized == 2 && s.n_kept == 3, "dequantize_file: 2 weights, 3 kept");
    if (lsc_st_open(&f, back, &err) == LSC_OK) {
        const lsc_st_tensor *t = lsc_st_find(&f, "h.0.mlp.fc_in.weight");
        float deq[256], mine[256];
        lsc_nf4_dequant_range(&ref, 0, 256, mine);
        int ok = t && t->dtype == LSC_DT_F32 && t->ndim == 2 && t->shape[0] == 32 && t->shape[1] == 8 &&
                 lsc_st_read_f32(&f, t, deq, &err) == LSC_OK && memcmp(deq, mine, sizeof deq) == 0;
        CHECK(ok && f.n_tensors == 5 && lsc_st_find(&f, "h.0.attn.q_proj.weight") &&
                  !lsc_st_find(&f, "h.0.attn.q_proj.weight.absmax"),
              "dequantized file: the original 5 names, fc_in F32 [32, 8] = deq(Q(W))");
        lsc_st_close(&f);
    } else {
        CHECK(0, "open dequantized file: %s", err.msg);
    }
    lsc_nf4_free(&ref);

    rc = lsc_nf4_quantize_file(nf, test_tmp("twice.safetensors"), &o, NULL, &err);
    CHECK(rc == LSC_EFORMAT && strstr(err.msg, "already holds quantised weights"),
          "quantising a quantised file: LSC_EFORMAT (%s)", err.msg);
    rc = lsc_nf4_dequantize_file(in, test_tmp("x.safetensors"), NULL, &err);
    CHECK(rc == LSC_ENOTFOUND && strstr(err.msg, "no NF4 weights"), "dequantising a plain file: LSC_ENOTFOUND (%s)",
          err.msg);
    lsc_nf4_opts bad = {64, 1, "nomatch"};
    rc = lsc_nf4_quantize_file(in, test_tmp("x.safetensors"), &bad, NULL, &err);
    CHECK(rc == LSC_ENOTFOUND && strstr(err.msg, "nomatch"), "targets matching nothing: LSC_ENOTFOUND (%s)", err.msg);
    lsc_nf4_opts bad2 = {100, 1, NULL};
    rc = lsc_nf4_quantize_file(in, test_tmp("x.safetensors"), &bad2, NULL, &err);
    CHECK(rc == LSC_EARG && strstr(err.msg, "blocksize 100"), "file blocksize 100: LSC_EARG (%s)", err.msg);
    lsc_nf4_opts only_q = {32, 0, "q"};
    rc = lsc_nf4_quantize_file(in, test_tmp("q.safetensors"), &only_q, &s, &err);
    CHECK(rc == LSC_OK && s.n_quantized == 1 && fabs(s.bits_constants - 1.0) < 1e-12,
          "targets 'q', blocksize 32, no DQ: 1 weight, 1.0 bits/param of constants");
    rc = lsc_nf4_quantize_file(test_tmp("missing.safetensors"), test_tmp("x.safetensors"), &o, NULL, &err);
    CHECK(rc == LSC_EIO && strstr(err.msg, "missing.safetensors"), "missing input: LSC_EIO naming the file");
    CHECK(access(test_tmp("x.safetensors"), F_OK) != 0, "failed runs leave no output file");
}

int main(void)
{
    if (test_tmpdir_make("nf4") != 0)
        return 1;
    test_code_table();
    test_dynamic_map();
    test_hand_example();
    test_packing_and_ties();
    test_dq_hand_example();
    test_error_bounds();
    test_zero_and_outlier();
    test_partial_block();
    test_double_quant_bound();
    test_bits();
    test_matmul();
    test_st_round_trip();
    test_offset_spelling();
    test_bad_quantize_args();
    test_bad_files();
    test_files();
    test_tmpdir_remove();
    return test_summary();
}
