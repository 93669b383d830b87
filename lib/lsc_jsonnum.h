/*
 * lsc_jsonnum.h — numbers read from JSON files, checked before any
 * conversion (jsonnum.c).
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 */
#ifndef LSC_JSONNUM_H
#define LSC_JSONNUM_H

#include "lsc_error.h"

// ---- JSON numbers (jsonnum.c) ----

/* v (a JSON number's double, e.g. cJSON's valuedouble) checked before it is
 * converted: finite, within [lo, hi], and integral when integral is
 * non-zero, so that (int)v or (long long)v is then defined. LSC_OK, or
 * LSC_EFORMAT with one line "FILE: KEY must be an integer in [lo, hi]
 * (got V)" ("a positive integer, at most hi" when lo is 1, "a
 * non-negative ..." when 0; "a finite number in ..." when not integral). */
int lsc_json_num_check(double v, double lo, double hi, int integral, const char *file, const char *key,
                       lsc_error *err);

#endif /* LSC_JSONNUM_H */
