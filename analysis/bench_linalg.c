/*
 * bench_linalg.c — `lorascope bench lowrank|phi|table7`: the linear algebra
 * of the analyses (lib/linalg.c) timed against its dense or naive
 * reference: dW's spectrum by the low-rank path vs a dense SVD, the φ grid
 * part by part vs its definition, and Table 7's top-r of W by the top-k
 * methods vs a full SVD. Not the command or the timing (bench.c); nothing
 * here asserts a speed.
 *
 * Shape vocabulary: d rows, k columns (in features), r rank; r1, r2 the
 * two subspaces' dimensions.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <cblas.h>

#include "bench.h"

// ---- lowrank: spectrum of dW = s·B·A, low-rank path vs dense SVD ----

typedef struct lowrank_ctx {
    int d, k, r, dense, want;
    double s;
    const double *B, *A;
    double *S, *U, *Vt, *work;
    size_t lwork;
    lsc_error err;
} lowrank_ctx;

static int lowrank_run(void *p)
{
    lowrank_ctx *c = p;
    if (c->dense)
        return lsc_lowrank_svd_dense(c->d, c->k, c->r, c->s, c->B, c->A, c->S,
                                     c->want ? c->U : NULL, c->want ? c->Vt : NULL, c->work,
                                     c->lwork, &c->err) != LSC_OK;
    return lsc_lowrank_svd(c->d, c->k, c->r, c->s, c->B, c->A, c->S, c->want ? c->U : NULL,
                           c->want ? c->Vt : NULL, c->work, c->lwork, &c->err) != LSC_OK;
}

int bench_lowrank_(const bench_opts *bo)
{
    static const int DS[] = {768, 1024, 4096}, QDS[] = {256};
    static const int RS[] = {8, 64};
    const int *ds = bo->quick ? QDS : DS;
    int nd = bo->quick ? 1 : 3;
    bench_run run;
    bench_begin_(&run, bo);
    int rc = CLI_OK;
    printf("Spectrum of dW = s*B*A (dxd, values only): low-rank path vs dense LAPACK SVD,\n"
           "%d thread%s, median of %d after a warm-up (dense at d >= 4096: 1 run, no warm-up)\n\n",
           bo->threads, bo->threads == 1 ? "" : "s", bo->reps);
    printf("  %5s %3s %12s %12s %12s %10s %10s %12s\n", "d", "r", "lowrank_ms", "+vectors_ms",
           "dense_ms", "speedup", "sp_min", "max_rel_diff");
    for (int di = 0; di < nd && rc == CLI_OK; di++) {
        for (int ri = 0; ri < 2 && rc == CLI_OK; ri++) {
            int d = ds[di], k = ds[di], r = RS[ri];
            size_t dz = (size_t)d, kz = (size_t)k, rz = (size_t)r;
            double *B = malloc(dz * rz * sizeof *B), *A = malloc(rz * kz * sizeof *A);
            double *S1 = malloc(rz * sizeof *S1), *S2 = malloc(rz * sizeof *S2);
            double *U = malloc(dz * rz * sizeof *U), *Vt = malloc(rz * kz * sizeof *Vt);
            size_t lw1 = lsc_lowrank_svd_work_size(d, k, r, 1);
            size_t lw2 = lsc_lowrank_svd_dense_work_size(d, k, r, 0);
            double *w1 = malloc(lw1 * sizeof *w1), *w2 = malloc(lw2 * sizeof *w2);
            if (!B || !A || !S1 || !S2 || !U || !Vt || !w1 || !w2) {
                rc = cli_error("bench", CLI_FAIL, "lowrank: out of memory at d = %d", d);
                goto next;
            }
            /* PEFT-like factors: A Kaiming-scale rows, B small */
            bench_fill_gauss_d_(A, rz * kz, 1.0 / sqrt((double)k), &run.rng);
            bench_fill_gauss_d_(B, dz * rz, 0.02, &run.rng);
            lowrank_ctx lo = {d, k, r, 0, 0, 16.0 / r, B, A, S1, U, Vt, w1, lw1, {0}};
            lowrank_ctx lv = lo;
            lv.want = 1;
            lowrank_ctx de = {d, k, r, 1, 0, 16.0 / r, B, A, S2, NULL, NULL, w2, lw2, {0}};
            stat3 slo, svec, sde;
            int big = d >= 4096;
            int inner = bench_calibrate_(lowrank_run, &lo, bo->quick ? 0.002 : 0.02);
            if ((rc = bench_time_(lowrank_run, &lo, &lo.err, 1, bo->reps, inner, &slo)) != CLI_OK ||
                (rc = bench_time_(lowrank_run, &lv, &lv.err, 1, bo->reps, inner, &svec)) != CLI_OK ||
                (rc = bench_time_(lowrank_run, &de, &de.err, big ? 0 : 1, big ? 1 : bo->reps, 1,
                                &sde)) != CLI_OK)
                goto next;
            double maxrel = 0.0;
            for (int i = 0; i < r; i++)
                maxrel = fmax(maxrel, bench_rel_diff_(S1[i], S2[i]));
            printf("  %5d %3d %12.3f %12.3f %12.1f %9.0fx %9.0fx %12.2e\n", d, r, 1e3 * slo.med,
                   1e3 * svec.med, 1e3 * sde.med, sde.med / slo.med, sde.min / slo.max, maxrel);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "d", d);
            cJSON_AddNumberToObject(e, "k", k);
            cJSON_AddNumberToObject(e, "r", r);
            bench_json_stat_ms_(e, "lowrank", slo);
            bench_json_stat_ms_(e, "lowrank_vectors", svec);
            bench_json_stat_ms_(e, "dense", sde);
            cJSON_AddNumberToObject(e, "dense_reps", big ? 1 : bo->reps);
            cJSON_AddNumberToObject(e, "speedup", sde.med / slo.med);
            cJSON_AddNumberToObject(e, "speedup_min", sde.min / slo.max);
            cJSON_AddNumberToObject(e, "speedup_max", sde.max / slo.min);
            cJSON_AddNumberToObject(e, "max_rel_diff", maxrel);
            cJSON_AddNumberToObject(e, "sigma_1", S2[0]);
            cJSON_AddNumberToObject(e, "sigma_r", S2[r - 1]);
            cJSON_AddItemToArray(run.arr, e);
