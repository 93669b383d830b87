/*
 * layers.c — the kernels of the GPT and of LoRA: one forward/backward pair
 * per layer, written next to each other (llm.c's layout), in float, with
 * GEMMs through cblas_sgemm.
 *
 * Beside each fast kernel sits a naive reference in DOUBLE precision
 * (suffix _naive_): plain loops, no BLAS, no threads. They are the test
 * oracle: tests check the naive pairs against central finite differences
 * in double, then the fast float kernels against the naive ones.
 *
 * What it is not: it allocates nothing and knows no model structure
 * (model.c sequences the calls, lora.c owns adapters); the fast attention
 * kernel, which the GPT shares with the Llama family, is layers_llama.c's.
 *
 * Conventions: arguments are outputs, inputs, weights, caches, dims.
 * Backward kernels ACCUMULATE (+=) into every gradient they write; a NULL
 * gradient pointer means "not wanted" (a frozen weight gets no dW GEMM).
 * Linear weights are (OC, C) = (out, in), PyTorch's nn.Linear layout.
 * Shapes: B batch, T time, C channels, OC output channels, NH heads,
 * hs = C/NH head size, V vocabulary, N = B*T rows, r LoRA rank.
 *
 * Threads: only the GEMMs run in parallel, on OpenBLAS's threads. The
 * element-wise kernels are deliberately serial: measured on the 2-core
 * target, OpenMP regions between BLAS calls left OpenMP workers spinning
 * against OpenBLAS's workers and made a training step 2-3x SLOWER than
 * this (the loops here are memory-bound and small next to the GEMMs).
 * Determinism: every reduction runs in a fixed order, so results are
 * bit-identical for a given BLAS thread count.
 */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "lsc_internal.h"

#define GELU_SCALE 0.7978845608028654   /* sqrt(2/pi) */
#define LN_EPS     1e-5

// ---- encoder: token + position embeddings ----

void lsc_encoder_forward_(float *out, const int *inp, const float *wte,
                          const float *wpe, int B, int T, int C)
{
    // out (B,T,C), inp (B,T), wte (V,C), wpe (maxT,C)
    for (int bt = 0; bt < B * T; bt++) {
        int t = bt % T;
        float *o = out + (size_t)bt * C;
        const float *we = wte + (size_t)inp[bt] * C;
        const float *wp = wpe + (size_t)t * C;
        for (int i = 0; i < C; i++)
            o[i] = we[i] + wp[i];
    }
}

void lsc_encoder_backward_(float *dwte, float *dwpe, const float *dout,
                           const int *inp, int B, int T, int C)
{
    // rows in bt order: a fixed summation order for repeated tokens
    for (int bt = 0; bt < B * T; bt++) {
        const float *d = dout + (size_t)bt * C;
        float *we = dwte ? dwte + (size_t)inp[bt] * C : NULL;
        float *wp = dwpe ? dwpe + (size_t)(bt % T) * C : NULL;
        for (int i = 0; i < C; i++) {
            if (we)
                we[i] += d[i];
            if (wp)
                wp[i] += d[i];
        }
    }
}

void lsc_encoder_forward_naive_(double *out, const int *inp, const double *wte,
                                const double *wpe, int B, int T, int C)
{
    for (int bt = 0; bt < B * T; bt++)
        for (int i = 0; i < C; i++)
            out[(size_t)bt * C + i] = wte[(size_t)inp[bt] * C + i] + wpe[(size_t)(bt % T) * C + i];
}

void lsc_encoder_backward_naive_(double *dwte, double *dwpe, const double *dout,
                                 const int *inp, int B, int T, int C)
{
    for (int bt = 0; bt < B * T; bt++)
        for (int i = 0; i < C; i++) {
            dwte[(size_t)inp[bt] * C + i] += dout[(size_t)bt * C + i];
            dwpe[(size_t)(bt % T) * C + i] += dout[(size_t)bt * C + i];
        }
}

// ---- layernorm ----

