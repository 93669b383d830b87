/*
 * tokenizer.c — text <-> token ids for imported bases: llama2.c's
 * tokenizer.bin (sentencepiece pieces + scores, encoded exactly as run.c's
 * `encode`) and GPT-2's byte-level BPE (encoder.json + vocab.bpe).
 *
 * Not sentencepiece itself (no normalisation, no unigram sampling: run.c's
 * greedy score merging is the contract) and not a full Unicode regex engine:
 * GPT-2's pre-tokenisation is hand-coded, exact for ASCII, with every byte
 * >= 0x80 treated as a letter (see lsc_tokenizer.h).
 * Shapes: V vocabulary; n text bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "lsc_internal.h"
#include "lsc_tokenizer.h"

// ---- the piece index (open addressing, FNV-1a) ----

LSC_WRAPS static uint32_t hash_bytes(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* The id of the piece s[0..n), -1 if none (the lowest id among duplicates). */
static int piece_lookup(const lsc_tokenizer *tok, const char *s, size_t n)
{
    size_t mask = tok->index_cap_ - 1;
    for (size_t k = hash_bytes(s, n) & mask;; k = (k + 1) & mask) {
        int id = tok->index_[k];
        if (id < 0)
            return -1;
        if ((size_t)tok->piece_len[id] == n && memcmp(tok->pieces[id], s, n) == 0)
            return id;
    }
}

static int index_build(lsc_tokenizer *tok, const char *path, lsc_error *err)
{
    size_t cap = 16;
    while (cap < 2 * (size_t)tok->vocab_size)
        cap *= 2;
    tok->index_ = LSC_MALLOC(cap * sizeof *tok->index_);
    if (!tok->index_)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory for the token index", path);
    tok->index_cap_ = cap;
    for (size_t k = 0; k < cap; k++)
        tok->index_[k] = -1;
    for (int id = 0; id < tok->vocab_size; id++) {
        const char *s = tok->pieces[id];
        size_t n = (size_t)tok->piece_len[id];
        if (piece_lookup(tok, s, n) >= 0)
            continue; /* a duplicate piece: the first id keeps it */
        size_t k = hash_bytes(s, n) & (cap - 1);
        while (tok->index_[k] >= 0)
            k = (k + 1) & (cap - 1);
        tok->index_[k] = id;
    }
    return LSC_OK;
}

void lsc_tokenizer_free(lsc_tokenizer *tok)
{
    if (!tok)
        return;
    LSC_FREE(tok->pieces);
    LSC_FREE(tok->piece_len);
    LSC_FREE(tok->scores);
    LSC_FREE(tok->blob_);
    LSC_FREE(tok->index_);
    LSC_FREE(tok->pair_key_);
    LSC_FREE(tok->pair_rank_);
    LSC_FREE(tok->pair_id_);
    memset(tok, 0, sizeof *tok);
}

/* pieces/piece_len/blob_ for vocab_size tokens, blob_bytes of piece bytes. */
static int pieces_alloc(lsc_tokenizer *tok, int vocab_size, size_t blob_bytes, const char *path,
                        lsc_error *err)
{
    tok->vocab_size = vocab_size;
    tok->pieces = LSC_CALLOC((size_t)vocab_size, sizeof *tok->pieces);
    tok->piece_len = LSC_CALLOC((size_t)vocab_size, sizeof *tok->piece_len);
    tok->blob_ = LSC_MALLOC(blob_bytes + (size_t)vocab_size + 1);
    if (!tok->pieces || !tok->piece_len || !tok->blob_)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory for %d tokens", path, vocab_size);
    return LSC_OK;
}

// ---- llama2.c tokenizer.bin ----

