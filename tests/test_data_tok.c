/*
 * test_data_tok.c — lib/data_tok.c: token corpora (with no tokenizer they
 * give lsc_corpus_batch's and lsc_corpus_window's rows bit for bit; with
 * the llama2.c and GPT-2 tokenizers of the shared fixtures they decode back
 * to data/fixtures/tiny.txt, and chunked encoding gives one whole encode's
 * ids), Alpaca records (data/fixtures/alpaca_tiny.json and .jsonl: both
 * template variants byte for byte, identical datasets from both forms, the
 * packed batch against an independent packing, every error message), and
 * lsc_task_write_alpaca against data/supersense_alpaca.py byte for byte.
 * Run from the project root.
 *
 *   test_data_tok --bench TEXT TOKENIZER.BIN   times lsc_tokens_from_corpus
 */
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lsc_internal.h"
#include "test.h"

static uint64_t seeded(uint64_t seed)
{
    uint64_t r;
    lsc_rng_seed(&r, seed);
    return r;
}

#define TINY_TXT     "data/fixtures/tiny.txt"
#define TINY_TSV     "data/fixtures/supersense_tiny.tsv"
#define ALPACA_JSON  "data/fixtures/alpaca_tiny.json"
#define ALPACA_JSONL "data/fixtures/alpaca_tiny.jsonl"

/* The two templates of lora-facts.md ("Alpaca instruction template"),
 * filled in by hand for records 1 and 2 of the fixture. */
static const char PROMPT_FRANCE[] =
    "Below is an instruction that describes a task, paired with an input that provides further "
    "context. Write a response that appropriately completes the request.\n\n### Instruction:\n"
    "Give the capital of the country.\n\n### Input:\nFrance\n\n### Response:";
static const char PROMPT_HELLO[] =
    "Below is an instruction that describes a task. Write a response that appropriately "
    "completes the request.\n\n### Instruction:\nSay hello.\n\n### Response:";

static const char *write_tmp(const char *name, const char *text)
{
    lsc_error err;
    const char *path = test_tmp(name);
    return lsc_atomic_write(path, text, strlen(text), &err) == LSC_OK ? path : NULL;
}

static char *slurp(const char *path, size_t *n)
{
    char *buf = NULL;
    lsc_error err;
    if (lsc_read_file_(path, &buf, n, &err) != LSC_OK)
        return NULL;
    return buf;
}

// ---- token corpora ----

