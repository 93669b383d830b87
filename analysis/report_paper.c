/*
 * report_paper.c — the sections of `lorascope report` that stand beside the LoRA paper's
 * Section 7 (Hu et al. 2021, arXiv:2106.09685v2): Table 5 (which weight types), Table 6 (rank),
 * Figure 3 (subspaces of two ranks), Figure 4 (of two seeds) and Table 7 (ΔW against W), each
 * with the paper's numbers and the findings it decides, by printed criteria.
 *
 * What it is not: an analysis (every number of ours is read from the study files) or the
 * document's formatting (report_doc.c). The only constants are the paper's published values
 * and the findings' criteria.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

// ---- the paper's numbers (lora-facts.md §1.2-1.5, verified against arXiv:2106.09685v2) ----

/* Table 5: GPT-3 175B, 18M trainable parameters. */
static const struct {
    const char *key, *label;
    int         r;
    double      wikisql, mnli;
} PAPER_T5[] = {
    {"q_r8", "Wq", 8, 70.4, 91.0},         {"k_r8", "Wk", 8, 70.0, 90.8},
    {"v_r8", "Wv", 8, 73.0, 91.0},         {"o_r8", "Wo", 8, 73.2, 91.3},
    {"qk_r4", "Wq, Wk", 4, 71.4, 91.3},    {"qv_r4", "Wq, Wv", 4, 73.7, 91.3},
    {"qkvo_r2", "Wq, Wk, Wv, Wo", 2, 73.7, 91.7},
};
/* Table 6: r = 1 2 4 8 64. */
static const int PAPER_T6_R[5] = {1, 2, 4, 8, 64};
static const struct {
    const char *targets, *label;
    double      wikisql[5], mnli[5];
} PAPER_T6[] = {
    {"q", "Wq", {68.8, 69.6, 70.5, 70.4, 70.0}, {90.7, 90.9, 91.1, 90.7, 90.7}},
    {"qv", "Wq, Wv", {73.4, 73.3, 73.7, 73.8, 73.5}, {91.3, 91.4, 91.3, 91.6, 91.4}},
    {"qkvo", "Wq, Wk, Wv, Wo", {74.1, 73.7, 74.0, 74.0, 73.9}, {91.2, 91.7, 91.7, 91.5, 91.4}},
};
/* Table 7 (GPT-3, ΔWq, layer 48): r=4 and r=64. */
static const struct {
    int    r;
    double proj_delta, proj_base, proj_random, w_fro, dw_fro, amp;
} PAPER_T7[] = {
    {4, 0.32, 21.67, 0.02, 61.95, 6.91, 21.5},
    {64, 1.90, 37.71, 0.33, 61.95, 3.57, 1.9},
};

// ---- Tables 5 and 6 ----