void lsc_layernorm_forward_(float *out, float *mean, float *rstd,
                            const float *inp, const float *w, const float *b,
                            int N, int C)
{
    // out (N,C), mean/rstd (N) cached for backward; biased variance, eps 1e-5
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float m = 0.0f;
        for (int i = 0; i < C; i++)
            m += x[i];
        m /= (float)C;
        float v = 0.0f;
        for (int i = 0; i < C; i++) {
            float d = x[i] - m;
            v += d * d;
        }
        v /= (float)C;
        float s = 1.0f / sqrtf(v + (float)LN_EPS);
        float *o = out + (size_t)n * C;
        for (int i = 0; i < C; i++)
            o[i] = (x[i] - m) * s * w[i] + b[i];
        mean[n] = m;
        rstd[n] = s;
    }
}

void lsc_layernorm_backward_(float *dinp, float *dw, float *db,
                             const float *dout, const float *inp,
                             const float *w, const float *mean,
                             const float *rstd, int N, int C)
{
    if (dinp) {
        for (int n = 0; n < N; n++) {
            const float *x = inp + (size_t)n * C;
            const float *g = dout + (size_t)n * C;
            float m = mean[n], s = rstd[n];
            float gsum = 0.0f, gxsum = 0.0f;
            for (int i = 0; i < C; i++) {
                float gn = w[i] * g[i];
                gsum += gn;
                gxsum += gn * (x[i] - m) * s;
            }
            gsum /= (float)C;
            gxsum /= (float)C;
            float *di = dinp + (size_t)n * C;
            for (int i = 0; i < C; i++) {
                float xh = (x[i] - m) * s;
                di[i] += (w[i] * g[i] - gsum - xh * gxsum) * s;
            }
        }
    }
    // dw, db summed row by row (contiguous, vectorisable, fixed order)
    for (int n = 0; n < N && (dw || db); n++) {
        const float *x = inp + (size_t)n * C;
        const float *g = dout + (size_t)n * C;
        float m = mean[n], s = rstd[n];
        if (dw)
            for (int i = 0; i < C; i++)
                dw[i] += g[i] * (x[i] - m) * s;
        if (db)
            for (int i = 0; i < C; i++)
                db[i] += g[i];
    }
}

void lsc_layernorm_forward_naive_(double *out, double *mean, double *rstd,
                                  const double *inp, const double *w,
                                  const double *b, int N, int C)
{
    for (int n = 0; n < N; n++) {
        const double *x = inp + (size_t)n * C;
        double m = 0.0, v = 0.0;
        for (int i = 0; i < C; i++)
            m += x[i];
        m /= C;
        for (int i = 0; i < C; i++)
            v += (x[i] - m) * (x[i] - m);
        v /= C;
        double s = 1.0 / sqrt(v + LN_EPS);
        for (int i = 0; i < C; i++)
            out[(size_t)n * C + i] = (x[i] - m) * s * w[i] + b[i];
        mean[n] = m;
        rstd[n] = s;
    }
}

void lsc_layernorm_backward_naive_(double *dinp, double *dw, double *db,
                                   const double *dout, const double *inp,
                                   const double *w, const double *mean,
                                   const double *rstd, int N, int C)
{
    for (int n = 0; n < N; n++) {
        const double *x = inp + (size_t)n * C;
        const double *g = dout + (size_t)n * C;
        double gsum = 0.0, gxsum = 0.0;
        for (int i = 0; i < C; i++) {
            double xh = (x[i] - mean[n]) * rstd[n];
            gsum += w[i] * g[i];
            gxsum += w[i] * g[i] * xh;
            if (dw)
                dw[i] += g[i] * xh;
            if (db)
                db[i] += g[i];
        }
        gsum /= C;
        gxsum /= C;
        if (dinp)
            for (int i = 0; i < C; i++) {
                double xh = (x[i] - mean[n]) * rstd[n];
                dinp[(size_t)n * C + i] += (w[i] * g[i] - gsum - xh * gxsum) * rstd[n];
            }
    }
}

