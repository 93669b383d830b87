/*
 * peft_load.c — reading an adapter's tensors (lsc_adapter_load, _named):
 * picking the adapter (a PEFT folder, its per-adapter subfolders, adapter
 * names inside keys, DIR:NAME), classifying every key into LoRA, DoRA,
 * embedding LoRA, conv LoRA or full tensor (lsc_peft.h lists the forms),
 * and kohya / Stable-Diffusion files (lora_down, lora_up, alpha).
 *
 * Not here: adapter_config.json and the per-module r/alpha rules (peft.c),
 * DoRA's effective update (needs the base; the analyses' business), and
 * LyCORIS kinds (LoHa, LoKr, OFT: refused as not supported).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "lsc_internal.h"

static const char KEY_PREFIX[] = "base_model.model.";

// ---- keys ----

enum { R_NONE, R_A, R_B, R_EA, R_EB, R_MAG, R_FULL, R_ALPHA };

/* One key's classification while it is made (on the stack). */
typedef struct key_parts {
    int  role;
    char mod[512];
    char name[128];   /* adapter name in the key, "" when none */
} key_parts;

/* One key's classification as kept for all keys: mod and name point into
 * one arena (key_arena), so a million keys cost tens of bytes each, not the
 * 644 of key_parts (issue 15). */
typedef struct key_info {
    int         role;
    const char *mod;
    const char *name;   /* "" when none */
} key_info;

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

static int copy_part(char *dst, size_t cap, const char *s, size_t n)
{
    if (n == 0 || n >= cap)
        return 0;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 1;
}

/* rest after ".lora_<tok>": "" | ".X" | ".X.Y"; *x, *y the parts ("" if absent). */
static int split_rest(const char *rest, char *x, char *y, size_t cap)
{
    x[0] = y[0] = '\0';
    if (!*rest)
        return 1;
    if (*rest != '.')
        return 0;
    const char *d = strchr(rest + 1, '.');
    if (!d)
        return copy_part(x, cap, rest + 1, strlen(rest + 1));
    return copy_part(x, cap, rest + 1, (size_t)(d - rest - 1)) && !strchr(d + 1, '.') &&
           copy_part(y, cap, d + 1, strlen(d + 1));
}

/* A PEFT key (lsc_peft.h's forms) into *k; role R_NONE when it is none. */
static void classify_peft(const char *key, key_parts *k)
{
    k->role = R_NONE;
    k->mod[0] = k->name[0] = '\0';
    const char *s = strncmp(key, KEY_PREFIX, sizeof KEY_PREFIX - 1) == 0 ? key + sizeof KEY_PREFIX - 1 : key;
    const char *p = NULL;
    for (const char *q = strstr(s, ".lora_"); q; q = strstr(q + 1, ".lora_"))
        p = q;
    char x[128], y[128];
    if (p) {
        static const struct { const char *tok; int role; } T[] = {
            {"A", R_A}, {"B", R_B}, {"embedding_A", R_EA}, {"embedding_B", R_EB}, {"magnitude_vector", R_MAG}};
        const char *t = p + 6, *e = strchr(t, '.');
        size_t tl = e ? (size_t)(e - t) : strlen(t);
        int role = R_NONE;
        for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
            if (strlen(T[i].tok) == tl && strncmp(t, T[i].tok, tl) == 0)
                role = T[i].role;
        if (role == R_NONE || !split_rest(t + tl, x, y, sizeof x) || !copy_part(k->mod, sizeof k->mod, s, (size_t)(p - s)))
            return;
        const char *name = "";
        if (role == R_A || role == R_B) {        /* .weight | .NAME.weight */
            if (!y[0] && strcmp(x, "weight") == 0)
                name = "";
            else if (y[0] && strcmp(y, "weight") == 0)
                name = x;
            else
                return;                          /* lora_B.bias and such */
        } else if (role == R_EA || role == R_EB) { /* "" | .NAME */
            if (y[0])
                return;
            name = x;
        } else {                                 /* "" | .weight | .NAME | .NAME.weight */
            if (y[0] && strcmp(y, "weight") != 0)
                return;
            name = strcmp(x, "weight") == 0 && !y[0] ? "" : x;
        }
        snprintf(k->name, sizeof k->name, "%s", name);
        k->role = role;
        return;
    }
    if (!ends_with(s, ".weight") || strstr(s, ".original_module.") || strstr(s, ".base_layer."))
        return;
    size_t n = strlen(s) - strlen(".weight");
    const char *mts = strstr(s, ".modules_to_save.");
    if (mts && (size_t)(mts - s) < n) {       /* M.modules_to_save.NAME.weight */
        const char *nm = mts + strlen(".modules_to_save.");
        if (!copy_part(k->mod, sizeof k->mod, s, (size_t)(mts - s)) ||
            !copy_part(k->name, sizeof k->name, nm, (size_t)(s + n - nm)) || strchr(k->name, '.'))
            return;
    } else if (!copy_part(k->mod, sizeof k->mod, s, n)) {
        return;
    }
    k->role = R_FULL;
}

