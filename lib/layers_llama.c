/*
 * layers_llama.c — the kernels that the Llama family adds to layers.c:
 * RMSNorm, rotary position embeddings (both layouts), SwiGLU and causal
 * grouped-query attention, each a forward/backward pair in float beside a
 * naive reference in DOUBLE (suffix _naive_) that the tests check against
 * central finite differences. The attention pair is the GPT's too (NKV =
 * NH is multi-head attention): both families run one attention kernel.
 *
 * What it is not: it allocates nothing and knows no model structure (the
 * Llama model code sequences the calls); the matmul, LoRA, softmax and
 * cross-entropy kernels the Llama shares with the GPT stay in layers.c.
 *
 * Conventions are layers.c's: arguments are outputs, inputs, weights,
 * caches, dims; backward kernels ACCUMULATE (+=) into every gradient and a
 * NULL gradient pointer means "not wanted" — except lsc_rope_backward_,
 * which maps dx in place (a rotation is a bijection). GEMMs through
 * cblas_sgemm, element-wise loops serial, reductions in a fixed order.
 * Shapes: N rows, C channels, NH query heads, NKV key/value heads (NKV
 * divides NH), hs head size (need not be C/NH), B batch, T time.
 *
 * Float expressions follow llama2.c's run.c where it has them (rmsnorm,
 * the RoPE frequencies and angles, SiLU), so that greedy decoding can
 * reproduce llama2.c's output bit for bit; attention reuses layers.c's
 * causal softmax so that the GPT and the Llama share one exp.
 */
#include <cblas.h>
#include <math.h>
#include <stddef.h>

#include "lsc_internal.h"

// ---- rmsnorm ----

void lsc_rmsnorm_forward_(float *out, float *rstd, const float *inp, const float *w,
                          float eps, int N, int C)
{
    // out (N,C), rstd (N) cached for backward; run.c's rmsnorm: a serial
    // float sum of squares, then o = w · (s · x)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        float ss = 0.0f;
        for (int i = 0; i < C; i++)
            ss += x[i] * x[i];
        ss /= (float)C;
        ss += eps;
        float s = 1.0f / sqrtf(ss);
        for (int i = 0; i < C; i++)
            o[i] = w[i] * (s * x[i]);
        rstd[n] = s;
    }
}

void lsc_rmsnorm_backward_(float *dinp, float *dw, const float *dout, const float *inp,
                           const float *w, const float *rstd, int N, int C)
{
    // y = w ⊙ x · s, s = (mean x² + eps)^-1/2:
    // dx = s (w ⊙ g) − x · s³ (Σ g w x) / C ; dw += g ⊙ x · s (row by row)
    for (int n = 0; n < N && (dinp || dw); n++) {
        const float *x = inp + (size_t)n * C;
        const float *g = dout + (size_t)n * C;
        float s = rstd[n];
        if (dinp) {
            float gwx = 0.0f;
            for (int i = 0; i < C; i++)
                gwx += g[i] * w[i] * x[i];
            float k = s * s * s * gwx / (float)C;
            float *di = dinp + (size_t)n * C;
            for (int i = 0; i < C; i++)
                di[i] += s * w[i] * g[i] - k * x[i];
        }
        if (dw)
            for (int i = 0; i < C; i++)
                dw[i] += g[i] * x[i] * s;
    }
}

void lsc_rmsnorm_forward_naive_(double *out, double *rstd, const double *inp, const double *w,
                                double eps, int N, int C)
{
    for (int n = 0; n < N; n++) {
        const double *x = inp + (size_t)n * C;
        double ss = 0.0;
        for (int i = 0; i < C; i++)
            ss += x[i] * x[i];
        double s = 1.0 / sqrt(ss / C + eps);
        for (int i = 0; i < C; i++)
            out[(size_t)n * C + i] = x[i] * s * w[i];
        rstd[n] = s;
    }
}

