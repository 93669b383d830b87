/*
 * lora.c — LoRA adapters for the GPT of model.c: which linear layers are
 * adapted (targets by name and layer, a rank per target; the names and
 * shapes come from the parameter table, arch_gpt.c), the adapter's own
 * contiguous parameter buffer with a gradient buffer of the same layout,
 * initialisation (A Kaiming-uniform or Gaussian, B zero), merge/unmerge into
 * W0, task switching, and conversion to and from the PEFT adapter layout of
 * peft.c. On an NF4 (QLoRA) base merge/unmerge first turn the base into
 * fp32 deq(W).
 *
 * What it is not: not the per-module forward/backward the model's passes
 * call (lora_layer.c, below the model; this file sits above it), no
 * optimiser (AdamW runs over lo->params/lo->grads), no file format of its
 * own (PEFT's, through peft.c).
 *
 * Shapes: for a module adapting W0 (out, in): A (r, in), B (out, r),
 * dW = scale·B·A with scale = alpha/r (or alpha/sqrt(r), rsLoRA).
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lsc_internal.h"

// ---- construction ----

/* Shape (out, in) of target t's weight in a model with config mc. */
static void target_shape(const lsc_gpt_config *mc, int t, int *out, int *in)
{
    size_t d, k;
    lsc_arch_target_shape_(lsc_arch_of_(mc), mc, t, &d, &k);
    *out = (int)d;
    *in = (int)k;
}

void lsc_lora_free(lsc_lora *lo)
{
    if (!lo)
        return;
    LSC_FREE(lo->modules);
    LSC_FREE(lo->module_of);
    LSC_FREE(lo->params);
    LSC_FREE(lo->grads);
    LSC_FREE(lo->acts);
    LSC_FREE(lo->act_off);
    memset(lo, 0, sizeof *lo);
}

/* Allocates modules (layers[i], targets[i], ranks[i], alphas[i], sorted by
 * layer then target), module_of, params and grads (zeroed), and the views. */
static int lora_build(lsc_lora *lo, const lsc_gpt_config *mc, int n, const int *layers,
                      const int *targets, const int *ranks, const double *alphas, int rslora,
                      lsc_error *err)
{
    size_t nslots = (size_t)mc->n_layer * LSC_LORA_NTARGETS;
    lo->model = *mc;
    lo->modules = LSC_CALLOC((size_t)n, sizeof *lo->modules);
    lo->module_of = LSC_MALLOC(nslots * sizeof *lo->module_of);
    if (!lo->modules || !lo->module_of)
        goto oom;
    for (size_t s = 0; s < nslots; s++)
        lo->module_of[s] = -1;
    for (int i = 0; i < n; i++)
        lo->module_of[(size_t)layers[i] * LSC_LORA_NTARGETS + (size_t)targets[i]] = i;
    /* modules in (layer, target) order: the order of the forward pass */
    int k = 0;
    size_t off = 0;
    for (size_t s = 0; s < nslots; s++) {
        int i = lo->module_of[s];
        if (i < 0)
            continue;
        lsc_lora_module *md = &lo->modules[k];
        md->layer = layers[i];
        md->target = targets[i];
        md->r = ranks[i];
        target_shape(mc, md->target, &md->out, &md->in);
        md->alpha = alphas[i];
        md->scale = (float)(rslora ? md->alpha / sqrt((double)md->r) : md->alpha / (double)md->r);
        md->offset = off;
        off += (size_t)md->r * (size_t)(md->in + md->out);
        lo->module_of[s] = k++;
    }
    LSC_ASSERT(k == n);
    lo->n_modules = n;
    lo->num_parameters = off;
    lo->params = LSC_CALLOC(off, sizeof(float));
    lo->grads = LSC_CALLOC(off, sizeof(float));
    if (!lo->params || !lo->grads)
        goto oom;
    for (int i = 0; i < n; i++) {
        lsc_lora_module *md = &lo->modules[i];
        md->A = lo->params + md->offset;
        md->B = md->A + (size_t)md->r * md->in;
        md->dA = lo->grads + md->offset;
        md->dB = md->dA + (size_t)md->r * md->in;
    }
    return LSC_OK;
oom:
    lsc_lora_free(lo);
    LSC_FAIL(err, LSC_ENOMEM, "LoRA: out of memory for the adapter");
}

