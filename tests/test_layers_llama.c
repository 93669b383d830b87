/*
 * test_layers_llama.c — the Llama kernels of layers_llama.c (RMSNorm, RoPE,
 * SwiGLU, grouped-query attention), as test_layers.c checks layers.c:
 *  1. each naive double backward against central finite differences of the
 *     naive double forward (loss = <proj, out>, fixed seeds);
 *  2. the fast float kernels against the naive ones, outputs and gradients;
 *  3. known answers: RoPE at position 0 is the identity, hs = 2 rotates by
 *     the position itself, the two layouts are one map up to Hugging Face's
 *     permutation, backward undoes forward; GQA with NKV = NH is
 *     layers.c's attention bit for bit, GQA with NKV < NH is NH-head
 *     attention on repeated k, v heads (repeat_kv); causality.
 * Negative controls show the checkers flag a small error and a wrong
 * head mapping. `test_layers_llama --dump` prints one case of each kernel
 * for tests/test_layers_llama_oracle.py's numpy cross-check (no checks).
 */
#include <math.h>
#include <string.h>

#include "../lib/lsc_internal.h"
#include "kernel_check.h"
#include "test.h"

/* max |a - b| / max |b| between two float tensors */
static double nerr_ff(const float *a, const float *b, size_t n)
{
    double e = 0.0, s = 0.0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - (double)b[i]));
        s = fmax(s, fabs((double)b[i]));
    }
    return s > 0.0 ? e / s : e;
}

// ---- rmsnorm ----

typedef struct {
    int N, C;
    double *inp, *w, *out, *rstd, *proj;
} rms_ctx;

static double rms_loss(void *p)
{
    rms_ctx *c = p;
    lsc_rmsnorm_forward_naive_(c->out, c->rstd, c->inp, c->w, 1e-5, c->N, c->C);
    return dot(c->out, c->proj, (size_t)c->N * c->C);
}

static void test_rmsnorm(void)
{
    int N = 6, C = 24;
    size_t NC = (size_t)N * C;
    rms_ctx c = {N, C, dalloc(NC), dalloc((size_t)C), dalloc(NC), dalloc((size_t)N), dalloc(NC)};
    fill(c.inp, NC, 2.0);
    for (int i = 0; i < C; i++)
        c.inp[C + i] *= 20.0;    /* a row with a large scale */
    for (int i = 0; i < C; i++)
        c.inp[2 * C + i] *= 1e-2; /* a row where eps matters */
    fill(c.w, (size_t)C, 1.5);
    fill(c.proj, NC, 1.0);
    double *dinp = dalloc(NC), *dw = dalloc((size_t)C);
    rms_loss(&c);
    lsc_rmsnorm_backward_naive_(dinp, dw, c.proj, c.inp, c.w, c.rstd, N, C);
    CHECK(fd_check(rms_loss, &c, c.inp, NC, dinp, 1e-5, 200) < FD_TOL, "rmsnorm naive dinp = FD");
    CHECK(fd_check(rms_loss, &c, c.w, (size_t)C, dw, 1e-5, 200) < FD_TOL, "rmsnorm naive dw = FD");
    rms_loss(&c);
    float *fi = tof(c.inp, NC), *fw = tof(c.w, (size_t)C), *fp = tof(c.proj, NC);
    float *fo = falloc(NC), *fr = falloc((size_t)N), *fdi = falloc(NC), *fdw = falloc((size_t)C);
    lsc_rmsnorm_forward_(fo, fr, fi, fw, 1e-5f, N, C);
    lsc_rmsnorm_backward_(fdi, fdw, fp, fi, fw, fr, N, C);
    CHECK(nerr_fd(fo, c.out, NC) < FAST_TOL, "rmsnorm float forward = naive");
    CHECK(nerr_fd(fr, c.rstd, (size_t)N) < FAST_TOL, "rmsnorm float rstd = naive");
    CHECK(nerr_fd(fdi, dinp, NC) < FAST_TOL, "rmsnorm float dinp = naive");
    CHECK(nerr_fd(fdw, dw, (size_t)C) < FAST_TOL, "rmsnorm float dw = naive");
    /* accumulation: a second backward with dw NULL doubles dinp, leaves dw */
    float *fdi2 = falloc(NC), *fdw2 = falloc((size_t)C);
    memcpy(fdi2, fdi, NC * sizeof(float));
    memcpy(fdw2, fdw, (size_t)C * sizeof(float));
    lsc_rmsnorm_backward_(fdi2, NULL, fp, fi, fw, fr, N, C);
    double e = 0.0;
    for (size_t i = 0; i < NC; i++)
        e = fmax(e, fabs(fdi2[i] - 2.0f * fdi[i]));
    CHECK(e < 1e-5 && memcmp(fdw2, fdw, (size_t)C * sizeof(float)) == 0,
          "rmsnorm backward accumulates (+=); dw NULL skips dw");
    /* known answer: a constant row a with w = 1 gives a / sqrt(a² + eps) */
    float xa[4] = {3, 3, 3, 3}, w1[4] = {1, 1, 1, 1}, oa[4], ra;
    lsc_rmsnorm_forward_(oa, &ra, xa, w1, 1e-5f, 1, 4);
    CHECK(fabs(oa[2] - 3.0 / sqrt(9.0 + 1e-5)) < 1e-6, "rmsnorm of a constant row 3 = 3/sqrt(9+eps) (%.8f)", oa[2]);
    free(c.inp), free(c.w), free(c.out), free(c.rstd), free(c.proj), free(dinp), free(dw);
    free(fi), free(fw), free(fp), free(fo), free(fr), free(fdi), free(fdw), free(fdi2), free(fdw2);
}

