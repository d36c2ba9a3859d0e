#include "linux_loader.hpp"

#include "bzimage_payload.hpp"
#include "elf_loader.hpp"
#include "linux_layout.hpp"

#include "common/error.hpp"
#include "common/page.hpp"
#include "vmm/memory/guest_memory.hpp"

#include <asm/bootparam.h>
#include <asm/e820.h>

#include <cstring>

namespace foldvm {

namespace {

constexpr uint8_t kLoaderUndefined = 0xff; // type_of_loader: "no registered id"

uint64_t align_up(uint64_t v, uint64_t a) {
    return (v + a - 1) & ~(a - 1);
}

} // namespace

std::vector<E820Entry> linux_e820(uint64_t ram_bytes) {
    using namespace linux_layout;
    return {
        {0, kEbda, E820_RAM},
        {kEbda, 0xa0000 - kEbda, E820_RESERVED},
        {kAcpiTables, kAcpiTablesEnd - kAcpiTables, E820_RESERVED},
        {kKernel, ram_bytes - kKernel, E820_RAM},
    };
}

LinuxLoad load_linux(GuestMemory& mem, std::span<const uint8_t> file, const BzImage& image,
                     std::span<const uint8_t> initrd, const std::string& cmdline, uint64_t rsdp_gpa,
                     bool host_decompress) {
    using namespace linux_layout;
    uint64_t ram = mem.size();
    if (ram > kMaxRam)
        throw InvalidInput("Linux guests support at most 3.25 GiB of RAM for now, got " +
                           std::to_string(ram >> 20) + " MiB");
    LinuxLoad out;
    std::optional<std::vector<uint8_t>> vmlinux;
    if (host_decompress) vmlinux = decompress_bzimage_payload(file, image);
    std::optional<ElfImage> elf;
    uint64_t kernel_end = 0;
    if (vmlinux) {
        // The vmlinux is linked to run at its physical load address; it
        // needs init_size bytes from there (bss, brk, early page tables).
        ElfLimits limits{kKernel, ram, 512ull << 20, 64, true};
        elf = parse_elf(*vmlinux, limits);
        out.kernel_gpa = elf->segments.front().gpa;
        out.entry = elf->entry;
        out.host_decompressed = true;
        kernel_end = std::max(elf->end, out.kernel_gpa + image.init_size);
    } else {
        // A relocatable kernel moves itself to its preferred place; loading
        // it low leaves the most room above for the initrd.
        out.kernel_gpa = image.relocatable ? kKernel : image.pref_address;
        out.entry = out.kernel_gpa + 0x200;
        kernel_end = out.kernel_gpa + std::max(image.init_size, image.kernel_size);
    }
    if (kernel_end > ram)
        throw InvalidInput("kernel needs RAM up to " + std::to_string(kernel_end >> 20) +
                           " MiB, more than the guest's " + std::to_string(ram >> 20) + " MiB");

    uint64_t cmdline_limit = std::min<uint64_t>(image.cmdline_max, kCmdlineMax - 1);
    if (cmdline.size() > cmdline_limit)
        throw InvalidInput("command line is " + std::to_string(cmdline.size()) +
                           " bytes; this kernel accepts at most " + std::to_string(cmdline_limit));
    if (cmdline.find('\0') != std::string::npos)
        throw InvalidInput("command line contains a NUL byte");

    if (!initrd.empty()) {
        // Highest page-aligned spot below both RAM's end and the kernel's
        // initrd_addr_max, above everything the kernel itself claims.
        uint64_t top = std::min(ram, image.initrd_addr_max + 1);
        if (initrd.size() > top || (top - initrd.size()) < align_up(kernel_end, kPageSize))
            throw InvalidInput("initrd of " + std::to_string(initrd.size() >> 20) +
                               " MiB does not fit between the kernel and the end of the " +
                               std::to_string(ram >> 20) + " MiB of RAM");
        out.initrd_gpa = (top - initrd.size()) & ~(kPageSize - 1);
        out.initrd_size = initrd.size();
        mem.write(out.initrd_gpa, initrd.data(), initrd.size());
    }

    if (elf)
        load_elf(*vmlinux, *elf, mem);
    else
        mem.write(out.kernel_gpa, file.data() + image.kernel_offset, image.kernel_size);
    mem.write(kCmdline, cmdline.c_str(), cmdline.size() + 1);

    boot_params params{};
    std::memcpy(&params.hdr, image.setup_header.data(),
                std::min(image.setup_header.size(), sizeof params.hdr));
    params.hdr.type_of_loader = kLoaderUndefined;
    params.hdr.loadflags |= CAN_USE_HEAP;
    params.hdr.heap_end_ptr = 0xfe00;
    params.hdr.code32_start = static_cast<uint32_t>(out.kernel_gpa);
    params.hdr.cmd_line_ptr = static_cast<uint32_t>(kCmdline);
    params.hdr.ramdisk_image = static_cast<uint32_t>(out.initrd_gpa);
    params.hdr.ramdisk_size = static_cast<uint32_t>(out.initrd_size);
    params.hdr.hardware_subarch = X86_SUBARCH_PC;
    params.acpi_rsdp_addr = rsdp_gpa;
    auto e820 = linux_e820(ram);
    params.e820_entries = static_cast<uint8_t>(e820.size());
    for (size_t i = 0; i < e820.size(); ++i)
        params.e820_table[i] = {e820[i].addr, e820[i].size, e820[i].type};
    mem.write(kZeroPage, &params, sizeof params);
    return out;
}

} // namespace foldvm