/* The random stream of one module's A: FNV-1a 64 over the PEFT module name
 * ("h.2.attn.q_proj"), its NUL and the rank as 4 little-endian bytes, mixed
 * with the run's key by splitmix64 (lsc_rng_seed) twice, so that a key, a
 * name or a rank that differ in one bit give unrelated streams. */
LSC_WRAPS static uint64_t module_stream(uint64_t key, const char *name, int r)
{
    uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a 64 offset basis */
    size_t n = strlen(name) + 1;
    for (size_t i = 0; i < n + 4; i++) {
        unsigned char c = i < n ? (unsigned char)name[i] : (unsigned char)((uint32_t)r >> (8 * (i - n)));
        h = (h ^ c) * 0x100000001b3ull;     /* FNV-1a 64 prime */
    }
    uint64_t k, s;
    lsc_rng_seed(&k, key);
    lsc_rng_seed(&s, k ^ h);
    return s;
}

/* The rank of every (layer, target) into per (L, NTARGETS): rank[t], or
 * the value of the first of the np compiled rank_pattern keys pp matching
 * the module's PEFT name; checked against min(in, out). */
static int module_ranks(const lsc_gpt_config *mcfg, const lsc_lora_config *cfg, lsc_pattern *const *pp, int np,
                        int *per, lsc_error *err)
{
    char name[64];
    for (int l = 0; l < mcfg->n_layer; l++)
        for (int t = 0; t < LSC_LORA_NTARGETS; t++) {
            int r = cfg->rank[t], out, in;
            per[l * LSC_LORA_NTARGETS + t] = 0;
            if (!lsc_arch_has_target_(lsc_arch_of_(mcfg), t))
                continue;
            lsc_lora_module_name(mcfg, l, t, name, sizeof name);
            for (int i = 0; i < np; i++)
                if (lsc_pattern_match(pp[i], name)) {
                    r = cfg->pattern_vals[i];
                    break;
                }
            target_shape(mcfg, t, &out, &in);
            if (r < 0 || r > (out < in ? out : in))
                LSC_FAIL(err, LSC_EARG, "LoRA: rank %d for %s must be in [1, min(in, out) = %d]", r, name,
                         out < in ? out : in);
            per[l * LSC_LORA_NTARGETS + t] = r;
        }
    return LSC_OK;
}

/* module_ranks with cfg's rank_pattern keys compiled (PEFT's rule, pattern.c). */
static int pattern_ranks(const lsc_gpt_config *mcfg, const lsc_lora_config *cfg, int *per, lsc_error *err)
{
    int np = cfg->n_pattern > 0 ? cfg->n_pattern : 0, rc = LSC_OK;
    lsc_pattern **pp = np ? LSC_CALLOC((size_t)np, sizeof *pp) : NULL;
    if (np && !pp)
        LSC_FAIL(err, LSC_ENOMEM, "LoRA: out of memory for the rank pattern");
    for (int i = 0; i < np && rc == LSC_OK; i++)
        rc = lsc_pattern_compile(&pp[i], cfg->pattern_keys[i], err);
    if (rc == LSC_OK)
        rc = module_ranks(mcfg, cfg, pp, np, per, err);
    for (int i = 0; i < np; i++)
        lsc_pattern_free(pp[i]);
    LSC_FREE(pp);
    return rc;
}

