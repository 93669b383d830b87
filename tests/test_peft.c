/*
 * test_peft.c — PEFT adapter directories: the real fixtures written by PEFT,
 * byte-stable round trips of what lorascope writes, scaling rules (alpha/r,
 * rsLoRA, rank_pattern, alpha_pattern), F16 tensors, full tensors
 * (modules_to_save), DoRA magnitudes in both saved key forms, adapter names
 * (in keys, per-adapter subfolders, DIR:NAME), eval/merge's refusal of
 * DoRA, and clear errors for every malformed directory. (Every kind against
 * numpy: tests/test_peft_kinds.py.)
 */
#include <sys/stat.h>
#include <unistd.h>

#include "lsc_internal.h"
#include "test.h"

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    fputs(text, fp);
    fclose(fp);
}

/* An adapter dir with one module "h.0.attn.q_proj" of rank r, d x k, with
 * tensors in dtype dt; extra tensor if extra. The tensors go through the
 * library's writer (lsc_st_write); adapter_config.json is written by hand on
 * purpose: it is the input under test, as PEFT writes it or deliberately
 * malformed, which lsc_adapter_save never produces (its own output is
 * checked by the round trips of test_basic). */
static void make_adapter(const char *d, const char *config, int r, int dd, int k, lsc_dtype dt, int extra)
{
    mkdir(d, 0755);
    char p[600];
    snprintf(p, sizeof p, "%s/adapter_config.json", d);
    write_text(p, config);
    size_t na = (size_t)r * (size_t)k, nb = (size_t)dd * (size_t)r;
    float *a = malloc(na * 4), *b = malloc(nb * 4);
    uint16_t *ah = malloc(na * 2), *bh = malloc(nb * 2);
    for (size_t i = 0; i < na; i++) {
        a[i] = (float)((int)(i % 7) - 3) * 0.25f;
        ah[i] = lsc_f32_to_f16(a[i]);
    }
    for (size_t i = 0; i < nb; i++) {
        b[i] = (float)((int)(i % 5) - 2) * 0.5f;
        bh[i] = lsc_f32_to_f16(b[i]);
    }
    float head[4] = {1, 2, 3, 4};
    lsc_st_entry e[3] = {
        {"base_model.model.h.0.attn.q_proj.lora_A.weight", dt, 2, {r, k}, dt == LSC_DT_F16 ? (void *)ah : a},
        {"base_model.model.h.0.attn.q_proj.lora_B.weight", dt, 2, {dd, r}, dt == LSC_DT_F16 ? (void *)bh : b},
        {"base_model.model.score.weight", LSC_DT_F32, 2, {2, 2}, head},
    };
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", d);
    lsc_error err;
    if (lsc_st_write(p, e, extra ? 3 : 2, NULL, NULL, 0, &err) != LSC_OK)
        printf("setup failed: %s\n", err.msg);
    free(a);
    free(b);
    free(ah);
    free(bh);
}

static const char *CFG8 = "{\"peft_type\": \"LORA\", \"r\": 4, \"lora_alpha\": 8, \"target_modules\": [\"q_proj\"],"
                          " \"loftq_config\": {}, \"megatron_config\": null, \"layers_pattern\": null,"
                          " \"use_dora\": false, \"fan_in_fan_out\": false, \"some_future_field\": [1, {\"x\": null}]}";

static int same_file(const char *a, const char *b)
{
    char *x = NULL, *y = NULL;
    size_t nx, ny;
    lsc_error err;
    int ok = lsc_read_file_(a, &x, &nx, &err) == LSC_OK && lsc_read_file_(b, &y, &ny, &err) == LSC_OK &&
             nx == ny && memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return ok;
}

