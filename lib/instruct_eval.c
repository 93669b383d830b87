/*
 * instruct_eval.c — evaluation of Alpaca instruction records (lsc_instruct)
 * as a classification over a label set: the distinct outputs of the
 * training records. Rank classification by the log-likelihood of each
 * label's response, greedy exact match, label loss — task_eval.c's three
 * numbers, on the token sequences training feeds (see
 * lsc_instruct_eval.h).
 *
 * Not here: loading and tokenizing the records (data_tok.c, whose
 * lsc_instruct_encode_ builds every candidate), the decoding loop
 * (train.c), the sample rule (data.c), anything printed or written.
 *
 * Rank scoring: an item's L candidates share their prompt, so the longest
 * common prefix P of the L sequences (capped one token short of the
 * shortest) is fed once, in the item's first cache row, and its keys and
 * values are copied to the other L - 1 rows; then each candidate's tokens
 * after P are fed in its own row, all rows of a group of items in lock
 * step (lsc_gpt_forward_step). Target j of a candidate (predicted by the
 * logits at position j - 1) counts when j >= its n_prompt; log-softmax in
 * double.
 *
 * Greedy exact match: with a tokenizer, lsc_decode after encode(BOS +
 * prompt) and the decoded text compared with the labels. With bytes the
 * decoding's path is already in the rank pass: greedy decoding after the
 * prompt's bytes yields label l then LF exactly when every byte of "l\n"
 * is the argmax (lowest index on ties, as lsc_decode) of the logits before
 * it on l's own candidate — and any other output names no label (it is
 * longer than max_label + 1, or not a label followed by LF) — so the
 * bytes need no second prefill of the prompts.
 *
 * Shapes: n items evaluated, L labels, G items per group (G·L cache rows),
 * V vocabulary, W the longest candidate of a group (W - 1 positions fed).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lsc_internal.h"

/* Cache rows (item x label) per group, as task_eval.c's. */
#define INSTRUCT_EVAL_ROWS 256

// ---- the classification view ----

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* t->label_names: d's distinct outputs sorted by bytes (copies). */
static int distinct_labels(lsc_task *t, const lsc_instruct *d, lsc_error *err)
{
    const char **s = LSC_MALLOC((size_t)d->n * sizeof *s);
    t->label_names = LSC_CALLOC((size_t)d->n, sizeof *t->label_names);
    if (!s || !t->label_names) {
        LSC_FREE(s);
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory for the label set", d->path);
    }
    for (int i = 0; i < d->n; i++)
        s[i] = d->output_text[i];
    qsort(s, (size_t)d->n, sizeof *s, cmp_str);
    int rc = LSC_OK;
    for (int i = 0; i < d->n && rc == LSC_OK; i++) {
        if (i > 0 && strcmp(s[i], s[i - 1]) == 0)
            continue;
        if (!(t->label_names[t->n_labels++] = lsc_strdup_(s[i])))
            rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", d->path);
    }
    LSC_FREE(s);
    return rc;
}

static int view_fill(lsc_task *t, const lsc_instruct *d, const lsc_task *labels_from, lsc_error *err)
{
    int rc = LSC_OK;
    if (labels_from) {
        t->label_names = LSC_CALLOC((size_t)labels_from->n_labels, sizeof *t->label_names);
        if (!t->label_names)
            LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", d->path);
        for (; t->n_labels < labels_from->n_labels; t->n_labels++)
            if (!(t->label_names[t->n_labels] = lsc_strdup_(labels_from->label_names[t->n_labels])))
                LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", d->path);
    } else if ((rc = distinct_labels(t, d, err)) != LSC_OK) {
        return rc;
    }
    t->completions_ = LSC_CALLOC((size_t)t->n_labels, sizeof *t->completions_);
    if (!t->completions_)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", d->path);
    for (int l = 0; l < t->n_labels; l++) {
        size_t n = strlen(t->label_names[l]);
        if (!(t->completions_[l] = LSC_MALLOC(n + 2)))
            LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", d->path);
        memcpy(t->completions_[l], t->label_names[l], n);
        memcpy(t->completions_[l] + n, "\n", 2);
        t->max_label = (int)n > t->max_label ? (int)n : t->max_label;
    }
    for (int i = 0; i < d->n; i++) {
        const char *o = d->output_text[i];
        t->labels[i] = lsc_task_label_index(t, o, strlen(o));
        if (t->labels[i] < 0)
            LSC_FAIL(err, LSC_EFORMAT, "%s: record %d: output \"%.64s\" is not a label of %s", d->path, i + 1, o,
                     labels_from && labels_from->path ? labels_from->path : "the label set");
        if (!(t->words[i] = lsc_strdup_(d->prompt_text[i])))
            LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", d->path);
        int w = (int)strlen(d->prompt_text[i]), e = w + (int)strlen(o) + 1;
        t->max_word = w > t->max_word ? w : t->max_word;
        t->max_example = e > t->max_example ? e : t->max_example;
    }
    return LSC_OK;
}

