/*
 * fuzz_safetensors.c — libFuzzer harness for the safetensors reader
 * (lib/safetensors.c): the input is a whole .safetensors file. Opens it
 * (header length, JSON header, dtypes, shapes, data offsets), looks every
 * tensor up by name, reads the metadata and converts every float tensor of
 * at most 1 M elements. Not a correctness test: the sanitizers are the oracle.
 */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[600];
    fz_write(path, sizeof path, "in.safetensors", data, size);
    lsc_st_file f;
    lsc_error err = {0};
    if (lsc_st_open(&f, path, &err) != LSC_OK) {
        lsc_st_close(&f);
        return 0;
    }
    (void)lsc_st_meta(&f, "format");
    for (int i = 0; i < f.n_tensors; i++) {
        const lsc_st_tensor *t = &f.tensors[i];
        if (lsc_st_find(&f, t->name) != t && strcmp(lsc_st_find(&f, t->name)->name, t->name) != 0)
            abort();   /* the lookup must find a tensor of that name */
        (void)lsc_st_bytes(&f, t);
        if (t->numel <= (1u << 20)) {
            float *out = malloc((t->numel ? t->numel : 1) * sizeof *out);
            if (out)
                (void)lsc_st_read_f32(&f, t, out, &err);
            free(out);
        }
    }
    lsc_st_close(&f);
    return 0;
}
