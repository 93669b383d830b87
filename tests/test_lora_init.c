/*
 * test_lora_init.c — the random streams of lsc_lora_init (LoRA issue 12,
 * point 1: "shared initial subspace").
 *
 * With one stream for the whole adapter, the r=8 run's A₀ of the first
 * module was exactly the first 8 rows of the r=64 run's (same seed), so
 * Figure 3's φ(8, 64) was 1 before any training. Each module now draws A₀
 * from its own stream keyed by (one key from the caller's rng, module name,
 * rank). Checked here: the same seed and config give bit-identical
 * adapters and advance the caller's rng by one draw; for the same seed,
 * A₀ of r_lo and r_hi share no row and their row spaces overlap like two
 * random subspaces; two modules of one adapter differ likewise.
 *
 * Not here: the distributions of A₀ and B₀ = 0 (test_model.c), training.
 */
#include <math.h>
#include <string.h>

#include "../lib/lsc_internal.h"
#include "test.h"

/* the tiny profile's model width and its Figure 3 ranks */
static const lsc_gpt_config CFG = {.n_layer = 2, .n_head = 2, .n_embd = 48, .n_ctx = 8, .vocab = 32};
#define R_LO 8
#define R_HI 16
#define NSEEDS 10

/* Bound on φ(R_LO, R_HI) = ‖Q_lo·Q_hiᵀ‖²_F / R_LO (the mean squared cosine of
 * the principal angles). Two independent uniformly random subspaces of
 * dimensions 8 and 16 in R^48 give E[φ] = 16/48 = 0.33; each row of an 8-dim
 * basis has a squared projection ~ Beta(8, 16) (sd 0.094) onto the 16-dim
 * one, so φ (a mean of 8 such) has sd ≈ 0.035 and 0.6 is ~7 sd above the
 * random level. A shared initial subspace gives φ = 1 exactly. */
#define PHI_BOUND 0.6

// ---- helpers ----

static lsc_lora_config qv_cfg(int r, int init)
{
    lsc_lora_config c;
    memset(&c, 0, sizeof c);
    c.rank[LSC_LORA_Q] = r, c.rank[LSC_LORA_V] = r;
    c.alpha = 8.0;
    c.init = init;
    return c;
}

static int init_seeded(lsc_lora *lo, int r, int init, uint64_t seed, uint64_t *rng_after)
{
    lsc_error err;
    lsc_lora_config c = qv_cfg(r, init);
    uint64_t rng;
    lsc_rng_seed(&rng, seed);
    int rc = lsc_lora_init(lo, &CFG, &c, &rng, &err);
    if (rng_after)
        *rng_after = rng;
    return rc;
}

/* Orthonormal rows (modified Gram-Schmidt, double) of A (r, n) into Q. */
static void orthonormal_rows(const float *A, int r, int n, double *Q)
{
    for (int i = 0; i < r; i++) {
        double *q = Q + (size_t)i * n;
        for (int j = 0; j < n; j++)
            q[j] = A[(size_t)i * n + j];
        for (int k = 0; k < i; k++) {
            const double *p = Q + (size_t)k * n;
            double d = 0.0;
            for (int j = 0; j < n; j++)
                d += p[j] * q[j];
            for (int j = 0; j < n; j++)
                q[j] -= d * p[j];
        }
        double s = 0.0;
        for (int j = 0; j < n; j++)
            s += q[j] * q[j];
        s = sqrt(s);
        for (int j = 0; j < n; j++)
            q[j] /= s;
    }
}

/* φ(r1, r2) of the row spaces of A1 (r1, n) and A2 (r2, n), r1 <= r2. */
static double phi_rows(const float *A1, int r1, const float *A2, int r2, int n)
{
    double *Q1 = malloc(sizeof(double) * (size_t)r1 * n), *Q2 = malloc(sizeof(double) * (size_t)r2 * n);
    orthonormal_rows(A1, r1, n, Q1);
    orthonormal_rows(A2, r2, n, Q2);
    double f = 0.0;
    for (int i = 0; i < r1; i++)
        for (int k = 0; k < r2; k++) {
            double g = 0.0;
            for (int j = 0; j < n; j++)
                g += Q1[(size_t)i * n + j] * Q2[(size_t)k * n + j];
            f += g * g;
        }
    free(Q1), free(Q2);
    return f / r1;
}

/* Largest |cosine| between a row of A1 (r1, n) and a row of A2 (r2, n). */
static double max_row_cosine(const float *A1, int r1, const float *A2, int r2, int n)
{
    double best = 0.0;
    for (int i = 0; i < r1; i++)
        for (int k = 0; k < r2; k++) {
            double d = 0.0, s1 = 0.0, s2 = 0.0;
            for (int j = 0; j < n; j++) {
                double a = A1[(size_t)i * n + j], b = A2[(size_t)k * n + j];
                d += a * b, s1 += a * a, s2 += b * b;
            }
            best = fmax(best, fabs(d) / sqrt(s1 * s2));
        }
    return best;
}

