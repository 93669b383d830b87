/*
 * task_eval.c — evaluation of a word<TAB>label task (data.c's format) by a
 * model: greedy exact match (the decoding loop of train.c), rank
 * classification over all labels, and the teacher-forced label loss, on a
 * chosen list of items (lsc_task_sample draws it).
 *
 * Not here: the split or the sample rule (data.c), the decoding loops
 * (train.c), anything printed or written.
 *
 * Rank classification: item q with prompt "word\t" is scored against every
 * label l by the total log-likelihood of the completion "label\n", the sum
 * over its bytes of log softmax(logits)[byte], teacher-forced after the
 * prompt. The rows "word\tlabel\n" of a group of items and all L labels
 * go through the key/value-cached step forward (lsc_gpt_forward_step): each
 * prompt is fed once and its keys/values shared by its L rows, so a row
 * costs only its label's bytes (about 2.4x fewer positions than a full
 * forward of every row, and no padding; measured 1.3-1.5x faster than
 * length-sorted chunks of whole rows); log-softmax in double from the
 * logits. The label loss is the gold rows' -sum / their byte count.
 *
 * Shapes: n items evaluated, L labels, G items per group (G·L cache slots),
 * V vocabulary.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lsc_internal.h"

/* Rank scoring: cache slots (item x label rows) per group; the key/value
 * cache holds 2·L·rows·(width - 1)·C floats (~80 MB at d=512 L2 width 40),
 * and every step of the group is one forward of up to this many rows. */
#define TASK_EVAL_ROWS 256

/* Items in order of length, stable: similar lengths share a chunk of the
 * greedy decoding, so its rows stop at about the same step. */
typedef struct len_idx {
    int len, idx;
} len_idx;