void sec_table5_(ctx *c)
{
    doc *d = &c->d;
    const study *s = section_open_(c, S_T5, "table5",
                                   "Table 5 — which weight types to adapt (fixed parameter budget)", 4, -1);
    if (!s)
        return;
    doc_p_(d, "Each cell adapts the named weight types of every layer at the rank shown, so all "
              "cells have the same number of trainable parameters (the paper's budget: r=8 on "
              "one type). Our metric is WordNet-supersense accuracy (%%) on the test split: rank "
              "classification (the label with the highest likelihood among all labels) with its 95%% "
              "t-interval over seeds, and the greedy exact match; and the test loss of the answer bytes; the paper's are GPT-3 175B validation "
              "accuracies on WikiSQL and MultiNLI. Compare the ordering, not the values.");
    const char *heads[] = {"weight type", "r", "trainable params",
                           "test accuracy % (ours: rank classification [95% interval], exact match)",
                           "test label loss (ours)", "paper:WikiSQL", "paper:MultiNLI"};
    table t;
    doc_table_begin_(d, &t, "Table 5: ours beside the paper's", 7, heads);
    for (size_t i = 0; i < sizeof PAPER_T5 / sizeof PAPER_T5[0]; i++) {
        cellv v = cell_get_(s, PAPER_T5[i].key);
        char r[16], p[32], a[96], l[48], w[16], m[16];
        snprintf(r, sizeof r, "%d", PAPER_T5[i].r);
        if (v.params >= 0)
            snprintf(p, sizeof p, "%ld", v.params);
        else
            snprintf(p, sizeof p, "—");
        rfmt_cell_(a, sizeof a, &v);
        if (v.n_seeds > 1 && !isnan(v.loss))
            snprintf(l, sizeof l, "%.3f ± %.3f", v.loss, v.loss_sd);
        else
            rfmt_(l, sizeof l, "%.3f", v.loss);
        snprintf(w, sizeof w, "%.1f", PAPER_T5[i].wikisql);
        snprintf(m, sizeof m, "%.1f", PAPER_T5[i].mnli);
        const char *cells[] = {PAPER_T5[i].label, r, p, a, l, w, m};
        doc_row_(d, &t, cells);
    }
    doc_table_end_(d);
    {
        const char *nm[] = {"qv_beats_q", "qkvo_beats_q"};
        const char *lb[] = {"{Wq,Wv} r=4 > {Wq} r=8", "{Wq,Wk,Wv,Wo} r=2 > {Wq} r=8"};
        finding_from_verdicts_(c, 4, s, nm, lb, 2,
                               "shown when both paired comparisons are (mean difference over seeds > 0 with "
                               "its 95% interval above 0); with one seed there is no test (not measured).");
    }
    if (isnan(sm_(s, "suffix_accuracy")))   /* instruction format (FORMAT=alpaca): no suffix baseline */
        doc_p_(d, "Trivial baseline on the same test items: majority class %.1f%%.", 100 * sm_(s, "majority_accuracy"));
    else
        doc_p_(d, "Trivial baselines on the same test items: majority class %.1f%%, 4-letter-suffix "
                  "lookup %.1f%%.", 100 * sm_(s, "majority_accuracy"), 100 * sm_(s, "suffix_accuracy"));
    doc_figure_(d, "table5_targets",
                "Supersense accuracy for each weight-type choice at the same budget (error bars: "
                "spread over seeds when there are several). What to see: whether the multi-type "
                "cells ({Wq,Wv}, all four at r=2) reach higher accuracy than putting the whole "
                "budget on one type, as in the paper's Table 5.");
}

/* The bests of one target set of Table 6 over our ranks (accuracy, and validation loss). */
typedef struct t6_set {
    double best, best_small, sd_max, lbest, lbest_small;   /* small: r <= 4 */
    int    best_r, lbest_r;
} t6_set;

/* The three rows of target set PAPER_T6[i] (ours, paper WikiSQL, paper MultiNLI) and its bests;
 * *best_all: the best accuracy of any cell so far. */
static void t6_rows(doc *d, const table *t, const study *s, size_t i, const int ranks[5], t6_set *o,
                    double *best_all)
{
    char cellbuf[5][96], pw[5][16], pm[5][16];
    const char *row[7] = {PAPER_T6[i].label, "ours"}, *rw[7] = {"", "paper WikiSQL"},
               *rm[7] = {"", "paper MultiNLI"};
    *o = (t6_set){-1, -1, 0, INFINITY, INFINITY, 0, 0};
    (void)PAPER_T6_R;   /* the paper's ranks; ours replace 64 by the profile's high rank */
    for (int k = 0; k < 5; k++) {
        char key[64];
        snprintf(key, sizeof key, "%s_r%d", PAPER_T6[i].targets, ranks[k]);
        cellv v = cell_get_(s, key);
        rfmt_cell_(cellbuf[k], sizeof cellbuf[k], &v);
        row[2 + k] = cellbuf[k];
        snprintf(pw[k], sizeof pw[k], "%.1f", PAPER_T6[i].wikisql[k]);
        snprintf(pm[k], sizeof pm[k], "%.1f", PAPER_T6[i].mnli[k]);
        rw[2 + k] = pw[k];
        rm[2 + k] = pm[k];
        if (!isnan(v.loss)) {
            if (v.loss < o->lbest) {
                o->lbest = v.loss;
                o->lbest_r = ranks[k];
            }
            if (ranks[k] <= 4 && v.loss < o->lbest_small)
                o->lbest_small = v.loss;
        }
        if (!isnan(v.racc))
            *best_all = fmax(*best_all, v.racc);
        if (!isnan(v.acc)) {
            *best_all = fmax(*best_all, v.acc);
            if (v.acc > o->best) {
                o->best = v.acc;
                o->best_r = ranks[k];
            }
            if (ranks[k] <= 4 && v.acc > o->best_small)
                o->best_small = v.acc;
            if (v.n_seeds > 1 && v.sd > o->sd_max)
                o->sd_max = v.sd;
        }
    }
    doc_row_(d, t, row);
    doc_row_(d, t, rw);
    doc_row_(d, t, rm);
}

