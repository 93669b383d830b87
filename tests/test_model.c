/*
 * test_model.c — the GPT of model.c and the adapters of lora.c as a whole.
 *
 * Gradients: a double-precision reference model built in this file from the
 * naive kernels of layers.c (the same call list) is checked against central
 * finite differences in double, for every base tensor (full mode) and for
 * A and B (LoRA mode, with and without dropout); the float model's
 * gradients must then match the reference. A direct float finite-difference
 * spot check ties the float model to its own loss too.
 *
 * LoRA invariants: B = 0 gives the base output exactly; merged and unmerged
 * forwards agree (1e-5); unmerge restores W0; frozen mode allocates no base
 * gradients and leaves the base untouched; frozen and full mode give the
 * same LoRA gradients; two adapters switch W0+B1A1 -> W0+B2A2 -> W0.
 * Also: save/load round trips (model and PEFT adapter), prefix forwards,
 * masks, determinism and the error paths.
 */
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/lsc_internal.h"
#include "test.h"

#define BB 2
#define TT 6

static const lsc_gpt_config CFG = {.n_layer = 2, .n_head = 2, .n_embd = 16, .n_ctx = 8, .vocab = 32};

static void *xcalloc(size_t n, size_t s)
{
    void *p = calloc(n ? n : 1, s);
    if (!p)
        abort();
    return p;
}

static double maxabs_diff(const float *a, const float *b, size_t n)
{
    double e = 0.0;
    for (size_t i = 0; i < n; i++)
        e = fmax(e, fabs((double)a[i] - (double)b[i]));
    return e;
}

static double maxabs(const float *a, size_t n)
{
    double e = 0.0;
    for (size_t i = 0; i < n; i++)
        e = fmax(e, fabs((double)a[i]));
    return e;
}

/* random high-entropy weights: matrices U(±s), LN weights 1 ± 0.2, biases ±0.1 */
static void randomize(lsc_gpt *m, uint64_t *rng, double s)
{
    for (int i = 0; i < m->n_tensors; i++) {
        const lsc_gpt_tensor *t = &m->tensors[i];
        float *p = m->params_memory + t->offset;
        int is_lnw = strstr(t->name, "ln_") && strstr(t->name, ".weight");
        for (size_t j = 0; j < t->numel; j++) {
            double u = 2.0 * lsc_rng_uniform_d(rng) - 1.0;
            p[j] = (float)(t->is_matrix ? s * u : is_lnw ? 1.0 + 0.2 * u : 0.1 * u);
        }
    }
}

// ---- the double-precision reference model ----

typedef struct {
    const lsc_gpt *m;
    const lsc_lora *lo;   /* optional: its A, B, scales and (dropout) masks */
    int B, T;
    const int *inp, *tgt;
    const float *mask;
    double *p, *g;        /* params and grads, the float model's layout */
    double *lp, *lg;      /* LoRA params and grads, the adapter's layout */
    double **dmask;       /* per module (N, in) dropout scale, or NULL */
    /* activations, per layer */
    double *enc, *ln1[8], *m1[8], *r1[8], *q[8], *k[8], *v[8], *att[8], *atty[8], *ao[8];
    double *res2[8], *ln2[8], *m2[8], *r2[8], *fch[8], *fchg[8], *fo[8], *res3[8];
    double *lnf, *mf, *rf, *logits, *probs, *losses, *dloss;
    double *u[8 * LSC_LORA_NTARGETS], *xd[8 * LSC_LORA_NTARGETS];
} dref;

static double *P(const dref *d, const float *view) { return d->p + (view - d->m->params_memory); }
static double *G(const dref *d, const float *view) { return d->g + (view - d->m->params_memory); }

static void dref_init(dref *d, const lsc_gpt *m, const lsc_lora *lo, const int *inp, const int *tgt,
                      const float *mask, int B, int T)
{
    memset(d, 0, sizeof *d);
    d->m = m, d->lo = lo, d->inp = inp, d->tgt = tgt, d->mask = mask, d->B = B, d->T = T;
    size_t N = (size_t)B * T, C = (size_t)m->config.n_embd, V = (size_t)m->config.vocab;
    size_t NH = (size_t)m->config.n_head;
    d->p = xcalloc(m->num_parameters, sizeof(double));
    d->g = xcalloc(m->num_parameters, sizeof(double));
    for (size_t i = 0; i < m->num_parameters; i++)
        d->p[i] = m->params_memory[i];
    d->enc = xcalloc(N * C, sizeof(double));
    for (int l = 0; l < m->config.n_layer; l++) {
        double **pc[] = {&d->ln1[l], &d->q[l], &d->k[l], &d->v[l], &d->atty[l], &d->ao[l],
                         &d->res2[l], &d->ln2[l], &d->fo[l], &d->res3[l]};
        for (size_t j = 0; j < sizeof pc / sizeof pc[0]; j++)
            *pc[j] = xcalloc(N * C, sizeof(double));
        d->m1[l] = xcalloc(N, sizeof(double)), d->r1[l] = xcalloc(N, sizeof(double));
        d->m2[l] = xcalloc(N, sizeof(double)), d->r2[l] = xcalloc(N, sizeof(double));
        d->att[l] = xcalloc((size_t)B * NH * T * T, sizeof(double));
        d->fch[l] = xcalloc(N * 4 * C, sizeof(double));
        d->fchg[l] = xcalloc(N * 4 * C, sizeof(double));
    }
    d->lnf = xcalloc(N * C, sizeof(double));
    d->mf = xcalloc(N, sizeof(double)), d->rf = xcalloc(N, sizeof(double));
    d->logits = xcalloc(N * V, sizeof(double)), d->probs = xcalloc(N * V, sizeof(double));
    d->losses = xcalloc(N, sizeof(double)), d->dloss = xcalloc(N, sizeof(double));
    if (lo) {
        d->lp = xcalloc(lo->num_parameters, sizeof(double));
        d->lg = xcalloc(lo->num_parameters, sizeof(double));
        for (size_t i = 0; i < lo->num_parameters; i++)
            d->lp[i] = lo->params[i];
        d->dmask = xcalloc((size_t)lo->n_modules, sizeof(double *));
        for (int i = 0; i < lo->n_modules; i++) {
            const lsc_lora_module *md = &lo->modules[i];
            d->u[i] = xcalloc(N * (size_t)md->r, sizeof(double));
            d->xd[i] = xcalloc(N * (size_t)md->in, sizeof(double));
            if (lo->dropout_on) {   /* the masks of the float model's last forward */
                d->dmask[i] = xcalloc(N * (size_t)md->in, sizeof(double));
                const float *fm = lo->acts + lo->act_off[3 * i + 2];
                for (size_t j = 0; j < N * (size_t)md->in; j++)
                    d->dmask[i][j] = fm[j];
            }
        }
    }
}

