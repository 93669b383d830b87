/*
 * h5describe.c — the self-description of an analysis's HDF5 file and its
 * tidy table, both taken from the file itself just before it is committed
 * (ana_output_commit, deltaspec): every dataset gets the string attributes
 * units and definition (from the table below, by command and dataset
 * name), every module group /modules/<module> the attributes layer (int,
 * -1 if none) and proj (str), every vector of singular values the
 * dimension scale sv_index (1..n) beside it; and the numbers of the file go
 * into the tidy table of --csv / --json (tidy.h): per module group, its
 * datasets (flattened row-major: index = i·cols + j for a [rows, cols]
 * grid such as phi) and its numeric scalar attributes (index -1); summary
 * rows (module "") are the root's numeric attributes that are results, not
 * provenance; an attribute named as a dataset of its group (quanterr's
 * phi_left) is the quantity "<name>.attr". Seeds (attributes ending in "seed") are left out of the
 * table: 63-bit integers do not survive a double. Modules are in HDF5's
 * name order (sorted), so the table never depends on --threads.
 *
 * What it is not: the computing or writing of any number (each analysis
 * does that), nor the CSV/JSON printing (tidy.c).
 */
#include <stdlib.h>
#include <string.h>

#include "tidy.h"

typedef struct describe_row {
    const char *cmd;   /* NULL: any command */
    const char *name;  /* the dataset's last path component, or its full path ("/train/loss") */
    const char *units;
    const char *definition;
} describe_row;

