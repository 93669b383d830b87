/*
 * model_llama2c.c — reads a llama2.c checkpoint (karpathy/llama2.c's
 * export.py: the legacy v0 `.bin` and the fp32 "version 1" export) into a
 * Llama-architecture lsc_gpt (arch_llama.c's table, Hugging Face names).
 *
 *   v0:  7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 *        vocab_size < 0 = separate classifier, seq_len), then float32:
 *        embed, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final,
 *        the two RoPE tables (seq_len, hs/2) each (skipped), [wcls]
 *   v1:  uint32 magic "ak42", int32 version 1, the 7 int32 (vocab > 0),
 *        uint8 shared classifier, zeros to 256 bytes, then float32:
 *        rms_att, rms_ffn, rms_final, embed, wq, wk, wv, wo, w1, w2, w3, [wcls]
 *
 * Every tensor is a (L, out, in) stack in both files and in the model's
 * buffer (a per-layer kind is stacked over layers), so each is read with one
 * fread straight into its view: no second copy of the weights is ever held.
 * The mapping (llama2.c -> Hugging Face): token_embedding_table ->
 * model.embed_tokens, rms_att -> input_layernorm, wq/wk/wv/wo ->
 * self_attn.{q,k,v,o}_proj, rms_ffn -> post_attention_layernorm, w1 ->
 * mlp.gate_proj, w2 -> mlp.down_proj, w3 -> mlp.up_proj, rms_final ->
 * model.norm, wcls -> lm_head. Config: RoPE interleaved (rope_half 0),
 * theta 10000, eps 1e-5, head_dim = dim / n_heads, n_ff = hidden_dim.
 *
 * What it is not: no writer (lsc_gpt_save writes the model as safetensors),
 * not the tokenizer (tokenizer.c), no int8 (version 2) checkpoints.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "lsc_internal.h"

#define L2C_MAGIC      0x616b3432u   /* "ak42" as a little-endian uint32 */
#define L2C_V1_HEADER  256
#define L2C_MAX_GROUPS 14

/* The header, as stored (vocab negative = separate classifier in v0). */
typedef struct l2c_header {
    int    f[7];        /* dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len */
    int    version;     /* 0 legacy, 1 */
    int    shared;      /* the classifier is the embedding */
    size_t bytes;       /* header size: 28 or 256 */
} l2c_header;

static const char *const field_names[7] = {"dim", "hidden_dim", "n_layers", "n_heads",
                                           "n_kv_heads", "vocab_size", "seq_len"};

/* One run of floats in the file: read into dst, or skipped. */
typedef struct l2c_group {
    const char *name;   /* llama2.c's name */
    float      *dst;    /* NULL when only sizes are asked for */
    size_t      n;
    int         skip;   /* the RoPE tables of v0 (recomputed, never read) */
} l2c_group;

static uint32_t le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static int le32s(const unsigned char *b)
{
    uint32_t u = le32(b);
    return u <= INT32_MAX ? (int)u : -(int)(~u) - 1;
}

// ---- recognising the file ----

int lsc_is_llama2c_file(const char *path)
{
    unsigned char b[28];
    FILE *fp = lsc_file_open_read(path, NULL);
    if (!fp)
        return 0;
    size_t n = fread(b, 1, sizeof b, fp);
    struct stat st;
    int have_size = fstat(fileno(fp), &st) == 0;
    fclose(fp);
    if (n >= 8 && le32(b) == L2C_MAGIC)
        return 1;
    if (n < 28 || !have_size)
        return 0;
    /* safetensors: an 8-byte header length that fits the file, then '{' */
    uint64_t hl = (uint64_t)le32(b) | (uint64_t)le32(b + 4) << 32;
    if (b[8] == '{' && hl <= (uint64_t)st.st_size - 8)
        return 0;
    /* a v0 header: seven small integers (text or other binaries have huge ones) */
    for (int i = 0; i < 7; i++) {
        int v = le32s(b + 4 * i);
        if (v < -(1 << 24) || v > (1 << 24))
            return 0;
    }
    return le32s(b) >= 1;
}

// ---- the header ----

