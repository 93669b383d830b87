/*
 * trajectory.c — `lorascope trajectory RUN_DIR -o OUT.h5`: how a LoRA
 * adapter moved during training, from the snapshots `train --save-every N`
 * wrote (RUN_DIR.snapshots/step-%06d, training_snap.c): per module and
 * snapshot t, ‖ΔW_t‖_F, the effective rank of ΔW_t, the subspace
 * similarity φ of ΔW_t to the final update and to the previous snapshot's,
 * and the step from which the subspace stays near its final one.
 *
 * Every ΔW_t = s·B_t·A_t goes through lsc_lowrank_svd (never the d×k
 * matrix): its singular values give the norm and the effective rank
 * (ana_effective_rank, as `spectrum`), its right singular vectors V_t
 * (r, k) the subspace. φ(ΔW_t, ΔW_u) = ‖V_tᵀ V_u‖²_F / r, the LoRA paper's
 * normalised subspace similarity (Eq. 4) at i = j = r, by
 * lsc_subspace_gram and lsc_phi_grid as `subspace` computes it. ΔW = 0 (step
 * 0: B = 0) has no subspace: its φ are NaN. The final update is the last
 * snapshot's (the highest step).
 *
 * HDF5 layout, per module group /modules/<module>/ (one value per
 * snapshot, in step order):
 *   steps            int32    the snapshot steps
 *   norm             float64  ‖ΔW_t‖_F
 *   effective_rank   float64  exp(−Σ p log p), p = σ/Σσ of ΔW_t (NaN if ΔW_t = 0)
 *   phi_final        float64  φ(ΔW_t, ΔW_final) at i = j = r (NaN if either is 0)
 *   phi_prev         float64  φ(ΔW_t, ΔW_{t−1}) (NaN at the first snapshot and
 *                             where either is 0)
 *   attributes layer (-1: none in the name), proj, rank, scale, settle_step
 *   (the first snapshot step from which φ(ΔW_t', ΔW_final) >= --settle for
 *   every later snapshot t'; -1 when ΔW_final = 0), settle_threshold, and
 *   ana_write_module_attrs' r, alpha, scaling, in_features, out_features;
 *   each dataset has the attributes units and definition (h5describe.c).
 * Root: provenance (the snapshots directory as the input "snapshots"),
 * settle, n_snapshots, final_step, steps (the snapshot steps, int32).
 * --csv/--json: the numbers read back from the file (h5describe.c).
 *
 * Not here: writing the snapshots (training_snap.c); φ over all (i, j) and
 * its null (subspace.c). With --plots DIR: trajectory_layer<L>.dat and one
 * figure per layer (plots/trajectory.gp).
 */
#include <dirent.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analysis_common.h"
#include "commands.h"
#include "tidy.h"
#include "training.h"

static const char *USAGE =
    "usage: lorascope trajectory RUN_DIR -o OUT.h5 [--settle X] [--plots DIR] [options]\n"
    "\n"
    "How a LoRA adapter moved during training, from the snapshots `lorascope train\n"
    "--save-every N -o RUN_DIR` keeps in RUN_DIR.snapshots/step-NNNNNN (RUN_DIR may\n"
    "also name that directory itself). Per module and snapshot step t: ||dW_t||_F,\n"
    "the effective rank exp(-sum p log p), p = sigma/sum(sigma), of dW_t = s*B_t*A_t,\n"
    "phi_final = phi(dW_t, dW_final) and phi_prev = phi(dW_t, dW_{t-1}), where phi is\n"
    "the LoRA paper's normalised subspace similarity |V_t^T V_u|_F^2 / r of the right\n"
    "singular vectors at i = j = r, and dW_final the last snapshot's update. dW_0 = 0\n"
    "(B = 0) has no subspace: phi is NaN there. settle_step (when the subspace stops\n"
    "moving): the first snapshot step t such that phi(dW_t', dW_final) >= X for t and\n"
    "every later snapshot t'. Writes /modules/<module>/{steps, norm, effective_rank,\n"
    "phi_final, phi_prev} with attributes layer, proj, rank, scale, settle_step.\n"
    "\n"
    "options:\n"
    "  --settle X           the phi threshold of settle_step (default 0.9, in (0, 1])\n"
    "  --csv FILE           the numbers as a tidy CSV table\n"
    ANA_COMMON_HELP
    "  (--plots: one figure per layer, phi to the final update and ||dW||_F against\n"
    "   the step, one line per module of the layer; --module is not used)\n"
    "\n"
    "example:\n"
    "  lorascope train --base base.safetensors --task lm --steps 1000 --save-every 100 -o run\n"
    "  lorascope trajectory run -o traj.h5 --plots figs\n";

