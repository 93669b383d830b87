/*
 * hf_folder.c — a Hugging Face model folder opened without knowing the
 * architecture's tensors: config.json parsed into lsc_hf_config, the
 * weights (model.safetensors, or the shards named by
 * model.safetensors.index.json) opened with the validated safetensors
 * reader and gathered into one name -> (shard, tensor) hash table.
 *
 * Nothing is copied: the shards stay mmap'ed and tensors are converted to
 * float a tile at a time into the caller's buffer, the mapping's pages
 * released behind the tile. It is not the architecture layer: it does not
 * know which names a Llama needs, only which ones a caller claims
 * (lsc_hf_unclaimed).
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "lsc_internal.h"

#define HF_CONFIG "config.json"
#define HF_SINGLE "model.safetensors"
#define HF_INDEX  "model.safetensors.index.json"
#define HF_TILE   ((size_t)1 << 16)   /* elements converted per tile */

// ---- config.json ----

/* An optional integer field in [lo, hi]: absent or null leaves *out alone
 * (0 = absent, 1 = set, < 0 error). Checked as a double before converting,
 * so 1e300 or 2.5 are errors, not undefined behaviour. */
static int cfg_int(const cJSON *root, const char *key, int lo, int hi, int *out, const char *path,
                   lsc_error *err)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!j || cJSON_IsNull(j))
        return 0;
    if (!cJSON_IsNumber(j))
        LSC_FAIL(err, LSC_EFORMAT, "%s: \"%s\" must be an integer", path, key);
    double v = j->valuedouble;
    if (lsc_json_num_check(v, lo, hi, 1, NULL, NULL, NULL) != LSC_OK)
        LSC_FAIL(err, LSC_EFORMAT, "%s: \"%s\" must be an integer in [%d, %d] (got %g)", path, key, lo, hi, v);
    *out = (int)v;
    return 1;
}

/* An optional number in (lo, hi]. */
static int cfg_num(const cJSON *root, const char *key, double lo, double hi, double *out, const char *path,
                   lsc_error *err)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!j || cJSON_IsNull(j))
        return 0;
    if (!cJSON_IsNumber(j))
        LSC_FAIL(err, LSC_EFORMAT, "%s: \"%s\" must be a number", path, key);
    double v = j->valuedouble;
    if (lsc_json_num_check(v, lo, hi, 0, NULL, NULL, NULL) != LSC_OK || !(v > lo))
        LSC_FAIL(err, LSC_EFORMAT, "%s: \"%s\" must be in (%g, %g] (got %g)", path, key, lo, hi, v);
    *out = v;
    return 1;
}

static int cfg_bool(const cJSON *root, const char *key, int *out, const char *path, lsc_error *err)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!j || cJSON_IsNull(j))
        return 0;
    if (!cJSON_IsBool(j))
        LSC_FAIL(err, LSC_EFORMAT, "%s: \"%s\" must be true or false", path, key);
    *out = cJSON_IsTrue(j);
    return 1;
}

/* An optional string into out[cap]; j may be any item (NULL = absent). */
static int cfg_str_item(const cJSON *j, const char *what, char *out, size_t cap, const char *path,
                        lsc_error *err)
{
    if (!j || cJSON_IsNull(j))
        return 0;
    if (!cJSON_IsString(j))
        LSC_FAIL(err, LSC_EFORMAT, "%s: \"%s\" must be a string", path, what);
    if (strlen(j->valuestring) >= cap)
        LSC_FAIL(err, LSC_EFORMAT, "%s: \"%s\" is longer than %zu characters", path, what, cap - 1);
    snprintf(out, cap, "%s", j->valuestring);
    return 1;
}

static int cfg_strings(lsc_hf_config *c, const cJSON *root, const char *path, lsc_error *err)
{
    int rc = cfg_str_item(cJSON_GetObjectItemCaseSensitive(root, "model_type"), "model_type", c->model_type,
                          sizeof c->model_type, path, err);
    if (rc < 0)
        return rc;
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(root, "torch_dtype");
    if (!dt || cJSON_IsNull(dt))
        dt = cJSON_GetObjectItemCaseSensitive(root, "dtype");
    if ((rc = cfg_str_item(dt, "torch_dtype", c->torch_dtype, sizeof c->torch_dtype, path, err)) < 0)
        return rc;
    const cJSON *ar = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    if (!ar || cJSON_IsNull(ar))
        return LSC_OK;
    if (!cJSON_IsArray(ar))
        LSC_FAIL(err, LSC_EFORMAT, "%s: \"architectures\" must be an array of strings", path);
    rc = cfg_str_item(cJSON_GetArrayItem(ar, 0), "architectures[0]", c->architecture, sizeof c->architecture,
                      path, err);
    return rc < 0 ? rc : LSC_OK;
}