// ---- rope ----

typedef struct {
    int N, nh, hs, interleaved;
    const int *pos;
    double theta;
    double *x, *out, *proj;
} rope_ctx;

static double rope_loss(void *p)
{
    rope_ctx *c = p;
    size_t n = (size_t)c->N * c->nh * c->hs;
    memcpy(c->out, c->x, n * sizeof(double));
    lsc_rope_forward_naive_(c->out, c->pos, c->N, c->nh, c->hs, c->theta, c->interleaved);
    return dot(c->out, c->proj, n);
}

/* Hugging Face's convert-script permutation of one row of nh heads:
 * interleaved index 2j -> half index j, 2j+1 -> j + hs/2 (inverse = 1). */
static void permute_rows(float *dst, const float *src, int N, int nh, int hs, int inverse)
{
    for (int r = 0; r < N * nh; r++)
        for (int j = 0; j < hs / 2; j++)
            for (int odd = 0; odd < 2; odd++) {
                size_t ii = (size_t)r * hs + 2 * j + odd, hi = (size_t)r * hs + j + odd * (hs / 2);
                if (inverse)
                    dst[ii] = src[hi];
                else
                    dst[hi] = src[ii];
            }
}

static void test_rope_known(void)
{
    /* pos 0 is the identity, exactly */
    float x[24], y[24];
    for (int i = 0; i < 24; i++)
        x[i] = (float)(2.0 * lsc_rng_uniform_d(&rng_state) - 1.0);
    int p0[2] = {0, 0};
    memcpy(y, x, sizeof x);
    lsc_rope_forward_(y, p0, 2, 3, 4, 10000.0f, 1);
    int same = memcmp(x, y, sizeof x) == 0;
    lsc_rope_forward_(y, p0, 2, 3, 4, 10000.0f, 0);
    CHECK(same && memcmp(x, y, sizeof x) == 0, "rope at position 0 is the identity (both layouts)");
    /* hs = 2: the only pair has freq 1, so position p rotates (1, 0) by p radians */
    double emax = 0.0;
    for (int lay = 0; lay < 2; lay++)
        for (int p = 0; p < 50; p += 7) {
            float v[2] = {1.0f, 0.0f};
            lsc_rope_forward_(v, &p, 1, 1, 2, 10000.0f, lay);
            emax = fmax(emax, fmax(fabs(v[0] - cos((double)p)), fabs(v[1] - sin((double)p))));
        }
    CHECK(emax < 1e-6, "rope hs=2 at position p rotates by p radians (err %.1e)", emax);
    /* the second pair of hs = 4 turns by p / sqrt(theta) */
    double dv[4] = {0, 0, 1, 0};
    int p5 = 5;
    lsc_rope_forward_naive_(dv, &p5, 1, 1, 4, 100.0, 1);
    CHECK(fabs(dv[2] - cos(0.5)) < 1e-15 && fabs(dv[3] - sin(0.5)) < 1e-15,
          "rope naive hs=4 theta=100: pair 1 at position 5 turns by 0.5 rad");
}

