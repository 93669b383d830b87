/*
 * compare.c — `lorascope compare A1 A2 … An -o OUT.h5`: N >= 2 LoRA
 * adapters (PEFT folders, DIR:NAME, kohya files; any ranks, one base shape)
 * compared module by module, for every module all N have (by name): the
 * N×N matrix of the LoRA paper's subspace similarity (§7.2, Eq. 4)
 *
 *   φ_ab(i, j) = ‖Va[:, :i]ᵀ Vb[:, :j]‖²_F / min(i, j)
 *
 * on the right-singular vectors of lora_A (--factor A, default, the
 * paper's Figure 3 and `subspace`'s default) or the left-singular vectors
 * of lora_B (--factor B), exactly as `subspace` computes it (the bases of
 * subspace_basis.h; lsc_subspace_gram / lsc_phi_grid /
 * lsc_principal_angles), at i = j = min(p_a, p_b) per pair by default or
 * at --i I --j J for every pair; the principal angles θ_1..θ_k between the
 * full spans (k = min(p_a, p_b), p = min(r, dim)); and the normalised
 * Grassmann distance sqrt(Σ θ_l²) / (sqrt(k)·π/2) (θ in radians): 0 when
 * one span contains the other, 1 when they are orthogonal.
 *
 * HDF5 layout, per module /modules/<module>/:
 *   phi               float64 [N, N], phi[a][b] = φ_ab(i, j) (diagonal 1)
 *   grassmann         float64 [N, N], symmetric, diagonal 0
 *   principal_angles  float64 [pairs, k], degrees ascending, the pairs
 *                     (a, b), a < b, in the order of /pair_a, /pair_b; k =
 *                     the largest min(p_a, p_b); NaN beyond a pair's own
 *   ranks             int32 [N], the inputs' ranks of this module
 *   attributes layer (-1: none in the name), proj, ranks ("4,8,16"), i, j,
 *     mean_offdiag_phi (mean of phi over a != b: the per-layer figure),
 *     (0: the per-pair default min(p_a, p_b)), ij (the rule in words),
 *     factor, dim, units ("phi: 1; principal_angles: degrees; grassmann:
 *     1"), definition (of φ, the angles and the Grassmann distance).
 * An adapter whose module has NaN/Inf values, dW = 0 or a factor of lower
 * numerical rank than p is NaN in that module's row and column (warned).
 * Root: /adapters (the N paths as given), /labels (the plot labels),
 * /pair_a, /pair_b (int32 [pairs]); inputs adapter1..adapterN with their
 * sha256, and the parameters as the other analyses (ana_output_commit).
 * /mean_phi float64 [N, N]: φ averaged over the modules (NaN-skipping);
 * root attribute mean_offdiag_phi, its mean over a != b.
 * --json / --csv: the tidy table read back from the file (h5describe.c):
 * per module phi and grassmann (index a·N + b), principal_angles (index
 * pair·k + l), ranks, and the numeric module attributes; the summary is
 * the root's numeric attributes (mean_offdiag_phi among them).
 * Not DoRA (refused as everywhere without a base), not a statistics
 * package: no null, no p-values (`subspace` has them for one pair).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis_common.h"
#include "commands.h"
#include "subspace_basis.h"
#include "tidy.h"

#define MAX_ADAPTERS 64
#define PI 3.14159265358979323846

static const char *USAGE =
    "usage: lorascope compare A1 A2 ... An -o OUT.h5 [--factor A|B] [--i I --j J]\n"
    "                         [--plots DIR] [options]\n"
    "\n"
    "Compares N >= 2 adapters (PEFT folders, DIR:NAME, kohya files; any ranks, one\n"
    "base shape) on every module all N have: the N x N matrix of the subspace\n"
    "similarity phi(i, j) = |Va[:, :i]^T Vb[:, :j]|_F^2 / min(i, j) (LoRA paper,\n"
    "Eq. 4, as `subspace` computes it) on the right-singular vectors of lora_A\n"
    "(the row space, as the paper's Fig. 3; --factor B: the left-singular vectors\n"
    "of lora_B), the principal angles between the full spans, and the normalised\n"
    "Grassmann distance sqrt(sum theta_l^2) / (sqrt(k) pi/2), theta in radians,\n"
    "k = min(p_a, p_b) angles, p = min(r, dim): 0 = one span contains the other,\n"
    "1 = orthogonal. Modules missing from some adapters are skipped (one warning).\n"
    "\n"
    "  --factor A|B         which factor's singular vectors (default A: lora_A's\n"
    "                       right-singular vectors, the input side)\n"
    "  --i I, --j J         phi at top-I directions of the row adapter and top-J of\n"
    "                       the column adapter (default: i = j = min(r_a, r_b) of\n"
    "                       each pair); at most the smallest rank; one alone sets both\n"
    "  --plots DIR          compare_phi_<proj>: the mean phi over the layers of each\n"
    "                       projection type as a heat map (colour scale from the\n"
    "                       off-diagonal values); compare_layers: the mean\n"
    "                       off-diagonal phi per layer, one line per projection\n"
    ANA_COMMON_HELP
    "\n"
    "examples:\n"
    "  lorascope compare run-r4/adapter run-r8/adapter run-r16/adapter -o cmp.h5 --plots figs\n"
    "  lorascope compare seed1 seed2 seed3 -o cmp.h5 --i 1 --j 1 --json\n";

/* One module all N adapters have. */
typedef struct cmp_mod {
    const lsc_adapter_module *m[MAX_ADAPTERS];
    int      dim, kmax;
    int      bad[MAX_ADAPTERS];   /* 1: NaN row and column */
    double  *phi, *grass;         /* (N, N) */
    double  *angles;              /* (pairs, kmax) */
    int      rc;
    ana_msgs msgs;
} cmp_mod;

