/*
 * train.c — `lorascope train`: fine-tunes a base model on a task, a LoRA
 * adapter on the chosen weights (QLoRA with --quant nf4) or every weight
 * with --full, and `train --synthetic`, the throughput benchmark on random
 * tokens with a random-init model.
 *
 * Only the options live here (targets, ranks, the adapter, the synthetic
 * shape) and their checks; the run (base, data, checkpoints, progress,
 * outputs) is training.c's run_training, the same path `pretrain` takes.
 *
 * Vocabulary: L layers, NH heads, C channels, T context, B batch rows,
 * V vocabulary, r LoRA rank.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "analysis_common.h"
#include "commands.h"
#include "training.h"

// ---- help ----

static const char *TRAIN_USAGE =
    "usage: lorascope train --base BASE.safetensors --task lm|supersense -o OUT\n"
    "         [--targets q,v --rank R --alpha A] [--rank-pattern q=8,v=4] [--rslora]\n"
    "         [--rank-pattern-file RANKS.json]\n"
    "         [--dropout P] [--init kaiming|gaussian] [--lora-layers 0,2,...]\n"
    "         [--steps N --batch B --ctx T --lr LR --warmup K --schedule cosine|linear|constant]\n"
    "         [--weight-decay WD --clip G --seed S --threads P --eval-every K --eval-batches N]\n"
    "         [--ckpt-every K] [--full] [--resume] [--stop-at STEP] [--quiet] [--save-init DIR]\n"
    "         [--save-every N] [--micro-batches K] [--dp-reduce ordered|allreduce]\n"
    "         [--data FILE [--valid FILE]] [--task-file FILE [--task-dev FILE --task-test FILE]]\n"
    "         [--tokenizer TOKENIZER.bin] [--format text|alpaca [--task-test TEST.json]]\n"
    "         [--eval-sample N] [--eval-seed S] [--eval-dev]\n"
    "         [--quant nf4 [--blocksize 64] [--no-double-quant] [--quant-targets q,k,v,o,fc_in,fc_out]]\n"
    "       lorascope train --synthetic --layers L --heads NH --embd C --ctx T --batch B\n"
    "         [--vocab V] --steps N [--warmup K] [--threads P] [--seed S]\n"
    "         (--rank R --targets q,v [--quant nf4 ...] | --full) [--json] [-o OUT]\n"
    "         [--micro-batches K] [--dp-reduce ordered|allreduce]\n"
    "\n"
    "Fine-tunes a base model: a LoRA adapter on the chosen weights (only A and B\n"
    "are trained, the base stays frozen) or, with --full, every weight. OUT is a\n"
    "directory: a PEFT adapter (adapter_config.json, adapter_model.safetensors) or\n"
    "model.safetensors with --full, plus train_log.h5 (loss per step, validation\n"
    "loss at intervals, final metrics, config, wall time) and train_state.safetensors\n"
    "(the checkpoint --resume continues from, bit for bit). An OUT that is a symlink to a\n"
    "directory is written into its target. Every run first removes the OUT.tmp.XXXXXX\n"
    "temporaries (of OUT and of the files in it) a killed run left, if they are the user's.\n"
    "train_log.h5 (h5py-readable): /train/{step,loss,lr,grad_norm,step_ms} per step,\n"
    "/val/{step,loss} per validation (on dev for supersense); /delta/{module, layer, target,\n"
    "dw_fro, w_fro, ratio}: ||dW||_F/||W||_F per adapted weight (LoRA: dW = s·B·A, W the\n"
    "frozen base weight, dequantised for NF4; --full: W_ft - W_0 per linear weight); root\n"
    "attributes: every option, command, inputs with sha256, wall_time_s, train_wall_s,\n"
    "final_val_loss, dw_ratio_median, dw_ratio_max, and for supersense (on the test sample)\n"
    "accuracy (greedy exact match), rank_accuracy, label_loss, eval_items, eval_seed,\n"
    "eval_split, majority_baseline, suffix4_baseline (on the same items), with --eval-dev\n"
    "dev_accuracy, dev_rank_accuracy, dev_label_loss, dev_eval_items; per item\n"
    "/eval/{test,dev}/{item, correct, rank_correct, pred, rank_pred} and /eval/labels.\n"
    "\n"
    "targets: q k v o fc_in fc_out (or q_proj ...); --rank R applies to each; --rank-pattern\n"
    "sets a rank per target (and adds it). --rank-pattern-file FILE: a PEFT rank_pattern\n"
    "JSON object {\"h.3.attn.q_proj\": 4, ...} (`lorascope recommend-ranks --pattern` writes\n"
    "one): each module a key matches (PEFT's rule, first key wins) gets that rank (0: none),\n"
    "also without --targets; the file's sha256 is part of the run's identity.\n"
    "Scaling alpha/r, or alpha/sqrt(r) with --rslora.\n"
    "defaults: --targets q,v --rank 8 --alpha 16 --dropout 0 --init kaiming; 1000 steps,\n"
    "batch 16, lr 1e-2 (LoRA) or 1e-3 (--full), warm-up 5%, cosine to 10%, clip 1,\n"
    "validation every 10% of the steps on 16 fixed batches.\n"
    "tasks: lm = next-byte loss on data/corpus/pretrain_{train,valid}.txt (--data FILE splits\n"
    "FILE 90/10); supersense = WordNet noun -> lexicographer class on\n"
    "data/tasks/supersense_{train,dev,test}.tsv (--task-file FILE splits FILE three ways by\n"
    "h = fnv1a32(word) % 10: test 0, dev 1, train 2..9; --task-dev/--task-test name the\n"
    "other two files), loss on the label bytes only; the validation curve uses dev, and\n"
    "nothing during training touches test. At the end, on the test split: exact-match\n"
    "accuracy by greedy decoding, rank accuracy (the label whose completion \"label\\n\" has\n"
    "the highest log-likelihood after \"word\\t\" among all labels) and the label loss, next\n"
    "to the majority and suffix baselines on the same items. --eval-sample N scores N items\n"
    "drawn without replacement by a rule of (--eval-seed S, default 1, and the split's size)\n"
    "only, so runs with the same S are scored on the same items (default 0: all items);\n"
    "--eval-dev also scores the dev split's sample.\n"
    "--full -o MODEL.safetensors writes the model file itself (state and log beside it);\n"
    "--save-init DIR also writes the step-0 adapter (A = A0, B = 0) as a PEFT directory, the\n"
    "null of the subspace studies (with the same seed and config it is the trained run's A0).\n"
    "--save-every N: snapshots of the adapter at step 0 (A0, B = 0), every N steps and the last\n"
    "step, each a PEFT directory OUT.snapshots/step-000100 (six digits), written atomically;\n"
    "they do not change the training (the final adapter is the same byte for byte). A fresh run\n"
    "first removes an earlier run's step-* there; --resume keeps them and continues. Their steps\n"
    "are /snapshots/step in train_log.h5; `lorascope trajectory OUT` analyses them.\n"
    "--log FILE moves train_log.h5. --stop-at STEP (or Ctrl-C) stops with a checkpoint;\n"
    "the same command with --resume continues exactly. --threads P: OpenBLAS and OpenMP\n"
    "threads (default $OMP_NUM_THREADS, else all cores, shared among the MPI ranks of a node).\n"
    "Data-parallel (a build with MPI: make MPI=1, or build/mpi/lorascope): mpirun -np N\n"
    "lorascope train ... cuts each batch into --micro-batches K pieces (default N; N <= K <= batch)\n"
    "spread over the ranks, each scaled by the whole batch's mask sum, and sums only the trainable\n"
    "gradients (the LoRA factors; every weight with --full) between ranks, never the frozen base.\n"
    "--dp-reduce ordered (default) adds them in micro-batch order, a chain through the ranks, so the\n"
    "run is bit-identical to one process with the same --micro-batches K (and --threads); allreduce\n"
    "uses MPI_Allreduce (float rounding may differ). Rank 0 alone prints and writes; --resume works\n"
    "with any number of ranks. train_log.h5 records mpi_ranks, micro_batches, dp_reduce and\n"
    "dp_bytes_per_step (4 x (trainable parameters + 1): the gradient and the loss).\n"
    "--quant nf4: QLoRA. The base's linear weights are frozen in 4-bit NormalFloat (bitsandbytes'\n"
    "NF4: blocks of --blocksize values, default 64, each with an absmax that is itself quantised\n"
    "to 8 bits unless --no-double-quant) and dequantised a tile at a time inside the forward and\n"
    "input-gradient passes; the fp32 weights are never held. A base written by `lorascope\n"
    "quantize` is recognised without the flag. `eval` and `merge` take the same flags.\n"
    "--format alpaca: --data FILE.json (a JSON array or JSON lines of {instruction,\n"
    "input, output} records) rendered with the Alpaca template, loss on the response\n"
    "only; --valid FILE.json gives the validation curve (without it there is none).\n"
    "data/supersense_alpaca.py writes the supersense task in that form. --task-test\n"
    "FILE.json: at the end the test records are scored like supersense: classified over the\n"
    "label set = the distinct outputs of the --data records (sorted by bytes), each label\n"
    "scored on exactly the tokens training would feed for the record with that output (rank\n"
    "accuracy), greedy decoding until EOS/LF compared with the labels (exact match), the\n"
    "gold labels' loss per response token; --eval-sample/--eval-seed as for supersense,\n"
    "--eval-dev scores the --valid records too. train_log.h5 gets the supersense attributes\n"
    "and /eval datasets; majority_baseline is fitted on the --data records and\n"
    "suffix4_baseline is NaN (a prompt ends in the template, not the word).\n"
    "--tokenizer FILE: the base's llama2.c tokenizer.bin (a base whose vocabulary is not\n"
    "the 256 bytes needs one): the lm text and the Alpaca records are encoded with it.\n"
    "\n"
    "--synthetic: throughput benchmark on random tokens with a random-init model of the given\n"
    "shape (no --base, no data, no files unless -o). --warmup K untimed steps, then N timed\n"
    "steps; prints the median step time, tokens/s, GFLOP/s from the FLOP model of the step\n"
    "(forward 2 x matmul params x tokens + attention 4·T·C per token and layer; backward 2x\n"
    "forward for full, LoRA skips the weight-gradient GEMMs of frozen weights), peak RSS and\n"
    "the predicted memory; --json prints them as one JSON object on the last stdout line.\n"
    "\n"
    "examples:\n"
    "  lorascope train --base base.safetensors --task supersense --targets q,v --rank 8 -o ad8\n"
    "  lorascope train --synthetic --layers 4 --heads 4 --embd 256 --ctx 128 --batch 8 \\\n"
    "      --steps 20 --warmup 3 --rank 8 --targets q,v --json\n";

// ---- options ----

/* --targets and --rank-pattern into ranks per target; allow_none: no target is fine
 * (--rank-pattern-file selects the modules). */