void lsc_rmsnorm_backward_naive_(double *dinp, double *dw, const double *dout, const double *inp,
                                 const double *w, const double *rstd, int N, int C)
{
    for (int n = 0; n < N; n++) {
        const double *x = inp + (size_t)n * C;
        const double *g = dout + (size_t)n * C;
        double s = rstd[n], gwx = 0.0;
        for (int i = 0; i < C; i++) {
            gwx += g[i] * w[i] * x[i];
            if (dw)
                dw[i] += g[i] * x[i] * s;
        }
        if (dinp)
            for (int i = 0; i < C; i++)
                dinp[(size_t)n * C + i] += s * w[i] * g[i] - s * s * s * gwx / C * x[i];
    }
}

// ---- rope: rotary position embeddings, in place ----

/* Rotates every pair of the nh heads of one row by (c, sgn·s) for pair j:
 * interleaved pairs (x[2j], x[2j+1]) or half-split pairs (x[j], x[j+hs/2]).
 * sgn = 1 is the forward rotation, -1 its transpose (the backward). */
static void rope_rows(float *x, const int *pos, int N, int nh, int hs, float theta,
                      int interleaved, float sgn)
{
    int half = hs / 2;
    for (int n = 0; n < N; n++) {
        float *row = x + (size_t)n * nh * hs;
        for (int j = 0; j < half; j++) {
            // run.c: freq = 1 / powf(theta, head_dim / (float)head_size), val = pos * freq
            float freq = 1.0f / powf(theta, (float)(2 * j) / (float)hs);
            float angle = (float)pos[n] * freq;
            float c = cosf(angle), s = sgn * sinf(angle);
            int ia = interleaved ? 2 * j : j, ib = interleaved ? 2 * j + 1 : j + half;
            for (int h = 0; h < nh; h++) {
                float *v = row + (size_t)h * hs;
                float a = v[ia], b = v[ib];
                v[ia] = a * c - b * s;
                v[ib] = a * s + b * c;
            }
        }
    }
}

void lsc_rope_forward_(float *x, const int *pos, int N, int nh, int hs, float theta, int interleaved)
{
    rope_rows(x, pos, N, nh, hs, theta, interleaved, 1.0f);
}

void lsc_rope_backward_(float *dx, const int *pos, int N, int nh, int hs, float theta, int interleaved)
{
    // the transpose rotation: (a, b) -> (a c + b s, −a s + b c)
    rope_rows(dx, pos, N, nh, hs, theta, interleaved, -1.0f);
}

static void rope_rows_naive(double *x, const int *pos, int N, int nh, int hs, double theta,
                            int interleaved, double sgn)
{
    for (int n = 0; n < N; n++)
        for (int h = 0; h < nh; h++)
            for (int j = 0; j < hs / 2; j++) {
                double angle = pos[n] / pow(theta, 2.0 * j / hs);
                double c = cos(angle), s = sgn * sin(angle);
                double *v = x + ((size_t)n * nh + h) * hs;
                int ia = interleaved ? 2 * j : j, ib = interleaved ? 2 * j + 1 : j + hs / 2;
                double a = v[ia], b = v[ib];
                v[ia] = a * c - b * s;
                v[ib] = a * s + b * c;
            }
}

void lsc_rope_forward_naive_(double *x, const int *pos, int N, int nh, int hs, double theta,
                             int interleaved)
{
    rope_rows_naive(x, pos, N, nh, hs, theta, interleaved, 1.0);
}

void lsc_rope_backward_naive_(double *dx, const int *pos, int N, int nh, int hs, double theta,
                              int interleaved)
{
    rope_rows_naive(dx, pos, N, nh, hs, theta, interleaved, -1.0);
}

// ---- swiglu: h = silu(gate) · up ----

void lsc_swiglu_forward_(float *h, const float *gate, const float *up, size_t n)
{
    // run.c: val *= 1 / (1 + expf(-val)); val *= up
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        g *= 1.0f / (1.0f + expf(-g));
        h[i] = g * up[i];
    }
}

