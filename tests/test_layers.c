/*
 * test_layers.c — every kernel pair of layers.c, two ways:
 *  1. the naive double-precision backward against central finite
 *     differences of the naive double forward (loss = <proj, out> with a
 *     random projection, fixed seeds, high-entropy inputs);
 *  2. the fast float kernels (BLAS, OpenMP) against the naive ones, forward
 *     outputs and every gradient.
 * A negative control shows the checker flags a 1% error in one entry.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "../lib/lsc_internal.h"
#include "kernel_check.h"
#include "test.h"

// ---- matmul ----

typedef struct {
    int N, C, OC;
    double *inp, *w, *bias, *out, *proj;
} mm_ctx;

static double mm_loss(void *p)
{
    mm_ctx *c = p;
    lsc_matmul_forward_naive_(c->out, c->inp, c->w, c->bias, c->N, c->C, c->OC);
    return dot(c->out, c->proj, (size_t)c->N * c->OC);
}

static void test_matmul(int N, int C, int OC, int with_fd)
{
    mm_ctx c = {N, C, OC, dalloc((size_t)N * C), dalloc((size_t)OC * C), dalloc((size_t)OC),
                dalloc((size_t)N * OC), dalloc((size_t)N * OC)};
    fill(c.inp, (size_t)N * C, 1.0);
    fill(c.w, (size_t)OC * C, 0.5);
    fill(c.bias, (size_t)OC, 0.5);
    fill(c.proj, (size_t)N * OC, 1.0);
    double *dinp = dalloc((size_t)N * C), *dw = dalloc((size_t)OC * C), *db = dalloc((size_t)OC);
    mm_loss(&c);
    lsc_matmul_backward_naive_(dinp, dw, db, c.proj, c.inp, c.w, N, C, OC);
    if (with_fd) {
        CHECK(fd_check(mm_loss, &c, c.inp, (size_t)N * C, dinp, 1e-5, 200) < FD_TOL, "matmul naive dinp = FD");
        CHECK(fd_check(mm_loss, &c, c.w, (size_t)OC * C, dw, 1e-5, 200) < FD_TOL, "matmul naive dw = FD");
        CHECK(fd_check(mm_loss, &c, c.bias, (size_t)OC, db, 1e-5, 200) < FD_TOL, "matmul naive dbias = FD");
    }
    /* fast float kernels against the naive ones */
    float *fi = tof(c.inp, (size_t)N * C), *fw = tof(c.w, (size_t)OC * C), *fb = tof(c.bias, (size_t)OC);
    float *fo = falloc((size_t)N * OC), *fp = tof(c.proj, (size_t)N * OC);
    float *fdi = falloc((size_t)N * C), *fdw = falloc((size_t)OC * C), *fdb = falloc((size_t)OC);
    lsc_matmul_forward_(fo, fi, fw, fb, N, C, OC);
    lsc_matmul_backward_(fdi, fdw, fdb, fp, fi, fw, N, C, OC);
    CHECK(nerr_fd(fo, c.out, (size_t)N * OC) < FAST_TOL, "matmul BLAS forward = naive (N=%d C=%d OC=%d)", N, C, OC);
    CHECK(nerr_fd(fdi, dinp, (size_t)N * C) < FAST_TOL, "matmul BLAS dinp = naive (N=%d)", N);
    CHECK(nerr_fd(fdw, dw, (size_t)OC * C) < FAST_TOL, "matmul BLAS dw = naive (N=%d)", N);
    CHECK(nerr_fd(fdb, db, (size_t)OC) < FAST_TOL, "matmul BLAS dbias = naive (N=%d)", N);
    /* accumulation: a second backward doubles; NULL dw leaves dw alone and
     * still gives dinp (the frozen path) */
    float *fdi2 = falloc((size_t)N * C);
    memcpy(fdi2, fdi, (size_t)N * C * sizeof(float));
    lsc_matmul_backward_(fdi2, NULL, NULL, fp, fi, fw, N, C, OC);
    double e = 0.0;
    for (size_t i = 0; i < (size_t)N * C; i++)
        e = fmax(e, fabs(fdi2[i] - 2.0f * fdi[i]));
    CHECK(e < 1e-5, "matmul backward accumulates (+=); frozen path (dw NULL) still gives dinp");
    /* no bias */
    lsc_matmul_forward_naive_(c.out, c.inp, c.w, NULL, N, C, OC);
    lsc_matmul_forward_(fo, fi, fw, NULL, N, C, OC);
    CHECK(nerr_fd(fo, c.out, (size_t)N * OC) < FAST_TOL, "matmul BLAS forward without bias = naive");
    free(c.inp), free(c.w), free(c.bias), free(c.out), free(c.proj), free(dinp), free(dw), free(db);
    free(fi), free(fw), free(fb), free(fo), free(fp), free(fdi), free(fdw), free(fdb), free(fdi2);
}

