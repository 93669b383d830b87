/*
 * safetensors.c — reader and writer for the safetensors format
 * (8-byte little-endian header length N, N bytes of JSON, the data area).
 *
 * The reader maps the file read-only and validates everything before any
 * tensor is touched: header length bounded and inside the file, a JSON
 * object, known dtypes, shapes whose byte size cannot overflow, byte ranges
 * equal to numel·sizeof(dtype), inside the data area, no overlaps, no holes
 * (the reference implementation rejects both). It is not a general JSON
 * tool; __metadata__ must map strings to strings.
 *
 * The writer follows the reference writer: tensors sorted by descending
 * dtype alignment then name, header padded with spaces to a multiple of 8,
 * written through atomic.c (temporary file, fsync, rename).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lsc_internal.h"

#define ST_MAX_HEADER 100000000ull
#define ST_AHEAD      8   /* keys between a slot's prefetch and its use */

// ---- half precision ----

float lsc_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while ((man & 0x400) == 0);
            man &= 0x3ff;
            bits = sign | (uint32_t)(127 - 15 - e) << 23 | man << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | man << 13;
    } else {
        bits = sign | (exp + 127 - 15) << 23 | man << 13;
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

float lsc_bf16_to_f32(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t lsc_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t exp = (x >> 23) & 0xff;
    uint32_t man = x & 0x7fffff;
    if (exp == 0xff)
        return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31)
        return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        if (e < -10)
            return sign;
        man |= 0x800000;
        int shift = 14 - e;
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1)))
            half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = (uint32_t)e << 10 | man >> 13;
    uint32_t rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1)))
        half++; /* may carry into the exponent: still correct (rounds to inf) */
    return (uint16_t)(sign | half);
}

// ---- reader ----

static void st_free_fields(lsc_st_file *f)
{
    LSC_FREE(f->tensors);   /* names and metadata strings are in the arena */
    LSC_FREE(f->arena);
    LSC_FREE(f->meta_keys);
    LSC_FREE(f->meta_vals);
    lsc_hmap_free(&f->index);
    if (f->map && f->size > 0)
        munmap((void *)f->map, f->size);
    LSC_FREE(f->path);
    memset(f, 0, sizeof *f);
}

void lsc_st_close(lsc_st_file *f)
{
    if (f)
        st_free_fields(f);
}

static int cmp_begin(const void *a, const void *b)
{
    const lsc_st_tensor *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Opens and maps path into f (f->path, f->map, f->size) and checks the
 * header length; sets f->data and f->data_size. On failure the caller
 * frees f. */
static int st_map(lsc_st_file *f, const char *path, lsc_error *err)
{
    int fd = lsc_file_open_fd(path, err);
    if (fd < 0)
        return fd;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        LSC_FAIL(err, LSC_EIO, "%s: cannot stat: %s", path, strerror(errno));
    }
    f->path = lsc_strdup_(path);
    if (!f->path) {
        close(fd);
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", path);
    }
    f->size = (size_t)st.st_size;
    if (f->size < 8) {
        close(fd);
        LSC_FAIL(err, LSC_EFORMAT, "%s: truncated: %zu bytes, shorter than the 8-byte header length", path,
                 f->size);
    }
    void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        size_t size = f->size;
        f->size = 0;
        if (errno == ENOMEM)
            LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory mapping %zu bytes", path, size);
        LSC_FAIL(err, LSC_EIO, "%s: cannot map: %s", path, strerror(errno));
    }
    f->map = m;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | f->map[i];
    if (hlen > ST_MAX_HEADER || hlen > f->size - 8)
        LSC_FAIL(err, LSC_EFORMAT, "%s: header length %llu exceeds the file (%zu bytes)%s", path,
                 (unsigned long long)hlen, f->size, hlen > ST_MAX_HEADER ? " or the 100 MB limit" : "");
    if (hlen < 2 || f->map[8] != '{')
        LSC_FAIL(err, LSC_EFORMAT, "%s: header is not a JSON object", path);
    f->data = f->map + 8 + hlen;
    f->data_size = f->size - 8 - (size_t)hlen;
    return LSC_OK;
}

/* No duplicate names; sorted by offset, the tensors tile the data area
 * exactly (no overlap, no hole, nothing after the last). */
