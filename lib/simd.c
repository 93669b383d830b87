/*
 * simd.c — the hand-vectorised kernels on float matrices, double results:
 * the fused one-pass Z = Mᵀ·(M·Q) of the top-k values iteration (float and
 * double accumulation; 256-bit target clones and 512-bit variants chosen at
 * run time) and Y = M·X with M promoted exactly to double.
 *
 * Not here: what the products are for (topk.c, grassmann.c). The kernels
 * use GCC vector extensions; the target clones and the AVX-512 variants
 * are built only by GCC on x86-64 without AddressSanitizer.
 */
#include <stdint.h>
#include <string.h>

#include "lsc_internal.h"

// ---- fused Mᵀ·(M·Q) kernels ----

typedef float  tkv_v8f __attribute__((vector_size(32)));
typedef double tkv_v4d __attribute__((vector_size(32)));

/* Z (n, 16) += Mᵀ·(M·Q) for M (m, n) row-major float, Q (n, 16) float;
 * one pass over M, four rows at a time (8 accumulators of 8 floats). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
static void tkv_fused_f32(int m, int n, const float *restrict M, const tkv_v8f *restrict Q,
                          tkv_v8f *restrict Z)
{
    size_t nz = (size_t)n;
    int i = 0;
    for (; i + 4 <= m; i += 4) {
        const float *r0 = M + (size_t)i * nz, *r1 = r0 + nz, *r2 = r1 + nz, *r3 = r2 + nz;
        tkv_v8f a0 = {0}, b0 = {0}, a1 = {0}, b1 = {0}, a2 = {0}, b2 = {0}, a3 = {0}, b3 = {0};
        for (size_t j = 0; j < nz; j++) {
            tkv_v8f q0 = Q[2 * j], q1 = Q[2 * j + 1];
            a0 += r0[j] * q0; b0 += r0[j] * q1;
            a1 += r1[j] * q0; b1 += r1[j] * q1;
            a2 += r2[j] * q0; b2 += r2[j] * q1;
            a3 += r3[j] * q0; b3 += r3[j] * q1;
        }
        for (size_t j = 0; j < nz; j++) {
            Z[2 * j] += r0[j] * a0 + r1[j] * a1 + r2[j] * a2 + r3[j] * a3;
            Z[2 * j + 1] += r0[j] * b0 + r1[j] * b1 + r2[j] * b2 + r3[j] * b3;
        }
    }
    for (; i < m; i++) {
        const float *r0 = M + (size_t)i * nz;
        tkv_v8f a0 = {0}, b0 = {0};
        for (size_t j = 0; j < nz; j++) {
            a0 += r0[j] * Q[2 * j];
            b0 += r0[j] * Q[2 * j + 1];
        }
        for (size_t j = 0; j < nz; j++) {
            Z[2 * j] += r0[j] * a0;
            Z[2 * j + 1] += r0[j] * b0;
        }
    }
}

/* The same in double: Z (n, 16) += Mᵀ·(M·Q), M float promoted exactly,
 * Q (n, 16) double; two rows at a time (8 accumulators of 4 doubles). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
static void tkv_fused_f64(int m, int n, const float *restrict M, const tkv_v4d *restrict Q,
                          tkv_v4d *restrict Z)
{
    size_t nz = (size_t)n;
    int i = 0;
    for (; i + 2 <= m; i += 2) {
        const float *r0 = M + (size_t)i * nz, *r1 = r0 + nz;
        tkv_v4d a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0};
        for (size_t j = 0; j < nz; j++) {
            double x0 = r0[j], x1 = r1[j];
            const tkv_v4d *q = Q + 4 * j;
            a0 += x0 * q[0]; a1 += x0 * q[1]; a2 += x0 * q[2]; a3 += x0 * q[3];
            c0 += x1 * q[0]; c1 += x1 * q[1]; c2 += x1 * q[2]; c3 += x1 * q[3];
        }
        for (size_t j = 0; j < nz; j++) {
            double x0 = r0[j], x1 = r1[j];
            tkv_v4d *z = Z + 4 * j;
            z[0] += x0 * a0 + x1 * c0; z[1] += x0 * a1 + x1 * c1;
            z[2] += x0 * a2 + x1 * c2; z[3] += x0 * a3 + x1 * c3;
        }
    }
    for (; i < m; i++) {
        const float *r0 = M + (size_t)i * nz;
        tkv_v4d a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (size_t j = 0; j < nz; j++) {
            double x0 = r0[j];
            const tkv_v4d *q = Q + 4 * j;
            a0 += x0 * q[0]; a1 += x0 * q[1]; a2 += x0 * q[2]; a3 += x0 * q[3];
        }
        for (size_t j = 0; j < nz; j++) {
            double x0 = r0[j];
            tkv_v4d *z = Z + 4 * j;
            z[0] += x0 * a0; z[1] += x0 * a1; z[2] += x0 * a2; z[3] += x0 * a3;
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define TKV_AVX512 1
/* 512-bit variants of the two kernels (8 accumulators of 16 floats / two
 * 8-double halves per row), chosen at run time: on an AVX-512 CPU they are
 * ~2x the 256-bit clones (measured 170 vs 95 GFLOP/s for the float pass).
 * Pointers only cross the call boundary (no 512-bit values: no ABI change);
 * Q and Z are 64-byte aligned by tkv_apply. */