static void test_basic(void)
{
    lsc_adapter ad;
    lsc_error err = {0};
    make_adapter(test_tmp("a1"), CFG8, 4, 6, 5, LSC_DT_F32, 1);
    CHECK(lsc_adapter_load(&ad, test_tmp("a1"), &err) == LSC_OK, "load synthetic adapter (%s)", err.msg);
    CHECK(ad.n_modules == 1 && strcmp(ad.modules[0].name, "h.0.attn.q_proj") == 0, "module name stripped");
    CHECK(ad.modules[0].r == 4 && ad.modules[0].in_features == 5 && ad.modules[0].out_features == 6, "shapes");
    CHECK(ad.modules[0].scaling == 2.0, "scaling alpha/r = 2");
    CHECK(ad.n_ignored == 0 && ad.n_full == 1 && strcmp(ad.full[0].name, "score") == 0 &&
              ad.full[0].kind == LSC_ADAPTER_FULL && ad.full[0].out_features == 2 && ad.full[0].weight[3] == 4.0f,
          "score.weight read as a full tensor (modules_to_save), not a LoRA factor");
    CHECK(ad.modules[0].kind == LSC_ADAPTER_LORA && ad.modules[0].magnitude == NULL &&
              strcmp(ad.adapter_name, "default") == 0,
          "kind LoRA, no magnitude, adapter 'default'");
    CHECK(lsc_adapter_save(&ad, test_tmp("rt0"), &err) == LSC_EARG && strstr(err.msg, "full tensors"),
          "the writer refuses full tensors rather than dropping them");
    lsc_adapter_free(&ad);
    make_adapter(test_tmp("a1"), CFG8, 4, 6, 5, LSC_DT_F32, 0);
    CHECK(lsc_adapter_load(&ad, test_tmp("a1"), &err) == LSC_OK, "load without the full tensor (%s)", err.msg);
    CHECK(ad.modules[0].A[1] == -0.5f && ad.modules[0].B[0] == -1.0f, "values");
    CHECK(ad.n_targets == 1 && strcmp(ad.target_modules[0], "q_proj") == 0, "target_modules list");
    /* round trip: save, load, save again -> identical bytes */
    CHECK(lsc_adapter_save(&ad, test_tmp("rt1"), &err) == LSC_OK, "save (%s)", err.msg);
    lsc_adapter ad2;
    CHECK(lsc_adapter_load(&ad2, test_tmp("rt1"), &err) == LSC_OK, "load saved (%s)", err.msg);
    CHECK(lsc_adapter_save(&ad2, test_tmp("rt2"), &err) == LSC_OK, "save again");
    CHECK(same_file(test_tmp("rt1/adapter_model.safetensors"), test_tmp("rt2/adapter_model.safetensors")) &&
              same_file(test_tmp("rt1/adapter_config.json"), test_tmp("rt2/adapter_config.json")),
          "byte-stable round trip");
    CHECK(ad2.modules[0].scaling == 2.0 && ad2.r == 4 && ad2.lora_alpha == 8.0, "config survives round trip");
    lsc_adapter_free(&ad2);
    lsc_adapter_free(&ad);
    lsc_adapter_free(&ad); /* double free safe */

    make_adapter(test_tmp("f16"), CFG8, 4, 6, 5, LSC_DT_F16, 0);
    CHECK(lsc_adapter_load(&ad, test_tmp("f16"), &err) == LSC_OK && strcmp(ad.modules[0].dtype, "F16") == 0 &&
              ad.modules[0].A[1] == -0.5f,
          "F16 tensors read exactly (%s)", err.msg);
    lsc_adapter_free(&ad);
}

