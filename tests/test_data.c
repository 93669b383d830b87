/*
 * test_data.c — the data layer (lib/data.c) on the committed fixtures
 * data/fixtures/tiny.txt and data/fixtures/supersense_tiny.tsv: loading,
 * batch shapes and masks, determinism given the rng seed, evaluation
 * windows, the corpus split rule, the TSV validator's error messages, the
 * prompt format and exact-match scoring, and the baselines (exact values on
 * a hand-made task, sanity on the fixture). When data/fetch.sh has been run
 * it also checks the real files (item counts, baselines, the split rule
 * against the Python extraction); otherwise those checks are skipped.
 * Run from the project root.
 */
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "lsc_internal.h"
#include "test.h"

#define TINY_TXT "data/fixtures/tiny.txt"
#define TINY_TSV "data/fixtures/supersense_tiny.tsv"

static const char *write_tmp(const char *name, const char *text)
{
    const char *path = test_tmp(name);
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return NULL;
    fputs(text, fp);
    fclose(fp);
    return path;
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The window a corpus batch row came from must occur in the corpus. */
static int row_in_corpus(const lsc_corpus *c, const int *in, const int *tg, int T)
{
    uint8_t *w = malloc((size_t)T + 1);
    for (int t = 0; t < T; t++)
        w[t] = (uint8_t)in[t];
    w[T] = (uint8_t)tg[T - 1];
    int found = 0;
    for (size_t o = 0; o + (size_t)T + 1 <= c->n && !found; o++)
        found = memcmp(c->bytes + o, w, (size_t)T + 1) == 0;
    free(w);
    return found;
}

// ---- corpus ----

/* The split rule and the unigram cross-entropy of the loaded fixture c. */
static void corpus_split_entropy(const lsc_corpus *c)
{
    lsc_error err;
    int rc;
    /* split rule */
    lsc_corpus tr, va;
    rc = lsc_corpus_split(c, 10, &tr, &va, &err);
    CHECK(rc == LSC_OK, "split 10%%");
    if (rc == LSC_OK) {
        size_t cut = c->n * 90 / 100;
        CHECK(tr.n + 1 + va.n == c->n, "split drops exactly the blank line (%zu + 1 + %zu)", tr.n, va.n);
        CHECK(tr.n >= cut - 1 && tr.n < cut + 3000, "train ends near 90%% (%zu of %zu)", tr.n, c->n);
        CHECK(tr.bytes[tr.n - 1] == '\n' && c->bytes[tr.n] == '\n' && va.bytes[0] != '\n',
              "split at a paragraph boundary");
        CHECK(memcmp(va.bytes, c->bytes + tr.n + 1, va.n) == 0, "valid is the tail of the corpus");
        double h_tr = lsc_corpus_unigram_xent(&tr, &tr), h_va = lsc_corpus_unigram_xent(&tr, &va);
        CHECK(h_tr > 2.0 && h_tr < 5.0 && h_va > h_tr - 0.2 && h_va < log(256.0),
              "unigram cross-entropy train %.3f valid %.3f nats/byte", h_tr, h_va);
    }
    lsc_corpus_free(&tr);
    lsc_corpus_free(&va);
    rc = lsc_corpus_split(c, 0, &tr, &va, &err);
    CHECK(rc == LSC_EARG, "split 0%% -> LSC_EARG");

    /* unigram entropy against an independent computation */
    double cnt[256] = { 0 }, H = 0;
    for (size_t i = 1; i < c->n; i++)
        cnt[c->bytes[i]]++;
    for (int v = 0; v < 256; v++)
        if (cnt[v] > 0)
            H -= cnt[v] / (double)(c->n - 1) * log(cnt[v] / (double)(c->n - 1));
    double X = lsc_corpus_unigram_xent(c, c);
    CHECK(X >= H - 1e-9 && X - H < 0.01, "unigram xent %.4f ~ entropy %.4f", X, H);
}

static void test_corpus(void)
{
    lsc_error err;
    lsc_corpus c;
    int rc = lsc_corpus_load(&c, TINY_TXT, &err);
    CHECK(rc == LSC_OK, "load %s%s%s", TINY_TXT, rc ? ": " : "", rc ? err.msg : "");
    if (rc != LSC_OK)
        return;
    struct stat st;
    stat(TINY_TXT, &st);
    CHECK(c.n == (size_t)st.st_size && c.n > 30000, "corpus size %zu = file size", c.n);
    CHECK(memcmp(c.bytes, "It is a truth", 13) == 0, "corpus starts with the fixture's text");

    enum { B = 4, T = 48 };
    int in[B * T], tg[B * T], in2[B * T], tg2[B * T];
    float m[B * T], m2[B * T];
    uint64_t r1, r2;
    lsc_rng_seed(&r1, 42);
    lsc_rng_seed(&r2, 42);
    rc = lsc_corpus_batch(&c, B, T, in, tg, m, &r1, &err);
    CHECK(rc == LSC_OK, "corpus batch B=%d T=%d", B, T);
    int ok_range = 1, ok_shift = 1, ok_mask = 1, ok_rows = 1;
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            int i = b * T + t;
            ok_range &= in[i] >= 0 && in[i] < LSC_BYTE_VOCAB && tg[i] >= 0 && tg[i] < LSC_BYTE_VOCAB;
            ok_mask &= m[i] == 1.0f;
            if (t + 1 < T)
                ok_shift &= tg[i] == in[i + 1];
        }
        ok_rows &= row_in_corpus(&c, in + b * T, tg + b * T, T);
    }
    CHECK(ok_range, "corpus batch tokens are bytes");
    CHECK(ok_shift, "targets are the inputs shifted by one");
    CHECK(ok_mask, "corpus batch mask is all 1");
    CHECK(ok_rows, "every row is a window of the corpus");
    rc = lsc_corpus_batch(&c, B, T, in2, tg2, m2, &r2, &err);
    CHECK(rc == LSC_OK && memcmp(in, in2, sizeof in) == 0 && memcmp(tg, tg2, sizeof tg) == 0 &&
          r1 == r2, "same seed -> same corpus batch and rng state");
    rc = lsc_corpus_batch(&c, B, T, in2, tg2, m2, &r2, &err);
    CHECK(rc == LSC_OK && memcmp(in, in2, sizeof in) != 0, "next batch differs");
    lsc_rng_seed(&r2, 43);
    lsc_corpus_batch(&c, B, T, in2, tg2, m2, &r2, &err);
    CHECK(memcmp(in, in2, sizeof in) != 0, "another seed -> another batch");

    /* rows start everywhere, including offset 0 and the last one */
    lsc_corpus small;
    lsc_corpus_from_bytes(&small, "abcdefgh", 8, "abc", &err);
    int sin[7], stg[7], seen0 = 0, seen1 = 0;
    float sm[7];
    lsc_rng_seed(&r1, 1);
    for (int k = 0; k < 200; k++) {
        lsc_corpus_batch(&small, 1, 6, sin, stg, sm, &r1, &err);
        seen0 |= sin[0] == 'a';
        seen1 |= stg[5] == 'h';
    }
    CHECK(seen0 && seen1, "windows reach both ends of the corpus");
    rc = lsc_corpus_batch(&small, 1, 8, sin, stg, sm, &r1, &err);
    CHECK(rc == LSC_EARG && strstr(err.msg, "abc") && strstr(err.msg, "fewer than one window"),
          "corpus shorter than T+1 -> LSC_EARG naming it (%s)", err.msg);
    rc = lsc_corpus_batch(&small, 0, 4, sin, stg, sm, &r1, &err);
    CHECK(rc == LSC_EARG, "B = 0 -> LSC_EARG");
    lsc_corpus_free(&small);

    /* evaluation windows: every byte 1..n-1 is a target exactly once */
    size_t nw = lsc_corpus_n_windows(&c, T);
    CHECK(nw == (c.n - 1 + T - 1) / T, "n_windows = ceil((n-1)/T) = %zu", nw);
    size_t pos = 1, bad = 0, npad = 0;
    for (size_t w = 0; w < nw; w++) {
        lsc_corpus_window(&c, w, T, in, tg, m);
        for (int t = 0; t < T; t++) {
            if (m[t] == 1.0f) {
                if (pos >= c.n || tg[t] != c.bytes[pos] || in[t] != c.bytes[pos - 1])
                    bad++;
                pos++;
            } else {
                npad++;
            }
        }
    }
    CHECK(bad == 0 && pos == c.n, "windows cover bytes 1..n-1 once (pos %zu of %zu)", pos, c.n);
    CHECK(npad < (size_t)T && npad == nw * T - (c.n - 1), "only the last window is padded");

    corpus_split_entropy(&c);
    lsc_corpus_free(&c);
    lsc_corpus_free(&c);
    CHECK(c.bytes == NULL && c.n == 0, "corpus_free twice is safe");

    rc = lsc_corpus_load(&c, "data/fixtures/no-such-file.txt", &err);
    CHECK(rc == LSC_EIO && strstr(err.msg, "no-such-file.txt"), "missing corpus -> LSC_EIO (%s)", err.msg);
    const char *p = write_tmp("one.txt", "x");
    rc = lsc_corpus_load(&c, p, &err);
    CHECK(rc == LSC_EFORMAT && strstr(err.msg, "one.txt"), "1-byte corpus -> LSC_EFORMAT (%s)", err.msg);
}

