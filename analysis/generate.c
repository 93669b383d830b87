/*
 * generate.c — `lorascope generate`: the prompt followed by sampled bytes
 * from a base model, with an adapter applied when given; the same seed
 * gives the same text.
 *
 * Not here: decoding and sampling (lib/model.c lsc_decode).
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
    "usage: lorascope generate --base BASE.safetensors [--adapter DIR] --prompt TEXT\n"
    "         [--tokens N] [--temperature T] [--seed S] [--threads P]\n"
    "\n"
    "Prints TEXT followed by N sampled bytes (default 200) from the model (with the\n"
    "adapter applied). --temperature 0 decodes greedily; default 0.8. The same seed\n"
    "gives the same text.\n"
    "\n"
    "example:\n"
    "  lorascope generate --base base.safetensors --prompt 'It is a truth' --tokens 100\n";

// ---- entry ----

int cmd_generate(int argc, char **argv)
{
    const char *cmd = "generate";
    cli_opt opts[] = {{"base", 1, NULL}, {"adapter", 1, NULL}, {"prompt", 1, NULL}, {"tokens", 1, NULL},
                      {"temperature", 1, NULL}, {"seed", 1, NULL}, {"threads", 1, NULL}, {"help", 0, NULL},
                      {NULL, 0, NULL}};
    const char *pos[1];
    int npos, help, bad = 0;
    int rc = ana_parse_args(cmd, GENERATE_USAGE, argc, argv, opts, pos, 0, &npos, &help);
    if (rc != CLI_OK || help)
        return rc;
    const char *base = cli_get(opts, "base"), *ad = cli_get(opts, "adapter"), *prompt = cli_get(opts, "prompt");
    long n = cli_long(opts, "tokens", 200, &bad), seed = cli_long(opts, "seed", 1, &bad);
    double temp = cli_double(opts, "temperature", 0.8, &bad);
    training_threads(opts, &bad);
    if (bad)
        return cli_error(cmd, CLI_USAGE, "bad option value");
    if (!base || !prompt)
        return cli_error(cmd, CLI_USAGE, "needs --base BASE.safetensors and --prompt TEXT");
    if (n < 0 || n > 1000000 || !(temp >= 0) || !isfinite(temp))
        return cli_error(cmd, CLI_USAGE, "--tokens must be in 0..1000000 and --temperature >= 0");
    struct stat sb;
    if (stat(base, &sb) != 0)
        return cli_error(cmd, CLI_FAIL, "%s: no such file", base);
    if (ad && (stat(ad, &sb) != 0 || !S_ISDIR(sb.st_mode)))
        return cli_error(cmd, CLI_FAIL, "%s: not an adapter directory", ad);
    lsc_error err = {0};
    lsc_gpt m;
    lsc_lora lo;
    memset(&lo, 0, sizeof lo);
    if (lsc_gpt_load(&m, base, &err) != LSC_OK)
        return cli_lib_error(cmd, &err);
    size_t plen = strlen(prompt);
    int width = (int)(plen + (size_t)n + 1);
    int *tok = malloc((size_t)width * sizeof *tok);
    if (!tok) {
        lsc_gpt_free(&m);
        return cli_error(cmd, CLI_FAIL, "out of memory");
    }
    /* an empty prompt starts from a newline, as at a paragraph start */
    int np = 0;
    if (plen == 0)
        tok[np++] = '\n';
    for (size_t i = 0; i < plen; i++)
        tok[np++] = (unsigned char)prompt[i];
    int olen = np;
    uint64_t rng;
    lsc_rng_seed(&rng, (uint64_t)seed);
    if (ad && (lsc_lora_load(&lo, &m.config, ad, &err) != LSC_OK || lsc_gpt_set_lora(&m, &lo, &err) != LSC_OK))
        goto fail;
    if (lsc_gpt_alloc_acts(&m, 1, m.config.n_ctx, &err) != LSC_OK)
        goto fail;
    if (lsc_decode(&m, 1, tok, np + (int)n, &np, (int)n, -1, temp, &rng, &olen, &err) != LSC_OK)
        goto fail;
    for (int i = plen == 0 ? 1 : 0; i < olen; i++)
        putchar(tok[i]);
    putchar('\n');
    free(tok);
    lsc_lora_free(&lo);
    lsc_gpt_free(&m);
    return CLI_OK;
fail:
    rc = cli_lib_error(cmd, &err);
    free(tok);
    lsc_lora_free(&lo);
    lsc_gpt_free(&m);
    return rc;
}
