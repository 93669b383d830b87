/*
 * model_hf.c — a Llama-family model to and from a Hugging Face model folder
 * (LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM): config.json
 * mapped onto lsc_gpt_config, the tensors of the Llama parameter table
 * (arch_llama.c, whose names ARE Hugging Face's) read from the folder's
 * safetensors straight into params_memory, and written back as F32
 * safetensors, sharded behind model.safetensors.index.json when large.
 *
 * What it is not: not the folder reader (hf_folder.c: config.json parsing,
 * shards, index, tile-by-tile conversion and page release), not
 * lorascope's own model file (model_io.c, which dispatches a directory
 * here), not the tokenizer.
 *
 * Loading: n_ctx = max_position_embeddings capped to 65536 (the model's
 * limit; a longer context is simply not offered); rope_half = 1 (Hugging
 * Face's rotate_half layout); qkv_bias from config.json (Qwen2, or
 * attention_bias without an o_proj bias); untied when the folder holds
 * lm_head.weight and tie_word_embeddings is false. Not read: rope_scaling,
 * sliding windows (they change nothing within the context they allow
 * unscaled), hidden_act (SiLU assumed).
 *
 * Saving a llama2.c-layout model (rope_half 0, interleaved RoPE pairs) as a
 * folder permutes the rows of q_proj and k_proj (weights and biases) within
 * each head as convert_llama_weights_to_hf.py's permute() does: new row j
 * is old row 2j and new row j + hs/2 is old row 2j+1 (j < hs/2), so that
 * the rotate_half model computes the same function.
 *
 * A save writes the whole folder into a temporary sibling and exchanges it
 * with the old one in one step (lsc_atomic_publish_dir_keep); of the old
 * folder's files only those that are not weights, index or config.json
 * (a tokenizer, say) are carried over.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lsc_internal.h"

#define HF_SINGLE   "model.safetensors"
#define HF_INDEX    "model.safetensors.index.json"
#define HF_MAX_CTX  65536
#define HF_N_NAMED  3       /* unknown tensors named in the error */

