/*
 * quanterr_compute.c — the numerics of `lorascope quanterr` for one module
 * (quanterr_compute_, see quanterr.h): the quantisation error E = W −
 * deq(Q(W)) of the fp32 base weight, its dense SVD, and the subspace
 * similarity φ, the projection ‖UᵀEV‖_F and the cosine with E of a random
 * subspace, of the adapter's dW, of the compare adapter's dW and of their
 * difference D. The definitions are in quanterr.c's header comment.
 *
 * Not here: matching modules to base tensors, the output file, the table,
 * plots (quanterr.c). Linear algebra is lib/linalg.c's.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quanterr.h"

// ---- helpers ----

/* (rows, cols) -> (cols, rows) */
static void transpose(size_t rows, size_t cols, const double *X, double *Y)
{
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            Y[j * rows + i] = X[i * cols + j];
}

/* Everything about one update dW = s·B·A against E: its singular values
 * S (p), right rows Vt (p, k), left rows Ut (p, d), ‖dW‖_F, ⟨dW, E⟩. */
typedef struct delta_basis {
    double *S, *Vt, *Ut, fro, inner;
    int degenerate;
} delta_basis;

/* Bd (d, r), Ad (r, k) in double: dW = scaling·Bd·Ad. */
static int delta_of(int d, int k, int r, double scaling, const double *Bd, const double *Ad, int p,
                    const double *E, delta_basis *db, double *work, size_t lwork, lsc_error *err)
{
    size_t dz = (size_t)d, kz = (size_t)k, rz = (size_t)r;
    double *S = malloc(rz * sizeof *S), *U = malloc(dz * rz * sizeof *U), *Vt = malloc(rz * kz * sizeof *Vt);
    double *BtE = malloc(rz * kz * sizeof *BtE);
    int rc = LSC_OK;
    if (!S || !U || !Vt || !BtE) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "out of memory");
        goto done;
    }
    if ((rc = lsc_lowrank_svd(d, k, r, scaling, Bd, Ad, S, U, Vt, work, lwork, err)) != LSC_OK)
        goto done;
    double ss = 0.0;
    for (int i = 0; i < r; i++)
        ss += S[i] * S[i];
    db->fro = sqrt(ss);
    double zero_tol = fabs(scaling) * lsc_fro_norm(dz * rz, Bd) * lsc_fro_norm(rz * kz, Ad) *
                      (double)(d > k ? d : k) * DBL_EPSILON;
    db->degenerate = !(S[0] > zero_tol);
    memcpy(db->S, S, (size_t)p * sizeof *S);
    memcpy(db->Vt, Vt, (size_t)p * kz * sizeof *Vt);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < p; j++)
            db->Ut[(size_t)j * dz + (size_t)i] = U[(size_t)i * rz + (size_t)j];
    /* ⟨dW, E⟩ = s·Σ (Bᵀ E) ∘ A, without the dense dW */
    memset(BtE, 0, rz * kz * sizeof *BtE);
    for (size_t i = 0; i < dz; i++)
        for (size_t a = 0; a < rz; a++) {
            double b = Bd[i * rz + a];
            const double *e = E + i * kz;
            double *o = BtE + a * kz;
            for (size_t j = 0; j < kz; j++)
                o[j] += b * e[j];
        }
    double in = 0.0;
    for (size_t i = 0; i < rz * kz; i++)
        in += BtE[i] * Ad[i];
    db->inner = scaling * in;
done:
    free(S); free(U); free(Vt); free(BtE);
    return rc;
}

/* The same for a dense dW (d, k), a DoRA module's effective update: its
 * top p singular triplets from a dense SVD (it has full rank in general),
 * ‖dW‖_F, ⟨dW, E⟩; degenerate when σ₁ <= tol. */
