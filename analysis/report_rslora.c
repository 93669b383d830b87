/*
 * report_rslora.c — the section of `lorascope report` on rank-stabilised scaling (issue 17;
 * Kalajdzievski 2023, rsLoRA): {Wq,Wv} LoRA over the ranks with the scaling α/r and with α/√r at
 * the same α, the cells by rank beside each other, the verdict "learning stalls at high rank
 * with α/r", and what the scaling does to the spectrum of ΔW and to φ of Section 7.
 *
 * What it is not: an analysis (every number is read from rslora.h5, written by
 * experiments/study_rslora.sh through lorascope collect) or a finding of the paper's: it decides
 * none of the findings at the top of the page.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

enum { MAX_RANKS = 32 };

/* "0.412 [0.401, 0.423]" of /summary "<cell>.<metric>" (scaled by mul), the interval only when
 * there is one. */
static void fmt_ci(char *buf, size_t n, const study *s, const char *cell, const char *metric, double mul,
                   const char *f)
{
    double m = smf_(s, "%s.%s", cell, metric), lo = smf_(s, "%s.%s_lo95", cell, metric),
           hi = smf_(s, "%s.%s_hi95", cell, metric);
    char a[32], b[32], c[32];
    rfmt_(a, sizeof a, f, mul * m);
    if (isnan(lo) || isnan(hi)) {
        snprintf(buf, n, "%s", a);
        return;
    }
    rfmt_(b, sizeof b, f, mul * lo);
    rfmt_(c, sizeof c, f, mul * hi);
    snprintf(buf, n, "%s [%s, %s]", a, b, c);
}

/* The cells by rank: α/r beside α/√r (at r=1 the same runs). */
static void rslora_table(doc *d, const study *s, const int *ranks, int nr)
{
    const char *heads[] = {"r", "accuracy α/r", "accuracy α/√r", "test loss α/r", "test loss α/√r",
                           "final train loss α/r", "final train loss α/√r", "dev loss α/r", "dev loss α/√r"};
    table t;
    doc_table_begin_(d, &t, "{Wq,Wv} LoRA by rank: test rank-classification accuracy (%), test label "
                            "loss, final training loss (mean of the last tenth of the steps) and final "
                            "dev-split loss, mean [95% interval over seeds]", 9, heads);
    for (int i = 0; i < nr; i++) {
        char cr[32], cs[32], rk[16], v[8][100];
        snprintf(cr, sizeof cr, "qv_r%d", ranks[i]);
        if (ranks[i] == 1)
            snprintf(cs, sizeof cs, "qv_r1");
        else
            snprintf(cs, sizeof cs, "rs_qv_r%d", ranks[i]);
        snprintf(rk, sizeof rk, "%d", ranks[i]);
        static const char *const metric[4] = {"rank_accuracy", "val_loss", "final_train_loss", "final_dev_loss"};
        for (int k = 0; k < 4; k++) {
            double mul = k == 0 ? 100 : 1;
            const char *f = k == 0 ? "%.1f" : "%.3f";
            fmt_ci(v[2 * k], sizeof v[0], s, cr, metric[k], mul, f);
            fmt_ci(v[2 * k + 1], sizeof v[0], s, cs, metric[k], mul, f);
        }
        const char *cells[] = {rk, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
        doc_row_(d, &t, cells);
    }
    doc_table_end_(d);
}

static const char *vword(int st)
{
    return st == 1 ? "shown" : st == 0 ? "not shown" : st == -1 ? "not measured" : "missing";
}

/* The stall verdicts: val_loss (the headline), then the training loss and the accuracy; a table,
 * not findings (the findings at the top of the page are the paper's). */
static void rslora_verdicts(doc *d, const study *s)
{
    static const char *const names[3] = {"stall", "stall.final_train_loss", "stall.rank_accuracy"};
    static const char *const what[3] = {"test label loss (the verdict)", "final training loss", "rank accuracy"};
    doc_p_(d, "Learning stalls at high rank with α/r — rsLoRA's claim — is shown when the gain from the lowest "
              "to the highest rank is larger with α/√r than with α/r, paired by seed (95%% interval of the "
              "difference above 0); the gains in the training loss and the accuracy are beside it.");
    const char *heads[] = {"gain in", "verdict", "evidence", "test", "null"};
    table t;
    doc_table_begin_(d, &t, "Does learning stall at high rank with α/r? (lorascope collect, vstall)", 5, heads);
    for (int k = 0; k < 3; k++) {
        vinfo v;
        verdict_get_(s, names[k], &v);
        const char *cells[] = {what[k], vword(v.state), v.state == -2 ? "no verdict in rslora.h5" : v.evidence,
                               v.test, v.null_desc};
        doc_row_(d, &t, cells);
    }
    doc_table_end_(d);
}

/* The module of /<grp>/modules at layer whose proj attribute is proj (q_proj, v_proj), into out;
 * 0 when absent. */
static int mid_module(const study *s, const char *grp, int layer, const char *proj, char *out, size_t n)
{
    char obj[128], **names = NULL;
    int nn = 0, found = 0;
    lsc_error e = {0};
    snprintf(obj, sizeof obj, "/%s/modules", grp);
    if (lsc_h5_list(s->h, obj, &names, &nn, &e) != LSC_OK)
        return 0;
    for (int i = 0; i < nn && !found; i++) {
        char m[600], p[16] = "";
        snprintf(m, sizeof m, "%s/%s", obj, names[i]);
        lsc_h5_read_attr_str(s->h, m, "proj", p, sizeof p, &e);
        if ((int)attr_d_(s, m, "layer") == layer && strcmp(p, proj) == 0) {
            snprintf(out, n, "%s", m);
            found = 1;
        }
    }
    lsc_h5_free_names(names, nn);
    return found;
}

/* Section 7's numbers under each scaling: the spectrum of the highest-rank ΔW and φ(1,1)
 * between r=R_LOW and the highest rank, the middle layer's q and v. */
static void rslora_spectra(doc *d, const study *s, int r_hi)
{
    int layer = mid_layer_(s);
    const char *heads[] = {"scaling, ΔW", "scale s", "‖ΔW‖_F", "effective rank", "stable rank", "rank90",
                           "φ(1,1)", "Haar null mean", "null q95", "p"};
    table t;
    char cap[300];
    snprintf(cap, sizeof cap, "The r=%d adapter of the first seed, layer %d: its ΔW's spectrum (`lorascope "
             "spectrum`) and φ(1,1) of its top direction with the r=%.0f adapter's (`lorascope subspace`, "
             "factor A) against Haar-random subspaces", r_hi, layer, sm_(s, "phi_r.q.r1"));
    doc_table_begin_(d, &t, cap, 10, heads);
    static const char *const grp[2] = {"r", "rs"}, *const lab[2] = {"α/r", "α/√r"}, *const pj[2] = {"q", "v"},
                             *const pjn[2] = {"q_proj", "v_proj"};
    for (int g = 0; g < 2; g++)
        for (int k = 0; k < 2; k++) {
            char sg[16], pg[16], sm[600] = "", pm[600] = "", key[32], row[64], v[9][32];
            snprintf(sg, sizeof sg, "spec_%s", grp[g]);
            snprintf(pg, sizeof pg, "phi_%s", grp[g]);
            mid_module(s, sg, layer, pjn[k], sm, sizeof sm);
            mid_module(s, pg, layer, pjn[k], pm, sizeof pm);
            snprintf(key, sizeof key, "%s.%s", sg, pj[k]);
            snprintf(row, sizeof row, "%s, ΔW%s", lab[g], pj[k]);
            rfmt_(v[0], 32, "%.4g", sm[0] ? attr_d_(s, sm, "scale") : NAN);
            static const metric_col SPEC[4] = {
                {"delta_fro", "%.3g"}, {"effective_rank", "%.2f"}, {"stable_rank", "%.2f"}, {"rank90", "%.0f"}};
            metric_cells_(s, key, SPEC, 4, v + 1);
            snprintf(key, sizeof key, "%s.%s", pg, pj[k]);
            rfmt_(v[5], 32, "%.3f", smf_(s, "%s.phi_11", key));
            rfmt_(v[6], 32, "%.4f", pm[0] ? attr_d_(s, pm, "phi11_null_mean") : NAN);
            rfmt_(v[7], 32, "%.4f", pm[0] ? attr_d_(s, pm, "phi11_null_q95") : NAN);
            rfmt_(v[8], 32, "%.3g", pm[0] ? attr_d_(s, pm, "phi11_p") : NAN);
            const char *cells[] = {row, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]};
            doc_row_(d, &t, cells);
        }
    doc_table_end_(d);
}

