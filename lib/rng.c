/*
 * rng.c — a seeded, caller-owned random stream (splitmix64 seeding into
 * xoshiro-style xorshift64*). Deterministic across machines; not for
 * cryptography. State is one uint64_t owned by the caller.
 */
#include <math.h>

#include "lsc_internal.h"

LSC_WRAPS void lsc_rng_seed(uint64_t *state, uint64_t seed)
{
    /* splitmix64 scrambles small seeds; state must never be 0 */
    uint64_t z = seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    *state = z ? z : 0x2545F4914F6CDD1Dull;
}

LSC_WRAPS uint64_t lsc_rng_u64(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

uint32_t lsc_rng_u32(uint64_t *state)
{
    return (uint32_t)(lsc_rng_u64(state) >> 32);
}

float lsc_rng_uniform(uint64_t *state)
{
    return (float)(lsc_rng_u32(state) >> 8) / 16777216.0f;
}

double lsc_rng_uniform_d(uint64_t *state)
{
    return (double)(lsc_rng_u64(state) >> 11) / 9007199254740992.0;
}

double lsc_rng_normal(uint64_t *state)
{
    /* Box-Muller, one value per call (the second is dropped to keep the
     * state a single word) */
    double u1 = lsc_rng_uniform_d(state);
    double u2 = lsc_rng_uniform_d(state);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}