static int parse_targets(const char *cmd, const char *targets, long rank, const char *pattern,
                         int rank_out[LSC_LORA_NTARGETS], int allow_none)
{
    for (int t = 0; t < LSC_LORA_NTARGETS; t++)
        rank_out[t] = 0;
    char buf[512];
    if (targets) {
        snprintf(buf, sizeof buf, "%s", targets);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            int t = lsc_lora_target_parse(tok);
            if (t < 0)
                return cli_error(cmd, CLI_USAGE, "unknown target '%s' (q, k, v, o, fc_in, fc_out; Llama: gate, up, down)", tok);
            rank_out[t] = (int)rank;
        }
    }
    if (pattern) {
        snprintf(buf, sizeof buf, "%s", pattern);
        for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(tok, '=');
            if (!eq)
                return cli_error(cmd, CLI_USAGE, "--rank-pattern entry '%s' is not TARGET=RANK", tok);
            *eq = '\0';
            int t = lsc_lora_target_parse(tok);
            if (t < 0)
                return cli_error(cmd, CLI_USAGE, "unknown target '%s' in --rank-pattern", tok);
            char *end;
            long r = strtol(eq + 1, &end, 10);
            if (*end || end == eq + 1)
                return cli_error(cmd, CLI_USAGE, "--rank-pattern: '%s' is not a rank", eq + 1);
            if (r <= 0)
                return cli_error(cmd, CLI_USAGE, "rank must be >= 1 (got %ld for %s)", r, tok);
            rank_out[t] = (int)r;
        }
    }
    int any = 0;
    for (int t = 0; t < LSC_LORA_NTARGETS; t++)
        any |= rank_out[t] > 0;
    if (!any && !allow_none)
        return cli_error(cmd, CLI_USAGE, "no LoRA target selected (--targets q,v or --rank-pattern)");
    return CLI_OK;
}

