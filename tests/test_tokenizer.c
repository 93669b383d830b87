/*
 * test_tokenizer.c — lib/tokenizer.c on the real tokenizers in the shared
 * fixtures: llama2.c's 32000-token tokenizer.bin and stories260K's tok512.bin,
 * GPT-2's encoder.json + vocab.bpe. Known answers ("Hello world"), round trips
 * decode(encode(x)) == x on data/fixtures/tiny.txt and the corpus, edge cases,
 * the ESHAPE contract, and one clear error per bad file.
 *
 * Not the oracle for the ids themselves: tests/test_tokenizer_oracle.py compares
 * them with an independent Python implementation through the hidden modes
 *   test_tokenizer --encode|--decode|--bench llama2c TOKENIZER.BIN VOCAB_SIZE
 *   test_tokenizer --encode|--decode|--bench gpt2 ENCODER.JSON VOCAB.BPE
 * --encode: stdin lines are texts in hex, stdout lines the ids (no BOS/EOS);
 * --decode: stdin lines are ids, stdout lines the decoded bytes in hex;
 * --bench: stdin is a text file, encoded line by line and as one text; prints MB/s.
 */
#include <time.h>

#include "lsc.h"
#include "test.h"

#define TINY_TXT "data/fixtures/tiny.txt"
#define CORPUS_TXT "data/corpus/pretrain_valid.txt"

// ---- helpers ----

static char *read_text(const char *path, size_t max, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = malloc(max + 1);
    *n = fread(buf, 1, max, fp);
    fclose(fp);
    buf[*n] = '\0';
    return buf;
}

/* encode then decode text[0..n) with BOS; 1 when the bytes come back. */
static int round_trip(const lsc_tokenizer *tok, const char *text, size_t n)
{
    int *ids = malloc((n + 3) * sizeof *ids);
    char *back = malloc(4 * n + 16);
    size_t n_ids = 0, n_back = 0;
    lsc_error err;
    int ok = lsc_tokenizer_encode(tok, text, n, 1, 0, ids, n + 3, &n_ids, &err) == LSC_OK &&
             lsc_tokenizer_decode(tok, ids, n_ids, back, 4 * n + 16, &n_back, &err) == LSC_OK &&
             n_back == n && memcmp(back, text, n) == 0;
    free(ids);
    free(back);
    return ok;
}

/* Round trip of every line (with its newline) of path's first max bytes. */
static void round_trip_file(const lsc_tokenizer *tok, const char *name, const char *path, size_t max)
{
    size_t n;
    char *text = read_text(path, max, &n);
    if (!text) {
        test_skip(name, "%s not found", path);
        return;
    }
    int lines = 0, bad = 0;
    for (size_t i = 0; i < n;) {
        const char *nl = memchr(text + i, '\n', n - i);
        size_t len = nl ? (size_t)(nl - (text + i)) + 1 : n - i;
        bad += !round_trip(tok, text + i, len);
        lines++;
        i += len;
    }
    CHECK(bad == 0 && round_trip(tok, text, n < 20000 ? n : 20000),
          "%s: decode(encode(line)) == line for %d lines of %s (%d differ), and for its first 20 KB whole",
          name, lines, path, bad);
    free(text);
}

static int encode_is(const lsc_tokenizer *tok, const char *text, int bos, const int *want, size_t n_want)
{
    int ids[256];
    size_t n = 0;
    lsc_error err;
    int rc = lsc_tokenizer_encode(tok, text, strlen(text), bos, 0, ids, 256, &n, &err);
    if (rc != LSC_OK || n != n_want) {
        printf("  got rc %d, %zu ids:", rc, n);
        for (size_t i = 0; i < n && i < 20; i++)
            printf(" %d", ids[i]);
        printf("\n");
        return 0;
    }
    return n == 0 || memcmp(ids, want, n * sizeof *ids) == 0;
}

// ---- the real tokenizers ----

static const char *const EDGE[] = {
    "", " ", "  ", "a", "\n", "\n\n\n", "   leading and trailing   ", "tabs\tand\r\nCRLF\n",
    "digits 1234567890 3.14159 2026-12-03", "It's they're we've I'm you'll he'd 'quoted' ''",
    "unicode: héllo wörld — naïve café ÅÄÖ 日本語 🙂👍", "\xff\xfe invalid UTF-8 \xc3 \x80",
    "punctuation!!! ??? ... ;;; (brackets) [x] {y} <z> @#$%^&*",
};

