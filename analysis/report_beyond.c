/*
 * report_beyond.c — the sections of `lorascope report` beyond the paper's Section 7: LoRA
 * against full fine-tuning (the spectra of the updates) and QLoRA (the rank study on a 4-bit
 * NF4 base, and whether the adapter learns the quantisation error).
 *
 * What it is not: an analysis (every number is read from lora_vs_full.h5 and qlora.h5) or a
 * finding of the paper's: these sections decide none of the findings at the top of the page.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

// ---- LoRA against full fine-tuning ----

/* The spectrum columns of the LoRA-vs-full table. */
static const metric_col FULL_COLS[] = {
    {"n_sv", "%.0f"}, {"delta_fro", "%.3g"}, {"effective_rank", "%.2f"}, {"rank90", "%.0f"},
    {"stable_rank", "%.2f"},
};

void sec_full_(ctx *c)
{
    doc *d = &c->d;
    const study *s = section_open_(c, S_FULL, "full", "LoRA against full fine-tuning", -1, -1);
    if (!s)
        return;
    cellv f = cell_get_(s, "full"), l8 = cell_get_(s, "qkvo_r8");
    char kh[32];
    snprintf(kh, sizeof kh, "qkvo_r%d", c->r_high);
    cellv lh = cell_get_(s, kh);
    char a[3][48];
    rfmt_acc_(a[0], sizeof a[0], f.acc, f.sd, f.n_seeds);
    rfmt_acc_(a[1], sizeof a[1], l8.acc, l8.sd, l8.n_seeds);
    rfmt_acc_(a[2], sizeof a[2], lh.acc, lh.sd, lh.n_seeds);
    doc_p_(d, "One full fine-tuning run (every weight trainable) on the same task and budget of "
              "steps, beside LoRA on {Wq,Wk,Wv,Wo} at r=8 and r=%d. Accuracy: full %s%% (%ld "
              "trainable parameters), LoRA r=8 %s%% (%ld), LoRA r=%d %s%% (%ld).",
           c->r_high, a[0], f.params, a[1], l8.params, c->r_high, a[2], lh.params);
    const char *heads[] = {"update (middle layer)", "n singular values", "‖ΔW‖_F", "effective rank",
                           "rank90", "stable rank"};
    table t;
    doc_table_begin_(d, &t, "Spectra of ΔW: full fine-tuning (W_ft − W_0) vs the LoRA updates; "
                            "Biderman et al. 2024 report that full fine-tuning learns updates of "
                            "10–100× higher rank than typical LoRA", 6, heads);
    const char *tn[4] = {"q", "k", "v", "o"};
    char grp[3][32] = {"full", "lora_r8", ""};
    snprintf(grp[2], sizeof grp[2], "lora_r%d", c->r_high);
    const char *glabel[2] = {"full fine-tuning", "LoRA r=8"};
    double full_rank90 = 0, lora_rank90 = 0;
    int nfr = 0;
    for (int g = 0; g < 3; g++)
        for (int k = 0; k < 4; k++) {
            char key[128], lab[64], v[5][32];
            snprintf(key, sizeof key, "%s.%s", grp[g], tn[k]);
            if (isnan(smf_(s, "%s.delta_fro", key)))
                continue;
            if (g == 2)
                snprintf(lab, sizeof lab, "ΔW%s, LoRA r=%d", tn[k], c->r_high);
            else
                snprintf(lab, sizeof lab, "ΔW%s, %s", tn[k], glabel[g]);
            metric_cells_(s, key, FULL_COLS, 5, v);
            const char *cells[] = {lab, v[0], v[1], v[2], v[3], v[4]};
            doc_row_(d, &t, cells);
            if (g == 0 && !isnan(smf_(s, "%s.rank90", key))) {
                full_rank90 += smf_(s, "%s.rank90", key);
                nfr++;
            }
            if (g == 2 && !isnan(smf_(s, "%s.rank90", key)))
                lora_rank90 += smf_(s, "%s.rank90", key);
        }
    doc_table_end_(d);
    if (nfr > 0)
        doc_p_(d, "Observed: the full fine-tuning update needs on average %.1f directions for 90%% "
                  "of its energy (rank90) in the middle layer's attention weights, the LoRA r=%d "
                  "update %.1f — a ratio of %.1f×.",
               full_rank90 / nfr, c->r_high, lora_rank90 / nfr,
               lora_rank90 > 0 ? full_rank90 / lora_rank90 : NAN);
    doc_figure_(d, "full_spectra",
                "Normalised singular values σᵢ/σ₁ (log scale) and cumulative energy of ΔW for the "
                "middle layer: full fine-tuning against the LoRA updates. What to see: the full "
                "update's spectrum decays slowly (high effective rank), the LoRA ones stop at r.");
    doc_figure_(d, "training_curves",
                "Training loss per step of the full fine-tuning run and the two LoRA runs. What to "
                "see: how fast each drops, and whether full fine-tuning fits the task better or "
                "only faster.");
}

