/*
 * eval.c — `lorascope eval`: the base model and then each adapter on it,
 * scored on the held-out data: mean next-byte loss and perplexity over
 * evenly spread windows of the validation text (lm), or, on the seeded
 * sample of the test split (and the dev split with --eval-dev), label loss,
 * exact-match accuracy by greedy decoding and rank-classification accuracy
 * next to the majority and suffix baselines (supersense; also Alpaca
 * instruction records with --format alpaca, classified over the training
 * records' outputs); a table on stdout and, with --json, one JSON object.
 *
 * Not here: the forward pass and task scoring (lib/model_forward.c,
 * lib/task_eval.c) or the data sources and the sample (training_common.c,
 * shared with train).
 *
 * Vocabulary: B batch rows, T context (tokens per window).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cJSON.h>

#include "analysis_common.h"
#include "commands.h"
#include "progress.h"
#include "training.h"

// ---- help ----

static const char *EVAL_USAGE =
    "usage: lorascope eval --base BASE [--adapter DIR ...] [--task lm|supersense]\n"
    "         [--data FILE | --task-file FILE [--task-dev FILE --task-test FILE]] [--ctx T --batch B]\n"
    "         [--windows N] [--eval-sample N] [--eval-seed S] [--eval-dev] [--threads P] [--json] [--json-out FILE]\n"
    "         [--quant nf4 [--blocksize 64] [--no-double-quant] [--quant-targets T]]\n"
    "         [--format alpaca --data TRAIN.json --task-test TEST.json [--valid DEV.json] [--tokenizer TOK.bin]]\n"
    "\n"
    "Evaluates the base model and, one after another, each adapter on it (repeat\n"
    "--adapter, or list more directories after it). lm: mean next-byte loss\n"
    "(nats/byte) and perplexity over N windows of T bytes spread evenly over the\n"
    "validation text (--windows 0: every window; default 256); with --tokenizer (the\n"
    "base's llama2.c tokenizer.bin, needed when its vocabulary is not bytes) the text is\n"
    "encoded with it and the loss is per token. supersense: on the test\n"
    "split (data/tasks/supersense_test.tsv, or the test third of --task-file FILE split by\n"
    "the word hash) the loss on the label bytes, exact-match accuracy by greedy decoding\n"
    "and rank accuracy (the label whose completion has the highest log-likelihood among\n"
    "all labels), next to the majority-class and 4-letter-suffix baselines on the same\n"
    "items. --eval-sample N scores N items drawn without replacement by a rule of\n"
    "(--eval-seed S, default 1, and the split's size) only, the same items in every run\n"
    "(default 0: all); --eval-dev also scores the dev split's sample. --json-out FILE writes\n"
    "the results as one JSON object (the last model's val_loss = test label loss,\n"
    "perplexity, accuracy, rank_accuracy, [dev_accuracy, dev_rank_accuracy, dev_label_loss,]\n"
    "majority_accuracy, suffix_accuracy, items at the top level, every model under\n"
    "\"results\"); --json prints\n"
    "it as the last stdout line. --quant nf4 evaluates on the base quantised to NF4 as\n"
    "`train --quant nf4` trains (QLoRA); an NF4 base file is recognised without it.\n"
    "--format alpaca: the supersense-style evaluation of Alpaca instruction records (as\n"
    "`train --format alpaca --task-test` does at the end of a run): the records of --task-test\n"
    "(and of --valid with --eval-dev) classified over the label set = the distinct outputs of\n"
    "the --data records (which also fit the majority baseline; no suffix baseline: null),\n"
    "each label scored on exactly the tokens training feeds (--tokenizer: the base's llama2.c\n"
    "tokenizer; the label loss is then per response token).\n"
    "\n"
    "example:\n"
    "  lorascope eval --base base.safetensors --adapter ad8 --task supersense\n";

// ---- scoring ----

/* Mean next-token loss over n windows spread evenly over the validation
 * text: c's bytes, or k's token ids when the base has a tokenizer (k). A progress line on a
 * terminal unless quiet. */