int lsc_lora_init(lsc_lora *lo, const lsc_gpt_config *mcfg, const lsc_lora_config *cfg,
                  uint64_t *rng, lsc_error *err)
{
    memset(lo, 0, sizeof *lo);
    int L = mcfg->n_layer;
    if (!(cfg->alpha > 0.0) || !isfinite(cfg->alpha))
        LSC_FAIL(err, LSC_EARG, "LoRA: alpha = %g must be positive", cfg->alpha);
    if (!(cfg->dropout >= 0.0 && cfg->dropout < 1.0))
        LSC_FAIL(err, LSC_EARG, "LoRA: dropout = %g must be in [0, 1)", cfg->dropout);
    if (cfg->init != LSC_LORA_INIT_KAIMING && cfg->init != LSC_LORA_INIT_GAUSSIAN)
        LSC_FAIL(err, LSC_EARG, "LoRA: unknown init %d", cfg->init);
    if (L < 64 && (cfg->layer_mask >> L) != 0)
        LSC_FAIL(err, LSC_EARG, "LoRA: layer mask selects a layer >= n_layer = %d", L);
    for (int t = 0; t < LSC_LORA_NTARGETS; t++) {
        int out, in;
        if (!lsc_arch_has_target_(lsc_arch_of_(mcfg), t)) {
            if (cfg->rank[t] != 0)
                LSC_FAIL(err, LSC_EARG, "LoRA: target %s is not a layer of the %s model", lsc_lora_target_name(t),
                         lsc_arch_name(mcfg->arch));
            continue;
        }
        target_shape(mcfg, t, &out, &in);
        int rmax = out < in ? out : in;
        if (cfg->rank[t] < 0 || cfg->rank[t] > rmax)
            LSC_FAIL(err, LSC_EARG, "LoRA: rank %d for %s must be in [1, min(in, out) = %d]",
                     cfg->rank[t], lsc_lora_target_name(t), rmax);
    }
    int layers[64 * LSC_LORA_NTARGETS], targets[64 * LSC_LORA_NTARGETS];
    int ranks[64 * LSC_LORA_NTARGETS], per[64 * LSC_LORA_NTARGETS];
    double alphas[64 * LSC_LORA_NTARGETS];
    int n = 0;
    if (L > 64)
        LSC_FAIL(err, LSC_EARG, "LoRA: %d layers (at most 64)", L);
    int prc = pattern_ranks(mcfg, cfg, per, err);
    if (prc != LSC_OK)
        return prc;
    for (int l = 0; l < L; l++) {
        if (cfg->layer_mask && !((cfg->layer_mask >> l) & 1))
            continue;
        for (int t = 0; t < LSC_LORA_NTARGETS; t++)
            if (per[l * LSC_LORA_NTARGETS + t] > 0) {
                layers[n] = l, targets[n] = t, ranks[n] = per[l * LSC_LORA_NTARGETS + t], alphas[n] = cfg->alpha;
                n++;
            }
    }
    if (n == 0)
        LSC_FAIL(err, LSC_EARG, "LoRA: no module selected (every rank is 0 or no layer in the mask)");
    int rc = lora_build(lo, mcfg, n, layers, targets, ranks, alphas, cfg->rslora, err);
    if (rc != LSC_OK)
        return rc;
    lo->config = *cfg;
    lo->config.n_pattern = 0;   /* borrowed: not kept (the modules hold their ranks) */
    lo->config.pattern_keys = NULL;
    lo->config.pattern_vals = NULL;
    /* one key from the caller's rng (a fixed advance, whatever the modules);
     * each module's A from its own stream (module_stream); B stays 0 */
    uint64_t key = lsc_rng_u64(rng);
    char name[64];
    for (int i = 0; i < lo->n_modules; i++) {
        lsc_lora_module *md = &lo->modules[i];
        size_t na = (size_t)md->r * md->in;
        lsc_lora_module_name(&lo->model, md->layer, md->target, name, sizeof name);
        uint64_t mrng = module_stream(key, name, md->r);
        if (cfg->init == LSC_LORA_INIT_KAIMING) {
            /* kaiming_uniform_(a=sqrt(5)) on (r, in): U(-1/sqrt(in), 1/sqrt(in)) */
            double bound = 1.0 / sqrt((double)md->in);
            for (size_t j = 0; j < na; j++)
                md->A[j] = (float)((2.0 * lsc_rng_uniform_d(&mrng) - 1.0) * bound);
        } else {
            /* PEFT init_lora_weights="gaussian": N(0, (1/r)^2) */
            double std = 1.0 / md->r;
            for (size_t j = 0; j < na; j++)
                md->A[j] = (float)(std * lsc_rng_normal(&mrng));
        }
    }
    return LSC_OK;
}