typedef struct cmp_run {
    int          n, npairs;
    const char  *paths[MAX_ADAPTERS];
    char         labels[MAX_ADAPTERS][64];
    lsc_adapter  ad[MAX_ADAPTERS];
    ana_opts     o;
    char         factor;
    int          oi, oj;          /* --i, --j; 0: per-pair default */
    int          pa[MAX_ADAPTERS * MAX_ADAPTERS / 2], pb[MAX_ADAPTERS * MAX_ADAPTERS / 2];
    cmp_mod     *mods;
    int          nm, n_skipped;
} cmp_run;

static int pdim(const lsc_adapter_module *m, int dim)
{
    return m->r < dim ? m->r : dim;
}

// ---- the numbers of one module ----

/* Adapter a's basis of module M into Vt (p, dim), or M->bad[a] = 1 with a
 * warning. CLI_FAIL only for a library error. */
static int adapter_basis(const cmp_run *R, cmp_mod *M, int a, double *Vt)
{
    const lsc_adapter_module *m = M->m[a];
    lsc_error err = {0};
    int rank = 0, zero = 0, p = pdim(m, M->dim);
    if (m->n_nonfinite > 0) {
        M->bad[a] = 1;
        ana_msg_warn(&M->msgs, "%s: module %s has %d NaN/Inf values: its phi row and column are NaN",
                     R->paths[a], m->name, m->n_nonfinite);
        return CLI_OK;
    }
    if (ana_delta_is_zero(m, &zero, &err) != LSC_OK ||
        ana_factor_basis(m, R->factor, Vt, &rank, &err) != LSC_OK)
        return ana_msg_error(&M->msgs, "%s: module %s: %s", R->paths[a], m->name, err.msg);
    if (zero || rank < p) {
        M->bad[a] = 1;
        ana_msg_warn(&M->msgs, "%s: module %s %s: its phi row and column are NaN", R->paths[a], m->name,
                     zero ? "has dW = 0 (lora_A or lora_B all zero)" : "has a rank-deficient factor");
    }
    return CLI_OK;
}

/* φ, angles and distance of the pair (a, b), a <= b, both bases valid;
 * q = the pair's row in angles (a < b). */
