// CPU state for entering Linux through the 64-bit boot protocol: identity
// page tables and a boot GDT in guest RAM, long-mode segment registers,
// CPUID, FPU, LAPIC and MSR defaults a firmware would otherwise leave.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

namespace foldvm {

class GuestMemory;
class VcpuFd;

// Writes the boot GDT (with __BOOT_CS 0x10 and __BOOT_DS 0x18) and page
// tables identity-mapping the first 4 GiB; shared by every vCPU.
void write_linux_boot_tables(GuestMemory& mem);

// KVM's supported CPUID, adjusted for vCPU `index` of `count`.
std::vector<kvm_cpuid_entry2> linux_cpuid(std::vector<kvm_cpuid_entry2> supported, int index,
                                          int count);

// Full register setup for the boot vCPU: entry at `entry` with RSI
// pointing at the zero page. Secondary vCPUs only need cpuid/fpu/lapic;
// Linux brings them up through INIT/SIPI in the in-kernel LAPIC.
void setup_linux_vcpu(VcpuFd& vcpu, const std::vector<kvm_cpuid_entry2>& cpuid, bool boot_cpu,
                      uint64_t entry, uint64_t zero_page);

} // namespace foldvm