/* With tok == NULL: the corpus's own batches and windows, bit for bit. */
static void test_tokens_bytes(void)
{
    lsc_error err;
    lsc_corpus c;
    lsc_tokens tk;
    if (!CHECK(lsc_corpus_load(&c, TINY_TXT, &err) == LSC_OK, "load %s", TINY_TXT))
        return;
    int rc = lsc_tokens_from_corpus(&tk, &c, NULL, &err);
    int same = rc == LSC_OK && tk.n == c.n && tk.V == 256;
    for (size_t i = 0; same && i < c.n; i++)
        same = tk.ids[i] == c.bytes[i];
    CHECK(same, "tokens without a tokenizer: the %zu bytes, V = 256", c.n);
    const int Ts[] = {1, 64, 257};
    int batches_ok = 1, windows_ok = 1;
    for (int s = 0; s < 3; s++) {
        int B = 5, T = Ts[s];
        size_t N = (size_t)B * (size_t)T;
        int *in1 = malloc(N * sizeof(int)), *tg1 = malloc(N * sizeof(int));
        int *in2 = malloc(N * sizeof(int)), *tg2 = malloc(N * sizeof(int));
        float *m1 = malloc(N * sizeof(float)), *m2 = malloc(N * sizeof(float));
        for (uint64_t seed = 1; seed <= 4; seed++) {
            uint64_t r1 = seeded(seed), r2 = seeded(seed);
            batches_ok &= lsc_corpus_batch(&c, B, T, in1, tg1, m1, &r1, &err) == LSC_OK &&
                          lsc_tokens_batch(&tk, B, T, in2, tg2, m2, &r2, &err) == LSC_OK &&
                          r1 == r2 && !memcmp(in1, in2, N * sizeof(int)) &&
                          !memcmp(tg1, tg2, N * sizeof(int)) && !memcmp(m1, m2, N * sizeof(float));
        }
        size_t nw = lsc_corpus_n_windows(&c, T);
        windows_ok &= nw == lsc_tokens_n_windows(&tk, T);
        for (size_t w = 0; w < nw; w++) {
            lsc_corpus_window(&c, w, T, in1, tg1, m1);
            lsc_tokens_window(&tk, w, T, in2, tg2, m2);
            windows_ok &= !memcmp(in1, in2, (size_t)T * sizeof(int)) &&
                          !memcmp(tg1, tg2, (size_t)T * sizeof(int)) &&
                          !memcmp(m1, m2, (size_t)T * sizeof(float));
        }
        free(in1), free(tg1), free(in2), free(tg2), free(m1), free(m2);
    }
    CHECK(batches_ok, "tokens batch == corpus batch bit for bit (T = 1, 64, 257; 4 seeds; rng state)");
    CHECK(windows_ok, "tokens windows == corpus windows bit for bit (count and every row)");
    int in[4], tg[4];
    float m[4];
    uint64_t r = 1;
    lsc_tokens small = {.path = "small", .ids = (int[]){1, 2, 3}, .n = 3, .V = 4};
    rc = lsc_tokens_batch(&small, 1, 3, in, tg, m, &r, &err);
    CHECK(rc == LSC_EARG && strcmp(err.msg, "small: corpus has 3 tokens, fewer than one window of "
                                            "T+1 = 4") == 0, "3 tokens, T = 3: %s", err.msg);
    rc = lsc_tokens_batch(NULL, 1, 3, in, tg, m, &r, &err);
    CHECK(rc == LSC_EARG && strcmp(err.msg, "tokens batch: NULL argument") == 0,
          "NULL ctx: %s", err.msg);
    lsc_tokens_free(&tk);
    lsc_tokens_free(&tk);
    lsc_corpus_free(&c);
}

/* Every window of ids covers tokens 1..n-1 once; a batch row is a window. */
static int tokens_rows_ok(const lsc_tokens *tk)
{
    enum { B = 3, T = 40 };
    int in[B * T], tg[B * T], ok = 1;
    float m[B * T];
    uint64_t r = seeded(7);
    lsc_error err;
    if (lsc_tokens_batch((void *)tk, B, T, in, tg, m, &r, &err) != LSC_OK)
        return 0;
    for (int b = 0; b < B; b++) {
        int found = 0;
        for (size_t o = 0; o + T + 1 <= tk->n && !found; o++)
            found = !memcmp(tk->ids + o, in + b * T, T * sizeof(int)) && tk->ids[o + T] == tg[b * T + T - 1];
        ok &= found;
    }
    size_t k = 1;
    for (size_t w = 0; w < lsc_tokens_n_windows(tk, T); w++) {
        lsc_tokens_window(tk, w, T, in, tg, m);
        for (int t = 0; t < T; t++)
            if (m[t] == 1.0f)
                ok &= k < tk->n && tg[t] == tk->ids[k++];
    }
    return ok && k == tk->n;
}