/* train --synthetic: the shape, the adapter and the timed steps, all
 * checked here (there is no base to check them against). */
static int parse_synthetic(const cli_opt *opts, training_opts *o)
{
    const char *cmd = o->cmd;
    int bad = 0;
    lsc_gpt_config *mc = &o->mc;
    o->kind = TRAINING_SYNTHETIC;
    mc->n_layer = (int)cli_long(opts, "layers", 4, &bad);
    mc->n_head = (int)cli_long(opts, "heads", 4, &bad);
    mc->n_embd = (int)cli_long(opts, "embd", 256, &bad);
    mc->n_ctx = (int)cli_long(opts, "ctx", 128, &bad);
    mc->vocab = (int)cli_long(opts, "vocab", 256, &bad);
    int B = (int)cli_long(opts, "batch", 8, &bad);
    o->timed = cli_long(opts, "steps", 10, &bad);
    o->warm = cli_long(opts, "warmup", 2, &bad);
    o->seed = cli_long(opts, "seed", 1, &bad);
    o->full = cli_flag(opts, "full");
    long rank = cli_long(opts, "rank", 8, &bad);
    o->lc.alpha = cli_double(opts, "alpha", 16.0, &bad);
    o->lc.init = LSC_LORA_INIT_KAIMING;
    o->threads = training_threads(opts, &bad);
    o->json = cli_flag(opts, "json");
    o->quiet = o->json || cli_flag(opts, "quiet");
    o->out = cli_get(opts, "output");
    if (bad)
        return cli_error(cmd, CLI_USAGE, "bad option value");
    if (cli_get(opts, "base") || cli_get(opts, "data") || cli_get(opts, "task-file") || cli_flag(opts, "resume") ||
        cli_get(opts, "save-init") || cli_get(opts, "save-every"))
        return cli_error(cmd, CLI_USAGE, "--synthetic takes no --base, --data, --task-file, --resume, --save-init "
                                         "or --save-every");
    if (B < 1 || o->timed < 1 || o->warm < 0)
        return cli_error(cmd, CLI_USAGE, "--batch and --steps must be >= 1, --warmup >= 0");
    int rc = training_parse_quant(cmd, opts, o->full, &o->qo, &o->quant);   /* QLoRA (issue 6) */
    if (rc != CLI_OK)
        return rc;
    if (mc->vocab < 1)
        return cli_error(cmd, CLI_USAGE, "--vocab must be >= 1");
    lsc_error err = {0};
    if (lsc_gpt_config_check(mc, &err) != LSC_OK)
        return cli_error(cmd, CLI_USAGE, "%s", err.msg);
    if (!o->full) {
        if (rank <= 0)
            return cli_error(cmd, CLI_USAGE, "--rank must be >= 1 (got %ld)", rank);
        rc = parse_targets(cmd, cli_get(opts, "targets") ? cli_get(opts, "targets") : "q,v", rank,
                           cli_get(opts, "rank-pattern"), o->lc.rank, 0);
        if (rc != CLI_OK || (rc = training_check_ranks(cmd, mc, o->lc.rank)) != CLI_OK)
            return rc;
    }
    lsc_train_config_default(&o->tc);
    o->tc.B = B;
    o->tc.T = mc->n_ctx;
    o->tc.steps = o->warm + o->timed;
    o->tc.opt.lr = cli_double(opts, "lr", 1e-4, &bad);
    if (bad)
        return CLI_USAGE;   /* cli_double printed the usage error */
    o->tc.opt.schedule = LSC_LR_CONSTANT;
    o->tc.eval_batches = 0;
    return CLI_OK;
}

