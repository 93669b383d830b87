/*
 * test_stats.c — lib/stats.c against known values and closed forms: t
 * quantiles from the tables (df = 1..5, ∞) and the df = 1, 2, 3, 4 closed
 * forms of the CDF and quantile, the normal, incomplete beta identities
 * (I_x(1/2,1/2) = (2/π)·asin √x, integer a, b as binomial sums, symmetry,
 * large a), intervals and tests on data worked by hand, calibration of the
 * paired t-test and TOST by simulation, Monte-Carlo p-values and the
 * resampled null of a mean, and every error path.
 *
 * `test_stats --dump` prints the values tests/test_stats_oracle.py checks
 * against its own numpy implementation (no checks, no summary then).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "lsc_internal.h"
#include "test.h"

#define PI 3.141592653589793238462643

// ---- distributions ----

static void test_t_known(void)
{
    /* t_{0.975, df} from the tables (9 decimals), df = 1..5 */
    static const double q975[5] = {12.706204736, 4.302652730, 3.182446305, 2.776445105,
                                   2.570581836};
    for (int df = 1; df <= 5; df++) {
        double q = lsc_t_quantile(0.975, df);
        CHECK(fabs(q - q975[df - 1]) < 6e-10, "t_quantile(0.975, %d) = %.10f (table %.9f)", df,
              q, q975[df - 1]);
        CHECK(fabs(lsc_t_quantile(0.025, df) + q) < 1e-15 * q, "t_quantile(0.025, %d) = -t_0.975",
              df);
        CHECK(fabs(lsc_t_cdf(q, df) - 0.975) < 1e-15, "t_cdf(t_quantile(0.975, %d)) = 0.975", df);
    }
    double q = lsc_t_quantile(0.95, 2);
    CHECK(fabs(q - 2.919985580) < 6e-10, "t_quantile(0.95, 2) = %.10f (table 2.919985580)", q);
    /* df -> ∞: z + (z³ + z)/(4 df) (the next term is ~3e-14 at df = 1e7) */
    double z = 1.959963984540054, cf = z + (z * z * z + z) / 4e7;
    q = lsc_t_quantile(0.975, 1e7);
    CHECK(fabs(q - cf) < 1e-10, "t_quantile(0.975, 1e7) = %.12f (Cornish-Fisher %.12f)", q, cf);
    CHECK(fabs(q - 1.959963985) < 3e-7, "t_quantile(0.975, 1e7) -> 1.959963985 as df -> inf");
    /* df = 4 closed form: t = 2·sqrt(q − 1), q = cos(acos(√α)/3)/√α, α = 4p(1−p) */
    for (double p = 0.55; p < 0.9999; p += 0.0371) {
        double al = 4.0 * p * (1.0 - p), qq = cos(acos(sqrt(al)) / 3.0) / sqrt(al);
        double exact = 2.0 * sqrt(qq - 1.0), got = lsc_t_quantile(p, 4.0);
        if (!CHECK(test_reldiff(got, exact) < 1e-12, "t_quantile(%.4f, 4) = %.15g (closed form %.15g)",
                   p, got, exact))
            break;
    }
    CHECK(isnan(lsc_t_quantile(0.5, 0.0)) && isnan(lsc_t_quantile(1.5, 3)) &&
          isnan(lsc_t_cdf(NAN, 3)) && isnan(lsc_t_cdf(1.0, -1.0)),
          "t functions: NaN outside the domain");
    CHECK(lsc_t_quantile(0.0, 3) == -INFINITY && lsc_t_quantile(1.0, 3) == INFINITY &&
          lsc_t_quantile(0.5, 7.5) == 0.0, "t_quantile: 0, 1 and 1/2");
    CHECK(lsc_t_cdf(INFINITY, 3) == 1.0 && lsc_t_cdf(-INFINITY, 3) == 0.0 &&
          lsc_t_sf(INFINITY, 3) == 0.0, "t_cdf at +-inf");
}