/* Table 6 and the saturation finding. */
void sec_table6_(ctx *c)
{
    doc *d = &c->d;
    const study *s = section_open_(c, S_T6, "table6", "Table 6 — accuracy against rank r", 3, -1);
    if (!s)
        return;
    /* our ranks: the paper's 1 2 4 8 64 with 64 replaced by the profile's high rank */
    int ranks[5] = {1, 2, 4, 8, c->r_high};
    doc_p_(d, "Test accuracy (%%) of LoRA on supersense for each rank: rank classification [95%% interval over "
              "seeds] and greedy exact match; the paper's GPT-3 WikiSQL / MultiNLI accuracies below each row. "
              "Our highest rank is r=%d%s.",
           c->r_high, c->r_high == 64 ? ", as in the paper"
                                     : " (the paper's is 64; this profile's model is too small for it)");
    const char *heads[] = {"weight type", "", "r=1", "r=2", "r=4", "r=8", "r=high"};
    char hh[16];
    snprintf(hh, sizeof hh, "r=%d", c->r_high);
    heads[6] = hh;
    table t;
    doc_table_begin_(d, &t, "Table 6: ours beside the paper's", 7, heads);
    double best_all = -1;
    for (size_t i = 0; i < sizeof PAPER_T6 / sizeof PAPER_T6[0]; i++) {
        t6_set o;
        t6_rows(d, &t, s, i, ranks, &o, &best_all);
    }
    doc_table_end_(d);
    const char *nm[] = {"sat.qv", "sat.qkvo"};
    const char *lb[] = {"{Wq,Wv} r=4 ≡ high rank", "{Wq,Wk,Wv,Wo} r=4 ≡ high rank"};
    finding_from_verdicts_(c, 3, s, nm, lb, 2,
                           "shown when both equivalence tests are (TOST, paired by seed: the 90% interval of the "
                           "mean difference lies inside ± the margin); a difference test that fails is never "
                           "counted as saturation; with one seed there is no test (not measured).");
    vinfo q;
    verdict_get_(s, "q_needs_rank", &q);
    if (q.state != -2)
        doc_p_(d, "{Wq} alone at the high rank against r=4 (the paper: Wq alone gains with rank): %s — %s (%s).",
               q.state == 1 ? "better" : q.state == 0 ? "not shown better" : "not measured", q.evidence, q.test);
    if (isnan(sm_(s, "suffix_accuracy")))
        doc_p_(d, "Trivial baseline on the same test items: majority class %.1f%%; the best cell %s it.",
               100 * sm_(s, "majority_accuracy"), best_all > sm_(s, "majority_accuracy") ? "beats" : "does NOT beat");
    else
        doc_p_(d, "Trivial baselines on the same test items: majority class %.1f%%, 4-letter-suffix lookup %.1f%%; "
                  "the best cell %s the suffix table.",
               100 * sm_(s, "majority_accuracy"), 100 * sm_(s, "suffix_accuracy"),
               best_all > sm_(s, "suffix_accuracy") ? "beats" : "does NOT beat");
    doc_figure_(d, "table6_rank",
                "Test accuracy against the LoRA rank (log scale) for {Wq}, {Wq,Wv} and {Wq,Wk,Wv,Wo}: rank "
                "classification with its 95% interval (solid), greedy exact match (dotted). What to see: "
                "whether the curves are flat from small r on (the paper: r=1 already suffices for {Wq,Wv}, "
                "while {Wq} alone gains a little up to r=4), and how far all of them sit above the "
                "majority-class and suffix baselines.");
    doc_figure_(d, "dw_ratio",
                "‖ΔW‖_F / ‖W‖_F against the rank (median over each run's adapted modules, mean over seeds), "
                "beside the paper's regime (GPT-3 Wq at r=4: 0.11, band ×/÷ 3). An update much larger than "
                "the weight it adapts is not the paper's low-rank adaptation.");
}

