/*
 * test_qlora.c — the GPT of model.c in NF4 mode (QLoRA, issue 6): frozen
 * linear weights held 4-bit, LoRA adapters trained through deq(W).
 *
 * What is checked:
 *  - construction: lsc_gpt_init_nf4 = init + init_weights + lsc_gpt_quantize
 *    bit for bit; lsc_gpt_dequantize = deq(Q(W)) written by hand;
 *  - memory: no fp32 storage for the quantised matrices (views NULL, buffer
 *    size, lsc_gpt_weight_bytes by part, and the heap measured with
 *    mallinfo2 around construction and around lsc_gpt_quantize);
 *  - forward of the NF4 model = the fp32 model holding deq(W) (1e-5), LoRA
 *    gradients through the dequantised weights = the fp32-deq model's, and
 *    = central finite differences (4-point stencil, directional and per
 *    coordinate) of the NF4 model's own loss;
 *  - files: save/load of an NF4 model in bitsandbytes' layout, loading
 *    lsc_nf4_quantize_file's output, lsc_gpt_load_nf4 of an fp32 file
 *    (all targets, and q,v only), a file with one NF4 layer of a target
 *    (dequantised on load), an NF4 tensor of the wrong shape;
 *  - merge on an NF4 base gives fp32 deq(W) + s·B·A;
 *  - error paths with code and message.
 * Shapes: B, T, C, V, L as in lsc.h; N = B·T.
 */
#include <malloc.h>
#include <math.h>
#include <string.h>

#include "../lib/lsc_internal.h"
#include "test.h"

#define BB 2
#define TT 6

static const lsc_gpt_config CFG = {.n_layer = 2, .n_head = 2, .n_embd = 64, .n_ctx = 8, .vocab = 32};

static double maxabs(const float *a, size_t n)
{
    double e = 0.0;
    for (size_t i = 0; i < n; i++)
        e = fmax(e, fabs((double)a[i]));
    return e;
}

static double maxabs_diff(const float *a, const float *b, size_t n)
{
    double e = 0.0;
    for (size_t i = 0; i < n; i++)
        e = fmax(e, fabs((double)a[i] - (double)b[i]));
    return e;
}

static size_t heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* Same 4-bit data, scales and metadata. */
static int nf4_equal(const lsc_nf4 *a, const lsc_nf4 *b)
{
    if (a->d != b->d || a->k != b->k || a->blocksize != b->blocksize || a->nested != b->nested ||
        a->n_blocks != b->n_blocks)
        return 0;
    if (memcmp(a->packed, b->packed, (a->n + 1) / 2) != 0)
        return 0;
    if (a->nested)
        return memcmp(a->qabsmax, b->qabsmax, a->n_blocks) == 0 && a->n_nested == b->n_nested &&
               memcmp(a->nested_absmax, b->nested_absmax, a->n_nested * sizeof(float)) == 0 &&
               a->offset == b->offset;
    return memcmp(a->absmax, b->absmax, a->n_blocks * sizeof(float)) == 0;
}

static int models_nf4_equal(const lsc_gpt *a, const lsc_gpt *b)
{
    if (a->quant_targets != b->quant_targets)
        return 0;
    for (int l = 0; l < a->config.n_layer; l++)
        for (int t = 0; t < LSC_LORA_NTARGETS; t++) {
            const lsc_nf4 *qa = lsc_gpt_nf4(a, l, t), *qb = lsc_gpt_nf4(b, l, t);
            if ((qa == NULL) != (qb == NULL) || (qa && !nf4_equal(qa, qb)))
                return 0;
        }
    return 1;
}

/* A LoRA on every target of every layer, rank 4, A from the init and B
 * random (so that dA is not zero). */
static int make_lora(lsc_lora *lo, uint64_t seed)
{
    lsc_lora_config lc = {.rank = {4, 4, 4, 4, 4, 4}, .alpha = 8.0};
    uint64_t rng;
    lsc_rng_seed(&rng, seed);
    if (lsc_lora_init(lo, &CFG, &lc, &rng, NULL) != LSC_OK)
        return -1;
    for (int i = 0; i < lo->n_modules; i++) {
        lsc_lora_module *md = &lo->modules[i];
        for (size_t j = 0; j < (size_t)md->out * md->r; j++)
            md->B[j] = (float)(0.2 * (2.0 * lsc_rng_uniform_d(&rng) - 1.0));
    }
    return 0;
}

