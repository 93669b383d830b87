/*
 * lsc_instruct_eval.h — evaluation of Alpaca instruction records as a
 * classification over a label set (instruct_eval.c).
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 */
#ifndef LSC_INSTRUCT_EVAL_H
#define LSC_INSTRUCT_EVAL_H

#include "lsc_data.h"
#include "lsc_model.h"
#include "lsc_tokenizer.h"
#include "lsc_train.h"

// ---- instruction records as a classification task (instruct_eval.c) ----
/* A classification view of instruction records (lsc_instruct): the labels
 * are the distinct output_text of a reference set (the training records),
 * sorted by bytes; item i of the view is record i, its label the index of
 * its output. Scoring mirrors task_eval.c's word<TAB>label evaluation on
 * exactly the sequences training feeds:
 *
 *     lsc_instruct tr, te;  lsc_task ltr, lte;  // records and their views
 *     lsc_instruct_task(&ltr, &tr, NULL, &err);
 *     lsc_instruct_task(&lte, &te, &ltr, &err);
 *     lsc_instruct_eval_items(&m, &te, &lte, tok, items, n, &res, pred, rank_pred, NULL, &err);
 *
 * The candidate of record i and label l is what training would feed for
 * the record with output l (lsc_instruct_load's rule): tok == NULL: the
 * prompt's bytes, l's bytes and LF; else encode(BOS + prompt + l) + EOS,
 * its response = the tokens after the common prefix with encode(BOS +
 * prompt). */

/* The view *t of d (caller frees with lsc_task_free): t->n = d->n, words =
 * the rendered prompts (copied), labels = index of each output_text in the
 * label set, label_names = labels_from's (copied) or, when labels_from is
 * NULL, d's distinct outputs sorted by bytes; max_word/max_label/
 * max_example in bytes of prompt, label, prompt + label + LF. An output
 * outside labels_from's set: LSC_EFORMAT "path: record k: output \"x\" is
 * not a label of REF". LSC_EARG for no records; LSC_ENOMEM. */
int lsc_instruct_task(lsc_task *t, const lsc_instruct *d, const lsc_task *labels_from, lsc_error *err);

/* ll (n_items, t->n_labels): for item q = record items[q] of d and each
 * label l, the total log-likelihood of the candidate's response tokens
 * (teacher-forced, log-softmax in double from the logits). The candidates
 * of about 256 / L items go together through the key/value-cached step
 * forward (lsc_gpt_forward_step): per item the longest common prefix of its
 * L candidates is fed once and its keys/values copied to the other L - 1
 * cache rows, then every candidate's remaining tokens are fed in its own
 * row. Equals a full forward of each candidate alone up to float rounding.
 * tok must be the tokenizer d was loaded with (NULL: bytes). May
 * reallocate m's activations. LSC_EARG: no items, an item out of range, a
 * candidate longer than n_ctx + 1 tokens; LSC_ENOMEM. */
int lsc_instruct_label_ll(lsc_gpt *m, const lsc_instruct *d, const lsc_task *t, const lsc_tokenizer *tok,
                          const int *items, int n_items, double *ll, lsc_error *err);

/* The evaluation of records items[0..n_items) of d (view t): rank
 * prediction = argmax of the row of ll (ties: the lowest label index);
 * greedy exact match = decoding greedily after encode(BOS + prompt) (the
 * prompt's bytes without a tokenizer) until d->end_id or t->max_label + 1
 * new tokens, the decoded text (without the end token) compared with the
 * label names: pred = the label it equals exactly, -1 for none (without a
 * tokenizer read off the rank pass: l exactly when every byte of l and the
 * LF is the argmax of the logits before it, which is the same); label loss
 * = -(sum of the gold candidates' ll) / their response token count (end
 * token included). res gets the accuracies over the items; pred,
 * rank_pred (n_items) and label_ll (n_items, L) may be NULL. */
int lsc_instruct_eval_items(lsc_gpt *m, const lsc_instruct *d, const lsc_task *t, const lsc_tokenizer *tok,
                            const int *items, int n_items, lsc_task_eval_result *res, int *pred,
                            int *rank_pred, double *label_ll, lsc_error *err);

#endif /* LSC_INSTRUCT_EVAL_H */