static void test_t_closed_forms(void)
{
    double worst[3] = {0, 0, 0};
    for (double t = -30.0; t <= 30.0; t += 0.37) {
        double f1 = 0.5 + atan(t) / PI;
        double f2 = 0.5 + t / (2.0 * sqrt(2.0 + t * t));
        double f3 = 0.5 + (t / (sqrt(3.0) * (1.0 + t * t / 3.0)) + atan(t / sqrt(3.0))) / PI;
        worst[0] = fmax(worst[0], fabs(lsc_t_cdf(t, 1) - f1));
        worst[1] = fmax(worst[1], fabs(lsc_t_cdf(t, 2) - f2));
        worst[2] = fmax(worst[2], fabs(lsc_t_cdf(t, 3) - f3));
    }
    for (int k = 0; k < 3; k++)
        CHECK(worst[k] < 5e-15, "t_cdf(t, %d) against its closed form: max |diff| %.2e", k + 1,
              worst[k]);
    /* the far tail keeps its relative accuracy: P(T > t), df = 1 = atan(1/t)/π */
    double t = 1e6, sf = atan(1.0 / t) / PI;
    CHECK(test_reldiff(lsc_t_sf(t, 1), sf) < 1e-12, "t_sf(1e6, 1) = %.6e (exact %.6e)",
          lsc_t_sf(t, 1), sf);
    /* the density integrates to the CDF (Simpson, df = 2.5, [−2, 1.5]) */
    int m = 2000;
    double a = -2.0, b = 1.5, h = (b - a) / m, s = lsc_t_pdf(a, 2.5) + lsc_t_pdf(b, 2.5);
    for (int i = 1; i < m; i++)
        s += (i % 2 ? 4.0 : 2.0) * lsc_t_pdf(a + i * h, 2.5);
    double integral = s * h / 3.0, diff = lsc_t_cdf(b, 2.5) - lsc_t_cdf(a, 2.5);
    CHECK(fabs(integral - diff) < 1e-12, "t_pdf(df 2.5) integrates to the CDF difference "
          "(%.15f vs %.15f)", integral, diff);
    /* quantile round trip over fractional df and small p */
    double worst_rt = 0.0;
    for (double df = 0.3; df < 200.0; df *= 1.7)
        for (double p = 1e-9; p < 1.0; p = p < 0.01 ? p * 10.0 : p + 0.07) {
            double q = lsc_t_quantile(p, df), back = lsc_t_cdf(q, df);
            worst_rt = fmax(worst_rt, fabs(back - p) / fmin(p, 1.0 - p));
        }
    CHECK(worst_rt < 1e-12, "t_cdf(t_quantile(p, df)) = p, df 0.3..200, p 1e-9..0.99: "
          "max relative error %.2e", worst_rt);
}