static int32_t rd_i32(const char *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Counts the tokens of a tokenizer.bin image and their bytes, checking every length. */
static int llama2c_scan(const char *buf, size_t size, int want, const char *path, int *n_tok,
                        size_t *bytes, lsc_error *err)
{
    if (size < 4)
        LSC_FAIL(err, LSC_EFORMAT, "%s: truncated (%zu bytes, no max_token_length)", path, size);
    int32_t max_len = rd_i32(buf);
    if (max_len <= 0 || max_len > (1 << 20))
        LSC_FAIL(err, LSC_EFORMAT, "%s: bad max_token_length %d", path, (int)max_len);
    size_t off = 4, total = 0;
    int i = 0;
    for (; want == 0 ? off < size : i < want; i++) {
        if (size - off < 8)
            LSC_FAIL(err, LSC_EFORMAT, "%s: truncated at token %d of %d (offset %zu)", path, i,
                     want, off);
        int32_t len = rd_i32(buf + off + 4);
        if (len < 0 || len > max_len)
            LSC_FAIL(err, LSC_EFORMAT, "%s: token %d: bad length %d (max_token_length %d)", path,
                     i, (int)len, (int)max_len);
        off += 8;
        if (size - off < (size_t)len)
            LSC_FAIL(err, LSC_EFORMAT, "%s: truncated inside token %d (length %d, %zu bytes left)",
                     path, i, (int)len, size - off);
        off += (size_t)len;
        total += (size_t)len;
    }
    if (off != size)
        LSC_FAIL(err, LSC_EFORMAT, "%s: %zu bytes left after %d tokens (wrong vocab_size?)", path,
                 size - off, want);
    if (i < 3)
        LSC_FAIL(err, LSC_EFORMAT, "%s: only %d tokens (needs <unk>, <s>, </s>)", path, i);
    *n_tok = i;
    *bytes = total;
    return LSC_OK;
}

int lsc_tokenizer_load_llama2c(lsc_tokenizer *tok, const char *path, int vocab_size,
                               lsc_error *err)
{
    LSC_ASSERT(tok && path);
    memset(tok, 0, sizeof *tok);
    if (vocab_size < 0)
        LSC_FAIL(err, LSC_EARG, "%s: vocab_size %d < 0", path, vocab_size);
    char *buf;
    size_t size, bytes = 0;
    int n_tok = 0, rc = lsc_read_file_(path, &buf, &size, err);
    if (rc != LSC_OK)
        return rc;
    rc = llama2c_scan(buf, size, vocab_size, path, &n_tok, &bytes, err);
    if (rc == LSC_OK)
        rc = pieces_alloc(tok, n_tok, bytes, path, err);
    if (rc == LSC_OK && !(tok->scores = LSC_MALLOC((size_t)n_tok * sizeof *tok->scores)))
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", path);
    if (rc != LSC_OK) {
        LSC_FREE(buf);
        lsc_tokenizer_free(tok);
        return rc;
    }
    tok->kind = LSC_TOKENIZER_LLAMA2C;
    char *dst = tok->blob_;
    size_t off = 4;
    for (int i = 0; i < n_tok; i++) {
        memcpy(&tok->scores[i], buf + off, 4);
        int len = (int)rd_i32(buf + off + 4);
        off += 8;
        memcpy(dst, buf + off, (size_t)len);
        dst[len] = '\0';
        tok->pieces[i] = dst;
        tok->piece_len[i] = len;
        if (len > tok->max_piece_len)
            tok->max_piece_len = len;
        dst += len + 1;
        off += (size_t)len;
    }
    LSC_FREE(buf);
    tok->bos_id = 1;
    tok->eos_id = 2;
    for (int b = 0; b < 256; b++) {
        tok->byte_pieces_[2 * b] = (unsigned char)b;
        tok->byte_pieces_[2 * b + 1] = '\0';
    }
    rc = index_build(tok, path, err);
    if (rc != LSC_OK)
        lsc_tokenizer_free(tok);
    return rc;
}

// ---- llama2.c encode: run.c's merge loop with a heap ----
// run.c merges, while any exists, the adjacent pair whose concatenation is a
// piece with the highest score (strictly above -1e10), leftmost on a tie. A
// heap keyed (score desc, left position asc) over a linked list picks the same
// pair each time: positions keep their order, and stale entries are dropped by
// per-node version counters. O(n log n) where run.c is O(n^2).

typedef struct {
    float score;
    int left, right, id;
    unsigned vl, vr;
} merge_cand;

typedef struct {
    int *id, *next, *prev;
    unsigned *ver;
    merge_cand *heap;
    size_t n_heap, cap_heap;
    char *cat;
} merge_work;

static int cand_before(const merge_cand *a, const merge_cand *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(merge_work *w, merge_cand c)
{
    size_t i = w->n_heap++;
    while (i > 0 && cand_before(&c, &w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = c;
}

static merge_cand heap_pop(merge_work *w)
{
    merge_cand top = w->heap[0], last = w->heap[--w->n_heap];
    size_t i = 0, n = w->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && cand_before(&w->heap[c + 1], &w->heap[c]))
            c++;
        if (!cand_before(&w->heap[c], &last))
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (n > 0)
        w->heap[i] = last;
    return top;
}

/* Pushes the pair (a, next[a]) when its concatenation is a piece. */
static void cand_offer(const lsc_tokenizer *tok, merge_work *w, int a)
{
    int b = a < 0 ? -1 : w->next[a];
    if (a < 0 || b < 0)
        return;
    size_t la = (size_t)tok->piece_len[w->id[a]], lb = (size_t)tok->piece_len[w->id[b]];
    memcpy(w->cat, tok->pieces[w->id[a]], la);
    memcpy(w->cat + la, tok->pieces[w->id[b]], lb);
    int id = piece_lookup(tok, w->cat, la + lb);
    if (id < 0 || !(tok->scores[id] > -1e10f))
        return;
    LSC_ASSERT(w->n_heap < w->cap_heap);
    heap_push(w, (merge_cand){tok->scores[id], a, b, id, w->ver[a], w->ver[b]});
}

/* Merges in[0..m) in place; returns the new count. */
static size_t llama2c_merge(const lsc_tokenizer *tok, merge_work *w, int *in, size_t m)
{
    for (size_t i = 0; i < m; i++) {
        w->id[i] = in[i];
        w->next[i] = i + 1 < m ? (int)i + 1 : -1;
        w->prev[i] = (int)i - 1;
        w->ver[i] = 0;
    }
    for (size_t i = 0; i + 1 < m; i++)
        cand_offer(tok, w, (int)i);
    while (w->n_heap > 0) {
        merge_cand c = heap_pop(w);
        if (w->ver[c.left] != c.vl || w->ver[c.right] != c.vr || w->next[c.left] != c.right)
            continue;
        w->id[c.left] = c.id;
        w->ver[c.left]++;
        w->ver[c.right] = ~0u; /* dead: matches no candidate */
        w->next[c.left] = w->next[c.right];
        if (w->next[c.right] >= 0)
            w->prev[w->next[c.right]] = c.left;
        cand_offer(tok, w, w->prev[c.left]);
        cand_offer(tok, w, c.left);
    }
    size_t k = 0;
    for (int i = m ? 0 : -1; i >= 0; i = w->next[i])
        in[k++] = w->id[i];
    return k;
}

/* run.c's code-point loop: out gets the dummy prefix and the initial tokens. */
static size_t llama2c_initial(const lsc_tokenizer *tok, const char *text, size_t n, int *out)
{
    size_t m = 0;
    if (n > 0) {
        int sp = piece_lookup(tok, " ", 1);
        out[m++] = sp >= 0 ? sp : 3 + ' '; /* run.c assumes " " is a piece */
    }
    char buf[8];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (((unsigned char)text[i] & 0xC0) != 0x80)
            len = 0;
        buf[len++] = text[i];
        if (i + 1 < n && ((unsigned char)text[i + 1] & 0xC0) == 0x80 && len < 4)
            continue;
        int id = piece_lookup(tok, buf, len);
        if (id >= 0) {
            out[m++] = id;
        } else {
            for (size_t j = 0; j < len; j++)
                out[m++] = (unsigned char)buf[j] + 3;
        }
        len = 0;
    }
    return m;
}

static int llama2c_encode(const lsc_tokenizer *tok, const char *text, size_t n, int *out,
                          size_t *m, lsc_error *err)
{
    merge_work w = {0};
    size_t slots = n + 1;
    w.id = LSC_MALLOC(slots * sizeof(int));
    w.next = LSC_MALLOC(slots * sizeof(int));
    w.prev = LSC_MALLOC(slots * sizeof(int));
    w.ver = LSC_MALLOC(slots * sizeof(unsigned));
    w.cap_heap = 3 * slots;
    w.heap = LSC_MALLOC(w.cap_heap * sizeof *w.heap);
    w.cat = LSC_MALLOC(2 * (size_t)tok->max_piece_len + 8);
    int rc = LSC_OK;
    if (!w.id || !w.next || !w.prev || !w.ver || !w.heap || !w.cat)
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__,
                           "tokenizer: out of memory encoding %zu bytes", n);
    size_t m0 = rc == LSC_OK ? llama2c_initial(tok, text, n, out) : 0;
    for (size_t i = 0; i < m0 && rc == LSC_OK; i++)
        if (out[i] >= tok->vocab_size)   /* byte fallback (3 + byte) beyond a small vocabulary */
            rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__,
                               "tokenizer: no piece for byte 0x%02x of the text and no byte token "
                               "(id %d >= vocab_size %d)", out[i] - 3, out[i], tok->vocab_size);
    if (rc == LSC_OK)
        *m = llama2c_merge(tok, &w, out, m0);
    LSC_FREE(w.id);
    LSC_FREE(w.next);
    LSC_FREE(w.prev);
    LSC_FREE(w.ver);
    LSC_FREE(w.heap);
    LSC_FREE(w.cat);
    return rc;
}

