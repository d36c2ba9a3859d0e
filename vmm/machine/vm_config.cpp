#include "vm_config.hpp"

#include "common/error.hpp"
#include "vmm/abi/foldvm_abi.h"
#include "vmm/boot/x86_setup.hpp"
#include "vmm/devices/mmio_layout.hpp"

#include <cctype>
#include <set>

namespace foldvm {

void VmConfig::validate() const {
    if (!image || image->empty()) throw InvalidInput("no guest image given");
    if (mem_bytes < (4ull << 20) || mem_bytes > kMaxGuestRam || mem_bytes % 4096)
        throw InvalidInput("mem must be a multiple of 4 KiB in [4 MiB, 64 GiB], got " +
                           std::to_string(mem_bytes) + " bytes");
    if (vcpus < 1 || vcpus > 64)
        throw InvalidInput("vcpus must be in [1, 64], got " + std::to_string(vcpus));
    if (guest_cpl != 0 && guest_cpl != 3)
        throw InvalidInput("guest_cpl must be 0 or 3, got " + std::to_string(guest_cpl));
    if (cmdline.size() >= FOLDVM_CMDLINE_MAX)
        throw InvalidInput("cmdline is " + std::to_string(cmdline.size()) +
                           " bytes; the limit is " + std::to_string(FOLDVM_CMDLINE_MAX - 1));
    if (dedup_domain.empty() || dedup_domain.size() > 64)
        throw InvalidInput("dedup_domain must be 1..64 characters");
    if (balloon) {
        balloon->validate(mem_bytes);
        if (!mmio_window_fits(mem_bytes))
            throw InvalidInput("devices need guest RAM below 64 GiB - 2 MiB");
    }
    if (!drives.empty()) {
        if (drives.size() > kMaxDrives)
            throw InvalidInput("at most " + std::to_string(kMaxDrives) + " drives, got " +
                               std::to_string(drives.size()));
        std::set<std::string> ids;
        for (const BlockConfig& d : drives) {
            d.validate();
            if (!d.id.empty() && !ids.insert(d.id).second)
                throw InvalidInput("drive id '" + d.id + "' is used twice");
        }
        if (!mmio_window_fits(mem_bytes))
            throw InvalidInput("devices need guest RAM below 64 GiB - 2 MiB");
    }
}

uint64_t parse_size(const std::string& text) {
    size_t pos = 0;
    unsigned long long value = 0;
    try {
        value = std::stoull(text, &pos, 10);
    } catch (const std::exception&) {
        throw InvalidInput("invalid size '" + text + "' (expected e.g. 64M, 1G)");
    }
    std::string suffix = text.substr(pos);
    uint64_t mult = 1;
    if (suffix.empty() || suffix == "B") mult = 1;
    else if (suffix == "K" || suffix == "k" || suffix == "KiB") mult = 1ull << 10;
    else if (suffix == "M" || suffix == "m" || suffix == "MiB") mult = 1ull << 20;
    else if (suffix == "G" || suffix == "g" || suffix == "GiB") mult = 1ull << 30;
    else throw InvalidInput("invalid size suffix in '" + text + "' (use K, M or G)");
    if (value > (~0ull) / mult) throw InvalidInput("size '" + text + "' overflows");
    return value * mult;
}

} // namespace foldvm
