/*
 * report_forget.c — the learning-vs-forgetting section of `lorascope report` (issue 17; Biderman et
 * al. 2024, "LoRA Learns Less and Forgets Less"): per cell (LoRA on {Wq,Wk,Wv,Wo} at each rank, full
 * fine-tuning) the test accuracy beside the forgetting (the loss increase on the base's held-out
 * pretraining text), the verdicts collect computed (vforget, vlearn), the Pareto figure, and the
 * rank the full-fine-tuning ΔW needs against LoRA's rank (from lora_vs_full.h5, study_full's).
 *
 * What it is not: an analysis (every number is read from forget.h5 and lora_vs_full.h5) or a finding
 * of the paper's: this section decides none of the findings at the top of the page.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define MAX_RANKS 32

/* One row of the table: cell key, shown as label. */
static void forget_row(doc *d, const table *t, const study *s, const char *key, const char *label)
{
    cellv v = cell_get_(s, key);
    char obj[200], acc[96], fg[96], ll[32], pr[32];
    snprintf(obj, sizeof obj, "/cells/%s", key);
    rfmt_cell_(acc, sizeof acc, &v);
    double m = attr_d_(s, obj, "forgetting_mean"), lo = attr_d_(s, obj, "forgetting_lo95"),
           hi = attr_d_(s, obj, "forgetting_hi95");
    if (isnan(lo))
        rfmt_(fg, sizeof fg, "%+.4f", m);
    else
        snprintf(fg, sizeof fg, "%+.4f [%+.4f, %+.4f]", m, lo, hi);
    rfmt_(ll, sizeof ll, "%.4f", attr_d_(s, obj, "lm_loss_mean"));
    snprintf(pr, sizeof pr, "%ld", v.params);
    const char *cells[] = {label, pr, acc, fg, ll};
    doc_row_(d, t, cells);
}

/* A verdict of forget.h5 as a row of the verdict table (nothing when absent). */
static void forget_verdict(doc *d, const table *t, const study *s, const char *name, const char *claim)
{
    vinfo v;
    verdict_get_(s, name, &v);
    if (v.state == -2)
        return;
    char eff[96], p[32], test[600], obj[128];
    snprintf(obj, sizeof obj, "/verdicts/%s", name);
    snprintf(eff, sizeof eff, "%+.4g [%.4g, %.4g]", v.effect, v.lo, attr_d_(s, obj, "hi"));
    rfmt_(p, sizeof p, "%.2g", v.p);
    snprintf(test, sizeof test, "%s; null: %s", v.test, v.null_desc);
    const char *cells[] = {claim, v.state == 1 ? "shown" : v.state == 0 ? "not shown" : "not measured", eff, p, test};
    doc_row_(d, t, cells);
}

/* The full-fine-tuning ΔW's rank90 and effective rank (lora_vs_full.h5, the middle layer's Wq,Wk,Wv,Wo)
 * against the LoRA ranks. */
static void forget_spectrum(ctx *c, const int *ranks, int nr)
{
    const study *f = &c->st[S_FULL];
    double r90 = 0, er = 0;
    int n = 0;
    const char *tn[4] = {"q", "k", "v", "o"};
    for (int k = 0; f->h && k < 4; k++)
        if (!isnan(smf_(f, "full.%s.rank90", tn[k]))) {
            r90 += smf_(f, "full.%s.rank90", tn[k]);
            er += smf_(f, "full.%s.effective_rank", tn[k]);
            n++;
        }
    if (n == 0) {
        doc_p_(&c->d, "The spectrum of the full-fine-tuning ΔW is not available (lora_vs_full.h5, from "
                      "experiments/study_full.sh, is missing or has no deltaspec summary).");
        return;
    }
    r90 /= n;
    er /= n;
    char list[512] = "";
    for (int i = 0; i < nr; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%sr=%d: %.3g×", i ? ", " : "", ranks[i],
                 r90 / ranks[i]);
    doc_p_(&c->d, "**Spectrum of the full-fine-tuning update** (lora_vs_full.h5, first seed, mean over the "
                  "middle layer's Wq, Wk, Wv, Wo): full fine-tuning's ΔW needs rank %.1f for 90%% of its "
                  "energy (effective rank %.1f), that is %s the LoRA rank (%s). Biderman et al. report "
                  "full-fine-tuning updates of 10–100× the rank of typical LoRA configurations.",
           r90, er, nr > 0 ? (r90 > ranks[nr - 1] ? "above even the largest" : "within the range of") : "against",
           nr > 0 ? list : "no LoRA cells");
}