/* A kohya key: NAME.lora_down.weight / NAME.lora_up.weight / NAME.alpha;
 * LyCORIS kinds are an error (returns LSC_EFORMAT). */
static int classify_kohya(const char *key, key_parts *k, const char *path, lsc_error *err)
{
    static const char *const lyco[] = {".hada_", ".lokr_", ".dora_scale", ".oft_", ".boft_", ".lora_mid."};
    k->role = R_NONE;
    k->mod[0] = k->name[0] = '\0';
    for (size_t i = 0; i < sizeof lyco / sizeof lyco[0]; i++)
        if (strstr(key, lyco[i]))
            LSC_FAIL(err, LSC_EFORMAT, "%s: not supported: LyCORIS/kohya %s tensors ('%s')", path, lyco[i] + 1, key);
    static const struct { const char *suf; int role; } S[] = {
        {".lora_down.weight", R_A}, {".lora_up.weight", R_B}, {".alpha", R_ALPHA}};
    for (size_t i = 0; i < sizeof S / sizeof S[0]; i++)
        if (ends_with(key, S[i].suf) && copy_part(k->mod, sizeof k->mod, key, strlen(key) - strlen(S[i].suf))) {
            k->role = S[i].role;
            return LSC_OK;
        }
    return LSC_OK;
}

// ---- modules ----

