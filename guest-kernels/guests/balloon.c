/* Allocates, frees and verifies memory while the host moves the balloon.
 *
 *   touch           fill every free heap page once, then free it all, so
 *                   the host sees the whole heap resident
 *   keep=MiB        working set filled once and verified throughout (4)
 *   seed=S          content seed of kept and touched pages (default common
 *                   to all VMs, so identical VMs share pages)
 *   scratch=N       single pages held and recycled (256)
 *   churn=N         scratch pages freed and reallocated per tick (8)
 *   tick_ms=T       main loop period (5); the loop sleeps in POLL, which the
 *                   balloon's interrupt ends early
 *   verify_ms=M     verify all data every M ms (200)
 *   duration_ms=D   stop after D ms (0 = no limit)
 *   exit_at_target  stop once the balloon holds its (non-zero) target
 *   exit_on_zero    stop once the balloon held pages and is back at zero,
 *                   after checking that all free memory is usable again
 *   oom_mib=M       once at a non-zero target, allocate M MiB more than is
 *                   free (deflate on OOM must make room), verify, stop
 *   report_threshold=P  free page reporting threshold in pages (512)
 *
 * Exit status: 0 ok, 2 no balloon, 3 data mismatch, 4 device broken,
 * 5 allocation failed, 6 setup failed. */
#include "rt.h"

#define COMMON_SEED 0xba11001ull
#define WORDS (RT_PAGE_SIZE / 8)
#define MAX_REPORTS 8

static uint64_t seed;
static uint64_t mismatches, verified;

static uint64_t page_base(uint64_t tag)
{
    return rt_mix64(seed ^ rt_mix64(tag));
}

static void fill(void *page, uint64_t tag)
{
    uint64_t *w = page;
    uint64_t b = page_base(tag);
    for (unsigned k = 0; k < WORDS; k++)
        w[k] = b + k * 0x9e3779b97f4a7c15ull;
}

static void check(const void *page, uint64_t tag, const char *what)
{
    const uint64_t *w = page;
    uint64_t b = page_base(tag);
    verified++;
    for (unsigned k = 0; k < WORDS; k++) {
        if (w[k] == b + k * 0x9e3779b97f4a7c15ull)
            continue;
        if (mismatches++ < MAX_REPORTS)
            rt_printf("balloon: MISMATCH %s page=0x%lx word=%u\n", what,
                      (unsigned long)(uintptr_t)page, k);
        return;
    }
}

/* Working set: one contiguous run, tags 1..n. */
static uint8_t *keep;
static uint64_t keep_pages;
/* Scratch: single pages from the free stack or bump, recycled by churn. */
static uint8_t **scratch;
static uint64_t *scratch_tag;
static uint64_t scratch_n, next_tag = 1ull << 40;
static struct rt_rng rng;

static void verify_all(void)
{
    for (uint64_t i = 0; i < keep_pages; i++)
        check(keep + i * RT_PAGE_SIZE, 1 + i, "keep");
    for (uint64_t i = 0; i < scratch_n; i++)
        if (scratch[i])
            check(scratch[i], scratch_tag[i], "scratch");
}

static int churn(uint64_t n)
{
    for (uint64_t j = 0; j < n && scratch_n > 0; j++) {
        uint64_t i = rt_rng_below(&rng, scratch_n);
        if (scratch[i]) {
            check(scratch[i], scratch_tag[i], "scratch");
            rt_free_page(scratch[i]);
        }
        scratch[i] = rt_alloc_pages(1);
        if (scratch[i] == NULL)
            return -1;
        scratch_tag[i] = next_tag++;
        fill(scratch[i], scratch_tag[i]);
    }
    return 0;
}

/* Touches every free heap page once (contents shared across VMs), then
 * frees them all: the memory is free but resident on the host. */
static void touch_heap(void)
{
    uint64_t n = rt_heap_pages_free();
    uint8_t *p = rt_alloc_pages_no_oom(n);
    if (p == NULL)
        return;
    for (uint64_t i = 0; i < n; i++)
        fill(p + i * RT_PAGE_SIZE, (1ull << 50) + i);
    for (uint64_t i = n; i-- > 0;)
        rt_free_page(p + i * RT_PAGE_SIZE);
    rt_printf("balloon: touched %lu pages\n", (unsigned long)n);
}

/* Allocates every free page (pfns[] must hold them all), fills and
 * verifies them; returns how many there were. */
static uint64_t use_all_free(uint32_t *pfns, uint64_t cap, int oom)
{
    uint64_t n = 0;
    while (n < cap) {
        void *p = oom ? rt_alloc_pages(1) : rt_alloc_pages_no_oom(1);
        if (p == NULL)
            break;
        pfns[n] = (uint32_t)((uintptr_t)p / RT_PAGE_SIZE);
        fill(p, (1ull << 52) + n);
        n++;
    }
    for (uint64_t i = 0; i < n; i++)
        check((void *)((uintptr_t)pfns[i] * RT_PAGE_SIZE), (1ull << 52) + i, "usable");
    for (uint64_t i = n; i-- > 0;)
        rt_free_page((void *)((uintptr_t)pfns[i] * RT_PAGE_SIZE));
    return n;
}