static void test_llama2c(const char *fx)
{
    char path[4200];
    lsc_tokenizer tok;
    lsc_error err;
    snprintf(path, sizeof path, "%s/tokenizers/llama2c-32000/tokenizer.bin", fx);
    int rc = lsc_tokenizer_load_llama2c(&tok, path, 32000, &err);
    if (!CHECK(rc == LSC_OK && tok.vocab_size == 32000, "llama2.c 32000 tokenizer loads (%s)",
               rc == LSC_OK ? "ok" : err.msg))
        return;
    CHECK(encode_is(&tok, "Hello world", 1, (const int[]){1, 15043, 3186}, 3),
          "llama2.c 32000: \"Hello world\" with BOS = [1, 15043, 3186] (run.c)");
    CHECK(encode_is(&tok, "", 1, (const int[]){1}, 1) && encode_is(&tok, "", 0, NULL, 0),
          "llama2.c 32000: the empty text has no dummy prefix (BOS only)");
    int all = 1;
    for (size_t i = 0; i < sizeof EDGE / sizeof *EDGE; i++)
        all &= round_trip(&tok, EDGE[i], strlen(EDGE[i]));
    CHECK(all, "llama2.c 32000: round trip of %zu edge cases (whitespace, digits, unicode, invalid UTF-8)",
          sizeof EDGE / sizeof *EDGE);
    round_trip_file(&tok, "llama2.c 32000", TINY_TXT, 1 << 20);
    round_trip_file(&tok, "llama2.c 32000", CORPUS_TXT, 200000);
    lsc_tokenizer_free(&tok);

    snprintf(path, sizeof path, "%s/llama2c/stories260K/tok512.bin", fx);
    rc = lsc_tokenizer_load_llama2c(&tok, path, 0, &err);
    if (!CHECK(rc == LSC_OK && tok.vocab_size == 512, "tok512.bin loads with vocab_size 0 (read to EOF): %d tokens",
               rc == LSC_OK ? tok.vocab_size : -1))
        return;
    CHECK(round_trip(&tok, "Once upon a time", 16), "tok512: \"Once upon a time\" round trip");
    all = 1;
    for (size_t i = 0; i < sizeof EDGE / sizeof *EDGE; i++)
        all &= round_trip(&tok, EDGE[i], strlen(EDGE[i]));
    CHECK(all, "tok512: round trip of the edge cases (mostly byte fallback)");
    round_trip_file(&tok, "tok512", TINY_TXT, 1 << 20);
    size_t len;
    const char *p = lsc_tokenizer_decode_piece(&tok, 1, 3 + 'A', &len);
    CHECK(len == 1 && p[0] == 'A', "tok512: decode of byte token <0x41> is the raw byte 'A'");
    lsc_tokenizer_free(&tok);
}

