/*
 * collect_merge.c — the analysis side of `lorascope collect`: "merge" lines copy every group,
 * 1-D/2-D dataset and known attribute of another subcommand's HDF5 output into the study file;
 * "phi", "amp", "spec" and "qerr" lines put the headline numbers of a merged output into
 * /summary (and the plain tables of --phi-dat, --amp-dat and --spec-dat); "curve" lines write
 * a run's training curve for --curves.
 *
 * What it is not: an analysis. The summaries select and average what the analyses wrote
 * (phi_stats is the only arithmetic); scalars and exotic HDF5 objects are not copied.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "collect.h"

// ---- merge: copy an analysis output into the study file ----

/* Attributes copied when present: the analysis outputs' documented ones (issue 2) and
 * deltaspec's. Integers keep their type; everything else numeric is float64. */
static const char *INT_ATTRS[] = {
    "r", "r1", "r2", "dim", "rank", "in_features", "out_features", "rank90", "degenerate",
    "n_nonfinite", "seed", "n_modules", "format_version", "layer", "n_sv", "K", "n_degenerate",
    "n_skipped", "numerical_rank1", "numerical_rank2", "random_seed", "threads",
    "n_nonfinite_modules", "w0_rank90", "random_rank90", "transposed",
    /* quanterr (issue 6) */
    "top", "blocksize", "double_quant", "base_transposed", "has_compare", "compare_r",
    "compare_degenerate", "diff_degenerate", "n_compared", "store_error", "fan_in_fan_out",
    /* the nulls of subspace and amplify (issue 12) */
    "null_draws", "null_seed", "grid_null_draws", "k_fixed", "grid_null_seed", "k_skipped",
    "null_seed_k", "k", "k_default", "k_max", "n_intruders", "n_intruders_right", /* intruders (issue 17) */
    NULL};
static const char *NUM_ATTRS[] = {
    "alpha", "scaling", "delta_fro", "stable_rank", "effective_rank", "base_fro",
    "proj_delta", "proj_base", "proj_random", "amplification", "wall_time_s", "w0_fro",
    "ft_fro", "rank90_frac", "w0_effective_rank", "random_effective_rank",
    "w0_stable_rank", "random_stable_rank", "rank90_fraction", "scale",
    /* the nulls of subspace and amplify (issue 12) */
    "phi11", "phi11_null_mean", "phi11_null_q95", "phi11_p", "phi11_expected", "r_over_dim",
    "proj_random_expected", "proj_null_mean", "proj_null_sd", "proj_null_q95", "proj_p",
    "alignment_excess", "amplification_null", "proj_delta_k", "proj_base_k", "proj_null_k_mean",
    "proj_null_k_q95", "proj_k_p", "alignment_excess_k", "amplification_k", "amplification_null_k",
    "proj_null_k_sd", "proj_random_expected_k",
    /* quanterr (issue 6): per module, then the means over modules of the root */
    "bits_total", "bits_constants", "error_fro", "error_rel", "error_max_abs", "phi_right",
    "phi_left", "phi_right_top1", "phi_left_top1", "phi_right_random", "phi_left_random",
    "phi_right_expected", "phi_left_expected", "proj_error_delta", "proj_error_top",
    "proj_error_random", "proj_error_random_expected", "cos_delta_error", "error_coef",
    "cos_random_sd", "compensated_best", "compare_delta_fro", "phi_right_compare",
    "phi_left_compare", "phi_right_compare_top1", "phi_left_compare_top1", "proj_error_compare",
    "cos_compare_error", "compare_error_coef", "phi_right_adapters", "phi_left_adapters",
    "diff_fro", "phi_right_diff", "phi_left_diff", "proj_error_diff", "cos_diff_error",
    "diff_error_coef",
    "mean_bits_total", "mean_compare_error_coef", "mean_compensated_best",
    "mean_cos_compare_error", "mean_cos_delta_error", "mean_cos_diff_error", "mean_cos_random_sd",
    "mean_diff_error_coef", "mean_error_coef", "mean_error_rel", "mean_phi_left",
    "mean_phi_left_adapters", "mean_phi_left_compare", "mean_phi_left_diff",
    "mean_phi_left_expected", "mean_phi_left_random", "mean_phi_right", "mean_phi_right_adapters",
    "mean_phi_right_compare", "mean_phi_right_diff", "mean_phi_right_expected",
    "mean_phi_right_random", "mean_proj_ratio", "mean_proj_ratio_compare",
    "eps_default", "intruders_total", "null_total_mean", "null_total_q95", "null_total_p", "null_mean", /* intruders */
    "null_sd", "null_q95", "p_value", NULL};