typedef float  tkv_v16f __attribute__((vector_size(64)));
typedef double tkv_v8d  __attribute__((vector_size(64)));

__attribute__((target("avx512f")))
static void tkv_fused_f32_avx512(int m, int n, const float *restrict M, const float *restrict Qp,
                                 float *restrict Zp)
{
    const tkv_v16f *Q = (const tkv_v16f *)(const void *)Qp;
    tkv_v16f *Z = (tkv_v16f *)(void *)Zp;
    size_t nz = (size_t)n;
    int i = 0;
    for (; i + 8 <= m; i += 8) {
        const float *r0 = M + (size_t)i * nz, *r1 = r0 + nz, *r2 = r1 + nz, *r3 = r2 + nz;
        const float *r4 = r3 + nz, *r5 = r4 + nz, *r6 = r5 + nz, *r7 = r6 + nz;
        tkv_v16f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};
        for (size_t j = 0; j < nz; j++) {
            tkv_v16f q = Q[j];
            a0 += r0[j] * q; a1 += r1[j] * q; a2 += r2[j] * q; a3 += r3[j] * q;
            a4 += r4[j] * q; a5 += r5[j] * q; a6 += r6[j] * q; a7 += r7[j] * q;
        }
        for (size_t j = 0; j < nz; j++)
            Z[j] += r0[j] * a0 + r1[j] * a1 + r2[j] * a2 + r3[j] * a3 +
                    r4[j] * a4 + r5[j] * a5 + r6[j] * a6 + r7[j] * a7;
    }
    for (; i < m; i++) {
        const float *r0 = M + (size_t)i * nz;
        tkv_v16f a0 = {0};
        for (size_t j = 0; j < nz; j++)
            a0 += r0[j] * Q[j];
        for (size_t j = 0; j < nz; j++)
            Z[j] += r0[j] * a0;
    }
}

__attribute__((target("avx512f")))
static void tkv_fused_f64_avx512(int m, int n, const float *restrict M, const double *restrict Qp,
                                 double *restrict Zp)
{
    const tkv_v8d *Q = (const tkv_v8d *)(const void *)Qp;
    tkv_v8d *Z = (tkv_v8d *)(void *)Zp;
    size_t nz = (size_t)n;
    int i = 0;
    for (; i + 4 <= m; i += 4) {
        const float *r0 = M + (size_t)i * nz, *r1 = r0 + nz, *r2 = r1 + nz, *r3 = r2 + nz;
        tkv_v8d a0 = {0}, b0 = {0}, a1 = {0}, b1 = {0}, a2 = {0}, b2 = {0}, a3 = {0}, b3 = {0};
        for (size_t j = 0; j < nz; j++) {
            tkv_v8d q0 = Q[2 * j], q1 = Q[2 * j + 1];
            double x0 = r0[j], x1 = r1[j], x2 = r2[j], x3 = r3[j];
            a0 += x0 * q0; b0 += x0 * q1; a1 += x1 * q0; b1 += x1 * q1;
            a2 += x2 * q0; b2 += x2 * q1; a3 += x3 * q0; b3 += x3 * q1;
        }
        for (size_t j = 0; j < nz; j++) {
            double x0 = r0[j], x1 = r1[j], x2 = r2[j], x3 = r3[j];
            Z[2 * j] += x0 * a0 + x1 * a1 + x2 * a2 + x3 * a3;
            Z[2 * j + 1] += x0 * b0 + x1 * b1 + x2 * b2 + x3 * b3;
        }
    }
    for (; i < m; i++) {
        const float *r0 = M + (size_t)i * nz;
        tkv_v8d a0 = {0}, b0 = {0};
        for (size_t j = 0; j < nz; j++) {
            a0 += (double)r0[j] * Q[2 * j];
            b0 += (double)r0[j] * Q[2 * j + 1];
        }
        for (size_t j = 0; j < nz; j++) {
            Z[2 * j] += (double)r0[j] * a0;
            Z[2 * j + 1] += (double)r0[j] * b0;
        }
    }
}

