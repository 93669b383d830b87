/*
 * st_header.c — the safetensors header: the dtype table and a parser of
 * the JSON header of its own (one pass, no allocation per tensor: names
 * and metadata strings go into one arena). It fills an lsc_st_file's
 * tensors (in file order, each entry checked) and metadata; it is not a
 * general JSON reader, and the layout checks (duplicates, overlaps, holes)
 * and the file mapping are safetensors.c's.
 */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "lsc_internal.h"

// ---- dtypes ----

static const struct {
    const char *name;
    size_t      size;
} dtypes[LSC_DT_COUNT] = {
    [LSC_DT_BOOL] = {"BOOL", 1}, [LSC_DT_U8] = {"U8", 1},   [LSC_DT_I8] = {"I8", 1},
    [LSC_DT_I16] = {"I16", 2},   [LSC_DT_U16] = {"U16", 2}, [LSC_DT_F16] = {"F16", 2},
    [LSC_DT_BF16] = {"BF16", 2}, [LSC_DT_I32] = {"I32", 4}, [LSC_DT_U32] = {"U32", 4},
    [LSC_DT_F32] = {"F32", 4},   [LSC_DT_F64] = {"F64", 8}, [LSC_DT_I64] = {"I64", 8},
    [LSC_DT_U64] = {"U64", 8},
};

const char *lsc_dtype_name(lsc_dtype dt)
{
    return (unsigned)dt < LSC_DT_COUNT ? dtypes[dt].name : "?";
}

size_t lsc_dtype_size(lsc_dtype dt)
{
    return (unsigned)dt < LSC_DT_COUNT ? dtypes[dt].size : 0;
}

static int dtype_from_name(const char *s)
{
    for (int i = 0; i < LSC_DT_COUNT; i++)
        if (strcmp(dtypes[i].name, s) == 0)
            return i;
    return -1;
}

// ---- header parser ----

/* The JSON header is read in one pass by a parser of its own (cJSON made one
 * allocation per value: seconds for a header of a million tensors). It
 * accepts what the cJSON reader accepted, except what is not JSON: numbers
 * outside JSON's grammar ("01", "+1", "1.", ".5", "0x1") and a \u without
 * four hex digits (cJSON read it as U+0000) are refused. String escapes
 * as JSON's (\uXXXX with surrogate pairs; unpaired surrogates refused,
 * as cJSON and serde_json do), nesting at most
 * ST_MAX_DEPTH, every byte <= 32 between tokens taken as whitespace, the
 * bytes of strings as they are (not checked to be UTF-8; a raw control
 * character kept; "\u0000" ends the C string), whatever follows the
 * header object ignored (the file's padding).
 * Decoded names and metadata go into one arena of the header's size (a
 * decoded string is never longer than its JSON text). */

#define ST_MAX_DEPTH 1000

typedef struct jp {
    const char *p, *end;   /* cursor in the header text */
    char       *arena;     /* decoded strings (f->arena) */
    size_t      an;        /* bytes of the arena in use */
    int         syntax;    /* 1: the text is not JSON (not a semantic error) */
} jp;

static void js_ws(jp *j)
{
    while (j->p < j->end && (unsigned char)*j->p <= 32)
        j->p++;
}

/* Consumes c after whitespace; 0 (j->syntax set) if it is not there. */
static int js_eat(jp *j, char c)
{
    js_ws(j);
    if (j->p < j->end && *j->p == c) {
        j->p++;
        return 1;
    }
    j->syntax = 1;
    return 0;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return 0;
    }
    *out = v;
    return 1;
}

/* A \uXXXX escape at j->p (after the backslash and 'u'), with its low
 * surrogate if it is a high one, as UTF-8 into *o. 0 on a malformed or
 * unpaired escape. */
