#!/usr/bin/python3
"""test_pattern.py — lib/pattern.c, the rank_pattern/alpha_pattern matcher,
cross-checked against Python's re with PEFT's wrapping
(re.match(rf"(.*\\.)?({key})$", name), PEFT's get_pattern_key): a table of
keys x module names, then 3,000 random keys of the supported subset on
random names. The C side is $LSC_BUILD/tests/test_pattern --table (one line
"KEYHEX NAMEHEX" in, 1 / 0 / E out). A key Python refuses must be refused;
a key outside the subset (backreferences, lookaround, \\b ...) must be
refused although Python takes it; every other answer must equal Python's.
Names are ASCII: non-ASCII names are matched byte by byte with ASCII \w \d
\s (lsc_pattern.h), where Python matches code points with Unicode classes.
"""
import os
import random
import re
import subprocess
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import check, summary  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EXE = os.path.join(ROOT, os.environ.get("LSC_BUILD", "build"), "tests", "test_pattern")

KEYS = [
    "q_proj", "v_proj", "q_proj|v_proj", "(q|v)_proj", "(?:q|k)_proj", "self_attn.q_proj",
    "layers.0.self_attn.q_proj", r"layers\.0\..*", r"layers\.[0-3]\..*q_proj", r"layers\.[^0-3]\..*",
    r"h\.\d+\.attn\.c_attn", r"h\.\d{2}\.mlp\..*", r"\w+_proj", r"\W", r"\s", r"\S+", r"\D+",
    ".*", "", "a|", "|q_proj", "proj", "_proj", ".proj", "q.proj", "c_(attn|proj)", "c_(attn|proj)+",
    "c_(attn|proj)?", "(c_)*attn", "mlp.c_fc", "mlp\\.c_fc", "[]]", "[^]]", "[a-]", "[-a]", "[\\]x]",
    "[\\d.]+", "x{2}", "x{,2}", "x{2,}", "x{1,3}", "x{}", "x{a}", "x{", "x}", "x{1,3}?", "x*?", "x+?",
    "x??", "^model.*", "^q_proj", "q_proj$", "$", "^", "proj)|(q", "a)|(.*", "[", "(", ")", "*", "x**",
    "x{2}{3}", r"\1", r"(a)\1", "(?=q)", "(?i)q_proj", r"\bq", "x*+", r"\x41", r"\n", r"\t", "\\.",
    "[.]", "[\\w-]+", "[a-z_]+\\.[0-9]+", "(((q)))_proj", "((q|k|v|o)_proj|mlp\\..*)",
]
NAMES = [
    "q_proj", "model.layers.0.self_attn.q_proj", "model.layers.10.self_attn.v_proj",
    "model.layers.5.self_attn.k_proj", "transformer.h.0.attn.c_attn", "transformer.h.11.mlp.c_fc",
    "transformer.h.11.mlp.c_proj", "base_model.model.h.3.attn.q_proj", "xq_proj", "a", "", "x", "xx", "xxx",
    "xxxx", "m.x", "m.xx", "m.xxxxx", "m.x{", "m.x}", "m.x{2}", "m.]", "m.-", "m.a", "m.1", "a.b c",
    "m.q_proj\n", "m.q_proj\nx", "model.proj", "m.c_attnc_proj", "m.c_attn", "m.attn",
    "m.c_c_attn", "layers.2.q_proj", "model.layers.2.foo.q_proj", "model.layers.7.q_proj",
]
REFUSED_SUBSET = {r"\1", r"(a)\1", "(?=q)", r"\bq", "x*+", r"\x41"}


def python_says(key, name):
    """1, 0 or E: PEFT's get_pattern_key test in Python's re."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "1" if re.match(rf"(.*\.)?({key})$", name) else "0"
    except re.error:
        return "E"


def c_says(pairs):
    text = "".join("%s %s\n" % (k.encode().hex(), n.encode().hex()) for k, n in pairs)
    p = subprocess.run([EXE, "--table"], input=text.encode(), capture_output=True)
    if p.returncode != 0:
        return None
    return p.stdout.decode().split("\n")[:len(pairs)]


def random_key(rng, depth=0):
    atoms = ["a", "b", ".", "x", r"\.", r"\d", r"\w", "[ab]", "[^a]", "[a-c]", "_"]
    out = []
    for _ in range(rng.randint(1, 4)):
        r = rng.random()
        if r < 0.2 and depth < 2:
            a = "(" + random_key(rng, depth + 1) + ")"
        elif r < 0.3 and depth < 2:
            a = "(?:" + random_key(rng, depth + 1) + "|" + random_key(rng, depth + 1) + ")"
        else:
            a = rng.choice(atoms)
        if a.startswith("("):   # bounded: nested unbounded repeats make Python's re backtrack for ever
            q = rng.choice(["", "", "?", "{2}", "{1,2}", "{0}", "??"])
        else:
            q = rng.choice(["", "", "", "*", "+", "?", "{2}", "{1,3}", "{,2}", "{2,}", "*?", "{0}"])
        out.append(a + q)
    return "|".join(out) if rng.random() < 0.2 else "".join(out)


def random_name(rng):
    n = rng.randint(0, 10)
    return "".join(rng.choice("ab.x_1c") for _ in range(n))


def main():
    if not os.path.exists(EXE):
        print("FAIL %s not built" % EXE)
        return 1
    pairs = [(k, n) for k in KEYS for n in NAMES]
    got = c_says(pairs)
    check(got is not None and len(got) == len(pairs), "the C driver answers %d table lines" % len(pairs))
    bad = []
    for (k, n), g in zip(pairs, got or []):
        want = "E" if k in REFUSED_SUBSET else python_says(k, n)
        if g != want:
            bad.append((k, n, g, want))
    check(not bad, "table of %d keys x %d names equals Python's re (mismatches: %s)"
          % (len(KEYS), len(NAMES), bad[:5]))
    for k in sorted(REFUSED_SUBSET):
        check(python_says(k, "x") != "E", "Python takes %r (outside the subset: refused here)" % k)

    rng = random.Random(15)
    pairs = []
    for _ in range(3000):
        k = random_key(rng)
        pairs += [(k, random_name(rng)) for _ in range(4)]
    got = c_says(pairs)
    bad = [(k, n, g, python_says(k, n)) for (k, n), g in zip(pairs, got or []) if g != python_says(k, n)]
    check(got is not None and not bad, "%d random keys of the subset on random names equal Python's re "
          "(mismatches: %s)" % (len(pairs) // 4, bad[:5]))
    return summary()


if __name__ == "__main__":
    sys.exit(main())
