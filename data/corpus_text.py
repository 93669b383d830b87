#!/usr/bin/python3
"""corpus_text.py — turn the raw texts unpacked from the Debian packages into
the clean UTF-8 plain text of lorascope's pretraining corpus, and split it.

    corpus_text.py austen   RDATA_BASE   > austen.txt    (r-cran-janeaustenr)
    corpus_text.py mobydick RDATA_BASE   > mobydick.txt  (r-cran-tokenizers)
    corpus_text.py kjv      < bible-output > kjv.txt     (output of bible -l 10000)
    corpus_text.py fortunes FORTUNE_DIR  > fortunes.txt  (fortunes, fortunes-min)
    corpus_text.py jargon   JARGON_TXT_GZ > jargon.txt   (jargon-text)
    corpus_text.py devil    DEVIL_DICT_DZ > devil.txt    (dict-devil)
    corpus_text.py split PERCENT OUT_TRAIN OUT_VALID SOURCE.txt...

Every source goes through the same tidy-up (see tidy()): typographic quotes,
dashes and no-break spaces become ASCII, control characters other than TAB
are dropped, trailing blanks are stripped, runs of blank lines become one
blank line, and the text ends with exactly one newline. Paragraphs (blocks
separated by a blank line) are the unit the split works on.

The split (see split_text()): the last PERCENT % of each source's bytes, cut
at the first paragraph boundary at or after that point (or at a line boundary
when the source has no paragraph boundary there), is validation; the rest is
training. OUT_TRAIN / OUT_VALID are the concatenation of the parts in the
order given, separated by one blank line.

Deterministic: no dates, no locale, no hash ordering; directory listings are
sorted by byte value. Python 3 standard library only. Exits 1 with one line
on stderr naming the input when an input does not look as expected.
"""
import gzip
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import rdata_text  # noqa: E402  (sibling helper)


class SourceError(Exception):
    pass


# ---- common tidy-up ----

ASCII_PUNCT = {
    '\u2018': "'", '\u2019': "'", '\u201a': "'", '\u201b': "'",
    '\u201c': '"', '\u201d': '"', '\u201e': '"', '\u201f': '"',
    '\u2013': '-', '\u2014': '--', '\u2015': '--', '\u2026': '...',
    '\u00a0': ' ', '\u2009': ' ', '\u200a': ' ', '\u202f': ' ',
    '\ufeff': '', '\u200b': '',
}
CONTROL = re.compile('[\x00-\x08\x0b-\x1f\x7f]')


def tidy(text):
    """Normalised text: ASCII punctuation, no control characters (TAB kept),
    no trailing blanks, single blank lines, one final newline."""
    text = text.replace('\r\n', '\n').replace('\r', '\n')
    text = ''.join(ASCII_PUNCT.get(c, c) for c in text)
    text = CONTROL.sub('', text)                 # \t and \n are not in CONTROL
    lines = [ln.rstrip(' \t') for ln in text.split('\n')]
    out, blank = [], True            # blank=True drops leading blank lines
    for ln in lines:
        if ln == '':
            if not blank:
                out.append('')
            blank = True
        else:
            out.append(ln)
            blank = False
    while out and out[-1] == '':
        out.pop()
    return '\n'.join(out) + '\n' if out else ''


def paragraphs(text):
    return [p.strip('\n') for p in text.split('\n\n') if p.strip()]


def read_gzip_text(path):
    try:
        raw = gzip.open(path, 'rb').read()
    except OSError as e:
        raise SourceError('%s: cannot read gzip data: %s' % (path, e))
    try:
        return raw.decode('utf-8')
    except UnicodeDecodeError as e:
        raise SourceError('%s: not UTF-8 at byte %d' % (path, e.start))


def r_strings(base, name):
    try:
        index, comp = rdata_text.read_index(base)
        if name not in index:
            raise SourceError('%s.rdx: no data set %r' % (base, name))
        obj = rdata_text.read_object(base, index[name], comp)
    except rdata_text.RError as e:
        raise SourceError(str(e))
    if obj is None or obj.type != rdata_text.STRSXP:
        raise SourceError('%s.rdb: %r is not a character vector' % (base, name))
    return ['' if s is None else s for s in obj.value]


# ---- the sources ----

AUSTEN_NOVELS = ['sensesensibility', 'prideprejudice', 'mansfieldpark', 'emma',
                 'northangerabbey', 'persuasion']        # publication order


def austen(base):
    """The six novels, in publication order; '_' italic marks removed."""
    books = []
    for name in AUSTEN_NOVELS:
        lines = r_strings(base, name)
        if len(lines) < 1000:
            raise SourceError('%s: %s has only %d lines' % (base, name, len(lines)))
        books.append(tidy('\n'.join(lines).replace('_', '')))
    return '\n'.join(books)