static int pair_numbers(const cmp_run *R, cmp_mod *M, int a, int b, int q, const double *Va,
                        const double *Vb)
{
    int n = R->n, pa = pdim(M->m[a], M->dim), pb = pdim(M->m[b], M->dim), k = pa < pb ? pa : pb;
    int i = R->oi ? R->oi : k, j = R->oj ? R->oj : k;
    size_t la = lsc_principal_angles_work_size(pa, pb);
    double *G = malloc((size_t)pa * (size_t)pb * sizeof *G);
    double *grid = malloc((size_t)pa * (size_t)pb * sizeof *grid), *w = malloc(la * sizeof *w);
    lsc_error err = {0};
    int rc = CLI_OK;
    if (!G || !grid || !w) {
        rc = ana_msg_error(&M->msgs, "out of memory for module %s", M->m[0]->name);
        goto done;
    }
    lsc_subspace_gram(M->dim, pa, Va, pb, Vb, G);
    lsc_phi_grid(pa, pb, G, grid);
    M->phi[(size_t)a * n + b] = grid[(size_t)(i - 1) * pb + (j - 1)];
    M->phi[(size_t)b * n + a] = grid[(size_t)(j - 1) * pb + (i - 1)];   /* φ_ba(i, j) = φ_ab(j, i) */
    if (a == b) {
        M->grass[(size_t)a * n + a] = 0.0;
        goto done;
    }
    double *deg = M->angles + (size_t)q * M->kmax, s2 = 0.0;
    if (lsc_principal_angles(pa, pb, G, deg, w, la, &err) != LSC_OK) {
        rc = ana_msg_error(&M->msgs, "module %s: %s", M->m[0]->name, err.msg);
        goto done;
    }
    for (int l = 0; l < k; l++) {
        double t = deg[l] * PI / 180.0;
        s2 += t * t;
    }
    M->grass[(size_t)a * n + b] = M->grass[(size_t)b * n + a] = sqrt(s2) / (sqrt((double)k) * PI / 2.0);
done:
    free(G);
    free(grid);
    free(w);
    return rc;
}

static int compute_module(const cmp_run *R, cmp_mod *M)
{
    int n = R->n, rc = CLI_OK;
    double *V[MAX_ADAPTERS] = {0};
    ana_fill_nan((size_t)n * n, M->phi);
    ana_fill_nan((size_t)n * n, M->grass);
    ana_fill_nan((size_t)R->npairs * M->kmax, M->angles);
    for (int a = 0; a < n && rc == CLI_OK; a++) {
        V[a] = malloc((size_t)pdim(M->m[a], M->dim) * (size_t)M->dim * sizeof *V[a]);
        rc = V[a] ? adapter_basis(R, M, a, V[a])
                  : ana_msg_error(&M->msgs, "out of memory for module %s", M->m[0]->name);
    }
    for (int a = 0; a < n && rc == CLI_OK; a++)
        for (int b = a; b < n && rc == CLI_OK; b++)   /* q: the row of (a, b) among the pairs a < b */
            if (!M->bad[a] && !M->bad[b])
                rc = pair_numbers(R, M, a, b, a * n - a * (a + 1) / 2 + (b - a - 1), V[a], V[b]);
    for (int a = 0; a < n; a++)
        free(V[a]);
    return rc;
}

static void compare_task(void *ctx, int i)
{
    const cmp_run *R = ctx;
    R->mods[i].rc = compute_module(R, &R->mods[i]);
}

// ---- which modules ----

/* The names of modules not in all N adapters, each once, as one warning. */
static void warn_missing(const char *cmd, cmp_run *R)
{
    char list[1024] = "";
    size_t len = 0;
    for (int a = 0; a < R->n; a++)
        for (int i = 0; i < R->ad[a].n_modules; i++) {
            const char *name = R->ad[a].modules[i].name;
            int seen = 0, everywhere = 1;
            for (int b = 0; b < R->n; b++) {
                int in_b = lsc_adapter_find(&R->ad[b], name) >= 0;
                seen |= b < a && in_b;
                everywhere &= in_b;
            }
            if (seen || everywhere)
                continue;
            if (R->n_skipped++ < 8 && len + 4 < sizeof list)
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "",
                                        cli_safe(name));
            len = len < sizeof list ? len : sizeof list - 1;
        }
    if (R->n_skipped)
        cli_warn(cmd, "%d module(s) not in all %d adapters, skipped: %s%s", R->n_skipped, R->n, list,
                 R->n_skipped > 8 ? ", ..." : "");
}

