/*
 * surgery.h — what resize, combine and recommend-ranks share (surgery.c):
 * per-module rank_pattern / alpha_pattern keys that each match exactly one
 * module under PEFT's rule, the config of a built adapter (scale 1 for every
 * module: alpha = r), and publishing an adapter directory with its result
 * files in one step. Not library code: prints through cli.h.
 */
#ifndef LSC_SURGERY_H
#define LSC_SURGERY_H

#include "cli.h"

/* A key for module names[i] that, under PEFT's rule (lib/pattern.c),
 * matches names[i] and no other of the n names: the name itself, else the
 * name with regex metacharacters escaped, else that anchored with ^.
 * *key is malloc'd (caller frees). CLI_OK or CLI_FAIL (printed). */
int surg_unique_key(const char *cmd, int n, const char *const *names, int i, char **key);

/* The config of ad, whose modules are set (r, alpha = r, scaling 1):
 * r = lora_alpha = the most common rank (the smallest of equals), a
 * rank_pattern and alpha_pattern entry (surg_unique_key) for every module of
 * another rank, use_rslora off, target_modules / target_regex, dropout and
 * fan_in_fan_out copied from src (NULL: target_modules the last name parts),
 * base_model from src. Then checks that PEFT's rule gives every module its
 * r and alpha back. CLI_OK or CLI_FAIL (printed). */
int surg_config(const char *cmd, lsc_adapter *ad, const lsc_adapter *src);

/* Writes ad (lsc_adapter_save) and, through write_extra(ctx, tmpdir), the
 * result files into a temporary sibling of out, then puts it at out in one
 * step; nothing is left on failure. CLI_OK or CLI_FAIL (printed). */
int surg_publish(const char *cmd, const lsc_adapter *ad, const char *out,
                 int (*write_extra)(void *ctx, const char *dir), void *ctx);

/* Factors of a module to own: name copied, kind LORA, r = alpha = K,
 * scaling 1, A (K, k) and B (d, K) allocated (not filled). 0, or -1 when
 * out of memory (nothing printed: safe on a worker thread; what was
 * allocated is freed with the adapter). */
int surg_module_init(lsc_adapter_module *m, const char *name, int d, int k, int K);

/* One line and CLI_FAIL unless every module of ad (read from path) is a
 * plain LoRA Linear module: DoRA, embedding and conv LoRA and full tensors
 * (modules_to_save) are refused, naming the first. */
int surg_check_kinds(const char *cmd, const char *path, const lsc_adapter *ad);
#endif /* LSC_SURGERY_H */
