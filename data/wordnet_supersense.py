#!/usr/bin/python3
"""wordnet_supersense.py — the WordNet noun-supersense task for lorascope.

    wordnet_supersense.py WORDNET_DIR OUT_TRAIN OUT_DEV OUT_TEST

WORDNET_DIR holds WordNet 3.0's index.{noun,verb,adj,adv} and data.noun (from
the Debian package wordnet-base: usr/share/wordnet). Writes word<TAB>label
lines, sorted by word (byte order), to OUT_TRAIN, OUT_DEV and OUT_TEST.

An item is a word that
  * is a single lowercase ASCII word ([a-z]+),
  * has exactly ONE sense in the whole of WordNet (one synset over all four
    parts of speech), and that sense is a noun,
  * appears in that synset exactly as written (lowercase): this drops proper
    nouns, whose synset spells them capitalised ("Paris").
Its label is the lexicographer file of the synset (lex_filenum in data.noun)
named as in WordNet's lexnames(5) without the "noun." prefix: one of the 26
classes act, animal, artifact, ..., Tops ("Tops" keeps its capital T).

Split (three ways, by h = fnv1a32(word) % 10): test when h == 0 (exactly
the former validation set), dev when h == 1, train otherwise. FNV-1a
32-bit: h = 0x811c9dc5; for each byte b of the word: h ^= b; h = (h *
0x01000193) mod 2^32. (lib/data.c implements the same rule as
lsc_fnv1a32 / lsc_task_word_split.) Model selection and the validation
curve during fine-tuning use dev; test is only scored at the end.

Deterministic; Python 3 standard library only. The WordNet database files are
Latin-1 text (the license header lines start with two spaces and are skipped).
"""
import os
import re
import sys

# lexnames(5): file number -> name, for the noun files 03..28
NOUN_LEXNAMES = {
    3: 'Tops', 4: 'act', 5: 'animal', 6: 'artifact', 7: 'attribute', 8: 'body',
    9: 'cognition', 10: 'communication', 11: 'event', 12: 'feeling', 13: 'food',
    14: 'group', 15: 'location', 16: 'motive', 17: 'object', 18: 'person',
    19: 'phenomenon', 20: 'plant', 21: 'possession', 22: 'process', 23: 'quantity',
    24: 'relation', 25: 'shape', 26: 'state', 27: 'substance', 28: 'time',
}
POS_FILES = ('noun', 'verb', 'adj', 'adv')
WORD = re.compile(r'[a-z]+')


class WordNetError(Exception):
    pass


def fnv1a32(data):
    h = 0x811c9dc5
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xffffffff
    return h


def split_of(word):
    """0 = train, 1 = dev, 2 = test (the order of the output files)."""
    h = fnv1a32(word.encode('ascii')) % 10
    return 2 if h == 0 else 1 if h == 1 else 0


def records(path):
    """(line number, fields) for every non-header line of a WordNet file."""
    try:
        f = open(path, encoding='latin-1')
    except OSError as e:
        raise WordNetError('%s: cannot read: %s' % (path, e.strerror))
    with f:
        for n, line in enumerate(f, 1):
            if line.startswith('  '):
                continue
            yield n, line.split()


def read_index(wn):
    """word -> list of (pos, synset offset) over the four index files."""
    senses = {}
    for pos in POS_FILES:
        path = os.path.join(wn, 'index.' + pos)
        for n, f in records(path):
            try:
                lemma, synset_cnt, p_cnt = f[0], int(f[2]), int(f[3])
                offs = f[4 + p_cnt + 2:]
            except (IndexError, ValueError):
                raise WordNetError('%s:%d: malformed index line' % (path, n))
            if len(offs) != synset_cnt:
                raise WordNetError('%s:%d: %d offsets, synset_cnt says %d'
                                   % (path, n, len(offs), synset_cnt))
            senses.setdefault(lemma, []).extend((pos, o) for o in offs)
    return senses


def read_noun_synsets(wn):
    """synset offset -> (lex_filenum, [words as written])."""
    path = os.path.join(wn, 'data.noun')
    out = {}
    for n, f in records(path):
        try:
            off, lexnum, w_cnt = f[0], int(f[1]), int(f[3], 16)
            words = [f[4 + 2 * i] for i in range(w_cnt)]
        except (IndexError, ValueError):
            raise WordNetError('%s:%d: malformed data line' % (path, n))
        out[off] = (lexnum, words)
    return out


def build(wn):
    senses = read_index(wn)
    synsets = read_noun_synsets(wn)
    items = []
    for word in sorted(senses):
        s = senses[word]
        if not WORD.fullmatch(word) or len(s) != 1 or s[0][0] != 'noun':
            continue
        off = s[0][1]
        if off not in synsets:
            raise WordNetError('%s: index.noun points %s to missing synset %s'
                               % (wn, word, off))
        lexnum, words = synsets[off]
        if word not in words:
            continue                 # spelled capitalised in its synset: a proper noun
        if lexnum not in NOUN_LEXNAMES:
            raise WordNetError('%s: synset %s has lex_filenum %d, not a noun file'
                               % (wn, off, lexnum))
        items.append((word, NOUN_LEXNAMES[lexnum]))
    if len(items) < 20000 or len({lab for _, lab in items}) != 26:
        raise WordNetError('%s: %d items in %d classes (expected about 26,000 in 26)'
                           % (wn, len(items), len({lab for _, lab in items})))
    return items


def main(argv):
    if len(argv) != 5:
        sys.stderr.write(__doc__)
        return 2
    try:
        items = build(argv[1])
    except WordNetError as e:
        sys.stderr.write('wordnet_supersense.py: %s\n' % e)
        return 1
    outs = [open(path, 'w', encoding='ascii', newline='\n') for path in argv[2:5]]
    try:
        for word, label in items:
            outs[split_of(word)].write('%s\t%s\n' % (word, label))
    finally:
        for f in outs:
            f.close()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
