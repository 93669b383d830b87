/*
 * test_hf_folder.c — Hugging Face model folders (lib/hf_folder.c).
 *
 * Normal mode: unit checks of config.json parsing (defaults, every field's
 * type and range, 1e300 and 2.5 rejected), the name table on a folder of
 * thousands of tensors written with lsc_st_write, ranged reads, the
 * finite check, the unclaimed-names listing and the folder-level errors.
 *
 * Driver modes for tests/test_hf_folder.py, which generates the folders
 * with numpy (each prints err.msg and exits 1 on an error):
 *   --dump DIR NAME          the tensor as float32, one %.9g per line
 *   --info DIR               config fields and folder totals, key=value
 *   --unclaimed DIR NAME...  the tensor names not among NAME...
 *   --check DIR [NAME]       lsc_hf_check_finite
 *   --mem DIR                every tensor read one at a time; peak RSS
 *                            against the raw tensor bytes
 * Not a test of any architecture: tensor names mean nothing here.
 */
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "lsc_internal.h"
#include "driver.h"
#include "test.h"

// ---- driver modes ----

static int die(const lsc_error *err)
{
    fprintf(stderr, "%s\n", err->msg);
    return 1;
}

static int mode_dump(char **a, int n_args)
{
    const char *dir = a[0], *name = a[1];
    (void)n_args;
    lsc_hf_folder hf;
    lsc_error err = {0};
    if (lsc_hf_open(&hf, dir, &err) != LSC_OK)
        return die(&err);
    const lsc_hf_tensor *t = lsc_hf_find(&hf, name);
    size_t n = t ? t->t->numel : 1;
    float *buf = malloc((n ? n : 1) * sizeof *buf);
    int rc = buf ? lsc_hf_read_f32(&hf, name, buf, n, &err) : LSC_ENOMEM;
    if (rc == LSC_OK)
        for (size_t i = 0; i < n; i++)
            printf("%.9g\n", (double)buf[i]);
    free(buf);
    lsc_hf_close(&hf);
    return rc == LSC_OK ? 0 : die(&err);
}

static int mode_info(char **a, int n_args)
{
    const char *dir = a[0];
    (void)n_args;
    lsc_hf_folder hf;
    lsc_error err = {0};
    if (lsc_hf_open(&hf, dir, &err) != LSC_OK)
        return die(&err);
    const lsc_hf_config *c = &hf.cfg;
    printf("model_type=%s\narchitecture=%s\ntorch_dtype=%s\n", c->model_type, c->architecture, c->torch_dtype);
    printf("hidden_size=%d\nintermediate_size=%d\nnum_hidden_layers=%d\n", c->hidden_size, c->intermediate_size,
           c->num_hidden_layers);
    printf("num_attention_heads=%d\nnum_key_value_heads=%d\nhead_dim=%d\n", c->num_attention_heads,
           c->num_key_value_heads, c->head_dim);
    printf("max_position_embeddings=%d\nvocab_size=%d\n", c->max_position_embeddings, c->vocab_size);
    printf("rms_norm_eps=%.17g\nrope_theta=%.17g\n", c->rms_norm_eps, c->rope_theta);
    printf("tie_word_embeddings=%d\nattention_bias=%d\nqkv_bias=%d\n", c->tie_word_embeddings, c->attention_bias,
           c->qkv_bias);
    printf("n_shards=%d\nn_tensors=%d\nraw_bytes=%zu\nn_params=%zu\n", hf.n_shards, hf.n_tensors, hf.raw_bytes,
           hf.n_params);
    lsc_hf_close(&hf);
    return 0;
}