static void test_rope(int interleaved, float theta)
{
    enum { N = 5, NH = 3, HS = 8 };
    static const int pos[N] = {0, 3, 17, 1, 40};
    size_t n = (size_t)N * NH * HS;
    const char *lay = interleaved ? "interleaved" : "half";
    rope_ctx c = {N, NH, HS, interleaved, pos, theta, dalloc(n), dalloc(n), dalloc(n)};
    fill(c.x, n, 1.0);
    fill(c.proj, n, 1.0);
    double *g = dalloc(n);
    memcpy(g, c.proj, n * sizeof(double));
    lsc_rope_backward_naive_(g, pos, N, NH, HS, theta, interleaved);
    CHECK(fd_check(rope_loss, &c, c.x, n, g, 1e-5, 300) < FD_TOL, "rope naive backward = FD (%s, theta %g)", lay, theta);
    rope_loss(&c);
    float *fx = tof(c.x, n), *fg = tof(c.proj, n), *x0 = tof(c.x, n);
    lsc_rope_forward_(fx, pos, N, NH, HS, theta, interleaved);
    lsc_rope_backward_(fg, pos, N, NH, HS, theta, interleaved);
    CHECK(nerr_fd(fx, c.out, n) < FAST_TOL, "rope float forward = naive (%s, theta %g)", lay, theta);
    CHECK(nerr_fd(fg, g, n) < FAST_TOL, "rope float backward = naive (%s, theta %g)", lay, theta);
    lsc_rope_backward_(fx, pos, N, NH, HS, theta, interleaved);
    CHECK(nerr_ff(fx, x0, n) < 1e-6, "rope float backward undoes forward (%s, err %.1e)", lay, nerr_ff(fx, x0, n));
    free(c.x), free(c.out), free(c.proj), free(g), free(fx), free(fg), free(x0);
}

static void test_rope_layouts(void)
{
    enum { N = 4, NH = 2, HS = 10 };
    static const int pos[N] = {2, 9, 33, 100};
    size_t n = (size_t)N * NH * HS;
    double *d = dalloc(n);
    fill(d, n, 1.0);
    float *xi = tof(d, n), *xh = falloc(n), *back = falloc(n);
    permute_rows(xh, xi, N, NH, HS, 0);
    lsc_rope_forward_(xi, pos, N, NH, HS, 10000.0f, 1);
    lsc_rope_forward_(xh, pos, N, NH, HS, 10000.0f, 0);
    permute_rows(back, xh, N, NH, HS, 1);
    CHECK(memcmp(back, xi, n * sizeof(float)) == 0,
          "rope: half layout on HF-permuted rows = interleaved layout, bit for bit");
    /* negative control: without the permutation the layouts differ */
    lsc_rope_forward_(xh, pos, N, NH, HS, 10000.0f, 0);
    float *xi2 = tof(d, n);
    lsc_rope_forward_(xi2, pos, N, NH, HS, 10000.0f, 0);
    for (size_t i = 0; i < n; i++)
        back[i] = (float)d[i];
    lsc_rope_forward_(back, pos, N, NH, HS, 10000.0f, 1);
    CHECK(nerr_ff(xi2, back, n) > 1e-2, "negative control: unpermuted layouts disagree (%.2f)", nerr_ff(xi2, back, n));
    free(d), free(xi), free(xh), free(back), free(xi2);
}

// ---- swiglu ----

typedef struct {
    size_t n;
    double *gate, *up, *out, *proj;
} sw_ctx;

static double sw_loss(void *p)
{
    sw_ctx *c = p;
    lsc_swiglu_forward_naive_(c->out, c->gate, c->up, c->n);
    return dot(c->out, c->proj, c->n);
}

