/*
 * test_task_eval.c — task evaluation (lib/task_eval.c): the batched
 * rank-classification log-likelihoods against brute-force scoring of each
 * (item, label) row alone through the same model's forward (1e-6
 * relative), with and without a LoRA adapter; rank accuracy, rank_pred and
 * the label loss recomputed from those; greedy predictions against
 * lsc_task_eval; the argument errors. Also the update norms (lib/delta.c)
 * against dense double sums on a random adapter (the numpy cross-check on
 * real runs is tests/test_train_outputs.py).
 * Runs from the project root (tests/run.sh does).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lsc_internal.h"
#include "test.h"

#define TINY_TSV "data/fixtures/supersense_tiny.tsv"

static const lsc_gpt_config cfg = {.n_layer = 2, .n_head = 2, .n_embd = 32, .n_ctx = 40, .vocab = 256};

/* Total log-likelihood of completion c after prompt "word\t", by one
 * forward of that row alone and log-softmax in double. */
static double brute_ll(lsc_gpt *m, const char *word, const char *c)
{
    lsc_error err = {0};
    int row[64], n = 0;
    for (const char *p = word; *p; p++)
        row[n++] = (unsigned char)*p;
    row[n++] = '\t';
    int p0 = n;
    for (const char *p = c; *p; p++)
        row[n++] = (unsigned char)*p;
    if (lsc_gpt_forward(m, row, NULL, NULL, 1, n - 1, NULL, &err) != LSC_OK)
        return NAN;
    const float *lg = lsc_gpt_logits(m);
    double s = 0.0;
    for (int j = p0 - 1; j < n - 1; j++) {
        const float *x = lg + (size_t)j * 256;
        double mx = x[0], z = 0.0;
        for (int v = 1; v < 256; v++)
            mx = x[v] > mx ? x[v] : mx;
        for (int v = 0; v < 256; v++)
            z += exp((double)x[v] - mx);
        s += (double)x[row[j + 1]] - mx - log(z);
    }
    return s;
}

/* The batched scores, rank classification and loss against brute force. */
static void check_rank(lsc_gpt *m, const lsc_task *t, const char *what)
{
    lsc_error err = {0};
    enum { NQ = 12 };
    int items[NQ], L = t->n_labels;
    int *all = malloc((size_t)t->n * sizeof *all);   /* lsc_task_sample needs room for all n */
    if (!all)
        abort();
    lsc_task_sample(t->n, NQ, 5, all);
    memcpy(items, all, sizeof items);
    free(all);
    double *ll = malloc((size_t)NQ * L * sizeof *ll);
    int pred[NQ], rpred[NQ];
    lsc_task_eval_result res;
    int rc = lsc_task_eval_items(m, t, items, NQ, &res, pred, rpred, ll, &err);
    CHECK(rc == LSC_OK && res.n == NQ, "%s: lsc_task_eval_items on %d items x %d labels (%s)", what, NQ, L,
          rc ? err.msg : "ok");
    if (rc != LSC_OK) {
        free(ll);
        return;
    }
    /* brute force needs activations for one row; it changes m's allocation,
     * so the batched numbers above were taken first */
    lsc_gpt_alloc_acts(m, 1, cfg.n_ctx, &err);
    double worst = 0.0, nll = 0.0, bytes = 0.0;
    int hit = 0, rank_ok = 1;
    for (int q = 0; q < NQ; q++) {
        int best = 0;
        double bll = -INFINITY;
        for (int l = 0; l < L; l++) {
            char comp[64];
            snprintf(comp, sizeof comp, "%s\n", t->label_names[l]);
            double b = brute_ll(m, t->words[items[q]], comp);
            double rel = fabs(ll[(size_t)q * L + l] - b) / fmax(fabs(b), 1e-12);
            worst = rel > worst ? rel : worst;
            if (b > bll) {
                bll = b;
                best = l;
            }
            if (l == t->labels[items[q]]) {
                nll -= b;
                bytes += (double)strlen(comp);
            }
        }
        rank_ok &= rpred[q] == best;
        hit += best == t->labels[items[q]];
    }
    CHECK(worst < 1e-6, "%s: batched log-likelihoods = each row alone through the forward (max rel. diff %.2g)",
          what, worst);
    CHECK(rank_ok && fabs(res.rank_accuracy - (double)hit / NQ) < 1e-12,
          "%s: rank_pred = argmax over all labels, rank accuracy %.3f", what, res.rank_accuracy);
    CHECK(fabs(res.loss - nll / bytes) < 1e-6 * fabs(nll / bytes), "%s: label loss %.6f = gold rows' -sum/bytes %.6f",
          what, res.loss, nll / bytes);
    int gok = 1, ghit = 0;
    for (int q = 0; q < NQ; q++) {
        gok &= pred[q] >= -1 && pred[q] < L;
        ghit += pred[q] == t->labels[items[q]];
    }
    CHECK(gok && fabs(res.accuracy - (double)ghit / NQ) < 1e-12, "%s: greedy accuracy %.3f from pred", what,
          res.accuracy);
    free(ll);
}

