/*
 * test_llama.c — the Llama family (arch_llama.c, model_llama.c) as a whole.
 *
 * Gradients: a double-precision reference forward built in this file from
 * the naive kernels (layers.c, layers_llama.c) is differentiated by central
 * finite differences; the float model's analytic backward must match them
 * for every base tensor (full mode) and for A and B of LoRA on all seven
 * targets — for GQA with head_dim != C/NH, both RoPE layouts, q/k/v biases
 * and an untied head. The reference's loss must equal the float model's.
 *
 * Also: the tensor table (Hugging Face names, optional kinds), save/load of
 * the lorascope file (arch metadata), KV-cached decoding = full forward,
 * merged = unmerged with an adapter on every target (the merge acceptance:
 * max |logit diff| <= 1e-4), PEFT names round trip, a GPT adapter refused
 * on a Llama, config errors.
 */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "../lib/lsc_internal.h"
#include "test.h"

#define BB 2
#define TT 5

/* GQA 4:2 heads of 6 (Q = 24 != C = 16), n_ff 20, V 23 */
static const lsc_gpt_config BASE = {.n_layer = 2, .n_head = 4, .n_embd = 16, .n_ctx = 8, .vocab = 23,
                                    .arch = LSC_ARCH_LLAMA, .n_kv_head = 2, .head_dim = 6, .n_ff = 20,
                                    .rope_theta = 500.0f, .norm_eps = 1e-5f};

static void *xcalloc(size_t n, size_t s)
{
    void *p = calloc(n ? n : 1, s);
    if (!p)
        abort();
    return p;
}

static void randomize(lsc_gpt *m, uint64_t *rng)
{
    for (int i = 0; i < m->n_tensors; i++) {
        const lsc_gpt_tensor *t = &m->tensors[i];
        float *p = m->params_memory + t->offset;
        int norm = strstr(t->name, "norm") != NULL;
        for (size_t j = 0; j < t->numel; j++) {
            double u = 2.0 * lsc_rng_uniform_d(rng) - 1.0;
            p[j] = (float)(norm ? 1.0 + 0.3 * u : t->is_matrix ? 0.4 * u : 0.2 * u);
        }
    }
}

static void make_batch(int *inp, int *tgt, float *mask, int N, int V, uint64_t *rng)
{
    for (int i = 0; i < N; i++) {
        inp[i] = (int)(lsc_rng_u32(rng) % (uint32_t)V);
        tgt[i] = (int)(lsc_rng_u32(rng) % (uint32_t)V);
        mask[i] = (i % 4 == 1) ? 0.0f : 1.0f;
    }
}

// ---- the double-precision reference forward ----

typedef struct dref {
    const lsc_gpt  *m;
    const lsc_lora *lo;    /* applied unmerged, or NULL */
    double         *p;     /* (num_parameters) copy of params_memory */
    double         *lp;    /* (lo->num_parameters) copy of the adapter's */
    const int      *inp, *tgt;
    const float    *mask;
    int             B, T;
} dref;

static const double *P(const dref *d, const float *view)
{
    return view ? d->p + (view - d->m->params_memory) : NULL;
}

/* out (N, OC) = in W^T + b (+ s·(in A^T) B^T) */
static void dlinear(const dref *d, int l, int t, double *out, const double *in, int N)
{
    float *w, *b;
    int OC, IC;
    lsc_gpt_linear(d->m, l, t, &w, &b, &OC, &IC);
    lsc_matmul_forward_naive_(out, in, P(d, w), P(d, b), N, IC, OC);
    const lsc_lora_module *md = d->lo ? lsc_lora_find(d->lo, l, t) : NULL;
    if (!md)
        return;
    const double *A = d->lp + md->offset, *Bf = A + (size_t)md->r * md->in;
    double *u = xcalloc((size_t)N * md->r, sizeof *u);
    lsc_matmul_forward_naive_(u, in, A, NULL, N, IC, md->r);
    for (int i = 0; i < N; i++)
        for (int o = 0; o < OC; o++) {
            double s = 0.0;
            for (int k = 0; k < md->r; k++)
                s += u[(size_t)i * md->r + k] * Bf[(size_t)o * md->r + k];
            out[(size_t)i * OC + o] += (double)md->scale * s;
        }
    free(u);
}