/* Module i of adapter 0 into R->mods when all have it; a shape mismatch
 * is an error naming both files. */
static int add_module(const char *cmd, cmp_run *R, int i)
{
    const lsc_adapter_module *m0 = &R->ad[0].modules[i];
    cmp_mod *M = &R->mods[R->nm];
    for (int a = 0; a < R->n; a++) {
        int j = lsc_adapter_find(&R->ad[a], m0->name);
        if (j < 0)
            return CLI_OK;
        M->m[a] = &R->ad[a].modules[j];
    }
    for (int a = 1; a < R->n; a++)
        if (M->m[a]->out_features != m0->out_features || M->m[a]->in_features != m0->in_features)
            return cli_error(cmd, CLI_FAIL, "module %s: shape [%d, %d] in %s but [%d, %d] in %s: the "
                                            "adapters are not for the same base", cli_safe(m0->name),
                             m0->out_features, m0->in_features, R->paths[0], M->m[a]->out_features,
                             M->m[a]->in_features, R->paths[a]);
    M->dim = R->factor == 'A' ? m0->in_features : m0->out_features;
    for (int a = 0; a < R->n; a++)
        for (int b = a + 1; b < R->n; b++) {
            int pa = pdim(M->m[a], M->dim), pb = pdim(M->m[b], M->dim);
            M->kmax = (pa < pb ? pa : pb) > M->kmax ? (pa < pb ? pa : pb) : M->kmax;
        }
    size_t nn = (size_t)R->n * (size_t)R->n;
    M->phi = malloc(nn * sizeof *M->phi);
    M->grass = malloc(nn * sizeof *M->grass);
    M->angles = malloc(((size_t)R->npairs * (size_t)M->kmax + 1) * sizeof *M->angles);
    if (!M->phi || !M->grass || !M->angles)
        return cli_error(cmd, CLI_FAIL, "out of memory");
    R->nm++;
    return CLI_OK;
}

/* --i / --j against the smallest p of every module and adapter. */
static int check_ij(const char *cmd, const cmp_run *R)
{
    for (int i = 0; i < R->nm; i++)
        for (int a = 0; a < R->n; a++) {
            const cmp_mod *M = &R->mods[i];
            int p = pdim(M->m[a], M->dim), v = R->oi > R->oj ? R->oi : R->oj;
            if (v > p)
                return cli_error(cmd, CLI_USAGE, "--i/--j %d exceeds the %d directions of module %s in %s",
                                 v, p, cli_safe(M->m[a]->name), R->paths[a]);
        }
    return CLI_OK;
}

static int collect_modules(const char *cmd, cmp_run *R)
{
    for (int a = 0; a < R->n; a++)
        if (R->ad[a].n_modules == 0)
            return cli_error(cmd, CLI_FAIL, "%s: no LoRA modules to compare (only full tensors: "
                                            "modules_to_save)", R->paths[a]);
    R->mods = calloc((size_t)R->ad[0].n_modules, sizeof *R->mods);
    if (!R->mods)
        return cli_error(cmd, CLI_FAIL, "out of memory");
    int rc;
    for (int i = 0; i < R->ad[0].n_modules; i++)
        if ((rc = add_module(cmd, R, i)) != CLI_OK)
            return rc;
    if (R->nm == 0)
        return cli_error(cmd, CLI_FAIL, "the %d adapters have no module in common (first modules: %s in %s, "
                                        "%s in %s)", R->n, cli_safe(R->ad[0].modules[0].name), R->paths[0],
                         cli_safe(R->ad[1].modules[0].name), R->paths[1]);
    warn_missing(cmd, R);
    return check_ij(cmd, R);
}

// ---- output ----

static double offdiag_mean(int n, const double *x)
{
    double s = 0.0;
    int k = 0;
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++)
            if (a != b && isfinite(x[a * n + b])) {
                s += x[a * n + b];
                k++;
            }
    return k ? s / k : NAN;
}

