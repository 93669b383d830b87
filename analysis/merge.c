/*
 * merge.c — `lorascope merge`: the base model with an adapter merged in,
 * W0 + s·B·A for every adapted weight, written as safetensors (a Hugging
 * Face folder for a Llama-family model with --hf or a folder base); --unmerge
 * subtracts it again from a merged model. The folder changes in one step
 * (lib/model_hf.c lsc_gpt_save_hf). On an NF4 base the output is
 * fp32, deq(W_nf4) + s·B·A. Every mergeable kind (issue 14): LoRA, DoRA,
 * embedding LoRA, modules_to_save full tensors (added tokens grow the
 * vocabulary); conv LoRA is refused.
 *
 * Not here: the arithmetic (lib/merge_kinds.c lsc_adapter_merge, lib/lora.c
 * lsc_lora_merge / lsc_lora_unmerge) or the file format (lib/model.c,
 * lib/safetensors.c).
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "analysis_common.h"
#include "commands.h"
#include "training.h"

// ---- help ----

static const char *MERGE_USAGE =
    "usage: lorascope merge --base BASE --adapter DIR -o MERGED [--unmerge]\n"
    "         [--hf [--shard-size BYTES]] [--quant nf4 [--blocksize 64] [--no-double-quant] [--quant-targets T]]\n"
    "\n"
    "Writes the base model with the adapter merged in, W0 + s·B·A for every adapted\n"
    "weight (no extra latency at inference). With --unmerge, BASE is a merged model\n"
    "and the output is W0 = W - s·B·A (equal to the original up to float rounding).\n"
    "On an NF4 base (a file from `lorascope quantize`, or --quant nf4) the output is\n"
    "fp32: W = deq(W_nf4) + s·B·A, the weights the QLoRA adapter was trained with.\n"
    "\n"
    "Every kind of module is merged as PEFT merges it: LoRA W + s·B·A; DoRA\n"
    "m ⊙ (W + s·B·A)/‖W + s·B·A‖ (one norm per output row); embedding LoRA, the\n"
    "token table [V, C] + (s·B·A)ᵀ (a tied LM head changes with it); a saved full\n"
    "tensor (modules_to_save: embed_tokens, lm_head, wte, ...) replaces the base's.\n"
    "Saved embedding/head tensors with more rows than the vocabulary add tokens: the\n"
    "merged model's vocab_size grows (both must carry the new rows unless the head is\n"
    "tied). A saved lm_head on a tied model keeps the tie when it equals the token\n"
    "table; otherwise a Llama's head is untied (a separate lm_head) and a GPT's, always\n"
    "wte, is refused. Conv LoRA is analysis-only and refused. --unmerge subtracts LoRA\n"
    "and embedding LoRA only. The summary line counts the modules of each kind.\n"
    "\n"
    "BASE is a lorascope .safetensors file, a llama2.c .bin checkpoint or a Hugging\n"
    "Face model folder (config.json + model.safetensors or shards with an index).\n"
    "A Llama-family model is written as a Hugging Face folder MERGED (config.json and\n"
    "F32 safetensors, sharded into files of at most --shard-size BYTES, default 2 GiB,\n"
    "with model.safetensors.index.json) when the base is a folder or with --hf; the\n"
    "same command line reads that folder again as --base. The folder is written into a\n"
    "temporary sibling MERGED.tmp.XXXXXX and exchanged with the old one in one step (a\n"
    "kill or a full disk leaves the old folder whole); of the old folder's files, all but\n"
    "its weights, index and config.json (a tokenizer, say) are kept. Otherwise MERGED is\n"
    "one lorascope .safetensors file.\n"
    "\n"
    "example:\n"
    "  lorascope merge --base base.safetensors --adapter ad8 -o merged.safetensors\n";

// ---- summary ----

/* "wrote OUT: merged 5 modules of AD into BASE (LoRA 2, embedding LoRA 1,
 * full tensor 2; vocab 256 -> 260; lm_head untied)": kinds with 0 left out. */