static double dref_forward(void *ctx)
{
    const dref *d = ctx;
    const lsc_gpt_config *c = &d->m->config;
    const struct lsc_llama_params *p = &d->m->params.llama;
    int N = d->B * d->T, C = c->n_embd, NH = c->n_head, NKV = c->n_kv_head, hs = c->head_dim;
    int F = c->n_ff, V = c->vocab, Q = NH * hs, KV = NKV * hs, il = !c->rope_half;
    size_t NC = (size_t)N * C;
    double *x = xcalloc(NC, 8), *n1 = xcalloc(NC, 8), *r = xcalloc((size_t)N, 8);
    double *q = xcalloc((size_t)N * Q, 8), *k = xcalloc((size_t)N * KV, 8), *v = xcalloc((size_t)N * KV, 8);
    double *att = xcalloc((size_t)d->B * NH * d->T * d->T, 8), *y = xcalloc((size_t)N * Q, 8);
    double *o = xcalloc(NC, 8), *g = xcalloc((size_t)N * F, 8), *u = xcalloc((size_t)N * F, 8);
    double *h = xcalloc((size_t)N * F, 8), *lg = xcalloc((size_t)N * V, 8), *pr = xcalloc((size_t)N * V, 8);
    double *ce = xcalloc((size_t)N, 8);
    int *pos = xcalloc((size_t)N, sizeof(int));
    for (int i = 0; i < N; i++) {
        pos[i] = i % d->T;
        for (int j = 0; j < C; j++)
            x[(size_t)i * C + j] = P(d, p->embed)[(size_t)d->inp[i] * C + j];
    }
    for (int l = 0; l < c->n_layer; l++) {
        lsc_rmsnorm_forward_naive_(n1, r, x, P(d, p->attn_norm) + (size_t)l * C, c->norm_eps, N, C);
        dlinear(d, l, LSC_LORA_Q, q, n1, N);
        dlinear(d, l, LSC_LORA_K, k, n1, N);
        dlinear(d, l, LSC_LORA_V, v, n1, N);
        lsc_rope_forward_naive_(q, pos, N, NH, hs, c->rope_theta, il);
        lsc_rope_forward_naive_(k, pos, N, NKV, hs, c->rope_theta, il);
        lsc_attention_gqa_forward_naive_(y, att, q, k, v, d->B, d->T, NH, NKV, hs);
        dlinear(d, l, LSC_LORA_O, o, y, N);
        for (size_t i = 0; i < NC; i++)
            x[i] += o[i];
        lsc_rmsnorm_forward_naive_(n1, r, x, P(d, p->mlp_norm) + (size_t)l * C, c->norm_eps, N, C);
        dlinear(d, l, LSC_LORA_GATE, g, n1, N);
        dlinear(d, l, LSC_LORA_UP, u, n1, N);
        lsc_swiglu_forward_naive_(h, g, u, (size_t)N * F);
        dlinear(d, l, LSC_LORA_DOWN, o, h, N);
        for (size_t i = 0; i < NC; i++)
            x[i] += o[i];
    }
    lsc_rmsnorm_forward_naive_(n1, r, x, P(d, p->norm), c->norm_eps, N, C);
    lsc_matmul_forward_naive_(lg, n1, P(d, p->lm_head ? p->lm_head : p->embed), NULL, N, C, V);
    lsc_softmax_forward_naive_(pr, lg, N, V);
    lsc_crossentropy_forward_naive_(ce, lg, d->tgt, N, V);
    double num = 0.0, den = 0.0;
    for (int i = 0; i < N; i++) {
        num += (double)d->mask[i] * ce[i];
        den += (double)d->mask[i];
    }
    double *all[] = {x, n1, r, q, k, v, att, y, o, g, u, h, lg, pr, ce};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
    free(pos);
    return num / den;
}

