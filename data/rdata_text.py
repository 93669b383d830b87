#!/usr/bin/python3
"""rdata_text.py — read character vectors out of an R package's lazy-load data
base (PKG/data/Rdata.rdx + Rdata.rdb) without R.

    rdata_text.py DB_BASE            list the variables: name, R type, length
    rdata_text.py DB_BASE NAME       write character vector NAME to stdout as
                                     UTF-8, one element per line (NA -> "")

DB_BASE is the path without the extension, e.g.
.../site-library/janeaustenr/data/Rdata. Python 3 standard library only.

What it is: a small reader of R's XDR serialisation format (versions 2 and 3)
covering the SEXP types that data packages contain (vectors, lists, pairlists,
symbols, environments by reference). What it is not: a general R reader; byte
code, ALTREP objects and external pointers raise an error that names the type.

Format notes (R's src/main/serialize.c and lazyload):
  .rdx   a gzip-compressed (or 4-byte-length + zlib) serialised list with
         names "variables", "references", "compressed"; each variable is an
         integer pair (offset, length) into the .rdb file.
  .rdb   blocks of [u32 big-endian uncompressed length][payload]; payload is
         a zlib stream when compressed == TRUE, else one type byte ('Z' zlib,
         '2' bzip2, 'X' xz, '0' stored) followed by the data.
  item   int flags: type = flags & 0xff, has-attributes bit 9, has-tag
         bit 10, "levels" (string encoding bits) = flags >> 12.
"""
import bz2
import gzip
import lzma
import os
import struct
import sys
import zlib

# SEXP type codes used below (serialize.c)
NILSXP, SYMSXP, LISTSXP, CLOSXP, ENVSXP, PROMSXP, LANGSXP = 0, 1, 2, 3, 4, 5, 6
CHARSXP, LGLSXP, INTSXP, REALSXP, CPLXSXP, STRSXP = 9, 10, 13, 14, 15, 16
DOTSXP, VECSXP, EXPRSXP, RAWSXP, S4SXP = 17, 19, 20, 24, 25
REFSXP, NILVALUE, GLOBALENV, UNBOUNDVALUE, MISSINGARG = 255, 254, 253, 252, 251
BASENAMESPACE, NAMESPACESXP, PACKAGESXP, PERSISTSXP = 250, 249, 248, 247
EMPTYENV, BASEENV, ATTRLANGSXP, ATTRLISTSXP, ALTREP = 242, 241, 240, 239, 238

LATIN1_MASK = 1 << 2
UTF8_MASK = 1 << 3

TYPE_NAMES = {LGLSXP: 'logical', INTSXP: 'integer', REALSXP: 'double', CPLXSXP: 'complex',
              STRSXP: 'character', VECSXP: 'list', EXPRSXP: 'expression', RAWSXP: 'raw',
              LISTSXP: 'pairlist', ENVSXP: 'environment', SYMSXP: 'symbol', S4SXP: 'S4'}


class RError(Exception):
    pass


class Node:
    """One unserialised R object: type code, value, attributes (a dict)."""
    __slots__ = ('type', 'value', 'attrs')

    def __init__(self, t, value=None, attrs=None):
        self.type, self.value, self.attrs = t, value, attrs or {}


class Reader:
    def __init__(self, buf, what):
        self.buf, self.pos, self.refs, self.what = buf, 0, [], what

    def take(self, n):
        if n < 0 or self.pos + n > len(self.buf):
            raise RError('%s: truncated serialisation at byte %d' % (self.what, self.pos))
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return b

    def int(self):
        return struct.unpack('>i', self.take(4))[0]

    def length(self):
        n = self.int()
        if n == -1:                       # long vector: two more ints
            hi, lo = self.int(), self.int()
            n = (hi << 32) | (lo & 0xffffffff)
        return n

    def run(self):
        if self.take(2) != b'X\n':
            raise RError('%s: not XDR serialisation (only the binary XDR format is supported)'
                         % self.what)
        version = self.int()
        self.int()                        # writer R version
        self.int()                        # minimal reader version
        if version == 3:
            self.take(self.int())         # native encoding name
        elif version != 2:
            raise RError('%s: unsupported serialisation version %d' % (self.what, version))
        return self.item()

    def pairlist_attrs(self, node):
        out = {}
        while node is not None and node.type in (LISTSXP, ATTRLISTSXP):
            car, tag, cdr = node.value
            out[tag.value if tag is not None and tag.type == SYMSXP else None] = car
            node = cdr
        return out

    def item(self):
        flags = self.int()
        t = flags & 0xff
        levels = flags >> 12
        has_attr = bool(flags & (1 << 9))
        has_tag = bool(flags & (1 << 10))
        if t == NILVALUE:
            return None
        if t in (GLOBALENV, UNBOUNDVALUE, MISSINGARG, BASENAMESPACE, EMPTYENV, BASEENV):
            return Node(ENVSXP, '<special %d>' % t)
        if t == REFSXP:
            i = flags >> 8
            if i == 0:
                i = self.int()
            if i < 1 or i > len(self.refs):
                raise RError('%s: bad reference index %d' % (self.what, i))
            return self.refs[i - 1]
        if t in (PERSISTSXP, NAMESPACESXP, PACKAGESXP):
            if self.int() != 0:
                raise RError('%s: bad string vector in persistent name' % self.what)
            node = Node(ENVSXP, [self.item() for _ in range(self.int())])
            self.refs.append(node)
            return node
        if t == SYMSXP:
            node = Node(SYMSXP)
            self.refs.append(node)
            ch = self.item()
            node.value = ch
            return node
        if t == ENVSXP:
            node = Node(ENVSXP)
            self.refs.append(node)
            self.int()                    # locked
            enclos, frame, hashtab, attr = self.item(), self.item(), self.item(), self.item()
            node.value = (enclos, frame, hashtab)
            node.attrs = self.pairlist_attrs(attr)
            return node
        if t in (LISTSXP, LANGSXP, CLOSXP, PROMSXP, DOTSXP, ATTRLANGSXP, ATTRLISTSXP):
            attr = self.item() if has_attr else None
            tag = self.item() if has_tag else None
            car = self.item()
            cdr = self.item()
            return Node(LISTSXP if t == ATTRLISTSXP else t, (car, tag, cdr),
                        self.pairlist_attrs(attr))
        if t == CHARSXP:
            n = self.int()
            if n == -1:
                return None               # NA_character_
            raw = self.take(n)
            if levels & LATIN1_MASK:
                return raw.decode('latin-1')
            try:
                return raw.decode('utf-8')
            except UnicodeDecodeError:
                raise RError('%s: string at byte %d is not valid UTF-8' % (self.what, self.pos))
        if t in (LGLSXP, INTSXP):
            n = self.length()
            v = list(struct.unpack('>%di' % n, self.take(4 * n)))
        elif t == REALSXP:
            n = self.length()
            v = list(struct.unpack('>%dd' % n, self.take(8 * n)))
        elif t == CPLXSXP:
            n = self.length()
            v = list(struct.unpack('>%dd' % (2 * n), self.take(16 * n)))
        elif t in (STRSXP, VECSXP, EXPRSXP):
            n = self.length()
            v = [self.item() for _ in range(n)]
        elif t == RAWSXP:
            v = self.take(self.length())
        elif t == S4SXP:
            v = None
        else:
            raise RError('%s: unsupported R object type %d' % (self.what, t))
        attrs = self.pairlist_attrs(self.item()) if has_attr else {}
        return Node(t, v, attrs)