static const char *STR_ATTRS[] = {
    "factor", "command", "git_commit", "lorascope_version", "created_utc", "adapter",
    "adapter_sha256", "adapter1", "adapter1_sha256", "adapter2", "adapter2_sha256", "base",
    "base_sha256", "finetuned", "finetuned_sha256", "module", "warning", "module1", "module2",
    "pair", "rank_tolerance", "svd_method", "dtype", "targets", "base_tensor", "compare",
    "compare_sha256", "quantiser", "svd", "zero_tolerance", "null_model",
    /* the self-description (issue 16, h5describe.c) */
    "proj", "units", "definition", NULL};

static void copy_attrs(wctx *w, const lsc_h5 *src, const char *spath, const char *dpath)
{
    lsc_error e = {0};
    char sbuf[4096];
    for (const char *const *a = INT_ATTRS; *a; a++) {
        long long v;
        if (lsc_h5_read_attr_int(src, spath, *a, &v, &e) == LSC_OK)
            w_attr_i(w, dpath, *a, v);
    }
    for (const char *const *a = NUM_ATTRS; *a; a++) {
        double v;
        if (lsc_h5_read_attr_double(src, spath, *a, &v, &e) == LSC_OK)
            w_attr_d(w, dpath, *a, v);
    }
    for (const char *const *a = STR_ATTRS; *a; a++)
        if (lsc_h5_read_attr_str(src, spath, *a, sbuf, sizeof sbuf, &e) == LSC_OK)
            w_attr_s(w, dpath, *a, sbuf);
}

static void copy_tree(wctx *w, const lsc_h5 *src, const char *spath, const char *dpath,
                      int depth)
{
    if (w->rc != LSC_OK || depth > 8)
        return;
    lsc_error e = {0};
    char **names = NULL;
    int n = 0;
    if (lsc_h5_list(src, spath, &names, &n, &e) == LSC_OK) {   /* a group */
        w_group(w, dpath);
        copy_attrs(w, src, spath, dpath);
        for (int i = 0; i < n && w->rc == LSC_OK; i++) {
            char s2[1024], d2[1024];
            snprintf(s2, sizeof s2, "%s/%s", strcmp(spath, "/") ? spath : "", names[i]);
            snprintf(d2, sizeof d2, "%s/%s", dpath, names[i]);
            copy_tree(w, src, s2, d2, depth + 1);
        }
        lsc_h5_free_names(names, n);
        return;
    }
    int nd;
    size_t dims[8];
    const char *base = strrchr(spath, '/');
    if (strncmp(base ? base + 1 : spath, "sv_index", 8) == 0)
        return;   /* dimension scales: made again for the study file (collect.c) */
    if (lsc_h5_dataset_shape(src, spath, &nd, dims, 8, &e) != LSC_OK || nd < 1 || nd > 2)
        return;   /* scalars and exotic objects are not part of the documented layouts */
    size_t numel = nd == 1 ? dims[0] : dims[0] * dims[1];
    double *x = malloc((numel ? numel : 1) * sizeof *x);
    if (!x) {
        w->rc = lsc_error_set(&w->err, LSC_ENOMEM, __FILE__, __LINE__, "out of memory");
        return;
    }
    if (lsc_h5_read_f64(src, spath, numel, x, &e) == LSC_OK) {
        w_f64(w, dpath, nd, dims, x);
        copy_attrs(w, src, spath, dpath);
    }
    free(x);
}

int collect_merge_(wctx *w, const char *group, const char *file)
{
    lsc_h5 *src = NULL;
    lsc_error e = {0};
    if (lsc_h5_open(&src, file, &e) != LSC_OK)
        return cli_lib_error("collect", &e);
    char dpath[512];
    snprintf(dpath, sizeof dpath, "/%s", group);
    copy_tree(w, src, "/", dpath, 0);
    w_attr_s(w, dpath, "source_file", file);
    char hex[65];
    if (lsc_sha256_file(file, hex, &e) == LSC_OK)
        w_attr_s(w, dpath, "source_sha256", hex);
    lsc_h5_close(src);
    return w->rc == LSC_OK ? CLI_OK : cli_lib_error("collect", &w->err);
}

// ---- phi / amp / spec summaries ----

