/*
 * lsc_data.h — data: corpus and tasks (data.c).
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 */
#ifndef LSC_DATA_H
#define LSC_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "lsc_model.h"
#include "lsc_tokenizer.h"
#include "lsc_train.h"

// ---- data: corpus and tasks (data.c) ----
/* Byte-level data for the GPT: a token is a byte, V = 256, no tokenizer.
 * data/fetch.sh builds the real files (data/corpus/pretrain_{train,valid}.txt,
 * data/tasks/supersense_{train,dev,test}.tsv; see data/SOURCES.md); unit tests
 * use data/fixtures/tiny.txt and data/fixtures/supersense_tiny.tsv.
 * Every batch function draws its randomness from the caller's rng only, so
 * the same seed gives the same batches on every machine.
 *
 * Task prompt format (supersense and any word<TAB>label task): item i is the
 * bytes   word TAB label LF   ("aardwolf\tanimal\n"); the prompt is
 * "word\t" and the expected completion "label\n". Evaluation feeds the
 * prompt alone from position 0 and decodes greedily until LF (at most
 * max_label + 1 bytes); fine-tuning rows pack whole items back to back from
 * position 0 and compute the loss only where the target is a label byte or
 * its LF. */

#define LSC_BYTE_VOCAB 256

typedef struct lsc_corpus {
    char    *path;    /* file it was read from, or the caller's name */
    uint8_t *bytes;   /* (n) the text; token t = bytes[t] */
    size_t   n;
} lsc_corpus;

/* Reads a whole file as byte tokens (at least 2 bytes, else LSC_EFORMAT).
 * *c owns its buffers; free with lsc_corpus_free (safe after a failed load,
 * and twice). */
int  lsc_corpus_load(lsc_corpus *c, const char *path, lsc_error *err);
/* A corpus holding a copy of bytes[n] (n >= 2); name is copied. */
int  lsc_corpus_from_bytes(lsc_corpus *c, const void *bytes, size_t n,
                           const char *name, lsc_error *err);
void lsc_corpus_free(lsc_corpus *c);
/* The split data/fetch.sh applies to each source: the cut is the first
 * paragraph boundary "\n\n" starting at or after byte floor(n·(100 -
 * valid_percent)/100) - 1 (else the first "\n" there); train = bytes up to
 * and including the first LF of the boundary, valid = the bytes after it.
 * Two new corpora named "<path>[train]" / "<path>[valid]"; the caller frees
 * both. LSC_EARG for valid_percent outside 1..99 or no boundary. */
int  lsc_corpus_split(const lsc_corpus *c, int valid_percent, lsc_corpus *train,
                      lsc_corpus *valid, lsc_error *err);
/* lsc_batch_fn, ctx = const lsc_corpus *: each row b is a window of T+1
 * bytes starting at o = lsc_rng_u64(rng) % (n - T) (one draw per row):
 * inputs[b,t] = bytes[o+t], targets[b,t] = bytes[o+t+1], mask 1.
 * LSC_EARG when n < T + 1 or an argument is bad. */
int  lsc_corpus_batch(void *ctx, int B, int T, int *inputs, int *targets,
                      float *mask, uint64_t *rng, lsc_error *err);
/* Deterministic evaluation: window i (0 <= i < lsc_corpus_n_windows)
 * starts at byte i·T, so every byte 1..n-1 is a target exactly once; the
 * last window is padded (input/target 0, mask 0) past the end. Fills one
 * row inputs/targets/mask (T). */
size_t lsc_corpus_n_windows(const lsc_corpus *c, int T);
void   lsc_corpus_window(const lsc_corpus *c, size_t i, int T, int *inputs,
                         int *targets, float *mask);
/* Cross-entropy (nats per byte) of eval's next bytes (1..n-1) under train's
 * add-one-smoothed byte unigram distribution: the loss of a model that
 * ignores context. eval == train gives about the entropy of the text. */
double lsc_corpus_unigram_xent(const lsc_corpus *train, const lsc_corpus *eval);
/* The same under train's add-one-smoothed byte bigram model: p(b | a) =
 * (count(a b) + 1) / (count(a ·) + 256) over train's consecutive pairs,
 * each of eval's bytes 1..n-1 predicted from the byte before it; *xent in
 * nats per byte (0 when eval has fewer than 2 bytes). LSC_ENOMEM only. */
int    lsc_corpus_bigram_xent(const lsc_corpus *train, const lsc_corpus *eval, double *xent,
                              lsc_error *err);

/* Random tokens for throughput benchmarks (train --synthetic). */
typedef struct lsc_synthetic {
    int V;   /* vocabulary: tokens are uniform in [0, V) */
} lsc_synthetic;