static int delta_dense(int d, int k, int p, const double *dW, double tol, const double *E, delta_basis *db,
                       double *work, size_t lwork, lsc_error *err)
{
    size_t dz = (size_t)d, kz = (size_t)k, mn = (size_t)(d < k ? d : k);
    double *S = malloc(mn * sizeof *S), *U = malloc(dz * mn * sizeof *U), *Vt = malloc(mn * kz * sizeof *Vt);
    int rc = LSC_OK;
    if (!S || !U || !Vt) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "out of memory");
        goto done;
    }
    if ((rc = lsc_svd(d, k, dW, S, U, Vt, work, lwork, err)) != LSC_OK)
        goto done;
    double in = 0.0;
    for (size_t i = 0; i < dz * kz; i++)
        in += dW[i] * E[i];
    db->inner = in;
    db->fro = lsc_fro_norm(dz * kz, dW);
    db->degenerate = !(S[0] > tol);
    memcpy(db->S, S, (size_t)p * sizeof *S);
    memcpy(db->Vt, Vt, (size_t)p * kz * sizeof *Vt);
    for (size_t i = 0; i < dz; i++)
        for (size_t j = 0; j < (size_t)p; j++)
            db->Ut[j * dz + i] = U[i * mn + j];
done:
    free(S); free(U); free(Vt);
    return rc;
}

/* φ(p, K) grids of a basis against E's (right rows Vt (mn, k) of E, left
 * rows UEt (K, d)), the projection ‖UᵀEV‖_F, and the (p, p) summaries.
 * Qd (d, p) scratch, G (p, K) scratch. */
static void against_error(int d, int k, int p, int K, const delta_basis *db, const double *E, const double *Vt,
                          const double *UEt, double *phi_right, double *phi_left, double *Qd, double *G,
                          double *work, double *proj, double *phr, double *phl)
{
    size_t pz = (size_t)p, Kz = (size_t)K;
    lsc_subspace_gram(k, p, db->Vt, K, Vt, G);
    lsc_phi_grid(p, K, G, phi_right);
    transpose(pz, (size_t)d, db->Ut, Qd);   /* U as columns (d, p) for the projection */
    *proj = lsc_proj_fro(d, k, E, p, Qd, p, db->Vt, k, work);
    lsc_subspace_gram(d, p, db->Ut, K, UEt, G);
    lsc_phi_grid(p, K, G, phi_left);
    *phr = phi_right[(pz - 1) * Kz + pz - 1];
    *phl = phi_left[(pz - 1) * Kz + pz - 1];
}

// ---- one module ----

/* The buffers of one module's quanterr_compute_(); sizes in the comments. */
typedef struct qe_work {
    float  *Ws, *Dq;                     /* (s0, s1): the stored tensor, deq(Q(.)) */
    double *Bd, *Ad;                     /* (d, rd), (rd, k): factors, rd = r + r_compare */
    double *Es, *E;                      /* (s0, s1), (d, k): the error as stored, as (d, k) */
    double *S, *U, *Vt, *UEt;            /* (mn), (d, mn), (mn, k), (K, d): E's SVD */
    double *G, *Qd, *Qk, *Rt, *Rt2;      /* (pmax, max(K, pmax)), (d, pmax), (k, p), (p, d), (p, k) */
    double *w;                           /* (lw) LAPACK and projection workspace */
    size_t  lw;
    delta_basis db, dc, dd;              /* dW, the compare dW, D = dW − dW_compare */
} qe_work;

static void work_free(qe_work *w)
{
    free(w->Ws); free(w->Dq); free(w->Bd); free(w->Ad); free(w->Es); free(w->E); free(w->S);
    free(w->U); free(w->Vt); free(w->UEt); free(w->G); free(w->Qd); free(w->Qk); free(w->Rt);
    free(w->Rt2); free(w->w);
    free(w->db.S); free(w->db.Vt); free(w->db.Ut); free(w->dc.S); free(w->dc.Vt); free(w->dc.Ut);
    free(w->dd.S); free(w->dd.Vt); free(w->dd.Ut);
}