/* The integer fields: required ones, then the defaults that depend on them. */
static int cfg_ints(lsc_hf_config *c, const cJSON *root, const char *path, lsc_error *err)
{
    static const struct {
        const char *key;
        size_t      off;
        int         hi;
    } req[] = {
        {"hidden_size", offsetof(lsc_hf_config, hidden_size), 1 << 20},
        {"intermediate_size", offsetof(lsc_hf_config, intermediate_size), 1 << 22},
        {"num_hidden_layers", offsetof(lsc_hf_config, num_hidden_layers), 1 << 16},
        {"num_attention_heads", offsetof(lsc_hf_config, num_attention_heads), 1 << 16},
        {"vocab_size", offsetof(lsc_hf_config, vocab_size), 1 << 24},
    };
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        int rc = cfg_int(root, req[i].key, 1, req[i].hi, (int *)((char *)c + req[i].off), path, err);
        if (rc < 0)
            return rc;
        if (rc == 0)
            LSC_FAIL(err, LSC_EFORMAT, "%s: missing \"%s\"", path, req[i].key);
    }
    int rc, nh = c->num_attention_heads;
    c->num_key_value_heads = nh;
    if ((rc = cfg_int(root, "num_key_value_heads", 1, nh, &c->num_key_value_heads, path, err)) < 0)
        return rc;
    if (nh % c->num_key_value_heads != 0)
        LSC_FAIL(err, LSC_EFORMAT, "%s: num_key_value_heads %d does not divide num_attention_heads %d", path,
                 c->num_key_value_heads, nh);
    c->head_dim = 0;
    if ((rc = cfg_int(root, "head_dim", 1, 1 << 16, &c->head_dim, path, err)) < 0)
        return rc;
    if (rc == 0) {
        if (c->hidden_size % nh != 0)
            LSC_FAIL(err, LSC_EFORMAT, "%s: num_attention_heads %d does not divide hidden_size %d (and no head_dim)",
                     path, nh, c->hidden_size);
        c->head_dim = c->hidden_size / nh;
    }
    c->max_position_embeddings = 2048;
    rc = cfg_int(root, "max_position_embeddings", 1, 1 << 30, &c->max_position_embeddings, path, err);
    return rc < 0 ? rc : LSC_OK;
}

static int cfg_fields(lsc_hf_config *c, const cJSON *root, const char *path, lsc_error *err)
{
    int rc;
    if ((rc = cfg_strings(c, root, path, err)) < 0 || (rc = cfg_ints(c, root, path, err)) < 0)
        return rc;
    c->rms_norm_eps = 1e-6;
    c->rope_theta = 10000.0;
    if ((rc = cfg_num(root, "rms_norm_eps", 0.0, 0.5, &c->rms_norm_eps, path, err)) < 0 ||
        (rc = cfg_num(root, "rope_theta", 0.0, 1e12, &c->rope_theta, path, err)) < 0)
        return rc;
    c->tie_word_embeddings = strcmp(c->model_type, "gemma") == 0 || strcmp(c->model_type, "gemma2") == 0;
    if ((rc = cfg_bool(root, "tie_word_embeddings", &c->tie_word_embeddings, path, err)) < 0 ||
        (rc = cfg_bool(root, "attention_bias", &c->attention_bias, path, err)) < 0)
        return rc;
    c->qkv_bias = c->attention_bias || strcmp(c->model_type, "qwen2") == 0;
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    c->rope_scaling = rs && !cJSON_IsNull(rs);
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (cJSON_IsString(act) && act->valuestring)
        snprintf(c->hidden_act, sizeof c->hidden_act, "%s", act->valuestring);
    return LSC_OK;
}

int lsc_hf_config_parse(lsc_hf_config *c, const char *text, size_t n, const char *path, lsc_error *err)
{
    memset(c, 0, sizeof *c);
    cJSON *root = cJSON_ParseWithLength(text, n);
    int rc;
    if (!root || !cJSON_IsObject(root))
        rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__, "%s: not a JSON object", path);
    else
        rc = cfg_fields(c, root, path, err);
    cJSON_Delete(root);
    if (rc != LSC_OK)
        memset(c, 0, sizeof *c);
    return rc;
}

