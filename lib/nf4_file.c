/*
 * nf4_file.c — whole safetensors files to and from NF4: `lorascope
 * quantize` / `dequantize` (lsc_nf4_quantize_file, lsc_nf4_dequantize_file).
 * Each target tensor is quantised with nf4.c and stored in bitsandbytes'
 * layout through nf4_st.c; every other tensor is copied as it is.
 *
 * Not here: the NF4 arithmetic (nf4.c) and the per-weight tensor layout
 * (nf4_st.c), which this file only calls: it sits above both.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "lsc_internal.h"

// ---- whole files ----

static const char *bnb_dtype(lsc_dtype dt)
{
    return dt == LSC_DT_F16 ? "float16" : dt == LSC_DT_BF16 ? "bfloat16" : "float32";
}

static int is_float_dtype(lsc_dtype dt)
{
    return dt == LSC_DT_F32 || dt == LSC_DT_F16 || dt == LSC_DT_BF16 || dt == LSC_DT_F64;
}

/* e = tensor t of f, copied as it is (its bytes borrowed from the mapping). */
static void keep_tensor(lsc_st_entry *e, const lsc_st_file *f, const lsc_st_tensor *t)
{
    e->name = t->name;
    e->dtype = t->dtype;
    e->ndim = t->ndim;
    memcpy(e->shape, t->shape, sizeof e->shape);
    e->data = lsc_st_bytes(f, t);
}

static void stats_add_bits(lsc_nf4_stats *s, const lsc_nf4 *q)
{
    s->n_quantized++;
    s->n_params += q->n;
    s->bytes_packed += (q->n + 1) / 2;
    s->bytes_constants += lsc_nf4_constant_bytes_(q);
}

static void stats_finish(lsc_nf4_stats *s)
{
    if (s->n_params > 0) {
        s->bits_constants = 8.0 * (double)s->bytes_constants / (double)s->n_params;
        s->bits_total = 8.0 * (double)(s->bytes_packed + s->bytes_constants) / (double)s->n_params;
    }
}

int lsc_nf4_quantize_file(const char *in, const char *out, const lsc_nf4_opts *opts,
                          lsc_nf4_stats *stats, lsc_error *err)
{
    return lsc_nf4_quantize_file_progress(in, out, opts, stats, NULL, NULL, err);
}

