/*
 * generate.c — `lorascope generate`: the prompt followed by sampled tokens
 * from a base model, with an adapter applied when given; the same seed
 * gives the same text. Two modes:
 *   bytes (no --tokenizer): a byte-level base (vocab <= 256); prints the
 *     prompt and N sampled bytes;
 *   tokens (--tokenizer, a llama2.c tokenizer.bin): llama2.c's `run`
 *     generate loop: the prompt encoded with BOS first, positions 0..steps-1
 *     forwarded, each next token printed as run.c prints it (decode after
 *     the previous token, safe_printf's rule), stopping at BOS.
 * --dump-logits writes the full-sequence forward's logits of the final
 * text (a test hook: tests/test_generate_llama.py compares them with the
 * numpy reference).
 *
 * Not here: decoding and sampling (lib/train.c lsc_decode), tokenising
 * (lib/tokenizer.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analysis_common.h"
#include "commands.h"
#include "training.h"

// ---- help ----

static const char *GENERATE_USAGE =
    "usage: lorascope generate --base BASE [--adapter DIR] --prompt TEXT [--tokens N]\n"
    "         [--temperature T] [--seed S] [--threads P] [--dump-logits FILE]\n"
    "       lorascope generate --base BASE --tokenizer TOKENIZER.bin [--adapter DIR]\n"
    "         [--prompt TEXT] [--steps N] [--temperature T] [--seed S] [--dump-logits FILE]\n"
    "\n"
    "BASE is a lorascope model (.safetensors), a llama2.c checkpoint (.bin) or a\n"
    "Hugging Face model folder (config.json + safetensors).\n"
    "Without --tokenizer the base reads bytes: prints TEXT followed by N sampled\n"
    "bytes (default 200). With --tokenizer (llama2.c tokenizer.bin, whose vocabulary\n"
    "must be the model's) it behaves as llama2.c's `run`: TEXT (default empty) is\n"
    "encoded with BOS first, positions 0..N-1 are forwarded (--steps, default 256;\n"
    "0 or more than the context = the context), generation stops early at BOS, and\n"
    "each token is printed as run.c prints it (a lone unprintable byte is skipped).\n"
    "--temperature 0 decodes greedily (argmax, ties to the lowest id); default 0.8\n"
    "samples with lorascope's generator, so only greedy output matches run.c. The same\n"
    "seed gives the same text.\n"
    "  --dump-logits FILE  after generating, write the logits of a full forward over\n"
    "                      the final tokens (the first n_ctx; a final BOS excluded):\n"
    "                      one line per position, its input token then the V logits\n"
    "\n"
    "examples:\n"
    "  lorascope generate --base base.safetensors --prompt 'It is a truth' --tokens 100\n"
    "  lorascope generate --base stories260K.bin --tokenizer tok512.bin --temperature 0\n";

// ---- the two modes ----

/* A generated sequence tok[0..n) (tokens mode: BOS and what was printed). */
typedef struct gen_seq {
    int *tok;
    int  n;
} gen_seq;

/* Bytes: the prompt (a newline when empty, not printed) then n samples. */
static int gen_bytes(lsc_gpt *m, const char *prompt, long n, double temp, uint64_t *rng, gen_seq *s,
                     lsc_error *err)
{
    size_t plen = strlen(prompt);
    int width = (int)(plen + (size_t)n + 1), np = 0;
    if (!(s->tok = malloc((size_t)width * sizeof *s->tok)))
        LSC_FAIL(err, LSC_ENOMEM, "out of memory");
    /* an empty prompt starts from a newline, as at a paragraph start */
    if (plen == 0)
        s->tok[np++] = '\n';
    for (size_t i = 0; i < plen; i++)
        s->tok[np++] = (unsigned char)prompt[i];
    int rc = lsc_decode(m, 1, s->tok, np + (int)n, &np, (int)n, -1, temp, rng, &s->n, err);
    if (rc != LSC_OK)
        return rc;
    for (int i = plen == 0 ? 1 : 0; i < s->n; i++)
        putchar(s->tok[i]);
    putchar('\n');
    return LSC_OK;
}