static int finish(const char *why)
{
    verify_all();
    const struct rt_balloon_state *b = rt_balloon();
    rt_printf("balloon: done (%s) pages=%u target=%u inflated=%lu deflated=%lu "
              "oom_deflated=%lu reported=%lu verified=%lu mismatches=%lu\n",
              why, b->pages, b->target_pages, (unsigned long)b->inflated,
              (unsigned long)b->deflated, (unsigned long)b->oom_deflated,
              (unsigned long)b->reported, (unsigned long)verified, (unsigned long)mismatches);
    return mismatches ? 3 : 0;
}

int main(const struct foldvm_boot_info *bi, const char *cmdline)
{
    (void)cmdline;
    seed = rt_arg_u64("seed", COMMON_SEED);
    keep_pages = rt_arg_u64("keep", 4ull << 20) / RT_PAGE_SIZE;
    scratch_n = rt_arg_u64("scratch", 256);
    uint64_t churn_n = rt_arg_u64("churn", 8);
    uint64_t tick_ns = rt_arg_u64("tick_ms", 5) * RT_NS_PER_MS;
    uint64_t verify_ns = rt_arg_u64("verify_ms", 200) * RT_NS_PER_MS;
    uint64_t duration_ns = rt_arg_u64("duration_ms", 0) * RT_NS_PER_MS;
    uint64_t oom_pages = rt_arg_u64("oom_mib", 0) * 256;
    int exit_at_target = rt_arg_flag("exit_at_target");
    int exit_on_zero = rt_arg_flag("exit_on_zero");
    rt_rng_seed(&rng, seed ^ bi->vm_index);

    if (rt_balloon_init() != 0) {
        rt_puts("balloon: no balloon device");
        return 2;
    }
    rt_balloon_set_report_threshold(rt_arg_u64("report_threshold", 512));
    const struct rt_balloon_state *b = rt_balloon();
    rt_printf("balloon: device ready features=0x%lx target=%u\n", (unsigned long)b->features,
              b->target_pages);

    /* Arrays first, so touching the heap leaves them alone. */
    uint64_t heap_pages = (rt_heap_end() - rt_heap_start()) / RT_PAGE_SIZE;
    uint64_t table_pages = (scratch_n * 16 + RT_PAGE_SIZE - 1) / RT_PAGE_SIZE + 1;
    uint64_t pfn_pages = (heap_pages * 4 + RT_PAGE_SIZE - 1) / RT_PAGE_SIZE;
    scratch = rt_alloc_pages_no_oom(table_pages);
    uint32_t *pfns = rt_alloc_pages_no_oom(pfn_pages);
    keep = keep_pages ? rt_alloc_pages_no_oom(keep_pages) : NULL;
    if (scratch == NULL || pfns == NULL || (keep_pages && keep == NULL)) {
        rt_puts("balloon: heap too small");
        return 6;
    }
    scratch_tag = (uint64_t *)(scratch + scratch_n);
    for (uint64_t i = 0; i < keep_pages; i++)
        fill(keep + i * RT_PAGE_SIZE, 1 + i);
    if (rt_arg_flag("touch"))
        touch_heap();
    for (uint64_t i = 0; i < scratch_n; i++)
        scratch[i] = NULL;
    if (churn(scratch_n) != 0) {
        rt_puts("balloon: scratch allocation failed");
        return 5;
    }

    uint64_t start = rt_now_ns(), next_verify = start + verify_ns;
    uint32_t last_pages = b->pages;
    int held = 0;
    for (;;) {
        if (rt_balloon_wait(tick_ns) < 0)
            return finish("device broken") ? 3 : 4;
        if (b->pages != last_pages) {
            rt_printf("balloon: pages=%u target=%u free=%lu\n", b->pages, b->target_pages,
                      (unsigned long)rt_free_pages_total());
            last_pages = b->pages;
        }
        held |= b->pages > 0;
        if (churn(churn_n) != 0) {
            rt_puts("balloon: allocation failed");
            return 5;
        }
        uint64_t now = rt_now_ns();
        if (now >= next_verify) {
            verify_all();
            next_verify = now + verify_ns;
        }
        int at_target = b->target_pages > 0 && b->pages == b->target_pages;
        if (oom_pages && at_target) {
            uint64_t want = rt_free_pages_total() + oom_pages;
            uint64_t got = use_all_free(pfns, want < heap_pages ? want : heap_pages, 1);
            rt_printf("balloon: oom allocation %lu of %lu pages, balloon now %u\n",
                      (unsigned long)got, (unsigned long)want, b->pages);
            if (got < want)
                return 5;
            return finish("oom");
        }
        if (exit_at_target && at_target)
            return finish("at target");
        if (exit_on_zero && held && b->target_pages == 0 && b->pages == 0) {
            uint64_t usable = use_all_free(pfns, heap_pages, 0);
            rt_printf("balloon: usable pages=%lu heap=%lu\n", (unsigned long)usable,
                      (unsigned long)heap_pages);
            return finish("back at zero");
        }
        if (duration_ns && now - start >= duration_ns)
            return finish("duration");
    }
}