/* 0, or -1 when out of memory (w is then still safe to work_free). */
static int work_alloc(qe_work *w, const qe *a)
{
    const lsc_adapter_module *m = a->m, *c = a->c;
    int d = m->out_features, k = m->in_features, p = a->p, K = a->K, mn = a->mn;
    int p2 = c ? a->p2 : 0, pmax = p > p2 ? p : p2, rd = m->r + (c ? c->r : 0);
    size_t dz = (size_t)d, kz = (size_t)k, pz = (size_t)p, Kz = (size_t)K, n = dz * kz, pmz = (size_t)pmax;
    size_t rdz = (size_t)rd;
    memset(w, 0, sizeof *w);
    w->Ws = malloc(n * sizeof *w->Ws);
    w->Dq = malloc(n * sizeof *w->Dq);
    w->Bd = malloc(dz * rdz * sizeof *w->Bd);
    w->Ad = malloc(rdz * kz * sizeof *w->Ad);
    w->Es = malloc(n * sizeof *w->Es);
    w->E = malloc(n * sizeof *w->E);
    w->S = malloc((size_t)mn * sizeof *w->S);
    w->U = malloc(dz * (size_t)mn * sizeof *w->U);
    w->Vt = malloc((size_t)mn * kz * sizeof *w->Vt);
    w->UEt = malloc(Kz * dz * sizeof *w->UEt);
    w->G = malloc(pmz * (Kz > pmz ? Kz : pmz) * sizeof *w->G);
    w->Qd = malloc(dz * pmz * sizeof *w->Qd);
    w->Qk = malloc(kz * pz * sizeof *w->Qk);
    w->Rt = malloc(pz * dz * sizeof *w->Rt);
    w->Rt2 = malloc(pz * kz * sizeof *w->Rt2);
    w->db.S = malloc(pz * sizeof(double));
    w->db.Vt = malloc(pz * kz * sizeof(double));
    w->db.Ut = malloc(pz * dz * sizeof(double));
    if (c) {
        w->dc.S = malloc(pmz * sizeof(double));
        w->dc.Vt = malloc(pmz * kz * sizeof(double));
        w->dc.Ut = malloc(pmz * dz * sizeof(double));
        w->dd.S = malloc(pz * sizeof(double));
        w->dd.Vt = malloc(pz * kz * sizeof(double));
        w->dd.Ut = malloc(pz * dz * sizeof(double));
    }
    size_t lw = lsc_svd_work_size(d, k, 1), l2 = lsc_lowrank_svd_work_size(d, k, rd, 1);
    size_t l3 = lsc_random_orthonormal_work_size(d > k ? d : k, p), l4 = lsc_proj_fro_work_size(d, k, pmax);
    if (l2 > lw) lw = l2;
    if (l3 > lw) lw = l3;
    if (l4 > lw) lw = l4;
    w->lw = lw;
    w->w = malloc(lw * sizeof *w->w);
    if (!w->Ws || !w->Dq || !w->Es || !w->E || !w->S || !w->U || !w->Vt || !w->UEt || !w->G ||
        !w->Qd || !w->Qk || !w->Rt || !w->Rt2 || !w->db.S || !w->db.Vt || !w->db.Ut || !w->Bd ||
        !w->Ad || (c && (!w->dc.S || !w->dc.Vt || !w->dc.Ut || !w->dd.S || !w->dd.Vt || !w->dd.Ut)) ||
        !w->w)
        return -1;
    return 0;
}

static int module_fail(const char *cmd, const qe *a, const lsc_error *err)
{
    return cli_error(cmd, CLI_FAIL, "module %s: %s", a->m->name, err->msg);
}

/* E = W − deq(Q(W)) on the stored tensor, then (d, k); its norms. */
static int error_matrix(const char *cmd, const char *base_path, const lsc_st_file *bf, int bs,
                        int dq, int store, qe *a, qe_work *w)
{
    size_t n = (size_t)a->m->out_features * (size_t)a->m->in_features;
    size_t s0 = (size_t)a->t->shape[0], s1 = (size_t)a->t->shape[1];
    lsc_error err = {0};
    lsc_nf4 q;
    memset(&q, 0, sizeof q);
    if (lsc_st_read_f32(bf, a->t, w->Ws, &err) != LSC_OK)
        return module_fail(cmd, a, &err);
    if (lsc_nf4_quantize(&q, w->Ws, s0, s1, bs, dq, &err) != LSC_OK) {
        lsc_nf4_free(&q);
        return cli_error(cmd, CLI_FAIL, "%s: tensor %s: %s", base_path, a->t->name, err.msg);
    }
    lsc_nf4_bits(&q, &a->bits_constants, &a->bits_total);
    lsc_nf4_dequant_range(&q, 0, n, w->Dq);
    lsc_nf4_free(&q);
    double w2 = 0.0;
    a->error_max_abs = 0.0;
    for (size_t i = 0; i < n; i++) {
        w->Es[i] = (double)w->Ws[i] - (double)w->Dq[i];
        w2 += (double)w->Ws[i] * (double)w->Ws[i];
        a->error_max_abs = fmax(a->error_max_abs, fabs(w->Es[i]));
    }
    if (a->transposed)
        transpose(s0, s1, w->Es, w->E);
    else
        memcpy(w->E, w->Es, n * sizeof *w->E);
    a->base_fro = sqrt(w2);
    a->error_fro = lsc_fro_norm(n, w->E);
    a->error_rel = a->error_fro / a->base_fro;
    if (store && a->E)
        memcpy(a->E, w->E, n * sizeof *w->E);
    return CLI_OK;
}

