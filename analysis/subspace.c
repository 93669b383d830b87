/*
 * subspace.c — `lorascope subspace ADAPTER1 ADAPTER2 -o OUT.h5`: the
 * normalised subspace similarity of the LoRA paper (§7.2, Eq. 4, Figures
 * 3–4) between the modules two adapters have in common:
 *
 *   φ(i, j) = ‖V1[:, :i]ᵀ V2[:, :j]‖²_F / min(i, j),  1 <= i <= r1, 1 <= j <= r2,
 *
 * on the right-singular vectors of A (--factor A, the paper's choice: the
 * row space of A in R^k) or the left-singular vectors of B (--factor B: the
 * column space of B in R^d), beside the same grid for two seeded uniformly
 * random subspaces of the same dimensions (Figure 4, right), and the
 * principal angles between the two spans.
 *
 * HDF5 layout, per compared module /modules/<module>/ (with --pair M1:M2
 * and different names: /modules/<M1>:<M2>/):
 *   phi                   float64 [r1, r2], phi[i-1][j-1] = φ(i, j)
 *   phi_random            float64 [r1, r2], two random subspaces
 *   principal_angles_deg  float64 [min(r1, r2)], ascending
 *   attributes r1, r2, factor ("A"/"B"), dim (k for A, d for B), module1,
 *     module2, degenerate (1: dW = 0 in one adapter, or a factor of lower
 *     numerical rank than r — the undefined entries are NaN), numerical_rank1,
 *     numerical_rank2, n_nonfinite (NaN/Inf inputs: everything NaN),
 *     random_seed (the seed of phi_random).
 * The null (--null-draws N, default 1000; --null-seed S, default --seed):
 * the same statistics for two independent uniformly random subspaces of
 * the same dimensions, p1 = min(r1, dim) and p2 = min(r2, dim) in R^dim:
 *   phi11_null            float64 [N], N draws of φ(1, 1)
 *   phi_null_mean         float64 [r1, r2], the mean φ grid over
 *                         min(N, 200) draws (NaN beyond p1, p2)
 *   phi_null_q95          float64 [r1, r2], its 95th percentile per cell
 *   attributes phi11 (= phi[0][0]), phi11_null_mean, phi11_null_q95,
 *     phi11_p ((1 + #{draws >= phi11}) / (1 + N), one-sided; NaN when phi11
 *     is), phi11_expected (1/dim, the exact mean of the null: its law is
 *     Beta(1/2, (dim-1)/2)), null_draws (N), grid_null_draws (min(N, 200)),
 *     null_seed (of the φ(1, 1) draws: ana_module_seed(S, "<group>/null")),
 *     grid_null_seed (ana_module_seed(S, "<group>/null-grid")), r_over_dim
 *     (max(r1, r2)/dim).
 * Rotation invariance lets the draws fix one subspace to the coordinate
 * axes (lsc_phi11_null, lsc_phi_null); quantiles are numpy's default
 * (linear); the draws depend only on (S, group, dim, p1, p2).
 * DoRA modules (--base MODEL, one base for both adapters): the subspaces
 * are the top-p right (--factor A, in R^k) or left (--factor B, in R^d)
 * singular vectors of the module's effective update dW = m ⊙ (W0 + s·B·A) /
 * ‖W0 + s·B·A‖_row − W0 (lib/dora.c; a dense top-p SVD), p = min(r, dim)
 * as for LoRA: the effective update has full rank in general (the
 * renormalisation rescales every row of W0 too), so the comparable object
 * is its top-r subspace, the directions the adapter's rank-r factors and
 * magnitude move most; the numerical rank counts σ > σ₁·max(d, k)·eps and
 * dW counts as zero when σ₁ <= ‖m‖₂·max(d, k)·eps. Attributes update =
 * "DoRA effective: ...", effective_update = 1. Without --base a DoRA
 * adapter is refused, unless --factors-only: then A's / B's own singular
 * vectors as for LoRA, with update = "factors s·B·A (NOT the effective
 * DoRA update)", effective_update = 0. Root input "base" when one was used.
 * Modules whose compared dimension differs (a c_proj of 768 inputs against
 * one of 3072) are skipped with a warning; if none remains, nothing is
 * written and the exit status is 1. Not a statistics package: the null's
 * summaries and a Monte-Carlo p-value, no verdicts.
 * Self-description and tables (h5describe.c): every dataset has the string
 * attributes units and definition, every module group layer (-1 if none) and
 * proj; --json / --csv FILE print the file's numbers as a tidy table (tidy.h).
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis_common.h"
#include "commands.h"
#include "tidy.h"
#include "dora_update.h"
#include "nulls.h"
#include "subspace_basis.h"

/* grids of the null from at most this many draws (each a QR of a dim×p frame) */
#define GRID_NULL_MAX 200

