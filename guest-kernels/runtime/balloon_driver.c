/* virtio balloon driver (virtio 1.2, 5.5) backed by the page allocator.
 * The balloon holds pages taken from the allocator; their frame numbers sit
 * in one array, and a slice of that array is the buffer handed to the
 * device, so inflating N pages costs one notification per chunk. Deflate
 * returns the newest pages first, which lets the bump allocator take its
 * run back. Runs without interrupts: rt_balloon_service() reads the
 * interrupt status (one trap) and does whatever is due. */
#include "rt.h"
#include "virtio.h"

#define CHUNK_PAGES 65536u  /* 256 MiB of PFNs per inflate/deflate buffer */
#define REPORT_BATCH 32u    /* runs per free page report, like Linux */
#define OOM_MIN_PAGES 256u  /* deflate at least 1 MiB on OOM */
#define WAIT_NS (RT_NS_PER_SEC)

#define NUM_TAGS (VIRTIO_BALLOON_S_HTLB_PGFAIL + 1) /* the statistics this driver reports */

struct balloon_stat {
    uint16_t tag;
    uint64_t val;
} __attribute__((packed));

static struct rt_balloon_state st;
static struct rt_virtio_dev dev;
static struct rt_vq inflate_q, deflate_q, stats_q, report_q;
static uint32_t *pfns; /* pfns[0, st.pages) are in the balloon */
static size_t pfn_cap;
static struct balloon_stat stats[NUM_TAGS];
static struct rt_page_run runs[REPORT_BATCH];
static size_t report_threshold = 512; /* 2 MiB */
static int need_target = 1;

const struct rt_balloon_state *rt_balloon(void)
{
    return &st;
}

static void mark_broken(const char *why)
{
    if (!st.broken)
        rt_printf("balloon: device failed (%s), status 0x%x\n", why, rt_virtio_status(&dev));
    st.broken = 1;
}

/* Hands a slice of the PFN array to queue q and waits for it back. */
static int send_pfns(struct rt_vq *q, uint32_t *first, size_t n)
{
    struct rt_vq_buf buf = {(uint64_t)(uintptr_t)first, (uint32_t)(n * sizeof(uint32_t))};
    if (rt_vq_add(q, &buf, 1, 0) < 0)
        return -1;
    rt_vq_kick(q);
    return rt_vq_wait_used(q, NULL, WAIT_NS) < 0 ? -1 : 0;
}

static size_t inflate_chunk(size_t want)
{
    size_t got = 0;
    uint32_t *slot = pfns + st.pages;
    while (got < want && st.pages + got < pfn_cap) {
        void *p = rt_alloc_pages_no_oom(1);
        if (p == NULL)
            break;
        slot[got++] = (uint32_t)((uintptr_t)p / RT_PAGE_SIZE);
    }
    if (got == 0)
        return 0;
    if (send_pfns(&inflate_q, slot, got) != 0) {
        mark_broken("inflate not acknowledged");
        for (size_t i = got; i-- > 0;)
            rt_free_page((void *)((uintptr_t)slot[i] * RT_PAGE_SIZE));
        return 0;
    }
    st.pages += (uint32_t)got;
    st.inflated += got;
    return got;
}

static size_t deflate_chunk(size_t want)
{
    if (want > st.pages)
        want = st.pages;
    if (want == 0)
        return 0;
    uint32_t *slot = pfns + st.pages - want;
    /* Without MUST_TELL_HOST the pages could be reused at once; telling
     * first keeps the host's statistics right. */
    if (!st.broken && send_pfns(&deflate_q, slot, want) != 0)
        mark_broken("deflate not acknowledged");
    for (size_t i = want; i-- > 0;)
        rt_free_page((void *)((uintptr_t)slot[i] * RT_PAGE_SIZE));
    st.pages -= (uint32_t)want;
    st.deflated += want;
    return want;
}

static void write_actual(void)
{
    rt_virtio_config_write32(&dev, VIRTIO_BALLOON_CFG_ACTUAL, st.pages);
}

/* Deflate on OOM: called by the allocator when it runs dry. */
static size_t balloon_oom(size_t pages)
{
    if (!st.present || !(st.features & VIRTIO_BALLOON_F_DEFLATE_ON_OOM) || st.pages == 0)
        return 0;
    size_t want = pages < OOM_MIN_PAGES ? OOM_MIN_PAGES : pages;
    size_t done = deflate_chunk(want);
    st.oom_deflated += done;
    if (!st.broken)
        write_actual();
    return done;
}

static void fill_stats(void)
{
    const struct foldvm_boot_info *bi = rt_bootinfo();
    uint64_t free_bytes = (uint64_t)rt_free_pages_total() * RT_PAGE_SIZE;
    uint64_t values[NUM_TAGS] = {0};
    values[VIRTIO_BALLOON_S_MEMFREE] = free_bytes;
    values[VIRTIO_BALLOON_S_MEMTOT] = bi->ram_size;
    values[VIRTIO_BALLOON_S_AVAIL] = free_bytes;
    for (unsigned i = 0; i < NUM_TAGS; i++) {
        stats[i].tag = (uint16_t)i;
        stats[i].val = values[i];
    }
}

static void post_stats(void)
{
    fill_stats();
    struct rt_vq_buf buf = {(uint64_t)(uintptr_t)stats, sizeof(stats)};
    if (rt_vq_add(&stats_q, &buf, 1, 0) >= 0) {
        rt_vq_kick(&stats_q);
        st.stats_sent++;
    }
}

