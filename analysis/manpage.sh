#!/bin/sh
# manpage.sh PROG VERSION — writes lorascope(1) in roff to stdout, generated
# from the program's own help texts (`PROG help` and `PROG CMD --help`), so
# the man page can never disagree with --help. Run by `make install`.
set -eu
PROG=$1
VERSION=$2
# Every roff-special character of a help text made literal: backslashes
# doubled, a leading '.' or "'" protected by \&.
esc() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }
cmds=$("$PROG" help | awk '/^commands:/ {f = 1; next} f && /^  [a-z]/ {print $1}' | grep -v -x -e help -e version)
date=$(date -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}" +%Y-%m-%d)
cat <<HEAD
.TH LORASCOPE 1 "$date" "lorascope $VERSION" "User Commands"
.SH NAME
lorascope \\- train LoRA adapters and analyse what they learn
.SH SYNOPSIS
.B lorascope
.I command
.RI [ options ]
.br
.B lorascope help
.RI [ command ]
.br
.B lorascope \\-\\-version
.SH DESCRIPTION
HEAD
"$PROG" help | sed -n '/^lorascope /p' | esc
echo ".PP"
echo "Commands:"
echo ".TP"
"$PROG" help | esc | awk '/^commands:/ {f = 1; next} f && /^  [a-z]/ {n = $1; $1 = ""; sub(/^ /, ""); printf ".B %s\n%s\n.TP\n", n, $0}' | sed '$d'
echo ".SH COMMANDS"
for c in $cmds; do
    echo ".SS lorascope $c"
    echo ".nf"
    "$PROG" "$c" --help | esc
    echo ".fi"
done
cat <<'TAIL'
.SH EXIT STATUS
0 success, 1 failure (one line on standard error names the file and the
problem), 2 usage error.
.SH FILES
Results are HDF5 files readable by h5py; adapters are PEFT directories
(adapter_config.json, adapter_model.safetensors); figures are drawn by the
gnuplot scripts in share/lorascope/plots.
.SH SEE ALSO
.BR gnuplot (1),
.BR h5dump (1)
TAIL
