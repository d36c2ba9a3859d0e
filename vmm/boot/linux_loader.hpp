// Puts a validated bzImage, its initrd and command line into guest RAM and
// writes the zero page (struct boot_params) the 64-bit boot protocol expects.
#pragma once

#include "bzimage.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace foldvm {

class GuestMemory;

struct E820Entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type; // 1 = RAM, 2 = reserved
};

// The memory map a guest with `ram_bytes` of RAM is given.
std::vector<E820Entry> linux_e820(uint64_t ram_bytes);

struct LinuxLoad {
    uint64_t kernel_gpa = 0;
    uint64_t entry = 0;             // 64-bit entry point: kernel_gpa + 0x200
    bool host_decompressed = false; // the vmlinux was unpacked on the host
    uint64_t initrd_gpa = 0;
    uint64_t initrd_size = 0;
};

// Throws InvalidInput when the kernel, initrd or command line do not fit.
// With `host_decompress`, a payload this host can inflate is loaded as the
// uncompressed vmlinux and entered at startup_64.
LinuxLoad load_linux(GuestMemory& mem, std::span<const uint8_t> file, const BzImage& image,
                     std::span<const uint8_t> initrd, const std::string& cmdline, uint64_t rsdp_gpa,
                     bool host_decompress = true);

} // namespace foldvm