static int report_runs(const struct rt_page_run *r, size_t n, void *ctx)
{
    (void)ctx;
    struct rt_vq_buf bufs[REPORT_BATCH];
    for (size_t i = 0; i < n; i++) {
        bufs[i].gpa = r[i].gpa;
        bufs[i].len = (uint32_t)r[i].len;
    }
    if (rt_vq_add(&report_q, bufs, 0, (unsigned)n) < 0)
        return -1;
    rt_vq_kick(&report_q);
    return rt_vq_wait_used(&report_q, NULL, WAIT_NS) < 0 ? -1 : 0;
}

size_t rt_balloon_report_free(void)
{
    if (!st.present || st.broken || !(st.features & VIRTIO_BALLOON_F_REPORTING))
        return 0;
    /* Runs longer than 4 GiB would not fit a descriptor; the heap never has
     * one (identity-mapped below 4 GiB for hypercalls anyway). */
    size_t n = rt_alloc_report_free(runs, REPORT_BATCH, report_runs, NULL);
    st.reported += n;
    return n;
}

void rt_balloon_set_report_threshold(size_t pages)
{
    report_threshold = pages;
}

static int setup(void)
{
    uint64_t want =
        VIRTIO_BALLOON_F_STATS_VQ | VIRTIO_BALLOON_F_DEFLATE_ON_OOM | VIRTIO_BALLOON_F_REPORTING;
    if (rt_virtio_negotiate(&dev, want) != 0)
        return -1;
    st.features = dev.features;
    uint16_t q = 0;
    if (rt_vq_init(&dev, &inflate_q, q++, 256) != 0 || rt_vq_init(&dev, &deflate_q, q++, 256) != 0)
        return -1;
    if ((st.features & VIRTIO_BALLOON_F_STATS_VQ) && rt_vq_init(&dev, &stats_q, q++, 4) != 0)
        return -1;
    if ((st.features & VIRTIO_BALLOON_F_REPORTING) && rt_vq_init(&dev, &report_q, q++, 64) != 0)
        return -1;
    rt_virtio_driver_ok(&dev);
    if (st.features & VIRTIO_BALLOON_F_STATS_VQ)
        post_stats(); /* the device holds it until it wants numbers */
    write_actual();
    need_target = 1;
    st.broken = 0;
    return 0;
}

int rt_balloon_init(void)
{
    if (st.present)
        return 0;
    if (rt_virtio_find(VIRTIO_ID_BALLOON, 0, &dev) != 0)
        return -1;
    /* Room to remember every heap page, allocated once (untouched pages
     * of it cost nothing). */
    size_t heap_pages = (rt_heap_end() - rt_heap_start()) / RT_PAGE_SIZE;
    size_t array_pages = (heap_pages * sizeof(uint32_t) + RT_PAGE_SIZE - 1) / RT_PAGE_SIZE;
    pfns = rt_alloc_pages_no_oom(array_pages);
    if (pfns == NULL)
        return -1;
    pfn_cap = heap_pages;
    if (setup() != 0) {
        rt_virtio_write(&dev, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_FAILED);
        return -1;
    }
    st.present = 1;
    rt_alloc_set_oom_handler(balloon_oom);
    return 0;
}

int rt_balloon_reinit(void)
{
    if (!st.present)
        return -1;
    rt_virtio_reset(&dev);
    rt_virtio_write(&dev, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    rt_virtio_write(&dev, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    st.resets++;
    return setup();
}

int rt_balloon_service(void)
{
    if (!st.present || st.broken)
        return st.present ? -1 : 0;
    uint32_t isr = rt_virtio_take_interrupts(&dev);
    if ((isr & VIRTIO_INT_CONFIG) || need_target) {
        if (rt_virtio_status(&dev) & VIRTIO_STATUS_NEEDS_RESET) {
            mark_broken("device needs reset");
            return -1;
        }
        st.target_pages = rt_virtio_config_read32(&dev, VIRTIO_BALLOON_CFG_NUM_PAGES);
        need_target = 0;
    }
    if ((st.features & VIRTIO_BALLOON_F_STATS_VQ) && rt_vq_get_used(&stats_q, NULL) >= 0)
        post_stats(); /* the device asked for fresh numbers */

    int changed = 0;
    while (st.pages < st.target_pages && !st.broken) {
        size_t want = st.target_pages - st.pages;
        if (inflate_chunk(want < CHUNK_PAGES ? want : CHUNK_PAGES) == 0)
            break; /* no free memory left: retried on the next service */
        changed = 1;
    }
    while (st.pages > st.target_pages) {
        size_t want = st.pages - st.target_pages;
        deflate_chunk(want < CHUNK_PAGES ? want : CHUNK_PAGES);
        changed = 1;
    }
    if (changed && !st.broken)
        write_actual();
    if ((st.features & VIRTIO_BALLOON_F_REPORTING) && report_threshold > 0 &&
        rt_alloc_unreported_pages() >= report_threshold)
        rt_balloon_report_free();
    return st.broken ? -1 : changed;
}

int rt_balloon_wait(uint64_t ns)
{
    hc_poll(ns); /* returns early when the device raises its interrupt */
    return rt_balloon_service();
}
