/*
 * data.c — what the trainer reads: a byte-level text corpus (tokens are
 * bytes, V = 256) with a random-window batch source and deterministic
 * evaluation windows and the unigram/bigram baselines; a word<TAB>label
 * task (the WordNet noun supersenses) with its train/dev/test split rule,
 * the seeded evaluation sample, its prompt format, a packed fine-tuning
 * batch source, exact-match scoring and the majority-class / suffix-table
 * baselines; and random tokens for throughput benchmarks.
 *
 * What it is not: a downloader or a tokenizer. data/fetch.sh makes the
 * files (data/SOURCES.md says how); this file only reads them.
 *
 * Shapes: B rows, T positions; inputs/targets/mask are (B, T) row-major.
 * Every batch function takes all of its randomness from the caller's rng
 * (one state word, saved in the trainer's checkpoints), so a seed fixes
 * the batches. Nothing here allocates per batch.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lsc_internal.h"

#define LSC_TASK_MAX_FIELD 1024   /* bytes in a word or a label */
#define LSC_TASK_MAX_SUFFIX 7

// ---- corpus ----

void lsc_corpus_free(lsc_corpus *c)
{
    if (!c)
        return;
    LSC_FREE(c->path);
    LSC_FREE(c->bytes);
    c->path = NULL;
    c->bytes = NULL;
    c->n = 0;
}

int lsc_corpus_load(lsc_corpus *c, const char *path, lsc_error *err)
{
    memset(c, 0, sizeof *c);
    char *buf = NULL;
    size_t n = 0;
    int rc = lsc_read_file_(path, &buf, &n, err);
    if (rc != LSC_OK)
        return rc;
    if (n < 2) {
        LSC_FREE(buf);
        LSC_FAIL(err, LSC_EFORMAT, "%s: corpus has %zu bytes; need at least 2", path, n);
    }
    c->path = lsc_strdup_(path);
    if (!c->path) {
        LSC_FREE(buf);
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", path);
    }
    c->bytes = (uint8_t *)buf;
    c->n = n;
    return LSC_OK;
}

int lsc_corpus_from_bytes(lsc_corpus *c, const void *bytes, size_t n,
                          const char *name, lsc_error *err)
{
    memset(c, 0, sizeof *c);
    if (!name)
        name = "(memory)";
    if (!bytes || n < 2)
        LSC_FAIL(err, LSC_EARG, "%s: corpus has %zu bytes; need at least 2", name, n);
    c->bytes = LSC_MALLOC(n);
    c->path = lsc_strdup_(name);
    if (!c->bytes || !c->path) {
        lsc_corpus_free(c);
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory for %zu bytes", name, n);
    }
    memcpy(c->bytes, bytes, n);
    c->n = n;
    return LSC_OK;
}

/* First occurrence of pat[plen] in p[n] at or after from, or n. */
static size_t find_bytes(const uint8_t *p, size_t n, size_t from, const char *pat, size_t plen)
{
    for (size_t i = from; i + plen <= n; i++)
        if (memcmp(p + i, pat, plen) == 0)
            return i;
    return n;
}

/* 1 when p[n] has a byte that Python's bytes.strip() would keep. */
static int has_text(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (p[i]) {
        case ' ': case '\t': case '\n': case '\r': case '\v': case '\f':
            break;
        default:
            return 1;
        }
    }
    return 0;
}

int lsc_corpus_split(const lsc_corpus *c, int valid_percent, lsc_corpus *train,
                     lsc_corpus *valid, lsc_error *err)
{
    memset(train, 0, sizeof *train);
    memset(valid, 0, sizeof *valid);
    if (valid_percent < 1 || valid_percent > 99)
        LSC_FAIL(err, LSC_EARG, "%s: validation percentage %d outside 1..99", c->path, valid_percent);
    /* same arithmetic as split_text() in data/corpus_text.py */
    size_t cut = (size_t)((unsigned long long)c->n * (unsigned)(100 - valid_percent) / 100u);
    size_t from = cut > 0 ? cut - 1 : 0;
    size_t tr_end, va_begin;
    size_t i = find_bytes(c->bytes, c->n, from, "\n\n", 2);
    if (i < c->n) {
        tr_end = i + 1;
        va_begin = i + 2;
    } else {
        size_t j = find_bytes(c->bytes, c->n, from, "\n", 1);
        if (j >= c->n || j + 1 >= c->n)
            LSC_FAIL(err, LSC_EARG, "%s: cannot split: no line boundary after byte %zu", c->path, cut);
        tr_end = j + 1;
        va_begin = j + 1;
    }
    if (!has_text(c->bytes, tr_end) || !has_text(c->bytes + va_begin, c->n - va_begin) ||
        tr_end < 2 || c->n - va_begin < 2)
        LSC_FAIL(err, LSC_EARG, "%s: cannot split: a part would be empty", c->path);
    char name[4096];
    snprintf(name, sizeof name, "%s[train]", c->path ? c->path : "");
    int rc = lsc_corpus_from_bytes(train, c->bytes, tr_end, name, err);
    if (rc != LSC_OK)
        return rc;
    snprintf(name, sizeof name, "%s[valid]", c->path ? c->path : "");
    rc = lsc_corpus_from_bytes(valid, c->bytes + va_begin, c->n - va_begin, name, err);
    if (rc != LSC_OK) {
        lsc_corpus_free(train);
        return rc;
    }
    return LSC_OK;
}