static void test_normal_beta(void)
{
    CHECK(fabs(lsc_normal_quantile(0.975) - 1.959963984540054) < 1e-15,
          "normal_quantile(0.975) = %.16f", lsc_normal_quantile(0.975));
    CHECK(fabs(lsc_normal_cdf(1.96) - 0.9750021048517795) < 1e-15, "normal_cdf(1.96)");
    double worst = 0.0;
    for (double p = 1e-12; p < 1.0; p = p < 0.01 ? p * 7.0 : p + 0.013)
        worst = fmax(worst, fabs(lsc_normal_cdf(lsc_normal_quantile(p)) - p) / fmin(p, 1.0 - p));
    CHECK(worst < 1e-13, "normal_cdf(normal_quantile(p)) = p: max relative error %.2e", worst);
    double wa = 0.0, wb = 0.0, wc = 0.0;
    for (double x = 0.0; x <= 1.0; x += 0.0625) {
        wa = fmax(wa, fabs(lsc_beta_inc(0.5, 0.5, x) - 2.0 / PI * asin(sqrt(x))));
        /* I_x(2, 3) = Σ_{j=2..4} C(4, j) x^j (1−x)^(4−j) */
        double y = 1.0 - x, bin = 6 * x * x * y * y + 4 * x * x * x * y + x * x * x * x;
        wb = fmax(wb, fabs(lsc_beta_inc(2.0, 3.0, x) - bin));
        wc = fmax(wc, fabs(lsc_beta_inc(3.5, 0.7, x) + lsc_beta_inc(0.7, 3.5, 1.0 - x) - 1.0));
    }
    CHECK(wa < 1e-15, "I_x(1/2, 1/2) = (2/pi) asin(sqrt x): max |diff| %.2e", wa);
    CHECK(wb < 1e-15, "I_x(2, 3) = its binomial sum: max |diff| %.2e", wb);
    CHECK(wc < 1e-15, "I_x(a, b) + I_(1-x)(b, a) = 1: max |diff| %.2e", wc);
    CHECK(fabs(lsc_beta_inc(1000.0, 1000.0, 0.5) - 0.5) < 1e-13 &&
          fabs(lsc_beta_inc(2.5e6, 2.5e6, 0.5) - 0.5) < 1e-11,
          "I_1/2(a, a) = 1/2 for a = 1e3, 2.5e6 (log Beta without cancellation)");
    CHECK(fabs(lsc_beta_inc(1.0, 255.5, 0.01) - (1.0 - pow(0.99, 255.5))) < 1e-15 &&
          fabs(lsc_beta_inc(4.0, 1.0, 0.3) - pow(0.3, 4.0)) < 1e-16,
          "I_x(1, b) = 1 - (1-x)^b, I_x(a, 1) = x^a");
    CHECK(lsc_beta_inc(0.5, 255.5, 0.0) == 0.0 && lsc_beta_inc(0.5, 255.5, 1.0) == 1.0 &&
          isnan(lsc_beta_inc(0.0, 1.0, 0.5)) && isnan(lsc_beta_inc(1.0, 1.0, 1.5)),
          "beta_inc: ends and domain");
}

// ---- intervals and tests ----

static void test_ci_paired(void)
{
    /* {1..5}: mean 3, sd √2.5, se √0.5, t_{0.975,4} = 2.7764451051977934 */
    const double x[5] = {1, 2, 3, 4, 5};
    lsc_ci c;
    int rc = lsc_mean_ci(x, 5, 0.95, &c, NULL);
    double half = 2.7764451051977934 * sqrt(0.5);
    CHECK(rc == LSC_OK && c.mean == 3.0 && fabs(c.sd - sqrt(2.5)) < 1e-15 &&
          fabs(c.lo - (3.0 - half)) < 1e-13 && fabs(c.hi - (3.0 + half)) < 1e-13 && !c.no_interval,
          "mean_ci{1..5}: 3 +- %.6f = [%.6f, %.6f]", half, c.lo, c.hi);
    rc = lsc_mean_ci(x + 2, 1, 0.95, &c, NULL);
    CHECK(rc == LSC_OK && c.no_interval && c.mean == 3.0 && isnan(c.lo) && isnan(c.hi) &&
          isnan(c.sd), "mean_ci of one value: mean, no interval (NaN), flagged");
    /* d = a − b = {1, 1, 2, 2}: mean 1.5, sd √(1/3), se = √(1/12), t = 3√3 = 5.196...,
     * p = 2·P(T3 > 3√3) with the df = 3 closed form */
    const double a[4] = {10, 12, 13, 15}, b[4] = {9, 11, 11, 13};
    lsc_paired_t_result r;
    rc = lsc_paired_t(a, b, 4, 0.95, &r, NULL);
    double t = 3.0 * sqrt(3.0);
    double p = 2.0 * (0.5 - (t / (sqrt(3.0) * (1.0 + t * t / 3.0)) + atan(t / sqrt(3.0))) / PI);
    double tc = 3.182446305284263;   /* t_{0.975,3} */
    CHECK(rc == LSC_OK && !r.no_test && r.df == 3.0 && fabs(r.mean - 1.5) < 1e-15 &&
          fabs(r.t - t) < 1e-13 && test_reldiff(r.p, p) < 1e-12 &&
          fabs(r.lo - (1.5 - tc * sqrt(1.0 / 12.0))) < 1e-12,
          "paired t: mean 1.5, t %.6f (3 sqrt 3), p %.6g (closed form %.6g), [%.4f, %.4f]", r.t,
          r.p, p, r.lo, r.hi);
    rc = lsc_paired_t(a, b, 1, 0.95, &r, NULL);
    CHECK(rc == LSC_OK && r.no_test && r.mean == 1.0 && isnan(r.p),
          "paired t with one pair: no test, flagged");
    const double e[3] = {2, 3, 4}, f[3] = {1, 2, 3};
    rc = lsc_paired_t(e, f, 3, 0.95, &r, NULL);
    CHECK(rc == LSC_OK && isinf(r.t) && r.t > 0 && r.degenerate && r.p == 0.25 && r.lo == 1.0 &&
          r.hi == 1.0, "paired t with every difference 1 (n 3): degenerate, sign-test p 0.25, [1, 1]");
    rc = lsc_paired_t(e, e, 3, 0.95, &r, NULL);
    CHECK(rc == LSC_OK && r.t == 0.0 && r.p == 1.0 && r.degenerate,
          "paired t of identical values: t 0, p 1, degenerate");
    rc = lsc_paired_t(a, b, 3, 0.95, &r, NULL);
    CHECK(rc == LSC_OK && !r.degenerate, "paired t with varying differences: not degenerate");
}

