#!/usr/bin/python3
"""supersense_alpaca.py — the supersense task in Alpaca instruction form.

    supersense_alpaca.py                 data/tasks/supersense_{train,dev,test}.tsv ->
                                         data/tasks/supersense_{train,dev,test}.alpaca.json
    supersense_alpaca.py IN.tsv OUT.json one file

Each word<TAB>label line becomes the record
{"instruction":"Name the WordNet supersense of this noun.","input":word,"output":label};
the file is a JSON array with one compact record a line: "[\\n" rec (",\\n" rec)* "\\n]\\n"
("[]\\n" for no items). These are exactly the bytes of lib/data_tok.c's lsc_task_write_alpaca
(cJSON's unformatted print; tests/test_data_tok.c compares the two on
data/fixtures/supersense_tiny.tsv). The output is written to a temporary file and renamed.
Python 3 standard library only.
"""
import json
import os
import sys

INSTRUCTION = "Name the WordNet supersense of this noun."


def convert(tsv, out):
    with open(tsv, "rb") as f:
        text = f.read().decode("utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    recs = []
    for n, line in enumerate(lines, 1):
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            sys.exit("%s:%d: expected word<TAB>label" % (tsv, n))
        rec = {"instruction": INSTRUCTION, "input": parts[0], "output": parts[1]}
        recs.append(json.dumps(rec, ensure_ascii=False, separators=(",", ":")))
    body = "[\n" + ",\n".join(recs) + "\n]\n" if recs else "[]\n"
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(body.encode("utf-8"))
    os.replace(tmp, out)


def main(argv):
    if len(argv) == 3:
        convert(argv[1], argv[2])
    elif len(argv) == 1:
        tasks = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tasks")
        for split in ("train", "dev", "test"):
            base = os.path.join(tasks, "supersense_" + split)
            convert(base + ".tsv", base + ".alpaca.json")
    else:
        sys.exit(__doc__.strip().split("\n\n")[1])


if __name__ == "__main__":
    main(sys.argv)