static int write_module(lsc_h5 *h, const cmp_run *R, const cmp_mod *M, lsc_error *err)
{
    char g[1200], ds[1300], ranks[MAX_ADAPTERS * 12] = "", ij[128], fs[2] = {R->factor, '\0'};
    int rk[MAX_ADAPTERS], rc;
    size_t len = 0, nn[2] = {(size_t)R->n, (size_t)R->n}, na[2] = {(size_t)R->npairs, (size_t)M->kmax};
    for (int a = 0; a < R->n; a++) {
        rk[a] = M->m[a]->r;
        len += (size_t)snprintf(ranks + len, sizeof ranks - len, "%s%d", a ? "," : "", rk[a]);
    }
    if (R->oi)
        snprintf(ij, sizeof ij, "i = %d, j = %d for every pair", R->oi, R->oj);
    else
        snprintf(ij, sizeof ij, "i = j = min(p_a, p_b) of each pair, p = min(r, dim)");
    snprintf(g, sizeof g, "/modules/%s", M->m[0]->name);
    snprintf(ds, sizeof ds, "%s/phi", g);
    if ((rc = lsc_h5_write_f64(h, ds, 2, nn, M->phi, err)) != LSC_OK)
        return rc;
    snprintf(ds, sizeof ds, "%s/grassmann", g);
    if ((rc = lsc_h5_write_f64(h, ds, 2, nn, M->grass, err)) != LSC_OK)
        return rc;
    snprintf(ds, sizeof ds, "%s/principal_angles", g);
    if ((rc = lsc_h5_write_f64(h, ds, 2, na, M->angles, err)) != LSC_OK)
        return rc;
    snprintf(ds, sizeof ds, "%s/ranks", g);
    if ((rc = lsc_h5_write_i32(h, ds, (size_t)R->n, rk, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "layer", ana_tidy_layer(M->m[0]->name), err)) != LSC_OK ||
        (rc = lsc_h5_attr_str(h, g, "proj", ana_tidy_proj(M->m[0]->name), err)) != LSC_OK ||
        (rc = lsc_h5_attr_str(h, g, "ranks", ranks, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "i", R->oi, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "j", R->oj, err)) != LSC_OK ||
        (rc = lsc_h5_attr_str(h, g, "ij", ij, err)) != LSC_OK ||
        (rc = lsc_h5_attr_str(h, g, "factor", fs, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "dim", M->dim, err)) != LSC_OK ||
        (rc = lsc_h5_attr_double(h, g, "mean_offdiag_phi", offdiag_mean(R->n, M->phi), err)) != LSC_OK ||
        (rc = lsc_h5_attr_str(h, g, "units", "phi: 1; principal_angles: degrees; grassmann: 1", err)) != LSC_OK)
        return rc;
    return lsc_h5_attr_str(h, g, "definition",
                           "phi[a][b] = |Va[:, :i]^T Vb[:, :j]|_F^2 / min(i, j) (LoRA paper Eq. 4), V = "
                           "orthonormal top singular vectors of the factor; principal_angles = acos of the "
                           "singular values of Va^T Vb over the full spans (p = min(r, dim) each), "
                           "ascending; grassmann = sqrt(sum theta_l^2) / (sqrt(k) pi/2), theta in radians, "
                           "k = min(p_a, p_b): 0 = one span contains the other, 1 = orthogonal", err);
}

static int write_root(lsc_h5 *h, const cmp_run *R, lsc_error *err)
{
    const char *labels[MAX_ADAPTERS];
    for (int a = 0; a < R->n; a++)
        labels[a] = R->labels[a];
    int rc;
    if ((rc = lsc_h5_write_str(h, "/adapters", (size_t)R->n, R->paths, err)) != LSC_OK ||
        (rc = lsc_h5_write_str(h, "/labels", (size_t)R->n, labels, err)) != LSC_OK ||
        (rc = lsc_h5_write_i32(h, "/pair_a", (size_t)R->npairs, R->pa, err)) != LSC_OK)
        return rc;
    return lsc_h5_write_i32(h, "/pair_b", (size_t)R->npairs, R->pb, err);
}

