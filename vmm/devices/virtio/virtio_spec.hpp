// The virtio 1.2 constants the transport and the devices share (status
// bits, feature bits, virtio-mmio registers, split virtqueue layout), under
// C++ names. The values come from vmm/abi/virtio_abi.h, which the guest
// runtime's drivers include too.
#pragma once

#include "vmm/abi/virtio_abi.h"

#include <cstdint>

namespace foldvm::virtio {

// 2.1 Device status field.
enum Status : uint32_t {
    kAcknowledge = VIRTIO_STATUS_ACKNOWLEDGE,
    kDriver = VIRTIO_STATUS_DRIVER,
    kDriverOk = VIRTIO_STATUS_DRIVER_OK,
    kFeaturesOk = VIRTIO_STATUS_FEATURES_OK,
    kDeviceNeedsReset = VIRTIO_STATUS_NEEDS_RESET,
    kFailed = VIRTIO_STATUS_FAILED,
};

// 6 Reserved feature bits.
constexpr uint64_t kFVersion1 = VIRTIO_F_VERSION_1;

// 2.7 Split virtqueues.
constexpr uint16_t kDescFNext = VRING_DESC_F_NEXT;
constexpr uint16_t kDescFWrite = VRING_DESC_F_WRITE;
constexpr uint16_t kDescFIndirect = VRING_DESC_F_INDIRECT;
constexpr uint64_t kDescSize = VRING_DESC_SIZE;
constexpr uint64_t kDescAlign = VRING_DESC_ALIGN, kAvailAlign = VRING_AVAIL_ALIGN,
                   kUsedAlign = VRING_USED_ALIGN;
constexpr uint16_t kMaxQueueSize = VIRTQUEUE_MAX_SIZE;

// 4.2.2 virtio-mmio registers (version 2).
namespace mmio {
constexpr uint32_t kMagic = VIRTIO_MMIO_MAGIC;
constexpr uint32_t kVersion = VIRTIO_MMIO_VERSION_2;
constexpr uint32_t kVendorId = VIRTIO_MMIO_VENDOR_FOLDVM;

constexpr uint64_t kMagicValue = VIRTIO_MMIO_MAGIC_VALUE;
constexpr uint64_t kVersionReg = VIRTIO_MMIO_VERSION;
constexpr uint64_t kDeviceId = VIRTIO_MMIO_DEVICE_ID;
constexpr uint64_t kVendorIdReg = VIRTIO_MMIO_VENDOR_ID;
constexpr uint64_t kDeviceFeatures = VIRTIO_MMIO_DEVICE_FEATURES;
constexpr uint64_t kDeviceFeaturesSel = VIRTIO_MMIO_DEVICE_FEATURES_SEL;
constexpr uint64_t kDriverFeatures = VIRTIO_MMIO_DRIVER_FEATURES;
constexpr uint64_t kDriverFeaturesSel = VIRTIO_MMIO_DRIVER_FEATURES_SEL;
constexpr uint64_t kQueueSel = VIRTIO_MMIO_QUEUE_SEL;
constexpr uint64_t kQueueNumMax = VIRTIO_MMIO_QUEUE_NUM_MAX;
constexpr uint64_t kQueueNum = VIRTIO_MMIO_QUEUE_NUM;
constexpr uint64_t kQueueReady = VIRTIO_MMIO_QUEUE_READY;
constexpr uint64_t kQueueNotify = VIRTIO_MMIO_QUEUE_NOTIFY;
constexpr uint64_t kInterruptStatus = VIRTIO_MMIO_INTERRUPT_STATUS;
constexpr uint64_t kInterruptAck = VIRTIO_MMIO_INTERRUPT_ACK;
constexpr uint64_t kStatus = VIRTIO_MMIO_STATUS;
constexpr uint64_t kQueueDescLow = VIRTIO_MMIO_QUEUE_DESC_LOW;
constexpr uint64_t kQueueDescHigh = VIRTIO_MMIO_QUEUE_DESC_HIGH;
constexpr uint64_t kQueueDriverLow = VIRTIO_MMIO_QUEUE_DRIVER_LOW;
constexpr uint64_t kQueueDriverHigh = VIRTIO_MMIO_QUEUE_DRIVER_HIGH;
constexpr uint64_t kQueueDeviceLow = VIRTIO_MMIO_QUEUE_DEVICE_LOW;
constexpr uint64_t kQueueDeviceHigh = VIRTIO_MMIO_QUEUE_DEVICE_HIGH;
constexpr uint64_t kShmSel = VIRTIO_MMIO_SHM_SEL;
constexpr uint64_t kShmLenLow = VIRTIO_MMIO_SHM_LEN_LOW;
constexpr uint64_t kShmLenHigh = VIRTIO_MMIO_SHM_LEN_HIGH;
constexpr uint64_t kShmBaseLow = VIRTIO_MMIO_SHM_BASE_LOW;
constexpr uint64_t kShmBaseHigh = VIRTIO_MMIO_SHM_BASE_HIGH;
constexpr uint64_t kQueueReset = VIRTIO_MMIO_QUEUE_RESET;
constexpr uint64_t kConfigGeneration = VIRTIO_MMIO_CONFIG_GENERATION;
constexpr uint64_t kConfig = VIRTIO_MMIO_CONFIG;

constexpr uint32_t kInterruptVring = VIRTIO_INT_VRING;
constexpr uint32_t kInterruptConfig = VIRTIO_INT_CONFIG;
} // namespace mmio

// 5 Device types.
constexpr uint32_t kDeviceIdBlock = VIRTIO_ID_BLOCK;
constexpr uint32_t kDeviceIdBalloon = VIRTIO_ID_BALLOON;

} // namespace foldvm::virtio