static void test_swiglu(void)
{
    size_t n = 300;
    sw_ctx c = {n, dalloc(n), dalloc(n), dalloc(n), dalloc(n)};
    fill(c.gate, n, 8.0);
    fill(c.up, n, 2.0);
    fill(c.proj, n, 1.0);
    double *dg = dalloc(n), *du = dalloc(n);
    sw_loss(&c);
    lsc_swiglu_backward_naive_(dg, du, c.proj, c.gate, c.up, n);
    CHECK(fd_check(sw_loss, &c, c.gate, n, dg, 1e-5, 300) < FD_TOL, "swiglu naive dgate = FD");
    CHECK(fd_check(sw_loss, &c, c.up, n, du, 1e-5, 300) < FD_TOL, "swiglu naive dup = FD");
    sw_loss(&c);
    float *fg = tof(c.gate, n), *fu = tof(c.up, n), *fp = tof(c.proj, n), *fo = falloc(n);
    float *fdg = falloc(n), *fdu = falloc(n);
    lsc_swiglu_forward_(fo, fg, fu, n);
    lsc_swiglu_backward_(fdg, fdu, fp, fg, fu, n);
    CHECK(nerr_fd(fo, c.out, n) < FAST_TOL, "swiglu float forward = naive");
    CHECK(nerr_fd(fdg, dg, n) < FAST_TOL, "swiglu float dgate = naive");
    CHECK(nerr_fd(fdu, du, n) < FAST_TOL, "swiglu float dup = naive");
    lsc_swiglu_backward_(fdg, NULL, fp, fg, fu, n);
    CHECK(nerr_fd(fdg, dg, n) > 0.9 && nerr_fd(fdu, du, n) < FAST_TOL, "swiglu backward accumulates; dup NULL skips dup");
    /* known answers and extremes: silu(1) = 1/(1+e^-1); ±100 stay finite */
    float g3[3] = {1.0f, -100.0f, 100.0f}, u3[3] = {1.0f, 1.0f, 1.0f}, h3[3], d3[3] = {0, 0, 0};
    lsc_swiglu_forward_(h3, g3, u3, 3);
    lsc_swiglu_backward_(d3, NULL, u3, g3, u3, 3);
    CHECK(fabs(h3[0] - 0.7310585786300049) < 1e-7 && fabs(h3[1]) < 1e-30 && h3[2] == 100.0f &&
          isfinite(d3[1]) && fabs(d3[2] - 1.0f) < 1e-6,
          "swiglu: silu(1) = 0.7310586, silu(-100) = 0, silu(100) = 100, finite gradients");
    free(c.gate), free(c.up), free(c.out), free(c.proj), free(dg), free(du);
    free(fg), free(fu), free(fp), free(fo), free(fdg), free(fdu);
}

// ---- grouped-query attention ----

typedef struct {
    int B, T, NH, NKV, hs;
    double *q, *k, *v, *out, *att, *proj;
} gq_ctx;

static double gq_loss(void *p)
{
    gq_ctx *c = p;
    lsc_attention_gqa_forward_naive_(c->out, c->att, c->q, c->k, c->v, c->B, c->T, c->NH, c->NKV, c->hs);
    return dot(c->out, c->proj, (size_t)c->B * c->T * c->NH * c->hs);
}

/* Random q, k, v, proj (= dout) for a (B,T,NH,NKV,hs) case. */
static gq_ctx gq_make(int B, int T, int NH, int NKV, int hs)
{
    size_t nq = (size_t)B * T * NH * hs, nkv = (size_t)B * T * NKV * hs, na = (size_t)B * NH * T * T;
    gq_ctx c = {B, T, NH, NKV, hs, dalloc(nq), dalloc(nkv), dalloc(nkv), dalloc(nq), dalloc(na), dalloc(nq)};
    fill(c.q, nq, 1.5);
    fill(c.k, nkv, 1.5);
    fill(c.v, nkv, 1.0);
    fill(c.proj, nq, 1.0);
    return c;
}

/* The fast kernel's outputs: out, att, dq, dk, dv (dout = proj). */
typedef struct {
    float *out, *att, *dq, *dk, *dv;
} gq_fast;

static gq_fast gq_run_fast(const float *q, const float *k, const float *v, const float *dout,
                           int B, int T, int NH, int NKV, int hs)
{
    size_t nq = (size_t)B * T * NH * hs, nkv = (size_t)B * T * NKV * hs, na = (size_t)B * NH * T * T;
    gq_fast f = {falloc(nq), falloc(na), falloc(nq), falloc(nkv), falloc(nkv)};
    float *datt = falloc(na);
    for (size_t i = 0; i < na; i++)
        datt[i] = 1e3f;   /* garbage in the scratch must not matter */
    lsc_attention_gqa_forward_(f.out, f.att, q, k, v, B, T, NH, NKV, hs);
    lsc_attention_gqa_backward_(f.dq, f.dk, f.dv, datt, dout, f.att, q, k, v, B, T, NH, NKV, hs);
    free(datt);
    return f;
}