static void test_tost(void)
{
    /* d = {0.1, −0.1, 0.2, 0.0}: mean 0.05, sd 0.129099, se 0.0645497; margin 1 */
    const double a[4] = {50.1, 49.9, 50.2, 50.0}, b[4] = {50, 50, 50, 50};
    lsc_tost_result r;
    int rc = lsc_tost_paired(a, b, 4, 1.0, 0.05, &r, NULL);
    double se = sqrt((0.0025 + 0.0225 + 0.0225 + 0.0025) / 3.0 / 4.0);
    double tu = -0.95 / se;   /* p_upper = P(T3 < tu), the larger one: df = 3 closed form */
    double pu = 0.5 + (tu / (sqrt(3.0) * (1.0 + tu * tu / 3.0)) + atan(tu / sqrt(3.0))) / PI;
    CHECK(rc == LSC_OK && r.equivalent && fabs(r.se - se) < 1e-13 &&
          fabs(r.t_lower - 1.05 / se) < 1e-9 && fabs(r.t_upper - tu) < 1e-9 &&
          r.p == fmax(r.p_lower, r.p_upper) && test_reldiff(r.p, pu) < 1e-9,
          "TOST of differences 0.05 +- 0.06 with margin 1: equivalent, p = %.6g (closed form "
          "%.6g)", r.p, pu);
    double tc = lsc_t_quantile(0.95, 3);
    CHECK(fabs(r.lo - (0.05 - tc * se)) < 1e-12 && fabs(r.hi - (0.05 + tc * se)) < 1e-12,
          "TOST interval is the 90%% t-interval [%.4f, %.4f]", r.lo, r.hi);
    /* equivalent iff the (1 − 2α) interval lies inside (−margin, margin), on random data */
    uint64_t rng;
    lsc_rng_seed(&rng, 7);
    int agree = 1, n_eq = 0;
    for (int k = 0; k < 400; k++) {
        double x[5], y[5];
        double shift = 2.0 * lsc_rng_uniform_d(&rng) - 1.0, sd = 0.05 + lsc_rng_uniform_d(&rng);
        for (int i = 0; i < 5; i++) {
            x[i] = shift + sd * lsc_rng_normal(&rng);
            y[i] = 0.0;
        }
        lsc_tost_paired(x, y, 5, 0.8, 0.05, &r, NULL);
        agree &= r.equivalent == (r.lo > -0.8 && r.hi < 0.8);
        n_eq += r.equivalent;
    }
    CHECK(agree && n_eq > 20 && n_eq < 380,
          "TOST equivalent iff the 90%% interval is inside the margin (400 datasets, %d "
          "equivalent)", n_eq);
    rc = lsc_tost_paired(a, b, 1, 1.0, 0.05, &r, NULL);
    CHECK(rc == LSC_OK && r.no_test && !r.equivalent, "TOST with one pair: no test, never equivalent");
    const double c3[3] = {1.5, 1.5, 1.5}, z3[3] = {0, 0, 0};
    rc = lsc_tost_paired(c3, z3, 3, 1.0, 0.05, &r, NULL);
    CHECK(rc == LSC_OK && !r.equivalent && r.p == 1.0,
          "TOST with every difference 1.5 and margin 1: not equivalent");
}