static int tkv_have_avx512(void)
{
    return __builtin_cpu_supports("avx512f");
}
#else
static int tkv_have_avx512(void)
{
    return 0;
}
#endif

void lsc_mtm_apply_(int m, int n, int b, const float *M, const double *Q, double *Z, int f32,
                      double *chunk)
{
    size_t nz = (size_t)n;
    /* 64-byte aligned chunk buffers inside the workspace */
    uintptr_t p = ((uintptr_t)chunk + 63) & ~(uintptr_t)63;
    int wide = tkv_have_avx512();
    (void)wide;
    for (int c0 = 0; c0 < b; c0 += LSC_MTM_CHUNK) {
        if (f32) {
            float *qf = (float *)p, *zf = qf + nz * LSC_MTM_CHUNK;
            for (size_t j = 0; j < nz; j++)
                for (int c = 0; c < LSC_MTM_CHUNK; c++) {
                    qf[j * LSC_MTM_CHUNK + (size_t)c] = (float)Q[j * (size_t)b + (size_t)(c0 + c)];
                    zf[j * LSC_MTM_CHUNK + (size_t)c] = 0.0f;
                }
#ifdef TKV_AVX512
            if (wide)
                tkv_fused_f32_avx512(m, n, M, qf, zf);
            else
#endif
                tkv_fused_f32(m, n, M, (const tkv_v8f *)(void *)qf, (tkv_v8f *)(void *)zf);
            for (size_t j = 0; j < nz; j++)
                for (int c = 0; c < LSC_MTM_CHUNK; c++)
                    Z[j * (size_t)b + (size_t)(c0 + c)] = zf[j * LSC_MTM_CHUNK + (size_t)c];
        } else {
            double *qd = (double *)p, *zd = qd + nz * LSC_MTM_CHUNK;
            for (size_t j = 0; j < nz; j++)
                for (int c = 0; c < LSC_MTM_CHUNK; c++) {
                    qd[j * LSC_MTM_CHUNK + (size_t)c] = Q[j * (size_t)b + (size_t)(c0 + c)];
                    zd[j * LSC_MTM_CHUNK + (size_t)c] = 0.0;
                }
#ifdef TKV_AVX512
            if (wide)
                tkv_fused_f64_avx512(m, n, M, qd, zd);
            else
#endif
                tkv_fused_f64(m, n, M, (const tkv_v4d *)(void *)qd, (tkv_v4d *)(void *)zd);
            for (size_t j = 0; j < nz; j++)
                for (int c = 0; c < LSC_MTM_CHUNK; c++)
                    Z[j * (size_t)b + (size_t)(c0 + c)] = zd[j * LSC_MTM_CHUNK + (size_t)c];
        }
    }
}

// ---- products with a float matrix, in double ----

/* Y[:, 0:8] = M·X[:, 0:8] for M (m, n) float (promoted exactly), X (n, ldx)
 * and Y (m, ldy) double; four rows at a time, 8 accumulators of 4 doubles. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
static void mm_f32d_8(int m, int n, const float *restrict M, const double *restrict X, size_t ldx,
                      double *restrict Y, size_t ldy)
{
    size_t nz = (size_t)n;
    int i = 0;
    for (; i + 4 <= m; i += 4) {
        const float *r0 = M + (size_t)i * nz, *r1 = r0 + nz, *r2 = r1 + nz, *r3 = r2 + nz;
        tkv_v4d a0 = {0}, b0 = {0}, a1 = {0}, b1 = {0}, a2 = {0}, b2 = {0}, a3 = {0}, b3 = {0};
        for (size_t j = 0; j < nz; j++) {
            tkv_v4d x0, x1;
            memcpy(&x0, X + j * ldx, sizeof x0);
            memcpy(&x1, X + j * ldx + 4, sizeof x1);
            double m0 = r0[j], m1 = r1[j], m2 = r2[j], m3 = r3[j];
            a0 += m0 * x0; b0 += m0 * x1;
            a1 += m1 * x0; b1 += m1 * x1;
            a2 += m2 * x0; b2 += m2 * x1;
            a3 += m3 * x0; b3 += m3 * x1;
        }
        double *y = Y + (size_t)i * ldy;
        memcpy(y, &a0, sizeof a0); memcpy(y + 4, &b0, sizeof b0); y += ldy;
        memcpy(y, &a1, sizeof a1); memcpy(y + 4, &b1, sizeof b1); y += ldy;
        memcpy(y, &a2, sizeof a2); memcpy(y + 4, &b2, sizeof b2); y += ldy;
        memcpy(y, &a3, sizeof a3); memcpy(y + 4, &b3, sizeof b3);
    }
    for (; i < m; i++) {
        const float *r0 = M + (size_t)i * nz;
        tkv_v4d a0 = {0}, b0 = {0};
        for (size_t j = 0; j < nz; j++) {
            tkv_v4d x0, x1;
            memcpy(&x0, X + j * ldx, sizeof x0);
            memcpy(&x1, X + j * ldx + 4, sizeof x1);
            a0 += (double)r0[j] * x0;
            b0 += (double)r0[j] * x1;
        }
        double *y = Y + (size_t)i * ldy;
        memcpy(y, &a0, sizeof a0);
        memcpy(y + 4, &b0, sizeof b0);
    }
}

#ifdef TKV_AVX512
/* Y[:, 0:16] = M·X[:, 0:16] with 512-bit vectors: four rows, two 8-double
 * halves each (8 accumulators). */
