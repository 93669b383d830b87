/*
 * test_llama2c.c — llama2.c checkpoints (lib/model_llama2c.c) read as
 * Llama models.
 *   A tiny random model written here in run.c's order (v0, tied and
 *   untied) and as export.py's version 1: every Hugging Face tensor, looked
 *   up by name, holds exactly the floats written for its llama2.c tensor
 *   and layer; v1 loads the same model as v0; lsc_gpt_load dispatches to
 *   the reader, and the model saved as safetensors loads back equal.
 *   Bad input, code and message: truncated, trailing bytes, each header
 *   check (named field), NaN/Inf naming the tensor, version 2 refused; the
 *   file sniffing (safetensors, text, missing file are not llama2.c).
 *   stories260K (shared fixtures): its config, a tensor at an offset
 *   computed here, and the key/value-cached decoding step against the
 *   full forward on real text (1e-5 relative). NF4 loading of it.
 * The logits against the numpy reference: tests/test_generate_llama.py.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsc.h"
#include "lsc_internal.h"
#include "test.h"

// ---- writing files ----

typedef struct buf {
    unsigned char *p;
    size_t         n, cap;
} buf;

static void put(buf *b, const void *x, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = 2 * (b->n + n);
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->n, x, n);
    b->n += n;
}

static void put_i32(buf *b, int32_t v)
{
    put(b, &v, 4);   /* little-endian hosts only, as llama2.c itself */
}

static int write_file(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    size_t w = fwrite(p, 1, n, fp);
    return fclose(fp) == 0 && w == n ? 0 : -1;
}

// ---- a tiny model in both formats ----

enum { C = 8, F = 12, L = 2, NH = 2, NKV = 1, V = 16, SEQ = 8, HS = C / NH, KVD = NKV * HS };
enum { G_EMBED, G_ATT, G_WQ, G_WK, G_WV, G_WO, G_FFN, G_W1, G_W2, G_W3, G_FIN, G_ROPE, G_WCLS, NG };

/* The llama2.c tensors of the tiny model, in v0's order (G_ROPE: both tables). */
static const size_t gsize[NG] = {V * C, L * C, L * C * C, L * KVD * C, L * KVD * C, L * C * C, L * C,
                                 L * F * C, L * C * F,   L * F * C, C,     2 * SEQ * HS / 2, V * C};
static float *gdata[NG];

/* A 64-bit LCG: its multiply-add wraps on purpose (LSC_WRAPS). */
LSC_WRAPS static void make_weights(void)
{
    uint64_t s = 42;
    for (int g = 0; g < NG; g++) {
        gdata[g] = malloc(gsize[g] * sizeof(float));
        for (size_t i = 0; i < gsize[g]; i++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            gdata[g][i] = (float)((double)(s >> 40) / (double)(1 << 24) - 0.5);
        }
    }
}

/* v0 (untied: negative vocab and wcls last) or v1 (magic, 256-byte header, its order). */
static buf tiny_file(int version, int untied)
{
    buf b = {0};
    int32_t hdr[7] = {C, F, L, NH, NKV, version == 0 && untied ? -V : V, SEQ};
    if (version == 1) {
        put_i32(&b, 0x616b3432);
        put_i32(&b, 1);
    }
    put(&b, hdr, sizeof hdr);
    static const int v0[] = {G_EMBED, G_ATT, G_WQ, G_WK, G_WV, G_WO, G_FFN, G_W1, G_W2, G_W3, G_FIN, G_ROPE};
    static const int v1[] = {G_ATT, G_FFN, G_FIN, G_EMBED, G_WQ, G_WK, G_WV, G_WO, G_W1, G_W2, G_W3};
    if (version == 1) {
        unsigned char shared = (unsigned char)!untied, zero[256] = {0};
        put(&b, &shared, 1);
        put(&b, zero, 256 - b.n);
    }
    const int *order = version == 0 ? v0 : v1;
    int n = version == 0 ? 12 : 11;
    for (int i = 0; i < n; i++)
        put(&b, gdata[order[i]], gsize[order[i]] * sizeof(float));
    if (untied)
        put(&b, gdata[G_WCLS], gsize[G_WCLS] * sizeof(float));
    return b;
}