int lsc_batch_check_(const void *ctx, int B, int T, const int *inputs, const int *targets,
                     const float *mask, const uint64_t *rng, const char *who, lsc_error *err)
{
    if (!ctx || !inputs || !targets || !mask || !rng)
        LSC_FAIL(err, LSC_EARG, "%s: NULL argument", who);
    if (B < 1 || T < 1)
        LSC_FAIL(err, LSC_EARG, "%s: batch shape B=%d T=%d must be positive", who, B, T);
    return LSC_OK;
}

/* The window rule, shared with data_tok.c's token corpora (a sequence is
 * bytes, or ids when bytes == NULL): row position t holds token o+t and
 * predicts o+t+1; past the end, input/target 0 and mask 0. */
void lsc_seq_row_(const uint8_t *bytes, const int *ids, size_t n, size_t o, int T,
                  int *inputs, int *targets, float *mask)
{
    for (int t = 0; t < T; t++) {
        size_t p = o + (size_t)t;
        int in = p + 1 < n;
        inputs[t] = !in ? 0 : bytes ? bytes[p] : ids[p];
        targets[t] = !in ? 0 : bytes ? bytes[p + 1] : ids[p + 1];
        mask[t] = in ? 1.0f : 0.0f;
    }
}

int lsc_seq_batch_(const uint8_t *bytes, const int *ids, size_t n, const char *name,
                   const char *unit, int B, int T, int *inputs, int *targets, float *mask,
                   uint64_t *rng, lsc_error *err)
{
    if (n < (size_t)T + 1)
        LSC_FAIL(err, LSC_EARG, "%s: corpus has %zu %s, fewer than one window of T+1 = %d",
                 name, n, unit, T + 1);
    uint64_t span = (uint64_t)(n - (size_t)T);      /* start offsets 0 .. n-T-1 */
    for (int b = 0; b < B; b++) {
        size_t o = (size_t)(lsc_rng_u64(rng) % span);
        lsc_seq_row_(bytes, ids, n, o, T, inputs + (size_t)b * T, targets + (size_t)b * T,
                     mask + (size_t)b * T);
    }
    return LSC_OK;
}

size_t lsc_seq_n_windows_(size_t n, int T)
{
    return n < 2 || T < 1 ? 0 : (n - 1 + (size_t)T - 1) / (size_t)T;
}

int lsc_corpus_batch(void *ctx, int B, int T, int *inputs, int *targets,
                     float *mask, uint64_t *rng, lsc_error *err)
{
    int rc = lsc_batch_check_(ctx, B, T, inputs, targets, mask, rng, "corpus batch", err);
    if (rc != LSC_OK)
        return rc;
    const lsc_corpus *c = ctx;
    return lsc_seq_batch_(c->bytes, NULL, c->n, c->path ? c->path : "corpus", "bytes", B, T,
                          inputs, targets, mask, rng, err);
}

size_t lsc_corpus_n_windows(const lsc_corpus *c, int T)
{
    return c ? lsc_seq_n_windows_(c->n, T) : 0;
}

void lsc_corpus_window(const lsc_corpus *c, size_t i, int T, int *inputs,
                       int *targets, float *mask)
{
    LSC_ASSERT(c && T >= 1 && i < lsc_corpus_n_windows(c, T));
    lsc_seq_row_(c->bytes, NULL, c->n, i * (size_t)T, T, inputs, targets, mask);
}