lsc_lora_module *lsc_lora_find(const lsc_lora *lo, int layer, int target)
{
    if (layer < 0 || layer >= lo->model.n_layer || target < 0 || target >= LSC_LORA_NTARGETS)
        return NULL;
    int i = lo->module_of[layer * LSC_LORA_NTARGETS + target];
    return i < 0 ? NULL : &lo->modules[i];
}

// ---- merge, unmerge, switch ----

static int check_fits(const lsc_gpt *m, const lsc_lora *lo, lsc_error *err)
{
    if (m->config.n_layer != lo->model.n_layer || m->config.n_embd != lo->model.n_embd)
        LSC_FAIL(err, LSC_ESHAPE, "LoRA: adapter made for L=%d C=%d does not fit the model (L=%d C=%d)",
                 lo->model.n_layer, lo->model.n_embd, m->config.n_layer, m->config.n_embd);
    return LSC_OK;
}

/* W0 += sign·scale·B·A for every module. */
static void add_delta(lsc_gpt *m, const lsc_lora *lo, float sign)
{
    for (int i = 0; i < lo->n_modules; i++) {
        const lsc_lora_module *md = &lo->modules[i];
        float *w, *bias;
        int out, in;
        lsc_gpt_linear(m, md->layer, md->target, &w, &bias, &out, &in);
        // W (out, in) += s · B (out, r) · A (r, in)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, out, in, md->r, sign * md->scale,
                    md->B, md->r, md->A, in, 1.0f, w, in);
    }
}

int lsc_lora_merge(lsc_gpt *m, lsc_lora *lo, lsc_error *err)
{
    int rc = check_fits(m, lo, err);
    if (rc != LSC_OK)
        return rc;
    if (lo->merged)
        LSC_FAIL(err, LSC_EARG, "LoRA: merge of an adapter that is already merged");
    /* QLoRA: a 4-bit W cannot hold W + s·B·A; merge into deq(W) in fp32 */
    if ((rc = lsc_gpt_dequantize(m, err)) != LSC_OK)
        return rc;
    add_delta(m, lo, 1.0f);
    lo->merged = 1;
    return LSC_OK;
}

int lsc_lora_unmerge(lsc_gpt *m, lsc_lora *lo, lsc_error *err)
{
    int rc = check_fits(m, lo, err);
    if (rc != LSC_OK)
        return rc;
    if (!lo->merged)
        LSC_FAIL(err, LSC_EARG, "LoRA: unmerge of an adapter that is not merged");
    if ((rc = lsc_gpt_dequantize(m, err)) != LSC_OK)
        return rc;
    add_delta(m, lo, -1.0f);
    lo->merged = 0;
    return LSC_OK;
}

int lsc_lora_switch(lsc_gpt *m, lsc_lora *from, lsc_lora *to, lsc_error *err)
{
    int rc;
    if (to && (rc = check_fits(m, to, err)) != LSC_OK)
        return rc;
    if (to && to->merged && to != from)
        LSC_FAIL(err, LSC_EARG, "LoRA: switch to an adapter that is already merged");
    if (from && from->merged && (rc = lsc_lora_unmerge(m, from, err)) != LSC_OK)
        return rc;
    if (to && (rc = lsc_lora_merge(m, to, err)) != LSC_OK)
        return rc;
    return lsc_gpt_set_lora(m, to, err);
}

// ---- PEFT conversion ----

/* 1 when a target is adapted in only some of the layers of the mask (a
 * per-module rank pattern, issue 20): target_modules then lists the full
 * module names, so that PEFT creates no module that the file does not hold. */
static int targets_partial(const lsc_lora *lo)
{
    int n_masked = 0, partial = 0;
    for (int l = 0; l < lo->model.n_layer; l++)
        n_masked += !lo->config.layer_mask || ((lo->config.layer_mask >> l) & 1);
    for (int t = 0; t < LSC_LORA_NTARGETS; t++) {
        int count = 0;
        for (int i = 0; i < lo->n_modules; i++)
            count += lo->modules[i].target == t;
        partial |= count > 0 && count < n_masked;
    }
    return partial;
}