static void make_batch(int *inp, int *tgt, uint64_t seed)
{
    uint64_t rng;
    lsc_rng_seed(&rng, seed);
    for (int i = 0; i < BB * TT; i++) {
        inp[i] = (int)(lsc_rng_u32(&rng) % (uint32_t)CFG.vocab);
        tgt[i] = (int)(lsc_rng_u32(&rng) % (uint32_t)CFG.vocab);
    }
}

/* Mean loss of a forward, summed in double from the per-position CE. */
static double loss_of(lsc_gpt *m, const int *inp, const int *tgt)
{
    if (lsc_gpt_forward(m, inp, tgt, NULL, BB, TT, NULL, NULL) != LSC_OK)
        return NAN;
    const float *l = lsc_gpt_losses(m);
    double s = 0.0;
    for (int i = 0; i < BB * TT; i++)
        s += l[i];
    return s / (BB * TT);
}

/* Copies the model file src (written by lsc_gpt_save, the library's saver)
 * to path with the F32 tensor `name` replaced by the NF4 weight q. Only that
 * replacement is made by hand, because it is deliberately what the saver
 * never writes (a target NF4 in one layer only, or an NF4 weight of the
 * wrong shape); every other tensor and the __metadata__ are the saver's. */
static int write_with_nf4(const char *path, const char *src, const char *name, const lsc_nf4 *q)
{
    lsc_st_file sf;
    lsc_st_entry e[256];
    lsc_nf4_st st;
    int ne = 0, rc = -1;
    if (lsc_st_open(&sf, src, NULL) != LSC_OK)
        return -1;
    if (sf.n_tensors + 6 > 256 || lsc_nf4_st_entries(&st, q, name, NULL) != LSC_OK)
        goto done;
    for (int i = 0; i < sf.n_tensors; i++) {
        const lsc_st_tensor *t = &sf.tensors[i];
        if (strcmp(t->name, name) == 0) {
            for (int j = 0; j < st.n; j++)
                e[ne++] = st.entries[j];
            continue;
        }
        e[ne] = (lsc_st_entry){.name = t->name, .dtype = t->dtype, .ndim = t->ndim,
                               .data = lsc_st_bytes(&sf, t)};
        memcpy(e[ne].shape, t->shape, sizeof t->shape);
        ne++;
    }
    rc = lsc_st_write(path, e, ne, (const char *const *)sf.meta_keys, (const char *const *)sf.meta_vals,
                      sf.n_meta, NULL) == LSC_OK ? 0 : -1;
done:
    lsc_st_close(&sf);
    return rc;
}

// ---- construction and memory ----