/* Rejection rates under the null: the paired t-test at the true mean 0 and
 * TOST at the margin both reject at most alpha (binomial sd ~0.005). */
static void test_calibration(void)
{
    uint64_t rng;
    lsc_rng_seed(&rng, 2024);
    int n_sim = 4000, rej_t = 0, rej_tost = 0;
    for (int k = 0; k < n_sim; k++) {
        double a[5], b[5] = {0, 0, 0, 0, 0}, c[5];
        for (int i = 0; i < 5; i++) {
            a[i] = lsc_rng_normal(&rng);
            c[i] = 1.0 + lsc_rng_normal(&rng);   /* true mean at the margin */
        }
        lsc_paired_t_result r;
        lsc_tost_result t;
        lsc_paired_t(a, b, 5, 0.95, &r, NULL);
        lsc_tost_paired(c, b, 5, 1.0, 0.05, &t, NULL);
        rej_t += r.p < 0.05;
        rej_tost += t.equivalent;
    }
    double rt = (double)rej_t / n_sim, rq = (double)rej_tost / n_sim;
    CHECK(rt > 0.035 && rt < 0.065, "paired t rejects a true null at rate %.4f (alpha 0.05)", rt);
    CHECK(rq < 0.065, "TOST declares equivalence at the margin at rate %.4f (<= alpha 0.05)", rq);
}

// ---- Monte-Carlo ----