/* mean over modules of φ (NaN-skipping) into mean (N, N). */
static void mean_phi(const cmp_run *R, const char *proj, double *mean, int *count)
{
    int n = R->n;
    for (int c = 0; c < n * n; c++) {
        double s = 0.0;
        int k = 0;
        for (int i = 0; i < R->nm; i++) {
            double v = R->mods[i].phi[c];
            if ((!proj || strcmp(ana_tidy_proj(R->mods[i].m[0]->name), proj) == 0) && isfinite(v)) {
                s += v;
                k++;
            }
        }
        mean[c] = k ? s / k : NAN;
        if (count)
            *count = k > *count ? k : *count;
    }
}

/* The printed table of mean φ, /mean_phi and mean_offdiag_phi. */
static int write_mean(const cmp_run *R, lsc_h5 *h, lsc_error *err)
{
    int n = R->n, k = 0;
    double mean[MAX_ADAPTERS * MAX_ADAPTERS], s = 0.0;
    size_t nn[2] = {(size_t)n, (size_t)n};
    mean_phi(R, NULL, mean, NULL);
    printf("mean phi over the %d modules (row a, column b):\n%6s", R->nm, "");
    for (int b = 0; b < n; b++)
        printf(" %8d", b);
    for (int a = 0; a < n; a++) {
        printf("\n%6d", a);
        for (int b = 0; b < n; b++) {
            double v = mean[a * n + b];
            printf(" %8.4f", v);
            if (a != b && isfinite(v)) {
                s += v;
                k++;
            }
        }
    }
    putchar('\n');
    int rc = lsc_h5_write_f64(h, "/mean_phi", 2, nn, mean, err);
    return rc != LSC_OK ? rc : lsc_h5_attr_double(h, "/", "mean_offdiag_phi", k ? s / k : NAN, err);
}

/* The modules on worker threads, then in module order: messages, HDF5,
 * table rows. */
static int compare_modules(const char *cmd, cmp_run *R, lsc_h5 *h)
{
    lsc_error err = {0};
    ana_run_tasks(&R->o, R->nm, compare_task, R);
    printf("%-48s %5s %9s %9s %9s %9s\n", "module", "dim", "mean_phi", "min_phi", "max_phi", "mean_grass");
    for (int i = 0; i < R->nm; i++) {
        cmp_mod *M = &R->mods[i];
        ana_msgs_flush(cmd, &M->msgs);
        if (M->rc != CLI_OK)
            return M->rc;
        if (write_module(h, R, M, &err) != LSC_OK)
            return cli_lib_error(cmd, &err);
        double lo = NAN, hi = NAN;
        for (int a = 0; a < R->n; a++)
            for (int b = 0; b < R->n; b++) {
                double v = M->phi[a * R->n + b];
                if (a != b && isfinite(v)) {
                    lo = isnan(lo) || v < lo ? v : lo;
                    hi = isnan(hi) || v > hi ? v : hi;
                }
            }
        printf("%-48s %5d %9.4f %9.4f %9.4f %9.4f\n", cli_safe(M->m[0]->name), M->dim,
               offdiag_mean(R->n, M->phi), lo, hi, offdiag_mean(R->n, M->grass));
    }
    if (write_root(h, R, &err) != LSC_OK || write_mean(R, h, &err) != LSC_OK)
        return cli_lib_error(cmd, &err);
    return CLI_OK;
}

static int commit_output(const char *cmd, cmp_run *R, lsc_h5 **h, double t0)
{
    char fs[2] = {R->factor, '\0'};
    lsc_h5_input in[MAX_ADAPTERS];
    char roles[MAX_ADAPTERS][24];
    for (int a = 0; a < R->n; a++) {
        snprintf(roles[a], sizeof roles[a], "adapter%d", a + 1);
        in[a].role = roles[a];
        in[a].path = R->ad[a].path;
    }
    lsc_h5_param ps[] = {
        {"factor", LSC_H5_STR, fs, 0, 0},
        ANA_COMMON_PARAMS(R->o),
        {"i", LSC_H5_INT, NULL, R->oi, 0},
        {"j", LSC_H5_INT, NULL, R->oj, 0},
        {"n_adapters", LSC_H5_INT, NULL, R->n, 0},
        {"n_modules", LSC_H5_INT, NULL, R->nm, 0},
        {"n_skipped", LSC_H5_INT, NULL, R->n_skipped, 0},
        {"rank_tolerance", LSC_H5_STR, "sigma_1 * max(r, dim) * DBL_EPSILON", 0, 0},
    };
    return ana_output_commit(cmd, &R->o, h, t0, R->n, in, NULL, (int)(sizeof ps / sizeof ps[0]), ps);
}