int lsc_hf_config_load(lsc_hf_config *c, const char *path, lsc_error *err)
{
    char *text = NULL;
    size_t n = 0;
    memset(c, 0, sizeof *c);
    int rc = lsc_read_file_(path, &text, &n, err);
    if (rc != LSC_OK)
        return rc;
    rc = lsc_hf_config_parse(c, text, n, path, err);
    LSC_FREE(text);
    return rc;
}

// ---- the name table ----

LSC_WRAPS static size_t hf_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)h;
}

/* Slot of name: its tensor's slot, or the empty slot where it would go. */
static size_t hf_slot(const lsc_hf_folder *hf, const char *name)
{
    size_t mask = hf->n_buckets - 1, i = hf_hash(name) & mask;
    while (hf->buckets[i] >= 0 && strcmp(hf->tensors[hf->buckets[i]].name, name) != 0)
        i = (i + 1) & mask;
    return i;
}

const lsc_hf_tensor *lsc_hf_find(const lsc_hf_folder *hf, const char *name)
{
    if (!hf->buckets)
        return NULL;
    int k = hf->buckets[hf_slot(hf, name)];
    return k >= 0 ? &hf->tensors[k] : NULL;
}

const char *lsc_hf_path(const lsc_hf_folder *hf, const lsc_hf_tensor *t)
{
    return hf->shards[t->shard].path;
}

/* Every tensor of every open shard into the table; a name in two shards
 * is an error naming both files. */
static int hf_build_table(lsc_hf_folder *hf, lsc_error *err)
{
    size_t n = 0;
    for (int s = 0; s < hf->n_shards; s++)
        n += (size_t)hf->shards[s].n_tensors;
    if (n > (size_t)1 << 28)
        LSC_FAIL(err, LSC_EFORMAT, "%s: %zu tensors (too many)", hf->dir, n);
    size_t nb = 16;
    while (nb < 2 * n)
        nb *= 2;
    hf->tensors = LSC_CALLOC(n + 1, sizeof *hf->tensors);
    hf->buckets = LSC_MALLOC(nb * sizeof *hf->buckets);
    if (!hf->tensors || !hf->buckets)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory for %zu tensor names", hf->dir, n);
    hf->n_buckets = nb;
    for (size_t i = 0; i < nb; i++)
        hf->buckets[i] = -1;
    for (int s = 0; s < hf->n_shards; s++) {
        const lsc_st_file *f = &hf->shards[s];
        for (int i = 0; i < f->n_tensors; i++) {
            const lsc_st_tensor *t = &f->tensors[i];
            size_t slot = hf_slot(hf, t->name);
            if (hf->buckets[slot] >= 0)
                LSC_FAIL(err, LSC_EFORMAT, "%s: duplicate tensor '%s' (also in %s)", f->path, t->name,
                         lsc_hf_path(hf, &hf->tensors[hf->buckets[slot]]));
            hf->tensors[hf->n_tensors] = (lsc_hf_tensor){t->name, s, t};
            hf->buckets[slot] = hf->n_tensors++;
            hf->raw_bytes += t->end - t->begin;
            hf->n_params += t->numel;
        }
    }
    return LSC_OK;
}

// ---- opening a folder ----