static int mode_unclaimed(char **a, int n_args)
{
    const char *dir = a[0];
    char **names = a + 1;
    int n = n_args - 1;
    lsc_hf_folder hf;
    lsc_error err = {0};
    if (lsc_hf_open(&hf, dir, &err) != LSC_OK)
        return die(&err);
    const char **out = malloc(((size_t)hf.n_tensors + 1) * sizeof *out);
    int k = out ? lsc_hf_unclaimed(&hf, (const char *const *)names, n, out, &err) : LSC_ENOMEM;
    for (int i = 0; i < k; i++)
        printf("%s\n", out[i]);
    free(out);
    lsc_hf_close(&hf);
    return k >= 0 ? 0 : die(&err);
}

static int mode_check(char **a, int n_args)
{
    const char *dir = a[0], *name = n_args == 2 ? a[1] : NULL;
    lsc_hf_folder hf;
    lsc_error err = {0};
    if (lsc_hf_open(&hf, dir, &err) != LSC_OK)
        return die(&err);
    int rc = lsc_hf_check_finite(&hf, name, &err);
    lsc_hf_close(&hf);
    if (rc != LSC_OK)
        return die(&err);
    printf("finite\n");
    return 0;
}

/* Peak resident bytes of this process: VmHWM from /proc/self/status (the
 * high-water mark of this address space), else getrusage's ru_maxrss.
 * VmHWM first because Linux carries the parent's peak into ru_maxrss
 * across fork+exec (the Python test that spawns us holds hundreds of MB). */
static double peak_rss(double *ru_bytes)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *ru_bytes = (double)ru.ru_maxrss * 1024.0;
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    double hwm = -1;
    while (fp && fgets(line, sizeof line, fp))
        if (strncmp(line, "VmHWM:", 6) == 0)
            hwm = strtod(line + 6, NULL) * 1024.0;
    if (fp)
        fclose(fp);
    return hwm >= 0 ? hwm : *ru_bytes;
}

/* Reads every tensor, one at a time, into one buffer sized for the
 * largest; prints the sum of all elements and the peak resident size. */
static int mode_mem(char **a, int n_args)
{
    const char *dir = a[0];
    (void)n_args;
    lsc_hf_folder hf;
    lsc_error err = {0};
    if (lsc_hf_open(&hf, dir, &err) != LSC_OK)
        return die(&err);
    size_t biggest = 1;
    for (int i = 0; i < hf.n_tensors; i++)
        if (hf.tensors[i].t->numel > biggest)
            biggest = hf.tensors[i].t->numel;
    double ru0, open_peak = peak_rss(&ru0);
    float *buf = malloc(biggest * sizeof *buf);
    double sum = 0;
    int rc = buf ? LSC_OK : LSC_ENOMEM;
    for (int i = 0; i < hf.n_tensors && rc == LSC_OK; i++) {
        const lsc_hf_tensor *t = &hf.tensors[i];
        rc = lsc_hf_read_range(&hf, t, 0, t->t->numel, buf, &err);
        for (size_t j = 0; rc == LSC_OK && j < t->t->numel; j++)
            sum += buf[j];
    }
    double ru_peak, peak = peak_rss(&ru_peak);
    printf("ru_maxrss_bytes=%.0f\nopen_rss_bytes=%.0f\n", ru_peak, open_peak);
    printf("n_params=%zu\nraw_bytes=%zu\nlargest_f32_bytes=%zu\npeak_rss_bytes=%.0f\nratio=%.3f\nsum=%.17g\n",
           hf.n_params, hf.raw_bytes, biggest * sizeof(float), peak, peak / (double)hf.raw_bytes, sum);
    free(buf);
    lsc_hf_close(&hf);
    return rc == LSC_OK ? 0 : die(&err);
}

// ---- config.json ----

static const char *CFG_FULL =
    "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 64,"
    " \"intermediate_size\": 172, \"num_hidden_layers\": 2, \"num_attention_heads\": 8,"
    " \"num_key_value_heads\": 2, \"head_dim\": 16, \"rms_norm_eps\": 1e-5, \"rope_theta\": 500000.0,"
    " \"max_position_embeddings\": 4096, \"vocab_size\": 300, \"tie_word_embeddings\": true,"
    " \"torch_dtype\": \"bfloat16\", \"rope_scaling\": {\"type\": \"linear\"}, \"unknown_key\": [1, 2]}";