next:
            free(B); free(A); free(S1); free(S2); free(U); free(Vt); free(w1); free(w2);
        }
    }
    printf("\n  max_rel_diff = max_i |sigma_i(lowrank) - sigma_i(dense)| / sigma_i over the r values\n");
    return bench_end_(&run, "lowrank", "cases", bo, rc);
}

// ---- phi: the subspace similarity grid, r1 = 8 vs r2 = 64 at d = 1024 ----

typedef struct phi_ctx {
    int k, r1, r2;
    const double *A1, *A2;           /* (r1, k), (r2, k) */
    double *S, *Vt1, *Vt2, *G, *phi, *deg, *Q1, *Q2, *Qt1, *Qt2, *Gr, *phir;
    double *work;
    size_t lwork;
    int part;                        /* which part to time, see phi_run */
    uint64_t seed;
    lsc_error err;
} phi_ctx;

enum { PHI_SVD, PHI_GRAM, PHI_GRID, PHI_ANGLES, PHI_RANDOM, PHI_ALL, PHI_NAIVE };

static void transpose_d(int n, int p, const double *Q, double *Qt)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < p; j++)
            Qt[(size_t)j * n + i] = Q[(size_t)i * p + j];
}

/* φ by its definition, every (i, j) separately: the oracle. */
static void phi_naive(int k, int r1, const double *Vt1, int r2, const double *Vt2, double *phi)
{
    for (int i = 1; i <= r1; i++)
        for (int j = 1; j <= r2; j++) {
            double ss = 0.0;
            for (int a = 0; a < i; a++)
                for (int b = 0; b < j; b++) {
                    double g = 0.0;
                    for (int t = 0; t < k; t++)
                        g += Vt1[(size_t)a * k + t] * Vt2[(size_t)b * k + t];
                    ss += g * g;
                }
            phi[(size_t)(i - 1) * r2 + (j - 1)] = ss / (i < j ? i : j);
        }
}