static int hf_join(char *out, size_t cap, const char *dir, const char *name)
{
    return snprintf(out, cap, "%s/%s", dir, name) < (int)cap;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Opens shard file name (from the index) unless already open; *idx its slot. */
static int hf_add_shard(lsc_hf_folder *hf, const char *name, int cap, int *idx, const char *index_path,
                        lsc_error *err)
{
    char path[4096];
    if (!*name || strchr(name, '/') || strcmp(name, "..") == 0 || strcmp(name, ".") == 0)
        LSC_FAIL(err, LSC_EFORMAT, "%s: shard name '%s' is not a plain file name", index_path, name);
    if (!hf_join(path, sizeof path, hf->dir, name))
        LSC_FAIL(err, LSC_EARG, "%s: path too long", index_path);
    for (int s = 0; s < hf->n_shards; s++)
        if (strcmp(hf->shards[s].path, path) == 0) {
            *idx = s;
            return LSC_OK;
        }
    LSC_ASSERT(hf->n_shards < cap);
    if (!file_exists(path))
        LSC_FAIL(err, LSC_ENOTFOUND, "%s: names shard '%s', which does not exist (%s)", index_path, name, path);
    int rc = lsc_st_open(&hf->shards[hf->n_shards], path, err);
    if (rc != LSC_OK)
        return rc;
    *idx = hf->n_shards++;
    return LSC_OK;
}

/* The weight_map object of the parsed index: opens its shards. */
static int hf_open_shards(lsc_hf_folder *hf, const cJSON *wm, const char *index_path, lsc_error *err)
{
    int n = cJSON_GetArraySize(wm);
    hf->shards = LSC_CALLOC((size_t)n + 1, sizeof *hf->shards);
    if (!hf->shards)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", index_path);
    for (const cJSON *e = wm->child; e; e = e->next) {
        int idx, rc;
        if (!e->string || !cJSON_IsString(e))
            LSC_FAIL(err, LSC_EFORMAT, "%s: weight_map entry '%s' is not a string", index_path,
                     e->string ? e->string : "?");
        if ((rc = hf_add_shard(hf, e->valuestring, n, &idx, index_path, err)) != LSC_OK)
            return rc;
    }
    if (hf->n_shards == 0)
        LSC_FAIL(err, LSC_EFORMAT, "%s: empty weight_map", index_path);
    return LSC_OK;
}

/* The index and the shards agree: each entry names the shard that holds
 * the tensor, once; no shard tensor is missing from the index. */
static int hf_check_index(lsc_hf_folder *hf, const cJSON *wm, const char *index_path, lsc_error *err)
{
    unsigned char *listed = LSC_CALLOC((size_t)hf->n_tensors + 1, 1);
    if (!listed)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", index_path);
    int rc = LSC_OK;
    for (const cJSON *e = wm->child; e && rc == LSC_OK; e = e->next) {
        char path[4096];
        hf_join(path, sizeof path, hf->dir, e->valuestring);
        const lsc_hf_tensor *t = lsc_hf_find(hf, e->string);
        if (!t)
            rc = lsc_error_set(err, LSC_ENOTFOUND, __FILE__, __LINE__,
                               "%s: lists tensor '%s' in %s, which has no such tensor", index_path, e->string,
                               path);
        else if (strcmp(lsc_hf_path(hf, t), path) != 0)
            rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__,
                               "%s: lists tensor '%s' in %s, but it is in %s", index_path, e->string, path,
                               lsc_hf_path(hf, t));
        else if (listed[t - hf->tensors]++)
            rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__, "%s: lists tensor '%s' twice", index_path,
                               e->string);
    }
    for (int i = 0; i < hf->n_tensors && rc == LSC_OK; i++)
        if (!listed[i])
            rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__, "%s: tensor '%s' is not listed in %s",
                               lsc_hf_path(hf, &hf->tensors[i]), hf->tensors[i].name, index_path);
    LSC_FREE(listed);
    return rc;
}

static int hf_open_index(lsc_hf_folder *hf, const char *index_path, lsc_error *err)
{
    char *text = NULL;
    size_t n = 0;
    int rc = lsc_read_file_(index_path, &text, &n, err);
    if (rc != LSC_OK)
        return rc;
    cJSON *root = cJSON_ParseWithLength(text, n);
    LSC_FREE(text);
    const cJSON *wm = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!cJSON_IsObject(root))
        rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__, "%s: not a JSON object", index_path);
    else if (!cJSON_IsObject(wm))
        rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__, "%s: no \"weight_map\" object", index_path);
    if (rc == LSC_OK)
        rc = hf_open_shards(hf, wm, index_path, err);
    if (rc == LSC_OK)
        rc = hf_build_table(hf, err);
    if (rc == LSC_OK)
        rc = hf_check_index(hf, wm, index_path, err);
    cJSON_Delete(root);
    return rc;
}

