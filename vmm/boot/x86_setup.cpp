#include "x86_setup.hpp"

#include "vmm/abi/foldvm_abi.h"
#include "vmm/memory/guest_memory.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>
#include <vector>

namespace foldvm {

namespace {

constexpr uint64_t kPresent = 1, kWritable = 2, kUser = 4, kHuge = 0x80;
constexpr uint64_t kUncached = 0x10 | 0x8; // PCD | PWT
constexpr uint64_t kHugePage = 2ull << 20;
constexpr uint64_t kPml4 = FOLDVM_PAGE_TABLE_GPA;
constexpr uint64_t kPdpt = kPml4 + 0x1000;
constexpr uint64_t kLowPt = kPml4 + 0x2000; // 4 KiB pages for the first 2 MiB
constexpr uint64_t kFirstPd = kPml4 + 0x3000;
constexpr uint64_t kTssGpa = FOLDVM_GDT_GPA + 0x100;
// The TSS carries an I/O permission bitmap that opens the hypercall ports.
// Some hypervisors (kvm-pvm on the build machines) ignore IOPL for user-mode
// port I/O and consult only this bitmap, so CPL 3 hypercalls need it.
constexpr uint64_t kIoBitmapOffset = 0x68;
constexpr uint64_t kIoBitmapBytes = FOLDVM_HC_PORT_BASE / 8 + 2 + 1; // ports + terminator
constexpr uint64_t kTssLimit = kIoBitmapOffset + kIoBitmapBytes - 1;

constexpr uint16_t kKernelCs = 0x08, kKernelDs = 0x10, kUserDs = 0x18, kUserCs = 0x20,
                   kTssSel = 0x28;

uint64_t pd_count(uint64_t ram) {
    return (ram + (1ull << 30) - 1) >> 30;
}

kvm_segment code_segment(int dpl) {
    kvm_segment s{};
    s.limit = 0xffffffff;
    s.selector = static_cast<uint16_t>(dpl ? (kUserCs | 3) : kKernelCs);
    s.type = 11; // execute/read, accessed
    s.present = 1;
    s.dpl = static_cast<uint8_t>(dpl);
    s.s = 1;
    s.l = 1;
    s.g = 1;
    return s;
}

kvm_segment data_segment(int dpl) {
    kvm_segment s{};
    s.limit = 0xffffffff;
    s.selector = static_cast<uint16_t>(dpl ? (kUserDs | 3) : kKernelDs);
    s.type = 3; // read/write, accessed
    s.present = 1;
    s.dpl = static_cast<uint8_t>(dpl);
    s.db = 1;
    s.s = 1;
    s.g = 1;
    return s;
}

} // namespace

void build_page_tables_and_gdt(GuestMemory& mem, uint64_t mmio_base, uint64_t mmio_size) {
    uint64_t ram = mem.size();
    uint64_t pds = pd_count(ram);
    mmio_size = (mmio_size + kHugePage - 1) & ~(kHugePage - 1);
    if (mmio_size &&
        (mmio_base % kHugePage || mmio_base < ram || mmio_base + mmio_size > (512ull << 30) ||
         (mmio_base >> 30) != ((mmio_base + mmio_size - 1) >> 30)))
        throw std::invalid_argument("MMIO window must be 2 MiB aligned, above RAM, in one GiB");
    // The window's GiB may need a page directory of its own after RAM's.
    uint64_t mmio_gib = mmio_base >> 30;
    bool extra_pd = mmio_size && mmio_gib >= pds;
    uint64_t mmio_pd = extra_pd ? kFirstPd + pds * 0x1000 : kFirstPd + mmio_gib * 0x1000;

    // Low 2 MiB in 4 KiB pages: page 0 absent; the monitor's own structures
    // (GDT, page tables) are supervisor-only so a CPL 3 guest cannot rewrite
    // them; boot info and command line are user read-only.
    std::vector<uint64_t> low(512, 0);
    uint64_t tables_end = kFirstPd + (pds + (extra_pd ? 1 : 0)) * 0x1000;
    for (uint64_t i = 1; i < 512 && i * kPageSize < ram; ++i) {
        uint64_t gpa = i * kPageSize;
        uint64_t flags = kPresent | kWritable | kUser;
        if (gpa == FOLDVM_GDT_GPA || (gpa >= kPml4 && gpa < tables_end)) flags = kPresent;
        if (gpa == FOLDVM_BOOT_INFO_GPA || gpa == FOLDVM_CMDLINE_GPA) flags = kPresent | kUser;
        low[i] = gpa | flags;
    }
    mem.write(kLowPt, low.data(), low.size() * 8);

    auto map_mmio = [&](std::vector<uint64_t>& pd) {
        for (uint64_t gpa = mmio_base; gpa < mmio_base + mmio_size; gpa += kHugePage)
            pd[(gpa >> 21) & 511] = gpa | kPresent | kWritable | kUser | kHuge | kUncached;
    };
    std::vector<uint64_t> pd(512);
    for (uint64_t d = 0; d < pds; ++d) {
        for (uint64_t e = 0; e < 512; ++e) {
            uint64_t gpa = (d << 30) | (e << 21);
            pd[e] = gpa < ram ? (gpa | kPresent | kWritable | kUser | kHuge) : 0;
        }
        if (d == 0) pd[0] = kLowPt | kPresent | kWritable | kUser;
        if (mmio_size && d == mmio_gib) map_mmio(pd);
        mem.write(kFirstPd + d * 0x1000, pd.data(), pd.size() * 8);
    }
    if (extra_pd) {
        std::fill(pd.begin(), pd.end(), 0);
        map_mmio(pd);
        mem.write(mmio_pd, pd.data(), pd.size() * 8);
    }
    std::vector<uint64_t> pdpt(512, 0);
    for (uint64_t d = 0; d < pds; ++d)
        pdpt[d] = (kFirstPd + d * 0x1000) | kPresent | kWritable | kUser;
    if (extra_pd) pdpt[mmio_gib] = mmio_pd | kPresent | kWritable | kUser;
    mem.write(kPdpt, pdpt.data(), pdpt.size() * 8);
    uint64_t pml4e = kPdpt | kPresent | kWritable | kUser;
    mem.write(kPml4, &pml4e, sizeof pml4e);

    std::array<uint64_t, 7> gdt = {
        0,
        0x00af9b000000ffffull, // 0x08 kernel code, 64-bit
        0x00cf93000000ffffull, // 0x10 kernel data
        0x00cff3000000ffffull, // 0x18 user data, DPL 3
        0x00affb000000ffffull, // 0x20 user code, 64-bit, DPL 3
        // 0x28 TSS descriptor (16 bytes): base kTssGpa, limit kTssLimit, busy
        0x0000890000000000ull | kTssLimit | ((kTssGpa & 0xffffff) << 16) |
            ((kTssGpa >> 24 & 0xff) << 56),
        kTssGpa >> 32,
    };
    mem.write(FOLDVM_GDT_GPA, gdt.data(), sizeof gdt);

    std::vector<uint8_t> tss(kIoBitmapOffset + kIoBitmapBytes, 0);
    tss[0x66] = static_cast<uint8_t>(kIoBitmapOffset);
    tss[0x67] = 0;
    uint8_t* bitmap = tss.data() + kIoBitmapOffset;
    std::fill(bitmap, bitmap + kIoBitmapBytes, 0xff); // deny every port...
    for (uint32_t port = FOLDVM_HC_PORT_BASE; port < FOLDVM_HC_PORT_BASE + 16; ++port)
        bitmap[port / 8] &= static_cast<uint8_t>(~(1u << (port % 8))); // ...but ours
    mem.write(kTssGpa, tss.data(), tss.size());
}

void setup_long_mode_sregs(kvm_sregs& s, int cpl) {
    s.cr3 = kPml4;
    s.cr4 = 0x20 | 0x200 | 0x400;                            // PAE, OSFXSR, OSXMMEXCPT
    s.cr0 = 0x80000000u | 0x10000 | 0x20 | 0x10 | 0x2 | 0x1; // PG WP NE ET MP PE
    s.efer = 0x500;                                          // LME | LMA
    s.gdt.base = FOLDVM_GDT_GPA;
    s.gdt.limit = 7 * 8 - 1;
    s.idt.base = 0;
    s.idt.limit = 0; // no IDT: any exception escalates to a triple fault
    s.cs = code_segment(cpl);
    kvm_segment data = data_segment(cpl);
    s.ds = s.es = s.fs = s.gs = s.ss = data;
    s.tr = kvm_segment{};
    s.tr.base = kTssGpa;
    s.tr.limit = kTssLimit;
    s.tr.selector = kTssSel;
    s.tr.type = 11;
    s.tr.present = 1;
    s.ldt = kvm_segment{};
    s.ldt.type = 2;
    s.ldt.unusable = 1;
}

kvm_regs initial_regs(uint64_t entry, uint64_t boot_info_gpa, int cpl) {
    kvm_regs r{};
    r.rip = entry;
    r.rsp = FOLDVM_STACK_TOP;
    r.rdi = boot_info_gpa;
    r.rflags = 0x2 | (cpl == 3 ? 0x3000 : 0); // IOPL 3 keeps port I/O legal at CPL 3
    return r;
}

} // namespace foldvm