static void test_gpt2(const char *fx)
{
    char enc[4200], bpe[4200];
    lsc_tokenizer tok;
    lsc_error err;
    snprintf(enc, sizeof enc, "%s/tokenizers/gpt2-bpe/encoder.json", fx);
    snprintf(bpe, sizeof bpe, "%s/tokenizers/gpt2-bpe/vocab.bpe", fx);
    int rc = lsc_tokenizer_load_gpt2(&tok, enc, bpe, &err);
    if (!CHECK(rc == LSC_OK && tok.vocab_size == 50257 && tok.n_merges == 50000 && tok.eos_id == 50256,
               "GPT-2 BPE loads: 50257 tokens, 50000 merges, <|endoftext|> = 50256 (%s; %d tokens, %d merges)",
               rc == LSC_OK ? "ok" : err.msg, tok.vocab_size, tok.n_merges))
        return;
    CHECK(encode_is(&tok, "Hello world", 0, (const int[]){15496, 995}, 2),
          "GPT-2: \"Hello world\" = [15496, 995]");
    CHECK(encode_is(&tok, "", 0, NULL, 0), "GPT-2: the empty text has no ids");
    int all = 1;
    for (size_t i = 0; i < sizeof EDGE / sizeof *EDGE; i++)
        all &= round_trip(&tok, EDGE[i], strlen(EDGE[i]));
    CHECK(all, "GPT-2: round trip of %zu edge cases", sizeof EDGE / sizeof *EDGE);
    round_trip_file(&tok, "GPT-2", TINY_TXT, 1 << 20);
    round_trip_file(&tok, "GPT-2", CORPUS_TXT, 200000);

    int ids[4];
    size_t n = 0;
    rc = lsc_tokenizer_encode(&tok, "Hello world, again", 18, 1, 1, ids, 3, &n, &err);
    CHECK(rc == LSC_ESHAPE && n == 6, "encode into a too-small buffer: LSC_ESHAPE with the count needed (%zu)", n);
    char out[8];
    rc = lsc_tokenizer_decode(&tok, (const int[]){15496, 995}, 2, out, 4, &n, &err);
    CHECK(rc == LSC_ESHAPE && n == 11, "decode into a too-small buffer: LSC_ESHAPE with the size needed");
    rc = lsc_tokenizer_decode(&tok, (const int[]){50257}, 1, out, 8, &n, &err);
    CHECK(rc == LSC_EARG && strstr(err.msg, "50257"), "decode of an id outside the vocabulary: LSC_EARG (%s)", err.msg);
    lsc_tokenizer_free(&tok);
}

// ---- bad files ----

static int write_file(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    fwrite(data, 1, n, fp);
    return fclose(fp);
}

static void expect_bad_llama(const char *name, const void *data, size_t n, int vocab, const char *want)
{
    const char *path = test_tmp("bad_tokenizer.bin");
    write_file(path, data, n);
    lsc_tokenizer tok;
    lsc_error err = {0};
    int rc = lsc_tokenizer_load_llama2c(&tok, path, vocab, &err);
    CHECK(rc == LSC_EFORMAT && strstr(err.msg, path) && strstr(err.msg, want),
          "bad tokenizer.bin, %s: LSC_EFORMAT naming the file and \"%s\" (%s)", name, want, err.msg);
    lsc_tokenizer_free(&tok);
}

static void expect_bad_gpt2(const char *name, const char *json, const char *merges, const char *want)
{
    const char *enc = test_tmp("encoder.json"), *bpe = test_tmp("vocab.bpe");
    write_file(enc, json, strlen(json));
    write_file(bpe, merges, strlen(merges));
    lsc_tokenizer tok;
    lsc_error err = {0};
    int rc = lsc_tokenizer_load_gpt2(&tok, enc, bpe, &err);
    CHECK(rc == LSC_EFORMAT && (strstr(err.msg, enc) || strstr(err.msg, bpe)) && strstr(err.msg, want),
          "bad GPT-2 files, %s: LSC_EFORMAT naming the file and \"%s\" (%s)", name, want, err.msg);
    lsc_tokenizer_free(&tok);
}

/* A valid byte-level encoder.json with all 256 bytes plus extra entries. */
static char *byte_encoder(const char *extra)
{
    char *s = malloc(8192);
    size_t k = (size_t)sprintf(s, "{");
    for (int b = 0, cp = 256; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        int c = printable ? b : cp++;
        k += (size_t)sprintf(s + k, "\"\\u%04x\": %d, ", c, b);
    }
    sprintf(s + k, "%s}", extra);
    return s;
}

