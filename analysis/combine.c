/*
 * combine.c — `lorascope combine A1[:w1] A2[:w2] ... -o OUT_DIR [--rank K]`: the weighted
 * sum dW = Σ_i w_i·s_i·B_i·A_i of adapters trained on the same base, as one PEFT adapter.
 *
 * Without --rank the result is exact: per module B = [w1·s1·B1 | w2·s2·B2 | ...] (d, Σ r_i)
 * and A = [A1; A2; ...] (Σ r_i, k), lora_alpha = r = Σ r_i (scale 1). With --rank K it is
 * re-compressed to its best rank-K approximation (lib/lowrank.c: the truncated SVD of the
 * concatenated factors, never the dense matrix) and the error is reported. Inputs' scales
 * (alpha/r or rsLoRA, after rank_pattern / alpha_pattern) are folded in.
 *
 * Interference of the inputs, per module and pair (i, j), from the factors only:
 *   cosine   <dW_i, dW_j>_F / (‖dW_i‖_F ‖dW_j‖_F), from traces of small Gram matrices
 *            (lsc_lowrank_inner), so ±1 for parallel updates and 0 for orthogonal ones;
 *   phi11_in / phi11_out   φ(1, 1) = (v_i·v_j)² of the top right (input) / left (output)
 *            singular vectors of dW_i and dW_j (1: the same top direction; E ≈ 1/k at random);
 *   phi_in   φ(p, p), p = min(r_i, r_j): ‖V_iᵀV_j‖²_F / p over the inputs' whole row spaces.
 *
 * OUT_DIR: adapter_config.json, adapter_model.safetensors and combine.h5 (one step):
 *   /modules/<module>/singular_values (of the combined dW), cosine, phi11_in, phi11_out,
 *   phi_in (N, N) and attributes in_features, out_features, rank, delta_fro,
 *   rel_fro_error, rel_spectral_error (0 without --rank); root: inputs, weights, rank.
 *
 * What it is not: TIES/DARE or any other merge rule with sign election or pruning; a base
 * check (the inputs' base_model_name_or_path is compared, a difference is a warning).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis_common.h"
#include "cli.h"
#include "commands.h"
#include "surgery.h"
#include "tidy.h"

#define CB_MAX_INPUTS 16

static const char *USAGE =
    "usage: lorascope combine A1[:w1] A2[:w2] ... -o OUT_DIR [--rank K] [--threads N]\n"
    "                         [--csv FILE] [--json]\n"
    "\n"
    "The weighted sum dW = sum_i w_i s_i B_i A_i of adapters on the same base (weights\n"
    "default 1, negative allowed) as a PEFT adapter. Exact without --rank (factors\n"
    "concatenated: rank r1 + r2 + ...); with --rank K the best rank-K approximation of the\n"
    "sum, its errors printed. Also per module the interference of the inputs: the cosine of\n"
    "their dWs and phi(1,1) between their top singular directions (OUT_DIR/combine.h5).\n"
    "Modules and shapes must match.\n"
    "\n"
    "  A[:w]              an adapter directory and its weight (the part after the last\n"
    "                     ':' when it is a number)\n"
    "  -o, --output DIR   the adapter directory (replaced in one step when complete)\n"
    "  --rank K           re-compress each module to rank K (default: exact)\n"
    "  --threads N        threads (default: all cores): modules run in parallel\n"
    "  --csv FILE         also write the numbers as a tidy CSV table\n"
    "  --json             print one JSON object as the last line of stdout\n"
    "  -h, --help         this text\n"
    "\n"
    "examples:\n"
    "  lorascope combine style_lora:0.7 task_lora:1 -o combined\n"
    "  lorascope combine a b --rank 16 -o ab_r16\n";

typedef struct cb_result {
    double  *sv, *cos, *phi11_in, *phi11_out, *phi_in;   /* sv (n_sv); the rest (N, N) */
    int      n_sv, rc;
    double   fro, rel_fro, rel_spec;
    ana_msgs msgs;
} cb_result;