static int cmp_len_idx(const void *a, const void *b)
{
    const len_idx *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* "word\t" + the longest "label\n"; the last byte is only ever a target, so
 * the model sees at most width - 1 tokens. Checks the items and the
 * context, and makes sure m has activations of width - 1 positions for at
 * least TASK_EVAL_ROWS rows of one step (reallocating them otherwise). */
static int eval_prepare(lsc_gpt *m, const lsc_task *t, const int *items, int n_items, int *width,
                        lsc_error *err)
{
    const char *name = t->path ? t->path : "task";
    if (n_items < 1 || t->n_labels < 1)
        LSC_FAIL(err, LSC_EARG, "%s: no items to evaluate", name);
    for (int q = 0; q < n_items; q++)
        if (items[q] < 0 || items[q] >= t->n)
            LSC_FAIL(err, LSC_EARG, "%s: item %d outside 0..%d", name, items[q], t->n - 1);
    int w = t->max_word + 1 + t->max_label + 1;
    if (w - 1 > m->config.n_ctx)
        LSC_FAIL(err, LSC_EARG, "%s: items need %d tokens of context, above the model's n_ctx %d", name, w - 1,
                 m->config.n_ctx);
    *width = w;
    int want = (TASK_EVAL_ROWS + w - 2) / (w - 1);
    if (m->acts && m->T_alloc >= w - 1 && m->B_alloc * m->T_alloc >= TASK_EVAL_ROWS)
        return LSC_OK;
    return lsc_gpt_alloc_acts(m, want > m->B_alloc ? want : m->B_alloc, w - 1, err);
}

// ---- rank classification ----

double lsc_log_sum_exp_(const float *x, int V, int *best)
{
    int b = 0;
    for (int j = 1; j < V; j++)
        if (x[j] > x[b])
            b = j;
    double mx = x[b], z = 0.0;
    for (int j = 0; j < V; j++)
        z += exp((double)x[j] - mx);
    if (best)
        *best = b;
    return mx + log(z);
}

static double log_sum_exp(const float *x, int V)
{
    return lsc_log_sum_exp_(x, V, NULL);
}

void lsc_kv_share_prefix_(lsc_kv_cache *kv, int G, int L, const int *plen)
{
    const size_t TC = (size_t)kv->T * (size_t)kv->C;
    for (int ly = 0; ly < kv->n_layer; ly++)
        for (int g = 0; g < G; g++)
            for (int l = 1; l < L; l++) {
                size_t src = ((size_t)ly * kv->rows + (size_t)g * L) * TC, dst = src + (size_t)l * TC;
                memcpy(kv->k + dst, kv->k + src, (size_t)plen[g] * kv->C * sizeof(float));
                memcpy(kv->v + dst, kv->v + src, (size_t)plen[g] * kv->C * sizeof(float));
            }
}

void lsc_rank_tally_(const double *ll, const int *gold, const int *gp, int n, int L, int *rank_pred,
                     lsc_task_eval_result *res)
{
    long hit = 0, rank_hit = 0;
    double nll = 0.0;
    for (int q = 0; q < n; q++) {
        const double *row = ll + (size_t)q * L;
        int best = 0;
        for (int l = 1; l < L; l++)
            if (row[l] > row[best])
                best = l;   /* ties: the lowest label index */
        if (rank_pred)
            rank_pred[q] = best;
        hit += gp[q] == gold[q];
        rank_hit += best == gold[q];
        nll -= row[gold[q]];
    }
    res->n = n;
    res->accuracy = (double)hit / n;
    res->rank_accuracy = (double)rank_hit / n;
    res->loss = nll;   /* the caller divides by the gold labels' token count */
}

int lsc_rank_bufs_init_(lsc_rank_bufs_ *b, lsc_task_eval_result *res, int n, int L, int *pred,
                        double *label_ll, const char *what, lsc_error *err)
{
    memset(b, 0, sizeof *b);
    b->pred = pred;
    b->label_ll = label_ll;
    res->n = 0;
    res->accuracy = res->rank_accuracy = res->loss = NAN;
    if (n < 1 || L < 1)
        return LSC_OK;
    b->gp = pred ? pred : LSC_MALLOC((size_t)n * sizeof(int));
    b->ll = label_ll ? label_ll : LSC_MALLOC((size_t)n * (size_t)L * sizeof(double));
    b->gold = LSC_MALLOC((size_t)n * sizeof(int));
    if (!b->gp || !b->ll || !b->gold)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", what);
    return LSC_OK;
}

void lsc_rank_bufs_free_(lsc_rank_bufs_ *b)
{
    LSC_FREE(b->gold);
    if (b->gp != b->pred)
        LSC_FREE(b->gp);
    if (b->ll != b->label_ll)
        LSC_FREE(b->ll);
    memset(b, 0, sizeof *b);
}

/* Work space of one group of items: G items x L labels = G·L cache slots. */
typedef struct rank_work {
    lsc_kv_cache kv;
    int         *tok, *slot, *pos, *plen, *clen;   /* (G·L) (G·L) (G·L) (G) (L) */
    int          G;
} rank_work;

/* Items items[0..G) into ll (G, L): their prompts are fed once (prefill in
 * slot g·L, whose last logits score every label's first byte), the prompt's
 * keys/values copied to the item's other L - 1 slots, then every label's
 * completion is fed in its own slot, all rows of the group in lock step. */
static int rank_group(lsc_gpt *m, const lsc_task *t, const int *items, int G, rank_work *w, double *ll,
                      lsc_error *err)
{
    const int L = t->n_labels, V = m->config.vocab;
    int maxp = 0, rc;
    for (int g = 0; g < G; g++) {
        w->plen[g] = (int)strlen(t->words[items[g]]) + 1;
        maxp = w->plen[g] > maxp ? w->plen[g] : maxp;
    }
    memset(ll, 0, (size_t)G * (size_t)L * sizeof *ll);
    for (int p = 0; p < maxp; p++) {   /* prefill "word\t" */
        int n = 0;
        for (int g = 0; g < G; g++)
            if (p < w->plen[g]) {
                w->tok[n] = p + 1 < w->plen[g] ? (unsigned char)t->words[items[g]][p] : '\t';
                w->slot[n] = g * L;
                w->pos[n++] = p;
            }
        if ((rc = lsc_gpt_forward_step(m, &w->kv, w->tok, w->slot, w->pos, n, err)) != LSC_OK)
            return rc;
        for (int j = 0; j < n; j++) {
            int g = w->slot[j] / L;
            if (p != w->plen[g] - 1)
                continue;
            const float *x = lsc_gpt_logits(m) + (size_t)j * (size_t)V;
            double lse = log_sum_exp(x, V);
            for (int l = 0; l < L; l++)
                ll[(size_t)g * L + l] += (double)x[(unsigned char)t->completions_[l][0]] - lse;
        }
    }
    lsc_kv_share_prefix_(&w->kv, G, L, w->plen);
    /* byte k of "label\n" is fed at position plen + k and predicts byte k + 1 */
    for (int k = 0;; k++) {
        int n = 0;
        for (int g = 0; g < G; g++)
            for (int l = 0; l < L; l++)
                if (k + 1 < w->clen[l]) {
                    w->tok[n] = (unsigned char)t->completions_[l][k];
                    w->slot[n] = g * L + l;
                    w->pos[n++] = w->plen[g] + k;
                }
        if (n == 0)
            return LSC_OK;
        if ((rc = lsc_gpt_forward_step(m, &w->kv, w->tok, w->slot, w->pos, n, err)) != LSC_OK)
            return rc;
        for (int j = 0; j < n; j++) {
            const float *x = lsc_gpt_logits(m) + (size_t)j * (size_t)V;
            int l = w->slot[j] % L;
            ll[w->slot[j]] += (double)x[(unsigned char)t->completions_[l][k + 1]] - log_sum_exp(x, V);
        }
    }
}

static int rank_ll(lsc_gpt *m, const lsc_task *t, const int *items, int n_items, double *ll,
                   lsc_eval_progress_fn progress, void *ctx, lsc_error *err)
{
    int width, rc = eval_prepare(m, t, items, n_items, &width, err);
    if (rc != LSC_OK)
        return rc;
    const int L = t->n_labels;
    rank_work w;
    memset(&w, 0, sizeof w);
    w.G = TASK_EVAL_ROWS / L;
    if (w.G > m->B_alloc * m->T_alloc / L)
        w.G = m->B_alloc * m->T_alloc / L;
    if (w.G < 1)
        w.G = 1;
    if (w.G > n_items)
        w.G = n_items;
    const size_t R = (size_t)w.G * (size_t)L;
    if ((rc = lsc_kv_cache_alloc(&w.kv, m, (int)R, width - 1, err)) != LSC_OK)
        return rc;
    w.tok = LSC_MALLOC(R * sizeof(int));
    w.slot = LSC_MALLOC(R * sizeof(int));
    w.pos = LSC_MALLOC(R * sizeof(int));
    w.plen = LSC_MALLOC((size_t)w.G * sizeof(int));
    w.clen = LSC_MALLOC((size_t)L * sizeof(int));
    if (!w.tok || !w.slot || !w.pos || !w.plen || !w.clen) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "task eval: out of memory");
        goto done;
    }
    for (int l = 0; l < L; l++)
        w.clen[l] = (int)strlen(t->completions_[l]);
    for (int q0 = 0; q0 < n_items && rc == LSC_OK; q0 += w.G) {
        int G = n_items - q0 < w.G ? n_items - q0 : w.G;
        rc = rank_group(m, t, items + q0, G, &w, ll + (size_t)q0 * (size_t)L, err);
        if (progress && rc == LSC_OK)
            progress(ctx, q0 + G, n_items);
    }