static void test_construction(void)
{
    lsc_error err;
    lsc_nf4_opts opts = {64, 1, NULL};
    lsc_gpt q, r, man;
    uint64_t rq, rr, rm;
    lsc_rng_seed(&rq, 7);
    lsc_rng_seed(&rr, 7);
    lsc_rng_seed(&rm, 7);
    int ok = lsc_gpt_init_nf4(&q, &CFG, &opts, &rq, &err) == LSC_OK;
    ok &= lsc_gpt_init(&r, &CFG, &err) == LSC_OK;
    lsc_gpt_init_weights(&r, &rr);
    size_t fp32_params = r.num_parameters;
    ok &= lsc_gpt_quantize(&r, &opts, &err) == LSC_OK;
    CHECK(ok && rq == rr && models_nf4_equal(&q, &r) && q.num_parameters == r.num_parameters &&
              memcmp(q.params_memory, r.params_memory, q.num_parameters * sizeof(float)) == 0,
          "lsc_gpt_init_nf4 = init + init_weights + lsc_gpt_quantize, bit for bit (same rng use)");

    /* what NF4 mode holds */
    size_t C = (size_t)CFG.n_embd, L = (size_t)CFG.n_layer, lin = L * 12 * C * C;
    const lsc_gpt_params *p = &q.params;
    int nul = !p->qw && !p->kw && !p->vw && !p->ow && !p->fcw && !p->fcprojw && p->qb && p->fcprojb &&
              p->wte && p->ln1w;
    int flags = 1;
    for (int i = 0; i < q.n_tensors; i++) {
        const lsc_gpt_tensor *t = &q.tensors[i];
        size_t n = strlen(t->name);
        int lin_w = strncmp(t->name, "h.", 2) == 0 && n > 7 && strcmp(t->name + n - 7, ".weight") == 0 &&
                    t->ndim == 2;
        flags &= t->nf4 == lin_w;
    }
    CHECK(q.quant_targets == 63 && nul && flags && q.num_quantized == lin &&
              q.num_parameters + q.num_quantized == fp32_params,
          "NF4 mode: the 6L linear weights are not in params_memory (%zu fp32 + %zu NF4 = %zu), views NULL",
          q.num_parameters, q.num_quantized, fp32_params);
    lsc_gpt_bytes pb;
    size_t total = lsc_gpt_weight_bytes(&q, &pb);
    size_t want_nf4 = 0;
    for (int l = 0; l < CFG.n_layer; l++)
        for (int t = 0; t <= LSC_LORA_FC_OUT; t++) {
            const lsc_nf4 *qq = lsc_gpt_nf4(&q, l, t);
            want_nf4 += qq->n / 2 + qq->n_blocks + 4 * qq->n_nested + 4;
        }
    double bits = 8.0 * (double)pb.nf4 / (double)q.num_quantized;
    CHECK(pb.fp32 == q.num_parameters * sizeof(float) && pb.nf4 == want_nf4 &&
              total == pb.fp32 + pb.nf4 + pb.tile && pb.tile == q.nf4_tile_floats * sizeof(float) &&
              fabs(bits - (4.0 + lsc_nf4_bits_nominal(64, 1))) < 0.01,
          "lsc_gpt_weight_bytes: fp32 %zu + nf4 %zu (%.4f bits/param) + tile %zu", pb.fp32, pb.nf4, bits,
          pb.tile);

    /* dequantize = deq(Q(W)) by hand */
    ok = lsc_gpt_init(&man, &CFG, &err) == LSC_OK;
    lsc_gpt_init_weights(&man, &rm);
    for (int l = 0; ok && l < CFG.n_layer; l++)
        for (int t = 0; t <= LSC_LORA_FC_OUT; t++) {
            float *w, *b;
            int out, in;
            lsc_gpt_linear(&man, l, t, &w, &b, &out, &in);
            lsc_nf4 qq;
            ok &= lsc_nf4_quantize(&qq, w, (size_t)out, (size_t)in, 64, 1, &err) == LSC_OK;
            lsc_nf4_dequant_rows(&qq, 0, (size_t)out, w);
            lsc_nf4_free(&qq);
        }
    ok &= lsc_gpt_dequantize(&r, &err) == LSC_OK;
    CHECK(ok && r.quant_targets == 0 && r.nf4 == NULL && r.nf4_tile == NULL && r.num_quantized == 0 &&
              r.num_parameters == man.num_parameters && r.params.qw != NULL &&
              memcmp(r.params_memory, man.params_memory, r.num_parameters * sizeof(float)) == 0,
          "lsc_gpt_dequantize gives an fp32 model holding exactly deq(Q(W))");
    CHECK(lsc_gpt_dequantize(&r, &err) == LSC_OK, "lsc_gpt_dequantize of an fp32 model is a no-op");
    lsc_gpt_free(&q);
    lsc_gpt_free(&r);
    lsc_gpt_free(&man);
}

static void test_memory(void)
{
    /* a model where the matrices dominate: L=2, C=256 (1.57M linear weights) */
    lsc_gpt_config big = {.n_layer = 2, .n_head = 4, .n_embd = 256, .n_ctx = 16, .vocab = 64};
    lsc_error err;
    lsc_nf4_opts opts = {64, 1, NULL};
    lsc_gpt q, f;
    uint64_t rng;
    size_t lin = 2 * 12 * 256 * 256;

    if (getenv("LSC_ASAN")) {   /* mallinfo2 does not see ASan's allocator */
        test_skip("heap measurements of NF4 construction and quantize", "LSC_ASAN is set: mallinfo2 does not see ASan's allocator");
        return;
    }
    lsc_rng_seed(&rng, 3);
    size_t h0 = heap_bytes();
    int ok = lsc_gpt_init_nf4(&q, &big, &opts, &rng, &err) == LSC_OK;
    size_t h1 = heap_bytes();
    size_t used = h1 - h0, pred = lsc_gpt_weight_bytes(&q, NULL);
    size_t tables = (size_t)q.n_tensors * sizeof(lsc_gpt_tensor) + (size_t)big.n_layer * LSC_LORA_NTARGETS * sizeof(lsc_nf4);
    size_t fp32_bytes = (q.num_parameters + q.num_quantized) * sizeof(float);
    /* the tile (1 MiB here) is a constant, small against a real model */
    size_t tile = q.nf4_tile_floats * sizeof(float);
    CHECK(ok && used <= pred + tables + 4096 && used + 4096 >= pred && used < fp32_bytes / 6 + tile,
          "heap after lsc_gpt_init_nf4: %zu bytes = weight_bytes %zu (+ tables %zu); fp32 model %zu "
          "(%.3fx; %.3fx without the %zu-byte tile)", used, pred, tables, fp32_bytes,
          (double)used / (double)fp32_bytes, ((double)used - (double)tile) / (double)fp32_bytes, tile);

    lsc_rng_seed(&rng, 3);
    size_t h2 = heap_bytes();
    ok = lsc_gpt_init(&f, &big, &err) == LSC_OK;
    lsc_gpt_init_weights(&f, &rng);
    size_t h3 = heap_bytes();
    ok &= lsc_gpt_quantize(&f, &opts, &err) == LSC_OK;
    size_t h4 = heap_bytes();
    CHECK(ok && h3 - h2 >= fp32_bytes && h4 - h2 <= pred + tables + 4096 &&
              h3 - h4 + tables + 4096 >= lin * sizeof(float) - (pred - f.num_parameters * sizeof(float)),
          "lsc_gpt_quantize releases the fp32 matrices: heap %zu -> %zu bytes (%.3fx)", h3 - h2, h4 - h2,
          (double)(h4 - h2) / (double)(h3 - h2));
    CHECK(models_nf4_equal(&q, &f), "big model: init_nf4 = init + quantize");
    lsc_gpt_free(&q);
    lsc_gpt_free(&f);
}