static int js_unicode(jp *j, char **o)
{
    unsigned cp, lo;
    if (j->end - j->p < 4 || !hex4(j->p, &cp))
        return 0;
    j->p += 4;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return 0;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || !hex4(j->p + 2, &lo) || lo < 0xDC00 ||
            lo > 0xDFFF)
            return 0;
        j->p += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    unsigned char *u = (unsigned char *)*o;
    if (cp < 0x80) {
        *u++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *u++ = (unsigned char)(0xC0 | cp >> 6);
        *u++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *u++ = (unsigned char)(0xE0 | cp >> 12);
        *u++ = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        *u++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else {
        *u++ = (unsigned char)(0xF0 | cp >> 18);
        *u++ = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
        *u++ = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        *u++ = (unsigned char)(0x80 | (cp & 0x3F));
    }
    *o = (char *)u;
    return 1;
}

/* A JSON string at the cursor (after whitespace), decoded into the arena
 * at j->an, NUL-terminated, the arena not advanced (js_keep does). The
 * decoded text, or NULL (j->syntax set). */
static char *js_string(jp *j)
{
    if (!js_eat(j, '"'))
        return NULL;
    char *out = j->arena + j->an, *o = out;
    for (;;) {
        const char *s = j->p;
        while (s < j->end && *s != '"' && *s != '\\')
            s++;
        memcpy(o, j->p, (size_t)(s - j->p));
        o += s - j->p;
        j->p = s;
        if (s == j->end)
            break;
        j->p++;
        if (*s == '"') {
            *o = '\0';
            return out;
        }
        if (j->p == j->end)
            break;
        char c = *j->p++;
        switch (c) {
        case '"': case '\\': case '/': *o++ = c; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u':
            if (!js_unicode(j, &o))
                goto bad;
            break;
        default:
            goto bad;
        }
    }
bad:
    j->syntax = 1;
    return NULL;
}

/* Keeps the string js_string just decoded at s in the arena. */
static void js_keep(jp *j, const char *s) { j->an += strlen(s) + 1; }

/* A JSON number at the cursor (strict grammar). 1 and *ok = 1 with *out
 * when it is an integer in [0, 2^53] (as the cJSON reader's check), *ok =
 * 0 for any other number; 0 (j->syntax) when it is not a number. */
static int js_number(jp *j, uint64_t *out, int *ok)
{
    js_ws(j);
    const char *s = j->p, *p = s, *e = j->end;
    if (p < e && *p == '-')
        p++;
    if (p == e || *p < '0' || *p > '9')
        goto bad;
    const char *d0 = p;
    if (*p == '0')
        p++;
    else
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    int plain = s == d0 && p - d0 <= 15;
    if (p < e && *p == '.') {
        plain = 0;
        if (++p == e || *p < '0' || *p > '9')
            goto bad;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        plain = 0;
        if (++p < e && (*p == '+' || *p == '-'))
            p++;
        if (p == e || *p < '0' || *p > '9')
            goto bad;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    j->p = p;
    if (plain) {   /* at most 15 digits: exact, below 2^53 */
        uint64_t v = 0;
        for (const char *q = d0; q < p; q++)
            v = v * 10 + (uint64_t)(*q - '0');
        *out = v;
        *ok = 1;
        return 1;
    }
    char buf[400];   /* longer numbers are not integers below 2^53 anyway, unless padded with zeros */
    size_t n = (size_t)(p - s) < sizeof buf - 1 ? (size_t)(p - s) : sizeof buf - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    double v = strtod(buf, NULL);
    *ok = (size_t)(p - s) < sizeof buf - 1 &&
          lsc_json_num_check(v, 0.0, 9007199254740992.0, 1, NULL, NULL, NULL) == LSC_OK;
    *out = *ok ? (uint64_t)v : 0;
    return 1;
bad:
    j->syntax = 1;
    return 0;
}

static int js_skip(jp *j, int depth);

/* The members of an object or elements of an array after its opening
 * bracket, each skipped. 0 on a syntax error. */
static int js_skip_items(jp *j, char close, int depth)
{
    js_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        return 1;
    }
    do {
        if (close == '}' && (!js_string(j) || !js_eat(j, ':')))
            return 0;
        if (!js_skip(j, depth))
            return 0;
        js_ws(j);
    } while (j->p < j->end && *j->p == ',' && j->p++);
    return js_eat(j, close);
}

