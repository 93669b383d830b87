/*
 * base_match.c — the base matrix W0 of an adapter module of any kind and
 * the update of a full tensor (see base_match.h). Not the base's reader
 * (analysis_common.c's ana_base_open / ana_base_find) and not an analysis.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base_match.h"

/* "[a, b, c]" of n dims into out. */
static void dims_text(int n, const long long *dims, char *out, size_t cap)
{
    size_t l = 0;
    out[0] = '\0';
    for (int i = 0; i < n && l + 1 < cap; i++, l = strlen(out))
        snprintf(out + l, cap - l, "%s%lld%s", i ? ", " : "[", dims[i], i == n - 1 ? "]" : "");
}

/* The shape module m needs of its base tensor into want (ndim returned);
 * *transposed as stored; for FULL, want[0] is the most rows allowed. */
static int wanted_shape(const lsc_adapter *ad, const lsc_adapter_module *m, long long want[6], int *transposed)
{
    long long d = m->out_features, k = m->in_features;
    *transposed = 0;
    switch (m->kind) {
    case LSC_ADAPTER_EMBEDDING:
        *transposed = 1;
        want[0] = k;
        want[1] = d;
        return 2;
    case LSC_ADAPTER_CONV:
        want[0] = d;
        want[1] = m->conv_in_channels;
        for (int i = 0; i < m->conv_ndim && i < 3; i++)
            want[2 + i] = m->conv_kernel[i];
        return 2 + (m->conv_ndim < 3 ? m->conv_ndim : 3);
    case LSC_ADAPTER_FULL:
        for (int i = 0; i < m->full_ndim; i++)
            want[i] = m->full_shape[i];
        return m->full_ndim;
    default:
        *transposed = ad->fan_in_fan_out;
        want[0] = *transposed ? k : d;
        want[1] = *transposed ? d : k;
        return 2;
    }
}

/* bm->how for the kinds whose W0 is not the plain weight. */
static void describe(const lsc_adapter_module *m, ana_base_mat *bm, int nd, const long long *got)
{
    char g[128];
    dims_text(nd, got, g, sizeof g);
    bm->how[0] = '\0';
    if (m->kind == LSC_ADAPTER_EMBEDDING)
        snprintf(bm->how, sizeof bm->how, "W0^T: the embedding table %s ([vocab, dim]) transposed to "
                 "[%d, %d], as s·B·A is [dim, vocab]", g, m->out_features, m->in_features);
    else if (m->kind == LSC_ADAPTER_CONV)
        snprintf(bm->how, sizeof bm->how, "the kernel %s ([out, in, k...]) reshaped to [%d, %d] "
                 "([out, in·prod(k)]), as the factors are", g, m->out_features, m->in_features);
    else if (m->kind == LSC_ADAPTER_FULL && bm->rows < m->out_features)
        snprintf(bm->how, sizeof bm->how, "dW = weight[:%d] − W0 (the base tensor, %s); the %d added-token "
                 "rows are excluded", bm->rows, g, m->out_features - bm->rows);
    else if (m->kind == LSC_ADAPTER_FULL)
        snprintf(bm->how, sizeof bm->how, "dW = weight − W0 (the base tensor, %s)", g);
}