// ---- layernorm ----

typedef struct {
    int N, C;
    double *inp, *w, *b, *out, *mean, *rstd, *proj;
} ln_ctx;

static double ln_loss(void *p)
{
    ln_ctx *c = p;
    lsc_layernorm_forward_naive_(c->out, c->mean, c->rstd, c->inp, c->w, c->b, c->N, c->C);
    return dot(c->out, c->proj, (size_t)c->N * c->C);
}

static void test_layernorm(void)
{
    int N = 6, C = 24;
    size_t NC = (size_t)N * C;
    ln_ctx c = {N, C, dalloc(NC), dalloc((size_t)C), dalloc((size_t)C), dalloc(NC), dalloc((size_t)N),
                dalloc((size_t)N), dalloc(NC)};
    fill(c.inp, NC, 2.0);
    for (int i = 0; i < C; i++)
        c.inp[i] += 3.0;   /* a row with a large mean */
    fill(c.w, (size_t)C, 1.0);
    fill(c.b, (size_t)C, 1.0);
    fill(c.proj, NC, 1.0);
    double *dinp = dalloc(NC), *dw = dalloc((size_t)C), *db = dalloc((size_t)C);
    ln_loss(&c);
    lsc_layernorm_backward_naive_(dinp, dw, db, c.proj, c.inp, c.w, c.mean, c.rstd, N, C);
    CHECK(fd_check(ln_loss, &c, c.inp, NC, dinp, 1e-5, 200) < FD_TOL, "layernorm naive dinp = FD");
    CHECK(fd_check(ln_loss, &c, c.w, (size_t)C, dw, 1e-5, 200) < FD_TOL, "layernorm naive dw = FD");
    CHECK(fd_check(ln_loss, &c, c.b, (size_t)C, db, 1e-5, 200) < FD_TOL, "layernorm naive db = FD");
    ln_loss(&c);
    float *fi = tof(c.inp, NC), *fw = tof(c.w, (size_t)C), *fb = tof(c.b, (size_t)C), *fp = tof(c.proj, NC);
    float *fo = falloc(NC), *fm = falloc((size_t)N), *fr = falloc((size_t)N);
    float *fdi = falloc(NC), *fdw = falloc((size_t)C), *fdb = falloc((size_t)C);
    lsc_layernorm_forward_(fo, fm, fr, fi, fw, fb, N, C);
    lsc_layernorm_backward_(fdi, fdw, fdb, fp, fi, fw, fm, fr, N, C);
    CHECK(nerr_fd(fo, c.out, NC) < FAST_TOL, "layernorm float forward = naive");
    CHECK(nerr_fd(fr, c.rstd, (size_t)N) < FAST_TOL, "layernorm float rstd = naive");
    CHECK(nerr_fd(fdi, dinp, NC) < FAST_TOL, "layernorm float dinp = naive");
    CHECK(nerr_fd(fdw, dw, (size_t)C) < FAST_TOL, "layernorm float dw = naive");
    CHECK(nerr_fd(fdb, db, (size_t)C) < FAST_TOL, "layernorm float db = naive");
    free(c.inp), free(c.w), free(c.b), free(c.out), free(c.mean), free(c.rstd), free(c.proj);
    free(dinp), free(dw), free(db), free(fi), free(fw), free(fb), free(fp), free(fo), free(fm);
    free(fr), free(fdi), free(fdw), free(fdb);
}

// ---- attention ----

typedef struct {
    int B, T, C, NH;
    double *q, *k, *v, *out, *att, *proj;
} at_ctx;

static double at_loss(void *p)
{
    at_ctx *c = p;
    lsc_attention_forward_naive_(c->out, c->att, c->q, c->k, c->v, c->B, c->T, c->C, c->NH);
    return dot(c->out, c->proj, (size_t)c->B * c->T * c->C);
}