static int hf_open_weights(lsc_hf_folder *hf, lsc_error *err)
{
    char single[4096], index[4096];
    if (!hf_join(single, sizeof single, hf->dir, HF_SINGLE) || !hf_join(index, sizeof index, hf->dir, HF_INDEX))
        LSC_FAIL(err, LSC_EARG, "%s: path too long", hf->dir);
    if (!file_exists(single)) {
        if (!file_exists(index))
            LSC_FAIL(err, LSC_ENOTFOUND, "%s: no " HF_SINGLE " and no " HF_INDEX, hf->dir);
        return hf_open_index(hf, index, err);
    }
    hf->shards = LSC_CALLOC(1, sizeof *hf->shards);
    if (!hf->shards)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", single);
    int rc = lsc_st_open(&hf->shards[0], single, err);
    if (rc != LSC_OK)
        return rc;
    hf->n_shards = 1;
    return hf_build_table(hf, err);
}

void lsc_hf_close(lsc_hf_folder *hf)
{
    if (!hf)
        return;
    for (int s = 0; s < hf->n_shards; s++)
        lsc_st_close(&hf->shards[s]);
    LSC_FREE(hf->shards);
    LSC_FREE(hf->tensors);
    LSC_FREE(hf->buckets);
    LSC_FREE(hf->dir);
    memset(hf, 0, sizeof *hf);
}

int lsc_hf_open(lsc_hf_folder *hf, const char *dir, lsc_error *err)
{
    memset(hf, 0, sizeof *hf);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        LSC_FAIL(err, LSC_EIO, "%s: not a directory (a Hugging Face model folder)", dir);
    if (!(hf->dir = lsc_strdup_(dir)))
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", dir);
    for (size_t n = strlen(hf->dir); n > 1 && hf->dir[n - 1] == '/';)
        hf->dir[--n] = '\0'; /* "dir/" names files as "dir/x", not "dir//x" */
    char cfg[4096];
    int rc = LSC_OK;
    if (!hf_join(cfg, sizeof cfg, hf->dir, HF_CONFIG))
        rc = lsc_error_set(err, LSC_EARG, __FILE__, __LINE__, "%s: path too long", dir);
    else if (!file_exists(cfg))
        rc = lsc_error_set(err, LSC_ENOTFOUND, __FILE__, __LINE__, "%s: missing (not a Hugging Face model folder)",
                           cfg);
    if (rc == LSC_OK)
        rc = lsc_hf_config_load(&hf->cfg, cfg, err);
    if (rc == LSC_OK)
        rc = hf_open_weights(hf, err);
    if (rc != LSC_OK)
        lsc_hf_close(hf);
    return rc;
}

// ---- reading tensors ----

/* Drops the mapping's pages over bytes [p, p+n) of shard f, and up to
 * HF_SLACK either side, from this process's resident set; the file stays
 * in the page cache and a later access reads it again (the mapping is
 * read-only and private, so nothing is lost). The slack matters: a fault
 * may map a whole large folio of the page cache (up to 2 MB), reaching
 * back into a tensor already read. Advisory: a failure changes nothing. */
#define HF_SLACK ((size_t)2 << 20)
static void hf_release(const lsc_st_file *f, const uint8_t *p, size_t n)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0 || n == 0)
        return;
    size_t lo = (size_t)(p - f->map), hi = lo + n;
    lo = lo > HF_SLACK ? lo - HF_SLACK : 0;
    hi = f->size - hi > HF_SLACK ? hi + HF_SLACK : f->size;
    uintptr_t a = (uintptr_t)(f->map + lo) & ~(uintptr_t)(pg - 1);
    (void)madvise((void *)a, (size_t)((uintptr_t)(f->map + hi) - a), MADV_DONTNEED);
}

/* Elements [first, first+count) of t as a tensor of their own: the
 * safetensors reader's conversions then apply to one tile. */
static lsc_st_tensor hf_tile(const lsc_st_tensor *t, size_t first, size_t count)
{
    lsc_st_tensor v = *t;
    size_t es = lsc_dtype_size(t->dtype);
    v.ndim = 1;
    v.shape[0] = (int64_t)count;
    v.numel = count;
    v.begin = t->begin + first * es;
    v.end = v.begin + count * es;
    return v;
}

static int hf_check_dtype(const lsc_hf_folder *hf, const lsc_hf_tensor *t, lsc_error *err)
{
    lsc_dtype dt = t->t->dtype;
    if (dt != LSC_DT_F32 && dt != LSC_DT_F16 && dt != LSC_DT_BF16 && dt != LSC_DT_F64)
        LSC_FAIL(err, LSC_EFORMAT, "%s: tensor '%s' has dtype %s, expected F32, F16, BF16 or F64",
                 lsc_hf_path(hf, t), t->name, lsc_dtype_name(dt));
    return LSC_OK;
}

