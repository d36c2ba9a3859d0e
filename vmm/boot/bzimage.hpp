// x86 Linux bzImage validation (boot protocol, Documentation/arch/x86/boot.rst).
// Like the ELF loader, parsing is a pure function of the file bytes, so each
// rejection has a unit test and a hostile image never reaches guest RAM.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace foldvm {

struct BzImage {
    uint16_t protocol = 0;      // boot protocol version, e.g. 0x020f
    uint64_t kernel_offset = 0; // file offset of the protected-mode kernel
    uint64_t kernel_size = 0;   // its size in the file
    uint64_t init_size = 0;     // memory the kernel needs from its load address
    uint64_t alignment = 0;     // kernel_alignment
    bool relocatable = false;
    uint64_t pref_address = 0;
    uint64_t initrd_addr_max = 0; // highest byte an initrd may occupy
    uint64_t cmdline_max = 0;     // longest command line, without the NUL
    uint64_t payload_offset = 0;  // compressed kernel, relative to kernel_offset
    uint64_t payload_length = 0;
    std::vector<uint8_t> setup_header; // bytes 0x1f1.. to copy into boot_params
};

// True for an x86 boot image, valid or not: no ELF magic, and the 0xaa55
// boot flag at 0x1fe. Such a file is judged (and rejected) as a bzImage.
bool looks_like_boot_image(std::span<const uint8_t> file);

// Validates an image; throws InvalidInput naming the first problem found.
BzImage parse_bzimage(std::span<const uint8_t> file);

} // namespace foldvm