// ---- Figures 3 and 4 ----

/* One row per (factor, weight) of a phi study. */
static void phi_rows(doc *d, table *t, const study *s, const char *factor)
{
    const char *tn[2] = {"q", "v"};
    for (int k = 0; k < 2; k++) {
        char key[16], a[5][24], b[5][24], lab[64];
        snprintf(key, sizeof key, "%s.%s", factor, tn[k]);
        snprintf(lab, sizeof lab, "ΔW%s (%s)", tn[k], factor);
        rfmt_(a[0], sizeof a[0], "%.3f", smf_(s, "%s.phi_11", key));
        rfmt_(b[0], sizeof b[0], "%.3f", smf_(s, "%s.random_phi_11", key));
        rfmt_(a[1], sizeof a[1], "%.3f", smf_(s, "%s.phi_1_all", key));
        rfmt_(b[1], sizeof b[1], "%.3f", smf_(s, "%s.random_phi_1_all", key));
        rfmt_(a[2], sizeof a[2], "%.3f", smf_(s, "%s.phi_diag", key));
        rfmt_(b[2], sizeof b[2], "%.3f", smf_(s, "%s.random_phi_diag", key));
        rfmt_(a[3], sizeof a[3], "%.3f", smf_(s, "%s.phi_all", key));
        rfmt_(b[3], sizeof b[3], "%.3f", smf_(s, "%s.random_phi_all", key));
        char c0[64], c1[64], c2[64], c3[64];
        snprintf(c0, sizeof c0, "%s (random %s)", a[0], b[0]);
        snprintf(c1, sizeof c1, "%s (random %s)", a[1], b[1]);
        snprintf(c2, sizeof c2, "%s (random %s)", a[2], b[2]);
        snprintf(c3, sizeof c3, "%s (random %s)", a[3], b[3]);
        const char *cells[] = {lab, c0, c1, c2, c3};
        doc_row_(d, t, cells);
    }
}

/* The step-0 null (LoRA issue 12): the same statistics of factor A on the runs' initial
 * adapters (init.A.q.*, B = 0 so no factor B), beside the trained ones, and the sentence
 * that says how to read them. */
static void phi_init_table(doc *d, const study *s, const char *fig)
{
    const char *heads[] = {"module", "φ(1,1) trained / step 0", "mean φ(i,i) trained / step 0",
                           "φ(r₁, r₂) trained / step 0"};
    const char *stat[3] = {"phi_11", "phi_diag", "phi_all"}, *tn[2] = {"q", "v"};
    char cap[256];
    snprintf(cap, sizeof cap, "%s, factor A, middle layer: the trained adapters against their "
                              "step-0 adapters (A₀, B = 0)", fig);
    table t;
    doc_table_begin_(d, &t, cap, 4, heads);
    for (int k = 0; k < 2; k++) {
        char lab[32], c[3][64];
        snprintf(lab, sizeof lab, "ΔW%s (A)", tn[k]);
        for (int j = 0; j < 3; j++) {
            char a[24], b[24];
            rfmt_(a, sizeof a, "%.3f", smf_(s, "A.%s.%s", tn[k], stat[j]));
            rfmt_(b, sizeof b, "%.3f", smf_(s, "init.A.%s.%s", tn[k], stat[j]));
            snprintf(c[j], sizeof c[j], "%s / %s", a, b);
        }
        const char *cells[] = {lab, c[0], c[1], c[2]};
        doc_row_(d, &t, cells);
    }
    doc_table_end_(d);
    doc_p_(d, "Step 0: the same grid on the two runs' initial adapters (A₀ as drawn, B = 0; factor B "
              "is all zero at step 0 and has no step-0 grid). Each module's A₀ comes from its own "
              "random stream keyed by the module's name and rank, so two runs never share A₀, and the "
              "step-0 overlap is that of two random subspaces. The trained overlap counts only "
              "above the step-0 overlap.");
}