int lsc_lora_to_adapter(const lsc_lora *lo, const char *base_model, lsc_adapter *ad,
                        lsc_error *err)
{
    memset(ad, 0, sizeof *ad);
    int n = lo->n_modules;
    char name[64];
    /* config r and lora_alpha: the most common values (first on ties) */
    int best_r = 0, best_rc = 0, best_ac = 0;
    double best_a = 0.0;
    for (int i = 0; i < n; i++) {
        int cr = 0, ca = 0;
        for (int j = 0; j < n; j++) {
            cr += lo->modules[j].r == lo->modules[i].r;
            ca += lo->modules[j].alpha == lo->modules[i].alpha;
        }
        if (cr > best_rc)
            best_rc = cr, best_r = lo->modules[i].r;
        if (ca > best_ac)
            best_ac = ca, best_a = lo->modules[i].alpha;
    }
    ad->r = best_r;
    ad->lora_alpha = best_a;
    ad->lora_dropout = lo->config.dropout;
    ad->use_rslora = lo->config.rslora;
    ad->fan_in_fan_out = 0;
    ad->base_model = base_model ? lsc_strdup_(base_model) : NULL;
    ad->init_lora_weights = lsc_strdup_(lo->config.init == LSC_LORA_INIT_GAUSSIAN ? "gaussian" : "true");
    int partial = targets_partial(lo);
    ad->target_modules = LSC_CALLOC((size_t)(n > LSC_LORA_NTARGETS ? n : LSC_LORA_NTARGETS) + 1, sizeof(char *));
    /* at most one pattern per target, or one per module */
    ad->rank_pattern_keys = LSC_CALLOC((size_t)n + 1, sizeof(char *));
    ad->rank_pattern_vals = LSC_CALLOC((size_t)n + 1, sizeof(int));
    ad->alpha_pattern_keys = LSC_CALLOC((size_t)n + 1, sizeof(char *));
    ad->alpha_pattern_vals = LSC_CALLOC((size_t)n + 1, sizeof(double));
    ad->modules = LSC_CALLOC((size_t)n + 1, sizeof *ad->modules);
    if ((base_model && !ad->base_model) || !ad->init_lora_weights || !ad->target_modules ||
        !ad->rank_pattern_keys || !ad->rank_pattern_vals || !ad->alpha_pattern_keys ||
        !ad->alpha_pattern_vals || !ad->modules)
        goto oom;
    for (int t = 0; t < LSC_LORA_NTARGETS; t++) {
        int count = 0, r_same = 1, a_same = 1, r0 = 0;
        double a0 = 0.0;
        for (int i = 0; i < n; i++) {
            const lsc_lora_module *md = &lo->modules[i];
            if (md->target != t)
                continue;
            if (count == 0)
                r0 = md->r, a0 = md->alpha;
            r_same &= md->r == r0;
            a_same &= md->alpha == a0;
            count++;
        }
        if (count == 0)
            continue;
        if (!partial && !(ad->target_modules[ad->n_targets++] = lsc_strdup_(lsc_lora_target_name(t))))
            goto oom;
        /* rank_pattern/alpha_pattern: keyed by the short name when the
         * whole target agrees, else by the full name of each module that
         * differs from the config value */
        if (r_same && r0 != best_r) {
            int k = ad->n_rank_pattern++;
            if (!(ad->rank_pattern_keys[k] = lsc_strdup_(lsc_lora_target_name(t))))
                goto oom;
            ad->rank_pattern_vals[k] = r0;
        }
        if (a_same && a0 != best_a) {
            int k = ad->n_alpha_pattern++;
            if (!(ad->alpha_pattern_keys[k] = lsc_strdup_(lsc_lora_target_name(t))))
                goto oom;
            ad->alpha_pattern_vals[k] = a0;
        }
        for (int i = 0; i < n; i++) {
            const lsc_lora_module *md = &lo->modules[i];
            if (md->target != t)
                continue;
            lsc_lora_module_name(&lo->model, md->layer, md->target, name, sizeof name);
            if (!r_same && md->r != best_r) {
                int k = ad->n_rank_pattern++;
                if (!(ad->rank_pattern_keys[k] = lsc_strdup_(name)))
                    goto oom;
                ad->rank_pattern_vals[k] = md->r;
            }
            if (!a_same && md->alpha != best_a) {
                int k = ad->n_alpha_pattern++;
                if (!(ad->alpha_pattern_keys[k] = lsc_strdup_(name)))
                    goto oom;
                ad->alpha_pattern_vals[k] = md->alpha;
            }
        }
    }
    for (int i = 0; i < n; i++) {
        const lsc_lora_module *md = &lo->modules[i];
        lsc_adapter_module *am = &ad->modules[i];
        ad->n_modules = i + 1;
        lsc_lora_module_name(&lo->model, md->layer, md->target, name, sizeof name);
        am->name = lsc_strdup_(name);
        if (partial && !(ad->target_modules[ad->n_targets++] = lsc_strdup_(name)))
            goto oom;
        am->r = md->r;
        am->alpha = md->alpha;
        am->scaling = md->scale;
        am->in_features = md->in;
        am->out_features = md->out;
        am->A = LSC_MALLOC((size_t)md->r * md->in * sizeof(float));
        am->B = LSC_MALLOC((size_t)md->out * md->r * sizeof(float));
        if (!am->name || !am->A || !am->B)
            goto oom;
        memcpy(am->A, md->A, (size_t)md->r * md->in * sizeof(float));
        memcpy(am->B, md->B, (size_t)md->out * md->r * sizeof(float));
        size_t nn = (size_t)md->r * (md->in + md->out);
        for (size_t j = 0; j < nn; j++)
            am->n_nonfinite += !isfinite(md->A[j]);   /* A and B are contiguous */
        snprintf(am->dtype, sizeof am->dtype, "F32");
    }
    return LSC_OK;
oom:
    lsc_adapter_free(ad);
    LSC_FAIL(err, LSC_ENOMEM, "LoRA: out of memory converting to a PEFT adapter");
}