static int eval_lm(lsc_gpt *m, const lsc_corpus *c, const lsc_tokens *k, int T, int B, long windows, double *loss,
                   int quiet, lsc_error *err)
{
    size_t total = k ? lsc_tokens_n_windows(k, T) : lsc_corpus_n_windows(c, T);
    size_t n = windows > 0 && (size_t)windows < total ? (size_t)windows : total;
    int rc;
    if (m->B_alloc < B || m->T_alloc < T)
        if ((rc = lsc_gpt_alloc_acts(m, B, T, err)) != LSC_OK)
            return rc;
    int *in = malloc((size_t)B * T * sizeof *in), *tg = malloc((size_t)B * T * sizeof *tg);
    float *mk = malloc((size_t)B * T * sizeof *mk);
    if (!in || !tg || !mk) {
        free(in);
        free(tg);
        free(mk);
        LSC_FAIL(err, LSC_ENOMEM, "eval: out of memory");
    }
    double sum = 0, wsum = 0;
    rc = LSC_OK;
    ana_progress pg;
    ana_progress_start(&pg, "eval", "windows", (long)n, quiet);
    for (size_t i0 = 0; i0 < n; i0 += (size_t)B) {
        int nb = n - i0 < (size_t)B ? (int)(n - i0) : B;
        for (int b = 0; b < nb; b++) {
            /* window k of n spread evenly over all of them */
            size_t w = (size_t)(((double)(i0 + (size_t)b) * (double)total) / (double)n);
            if (k)
                lsc_tokens_window(k, w, T, in + (size_t)b * T, tg + (size_t)b * T, mk + (size_t)b * T);
            else
                lsc_corpus_window(c, w, T, in + (size_t)b * T, tg + (size_t)b * T, mk + (size_t)b * T);
        }
        if ((rc = lsc_gpt_forward(m, in, tg, mk, nb, T, NULL, err)) != LSC_OK)
            break;
        sum += (double)m->mean_loss * m->mask_sum;
        wsum += m->mask_sum;
        ana_progress_add(&pg, nb);
    }
    ana_progress_end(&pg);
    free(in);
    free(tg);
    free(mk);
    *loss = wsum > 0 ? sum / wsum : NAN;
    return rc;
}

// ---- the run ----

enum { MAXA = 64 };

/* One eval: the options, the model and the validation data. */
typedef struct eval_run {
    const char        *cmd, *base, *task, *json_path;
    const char        *ads[2 * MAXA];   /* adapter directories, in order */
    int                nad, is_ss, alpaca, B, quant, n_items, eval_dev;
    long               windows, sample, seed, T;
    lsc_nf4_opts       qo;
    double             t_start;
    lsc_gpt            m;
    training_data      d;
    lsc_baselines      bl;
    lsc_error          err;
} eval_run;

/* Every --adapter (repeated), then the extra positionals; the rest of the
 * options, checked; the base and adapters must exist. */
static int parse_eval(const cli_opt *opts, int argc, char **argv, const char **pos, int npos, eval_run *e)
{
    const char *cmd = e->cmd;
    int bad = 0, rc;
    for (int i = 1; i < argc && e->nad < MAXA; i++) {
        if (strcmp(argv[i], "--adapter") == 0 && i + 1 < argc)
            e->ads[e->nad++] = argv[++i];
        else if (strncmp(argv[i], "--adapter=", 10) == 0)
            e->ads[e->nad++] = argv[i] + 10;
    }
    if (npos > 0 && e->nad == 0)
        return cli_error(cmd, CLI_USAGE, "unexpected argument '%s' (adapters follow --adapter)", pos[0]);
    for (int i = 0; i < npos; i++)
        e->ads[e->nad++] = pos[i];
    e->base = cli_get(opts, "base");
    e->task = cli_get(opts, "task") ? cli_get(opts, "task") : "lm";
    if (!e->base)
        return cli_error(cmd, CLI_USAGE, "missing --base BASE.safetensors");
    e->is_ss = strcmp(e->task, "supersense") == 0;
    if (!e->is_ss && strcmp(e->task, "lm") != 0)
        return cli_error(cmd, CLI_USAGE, "unknown task '%s' (lm or supersense)", e->task);
    if (cli_get(opts, "format") && strcmp(cli_get(opts, "format"), "alpaca") == 0) {
        if (cli_get(opts, "task"))
            return cli_error(cmd, CLI_USAGE, "--format alpaca evaluates --task-test FILE.json records, not --task");
        e->task = "alpaca";   /* scored like supersense, on the records (training_tok.c) */
        e->is_ss = e->alpaca = 1;
    }
    e->B = (int)cli_long(opts, "batch", 32, &bad);
    e->windows = cli_long(opts, "windows", 256, &bad);
    training_parse_eval(opts, &e->sample, &e->seed, &e->eval_dev, &bad);
    training_threads(opts, &bad);
    e->json_path = cli_flag(opts, "json") ? "-" : cli_get(opts, "json-out");
    if (bad)
        return cli_error(cmd, CLI_USAGE, "bad option value");
    if (e->B < 1 || e->windows < 0)
        return cli_error(cmd, CLI_USAGE, "--batch must be >= 1, --windows >= 0");
    if ((rc = training_parse_quant(cmd, opts, 0, &e->qo, &e->quant)) != CLI_OK)   /* QLoRA (issue 6) */
        return rc;
    struct stat sb;
    if (stat(e->base, &sb) != 0)
        return cli_error(cmd, CLI_FAIL, "%s: no such file", e->base);
    for (int i = 0; i < e->nad; i++)
        if (!ana_adapter_dir_ok(e->ads[i]))
            return cli_error(cmd, CLI_FAIL, "%s: not an adapter directory", e->ads[i]);
    return CLI_OK;
}