void sec_fig3_(ctx *c)
{
    doc *d = &c->d;
    const study *s = section_open_(c, S_F3, "fig3",
                                   "The paper's Figure 3: subspace similarity between two ranks", 0, -1);
    if (!s)
        return;
    char layer[64];
    root_str_(s, "profile_config", layer, sizeof layer);
    double r1 = sm_(s, "A.q.r1"), r2 = sm_(s, "A.q.r2"), dim = sm_(s, "A.q.dim");
    doc_p_(d, "Two runs adapting {Wq, Wv} with the same seed at r=%.0f and r=%.0f. φ(i, j) = "
              "‖V₁[:, :i]ᵀ V₂[:, :j]‖²_F / min(i, j) on the right-singular vectors of A (the "
              "paper's choice; factor A) and on the left-singular vectors of B (factor B). Values "
              "for the middle layer; every layer is in fig3_subspace_ranks.h5. Random: the same "
              "statistic for two random subspaces of the same dimensions in R^%.0f.", r1, r2, dim);
    const char *heads[] = {"module", "φ(1,1)", "φ(1, r₂): top direction inside the other subspace",
                           "mean φ(i,i)", "φ(r₁, r₂)"};
    table t;
    doc_table_begin_(d, &t, "The paper's Figure 3 in numbers (middle layer); the paper: φ > 0.5 for i = 1, "
                            "dropping towards the random level for larger i", 5, heads);
    phi_rows(d, &t, s, "A");
    phi_rows(d, &t, s, "B");
    doc_table_end_(d);
    phi_init_table(d, s, "The paper's Figure 3");
    {
        int L = mid_layer_(s);
        char n1[64], n2[64];
        snprintf(n1, sizeof n1, "phi.A.q.L%d", L);
        snprintf(n2, sizeof n2, "phi.A.v.L%d", L);
        const char *nm[] = {n1, n2}, *lb[] = {"ΔWq, factor A", "ΔWv, factor A"};
        finding_from_verdicts_(c, 0, s, nm, lb, 2,
                               "per module of the half-depth layer, the mean φ(1,1) over the seed pairs must beat "
                               "the resampled Haar null of that mean (p < 0.05); when the step-0 overlap itself "
                               "beats that null, the trained values must also exceed it pair by pair (paired t) and "
                               "by more than the null's spread; shown when both ΔWq and ΔWv do, partly when one "
                               "does. Every layer: section 'Every layer'.");
    }
    const char *fac[2] = {"A", "B"}, *tn[2] = {"q", "v"};
    for (int f = 0; f < 2; f++)
        for (int k = 0; k < 2; k++) {
            char name[64], cap[1024];
            snprintf(name, sizeof name, "fig3_phi_%s_%s", fac[f], tn[k]);
            snprintf(cap, sizeof cap,
                     "φ(%s_r=%.0f, %s_r=%.0f, i, j) of ΔW%s in the middle layer, on the %s (left), "
                     "beside two random subspaces of the same shape (right). What to look for: in "
                     "the paper's Figure 3 the top-left corner is bright (the top direction is shared, "
                     "φ > 0.5) and the rest fades to the random level; here φ(1,1) = %.2f, while "
                     "random subspaces stay near max(i,j)/%.0f everywhere.",
                     fac[f], r1, fac[f], r2, tn[k],
                     f == 0 ? "right-singular vectors of A" : "left-singular vectors of B (output side)",
                     smf_(s, "%s.%s.phi_11", fac[f], tn[k]), dim);
            doc_figure_(d, name, cap);
        }
}