/* Natural order: digit runs compare as numbers, so h.2 < h.10. */
static int natural_cmp(const char *a, const char *b)
{
    while (*a && *b) {
        if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
            unsigned long long x = strtoull(a, (char **)&a, 10);
            unsigned long long y = strtoull(b, (char **)&b, 10);
            if (x != y)
                return x < y ? -1 : 1;
            continue;
        }
        if (*a != *b)
            return (unsigned char)*a - (unsigned char)*b;
        a++;
        b++;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

static int cmp_module(const void *a, const void *b)
{
    return natural_cmp(((const lsc_adapter_module *)a)->name, ((const lsc_adapter_module *)b)->name);
}

/* Modules in natural order; written in that order (as writers do), they are
 * only checked (a sort of large structs costs n log n natural compares).
 * 1 when they moved. */
static int sort_modules(lsc_adapter_module *m, int n)
{
    for (int i = 1; i < n; i++)
        if (cmp_module(&m[i - 1], &m[i]) > 0) {
            qsort(m, (size_t)n, sizeof *m, cmp_module);
            return 1;
        }
    return 0;
}

static int count_nonfinite(const float *x, size_t n)
{
    int c = 0;
    for (size_t i = 0; x && i < n; i++)
        c += !isfinite(x[i]);
    return c;
}

/* The tensors of one module (borrowed from the open file). */
typedef struct mod_tensors {
    const lsc_st_tensor *A, *B, *mag, *alpha;
    int emb;   /* A/B came as lora_embedding_A/B */
} mod_tensors;

static int read_tensor(const lsc_st_file *st, const lsc_st_tensor *t, float **out, const char *wts, lsc_error *err)
{
    if (!(*out = LSC_MALLOC((t->numel ? t->numel : 1) * sizeof(float))))
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", wts);
    return lsc_st_read_f32(st, t, *out, err);
}

/* Shapes of A and B into md (kind LORA, EMBEDDING or CONV). */
static int factor_shapes(lsc_adapter_module *md, const mod_tensors *mt, const char *wts, lsc_error *err)
{
    const lsc_st_tensor *A = mt->A, *B = mt->B;
    const char *f = mt->emb ? "lora_embedding_" : "lora_";
    if (!A || !B)
        LSC_FAIL(err, LSC_EFORMAT, "%s: module '%s' has %s%c but no %s%c", wts, md->name, f, A ? 'A' : 'B', f,
                 A ? 'B' : 'A');
    int nd = A->ndim;
    if (nd < 2 || nd > 5 || B->ndim != nd || (mt->emb && nd != 2))
        LSC_FAIL(err, LSC_ESHAPE, "%s: module '%s': %sA and %sB must both be 2-D (or conv kernels of equal rank)",
                 wts, md->name, f, f);
    int ones = 1;
    for (int d = 2; d < nd; d++)
        ones &= B->shape[d] == 1;
    if (A->shape[0] != B->shape[1] || A->shape[0] < 1 || B->shape[0] < 1 || A->numel < 1 || !ones)
        LSC_FAIL(err, LSC_ESHAPE, "%s: module '%s': %sA [%lld, %lld, ...] and %sB [%lld, %lld, ...] disagree on r",
                 wts, md->name, f, (long long)A->shape[0], (long long)A->shape[1], f, (long long)B->shape[0],
                 (long long)B->shape[1]);
    long long in = (long long)(A->numel / (size_t)A->shape[0]);
    if (A->shape[0] > 1000000 || in > 100000000 || B->shape[0] > 100000000)
        LSC_FAIL(err, LSC_ESHAPE, "%s: module '%s': implausible shape", wts, md->name);
    md->kind = mt->emb ? LSC_ADAPTER_EMBEDDING : nd > 2 ? LSC_ADAPTER_CONV : LSC_ADAPTER_LORA;
    md->r = (int)A->shape[0];
    md->in_features = (int)in;
    md->out_features = (int)B->shape[0];
    if (nd > 2) {
        md->conv_ndim = nd - 2;
        md->conv_in_channels = (int)A->shape[1];
        for (int d = 2; d < nd; d++)
            md->conv_kernel[d - 2] = (int)A->shape[d];
    }
    return LSC_OK;
}

/* The DoRA magnitude of md (kind LORA so far) when mt has one. */
static int load_magnitude(const lsc_adapter *ad, lsc_adapter_module *md, const mod_tensors *mt,
                          const lsc_st_file *st, const char *wts, lsc_error *err)
{
    if (!mt->mag) {
        if (ad->use_dora && md->kind == LSC_ADAPTER_LORA)
            LSC_FAIL(err, LSC_EFORMAT, "%s: use_dora is true but module '%s' has no lora_magnitude_vector", wts,
                     md->name);
        return LSC_OK;
    }
    if (md->kind != LSC_ADAPTER_LORA)
        LSC_FAIL(err, LSC_EFORMAT, "%s: module '%s': not supported: DoRA on a %s", wts, md->name,
                 md->kind == LSC_ADAPTER_CONV ? "convolution" : "embedding");
    if (mt->mag->numel != (size_t)md->out_features)
        LSC_FAIL(err, LSC_ESHAPE, "%s: module '%s': lora_magnitude_vector has %zu elements, not out_features = %d",
                 wts, md->name, mt->mag->numel, md->out_features);
    md->kind = LSC_ADAPTER_DORA;
    return read_tensor(st, mt->mag, &md->magnitude, wts, err);
}

/* One factored module: shapes, r and alpha (config or kohya alpha), scaling, values. */
static int load_module(lsc_adapter *ad, lsc_adapter_module *md, const mod_tensors *mt, const lsc_st_file *st,
                       const char *wts, lsc_error *err)
{
    int rc = factor_shapes(md, mt, wts, err);
    if (rc != LSC_OK)
        return rc;
    if (ad->is_kohya) {
        float a = 0.0f;
        if (mt->alpha && (mt->alpha->numel != 1 || (rc = lsc_st_read_f32(st, mt->alpha, &a, err)) != LSC_OK))
            return rc != LSC_OK ? rc : lsc_error_set(err, LSC_ESHAPE, __FILE__, __LINE__,
                                                     "%s: module '%s': alpha is not a scalar", wts, md->name);
        md->alpha = a != 0.0f && isfinite(a) ? (double)a : (double)md->r;  /* kohya: alpha 0 or absent = r */
        md->scaling = md->alpha / (double)md->r;
    } else {
        int r_cfg;
        lsc_adapter_module_params(ad, md->name, &r_cfg, &md->alpha);
        if (md->r != r_cfg)
            LSC_FAIL(err, LSC_ESHAPE,
                     "%s: module '%s' has rank %d in its tensors but r = %d in adapter_config.json", wts, md->name,
                     md->r, r_cfg);
        md->scaling = lsc_adapter_scaling(ad, md->r, md->alpha);
    }
    snprintf(md->dtype, sizeof md->dtype, "%s", lsc_dtype_name(mt->A->dtype));
    if ((rc = read_tensor(st, mt->A, &md->A, wts, err)) != LSC_OK ||
        (rc = read_tensor(st, mt->B, &md->B, wts, err)) != LSC_OK ||
        (rc = load_magnitude(ad, md, mt, st, wts, err)) != LSC_OK)
        return rc;
    md->n_nonfinite = count_nonfinite(md->A, mt->A->numel) + count_nonfinite(md->B, mt->B->numel) +
                      count_nonfinite(md->magnitude, mt->mag ? mt->mag->numel : 0);
    return LSC_OK;
}

/* A modules_to_save tensor into ad->full. */
static int load_full(lsc_adapter *ad, const char *mod, const lsc_st_tensor *t, const lsc_st_file *st,
                     const lsc_hmap *mods, lsc_hmap *fulls, const char *wts, lsc_error *err)
{
    if (lsc_hmap_get(mods, mod) >= 0)
        LSC_FAIL(err, LSC_EFORMAT, "%s: '%s' is both a LoRA module and a saved full tensor", wts, mod);
    int had = lsc_hmap_put(fulls, mod, ad->n_full);
    if (had == LSC_ENOMEM)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", wts);
    if (had >= 0)
        LSC_FAIL(err, LSC_EFORMAT, "%s: two full tensors for '%s'", wts, mod);
    if (t->ndim < 1 || t->ndim > 4 || t->numel < 1 || t->shape[0] > 100000000)
        LSC_FAIL(err, LSC_ESHAPE, "%s: full tensor '%s': unsupported shape", wts, mod);
    lsc_adapter_module *md = &ad->full[ad->n_full++];
    md->kind = LSC_ADAPTER_FULL;
    md->scaling = 1.0;
    md->full_ndim = t->ndim;
    for (int d = 0; d < t->ndim; d++)
        md->full_shape[d] = (long long)t->shape[d];
    md->out_features = (int)t->shape[0];
    md->in_features = (int)(t->numel / (size_t)t->shape[0]);
    snprintf(md->dtype, sizeof md->dtype, "%s", lsc_dtype_name(t->dtype));
    if (!(md->name = lsc_strdup_(mod)))
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", wts);
    int rc = read_tensor(st, t, &md->weight, wts, err);
    if (rc == LSC_OK)
        md->n_nonfinite = count_nonfinite(md->weight, t->numel);
    return rc;
}

/* Every key of st classified into ki[0..n_tensors), the strings copied into
 * *arena (one allocation the caller frees): a key's module and adapter name
 * are disjoint parts of it, so strlen(key) + 2 bytes hold both. */
static int classify_keys(const lsc_adapter *ad, const lsc_st_file *st, key_info *ki, char **arena, const char *wts,
                         lsc_error *err)
{
    size_t total = 1;
    for (int i = 0; i < st->n_tensors; i++)
        total += strlen(st->tensors[i].name) + 2;
    char *p = *arena = LSC_MALLOC(total);
    if (!p)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", wts);
    lsc_hmap_hint_huge_(p, total);
    for (int i = 0; i < st->n_tensors; i++) {
        key_parts k;
        if (ad->is_kohya) {
            int rc = classify_kohya(st->tensors[i].name, &k, wts, err);
            if (rc != LSC_OK)
                return rc;
        } else {
            classify_peft(st->tensors[i].name, &k);
        }
        ki[i].role = k.role;
        size_t lm = strlen(k.mod), ln = strlen(k.name);
        ki[i].mod = memcpy(p, k.mod, lm + 1);
        p += lm + 1;
        ki[i].name = ln ? memcpy(p, k.name, ln + 1) : "";
        p += ln ? ln + 1 : 0;
    }
    return LSC_OK;
}

// ---- adapter names inside keys ----

/* The adapter name the keys select: want, or the only one in the keys.
 * *sel = "" when the keys carry none. label names the folder ("default"
 * at the top, a subfolder's name). */
static int pick_key_name(const key_info *ki, int n, const char *want, const char *label, char *sel, size_t cap,
                         const char *wts, lsc_error *err)
{
    char names[1024] = "";
    int n_names = 0, found = 0;
    lsc_hmap seen = {0};
    sel[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (ki[i].role == R_NONE || !ki[i].name[0])
            continue;
        int had = lsc_hmap_put(&seen, ki[i].name, i);
        if (had == LSC_ENOMEM) {
            lsc_hmap_free(&seen);
            LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", wts);
        }
        if (had >= 0)
            continue;
        n_names++;
        found |= want && strcmp(want, ki[i].name) == 0;
        size_t l = strlen(names);
        snprintf(names + l, sizeof names - l, "%s%s", l ? ", " : "", ki[i].name);
        if (n_names == 1)
            snprintf(sel, cap, "%s", ki[i].name);
    }
    lsc_hmap_free(&seen);
    if (n_names == 0) {
        if (want && label && strcmp(want, label) != 0)
            LSC_FAIL(err, LSC_ENOTFOUND, "%s: no adapter named '%s' (this folder holds '%s')", wts, want, label);
        return LSC_OK;
    }
    if (want && !found)
        LSC_FAIL(err, LSC_ENOTFOUND, "%s: no adapter named '%s' (its keys name: %s)", wts, want, names);
    if (!want && n_names > 1)
        LSC_FAIL(err, LSC_EFORMAT, "%s: keys of %d adapters (%s); pick one as DIR:NAME", wts, n_names, names);
    if (want)
        snprintf(sel, cap, "%s", want);
    return LSC_OK;
}

// ---- tensors ----

/* Modules of the classified keys ki (selected name sel) into ad; *mods:
 * module name (borrowed from ki) -> index into ad->modules (index_modules
 * turns it into the name index). */
static int build_modules(lsc_adapter *ad, const lsc_st_file *st, const key_info *ki, const char *sel,
                         mod_tensors *mt, lsc_hmap *mods, const char *wts, lsc_error *err)
{
    int rc = LSC_OK;
    lsc_hmap fulls = {0};   /* module name -> index into ad->full */
    if (lsc_hmap_reserve(mods, (size_t)st->n_tensors / 2) != LSC_OK)   /* two tensors a module, usually */
        return lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", wts);
    for (int i = 0; i < st->n_tensors && rc == LSC_OK; i++) {
        const key_info *k = &ki[i];
        if (i + 8 < st->n_tensors)
            lsc_hmap_prefetch(mods, ki[i + 8].mod);   /* overlaps the cache misses of a big map */
        if (k->role == R_NONE || k->role == R_FULL || (k->name[0] && strcmp(k->name, sel) != 0))
            continue;
        int m = lsc_hmap_put(mods, k->mod, ad->n_modules);
        if (m == -1) {
            m = ad->n_modules++;
            if (!(ad->modules[m].name = lsc_strdup_(k->mod)))
                m = LSC_ENOMEM;
        }
        if (m < 0) {
            rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", wts);
            break;
        }
        const lsc_st_tensor **slot = k->role == R_A || k->role == R_EA ? &mt[m].A
                                   : k->role == R_B || k->role == R_EB ? &mt[m].B
                                   : k->role == R_MAG ? &mt[m].mag : &mt[m].alpha;
        int emb = k->role == R_EA || k->role == R_EB;
        if (*slot || ((k->role != R_MAG && k->role != R_ALPHA) && (mt[m].A || mt[m].B) && mt[m].emb != emb)) {
            rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__,
                               "%s: module '%s' has two tensors for one factor ('%s')", wts, k->mod,
                               st->tensors[i].name);
            break;
        }
        *slot = &st->tensors[i];
        mt[m].emb |= emb;
    }
    for (int m = 0; m < ad->n_modules && rc == LSC_OK; m++)
        rc = load_module(ad, &ad->modules[m], &mt[m], st, wts, err);
    for (int i = 0; i < st->n_tensors && rc == LSC_OK; i++)
        if (ki[i].role == R_FULL && (!ki[i].name[0] || strcmp(ki[i].name, sel) == 0))
            rc = load_full(ad, ki[i].mod, &st->tensors[i], st, mods, &fulls, wts, err);
        else if (ki[i].role == R_NONE && !(ad->ignored[ad->n_ignored++] = lsc_strdup_(st->tensors[i].name)))
            rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", wts);
    lsc_hmap_free(&fulls);
    return rc;
}