// ---- forward, gradients ----

static void test_forward_grad(void)
{
    lsc_error err;
    lsc_nf4_opts opts = {64, 1, NULL};
    lsc_gpt q, d;
    lsc_lora lq, ld;
    uint64_t r1, r2;
    int inp[BB * TT], tgt[BB * TT];
    lsc_rng_seed(&r1, 11);
    lsc_rng_seed(&r2, 11);
    int ok = lsc_gpt_init_nf4(&q, &CFG, &opts, &r1, &err) == LSC_OK;
    ok &= lsc_gpt_init(&d, &CFG, &err) == LSC_OK;
    lsc_gpt_init_weights(&d, &r2);
    ok &= lsc_gpt_quantize(&d, &opts, &err) == LSC_OK && lsc_gpt_dequantize(&d, &err) == LSC_OK;
    ok &= make_lora(&lq, 5) == 0 && make_lora(&ld, 5) == 0;
    ok &= lsc_gpt_alloc_acts(&q, BB, TT, &err) == LSC_OK && lsc_gpt_alloc_acts(&d, BB, TT, &err) == LSC_OK;
    ok &= lsc_gpt_set_lora(&q, &lq, &err) == LSC_OK && lsc_gpt_set_lora(&d, &ld, &err) == LSC_OK;
    make_batch(inp, tgt, 99);
    if (!CHECK(ok, "set up an NF4 model and the fp32 model holding deq(W), same LoRA")) {
        printf("  %s\n", err.msg);
        return;
    }
    double lossq = loss_of(&q, inp, tgt), lossd = loss_of(&d, inp, tgt);
    size_t nl = (size_t)BB * TT * CFG.vocab;
    double e = maxabs_diff(lsc_gpt_logits(&q), lsc_gpt_logits(&d), nl), s = maxabs(lsc_gpt_logits(&d), nl);
    CHECK(e <= 1e-5 * s && fabs(lossq - lossd) <= 1e-5 * fabs(lossd),
          "forward: NF4 model = fp32 model holding deq(W) (logits max diff %.2e of %.2e, loss %.7f vs %.7f)",
          e, s, lossq, lossd);

    lsc_gpt_zero_grad(&q);
    lsc_gpt_zero_grad(&d);
    ok = lsc_gpt_forward(&q, inp, tgt, NULL, BB, TT, NULL, &err) == LSC_OK &&
         lsc_gpt_backward(&q, &err) == LSC_OK &&
         lsc_gpt_forward(&d, inp, tgt, NULL, BB, TT, NULL, &err) == LSC_OK &&
         lsc_gpt_backward(&d, &err) == LSC_OK;
    size_t np = lq.num_parameters;
    double ge = maxabs_diff(lq.grads, ld.grads, np), gs = maxabs(ld.grads, np);
    CHECK(ok && gs > 0 && ge <= 1e-5 * gs,
          "LoRA gradients through the NF4 layers = through the fp32 deq(W) layers (max diff %.2e of %.2e)", ge,
          gs);

    /* finite differences of the NF4 model's loss */
    float *g = malloc(np * sizeof *g), *p0 = malloc(np * sizeof *p0);
    memcpy(g, lq.grads, np * sizeof *g);
    memcpy(p0, lq.params, np * sizeof *p0);
    double gn = 0.0;
    for (size_t i = 0; i < np; i++)
        gn += (double)g[i] * g[i];
    gn = sqrt(gn);
    /* directional: along g/|g|, so the derivative is |g| */
    double h = 3e-3, f[4], steps[4] = {2, 1, -1, -2};
    for (int k = 0; k < 4; k++) {
        for (size_t i = 0; i < np; i++)
            lq.params[i] = (float)((double)p0[i] + steps[k] * h * g[i] / gn);
        f[k] = loss_of(&q, inp, tgt);
    }
    memcpy(lq.params, p0, np * sizeof *p0);
    double fd = (-f[0] + 8 * f[1] - 8 * f[2] + f[3]) / (12 * h);
    CHECK(fabs(fd - gn) <= 2e-4 * gn, "directional derivative along the gradient: finite differences %.6f, "
                                      "backward |g| = %.6f (rel %.1e)", fd, gn, fabs(fd - gn) / gn);
    /* per coordinate: the 8 largest |g| entries and 8 random ones, A and B of
     * a layer-0 module (their gradient crosses layer 1's NF4 weights) */
    int worst_ok = 1;
    double worst = 0.0;
    uint64_t rng;
    lsc_rng_seed(&rng, 17);
    size_t picks[16];
    for (int k = 0; k < 8; k++) {
        size_t best = 0;
        double bv = -1.0;
        for (size_t i = 0; i < np; i++) {
            int used = 0;
            for (int j = 0; j < k; j++)
                used |= picks[j] == i;
            if (!used && fabs(g[i]) > bv)
                bv = fabs(g[i]), best = i;
        }
        picks[k] = best;
    }
    const lsc_lora_module *m0 = &lq.modules[0];
    for (int k = 8; k < 16; k++)
        picks[k] = m0->offset + lsc_rng_u32(&rng) % (uint32_t)((size_t)m0->r * (m0->in + m0->out));
    for (int k = 0; k < 16; k++) {
        size_t i = picks[k];
        double hc = 3e-3;
        for (int j = 0; j < 4; j++) {
            lq.params[i] = (float)((double)p0[i] + steps[j] * hc);
            f[j] = loss_of(&q, inp, tgt);
        }
        lq.params[i] = p0[i];
        double fdi = (-f[0] + 8 * f[1] - 8 * f[2] + f[3]) / (12 * hc);
        /* the loss is float: the differences carry ~1e-5 of noise here
         * (measured), so judge against 1% of |g| plus a 3e-5 floor */
        double dev = fabs(fdi - g[i]) / (1e-2 * fabs(g[i]) + 3e-5);
        worst = fmax(worst, dev);
        worst_ok &= dev <= 1.0;
        if (getenv("QLORA_VERBOSE"))
            printf("  coord %zu: backward %.6e fd %.6e\n", i, (double)g[i], fdi);
    }
    CHECK(worst_ok, "16 coordinates of dA/dB vs 4-point finite differences of the NF4 loss "
                    "(worst |fd - g| / (1%% |g| + 3e-5) = %.2f)", worst);
    free(g);
    free(p0);

    /* a frozen NF4 model without adapter: backward has nothing to do */
    lsc_gpt_set_lora(&q, NULL, &err);
    ok = lsc_gpt_forward(&q, inp, tgt, NULL, BB, TT, NULL, &err) == LSC_OK && lsc_gpt_backward(&q, &err) == LSC_OK;
    CHECK(ok, "backward of an NF4 model without adapter is a no-op");
    lsc_lora_free(&lq);
    lsc_lora_free(&ld);
    lsc_gpt_free(&q);
    lsc_gpt_free(&d);
}