// ---- checks ----

static void test_determinism(int init, const char *what)
{
    lsc_lora a, b;
    uint64_t ra, rb, expect;
    int ok = init_seeded(&a, R_LO, init, 7, &ra) == LSC_OK && init_seeded(&b, R_LO, init, 7, &rb) == LSC_OK;
    CHECK(ok && a.num_parameters == b.num_parameters &&
              memcmp(a.params, b.params, a.num_parameters * sizeof(float)) == 0,
          "%s: the same seed and config give a bit-identical adapter", what);
    lsc_rng_seed(&expect, 7);
    lsc_rng_u64(&expect);
    lsc_lora c;
    uint64_t rc_after;
    ok = ok && init_seeded(&c, R_HI, init, 7, &rc_after) == LSC_OK;
    CHECK(ok && ra == expect && rc_after == expect,
          "%s: the caller's rng advances by exactly one draw whatever the ranks", what);
    lsc_lora_free(&a), lsc_lora_free(&b), lsc_lora_free(&c);
}

static void test_ranks(int init, const char *what)
{
    double worst_phi = 0.0, worst_cos = 0.0;
    int ok = 1;
    for (uint64_t seed = 1; seed <= NSEEDS && ok; seed++) {
        lsc_lora lo, hi;
        ok = init_seeded(&lo, R_LO, init, seed, NULL) == LSC_OK && init_seeded(&hi, R_HI, init, seed, NULL) == LSC_OK;
        for (int i = 0; ok && i < lo.n_modules; i++) {
            const lsc_lora_module *a = &lo.modules[i];
            const lsc_lora_module *b = lsc_lora_find(&hi, a->layer, a->target);
            worst_phi = fmax(worst_phi, phi_rows(a->A, a->r, b->A, b->r, a->in));
            worst_cos = fmax(worst_cos, max_row_cosine(a->A, a->r, b->A, b->r, a->in));
        }
        lsc_lora_free(&lo), lsc_lora_free(&hi);
    }
    CHECK(ok && worst_cos < 0.99, "%s: A0 of r=%d and r=%d (same seed, module) share no row "
          "(largest row cosine %.3f over %d seeds x 4 modules)", what, R_LO, R_HI, worst_cos, NSEEDS);
    CHECK(ok && worst_phi < PHI_BOUND, "%s: phi(%d, %d) of A0 at step 0 is at the random level "
          "(largest %.3f < %.2f; random 16/48 = 0.33; a shared subspace gives 1)",
          what, R_LO, R_HI, worst_phi, PHI_BOUND);
}

static void test_modules(void)
{
    lsc_lora lo;
    int ok = init_seeded(&lo, R_HI, LSC_LORA_INIT_KAIMING, 3, NULL) == LSC_OK;
    double worst = 0.0;
    int differ = ok;
    /* q and v of each layer, q of layer 0 and of layer 1: same shape (48, 48) */
    const int pairs[3][4] = {{0, LSC_LORA_Q, 0, LSC_LORA_V}, {1, LSC_LORA_Q, 1, LSC_LORA_V},
                             {0, LSC_LORA_Q, 1, LSC_LORA_Q}};
    for (int p = 0; ok && p < 3; p++) {
        const lsc_lora_module *a = lsc_lora_find(&lo, pairs[p][0], pairs[p][1]);
        const lsc_lora_module *b = lsc_lora_find(&lo, pairs[p][2], pairs[p][3]);
        differ &= memcmp(a->A, b->A, (size_t)a->r * a->in * sizeof(float)) != 0;
        worst = fmax(worst, phi_rows(a->A, a->r, b->A, b->r, a->in));
    }
    /* two 16-dim random subspaces of R^48: E[phi] = 1/3, sd ≈ 0.03 */
    CHECK(ok && differ && worst < PHI_BOUND,
          "two modules of one adapter draw different A0 (largest phi(16, 16) %.3f < %.2f)", worst, PHI_BOUND);
    lsc_lora_free(&lo);
}

int main(void)
{
    test_determinism(LSC_LORA_INIT_KAIMING, "Kaiming");
    test_determinism(LSC_LORA_INIT_GAUSSIAN, "Gaussian");
    test_ranks(LSC_LORA_INIT_KAIMING, "Kaiming");
    test_ranks(LSC_LORA_INIT_GAUSSIAN, "Gaussian");
    test_modules();
    return test_summary();
}
