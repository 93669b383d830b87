/*
 * data_tok.c — the data of a base with its own vocabulary: a corpus encoded
 * with a tokenizer (random windows and evaluation windows on token ids, the
 * rules of data.c's byte corpus) and Alpaca instruction records (JSON array
 * or JSON lines, rendered with the Alpaca template, tokenized, packed into
 * fine-tuning rows with the loss on the response only), plus the writer of
 * the supersense task in Alpaca form.
 *
 * What it is not: a tokenizer (tokenizer.c encodes and decodes) or a
 * trainer (the batch functions are lsc_batch_fn for lsc_train_run). With
 * tok == NULL everything is byte-level, as in data.c.
 *
 * Shapes: B rows, T positions; inputs/targets/mask are (B, T) row-major.
 * The batch functions draw all randomness from the caller's rng and
 * allocate nothing.
 */
#include <string.h>

#include <cJSON.h>

#include "lsc_internal.h"

#define TOK_CHUNK ((size_t)1 << 16)   /* bytes per encode, before the next "\n\n" */

// ---- token corpora ----

void lsc_tokens_free(lsc_tokens *t)
{
    if (!t)
        return;
    LSC_FREE(t->path);
    LSC_FREE(t->ids);
    memset(t, 0, sizeof *t);
}

/* The end of the chunk starting at pos: just after the first "\n\n" that
 * ends at or after pos + chunk, or n. */
static size_t chunk_end(const uint8_t *p, size_t n, size_t pos, size_t chunk)
{
    if (n - pos <= chunk)
        return n;
    for (size_t i = pos + chunk - 1; i + 1 < n; i++)
        if (p[i] == '\n' && p[i + 1] == '\n')
            return i + 2;
    return n;
}

/* Appends the ids of text[0..n) to t->ids (capacity *cap), dropping the
 * first `skip` ids after checking they equal lead[0..skip) (*ok = 0 and
 * nothing appended when they do not). */
static int tokens_append(lsc_tokens *t, size_t *cap, const lsc_tokenizer *tok, const char *text,
                         size_t n, int bos, const int *lead, size_t skip, int *ok, lsc_error *err)
{
    size_t m = 0, room = n + 3;
    int *buf = LSC_MALLOC(room * sizeof *buf);
    if (!buf)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory encoding", t->path);
    int rc = lsc_tokenizer_encode(tok, text, n, bos, 0, buf, room, &m, err);
    *ok = rc == LSC_OK && m >= skip && (skip == 0 || memcmp(buf, lead, skip * sizeof *buf) == 0);
    if (*ok && t->n + m - skip > *cap) {
        size_t nc = 2 * *cap + m;
        int *grown = LSC_REALLOC(t->ids, nc * sizeof *grown);
        if (!grown)
            rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory encoding",
                               t->path);
        else {
            t->ids = grown;
            *cap = nc;
        }
    }
    if (rc == LSC_OK && *ok) {
        memcpy(t->ids + t->n, buf + skip, (m - skip) * sizeof *buf);
        t->n += m - skip;
    }
    LSC_FREE(buf);
    return rc;
}

/* Encodes c in chunks of about `chunk` bytes (see lsc_tokens_from_corpus);
 * *ok = 0 when the vocabulary merges across the LF a later chunk starts
 * after, so chunking would change the ids (the caller then encodes whole). */
static int tokens_chunked(lsc_tokens *t, const lsc_corpus *c, const lsc_tokenizer *tok,
                          size_t chunk, int *ok, lsc_error *err)
{
    size_t cap = c->n + 16, skip = 0;
    int lead[8];
    t->n = 0;
    t->ids = LSC_MALLOC(cap * sizeof *t->ids);
    if (!t->ids)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory for %zu tokens", t->path, cap);
    /* llama2.c puts a dummy " " before any text: a later chunk is encoded
     * with the LF before it in front, and the ids that LF alone gets (the
     * " " and the LF) are dropped. GPT-2 has no dummy prefix. */
    if (tok->kind == LSC_TOKENIZER_LLAMA2C) {
        int rc = lsc_tokenizer_encode(tok, "\n", 1, 0, 0, lead, 8, &skip, err);
        if (rc != LSC_OK)
            return rc;
    }
    const char *text = (const char *)c->bytes;
    *ok = 1;
    for (size_t pos = 0; pos < c->n && *ok;) {
        size_t end = chunk_end(c->bytes, c->n, pos, chunk);
        size_t from = pos > 0 && skip > 0 ? pos - 1 : pos;   /* text[pos-1] is an LF */
        int rc = tokens_append(t, &cap, tok, text + from, end - from, pos == 0 && tok->bos_id >= 0,
                               lead, from < pos ? skip : 0, ok, err);
        if (rc != LSC_OK)
            return rc;
        pos = end;
    }
    return LSC_OK;
}