/* lsc_batch_fn, ctx = const lsc_synthetic *: per row, T+1 tokens drawn as
 * lsc_rng_u32(rng) % V; inputs/targets are that window shifted by one,
 * mask 1 (the loss cannot fall below ln V). LSC_EARG for V < 1. */
int lsc_synthetic_batch(void *ctx, int B, int T, int *inputs, int *targets,
                        float *mask, uint64_t *rng, lsc_error *err);

/* A word<TAB>label classification task (the WordNet noun supersenses). */
typedef struct lsc_task {
    char  *path;          /* file it was read from (or "<path>[train]") */
    int    n;             /* items */
    char **words;         /* (n) NUL-terminated, owned */
    int   *labels;        /* (n) index into label_names */
    int    n_labels;
    char **label_names;   /* (n_labels) sorted by byte value, owned */
    int    max_word;      /* longest word, bytes */
    int    max_label;     /* longest label, bytes */
    int    max_example;   /* longest "word\tlabel\n", bytes */
    char **completions_;  /* (n_labels) "label\n" (internal) */
} lsc_task;

/* Reads a TSV of lines "word<TAB>label" (LF endings; the last LF may be
 * missing), in file order. Each line must have exactly one TAB, a
 * non-empty word and label of at most 1024 bytes without control bytes
 * (CR included); words must be unique. With labels_from == NULL the label
 * set is this file's distinct labels; otherwise it is labels_from's
 * (pass the training task when loading dev or test, so indices agree) and a
 * label outside it is an error. Errors name "path:line: problem"
 * (LSC_EFORMAT; LSC_EIO when unreadable). Free with lsc_task_free. */
int  lsc_task_load(lsc_task *t, const char *path, const lsc_task *labels_from,
                   lsc_error *err);
void lsc_task_free(lsc_task *t);
/* Index of a label name of len bytes, or -1. */
int  lsc_task_label_index(const lsc_task *t, const char *name, size_t len);
/* FNV-1a 32-bit (h = 0x811c9dc5; h ^= byte; h *= 0x01000193). */
uint32_t lsc_fnv1a32(const void *data, size_t n);
/* The split of a word (the rule of data/wordnet_supersense.py), by h =
 * fnv1a32(word) % 10: 0 → LSC_SPLIT_TEST (exactly the former validation
 * set), 1 → LSC_SPLIT_DEV, 2..9 → LSC_SPLIT_TRAIN. */
enum { LSC_SPLIT_TRAIN = 0, LSC_SPLIT_DEV = 1, LSC_SPLIT_TEST = 2 };
int  lsc_task_word_split(const char *word);
/* Splits t by that rule into three new tasks with t's label set, named
 * "<path>[train]", "[dev]", "[test]" (items keep their order; a part may be
 * empty). The caller frees all three (also zeroed on failure). */
int  lsc_task_split(const lsc_task *t, lsc_task *train, lsc_task *dev, lsc_task *test,
                    lsc_error *err);
/* A new task of t's items items[0..n) in that order, with t's label set
 * and path (the caller frees it). LSC_EARG for an item out of range. */
int  lsc_task_subset(const lsc_task *t, const int *items, int n, lsc_task *out, lsc_error *err);
/* The evaluation sample: k of the items 0..n-1 drawn without replacement,
 * written to idx (which must hold n ints) in increasing order; returns the
 * count. Rule: rng = lsc_rng_seed(seed); for j = 0..k-1: r = j +
 * lsc_rng_u64(rng) % (n - j), swap idx[j] and idx[r] (idx starting as the
 * identity; the first k steps of a Fisher-Yates shuffle); then idx[0..k)
 * is sorted. It depends on (seed, n) only, so runs with the same seed
 * score the same items whatever else differs. k <= 0 or k >= n: all n
 * items, 0..n-1. */
int  lsc_task_sample(int n, int k, uint64_t seed, int *idx);
/* lsc_batch_fn for fine-tuning, ctx = const lsc_task *: each row packs
 * items drawn uniformly with replacement (item = lsc_rng_u32(rng) % n)
 * back to back from position 0; the first draw that does not fit ends the
 * row, which is padded with LF (mask 0). mask[b,t] = 1 exactly where
 * targets[b,t] is a label byte or the LF after it. LSC_EARG when
 * T + 1 < max_example. */
int  lsc_task_batch(void *ctx, int B, int T, int *inputs, int *targets,
                    float *mask, uint64_t *rng, lsc_error *err);
/* The prompt "word\t" of item i as tokens; returns its length, or LSC_EARG
 * when cap is too small. */
