/*
 * pretrain.c — `lorascope pretrain`: a byte-level GPT base model trained
 * from random init on the corpus (profiles tiny, quick, paper), written as
 * safetensors with its train log and checkpoint beside it.
 *
 * Only the options live here: the profile, the shape and the checks; the
 * run (data, checkpoints, progress, outputs) is training.c's run_training,
 * the same path `train` takes.
 *
 * Vocabulary: L layers, NH heads, C channels, T context, B batch rows.
 */
#include <stdio.h>
#include <string.h>

#include "analysis_common.h"
#include "commands.h"
#include "training.h"

// ---- help ----

static const char *PRETRAIN_USAGE =
    "usage: lorascope pretrain -o BASE.safetensors [--profile tiny|quick|paper]\n"
    "         [--arch gpt|llama [--kv-heads NKV --ffn F --rope-theta X]]\n"
    "         [--layers L --heads NH --embd C --ctx T] [--steps N --batch B --lr LR --warmup K]\n"
    "         [--schedule cosine|linear|constant --weight-decay WD --clip G --seed S]\n"
    "         [--eval-every K --eval-batches N --ckpt-every K --threads P]\n"
    "         [--data FILE [--valid FILE]] [--resume] [--stop-at STEP] [--quiet]\n"
    "         [--micro-batches K] [--dp-reduce ordered|allreduce]\n"
    "\n"
    "Trains a byte-level base model (every weight trainable) and writes it as\n"
    "safetensors, with BASE.train_log.h5 (loss per step, validation loss at\n"
    "intervals, config, wall time, and the baselines unigram_xent and bigram_xent: the\n"
    "cross-entropy of the validation bytes under add-one-smoothed byte unigram and\n"
    "bigram models of the training bytes) and BASE.train_state.safetensors (the\n"
    "checkpoint that --resume continues from, bit for bit).\n"
    "\n"
    "profiles (options given explicitly override them):\n"
    "  tiny   L2 NH2 C48  ctx64,  batch 8,  400 steps, lr 3e-3  seconds; data/fixtures/tiny.txt\n"
    "  quick  L4 NH4 C128 ctx128, batch 16, 1200 steps, lr 2e-3 a few minutes on 2 cores (default)\n"
    "  paper  L2 NH8 C512 ctx128, batch 16, 17000 steps, lr 1e-3 the base of the paper-style\n"
    "         studies (d = 512, so r = 64 is d/8); about 2.5 h on 2 threads (0.53 s a step)\n"
    "  all: warm-up 5% of the steps, cosine decay to 10% of lr, weight decay 0.1 on 2-D\n"
    "  weights, clipping at norm 1, validation every 10% of the steps on 16 fixed batches.\n"
    "\n"
    "--arch llama: the Llama family instead of the GPT (RMSNorm, rotary positions in\n"
    "Hugging Face's rotate_half layout, SwiGLU MLP of width F (default floor(8C/3)\n"
    "rounded up to 32), grouped-query attention with NKV key/value heads (default NH),\n"
    "RoPE theta X (default 10000), tied embeddings), same profile shapes otherwise;\n"
    "its tensors carry Hugging Face names (model.layers.N.self_attn.q_proj.weight).\n"
    "\n"
    "data: data/corpus/pretrain_train.txt and pretrain_valid.txt (from `make data`);\n"
    "--data FILE uses FILE split 90/10 at a paragraph boundary (or --valid FILE).\n"
    "--stop-at STEP stops after STEP steps leaving the checkpoint (Ctrl-C does too);\n"
    "run again with the same options and --resume to continue. --log FILE moves the log.\n"
    "--threads P: OpenBLAS and OpenMP threads (default $OMP_NUM_THREADS, else all cores, shared among\n"
    "the MPI ranks of a node). mpirun -np N lorascope pretrain ... trains data-parallel (a build with\n"
    "MPI): --micro-batches K and --dp-reduce ordered|allreduce as in `lorascope train --help`.\n"
    "\n"
    "example:\n"
    "  lorascope pretrain --profile quick -o base.safetensors\n";

// ---- entry ----