// ---- synthetic ----

static void test_synthetic(void)
{
    lsc_error err;
    enum { B = 8, T = 64 };
    int in[B * T], tg[B * T], in2[B * T], tg2[B * T];
    float m[B * T], m2[B * T];
    lsc_synthetic s = { 7 };
    uint64_t r1, r2;
    lsc_rng_seed(&r1, 5);
    lsc_rng_seed(&r2, 5);
    int rc = lsc_synthetic_batch(&s, B, T, in, tg, m, &r1, &err);
    lsc_synthetic_batch(&s, B, T, in2, tg2, m2, &r2, &err);
    int ok = rc == LSC_OK, hist[7] = { 0 };
    for (int i = 0; i < B * T; i++) {
        ok &= in[i] >= 0 && in[i] < 7 && tg[i] >= 0 && tg[i] < 7 && m[i] == 1.0f;
        if (i % T + 1 < T)
            ok &= tg[i] == in[i + 1];
        if (in[i] >= 0 && in[i] < 7)
            hist[in[i]]++;
    }
    CHECK(ok, "synthetic tokens in [0, V), shifted, mask 1");
    int spread = 1;
    for (int v = 0; v < 7; v++)
        spread &= hist[v] > B * T / 7 / 2;
    CHECK(spread, "synthetic tokens cover the vocabulary");
    CHECK(memcmp(in, in2, sizeof in) == 0 && memcmp(tg, tg2, sizeof tg) == 0, "synthetic: same seed -> same batch");
    s.V = 0;
    CHECK(lsc_synthetic_batch(&s, B, T, in, tg, m, &r1, &err) == LSC_EARG, "synthetic V = 0 -> LSC_EARG");
}