/* The base, the validation data, the context and (supersense) the
 * baselines; prints the table's header. */
static int eval_setup(const cli_opt *opts, eval_run *e)
{
    const char *cmd = e->cmd;
    int bad = 0, rc;
    if ((e->quant ? lsc_gpt_load_nf4(&e->m, e->base, &e->qo, &e->err) : lsc_gpt_load(&e->m, e->base, &e->err)) !=
        LSC_OK)
        return cli_lib_error(cmd, &e->err);
    ana_warn_ignored(cmd, &e->m, e->base);
    if (e->alpaca ? (rc = training_tok_load(cmd, opts, e->m.config.vocab, 0, &e->d)) != CLI_OK
                  : (rc = training_data_load(cmd, opts, e->is_ss, NULL, &e->d)) != CLI_OK)
        return rc;
    if (!e->alpaca && !e->is_ss && (rc = training_tok_load(cmd, opts, e->m.config.vocab, 0, &e->d)) != CLI_OK)
        return rc;   /* lm: through the base's tokenizer when it has one */
    if (e->alpaca && !e->d.evaluates)
        return cli_error(cmd, CLI_USAGE, "--format alpaca needs --task-test FILE.json (the records to score)");
    e->T = cli_long(opts, "ctx", e->m.config.n_ctx, &bad);
    if (bad)
        return CLI_USAGE;   /* cli_long printed the usage error */
    if (e->T < 1 || e->T > e->m.config.n_ctx)
        return cli_error(cmd, CLI_USAGE, "--ctx %ld is outside 1..%d (the base model's n_ctx)", e->T,
                         e->m.config.n_ctx);
    if (e->is_ss) {
        /* the baselines on the items the models are scored on */
        training_eval items;
        if ((rc = training_eval_items(cmd, &e->d.ttest, "test", e->sample, e->seed, &items)) == CLI_OK &&
            training_eval_baselines(&e->d.ttrain, &e->d.ttest, &items, &e->bl, &e->err) != LSC_OK)
            rc = cli_lib_error(cmd, &e->err);
        e->n_items = items.n;
        training_eval_free(&items);
        if (rc != CLI_OK)
            return rc;
        if (e->alpaca)   /* the prompts end in the template: no suffix baseline */
            e->bl.suffix = NAN;
        printf("%s: %d test items (seed %ld) from %s; baselines: majority class %.2f%%, 4-letter suffix "
               "%.2f%%\n", e->task, e->n_items, e->seed, e->d.src.test[0] ? e->d.src.test : e->d.src.train,
               100 * e->bl.majority, 100 * e->bl.suffix);
    } else {
        printf("lm: validation text %s (%zu bytes), context %ld\n", e->d.cvalid.path, e->d.cvalid.n, e->T);
    }
    printf("%-40s %10s %10s%s\n", "model", "val_loss", "ppl", e->is_ss ? "   accuracy   rank_acc" : "");
    return CLI_OK;
}

