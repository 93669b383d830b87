/*
 * lsc_tokenizer.h — tokenizers for imported bases (tokenizer.c): llama2.c's
 * `tokenizer.bin` (sentencepiece pieces with merge scores) and GPT-2's
 * byte-level BPE (`encoder.json` + `vocab.bpe`), behind one small API.
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 *
 *     lsc_tokenizer tok;
 *     lsc_error err;
 *     int ids[64];
 *     size_t n_ids;
 *     if (lsc_tokenizer_load_llama2c(&tok, "tokenizer.bin", 32000, &err) != LSC_OK ||
 *         lsc_tokenizer_encode(&tok, "Hello world", 11, 1, 0, ids, 64, &n_ids, &err) != LSC_OK)
 *         ... err.msg ...                                   // ids = {1, 15043, 3186}
 *     lsc_tokenizer_free(&tok);
 */
#ifndef LSC_TOKENIZER_H
#define LSC_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "lsc_error.h"

enum lsc_tokenizer_kind {
    LSC_TOKENIZER_LLAMA2C = 1, /* llama2.c tokenizer.bin: run.c's encode/decode */
    LSC_TOKENIZER_GPT2    = 2, /* GPT-2 byte-level BPE */
};

/* Read-only after loading; one tokenizer may be used by several threads. */
typedef struct lsc_tokenizer {
    int kind;             /* enum lsc_tokenizer_kind */
    int vocab_size;       /* V */
    int bos_id, eos_id;   /* llama2.c: 1 and 2; GPT-2: <|endoftext|> for both (-1: none) */
    char **pieces;        /* (V) the raw bytes of each token, NUL-terminated (GPT-2: after the
                           * inverse byte map; llama2.c: as stored, "<0xXX>" for byte tokens) */
    int *piece_len;       /* (V) */
    float *scores;        /* (V) llama2.c merge scores; NULL for GPT-2 */
    int max_piece_len;    /* longest piece actually present (bytes) */
    int n_merges;         /* GPT-2: merge rules read from vocab.bpe */
    /* private to tokenizer.c */
    char *blob_;          /* every piece, back to back */
    int *index_;          /* open-addressed piece -> id table, index_cap_ slots, -1 empty */
    size_t index_cap_;
    uint64_t *pair_key_;  /* GPT-2 merges: (left id << 32 | right id) -> rank, merged id */
    int *pair_rank_, *pair_id_;
    size_t pair_cap_;
    int byte_id_[256];    /* GPT-2: the token of each single byte */
    unsigned char byte_pieces_[512]; /* llama2.c: byte b is byte_pieces_ + 2b, NUL-terminated */
} lsc_tokenizer;

/* llama2.c tokenizer.bin: int32 max_token_length, then per token float32
 * score, int32 length and the bytes. vocab_size > 0 must match the file
 * exactly (trailing bytes are an error); vocab_size == 0 reads tokens to the
 * end of the file. Fills *tok (free with lsc_tokenizer_free, also after a
 * failure). LSC_EIO, LSC_EFORMAT (truncated, bad length; the message names
 * the file and the token), LSC_ENOMEM, LSC_EARG. */
int lsc_tokenizer_load_llama2c(lsc_tokenizer *tok, const char *path, int vocab_size, lsc_error *err);

/* GPT-2 byte-level BPE: encoder.json (token string in GPT-2's byte-to-unicode
 * alphabet -> id, ids dense 0..V-1) and vocab.bpe (merges "a b", one a line,
 * in rank order; a first line "#version..." and blank lines skipped; every
 * merge result must be in encoder.json). Errors as above (bad JSON, a character
 * outside the byte alphabet, a merge line without a space, ...). */
int lsc_tokenizer_load_gpt2(lsc_tokenizer *tok, const char *encoder_json, const char *vocab_bpe,
                            lsc_error *err);

/* Frees what a load allocated; safe on a zeroed or failed tokenizer. */
void lsc_tokenizer_free(lsc_tokenizer *tok);

/* Encodes text[0..n) (bytes; a NUL is an ordinary byte) into ids[0..cap),
 * optionally with BOS first and EOS last; *n_ids is the count. cap >= n + 3
 * always suffices. When cap is too small: LSC_ESHAPE with *n_ids set to the
 * count needed and ids untouched. llama2.c: exactly run.c's encode (a dummy
 * " " prefix when n > 0, UTF-8 code points looked up whole with byte fallback
 * to 3 + byte, then the highest-scoring adjacent merge first, leftmost on a
 * tie). GPT-2: its pre-tokenisation regex, exact for ASCII; any byte >= 0x80
 * counts as a letter (an approximation of \p{L}: non-ASCII digits, spaces and
 * punctuation join letter runs), then BPE by merge rank. "<|endoftext|>" in
 * the text is plain text, not the special token. Allocates temporaries. */
int lsc_tokenizer_encode(const lsc_tokenizer *tok, const char *text, size_t n, int bos, int eos,
                         int *ids, size_t cap, size_t *n_ids, lsc_error *err);

/* The bytes id stands for after prev (run.c's decode for llama2.c: after BOS a
 * leading space is dropped, "<0xXX>" is the raw byte; GPT-2: the piece).
 * Points into tok (valid until lsc_tokenizer_free); *len is its length.
 * An id outside [0, V) gives "" . */
const char *lsc_tokenizer_decode_piece(const lsc_tokenizer *tok, int prev, int id, size_t *len);

/* Concatenates the pieces of ids[0..n) into out[0..cap) (NUL-terminated when
 * room is left); the BOS and EOS ids produce nothing. *n_out is the byte
 * count; LSC_ESHAPE with *n_out the size needed when cap is too small, LSC_EARG
 * for an id outside [0, V). decode(encode(x, bos=1)) == x for both kinds. */
int lsc_tokenizer_decode(const lsc_tokenizer *tok, const int *ids, size_t n, char *out, size_t cap,
                         size_t *n_out, lsc_error *err);

#endif /* LSC_TOKENIZER_H */