int lsc_hf_read_range(const lsc_hf_folder *hf, const lsc_hf_tensor *t, size_t first, size_t count, float *out,
                      lsc_error *err)
{
    int rc = hf_check_dtype(hf, t, err);
    if (rc != LSC_OK)
        return rc;
    if (first > t->t->numel || count > t->t->numel - first)
        LSC_FAIL(err, LSC_EARG, "%s: tensor '%s': elements [%zu, %zu) outside its %zu", lsc_hf_path(hf, t),
                 t->name, first, first + count, t->t->numel);
    const lsc_st_file *f = &hf->shards[t->shard];
    for (size_t done = 0; done < count && rc == LSC_OK;) {
        size_t m = count - done < HF_TILE ? count - done : HF_TILE;
        lsc_st_tensor v = hf_tile(t->t, first + done, m);
        rc = lsc_st_read_f32(f, &v, out + done, err);
        hf_release(f, f->data + v.begin, v.end - v.begin);
        done += m;
    }
    return rc;
}

int lsc_hf_read_f32(const lsc_hf_folder *hf, const char *name, float *out, size_t cap, lsc_error *err)
{
    const lsc_hf_tensor *t = lsc_hf_find(hf, name);
    if (!t)
        LSC_FAIL(err, LSC_ENOTFOUND, "%s: no tensor '%s'", hf->dir, name);
    if (cap < t->t->numel)
        LSC_FAIL(err, LSC_ESHAPE, "%s: tensor '%s' has %zu elements; the buffer holds %zu", lsc_hf_path(hf, t),
                 name, t->t->numel, cap);
    return lsc_hf_read_range(hf, t, 0, t->t->numel, out, err);
}

#define HF_CHECK_TILE 2048   /* doubles on the stack per tile of the check */

static int hf_finite_one(const lsc_hf_folder *hf, const lsc_hf_tensor *t, lsc_error *err)
{
    int rc = hf_check_dtype(hf, t, err);
    const lsc_st_file *f = &hf->shards[t->shard];
    double buf[HF_CHECK_TILE];
    size_t n = t->t->numel;
    for (size_t i0 = 0; i0 < n && rc == LSC_OK; i0 += HF_CHECK_TILE) {
        size_t m = n - i0 < HF_CHECK_TILE ? n - i0 : HF_CHECK_TILE;
        lsc_st_tensor v = hf_tile(t->t, i0, m);
        rc = lsc_st_read_f64(f, &v, buf, err);
        for (size_t i = 0; i < m && rc == LSC_OK; i++)
            if (!isfinite(buf[i]))
                rc = lsc_error_set(err, LSC_ENAN, __FILE__, __LINE__, "%s: tensor '%s' (%s) has %s at element %zu",
                                   f->path, t->name, lsc_dtype_name(t->t->dtype),
                                   isnan(buf[i]) ? "NaN" : "an infinity", i0 + i);
        hf_release(f, f->data + v.begin, v.end - v.begin);
    }
    return rc;
}

int lsc_hf_check_finite(const lsc_hf_folder *hf, const char *name, lsc_error *err)
{
    if (name) {
        const lsc_hf_tensor *t = lsc_hf_find(hf, name);
        if (!t)
            LSC_FAIL(err, LSC_ENOTFOUND, "%s: no tensor '%s'", hf->dir, name);
        return hf_finite_one(hf, t, err);
    }
    for (int i = 0; i < hf->n_tensors; i++) {
        int rc = hf_finite_one(hf, &hf->tensors[i], err);
        if (rc != LSC_OK)
            return rc;
    }
    return LSC_OK;
}

// ---- names nobody claimed ----

int lsc_hf_unclaimed(const lsc_hf_folder *hf, const char *const *claimed, int n_claimed, const char **out,
                     lsc_error *err)
{
    unsigned char *mine = LSC_CALLOC((size_t)hf->n_tensors + 1, 1);
    if (!mine)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", hf->dir ? hf->dir : "(folder)");
    for (int i = 0; i < n_claimed; i++) {
        const lsc_hf_tensor *t = lsc_hf_find(hf, claimed[i]);
        if (t)
            mine[t - hf->tensors] = 1;
    }
    int n = 0;
    for (int i = 0; i < hf->n_tensors; i++)
        if (!mine[i])
            out[n++] = hf->tensors[i].name;
    LSC_FREE(mine);
    return n;
}