def mobydick(base):
    """Moby Dick from the tokenizers data set: the title, then the book from
    ETYMOLOGY to the epilogue; Project Gutenberg header, licence and the
    transcriber's notes are left out."""
    vec = r_strings(base, 'mobydick')
    text = '\n'.join(vec).replace('\r\n', '\n').lstrip('\ufeff')
    lines = text.split('\n')

    def find(pred, what, start=0):
        for i in range(start, len(lines)):
            if pred(lines[i]):
                return i
        raise SourceError('%s: mobydick: marker %r not found' % (base, what))

    title = find(lambda s: s.strip() == 'MOBY DICK; OR THE WHALE', 'title')
    begin = find(lambda s: s.strip() == 'ETYMOLOGY.', 'ETYMOLOGY.', title)
    end = find(lambda s: s.startswith("End of Project Gutenberg"), 'End of Project Gutenberg', begin)
    head = 'MOBY DICK; OR THE WHALE\n\nBy Herman Melville\n\n'
    return tidy(head + '\n'.join(lines[begin:end]))


KJV_CHAPTER = re.compile(r'^(?:[1-3] )?[A-Z][A-Za-z ]* [0-9]+$')
KJV_VERSE = re.compile(r'^ *([0-9]+) (.*)$')


def kjv(stream):
    """bible(1) output for gen1:1-rev22:21 with -l 10000: one verse a line
    (verse numbers dropped), a blank line between chapters; the chapter
    headings ("Genesis 1") are dropped. Checks 1189 chapters, 31102 verses."""
    chapters, cur = [], None
    for n, line in enumerate(stream.split('\n'), 1):
        if line.strip() == '':
            continue
        if KJV_CHAPTER.match(line):
            cur = []
            chapters.append(cur)
            continue
        m = KJV_VERSE.match(line)
        if not m or cur is None:
            raise SourceError('bible output line %d: unexpected %r' % (n, line[:60]))
        cur.append(m.group(2))
    nverses = sum(len(c) for c in chapters)
    if len(chapters) != 1189 or nverses != 31102:
        raise SourceError('bible output: %d chapters, %d verses (expected 1189, 31102)'
                          % (len(chapters), nverses))
    return tidy('\n\n'.join('\n'.join(c) for c in chapters))


FORTUNE_SKIP = {'art', 'ascii-art',   # drawings, not text
                'ethnic'}             # ethnic jokes: left out on purpose (SOURCES.md)
OVERSTRIKE = re.compile('[^\x08]\x08')


MOJIBAKE = re.compile('[\u00c2-\u00f4][\u0080-\u00bf]{1,3}')


def fix_mojibake(text):
    """Undo UTF-8 that was decoded as Latin-1 and encoded again (a few
    fortunes have it, some twice): 'donÃ¢ÂÂt' -> 'don\u2019t'."""
    def undo(m):
        try:
            return m.group(0).encode('latin-1').decode('utf-8')
        except UnicodeError:
            return m.group(0)
    for _ in range(3):
        new = MOJIBAKE.sub(undo, text)
        if new == text:
            break
        text = new
    return text


def fortunes(d):
    """Every fortune file (regular files, sorted by name; *.dat indexes,
    *.u8 symlinks and the files in FORTUNE_SKIP left out), one fortune a
    paragraph; overstrike sequences (X BS Y -> Y) removed."""
    try:
        names = sorted(os.listdir(d))
    except OSError as e:
        raise SourceError('%s: cannot list: %s' % (d, e.strerror))
    out, nfiles = [], 0
    for name in names:
        p = os.path.join(d, name)
        if name.endswith('.dat') or name in FORTUNE_SKIP or os.path.islink(p) or not os.path.isfile(p):
            continue
        raw = open(p, 'rb').read()
        try:
            text = raw.decode('utf-8')
        except UnicodeDecodeError as e:
            raise SourceError('%s: not UTF-8 at byte %d' % (p, e.start))
        while OVERSTRIKE.search(text):
            text = OVERSTRIKE.sub('', text)
        text = fix_mojibake(text)
        nfiles += 1
        for item in re.split(r'(?m)^%\n', text.replace('\r\n', '\n') + '\n'):
            t = tidy(item)
            if t:
                out.append(t)
    if nfiles < 30 or len(out) < 10000:
        raise SourceError('%s: only %d fortune files, %d fortunes' % (d, nfiles, len(out)))
    return '\n'.join(out)


BOX_DRAWING = re.compile('[\u2500-\u257f]')
JARGON_XREF = re.compile(r'\{([^{};"]{1,60})\}')


