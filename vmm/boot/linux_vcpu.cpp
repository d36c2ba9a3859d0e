#include "linux_vcpu.hpp"

#include "linux_layout.hpp"

#include "vmm/kvm/kvm.hpp"
#include "vmm/memory/guest_memory.hpp"

#include <array>
#include <cstring>

namespace foldvm {

namespace {

constexpr uint64_t kPresent = 1, kWritable = 2, kHuge = 0x80;
constexpr uint16_t kBootCs = 0x10, kBootDs = 0x18, kBootTss = 0x20;
constexpr uint64_t kCr0Pe = 1, kCr0Et = 1ull << 4, kCr0Pg = 1ull << 31;
constexpr uint64_t kCr4Pae = 1ull << 5;
constexpr uint64_t kEferLme = 1ull << 8, kEferLma = 1ull << 10;

// LAPIC register offsets and LVT delivery modes (SDM vol. 3, 11.5.1).
constexpr size_t kApicLvtLint0 = 0x350, kApicLvtLint1 = 0x360;
constexpr uint32_t kDeliveryExtInt = 7u << 8, kDeliveryNmi = 4u << 8;

constexpr uint32_t kMsrIa32MiscEnable = 0x1a0;
constexpr uint64_t kMiscEnableFastString = 1;

kvm_segment segment(uint16_t selector, uint8_t type, bool code) {
    kvm_segment s{};
    s.base = 0;
    s.limit = 0xffffffff;
    s.selector = selector;
    s.type = type;
    s.present = 1;
    s.s = 1;
    s.g = 1;
    s.l = code ? 1 : 0;
    s.db = code ? 0 : 1;
    return s;
}

void set_lvt(kvm_lapic_state& lapic, size_t reg, uint32_t mode) {
    uint32_t v;
    std::memcpy(&v, lapic.regs + reg, 4);
    v = (v & ~0x700u) | mode;
    std::memcpy(lapic.regs + reg, &v, 4);
}

} // namespace

void write_linux_boot_tables(GuestMemory& mem) {
    using namespace linux_layout;
    std::array<uint64_t, 5> gdt = {
        0,
        0,
        0x00af9b000000ffffull, // 0x10 code, 64-bit
        0x00cf93000000ffffull, // 0x18 data
        0x00808b0000000067ull, // 0x20 TSS (busy), required for a valid TR
    };
    mem.write(kGdt, gdt.data(), sizeof gdt);
    uint64_t null_idt = 0;
    mem.write(kIdt, &null_idt, sizeof null_idt);

    std::vector<uint64_t> pd(512 * 4);
    for (uint64_t i = 0; i < pd.size(); ++i)
        pd[i] = (i << 21) | kPresent | kWritable | kHuge;
    mem.write(kPd, pd.data(), pd.size() * 8);
    std::array<uint64_t, 512> pdpt{};
    for (uint64_t i = 0; i < 4; ++i)
        pdpt[i] = (kPd + i * 0x1000) | kPresent | kWritable;
    mem.write(kPdpt, pdpt.data(), sizeof pdpt);
    uint64_t pml4e = kPdpt | kPresent | kWritable;
    mem.write(kPml4, &pml4e, sizeof pml4e);
}

std::vector<kvm_cpuid_entry2> linux_cpuid(std::vector<kvm_cpuid_entry2> cpuid, int index,
                                          int count) {
    for (kvm_cpuid_entry2& e : cpuid) {
        switch (e.function) {
        case 1:
            // Initial APIC id and logical processor count; "running under a
            // hypervisor" so Linux looks for the KVM leaves (kvm-clock).
            e.ebx = (e.ebx & 0x0000ffffu) | (static_cast<uint32_t>(index) << 24) |
                    (static_cast<uint32_t>(count) << 16);
            e.ecx |= 1u << 31;
            if (count > 1) e.edx |= 1u << 28; // HTT: the count above is meaningful
            break;
        case 0xb:
            e.edx = static_cast<uint32_t>(index); // x2APIC id
            break;
        default:
            break;
        }
    }
    return cpuid;
}

void setup_linux_vcpu(VcpuFd& vcpu, const std::vector<kvm_cpuid_entry2>& cpuid, bool boot_cpu,
                      uint64_t entry, uint64_t zero_page) {
    using namespace linux_layout;
    vcpu.set_cpuid(cpuid);
    vcpu.set_msrs({{kMsrIa32MiscEnable, kMiscEnableFastString}});

    kvm_fpu fpu{};
    fpu.fcw = 0x37f;
    fpu.mxcsr = 0x1f80;
    vcpu.set_fpu(fpu);

    // Virtual-wire mode, as a PC BIOS leaves it: the PIC's output reaches
    // the CPU through LINT0 until Linux switches to the IOAPIC.
    kvm_lapic_state lapic = vcpu.get_lapic();
    set_lvt(lapic, kApicLvtLint0, kDeliveryExtInt);
    set_lvt(lapic, kApicLvtLint1, kDeliveryNmi);
    vcpu.set_lapic(lapic);

    if (!boot_cpu) return;

    kvm_sregs s = vcpu.get_sregs();
    s.cs = segment(kBootCs, 11, true);
    s.ds = s.es = s.fs = s.gs = s.ss = segment(kBootDs, 3, false);
    s.tr = segment(kBootTss, 11, false);
    s.tr.s = 0;
    s.tr.g = 0;
    s.tr.db = 0;
    s.tr.limit = 0x67;
    s.gdt.base = kGdt;
    s.gdt.limit = 5 * 8 - 1;
    s.idt.base = kIdt;
    s.idt.limit = 7;
    s.cr3 = kPml4;
    s.cr4 |= kCr4Pae;
    s.cr0 |= kCr0Pe | kCr0Et | kCr0Pg;
    s.efer |= kEferLme | kEferLma;
    vcpu.set_sregs(s);

    kvm_regs r{};
    r.rip = entry;
    r.rsi = zero_page;
    r.rsp = kStackTop;
    r.rbp = kStackTop;
    r.rflags = 2;
    vcpu.set_regs(r);
}

} // namespace foldvm
