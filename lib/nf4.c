/*
 * nf4.c — QLoRA's 4-bit NormalFloat (NF4) quantisation of frozen base
 * weights with double-quantised block scales, in the exact numeric format
 * and safetensors layout of bitsandbytes (lora-facts §5), plus the tiled
 * dequantise-and-multiply kernels that let a frozen linear layer run on an
 * NF4 weight without ever materialising the fp32 matrix.
 *
 * Not here: the tensors of one NF4 weight in a safetensors file and their
 * quant_state JSON (nf4_st.c); whole-file quantize/dequantize (nf4_file.c); FP4, 8-bit weights, stochastic rounding, GPU kernels, tensors of
 * rank other than 2, and anything that trains (the trainer calls
 * lsc_nf4_matmul_* inside its frozen layers).
 *
 * Shapes: W (d, k) row-major, flattened to n = d·k; block b holds the flat
 * elements [b·bs, min((b+1)·bs, n)), n_blocks = ceil(n / bs); nested block
 * j holds absmax values [j·256, min((j+1)·256, n_blocks)), n_nested =
 * ceil(n_blocks / 256); inp/x (N, k), out/y (N, d), N = B·T.
 *
 * The arithmetic, step by step (float32 unless said otherwise). This text
 * is the specification tests/test_nf4_oracle.py implements independently.
 *  NF4    absmax_b = max |w| over the block. If absmax_b == 0 every index
 *         of the block is 7 (code 0.0): bitsandbytes computes 0·(1/0) = NaN
 *         there and the index it stores is backend-specific, but every
 *         backend dequantises it to 0. Otherwise s = w · r with r =
 *         float32(1 / absmax_b) (the reciprocal first, as bitsandbytes'
 *         kernels do; if r overflows, for a subnormal absmax, s = w /
 *         absmax_b), clamped to [-1, 1]. The index is the number of
 *         midpoints m_j with s > m_j, m_j = float32((double(code_j) +
 *         double(code_j+1)) / 2), j = 0..14: a value exactly on a midpoint
 *         takes the LOWER code, as bitsandbytes' CUDA decision tree (x > m)
 *         and its CPU table loop (out[x > table[i]] = i) do.
 *  pack   byte i/2 holds element i in its high nibble when i is even, in
 *         its low nibble when i is odd; an odd n leaves the last low nibble 0.
 *  DQ     offset = float32(Σ_b double(absmax_b) / n_blocks) (the mean);
 *         x_b = absmax_b − offset; per nested block a2_j = max |x_b|; if
 *         a2_j == 0 every index is 127 (map value 0.0), else s = x_b ·
 *         float32(1 / a2_j) clamped to [-1, 1] and the index is
 *         argmin_i |s − map_i| over the 256 map values (float32 distances,
 *         the lowest index on a tie), as bitsandbytes' default backend
 *         (torch.argmin of the absolute differences).
 *  deq    absmax'_b = map[q_b] · a2_j + offset (two float32 roundings; plain
 *         absmax_b without DQ); w' = code[idx] · absmax'_b.
 *  map    bitsandbytes' create_dynamic_map(signed=True, max_exponent_bits=7,
 *         total_bits=8): non_sign_bits = 7, additional_items = 2^(7−7) − 1
 *         = 0, so the map is, for i = 0..6, the 2^i means of consecutive
 *         points of torch.linspace(0.1, 1, 2^i + 1) (float32) times
 *         10^(i−6), with both signs, plus 0 and 1, sorted: 2·127 + 2 = 256
 *         values. float32 steps as torch's CPU linspace: step = (1f −
 *         0.1f) / (2^i); point j = 0.1f + step·j for j < (2^i+1)/2 (integer
 *         division), else 1f − step·(2^i − j); mean = (p_j + p_j+1) / 2;
 *         value = float32(10^(i−6)) · mean. torch's vectorised linspace
 *         path may round a few points by one ulp differently; the map
 *         travels with the file (nested_quant_map) and dequantisation always
 *         uses the stored map, so files stay interchangeable either way.
 *
 * Build note: the results are bit-exact only without FMA contraction (the
 * project's -std=c11 implies -ffp-contract=off in GCC).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "lsc_internal.h"

// ---- tables ----

const float lsc_nf4_code[16] = {
    -1.0f,
    -0.6961928009986877f,
    -0.5250730514526367f,
    -0.39491748809814453f,
    -0.28444138169288635f,
    -0.18477343022823334f,
    -0.09105003625154495f,
    0.0f,
    0.07958029955625534f,
    0.16093020141124725f,
    0.24611230194568634f,
    0.33791524171829224f,
    0.44070982933044434f,
    0.5626170039176941f,
    0.7229568362236023f,
    1.0f,
};

#define NF4_ZERO_INDEX 7
#define DQ_ZERO_INDEX  127

static void nf4_midpoints(float mid[15])
{
    for (int j = 0; j < 15; j++)
        mid[j] = (float)(((double)lsc_nf4_code[j] + (double)lsc_nf4_code[j + 1]) / 2.0);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

void lsc_nf4_dynamic_map(float map[256])
{
    /* 10^(i-6) as the nearest doubles, then float32 (torch casts the Python
     * scalar to the tensor's dtype before multiplying). */
    static const double pow10[7] = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0};
    int n = 0;
    for (int i = 0; i < 7; i++) {
        const int   steps = (1 << i) + 1;              /* fraction_items (signed) */
        const int   half  = steps / 2;
        const float start = 0.1f, end = 1.0f;
        const float step  = (end - start) / (float)(steps - 1);
        const float scale = (float)pow10[i];
        float p[65];
        for (int j = 0; j < steps; j++)
            p[j] = j < half ? start + step * (float)j : end - step * (float)(steps - j - 1);
        for (int j = 0; j + 1 < steps; j++) {
            float mean = (p[j] + p[j + 1]) / 2.0f;
            float v    = scale * mean;
            map[n++] = v;
            map[n++] = -v;
        }
    }
    map[n++] = 0.0f;
    map[n++] = 1.0f;
    LSC_ASSERT(n == 256);
    qsort(map, 256, sizeof *map, cmp_float);
}