static const char *USAGE =
    "usage: lorascope subspace ADAPTER1 ADAPTER2 -o OUT.h5 [--factor A|B] [--pair M1:M2]\n"
    "                          [--base MODEL | --factors-only] [--plots DIR] [options]\n"
    "\n"
    "Normalised subspace similarity phi(i, j) = |V1[:, :i]^T V2[:, :j]|_F^2 / min(i, j)\n"
    "(LoRA paper, Eq. 4) for every module present in both adapters, on the\n"
    "right-singular vectors of A (--factor A, default, as in the paper) or the\n"
    "left-singular vectors of B (--factor B); also phi for two seeded random\n"
    "subspaces of the same dimensions and the principal angles.\n"
    "\n"
    "  --factor A|B         which factor's singular vectors to compare (default A)\n"
    "  --pair M1:M2         compare module M1 of ADAPTER1 with M2 of ADAPTER2 only\n"
    "                       (e.g. q_proj against v_proj of the same adapter)\n"
    "  --allow-zero-update  compare the factor even where dW = 0 because the other\n"
    "                       factor is zero (the step-0 adapters of train --save-init,\n"
    "                       B = 0); without it such modules are NaN, degenerate.\n"
    "                       (Formerly --factor-only, still accepted; unrelated to\n"
    "                       DoRA's --factors-only below.)\n"
    "\n"
    "DoRA adapters (one of the two is needed when a module is DoRA):\n"
    "  --base MODEL         base of DoRA modules (.safetensors, HF folder or llama2.c):\n"
    "                       compare the top-r singular vectors of their effective\n"
    "                       update m*(W0 + sBA)/|W0 + sBA|_row - W0 (needed for DoRA)\n"
    ANA_DORA_HELP
    "\n"
    "  --null-draws N       the null, two uniformly random subspaces of the same\n"
    "                       dimensions: N draws of phi(1,1) (default 1000; its mean,\n"
    "                       95th percentile and the p-value of the observed phi(1,1))\n"
    "                       and min(N, 200) of the grid (mean and 95th percentile)\n"
    ANA_NULL_SEED_HELP
    ANA_COMMON_HELP
    "\n"
    "examples:\n"
    "  lorascope subspace ../shared/fixtures/peft/gptneo125m-r8-qv \\\n"
    "      ../shared/fixtures/peft/gptneo125m-r8-qv -o s.h5 --plots figs\n"
    "  lorascope subspace A8 A64 -o s.h5 --pair h.3.attn.q_proj:h.3.attn.q_proj --factor B\n";

typedef struct pair {
    const lsc_adapter_module *m1, *m2;
    char   group[1100];  /* name under /modules */
    int    p1, p2, dim;   /* min(r, dim) while computing; r1, r2 after */
    double *phi, *phi_rand, *angles;   /* (r1, r2), (r1, r2), (min(r1, r2)) */
    int    degenerate, rank1, rank2, n_nonfinite;
    int    allow_zero;                 /* --allow-zero-update: dW = 0 alone is not degenerate */
    const lsc_adapter *a1, *a2;        /* the adapters of m1, m2 */
    int    eff1, eff2;                 /* 1: m1 / m2 through its effective DoRA update */
    uint64_t rseed;
    int    ndraws, gdraws;             /* null draws of φ(1, 1), of the grid */
    uint64_t nseed, gseed;             /* their seeds */
    double *phi11_null;                /* (ndraws) */
    double *null_mean, *null_q95;      /* (r1, r2), (r1, r2) */
    ana_null s11;                      /* summary of phi11_null against phi[0] */
    int    rc;                         /* of compute_pair */
    ana_msgs msgs;                     /* warnings/error of compute_pair, printed in order */
} pair;

/* rows (p, n) from a column basis Q (n, p) */
static void cols_to_rows(int n, int p, const double *Q, double *Vt)
{
    for (size_t i = 0; i < (size_t)n; i++)
        for (size_t j = 0; j < (size_t)p; j++)
            Vt[j * (size_t)n + i] = Q[i * (size_t)p + j];
}

/* (p1, p2) grid stored densely in x → (n1, n2) layout, NaN-padded;
 * x has room for n1·n2 values. Rows move back to front, so in place. */
static void expand(int p1, int p2, int n1, int n2, double *x)
{
    for (int i = n1 - 1; i >= 0; i--)
        for (int j = n2 - 1; j >= 0; j--)
            x[(size_t)i * n2 + j] = (i < p1 && j < p2) ? x[(size_t)i * p2 + j] : NAN;
}

/* The top-p subspace of DoRA module m's effective update (base b,
 * adapter ad) as rows Vt (p, dim): right singular vectors for factor A,
 * left ones for B; *rank and *zero as in the header comment. Errors go to
 * msgs. */
static int effective_basis(const ana_base *b, const lsc_adapter *ad, const lsc_adapter_module *m,
                           char factor, int p, double *Vt, int *rank, int *zero, ana_msgs *msgs)
{
    int d = m->out_features, k = m->in_features, mx = d > k ? d : k;
    if (p > d || p > k)
        return ana_msg_error(msgs, "module %s: r = %d exceeds min(d, k) = %d: no top-r subspace of its "
                                   "effective DoRA update", m->name, m->r, d < k ? d : k);
    size_t lw = lsc_svd_topk_work_size(d, k, p, LSC_TOPK_DENSE);
    double *dW = malloc((size_t)d * (size_t)k * sizeof *dW), *S = malloc((size_t)p * sizeof *S);
    double *U = malloc((size_t)d * (size_t)p * sizeof *U), *w = malloc(lw * sizeof *w);
    lsc_error err = {0};
    int rc = CLI_OK;
    if (!dW || !S || !U || !w)
        rc = ana_msg_error(msgs, "out of memory for module %s", m->name);
    else if ((rc = ana_dora_effective(b, ad, m, dW, msgs)) != CLI_OK)
        ;
    else if (lsc_svd_topk(d, k, p, dW, S, U, factor == 'A' ? Vt : NULL, LSC_TOPK_DENSE, 0, w, lw, NULL,
                          &err) != LSC_OK)
        rc = ana_msg_error(msgs, "module %s: %s", m->name, err.msg);
    if (rc == CLI_OK) {
        if (factor == 'B')
            cols_to_rows(d, p, U, Vt);
        double mag2 = 0.0;
        for (int i = 0; i < d; i++)
            mag2 += (double)m->magnitude[i] * (double)m->magnitude[i];
        *zero = !(S[0] > sqrt(mag2) * (double)mx * DBL_EPSILON);
        *rank = 0;
        for (int i = 0; i < p; i++)
            *rank += S[i] > S[0] * (double)mx * DBL_EPSILON;
    }
    free(dW);
    free(S);
    free(U);
    free(w);
    return rc;
}