/* The name index of lsc_adapter_find (lsc_peft.h). mods: build_modules'
 * map, its keys borrowed from the freed key arena; when the modules kept
 * their order (sorted == 0) it is the index once its keys are the modules'
 * own names (equal strings: the hashes hold), so nothing is hashed again. */
static int index_modules(lsc_adapter *ad, lsc_hmap *mods, int sorted, const char *wts, lsc_error *err)
{
    if (!sorted) {
        for (size_t i = 0; i < mods->cap; i++)
            if (mods->slots[i].key)
                mods->slots[i].key = ad->modules[mods->slots[i].val].name;
        ad->module_index_ = *mods;
        memset(mods, 0, sizeof *mods);
        ad->module_index_of_ = ad->modules;
        return LSC_OK;
    }
    lsc_hmap_free(mods);
    if (lsc_hmap_reserve(&ad->module_index_, (size_t)ad->n_modules) != LSC_OK)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", wts);
    for (int i = 0; i < ad->n_modules; i++)
        lsc_hmap_put(&ad->module_index_, ad->modules[i].name, i);   /* reserved: cannot grow */
    ad->module_index_of_ = ad->modules;
    return LSC_OK;
}

/* The tensors of the opened weights file st into ad (want/label: see
 * pick_key_name). */
static int load_tensors(lsc_adapter *ad, const lsc_st_file *st, const char *want, const char *label,
                        const char *wts, lsc_error *err)
{
    size_t n = (size_t)st->n_tensors + 1;
    ad->modules = LSC_CALLOC(n, sizeof *ad->modules);
    ad->full = LSC_CALLOC(n, sizeof *ad->full);
    ad->ignored = LSC_CALLOC(n, sizeof(char *));
    key_info *ki = LSC_CALLOC(n, sizeof *ki);
    mod_tensors *mt = LSC_CALLOC(n, sizeof *mt);
    int rc = LSC_OK;
    char sel[128] = "";
    if (!ad->modules || !ad->full || !ad->ignored || !ki || !mt)
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", wts);
    lsc_hmap_hint_huge_(ad->modules, n * sizeof *ad->modules);
    lsc_hmap_hint_huge_(ki, n * sizeof *ki);
    lsc_hmap_hint_huge_(mt, n * sizeof *mt);
    char *arena = NULL;
    lsc_hmap mods = {0};
    if (rc == LSC_OK)
        rc = classify_keys(ad, st, ki, &arena, wts, err);
    if (rc == LSC_OK && !ad->is_kohya)
        rc = pick_key_name(ki, st->n_tensors, want, label, sel, sizeof sel, wts, err);
    if (rc == LSC_OK && !ad->is_kohya && !(ad->adapter_name = lsc_strdup_(sel[0] ? sel : label)))
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", wts);
    if (rc == LSC_OK)
        rc = build_modules(ad, st, ki, sel, mt, &mods, wts, err);
    LSC_FREE(ki);
    LSC_FREE(arena);
    LSC_FREE(mt);
    if (rc == LSC_OK && ad->n_modules == 0 && ad->n_full == 0)
        rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__, "%s: no lora_A/lora_B tensors", wts);
    if (rc == LSC_OK) {
        int sorted = sort_modules(ad->modules, ad->n_modules);
        sort_modules(ad->full, ad->n_full);
        rc = index_modules(ad, &mods, sorted, wts, err);
    }
    lsc_hmap_free(&mods);
    return rc;
}