static int parse(lsc_hf_config *c, const char *text, lsc_error *err)
{
    return lsc_hf_config_parse(c, text, strlen(text), "dir/config.json", err);
}

static void test_config_fields(void)
{
    lsc_hf_config c;
    lsc_error err = {0};
    CHECK(parse(&c, CFG_FULL, &err) == LSC_OK, "config: full Llama config parses (%s)", err.msg);
    CHECK(strcmp(c.model_type, "llama") == 0 && strcmp(c.architecture, "LlamaForCausalLM") == 0 &&
              strcmp(c.torch_dtype, "bfloat16") == 0,
          "config: model_type, architectures[0], torch_dtype");
    CHECK(c.hidden_size == 64 && c.intermediate_size == 172 && c.num_hidden_layers == 2 &&
              c.num_attention_heads == 8 && c.num_key_value_heads == 2 && c.head_dim == 16 &&
              c.max_position_embeddings == 4096 && c.vocab_size == 300,
          "config: integer fields");
    CHECK(c.rms_norm_eps == 1e-5 && c.rope_theta == 500000.0 && c.tie_word_embeddings == 1 &&
              c.attention_bias == 0 && c.qkv_bias == 0,
          "config: eps, theta, tied, no biases");

    const char *min = "{\"model_type\": \"llama\", \"hidden_size\": 48, \"intermediate_size\": 128,"
                      " \"num_hidden_layers\": 1, \"num_attention_heads\": 6, \"vocab_size\": 10,"
                      " \"head_dim\": null, \"num_key_value_heads\": null}";
    CHECK(parse(&c, min, &err) == LSC_OK, "config: minimal config parses (%s)", err.msg);
    CHECK(c.num_key_value_heads == 6 && c.head_dim == 8 && c.rope_theta == 10000.0 && c.rms_norm_eps == 1e-6 &&
              c.max_position_embeddings == 2048 && c.tie_word_embeddings == 0 && c.architecture[0] == '\0',
          "config: defaults (kv heads = heads, head_dim = C/NH, theta 1e4, eps 1e-6, untied)");
    const char *qwen = "{\"model_type\": \"qwen2\", \"hidden_size\": 48, \"intermediate_size\": 128,"
                       " \"num_hidden_layers\": 1, \"num_attention_heads\": 6, \"vocab_size\": 10,"
                       " \"tie_word_embeddings\": false}";
    CHECK(parse(&c, qwen, &err) == LSC_OK && c.qkv_bias == 1 && c.attention_bias == 0,
          "config: qwen2 has q/k/v biases without attention_bias");
    const char *gemma = "{\"model_type\": \"gemma\", \"hidden_size\": 48, \"intermediate_size\": 128,"
                        " \"num_hidden_layers\": 1, \"num_attention_heads\": 6, \"vocab_size\": 10,"
                        " \"attention_bias\": true}";
    CHECK(parse(&c, gemma, &err) == LSC_OK && c.tie_word_embeddings == 1 && c.attention_bias == 1 &&
              c.qkv_bias == 1,
          "config: gemma defaults to tied; attention_bias implies q/k/v biases");
}

/* CFG_FULL with the text `from` replaced by `to` must fail naming the file
 * and containing needle. */
static void config_bad(const char *from, const char *to, const char *needle)
{
    char text[2048];
    const char *at = strstr(CFG_FULL, from);
    LSC_ASSERT(at);
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - CFG_FULL), CFG_FULL, to, at + strlen(from));
    lsc_hf_config c;
    lsc_error err = {0};
    int rc = parse(&c, text, &err);
    CHECK(rc == LSC_EFORMAT && strstr(err.msg, "dir/config.json") && strstr(err.msg, needle) &&
              !strchr(err.msg, '\n'),
          "config: %s -> %s refused naming the file and '%s' (%s)", from, to, needle, err.msg);
}