static void test_monte_carlo(void)
{
    const double d[4] = {1, 2, 3, 4}, nan4[2] = {NAN, 0.0};
    CHECK(lsc_mc_pvalue(3.0, d, 4) == 0.6 && lsc_mc_pvalue(5.0, d, 4) == 0.2 &&
          lsc_mc_pvalue(0.0, d, 4) == 1.0, "mc_pvalue: (1 + #{>=}) / (1 + n)");
    CHECK(lsc_mc_pvalue(1.0, nan4, 2) == 2.0 / 3.0 && isnan(lsc_mc_pvalue(NAN, d, 4)) &&
          isnan(lsc_mc_pvalue(1.0, d, -1)), "mc_pvalue: a NaN draw counts as >=; NaN in, NaN out");
    CHECK(lsc_quantile_sorted(d, 4, 0.5) == 2.5 && fabs(lsc_quantile_sorted(d, 4, 0.95) - 3.85) < 1e-15 &&
          lsc_quantile_sorted(d, 4, 0.0) == 1.0 && lsc_quantile_sorted(d, 4, 1.0) == 4.0,
          "quantile_sorted: type 7 (numpy's default)");
    /* null of the mean of m = 4 draws of U(0, 1) values: mean 1/2, sd √(1/12/4) */
    double draws[2000], work[20000], work2[20000];
    uint64_t rng;
    lsc_rng_seed(&rng, 3);
    for (int i = 0; i < 2000; i++)
        draws[i] = lsc_rng_uniform_d(&rng);
    lsc_null_mean nm, nm2;
    int rc = lsc_null_mean_test(0.8, draws, 2000, 4, 20000, 11, work, &nm, NULL);
    double sd = sqrt(1.0 / 48.0);
    CHECK(rc == LSC_OK && fabs(nm.mean - 0.5) < 0.01 && fabs(nm.sd / sd - 1.0) < 0.05 &&
          nm.q05 < nm.q50 && nm.q50 < nm.q95 && work[0] <= work[19999],
          "null mean of 4 U(0,1) draws: mean %.4f (1/2), sd %.4f (%.4f), sorted", nm.mean, nm.sd, sd);
    /* P(mean of 4 U(0,1) >= 0.8) = (4·0.2)^4/24 · ... Irwin-Hall: (4 − 3.2)^4/24 = 0.017067 */
    CHECK(fabs(nm.p - 0.017067) < 0.004, "null mean p for 0.8: %.4f (Irwin-Hall 0.0171)", nm.p);
    rc = lsc_null_mean_test(0.8, draws, 2000, 4, 20000, 11, work2, &nm2, NULL);
    CHECK(rc == LSC_OK && nm2.p == nm.p && memcmp(work, work2, sizeof work) == 0,
          "null mean: the same seed gives the same resamples");
    const double *rows[4] = {draws, draws, draws, draws};
    const int row_n[4] = {2000, 2000, 2000, 2000};
    rc = lsc_null_mean_test_rows(0.8, 4, rows, row_n, 20000, 11, work2, &nm2, NULL);
    CHECK(rc == LSC_OK && nm2.p == nm.p && memcmp(work, work2, sizeof work) == 0,
          "null mean by rows with every row the pool = the pooled resampling");
}

// ---- error paths ----

static void test_errors(void)
{
    const double x[3] = {1, NAN, 3}, y[3] = {1, 2, 3};
    lsc_ci c;
    lsc_paired_t_result r;
    lsc_tost_result t;
    lsc_null_mean nm;
    double w[4];
    lsc_error err;
    int rc = lsc_mean_ci(y, 0, 0.95, &c, &err);
    CHECK(rc == LSC_EARG && err.code == LSC_EARG && strstr(err.msg, "n = 0"),
          "mean_ci n = 0: LSC_EARG (%s)", err.msg);
    rc = lsc_mean_ci(y, 3, 1.0, &c, &err);
    CHECK(rc == LSC_EARG && strstr(err.msg, "level 1"), "mean_ci level 1: LSC_EARG (%s)", err.msg);
    rc = lsc_mean_ci(x, 3, 0.95, &c, &err);
    CHECK(rc == LSC_ENAN && strstr(err.msg, "value 1 is not finite"),
          "mean_ci with a NaN: LSC_ENAN (%s)", err.msg);
    rc = lsc_paired_t(x, y, 3, 0.95, &r, &err);
    CHECK(rc == LSC_ENAN && strstr(err.msg, "lsc_paired_t"), "paired_t NaN: LSC_ENAN (%s)", err.msg);
    rc = lsc_paired_t(y, NULL, 3, 0.95, &r, &err);
    CHECK(rc == LSC_EARG, "paired_t b NULL: LSC_EARG (%s)", err.msg);
    rc = lsc_tost_paired(y, y, 3, 0.0, 0.05, &t, &err);
    CHECK(rc == LSC_EARG && strstr(err.msg, "margin 0"), "tost margin 0: LSC_EARG (%s)", err.msg);
    rc = lsc_tost_paired(y, y, 3, 1.0, 0.5, &t, &err);
    CHECK(rc == LSC_EARG && strstr(err.msg, "alpha 0.5"), "tost alpha 0.5: LSC_EARG (%s)", err.msg);
    rc = lsc_null_mean_test(0.5, y, 3, 0, 4, 1, w, &nm, &err);
    CHECK(rc == LSC_EARG && strstr(err.msg, "m = 0"), "null_mean m = 0: LSC_EARG (%s)", err.msg);
    rc = lsc_null_mean_test(0.5, x, 3, 2, 4, 1, w, &nm, &err);
    CHECK(rc == LSC_ENAN && strstr(err.msg, "null draw 1"), "null_mean NaN draw: LSC_ENAN (%s)",
          err.msg);
    const double *rows[2] = {y, NULL};
    const int row_n[2] = {3, 3};
    rc = lsc_null_mean_test_rows(0.5, 2, rows, row_n, 4, 1, w, &nm, &err);
    CHECK(rc == LSC_EARG && strstr(err.msg, "row 1"), "null_mean_rows NULL row: LSC_EARG (%s)",
          err.msg);
    CHECK(lsc_mean_ci(y, 0, 0.95, &c, NULL) == LSC_EARG, "errors with err = NULL still return the code");
}