int ana_base_match(const ana_base *b, const lsc_adapter *ad, const lsc_adapter_module *m,
                   ana_base_mat *bm, char *why, size_t nwhy)
{
    memset(bm, 0, sizeof *bm);
    if (!ana_base_find(b, m->name, &bm->f, &bm->t, why, nwhy))
        return 0;
    long long want[6] = {0}, got[6] = {0};
    int tnd = bm->t->ndim < 6 ? bm->t->ndim : 6;
    int nd = wanted_shape(ad, m, want, &bm->transposed), ok = bm->t->ndim == nd;
    for (int i = 0; i < tnd; i++)
        got[i] = (long long)bm->t->shape[i];
    for (int i = 0; ok && i < nd; i++)
        ok = m->kind == LSC_ADAPTER_FULL && i == 0 ? got[0] >= 1 && got[0] <= want[0] : got[i] == want[i];
    if (!ok) {
        char gs[128], ws[128];
        dims_text(tnd, got, gs, sizeof gs);
        dims_text(nd, want, ws, sizeof ws);
        snprintf(why, nwhy, "base tensor %s has shape %s, module %s (%s) needs %s%s%s", bm->t->name, gs,
                 m->name, lsc_adapter_kind_name(m->kind), ws,
                 m->kind == LSC_ADAPTER_FULL ? " (at most that many rows)" : "",
                 m->kind == LSC_ADAPTER_LORA || m->kind == LSC_ADAPTER_DORA
                     ? (ad->fan_in_fan_out ? " (fan_in_fan_out=true)" : " (fan_in_fan_out=false)") : "");
        return -1;
    }
    bm->rows = m->kind == LSC_ADAPTER_FULL ? (int)got[0] : m->out_features;
    describe(m, bm, nd, got);
    return 1;
}

void ana_base_why(int rc, const lsc_adapter_module *m, const char *why, char *out, size_t n)
{
    if (rc == 0)
        snprintf(out, n, "no base weight for module %s (tried %s)", m->name, why);
    else
        snprintf(out, n, "%s", why);
}

float *ana_base_mat_read(const ana_base_mat *bm, lsc_error *err)
{
    float *W = malloc(bm->t->numel * sizeof *W);
    if (!W) {
        lsc_error_set(err, LSC_ENOMEM, __FILE__, __LINE__, "out of memory for base tensor %s", bm->t->name);
        return NULL;
    }
    if (lsc_st_read_f32(bm->f, bm->t, W, err) != LSC_OK) {
        free(W);
        return NULL;
    }
    return W;
}

void ana_full_delta(const ana_base_mat *bm, const lsc_adapter_module *m, const float *W0f, double *dW,
                    double *added_fro)
{
    size_t n = (size_t)bm->rows * (size_t)m->in_features;
    size_t all = (size_t)m->out_features * (size_t)m->in_features;
    for (size_t i = 0; i < n; i++)
        dW[i] = (double)m->weight[i] - (double)W0f[i];
    double ss = 0.0;
    for (size_t i = n; i < all; i++)
        ss += (double)m->weight[i] * (double)m->weight[i];
    *added_fro = sqrt(ss);
}

int ana_base_mat_attrs(lsc_h5 *h, const char *g, const lsc_adapter_module *m, const char *how,
                       lsc_error *err)
{
    if (m->kind != LSC_ADAPTER_EMBEDDING && m->kind != LSC_ADAPTER_CONV && m->kind != LSC_ADAPTER_FULL)
        return LSC_OK;
    int rc = lsc_h5_attr_str(h, g, "kind", lsc_adapter_kind_name(m->kind), err);
    return rc != LSC_OK ? rc : lsc_h5_attr_str(h, g, "base_matrix", how, err);
}

int ana_full_attrs(lsc_h5 *h, const char *g, const lsc_adapter_module *orig, const ana_base_mat *bm,
                   double added_fro, lsc_error *err)
{
    int rc;
    if ((rc = ana_base_mat_attrs(h, g, orig, bm->how, err)) != LSC_OK ||
        (rc = lsc_h5_attr_str(h, g, "update", ANA_FULL_UPDATE, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "base_rows", bm->rows, err)) != LSC_OK ||
        (rc = lsc_h5_attr_int(h, g, "n_added_rows", orig->out_features - bm->rows, err)) != LSC_OK)
        return rc;
    return lsc_h5_attr_double(h, g, "added_rows_fro", added_fro, err);
}

const char *ana_base_mat_note(const lsc_adapter_module *m, const char *how, char *out, size_t n)
{
    out[0] = '\0';
    if (m->kind == LSC_ADAPTER_EMBEDDING || m->kind == LSC_ADAPTER_CONV || m->kind == LSC_ADAPTER_FULL)
        snprintf(out, n, "  [%s: %s]", lsc_adapter_kind_name(m->kind), how);
    return out;
}
