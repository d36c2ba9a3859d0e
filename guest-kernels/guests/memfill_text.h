/* Text-like page content: words from a small dictionary picked by a
 * per-page seeded rng, with spaces and the odd newline. Repeated words give
 * lz4 matches (about 2.5-4x), yet no two pages are alike, so the host can
 * compress these pages but not merge them. */
#ifndef MEMFILL_TEXT_H
#define MEMFILL_TEXT_H

#include "rt.h"

static const char *const text_words[] = {
    "the",     "memory", "of",       "a",       "virtual", "machine", "is",
    "page",    "and",    "host",     "guest",   "kernel",  "to",      "in",
    "that",    "cold",   "hot",      "swap",    "budget",  "with",    "for",
    "request", "server", "response", "cache",   "value",   "key",     "table",
    "index",   "query",  "select",   "from",    "where",   "order",   "by",
    "time",    "error",  "warning",  "info",    "debug",   "user",    "session",
    "http",    "GET",    "POST",     "200",     "404",     "json",    "string",
    "number",  "true",   "false",    "null",    "config",  "service", "thread",
    "lock",    "queue",  "worker",   "started", "stopped", "ok",      "id",
    "name",
};
#define TEXT_WORDS (sizeof text_words / sizeof text_words[0])

/* Fills one page with text from `seed`; the caller hashes it. */
static void fill_text(uint8_t *pg, uint64_t seed)
{
    struct rt_rng r;
    rt_rng_seed(&r, seed);
    unsigned off = 0;
    while (off < RT_PAGE_SIZE) {
        uint64_t x = rt_rng_next(&r);
        const char *w = text_words[rt_mul_hi(x, TEXT_WORDS)];
        while (*w && off < RT_PAGE_SIZE)
            pg[off++] = (uint8_t)*w++;
        if (off < RT_PAGE_SIZE)
            pg[off++] = (x & 0xf) == 0 ? '\n' : ' ';
    }
}

#endif
