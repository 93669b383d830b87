/*
 * delta_pairs.h — the weight pairs (W_0, W_ft) of a full fine-tuning run,
 * as `deltaspec` and `extract` read them (delta_pairs.c): two safetensors
 * files or Hugging Face model folders (config.json and model.safetensors,
 * or shards behind model.safetensors.index.json; lsc_hf_open), in any
 * mix, every 2-D tensor of the base named "<module>.weight" with
 * <module> a LoRA module name of either architecture (lsc_lora_module_parse:
 * GPT "h.3.attn.q_proj", Llama "model.layers.3.self_attn.q_proj") whose
 * target is in --targets, matched by name and shape in the fine-tuned file.
 * Not a model loader (no llama2.c checkpoint, no architecture: only
 * matching names and shapes are needed) and no linear algebra.
 */
#ifndef LSC_DELTA_PAIRS_H
#define LSC_DELTA_PAIRS_H

#include "cli.h"

/* Every target name lsc_lora_target_parse knows (absent ones match nothing). */
#define ANA_DELTA_ALL_TARGETS "q,k,v,o,fc_in,fc_out,gate,up,down"

/* One side: a safetensors file, or a Hugging Face folder (is_dir). */
typedef struct ana_delta_side {
    int           is_dir;
    lsc_st_file   st;
    lsc_hf_folder hf;
} ana_delta_side;

/* The two sides, open. */
typedef struct ana_delta_files {
    const char *base, *ft;   /* paths as given (borrowed) */
    ana_delta_side b, f;
} ana_delta_files;

/* A --targets list whose every item lsc_lora_target_parse accepts: CLI_OK,
 * else CLI_USAGE after one line naming the item. */
int  ana_delta_targets_check(const char *cmd, const char *targets);
/* Opens both sides (*f cleared first, so ana_delta_close is always safe):
 * a directory as a Hugging Face folder, anything else as a safetensors
 * file. CLI_OK, or CLI_FAIL after one line naming the file. */
int  ana_delta_open(const char *cmd, ana_delta_files *f, const char *base, const char *ft);
void ana_delta_close(ana_delta_files *f);

/* One wanted pair: module name, base tensor tb, fine-tuned tensor tf (same
 * shape [d, k]). Returns CLI_OK to go on, anything else stops the walk. */
typedef int (*ana_delta_fn)(void *ctx, const char *module, const lsc_st_tensor *tb,
                            const lsc_st_tensor *tf);
/* Calls fn for each wanted pair in the base's tensor order; *n_mod = how
 * many returned CLI_OK. A missing partner or another shape: CLI_FAIL after
 * one line; none wanted at all: CLI_FAIL ("no weights of types ..."). */
int  ana_delta_each(const char *cmd, const ana_delta_files *f, const char *targets,
                    ana_delta_fn fn, void *ctx, int *n_mod);
/* W0 (d·k doubles) = tb, D (d·k) = tf − tb, row-major [d, k]. CLI_OK or
 * CLI_FAIL (printed). */
int  ana_delta_read(const char *cmd, const ana_delta_files *f, const lsc_st_tensor *tb,
                    const lsc_st_tensor *tf, double *W0, double *D);

#endif
