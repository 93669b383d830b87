/*
 * subspace_basis.h — what `lorascope subspace` and `lorascope compare`
 * share for plain LoRA modules: the orthonormal basis of one factor's
 * singular subspace (the right-singular vectors of lora_A, the LoRA
 * paper's choice for Figure 3, or the left-singular vectors of lora_B),
 * its numerical rank, whether the module's update dW = s·B·A is zero, and
 * the --factor A|B option.
 * Not DoRA's effective update (subspace.c, dora_update.h) and not φ itself
 * (lsc_subspace_gram / lsc_phi_grid / lsc_principal_angles in lib/).
 */
#ifndef LSC_ANALYSIS_SUBSPACE_BASIS_H
#define LSC_ANALYSIS_SUBSPACE_BASIS_H

#include "cli.h"

/* Orthonormal rows spanning factor 'A' (right-singular vectors of A, in
 * R^in_features) or 'B' (left-singular vectors of B, in R^out_features),
 * ordered by singular value: Vt (p, dim), p = min(r, dim); *rank = the
 * numerical rank (numpy's matrix_rank rule: σ > σ₁·max(r, dim)·eps).
 * LSC_OK or a negative LSC_E* code with err set. */
int ana_factor_basis(const lsc_adapter_module *m, char factor, double *Vt, int *rank,
                     lsc_error *err);
/* *zero = 1 when σ₁(dW) (through the low-rank path) is below rounding of
 * s·‖B‖·‖A‖. LSC_OK or a negative LSC_E* code with err set. */
int ana_delta_is_zero(const lsc_adapter_module *m, int *zero, lsc_error *err);

/* --factor A|B (either case; absent: 'A') into *factor. CLI_OK, or
 * CLI_USAGE with the message printed. */
int ana_factor_opt(const char *cmd, const cli_opt *opts, char *factor);

#endif