/* The spectrum of E and its top-K directions (dense SVD: E is noise-like,
 * its spectrum flat, so iterative top-k would crawl), and what a rank-p
 * update or a random one can reach. */
static int error_spectrum(const char *cmd, qe *a, qe_work *w)
{
    int d = a->m->out_features, k = a->m->in_features, p = a->p, K = a->K, mn = a->mn;
    size_t dz = (size_t)d;
    lsc_error err = {0};
    if (lsc_svd(d, k, w->E, w->S, w->U, w->Vt, w->w, w->lw, &err) != LSC_OK)
        return module_fail(cmd, a, &err);
    memcpy(a->sv_err, w->S, (size_t)mn * sizeof *w->S);
    for (int i = 0; i < d; i++)
        for (int j = 0; j < K; j++)
            w->UEt[(size_t)j * dz + (size_t)i] = w->U[(size_t)i * (size_t)mn + (size_t)j];
    double top2 = 0.0;
    for (int i = 0; i < p; i++)
        top2 += w->S[i] * w->S[i];
    a->proj_top = sqrt(top2);
    a->comp_best = top2 / (a->error_fro * a->error_fro);
    a->proj_rand_exp = (double)p * a->error_fro / sqrt((double)d * (double)k);
    a->phi_r_exp = (double)p / (double)k;
    a->phi_l_exp = (double)p / (double)d;
    a->cos_sd = 1.0 / sqrt((double)d * (double)k);
    return CLI_OK;
}

/* Random p-dimensional subspaces (the baseline). */
static int random_baseline(const char *cmd, qe *a, qe_work *w)
{
    int d = a->m->out_features, k = a->m->in_features, p = a->p, K = a->K;
    lsc_error err = {0};
    uint64_t rng;
    lsc_rng_seed(&rng, a->rseed);
    if (lsc_random_orthonormal(d, p, &rng, w->Qd, w->w, w->lw, &err) != LSC_OK ||
        lsc_random_orthonormal(k, p, &rng, w->Qk, w->w, w->lw, &err) != LSC_OK)
        return module_fail(cmd, a, &err);
    transpose((size_t)k, (size_t)p, w->Qk, w->Rt2);   /* (p, k) */
    transpose((size_t)d, (size_t)p, w->Qd, w->Rt);    /* (p, d) */
    delta_basis rb = {NULL, w->Rt2, w->Rt, 0, 0, 0};
    against_error(d, k, p, K, &rb, w->E, w->Vt, w->UEt, a->phi_right_rand, a->phi_left_rand, w->Qd,
                  w->G, w->w, &a->proj_rand, &a->phi_r_rand, &a->phi_l_rand);
    return CLI_OK;
}

/* The effective update of a DoRA module on the base it was trained on,
 * the quantised Wq = deq(Q(W)) (w->Dq, as stored): dW = m ⊙ (Wq + s·B·A) /
 * ‖Wq + s·B·A‖_row − Wq (lib/dora.c), then delta_dense. */
static int dora_update(qe *a, qe_work *w, lsc_error *err)
{
    const lsc_adapter_module *m = a->m;
    int d = m->out_features, k = m->in_features;
    double *dW = malloc((size_t)d * (size_t)k * sizeof *dW);
    if (!dW)
        return lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "out of memory for the effective DoRA update");
    int rc = lsc_dora_delta(d, k, m->r, w->Dq, a->transposed, m->A, m->B, m->scaling, m->magnitude, dW, NULL,
                            err);
    if (rc == LSC_OK)
        rc = delta_dense(d, k, a->p, dW, a->base_fro * (double)(d > k ? d : k) * DBL_EPSILON, w->E, &w->db,
                         w->w, w->lw, err);
    free(dW);
    return rc;
}