int lsc_lora_from_adapter(lsc_lora *lo, const lsc_gpt_config *mcfg, const lsc_adapter *ad,
                          lsc_error *err)
{
    memset(lo, 0, sizeof *lo);
    const char *where = ad->path ? ad->path : "adapter";
    int n = ad->n_modules, L = mcfg->n_layer;
    if (ad->n_full > 0)   /* issue 14: modules_to_save never silently dropped */
        LSC_FAIL(err, LSC_EFORMAT, "%s: '%s' is a full tensor (modules_to_save): only plain LoRA runs unmerged; "
                 "merge the adapter into the base first (lorascope merge)", where, ad->full[0].name);
    if (n < 1)
        LSC_FAIL(err, LSC_EFORMAT, "%s: the adapter has no LoRA modules", where);
    if (n > L * LSC_LORA_NTARGETS)
        LSC_FAIL(err, LSC_ESHAPE, "%s: %d modules but the model has only %d adaptable layers", where, n,
                 L * LSC_LORA_NTARGETS);
    int *layers = LSC_MALLOC(3 * (size_t)n * sizeof(int));
    double *alphas = LSC_MALLOC((size_t)n * sizeof(double));
    int *seen = LSC_CALLOC((size_t)L * LSC_LORA_NTARGETS, sizeof(int));
    int rc = LSC_OK;
    if (!layers || !alphas || !seen) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", where);
        goto done;
    }
    int *targets = layers + n, *ranks = layers + 2 * n;
    for (int i = 0; i < n; i++) {
        const lsc_adapter_module *am = &ad->modules[i];
        int l, t, out, in;
        char own[96] = "";
        if (am->kind != LSC_ADAPTER_LORA) {   /* issue 14: never DoRA etc. silently as plain LoRA */
            rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__, am->kind == LSC_ADAPTER_CONV
                               ? "%s: module '%s' is %s: analysis-only, it has no place in a language model"
                               : "%s: module '%s' is %s: only plain LoRA runs unmerged; merge the adapter into "
                               "the base first (lorascope merge)", where, am->name, lsc_adapter_kind_name(am->kind));
            goto done;
        }
        if (lsc_lora_module_parse(am->name, &l, &t) == 0)
            lsc_lora_module_name(mcfg, l, t, own, sizeof own);
        if (strcmp(own, am->name) != 0) {   /* not a name of this model's architecture */
            char ex[96];
            lsc_lora_module_name(mcfg, 0, LSC_LORA_Q, ex, sizeof ex);
            rc = lsc_error_set(err, LSC_ENOTFOUND, __FILE__, __LINE__,
                               "%s: module '%s' is not a layer of this %s model (expected names like %s)",
                               where, am->name, lsc_arch_name(mcfg->arch), ex);
            goto done;
        }
        if (l >= L) {
            rc = lsc_error_set(err, LSC_ESHAPE, __FILE__, __LINE__,
                               "%s: module '%s' is beyond the model's %d layers", where, am->name, L);
            goto done;
        }
        target_shape(mcfg, t, &out, &in);
        if (am->in_features != in || am->out_features != out || am->r < 1) {
            rc = lsc_error_set(err, LSC_ESHAPE, __FILE__, __LINE__,
                               "%s: module '%s' has A (%d, %d), B (%d, %d) but the model's weight is (%d, %d)",
                               where, am->name, am->r, am->in_features, am->out_features, am->r, out, in);
            goto done;
        }
        if (seen[l * LSC_LORA_NTARGETS + t]++) {
            rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__, "%s: module '%s' appears twice",
                               where, am->name);
            goto done;
        }
        if (am->n_nonfinite) {
            rc = lsc_error_set(err, LSC_ENAN, __FILE__, __LINE__,
                               "%s: module '%s' holds %d NaN/Inf values", where, am->name, am->n_nonfinite);
            goto done;
        }
        layers[i] = l, targets[i] = t, ranks[i] = am->r, alphas[i] = am->alpha;
    }
    if ((rc = lora_build(lo, mcfg, n, layers, targets, ranks, alphas, ad->use_rslora, err)) != LSC_OK)
        goto done;
    for (int i = 0; i < n; i++) {
        const lsc_adapter_module *am = &ad->modules[i];
        lsc_lora_module *md = &lo->modules[lo->module_of[layers[i] * LSC_LORA_NTARGETS + targets[i]]];
        memcpy(md->A, am->A, (size_t)am->r * am->in_features * sizeof(float));
        memcpy(md->B, am->B, (size_t)am->out_features * am->r * sizeof(float));
        if (am->scaling > 0.0)
            md->scale = (float)am->scaling;
    }
    lsc_lora_config *c = &lo->config;
    memset(c, 0, sizeof *c);
    c->alpha = ad->lora_alpha;
    c->dropout = ad->lora_dropout >= 0.0 && ad->lora_dropout < 1.0 ? ad->lora_dropout : 0.0;
    c->rslora = ad->use_rslora;
    c->init = ad->init_lora_weights && strcmp(ad->init_lora_weights, "gaussian") == 0
                  ? LSC_LORA_INIT_GAUSSIAN : LSC_LORA_INIT_KAIMING;
    for (int i = 0; i < lo->n_modules; i++) {
        const lsc_lora_module *md = &lo->modules[i];
        if (c->rank[md->target] == 0)
            c->rank[md->target] = md->r;
        c->layer_mask |= 1ull << md->layer;
    }
done:
    LSC_FREE(layers);
    LSC_FREE(alphas);
    LSC_FREE(seen);
    return rc;
}

int lsc_lora_save(const lsc_lora *lo, const char *base_model, const char *dir, lsc_error *err)
{
    lsc_adapter ad;
    int rc = lsc_lora_to_adapter(lo, base_model, &ad, err);
    if (rc != LSC_OK)
        return rc;
    rc = lsc_adapter_save(&ad, dir, err);
    lsc_adapter_free(&ad);
    return rc;
}

int lsc_lora_load(lsc_lora *lo, const lsc_gpt_config *mcfg, const char *dir, lsc_error *err)
{
    lsc_adapter ad;
    memset(lo, 0, sizeof *lo);
    int rc = lsc_adapter_load(&ad, dir, err);
    if (rc != LSC_OK)
        return rc;
    rc = lsc_lora_from_adapter(lo, mcfg, &ad, err);
    lsc_adapter_free(&ad);
    return rc;
}