// ---- the oracle's values (--dump) ----

static void dump(void)
{
    static const double dfs[] = {1, 2, 3, 4.5, 7, 12, 30, 120, 1000};
    static const double ts[] = {-7.5, -2.1, -0.3, 0.0, 0.8, 1.7, 3.3, 11.0};
    static const double ps[] = {0.001, 0.025, 0.1, 0.4, 0.6, 0.95, 0.975, 0.9995};
    for (size_t i = 0; i < sizeof dfs / sizeof *dfs; i++) {
        for (size_t j = 0; j < sizeof ts / sizeof *ts; j++)
            printf("tcdf %.17g %.17g %.17g\n", dfs[i], ts[j], lsc_t_cdf(ts[j], dfs[i]));
        for (size_t j = 0; j < sizeof ps / sizeof *ps; j++)
            printf("tq %.17g %.17g %.17g\n", dfs[i], ps[j], lsc_t_quantile(ps[j], dfs[i]));
    }
    static const double ab[][2] = {{0.5, 3.5}, {0.5, 255.5}, {0.5, 31.5}, {2, 2}, {1.5, 7}, {9, 3}};
    for (size_t i = 0; i < sizeof ab / sizeof *ab; i++)
        for (double x = 0.001; x < 1.0; x *= 3.0)
            printf("beta %.17g %.17g %.17g %.17g\n", ab[i][0], ab[i][1], x,
                   lsc_beta_inc(ab[i][0], ab[i][1], x));
    const double a[6] = {71.2, 70.8, 71.9, 70.5, 71.1, 72.0};
    const double b[6] = {70.9, 70.1, 71.5, 70.7, 70.2, 71.1};
    lsc_paired_t_result r;
    lsc_tost_result t;
    lsc_ci c;
    lsc_mean_ci(a, 6, 0.95, &c, NULL);
    printf("ci %.17g %.17g %.17g %.17g\n", c.mean, c.sd, c.lo, c.hi);
    lsc_paired_t(a, b, 6, 0.95, &r, NULL);
    printf("paired %.17g %.17g %.17g %.17g %.17g %.17g\n", r.mean, r.sd, r.t, r.p, r.lo, r.hi);
    lsc_tost_paired(a, b, 6, 1.0, 0.05, &t, NULL);
    printf("tost %.17g %.17g %.17g %.17g %.17g %d\n", t.p_lower, t.p_upper, t.p, t.lo, t.hi,
           t.equivalent);
    double draws[50], work[300];
    for (int i = 0; i < 50; i++)
        draws[i] = sin(1.0 + i) * sin(1.0 + i);
    lsc_null_mean nm;
    lsc_null_mean_test(0.6, draws, 50, 3, 300, 99, work, &nm, NULL);
    printf("nullmean %.17g %.17g %.17g %.17g %.17g\n", nm.p, nm.mean, nm.q05, nm.q50, nm.q95);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--dump") == 0) {
        dump();
        return 0;
    }
    test_t_known();
    test_t_closed_forms();
    test_normal_beta();
    test_ci_paired();
    test_tost();
    test_calibration();
    test_monte_carlo();
    test_errors();
    return test_summary();
}
