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
 * prompt. Rows "word\tlabel\n" for all (item, label) pairs are sorted by
 * length and run through lsc_gpt_forward a chunk of rows at a time, each
 * chunk only as wide as its longest row; log-softmax in double from the
 * logits. The label loss is the gold rows' -sum / their byte count.
 *
 * Shapes: n items evaluated, L labels, Bc rows per chunk, Tc its width,
 * V vocabulary.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lsc_internal.h"

/* Rows per forward: about this many tokens per chunk. Activations of the
 * whole chunk are held: 2048 tokens of a d=512 L2 model are ~220 MB, what
 * training that model at B16 T128 holds; half of it ran ~20 % slower. */
#define TASK_EVAL_TOKENS 2048

/* Items in order of length, stable: similar lengths share a chunk, so
 * decoding and scoring pad little. */
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
 * context, and makes sure m has activations for at least
 * TASK_EVAL_TOKENS / (width - 1) rows of width - 1 (reallocating them
 * otherwise). */
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
    int want = TASK_EVAL_TOKENS / (w - 1);
    if (want < 1)
        want = 1;
    if (m->acts && m->T_alloc >= w - 1 && m->B_alloc >= want)
        return LSC_OK;
    return lsc_gpt_alloc_acts(m, want, w - 1, err);
}

// ---- rank classification ----

/* log softmax(logits)[target] in double. */
static double log_prob(const float *logits, int V, int target)
{
    double mx = logits[0];
    for (int j = 1; j < V; j++)
        if (logits[j] > mx)
            mx = logits[j];
    double z = 0.0;
    for (int j = 0; j < V; j++)
        z += exp((double)logits[j] - mx);
    return (double)logits[target] - mx - log(z);
}

/* Fills the (Bc, Tc) inputs of rows order[r0 .. r0+nb) and returns, through
 * ll, their completion log-likelihoods after the forward. */
static int score_chunk(lsc_gpt *m, const lsc_task *t, const int *items, const len_idx *order, int nb,
                       int *in, double *ll, lsc_error *err)
{
    const int L = t->n_labels, V = m->config.vocab, Tc = order[nb - 1].len - 1;
    for (int b = 0; b < nb; b++) {
        int q = order[b].idx / L, l = order[b].idx % L;
        const char *w = t->words[items[q]], *c = t->completions_[l];
        int *row = in + (size_t)b * Tc, j = 0;
        for (; *w && j < Tc; w++)
            row[j++] = (unsigned char)*w;
        if (j < Tc)
            row[j++] = '\t';
        for (; *c && j < Tc; c++)
            row[j++] = (unsigned char)*c;
        while (j < Tc)
            row[j++] = '\n';   /* pad: never a scored position of this row */
    }
    int rc = lsc_gpt_forward(m, in, NULL, NULL, nb, Tc, NULL, err);
    if (rc != LSC_OK)
        return rc;
    const float *logits = lsc_gpt_logits(m);
    for (int b = 0; b < nb; b++) {
        int q = order[b].idx / L, l = order[b].idx % L;
        const char *c = t->completions_[l];
        int p = (int)strlen(t->words[items[q]]) + 1, n = (int)strlen(c);
        double s = 0.0;
        /* byte k of "label\n" sits at position p + k, predicted at p + k - 1 */
        for (int k = 0; k < n; k++)
            s += log_prob(logits + ((size_t)b * Tc + (size_t)(p + k - 1)) * (size_t)V, V, (unsigned char)c[k]);
        ll[order[b].idx] = s;
    }
    return LSC_OK;
}

int lsc_task_label_ll(lsc_gpt *m, const lsc_task *t, const int *items, int n_items, double *ll,
                      lsc_error *err)
{
    int width, rc = eval_prepare(m, t, items, n_items, &width, err);
    if (rc != LSC_OK)
        return rc;
    const int L = t->n_labels;
    const size_t nr = (size_t)n_items * (size_t)L;
    len_idx *order = LSC_MALLOC(nr * sizeof *order);
    int *in = LSC_MALLOC((size_t)m->B_alloc * (size_t)(width - 1) * sizeof(int));
    if (!order || !in) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "task eval: out of memory");
        goto done;
    }
    for (size_t r = 0; r < nr; r++) {
        order[r].idx = (int)r;
        order[r].len = (int)strlen(t->words[items[r / (size_t)L]]) + 1 +
                       (int)strlen(t->completions_[r % (size_t)L]);
    }
    qsort(order, nr, sizeof *order, cmp_len_idx);
    /* rows ascend in length: a chunk is as wide as its last row */
    for (size_t r0 = 0; r0 < nr;) {
        int nb = nr - r0 < (size_t)m->B_alloc ? (int)(nr - r0) : m->B_alloc;
        if ((rc = score_chunk(m, t, items, order + r0, nb, in, ll, err)) != LSC_OK)
            goto done;
        r0 += (size_t)nb;
    }
done:
    LSC_FREE(order);
    LSC_FREE(in);
    return rc;
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
    res->n = 0;
    res->accuracy = res->rank_accuracy = res->loss = NAN;
    int width, rc = eval_prepare(m, t, items, n_items, &width, err);
    if (rc != LSC_OK)
        return rc;
    const int L = t->n_labels;
    int *gp = pred ? pred : LSC_MALLOC((size_t)n_items * sizeof(int));
    double *ll = label_ll ? label_ll : LSC_MALLOC((size_t)n_items * (size_t)L * sizeof(double));
    if (!gp || !ll) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "task eval: out of memory");
        goto done;
    }
    if ((rc = greedy_pred(m, t, items, n_items, width, gp, err)) != LSC_OK ||
        (rc = lsc_task_label_ll(m, t, items, n_items, ll, err)) != LSC_OK)
        goto done;
    long hit = 0, rank_hit = 0;
    double nll = 0.0, bytes = 0.0;
    for (int q = 0; q < n_items; q++) {
        const double *row = ll + (size_t)q * L;
        int gold = t->labels[items[q]], best = 0;
        for (int l = 1; l < L; l++)
            if (row[l] > row[best])
                best = l;   /* ties: the lowest label index */
        if (rank_pred)
            rank_pred[q] = best;
        hit += gp[q] == gold;
        rank_hit += best == gold;
        nll -= row[gold];
        bytes += (double)strlen(t->completions_[gold]);
    }
    res->n = n_items;
    res->accuracy = (double)hit / n_items;
    res->rank_accuracy = (double)rank_hit / n_items;
    res->loss = nll / bytes;
done:
    if (gp != pred)
        LSC_FREE(gp);
    if (ll != label_ll)
        LSC_FREE(ll);
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