// ---- QLoRA ----

/* Orders cell names by their targets attribute, then numerically by rank (insertion sort: a
 * study has a few dozen cells). */
static void sort_cells(const study *s, char **names, int n)
{
    for (int i = 1; i < n; i++) {
        for (int j = i; j > 0; j--) {
            char oa[200], ob[200], ta[64] = "", tb[64] = "";
            lsc_error e = {0};
            snprintf(oa, sizeof oa, "/cells/%s", names[j - 1]);
            snprintf(ob, sizeof ob, "/cells/%s", names[j]);
            lsc_h5_read_attr_str(s->h, oa, "targets", ta, sizeof ta, &e);
            lsc_h5_read_attr_str(s->h, ob, "targets", tb, sizeof tb, &e);
            int c = (int)strlen(ta) - (int)strlen(tb);
            if (c == 0)
                c = strcmp(ta, tb);
            if (c == 0) {
                double ra = attr_d_(s, oa, "rank"), rb = attr_d_(s, ob, "rank");
                c = ra < rb ? -1 : ra > rb ? 1 : strcmp(names[j - 1], names[j]);
            }
            if (c <= 0)
                break;
            char *t = names[j - 1];
            names[j - 1] = names[j];
            names[j] = t;
        }
    }
}

/* The noise, the loss change and the best accuracy of the fp32/NF4 pairs of cells. */
typedef struct qlora_sums {
    double diff, var, ldiff, best_acc;
    int    n_pairs;
} qlora_sums;

/* One row of the QLoRA table: cell name (fp32) beside nf4_name; adds the pair to q. */
static void qlora_row(doc *d, const table *t, const study *s, const char *name, long ni,
                      qlora_sums *q)
{
    char qk[160];
    snprintf(qk, sizeof qk, "nf4_%s", name);
    cellv f = cell_get_(s, name), n4 = cell_get_(s, qk);
    char obj[200], targets[64] = "?", r[16], a[48], b[48], df[48], l1[32], l2[32];
    lsc_error e = {0};
    snprintf(obj, sizeof obj, "/cells/%s", name);
    lsc_h5_read_attr_str(s->h, obj, "targets", targets, sizeof targets, &e);
    snprintf(r, sizeof r, "%.0f", attr_d_(s, obj, "rank"));
    rfmt_acc_(a, sizeof a, f.acc, f.sd, f.n_seeds);
    rfmt_acc_(b, sizeof b, n4.acc, n4.sd, n4.n_seeds);
    rfmt_(df, sizeof df, "%+.1f", 100 * (n4.acc - f.acc));
    rfmt_(l1, sizeof l1, "%.3f", f.loss);
    rfmt_(l2, sizeof l2, "%.3f", n4.loss);
    const char *cells[] = {targets, r, a, b, df, l1, l2};
    doc_row_(d, t, cells);
    if (!isnan(f.acc) && !isnan(n4.acc)) {
        q->diff += n4.acc - f.acc;
        /* the noise of one difference: two binomial errors, or the seeds' spread */
        double p = 0.5 * (f.acc + n4.acc);
        double v = ni > 0 ? 2 * p * (1 - p) / ni : 0;
        if (f.n_seeds > 1)
            v = fmax(v, (f.sd * f.sd + n4.sd * n4.sd) / f.n_seeds);
        q->var += v;
        q->ldiff += n4.loss - f.loss;
        q->best_acc = fmax(q->best_acc, fmax(f.acc, n4.acc));
        q->n_pairs++;
    }
}