static void test_scaling(void)
{
    lsc_adapter ad;
    lsc_error err = {0};
    make_adapter(test_tmp("rs"), "{\"peft_type\":\"LORA\",\"r\":4,\"lora_alpha\":8,\"use_rslora\":true}", 4, 3, 3,
                 LSC_DT_F32, 0);
    CHECK(lsc_adapter_load(&ad, test_tmp("rs"), &err) == LSC_OK && fabs(ad.modules[0].scaling - 4.0) < 1e-15,
          "rsLoRA scaling alpha/sqrt(r) = 4 (%s)", err.msg);
    lsc_adapter_free(&ad);
    make_adapter(test_tmp("pat"),
                 "{\"peft_type\":\"LORA\",\"r\":8,\"lora_alpha\":16,\"rank_pattern\":{\"q_proj\":2},"
                 "\"alpha_pattern\":{\"attn.q_proj\":3}}",
                 2, 3, 3, LSC_DT_F32, 0);
    CHECK(lsc_adapter_load(&ad, test_tmp("pat"), &err) == LSC_OK && ad.modules[0].r == 2 &&
              ad.modules[0].alpha == 3.0 && ad.modules[0].scaling == 1.5,
          "rank_pattern and alpha_pattern override per module (%s)", err.msg);
    int r;
    double a;
    lsc_adapter_module_params(&ad, "h.1.attn.k_proj", &r, &a);
    CHECK(r == 8 && a == 16.0, "non-matching module keeps r and alpha");
    lsc_adapter_module_params(&ad, "h.1.attn.xq_proj", &r, &a);
    CHECK(r == 8, "pattern matches whole dotted components only");
    lsc_adapter_free(&ad);
}

static void expect_fail(const char *name, const char *d, int code, const char *needle)
{
    lsc_adapter ad;
    lsc_error err = {0};
    int rc = lsc_adapter_load(&ad, d, &err);
    CHECK(rc == code && strstr(err.msg, needle) != NULL, "%s: code %d, '%s' (got %d: %s)", name, code, needle, rc,
          err.msg);
    CHECK(ad.n_modules == 0 && ad.modules == NULL, "%s: nothing left allocated", name);
}

static void test_bad(void)
{
    expect_fail("missing path", test_tmp("nope"), LSC_EIO, "nope");
    mkdir(test_tmp("empty"), 0755);
    expect_fail("no adapter_config.json", test_tmp("empty"), LSC_ENOTFOUND, "no adapter_config.json");
    write_text(test_tmp("plainfile"), "x");
    expect_fail("a file, not a directory", test_tmp("plainfile"), LSC_EARG, "not an adapter directory");
    make_adapter(test_tmp("rmis"), "{\"peft_type\":\"LORA\",\"r\":16,\"lora_alpha\":8}", 4, 3, 3, LSC_DT_F32, 0);
    expect_fail("r disagrees with tensors", test_tmp("rmis"), LSC_ESHAPE, "r = 16 in adapter_config.json");
    make_adapter(test_tmp("badjson"), "{\"peft_type\": \"LORA\", \"r\": ", 4, 3, 3, LSC_DT_F32, 0);
    expect_fail("invalid JSON", test_tmp("badjson"), LSC_EFORMAT, "not a valid JSON object");
    make_adapter(test_tmp("ia3"), "{\"peft_type\":\"IA3\"}", 4, 3, 3, LSC_DT_F32, 0);
    expect_fail("not LoRA", test_tmp("ia3"), LSC_EFORMAT, "adapter_config.json: not supported: IA3");
    make_adapter(test_tmp("nopt"), "{\"r\":4}", 4, 3, 3, LSC_DT_F32, 0);
    expect_fail("no peft_type", test_tmp("nopt"), LSC_EFORMAT, "peft_type");
    make_adapter(test_tmp("rneg"), "{\"peft_type\":\"LORA\",\"r\":-1}", 4, 3, 3, LSC_DT_F32, 0);
    expect_fail("negative r", test_tmp("rneg"), LSC_EFORMAT, "positive integer");
    mkdir(test_tmp("nost"), 0755);
    write_text(test_tmp("nost/adapter_config.json"), CFG8);
    expect_fail("no safetensors", test_tmp("nost"), LSC_ENOTFOUND, "no adapter_model.safetensors");
    /* only lora_A */
    mkdir(test_tmp("halfmod"), 0755);
    write_text(test_tmp("halfmod/adapter_config.json"), CFG8);
    float a[8] = {0};
    lsc_st_entry e = {"base_model.model.x.lora_A.weight", LSC_DT_F32, 2, {4, 2}, a};
    lsc_error err;
    lsc_st_write(test_tmp("halfmod/adapter_model.safetensors"), &e, 1, NULL, NULL, 0, &err);
    expect_fail("lora_A without lora_B", test_tmp("halfmod"), LSC_EFORMAT, "has lora_A but no lora_B");
    /* A and B disagree on r */
    mkdir(test_tmp("rshape"), 0755);
    write_text(test_tmp("rshape/adapter_config.json"), CFG8);
    float bb[12] = {0};
    lsc_st_entry e2[2] = {{"base_model.model.x.lora_A.weight", LSC_DT_F32, 2, {4, 2}, a},
                          {"base_model.model.x.lora_B.weight", LSC_DT_F32, 2, {4, 3}, bb}};
    lsc_st_write(test_tmp("rshape/adapter_model.safetensors"), e2, 2, NULL, NULL, 0, &err);
    expect_fail("A and B disagree", test_tmp("rshape"), LSC_ESHAPE, "disagree on r");
}

