#!/usr/bin/python3
"""test_config_numbers.py — issue 15: every number of adapter_config.json is
range-checked before it is converted (lib/jsonnum.c), and rank_pattern /
alpha_pattern keys go through the bounded matcher (lib/pattern.c). A tiny
adapter (one module h.0.attn.q_proj, r 2, in 4, out 4) is written here; each
bad config must end `lorascope inspect` with exit 1 and one line naming the
file and the key; the good ones must give the scaling PEFT would.
"""
import json
import os
import shutil
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import check, run, summary  # noqa: E402


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
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