/* The QLoRA adapter's dW against E (a DoRA module's effective update). */
static int own_update(const char *cmd, qe *a, qe_work *w)
{
    const lsc_adapter_module *m = a->m;
    int d = m->out_features, k = m->in_features, p = a->p, K = a->K;
    size_t pz = (size_t)p, Kz = (size_t)K, r1 = (size_t)m->r;
    double e2 = a->error_fro * a->error_fro;
    lsc_error err = {0};
    ana_to_double((size_t)d * r1, m->B, w->Bd);
    ana_to_double(r1 * (size_t)k, m->A, w->Ad);
    if (m->kind == LSC_ADAPTER_DORA ? dora_update(a, w, &err) != LSC_OK
                                    : delta_of(d, k, m->r, m->scaling, w->Bd, w->Ad, p, w->E, &w->db, w->w,
                                               w->lw, &err) != LSC_OK)
        return module_fail(cmd, a, &err);
    a->delta_fro = w->db.fro;
    a->degenerate = w->db.degenerate;
    memcpy(a->sv_delta, w->db.S, pz * sizeof *w->db.S);
    if (w->db.degenerate) {
        cli_warn(cmd, "module %s has %s: its phi, projection and cosine are NaN, marked degenerate", m->name,
                 m->kind == LSC_ADAPTER_DORA ? "an effective DoRA update of 0" : "dW = 0 (lora_B or lora_A all zero)");
        ana_fill_nan(pz * Kz, a->phi_right);
        ana_fill_nan(pz * Kz, a->phi_left);
        a->phi_r = a->phi_l = a->phi_r1 = a->phi_l1 = a->proj_delta = a->cos_delta = NAN;
        a->coef = 0.0;
    } else {
        against_error(d, k, p, K, &w->db, w->E, w->Vt, w->UEt, a->phi_right, a->phi_left, w->Qd, w->G,
                      w->w, &a->proj_delta, &a->phi_r, &a->phi_l);
        a->phi_r1 = a->phi_right[0];
        a->phi_l1 = a->phi_left[0];
        a->cos_delta = w->db.inner / (w->db.fro * a->error_fro);
        a->coef = w->db.inner / e2;
    }
    return CLI_OK;
}

/* φ at (pm, pm) of two row bases (pm, n) against each other; G scratch. */
static double phi_square(int n, int pm, const double *X, const double *Y, double *G)
{
    double s2 = 0.0;
    lsc_subspace_gram(n, pm, X, pm, Y, G);
    for (size_t i = 0; i < (size_t)pm * (size_t)pm; i++)
        s2 += G[i] * G[i];
    return s2 / pm;
}

/* The fp32-base adapter of the same seed against E, and the two updates
 * against each other (top-min(p, p2) of each). */
static int compare_update(const char *cmd, qe *a, qe_work *w)
{
    const lsc_adapter_module *c = a->c;
    int d = c->out_features, k = c->in_features, p = a->p, p2 = a->p2, K = a->K;
    size_t p2z = (size_t)p2, Kz = (size_t)K, r2 = (size_t)c->r;
    double e2 = a->error_fro * a->error_fro;
    lsc_error err = {0};
    ana_to_double((size_t)d * r2, c->B, w->Bd);
    ana_to_double(r2 * (size_t)k, c->A, w->Ad);
    if (delta_of(d, k, c->r, c->scaling, w->Bd, w->Ad, p2, w->E, &w->dc, w->w, w->lw, &err) != LSC_OK)
        return module_fail(cmd, a, &err);
    a->cdelta_fro = w->dc.fro;
    a->cdegenerate = w->dc.degenerate;
    memcpy(a->sv_cmp, w->dc.S, p2z * sizeof *w->dc.S);
    if (w->dc.degenerate) {
        cli_warn(cmd, "compare module %s has dW = 0: its values are NaN", c->name);
        ana_fill_nan(p2z * Kz, a->phi_right_cmp);
        ana_fill_nan(p2z * Kz, a->phi_left_cmp);
        a->phi_rc = a->phi_lc = a->phi_rc1 = a->phi_lc1 = a->proj_cmp = a->cos_cmp = NAN;
        a->coef_cmp = 0.0;
    } else {
        against_error(d, k, p2, K, &w->dc, w->E, w->Vt, w->UEt, a->phi_right_cmp, a->phi_left_cmp, w->Qd,
                      w->G, w->w, &a->proj_cmp, &a->phi_rc, &a->phi_lc);
        a->phi_rc1 = a->phi_right_cmp[0];
        a->phi_lc1 = a->phi_left_cmp[0];
        a->cos_cmp = w->dc.inner / (w->dc.fro * a->error_fro);
        a->coef_cmp = w->dc.inner / e2;
    }
    a->phi_r_ad = a->phi_l_ad = NAN;
    if (!w->db.degenerate && !w->dc.degenerate) {
        int pm = p < p2 ? p : p2;
        a->phi_r_ad = phi_square(k, pm, w->db.Vt, w->dc.Vt, w->G);
        a->phi_l_ad = phi_square(d, pm, w->db.Ut, w->dc.Ut, w->G);
    }
    return CLI_OK;
}