static void test_tokens_tok(const lsc_tokenizer *tok, const char *name)
{
    lsc_error err;
    lsc_corpus c;
    lsc_tokens tk, small, whole;
    if (lsc_corpus_load(&c, TINY_TXT, &err) != LSC_OK)
        return;
    int rc = lsc_tokens_from_corpus(&tk, &c, tok, &err);
    CHECK(rc == LSC_OK && tk.V == tok->vocab_size && tk.n > 2 && tk.ids[0] == tok->bos_id,
          "%s: tiny.txt -> %zu tokens, BOS %d first, V = %d", name, tk.n, tok->bos_id, tk.V);
    char *text = malloc(c.n + 1);
    size_t n_out = 0;
    rc = lsc_tokenizer_decode(tok, tk.ids, tk.n, text, c.n + 1, &n_out, &err);
    CHECK(rc == LSC_OK && n_out == c.n && !memcmp(text, c.bytes, c.n),
          "%s: the ids decode to tiny.txt exactly (%zu bytes)", name, n_out);
    /* 300-byte chunks (about 150 of them) against one encode of the whole text */
    int rc1 = lsc_tokens_from_corpus_(&small, &c, tok, 300, &err);
    int rc2 = lsc_tokens_from_corpus_(&whole, &c, tok, SIZE_MAX, &err);
    rc = rc1 == LSC_OK && rc2 == LSC_OK
             ? lsc_tokenizer_decode(tok, small.ids, small.n, text, c.n + 1, &n_out, &err) : -1;
    CHECK(rc == LSC_OK && n_out == c.n && !memcmp(text, c.bytes, c.n),
          "%s: 300-byte chunks decode to tiny.txt exactly", name);
    if (tok->kind == LSC_TOKENIZER_LLAMA2C)
        CHECK(rc == LSC_OK && small.n == whole.n && tk.n == whole.n &&
              !memcmp(small.ids, whole.ids, whole.n * sizeof(int)) &&
              !memcmp(tk.ids, whole.ids, whole.n * sizeof(int)),
              "%s: chunked ids (300 B and 64 KiB chunks) == one whole encode's ids (%zu)", name,
              whole.n);
    CHECK(tokens_rows_ok(&tk), "%s: batch rows are windows of the ids; eval windows cover 1..n-1",
          name);
    free(text);
    lsc_tokens_free(&tk);
    lsc_tokens_free(&small);
    lsc_tokens_free(&whole);
    lsc_corpus_free(&c);
}

// ---- Alpaca records ----

static int instruct_equal(const lsc_instruct *a, const lsc_instruct *b)
{
    if (a->n != b->n || a->max_len != b->max_len || a->V != b->V || a->end_id != b->end_id)
        return 0;
    for (int i = 0; i < a->n; i++)
        if (a->n_ids[i] != b->n_ids[i] || a->n_prompt[i] != b->n_prompt[i] ||
            memcmp(a->ids[i], b->ids[i], (size_t)a->n_ids[i] * sizeof(int)) ||
            strcmp(a->prompt_text[i], b->prompt_text[i]) ||
            strcmp(a->output_text[i], b->output_text[i]))
            return 0;
    return 1;
}

/* The packing of lsc_instruct_batch written out independently: the row's
 * T+1 tokens and their loss weights, then shifted by one. */
static int batch_expected(const lsc_instruct *d, int B, int T, uint64_t *rng, int *in, int *tg,
                          float *m)
{
    int *row = malloc(((size_t)T + 1) * sizeof(int));
    float *w = malloc(((size_t)T + 1) * sizeof(float));
    int packed = 0;
    for (int b = 0; b < B; b++) {
        int j = 0;
        for (;;) {
            int i = (int)(lsc_rng_u32(rng) % (uint32_t)d->n);
            if (j + d->n_ids[i] > T + 1)
                break;
            for (int k = 0; k < d->n_ids[i]; k++, j++) {
                row[j] = d->ids[i][k];
                w[j] = k < d->n_prompt[i] ? 0.0f : 1.0f;
            }
            packed++;
        }
        for (; j <= T; j++) {
            row[j] = d->end_id;
            w[j] = 0.0f;
        }
        for (int t = 0; t < T; t++) {
            in[b * T + t] = row[t];
            tg[b * T + t] = row[t + 1];
            m[b * T + t] = w[t + 1];
        }
    }
    free(row);
    free(w);
    return packed;
}