done:
    lsc_kv_cache_free(&w.kv);
    LSC_FREE(w.tok);
    LSC_FREE(w.slot);
    LSC_FREE(w.pos);
    LSC_FREE(w.plen);
    LSC_FREE(w.clen);
    return rc;
}

int lsc_task_label_ll(lsc_gpt *m, const lsc_task *t, const int *items, int n_items, double *ll,
                      lsc_error *err)
{
    return rank_ll(m, t, items, n_items, ll, NULL, NULL, err);
}

// ---- greedy decoding and the whole evaluation ----

/* Greedy exact match: decodes every item's prompt until LF (at most
 * max_label + 1 bytes); pred[q] = the label it names, or -1. */
static int greedy_pred(lsc_gpt *m, const lsc_task *t, const int *items, int n, int width, int *pred,
                       lsc_error *err)
{
    int *tok = LSC_MALLOC((size_t)n * (size_t)width * sizeof(int));
    int *plen = LSC_MALLOC((size_t)n * sizeof(int)), *olen = LSC_MALLOC((size_t)n * sizeof(int));
    char *text = LSC_MALLOC((size_t)width + 1);
    len_idx *order = LSC_MALLOC((size_t)n * sizeof(len_idx));
    int rc = LSC_OK;
    if (!tok || !plen || !olen || !text || !order) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "task eval: out of memory");
        goto done;
    }
    for (int q = 0; q < n; q++) {
        order[q].idx = q;
        order[q].len = (int)strlen(t->words[items[q]]) + 1 + (int)strlen(lsc_task_completion(t, items[q]));
    }
    qsort(order, (size_t)n, sizeof *order, cmp_len_idx);
    /* row r of the decoding holds item items[order[r].idx] */
    for (int r = 0; r < n; r++)
        plen[r] = lsc_task_prompt(t, items[order[r].idx], tok + (size_t)r * width, width);
    if ((rc = lsc_decode(m, n, tok, width, plen, t->max_label + 1, '\n', 0.0, NULL, olen, err)) != LSC_OK)
        goto done;
    for (int r = 0; r < n; r++) {
        int k = 0;
        for (int j = plen[r]; j < olen[r]; j++)
            text[k++] = (char)tok[(size_t)r * width + j];
        pred[order[r].idx] = lsc_task_parse(t, text, (size_t)k);
    }