static void gq_free(gq_fast *f)
{
    free(f->out), free(f->att), free(f->dq), free(f->dk), free(f->dv);
}

static void test_gqa(int B, int T, int NH, int NKV, int hs, int with_fd)
{
    size_t nq = (size_t)B * T * NH * hs, nkv = (size_t)B * T * NKV * hs, na = (size_t)B * NH * T * T;
    gq_ctx c = gq_make(B, T, NH, NKV, hs);
    double *dq = dalloc(nq), *dk = dalloc(nkv), *dv = dalloc(nkv), *datt = dalloc(na);
    gq_loss(&c);
    lsc_attention_gqa_backward_naive_(dq, dk, dv, datt, c.proj, c.att, c.q, c.k, c.v, B, T, NH, NKV, hs);
    if (with_fd) {
        CHECK(fd_check(gq_loss, &c, c.q, nq, dq, 1e-5, 300) < FD_TOL, "gqa naive dq = FD (NH=%d NKV=%d hs=%d)", NH, NKV, hs);
        CHECK(fd_check(gq_loss, &c, c.k, nkv, dk, 1e-5, 300) < FD_TOL, "gqa naive dk = FD (NH=%d NKV=%d hs=%d)", NH, NKV, hs);
        CHECK(fd_check(gq_loss, &c, c.v, nkv, dv, 1e-5, 300) < FD_TOL, "gqa naive dv = FD (NH=%d NKV=%d hs=%d)", NH, NKV, hs);
        gq_loss(&c);
    }
    float *fq = tof(c.q, nq), *fk = tof(c.k, nkv), *fv = tof(c.v, nkv), *fp = tof(c.proj, nq);
    gq_fast f = gq_run_fast(fq, fk, fv, fp, B, T, NH, NKV, hs);
    CHECK(nerr_fd(f.out, c.out, nq) < FAST_TOL, "gqa BLAS forward = naive (B=%d T=%d NH=%d NKV=%d hs=%d)", B, T, NH, NKV, hs);
    CHECK(nerr_fd(f.att, c.att, na) < FAST_TOL, "gqa BLAS probabilities = naive (T=%d NKV=%d)", T, NKV);
    CHECK(nerr_fd(f.dq, dq, nq) < FAST_TOL, "gqa BLAS dq = naive (T=%d NKV=%d)", T, NKV);
    CHECK(nerr_fd(f.dk, dk, nkv) < FAST_TOL, "gqa BLAS dk = naive (T=%d NKV=%d)", T, NKV);
    CHECK(nerr_fd(f.dv, dv, nkv) < FAST_TOL, "gqa BLAS dv = naive (T=%d NKV=%d)", T, NKV);
    /* known answer: at t = 0 every query head outputs its kv head's v[0] exactly */
    int ok = 1;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < hs; i++)
                ok &= f.out[(size_t)b * T * NH * hs + (size_t)h * hs + i] ==
                      fv[(size_t)b * T * NKV * hs + (size_t)(h / (NH / NKV)) * hs + i];
    CHECK(ok, "gqa: at t=0 query head h outputs v[0] of kv head h/(NH/NKV) (NH=%d NKV=%d)", NH, NKV);
    /* causality: changing k, v at t >= tc leaves the outputs before tc alone */
    int tc = T / 2;
    for (int b = 0; b < B; b++)
        for (size_t i = (size_t)tc * NKV * hs; i < (size_t)T * NKV * hs; i++)
            fk[(size_t)b * T * NKV * hs + i] += 1.0f, fv[(size_t)b * T * NKV * hs + i] -= 2.0f;
    gq_fast g = gq_run_fast(fq, fk, fv, fp, B, T, NH, NKV, hs);
    ok = 1;
    for (int b = 0; b < B; b++)
        ok &= memcmp(g.out + (size_t)b * T * NH * hs, f.out + (size_t)b * T * NH * hs,
                     (size_t)tc * NH * hs * sizeof(float)) == 0;
    CHECK(ok, "gqa is causal: k, v after t=%d do not change earlier outputs (NKV=%d)", tc, NKV);
    free(c.q), free(c.k), free(c.v), free(c.out), free(c.att), free(c.proj);
    free(dq), free(dk), free(dv), free(datt), free(fq), free(fk), free(fv), free(fp);
    gq_free(&f), gq_free(&g);
}