static int phi_run(void *p)
{
    phi_ctx *c = p;
    int all = c->part == PHI_ALL;
    if (all || c->part == PHI_SVD) {
        if (lsc_svd(c->r1, c->k, c->A1, c->S, NULL, c->Vt1, c->work, c->lwork, &c->err) ||
            lsc_svd(c->r2, c->k, c->A2, c->S, NULL, c->Vt2, c->work, c->lwork, &c->err))
            return 1;
    }
    if (all || c->part == PHI_GRAM)
        lsc_subspace_gram(c->k, c->r1, c->Vt1, c->r2, c->Vt2, c->G);
    if (all || c->part == PHI_GRID)
        lsc_phi_grid(c->r1, c->r2, c->G, c->phi);
    if (all || c->part == PHI_ANGLES)
        if (lsc_principal_angles(c->r1, c->r2, c->G, c->deg, c->work, c->lwork, &c->err))
            return 1;
    if (all || c->part == PHI_RANDOM) {
        uint64_t rng;
        lsc_rng_seed(&rng, c->seed);
        if (lsc_random_orthonormal(c->k, c->r1, &rng, c->Q1, c->work, c->lwork, &c->err) ||
            lsc_random_orthonormal(c->k, c->r2, &rng, c->Q2, c->work, c->lwork, &c->err))
            return 1;
        transpose_d(c->k, c->r1, c->Q1, c->Qt1);
        transpose_d(c->k, c->r2, c->Q2, c->Qt2);
        lsc_subspace_gram(c->k, c->r1, c->Qt1, c->r2, c->Qt2, c->Gr);
        lsc_phi_grid(c->r1, c->r2, c->Gr, c->phir);
    }
    if (c->part == PHI_NAIVE)
        phi_naive(c->k, c->r1, c->Vt1, c->r2, c->Vt2, c->phir);
    return 0;
}

