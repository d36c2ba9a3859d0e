// Constants from the virtio 1.2 specification that the transport and the
// devices share: status bits, feature bits, virtio-mmio registers, split
// virtqueue layout.
#pragma once

#include <cstdint>

namespace foldvm::virtio {

// 2.1 Device status field.
enum Status : uint32_t {
    kAcknowledge = 1,
    kDriver = 2,
    kDriverOk = 4,
    kFeaturesOk = 8,
    kDeviceNeedsReset = 64,
    kFailed = 128,
};

// 6 Reserved feature bits.
constexpr uint64_t kFVersion1 = 1ull << 32;

// 2.7 Split virtqueues.
constexpr uint16_t kDescFNext = 1;
constexpr uint16_t kDescFWrite = 2;
constexpr uint16_t kDescFIndirect = 4;
constexpr uint64_t kDescSize = 16;
constexpr uint64_t kDescAlign = 16, kAvailAlign = 2, kUsedAlign = 4;
constexpr uint16_t kMaxQueueSize = 32768;

// 4.2.2 virtio-mmio registers (version 2).
namespace mmio {
constexpr uint32_t kMagic = 0x74726976; // "virt"
constexpr uint32_t kVersion = 2;
constexpr uint32_t kVendorId = 0x444c4f46; // "FOLD"

constexpr uint64_t kMagicValue = 0x000;
constexpr uint64_t kVersionReg = 0x004;
constexpr uint64_t kDeviceId = 0x008;
constexpr uint64_t kVendorIdReg = 0x00c;
constexpr uint64_t kDeviceFeatures = 0x010;
constexpr uint64_t kDeviceFeaturesSel = 0x014;
constexpr uint64_t kDriverFeatures = 0x020;
constexpr uint64_t kDriverFeaturesSel = 0x024;
constexpr uint64_t kQueueSel = 0x030;
constexpr uint64_t kQueueNumMax = 0x034;
constexpr uint64_t kQueueNum = 0x038;
constexpr uint64_t kQueueReady = 0x044;
constexpr uint64_t kQueueNotify = 0x050;
constexpr uint64_t kInterruptStatus = 0x060;
constexpr uint64_t kInterruptAck = 0x064;
constexpr uint64_t kStatus = 0x070;
constexpr uint64_t kQueueDescLow = 0x080;
constexpr uint64_t kQueueDescHigh = 0x084;
constexpr uint64_t kQueueDriverLow = 0x090;
constexpr uint64_t kQueueDriverHigh = 0x094;
constexpr uint64_t kQueueDeviceLow = 0x0a0;
constexpr uint64_t kQueueDeviceHigh = 0x0a4;
constexpr uint64_t kShmSel = 0x0ac;
constexpr uint64_t kShmLenLow = 0x0b0;
constexpr uint64_t kShmLenHigh = 0x0b4;
constexpr uint64_t kShmBaseLow = 0x0b8;
constexpr uint64_t kShmBaseHigh = 0x0bc;
constexpr uint64_t kQueueReset = 0x0c0;
constexpr uint64_t kConfigGeneration = 0x0fc;
constexpr uint64_t kConfig = 0x100;

constexpr uint32_t kInterruptVring = 1;
constexpr uint32_t kInterruptConfig = 2;
} // namespace mmio

// 5 Device types.
constexpr uint32_t kDeviceIdBlock = 2;
constexpr uint32_t kDeviceIdBalloon = 5;

} // namespace foldvm::virtio