// ---- quantisation ----

int lsc_nf4_blocksize_ok_(int bs)
{
    return bs >= LSC_NF4_BLOCKSIZE_MIN && bs <= LSC_NF4_BLOCKSIZE_MAX && (bs & (bs - 1)) == 0;
}

void lsc_nf4_free(lsc_nf4 *q)
{
    if (!q)
        return;
    LSC_FREE(q->packed);
    LSC_FREE(q->absmax);
    LSC_FREE(q->qabsmax);
    LSC_FREE(q->nested_absmax);
    memset(q, 0, sizeof *q);
}

/* Nearest map index by argmin of float32 distances, lowest index on ties. */
static uint8_t dq_nearest(const float map[256], float s)
{
    int best = 0;
    float bd = fabsf(s - map[0]);
    for (int i = 1; i < 256; i++) {
        float di = fabsf(s - map[i]);
        if (di < bd) {
            bd = di;
            best = i;
        }
    }
    return (uint8_t)best;
}

/* Double-quantises absmax (n_blocks) into q (nested fields). */
static void double_quantize(lsc_nf4 *q, const float *absmax)
{
    const size_t nb = q->n_blocks, nbs = (size_t)q->nested_blocksize;
    double sum = 0.0;
    for (size_t b = 0; b < nb; b++)
        sum += (double)absmax[b];
    q->offset = (float)(sum / (double)nb);
    for (size_t j = 0; j < q->n_nested; j++) {
        size_t b0 = j * nbs, b1 = b0 + nbs < nb ? b0 + nbs : nb;
        float a2 = 0.0f;
        for (size_t b = b0; b < b1; b++) {
            float x = absmax[b] - q->offset;
            a2 = fmaxf(a2, fabsf(x));
        }
        q->nested_absmax[j] = a2;
        if (a2 == 0.0f) {
            memset(q->qabsmax + b0, DQ_ZERO_INDEX, b1 - b0);
            continue;
        }
        float r = 1.0f / a2;
        int use_div = !isfinite(r);
        for (size_t b = b0; b < b1; b++) {
            float x = absmax[b] - q->offset;
            float s = use_div ? x / a2 : x * r;
            s = s > 1.0f ? 1.0f : s < -1.0f ? -1.0f : s;
            q->qabsmax[b] = dq_nearest(q->nested_code, s);
        }
    }
}