int bench_phi_(const bench_opts *bo)
{
    bench_run run;
    bench_begin_(&run, bo);
    int k = bo->quick ? 256 : 1024, r1 = 8, r2 = 64;
    size_t kz = (size_t)k, r1z = (size_t)r1, r2z = (size_t)r2;
    size_t lwork = lsc_svd_work_size(r2, k, 1);
    size_t l2 = lsc_principal_angles_work_size(r1, r2);
    size_t l3 = lsc_random_orthonormal_work_size(k, r2);
    lwork = lwork > l2 ? lwork : l2;
    lwork = lwork > l3 ? lwork : l3;
    phi_ctx c = {0};
    c.k = k; c.r1 = r1; c.r2 = r2; c.lwork = lwork; c.seed = (uint64_t)bo->seed + 1;
    double *A1 = malloc(r1z * kz * sizeof(double)), *A2 = malloc(r2z * kz * sizeof(double));
    c.S = malloc(r2z * sizeof(double));
    c.Vt1 = malloc(r1z * kz * sizeof(double)); c.Vt2 = malloc(r2z * kz * sizeof(double));
    c.G = malloc(r1z * r2z * sizeof(double)); c.phi = malloc(r1z * r2z * sizeof(double));
    c.deg = malloc(r1z * sizeof(double));
    c.Q1 = malloc(kz * r1z * sizeof(double)); c.Q2 = malloc(kz * r2z * sizeof(double));
    c.Qt1 = malloc(kz * r1z * sizeof(double)); c.Qt2 = malloc(kz * r2z * sizeof(double));
    c.Gr = malloc(r1z * r2z * sizeof(double)); c.phir = malloc(r1z * r2z * sizeof(double));
    c.work = malloc(lwork * sizeof(double));
    int rc = CLI_OK;
    cJSON *o = run.o;
    if (!A1 || !A2 || !c.S || !c.Vt1 || !c.Vt2 || !c.G || !c.phi || !c.deg || !c.Q1 || !c.Q2 ||
        !c.Qt1 || !c.Qt2 || !c.Gr || !c.phir || !c.work) {
        rc = cli_error("bench", CLI_FAIL, "phi: out of memory");
        goto done;
    }
    /* A2 (64, k) random; A1 (8, k) = a mix of A2's first rows plus noise, so
     * the two row spaces overlap as adapters of one task at two ranks do */
    bench_fill_gauss_d_(A2, r2z * kz, 1.0 / sqrt((double)k), &run.rng);
    bench_fill_gauss_d_(A1, r1z * kz, 0.3 / sqrt((double)k), &run.rng);
    for (size_t i = 0; i < r1z; i++)
        for (size_t j = 0; j < r1z; j++) {
            double m = lsc_rng_normal(&run.rng) / sqrt((double)r1);
            for (size_t t = 0; t < kz; t++)
                A1[i * kz + t] += m * A2[j * kz + t];
        }
    c.A1 = A1; c.A2 = A2;
    static const char *const part_name[] = {"svd(A1),svd(A2)", "gram G", "phi grid",
                                            "principal angles", "random baseline", "total",
                                            "naive phi (oracle)"};
    static const char *const part_key[] = {"svd", "gram", "grid", "angles", "random", "total",
                                           "naive"};
    stat3 st[7];
    printf("phi grid, r1 = %d vs r2 = %d at k = %d, %d thread%s, median of %d after a warm-up\n\n",
           r1, r2, k, bo->threads, bo->threads == 1 ? "" : "s", bo->reps);
    printf("  %-20s %12s %12s %12s\n", "part", "ms_med", "ms_min", "ms_max");
    /* everything once so each part has valid inputs, then part by part */
    c.part = PHI_ALL;
    if (phi_run(&c)) {
        rc = cli_lib_error("bench", &c.err);
        goto done;
    }
    cJSON *parts = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "parts", parts);
    for (int p = PHI_SVD; p <= PHI_NAIVE; p++) {
        c.part = p;
        int inner = bench_calibrate_(phi_run, &c, bo->quick ? 0.002 : 0.02);
        if ((rc = bench_time_(phi_run, &c, &c.err, 1, p == PHI_NAIVE && !bo->quick ? 3 : bo->reps,
                            inner, &st[p])) != CLI_OK)
            goto done;
        printf("  %-20s %12.4f %12.4f %12.4f\n", part_name[p], 1e3 * st[p].med, 1e3 * st[p].min,
               1e3 * st[p].max);
        bench_json_stat_ms_(parts, part_key[p], st[p]);
    }
    double maxdiff = 0.0, diag = 0.0, rmean = 0.0;
    for (size_t i = 0; i < r1z * r2z; i++)
        maxdiff = fmax(maxdiff, fabs(c.phi[i] - c.phir[i]));   /* phir holds the naive grid */
    diag = c.phi[(r1z - 1) * r2z + (r1z - 1)];
    /* mean of the random grid for the expectation max(i, j)/k */
    c.part = PHI_RANDOM;
    phi_run(&c);
    for (size_t i = 0; i < r1z * r2z; i++)
        rmean += c.phir[i];
    rmean /= (double)(r1z * r2z);
    printf("\n  prefix-sum grid vs naive definition: max |diff| = %.2e; phi(8, 8) = %.4f;\n"
           "  mean phi of the random pair = %.4f; speedup grid+gram vs naive = %.0fx\n", maxdiff,
           diag, rmean, st[PHI_NAIVE].med / (st[PHI_GRAM].med + st[PHI_GRID].med));
    cJSON_AddNumberToObject(o, "k", k);
    cJSON_AddNumberToObject(o, "r1", r1);
    cJSON_AddNumberToObject(o, "r2", r2);
    cJSON_AddNumberToObject(o, "naive_max_abs_diff", maxdiff);
    cJSON_AddNumberToObject(o, "phi_r1_r1", diag);
    cJSON_AddNumberToObject(o, "random_phi_mean", rmean);
    cJSON_AddNumberToObject(o, "total_ms_median", 1e3 * st[PHI_ALL].med);
done:
    free(A1); free(A2); free(c.S); free(c.Vt1); free(c.Vt2); free(c.G); free(c.phi); free(c.deg);
    free(c.Q1); free(c.Q2); free(c.Qt1); free(c.Qt2); free(c.Gr); free(c.phir); free(c.work);
    return bench_end_(&run, "phi", NULL, bo, rc);
}

// ---- table7: W's own top-r directions, top-k method vs full SVD ----