static const char *const hf_archs[] = {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"};
static const char *const hf_types[] = {"llama", "mistral", "qwen2"};
#define HF_N_ARCHS ((int)(sizeof hf_archs / sizeof hf_archs[0]))

// ---- config.json -> lsc_gpt_config ----

static int in_list(const char *s, const char *const *list)
{
    for (int i = 0; i < HF_N_ARCHS; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

static int hf_supported(const lsc_hf_folder *hf, lsc_error *err)
{
    const lsc_hf_config *c = &hf->cfg;
    if ((c->architecture[0] && !in_list(c->architecture, hf_archs)) ||
        (c->model_type[0] && !in_list(c->model_type, hf_types)) || (!c->architecture[0] && !c->model_type[0]))
        LSC_FAIL(err, LSC_EFORMAT,
                 "%s/config.json: architectures [\"%s\"] (model_type \"%s\") is not supported; lorascope "
                 "loads LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM (llama, mistral, qwen2)",
                 hf->dir, c->architecture, c->model_type);
    if (c->attention_bias && strcmp(c->model_type, "qwen2") != 0)
        LSC_FAIL(err, LSC_EFORMAT,
                 "%s/config.json: attention_bias (an o_proj bias) is not supported (only q/k/v biases, as Qwen2)",
                 hf->dir);
    /* refused rather than computed wrongly: a scaled RoPE (Llama 3.1's "llama3", YaRN, ...) or
     * another MLP activation would give other logits */
    if (c->rope_scaling)
        LSC_FAIL(err, LSC_EFORMAT, "%s/config.json: rope_scaling is not supported (plain RoPE with rope_theta only)",
                 hf->dir);
    if (c->hidden_act[0] && strcmp(c->hidden_act, "silu") != 0)
        LSC_FAIL(err, LSC_EFORMAT, "%s/config.json: hidden_act \"%s\" is not supported (SwiGLU with silu only)",
                 hf->dir, c->hidden_act);
    return LSC_OK;
}

static int hf_to_config(const lsc_hf_folder *hf, lsc_gpt_config *g, lsc_error *err)
{
    int rc = hf_supported(hf, err);
    if (rc != LSC_OK)
        return rc;
    const lsc_hf_config *c = &hf->cfg;
    memset(g, 0, sizeof *g);
    g->arch = LSC_ARCH_LLAMA;
    g->n_layer = c->num_hidden_layers;
    g->n_head = c->num_attention_heads;
    g->n_embd = c->hidden_size;
    g->n_ctx = c->max_position_embeddings < HF_MAX_CTX ? c->max_position_embeddings : HF_MAX_CTX;
    g->vocab = c->vocab_size;
    g->n_kv_head = c->num_key_value_heads;
    g->head_dim = c->head_dim;
    g->n_ff = c->intermediate_size;
    g->rope_theta = (float)c->rope_theta;
    g->norm_eps = (float)c->rms_norm_eps;
    g->rope_half = 1;
    g->qkv_bias = c->qkv_bias;
    g->untied = !c->tie_word_embeddings && lsc_hf_find(hf, "lm_head.weight") != NULL;
    lsc_error inner = {0};
    if ((rc = lsc_gpt_config_check(g, &inner)) != LSC_OK)
        return lsc_error_set(err, rc, __FILE__, __LINE__, "%s/config.json: %s", hf->dir, inner.msg);
    return LSC_OK;
}

// ---- checks before reading ----

static void shape_str(char *buf, size_t n, int ndim, const int64_t *s)
{
    if (ndim == 1)
        snprintf(buf, n, "(%lld)", (long long)s[0]);
    else if (ndim == 2)
        snprintf(buf, n, "(%lld, %lld)", (long long)s[0], (long long)s[1]);
    else
        snprintf(buf, n, "(%d dimensions)", ndim);
}

/* Table tensor t against the folder: present, with config.json's shape.
 * prev: the folder tensor of the table's previous entry (the shard where a
 * missing one is expected), or NULL. */
static int check_tensor(const lsc_hf_folder *hf, const lsc_gpt_tensor *t, const lsc_hf_tensor *prev,
                        const lsc_hf_tensor **out, lsc_error *err)
{
    const lsc_hf_tensor *h = lsc_hf_find(hf, t->name);
    if (!h)
        LSC_FAIL(err, LSC_ENOTFOUND, "%s: tensor '%s' is missing (expected in %s)", hf->dir, t->name,
                 lsc_hf_path(hf, prev ? prev : &hf->tensors[0]));
    int64_t want[2] = {t->shape[0], t->shape[1]};
    int ok = h->t->ndim == t->ndim && h->t->shape[0] == want[0] && (t->ndim == 1 || h->t->shape[1] == want[1]);
    if (!ok) {
        char got[64], need[64];
        shape_str(got, sizeof got, h->t->ndim, h->t->shape);
        shape_str(need, sizeof need, t->ndim, want);
        LSC_FAIL(err, LSC_ESHAPE, "%s: tensor '%s' has shape %s, config.json needs %s", lsc_hf_path(hf, h),
                 t->name, got, need);
    }
    *out = h;
    return LSC_OK;
}

/* Tensors neither in the table nor tolerated (RoPE's inv_freq buffers, and
 * a tied model's lm_head.weight, checked separately): an error naming the
 * first few, or their count in *n_extra when allowed. */
static int check_extra(lsc_gpt *m, const lsc_hf_folder *hf, int allow_extra, int *n_extra, lsc_error *err)
{
    const char **names = LSC_CALLOC((size_t)m->n_tensors + 1, sizeof *names);
    const char **out = LSC_CALLOC((size_t)hf->n_tensors + 1, sizeof *out);
    int rc = names && out ? LSC_OK : lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", hf->dir);
    for (int i = 0; rc == LSC_OK && i < m->n_tensors; i++)
        names[i] = m->tensors[i].name;
    int n = rc == LSC_OK ? lsc_hf_unclaimed(hf, names, m->n_tensors, out, err) : rc, k = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(out[i]), tail = strlen("rotary_emb.inv_freq");
        int ok = (len >= tail && strcmp(out[i] + len - tail, "rotary_emb.inv_freq") == 0) ||
                 (!m->config.untied && strcmp(out[i], "lm_head.weight") == 0);
        if (!ok)
            out[k++] = out[i];
    }
    if (n < 0) {
        rc = n;
    } else if (k > 0 && !allow_extra) {
        char list[512] = "";
        for (int i = 0; i < k && i < HF_N_NAMED; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%s'", i ? ", " : "", out[i]);
        rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__,
                           "%s: %d tensor%s not in the Llama table: %s%s (allow extra tensors to ignore them)",
                           hf->dir, k, k == 1 ? "" : "s", list, k > HF_N_NAMED ? ", ..." : "");
    }
    if (rc == LSC_OK && n_extra)
        *n_extra = k;
    if (rc == LSC_OK) {   /* named for the caller's warning (lsc_gpt_load) */
        char *s = m->ignored_names;
        size_t cap = sizeof m->ignored_names;
        s[0] = '\0';
        for (int i = 0; i < k && i < 4; i++)
            snprintf(s + strlen(s), cap - strlen(s), "%s'%s'", i ? ", " : "", out[i]);
        if (k > 4)
            snprintf(s + strlen(s), cap - strlen(s), " and %d more", k - 4);
    }
    LSC_FREE(names);
    LSC_FREE(out);
    return rc;
}

// ---- reading ----

static int check_finite(const lsc_hf_folder *hf, const lsc_hf_tensor *h, const float *p, size_t n,
                        lsc_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(p[i]))
            LSC_FAIL(err, LSC_ENAN, "%s: tensor '%s' (%s) has %s at element %zu", lsc_hf_path(hf, h), h->name,
                     lsc_dtype_name(h->t->dtype), isnan(p[i]) ? "NaN" : "an infinity", i);
    return LSC_OK;
}

/* A tied model's lm_head.weight: fine when equal to the embedding (read a
 * tile at a time into scratch[n]), else an error. */
static int check_tied_head(const lsc_gpt *m, const lsc_hf_folder *hf, float *scratch, size_t n, lsc_error *err)
{
    const lsc_hf_tensor *h = lsc_hf_find(hf, "lm_head.weight");
    const lsc_gpt_tensor *e = lsc_gpt_find_tensor(m, "model.embed_tokens.weight");
    if (!h || m->config.untied)
        return LSC_OK;
    int same = h->t->numel == e->numel;
    for (size_t i0 = 0; same && i0 < e->numel; i0 += n) {
        size_t k = e->numel - i0 < n ? e->numel - i0 : n;
        int rc = lsc_hf_read_range(hf, h, i0, k, scratch, err);
        if (rc != LSC_OK)
            return rc;
        same = memcmp(scratch, m->params_memory + e->offset + i0, k * sizeof(float)) == 0;
    }
    if (!same)
        LSC_FAIL(err, LSC_EFORMAT,
                 "%s: tie_word_embeddings is true but lm_head.weight differs from model.embed_tokens.weight",
                 lsc_hf_path(hf, h));
    return LSC_OK;
}

#define HF_CMP_TILE 4096

static int load_tensors(lsc_gpt *m, const lsc_hf_folder *hf, int allow_extra, int *n_extra, lsc_error *err)
{
    const lsc_hf_tensor **src = LSC_CALLOC((size_t)m->n_tensors, sizeof *src);
    if (!src)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", hf->dir);
    int rc = LSC_OK;
    for (int i = 0; i < m->n_tensors && rc == LSC_OK; i++)
        rc = check_tensor(hf, &m->tensors[i], i ? src[i - 1] : NULL, &src[i], err);
    if (rc == LSC_OK)
        rc = check_extra(m, hf, allow_extra, n_extra, err);
    for (int i = 0; i < m->n_tensors && rc == LSC_OK; i++) {
        const lsc_gpt_tensor *t = &m->tensors[i];
        float *dst = m->params_memory + t->offset;
        rc = lsc_hf_read_range(hf, src[i], 0, t->numel, dst, err);
        if (rc == LSC_OK)
            rc = check_finite(hf, src[i], dst, t->numel, err);
    }
    float scratch[HF_CMP_TILE];
    if (rc == LSC_OK)
        rc = check_tied_head(m, hf, scratch, HF_CMP_TILE, err);
    LSC_FREE(src);
    return rc;
}

int lsc_gpt_load_hf(lsc_gpt *m, const char *dir, int allow_extra, int *n_extra, lsc_error *err)
{
    lsc_hf_folder hf;
    lsc_gpt_config cfg;
    memset(m, 0, sizeof *m);
    if (n_extra)
        *n_extra = 0;
    int rc = lsc_hf_open(&hf, dir, err);
    if (rc != LSC_OK)
        return rc;
    if ((rc = hf_to_config(&hf, &cfg, err)) == LSC_OK && (rc = lsc_gpt_init(m, &cfg, err)) == LSC_OK)
        rc = load_tensors(m, &hf, allow_extra, n_extra, err);
    lsc_hf_close(&hf);
    if (rc != LSC_OK)
        lsc_gpt_free(m);
    return rc;
}

// ---- saving ----

/* Rows of a (NHx·hs, cols) q/k slice from llama2.c's interleaved pairs to
 * rotate_half's: new row j = old 2j, new row j + hs/2 = old 2j+1 (per head). */
static void permute_rows(float *dst, const float *src, int heads, int hs, size_t cols)
{
    for (int h = 0; h < heads; h++)
        for (int j = 0; j < hs; j++) {
            int from = j < hs / 2 ? 2 * j : 2 * (j - hs / 2) + 1;
            memcpy(dst + ((size_t)h * hs + j) * cols, src + ((size_t)h * hs + from) * cols, cols * sizeof(float));
        }
}

/* The data of table entry t as written: params_memory, or (rope_half 0,
 * q/k weights and biases) its permuted copy at *perm (advanced). */
static const float *save_data(const lsc_gpt *m, const lsc_gpt_tensor *t, float **perm)
{
    const float *p = m->params_memory + t->offset;
    const lsc_param_spec *s = &lsc_llama_arch_.params[t->kind];
    if (m->config.rope_half || (s->linear != LSC_LORA_Q && s->linear != LSC_LORA_K))
        return p;
    int hs = lsc_gpt_head_dim(&m->config);
    int heads = s->linear == LSC_LORA_Q ? m->config.n_head : lsc_gpt_kv_heads(&m->config);
    float *out = *perm;
    permute_rows(out, p, heads, hs, t->ndim == 2 ? (size_t)t->shape[1] : 1);
    *perm += t->numel;
    return out;
}

static int write_config(const lsc_gpt *m, const char *path, lsc_error *err)
{
    const lsc_gpt_config *c = &m->config;
    lsc_atomic a;
    int rc = lsc_atomic_open(&a, path, err), qwen = c->qkv_bias;
    if (rc != LSC_OK)
        return rc;
    fprintf(a.fp, "{\n  \"architectures\": [\"%s\"],\n  \"model_type\": \"%s\",\n",
            qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM", qwen ? "qwen2" : "llama");
    fprintf(a.fp, "  \"hidden_act\": \"silu\",\n  \"hidden_size\": %d,\n  \"intermediate_size\": %d,\n", c->n_embd,
            lsc_gpt_ff_dim(c));
    fprintf(a.fp, "  \"num_hidden_layers\": %d,\n  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n",
            c->n_layer, c->n_head, lsc_gpt_kv_heads(c));
    fprintf(a.fp, "  \"head_dim\": %d,\n  \"max_position_embeddings\": %d,\n  \"vocab_size\": %d,\n",
            lsc_gpt_head_dim(c), c->n_ctx, c->vocab);
    fprintf(a.fp, "  \"rms_norm_eps\": %.9g,\n  \"rope_theta\": %.9g,\n", (double)c->norm_eps, (double)c->rope_theta);
    if (!qwen)
        fprintf(a.fp, "  \"attention_bias\": false,\n");
    fprintf(a.fp, "  \"tie_word_embeddings\": %s,\n  \"torch_dtype\": \"float32\"\n}\n", c->untied ? "false" : "true");
    return lsc_atomic_commit(&a, err);
}

static void shard_name(char *buf, size_t n, int k, int of)
{
    snprintf(buf, n, "model-%05d-of-%05d.safetensors", k, of);
}

/* The shard of each tensor (greedy in table order: a shard closes when the
 * next tensor would take it over shard_bytes); returns the shard count. */
static int plan_shards(const lsc_gpt *m, size_t shard_bytes, int *shard)
{
    int k = 0;
    size_t used = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        size_t b = m->tensors[i].numel * sizeof(float);
        if (used > 0 && used + b > shard_bytes) {
            k++;
            used = 0;
        }
        shard[i] = k;
        used += b;
    }
    return k + 1;
}

static int write_index(const lsc_gpt *m, const char *dir, const int *shard, int n_shards, lsc_error *err)
{
    char path[4096 + 128], name[64];
    size_t total = 0;
    for (int i = 0; i < m->n_tensors; i++)
        total += m->tensors[i].numel * sizeof(float);
    snprintf(path, sizeof path, "%s/" HF_INDEX, dir);
    lsc_atomic a;
    int rc = lsc_atomic_open(&a, path, err);
    if (rc != LSC_OK)
        return rc;
    fprintf(a.fp, "{\n  \"metadata\": {\"total_size\": %zu},\n  \"weight_map\": {\n", total);
    for (int i = 0; i < m->n_tensors; i++) {
        shard_name(name, sizeof name, shard[i] + 1, n_shards);
        fprintf(a.fp, "    \"%s\": \"%s\"%s\n", m->tensors[i].name, name, i + 1 < m->n_tensors ? "," : "");
    }
    fprintf(a.fp, "  }\n}\n");
    return lsc_atomic_commit(&a, err);
}

/* The safetensors files: shard s holds the entries e[i] with shard[i] == s. */
static int write_shards(const lsc_gpt *m, const char *dir, const lsc_st_entry *e, const int *shard, int n_shards,
                        lsc_st_entry *tmp, lsc_error *err)
{
    const char *keys[] = {"format"}, *vals[] = {LSC_ST_FORMAT_PT};
    int rc = LSC_OK;
    for (int s = 0; s < n_shards && rc == LSC_OK; s++) {
        char path[4096 + 128], name[64];
        int n = 0;
        for (int i = 0; i < m->n_tensors; i++)
            if (shard[i] == s)
                tmp[n++] = e[i];
        if (n_shards == 1)
            snprintf(name, sizeof name, HF_SINGLE);
        else
            shard_name(name, sizeof name, s + 1, n_shards);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        rc = lsc_st_write(path, tmp, n, keys, vals, 1, err);
    }
    return rc;
}

static int save_checks(const lsc_gpt *m, const char *dir, lsc_error *err)
{
    struct stat st;
    if (m->config.arch != LSC_ARCH_LLAMA)
        LSC_FAIL(err, LSC_EARG, "%s: only a Llama-architecture model can be saved as a Hugging Face folder (this "
                 "one is %s)", dir, lsc_arch_name(m->config.arch));
    if (m->quant_targets)
        LSC_FAIL(err, LSC_EARG, "%s: an NF4 model cannot be saved as a float32 Hugging Face folder", dir);
    if (strlen(dir) > 4000)
        LSC_FAIL(err, LSC_EARG, "%s: path too long", dir);
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
        LSC_FAIL(err, LSC_EIO, "%s: exists and is not a directory", dir);
    return LSC_OK;
}

/* Every file of the folder (shards or model.safetensors, the index when
 * sharded, config.json) into wdir, a fresh directory. */
static int write_folder(const lsc_gpt *m, const char *wdir, size_t shard_bytes, lsc_error *err)
{
    int rc = LSC_OK;
    size_t nt = (size_t)m->n_tensors, nperm = 0;
    for (size_t i = 0; i < nt && !m->config.rope_half; i++) {
        int lin = lsc_llama_arch_.params[m->tensors[i].kind].linear;
        nperm += lin == LSC_LORA_Q || lin == LSC_LORA_K ? m->tensors[i].numel : 0;
    }
    lsc_st_entry *e = LSC_CALLOC(2 * nt, sizeof *e);
    int *shard = LSC_CALLOC(nt, sizeof *shard);
    float *perm = nperm ? LSC_MALLOC(nperm * sizeof *perm) : NULL, *next = perm;
    if (!e || !shard || (nperm && !perm)) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", wdir);
        goto done;
    }
    for (size_t i = 0; i < nt; i++) {
        const lsc_gpt_tensor *t = &m->tensors[i];
        e[i] = (lsc_st_entry){t->name, LSC_DT_F32, t->ndim, {t->shape[0], t->shape[1]}, save_data(m, t, &next)};
    }
    int n_shards = plan_shards(m, shard_bytes, shard);
    char path[4096 + 128];
    if ((rc = write_shards(m, wdir, e, shard, n_shards, e + nt, err)) != LSC_OK)
        goto done;
    if (n_shards > 1 && (rc = write_index(m, wdir, shard, n_shards, err)) != LSC_OK)
        goto done;
    snprintf(path, sizeof path, "%s/config.json", wdir);
    rc = write_config(m, path, err);
done:
    LSC_FREE(e);
    LSC_FREE(shard);
    LSC_FREE(perm);
    return rc;
}

