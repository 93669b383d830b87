"""test_st_header.py — the safetensors header parser (lib/st_header.c)
against Python's json: generated headers (names and metadata with every
JSON escape, \\u escapes in both cases, characters of 1 to 4 UTF-8 bytes
written raw or as surrogate pairs, odd spacing, keys of an entry in any
order, unknown keys, metadata anywhere) are written as .safetensors files,
read by build/tests/test_st_header --dump (what lsc_st_open read), and
compared with json.loads of the same header. Also malformed headers
(json.loads refuses them) must be refused.
"""
import json
import os
import random
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import check, summary, ROOT  # noqa: E402

DRIVER = os.path.join(os.environ.get("BUILD") or os.path.join(ROOT, "build"), "tests", "test_st_header")
DTYPES = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "U8": 1, "BOOL": 1, "I32": 4}
ALPHABET = ["a", "Z", "0", ".", "_", " ", "\"", "\\", "/", "\b", "\f", "\n", "\r", "\t", "\x01", "\x1f",
            "\x7f", "é", "ß", "€", "中", "😀", "𝄞", "\u2028", "\ufeff"]


def rand_text(rng, n):
    return "".join(rng.choice(ALPHABET) for _ in range(n))


def enc_string(rng, s):
    """s as a JSON string, each character written one of the ways JSON allows."""
    out = []
    short = {"\"": "\\\"", "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
             "\t": "\\t"}
    for c in s:
        cp = ord(c)
        way = rng.random()
        if c in short and (c in "\"\\" or cp < 0x20 or way < 0.5):
            out.append(short[c] if c != "/" or way < 0.25 else "/")
        elif cp < 0x20 or way < 0.3:
            if cp >= 0x10000:
                hi, lo = 0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + ((cp - 0x10000) & 0x3FF)
                u = "\\u%04x\\u%04x" % (hi, lo)
            else:
                u = "\\u%04x" % cp
            out.append(u.upper().replace("\\U", "\\u") if rng.random() < 0.5 else u)
        else:
            out.append(c)
    return "\"" + "".join(out) + "\""


def ws(rng):
    return rng.choice(["", "", "", " ", "\n", "\t ", "\r\n  "])


def gen_header(rng):
    """(header text, the tensors in offset order, the metadata)."""
    n = rng.randint(0, 12)
    names = list({rand_text(rng, rng.randint(0, 10)) for _ in range(n)} - {"__metadata__"})
    sizes = []
    for _ in names:
        dt = rng.choice(sorted(DTYPES))
        shape = [rng.randint(0, 3) for _ in range(rng.randint(0, 4))]
        numel = 1
        for d in shape:
            numel *= d
        sizes.append((dt, shape, numel * DTYPES[dt]))
    order = list(range(len(names)))
    rng.shuffle(order)   # data order differs from key order
    offs, pos = {}, 0
    for i in order:
        offs[i] = (pos, pos + sizes[i][2])
        pos += sizes[i][2]
    members = []
    for i, name in enumerate(names):
        dt, shape, _ = sizes[i]
        kv = ["\"dtype\"" + ws(rng) + ":" + ws(rng) + enc_string(rng, dt),
              "\"shape\"" + ws(rng) + ":" + ws(rng) + "[" + ("," + ws(rng)).join(str(d) for d in shape) + "]",
              "\"data_offsets\"" + ws(rng) + ":" + ws(rng) + "[%d,%s%d]" % (offs[i][0], ws(rng), offs[i][1])]
        if rng.random() < 0.3:
            kv.append(enc_string(rng, rand_text(rng, 3)) + ":" + rng.choice(
                ["null", "true", "[1,{\"x\":[]}]", "-1.5e-3", "{}", enc_string(rng, "x\n")]))
        rng.shuffle(kv)
        members.append(enc_string(rng, name) + ws(rng) + ":" + ws(rng) + "{" + ws(rng) +
                       ("," + ws(rng)).join(kv) + ws(rng) + "}")
    meta = None
    if rng.random() < 0.6:
        meta = [(rand_text(rng, rng.randint(0, 6)), rand_text(rng, rng.randint(0, 8))) for _ in range(rng.randint(0, 4))]
        members.insert(rng.randint(0, len(members)), "\"__metadata__\":" + ws(rng) + "{" + ",".join(
            enc_string(rng, k) + ws(rng) + ":" + ws(rng) + enc_string(rng, v) for k, v in meta) + "}")
    return "{" + ws(rng) + ("," + ws(rng)).join(members) + ws(rng) + "}", pos