static void test_bad_files(void)
{
    if (test_tmpdir_make("tokenizer") != 0)
        return;
    /* a 4-token file: max_len 3, then "<unk>"-like pieces of lengths 1..3 */
    unsigned char good[64];
    size_t n = 0;
    int32_t max_len = 3;
    memcpy(good, &max_len, 4);
    n = 4;
    for (int32_t t = 0; t < 4; t++) {
        float score = (float)-t;
        int32_t len = t % 3 + 1;
        memcpy(good + n, &score, 4);
        memcpy(good + n + 4, &len, 4);
        memcpy(good + n + 8, "abc", (size_t)len);
        n += 8 + (size_t)len;
    }
    lsc_tokenizer tok;
    lsc_error err;
    write_file(test_tmp("ok.bin"), good, n);
    CHECK(lsc_tokenizer_load_llama2c(&tok, test_tmp("ok.bin"), 4, &err) == LSC_OK && tok.vocab_size == 4,
          "a hand-made 4-token tokenizer.bin loads");
    int few[8];
    size_t n_few = 0;   /* (fuzz/fuzz_tok_llama2c: the byte fallback 3 + byte read past the 4 pieces) */
    int frc = lsc_tokenizer_encode(&tok, "z", 1, 1, 0, few, 8, &n_few, &err);
    CHECK(frc == LSC_EFORMAT && strstr(err.msg, "no byte token"),
          "encoding a byte the 4-token vocabulary lacks: LSC_EFORMAT, no byte token (%s)", err.msg);
    lsc_tokenizer_free(&tok);
    expect_bad_llama("truncated inside a token", good, n - 1, 4, "truncated inside token 3");
    expect_bad_llama("truncated between tokens", good, n - 9, 4, "truncated at token 3");
    expect_bad_llama("shorter than its header", good, 2, 4, "truncated");
    expect_bad_llama("vocab_size too small", good, n, 3, "bytes left after 3 tokens");
    unsigned char bad_len[64];
    memcpy(bad_len, good, n);
    int32_t huge = 1000;
    memcpy(bad_len + 4 + 4, &huge, 4);
    expect_bad_llama("a token length above max_token_length", bad_len, n, 4, "token 0: bad length 1000");
    int32_t zero = 0;
    memcpy(bad_len, &zero, 4);
    expect_bad_llama("max_token_length 0", bad_len, n, 4, "bad max_token_length 0");
    int rc = lsc_tokenizer_load_llama2c(&tok, test_tmp("no-such.bin"), 4, &err);
    CHECK(rc == LSC_EIO && strstr(err.msg, "no-such.bin"), "a missing tokenizer.bin: LSC_EIO naming it (%s)", err.msg);

    char *enc = byte_encoder("\"\\u0120t\": 256");
    expect_bad_gpt2("truncated JSON", "{\"a\": 0, \"b\"", "", "bad JSON");
    expect_bad_gpt2("a JSON array", "[1, 2]", "", "bad JSON");
    expect_bad_gpt2("a character outside the byte alphabet", "{\"\\u4e16\": 0}", "", "U+4E16");
    expect_bad_gpt2("a repeated id", "{\"a\": 0, \"b\": 0}", "", "repeated");
    expect_bad_gpt2("an id outside 0..V-1", "{\"a\": 0, \"b\": 7}", "", "invalid");
    expect_bad_gpt2("a byte without a token", "{\"a\": 0}", "", "byte 0x00 has no token");
    expect_bad_gpt2("a merge line without a space", enc, "#version: 0.2\nabc\n", "line 2: not a merge");
    expect_bad_gpt2("a merge of unknown tokens", enc, "#version: 0.2\n\xc4\xa0 zz\n", "line 2: \"zz\" is not");
    expect_bad_gpt2("a merge result not in the vocabulary", enc, "\xc4\xa0 x\n", "line 1: the merge result");
    const char *e = test_tmp("encoder.json"), *b = test_tmp("vocab.bpe");
    write_file(e, enc, strlen(enc));
    const char *merges = "#version: 0.2\n\xc4\xa0 t\n";
    write_file(b, merges, strlen(merges));
    rc = lsc_tokenizer_load_gpt2(&tok, e, b, &err);
    int ids[8];
    size_t n_ids = 0;
    CHECK(rc == LSC_OK && tok.n_merges == 1 && tok.eos_id == -1 &&
              encode_is(&tok, "a t", 0, (const int[]){'a', 256}, 2) &&
              lsc_tokenizer_encode(&tok, "a", 1, 1, 0, ids, 8, &n_ids, &err) == LSC_EARG,
          "a hand-made 257-token GPT-2 vocabulary: \" t\" merges, BOS is refused (no <|endoftext|>)");
    lsc_tokenizer_free(&tok);
    free(enc);
    test_tmpdir_remove();
}

// ---- the hidden modes for test_tokenizer_oracle.py ----