void lsc_swiglu_backward_(float *dgate, float *dup, const float *dh, const float *gate,
                          const float *up, size_t n)
{
    // σ = 1/(1+e^-g): d silu/dg = σ (1 + g (1 − σ)); dup += dh · g σ
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        float sig = 1.0f / (1.0f + expf(-g));
        if (dgate)
            dgate[i] += dh[i] * up[i] * sig * (1.0f + g * (1.0f - sig));
        if (dup)
            dup[i] += dh[i] * g * sig;
    }
}

void lsc_swiglu_forward_naive_(double *h, const double *gate, const double *up, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h[i] = gate[i] / (1.0 + exp(-gate[i])) * up[i];
}

void lsc_swiglu_backward_naive_(double *dgate, double *dup, const double *dh, const double *gate,
                                const double *up, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double g = gate[i], sig = 1.0 / (1.0 + exp(-g));
        if (dgate)
            dgate[i] += dh[i] * up[i] * (sig + g * sig * (1.0 - sig));
        if (dup)
            dup[i] += dh[i] * g * sig;
    }
}

// ---- attention: causal grouped-query ----

/* Offsets of query head h and of its key/value head in batch row b:
 * q rows are NH·hs wide, k/v rows NKV·hs, query head h reads kv head
 * h / (NH/NKV) (Hugging Face's repeat_kv order). */
static void gqa_offsets(size_t *qoff, size_t *kvoff, int b, int h, int T, int NH, int NKV, int hs)
{
    *qoff = (size_t)b * T * NH * hs + (size_t)h * hs;
    *kvoff = (size_t)b * T * NKV * hs + (size_t)(h / (NH / NKV)) * hs;
}

void lsc_attention_gqa_forward_(float *out, float *att, const float *q, const float *k,
                                const float *v, int B, int T, int NH, int NKV, int hs)
{
    // layers.c's three phases with the head mapping: S = scale·Q K^T per
    // (b, h), the causal softmax of every row, out = P V
    int BH = B * NH, ldq = NH * hs, ldkv = NKV * hs;
    float scale = 1.0f / sqrtf((float)hs);
    for (int bh = 0; bh < BH; bh++) {
        size_t qo, kvo;
        gqa_offsets(&qo, &kvo, bh / NH, bh % NH, T, NH, NKV, hs);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, scale, q + qo, ldq,
                    k + kvo, ldkv, 0.0f, att + (size_t)bh * T * T, T);
    }
    for (int row = 0; row < BH * T; row++)
        lsc_causal_softmax_row_(att + (size_t)row * T, row % T, T);
    for (int bh = 0; bh < BH; bh++) {
        size_t qo, kvo;
        gqa_offsets(&qo, &kvo, bh / NH, bh % NH, T, NH, NKV, hs);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, 1.0f,
                    att + (size_t)bh * T * T, T, v + kvo, ldkv, 0.0f, out + qo, ldq);
    }
}