/* The rank cells on the NF4 base beside fp32 (names: the study's cells, sorted). */
static void qlora_bases(ctx *c, const study *s, char **names, int n)
{
    doc *d = &c->d;
    doc_p_(d, "The same LoRA runs (targets, rank, seed, arguments) trained on the base whose linear "
              "weights are frozen in 4-bit NormalFloat (`train --quant nf4`: bitsandbytes' NF4, "
              "block 64, double-quantised scales, dequantised on the fly), beside the runs on the "
              "fp32 base. Accuracy in %% (mean ± sd over seeds when there are several).");
    const char *heads[] = {"weight type", "r", "accuracy fp32", "accuracy NF4", "NF4 − fp32",
                           "val loss fp32", "val loss NF4"};
    table t;
    doc_table_begin_(d, &t, "QLoRA column of the rank study", 7, heads);
    qlora_sums q = {0, 0, 0, -1, 0};
    long ni = n_items_of_(s);
    for (int i = 0; i < n; i++)
        if (strncmp(names[i], "nf4_", 4) != 0)
            qlora_row(d, &t, s, names[i], ni, &q);
    doc_table_end_(d);
    double maj = sm_(s, "majority_accuracy");
    int np = q.n_pairs;
    if (np > 0 && !(q.best_acc > maj)) {
        doc_p_(d, "Observed: no cell beats the majority class (%.1f%%), so accuracy cannot compare "
                  "the two bases at this size; the validation loss changes by %+.3f nats per label "
                  "byte on average with the NF4 base (%d cells).",
               100 * maj, q.ldiff / np, np);
    } else if (np > 0) {
        double md = q.diff / np, se = sqrt(q.var) / np;
        doc_p_(d, "Observed: over %d cells the NF4 base changes accuracy by %+.1f points and the "
                  "validation loss by %+.3f on average (standard error of the accuracy difference "
                  "≈ %.1f points from the validation-set size and the seeds): %s.",
               np, 100 * md, q.ldiff / np, 100 * se,
               fabs(md) <= 2 * se ? "no difference beyond noise — QLoRA matches fp32 LoRA here, as the QLoRA paper reports"
               : md < 0 ? "QLoRA is measurably worse than fp32 LoRA here"
                        : "QLoRA is measurably better than fp32 LoRA here");
    }
    doc_figure_(d, "qlora_rank",
                "Accuracy and validation loss against the rank on the fp32 base (solid) and the NF4 "
                "base (dashed). What to look for: whether the dashed curves follow the solid ones "
                "(4-bit base weights cost little) or fall below them.");
}

/* The plain columns of the quantisation-error table (the cosines are divided by their random
 * spread, so they are not among them). */
static const metric_col QERR_COLS[] = {
    {"error_rel", "%.3f"},         {"bits_total", "%.3f"},     {"phi_right", "%.3f"},
    {"phi_right_compare", "%.3f"}, {"phi_right_diff", "%.3f"}, {"phi_right_random", "%.3f"},
    {"compensated_best", "%.3f"},
};

/* The quantisation-error table: one row per fp32 cell with a quanterr summary. */
static void qlora_quanterr_table(doc *d, const study *s, char **names, int n, double sums[4],
                                 int *nq)
{
    const char *h2[] = {"cell", "‖E‖/‖W‖", "bits/param", "φ ΔW_NF4", "φ ΔW_fp32", "φ D",
                        "φ random", "cos ΔW_NF4", "cos ΔW_fp32", "cos D", "best removable"};
    table t2;
    doc_table_begin_(d, &t2, "Quantisation error against the updates (cos in units of 1/√(dk))", 11, h2);
    for (int i = 0; i < n; i++) {
        if (strncmp(names[i], "nf4_", 4) == 0 || isnan(smf_(s, "%s.error_rel", names[i])))
            continue;
        const char *k = names[i];
        double sdv = smf_(s, "%s.cos_random_sd", k);
        char v[10][32];
        metric_cells_(s, k, QERR_COLS, 6, v);
        rfmt_(v[6], 32, "%+.2f", smf_(s, "%s.cos_delta_error", k) / sdv);
        rfmt_(v[7], 32, "%+.2f", smf_(s, "%s.cos_compare_error", k) / sdv);
        rfmt_(v[8], 32, "%+.2f", smf_(s, "%s.cos_diff_error", k) / sdv);
        metric_cells_(s, k, QERR_COLS + 6, 1, v + 9);
        const char *cells[] = {k, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]};
        doc_row_(d, &t2, cells);
        sums[0] += smf_(s, "%s.phi_right", k);
        sums[1] += smf_(s, "%s.phi_right_compare", k);
        sums[2] += smf_(s, "%s.phi_right_random", k);
        sums[3] += smf_(s, "%s.cos_diff_error", k) / sdv;
        (*nq)++;
    }
    doc_table_end_(d);
}

