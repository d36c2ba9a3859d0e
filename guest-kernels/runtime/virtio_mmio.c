/* virtio-mmio transport, driver side: discovery and the handshake. */
#include "rt.h"
#include "virtio.h"

uint32_t rt_virtio_read(const struct rt_virtio_dev *d, uint32_t reg)
{
    return *(volatile uint32_t *)(d->base + reg);
}

void rt_virtio_write(const struct rt_virtio_dev *d, uint32_t reg, uint32_t value)
{
    __asm__ volatile("" ::: "memory"); /* ring updates land before the trap */
    *(volatile uint32_t *)(d->base + reg) = value;
}

uint32_t rt_virtio_config_read32(const struct rt_virtio_dev *d, uint32_t offset)
{
    /* Retry until the generation is stable around the read (4.2.2.2). */
    for (;;) {
        uint32_t gen = rt_virtio_read(d, VIRTIO_MMIO_CONFIG_GENERATION);
        uint32_t v = rt_virtio_read(d, VIRTIO_MMIO_CONFIG + offset);
        if (rt_virtio_read(d, VIRTIO_MMIO_CONFIG_GENERATION) == gen)
            return v;
    }
}

void rt_virtio_config_write32(const struct rt_virtio_dev *d, uint32_t offset, uint32_t value)
{
    rt_virtio_write(d, VIRTIO_MMIO_CONFIG + offset, value);
}

uint32_t rt_virtio_status(const struct rt_virtio_dev *d)
{
    return rt_virtio_read(d, VIRTIO_MMIO_STATUS);
}

void rt_virtio_reset(struct rt_virtio_dev *d)
{
    rt_virtio_write(d, VIRTIO_MMIO_STATUS, 0);
    d->features = 0;
}

uint32_t rt_virtio_take_interrupts(const struct rt_virtio_dev *d)
{
    uint32_t isr = rt_virtio_read(d, VIRTIO_MMIO_INTERRUPT_STATUS);
    if (isr != 0)
        rt_virtio_write(d, VIRTIO_MMIO_INTERRUPT_ACK, isr);
    return isr;
}

int rt_virtio_find(uint32_t device_id, unsigned nth, struct rt_virtio_dev *d)
{
    const struct foldvm_boot_info *bi = rt_bootinfo();
    uint32_t count = bi->device_count < FOLDVM_MAX_DEVICES ? bi->device_count : FOLDVM_MAX_DEVICES;
    for (uint32_t i = 0; i < count; i++) {
        const struct foldvm_device *dev = &bi->devices[i];
        if (dev->type != FOLDVM_DEV_VIRTIO_MMIO || dev->mmio_size < 0x200)
            continue;
        struct rt_virtio_dev probe = {(volatile uint8_t *)(uintptr_t)dev->mmio_base, dev->irq,
                                      0, 0};
        if (rt_virtio_read(&probe, VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MMIO_MAGIC ||
            rt_virtio_read(&probe, VIRTIO_MMIO_VERSION) != VIRTIO_MMIO_VERSION_2 ||
            rt_virtio_read(&probe, VIRTIO_MMIO_DEVICE_ID) != device_id)
            continue;
        if (nth-- > 0)
            continue;
        probe.device_id = device_id;
        *d = probe;
        rt_virtio_reset(d);
        rt_virtio_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
        rt_virtio_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
        return 0;
    }
    return -1;
}

int rt_virtio_negotiate(struct rt_virtio_dev *d, uint64_t wanted)
{
    rt_virtio_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    uint64_t offered = rt_virtio_read(d, VIRTIO_MMIO_DEVICE_FEATURES);
    rt_virtio_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    offered |= (uint64_t)rt_virtio_read(d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
    uint64_t accept = offered & (wanted | VIRTIO_F_VERSION_1);
    if (!(accept & VIRTIO_F_VERSION_1))
        return -1;
    rt_virtio_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    rt_virtio_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)accept);
    rt_virtio_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    rt_virtio_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(accept >> 32));
    uint32_t status = rt_virtio_status(d) | VIRTIO_STATUS_FEATURES_OK;
    rt_virtio_write(d, VIRTIO_MMIO_STATUS, status);
    if (!(rt_virtio_status(d) & VIRTIO_STATUS_FEATURES_OK))
        return -1;
    d->features = accept;
    return 0;
}

void rt_virtio_driver_ok(struct rt_virtio_dev *d)
{
    rt_virtio_write(d, VIRTIO_MMIO_STATUS, rt_virtio_status(d) | VIRTIO_STATUS_DRIVER_OK);
}
