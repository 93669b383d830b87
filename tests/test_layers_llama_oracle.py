#!/usr/bin/python3
"""test_layers_llama_oracle.py — the Llama kernels of lib/layers_llama.c
against numpy: one case of each from `$LSC_BUILD/tests/test_layers_llama
--dump` (inputs and the fast float kernels' outputs and gradients).

Forwards are compared with tests/llama_ref.py's rms_norm and rope (both
layouts) and, for SwiGLU and grouped-query attention, with the expressions
of llama_ref's Llama.logits (silu, np.repeat of the k/v heads, einsum,
softmax under a -inf mask), all in float64. The RoPE backward is checked as
the rotation by -pos. The other backwards are checked against numpy central
differences of those float64 forwards (loss = <dout, out>), so nothing here
shares a line of derivation with the C code.

Prints one PASS/FAIL line per check and "N passed, N failed, N skipped"
(tests/testlib.py); exits 1 on any failure.
"""
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import ROOT, check, summary  # noqa: E402
import llama_ref  # noqa: E402

# the case's shapes (dump() in tests/test_layers_llama.c)
N, C, NH, NKV, HS, B, T, NS = 6, 16, 4, 2, 6, 2, 6, 50
POS = np.array([0, 1, 2, 5, 17, 40], dtype=np.float64)
EPS, THETA = 1e-5, 10000.0
TOL = 2e-5       # float kernels vs float64 numpy, relative to the tensor's scale
FD_TOL = 5e-5    # float gradients vs numpy central differences


def nerr(a, b):
    """max |a - b| / max |b|"""
    s = np.max(np.abs(b))
    return float(np.max(np.abs(a - b)) / (s if s > 0 else 1.0))


def fd_grad(f, x, dout, h=1e-6):
    """d <dout, f(x)> / dx by central differences, every entry."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        x0 = x[i]
        x[i] = x0 + h
        lp = np.sum(dout * f(x))
        x[i] = x0 - h
        lm = np.sum(dout * f(x))
        x[i] = x0
        g[i] = (lp - lm) / (2 * h)
    return g


def swiglu(g, u):
    return (g / (1 + np.exp(-g))) * u      # llama_ref: (g / (1 + np.exp(-g))) * u


def gqa(q, k, v):
    """q (B,T,NH*HS), k, v (B,T,NKV*HS) -> (B,T,NH*HS), llama_ref's attention per batch row."""
    out = np.empty_like(q)
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for b in range(B):
        qb = q[b].reshape(T, NH, HS)
        kb = np.repeat(k[b].reshape(T, NKV, HS), NH // NKV, axis=1)
        vb = np.repeat(v[b].reshape(T, NKV, HS), NH // NKV, axis=1)
        att = np.einsum("thd,shd->hts", qb, kb) / np.sqrt(HS) + mask
        att = np.exp(att - att.max(axis=-1, keepdims=True))
        att /= att.sum(axis=-1, keepdims=True)
        out[b] = np.einsum("hts,shd->thd", att, vb).reshape(T, NH * HS)
    return out


def check_rmsnorm(a):
    x, w, g = a["rms_x"].reshape(N, C), a["rms_w"], a["rms_g"].reshape(N, C)
    check(nerr(a["rms_out"].reshape(N, C), llama_ref.rms_norm(x, w, EPS)) < TOL,
          "rmsnorm forward = llama_ref.rms_norm")
    dx = fd_grad(lambda z: llama_ref.rms_norm(z, w, EPS), x.copy(), g)
    dw = fd_grad(lambda z: llama_ref.rms_norm(x, z, EPS), w.copy(), g)
    check(nerr(a["rms_dx"].reshape(N, C), dx) < FD_TOL, "rmsnorm dinp = numpy central differences")
    check(nerr(a["rms_dw"], dw) < FD_TOL, "rmsnorm dw = numpy central differences")


def check_rope(a):
    x = a["rope_x"].reshape(N, NH, HS)
    for c_name, ref_name in (("interleaved", "interleaved"), ("half", "half")):
        fwd = llama_ref.rope(x, POS, THETA, ref_name)
        bwd = llama_ref.rope(x, -POS, THETA, ref_name)
        e = nerr(a["rope_fwd_" + c_name].reshape(N, NH, HS), fwd)
        check(e < TOL, "rope forward (%s) = llama_ref.rope (err %.1e)" % (c_name, e))
        e = nerr(a["rope_bwd_" + c_name].reshape(N, NH, HS), bwd)
        check(e < TOL, "rope backward (%s) = llama_ref.rope at -pos (err %.1e)" % (c_name, e))
    # negative control: the other layout does not match
    e = nerr(a["rope_fwd_half"].reshape(N, NH, HS), llama_ref.rope(x, POS, THETA, "interleaved"))
    check(e > 1e-2, "negative control: the half layout is not llama_ref's interleaved rope (%.2f)" % e)


def check_swiglu(a):
    g, u, dh = a["sw_gate"], a["sw_up"], a["sw_dh"]
    check(nerr(a["sw_h"], swiglu(g, u)) < TOL, "swiglu forward = silu(gate) * up")
    # element-wise: one central difference per entry for the whole vector
    h = 1e-6
    dg = dh * (swiglu(g + h, u) - swiglu(g - h, u)) / (2 * h)
    du = dh * (swiglu(g, u + h) - swiglu(g, u - h)) / (2 * h)
    check(nerr(a["sw_dgate"], dg) < FD_TOL, "swiglu dgate = numpy central differences")
    check(nerr(a["sw_dup"], du) < FD_TOL, "swiglu dup = numpy central differences")


def check_gqa(a):
    q = a["gqa_q"].reshape(B, T, NH * HS)
    k, v = a["gqa_k"].reshape(B, T, NKV * HS), a["gqa_v"].reshape(B, T, NKV * HS)
    dout = a["gqa_dout"].reshape(B, T, NH * HS)
    e = nerr(a["gqa_out"].reshape(q.shape), gqa(q, k, v))
    check(e < TOL, "gqa NH=%d NKV=%d forward = llama_ref's repeat + einsum attention (err %.1e)" % (NH, NKV, e))
    for name, x, f in (("dq", q, lambda z: gqa(z, k, v)), ("dk", k, lambda z: gqa(q, z, v)),
                       ("dv", v, lambda z: gqa(q, k, z))):
        e = nerr(a["gqa_" + name].reshape(x.shape), fd_grad(f, x.copy(), dout))
        check(e < FD_TOL, "gqa %s = numpy central differences (err %.1e)" % (name, e))


def main():
    exe = os.path.join(ROOT, os.environ.get("LSC_BUILD", "build"), "tests", "test_layers_llama")
    if not os.path.exists(exe):
        check(False, "%s exists (make build)" % exe)
        return summary()
    out = subprocess.run([exe, "--dump"], capture_output=True, text=True, check=True).stdout
    a = {}
    for line in out.splitlines():
        name, *vals = line.split()
        a[name] = np.array([float(s) for s in vals], dtype=np.float64)
    check_rmsnorm(a)
    check_rope(a)
    check_swiglu(a)
    check_gqa(a)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