void sec_fig4_(ctx *c)
{
    doc *d = &c->d;
    const study *s = section_open_(c, S_F4, "fig4",
                                   "The paper's Figure 4: subspace similarity between two seeds", 5, -1);
    if (!s)
        return;
    char seeds[64];
    root_str_(s, "seeds", seeds, sizeof seeds);
    doc_p_(d, "Two runs adapting {Wq, Wv} at r=%.0f that differ only in the seed (%s). The paper "
              "finds that ΔWq shares more top directions across seeds than ΔWv, and that two random "
              "Gaussian matrices share none beyond chance.", sm_(s, "A.q.r1"), seeds);
    const char *heads[] = {"module", "φ(1,1)", "φ(1, r₂)", "mean φ(i,i)", "φ(r, r)"};
    table t;
    doc_table_begin_(d, &t, "The paper's Figure 4 in numbers (middle layer), each beside two random matrices "
                            "of the same shape", 5, heads);
    phi_rows(d, &t, s, "A");
    doc_table_end_(d);
    phi_init_table(d, s, "The paper's Figure 4");
    double q = sm_(s, "A.q.phi_diag"), v = sm_(s, "A.v.phi_diag");
    {
        int L = mid_layer_(s);
        char n1[64], n2[64];
        snprintf(n1, sizeof n1, "phi.A.q.L%d", L);
        snprintf(n2, sizeof n2, "phi.A.v.L%d", L);
        vinfo vq, vv;
        verdict_get_(s, n1, &vq);
        verdict_get_(s, n2, &vv);
        double mq = smf_(s, "%s.phi11_mean", n1), mv = smf_(s, "%s.phi11_mean", n2);
        const char *w = vq.state < 0 ? "n/a" : vq.state == 1 && (vv.state != 1 || mq > mv) ? "yes"
                                              : vq.state == 1 || vv.state == 1 ? "partly" : "no";
        finding_set_(c, 5, w,
                     "Half-depth layer, mean φ(1,1) over the seed pairs: ΔWq %.3f — %s: %s (%s; null: %s). ΔWv %.3f — "
                     "%s: %s. Rule: shown when ΔWq's shared direction beats the Haar null and the step-0 overlap "
                     "and ΔWq's mean φ(1,1) exceeds ΔWv's (or ΔWv's is not shown); partly when only ΔWv's is shown "
                     "or the order is reversed.",
                     mq, vq.state == 1 ? "shown" : "not shown", vq.evidence, vq.test, vq.null_desc, mv,
                     vv.state == 1 ? "shown" : "not shown", vv.evidence);
    }
    doc_p_(d, "Observed: mean φ(i,i) across seeds is %.3f for ΔWq and %.3f for ΔWv (random: %.3f "
              "and %.3f), so in our miniature ΔW%s is the more seed-stable one%s.",
           q, v, sm_(s, "A.q.random_phi_diag"), sm_(s, "A.v.random_phi_diag"), q >= v ? "q" : "v",
           q >= v ? ", as in the paper" : ", unlike the paper (there ΔWq is)");
    const char *tn[2] = {"q", "v"};
    for (int k = 0; k < 2; k++) {
        char name[64], cap[1024];
        snprintf(name, sizeof name, "fig4_phi_%s", tn[k]);
        snprintf(cap, sizeof cap,
                 "φ(A_seed1, A_seed2, i, j) of ΔW%s at r=%.0f, middle layer (left), and the same "
                 "grid for two random Gaussian matrices (right). What to look for: a top-left corner "
                 "brighter than the random grid means the two seeds found common top directions "
                 "(here φ(1,1) = %.2f against %.2f for the random pair); the paper sees more such "
                 "directions for ΔWq than for ΔWv.",
                 tn[k], sm_(s, "A.q.r1"), smf_(s, "A.%s.phi_11", tn[k]),
                 smf_(s, "A.%s.random_phi_11", tn[k]));
        doc_figure_(d, name, cap);
    }
}

// ---- Table 7 ----

/* Our columns of Table 7. */
static const metric_col T7_COLS[] = {
    {"proj_delta", "%.3g"}, {"proj_base", "%.3g"}, {"proj_random", "%.3g"},
    {"base_fro", "%.3g"},   {"delta_fro", "%.3g"}, {"amplification", "%.3g"},
    {"proj_null_mean", "%.3g"}, {"alignment_excess", "%.3g"},
};