__attribute__((target("avx512f")))
static void mm_f32d_16_avx512(int m, int n, const float *restrict M, const double *restrict X,
                              size_t ldx, double *restrict Y, size_t ldy)
{
    size_t nz = (size_t)n;
    int i = 0;
    for (; i + 4 <= m; i += 4) {
        const float *r0 = M + (size_t)i * nz, *r1 = r0 + nz, *r2 = r1 + nz, *r3 = r2 + nz;
        tkv_v8d a0 = {0}, b0 = {0}, a1 = {0}, b1 = {0}, a2 = {0}, b2 = {0}, a3 = {0}, b3 = {0};
        for (size_t j = 0; j < nz; j++) {
            tkv_v8d x0, x1;
            memcpy(&x0, X + j * ldx, sizeof x0);
            memcpy(&x1, X + j * ldx + 8, sizeof x1);
            double m0 = r0[j], m1 = r1[j], m2 = r2[j], m3 = r3[j];
            a0 += m0 * x0; b0 += m0 * x1; a1 += m1 * x0; b1 += m1 * x1;
            a2 += m2 * x0; b2 += m2 * x1; a3 += m3 * x0; b3 += m3 * x1;
        }
        double *y = Y + (size_t)i * ldy;
        memcpy(y, &a0, sizeof a0); memcpy(y + 8, &b0, sizeof b0); y += ldy;
        memcpy(y, &a1, sizeof a1); memcpy(y + 8, &b1, sizeof b1); y += ldy;
        memcpy(y, &a2, sizeof a2); memcpy(y + 8, &b2, sizeof b2); y += ldy;
        memcpy(y, &a3, sizeof a3); memcpy(y + 8, &b3, sizeof b3);
    }
    for (; i < m; i++) {
        const float *r0 = M + (size_t)i * nz;
        tkv_v8d a0 = {0}, b0 = {0};
        for (size_t j = 0; j < nz; j++) {
            tkv_v8d x0, x1;
            memcpy(&x0, X + j * ldx, sizeof x0);
            memcpy(&x1, X + j * ldx + 8, sizeof x1);
            a0 += (double)r0[j] * x0;
            b0 += (double)r0[j] * x1;
        }
        double *y = Y + (size_t)i * ldy;
        memcpy(y, &a0, sizeof a0);
        memcpy(y + 8, &b0, sizeof b0);
    }
}
#endif

void lsc_matmul_f32d(int m, int n, int p, const float *M, const double *X, double *Y)
{
    if (m <= 0 || n <= 0 || p <= 0)
        return;
    size_t nz = (size_t)n, pz = (size_t)p;
    int c0 = 0;
#ifdef TKV_AVX512
    if (tkv_have_avx512())
        for (; c0 + 16 <= p; c0 += 16)
            mm_f32d_16_avx512(m, n, M, X + c0, pz, Y + c0, pz);
#endif
    for (; c0 + 8 <= p; c0 += 8)
        mm_f32d_8(m, n, M, X + c0, pz, Y + c0, pz);
    for (; c0 < p; c0++)   /* the last p % 8 columns */
        for (size_t i = 0; i < (size_t)m; i++) {
            const float *row = M + i * nz;
            double s = 0.0;
            for (size_t j = 0; j < nz; j++)
                s += (double)row[j] * X[j * pz + (size_t)c0];
            Y[i * pz + (size_t)c0] = s;
        }
}