double lsc_corpus_unigram_xent(const lsc_corpus *train, const lsc_corpus *eval)
{
    double count[LSC_BYTE_VOCAB];
    for (int v = 0; v < LSC_BYTE_VOCAB; v++)
        count[v] = 1.0;                               /* add-one smoothing */
    for (size_t i = 0; i < train->n; i++)
        count[train->bytes[i]] += 1.0;
    double total = (double)train->n + LSC_BYTE_VOCAB;
    double logp[LSC_BYTE_VOCAB];
    for (int v = 0; v < LSC_BYTE_VOCAB; v++)
        logp[v] = log(count[v] / total);
    if (eval->n < 2)
        return 0.0;
    double sum = 0.0;
    for (size_t i = 1; i < eval->n; i++)
        sum -= logp[eval->bytes[i]];
    return sum / (double)(eval->n - 1);
}

int lsc_corpus_bigram_xent(const lsc_corpus *train, const lsc_corpus *eval, double *xent, lsc_error *err)
{
    *xent = NAN;
    const size_t V = LSC_BYTE_VOCAB;
    double *count = LSC_CALLOC(V * V + V, sizeof *count);   // (V, V) pairs, then (V) row sums
    if (!count)
        LSC_FAIL(err, LSC_ENOMEM, "bigram cross-entropy: out of memory");
    double *row = count + V * V;
    for (size_t i = 1; i < train->n; i++) {
        count[(size_t)train->bytes[i - 1] * V + train->bytes[i]] += 1.0;
        row[train->bytes[i - 1]] += 1.0;
    }
    double sum = 0.0;
    for (size_t i = 1; i < eval->n; i++) {
        size_t a = eval->bytes[i - 1], b = eval->bytes[i];
        sum -= log((count[a * V + b] + 1.0) / (row[a] + (double)V));   /* add-one smoothing */
    }
    *xent = eval->n < 2 ? 0.0 : sum / (double)(eval->n - 1);
    LSC_FREE(count);
    return LSC_OK;
}

// ---- synthetic tokens ----

int lsc_synthetic_batch(void *ctx, int B, int T, int *inputs, int *targets,
                        float *mask, uint64_t *rng, lsc_error *err)
{
    int rc = lsc_batch_check_(ctx, B, T, inputs, targets, mask, rng, "synthetic batch", err);
    if (rc != LSC_OK)
        return rc;
    const lsc_synthetic *s = ctx;
    if (s->V < 1)
        LSC_FAIL(err, LSC_EARG, "synthetic batch: vocabulary size %d must be >= 1", s->V);
    uint32_t V = (uint32_t)s->V;
    for (int b = 0; b < B; b++) {
        int   *in = inputs + (size_t)b * T;         // (T)
        int   *tg = targets + (size_t)b * T;        // (T)
        float *m  = mask + (size_t)b * T;           // (T)
        int prev = (int)(lsc_rng_u32(rng) % V);
        for (int t = 0; t < T; t++) {
            int next = (int)(lsc_rng_u32(rng) % V);
            in[t] = prev;
            tg[t] = next;
            m[t] = 1.0f;
            prev = next;
        }
    }
    return LSC_OK;
}

// ---- task: construction ----