static void test_attention(int B, int T, int C, int NH, int with_fd)
{
    size_t n = (size_t)B * T * C, na = (size_t)B * NH * T * T;
    at_ctx c = {B, T, C, NH, dalloc(n), dalloc(n), dalloc(n), dalloc(n), dalloc(na), dalloc(n)};
    fill(c.q, n, 1.5);
    fill(c.k, n, 1.5);
    fill(c.v, n, 1.0);
    fill(c.proj, n, 1.0);
    double *dq = dalloc(n), *dk = dalloc(n), *dv = dalloc(n), *datt = dalloc(na);
    at_loss(&c);
    lsc_attention_backward_naive_(dq, dk, dv, datt, c.proj, c.att, c.q, c.k, c.v, B, T, C, NH);
    if (with_fd) {
        CHECK(fd_check(at_loss, &c, c.q, n, dq, 1e-5, 300) < FD_TOL, "attention naive dq = FD");
        CHECK(fd_check(at_loss, &c, c.k, n, dk, 1e-5, 300) < FD_TOL, "attention naive dk = FD");
        CHECK(fd_check(at_loss, &c, c.v, n, dv, 1e-5, 300) < FD_TOL, "attention naive dv = FD");
        /* causality: the output at t does not depend on inputs after t */
        double o0 = c.out[0];
        for (size_t i = (size_t)C; i < (size_t)T * C; i++)
            c.v[i] += 1.0, c.k[i] += 1.0;
        at_loss(&c);
        CHECK(c.out[0] == o0, "attention naive is causal (t=0 ignores later k, v)");
        for (size_t i = (size_t)C; i < (size_t)T * C; i++)
            c.v[i] -= 1.0, c.k[i] -= 1.0;
        at_loss(&c);
    }
    float *fq = tof(c.q, n), *fk = tof(c.k, n), *fv = tof(c.v, n), *fp = tof(c.proj, n);
    float *fo = falloc(n), *fa = falloc(na), *fdq = falloc(n), *fdk = falloc(n), *fdv = falloc(n);
    float *fdatt = falloc(na);
    /* garbage in the scratch must not matter */
    for (size_t i = 0; i < na; i++)
        fdatt[i] = 1e3f;
    lsc_attention_gqa_forward_(fo, fa, fq, fk, fv, B, T, NH, NH, C / NH);
    lsc_attention_gqa_backward_(fdq, fdk, fdv, fdatt, fp, fa, fq, fk, fv, B, T, NH, NH, C / NH);
    CHECK(nerr_fd(fo, c.out, n) < FAST_TOL, "attention BLAS forward = naive (B=%d T=%d C=%d NH=%d)", B, T, C, NH);
    CHECK(nerr_fd(fa, c.att, na) < FAST_TOL, "attention BLAS probabilities = naive (T=%d)", T);
    CHECK(nerr_fd(fdq, dq, n) < FAST_TOL, "attention BLAS dq = naive (T=%d)", T);
    CHECK(nerr_fd(fdk, dk, n) < FAST_TOL, "attention BLAS dk = naive (T=%d)", T);
    CHECK(nerr_fd(fdv, dv, n) < FAST_TOL, "attention BLAS dv = naive (T=%d)", T);
    free(c.q), free(c.k), free(c.v), free(c.out), free(c.att), free(c.proj);
    free(dq), free(dk), free(dv), free(datt), free(fq), free(fk), free(fv), free(fp), free(fo);
    free(fa), free(fdq), free(fdk), free(fdv), free(fdatt);
}

// ---- gelu, residual ----

typedef struct {
    size_t n;
    double *a, *b, *out, *proj;
} ew_ctx;

static double gelu_loss(void *p)
{
    ew_ctx *c = p;
    lsc_gelu_forward_naive_(c->out, c->a, c->n);
    return dot(c->out, c->proj, c->n);
}

static double res_loss(void *p)
{
    ew_ctx *c = p;
    lsc_residual_forward_naive_(c->out, c->a, c->b, c->n);
    return dot(c->out, c->proj, c->n);
}

