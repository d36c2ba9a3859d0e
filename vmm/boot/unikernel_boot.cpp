#include "unikernel_boot.hpp"

#include "common/error.hpp"
#include "elf_loader.hpp"
#include "x86_setup.hpp"

#include "vmm/kvm/kvm.hpp"
#include "vmm/memory/guest_memory.hpp"

#include <algorithm>

namespace foldvm {

UnikernelBoot load_unikernel(GuestMemory& memory, const UnikernelBootParams& params) {
    uint64_t heap_end = memory.size();
    if (params.initrd) {
        uint64_t size = params.initrd->size();
        if (size == 0 || size > memory.size() / 2)
            throw InvalidInput("initrd of " + std::to_string(size) +
                               " bytes does not fit in half of guest RAM");
        heap_end = (memory.size() - size) & ~(kPageSize - 1);
    }
    ElfLimits limits{FOLDVM_IMAGE_MIN_GPA, heap_end};
    ElfImage image = parse_elf(params.image, limits);
    load_elf(params.image, image, memory);
    build_page_tables_and_gdt(memory, params.device_window_base, params.device_window_size);

    UnikernelBoot boot;
    boot.entry = image.entry;
    foldvm_boot_info& info = boot.info;
    info.magic = FOLDVM_BOOT_INFO_MAGIC;
    info.version = FOLDVM_ABI_VERSION;
    info.ram_size = memory.size();
    info.kernel_end = image.end;
    info.heap_end = heap_end;
    info.cmdline_gpa = FOLDVM_CMDLINE_GPA;
    info.cmdline_len = params.cmdline.size();
    info.cpl = static_cast<uint32_t>(params.guest_cpl);
    info.vm_index = params.vm_index;
    info.device_count = static_cast<uint32_t>(params.devices.size());
    std::copy(params.devices.begin(), params.devices.end(), info.devices);
    if (params.initrd) {
        info.initrd_gpa = heap_end;
        info.initrd_size = params.initrd->size();
        memory.write(heap_end, params.initrd->data(), params.initrd->size());
    }
    memory.write(FOLDVM_CMDLINE_GPA, params.cmdline.c_str(), params.cmdline.size() + 1);
    memory.write(FOLDVM_BOOT_INFO_GPA, &info, sizeof info);
    return boot;
}

void setup_unikernel_vcpu(VcpuFd& vcpu, uint64_t entry, int index, int guest_cpl) {
    kvm_sregs sregs = vcpu.get_sregs();
    setup_long_mode_sregs(sregs, guest_cpl);
    vcpu.set_sregs(sregs);
    // Secondary vCPUs start parked in the guest's poll loop is a guest
    // concern; every vCPU enters at the image entry with its index in RSI.
    kvm_regs regs = initial_regs(entry, FOLDVM_BOOT_INFO_GPA, guest_cpl);
    regs.rsi = static_cast<uint64_t>(index);
    regs.rsp -= static_cast<uint64_t>(index) * 0x4000; // 16 KiB stack per extra vCPU
    vcpu.set_regs(regs);
}

} // namespace foldvm