// ---- the snapshots ----

typedef struct snaps {
    char  dir[PATH_MAX];
    int   n;
    long *step;   /* (n) ascending */
} snaps;

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* The step of a name "step-<digits>" (nothing after), else -1. */
static long snap_step(const char *name)
{
    if (strncmp(name, "step-", 5) != 0 || !name[5])
        return -1;
    char *end;
    long s = strtol(name + 5, &end, 10);
    return *end || name[5] < '0' || name[5] > '9' ? -1 : s;
}

static int find_snaps(const char *cmd, const char *run_dir, snaps *S)
{
    size_t len = strlen(run_dir);
    while (len > 1 && run_dir[len - 1] == '/')
        len--;
    if (len >= 10 && strncmp(run_dir + len - 10, ".snapshots", 10) == 0)
        snprintf(S->dir, sizeof S->dir, "%.*s", (int)len, run_dir);
    else
        training_snap_dir(run_dir, S->dir, sizeof S->dir);
    DIR *d = opendir(S->dir);
    if (!d)
        return cli_error(cmd, CLI_FAIL, "%s: no snapshots (%s missing: train with --save-every N)", run_dir, S->dir);
    int cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long s = snap_step(e->d_name);
        if (s < 0)
            continue;
        if (S->n == cap) {
            cap = cap ? 2 * cap : 64;
            long *p = realloc(S->step, (size_t)cap * sizeof *p);
            if (!p) {
                closedir(d);
                return cli_error(cmd, CLI_FAIL, "out of memory");
            }
            S->step = p;
        }
        S->step[S->n++] = s;
    }
    closedir(d);
    if (S->n == 0)
        return cli_error(cmd, CLI_FAIL, "%s: no snapshots (no step-NNNNNN in %s: train with --save-every N)",
                         run_dir, S->dir);
    qsort(S->step, (size_t)S->n, sizeof *S->step, cmp_long);
    return CLI_OK;
}

static void snap_path(const snaps *S, int t, char *buf, size_t n)
{
    snprintf(buf, n, "%s/step-%06ld", S->dir, S->step[t]);
}

// ---- one module across the snapshots ----

typedef struct traj {
    const lsc_adapter_module *m;   /* of the final snapshot (borrowed) */
    int       p;                   /* subspace dimension: min(r, d, k) */
    double   *norm, *erank, *phi_final, *phi_prev;   /* (n_snap) */
    double   *Vf, *Vp, *Vt;        /* (r, k): final, previous, current right singular vectors */
    int       final_zero, prev_zero;
    long      settle_step;
    int       rc;
    ana_msgs  msgs;
} traj;

/* σ and V (r, k) of ΔW = s·B·A; *zero when σ₁ is below rounding of
 * s·‖B‖·‖A‖ (subspace.c's rule). */
static int module_svd(const lsc_adapter_module *m, double *S, double *Vt, int *zero, lsc_error *err)
{
    int d = m->out_features, k = m->in_features, r = m->r;
    size_t dz = (size_t)d, kz = (size_t)k, rz = (size_t)r, lw = lsc_lowrank_svd_work_size(d, k, r, 1);
    double *B = malloc(dz * rz * sizeof *B), *A = malloc(rz * kz * sizeof *A), *w = malloc(lw * sizeof *w);
    int rc = LSC_OK;
    if (!A || !B || !w) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "out of memory");
    } else {
        ana_to_double(dz * rz, m->B, B);
        ana_to_double(rz * kz, m->A, A);
        rc = lsc_lowrank_svd(d, k, r, m->scaling, B, A, S, NULL, Vt, w, lw, err);
        double scale = fabs(m->scaling) * lsc_fro_norm(dz * rz, B) * lsc_fro_norm(rz * kz, A);
        *zero = !(S[0] > scale * (double)(d > k ? d : k) * DBL_EPSILON);
    }
    free(A);
    free(B);
    free(w);
    return rc;
}

