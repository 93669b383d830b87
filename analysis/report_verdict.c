/*
 * report_verdict.c — the verdicts in `lorascope report` (LoRA issue 12): the findings at the top
 * are the /verdicts that `lorascope collect` computed into the study files (each with its test,
 * the null it had to beat, effect, interval and p), combined per claim by a stated rule; plus the
 * sections that exist for the verdicts' sake: the learning-rate sweep on the dev split, the base
 * model's quality against n-gram baselines, and the all-layer summaries.
 *
 * What it is not: statistics. Every number is read from the study files (or the base model's
 * pretraining log); the rules that turned them into verdicts are lib/verdict.c's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

// ---- reading verdicts ----

int mid_layer_(const study *s)
{
    char b[32];
    root_str_(s, "mid_layer", b, sizeof b);
    return strcmp(b, "?") == 0 ? -1 : atoi(b);
}

void verdict_get_(const study *s, const char *name, vinfo *v)
{
    memset(v, 0, sizeof *v);
    v->state = -2;
    v->effect = v->lo = v->p = NAN;
    char obj[300];
    snprintf(obj, sizeof obj, "/verdicts/%s", name);
    if (!s || !s->h || !lsc_h5_exists(s->h, obj))
        return;
    lsc_error e = {0};
    long long st = -1;
    lsc_h5_read_attr_int(s->h, obj, "state", &st, &e);
    v->state = (int)st;
    v->effect = attr_d_(s, obj, "effect");
    v->lo = attr_d_(s, obj, "lo");
    v->p = attr_d_(s, obj, "p");
    lsc_h5_read_attr_str(s->h, obj, "test", v->test, sizeof v->test, &e);
    lsc_h5_read_attr_str(s->h, obj, "null", v->null_desc, sizeof v->null_desc, &e);
    lsc_h5_read_attr_str(s->h, obj, "evidence", v->evidence, sizeof v->evidence, &e);
}

static const char *state_word(int st)
{
    return st == 1 ? "shown" : st == 0 ? "not shown" : st == -1 ? "not measured" : "missing";
}

/* Finding i from the verdicts names[0..n-1] of s: "yes" when all are shown, "partly" when some,
 * "no" when none is shown and at least one was measured, "n/a" otherwise; the evidence lists
 * each verdict's own sentence, test and null after the rule. */
void finding_from_verdicts_(ctx *c, int i, const study *s, const char *const *names, const char *const *labels,
                            int n, const char *rule)
{
    char ev[2048] = "";
    int shown = 0, measured = 0;
    for (int k = 0; k < n; k++) {
        vinfo v;
        verdict_get_(s, names[k], &v);
        shown += v.state == 1;
        measured += v.state == 0 || v.state == 1;
        size_t l = strlen(ev);
        if (v.state == -2)
            snprintf(ev + l, sizeof ev - l, "%s%s: no verdict in the study file. ", labels[k], "");
        else
            snprintf(ev + l, sizeof ev - l, "%s: %s — %s (%s; null: %s). ", labels[k], state_word(v.state),
                     v.evidence, v.test, v.null_desc);
    }
    const char *word = shown == n ? "yes" : shown ? "partly" : measured ? "no" : "n/a";
    finding_set_(c, i, word, "%.1700s Rule: %s", ev, rule);
}

// ---- the learning-rate sweep ----

