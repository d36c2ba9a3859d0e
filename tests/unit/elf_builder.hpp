// Builds small ELF64 images in memory so loader tests can corrupt one field
// at a time.
#pragma once

#include <elf.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace foldvm::test {

struct ElfBuilder {
    Elf64_Ehdr eh{};
    std::vector<Elf64_Phdr> phdrs;
    std::vector<uint8_t> payload = std::vector<uint8_t>(64, 0x90);

    ElfBuilder() {
        std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
        eh.e_ident[EI_CLASS] = ELFCLASS64;
        eh.e_ident[EI_DATA] = ELFDATA2LSB;
        eh.e_ident[EI_VERSION] = EV_CURRENT;
        eh.e_type = ET_EXEC;
        eh.e_machine = EM_X86_64;
        eh.e_version = EV_CURRENT;
        eh.e_entry = 0x100000;
        eh.e_phoff = sizeof(Elf64_Ehdr);
        eh.e_ehsize = sizeof(Elf64_Ehdr);
        eh.e_phentsize = sizeof(Elf64_Phdr);
        Elf64_Phdr text{};
        text.p_type = PT_LOAD;
        text.p_flags = PF_R | PF_X;
        text.p_vaddr = text.p_paddr = 0x100000;
        text.p_filesz = 64;
        text.p_memsz = 0x2000;
        phdrs.push_back(text);
    }

    std::vector<uint8_t> build() {
        eh.e_phnum = static_cast<uint16_t>(phdrs.size());
        uint64_t data_off = sizeof(Elf64_Ehdr) + phdrs.size() * sizeof(Elf64_Phdr);
        for (auto& p : phdrs)
            if (p.p_offset == 0 && p.p_type == PT_LOAD) p.p_offset = data_off;
        std::vector<uint8_t> out(data_off + payload.size());
        std::memcpy(out.data(), &eh, sizeof eh);
        std::memcpy(out.data() + sizeof eh, phdrs.data(), phdrs.size() * sizeof(Elf64_Phdr));
        std::memcpy(out.data() + data_off, payload.data(), payload.size());
        return out;
    }
};

} // namespace foldvm::test