// ---- matmul: a linear layer, out = inp · W^T + bias ----

void lsc_matmul_forward_(float *out, const float *inp, const float *w,
                         const float *bias, int N, int C, int OC)
{
    // out (N,OC), inp (N,C), w (OC,C), bias (OC) or NULL
    float beta = 0.0f;
    if (bias) {
        for (int n = 0; n < N; n++)
            memcpy(out + (size_t)n * OC, bias, (size_t)OC * sizeof(float));
        beta = 1.0f;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C,
                w, C, beta, out, OC);
}

void lsc_matmul_backward_(float *dinp, float *dw, float *dbias,
                          const float *dout, const float *inp, const float *w,
                          int N, int C, int OC)
{
    // dinp (N,C) += dout (N,OC) · w (OC,C)
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f,
                    dout, OC, w, C, 1.0f, dinp, C);
    // dw (OC,C) += dout^T · inp; skipped entirely for a frozen weight
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f,
                    dout, OC, inp, C, 1.0f, dw, C);
    // dbias (OC) += column sums of dout, row by row (contiguous)
    if (dbias)
        for (int n = 0; n < N; n++) {
            const float *g = dout + (size_t)n * OC;
            for (int o = 0; o < OC; o++)
                dbias[o] += g[o];
        }
}

void lsc_matmul_forward_naive_(double *out, const double *inp, const double *w,
                               const double *bias, int N, int C, int OC)
{
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = bias ? bias[o] : 0.0;
            for (int i = 0; i < C; i++)
                s += inp[(size_t)n * C + i] * w[(size_t)o * C + i];
            out[(size_t)n * OC + o] = s;
        }
}

void lsc_matmul_backward_naive_(double *dinp, double *dw, double *dbias,
                                const double *dout, const double *inp,
                                const double *w, int N, int C, int OC)
{
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double g = dout[(size_t)n * OC + o];
            for (int i = 0; i < C; i++) {
                if (dinp)
                    dinp[(size_t)n * C + i] += g * w[(size_t)o * C + i];
                if (dw)
                    dw[(size_t)o * C + i] += g * inp[(size_t)n * C + i];
            }
            if (dbias)
                dbias[o] += g;
        }
}

// ---- attention: the causal softmax rows and the multi-head reference ----
/* The fast attention kernel of both families is layers_llama.c's
 * grouped-query pair (the GPT calls it with NKV = NH, hs = C/NH: the
 * multi-head attention its q, k, v rows hold). Here: the causal softmax
 * rows it and the decoding step share, and the GPT's double reference,
 * an oracle written independently of the grouped-query one. */

/* Branch-free choice of a or b through the bits (take_b is 0 or 1), so
 * that the GELU loops vectorise under the project's -O2: GCC does not
 * if-convert a float ?: while -ftrapping-math is on, and a scalar loop with
 * a libm call per element was 5-25 % of a training step (perf, shape L).
 * The mask 0u - take_b wraps on purpose (LSC_WRAPS). */
LSC_WRAPS static inline float select_f(float a, float b, int take_b)
{
    uint32_t ab, bb, m = 0u - (uint32_t)take_b;
    memcpy(&ab, &a, sizeof ab);
    memcpy(&bb, &b, sizeof bb);
    ab = (ab & ~m) | (bb & m);
    float r;
    memcpy(&r, &ab, sizeof r);
    return r;
}

/* exp(x) for x <= 0 (softmax arguments, x - max) without libm, branch-free
 * so that the row loops vectorise: x = n·ln2 + r with n = round(x/ln2) (the
 * 1.5·2^23 trick, no float->int conversion), ln2 split in two (Cody-Waite),
 * e^r by its degree-7 Taylor polynomial on |r| <= ln2/2 (truncation 5e-9),
 * 2^n added to the exponent bits (unsigned arithmetic that wraps on purpose
 * for n < 0: LSC_WRAPS). x is clamped to >= -87 (e^-87 = 1.6e-38,
 * still normal): smaller values give that tiny value instead of 0, which a
 * softmax cannot tell apart. Max relative error 1.0e-7 (tests compare the
 * attention against the double naive kernel). NaN in, NaN out. */
