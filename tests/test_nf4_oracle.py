#!/usr/bin/python3
"""test_nf4_oracle.py — an independent numpy implementation of NF4 with
double quantisation (QLoRA / bitsandbytes), written from the description in
lora-facts §5 and the arithmetic spelled out at the top of lib/nf4.c, never
from our C code. It writes a model with its own safetensors writer, runs
`$LSC_BIN quantize` and `$LSC_BIN dequantize`, reads the results with its
own reader and compares: packed bytes and 8-bit absmax exactly, the float
state and dequantised values within 1e-6, the quant_state JSON as Python's
json.dumps would write it, the untouched tensors byte for byte.

Prints one PASS/FAIL line per check and "N passed, N failed, N skipped"
(tests/testlib.py); exits 1 on any failure.
"""
import json
import os
import struct
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import LSC, check, run, summary  # noqa: E402

F32 = np.float32


# ---- the formats, from the description ----

# bitsandbytes get_4bit_type("nf4"), lora-facts §5
NF4 = np.array([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
                0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0], dtype=F32)
# bucketize boundaries: midpoints in double, then float32; a value on a
# midpoint goes to the lower code (x > m selects the upper one)
NF4_MID = ((NF4[:-1].astype(np.float64) + NF4[1:].astype(np.float64)) / 2).astype(F32)


def dynamic_map_signed():
    """create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8):
    non_sign_bits = 7, additional_items = 2**0 - 1 = 0; for i in 0..6,
    fraction_items = 2**i + 1 points of linspace(0.1, 1) in float32 (torch's
    CPU rule: step = (end-start)/(steps-1); the first steps//2 points are
    start + step*j, the others end - step*(steps-1-j)), means of neighbours,
    times float32(10**(i-6)), both signs; then 0 and 1; sorted."""
    vals = []
    for i in range(7):
        steps = 2 ** i + 1
        start, end = F32(0.1), F32(1.0)
        step = F32((end - start) / F32(steps - 1))
        pts = np.empty(steps, dtype=F32)
        for j in range(steps):
            pts[j] = start + step * F32(j) if j < steps // 2 else end - step * F32(steps - 1 - j)
        means = (pts[:-1] + pts[1:]) / F32(2)
        v = F32(10.0 ** (i - 6)) * means
        vals.extend(v.tolist())
        vals.extend((-v).tolist())
    vals += [0.0, 1.0]
    assert len(vals) == 256
    return np.sort(np.array(vals, dtype=F32))


DMAP = dynamic_map_signed()


def blocks_of(x, bs):
    """list of consecutive slices of length bs (the last may be shorter)."""
    return [x[i:i + bs] for i in range(0, x.size, bs)]