int collect_read_2d_(const lsc_h5 *h, const char *path, double **x, size_t *r, size_t *c)
{
    lsc_error e = {0};
    int nd;
    size_t dims[8];
    *x = NULL;
    if (lsc_h5_dataset_shape(h, path, &nd, dims, 8, &e) != LSC_OK)
        return cli_lib_error("collect", &e);
    if (nd != 2)
        return cli_error("collect", CLI_FAIL, "%s: %s is not 2-D", lsc_h5_path(h), path);
    *r = dims[0];
    *c = dims[1];
    size_t numel = *r * *c;
    *x = malloc((numel > 0 ? numel : 1) * sizeof **x);
    if (!*x)
        return cli_error("collect", CLI_FAIL, "out of memory");
    if (lsc_h5_read_f64(h, path, *r * *c, *x, &e) != LSC_OK) {
        free(*x);
        *x = NULL;
        return cli_lib_error("collect", &e);
    }
    return CLI_OK;
}

static int write_phi_dat(const char *dir, const char *key, const char *suffix, const double *phi,
                         size_t r1, size_t r2)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/phi_%s%s.dat", dir, key, suffix);
    lsc_atomic a;
    int rc = collect_dat_open_(&a, path);
    if (rc != CLI_OK)
        return rc;
    /* the layout plots/phi.gp reads: rows "j i phi", one block per i */
    fprintf(a.fp, "# phi(i, j) (LoRA paper Eq. 4), i = 1..%zu, j = 1..%zu: j  i  phi\n", r1, r2);
    for (size_t i = 0; i < r1; i++) {
        for (size_t j = 0; j < r2; j++)
            fprintf(a.fp, "%zu %zu %.6g\n", j + 1, i + 1, phi[i * r2 + j]);
        fputc('\n', a.fp);
    }
    return collect_dat_commit_(&a);
}

/* Headline numbers of a phi grid (r1 x r2, r1 <= r2 in the studies):
 *   phi_11       φ(1,1): do the top directions coincide?
 *   phi_1_all    φ(1, r2): how much of A1's top direction lies in A2's whole subspace
 *   phi_all      φ(r1, r2): mean squared cosine between the two subspaces
 *   phi_diag     mean over i of φ(i, i), i <= min(r1, r2): top-i vs top-i overlap
 * and the same of phi_random (two random subspaces of the same shape). */
static void phi_stats(const double *phi, size_t r1, size_t r2, double out[4])
{
    size_t m = r1 < r2 ? r1 : r2;
    out[0] = phi[0];
    out[1] = phi[r2 - 1];
    out[2] = phi[(r1 - 1) * r2 + (r2 - 1)];
    double s = 0;
    for (size_t i = 0; i < m; i++)
        s += phi[i * r2 + i];
    out[3] = s / (double)m;
}

/* The summary lines name paths inside the study file: the merged copies are read back
 * through the writer's handle (HDF5 reads what the same handle wrote). */
int collect_phi_(wctx *w, const char *key, const char *path, const char *dat_dir)
{
    static const char *names[4] = {"phi_11", "phi_1_all", "phi_all", "phi_diag"};
    char p[1024];
    double *phi = NULL, *rnd = NULL;
    size_t r1 = 0, r2 = 0, q1 = 0, q2 = 0;
    snprintf(p, sizeof p, "%s/phi", path);
    if (!lsc_h5_exists(w->h, p))
        return cli_error("collect", CLI_FAIL, "phi %s: no dataset %s (merge its file first)", key, p);
    int rc = collect_read_2d_(w->h, p, &phi, &r1, &r2);
    if (rc != CLI_OK)
        return rc;
    snprintf(p, sizeof p, "%s/phi_random", path);
    if (lsc_h5_exists(w->h, p) && (rc = collect_read_2d_(w->h, p, &rnd, &q1, &q2)) != CLI_OK)
        goto done;
    if (r1 == 0 || r2 == 0) {
        rc = cli_error("collect", CLI_FAIL, "phi %s: empty grid at %s", key, path);
        goto done;
    }
    double st[4];
    phi_stats(phi, r1, r2, st);
    for (int i = 0; i < 4; i++)
        collect_summary_(w, key, names[i], st[i]);
    collect_summary_(w, key, "r1", (double)r1);
    collect_summary_(w, key, "r2", (double)r2);
    if (rnd && q1 == r1 && q2 == r2) {
        char nm[64];
        phi_stats(rnd, q1, q2, st);
        for (int i = 0; i < 4; i++) {
            snprintf(nm, sizeof nm, "random_%s", names[i]);
            collect_summary_(w, key, nm, st[i]);
        }
    }
    long long dim = 0;
    lsc_error e = {0};
    if (lsc_h5_read_attr_int(w->h, path, "dim", &dim, &e) == LSC_OK)
        collect_summary_(w, key, "dim", (double)dim);
    if (w->rc != LSC_OK) {
        rc = cli_lib_error("collect", &w->err);
        goto done;
    }
    if (dat_dir) {
        if ((rc = write_phi_dat(dat_dir, key, "", phi, r1, r2)) != CLI_OK)
            goto done;
        if (rnd && (rc = write_phi_dat(dat_dir, key, ".random", rnd, q1, q2)) != CLI_OK)
            goto done;
    }
done:
    free(phi);
    free(rnd);
    return rc;
}