static void test_alpaca_batch(const lsc_instruct *d)
{
    enum { B = 6 };
    int T = 3 * d->max_len;
    size_t N = (size_t)B * (size_t)T;
    int *in = malloc(N * sizeof(int)), *tg = malloc(N * sizeof(int));
    int *ein = malloc(N * sizeof(int)), *etg = malloc(N * sizeof(int));
    float *m = malloc(N * sizeof(float)), *em = malloc(N * sizeof(float));
    lsc_error err;
    uint64_t r1 = seeded(11), r2 = seeded(11);
    int rc = lsc_instruct_batch((void *)d, B, T, in, tg, m, &r1, &err);
    int packed = batch_expected(d, B, T, &r2, ein, etg, em);
    CHECK(rc == LSC_OK && r1 == r2 && !memcmp(in, ein, N * sizeof(int)) &&
          !memcmp(tg, etg, N * sizeof(int)) && !memcmp(m, em, N * sizeof(float)),
          "batch B=%d T=%d == an independent packing (%d records; mask 1 on response targets)", B,
          T, packed);
    double ones = 0;
    for (size_t i = 0; i < N; i++)
        ones += m[i];
    CHECK(packed > B && ones > 0, "rows hold several records (%d in %d rows), %.0f masked targets",
          packed, B, ones);
    uint64_t r3 = seeded(11), r4 = seeded(12);
    rc = lsc_instruct_batch((void *)d, B, T, ein, etg, em, &r3, &err);
    CHECK(rc == LSC_OK && !memcmp(in, ein, N * sizeof(int)) && !memcmp(m, em, N * sizeof(float)),
          "same seed, same batch");
    rc = lsc_instruct_batch((void *)d, B, T, ein, etg, em, &r4, &err);
    CHECK(rc == LSC_OK && memcmp(in, ein, N * sizeof(int)), "another seed, another batch");
    rc = lsc_instruct_batch((void *)d, 1, d->max_len - 1, in, tg, m, &r3, &err);
    CHECK(rc == LSC_OK, "T + 1 == max_len fits");
    rc = lsc_instruct_batch((void *)d, 1, d->max_len - 2, in, tg, m, &r3, &err);
    char want[256];
    snprintf(want, sizeof want, "%s: context T=%d too short for the longest record (%d tokens)",
             d->path, d->max_len - 2, d->max_len);
    CHECK(rc == LSC_EARG && !strcmp(err.msg, want), "T + 1 < max_len: %s", err.msg);
    free(in), free(tg), free(ein), free(etg), free(m), free(em);
}

static void test_alpaca_bytes(void)
{
    lsc_error err;
    lsc_instruct a, b;
    int rc = lsc_instruct_load(&a, ALPACA_JSON, NULL, 0, &err);
    if (!CHECK(rc == LSC_OK && a.n == 5, "load %s (5 records): %s", ALPACA_JSON,
               rc ? err.msg : "ok"))
        return;
    char no_input[512];
    snprintf(no_input, sizeof no_input, LSC_ALPACA_PROMPT, "Name a colour.");
    CHECK(!strcmp(a.prompt_text[0], PROMPT_FRANCE), "template with input, byte for byte");
    CHECK(!strcmp(a.prompt_text[1], PROMPT_HELLO), "template without input, byte for byte");
    CHECK(!strcmp(a.prompt_text[2], no_input) && strstr(a.prompt_text[4], "### Input") == NULL,
          "input \"\" and null: the template without input");
    CHECK(strstr(a.prompt_text[3], "\n\n### Input:\nna\xc3\xafve\ttab\n\n### Response:") &&
              !strcmp(a.output_text[3], "Done.\nTwo lines."),
          "JSON escapes decoded (\\u00ef, \\t, \\n)");
    int bytes_ok = a.V == 256 && a.end_id == '\n';
    int max_len = 0;
    for (int i = 0; i < a.n; i++) {
        size_t np = strlen(a.prompt_text[i]), no = strlen(a.output_text[i]);
        bytes_ok &= a.n_prompt[i] == (int)np && a.n_ids[i] == (int)(np + no + 1) &&
                    a.ids[i][np + no] == '\n';
        for (size_t k = 0; k < np + no; k++)
            bytes_ok &= a.ids[i][k] == (unsigned char)(k < np ? a.prompt_text[i][k]
                                                               : a.output_text[i][k - np]);
        max_len = a.n_ids[i] > max_len ? a.n_ids[i] : max_len;
    }
    CHECK(bytes_ok && a.max_len == max_len,
          "bytes: ids = prompt + output + LF, n_prompt = prompt bytes, max_len %d", max_len);
    rc = lsc_instruct_load(&b, ALPACA_JSONL, NULL, 0, &err);
    CHECK(rc == LSC_OK && instruct_equal(&a, &b),
          "JSON lines (key order, blank lines, CRLF) == the JSON array: %s", rc ? err.msg : "same");
    lsc_instruct_free(&b);
    test_alpaca_batch(&a);
    lsc_instruct_free(&a);
    lsc_instruct_free(&a);
}

/* An output starting with "//": GPT-2 (and Llama's 32000 vocabulary) have
 * a token "://", so the prompt's own ids are not a prefix of the record's;
 * n_prompt is then the common prefix and the straddling token counts as
 * response. */
