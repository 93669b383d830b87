/*
 * fuzz_adapter_config.c — libFuzzer harness for adapter_config.json parsing
 * through the public entry point lsc_adapter_load: the input is the
 * directory's adapter_config.json; beside it a fixed, valid one-module
 * adapter_model.safetensors (r 4, written once). On success the module's
 * r/alpha/scaling are asked for. Not a correctness test: the sanitizers are
 * the oracle.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fz_adapter_dir();
    char path[700];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    fz_put(path, data, size);
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
