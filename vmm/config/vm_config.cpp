#include "vm_config.hpp"

#include "common/error.hpp"
#include "vmm/abi/foldvm_abi.h"
#include "vmm/boot/x86_setup.hpp"
#include "vmm/devices/mmio_layout.hpp"

#include <cctype>
#include <set>

namespace foldvm {

namespace {

constexpr uint64_t kMaxPathBytes = 4096;

void check_device_window(uint64_t mem_bytes, const char* field) {
    if (!mmio_window_fits(mem_bytes))
        throw model::FieldError(model::FieldProblem::OutOfRange, field,
                                "devices need guest RAM below 64 GiB - 2 MiB, mem_mib is " +
                                    std::to_string(mem_bytes >> 20));
}

} // namespace

const model::FieldTable<VmConfig>& VmConfig::fields() {
    using C = VmConfig;
    static const model::FieldTable<C> table(
        "VM setting",
        {
            {.name = "kernel",
             .member = &C::kernel_path,
             .min = 0,
             .max = kMaxPathBytes,
             .doc = "absolute path of the guest image (ELF64 or bzImage)",
             .required = true},
            {.name = "mem_mib",
             .member = &C::mem_bytes,
             .min = 4,
             .max = kMaxGuestRam >> 20,
             .unit = "MiB",
             .doc = "guest RAM",
             .scale = 1ull << 20},
            {.name = "vcpus", .member = &C::vcpus, .min = 1, .max = 64, .doc = "vCPUs"},
            {.name = "cmdline",
             .member = &C::cmdline,
             .min = 0,
             .max = FOLDVM_CMDLINE_MAX - 1,
             .unit = "bytes",
             .doc = "guest command line",
             .null_in = true},
            {.name = "initrd",
             .member = &C::initrd_path,
             .min = 0,
             .max = kMaxPathBytes,
             .doc = "absolute path of a blob loaded into guest RAM",
             .null_in = true,
             .null_out = true},
            {.name = "mem_limit_mib",
             .member = &C::mem_limit_mib,
             .min = 0,
             .max = 1ull << 32,
             .unit = "MiB",
             .doc = "most resident memory the overcommit governor lets the VM keep; 0 = none",
             .live = true},
            {.name = "mem_priority",
             .member = &C::mem_priority,
             .min = 0,
             .max = 100,
             .doc = "share of memory when it is tight: higher keeps its pages longer",
             .live = true},
            {.name = "dedup_domain",
             .member = &C::dedup_domain,
             .min = 1,
             .max = 64,
             .unit = "bytes",
             .doc = "non-zero pages merge only within one domain"},
            {.name = "guest_cpl",
             .member = &C::guest_cpl,
             .min = 0,
             .max = 3,
             .doc = "privilege level the guest runs at",
             .choices = {0, 3}},
        });
    return table;
}

void VmConfig::validate() const {
    if (!image || image->empty()) throw InvalidInput("no guest image given");
    if (mem_bytes < (4ull << 20) || mem_bytes > kMaxGuestRam || mem_bytes % 4096)
        throw model::FieldError(model::FieldProblem::OutOfRange, "mem_mib",
                                "mem must be a multiple of 4 KiB in [4 MiB, 64 GiB], got " +
                                    std::to_string(mem_bytes) + " bytes");
    fields().validate(*this);
    if (balloon) {
        try {
            balloon->validate(mem_bytes);
        } catch (const model::FieldError& e) {
            throw model::FieldError(e.problem(), "balloon." + e.field(), e.what());
        }
        check_device_window(mem_bytes, "balloon");
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
        check_device_window(mem_bytes, "drives");
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
    if (suffix.empty() || suffix == "B")
        mult = 1;
    else if (suffix == "K" || suffix == "k" || suffix == "KiB")
        mult = 1ull << 10;
    else if (suffix == "M" || suffix == "m" || suffix == "MiB")
        mult = 1ull << 20;
    else if (suffix == "G" || suffix == "g" || suffix == "GiB")
        mult = 1ull << 30;
    else
        throw InvalidInput("invalid size suffix in '" + text + "' (use K, M or G)");
    if (value > (~0ull) / mult) throw InvalidInput("size '" + text + "' overflows");
    return value * mult;
}

} // namespace foldvm