static void test_alpaca_straddle(const lsc_tokenizer *tok, const char *name)
{
    lsc_error err;
    lsc_instruct d;
    const char *path = write_tmp("straddle.jsonl", "{\"instruction\":\"a\",\"output\":\"// yes\"}\n");
    int rc = lsc_instruct_load(&d, path, tok, 0, &err);
    int pid[256];
    size_t mp = 0, common = 0;
    if (rc == LSC_OK)
        rc = lsc_tokenizer_encode(tok, d.prompt_text[0], strlen(d.prompt_text[0]), 1, 0, pid, 256,
                                  &mp, &err);
    while (rc == LSC_OK && common < mp && (int)common < d.n_ids[0] && pid[common] == d.ids[0][common])
        common++;
    CHECK(rc == LSC_OK && d.n_prompt[0] == (int)common,
          "%s: output \"// yes\": n_prompt %d = common prefix with encode(prompt) (%zu of %zu ids)",
          name, rc == LSC_OK ? d.n_prompt[0] : -1, common, mp);
    if (tok->kind == LSC_TOKENIZER_GPT2)
        CHECK(rc == LSC_OK && common < mp, "%s: there the ':' and \"//\" share a token", name);
    lsc_instruct_free(&d);
}

static void test_alpaca_tok(const lsc_tokenizer *tok, const char *name)
{
    lsc_error err;
    lsc_instruct a, b;
    int rc = lsc_instruct_load(&a, ALPACA_JSON, tok, 0, &err);
    if (!CHECK(rc == LSC_OK && a.n == 5 && a.V == tok->vocab_size && a.end_id == tok->eos_id,
               "%s: load %s: %s", name, ALPACA_JSON, rc ? err.msg : "ok"))
        return;
    int ends = 1, text = 1, prefix = 1;
    char buf[1024];
    int ids[1024];
    for (int i = 0; i < a.n; i++) {
        const int *r = a.ids[i];
        ends &= r[0] == tok->bos_id && r[a.n_ids[i] - 1] == tok->eos_id &&
                a.n_prompt[i] >= 1 && a.n_prompt[i] < a.n_ids[i];
        size_t n_out = 0, m = 0;
        snprintf(buf + 512, 512, "%s%s", a.prompt_text[i], a.output_text[i]);
        text &= lsc_tokenizer_decode(tok, r, (size_t)a.n_ids[i], buf, 512, &n_out, &err) == LSC_OK &&
                !strcmp(buf, buf + 512);
        /* the prompt's own ids are the record's first n_prompt ids */
        prefix &= lsc_tokenizer_encode(tok, a.prompt_text[i], strlen(a.prompt_text[i]), 1, 0, ids,
                                       1024, &m, &err) == LSC_OK &&
                  m == (size_t)a.n_prompt[i] && !memcmp(ids, r, m * sizeof(int));
    }
    CHECK(ends, "%s: BOS first, EOS %d last, 1 <= n_prompt < n_ids", name, tok->eos_id);
    CHECK(text, "%s: decode(ids) == prompt + output (no space added before the output)", name);
    CHECK(prefix, "%s: encode(BOS + prompt) == the first n_prompt ids of every record", name);
    rc = lsc_instruct_load(&b, ALPACA_JSONL, tok, 0, &err);
    CHECK(rc == LSC_OK && instruct_equal(&a, &b), "%s: JSON lines == JSON array", name);
    test_alpaca_straddle(tok, name);
    test_alpaca_batch(&a);
    lsc_instruct_free(&a);
    lsc_instruct_free(&b);
}

/* One malformed file: its code and its exact message. */
static void check_bad(const char *file, const char *text, int code, const char *want_fmt)
{
    lsc_error err = {0};
    lsc_instruct d;
    const char *path = write_tmp(file, text);
    char want[512];
    snprintf(want, sizeof want, want_fmt, path);
    int rc = lsc_instruct_load(&d, path, NULL, 300, &err);
    CHECK(rc == code && !strcmp(err.msg, want), "%s -> \"%s\"", file, err.msg);
    lsc_instruct_free(&d);
}