void lsc_attention_gqa_backward_(float *dq, float *dk, float *dv, float *datt, const float *dout,
                                 const float *att, const float *q, const float *k, const float *v,
                                 int B, int T, int NH, int NKV, int hs)
{
    // dq (B,T,NH·hs), dk, dv (B,T,NKV·hs) accumulated, the query heads of
    // one kv head in head order; datt (B,NH,T,T) scratch (overwritten)
    int BH = B * NH, ldq = NH * hs, ldkv = NKV * hs;
    float scale = 1.0f / sqrtf((float)hs);
    // dP = dO V^T ; dV += P^T dO
    for (int bh = 0; bh < BH; bh++) {
        size_t qo, kvo;
        gqa_offsets(&qo, &kvo, bh / NH, bh % NH, T, NH, NKV, hs);
        const float *P = att + (size_t)bh * T * T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, 1.0f, dout + qo, ldq,
                    v + kvo, ldkv, 0.0f, datt + (size_t)bh * T * T, T);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, 1.0f, P, T,
                    dout + qo, ldq, 1.0f, dv + kvo, ldkv);
    }
    // softmax backward: dS = P ⊙ (dP − Σ_j P dP), zero above the diagonal
    for (int row = 0; row < BH * T; row++)
        lsc_causal_softmax_backward_row_(datt + (size_t)row * T, att + (size_t)row * T, row % T, T);
    // dQ += scale dS K ; dK += scale dS^T Q
    for (int bh = 0; bh < BH; bh++) {
        size_t qo, kvo;
        gqa_offsets(&qo, &kvo, bh / NH, bh % NH, T, NH, NKV, hs);
        const float *dS = datt + (size_t)bh * T * T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, scale, dS, T,
                    k + kvo, ldkv, 1.0f, dq + qo, ldq);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, scale, dS, T,
                    q + qo, ldq, 1.0f, dk + kvo, ldkv);
    }
}

void lsc_attention_gqa_forward_naive_(double *out, double *att, const double *q, const double *k,
                                      const double *v, int B, int T, int NH, int NKV, int hs)
{
    double scale = 1.0 / sqrt((double)hs);
    size_t ldq = (size_t)NH * hs, ldkv = (size_t)NKV * hs;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                size_t qo, kvo;
                gqa_offsets(&qo, &kvo, b, h, T, NH, NKV, hs);
                const double *qt = q + qo + (size_t)t * ldq;
                double *p = att + (((size_t)b * NH + h) * T + t) * T;
                double mx = -INFINITY, sum = 0.0;
                for (int j = 0; j <= t; j++) {
                    double s = 0.0;
                    for (int i = 0; i < hs; i++)
                        s += qt[i] * k[kvo + (size_t)j * ldkv + i];
                    p[j] = s * scale;
                    mx = fmax(mx, p[j]);
                }
                for (int j = 0; j <= t; j++) {
                    p[j] = exp(p[j] - mx);
                    sum += p[j];
                }
                for (int j = 0; j < T; j++)
                    p[j] = j <= t ? p[j] / sum : 0.0;
                for (int i = 0; i < hs; i++) {
                    double s = 0.0;
                    for (int j = 0; j <= t; j++)
                        s += p[j] * v[kvo + (size_t)j * ldkv + i];
                    out[qo + (size_t)t * ldq + i] = s;
                }
            }
}

void lsc_attention_gqa_backward_naive_(double *dq, double *dk, double *dv, double *datt,
                                       const double *dout, const double *att, const double *q,
                                       const double *k, const double *v, int B, int T, int NH,
                                       int NKV, int hs)
{
    double scale = 1.0 / sqrt((double)hs);
    size_t ldq = (size_t)NH * hs, ldkv = (size_t)NKV * hs;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                size_t qo, kvo;
                gqa_offsets(&qo, &kvo, b, h, T, NH, NKV, hs);
                qo += (size_t)t * ldq;
                const double *p = att + (((size_t)b * NH + h) * T + t) * T;
                double *dp = datt + (((size_t)b * NH + h) * T + t) * T;
                double dot = 0.0;
                for (int j = 0; j < T; j++) {
                    dp[j] = 0.0;
                    if (j > t)
                        continue;
                    for (int i = 0; i < hs; i++) {
                        dp[j] += dout[qo + i] * v[kvo + (size_t)j * ldkv + i];
                        dv[kvo + (size_t)j * ldkv + i] += p[j] * dout[qo + i];
                    }
                    dot += p[j] * dp[j];
                }
                for (int j = 0; j <= t; j++) {
                    double ds = p[j] * (dp[j] - dot) * scale;
                    for (int i = 0; i < hs; i++) {
                        dq[qo + i] += ds * k[kvo + (size_t)j * ldkv + i];
                        dk[kvo + (size_t)j * ldkv + i] += ds * q[qo + i];
                    }
                }
            }
}