/* φ(p, p) = ‖V1 V2ᵀ‖²_F / p of two (p, k) bases. */
static double phi_pp(int p, int k, const double *V1, const double *V2)
{
    double *G = malloc((size_t)p * (size_t)p * sizeof *G), *phi = malloc((size_t)p * (size_t)p * sizeof *phi);
    double v = NAN;
    if (G && phi) {
        lsc_subspace_gram(k, p, V1, p, V2, G);
        lsc_phi_grid(p, p, G, phi);
        v = phi[(size_t)p * (size_t)p - 1];
    }
    free(G);
    free(phi);
    return v;
}

/* One snapshot's numbers for one module (t = -1: the final basis only). */
typedef struct step_job {
    const char        *path;   /* the snapshot directory */
    const lsc_adapter *ad;
    traj              *tr;     /* (nm) */
    int                t;
} step_job;

static void step_task(void *ctx, int mi)
{
    step_job *j = ctx;
    traj *T = &j->tr[mi];
    if (T->rc != CLI_OK)
        return;
    const lsc_adapter_module *f = T->m;
    int i = lsc_adapter_find(j->ad, f->name);
    const lsc_adapter_module *m = i >= 0 ? &j->ad->modules[i] : NULL;
    if (!m || m->r != f->r || m->in_features != f->in_features || m->out_features != f->out_features) {
        T->rc = ana_msg_error(&T->msgs, "%s: module %s %s the final snapshot's (r %d, %d x %d)", j->path, f->name,
                              m ? "has another shape than" : "is missing: it is in", f->r, f->out_features,
                              f->in_features);
        return;
    }
    double *S = calloc((size_t)m->r, sizeof *S), *V = j->t < 0 ? T->Vf : T->Vt;
    lsc_error err = {0};
    int zero = 1, bad = m->n_nonfinite > 0;
    if (!S || (!bad && module_svd(m, S, V, &zero, &err) != LSC_OK)) {
        T->rc = ana_msg_error(&T->msgs, "%s: module %s: %s", j->path, m->name, S ? err.msg : "out of memory");
        free(S);
        return;
    }
    if (j->t < 0) {
        T->final_zero = zero || bad;
        T->prev_zero = 1;
        free(S);
        return;
    }
    double sum2 = 0.0;
    for (int q = 0; q < m->r; q++)
        sum2 += S[q] * S[q];
    int k = m->in_features, t = j->t;
    if (bad)
        ana_msg_warn(&T->msgs, "%s: module %s has %d NaN/Inf values: written as NaN", j->path, m->name,
                     m->n_nonfinite);
    T->norm[t] = bad ? NAN : sqrt(sum2);
    T->erank[t] = bad || zero ? NAN : ana_effective_rank(m->r, S);
    T->phi_final[t] = bad || zero || T->final_zero ? NAN : phi_pp(T->p, k, T->Vt, T->Vf);
    T->phi_prev[t] = bad || zero || T->prev_zero ? NAN : phi_pp(T->p, k, T->Vt, T->Vp);
    T->prev_zero = bad || zero;
    double *sw = T->Vp;   /* this one is the next one's previous */
    T->Vp = T->Vt;
    T->Vt = sw;
    free(S);
}