static void dref_free(dref *d)
{
    free(d->p), free(d->g), free(d->enc);
    for (int l = 0; l < d->m->config.n_layer; l++) {
        free(d->ln1[l]), free(d->q[l]), free(d->k[l]), free(d->v[l]), free(d->atty[l]);
        free(d->ao[l]), free(d->res2[l]), free(d->ln2[l]), free(d->fo[l]), free(d->res3[l]);
        free(d->m1[l]), free(d->r1[l]), free(d->m2[l]), free(d->r2[l]), free(d->att[l]);
        free(d->fch[l]), free(d->fchg[l]);
    }
    free(d->lnf), free(d->mf), free(d->rf), free(d->logits), free(d->probs), free(d->losses);
    free(d->dloss);
    if (d->lo) {
        for (int i = 0; i < d->lo->n_modules; i++)
            free(d->u[i]), free(d->xd[i]), free(d->dmask[i]);
        free(d->dmask), free(d->lp), free(d->lg);
    }
}

static int dref_module(const dref *d, int l, int t)
{
    return d->lo ? d->lo->module_of[l * LSC_LORA_NTARGETS + t] : -1;
}

static void dlinear_fwd(dref *d, int l, int t, double *out, const double *inp)
{
    float *w, *b;
    int OC, IC, N = d->B * d->T;
    lsc_gpt_linear(d->m, l, t, &w, &b, &OC, &IC);
    lsc_matmul_forward_naive_(out, inp, P(d, w), P(d, b), N, IC, OC);
    int i = dref_module(d, l, t);
    if (i >= 0) {
        const lsc_lora_module *md = &d->lo->modules[i];
        for (size_t j = 0; j < (size_t)N * IC; j++)
            d->xd[i][j] = inp[j] * (d->dmask[i] ? d->dmask[i][j] : 1.0);
        lsc_lora_forward_naive_(out, d->u[i], d->xd[i], d->lp + md->offset,
                                d->lp + md->offset + (size_t)md->r * md->in, md->scale, N, IC, md->r, OC);
    }
}

static void dlinear_bwd(dref *d, int l, int t, double *dinp, const double *dout, const double *inp)
{
    float *w, *b;
    int OC, IC, N = d->B * d->T;
    lsc_gpt_linear(d->m, l, t, &w, &b, &OC, &IC);
    lsc_matmul_backward_naive_(dinp, G(d, w), G(d, b), dout, inp, P(d, w), N, IC, OC);
    int i = dref_module(d, l, t);
    if (i >= 0) {
        const lsc_lora_module *md = &d->lo->modules[i];
        size_t ra = (size_t)md->r * md->in;
        lsc_lora_backward_naive_(dinp, d->lg + md->offset, d->lg + md->offset + ra, dout, d->xd[i], d->u[i],
                                 d->lp + md->offset, d->lp + md->offset + ra, d->dmask[i], md->scale, N, IC,
                                 md->r, OC);
    }
}

static double dref_forward(void *ctx)
{
    dref *d = ctx;
    const lsc_gpt_params *v = &d->m->params;
    int B = d->B, T = d->T, N = B * T, C = d->m->config.n_embd, NH = d->m->config.n_head;
    int L = d->m->config.n_layer, V = d->m->config.vocab;
    size_t NC = (size_t)N * C;
    lsc_encoder_forward_naive_(d->enc, d->inp, P(d, v->wte), P(d, v->wpe), B, T, C);
    for (int l = 0; l < L; l++) {
        const double *res = l ? d->res3[l - 1] : d->enc;
        lsc_layernorm_forward_naive_(d->ln1[l], d->m1[l], d->r1[l], res, P(d, v->ln1w) + l * C,
                                     P(d, v->ln1b) + l * C, N, C);
        dlinear_fwd(d, l, LSC_LORA_Q, d->q[l], d->ln1[l]);
        dlinear_fwd(d, l, LSC_LORA_K, d->k[l], d->ln1[l]);
        dlinear_fwd(d, l, LSC_LORA_V, d->v[l], d->ln1[l]);
        lsc_attention_forward_naive_(d->atty[l], d->att[l], d->q[l], d->k[l], d->v[l], B, T, C, NH);
        dlinear_fwd(d, l, LSC_LORA_O, d->ao[l], d->atty[l]);
        lsc_residual_forward_naive_(d->res2[l], res, d->ao[l], NC);
        lsc_layernorm_forward_naive_(d->ln2[l], d->m2[l], d->r2[l], d->res2[l], P(d, v->ln2w) + l * C,
                                     P(d, v->ln2b) + l * C, N, C);
        dlinear_fwd(d, l, LSC_LORA_FC_IN, d->fch[l], d->ln2[l]);
        lsc_gelu_forward_naive_(d->fchg[l], d->fch[l], 4 * NC);
        dlinear_fwd(d, l, LSC_LORA_FC_OUT, d->fo[l], d->fchg[l]);
        lsc_residual_forward_naive_(d->res3[l], d->res2[l], d->fo[l], NC);
    }
    lsc_layernorm_forward_naive_(d->lnf, d->mf, d->rf, d->res3[L - 1], P(d, v->lnfw), P(d, v->lnfb), N, C);
    lsc_matmul_forward_naive_(d->logits, d->lnf, P(d, v->wte), NULL, N, C, V);
    lsc_softmax_forward_naive_(d->probs, d->logits, N, V);
    lsc_crossentropy_forward_naive_(d->losses, d->logits, d->tgt, N, V);
    double msum = 0.0, loss = 0.0;
    for (int i = 0; i < N; i++)
        msum += d->mask ? d->mask[i] : 1.0;
    for (int i = 0; i < N; i++) {
        d->dloss[i] = (d->mask ? d->mask[i] : 1.0) / msum;
        loss += d->dloss[i] * d->losses[i];
    }
    return loss;
}