void sec_table7_(ctx *c)
{
    doc *d = &c->d;
    const study *s = section_open_(c, S_T7, "table7", "Table 7 — how ΔW relates to W", 1, 2);
    if (!s)
        return;
    doc_p_(d, "‖UᵀWV‖_F with U, V the top-r singular vectors of ΔW, of W itself, or random; ‖W‖_F, "
              "‖ΔW‖_F and the amplification factor ‖ΔW‖_F / ‖UᵀWV‖_F (U, V from ΔW), for the "
              "half-depth layer; every layer and seed is in table7_amplify.h5. The null: the same projection "
              "for random ΔWs of equal rank and norm (Haar frames); alignment excess = proj ΔW / "
              "E[proj random]. The paper's row is GPT-3's ΔWq "
              "in layer 48. Our ‖ΔW‖_F includes the scaling α/r.");
    const char *heads[] = {"r", "weight", "proj ΔW", "proj W", "proj random", "null mean (random ΔW)",
                           "alignment excess", "‖W‖_F", "‖ΔW‖_F", "amplification"};
    table t;
    doc_table_begin_(d, &t, "Table 7: ours (half-depth layer, first seed) and the paper's (GPT-3, Wq)", 10, heads);
    int rs[2] = {4, c->r_high};
    for (int i = 0; i < 2; i++) {
        const char *tn[2] = {"q", "v"};
        for (int k = 0; k < 2; k++) {
            char key[32], cr[8], cw[16], v[8][32];
            snprintf(key, sizeof key, "r%d.%s", rs[i], tn[k]);
            metric_cells_(s, key, T7_COLS, 8, v);
            snprintf(cr, sizeof cr, "%d", rs[i]);
            snprintf(cw, sizeof cw, "ΔW%s (ours)", tn[k]);
            const char *cells[] = {cr, cw, v[0], v[1], v[2], v[6], v[7], v[3], v[4], v[5]};
            doc_row_(d, &t, cells);
        }
        char cr[8], v[6][16];
        snprintf(cr, sizeof cr, "%d", PAPER_T7[i].r);
        snprintf(v[0], 16, "%.2f", PAPER_T7[i].proj_delta);
        snprintf(v[1], 16, "%.2f", PAPER_T7[i].proj_base);
        snprintf(v[2], 16, "%.2f", PAPER_T7[i].proj_random);
        snprintf(v[3], 16, "%.2f", PAPER_T7[i].w_fro);
        snprintf(v[4], 16, "%.2f", PAPER_T7[i].dw_fro);
        snprintf(v[5], 16, "%.1f", PAPER_T7[i].amp);
        char ae[16];
        snprintf(ae, sizeof ae, "%.1f", PAPER_T7[i].proj_delta / PAPER_T7[i].proj_random);
        const char *cells[] = {cr, "ΔWq (paper, GPT-3)", v[0], v[1], v[2], "—", ae, v[3], v[4], v[5]};
        doc_row_(d, &t, cells);
    }
    doc_table_end_(d);
    {
        int L = mid_layer_(s), lo = 4, hi = c->r_high;
        char a1[64], a2[64], m1[64], m2[64];
        snprintf(a1, sizeof a1, "align.q.L%d.r%d", L, lo);
        snprintf(a2, sizeof a2, "align.v.L%d.r%d", L, lo);
        snprintf(m1, sizeof m1, "amp.q.L%d", L);
        snprintf(m2, sizeof m2, "amp.v.L%d", L);
        const char *an[] = {a1, a2}, *al[] = {"ΔWq r=4", "ΔWv r=4"};
        finding_from_verdicts_(c, 1, s, an, al, 2,
                               "per module, proj_ΔW (top-r directions of ΔW, mean over seeds) against the same "
                               "projection for random ΔWs of equal rank and norm (Haar frames); shown when both "
                               "ΔWq and ΔWv beat it (p < 0.05). The effect is the alignment excess "
                               "proj_ΔW / E[proj_random] (GPT-3: about 16 at r=4).");
        const char *mn[] = {m1, m2}, *ml[] = {"ΔWq", "ΔWv"};
        char rule[400];
        snprintf(rule, sizeof rule,
                 "amplification with K fixed across ranks, r=%d against r=%d: the observed log-ratio of the "
                 "factors against the same ratio for random ΔWs with each run's rank and norm (each run's own "
                 "null draws); shown when both ΔWq and ΔWv beat it (p < 0.05).", lo, hi);
        finding_from_verdicts_(c, 2, s, mn, ml, 2, rule);
        const char *rn[] = {"regime"}, *rl[] = {"‖ΔWq‖/‖Wq‖ at r=4"};
        finding_from_verdicts_(c, 6, s, rn, rl, 1,
                               "shown when the mean ratio over seeds lies within 3× of the paper's 0.11 (either "
                               "way); not shown means our numbers of Table 7 are in another regime than GPT-3's.");
    }
    doc_figure_(d, "table7_amplify",
                "‖UᵀWV‖_F (log scale) for U, V from ΔW, from W's own top directions and random, and "
                "the amplification factor, for ΔWq and ΔWv at r=4 and the high rank (middle "
                "layer). What to see: the ΔW bar between the random and the W bars (ΔW points at "
                "directions W has but does not emphasise) and a larger amplification at r=4.");
}

