/* virtio 1.2 constants shared by the monitor's devices (C++) and the guest
 * runtime's drivers (freestanding C): virtio-mmio registers, device status,
 * feature bits, split-virtqueue flags, and the block and balloon device
 * specifics. One definition, so the two sides cannot drift apart. */
#ifndef FOLDVM_VIRTIO_ABI_H
#define FOLDVM_VIRTIO_ABI_H

/* 2.1 Device status field. */
#define VIRTIO_STATUS_ACKNOWLEDGE 1u
#define VIRTIO_STATUS_DRIVER 2u
#define VIRTIO_STATUS_DRIVER_OK 4u
#define VIRTIO_STATUS_FEATURES_OK 8u
#define VIRTIO_STATUS_NEEDS_RESET 64u
#define VIRTIO_STATUS_FAILED 128u

/* 6 Reserved feature bits. */
#define VIRTIO_F_VERSION_1 (1ull << 32)

/* 2.7 Split virtqueues. */
#define VRING_DESC_F_NEXT 1u
#define VRING_DESC_F_WRITE 2u
#define VRING_DESC_F_INDIRECT 4u
#define VRING_DESC_SIZE 16u
#define VRING_DESC_ALIGN 16u
#define VRING_AVAIL_ALIGN 2u
#define VRING_USED_ALIGN 4u
#define VIRTQUEUE_MAX_SIZE 32768u

/* 4.2.2 virtio-mmio registers (version 2). */
#define VIRTIO_MMIO_MAGIC 0x74726976u /* "virt" */
#define VIRTIO_MMIO_VERSION_2 2u
#define VIRTIO_MMIO_VENDOR_FOLDVM 0x444c4f46u /* "FOLD" */

#define VIRTIO_MMIO_MAGIC_VALUE 0x000
#define VIRTIO_MMIO_VERSION 0x004
#define VIRTIO_MMIO_DEVICE_ID 0x008
#define VIRTIO_MMIO_VENDOR_ID 0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL 0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM 0x038
#define VIRTIO_MMIO_QUEUE_READY 0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_INTERRUPT_ACK 0x064
#define VIRTIO_MMIO_STATUS 0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW 0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW 0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW 0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_MMIO_SHM_SEL 0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW 0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH 0x0b4
#define VIRTIO_MMIO_SHM_BASE_LOW 0x0b8
#define VIRTIO_MMIO_SHM_BASE_HIGH 0x0bc
#define VIRTIO_MMIO_QUEUE_RESET 0x0c0
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO_MMIO_CONFIG 0x100

/* InterruptStatus bits. */
#define VIRTIO_INT_VRING 1u
#define VIRTIO_INT_CONFIG 2u

/* 5 Device types. */
#define VIRTIO_ID_BLOCK 2u
#define VIRTIO_ID_BALLOON 5u

/* 5.2 Block device: features, request types, status byte. */
#define VIRTIO_BLK_F_SEG_MAX (1ull << 2)
#define VIRTIO_BLK_F_RO (1ull << 5)
#define VIRTIO_BLK_F_BLK_SIZE (1ull << 6)
#define VIRTIO_BLK_F_FLUSH (1ull << 9)
#define VIRTIO_BLK_T_IN 0u
#define VIRTIO_BLK_T_OUT 1u
#define VIRTIO_BLK_T_FLUSH 4u
#define VIRTIO_BLK_T_GET_ID 8u
#define VIRTIO_BLK_S_OK 0u
#define VIRTIO_BLK_S_IOERR 1u
#define VIRTIO_BLK_S_UNSUPP 2u
#define VIRTIO_BLK_OUTHDR_SIZE 16u /* struct virtio_blk_outhdr: type, ioprio, sector */
#define VIRTIO_BLK_SECTOR_SIZE 512u

/* 5.5 Traditional memory balloon: features, config space, statistics. */
#define VIRTIO_BALLOON_F_MUST_TELL_HOST (1ull << 0)
#define VIRTIO_BALLOON_F_STATS_VQ (1ull << 1)
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM (1ull << 2)
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT (1ull << 3)
#define VIRTIO_BALLOON_F_PAGE_POISON (1ull << 4)
#define VIRTIO_BALLOON_F_REPORTING (1ull << 5)
#define VIRTIO_BALLOON_PFN_SHIFT 12u
#define VIRTIO_BALLOON_CFG_NUM_PAGES 0u /* le32, device's target */
#define VIRTIO_BALLOON_CFG_ACTUAL 4u    /* le32, driver's count */

/* 5.5.6.3 Statistics tags; each entry is a packed le16 tag + le64 value. */
#define VIRTIO_BALLOON_S_SWAP_IN 0u
#define VIRTIO_BALLOON_S_SWAP_OUT 1u
#define VIRTIO_BALLOON_S_MAJFLT 2u
#define VIRTIO_BALLOON_S_MINFLT 3u
#define VIRTIO_BALLOON_S_MEMFREE 4u
#define VIRTIO_BALLOON_S_MEMTOT 5u
#define VIRTIO_BALLOON_S_AVAIL 6u
#define VIRTIO_BALLOON_S_CACHES 7u
#define VIRTIO_BALLOON_S_HTLB_PGALLOC 8u
#define VIRTIO_BALLOON_S_HTLB_PGFAIL 9u
#define VIRTIO_BALLOON_S_OOM_KILL 10u
#define VIRTIO_BALLOON_S_ALLOC_STALL 11u
#define VIRTIO_BALLOON_S_ASYNC_SCAN 12u
#define VIRTIO_BALLOON_S_DIRECT_SCAN 13u
#define VIRTIO_BALLOON_S_ASYNC_RECLAIM 14u
#define VIRTIO_BALLOON_S_DIRECT_RECLAIM 15u
#define VIRTIO_BALLOON_S_NR 16u
#define VIRTIO_BALLOON_STAT_SIZE 10u

#endif