/* Every tensor, by its Hugging Face name, equals its llama2.c tensor's layer slice. */
static int tensors_match(const lsc_gpt *m, int untied)
{
    static const struct {
        const char *fmt;
        int         g;
        size_t      per_layer;
    } map[] = {
        {"model.embed_tokens.weight", G_EMBED, 0},
        {"model.norm.weight", G_FIN, 0},
        {"model.layers.%d.input_layernorm.weight", G_ATT, C},
        {"model.layers.%d.self_attn.q_proj.weight", G_WQ, C * C},
        {"model.layers.%d.self_attn.k_proj.weight", G_WK, KVD * C},
        {"model.layers.%d.self_attn.v_proj.weight", G_WV, KVD * C},
        {"model.layers.%d.self_attn.o_proj.weight", G_WO, C * C},
        {"model.layers.%d.post_attention_layernorm.weight", G_FFN, C},
        {"model.layers.%d.mlp.gate_proj.weight", G_W1, F * C},
        {"model.layers.%d.mlp.down_proj.weight", G_W2, C * F},
        {"model.layers.%d.mlp.up_proj.weight", G_W3, F * C},
        {"lm_head.weight", G_WCLS, 0},
    };
    int ok = 1, n = 0;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        for (int l = 0; l < (map[i].per_layer ? L : 1); l++) {
            char name[96];
            snprintf(name, sizeof name, map[i].fmt, l);
            const lsc_gpt_tensor *t = lsc_gpt_find_tensor(m, name);
            if (map[i].g == G_WCLS && !untied) {
                ok &= t == NULL;
                continue;
            }
            size_t len = map[i].per_layer ? map[i].per_layer : gsize[map[i].g];
            ok &= t && t->numel == len &&
                  memcmp(m->params_memory + t->offset, gdata[map[i].g] + (size_t)l * map[i].per_layer,
                         len * sizeof(float)) == 0;
            n++;
        }
    }
    return ok && n == m->n_tensors;
}

// ---- bad input ----

/* Loading f (written to a file) fails with code, the message naming the file and each of want[]. */
static void expect_bad(const char *what, const void *p, size_t n, int code, const char *w1, const char *w2)
{
    const char *path = test_tmp("bad.bin");
    lsc_error err = {0};
    lsc_gpt m;
    if (write_file(path, p, n) != 0) {
        CHECK(0, "%s: cannot write the bad file", what);
        return;
    }
    int rc = lsc_gpt_load(&m, path, &err);
    int ok = rc == code && err.code == code && strstr(err.msg, path) && (!w1 || strstr(err.msg, w1)) &&
             (!w2 || strstr(err.msg, w2)) && !strchr(err.msg, '\n');
    CHECK(ok, "%s: code %d, one message naming the file%s%s%s (%d: %s)", what, code, w1 ? ", " : "",
          w1 ? w1 : "", w2 ? " ..." : "", rc, err.msg);
    if (rc == LSC_OK)
        lsc_gpt_free(&m);
}

static void test_bad(const buf *f0)
{
    unsigned char *b = malloc(f0->n + 8);
    char want[64];
    memcpy(b, f0->p, f0->n);
    snprintf(want, sizeof want, "%zu", f0->n);
    expect_bad("truncated", b, f0->n - 10, LSC_EFORMAT, "truncated", want);
    memset(b + f0->n, 0, 8);
    expect_bad("trailing bytes", b, f0->n + 4, LSC_EFORMAT, "trailing bytes", want);
    expect_bad("header only", b, 28, LSC_EFORMAT, "truncated", NULL);
    static const struct {
        int         field, value;
        const char *says;
    } hdr[] = {
        {4, 3, "n_kv_heads = 3 does not divide n_heads = 2"}, {3, 3, "n_heads = 3 does not divide dim = 8"},
        {6, 0, "seq_len = 0"},   {2, 65, "n_layers = 65"},  {1, 0, "hidden_dim = 0"},
        {4, 0, "n_kv_heads = 0"}, {5, 0, "vocab_size = 0"}, {3, 8, "head size"},
    };
    for (size_t i = 0; i < sizeof hdr / sizeof hdr[0]; i++) {
        memcpy(b, f0->p, 28);
        memcpy(b + 4 * hdr[i].field, &hdr[i].value, 4);
        char what[64];
        snprintf(what, sizeof what, "header field %d = %d", hdr[i].field, hdr[i].value);
        expect_bad(what, b, f0->n, LSC_EFORMAT, hdr[i].says, NULL);
    }
    memcpy(b, f0->p, f0->n);
    /* NaN in layer 1 of wv, Inf in the embedding */
    size_t at = 28 + 4 * (gsize[G_EMBED] + gsize[G_ATT] + gsize[G_WQ] + gsize[G_WK] + KVD * C + 5);
    float nan = NAN, inf = -INFINITY;
    memcpy(b + at, &nan, 4);
    expect_bad("NaN in wv", b, f0->n, LSC_ENAN, "model.layers.1.self_attn.v_proj.weight", "wv");
    memcpy(b, f0->p, f0->n);
    memcpy(b + 28 + 4 * 3, &inf, 4);
    expect_bad("Inf in the embedding", b, f0->n, LSC_ENAN, "model.embed_tokens.weight", NULL);
    int32_t v2[2] = {0x616b3432, 2};
    memcpy(b, v2, 8);
    expect_bad("version 2", b, f0->n, LSC_EVERSION, "version 2", NULL);
    free(b);
}

