/*
 * merge_kinds.c — an adapter of any mergeable kind merged into the model
 * (declared in lsc_merge.h): plain LoRA through lsc_lora_merge, DoRA's
 * effective update (lsc_dora_delta), embedding LoRA into the token table,
 * and modules_to_save full tensors replacing the model's, the model rebuilt
 * with a larger vocabulary when they add token rows (and a tied Llama head
 * untied when the saved head differs from the embedding).
 *
 * Not here: reading adapters (peft_load.c), the LoRA arithmetic itself
 * (lora.c), DoRA's formula (dora.c), writing the result (model_io.c,
 * model_hf.c). Conv LoRA is refused: it has no place in a language model.
 *
 * Shapes: LoRA A (r, in), B (out, r); embedding LoRA A (r, V), B (C, r),
 * the table (V, C) row-major; full tensors as saved.
 */
#include <cblas.h>
#include <stdio.h>
#include <string.h>

#include "lsc_internal.h"

// ---- names ----

#define HEAD_NAME "lm_head.weight"

/* The token table's tensor name in m's architecture. */
static const char *embed_name(const lsc_gpt *m)
{
    return m->config.arch == LSC_ARCH_LLAMA ? "model.embed_tokens.weight" : "wte.weight";
}

/* m has a separate lm_head tensor (an untied Llama); else the head is the table. */
static int own_head(const lsc_gpt *m)
{
    return m->config.arch == LSC_ARCH_LLAMA && m->config.untied;
}

static void tensor_name(const lsc_adapter_module *am, char *buf, size_t n)
{
    snprintf(buf, n, "%s.weight", am->name);
}

static float *tensor_data(lsc_gpt *m, const char *name)
{
    const lsc_gpt_tensor *t = lsc_gpt_find_tensor(m, name);
    return t ? m->params_memory + t->offset : NULL;
}

// ---- the plan: every check before the model changes ----

typedef struct merge_plan {
    const lsc_adapter_module *embed, *head;   /* saved token table / head, or NULL */
    int vocab;                                /* the merged model's */
    int untie;
    lsc_adapter sub;                          /* the plain LoRA modules only */
    lsc_adapter_module *sub_mods;
} merge_plan;

/* A saved vocabulary tensor [rows, C], rows >= V. */
static int check_vocab_tensor(const lsc_gpt *m, const lsc_adapter_module *f, const char *where,
                              lsc_error *err)
{
    const int V = m->config.vocab, C = m->config.n_embd;
    if (f->full_ndim != 2 || f->full_shape[1] != C || f->full_shape[0] < V)
        LSC_FAIL(err, LSC_ESHAPE, "%s: full tensor '%s' [%lld, %lld] does not fit the model's [%d, %d] "
                 "(only rows for added tokens may be extra)", where, f->name, f->full_shape[0],
                 f->full_ndim > 1 ? f->full_shape[1] : 1LL, V, C);
    return LSC_OK;
}

static int check_full(const lsc_gpt *m, const lsc_adapter *ad, merge_plan *p, lsc_error *err)
{
    const char *where = ad->path ? ad->path : "adapter";
    char name[160];
    for (int i = 0; i < ad->n_full; i++) {
        const lsc_adapter_module *f = &ad->full[i];
        tensor_name(f, name, sizeof name);
        if (f->n_nonfinite)
            LSC_FAIL(err, LSC_ENAN, "%s: full tensor '%s' holds %d NaN/Inf values", where, f->name, f->n_nonfinite);
        const lsc_gpt_tensor *t = lsc_gpt_find_tensor(m, name);
        int is_embed = strcmp(name, embed_name(m)) == 0, is_head = strcmp(name, HEAD_NAME) == 0;
        if (!t && !is_head)
            LSC_FAIL(err, LSC_ENOTFOUND, "%s: full tensor '%s' is not a tensor of this %s model (expected "
                     "names like %s)", where, f->name, lsc_arch_name(m->config.arch), embed_name(m));
        if (is_embed || is_head) {
            int rc = check_vocab_tensor(m, f, where, err);
            if (rc != LSC_OK)
                return rc;
            *(is_embed ? &p->embed : &p->head) = f;
            continue;
        }
        int same = f->full_ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++)
            same = f->full_shape[d] == t->shape[d];
        if (!same)
            LSC_FAIL(err, LSC_ESHAPE, "%s: full tensor '%s' [%lld, %lld] does not fit the model's [%d, %d]", where,
                     f->name, f->full_shape[0], f->full_ndim > 1 ? f->full_shape[1] : 1LL, t->shape[0],
                     t->ndim > 1 ? t->shape[1] : 1);
    }
    return LSC_OK;
}