/* An adapter dir whose weights are the n entries e, config cfg. */
static void make_raw(const char *d, const char *cfg, const lsc_st_entry *e, int n)
{
    char p[600];
    lsc_error err;
    mkdir(d, 0755);
    snprintf(p, sizeof p, "%s/adapter_config.json", d);
    write_text(p, cfg);
    snprintf(p, sizeof p, "%s/adapter_model.safetensors", d);
    if (lsc_st_write(p, e, n, NULL, NULL, 0, &err) != LSC_OK)
        printf("setup failed: %s\n", err.msg);
}

/* DoRA (issue 14): magnitudes in both saved key forms, adapter names in
 * keys, per-adapter subfolders through lsc_adapter_load_named, and the
 * inconsistent files. */
static void test_dora_names(void)
{
    static const char *DORA = "{\"peft_type\":\"LORA\",\"r\":2,\"lora_alpha\":2,\"use_dora\":true}";
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, 0, 1, 1, 1}, m1[3] = {0.5f, 1.5f, 2.5f}, m2[3] = {7, 8, 9};
    lsc_st_entry e[6] = {
        {"base_model.model.x.lora_A.weight", LSC_DT_F32, 2, {2, 3}, a},
        {"base_model.model.x.lora_B.weight", LSC_DT_F32, 2, {3, 2}, b},
        {"base_model.model.x.lora_magnitude_vector", LSC_DT_F32, 1, {3}, m1},
        {"base_model.model.y.lora_A.default.weight", LSC_DT_F32, 2, {2, 3}, a},
        {"base_model.model.y.lora_B.default.weight", LSC_DT_F32, 2, {3, 2}, b},
        {"base_model.model.y.lora_magnitude_vector.default.weight", LSC_DT_F32, 1, {3}, m2},
    };
    make_raw(test_tmp("dora"), DORA, e, 6);
    lsc_adapter ad;
    lsc_error err = {0};
    CHECK(lsc_adapter_load(&ad, test_tmp("dora"), &err) == LSC_OK && ad.n_modules == 2 && ad.use_dora,
          "DoRA adapter loads (%s)", err.msg);
    CHECK(ad.n_modules == 2 && ad.modules[0].kind == LSC_ADAPTER_DORA && ad.modules[0].magnitude &&
              ad.modules[0].magnitude[2] == 2.5f && ad.modules[1].kind == LSC_ADAPTER_DORA &&
              ad.modules[1].magnitude && ad.modules[1].magnitude[0] == 7.0f,
          "DoRA magnitudes read from '.lora_magnitude_vector' and '.lora_magnitude_vector.default.weight'");
    CHECK(lsc_adapter_first_of_kind(&ad, LSC_ADAPTER_DORA) == 0 && lsc_adapter_first_of_kind(&ad, LSC_ADAPTER_CONV) < 0,
          "lsc_adapter_first_of_kind");
    CHECK(lsc_adapter_save(&ad, test_tmp("dora_out"), &err) == LSC_EARG, "the writer refuses DoRA");
    lsc_adapter_free(&ad);
    lsc_gpt_config cfg = {.n_layer = 2, .n_head = 2, .n_embd = 16, .n_ctx = 8, .vocab = 32};
    lsc_lora lo;
    int rc = lsc_lora_load(&lo, &cfg, test_tmp("dora"), &err);
    CHECK(rc == LSC_EFORMAT &&
              strstr(err.msg, "is DoRA: only plain LoRA runs unmerged; merge the adapter into the base first"),
          "eval/generate's lsc_lora_load refuses DoRA, saying to merge first (%s)", err.msg);
    lsc_st_entry bad[3] = {e[0], e[1], {"base_model.model.x.lora_magnitude_vector", LSC_DT_F32, 1, {2}, m1}};
    make_raw(test_tmp("dora_short"), DORA, bad, 3);
    expect_fail("DoRA magnitude of the wrong length", test_tmp("dora_short"), LSC_ESHAPE, "not out_features = 3");
    make_raw(test_tmp("dora_nomag"), DORA, e, 2);
    expect_fail("use_dora without magnitudes", test_tmp("dora_nomag"), LSC_EFORMAT, "no lora_magnitude_vector");
    float ca[2 * 3 * 4], cb[3 * 2];
    memset(ca, 0, sizeof ca);
    memset(cb, 0, sizeof cb);
    lsc_st_entry conv[3] = {{"c.lora_A.weight", LSC_DT_F32, 3, {2, 3, 4}, ca},
                            {"c.lora_B.weight", LSC_DT_F32, 3, {3, 2, 1}, cb},
                            {"c.lora_magnitude_vector", LSC_DT_F32, 1, {3}, m1}};
    make_raw(test_tmp("dora_conv"), DORA, conv, 3);
    expect_fail("DoRA on a convolution", test_tmp("dora_conv"), LSC_EFORMAT, "not supported: DoRA on a convolution");
    /* subfolders per adapter */
    make_adapter(test_tmp("multi"), CFG8, 4, 6, 5, LSC_DT_F32, 0);
    make_adapter(test_tmp("multi/fr"), "{\"peft_type\":\"LORA\",\"r\":4,\"lora_alpha\":4}", 4, 6, 5, LSC_DT_F32, 0);
    expect_fail("two adapters, none named", test_tmp("multi"), LSC_EFORMAT, "2 adapters here (default, fr)");
    CHECK(lsc_adapter_load_named(&ad, test_tmp("multi"), "fr", &err) == LSC_OK && ad.modules[0].scaling == 1.0 &&
              strcmp(ad.adapter_name, "fr") == 0,
          "lsc_adapter_load_named picks the subfolder (%s)", err.msg);
    lsc_adapter_free(&ad);
    CHECK(lsc_adapter_load_named(&ad, test_tmp("multi"), "default", &err) == LSC_OK && ad.modules[0].scaling == 2.0,
          "name 'default' is the top level (%s)", err.msg);
    lsc_adapter_free(&ad);
    char spec[600];
    snprintf(spec, sizeof spec, "%s:fr", test_tmp("multi"));
    CHECK(lsc_adapter_load(&ad, spec, &err) == LSC_OK && strcmp(ad.adapter_name, "fr") == 0, "DIR:NAME (%s)", err.msg);
    lsc_adapter_free(&ad);
}