/* --rank-pattern-file FILE: a JSON object {"KEY": RANK, ...} as PEFT's rank_pattern and
 * `lorascope recommend-ranks --pattern` write it (KEY a pattern under PEFT's rule, RANK an
 * integer >= 0; 0: not adapted) into o->lc's rank pattern, its sha256 into o. */
static int read_rank_file(const char *cmd, const char *file, training_opts *o)
{
    lsc_error err = {0};
    if (lsc_sha256_file(file, o->rank_file_sha, &err) != LSC_OK)
        return cli_lib_error(cmd, &err);
    FILE *f = fopen(file, "rb");
    char *buf = malloc(1 << 20);
    size_t n = f && buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    int big = f && !feof(f);
    if (f)
        fclose(f);
    if (!buf || big) {
        free(buf);
        return cli_error(cmd, CLI_FAIL, "%s: %s", file, buf ? "larger than 1 MB" : "out of memory");
    }
    buf[n] = '\0';
    cJSON *root = cJSON_Parse(buf);
    free(buf);
    int cnt = root && cJSON_IsObject(root) ? cJSON_GetArraySize(root) : -1, rc = CLI_OK;
    if (cnt < 1 || cnt > LSC_PATTERN_MAX_COUNT) {
        cJSON_Delete(root);
        return cli_error(cmd, CLI_FAIL, "%s: not a rank_pattern JSON object {\"module\": rank, ...} (1 to %d keys)",
                         file, LSC_PATTERN_MAX_COUNT);
    }
    o->rp_keys = calloc((size_t)cnt + 1, sizeof *o->rp_keys);   /* NULL-terminated */
    o->rp_vals = calloc((size_t)cnt, sizeof *o->rp_vals);
    int i = 0;
    for (cJSON *e = root->child; e && rc == CLI_OK; e = e->next, i++) {
        lsc_pattern *p = NULL;
        double v = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (!o->rp_keys || !o->rp_vals || !(o->rp_keys[i] = strdup(e->string)))
            rc = cli_error(cmd, CLI_FAIL, "out of memory");
        else if (!(v >= 0 && v <= 1e6 && v == floor(v)))
            rc = cli_error(cmd, CLI_FAIL, "%s: \"%s\": the rank must be an integer >= 0", file, cli_safe(e->string));
        else if (lsc_pattern_compile(&p, e->string, &err) != LSC_OK)
            rc = cli_error(cmd, CLI_FAIL, "%s: %s", file, err.msg);
        else
            o->rp_vals[i] = (int)v;
        lsc_pattern_free(p);
    }
    cJSON_Delete(root);
    o->lc.n_pattern = rc == CLI_OK ? cnt : 0;
    o->lc.pattern_keys = (const char *const *)o->rp_keys;
    o->lc.pattern_vals = o->rp_vals;
    return rc;
}