// ---- folders ----

/* The config and weights file names of adapter directory dir, checked to
 * exist (cfg, wts: 4200 bytes each). */
static int adapter_paths(const char *dir, char *cfg, char *wts, lsc_error *err)
{
    struct stat sb;
    snprintf(cfg, 4200, "%s/adapter_config.json", dir);
    snprintf(wts, 4200, "%s/adapter_model.safetensors", dir);
    if (stat(cfg, &sb) != 0)
        LSC_FAIL(err, LSC_ENOTFOUND, "%s: no adapter_config.json in this directory", dir);
    if (stat(wts, &sb) != 0) {
        char alt[4300];
        snprintf(alt, sizeof alt, "%s/adapter_model.bin", dir);
        if (stat(alt, &sb) == 0)
            LSC_FAIL(err, LSC_EFORMAT,
                     "%s: only adapter_model.bin (pickle, never unpickled here) found; convert it to "
                     "adapter_model.safetensors (e.g. PEFT's save_pretrained(..., safe_serialization=True))",
                     dir);
        LSC_FAIL(err, LSC_ENOTFOUND, "%s: no adapter_model.safetensors in this directory", dir);
    }
    return LSC_OK;
}

/* One PEFT folder (config + weights) into ad. */
static int load_folder(lsc_adapter *ad, const char *dir, const char *want, const char *label, lsc_error *err)
{
    char cfg[4200], wts[4200];
    int rc = adapter_paths(dir, cfg, wts, err);
    if (rc != LSC_OK)
        return rc;
    if (!(ad->path = lsc_strdup_(dir)))
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", dir);
    lsc_st_file st;
    memset(&st, 0, sizeof st);
    if ((rc = lsc_peft_parse_config_(ad, cfg, err)) == LSC_OK && (rc = lsc_st_open(&st, wts, err)) == LSC_OK)
        rc = load_tensors(ad, &st, want, label, wts, err);
    if (rc == LSC_OK)
        ad->st = st;   /* kept (lsc_adapter_free closes it) */
    else
        lsc_st_close(&st);
    return rc;
}