// ---- GPT-2: the byte <-> unicode map ----

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the
 * rest to 256, 257, ... in byte order. */
static void gpt2_byte_map(int cp_of_byte[256])
{
    int k = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        cp_of_byte[b] = printable ? b : 256 + k++;
    }
}

/* The inverse: byte_of_cp[cp] for the 324 code points of the alphabet, -1 elsewhere. */
static void gpt2_inverse_map(int byte_of_cp[324])
{
    int cp_of_byte[256];
    gpt2_byte_map(cp_of_byte);
    for (int c = 0; c < 324; c++)
        byte_of_cp[c] = -1;
    for (int b = 0; b < 256; b++)
        byte_of_cp[cp_of_byte[b]] = b;
}

/* Decodes a GPT-2 token string (UTF-8 over the byte alphabet) to raw bytes in
 * out; returns the byte count or -1 (with the bad code point in *bad). */
static int gpt2_unmap(const char *s, const int byte_of_cp[324], char *out, long *bad)
{
    int n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int k = p[0] < 0x80 ? 1 : p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC0 ? 2 : 0;
        long cp = k == 1 ? p[0] : k ? (p[0] & (0x7F >> k)) : -1;
        for (int j = 1; j < k; j++) {
            if ((p[j] & 0xC0) != 0x80) {
                cp = -1; /* malformed UTF-8 */
                break;
            }
            cp = (cp << 6) | (p[j] & 0x3F);
        }
        if (cp < 0) {
            *bad = -1;
            return -1;
        }
        p += k;
        if (cp >= 324 || byte_of_cp[cp] < 0) {
            *bad = cp;
            return -1;
        }
        out[n++] = (char)byte_of_cp[cp];
    }
    return n;
}

