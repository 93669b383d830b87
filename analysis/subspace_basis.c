/*
 * subspace_basis.c — the singular-subspace basis of one LoRA factor and the
 * zero-update test that `lorascope subspace` and `lorascope compare` share
 * (subspace_basis.h), and their --factor option; moved here from
 * subspace.c unchanged. Not DoRA's effective update and not φ (lib/linalg).
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "analysis_common.h"
#include "subspace_basis.h"

/* Orthonormal rows spanning the chosen factor's singular subspace, ordered
 * by singular value: Vt (p, dim), p = min(r, dim); *rank = numerical rank
 * (numpy's matrix_rank rule: σ > σ₁·max(r, dim)·eps). */
int ana_factor_basis(const lsc_adapter_module *m, char factor, double *Vt, int *rank,
                     lsc_error *err)
{
    int r = m->r, dim = factor == 'A' ? m->in_features : m->out_features;
    size_t rz = (size_t)r, dz = (size_t)dim;
    int p = r < dim ? r : dim;
    double *F = malloc(rz * dz * sizeof *F), *S = malloc((size_t)p * sizeof *S);
    size_t lw = lsc_svd_work_size(r, dim, 1);
    double *w = malloc(lw * sizeof *w);
    int rc = LSC_OK;
    if (!F || !S || !w) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "out of memory");
        goto done;
    }
    if (factor == 'A') {
        ana_to_double(rz * dz, m->A, F);               /* A (r, k) */
    } else {
        for (size_t i = 0; i < dz; i++)                /* Bᵀ (r, d) from B (d, r) */
            for (size_t j = 0; j < rz; j++)
                F[j * dz + i] = (double)m->B[i * rz + j];
    }
    rc = lsc_svd(r, dim, F, S, NULL, Vt, w, lw, err);
    if (rc != LSC_OK)
        goto done;
    double tol = S[0] * (double)(r > dim ? r : dim) * DBL_EPSILON;
    *rank = 0;
    for (int i = 0; i < p; i++)
        if (S[i] > tol)
            (*rank)++;
done:
    free(F);
    free(S);
    free(w);
    return rc;
}

/* σ₁(dW) through the low-rank path; dW counts as zero when σ₁ is below
 * rounding of s·‖B‖·‖A‖. */
int ana_delta_is_zero(const lsc_adapter_module *m, int *zero, lsc_error *err)
{
    int d = m->out_features, k = m->in_features, r = m->r;
    size_t dz = (size_t)d, kz = (size_t)k, rz = (size_t)r;
    double *B = malloc(dz * rz * sizeof *B), *A = malloc(rz * kz * sizeof *A);
    double *S = malloc(rz * sizeof *S);
    size_t lw = lsc_lowrank_svd_work_size(d, k, r, 0);
    double *w = malloc(lw * sizeof *w);
    int rc = LSC_OK;
    if (!A || !B || !S || !w) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "out of memory");
        goto done;
    }
    ana_to_double(dz * rz, m->B, B);
    ana_to_double(rz * kz, m->A, A);
    rc = lsc_lowrank_svd(d, k, r, m->scaling, B, A, S, NULL, NULL, w, lw, err);
    if (rc != LSC_OK)
        goto done;
    double scale = fabs(m->scaling) * lsc_fro_norm(dz * rz, B) * lsc_fro_norm(rz * kz, A);
    *zero = !(S[0] > scale * (double)(d > k ? d : k) * DBL_EPSILON);
done:
    free(A);
    free(B);
    free(S);
    free(w);
    return rc;
}

int ana_factor_opt(const char *cmd, const cli_opt *opts, char *factor)
{
    const char *f = cli_get(opts, "factor");
    *factor = 'A';
    if (!f)
        return CLI_OK;
    if ((f[0] == 'A' || f[0] == 'a' || f[0] == 'B' || f[0] == 'b') && !f[1]) {
        *factor = (char)(f[0] & ~0x20);
        return CLI_OK;
    }
    return cli_error(cmd, CLI_USAGE, "--factor must be A or B, got '%s'", f);
}