int  lsc_task_prompt(const lsc_task *t, int i, int *tokens, int cap);
/* The expected completion "label\n" of item i (borrowed from t). */
const char *lsc_task_completion(const lsc_task *t, int i);
/* The label a decoded completion names: its bytes before the first LF (all
 * n bytes when there is none) compared exactly with the label names;
 * -1 when they name none. */
int  lsc_task_parse(const lsc_task *t, const char *text, size_t n);
/* Exact match: 1 when lsc_task_parse(text) is item i's label, else 0. */
int  lsc_task_score(const lsc_task *t, int i, const char *text, size_t n);

/* Non-neural reference accuracies on an evaluation task. */
typedef struct lsc_baselines {
    int    n_eval;
    int    majority_label;   /* most frequent training label (ties: lowest index) */
    double majority;         /* accuracy of always answering it */
    int    suffix_len;       /* k */
    double suffix;           /* accuracy of the suffix table */
    double suffix_seen;      /* fraction of eval words whose suffix occurs in train */
} lsc_baselines;

/* Both baselines fitted on train, scored on eval: the majority class, and a
 * table from the last suffix_len bytes of a word (the whole word when
 * shorter) to its most frequent training label (ties: lowest index),
 * falling back to the majority class for an unseen suffix. The two tasks
 * must share the label set (load eval with labels_from = train), else
 * LSC_EARG; suffix_len in 1..7. */
int lsc_task_baselines(const lsc_task *train, const lsc_task *eval,
                       int suffix_len, lsc_baselines *out, lsc_error *err);

// ---- data for tokenized bases: token corpora and Alpaca records (data_tok.c) ----
/* What the data above becomes for a base with its own vocabulary (a llama2.c
 * tokenizer.bin or GPT-2 BPE, lsc_tokenizer.h). tok == NULL everywhere means
 * byte tokens (V = 256), and then a token corpus gives exactly the batches
 * and windows of the byte corpus it came from.
 *
 *     lsc_tokens tk;                  // train --data corpus.txt with a tokenizer
 *     lsc_tokens_from_corpus(&tk, &corpus, &tok, &err);
 *     ... lsc_train_run(..., lsc_tokens_batch, &tk, ...) ...
 *     lsc_instruct d;                 // train --data x.json --format alpaca
 *     lsc_instruct_load(&d, "x.json", &tok, T + 1, &err);
 *     ... lsc_instruct_batch as the batch function, &d as its ctx ...
 */

typedef struct lsc_tokens {
    char  *path;   /* the corpus's path (copied) */
    int   *ids;    /* (n) token ids in [0, V) */
    size_t n;
    int    V;      /* tok's vocab_size, or 256 */
} lsc_tokens;

/* c's bytes encoded with tok: tok == NULL gives the bytes themselves (V =
 * 256, no BOS); otherwise BOS first when the vocabulary has one (llama2.c:
 * id 1; GPT-2: <|endoftext|>), no EOS. The text is encoded in chunks of
 * about 64 KiB, each ending just after a paragraph boundary "\n\n", so time
 * and memory stay linear in the corpus. A boundary changes nothing that
 * matters: llama2.c's dummy " " prefix is not added again inside the text
 * (a later chunk is encoded after the LF before it, whose tokens are then
 * dropped; llama2.c's LF is a byte token that never merges, so the ids are
 * exactly those of one whole encode), and with GPT-2 at most the
 * whitespace run at a boundary is split differently. Either way
 * lsc_tokenizer_decode(ids) == the corpus, byte for byte. A text without
 * "\n\n" is one chunk (the encoder is O(n log n) anyway). Free with
 * lsc_tokens_free (also after a failure, and twice). LSC_EARG when fewer
 * than 2 tokens result, LSC_ENOMEM. */
int  lsc_tokens_from_corpus(lsc_tokens *t, const lsc_corpus *c, const lsc_tokenizer *tok,
                            lsc_error *err);
void lsc_tokens_free(lsc_tokens *t);
/* lsc_batch_fn, ctx = const lsc_tokens *: lsc_corpus_batch's rule on ids
 * (one lsc_rng_u64 draw per row, o = draw % (n - T), mask 1). LSC_EARG when
 * n < T + 1 or an argument is bad. */
int  lsc_tokens_batch(void *ctx, int B, int T, int *inputs, int *targets, float *mask,
                      uint64_t *rng, lsc_error *err);
/* lsc_corpus_n_windows / lsc_corpus_window on ids: window i starts at
 * token i·T, every token 1..n-1 is a target once, the last one padded. */
