/*
 * lsc_delta.h — the relative size of a fine-tuning update, ‖ΔW‖_F / ‖W‖_F,
 * per adapted weight (delta.c).
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 */
#ifndef LSC_DELTA_H
#define LSC_DELTA_H

#include "lsc_error.h"
#include "lsc_lora.h"
#include "lsc_model.h"

// ---- update norms (delta.c) ----
/* One weight's update: dw_fro = ‖ΔW‖_F, w_fro = ‖W‖_F of the frozen (or
 * initial) weight, ratio = dw_fro / w_fro (NaN when w_fro = 0). */
typedef struct lsc_delta_norm {
    int    layer, target;   /* enum lsc_lora_target */
    double dw_fro, w_fro, ratio;
} lsc_delta_norm;

/* ‖s·B·A‖_F computed without forming the (out, in) matrix: s·sqrt(trace((BᵀB)
 * (AAᵀ))) with both r×r Gram matrices in double. */
double lsc_lora_module_delta_fro(const lsc_lora_module *mod);
/* ‖W‖_F of the linear weight (layer, target) in double; an NF4 weight is
 * dequantised a tile of rows at a time (deq(W), the weight the model uses). */
int    lsc_gpt_weight_fro(const lsc_gpt *m, int layer, int target, double *fro, lsc_error *err);
/* LoRA: out[i] for module i of lo (lo's order: by layer, then target), W the
 * base weight of m (the adapter must not be merged into m). */
int    lsc_delta_lora(const lsc_gpt *m, const lsc_lora *lo, lsc_delta_norm *out, lsc_error *err);
/* Full fine-tuning: ‖W1 − W0‖_F / ‖W0‖_F for every adaptable linear weight
 * of the architecture, by layer then target, into out (which must hold
 * n_layer·LSC_LORA_NTARGETS rows); *n = the rows written. m0 the initial
 * model, m1 the fine-tuned one, both fp32 and of the same shape
 * (LSC_ESHAPE / LSC_EARG otherwise). */
int    lsc_delta_full(const lsc_gpt *m0, const lsc_gpt *m1, lsc_delta_norm *out, int *n,
                      lsc_error *err);

#endif /* LSC_DELTA_H */