void sec_lr_(ctx *c)
{
    doc *d = &c->d;
    const study *s = section_open_(c, S_LR, "lr", "The learning rate, chosen on the dev split", -1, -1);
    if (!s)
        return;
    char rule[512], grid[128], lr[32];
    root_str_(s, "lr_rule", rule, sizeof rule);
    root_str_(s, "lr_grid", grid, sizeof grid);
    root_str_(s, "selected_lr", lr, sizeof lr);
    doc_p_(d, "Every LoRA run of the studies uses lr = **%s**, chosen before them by the rule the profile "
              "states: %s. Grid: %s. The sweep reads only the dev split (disjoint from the training words "
              "and from the test words of every table); the tables report the test split only.",
           lr, rule, grid);
    const char *heads[] = {"lr", "dev rank-classification %", "dev exact match %", "test rank-classification %",
                           "median ‖ΔW‖/‖W‖"};
    table t;
    doc_table_begin_(d, &t, "The sweep ({q,v}, r=8, seed 1)", 5, heads);
    char **names = NULL;
    int nn = 0;
    lsc_error e = {0};
    if (s->h && lsc_h5_list(s->h, "/cells", &names, &nn, &e) == LSC_OK) {
        for (int i = 0; i < nn; i++) {
            char obj[300], a[32], b[32], r[32], q[32];
            snprintf(obj, sizeof obj, "/cells/%s", names[i]);
            rfmt_(a, sizeof a, "%.1f", 100 * attr_d_(s, obj, "dev_rank_accuracy_mean"));
            rfmt_(b, sizeof b, "%.1f", 100 * attr_d_(s, obj, "dev_accuracy_mean"));
            rfmt_(r, sizeof r, "%.1f", 100 * attr_d_(s, obj, "rank_accuracy_mean"));
            rfmt_(q, sizeof q, "%.3g", attr_d_(s, obj, "dw_ratio_median_mean"));
            const char *cells[] = {names[i] + (strncmp(names[i], "lr", 2) == 0 ? 2 : 0), a, b, r, q};
            doc_row_(d, &t, cells);
        }
        lsc_h5_free_names(names, nn);
    }
    doc_table_end_(d);
    /* an optimum on the grid's edge may lie outside it: say so */
    double sel = atof(lr), lo = INFINITY, hi = -INFINITY;
    char g2[128], *save = NULL;
    snprintf(g2, sizeof g2, "%s", grid);
    for (char *tok = strtok_r(g2, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        lo = fmin(lo, atof(tok));
        hi = fmax(hi, atof(tok));
    }
    if (isfinite(lo) && (sel == lo || sel == hi))
        doc_p_(d, "**The chosen lr is at the %s edge of the grid**: the best lr may lie outside it, so the "
                  "runs may be under-tuned. The grid stays as written (changing it after seeing the results "
                  "would be choosing on the data); a wider grid is a change to the profile for the next run.",
               sel == hi ? "upper" : "lower");
}

// ---- the base model ----

void sec_base_(ctx *c)
{
    doc *d = &c->d;
    const study *s = NULL;
    for (int i = 0; i < S_N && !s; i++)
        if (c->st[i].h)
            s = &c->st[i];
    if (!s)
        return;
    char base[1024], logp[1100];
    root_str_(s, "base_model", base, sizeof base);
    snprintf(logp, sizeof logp, "%s", base);
    char *dot = strstr(logp, ".safetensors");
    if (dot)
        strcpy(dot, ".train_log.h5");
    doc_h_(d, 2, "base", "The base model");
    lsc_h5 *h = NULL;
    lsc_error e = {0};
    if (!dot || lsc_h5_open(&h, logp, &e) != LSC_OK) {
        doc_p_(d, "The base model's pretraining log %s is not readable here, so its validation loss is not "
                  "shown.", logp);
        return;
    }
    double vl = NAN, uni = NAN, bi = NAN, wall = NAN;
    lsc_h5_read_attr_double(h, "/", "final_val_loss", &vl, &e);
    lsc_h5_read_attr_double(h, "/", "unigram_xent", &uni, &e);
    lsc_h5_read_attr_double(h, "/", "bigram_xent", &bi, &e);
    lsc_h5_read_attr_double(h, "/", "train_wall_s", &wall, &e);
    lsc_h5_close(h);
    char cfg[256];
    root_str_(s, "base_config", cfg, sizeof cfg);
    doc_p_(d, "Base (%s): validation loss **%.3f** nats/byte, against %.3f for a byte bigram model and %.3f for "
              "a unigram model fitted on the same training text (%s); pretraining wall time %.0f s. %s",
           cfg, vl, bi, uni, logp, wall,
           vl < bi ? "The base predicts text better than the bigram baseline." :
                     "The base does NOT beat the bigram baseline: it is undertrained, and every study on it "
                     "measures noise as much as adaptation.");
}

// ---- all-layer summaries ----

/* One row per layer and projection: the verdicts <pre>.<q|v>.L<layer> of s. */
static void layer_rows(doc *d, const table *t, const study *s, const char *what, const char *pre, int n_layer)
{
    const char tn[2] = {'q', 'v'};
    for (int l = 0; l < n_layer; l++)
        for (int k = 0; k < 2; k++) {
            char name[128], lab[64], ly[16], a[48], b[48], p[32], eff[48];
            snprintf(name, sizeof name, "%s.%c.L%d", pre, tn[k], l);
            vinfo v;
            verdict_get_(s, name, &v);
            if (v.state == -2)
                continue;
            snprintf(lab, sizeof lab, "ΔW%c (%s)", tn[k], what);
            snprintf(ly, sizeof ly, "%d", l);
            rfmt_(a, sizeof a, "%.3g", smf_(s, "%s.phi11_mean", name));
            rfmt_(b, sizeof b, "%.3g", smf_(s, "%s.null_mean", name));
            rfmt_(eff, sizeof eff, "%.3g", v.effect);
            rfmt_(p, sizeof p, "%.3g", v.p);
            const char *cells[] = {ly, lab, a, b, eff, p, state_word(v.state)};
            doc_row_(d, t, cells);
        }
}

void sec_layers_(ctx *c)
{
    doc *d = &c->d;
    int n_layer = 0;
    for (int i = 0; i < S_N; i++)
        if (c->st[i].h) {
            char nl[16];
            root_str_(&c->st[i], "n_layer", nl, sizeof nl);
            n_layer = atoi(nl);
            break;
        }
    if (n_layer <= 0)
        return;
    doc_h_(d, 2, "layers", "Every layer");
    doc_p_(d, "The figures show the layer at half depth; these are the same verdicts for every layer and "
              "projection (mean over the seed pairs; p from the resampled Haar null of the mean).");
    const char *heads[] = {"layer", "module", "φ(1,1) mean", "null mean", "effect", "p", "verdict"};
    struct { int st; const char *what, *pre; } rows[] = {
        {S_F3, "Fig. 3, A", "phi.A"}, {S_F3, "Fig. 3, B", "phi.B"}, {S_F4, "Fig. 4, A", "phi.A"}};
    table t;
    doc_table_begin_(d, &t, "φ(1,1) verdicts per layer", 7, heads);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (c->st[rows[i].st].h)
            layer_rows(d, &t, &c->st[rows[i].st], rows[i].what, rows[i].pre, n_layer);
    doc_table_end_(d);
    const study *s = &c->st[S_T7];
    if (!s->h)
        return;
    const char *ah[] = {"layer", "verdict name", "effect", "interval low", "p", "verdict"};
    doc_table_begin_(d, &t, "Table 7 verdicts per layer (align: alignment excess over a random ΔW of equal rank and "
                            "norm; amp: amplification ratio low/high rank over the null's)", 6, ah);
    char **names = NULL;
    int nn = 0;
    lsc_error e = {0};
    if (lsc_h5_list(s->h, "/verdicts", &names, &nn, &e) == LSC_OK) {
        for (int i = 0; i < nn; i++) {
            vinfo v;
            verdict_get_(s, names[i], &v);
            const char *L = strstr(names[i], ".L");
            char ly[16], eff[32], lo[32], p[32];
            snprintf(ly, sizeof ly, "%s", L ? L + 2 : "—");
            char *dotp = strchr(ly, '.');
            if (dotp)
                *dotp = '\0';
            rfmt_(eff, sizeof eff, "%.3g", v.effect);
            rfmt_(lo, sizeof lo, "%.3g", v.lo);
            rfmt_(p, sizeof p, "%.3g", v.p);
            const char *cells[] = {ly, names[i], eff, lo, p, state_word(v.state)};
            doc_row_(d, &t, cells);
        }
        lsc_h5_free_names(names, nn);
    }
    doc_table_end_(d);
}