int lsc_nf4_quantize(lsc_nf4 *q, const float *W, size_t d, size_t k,
                     int blocksize, int double_quant, lsc_error *err)
{
    memset(q, 0, sizeof *q);
    if (!lsc_nf4_blocksize_ok_(blocksize))
        LSC_FAIL(err, LSC_EARG, "nf4: blocksize %d is not a power of two in %d..%d", blocksize,
                 LSC_NF4_BLOCKSIZE_MIN, LSC_NF4_BLOCKSIZE_MAX);
    if (d == 0 || k == 0)
        LSC_FAIL(err, LSC_ESHAPE, "nf4: cannot quantise an empty weight (%zu, %zu)", d, k);
    if (d > SIZE_MAX / k)
        LSC_FAIL(err, LSC_ESHAPE, "nf4: weight (%zu, %zu) is too large", d, k);
    const size_t n = d * k;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(W[i]))
            LSC_FAIL(err, LSC_ENAN, "nf4: weight (%zu, %zu) has a non-finite value %g at [%zu, %zu]", d, k,
                     (double)W[i], i / k, i % k);

    int rc;
    float *absmax = NULL;
    q->d = d;
    q->k = k;
    q->n = n;
    q->blocksize = blocksize;
    q->n_blocks = (n + (size_t)blocksize - 1) / (size_t)blocksize;
    memcpy(q->code, lsc_nf4_code, sizeof q->code);
    snprintf(q->dtype, sizeof q->dtype, "float32");
    q->packed = LSC_CALLOC((n + 1) / 2, 1);
    absmax = LSC_MALLOC(q->n_blocks * sizeof *absmax);
    if (!q->packed || !absmax)
        goto oom;

    float mid[15];
    nf4_midpoints(mid);
    for (size_t b = 0; b < q->n_blocks; b++) {
        size_t i0 = b * (size_t)blocksize, i1 = i0 + (size_t)blocksize < n ? i0 + (size_t)blocksize : n;
        float a = 0.0f;
        for (size_t i = i0; i < i1; i++)
            a = fmaxf(a, fabsf(W[i]));
        absmax[b] = a;
        float r = a > 0.0f ? 1.0f / a : 0.0f;
        int use_div = a > 0.0f && !isfinite(r);
        for (size_t i = i0; i < i1; i++) {
            unsigned idx = NF4_ZERO_INDEX;
            if (a > 0.0f) {
                float s = use_div ? W[i] / a : W[i] * r;
                s = s > 1.0f ? 1.0f : s < -1.0f ? -1.0f : s;
                idx = 0;
                for (int j = 0; j < 15; j++)
                    idx += s > mid[j];
            }
            q->packed[i >> 1] |= (uint8_t)((i & 1) ? idx : idx << 4);
        }
    }

    if (double_quant) {
        q->nested = 1;
        q->nested_blocksize = LSC_NF4_NESTED_BLOCKSIZE;
        q->n_nested = (q->n_blocks + LSC_NF4_NESTED_BLOCKSIZE - 1) / LSC_NF4_NESTED_BLOCKSIZE;
        q->qabsmax = LSC_MALLOC(q->n_blocks);
        q->nested_absmax = LSC_MALLOC(q->n_nested * sizeof *q->nested_absmax);
        if (!q->qabsmax || !q->nested_absmax)
            goto oom;
        lsc_nf4_dynamic_map(q->nested_code);
        double_quantize(q, absmax);
        LSC_FREE(absmax);
    } else {
        q->absmax = absmax;
    }
    return LSC_OK;
oom:
    rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "nf4: out of memory quantising a (%zu, %zu) weight",
                       d, k);
    LSC_FREE(absmax);
    lsc_nf4_free(q);
    return rc;
}

// ---- dequantisation ----

float lsc_nf4_block_absmax(const lsc_nf4 *q, size_t b)
{
    LSC_ASSERT(b < q->n_blocks);
    if (!q->nested)
        return q->absmax[b];
    float t = q->nested_code[q->qabsmax[b]] * q->nested_absmax[b / (size_t)q->nested_blocksize];
    return t + q->offset;
}

void lsc_nf4_dequant_range(const lsc_nf4 *q, size_t i0, size_t count, float *out)
{
    LSC_ASSERT(i0 <= q->n && count <= q->n - i0);
    const size_t bs = (size_t)q->blocksize, end = i0 + count;
    size_t i = i0;
    while (i < end) {
        size_t b = i / bs, bend = (b + 1) * bs < end ? (b + 1) * bs : end;
        float a = lsc_nf4_block_absmax(q, b), t[16];
        for (int j = 0; j < 16; j++)
            t[j] = q->code[j] * a;
        if (i & 1) {   /* odd start: low nibble of the current byte */
            out[i - i0] = t[q->packed[i >> 1] & 15u];
            i++;
        }
        for (; i + 1 < bend; i += 2) {
            uint8_t byte = q->packed[i >> 1];
            out[i - i0]     = t[byte >> 4];
            out[i - i0 + 1] = t[byte & 15u];
        }
        if (i < bend) {   /* one element left: high nibble */
            out[i - i0] = t[q->packed[i >> 1] >> 4];
            i++;
        }
    }
}

void lsc_nf4_dequant_rows(const lsc_nf4 *q, size_t row0, size_t nrows, float *out)
{
    LSC_ASSERT(row0 <= q->d && nrows <= q->d - row0);
    lsc_nf4_dequant_range(q, row0 * q->k, nrows * q->k, out);
}

// ---- frozen linear layers on NF4 weights ----

