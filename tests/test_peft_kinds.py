#!/usr/bin/python3
"""test_peft_kinds.py — issue 14's adapter kinds, read by lorascope and
checked against numpy: tests/make_adapters.py kinds writes one adapter per
kind in PEFT's (and kohya's) documented key forms; here numpy computes each
module's dW independently from the file's tensors — PEFT's Conv
get_delta_weight (sum over r of B[o,r]·A[r,i,kh,kw]) reshaped to
[out, in·kh·kw], the embedding table's update s·Aᵀ·Bᵀ [vocab, dim], kohya's
alpha/r (alpha absent: 1), rsLoRA, rank/alpha_pattern, mixed F32/BF16/F16 —
and compares its singular values and shape with `lorascope spectrum`'s
/modules/<m>/ datasets and attributes, and the kind and scaling column of
`lorascope inspect`. Then the refusals: DoRA in the analyses, unknown
peft_type, adapter_model.bin, LyCORIS, ambiguous adapter names.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import check, run, summary  # noqa: E402
from make_adapters import read_safetensors  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def split_spec(spec):
    """DIR:NAME (when DIR:NAME is not a path) into (DIR, NAME), else (spec, "")."""
    if os.path.exists(spec) or ":" not in spec:
        return spec, ""
    return tuple(spec.rsplit(":", 1))


def numpy_deltas(spec, scales):
    """{module: (dW as lorascope's [out, in] matrix, table/kernel form)} from the file's tensors."""
    path, name = split_spec(spec)
    if name and os.path.isdir(os.path.join(path, name)):   # save_pretrained's subfolder per adapter
        path = os.path.join(path, name)
    kohya = path.endswith(".safetensors")
    st = read_safetensors(path if kohya else os.path.join(path, "adapter_model.safetensors"))
    out = {}
    for m, s in scales.items():
        if kohya:
            A, B = st[m + ".lora_down.weight"], st[m + ".lora_up.weight"]
        elif "base_model.model.%s.lora_embedding_A" % m in st:
            A, B = st["base_model.model.%s.lora_embedding_A" % m], st["base_model.model.%s.lora_embedding_B" % m]
            table = s * A.T @ B.T                     # PEFT: embed(x, A.T) @ B.T * s, table [vocab, dim]
            out[m] = (table.T, table)
            continue
        else:
            keys = [k for k in st if k.startswith("base_model.model.%s.lora_A." % m)]
            want = "base_model.model.%s.lora_A.%s.weight" % (m, name)
            ka = want if want in keys else keys[0]
            assert len(keys) == 1 or ka == want
            A, B = st[ka], st[ka.replace(".lora_A.", ".lora_B.")]
        if A.ndim > 2:   # conv: PEFT's get_delta_weight, then the reshape lorascope states
            kern = s * np.einsum("or,r...->o...", B.reshape(B.shape[0], B.shape[1]), A)
            out[m] = (kern.reshape(kern.shape[0], -1), kern)
        else:
            out[m] = (s * B @ A, None)
    return out


def inspect_row(out, m):
    """(kind, scaling, dtype) of module m in inspect's table, or None."""
    for ln in out.splitlines():
        f = ln.split()
        if f[:1] != [m]:
            continue
        rest = ln.strip()[len(m):].strip()
        for kind in ("embedding LoRA", "conv LoRA", "full tensor", "LoRA", "DoRA"):
            if rest.startswith(kind):
                c = rest[len(kind):].split()
                return kind, (float(c[2]) if c[2] != "-" else None), c[5]
    return None


def spectrum_of(adir, tmp, tag):
    h5 = os.path.join(tmp, tag.replace("/", "_").replace(":", "_") + ".h5")
    rc, out, err = run("spectrum", adir, "-o", h5, "--threads", "1")
    if not check(rc == 0, "%s: spectrum runs (%s)" % (tag, err.strip())):
        return None
    res = {}
    with h5py.File(h5, "r") as f:
        for m in f["modules"]:
            g = f["modules"][m]
            res[m] = (np.array(g["singular_values"]), dict(g.attrs))
    return res


def check_kind(tmp, adir, tag, scales, kinds):
    ref = numpy_deltas(adir, scales)
    got = spectrum_of(adir, tmp, tag)
    if got is None:
        return
    check(sorted(got) == sorted(ref), "%s: modules %s" % (tag, sorted(ref)))
    for m, (dW, _) in ref.items():
        if m not in got:
            continue
        sv, at = got[m]
        ref_sv = np.linalg.svd(dW, compute_uv=False)[:len(sv)]
        err = np.max(np.abs(sv - ref_sv)) / ref_sv[0]
        check(err < 1e-5, "%s %s: singular values of numpy's dW (rel err %.1e)" % (tag, m, err))
        check(abs(at["scaling"] - scales[m]) < 1e-12 * scales[m] and at["out_features"] == dW.shape[0] and
              at["in_features"] == dW.shape[1],
              "%s %s: scaling %g, dW [%d, %d] (got %g, [%d, %d])" % (tag, m, scales[m], dW.shape[0], dW.shape[1],
                                                                    at["scaling"], at["out_features"],
                                                                    at["in_features"]))
    rc, out, err = run("inspect", adir)
    for m, want in kinds.items():
        row = inspect_row(out, m)
        ok = rc == 0 and row is not None and want in (row[0], row[2])
        if ok and m in scales:
            ok = abs(row[1] - scales[m]) < 1e-3 * scales[m]
        check(ok, "%s %s: inspect says %s, scaling %s (got %s)" % (tag, m, want, scales.get(m), row))
    return out


def fail_one_line(args, needle, tag):
    rc, out, err = run(*args)
    lines = err.strip().splitlines()
    check(rc == 1 and len(lines) == 1 and needle in lines[0], "%s: exit 1, one line with '%s' (got %d: %s)"
          % (tag, needle, rc, err.strip()))


def main():
    tmp = tempfile.mkdtemp(prefix="lsc_kinds.")
    try:
        p = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "make_adapters.py"), "kinds", tmp],
                           capture_output=True, text=True)
        if not check(p.returncode == 0, "make_adapters.py kinds (%s)" % p.stderr.strip()):
            return summary()
        S = json.load(open(os.path.join(tmp, "kinds.json")))
        d = lambda n: os.path.join(tmp, n)  # noqa: E731
        check_kind(tmp, d("emb"), "embedding", S["emb"], {"wte": "embedding LoRA", "h.0.attn.q_proj": "LoRA"})
        st = read_safetensors(os.path.join(d("emb"), "adapter_model.safetensors"))
        ref = numpy_deltas(d("emb"), S["emb"])["wte"][1]
        check(ref.shape == st["base_model.model.wte.lora_embedding_A"].shape[::-1][:1] + (12,),
              "embedding: numpy's table update is [vocab 50, dim 12]; lorascope's dW is its transpose [12, 50]")
        out = check_kind(tmp, d("conv"), "conv", S["conv"], {"unet.conv_in": "conv LoRA", "audio.conv1": "conv LoRA"})
        check(out and "kernel [8, 3, 3, 3] read as [8, 3*3*3]" in out and "kernel [7, 6, 5] read as [7, 6*5]" in out,
              "conv: inspect states the kernel reshape")
        out = check_kind(tmp, d("kohya.safetensors"), "kohya", S["kohya.safetensors"],
                         {"lora_te_text_model_encoder_layers_0_mlp_fc1": "LoRA",
                          "lora_unet_down_blocks_0_resnets_0_conv1": "conv LoRA",
                          "lora_unet_mid_block_attentions_0_proj_in": "LoRA"})
        out = check_kind(tmp, d("mts"), "modules_to_save", S["mts"],
                         {"model.layers.0.self_attn.q_proj": "LoRA", "lm_head": "full tensor",
                          "model.embed_tokens": "full tensor"})
        check(out and "ignored tensor" not in out, "modules_to_save: full tensors listed, none ignored")
        check_kind(tmp, d("named"), "names in keys", S["named"], {"h.0.attn.q_proj": "LoRA"})
        check_kind(tmp, d("keys2") + ":french", "keys2:french", S["keys2:french"], {"h.0.attn.q_proj": "LoRA"})
        check_kind(tmp, d("multi") + ":french", "multi:french", S["multi:french"], {"h.0.attn.q_proj": "LoRA"})
        # multi:default reads the top level (numpy_deltas reads the path before ':')
        check_kind(tmp, d("multi") + ":default", "multi:default", S["multi:default"], {"h.0.attn.q_proj": "LoRA"})
        check_kind(tmp, d("mixed"), "mixed dtypes + rsLoRA + patterns", S["mixed"],
                   {"h.0.attn.q_proj": "F32", "h.0.attn.v_proj": "BF16", "h.0.mlp.fc": "F16"})
        rc, out, err = run("inspect", d("dora"))
        check(rc == 0 and out.count(" DoRA ") == 2 and "use_dora=true" in out, "DoRA: inspect lists both key forms as DoRA")
        for cmd in (["spectrum", d("dora"), "-o", d("x.h5")], ["subspace", d("dora"), d("dora"), "-o", d("x.h5")]):
            fail_one_line(cmd, "effective update needs the base", "DoRA refused by " + cmd[0])
        fail_one_line(["inspect", d("ia3")], "adapter_config.json: not supported: IA3", "IA3")
        fail_one_line(["spectrum", d("loha"), "-o", d("x.h5")], "not supported: LOHA", "LoHa")
        fail_one_line(["inspect", d("pickle")], "pickle, never unpickled", "adapter_model.bin")
        fail_one_line(["inspect", d("lycoris.safetensors")], "not supported: LyCORIS", "LyCORIS file")
        fail_one_line(["inspect", d("multi")], "2 adapters here (default, french); pick one as DIR:NAME",
                      "several adapter folders, none named")
        fail_one_line(["spectrum", d("keys2"), "-o", d("x.h5")], "keys of 2 adapters (default, french)",
                      "two adapter names in the keys, none named")
        fail_one_line(["inspect", d("keys2") + ":german"], "no adapter named 'german'", "an unknown name")
        check(not os.path.exists(d("x.h5")), "no output file after a refusal")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