/* Tied heads and added tokens: which vocabulary, whether to untie. */
static int plan_vocab(const lsc_gpt *m, const lsc_adapter *ad, merge_plan *p, lsc_error *err)
{
    const char *where = ad->path ? ad->path : "adapter";
    const int V = m->config.vocab;
    const lsc_adapter_module *e = p->embed, *h = p->head;
    if (h && !own_head(m)) {   /* the head is the table: keep the tie when the saved head equals it */
        const float *tab = e ? e->weight : m->params_memory + lsc_gpt_find_tensor(m, embed_name(m))->offset;
        long long rows = e ? e->full_shape[0] : V;
        if (rows == h->full_shape[0] &&
            memcmp(tab, h->weight, (size_t)rows * (size_t)m->config.n_embd * sizeof(float)) == 0)
            p->head = h = NULL;
        else if (m->config.arch != LSC_ARCH_LLAMA)
            LSC_FAIL(err, LSC_EARG, "%s: full tensor 'lm_head' differs from the token table, and this GPT's head "
                     "is always its wte: it cannot be merged", where);
        else
            p->untie = 1;
    }
    long long er = e ? e->full_shape[0] : V, hr = h ? h->full_shape[0] : (own_head(m) || p->untie ? V : er);
    p->vocab = (int)(er > hr ? er : hr);
    if (er != hr)
        LSC_FAIL(err, LSC_ESHAPE, "%s: the adapter adds tokens (%s has %lld rows) but saves no %s with them "
                 "(the model's has %d rows)", where, er > hr ? embed_name(m) : HEAD_NAME, er > hr ? er : hr,
                 er > hr ? HEAD_NAME : embed_name(m), V);
    return LSC_OK;
}

/* DoRA and embedding LoRA names and shapes; CONV refused; LORA collected. */
static int check_factored(const lsc_gpt *m, const lsc_adapter *ad, int sign, merge_plan *p, lsc_error *err)
{
    const char *where = ad->path ? ad->path : "adapter";
    char name[160], own[96];
    for (int i = 0; i < ad->n_modules; i++) {
        const lsc_adapter_module *am = &ad->modules[i];
        int l, t, out, in;
        if (am->kind == LSC_ADAPTER_CONV)
            LSC_FAIL(err, LSC_EARG, "%s: module '%s' is conv LoRA: convolution updates are analysis-only and "
                     "cannot be merged into a language model", where, am->name);
        if (am->kind == LSC_ADAPTER_LORA) {
            p->sub_mods[p->sub.n_modules++] = *am;
            continue;
        }
        if (sign < 0 && am->kind == LSC_ADAPTER_DORA)
            LSC_FAIL(err, LSC_EARG, "%s: module '%s' is DoRA: its merge cannot be undone (only LoRA and "
                     "embedding LoRA subtract)", where, am->name);
        if (am->n_nonfinite)
            LSC_FAIL(err, LSC_ENAN, "%s: module '%s' holds %d NaN/Inf values", where, am->name, am->n_nonfinite);
        if (am->kind == LSC_ADAPTER_EMBEDDING) {
            tensor_name(am, name, sizeof name);
            if (strcmp(name, embed_name(m)) != 0)
                LSC_FAIL(err, LSC_ENOTFOUND, "%s: embedding LoRA '%s' is not this %s model's token table (%.*s)",
                         where, am->name, lsc_arch_name(m->config.arch),
                         (int)(strlen(embed_name(m)) - strlen(".weight")), embed_name(m));
            if (am->in_features != m->config.vocab || am->out_features != m->config.n_embd)
                LSC_FAIL(err, LSC_ESHAPE, "%s: embedding LoRA '%s' updates a [%d, %d] table but the model's is "
                         "[%d, %d]", where, am->name, am->in_features, am->out_features, m->config.vocab,
                         m->config.n_embd);
            continue;
        }
        own[0] = 0;   /* DoRA on a Linear layer of the model */
        if (lsc_lora_module_parse(am->name, &l, &t) == 0 && l < m->config.n_layer)
            lsc_lora_module_name(&m->config, l, t, own, sizeof own);
        if (strcmp(own, am->name) != 0)
            LSC_FAIL(err, LSC_ENOTFOUND, "%s: DoRA module '%s' is not a layer of this %s model", where, am->name,
                     lsc_arch_name(m->config.arch));
        lsc_gpt_linear_shape(&m->config, t, &out, &in);
        if (am->in_features != in || am->out_features != out)
            LSC_FAIL(err, LSC_ESHAPE, "%s: DoRA module '%s' is [%d, %d] but the model's weight is [%d, %d]", where,
                     am->name, am->out_features, am->in_features, out, in);
    }
    if (sign < 0 && ad->n_full)
        LSC_FAIL(err, LSC_EARG, "%s: '%s' is a full tensor: its merge replaced the base's and cannot be undone",
                 where, ad->full[0].name);
    return LSC_OK;
}