/* Model a's table row and JSON entry (the last model also at the top level). */
static void eval_report(const eval_run *e, int a, double loss, const training_eval *te, const training_eval *de,
                        cJSON *js, cJSON *arr)
{
    const char *name = a < 0 ? e->base : e->ads[a];
    if (e->is_ss)
        printf("%-40s %10.4f %10.3f %9.2f%% %9.2f%%\n", name, loss, exp(loss), 100 * te->res.accuracy,
               100 * te->res.rank_accuracy);
    else
        printf("%-40s %10.4f %10.3f\n", name, loss, exp(loss));
    if (e->is_ss && e->eval_dev)
        printf("%-40s %10.4f %10.3f %9.2f%% %9.2f%%\n", "  (dev)", de->res.loss, exp(de->res.loss),
               100 * de->res.accuracy, 100 * de->res.rank_accuracy);
    cJSON *objs[2] = {cJSON_CreateObject(), a == e->nad - 1 ? js : NULL};
    cJSON_AddItemToArray(arr, objs[0]);
    for (int k = 0; k < 2 && objs[k]; k++) {
        cJSON *r = objs[k];
        cJSON_AddStringToObject(r, "model", a < 0 ? "base" : e->ads[a]);
        if (k == 1 && a >= 0)
            cJSON_AddStringToObject(r, "adapter", e->ads[a]);
        else if (k == 1)
            cJSON_AddNullToObject(r, "adapter");
        cJSON_AddNumberToObject(r, "val_loss", loss);
        cJSON_AddNumberToObject(r, "perplexity", exp(loss));
        if (!e->is_ss)
            continue;
        cJSON_AddNumberToObject(r, "accuracy", te->res.accuracy);
        cJSON_AddNumberToObject(r, "rank_accuracy", te->res.rank_accuracy);
        cJSON_AddNumberToObject(r, "label_loss", te->res.loss);
        if (e->eval_dev) {
            cJSON_AddNumberToObject(r, "dev_accuracy", de->res.accuracy);
            cJSON_AddNumberToObject(r, "dev_rank_accuracy", de->res.rank_accuracy);
            cJSON_AddNumberToObject(r, "dev_label_loss", de->res.loss);
            cJSON_AddNumberToObject(r, "dev_items", de->n);
        }
    }
}

/* Scores model a (-1: the base, else the base with adapter a): one table
 * row and one entry of "results"; the last model also at the top level. */
static int eval_model(eval_run *e, int a, cJSON *js, cJSON *arr)
{
    lsc_lora lo;
    memset(&lo, 0, sizeof lo);
    if (a >= 0 && (lsc_lora_load(&lo, &e->m.config, e->ads[a], &e->err) != LSC_OK ||
                   lsc_gpt_set_lora(&e->m, &lo, &e->err) != LSC_OK)) {
        lsc_lora_free(&lo);
        return cli_lib_error(e->cmd, &e->err);
    }
    double loss = NAN;
    training_eval te, de;
    memset(&te, 0, sizeof te);
    memset(&de, 0, sizeof de);
    int rc = CLI_OK;
    if (e->is_ss) {   /* supersense, or --format alpaca records */
        lsc_baselines bl;
        te.quiet = de.quiet = e->json_path && strcmp(e->json_path, "-") == 0;
        rc = training_eval_final(e->cmd, &e->m, &e->d, e->sample, e->seed, e->eval_dev, &te, &de, &bl);
        loss = te.res.loss;
    } else if (eval_lm(&e->m, &e->d.cvalid, e->d.tokens ? &e->d.kvalid : NULL, (int)e->T, e->B, e->windows, &loss,
                       e->json_path && strcmp(e->json_path, "-") == 0, &e->err) != LSC_OK) {
        rc = cli_lib_error(e->cmd, &e->err);
    }
    lsc_gpt_set_lora(&e->m, NULL, &e->err);
    lsc_lora_free(&lo);
    if (rc == CLI_OK) {
        eval_report(e, a, loss, &te, &de, js, arr);
    }
    training_eval_free(&te);
    training_eval_free(&de);
    return rc;
}

