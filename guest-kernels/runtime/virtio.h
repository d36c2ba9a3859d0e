/* Guest side of virtio over virtio-mmio (version 2): device discovery from
 * the boot-info device list, the status/feature handshake, and split
 * virtqueues. No interrupts: drivers poll the used rings, and may sleep in
 * the POLL hypercall, which the monitor ends early on a device interrupt.
 * Register accesses trap to the monitor (tens of microseconds each on the
 * build machines), ring accesses are plain memory. */
#ifndef FOLDVM_RT_VIRTIO_H
#define FOLDVM_RT_VIRTIO_H

#include <stddef.h>
#include <stdint.h>

#include "virtio_abi.h" /* registers, status and feature bits, device ids */

struct vring_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct vring_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[];
};

struct vring_used_elem {
    uint32_t id;
    uint32_t len;
};

struct vring_used {
    uint16_t flags;
    uint16_t idx;
    struct vring_used_elem ring[];
};

struct rt_virtio_dev {
    volatile uint8_t *base;
    uint32_t irq;
    uint32_t device_id;
    uint64_t features; /* negotiated */
};

struct rt_vq {
    struct rt_virtio_dev *dev;
    uint16_t index;
    uint16_t num;
    volatile struct vring_desc *desc;
    volatile struct vring_avail *avail;
    volatile struct vring_used *used;
    uint16_t free_head; /* free descriptors are chained through next */
    uint16_t num_free;
    uint16_t avail_idx; /* our copy of avail->idx */
    uint16_t last_used;
};

/* One buffer of a chain: `len` bytes at guest-physical `gpa`. */
struct rt_vq_buf {
    uint64_t gpa;
    uint32_t len;
};

/* Register and config-space access. */
uint32_t rt_virtio_read(const struct rt_virtio_dev *d, uint32_t reg);
void rt_virtio_write(const struct rt_virtio_dev *d, uint32_t reg, uint32_t value);
uint32_t rt_virtio_config_read32(const struct rt_virtio_dev *d, uint32_t offset);
void rt_virtio_config_write32(const struct rt_virtio_dev *d, uint32_t offset, uint32_t value);

/* Finds the n-th (from 0) virtio-mmio device of `device_id` in the boot
 * info, resets it and acknowledges it. 0 on success, -1 if absent. */
int rt_virtio_find(uint32_t device_id, unsigned nth, struct rt_virtio_dev *d);
/* Accepts offered & (wanted | VERSION_1) and sets FEATURES_OK. Returns 0
 * and fills d->features, or -1 if the device refused. */
int rt_virtio_negotiate(struct rt_virtio_dev *d, uint64_t wanted);
/* Sets up queue `index` with at most `max_size` entries; ring memory comes
 * from the page allocator (once: a reset reuses it). 0 or -1. */
int rt_vq_init(struct rt_virtio_dev *d, struct rt_vq *vq, uint16_t index, uint16_t max_size);
void rt_virtio_driver_ok(struct rt_virtio_dev *d);
/* Status register; reset writes 0. */
uint32_t rt_virtio_status(const struct rt_virtio_dev *d);
void rt_virtio_reset(struct rt_virtio_dev *d);
/* Reads and acknowledges the interrupt status (VIRTIO_INT_*). */
uint32_t rt_virtio_take_interrupts(const struct rt_virtio_dev *d);

/* Adds a chain of n_out device-readable then n_in device-writable
 * buffers. Returns the head descriptor, or -1 if the ring is full. */
int rt_vq_add(struct rt_vq *vq, const struct rt_vq_buf *bufs, unsigned n_out, unsigned n_in);
void rt_vq_kick(struct rt_vq *vq);
/* Returns the head of the next used chain (freeing its descriptors) and
 * its written length in *len, or -1 if none is ready. */
int rt_vq_get_used(struct rt_vq *vq, uint32_t *len);
/* Waits (polling, then sleeping in POLL) until a used chain is back;
 * returns its head or -1 after timeout_ns. */
int rt_vq_wait_used(struct rt_vq *vq, uint32_t *len, uint64_t timeout_ns);

#endif