static void test_elementwise(void)
{
    size_t n = 300;
    ew_ctx c = {n, dalloc(n), dalloc(n), dalloc(n), dalloc(n)};
    fill(c.a, n, 4.0);
    fill(c.b, n, 1.0);
    fill(c.proj, n, 1.0);
    double *da = dalloc(n);
    gelu_loss(&c);
    lsc_gelu_backward_naive_(da, c.a, c.proj, n);
    CHECK(fd_check(gelu_loss, &c, c.a, n, da, 1e-5, 300) < FD_TOL, "gelu naive backward = FD");
    gelu_loss(&c);
    /* GELU(x) known values: GELU(1) with tanh approximation = 0.841192 */
    double x1 = 1.0, y1;
    lsc_gelu_forward_naive_(&y1, &x1, 1);
    CHECK(fabs(y1 - 0.8411919906) < 1e-9, "gelu tanh(1) = 0.8411919906 (%.10f)", y1);
    float *fa = tof(c.a, n), *fp = tof(c.proj, n), *fo = falloc(n), *fda = falloc(n);
    lsc_gelu_forward_(fo, fa, n);
    lsc_gelu_backward_(fda, fa, fp, n);
    CHECK(nerr_fd(fo, c.out, n) < FAST_TOL, "gelu float forward = naive");
    CHECK(nerr_fd(fda, da, n) < FAST_TOL, "gelu float backward = naive");

    /* the residual's backward is the identity: the model accumulates dres */
    res_loss(&c);
    float *fb = tof(c.b, n);
    lsc_residual_forward_(fo, fa, fb, n);
    CHECK(nerr_fd(fo, c.out, n) < FAST_TOL, "residual float forward = naive");
    free(c.a), free(c.b), free(c.out), free(c.proj), free(da);
    free(fa), free(fp), free(fo), free(fda), free(fb);
}

// ---- softmax + cross-entropy ----

typedef struct {
    int N, V;
    double *logits, *probs, *losses, *w;
    int *targets;
} ce_ctx;

static double ce_loss(void *p)
{
    ce_ctx *c = p;
    lsc_crossentropy_forward_naive_(c->losses, c->logits, c->targets, c->N, c->V);
    return dot(c->losses, c->w, (size_t)c->N);
}

static void test_crossentropy(void)
{
    int N = 7, V = 19;
    size_t NV = (size_t)N * V;
    ce_ctx c = {N, V, dalloc(NV), dalloc(NV), dalloc((size_t)N), dalloc((size_t)N), malloc((size_t)N * sizeof(int))};
    fill(c.logits, NV, 3.0);
    for (int i = 0; i < N; i++) {
        c.targets[i] = (int)(lsc_rng_u32(&rng_state) % (uint32_t)V);
        c.w[i] = i == 3 ? 0.0 : 1.0 / (N - 1);   /* a masked position */
    }
    double *dl = dalloc(NV);
    ce_loss(&c);
    lsc_softmax_forward_naive_(c.probs, c.logits, N, V);
    lsc_crossentropy_softmax_backward_naive_(dl, c.probs, c.targets, c.w, N, V);
    CHECK(fd_check(ce_loss, &c, c.logits, NV, dl, 1e-5, 200) < FD_TOL, "softmax+crossentropy naive dlogits = FD");
    double psum = 0.0;
    for (int i = 0; i < V; i++)
        psum += c.probs[i];
    CHECK(fabs(psum - 1.0) < 1e-12, "softmax naive rows sum to 1");
    ce_loss(&c);
    float *fl = tof(c.logits, NV), *fpr = falloc(NV), *flo = falloc((size_t)N), *fw = tof(c.w, (size_t)N);
    float *fdl = falloc(NV);
    lsc_softmax_forward_(fpr, fl, N, V);
    lsc_crossentropy_forward_(flo, fl, c.targets, N, V);
    lsc_crossentropy_softmax_backward_(fdl, fpr, c.targets, fw, N, V);
    CHECK(nerr_fd(fpr, c.probs, NV) < FAST_TOL, "softmax float = naive");
    CHECK(nerr_fd(flo, c.losses, (size_t)N) < FAST_TOL, "crossentropy float = naive");
    CHECK(nerr_fd(fdl, dl, NV) < FAST_TOL, "crossentropy float backward = naive");
    /* uniform logits: loss = log V */
    for (size_t i = 0; i < NV; i++)
        fl[i] = 0.25f;
    lsc_crossentropy_forward_(flo, fl, c.targets, N, V);
    CHECK(fabs(flo[0] - log((double)V)) < 1e-6, "crossentropy of uniform logits = log V");
    free(c.logits), free(c.probs), free(c.losses), free(c.w), free(c.targets), free(dl);
    free(fl), free(fpr), free(flo), free(fw), free(fdl);
}

// ---- encoder ----

typedef struct {
    int B, T, C;
    int *inp;
    double *wte, *wpe, *out, *proj;
} en_ctx;

static double en_loss(void *p)
{
    en_ctx *c = p;
    lsc_encoder_forward_naive_(c->out, c->inp, c->wte, c->wpe, c->B, c->T, c->C);
    return dot(c->out, c->proj, (size_t)c->B * c->T * c->C);
}

