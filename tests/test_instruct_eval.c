/*
 * test_instruct_eval.c — evaluation of Alpaca instruction records
 * (lib/instruct_eval.c) on a tiny random model, with bytes and with the
 * llama2.c tokenizer tok512.bin: the records are the supersense fixture in
 * Alpaca form (lsc_task_write_alpaca). Checks: the label-set view (sorted
 * distinct outputs, gold indices, an unknown output refused); the
 * KV-cached rank scores against scoring every candidate alone by a full
 * forward built here from the tokenizer directly (1e-4); the per-item
 * label ordering, rank_pred, rank accuracy and label loss recomputed from
 * those; greedy predictions against a greedy decoding by full forwards,
 * and on a model forced to answer "" at once, the exact-match hits.
 * Runs from the project root (tests/run.sh does).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lsc_internal.h"
#include "test.h"

#define TINY_TSV "data/fixtures/supersense_tiny.tsv"
#define NQ 8

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One candidate built independently of lib/: tokens and prompt length. */
static int candidate(const lsc_tokenizer *tok, const char *prompt, const char *label, int *ids, int *np)
{
    lsc_error err = {0};
    size_t lp = strlen(prompt), ll = strlen(label ? label : ""), n = 0, nq = 0;
    if (!tok) {
        for (size_t j = 0; j < lp; j++)
            ids[j] = (unsigned char)prompt[j];
        for (size_t j = 0; j < ll; j++)
            ids[lp + j] = (unsigned char)label[j];
        *np = (int)lp;
        if (!label)
            return (int)lp;
        ids[lp + ll] = '\n';
        return (int)(lp + ll + 1);
    }
    char *full = malloc(lp + ll + 1);
    int *pid = malloc((lp + 3) * sizeof *pid);
    snprintf(full, lp + ll + 1, "%s%s", prompt, label ? label : "");
    lsc_tokenizer_encode(tok, full, lp + ll, 1, 0, ids, lp + ll + 3, &n, &err);
    lsc_tokenizer_encode(tok, prompt, lp, 1, 0, pid, lp + 3, &nq, &err);
    int k = 0;
    while ((size_t)k < nq && (size_t)k < n && ids[k] == pid[k])
        k++;
    *np = k;
    free(full);
    free(pid);
    if (!label)
        return (int)n;
    ids[n] = tok->eos_id;
    return (int)n + 1;
}

/* Sum of log softmax over the response targets, by one full forward. */
static double brute_ll(lsc_gpt *m, const int *ids, int n, int np)
{
    lsc_error err = {0};
    const int V = m->config.vocab;
    if (lsc_gpt_forward(m, ids, NULL, NULL, 1, n - 1, NULL, &err) != LSC_OK)
        return NAN;
    const float *lg = lsc_gpt_logits(m);
    double s = 0.0;
    for (int j = np; j < n; j++) {
        const float *x = lg + (size_t)(j - 1) * V;
        double mx = x[0], z = 0.0;
        for (int v = 1; v < V; v++)
            mx = x[v] > mx ? x[v] : mx;
        for (int v = 0; v < V; v++)
            z += exp((double)x[v] - mx);
        s += (double)x[ids[j]] - mx - log(z);
    }
    return s;
}

/* Greedy decoding of the prompt by full forwards; the text it stands for. */
static int brute_greedy(lsc_gpt *m, const lsc_tokenizer *tok, const char *prompt, int max_new, int end_id,
                        char *text, size_t cap)
{
    lsc_error err = {0};
    int ids[1024], np, n = candidate(tok, prompt, NULL, ids, &np), p0 = n;
    const int V = m->config.vocab;
    for (int k = 0; k < max_new && n < m->config.n_ctx; k++) {
        if (lsc_gpt_forward(m, ids, NULL, NULL, 1, n, NULL, &err) != LSC_OK)
            return -1;
        const float *x = lsc_gpt_logits(m) + (size_t)(n - 1) * V;
        int best = 0;
        for (int v = 1; v < V; v++)
            best = x[v] > x[best] ? v : best;
        ids[n++] = best;
        if (best == end_id)
            break;
    }
    int end = n > p0 && ids[n - 1] == end_id ? n - 1 : n;
    if (!tok) {
        for (int j = p0; j < end; j++)
            text[j - p0] = (char)ids[j];
        return end - p0;
    }
    char a[4096];
    size_t na = 0, nb = 0;
    lsc_tokenizer_decode(tok, ids, (size_t)p0, a, sizeof a, &na, &err);
    lsc_tokenizer_decode(tok, ids, (size_t)end, text, cap, &nb, &err);
    memmove(text, text + na, nb - na);
    return (int)(nb - na);
}

