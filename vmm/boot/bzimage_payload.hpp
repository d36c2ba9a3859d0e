// The kernel inside a bzImage, decompressed on the host. Booting the
// uncompressed vmlinux directly (as Firecracker does) skips the guest's
// relocation and decompression, the slowest part of early boot where guest
// code runs emulated. Payload formats without a decompressor here (gzip,
// xz, zstd...) return nullopt and the guest decompresses itself.
#pragma once

#include "bzimage.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace foldvm {

// The payload's ELF (vmlinux), or nullopt for an unsupported compression.
// Throws InvalidInput for a corrupt payload in a supported format.
std::optional<std::vector<uint8_t>> decompress_bzimage_payload(std::span<const uint8_t> file,
                                                               const BzImage& image);

} // namespace foldvm