// ---- GPT-2: encoder.json and vocab.bpe ----

static int gpt2_read_encoder(lsc_tokenizer *tok, const char *path, lsc_error *err)
{
    char *text;
    size_t size;
    int rc = lsc_read_file_(path, &text, &size, err);
    if (rc != LSC_OK)
        return rc;
    cJSON *root = cJSON_ParseWithLength(text, size);
    LSC_FREE(text);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        LSC_FAIL(err, LSC_EFORMAT, "%s: bad JSON (not a JSON object of token -> id)", path);
    }
    int n = cJSON_GetArraySize(root), byte_of_cp[324];
    gpt2_inverse_map(byte_of_cp);
    size_t bytes = 0;
    for (const cJSON *e = root->child; e; e = e->next)
        bytes += strlen(e->string);
    rc = pieces_alloc(tok, n, bytes, path, err);
    char *dst = tok->blob_;
    for (const cJSON *e = root->child; e && rc == LSC_OK; e = e->next) {
        /* checked before the conversion: (int)1e300 was undefined behaviour */
        int ok = cJSON_IsNumber(e) && lsc_json_num_check(e->valuedouble, 0, n - 1, 1, NULL, NULL, NULL) == LSC_OK;
        int id = ok ? (int)e->valuedouble : 0;
        long bad = 0;
        int len = ok ? gpt2_unmap(e->string, byte_of_cp, dst, &bad) : -2;
        if (len == -2 || tok->pieces[id])
            rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__,
                               "%s: token \"%.40s\": id %s (ids must be distinct integers 0..%d)",
                               path, e->string, len == -2 ? "invalid" : "repeated", n - 1);
        else if (len < 0 && bad < 0)
            rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__,
                               "%s: token \"%.40s\": malformed UTF-8", path, e->string);
        else if (len < 0)
            rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__,
                               "%s: token \"%.40s\": character U+%04lX is not in GPT-2's byte alphabet",
                               path, e->string, bad);
        else {
            dst[len] = '\0';
            tok->pieces[id] = dst;
            tok->piece_len[id] = len;
            if (len > tok->max_piece_len)
                tok->max_piece_len = len;
            dst += len + 1;
        }
    }
    cJSON_Delete(root);
    return rc;
}

