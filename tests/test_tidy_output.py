#!/usr/bin/python3
"""test_tidy_output.py — the output other tools read (issue 16): for
spectrum, subspace, amplify, quanterr, deltaspec (and the later intruders,
diagnose, compare, trajectory) on synthetic adapters
(tests/make_adapters.py) and the PEFT fixtures (../shared/fixtures/peft:
SKIP when absent, FAIL under CI=true), every --csv row and every --json
value equals the HDF5 file's number exactly (%.17g round-trips a double;
NaN is "nan" in CSV and null in JSON), and the rows are exactly the file's
per-module datasets (flattened row-major) and numeric attributes, seeds
left out; the JSON line keeps command, output, n_modules, n_skipped,
wall_s, peak_rss_mb. CSV quoting of a module name holding a comma and a
quote. An h5py-only walk of every file kind written here: every dataset
has string attributes units and definition, every /modules group layer
(int) and proj (str), every *singular_values a dimension scale 1..n.
README.md's "Reading the results" examples are extracted and run on a real
output. Prints PASS/FAIL/SKIP lines and "N passed, N failed, N skipped".
"""
import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_adapters as mk  # noqa: E402
from testlib import ROOT, check, fixtures_dir, run, summary  # noqa: E402
from test_trajectory import planted  # noqa: E402

JSON_FIELDS = ("command", "output", "n_modules", "n_skipped", "wall_s", "peak_rss_mb")
ROOT_SKIP = ("format_version", "wall_time_s", "threads")


def numeric(v):
    """The attribute's value as a float, or None for strings and arrays."""
    if isinstance(v, (bytes, str)) or np.ndim(v) != 0:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def expected_rows(path):
    """{(module, quantity, index): value} computed from the HDF5 file alone."""
    want = {}
    with h5py.File(path, "r") as f:
        for k, v in f.attrs.items():
            x = numeric(v)
            if x is not None and not k.endswith("seed") and k not in ROOT_SKIP:
                want[("", k, -1)] = x
        for m, g in f.get("modules", {}).items():
            for name, d in g.items():
                if isinstance(d, h5py.Dataset) and not name.startswith("sv_index") and \
                        d.dtype.kind in "fiu":
                    for i, x in enumerate(np.asarray(d[()], dtype=np.float64).ravel()):
                        want[(m, name, i)] = float(x)
            for k, v in g.attrs.items():
                x = numeric(v)
                if x is not None and not k.endswith("seed") and k != "layer":
                    want[(m, k + ".attr" if k in g else k, -1)] = x
    return want


def same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


def csv_rows(path):
    with open(path, newline="") as fp:
        rows = list(csv.reader(fp))
    return rows[0], rows[1:]


def check_tables(tag, h5, csv_path, out):
    """--csv and --json against the HDF5 file."""
    want = expected_rows(h5)
    header, rows = csv_rows(csv_path)
    got, layout_ok = {}, True
    with h5py.File(h5, "r") as f:
        for m, layer, proj, q, idx, val in rows:
            key = (m, q, int(idx) if idx else -1)
            got[key] = float(val)
            if m:
                g = f["modules"][m]
                layout_ok &= layer == (str(g.attrs["layer"]) if g.attrs["layer"] >= 0 else "") and \
                    proj == g.attrs["proj"]
    bad = [k for k in want if k not in got or not same(got[k], want[k])]
    check(header == ["module", "layer", "proj", "quantity", "index", "value"] and not bad and
          len(got) == len(rows) == len(want) and layout_ok,
          "%s: --csv rows == the HDF5 file's numbers exactly (%d rows; %d differ%s)"
          % (tag, len(rows), len(bad), (": %s" % (bad[:3],)) if bad else ""))
    j = json.loads(out.strip().splitlines()[-1])
    jbad = [k for k in want if not json_same(j, k, want[k])]
    n_json = sum(len(v) if isinstance(v, list) else 1 for v in j["summary"].values()) + \
        sum(len(v) if isinstance(v, list) else 1 for mo in j["modules"] for v in mo["values"].values())
    check(all(k in j for k in JSON_FIELDS) and j["output"] == h5 and not jbad and n_json == len(want),
          "%s: --json keeps %s; its values == the HDF5 file's (%d values; %d differ%s)"
          % (tag, "/".join(JSON_FIELDS), n_json, len(jbad), (": %s" % (jbad[:3],)) if jbad else ""))