static void check_view(const lsc_instruct *d, const lsc_task *t, const lsc_task *ref)
{
    int ok = t->n == d->n && t->n_labels == ref->n_labels;
    for (int l = 1; ok && l < t->n_labels; l++)
        ok = strcmp(t->label_names[l - 1], t->label_names[l]) < 0;
    for (int i = 0; ok && i < d->n; i++)
        ok = strcmp(t->label_names[t->labels[i]], d->output_text[i]) == 0 &&
             strcmp(t->words[i], d->prompt_text[i]) == 0;
    CHECK(ok, "view: %d records, %d labels sorted by bytes, gold = the output, words = the prompts", t->n,
          t->n_labels);
}

static void run_case(const char *what, const lsc_gpt_config *cfg, const lsc_tokenizer *tok, const char *json)
{
    lsc_error err = {0};
    lsc_instruct d;
    lsc_task t;
    lsc_gpt m;
    memset(&t, 0, sizeof t);
    memset(&m, 0, sizeof m);
    int rc = lsc_instruct_load(&d, json, tok, 0, &err);
    if (rc == LSC_OK)
        rc = lsc_instruct_task(&t, &d, NULL, &err);
    uint64_t rng;
    lsc_rng_seed(&rng, 11);
    if (rc == LSC_OK && (rc = lsc_gpt_init(&m, cfg, &err)) == LSC_OK)
        lsc_gpt_init_weights(&m, &rng);
    CHECK(rc == LSC_OK, "%s: records, view and model (%s)", what, rc ? err.msg : "ok");
    if (rc != LSC_OK)
        goto done;
    check_view(&d, &t, &t);
    const int L = t.n_labels;
    int items[NQ], all[4096], pred[NQ], rpred[NQ];
    lsc_task_sample(d.n, NQ, 3, all);
    memcpy(items, all, sizeof items);
    double *ll = malloc((size_t)NQ * L * sizeof *ll), *bl = malloc((size_t)NQ * L * sizeof *bl);
    lsc_task_eval_result res;
    double t0 = now_s();
    rc = lsc_instruct_eval_items(&m, &d, &t, tok, items, NQ, &res, pred, rpred, ll, &err);
    double dt = now_s() - t0;
    CHECK(rc == LSC_OK && res.n == NQ, "%s: lsc_instruct_eval_items on %d items x %d labels in %.2f s (%s)", what, NQ,
          L, dt, rc ? err.msg : "ok");
    if (rc != LSC_OK) {
        free(ll);
        free(bl);
        goto done;
    }
    lsc_gpt_alloc_acts(&m, 1, cfg->n_ctx, &err);
    double worst = 0.0, nll = 0.0, ntok = 0.0;
    int hit = 0, order_ok = 1, argmax_ok = 1, greedy_ok = 1, ghit = 0;
    for (int q = 0; q < NQ; q++) {
        int best = 0, i = items[q];
        for (int l = 0; l < L; l++) {
            int ids[1024], np, n = candidate(tok, d.prompt_text[i], t.label_names[l], ids, &np);
            bl[q * L + l] = brute_ll(&m, ids, n, np);
            worst = fmax(worst, fabs(bl[q * L + l] - ll[q * L + l]));
            best = bl[q * L + l] > bl[q * L + best] ? l : best;
            if (l == t.labels[i]) {
                nll -= bl[q * L + l];
                ntok += n - np;
            }
        }
        for (int a = 0; a < L; a++)   /* every pair clearly apart is ordered alike */
            for (int b = 0; b < L; b++)
                if (bl[q * L + a] > bl[q * L + b] + 1e-3 && !(ll[q * L + a] > ll[q * L + b]))
                    order_ok = 0;
        argmax_ok &= rpred[q] == best;
        hit += best == t.labels[i];
        char text[4096];
        int nt = brute_greedy(&m, tok, d.prompt_text[i], t.max_label + 1, d.end_id, text, sizeof text);
        int want = nt >= 0 ? lsc_task_label_index(&t, text, (size_t)nt) : -2;
        greedy_ok &= pred[q] == want;
        ghit += want == t.labels[i];
    }
    CHECK(worst <= 1e-4, "%s: cached rank scores = full forward of each candidate (max |diff| %.2e)", what, worst);
    CHECK(order_ok && argmax_ok, "%s: per-item label ordering and rank_pred = the direct computation's", what);
    CHECK(fabs(res.rank_accuracy - (double)hit / NQ) < 1e-12 && fabs(res.loss - nll / ntok) < 1e-5,
          "%s: rank accuracy %.3f and label loss %.5f recomputed (%.5f)", what, res.rank_accuracy, res.loss,
          nll / ntok);
    CHECK(greedy_ok && fabs(res.accuracy - (double)ghit / NQ) < 1e-12,
          "%s: greedy predictions = full-forward greedy decoding (accuracy %.3f)", what, res.accuracy);
    free(ll);
    free(bl);
done:
    lsc_gpt_free(&m);
    lsc_task_free(&t);
    lsc_instruct_free(&d);
}