/* NKV == NH: the GPT's multi-head attention (the GPT runs this kernel),
 * against layers.c's independent double reference of it. */
static void test_gqa_is_mha(int B, int T, int NH, int hs)
{
    int C = NH * hs;
    size_t n = (size_t)B * T * C, na = (size_t)B * NH * T * T;
    double *d = dalloc(4 * n);
    fill(d, 4 * n, 1.5);
    float *q = tof(d, n), *k = tof(d + n, n), *v = tof(d + 2 * n, n), *dout = tof(d + 3 * n, n);
    gq_fast f = gq_run_fast(q, k, v, dout, B, T, NH, NH, hs);
    double *o1 = dalloc(n), *o2 = dalloc(n), *a1 = dalloc(na), *a2 = dalloc(na);
    double *dq = dalloc(n), *dk = dalloc(n), *dv = dalloc(n), *datt = dalloc(na);
    lsc_attention_forward_naive_(o1, a1, d, d + n, d + 2 * n, B, T, C, NH);
    lsc_attention_backward_naive_(dq, dk, dv, datt, d + 3 * n, a1, d, d + n, d + 2 * n, B, T, C, NH);
    CHECK(nerr_fd(f.out, o1, n) < FAST_TOL && nerr_fd(f.att, a1, na) < FAST_TOL,
          "gqa NKV=NH forward = the GPT's multi-head reference (T=%d NH=%d hs=%d)", T, NH, hs);
    CHECK(nerr_fd(f.dq, dq, n) < FAST_TOL && nerr_fd(f.dk, dk, n) < FAST_TOL && nerr_fd(f.dv, dv, n) < FAST_TOL,
          "gqa NKV=NH backward = the GPT's multi-head reference (T=%d NH=%d hs=%d)", T, NH, hs);
    /* the naive references agree too */
    lsc_attention_gqa_forward_naive_(o2, a2, d, d + n, d + 2 * n, B, T, NH, NH, hs);
    double e = 0.0;
    for (size_t i = 0; i < n; i++)
        e = fmax(e, fabs(o1[i] - o2[i]));
    CHECK(e < 1e-13, "gqa naive NKV=NH = attention naive (err %.1e)", e);
    free(d), free(q), free(k), free(v), free(dout), free(dq), free(dk), free(dv), free(datt);
    free(o1), free(o2), free(a1), free(a2);
    gq_free(&f);
}

/* k, v (B,T,NKV·hs) -> (B,T,NH·hs) with query head h reading kv head map(h) */
static float *repeat_kv(const float *x, int B, int T, int NH, int NKV, int hs, int wrong)
{
    float *r = falloc((size_t)B * T * NH * hs);
    for (int bt = 0; bt < B * T; bt++)
        for (int h = 0; h < NH; h++) {
            int kh = wrong ? h % NKV : h / (NH / NKV);
            memcpy(r + ((size_t)bt * NH + h) * hs, x + ((size_t)bt * NKV + kh) * hs, (size_t)hs * sizeof(float));
        }
    return r;
}

/* NKV < NH: NH-head attention (NKV = NH) on repeated k, v heads; dk, dv are
 * the sums of the repeated heads' gradients. */