void lsc_task_free(lsc_task *t)
{
    if (!t)
        return;
    if (t->words)
        for (int i = 0; i < t->n; i++)
            LSC_FREE(t->words[i]);
    if (t->label_names)
        for (int k = 0; k < t->n_labels; k++)
            LSC_FREE(t->label_names[k]);
    if (t->completions_)
        for (int k = 0; k < t->n_labels; k++)
            LSC_FREE(t->completions_[k]);
    LSC_FREE(t->path);
    LSC_FREE(t->words);
    LSC_FREE(t->labels);
    LSC_FREE(t->label_names);
    LSC_FREE(t->completions_);
    memset(t, 0, sizeof *t);
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Fills an empty *t (memset 0) from n items: words[i] (wlen[i] bytes, not
 * necessarily NUL-terminated) and labels[i] indexing names[n_labels]
 * (sorted). Everything is copied. */
static int task_build(lsc_task *t, const char *path, int n, const char *const *words,
                      const int *wlen, const int *labels, int n_labels,
                      const char *const *names, lsc_error *err)
{
    t->path = lsc_strdup_(path);
    t->words = LSC_CALLOC(n > 0 ? (size_t)n : 1, sizeof *t->words);
    t->labels = LSC_MALLOC((n > 0 ? (size_t)n : 1) * sizeof *t->labels);
    t->label_names = LSC_CALLOC((size_t)n_labels, sizeof *t->label_names);
    t->completions_ = LSC_CALLOC((size_t)n_labels, sizeof *t->completions_);
    if (!t->path || !t->words || !t->labels || !t->label_names || !t->completions_)
        goto nomem;
    t->n_labels = n_labels;
    for (int k = 0; k < n_labels; k++) {
        size_t len = strlen(names[k]);
        t->label_names[k] = lsc_strdup_(names[k]);
        t->completions_[k] = LSC_MALLOC(len + 2);
        if (!t->label_names[k] || !t->completions_[k])
            goto nomem;
        memcpy(t->completions_[k], names[k], len);
        t->completions_[k][len] = '\n';
        t->completions_[k][len + 1] = '\0';
        if ((int)len > t->max_label)
            t->max_label = (int)len;
    }
    t->n = n;
    for (int i = 0; i < n; i++) {
        t->words[i] = LSC_MALLOC((size_t)wlen[i] + 1);
        if (!t->words[i])
            goto nomem;
        memcpy(t->words[i], words[i], (size_t)wlen[i]);
        t->words[i][wlen[i]] = '\0';
        t->labels[i] = labels[i];
        LSC_ASSERT(labels[i] >= 0 && labels[i] < n_labels);
        int ex = wlen[i] + 1 + (int)strlen(names[labels[i]]) + 1;
        if (wlen[i] > t->max_word)
            t->max_word = wlen[i];
        if (ex > t->max_example)
            t->max_example = ex;
    }
    return LSC_OK;
nomem:
    lsc_task_free(t);
    LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", path);
}

int lsc_task_label_index(const lsc_task *t, const char *name, size_t len)
{
    int lo = 0, hi = t->n_labels - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const char *s = t->label_names[mid];
        int c = strncmp(s, name, len);
        if (c == 0)
            c = s[len] == '\0' ? 0 : 1;    /* s longer than name sorts after */
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* Index of the first word that repeats (as item pairs via an index sort). */
typedef struct word_ref {
    const char *w;
    int         len;
    int         line;
} word_ref;

static int cmp_word_ref(const void *a, const void *b)
{
    const word_ref *x = a, *y = b;
    int n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->w, y->w, (size_t)n);
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->line < y->line ? -1 : (x->line > y->line);
}

/* The items of a task file as parsed, pointing into its buffer: word i is
 * words[i] (wlen[i] bytes), its label lab[i] (llen[i] bytes), from line
 * lines[i]; labels[i] is filled once the label set is known. */
typedef struct task_items {
    const char **words, **lab;
    int         *wlen, *llen, *labels, *lines;
    int          n;
} task_items;

static void items_free(task_items *it)
{
    LSC_FREE(it->words);
    LSC_FREE(it->lab);
    LSC_FREE(it->wlen);
    LSC_FREE(it->llen);
    LSC_FREE(it->labels);
    LSC_FREE(it->lines);
}

/* Validates line number `line` (s, len bytes without its LF) and appends it. */
static int parse_item(task_items *it, const char *s, size_t len, int line, const char *path, lsc_error *err)
{
    const char *tab = memchr(s, '\t', len);
    if (len == 0)
        LSC_FAIL(err, LSC_EFORMAT, "%s:%d: empty line (expected word<TAB>label)", path, line);
    if (!tab)
        LSC_FAIL(err, LSC_EFORMAT, "%s:%d: no TAB (expected word<TAB>label)", path, line);
    if (memchr(tab + 1, '\t', len - (size_t)(tab - s) - 1))
        LSC_FAIL(err, LSC_EFORMAT, "%s:%d: more than one TAB (expected word<TAB>label)", path, line);
    for (size_t k = 0; k < len; k++) {
        unsigned char ch = (unsigned char)s[k];
        if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            LSC_FAIL(err, LSC_EFORMAT, "%s:%d: control byte 0x%02x%s", path, line, ch,
                     ch == '\r' ? " (CRLF line endings? use LF)" : "");
    }
    size_t wl = (size_t)(tab - s), ll = len - wl - 1;
    if (wl == 0 || ll == 0)
        LSC_FAIL(err, LSC_EFORMAT, "%s:%d: empty %s", path, line, wl == 0 ? "word" : "label");
    if (wl > LSC_TASK_MAX_FIELD || ll > LSC_TASK_MAX_FIELD)
        LSC_FAIL(err, LSC_EFORMAT, "%s:%d: %s longer than %d bytes", path, line,
                 wl > LSC_TASK_MAX_FIELD ? "word" : "label", LSC_TASK_MAX_FIELD);
    int n = it->n++;
    it->words[n] = s;
    it->wlen[n] = (int)wl;
    it->lab[n] = tab + 1;
    it->llen[n] = (int)ll;
    it->lines[n] = line;
    return LSC_OK;
}

/* Every line of buf (size bytes) into it, sized by counting the lines. */
static int parse_items(task_items *it, const char *buf, size_t size, const char *path, lsc_error *err)
{
    size_t cap = 1;
    for (size_t i = 0; i < size; i++)
        cap += buf[i] == '\n';
    if (cap > (size_t)1 << 30)
        LSC_FAIL(err, LSC_EFORMAT, "%s: too many lines", path);
    it->words = LSC_MALLOC(cap * sizeof *it->words);
    it->lab = LSC_MALLOC(cap * sizeof *it->lab);
    it->wlen = LSC_MALLOC(cap * sizeof *it->wlen);
    it->llen = LSC_MALLOC(cap * sizeof *it->llen);
    it->labels = LSC_MALLOC(cap * sizeof *it->labels);
    it->lines = LSC_MALLOC(cap * sizeof *it->lines);
    if (!it->words || !it->lab || !it->wlen || !it->llen || !it->labels || !it->lines)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", path);
    int line = 0;
    size_t p = 0;
    while (p < size) {
        line++;
        size_t e = p;
        while (e < size && buf[e] != '\n')
            e++;
        int rc = parse_item(it, buf + p, e - p, line, path, err);
        if (rc != LSC_OK)
            return rc;
        p = e + 1;
    }
    if (it->n <= 0)
        LSC_FAIL(err, LSC_EFORMAT, "%s: no items (empty file)", path);
    return LSC_OK;
}

/* LSC_EFORMAT naming the first word that repeats (items paired by a sort). */
static int check_unique_words(const task_items *it, const char *path, lsc_error *err)
{
    word_ref *refs = LSC_MALLOC((size_t)it->n * sizeof *refs);
    if (!refs)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", path);
    for (int i = 0; i < it->n; i++)
        refs[i] = (word_ref){ it->words[i], it->wlen[i], it->lines[i] };
    qsort(refs, (size_t)it->n, sizeof *refs, cmp_word_ref);
    int rc = LSC_OK;
    for (int i = 1; i < it->n && rc == LSC_OK; i++)
        if (refs[i].len == refs[i - 1].len && memcmp(refs[i].w, refs[i - 1].w, (size_t)refs[i].len) == 0)
            rc = lsc_error_set(err, LSC_EFORMAT, __FILE__, __LINE__,
                               "%s:%d: duplicate word '%.*s' (first on line %d)", path,
                               refs[i].line, refs[i].len > 64 ? 64 : refs[i].len, refs[i].w,
                               refs[i - 1].line);
    LSC_FREE(refs);
    return rc;
}

/* it->labels from the label set of labels_from; every label must be in it. */
static int labels_lookup(task_items *it, const lsc_task *labels_from, const char *path, lsc_error *err)
{
    for (int i = 0; i < it->n; i++) {
        it->labels[i] = lsc_task_label_index(labels_from, it->lab[i], (size_t)it->llen[i]);
        if (it->labels[i] < 0)
            LSC_FAIL(err, LSC_EFORMAT, "%s:%d: label '%.64s' is not one of the %d labels of %s", path,
                     it->lines[i], it->lab[i], labels_from->n_labels,
                     labels_from->path ? labels_from->path : "the label set");
    }
    return LSC_OK;
}

/* The sorted distinct labels into *names (caller frees; they point into the
 * file buffer), *n_names of them, and it->labels as indices into them. */
static int labels_collect(task_items *it, const char ***names, int *n_names, const char *path, lsc_error *err)
{
    const char **nm = LSC_MALLOC((size_t)it->n * sizeof *nm);
    if (!nm)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", path);
    memcpy(nm, it->lab, (size_t)it->n * sizeof *nm);
    qsort(nm, (size_t)it->n, sizeof *nm, cmp_str_ptr);
    int k = 0;
    for (int i = 0; i < it->n; i++)
        if (k == 0 || strcmp(nm[k - 1], nm[i]) != 0)
            nm[k++] = nm[i];
    lsc_task tmp = { .n_labels = k, .label_names = (char **)nm };
    for (int i = 0; i < it->n; i++)
        it->labels[i] = lsc_task_label_index(&tmp, it->lab[i], (size_t)it->llen[i]);
    *names = nm;
    *n_names = k;
    return LSC_OK;
}

int lsc_task_load(lsc_task *t, const char *path, const lsc_task *labels_from,
                  lsc_error *err)
{
    memset(t, 0, sizeof *t);
    char *buf = NULL;
    size_t size = 0;
    int rc = lsc_read_file_(path, &buf, &size, err);
    if (rc != LSC_OK)
        return rc;
    task_items it = {0};
    const char **names = NULL;
    int n_names = 0;
    if ((rc = parse_items(&it, buf, size, path, err)) != LSC_OK ||
        (rc = check_unique_words(&it, path, err)) != LSC_OK)
        goto done;
    /* the label set: NUL-terminate labels in place (the TAB/LF after them
     * is no longer needed), then either collect or look up */
    for (int i = 0; i < it.n; i++)
        ((char *)it.lab[i])[it.llen[i]] = '\0';     /* buf has size+1 bytes: safe at EOF */
    if (labels_from) {
        rc = labels_lookup(&it, labels_from, path, err);
        if (rc == LSC_OK)
            rc = task_build(t, path, it.n, it.words, it.wlen, it.labels, labels_from->n_labels,
                            (const char *const *)labels_from->label_names, err);
    } else {
        rc = labels_collect(&it, &names, &n_names, path, err);
        if (rc == LSC_OK)
            rc = task_build(t, path, it.n, it.words, it.wlen, it.labels, n_names, names, err);
    }
done:
    LSC_FREE(names);
    items_free(&it);
    LSC_FREE(buf);
    if (rc != LSC_OK)
        lsc_task_free(t);
    return rc;
}

LSC_WRAPS uint32_t lsc_fnv1a32(const void *data, size_t n)
{
    const uint8_t *p = data;
    uint32_t h = 0x811c9dc5u;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x01000193u;
    }
    return h;
}