size_t lsc_tokens_n_windows(const lsc_tokens *t, int T);
void   lsc_tokens_window(const lsc_tokens *t, size_t i, int T, int *inputs, int *targets,
                         float *mask);

/* The Alpaca prompt templates (lora-facts.md, "Alpaca instruction
 * template"; printf formats: instruction, then input). The response text
 * follows "### Response:" directly. */
#define LSC_ALPACA_PROMPT_INPUT \
    "Below is an instruction that describes a task, paired with an input that provides further " \
    "context. Write a response that appropriately completes the request.\n\n### Instruction:\n%s" \
    "\n\n### Input:\n%s\n\n### Response:"
#define LSC_ALPACA_PROMPT \
    "Below is an instruction that describes a task. Write a response that appropriately " \
    "completes the request.\n\n### Instruction:\n%s\n\n### Response:"

/* Instruction records rendered with the Alpaca template and tokenized. */
typedef struct lsc_instruct {
    char  *path;
    int    n;              /* records */
    int  **ids;            /* (n) per record: prompt + response token ids */
    int   *n_ids;          /* (n) */
    int   *n_prompt;       /* (n) how many of ids[i] are the prompt (no loss there) */
    int    max_len;        /* longest record, tokens */
    char **prompt_text;    /* (n) the rendered prompt (for generation) */
    char **output_text;    /* (n) the expected response, without EOS/LF */
    int    V;              /* tok's vocab_size, or 256 */
    int    end_id;         /* the token ending every record (EOS, or LF 10 for bytes); pads rows */
} lsc_instruct;

/* Reads path: a JSON array of objects, or JSON lines (first non-blank byte
 * not '['; one object per non-blank line). Each record has string fields
 * "instruction" and "output" and optionally "input" (missing, null or "" =
 * the template without input); other keys are ignored. The prompt is the
 * template rendered (LSC_ALPACA_PROMPT_INPUT / LSC_ALPACA_PROMPT) and the
 * response is output, so the text is prompt + output.
 * Tokens: tok == NULL: the prompt's bytes, the output's bytes and LF 0x0A.
 * With a tokenizer: ids = encode(BOS + prompt + output) + EOS (BOS when the
 * vocabulary has one), i.e. the output is tokenized in context, with no
 * dummy-space prefix of its own (encoding it alone would make llama2.c put a
 * " " before it); n_prompt is the length of the common prefix of those ids
 * and encode(BOS + prompt) (the Alpaca and alpaca-lora rule): when a token
 * straddles the prompt/output boundary it counts as response. So a model
 * fed encode(BOS + prompt) at generation sees exactly its training prefix.
 * max_tokens >= 1: a longer record is an error; 0: no limit.
 * Errors (LSC_EFORMAT), one line "path: ..." naming the 1-based record and
 * the field: "record 3: field \"output\" is missing" / "... is not a
 * string", "record 5 is not an object", "bad JSON at line L, column C",
 * "empty file", "no records", "record 4 is 700 tokens, more than
 * max_tokens 512"; LSC_EIO, LSC_ENOMEM. Free with lsc_instruct_free (also
 * after a failure, and twice). */
int  lsc_instruct_load(lsc_instruct *d, const char *path, const lsc_tokenizer *tok,
                       int max_tokens, lsc_error *err);
void lsc_instruct_free(lsc_instruct *d);
/* lsc_batch_fn, ctx = const lsc_instruct *: lsc_task_batch's packing: each
 * row of T+1 tokens takes records drawn uniformly with replacement (record
 * = lsc_rng_u32(rng) % n) back to back from position 0; the first that does
 * not fit ends the row, which is padded with end_id (mask 0). mask[b,t] = 1
 * exactly where targets[b,t] is a response token (output tokens and the
 * final EOS/LF), 0 on prompt targets. LSC_EARG when T + 1 < max_len. */
int  lsc_instruct_batch(void *ctx, int B, int T, int *inputs, int *targets, float *mask,
                        uint64_t *rng, lsc_error *err);
/* The task in Alpaca form, a JSON array to path (atomically): per item
 * {"instruction":"Name the WordNet supersense of this noun.","input":word,
 * "output":label}, one record a line: "[\n" rec (",\n" rec)* "\n]\n"
 * ("[]\n" when empty), compact (cJSON's unformatted print: no spaces,
 * control bytes as \u00XX, other bytes as they are). These are the bytes of
 * data/supersense_alpaca.py. LSC_EIO, LSC_ENOMEM. */
#define LSC_SUPERSENSE_INSTRUCTION "Name the WordNet supersense of this noun."
int  lsc_task_write_alpaca(const lsc_task *t, const char *path, lsc_error *err);

#endif /* LSC_DATA_H */