typedef struct cb_job {
    int                 n_in;
    const char         *paths[CB_MAX_INPUTS];
    double              w[CB_MAX_INPUTS];
    lsc_adapter         in[CB_MAX_INPUTS];
    const lsc_adapter_module **mods;   /* (n_modules, n_in): module i of input a at [i·n_in + a] */
    lsc_adapter         out;
    cb_result          *res;
    long                rank;          /* 0: exact */
} cb_job;

// ---- one module ----

/* The top singular triplet frames of every input: U_a (d, r_a) and Vt_a (r_a, k) into U[a], V[a]. */
static int cb_frames(const cb_job *j, int i, double **U, double **V, cb_result *res)
{
    for (int a = 0; a < j->n_in; a++) {
        const lsc_adapter_module *m = j->mods[(size_t)i * (size_t)j->n_in + (size_t)a];
        int d = m->out_features, k = m->in_features, r = m->r;
        size_t lw = lsc_lowrank_svd_work_size(d, k, r, 1), dr = (size_t)d * (size_t)r, rk = (size_t)r * (size_t)k;
        double *w = malloc((lw + dr + rk + (size_t)r) * sizeof *w);
        U[a] = malloc(dr * sizeof **U);
        V[a] = malloc(rk * sizeof **V);
        if (!w || !U[a] || !V[a]) {
            free(w);
            return ana_msg_error(&res->msgs, "out of memory for module %s", cli_safe(m->name));
        }
        double *Bd = w + lw, *Ad = Bd + dr, *S = Ad + rk;
        ana_to_double(dr, m->B, Bd);
        ana_to_double(rk, m->A, Ad);
        lsc_error err = {0};
        int rc = lsc_lowrank_svd(d, k, r, m->scaling, Bd, Ad, S, U[a], V[a], w, lw, &err);
        free(w);
        if (rc != LSC_OK)
            return ana_msg_error(&res->msgs, "%s: module %s: %s", j->paths[a], cli_safe(m->name), err.msg);
    }
    return CLI_OK;
}

/* cosine and φ of every pair of inputs for module i. */
static int cb_interference(const cb_job *j, int i, cb_result *res)
{
    int N = j->n_in, rc = CLI_OK;
    double *U[CB_MAX_INPUTS] = {0}, *V[CB_MAX_INPUTS] = {0}, norm[CB_MAX_INPUTS];
    const lsc_adapter_module *const *mm = j->mods + (size_t)i * (size_t)N;
    int d = mm[0]->out_features, k = mm[0]->in_features, rmax = 1;
    for (int a = 0; a < N; a++)
        rmax = mm[a]->r > rmax ? mm[a]->r : rmax;
    size_t rr = (size_t)rmax * (size_t)rmax;
    double *w = malloc((lsc_lowrank_inner_work_size(rmax, rmax) + 2 * rr) * sizeof *w);
    double *G = w ? w + lsc_lowrank_inner_work_size(rmax, rmax) : NULL, *phi = G ? G + rr : NULL;
    if (!w)
        rc = ana_msg_error(&res->msgs, "out of memory for module %s", cli_safe(mm[0]->name));
    if (rc == CLI_OK)
        rc = cb_frames(j, i, U, V, res);
    for (int a = 0; a < N && rc == CLI_OK; a++)
        norm[a] = sqrt(fmax(0.0, lsc_lowrank_inner(d, k, mm[a]->r, mm[a]->scaling, mm[a]->B, mm[a]->A, mm[a]->r,
                                                   mm[a]->scaling, mm[a]->B, mm[a]->A, w)));
    for (int a = 0; a < N && rc == CLI_OK; a++)
        for (int b = 0; b < N; b++) {
            const lsc_adapter_module *ma = mm[a], *mb = mm[b];
            double in = lsc_lowrank_inner(d, k, ma->r, ma->scaling, ma->B, ma->A, mb->r, mb->scaling, mb->B,
                                          mb->A, w);
            size_t ab = (size_t)a * (size_t)N + (size_t)b;
            res->cos[ab] = norm[a] > 0 && norm[b] > 0 ? in / (norm[a] * norm[b]) : NAN;
            double go = 0.0;
            for (size_t t = 0; t < (size_t)d; t++)   /* top left singular vectors: columns 0 of U */
                go += U[a][t * (size_t)ma->r] * U[b][t * (size_t)mb->r];
            /* the row spaces: G = V_aᵀV_b, φ(i, j) by lsc_phi_grid; φ(1, 1) and φ(p, p), p = min(r_a, r_b) */
            lsc_subspace_gram(k, ma->r, V[a], mb->r, V[b], G);
            lsc_phi_grid(ma->r, mb->r, G, phi);
            int p = ma->r < mb->r ? ma->r : mb->r;
            res->phi11_in[ab] = phi[0];
            res->phi11_out[ab] = go * go;
            res->phi_in[ab] = phi[(size_t)(p - 1) * (size_t)mb->r + (size_t)(p - 1)];
        }
    for (int a = 0; a < N; a++) {
        free(U[a]);
        free(V[a]);
    }
    free(w);
    return rc;
}

