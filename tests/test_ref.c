/*
 * test_ref.c — the C model against PyTorch. tests/ref/gen_ref.py built the
 * same tiny GPT with the same weights in torch (float64) and committed its
 * logits, losses, every base gradient (full mode) and the LoRA gradients
 * (frozen base, adapters on all six targets with per-target ranks) to
 * tests/ref/ref_gpt.safetensors. This test reads only that file: it never
 * needs Python or torch. Each tensor is compared by name; errors are
 * max |c - ref| relative to the tensor's largest entry (tolerance 1e-4).
 */
#include <math.h>
#include <string.h>

#include "../lib/lsc_internal.h"
#include "test.h"

#define FIXTURE "tests/ref/ref_gpt.safetensors"
#define TOL 1e-4

static float *read_f32(const lsc_st_file *f, const char *name, size_t numel)
{
    const lsc_st_tensor *t = lsc_st_find(f, name);
    if (!t || t->numel != numel)
        return NULL;
    float *x = malloc(numel * sizeof(float));
    if (x && lsc_st_read_f32(f, t, x, NULL) != LSC_OK) {
        free(x);
        return NULL;
    }
    return x;
}

static int read_i32(const lsc_st_file *f, const char *name, int *out, size_t numel)
{
    const lsc_st_tensor *t = lsc_st_find(f, name);
    if (!t || t->numel != numel || t->dtype != LSC_DT_I32)
        return -1;
    memcpy(out, lsc_st_bytes(f, t), numel * sizeof(int32_t));
    return 0;
}

/* max |a - ref| / max(max |ref|, floor); NaN when ref is missing */
static double rel_err(const float *a, const float *ref, size_t n, double floor)
{
    if (!ref)
        return NAN;
    double e = 0.0, s = 0.0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - (double)ref[i]));
        s = fmax(s, fabs((double)ref[i]));
    }
    return e / fmax(s, floor);
}

/* The fixture's batch: inputs, targets, mask (B, T). */
typedef struct {
    int    B, T;
    int   *inp, *tgt;   // (B, T)
    float *mask;        // (B, T)
} ref_batch;

/* The base model in full mode: logits, loss and every gradient = torch. */
static void check_base(lsc_gpt *m, const lsc_st_file *f, const ref_batch *bt)
{
    lsc_error err;
    size_t NV = (size_t)bt->B * bt->T * m->config.vocab;
    int ok = lsc_gpt_set_trainable(m, LSC_GPT_FULL, &err) == LSC_OK &&
             lsc_gpt_alloc_acts(m, bt->B, bt->T, &err) == LSC_OK;
    lsc_gpt_zero_grad(m);
    ok = ok && lsc_gpt_forward(m, bt->inp, bt->tgt, bt->mask, bt->B, bt->T, NULL, &err) == LSC_OK &&
         lsc_gpt_backward(m, &err) == LSC_OK;
    CHECK(ok, "base: forward + backward in full mode");
    float *ref = read_f32(f, "base.logits", NV), *rl = read_f32(f, "base.loss", 1);
    double e = rel_err(lsc_gpt_logits(m), ref, NV, 1e-30);
    CHECK(e < TOL, "base logits = torch (maxdiff rel %.2e)", e);
    CHECK(rl && fabs(m->mean_loss - rl[0]) < TOL * rl[0], "base loss %.7f = torch %.7f", (double)m->mean_loss,
          rl ? (double)rl[0] : NAN);
    free(ref), free(rl);
    /* gradient scale of the whole model: the floor for tensors whose
     * gradient is analytically 0 (k_proj.bias) */
    double gs = 0.0;
    for (size_t i = 0; i < m->num_parameters; i++)
        gs = fmax(gs, fabs(m->grads_memory[i]));
    double worst = 0.0;
    const char *wname = "";
    int n_found = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const lsc_gpt_tensor *t = &m->tensors[i];
        char name[96];
        snprintf(name, sizeof name, "full.grad.%s", t->name);
        float *g = read_f32(f, name, t->numel);
        n_found += g != NULL;
        double et = rel_err(m->grads_memory + t->offset, g, t->numel, 1e-3 * gs);
        printf("#   %-32s maxdiff rel %.2e\n", t->name, et);
        if (!(et <= worst))
            worst = et, wname = t->name;
        free(g);
    }
    CHECK(n_found == m->n_tensors && worst < TOL, "full-mode gradients of all %d tensors = torch (worst %.2e at %s)",
          m->n_tensors, worst, wname);

}

/* LoRA on all six targets with the base frozen: logits, loss, dA and dB =
 * torch; merged into W0, the same function. */