// ---- files and merge ----

/* q (NF4) saved to pq (saved: the saves succeeded) and reloaded; the
 * file-level quantiser of the fp32 file pf; lsc_gpt_load_nf4 of pf with all
 * targets, then q,v only. */
static void files_reload(lsc_gpt *q, int saved, const char *pq, const char *pf, const int *inp, const int *tgt)
{
    lsc_error err;
    lsc_nf4_opts opts = {64, 1, NULL};
    lsc_gpt back, ld, nf;
    lsc_st_file sf;
    int role = -1;
    if (saved && lsc_st_open(&sf, pq, &err) == LSC_OK) {
        role = lsc_nf4_st_role(&sf, "h.1.mlp.fc_out.weight");
        lsc_st_close(&sf);
    }
    int ok = saved && lsc_gpt_load(&back, pq, &err) == LSC_OK;
    CHECK(ok && role == LSC_NF4_ROLE_WEIGHT && models_nf4_equal(q, &back) &&
              back.num_parameters == q->num_parameters &&
              memcmp(back.params_memory, q->params_memory, q->num_parameters * sizeof(float)) == 0,
          "an NF4 model saves in bitsandbytes' layout and lsc_gpt_load keeps it NF4 (same bits)");
    ok &= lsc_gpt_alloc_acts(q, BB, TT, &err) == LSC_OK && lsc_gpt_alloc_acts(&back, BB, TT, &err) == LSC_OK;
    double l1 = loss_of(q, inp, tgt), l2 = loss_of(&back, inp, tgt);
    CHECK(ok && l1 == l2, "the reloaded NF4 model gives the same loss bit for bit (%.7f)", l1);
    lsc_gpt_free(&back);

    /* the file-level quantiser and the model's agree */
    lsc_nf4_stats st;
    ok = lsc_nf4_quantize_file(pf, test_tmp("qfile.safetensors"), &opts, &st, &err) == LSC_OK;
    ok &= lsc_gpt_load(&nf, test_tmp("qfile.safetensors"), &err) == LSC_OK;
    CHECK(ok && models_nf4_equal(&nf, q), "lsc_gpt_load of `lorascope quantize`'s file = lsc_gpt_init_nf4 "
                                          "(%.4f bits/param in total)", st.bits_total);
    lsc_gpt_free(&nf);

    /* lsc_gpt_load_nf4 of the fp32 file: everything, then q,v only */
    ok = lsc_gpt_load_nf4(&nf, pf, &opts, &err) == LSC_OK;
    CHECK(ok && models_nf4_equal(&nf, q), "lsc_gpt_load_nf4 of the fp32 file quantises while loading (= init_nf4)");
    lsc_gpt_free(&nf);
    lsc_nf4_opts qv = {64, 0, "q,v_proj"};
    ok = lsc_gpt_load_nf4(&nf, pf, &qv, &err) == LSC_OK;
    ok &= lsc_gpt_load(&ld, pf, &err) == LSC_OK;
    ok &= lsc_gpt_quantize(&ld, &qv, &err) == LSC_OK;
    CHECK(ok && nf.quant_targets == ((1 << LSC_LORA_Q) | (1 << LSC_LORA_V)) && models_nf4_equal(&nf, &ld) &&
              !lsc_gpt_nf4(&nf, 0, LSC_LORA_Q)->nested && nf.params.kw != NULL && nf.params.qw == NULL,
          "--targets q,v_proj without double quant: only Wq, Wv are NF4 (quant_targets %d)", nf.quant_targets);
    lsc_gpt_free(&ld);
    lsc_gpt_free(&nf);
}