static void test_tiny(void)
{
    make_weights();
    lsc_error err = {0};
    lsc_gpt m0, m1, mu, ms;
    buf f0 = tiny_file(0, 0), f1 = tiny_file(1, 0), fu = tiny_file(0, 1), f1u = tiny_file(1, 1);
    const char *p0 = test_tmp("tiny.bin"), *p1 = test_tmp("tiny_v1.bin"), *pu = test_tmp("untied.bin");
    CHECK(write_file(p0, f0.p, f0.n) == 0 && write_file(p1, f1.p, f1.n) == 0 && write_file(pu, fu.p, fu.n) == 0,
          "tiny llama2.c files written");
    CHECK(lsc_is_llama2c_file(p0) && lsc_is_llama2c_file(p1) && lsc_is_llama2c_file(pu),
          "v0, v1 and untied files are recognised as llama2.c");
    int rc = lsc_gpt_load_llama2c(&m0, p0, &err);
    CHECK(rc == LSC_OK, "v0 tied loads (%s)", rc ? err.msg : "ok");
    const lsc_gpt_config *c = &m0.config;
    CHECK(rc == LSC_OK && c->arch == LSC_ARCH_LLAMA && c->n_embd == C && c->n_ff == F && c->n_layer == L &&
              c->n_head == NH && c->n_kv_head == NKV && c->head_dim == HS && c->vocab == V && c->n_ctx == SEQ &&
              !c->untied && c->rope_half == 0 && c->rope_theta == 10000.0f && c->norm_eps == 1e-5f,
          "v0 config: Llama, dims from the header, interleaved RoPE, theta 1e4, eps 1e-5, tied");
    CHECK(rc == LSC_OK && tensors_match(&m0, 0), "v0: every tensor by HF name = its llama2.c tensor and layer");
    rc = lsc_gpt_load_llama2c(&mu, pu, &err);
    CHECK(rc == LSC_OK && mu.config.untied && tensors_match(&mu, 1),
          "v0 untied (negative vocab): lm_head = wcls, the rest as tied");
    rc = lsc_gpt_load(&m1, p1, &err);
    CHECK(rc == LSC_OK && m1.num_parameters == m0.num_parameters &&
              memcmp(m1.params_memory, m0.params_memory, m0.num_parameters * sizeof(float)) == 0,
          "version 1 export (through lsc_gpt_load) = the same model as v0");
    lsc_gpt_free(&m1);
    CHECK(write_file(p1, f1u.p, f1u.n) == 0 && lsc_gpt_load(&m1, p1, &err) == LSC_OK && m1.config.untied &&
              tensors_match(&m1, 1), "version 1 untied: lm_head from the trailing classifier");
    const char *st = test_tmp("tiny.safetensors");
    rc = lsc_gpt_save(&m0, st, &err);
    CHECK(rc == LSC_OK && !lsc_is_llama2c_file(st), "a safetensors model is not taken for llama2.c");
    rc = lsc_gpt_load(&ms, st, &err);
    CHECK(rc == LSC_OK && ms.config.arch == LSC_ARCH_LLAMA && ms.config.rope_half == 0 &&
              memcmp(ms.params_memory, m0.params_memory, m0.num_parameters * sizeof(float)) == 0,
          "saved as safetensors, it loads back bit for bit (%s)", rc ? err.msg : "ok");
    lsc_gpt_free(&m0);
    lsc_gpt_free(&m1);
    lsc_gpt_free(&mu);
    lsc_gpt_free(&ms);
    free(f1.p);
    free(fu.p);
    free(f1u.p);
    const char *txt = test_tmp("text.bin");
    CHECK(write_file(txt, "hello, this is a text file and not a model\n", 43) == 0 && !lsc_is_llama2c_file(txt) &&
              !lsc_is_llama2c_file(test_tmp("missing.bin")), "text and missing files are not llama2.c");
    test_bad(&f0);
    free(f0.p);
}

// ---- stories260K ----

