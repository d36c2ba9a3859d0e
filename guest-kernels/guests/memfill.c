/* Fills guest RAM with a controlled mix of page kinds so the host's dedup
 * engine has something measurable to merge, then optionally churns and
 * verifies the contents while the host works.
 *
 *   shared=R  fraction of pages identical across VMs (same index, same
 *             bytes: content = f(0x5eed, page index))
 *   zero=Z    fraction of explicitly written zero pages
 *             (the rest is unique: f(seed, page index))
 *   seed=S    per-VM seed for unique pages (default vm_index + 1)
 *   pages=N   cap on filled pages (default: whole heap minus checksums)
 *   churn=W   rewrite W random pages per second, in 10 ms bursts
 *   verify    re-check every page every verify_ms=M (500) ms
 *   duration_ms=D  stop after D ms: final verify, exit 0 or 3
 *   min_writes=N   with duration_ms, go on past D ms until N churn writes
 *                  are done (a write count that holds on a loaded host)
 *   exit_after_fill  exit 0 right after filling
 *   text=T    fraction of compressible text-like pages (words from a small
 *             dictionary, unique per page: f(seed, page index))
 *   hot=H     the first H of the filled pages are a hot set: after filling,
 *             loop forever on operations (read a random hot page and check
 *             its checksum, rewrite one cache line, update the checksum),
 *             each timed with the TSC into a latency histogram
 *   cold_ops_ppm=N  that many operations per million read a random cold
 *             page instead (checked too)
 *   report_ms=M  print the hot-set statistics every M ms (1000)
 *   idle      with hot=H: do not run operations, only answer the mailbox
 *   mailbox   print `memfill: mailbox gpa=0x...` and poll that page every
 *             ms for host requests (memfill_mailbox.h)
 * Without churn/verify/duration/hot it fills, reports, and idles forever. */
#include "rt.h"

#include "memfill_clock.h"
#include "memfill_hist.h"
#include "memfill_mailbox.h"
#include "memfill_text.h"

#define WORDS (RT_PAGE_SIZE / 8)
#define BLOCK_PAGES 16 /* class granularity: 64 KiB runs */
#define COMMON_SEED 0x5eedull
#define TICK_NS (10 * RT_NS_PER_MS)
#define IDLE_NS (100 * RT_NS_PER_MS)
#define MAX_MISMATCH_REPORTS 8

enum page_class { SHARED, ZERO, TEXT, UNIQUE };

static uint8_t *base;   /* first filled page */
static uint64_t *csum;  /* per-page checksum */
static uint64_t npages;
static uint64_t writes; /* churn rewrites so far */
static uint64_t mismatch_reports;
static struct rt_rng churn_rng;

static inline uint64_t *page(uint64_t i)
{
    return (uint64_t *)(base + i * RT_PAGE_SIZE);
}

/* FNV-1a style multiply-xor over 64-bit words, in four independent lanes
 * so the multiply latency overlaps; not cryptographic, just fast. */
#define H_INIT 0xcbf29ce484222325ull
#define H_PRIME 0x100000001b3ull
static uint64_t hash_lanes(uint64_t a, uint64_t b, uint64_t c, uint64_t d)
{
    return rt_mix64(a ^ rt_mix64(b ^ rt_mix64(c ^ rt_mix64(d))));
}

static uint64_t hash_page(const uint64_t *pg)
{
    uint64_t h0 = H_INIT, h1 = H_INIT + 1, h2 = H_INIT + 2, h3 = H_INIT + 3;
    for (unsigned w = 0; w < WORDS; w += 4) {
        h0 = (h0 ^ pg[w]) * H_PRIME;
        h1 = (h1 ^ pg[w + 1]) * H_PRIME;
        h2 = (h2 ^ pg[w + 2]) * H_PRIME;
        h3 = (h3 ^ pg[w + 3]) * H_PRIME;
    }
    return hash_lanes(h0, h1, h2, h3);
}

/* Write w0 then a splitmix64 stream from `st`; returns the page hash
 * (computed on the fly, identical to hash_page of the result). */