static int st_check_layout(lsc_st_file *f, const char *path, lsc_error *err)
{
    int sorted = 1;   /* writers write in offset order: no sort then */
    for (int i = 1; i < f->n_tensors && sorted; i++)
        sorted = cmp_begin(&f->tensors[i - 1], &f->tensors[i]) <= 0;
    if (!sorted)
        qsort(f->tensors, (size_t)f->n_tensors, sizeof *f->tensors, cmp_begin);
    /* the name index; duplicates: the parser keeps both entries of a repeated key */
    if (lsc_hmap_reserve(&f->index, (size_t)f->n_tensors) != LSC_OK)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", path);
    for (int i = 0; i < f->n_tensors; i++) {
        if (i + ST_AHEAD < f->n_tensors)
            lsc_hmap_prefetch(&f->index, f->tensors[i + ST_AHEAD].name);
        if (lsc_hmap_put(&f->index, f->tensors[i].name, i) != -1)
            LSC_FAIL(err, LSC_EFORMAT, "%s: duplicate tensor '%s'", path, f->tensors[i].name);
    }
    size_t pos = 0;
    for (int i = 0; i < f->n_tensors; i++) {
        const lsc_st_tensor *t = &f->tensors[i];
        if (t->begin < pos)
            LSC_FAIL(err, LSC_EFORMAT, "%s: tensor '%s' overlaps the previous tensor '%s'", path, t->name,
                     f->tensors[i - 1].name);
        if (t->begin > pos)
            LSC_FAIL(err, LSC_EFORMAT, "%s: hole of %zu bytes before tensor '%s' in the data area", path,
                     t->begin - pos, t->name);
        pos = t->end;
    }
    if (pos != f->data_size)
        LSC_FAIL(err, LSC_EFORMAT, "%s: %zu bytes after the last tensor (data area %zu bytes, tensors end at %zu)",
                 path, f->data_size - pos, f->data_size, pos);
    return LSC_OK;
}

int lsc_st_open(lsc_st_file *f, const char *path, lsc_error *err)
{
    memset(f, 0, sizeof *f);
    int rc = st_map(f, path, err);
    if (rc == LSC_OK)
        rc = lsc_st_parse_header_(f, (const char *)f->map + 8, (size_t)(f->data - f->map) - 8, path, err);
    if (rc == LSC_OK)
        rc = st_check_layout(f, path, err);
    if (rc != LSC_OK)
        st_free_fields(f);
    return rc;
}

const lsc_st_tensor *lsc_st_find(const lsc_st_file *f, const char *name)
{
    if (f->index.cap) {
        int i = lsc_hmap_get(&f->index, name);
        return i >= 0 ? &f->tensors[i] : NULL;
    }
    for (int i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

const char *lsc_st_meta(const lsc_st_file *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0)
            return f->meta_vals[i];
    return NULL;
}

const void *lsc_st_bytes(const lsc_st_file *f, const lsc_st_tensor *t)
{
    return f->data + t->begin;
}

/* Element i of a tensor as double; the data area may be unaligned. */
static double st_elem(const uint8_t *p, lsc_dtype dt, size_t i)
{
    switch (dt) {
    case LSC_DT_F32: {
        float v;
        memcpy(&v, p + 4 * i, 4);
        return v;
    }
    case LSC_DT_F64: {
        double v;
        memcpy(&v, p + 8 * i, 8);
        return v;
    }
    case LSC_DT_F16:
        return lsc_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
    case LSC_DT_BF16:
        return lsc_bf16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
    default:
        LSC_ABORT("st_elem: dtype %d", (int)dt);
    }
}

static int st_check_float(const lsc_st_file *f, const lsc_st_tensor *t, lsc_error *err)
{
    if (t->dtype != LSC_DT_F32 && t->dtype != LSC_DT_F64 && t->dtype != LSC_DT_F16 && t->dtype != LSC_DT_BF16)
        LSC_FAIL(err, LSC_EFORMAT, "%s: tensor '%s' has dtype %s, expected F32, F16, BF16 or F64", f->path,
                 t->name, lsc_dtype_name(t->dtype));
    return LSC_OK;
}

int lsc_st_read_f32(const lsc_st_file *f, const lsc_st_tensor *t, float *out, lsc_error *err)
{
    int rc = st_check_float(f, t, err);
    if (rc != LSC_OK)
        return rc;
    const uint8_t *p = f->data + t->begin;
    if (t->dtype == LSC_DT_F32) {
        memcpy(out, p, t->numel * 4);
        return LSC_OK;
    }
    for (size_t i = 0; i < t->numel; i++)
        out[i] = (float)st_elem(p, t->dtype, i);
    return LSC_OK;
}

int lsc_st_read_f64(const lsc_st_file *f, const lsc_st_tensor *t, double *out, lsc_error *err)
{
    int rc = st_check_float(f, t, err);
    if (rc != LSC_OK)
        return rc;
    const uint8_t *p = f->data + t->begin;
    for (size_t i = 0; i < t->numel; i++)
        out[i] = st_elem(p, t->dtype, i);
    return LSC_OK;
}

// ---- writer ----

typedef struct strbuf {
    char  *p;
    size_t n, cap;
    int    oom;
} strbuf;

static void sb_put(strbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *q = LSC_REALLOC(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_str(strbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_json_string(strbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            sb_put(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, (const char *)p, 1);
        }
    }
    sb_put(b, "\"", 1);
}

static int cmp_entry(const void *a, const void *b)
{
    const lsc_st_entry *x = *(const lsc_st_entry *const *)a, *y = *(const lsc_st_entry *const *)b;
    size_t ax = lsc_dtype_size(x->dtype), ay = lsc_dtype_size(y->dtype);
    if (ax != ay)
        return ax > ay ? -1 : 1;
    return strcmp(x->name, y->name);
}

static size_t entry_bytes(const lsc_st_entry *e)
{
    size_t n = 1;
    for (int d = 0; d < e->ndim; d++)
        n *= (size_t)e->shape[d];
    return n * lsc_dtype_size(e->dtype);
}

/* The entries checked (dtype, rank, shape, unique names) and sorted in
 * writing order into *out (caller frees). */
static int st_write_order(const char *path, const lsc_st_entry *entries, int n,
                          const lsc_st_entry ***out, lsc_error *err)
{
    const lsc_st_entry **order = LSC_MALLOC(((size_t)n + 1) * sizeof *order);
    if (!order)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) {
        const lsc_st_entry *e = &entries[i];
        if ((unsigned)e->dtype >= LSC_DT_COUNT || e->ndim < 0 || e->ndim > LSC_ST_MAXDIM) {
            LSC_FREE(order);
            LSC_FAIL(err, LSC_EARG, "%s: tensor '%s': bad dtype or rank", path, e->name);
        }
        for (int d = 0; d < e->ndim; d++)
            if (e->shape[d] < 0) {
                LSC_FREE(order);
                LSC_FAIL(err, LSC_EARG, "%s: tensor '%s': negative dimension", path, e->name);
            }
        order[i] = e;
    }
    qsort(order, (size_t)n, sizeof *order, cmp_entry);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(entries[i].name, entries[j].name) == 0) {
                LSC_FREE(order);
                LSC_FAIL(err, LSC_EARG, "%s: duplicate tensor '%s'", path, entries[i].name);
            }
    *out = order;
    return LSC_OK;
}

