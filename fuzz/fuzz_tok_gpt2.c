/*
 * fuzz_tok_gpt2.c — libFuzzer harness for GPT-2's byte-level BPE files
 * (lib/tokenizer.c): the input is encoder.json, a line "#--vocab.bpe--",
 * then vocab.bpe (no such line: all encoder.json, vocab.bpe empty). A
 * tokenizer that loads encodes and decodes a fixed text. Not a correctness
 * test: the sanitizers are the oracle.
 */
#include "fuzz_common.h"

static const char TEXT[] = "Hello world's 123 caf\xc3\xa9  <|endoftext|>\n\t!";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *a, *b;
    size_t na, nb;
    fz_split(data, size, "\n#--vocab.bpe--\n", &a, &na, &b, &nb);
    char enc[600], bpe[600];
    fz_write(enc, sizeof enc, "encoder.json", a, na);
    fz_write(bpe, sizeof bpe, "vocab.bpe", b, nb);
    lsc_tokenizer tok;
    lsc_error err = {0};
    if (lsc_tokenizer_load_gpt2(&tok, enc, bpe, &err) == LSC_OK) {
        fz_tok_roundtrip(&tok, TEXT, sizeof TEXT - 1);
    }
    lsc_tokenizer_free(&tok);
    return 0;
}
