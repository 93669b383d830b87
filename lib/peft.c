/*
 * peft.c — Hugging Face PEFT LoRA adapters: adapter_config.json (read by
 * lsc_peft_parse_config_ for peft_load.c, which reads the tensors and picks
 * the adapter), the per-module rules (rank_pattern, alpha_pattern, rsLoRA
 * scaling), freeing, and the writer (plain LoRA: keys
 * base_model.model.<module>.lora_A.weight (r, in) and .lora_B.weight
 * (out, r)).
 *
 * Reads the config fields that define dW = s·B·A (r, lora_alpha,
 * use_rslora, use_dora, rank_pattern, alpha_pattern, fan_in_fan_out,
 * target_modules, base_model_name_or_path) and tolerates and ignores every
 * other field, nulls included. Not a PEFT re-implementation.
 */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include <cJSON.h>

#include "lsc_internal.h"

static const char KEY_PREFIX[] = "base_model.model.";
static const char SUFFIX_A[] = ".lora_A.weight";
static const char SUFFIX_B[] = ".lora_B.weight";

static void free_strv(char **v, int n)
{
    if (!v)
        return;
    for (int i = 0; i < n; i++)
        LSC_FREE(v[i]);
    LSC_FREE(v);
}

static void free_patterns(lsc_pattern **p, int n)
{
    if (!p)
        return;
    for (int i = 0; i < n; i++)
        lsc_pattern_free(p[i]);
    LSC_FREE(p);
}

static void free_modules(lsc_adapter_module *m, int n)
{
    if (!m)
        return;
    for (int i = 0; i < n; i++) {
        LSC_FREE(m[i].name);
        LSC_FREE(m[i].A);
        LSC_FREE(m[i].B);
        LSC_FREE(m[i].magnitude);
        LSC_FREE(m[i].weight);
    }
    LSC_FREE(m);
}

void lsc_adapter_free(lsc_adapter *ad)
{
    if (!ad)
        return;
    LSC_FREE(ad->path);
    LSC_FREE(ad->base_model);
    LSC_FREE(ad->init_lora_weights);
    free_strv(ad->target_modules, ad->n_targets);
    LSC_FREE(ad->target_regex);
    free_strv(ad->rank_pattern_keys, ad->n_rank_pattern);
    LSC_FREE(ad->rank_pattern_vals);
    free_strv(ad->alpha_pattern_keys, ad->n_alpha_pattern);
    LSC_FREE(ad->alpha_pattern_vals);
    free_patterns(ad->rank_pattern_re, ad->n_rank_pattern);
    free_patterns(ad->alpha_pattern_re, ad->n_alpha_pattern);
    free_modules(ad->modules, ad->n_modules);
    free_modules(ad->full, ad->n_full);
    LSC_FREE(ad->adapter_name);
    free_strv(ad->ignored, ad->n_ignored);
    lsc_hmap_free(&ad->module_index_);
    lsc_st_close(&ad->st);
    memset(ad, 0, sizeof *ad);
}

// ---- patterns and scaling ----

/* PEFT's get_pattern_key: re.match(rf"(.*\.)?({key})$", name), through
 * pattern.c's bounded-cost matcher; compiled by the config reader, or here
 * for an adapter built in memory (lora.c). A key that does not compile
 * matches nothing (the config reader has refused it already). */
static int pattern_matches(lsc_pattern *const *re, int i, const char *key, const char *name)
{
    if (re && re[i])
        return lsc_pattern_match(re[i], name);
    lsc_pattern *p;
    if (lsc_pattern_compile(&p, key, NULL) != LSC_OK)
        return 0;
    int m = lsc_pattern_match(p, name);
    lsc_pattern_free(p);
    return m;
}