/* A model whose greedy choice is always the end token (final LayerNorm
 * weight 0, bias 1, wte[end] = 1: logits[end] = C): greedy decoding gives
 * "" at once, so the records whose output is "" are exactly the hits. */
static void check_forced(const lsc_gpt_config *cfg, const lsc_tokenizer *tok, const char *what)
{
    lsc_error err = {0};
    const char *json = test_tmp("forced.json");
    FILE *fp = fopen(json, "w");
    fputs("[{\"instruction\":\"Say nothing.\",\"output\":\"\"},\n"
          "{\"instruction\":\"Name it.\",\"input\":\"aioli\",\"output\":\"food\"},\n"
          "{\"instruction\":\"Say nothing.\",\"input\":\"x\",\"output\":\"\"}]\n", fp);
    fclose(fp);
    lsc_instruct d;
    lsc_task t;
    lsc_gpt m;
    uint64_t rng;
    lsc_rng_seed(&rng, 5);
    int rc = lsc_instruct_load(&d, json, tok, 0, &err);
    if (rc == LSC_OK && (rc = lsc_instruct_task(&t, &d, NULL, &err)) == LSC_OK &&
        (rc = lsc_gpt_init(&m, cfg, &err)) == LSC_OK) {
        lsc_gpt_init_weights(&m, &rng);
        const int C = cfg->n_embd;
        for (int c = 0; c < C; c++) {
            m.params.lnfw[c] = 0.0f;
            m.params.lnfb[c] = 1.0f;
            m.params.wte[(size_t)d.end_id * C + c] = 1.0f;
        }
        int items[3] = {0, 1, 2}, pred[3];
        lsc_task_eval_result res;
        rc = lsc_instruct_eval_items(&m, &d, &t, tok, items, 3, &res, pred, NULL, NULL, &err);
        lsc_gpt_alloc_acts(&m, 1, cfg->n_ctx, &err);
        char text[256];
        int nt = brute_greedy(&m, tok, d.prompt_text[1], t.max_label + 1, d.end_id, text, sizeof text);
        CHECK(rc == LSC_OK && pred[0] == 0 && pred[1] == 0 && pred[2] == 0 && t.label_names[0][0] == '\0' &&
                  fabs(res.accuracy - 2.0 / 3.0) < 1e-12 && nt == 0,
              "%s: a model always choosing the end token: greedy \"\" on every record, exact match 2/3 (%.3f; %s)",
              what, res.accuracy, rc ? err.msg : "ok");
        lsc_gpt_free(&m);
    }
    if (rc != LSC_OK)
        CHECK(0, "%s: forced model (%s)", what, err.msg);
    lsc_task_free(&t);
    lsc_instruct_free(&d);
}

