/* A cheap guest clock for per-operation latency: rdtsc (CR4.TSD is clear,
 * so it works at CPL 3 without an exit) scaled to ns by a calibration
 * against the TIME hypercall, which costs a VM exit per call. */
#ifndef MEMFILL_CLOCK_H
#define MEMFILL_CLOCK_H

#include "rt.h"

#define CLOCK_SHIFT 24 /* ns per tick as 8.24 fixed point */

struct tsc_clock {
    uint64_t tsc0, ns0;
    uint64_t ns_per_tick_fp; /* 0 until calibrated */
};

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static void tsc_clock_begin(struct tsc_clock *c)
{
    c->ns0 = rt_now_ns();
    c->tsc0 = rdtsc();
    c->ns_per_tick_fp = 0;
}

/* Ends the calibration; waits until at least 20 ms have passed since
 * tsc_clock_begin so the ratio is good to well under 1%. */
static void tsc_clock_calibrate(struct tsc_clock *c)
{
    uint64_t ns = rt_now_ns() - c->ns0;
    if (ns < 20 * RT_NS_PER_MS) {
        rt_sleep_ns(20 * RT_NS_PER_MS - ns);
        ns = rt_now_ns() - c->ns0;
    }
    uint64_t ticks = rdtsc() - c->tsc0;
    /* ns < 2^40 (18 min) keeps the shift in range; longer fills lose
     * nothing by calibrating over their first 2^40 ns only. */
    if (ns >= (1ull << 40)) {
        ticks = ticks / (ns >> 39);
        ns = 1ull << 39;
    }
    c->ns_per_tick_fp =
        ticks ? (ns << CLOCK_SHIFT) / ticks : (1ull << CLOCK_SHIFT);
    if (c->ns_per_tick_fp == 0)
        c->ns_per_tick_fp = 1;
}

/* Ticks to ns; the 128-bit product needs no libgcc (a single `mul`). */
static inline uint64_t tsc_to_ns(const struct tsc_clock *c, uint64_t ticks)
{
    __extension__ typedef unsigned __int128 u128;
    return (uint64_t)(((u128)ticks * c->ns_per_tick_fp) >> CLOCK_SHIFT);
}

#endif