/* The basis of module 1 or 2 (which) of P into Vt, its numerical rank and
 * whether its dW is zero; errors go to P->msgs. */
static int module_basis(pair *P, const ana_base *b, int which, char factor, double *Vt, int *rank,
                        int *zero)
{
    const lsc_adapter_module *m = which ? P->m2 : P->m1;
    if (which ? P->eff2 : P->eff1)
        return effective_basis(b, which ? P->a2 : P->a1, m, factor, which ? P->p2 : P->p1, Vt, rank,
                               zero, &P->msgs);
    lsc_error err = {0};
    if (ana_delta_is_zero(m, zero, &err) != LSC_OK ||
        ana_factor_basis(m, factor, Vt, rank, &err) != LSC_OK)
        return ana_msg_error(&P->msgs, "module %s: %s", P->group, err.msg);
    return CLI_OK;
}

static int compute_pair(const char *path1, const char *path2, const ana_base *base, char factor,
                        uint64_t seed, pair *P)
{
    lsc_error err = {0};
    const lsc_adapter_module *m1 = P->m1, *m2 = P->m2;
    int n = P->dim, p1 = P->p1, p2 = P->p2, pm = p1 < p2 ? p1 : p2;
    size_t nz = (size_t)n;
    size_t g12 = (size_t)p1 * (size_t)p2;
    double *V1 = malloc((size_t)p1 * nz * sizeof *V1), *V2 = malloc((size_t)p2 * nz * sizeof *V2);
    double *G = malloc(g12 * sizeof *G);
    size_t la = lsc_principal_angles_work_size(p1, p2);
    size_t lr = lsc_random_orthonormal_work_size(n, p1 > p2 ? p1 : p2);
    double *w = malloc((la > lr ? la : lr) * sizeof *w);
    double *Q = malloc((size_t)(p1 > p2 ? p1 : p2) * nz * sizeof *Q);
    int rc = CLI_OK;
    if (!V1 || !V2 || !G || !w || !Q) {
        rc = ana_msg_error(&P->msgs, "out of memory for module %s", m1->name);
        goto done;
    }
    P->n_nonfinite = m1->n_nonfinite + m2->n_nonfinite;
    P->rseed = ana_module_seed(seed, P->group);

    /* the random baseline is always defined */
    uint64_t rng;
    lsc_rng_seed(&rng, P->rseed);
    if (lsc_random_orthonormal(n, p1, &rng, Q, w, lr, &err) != LSC_OK)
        goto liberr;
    cols_to_rows(n, p1, Q, V1);
    if (lsc_random_orthonormal(n, p2, &rng, Q, w, lr, &err) != LSC_OK)
        goto liberr;
    cols_to_rows(n, p2, Q, V2);
    lsc_subspace_gram(n, p1, V1, p2, V2, G);
    lsc_phi_grid(p1, p2, G, P->phi_rand);

    if (P->n_nonfinite > 0) {
        ana_fill_nan(g12, P->phi);
        ana_fill_nan((size_t)pm, P->angles);
        P->rank1 = P->rank2 = -1;
        ana_msg_warn(&P->msgs, "module %s: %d NaN/Inf values in lora_A/lora_B (%s%s%s); phi written as NaN",
                 P->group, P->n_nonfinite, m1->n_nonfinite ? path1 : "",
                 m1->n_nonfinite && m2->n_nonfinite ? ", " : "", m2->n_nonfinite ? path2 : "");
        goto done;
    }
    int z1 = 0, z2 = 0;
    if ((rc = module_basis(P, base, 0, factor, V1, &P->rank1, &z1)) != CLI_OK ||
        (rc = module_basis(P, base, 1, factor, V2, &P->rank2, &z2)) != CLI_OK)
        goto done;
    if ((z1 || z2) && !P->allow_zero) {
        P->degenerate = 1;
        ana_fill_nan(g12, P->phi);
        ana_fill_nan((size_t)pm, P->angles);
        ana_msg_warn(&P->msgs, "%s: module %s has dW = 0 (lora_B or lora_A all zero): phi written as NaN, "
                      "marked degenerate", z1 ? path1 : path2, z1 ? m1->name : m2->name);
        goto done;
    }
    lsc_subspace_gram(n, p1, V1, p2, V2, G);
    lsc_phi_grid(p1, p2, G, P->phi);
    if (lsc_principal_angles(p1, p2, G, P->angles, w, la, &err) != LSC_OK)
        goto liberr;
    if (P->rank1 < p1 || P->rank2 < p2) {
        /* directions beyond the numerical rank are arbitrary */
        P->degenerate = 1;
        for (int i = 0; i < p1; i++)
            for (int j = 0; j < p2; j++)
                if (i >= P->rank1 || j >= P->rank2)
                    P->phi[(size_t)i * p2 + j] = NAN;
        int rk = P->rank1 < P->rank2 ? P->rank1 : P->rank2;
        for (int i = rk; i < pm; i++)
            P->angles[i] = NAN;
        ana_msg_warn(&P->msgs, "module %s: lora_%c has numerical rank %d/%d (%s) and %d/%d (%s): phi beyond "
                      "it written as NaN, marked degenerate", P->group, factor, P->rank1, p1, path1,
                 P->rank2, p2, path2);
    }
    goto done;
liberr:
    rc = ana_msg_error(&P->msgs, "module %s: %s", P->group, err.msg);
done:
    if (rc == CLI_OK && (p1 < m1->r || p2 < m2->r)) {
        /* r > dim: only dim directions exist; keep the documented [r1, r2]
         * shape with NaN beyond them */
        expand(p1, p2, m1->r, m2->r, P->phi);
        expand(p1, p2, m1->r, m2->r, P->phi_rand);
        int rm = m1->r < m2->r ? m1->r : m2->r;
        for (int i = pm; i < rm; i++)
            P->angles[i] = NAN;
        P->p1 = m1->r;
        P->p2 = m2->r;
        P->degenerate = 1;
        ana_msg_warn(&P->msgs, "module %s: r (%d, %d) exceeds the dimension %d of the compared space: "
                      "phi beyond it written as NaN, marked degenerate", P->group, m1->r, m2->r, n);
    }
    free(V1);
    free(V2);
    free(G);
    free(w);
    free(Q);
    return rc;
}