static void test_gqa_repeat_kv(int B, int T, int NH, int NKV, int hs)
{
    int C = NH * hs, rep = NH / NKV;
    size_t nq = (size_t)B * T * C, nkv = (size_t)B * T * NKV * hs, na = (size_t)B * NH * T * T;
    double *d = dalloc(2 * nq + 2 * nkv);
    fill(d, 2 * nq + 2 * nkv, 1.5);
    float *q = tof(d, nq), *dout = tof(d + nq, nq), *k = tof(d + 2 * nq, nkv), *v = tof(d + 2 * nq + nkv, nkv);
    gq_fast f = gq_run_fast(q, k, v, dout, B, T, NH, NKV, hs);
    float *kr = repeat_kv(k, B, T, NH, NKV, hs, 0), *vr = repeat_kv(v, B, T, NH, NKV, hs, 0);
    float *out = falloc(nq), *att = falloc(na), *dq = falloc(nq), *dkr = falloc(nq), *dvr = falloc(nq);
    float *datt = falloc(na), *dk = falloc(nkv), *dv = falloc(nkv);
    lsc_attention_gqa_forward_(out, att, q, kr, vr, B, T, NH, NH, hs);
    lsc_attention_gqa_backward_(dq, dkr, dvr, datt, dout, att, q, kr, vr, B, T, NH, NH, hs);
    for (int bt = 0; bt < B * T; bt++)
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < hs; i++) {
                size_t src = ((size_t)bt * NH + h) * hs + i, dst = ((size_t)bt * NKV + h / rep) * hs + i;
                dk[dst] += dkr[src], dv[dst] += dvr[src];
            }
    CHECK(nerr_ff(f.out, out, nq) < 1e-6 && nerr_ff(f.att, att, na) < 1e-6,
          "gqa NH=%d NKV=%d forward = attention on repeat_kv heads", NH, NKV);
    CHECK(nerr_ff(f.dq, dq, nq) < 1e-6, "gqa NH=%d NKV=%d dq = attention on repeat_kv heads", NH, NKV);
    CHECK(nerr_ff(f.dk, dk, nkv) < 1e-6 && nerr_ff(f.dv, dv, nkv) < 1e-6,
          "gqa NH=%d NKV=%d dk, dv = summed repeat_kv head gradients", NH, NKV);
    /* negative control: the other head order (h % NKV) is told apart
     * (with NKV = 1 both orders are the same map) */
    float *kw = repeat_kv(k, B, T, NH, NKV, hs, 1), *vw = repeat_kv(v, B, T, NH, NKV, hs, 1);
    lsc_attention_gqa_forward_(out, att, q, kw, vw, B, T, NH, NH, hs);
    if (NKV > 1)
        CHECK(nerr_ff(f.out, out, nq) > 1e-2,
              "negative control: kv head h %% NKV instead of h / (NH/NKV) differs (%.2f)", nerr_ff(f.out, out, nq));
    free(d), free(q), free(dout), free(k), free(v), free(kr), free(vr), free(out), free(att), free(dq);
    free(dkr), free(dvr), free(datt), free(dk), free(dv), free(kw), free(vw);
    gq_free(&f);
}

// ---- the checkers can fail ----

static void test_negative_control(void)
{
    int B = 1, T = 4, NH = 4, NKV = 2, hs = 3;
    size_t nq = (size_t)B * T * NH * hs, nkv = (size_t)B * T * NKV * hs, na = (size_t)B * NH * T * T;
    gq_ctx c = gq_make(B, T, NH, NKV, hs);
    double *dq = dalloc(nq), *dk = dalloc(nkv), *dv = dalloc(nkv), *datt = dalloc(na);
    gq_loss(&c);
    lsc_attention_gqa_backward_naive_(dq, dk, dv, datt, c.proj, c.att, c.q, c.k, c.v, B, T, NH, NKV, hs);
    size_t imax = 0;
    for (size_t i = 0; i < nkv; i++)
        if (fabs(dk[i]) > fabs(dk[imax]))
            imax = i;
    dk[imax] *= 1.01;
    double e = fd_check(gq_loss, &c, c.k, nkv, dk, 1e-5, 300);
    CHECK(e > 100 * FD_TOL, "negative control: a 1%% error in one gqa dk entry is flagged (err %.2e)", e);
    float f[4] = {1, 2, 3.003f, 4};
    double d[4] = {1, 2, 3, 4};
    CHECK(nerr_fd(f, d, 4) > FAST_TOL, "negative control: a 0.1%% error fails the float-vs-naive check");
    free(c.q), free(c.k), free(c.v), free(c.out), free(c.att), free(c.proj);
    free(dq), free(dk), free(dv), free(datt);
}

// ---- the numpy oracle's case (--dump) ----

static void dump_arr(const char *name, const float *x, size_t n)
{
    printf("%s", name);
    for (size_t i = 0; i < n; i++)
        printf(" %.9g", x[i]);
    printf("\n");
}

static float *frand(size_t n, double scale)
{
    double *d = dalloc(n);
    fill(d, n, scale);
    float *f = tof(d, n);
    free(d);
    return f;
}

/* Inputs and the fast kernels' outputs and gradients for one small case of
 * each kernel, one "name v0 v1 ..." line per array, for
 * tests/test_layers_llama_oracle.py (shapes there). No checks. */
