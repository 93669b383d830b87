/*
 * nf4_st.c — one NF4 weight in a safetensors file, in bitsandbytes' layout
 * (lsc_nf4.h describes it): the six tensors and the quant_state JSON to
 * write (lsc_nf4_st_entries), which role a tensor name plays in a file
 * (lsc_nf4_st_role), and loading a weight back with every part checked
 * against its quant_state (lsc_nf4_st_load).
 *
 * Not here: the quantisation arithmetic and whole-file quantize/dequantize
 * (nf4.c).
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include "lsc_internal.h"

#define NF4_NESTED_DTYPE "float32"  /* the quant_state's nested_dtype, written and required */

// ---- bitsandbytes safetensors layout ----

/* A double in Python's repr() spelling (json.dumps uses float.__repr__):
 * the shortest digits that round-trip, fixed notation for 1e-4 <= |v| <
 * 1e16 with at least one decimal, otherwise d.ddde±XX. */
static void py_float_repr(double v, char *out, size_t cap)
{
    char tmp[64];
    int p;
    if (v == 0.0) {
        snprintf(out, cap, "%s", signbit(v) ? "-0.0" : "0.0");
        return;
    }
    for (p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    /* tmp = [-]d[.ddd]e±XX */
    char digits[32];
    int nd = 0, neg = tmp[0] == '-';
    const char *c = tmp + neg;
    for (; *c && *c != 'e'; c++)
        if (*c >= '0' && *c <= '9')
            digits[nd++] = *c;
    digits[nd] = '\0';
    int ex = atoi(c + 1);
    char buf[64];
    size_t o = 0;
    if (neg)
        buf[o++] = '-';
    if (ex >= -4 && ex < 16) {
        if (ex >= 0) {
            for (int i = 0; i <= ex; i++)
                buf[o++] = i < nd ? digits[i] : '0';
            buf[o++] = '.';
            if (ex + 1 < nd)
                for (int i = ex + 1; i < nd; i++)
                    buf[o++] = digits[i];
            else
                buf[o++] = '0';
        } else {
            buf[o++] = '0';
            buf[o++] = '.';
            for (int i = 0; i < -ex - 1; i++)
                buf[o++] = '0';
            for (int i = 0; i < nd; i++)
                buf[o++] = digits[i];
        }
        buf[o] = '\0';
    } else {
        buf[o++] = digits[0];
        if (nd > 1) {
            buf[o++] = '.';
            for (int i = 1; i < nd; i++)
                buf[o++] = digits[i];
        }
        snprintf(buf + o, sizeof buf - o, "e%c%02d", ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
    }
    snprintf(out, cap, "%s", buf);
}

static void set_entry(lsc_st_entry *e, const char *name, lsc_dtype dt, size_t len, int two_d, const void *data)
{
    e->name = name;
    e->dtype = dt;
    e->ndim = two_d ? 2 : 1;
    e->shape[0] = (int64_t)len;
    e->shape[1] = 1;
    e->data = data;
}

int lsc_nf4_st_entries(lsc_nf4_st *st, const lsc_nf4 *q, const char *name, lsc_error *err)
{
    memset(st, 0, sizeof *st);
    if (strlen(name) + sizeof LSC_NF4_QS_SUFFIX >= LSC_NF4_NAME_MAX)
        LSC_FAIL(err, LSC_EARG, "nf4: tensor name '%.64s...' is too long", name);
    static const char *const suffix[6] = {"", ".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map",
                                          LSC_NF4_QS_SUFFIX};
    for (int i = 0; i < 6; i++)
        snprintf(st->names[i], LSC_NF4_NAME_MAX, "%s%s", name, suffix[i]);

    int w = snprintf(st->json, sizeof st->json,
                     "{\"quant_type\": \"" LSC_NF4_QUANT_TYPE "\", \"blocksize\": %d, \"dtype\": \"%s\", "
                     "\"shape\": [%zu, %zu]",
                     q->blocksize, q->dtype, q->d, q->k);
    if (q->nested) {
        char off[64];
        py_float_repr((double)q->offset, off, sizeof off);
        w += snprintf(st->json + w, sizeof st->json - (size_t)w,
                      ", \"nested_blocksize\": %d, \"nested_dtype\": \"" NF4_NESTED_DTYPE "\", "
                      "\"nested_offset\": %s",
                      q->nested_blocksize, off);
    }
    w += snprintf(st->json + w, sizeof st->json - (size_t)w, "}");
    LSC_ASSERT(w > 0 && (size_t)w < sizeof st->json);

    int n = 0;
    set_entry(&st->entries[n++], st->names[0], LSC_DT_U8, (q->n + 1) / 2, 1, q->packed);
    if (q->nested)
        set_entry(&st->entries[n++], st->names[1], LSC_DT_U8, q->n_blocks, 0, q->qabsmax);
    else
        set_entry(&st->entries[n++], st->names[1], LSC_DT_F32, q->n_blocks, 0, q->absmax);
    set_entry(&st->entries[n++], st->names[2], LSC_DT_F32, 16, 0, q->code);
    if (q->nested) {
        set_entry(&st->entries[n++], st->names[3], LSC_DT_F32, q->n_nested, 0, q->nested_absmax);
        set_entry(&st->entries[n++], st->names[4], LSC_DT_F32, 256, 0, q->nested_code);
    }
    set_entry(&st->entries[n++], st->names[5], LSC_DT_U8, (size_t)w, 0, st->json);
    st->n = n;
    return LSC_OK;
}

static int has_suffix(const char *s, const char *suf)
{
    size_t ls = strlen(s), lf = strlen(suf);
    return ls >= lf && strcmp(s + ls - lf, suf) == 0;
}

/* 1 if f holds "<base[0,len)>" + LSC_NF4_QS_SUFFIX. */
static int has_quant_state(const lsc_st_file *f, const char *base, size_t len)
{
    char buf[LSC_NF4_NAME_MAX + 64];
    if (len + sizeof LSC_NF4_QS_SUFFIX > sizeof buf)
        return 0;
    memcpy(buf, base, len);
    memcpy(buf + len, LSC_NF4_QS_SUFFIX, sizeof LSC_NF4_QS_SUFFIX);
    return lsc_st_find(f, buf) != NULL;
}

int lsc_nf4_st_role(const lsc_st_file *f, const char *name)
{
    static const char *const state[5] = {".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map",
                                         LSC_NF4_QS_SUFFIX};
    if (has_quant_state(f, name, strlen(name)))
        return LSC_NF4_ROLE_WEIGHT;
    for (int i = 0; i < 5; i++)
        if (has_suffix(name, state[i]) && has_quant_state(f, name, strlen(name) - strlen(state[i])))
            return LSC_NF4_ROLE_STATE;
    return LSC_NF4_ROLE_PLAIN;
}

/* Non-negative integer JSON number (exactly integral, <= max), else -1. */
static long long json_int(const cJSON *j, long long max)
{
    if (!cJSON_IsNumber(j))
        return -1;
    double v = j->valuedouble;
    if (lsc_json_num_check(v, 0.0, (double)max, 1, NULL, NULL, NULL) != LSC_OK)
        return -1;
    return (long long)v;
}

/* Finds "<name><suffix>" in f (NULL if missing). */
static const lsc_st_tensor *find_part(const lsc_st_file *f, const char *name, const char *suffix)
{
    char buf[LSC_NF4_NAME_MAX + 64];
    if (snprintf(buf, sizeof buf, "%s%s", name, suffix) >= (int)sizeof buf)
        return NULL;
    return lsc_st_find(f, buf);
}

/* What a quant_state says beyond the fields of lsc_nf4 it sets. */
typedef struct qs_info {
    int    nested;   /* double-quantised */
    int    nbs;      /* nested_blocksize */
    double offset;   /* nested_offset */
} qs_info;

/* Parses and checks the quant_state JSON tensor tq of weight name: sets
 * q's shape, blocksize, n_blocks and dtype, and *qi. */
static int qs_parse(lsc_nf4 *q, qs_info *qi, const lsc_st_file *f, const lsc_st_tensor *tq,
                    const char *name, const char *path, lsc_error *err)
{
    int rc = LSC_OK;
    cJSON *root = NULL;
#define QS_FAIL(code, ...)                                                    \
    do {                                                                      \
        rc = lsc_error_set(err, (code), __FILE__, __LINE__, __VA_ARGS__);     \
        goto done;                                                            \
    } while (0)
    if (tq->dtype != LSC_DT_U8)
        LSC_FAIL(err, LSC_EFORMAT, "%s: NF4 weight '%s': quant_state must be U8, not %s", path, name,
                 lsc_dtype_name(tq->dtype));
    char *text = LSC_MALLOC(tq->numel + 1);
    if (!text)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", path);
    memcpy(text, lsc_st_bytes(f, tq), tq->numel);
    text[tq->numel] = '\0';
    root = cJSON_ParseWithLength(text, tq->numel);
    LSC_FREE(text);
    if (!cJSON_IsObject(root))
        QS_FAIL(LSC_EFORMAT, "%s: NF4 weight '%s': quant_state is not a JSON object", path, name);
    const cJSON *jt = cJSON_GetObjectItemCaseSensitive(root, "quant_type");
    const cJSON *jb = cJSON_GetObjectItemCaseSensitive(root, "blocksize");
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(root, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(root, "shape");
    const cJSON *jnb = cJSON_GetObjectItemCaseSensitive(root, "nested_blocksize");
    const cJSON *jnd = cJSON_GetObjectItemCaseSensitive(root, "nested_dtype");
    const cJSON *jno = cJSON_GetObjectItemCaseSensitive(root, "nested_offset");
    if (!cJSON_IsString(jt) || strcmp(jt->valuestring, LSC_NF4_QUANT_TYPE) != 0)
        QS_FAIL(LSC_EFORMAT, "%s: NF4 weight '%s': quant_state quant_type must be \"" LSC_NF4_QUANT_TYPE "\"%s",
                path, name,
                cJSON_IsString(jt) && strcmp(jt->valuestring, "fp4") == 0 ? " (fp4 is not supported)" : "");
    long long bs = json_int(jb, 1 << 24);
    if (bs < 1)
        QS_FAIL(LSC_EFORMAT, "%s: NF4 weight '%s': quant_state blocksize must be a positive integer", path, name);
    if (!cJSON_IsString(jd) || (strcmp(jd->valuestring, "float32") != 0 && strcmp(jd->valuestring, "float16") != 0 &&
                                strcmp(jd->valuestring, "bfloat16") != 0))
        QS_FAIL(LSC_EFORMAT, "%s: NF4 weight '%s': quant_state dtype must be float32, float16 or bfloat16", path,
                name);
    if (!cJSON_IsArray(js) || cJSON_GetArraySize(js) != 2)
        QS_FAIL(LSC_EFORMAT, "%s: NF4 weight '%s': quant_state shape must be [d, k] (2-D weights only)", path,
                name);
    long long sd = json_int(cJSON_GetArrayItem(js, 0), 1LL << 40), sk = json_int(cJSON_GetArrayItem(js, 1), 1LL << 40);
    if (sd < 1 || sk < 1 || (double)sd * (double)sk > 9.0e15)
        QS_FAIL(LSC_EFORMAT, "%s: NF4 weight '%s': quant_state shape entries must be positive integers", path,
                name);
    qi->nested = jnb != NULL || jnd != NULL || jno != NULL;
    if (qi->nested) {
        long long nbs = json_int(jnb, 1 << 24);
        if (nbs < 1)
            QS_FAIL(LSC_EFORMAT, "%s: NF4 weight '%s': quant_state nested_blocksize must be a positive integer",
                    path, name);
        if (!cJSON_IsString(jnd) || strcmp(jnd->valuestring, NF4_NESTED_DTYPE) != 0)
            QS_FAIL(LSC_EFORMAT, "%s: NF4 weight '%s': quant_state nested_dtype must be \"" NF4_NESTED_DTYPE "\"",
                    path, name);
        if (!cJSON_IsNumber(jno) || lsc_json_num_check(jno->valuedouble, -DBL_MAX, DBL_MAX, 0, NULL, NULL, NULL) != LSC_OK)
            QS_FAIL(LSC_EFORMAT, "%s: NF4 weight '%s': quant_state nested_offset must be a finite number", path,
                    name);
        qi->nbs = (int)nbs;
        qi->offset = jno->valuedouble;
    }
    q->d = (size_t)sd;
    q->k = (size_t)sk;
    q->n = q->d * q->k;
    q->blocksize = (int)bs;
    q->n_blocks = (q->n + (size_t)bs - 1) / (size_t)bs;
    snprintf(q->dtype, sizeof q->dtype, "%s", jd->valuestring);
done:
#undef QS_FAIL
    cJSON_Delete(root);
    return rc;
}

/* Shapes and dtypes of the packed data tp, the code table tm and absmax ta
 * against the quant_state already in q. */
static int check_parts(const lsc_nf4 *q, int nested, const lsc_st_tensor *tp, const lsc_st_tensor *tm,
                       const lsc_st_tensor *ta, const char *name, const char *path, lsc_error *err)
{
    if (tp->dtype != LSC_DT_U8)
        LSC_FAIL(err, LSC_EFORMAT, "%s: NF4 weight '%s': packed data must be U8, not %s", path, name,
                 lsc_dtype_name(tp->dtype));
    if (tp->numel != (q->n + 1) / 2 || (tp->ndim == 2 && tp->shape[1] != 1) || tp->ndim < 1 || tp->ndim > 2)
        LSC_FAIL(err, LSC_ESHAPE, "%s: NF4 weight '%s': packed data has %zu bytes, expected [%zu, 1] for shape "
                 "[%zu, %zu]", path, name, tp->numel, (q->n + 1) / 2, q->d, q->k);
    if (tm->dtype != LSC_DT_F32 || tm->numel != 16)
        LSC_FAIL(err, LSC_ESHAPE, "%s: NF4 weight '%s': quant_map must be F32[16]", path, name);
    if (nested ? ta->dtype != LSC_DT_U8 : ta->dtype != LSC_DT_F32)
        LSC_FAIL(err, LSC_EFORMAT, "%s: NF4 weight '%s': absmax must be %s (%s), not %s", path, name,
                 nested ? "U8" : "F32", nested ? "double-quantised" : "not double-quantised",
                 lsc_dtype_name(ta->dtype));
    if (ta->numel != q->n_blocks)
        LSC_FAIL(err, LSC_ESHAPE, "%s: NF4 weight '%s': absmax has %zu values, expected %zu (shape [%zu, %zu], "
                 "blocksize %d)", path, name, ta->numel, q->n_blocks, q->d, q->k, q->blocksize);
    return LSC_OK;
}

/* absmax as plain F32 values (no double quantisation). */
static int load_absmax_plain(lsc_nf4 *q, const lsc_st_file *f, const lsc_st_tensor *ta, const char *name,
                             const char *path, lsc_error *err)
{
    q->absmax = LSC_MALLOC(q->n_blocks * sizeof *q->absmax);
    if (!q->absmax)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", path);
    int rc = lsc_st_read_f32(f, ta, q->absmax, err);
    if (rc != LSC_OK)
        return rc;
    for (size_t b = 0; b < q->n_blocks; b++)
        if (!isfinite(q->absmax[b]))
            LSC_FAIL(err, LSC_ENAN, "%s: NF4 weight '%s': absmax[%zu] is not finite", path, name, b);
    return LSC_OK;
}

/* Double-quantised absmax: the U8 codes ta, '<name>.nested_absmax' and
 * '<name>.nested_quant_map'. */
static int load_absmax_nested(lsc_nf4 *q, const qs_info *qi, const lsc_st_file *f, const lsc_st_tensor *ta,
                              const char *name, const char *path, lsc_error *err)
{
    const lsc_st_tensor *tna = find_part(f, name, ".nested_absmax");
    const lsc_st_tensor *tnm = find_part(f, name, ".nested_quant_map");
    if (!tna || !tnm)
        LSC_FAIL(err, LSC_ENOTFOUND, "%s: NF4 weight '%s': quant_state is nested but tensor '%s.%s' is missing",
                 path, name, name, !tna ? "nested_absmax" : "nested_quant_map");
    q->nested = 1;
    q->nested_blocksize = qi->nbs;
    q->n_nested = (q->n_blocks + (size_t)qi->nbs - 1) / (size_t)qi->nbs;
    q->offset = (float)qi->offset;
    if (tna->dtype != LSC_DT_F32 || tna->numel != q->n_nested)
        LSC_FAIL(err, LSC_ESHAPE, "%s: NF4 weight '%s': nested_absmax must be F32[%zu], found %s[%zu]", path, name,
                 q->n_nested, lsc_dtype_name(tna->dtype), tna->numel);
    if (tnm->dtype != LSC_DT_F32 || tnm->numel != 256)
        LSC_FAIL(err, LSC_ESHAPE, "%s: NF4 weight '%s': nested_quant_map must be F32[256]", path, name);
    q->qabsmax = LSC_MALLOC(q->n_blocks);
    q->nested_absmax = LSC_MALLOC(q->n_nested * sizeof *q->nested_absmax);
    if (!q->qabsmax || !q->nested_absmax)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", path);
    memcpy(q->qabsmax, lsc_st_bytes(f, ta), q->n_blocks);
    int rc;
    if ((rc = lsc_st_read_f32(f, tna, q->nested_absmax, err)) != LSC_OK ||
        (rc = lsc_st_read_f32(f, tnm, q->nested_code, err)) != LSC_OK)
        return rc;
    for (size_t j = 0; j < q->n_nested; j++)
        if (!isfinite(q->nested_absmax[j]))
            LSC_FAIL(err, LSC_ENAN, "%s: NF4 weight '%s': nested_absmax[%zu] is not finite", path, name, j);
    for (int i = 0; i < 256; i++)
        if (!isfinite(q->nested_code[i]))
            LSC_FAIL(err, LSC_ENAN, "%s: NF4 weight '%s': nested_quant_map has a non-finite value", path, name);
    return LSC_OK;
}

/* The body of lsc_nf4_st_load; on failure the caller frees q. */
static int nf4_st_load(lsc_nf4 *q, const lsc_st_file *f, const char *name, const char *path, lsc_error *err)
{
    const lsc_st_tensor *tp = lsc_st_find(f, name), *tq = find_part(f, name, LSC_NF4_QS_SUFFIX);
    const lsc_st_tensor *ta = find_part(f, name, ".absmax"), *tm = find_part(f, name, ".quant_map");
    if (!tq)
        LSC_FAIL(err, LSC_ENOTFOUND, "%s: '%s' is not an NF4 weight (no '%s%s' tensor)", path, name, name,
                 LSC_NF4_QS_SUFFIX);
    if (!tp)
        LSC_FAIL(err, LSC_ENOTFOUND, "%s: NF4 weight '%s': packed data tensor '%s' missing", path, name, name);
    if (!ta)
        LSC_FAIL(err, LSC_ENOTFOUND, "%s: NF4 weight '%s': tensor '%s.absmax' missing", path, name, name);
    if (!tm)
        LSC_FAIL(err, LSC_ENOTFOUND, "%s: NF4 weight '%s': tensor '%s.quant_map' missing", path, name, name);
    qs_info qi = {0, 0, 0.0};
    int rc = qs_parse(q, &qi, f, tq, name, path, err);
    if (rc == LSC_OK)
        rc = check_parts(q, qi.nested, tp, tm, ta, name, path, err);
    if (rc != LSC_OK)
        return rc;
    q->packed = LSC_MALLOC(tp->numel);
    if (!q->packed)
        LSC_FAIL(err, LSC_ENOMEM, "%s: out of memory", path);
    memcpy(q->packed, lsc_st_bytes(f, tp), tp->numel);
    if ((rc = lsc_st_read_f32(f, tm, q->code, err)) != LSC_OK)
        return rc;
    for (int i = 0; i < 16; i++)
        if (!isfinite(q->code[i]))
            LSC_FAIL(err, LSC_ENAN, "%s: NF4 weight '%s': quant_map has a non-finite value", path, name);
    if (!qi.nested)
        return load_absmax_plain(q, f, ta, name, path, err);
    return load_absmax_nested(q, &qi, f, ta, name, path, err);
}

int lsc_nf4_st_load(lsc_nf4 *q, const lsc_st_file *f, const char *name, lsc_error *err)
{
    memset(q, 0, sizeof *q);
    int rc = nf4_st_load(q, f, name, f->path ? f->path : "(safetensors)", err);
    if (rc != LSC_OK)
        lsc_nf4_free(q);
    return rc;
}
