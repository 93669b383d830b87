/*
 * report_intruders.c — the report's section on intruder dimensions (issue 17, point 1;
 * Shuttleworth et al. 2024): from intruders.h5 (experiments/study_intruders.sh), a table of the
 * intruder count per cell (LoRA {Wq,Wv} at every rank, full fine-tuning on the same modules) with
 * its 95 % interval over seeds, its random-rotation null and the cell's task accuracy; the verdict
 * `lora_vs_full` (vintr in collect_verdict.c) with its test and null, and each side against its
 * own null; the figure. What it is not: any computation beyond reading /summary and /verdicts.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

/* One table row: /summary intr.<cell>.* */
static void intr_row(doc *d, const table *t, const study *s, const char *cell, const char *label)
{
    char v[4][48];
    double m = smf_(s, "intr.%s.count_mean", cell), lo = smf_(s, "intr.%s.count_lo", cell);
    double hi = smf_(s, "intr.%s.count_hi", cell);
    if (isnan(m))
        return;
    rfmt_(v[0], sizeof v[0], "%.2f", m);
    if (!isnan(lo))
        snprintf(v[1], sizeof v[1], "[%.2f, %.2f]", lo, hi);
    else
        snprintf(v[1], sizeof v[1], "— (one seed)");
    rfmt_(v[2], sizeof v[2], "%.2f", smf_(s, "intr.%s.null_mean", cell));
    rfmt_(v[3], sizeof v[3], "%.1f%%", 100 * smf_(s, "intr.%s.accuracy", cell));
    const char *cells[] = {label, v[0], v[1], v[2], v[3]};
    doc_row_(d, t, cells);
}

/* One verdict line: state, test, null, evidence. */
static void intr_verdict(doc *d, const study *s, const char *name, const char *claim)
{
    vinfo v;
    verdict_get_(s, name, &v);
    if (v.state == -2) {
        doc_p_(d, "**%s**: not in the study file (verdict %s absent).", claim, name);
        return;
    }
    const char *w = v.state == 1 ? "shown" : v.state == 0 ? "not shown" : "not measured";
    doc_p_(d, "**%s — %s.** Test: %s. Null: %s. %s", claim, w, v.test, v.null_desc, v.evidence);
}

/* Intruder dimensions: LoRA at every rank against full fine-tuning (issue 17). */
void sec_intruders_(ctx *c)
{
    doc *d = &c->d;
    const study *s = section_open_(c, S_INTR, "intruders", "Intruder dimensions — LoRA against full fine-tuning",
                                   -1, -1);
    if (!s)
        return;
    char ks[64], es[64];   /* the study's default cell (attr lines of study_intruders.sh) */
    root_str_(s, "intr_k", ks, sizeof ks);
    root_str_(s, "intr_eps", es, sizeof es);
    doc_p_(d, "Shuttleworth et al. (2024) find that LoRA's fine-tuned weights W0 + ΔW have \"intruder "
              "dimensions\": top singular vectors nearly orthogonal to every singular vector of the "
              "pre-trained W0, which full fine-tuning does not create. `lorascope intruders` counts, per "
              "module, the top-%s left singular vectors of W0 + ΔW whose largest |cos| with any of W0's "
              "singular vectors is below ε = %s, summed over the Wq and Wv modules of every layer (full "
              "fine-tuning adapts every weight; it is measured on the same q and v modules). The null: "
              "W0 + R ΔW Qᵀ with Haar-random orthogonal R, Q — ΔW's singular values kept, its directions "
              "random — which says how many intruders an update of that size and spectrum makes by "
              "chance.", ks, es);
    const char *heads[] = {"cell", "intruders (mean over seeds)", "95% interval", "random-rotation null (mean)",
                           "task accuracy"};
    table t;
    doc_table_begin_(d, &t, "Intruder dimensions per cell (sum over the q and v modules), with the null and "
                            "the cell's accuracy (rank classification when available)", 5, heads);
    intr_row(d, &t, s, "full", "full fine-tuning");
    char ms[64], mcell[96], mlab[128];   /* the accuracy-matched full fine-tuning (stopped early) */
    root_str_(s, "intr_match_steps", ms, sizeof ms);
    snprintf(mcell, sizeof mcell, "full_n%s", ms);
    snprintf(mlab, sizeof mlab, "full fine-tuning stopped at step %s", ms);
    intr_row(d, &t, s, mcell, mlab);
    for (int r = 1; r <= 4096; r *= 2) {
        char cell[32], lab[48];
        snprintf(cell, sizeof cell, "qv_r%d", r);
        snprintf(lab, sizeof lab, "LoRA {Wq,Wv} r=%d", r);
        intr_row(d, &t, s, cell, lab);
    }
    doc_table_end_(d);
    intr_verdict(d, s, "lora_vs_full", "LoRA (lowest rank) introduces more intruder dimensions than full "
                                       "fine-tuning");
    intr_verdict(d, s, "lora_vs_full.lora_null", "LoRA's intruders exceed its random-rotation null");
    intr_verdict(d, s, "lora_vs_full.full_null", "Full fine-tuning's intruders exceed its random-rotation null");
    intr_verdict(d, s, "lora_vs_full_matched", "At equal task accuracy (full fine-tuning stopped early, the LoRA "
                                               "cell of the nearest accuracy), LoRA introduces more intruder "
                                               "dimensions than full fine-tuning");
    intr_verdict(d, s, "lora_vs_full_matched.full_null", "Early-stopped full fine-tuning's intruders exceed its "
                                                         "random-rotation null");
    doc_figure_(d, "intruders",
                "Intruder dimensions against the LoRA rank (mean and 95% interval over seeds, labelled "
                "with the cell's accuracy), full fine-tuning as a band, the random-rotation nulls dashed "
                "and dotted. What to look for: whether LoRA's counts lie above the full fine-tuning band, "
                "and whether they lie above their own null (directions more foreign to W0 than random "
                "ones) or on it (an update of that size in a random direction would do the same).");
}