/* Does the adapter learn the quantisation error? (`lorascope quanterr`, merged per cell) */
static void qlora_quanterr(ctx *c, const study *s, char **names, int n)
{
    doc *d = &c->d;
    doc_h_(d, 3, "quanterr", "Does the adapter learn the quantisation error?");
    doc_p_(d, "For every adapted weight, E = W − deq(Q(W)) is what NF4 lost. `lorascope quanterr` "
              "compares it with the QLoRA update ΔW, with the fp32-base update of the same seed, and "
              "with their difference D = ΔW_NF4 − ΔW_fp32 (the part of the update the quantised base "
              "caused): φ at i = j = r between the top-r right-singular directions and E's (random "
              "subspaces: about r/k), and cos(·, E) in units of its random spread 1/√(dk). Means "
              "over all adapted modules of the first seed.");
    double sums[4] = {0, 0, 0, 0};
    int nq = 0;
    qlora_quanterr_table(d, s, names, n, sums, &nq);
    if (nq > 0) {
        double q = sums[0] / nq, f = sums[1] / nq, r = sums[2] / nq, cd = sums[3] / nq;
        doc_p_(d, "Observed (means over %d cells): φ(ΔW_NF4, E) = %.3f, φ(ΔW_fp32, E) = %.3f, random "
                  "%.3f; cos(D, E) = %+.2f random sd. %s",
               nq, q, f, r, cd,
               (q > 1.5 * r && q > 1.2 * f && cd > 2)
                   ? "The QLoRA update is aligned with the quantisation error beyond both baselines: "
                     "the adapter learns part of E."
                   : (q <= 1.5 * r && f <= 1.5 * r && fabs(cd) <= 2)
                         ? "Neither update is aligned with E beyond the random level, and their "
                           "difference is not either: at this size the adapter does not learn to "
                           "compensate the quantisation error."
                         : "The alignment is mixed (see the table); no clear compensation. Criterion "
                           "for compensation: φ(ΔW_NF4, E) > 1.5× random and > 1.2× φ(ΔW_fp32, E), "
                           "and cos(D, E) > 2 random sd.");
    }
    char cell[64] = "";
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/work/qlora/quanterr_figure_cell", c->dir);
    FILE *fp = lsc_file_open_read(p, NULL);
    if (fp) {
        if (fgets(cell, sizeof cell, fp))
            cell[strcspn(cell, "\r\n")] = '\0';
        fclose(fp);
    }
    char cap[600];
    snprintf(cap, sizeof cap,
             "The quantisation-error analysis of one module (cell %s; drawn by plots/ of "
             "`lorascope quanterr`). What to look for: whether the QLoRA update's φ with E's top "
             "directions rises above the fp32 update's and the random baseline.", cell[0] ? cell : "?");
    doc_figure_(d, "qlora_quanterr", cap);
}

/* QLoRA (issue 6): the rank cells on the NF4 base beside fp32, and the quantisation error. */
void sec_qlora_(ctx *c)
{
    const study *s = section_open_(c, S_QLORA, "qlora",
                                   "QLoRA — the rank study on a 4-bit NF4 base",
                                   -1, -1);
    if (!s)
        return;
    char **names = NULL;
    int n = 0;
    lsc_error e = {0};
    if (lsc_h5_list(s->h, "/cells", &names, &n, &e) == LSC_OK)
        sort_cells(s, names, n);
    qlora_bases(c, s, names, n);
    qlora_quanterr(c, s, names, n);
    lsc_h5_free_names(names, n);
}