/* Files the saver never writes, made from the fp32 model f saved in pf: one
 * layer's q_proj in NF4, and an NF4 q_proj of the wrong shape. */
static void files_nf4_one_layer(const lsc_gpt *f, const char *pf)
{
    lsc_error err;
    lsc_gpt ld;
    const char *pm = test_tmp("mixed.safetensors");
    /* a file with only h.0's q_proj in NF4: q stays fp32, holding deq there */
    lsc_nf4 one, wrong;
    float *w, *b;
    int out, in;
    lsc_gpt_linear(f, 0, LSC_LORA_Q, &w, &b, &out, &in);
    int ok = lsc_nf4_quantize(&one, w, (size_t)out, (size_t)in, 64, 1, &err) == LSC_OK;
    const char *nm = "h.0.attn.q_proj.weight";
    ok &= write_with_nf4(pm, pf, nm, &one) == 0;
    ok &= lsc_gpt_load(&ld, pm, &err) == LSC_OK;
    float *deq = malloc((size_t)out * in * sizeof *deq);
    lsc_nf4_dequant_rows(&one, 0, (size_t)out, deq);
    float *w2;
    lsc_gpt_linear(&ld, 0, LSC_LORA_Q, &w2, &b, &out, &in);
    float *w1;
    lsc_gpt_linear(&ld, 1, LSC_LORA_Q, &w1, &b, &out, &in);
    float *wf1;
    lsc_gpt_linear(f, 1, LSC_LORA_Q, &wf1, &b, &out, &in);
    CHECK(ok && ld.quant_targets == 0 && memcmp(w2, deq, (size_t)out * in * sizeof *deq) == 0 &&
              memcmp(w1, wf1, (size_t)out * in * sizeof *deq) == 0,
          "a target NF4 in one layer only is dequantised on load (the other layers as stored)");
    lsc_gpt_free(&ld);
    free(deq);

    /* an NF4 tensor of the wrong shape */
    char pb[512];
    snprintf(pb, sizeof pb, "%s", test_tmp("bad.safetensors"));
    float *big = calloc((size_t)out * 2 * in, sizeof *big);
    for (size_t i = 0; i < (size_t)out * 2 * in; i++)
        big[i] = (float)(i % 7) - 3.0f;
    ok = lsc_nf4_quantize(&wrong, big, (size_t)out, 2 * (size_t)in, 64, 1, &err) == LSC_OK;
    ok &= write_with_nf4(pb, pf, nm, &wrong) == 0;
    int rc = lsc_gpt_load(&ld, pb, &err);
    CHECK(ok && rc == LSC_ESHAPE && strstr(err.msg, "h.0.attn.q_proj.weight") && strstr(err.msg, pb) &&
              ld.params_memory == NULL,
          "an NF4 tensor of the wrong shape: LSC_ESHAPE naming file and tensor (%s)", err.msg);
    free(big);
    lsc_nf4_free(&one);
    lsc_nf4_free(&wrong);
}