static uint64_t fill_page(uint64_t *pg, uint64_t w0, uint64_t st)
{
    uint64_t h0 = H_INIT, h1 = H_INIT + 1, h2 = H_INIT + 2, h3 = H_INIT + 3;
    uint64_t x0 = w0, x1, x2, x3;
    for (unsigned w = 0; w < WORDS; w += 4) {
        if (w != 0)
            x0 = rt_splitmix64(&st);
        x1 = rt_splitmix64(&st);
        x2 = rt_splitmix64(&st);
        x3 = rt_splitmix64(&st);
        pg[w] = x0;
        pg[w + 1] = x1;
        pg[w + 2] = x2;
        pg[w + 3] = x3;
        h0 = (h0 ^ x0) * H_PRIME;
        h1 = (h1 ^ x1) * H_PRIME;
        h2 = (h2 ^ x2) * H_PRIME;
        h3 = (h3 ^ x3) * H_PRIME;
    }
    return hash_lanes(h0, h1, h2, h3);
}

static uint64_t fill_seeded(uint64_t *pg, uint64_t seed)
{
    uint64_t st = seed;
    uint64_t w0 = rt_splitmix64(&st);
    return fill_page(pg, w0, st);
}

/* Class of a 16-page block, the same in every VM. A Weyl sequence
 * (golden-ratio stride) spreads classes evenly, so the realised fractions
 * match the request closely even for small fills. */
static enum page_class block_class(uint64_t block, uint32_t shared_ppm,
                                   uint32_t zero_ppm, uint32_t text_ppm)
{
    uint64_t x = rt_mul_hi((block + COMMON_SEED) * 0x9e3779b97f4a7c15ull,
                           RT_PPM_ONE);
    if (x < shared_ppm)
        return SHARED;
    if (x < (uint64_t)shared_ppm + zero_ppm)
        return ZERO;
    if (x < (uint64_t)shared_ppm + zero_ppm + text_ppm)
        return TEXT;
    return UNIQUE;
}

/* Largest n with n pages plus an n-entry checksum table fitting in h. */
static uint64_t max_fill(uint64_t h)
{
    uint64_t n = h * 512 / 513;
    while (n > 0 && n + (n * 8 + RT_PAGE_SIZE - 1) / RT_PAGE_SIZE > h)
        n--;
    return n;
}

static uint64_t verify_round(uint64_t round)
{
    uint64_t bad = 0;
    for (uint64_t i = 0; i < npages; i++) {
        if (hash_page(page(i)) == csum[i])
            continue;
        bad++;
        if (mismatch_reports < MAX_MISMATCH_REPORTS) {
            mismatch_reports++;
            rt_printf("memfill: MISMATCH page=%lu\n", (unsigned long)i);
        }
    }
    rt_printf("memfill: verify round=%lu pages=%lu mismatches=%lu writes=%lu\n",
              (unsigned long)round, (unsigned long)npages, (unsigned long)bad,
              (unsigned long)writes);
    return bad;
}

static void rewrite_random_page(void)
{
    uint64_t i = rt_rng_below(&churn_rng, npages);
    writes++;
    /* Leading per-write counter: a rewritten page never equals another. */
    csum[i] = fill_page(page(i), writes, rt_rng_next(&churn_rng));
}