/* A kohya .safetensors file (at least one *.lora_down.weight key). */
static int load_kohya(lsc_adapter *ad, const char *path, lsc_error *err)
{
    lsc_st_file st;
    memset(&st, 0, sizeof st);
    int kohya = 0;
    if (ends_with(path, ".safetensors") && lsc_st_open(&st, path, err) == LSC_OK)
        for (int i = 0; i < st.n_tensors; i++)
            kohya |= ends_with(st.tensors[i].name, ".lora_down.weight");
    int rc = LSC_OK;
    if (!kohya)
        rc = lsc_error_set(err, LSC_EARG, __FILE__, __LINE__,
                           "%s: not an adapter directory (expected adapter_config.json inside) nor a kohya "
                           "LoRA .safetensors file (*.lora_down.weight / *.lora_up.weight)", path);
    else if (!(ad->path = lsc_strdup_(path)))
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", path);
    ad->is_kohya = 1;
    if (rc == LSC_OK)
        rc = load_tensors(ad, &st, NULL, NULL, path, err);
    if (rc == LSC_OK)
        ad->st = st;   /* kept (lsc_adapter_free closes it) */
    else
        lsc_st_close(&st);
    return rc;
}

/* Names of dir's subfolders holding an adapter_config.json, sorted, as
 * "a, b" in list (cap bytes); the count, or -1 out of memory. */