static void test_config_errors(void)
{
    config_bad("\"hidden_size\": 64", "\"hidden_size\": 1e300", "hidden_size");
    config_bad("\"hidden_size\": 64", "\"hidden_size\": -64", "hidden_size");
    config_bad("\"hidden_size\": 64", "\"hidden_size\": 64.5", "hidden_size");
    config_bad("\"hidden_size\": 64", "\"hidden_size\": \"64\"", "hidden_size");
    config_bad("\"hidden_size\": 64,", "", "missing \"hidden_size\"");
    config_bad("\"vocab_size\": 300", "\"vocab_size\": 1e19", "vocab_size");
    config_bad("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3", "does not divide");
    config_bad("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 16", "num_key_value_heads");
    config_bad("\"head_dim\": 16", "\"head_dim\": 0", "head_dim");
    config_bad("\"rms_norm_eps\": 1e-5", "\"rms_norm_eps\": 0", "rms_norm_eps");
    config_bad("\"rms_norm_eps\": 1e-5", "\"rms_norm_eps\": \"1e-5\"", "rms_norm_eps");
    config_bad("\"rope_theta\": 500000.0", "\"rope_theta\": 1e300", "rope_theta");
    config_bad("\"rope_theta\": 500000.0", "\"rope_theta\": -1", "rope_theta");
    config_bad("\"tie_word_embeddings\": true", "\"tie_word_embeddings\": 1", "tie_word_embeddings");
    config_bad("[\"LlamaForCausalLM\"]", "\"LlamaForCausalLM\"", "architectures");
    config_bad("[\"LlamaForCausalLM\"]", "[7]", "architectures[0]");
    config_bad("\"model_type\": \"llama\"", "\"model_type\": 3", "model_type");
    config_bad("{\"architectures\"", "[{\"architectures\"", "not a JSON object");
    config_bad("\"max_position_embeddings\": 4096", "\"max_position_embeddings\": 1e10", "max_position");
    /* head_dim absent and NH not dividing C */
    config_bad("\"num_attention_heads\": 8, \"num_key_value_heads\": 2, \"head_dim\": 16",
               "\"num_attention_heads\": 7", "does not divide hidden_size");
}

// ---- a folder with many tensors ----

#define N_MANY 3000

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    LSC_ASSERT(fp);
    fputs(text, fp);
    fclose(fp);
}

/* dir/config.json + dir/model.safetensors: N_MANY small F32 tensors
 * t.i (3 elements: i, -i, i/8), an F16 "half", an I32 "ints" and an F32
 * "inf" holding an infinity. */
static void write_many(const char *dir)
{
    mkdir(dir, 0755);
    char p[600];
    snprintf(p, sizeof p, "%s/config.json", dir);
    write_text(p, CFG_FULL);
    static float vals[N_MANY][3];
    static char names[N_MANY][16];
    static lsc_st_entry e[N_MANY + 3];
    for (int i = 0; i < N_MANY; i++) {
        vals[i][0] = (float)i, vals[i][1] = (float)-i, vals[i][2] = (float)i / 8;
        snprintf(names[i], sizeof names[i], "t.%d", i);
        e[i] = (lsc_st_entry){names[i], LSC_DT_F32, 1, {3}, vals[i]};
    }
    static uint16_t half[4];
    static const float hv[4] = {1.5f, -2.25f, 65504.0f, 0.000061035156f};
    for (int i = 0; i < 4; i++)
        half[i] = lsc_f32_to_f16(hv[i]);
    static const int32_t ints[2] = {1, 2};
    static const float inf[3] = {0.0f, 1.0f, INFINITY};
    e[N_MANY] = (lsc_st_entry){"half", LSC_DT_F16, 2, {2, 2}, half};
    e[N_MANY + 1] = (lsc_st_entry){"ints", LSC_DT_I32, 1, {2}, ints};
    e[N_MANY + 2] = (lsc_st_entry){"inf", LSC_DT_F32, 1, {3}, inf};
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    lsc_error err = {0};
    LSC_ASSERT(lsc_st_write(p, e, N_MANY + 3, NULL, NULL, 0, &err) == LSC_OK);
}

