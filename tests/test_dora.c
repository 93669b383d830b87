/*
 * test_dora.c — lsc_dora_delta (lib/dora.c), DoRA's effective update
 * dW = m ⊙ (W0 + s·B·A)/‖·‖_row − W0, on cases with known answers:
 *   - m = the row norms of V = W0 + s·B·A  ⇒ dW = s·B·A (to 1e-12; the
 *     case is built from dyadic numbers and Pythagorean rows, so exactly)
 *   - B = 0, m = the row norms of W0       ⇒ dW = 0
 *   - m = 2·the row norms                  ⇒ dW = W0 + 2·s·B·A
 *   - W0 stored transposed (fan_in_fan_out) gives the same dW as untransposed
 *   - a zero row → LSC_ENAN naming the row; NaN in A → LSC_ENAN; bad dims → LSC_EARG
 * With `--dump FILE` it also writes a random case (both orientations) for
 * the independent numpy oracle tests/test_dora_oracle.py: per case int32
 * d, k, r, w0_transposed; float64 s; float32 W0 (as stored), A, B, m;
 * float64 dW (d, k), row_norm (d).
 */
#include "../lib/lsc.h"
#include "test.h"

enum { D = 4, K = 4, R = 2 };

/* V rows with integer norms: 5, 9, 2, 13 */
static const float V[D * K] = {1, 2, 2, 4,   2, 4, 5, 6,   1, 1, 1, 1,   3, 4, 12, 0};
static const float Aq[R * K] = {0.5f, -0.25f, 0.125f, 1.0f,   -1.0f, 0.75f, 0.5f, -0.375f};
static const float Bq[D * R] = {0.25f, -0.5f,   1.0f, 0.125f,   -0.75f, 0.5f,   0.0f, 2.0f};
static const double S = 0.5;

/* out (d, k) = s·B·A in double */
static void sba(int d, int k, int r, double s, const float *A, const float *B, double *out)
{
    for (int i = 0; i < d; i++)
        for (int j = 0; j < k; j++) {
            double acc = 0.0;
            for (int c = 0; c < r; c++)
                acc += (double)B[i * r + c] * (double)A[c * k + j];
            out[i * k + j] = s * acc;
        }
}

static double maxabs_diff(int n, const double *a, const double *b)
{
    double mx = 0.0;
    for (int i = 0; i < n; i++)
        mx = fmax(mx, fabs(a[i] - b[i]));
    return mx;
}

static void known_answers(void)
{
    double P[D * K], dW[D * K], want[D * K], nrm[D];
    float W0[D * K], m[D], W0t[D * K];
    lsc_error err = {0};
    sba(D, K, R, S, Aq, Bq, P);
    for (int i = 0; i < D * K; i++)
        W0[i] = (float)((double)V[i] - P[i]);   /* exact: dyadic */
    const float nv[D] = {5, 9, 2, 13};
    for (int i = 0; i < D; i++)
        m[i] = nv[i];
    int rc = lsc_dora_delta(D, K, R, W0, 0, Aq, Bq, S, m, dW, nrm, &err);
    CHECK(rc == LSC_OK && maxabs_diff(D * K, dW, P) <= 1e-12,
          "m = row norms of W0 + sBA: dW = sBA (max diff %.3g)", maxabs_diff(D * K, dW, P));
    CHECK(maxabs_diff(D, nrm, (const double[]){5, 9, 2, 13}) <= 1e-12, "row_norm = the norms of W0 + sBA");

    for (int i = 0; i < D; i++)
        for (int j = 0; j < K; j++)
            W0t[j * D + i] = W0[i * K + j];
    double dWt[D * K];
    rc = lsc_dora_delta(D, K, R, W0t, 1, Aq, Bq, S, m, dWt, NULL, &err);
    CHECK(rc == LSC_OK && maxabs_diff(D * K, dWt, dW) <= 1e-15, "transposed W0 gives the same dW");

    for (int i = 0; i < D; i++)
        m[i] = 2.0f * nv[i];
    rc = lsc_dora_delta(D, K, R, W0, 0, Aq, Bq, S, m, dW, NULL, &err);
    for (int i = 0; i < D * K; i++)
        want[i] = (double)W0[i] + 2.0 * P[i];
    CHECK(rc == LSC_OK && maxabs_diff(D * K, dW, want) <= 1e-12,
          "m = 2 row norms: dW = W0 + 2sBA (max diff %.3g)", maxabs_diff(D * K, dW, want));

    float B0[D * R] = {0};
    for (int i = 0; i < D; i++)
        m[i] = nv[i];
    rc = lsc_dora_delta(D, K, R, V, 0, Aq, B0, S, m, dW, NULL, &err);
    double zero[D * K] = {0};
    CHECK(rc == LSC_OK && maxabs_diff(D * K, dW, zero) <= 1e-12, "B = 0, m = |W0|_rows: dW = 0");
}