int lsc_tokens_from_corpus_(lsc_tokens *t, const lsc_corpus *c, const lsc_tokenizer *tok,
                            size_t chunk, lsc_error *err)
{
    LSC_ASSERT(t && c && chunk >= 1);
    memset(t, 0, sizeof *t);
    t->path = lsc_strdup_(c->path ? c->path : "corpus");
    if (!t->path)
        LSC_FAIL(err, LSC_ENOMEM, "tokens: out of memory");
    int rc = LSC_OK, ok = 1;
    if (!tok) {
        t->V = LSC_BYTE_VOCAB;
        t->ids = LSC_MALLOC((c->n ? c->n : 1) * sizeof *t->ids);
        if (!t->ids)
            LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory for %zu tokens", t->path, c->n);
        for (size_t i = 0; i < c->n; i++)
            t->ids[i] = c->bytes[i];
        t->n = c->n;
    } else {
        t->V = tok->vocab_size;
        rc = tokens_chunked(t, c, tok, chunk, &ok, err);
        if (rc == LSC_OK && !ok) {
            LSC_FREE(t->ids);
            rc = tokens_chunked(t, c, tok, c->n, &ok, err);
        }
    }
    if (rc == LSC_OK && t->n < 2)
        rc = lsc_error_set(err, LSC_EARG, __FILE__, __LINE__,
                           "%s: %zu tokens; a corpus needs at least 2", t->path, t->n);
    return rc;
}

int lsc_tokens_from_corpus(lsc_tokens *t, const lsc_corpus *c, const lsc_tokenizer *tok,
                           lsc_error *err)
{
    return lsc_tokens_from_corpus_(t, c, tok, TOK_CHUNK, err);
}

int lsc_tokens_batch(void *ctx, int B, int T, int *inputs, int *targets, float *mask,
                     uint64_t *rng, lsc_error *err)
{
    int rc = lsc_batch_check_(ctx, B, T, inputs, targets, mask, rng, "tokens batch", err);
    if (rc != LSC_OK)
        return rc;
    const lsc_tokens *t = ctx;
    return lsc_seq_batch_(NULL, t->ids, t->n, t->path ? t->path : "tokens", "tokens", B, T,
                          inputs, targets, mask, rng, err);
}

size_t lsc_tokens_n_windows(const lsc_tokens *t, int T)
{
    return t ? lsc_seq_n_windows_(t->n, T) : 0;
}

void lsc_tokens_window(const lsc_tokens *t, size_t i, int T, int *inputs, int *targets,
                       float *mask)
{
    LSC_ASSERT(t && T >= 1 && i < lsc_tokens_n_windows(t, T));
    lsc_seq_row_(NULL, t->ids, t->n, i * (size_t)T, T, inputs, targets, mask);
}

// ---- Alpaca records: loading ----

void lsc_instruct_free(lsc_instruct *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->n; i++) {
        if (d->ids)
            LSC_FREE(d->ids[i]);
        if (d->prompt_text)
            LSC_FREE(d->prompt_text[i]);
        if (d->output_text)
            LSC_FREE(d->output_text[i]);
    }
    LSC_FREE(d->ids);
    LSC_FREE(d->n_ids);
    LSC_FREE(d->n_prompt);
    LSC_FREE(d->prompt_text);
    LSC_FREE(d->output_text);
    LSC_FREE(d->path);
    memset(d, 0, sizeof *d);
}