/* run.c's safe_printf: a one-byte piece that is neither printable nor
 * whitespace (C locale) is dropped; a piece stops at a NUL byte. */
static void safe_print(const char *piece, size_t len)
{
    size_t n = strnlen(piece, len);
    if (n == 0)
        return;
    unsigned char c = (unsigned char)piece[0];
    if (n == 1 && !((c >= 0x20 && c < 0x7f) || (c >= '\t' && c <= '\r')))
        return;
    fwrite(piece, 1, n, stdout);
}

/* Tokens: run.c's generate(prompt, steps) with a BOS-stopped decode. */
static int gen_tokens(lsc_gpt *m, const lsc_tokenizer *tz, const char *prompt, long steps, double temp,
                      uint64_t *rng, gen_seq *s, lsc_error *err)
{
    size_t plen = strlen(prompt), np = 0;
    if (steps == 0 || steps > m->config.n_ctx)
        steps = m->config.n_ctx;
    /* positions 0..steps-1 are fed: the sequence holds at most steps + 1 tokens */
    size_t width = (size_t)steps + 1 > plen + 3 ? (size_t)steps + 1 : plen + 3;
    if (!(s->tok = malloc(width * sizeof *s->tok)))
        LSC_FAIL(err, LSC_ENOMEM, "out of memory");
    int rc = lsc_tokenizer_encode(tz, prompt, plen, 1, 0, s->tok, width, &np, err);
    if (rc != LSC_OK)
        return rc;
    int w = (int)np > steps + 1 ? (int)np : (int)steps + 1, npi = (int)np;
    int max_new = (int)steps + 1 - npi > 0 ? (int)steps + 1 - npi : 0;
    if ((rc = lsc_decode(m, 1, s->tok, w, &npi, max_new, tz->bos_id, temp, rng, &s->n, err)) != LSC_OK)
        return rc;
    int i = 1;
    for (; i < s->n && i <= steps && s->tok[i] != tz->bos_id; i++) {
        size_t len;
        const char *piece = lsc_tokenizer_decode_piece(tz, s->tok[i - 1], s->tok[i], &len);
        safe_print(piece, len);
    }
    s->n = i;   /* what was printed, after BOS; a stopping BOS is not part of it */
    putchar('\n');
    return LSC_OK;
}

/* --dump-logits: the full forward over the first min(n, n_ctx) tokens. */
static int dump_logits(lsc_gpt *m, const gen_seq *s, const char *path, lsc_error *err)
{
    int T = s->n < m->T_alloc ? s->n : m->T_alloc, V = m->config.vocab;
    int rc = lsc_gpt_forward(m, s->tok, NULL, NULL, 1, T, NULL, err);
    if (rc != LSC_OK)
        return rc;
    lsc_atomic a;   /* mkstemp temporary, every write checked, renamed when whole */
    if ((rc = lsc_atomic_open(&a, path, err)) != LSC_OK)
        return rc;
    const float *lg = lsc_gpt_logits(m);
    for (int t = 0; t < T; t++) {
        fprintf(a.fp, "%d", s->tok[t]);
        for (int j = 0; j < V; j++)
            fprintf(a.fp, " %.9g", (double)lg[(size_t)t * V + j]);
        fputc('\n', a.fp);
    }
    return lsc_atomic_commit(&a, err);
}

// ---- entry ----