static void test_encoder(void)
{
    int B = 2, T = 5, C = 6, V = 7, maxT = 8;
    size_t n = (size_t)B * T * C;
    en_ctx c = {B, T, C, malloc((size_t)B * T * sizeof(int)), dalloc((size_t)V * C),
                dalloc((size_t)maxT * C), dalloc(n), dalloc(n)};
    for (int i = 0; i < B * T; i++)
        c.inp[i] = i % 3 == 0 ? 2 : (int)(lsc_rng_u32(&rng_state) % (uint32_t)V);  /* repeated ids */
    fill(c.wte, (size_t)V * C, 1.0);
    fill(c.wpe, (size_t)maxT * C, 1.0);
    fill(c.proj, n, 1.0);
    double *dwte = dalloc((size_t)V * C), *dwpe = dalloc((size_t)maxT * C);
    en_loss(&c);
    lsc_encoder_backward_naive_(dwte, dwpe, c.proj, c.inp, B, T, C);
    CHECK(fd_check(en_loss, &c, c.wte, (size_t)V * C, dwte, 1e-5, 200) < FD_TOL, "encoder naive dwte = FD");
    CHECK(fd_check(en_loss, &c, c.wpe, (size_t)maxT * C, dwpe, 1e-5, 200) < FD_TOL, "encoder naive dwpe = FD");
    en_loss(&c);
    float *fwte = tof(c.wte, (size_t)V * C), *fwpe = tof(c.wpe, (size_t)maxT * C), *fo = falloc(n);
    float *fp = tof(c.proj, n), *fdwte = falloc((size_t)V * C), *fdwpe = falloc((size_t)maxT * C);
    lsc_encoder_forward_(fo, c.inp, fwte, fwpe, B, T, C);
    lsc_encoder_backward_(fdwte, fdwpe, fp, c.inp, B, T, C);
    CHECK(nerr_fd(fo, c.out, n) < FAST_TOL, "encoder float forward = naive");
    CHECK(nerr_fd(fdwte, dwte, (size_t)V * C) < FAST_TOL && nerr_fd(fdwpe, dwpe, (size_t)maxT * C) < FAST_TOL,
          "encoder float backward = naive");
    free(c.inp), free(c.wte), free(c.wpe), free(c.out), free(c.proj), free(dwte), free(dwpe);
    free(fwte), free(fwpe), free(fo), free(fp), free(fdwte), free(fdwpe);
}

// ---- lora ----

typedef struct {
    int N, C, r, OC;
    double scale;
    double *x, *mask, *xd, *A, *Bw, *out, *u, *proj;
} lo_ctx;

static double lo_loss(void *p)
{
    lo_ctx *c = p;
    size_t n = (size_t)c->N * c->C;
    for (size_t i = 0; i < n; i++)
        c->xd[i] = c->x[i] * (c->mask ? c->mask[i] : 1.0);
    memset(c->out, 0, (size_t)c->N * c->OC * sizeof(double));
    lsc_lora_forward_naive_(c->out, c->u, c->xd, c->A, c->Bw, c->scale, c->N, c->C, c->r, c->OC);
    return dot(c->out, c->proj, (size_t)c->N * c->OC);
}