LSC_WRAPS static int pair_find(const lsc_tokenizer *tok, int a, int b, size_t *slot)
{
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t mask = tok->pair_cap_ - 1;
    size_t k = (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & mask;
    for (; tok->pair_rank_[k] >= 0; k = (k + 1) & mask)
        if (tok->pair_key_[k] == key)
            break;
    *slot = k;
    return tok->pair_rank_[k] >= 0;
}

/* One merge line "a b" (line number ln) -> the pair table. */
static int gpt2_add_merge(lsc_tokenizer *tok, const char *line, size_t len, int ln,
                          const char *path, const int byte_of_cp[324], lsc_error *err)
{
    enum { HALF = 1024 };
    char half[HALF], raw[2 * HALF];
    int ids[3];
    const char *sp = memchr(line, ' ', len);
    if (!sp || sp == line || sp + 1 == line + len || memchr(sp + 1, ' ', (size_t)(line + len - sp - 1)))
        LSC_FAIL(err, LSC_EFORMAT, "%s: line %d: not a merge \"a b\": %.40s", path, ln, line);
    const char *part[2] = {line, sp + 1};
    size_t plen[2] = {(size_t)(sp - line), (size_t)(line + len - sp - 1)}, tot = 0;
    for (int h = 0; h < 2; h++) {
        long bad = 0;
        if (plen[h] >= HALF)
            LSC_FAIL(err, LSC_EFORMAT, "%s: line %d: a merge part of %zu bytes", path, ln, plen[h]);
        memcpy(half, part[h], plen[h]);
        half[plen[h]] = '\0';
        int nb = gpt2_unmap(half, byte_of_cp, raw + tot, &bad);
        ids[h] = nb < 0 ? -1 : piece_lookup(tok, raw + tot, (size_t)nb);
        if (ids[h] < 0)
            LSC_FAIL(err, LSC_EFORMAT, "%s: line %d: \"%.40s\" is not a token of encoder.json", path,
                     ln, half);
        tot += (size_t)nb;
    }
    ids[2] = piece_lookup(tok, raw, tot);
    if (ids[2] < 0)
        LSC_FAIL(err, LSC_EFORMAT, "%s: line %d: the merge result is not a token of encoder.json",
                 path, ln);
    size_t slot;
    if (pair_find(tok, ids[0], ids[1], &slot))
        return LSC_OK; /* a repeated rule: the first (lower) rank stays */
    tok->pair_key_[slot] = ((uint64_t)(uint32_t)ids[0] << 32) | (uint32_t)ids[1];
    tok->pair_rank_[slot] = tok->n_merges++;
    tok->pair_id_[slot] = ids[2];
    return LSC_OK;
}

static int gpt2_read_merges(lsc_tokenizer *tok, const char *path, lsc_error *err)
{
    char *text;
    size_t size;
    int rc = lsc_read_file_(path, &text, &size, err);
    if (rc != LSC_OK)
        return rc;
    size_t lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += text[i] == '\n';
    size_t cap = 16;
    while (cap < 2 * lines)
        cap *= 2;
    tok->pair_cap_ = cap;
    tok->pair_key_ = LSC_MALLOC(cap * sizeof *tok->pair_key_);
    tok->pair_rank_ = LSC_MALLOC(cap * sizeof *tok->pair_rank_);
    tok->pair_id_ = LSC_MALLOC(cap * sizeof *tok->pair_id_);
    int byte_of_cp[324];
    gpt2_inverse_map(byte_of_cp);
    if (!tok->pair_key_ || !tok->pair_rank_ || !tok->pair_id_)
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", path);
    for (size_t k = 0; rc == LSC_OK && k < cap; k++)
        tok->pair_rank_[k] = -1;
    int ln = 0;
    for (char *p = text; rc == LSC_OK && p < text + size; ln++) {
        char *nl = memchr(p, '\n', (size_t)(text + size - p));
        size_t len = (size_t)((nl ? nl : text + size) - p);
        if (len > 0 && p[len - 1] == '\r')
            len--;
        p[len] = '\0';
        if (len > 0 && !(ln == 0 && strncmp(p, "#version", 8) == 0))
            rc = gpt2_add_merge(tok, p, len, ln + 1, path, byte_of_cp, err);
        p = nl ? nl + 1 : text + size;
    }
    LSC_FREE(text);
    return rc;
}

int lsc_tokenizer_load_gpt2(lsc_tokenizer *tok, const char *encoder_json, const char *vocab_bpe,
                            lsc_error *err)
{
    LSC_ASSERT(tok && encoder_json && vocab_bpe);
    memset(tok, 0, sizeof *tok);
    tok->kind = LSC_TOKENIZER_GPT2;
    int rc = gpt2_read_encoder(tok, encoder_json, err);
    if (rc == LSC_OK)
        rc = index_build(tok, encoder_json, err);
    for (int b = 0; rc == LSC_OK && b < 256; b++) {
        char c = (char)b;
        tok->byte_id_[b] = piece_lookup(tok, &c, 1);
        if (tok->byte_id_[b] < 0)
            rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__,
                               "%s: byte 0x%02X has no token (not a byte-level vocabulary)",
                               encoder_json, b);
    }
    if (rc == LSC_OK)
        rc = gpt2_read_merges(tok, vocab_bpe, err);
    if (rc != LSC_OK) {
        lsc_tokenizer_free(tok);
        return rc;
    }
    tok->bos_id = tok->eos_id = piece_lookup(tok, "<|endoftext|>", 13);
    return LSC_OK;
}