void lsc_adapter_module_params(const lsc_adapter *ad, const char *name, int *r, double *alpha)
{
    *r = ad->r;
    *alpha = ad->lora_alpha;
    for (int i = 0; i < ad->n_rank_pattern; i++)
        if (pattern_matches(ad->rank_pattern_re, i, ad->rank_pattern_keys[i], name)) {
            *r = ad->rank_pattern_vals[i];
            break;
        }
    for (int i = 0; i < ad->n_alpha_pattern; i++)
        if (pattern_matches(ad->alpha_pattern_re, i, ad->alpha_pattern_keys[i], name)) {
            *alpha = ad->alpha_pattern_vals[i];
            break;
        }
}

double lsc_adapter_scaling(const lsc_adapter *ad, int r, double alpha)
{
    if (r <= 0)
        return 0.0;
    return ad->use_rslora ? alpha / sqrt((double)r) : alpha / (double)r;
}

int lsc_adapter_find(const lsc_adapter *ad, const char *name)
{
    if (ad->module_index_of_ && ad->module_index_of_ == ad->modules &&
        ad->module_index_.n == (size_t)ad->n_modules)
        return lsc_hmap_get(&ad->module_index_, name);
    for (int i = 0; i < ad->n_modules; i++)
        if (strcmp(ad->modules[i].name, name) == 0)
            return i;
    return -1;
}

const char *lsc_adapter_kind_name(lsc_adapter_kind kind)
{
    switch (kind) {
    case LSC_ADAPTER_LORA: return "LoRA";
    case LSC_ADAPTER_DORA: return "DoRA";
    case LSC_ADAPTER_EMBEDDING: return "embedding LoRA";
    case LSC_ADAPTER_CONV: return "conv LoRA";
    case LSC_ADAPTER_FULL: return "full tensor";
    }
    return "?";
}

int lsc_adapter_first_of_kind(const lsc_adapter *ad, lsc_adapter_kind kind)
{
    for (int i = 0; i < ad->n_modules; i++)
        if (ad->modules[i].kind == kind)
            return i;
    return -1;
}

// ---- config ----

static int json_bool(const cJSON *j)
{
    return cJSON_IsTrue(j) ? 1 : 0;
}

#define CFG_OOM(cfg_path) LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", cfg_path)
/* The bounds of config numbers: a rank (r, rank_pattern values), any other number. */
#define CFG_MAX_R   1e7
#define CFG_MAX_NUM 1e300

/* "r" and "lora_alpha" (PEFT's defaults 8 and 8 when absent or null). */
static int parse_rank_alpha(lsc_adapter *ad, const cJSON *root, const char *cfg_path, lsc_error *err)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, "r");
    ad->r = 8; /* PEFT's default */
    if (j && !cJSON_IsNull(j)) {
        if (!cJSON_IsNumber(j))
            LSC_FAIL(err, LSC_EFORMAT, "%s: \"r\" must be a positive integer", cfg_path);
        int rc = lsc_json_num_check(j->valuedouble, 1, CFG_MAX_R, 1, cfg_path, "\"r\"", err);
        if (rc != LSC_OK)
            return rc;
        ad->r = (int)j->valuedouble;
    }
    j = cJSON_GetObjectItemCaseSensitive(root, "lora_alpha");
    ad->lora_alpha = 8.0;
    if (j && !cJSON_IsNull(j)) {
        if (!cJSON_IsNumber(j))
            LSC_FAIL(err, LSC_EFORMAT, "%s: \"lora_alpha\" must be a number", cfg_path);
        int rc = lsc_json_num_check(j->valuedouble, -CFG_MAX_NUM, CFG_MAX_NUM, 0, cfg_path, "\"lora_alpha\"", err);
        if (rc != LSC_OK)
            return rc;
        ad->lora_alpha = j->valuedouble;
    }
    return LSC_OK;
}

/* lora_dropout, use_rslora, fan_in_fan_out, base_model_name_or_path and
 * init_lora_weights: tolerated in any form, kept when meaningful. */