def names_of(node):
    nm = node.attrs.get('names')
    return nm.value if nm is not None and nm.type == STRSXP else None


def read_index(base):
    path = base + '.rdx'
    try:
        raw = open(path, 'rb').read()
    except OSError as e:
        raise RError('%s: cannot read: %s' % (path, e.strerror))
    try:
        if raw[:2] == b'\x1f\x8b':
            raw = gzip.decompress(raw)
        else:
            raw = zlib.decompress(raw[4:])
    except (OSError, zlib.error, EOFError) as e:
        raise RError('%s: cannot decompress: %s' % (path, e))
    idx = Reader(raw, path).run()
    if idx is None or idx.type != VECSXP or names_of(idx) is None:
        raise RError('%s: not a lazy-load index (expected a named list)' % path)
    parts = dict(zip(names_of(idx), idx.value))
    if 'variables' not in parts:
        raise RError('%s: no "variables" entry' % path)
    var = parts['variables']
    comp = parts.get('compressed')
    comp = comp.value[0] if comp is not None and comp.value else 1
    out = {}
    for name, loc in zip(names_of(var) or [], var.value):
        if loc is None or loc.type not in (INTSXP, REALSXP) or len(loc.value) != 2:
            raise RError('%s: bad location for variable %r' % (path, name))
        out[name] = (int(loc.value[0]), int(loc.value[1]))
    return out, comp


def read_object(base, loc, comp):
    path = base + '.rdb'
    off, n = loc
    with open(path, 'rb') as f:
        f.seek(off)
        blk = f.read(n)
    if len(blk) != n or n < 5:
        raise RError('%s: block at %d (+%d) is outside the file' % (path, off, n))
    size = struct.unpack('>I', blk[:4])[0]
    body = blk[4:]
    try:
        if comp in (2, 3):
            kind, body = body[:1], body[1:]
            data = {b'Z': zlib.decompress, b'2': bz2.decompress, b'X': lzma.decompress,
                    b'0': bytes}[kind](body)
        else:
            data = zlib.decompress(body)
    except (KeyError, zlib.error, OSError, lzma.LZMAError, ValueError) as e:
        raise RError('%s: cannot decompress block at %d: %s' % (path, off, e))
    if len(data) != size:
        raise RError('%s: block at %d has %d bytes, header says %d' % (path, off, len(data), size))
    return Reader(data, '%s@%d' % (path, off)).run()


def main(argv):
    if len(argv) not in (2, 3) or argv[1] in ('-h', '--help'):
        sys.stdout.write(__doc__)
        return 0 if len(argv) == 2 and argv[1] in ('-h', '--help') else 2
    base = argv[1]
    try:
        index, comp = read_index(base)
        if len(argv) == 2:
            for name in sorted(index):
                obj = read_object(base, index[name], comp)
                kind = TYPE_NAMES.get(obj.type, str(obj.type)) if obj is not None else 'NULL'
                n = len(obj.value) if obj is not None and isinstance(obj.value, list) else 0
                sys.stdout.write('%s\t%s\t%d\n' % (name, kind, n))
            return 0
        name = argv[2]
        if name not in index:
            raise RError('%s.rdx: no variable %r (have: %s)' % (base, name, ', '.join(sorted(index))))
        obj = read_object(base, index[name], comp)
        if obj is None or obj.type != STRSXP:
            raise RError('%s.rdb: variable %r is not a character vector' % (base, name))
        out = sys.stdout.buffer
        for s in obj.value:
            out.write(('' if s is None else s).encode('utf-8') + b'\n')
        out.flush()
        return 0
    except RError as e:
        sys.stderr.write('rdata_text.py: %s\n' % e)
        return 1
    except BrokenPipeError:
        return 1
    except OSError as e:
        sys.stderr.write('rdata_text.py: %s: %s\n' % (getattr(e, 'filename', base), e.strerror))
        return 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
