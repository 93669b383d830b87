"""testlib.py — the helpers the tests/test_*.py share: one "PASS name" /
"FAIL name" line per check, one "SKIP name (reason)" line per check (or
group of checks) that cannot run here, a last line
"N passed, N failed, N skipped" (summary(), whose value is the exit status:
1 on any failure), the program under test ($LSC_BIN) and the shared fixtures
(a SKIP in a user's clone without ../shared, a FAIL when CI=true). A skip is
never counted as a pass. The same conventions in C are tests/test.h, in
shell tests/lib.sh.

Not a framework: no discovery, no assertions beyond check(ok, name).
Usage, from a test in tests/:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from testlib import check, skip, summary, run
"""
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LSC = os.environ.get("LSC_BIN", os.path.join(ROOT, "build", "lorascope"))

passed = failed = skipped = 0


# ---- verdicts ----

def check(ok, name):
    """One PASS/FAIL line; returns ok."""
    global passed, failed
    print(("PASS " if ok else "FAIL ") + name, flush=True)
    if ok:
        passed += 1
    else:
        failed += 1
    return ok


def skip(name, reason):
    """The check (or group of checks) `name` cannot run here."""
    global skipped
    print("SKIP %s (%s)" % (name, reason), flush=True)
    skipped += 1


def summary():
    """Prints "N passed, N failed, N skipped"; returns the exit status."""
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped), flush=True)
    return 1 if failed else 0


# ---- the program under test ----

def run(*args):
    """Runs $LSC_BIN with args (or one list of them): (exit status, stdout, stderr)."""
    if len(args) == 1 and isinstance(args[0], list):
        args = args[0]
    p = subprocess.run([LSC] + [str(a) for a in args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


# ---- the shared fixtures ----

def fixtures_path():
    """$LSC_FIXTURES, else $LSC_SHARED/fixtures, else ../shared/fixtures
    beside the project root."""
    if os.environ.get("LSC_FIXTURES"):
        return os.environ["LSC_FIXTURES"]
    return os.path.join(os.environ.get("LSC_SHARED") or os.path.join(ROOT, "..", "shared"), "fixtures")


def fixtures_dir(what, *needed):
    """The fixtures directory when it holds README.md and every path in
    needed; else None after reporting the checks `what`: SKIP normally, FAIL
    when the environment variable CI is "true" (CI always has them)."""
    fx = fixtures_path()
    missing = [p for p in ("README.md",) + needed if not os.path.exists(os.path.join(fx, p))]
    if not missing:
        return fx
    where = fx if missing[0] == "README.md" else os.path.join(fx, missing[0])
    if os.environ.get("CI") == "true":
        check(False, "%s (fixtures dir missing: %s; CI=true requires it)" % (what, where))
    else:
        skip(what, "fixtures dir missing: %s; set LSC_FIXTURES or clone ../shared" % where)
    return None