int lsc_nf4_quantize_file_progress(const char *in, const char *out, const lsc_nf4_opts *opts,
                                   lsc_nf4_stats *stats, lsc_nf4_progress_fn progress, void *ctx,
                                   lsc_error *err)
{
    int rc = LSC_OK;
    lsc_st_file f;
    lsc_nf4 *qs = NULL;
    lsc_nf4_st *sts = NULL;
    lsc_st_entry *entries = NULL;
    float *W = NULL, *tile = NULL;
    int nq = 0, ne = 0, nt = 0;
    lsc_nf4_stats s;
    double err2 = 0.0, w2 = 0.0;
    memset(&s, 0, sizeof s);
    const int bs = opts && opts->blocksize ? opts->blocksize : LSC_NF4_BLOCKSIZE_DEFAULT;
    const int dq = opts ? opts->double_quant : 1;
    const char *targets = opts && opts->targets ? opts->targets : LSC_NF4_DEFAULT_TARGETS;

    if (!lsc_nf4_blocksize_ok_(bs))
        LSC_FAIL(err, LSC_EARG, "%s: blocksize %d is not a power of two in %d..%d", in, bs, LSC_NF4_BLOCKSIZE_MIN,
                 LSC_NF4_BLOCKSIZE_MAX);
    {
        const char *t = targets;
        int ok = 0;
        for (; *t; t++)
            ok |= *t != ',' && *t != ' ';
        if (!ok)
            LSC_FAIL(err, LSC_EARG, "%s: empty list of target modules", in);
    }
    if ((rc = lsc_st_open(&f, in, err)) != LSC_OK)
        return rc;
#define QF_FAIL(code, ...)                                                    \
    do {                                                                      \
        rc = lsc_error_set(err, (code), __FILE__, __LINE__, __VA_ARGS__);     \
        goto fail;                                                            \
    } while (0)

    size_t max_numel = 0;
    for (int i = 0; i < f.n_tensors; i++) {
        const lsc_st_tensor *t = &f.tensors[i];
        if (strstr(t->name, LSC_NF4_QS_PREFIX))
            QF_FAIL(LSC_EFORMAT, "%s: already holds quantised weights ('%s'); dequantize it first", in, t->name);
        if (lsc_nf4_is_target(t->name, t->ndim, targets) && is_float_dtype(t->dtype) && t->numel > 0) {
            nt++;
            if (t->numel > max_numel)
                max_numel = t->numel;
        }
    }
    if (nt == 0)
        QF_FAIL(LSC_ENOTFOUND, "%s: no 2-D float '<module>.weight' tensor matches the targets '%s'", in, targets);

    qs = LSC_CALLOC((size_t)nt, sizeof *qs);
    sts = LSC_CALLOC((size_t)nt, sizeof *sts);
    entries = LSC_CALLOC((size_t)f.n_tensors + 6 * (size_t)nt, sizeof *entries);
    W = LSC_MALLOC(max_numel * sizeof *W);
    tile = LSC_MALLOC(65536 * sizeof *tile);
    if (!qs || !sts || !entries || !W || !tile)
        QF_FAIL(LSC_ENOMEM, "%s: out of memory", in);

    for (int i = 0; i < f.n_tensors; i++) {
        const lsc_st_tensor *t = &f.tensors[i];
        if (progress)
            progress(ctx, i, f.n_tensors);
        if (!(lsc_nf4_is_target(t->name, t->ndim, targets) && is_float_dtype(t->dtype) && t->numel > 0)) {
            keep_tensor(&entries[ne++], &f, t);
            s.n_kept++;
            continue;
        }
        lsc_error inner;
        if ((rc = lsc_st_read_f32(&f, t, W, err)) != LSC_OK)
            goto fail;
        rc = lsc_nf4_quantize(&qs[nq], W, (size_t)t->shape[0], (size_t)t->shape[1], bs, dq, &inner);
        if (rc != LSC_OK)
            QF_FAIL(rc, "%s: tensor '%s': %s", in, t->name, inner.msg);
        snprintf(qs[nq].dtype, sizeof qs[nq].dtype, "%s", bnb_dtype(t->dtype));
        for (size_t i0 = 0; i0 < t->numel; i0 += 65536) {
            size_t cnt = t->numel - i0 < 65536 ? t->numel - i0 : 65536;
            lsc_nf4_dequant_range(&qs[nq], i0, cnt, tile);
            for (size_t j = 0; j < cnt; j++) {
                double e = (double)W[i0 + j] - (double)tile[j];
                err2 += e * e;
                w2 += (double)W[i0 + j] * (double)W[i0 + j];
                if (fabs(e) > s.max_abs_err)
                    s.max_abs_err = fabs(e);
            }
        }
        stats_add_bits(&s, &qs[nq]);
        if ((rc = lsc_nf4_st_entries(&sts[nq], &qs[nq], t->name, err)) != LSC_OK)
            goto fail;
        for (int j = 0; j < sts[nq].n; j++)
            entries[ne++] = sts[nq].entries[j];
        nq++;
    }
    LSC_FREE(W);
    W = NULL;
    rc = lsc_st_write(out, entries, ne, (const char *const *)f.meta_keys, (const char *const *)f.meta_vals,
                      f.n_meta, err);
    if (rc != LSC_OK)
        goto fail;
    if (progress)
        progress(ctx, f.n_tensors, f.n_tensors);
    s.bits_constants_nominal = lsc_nf4_bits_nominal(bs, dq);
    s.rel_err = w2 > 0.0 ? sqrt(err2 / w2) : 0.0;
    stats_finish(&s);
    if (stats)
        *stats = s;
fail:
#undef QF_FAIL
    for (int i = 0; qs && i < nq; i++)
        lsc_nf4_free(&qs[i]);
    LSC_FREE(qs);
    LSC_FREE(sts);
    LSC_FREE(entries);
    LSC_FREE(W);
    LSC_FREE(tile);
    lsc_st_close(&f);
    return rc;
}