// ---- applying it ----

/* m rebuilt with vocab rows in its token table (and head), lm_head
 * separate when untie; every tensor copied, new rows 0. */
static int resize_model(lsc_gpt *m, int vocab, int untie, lsc_error *err)
{
    lsc_gpt n;
    lsc_gpt_config c = m->config;
    c.vocab = vocab;
    c.untied |= untie;
    int rc = lsc_gpt_init(&n, &c, err);
    if (rc != LSC_OK)
        return rc;
    for (int i = 0; i < n.n_tensors; i++) {
        const lsc_gpt_tensor *t = &n.tensors[i], *o = lsc_gpt_find_tensor(m, t->name);
        if (!o)   /* the head just untied starts as the table */
            o = lsc_gpt_find_tensor(m, embed_name(m));
        LSC_ASSERT(o && o->numel <= t->numel);
        memcpy(n.params_memory + t->offset, m->params_memory + o->offset, o->numel * sizeof(float));
    }
    n.n_ignored = m->n_ignored;
    memcpy(n.ignored_names, m->ignored_names, sizeof n.ignored_names);
    lsc_gpt_free(m);
    *m = n;
    return LSC_OK;
}

static int merge_dora(lsc_gpt *m, const lsc_adapter_module *am, lsc_error *err)
{
    int l, t, out, in;
    float *w, *bias;
    lsc_lora_module_parse(am->name, &l, &t);
    lsc_gpt_linear(m, l, t, &w, &bias, &out, &in);
    size_t n = (size_t)out * (size_t)in;
    double *dw = LSC_MALLOC(n * sizeof *dw);
    if (!dw)
        LSC_FAIL(err, LSC_ENOMEM, "DoRA merge of '%s': out of memory", am->name);
    int rc = lsc_dora_delta(out, in, am->r, w, 0, am->A, am->B, am->scaling, am->magnitude, dw, NULL, err);
    for (size_t j = 0; rc == LSC_OK && j < n; j++)
        w[j] = (float)((double)w[j] + dw[j]);
    LSC_FREE(dw);
    return rc;
}

/* table (V, C) += sign·s · Aᵀ (V, r) · Bᵀ (r, C). */
static void merge_embedding(lsc_gpt *m, const lsc_adapter_module *am, float sign)
{
    float *W = tensor_data(m, embed_name(m));
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, am->in_features, am->out_features, am->r,
                sign * (float)am->scaling, am->A, am->in_features, am->B, am->r, 1.0f, W, am->out_features);
}