static void test_rank(void)
{
    lsc_error err = {0};
    lsc_task t;
    if (lsc_task_load(&t, TINY_TSV, NULL, &err) != LSC_OK) {
        CHECK(0, "load %s: %s", TINY_TSV, err.msg);
        return;
    }
    lsc_gpt m;
    uint64_t rng;
    lsc_rng_seed(&rng, 11);
    if (lsc_gpt_init(&m, &cfg, &err) != LSC_OK) {
        CHECK(0, "model: %s", err.msg);
        lsc_task_free(&t);
        return;
    }
    lsc_gpt_init_weights(&m, &rng);
    check_rank(&m, &t, "base");

    /* with an adapter whose B is not zero */
    lsc_lora lo;
    lsc_lora_config lc = {.alpha = 8, .init = LSC_LORA_INIT_KAIMING};
    lc.rank[LSC_LORA_Q] = 4;
    lc.rank[LSC_LORA_V] = 2;
    int rc = lsc_lora_init(&lo, &cfg, &lc, &rng, &err);
    for (size_t i = 0; rc == LSC_OK && i < lo.num_parameters; i++)
        lo.params[i] = 0.3f * (float)lsc_rng_normal(&rng);
    if (rc == LSC_OK)
        rc = lsc_gpt_set_lora(&m, &lo, &err);
    CHECK(rc == LSC_OK, "adapter set (%s)", rc ? err.msg : "ok");
    if (rc == LSC_OK)
        check_rank(&m, &t, "base + LoRA");

    /* greedy predictions agree with lsc_task_eval on the first items */
    int items[20], p1[20], p2[20];
    for (int i = 0; i < 20; i++)
        items[i] = i;
    lsc_task_eval_result res;
    double acc, loss;
    rc = lsc_task_eval_items(&m, &t, items, 20, &res, p1, NULL, NULL, &err);
    rc |= lsc_task_eval(&m, &t, 20, &acc, &loss, p2, &err);
    CHECK(rc == LSC_OK && memcmp(p1, p2, sizeof p1) == 0 && acc == res.accuracy && loss == res.loss,
          "lsc_task_eval(limit 20) = lsc_task_eval_items(0..19)");
    items[3] = t.n;
    CHECK(lsc_task_eval_items(&m, &t, items, 20, &res, NULL, NULL, NULL, &err) == LSC_EARG && strstr(err.msg, "item"),
          "an item out of range is LSC_EARG: %s", err.msg);
    CHECK(lsc_task_eval_items(&m, &t, items, 0, &res, NULL, NULL, NULL, &err) == LSC_EARG, "no items is LSC_EARG");
    lsc_gpt_set_lora(&m, NULL, &err);
    lsc_lora_free(&lo);
    lsc_gpt_free(&m);
    lsc_task_free(&t);
}

// ---- update norms ----