/* The combined factors of module i (exact), and its spectrum and errors (truncated to --rank). */
static int cb_combine(cb_job *j, int i, cb_result *res)
{
    int N = j->n_in, R = 0;
    const lsc_adapter_module *const *mm = j->mods + (size_t)i * (size_t)N;
    int d = mm[0]->out_features, k = mm[0]->in_features;
    for (int a = 0; a < N; a++)
        R += mm[a]->r;
    size_t dR = (size_t)d * (size_t)R, Rk = (size_t)R * (size_t)k, lw = lsc_lowrank_truncate_work_size(d, k, R);
    float *B = malloc(dR * sizeof *B), *A = malloc(Rk * sizeof *A), *Bk = malloc(dR * sizeof *Bk),
          *Ak = malloc(Rk * sizeof *Ak);
    double *w = malloc(lw * sizeof *w);
    res->sv = malloc((size_t)R * sizeof *res->sv);
    int rc = CLI_OK, K = 0;
    lsc_error err = {0};
    if (!B || !A || !Bk || !Ak || !w || !res->sv) {
        rc = ana_msg_error(&res->msgs, "out of memory for module %s", cli_safe(mm[0]->name));
        goto done;
    }
    for (int a = 0, c0 = 0; a < N; c0 += mm[a]->r, a++) {   /* B = [w_a s_a B_a | ...], A = [A_a; ...] */
        const lsc_adapter_module *m = mm[a];
        float f = (float)(j->w[a] * m->scaling);
        for (size_t r = 0; r < (size_t)d; r++)
            for (size_t c = 0; c < (size_t)m->r; c++)
                B[r * (size_t)R + (size_t)c0 + c] = f * m->B[r * (size_t)m->r + c];
        memcpy(A + (size_t)c0 * (size_t)k, m->A, (size_t)m->r * (size_t)k * sizeof *A);
    }
    double keep = j->rank > 0 ? (double)j->rank : (double)R;
    if (lsc_lowrank_truncate(d, k, R, 1.0, B, A, LSC_RANK_RULE_FIXED, keep, &K, res->sv, Bk, Ak, w, lw, &err)
        != LSC_OK) {
        rc = ana_msg_error(&res->msgs, "module %s: %s", cli_safe(mm[0]->name), err.msg);
        goto done;
    }
    res->n_sv = R < d ? (R < k ? R : k) : (d < k ? d : k);
    int Kout = j->rank > 0 ? K : R;
    lsc_truncation_errors(res->n_sv, res->sv, Kout, &res->rel_fro, &res->rel_spec, &res->fro);
    if (surg_module_init(&j->out.modules[i], mm[0]->name, d, k, Kout) != 0) {
        rc = ana_msg_error(&res->msgs, "out of memory for module %s", cli_safe(mm[0]->name));
        goto done;
    }
    memcpy(j->out.modules[i].B, j->rank > 0 ? Bk : B, (size_t)d * (size_t)Kout * sizeof *B);
    memcpy(j->out.modules[i].A, j->rank > 0 ? Ak : A, (size_t)Kout * (size_t)k * sizeof *A);
done:
    free(B);
    free(A);
    free(Bk);
    free(Ak);
    free(w);
    return rc;
}