/* Room for n records (all pointers NULL); d->n stays the count filled. */
static int instruct_alloc(lsc_instruct *d, int n, lsc_error *err)
{
    size_t k = (size_t)n;
    d->ids = LSC_CALLOC(k, sizeof *d->ids);
    d->n_ids = LSC_CALLOC(k, sizeof *d->n_ids);
    d->n_prompt = LSC_CALLOC(k, sizeof *d->n_prompt);
    d->prompt_text = LSC_CALLOC(k, sizeof *d->prompt_text);
    d->output_text = LSC_CALLOC(k, sizeof *d->output_text);
    if (!d->ids || !d->n_ids || !d->n_prompt || !d->prompt_text || !d->output_text)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory for %d records", d->path, n);
    return LSC_OK;
}

/* A record's string field: *s = its text, NULL when absent (or null, when
 * optional). */
static int record_field(const cJSON *rec, const char *key, int optional, const char **s,
                        const char *path, int k, lsc_error *err)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(rec, key);
    *s = NULL;
    if (!f || (optional && cJSON_IsNull(f))) {
        if (!optional)
            LSC_FAIL(err, LSC_EFORMAT, "%s: record %d: field \"%s\" is missing", path, k, key);
        return LSC_OK;
    }
    if (!cJSON_IsString(f) || !f->valuestring)
        LSC_FAIL(err, LSC_EFORMAT, "%s: record %d: field \"%s\" is not a string", path, k, key);
    *s = f->valuestring;
    return LSC_OK;
}

/* The template filled in (heap). */
static char *render_prompt(const char *instruction, const char *input)
{
    int with = input && input[0];
    int n = with ? snprintf(NULL, 0, LSC_ALPACA_PROMPT_INPUT, instruction, input)
                 : snprintf(NULL, 0, LSC_ALPACA_PROMPT, instruction);
    char *s = n >= 0 ? LSC_MALLOC((size_t)n + 1) : NULL;
    if (s && with)
        snprintf(s, (size_t)n + 1, LSC_ALPACA_PROMPT_INPUT, instruction, input);
    else if (s)
        snprintf(s, (size_t)n + 1, LSC_ALPACA_PROMPT, instruction);
    return s;
}

int lsc_instruct_encode_(const lsc_tokenizer *tok, const char *p, const char *o, int **out, int *n_ids,
                         int *n_prompt, const char *path, int rec, lsc_error *err)
{
    size_t np = strlen(p), no = o ? strlen(o) : 0, m = 0, mp = 0;
    int *ids = LSC_MALLOC((np + no + 4) * sizeof *ids), *pid = NULL;
    char *full = NULL;
    int rc = LSC_OK;
    *out = NULL;
    if (!ids)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory encoding record %d", path, rec);
    if (!tok) {
        for (size_t j = 0; j < np + no; j++)
            ids[j] = (unsigned char)(j < np ? p[j] : o[j - np]);
        m = np + no;
        if (o)
            ids[m++] = '\n';
        mp = np;
    } else {
        full = LSC_MALLOC(np + no + 1);
        pid = LSC_MALLOC((np + 3) * sizeof *pid);
        if (!full || !pid)
            rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__,
                               "%s: out of memory encoding record %d", path, rec);
        else {
            memcpy(full, p, np);
            memcpy(full + np, o ? o : "", no + 1);
            int bos = tok->bos_id >= 0;
            size_t mq = 0;
            rc = lsc_tokenizer_encode(tok, full, np + no, bos, 0, ids, np + no + 3, &m, err);
            if (rc == LSC_OK)
                rc = lsc_tokenizer_encode(tok, p, np, bos, 0, pid, np + 3, &mq, err);
            while (rc == LSC_OK && mp < mq && mp < m && ids[mp] == pid[mp])
                mp++;   /* a token straddling the boundary belongs to the response */
            if (rc == LSC_OK && o)
                ids[m++] = tok->eos_id;
        }
    }
    LSC_FREE(full);
    LSC_FREE(pid);
    if (rc != LSC_OK) {
        LSC_FREE(ids);
        return rc;
    }
    *out = ids;
    *n_ids = (int)m;
    *n_prompt = (int)mp;
    return LSC_OK;
}

/* Record i's ids from its texts (see lsc_instruct_load). */
static int record_encode(lsc_instruct *d, int i, const lsc_tokenizer *tok, lsc_error *err)
{
    return lsc_instruct_encode_(tok, d->prompt_text[i], d->output_text[i], &d->ids[i], &d->n_ids[i],
                                &d->n_prompt[i], d->path, i + 1, err);
}

