/*
 * model_io.c — the GPT's file: safetensors with the config in the metadata
 * (lsc_format LSC_GPT_FORMAT, lsc_format_version LSC_GPT_FORMAT_VERSION),
 * one tensor per entry of the model's tensor table (model.c, in the order
 * of the parameter table), NF4 weights in bitsandbytes' layout (nf4.c).
 * The loader can quantise tensor by tensor as it reads (lsc_gpt_load_nf4).
 *
 * What it is not: not the safetensors format (safetensors.c), not the
 * adapter's file (peft.c).
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lsc_internal.h"

/* The config's metadata keys, in the order they are written and read. */
static const struct {
    const char *key;
    size_t      off;   /* offsetof(lsc_gpt_config, field) */
} config_keys[] = {
    {"n_layer", offsetof(lsc_gpt_config, n_layer)}, {"n_head", offsetof(lsc_gpt_config, n_head)},
    {"n_embd", offsetof(lsc_gpt_config, n_embd)},   {"n_ctx", offsetof(lsc_gpt_config, n_ctx)},
    {"vocab_size", offsetof(lsc_gpt_config, vocab)},
};
#define N_CONFIG_KEYS ((int)(sizeof config_keys / sizeof config_keys[0]))

/* A Llama also writes "arch" = "llama" and these (a GPT file has none of
 * them, so GPT files are unchanged); integers, then the two floats. */
static const struct {
    const char *key;
    size_t      off;
    int         is_float;
} llama_keys[] = {
    {"n_kv_head", offsetof(lsc_gpt_config, n_kv_head), 0},
    {"head_dim", offsetof(lsc_gpt_config, head_dim), 0},
    {"intermediate_size", offsetof(lsc_gpt_config, n_ff), 0},
    {"rope_half", offsetof(lsc_gpt_config, rope_half), 0},
    {"qkv_bias", offsetof(lsc_gpt_config, qkv_bias), 0},
    {"untied", offsetof(lsc_gpt_config, untied), 0},
    {"rope_theta", offsetof(lsc_gpt_config, rope_theta), 1},
    {"rms_norm_eps", offsetof(lsc_gpt_config, norm_eps), 1},
};
#define N_LLAMA_KEYS ((int)(sizeof llama_keys / sizeof llama_keys[0]))

static int *config_field(lsc_gpt_config *c, int i)
{
    return (int *)((char *)c + config_keys[i].off);
}

// ---- safetensors ----

int lsc_gpt_save(const lsc_gpt *m, const char *path, lsc_error *err)
{
    /* NF4 weights go out in bitsandbytes' layout (up to 6 tensors each) */
    int rc = LSC_OK;
    size_t n_nf4 = 0, nt = m->n_tensors > 0 ? (size_t)m->n_tensors : 0;
    for (size_t i = 0; i < nt; i++)
        n_nf4 += m->tensors[i].nf4 != 0;
    lsc_st_entry *e = LSC_CALLOC(nt + 6 * n_nf4, sizeof *e);
    lsc_nf4_st *sts = n_nf4 ? LSC_CALLOC(n_nf4, sizeof *sts) : NULL;
    if (!e || (n_nf4 && !sts)) {
        LSC_FREE(e);
        LSC_FREE(sts);
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", path);
    }
    int ne = 0, nq = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const lsc_gpt_tensor *t = &m->tensors[i];
        if (t->nf4) {
            lsc_nf4_st *st = &sts[nq++];
            if ((rc = lsc_nf4_st_entries(st, &m->nf4[lsc_gpt_tensor_slot_(m, t)], t->name, err)) != LSC_OK)
                goto done;
            for (int j = 0; j < st->n; j++)
                e[ne++] = st->entries[j];
            continue;
        }
        e[ne].name = t->name;
        e[ne].dtype = LSC_DT_F32;
        e[ne].ndim = t->ndim;
        e[ne].shape[0] = t->shape[0];
        e[ne].shape[1] = t->shape[1];
        e[ne].data = m->params_memory + t->offset;
        ne++;
    }
    char v[N_CONFIG_KEYS + N_LLAMA_KEYS][32];
    const char *keys[4 + N_CONFIG_KEYS + N_LLAMA_KEYS] = {"format", "lsc_format", "lsc_format_version"};
    const char *vals[4 + N_CONFIG_KEYS + N_LLAMA_KEYS] = {LSC_ST_FORMAT_PT, LSC_GPT_FORMAT,
                                                          LSC_GPT_FORMAT_VERSION};
    lsc_gpt_config cfg = m->config;
    int nk = 3;
    for (int i = 0; i < N_CONFIG_KEYS; i++, nk++) {
        snprintf(v[i], sizeof v[i], "%d", *config_field(&cfg, i));
        keys[nk] = config_keys[i].key;
        vals[nk] = v[i];
    }
    if (cfg.arch == LSC_ARCH_LLAMA) {
        keys[nk] = "arch";
        vals[nk++] = lsc_arch_name(cfg.arch);
        for (int i = 0; i < N_LLAMA_KEYS; i++, nk++) {
            const char *f = (const char *)&cfg + llama_keys[i].off;
            if (llama_keys[i].is_float)
                snprintf(v[N_CONFIG_KEYS + i], sizeof v[0], "%.9g", (double)*(const float *)f);
            else
                snprintf(v[N_CONFIG_KEYS + i], sizeof v[0], "%d", *(const int *)f);
            keys[nk] = llama_keys[i].key;
            vals[nk] = v[N_CONFIG_KEYS + i];
        }
    }
    rc = lsc_st_write(path, e, ne, keys, vals, nk, err);
