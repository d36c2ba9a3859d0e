/* Log-linear latency histogram (HdrHistogram's layout, coarse): 8 linear
 * sub-buckets per power of two of nanoseconds, so any percentile is within
 * 12.5% of the true value, in a fixed 4 KiB table with no floating point. */
#ifndef MEMFILL_HIST_H
#define MEMFILL_HIST_H

#include "rt.h"

#define HIST_SUB_BITS 3
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS (64 * HIST_SUB)

struct hist {
    uint64_t count[HIST_BUCKETS];
    uint64_t n, max;
};

static inline unsigned hist_bucket(uint64_t v)
{
    if (v < HIST_SUB)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* v in [2^e, 2^(e+1)) */
    unsigned sub = (unsigned)(v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1);
    return (e - HIST_SUB_BITS + 1) * HIST_SUB + sub;
}

/* The largest value that lands in bucket b (what percentiles report). */
static inline uint64_t hist_upper(unsigned b)
{
    if (b < HIST_SUB)
        return b;
    unsigned e = b / HIST_SUB + HIST_SUB_BITS - 1, sub = b % HIST_SUB;
    uint64_t lo = (1ull << e) + ((uint64_t)sub << (e - HIST_SUB_BITS));
    return lo + (1ull << (e - HIST_SUB_BITS)) - 1;
}

static inline void hist_add(struct hist *h, uint64_t v)
{
    h->count[hist_bucket(v)]++;
    h->n++;
    if (v > h->max)
        h->max = v;
}

static void hist_clear(struct hist *h)
{
    memset(h, 0, sizeof *h);
}

static void hist_merge(struct hist *into, const struct hist *from)
{
    for (unsigned b = 0; b < HIST_BUCKETS; b++)
        into->count[b] += from->count[b];
    into->n += from->n;
    if (from->max > into->max)
        into->max = from->max;
}

/* Value at per-million `ppm` (500000 = median); 0 when empty. */
static uint64_t hist_percentile(const struct hist *h, uint32_t ppm)
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (h->n - 1) * ppm / RT_PPM_ONE + 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < HIST_BUCKETS; b++) {
        seen += h->count[b];
        if (seen >= rank)
            return hist_upper(b) < h->max ? hist_upper(b) : h->max;
    }
    return h->max;
}

/* Non-empty buckets as `memfill: hist b:count ...` lines (short enough for
 * the 512-byte console buffer), so the host can merge VMs exactly. */
static void hist_print(const struct hist *h)
{
    unsigned on_line = 0;
    for (unsigned b = 0; b < HIST_BUCKETS; b++) {
        if (!h->count[b])
            continue;
        if (on_line == 0)
            rt_printf("memfill: hist");
        rt_printf(" %u:%lu", b, (unsigned long)h->count[b]);
        if (++on_line == 16) {
            rt_printf("\n");
            on_line = 0;
        }
    }
    if (on_line)
        rt_printf("\n");
}

#endif