static void test_lora(int with_dropout)
{
    int N = 9, C = 12, r = 3, OC = 10;
    size_t nx = (size_t)N * C, no = (size_t)N * OC;
    lo_ctx c = {N, C, r, OC, 2.0 / 3.0, dalloc(nx), with_dropout ? dalloc(nx) : NULL, dalloc(nx),
                dalloc((size_t)r * C), dalloc((size_t)OC * r), dalloc(no), dalloc((size_t)N * r), dalloc(no)};
    fill(c.x, nx, 1.0);
    fill(c.A, (size_t)r * C, 0.5);
    fill(c.Bw, (size_t)OC * r, 0.5);
    fill(c.proj, no, 1.0);
    if (c.mask)
        for (size_t i = 0; i < nx; i++)
            c.mask[i] = lsc_rng_uniform_d(&rng_state) < 0.3 ? 0.0 : 1.0 / 0.7;
    double *dx = dalloc(nx), *dA = dalloc((size_t)r * C), *dB = dalloc((size_t)OC * r);
    lo_loss(&c);
    lsc_lora_backward_naive_(dx, dA, dB, c.proj, c.xd, c.u, c.A, c.Bw, c.mask, c.scale, N, C, r, OC);
    const char *tag = with_dropout ? " with dropout mask" : "";
    CHECK(fd_check(lo_loss, &c, c.x, nx, dx, 1e-5, 300) < FD_TOL, "lora naive dinp = FD%s", tag);
    CHECK(fd_check(lo_loss, &c, c.A, (size_t)r * C, dA, 1e-5, 300) < FD_TOL, "lora naive dA = FD%s", tag);
    CHECK(fd_check(lo_loss, &c, c.Bw, (size_t)OC * r, dB, 1e-5, 300) < FD_TOL, "lora naive dB = FD%s", tag);
    lo_loss(&c);
    float *fxd = tof(c.xd, nx), *fA = tof(c.A, (size_t)r * C), *fB = tof(c.Bw, (size_t)OC * r);
    float *fo = falloc(no), *fu = falloc((size_t)N * r), *fp = tof(c.proj, no);
    float *fdx = falloc(nx), *fdA = falloc((size_t)r * C), *fdB = falloc((size_t)OC * r);
    float *du = falloc((size_t)N * r), *dxs = falloc(nx), *fm = c.mask ? tof(c.mask, nx) : NULL;
    lsc_lora_forward_(fo, fu, fxd, fA, fB, (float)c.scale, N, C, r, OC);
    lsc_lora_backward_(fdx, fdA, fdB, du, dxs, fp, fxd, fu, fA, fB, fm, (float)c.scale, N, C, r, OC);
    CHECK(nerr_fd(fo, c.out, no) < FAST_TOL, "lora BLAS forward = naive%s", tag);
    CHECK(nerr_fd(fdx, dx, nx) < FAST_TOL, "lora BLAS dinp = naive%s", tag);
    CHECK(nerr_fd(fdA, dA, (size_t)r * C) < FAST_TOL, "lora BLAS dA = naive%s", tag);
    CHECK(nerr_fd(fdB, dB, (size_t)OC * r) < FAST_TOL, "lora BLAS dB = naive%s", tag);
    free(c.x), free(c.mask), free(c.xd), free(c.A), free(c.Bw), free(c.out), free(c.u), free(c.proj);
    free(dx), free(dA), free(dB), free(fxd), free(fA), free(fB), free(fo), free(fu), free(fp);
    free(fdx), free(fdA), free(fdB), free(du), free(dxs), free(fm);
}

// ---- the checker can fail ----

static void test_negative_control(void)
{
    int N = 4, C = 5, OC = 3;
    mm_ctx c = {N, C, OC, dalloc((size_t)N * C), dalloc((size_t)OC * C), dalloc((size_t)OC),
                dalloc((size_t)N * OC), dalloc((size_t)N * OC)};
    fill(c.inp, (size_t)N * C, 1.0);
    fill(c.w, (size_t)OC * C, 1.0);
    fill(c.proj, (size_t)N * OC, 1.0);
    double *dinp = dalloc((size_t)N * C), *dw = dalloc((size_t)OC * C);
    mm_loss(&c);
    lsc_matmul_backward_naive_(dinp, dw, NULL, c.proj, c.inp, c.w, N, C, OC);
    size_t imax = 0;
    for (size_t i = 0; i < (size_t)OC * C; i++)
        if (fabs(dw[i]) > fabs(dw[imax]))
            imax = i;
    dw[imax] *= 1.01;
    double e = fd_check(mm_loss, &c, c.w, (size_t)OC * C, dw, 1e-5, 200);
    CHECK(e > 100 * FD_TOL, "negative control: a 1%% error in one dw entry is flagged (err %.2e)", e);
    float *f = falloc(4);
    double d[4] = {1, 2, 3, 4};
    for (int i = 0; i < 4; i++)
        f[i] = (float)d[i];
    f[2] *= 1.001f;
    CHECK(nerr_fd(f, d, 4) > FAST_TOL, "negative control: a 0.1%% error fails the float-vs-naive check");
    free(c.inp), free(c.w), free(c.bias), free(c.out), free(c.proj), free(dinp), free(dw), free(f);
}

int main(void)
{
    lsc_rng_seed(&rng_state, 1234);
    test_matmul(6, 10, 7, 1);
    test_matmul(130, 96, 200, 0);     /* BLAS blocking sizes, vs naive only */
    test_layernorm();
    test_attention(2, 6, 8, 2, 1);
    test_attention(1, 5, 12, 3, 1);
    test_attention(2, 70, 32, 4, 0);  /* T >= 64: the threaded softmax rows */
    test_elementwise();
    test_crossentropy();
    test_encoder();
    test_lora(0);
    test_lora(1);
    test_negative_control();
    return test_summary();
}