/* merge on the NF4 base (q saved in pq): fp32 deq(W) + s·B·A */
static void files_merge(lsc_gpt *q, const char *pq, const int *inp, const int *tgt)
{
    lsc_error err;
    lsc_gpt lq2;
    lsc_lora lo, lo2;
    float *w, *b;
    int out, in;
    int ok = lsc_gpt_load(&lq2, pq, &err) == LSC_OK && make_lora(&lo, 8) == 0 && make_lora(&lo2, 8) == 0;
    ok &= lsc_gpt_set_lora(q, &lo2, &err) == LSC_OK;
    double lu = loss_of(q, inp, tgt);
    float lg[BB * TT * 32];
    memcpy(lg, lsc_gpt_logits(q), sizeof lg);
    ok &= lsc_gpt_alloc_acts(&lq2, BB, TT, &err) == LSC_OK && lsc_gpt_set_lora(&lq2, &lo, &err) == LSC_OK;
    ok &= lsc_lora_merge(&lq2, &lo, &err) == LSC_OK;
    double lm = ok ? loss_of(&lq2, inp, tgt) : NAN;
    double e = maxabs_diff(lg, lsc_gpt_logits(&lq2), sizeof lg / sizeof lg[0]);
    /* the weights themselves: deq(W) + s·B·A */
    double we = 0.0;
    lsc_gpt_linear(&lq2, 1, LSC_LORA_V, &w, &b, &out, &in);
    const lsc_nf4 *qv1 = lsc_gpt_nf4(q, 1, LSC_LORA_V);
    const lsc_lora_module *md = lsc_lora_find(&lo, 1, LSC_LORA_V);
    float *row = malloc((size_t)in * sizeof *row);
    for (int i = 0; ok && i < out; i++) {
        lsc_nf4_dequant_rows(qv1, (size_t)i, 1, row);
        for (int j = 0; j < in; j++) {
            double s = 0.0;
            for (int k = 0; k < md->r; k++)
                s += (double)md->B[i * md->r + k] * md->A[(size_t)k * in + j];
            we = fmax(we, fabs((double)w[(size_t)i * in + j] - ((double)row[j] + md->scale * s)));
        }
    }
    free(row);
    CHECK(ok && lq2.quant_targets == 0 && lo.merged && we < 1e-6 && e < 1e-5 * maxabs(lg, sizeof lg / sizeof lg[0]) &&
              fabs(lm - lu) < 1e-5 * lu,
          "merge on an NF4 base: W = deq(W_nf4) + s·B·A (max err %.1e), merged forward = QLoRA forward "
          "(logits %.1e)", we, e);
    lsc_gpt_set_lora(q, NULL, &err);
    lsc_lora_free(&lo);
    lsc_lora_free(&lo2);
    lsc_gpt_free(&lq2);
}

/* save/load of an NF4 model, files the saver never writes, merge */
static void test_files(void)
{
    lsc_error err;
    lsc_nf4_opts opts = {64, 1, NULL};
    char pq[512], pf[512];
    snprintf(pq, sizeof pq, "%s", test_tmp("nf4.safetensors"));
    snprintf(pf, sizeof pf, "%s", test_tmp("fp32.safetensors"));
    lsc_gpt q, f;
    uint64_t r1, r2;
    int inp[BB * TT], tgt[BB * TT];
    make_batch(inp, tgt, 4);
    lsc_rng_seed(&r1, 21);
    lsc_rng_seed(&r2, 21);
    int ok = lsc_gpt_init_nf4(&q, &CFG, &opts, &r1, &err) == LSC_OK && lsc_gpt_init(&f, &CFG, &err) == LSC_OK;
    lsc_gpt_init_weights(&f, &r2);
    ok &= lsc_gpt_save(&q, pq, &err) == LSC_OK && lsc_gpt_save(&f, pf, &err) == LSC_OK;
    files_reload(&q, ok, pq, pf, inp, tgt);
    files_nf4_one_layer(&f, pf);
    files_merge(&q, pq, inp, tgt);
    lsc_gpt_free(&q);
    lsc_gpt_free(&f);
}