static int parse_flags(lsc_adapter *ad, const cJSON *root, const char *cfg_path, lsc_error *err)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, "lora_dropout");
    ad->lora_dropout = 0.0;
    if (cJSON_IsNumber(j)) {
        int rc = lsc_json_num_check(j->valuedouble, -CFG_MAX_NUM, CFG_MAX_NUM, 0, cfg_path, "\"lora_dropout\"", err);
        if (rc != LSC_OK)
            return rc;
        ad->lora_dropout = j->valuedouble;
    }
    ad->use_rslora = json_bool(cJSON_GetObjectItemCaseSensitive(root, "use_rslora"));
    ad->fan_in_fan_out = json_bool(cJSON_GetObjectItemCaseSensitive(root, "fan_in_fan_out"));
    ad->use_dora = json_bool(cJSON_GetObjectItemCaseSensitive(root, "use_dora"));
    j = cJSON_GetObjectItemCaseSensitive(root, "base_model_name_or_path");
    if (cJSON_IsString(j) && !(ad->base_model = lsc_strdup_(j->valuestring)))
        CFG_OOM(cfg_path);
    j = cJSON_GetObjectItemCaseSensitive(root, "init_lora_weights");
    if (cJSON_IsString(j))
        ad->init_lora_weights = lsc_strdup_(j->valuestring);
    else if (cJSON_IsBool(j))
        ad->init_lora_weights = lsc_strdup_(cJSON_IsTrue(j) ? "true" : "false");
    if (j && !cJSON_IsNull(j) && !ad->init_lora_weights)
        CFG_OOM(cfg_path);
    return LSC_OK;
}

/* target_modules: a regex string, a list of names, or null. */
static int parse_targets(lsc_adapter *ad, const cJSON *j, const char *cfg_path, lsc_error *err)
{
    if (cJSON_IsString(j)) {
        if (!(ad->target_regex = lsc_strdup_(j->valuestring)))
            CFG_OOM(cfg_path);
    } else if (cJSON_IsArray(j)) {
        int n = cJSON_GetArraySize(j);
        ad->target_modules = LSC_CALLOC((size_t)n + 1, sizeof(char *));
        if (!ad->target_modules)
            CFG_OOM(cfg_path);
        for (const cJSON *c = j->child; c; c = c->next) {
            if (!cJSON_IsString(c))
                LSC_FAIL(err, LSC_EFORMAT, "%s: \"target_modules\" must hold strings", cfg_path);
            if (!(ad->target_modules[ad->n_targets++] = lsc_strdup_(c->valuestring)))
                CFG_OOM(cfg_path);
        }
    } else if (j && !cJSON_IsNull(j)) {
        LSC_FAIL(err, LSC_EFORMAT, "%s: \"target_modules\" must be a list or a string", cfg_path);
    }
    return LSC_OK;
}

/* rank_pattern {key: positive integer} or alpha_pattern {key: number}
 * (which = 'r' or 'a'; anything but an object is ignored): each key
 * compiled once (pattern.c), at most LSC_PATTERN_MAX_COUNT keys, each value
 * range-checked before conversion. */
