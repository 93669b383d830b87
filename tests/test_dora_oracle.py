#!/usr/bin/python3
"""test_dora_oracle.py — an independent numpy computation of DoRA's
effective update (PEFT's DoraLinearLayer: weight = transpose(W0,
fan_in_fan_out) + s·B@A, norm = ‖weight‖ per row (dim=1),
dW = (m / norm)[:, None] * weight − W0) against lib/dora.c: runs
$LSC_BUILD/tests/test_dora --dump FILE (two random cases, W0 stored
[out, in] and transposed [in, out]) and compares dW and the row norms to
1e-12 relative.

Prints one PASS/FAIL line per check and "N passed, N failed, N skipped".
"""
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import ROOT, check, summary  # noqa: E402


def read_cases(raw):
    off, cases = 0, []

    def take(dtype, n):
        nonlocal off
        a = np.frombuffer(raw, dtype=dtype, count=n, offset=off)
        off += a.nbytes
        return a
    while off < len(raw):
        d, k, r, w0t = (int(x) for x in take(np.int32, 4))
        s = float(take(np.float64, 1)[0])
        W0 = take(np.float32, d * k).reshape((k, d) if w0t else (d, k))
        A = take(np.float32, r * k).reshape(r, k)
        B = take(np.float32, d * r).reshape(d, r)
        m = take(np.float32, d)
        dW = take(np.float64, d * k).reshape(d, k)
        nrm = take(np.float64, d)
        cases.append((w0t, s, W0, A, B, m, dW, nrm))
    return cases


def main():
    build = os.environ.get("LSC_BUILD", "build")
    exe = os.path.join(ROOT, build, "tests", "test_dora")
    with tempfile.TemporaryDirectory() as td:
        path = os.path.join(td, "cases.bin")
        rc = os.system("'%s' --dump '%s' >/dev/null" % (exe, path))
        if not check(rc == 0 and os.path.exists(path), "test_dora --dump wrote the cases"):
            return summary()
        cases = read_cases(open(path, "rb").read())
    check(len(cases) == 2, "two cases read")
    for w0t, s, W0, A, B, m, dW, nrm in cases:
        W = W0.astype(np.float64).T if w0t else W0.astype(np.float64)
        V = W + s * (B.astype(np.float64) @ A.astype(np.float64))
        n = np.linalg.norm(V, axis=1)
        want = (m.astype(np.float64) / n)[:, None] * V - W
        rel = np.abs(dW - want).max() / np.abs(want).max()
        check(rel <= 1e-12, "dW vs numpy (fan_in_fan_out=%d): rel %.3g" % (w0t, rel))
        reln = np.abs(nrm - n).max() / n.max()
        check(reln <= 1e-12, "row norms vs numpy (fan_in_fan_out=%d): rel %.3g" % (w0t, reln))
    return summary()


if __name__ == "__main__":
    sys.exit(main())