// ---- task ----

static int count_lines(const char *path)
{
    FILE *fp = fopen(path, "rb");
    int n = 0, ch;
    if (!fp)
        return -1;
    while ((ch = fgetc(fp)) != EOF)
        n += ch == '\n';
    fclose(fp);
    return n;
}

static int find_word(const lsc_task *t, const char *w, size_t len)
{
    for (int i = 0; i < t->n; i++)
        if (strlen(t->words[i]) == len && memcmp(t->words[i], w, len) == 0)
            return i;
    return -1;
}

/* Decodes a packed row and checks items, padding and mask; 1 if all good. */
static int check_task_row(const lsc_task *t, const int *in, const int *tg, const float *m, int T,
                          int *n_items)
{
    char row[1024];
    float mk[1024];
    row[0] = (char)in[0];
    mk[0] = 0;
    for (int j = 1; j <= T; j++) {
        row[j] = (char)tg[j - 1];
        mk[j] = m[j - 1];
        if (j < T && in[j] != tg[j - 1])
            return 0;
    }
    int j = 0;
    *n_items = 0;
    while (j <= T && row[j] != '\n') {
        const char *tab = memchr(row + j, '\t', (size_t)(T + 1 - j));
        if (!tab)
            return 0;
        int i = find_word(t, row + j, (size_t)(tab - (row + j)));
        if (i < 0)
            return 0;
        const char *comp = lsc_task_completion(t, i);
        int wl = (int)(tab - (row + j)), cl = (int)strlen(comp);
        if (j + wl + 1 + cl > T + 1 || memcmp(tab + 1, comp, (size_t)cl) != 0)
            return 0;
        for (int k = j; k < j + wl + 1 + cl; k++)
            if (mk[k] != (k > j + wl ? 1.0f : 0.0f))
                return 0;
        j += wl + 1 + cl;
        (*n_items)++;
    }
    for (; j <= T; j++)            /* padding: LF, mask 0 */
        if (row[j] != '\n' || mk[j] != 0.0f)
            return 0;
    return *n_items > 0;
}