/* Record k (1-based) from its JSON value into slot d->n. */
static int record_add(lsc_instruct *d, const cJSON *rec, int k, const lsc_tokenizer *tok,
                      int max_tokens, lsc_error *err)
{
    const char *ins, *inp, *out;
    if (!cJSON_IsObject(rec))
        LSC_FAIL(err, LSC_EFORMAT, "%s: record %d is not an object", d->path, k);
    int rc = record_field(rec, "instruction", 0, &ins, d->path, k, err);
    if (rc == LSC_OK)
        rc = record_field(rec, "input", 1, &inp, d->path, k, err);
    if (rc == LSC_OK)
        rc = record_field(rec, "output", 0, &out, d->path, k, err);
    if (rc != LSC_OK)
        return rc;
    int i = d->n++;
    d->prompt_text[i] = render_prompt(ins, inp);
    d->output_text[i] = lsc_strdup_(out);
    if (!d->prompt_text[i] || !d->output_text[i])
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory at record %d", d->path, k);
    rc = record_encode(d, i, tok, err);
    if (rc != LSC_OK)
        return rc;
    if (max_tokens > 0 && d->n_ids[i] > max_tokens)
        LSC_FAIL(err, LSC_EFORMAT, "%s: record %d is %d tokens, more than max_tokens %d", d->path,
                 k, d->n_ids[i], max_tokens);
    if (d->n_ids[i] > d->max_len)
        d->max_len = d->n_ids[i];
    return LSC_OK;
}

/* "path: bad JSON at line L, column C" for byte offset off of buf. */
static int bad_json(const char *path, const char *buf, size_t off, lsc_error *err)
{
    int line = 1, col = 1;
    for (size_t i = 0; i < off; i++, col++)
        if (buf[i] == '\n') {
            line++;
            col = 0;
        }
    LSC_FAIL(err, LSC_EFORMAT, "%s: bad JSON at line %d, column %d", path, line, col);
}

static int load_array(lsc_instruct *d, const char *buf, size_t size, const lsc_tokenizer *tok,
                      int max_tokens, lsc_error *err)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, size + 1, &end, 1);   /* buf[size] == '\0' */
    if (!root)
        return bad_json(d->path, buf, end ? (size_t)(end - buf) : 0, err);
    int n = cJSON_GetArraySize(root), k = 0, rc = LSC_OK;
    if (n < 1)
        rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__, "%s: no records", d->path);
    if (rc == LSC_OK)
        rc = instruct_alloc(d, n, err);
    const cJSON *rec;
    cJSON_ArrayForEach(rec, root) {
        if (rc != LSC_OK)
            break;
        rc = record_add(d, rec, ++k, tok, max_tokens, err);
    }
    cJSON_Delete(root);
    return rc;
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] > ' ')
            return 0;
    return 1;
}

/* JSON lines: buf (NUL-terminated, writable) holds one object per
 * non-blank line; each line's LF is NUL while the line is parsed. */
static int load_lines(lsc_instruct *d, char *buf, size_t size, const lsc_tokenizer *tok,
                      int max_tokens, lsc_error *err)
{
    int n = 0, k = 0, rc;
    for (size_t s = 0, e; s < size; s = e + 1) {
        const char *lf = memchr(buf + s, '\n', size - s);
        e = lf ? (size_t)(lf - buf) : size;
        n += !blank(buf + s, e - s);
    }
    if ((rc = instruct_alloc(d, n, err)) != LSC_OK)
        return rc;
    for (size_t s = 0, e; s < size && rc == LSC_OK; s = e + 1) {
        char *lf = memchr(buf + s, '\n', size - s);
        e = lf ? (size_t)(lf - buf) : size;
        if (blank(buf + s, e - s))
            continue;
        char lf_byte = buf[e];
        buf[e] = '\0';
        const char *end = NULL;
        cJSON *rec = cJSON_ParseWithLengthOpts(buf + s, e - s + 1, &end, 1);
        buf[e] = lf_byte;   /* bad_json counts lines */
        if (!rec)
            rc = bad_json(d->path, buf, end ? (size_t)(end - buf) : s, err);
        else
            rc = record_add(d, rec, ++k, tok, max_tokens, err);
        cJSON_Delete(rec);
    }
    return rc;
}