/* max |FD − g| over k sampled entries of x (n), relative to max(|FD|, floor) */
static double fd_err(dref *d, double *x, const float *g, size_t n, size_t k, uint64_t *rng, double floor)
{
    double emax = 0.0, smax = 0.0, hstep = 1e-5;
    for (size_t c = 0; c < (n < k ? n : k); c++) {
        size_t i = n <= k ? c : (size_t)(lsc_rng_u64(rng) % n);
        double x0 = x[i];
        x[i] = x0 + hstep;
        double lp = dref_forward(d);
        x[i] = x0 - hstep;
        double lm = dref_forward(d);
        x[i] = x0;
        double fd = (lp - lm) / (2 * hstep);
        emax = fmax(emax, fabs(fd - (double)g[i]));
        smax = fmax(smax, fabs(fd));
    }
    return emax / fmax(smax, floor);
}

static double *to_double(const float *a, size_t n)
{
    double *d = xcalloc(n, sizeof *d);
    for (size_t i = 0; i < n; i++)
        d[i] = a[i];
    return d;
}

// ---- gradients ----

static void full_gradients(const lsc_gpt_config *cfg, const char *what)
{
    lsc_error err;
    lsc_gpt m;
    uint64_t rng;
    lsc_rng_seed(&rng, 7);
    int N = BB * TT, inp[BB * TT], tgt[BB * TT];
    float mask[BB * TT];
    int ok = lsc_gpt_init(&m, cfg, &err) == LSC_OK && lsc_gpt_set_trainable(&m, LSC_GPT_FULL, &err) == LSC_OK &&
             lsc_gpt_alloc_acts(&m, BB, TT, &err) == LSC_OK;
    CHECK(ok, "%s: model built (%zu parameters, %d tensors)", what, m.num_parameters, m.n_tensors);
    if (!ok)
        return;
    randomize(&m, &rng);
    make_batch(inp, tgt, mask, N, cfg->vocab, &rng);
    lsc_gpt_zero_grad(&m);
    ok = lsc_gpt_forward(&m, inp, tgt, mask, BB, TT, NULL, &err) == LSC_OK && lsc_gpt_backward(&m, &err) == LSC_OK;
    dref d = {&m, NULL, to_double(m.params_memory, m.num_parameters), NULL, inp, tgt, mask, BB, TT};
    double lref = dref_forward(&d);
    CHECK(ok && fabs(lref - m.mean_loss) < 1e-5 * fabs(lref),
          "%s: float loss %.7f = double reference %.7f", what, (double)m.mean_loss, lref);
    double worst = 0.0;
    const char *wname = "";
    for (int i = 0; i < m.n_tensors; i++) {
        const lsc_gpt_tensor *t = &m.tensors[i];
        double e = fd_err(&d, d.p + t->offset, m.grads_memory + t->offset, t->numel, 12, &rng, 1e-3);
        if (e > worst)
            worst = e, wname = t->name;
    }
    CHECK(ok && worst < 2e-3, "%s: full-mode gradients of all %d tensors = finite differences (worst %.2e, %s)",
          what, m.n_tensors, worst, wname);
    free(d.p);
    lsc_gpt_free(&m);
}

static lsc_lora_config all_targets(int r)
{
    lsc_lora_config lc = {.alpha = 2.0 * r};
    int ts[] = {LSC_LORA_Q, LSC_LORA_K, LSC_LORA_V, LSC_LORA_O, LSC_LORA_GATE, LSC_LORA_UP, LSC_LORA_DOWN};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        lc.rank[ts[i]] = r;
    return lc;
}

static void randomize_B(lsc_lora *lo, uint64_t *rng)
{
    for (int i = 0; i < lo->n_modules; i++) {
        lsc_lora_module *md = &lo->modules[i];
        for (size_t j = 0; j < (size_t)md->out * md->r; j++)
            md->B[j] = (float)(0.3 * (2.0 * lsc_rng_uniform_d(rng) - 1.0));
    }
}