int lsc_instruct_task(lsc_task *t, const lsc_instruct *d, const lsc_task *labels_from, lsc_error *err)
{
    LSC_ASSERT(t && d);
    memset(t, 0, sizeof *t);
    if (d->n < 1)
        LSC_FAIL(err, LSC_EARG, "%s: no records", d->path ? d->path : "instruct");
    t->path = lsc_strdup_(d->path ? d->path : "instruct");
    t->words = LSC_CALLOC((size_t)d->n, sizeof *t->words);
    t->labels = LSC_CALLOC((size_t)d->n, sizeof *t->labels);
    if (!t->path || !t->words || !t->labels)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", d->path ? d->path : "instruct");
    t->n = d->n;
    return view_fill(t, d, labels_from, err);
}

// ---- rank classification ----

/* One group's candidates and work space. */
typedef struct cand_group {
    lsc_kv_cache kv;
    int        **ids;                  /* (G·L) candidate tokens, row g·L + l */
    int         *len, *np;             /* (G·L) tokens, prompt tokens */
    int         *plen;                 /* (G) shared prefix fed once */
    int         *tok, *slot, *pos;     /* (G·L) one step's rows */
    char        *top;                  /* (G·L) or NULL: every response target so far the argmax */
    int          G, cap_G;
} cand_group;

/* The candidates of items[0..G) (rows g·L + l) and each item's prefix. */
static int group_encode(cand_group *w, const lsc_instruct *d, const lsc_task *t, const lsc_tokenizer *tok,
                        const int *items, int G, int *width, lsc_error *err)
{
    const int L = t->n_labels;
    *width = 0;
    for (int g = 0; g < G; g++) {
        int i = items[g], shortest = INT32_MAX;
        for (int l = 0; l < L; l++) {
            int r = g * L + l, rc;
            LSC_FREE(w->ids[r]);
            w->ids[r] = NULL;
            if ((rc = lsc_instruct_encode_(tok, d->prompt_text[i], t->label_names[l], &w->ids[r], &w->len[r],
                                           &w->np[r], d->path, i + 1, err)) != LSC_OK)
                return rc;
            *width = w->len[r] > *width ? w->len[r] : *width;
            shortest = w->len[r] < shortest ? w->len[r] : shortest;
        }
        int p = shortest - 1, r0 = g * L;
        for (int l = 1; l < L; l++) {
            int k = 0;
            while (k < p && w->ids[r0 + l][k] == w->ids[r0][k])
                k++;
            p = k;
        }
        w->plen[g] = p < 1 ? 1 : p;   /* a lone first token is still fed once */
    }
    return LSC_OK;
}

/* Adds, for every row j of the last step (cache row slot[j] at pos[j]),
 * the log-probabilities of the targets at pos + 1 of the candidates the
 * logits stand for: the row's own, or with all = 1 every candidate of
 * its item (the shared prefix). */
static void score_step(const lsc_gpt *m, const cand_group *w, int L, int n, int all, double *ll)
{
    const int V = m->config.vocab;
    for (int j = 0; j < n; j++) {
        const float *x = lsc_gpt_logits(m) + (size_t)j * (size_t)V;
        int r0 = w->slot[j], r1 = all ? r0 + L : r0 + 1, tg = w->pos[j] + 1;
        double lse = NAN;
        int best = -1;
        for (int r = r0; r < r1; r++) {
            if (tg >= w->len[r] || tg < w->np[r])
                continue;
            if (isnan(lse))
                lse = lsc_log_sum_exp_(x, V, &best);
            ll[r] += (double)x[w->ids[r][tg]] - lse;
            if (w->top && w->ids[r][tg] != best)
                w->top[r] = 0;
        }
    }
}