/* A d×d weight with the spectrum of a trained layer: a decaying "signal" of
 * n_spike directions, σ_i = bulk·(1 + 3·i^-0.7) (i = 1..n_spike), on top of a
 * Gaussian bulk of edge ≈ bulk (i.i.d. N(0, (bulk/(2√d))²)), the
 * spiked-covariance picture of trained weight matrices. gaussian = 1 gives
 * the bulk alone: the hard case for subspace iteration (no gap). */
static int make_weight(int d, int gaussian, uint64_t *rng, double *W, lsc_error *err)
{
    const int n_spike = 96;
    const double bulk = 1.0;
    size_t dz = (size_t)d;
    bench_fill_gauss_d_(W, dz * dz, bulk / (2.0 * sqrt((double)d)), rng);
    if (gaussian)
        return LSC_OK;
    int p = n_spike < d / 2 ? n_spike : d / 2;
    size_t pz = (size_t)p;
    size_t lw = lsc_random_orthonormal_work_size(d, p);
    double *U = malloc(dz * pz * sizeof *U), *V = malloc(dz * pz * sizeof *V);
    double *w = malloc(lw * sizeof *w);
    int rc = LSC_ENOMEM;
    if (!U || !V || !w) {
        lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "bench: out of memory (d = %d)", d);
        goto done;
    }
    if ((rc = lsc_random_orthonormal(d, p, rng, U, w, lw, err)) != LSC_OK ||
        (rc = lsc_random_orthonormal(d, p, rng, V, w, lw, err)) != LSC_OK)
        goto done;
    for (size_t i = 0; i < dz; i++)
        for (size_t j = 0; j < pz; j++)
            U[i * pz + j] *= bulk * (1.0 + 3.0 * pow((double)(j + 1), -0.7));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d, d, p, 1.0, U, p, V, p, 1.0, W, d);
    rc = LSC_OK;
done:
    free(U); free(V); free(w);
    return rc;
}

/* W's top-r: the triplets (lsc_svd_topk with method) of the double W, or
 * with Wf the singular values alone (lsc_svd_topk_values, what amplify uses:
 * proj_base = sqrt(Σσ_i²)) of the float W */
typedef struct topk_ctx {
    int d, r;
    const double *W;
    const float  *Wf;   /* non-NULL: values only */
    double *S, *U, *Vt, *work;
    size_t lwork;
    lsc_topk_method method;
    lsc_topk_info info;
    lsc_error err;
} topk_ctx;

static int topk_run(void *p)
{
    topk_ctx *c = p;
    if (c->Wf)
        return lsc_svd_topk_values(c->d, c->d, c->r, c->Wf, c->S, 1e-10, 7, c->work, c->lwork,
                                   &c->info, &c->err) != LSC_OK;
    return lsc_svd_topk(c->d, c->d, c->r, c->W, c->S, c->U, c->Vt, c->method, 7, c->work,
                        c->lwork, &c->info, &c->err) != LSC_OK;
}

/* The rest of a Table 7 row for a given W's top-r: dW's low-rank SVD, the
 * three projections. Returns proj_base via *pb etc. */
typedef struct t7_ctx {
    int d, r;
    double s;
    const double *W, *B, *A, *Ub, *Vtb;   /* Ub/Vtb: W's own top-r */
    double *Ud, *Vtd, *Sd, *Q1, *Q2, *Q2t, *work, *pwork;
    size_t lwork;
    double proj_delta, proj_base, proj_random;
    lsc_error err;
} t7_ctx;

static int t7_run(void *p)
{
    t7_ctx *c = p;
    int d = c->d, r = c->r;
    if (lsc_lowrank_svd(d, d, r, c->s, c->B, c->A, c->Sd, c->Ud, c->Vtd, c->work, c->lwork,
                        &c->err))
        return 1;
    c->proj_delta = lsc_proj_fro(d, d, c->W, r, c->Ud, r, c->Vtd, d, c->pwork);
    c->proj_base = lsc_proj_fro(d, d, c->W, r, c->Ub, r, c->Vtb, d, c->pwork);
    uint64_t rng;
    lsc_rng_seed(&rng, 99);
    if (lsc_random_orthonormal(d, r, &rng, c->Q1, c->work, c->lwork, &c->err) ||
        lsc_random_orthonormal(d, r, &rng, c->Q2, c->work, c->lwork, &c->err))
        return 1;
    transpose_d(d, r, c->Q2, c->Q2t);
    c->proj_random = lsc_proj_fro(d, d, c->W, r, c->Q1, r, c->Q2t, d, c->pwork);
    return 0;
}

