/*
 * jsonnum.c — the one check every number read from a JSON file passes
 * before it is converted to an integer or used as a bounded quantity
 * (issue 15: "r": 1e300 cast to int was undefined behaviour). Not a JSON
 * reader: callers take the double from cJSON and hand it here.
 */
#include <math.h>

#include "lsc_internal.h"

int lsc_json_num_check(double v, double lo, double hi, int integral, const char *file, const char *key,
                       lsc_error *err)
{
    if (isfinite(v) && v >= lo && v <= hi && (!integral || v == floor(v)))
        return LSC_OK;
    if (integral && (lo == 0 || lo == 1))
        LSC_FAIL(err, LSC_EFORMAT, "%s: %s must be a %s integer, at most %.15g (got %.15g)", file, key,
                 lo == 1 ? "positive" : "non-negative", hi, v);
    LSC_FAIL(err, LSC_EFORMAT, "%s: %s must be %s in [%.15g, %.15g] (got %.15g)", file, key,
             integral ? "an integer" : "a finite number", lo, hi, v);
}
