/*
 * fuzz_llama2c.c — libFuzzer harness for the llama2.c checkpoint reader
 * (lib/model_llama2c.c): the input is a whole checkpoint file (legacy v0
 * header or the "ak42" version-1 export); lsc_is_llama2c_file and
 * lsc_gpt_load_llama2c read it. Not a correctness test: the sanitizers (and
 * libFuzzer's memory limit: the header must not make it allocate more than
 * the file can fill) are the oracle.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[600];
    fz_write(path, sizeof path, "in.bin", data, size);
    (void)lsc_is_llama2c_file(path);
    lsc_gpt m;
    memset(&m, 0, sizeof m);
    lsc_error err = {0};
    if (lsc_gpt_load_llama2c(&m, path, &err) == LSC_OK)
        lsc_gpt_free(&m);
    return 0;
}
