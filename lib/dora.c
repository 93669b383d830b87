/*
 * dora.c — DoRA's effective weight update dW = m ⊙ (W0 + s·B·A)/‖·‖_row − W0
 * of one Linear module, in double (declared in lsc_dora.h, which cites the
 * PEFT code it follows).
 *
 * Not here: reading adapters or base weights (peft_load.c, the analyses),
 * any SVD of the result (linalg.c), DoRA on embeddings or convolutions.
 */
#include <math.h>
#include <stddef.h>

#include "lsc_internal.h"

// ---- one row ----

/* v (k) = W0[i, :] + s·B[i, :]·A; returns ‖v‖² (NaN/Inf propagate). */
static double dora_row(int i, int d, int k, int r, const float *W0, int w0t, const float *A,
                       const float *B, double s, double *v)
{
    size_t kz = (size_t)k, dz = (size_t)d;
    for (size_t j = 0; j < kz; j++)
        v[j] = w0t ? (double)W0[j * dz + (size_t)i] : (double)W0[(size_t)i * kz + j];
    for (int c = 0; c < r; c++) {
        double b = s * (double)B[(size_t)i * (size_t)r + (size_t)c];
        const float *a = A + (size_t)c * kz;
        for (size_t j = 0; j < kz; j++)
            v[j] += b * (double)a[j];
    }
    double ss = 0.0;
    for (size_t j = 0; j < kz; j++)
        ss += v[j] * v[j];
    return ss;
}

// ---- the update ----

int lsc_dora_delta(int d, int k, int r, const float *W0, int w0_transposed, const float *A,
                   const float *B, double s, const float *m, double *dW, double *row_norm,
                   lsc_error *err)
{
    if (d < 1 || k < 1 || r < 1 || !W0 || !A || !B || !m || !dW)
        LSC_FAIL(err, LSC_EARG, "DoRA update: bad arguments (d=%d, k=%d, r=%d)", d, k, r);
    if (!isfinite(s))
        LSC_FAIL(err, LSC_ENAN, "DoRA update: scaling is not finite");
    size_t kz = (size_t)k, dz = (size_t)d;
    for (int i = 0; i < d; i++) {
        double *v = dW + (size_t)i * kz;
        double nrm = sqrt(dora_row(i, d, k, r, W0, w0_transposed, A, B, s, v));
        if (row_norm)
            row_norm[i] = nrm;
        if (!isfinite(nrm) || !isfinite((double)m[i]))
            LSC_FAIL(err, LSC_ENAN, "DoRA update: row %d of W0 + s·B·A or its magnitude has NaN/Inf "
                                    "values (d=%d, k=%d)", i, d, k);
        if (nrm == 0.0)
            LSC_FAIL(err, LSC_ENAN, "DoRA update: row %d of W0 + s·B·A is zero: its norm divides "
                                    "(d=%d, k=%d)", i, d, k);
        double g = (double)m[i] / nrm;
        for (size_t j = 0; j < kz; j++) {
            double w0 = w0_transposed ? (double)W0[j * dz + (size_t)i] : (double)W0[(size_t)i * kz + j];
            v[j] = g * v[j] - w0;
        }
    }
    return LSC_OK;
}