static void test_delta(void)
{
    lsc_error err = {0};
    lsc_gpt m;
    uint64_t rng;
    lsc_rng_seed(&rng, 3);
    if (lsc_gpt_init(&m, &cfg, &err) != LSC_OK)
        return;
    lsc_gpt_init_weights(&m, &rng);
    lsc_lora lo;
    lsc_lora_config lc = {.alpha = 6, .init = LSC_LORA_INIT_GAUSSIAN};
    lc.rank[LSC_LORA_Q] = 3;
    lc.rank[LSC_LORA_FC_IN] = 5;
    int rc = lsc_lora_init(&lo, &cfg, &lc, &rng, &err);
    for (size_t i = 0; rc == LSC_OK && i < lo.num_parameters; i++)
        lo.params[i] = (float)lsc_rng_normal(&rng);
    lsc_delta_norm *d = calloc((size_t)lo.n_modules, sizeof *d);
    rc |= lsc_delta_lora(&m, &lo, d, &err);
    double worst = 0.0;
    for (int i = 0; rc == LSC_OK && i < lo.n_modules; i++) {
        const lsc_lora_module *mod = &lo.modules[i];
        float *w, *b;
        int out, in;
        lsc_gpt_linear(&m, mod->layer, mod->target, &w, &b, &out, &in);
        double s = 0.0, sw = 0.0;   /* dense s·B·A in double */
        for (int o = 0; o < out; o++)
            for (int k = 0; k < in; k++) {
                double x = 0.0;
                for (int j = 0; j < mod->r; j++)
                    x += (double)mod->B[(size_t)o * mod->r + j] * (double)mod->A[(size_t)j * in + k];
                x *= mod->scale;
                s += x * x;
                sw += (double)w[(size_t)o * in + k] * w[(size_t)o * in + k];
            }
        double r1 = fabs(d[i].dw_fro - sqrt(s)) / sqrt(s), r2 = fabs(d[i].w_fro - sqrt(sw)) / sqrt(sw);
        double r3 = fabs(d[i].ratio - sqrt(s) / sqrt(sw)) / (sqrt(s) / sqrt(sw));
        worst = fmax(worst, fmax(r1, fmax(r2, r3)));
    }
    CHECK(rc == LSC_OK && lo.n_modules == 4 && worst < 1e-9,
          "delta: ||sBA||_F, ||W||_F and the ratio = dense double sums (max rel. diff %.2g)", worst);
    /* full: W1 = W0 except one weight scaled by 1.5 -> ratio 0.5 there, 0 elsewhere */
    lsc_gpt m1;
    if (lsc_gpt_init(&m1, &cfg, &err) == LSC_OK) {
        memcpy(m1.params_memory, m.params_memory, m.num_parameters * sizeof(float));
        float *w, *b;
        int out, in;
        lsc_gpt_linear(&m1, 1, LSC_LORA_O, &w, &b, &out, &in);
        for (int k = 0; k < out * in; k++)
            w[k] *= 1.5f;
        lsc_delta_norm full[2 * LSC_LORA_NTARGETS];
        int nfull = 0;
        rc = lsc_delta_full(&m, &m1, full, &nfull, &err);
        int ok = rc == LSC_OK && nfull == 2 * 6;
        for (int i = 0; ok && i < nfull; i++) {
            int hit = full[i].layer == 1 && full[i].target == LSC_LORA_O;
            ok &= hit ? fabs(full[i].ratio - 0.5) < 1e-6 : full[i].ratio == 0.0;
        }
        CHECK(ok, "delta full: one weight x1.5 gives ratio 0.5 there and 0 elsewhere");
        lsc_gpt_free(&m1);
    }
    lsc_lora_merge(&m, &lo, &err);
    CHECK(lsc_delta_lora(&m, &lo, d, &err) == LSC_EARG, "delta of a merged adapter is refused");
    free(d);
    lsc_lora_free(&lo);
    lsc_gpt_free(&m);
}

int main(void)
{
    test_rank();
    test_delta();
    return test_summary();
}