/* The null of pair P (after compute_pair): P->ndraws φ(1, 1) draws and
 * their summary against the observed φ(1, 1), P->gdraws grids summarised
 * per cell (NaN-padded to [r1, r2] like phi). */
static int null_pair(uint64_t seed, pair *P)
{
    lsc_error err = {0};
    int n = P->dim, r1 = P->m1->r, r2 = P->m2->r;
    int p1 = r1 < n ? r1 : n, p2 = r2 < n ? r2 : n;
    size_t g12 = (size_t)p1 * (size_t)p2, gd = (size_t)P->gdraws, nd = (size_t)P->ndraws;
    size_t lw = lsc_phi_null_work_size(n, p1, p2);
    double *D = malloc(gd * g12 * sizeof *D), *w = malloc(lw * sizeof *w);
    double *sc = malloc((nd > gd ? nd : gd) * sizeof *sc);
    int rc = CLI_OK;
    if (!D || !w || !sc) {
        rc = ana_msg_error(&P->msgs, "out of memory for the null of module %s", P->group);
        goto done;
    }
    P->nseed = ana_null_seed(seed, P->group, "null");
    P->gseed = ana_null_seed(seed, P->group, "null-grid");
    uint64_t rng;
    lsc_rng_seed(&rng, P->nseed);
    lsc_phi11_null(n, P->ndraws, &rng, P->phi11_null);
    ana_null_summary(nd, P->phi11_null, P->phi[0], sc, &P->s11);
    lsc_rng_seed(&rng, P->gseed);
    if (lsc_phi_null(n, p1, p2, P->gdraws, &rng, D, w, lw, &err) != LSC_OK) {
        rc = ana_msg_error(&P->msgs, "module %s: %s", P->group, err.msg);
        goto done;
    }
    ana_null_grid(gd, g12, D, P->null_mean, P->null_q95, sc);
    if (p1 < r1 || p2 < r2) {
        expand(p1, p2, r1, r2, P->null_mean);
        expand(p1, p2, r1, r2, P->null_q95);
    }
done:
    free(D);
    free(w);
    free(sc);
    return rc;
}

static int write_null(lsc_h5 *h, const char *g, const pair *P, lsc_error *err)
{
    char ds[1300];
    size_t d2[2] = {(size_t)P->m1->r, (size_t)P->m2->r}, d1[1] = {(size_t)P->ndraws};
    int rm = P->m1->r > P->m2->r ? P->m1->r : P->m2->r, rc;
    snprintf(ds, sizeof ds, "%s/phi11_null", g);
    if ((rc = lsc_h5_write_f64(h, ds, 1, d1, P->phi11_null, err)) != LSC_OK)
        return rc;
    snprintf(ds, sizeof ds, "%s/phi_null_mean", g);
    if ((rc = lsc_h5_write_f64(h, ds, 2, d2, P->null_mean, err)) != LSC_OK)
        return rc;
    snprintf(ds, sizeof ds, "%s/phi_null_q95", g);
    if ((rc = lsc_h5_write_f64(h, ds, 2, d2, P->null_q95, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "phi11", P->phi[0], err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "phi11_null_mean", P->s11.mean, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "phi11_null_q95", P->s11.q95, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "phi11_p", P->s11.p, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "phi11_expected", 1.0 / (double)P->dim, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "null_draws", P->ndraws, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "grid_null_draws", P->gdraws, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "null_seed", (long long)P->nseed, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "grid_null_seed", (long long)P->gseed, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "r_over_dim", (double)rm / (double)P->dim, err)) != LSC_OK)
        return rc;
    return LSC_OK;
}