size_t lsc_nf4_tile_floats(size_t d, size_t k)
{
    /* sgemm loses speed on thin tiles: at least 256 rows or 1 MiB (measured
     * on (768, 3072) with N = 512: 21-row tiles 1.8x the dense time, 256
     * rows 1.1-1.25x, the dequantisation itself ~5%) */
    size_t rows = k ? (262144 + k - 1) / k : 1;
    if (rows < 256)
        rows = 256;
    if (rows > d)
        rows = d ? d : 1;
    return rows * k;
}

/* The tiled layers' shape checks (sgemm takes int sizes; a tile holds at
 * least one row) and the rows of W per tile: tile_floats / k, at most d;
 * 0 when there is nothing to do (N = 0 rows of input, or d = 0). */
static size_t tile_rows(const lsc_nf4 *q, size_t tile_floats, size_t N)
{
    LSC_ASSERT(tile_floats >= q->k);
    LSC_ASSERT(N <= 0x7fffffff && q->d <= 0x7fffffff && q->k <= 0x7fffffff);
    if (N == 0)
        return 0;
    return tile_floats / q->k < q->d ? tile_floats / q->k : q->d;
}

void lsc_nf4_matmul_forward(float *out, const float *inp, const lsc_nf4 *q,
                            const float *bias, float *tile, size_t tile_floats,
                            size_t N)
{
    const size_t d = q->d, k = q->k, rows = tile_rows(q, tile_floats, N);
    if (rows == 0)
        return;
    for (size_t r0 = 0; r0 < d; r0 += rows) {
        size_t nr = rows < d - r0 ? rows : d - r0;
        lsc_nf4_dequant_rows(q, r0, nr, tile);   // (nr, k)
        if (bias)
            for (size_t t = 0; t < N; t++)
                memcpy(out + t * d + r0, bias + r0, nr * sizeof *out);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)N, (int)nr, (int)k, 1.0f, inp, (int)k, tile,
                    (int)k, bias ? 1.0f : 0.0f, out + r0, (int)d);
    }
}

void lsc_nf4_matmul_backward_input(float *dinp, const float *dout, const lsc_nf4 *q,
                                   float *tile, size_t tile_floats, size_t N)
{
    const size_t d = q->d, k = q->k, rows = tile_rows(q, tile_floats, N);
    if (rows == 0)
        return;
    for (size_t r0 = 0; r0 < d; r0 += rows) {
        size_t nr = rows < d - r0 ? rows : d - r0;
        lsc_nf4_dequant_rows(q, r0, nr, tile);   // (nr, k)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, (int)k, (int)nr, 1.0f, dout + r0, (int)d,
                    tile, (int)k, 1.0f, dinp, (int)k);
    }
}

// ---- storage cost ----

double lsc_nf4_bits_nominal(int blocksize, int double_quant)
{
    if (blocksize <= 0)
        return 0.0;
    if (!double_quant)
        return 32.0 / blocksize;
    return 8.0 / blocksize + 32.0 / ((double)blocksize * LSC_NF4_NESTED_BLOCKSIZE);
}

size_t lsc_nf4_constant_bytes_(const lsc_nf4 *q)
{
    return q->nested ? q->n_blocks + 4 * q->n_nested + 4 : 4 * q->n_blocks;
}

void lsc_nf4_bits(const lsc_nf4 *q, double *constants, double *total)
{
    double n = (double)q->n, c = 8.0 * (double)lsc_nf4_constant_bytes_(q) / n;
    if (constants)
        *constants = c;
    if (total)
        *total = c + 8.0 * (double)((q->n + 1) / 2) / n;
}

// ---- targets ----

int lsc_nf4_is_target(const char *name, int ndim, const char *targets)
{
    static const char suffix[] = ".weight";
    const size_t ls = sizeof suffix - 1;
    size_t len = strlen(name);
    if (ndim != 2 || len <= ls || strcmp(name + len - ls, suffix) != 0)
        return 0;
    size_t mlen = len - ls;   /* module = name[0, mlen) */
    size_t start = mlen;
    while (start > 0 && name[start - 1] != '.')
        start--;
    const char *last = name + start;
    size_t llen = mlen - start;
    const char *t = targets ? targets : LSC_NF4_DEFAULT_TARGETS;
    while (*t) {
        while (*t == ',' || *t == ' ')
            t++;
        const char *e = t;
        while (*e && *e != ',' && *e != ' ')
            e++;
        size_t tl = (size_t)(e - t);
        if (tl > 0) {
            if (tl == llen && strncmp(last, t, tl) == 0)
                return 1;
            if (tl + 5 == llen && strncmp(last, t, tl) == 0 && strncmp(last + tl, "_proj", 5) == 0)
                return 1;
        }
        t = e;
    }
    return 0;
}