def expected(text):
    """What the dump must say, from json.loads."""
    obj = json.loads(text)   # last of repeated metadata keys wins here: the generator repeats none
    meta = []
    if "__metadata__" in obj:
        # json.loads merges repeated keys: read the pairs in order instead
        pairs = json.loads(text, object_pairs_hook=lambda p: p)
        meta = [kv for k, v in pairs if k == "__metadata__" for kv in v]
    tensors = sorted(((k, v) for k, v in obj.items() if k != "__metadata__"),
                     key=lambda kv: tuple(kv[1]["data_offsets"]))
    h = lambda s: s.encode("utf-8").hex() or "-"   # noqa: E731
    lines = ["ok %d %d" % (len(tensors), len(meta))]
    for k, v in tensors:
        shape = ",".join(str(d) for d in v["shape"])
        lines.append("T %s %s %d%s %d %d 1" % (h(k), v["dtype"], len(v["shape"]), " " + shape if shape else "",
                                              v["data_offsets"][0], v["data_offsets"][1]))
    for k, v in meta:
        lines.append("M %s %s" % (h(k), h(v)))
    return lines


def write_st(path, header_bytes, data_size, pad):
    h = header_bytes + b" " * pad
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"\0" * data_size)


def dump(paths):
    p = subprocess.run([DRIVER, "--dump"] + paths, capture_output=True, text=True)
    check(p.returncode == 0 and not p.stderr, "driver on %d files: exit 0, nothing on stderr (%d: %s)" % (
        len(paths), p.returncode, p.stderr[-300:]))
    return p.stdout.splitlines()


def split_dump(lines):
    out, cur = [], None
    for ln in lines:
        if ln.startswith(("ok ", "err ")):
            cur = [ln]
            out.append(cur)
        else:
            cur.append(ln)
    return out


def main():
    if not check(os.access(DRIVER, os.X_OK), "driver %s built" % DRIVER):
        return summary()
    rng = random.Random(15)
    tmp = tempfile.mkdtemp(prefix="lsc_st_header.")
    cases, paths = [], []
    for i in range(400):
        text, data_size = gen_header(rng)
        p = os.path.join(tmp, "h%d.safetensors" % i)
        write_st(p, text.encode("utf-8"), data_size, rng.randint(0, 7))
        cases.append(text)
        paths.append(p)
    got = split_dump(dump(paths))
    # zero-byte tensors may share an offset: their order is not defined, so T lines compare as a set
    canon = lambda ls: (ls[:1], sorted(x for x in ls if x[:2] == "T "), [x for x in ls if x[:2] == "M "])  # noqa: E731
    bad = [i for i, t in enumerate(cases) if i >= len(got) or canon(got[i]) != canon(expected(t))]
    check(len(got) == len(cases) and not bad,
          "400 generated headers read as json.loads reads them (%d differ%s)" % (
              len(bad), ": first %r -> %r" % (cases[bad[0]][:200], got[bad[0]][:4] if bad[0] < len(got) else None)
              if bad else ""))
    # malformed: what json.loads refuses (strictly JSON), the parser refuses too
    good = "{\"k\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"
    broken = [good[:-1], good.replace(":[1]", ":[1,]"), good.replace("\"F32\"", "'F32'"),
              good.replace("[0,4]", "[0 4]"), good.replace("\"k\"", "\"k\\q\""), good.replace("\"k\"", "k"),
              good.replace("\"k\"", "\"\\ud800\""), good.replace("\"k\"", "\"\\udc00\\ud800\""),
              good.replace("[1]", "[+1]"), good.replace("[1]", "[1.]"), good.replace("[1]", "[.5]"),
              good.replace("[1]", "[0x1]"), good.replace("[1]", "[NaN]"), good.replace("[1]", "[tru]"),
              good.replace("\"k\":", "\"k\"")]
    bpaths = []
    for i, b in enumerate(broken):
        try:
            json.loads(b)
            ok_py = True
        except ValueError:
            ok_py = False
        # lone surrogates and NaN: Python's json takes them, cJSON and serde_json (safetensors) refuse
        lax = "\\ud800" in b or "\\udc00" in b or "NaN" in b
        check(ok_py == lax, "python %s broken header %d (%r)" % ("takes" if lax else "refuses", i, b[:60]))
        p = os.path.join(tmp, "b%d.safetensors" % i)
        write_st(p, b.encode("utf-8"), 4, 0)
        bpaths.append(p)
    got = dump(bpaths)
    check(got == ["err -2"] * len(broken), "%d malformed headers refused with LSC_EFORMAT (%s)" % (
        len(broken), [broken[i] for i, g in enumerate(got) if g != "err -2"]))
    for p in paths + bpaths:
        os.unlink(p)
    os.rmdir(tmp)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