// ---- GPT-2 encode ----

static int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
static int is_letter(unsigned char c) { return (c | 32) >= 'a' && (c | 32) <= 'z' ? 1 : c >= 0x80; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_other(unsigned char c) { return !is_space(c) && !is_letter(c) && !is_digit(c); }

/* Length of the pre-token at text[i] (n > i): the first alternative of
 * 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ that matches. */
static size_t gpt2_pretoken(const unsigned char *s, size_t i, size_t n)
{
    static const char *const contr[] = {"s", "t", "re", "ve", "m", "ll", "d"};
    if (s[i] == '\'')
        for (int k = 0; k < 7; k++) {
            size_t l = strlen(contr[k]);
            if (i + l < n && memcmp(s + i + 1, contr[k], l) == 0)
                return l + 1;
        }
    int (*cls[3])(unsigned char) = {is_letter, is_digit, is_other};
    for (int k = 0; k < 3; k++) {
        size_t j = i + (s[i] == ' ' && i + 1 < n && cls[k](s[i + 1]));
        if (!cls[k](s[j]))
            continue;
        while (j < n && cls[k](s[j]))
            j++;
        return j - i;
    }
    size_t j = i;
    while (j < n && is_space(s[j]))
        j++;
    return (j == n || j - i == 1) ? j - i : j - i - 1; /* \s+(?!\S), else \s+ */
}

/* BPE on one pre-token: w[0..m) byte tokens -> merged, in place; returns the count. */
static size_t gpt2_bpe(const lsc_tokenizer *tok, int *w, size_t m)
{
    while (m > 1) {
        int best = -1, best_id = -1, a = -1, b = -1;
        for (size_t i = 0; i + 1 < m; i++) {
            size_t slot;
            if (pair_find(tok, w[i], w[i + 1], &slot) &&
                (best < 0 || tok->pair_rank_[slot] < best)) {
                best = tok->pair_rank_[slot];
                best_id = tok->pair_id_[slot];
                a = w[i];
                b = w[i + 1];
            }
        }
        if (best < 0)
            break;
        size_t k = 0; /* every occurrence, left to right, as GPT-2's bpe() does */
        for (size_t i = 0; i < m; i++) {
            if (i + 1 < m && w[i] == a && w[i + 1] == b) {
                w[k++] = best_id;
                i++;
            } else {
                w[k++] = w[i];
            }
        }
        m = k;
    }
    return m;
}

static size_t gpt2_encode(const lsc_tokenizer *tok, const char *text, size_t n, int *out)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        size_t len = gpt2_pretoken(s, i, n);
        for (size_t j = 0; j < len; j++)
            out[m + j] = tok->byte_id_[s[i + j]];
        m += gpt2_bpe(tok, out + m, len);
        i += len;
    }
    return m;
}