/* Pages that should have been rewritten `elapsed` ns into the run. */
static uint64_t churn_due(uint64_t rate, uint64_t elapsed)
{
    return rate * (elapsed / RT_NS_PER_SEC) +
           rate * (elapsed % RT_NS_PER_SEC) / RT_NS_PER_SEC;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* The hot set and its statistics (see `hot=` above). */
static uint64_t hot_n;
static uint32_t cold_ppm;
static struct rt_rng hot_rng;
static struct tsc_clock clk;
static struct hist lat_interval, lat_total;
static uint64_t ops_interval, ops_total, cold_ops_total, hot_mismatches;
static uint64_t interval_start_ns, total_start_ns;

static void check_page(uint64_t i)
{
    if (hash_page(page(i)) == csum[i])
        return;
    hot_mismatches++;
    if (mismatch_reports < MAX_MISMATCH_REPORTS) {
        mismatch_reports++;
        rt_printf("memfill: MISMATCH page=%lu (hot loop)\n", (unsigned long)i);
    }
}

/* One operation: a read of a whole page (its checksum checked) and, for a
 * hot page, a rewrite of one cache line; a lost write shows up at the next
 * read or the final verify. */
static void hot_op(void)
{
    uint64_t t0 = rdtsc();
    if (cold_ppm && npages > hot_n &&
        rt_rng_below(&hot_rng, RT_PPM_ONE) < cold_ppm) {
        check_page(hot_n + rt_rng_below(&hot_rng, npages - hot_n));
        cold_ops_total++;
    } else {
        uint64_t i = rt_rng_below(&hot_rng, hot_n);
        uint64_t *pg = page(i);
        check_page(i);
        uint64_t st = rt_rng_next(&hot_rng), *line = pg + (st & 63) * 8;
        line[0] = ++writes; /* a rewritten page never equals another */
        for (unsigned w = 1; w < 8; w++)
            line[w] = rt_splitmix64(&st);
        csum[i] = hash_page(pg);
    }
    hist_add(&lat_interval, tsc_to_ns(&clk, rdtsc() - t0));
    ops_interval++;
}

static void hot_stats_reset(uint64_t now)
{
    hist_clear(&lat_interval);
    hist_clear(&lat_total);
    ops_interval = ops_total = cold_ops_total = 0;
    interval_start_ns = total_start_ns = now;
}

static uint64_t per_second(uint64_t n, uint64_t ns)
{
    return ns ? n * 1000 / (ns / RT_NS_PER_MS ? ns / RT_NS_PER_MS : 1) : 0;
}

static void hot_report(uint64_t now)
{
    rt_printf(
        "memfill: hot ops=%lu ops_per_s=%lu lat_p50_ns=%lu lat_p99_ns=%lu "
        "lat_max_ns=%lu\n",
        (unsigned long)ops_interval,
        (unsigned long)per_second(ops_interval, now - interval_start_ns),
        (unsigned long)hist_percentile(&lat_interval, 500000),
        (unsigned long)hist_percentile(&lat_interval, 990000),
        (unsigned long)lat_interval.max);
    hist_merge(&lat_total, &lat_interval);
    ops_total += ops_interval;
    hist_clear(&lat_interval);
    ops_interval = 0;
    interval_start_ns = now;
}

static void hot_summary(uint64_t now)
{
    hot_report(now);
    uint64_t ns = now - total_start_ns;
    rt_printf("memfill: hot total ops=%lu elapsed_ms=%lu ops_per_s=%lu "
              "lat_p50_ns=%lu "
              "lat_p99_ns=%lu lat_max_ns=%lu cold_ops=%lu hot_pages=%lu "
              "mismatches=%lu\n",
              (unsigned long)ops_total, (unsigned long)(ns / RT_NS_PER_MS),
              (unsigned long)per_second(ops_total, ns),
              (unsigned long)hist_percentile(&lat_total, 500000),
              (unsigned long)hist_percentile(&lat_total, 990000),
              (unsigned long)lat_total.max, (unsigned long)cold_ops_total,
              (unsigned long)hot_n, (unsigned long)hot_mismatches);
    hist_print(&lat_total);
}

/* Reads one word of every hot page: the working set a woken VM needs. */
static uint64_t touch_hot_set(void)
{
    uint64_t t0 = rt_now_ns(), sum = 0;
    for (uint64_t i = 0; i < hot_n; i++)
        sum += *(volatile uint64_t *)page(i);
    (void)sum;
    return rt_now_ns() - t0;
}

/* Every page gets new unique content: a copy-on-write storm for the host. */
static void storm(void)
{
    uint64_t t0 = rt_now_ns();
    for (uint64_t i = 0; i < npages; i++) {
        writes++;
        csum[i] = fill_page(page(i), writes, rt_rng_next(&churn_rng));
    }
    rt_printf("memfill: storm done pages=%lu ms=%lu\n", (unsigned long)npages,
              (unsigned long)((rt_now_ns() - t0) / RT_NS_PER_MS));
}

/* 1 when the run should stop. */
static int answer_mailbox(struct mailbox *mb, uint64_t *last, uint64_t *round,
                          uint64_t *bad)
{
    uint64_t cmd = 0, req = mailbox_poll(mb, last, &cmd);
    if (req == 0)
        return 0;
    if (cmd == MB_PING) {
        /* The answer first (what a woken VM's caller waits for), then the
         * whole working set, timed on its own. */
        rt_printf("memfill: pong req=%lu\n", (unsigned long)req);
        uint64_t us = touch_hot_set() / 1000;
        rt_printf("memfill: touched req=%lu ms=%lu.%03lu\n", (unsigned long)req,
                  (unsigned long)(us / 1000), (unsigned long)(us % 1000));
    } else if (cmd == MB_RESET) {
        hot_stats_reset(rt_now_ns());
        rt_printf("memfill: ack req=%lu cmd=reset\n", (unsigned long)req);
    } else if (cmd == MB_STORM) {
        storm();
        *bad += verify_round(++*round);
    } else if (cmd == MB_STOP) {
        rt_printf("memfill: ack req=%lu cmd=stop\n", (unsigned long)req);
        return 1;
    }
    return 0;
}

int main(const struct foldvm_boot_info *bi, const char *cmdline)
{
    (void)cmdline;
    uint32_t shared_ppm = rt_arg_ppm("shared", 0);
    uint32_t zero_ppm = rt_arg_ppm("zero", 0);
    if (zero_ppm > RT_PPM_ONE - shared_ppm)
        zero_ppm = RT_PPM_ONE - shared_ppm;
    uint32_t text_ppm = rt_arg_ppm("text", 0);
    if (text_ppm > RT_PPM_ONE - shared_ppm - zero_ppm)
        text_ppm = RT_PPM_ONE - shared_ppm - zero_ppm;
    uint32_t hot_ppm = rt_arg_ppm("hot", 0);
    cold_ppm = (uint32_t)min_u64(rt_arg_u64("cold_ops_ppm", 0), RT_PPM_ONE);
    uint64_t report_ns = rt_arg_u64("report_ms", 1000) * RT_NS_PER_MS;
    int run_hot = hot_ppm && !rt_arg_flag("idle");
    tsc_clock_begin(&clk);
    uint64_t seed = rt_arg_u64("seed", bi->vm_index + 1);
    uint64_t churn = min_u64(rt_arg_u64("churn", 0), 1000000000ull);
    int verify = rt_arg_flag("verify");
    uint64_t verify_ns = rt_arg_u64("verify_ms", 500) * RT_NS_PER_MS;
    uint64_t duration_ns = rt_arg_u64("duration_ms", 0) * RT_NS_PER_MS;
    uint64_t min_writes = churn ? rt_arg_u64("min_writes", 0) : 0;

    struct mailbox *mb = NULL;
    if (rt_arg_flag("mailbox")) {
        mb = rt_alloc_pages(1);
        if (mb == NULL) {
            rt_printf("memfill: heap too small for the mailbox\n");
            return 1;
        }
        memset(mb, 0, RT_PAGE_SIZE);
    }

    uint64_t heap = rt_heap_pages_free();
    npages = min_u64(rt_arg_u64("pages", UINT64_MAX), max_fill(heap));
    uint64_t table_pages = (npages * 8 + RT_PAGE_SIZE - 1) / RT_PAGE_SIZE;
    csum = rt_alloc_pages(table_pages);
    base = rt_alloc_pages(npages);
    if (npages == 0 || csum == NULL || base == NULL) {
        rt_printf("memfill: heap too small (%lu pages)\n",
                  (unsigned long)heap);
        return 1;
    }

    uint64_t counts[4] = {0, 0, 0, 0};
    uint64_t zero_hash = 0;
    for (uint64_t i = 0; i < npages; i++) {
        enum page_class c =
            block_class(i / BLOCK_PAGES, shared_ppm, zero_ppm, text_ppm);
        counts[c]++;
        if (c == SHARED) {
            csum[i] = fill_seeded(page(i), rt_mix64(COMMON_SEED ^ rt_mix64(i)));
        } else if (c == ZERO) {
            memset(page(i), 0, RT_PAGE_SIZE); /* touch it: host sees a write */
            if (zero_hash == 0)
                zero_hash = hash_page(page(i));
            csum[i] = zero_hash;
        } else if (c == TEXT) {
            fill_text((uint8_t *)page(i),
                      rt_mix64(seed ^ rt_mix64(i + 0x74657874ull)));
            csum[i] = hash_page(page(i));
        } else {
            /* Different mixing than SHARED, so unique never meets shared. */
            csum[i] = fill_seeded(page(i),
                                  rt_mix64(seed * 0x9e3779b97f4a7c15ull) ^
                                      rt_mix64(i + 0x756e69717565ull));
        }
    }
    rt_printf("memfill: filled %lu pages shared=%lu zero=%lu unique=%lu "
              "base=0x%lx\n",
              (unsigned long)npages, (unsigned long)counts[SHARED],
              (unsigned long)counts[ZERO], (unsigned long)counts[UNIQUE],
              (unsigned long)(uintptr_t)base);
    if (counts[TEXT])
        rt_printf("memfill: text pages=%lu\n", (unsigned long)counts[TEXT]);
    hot_n = npages * hot_ppm / RT_PPM_ONE;
    if (hot_ppm && hot_n == 0)
        hot_n = 1;
    if (mb)
        rt_printf("memfill: mailbox gpa=0x%lx\n", (unsigned long)(uintptr_t)mb);
    if (rt_arg_flag("exit_after_fill"))
        return 0;

    rt_rng_seed(&churn_rng, seed ^ 0xc4a1ull);
    rt_rng_seed(&hot_rng, seed ^ 0x407ull);
    if (hot_n) {
        tsc_clock_calibrate(&clk);
        rt_printf("memfill: hot pages=%lu tsc_ns_per_tick_fp24=%lu\n",
                  (unsigned long)hot_n, (unsigned long)clk.ns_per_tick_fp);
    }
    uint64_t start = rt_now_ns();
    uint64_t next_report = start + report_ns, last_req = 0;
    uint64_t batch_ticks =
        run_hot ? (RT_NS_PER_MS << CLOCK_SHIFT) / clk.ns_per_tick_fp : 0;
    hot_stats_reset(start);
    uint64_t end = start + duration_ns;
    uint64_t next_churn = start, next_verify = start + verify_ns;
    uint64_t churn_done = 0, burst_cap = churn / 10 + 1; /* <= 100 ms */
    uint64_t round = 0, mismatches = 0;

    for (;;) {
        uint64_t now = rt_now_ns();
        if (duration_ns && now >= end && writes >= min_writes)
            break;
        if (churn && now >= next_churn) {
            uint64_t due = churn_due(churn, now - start);
            if (due - churn_done > burst_cap)
                churn_done = due - burst_cap; /* drop backlog, stay smooth */
            for (; churn_done < due; churn_done++)
                rewrite_random_page();
            next_churn = now + TICK_NS;
        }
        if (verify && now >= next_verify) {
            mismatches += verify_round(++round);
            next_verify = rt_now_ns() + verify_ns;
        }
        if (mb && answer_mailbox(mb, &last_req, &round, &mismatches))
            break;
        if (run_hot) {
            if (now >= next_report) {
                hot_report(now);
                next_report = now + report_ns;
            }
            /* About a millisecond of operations between clock exits. */
            for (uint64_t t0 = rdtsc(); rdtsc() - t0 < batch_ticks;)
                for (int k = 0; k < 16; k++)
                    hot_op();
            continue;
        }

        uint64_t wake = now + IDLE_NS;
        if (mb)
            wake = min_u64(wake, now + RT_NS_PER_MS);
        if (churn)
            wake = min_u64(wake, next_churn);
        if (verify)
            wake = min_u64(wake, next_verify);
        if (duration_ns && now < end)
            wake = min_u64(wake, end);
        now = rt_now_ns();
        if (wake > now)
            rt_sleep_ns(wake - now);
    }

    if (hot_n)
        hot_summary(rt_now_ns());
    mismatches += hot_mismatches;
    mismatches += verify_round(++round);
    rt_printf("memfill: done writes=%lu mismatches=%lu\n",
              (unsigned long)writes, (unsigned long)mismatches);
    return mismatches ? 3 : 0;
}