/* The headline numbers of a `lorascope quanterr` output (root attributes, means over the
 * adapted modules) merged at PATH. */
static const char *QERR_ATTRS[] = {
    "mean_error_rel", "mean_bits_total", "mean_phi_right", "mean_phi_right_compare",
    "mean_phi_right_diff", "mean_phi_right_random", "mean_phi_right_expected", "mean_phi_left",
    "mean_phi_left_compare", "mean_phi_left_diff", "mean_phi_left_random", "mean_cos_delta_error",
    "mean_cos_compare_error", "mean_cos_diff_error", "mean_cos_random_sd", "mean_error_coef",
    "mean_compare_error_coef", "mean_diff_error_coef", "mean_compensated_best", NULL};

int collect_qerr_(wctx *w, const char *key, const char *path)
{
    lsc_error e = {0};
    for (const char *const *a = QERR_ATTRS; *a; a++) {
        double v;
        if (lsc_h5_read_attr_double(w->h, path, *a, &v, &e) != LSC_OK)
            return cli_error("collect", CLI_FAIL, "qerr %s: %s", key, e.msg);
        collect_summary_(w, key, *a + 5, v);   /* without "mean_" */
    }
    return w->rc == LSC_OK ? CLI_OK : cli_lib_error("collect", &w->err);
}

static const char *AMP_ATTRS[] = {"r", "delta_fro", "base_fro", "proj_delta", "proj_base",
                                  "proj_random", "amplification", "proj_random_expected",
                                  "proj_null_mean", "alignment_excess", NULL};

int collect_amp_(wctx *w, const char *key, const char *path, FILE *dat)
{
    lsc_error e = {0};
    double v[12];
    int i = 0;
    for (const char *const *a = AMP_ATTRS; *a; a++, i++) {
        if (lsc_h5_read_attr_double(w->h, path, *a, &v[i], &e) != LSC_OK)
            return cli_error("collect", CLI_FAIL, "amp %s: %s", key, e.msg);
        collect_summary_(w, key, *a, v[i]);
    }
    if (w->rc != LSC_OK)
        return cli_lib_error("collect", &w->err);
    if (dat) {
        const char *t = strrchr(key, '.');
        fprintf(dat, "%s %s %g %.6g %.6g %.6g %.6g %.6g %.6g\n", key, t ? t + 1 : key, v[0], v[1],
                v[2], v[3], v[4], v[5], v[6]);
    }
    return CLI_OK;
}

/* The rows of DIR/spec_KEY.dat: i, sigma_i, sigma_i/sigma_1 and the cumulative energy. */
static void write_spec_rows(FILE *fp, const char *key, const double *s, size_t n)
{
    double tot = 0, cum = 0;
    for (size_t i = 0; i < n; i++)
        tot += s[i] * s[i];
    fprintf(fp, "# %s: i  sigma_i  sigma_i/sigma_1  cumulative energy sum_{k<=i} sigma_k^2 / sum sigma^2\n", key);
    for (size_t i = 0; i < n; i++) {
        cum += s[i] * s[i];
        fprintf(fp, "%zu %.6g %.6g %.6g\n", i + 1, s[i], s[0] > 0 ? s[i] / s[0] : 0.0,
                tot > 0 ? cum / tot : 0.0);
    }
}

