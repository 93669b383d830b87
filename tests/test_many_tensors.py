#!/usr/bin/python3
"""test_many_tensors.py — issue 15: an adapter of 200,000 tensors (100,000
modules, r 1, 1x1 factors, plus a duplicate-name file) is listed correctly
by `lorascope inspect` (the name lookups are hash maps, lib/hmap.c; the time
is measured by `make bench`, not asserted here), and a duplicate tensor name
beyond the first 4,096 is still refused.
"""
import json
import os
import shutil
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import check, run, summary  # noqa: E402


def write_st(path, names):
    hdr, off = {}, 0
    for n in names:
        hdr[n] = {"dtype": "F32", "shape": [1, 1], "data_offsets": [off, off + 4]}
        off += 4
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + struct.pack("<f", 0.5) * len(names))


def main():
    n_mod = 100000
    tmp = tempfile.mkdtemp(prefix="lsc_many.")
    try:
        d = os.path.join(tmp, "a")
        os.makedirs(d)
        names = []
        for i in range(n_mod):
            names += ["base_model.model.m.%d.q.lora_A.weight" % i, "base_model.model.m.%d.q.lora_B.weight" % i]
        write_st(os.path.join(d, "adapter_model.safetensors"), names)
        with open(os.path.join(d, "adapter_config.json"), "w") as f:
            json.dump({"peft_type": "LORA", "r": 1, "lora_alpha": 2, "rank_pattern": {"m\\.7\\.q": 1}}, f)
        rc, out, err = run("inspect", d)
        check(rc == 0 and ("%d tensors" % (2 * n_mod)) in out, "200,000 tensors listed (rc %d: %s)"
              % (rc, err.strip()[:200]))
        rows = [ln for ln in out.splitlines() if ln.lstrip().startswith("m.")]
        check(len(rows) >= n_mod and "m.99999.q" in out and "m.0.q" in out,
              "every module listed (%d module rows)" % len(rows))
        # a duplicate far beyond the old 4,096-tensor limit of the duplicate check
        dup = names[:6000] + [names[5000]]
        raw = os.path.join(tmp, "dup.safetensors")
        hdr = ",".join('"%s":{"dtype":"F32","shape":[1],"data_offsets":[%d,%d]}' % (n, 4 * i, 4 * i + 4)
                       for i, n in enumerate(dup))
        h = ("{" + hdr + "}").encode()
        h += b" " * (-len(h) % 8)
        with open(raw, "wb") as f:
            f.write(struct.pack("<Q", len(h)) + h + b"\0" * (4 * len(dup)))
        rc, out, err = run("inspect", raw)
        check(rc == 1 and "duplicate tensor '%s'" % names[5000] in err,
              "a duplicate name among 6,001 tensors is refused (rc %d: %s)" % (rc, err.strip()[:200]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