static void test_many(void)
{
    const char *dir = test_tmp("many");
    char dirbuf[512];
    snprintf(dirbuf, sizeof dirbuf, "%s", dir);
    write_many(dirbuf);
    lsc_hf_folder hf;
    lsc_error err = {0};
    int rc = lsc_hf_open(&hf, dirbuf, &err);
    CHECK(rc == LSC_OK && hf.n_shards == 1 && hf.n_tensors == N_MANY + 3, "many: %d tensors open (%s)",
          N_MANY + 3, err.msg);
    if (rc != LSC_OK)
        return;
    int found = 0;
    float v[4];
    for (int i = 0; i < N_MANY; i++) {
        char name[16];
        snprintf(name, sizeof name, "t.%d", i);
        const lsc_hf_tensor *t = lsc_hf_find(&hf, name);
        found += t && strcmp(t->name, name) == 0 && lsc_hf_read_f32(&hf, name, v, 3, NULL) == LSC_OK &&
                 v[0] == (float)i && v[1] == (float)-i && v[2] == (float)i / 8;
    }
    CHECK(found == N_MANY, "many: every t.i found by hash and read back (%d)", found);
    CHECK(!lsc_hf_find(&hf, "t.3000") && !lsc_hf_find(&hf, "t.") && !lsc_hf_find(&hf, ""),
          "many: absent names not found");
    CHECK(hf.raw_bytes == (size_t)N_MANY * 12 + 8 + 8 + 12 && hf.n_params == (size_t)N_MANY * 3 + 4 + 2 + 3,
          "many: raw_bytes and n_params");
    const lsc_hf_tensor *h = lsc_hf_find(&hf, "half");
    CHECK(lsc_hf_read_range(&hf, h, 1, 3, v, &err) == LSC_OK && v[0] == -2.25f && v[1] == 65504.0f &&
              v[2] == 0.000061035156f,
          "many: ranged F16 read [1, 4) exact");
    rc = lsc_hf_read_range(&hf, h, 2, 3, v, &err);
    CHECK(rc == LSC_EARG && strstr(err.msg, "model.safetensors"), "many: range past the end refused (%s)",
          err.msg);
    rc = lsc_hf_read_f32(&hf, "half", v, 3, &err);
    CHECK(rc == LSC_ESHAPE && strstr(err.msg, "'half'"), "many: small buffer refused (%s)", err.msg);
    rc = lsc_hf_read_f32(&hf, "nope", v, 4, &err);
    CHECK(rc == LSC_ENOTFOUND && strstr(err.msg, "'nope'") && strstr(err.msg, dirbuf),
          "many: unknown name refused naming the folder (%s)", err.msg);
    rc = lsc_hf_read_f32(&hf, "ints", v, 4, &err);
    CHECK(rc == LSC_EFORMAT && strstr(err.msg, "I32"), "many: integer tensor refused (%s)", err.msg);
    CHECK(lsc_hf_check_finite(&hf, "half", &err) == LSC_OK, "many: finite tensor passes the check");
    rc = lsc_hf_check_finite(&hf, NULL, &err);
    CHECK(rc == LSC_EFORMAT || rc == LSC_ENAN, "many: whole-folder check stops at ints or inf (%s)", err.msg);
    rc = lsc_hf_check_finite(&hf, "inf", &err);
    CHECK(rc == LSC_ENAN && strstr(err.msg, "'inf'") && strstr(err.msg, "element 2") &&
              strstr(err.msg, "model.safetensors"),
          "many: infinity found at element 2 (%s)", err.msg);
    const char *claimed[N_MANY + 1];
    char cnames[N_MANY][16];
    for (int i = 0; i < N_MANY; i++) {
        snprintf(cnames[i], sizeof cnames[i], "t.%d", i);
        claimed[i] = cnames[i];
    }
    claimed[N_MANY] = "not.in.folder";
    const char *out[N_MANY + 3];
    int n = lsc_hf_unclaimed(&hf, claimed, N_MANY + 1, out, &err);
    int seen = 0;
    for (int i = 0; i < n; i++)
        seen += strcmp(out[i], "half") == 0 || strcmp(out[i], "ints") == 0 || strcmp(out[i], "inf") == 0;
    CHECK(n == 3 && seen == 3, "many: unclaimed = half, ints, inf (%d)", n);
    CHECK(lsc_hf_unclaimed(&hf, NULL, 0, out, &err) == N_MANY + 3, "many: nothing claimed lists everything");
    lsc_hf_close(&hf);
    lsc_hf_close(&hf); /* twice: a no-op */
    CHECK(1, "many: close twice is harmless");
}

