/*
 * fuzz_tok_llama2c.c — libFuzzer harness for llama2.c's tokenizer.bin reader
 * (lib/tokenizer.c): the input is the file (read to its end, vocab_size 0);
 * a tokenizer that loads encodes and decodes a fixed text (ASCII, UTF-8 and
 * a byte that needs the byte fallback) and decodes every id once. Not a
 * correctness test: the sanitizers are the oracle.
 */
#include "fuzz_common.h"

static const char TEXT[] = "Hello world, caf\xc3\xa9 \xe2\x82\xac\xff tokens!\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[600];
    fz_write(path, sizeof path, "tokenizer.bin", data, size);
    lsc_tokenizer tok;
    lsc_error err = {0};
    if (lsc_tokenizer_load_llama2c(&tok, path, 0, &err) == LSC_OK) {
        fz_tok_roundtrip(&tok, TEXT, sizeof TEXT - 1);
        for (int id = -1; id <= tok.vocab_size && id < 4096; id++) {
            size_t len;
            (void)lsc_tokenizer_decode_piece(&tok, 1, id, &len);
        }
    }
    lsc_tokenizer_free(&tok);
    return 0;
}