/* Skips any JSON value. 0 (j->syntax) if it is malformed. */
static int js_skip(jp *j, int depth)
{
    js_ws(j);
    if (j->p == j->end || depth > ST_MAX_DEPTH)
        return (j->syntax = 1, 0);
    char c = *j->p;
    if (c == '{' || c == '[') {
        j->p++;
        return js_skip_items(j, c == '{' ? '}' : ']', depth + 1);
    }
    if (c == '"')
        return js_string(j) != NULL;
    static const char *const lit[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(lit[i]);
        if ((size_t)(j->end - j->p) >= n && memcmp(j->p, lit[i], n) == 0) {
            j->p += n;
            return 1;
        }
    }
    uint64_t v;
    int ok;
    return js_number(j, &v, &ok);
}

/* What a tensor entry holds, as read (checked afterwards, in the order
 * the checks always ran). Of a repeated key the first counts. */
typedef struct st_entry_raw {
    int         has_dtype, has_shape, has_offs;   /* 1: present with the right type; -1: wrong type */
    const char *dtype_at;                          /* the dtype string's JSON text */
    int         dtype;                             /* its index, or -1 */
    int         nd, n_offs;                        /* elements of shape and data_offsets */
    uint64_t    shape[LSC_ST_MAXDIM], offs[2];
    int         shape_ok[LSC_ST_MAXDIM], offs_ok[2];
} st_entry_raw;

/* A JSON array of numbers: the first cap elements' values and whether each
 * is an integer in [0, 2^53] (other values count as not); *n: elements. */
static int js_uint_array(jp *j, uint64_t *v, int *ok, int cap, int *n)
{
    *n = 0;
    js_ws(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        return 1;
    }
    do {
        js_ws(j);
        uint64_t x = 0;
        int good = 0;
        if (j->p < j->end && (*j->p == '-' || (*j->p >= '0' && *j->p <= '9'))) {
            if (!js_number(j, &x, &good))
                return 0;
        } else if (!js_skip(j, 3)) {
            return 0;
        }
        if (*n < cap) {
            v[*n] = x;
            ok[*n] = good;
        }
        if (*n < INT_MAX)
            (*n)++;
        js_ws(j);
    } while (j->p < j->end && *j->p == ',' && j->p++);
    return js_eat(j, ']');
}

/* One member value of a tensor entry (the key decoded at k). */
static int st_entry_member(jp *j, const char *k, st_entry_raw *r)
{
    js_ws(j);
    char c = j->p < j->end ? *j->p : 0;
    int which = strcmp(k, "dtype") == 0 ? 0 : strcmp(k, "shape") == 0 ? 1 : strcmp(k, "data_offsets") == 0 ? 2 : 3;
    int *has = which == 0 ? &r->has_dtype : which == 1 ? &r->has_shape : which == 2 ? &r->has_offs : NULL;
    if (!has || *has)
        return js_skip(j, 3);
    if (which == 0) {
        *has = c == '"' ? 1 : -1;
        if (c != '"')
            return js_skip(j, 3);
        r->dtype_at = j->p;
        const char *s = js_string(j);
        r->dtype = s ? dtype_from_name(s) : -1;
        return s != NULL;
    }
    *has = c == '[' ? 1 : -1;
    if (c != '[')
        return js_skip(j, 3);
    j->p++;
    if (which == 1)
        return js_uint_array(j, r->shape, r->shape_ok, LSC_ST_MAXDIM, &r->nd);
    return js_uint_array(j, r->offs, r->offs_ok, 2, &r->n_offs);
}

/* A tensor entry's object into r; 0 on a syntax error, -1 when it is not
 * an object. */
static int st_entry_read(jp *j, st_entry_raw *r)
{
    memset(r, 0, sizeof *r);
    js_ws(j);
    if (j->p == j->end || *j->p != '{')
        return js_skip(j, 2) ? -1 : 0;
    j->p++;
    js_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return 1;
    }
    do {
        const char *k = js_string(j);
        if (!k || !js_eat(j, ':') || !st_entry_member(j, k, r))
            return 0;
        js_ws(j);
    } while (j->p < j->end && *j->p == ',' && j->p++);
    return js_eat(j, '}');
}