LSC_WRAPS static inline float exp_neg_fast(float x)
{
    x = select_f(x, -87.0f, x < -87.0f);
    const float magic = 12582912.0f;              /* 1.5·2^23 */
    float t = x * 1.44269504088896341f + magic;   /* round(x/ln2) in the low bits */
    float n = t - magic;
    float r = x - n * 0.693359375f;               /* ln2 = 0.693359375 - 2.12194440e-4 */
    r = r + n * 2.12194440e-4f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    uint32_t tb, pb;
    memcpy(&tb, &t, sizeof tb);
    memcpy(&pb, &p, sizeof pb);
    pb += (tb - 0x4B400000u) << 23;               /* + n in the exponent */
    memcpy(&p, &pb, sizeof p);
    return p;
}

/* Row t of a causal softmax over s[0..t] (scores already scaled), in place;
 * entries after t are set to 0. The sums run in vector lanes (a fixed order
 * for a given build: deterministic, not the serial order). */
void lsc_causal_softmax_row_(float *s, int t, int T)
{
    float mx = -INFINITY;
    for (int j = 0; j <= t; j++)
        if (s[j] > mx)
            mx = s[j];
    /* The simd loops run j < t + 1, not j <= t: clang's omp simd lowering of
     * `<=` converts the bound to unsigned (a -fsanitize=integer report; t is
     * never negative). gcc emits the same code for both. */
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j < t + 1; j++) {
        s[j] = exp_neg_fast(s[j] - mx);
        sum += s[j];
    }
    float inv = 1.0f / sum;
#pragma omp simd
    for (int j = 0; j < t + 1; j++)
        s[j] *= inv;
    for (int j = t + 1; j < T; j++)
        s[j] = 0.0f;
}

/* Row t of that softmax's backward, in place: d holds dP (row t of the
 * gradient w.r.t. the probabilities p) and becomes dS = p ⊙ (dP − Σ_j p dP)
 * over [0, t], 0 after t. */
void lsc_causal_softmax_backward_row_(float *d, const float *p, int t, int T)
{
    float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
    for (int j = 0; j < t + 1; j++)               /* not j <= t: see the forward */
        dot += p[j] * d[j];
#pragma omp simd
    for (int j = 0; j < t + 1; j++)
        d[j] = p[j] * (d[j] - dot);
    for (int j = t + 1; j < T; j++)
        d[j] = 0.0f;
}

void lsc_attention_forward_naive_(double *out, double *att, const double *q,
                                  const double *k, const double *v, int B,
                                  int T, int C, int NH)
{
    int hs = C / NH;
    double scale = 1.0 / sqrt((double)hs);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const double *qt = q + ((size_t)b * T + t) * C + (size_t)h * hs;
                double *p = att + (((size_t)b * NH + h) * T + t) * T;
                double mx = -INFINITY;
                for (int j = 0; j <= t; j++) {
                    const double *kj = k + ((size_t)b * T + j) * C + (size_t)h * hs;
                    double s = 0.0;
                    for (int i = 0; i < hs; i++)
                        s += qt[i] * kj[i];
                    p[j] = s * scale;
                    if (p[j] > mx)
                        mx = p[j];
                }
                double sum = 0.0;
                for (int j = 0; j <= t; j++) {
                    p[j] = exp(p[j] - mx);
                    sum += p[j];
                }
                for (int j = 0; j < T; j++)
                    p[j] = j <= t ? p[j] / sum : 0.0;
                double *o = out + ((size_t)b * T + t) * C + (size_t)h * hs;
                for (int i = 0; i < hs; i++) {
                    double s = 0.0;
                    for (int j = 0; j <= t; j++)
                        s += p[j] * v[((size_t)b * T + j) * C + (size_t)h * hs + i];
                    o[i] = s;
                }
            }
}