static void cb_task(void *ctx, int i)
{
    cb_job *j = ctx;
    cb_result *res = &j->res[i];
    size_t nn = (size_t)j->n_in * (size_t)j->n_in;
    res->cos = malloc(4 * nn * sizeof *res->cos);
    if (!res->cos) {
        res->rc = ana_msg_error(&res->msgs, "out of memory");
        return;
    }
    res->phi11_in = res->cos + nn;
    res->phi11_out = res->phi11_in + nn;
    res->phi_in = res->phi11_out + nn;
    res->rc = cb_combine(j, i, res);
    if (res->rc == CLI_OK)
        res->rc = cb_interference(j, i, res);
}

// ---- inputs ----

/* "PATH[:w]": the weight when the part after the last ':' is a finite number, else 1. */
static void cb_split(const char *spec, char *path, size_t n, double *w)
{
    snprintf(path, n, "%s", spec);
    *w = 1.0;
    char *colon = strrchr(path, ':');
    if (!colon || !colon[1])
        return;
    char *end;
    double v = strtod(colon + 1, &end);
    if (*end == '\0' && isfinite(v)) {
        *w = v;
        *colon = '\0';
    }
}

/* Every input has the modules of the first with the same shapes (one line otherwise). */
static int cb_match(cb_job *j)
{
    const lsc_adapter *a0 = &j->in[0];
    int n = a0->n_modules, N = j->n_in;
    j->mods = malloc((size_t)n * (size_t)N * sizeof *j->mods);
    if (!j->mods)
        return cli_error("combine", CLI_FAIL, "out of memory");
    for (int a = 1; a < N; a++)
        if (j->in[a].n_modules != n)
            return cli_error("combine", CLI_FAIL, "%s: %d modules, but %s has %d: the modules must match",
                             j->paths[a], j->in[a].n_modules, j->paths[0], n);
    for (int i = 0; i < n; i++)
        for (int a = 0; a < N; a++) {
            const lsc_adapter_module *m0 = &a0->modules[i];
            int t = a ? lsc_adapter_find(&j->in[a], m0->name) : i;
            if (t < 0)
                return cli_error("combine", CLI_FAIL, "%s: no module %s (in %s): the modules must match",
                                 j->paths[a], cli_safe(m0->name), j->paths[0]);
            const lsc_adapter_module *m = &j->in[a].modules[t];
            if (m->out_features != m0->out_features || m->in_features != m0->in_features)
                return cli_error("combine", CLI_FAIL, "%s: module %s is %d x %d, but %d x %d in %s",
                                 j->paths[a], cli_safe(m->name), m->out_features, m->in_features,
                                 m0->out_features, m0->in_features, j->paths[0]);
            j->mods[(size_t)i * (size_t)N + (size_t)a] = m;
        }
    for (int a = 1; a < N; a++) {
        const char *b0 = a0->base_model ? a0->base_model : "", *b = j->in[a].base_model ? j->in[a].base_model : "";
        if (strcmp(b0, b) != 0)
            cli_warn("combine", "%s: base_model_name_or_path '%s' differs from %s's '%s'", j->paths[a],
                     cli_safe(b), j->paths[0], cli_safe(b0));
    }
    return CLI_OK;
}

// ---- outputs ----

typedef struct cb_out {
    const cb_job   *job;
    const ana_opts *ao;
    double          t0;
} cb_out;

