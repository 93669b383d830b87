/*
 * test_esd.c — lib/esd.c against known answers: spike share, stable rank
 * and entropy effective rank of planted spectra (exact); the power-law MLE
 * on a Pareto draw with α = 2.5, n = 2000 (recovered within 2 SE); the KS
 * choice of x_min checked against a brute-force KS over every candidate
 * (the chosen D is the least) and on a planted body + power-law tail (x_min
 * found near the seam); degenerate inputs (too few values, zeros, all
 * equal, min_tail < 2); Iglewicz–Hoaglin z with MAD > 0, MAD = 0 and all
 * equal. Calibration of the SE over 200 draws is printed, not asserted.
 */
#include <float.h>

#include "lsc_internal.h"
#include "test.h"

static void pareto(uint64_t *rng, int n, double alpha, double xmin, double *x)
{
    for (int i = 0; i < n; i++)
        x[i] = xmin * pow(1.0 - lsc_rng_uniform_d(rng), -1.0 / (alpha - 1.0));
}

// ---- measures ----

static void test_measures(void)
{
    lsc_esd_measures m;
    const double a[4] = {1.0, 3.0, 1.0, 1.0};   /* Σσ² = 12, σ₁² = 9 */
    lsc_esd_measures_compute(4, a, &m);
    double h = -(0.75 * log(0.75) + 3.0 * (1.0 / 12) * log(1.0 / 12));
    CHECK(m.fro2 == 12.0, "measures: fro2 = 12 (got %.17g)", m.fro2);
    CHECK(fabs(m.spike_share - 0.75) <= 4 * DBL_EPSILON, "measures: spike share 9/12 (got %.17g)", m.spike_share);
    CHECK(fabs(m.stable_rank - 4.0 / 3) <= 4 * DBL_EPSILON, "measures: stable rank 12/9 (got %.17g)", m.stable_rank);
    CHECK(test_reldiff(m.effective_rank, exp(h)) <= 16 * DBL_EPSILON, "measures: effective rank exp(H) (got %.17g, "
          "want %.17g)", m.effective_rank, exp(h));
    const double flat[5] = {2, 2, 2, 2, 2};
    lsc_esd_measures_compute(5, flat, &m);
    CHECK(fabs(m.effective_rank - 5.0) <= 16 * DBL_EPSILON && fabs(m.spike_share - 0.2) <= 4 * DBL_EPSILON &&
          fabs(m.stable_rank - 5.0) <= 16 * DBL_EPSILON, "measures: flat spectrum of 5: erank 5, spike 0.2, "
          "srank 5 (got %.17g %.17g %.17g)", m.effective_rank, m.spike_share, m.stable_rank);
    const double one[3] = {0.0, 7.0, 0.0};
    lsc_esd_measures_compute(3, one, &m);
    CHECK(m.effective_rank == 1.0 && m.spike_share == 1.0 && m.stable_rank == 1.0,
          "measures: rank 1: erank = spike = srank = 1");
    const double zero[3] = {0.0, 0.0, 0.0};
    lsc_esd_measures_compute(3, zero, &m);
    CHECK(m.fro2 == 0.0 && isnan(m.spike_share) && isnan(m.stable_rank) && isnan(m.effective_rank),
          "measures: zero spectrum: NaN (fro2 0)");
    const double bad[2] = {1.0, NAN};
    lsc_esd_measures_compute(2, bad, &m);
    CHECK(isnan(m.spike_share) && isnan(m.effective_rank), "measures: NaN in, NaN out");
}

// ---- power law ----

/* Independent KS of the tail x >= xmin (x ascending, any ties): counts of
 * values < and <= each point, no logarithms. */