/* Scores the G items whose candidates group_encode built into ll (G, L). */
static int rank_group(lsc_gpt *m, cand_group *w, int L, int G, double *ll, lsc_error *err)
{
    int maxp = 0, rc;
    for (int g = 0; g < G; g++)
        maxp = w->plen[g] > maxp ? w->plen[g] : maxp;
    memset(ll, 0, (size_t)G * (size_t)L * sizeof *ll);
    if (w->top)
        memset(w->top, 1, (size_t)G * (size_t)L);
    for (int p = 0; p < maxp; p++) {   /* the shared prefixes, in each item's first row */
        int n = 0;
        for (int g = 0; g < G; g++)
            if (p < w->plen[g]) {
                w->tok[n] = w->ids[g * L][p];
                w->slot[n] = g * L;
                w->pos[n++] = p;
            }
        if ((rc = lsc_gpt_forward_step(m, &w->kv, w->tok, w->slot, w->pos, n, err)) != LSC_OK)
            return rc;
        score_step(m, w, L, n, 1, ll);
    }
    lsc_kv_share_prefix_(&w->kv, G, L, w->plen);
    for (int k = 0;; k++) {   /* each candidate's own tokens: position plen + k predicts plen + k + 1 */
        int n = 0;
        for (int g = 0; g < G; g++)
            for (int l = 0; l < L; l++) {
                int r = g * L + l, p = w->plen[g] + k;
                if (p + 1 < w->len[r]) {
                    w->tok[n] = w->ids[r][p];
                    w->slot[n] = r;
                    w->pos[n++] = p;
                }
            }
        if (n == 0)
            return LSC_OK;
        if ((rc = lsc_gpt_forward_step(m, &w->kv, w->tok, w->slot, w->pos, n, err)) != LSC_OK)
            return rc;
        score_step(m, w, L, n, 0, ll);
    }
}

/* Activations for at least INSTRUCT_EVAL_ROWS rows of one step and T
 * positions (reallocated when smaller). */
static int ensure_acts(lsc_gpt *m, int T, lsc_error *err)
{
    if (m->acts && m->T_alloc >= T && m->B_alloc * m->T_alloc >= INSTRUCT_EVAL_ROWS)
        return LSC_OK;
    int want = (INSTRUCT_EVAL_ROWS + T - 1) / T;
    return lsc_gpt_alloc_acts(m, want > m->B_alloc ? want : m->B_alloc, T > m->T_alloc ? T : m->T_alloc, err);
}

static int check_items(const lsc_instruct *d, const lsc_task *t, const int *items, int n_items, lsc_error *err)
{
    const char *name = d->path ? d->path : "instruct";
    if (n_items < 1 || t->n_labels < 1)
        LSC_FAIL(err, LSC_EARG, "%s: no items to evaluate", name);
    if (t->n != d->n)
        LSC_FAIL(err, LSC_EARG, "%s: the view has %d items, the records %d", name, t->n, d->n);
    for (int q = 0; q < n_items; q++)
        if (items[q] < 0 || items[q] >= d->n)
            LSC_FAIL(err, LSC_EARG, "%s: item %d outside 0..%d", name, items[q], d->n - 1);
    return LSC_OK;
}

/* lsc_instruct_label_ll; with gpred non-NULL (bytes only) also the
 * greedy predictions read off the same pass: gpred[q] = the label all of
 * whose response targets are the argmax of their logits, else -1. */