static int list_subadapters(const char *dir, char *list, size_t cap)
{
    list[0] = '\0';
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    char *names[64];
    int n = 0, oom = 0;
    for (struct dirent *e = readdir(d); e && n < 64 && !oom; e = readdir(d)) {
        char p[4200];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s/adapter_config.json", dir, e->d_name);
        if (e->d_name[0] != '.' && stat(p, &sb) == 0 && S_ISREG(sb.st_mode))
            oom = !(names[n++] = lsc_strdup_(e->d_name));
    }
    closedir(d);
    if (oom) {
        while (n > 0)
            LSC_FREE(names[--n]);
        return -1;
    }
    for (int i = 1; i < n; i++)   /* insertion sort: a handful of names */
        for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    for (int i = 0; i < n; i++) {
        size_t l = strlen(list);
        snprintf(list + l, cap - l, "%s%s", l ? ", " : "", names[i]);
        LSC_FREE(names[i]);
    }
    return n;
}

/* The adapter folder of dir for want (NULL: the only one) into sub
 * (4096 bytes) and its label. */
static int pick_folder(const char *dir, const char *want, char *sub, const char **label, lsc_error *err)
{
    char list[2048], p[4200];
    struct stat sb;
    snprintf(p, sizeof p, "%s/adapter_config.json", dir);
    int top = stat(p, &sb) == 0;
    int n = list_subadapters(dir, list, sizeof list);
    if (n < 0)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", dir);
    snprintf(sub, 4096, "%s", dir);
    *label = "default";
    if (want) {
        snprintf(p, sizeof p, "%s/%s/adapter_config.json", dir, want);
        if (!strchr(want, '/') && strcmp(want, ".") && strcmp(want, "..") && stat(p, &sb) == 0) {
            snprintf(sub, 4096, "%s/%s", dir, want);
            *label = want;
        } else if (!top && n > 0) {
            LSC_FAIL(err, LSC_ENOTFOUND, "%s: no adapter named '%s' (adapters here: %s)", dir, want, list);
        }
        return LSC_OK;
    }
    if (!top && n == 1) {
        snprintf(sub, 4096, "%s/%s", dir, list);
        *label = strrchr(sub, '/') + 1;
    } else if (n > 0 && (top || n > 1)) {
        LSC_FAIL(err, LSC_EFORMAT, "%s: %d adapters here (%s%s%s); pick one as DIR:NAME", dir, n + top,
                 top ? "default" : "", top ? ", " : "", list);
    }
    return LSC_OK;
}