/* The view with a reference label set: an output outside it is refused. */
static void check_unknown_label(const char *json)
{
    lsc_error err = {0};
    const char *other = test_tmp("other.json");
    FILE *fp = fopen(other, "w");
    fputs("[{\"instruction\":\"x\",\"input\":\"y\",\"output\":\"noun.nothing\"}]\n", fp);
    fclose(fp);
    lsc_instruct d, e;
    lsc_task t, u;
    lsc_instruct_load(&d, json, NULL, 0, &err);
    lsc_instruct_load(&e, other, NULL, 0, &err);
    lsc_instruct_task(&t, &d, NULL, &err);
    int rc = lsc_instruct_task(&u, &e, &t, &err);
    CHECK(rc == LSC_EFORMAT && strstr(err.msg, "record 1: output \"noun.nothing\" is not a label of"),
          "an output outside the reference label set is refused (%s)", err.msg);
    int items[1] = {5};
    lsc_gpt m;
    lsc_gpt_config cfg = {.n_layer = 1, .n_head = 1, .n_embd = 8, .n_ctx = 300, .vocab = 256};
    lsc_gpt_init(&m, &cfg, &err);
    double ll[64];
    rc = lsc_instruct_label_ll(&m, &e, &u, NULL, items, 1, ll, &err);
    CHECK(rc == LSC_EARG && strstr(err.msg, "item 5 outside 0..0"), "an item out of range is refused (%s)", err.msg);
    lsc_gpt_free(&m);
    lsc_task_free(&t);
    lsc_task_free(&u);
    lsc_instruct_free(&d);
    lsc_instruct_free(&e);
}

int main(void)
{
    lsc_error err = {0};
    test_tmpdir_make("instruct_eval");
    lsc_task tsv;
    const char *json = test_tmp("supersense.json");
    int rc = lsc_task_load(&tsv, TINY_TSV, NULL, &err);
    if (rc == LSC_OK)
        rc = lsc_task_write_alpaca(&tsv, json, &err);
    CHECK(rc == LSC_OK, "the supersense fixture in Alpaca form (%s)", rc ? err.msg : "ok");
    lsc_task_free(&tsv);
    if (rc != LSC_OK)
        return test_summary();
    lsc_gpt_config bytes = {.n_layer = 2, .n_head = 2, .n_embd = 32, .n_ctx = 288, .vocab = 256};
    run_case("bytes", &bytes, NULL, json);
    check_forced(&bytes, NULL, "bytes");
    check_unknown_label(json);
    const char *fx = test_fixtures_dir("instruction evaluation with the llama2.c tokenizer tok512");
    if (fx) {
        char p[4200];
        lsc_tokenizer tok;
        snprintf(p, sizeof p, "%s/llama2c/stories260K/tok512.bin", fx);
        rc = lsc_tokenizer_load_llama2c(&tok, p, 512, &err);
        CHECK(rc == LSC_OK, "tok512.bin loads (%s)", rc ? err.msg : "ok");
        if (rc == LSC_OK) {
            lsc_gpt_config cfg = {.n_layer = 2, .n_head = 2, .n_embd = 32, .n_ctx = 256, .vocab = 512};
            run_case("tok512", &cfg, &tok, json);
            check_forced(&cfg, &tok, "tok512");
            lsc_tokenizer_free(&tok);
        }
    }
    test_tmpdir_remove();
    return test_summary();
}