static const char *method_name(lsc_topk_method m)
{
    return m == LSC_TOPK_ITERATIVE ? "iterative" : "dense-fallback";
}

/* The inputs of a Table 7 case: W (d×d, make_weight) rounded to float as a
 * stored weight is (Wf; W keeps the exact double copy), then A (r, d) and
 * B (d, r) as PEFT-like factors. */
static int table7_inputs(int d, int r, int gaussian, uint64_t *rng, double *W, float *Wf, double *B,
                         double *A, lsc_error *err)
{
    size_t dz = (size_t)d, rz = (size_t)r;
    int rc = make_weight(d, gaussian, rng, W, err);
    if (rc != LSC_OK)
        return rc;
    for (size_t i = 0; i < dz * dz; i++) {
        Wf[i] = (float)W[i];
        W[i] = Wf[i];
    }
    bench_fill_gauss_d_(A, rz * dz, 1.0 / sqrt((double)d), rng);
    bench_fill_gauss_d_(B, dz * rz, 0.02, rng);
    return LSC_OK;
}

/* One Table 7 case: W (d×d, rounded to float as a stored weight is, the
 * double copy exact), dW = s·B·A of rank r; W's own top-r by (a) the
 * values-only method amplify uses, (b) the triplet method (subspace
 * iteration, lsc_svd_topk AUTO), (c) the full SVD (the reference). */
