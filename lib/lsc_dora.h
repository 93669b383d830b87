/*
 * lsc_dora.h — DoRA's effective weight update (dora.c).
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 */
#ifndef LSC_DORA_H
#define LSC_DORA_H

#include "lsc_error.h"

// ---- DoRA's effective update (dora.c) ----

/* The effective update of one DoRA Linear module (Liu et al. 2024, "DoRA:
 * Weight-Decomposed Low-Rank Adaptation"), in double:
 *     V  = W0 + s·B·A                               (d, k)
 *     W' = diag(m_i / ‖V_i,:‖₂) · V                 (each row scaled)
 *     dW = W' − W0                                   (d, k) row-major
 * the norm one per OUTPUT row, as PEFT's DoraLinearLayer.get_weight_norm
 * computes it (huggingface/peft, src/peft/tuners/lora/dora.py: weight =
 * transpose(weight, fan_in_fan_out); weight = weight + scaling *
 * lora_weight; torch.linalg.norm(weight, dim=1)), i.e. after undoing
 * fan_in_fan_out. W0 is float (d, k) row-major, or stored transposed
 * (k, d) when w0_transposed (GPT-2's Conv1D with fan_in_fan_out);
 * A (r, k), B (d, r) float, m (d) float (lora_magnitude_vector). dW (d·k)
 * is caller-owned; row_norm (d, may be NULL) receives ‖V_i,:‖₂. Each row
 * is computed on its own (one k-double scratch lives in dW's row), no
 * allocation. LSC_EARG for bad dimensions or NULL pointers, LSC_ENAN for
 * a NaN/Inf input or a zero row norm (the message names the row). */
int lsc_dora_delta(int d, int k, int r, const float *W0, int w0_transposed, const float *A,
                   const float *B, double s, const float *m, double *dW, double *row_norm,
                   lsc_error *err);

#endif /* LSC_DORA_H */