static int cb_write_module(lsc_h5 *h, const lsc_adapter_module *m, const cb_result *res, int N, lsc_error *err)
{
    char g[1100], p[1200];
    snprintf(g, sizeof g, "/modules/%s", m->name);
    size_t d1[1] = {(size_t)res->n_sv}, d2[2] = {(size_t)N, (size_t)N};
    const char *names[4] = {"cosine", "phi11_in", "phi11_out", "phi_in"};
    const double *vals[4] = {res->cos, res->phi11_in, res->phi11_out, res->phi_in};
    snprintf(p, sizeof p, "%s/singular_values", g);
    if (lsc_h5_write_f64(h, p, 1, d1, res->sv, err) != LSC_OK)
        return err->code;
    for (int q = 0; q < 4; q++) {
        snprintf(p, sizeof p, "%s/%s", g, names[q]);
        if (lsc_h5_write_f64(h, p, 2, d2, vals[q], err) != LSC_OK)
            return err->code;
    }
    if (lsc_h5_attr_int(h, g, "in_features", m->in_features, err) != LSC_OK ||
        lsc_h5_attr_int(h, g, "out_features", m->out_features, err) != LSC_OK ||
        lsc_h5_attr_int(h, g, "rank", m->r, err) != LSC_OK ||
        lsc_h5_attr_double(h, g, "delta_fro", res->fro, err) != LSC_OK ||
        lsc_h5_attr_double(h, g, "rel_fro_error", res->rel_fro, err) != LSC_OK ||
        lsc_h5_attr_double(h, g, "rel_spectral_error", res->rel_spec, err) != LSC_OK)
        return err->code;
    return LSC_OK;
}

static int cb_write_extra(void *ctx, const char *dir)
{
    const cb_out *o = ctx;
    const cb_job *j = o->job;
    lsc_error err = {0};
    char path[4200], wl[CB_MAX_INPUTS * 32] = "", names[CB_MAX_INPUTS][24];
    snprintf(path, sizeof path, "%s/combine.h5", dir);
    lsc_h5 *h = NULL;
    if (lsc_h5_create(&h, path, &err) != LSC_OK)
        return cli_lib_error("combine", &err);
    for (int i = 0; i < j->out.n_modules; i++)
        if (cb_write_module(h, &j->out.modules[i], &j->res[i], j->n_in, &err) != LSC_OK)
            goto fail;
    lsc_h5_input inputs[CB_MAX_INPUTS];
    for (int a = 0; a < j->n_in; a++) {
        snprintf(names[a], sizeof names[a], "adapter%d", a + 1);
        inputs[a].role = names[a];
        inputs[a].path = j->paths[a];
        snprintf(wl + strlen(wl), sizeof wl - strlen(wl), "%s%.17g", a ? "," : "", j->w[a]);
    }
    lsc_h5_param params[4] = {{"weights", LSC_H5_STR, wl, 0, 0},
                              {"rank", LSC_H5_INT, NULL, j->rank, 0},
                              {"threads", LSC_H5_INT, NULL, o->ao->threads, 0},
                              {"n_modules", LSC_H5_INT, NULL, j->out.n_modules, 0}};
    if (ana_write_provenance(h, o->t0, j->n_in, inputs, 4, params, &err) != LSC_OK ||
        ana_output_describe("combine", o->ao, h, &err) != LSC_OK)
        goto fail;
    return lsc_h5_commit(h, &err) == LSC_OK ? CLI_OK : cli_lib_error("combine", &err);
fail:
    lsc_h5_abort(h);
    return cli_lib_error("combine", &err);
}

// ---- the command ----

static void cb_report(const cb_job *j, const char *out, double t0)
{
    int N = j->n_in;
    for (int i = 0; i < j->out.n_modules; i++) {
        const cb_result *res = &j->res[i];
        printf("  %-40s r=%-4d cos(1,2) %+.4f  phi11_in(1,2) %.4f  phi11_out(1,2) %.4f", cli_safe(j->out.modules[i].name),
               j->out.modules[i].r, res->cos[1], res->phi11_in[1], res->phi11_out[1]);
        if (j->rank > 0)
            printf("  rel_fro_error %.6g  rel_spectral_error %.6g", res->rel_fro, res->rel_spec);
        printf("\n");
    }
    printf("combine: %s: %d adapters, %d modules, %s (%.2f s)\n", out, N,
           j->out.n_modules, j->rank > 0 ? "re-compressed" : "exact", cli_now() - t0);
}

