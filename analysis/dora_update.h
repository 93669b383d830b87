/*
 * dora_update.h — DoRA modules in the analyses (spectrum, subspace,
 * amplify): the --base / --factors-only choice, the refusal when neither is
 * given, the effective update dW = m ⊙ (W0 + s·B·A)/‖·‖_row − W0 of a module
 * from the base (lib/dora.c's lsc_dora_delta on the base weight that
 * base_match.c's ana_base_match finds and checks), and the per-module
 * attributes that say which update was analysed. Not library code (prints through cli.h); not the numerics
 * (lib/dora.c).
 */
#ifndef LSC_DORA_UPDATE_H
#define LSC_DORA_UPDATE_H

#include "analysis_common.h"

/* The option entry of --factors-only (--base is each command's own). */
#define ANA_DORA_OPTS {"factors-only", 0, NULL}

#define ANA_DORA_HELP                                                           \
    "  --factors-only       DoRA modules: analyse the factors s*B*A as for LoRA\n" \
    "                       (NOT the effective DoRA update; said in the output\n" \
    "                       and in the attributes update, effective_update = 0)\n"

/* The two texts of the per-module attribute "update". */
#define ANA_DORA_UPDATE_EFFECTIVE "DoRA effective: m ⊙ (W0 + sBA)/‖·‖_row − W0"
#define ANA_DORA_UPDATE_FACTORS   "factors s·B·A (NOT the effective DoRA update)"

/* The index of the first DoRA module of ad, or -1 (lsc_adapter_first_of_kind). */
int  ana_dora_first(const lsc_adapter *ad);
/* When ad has DoRA modules and neither a base nor --factors-only is given:
 * prints "PATH: module M is DoRA: its effective update needs the base
 * (--base MODEL), or --factors-only to analyse s·B·A" and returns CLI_FAIL;
 * else CLI_OK. */
int  ana_dora_check(const char *cmd, const char *path, const lsc_adapter *ad, const char *base_path,
                    int factors_only);
/* The effective update of DoRA module m of ad into dW (d, k) row-major
 * double: the base weight found by ana_base_match (shape [d, k], or [k, d]
 * with ad->fan_in_fan_out), read as float32, then lsc_dora_delta. CLI_OK,
 * or CLI_FAIL with one line (naming the base and the module) in msgs. */
int  ana_dora_effective(const ana_base *b, const lsc_adapter *ad, const lsc_adapter_module *m,
                        double *dW, ana_msgs *msgs);
/* For a DoRA module only (else nothing): attributes update (one of the two
 * texts above) and effective_update (1/0) in group g. */
int  ana_dora_write_attrs(lsc_h5 *h, const char *g, const lsc_adapter_module *m, int effective,
                          lsc_error *err);
/* The text column a table row of a DoRA module ends with ("" for others). */
const char *ana_dora_note(const lsc_adapter_module *m, int effective);

#endif
