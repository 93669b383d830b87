#!/usr/bin/python3
"""test_stats_oracle.py — an independent numpy implementation of what
lib/stats.c computes, written from the definitions, not from the C code:
the Student t CDF by Gauss-Legendre quadrature of the density (the upper
tail through u = 1/t, so small tails keep their relative accuracy), its
quantile by bisection on that CDF, the regularized incomplete beta function
as a ratio of two quadratures (no log-Beta at all), the t-interval, paired
t-test and TOST of fixed data with numpy, and the resampled null of a mean
with the Python port of lsc_rng in test_analysis_oracle.py and numpy's
default (type-7) quantiles. It reads the C values from
`$LSC_BUILD/tests/test_stats --dump`. When scipy is importable the t and
beta values are checked against scipy.stats too (else that part is a SKIP).

Prints one PASS/FAIL line per check and "N passed, N failed, N skipped"
(tests/testlib.py); exits 1 on any failure.
"""
import math
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import ROOT, check, skip, summary  # noqa: E402
from test_analysis_oracle import Rng  # noqa: E402  (the Python port of lsc_rng)

GL_X, GL_W = np.polynomial.legendre.leggauss(24)


# ---- quadrature ----

def integrate(f, a, b, panels=64):
    """∫_a^b f by composite 24-point Gauss-Legendre."""
    if b <= a:
        return 0.0
    edges = np.linspace(a, b, panels + 1)
    lo, hi = edges[:-1, None], edges[1:, None]
    x = 0.5 * (hi - lo) * GL_X[None, :] + 0.5 * (hi + lo)
    return float(np.sum(0.5 * (hi - lo) * GL_W[None, :] * f(x)))


# ---- Student t ----

def t_pdf(t, df):
    c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return np.exp(c - (df + 1) / 2 * np.log1p(t * t / df))


def t_sf_pos(t, df):
    """P(T > t), t >= 0: ∫_t^∞ pdf; for t >= 1 as ∫_0^{1/t} pdf(1/u)/u² du."""
    if t < 1.0:
        return 0.5 - integrate(lambda x: t_pdf(x, df), 0.0, t)
    return integrate(lambda u: t_pdf(1.0 / u, df) / (u * u), 0.0, 1.0 / t)


def t_cdf(t, df):
    return 1.0 - t_sf_pos(t, df) if t >= 0 else t_sf_pos(-t, df)


def t_quantile(p, df):
    """bisection on the tail q = min(p, 1 − p), in log t once t > 1"""
    q = min(p, 1.0 - p)
    lo, hi = 0.0, 1.0
    while t_sf_pos(hi, df) > q:
        lo, hi = hi, hi * 4.0
    for _ in range(200):
        mid = math.sqrt(lo * hi) if lo > 0 else 0.5 * (lo + hi)
        if t_sf_pos(mid, df) > q:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * hi:
            break
    t = 0.5 * (lo + hi)
    return t if p > 0.5 else -t


# ---- incomplete beta ----

def beta_inc(a, b, x):
    """I_x(a, b) = ∫_0^x / ∫_0^1 of t^(a−1) (1−t)^(b−1), with t = u² (smooth at 0;
    b >= 1 keeps it smooth at 1, which the dumped (a, b) all satisfy)."""
    f = lambda u: 2.0 * u ** (2 * a - 1) * (1.0 - u * u) ** (b - 1)  # noqa: E731
    return integrate(f, 0.0, math.sqrt(x), 256) / integrate(f, 0.0, 1.0, 256)


# ---- the resampled null of a mean (lsc_rng ported in test_analysis_oracle) ----

def null_mean(observed, draws, m, n_out, seed):
    rng = Rng(seed)
    means = np.empty(n_out)
    for k in range(n_out):
        s = 0.0
        for _ in range(m):
            j = min(int(rng.uniform() * len(draws)), len(draws) - 1)
            s += draws[j]
        means[k] = s / m
    p = (1 + np.sum(means >= observed)) / (1 + n_out)
    return p, means.mean(), *np.quantile(means, [0.05, 0.5, 0.95])


# ---- the checks ----

def close(a, b, rel, absol=0.0):
    return abs(a - b) <= max(rel * max(abs(a), abs(b)), absol)