/* The adapter of a fine-tuning run into o->lc (ranks per target, alpha,
 * dropout, rslora, init), checked; with --full, that none was asked for. */
static int parse_adapter(const cli_opt *opts, training_opts *o)
{
    const char *cmd = o->cmd;
    const lsc_lora_config *lc = &o->lc;
    if (o->full) {
        if (cli_get(opts, "targets") || cli_get(opts, "rank-pattern") || cli_get(opts, "rank") || o->save_init ||
            o->save_every)
            return cli_error(cmd, CLI_USAGE, "--full trains every weight: no --targets, --rank, --rank-pattern, "
                                             "--save-init or --save-every");
        return CLI_OK;
    }
    if (lc->init < 0)
        return cli_error(cmd, CLI_USAGE, "--init must be kaiming or gaussian (got '%s')", o->init);
    if (o->rank <= 0)
        return cli_error(cmd, CLI_USAGE, "--rank must be >= 1 (got %ld)", o->rank);
    if (!(lc->alpha > 0))
        return cli_error(cmd, CLI_USAGE, "--alpha must be > 0");
    if (!(lc->dropout >= 0 && lc->dropout < 1))
        return cli_error(cmd, CLI_USAGE, "--dropout must be in [0, 1)");
    const char *pattern = cli_get(opts, "rank-pattern");
    o->rank_file = cli_get(opts, "rank-pattern-file");
    const char *targets = cli_get(opts, "targets") ? cli_get(opts, "targets")
                                                   : pattern || o->rank_file ? NULL : "q,v";
    int rc = parse_targets(cmd, targets, o->rank, pattern, o->lc.rank, o->rank_file != NULL);
    return rc == CLI_OK && o->rank_file ? read_rank_file(cmd, o->rank_file, o) : rc;
}