// ---- encode / decode ----

int lsc_tokenizer_encode(const lsc_tokenizer *tok, const char *text, size_t n, int bos, int eos,
                         int *ids, size_t cap, size_t *n_ids, lsc_error *err)
{
    LSC_ASSERT(tok && (text || n == 0) && n_ids);
    if ((bos && tok->bos_id < 0) || (eos && tok->eos_id < 0))
        LSC_FAIL(err, LSC_EARG, "tokenizer: this vocabulary has no %s token", bos ? "BOS" : "EOS");
    int *tmp = LSC_MALLOC((n + 3) * sizeof *tmp);
    if (!tmp)
        LSC_FAIL(err, LSC_ENOMEM, "tokenizer: out of memory encoding %zu bytes", n);
    size_t m = 0, body = 0;
    int rc = LSC_OK;
    if (bos)
        tmp[m++] = tok->bos_id;
    if (tok->kind == LSC_TOKENIZER_LLAMA2C)
        rc = llama2c_encode(tok, text, n, tmp + m, &body, err);
    else
        body = gpt2_encode(tok, text, n, tmp + m);
    m += body;
    if (eos)
        tmp[m++] = tok->eos_id;
    *n_ids = m;
    if (rc == LSC_OK && m > cap)
        rc = lsc_error_set(err, LSC_ESHAPE, __FILE__, __LINE__,
                           "tokenizer: %zu ids do not fit in %zu", m, cap);
    if (rc == LSC_OK && m > 0)
        memcpy(ids, tmp, m * sizeof *ids);
    LSC_FREE(tmp);
    return rc;
}

const char *lsc_tokenizer_decode_piece(const lsc_tokenizer *tok, int prev, int id, size_t *len)
{
    LSC_ASSERT(tok && len);
    *len = 0;
    if (id < 0 || id >= tok->vocab_size)
        return "";
    const char *p = tok->pieces[id];
    size_t n = (size_t)tok->piece_len[id];
    if (tok->kind != LSC_TOKENIZER_LLAMA2C) {
        *len = n;
        return p;
    }
    if (prev == 1 && n > 0 && p[0] == ' ') {
        p++;
        n--;
    }
    unsigned hi, lo;
    if (n == 6 && memcmp(p, "<0x", 3) == 0 && p[5] == '>' &&
        sscanf(p + 3, "%1x%1x", &hi, &lo) == 2) {
        *len = 1;
        return (const char *)tok->byte_pieces_ + 2 * (hi * 16 + lo);
    }
    *len = n;
    return p;
}

int lsc_tokenizer_decode(const lsc_tokenizer *tok, const int *ids, size_t n, char *out, size_t cap,
                         size_t *n_out, lsc_error *err)
{
    LSC_ASSERT(tok && (ids || n == 0) && n_out);
    size_t m = 0;
    int prev = -1;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= tok->vocab_size)
            LSC_FAIL(err, LSC_EARG, "tokenizer: id %d at position %zu is outside [0, %d)", ids[i],
                     i, tok->vocab_size);
        size_t len = 0;
        const char *p = (ids[i] == tok->bos_id || ids[i] == tok->eos_id)
                            ? "" : lsc_tokenizer_decode_piece(tok, prev, ids[i], &len);
        if (len > 0 && m + len <= cap)
            memcpy(out + m, p, len);
        m += len;
        prev = ids[i];
    }
    *n_out = m;
    if (m > cap)
        LSC_FAIL(err, LSC_ESHAPE, "tokenizer: %zu decoded bytes do not fit in %zu", m, cap);
    if (m < cap)
        out[m] = '\0';
    return LSC_OK;
}