static const describe_row DESCRIBE[] = {
    {"spectrum", "singular_values", "1", "singular values of the update dW = s·B·A (DoRA: the "
                                         "effective update; full tensors: weight − W0), descending"},
    {"deltaspec", "singular_values", "1", "singular values of dW = W_ft − W_0 of full fine-tuning, "
                                          "descending"},
    {"subspace", "phi", "1", "phi[i-1][j-1] = φ(i, j) = ‖V1[:, :i]ᵀ V2[:, :j]‖²_F / min(i, j), "
                             "subspace similarity of the two adapters' top singular vectors"},
    {"subspace", "phi_random", "1", "φ(i, j) of two seeded uniformly random subspaces of the same "
                                    "dimensions"},
    {"subspace", "principal_angles_deg", "degrees", "principal angles between the two adapters' "
                                                    "subspaces, ascending"},
    {"subspace", "phi11_null", "1", "draws of φ(1, 1) for two independent uniformly random subspaces "
                                    "(the null)"},
    {"subspace", "phi_null_mean", "1", "mean of the φ(i, j) grid over the null's draws (NaN beyond "
                                       "the subspaces' dimensions)"},
    {"subspace", "phi_null_q95", "1", "95th percentile of the φ(i, j) grid over the null's draws"},
    {"amplify", "delta_singular_values", "1", "top-K singular values of dW = s·B·A, descending"},
    {"amplify", "base_singular_values", "1", "top-K singular values of the base weight W, descending"},
    {"amplify", "proj_null", "1", "draws of ‖Uᵀ W V‖_F for uniformly random orthonormal U, V of K "
                                  "columns (the null of proj_delta)"},
    {"amplify", "proj_null_k", "1", "the same null draws for the fixed K of --k"},
    {"intruders", "sigma", "1", "top singular values of W = W0 + dW, descending"},
    {"intruders", "base_sigma", "1", "top singular values of the base weight W0, descending"},
    {"intruders", "cos_left", "1", "max_j |u_i·u0_j| of W's i-th left singular vector against all of W0's"},
    {"intruders", "cos_right", "1", "max_j |v_i·v0_j| of W's i-th right singular vector against all of W0's"},
    {"intruders", "count_left", "count", "intruders among W's top-k left singular vectors (cos_left < ε), [k, ε] grid"},
    {"intruders", "count_right", "count", "the same for the right singular vectors (cos_right < ε), [k, ε] grid"},
    {"intruders", "null_count", "count", "draws of the default cell's count for W0 + R dW Qᵀ, Haar R, Q (the null)"},
    {"intruders", "null_count_mean", "count", "mean of count_left over the null's draws, [k, ε] grid"},
    {"intruders", "null_count_q95", "count", "95th percentile of count_left over the null's draws, [k, ε] grid"},
    {"intruders", "intruder_index", "rank (1-based)", "index i in W's spectrum of each intruder at the default k, ε"},
    {"intruders", "intruder_sigma", "1", "singular value σ_i of W of each intruder at the default k, ε"},
    {"intruders", "/k_values", "directions", "the top-k sizes of the rows of the count grids"},
    {"intruders", "/eps_values", "1", "the thresholds ε of the columns of the count grids"},
    {"diagnose", "delta_singular_values", "1", "singular values of dW = s·B·A (low-rank path), descending"},
    {"diagnose", "base_singular_values", "1", "all min(d, k) singular values of the base weight W, descending"},
    {"diagnose", "merged_singular_values", "1", "all min(d, k) singular values of W + dW, descending"},
    {"quanterr", "error_singular_values", "1", "singular values of the quantisation error E = W − "
                                               "deq(Q(W)), descending"},
    {"quanterr", "delta_singular_values", "1", "singular values of the adapter's dW = s·B·A, descending"},
    {"quanterr", "compare_singular_values", "1", "singular values of the --compare adapter's dW, "
                                                 "descending"},
    {"quanterr", "phi_right", "1", "φ(i, j) between dW's top-i right singular vectors and E's top-j"},
    {"quanterr", "phi_left", "1", "φ(i, j) between dW's top-i left singular vectors and E's top-j"},
    {"quanterr", "phi_right_random", "1", "φ(i, j) between a random subspace and E's top-j right "
                                          "singular vectors"},
    {"quanterr", "phi_left_random", "1", "φ(i, j) between a random subspace and E's top-j left "
                                         "singular vectors"},
    {"quanterr", "phi_right_compare", "1", "φ(i, j) between the --compare adapter's right singular "
                                           "vectors and E's"},
    {"quanterr", "phi_left_compare", "1", "φ(i, j) between the --compare adapter's left singular "
                                          "vectors and E's"},
    {"quanterr", "phi_right_diff", "1", "φ(i, j) between the right singular vectors of the two "
                                        "adapters' difference D and E's"},
    {"quanterr", "phi_left_diff", "1", "φ(i, j) between the left singular vectors of the two "
                                       "adapters' difference D and E's"},
    {"quanterr", "error", "same as the weight", "the quantisation error E = W − deq(Q(W)), [out, in]"},
    {"compare", "phi", "1", "phi[a][b] = φ(i, j) = ‖V_a[:, :i]ᵀ V_b[:, :j]‖²_F / min(i, j) between "
                            "adapters a and b (group attributes i, j, ij, factor)"},
    {"compare", "grassmann", "1", "normalised Grassmann distance sqrt(Σ θ_l²) / (sqrt(k) π/2) between "
                                  "the spans of adapters a and b (0: one contains the other, 1: orthogonal)"},
    {"compare", "principal_angles", "degrees", "principal angles of each pair (a, b) of /pair_a, "
                                               "/pair_b, ascending, NaN beyond the pair's own k"},
    {"compare", "ranks", "1", "the rank r of this module in each input adapter"},
    {"compare", "mean_phi", "1", "φ of each pair of adapters averaged over the modules (NaN skipped)"},
    {"extract", "singular_values", "1", "singular values of ΔW = W_ft − W_0 (all min(d, k) of them, "
                                       "descending); the adapter keeps the top rank"},
    {"compare", "adapters", "path", "the input adapters in the order of the rows and columns of phi"},
    {"compare", "labels", "text", "the adapters' labels in the figures (index and directory name)"},
    {"compare", "pair_a", "adapter index", "first adapter (0-based) of each row of principal_angles"},
    {"compare", "pair_b", "adapter index", "second adapter (0-based) of each row of principal_angles"},
    /* collect: the study files (their merged analysis outputs keep the analyses' own) */
    {"collect", "seeds", "seed", "the seed of each run of the cell, in the order of its other datasets"},
    {"collect", "accuracy", "fraction (0..1)", "test accuracy of each run of the cell (greedy exact "
                                               "match of the label)"},
    {"collect", "rank_accuracy", "fraction (0..1)", "test accuracy of each run by rank classification "
                                                    "(the label with the highest likelihood)"},
    {"collect", "dev_accuracy", "fraction (0..1)", "dev-split accuracy (greedy exact match) of each run"},
    {"collect", "dev_rank_accuracy", "fraction (0..1)", "dev-split rank-classification accuracy of each run"},
    {"collect", "val_loss", "nats per token", "final validation loss of each run"},
    {"collect", "dw_ratio_median", "1", "median over the run's adapted weights of ‖ΔW‖_F / ‖W‖_F"},
    {"collect", "forgetting", "nats per byte", "loss on the base's held-out pretraining text minus the base's own on the same windows, per seed (evalj, issue 17)"},
    {"collect", "forgetting_seeds", "seed", "the seed of each value of forgetting, lm_loss and base_lm_loss (evalj)"},
    {"collect", "lm_loss", "nats per byte", "loss of each run on the base's held-out pretraining text (eval --task lm; evalj)"},
    {"collect", "base_lm_loss", "nats per byte", "the base model's own loss on the same windows of the held-out pretraining text (evalj)"},
    /* train: train_log.h5 */
    {"train", "/train/step", "steps", "optimizer step (1-based)"},
    {"train", "/train/loss", "nats per token", "training loss of the step (mean over the masked, "
                                               "i.e. scored, positions of the batch)"},
    {"train", "/train/lr", "1", "learning rate used at the step (after warm-up and schedule)"},
    {"train", "/train/grad_norm", "1", "global L2 norm of the trainable parameters' gradient before "
                                       "clipping"},
    {"train", "/train/step_ms", "ms", "wall time of the step"},
    {"train", "/val/step", "steps", "step after which the validation loss was measured"},
    {"train", "/val/loss", "nats per token", "validation loss (mean over the fixed validation batches)"},
    {"train", "/snapshots/step", "steps", "steps of the adapter snapshots in OUT.snapshots/step-NNNNNN"},
    {"train", "item", "index", "task item (0-based, in the split's file order) of each evaluated example"},
    {"train", "correct", "0/1", "1 when the greedy answer equals the label exactly"},
    {"train", "rank_correct", "0/1", "1 when the label with the highest likelihood is the right one"},
    {"train", "pred", "label index", "index into /eval/labels of the greedy answer (−1: not a label)"},
    {"train", "rank_pred", "label index", "index into /eval/labels of the most likely label"},
    {"train", "labels", "text", "the task's labels, indexed by pred and rank_pred"},
    {"train", "module", "text", "the adapted weight (PEFT module name) of each row of /delta"},
    {"train", "layer", "layer index", "its transformer block (0-based)"},
    {"train", "target", "text", "its weight type (q, k, v, o, fc_in, fc_out, ...)"},
    {"train", "dw_fro", "1", "‖ΔW‖_F (LoRA: ΔW = s·B·A; full fine-tuning: W_ft − W_0)"},
    {"train", "w_fro", "1", "‖W‖_F of the frozen base weight (dequantised for NF4)"},
    {"train", "ratio", "1", "‖ΔW‖_F / ‖W‖_F"},
    {"trajectory", "steps", "training steps", "training step of each snapshot (0: A0, B = 0)"},
    {"trajectory", "norm", "1", "‖ΔW_t‖_F, ΔW_t = s·B_t·A_t, per snapshot"},
    {"trajectory", "effective_rank", "1", "exp(−Σ p log p), p = σ/Σσ of ΔW_t (NaN where ΔW_t = 0)"},
    {"trajectory", "phi_final", "1", "φ(ΔW_t, ΔW_final) = ‖V_tᵀ V_final‖²_F / r, right singular vectors, "
                                     "i = j = r (NaN where either update is 0)"},
    {"trajectory", "phi_prev", "1", "φ(ΔW_t, ΔW_{t−1}) as phi_final (NaN at the first snapshot and where "
                                    "either update is 0)"},
};