void lsc_attention_backward_naive_(double *dq, double *dk, double *dv,
                                   double *datt, const double *dout,
                                   const double *att, const double *q,
                                   const double *k, const double *v, int B,
                                   int T, int C, int NH)
{
    int hs = C / NH;
    double scale = 1.0 / sqrt((double)hs);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const double *p = att + (((size_t)b * NH + h) * T + t) * T;
                double *dp = datt + (((size_t)b * NH + h) * T + t) * T;
                const double *go = dout + ((size_t)b * T + t) * C + (size_t)h * hs;
                for (int j = 0; j < T; j++) {
                    dp[j] = 0.0;
                    if (j > t)
                        continue;
                    const double *vj = v + ((size_t)b * T + j) * C + (size_t)h * hs;
                    double *dvj = dv + ((size_t)b * T + j) * C + (size_t)h * hs;
                    for (int i = 0; i < hs; i++) {
                        dp[j] += go[i] * vj[i];
                        dvj[i] += p[j] * go[i];
                    }
                }
                double dot = 0.0;
                for (int j = 0; j <= t; j++)
                    dot += p[j] * dp[j];
                const double *qt = q + ((size_t)b * T + t) * C + (size_t)h * hs;
                double *dqt = dq + ((size_t)b * T + t) * C + (size_t)h * hs;
                for (int j = 0; j <= t; j++) {
                    double ds = p[j] * (dp[j] - dot) * scale;
                    const double *kj = k + ((size_t)b * T + j) * C + (size_t)h * hs;
                    double *dkj = dk + ((size_t)b * T + j) * C + (size_t)h * hs;
                    for (int i = 0; i < hs; i++) {
                        dqt[i] += ds * kj[i];
                        dkj[i] += ds * qt[i];
                    }
                }
            }
}

// ---- gelu (tanh approximation) ----


/* tanh without libm: Eigen's [13/6] rational minimax fit on [-c, c],
 * c = 7.90531 (beyond it tanh rounds to ±1 in float), max abs error 4e-7
 * over [-30, 30] — all GELU needs (it uses 1 + tanh) — at ~1 ns per element
 * instead of ~4 (expf) or ~15 (tanhf). NaN in, NaN out; ±inf give ±1. */
static inline float tanh_fast(float x)
{
    const float c = 7.90531110763549805f;
    float xc = select_f(x, c, x > c);
    xc = select_f(xc, -c, xc < -c);
    float x2 = xc * xc;
    float p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    p = p * xc;
    float q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    return p / q;
}

/* The GELU loops are element-wise (no reduction), so wider vectors give
 * the same bits: compiled for AVX-512 / AVX2 too and chosen at run time. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define LSC_GELU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LSC_GELU_CLONES
#endif

LSC_GELU_CLONES
void lsc_gelu_forward_(float *out, const float *inp, size_t n)
{
    // out = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    /* A signed index: clang's omp simd lowering of an unsigned one computes
     * 0 - 1 (a -fsanitize=integer report). Element-wise: same bits. */
#pragma omp simd
    for (ptrdiff_t i = 0; i < (ptrdiff_t)n; i++) {
        float x = inp[i];
        float u = (float)GELU_SCALE * (x + 0.044715f * x * x * x);
        out[i] = 0.5f * x * (1.0f + tanh_fast(u));
    }
}

LSC_GELU_CLONES
void lsc_gelu_backward_(float *dinp, const float *inp, const float *dout, size_t n)
{
#pragma omp simd
    for (ptrdiff_t i = 0; i < (ptrdiff_t)n; i++) {        /* signed: see the forward */
        float x = inp[i];
        float u = (float)GELU_SCALE * (x + 0.044715f * x * x * x);
        float th = tanh_fast(u);
        float sech2 = 1.0f - th * th;
        float g = 0.5f * (1.0f + th) +
                  0.5f * x * sech2 * (float)GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] += g * dout[i];
    }
}