/* D = s·B·A − s'·B'·A' = [s·B, −s'·B'] · [A; A'] against E. */
static int diff_update(const char *cmd, qe *a, qe_work *w)
{
    const lsc_adapter_module *m = a->m, *c = a->c;
    int d = m->out_features, k = m->in_features, p = a->p, K = a->K, rd = m->r + c->r;
    size_t dz = (size_t)d, kz = (size_t)k, pz = (size_t)p, Kz = (size_t)K;
    size_t r1 = (size_t)m->r, r2 = (size_t)c->r, rdz = (size_t)rd;
    lsc_error err = {0};
    for (size_t i = 0; i < dz; i++) {
        for (size_t j = 0; j < r1; j++)
            w->Bd[i * rdz + j] = m->scaling * (double)m->B[i * r1 + j];
        for (size_t j = 0; j < r2; j++)
            w->Bd[i * rdz + r1 + j] = -c->scaling * (double)c->B[i * r2 + j];
    }
    ana_to_double(r1 * kz, m->A, w->Ad);
    ana_to_double(r2 * kz, c->A, w->Ad + r1 * kz);
    if (delta_of(d, k, rd, 1.0, w->Bd, w->Ad, p, w->E, &w->dd, w->w, w->lw, &err) != LSC_OK)
        return module_fail(cmd, a, &err);
    a->diff_fro = w->dd.fro;
    a->ddegenerate = w->dd.degenerate;
    a->coef_diff = w->dd.inner / (a->error_fro * a->error_fro);
    if (w->dd.degenerate) {
        ana_fill_nan(pz * Kz, a->phi_right_diff);
        ana_fill_nan(pz * Kz, a->phi_left_diff);
        a->phi_rd = a->phi_ld = a->proj_diff = a->cos_diff = NAN;
    } else {
        against_error(d, k, p, K, &w->dd, w->E, w->Vt, w->UEt, a->phi_right_diff, a->phi_left_diff, w->Qd,
                      w->G, w->w, &a->proj_diff, &a->phi_rd, &a->phi_ld);
        a->cos_diff = w->dd.inner / (w->dd.fro * a->error_fro);
    }
    return CLI_OK;
}

int quanterr_compute_(const char *cmd, const char *base_path, const lsc_st_file *bf, int bs, int dq,
                      uint64_t seed, int store, qe *a)
{
    qe_work w;
    int rc;
    if (work_alloc(&w, a) != 0) {
        rc = cli_error(cmd, CLI_FAIL, "out of memory for module %s", a->m->name);
    } else {
        a->rseed = ana_module_seed(seed, a->m->name);
        if ((rc = error_matrix(cmd, base_path, bf, bs, dq, store, a, &w)) == CLI_OK &&
            (rc = error_spectrum(cmd, a, &w)) == CLI_OK &&
            (rc = random_baseline(cmd, a, &w)) == CLI_OK &&
            (rc = own_update(cmd, a, &w)) == CLI_OK && a->c &&
            (rc = compare_update(cmd, a, &w)) == CLI_OK)
            rc = diff_update(cmd, a, &w);
    }
    work_free(&w);
    return rc;
}