/* The vectors indexed by singular value: they get the scale sv_index. */
static int is_sv(const char *name)
{
    size_t n = strlen(name);
    return n >= 15 && strcmp(name + n - 15, "singular_values") == 0;
}

/* The row of cmd for the dataset at path (name: its last component); a
 * study file (collect) also takes any analysis's row of that name. */
static const describe_row *find_row(const char *cmd, const char *path, const char *name)
{
    for (int any = 0; any < 2; any++)
        for (size_t i = 0; i < sizeof DESCRIBE / sizeof DESCRIBE[0]; i++) {
            const describe_row *r = &DESCRIBE[i];
            if ((any ? strcmp(cmd, "collect") == 0 : !r->cmd || strcmp(r->cmd, cmd) == 0) &&
                strcmp(r->name, r->name[0] == '/' ? path : name) == 0)
                return r;
        }
    return NULL;
}

/* units/definition of one dataset (unless it has them) and its scale. */
static int describe_dataset(const char *cmd, lsc_h5 *h, const char *path, lsc_error *err)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    const describe_row *r = find_row(cmd, path, name);
    int rc;
    if (r && !lsc_h5_has_attr(h, path, "units") &&
        (rc = lsc_h5_describe(h, path, r->units, r->definition, err)) != LSC_OK)
        return rc;
    if (!is_sv(name) || lsc_h5_has_attr(h, path, "DIMENSION_LIST"))
        return LSC_OK;
    char scale[1400];
    size_t dir = (size_t)(name - path);
    snprintf(scale, sizeof scale, "%.*ssv_index", (int)dir, path);
    if (strcmp(name, "singular_values") != 0)   /* amplify: two vectors, two scales */
        snprintf(scale, sizeof scale, "%.*ssv_index_%.*s", (int)dir, path,
                 (int)(strlen(name) - 16), name);
    return lsc_h5_index_scale(h, path, 0, scale, err);
}