def json_same(j, key, x):
    m, q, i = key
    if m == "":
        vals = j["summary"]
    else:
        mods = [mo for mo in j["modules"] if mo["module"] == m]
        if len(mods) != 1:
            return False
        vals = mods[0]["values"]
    if q not in vals:
        return False
    v = vals[q]
    if isinstance(v, list):
        if i < 0 or i >= len(v):
            return False
        v = v[i]
    elif i > 0:
        return False
    return (v is None and not math.isfinite(x)) or (v is not None and float(v) == x)


def walk(tag, h5):
    """h5py only: units/definition, layer/proj, dimension scales."""
    problems = []
    with h5py.File(h5, "r") as f:
        def visit(name, o):
            if isinstance(o, h5py.Dataset):
                for a in ("units", "definition"):
                    if not isinstance(o.attrs.get(a), str) or not o.attrs.get(a):
                        problems.append("%s without %s" % (name, a))
                if name.endswith("singular_values"):
                    sc = o.dims[0]
                    if len(sc) != 1 or not np.array_equal(sc[0][()], np.arange(1, o.shape[0] + 1)):
                        problems.append("%s without the scale 1..n" % name)
        f.visititems(visit)
        for m, g in f.get("modules", {}).items():
            if not isinstance(g.attrs.get("layer"), (int, np.integer)) or \
                    not isinstance(g.attrs.get("proj"), str):
                problems.append("/modules/%s without layer/proj" % m)
    check(not problems, "%s: h5py alone: every dataset has units and definition, every module group "
          "layer and proj, singular values a dimension scale%s" % (tag, (" (%s)" % problems[:3]) if problems else ""))


def analyse(tag, tmp, args, out_name, h5_in_dir=None):
    """Runs one analysis with --json --csv; checks the tables and the walk.
    h5_in_dir: -o names a directory holding that HDF5 file (extract)."""
    h5 = os.path.join(tmp, out_name + ("" if h5_in_dir else ".h5"))
    cp = os.path.join(tmp, out_name + ".csv")
    rc, out, err = run(*args, "-o", h5, "--json", "--csv", cp)
    if not check(rc == 0 and os.path.exists(cp), "%s: runs with --json --csv FILE %s" % (tag, err.strip()[:300])):
        return None
    if h5_in_dir:
        out = out.replace(json.dumps(h5), json.dumps(os.path.join(h5, h5_in_dir)))
        h5 = os.path.join(h5, h5_in_dir)
    check_tables(tag, h5, cp, out)
    walk(tag, h5)
    return h5