/* The hash split of the fixture t and the baselines on it. */
static void task_split_baselines(lsc_task *t)
{
    lsc_error err;
    int rc;
    /* hash split */
    CHECK(lsc_fnv1a32("", 0) == 0x811c9dc5u && lsc_fnv1a32("a", 1) == 0xe40c292cu &&
          lsc_fnv1a32("foobar", 6) == 0xbf9cf968u, "FNV-1a 32 test vectors");
    CHECK(lsc_fnv1a32("whale", 5) % 10 == 0 && lsc_fnv1a32("aardwolf", 8) % 10 == 3 &&
          lsc_fnv1a32("abbess", 6) % 10 == 9, "split examples of corpora.md (whale 0, aardwolf 3, abbess 9)");
    CHECK(lsc_task_word_split("whale") == LSC_SPLIT_TEST && lsc_task_word_split("aardwolf") == LSC_SPLIT_TRAIN &&
          lsc_task_word_split("abbess") == LSC_SPLIT_TRAIN, "word split: whale test, aardwolf and abbess train");
    int h1 = 0;   /* a word with fnv1a32 % 10 == 1 goes to dev */
    for (int i = 0; i < t->n && !h1; i++)
        if (lsc_fnv1a32(t->words[i], strlen(t->words[i])) % 10 == 1)
            h1 = lsc_task_word_split(t->words[i]) == LSC_SPLIT_DEV;
    CHECK(h1, "fnv1a32 %% 10 == 1 is dev");
    lsc_task tr, dv, va;
    rc = lsc_task_split(t, &tr, &dv, &va, &err);
    CHECK(rc == LSC_OK && tr.n == 240 && dv.n == 31 && va.n == 29, "split %d -> %d + %d + %d (240 + 31 + 29)", t->n,
          tr.n, dv.n, va.n);
    int split_ok = 1;
    for (int i = 0; i < va.n; i++)
        split_ok &= lsc_fnv1a32(va.words[i], strlen(va.words[i])) % 10 == 0;
    for (int i = 0; i < dv.n; i++)
        split_ok &= lsc_fnv1a32(dv.words[i], strlen(dv.words[i])) % 10 == 1;
    for (int i = 0; i < tr.n; i++)
        split_ok &= lsc_fnv1a32(tr.words[i], strlen(tr.words[i])) % 10 >= 2;
    CHECK(split_ok && tr.n_labels == 26 && dv.n_labels == 26 && va.n_labels == 26,
          "split follows fnv1a32 %% 10 (0 test, 1 dev, else train) and keeps the label set");
    CHECK(strstr(tr.path, "[train]") && strstr(dv.path, "[dev]") && strstr(va.path, "[test]"),
          "split parts are named [train] [dev] [test]");
    lsc_task_free(&dv);
    int keep = 1;
    for (int i = 0; i < va.n; i++) {
        int j = find_word(t, va.words[i], strlen(va.words[i]));
        keep &= j >= 0 && t->labels[j] == va.labels[i];
    }
    CHECK(keep, "split keeps each item's label");

    /* baselines on the fixture */
    lsc_baselines bl;
    rc = lsc_task_baselines(&tr, &va, 4, &bl, &err);
    CHECK(rc == LSC_OK, "baselines on the fixture split");
    int cnt[64] = { 0 }, best = 0, hit = 0;
    for (int i = 0; i < tr.n; i++)
        cnt[tr.labels[i]]++;
    for (int k = 1; k < tr.n_labels; k++)
        if (cnt[k] > cnt[best])
            best = k;
    for (int i = 0; i < va.n; i++)
        hit += va.labels[i] == best;
    CHECK(bl.majority_label == best && fabs(bl.majority - (double)hit / va.n) < 1e-12 && bl.n_eval == va.n,
          "majority baseline = %s, %.3f", tr.label_names[best], bl.majority);
    CHECK(bl.suffix >= 0 && bl.suffix <= 1 && bl.suffix_seen >= 0 && bl.suffix_seen <= 1,
          "suffix baseline %.3f (suffix seen %.3f)", bl.suffix, bl.suffix_seen);
    lsc_baselines self;
    lsc_task_baselines(&tr, &tr, 4, &self, &err);
    CHECK(self.suffix >= self.majority && self.suffix_seen == 1.0,
          "on its own training data the suffix table beats the majority (%.3f >= %.3f)", self.suffix, self.majority);
    rc = lsc_task_baselines(&tr, &va, 0, &bl, &err);
    CHECK(rc == LSC_EARG, "suffix length 0 -> LSC_EARG");
    lsc_task_free(&tr);
    lsc_task_free(&va);
}

