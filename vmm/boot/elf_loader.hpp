// ELF64 unikernel image validation and loading. Parsing is a pure function of
// the file bytes so every rejection case is unit-testable without KVM.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace foldvm {

class GuestMemory;

struct ElfSegment {
    uint64_t gpa;
    uint64_t file_offset;
    uint64_t file_size;
    uint64_t mem_size;
    bool executable;
};

struct ElfImage {
    uint64_t entry = 0;
    uint64_t end = 0; // first byte after the highest segment, page aligned
    std::vector<ElfSegment> segments;
};

struct ElfLimits {
    uint64_t min_gpa; // lowest gpa a segment may occupy
    uint64_t max_gpa; // first gpa a segment may not occupy
    uint64_t max_file_size = 256ull << 20;
    uint32_t max_phnum = 64;
    // Place segments by physical address (p_paddr), as for a Linux vmlinux
    // linked at high virtual addresses; unikernels use p_vaddr.
    bool physical = false;
};

// Validates an image; throws InvalidInput naming the first problem found.
ElfImage parse_elf(std::span<const uint8_t> file, const ElfLimits& limits);

// Copies the segments into guest RAM (zeroing .bss) through the VMM write path.
void load_elf(std::span<const uint8_t> file, const ElfImage& image, GuestMemory& mem);

// Reads a whole file, rejecting missing, empty and oversized files clearly.
std::vector<uint8_t> read_image_file(const std::string& path, uint64_t max_size);

} // namespace foldvm