static void test_stories(const char *fx)
{
    char path[4200], tokp[4200];
    snprintf(path, sizeof path, "%s/llama2c/stories260K/stories260K.bin", fx);
    snprintf(tokp, sizeof tokp, "%s/llama2c/stories260K/tok512.bin", fx);
    lsc_error err = {0};
    lsc_gpt m;
    int rc = lsc_gpt_load(&m, path, &err);
    const lsc_gpt_config *c = &m.config;
    CHECK(rc == LSC_OK && c->arch == LSC_ARCH_LLAMA && c->n_embd == 64 && c->n_ff == 172 && c->n_layer == 5 &&
              c->n_head == 8 && c->n_kv_head == 4 && c->vocab == 512 && c->n_ctx == 512 && !c->untied,
          "stories260K: dim 64, hidden 172, 5 layers, 8/4 heads, vocab 512, ctx 512, tied (%s)",
          rc ? err.msg : "ok");
    if (rc != LSC_OK)
        return;
    /* layer 2 of wk: after embed (512·64), rms_att (5·64), wq (5·64·64), wk layers 0-1 (2·32·64) */
    size_t off = 28 + 4 * (512 * 64 + 5 * 64 + 5 * 64 * 64 + 2 * 32 * 64);
    float want[32 * 64];
    FILE *fp = fopen(path, "rb");
    int got = fp && fseek(fp, (long)off, SEEK_SET) == 0 && fread(want, sizeof want, 1, fp) == 1;
    if (fp)
        fclose(fp);
    const lsc_gpt_tensor *t = lsc_gpt_find_tensor(&m, "model.layers.2.self_attn.k_proj.weight");
    CHECK(got && t && t->shape[0] == 32 && t->shape[1] == 64 &&
              memcmp(m.params_memory + t->offset, want, sizeof want) == 0,
          "model.layers.2.self_attn.k_proj.weight (32, 64) = the file's floats at offset %zu", off);
    lsc_tokenizer tz;
    int ids[128];
    size_t n = 0;
    static const char text[] = "Once upon a time, there was a little girl named Lily. She loved to play outside.";
    rc = lsc_tokenizer_load_llama2c(&tz, tokp, 512, &err);
    if (rc == LSC_OK)
        rc = lsc_tokenizer_encode(&tz, text, strlen(text), 1, 0, ids, 128, &n, &err);
    lsc_tokenizer_free(&tz);
    lsc_kv_cache kv = {0};
    if (rc == LSC_OK)
        rc = lsc_gpt_alloc_acts(&m, 1, (int)n, &err);
    float *full = malloc(n * 512 * sizeof(float));
    if (rc == LSC_OK && (rc = lsc_gpt_forward(&m, ids, NULL, NULL, 1, (int)n, NULL, &err)) == LSC_OK)
        memcpy(full, lsc_gpt_logits(&m), n * 512 * sizeof(float));
    if (rc == LSC_OK)
        rc = lsc_kv_cache_alloc(&kv, &m, 1, (int)n, &err);
    double md = 0.0, mx = 0.0;
    for (int p = 0; rc == LSC_OK && p < (int)n; p++) {
        int slot = 0;
        if ((rc = lsc_gpt_forward_step(&m, &kv, &ids[p], &slot, &p, 1, &err)) != LSC_OK)
            break;
        const float *lg = lsc_gpt_logits(&m);
        for (int j = 0; j < 512; j++) {
            md = fmax(md, fabs((double)lg[j] - full[(size_t)p * 512 + j]));
            mx = fmax(mx, fabs((double)full[(size_t)p * 512 + j]));
        }
    }
    CHECK(rc == LSC_OK && n > 15 && md <= 1e-5 * mx,
          "stories260K: KV-cached steps = full forward over %zu real tokens (max diff %.2e, rel %.2e)", n, md,
          md / (mx > 0 ? mx : 1));
    lsc_kv_cache_free(&kv);
    free(full);
    lsc_gpt_free(&m);
    rc = lsc_gpt_load_nf4(&m, path, NULL, &err);
    CHECK(rc == LSC_OK && m.quant_targets != 0 && m.num_quantized > 0,
          "stories260K loads with NF4 weights (lsc_gpt_load_nf4: %s)", rc ? err.msg : "ok");
    lsc_gpt_free(&m);
}

int main(void)
{
    if (test_tmpdir_make("llama2c") != 0)
        return 1;
    test_tiny();
    const char *fx = test_fixtures_dir("stories260K through the llama2.c reader");
    if (fx)
        test_stories(fx);
    test_tmpdir_remove();
    for (int g = 0; g < NG; g++)
        free(gdata[g]);
    return test_summary();
}