static void errors(void)
{
    float W0[D * K], m[D] = {1, 1, 1, 1}, B0[D * R] = {0}, A[R * K];
    double dW[D * K];
    lsc_error err = {0};
    memcpy(W0, V, sizeof W0);
    for (int j = 0; j < K; j++)
        W0[2 * K + j] = 0.0f;
    int rc = lsc_dora_delta(D, K, R, W0, 0, Aq, B0, S, m, dW, NULL, &err);
    CHECK(rc == LSC_ENAN && strstr(err.msg, "row 2"), "zero row norm: LSC_ENAN naming row 2 (%s)", err.msg);
    memcpy(A, Aq, sizeof A);
    A[3] = NAN;
    rc = lsc_dora_delta(D, K, R, V, 0, A, Bq, S, m, dW, NULL, &err);
    CHECK(rc == LSC_ENAN, "NaN in A: LSC_ENAN");
    rc = lsc_dora_delta(0, K, R, V, 0, Aq, Bq, S, m, dW, NULL, &err);
    CHECK(rc == LSC_EARG, "d = 0: LSC_EARG");
}

// ---- the random case for the numpy oracle ----

static uint64_t st = 0x9E3779B97F4A7C15ull;
static float urand(void)
{
    st = st * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(st >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static int dump_case(FILE *fp, int d, int k, int r, int w0t)
{
    size_t dk = (size_t)d * (size_t)k;
    float *W0 = malloc(dk * sizeof *W0), *A = malloc((size_t)(r * k) * sizeof *A);
    float *B = malloc((size_t)(d * r) * sizeof *B), *m = malloc((size_t)d * sizeof *m);
    double *dW = malloc(dk * sizeof *dW), *nrm = malloc((size_t)d * sizeof *nrm);
    double s = 1.75;
    for (size_t i = 0; i < dk; i++) W0[i] = urand();
    for (int i = 0; i < r * k; i++) A[i] = urand();
    for (int i = 0; i < d * r; i++) B[i] = 0.3f * urand();
    for (int i = 0; i < d; i++) m[i] = 1.5f + urand();
    lsc_error err = {0};
    int rc = lsc_dora_delta(d, k, r, W0, w0t, A, B, s, m, dW, nrm, &err);
    int hdr[4] = {d, k, r, w0t};
    fwrite(hdr, sizeof hdr, 1, fp);
    fwrite(&s, sizeof s, 1, fp);
    fwrite(W0, sizeof *W0, dk, fp);
    fwrite(A, sizeof *A, (size_t)(r * k), fp);
    fwrite(B, sizeof *B, (size_t)(d * r), fp);
    fwrite(m, sizeof *m, (size_t)d, fp);
    fwrite(dW, sizeof *dW, dk, fp);
    fwrite(nrm, sizeof *nrm, (size_t)d, fp);
    free(W0); free(A); free(B); free(m); free(dW); free(nrm);
    return rc;
}

int main(int argc, char **argv)
{
    known_answers();
    errors();
    if (argc == 3 && strcmp(argv[1], "--dump") == 0) {
        FILE *fp = fopen(argv[2], "wb");
        int ok = fp && dump_case(fp, 7, 5, 3, 0) == LSC_OK && dump_case(fp, 6, 9, 2, 1) == LSC_OK;
        ok = fp && fclose(fp) == 0 && ok;
        CHECK(ok, "random cases written to %s", argv[2]);
    }
    return test_summary();
}
