/*
 * lsc_rng.h — random numbers (rng.c).
 * Part of liblorascope's public interface; include "lsc.h" for all of it.
 */
#ifndef LSC_RNG_H
#define LSC_RNG_H

#include <stddef.h>
#include <stdint.h>

#include "lsc_error.h"

// ---- random numbers (rng.c) ----
/* Caller-owned 64-bit state; the same seed gives the same stream everywhere. */

void     lsc_rng_seed(uint64_t *state, uint64_t seed);
uint64_t lsc_rng_u64(uint64_t *state);
uint32_t lsc_rng_u32(uint64_t *state);
float    lsc_rng_uniform(uint64_t *state);   /* [0, 1) with 24 random bits */
double   lsc_rng_uniform_d(uint64_t *state); /* [0, 1) with 53 random bits */
double   lsc_rng_normal(uint64_t *state);    /* standard normal (Box-Muller) */

#endif /* LSC_RNG_H */