// ---- figures ----

/* Heat map data of mean (N, N): "b a value" rows, diagonal NaN; *lo, *hi:
 * the off-diagonal range. */
static int write_heat(const char *cmd, const char *dir, const char *name, int n, const double *mean,
                      double *lo, double *hi)
{
    lsc_atomic tmp;
    FILE *fp = ana_data_open(cmd, dir, name, &tmp);
    if (!fp)
        return CLI_FAIL;
    *lo = INFINITY;
    *hi = -INFINITY;
    fprintf(fp, "# columns: b (column adapter) a (row adapter) mean phi; diagonal NaN\n");
    for (int a = 0; a < n; a++) {
        for (int b = 0; b < n; b++) {
            double v = mean[a * n + b];
            if (a != b && isfinite(v)) {
                fprintf(fp, "%d %d %.10g\n", b, a, v);
                *lo = v < *lo ? v : *lo;
                *hi = v > *hi ? v : *hi;
            } else {
                fprintf(fp, "%d %d NaN\n", b, a);
            }
        }
        fputc('\n', fp);
    }
    return ana_data_close(cmd, &tmp);
}

static int draw_heat(const char *cmd, const cmp_run *R, const char *proj, const char *tics)
{
    const char *dir = R->o.plots;
    char safe[256], dat[320], outbase[300], title[600], vars[8192];
    double mean[MAX_ADAPTERS * MAX_ADAPTERS], lo, hi;
    int count = 0;
    mean_phi(R, proj, mean, &count);
    ana_file_safe(proj, safe, sizeof safe);
    snprintf(outbase, sizeof outbase, "compare_phi_%s", safe);
    snprintf(dat, sizeof dat, "%s.dat", outbase);
    if (write_heat(cmd, dir, dat, R->n, mean, &lo, &hi) != CLI_OK)
        return CLI_FAIL;
    if (!(lo <= hi))
        lo = 0.0, hi = 1.0;
    if (hi - lo < 1e-3)
        lo = fmax(0.0, lo - 0.05), hi = fmin(1.0, hi + 0.05);
    ana_title_safe(proj, safe, sizeof safe);
    snprintf(title, sizeof title, "%s: mean φ over %d layers (%s, %s)", safe, count,
             R->factor == 'A' ? "right-singular vectors of lora_A" : "left-singular vectors of lora_B",
             R->oi ? "fixed i, j" : "i = j = min rank of the pair");
    snprintf(vars, sizeof vars, "datafile='%s/%s'; outbase='%s/%s'; title1='%s'; n=%d; cbmin=%.6g; "
                                "cbmax=%.6g; tics='%s'",
             dir, dat, dir, outbase, title, R->n, lo, hi, tics);
    return ana_draw_figure(cmd, dir, "compare.gp", outbase, vars);
}

/* The distinct projection names, in order of first appearance. */
static int proj_names(const cmp_run *R, const char **projs, int max)
{
    int np = 0;
    for (int i = 0; i < R->nm; i++) {
        const char *p = ana_tidy_proj(R->mods[i].m[0]->name);
        int k = 0;
        while (k < np && strcmp(projs[k], p) != 0)
            k++;
        if (k == np && np < max)
            projs[np++] = p;
    }
    return np;
}

static int draw(const char *cmd, const cmp_run *R)
{
    char tics[MAX_ADAPTERS * 72] = "(";
    size_t len = 1;
    for (int a = 0; a < R->n; a++)
        len += (size_t)snprintf(tics + len, sizeof tics - len, "%s\"%s\" %d", a ? ", " : "", R->labels[a], a);
    snprintf(tics + len, sizeof tics - len, ")");
    const char *projs[64];
    int np = proj_names(R, projs, 64);
    for (int k = 0; k < np; k++)
        if (draw_heat(cmd, R, projs[k], tics) != CLI_OK)
            return CLI_FAIL;
    return CLI_OK;   /* compare_layers: ana_finish (layers_plot.c) */
}