static void test_alpaca_errors(void)
{
    const char *ok = "{\"instruction\":\"a\",\"output\":\"b\"}";
    char t[512];
    snprintf(t, sizeof t, "[%s,\n%s, 3]", ok, ok);
    check_bad("notobj.json", t, LSC_EFORMAT, "%s: record 3 is not an object");
    snprintf(t, sizeof t, "[%s, %s, {\"instruction\":\"a\"}]", ok, ok);
    check_bad("nooutput.json", t, LSC_EFORMAT, "%s: record 3: field \"output\" is missing");
    check_bad("outnum.json", "[{\"instruction\":\"a\",\"output\":5}]", LSC_EFORMAT,
              "%s: record 1: field \"output\" is not a string");
    snprintf(t, sizeof t, "%s\n\n{\"output\":\"b\"}\n", ok);
    check_bad("noins.jsonl", t, LSC_EFORMAT, "%s: record 2: field \"instruction\" is missing");
    check_bad("inarr.jsonl", "{\"instruction\":\"a\",\"input\":[],\"output\":\"b\"}", LSC_EFORMAT,
              "%s: record 1: field \"input\" is not a string");
    check_bad("badarr.json", "[\n  {\"instruction\": \"a\",, \"output\": \"b\"}\n]", LSC_EFORMAT,
              "%s: bad JSON at line 2, column 24");
    check_bad("trailing.json", "[] x", LSC_EFORMAT, "%s: bad JSON at line 1, column 4");
    snprintf(t, sizeof t, "%s\n%s\n{\"instruction\":\"a\" \"output\":\"b\"}\n", ok, ok);
    check_bad("badline.jsonl", t, LSC_EFORMAT, "%s: bad JSON at line 3, column 20");
    snprintf(t, sizeof t, "%s %s\n", ok, ok);
    check_bad("twoonline.jsonl", t, LSC_EFORMAT, "%s: bad JSON at line 1, column 34");
    check_bad("empty.json", "", LSC_EFORMAT, "%s: empty file");
    check_bad("blank.json", " \n\r\n\t\n", LSC_EFORMAT, "%s: empty file");
    check_bad("none.json", "[ ]\n", LSC_EFORMAT, "%s: no records");
    char long_out[300];
    memset(long_out, 'x', 250);
    long_out[250] = '\0';
    snprintf(t, sizeof t, "{\"instruction\":\"a\",\"output\":\"b\"}\n"
                          "{\"instruction\":\"a\",\"output\":\"%s\"}", long_out);
    char want[128];
    /* prompt (no input, instruction "a") + 250 bytes + LF */
    snprintf(want, sizeof want, "%%s: record 2 is %zu tokens, more than max_tokens 300",
             strlen(PROMPT_HELLO) - strlen("Say hello.") + 1 + 250 + 1);
    check_bad("long.jsonl", t, LSC_EFORMAT, want);
    lsc_error err;
    lsc_instruct d;
    int rc = lsc_instruct_load(&d, test_tmp("missing.json"), NULL, 0, &err);
    CHECK(rc == LSC_EIO, "a missing file: LSC_EIO (%s)", err.msg);
    lsc_instruct_free(&d);
}

// ---- the supersense task in Alpaca form ----