done:
    LSC_FREE(tok);
    LSC_FREE(plen);
    LSC_FREE(olen);
    LSC_FREE(text);
    LSC_FREE(order);
    return rc;
}

int lsc_task_eval_items(lsc_gpt *m, const lsc_task *t, const int *items, int n_items,
                        lsc_task_eval_result *res, int *pred, int *rank_pred, double *label_ll,
                        lsc_error *err)
{
    return lsc_task_eval_items_progress(m, t, items, n_items, res, pred, rank_pred, label_ll, NULL, NULL,
                                        err);
}

int lsc_task_eval_items_progress(lsc_gpt *m, const lsc_task *t, const int *items, int n_items,
                                 lsc_task_eval_result *res, int *pred, int *rank_pred, double *label_ll,
                                 lsc_eval_progress_fn progress, void *ctx, lsc_error *err)
{
    const int L = t->n_labels;
    lsc_rank_bufs_ b;
    int width, rc = lsc_rank_bufs_init_(&b, res, n_items, L, pred, label_ll, "task eval", err);
    if (rc == LSC_OK && progress)
        progress(ctx, 0, n_items);
    if (rc != LSC_OK || (rc = eval_prepare(m, t, items, n_items, &width, err)) != LSC_OK ||
        (rc = greedy_pred(m, t, items, n_items, width, b.gp, err)) != LSC_OK ||
        (rc = rank_ll(m, t, items, n_items, b.ll, progress, ctx, err)) != LSC_OK)
        goto done;
    double bytes = 0.0;
    for (int q = 0; q < n_items; q++) {
        b.gold[q] = t->labels[items[q]];
        bytes += (double)strlen(t->completions_[b.gold[q]]);
    }
    lsc_rank_tally_(b.ll, b.gold, b.gp, n_items, L, rank_pred, res);
    res->loss /= bytes;
done:
    lsc_rank_bufs_free_(&b);
    return rc;
}

int lsc_task_eval(lsc_gpt *m, const lsc_task *t, int limit, double *accuracy, double *loss, int *pred,
                  lsc_error *err)
{
    *accuracy = NAN;
    *loss = NAN;
    int n = limit > 0 && limit < t->n ? limit : t->n;
    if (n < 1)
        LSC_FAIL(err, LSC_EARG, "%s: no items to evaluate", t->path ? t->path : "task");
    int *items = LSC_MALLOC((size_t)n * sizeof(int));
    if (!items)
        LSC_FAIL(err, LSC_ENOMEM, "task eval: out of memory");
    for (int i = 0; i < n; i++)
        items[i] = i;
    lsc_task_eval_result res;
    int rc = lsc_task_eval_items(m, t, items, n, &res, pred, NULL, NULL, err);
    LSC_FREE(items);
    if (rc == LSC_OK) {
        *accuracy = res.accuracy;
        *loss = res.loss;
    }
    return rc;
}