int lsc_task_word_split(const char *word)
{
    uint32_t r = lsc_fnv1a32(word, strlen(word)) % 10u;
    return r == 0 ? LSC_SPLIT_TEST : r == 1 ? LSC_SPLIT_DEV : LSC_SPLIT_TRAIN;
}

int lsc_task_split(const lsc_task *t, lsc_task *train, lsc_task *dev, lsc_task *test, lsc_error *err)
{
    lsc_task *out[3] = { train, dev, test };
    static const char *const tag[3] = { "train", "dev", "test" };
    for (int s = 0; s < 3; s++)
        memset(out[s], 0, sizeof *out[s]);
    int rc = LSC_OK;
    size_t cap = t->n > 0 ? (size_t)t->n : 1;
    const char **w = LSC_MALLOC(cap * sizeof(char *));
    int *len = LSC_MALLOC(cap * sizeof(int)), *lab = LSC_MALLOC(cap * sizeof(int));
    char name[4096];
    if (!w || !len || !lab) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", t->path);
        goto fail;
    }
    for (int s = 0; s < 3 && rc == LSC_OK; s++) {
        int cnt = 0;
        for (int i = 0; i < t->n; i++)
            if (lsc_task_word_split(t->words[i]) == s) {
                w[cnt] = t->words[i];
                len[cnt] = (int)strlen(t->words[i]);
                lab[cnt] = t->labels[i];
                cnt++;
            }
        snprintf(name, sizeof name, "%s[%s]", t->path ? t->path : "", tag[s]);
        rc = task_build(out[s], name, cnt, w, len, lab, t->n_labels, (const char *const *)t->label_names, err);
    }
    if (rc != LSC_OK)
        for (int s = 0; s < 3; s++)
            lsc_task_free(out[s]);