static int load_kind(lsc_tokenizer *tok, char **argv, lsc_error *err)
{
    if (strcmp(argv[0], "llama2c") == 0)
        return lsc_tokenizer_load_llama2c(tok, argv[1], atoi(argv[2]), err);
    if (strcmp(argv[0], "gpt2") == 0)
        return lsc_tokenizer_load_gpt2(tok, argv[1], argv[2], err);
    return lsc_error_set(err, LSC_EARG, __FILE__, __LINE__, "unknown kind %s", argv[0]);
}

static void encode_line(const lsc_tokenizer *tok, const char *hex, size_t n)
{
    char *text = malloc(n / 2 + 1);
    int *ids = malloc((n / 2 + 3) * sizeof *ids);
    unsigned v;
    for (size_t i = 0; i < n / 2; i++) {
        sscanf(hex + 2 * i, "%2x", &v);
        text[i] = (char)v;
    }
    size_t n_ids = 0;
    lsc_error err;
    if (lsc_tokenizer_encode(tok, text, n / 2, 0, 0, ids, n / 2 + 3, &n_ids, &err) != LSC_OK)
        printf("error %s", err.msg);
    for (size_t i = 0; i < n_ids; i++)
        printf(i ? " %d" : "%d", ids[i]);
    printf("\n");
    free(text);
    free(ids);
}

static void decode_line(const lsc_tokenizer *tok, char *line)
{
    size_t n = 0, cap = strlen(line) + 1, n_out = 0;
    int *ids = malloc(cap * sizeof *ids);
    for (char *p = strtok(line, " \n"); p; p = strtok(NULL, " \n"))
        ids[n++] = atoi(p);
    char *out = malloc(64 * cap);
    lsc_error err;
    if (lsc_tokenizer_decode(tok, ids, n, out, 64 * cap, &n_out, &err) != LSC_OK)
        printf("error %s", err.msg);
    for (size_t i = 0; i < n_out; i++)
        printf("%02x", (unsigned char)out[i]);
    printf("\n");
    free(ids);
    free(out);
}

static int bench(const lsc_tokenizer *tok)
{
    size_t cap = 1 << 20, n = 0, n_ids = 0, total = 0, k;
    char *text = malloc(cap);
    while ((k = fread(text + n, 1, cap - n, stdin)) > 0)
        if ((n += k) == cap)
            text = realloc(text, cap *= 2);
    int *ids = malloc((n + 3) * sizeof *ids);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < n;) {
        const char *nl = memchr(text + i, '\n', n - i);
        size_t len = nl ? (size_t)(nl - (text + i)) + 1 : n - i;
        lsc_tokenizer_encode(tok, text + i, len, 0, 0, ids, n + 3, &n_ids, NULL);
        total += n_ids;
        i += len;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("line by line: %zu bytes -> %zu tokens in %.3f s: %.2f MB/s\n", n, total, s, (double)n / s / 1e6);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    lsc_tokenizer_encode(tok, text, n, 0, 0, ids, n + 3, &n_ids, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("as one text:  %zu bytes -> %zu tokens in %.3f s: %.2f MB/s\n", n, n_ids, s, (double)n / s / 1e6);
    free(text);
    free(ids);
    return 0;
}

static int hidden_mode(int argc, char **argv)
{
    lsc_tokenizer tok;
    lsc_error err;
    if (argc < 5 || load_kind(&tok, argv + 2, &err) != LSC_OK) {
        fprintf(stderr, "test_tokenizer %s: %s\n", argv[1], argc < 5 ? "needs KIND A B" : err.msg);
        return 1;
    }
    if (strcmp(argv[1], "--bench") == 0) {
        bench(&tok);
    } else {
        char *line = NULL;
        size_t lcap = 0;
        ssize_t len;
        while ((len = getline(&line, &lcap, stdin)) >= 0) {
            if (len > 0 && line[len - 1] == '\n')
                line[--len] = '\0';
            if (strcmp(argv[1], "--encode") == 0)
                encode_line(&tok, line, (size_t)len);
            else
                decode_line(&tok, line);
        }
        free(line);
    }
    lsc_tokenizer_free(&tok);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strncmp(argv[1], "--", 2) == 0)
        return hidden_mode(argc, argv);
    test_bad_files();
    const char *fx = test_fixtures_dir("tokenizers on the real llama2.c and GPT-2 vocabularies");
    if (fx) {
        test_llama2c(fx);
        test_gpt2(fx);
    }
    return test_summary();
}