static void test_task_fixture(void)
{
    lsc_error err;
    lsc_task t;
    int rc = lsc_task_load(&t, TINY_TSV, NULL, &err);
    CHECK(rc == LSC_OK, "load %s%s%s", TINY_TSV, rc ? ": " : "", rc ? err.msg : "");
    if (rc != LSC_OK)
        return;
    CHECK(t.n == count_lines(TINY_TSV) && t.n >= 250, "task has %d items (one per line)", t.n);
    CHECK(t.n_labels == 26, "fixture covers the 26 supersense labels (%d)", t.n_labels);
    int sorted = 1;
    for (int k = 1; k < t.n_labels; k++)
        sorted &= strcmp(t.label_names[k - 1], t.label_names[k]) < 0;
    CHECK(sorted, "label names sorted by byte value");
    int ia = lsc_task_label_index(&t, "animal", 6), it = lsc_task_label_index(&t, "Tops", 4);
    CHECK(ia >= 0 && it == 0 && strcmp(t.label_names[ia], "animal") == 0, "label index of animal/Tops");
    CHECK(lsc_task_label_index(&t, "anima", 5) == -1 && lsc_task_label_index(&t, "animals", 7) == -1,
          "label prefix / extension is not a label");
    int maxex = 0, maxw = 0;
    for (int i = 0; i < t.n; i++) {
        int ex = (int)strlen(t.words[i]) + 2 + (int)strlen(t.label_names[t.labels[i]]);
        maxex = ex > maxex ? ex : maxex;
        maxw = (int)strlen(t.words[i]) > maxw ? (int)strlen(t.words[i]) : maxw;
    }
    CHECK(t.max_example == maxex && t.max_word == maxw, "max_example %d, max_word %d", t.max_example, t.max_word);

    /* prompt, completion, scoring */
    int tok[64];
    int np = lsc_task_prompt(&t, 0, tok, 64);
    size_t wl = strlen(t.words[0]);
    int okp = np == (int)wl + 1 && tok[wl] == '\t';
    for (size_t k = 0; k < wl && okp; k++)
        okp = tok[k] == (uint8_t)t.words[0][k];
    CHECK(okp, "prompt of item 0 is \"%s\\t\"", t.words[0]);
    CHECK(lsc_task_prompt(&t, 0, tok, (int)wl) == LSC_EARG, "prompt into a short buffer -> LSC_EARG");
    const char *comp = lsc_task_completion(&t, 0);
    const char *lab0 = t.label_names[t.labels[0]];
    CHECK(strlen(comp) == strlen(lab0) + 1 && strncmp(comp, lab0, strlen(lab0)) == 0 &&
          comp[strlen(lab0)] == '\n', "completion is \"%s\\n\"", lab0);
    CHECK(lsc_task_score(&t, 0, comp, strlen(comp)) == 1, "score(expected completion) = 1");
    CHECK(lsc_task_score(&t, 0, lab0, strlen(lab0)) == 1, "score(label without LF) = 1");
    char buf[128];
    snprintf(buf, sizeof buf, "%s\nfoo\tbar", lab0);
    CHECK(lsc_task_score(&t, 0, buf, strlen(buf)) == 1, "score ignores bytes after the LF");
    snprintf(buf, sizeof buf, "%sx\n", lab0);
    CHECK(lsc_task_score(&t, 0, buf, strlen(buf)) == 0, "score(label + extra byte) = 0");
    CHECK(lsc_task_score(&t, 0, lab0, strlen(lab0) - 1) == 0, "score(truncated label) = 0");
    CHECK(lsc_task_score(&t, 0, "", 0) == 0 && lsc_task_parse(&t, "\n", 1) == -1, "empty completion scores 0");
    int other = (t.labels[0] + 1) % t.n_labels;
    CHECK(lsc_task_score(&t, 0, t.completions_[other], strlen(t.completions_[other])) == 0 &&
          lsc_task_parse(&t, t.completions_[other], strlen(t.completions_[other])) == other,
          "another label scores 0 and parses to its index");

    /* packed fine-tuning batches */
    enum { B = 6, T = 64 };
    int in[B * T], tg[B * T], in2[B * T], tg2[B * T];
    float m[B * T], m2[B * T];
    uint64_t r1, r2;
    lsc_rng_seed(&r1, 9);
    lsc_rng_seed(&r2, 9);
    rc = lsc_task_batch(&t, B, T, in, tg, m, &r1, &err);
    CHECK(rc == LSC_OK, "task batch B=%d T=%d", B, T);
    int rows_ok = 1, items = 0;
    for (int b = 0; b < B; b++) {
        int k = 0;
        rows_ok &= check_task_row(&t, in + b * T, tg + b * T, m + b * T, T, &k);
        items += k;
    }
    CHECK(rows_ok, "rows = whole items back to back + LF padding; mask only on label bytes and LF");
    CHECK(items >= 2 * B, "rows are packed (%d items in %d rows)", items, B);
    lsc_task_batch(&t, B, T, in2, tg2, m2, &r2, &err);
    CHECK(memcmp(in, in2, sizeof in) == 0 && memcmp(m, m2, sizeof m) == 0 && r1 == r2,
          "task batch: same seed -> same batch");
    lsc_task_batch(&t, B, T, in2, tg2, m2, &r2, &err);
    CHECK(memcmp(in, in2, sizeof in) != 0, "task batch: next batch differs");
    /* the smallest T that fits the longest item works; one less fails */
    int Tmin = t.max_example - 1;
    int *bi = malloc(sizeof(int) * (size_t)Tmin * 4), *bt = malloc(sizeof(int) * (size_t)Tmin * 4);
    float *bm = malloc(sizeof(float) * (size_t)Tmin * 4);
    rc = lsc_task_batch(&t, 4, Tmin, bi, bt, bm, &r1, &err);
    int fit = rc == LSC_OK;
    for (int b = 0; b < 4 && fit; b++) {
        int k;
        fit = check_task_row(&t, bi + b * Tmin, bt + b * Tmin, bm + b * Tmin, Tmin, &k);
    }
    CHECK(fit, "T = max_example - 1 = %d works", Tmin);
    rc = lsc_task_batch(&t, 4, Tmin - 1, bi, bt, bm, &r1, &err);
    CHECK(rc == LSC_EARG && strstr(err.msg, "too short") && strstr(err.msg, "supersense_tiny.tsv"),
          "T too short for the longest item -> LSC_EARG (%s)", err.msg);
    free(bi);
    free(bt);
    free(bm);

    task_split_baselines(&t);
    lsc_task_free(&t);
    lsc_task_free(&t);
    CHECK(t.words == NULL && t.n == 0, "task_free twice is safe");
}