static void dref_backward(dref *d)
{
    const lsc_gpt_params *v = &d->m->params;
    int B = d->B, T = d->T, N = B * T, C = d->m->config.n_embd, NH = d->m->config.n_head;
    int L = d->m->config.n_layer, V = d->m->config.vocab;
    size_t NC = (size_t)N * C;
    double *dlog = xcalloc((size_t)N * V, sizeof(double)), *dln = xcalloc(NC, sizeof(double));
    double *dres = xcalloc(NC, sizeof(double)), *d4a = xcalloc(4 * NC, sizeof(double));
    double *d4b = xcalloc(4 * NC, sizeof(double)), *dat = xcalloc(NC, sizeof(double));
    double *dq = xcalloc(NC, sizeof(double)), *dk = xcalloc(NC, sizeof(double));
    double *dv = xcalloc(NC, sizeof(double)), *datt = xcalloc((size_t)B * NH * T * T, sizeof(double));
    lsc_crossentropy_softmax_backward_naive_(dlog, d->probs, d->tgt, d->dloss, N, V);
    lsc_matmul_backward_naive_(dln, G(d, v->wte), NULL, dlog, d->lnf, P(d, v->wte), N, C, V);
    lsc_layernorm_backward_naive_(dres, G(d, v->lnfw), G(d, v->lnfb), dln, d->res3[L - 1], P(d, v->lnfw),
                                  d->mf, d->rf, N, C);
    for (int l = L - 1; l >= 0; l--) {
        const double *res = l ? d->res3[l - 1] : d->enc;
        memset(d4a, 0, 4 * NC * sizeof(double)), memset(d4b, 0, 4 * NC * sizeof(double));
        dlinear_bwd(d, l, LSC_LORA_FC_OUT, d4a, dres, d->fchg[l]);
        lsc_gelu_backward_naive_(d4b, d->fch[l], d4a, 4 * NC);
        memset(dln, 0, NC * sizeof(double));
        dlinear_bwd(d, l, LSC_LORA_FC_IN, dln, d4b, d->ln2[l]);
        lsc_layernorm_backward_naive_(dres, G(d, v->ln2w) + l * C, G(d, v->ln2b) + l * C, dln, d->res2[l],
                                      P(d, v->ln2w) + l * C, d->m2[l], d->r2[l], N, C);
        memset(dat, 0, NC * sizeof(double));
        dlinear_bwd(d, l, LSC_LORA_O, dat, dres, d->atty[l]);
        memset(dq, 0, NC * sizeof(double)), memset(dk, 0, NC * sizeof(double));
        memset(dv, 0, NC * sizeof(double));
        lsc_attention_backward_naive_(dq, dk, dv, datt, dat, d->att[l], d->q[l], d->k[l], d->v[l], B, T, C, NH);
        memset(dln, 0, NC * sizeof(double));
        dlinear_bwd(d, l, LSC_LORA_Q, dln, dq, d->ln1[l]);
        dlinear_bwd(d, l, LSC_LORA_K, dln, dk, d->ln1[l]);
        dlinear_bwd(d, l, LSC_LORA_V, dln, dv, d->ln1[l]);
        lsc_layernorm_backward_naive_(dres, G(d, v->ln1w) + l * C, G(d, v->ln1b) + l * C, dln, res,
                                      P(d, v->ln1w) + l * C, d->m1[l], d->r1[l], N, C);
    }
    lsc_encoder_backward_naive_(G(d, v->wte), G(d, v->wpe), dres, d->inp, B, T, C);
    free(dlog), free(dln), free(dres), free(d4a), free(d4b), free(dat), free(dq), free(dk), free(dv);
    free(datt);
}

/* central differences of the reference loss at up to k entries of x[0..n),
 * error relative to max(max |fd|, floor) */
static double fd_err(dref *d, double *x, const double *g, size_t n, size_t k, uint64_t *rng, double floor)
{
    double emax = 0.0, smax = 0.0, h = 1e-5;
    for (size_t c = 0; c < (n < k ? n : k); c++) {
        size_t i = n <= k ? c : (size_t)(lsc_rng_u64(rng) % n);
        double x0 = x[i];
        x[i] = x0 + h;
        double lp = dref_forward(d);
        x[i] = x0 - h;
        double lm = dref_forward(d);
        x[i] = x0;
        double fd = (lp - lm) / (2 * h);
        emax = fmax(emax, fabs(fd - g[i]));
        smax = fmax(smax, fabs(fd));
    }
    return emax / fmax(smax, floor);
}

/* float gradient vs double reference, relative to max(tensor scale, floor) */
static double cmp_err(const float *a, const double *b, size_t n, double floor)
{
    double e = 0.0, s = 0.0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - b[i]));
        s = fmax(s, fabs(b[i]));
    }
    return e / fmax(s, floor);
}

static double dmaxabs(const double *a, size_t n)
{
    double e = 0.0;
    for (size_t i = 0; i < n; i++)
        e = fmax(e, fabs(a[i]));
    return e;
}

static void make_batch(int *inp, int *tgt, float *mask, int N, int V, uint64_t *rng)
{
    for (int i = 0; i < N; i++) {
        inp[i] = (int)(lsc_rng_u32(rng) % (uint32_t)V);
        tgt[i] = (int)(lsc_rng_u32(rng) % (uint32_t)V);
        if (mask)
            mask[i] = (i % 5 == 2) ? 0.0f : 1.0f;
    }
}

// ---- whole-model gradient checks ----

static void test_full_gradients(void)
{
    lsc_error err;
    lsc_gpt m;
    uint64_t rng;
    lsc_rng_seed(&rng, 11);
    int ok = lsc_gpt_init(&m, &CFG, &err) == LSC_OK;
    randomize(&m, &rng, 0.4);
    ok = ok && lsc_gpt_set_trainable(&m, LSC_GPT_FULL, &err) == LSC_OK &&
         lsc_gpt_alloc_acts(&m, BB, TT, &err) == LSC_OK;
    CHECK(ok, "full mode: init, set_trainable, alloc_acts");
    int N = BB * TT, inp[BB * TT], tgt[BB * TT];
    float mask[BB * TT];
    make_batch(inp, tgt, mask, N, CFG.vocab, &rng);
    lsc_gpt_zero_grad(&m);
    ok = lsc_gpt_forward(&m, inp, tgt, mask, BB, TT, NULL, &err) == LSC_OK &&
         lsc_gpt_backward(&m, &err) == LSC_OK;
    CHECK(ok, "full mode: forward + backward");

    dref d;
    dref_init(&d, &m, NULL, inp, tgt, mask, BB, TT);
    double loss = dref_forward(&d);
    dref_backward(&d);
    CHECK(fabs(loss - m.mean_loss) < 1e-5 * loss, "full mode: float loss %.7f = double reference %.7f",
          (double)m.mean_loss, loss);
    double fd_worst = 0.0, cmp_worst = 0.0;
    const char *fd_name = "", *cmp_name = "";
    uint64_t r2;
    lsc_rng_seed(&r2, 5);
    /* k_proj.bias has an analytically zero gradient (softmax is invariant to
     * adding q·b to every score of a row), so errors are measured against
     * max(tensor scale, 1e-3 · global scale) */
    double gscale = dmaxabs(d.g, m.num_parameters);
    const lsc_gpt_tensor *kb = lsc_gpt_find_tensor(&m, "h.1.attn.k_proj.bias");
    CHECK(dmaxabs(d.g + kb->offset, kb->numel) < 1e-12 * gscale &&
              maxabs(m.grads_memory + kb->offset, kb->numel) < 1e-6 * gscale,
          "k_proj bias gradient is 0 (softmax shift invariance) in double and float");
    for (int i = 0; i < m.n_tensors; i++) {
        const lsc_gpt_tensor *t = &m.tensors[i];
        double e = fd_err(&d, d.p + t->offset, d.g + t->offset, t->numel, 6, &r2, 1e-3 * gscale);
        if (e > fd_worst)
            fd_worst = e, fd_name = t->name;
        e = cmp_err(m.grads_memory + t->offset, d.g + t->offset, t->numel, 1e-3 * gscale);
        if (e > cmp_worst)
            cmp_worst = e, cmp_name = t->name;
    }
    CHECK(fd_worst < 1e-6, "full mode: double reference gradients = central differences, all %d tensors "
          "(worst %.2e at %s)", m.n_tensors, fd_worst, fd_name);
    CHECK(cmp_worst < 1e-4, "full mode: float gradients = double reference, all tensors (worst %.2e at %s)",
          cmp_worst, cmp_name);

    /* direct float central differences on the float model, a few entries of
     * a few tensors (float noise limits the tolerance) */
    const char *names[] = {"wte.weight", "h.0.attn.q_proj.weight", "h.1.mlp.fc_out.bias", "ln_f.weight",
                           "h.0.ln_1.bias"};
    double worst = 0.0;
    for (size_t j = 0; j < sizeof names / sizeof names[0]; j++) {
        const lsc_gpt_tensor *t = lsc_gpt_find_tensor(&m, names[j]);
        size_t imax = 0;
        for (size_t q = 0; q < t->numel; q++)
            if (fabs(m.grads_memory[t->offset + q]) > fabs(m.grads_memory[t->offset + imax]))
                imax = q;
        float *x = m.params_memory + t->offset + imax, x0 = *x, hf = 1e-2f;
        *x = x0 + hf;
        lsc_gpt_forward(&m, inp, tgt, mask, BB, TT, NULL, &err);
        double lp = m.mean_loss;
        *x = x0 - hf;
        lsc_gpt_forward(&m, inp, tgt, mask, BB, TT, NULL, &err);
        double lm = m.mean_loss;
        *x = x0;
        double fd = (lp - lm) / (2.0 * hf), an = m.grads_memory[t->offset + imax];
        worst = fmax(worst, fabs(fd - an) / fmax(fabs(an), 1e-8));
    }
    CHECK(worst < 2e-2, "full mode: float model gradients = float central differences (worst rel %.2e)", worst);
    dref_free(&d);
    lsc_gpt_free(&m);
}