done:
    LSC_FREE(e);
    LSC_FREE(sts);
    return rc;
}

static int meta_int(const lsc_st_file *f, const char *key, int *out, lsc_error *err)
{
    const char *s = lsc_st_meta(f, key);
    if (!s)
        LSC_FAIL(err, LSC_EFORMAT, "%s: not a lorascope model: no '%s' in the safetensors metadata",
                 f->path, key);
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < 1 || v > (1L << 24))
        LSC_FAIL(err, LSC_EFORMAT, "%s: metadata %s = '%s' is not a positive integer", f->path, key, s);
    *out = (int)v;
    return LSC_OK;
}

/* Gives the pages of a read-only mapping back to the kernel (they are
 * re-read from the file if touched again), so a loader that quantises
 * tensor by tensor does not end up with the whole fp32 file resident. */
static void drop_pages(const void *p, size_t n)
{
    long ps = sysconf(_SC_PAGESIZE);
    if (ps <= 0 || n == 0)
        return;
    uintptr_t a = (uintptr_t)p, b = a + n, pg = (uintptr_t)ps;
    a = (a + pg - 1) / pg * pg;   /* whole pages inside the range only */
    b = b / pg * pg;
    if (b > a)
        (void)madvise((void *)a, b - a, MADV_DONTNEED);
}

/* The Llama's keys when f's metadata says arch = llama (else a GPT). */
static int read_llama_config(const lsc_st_file *f, lsc_gpt_config *cfg, lsc_error *err)
{
    const char *arch = lsc_st_meta(f, "arch");
    if (!arch)
        return LSC_OK;
    if ((cfg->arch = lsc_arch_parse(arch)) < 0)
        LSC_FAIL(err, LSC_EFORMAT, "%s: metadata arch = '%s' is not an architecture lorascope knows "
                 "(gpt, llama)", f->path, arch);
    for (int i = 0; cfg->arch == LSC_ARCH_LLAMA && i < N_LLAMA_KEYS; i++) {
        const char *s = lsc_st_meta(f, llama_keys[i].key);
        char *end;
        double x = s ? strtod(s, &end) : 0.0;
        if (!s || *s == '\0' || *end != '\0' || !(x >= 0.0 && x <= 1e12) ||
            (!llama_keys[i].is_float && x != (double)(int)x))
            LSC_FAIL(err, LSC_EFORMAT, "%s: metadata %s = '%s' is missing or out of range", f->path,
                     llama_keys[i].key, s ? s : "");
        char *field = (char *)cfg + llama_keys[i].off;
        if (llama_keys[i].is_float)
            *(float *)field = (float)x;
        else
            *(int *)field = (int)x;
    }
    return LSC_OK;
}