static int run_combine(cb_job *j, const ana_opts *ao)
{
    double t0 = cli_now();
    int rc = CLI_OK, n = j->in[0].n_modules;
    if ((rc = cb_match(j)) != CLI_OK)
        return rc;
    j->res = calloc((size_t)n, sizeof *j->res);
    j->out.modules = calloc((size_t)n, sizeof *j->out.modules);
    if (!j->res || !j->out.modules)
        return cli_error("combine", CLI_FAIL, "out of memory");
    j->out.n_modules = n;
    ana_run_tasks(ao, n, cb_task, j);
    for (int i = 0; i < n; i++) {
        ana_msgs_flush("combine", &j->res[i].msgs);
        if (rc == CLI_OK)
            rc = j->res[i].rc;
    }
    cb_out co = {j, ao, t0};
    if (rc == CLI_OK && (rc = surg_config("combine", &j->out, &j->in[0])) == CLI_OK &&
        (rc = surg_publish("combine", &j->out, ao->output, cb_write_extra, &co)) == CLI_OK) {
        cb_report(j, ao->output, t0);
        rc = ana_finish("combine", ao, n, 0, t0);
    }
    return rc;
}

static void cb_free(cb_job *j)
{
    for (int i = 0; j->res && i < j->out.n_modules; i++) {
        free(j->res[i].sv);
        free(j->res[i].cos);
    }
    free(j->res);
    free((void *)j->mods);
    lsc_adapter_free(&j->out);
    for (int a = 0; a < j->n_in; a++)
        lsc_adapter_free(&j->in[a]);
}

int cmd_combine(int argc, char **argv)
{
    cli_opt opts[] = {ANA_COMMON_OPTS, {"rank", 1, NULL}, {NULL, 0, NULL}};
    const char *pos[CB_MAX_INPUTS + 1];
    static char paths[CB_MAX_INPUTS][4096];
    int npos = 0, help = 0, bad = 0;
    int rc = ana_parse_args("combine", USAGE, argc, argv, opts, pos, CB_MAX_INPUTS + 1, &npos, &help);
    if (rc != CLI_OK || help)
        return rc;
    if (npos < 2 || npos > CB_MAX_INPUTS)
        return cli_error("combine", CLI_USAGE, "need 2 to %d adapters, got %d", CB_MAX_INPUTS, npos);
    if (cli_get(opts, "plots") || cli_get(opts, "module"))
        return cli_error("combine", CLI_USAGE, "no --plots or --module here");
    static cb_job j;
    memset(&j, 0, sizeof j);
    j.rank = cli_long(opts, "rank", 0, &bad);
    if (bad)
        return CLI_USAGE;
    if (cli_get(opts, "rank") && (j.rank < 1 || j.rank > 1000000))
        return cli_error("combine", CLI_USAGE, "--rank %ld: must be a positive integer", j.rank);
    ana_opts ao;
    if ((rc = ana_common_opts("combine", opts, &ao)) != CLI_OK)
        return rc;
    for (int a = 0; a < npos && rc == CLI_OK; a++) {
        cb_split(pos[a], paths[a], sizeof paths[a], &j.w[a]);
        j.paths[a] = paths[a];
        if ((rc = ana_load_adapter("combine", paths[a], &j.in[a])) == CLI_OK) {
            j.n_in = a + 1;
            rc = surg_check_kinds("combine", paths[a], &j.in[a]);
        }
    }
    if (rc == CLI_OK)
        rc = run_combine(&j, &ao);
    cb_free(&j);
    return rc;
}