static void replace_full(lsc_gpt *m, const lsc_adapter *ad)
{
    char name[160];
    for (int i = 0; i < ad->n_full; i++) {
        const lsc_adapter_module *f = &ad->full[i];
        tensor_name(f, name, sizeof name);
        float *dst = tensor_data(m, name);
        if (!dst)   /* a head equal to the tied table: nothing to write */
            continue;
        size_t numel = (size_t)f->out_features * (size_t)f->in_features;
        memcpy(dst, f->weight, numel * sizeof(float));
    }
}

static int apply_plan(lsc_gpt *m, const lsc_adapter *ad, int sign, merge_plan *p, lsc_error *err)
{
    int rc = lsc_gpt_dequantize(m, err);
    if (rc == LSC_OK && (p->vocab != m->config.vocab || p->untie))
        rc = resize_model(m, p->vocab, p->untie, err);
    for (int i = 0; rc == LSC_OK && i < ad->n_modules; i++)
        if (ad->modules[i].kind == LSC_ADAPTER_DORA)
            rc = merge_dora(m, &ad->modules[i], err);
    if (rc == LSC_OK && p->sub.n_modules) {
        lsc_lora lo;
        if ((rc = lsc_lora_from_adapter(&lo, &m->config, &p->sub, err)) == LSC_OK) {
            lo.merged = sign < 0;
            rc = sign < 0 ? lsc_lora_unmerge(m, &lo, err) : lsc_lora_merge(m, &lo, err);
        }
        lsc_lora_free(&lo);
    }
    for (int i = 0; rc == LSC_OK && i < ad->n_modules; i++)
        if (ad->modules[i].kind == LSC_ADAPTER_EMBEDDING)
            merge_embedding(m, &ad->modules[i], sign < 0 ? -1.0f : 1.0f);
    if (rc == LSC_OK)
        replace_full(m, ad);
    return rc;
}

// ---- entry ----

int lsc_adapter_merge(lsc_gpt *m, const lsc_adapter *ad, int sign, lsc_merge_summary *sum, lsc_error *err)
{
    merge_plan p;
    memset(&p, 0, sizeof p);
    p.vocab = m->config.vocab;
    if (ad->n_modules + ad->n_full < 1)
        LSC_FAIL(err, LSC_EFORMAT, "%s: the adapter has no modules", ad->path ? ad->path : "adapter");
    p.sub = *ad;
    p.sub.n_modules = 0;
    p.sub.n_full = 0;
    p.sub.full = NULL;
    p.sub_mods = LSC_CALLOC((size_t)ad->n_modules + 1, sizeof *p.sub_mods);
    if (!p.sub_mods)
        LSC_FAIL(err, LSC_ENOMEM, "merge: out of memory");
    p.sub.modules = p.sub_mods;
    int rc = check_factored(m, ad, sign, &p, err);
    if (rc == LSC_OK && (rc = check_full(m, ad, &p, err)) == LSC_OK)
        rc = plan_vocab(m, ad, &p, err);
    if (rc == LSC_OK && p.sub.n_modules) {   /* the LoRA modules' names and shapes, before any change */
        lsc_lora lo;
        rc = lsc_lora_from_adapter(&lo, &m->config, &p.sub, err);
        lsc_lora_free(&lo);
    }
    if (rc == LSC_OK && sum) {
        memset(sum, 0, sizeof *sum);
        sum->vocab_before = m->config.vocab;
    }
    if (rc == LSC_OK)
        rc = apply_plan(m, ad, sign, &p, err);
    LSC_FREE(p.sub_mods);
    if (rc != LSC_OK || !sum)
        return rc;
    for (int i = 0; i < ad->n_modules; i++)
        sum->n[ad->modules[i].kind]++;
    sum->n[LSC_ADAPTER_FULL] = ad->n_full;
    sum->vocab_after = m->config.vocab;
    sum->untied = p.untie;
    return LSC_OK;
}
