/*
 * lsc_merge.h — merging a whole adapter, every mergeable kind, into a model
 * (merge_kinds.c).
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 */
#ifndef LSC_MERGE_H
#define LSC_MERGE_H

#include "lsc_error.h"
#include "lsc_model.h"
#include "lsc_peft.h"

// ---- merging every kind (merge_kinds.c) ----

/* What lsc_adapter_merge did: n[kind] modules merged per lsc_adapter_kind
 * (n[LSC_ADAPTER_FULL] the saved full tensors), the vocabulary before and
 * after (they differ when saved embed/head tensors add token rows), and
 * untied = 1 when a tied Llama head became a separate lm_head. */
typedef struct lsc_merge_summary {
    int n[LSC_ADAPTER_FULL + 1];
    int vocab_before, vocab_after;
    int untied;
} lsc_merge_summary;

/* Merges every module of ad into m (an NF4 model first becomes fp32 deq(W)):
 *   LORA       W += s·B·A                      (lsc_lora_merge)
 *   DORA       W += m ⊙ (W + s·B·A)/‖·‖_row − W  (lsc_dora_delta, W the base)
 *   EMBEDDING  table [V, C] += (s·B·A)ᵀ, PEFT's Embedding.get_delta_weight;
 *              a tied head (every GPT, a Llama without lm_head) changes with
 *              it, as in PEFT, where the two share one tensor
 *   FULL       the saved tensor replaces the model's of the same name
 *              (NAME.weight: "wte", "model.embed_tokens", "lm_head", ...),
 *              PEFT's modules_to_save. Embed/head tensors with more rows than
 *              the vocabulary add tokens: the model is rebuilt with the new
 *              vocab (config.vocab), every tensor copied. Tied heads: a saved
 *              embedding alone carries the head with it; a saved lm_head
 *              equal to the (merged) embedding keeps the tie; a different one
 *              unties a Llama (config.untied = 1, sum->untied) and is refused
 *              on a GPT, whose head is always wte.
 *   CONV       refused (LSC_EARG): conv LoRA is analysis-only.
 * sign -1 (unmerge: m holds the merged weights) subtracts LORA and
 * EMBEDDING updates; DORA and FULL cannot be undone and are refused.
 * Every check runs before m is changed. Errors, one line naming the
 * module: LSC_EARG a kind that cannot be merged; LSC_ENOTFOUND a name that
 * is no tensor of m; LSC_ESHAPE a shape that does not fit (both shapes;
 * rows beyond the vocabulary are the one allowed difference); LSC_ENAN
 * NaN/Inf in the adapter; LSC_ENOMEM. sum may be NULL. */
int lsc_adapter_merge(lsc_gpt *m, const lsc_adapter *ad, int sign, lsc_merge_summary *sum,
                      lsc_error *err);

#endif /* LSC_MERGE_H */