/* Loads snapshot t (-1: the final, i.e. the last) and runs step_task on every module. */
static int run_step(const char *cmd, const ana_opts *o, const snaps *S, traj *tr, int nm, int t)
{
    char path[PATH_MAX + 32];
    snap_path(S, t < 0 ? S->n - 1 : t, path, sizeof path);
    lsc_adapter ad;
    if (ana_load_adapter(cmd, path, &ad) != CLI_OK)
        return CLI_FAIL;
    step_job job = {path, &ad, tr, t};
    ana_run_tasks(o, nm, step_task, &job);
    lsc_adapter_free(&ad);
    int rc = CLI_OK;
    for (int mi = 0; mi < nm; mi++) {
        ana_msgs_flush(cmd, &tr[mi].msgs);
        tr[mi].msgs.len = 0;
        if (tr[mi].rc != CLI_OK)
            rc = tr[mi].rc;
    }
    return rc;
}

/* The first step from which φ to the final stays >= thr (NaN counts as below). */
static long settle_step(const snaps *S, const double *phi, double thr)
{
    int i = S->n;
    while (i > 0 && phi[i - 1] >= thr)
        i--;
    return i < S->n ? S->step[i] : -1;
}

static traj *alloc_traj(const lsc_adapter *fin, int n)
{
    int nm = fin->n_modules;
    traj *tr = calloc((size_t)(nm ? nm : 1), sizeof *tr);
    for (int mi = 0; tr && mi < nm; mi++) {
        const lsc_adapter_module *m = &fin->modules[mi];
        size_t rk = (size_t)m->r * (size_t)m->in_features;
        tr[mi].m = m;
        tr[mi].p = m->r < m->in_features ? (m->r < m->out_features ? m->r : m->out_features) : m->in_features;
        double *blk = calloc(4 * (size_t)n + 3 * rk, sizeof *blk);
        if (!blk) {
            tr[mi].rc = CLI_FAIL;
            continue;
        }
        tr[mi].norm = blk;
        tr[mi].erank = blk + n;
        tr[mi].phi_final = blk + 2 * (size_t)n;
        tr[mi].phi_prev = blk + 3 * (size_t)n;
        tr[mi].Vf = blk + 4 * (size_t)n;
        tr[mi].Vp = tr[mi].Vf + rk;
        tr[mi].Vt = tr[mi].Vp + rk;
    }
    return tr;
}

static void free_traj(traj *tr, int nm)
{
    for (int mi = 0; tr && mi < nm; mi++)
        free(tr[mi].norm);   /* the block's start */
    free(tr);
}

// ---- output ----

static int write_module(lsc_h5 *h, const snaps *S, const int *steps, const traj *T, double thr, lsc_error *err)
{
    const lsc_adapter_module *m = T->m;
    static const char *const ds[] = {"norm", "effective_rank", "phi_final", "phi_prev"};
    const double *val[] = {T->norm, T->erank, T->phi_final, T->phi_prev};
    char g[1200], p[1300];
    size_t n = (size_t)S->n;
    snprintf(g, sizeof g, "/modules/%s", m->name);
    snprintf(p, sizeof p, "%s/steps", g);
    int rc = lsc_h5_write_i32(h, p, n, steps, err);
    for (int i = 0; i < 4 && rc == LSC_OK; i++) {   /* units, definition: h5describe.c */
        snprintf(p, sizeof p, "%s/%s", g, ds[i]);
        rc = lsc_h5_write_f64(h, p, 1, &n, val[i], err);
    }
    if (rc == LSC_OK && (rc = ana_write_module_attrs(h, g, m, err)) == LSC_OK &&
        (rc = lsc_h5_attr_int(h, g, "layer", ana_tidy_layer(m->name), err)) == LSC_OK &&
        (rc = lsc_h5_attr_str(h, g, "proj", ana_tidy_proj(m->name), err)) == LSC_OK &&
        (rc = lsc_h5_attr_int(h, g, "rank", m->r, err)) == LSC_OK &&
        (rc = lsc_h5_attr_double(h, g, "scale", m->scaling, err)) == LSC_OK &&
        (rc = lsc_h5_attr_double(h, g, "settle_threshold", thr, err)) == LSC_OK)
        rc = lsc_h5_attr_int(h, g, "settle_step", T->settle_step, err);
    if (rc == LSC_OK)
        rc = lsc_h5_attr_str(h, g, "settle_definition", "first snapshot step t with phi_final >= "
                             "settle_threshold at t and every later snapshot (-1: none)", err);
    return rc;
}

