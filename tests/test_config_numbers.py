#!/usr/bin/python3
"""test_config_numbers.py — issue 15: every number of adapter_config.json is
range-checked before it is converted (lib/jsonnum.c), and rank_pattern /
alpha_pattern keys go through the bounded matcher (lib/pattern.c). A tiny
adapter (one module h.0.attn.q_proj, r 2, in 4, out 4) is written here; each
bad config must end `lorascope inspect` with exit 1 and one line naming the
file and the key; the good ones must give the scaling PEFT would. The other
JSON numbers too (test_other_files): safetensors headers (inspect), an HF
config.json (tests/test_hf_folder --info), a GPT-2 encoder.json
(tests/test_tokenizer --encode), a regress baseline's format_version and a
collected run's run.json / eval.json.
"""
import json
import os
import shutil
import struct
import sys
import subprocess
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import LSC, check, run, summary  # noqa: E402


def write_adapter(d, cfg, r=2):
    os.makedirs(d, exist_ok=True)
    a = struct.pack("<%df" % (r * 4), *[0.5] * (r * 4))
    b = struct.pack("<%df" % (4 * r), *[0.25] * (4 * r))
    hdr = {"base_model.model.h.0.attn.q_proj.lora_A.weight":
           {"dtype": "F32", "shape": [r, 4], "data_offsets": [0, len(a)]},
           "base_model.model.h.0.attn.q_proj.lora_B.weight":
           {"dtype": "F32", "shape": [4, r], "data_offsets": [len(a), len(a) + len(b)]}}
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(d, "adapter_model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + a + b)
    base = {"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]}
    base.update(cfg)
    with open(os.path.join(d, "adapter_config.json"), "w") as f:
        f.write(cfg.pop("__raw__") if "__raw__" in cfg else json.dumps(base))


def main():
    tmp = tempfile.mkdtemp(prefix="lsc_cfgnum.")
    try:
        bad = [
            ("r 1e300", {"r": 1e300}, '"r" must be a positive integer'),
            ("r 2.5", {"r": 2.5}, '"r" must be a positive integer'),
            ("lora_alpha 1e999", {"__raw__": '{"peft_type": "LORA", "r": 2, "lora_alpha": 1e999}'},
             '"lora_alpha" must be a finite number'),
            ("lora_dropout -1e999", {"__raw__": '{"peft_type": "LORA", "r": 2, "lora_dropout": -1e999}'},
             '"lora_dropout" must be a finite number'),
            ("rank_pattern value 1e300", {"rank_pattern": {"q_proj": 1e300}},
             'rank_pattern["q_proj"] must be a positive integer'),
            ("rank_pattern value 0", {"rank_pattern": {"q_proj": 0}},
             'rank_pattern["q_proj"] must be a positive integer'),
            ("rank_pattern value -3.5", {"rank_pattern": {"q_proj": -3.5}},
             'rank_pattern["q_proj"] must be a positive integer'),
            ("alpha_pattern value 1e999", {"__raw__": '{"peft_type": "LORA", "r": 2, '
                                           '"alpha_pattern": {"q_proj": 1e999}}'},
             'alpha_pattern["q_proj"] must be a finite number'),
            ("rank_pattern hostile key", {"rank_pattern": {"(a{1,255}){1,255}": 2}},
             "rank_pattern key: pattern '(a{1,255}){1,255}': too large"),
            ("alpha_pattern backreference", {"alpha_pattern": {"(q)\\1_proj": 2}},
             "alpha_pattern key: pattern '(q)\\1_proj': not supported: backreferences"),
            ("rank_pattern over 1024 keys", {"rank_pattern": {"k%d" % i: 2 for i in range(1025)}},
             '"rank_pattern" has 1025 keys (at most 1024)'),
        ]
        for i, (name, cfg, msg) in enumerate(bad):
            d = os.path.join(tmp, "bad%d" % i)
            write_adapter(d, cfg)
            rc, out, err = run("inspect", d)
            lines = [ln for ln in err.splitlines() if ln.strip()]
            check(rc == 1 and msg in err and "adapter_config.json" in err and len(lines) == 1,
                  "%s: exit 1, one line naming the file and key (rc %d: %s)" % (name, rc, err.strip()[:200]))
        good = [
            ("rank_pattern regex picks r 3", {"r": 8, "rank_pattern": {"h\\.[0-9]+\\.attn\\.(q|v)_proj": 3,
                                                                         "q_proj": 5}}, 3, "1.333"),
            ("alpha_pattern first key wins", {"alpha_pattern": {"attn\\..*": 6, "q_proj": 9}}, 2, "3"),
            ("rank_pattern not after a dot does not match", {"rank_pattern": {"_proj": 5}}, 2, "2"),
        ]
        for i, (name, cfg, r, scaling) in enumerate(good):
            d = os.path.join(tmp, "good%d" % i)
            write_adapter(d, cfg, r)
            rc, out, err = run("inspect", d)
            check(rc == 0 and (" %s " % scaling) in out, "%s (rc %d, scaling %s in: %s)"
                  % (name, rc, scaling, (out + err).strip()[-300:]))
        test_other_files(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


def one_line(rc, err, needles):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    return rc == 1 and len(lines) == 1 and all(n in lines[0] for n in needles)


def raw_st(path, entries):
    """A safetensors file whose header is the raw JSON text entries (one F32 [1] tensor's data)."""
    h = entries.encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"\0" * 4)


def test_other_files(tmp):
    """Every other JSON number (lib/jsonnum.c): safetensors headers, an HF config.json, a GPT-2
    encoder.json, a regress baseline and a collected run.json: exit 1, one line naming file and key."""
    st = [("shape 1e300", '[1e300]', '[0,4]', "shape[0]"), ("shape -1", '[-1]', '[0,4]', "shape[0]"),
          ("shape 2.5", '[2.5]', '[0,4]', "shape[0]"), ("offset 1e300", '[1]', '[0,1e300]', "data_offsets"),
          ("offset \"NaN\"", '[1]', '[0,"NaN"]', "data_offsets"), ("offset -1", '[1]', '[-1,4]', "data_offsets")]
    for i, (name, shape, offs, key) in enumerate(st):
        f = os.path.join(tmp, "st%d.safetensors" % i)
        raw_st(f, '{"w":{"dtype":"F32","shape":%s,"data_offsets":%s}}' % (shape, offs))
        rc, out, err = run("inspect", f)
        check(one_line(rc, err, [f, key]), "safetensors %s: exit 1, one line naming the file and %s (rc %d: %s)"
              % (name, key, rc, err.strip()[:200]))
    hf = os.path.join(tmp, "hf")
    os.makedirs(hf)
    raw_st(os.path.join(hf, "model.safetensors"), '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}')
    for name, val in [("1e300", "1e300"), ("-1", "-1"), ("2.5", "2.5"), ("\"NaN\"", '"NaN"')]:
        with open(os.path.join(hf, "config.json"), "w") as f:
            f.write('{"model_type": "llama", "hidden_size": %s, "num_hidden_layers": 2}' % val)
        exe = os.path.join(os.path.dirname(LSC), "tests", "test_hf_folder")
        p = subprocess.run([exe, "--info", hf], capture_output=True, text=True)
        check(one_line(p.returncode, p.stderr, ["config.json", '"hidden_size"']),
              "HF config.json hidden_size %s: exit 1, one line naming the file and key (rc %d: %s)"
              % (name, p.returncode, p.stderr.strip()[:200]))
    enc, bpe = os.path.join(tmp, "encoder.json"), os.path.join(tmp, "vocab.bpe")
    with open(bpe, "w") as f:
        f.write("#version: 0.2\n")
    for name, val in [("1e300", "1e300"), ("-1", "-1"), ("2.5", "2.5"), ("\"1\"", '"1"')]:
        with open(enc, "w") as f:
            f.write('{"a": 0, "b": %s}' % val)
        exe = os.path.join(os.path.dirname(LSC), "tests", "test_tokenizer")
        p = subprocess.run([exe, "--encode", "gpt2", enc, bpe], input="ab", capture_output=True, text=True)
        check(p.returncode != 0 and "encoder.json" in p.stderr and 'token "b"' in p.stderr,
              "GPT-2 encoder.json id %s: refused naming the file and the token (rc %d: %s)"
              % (name, p.returncode, p.stderr.strip()[:200]))
    base = os.path.join(tmp, "base.json")
    cur = os.path.join(tmp, "cur")
    os.makedirs(cur)
    for name, val in [("1e300", "1e300"), ("2.5", "2.5"), ("1.0000001", "1.0000001"), ("\"1\"", '"1"')]:
        with open(base, "w") as f:
            f.write('{"format": "lorascope-baseline", "format_version": %s, "metrics": {"x/acc": '
                    '{"value": 1, "abs_tol": 0.1}}}' % val)
        rc, out, err = run("regress", "--baseline", base, "--current", cur)
        check(one_line(rc, err, [base, "format_version"]),
              "regress baseline format_version %s: exit 1, one line naming the file and key (rc %d: %s)"
              % (name, rc, err.strip()[:200]))
    rdir = os.path.join(tmp, "run1")
    os.makedirs(rdir)
    man = os.path.join(tmp, "m.tsv")
    with open(man, "w") as f:
        f.write("run\tc1\t%s\n" % rdir)
    for key, val in [("rank", "1e300"), ("rank", "-1"), ("seed", "2.5"), ("lr", "1e999"), ("accuracy", "-1e999")]:
        run_json = {"id": "r1", "kind": "lora", "rank": 2, "seed": 1, "lr": 0.001}
        ev = {"accuracy": 0.5, "val_loss": 1.0, "perplexity": 2.7}
        text = json.dumps(run_json).replace('"%s": ' % key, '"%s": %s, "_x": ' % (key, val))
        etext = json.dumps(ev).replace('"%s": ' % key, '"%s": %s, "_x": ' % (key, val))
        with open(os.path.join(rdir, "run.json"), "w") as f:
            f.write(text)
        with open(os.path.join(rdir, "eval.json"), "w") as f:
            f.write(etext)
        rc, out, err = run("collect", man, "-o", os.path.join(tmp, "st.h5"))
        check(one_line(rc, err, ["json", key]),
              "collect: %s %s in a run's JSON: exit 1, one line naming the file and key (rc %d: %s)"
              % (key, val, rc, err.strip()[:200]))
    test_report_counts(tmp)


def test_report_counts(tmp):
    """report: a regress.json count that is no integer in [0, INT_MAX] is one warning line naming
    the file and key, and the page says the result is malformed (the report itself goes on)."""
    try:
        import h5py
        import numpy as np
    except ImportError:
        return
    rep = os.path.join(tmp, "rep")
    os.makedirs(rep)
    with h5py.File(os.path.join(rep, "table6_rank.h5"), "w") as f:
        f.attrs["format_version"] = np.int32(1)
    for key, val in [("n_ok", "1e300"), ("n_drift", "-1"), ("n_missing", "2.5")]:
        counts = {"n_ok": "1", "n_drift": "0", "n_missing": "0"}
        counts[key] = val
        with open(os.path.join(rep, "regress.json"), "w") as f:
            f.write('{"verdict": "pass", "baseline": "b.json", %s, "rows": []}'
                    % ", ".join('"%s": %s' % kv for kv in counts.items()))
        rc, out, err = run("report", rep, "-o", os.path.join(rep, "r.html"))
        warn = [ln for ln in err.splitlines() if "warning" in ln]
        with open(os.path.join(rep, "r.md")) as f:
            md = f.read()
        check(rc == 0 and len(warn) == 1 and "regress.json" in warn[0] and key in warn[0] and "malformed" in md,
              "report: regress.json %s %s: one warning naming the file and key (rc %d: %s)"
              % (key, val, rc, err.strip()[:200]))


if __name__ == "__main__":
    sys.exit(main())