static lsc_lora_config lora_cfg(int rq, int rk, int rv, int ro, int rfi, int rfo)
{
    lsc_lora_config c;
    memset(&c, 0, sizeof c);
    c.rank[LSC_LORA_Q] = rq, c.rank[LSC_LORA_K] = rk, c.rank[LSC_LORA_V] = rv;
    c.rank[LSC_LORA_O] = ro, c.rank[LSC_LORA_FC_IN] = rfi, c.rank[LSC_LORA_FC_OUT] = rfo;
    c.alpha = 8.0;
    c.init = LSC_LORA_INIT_KAIMING;
    return c;
}

static void randomize_B(lsc_lora *lo, uint64_t *rng, double s)
{
    for (int i = 0; i < lo->n_modules; i++) {
        lsc_lora_module *md = &lo->modules[i];
        for (size_t j = 0; j < (size_t)md->out * md->r; j++)
            md->B[j] = (float)(s * (2.0 * lsc_rng_uniform_d(rng) - 1.0));
    }
}

static void test_lora_gradients(double dropout, int rslora)
{
    lsc_error err;
    lsc_gpt m;
    lsc_lora lo;
    uint64_t rng, drng;
    lsc_rng_seed(&rng, 21);
    lsc_gpt_init(&m, &CFG, &err);
    randomize(&m, &rng, 0.4);
    lsc_lora_config lc = lora_cfg(4, 2, 4, 3, 2, 5);
    lc.layer_mask = 0;
    lc.dropout = dropout;
    lc.rslora = rslora;
    int ok = lsc_lora_init(&lo, &CFG, &lc, &rng, &err) == LSC_OK;
    randomize_B(&lo, &rng, 0.3);
    ok = ok && lsc_gpt_alloc_acts(&m, BB, TT, &err) == LSC_OK && lsc_gpt_set_lora(&m, &lo, &err) == LSC_OK;
    CHECK(ok && m.grads_memory == NULL && lo.n_modules == 12,
          "LoRA mode: frozen base, 12 modules (6 targets x 2 layers)");
    int N = BB * TT, inp[BB * TT], tgt[BB * TT];
    float mask[BB * TT];
    make_batch(inp, tgt, mask, N, CFG.vocab, &rng);
    lsc_rng_seed(&drng, 99);
    lsc_gpt_zero_grad(&m);
    ok = lsc_gpt_forward(&m, inp, tgt, mask, BB, TT, dropout > 0 ? &drng : NULL, &err) == LSC_OK &&
         lsc_gpt_backward(&m, &err) == LSC_OK;
    CHECK(ok, "LoRA mode: forward + backward (dropout %.2f, rslora %d)", dropout, rslora);
    dref d;
    dref_init(&d, &m, &lo, inp, tgt, mask, BB, TT);
    double loss = dref_forward(&d);
    dref_backward(&d);
    CHECK(fabs(loss - m.mean_loss) < 1e-5 * loss, "LoRA mode: float loss %.7f = double reference %.7f",
          (double)m.mean_loss, loss);
    double fa = 0.0, fb = 0.0, ca = 0.0, cb = 0.0;
    uint64_t r2;
    lsc_rng_seed(&r2, 6);
    for (int i = 0; i < lo.n_modules; i++) {
        const lsc_lora_module *md = &lo.modules[i];
        size_t na = (size_t)md->r * md->in, nb = (size_t)md->out * md->r;
        fa = fmax(fa, fd_err(&d, d.lp + md->offset, d.lg + md->offset, na, 8, &r2, 1e-12));
        fb = fmax(fb, fd_err(&d, d.lp + md->offset + na, d.lg + md->offset + na, nb, 8, &r2, 1e-12));
        ca = fmax(ca, cmp_err(md->dA, d.lg + md->offset, na, 1e-12));
        cb = fmax(cb, cmp_err(md->dB, d.lg + md->offset + na, nb, 1e-12));
    }
    const char *tag = dropout > 0 ? " with dropout" : rslora ? " rsLoRA" : "";
    CHECK(fa < 1e-6 && fb < 1e-6, "LoRA mode%s: double reference dA, dB = central differences (%.1e, %.1e)",
          tag, fa, fb);
    CHECK(ca < 1e-4 && cb < 1e-4, "LoRA mode%s: float dA, dB = double reference (%.1e, %.1e)", tag, ca, cb);
    if (dropout > 0) {
        /* same rng seed -> same masks -> same gradients, bit for bit */
        float *g1 = xcalloc(lo.num_parameters, sizeof(float));
        memcpy(g1, lo.grads, lo.num_parameters * sizeof(float));
        lsc_rng_seed(&drng, 99);
        lsc_gpt_zero_grad(&m);
        lsc_gpt_forward(&m, inp, tgt, mask, BB, TT, &drng, &err);
        lsc_gpt_backward(&m, &err);
        CHECK(memcmp(g1, lo.grads, lo.num_parameters * sizeof(float)) == 0,
              "LoRA dropout: the same rng seed gives bit-identical gradients");
        lsc_rng_seed(&drng, 100);
        lsc_gpt_zero_grad(&m);
        lsc_gpt_forward(&m, inp, tgt, mask, BB, TT, &drng, &err);
        lsc_gpt_backward(&m, &err);
        CHECK(memcmp(g1, lo.grads, lo.num_parameters * sizeof(float)) != 0,
              "LoRA dropout: another seed gives other masks");
        /* inference (rng NULL): no dropout */
        float l_nodrop, l_nodrop2;
        lsc_gpt_forward(&m, inp, tgt, mask, BB, TT, NULL, &err);
        l_nodrop = m.mean_loss;
        lsc_gpt_forward(&m, inp, tgt, mask, BB, TT, NULL, &err);
        l_nodrop2 = m.mean_loss;
        CHECK(l_nodrop == l_nodrop2 && lo.dropout_on == 0, "LoRA dropout: off when rng is NULL (inference)");
        free(g1);
    }
    dref_free(&d);
    lsc_lora_free(&lo);
    lsc_gpt_free(&m);
}

