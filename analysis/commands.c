/*
 * commands.c — the table of lorascope subcommands (declared in commands.h).
 * Only the table lives here: main.c dispatches through it, and the man
 * page and the bash completion are generated from the help texts of the
 * commands it lists.
 */
#include <string.h>

#include "commands.h"

const command commands[] = {
    {"inspect",  cmd_inspect,  "list tensors and LoRA modules of an adapter or safetensors file", 0},
    {"quantize", cmd_quantize, "quantise a model's linear weights to NF4 (QLoRA, bitsandbytes layout)", 0},
    {"dequantize", cmd_dequantize, "turn an NF4 model back into fp32 weights deq(Q(W))", 0},
    {"spectrum", cmd_spectrum, "singular values of every module's dW = s·B·A -> HDF5 (+ plots)", 0},
    {"subspace", cmd_subspace, "subspace similarity phi(i, j) of two adapters (LoRA paper Fig. 3-4)", 0},
    {"compare",  cmd_compare,  "N adapters: N x N subspace similarity, Grassmann distance, angles -> HDF5", 0},
    {"bench",    cmd_bench,    "micro-benchmarks of make bench: sgemm, lowrank, phi, table7, model", 0},
    {"collect",  cmd_collect,  "build a study's HDF5 file from its runs and analyses (experiments/)", 0},
    {"regress",  cmd_regress,  "compare a results directory's metrics with a committed baseline", 0},
    {"amplify",  cmd_amplify,  "dW vs W: projections and amplification factor (LoRA paper Table 7)", 0},
    {"deltaspec", cmd_deltaspec, "singular spectrum of W_ft - W_0 of a full fine-tuning run -> HDF5", 0},
    {"resize",   cmd_resize,   "best rank-K approximation of each module of an adapter (--rank/--energy/--sv-ratio)", 0},
    {"combine",  cmd_combine,  "weighted sum of adapters on one base (exact, or --rank K) + their interference", 0},
    {"recommend-ranks", cmd_recommend, "rank per module for an energy threshold, as a rank_pattern JSON (+ plot)", 0},
    {"extract",  cmd_extract,  "best rank-R approximation of W_ft - W_0 as a PEFT adapter (+ errors)", 0},
    {"report",   cmd_report,   "self-contained HTML + Markdown report of a results directory", 0},
    {"pretrain", cmd_pretrain, "train a base GPT on the corpus (profiles tiny, quick, paper)", 1},
    {"train",    cmd_train,    "train a LoRA adapter (or --full) on a task; --synthetic benchmarks", 1},
    {"eval",     cmd_eval,     "validation loss, perplexity, supersense accuracy vs baselines", 0},
    {"merge",    cmd_merge,    "merge an adapter into its base (W0 + s·B·A), or --unmerge", 0},
    {"generate", cmd_generate, "sample text from a base model with an optional adapter", 0},
    {"trajectory", cmd_trajectory, "a training run's snapshots (train --save-every): norm, rank, phi per step", 0},
    {"quanterr", cmd_quanterr, "QLoRA: does the adapter learn the NF4 error E = W - deq(Q(W))? -> HDF5", 0},
    {"intruders", cmd_intruders, "intruder dimensions of W0 + dW vs W0 (LoRA vs full fine-tuning) -> HDF5", 0},
    {"diagnose", cmd_diagnose, "spectral diagnostics: spike share, stable/effective rank, power-law alpha of W, dW, W+dW -> HDF5", 0},
    {"sweep",    cmd_sweep,    "the studies of make reproduce with their runs spread over MPI ranks", 1},
};

const size_t n_commands = sizeof commands / sizeof commands[0];

const command *command_find(const char *name)
{
    for (size_t i = 0; i < n_commands; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}
