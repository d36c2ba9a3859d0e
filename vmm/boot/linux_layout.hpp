// Where a Linux guest's boot structures live in guest-physical memory. The
// low layout follows Firecracker's (zero page at 0x7000, command line at
// 0x20000, kernel at 1 MiB) so its users find the same addresses.
#pragma once

#include <cstdint>

namespace foldvm::linux_layout {

constexpr uint64_t kGdt = 0x500;
constexpr uint64_t kIdt = 0x520;
constexpr uint64_t kZeroPage = 0x7000; // struct boot_params
constexpr uint64_t kStackTop = 0x8ff0;
constexpr uint64_t kPml4 = 0x9000;
constexpr uint64_t kPdpt = 0xa000;
constexpr uint64_t kPd = 0xb000; // four pages: identity map of 4 GiB in 2 MiB pages
constexpr uint64_t kCmdline = 0x20000;
constexpr uint64_t kCmdlineMax = 0x10000;
constexpr uint64_t kEbda = 0x9fc00;       // end of low RAM, as on a PC
constexpr uint64_t kAcpiTables = 0xe0000; // RSDP and tables, in the BIOS area
constexpr uint64_t kAcpiTablesEnd = 0x100000;
constexpr uint64_t kKernel = 0x100000; // 1 MiB
constexpr uint64_t kIoApic = 0xfec00000;
constexpr uint64_t kLapic = 0xfee00000;
constexpr uint64_t kTssAddr = 0xfffbd000; // KVM's own use on Intel (3 pages)
constexpr uint64_t kIdentityMap = 0xfffbc000;
// Linux guests keep RAM below the MMIO window and the APICs (no 32-bit hole
// split yet).
constexpr uint64_t kMaxRam = 0xd0000000;

} // namespace foldvm::linux_layout
