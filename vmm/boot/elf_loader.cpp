#include "elf_loader.hpp"

#include "common/error.hpp"
#include "vmm/memory/guest_memory.hpp"

#include <elf.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <fstream>

namespace foldvm {

namespace {

std::string hex(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

[[noreturn]] void reject(const std::string& why) {
    throw InvalidInput("invalid ELF image: " + why);
}

// Overflow-safe "offset + len <= total".
bool fits(uint64_t offset, uint64_t len, uint64_t total) {
    return offset <= total && len <= total - offset;
}

} // namespace

ElfImage parse_elf(std::span<const uint8_t> file, const ElfLimits& limits) {
    if (file.empty()) reject("file is empty");
    if (file.size() > limits.max_file_size)
        reject("file is " + std::to_string(file.size()) + " bytes, larger than the " +
               std::to_string(limits.max_file_size) + "-byte limit");
    if (file.size() < sizeof(Elf64_Ehdr)) reject("truncated: shorter than an ELF header");

    Elf64_Ehdr eh;
    std::memcpy(&eh, file.data(), sizeof eh);
    if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) reject("bad magic (not an ELF file)");
    if (eh.e_ident[EI_CLASS] != ELFCLASS64) reject("not ELF64 (wrong class)");
    if (eh.e_ident[EI_DATA] != ELFDATA2LSB) reject("not little-endian");
    if (eh.e_ident[EI_VERSION] != EV_CURRENT) reject("unknown ELF version");
    if (eh.e_machine != EM_X86_64)
        reject("wrong machine " + std::to_string(eh.e_machine) + " (need x86-64)");
    if (eh.e_type != ET_EXEC) reject("not a static executable (e_type must be ET_EXEC)");
    if (eh.e_phentsize != sizeof(Elf64_Phdr))
        reject("unexpected program header size " + std::to_string(eh.e_phentsize));
    if (eh.e_phnum == 0) reject("no program headers");
    if (eh.e_phnum > limits.max_phnum)
        reject("too many program headers (" + std::to_string(eh.e_phnum) + " > " +
               std::to_string(limits.max_phnum) + ")");
    if (!fits(eh.e_phoff, uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr), file.size()))
        reject("truncated: program headers extend past the end of the file");

    ElfImage image;
    image.entry = eh.e_entry;
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        Elf64_Phdr ph;
        std::memcpy(&ph, file.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
        if (ph.p_type == PT_INTERP) reject("dynamically linked (has PT_INTERP)");
        if (ph.p_type != PT_LOAD) continue;
        std::string where = "segment " + std::to_string(i);
        if (ph.p_filesz > ph.p_memsz) reject(where + ": file size exceeds memory size");
        if (!fits(ph.p_offset, ph.p_filesz, file.size()))
            reject(where + ": truncated (data extends past the end of the file)");
        uint64_t gpa = limits.physical ? ph.p_paddr : ph.p_vaddr;
        if (gpa < limits.min_gpa || !fits(gpa, ph.p_memsz, limits.max_gpa))
            reject(where + " [" + hex(gpa) + ", +" + hex(ph.p_memsz) +
                   ") is outside loadable RAM [" + hex(limits.min_gpa) + ", " +
                   hex(limits.max_gpa) + ")");
        if (ph.p_memsz == 0) continue;
        image.segments.push_back(
            {gpa, ph.p_offset, ph.p_filesz, ph.p_memsz, (ph.p_flags & PF_X) != 0});
    }
    if (image.segments.empty()) reject("no loadable segments");

    std::sort(image.segments.begin(), image.segments.end(),
              [](const ElfSegment& a, const ElfSegment& b) { return a.gpa < b.gpa; });
    for (size_t i = 1; i < image.segments.size(); ++i) {
        const ElfSegment& prev = image.segments[i - 1];
        if (prev.gpa + prev.mem_size > image.segments[i].gpa)
            reject("segments overlap at " + hex(image.segments[i].gpa));
    }
    bool entry_ok = std::any_of(image.segments.begin(), image.segments.end(), [&](auto& s) {
        return s.executable && image.entry >= s.gpa && image.entry - s.gpa < s.mem_size;
    });
    if (!entry_ok) reject("entry point " + hex(image.entry) + " is not in an executable segment");
    const ElfSegment& last = image.segments.back();
    image.end = (last.gpa + last.mem_size + kPageSize - 1) & ~(kPageSize - 1);
    if (image.end > limits.max_gpa) reject("image end is outside loadable RAM");
    return image;
}

void load_elf(std::span<const uint8_t> file, const ElfImage& image, GuestMemory& mem) {
    for (const ElfSegment& s : image.segments) {
        mem.write(s.gpa, file.data() + s.file_offset, s.file_size);
        // Fresh anonymous RAM is already zero: .bss needs no explicit write.
    }
}

std::vector<uint8_t> read_image_file(const std::string& path, uint64_t max_size) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InvalidInput("cannot open image '" + path + "': " + std::strerror(errno));
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
        throw InvalidInput("image '" + path + "' is not a regular file");
    in.seekg(0, std::ios::end);
    auto size = static_cast<uint64_t>(in.tellg());
    if (size == 0) throw InvalidInput("image '" + path + "' is empty");
    if (size > max_size)
        throw InvalidInput("image '" + path + "' is " + std::to_string(size) + " bytes, over the " +
                           std::to_string(max_size) + "-byte limit");
    in.seekg(0);
    std::vector<uint8_t> data(size);
    in.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(size));
    if (!in) throw InvalidInput("short read on image '" + path + "'");
    return data;
}

} // namespace foldvm
