// Boots a foldvm-ABI unikernel: loads the ELF image (and an optional initrd
// at the top of RAM), builds the page tables and GDT, and writes the
// boot-info block and command line at their fixed addresses (foldvm_abi.h).
#pragma once

#include "vmm/abi/foldvm_abi.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace foldvm {

class GuestMemory;
class VcpuFd;

struct UnikernelBootParams {
    std::span<const uint8_t> image;
    // Absent without an initrd; an empty one is refused.
    std::optional<std::span<const uint8_t>> initrd;
    std::string cmdline;
    int guest_cpl = 3;
    uint64_t vm_index = 0;
    std::span<const foldvm_device> devices;
    // The device MMIO window to identity-map (size 0: none).
    uint64_t device_window_base = 0;
    uint64_t device_window_size = 0;
};

struct UnikernelBoot {
    uint64_t entry = 0;
    foldvm_boot_info info{}; // as written into guest RAM
};

// Throws InvalidInput for an image or initrd that does not fit.
UnikernelBoot load_unikernel(GuestMemory& memory, const UnikernelBootParams& params);

// Enters vCPU `index` at `entry` in long mode: RDI holds the boot info, RSI
// the vCPU index, and each extra vCPU gets its own 16 KiB of stack below the
// boot vCPU's.
void setup_unikernel_vcpu(VcpuFd& vcpu, uint64_t entry, int index, int guest_cpl);

} // namespace foldvm