/* The checks of a tensor entry read into r, in the order they always ran. */
static int st_entry_check(lsc_st_tensor *t, const st_entry_raw *r, jp *j, size_t data_size, const char *path,
                          lsc_error *err)
{
    const char *name = t->name;
    if (r->has_dtype != 1 || r->has_shape != 1 || r->has_offs != 1)
        LSC_FAIL(err, LSC_EFORMAT, "%s: tensor '%s': needs dtype, shape and data_offsets", path, name);
    if (r->dtype < 0) {
        j->p = r->dtype_at;
        const char *s = js_string(j);
        LSC_FAIL(err, LSC_EFORMAT, "%s: tensor '%s': unknown dtype '%s'", path, name, s ? s : "?");
    }
    int d = r->dtype;
    t->dtype = (lsc_dtype)d;
    if (r->nd > LSC_ST_MAXDIM)
        LSC_FAIL(err, LSC_EFORMAT, "%s: tensor '%s': %d dimensions (at most %d)", path, name, r->nd, LSC_ST_MAXDIM);
    t->ndim = r->nd;
    size_t numel = 1;
    for (int i = 0; i < r->nd; i++) {
        uint64_t v = r->shape[i];
        if (!r->shape_ok[i])
            LSC_FAIL(err, LSC_EFORMAT, "%s: tensor '%s': shape[%d] is not a non-negative integer", path, name, i);
        t->shape[i] = (int64_t)v;
        if (v != 0 && numel > SIZE_MAX / v)
            LSC_FAIL(err, LSC_EFORMAT, "%s: tensor '%s': shape overflows size_t", path, name);
        numel *= (size_t)v;
    }
    t->numel = numel;
    size_t es = dtypes[d].size;
    if (numel > SIZE_MAX / es)
        LSC_FAIL(err, LSC_EFORMAT, "%s: tensor '%s': byte size overflows size_t", path, name);
    if (r->n_offs != 2 || !r->offs_ok[0] || !r->offs_ok[1])
        LSC_FAIL(err, LSC_EFORMAT, "%s: tensor '%s': data_offsets must be two non-negative integers", path, name);
    uint64_t b = r->offs[0], e = r->offs[1];
    if (e < b)
        LSC_FAIL(err, LSC_EFORMAT, "%s: tensor '%s': data_offsets end %llu before begin %llu", path, name,
                 (unsigned long long)e, (unsigned long long)b);
    if (e > data_size)
        LSC_FAIL(err, LSC_EFORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] outside the data area (%zu bytes)",
                 path, name, (unsigned long long)b, (unsigned long long)e, data_size);
    if (e - b != numel * es)
        LSC_FAIL(err, LSC_EFORMAT, "%s: tensor '%s': %llu bytes for shape of %zu %s elements (%zu bytes)", path,
                 name, (unsigned long long)(e - b), numel, dtypes[d].name, numel * es);
    t->begin = (size_t)b;
    t->end = (size_t)e;
    return LSC_OK;
}

/* Room for one more element of an array of *cap (doubling). */
static int st_grow(void **arr, int n, int *cap, size_t size)
{
    if (n < *cap)
        return LSC_OK;
    int nc = *cap ? *cap * 2 : 64;
    void *q = LSC_REALLOC(*arr, ((size_t)nc + 1) * size);
    if (!q)
        return LSC_ENOMEM;
    *arr = q;
    *cap = nc;
    lsc_hmap_hint_huge_(q, ((size_t)nc + 1) * size);
    return LSC_OK;
}