def check_distributions(rows):
    bad = [r for r in rows["tcdf"] if not close(r[2], t_cdf(r[1], r[0]), 1e-11, 1e-14)]
    check(not bad, f"t_cdf at {len(rows['tcdf'])} (df, t) against quadrature of the density"
          + (f": first bad {bad[0]} vs {t_cdf(bad[0][1], bad[0][0])}" if bad else ""))
    bad = [r for r in rows["tq"] if not close(r[2], t_quantile(r[1], r[0]), 1e-11)]
    check(not bad, f"t_quantile at {len(rows['tq'])} (df, p) against bisection on the quadrature"
          + (f": first bad {bad[0]} vs {t_quantile(bad[0][1], bad[0][0])}" if bad else ""))
    bad = [r for r in rows["beta"] if not close(r[3], beta_inc(*r[:3]), 1e-11, 1e-15)]
    check(not bad, f"beta_inc at {len(rows['beta'])} (a, b, x) against a ratio of quadratures"
          + (f": first bad {bad[0]} vs {beta_inc(*bad[0][:3])}" if bad else ""))


def check_tests(rows):
    a = np.array([71.2, 70.8, 71.9, 70.5, 71.1, 72.0])
    b = np.array([70.9, 70.1, 71.5, 70.7, 70.2, 71.1])
    n = len(a)
    tc = t_quantile(0.975, n - 1)
    m, sd = a.mean(), a.std(ddof=1)
    ci = rows["ci"][0]
    check(close(ci[0], m, 1e-14) and close(ci[1], sd, 1e-13) and
          close(ci[2], m - tc * sd / math.sqrt(n), 1e-13) and close(ci[3], m + tc * sd / math.sqrt(n), 1e-13),
          f"mean_ci: {ci[2]:.6f}..{ci[3]:.6f} (numpy {m - tc * sd / math.sqrt(n):.6f}..)")
    d = a - b
    dm, dsd = d.mean(), d.std(ddof=1)
    se = dsd / math.sqrt(n)
    t = dm / se
    p = 2.0 * t_sf_pos(abs(t), n - 1)
    pr = rows["paired"][0]
    check(close(pr[0], dm, 1e-13) and close(pr[1], dsd, 1e-12) and close(pr[2], t, 1e-12) and
          close(pr[3], p, 1e-10) and close(pr[4], dm - tc * se, 1e-12) and close(pr[5], dm + tc * se, 1e-12),
          f"paired t: t {pr[2]:.6f} (numpy {t:.6f}), p {pr[3]:.6g} ({p:.6g})")
    margin, alpha = 1.0, 0.05
    pl = t_sf_pos((dm + margin) / se, n - 1)
    pu = t_cdf((dm - margin) / se, n - 1)
    t90 = t_quantile(1 - alpha, n - 1)
    to = rows["tost"][0]
    eq = int(max(pl, pu) < alpha)
    check(close(to[0], pl, 1e-10, 1e-15) and close(to[1], pu, 1e-10, 1e-15) and
          close(to[2], max(pl, pu), 1e-10) and close(to[3], dm - t90 * se, 1e-12) and
          close(to[4], dm + t90 * se, 1e-12) and int(to[5]) == eq and
          eq == int(dm - t90 * se > -margin and dm + t90 * se < margin),
          f"TOST: p {to[2]:.6g} (numpy {max(pl, pu):.6g}), equivalent {int(to[5])}")


def check_null_mean(rows):
    draws = [math.sin(1.0 + i) ** 2 for i in range(50)]
    got = rows["nullmean"][0]
    want = null_mean(0.6, draws, 3, 300, 99)
    check(all(close(g, w, 1e-14, 1e-15) for g, w in zip(got, want)),
          f"resampled null of a mean (lsc_rng port, numpy quantiles): p {got[0]} "
          f"(python {want[0]}), q95 {got[4]:.6f} ({want[4]:.6f})")


def check_scipy(rows):
    try:
        from scipy import stats, special
    except ImportError:
        skip("scipy cross-check", "scipy is not importable")
        return
    bad = [r for r in rows["tcdf"] if not close(r[2], stats.t.cdf(r[1], r[0]), 1e-10, 1e-14)]
    bad += [r for r in rows["tq"] if not close(r[2], stats.t.ppf(r[1], r[0]), 1e-10)]
    bad += [r for r in rows["beta"] if not close(r[3], special.betainc(*r[:3]), 1e-10, 1e-15)]
    check(not bad, "t_cdf, t_quantile and beta_inc against scipy" + (f": {bad[:2]}" if bad else ""))


def main():
    exe = os.path.join(ROOT, os.environ.get("LSC_BUILD", "build"), "tests", "test_stats")
    if not os.path.exists(exe):
        check(False, f"{exe} exists (build first)")
        return summary()
    out = subprocess.run([exe, "--dump"], capture_output=True, text=True, check=True).stdout
    rows = {}
    for line in out.splitlines():
        key, *vals = line.split()
        rows.setdefault(key, []).append([float(v) for v in vals])
    check_distributions(rows)
    check_tests(rows)
    check_null_mean(rows)
    check_scipy(rows)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