void lsc_gelu_forward_naive_(double *out, const double *inp, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double x = inp[i];
        out[i] = 0.5 * x * (1.0 + tanh(GELU_SCALE * (x + 0.044715 * x * x * x)));
    }
}

void lsc_gelu_backward_naive_(double *dinp, const double *inp, const double *dout, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double x = inp[i];
        double th = tanh(GELU_SCALE * (x + 0.044715 * x * x * x));
        double g = 0.5 * (1.0 + th) +
                   0.5 * x * (1.0 - th * th) * GELU_SCALE * (1.0 + 3.0 * 0.044715 * x * x);
        dinp[i] += g * dout[i];
    }
}

// ---- residual ----
/* Forward only: its backward is the identity on both inputs, which the
 * model does by accumulating into the residual stream's gradient. */

void lsc_residual_forward_(float *out, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

void lsc_residual_forward_naive_(double *out, const double *a, const double *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

// ---- softmax + cross-entropy ----

void lsc_softmax_forward_(float *probs, const float *logits, int N, int V)
{
    // probs (N,V) = softmax over the last axis
    for (int n = 0; n < N; n++) {
        const float *x = logits + (size_t)n * V;
        float *p = probs + (size_t)n * V;
        float mx = -INFINITY;
        for (int i = 0; i < V; i++)
            if (x[i] > mx)
                mx = x[i];
        float sum = 0.0f;
        for (int i = 0; i < V; i++) {
            p[i] = expf(x[i] - mx);
            sum += p[i];
        }
        float inv = 1.0f / sum;
        for (int i = 0; i < V; i++)
            p[i] *= inv;
    }
}

void lsc_crossentropy_forward_(float *losses, const float *logits,
                               const int *targets, int N, int V)
{
    // losses (N) = logsumexp(logits) - logits[target], computed from the
    // logits (not -log p) so that tiny probabilities keep their precision
    for (int n = 0; n < N; n++) {
        const float *x = logits + (size_t)n * V;
        float mx = -INFINITY;
        for (int i = 0; i < V; i++)
            if (x[i] > mx)
                mx = x[i];
        double sum = 0.0;
        for (int i = 0; i < V; i++)
            sum += exp((double)(x[i] - mx));
        losses[n] = (float)(log(sum) + (double)mx - (double)x[targets[n]]);
    }
}

void lsc_crossentropy_softmax_backward_(float *dlogits, const float *probs,
                                        const int *targets, const float *dloss,
                                        int N, int V)
{
    // dlogits (N,V) += dloss[n] · (probs − onehot(target)); dloss (N) is the
    // weight of each position in the mean loss (mask / sum(mask))
    for (int n = 0; n < N; n++) {
        float w = dloss[n];
        if (w == 0.0f)
            continue;
        const float *p = probs + (size_t)n * V;
        float *d = dlogits + (size_t)n * V;
        for (int i = 0; i < V; i++)
            d[i] += w * (p[i] - (i == targets[n] ? 1.0f : 0.0f));
    }
}

void lsc_softmax_forward_naive_(double *probs, const double *logits, int N, int V)
{
    for (int n = 0; n < N; n++) {
        const double *x = logits + (size_t)n * V;
        double mx = -INFINITY, sum = 0.0;
        for (int i = 0; i < V; i++)
            if (x[i] > mx)
                mx = x[i];
        for (int i = 0; i < V; i++)
            sum += exp(x[i] - mx);
        for (int i = 0; i < V; i++)
            probs[(size_t)n * V + i] = exp(x[i] - mx) / sum;
    }
}

void lsc_crossentropy_forward_naive_(double *losses, const double *logits,
                                     const int *targets, int N, int V)
{
    for (int n = 0; n < N; n++) {
        const double *x = logits + (size_t)n * V;
        double mx = -INFINITY, sum = 0.0;
        for (int i = 0; i < V; i++)
            if (x[i] > mx)
                mx = x[i];
        for (int i = 0; i < V; i++)
            sum += exp(x[i] - mx);
        losses[n] = log(sum) + mx - x[targets[n]];
    }
}

void lsc_crossentropy_softmax_backward_naive_(double *dlogits, const double *probs,
                                              const int *targets,
                                              const double *dloss, int N, int V)
{
    for (int n = 0; n < N; n++)
        for (int i = 0; i < V; i++)
            dlogits[(size_t)n * V + i] +=
                dloss[n] * (probs[(size_t)n * V + i] - (i == targets[n] ? 1.0 : 0.0));
}

// ---- lora: out += scale · (inp · A^T) · B^T ----

void lsc_lora_forward_(float *out, float *u, const float *inp, const float *A,
                       const float *Bw, float scale, int N, int C, int r, int OC)
{
    // out (N,OC) accumulated; u (N,r) = inp · A^T cached for backward;
    // inp (N,C) (already dropped out, if dropout is on); A (r,C); Bw (OC,r)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, r, C, 1.0f, inp, C,
                A, C, 0.0f, u, r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, r, scale, u, r,
                Bw, r, 1.0f, out, OC);
}

void lsc_lora_backward_(float *dinp, float *dA, float *dB, float *du,
                        float *dx, const float *dout, const float *inp,
                        const float *u, const float *A, const float *Bw,
                        const float *dmask, float scale, int N, int C, int r,
                        int OC)
{
    // du (N,r) scratch = scale · dout · Bw
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, r, OC, scale, dout,
                OC, Bw, r, 0.0f, du, r);
    // dB (OC,r) += scale · dout^T · u
    if (dB)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, r, N, scale, dout,
                    OC, u, r, 1.0f, dB, r);
    // dA (r,C) += du^T · inp
    if (dA)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, C, N, 1.0f, du, r,
                    inp, C, 1.0f, dA, C);
    if (!dinp)
        return;
    if (!dmask) {
        // dinp (N,C) += du · A
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, r, 1.0f, du, r,
                    A, C, 1.0f, dinp, C);
    } else {
        // through dropout: dinp += dmask ⊙ (du · A), dx (N,C) scratch
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, r, 1.0f, du, r,
                    A, C, 0.0f, dx, C);
        size_t n = (size_t)N * C;
        for (size_t i = 0; i < n; i++)
            dinp[i] += dmask[i] * dx[i];
    }
}

