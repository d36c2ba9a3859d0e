/* Split virtqueues, driver side. Rings live in pages from the allocator;
 * being identity-mapped, a pointer is its guest-physical address. */
#include "rt.h"
#include "virtio.h"

#define BARRIER() __asm__ volatile("" ::: "memory")

static uint64_t gpa_of(volatile const void *p)
{
    return (uint64_t)(uintptr_t)p;
}

int rt_vq_init(struct rt_virtio_dev *d, struct rt_vq *vq, uint16_t index, uint16_t max_size)
{
    rt_virtio_write(d, VIRTIO_MMIO_QUEUE_SEL, index);
    uint32_t max = rt_virtio_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
    if (max == 0 || rt_virtio_read(d, VIRTIO_MMIO_QUEUE_READY) != 0)
        return -1;
    uint16_t num = 1;
    while ((uint32_t)num * 2 <= max && num * 2 <= max_size)
        num = (uint16_t)(num * 2);
    if (vq->desc == NULL || vq->num < num) {
        /* desc: 16 B per entry; avail: 6 + 2n; used: 6 + 8n; page aligned each. */
        size_t desc_pages = (16u * num + RT_PAGE_SIZE - 1) / RT_PAGE_SIZE;
        size_t avail_pages = (6u + 2u * num + RT_PAGE_SIZE - 1) / RT_PAGE_SIZE;
        size_t used_pages = (6u + 8u * num + RT_PAGE_SIZE - 1) / RT_PAGE_SIZE;
        uint8_t *mem = rt_alloc_pages_no_oom(desc_pages + avail_pages + used_pages);
        if (mem == NULL)
            return -1;
        vq->desc = (volatile struct vring_desc *)mem;
        vq->avail = (volatile struct vring_avail *)(mem + desc_pages * RT_PAGE_SIZE);
        vq->used = (volatile struct vring_used *)(mem + (desc_pages + avail_pages) * RT_PAGE_SIZE);
    }
    memset((void *)vq->desc, 0, 16u * num);
    memset((void *)vq->avail, 0, 6u + 2u * num);
    memset((void *)vq->used, 0, 6u + 8u * num);
    vq->dev = d;
    vq->index = index;
    vq->num = num;
    for (uint16_t i = 0; i < num; i++)
        vq->desc[i].next = (uint16_t)(i + 1);
    vq->free_head = 0;
    vq->num_free = num;
    vq->avail_idx = 0;
    vq->last_used = 0;

    rt_virtio_write(d, VIRTIO_MMIO_QUEUE_NUM, num);
    rt_virtio_write(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)gpa_of(vq->desc));
    rt_virtio_write(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(gpa_of(vq->desc) >> 32));
    rt_virtio_write(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)gpa_of(vq->avail));
    rt_virtio_write(d, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)(gpa_of(vq->avail) >> 32));
    rt_virtio_write(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)gpa_of(vq->used));
    rt_virtio_write(d, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)(gpa_of(vq->used) >> 32));
    rt_virtio_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
    return rt_virtio_read(d, VIRTIO_MMIO_QUEUE_READY) == 1 ? 0 : -1;
}

int rt_vq_add(struct rt_vq *vq, const struct rt_vq_buf *bufs, unsigned n_out, unsigned n_in)
{
    unsigned n = n_out + n_in;
    if (n == 0 || n > vq->num_free)
        return -1;
    uint16_t head = vq->free_head, idx = head, last = head;
    for (unsigned i = 0; i < n; i++) {
        volatile struct vring_desc *d = &vq->desc[idx];
        d->addr = bufs[i].gpa;
        d->len = bufs[i].len;
        d->flags = (uint16_t)((i >= n_out ? VRING_DESC_F_WRITE : 0) |
                              (i + 1 < n ? VRING_DESC_F_NEXT : 0));
        last = idx;
        idx = d->next;
    }
    vq->free_head = vq->desc[last].next;
    vq->num_free = (uint16_t)(vq->num_free - n);
    vq->avail->ring[vq->avail_idx % vq->num] = head;
    BARRIER();
    vq->avail_idx++;
    vq->avail->idx = vq->avail_idx;
    return head;
}

void rt_vq_kick(struct rt_vq *vq)
{
    rt_virtio_write(vq->dev, VIRTIO_MMIO_QUEUE_NOTIFY, vq->index);
}

int rt_vq_get_used(struct rt_vq *vq, uint32_t *len)
{
    if (vq->used->idx == vq->last_used)
        return -1;
    BARRIER();
    volatile struct vring_used_elem *e = &vq->used->ring[vq->last_used % vq->num];
    uint32_t head = e->id;
    if (len)
        *len = e->len;
    vq->last_used++;
    if (head >= vq->num)
        return -1; /* a broken device: leak rather than corrupt the free list */
    /* Return the chain's descriptors to the free list. */
    uint16_t idx = (uint16_t)head, count = 1;
    while ((vq->desc[idx].flags & VRING_DESC_F_NEXT) && count < vq->num) {
        idx = vq->desc[idx].next;
        count++;
    }
    vq->desc[idx].next = vq->free_head;
    vq->free_head = (uint16_t)head;
    vq->num_free = (uint16_t)(vq->num_free + count);
    return (int)head;
}

int rt_vq_wait_used(struct rt_vq *vq, uint32_t *len, uint64_t timeout_ns)
{
    /* The monitor completes most requests inside the notify trap, so the
     * first look usually succeeds. */
    int head = rt_vq_get_used(vq, len);
    if (head >= 0 || timeout_ns == 0)
        return head;
    uint64_t deadline = rt_now_ns() + timeout_ns;
    for (;;) {
        head = rt_vq_get_used(vq, len);
        if (head >= 0)
            return head;
        uint64_t now = rt_now_ns();
        if (now >= deadline)
            return -1;
        uint64_t left = deadline - now;
        hc_poll(left < RT_NS_PER_MS ? left : RT_NS_PER_MS);
    }
}
