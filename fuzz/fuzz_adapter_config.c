/*
 * fuzz_adapter_config.c — libFuzzer harness for adapter_config.json parsing
 * through the public entry point lsc_adapter_load: the input is the
 * directory's adapter_config.json; beside it a fixed, valid one-module
 * adapter_model.safetensors (r 4, written once). On success the module's
 * r/alpha/scaling are asked for. Not a correctness test: the sanitizers are
 * the oracle.
 */
#include <errno.h>
#include <sys/stat.h>

#include "fuzz_common.h"

/* Writes scratch/ad/adapter_model.safetensors once: h.0.attn.q_proj, r 4, 8x8. */
static const char *adapter_dir(void)
{
    static char dir[600];
    if (dir[0])
        return dir;
    fz_path(dir, sizeof dir, "ad");
    char path[700];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    static float a[4 * 8], b[8 * 4];
    for (int i = 0; i < 32; i++) {
        a[i] = 0.01f * (float)i;
        b[i] = 0.02f * (float)(31 - i);
    }
    lsc_st_entry e[2] = {
        {"base_model.model.h.0.attn.q_proj.lora_A.weight", LSC_DT_F32, 2, {4, 8}, a},
        {"base_model.model.h.0.attn.q_proj.lora_B.weight", LSC_DT_F32, 2, {8, 4}, b},
    };
    lsc_error err = {0};
    if ((mkdir(dir, 0700) != 0 && errno != EEXIST) || lsc_st_write(path, e, 2, NULL, NULL, 0, &err) != LSC_OK) {
        fprintf(stderr, "fuzz: cannot write %s: %s\n", path, err.msg);
        abort();
    }
    return dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = adapter_dir();
    char path[700];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    FILE *fp = fopen(path, "wb");
    if (!fp || (size && fwrite(data, 1, size, fp) != size) || fclose(fp) != 0)
        abort();
    lsc_adapter ad;
    lsc_error err = {0};
    if (lsc_adapter_load(&ad, dir, &err) == LSC_OK) {
        for (int i = 0; i < ad.n_modules; i++) {
            int r;
            double alpha;
            lsc_adapter_module_params(&ad, ad.modules[i].name, &r, &alpha);
            (void)lsc_adapter_scaling(&ad, r, alpha);
        }
    }
    lsc_adapter_free(&ad);
    return 0;
}
