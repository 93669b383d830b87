#!/bin/sh
# test_readme_quickstart.sh — README.md cannot drift from the program (issue 16):
#  - the "Analyse your own adapter" quick start is in the README's first screen (its ```console
#    block starts within the first 40 lines), and each of its `$ lorascope ...` commands runs (on
#    ../shared/fixtures: SKIP without them, FAIL under CI=true; spectrum --plots needs gnuplot) and
#    prints every output line shown under it, in that order, exactly;
#  - every step count of the README's profile table (base model steps, LoRA steps and batch) is
#    the one experiments/profiles/NAME.sh gives (PRETRAIN_ARGS --steps, else `pretrain --profile
#    NAME`'s default from its --help; TRAIN_ARGS --steps and --batch).
# Needs $LSC_BIN (default build/lorascope) and /usr/bin/python3. Runs from the project root.
cd "$(dirname "$0")/.." || exit 1
exec /usr/bin/python3 - "$@" <<'PYEOF'
import os, re, shlex, shutil, subprocess, sys, tempfile
sys.path.insert(0, "tests")
from testlib import LSC, check, skip, summary, fixtures_dir

readme = open("README.md", encoding="utf-8").read().split("\n")

# ---- the quick start: in the first screen, its commands and the lines they print ----
start = next((i for i, l in enumerate(readme) if l.startswith("```console")), None)
check(start is not None and start < 40, "the quick start's console block starts in the first 40 lines (line %s)"
      % (start + 1 if start is not None else None))
steps = []   # [(argv, [expected lines])]
i = (start or 0) + 1
while start is not None and i < len(readme) and not readme[i].startswith("```"):
    l = readme[i]
    if l.startswith("$ "):
        cmd = l[2:]
        while cmd.endswith("\\"):
            i += 1
            cmd = cmd[:-1] + " " + readme[i].strip()
        steps.append((shlex.split(cmd), []))
    elif steps:
        steps[-1][1].append(l)
    i += 1
check(len(steps) == 3 and all(a[0] == "lorascope" and out for a, out in steps),
      "three `lorascope` commands, each with output shown (%d)" % len(steps))
check([a[1] for a, _ in steps] == ["inspect", "spectrum", "subspace"], "inspect, spectrum, subspace")

def in_order(expected, got):
    """Every expected line is a whole line of got, in order; the first one missing, else None."""
    lines, k = got.split("\n"), 0
    for e in expected:
        while k < len(lines) and lines[k] != e:
            k += 1
        if k == len(lines):
            return e
        k += 1
    return None

fx = fixtures_dir("README quick start commands", "peft/gptneo125m-r8-qv/adapter_model.safetensors")
if fx:
    with tempfile.TemporaryDirectory(prefix="lsc_test_readme.") as tmp:
        # the commands name ../shared/fixtures: a work directory beside a "shared" holding them
        os.makedirs(os.path.join(tmp, "shared"))
        os.symlink(os.path.abspath(fx), os.path.join(tmp, "shared", "fixtures"))
        work = os.path.join(tmp, "work")
        os.makedirs(work)
        for argv, expected in steps:
            name = " ".join(argv[:2])
            if "--plots" in argv and not shutil.which("gnuplot"):
                if os.environ.get("CI") == "true":
                    check(False, name + " (gnuplot missing; CI=true requires it)")
                else:
                    skip(name, "gnuplot is not installed")
                continue
            p = subprocess.run([LSC] + argv[1:], cwd=work, capture_output=True, text=True)
            check(p.returncode == 0, "%s: exit 0 (%d: %s)" % (name, p.returncode, p.stderr.strip()[:200]))
            miss = in_order(expected, p.stdout)
            check(miss is None, "%s prints the README's lines%s" % (name, "" if miss is None else
                  " (not found, in order: %r; it printed:\n%s)" % (miss, p.stdout[:1500])))
            for a, b in zip(argv, argv[1:]):
                if a in ("-o", "--plots"):
                    check(os.path.exists(os.path.join(work, b)), "%s wrote %s" % (name, b))

# ---- step counts: README's profile table against experiments/profiles ----
def arg(args, name):
    m = re.search(r"--%s[ =](\d+)" % name, args)
    return int(m.group(1)) if m else None

def num(s):
    return int(s.replace(",", ""))

helptext = subprocess.run([LSC, "pretrain", "--help"], capture_output=True, text=True).stdout
rows = {m.group(1): m.group(2) for l in readme for m in [re.match(r"\| `(tiny|quick|paper)` \|(.*)", l)] if m}
check(sorted(rows) == ["paper", "quick", "tiny"], "the README's profile table has tiny, quick, paper")
for prof, row in sorted(rows.items()):
    cells = [c.strip() for c in row.split("|")]
    src = open("experiments/profiles/%s.sh" % prof).read()
    pre = re.search(r'^PRETRAIN_ARGS="([^"]*)"', src, re.M).group(1)
    tr = re.search(r'^TRAIN_ARGS="([^"]*)"', src, re.M).group(1)
    base = arg(pre, "steps")
    if base is None:   # the pretrain profile's default, as `pretrain --help` states it
        m = re.search(r"^  %s .*?([\d,]+) steps" % prof, helptext, re.M)
        base = num(m.group(1)) if m else None
    m = re.search(r"([\d,]+) steps", cells[0])
    said = num(m.group(1)) if m else None
    check(base is not None and said == base, "%s: base model steps in the README (%s) = the profile's (%s)"
          % (prof, said, base))
    m = re.match(r"([\d,]+) steps, batch (\d+)", cells[1])
    said = (num(m.group(1)), int(m.group(2))) if m else None
    want = (arg(tr, "steps"), arg(tr, "batch"))
    check(said == want, "%s: LoRA steps and batch in the README %s = TRAIN_ARGS %s" % (prof, said, want))

sys.exit(summary())
PYEOF
