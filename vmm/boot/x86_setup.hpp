// Builds the long-mode environment a unikernel is entered in: identity page
// tables, a GDT with kernel and user segments, and the vCPU registers.
#pragma once

#include <linux/kvm.h>

#include <cstdint>

namespace foldvm {

class GuestMemory;

// Writes page tables and the GDT/TSS into guest RAM (fixed low-memory layout
// from foldvm_abi.h). The first page stays unmapped so null derefs fault.
// A non-empty MMIO window (2 MiB aligned, outside RAM) is identity-mapped
// uncached and user-accessible, so CPL 3 guests can reach their devices.
void build_page_tables_and_gdt(GuestMemory& mem, uint64_t mmio_base = 0, uint64_t mmio_size = 0);

// Register state for entering `entry` at privilege level `cpl` (0 or 3; at 3
// the guest also gets IOPL 3 so its port-I/O hypercalls work).
void setup_long_mode_sregs(kvm_sregs& sregs, int cpl);
kvm_regs initial_regs(uint64_t entry, uint64_t boot_info_gpa, int cpl);

// Largest RAM the page-table layout can identity-map.
constexpr uint64_t kMaxGuestRam = 64ull << 30;

} // namespace foldvm
