#!/usr/bin/python3
"""test_inspect_rows.py — issue 15: `lorascope inspect` formats its rows by
hand (analysis/inspect.c), not by printf; every row must still be printf's
text: tensor rows "  %-60s %-5s [d, ...]" (scalars "[]", 3-D shapes, names
longer than the column, a name with an escape character shown escaped) and
module rows "  %-48s %-14s %5d %8g %9.4g %7d %7d %5s %10d" with the
non-finite note, for modules whose alpha (alpha_pattern) and scaling
change from row to row. The expected rows are built here with Python's
% formatting.
"""
import json
import os
import shutil
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import check, run, summary  # noqa: E402


def write_st(path, tensors):
    """tensors: (name, shape, values) in file order, F32."""
    hdr, off, data = {}, 0, b""
    for name, shape, vals in tensors:
        hdr[name] = {"dtype": "F32", "shape": shape, "data_offsets": [off, off + 4 * len(vals)]}
        off += 4 * len(vals)
        data += struct.pack("<%df" % len(vals), *vals)
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def tensor_row(name, shape):
    return "  %-60s %-5s [%s]" % (name, "F32", ", ".join(str(d) for d in shape))


def main():
    tmp = tempfile.mkdtemp(prefix="lsc_rows.")
    try:
        d = os.path.join(tmp, "a")
        os.makedirs(d)
        long_mod = "model.layers.0.self_attn." + "very_long_projection_name_" * 3 + "q"
        mods = [("m.1.q", 2, 0.5), ("m.2.q", 2, 0.25), ("m.10.q", 2, float("nan")), (long_mod, 2, 1.0)]
        tensors = []
        for mod, r, v in mods:
            tensors.append(("base_model.model.%s.lora_A.weight" % mod, [r, 3], [v] * (2 * 3)))
            tensors.append(("base_model.model.%s.lora_B.weight" % mod, [5, r], [0.5] * (5 * r)))
        tensors.append(("base_model.model.m.1.q.bias", [], [1.0]))
        tensors.append(("base_model.model.extra.x\x1by.bias", [2, 1, 2], [1.0] * 4))
        write_st(os.path.join(d, "adapter_model.safetensors"), tensors)
        with open(os.path.join(d, "adapter_config.json"), "w") as f:
            json.dump({"peft_type": "LORA", "r": 2, "lora_alpha": 16, "alpha_pattern": {"m\\.2\\.q": 3}}, f)
        rc, out, err = run("inspect", d)
        lines = out.splitlines()
        check(rc == 0, "inspect of the adapter (rc %d: %s)" % (rc, err.strip()[:200]))
        for name, shape, _ in tensors:
            shown = name.replace("\x1b", "\\x1B")
            row = tensor_row(shown, shape)
            check(row in lines, "tensor row as printf's: %r" % row.strip()[:70])
        alphas = {"m.2.q": 3.0}
        for mod, r, v in mods:
            a = alphas.get(mod, 16.0)
            note = "  (non-finite values!)" if v != v else ""
            row = "  %-48s %-14s %5d %8g %9.4g %7d %7d %5s %10d%s" % (mod, "LoRA", r, a, a / r, 3, 5, "F32",
                                                                       r * (3 + 5), note)
            check(row in lines, "module row as printf's: %r" % row.strip()[:70])
        raw = os.path.join(tmp, "t.safetensors")
        big = [("x" * 1500 + "\n", [1], [1.0]), ("w", [1, 2, 3], [0.0] * 6), ("s", [], [2.0])]
        write_st(raw, big)
        rc, out, err = run("inspect", raw)
        lines = out.splitlines()
        check(rc == 0 and tensor_row("w", [1, 2, 3]) in lines and tensor_row("s", []) in lines,
              "plain file: 3-D and scalar rows (rc %d)" % rc)
        check(tensor_row("x" * 1023, [1]) in lines,
              "a name over 1,023 bytes is cut as the escaper cuts it (%d rows)" % len(lines))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