void lsc_lora_forward_naive_(double *out, double *u, const double *inp,
                             const double *A, const double *Bw, double scale,
                             int N, int C, int r, int OC)
{
    for (int n = 0; n < N; n++) {
        for (int j = 0; j < r; j++) {
            double s = 0.0;
            for (int i = 0; i < C; i++)
                s += inp[(size_t)n * C + i] * A[(size_t)j * C + i];
            u[(size_t)n * r + j] = s;
        }
        for (int o = 0; o < OC; o++) {
            double s = 0.0;
            for (int j = 0; j < r; j++)
                s += u[(size_t)n * r + j] * Bw[(size_t)o * r + j];
            out[(size_t)n * OC + o] += scale * s;
        }
    }
}

void lsc_lora_backward_naive_(double *dinp, double *dA, double *dB,
                              const double *dout, const double *inp,
                              const double *u, const double *A,
                              const double *Bw, const double *dmask,
                              double scale, int N, int C, int r, int OC)
{
    for (int n = 0; n < N; n++)
        for (int j = 0; j < r; j++) {
            double du = 0.0;
            for (int o = 0; o < OC; o++) {
                double g = scale * dout[(size_t)n * OC + o];
                du += g * Bw[(size_t)o * r + j];
                if (dB)
                    dB[(size_t)o * r + j] += g * u[(size_t)n * r + j];
            }
            for (int i = 0; i < C; i++) {
                if (dA)
                    dA[(size_t)j * C + i] += du * inp[(size_t)n * C + i];
                if (dinp)
                    dinp[(size_t)n * C + i] +=
                        du * A[(size_t)j * C + i] * (dmask ? dmask[(size_t)n * C + i] : 1.0);
            }
        }
}