/* Groups and table rows, in module order. */
static int write_all(const char *cmd, lsc_h5 *h, const snaps *S, const traj *tr, int nm, double thr)
{
    int *steps = malloc((size_t)S->n * sizeof *steps);
    lsc_error err = {0};
    int rc = steps ? LSC_OK : lsc_error_set(&err, LSC_ENOMEM, __FILE__, __LINE__, "out of memory");
    for (int i = 0; steps && i < S->n; i++)
        steps[i] = (int)S->step[i];
    if (rc == LSC_OK)
        rc = lsc_h5_write_i32(h, "/steps", (size_t)S->n, steps, &err);
    printf("%-48s %4s %12s %9s %10s %11s\n", "module", "r", "|dW|_final", "eff_rank", "phi_prev", "settle_step");
    for (int mi = 0; mi < nm && rc == LSC_OK; mi++) {
        const traj *T = &tr[mi];
        const char *nm_ = T->m->name;
        int l = S->n - 1;
        printf("%-48s %4d %12.6g %9.4f %10.4f %11ld\n", cli_safe(nm_), T->m->r, T->norm[l], T->erank[l],
               T->phi_prev[l], T->settle_step);
        rc = write_module(h, S, steps, T, thr, &err);
    }
    free(steps);
    return rc == LSC_OK ? CLI_OK : cli_lib_error(cmd, &err);
}

// ---- figures: one per layer ----

static int draw_layer(const char *cmd, const char *dir, const char *run_dir, const snaps *S, const traj *tr, int nm,
                      int layer)
{
    char name[64], outbase[64], names[4096] = "", base[300], vars[8192];
    snprintf(name, sizeof name, "trajectory_layer%d.dat", layer);
    snprintf(outbase, sizeof outbase, "trajectory_layer%d", layer);
    lsc_atomic tmp;
    FILE *fp = ana_data_open(cmd, dir, name, &tmp);
    if (!fp)
        return CLI_FAIL;
    fprintf(fp, "# lorascope trajectory (%s), layer %d: one block per module; columns: step phi_final norm\n",
            run_dir, layer);
    int nb = 0;
    for (int mi = 0; mi < nm; mi++) {
        if (ana_tidy_layer(tr[mi].m->name) != layer)
            continue;
        char w[200];
        ana_title_safe(ana_tidy_proj(tr[mi].m->name), w, sizeof w);
        for (char *c = w; *c; c++)
            *c = *c == ' ' ? '_' : *c;
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", nb ? " " : "", w);
        fprintf(fp, "%s# %s\n", nb++ ? "\n\n" : "", tr[mi].m->name);
        for (int t = 0; t < S->n; t++)
            fprintf(fp, "%ld %.17g %.17g\n", S->step[t], tr[mi].phi_final[t], tr[mi].norm[t]);
    }
    if (ana_data_close(cmd, &tmp) != CLI_OK)
        return CLI_FAIL;
    ana_basename(run_dir, base, sizeof base);
    snprintf(vars, sizeof vars, "datafile='%s/%s'; outbase='%s/%s'; nmod=%d; names='%s'; layer=%d; run='%s'; xmax=%ld",
             dir, name, dir, outbase, nb, names, layer, base, S->step[S->n - 1] > 0 ? S->step[S->n - 1] : 1);
    return ana_draw_figure(cmd, dir, "trajectory.gp", outbase, vars);
}

static int draw_all(const char *cmd, const char *dir, const char *run_dir, const snaps *S, const traj *tr, int nm)
{
    for (int mi = 0; mi < nm; mi++) {
        int layer = ana_tidy_layer(tr[mi].m->name), seen = 0;
        for (int j = 0; j < mi; j++)
            seen |= ana_tidy_layer(tr[j].m->name) == layer;
        if (!seen && draw_layer(cmd, dir, run_dir, S, tr, nm, layer) != CLI_OK)
            return CLI_FAIL;
    }
    return CLI_OK;
}

// ---- the run ----