static void test_write_alpaca(void)
{
    lsc_error err;
    lsc_task t, none;
    if (!CHECK(lsc_task_load(&t, TINY_TSV, NULL, &err) == LSC_OK, "load %s", TINY_TSV))
        return;
    const char *out_c = test_tmp("c.alpaca.json"), *out_py = test_tmp("py.alpaca.json");
    int rc = lsc_task_write_alpaca(&t, out_c, &err);
    CHECK(rc == LSC_OK, "lsc_task_write_alpaca %s", rc ? err.msg : "ok");
    if (access("/usr/bin/python3", X_OK) != 0) {
        test_skip("C and Python Alpaca writers agree", "no /usr/bin/python3");
    } else {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 data/supersense_alpaca.py %s %s", TINY_TSV,
                 out_py);
        size_t n1 = 0, n2 = 0;
        int st = system(cmd);
        char *a = slurp(out_c, &n1), *b = st == 0 ? slurp(out_py, &n2) : NULL;
        CHECK(a && b && n1 == n2 && !memcmp(a, b, n1),
              "lsc_task_write_alpaca == data/supersense_alpaca.py byte for byte (%zu bytes)", n1);
        const char *first = "[\n{\"instruction\":\"" LSC_SUPERSENSE_INSTRUCTION
                            "\",\"input\":\"abducens\",\"output\":\"body\"},\n";
        CHECK(a && !strncmp(a, first, strlen(first)),
              "the first record as documented");
        free(a);
        free(b);
    }
    lsc_instruct d;
    rc = lsc_instruct_load(&d, out_c, NULL, 0, &err);
    int same = rc == LSC_OK && d.n == t.n;
    for (int i = 0; same && i < t.n; i++) {
        char p[512];
        snprintf(p, sizeof p, LSC_ALPACA_PROMPT_INPUT, LSC_SUPERSENSE_INSTRUCTION, t.words[i]);
        same = !strcmp(d.output_text[i], t.label_names[t.labels[i]]) && !strcmp(d.prompt_text[i], p);
    }
    CHECK(same, "the written file loads back as %d records (word as input, label as output)", t.n);
    lsc_instruct_free(&d);
    rc = lsc_task_subset(&t, NULL, 0, &none, &err);
    size_t n = 0;
    char *e = rc == LSC_OK && lsc_task_write_alpaca(&none, out_c, &err) == LSC_OK
                  ? slurp(out_c, &n) : NULL;
    CHECK(e && n == 3 && !memcmp(e, "[]\n", 3), "no items: \"[]\\n\"");
    free(e);
    lsc_task_free(&none);
    lsc_task_free(&t);
}

// ---- main ----

static int bench(const char *text, const char *tok_path)
{
    lsc_error err;
    lsc_corpus c;
    lsc_tokenizer tok;
    lsc_tokens tk;
    if (lsc_corpus_load(&c, text, &err) || lsc_tokenizer_load_llama2c(&tok, tok_path, 0, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = lsc_tokens_from_corpus(&tk, &c, &tok, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    char *back = malloc(c.n + 1);
    size_t n_out = 0;
    int same = rc == LSC_OK &&
               lsc_tokenizer_decode(&tok, tk.ids, tk.n, back, c.n + 1, &n_out, &err) == LSC_OK &&
               n_out == c.n && !memcmp(back, c.bytes, c.n);
    printf("%s: %zu bytes -> %zu tokens (V %d) in %.2f s (%.1f MB/s); decodes back: %s\n", text,
           c.n, tk.n, tok.vocab_size, s, (double)c.n / s / 1e6, same ? "yes" : "NO");
    free(back);
    lsc_tokens_free(&tk);
    lsc_tokenizer_free(&tok);
    lsc_corpus_free(&c);
    return same ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--bench"))
        return bench(argv[2], argv[3]);
    if (test_tmpdir_make("data_tok") != 0)
        return 1;
    test_tokens_bytes();
    test_alpaca_bytes();
    test_alpaca_errors();
    test_write_alpaca();
    const char *fx = test_fixtures_dir("token corpora and Alpaca records with real tokenizers");
    if (fx) {
        char p1[4200], p2[4200], p3[4200], p4[4200];
        snprintf(p1, sizeof p1, "%s/tokenizers/llama2c-32000/tokenizer.bin", fx);
        snprintf(p2, sizeof p2, "%s/llama2c/stories260K/tok512.bin", fx);
        snprintf(p3, sizeof p3, "%s/tokenizers/gpt2-bpe/encoder.json", fx);
        snprintf(p4, sizeof p4, "%s/tokenizers/gpt2-bpe/vocab.bpe", fx);
        lsc_tokenizer tok;
        lsc_error err;
        const char *names[] = {"llama2c-32000", "tok512", "gpt2"};
        for (int k = 0; k < 3; k++) {
            int rc = k == 0 ? lsc_tokenizer_load_llama2c(&tok, p1, 32000, &err)
                   : k == 1 ? lsc_tokenizer_load_llama2c(&tok, p2, 512, &err)
                            : lsc_tokenizer_load_gpt2(&tok, p3, p4, &err);
            if (CHECK(rc == LSC_OK, "load the %s tokenizer", names[k])) {
                test_tokens_tok(&tok, names[k]);
                test_alpaca_tok(&tok, names[k]);
            }
            lsc_tokenizer_free(&tok);
        }
    }
    test_tmpdir_remove();
    return test_summary();
}