static void check_lora(lsc_gpt *m, const lsc_st_file *f, const ref_batch *bt)
{
    lsc_error err;
    size_t NV = (size_t)bt->B * bt->T * m->config.vocab;
    int ok, n_found;
    float *ref, *rl;
    double e;
    lsc_gpt_set_trainable(m, LSC_GPT_FROZEN, &err);
    lsc_lora_config lc;
    memset(&lc, 0, sizeof lc);
    lc.rank[LSC_LORA_Q] = 4, lc.rank[LSC_LORA_K] = 2, lc.rank[LSC_LORA_V] = 4;
    lc.rank[LSC_LORA_O] = 3, lc.rank[LSC_LORA_FC_IN] = 2, lc.rank[LSC_LORA_FC_OUT] = 3;
    lc.alpha = atof(lsc_st_meta(f, "lora_alpha"));
    lsc_lora lo;
    uint64_t rng;
    lsc_rng_seed(&rng, 1);
    ok = lsc_lora_init(&lo, &m->config, &lc, &rng, &err) == LSC_OK;
    int n_ab = 0;
    for (int i = 0; ok && i < lo.n_modules; i++) {
        lsc_lora_module *md = &lo.modules[i];
        char mod[64], name[128];
        lsc_lora_module_name(&lo.model, md->layer, md->target, mod, sizeof mod);
        snprintf(name, sizeof name, "lora.%s.lora_A", mod);
        float *a = read_f32(f, name, (size_t)md->r * md->in);
        snprintf(name, sizeof name, "lora.%s.lora_B", mod);
        float *b = read_f32(f, name, (size_t)md->out * md->r);
        if (a && b) {
            memcpy(md->A, a, (size_t)md->r * md->in * sizeof(float));
            memcpy(md->B, b, (size_t)md->out * md->r * sizeof(float));
            n_ab++;
        }
        free(a), free(b);
    }
    CHECK(ok && n_ab == 12 && lsc_gpt_set_lora(m, &lo, &err) == LSC_OK,
          "adapter from the fixture: 12 modules, ranks q4 k2 v4 o3 fc_in2 fc_out3");
    lsc_gpt_zero_grad(m);
    ok = lsc_gpt_forward(m, bt->inp, bt->tgt, bt->mask, bt->B, bt->T, NULL, &err) == LSC_OK && lsc_gpt_backward(m, &err) == LSC_OK;
    CHECK(ok && m->grads_memory == NULL, "LoRA: forward + backward with the base frozen");
    ref = read_f32(f, "lora.logits", NV), rl = read_f32(f, "lora.loss", 1);
    e = rel_err(lsc_gpt_logits(m), ref, NV, 1e-30);
    CHECK(e < TOL, "LoRA logits = torch (maxdiff rel %.2e)", e);
    CHECK(rl && fabs(m->mean_loss - rl[0]) < TOL * rl[0], "LoRA loss %.7f = torch %.7f", (double)m->mean_loss,
          rl ? (double)rl[0] : NAN);
    free(ref), free(rl);
    double wa = 0.0, wb = 0.0;
    n_found = 0;
    for (int i = 0; i < lo.n_modules; i++) {
        const lsc_lora_module *md = &lo.modules[i];
        char mod[64], name[128];
        lsc_lora_module_name(&lo.model, md->layer, md->target, mod, sizeof mod);
        snprintf(name, sizeof name, "lora.grad.%s.lora_A", mod);
        float *ga = read_f32(f, name, (size_t)md->r * md->in);
        snprintf(name, sizeof name, "lora.grad.%s.lora_B", mod);
        float *gb = read_f32(f, name, (size_t)md->out * md->r);
        n_found += (ga != NULL) + (gb != NULL);
        double ea = rel_err(md->dA, ga, (size_t)md->r * md->in, 1e-30);
        double eb = rel_err(md->dB, gb, (size_t)md->out * md->r, 1e-30);
        printf("#   %-20s dA maxdiff rel %.2e  dB maxdiff rel %.2e\n", mod, ea, eb);
        if (!(ea <= wa))
            wa = ea;
        if (!(eb <= wb))
            wb = eb;
        free(ga), free(gb);
    }
    CHECK(n_found == 24 && wa < TOL, "LoRA dA of all 12 modules = torch (worst %.2e)", wa);
    CHECK(n_found == 24 && wb < TOL, "LoRA dB of all 12 modules = torch (worst %.2e)", wb);

    /* merged into W0, the adapter's function is the same */
    ok = lsc_lora_merge(m, &lo, &err) == LSC_OK &&
         lsc_gpt_forward(m, bt->inp, bt->tgt, bt->mask, bt->B, bt->T, NULL, &err) == LSC_OK;
    ref = read_f32(f, "lora.logits", NV);
    e = rel_err(lsc_gpt_logits(m), ref, NV, 1e-30);
    CHECK(ok && e < TOL, "merged W0 + s·B·A logits = torch's unmerged LoRA (maxdiff rel %.2e)", e);
    free(ref);

    lsc_lora_free(&lo);
}

int main(void)
{
    lsc_error err;
    lsc_st_file f;
    if (lsc_st_open(&f, FIXTURE, &err) != LSC_OK) {
        CHECK(0, "the committed fixture %s opens (%s); regenerate with /usr/bin/python3 tests/ref/gen_ref.py",
              FIXTURE, err.msg);
        return test_summary();
    }
    const char *ver = lsc_st_meta(&f, "lsc_ref_version");
    CHECK(ver && strcmp(ver, "1") == 0, "fixture version 1 (%s)", ver ? ver : "none");
    printf("# fixture made by %s\n", lsc_st_meta(&f, "generator") ? lsc_st_meta(&f, "generator") : "?");

    lsc_gpt m;
    int ok = lsc_gpt_load(&m, FIXTURE, &err) == LSC_OK;
    CHECK(ok, "the fixture loads as a lorascope model (names of DESIGN.md §4)%s%s", ok ? "" : ": ",
          ok ? "" : err.msg);
    if (!ok) {
        lsc_st_close(&f);
        return test_summary();
    }
    int B = atoi(lsc_st_meta(&f, "batch")), T = atoi(lsc_st_meta(&f, "time"));
    int N = B * T;
    int *inp = calloc((size_t)N, sizeof(int)), *tgt = calloc((size_t)N, sizeof(int));
    float *mask = read_f32(&f, "mask", (size_t)N);
    ok = read_i32(&f, "inputs", inp, (size_t)N) == 0 && read_i32(&f, "targets", tgt, (size_t)N) == 0 && mask;
    CHECK(ok, "fixture batch: inputs, targets, mask (B=%d, T=%d)", B, T);

    ref_batch bt = {B, T, inp, tgt, mask};
    check_base(&m, &f, &bt);
    check_lora(&m, &f, &bt);
    lsc_gpt_free(&m);
    lsc_st_close(&f);
    free(inp), free(tgt), free(mask);
    return test_summary();
}
