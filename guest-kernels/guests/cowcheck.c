/* Copy-on-write correctness check for a dedup engine. Pattern A makes
 * page pairs (2k, 2k+1) identical, and identical across VMs, so the host
 * can merge them; pattern B then rewrites only the odd pages, which must
 * break the sharing without disturbing the even twin.
 *   pages=N (256) rounds=R (3) sleep_ms=S (50) */
#include "rt.h"

#define WORDS (RT_PAGE_SIZE / 8)

/* Seed of the expected content of `page` after `phase` of `round`. */
static uint64_t pattern_seed(uint64_t round, uint64_t page, int phase_b)
{
    if (!phase_b || (page & 1) == 0)
        return rt_mix64(0xc0c0a000ull + round) ^ rt_mix64(page >> 1);
    return rt_mix64(0xc0c0b000ull + round) ^ rt_mix64(page + 0x100000000ull);
}

static void fill(uint64_t *pg, uint64_t seed)
{
    for (unsigned w = 0; w < WORDS; w++)
        pg[w] = rt_splitmix64(&seed);
}

static int check(const uint64_t *pg, uint64_t seed)
{
    for (unsigned w = 0; w < WORDS; w++)
        if (pg[w] != rt_splitmix64(&seed))
            return 0;
    return 1;
}

/* Verify every page; on failure report it and exit the guest with 2. */
static void verify_all(uint8_t *base, uint64_t npages, uint64_t round,
                       int phase_b, const char *when)
{
    for (uint64_t i = 0; i < npages; i++) {
        uint64_t *pg = (uint64_t *)(base + i * RT_PAGE_SIZE);
        if (!check(pg, pattern_seed(round, i, phase_b))) {
            rt_printf("cowcheck: MISMATCH page=%lu round=%lu %s\n",
                      (unsigned long)i, (unsigned long)round, when);
            rt_exit(2);
        }
    }
}

int main(const struct foldvm_boot_info *bi, const char *cmdline)
{
    (void)bi;
    (void)cmdline;
    uint64_t npages = rt_arg_u64("pages", 256);
    uint64_t rounds = rt_arg_u64("rounds", 3);
    uint64_t sleep_ns = rt_arg_u64("sleep_ms", 50) * RT_NS_PER_MS;

    uint8_t *base = rt_alloc_pages(npages);
    if (base == NULL) {
        rt_printf("cowcheck: cannot allocate %lu pages (free %lu)\n",
                  (unsigned long)npages, (unsigned long)rt_heap_pages_free());
        return 1;
    }

    for (uint64_t r = 0; r < rounds; r++) {
        for (uint64_t i = 0; i < npages; i++)
            fill((uint64_t *)(base + i * RT_PAGE_SIZE), pattern_seed(r, i, 0));
        verify_all(base, npages, r, 0, "after-write-a");
        rt_sleep_ns(sleep_ns); /* let the host merge the pairs */
        verify_all(base, npages, r, 0, "after-sleep-a");

        for (uint64_t i = 1; i < npages; i += 2)
            fill((uint64_t *)(base + i * RT_PAGE_SIZE), pattern_seed(r, i, 1));
        verify_all(base, npages, r, 1, "after-write-b");
        rt_sleep_ns(sleep_ns);
        verify_all(base, npages, r, 1, "after-sleep-b");
    }

    rt_printf("cowcheck: ok rounds=%lu pages=%lu\n", (unsigned long)rounds,
              (unsigned long)npages);
    return 0;
}