def layer_figures(tmp, s):
    """--plots: the per-layer summary's data are the file's module attributes, by layer."""
    figs = os.path.join(tmp, "layers")
    h5 = os.path.join(tmp, "lay.h5")
    rc, out, err = run("amplify", os.path.join(s, "a8"), "--base", os.path.join(s, "base_a.safetensors"),
                       "--k", "2", "-o", h5, "--plots", figs)
    if not check(rc == 0, "amplify --plots (per-layer figures) exits 0 %s" % err.strip()[:200]):
        return
    ok = True
    with h5py.File(h5, "r") as f:
        for stem, attr in (("amplify_layers", "amplification"), ("amplify_layers_alignment", "alignment_excess")):
            blocks = open(os.path.join(figs, stem + ".dat")).read().strip().split("\n\n\n")
            got = {}
            for b in blocks:
                lines = b.strip().splitlines()
                proj = lines[0].split()[1].rstrip(":")
                got[proj] = [(int(x.split()[0]), float(x.split()[1])) for x in lines[1:]]
            want = {}
            for m, g in f["modules"].items():
                want.setdefault(g.attrs["proj"], []).append((int(g.attrs["layer"]), float(g.attrs[attr])))
            ok &= got.keys() == want.keys() and all(
                [x for x, _ in got[p]] == sorted(x for x, _ in want[p]) and
                np.allclose([v for _, v in got[p]], [v for _, v in sorted(want[p])], rtol=1e-9) for p in got)
            if shutil.which("gnuplot"):
                ok &= all(os.path.getsize(os.path.join(figs, stem + e)) > 0 for e in (".png", ".svg", ".pdf"))
    check(bool(ok), "amplify --plots: amplify_layers(.dat/.png/.svg/.pdf) hold every module's amplification "
          "and alignment excess by projection, in layer order, as in the HDF5 file")


def deltaspec_pair(tmp):
    rng = np.random.default_rng(3)
    w0 = {"h.0.attn.q_proj.weight": rng.normal(size=(16, 12)), "h.0.attn.v_proj.weight": rng.normal(size=(16, 12))}
    wf = {k: v + rng.normal(size=(16, 2)) @ rng.normal(size=(2, 12)) for k, v in w0.items()}
    for name, w in (("w0", w0), ("wft", wf)):
        mk.write_safetensors(os.path.join(tmp, name + ".safetensors"),
                             [(k, v.astype(np.float32), "F32") for k, v in w.items()])


def quoting(tmp):
    """A module name with a comma and a quote survives CSV and JSON."""
    rng = np.random.default_rng(16)
    name = 'h.2.attn,"odd".v_proj'
    d = os.path.join(tmp, "odd")
    mk.write_adapter(d, {name: mk.lora_pair(rng, mk.C, mk.C, 4), "h.0.attn.q_proj": mk.lora_pair(rng, mk.C, mk.C, 4)},
                     4, 8.0, target_modules=["q_proj", "v_proj"])
    h5 = analyse("spectrum (a module named with , and \")", tmp, ["spectrum", d], "odd")
    if not h5:
        return
    with open(os.path.join(tmp, "odd.csv"), newline="") as fp:
        raw = fp.read()
    _, rows = csv_rows(os.path.join(tmp, "odd.csv"))
    mods = {r[0] for r in rows if r[0]}
    check(name in mods and '"h.2.attn,""odd"".v_proj"' in raw and
          all(r[1] == "2" and r[2] == "v_proj" for r in rows if r[0] == name),
          "CSV: the module name with a comma and a quote is quoted (RFC 4180) and read back exactly, layer 2")


def nonfinite(tmp, s):
    """nanA holds a NaN: CSV nan, JSON null, where the file has NaN."""
    h5 = os.path.join(tmp, "nan.h5")
    cp = os.path.join(tmp, "nan.csv")
    rc, out, err = run("spectrum", os.path.join(s, "nanA"), "-o", h5, "--json", "--csv", cp)
    if not check(rc == 0, "spectrum nanA --json --csv %s" % err.strip()[:200]):
        return
    _, rows = csv_rows(cp)
    nans = [r for r in rows if r[5] == "nan"]
    j = json.loads(out.strip().splitlines()[-1])
    nulls = sum(v is None for mo in j["modules"] for vv in mo["values"].values()
                for v in (vv if isinstance(vv, list) else [vv]))
    check(len(nans) > 0 and nulls == len(nans) and "NaN" not in out.splitlines()[-1],
          "non-finite values: %d CSV 'nan' rows, as many JSON nulls (%d), no bare NaN in the JSON" % (len(nans), nulls))
    check_tables("spectrum nanA", h5, cp, out)