static int parse_pattern(lsc_adapter *ad, const cJSON *j, int which, const char *cfg_path, lsc_error *err)
{
    if (!cJSON_IsObject(j))
        return LSC_OK;
    const char *field = which == 'r' ? "rank_pattern" : "alpha_pattern";
    int n = cJSON_GetArraySize(j), *count = which == 'r' ? &ad->n_rank_pattern : &ad->n_alpha_pattern;
    if (n > LSC_PATTERN_MAX_COUNT)
        LSC_FAIL(err, LSC_EFORMAT, "%s: \"%s\" has %d keys (at most %d)", cfg_path, field, n, LSC_PATTERN_MAX_COUNT);
    char ***keys = which == 'r' ? &ad->rank_pattern_keys : &ad->alpha_pattern_keys;
    lsc_pattern ***re = which == 'r' ? &ad->rank_pattern_re : &ad->alpha_pattern_re;
    *keys = LSC_CALLOC((size_t)n + 1, sizeof(char *));
    *re = LSC_CALLOC((size_t)n + 1, sizeof(lsc_pattern *));
    if (which == 'r')
        ad->rank_pattern_vals = LSC_CALLOC((size_t)n + 1, sizeof(int));
    else
        ad->alpha_pattern_vals = LSC_CALLOC((size_t)n + 1, sizeof(double));
    if (!*keys || !*re || (which == 'r' ? !ad->rank_pattern_vals : !ad->alpha_pattern_vals))
        CFG_OOM(cfg_path);
    for (const cJSON *c = j->child; c; c = c->next) {
        char what[160];
        snprintf(what, sizeof what, "%s[\"%.100s\"]", field, c->string);
        if (!cJSON_IsNumber(c))
            LSC_FAIL(err, LSC_EFORMAT, "%s: %s must be %s", cfg_path, what,
                     which == 'r' ? "a positive integer" : "a number");
        int rc = which == 'r' ? lsc_json_num_check(c->valuedouble, 1, CFG_MAX_R, 1, cfg_path, what, err)
                              : lsc_json_num_check(c->valuedouble, -CFG_MAX_NUM, CFG_MAX_NUM, 0, cfg_path, what, err);
        lsc_error perr;
        if (rc == LSC_OK && (rc = lsc_pattern_compile(&(*re)[*count], c->string, &perr)) != LSC_OK)
            rc = rc == LSC_ENOMEM ? lsc_error_set(err, rc, __FILE__, __LINE__, "%s: out of memory", cfg_path)
                                  : lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__, "%s: %s key: %s", cfg_path,
                                                  field, perr.msg);
        if (rc != LSC_OK)
            return rc;
        if (which == 'r')
            ad->rank_pattern_vals[*count] = (int)c->valuedouble;
        else
            ad->alpha_pattern_vals[*count] = c->valuedouble;
        if (!((*keys)[(*count)++] = lsc_strdup_(c->string)))
            CFG_OOM(cfg_path);
    }
    return LSC_OK;
}

int lsc_peft_parse_config_(lsc_adapter *ad, const char *cfg_path, lsc_error *err)
{
    char *text = NULL;
    int rc = lsc_read_file_(cfg_path, &text, NULL, err);
    if (rc != LSC_OK)
        return rc;
    cJSON *root = cJSON_Parse(text);
    LSC_FREE(text);
    const cJSON *j = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "peft_type") : NULL;
    if (!root || !cJSON_IsObject(root))
        rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__, "%s: not a valid JSON object", cfg_path);
    else if (!cJSON_IsString(j))
        rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__, "%s: missing \"peft_type\"", cfg_path);
    else if (strcmp(j->valuestring, LSC_PEFT_TYPE) != 0)
        rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__,
                           "%s: not supported: %s (only " LSC_PEFT_TYPE " adapters are read)", cfg_path,
                           j->valuestring);
    if (rc == LSC_OK)
        rc = parse_rank_alpha(ad, root, cfg_path, err);
    if (rc == LSC_OK)
        rc = parse_flags(ad, root, cfg_path, err);
    if (rc == LSC_OK)
        rc = parse_targets(ad, cJSON_GetObjectItemCaseSensitive(root, "target_modules"), cfg_path, err);
    if (rc == LSC_OK)
        rc = parse_pattern(ad, cJSON_GetObjectItemCaseSensitive(root, "rank_pattern"), 'r', cfg_path, err);
    if (rc == LSC_OK)
        rc = parse_pattern(ad, cJSON_GetObjectItemCaseSensitive(root, "alpha_pattern"), 'a', cfg_path, err);
    cJSON_Delete(root);
    return rc;
}
#undef CFG_OOM
#undef CFG_MAX_R
#undef CFG_MAX_NUM

// ---- writer ----

/* Shortest decimal that reads back to the same double, as Python's repr
 * prints it (so "0.05", "16", "0.0" look like PEFT's json.dumps). */
static void fmt_double(char *buf, size_t cap, double v, int as_int_if_integral)
{
    if (as_int_if_integral && v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, cap, "%lld", (long long)v);
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, cap, "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (!strpbrk(buf, ".eEn"))
        strncat(buf, ".0", cap - strlen(buf) - 1);
}