static void test_task_bad_input(void)
{
    static const struct { const char *name, *text, *want; } bad[] = {
        { "notab.tsv",   "cat\tanimal\ndog animal\n",            ":2: no TAB" },
        { "twotab.tsv",  "cat\tanimal\tx\n",                     ":1: more than one TAB" },
        { "noword.tsv",  "cat\tanimal\n\tanimal\n",              ":2: empty word" },
        { "nolabel.tsv", "cat\tanimal\ndog\t\n",                 ":2: empty label" },
        { "crlf.tsv",    "cat\tanimal\r\ndog\tanimal\r\n",       ":1: control byte 0x0d (CRLF" },
        { "blank.tsv",   "cat\tanimal\n\ndog\tanimal\n",         ":2: empty line" },
        { "dup.tsv",     "cat\tanimal\ndog\tanimal\ncat\tperson\n", ":3: duplicate word 'cat' (first on line 1)" },
        { "empty.tsv",   "",                                     ": no items" },
        { "ctrl.tsv",    "ca\x01t\tanimal\n",                    ":1: control byte 0x01" },
    };
    lsc_error err;
    lsc_task t;
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        const char *p = write_tmp(bad[k].name, bad[k].text);
        memset(&err, 0, sizeof err);
        int rc = lsc_task_load(&t, p, NULL, &err);
        CHECK(rc == LSC_EFORMAT && strstr(err.msg, bad[k].name) && strstr(err.msg, bad[k].want) &&
              t.words == NULL, "%s -> \"%s\"", bad[k].name, err.msg);
    }
    char big[3000];
    memset(big, 'a', 1100);
    strcpy(big + 1100, "\tanimal\n");
    const char *p = write_tmp("long.tsv", big);
    int rc = lsc_task_load(&t, p, NULL, &err);
    CHECK(rc == LSC_EFORMAT && strstr(err.msg, ":1: word longer than 1024 bytes"), "long word -> \"%s\"", err.msg);
    rc = lsc_task_load(&t, "data/fixtures/no-such.tsv", NULL, &err);
    CHECK(rc == LSC_EIO && strstr(err.msg, "no-such.tsv"), "missing TSV -> LSC_EIO (%s)", err.msg);

    /* last line without LF is fine; labels_from maps and rejects */
    lsc_task tr, va;
    p = write_tmp("tr.tsv", "cat\tanimal\nrose\tplant\nhammer\tartifact");
    rc = lsc_task_load(&tr, p, NULL, &err);
    CHECK(rc == LSC_OK && tr.n == 3 && strcmp(tr.words[2], "hammer") == 0 &&
          strcmp(tr.label_names[tr.labels[2]], "artifact") == 0, "last line without LF loads");
    p = write_tmp("va.tsv", "tulip\tplant\n");
    rc = lsc_task_load(&va, p, &tr, &err);
    CHECK(rc == LSC_OK && va.n_labels == 3 && va.labels[0] == lsc_task_label_index(&tr, "plant", 5),
          "labels_from: validation uses the training label indices");
    lsc_task_free(&va);
    p = write_tmp("va2.tsv", "tulip\tplant\noak\ttree\n");
    rc = lsc_task_load(&va, p, &tr, &err);
    CHECK(rc == LSC_EFORMAT && strstr(err.msg, "va2.tsv:2: label 'tree' is not one of the 3 labels of") &&
          strstr(err.msg, "tr.tsv"), "unknown label -> \"%s\"", err.msg);
    p = write_tmp("va3.tsv", "tulip\tplant\n");
    lsc_task_load(&va, p, NULL, &err);
    lsc_baselines bl;
    rc = lsc_task_baselines(&tr, &va, 4, &bl, &err);
    CHECK(rc == LSC_EARG && strstr(err.msg, "different label sets"), "baselines with other label sets -> LSC_EARG");
    lsc_task_free(&va);
    lsc_task_free(&tr);
}

/* Baselines with hand-computed answers. */
static void test_baselines_exact(void)
{
    lsc_error err;
    lsc_task tr, va;
    /* train: A x3 (aaxing bbxing ox), B x4 (*ness): majority B */
    const char *p = write_tmp("btr.tsv",
                              "aaxing\tA\nbbxing\tA\nccness\tB\nddness\tB\neeness\tB\n"
                              "ffness\tB\nox\tA\n");
    int rc = lsc_task_load(&tr, p, NULL, &err);
    /* eval      truth  suffix4 table            majority B
     *  ffxing   A      xing -> A   right        wrong
     *  ggzzzz   B      unseen -> B right        right
     *  hhness   A      ness -> B   wrong        wrong
     *  ox       A      ox -> A     right        wrong   (whole short word)
     *  ox2      B      unseen -> B right        right
     *  box      B      unseen -> B right        right   ("ox" is not its 4-suffix) */
    p = write_tmp("bva.tsv", "ffxing\tA\nggzzzz\tB\nhhness\tA\nox\tA\nox2\tB\nbox\tB\n");
    rc |= lsc_task_load(&va, p, &tr, &err);
    CHECK(rc == LSC_OK, "load hand-made baseline task");
    if (rc != LSC_OK)
        return;
    lsc_baselines bl;
    rc = lsc_task_baselines(&tr, &va, 4, &bl, &err);
    CHECK(rc == LSC_OK && bl.majority_label == 1 && fabs(bl.majority - 0.5) < 1e-12,
          "majority = B, 3/6 (%.3f)", bl.majority);
    CHECK(fabs(bl.suffix - 5.0 / 6.0) < 1e-12 && fabs(bl.suffix_seen - 0.5) < 1e-12,
          "suffix4 = 5/6 (%.3f), suffix seen 3/6 (%.3f)", bl.suffix, bl.suffix_seen);
    lsc_task_free(&va);
    /* suffix of length 2: "ox" in training (A) is the suffix of "box" */
    p = write_tmp("bva2.tsv", "box\tA\nfox\tB\n");
    lsc_task_load(&va, p, &tr, &err);
    rc = lsc_task_baselines(&tr, &va, 2, &bl, &err);
    CHECK(rc == LSC_OK && fabs(bl.suffix - 0.5) < 1e-12 && bl.suffix_seen == 1.0,
          "suffix2: box/fox -> A (1/2)");
    lsc_task_free(&va);
    /* ties: A and B twice each -> lowest index (A) */
    lsc_task t2;
    p = write_tmp("tie.tsv", "a1\tB\na2\tA\na3\tB\na4\tA\n");
    lsc_task_load(&t2, p, NULL, &err);
    rc = lsc_task_baselines(&t2, &t2, 1, &bl, &err);
    CHECK(rc == LSC_OK && bl.majority_label == 0 && fabs(bl.majority - 0.5) < 1e-12, "ties -> lowest label index");
    lsc_task_free(&t2);
    lsc_task_free(&tr);
}