void sec_rslora_(ctx *c)
{
    doc *d = &c->d;
    const study *s = section_open_(c, S_RSLORA, "rslora", "Rank-stabilised scaling (rsLoRA): α/r against α/√r",
                                   -1, -1);
    if (!s)
        return;
    int ranks[MAX_RANKS], nr;
    nr = cell_ranks_(s, "qv_r", ranks, MAX_RANKS);
    int r_hi = nr ? ranks[nr - 1] : 0;
    doc_p_(d, "Kalajdzievski (2023) argues that LoRA's scaling α/r shrinks the update as the rank grows, "
              "so that learning stalls at high rank, and that α/√r (rsLoRA, `train --rslora`) keeps the "
              "higher ranks learning. The same {Wq,Wv} LoRA runs (the lr of the sweep, α fixed at the "
              "profile's) at each rank with both scalings; the α/r runs are the rank study's, and at r=1 "
              "the two scalings are the same training. Accuracy in %%, losses in nats per label byte.");
    rslora_table(d, s, ranks, nr);
    rslora_verdicts(d, s);
    rslora_spectra(d, s, r_hi);
    doc_figure_(d, "rslora_curves",
                "Training loss (lines) and dev-split loss (points) per step at the lowest and the highest "
                "rank with each scaling (first seed). What to see: whether the high rank with α/r "
                "learns as slowly as the low rank while α/√r learns faster.");
    doc_figure_(d, "rslora_rank",
                "Accuracy and losses against the rank with α/r and α/√r (95% intervals over seeds). What "
                "to see: whether the α/r curve flattens at high rank while the α/√r curve keeps improving.");
}