int lsc_nf4_dequantize_file(const char *in, const char *out, lsc_nf4_stats *stats, lsc_error *err)
{
    int rc = LSC_OK;
    lsc_st_file f;
    lsc_st_entry *entries = NULL;
    float **bufs = NULL;
    int ne = 0, nb = 0;
    lsc_nf4_stats s;
    memset(&s, 0, sizeof s);
    if ((rc = lsc_st_open(&f, in, err)) != LSC_OK)
        return rc;
#define DF_FAIL(code, ...)                                                    \
    do {                                                                      \
        rc = lsc_error_set(err, (code), __FILE__, __LINE__, __VA_ARGS__);     \
        goto fail;                                                            \
    } while (0)

    entries = LSC_CALLOC((size_t)f.n_tensors + 1, sizeof *entries);
    bufs = LSC_CALLOC((size_t)f.n_tensors + 1, sizeof *bufs);
    if (!entries || !bufs)
        DF_FAIL(LSC_ENOMEM, "%s: out of memory", in);
    for (int i = 0; i < f.n_tensors; i++) {
        const lsc_st_tensor *t = &f.tensors[i];
        const char *qs = strstr(t->name, LSC_NF4_QS_PREFIX);
        size_t ln = strlen(t->name), ls = strlen(LSC_NF4_QS_SUFFIX);
        if (qs && !(ln >= ls && strcmp(t->name + ln - ls, LSC_NF4_QS_SUFFIX) == 0))
            DF_FAIL(LSC_EFORMAT, "%s: tensor '%s': only nf4 quantisation is supported", in, t->name);
        int role = lsc_nf4_st_role(&f, t->name);
        if (role == LSC_NF4_ROLE_STATE)
            continue;
        lsc_st_entry *e = &entries[ne++];
        e->name = t->name;
        if (role == LSC_NF4_ROLE_PLAIN) {
            keep_tensor(e, &f, t);
            s.n_kept++;
            continue;
        }
        lsc_nf4 q;
        if ((rc = lsc_nf4_st_load(&q, &f, t->name, err)) != LSC_OK)
            goto fail;
        float *w = LSC_MALLOC(q.n * sizeof *w);
        if (!w) {
            lsc_nf4_free(&q);
            DF_FAIL(LSC_ENOMEM, "%s: out of memory dequantising '%s'", in, t->name);
        }
        bufs[nb++] = w;
        lsc_nf4_dequant_range(&q, 0, q.n, w);
        e->dtype = LSC_DT_F32;
        e->ndim = 2;
        e->shape[0] = (int64_t)q.d;
        e->shape[1] = (int64_t)q.k;
        e->data = w;
        stats_add_bits(&s, &q);
        lsc_nf4_free(&q);
    }
    if (s.n_quantized == 0)
        DF_FAIL(LSC_ENOTFOUND, "%s: no NF4 weights (no '*%s' tensor)", in, LSC_NF4_QS_SUFFIX);
    rc = lsc_st_write(out, entries, ne, (const char *const *)f.meta_keys, (const char *const *)f.meta_vals,
                      f.n_meta, err);
    if (rc != LSC_OK)
        goto fail;
    stats_finish(&s);
    if (stats)
        *stats = s;
fail:
#undef DF_FAIL
    for (int i = 0; bufs && i < nb; i++)
        LSC_FREE(bufs[i]);
    LSC_FREE(bufs);
    LSC_FREE(entries);
    lsc_st_close(&f);
    return rc;
}
