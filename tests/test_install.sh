#!/bin/sh
# test_install.sh — the build knobs and `make install` as a user runs them:
# `make install PREFIX=…` puts the program, liblorascope.a, the headers,
# lorascope.pc, the man page and the bash completion in place; a 10-line
# program compiles against the library with `pkg-config --cflags --libs
# lorascope` and computes a known SVD; the man page and the completion name
# every subcommand and option of the help texts; `make CFLAGS="-O0 -g"` and
# `make OPENMP=0` build (the latter without the OpenMP runtime).
# One PASS/FAIL/SKIP line per check, then "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
BUILD=${LSC_BUILD:-build}
tmpdir install
TMP=$T
# The sub-makes below must not inherit the calling make's goals or flags.
unset MAKEFLAGS MAKELEVEL MFLAGS

# ---- make install PREFIX=… ----
P=$TMP/prefix
make --no-print-directory install BUILD="$BUILD" PREFIX="$P" >"$TMP/install.log" 2>&1
check "make install PREFIX=$P exits 0" $?
for f in bin/lorascope lib/liblorascope.a lib/pkgconfig/lorascope.pc include/lorascope/lsc.h \
         include/lorascope/lsc_model.h include/lorascope/lsc_atomic.h share/man/man1/lorascope.1 \
         share/bash-completion/completions/lorascope share/lorascope/plots/phi.gp; do
    [ -f "$P/$f" ]; check "installed $f" $?
done
[ ! -e "$P/include/lorascope/lsc_internal.h" ]; check "lsc_internal.h is not installed" $?
[ "$("$P/bin/lorascope" --version)" = "$("$P/bin/lorascope" -V)" ] &&
    "$P/bin/lorascope" --version | grep -qx 'lorascope [0-9][0-9.]*'
check "lorascope --version and -V print 'lorascope X.Y.Z'" $?
grep -q "^prefix=$P\$" "$P/lib/pkgconfig/lorascope.pc"; check "lorascope.pc names the prefix" $?

# ---- a 10-line program against the installed library ----
cat >"$TMP/svd.c" <<'C'
#include <stdio.h>
#include <lsc.h>
int main(void)
{
    double M[4] = {3, 0, 0, -2}, S[2], work[4096];   /* singular values 3 and 2 */
    lsc_error err;
    if (lsc_svd(2, 2, M, S, NULL, NULL, work, lsc_svd_work_size(2, 2, 0), &err) != LSC_OK)
        return 1;
    printf("%s %.6f %.6f\n", LSC_VERSION, S[0], S[1]);
    return 0;
}
C
export PKG_CONFIG_PATH="$P/lib/pkgconfig"
flags=$(pkg-config --cflags --libs lorascope 2>"$TMP/pc.err")
check "pkg-config --cflags --libs lorascope" $?
# under make asan the installed library is instrumented, so the program links the sanitizers too
san=; [ -n "${LSC_ASAN:-}" ] && san="-fsanitize=address,undefined"
cc -std=c11 $san -o "$TMP/svd" "$TMP/svd.c" $flags >"$TMP/cc.log" 2>&1
st=$?; check "a 10-line program compiles and links with pkg-config's flags" $st
[ $st -eq 0 ] || sed 's/^/    /' "$TMP/cc.log" | head -n 5
out=$("$TMP/svd" 2>&1)
[ "$out" = "$("$P/bin/lorascope" -V | cut -d' ' -f2) 3.000000 2.000000" ]
check "it computes the SVD of diag(3, -2): '$out'" $?