static void print_summary(const char *out, const char *ad, const char *base, int unmerge,
                          const lsc_merge_summary *s)
{
    int total = 0;
    for (int k = 0; k <= LSC_ADAPTER_FULL; k++)
        total += s->n[k];
    printf("wrote %s: %s %d modules of %s %s %s (", out, unmerge ? "subtracted" : "merged", total, ad,
           unmerge ? "from" : "into", base);
    const char *sep = "";
    for (int k = 0; k <= LSC_ADAPTER_FULL; k++)
        if (s->n[k]) {
            printf("%s%s %d", sep, lsc_adapter_kind_name((lsc_adapter_kind)k), s->n[k]);
            sep = ", ";
        }
    if (s->vocab_after != s->vocab_before)
        printf("; vocab %d -> %d", s->vocab_before, s->vocab_after);
    if (s->untied)
        printf("; lm_head untied from the embedding");
    printf(")\n");
}

// ---- entry ----

int cmd_merge(int argc, char **argv)
{
    const char *cmd = "merge";
    cli_opt opts[] = {{"base", 1, NULL}, {"adapter", 1, NULL}, {"output", 1, NULL}, {"unmerge", 0, NULL},
                      {"quant", 1, NULL}, {"blocksize", 1, NULL}, {"double-quant", 0, NULL},
                      {"no-double-quant", 0, NULL}, {"quant-targets", 1, NULL}, {"hf", 0, NULL},
                      {"shard-size", 1, NULL}, {"help", 0, NULL},
                      {NULL, 0, NULL}};   /* quant..quant-targets: QLoRA (issue 6) */
    const char *pos[1];
    int npos, help;
    int rc = ana_parse_args(cmd, MERGE_USAGE, argc, argv, opts, pos, 0, &npos, &help);
    if (rc != CLI_OK || help)
        return rc;
    const char *base = cli_get(opts, "base"), *ad = cli_get(opts, "adapter"), *out = cli_get(opts, "output");
    if (!base || !ad || !out)
        return cli_error(cmd, CLI_USAGE, "needs --base BASE, --adapter DIR and -o MERGED");
    lsc_nf4_opts qo;   /* QLoRA (issue 6) */
    int quant;
    if ((rc = training_parse_quant(cmd, opts, 0, &qo, &quant)) != CLI_OK)
        return rc;
    struct stat sb;
    if (stat(base, &sb) != 0)
        return cli_error(cmd, CLI_FAIL, "%s: no such file", base);
    int bad = 0, hf = cli_flag(opts, "hf") || S_ISDIR(sb.st_mode);
    long shard = cli_long(opts, "shard-size", 2L << 30, &bad);
    if (bad || shard < 1)
        return cli_error(cmd, CLI_USAGE, "--shard-size must be a positive number of bytes");
    if (!ana_adapter_dir_ok(ad))
        return cli_error(cmd, CLI_FAIL, "%s: not an adapter directory", ad);
    lsc_error err = {0};
    lsc_gpt m;
    lsc_adapter a;
    lsc_merge_summary sum;
    memset(&a, 0, sizeof a);
    if ((quant ? lsc_gpt_load_nf4(&m, base, &qo, &err) : lsc_gpt_load(&m, base, &err)) != LSC_OK)
        return cli_lib_error(cmd, &err);
    ana_warn_ignored(cmd, &m, base);
    int unmerge = cli_flag(opts, "unmerge");
    if (lsc_adapter_load(&a, ad, &err) != LSC_OK || lsc_adapter_merge(&m, &a, unmerge ? -1 : 1, &sum, &err) != LSC_OK)
        goto fail;
    /* an earlier merge killed mid-write left OUT.tmp.XXXXXX (ours only) */
    training_clean_orphans((const char *const[]){out}, 1, 0);
    if ((hf ? lsc_gpt_save_hf(&m, out, (size_t)shard, &err) : lsc_gpt_save(&m, out, &err)) != LSC_OK)
        goto fail;
    print_summary(out, ad, base, unmerge, &sum);
    lsc_adapter_free(&a);
    lsc_gpt_free(&m);
    return CLI_OK;
fail:
    rc = cli_lib_error(cmd, &err);
    lsc_adapter_free(&a);
    lsc_gpt_free(&m);
    return rc;
}