// ---- the command ----

static int run_compare(const char *cmd, cmp_run *R, const cli_opt *opts, double t0)
{
    lsc_h5 *h = NULL;
    int rc = ana_common_opts(cmd, opts, &R->o);
    for (int a = 0; a < R->n && rc == CLI_OK; a++) {
        rc = ana_load_adapter(cmd, R->paths[a], &R->ad[a]);
        char base[48];
        ana_basename(R->paths[a], base, sizeof base);
        snprintf(R->labels[a], sizeof R->labels[a], "%d %s", a, base);
    }
    if (rc == CLI_OK && (rc = collect_modules(cmd, R)) == CLI_OK) {
        printf("compare: %d adapters, --factor %c, %d modules in common%s\n", R->n, R->factor, R->nm,
               R->n_skipped ? " (some skipped, see the warning)" : "");
        for (int a = 0; a < R->n; a++)
            printf("  [%d] %s\n", a, cli_safe(R->paths[a]));
    }
    if (rc != CLI_OK || (rc = ana_output_create(cmd, &R->o, &h)) != CLI_OK ||
        (rc = compare_modules(cmd, R, h)) != CLI_OK || (rc = commit_output(cmd, R, &h, t0)) != CLI_OK ||
        (R->o.plots && (rc = draw(cmd, R)) != CLI_OK))
        goto done;
    rc = ana_finish(cmd, &R->o, R->nm, R->n_skipped, t0);
done:
    lsc_h5_abort(h);
    for (int i = 0; R->mods && i < R->ad[0].n_modules; i++) {
        free(R->mods[i].phi);
        free(R->mods[i].grass);
        free(R->mods[i].angles);
    }
    free(R->mods);
    for (int a = 0; a < R->n; a++)
        lsc_adapter_free(&R->ad[a]);
    return rc;
}

/* --factor, --i, --j into R. */
static int parse_compare_opts(const char *cmd, const cli_opt *opts, cmp_run *R)
{
    if (ana_factor_opt(cmd, opts, &R->factor) != CLI_OK)
        return CLI_USAGE;
    int bad = 0;
    long i = cli_long(opts, "i", 0, &bad), j = bad ? 0 : cli_long(opts, "j", 0, &bad);
    if (bad)
        return CLI_USAGE;
    if ((cli_get(opts, "i") && (i < 1 || i > 1000000)) || (cli_get(opts, "j") && (j < 1 || j > 1000000)))
        return cli_error(cmd, CLI_USAGE, "--i and --j must be positive integers (got %ld, %ld)", i, j);
    R->oi = (int)(i ? i : j);
    R->oj = (int)(j ? j : i);
    return CLI_OK;
}

int cmd_compare(int argc, char **argv)
{
    const char *cmd = "compare";
    double t0 = cli_now();
    cli_opt opts[] = {ANA_COMMON_OPTS, {"factor", 1, NULL}, {"i", 1, NULL}, {"j", 1, NULL}, {NULL, 0, NULL}};
    const char *pos[MAX_ADAPTERS + 1];
    int npos = 0, help = 0;
    int rc = ana_parse_args(cmd, USAGE, argc, argv, opts, pos, MAX_ADAPTERS + 1, &npos, &help);
    if (rc != CLI_OK || help)
        return rc;
    if (npos < 2 || npos > MAX_ADAPTERS)
        return cli_error(cmd, CLI_USAGE, "expected 2 to %d adapters, got %d", MAX_ADAPTERS, npos);
    cmp_run *R = calloc(1, sizeof *R);
    if (!R)
        return cli_error(cmd, CLI_FAIL, "out of memory");
    R->n = npos;
    for (int a = 0; a < npos; a++)
        R->paths[a] = pos[a];
    for (int a = 0; a < npos; a++)
        for (int b = a + 1; b < npos; b++, R->npairs++) {
            R->pa[R->npairs] = a;
            R->pb[R->npairs] = b;
        }
    if ((rc = parse_compare_opts(cmd, opts, R)) == CLI_OK)
        rc = run_compare(cmd, R, opts, t0);
    free(R);
    return rc;
}
