"""hf_driver.py — what the two Hugging Face folder tests share
(test_hf_folder.py, test_model_hf.py): running a mode of their C driver
($LSC_BUILD/tests/NAME --MODE ARGS...), their main's frame (the driver
built, the checks in a temporary directory removed afterwards, the
summary) and the big random BF16 folder in shards of their memory checks.

Not a test itself, and no checks of its own beyond "driver built".
"""
import json
import os
import shutil
import subprocess
import tempfile

from testlib import ROOT, check, summary
from make_adapters import write_safetensors


def driver(name):
    """The path of the C driver tests/NAME in $LSC_BUILD (default build)."""
    return os.path.join(ROOT, os.environ.get("LSC_BUILD", "build"), "tests", name)


def drive(exe, *args):
    """(exit status, stdout, stderr) of `exe ARGS...`."""
    p = subprocess.run([exe] + [str(a) for a in args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def run_main(exe, prefix, tests, after=()):
    """Each of tests(T) in one temporary directory T (prefix), then each of
    after(); a driver not built is one failed check. Returns summary()."""
    if not os.access(exe, os.X_OK):
        check(False, "driver %s built (make build)" % exe)
        return summary()
    T = tempfile.mkdtemp(prefix=prefix)
    try:
        for t in tests:
            t(T)
    finally:
        shutil.rmtree(T, ignore_errors=True)
    for t in after:
        t()
    return summary()


def write_bf16_shards(d, cfg, shapes, make, shards=4):
    """config.json, `shards` BF16 files model-0000i-of-0000n.safetensors
    (shapes[i::shards] in file i, each array make(name, shape), one file's
    arrays alive at a time) and the index."""
    wm = {}
    for i in range(shards):
        name = "model-%05d-of-%05d.safetensors" % (i + 1, shards)
        g = [(n, make(n, s), "BF16") for n, s in shapes[i::shards]]
        write_safetensors(os.path.join(d, name), g, {"format": "pt"})
        wm.update((n, name) for n, _, _ in g)
        del g
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": wm}, f)
