/*
 * fuzz_hf_config.c — libFuzzer harness for the Hugging Face config.json
 * readers: lsc_hf_config_parse (lib/hf_folder.c) on the input from memory,
 * then the input as DIR/config.json of a folder beside a fixed one-tensor
 * model.safetensors, loaded with lsc_gpt_load_hf (lib/model_hf.c: the
 * config's support checks and its conversion to a model config; the tensors
 * never match, so a load that gets that far fails on them). Not a
 * correctness test: the sanitizers (and libFuzzer's memory limit) are the
 * oracle.
 */
#include "fuzz_common.h"

/* scratch/hf with model.safetensors (model.embed_tokens.weight 16x8), made once. */
static const char *model_dir(void)
{
    static char dir[600];
    static float w[16 * 8];
    if (dir[0])
        return dir;
    lsc_st_entry e[1] = {{"model.embed_tokens.weight", LSC_DT_F32, 2, {16, 8}, w}};
    fz_put_st(fz_subdir(dir, sizeof dir, "hf"), "model.safetensors", e, 1);
    return dir;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lsc_hf_config c;
    lsc_error err = {0};
    memset(&c, 0, sizeof c);
    (void)lsc_hf_config_parse(&c, (const char *)data, size, "config.json", &err);
    const char *dir = model_dir();
    char path[700];
    snprintf(path, sizeof path, "%s/config.json", dir);
    fz_put(path, data, size);
    lsc_gpt m;
    if (lsc_gpt_load_hf(&m, dir, 0, NULL, &err) == LSC_OK)
        lsc_gpt_free(&m);
    return 0;
}