// ---- LoRA invariants ----

static void logits_of(lsc_gpt *m, const int *inp, float *out)
{
    lsc_error err;
    int rc = lsc_gpt_forward(m, inp, NULL, NULL, BB, TT, NULL, &err);
    LSC_ASSERT(rc == LSC_OK);
    memcpy(out, lsc_gpt_logits(m), (size_t)BB * TT * m->config.vocab * sizeof(float));
}

static void test_invariants(void)
{
    lsc_error err;
    lsc_gpt m;
    lsc_lora lo1, lo2;
    uint64_t rng;
    lsc_rng_seed(&rng, 31);
    lsc_gpt_init(&m, &CFG, &err);
    lsc_gpt_init_weights(&m, &rng);
    randomize(&m, &rng, 0.3);
    lsc_gpt_alloc_acts(&m, BB, TT, &err);
    int N = BB * TT, inp[BB * TT], tgt[BB * TT];
    make_batch(inp, tgt, NULL, N, CFG.vocab, &rng);
    size_t nl = (size_t)N * CFG.vocab;
    float *base = xcalloc(nl, sizeof(float)), *x1 = xcalloc(nl, sizeof(float));
    float *x2 = xcalloc(nl, sizeof(float)), *y = xcalloc(nl, sizeof(float));
    float *w0 = xcalloc(m.num_parameters, sizeof(float));
    memcpy(w0, m.params_memory, m.num_parameters * sizeof(float));
    logits_of(&m, inp, base);

    lsc_lora_config c1 = lora_cfg(4, 0, 4, 0, 0, 0);
    lsc_lora_config c2 = lora_cfg(0, 2, 0, 2, 3, 3);
    c2.layer_mask = 2;   /* layer 1 only */
    c2.rslora = 1;
    c2.init = LSC_LORA_INIT_GAUSSIAN;
    int ok = lsc_lora_init(&lo1, &CFG, &c1, &rng, &err) == LSC_OK &&
             lsc_lora_init(&lo2, &CFG, &c2, &rng, &err) == LSC_OK;
    CHECK(ok && lo1.n_modules == 4 && lo2.n_modules == 4, "two adapters: q,v on both layers; k,o,fc_in,fc_out on layer 1");
    CHECK(lsc_lora_find(&lo2, 0, LSC_LORA_K) == NULL && lsc_lora_find(&lo2, 1, LSC_LORA_K) != NULL,
          "layer mask selects layer 1 only");
    CHECK(fabs(lo2.modules[0].scale - 8.0 / sqrt(2.0)) < 1e-6 && fabs(lo1.modules[0].scale - 2.0) < 1e-6,
          "scaling alpha/r = %.3f, rsLoRA alpha/sqrt(r) = %.3f", lo1.modules[0].scale, lo2.modules[0].scale);
    /* init distributions */
    double amax = 0.0, s2 = 0.0;
    size_t na = 0;
    for (int i = 0; i < lo1.n_modules; i++)
        for (size_t j = 0; j < (size_t)lo1.modules[i].r * lo1.modules[i].in; j++)
            amax = fmax(amax, fabs(lo1.modules[i].A[j]));
    for (int i = 0; i < lo2.n_modules; i++)
        for (size_t j = 0; j < (size_t)lo2.modules[i].r * lo2.modules[i].in; j++, na++)
            s2 += (double)lo2.modules[i].A[j] * lo2.modules[i].A[j] * lo2.modules[i].r * lo2.modules[i].r;
    CHECK(amax <= 1.0 / sqrt(16.0) && amax > 0.8 / sqrt(16.0),
          "Kaiming-uniform A within ±1/sqrt(in) (max %.4f, bound %.4f)", amax, 1.0 / sqrt(16.0));
    CHECK(fabs(sqrt(s2 / na) - 1.0) < 0.15, "Gaussian A has std 1/r (measured r·std = %.3f over %zu)",
          sqrt(s2 / na), na);
    int bzero = 1;
    for (int i = 0; i < lo1.n_modules; i++)
        for (size_t j = 0; j < (size_t)lo1.modules[i].out * lo1.modules[i].r; j++)
            bzero &= lo1.modules[i].B[j] == 0.0f;
    CHECK(bzero, "B initialised to zero");

    /* B = 0: output equals the base model's, bit for bit */
    lsc_gpt_set_lora(&m, &lo1, &err);
    logits_of(&m, inp, y);
    CHECK(memcmp(y, base, nl * sizeof(float)) == 0, "B = 0: LoRA output equals the base output exactly");

    randomize_B(&lo1, &rng, 0.5);
    randomize_B(&lo2, &rng, 0.5);
    logits_of(&m, inp, x1);   /* unmerged W0 + B1A1 */
    lsc_gpt_set_lora(&m, &lo2, &err);
    logits_of(&m, inp, x2);   /* unmerged W0 + B2A2 */
    CHECK(maxabs_diff(x1, base, nl) > 1e-3 && maxabs_diff(x2, x1, nl) > 1e-3,
          "nonzero B changes the output, the two adapters differ");

    /* merge: the same function, within 1e-5 */
    lsc_gpt_set_lora(&m, &lo1, &err);
    ok = lsc_lora_merge(&m, &lo1, &err) == LSC_OK;
    logits_of(&m, inp, y);
    double e = maxabs_diff(y, x1, nl) / maxabs(x1, nl);
    CHECK(ok && lo1.merged && e < 1e-5, "merged forward = unmerged forward (rel %.2e)", e);
    CHECK(lsc_lora_merge(&m, &lo1, &err) == LSC_EARG && strstr(err.msg, "already merged"),
          "merging twice is refused: %s", err.msg);
    ok = lsc_lora_unmerge(&m, &lo1, &err) == LSC_OK;
    e = maxabs_diff(m.params_memory, w0, m.num_parameters);
    CHECK(ok && e < 1e-6 * maxabs(w0, m.num_parameters), "unmerge restores W0 (max abs diff %.2e)", e);
    CHECK(lsc_lora_unmerge(&m, &lo1, &err) == LSC_EARG, "unmerging twice is refused: %s", err.msg);

    /* task switching: W0 + B1A1 -> W0 + B2A2 -> W0 */
    ok = lsc_lora_switch(&m, NULL, &lo1, &err) == LSC_OK;
    logits_of(&m, inp, y);
    e = maxabs_diff(y, x1, nl) / maxabs(x1, nl);
    CHECK(ok && m.lora == &lo1 && lo1.merged && e < 1e-5, "switch to adapter 1 (merged) = W0+B1A1 (rel %.2e)", e);
    ok = lsc_lora_switch(&m, &lo1, &lo2, &err) == LSC_OK;
    logits_of(&m, inp, y);
    e = maxabs_diff(y, x2, nl) / maxabs(x2, nl);
    CHECK(ok && m.lora == &lo2 && !lo1.merged && lo2.merged && e < 1e-5,
          "switch 1 -> 2 (merged) = W0+B2A2 (rel %.2e)", e);
    ok = lsc_lora_switch(&m, &lo2, NULL, &err) == LSC_OK;
    logits_of(&m, inp, y);
    e = maxabs_diff(m.params_memory, w0, m.num_parameters);
    CHECK(ok && m.lora == NULL && e < 1e-6 && maxabs_diff(y, base, nl) < 1e-5,
          "switch 2 -> none restores W0 (%.2e) and the base output", e);

    free(base), free(x1), free(x2), free(y), free(w0);
    lsc_lora_free(&lo1);
    lsc_lora_free(&lo2);
    lsc_gpt_free(&m);
}