int cmd_pretrain(int argc, char **argv)
{
    const char *cmd = "pretrain";
    cli_opt opts[] = {{"output", 1, NULL}, {"profile", 1, NULL}, {"layers", 1, NULL}, {"heads", 1, NULL},
                      {"embd", 1, NULL}, {"ctx", 1, NULL}, {"steps", 1, NULL}, {"batch", 1, NULL},
                      {"lr", 1, NULL}, {"warmup", 1, NULL}, {"schedule", 1, NULL}, {"weight-decay", 1, NULL},
                      {"clip", 1, NULL}, {"seed", 1, NULL}, {"eval-every", 1, NULL}, {"eval-batches", 1, NULL},
                      {"ckpt-every", 1, NULL}, {"threads", 1, NULL}, {"data", 1, NULL}, {"valid", 1, NULL},
                      {"resume", 0, NULL}, {"stop-at", 1, NULL}, {"quiet", 0, NULL}, {"log", 1, NULL},
                      {"arch", 1, NULL}, {"kv-heads", 1, NULL}, {"ffn", 1, NULL}, {"rope-theta", 1, NULL},
                      {"micro-batches", 1, NULL}, {"dp-reduce", 1, NULL},
                      {"help", 0, NULL}, {NULL, 0, NULL}};
    const char *pos[1];
    int npos, help, bad = 0;
    int rc = ana_parse_args(cmd, PRETRAIN_USAGE, argc, argv, opts, pos, 0, &npos, &help);
    if (rc != CLI_OK || help)
        return rc;
    training_opts o;
    memset(&o, 0, sizeof o);
    o.cmd = cmd;
    o.kind = TRAINING_PRETRAIN;
    o.opts = opts;
    o.full = 1;
    if (!(o.out = cli_get(opts, "output")))
        return cli_error(cmd, CLI_USAGE, "missing -o BASE.safetensors");
    o.profile = cli_get(opts, "profile") ? cli_get(opts, "profile") : "quick";
    if (lsc_pretrain_profile(o.profile, &o.mc, &o.tc) != LSC_OK)
        return cli_error(cmd, CLI_USAGE, "unknown profile '%s' (tiny, quick or paper)", o.profile);
    o.mc.n_layer = (int)cli_long(opts, "layers", o.mc.n_layer, &bad);
    o.mc.n_head = (int)cli_long(opts, "heads", o.mc.n_head, &bad);
    o.mc.n_embd = (int)cli_long(opts, "embd", o.mc.n_embd, &bad);
    o.mc.n_ctx = (int)cli_long(opts, "ctx", o.mc.n_ctx, &bad);
    if (cli_get(opts, "arch") && (o.mc.arch = lsc_arch_parse(cli_get(opts, "arch"))) < 0)
        return cli_error(cmd, CLI_USAGE, "unknown --arch '%s' (gpt or llama)", cli_get(opts, "arch"));
    if (o.mc.arch != LSC_ARCH_LLAMA && (cli_get(opts, "kv-heads") || cli_get(opts, "ffn") || cli_get(opts, "rope-theta")))
        return cli_error(cmd, CLI_USAGE, "--kv-heads, --ffn and --rope-theta need --arch llama");
    o.mc.n_kv_head = (int)cli_long(opts, "kv-heads", 0, &bad);
    o.mc.n_ff = (int)cli_long(opts, "ffn", 0, &bad);
    o.mc.rope_theta = (float)cli_double(opts, "rope-theta", 0.0, &bad);
    o.mc.rope_half = 1;   /* Hugging Face's layout: merge writes folders that transformers reads */
    o.tc.T = o.mc.n_ctx;
    /* the profile's warm-up and validation interval, unless --steps sets them */
    training_parse_run_opts(opts, cli_get(opts, "steps") != NULL, &o, &bad);
    if (bad)
        return cli_error(cmd, CLI_USAGE, "bad option value");
    const lsc_train_config *tc = &o.tc;
    if (tc->steps < 1 || tc->B < 1 || !(tc->opt.lr > 0) || tc->opt.warmup < 0 || tc->eval_batches < 0 ||
        tc->eval_every < 0 || tc->ckpt_every < 0)
        return cli_error(cmd, CLI_USAGE, "--steps, --batch and --lr must be positive; --warmup, --eval-every, "
                                         "--ckpt-every and --eval-batches >= 0");
    lsc_error err = {0};
    if (lsc_gpt_config_check(&o.mc, &err) != LSC_OK)
        return cli_error(cmd, CLI_USAGE, "%s", err.msg);
    return run_training(&o);
}