def readme_examples(tmp, h5, cp, js):
    """The python blocks of README.md's "Reading the results" section run on
    real output (result.h5, result.csv, result.json in their directory)."""
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    m = re.search(r"^#+ Reading the results \(HDF5, CSV, JSON\)\n(.*?)(?=^#)", text, re.S | re.M)
    blocks = re.findall(r"```python\n(.*?)```", m.group(1), re.S) if m else []
    if not check(len(blocks) >= 2, "README.md: a 'Reading the results (HDF5, CSV, JSON)' section with python examples"):
        return
    d = os.path.join(tmp, "readme")
    os.makedirs(d)
    shutil.copy(h5, os.path.join(d, "result.h5"))
    shutil.copy(cp, os.path.join(d, "result.csv"))
    with open(os.path.join(d, "result.json"), "w") as fp:
        fp.write(js)
    for i, b in enumerate(blocks):
        p = subprocess.run(["/usr/bin/python3", "-c", b], cwd=d, capture_output=True, text=True)
        check(p.returncode == 0 and p.stdout.strip(), "README.md example %d runs on a real spectrum output "
              "(exit %d%s)" % (i + 1, p.returncode, (": " + p.stderr.strip()[-300:]) if p.returncode else ""))


def main():
    tmp = tempfile.mkdtemp(prefix="lsc-tidy-")
    try:
        s = os.path.join(tmp, "s")
        mk.suite(s)
        base = os.path.join(s, "base_a.safetensors")
        sp = analyse("spectrum", tmp, ["spectrum", os.path.join(s, "a8")], "spectrum")
        analyse("subspace", tmp, ["subspace", os.path.join(s, "a8"), os.path.join(s, "a4")], "subspace")
        analyse("amplify", tmp, ["amplify", os.path.join(s, "a8"), "--base", base, "--k", "2"], "amplify")
        analyse("intruders", tmp, ["intruders", os.path.join(s, "a8"), "--base", base, "--null-draws", "5"], "intruders")
        analyse("diagnose", tmp, ["diagnose", os.path.join(s, "a8"), "--base", base], "diagnose")
        analyse("quanterr", tmp, ["quanterr", base, os.path.join(s, "a8"), "--compare", os.path.join(s, "a4")],
                "quanterr")
        deltaspec_pair(tmp)
        analyse("deltaspec", tmp, ["deltaspec", "--base", os.path.join(tmp, "w0.safetensors"),
                                   "--finetuned", os.path.join(tmp, "wft.safetensors")], "deltaspec")
        analyse("compare", tmp, ["compare", os.path.join(s, "a8"), os.path.join(s, "a4"),
                                 os.path.join(s, "rslora")], "compare")
        snap = os.path.join(tmp, "run")
        planted(snap)
        analyse("trajectory", tmp, ["trajectory", snap], "trajectory")
        analyse("extract", tmp, ["extract", "--base", os.path.join(tmp, "w0.safetensors"), "--finetuned",
                                 os.path.join(tmp, "wft.safetensors"), "--rank", "1"], "extract", "extract.h5")
        quoting(tmp)
        layer_figures(tmp, s)
        nonfinite(tmp, s)
        if sp:
            rc, out, _ = run("spectrum", os.path.join(s, "a8"), "-o", os.path.join(tmp, "r.h5"), "--json")
            readme_examples(tmp, sp, os.path.join(tmp, "spectrum.csv"), out.strip().splitlines()[-1] + "\n")
        fx = fixtures_dir("tidy output on the PEFT fixtures", "peft/gptneo125m-r8-qv")
        if fx:
            a = os.path.join(fx, "peft", "gptneo125m-r8-qv")
            analyse("spectrum on the gptneo125m-r8-qv fixture", tmp, ["spectrum", a], "fx_spectrum")
            analyse("subspace on the gptneo125m-r8-qv fixture (itself)", tmp, ["subspace", a, a, "--null-draws", "20"],
                    "fx_subspace")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
