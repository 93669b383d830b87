#!/usr/bin/env python3
"""test_tree.py — the shape of the source tree, as issue 11 set it:
no source file over 1,000 lines, no function over 120 lines, no `cmd_*`
subcommand entry over 80; no dependency cycle between library files (read
from the object files with nm: A -> B when A.o uses a symbol B.o defines);
every public header compiles on its own; subcommands are declared only in
analysis/commands.h; files are replaced only through lib/atomic.c (no other
rename()); the library has no main() and never calls exit(); OpenMP loops
have a signed index and a `<` bound (clang's -fsanitize=integer).
One PASS/FAIL line per check, then "N passed, N failed, N skipped"."""
import glob, os, re, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testlib  # noqa: E402

os.chdir(testlib.ROOT)
BUILD = os.environ.get('LSC_BUILD', 'build')


def check(name, ok, detail=''):
    testlib.check(ok, name)
    if not ok and detail:
        print('    ' + detail)


SRC = sorted(glob.glob('lib/*.[ch]') + glob.glob('analysis/*.[ch]') + glob.glob('tests/*.[ch]'))


def strip_comments(text):
    """Comments and string/char literals blanked, line structure kept."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith('/*', i):
            j = text.find('*/', i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r'[^\n]', ' ', text[i:j])); i = j
        elif text.startswith('//', i):
            j = text.find('\n', i)
            j = n if j < 0 else j
            out.append(' ' * (j - i)); i = j
        elif c in '"\'':
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == '\\' else 1
            out.append(c + ' ' * (min(j, n) - i - 1) + c); i = j + 1
        else:
            out.append(c); i += 1
    return ''.join(out)


def functions(path):
    """(name, first line, length) of each function definition: a line at
    column 0 that opens a parameter list, up to its closing brace at column 0."""
    lines = strip_comments(open(path, errors='replace').read()).split('\n')
    i = 0
    while i < len(lines):
        m = re.match(r'^[A-Za-z_][\w \t\*]*?\b(\w+)\s*\(', lines[i])
        if m and not lines[i].startswith(('typedef', 'struct ', 'enum ', 'union ')) or \
                m and re.match(r'^(static |const |struct |enum )', lines[i]):
            j = i
            while j < len(lines) and '{' not in lines[j] and ';' not in lines[j]:
                j += 1
            if j < len(lines) and '{' in lines[j] and '=' not in lines[i].split('(')[0]:
                k = j + 1
                while k < len(lines) and not lines[k].startswith('}'):
                    k += 1
                yield m.group(1), i + 1, k - i + 1
                i = k
        i += 1


# ---- sizes ----
big = ['%s (%d lines)' % (p, sum(1 for _ in open(p, errors='replace'))) for p in SRC
       if sum(1 for _ in open(p, errors='replace')) > 1000]
check('no source file over 1,000 lines (%d files)' % len(SRC), not big, ', '.join(big))
long_fn, long_cmd, nfn = [], [], 0
for p in SRC:
    for name, line, n in functions(p):
        nfn += 1
        if n > 120:
            long_fn.append('%s:%d %s (%d lines)' % (p, line, name, n))
        if name.startswith('cmd_') and p.startswith('analysis/') and n > 80:
            long_cmd.append('%s:%d %s (%d lines)' % (p, line, name, n))
check('no function over 120 lines (%d functions)' % nfn, not long_fn, '\n    '.join(long_fn))
check('every cmd_* entry point under 80 lines', not long_cmd, '\n    '.join(long_cmd))

# ---- the library's file-level call graph ----
objs = sorted(glob.glob(os.path.join(BUILD, 'obj/lib/*.o')))
if not objs:
    check('library objects present in %s/obj/lib' % BUILD, False, 'build first')
else:
    defs, uses = {}, {}
    for o in objs:
        f = os.path.basename(o)[:-2]
        uses[f] = set()
        for line in subprocess.run(['nm', o], capture_output=True, text=True).stdout.splitlines():
            w = line.split()
            if len(w) == 3 and w[1] in 'TDBR':
                defs[w[2]] = f
            elif len(w) == 2 and w[0] == 'U':
                uses[f].add(w[1])
    edges = {f: {defs[s] for s in u if s in defs and defs[s] != f} for f, u in uses.items()}
    # a file is in a cycle iff it reaches itself
    cyc = []
    for f in edges:
        seen, todo = set(), list(edges[f])
        while todo:
            g = todo.pop()
            if g not in seen:
                seen.add(g); todo.extend(edges[g])
        if f in seen:
            cyc.append(f)
    check('no dependency cycle between library files (%d files)' % len(edges), not cyc,
          'in a cycle: ' + ', '.join(sorted(cyc)))
    srcs = {os.path.basename(p)[:-2] for p in glob.glob('lib/*.c')}
    check('every lib/*.c has an object in %s/obj/lib' % BUILD, srcs <= set(edges),
          'missing: ' + ', '.join(sorted(srcs - set(edges))))

# ---- headers ----
hdrs = sorted(glob.glob('lib/*.h'))
bad = []
for h in hdrs:
    r = subprocess.run(['cc', '-std=c11', '-Wall', '-Wextra', '-Werror', '-fsyntax-only', '-Ilib', '-x', 'c', '-'],
                       input='#include "%s"\n#include "%s"\n' % ((os.path.basename(h),) * 2),
                       capture_output=True, text=True)
    if r.returncode != 0:
        bad.append(h + ': ' + r.stderr.strip().split('\n')[0])
check('each of %d headers compiles on its own and twice' % len(hdrs), not bad, '\n    '.join(bad))
umb = open('lib/lsc.h').read()
mods = [os.path.basename(h) for h in hdrs if h.startswith('lib/lsc_') and h != 'lib/lsc_internal.h']
miss = [m for m in mods if '#include "%s"' % m not in umb]
check('lsc.h includes every module header (%d)' % len(mods), not miss, ', '.join(miss))

# ---- conventions ----
proto = []
for p in glob.glob('analysis/*.[ch]'):
    if p == 'analysis/commands.h':
        continue
    for i, l in enumerate(strip_comments(open(p).read()).split('\n')):
        if re.match(r'^\s*int\s+cmd_\w+\s*\([^)]*\)\s*;', l):
            proto.append('%s:%d' % (p, i + 1))
check('cmd_* prototypes only in analysis/commands.h', not proto, ', '.join(proto))
ren = []
for p in glob.glob('lib/*.c') + glob.glob('analysis/*.c'):
    if p == 'lib/atomic.c':
        continue
    for i, l in enumerate(strip_comments(open(p).read()).split('\n')):
        if re.search(r'\brename(at)?\s*\(', l):
            ren.append('%s:%d' % (p, i + 1))
check('files are renamed into place only by lib/atomic.c', not ren, ', '.join(ren))
libbad = []
for p in glob.glob('lib/*.c'):
    for i, l in enumerate(strip_comments(open(p).read()).split('\n')):
        if re.search(r'\b(exit|_exit|abort)\s*\(', l) and 'lsc_abort_' not in l or re.match(r'^int\s+main\s*\(', l):
            libbad.append('%s:%d %s' % (p, i + 1, l.strip()))
# abort() is allowed in exactly one place: LSC_ABORT's lsc_abort_ in error.c
libbad = [b for b in libbad if not (b.startswith('lib/error.c') and 'abort()' in b)]
check('lib/ has no main() and calls no exit()', not libbad, '\n    '.join(libbad))
# clang's lowering of an OpenMP loop computes 0 - 1 for an unsigned index and
# converts a `<=` bound to unsigned: reports under `make asan-clang`
omp = []
for p in glob.glob('lib/*.c') + glob.glob('analysis/*.c'):
    ls = strip_comments(open(p).read()).split('\n')
    for i, l in enumerate(ls[:-1]):
        if re.match(r'\s*#\s*pragma\s+omp\b.*\b(for|simd)\b', l) and not re.match(
                r'\s*for\s*\(\s*(int|long|ptrdiff_t)\s+(\w+)\s*=[^;]*;\s*\2\s*<(?!=)', ls[i + 1]):
            omp.append('%s:%d %s' % (p, i + 2, ls[i + 1].strip()))
check('OpenMP loops: a signed index and a < bound', not omp, '\n    '.join(omp))

sys.exit(testlib.summary())