int collect_spec_(wctx *w, const char *key, const char *path, const char *dat_dir)
{
    lsc_error e = {0};
    static const char *attrs[] = {"effective_rank", "rank90", "stable_rank", "delta_fro", NULL};
    for (const char *const *a = attrs; *a; a++) {
        double v;
        if (lsc_h5_read_attr_double(w->h, path, *a, &v, &e) != LSC_OK)
            return cli_error("collect", CLI_FAIL, "spec %s: %s", key, e.msg);
        collect_summary_(w, key, *a, v);
    }
    char p[1024];
    snprintf(p, sizeof p, "%s/singular_values", path);
    int nd;
    size_t dims[8];
    if (lsc_h5_dataset_shape(w->h, p, &nd, dims, 8, &e) != LSC_OK || nd != 1)
        return cli_error("collect", CLI_FAIL, "spec %s: no 1-D singular_values at %s", key, path);
    size_t n = dims[0];
    double *s = malloc((n ? n : 1) * sizeof *s);
    if (!s)
        return cli_error("collect", CLI_FAIL, "out of memory");
    if (lsc_h5_read_f64(w->h, p, n, s, &e) != LSC_OK) {
        free(s);
        return cli_lib_error("collect", &e);
    }
    collect_summary_(w, key, "n_sv", (double)n);
    int rc = CLI_OK;
    if (dat_dir) {
        char path2[1024];
        snprintf(path2, sizeof path2, "%s/spec_%s.dat", dat_dir, key);
        lsc_atomic a;
        if ((rc = collect_dat_open_(&a, path2)) != CLI_OK) {
            free(s);
            return rc;
        }
        write_spec_rows(a.fp, key, s, n);
        rc = collect_dat_commit_(&a);
    }
    free(s);
    return w->rc == LSC_OK ? rc : cli_lib_error("collect", &w->err);
}

// ---- training curves ----

/* Reads the first 1-D dataset among names from h into *x (malloc'd), *n values. */
static int read_1d_any(const lsc_h5 *h, const char *const *names, double **x, size_t *n,
                       const char **which)
{
    lsc_error e = {0};
    *x = NULL;
    *n = 0;
    for (; *names; names++) {
        int nd;
        size_t dims[8];
        if (!lsc_h5_exists(h, *names) ||
            lsc_h5_dataset_shape(h, *names, &nd, dims, 8, &e) != LSC_OK || nd != 1)
            continue;
        *x = malloc((dims[0] ? dims[0] : 1) * sizeof **x);
        if (!*x)
            return LSC_ENOMEM;
        if (lsc_h5_read_f64(h, *names, dims[0], *x, &e) != LSC_OK) {
            free(*x);
            *x = NULL;
            continue;
        }
        *n = dims[0];
        if (which)
            *which = *names;
        return LSC_OK;
    }
    return LSC_ENOTFOUND;
}

int collect_curve_(FILE *fp, int index, const char *label, const char *dir)
{
    static const char *loss_names[] = {"/train/loss", "/loss", "/train_loss", NULL};
    static const char *step_names[] = {"/train/step", "/step", "/train_step", NULL};
    static const char *vloss_names[] = {"/valid/loss", "/val/loss", "/val_loss", NULL};
    static const char *vstep_names[] = {"/valid/step", "/val/step", "/val_step", NULL};
    char path[1100];
    snprintf(path, sizeof path, "%s/train_log.h5", dir);
    lsc_h5 *h = NULL;
    lsc_error e = {0};
    if (lsc_h5_open(&h, path, &e) != LSC_OK)
        return cli_lib_error("collect", &e);
    double *loss = NULL, *step = NULL, *vl = NULL, *vs = NULL;
    size_t n = 0, ns = 0, nv = 0, nvs = 0;
    const char *which = NULL;
    int rc = CLI_OK;
    if (read_1d_any(h, loss_names, &loss, &n, &which) != LSC_OK) {
        rc = cli_error("collect", CLI_FAIL, "%s: no training loss dataset (/train/loss)", path);
        goto done;
    }
    read_1d_any(h, step_names, &step, &ns, NULL);
    read_1d_any(h, vloss_names, &vl, &nv, NULL);
    read_1d_any(h, vstep_names, &vs, &nvs, NULL);
    fprintf(fp, "%s# index %d: \"%s\" (%s): step  train_loss  [val_step val_loss]\n",
            index ? "\n\n" : "", index, label, path);
    fprintf(fp, "\"%s\"\n", label);   /* gnuplot columnheader(1) of this block */
    for (size_t i = 0; i < n; i++) {
        fprintf(fp, "%.0f %.6g", step && ns == n ? step[i] : (double)(i + 1), loss[i]);
        if (vl && i < nv)
            fprintf(fp, " %.0f %.6g", vs && nvs == nv ? vs[i] : (double)i, vl[i]);
        else
            fprintf(fp, " NaN NaN");
        fputc('\n', fp);
    }
done:
    free(loss);
    free(step);
    free(vl);
    free(vs);
    lsc_h5_close(h);
    return rc;
}