/* Loads the base, the adapter and the tokenizer, checks the vocabulary. */
static int gen_load(lsc_gpt *m, lsc_lora *lo, lsc_tokenizer *tz, const char *base, const char *ad,
                    const char *tok, lsc_error *err)
{
    int rc = lsc_gpt_load(m, base, err);
    if (rc != LSC_OK)
        return rc;
    ana_warn_ignored("generate", m, base);
    if (ad && ((rc = lsc_lora_load(lo, &m->config, ad, err)) != LSC_OK ||
               (rc = lsc_gpt_set_lora(m, lo, err)) != LSC_OK))
        return rc;
    if (tok && (rc = lsc_tokenizer_load_llama2c(tz, tok, m->config.vocab, err)) != LSC_OK)
        return rc;
    if (!tok && m->config.vocab > 256)
        LSC_FAIL(err, LSC_EARG, "%s: a vocabulary of %d tokens, not bytes: give its --tokenizer", base,
                 m->config.vocab);
    return lsc_gpt_alloc_acts(m, 1, m->config.n_ctx, err);
}

int cmd_generate(int argc, char **argv)
{
    const char *cmd = "generate";
    cli_opt opts[] = {{"base", 1, NULL}, {"adapter", 1, NULL}, {"prompt", 1, NULL}, {"tokens", 1, NULL},
                      {"temperature", 1, NULL}, {"seed", 1, NULL}, {"threads", 1, NULL},
                      {"tokenizer", 1, NULL}, {"steps", 1, NULL}, {"dump-logits", 1, NULL},
                      {"help", 0, NULL}, {NULL, 0, NULL}};
    const char *pos[1];
    int npos, help, bad = 0;
    int rc = ana_parse_args(cmd, GENERATE_USAGE, argc, argv, opts, pos, 0, &npos, &help);
    if (rc != CLI_OK || help)
        return rc;
    const char *base = cli_get(opts, "base"), *ad = cli_get(opts, "adapter"), *prompt = cli_get(opts, "prompt");
    const char *tok = cli_get(opts, "tokenizer"), *dump = cli_get(opts, "dump-logits");
    long n = cli_long(opts, "tokens", 200, &bad), seed = cli_long(opts, "seed", 1, &bad);
    long steps = cli_long(opts, "steps", 256, &bad);
    double temp = cli_double(opts, "temperature", 0.8, &bad);
    training_threads(opts, &bad);
    if (bad)
        return cli_error(cmd, CLI_USAGE, "bad option value");
    if (!base || (!prompt && !tok))
        return cli_error(cmd, CLI_USAGE, "needs --base BASE and --prompt TEXT (or --tokenizer FILE)");
    if (n < 0 || n > 1000000 || steps < 0 || steps > 1000000 || !(temp >= 0) || !isfinite(temp))
        return cli_error(cmd, CLI_USAGE, "--tokens and --steps must be in 0..1000000 and --temperature >= 0");
    if ((tok && cli_get(opts, "tokens")) || (!tok && cli_get(opts, "steps")))
        return cli_error(cmd, CLI_USAGE, "--steps goes with --tokenizer, --tokens without it");
    struct stat sb;
    if (stat(base, &sb) != 0)
        return cli_error(cmd, CLI_FAIL, "%s: no such file", base);
    if (ad && !ana_adapter_dir_ok(ad))
        return cli_error(cmd, CLI_FAIL, "%s: not an adapter directory", ad);
    lsc_error err = {0};
    lsc_gpt m;
    lsc_lora lo;
    lsc_tokenizer tz;
    gen_seq s = {NULL, 0};
    memset(&lo, 0, sizeof lo);
    memset(&tz, 0, sizeof tz);
    uint64_t rng;
    lsc_rng_seed(&rng, (uint64_t)seed);
    rc = gen_load(&m, &lo, &tz, base, ad, tok, &err);
    if (rc == LSC_OK)
        rc = tok ? gen_tokens(&m, &tz, prompt ? prompt : "", steps, temp, &rng, &s, &err)
                 : gen_bytes(&m, prompt, n, temp, &rng, &s, &err);
    if (rc == LSC_OK && dump)
        rc = dump_logits(&m, &s, dump, &err);
    free(s.tok);
    lsc_tokenizer_free(&tz);
    lsc_lora_free(&lo);
    lsc_gpt_free(&m);
    return rc == LSC_OK ? CLI_OK : cli_lib_error(cmd, &err);
}
