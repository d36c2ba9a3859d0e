#include "bzimage.hpp"

#include "common/error.hpp"

#include <asm/bootparam.h>

#include <cstring>

namespace foldvm {

namespace {

constexpr uint64_t kSetupHeaderOffset = 0x1f1;
constexpr uint64_t kMaxImageSize = 256ull << 20;
constexpr uint16_t kMinProtocol = 0x020c; // 2.12: xloadflags, so the 64-bit entry is declared

[[noreturn]] void reject(const std::string& why) {
    throw InvalidInput("invalid bzImage: " + why);
}

template <typename T> T read_at(std::span<const uint8_t> file, uint64_t offset) {
    T v;
    std::memcpy(&v, file.data() + offset, sizeof v);
    return v;
}

std::string hex(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

} // namespace

bool looks_like_boot_image(std::span<const uint8_t> file) {
    if (file.size() >= 4 && std::memcmp(file.data(),
                                        "\x7f"
                                        "ELF",
                                        4) == 0)
        return false;
    return file.size() >= 0x200 && read_at<uint16_t>(file, 0x1fe) == 0xaa55;
}

BzImage parse_bzimage(std::span<const uint8_t> file) {
    if (file.size() < 1024) reject("truncated: shorter than the setup header");
    if (file.size() > kMaxImageSize)
        reject("file is " + std::to_string(file.size()) + " bytes, over the " +
               std::to_string(kMaxImageSize) + "-byte limit");
    if (read_at<uint16_t>(file, 0x1fe) != 0xaa55) reject("boot flag 0xaa55 missing at 0x1fe");
    if (std::memcmp(file.data() + 0x202, "HdrS", 4) != 0)
        reject("setup header magic \"HdrS\" missing at 0x202");

    setup_header hdr{};
    // The header's own length: the jump at 0x200 skips exactly over it.
    uint64_t header_end = 0x202 + file[0x201];
    uint64_t copy = std::min<uint64_t>(header_end - kSetupHeaderOffset, sizeof hdr);
    std::memcpy(&hdr, file.data() + kSetupHeaderOffset, copy);

    BzImage out;
    out.protocol = hdr.version;
    if (hdr.version < kMinProtocol)
        reject("boot protocol " + hex(hdr.version) +
               " is older than 2.12; foldvm needs the "
               "64-bit entry point");
    if (!(hdr.xloadflags & XLF_KERNEL_64)) reject("kernel has no 64-bit entry point (xloadflags)");
    if (!(hdr.loadflags & LOADED_HIGH)) reject("kernel does not load high (zImage is unsupported)");

    uint64_t setup_sects = hdr.setup_sects == 0 ? 4 : hdr.setup_sects;
    out.kernel_offset = (setup_sects + 1) * 512;
    if (out.kernel_offset >= file.size())
        reject("setup code (" + std::to_string(setup_sects) +
               " sectors) runs past the end of the file");
    out.kernel_size = file.size() - out.kernel_offset;
    // syssize counts 16-byte paragraphs of the protected-mode kernel.
    uint64_t declared = static_cast<uint64_t>(hdr.syssize) * 16;
    if (declared == 0 || declared > out.kernel_size + 15)
        reject("kernel is truncated: header declares " + std::to_string(declared) +
               " bytes, file holds " + std::to_string(out.kernel_size));

    out.alignment = hdr.kernel_alignment;
    if (out.alignment == 0 || (out.alignment & (out.alignment - 1)) || out.alignment > (1u << 30))
        reject("kernel_alignment " + hex(out.alignment) + " is not a power of two up to 1 GiB");
    out.relocatable = hdr.relocatable_kernel != 0;
    out.pref_address = hdr.pref_address;
    out.init_size = hdr.init_size;
    if (out.init_size < out.kernel_size)
        reject("init_size " + hex(out.init_size) + " is smaller than the kernel itself");
    if (out.init_size > (1ull << 30)) reject("init_size " + hex(out.init_size) + " exceeds 1 GiB");
    if (!out.relocatable && (out.pref_address < (1ull << 20) || out.pref_address > (1ull << 30)))
        reject("non-relocatable kernel wants load address " + hex(out.pref_address) +
               ", outside [1 MiB, 1 GiB]");
    out.initrd_addr_max = hdr.initrd_addr_max;
    out.cmdline_max = hdr.cmdline_size;
    if (out.cmdline_max == 0) reject("cmdline_size is zero");

    out.payload_offset = hdr.payload_offset;
    out.payload_length = hdr.payload_length;
    out.setup_header.assign(file.begin() + kSetupHeaderOffset,
                            file.begin() + static_cast<long>(kSetupHeaderOffset + copy));
    return out;
}

} // namespace foldvm