/* The config in f's metadata, checked. */
static int read_config(const lsc_st_file *f, lsc_gpt_config *cfg, lsc_error *err)
{
    int rc;
    const char *ver = lsc_st_meta(f, "lsc_format_version");
    if (ver && strcmp(ver, LSC_GPT_FORMAT_VERSION) != 0)
        LSC_FAIL(err, LSC_EVERSION, "%s: model format version '%s' is not supported (expected %s)",
                 f->path, ver, LSC_GPT_FORMAT_VERSION);
    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < N_CONFIG_KEYS; i++)
        if ((rc = meta_int(f, config_keys[i].key, config_field(cfg, i), err)) != LSC_OK)
            return rc;
    if ((rc = read_llama_config(f, cfg, err)) != LSC_OK)
        return rc;
    if ((rc = lsc_gpt_config_check(cfg, err)) != LSC_OK) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "bad config");
        return lsc_error_set(err, rc, __FILE__, __LINE__, "%s: %s", f->path, msg);
    }
    return LSC_OK;
}

/* The targets f holds 4-bit in every layer: they stay NF4 (NF4 weights of
 * other tensors are dequantised). */
static int file_nf4_mask(const lsc_st_file *f, const lsc_gpt_config *cfg)
{
    int mask = 0;
    for (int t = 0; t < LSC_LORA_NTARGETS; t++) {
        const lsc_arch *a = lsc_arch_of_(cfg);
        if (!lsc_arch_has_target_(a, t))
            continue;
        int all = 1, kind = lsc_arch_linear_kind_(a, t, 0);
        for (int l = 0; l < cfg->n_layer && all; l++) {
            char name[64];
            lsc_arch_tensor_name_(a, kind, l, name, sizeof name);
            all = lsc_nf4_st_role(f, name) == LSC_NF4_ROLE_WEIGHT;
        }
        mask |= all << t;
    }
    return mask;
}

/* Tensor t of the table from an NF4 entry of f: kept (t->nf4) or dequantised. */
static int load_nf4_tensor(lsc_gpt *m, const lsc_st_file *f, const lsc_gpt_tensor *t, lsc_error *err)
{
    lsc_nf4 q;
    int rc = lsc_nf4_st_load(&q, f, t->name, err);
    if (rc != LSC_OK)
        return rc;
    if (t->ndim != 2 || q.d != (size_t)t->shape[0] || q.k != (size_t)t->shape[1]) {
        rc = lsc_error_set(err, LSC_ESHAPE, __FILE__, __LINE__,
                           "%s: NF4 tensor '%s' has shape (%zu, %zu), the config in the metadata "
                           "needs (%d, %d)", f->path, t->name, q.d, q.k, t->shape[0],
                           t->ndim == 2 ? t->shape[1] : 1);
        lsc_nf4_free(&q);
        return rc;
    }
    if (t->nf4) {
        m->nf4[lsc_gpt_tensor_slot_(m, t)] = q;   /* ownership moves */
    } else {
        lsc_nf4_dequant_range(&q, 0, q.n, m->params_memory + t->offset);
        lsc_nf4_free(&q);
    }
    return LSC_OK;
}

/* Tensor t of the table from a float entry st of f: read into the buffer,
 * or (t->nf4) into scratch and quantised with blocksize bs, double quant dq. */
static int load_float_tensor(lsc_gpt *m, const lsc_st_file *f, const lsc_st_tensor *st,
                             const lsc_gpt_tensor *t, float *scratch, int bs, int dq, lsc_error *err)
{
    int ok = st->ndim == t->ndim && st->shape[0] == t->shape[0] &&
             (t->ndim == 1 || st->shape[1] == t->shape[1]);
    if (!ok)
        LSC_FAIL(err, LSC_ESHAPE, "%s: tensor '%s' has the wrong shape for the config in its metadata",
                 f->path, t->name);
    float *dst = t->nf4 ? scratch : m->params_memory + t->offset;
    int rc = lsc_st_read_f32(f, st, dst, err);
    if (rc != LSC_OK || !t->nf4)
        return rc;
    lsc_error inner;
    rc = lsc_nf4_quantize(&m->nf4[lsc_gpt_tensor_slot_(m, t)], scratch, (size_t)t->shape[0],
                          (size_t)t->shape[1], bs, dq, &inner);
    if (rc != LSC_OK)
        return lsc_error_set(err, rc, __FILE__, __LINE__, "%s: tensor '%s': %s", f->path, t->name,
                             inner.msg);
    return LSC_OK;
}