static int read_header(FILE *fp, const char *path, l2c_header *h, lsc_error *err)
{
    unsigned char b[L2C_V1_HEADER];
    size_t n = fread(b, 1, sizeof b, fp);
    memset(h, 0, sizeof *h);
    if (n >= 8 && le32(b) == L2C_MAGIC) {
        h->version = le32s(b + 4);
        if (h->version != 1)
            LSC_FAIL(err, LSC_EVERSION, "%s: llama2.c checkpoint version %d is not supported (only the "
                     "legacy v0 and the fp32 version 1 exports; version 2 is int8)", path, h->version);
        if (n < L2C_V1_HEADER)
            LSC_FAIL(err, LSC_EFORMAT, "%s: truncated llama2.c version 1 header (%zu of %d bytes)", path,
                     n, L2C_V1_HEADER);
        for (int i = 0; i < 7; i++)
            h->f[i] = le32s(b + 8 + 4 * i);
        h->shared = b[36] != 0;
        h->bytes = L2C_V1_HEADER;
        if (h->f[5] < 1)
            LSC_FAIL(err, LSC_EFORMAT, "%s: llama2.c header: vocab_size = %d, must be >= 1 in version 1",
                     path, h->f[5]);
        return LSC_OK;
    }
    if (n < 28)
        LSC_FAIL(err, LSC_EFORMAT, "%s: truncated llama2.c header (%zu of 28 bytes)", path, n);
    for (int i = 0; i < 7; i++)
        h->f[i] = le32s(b + 4 * i);
    h->shared = h->f[5] > 0;
    h->bytes = 28;
    return LSC_OK;
}

/* Range checks naming the field; then the model's config. */
static int header_config(const l2c_header *h, const char *path, lsc_gpt_config *cfg, lsc_error *err)
{
    static const int lo[7] = {1, 1, 1, 1, 1, -(1 << 24), 1};
    static const int hi[7] = {65536, 1 << 20, 64, 1024, 1024, 1 << 24, 65536};
    for (int i = 0; i < 7; i++)
        if (h->f[i] < lo[i] || h->f[i] > hi[i] || (i == 5 && h->f[i] == 0))
            LSC_FAIL(err, LSC_EFORMAT, "%s: llama2.c header: %s = %d, must be in [%d, %d]%s", path,
                     field_names[i], h->f[i], lo[i], hi[i], i == 5 ? " and not 0" : "");
    int dim = h->f[0], nh = h->f[3], nkv = h->f[4];
    if (dim % nh != 0)
        LSC_FAIL(err, LSC_EFORMAT, "%s: llama2.c header: n_heads = %d does not divide dim = %d", path, nh, dim);
    if (nkv > nh || nh % nkv != 0)
        LSC_FAIL(err, LSC_EFORMAT, "%s: llama2.c header: n_kv_heads = %d does not divide n_heads = %d", path,
                 nkv, nh);
    if ((dim / nh) % 2 != 0)
        LSC_FAIL(err, LSC_EFORMAT, "%s: llama2.c header: head size dim / n_heads = %d is odd (RoPE needs "
                 "pairs)", path, dim / nh);
    memset(cfg, 0, sizeof *cfg);
    cfg->arch = LSC_ARCH_LLAMA;
    cfg->n_embd = dim;
    cfg->n_ff = h->f[1];
    cfg->n_layer = h->f[2];
    cfg->n_head = nh;
    cfg->n_kv_head = nkv;
    cfg->head_dim = dim / nh;
    cfg->vocab = h->f[5] < 0 ? -h->f[5] : h->f[5];
    cfg->n_ctx = h->f[6];
    cfg->rope_theta = 10000.0f;
    cfg->norm_eps = 1e-5f;
    cfg->rope_half = 0;
    cfg->untied = !h->shared;
    return LSC_OK;
}

/* The runs of floats in file order of a model of config c with views p
 * (NULL: sizes only, dst NULL); their count. */
static int file_groups(const lsc_gpt_config *c, const struct lsc_llama_params *p, const l2c_header *h,
                       l2c_group *g)
{
    static const struct lsc_llama_params none;
    if (!p)
        p = &none;
    size_t L = (size_t)c->n_layer, C = (size_t)c->n_embd, V = (size_t)c->vocab, F = (size_t)c->n_ff;
    size_t KV = (size_t)c->n_kv_head * (size_t)c->head_dim, rope = (size_t)c->n_ctx * (size_t)c->head_dim / 2;
    const l2c_group embed = {"token_embedding_table", p->embed, V * C, 0},
                    att = {"rms_att_weight", p->attn_norm, L * C, 0},
                    ffn = {"rms_ffn_weight", p->mlp_norm, L * C, 0},
                    fin = {"rms_final_weight", p->norm, C, 0};
    const l2c_group mats[7] = {
        {"wq", p->qw, L * C * C, 0},   {"wk", p->kw, L * KV * C, 0},   {"wv", p->vw, L * KV * C, 0},
        {"wo", p->ow, L * C * C, 0},   {"w1", p->gate, L * F * C, 0},  {"w2", p->down, L * C * F, 0},
        {"w3", p->up, L * F * C, 0}};
    int n = 0;
    if (h->version == 0) {
        g[n++] = embed;
        g[n++] = att;
        for (int i = 0; i < 4; i++)
            g[n++] = mats[i];
        g[n++] = ffn;
        for (int i = 4; i < 7; i++)
            g[n++] = mats[i];
        g[n++] = fin;
        g[n++] = (l2c_group){"freq_cis_real", NULL, rope, 1};
        g[n++] = (l2c_group){"freq_cis_imag", NULL, rope, 1};
    } else {
        g[n++] = att;
        g[n++] = ffn;
        g[n++] = fin;
        g[n++] = embed;
        for (int i = 0; i < 7; i++)
            g[n++] = mats[i];
    }
    if (!h->shared)
        g[n++] = (l2c_group){"wcls", p->lm_head, V * C, 0};
    return n;
}