static int run_trajectory(const char *cmd, const char *run_dir, const ana_opts *o, double thr, const snaps *S,
                          const lsc_adapter *fin, double t0)
{
    int nm = fin->n_modules, rc = CLI_OK;
    traj *tr = alloc_traj(fin, S->n);
    lsc_h5 *h = NULL;
    for (int mi = 0; tr && mi < nm; mi++)
        rc = tr[mi].rc != CLI_OK ? CLI_FAIL : rc;
    if (!tr || rc != CLI_OK) {
        rc = cli_error(cmd, CLI_FAIL, "out of memory");
        goto done;
    }
    printf("%s: %d snapshots (steps %ld..%ld), %d modules\n", S->dir, S->n, S->step[0], S->step[S->n - 1], nm);
    for (int t = -1; t < S->n && rc == CLI_OK; t++)
        rc = run_step(cmd, o, S, tr, nm, t);
    if (rc != CLI_OK || (rc = ana_output_create(cmd, o, &h)) != CLI_OK)
        goto done;
    for (int mi = 0; mi < nm; mi++)
        tr[mi].settle_step = settle_step(S, tr[mi].phi_final, thr);
    if ((rc = write_all(cmd, h, S, tr, nm, thr)) != CLI_OK)
        goto done;
    lsc_h5_input in[1] = {{"snapshots", S->dir}};
    lsc_h5_param ps[] = {ANA_COMMON_PARAMS(*o),
                         {"settle", LSC_H5_DOUBLE, NULL, 0, thr},
                         {"n_snapshots", LSC_H5_INT, NULL, S->n, 0},
                         {"final_step", LSC_H5_INT, NULL, S->step[S->n - 1], 0},
                         {"n_modules", LSC_H5_INT, NULL, nm, 0}};
    if ((rc = ana_output_commit(cmd, o, &h, t0, 1, in, NULL, (int)(sizeof ps / sizeof ps[0]), ps)) != CLI_OK)
        goto done;
    if (o->plots && (rc = draw_all(cmd, o->plots, run_dir, S, tr, nm)) != CLI_OK)
        goto done;
    rc = ana_finish(cmd, o, nm, 0, t0);
done:
    lsc_h5_abort(h);
    free_traj(tr, nm);
    return rc;
}

int cmd_trajectory(int argc, char **argv)
{
    const char *cmd = "trajectory";
    double t0 = cli_now();
    cli_opt opts[] = {ANA_COMMON_OPTS, {"settle", 1, NULL}, {NULL, 0, NULL}};
    const char *pos[1];
    int npos = 0, help = 0, bad = 0;
    int rc = ana_parse_args(cmd, USAGE, argc, argv, opts, pos, 1, &npos, &help);
    if (rc != CLI_OK || help)
        return rc;
    if (npos != 1)
        return cli_error(cmd, CLI_USAGE, "expected one RUN_DIR (the train -o directory)");
    double thr = cli_double(opts, "settle", 0.9, &bad);
    if (bad)
        return CLI_USAGE;
    if (!(thr > 0.0 && thr <= 1.0))
        return cli_error(cmd, CLI_USAGE, "--settle must be in (0, 1] (got %g)", thr);
    ana_opts o;
    if ((rc = ana_common_opts(cmd, opts, &o)) != CLI_OK)
        return rc;
    snaps S;
    memset(&S, 0, sizeof S);
    lsc_adapter fin;
    memset(&fin, 0, sizeof fin);
    char path[PATH_MAX + 32];
    if ((rc = find_snaps(cmd, pos[0], &S)) == CLI_OK) {
        snap_path(&S, S.n - 1, path, sizeof path);
        if ((rc = ana_load_adapter(cmd, path, &fin)) == CLI_OK) {
            if (fin.n_modules == 0)
                rc = cli_error(cmd, CLI_FAIL, "%s: no LoRA modules", path);
            else
                rc = run_trajectory(cmd, pos[0], &o, thr, &S, &fin, t0);
            lsc_adapter_free(&fin);
        }
    }
    free(S.step);
    return rc;
}