/* frozen vs full: the same LoRA gradients; no base gradient memory; the
 * base untouched */
static void test_frozen(void)
{
    lsc_error err;
    lsc_gpt m;
    lsc_lora lo;
    uint64_t rng;
    lsc_rng_seed(&rng, 41);
    lsc_gpt_init(&m, &CFG, &err);
    randomize(&m, &rng, 0.3);
    lsc_lora_config c = lora_cfg(0, 0, 3, 0, 0, 2);
    c.layer_mask = 2;   /* only layer 1: backward may stop above layer 0 */
    lsc_lora_init(&lo, &CFG, &c, &rng, &err);
    randomize_B(&lo, &rng, 0.3);
    lsc_gpt_alloc_acts(&m, BB, TT, &err);
    lsc_gpt_set_lora(&m, &lo, &err);
    int N = BB * TT, inp[BB * TT], tgt[BB * TT];
    make_batch(inp, tgt, NULL, N, CFG.vocab, &rng);
    float *w0 = xcalloc(m.num_parameters, sizeof(float)), *g = xcalloc(lo.num_parameters, sizeof(float));
    memcpy(w0, m.params_memory, m.num_parameters * sizeof(float));

    CHECK(m.mode == LSC_GPT_FROZEN && m.grads_memory == NULL && m.grads.qw == NULL && m.grads.wte == NULL,
          "frozen mode: no base gradient buffer, no gradient views");
    lsc_gpt_zero_grad(&m);
    lsc_gpt_forward(&m, inp, tgt, NULL, BB, TT, NULL, &err);
    lsc_gpt_backward(&m, &err);
    memcpy(g, lo.grads, lo.num_parameters * sizeof(float));
    CHECK(maxabs(g, lo.num_parameters) > 0 && memcmp(w0, m.params_memory, m.num_parameters * sizeof(float)) == 0,
          "frozen mode: LoRA gets gradients, the base buffer is unchanged");
    lsc_gpt_set_trainable(&m, LSC_GPT_FULL, &err);
    lsc_gpt_zero_grad(&m);
    lsc_gpt_forward(&m, inp, tgt, NULL, BB, TT, NULL, &err);
    lsc_gpt_backward(&m, &err);
    double e = maxabs_diff(g, lo.grads, lo.num_parameters);
    CHECK(e <= 1e-6 * maxabs(g, lo.num_parameters), "frozen and full mode give the same LoRA gradients (%.2e)", e);
    CHECK(maxabs(m.grads.wte, m.param_sizes[0]) > 0, "full mode: base gradients flow down to wte");
    lsc_gpt_set_trainable(&m, LSC_GPT_FROZEN, &err);
    CHECK(m.grads_memory == NULL, "back to frozen frees the base gradients");
    free(w0), free(g);
    lsc_lora_free(&lo);
    lsc_gpt_free(&m);
}

// ---- forward details: prefixes, masks, determinism ----