static void lora_gradients(void)
{
    lsc_error err;
    lsc_gpt m;
    lsc_lora lo;
    uint64_t rng;
    lsc_rng_seed(&rng, 11);
    lsc_gpt_config cfg = BASE;
    cfg.qkv_bias = 1;
    int N = BB * TT, inp[BB * TT], tgt[BB * TT];
    float mask[BB * TT];
    lsc_lora_config lc = all_targets(3);
    int ok = lsc_gpt_init(&m, &cfg, &err) == LSC_OK && lsc_gpt_alloc_acts(&m, BB, TT, &err) == LSC_OK &&
             lsc_lora_init(&lo, &m.config, &lc, &rng, &err) == LSC_OK && lsc_gpt_set_lora(&m, &lo, &err) == LSC_OK;
    CHECK(ok && lo.n_modules == 14, "LoRA on q,k,v,o,gate,up,down in 2 layers: %d modules", lo.n_modules);
    if (!ok)
        return;
    randomize(&m, &rng);
    randomize_B(&lo, &rng);
    make_batch(inp, tgt, mask, N, cfg.vocab, &rng);
    lsc_gpt_zero_grad(&m);
    ok = lsc_gpt_forward(&m, inp, tgt, mask, BB, TT, NULL, &err) == LSC_OK && lsc_gpt_backward(&m, &err) == LSC_OK;
    dref d = {&m, &lo, to_double(m.params_memory, m.num_parameters), to_double(lo.params, lo.num_parameters),
              inp, tgt, mask, BB, TT};
    double lref = dref_forward(&d);
    double e = fd_err(&d, d.lp, lo.grads, lo.num_parameters, 200, &rng, 1e-3);
    CHECK(ok && fabs(lref - m.mean_loss) < 1e-5 * fabs(lref) && e < 2e-3,
          "LoRA gradients (A and B of 14 modules, frozen base) = finite differences (%.2e); loss %.6f = %.6f", e,
          (double)m.mean_loss, lref);
    char nm[96];
    lsc_lora_module_name(&m.config, 1, LSC_LORA_GATE, nm, sizeof nm);
    int l = -1, t = -1;
    CHECK(strcmp(nm, "model.layers.1.mlp.gate_proj") == 0 && lsc_lora_module_parse(nm, &l, &t) == 0 && l == 1 &&
              t == LSC_LORA_GATE && lsc_lora_target_parse("down") == LSC_LORA_DOWN,
          "PEFT module names: %s parses back to (1, gate)", nm);
    /* through PEFT and back: the same modules, bit-identical factors */
    char dir[] = "/tmp/lsc_llama_adXXXXXX";
    lsc_lora back;
    ok = mkdtemp(dir) && lsc_lora_save(&lo, "tiny-llama", dir, &err) == LSC_OK &&
         lsc_lora_load(&back, &m.config, dir, &err) == LSC_OK;
    CHECK(ok && back.n_modules == lo.n_modules && back.num_parameters == lo.num_parameters &&
              memcmp(back.params, lo.params, lo.num_parameters * sizeof(float)) == 0,
          "a Llama adapter saves as PEFT and loads back bit-identical%s%s", ok ? "" : ": ", ok ? "" : err.msg);
    if (ok)
        lsc_lora_free(&back);
    /* an adapter of the other architecture is refused, naming the expected names */
    lsc_gpt_config gc = {.n_layer = 2, .n_head = 4, .n_embd = 16, .n_ctx = 8, .vocab = 23};
    ok = lsc_lora_load(&back, &gc, dir, &err) != LSC_OK && strstr(err.msg, "h.0.attn.q_proj");
    CHECK(ok, "a Llama adapter on a GPT is refused: %s", err.msg);
    lsc_lora_config gl = {.alpha = 1.0};
    gl.rank[LSC_LORA_GATE] = 2;
    lsc_gpt g;
    ok = lsc_gpt_init(&g, &gc, &err) == LSC_OK && lsc_lora_init(&back, &g.config, &gl, &rng, &err) != LSC_OK &&
         strstr(err.msg, "gate_proj") != NULL;
    CHECK(ok, "target gate on a GPT is refused: %s", err.msg);
    lsc_gpt_free(&g);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    free(d.p);
    free(d.lp);
    lsc_lora_free(&lo);
    lsc_gpt_free(&m);
}