static double brute_ks(int n, const double *xs, double xmin, double alpha, int *nt)
{
    int j = 0;
    while (j < n && xs[j] < xmin)
        j++;
    *nt = n - j;
    double d = 0.0;
    for (int i = j; i < n; i++) {
        int below = 0, upto = 0;
        for (int q = j; q < n; q++) {
            below += xs[q] < xs[i];
            upto += xs[q] <= xs[i];
        }
        double p = 1.0 - pow(xs[i] / xmin, 1.0 - alpha);
        d = fmax(d, fmax(fabs(p - (double)below / *nt), fabs(p - (double)upto / *nt)));
    }
    return d;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_pareto(void)
{
    enum { N = 2000 };
    static double x[N], w[N], xs[N];
    uint64_t rng;
    lsc_rng_seed(&rng, 20);
    pareto(&rng, N, 2.5, 1.0, x);
    lsc_powerlaw f;
    lsc_error err = {0};
    int rc = lsc_powerlaw_fit(N, x, 10, w, &f, &err);
    CHECK(rc == LSC_OK && f.n_pos == N && f.n_tail >= 10 && f.n_tail <= N, "pareto: fit runs (n_tail %d)", f.n_tail);
    CHECK(fabs(f.alpha - 2.5) <= 2 * f.se, "pareto alpha=2.5 n=2000: alpha %.4f within 2 SE (%.4f) of 2.5",
          f.alpha, f.se);
    CHECK(fabs(f.se - (f.alpha - 1) / sqrt(f.n_tail)) <= 1e-15, "pareto: se = (alpha-1)/sqrt(n_tail)");
    /* the MLE at the chosen x_min, recomputed directly */
    double s = 0.0;
    int nt = 0;
    for (int i = 0; i < N; i++)
        if (x[i] >= f.x_min) {
            s += log(x[i] / f.x_min);
            nt++;
        }
    CHECK(nt == f.n_tail && test_reldiff(f.alpha, 1.0 + nt / s) <= 1e-12, "pareto: alpha = 1 + n/sum ln(x/xmin) "
          "at the chosen x_min (%.6g)", f.x_min);
    /* KS: the reported D is the brute-force one, and no candidate beats it */
    memcpy(xs, x, sizeof x);
    qsort(xs, N, sizeof *xs, cmp_d);
    int bn;
    double bd = brute_ks(N, xs, f.x_min, f.alpha, &bn);
    CHECK(fabs(bd - f.ks) <= 1e-12, "pareto: KS D %.6g = brute force %.6g", f.ks, bd);
    int worse = 0;
    for (int j = 0; j <= N - 10; j += 7) {   /* every 7th candidate: O(n^2) each */
        double sj = 0.0;
        for (int i = j; i < N; i++)
            sj += log(xs[i] / xs[j]);
        double aj = 1.0 + (N - j) / sj, dj = brute_ks(N, xs, xs[j], aj, &bn);
        worse += dj < f.ks - 1e-12;
    }
    CHECK(worse == 0, "pareto: no candidate x_min has a smaller KS D (%d did)", worse);
    /* scale invariance: alpha of c·x is alpha of x */
    for (int i = 0; i < N; i++)
        x[i] *= 1e-3;
    lsc_powerlaw g;
    lsc_powerlaw_fit(N, x, 10, w, &g, &err);
    CHECK(test_reldiff(g.alpha, f.alpha) <= 1e-10 && g.n_tail == f.n_tail, "pareto: alpha invariant under scaling");
}

/* A uniform body on [0.05, 1) (n 1500) and a power-law tail from 1 (α = 3,
 * n 1000): KS puts x_min at the seam. */
static void test_seam(void)
{
    enum { NB = 1500, NT = 1000, N = NB + NT };
    static double x[N], w[N];
    uint64_t rng;
    lsc_rng_seed(&rng, 7);
    for (int i = 0; i < NB; i++)
        x[i] = 0.05 + 0.95 * lsc_rng_uniform_d(&rng);
    pareto(&rng, NT, 3.0, 1.0, x + NB);
    lsc_powerlaw f;
    lsc_error err = {0};
    lsc_powerlaw_fit(N, x, 10, w, &f, &err);
    CHECK(f.x_min >= 0.9 && f.x_min <= 1.6, "seam: KS x_min %.4f near the planted 1", f.x_min);
    CHECK(fabs(f.alpha - 3.0) <= 2.5 * f.se, "seam: alpha %.4f within 2.5 SE (%.4f) of 3", f.alpha, f.se);
}

static void test_degenerate(void)
{
    double x[12] = {0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, w[12];
    lsc_powerlaw f;
    lsc_error err = {0};
    int rc = lsc_powerlaw_fit(12, x, 10, w, &f, &err);
    CHECK(rc == LSC_OK && f.n_pos == 9 && f.n_tail == 0 && isnan(f.alpha) && isnan(f.x_min),
          "degenerate: 9 positive values < min_tail 10: NaN, n_tail 0 (zeros left out)");
    rc = lsc_powerlaw_fit(12, x, 5, w, &f, &err);
    CHECK(rc == LSC_OK && f.n_tail >= 5 && f.x_min >= 1.0 && isfinite(f.alpha), "degenerate: min_tail 5: a fit "
          "(n_tail %d)", f.n_tail);
    double eq[10] = {3, 3, 3, 3, 3, 3, 3, 3, 3, 3};
    rc = lsc_powerlaw_fit(10, eq, 10, w, &f, &err);
    CHECK(rc == LSC_OK && isnan(f.alpha) && f.n_tail == 0, "degenerate: all equal: NaN");
    rc = lsc_powerlaw_fit(12, x, 1, w, &f, &err);
    CHECK(rc == LSC_EARG && err.code == LSC_EARG && strstr(err.msg, "min_tail 1 < 2"), "degenerate: min_tail 1: "
          "LSC_EARG, '%s'", err.msg);
}

// ---- robust z ----

static void test_robust_z(void)
{
    double x[5] = {1, 2, 3, 4, 100}, z[5], w[5];
    int m = lsc_robust_z(5, x, z, w);
    CHECK(m == 5 && fabs(z[4] - 0.6745 * 97) <= 1e-12 && fabs(z[0] + 0.6745 * 2) <= 1e-15 && z[2] == 0.0,
          "robust z: median 3, MAD 1: z = 0.6745 (x - 3)");
    double y[5] = {5, 5, 9, 5, 5};
    lsc_robust_z(5, y, z, w);
    CHECK(fabs(z[2] - 4.0 / (1.253314 * 0.8)) <= 1e-12 && z[0] == 0.0, "robust z: MAD = 0: (x - med) / "
          "(1.253314 MeanAD) = %.6g", z[2]);
    double e[4] = {2, 2, 2, 2};
    lsc_robust_z(4, e, z, w);
    CHECK(z[0] == 0.0 && z[3] == 0.0, "robust z: all equal: 0");
    double n[4] = {1, NAN, 2, 3};
    m = lsc_robust_z(4, n, z, w);
    CHECK(m == 3 && isnan(z[1]) && z[2] == 0.0, "robust z: NaN left out, z NaN");
}

// ---- calibration (printed) ----

static void calibration(void)
{
    enum { N = 1000, DRAWS = 200 };
    static double x[N], w[N];
    uint64_t rng;
    lsc_rng_seed(&rng, 99);
    int in1 = 0, in2 = 0, fin1 = 0, fin2 = 0;
    for (int t = 0; t < DRAWS; t++) {
        pareto(&rng, N, 2.5, 1.0, x);
        lsc_powerlaw f;
        lsc_powerlaw_fit(N, x, 10, w, &f, NULL);
        in1 += fabs(f.alpha - 2.5) <= f.se;
        in2 += fabs(f.alpha - 2.5) <= 2 * f.se;
        double s = 0.0;   /* x_min known (= 1): the plain MLE */
        for (int i = 0; i < N; i++)
            s += log(x[i]);
        double a = 1.0 + N / s, se = (a - 1.0) / sqrt(N);
        fin1 += fabs(a - 2.5) <= se;
        fin2 += fabs(a - 2.5) <= 2 * se;
    }
    printf("calibration (alpha 2.5, n %d, %d draws): KS x_min: within 1 SE %d (%.1f%%), 2 SE %d (%.1f%%); "
           "x_min known: %d (%.1f%%), %d (%.1f%%); normal: 68.3%%, 95.4%%\n", N, DRAWS, in1, 100.0 * in1 / DRAWS,
           in2, 100.0 * in2 / DRAWS, fin1, 100.0 * fin1 / DRAWS, fin2, 100.0 * fin2 / DRAWS);
}

int main(void)
{
    test_measures();
    test_pareto();
    test_seam();
    test_degenerate();
    test_robust_z();
    calibration();
    return test_summary();
}