/* The __metadata__ object (string to string) at the cursor. */
static int st_parse_metadata(lsc_st_file *f, jp *j, int *seen, const char *path, lsc_error *err)
{
    if ((*seen)++)
        LSC_FAIL(err, LSC_EFORMAT, "%s: duplicate __metadata__", path);
    if (!js_eat(j, '{')) {
        j->syntax = 0;   /* a value that is not an object (js_skip_all tells if it is JSON at all) */
        LSC_FAIL(err, LSC_EFORMAT, "%s: __metadata__ is not an object", path);
    }
    js_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return LSC_OK;
    }
    int cap = 0;
    do {
        char *k = js_string(j);
        if (!k || !js_eat(j, ':'))
            return LSC_EFORMAT;
        js_keep(j, k);
        js_ws(j);
        if (j->p == j->end || *j->p != '"')
            LSC_FAIL(err, LSC_EFORMAT, "%s: __metadata__ value of '%s' is not a string", path, k);
        char *v = js_string(j);
        if (!v)
            return LSC_EFORMAT;
        js_keep(j, v);
        int c2 = cap;
        if (st_grow((void **)&f->meta_keys, f->n_meta, &cap, sizeof(char *)) != LSC_OK ||
            st_grow((void **)&f->meta_vals, f->n_meta, &c2, sizeof(char *)) != LSC_OK)
            LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", path);
        f->meta_keys[f->n_meta] = k;
        f->meta_vals[f->n_meta++] = v;
        js_ws(j);
    } while (j->p < j->end && *j->p == ',' && j->p++);
    return js_eat(j, '}') ? LSC_OK : LSC_EFORMAT;
}

/* One member of the header object: __metadata__ or a tensor. */
static int st_parse_member(lsc_st_file *f, jp *j, int *cap, int *seen_meta, const char *path, lsc_error *err)
{
    char *name = js_string(j);
    if (!name || !js_eat(j, ':'))
        return LSC_EFORMAT;
    if (strcmp(name, "__metadata__") == 0)
        return st_parse_metadata(f, j, seen_meta, path, err);
    js_keep(j, name);
    if (st_grow((void **)&f->tensors, f->n_tensors, cap, sizeof *f->tensors) != LSC_OK)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", path);
    lsc_st_tensor *t = &f->tensors[f->n_tensors++];
    memset(t, 0, sizeof *t);
    t->name = name;
    st_entry_raw r;
    int got = st_entry_read(j, &r);
    if (got == 0)
        return LSC_EFORMAT;
    if (got < 0)
        LSC_FAIL(err, LSC_EFORMAT, "%s: tensor '%s': header entry is not an object", path, name);
    return st_entry_check(t, &r, j, f->data_size, path, err);
}

/* Every member of the header object (text[0..len), text[0] == '{'). */
static int st_parse_members(lsc_st_file *f, jp *j, const char *path, lsc_error *err)
{
    int cap = 0, seen_meta = 0;
    j->p++;
    js_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
    } else {
        do {
            int rc = st_parse_member(f, j, &cap, &seen_meta, path, err);
            if (rc != LSC_OK)
                return rc;
            js_ws(j);
        } while (j->p < j->end && *j->p == ',' && j->p++);
        if (!js_eat(j, '}'))
            return LSC_EFORMAT;
    }
    return LSC_OK;   /* what follows the object is ignored, as cJSON did */
}

/* Parses the header text into f->tensors (file order), f->meta_*, names
 * in f->arena. A text that is not JSON gives "header is not valid JSON"
 * whatever else is wrong in it, as when the whole text was parsed first. */
int lsc_st_parse_header_(lsc_st_file *f, const char *text, size_t len, const char *path, lsc_error *err)
{
    f->arena = LSC_MALLOC(len + 1);
    if (!f->arena)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", path);
    lsc_hmap_hint_huge_(f->arena, len + 1);
    jp j = {text, text + len, f->arena, 0, 0};
    lsc_error e2 = {0};
    int rc = st_parse_members(f, &j, path, &e2);
    if (rc == LSC_OK)
        return LSC_OK;
    if (!j.syntax && rc != LSC_ENOMEM) {   /* a semantic error: is the whole text JSON? */
        jp all = {text, text + len, f->arena, 0, 0};   /* the names are not needed any more */
        if (js_skip(&all, 1)) {
            *err = e2;
            return rc;
        }
    } else if (rc == LSC_ENOMEM) {
        *err = e2;
        return rc;
    }
    LSC_FAIL(err, LSC_EFORMAT, "%s: header is not valid JSON", path);
}