fail:
    LSC_FREE(w);
    LSC_FREE(len);
    LSC_FREE(lab);
    return rc;
}

int lsc_task_subset(const lsc_task *t, const int *items, int n, lsc_task *out, lsc_error *err)
{
    memset(out, 0, sizeof *out);
    size_t cap = n > 0 ? (size_t)n : 1;
    const char **w = LSC_MALLOC(cap * sizeof(char *));
    int *len = LSC_MALLOC(cap * sizeof(int)), *lab = LSC_MALLOC(cap * sizeof(int));
    int rc = LSC_OK;
    if (!w || !len || !lab) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", t->path);
        goto done;
    }
    for (int q = 0; q < n; q++) {
        if (items[q] < 0 || items[q] >= t->n) {
            rc = lsc_error_set(err, LSC_EARG, __FILE__, __LINE__, "%s: item %d outside 0..%d", t->path, items[q],
                               t->n - 1);
            goto done;
        }
        w[q] = t->words[items[q]];
        len[q] = (int)strlen(w[q]);
        lab[q] = t->labels[items[q]];
    }
    rc = task_build(out, t->path ? t->path : "", n, w, len, lab, t->n_labels, (const char *const *)t->label_names,
                    err);
done:
    LSC_FREE(w);
    LSC_FREE(len);
    LSC_FREE(lab);
    return rc;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int lsc_task_sample(int n, int k, uint64_t seed, int *idx)
{
    if (n < 0)
        return 0;
    if (k <= 0 || k >= n) {
        for (int i = 0; i < n; i++)
            idx[i] = i;
        return n;
    }
    /* the first k steps of a Fisher-Yates shuffle of 0..n-1 (idx holds n) */
    for (int i = 0; i < n; i++)
        idx[i] = i;
    uint64_t rng;
    lsc_rng_seed(&rng, seed);
    for (int j = 0; j < k; j++) {
        int r = j + (int)(lsc_rng_u64(&rng) % (uint64_t)(n - j));
        int tmp = idx[j];
        idx[j] = idx[r];
        idx[r] = tmp;
    }
    qsort(idx, (size_t)k, sizeof *idx, cmp_int);
    return k;
}