static void test_folder_errors(void)
{
    lsc_hf_folder hf;
    lsc_error err = {0};
    char dir[512];
    snprintf(dir, sizeof dir, "%s", test_tmp("empty"));
    mkdir(dir, 0755);
    int rc = lsc_hf_open(&hf, dir, &err);
    CHECK(rc == LSC_ENOTFOUND && strstr(err.msg, "config.json") && hf.n_tensors == 0,
          "folder: missing config.json (%s)", err.msg);
    char p[600];
    snprintf(p, sizeof p, "%s/config.json", dir);
    write_text(p, CFG_FULL);
    char slash[520];
    snprintf(slash, sizeof slash, "%s/", dir);
    rc = lsc_hf_open(&hf, slash, &err);
    CHECK(rc == LSC_ENOTFOUND && strstr(err.msg, "no model.safetensors") && !strstr(err.msg, "//"),
          "folder: no weights, trailing slash dropped (%s)", err.msg);
    rc = lsc_hf_open(&hf, p, &err);
    CHECK(rc == LSC_EIO && strstr(err.msg, "not a directory"), "folder: a file is not a folder (%s)", err.msg);
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    write_text(p, "{\"weight_map\": {\"a\": \"../x.safetensors\"}}");
    rc = lsc_hf_open(&hf, dir, &err);
    CHECK(rc == LSC_EFORMAT && strstr(err.msg, "not a plain file name") && strstr(err.msg, "index.json"),
          "folder: shard path outside the folder refused (%s)", err.msg);
    write_text(p, "{\"weight_map\": [1]}");
    rc = lsc_hf_open(&hf, dir, &err);
    CHECK(rc == LSC_EFORMAT && strstr(err.msg, "weight_map"), "folder: weight_map not an object (%s)", err.msg);
    write_text(p, "{\"weight_map\": {\"a\": 3}}");
    rc = lsc_hf_open(&hf, dir, &err);
    CHECK(rc == LSC_EFORMAT && strstr(err.msg, "'a'"), "folder: weight_map value not a string (%s)", err.msg);
    lsc_hf_close(&hf);
}

int main(int argc, char **argv)
{
    static const test_mode modes[] = {{"--dump", 2, 2, mode_dump},           {"--info", 1, 1, mode_info},
                                      {"--unclaimed", 1, -1, mode_unclaimed}, {"--check", 1, 2, mode_check},
                                      {"--mem", 1, 1, mode_mem},             {NULL, 0, 0, NULL}};
    int rc = test_dispatch(argc, argv, modes, "test_hf_folder [--dump DIR NAME | --info DIR | --unclaimed DIR "
                                              "NAME... | --check DIR [NAME] | --mem DIR]");
    if (rc >= 0)
        return rc;
    if (test_tmpdir_make("hf_folder") != 0)
        return 1;
    test_config_fields();
    test_config_errors();
    test_many();
    test_folder_errors();
    test_tmpdir_remove();
    return test_summary();
}
