#include "bzimage_payload.hpp"

#include "common/error.hpp"

#include <lz4.h>

#include <cstring>

namespace foldvm {

namespace {

constexpr uint32_t kLz4LegacyMagic = 0x184c2102;
constexpr size_t kLz4LegacyBlock = 8u << 20; // each block inflates to at most 8 MiB
constexpr size_t kMaxKernel = 512u << 20;

[[noreturn]] void reject(const std::string& why) {
    throw InvalidInput("invalid bzImage payload: " + why);
}

uint32_t le32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// The Linux "legacy" LZ4 format (lz4 -l): magic, then blocks of
// <u32 compressed size><data>, each inflating to at most 8 MiB.
std::vector<uint8_t> inflate_lz4_legacy(std::span<const uint8_t> in) {
    std::vector<uint8_t> out;
    size_t pos = 4;
    while (pos + 4 <= in.size()) {
        uint32_t block = le32(in.data() + pos);
        if (block == kLz4LegacyMagic) { // concatenated streams
            pos += 4;
            continue;
        }
        pos += 4;
        if (block == 0 || block > in.size() - pos) break; // trailing size field / padding
        if (out.size() + kLz4LegacyBlock > kMaxKernel) reject("kernel larger than 512 MiB");
        size_t at = out.size();
        out.resize(at + kLz4LegacyBlock);
        int n = LZ4_decompress_safe(reinterpret_cast<const char*>(in.data() + pos),
                                    reinterpret_cast<char*>(out.data() + at),
                                    static_cast<int>(block), static_cast<int>(kLz4LegacyBlock));
        if (n < 0) reject("corrupt LZ4 block at offset " + std::to_string(pos));
        out.resize(at + static_cast<size_t>(n));
        pos += block;
    }
    return out;
}

} // namespace

std::optional<std::vector<uint8_t>> decompress_bzimage_payload(std::span<const uint8_t> file,
                                                               const BzImage& image) {
    if (image.payload_length < 4) return std::nullopt;
    uint64_t start = image.kernel_offset + image.payload_offset;
    if (start > file.size() || image.payload_length > file.size() - start)
        reject("payload lies outside the file");
    std::span<const uint8_t> payload = file.subspan(start, image.payload_length);
    if (le32(payload.data()) != kLz4LegacyMagic) return std::nullopt;
    std::vector<uint8_t> elf = inflate_lz4_legacy(payload);
    if (elf.size() < 4 || std::memcmp(elf.data(),
                                      "\x7f"
                                      "ELF",
                                      4) != 0)
        reject("decompressed kernel is not an ELF image");
    return elf;
}

} // namespace foldvm