def quantize_nf4(W, bs, dq):
    flat = W.astype(F32).ravel()
    idx = np.empty(flat.size, dtype=np.uint8)
    absmax = np.empty((flat.size + bs - 1) // bs, dtype=F32)
    for b, blk in enumerate(blocks_of(flat, bs)):
        a = np.max(np.abs(blk))
        absmax[b] = a
        if a == 0:
            idx[b * bs:b * bs + blk.size] = 7          # zero block -> code 0.0
            continue
        s = np.clip(blk * (F32(1) / a), F32(-1), F32(1))
        idx[b * bs:b * bs + blk.size] = np.searchsorted(NF4_MID, s, side="left")
    q = idx if idx.size % 2 == 0 else np.append(idx, np.uint8(0))
    packed = ((q[0::2] << 4) | q[1::2]).astype(np.uint8)
    st = {"packed": packed, "absmax": absmax, "idx": idx, "bs": bs, "shape": W.shape, "dq": dq}
    if dq:
        offset = F32(np.mean(absmax.astype(np.float64)))
        x = absmax - offset
        qa = np.empty(absmax.size, dtype=np.uint8)
        nabs = []
        for j, blk in enumerate(blocks_of(x, 256)):
            a2 = np.max(np.abs(blk))
            nabs.append(a2)
            if a2 == 0:
                qa[j * 256:j * 256 + blk.size] = 127  # DMAP[127] == 0
                continue
            s = np.clip(blk * (F32(1) / a2), F32(-1), F32(1))
            qa[j * 256:j * 256 + blk.size] = np.argmin(np.abs(s[:, None] - DMAP[None, :]), axis=1)
        st.update(offset=offset, qabsmax=qa, nested_absmax=np.array(nabs, dtype=F32))
    return st


def deq_absmax(st):
    if not st["dq"]:
        return st["absmax"]
    a2 = np.repeat(st["nested_absmax"], 256)[:st["qabsmax"].size]
    return DMAP[st["qabsmax"]] * a2 + st["offset"]


def dequantize_nf4(st):
    a = np.repeat(deq_absmax(st), st["bs"])[:st["idx"].size]
    return (NF4[st["idx"]] * a).reshape(st["shape"])


# ---- safetensors, from the format description (lora-facts §4) ----

DT = {"F32": np.float32, "U8": np.uint8, "F64": np.float64, "I64": np.int64}


def st_write(path, tensors, meta=None):
    header, blobs, off = {}, [], 0
    if meta:
        header["__metadata__"] = meta
    for name, arr in tensors.items():
        dt = {np.dtype(np.float32): "F32", np.dtype(np.uint8): "U8", np.dtype(np.int64): "I64"}[arr.dtype]
        b = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def st_read(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        b0, b1 = e["data_offsets"]
        a = np.frombuffer(raw[8 + n + b0:8 + n + b1], dtype=np.dtype(DT[e["dtype"]]).newbyteorder("<"))
        out[name] = (e["dtype"], e["shape"], a.reshape(e["shape"]) if e["shape"] else a)
    return out, meta


# ---- the test ----

def compare_case(label, src_path, src, meta, out_path, back_path, bs, dq, targets):
    rc, so, se = run(["quantize", src_path] + ([] if bs == 64 else ["--blocksize", str(bs)]) +
                     (["--double-quant"] if dq else ["--no-double-quant"]) +
                     (["--targets", ",".join(targets)] if targets else []) + ["-o", out_path])
    if not check(rc == 0, f"{label}: lorascope quantize exits 0 ({se.strip()})"):
        return
    got, gmeta = st_read(out_path)
    check(gmeta == meta, f"{label}: __metadata__ copied")
    default = ("q_proj", "k_proj", "v_proj", "o_proj", "fc_in", "fc_out")
    want_q = [n for n, a in src.items() if a.ndim == 2 and n.endswith(".weight") and
              n[:-7].split(".")[-1] in (default if not targets else
                                        [t for t in targets] + [t + "_proj" for t in targets])]
    expect_names = set()
    for name, W in src.items():
        if name not in want_q:
            expect_names.add(name)
            dtn = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}[W.dtype]
            ok = name in got and got[name][0] == dtn and got[name][1] == list(W.shape) and \
                got[name][2].tobytes() == W.tobytes()
            check(ok, f"{label}: '{name}' kept byte for byte")
            continue
        st = quantize_nf4(W, bs, dq)
        n = W.size
        parts = [name, name + ".absmax", name + ".quant_map", name + ".quant_state.bitsandbytes__nf4"]
        if dq:
            parts += [name + ".nested_absmax", name + ".nested_quant_map"]
        expect_names.update(parts)
        if not check(all(p in got for p in parts), f"{label}: '{name}' has all bitsandbytes tensors"):
            continue
        dt, shp, packed = got[name]
        check(dt == "U8" and shp == [(n + 1) // 2, 1] and np.array_equal(packed.ravel(), st["packed"]),
              f"{label}: '{name}' packed U8 [{(n + 1) // 2}, 1] equals the oracle byte for byte"
              f" ({int(np.sum(packed.ravel() != st['packed']))} bytes differ)")
        check(got[name + ".quant_map"][0] == "F32" and np.array_equal(got[name + ".quant_map"][2], NF4),
              f"{label}: '{name}.quant_map' = the 16 NF4 codes")
        dt, shp, am = got[name + ".absmax"]
        if dq:
            check(dt == "U8" and np.array_equal(am, st["qabsmax"]),
                  f"{label}: '{name}.absmax' U8 [{am.size}] equals the oracle's 8-bit codes"
                  f" ({int(np.sum(am != st['qabsmax'])) if am.size == st['qabsmax'].size else 'size'} differ)")
            na = got[name + ".nested_absmax"][2]
            check(na.size == st["nested_absmax"].size and np.allclose(na, st["nested_absmax"], rtol=1e-6, atol=0),
                  f"{label}: '{name}.nested_absmax' F32 [{na.size}] within 1e-6")
            nm = got[name + ".nested_quant_map"][2]
            ulps = np.max(np.abs(nm.view(np.int32).astype(np.int64) - DMAP.view(np.int32).astype(np.int64)))
            check(np.allclose(nm, DMAP, rtol=1e-6, atol=0),
                  f"{label}: '{name}.nested_quant_map' = the signed dynamic map (max {ulps} ulp apart)")
        else:
            check(dt == "F32" and np.allclose(am, st["absmax"], rtol=1e-6, atol=0),
                  f"{label}: '{name}.absmax' F32 within 1e-6")
        qs = got[name + ".quant_state.bitsandbytes__nf4"]
        text = qs[2].tobytes().decode("utf-8")
        js = json.loads(text)
        want = {"quant_type": "nf4", "blocksize": bs, "dtype": "float32", "shape": list(W.shape)}
        if dq:
            want.update(nested_blocksize=256, nested_dtype="float32", nested_offset=float(st["offset"]))
        check(qs[0] == "U8" and len(qs[1]) == 1 and text == json.dumps(want),
              f"{label}: '{name}' quant_state JSON = json.dumps(...) exactly: {text}")
        if dq:
            check(abs(js["nested_offset"] - float(st["offset"])) <= 1e-6 * abs(float(st["offset"])),
                  f"{label}: '{name}' nested_offset = mean(absmax) within 1e-6")
    check(set(got) == expect_names, f"{label}: no tensor missing or extra ({len(got)} tensors)")

    rc, so, se = run(["dequantize", out_path, "-o", back_path])
    if not check(rc == 0, f"{label}: lorascope dequantize exits 0 ({se.strip()})"):
        return
    back, bmeta = st_read(back_path)
    check(set(back) == set(src) and bmeta == meta, f"{label}: dequantized file has the original names and metadata")
    for name in want_q:
        ref = dequantize_nf4(quantize_nf4(src[name], bs, dq))
        dt, shp, a = back[name]
        diff = float(np.max(np.abs(a - ref) / np.maximum(1.0, np.abs(ref)))) if shp == list(ref.shape) else 1.0
        check(dt == "F32" and diff <= 1e-6, f"{label}: deq('{name}') equals the oracle within 1e-6 (max {diff:.2g})")
        if bs <= 128:   # (4096-blocks share one absmax with the 3.0 outlier: large error, by design)
            err = np.linalg.norm(src[name] - a) / np.linalg.norm(src[name])
            check(0 < err < 0.15, f"{label}: ||W - deq(Q(W))|| / ||W|| = {err:.4f} is plausible for 4 bits")


if not os.access(LSC, os.X_OK):
    check(False, f"lorascope program at {LSC} (set LSC_BIN)")
    sys.exit(summary())

rng = np.random.default_rng(20240601)
q = (0.02 * rng.standard_normal((203, 101))).astype(F32)   # n = 20503: odd, 321 blocks of 64
q[10:12] = 0                                                # 202 zeros: whole zero blocks
q[150, 7] = 3.0                                             # one huge outlier
q[77, 50] = -0.5
model = {
    "wte.weight": rng.standard_normal((50, 24)).astype(F32),
    "h.0.ln_1.weight": np.ones(24, dtype=F32),
    "h.0.attn.q_proj.weight": q,
    "h.0.attn.q_proj.bias": rng.standard_normal(203).astype(F32),
    "h.0.mlp.fc_in.weight": (0.05 * rng.standard_normal((96, 24))).astype(F32),
    "h.1.attn.o_proj.weight": rng.uniform(-1, 1, (24, 96)).astype(F32),
    "h.1.mlp.fc_out.weight": (rng.standard_normal((24, 96)) * rng.uniform(0, 2, 96)).astype(F32),
    "lm_steps": np.arange(5, dtype=np.int64),
}
meta = {"n_layer": "2", "n_embd": "24", "format": "pt"}

check(DMAP.size == 256 and DMAP[127] == 0 and DMAP[255] == 1 and np.all(np.diff(DMAP) > 0),
      "oracle dynamic map: 256 sorted values, [127] = 0, [255] = 1")

with tempfile.TemporaryDirectory(prefix="lsc_nf4_oracle_") as tmp:
    src_path = os.path.join(tmp, "model.safetensors")
    st_write(src_path, model, meta)
    cases = [("blocksize 64 DQ (defaults)", 64, True, None),
             ("blocksize 128 no DQ", 128, False, None),
             ("blocksize 32 DQ targets q,fc_out", 32, True, ["q", "fc_out"]),
             ("blocksize 4096 DQ", 4096, True, None)]
    for i, (label, bs, dq, targets) in enumerate(cases):
        compare_case(label, src_path, model, meta, os.path.join(tmp, f"nf4_{i}.safetensors"),
                     os.path.join(tmp, f"back_{i}.safetensors"), bs, dq, targets)

    # bits per parameter printed by quantize, against QLoRA's formula
    rc, so, se = run(["quantize", src_path, "-o", os.path.join(tmp, "b.safetensors")])
    check(rc == 0 and "QLoRA formula 0.1270" in so, "quantize reports constants against QLoRA's 0.127 bits/param")

    # command-line errors: usage 2, failures 1, one line naming the file
    rc, so, se = run(["quantize", src_path, "-o", os.path.join(tmp, "x.safetensors"), "--blocksize", "48"])
    check(rc == 2 and "blocksize" in se, f"--blocksize 48: exit 2 ({se.strip().splitlines()[0] if se else ''})")
    rc, so, se = run(["quantize", src_path])
    check(rc == 2 and "-o" in se, "quantize without -o: exit 2")
    missing = os.path.join(tmp, "missing.safetensors")
    rc, so, se = run(["quantize", missing, "-o", os.path.join(tmp, "x.safetensors")])
    check(rc == 1 and "missing.safetensors" in se, "missing input: exit 1 naming the file")
    rc, so, se = run(["dequantize", src_path, "-o", os.path.join(tmp, "x.safetensors")])
    check(rc == 1 and "no NF4 weights" in se, "dequantize of an fp32 file: exit 1")
    bad = os.path.join(tmp, "bad.safetensors")
    raw, bmeta = st_read(os.path.join(tmp, "nf4_0.safetensors"))
    broken = {k: v[2] for k, v in raw.items()}
    broken["h.0.attn.q_proj.weight.quant_state.bitsandbytes__nf4"] = np.frombuffer(b'{"quant_type": "nf4", "blo',
                                                                                  dtype=np.uint8)
    st_write(bad, broken, bmeta)
    rc, so, se = run(["dequantize", bad, "-o", os.path.join(tmp, "x.safetensors")])
    check(rc == 1 and "quant_state" in se and "bad.safetensors" in se and len(se.strip().splitlines()) == 1,
          f"corrupt quant_state JSON: exit 1, one line ({se.strip()})")
    check(not os.path.exists(os.path.join(tmp, "x.safetensors")), "failed runs write no output")
    for cmd in ("quantize", "dequantize"):
        rc, so, se = run([cmd, "--help"])
        check(rc == 0 and "example" in so, f"{cmd} --help: exit 0 with an example")

sys.exit(summary())
