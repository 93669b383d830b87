/*
 * fuzz_pattern.c — libFuzzer harness for the rank_pattern / alpha_pattern
 * matcher, reached only through the public peft-config entry points
 * (lsc_adapter_load, lsc_adapter_module_params), so it keeps working
 * whichever module implements the matcher. Input: "KEY\nNAME": KEY becomes
 * the one key of both rank_pattern (value 4, the file's r, so the load
 * succeeds whether or not it matches) and alpha_pattern; NAME (the rest) is
 * a module name asked about after the load. Not a correctness test: the
 * sanitizers (and libFuzzer's time and memory limits: the matcher's cost
 * must be bounded) are the oracle.
 */
#include <cJSON.h>

#include "fuzz_common.h"

/* adapter_config.json with key in rank_pattern and alpha_pattern; 0 on success. */
static int write_config(const char *dir, const char *key)
{
    cJSON *root = cJSON_CreateObject(), *rp = cJSON_CreateObject(), *ap = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "peft_type", "LORA");
    cJSON_AddNumberToObject(root, "r", 4);
    cJSON_AddNumberToObject(root, "lora_alpha", 8);
    cJSON_AddNumberToObject(rp, key, 4);
    cJSON_AddNumberToObject(ap, key, 2.5);
    cJSON_AddItemToObject(root, "rank_pattern", rp);
    cJSON_AddItemToObject(root, "alpha_pattern", ap);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text)
        return -1;
    char path[700];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    fz_put(path, text, strlen(text));
    free(text);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *k, *n;
    size_t nk, nn;
    fz_split(data, size, "\n", &k, &nk, &n, &nn);
    char *key = strndup((const char *)k, nk), *name = strndup((const char *)n, nn);
    const char *dir = fz_adapter_dir();
    if (!key || !name || write_config(dir, key) != 0)
        abort();
    lsc_adapter ad;
    lsc_error err = {0};
    if (lsc_adapter_load(&ad, dir, &err) == LSC_OK) {
        int r;
        double alpha;
        lsc_adapter_module_params(&ad, name, &r, &alpha);
        if ((r != 4 && r != ad.r) || (alpha != 2.5 && alpha != ad.lora_alpha))
            abort();   /* a matched key gives exactly its value, an unmatched one the default */
    }
    lsc_adapter_free(&ad);
    free(key);
    free(name);
    return 0;
}