static int label_scores(lsc_gpt *m, const lsc_instruct *d, const lsc_task *t, const lsc_tokenizer *tok,
                        const int *items, int n_items, double *ll, int *gpred, lsc_error *err)
{
    int rc = check_items(d, t, items, n_items, err);
    if (rc != LSC_OK)
        return rc;
    const int L = t->n_labels;
    cand_group w;
    memset(&w, 0, sizeof w);
    w.cap_G = INSTRUCT_EVAL_ROWS / L < 1 ? 1 : INSTRUCT_EVAL_ROWS / L;
    w.cap_G = w.cap_G > n_items ? n_items : w.cap_G;
    const size_t R = (size_t)w.cap_G * (size_t)L;
    w.ids = LSC_CALLOC(R, sizeof *w.ids);
    w.len = LSC_MALLOC(R * sizeof(int));
    w.np = LSC_MALLOC(R * sizeof(int));
    w.tok = LSC_MALLOC(R * sizeof(int));
    w.slot = LSC_MALLOC(R * sizeof(int));
    w.pos = LSC_MALLOC(R * sizeof(int));
    w.plen = LSC_MALLOC((size_t)w.cap_G * sizeof(int));
    w.top = gpred ? LSC_MALLOC(R) : NULL;
    if (!w.ids || !w.len || !w.np || !w.tok || !w.slot || !w.pos || !w.plen || (gpred && !w.top)) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "instruct eval: out of memory");
        goto done;
    }
    for (int q0 = 0; q0 < n_items && rc == LSC_OK; q0 += w.cap_G) {
        int G = n_items - q0 < w.cap_G ? n_items - q0 : w.cap_G, width;
        if ((rc = group_encode(&w, d, t, tok, items + q0, G, &width, err)) != LSC_OK)
            break;
        if (width - 1 > m->config.n_ctx) {
            rc = lsc_error_set(err, LSC_EARG, __FILE__, __LINE__,
                               "%s: record %d with a label needs %d tokens of context, above the model's n_ctx %d",
                               d->path, items[q0] + 1, width - 1, m->config.n_ctx);
            break;
        }
        if (w.kv.T < width - 1) {   /* grown to the longest group so far */
            lsc_kv_cache_free(&w.kv);
            if ((rc = lsc_kv_cache_alloc(&w.kv, m, (int)R, width - 1, err)) != LSC_OK ||
                (rc = ensure_acts(m, width - 1, err)) != LSC_OK)
                break;
        }
        w.G = G;
        rc = rank_group(m, &w, L, G, ll + (size_t)q0 * (size_t)L, err);
        for (int g = 0; gpred && g < G; g++) {
            gpred[q0 + g] = -1;
            for (int l = 0; l < L && gpred[q0 + g] < 0; l++)
                if (w.top[g * L + l])
                    gpred[q0 + g] = l;
        }
    }
done:
    if (w.ids)
        for (size_t r = 0; r < R; r++)
            LSC_FREE(w.ids[r]);
    lsc_kv_cache_free(&w.kv);
    LSC_FREE(w.ids);
    LSC_FREE(w.len);
    LSC_FREE(w.np);
    LSC_FREE(w.tok);
    LSC_FREE(w.slot);
    LSC_FREE(w.pos);
    LSC_FREE(w.plen);
    LSC_FREE(w.top);
    return rc;
}

int lsc_instruct_label_ll(lsc_gpt *m, const lsc_instruct *d, const lsc_task *t, const lsc_tokenizer *tok,
                          const int *items, int n_items, double *ll, lsc_error *err)
{
    return label_scores(m, d, t, tok, items, n_items, ll, NULL, err);
}

// ---- greedy decoding and the whole evaluation ----

/* The text row[plen..olen) stands for, without a final end token, into
 * *buf (capacity *cap, grown): bytes as they are; with tok the decoded
 * row minus the decoded prompt (decoding is piece by piece). */
static int decoded_text(const lsc_tokenizer *tok, const int *row, int plen, int olen, int end_id, char **buf,
                        size_t *cap, size_t *n, lsc_error *err)
{
    if (olen > plen && row[olen - 1] == end_id)
        olen--;
    if (!tok) {
        for (int j = plen; j < olen; j++)
            (*buf)[j - plen] = (char)row[j];
        *n = (size_t)(olen - plen);
        return LSC_OK;
    }
    size_t np = 0, nf = 0;
    for (;;) {
        int rc = lsc_tokenizer_decode(tok, row, (size_t)plen, *buf, *cap, &np, err);
        if (rc == LSC_OK)
            rc = lsc_tokenizer_decode(tok, row, (size_t)olen, *buf, *cap, &nf, err);
        if (rc == LSC_OK)
            break;
        if (rc != LSC_ESHAPE)
            return rc;
        size_t want = (np > nf ? np : nf) + 64;
        char *g = LSC_REALLOC(*buf, want);
        if (!g)
            LSC_FAIL(err, LSC_ENOMEM, "instruct eval: out of memory");
        *buf = g;
        *cap = want;
    }
    memmove(*buf, *buf + np, nf - np);
    *n = nf - np;
    return LSC_OK;
}

/* Greedy exact match: pred[q] = the label the decoding of record items[q]'s
 * prompt names, or -1. */