int ana_describe(const char *cmd, lsc_h5 *h, lsc_error *err)
{
    char **names = NULL;
    int n = 0, rc = LSC_OK;
    if (lsc_h5_exists(h, "/modules") && (rc = lsc_h5_list(h, "/modules", &names, &n, err)) != LSC_OK)
        return rc;
    for (int i = 0; i < n && rc == LSC_OK; i++) {
        char g[1200];
        snprintf(g, sizeof g, "/modules/%s", names[i]);
        rc = lsc_h5_module_attrs(h, g, ana_tidy_layer(names[i]), ana_tidy_proj(names[i]), err);
    }
    lsc_h5_free_names(names, n);
    if (rc != LSC_OK || (rc = lsc_h5_objects(h, 1, &names, &n, err)) != LSC_OK)
        return rc;
    for (int i = 0; i < n && rc == LSC_OK; i++)
        rc = describe_dataset(cmd, h, names[i], err);
    lsc_h5_free_names(names, n);
    return rc;
}

// ---- the tidy table from the file ----

/* Root attributes that are provenance or settings, not results. */
static int skip_attr(const char *name, int root)
{
    size_t n = strlen(name);
    if (n >= 4 && strcmp(name + n - 4, "seed") == 0)
        return 1;
    static const char *const ROOT_SKIP[] = {"format_version", "wall_time_s", "threads"};
    for (size_t i = 0; root && i < sizeof ROOT_SKIP / sizeof ROOT_SKIP[0]; i++)
        if (strcmp(name, ROOT_SKIP[i]) == 0)
            return 1;
    return 0;
}