static int write_pair(lsc_h5 *h, char factor, const pair *P, lsc_error *err)
{
    char g[1200], ds[1300];
    snprintf(g, sizeof g, "/modules/%s", P->group);
    size_t d2[2] = {(size_t)P->p1, (size_t)P->p2};
    size_t d1[1] = {(size_t)(P->p1 < P->p2 ? P->p1 : P->p2)};
    char fs[2] = {factor, '\0'};
    int rc;
    snprintf(ds, sizeof ds, "%s/phi", g);
    if ((rc = lsc_h5_write_f64(h, ds, 2, d2, P->phi, err)) != LSC_OK)
        return rc;
    snprintf(ds, sizeof ds, "%s/phi_random", g);
    if ((rc = lsc_h5_write_f64(h, ds, 2, d2, P->phi_rand, err)) != LSC_OK)
        return rc;
    snprintf(ds, sizeof ds, "%s/principal_angles_deg", g);
    if ((rc = lsc_h5_write_f64(h, ds, 1, d1, P->angles, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "r1", P->m1->r, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "r2", P->m2->r, err)) != LSC_OK ||
        (rc = lsc_h5_attr_str(h, g, "factor", fs, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "dim", P->dim, err)) != LSC_OK ||
        (rc = lsc_h5_attr_str(h, g, "module1", P->m1->name, err)) != LSC_OK ||
        (rc = lsc_h5_attr_str(h, g, "module2", P->m2->name, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "degenerate", P->degenerate, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "numerical_rank1", P->rank1, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "numerical_rank2", P->rank2, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "n_nonfinite", P->n_nonfinite, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "random_seed", (long long)P->rseed, err)) != LSC_OK ||
        (rc = ana_dora_write_attrs(h, g, P->m1->kind == LSC_ADAPTER_DORA ? P->m1 : P->m2,
                                   P->eff1 || P->eff2, err)) != LSC_OK)
        return rc;
    return write_null(h, g, P, err);
}

/* "j i value" triples, one row of i per block (gnuplot's image format). */
static int write_grid(const char *cmd, const char *dir, const char *name, int p1, int p2,
                      const double *x)
{
    lsc_atomic tmp;
    FILE *fp = ana_data_open(cmd, dir, name, &tmp);
    if (!fp)
        return CLI_FAIL;
    fprintf(fp, "# columns: j i phi(i,j)\n");
    for (int i = 0; i < p1; i++) {
        for (int j = 0; j < p2; j++) {
            double v = x[(size_t)i * p2 + j];
            if (isfinite(v))
                fprintf(fp, "%d %d %.10g\n", j + 1, i + 1, v);
            else
                fprintf(fp, "%d %d NaN\n", j + 1, i + 1);
        }
        fputc('\n', fp);
    }
    return ana_data_close(cmd, &tmp);
}

static int draw(const char *cmd, const char *dir, const char *path1, const char *path2,
                char factor, const pair *P)
{
    char safe[1100], f1[1200], f2[1200], outbase[1200];
    ana_file_safe(P->group, safe, sizeof safe);
    snprintf(outbase, sizeof outbase, "phi_%s", safe);
    snprintf(f1, sizeof f1, "phi_%s.dat", safe);
    snprintf(f2, sizeof f2, "phi_random_%s.dat", safe);
    if (write_grid(cmd, dir, f1, P->p1, P->p2, P->phi) != CLI_OK ||
        write_grid(cmd, dir, f2, P->p1, P->p2, P->phi_rand) != CLI_OK)
        return CLI_FAIL;
    char b1[300], b2[300], n1[600], n2[600], title[700], sub[1300], foot[700], vars[8192];
    ana_basename(path1, b1, sizeof b1);
    ana_basename(path2, b2, sizeof b2);
    ana_title_safe(ana_short_name(P->m1->name), n1, sizeof n1);
    ana_title_safe(ana_short_name(P->m2->name), n2, sizeof n2);
    /* title: what is shown; the adapters' names and the option: the footnote */
    snprintf(title, sizeof title, "Subspace similarity φ(i, j) on the %s",
             factor == 'A' ? "right-singular vectors of lora_A" : "left-singular vectors of lora_B");
    if (strcmp(n1, n2) == 0)
        snprintf(sub, sizeof sub, "module %s of the two adapters", n1);
    else
        snprintf(sub, sizeof sub, "module %s of the first adapter vs %s of the second", n1, n2);
    snprintf(foot, sizeof foot, "adapters: %s vs %s; --factor %c", b1, b2, factor);
    snprintf(vars, sizeof vars,
             "phifile='%s/%s'; randfile='%s/%s'; outbase='%s/%s'; title1='%s'; title2='%s'; "
             "r1=%d; r2=%d; dim=%d; degenerate=%d; ylab='i (top-i directions, %s)'; "
             "xlab='j (top-j directions, %s)'; footnote='%s'",
             dir, f1, dir, f2, dir, outbase, title, sub, P->p1, P->p2, P->dim, P->degenerate, b1,
             b2, foot);
    return ana_draw_figure(cmd, dir, "phi.gp", outbase, vars);
}

/* Whether pair i is the one --module names: its group or its first module. */
static int pair_is(const void *items, int i, const char *name)
{
    const pair *P = (const pair *)items + i;
    return strcmp(P->group, name) == 0 || strcmp(P->m1->name, name) == 0;
}

static const char *pair_name(const void *items, int i) { return ((const pair *)items)[i].m1->name; }

/* One pair on a worker thread (ana_run_tasks). */
typedef struct subspace_job {
    const char *path1, *path2;
    const ana_base *base;   /* NULL: no DoRA effective updates */
    char        factor;
    uint64_t    seed, null_seed;
    pair       *pairs;   /* (np) */
} subspace_job;

