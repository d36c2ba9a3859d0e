/* Cheap deterministic PRNGs (no crypto needed): splitmix64 for seeding
 * and per-word content streams, xorshift64* for general random picks. */
#include "rt.h"

uint64_t rt_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t rt_splitmix64(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15ull;
    return rt_mix64(*state);
}

void rt_rng_seed(struct rt_rng *r, uint64_t seed)
{
    /* xorshift must never hold 0; splitmix output of any seed is fine
     * except the (astronomically unlikely) 0, which we patch. */
    r->s = rt_mix64(seed + 0x9e3779b97f4a7c15ull);
    if (r->s == 0)
        r->s = 0x5eedull;
}

uint64_t rt_rng_next(struct rt_rng *r)
{
    uint64_t x = r->s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->s = x;
    return x * 0x2545f4914f6cdd1dull;
}

uint64_t rt_mul_hi(uint64_t a, uint64_t b)
{
    /* A single `mul`; __int128 needs no libgcc for multiplication. */
    __extension__ typedef unsigned __int128 u128;
    return (uint64_t)(((u128)a * b) >> 64);
}

uint64_t rt_rng_below(struct rt_rng *r, uint64_t n)
{
    /* Lemire's multiply-shift: bias is at most n/2^64, irrelevant here. */
    return rt_mul_hi(rt_rng_next(r), n);
}