// ---- task: prompts, batches, scoring ----

int lsc_task_prompt(const lsc_task *t, int i, int *tokens, int cap)
{
    LSC_ASSERT(t && i >= 0 && i < t->n);
    const uint8_t *w = (const uint8_t *)t->words[i];
    int n = (int)strlen(t->words[i]);
    if (cap < n + 1)
        return LSC_EARG;
    for (int k = 0; k < n; k++)
        tokens[k] = w[k];
    tokens[n] = '\t';
    return n + 1;
}

const char *lsc_task_completion(const lsc_task *t, int i)
{
    LSC_ASSERT(t && i >= 0 && i < t->n);
    return t->completions_[t->labels[i]];
}

int lsc_task_parse(const lsc_task *t, const char *text, size_t n)
{
    const char *nl = memchr(text, '\n', n);
    size_t len = nl ? (size_t)(nl - text) : n;
    if (memchr(text, '\0', len))
        return -1;
    return lsc_task_label_index(t, text, len);
}

int lsc_task_score(const lsc_task *t, int i, const char *text, size_t n)
{
    LSC_ASSERT(t && i >= 0 && i < t->n);
    return lsc_task_parse(t, text, n) == t->labels[i];
}

/* Writes byte j of a (T+1)-byte row into the shifted inputs/targets/mask. */
static inline void row_put(int *in, int *tg, float *m, int T, int j, int byte, float w)
{
    if (j < T)
        in[j] = byte;
    if (j > 0) {
        tg[j - 1] = byte;
        m[j - 1] = w;
    }
}

int lsc_task_batch(void *ctx, int B, int T, int *inputs, int *targets,
                   float *mask, uint64_t *rng, lsc_error *err)
{
    int rc = lsc_batch_check_(ctx, B, T, inputs, targets, mask, rng, "task batch", err);
    if (rc != LSC_OK)
        return rc;
    const lsc_task *t = ctx;
    if (t->n < 1)
        LSC_FAIL(err, LSC_EARG, "%s: task has no items", t->path ? t->path : "task");
    if (t->max_example > T + 1)
        LSC_FAIL(err, LSC_EARG, "%s: context T=%d too short for the longest item (%d bytes with TAB and LF)",
                 t->path ? t->path : "task", T, t->max_example);
    for (int b = 0; b < B; b++) {
        int   *in = inputs + (size_t)b * T;         // (T)
        int   *tg = targets + (size_t)b * T;        // (T)
        float *m  = mask + (size_t)b * T;           // (T)
        int j = 0;                                  /* bytes of the T+1 row placed */
        for (;;) {
            int i = (int)(lsc_rng_u32(rng) % (uint32_t)t->n);
            const uint8_t *w = (const uint8_t *)t->words[i];
            const uint8_t *l = (const uint8_t *)t->label_names[t->labels[i]];
            int wl = (int)strlen((const char *)w), ll = (int)strlen((const char *)l);
            if (j + wl + ll + 2 > T + 1)
                break;
            for (int k = 0; k < wl; k++)
                row_put(in, tg, m, T, j++, w[k], 0.0f);
            row_put(in, tg, m, T, j++, '\t', 0.0f);
            for (int k = 0; k < ll; k++)
                row_put(in, tg, m, T, j++, l[k], 1.0f);
            row_put(in, tg, m, T, j++, '\n', 1.0f);
        }
        while (j < T + 1)
            row_put(in, tg, m, T, j++, '\n', 0.0f);
    }
    return LSC_OK;
}

