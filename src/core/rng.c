/*
 * rng.c — PCG32 (M. E. O'Neill, "PCG: A Family of Simple Fast Space-Efficient
 * Statistically Good Algorithms for Random Number Generation", 2014):
 * the pcg32 member, 64-bit LCG state with the XSH-RR output function.
 *
 * Only unsigned 64-bit arithmetic (wrapping is defined in C) and fixed
 * constants, so a seed gives the same stream on every platform, compiler and
 * build type; tests/test_rng.c pins the published pcg32-demo output.
 */
#include "tempscale.h"

#define PCG32_MULT 6364136223846793005ull

uint32_t ts_rng_u32(ts_rng *rng)
{
    uint64_t old = rng->state;
    rng->state = old * PCG32_MULT + rng->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
    uint32_t rot = (uint32_t)(old >> 59);
    return (xorshifted >> rot) | (xorshifted << ((32u - rot) & 31u));
}

void ts_rng_seed_stream(ts_rng *rng, uint64_t seed, uint64_t stream)
{
    rng->state = 0;
    rng->inc = (stream << 1) | 1u;
    (void)ts_rng_u32(rng);
    rng->state += seed;
    (void)ts_rng_u32(rng);
}

void ts_rng_seed(ts_rng *rng, uint64_t seed)
{
    ts_rng_seed_stream(rng, seed, 54);
}

double ts_rng_uniform(ts_rng *rng)
{
    uint64_t a = ts_rng_u32(rng) >> 5; /* 27 bits */
    uint64_t b = ts_rng_u32(rng) >> 6; /* 26 bits */
    return (double)(a * 67108864u + b) * (1.0 / 9007199254740992.0);
}