static int table7_case(int d, int r, int gaussian, const bench_opts *bo, uint64_t *rng,
                       cJSON *arr)
{
    size_t dz = (size_t)d, rz = (size_t)r;
    int rc = CLI_OK;
    lsc_error err = {0};
    double *W = malloc(dz * dz * sizeof *W);
    float *Wf = malloc(dz * dz * sizeof *Wf);
    double *B = malloc(dz * rz * sizeof *B), *A = malloc(rz * dz * sizeof *A);
    double *S1 = malloc(rz * sizeof *S1), *U1 = malloc(dz * rz * sizeof *U1),
           *Vt1 = malloc(rz * dz * sizeof *Vt1);
    double *S2 = malloc(rz * sizeof *S2), *U2 = malloc(dz * rz * sizeof *U2),
           *Vt2 = malloc(rz * dz * sizeof *Vt2);
    double *S3 = malloc(rz * sizeof *S3);
    size_t lw = lsc_svd_topk_work_size(d, d, r, LSC_TOPK_AUTO);
    size_t lw2 = lsc_svd_topk_work_size(d, d, r, LSC_TOPK_DENSE);
    lw = lw > lw2 ? lw : lw2;
    size_t lwv = lsc_svd_topk_values_work_size(d, d, r);
    size_t lwt = lsc_lowrank_svd_work_size(d, d, r, 1);
    size_t l3 = lsc_random_orthonormal_work_size(d, r);
    lwt = lwt > l3 ? lwt : l3;
    double *work = malloc(lw * sizeof *work), *workv = malloc(lwv * sizeof *workv);
    t7_ctx t = {0};
    t.work = malloc(lwt * sizeof(double));
    t.pwork = malloc(lsc_proj_fro_work_size(d, d, r) * sizeof(double));
    t.Ud = malloc(dz * rz * sizeof(double)); t.Vtd = malloc(rz * dz * sizeof(double));
    t.Sd = malloc(rz * sizeof(double));
    t.Q1 = malloc(dz * rz * sizeof(double)); t.Q2 = malloc(dz * rz * sizeof(double));
    t.Q2t = malloc(dz * rz * sizeof(double));
    if (!W || !Wf || !B || !A || !S1 || !U1 || !Vt1 || !S2 || !U2 || !Vt2 || !S3 || !work ||
        !workv || !t.work || !t.pwork || !t.Ud || !t.Vtd || !t.Sd || !t.Q1 || !t.Q2 || !t.Q2t) {
        rc = cli_error("bench", CLI_FAIL, "table7: out of memory at d = %d", d);
        goto done;
    }
    if (table7_inputs(d, r, gaussian, rng, W, Wf, B, A, &err) != LSC_OK) {
        rc = cli_lib_error("bench", &err);
        goto done;
    }
    topk_ctx cv = {d, r, NULL, Wf, S3, NULL, NULL, workv, lwv, LSC_TOPK_AUTO, {0}, {0}};
    topk_ctx ck = {d, r, W, NULL, S1, U1, Vt1, work, lw, LSC_TOPK_AUTO, {0}, {0}};
    topk_ctx cd = {d, r, W, NULL, S2, U2, Vt2, work, lw, LSC_TOPK_DENSE, {0}, {0}};
    int big = d >= 4096;
    int reps = big ? 1 : bo->reps;
    stat3 sv, sk, sd, sr1, sr2;
    if ((rc = bench_time_(topk_run, &cv, &cv.err, 1, bo->reps, 1, &sv)) != CLI_OK ||
        (rc = bench_time_(topk_run, &ck, &ck.err, big ? 0 : 1, reps, 1, &sk)) != CLI_OK ||
        (rc = bench_time_(topk_run, &cd, &cd.err, big ? 0 : 1, reps, 1, &sd)) != CLI_OK)
        goto done;
    /* the rest of the row (dW's SVD, proj_delta, proj_random), timed with the
     * triplet basis; proj_base once more with the full SVD's */
    t.d = d; t.r = r; t.s = 16.0 / r; t.W = W; t.B = B; t.A = A; t.lwork = lwt;
    t.Ub = U1; t.Vtb = Vt1;
    int inner = bench_calibrate_(t7_run, &t, 0.01);
    if ((rc = bench_time_(t7_run, &t, &t.err, 1, bo->reps, inner, &sr1)) != CLI_OK)
        goto done;
    double pb1 = t.proj_base, pdel = t.proj_delta, prnd = t.proj_random;
    t.Ub = U2; t.Vtb = Vt2;
    if ((rc = bench_time_(t7_run, &t, &t.err, 0, 1, 1, &sr2)) != CLI_OK)
        goto done;
    double pb2 = t.proj_base, pbv = 0.0;
    for (int i = 0; i < r; i++)
        pbv += S3[i] * S3[i];
    pbv = sqrt(pbv);
    double srel_k = 0.0, srel_v = 0.0;
    for (int i = 0; i < r; i++) {
        srel_k = fmax(srel_k, bench_rel_diff_(S1[i], S2[i]));
        srel_v = fmax(srel_v, bench_rel_diff_(S3[i], S2[i]));
    }
    double prel_k = bench_rel_diff_(pb1, pb2), prel_v = bench_rel_diff_(pbv, pb2);
    double tot_v = sv.med + sr1.med, tot_k = sk.med + sr1.med, tot_d = sd.med + sr1.med;
    printf("  %5d %3d %-8s %10.1f %10.1f %11.1f %8.1fx %-14s %4d %9.1e %9.1e %-14s %4d %9.1e\n",
           d, r, gaussian ? "gaussian" : "spiked", 1e3 * sv.med, 1e3 * sk.med, 1e3 * sd.med,
           sd.med / sv.med, method_name(cv.info.method), cv.info.iterations,
           fmax(srel_v, 0.0), prel_v, method_name(ck.info.method), ck.info.iterations,
           fmax(srel_k, prel_k));
    cJSON *e = cJSON_CreateObject();
    cJSON_AddNumberToObject(e, "d", d);
    cJSON_AddNumberToObject(e, "r", r);
    cJSON_AddStringToObject(e, "weight", gaussian ? "gaussian" : "spiked");
    bench_json_stat_ms_(e, "values", sv);
    bench_json_stat_ms_(e, "topk", sk);
    bench_json_stat_ms_(e, "full_svd", sd);
    bench_json_stat_ms_(e, "rest_of_row", sr1);
    cJSON_AddNumberToObject(e, "reps_svd", reps);
    cJSON_AddNumberToObject(e, "speedup", sd.med / sv.med);
    cJSON_AddNumberToObject(e, "speedup_topk", sd.med / sk.med);
    cJSON_AddStringToObject(e, "values_method", method_name(cv.info.method));
    cJSON_AddNumberToObject(e, "values_iterations", cv.info.iterations);
    cJSON_AddNumberToObject(e, "values_bound", cv.info.residual);
    cJSON_AddStringToObject(e, "topk_method", method_name(ck.info.method));
    cJSON_AddNumberToObject(e, "topk_iterations", ck.info.iterations);
    cJSON_AddNumberToObject(e, "topk_residual", ck.info.residual);
    /* the values method (amplify's) against the full SVD */
    cJSON_AddNumberToObject(e, "sigma_max_rel_diff", srel_v);
    cJSON_AddNumberToObject(e, "proj_base_rel_diff", prel_v);
    cJSON_AddNumberToObject(e, "topk_sigma_max_rel_diff", srel_k);
    cJSON_AddNumberToObject(e, "topk_proj_base_rel_diff", prel_k);
    cJSON_AddBoolToObject(e, "agree_1e-8", srel_v <= 1e-8 && prel_v <= 1e-8 && srel_k <= 1e-8 &&
                                               prel_k <= 1e-8);
    cJSON_AddNumberToObject(e, "row_values_ms", 1e3 * tot_v);
    cJSON_AddNumberToObject(e, "row_topk_ms", 1e3 * tot_k);
    cJSON_AddNumberToObject(e, "row_full_svd_ms", 1e3 * tot_d);
    cJSON_AddNumberToObject(e, "proj_delta", pdel);
    cJSON_AddNumberToObject(e, "proj_base", pb2);
    cJSON_AddNumberToObject(e, "proj_random", prnd);
    cJSON_AddNumberToObject(e, "sigma_r", S2[r - 1]);
    cJSON_AddNumberToObject(e, "sigma_1", S2[0]);
    cJSON_AddItemToArray(arr, e);
    (void)sr2;
done:
    free(W); free(Wf); free(B); free(A); free(S1); free(U1); free(Vt1); free(S2); free(U2);
    free(Vt2); free(S3); free(work); free(workv); free(t.work); free(t.pwork); free(t.Ud);
    free(t.Vtd); free(t.Sd); free(t.Q1); free(t.Q2); free(t.Q2t);
    return rc;
}