/* The old folder's entries that outlive a save: not the weights, their
 * index or config.json (whose names change with the shard count: an old
 * model.safetensors would shadow a new index), but a tokenizer and the
 * like. */
static int keep_old_entry(const char *name)
{
    size_t n = strlen(name), sfx = strlen(".safetensors");
    if (strcmp(name, "config.json") == 0 || strcmp(name, HF_SINGLE) == 0 || strcmp(name, HF_INDEX) == 0)
        return 0;
    return !(strncmp(name, "model-", 6) == 0 && strstr(name, "-of-") && n > sfx &&
             strcmp(name + n - sfx, ".safetensors") == 0);
}

/* The folder is written into a temporary sibling (lsc_atomic_mkdtemp) and
 * put at dir in one step (lsc_atomic_publish_dir_keep): a kill or a full
 * disk leaves the old folder whole or the new one, never a mix. */
int lsc_gpt_save_hf(const lsc_gpt *m, const char *dir, size_t shard_bytes, lsc_error *err)
{
    int rc = save_checks(m, dir, err);
    if (rc != LSC_OK)
        return rc;
    char wdir[4096];
    if ((rc = lsc_atomic_mkdtemp(wdir, sizeof wdir, dir, err)) != LSC_OK)
        return rc;
    if ((rc = write_folder(m, wdir, shard_bytes, err)) != LSC_OK) {
        lsc_atomic_remove_tree(wdir);
        lsc_atomic_errpath(err, wdir, dir);   /* name dir/FILE, not the temporary */
        return rc;
    }
    return lsc_atomic_publish_dir_keep(wdir, dir, keep_old_entry, err);
}