static int greedy_pred(lsc_gpt *m, const lsc_instruct *d, const lsc_task *t, const lsc_tokenizer *tok,
                       const int *items, int n, int *pred, lsc_error *err)
{
    int **pid = LSC_CALLOC((size_t)n, sizeof *pid), *plen = LSC_MALLOC((size_t)n * sizeof(int));
    int *olen = LSC_MALLOC((size_t)n * sizeof(int)), *rows = NULL, width = 0, rc = LSC_OK, dummy;
    size_t cap = 256, nt = 0;
    char *text = LSC_MALLOC(cap);
    const int max_new = t->max_label + 1;
    if (!pid || !plen || !olen || !text) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "instruct eval: out of memory");
        goto done;
    }
    for (int q = 0; q < n && rc == LSC_OK; q++) {
        rc = lsc_instruct_encode_(tok, d->prompt_text[items[q]], NULL, &pid[q], &plen[q], &dummy, d->path,
                                  items[q] + 1, err);
        width = rc == LSC_OK && plen[q] + max_new > width ? plen[q] + max_new : width;
    }
    if (rc != LSC_OK)
        goto done;
    if ((size_t)width >= cap) {
        char *g = LSC_REALLOC(text, (size_t)width + 1);
        text = g ? g : text;
        cap = g ? (size_t)width + 1 : cap;
    }
    rows = LSC_MALLOC((size_t)n * (size_t)width * sizeof(int));
    if (!rows || cap <= (size_t)width) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "instruct eval: out of memory");
        goto done;
    }
    for (int q = 0; q < n; q++)
        memcpy(rows + (size_t)q * width, pid[q], (size_t)plen[q] * sizeof(int));
    int T = width - 1 < m->config.n_ctx ? width - 1 : m->config.n_ctx;
    if ((rc = ensure_acts(m, T, err)) != LSC_OK ||
        (rc = lsc_decode(m, n, rows, width, plen, max_new, d->end_id, 0.0, NULL, olen, err)) != LSC_OK)
        goto done;
    for (int q = 0; q < n && rc == LSC_OK; q++) {
        rc = decoded_text(tok, rows + (size_t)q * width, plen[q], olen[q], d->end_id, &text, &cap, &nt, err);
        pred[q] = rc == LSC_OK ? lsc_task_label_index(t, text, nt) : -1;
        if (pred[q] >= 0 && strlen(t->label_names[pred[q]]) != nt)
            pred[q] = -1;   /* a NUL inside the text */
    }
done:
    for (int q = 0; pid && q < n; q++)
        LSC_FREE(pid[q]);
    LSC_FREE(pid);
    LSC_FREE(plen);
    LSC_FREE(olen);
    LSC_FREE(rows);
    LSC_FREE(text);
    return rc;
}

/* Response tokens of record i's gold candidate (end token included). */
static int gold_tokens(const lsc_instruct *d, const lsc_task *t, const lsc_tokenizer *tok, int i, double *n,
                       lsc_error *err)
{
    int *ids = NULL, len, np;
    int rc = lsc_instruct_encode_(tok, d->prompt_text[i], t->label_names[t->labels[i]], &ids, &len, &np, d->path,
                                  i + 1, err);
    LSC_FREE(ids);
    *n += rc == LSC_OK ? (double)(len - np) : 0.0;
    return rc;
}

int lsc_instruct_eval_items(lsc_gpt *m, const lsc_instruct *d, const lsc_task *t, const lsc_tokenizer *tok,
                            const int *items, int n_items, lsc_task_eval_result *res, int *pred,
                            int *rank_pred, double *label_ll, lsc_error *err)
{
    const int L = t->n_labels;
    lsc_rank_bufs_ b;
    int rc = lsc_rank_bufs_init_(&b, res, n_items, L, pred, label_ll, "instruct eval", err);
    /* bytes: the greedy path is read off the rank pass (see label_scores) */
    if (rc != LSC_OK || (rc = check_items(d, t, items, n_items, err)) != LSC_OK ||
        (rc = label_scores(m, d, t, tok, items, n_items, b.ll, tok ? NULL : b.gp, err)) != LSC_OK ||
        (tok && (rc = greedy_pred(m, d, t, tok, items, n_items, b.gp, err)) != LSC_OK))
        goto done;
    double ntok = 0.0;
    for (int q = 0; q < n_items && rc == LSC_OK; q++) {
        b.gold[q] = t->labels[items[q]];
        rc = gold_tokens(d, t, tok, items[q], &ntok, err);
    }
    if (rc != LSC_OK)
        goto done;
    lsc_rank_tally_(b.ll, b.gold, b.gp, n_items, L, rank_pred, res);
    res->loss /= ntok;
done:
    lsc_rank_bufs_free_(&b);
    return rc;
}