static void subspace_task(void *ctx, int i)
{
    subspace_job *j = ctx;
    pair *P = &j->pairs[i];
    P->rc = compute_pair(j->path1, j->path2, j->base, j->factor, j->seed, P);
    if (P->rc == CLI_OK)
        P->rc = null_pair(j->null_seed, P);
}

/* What cmd_subspace parsed. */
typedef struct subspace_opts {
    const char *path1, *path2;
    const char *pair_opt;         /* --pair M1:M2, NULL: every common module */
    char        pn1[1024], pn2[1024];
    char        factor;           /* 'A' or 'B' */
    int         allow_zero;       /* --allow-zero-update (old spelling --factor-only) */
    int         ndraws;           /* --null-draws */
    uint64_t    null_seed;        /* --null-seed (null_seed_given), else --seed */
    int         null_seed_given;
    const char *base_path;        /* --base, NULL: none */
    int         factors_only;     /* --factors-only: DoRA modules as s·B·A */
} subspace_opts;

/* The two adapters and the pairs to compare. */
typedef struct subspace_run {
    const subspace_opts *so;
    ana_opts    o;
    lsc_adapter ad1, ad2;
    ana_base    base;
    int         use_base;         /* a DoRA module is analysed through the base */
    pair       *pairs;            /* (ad1.n_modules), the first np used */
    char      (*skipped)[1400];   /* (ad1.n_modules), the first n_skipped used */
    int         np, n_common, n_skipped, n_degenerate, hl;
} subspace_run;

/* One candidate (m1, m2): a pair, a skipped line, or (with --pair) an error. */
static int add_pair(const char *cmd, subspace_run *R, const lsc_adapter_module *m1,
                    const lsc_adapter_module *m2)
{
    const subspace_opts *so = R->so;
    char factor = so->factor;
    R->n_common++;
    int dim1 = factor == 'A' ? m1->in_features : m1->out_features;
    int dim2 = factor == 'A' ? m2->in_features : m2->out_features;
    const char *what = factor == 'A' ? "in_features (columns of lora_A)" : "out_features (rows of lora_B)";
    if (dim1 != dim2) {
        if (so->pair_opt)
            return cli_error(cmd, CLI_FAIL,
                             "cannot compare %s of %s with %s of %s: %s differ (%d vs %d), so their "
                             "--factor %c subspaces live in different spaces",
                             m1->name, so->path1, m2->name, so->path2, what, dim1, dim2, factor);
        snprintf(R->skipped[R->n_skipped++], sizeof R->skipped[0], "module %s: %s differ (%d in %s, %d in %s)",
                 m1->name, what, dim1, so->path1, dim2, so->path2);
        return CLI_OK;
    }
    pair *P = &R->pairs[R->np++];
    P->m1 = m1;
    P->m2 = m2;
    P->allow_zero = so->allow_zero;
    P->a1 = &R->ad1;
    P->a2 = &R->ad2;
    P->eff1 = R->use_base && m1->kind == LSC_ADAPTER_DORA;
    P->eff2 = R->use_base && m2->kind == LSC_ADAPTER_DORA;
    if (strcmp(m1->name, m2->name) == 0)
        snprintf(P->group, sizeof P->group, "%s", m1->name);
    else
        snprintf(P->group, sizeof P->group, "%s:%s", m1->name, m2->name);
    P->dim = dim1;
    P->p1 = m1->r < dim1 ? m1->r : dim1;
    P->p2 = m2->r < dim1 ? m2->r : dim1;
    return CLI_OK;
}

/* The candidate pairs: every common module, or the one --pair names. */
static int collect_pairs(const char *cmd, subspace_run *R)
{
    const subspace_opts *so = R->so;
    int rc;
    for (int i = 0; i < R->ad1.n_modules; i++) {
        const lsc_adapter_module *m1 = &R->ad1.modules[i];
        int j;
        if (so->pair_opt) {
            if (strcmp(m1->name, so->pn1) != 0)
                continue;
            if ((j = lsc_adapter_find(&R->ad2, so->pn2)) < 0)
                return cli_error(cmd, CLI_USAGE, "--pair: no module %s in %s", so->pn2, so->path2);
        } else if ((j = lsc_adapter_find(&R->ad2, m1->name)) < 0) {
            continue;
        }
        if ((rc = add_pair(cmd, R, m1, &R->ad2.modules[j])) != CLI_OK)
            return rc;
    }
    if (so->pair_opt && R->n_common == 0)
        return cli_error(cmd, CLI_USAGE, "--pair: no module %s in %s", so->pn1, so->path1);
    if (R->ad1.n_modules == 0 || R->ad2.n_modules == 0)   /* full tensors only (modules_to_save) */
        return cli_error(cmd, CLI_FAIL, "%s: no LoRA modules to compare (only full tensors: modules_to_save)",
                         R->ad1.n_modules == 0 ? so->path1 : so->path2);
    if (R->n_common == 0)
        return cli_error(cmd, CLI_FAIL, "%s and %s have no module in common (first modules: %s, %s); "
                                        "use --pair M1:M2 to compare differently named modules",
                         so->path1, so->path2, R->ad1.modules[0].name, R->ad2.modules[0].name);
    if (R->np == 0)
        return cli_error(cmd, CLI_FAIL, "%s vs %s: none of the %d common modules can be compared with "
                                        "--factor %c (first: %s)", so->path1, so->path2, R->n_common,
                         so->factor, R->skipped[0]);
    for (int i = 0; i < R->n_skipped; i++)
        cli_warn(cmd, "%s; skipped", R->skipped[i]);
    return CLI_OK;
}