static void test_fixtures(void)
{
    const char *fx = test_fixtures_dir("real PEFT adapters (GPT-2, GPT-Neo)");
    if (!fx)
        return;
    char p[4200];
    lsc_adapter ad;
    lsc_error err = {0};
    snprintf(p, sizeof p, "%s/peft/gpt2-tigrinya-r8-cattn-cproj", fx);
    CHECK(lsc_adapter_load(&ad, p, &err) == LSC_OK, "GPT-2 PEFT adapter loads (%s)", err.msg);
    int n_attn = 0, n_aproj = 0, n_mproj = 0, shapes_ok = 1;
    for (int i = 0; i < ad.n_modules; i++) {
        const lsc_adapter_module *m = &ad.modules[i];
        if (strstr(m->name, "attn.c_attn")) {
            n_attn++;
            shapes_ok &= m->in_features == 768 && m->out_features == 2304;
        } else if (strstr(m->name, "attn.c_proj")) {
            n_aproj++;
            shapes_ok &= m->in_features == 768 && m->out_features == 768;
        } else if (strstr(m->name, "mlp.c_proj")) {
            n_mproj++;
            shapes_ok &= m->in_features == 3072 && m->out_features == 768;
        }
        shapes_ok &= m->r == 8 && m->scaling == 4.0;
    }
    CHECK(ad.n_modules == 36 && n_attn == 12 && n_aproj == 12 && n_mproj == 12,
          "GPT-2: 12 c_attn + 12 attn.c_proj + 12 mlp.c_proj modules (got %d: %d/%d/%d)", ad.n_modules, n_attn,
          n_aproj, n_mproj);
    CHECK(shapes_ok, "GPT-2: shapes 768->2304, 768->768, 3072->768, r=8, scaling 32/8");
    /* lsc_adapter_find: the loader's hash index (issue 15), and the linear search on a copy whose
     * modules array was replaced (the index is not used for it) */
    int found = ad.module_index_of_ == ad.modules && ad.module_index_.n == (size_t)ad.n_modules;
    for (int i = 0; i < ad.n_modules; i++)
        found &= lsc_adapter_find(&ad, ad.modules[i].name) == i;
    found &= lsc_adapter_find(&ad, "transformer.h.0.attn") == -1 && lsc_adapter_find(&ad, "") == -1;
    lsc_adapter_module rev[64];
    lsc_adapter cp = ad;
    for (int i = 0; i < ad.n_modules && ad.n_modules <= 64; i++)
        rev[i] = ad.modules[ad.n_modules - 1 - i];
    cp.modules = rev;
    for (int i = 0; i < ad.n_modules && ad.n_modules <= 64; i++)
        found &= lsc_adapter_find(&cp, ad.modules[i].name) == ad.n_modules - 1 - i;
    CHECK(found, "lsc_adapter_find: every module by the hash index; a changed modules array searched linearly");
    CHECK(ad.fan_in_fan_out == 1, "GPT-2: fan_in_fan_out true");
    CHECK(strcmp(ad.modules[0].name, "transformer.h.0.attn.c_attn") == 0 &&
              strcmp(ad.modules[ad.n_modules - 1].name, "transformer.h.11.mlp.c_proj") == 0,
          "natural module order (h.2 before h.10)");
    lsc_adapter_free(&ad);
    snprintf(p, sizeof p, "%s/peft/gptneo125m-r8-qv", fx);
    CHECK(lsc_adapter_load(&ad, p, &err) == LSC_OK, "GPT-Neo PEFT adapter loads (%s)", err.msg);
    int nq = 0, nv = 0;
    for (int i = 0; i < ad.n_modules; i++) {
        nq += strstr(ad.modules[i].name, "q_proj") != NULL;
        nv += strstr(ad.modules[i].name, "v_proj") != NULL;
    }
    CHECK(nq == 12 && nv == 12, "GPT-Neo: 12 q_proj + 12 v_proj");
    CHECK(ad.modules[0].scaling == 2.0, "GPT-Neo: scaling 16/8");
    /* a real adapter round-trips through our writer with identical tensors */
    CHECK(lsc_adapter_save(&ad, test_tmp("neo"), &err) == LSC_OK, "re-save GPT-Neo adapter");
    lsc_adapter b;
    int same = lsc_adapter_load(&b, test_tmp("neo"), &err) == LSC_OK && b.n_modules == ad.n_modules;
    for (int i = 0; same && i < ad.n_modules; i++)
        same = memcmp(ad.modules[i].A, b.modules[i].A, (size_t)ad.modules[i].r * (size_t)ad.modules[i].in_features * 4) == 0 &&
               memcmp(ad.modules[i].B, b.modules[i].B, (size_t)ad.modules[i].r * (size_t)ad.modules[i].out_features * 4) == 0;
    CHECK(same, "GPT-Neo: tensors identical after save and reload");
    lsc_adapter_free(&b);
    lsc_adapter_free(&ad);
}

int main(void)
{
    if (test_tmpdir_make("peft") != 0)
        return 1;
    test_basic();
    test_scaling();
    test_bad();
    test_dora_names();
    test_fixtures();
    test_tmpdir_remove();
    return test_summary();
}