static void put_json_str(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(fp, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(fp, "\\u%04x", *p);
        else
            fputc(*p, fp);
    }
    fputc('"', fp);
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* adapter_config.json as PEFT writes it: json.dumps(indent=2, sort_keys=True). */
static char *config_json(const lsc_adapter *ad, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *fp = open_memstream(&buf, &n);
    if (!fp)
        return NULL;
    char num[64];
    fputs("{\n  \"alpha_pattern\": {", fp);
    for (int i = 0; i < ad->n_alpha_pattern; i++) {
        fputs(i ? ",\n    " : "\n    ", fp);
        put_json_str(fp, ad->alpha_pattern_keys[i]);
        fmt_double(num, sizeof num, ad->alpha_pattern_vals[i], 1);
        fprintf(fp, ": %s", num);
    }
    fputs(ad->n_alpha_pattern ? "\n  },\n" : "},\n", fp);
    fputs("  \"auto_mapping\": null,\n  \"base_model_name_or_path\": ", fp);
    if (ad->base_model)
        put_json_str(fp, ad->base_model);
    else
        fputs("null", fp);
    fputs(",\n  \"bias\": \"none\",\n", fp);
    fprintf(fp, "  \"fan_in_fan_out\": %s,\n", ad->fan_in_fan_out ? "true" : "false");
    fputs("  \"inference_mode\": true,\n  \"init_lora_weights\": ", fp);
    if (ad->init_lora_weights && strcmp(ad->init_lora_weights, "true") != 0 &&
        strcmp(ad->init_lora_weights, "false") != 0)
        put_json_str(fp, ad->init_lora_weights);
    else
        fputs(ad->init_lora_weights && strcmp(ad->init_lora_weights, "false") == 0 ? "false" : "true", fp);
    fputs(",\n  \"layers_pattern\": null,\n  \"layers_to_transform\": null,\n", fp);
    fmt_double(num, sizeof num, ad->lora_alpha, 1);
    fprintf(fp, "  \"lora_alpha\": %s,\n", num);
    fmt_double(num, sizeof num, ad->lora_dropout, 0);
    fprintf(fp, "  \"lora_dropout\": %s,\n", num);
    fputs("  \"modules_to_save\": null,\n  \"peft_type\": \"" LSC_PEFT_TYPE "\",\n", fp);
    fprintf(fp, "  \"r\": %d,\n  \"rank_pattern\": {", ad->r);
    for (int i = 0; i < ad->n_rank_pattern; i++) {
        fputs(i ? ",\n    " : "\n    ", fp);
        put_json_str(fp, ad->rank_pattern_keys[i]);
        fprintf(fp, ": %d", ad->rank_pattern_vals[i]);
    }
    fputs(ad->n_rank_pattern ? "\n  },\n" : "},\n", fp);
    fputs("  \"revision\": null,\n  \"target_modules\": ", fp);
    if (ad->target_regex) {
        put_json_str(fp, ad->target_regex);
    } else if (ad->n_targets == 0) {
        fputs("null", fp);
    } else {
        char **sorted = LSC_MALLOC((size_t)ad->n_targets * sizeof *sorted);
        if (!sorted) {
            fclose(fp);
            free(buf);
            return NULL;
        }
        memcpy(sorted, ad->target_modules, (size_t)ad->n_targets * sizeof *sorted);
        qsort(sorted, (size_t)ad->n_targets, sizeof *sorted, cmp_cstr);
        fputs("[", fp);
        for (int i = 0; i < ad->n_targets; i++) {
            fputs(i ? ",\n    " : "\n    ", fp);
            put_json_str(fp, sorted[i]);
        }
        fputs("\n  ]", fp);
        LSC_FREE(sorted);
    }
    fputs(",\n  \"task_type\": \"CAUSAL_LM\",\n  \"use_dora\": false,\n", fp);
    fprintf(fp, "  \"use_rslora\": %s\n}", ad->use_rslora ? "true" : "false");
    if (fclose(fp) != 0) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Both files into wdir (a fresh directory). */
static int adapter_write_files(const lsc_adapter *ad, const char *dir, const char *wdir, lsc_error *err);

/* The adapter is written into a temporary sibling directory and put at dir
 * in one step (lsc_atomic_publish_dir): a reader never sees new weights
 * with an old config. */
int lsc_adapter_save(const lsc_adapter *ad, const char *dir, lsc_error *err)
{
    char wdir[4096];
    int rc = lsc_atomic_mkdtemp(wdir, sizeof wdir, dir, err);
    if (rc != LSC_OK)
        return rc;
    rc = adapter_write_files(ad, dir, wdir, err);
    if (rc != LSC_OK) {
        lsc_atomic_remove_tree(wdir);
        lsc_atomic_errpath(err, wdir, dir);   /* name dir/FILE, not the temporary */
        return rc;
    }
    return lsc_atomic_publish_dir(wdir, dir, err);
}

static int adapter_write_files(const lsc_adapter *ad, const char *dir, const char *wdir, lsc_error *err)
{
    char path[4096 + 64];
    int rc;
    if (ad->n_full > 0)
        LSC_FAIL(err, LSC_EARG, "%s: the writer writes LoRA factors only, not full tensors ('%s')", dir,
                 ad->full[0].name);
    for (int m = 0; m < ad->n_modules; m++) {
        const lsc_adapter_module *md = &ad->modules[m];
        if (md->kind != LSC_ADAPTER_LORA)
            LSC_FAIL(err, LSC_EARG, "%s: module '%s' is %s; the writer writes plain LoRA only", dir, md->name,
                     lsc_adapter_kind_name(md->kind));
        if (md->r < 1 || md->in_features < 1 || md->out_features < 1 || !md->A || !md->B)
            LSC_FAIL(err, LSC_EARG, "%s: module '%s' has no data or a bad shape", dir, md->name);
    }
    size_t nt = 2 * (size_t)ad->n_modules;
    lsc_st_entry *e = LSC_CALLOC(nt + 1, sizeof *e);
    char **names = LSC_CALLOC(nt + 1, sizeof *names);
    if (!e || !names) {
        LSC_FREE(e);
        LSC_FREE(names);
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", dir);
    }
    rc = LSC_OK;
    for (int m = 0; m < ad->n_modules && rc == LSC_OK; m++) {
        const lsc_adapter_module *md = &ad->modules[m];
        for (int b = 0; b < 2; b++) {
            size_t i = 2 * (size_t)m + (size_t)b;
            size_t len = sizeof KEY_PREFIX + strlen(md->name) + sizeof SUFFIX_A;
            names[i] = LSC_MALLOC(len);
            if (!names[i]) {
                rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", dir);
                break;
            }
            snprintf(names[i], len, "%s%s%s", KEY_PREFIX, md->name, b ? SUFFIX_B : SUFFIX_A);
            e[i].name = names[i];
            e[i].dtype = LSC_DT_F32;
            e[i].ndim = 2;
            e[i].shape[0] = b ? md->out_features : md->r;
            e[i].shape[1] = b ? md->r : md->in_features;
            e[i].data = b ? md->B : md->A;
        }
    }
    if (rc == LSC_OK) {
        static const char *const mk[] = {"format"};
        static const char *const mv[] = {LSC_ST_FORMAT_PT};
        snprintf(path, sizeof path, "%s/adapter_model.safetensors", wdir);
        rc = lsc_st_write(path, e, (int)nt, mk, mv, 1, err);
    }
    for (size_t i = 0; i < nt; i++)
        LSC_FREE(names[i]);
    LSC_FREE(names);
    LSC_FREE(e);
    if (rc != LSC_OK)
        return rc;
    size_t len = 0;
    char *json = config_json(ad, &len);
    if (!json)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory writing adapter_config.json", dir);
    snprintf(path, sizeof path, "%s/adapter_config.json", wdir);
    rc = lsc_atomic_write(path, json, len, err);
    free(json);
    return rc;
}