/* The table's heading; room for each pair's [r1, r2] output (>= the
 * computed [p1, p2]). */
static int alloc_pairs(const char *cmd, subspace_run *R)
{
    const subspace_opts *so = R->so;
    printf("%s vs %s, --factor %c: %d modules compared%s\n", so->path1, so->path2, so->factor, R->np,
           R->n_skipped ? " (some skipped, see warnings)" : "");
    printf("%-48s %4s %4s %6s %9s %9s %9s %11s %9s %9s %9s\n", "module", "r1", "r2", "dim",
           "phi(1,1)", "phi(r,r)", "rand(1,1)", "min_angle", "null_mean", "null_q95", "p(1,1)");
    for (int i = 0; i < R->np; i++) {
        pair *P = &R->pairs[i];
        size_t g12 = (size_t)P->m1->r * (size_t)P->m2->r;
        P->ndraws = so->ndraws;
        P->gdraws = so->ndraws < GRID_NULL_MAX ? so->ndraws : GRID_NULL_MAX;
        P->phi = malloc(g12 * sizeof(double));
        P->phi_rand = malloc(g12 * sizeof(double));
        P->angles = malloc((size_t)(P->m1->r < P->m2->r ? P->m1->r : P->m2->r) * sizeof(double));
        P->phi11_null = malloc((size_t)P->ndraws * sizeof(double));
        P->null_mean = malloc(g12 * sizeof(double));
        P->null_q95 = malloc(g12 * sizeof(double));
        if (!P->phi || !P->phi_rand || !P->angles || !P->phi11_null || !P->null_mean || !P->null_q95)
            return cli_error(cmd, CLI_FAIL, "out of memory");
    }
    return CLI_OK;
}

/* The pairs as tasks on our own threads (BLAS single-threaded inside: its
 * products here are tiny); messages are printed in module order
 * afterwards, so the output is the same. Each pair written and printed. */
static int compare_pairs(const char *cmd, subspace_run *R, lsc_h5 *h)
{
    const subspace_opts *so = R->so;
    lsc_error err = {0};
    subspace_job job = {so->path1, so->path2, R->use_base ? &R->base : NULL, so->factor, R->o.seed,
                        so->null_seed_given ? so->null_seed : R->o.seed, R->pairs};
    ana_run_tasks(&R->o, R->np, subspace_task, &job);
    for (int i = 0; i < R->np; i++) {
        pair *P = &R->pairs[i];
        ana_msgs_flush(cmd, &P->msgs);
        if (P->rc != CLI_OK)
            return P->rc;
        R->n_degenerate += P->degenerate;
        if (write_pair(h, so->factor, P, &err) != LSC_OK)
            return cli_lib_error(cmd, &err);
        int pm = P->p1 < P->p2 ? P->p1 : P->p2;
        printf("%-48s %4d %4d %6d %9.4f %9.4f %9.4f %11.3f %9.4f %9.4f %9.3g%s\n", cli_safe(P->group), P->m1->r,
               P->m2->r, P->dim, P->phi[0], P->phi[(size_t)(pm - 1) * P->p2 + pm - 1], P->phi_rand[0],
               P->angles[0], P->s11.mean, P->s11.q95, P->s11.p,
               ana_dora_note(P->m1->kind == LSC_ADAPTER_DORA ? P->m1 : P->m2, P->eff1 || P->eff2));
    }
    return CLI_OK;
}

static int commit_output(const char *cmd, subspace_run *R, lsc_h5 **h, double t0)
{
    const subspace_opts *so = R->so;
    char fs[2] = {so->factor, '\0'};
    lsc_h5_input in[3] = {{"adapter1", R->ad1.path}, {"adapter2", R->ad2.path},  /* the folders read */
                          {"base", so->base_path}};
    lsc_h5_param ps[] = {
        {"factor", LSC_H5_STR, fs, 0, 0},
        ANA_COMMON_PARAMS(R->o),
        {"pair", LSC_H5_STR, so->pair_opt ? so->pair_opt : "", 0, 0},
        {"rank_tolerance", LSC_H5_STR, "sigma_1 * max(r, dim) * DBL_EPSILON", 0, 0},
        {"n_modules", LSC_H5_INT, NULL, R->np, 0},
        {"n_skipped", LSC_H5_INT, NULL, R->n_skipped, 0},
        {"n_degenerate", LSC_H5_INT, NULL, R->n_degenerate, 0},
        {"null_draws", LSC_H5_INT, NULL, so->ndraws, 0},
        {"grid_null_draws", LSC_H5_INT, NULL, so->ndraws < GRID_NULL_MAX ? so->ndraws : GRID_NULL_MAX, 0},
        {"null_seed", LSC_H5_INT, NULL, (long long)(so->null_seed_given ? so->null_seed : R->o.seed), 0},
        {"null_model", LSC_H5_STR, "two independent uniformly random subspaces of the same dimensions "
                                   "(one fixed to the coordinate axes by rotation invariance)", 0, 0},
    };
    return ana_output_commit(cmd, &R->o, h, t0, R->use_base ? 3 : 2, in, NULL,
                             (int)(sizeof ps / sizeof ps[0]), ps);
}

