/*
 * main.c — the lorascope program: git-style dispatch to the subcommands.
 * Each subcommand lives in its own file under analysis/ and is registered
 * in the table below. This file parses nothing itself.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_inspect(int argc, char **argv);
int cmd_quanterr(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_collect(int argc, char **argv);
int cmd_regress(int argc, char **argv);
int cmd_deltaspec(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_spectrum(int argc, char **argv);
int cmd_subspace(int argc, char **argv);
int cmd_amplify(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_dequantize(int argc, char **argv);

static const struct {
    const char *name;
    cli_cmd_fn  fn;
    const char *summary;
} commands[] = {
    {"inspect",  cmd_inspect,  "list tensors and LoRA modules of an adapter or safetensors file"},
    {"quantize", cmd_quantize, "quantise a model's linear weights to NF4 (QLoRA, bitsandbytes layout)"},
    {"dequantize", cmd_dequantize, "turn an NF4 model back into fp32 weights deq(Q(W))"},
    {"spectrum", cmd_spectrum, "singular values of every module's dW = s·B·A -> HDF5 (+ plots)"},
    {"subspace", cmd_subspace, "subspace similarity phi(i, j) of two adapters (LoRA paper Fig. 3-4)"},
    {"bench",    cmd_bench,    "micro-benchmarks of make bench: sgemm, lowrank, phi, table7, model"},
    {"collect",  cmd_collect,  "build a study's HDF5 file from its runs and analyses (experiments/)"},
    {"regress",  cmd_regress,  "compare a results directory's metrics with a committed baseline"},
    {"amplify",  cmd_amplify,  "dW vs W: projections and amplification factor (LoRA paper Table 7)"},
    {"deltaspec", cmd_deltaspec, "singular spectrum of W_ft - W_0 of a full fine-tuning run -> HDF5"},
    {"report",   cmd_report,   "self-contained HTML + Markdown report of a results directory"},
    {"pretrain", cmd_pretrain, "train a base GPT on the corpus (profiles tiny, quick, paper)"},
    {"train",    cmd_train,    "train a LoRA adapter (or --full) on a task; --synthetic benchmarks"},
    {"eval",     cmd_eval,     "validation loss, perplexity, supersense accuracy vs baselines"},
    {"merge",    cmd_merge,    "merge an adapter into its base (W0 + s·B·A), or --unmerge"},
    {"generate", cmd_generate, "sample text from a base model with an optional adapter"},
    {"quanterr", cmd_quanterr, "QLoRA: does the adapter learn the NF4 error E = W - deq(Q(W))? -> HDF5"},
    /* COMMANDS-END (one line per subcommand above this marker) */
};

static void usage(FILE *fp)
{
    fprintf(fp, "usage: lorascope <command> [options]   (lorascope <command> --help)\n\n"
                "lorascope %s — train LoRA adapters and analyse what they learn.\n\ncommands:\n",
            LSC_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(fp, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(fp, "  %-10s %s\n", "help", "this list");
    fprintf(fp, "\nExit status: 0 ok, 1 failure, 2 usage error.\n");
}

int main(int argc, char **argv)
{
    cli_set_command_line(argc, argv);
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        if (argc > 2) {
            char *hargv[] = {argv[2], "--help", NULL};
            for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
                if (strcmp(commands[i].name, argv[2]) == 0)
                    return commands[i].fn(2, hargv);
        }
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("lorascope %s\n", LSC_VERSION);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, cmd) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "lorascope: unknown command '%s'\n", cmd);
    usage(stderr);
    return CLI_USAGE;
}