static void test_forward(void)
{
    lsc_error err;
    lsc_gpt m;
    uint64_t rng;
    lsc_rng_seed(&rng, 51);
    lsc_gpt_init(&m, &CFG, &err);
    lsc_gpt_init_weights(&m, &rng);
    randomize(&m, &rng, 0.3);
    lsc_gpt_alloc_acts(&m, BB, TT, &err);
    int N = BB * TT, V = CFG.vocab, inp[BB * TT], tgt[BB * TT];
    float mask[BB * TT];
    make_batch(inp, tgt, mask, N, V, &rng);
    float *full = xcalloc((size_t)N * V, sizeof(float));
    lsc_gpt_forward(&m, inp, tgt, NULL, BB, TT, NULL, &err);
    memcpy(full, lsc_gpt_logits(&m), (size_t)N * V * sizeof(float));
    double mean = 0.0;
    for (int i = 0; i < N; i++)
        mean += lsc_gpt_losses(&m)[i] / N;
    CHECK(fabs(mean - m.mean_loss) < 1e-6 && m.mask_sum == (float)N, "no mask: loss = mean of per-position CE");
    lsc_gpt_forward(&m, inp, tgt, mask, BB, TT, NULL, &err);
    double ms = 0.0, ls = 0.0;
    for (int i = 0; i < N; i++)
        ms += mask[i], ls += mask[i] * lsc_gpt_losses(&m)[i];
    CHECK(fabs(ls / ms - m.mean_loss) < 1e-6, "mask: loss = masked mean of CE");
    float zero[BB * TT] = {0};
    lsc_gpt_forward(&m, inp, tgt, zero, BB, TT, NULL, &err);
    CHECK(m.mean_loss == 0.0f && lsc_gpt_backward(&m, &err) == LSC_OK, "all-zero mask: loss 0, backward ok");
    /* a prefix (greedy decoding): the first 3 positions of sequence 0 */
    int pre[3] = {inp[0], inp[1], inp[2]};
    int rc = lsc_gpt_forward(&m, pre, NULL, NULL, 1, 3, NULL, &err);
    double e = maxabs_diff(lsc_gpt_logits(&m), full, (size_t)3 * V);
    CHECK(rc == LSC_OK && e < 1e-5 && m.mean_loss == -1.0f, "prefix forward (B=1, T=3) = first positions (%.1e)", e);
    /* causality: changing a later token leaves earlier logits alone */
    int alt[BB * TT];
    memcpy(alt, inp, sizeof alt);
    alt[TT - 1] = (alt[TT - 1] + 1) % V;
    lsc_gpt_forward(&m, alt, NULL, NULL, BB, TT, NULL, &err);
    CHECK(memcmp(lsc_gpt_logits(&m), full, (size_t)(TT - 1) * V * sizeof(float)) == 0,
          "causal: a change at t = T-1 leaves logits at t < T-1 identical");
    /* determinism */
    lsc_gpt_forward(&m, inp, tgt, NULL, BB, TT, NULL, &err);
    CHECK(memcmp(lsc_gpt_logits(&m), full, (size_t)N * V * sizeof(float)) == 0, "forward is deterministic");
    /* probabilities */
    double ps = 0.0;
    for (int i = 0; i < V; i++)
        ps += lsc_gpt_probs(&m)[i];
    CHECK(fabs(ps - 1.0) < 1e-5, "probs rows sum to 1");
    free(full);
    lsc_gpt_free(&m);

    /* GPT-2 init statistics */
    lsc_gpt big;
    lsc_gpt_config bc = {.n_layer = 4, .n_head = 4, .n_embd = 64, .n_ctx = 32, .vocab = 256};
    lsc_gpt_init(&big, &bc, &err);
    lsc_gpt_init_weights(&big, &rng);
    const lsc_gpt_tensor *tq = lsc_gpt_find_tensor(&big, "h.2.attn.q_proj.weight");
    const lsc_gpt_tensor *to = lsc_gpt_find_tensor(&big, "h.2.attn.o_proj.weight");
    const lsc_gpt_tensor *tl = lsc_gpt_find_tensor(&big, "h.3.ln_2.weight");
    const lsc_gpt_tensor *tb = lsc_gpt_find_tensor(&big, "h.3.mlp.fc_in.bias");
    double sq = 0.0, so = 0.0;
    for (size_t i = 0; i < tq->numel; i++) {
        sq += (double)big.params_memory[tq->offset + i] * big.params_memory[tq->offset + i];
        so += (double)big.params_memory[to->offset + i] * big.params_memory[to->offset + i];
    }
    sq = sqrt(sq / tq->numel), so = sqrt(so / to->numel);
    CHECK(fabs(sq - 0.02) < 0.002 && fabs(so - 0.02 / sqrt(8.0)) < 0.001,
          "init: q_proj std %.4f (0.02), o_proj std %.4f (0.02/sqrt(2L) = %.4f)", sq, so, 0.02 / sqrt(8.0));
    CHECK(big.params_memory[tl->offset] == 1.0f && big.params_memory[tb->offset] == 0.0f &&
          tb->shape[0] == 256 && tb->ndim == 1, "init: LN weight 1, biases 0; fc_in bias has 4C entries");
    CHECK(big.n_tensors == 4 + 16 * 4 && big.num_parameters == (size_t)256 * 64 + 32 * 64 + 4 * (12 * 64 * 64 + 13 * 64) + 2 * 64,
          "parameter count %zu and %d tensors", big.num_parameters, big.n_tensors);
    lsc_gpt_free(&big);
}

// ---- files ----

static void test_files(void)
{
    lsc_error err;
    lsc_gpt m, m2;
    lsc_lora lo, lo2;
    uint64_t rng;
    lsc_rng_seed(&rng, 61);
    char dir[] = "/tmp/lsc_test_model_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "temporary directory");
    char path[256], adir[256], bad[256];
    snprintf(path, sizeof path, "%s/base.safetensors", dir);
    snprintf(adir, sizeof adir, "%s/adapter", dir);
    snprintf(bad, sizeof bad, "%s/adapter/adapter_model.safetensors", dir);

    lsc_gpt_init(&m, &CFG, &err);
    lsc_gpt_init_weights(&m, &rng);
    int ok = lsc_gpt_save(&m, path, &err) == LSC_OK && lsc_gpt_load(&m2, path, &err) == LSC_OK;
    CHECK(ok && m2.num_parameters == m.num_parameters && m2.config.n_head == CFG.n_head &&
              m2.config.n_ctx == CFG.n_ctx && m2.config.vocab == CFG.vocab &&
              memcmp(m.params_memory, m2.params_memory, m.num_parameters * sizeof(float)) == 0,
          "model save/load round trip (config from __metadata__, bit-identical weights)");
    lsc_st_file f;
    ok = lsc_st_open(&f, path, &err) == LSC_OK;
    const lsc_st_tensor *t = ok ? lsc_st_find(&f, "h.1.mlp.fc_out.weight") : NULL;
    CHECK(ok && f.n_tensors == 4 + 16 * CFG.n_layer && t && t->shape[0] == 16 && t->shape[1] == 64 &&
              lsc_st_find(&f, "wte.weight") && lsc_st_find(&f, "wpe.weight") && lsc_st_find(&f, "ln_f.bias") &&
              lsc_st_find(&f, "h.0.attn.k_proj.bias") && lsc_st_find(&f, "h.0.ln_1.weight") &&
              strcmp(lsc_st_meta(&f, "n_embd"), "16") == 0 && strcmp(lsc_st_meta(&f, "vocab_size"), "32") == 0,
          "safetensors names and shapes per DESIGN.md §4 (fc_out [C,4C]), config in metadata");
    if (ok)
        lsc_st_close(&f);
    lsc_gpt_free(&m2);

    /* PEFT adapter round trip with per-target ranks (rank_pattern) */
    lsc_lora_config c = lora_cfg(4, 0, 4, 0, 2, 0);
    c.dropout = 0.05;
    lsc_lora_init(&lo, &CFG, &c, &rng, &err);
    randomize_B(&lo, &rng, 0.2);
    ok = lsc_lora_save(&lo, "base.safetensors", adir, &err) == LSC_OK;
    CHECK(ok, "LoRA save as a PEFT directory%s%s", ok ? "" : ": ", ok ? "" : err.msg);
    lsc_adapter ad;
    ok = lsc_adapter_load(&ad, adir, &err) == LSC_OK;
    CHECK(ok && ad.n_modules == 6 && ad.r == 4 && ad.n_rank_pattern == 1 &&
              strcmp(ad.rank_pattern_keys[0], "fc_in") == 0 && ad.rank_pattern_vals[0] == 2 &&
              ad.n_targets == 3 && lsc_adapter_find(&ad, "h.1.attn.v_proj") >= 0 &&
              lsc_adapter_find(&ad, "h.0.mlp.fc_in") >= 0 && !ad.fan_in_fan_out && fabs(ad.lora_alpha - 8) < 1e-12,
          "PEFT layout: modules h.{l}.attn.q_proj..., r = 4, rank_pattern {fc_in: 2}, 3 target_modules");
    if (ok) {
        int fi = lsc_adapter_find(&ad, "h.0.mlp.fc_in");
        CHECK(ad.modules[fi].r == 2 && ad.modules[fi].in_features == 16 && ad.modules[fi].out_features == 64 &&
                  fabs(ad.modules[fi].scaling - 4.0) < 1e-9,
              "PEFT reads fc_in back: A (2, 16), B (64, 2), scaling alpha/r = 4");
        lsc_adapter_free(&ad);
    }
    ok = lsc_lora_load(&lo2, &CFG, adir, &err) == LSC_OK;
    CHECK(ok && lo2.n_modules == lo.n_modules && lo2.num_parameters == lo.num_parameters &&
              memcmp(lo.params, lo2.params, lo.num_parameters * sizeof(float)) == 0 &&
              lo2.modules[2].scale == lo.modules[2].scale && fabs(lo2.config.dropout - 0.05) < 1e-12,
          "LoRA load: identical A, B, scales and dropout");
    lsc_lora_free(&lo2);

    /* bad input */
    lsc_gpt_config small = CFG;
    small.n_embd = 8;
    int rc = lsc_lora_load(&lo2, &small, adir, &err);
    CHECK(rc == LSC_ESHAPE && strstr(err.msg, "h.0.attn.q_proj"), "adapter for another width: %s", err.msg);
    rc = lsc_gpt_load(&m2, bad, &err);
    CHECK(rc == LSC_EFORMAT && strstr(err.msg, "not a lorascope model"), "adapter file as model: %s", err.msg);
    snprintf(bad, sizeof bad, "%s/missing.safetensors", dir);
    rc = lsc_gpt_load(&m2, bad, &err);
    CHECK(rc == LSC_EIO && strstr(err.msg, "missing.safetensors"), "missing model file: %s", err.msg);
    lsc_gpt_free(&m2);

    lsc_lora_free(&lo);
    lsc_gpt_free(&m);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
}