int lsc_instruct_load(lsc_instruct *d, const char *path, const lsc_tokenizer *tok,
                      int max_tokens, lsc_error *err)
{
    LSC_ASSERT(d && path);
    memset(d, 0, sizeof *d);
    if (tok && tok->eos_id < 0)
        LSC_FAIL(err, LSC_EARG, "%s: the tokenizer has no EOS token to end a response", path);
    d->path = lsc_strdup_(path);
    d->V = tok ? tok->vocab_size : LSC_BYTE_VOCAB;
    d->end_id = tok ? tok->eos_id : '\n';
    if (!d->path)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", path);
    char *buf = NULL;
    size_t size = 0;
    int rc = lsc_read_file_(path, &buf, &size, err);
    if (rc != LSC_OK)
        return rc;
    size_t first = 0;
    while (first < size && (unsigned char)buf[first] <= ' ')
        first++;
    if (first == size)
        rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__, "%s: empty file", path);
    else if (buf[first] == '[')
        rc = load_array(d, buf, size, tok, max_tokens, err);
    else
        rc = load_lines(d, buf, size, tok, max_tokens, err);
    LSC_FREE(buf);
    return rc;
}

// ---- Alpaca records: batches ----

int lsc_instruct_batch(void *ctx, int B, int T, int *inputs, int *targets, float *mask,
                       uint64_t *rng, lsc_error *err)
{
    int rc = lsc_batch_check_(ctx, B, T, inputs, targets, mask, rng, "instruct batch", err);
    if (rc != LSC_OK)
        return rc;
    const lsc_instruct *d = ctx;
    if (d->n < 1)
        LSC_FAIL(err, LSC_EARG, "%s: no records", d->path ? d->path : "instruct");
    if (d->max_len > T + 1)
        LSC_FAIL(err, LSC_EARG, "%s: context T=%d too short for the longest record (%d tokens)",
                 d->path ? d->path : "instruct", T, d->max_len);
    for (int b = 0; b < B; b++) {
        int   *in = inputs + (size_t)b * T;         // (T)
        int   *tg = targets + (size_t)b * T;        // (T)
        float *m  = mask + (size_t)b * T;           // (T)
        int j = 0;                                  /* tokens of the T+1 row placed */
        for (;;) {
            int i = (int)(lsc_rng_u32(rng) % (uint32_t)d->n);
            if (j + d->n_ids[i] > T + 1)
                break;
            for (int k = 0; k < d->n_ids[i]; k++, j++) {
                if (j < T)
                    in[j] = d->ids[i][k];
                if (j > 0) {   /* row token j is the target of position j-1 */
                    tg[j - 1] = d->ids[i][k];
                    m[j - 1] = k >= d->n_prompt[i] ? 1.0f : 0.0f;
                }
            }
        }
        for (; j < T + 1; j++) {
            if (j < T)
                in[j] = d->end_id;
            if (j > 0) {
                tg[j - 1] = d->end_id;
                m[j - 1] = 0.0f;
            }
        }
    }
    return LSC_OK;
}

// ---- the supersense task in Alpaca form ----

int lsc_task_write_alpaca(const lsc_task *t, const char *path, lsc_error *err)
{
    LSC_ASSERT(t && path);
    lsc_atomic a;
    int rc = lsc_atomic_open(&a, path, err);
    if (rc != LSC_OK)
        return rc;
    fputs(t->n > 0 ? "[" : "[]\n", a.fp);
    for (int i = 0; i < t->n && rc == LSC_OK; i++) {
        cJSON *o = cJSON_CreateObject();
        char *s = NULL;
        if (o && cJSON_AddStringToObject(o, "instruction", LSC_SUPERSENSE_INSTRUCTION) &&
            cJSON_AddStringToObject(o, "input", t->words[i]) &&
            cJSON_AddStringToObject(o, "output", t->label_names[t->labels[i]]))
            s = cJSON_PrintUnformatted(o);
        if (s)
            fprintf(a.fp, "%s%s", i > 0 ? ",\n" : "\n", s);
        else
            rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__,
                               "%s: out of memory writing item %d", path, i + 1);
        cJSON_free(s);
        cJSON_Delete(o);
    }
    if (rc != LSC_OK) {
        lsc_atomic_abort(&a);
        return rc;
    }
    if (t->n > 0)
        fputs("\n]\n", a.fp);
    return lsc_atomic_commit(&a, err);
}
