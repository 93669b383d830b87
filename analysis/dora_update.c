/*
 * dora_update.c — DoRA modules in the analyses (see dora_update.h): the
 * refusal without a base, the effective update from the base weight and the
 * attributes naming what was analysed. The arithmetic is lib/dora.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "base_match.h"
#include "dora_update.h"

int ana_dora_first(const lsc_adapter *ad)
{
    return lsc_adapter_first_of_kind(ad, LSC_ADAPTER_DORA);
}

int ana_dora_check(const char *cmd, const char *path, const lsc_adapter *ad, const char *base_path,
                   int factors_only)
{
    int i = ana_dora_first(ad);
    if (i < 0 || base_path || factors_only)
        return CLI_OK;
    return cli_error(cmd, CLI_FAIL, "%s: module %s is DoRA: its effective update needs the base "
                                    "(--base MODEL), or --factors-only to analyse s·B·A",
                     path, ad->modules[i].name);
}

/* The base weight of m as float32 (caller frees), oriented as stored
 * (*transposed: [k, d]); NULL after recording the error. */
static float *base_weight(const ana_base *b, const lsc_adapter *ad, const lsc_adapter_module *m,
                          int *transposed, ana_msgs *msgs)
{
    char why[2000];
    ana_base_mat bm;
    int found = ana_base_match(b, ad, m, &bm, why, sizeof why);
    if (found == 0) {
        ana_msg_error(msgs, "%s: no base weight for DoRA module %s (tried %s)", b->path, m->name, why);
        return NULL;
    }
    if (found < 0) {
        ana_msg_error(msgs, "%s: %s", b->path, why);
        return NULL;
    }
    lsc_error err = {0};
    float *W = ana_base_mat_read(&bm, &err);
    if (!W) {
        ana_msg_error(msgs, "%s: %s", b->path, err.msg[0] ? err.msg : lsc_strerror(err.code));
        return NULL;
    }
    *transposed = bm.transposed;
    return W;
}

int ana_dora_effective(const ana_base *b, const lsc_adapter *ad, const lsc_adapter_module *m,
                       double *dW, ana_msgs *msgs)
{
    int tr = 0;
    float *W = base_weight(b, ad, m, &tr, msgs);
    if (!W)
        return CLI_FAIL;
    lsc_error err = {0};
    int rc = lsc_dora_delta(m->out_features, m->in_features, m->r, W, tr, m->A, m->B, m->scaling,
                            m->magnitude, dW, NULL, &err);
    free(W);
    if (rc != LSC_OK)
        return ana_msg_error(msgs, "%s: module %s: %s", b->path, m->name, err.msg);
    return CLI_OK;
}

int ana_dora_write_attrs(lsc_h5 *h, const char *g, const lsc_adapter_module *m, int effective,
                         lsc_error *err)
{
    if (m->kind != LSC_ADAPTER_DORA)
        return LSC_OK;
    int rc = lsc_h5_attr_str(h, g, "update", effective ? ANA_DORA_UPDATE_EFFECTIVE : ANA_DORA_UPDATE_FACTORS,
                             err);
    return rc != LSC_OK ? rc : lsc_h5_attr_int(h, g, "effective_update", effective, err);
}

const char *ana_dora_note(const lsc_adapter_module *m, int effective)
{
    if (m->kind != LSC_ADAPTER_DORA)
        return "";
    return effective ? "  [DoRA effective update]" : "  [DoRA: factors s·B·A, NOT the effective DoRA update]";
}