# ---- man page and completion, from the help texts ----
man=$P/share/man/man1/lorascope.1
cmds=$("$P/bin/lorascope" help | awk '/^commands:/ {f = 1; next} f && /^  [a-z]/ {print $1}' | grep -v -x -e help -e version)
miss=""
for c in $cmds; do grep -q "^\.SS lorascope $c\$" "$man" || miss="$miss $c"; done
[ -z "$miss" ] && [ -n "$cmds" ]; check "man page has a section per subcommand${miss:+ (missing:$miss)}" $?
first=$("$P/bin/lorascope" train --help | head -n 1)
grep -qF -- "$first" "$man"; check "man page carries train's --help text" $?
if command -v man >/dev/null 2>&1; then
    MANWIDTH=80 man -l "$man" >"$TMP/man.txt" 2>"$TMP/man.err" && [ ! -s "$TMP/man.err" ] &&
        grep -q 'EXIT STATUS' "$TMP/man.txt"
    check "man -l renders it without warnings" $?
else
    skip "man -l renders the man page" "man is not installed"
fi
if command -v bash >/dev/null 2>&1; then
    comp=$P/share/bash-completion/completions/lorascope
    r=$(bash -c '. "$1"; COMP_WORDS=(lorascope sub); COMP_CWORD=1; _lorascope; echo "${COMPREPLY[*]}"' _ "$comp")
    [ "$r" = "subspace" ]; check "completion: 'lorascope sub' -> subspace ('$r')" $?
    r=$(bash -c '. "$1"; COMP_WORDS=(lorascope train --rank); COMP_CWORD=2; _lorascope; echo "${COMPREPLY[*]}"' _ "$comp")
    [ "$r" = "--rank --rank-pattern --rank-pattern-file" ]; check "completion: 'lorascope train --rank' -> '$r'" $?
    bad=""
    for c in $cmds; do
        for o in $("$P/bin/lorascope" "$c" --help | grep -o -e '--[a-z][a-z0-9-]*' | sort -u); do
            r=$(bash -c '. "$1"; COMP_WORDS=(lorascope "$2" "$3"); COMP_CWORD=2; _lorascope; echo " ${COMPREPLY[*]} "' _ "$comp" "$c" "$o")
            case $r in *" $o "*) ;; *) bad="$bad $c:$o" ;; esac
        done
    done
    [ -z "$bad" ]; check "completion offers every option of every --help${bad:+ (missing:$bad)}" $?
else
    skip "bash completion" "bash is not installed"
fi

# ---- build knobs (each a full build of lib/ and the program) ----
if [ -n "${LSC_ASAN:-}${LSC_QUICK:-}" ]; then
    skip "make CFLAGS=\"-O0 -g\" and make OPENMP=0" "two full builds: run by make test, not under LSC_ASAN/LSC_QUICK"
else
    make --no-print-directory -j2 BUILD="$TMP/b-debug" CFLAGS="-O0 -g" \
        "$TMP/b-debug/lorascope" >"$TMP/debug.log" 2>&1
    st=$?; check "make CFLAGS=\"-O0 -g\" builds" $st
    [ $st -eq 0 ] || tail -n 5 "$TMP/debug.log" | sed 's/^/    /'
    make --no-print-directory -n BUILD="$TMP/b-x" V=1 CFLAGS="-O0 -g" "$TMP/b-x/obj/lib/rng.o" 2>/dev/null |
        grep -q -- '-std=c11 .*-O2 .*-O0 -g'
    check "CFLAGS=\"-O0 -g\" is added after the project's flags (-std=c11 ... -O0 -g)" $?
    "$TMP/b-debug/lorascope" -V >/dev/null; check "the -O0 -g program runs" $?
    make --no-print-directory -j2 BUILD="$TMP/b-noomp" OPENMP=0 \
        "$TMP/b-noomp/lorascope" >"$TMP/noomp.log" 2>&1
    st=$?; check "make OPENMP=0 builds" $st
    [ $st -eq 0 ] || tail -n 5 "$TMP/noomp.log" | sed 's/^/    /'
    ! ldd "$TMP/b-noomp/lorascope" | grep -q 'libgomp'; check "the OPENMP=0 program does not link libgomp" $?
    ldd "$BUILD/lorascope" | grep -q 'libgomp'; check "the default program links libgomp (OpenMP on)" $?
    "$TMP/b-noomp/lorascope" spectrum --help >/dev/null; check "the OPENMP=0 program runs" $?
fi
finish