void sec_forget_(ctx *c)
{
    doc *d = &c->d;
    const study *s = section_open_(c, S_FORGET, "forget", "Learning vs forgetting (LoRA against full fine-tuning)",
                                   -1, -1);
    if (!s)
        return;
    doc_p_(d, "Biderman et al. 2024 (\"LoRA Learns Less and Forgets Less\"): LoRA learns the target task less "
              "well than full fine-tuning but keeps more of what the base knew. Learning: the supersense test "
              "accuracy of each run. Forgetting: the run's loss on the base's held-out pretraining text "
              "(`lorascope eval --task lm`, the same fixed windows for every model) minus the base's own "
              "loss on those windows, in nats per byte; mean and 95%% interval over seeds. The runs are "
              "the rank study's and study_full's (no training of its own).");
    int ranks[MAX_RANKS], nr;
    nr = cell_ranks_(s, "qkvo_r", ranks, MAX_RANKS);
    const char *heads[] = {"cell", "trainable params", "test accuracy %", "forgetting (nats/byte)",
                           "loss on pretraining text"};
    table t;
    doc_table_begin_(d, &t, "Learning (test accuracy) and forgetting (loss increase on held-out pretraining "
                            "text) per cell", 5, heads);
    for (int i = 0; i < nr; i++) {
        char key[32], lab[64];
        snprintf(key, sizeof key, "qkvo_r%d", ranks[i]);
        snprintf(lab, sizeof lab, "LoRA {Wq,Wk,Wv,Wo} r=%d", ranks[i]);
        forget_row(d, &t, s, key, lab);
    }
    forget_row(d, &t, s, "full", "full fine-tuning");
    doc_table_end_(d);
    char base[64];
    rfmt_(base, sizeof base, "%.4f", attr_d_(s, "/cells/full", "base_lm_loss"));
    doc_p_(d, "The base model's own loss on the same windows: %s nats per byte.", base);
    const char *vh[] = {"claim", "verdict", "effect, full − LoRA [95% interval]", "p", "test"};
    table vt;
    doc_table_begin_(d, &vt, "Verdicts (lorascope collect: vforget, vlearn), paired by seed; forgetting in nats "
                             "per byte, accuracy in points; the evidence is in forget.h5's /verdicts", 5, vh);
    forget_verdict(d, &vt, s, "forget.pooled", "LoRA (its ranks pooled per seed) forgets less than full fine-tuning");
    forget_verdict(d, &vt, s, "learn.pooled", "full fine-tuning learns more than LoRA (its ranks pooled per seed)");
    for (int i = 0; i < nr; i++) {
        char vn[32], claim[128];
        snprintf(vn, sizeof vn, "forget.r%d", ranks[i]);
        snprintf(claim, sizeof claim, "LoRA at r=%d forgets less than full fine-tuning", ranks[i]);
        forget_verdict(d, &vt, s, vn, claim);
        snprintf(vn, sizeof vn, "learn.r%d", ranks[i]);
        snprintf(claim, sizeof claim, "full fine-tuning learns more than LoRA at r=%d", ranks[i]);
        forget_verdict(d, &vt, s, vn, claim);
    }
    doc_table_end_(d);
    vinfo pv;
    verdict_get_(s, "forget.pooled", &pv);
    if (pv.state != -2)
        doc_p_(d, "Pooled forgetting verdict: %s", pv.evidence);
    forget_spectrum(c, ranks, nr);
    doc_figure_(d, "forget_pareto",
                "Test accuracy against forgetting, one point per cell with its 95% interval over seeds on "
                "both axes (LoRA ranks labelled, full fine-tuning the red diamond). What to see: whether "
                "full fine-tuning sits up and to the right of the LoRA points (learns more, forgets more) "
                "and whether forgetting grows with the LoRA rank.");
}