/* An imported base: a Hugging Face folder (dir; model_hf.c, extra tensors
 * ignored) or a llama2.c checkpoint (model_llama2c.c), read fp32; opts
 * then quantise it (so NF4 loading holds the fp32 model once here). */
static int load_imported(lsc_gpt *m, const char *path, int dir, const lsc_nf4_opts *opts, lsc_error *err)
{
    int n_extra = 0, rc = dir ? lsc_gpt_load_hf(m, path, 1, &n_extra, err) : lsc_gpt_load_llama2c(m, path, err);
    if (rc == LSC_OK && opts && (rc = lsc_gpt_quantize(m, opts, err)) != LSC_OK)
        lsc_gpt_free(m);
    if (rc == LSC_OK)
        m->n_ignored = n_extra;   /* the caller warns */
    return rc;
}

/* lsc_gpt_load (opts NULL) and lsc_gpt_load_nf4. */
static int gpt_load_(lsc_gpt *m, const char *path, const lsc_nf4_opts *opts, lsc_error *err)
{
    lsc_st_file f;
    lsc_gpt_config cfg;
    float *scratch = NULL;
    int rc, mask = 0, bs = 0, dq = 0;
    memset(m, 0, sizeof *m);
    struct stat sd;
    int dir = stat(path, &sd) == 0 && S_ISDIR(sd.st_mode);
    if (dir || lsc_is_llama2c_file(path))
        return load_imported(m, path, dir, opts, err);
    if ((rc = lsc_st_open(&f, path, err)) != LSC_OK)
        return rc;
    if ((rc = read_config(&f, &cfg, err)) != LSC_OK)
        goto fail;
    if (opts && (rc = lsc_gpt_nf4_opts_parse_(&cfg, opts, &mask, &bs, &dq, err)) != LSC_OK)
        goto fail;
    mask |= file_nf4_mask(&f, &cfg);
    if ((rc = lsc_gpt_init_q_(m, &cfg, mask, err)) != LSC_OK)
        goto fail;
    if (mask && !(scratch = LSC_MALLOC(lsc_gpt_nf4_scratch_floats_(m) * sizeof(float)))) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", path);
        goto fail;
    }
    for (int i = 0; i < m->n_tensors; i++) {
        const lsc_gpt_tensor *t = &m->tensors[i];
        const lsc_st_tensor *st = lsc_st_find(&f, t->name);
        if (!st) {
            rc = lsc_error_set(err, LSC_ENOTFOUND, __FILE__, __LINE__,
                               "%s: tensor '%s' is missing", path, t->name);
            goto fail;
        }
        rc = lsc_nf4_st_role(&f, t->name) == LSC_NF4_ROLE_WEIGHT
                 ? load_nf4_tensor(m, &f, t, err)
                 : load_float_tensor(m, &f, st, t, scratch, bs, dq, err);
        if (rc != LSC_OK)
            goto fail;
        if (m->quant_targets)
            drop_pages(lsc_st_bytes(&f, st), st->end - st->begin);
    }
    for (size_t j = 0; j < m->num_parameters; j++)
        if (!isfinite(m->params_memory[j])) {
            rc = lsc_error_set(err, LSC_ENAN, __FILE__, __LINE__,
                               "%s: the model holds NaN or Inf weights", path);
            goto fail;
        }
    LSC_FREE(scratch);
    lsc_st_close(&f);
    return LSC_OK;
fail:
    LSC_FREE(scratch);
    lsc_st_close(&f);
    lsc_gpt_free(m);
    return rc;
}

int lsc_gpt_load(lsc_gpt *m, const char *path, lsc_error *err)
{
    return gpt_load_(m, path, NULL, err);
}

int lsc_gpt_load_nf4(lsc_gpt *m, const char *path, const lsc_nf4_opts *opts, lsc_error *err)
{
    lsc_nf4_opts def = {0, 1, NULL};
    return gpt_load_(m, path, opts ? opts : &def, err);
}
