// Where memory-mapped devices live in guest-physical space. One 2 MiB window
// holds up to FOLDVM_MAX_DEVICES slots of 4 KiB; device i sits at
// window + i * 4 KiB with interrupt line 5 + i. The window starts at
// 0xd0000000 (Firecracker's MMIO base) when RAM ends below it, else right
// after RAM, so a Linux guest can be told the same layout with
// `virtio_mmio.device=4K@<base>:<irq>`.
#pragma once

#include "vmm/abi/foldvm_abi.h"

#include <cstdint>

namespace foldvm {

constexpr uint64_t kMmioLowWindow = 0xd0000000ull;
constexpr uint64_t kMmioWindowSize = 2ull << 20;
constexpr uint64_t kMmioSlotSize = 0x1000;
constexpr uint32_t kFirstDeviceIrq = 5;
// Without a CPUID table KVM gives the guest 36 physical address bits.
constexpr uint64_t kGuestPhysLimit = 1ull << 36;

inline uint64_t mmio_window_base(uint64_t ram_bytes) {
    if (ram_bytes <= kMmioLowWindow) return kMmioLowWindow;
    return (ram_bytes + kMmioWindowSize - 1) & ~(kMmioWindowSize - 1);
}

inline bool mmio_window_fits(uint64_t ram_bytes) {
    return mmio_window_base(ram_bytes) + kMmioWindowSize <= kGuestPhysLimit;
}

inline uint64_t mmio_slot_base(uint64_t ram_bytes, uint32_t slot) {
    return mmio_window_base(ram_bytes) + slot * kMmioSlotSize;
}

} // namespace foldvm
