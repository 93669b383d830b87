/*
 * delta.c — how large a fine-tuning update is relative to the weight it
 * changes: ‖ΔW‖_F / ‖W‖_F per adapted module of a LoRA adapter (ΔW = s·B·A,
 * never formed) or per linear weight of a fully fine-tuned model
 * (ΔW = W1 − W0). Declared in lsc_delta.h.
 *
 * Not here: the spectra or subspaces of ΔW (the analyses), any output.
 *
 * Shapes: A (r, in), B (out, r), W (out, in); sums in double.
 */
#include <math.h>
#include <string.h>

#include "lsc_internal.h"

double lsc_lora_module_delta_fro(const lsc_lora_module *mod)
{
    const int r = mod->r;
    /* ‖BA‖² = Σ_ij (BᵀB)_ij (AAᵀ)_ij; both Gram matrices symmetric */
    double sum = 0.0;
    for (int i = 0; i < r; i++)
        for (int j = i; j < r; j++) {
            double gb = 0.0, ga = 0.0;
            for (int o = 0; o < mod->out; o++)
                gb += (double)mod->B[(size_t)o * r + i] * (double)mod->B[(size_t)o * r + j];
            const float *ai = mod->A + (size_t)i * mod->in, *aj = mod->A + (size_t)j * mod->in;
            for (int k = 0; k < mod->in; k++)
                ga += (double)ai[k] * (double)aj[k];
            sum += (i == j ? 1.0 : 2.0) * gb * ga;
        }
    return fabs((double)mod->scale) * sqrt(sum > 0.0 ? sum : 0.0);
}

static double sumsq(const float *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)x[i] * (double)x[i];
    return s;
}

int lsc_gpt_weight_fro(const lsc_gpt *m, int layer, int target, double *fro, lsc_error *err)
{
    const struct lsc_nf4 *q = lsc_gpt_nf4(m, layer, target);
    if (!q) {
        float *w, *b;
        int out, in;
        lsc_gpt_linear(m, layer, target, &w, &b, &out, &in);
        *fro = sqrt(sumsq(w, (size_t)out * (size_t)in));
        return LSC_OK;
    }
    const size_t rows = 64;
    float *tile = LSC_MALLOC(rows * q->k * sizeof *tile);
    if (!tile)
        LSC_FAIL(err, LSC_ENOMEM, "weight norm: out of memory");
    double s = 0.0;
    for (size_t r0 = 0; r0 < q->d; r0 += rows) {
        size_t nr = q->d - r0 < rows ? q->d - r0 : rows;
        lsc_nf4_dequant_rows(q, r0, nr, tile);
        s += sumsq(tile, nr * q->k);
    }
    LSC_FREE(tile);
    *fro = sqrt(s);
    return LSC_OK;
}

static void set_ratio(lsc_delta_norm *d)
{
    d->ratio = d->w_fro > 0.0 ? d->dw_fro / d->w_fro : NAN;
}

int lsc_delta_lora(const lsc_gpt *m, const lsc_lora *lo, lsc_delta_norm *out, lsc_error *err)
{
    if (lo->merged)
        LSC_FAIL(err, LSC_EARG, "update norms: the adapter is merged into the model (unmerge it first)");
    for (int i = 0; i < lo->n_modules; i++) {
        const lsc_lora_module *mod = &lo->modules[i];
        lsc_delta_norm *d = &out[i];
        d->layer = mod->layer;
        d->target = mod->target;
        d->dw_fro = lsc_lora_module_delta_fro(mod);
        int rc = lsc_gpt_weight_fro(m, mod->layer, mod->target, &d->w_fro, err);
        if (rc != LSC_OK)
            return rc;
        set_ratio(d);
    }
    return LSC_OK;
}

int lsc_delta_full(const lsc_gpt *m0, const lsc_gpt *m1, lsc_delta_norm *out, int *n_out,
                   lsc_error *err)
{
    const lsc_gpt_config *a = &m0->config, *b = &m1->config;
    *n_out = 0;
    if (a->arch != b->arch || a->n_layer != b->n_layer || a->n_embd != b->n_embd || a->vocab != b->vocab)
        LSC_FAIL(err, LSC_ESHAPE, "update norms: the models differ in shape (L=%d C=%d vs L=%d C=%d)", a->n_layer,
                 a->n_embd, b->n_layer, b->n_embd);
    if (m0->quant_targets || m1->quant_targets)
        LSC_FAIL(err, LSC_EARG, "update norms: full fine-tuning needs fp32 models");
    for (int l = 0; l < a->n_layer; l++)
        for (int t = 0; t < LSC_LORA_NTARGETS; t++) {
            if (!lsc_arch_has_target_(lsc_arch_of_(a), t))
                continue;
            float *w0, *w1, *bias;
            int o0, i0, o1, i1;
            lsc_gpt_linear(m0, l, t, &w0, &bias, &o0, &i0);
            lsc_gpt_linear(m1, l, t, &w1, &bias, &o1, &i1);
            size_t n = (size_t)o0 * (size_t)i0;
            double s = 0.0;
            for (size_t k = 0; k < n; k++) {
                double d = (double)w1[k] - (double)w0[k];
                s += d * d;
            }
            lsc_delta_norm *d = &out[(*n_out)++];
            d->layer = l;
            d->target = t;
            d->dw_fro = sqrt(s);
            d->w_fro = sqrt(sumsq(w0, n));
            set_ratio(d);
        }
    return LSC_OK;
}