/* The numeric scalar attributes of obj as rows of module (NULL: summary). */
static int tidy_attrs(ana_tidy *t, const lsc_h5 *h, const char *obj, const char *module,
                      lsc_error *err)
{
    char **names = NULL;
    int n = 0, rc = lsc_h5_attr_names(h, obj, &names, &n, err);
    for (int i = 0; i < n && rc == LSC_OK; i++) {
        double v;
        lsc_error e2 = {0};
        if (skip_attr(names[i], module == NULL) || strcmp(names[i], "layer") == 0 ||
            lsc_h5_read_attr_double(h, obj, names[i], &v, &e2) != LSC_OK)
            continue;   /* strings, references (dimension scales) */
        /* quanterr's attribute phi_left beside its dataset phi_left */
        char q[300], ds[1400];
        snprintf(ds, sizeof ds, "%s/%s", obj, names[i]);
        snprintf(q, sizeof q, module && lsc_h5_exists(h, ds) ? "%s.attr" : "%s", names[i]);
        rc = ana_tidy_add(t, module, q, -1, v);
    }
    lsc_h5_free_names(names, n);
    return rc;
}

/* The float datasets of module group g (flattened row-major). */
static int tidy_datasets(ana_tidy *t, const lsc_h5 *h, const char *g, const char *module,
                         lsc_error *err)
{
    char **names = NULL;
    int n = 0, rc = lsc_h5_list(h, g, &names, &n, err);
    for (int i = 0; i < n && rc == LSC_OK; i++) {
        char ds[1400];
        snprintf(ds, sizeof ds, "%s/%s", g, names[i]);
        int nd = 0;
        size_t dims[2] = {0, 0}, total = 1;
        lsc_error e2 = {0};
        if (strncmp(names[i], "sv_index", 8) == 0 ||
            lsc_h5_dataset_shape(h, ds, &nd, dims, 2, &e2) != LSC_OK)
            continue;   /* groups, the scales (1..n), more than 2-D */
        for (int k = 0; k < nd; k++)
            total *= dims[k];
        double *x = malloc((total ? total : 1) * sizeof *x);
        if (!x)
            rc = LSC_ENOMEM;
        else if (lsc_h5_read_f64(h, ds, total, x, &e2) == LSC_OK)
            rc = ana_tidy_add_vec(t, module, names[i], total, x);
        free(x);
    }
    lsc_h5_free_names(names, n);
    if (rc == LSC_ENOMEM)
        LSC_FAIL(err, LSC_ENOMEM, "out of memory for the table of --csv/--json");
    return rc;
}

int ana_tidy_from_h5(ana_tidy *t, const lsc_h5 *h, lsc_error *err)
{
    char **names = NULL;
    int n = 0, rc;
    if ((rc = tidy_attrs(t, h, "/", NULL, err)) != LSC_OK)
        return rc;
    if (lsc_h5_exists(h, "/modules") && (rc = lsc_h5_list(h, "/modules", &names, &n, err)) != LSC_OK)
        return rc;
    for (int i = 0; i < n && rc == LSC_OK; i++) {
        char g[1200];
        snprintf(g, sizeof g, "/modules/%s", names[i]);
        if ((rc = tidy_datasets(t, h, g, names[i], err)) == LSC_OK)
            rc = tidy_attrs(t, h, g, names[i], err);
    }
    lsc_h5_free_names(names, n);
    return rc;
}

// ---- the one table of a run ----

static ana_tidy *the_table;   /* reachable: no leak report on an early exit */

int ana_output_describe(const char *cmd, const ana_opts *o, lsc_h5 *h, lsc_error *err)
{
    int rc = ana_describe(cmd, h, err);
    if (rc != LSC_OK || (!o->json && !o->csv))
        return rc;
    ana_tidy_free(the_table);
    if (!(the_table = ana_tidy_new()))
        LSC_FAIL(err, LSC_ENOMEM, "out of memory for the table of --csv/--json");
    return ana_tidy_from_h5(the_table, h, err);
}

int ana_finish(const char *cmd, const ana_opts *o, int n_modules, int n_skipped, double t0)
{
    int rc = ana_draw_layers(cmd, o);   /* the per-layer figures, from the file */
    if (rc == CLI_OK)
        rc = ana_tidy_finish(cmd, o, the_table, n_modules, n_skipped, t0);
    ana_tidy_free(the_table);
    the_table = NULL;
    return rc;
}
