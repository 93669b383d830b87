#!/usr/bin/python3
"""make_fixtures.py — cut the small committed test fixtures out of the real
data that data/fetch.sh builds. Run once by a maintainer; the outputs are
committed so that unit tests never need the download.

    make_fixtures.py [DATA_DIR]        (default: the directory of this script)

Writes
  fixtures/tiny.txt           about 64 KB of public-domain text: chunks of
                              about 1.6 KB (whole paragraphs) taken in turn
                              from the beginnings of Pride and Prejudice, Moby
                              Dick, Genesis, the Jargon File and the Devil's
                              Dictionary, so that any 10 % tail mixes all five
                              styles. (fortunes is left out: it is not public
                              domain.)
  fixtures/supersense_tiny.tsv  300 word<TAB>label lines from
                              tasks/supersense_{train,dev,test}.tsv: per label,
                              max(3, round(300 * share)) words trimmed to 300
                              in total, chosen by the order of
                              fnv1a32("fixture:" + word) so the pick is spread
                              over the alphabet; sorted by word.
Deterministic; Python 3 standard library only.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from wordnet_supersense import fnv1a32  # noqa: E402

TEXT_SOURCES = [('austen.txt', 'It is a truth universally acknowledged'),
                ('mobydick.txt', 'CHAPTER 1. Loomings.'),
                ('kjv.txt', 'In the beginning God created'),
                ('jargon.txt', 'Chapter 1. Hacker Slang'),
                ('devil.txt', 'ABASEMENT, n.')]
CHUNK = 1600
TOTAL = 64 * 1024
N_TASK = 300


def paragraphs_from(path, marker):
    text = open(path, encoding='utf-8').read()
    i = text.find(marker)
    if i < 0:
        sys.exit('make_fixtures.py: %s: marker %r not found' % (path, marker))
    return [p for p in text[i:].split('\n\n') if p.strip()]


def tiny_text(d):
    srcs = [paragraphs_from(os.path.join(d, 'corpus', f), m) for f, m in TEXT_SOURCES]
    pos = [0] * len(srcs)
    out, size = [], 0
    while size < TOTAL:
        for s, paras in enumerate(srcs):
            chunk = 0
            while chunk < CHUNK and pos[s] < len(paras):
                p = paras[pos[s]]
                pos[s] += 1
                out.append(p)
                chunk += len(p.encode('utf-8')) + 2
            size += chunk
    return '\n\n'.join(out) + '\n'


def tiny_task(d):
    items = []
    for part in ('supersense_train.tsv', 'supersense_dev.tsv', 'supersense_test.tsv'):
        with open(os.path.join(d, 'tasks', part), encoding='ascii') as f:
            items += [tuple(line.rstrip('\n').split('\t')) for line in f]
    by_label = {}
    for w, lab in items:
        by_label.setdefault(lab, []).append(w)
    want = {lab: max(3, round(N_TASK * len(ws) / len(items))) for lab, ws in by_label.items()}
    while sum(want.values()) > N_TASK:        # trim the largest classes first
        lab = max(sorted(want), key=lambda k: want[k])
        want[lab] -= 1
    while sum(want.values()) < N_TASK:
        lab = max(sorted(want), key=lambda k: len(by_label[k]) - want[k])
        want[lab] += 1
    pick = []
    for lab in sorted(by_label):
        ws = sorted(by_label[lab], key=lambda w: (fnv1a32(b'fixture:' + w.encode()), w))
        pick += [(w, lab) for w in ws[:want[lab]]]
    return ''.join('%s\t%s\n' % it for it in sorted(pick))


def main(argv):
    d = argv[1] if len(argv) > 1 else HERE
    os.makedirs(os.path.join(d, 'fixtures'), exist_ok=True)
    with open(os.path.join(d, 'fixtures', 'tiny.txt'), 'w', encoding='utf-8', newline='\n') as f:
        f.write(tiny_text(d))
    with open(os.path.join(d, 'fixtures', 'supersense_tiny.tsv'), 'w', encoding='ascii', newline='\n') as f:
        f.write(tiny_task(d))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