/* train --base: the task, the adapter and the optimisation options. The
 * ranks and --lora-layers are checked against the base once it is loaded. */
static int parse_finetune(const cli_opt *opts, training_opts *o)
{
    const char *cmd = o->cmd;
    int bad = 0, rc;
    o->kind = TRAINING_FINETUNE;
    if (cli_get(opts, "layers") || cli_get(opts, "heads") || cli_get(opts, "embd") || cli_get(opts, "vocab") ||
        cli_flag(opts, "json"))
        return cli_error(cmd, CLI_USAGE, "--layers/--heads/--embd/--vocab/--json belong to --synthetic; "
                                         "the shape comes from --base");
    o->base = cli_get(opts, "base");
    o->out = cli_get(opts, "output");
    o->task = cli_get(opts, "task") ? cli_get(opts, "task") : "lm";
    if (!o->base)
        return cli_error(cmd, CLI_USAGE, "missing --base BASE.safetensors");
    if (!o->out)
        return cli_error(cmd, CLI_USAGE, "missing -o OUT (the output directory)");
    o->is_ss = strcmp(o->task, "supersense") == 0;
    if (!o->is_ss && strcmp(o->task, "lm") != 0)
        return cli_error(cmd, CLI_USAGE, "unknown task '%s' (lm or supersense)", o->task);
    const char *fmt = cli_get(opts, "format");
    if ((o->alpaca = fmt && strcmp(fmt, "alpaca") == 0)) {
        if (o->is_ss)
            return cli_error(cmd, CLI_USAGE, "--format alpaca trains on --data FILE.json records, not --task supersense");
        o->task = "alpaca";
    }
    o->full = cli_flag(opts, "full");
    o->rank = cli_long(opts, "rank", 8, &bad);
    o->lc.alpha = cli_double(opts, "alpha", 16.0, &bad);
    o->lc.dropout = cli_double(opts, "dropout", 0.0, &bad);
    o->lc.rslora = cli_flag(opts, "rslora");
    o->init = cli_get(opts, "init") ? cli_get(opts, "init") : "kaiming";
    o->lc.init = strcmp(o->init, "kaiming") == 0    ? LSC_LORA_INIT_KAIMING
                 : strcmp(o->init, "gaussian") == 0 ? LSC_LORA_INIT_GAUSSIAN : -1;
    training_parse_eval(opts, &o->eval_sample, &o->eval_seed, &o->eval_dev, &bad);
    o->save_init = cli_get(opts, "save-init");
    o->save_every = cli_long(opts, "save-every", 0, &bad);   /* snapshots (issue 16) */
    lsc_train_config *tc = &o->tc;
    lsc_train_config_default(tc);
    tc->steps = 1000;
    tc->B = 16;
    tc->opt.lr = o->full ? 1e-3 : 1e-2;
    tc->opt.min_lr_frac = 0.1;
    tc->opt.weight_decay = 0.0;
    tc->opt.grad_clip = 1.0;
    tc->eval_batches = 16;
    training_parse_run_opts(opts, 1, o, &bad);
    if (bad)
        return cli_error(cmd, CLI_USAGE, "bad option value");
    if (tc->steps < 1 || tc->B < 1 || tc->opt.warmup < 0 || tc->eval_every < 0 || tc->eval_batches < 0 ||
        tc->ckpt_every < 0 || o->save_every < 0)
        return cli_error(cmd, CLI_USAGE, "--steps and --batch must be >= 1; --warmup, --eval-every, --ckpt-every, "
                                         "--eval-batches, --save-every >= 0");
    if (!(tc->opt.lr > 0) || !isfinite(tc->opt.lr))
        return cli_error(cmd, CLI_USAGE, "--lr must be a positive number");
    if ((rc = parse_adapter(opts, o)) != CLI_OK)
        return rc;
    return training_parse_quant(cmd, opts, o->full, &o->qo, &o->quant);   /* QLoRA (issue 6) */
}