// ---- decoding and merging ----

static double max_rel(const float *a, const float *b, size_t n)
{
    double e = 0.0, s = 0.0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - (double)b[i]));
        s = fmax(s, fabs((double)b[i]));
    }
    return e / fmax(s, 1e-30);
}

static void decode_and_merge(void)
{
    lsc_error err;
    lsc_gpt m;
    lsc_lora lo;
    lsc_kv_cache kv;
    uint64_t rng;
    lsc_rng_seed(&rng, 5);
    lsc_gpt_config cfg = BASE;
    cfg.untied = 1;
    cfg.rope_half = 1;
    int T = 7, V = cfg.vocab, inp[7], tgt[7];
    float mask[7];
    int ok = lsc_gpt_init(&m, &cfg, &err) == LSC_OK && lsc_gpt_alloc_acts(&m, 1, T, &err) == LSC_OK;
    randomize(&m, &rng);
    make_batch(inp, tgt, mask, T, V, &rng);
    lsc_lora_config lc = all_targets(4);
    ok &= lsc_lora_init(&lo, &m.config, &lc, &rng, &err) == LSC_OK && lsc_gpt_set_lora(&m, &lo, &err) == LSC_OK;
    randomize_B(&lo, &rng);
    float *full = xcalloc((size_t)T * V, sizeof(float)), *step = xcalloc((size_t)T * V, sizeof(float));
    ok &= lsc_gpt_forward(&m, inp, NULL, NULL, 1, T, NULL, &err) == LSC_OK;
    memcpy(full, lsc_gpt_logits(&m), (size_t)T * V * sizeof(float));
    ok &= lsc_kv_cache_alloc(&kv, &m, 1, T, &err) == LSC_OK;
    for (int t = 0; ok && t < T; t++) {
        int slot = 0;
        ok &= lsc_gpt_forward_step(&m, &kv, &inp[t], &slot, &t, 1, &err) == LSC_OK;
        memcpy(step + (size_t)t * V, lsc_gpt_logits(&m), (size_t)V * sizeof(float));
    }
    double e = max_rel(step, full, (size_t)T * V);
    CHECK(ok && e < 1e-5, "KV-cached decoding = full forward with an adapter on every target (rel %.2e)", e);
    ok &= lsc_lora_merge(&m, &lo, &err) == LSC_OK &&
          lsc_gpt_forward(&m, inp, NULL, NULL, 1, T, NULL, &err) == LSC_OK;
    double dmax = 0.0;
    for (size_t i = 0; ok && i < (size_t)T * V; i++)
        dmax = fmax(dmax, fabs((double)lsc_gpt_logits(&m)[i] - (double)full[i]));
    CHECK(ok && dmax <= 1e-4, "merged = base + adapter: max |logit diff| %.2e <= 1e-4", dmax);
    lsc_kv_cache_free(&kv);
    free(full);
    free(step);
    lsc_lora_free(&lo);
    lsc_gpt_free(&m);
}

// ---- the tensor table, files, config ----