static int run_subspace(const char *cmd, const subspace_opts *so, const cli_opt *opts, double t0)
{
    subspace_run R;
    memset(&R, 0, sizeof R);
    R.so = so;
    lsc_h5 *h = NULL;
    int rc = ana_setup_kinds(cmd, opts, &R.o, so->path1, &R.ad1, so->path2, &R.ad2, 1);
    if (rc != CLI_OK)
        return rc;
    R.use_base = so->base_path && !so->factors_only &&
                 (ana_dora_first(&R.ad1) >= 0 || ana_dora_first(&R.ad2) >= 0);
    if ((rc = ana_dora_check(cmd, so->path1, &R.ad1, so->base_path, so->factors_only)) != CLI_OK ||
        (rc = ana_dora_check(cmd, so->path2, &R.ad2, so->base_path, so->factors_only)) != CLI_OK ||
        (R.use_base && (rc = ana_base_open(cmd, so->base_path, &R.base)) != CLI_OK))
        goto done;
    R.pairs = calloc((size_t)R.ad1.n_modules, sizeof *R.pairs);
    R.skipped = calloc((size_t)R.ad1.n_modules, sizeof *R.skipped);
    if (!R.pairs || !R.skipped) {
        rc = cli_error(cmd, CLI_FAIL, "out of memory");
        goto done;
    }
    if ((rc = collect_pairs(cmd, &R)) != CLI_OK ||
        (rc = ana_pick_module(cmd, &R.o, R.np, "compared", pair_is, pair_name, R.pairs, &R.hl)) != CLI_OK ||
        (rc = ana_output_create(cmd, &R.o, &h)) != CLI_OK ||
        (rc = alloc_pairs(cmd, &R)) != CLI_OK ||
        (rc = compare_pairs(cmd, &R, h)) != CLI_OK ||
        (rc = commit_output(cmd, &R, &h, t0)) != CLI_OK)
        goto done;
    if (R.o.plots && (rc = draw(cmd, R.o.plots, so->path1, so->path2, so->factor, &R.pairs[R.hl])) != CLI_OK)
        goto done;
    rc = ana_finish(cmd, &R.o, R.np, R.n_skipped, t0);
done:
    lsc_h5_abort(h);
    if (R.pairs)
        for (int i = 0; i < R.np; i++) {
            free(R.pairs[i].phi);
            free(R.pairs[i].phi_rand);
            free(R.pairs[i].angles);
            free(R.pairs[i].phi11_null);
            free(R.pairs[i].null_mean);
            free(R.pairs[i].null_q95);
        }
    free(R.pairs);
    free(R.skipped);
    ana_base_close(&R.base);
    lsc_adapter_free(&R.ad1);
    lsc_adapter_free(&R.ad2);
    return rc;
}

/* --factor A|B (either case) and --pair M1:M2 into so. */
static int parse_subspace_opts(const char *cmd, const cli_opt *opts, subspace_opts *so)
{
    if (ana_factor_opt(cmd, opts, &so->factor) != CLI_OK)
        return CLI_USAGE;
    /* --factor-only: the old spelling of --allow-zero-update, kept working
     * (experiments/study_subspace_*.sh) but no longer in --help */
    so->allow_zero = cli_flag(opts, "allow-zero-update") || cli_flag(opts, "factor-only");
    so->base_path = cli_get(opts, "base");
    so->factors_only = cli_flag(opts, "factors-only");
    int rc = ana_null_opts(cmd, opts, 1000, &so->ndraws, &so->null_seed, &so->null_seed_given);
    if (rc != CLI_OK)
        return rc;
    const char *pair_opt = so->pair_opt = cli_get(opts, "pair");
    so->pn1[0] = so->pn2[0] = '\0';
    if (pair_opt) {
        const char *colon = strchr(pair_opt, ':');
        if (!colon || colon == pair_opt || !colon[1] || strchr(colon + 1, ':') ||
            (size_t)(colon - pair_opt) >= sizeof so->pn1 || strlen(colon + 1) >= sizeof so->pn2)
            return cli_error(cmd, CLI_USAGE, "--pair needs MODULE1:MODULE2, got '%s'", pair_opt);
        memcpy(so->pn1, pair_opt, (size_t)(colon - pair_opt));
        so->pn1[colon - pair_opt] = '\0';
        snprintf(so->pn2, sizeof so->pn2, "%s", colon + 1);
    }
    return CLI_OK;
}

int cmd_subspace(int argc, char **argv)
{
    const char *cmd = "subspace";
    double t0 = cli_now();
    cli_opt opts[] = {ANA_COMMON_OPTS, {"factor", 1, NULL}, {"pair", 1, NULL},
                      {"allow-zero-update", 0, NULL}, {"factor-only", 0, NULL},
                      {"base", 1, NULL}, ANA_DORA_OPTS, ANA_NULL_OPTS, {NULL, 0, NULL}};
    const char *pos[3];
    int npos = 0, help = 0;
    int rc = ana_parse_args(cmd, USAGE, argc, argv, opts, pos, 3, &npos, &help);
    if (rc != CLI_OK || help)
        return rc;
    if (npos != 2)
        return cli_error(cmd, CLI_USAGE, "expected two adapter directories, got %d", npos);
    subspace_opts so;
    if ((rc = parse_subspace_opts(cmd, opts, &so)) != CLI_OK)
        return rc;
    so.path1 = pos[0];
    so.path2 = pos[1];
    return run_subspace(cmd, &so, opts, t0);
}
