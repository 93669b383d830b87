/*
 * training_tok.c — the token-level data sources of `train` (LoRA issue 13):
 * a corpus encoded with a base's tokenizer (--tokenizer FILE: llama2.c's
 * tokenizer.bin) and instruction records in the Alpaca template
 * (--format alpaca, --data FILE.json [--valid FILE.json]), with
 * --task-test FILE.json their end-of-run evaluation as a classification
 * over the training records' outputs (lib/instruct_eval.c).
 *
 * Not here: the encoding and the batch rules (lib/data_tok.c, lib/tokenizer.c),
 * the byte-level sources (training_common.c).
 */
#include <stdio.h>
#include <string.h>

#include "analysis_common.h"
#include "training.h"

static int lib_fail(const char *cmd, lsc_error *err)
{
    return cli_lib_error(cmd, err);
}

/* --task-test FILE.json: the test records and the label-set views of the
 * train, dev (--valid) and test records (training_eval_final scores them). */
static int alpaca_test_load(const char *cmd, const cli_opt *opts, const lsc_tokenizer *tok, int max_tokens,
                            training_data *d)
{
    lsc_error err = {0};
    const char *test = cli_get(opts, "task-test");
    if (!test) {
        if (cli_flag(opts, "eval-dev"))
            return cli_error(cmd, CLI_USAGE, "--eval-dev with --format alpaca needs --task-test FILE.json");
        return CLI_OK;
    }
    if (cli_flag(opts, "eval-dev") && d->ivalid.n == 0)
        return cli_error(cmd, CLI_USAGE, "--eval-dev with --format alpaca scores the --valid FILE.json records: "
                                         "give --valid");
    if (lsc_instruct_load(&d->itest, test, tok, max_tokens, &err) != LSC_OK ||
        lsc_instruct_task(&d->ttrain, &d->itrain, NULL, &err) != LSC_OK ||
        lsc_instruct_task(&d->ttest, &d->itest, &d->ttrain, &err) != LSC_OK ||
        (d->ivalid.n > 0 && lsc_instruct_task(&d->tdev, &d->ivalid, &d->ttrain, &err) != LSC_OK))
        return lib_fail(cmd, &err);
    snprintf(d->src.test, sizeof d->src.test, "%s", test);
    d->evaluates = 1;
    return CLI_OK;
}

int training_tok_load(const char *cmd, const cli_opt *opts, int V, int max_tokens, training_data *d)
{
    lsc_error err = {0};
    const char *tokp = cli_get(opts, "tokenizer"), *fmt = cli_get(opts, "format");
    if (fmt && strcmp(fmt, "alpaca") != 0 && strcmp(fmt, "text") != 0)
        return cli_error(cmd, CLI_USAGE, "unknown --format '%s' (text or alpaca)", fmt);
    d->alpaca = fmt && strcmp(fmt, "alpaca") == 0;
    if (tokp) {
        if (lsc_tokenizer_load_llama2c(&d->tok, tokp, V, &err) != LSC_OK)
            return lib_fail(cmd, &err);
        d->has_tok = 1;
    } else if (V != 256) {
        return cli_error(cmd, CLI_USAGE, "the base has a vocabulary of %d tokens, not bytes: give its tokenizer "
                                         "with --tokenizer FILE", V);
    }
    if (d->alpaca) {
        const char *data = cli_get(opts, "data"), *valid = cli_get(opts, "valid");
        if (!data)
            return cli_error(cmd, CLI_USAGE, "--format alpaca needs --data FILE.json");
        const lsc_tokenizer *tok = d->has_tok ? &d->tok : NULL;
        if (lsc_instruct_load(&d->itrain, data, tok, max_tokens, &err) != LSC_OK ||
            (valid && lsc_instruct_load(&d->ivalid, valid, tok, max_tokens, &err) != LSC_OK))
            return lib_fail(cmd, &err);
        snprintf(d->src.train, sizeof d->src.train, "%s", data);
        snprintf(d->src.valid, sizeof d->src.valid, "%s", valid ? valid : "");
        return alpaca_test_load(cmd, opts, tok, max_tokens, d);
    }
    if (!d->has_tok)
        return CLI_OK;   /* bytes: the corpora as they are */
    d->tokens = 1;
    if (lsc_tokens_from_corpus(&d->ktrain, &d->ctrain, &d->tok, &err) != LSC_OK ||
        lsc_tokens_from_corpus(&d->kvalid, &d->cvalid, &d->tok, &err) != LSC_OK)
        return lib_fail(cmd, &err);
    return CLI_OK;
}

int training_tok_source(training_data *d, lsc_batch_fn *fn, void **tctx, lsc_batch_fn *vfn, void **vctx)
{
    if (d->alpaca) {
        *fn = lsc_instruct_batch;
        *tctx = &d->itrain;
        *vfn = d->ivalid.n > 0 ? lsc_instruct_batch : NULL;
        *vctx = d->ivalid.n > 0 ? &d->ivalid : NULL;
        return 1;
    }
    if (d->tokens) {
        *fn = *vfn = lsc_tokens_batch;
        *tctx = &d->ktrain;
        *vctx = &d->kvalid;
        return 1;
    }
    return 0;
}

int training_tok_min_ctx(const training_data *d)
{
    if (!d->alpaca)
        return 0;
    int m = d->itrain.max_len > d->ivalid.max_len ? d->itrain.max_len : d->ivalid.max_len;
    return m - 1;
}

int training_tok_eval_run(const char *cmd, lsc_gpt *m, const training_data *d, const lsc_instruct *recs,
                          const lsc_task *t, const char *split, long sample, long seed, training_eval *ev)
{
    lsc_error err = {0};
    int rc = training_eval_items(cmd, t, split, sample, seed, ev);
    if (rc != CLI_OK)
        return rc;
    if (lsc_instruct_eval_items(m, recs, t, d->has_tok ? &d->tok : NULL, ev->item, ev->n, &ev->res, ev->pred,
                                ev->rank_pred, NULL, &err) != LSC_OK)
        return lib_fail(cmd, &err);
    return CLI_OK;
}