static void table_and_files(void)
{
    lsc_error err;
    lsc_gpt m, back;
    uint64_t rng;
    lsc_rng_seed(&rng, 3);
    lsc_gpt_config cfg = BASE;
    int ok = lsc_gpt_init(&m, &cfg, &err) == LSC_OK;
    const lsc_gpt_tensor *q = lsc_gpt_find_tensor(&m, "model.layers.1.self_attn.q_proj.weight");
    const lsc_gpt_tensor *k = lsc_gpt_find_tensor(&m, "model.layers.1.self_attn.k_proj.weight");
    CHECK(ok && m.n_tensors == 1 + 2 * 9 + 1 && q && q->shape[0] == 24 && q->shape[1] == 16 && k &&
              k->shape[0] == 12 && !lsc_gpt_find_tensor(&m, "lm_head.weight") &&
              !lsc_gpt_find_tensor(&m, "model.layers.0.self_attn.q_proj.bias") &&
              strcmp(m.tensors[0].name, "model.embed_tokens.weight") == 0 &&
              strcmp(m.tensors[m.n_tensors - 1].name, "model.norm.weight") == 0,
          "tied, bias-free: %d tensors with Hugging Face names, q_proj (24, 16), k_proj (12, 16)", m.n_tensors);
    lsc_gpt_free(&m);
    cfg.qkv_bias = 1, cfg.untied = 1, cfg.rope_half = 1;
    ok = lsc_gpt_init(&m, &cfg, &err) == LSC_OK;
    CHECK(ok && m.n_tensors == 2 + 2 * 12 + 1 && lsc_gpt_find_tensor(&m, "lm_head.weight") &&
              lsc_gpt_find_tensor(&m, "model.layers.0.self_attn.v_proj.bias"),
          "Qwen2-style (q/k/v biases, untied head): %d tensors", m.n_tensors);
    randomize(&m, &rng);
    char path[] = "/tmp/lsc_llama_XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0)
        close(fd);
    ok = fd >= 0 && lsc_gpt_save(&m, path, &err) == LSC_OK && lsc_gpt_load(&back, path, &err) == LSC_OK;
    CHECK(ok && back.config.arch == LSC_ARCH_LLAMA && back.config.n_kv_head == 2 && back.config.head_dim == 6 &&
              back.config.n_ff == 20 && back.config.rope_theta == 500.0f && back.config.rope_half == 1 &&
              back.config.qkv_bias == 1 && back.config.untied == 1 && back.num_parameters == m.num_parameters &&
              memcmp(back.params_memory, m.params_memory, m.num_parameters * sizeof(float)) == 0,
          "save/load: the Llama config and every tensor round trip%s%s", ok ? "" : ": ", ok ? "" : err.msg);
    if (ok)
        lsc_gpt_free(&back);
    unlink(path);
    lsc_gpt_free(&m);
    /* config errors */
    lsc_gpt_config bad = BASE;
    bad.n_kv_head = 3;
    CHECK(lsc_gpt_config_check(&bad, &err) != LSC_OK && strstr(err.msg, "n_kv_head"), "NKV must divide NH: %s",
          err.msg);
    bad = BASE;
    bad.head_dim = 5;
    CHECK(lsc_gpt_config_check(&bad, &err) != LSC_OK && strstr(err.msg, "head_dim"), "odd head_dim: %s", err.msg);
    lsc_gpt_config dflt = {.n_layer = 1, .n_head = 4, .n_embd = 64, .n_ctx = 8, .vocab = 10, .arch = LSC_ARCH_LLAMA};
    lsc_gpt_config f = lsc_gpt_config_fill(&dflt);
    CHECK(f.head_dim == 16 && f.n_kv_head == 4 && f.n_ff == 192 && f.rope_theta == 10000.0f && f.norm_eps == 1e-5f,
          "defaults: head_dim C/NH, NKV = NH, n_ff %d (llama2.c's rule), theta 1e4, eps 1e-5", f.n_ff);
}

int main(void)
{
    lsc_gpt_config c = BASE;
    full_gradients(&c, "GQA 4:2, hs 6, interleaved RoPE, tied");
    c.rope_half = 1, c.qkv_bias = 1, c.untied = 1, c.n_kv_head = 1;
    full_gradients(&c, "MQA 4:1, rotate_half RoPE, q/k/v biases, untied head");
    lora_gradients();
    decode_and_merge();
    table_and_files();
    return test_summary();
}