/* The JSON header of the n sorted entries and the metadata into hb, padded
 * with spaces to a multiple of 8 (hb->oom on allocation failure). */
static void st_write_header(strbuf *hb, const lsc_st_entry *const *order, int n,
                            const char *const *meta_keys, const char *const *meta_vals, int n_meta)
{
    sb_str(hb, "{");
    if (n_meta > 0) {
        sb_str(hb, "\"__metadata__\":{");
        for (int i = 0; i < n_meta; i++) {
            if (i)
                sb_str(hb, ",");
            sb_json_string(hb, meta_keys[i]);
            sb_str(hb, ":");
            sb_json_string(hb, meta_vals[i]);
        }
        sb_str(hb, "}");
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        const lsc_st_entry *e = order[i];
        char num[64];
        if (i || n_meta > 0)
            sb_str(hb, ",");
        sb_json_string(hb, e->name);
        sb_str(hb, ":{\"dtype\":\"");
        sb_str(hb, lsc_dtype_name(e->dtype));
        sb_str(hb, "\",\"shape\":[");
        for (int d = 0; d < e->ndim; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)e->shape[d]);
            sb_str(hb, num);
        }
        size_t nb = entry_bytes(e);
        snprintf(num, sizeof num, "],\"data_offsets\":[%zu,%zu]}", off, off + nb);
        sb_str(hb, num);
        off += nb;
    }
    sb_str(hb, "}");
    while (!hb->oom && hb->n % 8 != 0)
        sb_str(hb, " ");
}

int lsc_st_write(const char *path, const lsc_st_entry *entries, int n,
                 const char *const *meta_keys, const char *const *meta_vals,
                 int n_meta, lsc_error *err)
{
    const lsc_st_entry **order = NULL;
    int rc = st_write_order(path, entries, n, &order, err);
    if (rc != LSC_OK)
        return rc;
    strbuf hb = {0};
    st_write_header(&hb, order, n, meta_keys, meta_vals, n_meta);
    if (hb.oom) {
        rc = lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "%s: out of memory", path);
        goto done;
    }
    lsc_atomic a;
    rc = lsc_atomic_open(&a, path, err);
    if (rc != LSC_OK)
        goto done;
    uint8_t len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (uint8_t)((uint64_t)hb.n >> (8 * i));
    int bad = fwrite(len8, 1, 8, a.fp) != 8 || fwrite(hb.p, 1, hb.n, a.fp) != hb.n;
    for (int i = 0; i < n && !bad; i++) {
        size_t nb = entry_bytes(order[i]);
        if (nb > 0 && fwrite(order[i]->data, 1, nb, a.fp) != nb)
            bad = 1;
    }
    if (bad) {
        int e = errno;
        lsc_atomic_abort(&a);
        rc = lsc_error_set(err, LSC_EIO, __FILE__, __LINE__, "%s: write failed: %s", path, strerror(e));
    } else {
        rc = lsc_atomic_commit(&a, err);
    }
done:
    LSC_FREE(hb.p);
    LSC_FREE(order);
    return rc;
}