// ---- entry ----

int cmd_train(int argc, char **argv)
{
    const char *cmd = "train";
    cli_opt opts[] = {{"output", 1, NULL}, {"base", 1, NULL}, {"task", 1, NULL}, {"targets", 1, NULL},
                      {"rank", 1, NULL}, {"alpha", 1, NULL}, {"rank-pattern", 1, NULL}, {"rslora", 0, NULL},
                      {"rank-pattern-file", 1, NULL},
                      {"dropout", 1, NULL}, {"init", 1, NULL}, {"lora-layers", 1, NULL}, {"steps", 1, NULL},
                      {"batch", 1, NULL}, {"ctx", 1, NULL}, {"lr", 1, NULL}, {"warmup", 1, NULL},
                      {"schedule", 1, NULL}, {"weight-decay", 1, NULL}, {"clip", 1, NULL}, {"seed", 1, NULL},
                      {"threads", 1, NULL}, {"eval-every", 1, NULL}, {"eval-batches", 1, NULL},
                      {"ckpt-every", 1, NULL}, {"full", 0, NULL}, {"resume", 0, NULL}, {"stop-at", 1, NULL},
                      {"quiet", 0, NULL}, {"data", 1, NULL}, {"valid", 1, NULL}, {"task-file", 1, NULL},
                      {"task-dev", 1, NULL}, {"task-test", 1, NULL}, {"eval-sample", 1, NULL},
                      {"eval-seed", 1, NULL}, {"eval-dev", 0, NULL}, {"synthetic", 0, NULL},
                      {"layers", 1, NULL}, {"heads", 1, NULL}, {"embd", 1, NULL}, {"vocab", 1, NULL},
                      {"json", 0, NULL}, {"log", 1, NULL}, {"quant", 1, NULL}, {"blocksize", 1, NULL},
                      {"double-quant", 0, NULL}, {"no-double-quant", 0, NULL}, {"quant-targets", 1, NULL},
                      {"save-init", 1, NULL}, {"save-every", 1, NULL}, {"tokenizer", 1, NULL}, {"format", 1, NULL},
                      {"micro-batches", 1, NULL}, {"dp-reduce", 1, NULL},
                      {"help", 0, NULL}, {NULL, 0, NULL}};   /* quant..quant-targets: QLoRA (issue 6) */
    const char *pos[1];
    int npos, help;
    int rc = ana_parse_args(cmd, TRAIN_USAGE, argc, argv, opts, pos, 0, &npos, &help);
    if (rc != CLI_OK || help)
        return rc;
    training_opts o;
    memset(&o, 0, sizeof o);
    o.cmd = cmd;
    o.opts = opts;
    rc = cli_flag(opts, "synthetic") ? parse_synthetic(opts, &o) : parse_finetune(opts, &o);
    if (rc == CLI_OK)
        rc = run_training(&o);
    for (int i = 0; o.rp_keys && o.rp_keys[i]; i++)
        free(o.rp_keys[i]);
    free(o.rp_keys);
    free(o.rp_vals);
    return rc;
}
