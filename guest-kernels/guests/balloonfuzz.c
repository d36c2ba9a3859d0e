/* A hostile balloon driver. Each round corrupts the rings or the registers
 * in one of several ways and kicks; the monitor must only break this
 * guest's own device (DEVICE_NEEDS_RESET). The driver then resets and
 * re-initialises it and proves it works again with a real inflate.
 *
 *   rounds=N  (200)   seed=S
 *
 * Prints "balloonfuzz: ok rounds=N needs_reset=K" and exits 0; exits 3 if
 * a deterministic attack was not refused or the device did not recover. */
#include "rt.h"
#include "virtio.h"

#define VIRTIO_ID_BALLOON 5u
#define QSIZE 8u
#define FAR_AWAY (1ull << 40) /* far outside any guest RAM */

static struct rt_virtio_dev dev;
static struct rt_vq qs[4];
static unsigned nq;
static struct rt_rng rng;
static uint32_t *junk;   /* a page of invalid PFNs (0xffffffff) */
static uint64_t *victim; /* a page we inflate to prove the device works */
static uint64_t ram_size;

static uint64_t rnd(uint64_t n)
{
    return rt_rng_below(&rng, n);
}

static int setup(void)
{
    rt_virtio_reset(&dev);
    rt_virtio_write(&dev, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    rt_virtio_write(&dev, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    if (rt_virtio_negotiate(&dev, (1ull << 1) | (1ull << 5)) != 0)
        return -1;
    nq = 2 + ((dev.features >> 1) & 1) + ((dev.features >> 5) & 1);
    for (unsigned i = 0; i < nq; i++)
        if (rt_vq_init(&dev, &qs[i], (uint16_t)i, QSIZE) != 0)
            return -1;
    rt_virtio_driver_ok(&dev);
    return 0;
}

/* Inflates the victim page: afterwards it must read as zeros. */
static int works(void)
{
    for (unsigned k = 0; k < RT_PAGE_SIZE / 8; k++)
        victim[k] = 0x5a5a5a5a00000000ull + k;
    uint32_t pfn = (uint32_t)((uintptr_t)victim / RT_PAGE_SIZE);
    uint32_t *buf = junk + 1000; /* inside the junk page, 4 bytes */
    buf[0] = pfn;
    struct rt_vq_buf b = {(uint64_t)(uintptr_t)buf, 4};
    if (rt_vq_add(&qs[0], &b, 1, 0) < 0)
        return -1;
    rt_vq_kick(&qs[0]);
    int head = rt_vq_wait_used(&qs[0], NULL, RT_NS_PER_SEC);
    buf[0] = 0xffffffffu;
    if (head < 0 || (rt_virtio_status(&dev) & VIRTIO_STATUS_NEEDS_RESET))
        return -1;
    for (unsigned k = 0; k < RT_PAGE_SIZE / 8; k++)
        if (victim[k] != 0)
            return -1;
    return 0;
}

static void post(struct rt_vq *q, uint16_t head)
{
    q->avail->ring[q->avail_idx % q->num] = head;
    __asm__ volatile("" ::: "memory");
    q->avail_idx++;
    q->avail->idx = q->avail_idx;
    rt_vq_kick(q);
}

static void set_desc(struct rt_vq *q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    q->desc[i].addr = addr;
    q->desc[i].len = len;
    q->desc[i].flags = flags;
    q->desc[i].next = next;
}

/* Runs attack `kind`; returns 1 if the device must refuse it. */
static int attack(unsigned kind)
{
    struct rt_vq *q = &qs[rnd(nq)];
    struct rt_vq *inflate = &qs[0];
    uint64_t junk_gpa = (uint64_t)(uintptr_t)junk;
    switch (kind) {
    case 0: /* random descriptors, ring entries and index */
        for (uint16_t i = 0; i < q->num; i++)
            set_desc(q, i, rnd(2) ? FAR_AWAY + rt_rng_next(&rng) % FAR_AWAY : junk_gpa,
                     (uint32_t)rnd(8192), (uint16_t)rnd(8), (uint16_t)rnd(2u * q->num));
        for (uint16_t i = 0; i < q->num; i++)
            q->avail->ring[i] = (uint16_t)rnd(2u * q->num);
        q->avail_idx = (uint16_t)(q->avail_idx + 1 + rnd(2u * q->num));
        q->avail->idx = q->avail_idx;
        rt_vq_kick(q);
        return 0;
    case 1: /* a descriptor loop */
        set_desc(inflate, 0, junk_gpa, 16, VRING_DESC_F_NEXT, 1);
        set_desc(inflate, 1, junk_gpa, 16, VRING_DESC_F_NEXT, 0);
        post(inflate, 0);
        return 1;
    case 2: /* buffer straddling the end of RAM */
        set_desc(inflate, 0, ram_size - 8, 4096, 0, 0);
        post(inflate, 0);
        return 1;
    case 3: /* length wrapping the address space */
        set_desc(inflate, 0, ~0ull - 10, 100, 0, 0);
        post(inflate, 0);
        return 1;
    case 4: /* device-writable buffer on the inflate queue */
        set_desc(inflate, 0, junk_gpa, 64, VRING_DESC_F_WRITE, 0);
        post(inflate, 0);
        return 1;
    case 5: /* available index far ahead */
        inflate->avail_idx = (uint16_t)(inflate->avail_idx + inflate->num + 1 + rnd(1000));
        inflate->avail->idx = inflate->avail_idx;
        rt_vq_kick(inflate);
        return 1;
    case 6: /* chain head outside the queue */
        post(inflate, (uint16_t)(inflate->num + rnd(1000)));
        return 1;
    case 7: /* indirect descriptor (not negotiated) */
        set_desc(inflate, 0, junk_gpa, 64, 4, 0);
        post(inflate, 0);
        return 1;
    case 8: /* next index outside the queue */
        set_desc(inflate, 0, junk_gpa, 64, VRING_DESC_F_NEXT, (uint16_t)(inflate->num + 5));
        post(inflate, 0);
        return 1;
    case 9: /* readable after writable (on whichever queue) */
        set_desc(q, 0, junk_gpa, 64, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
        set_desc(q, 1, junk_gpa, 64, 0, 0);
        post(q, 0);
        return 1;
    case 10: /* a bad queue layout enabled */
        rt_virtio_write(&dev, VIRTIO_MMIO_QUEUE_SEL, 0);
        rt_virtio_write(&dev, VIRTIO_MMIO_QUEUE_READY, 0);
        rt_virtio_write(&dev, VIRTIO_MMIO_QUEUE_NUM, rnd(2) ? 3 : 4);
        rt_virtio_write(&dev, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)(ram_size + 4096));
        rt_virtio_write(&dev, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)rnd(2));
        rt_virtio_write(&dev, VIRTIO_MMIO_QUEUE_READY, 1);
        return 1;
    case 11: /* random register and config writes of every width */
        for (int i = 0; i < 24; i++) {
            uint32_t off = (uint32_t)rnd(0x120) & ~3u;
            if (off == VIRTIO_MMIO_QUEUE_NOTIFY)
                continue; /* rings may point anywhere after random writes */
            uint32_t v = (uint32_t)rt_rng_next(&rng);
            unsigned w = (unsigned)rnd(3);
            volatile uint8_t *p = dev.base + off + (w == 0 ? rnd(4) : 0);
            if (w == 0)
                *p = (uint8_t)v;
            else if (w == 1)
                *(volatile uint16_t *)p = (uint16_t)v;
            else
                *(volatile uint32_t *)p = v;
        }
        return 0;
    default: /* a zero-length chain of invalid PFNs: harmless */
        set_desc(inflate, 0, junk_gpa, (uint32_t)rnd(64) * 4, 0, 0);
        post(inflate, 0);
        return 0;
    }
}

int main(const struct foldvm_boot_info *bi, const char *cmdline)
{
    (void)cmdline;
    uint64_t rounds = rt_arg_u64("rounds", 200);
    rt_rng_seed(&rng, rt_arg_u64("seed", 1) ^ bi->vm_index);
    ram_size = bi->ram_size;
    junk = rt_alloc_pages_no_oom(1);
    victim = rt_alloc_pages_no_oom(1);
    if (junk == NULL || victim == NULL || rt_virtio_find(VIRTIO_ID_BALLOON, 0, &dev) != 0) {
        rt_puts("balloonfuzz: no balloon device");
        return 2;
    }
    for (unsigned i = 0; i < RT_PAGE_SIZE / 4; i++)
        junk[i] = 0xffffffffu;
    if (setup() != 0 || works() != 0) {
        rt_puts("balloonfuzz: device does not work before the attacks");
        return 3;
    }
    uint64_t refused = 0, failures = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        unsigned kind = (unsigned)rnd(13);
        int must_refuse = attack(kind);
        int refused_now = (rt_virtio_status(&dev) & VIRTIO_STATUS_NEEDS_RESET) != 0;
        refused += (uint64_t)refused_now;
        if (must_refuse && !refused_now) {
            rt_printf("balloonfuzz: attack %u was not refused\n", kind);
            failures++;
        }
        if (setup() != 0 || works() != 0) {
            rt_printf("balloonfuzz: device did not recover after attack %u\n", kind);
            failures++;
        }
    }
    rt_printf("balloonfuzz: %s rounds=%lu needs_reset=%lu failures=%lu\n",
              failures ? "FAIL" : "ok", (unsigned long)rounds, (unsigned long)refused,
              (unsigned long)failures);
    return failures ? 3 : 0;
}