static void test_errors(void)
{
    lsc_error err;
    lsc_gpt m;
    lsc_lora lo;
    uint64_t rng;
    lsc_rng_seed(&rng, 71);
    lsc_gpt_config bad = CFG;
    bad.n_head = 3;
    CHECK(lsc_gpt_init(&m, &bad, &err) == LSC_EARG && strstr(err.msg, "n_head"), "n_head not dividing n_embd: %s", err.msg);
    lsc_gpt_init(&m, &CFG, &err);
    int inp[BB * TT] = {0}, tgt[BB * TT] = {0};
    CHECK(lsc_gpt_forward(&m, inp, tgt, NULL, BB, TT, NULL, &err) == LSC_EARG && strstr(err.msg, "alloc_acts"),
          "forward before alloc_acts: %s", err.msg);
    CHECK(lsc_gpt_alloc_acts(&m, 1, CFG.n_ctx + 1, &err) == LSC_EARG && strstr(err.msg, "n_ctx"),
          "context above the model's: %s", err.msg);
    lsc_gpt_alloc_acts(&m, BB, TT, &err);
    CHECK(lsc_gpt_backward(&m, &err) == LSC_EARG, "backward before forward: %s", err.msg);
    CHECK(lsc_gpt_forward(&m, inp, tgt, NULL, BB, TT + 1, NULL, &err) == LSC_EARG && strstr(err.msg, "allocated"),
          "batch beyond the allocation: %s", err.msg);
    inp[3] = CFG.vocab;
    CHECK(lsc_gpt_forward(&m, inp, tgt, NULL, BB, TT, NULL, &err) == LSC_EARG && strstr(err.msg, "input token"),
          "token id out of range: %s", err.msg);
    inp[3] = 0;
    CHECK(lsc_gpt_forward(&m, inp, NULL, NULL, BB, TT, NULL, &err) == LSC_OK && lsc_gpt_backward(&m, &err) == LSC_EARG,
          "backward after a forward without targets: %s", err.msg);
    lsc_lora_config c = lora_cfg(17, 0, 0, 0, 0, 0);
    CHECK(lsc_lora_init(&lo, &CFG, &c, &rng, &err) == LSC_EARG && strstr(err.msg, "min(in, out)"),
          "rank above min(in, out): %s", err.msg);
    c = lora_cfg(-1, 0, 0, 0, 0, 0);
    CHECK(lsc_lora_init(&lo, &CFG, &c, &rng, &err) == LSC_EARG, "negative rank: %s", err.msg);
    c = lora_cfg(0, 0, 0, 0, 0, 0);
    CHECK(lsc_lora_init(&lo, &CFG, &c, &rng, &err) == LSC_EARG && strstr(err.msg, "no module"),
          "no target selected: %s", err.msg);
    c = lora_cfg(2, 0, 0, 0, 0, 0);
    c.layer_mask = 4;
    CHECK(lsc_lora_init(&lo, &CFG, &c, &rng, &err) == LSC_EARG && strstr(err.msg, "layer"),
          "layer beyond the model: %s", err.msg);
    c.layer_mask = 0;
    c.dropout = 1.0;
    CHECK(lsc_lora_init(&lo, &CFG, &c, &rng, &err) == LSC_EARG && strstr(err.msg, "dropout"), "dropout 1: %s", err.msg);
    CHECK(lsc_lora_target_parse("q") == LSC_LORA_Q && lsc_lora_target_parse("v_proj") == LSC_LORA_V &&
              lsc_lora_target_parse("fc_out") == LSC_LORA_FC_OUT && lsc_lora_target_parse("c_attn") == -1 &&
              lsc_lora_target_parse("") == -1,
          "target names: q, v_proj, fc_out parse; c_attn does not");
    int l, t;
    char nm[64];
    lsc_lora_module_name(&CFG, 11, LSC_LORA_FC_IN, nm, sizeof nm);
    CHECK(strcmp(nm, "h.11.mlp.fc_in") == 0 && lsc_lora_module_parse(nm, &l, &t) == 0 && l == 11 &&
              t == LSC_LORA_FC_IN && lsc_lora_module_parse("h.1.attn.c_attn", &l, &t) == -1 &&
              lsc_lora_module_parse("transformer.h.0.attn.q_proj", &l, &t) == -1,
          "module names h.{l}.mlp.fc_in round trip; foreign names are rejected");
    lsc_gpt_free(&m);
}

int main(void)
{
    test_full_gradients();
    test_lora_gradients(0.0, 0);
    test_lora_gradients(0.0, 1);
    test_lora_gradients(0.3, 0);
    test_invariants();
    test_frozen();
    test_forward();
    test_files();
    test_errors();
    return test_summary();
}