int lsc_adapter_load_named(lsc_adapter *ad, const char *path, const char *name, lsc_error *err)
{
    memset(ad, 0, sizeof *ad);
    struct stat sb;
    int rc;
    if (stat(path, &sb) != 0)
        LSC_FAIL(err, LSC_EIO, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) {
        if (name)
            LSC_FAIL(err, LSC_EARG, "%s: a file holds one adapter; no name ('%s') applies", path, name);
        rc = load_kohya(ad, path, err);
    } else {
        char sub[4096];
        const char *label;
        rc = pick_folder(path, name, sub, &label, err);
        int picked = rc == LSC_OK;
        if (picked)
            rc = load_folder(ad, sub, name, label, err);
        char list[2048];   /* NAME not at the top: name the subfolders' adapters too */
        if (picked && rc == LSC_ENOTFOUND && name && err && strcmp(sub, path) == 0 &&
            list_subadapters(path, list, sizeof list) > 0) {
            char top[512];
            snprintf(top, sizeof top, "%s", err->msg);
            rc = lsc_error_set(err, LSC_ENOTFOUND, __FILE__, __LINE__, "%s; in subfolders: %s", top, list);
        }
    }
    if (rc != LSC_OK)
        lsc_adapter_free(ad);
    return rc;
}

int lsc_adapter_load(lsc_adapter *ad, const char *spec, lsc_error *err)
{
    struct stat sb;
    const char *colon = strrchr(spec, ':');
    if (stat(spec, &sb) == 0 || !colon || !colon[1] || colon == spec)
        return lsc_adapter_load_named(ad, spec, NULL, err);
    char dir[4096];
    if ((size_t)(colon - spec) >= sizeof dir)
        return lsc_adapter_load_named(ad, spec, NULL, err);
    memcpy(dir, spec, (size_t)(colon - spec));
    dir[colon - spec] = '\0';
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return lsc_adapter_load_named(ad, spec, NULL, err);
    return lsc_adapter_load_named(ad, dir, colon + 1, err);
}