// ---- task: baselines ----

typedef struct suffix_item {
    uint64_t key;
    int      label;
} suffix_item;

/* The last min(k, len) bytes of word packed with their count: distinct
 * suffixes (including whole words shorter than k) get distinct keys. */
static uint64_t suffix_key(const char *word, int k)
{
    size_t n = strlen(word);
    size_t m = n < (size_t)k ? n : (size_t)k;
    uint64_t key = (uint64_t)m << 56;
    for (size_t i = 0; i < m; i++)
        key |= (uint64_t)(uint8_t)word[n - m + i] << (8 * (m - 1 - i));
    return key;
}

static int cmp_suffix_item(const void *a, const void *b)
{
    const suffix_item *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->label > y->label) - (x->label < y->label);
}

static int argmax_lowest(const int *count, int n)
{
    int best = 0;
    for (int k = 1; k < n; k++)
        if (count[k] > count[best])
            best = k;
    return best;
}

int lsc_task_baselines(const lsc_task *train, const lsc_task *eval,
                       int suffix_len, lsc_baselines *out, lsc_error *err)
{
    memset(out, 0, sizeof *out);
    if (suffix_len < 1 || suffix_len > LSC_TASK_MAX_SUFFIX)
        LSC_FAIL(err, LSC_EARG, "baselines: suffix length %d outside 1..%d", suffix_len,
                 LSC_TASK_MAX_SUFFIX);
    if (train->n < 1 || eval->n < 1)
        LSC_FAIL(err, LSC_EARG, "baselines: %s has no items", train->n < 1 ? train->path : eval->path);
    int same = train->n_labels == eval->n_labels;
    for (int k = 0; same && k < train->n_labels; k++)
        same = strcmp(train->label_names[k], eval->label_names[k]) == 0;
    if (!same)
        LSC_FAIL(err, LSC_EARG, "baselines: %s and %s have different label sets "
                 "(load the evaluation task with labels_from = the training task)",
                 train->path, eval->path);

    int L = train->n_labels;
    int *count = LSC_CALLOC((size_t)L, sizeof *count);
    suffix_item *items = LSC_MALLOC((size_t)train->n * sizeof *items);
    suffix_item *table = LSC_MALLOC((size_t)train->n * sizeof *table);
    int rc = LSC_OK;
    if (!count || !items || !table) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "baselines: out of memory");
        goto fail;
    }
    for (int i = 0; i < train->n; i++)
        count[train->labels[i]]++;
    int major = argmax_lowest(count, L);

    /* suffix table: sort (key, label), one majority label per key */
    for (int i = 0; i < train->n; i++)
        items[i] = (suffix_item){ suffix_key(train->words[i], suffix_len), train->labels[i] };
    qsort(items, (size_t)train->n, sizeof *items, cmp_suffix_item);
    int n_table = 0;
    for (int i = 0; i < train->n;) {
        int j = i;
        memset(count, 0, (size_t)L * sizeof *count);
        while (j < train->n && items[j].key == items[i].key)
            count[items[j++].label]++;
        table[n_table++] = (suffix_item){ items[i].key, argmax_lowest(count, L) };
        i = j;
    }

    int hit_major = 0, hit_suffix = 0, seen = 0;
    for (int i = 0; i < eval->n; i++) {
        suffix_item probe = { suffix_key(eval->words[i], suffix_len), -1 };
        int lo = 0, hi = n_table - 1, pred = major;
        while (lo <= hi) {
            int mid = lo + (hi - lo) / 2;
            if (table[mid].key == probe.key) {
                pred = table[mid].label;
                seen++;
                break;
            }
            if (table[mid].key < probe.key)
                lo = mid + 1;
            else
                hi = mid - 1;
        }
        hit_suffix += pred == eval->labels[i];
        hit_major += major == eval->labels[i];
    }
    out->n_eval = eval->n;
    out->majority_label = major;
    out->majority = (double)hit_major / eval->n;
    out->suffix_len = suffix_len;
    out->suffix = (double)hit_suffix / eval->n;
    out->suffix_seen = (double)seen / eval->n;
fail:
    LSC_FREE(count);
    LSC_FREE(items);
    LSC_FREE(table);
    return rc;
}