int bench_table7_(const bench_opts *bo, int with_gaussian)
{
    bench_run run;
    bench_begin_(&run, bo);
    int rc = CLI_OK;
    printf("Table 7 (LoRA paper) for a dxd W (float, as stored weights are): W's own top-r by\n"
           "(values) lsc_svd_topk_values, the singular values alone, what amplify uses\n"
           "(proj_base = sqrt(sum sigma_i^2)); (topk) subspace iteration for the triplets\n"
           "(lsc_svd_topk AUTO); (full) the full SVD, the reference. %d thread%s; median of %d\n"
           "after a warm-up (d >= 4096: topk and full once). rel = max relative difference to\n"
           "the full SVD of sigma_1..r and proj_base (target <= 1e-8).\n\n", bo->threads,
           bo->threads == 1 ? "" : "s", bo->reps);
    printf("  %5s %3s %-8s %10s %10s %11s %9s %-14s %4s %9s %9s %-14s %4s %9s\n", "d", "r", "W",
           "values_ms", "topk_ms", "full_ms", "speedup", "values_method", "it", "sigma_rel",
           "proj_rel", "topk_method", "it", "rel");
    if (bo->quick) {
        rc = table7_case(256, 8, 0, bo, &run.rng, run.arr);
    } else {
        static const struct { int d, r, g; } C[] = {
            {1024, 8, 0}, {1024, 64, 0}, {1024, 8, 1}, {4096, 8, 0}};
        for (size_t i = 0; i < sizeof C / sizeof C[0] && rc == CLI_OK; i++)
            if (!C[i].g || with_gaussian)
                rc = table7_case(C[i].d, C[i].r, C[i].g, bo, &run.rng, run.arr);
    }
    return bench_end_(&run, "table7", "cases", bo, rc);
}