// ---- errors ----

static void test_errors(void)
{
    lsc_error err;
    lsc_gpt q, f;
    uint64_t rng;
    lsc_rng_seed(&rng, 1);
    lsc_nf4_opts bad_bs = {48, 1, NULL}, bad_t = {64, 1, "q,wte"}, empty = {64, 1, " , "};
    int rc = lsc_gpt_init_nf4(&q, &CFG, &bad_bs, &rng, &err);
    CHECK(rc == LSC_EARG && strstr(err.msg, "blocksize 48") && q.params_memory == NULL,
          "blocksize 48: LSC_EARG (%s)", err.msg);
    rc = lsc_gpt_init_nf4(&q, &CFG, &bad_t, &rng, &err);
    CHECK(rc == LSC_EARG && strstr(err.msg, "'wte'"), "target wte: LSC_EARG (%s)", err.msg);
    rc = lsc_gpt_init_nf4(&q, &CFG, &empty, &rng, &err);
    CHECK(rc == LSC_EARG && strstr(err.msg, "empty"), "empty target list: LSC_EARG (%s)", err.msg);

    lsc_nf4_opts opts = {64, 1, NULL};
    int ok = lsc_gpt_init_nf4(&q, &CFG, &opts, &rng, &err) == LSC_OK;
    rc = lsc_gpt_set_trainable(&q, LSC_GPT_FULL, &err);
    CHECK(ok && rc == LSC_EARG && strstr(err.msg, "NF4") && q.grads_memory == NULL && q.mode == LSC_GPT_FROZEN,
          "full fine-tuning of an NF4 model: LSC_EARG (%s)", err.msg);
    lsc_gpt_free(&q);

    ok = lsc_gpt_init(&f, &CFG, &err) == LSC_OK;
    lsc_gpt_init_weights(&f, &rng);
    ok &= lsc_gpt_set_trainable(&f, LSC_GPT_FULL, &err) == LSC_OK;
    float *before = f.params_memory;
    rc = lsc_gpt_quantize(&f, &opts, &err);
    CHECK(ok && rc == LSC_EARG && strstr(err.msg, "full fine-tuning") && f.params_memory == before &&
              f.quant_targets == 0,
          "quantising a model in full mode: LSC_EARG, model unchanged (%s)", err.msg);
    lsc_gpt_set_trainable(&f, LSC_GPT_FROZEN, &err);
    lsc_lora lo;
    ok = make_lora(&lo, 2) == 0 && lsc_gpt_set_lora(&f, &lo, &err) == LSC_OK && lsc_lora_merge(&f, &lo, &err) == LSC_OK;
    rc = lsc_gpt_quantize(&f, &opts, &err);
    CHECK(ok && rc == LSC_EARG && strstr(err.msg, "merged") && f.quant_targets == 0,
          "quantising with a merged adapter: LSC_EARG (%s)", err.msg);
    ok = lsc_lora_unmerge(&f, &lo, &err) == LSC_OK;
    /* partial then more: q first, then everything; q is kept as it was */
    lsc_nf4_opts only_q = {128, 0, "q"};
    ok &= lsc_gpt_quantize(&f, &only_q, &err) == LSC_OK && lsc_gpt_quantize(&f, &opts, &err) == LSC_OK;
    CHECK(ok && f.quant_targets == 63 && lsc_gpt_nf4(&f, 0, LSC_LORA_Q)->blocksize == 128 &&
              lsc_gpt_nf4(&f, 0, LSC_LORA_K)->blocksize == 64,
          "quantising in two steps keeps the targets already NF4 as they were");
    lsc_lora_free(&lo);
    lsc_gpt_free(&f);

    char p[512];
    snprintf(p, sizeof p, "%s", test_tmp("missing.safetensors"));
    rc = lsc_gpt_load_nf4(&q, p, &opts, &err);
    CHECK(rc == LSC_EIO && strstr(err.msg, p), "lsc_gpt_load_nf4 of a missing file: LSC_EIO (%s)", err.msg);
}

int main(void)
{
    if (test_tmpdir_make("qlora") != 0)
        return 1;
    test_construction();
    test_memory();
    test_forward_grad();
    test_files();
    test_errors();
    test_tmpdir_remove();
    return test_summary();
}