static void dump(void)
{
    enum { N = 6, C = 16, NH = 4, NKV = 2, HS = 6, B = 2, T = 6, NS = 50 };
    static const int pos[N] = {0, 1, 2, 5, 17, 40};
    float *x = frand(N * C, 2.0), *w = frand(C, 1.5), *g = frand(N * C, 1.0), *o = falloc(N * C);
    float *r = falloc(N), *dx = falloc(N * C), *dw = falloc(C);
    lsc_rmsnorm_forward_(o, r, x, w, 1e-5f, N, C);
    lsc_rmsnorm_backward_(dx, dw, g, x, w, r, N, C);
    dump_arr("rms_x", x, N * C), dump_arr("rms_w", w, C), dump_arr("rms_g", g, N * C);
    dump_arr("rms_out", o, N * C), dump_arr("rms_dx", dx, N * C), dump_arr("rms_dw", dw, C);
    float *rx = frand(N * NH * HS, 1.0), *ry = falloc(N * NH * HS);
    dump_arr("rope_x", rx, N * NH * HS);
    for (int lay = 0; lay < 2; lay++) {
        memcpy(ry, rx, sizeof(float) * N * NH * HS);
        lsc_rope_forward_(ry, pos, N, NH, HS, 10000.0f, lay);
        dump_arr(lay ? "rope_fwd_interleaved" : "rope_fwd_half", ry, N * NH * HS);
        memcpy(ry, rx, sizeof(float) * N * NH * HS);
        lsc_rope_backward_(ry, pos, N, NH, HS, 10000.0f, lay);
        dump_arr(lay ? "rope_bwd_interleaved" : "rope_bwd_half", ry, N * NH * HS);
    }
    float *sg = frand(NS, 6.0), *su = frand(NS, 2.0), *sd = frand(NS, 1.0), *sh = falloc(NS);
    float *sdg = falloc(NS), *sdu = falloc(NS);
    lsc_swiglu_forward_(sh, sg, su, NS);
    lsc_swiglu_backward_(sdg, sdu, sd, sg, su, NS);
    dump_arr("sw_gate", sg, NS), dump_arr("sw_up", su, NS), dump_arr("sw_dh", sd, NS);
    dump_arr("sw_h", sh, NS), dump_arr("sw_dgate", sdg, NS), dump_arr("sw_dup", sdu, NS);
    size_t nq = (size_t)B * T * NH * HS, nkv = (size_t)B * T * NKV * HS;
    float *q = frand(nq, 1.5), *k = frand(nkv, 1.5), *v = frand(nkv, 1.0), *dout = frand(nq, 1.0);
    gq_fast f = gq_run_fast(q, k, v, dout, B, T, NH, NKV, HS);
    dump_arr("gqa_q", q, nq), dump_arr("gqa_k", k, nkv), dump_arr("gqa_v", v, nkv), dump_arr("gqa_dout", dout, nq);
    dump_arr("gqa_out", f.out, nq), dump_arr("gqa_dq", f.dq, nq), dump_arr("gqa_dk", f.dk, nkv);
    dump_arr("gqa_dv", f.dv, nkv);
    free(x), free(w), free(g), free(o), free(r), free(dx), free(dw), free(rx), free(ry);
    free(sg), free(su), free(sd), free(sh), free(sdg), free(sdu), free(q), free(k), free(v), free(dout);
    gq_free(&f);
}

int main(int argc, char **argv)
{
    lsc_rng_seed(&rng_state, 4321);
    if (argc > 1 && strcmp(argv[1], "--dump") == 0) {
        dump();
        return 0;
    }
    test_rmsnorm();
    test_rope_known();
    test_rope(1, 10000.0f);
    test_rope(0, 10000.0f);
    test_rope(0, 500000.0f);
    test_rope_layouts();
    test_swiglu();
    test_gqa(2, 5, 4, 2, 6, 1);
    test_gqa(1, 6, 4, 1, 5, 1);
    test_gqa(2, 5, 2, 1, 12, 1);    /* hs = 12 in a 16-wide model: hs != C/NH */
    test_gqa(2, 4, 3, 3, 4, 1);
    test_gqa(2, 70, 8, 2, 16, 0);   /* T >= 64 */
    test_gqa_is_mha(2, 6, 2, 4);
    test_gqa_is_mha(2, 70, 4, 8);
    test_gqa_repeat_kv(2, 7, 4, 2, 6);
    test_gqa_repeat_kv(1, 9, 6, 2, 5);
    test_gqa_repeat_kv(2, 70, 8, 1, 16);
    test_negative_control();
    return test_summary();
}