// ---- real data (after data/fetch.sh) ----

static void test_real_data(void)
{
    const char *tr_path = "data/tasks/supersense_train.tsv", *dv_path = "data/tasks/supersense_dev.tsv";
    const char *va_path = "data/tasks/supersense_test.tsv";
    if (!file_exists(tr_path) || !file_exists(dv_path) || !file_exists(va_path) ||
        !file_exists("data/corpus/pretrain_valid.txt")) {
        test_skip("real data checks", "data/tasks and data/corpus are absent: run data/fetch.sh");
        return;
    }
    lsc_error err;
    lsc_task tr, dv, va;
    int rc = lsc_task_load(&tr, tr_path, NULL, &err);
    rc |= lsc_task_load(&dv, dv_path, &tr, &err);
    rc |= lsc_task_load(&va, va_path, &tr, &err);
    CHECK(rc == LSC_OK, "load the real supersense split%s%s", rc ? ": " : "", rc ? err.msg : "");
    if (rc != LSC_OK)
        return;
    CHECK(tr.n + dv.n + va.n == 26224 && tr.n == 20955 && dv.n == 2644 && va.n == 2625 && tr.n_labels == 26,
          "26,224 items (%d + %d + %d), 26 labels", tr.n, dv.n, va.n);
    int split_ok = 1;
    for (int i = 0; i < va.n; i++)
        split_ok &= lsc_task_word_split(va.words[i]) == LSC_SPLIT_TEST;
    for (int i = 0; i < dv.n; i++)
        split_ok &= lsc_task_word_split(dv.words[i]) == LSC_SPLIT_DEV;
    for (int i = 0; i < tr.n; i++)
        split_ok &= lsc_task_word_split(tr.words[i]) == LSC_SPLIT_TRAIN;
    CHECK(split_ok, "the Python split and lsc_task_word_split agree on every word");
    lsc_task_free(&dv);
    lsc_baselines bl;
    rc = lsc_task_baselines(&tr, &va, 4, &bl, &err);
    CHECK(rc == LSC_OK && bl.majority > 0.14 && bl.majority < 0.16 && bl.suffix > 0.4 && bl.suffix < 0.6,
          "real baselines: majority (%s) %.4f, suffix4 %.4f (suffix seen %.3f) on %d items",
          tr.label_names[bl.majority_label], bl.majority, bl.suffix, bl.suffix_seen, bl.n_eval);
    lsc_task_free(&tr);
    lsc_task_free(&va);

    /* the C split rule reproduces data/corpus_text.py's: devil.txt is the
     * last source, so its validation part ends pretrain_valid.txt */
    lsc_corpus devil, pv, dtr, dva;
    rc = lsc_corpus_load(&devil, "data/corpus/devil.txt", &err);
    rc |= lsc_corpus_load(&pv, "data/corpus/pretrain_valid.txt", &err);
    if (rc == LSC_OK)
        rc = lsc_corpus_split(&devil, 5, &dtr, &dva, &err);
    CHECK(rc == LSC_OK && pv.n > dva.n && memcmp(pv.bytes + pv.n - dva.n, dva.bytes, dva.n) == 0 &&
          pv.bytes[pv.n - dva.n - 1] == '\n',
          "lsc_corpus_split(devil.txt, 5) = the tail of pretrain_valid.txt (%zu bytes)", dva.n);
    lsc_corpus_free(&devil);
    lsc_corpus_free(&pv);
    lsc_corpus_free(&dtr);
    lsc_corpus_free(&dva);
}

// ---- the evaluation sample, subsets, the bigram baseline ----