// ---- reading ----

/* The model tensor holding params_memory[j] (its Hugging Face name). */
static const char *tensor_at(const lsc_gpt *m, size_t j)
{
    for (int i = 0; i < m->n_tensors; i++)
        if (j >= m->tensors[i].offset && j - m->tensors[i].offset < m->tensors[i].numel)
            return m->tensors[i].name;
    return "?";
}

/* Reads group g (or skips it), then checks it holds finite numbers. */
static int read_group(lsc_gpt *m, FILE *fp, const char *path, const l2c_group *g, lsc_error *err)
{
    if (g->skip) {
        if (fseeko(fp, (off_t)(g->n * sizeof(float)), SEEK_CUR) != 0)
            LSC_FAIL(err, LSC_EIO, "%s: cannot seek past llama2.c %s", path, g->name);
        return LSC_OK;
    }
    if (fread(g->dst, sizeof(float), g->n, fp) != g->n)
        LSC_FAIL(err, LSC_EIO, "%s: read error in llama2.c tensor %s", path, g->name);
    for (size_t j = 0; j < g->n; j++)
        if (!isfinite(g->dst[j])) {
            size_t at = (size_t)(g->dst - m->params_memory) + j;
            LSC_FAIL(err, LSC_ENAN, "%s: tensor %s (llama2.c %s) holds NaN or Inf", path, tensor_at(m, at),
                     g->name);
        }
    return LSC_OK;
}

/* The file's size must be exactly what header h and config c imply. */
static int check_size(FILE *fp, const char *path, const l2c_header *h, const lsc_gpt_config *c,
                      lsc_error *err)
{
    l2c_group g[L2C_MAX_GROUPS];
    int ng = file_groups(c, NULL, h, g);
    uint64_t want = h->bytes;
    for (int i = 0; i < ng; i++)
        want += (uint64_t)g[i].n * sizeof(float);
    struct stat st;
    if (fstat(fileno(fp), &st) != 0)
        LSC_FAIL(err, LSC_EIO, "%s: cannot stat", path);
    if ((uint64_t)st.st_size != want)
        LSC_FAIL(err, LSC_EFORMAT, "%s: %s: the file has %lld bytes, its llama2.c header implies %llu", path,
                 (uint64_t)st.st_size < want ? "truncated" : "trailing bytes", (long long)st.st_size,
                 (unsigned long long)want);
    return LSC_OK;
}

int lsc_gpt_load_llama2c(lsc_gpt *m, const char *path, lsc_error *err)
{
    memset(m, 0, sizeof *m);
    FILE *fp = lsc_file_open_read(path, err);
    if (!fp)
        return err ? err->code : LSC_EIO;
    l2c_header h;
    lsc_gpt_config cfg;
    l2c_group g[L2C_MAX_GROUPS];
    int rc = read_header(fp, path, &h, err);
    if (rc == LSC_OK)
        rc = header_config(&h, path, &cfg, err);
    if (rc == LSC_OK)
        rc = check_size(fp, path, &h, &cfg, err);   /* before allocating what the header asks */
    if (rc == LSC_OK && (rc = lsc_gpt_init(m, &cfg, err)) != LSC_OK) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "bad config");
        rc = lsc_error_set(err, rc, __FILE__, __LINE__, "%s: %s", path, msg);
    }
    if (rc == LSC_OK && fseeko(fp, (off_t)h.bytes, SEEK_SET) != 0)
        rc = lsc_error_set(err, LSC_EIO, __FILE__, __LINE__, "%s: cannot seek", path);
    int ng = rc == LSC_OK ? file_groups(&m->config, &m->params.llama, &h, g) : 0;
    for (int i = 0; i < ng && rc == LSC_OK; i++)
        rc = read_group(m, fp, path, &g[i], err);
    fclose(fp);
    if (rc != LSC_OK)
        lsc_gpt_free(m);
    return rc;
}