def jargon(path):
    """The Jargon File 4.4.7: chapters 1-12, the lexicon and the appendices
    (front matter, the headword lists and the tables of contents left out); 3-space indent removed; table rows drawn with box
    characters dropped; {cross reference} braces removed."""
    lines = read_gzip_text(path).split('\n')
    try:
        start = next(i for i, s in enumerate(lines) if re.match(r'Chapter\s1\.\s', s))
        gloss = next(i for i in range(start, len(lines)) if lines[i] == 'Glossary')
        lex = next(i for i in range(gloss, len(lines)) if lines[i].startswith('   :'))
    except StopIteration:
        raise SourceError('%s: Chapter 1 / Glossary / lexicon markers not found' % path)
    keep, in_toc, in_list = [], False, False
    for i in list(range(start, gloss)) + list(range(lex, len(lines))):
        s = lines[i]
        if BOX_DRAWING.search(s):
            continue
        if i >= lex and re.fullmatch(r' {1,2}[0A-Z]', s):
            in_list = True      # a letter heading, then a list of its headwords
            continue
        if in_list:
            if not s.startswith('   :'):
                continue
            in_list = False
        if s.strip() == 'Table of Contents':
            in_toc = True
            continue
        if in_toc:
            # a table of contents is a run of short indented titles; it
            # ends at the first long line (prose) or an unindented heading
            if s.strip() == '' or (s.startswith('   ') and len(s) < 63):
                continue
            in_toc = False
        keep.append(s[3:] if s.startswith('   ') else s)
    text = '\n'.join(keep)
    text = JARGON_XREF.sub(r'\1', text)
    return tidy(text)


SLUR = re.compile(r'\bnigger\b', re.IGNORECASE)


def devil(path):
    """The Devil's Dictionary from the PREFACE on (dictd header and the
    trailing alphabet line left out), '_' italic marks removed; the two
    entries that use a racial slur (AFRICAN, MINSTREL) left out."""
    text = read_gzip_text(path)
    m = re.search(r'(?m)^ +PREFACE$', text)
    if not m:
        raise SourceError('%s: PREFACE not found' % path)
    text = text[m.start():]
    text = re.sub(r'(?m)^ ?abcdefghijklmnopqrstuvwxyz\s*$', '', text).replace('_', '')
    paras = paragraphs(tidy(text))
    kept = [p for p in paras if not SLUR.search(p)]
    if len(paras) - len(kept) != 2:
        raise SourceError('%s: expected to drop 2 entries, dropped %d' % (path, len(paras) - len(kept)))
    return '\n\n'.join(kept) + '\n'


# ---- train/validation split ----

def split_text(text, percent):
    """(train, valid): valid is the tail starting at the first paragraph
    boundary at or after len*(100-percent)/100 (a line boundary when there is
    no paragraph boundary after that point)."""
    data = text.encode('utf-8')
    cut = len(data) * (100 - percent) // 100
    i = data.find(b'\n\n', max(cut - 1, 0))
    if i >= 0:
        tr, va = data[:i + 1], data[i + 2:]
    else:
        j = data.find(b'\n', max(cut - 1, 0))
        if j < 0 or j + 1 >= len(data):
            raise SourceError('cannot split: no line boundary after byte %d' % cut)
        tr, va = data[:j + 1], data[j + 1:]
    if not va.strip() or not tr.strip():
        raise SourceError('cannot split: empty part')
    return tr, va


def cmd_split(argv):
    if len(argv) < 4:
        raise SourceError('usage: split PERCENT OUT_TRAIN OUT_VALID SOURCE...')
    percent = int(argv[0])
    if not 0 < percent < 100:
        raise SourceError('split: PERCENT must be in 1..99')
    trains, valids = [], []
    for p in argv[3:]:
        with open(p, 'rb') as f:
            text = f.read().decode('utf-8')
        tr, va = split_text(text, percent)
        trains.append(tr)
        valids.append(va)
    with open(argv[1], 'wb') as f:
        f.write(b'\n'.join(trains))
    with open(argv[2], 'wb') as f:
        f.write(b'\n'.join(valids))


def main(argv):
    cmds = {'austen': austen, 'mobydick': mobydick, 'fortunes': fortunes,
            'jargon': jargon, 'devil': devil}
    if len(argv) < 2 or argv[1] in ('-h', '--help'):
        sys.stdout.write(__doc__)
        return 0 if len(argv) >= 2 else 2
    cmd = argv[1]
    try:
        if cmd == 'split':
            cmd_split(argv[2:])
            return 0
        if cmd == 'kjv' and len(argv) == 2:
            text = kjv(sys.stdin.buffer.read().decode('utf-8'))
        elif cmd in cmds and len(argv) == 3:
            text = cmds[cmd](argv[2])
        else:
            sys.stderr.write('corpus_text.py: bad command line (see --help)\n')
            return 2
        sys.stdout.buffer.write(text.encode('utf-8'))
        return 0
    except SourceError as e:
        sys.stderr.write('corpus_text.py %s: %s\n' % (cmd, e))
        return 1
    except (OSError, UnicodeDecodeError) as e:
        sys.stderr.write('corpus_text.py %s: %s\n' % (cmd, e))
        return 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