static void test_sample(void)
{
    enum { N = 1000 };
    static int a[N], b[N], c[N];
    int k = lsc_task_sample(N, 100, 7, a);
    int ok = k == 100, seen[N] = {0};
    for (int i = 0; i < k; i++) {
        ok &= a[i] >= 0 && a[i] < N && !seen[a[i]] && (i == 0 || a[i] > a[i - 1]);
        seen[a[i]] = 1;
    }
    CHECK(ok, "sample: 100 distinct items of 1000, increasing");
    lsc_task_sample(N, 100, 7, b);
    lsc_task_sample(N, 100, 8, c);
    CHECK(memcmp(a, b, 100 * sizeof(int)) == 0 && memcmp(a, c, 100 * sizeof(int)) != 0,
          "sample: the same seed gives the same items, another seed others");
    /* the documented rule, written out again: the first k steps of a Fisher-Yates shuffle */
    for (int i = 0; i < N; i++)
        c[i] = i;
    uint64_t rng;
    lsc_rng_seed(&rng, 7);
    for (int j = 0; j < 100; j++) {
        int r = j + (int)(lsc_rng_u64(&rng) % (uint64_t)(N - j)), t = c[j];
        c[j] = c[r];
        c[r] = t;
    }
    for (int i = 0; i < 100; i++)
        seen[c[i]] = 2;
    ok = 1;
    for (int i = 0; i < 100; i++)
        ok &= seen[a[i]] == 2;
    CHECK(ok, "sample: the items of the documented rule (partial Fisher-Yates from lsc_rng_seed(S))");
    k = lsc_task_sample(50, 0, 3, a);
    ok = k == 50;
    for (int i = 0; i < 50; i++)
        ok &= a[i] == i;
    CHECK(ok && lsc_task_sample(50, 80, 3, a) == 50, "sample: N = 0 or N >= n gives every item in order");
    /* a roughly uniform inclusion frequency over many seeds */
    static int hits[N];
    for (int s = 0; s < 2000; s++) {
        lsc_task_sample(N, 100, (uint64_t)s, a);
        for (int i = 0; i < 100; i++)
            hits[a[i]]++;
    }
    int lo = N, hi = 0;
    for (int i = 0; i < N; i++) {
        lo = hits[i] < lo ? hits[i] : lo;
        hi = hits[i] > hi ? hits[i] : hi;
    }
    CHECK(lo > 130 && hi < 280, "sample: every item drawn about 200 of 2000 times (min %d, max %d)", lo, hi);

    lsc_task t, sub;
    lsc_error err;
    int items[3] = {5, 0, 17};
    int rc = lsc_task_load(&t, TINY_TSV, NULL, &err);
    rc |= lsc_task_subset(&t, items, 3, &sub, &err);
    CHECK(rc == LSC_OK && sub.n == 3 && strcmp(sub.words[0], t.words[5]) == 0 && sub.labels[2] == t.labels[17] &&
          sub.n_labels == t.n_labels, "subset keeps the chosen items, in order, and the label set");
    lsc_task_free(&sub);
    items[1] = t.n;
    CHECK(lsc_task_subset(&t, items, 3, &sub, &err) == LSC_EARG, "subset: an item out of range is LSC_EARG");
    lsc_task_free(&t);
}

static void test_bigram(void)
{
    lsc_corpus tr, ev;
    lsc_error err;
    double x = 0;
    /* train "abab": pairs ab, ba, ab -> count(a b) = 2, count(a .) = 2, count(b a) = 1, count(b .) = 1 */
    int rc = lsc_corpus_from_bytes(&tr, "abab", 4, "tr", &err);
    rc |= lsc_corpus_from_bytes(&ev, "abx", 3, "ev", &err);
    rc |= lsc_corpus_bigram_xent(&tr, &ev, &x, &err);
    double want = -(log(3.0 / 258.0) + log(1.0 / 257.0)) / 2.0;   /* p(b|a) = 3/258, p(x|b) = 1/257 */
    CHECK(rc == LSC_OK && fabs(x - want) < 1e-12, "bigram cross-entropy of a known case: %.12f (want %.12f)", x, want);
    lsc_corpus_free(&tr);
    lsc_corpus_free(&ev);
    /* on real text the bigram model beats the unigram one */
    lsc_corpus c, a, b;
    rc = lsc_corpus_load(&c, TINY_TXT, &err);
    rc |= lsc_corpus_split(&c, 10, &a, &b, &err);
    rc |= lsc_corpus_bigram_xent(&a, &b, &x, &err);
    double u = lsc_corpus_unigram_xent(&a, &b);
    CHECK(rc == LSC_OK && x < u && x > 1.0, "tiny.txt: bigram %.4f < unigram %.4f nats/byte", x, u);
    lsc_corpus_free(&c);
    lsc_corpus_free(&a);
    lsc_corpus_free(&b);
}

int main(void)
{
    if (test_tmpdir_make("data") != 0)
        return 1;
    if (!file_exists(TINY_TXT) || !file_exists(TINY_TSV)) {
        printf("FAIL fixtures %s / %s not found: run from the project root\n", TINY_TXT, TINY_TSV);
        return 1;
    }
    test_corpus();
    test_synthetic();
    test_task_fixture();
    test_task_bad_input();
    test_baselines_exact();
    test_sample();
    test_bigram();
    test_real_data();
    test_tmpdir_remove();
    return test_summary();
}
