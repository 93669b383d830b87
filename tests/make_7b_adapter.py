#!/usr/bin/python3
"""make_7b_adapter.py — a 7B-shaped PEFT LoRA adapter for timing (not a test:
tests/run.sh runs tests/test_*.py only).

Usage: make_7b_adapter.py DIR [--rank 64] [--layers 32] [--seed 0]

Writes DIR/adapter_config.json and DIR/adapter_model.safetensors with Llama-2
7B's LoRA module shapes: per layer self_attn.{q,k,v,o}_proj 4096 -> 4096,
mlp.gate_proj and mlp.up_proj 4096 -> 11008, mlp.down_proj 11008 -> 4096
(32 layers x 7 = 224 modules), r = 64, lora_alpha = 128, float32. A is
N(0, 1/in) and B has a decaying column scale (B[:, j] ~ N(0, 1e-4) * 0.9^j)
so dW = s B A has a non-flat spectrum. At r = 64 the file is ~640 MB; it is
written tensor by tensor (the header first), never held whole in memory.
"""
import json
import os
import struct
import sys

import numpy as np

HID = 4096
FFN = 11008


def modules(layers):
    out = []
    for layer in range(layers):
        p = "base_model.model.model.layers.%d." % layer
        for m in ("q_proj", "k_proj", "v_proj", "o_proj"):
            out.append((p + "self_attn." + m, HID, HID))
        out.append((p + "mlp.gate_proj", HID, FFN))
        out.append((p + "mlp.up_proj", HID, FFN))
        out.append((p + "mlp.down_proj", FFN, HID))
    return out


def main(argv):
    if len(argv) < 1 or argv[0].startswith("-"):
        sys.stderr.write(__doc__)
        return 2
    out_dir = argv[0]
    opts = {"--rank": 64, "--layers": 32, "--seed": 0}
    i = 1
    while i < len(argv):
        if argv[i] not in opts or i + 1 >= len(argv):
            sys.stderr.write("make_7b_adapter.py: bad option %s\n" % argv[i])
            return 2
        opts[argv[i]] = int(argv[i + 1])
        i += 2
    r = opts["--rank"]
    rng = np.random.default_rng(opts["--seed"])
    os.makedirs(out_dir, exist_ok=True)
    mods = modules(opts["--layers"])
    tensors = []  # (name, shape)
    for name, fin, fout in mods:
        tensors.append((name + ".lora_A.weight", [r, fin]))
        tensors.append((name + ".lora_B.weight", [fout, r]))
    tensors.sort(key=lambda t: t[0])
    header = {}
    off = 0
    for name, shape in tensors:
        n = shape[0] * shape[1] * 4
        header[name] = {"dtype": "F32", "shape": shape,
                        "data_offsets": [off, off + n]}
        off += n
    header["__metadata__"] = {"format": "pt"}
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    path = os.path.join(out_dir, "adapter_model.safetensors")
    tmp = path + ".tmp"
    colscale = (0.9 ** np.arange(r)).astype(np.float32) * np.float32(1e-2)
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for name, shape in tensors:
            a = rng.standard_normal(shape, dtype=np.float32)
            if name.endswith("lora_A.weight"):
                a *= np.float32(1.0 / np.sqrt(shape[1]))
            else:
                a *= colscale[None, :]
            f.write(a.tobytes())
    os.replace(tmp, path)
    config = {
        "peft_type": "LORA", "task_type": "CAUSAL_LM",
        "base_model_name_or_path": "meta-llama/Llama-2-7b-hf",
        "r": r, "lora_alpha": 2 * r, "lora_dropout": 0.0,
        "fan_in_fan_out": False, "bias": "none", "use_rslora": False,
        "use_dora": False, "rank_pattern": {}, "alpha_pattern": {},
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj",
                           "gate_proj", "up_proj", "down_proj"],
    }
    with open(os.path.join(out_dir, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    print("%s: %d modules, r=%d, %.0f MB" % (out_dir, len(mods), r, off / 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