/* --json-out FILE (written atomically) or --json (the last stdout line). */
static int write_json(const eval_run *e, const cJSON *js)
{
    char *text = cJSON_PrintUnformatted(js);
    if (!text)
        return cli_error(e->cmd, CLI_FAIL, "out of memory");
    int rc = CLI_OK;
    if (strcmp(e->json_path, "-") == 0) {
        printf("%s\n", text);
    } else {
        lsc_error err = {0};
        lsc_atomic a;
        if (lsc_atomic_open(&a, e->json_path, &err) != LSC_OK) {
            rc = cli_lib_error(e->cmd, &err);
        } else {
            fputs(text, a.fp);
            fputc('\n', a.fp);
            if (lsc_atomic_commit(&a, &err) != LSC_OK)
                rc = cli_lib_error(e->cmd, &err);
        }
    }
    free(text);
    return rc;
}

/* Every model in turn, then the JSON: the last model evaluated (the last
 * adapter, else the base) at the top level, every model under "results". */
static int eval_all(eval_run *e)
{
    int rc = CLI_OK;
    cJSON *js = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    cJSON_AddStringToObject(js, "task", e->task);
    cJSON_AddStringToObject(js, "base", e->base);
    for (int a = -1; a < e->nad && rc == CLI_OK; a++)
        rc = eval_model(e, a, js, arr);
    if (rc != CLI_OK) {
        cJSON_Delete(js);
        cJSON_Delete(arr);
        return rc;
    }
    if (e->is_ss) {
        cJSON_AddStringToObject(js, "split", "test");
        cJSON_AddNumberToObject(js, "eval_seed", (double)e->seed);
        cJSON_AddNumberToObject(js, "items", e->n_items);
        cJSON_AddNumberToObject(js, "n_items", e->n_items);
        cJSON_AddNumberToObject(js, "majority_accuracy", e->bl.majority);
        cJSON_AddNumberToObject(js, "suffix_accuracy", e->bl.suffix);
    } else {
        cJSON_AddNumberToObject(js, "ctx", (double)e->T);
        cJSON_AddNumberToObject(js, "windows", (double)e->windows);
    }
    cJSON_AddItemToObject(js, "results", arr);
    cJSON_AddNumberToObject(js, "wall_seconds", cli_now() - e->t_start);
    if (e->json_path)
        rc = write_json(e, js);
    cJSON_Delete(js);
    return rc;
}

// ---- entry ----

int cmd_eval(int argc, char **argv)
{
    const char *cmd = "eval";
    cli_opt opts[] = {{"base", 1, NULL}, {"adapter", 1, NULL}, {"task", 1, NULL}, {"data", 1, NULL},
                      {"valid", 1, NULL}, {"task-file", 1, NULL}, {"task-dev", 1, NULL}, {"task-test", 1, NULL},
                      {"ctx", 1, NULL}, {"batch", 1, NULL}, {"windows", 1, NULL}, {"eval-sample", 1, NULL},
                      {"eval-seed", 1, NULL}, {"eval-dev", 0, NULL}, {"threads", 1, NULL},
                      {"json", 0, NULL}, {"json-out", 1, NULL}, {"quant", 1, NULL}, {"blocksize", 1, NULL}, {"double-quant", 0, NULL},
                      {"no-double-quant", 0, NULL}, {"quant-targets", 1, NULL}, {"format", 1, NULL},
                      {"tokenizer", 1, NULL}, {"help", 0, NULL},
                      {NULL, 0, NULL}};   /* quant..quant-targets: QLoRA (issue 6); format, tokenizer: issue 13 */
    eval_run e;
    memset(&e, 0, sizeof e);
    e.cmd = cmd;
    e.t_start = cli_now();
    const char *pos[MAXA];
    int npos, help;
    int rc = ana_parse_args(cmd, EVAL_USAGE, argc, argv, opts, pos, MAXA, &npos, &help);
    if (rc != CLI_OK || help)
        return rc;
    if ((rc = parse_eval(opts, argc, argv, pos, npos, &e)) != CLI_OK)
        return rc;
    if ((rc = eval_setup(opts, &e)) == CLI_OK)
        rc = eval_all(&e);
    lsc_gpt_free(&e.m);
    training_data_free(&e.d);
    return rc;
}
