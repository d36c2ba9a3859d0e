#include "elf_builder.hpp"

#include "common/error.hpp"
#include "vmm/boot/elf_loader.hpp"

#include <catch2/catch.hpp>

using foldvm::ElfLimits;
using foldvm::InvalidInput;
using foldvm::parse_elf;
using foldvm::test::ElfBuilder;

namespace {

const ElfLimits kLimits{0x100000, 32ull << 20};

std::string rejection(const std::vector<uint8_t>& file, const ElfLimits& limits = kLimits) {
    try {
        parse_elf(file, limits);
    } catch (const InvalidInput& e) {
        return e.what();
    }
    return "";
}

} // namespace

TEST_CASE("a well-formed image is accepted", "[elf]") {
    ElfBuilder b;
    auto image = parse_elf(b.build(), kLimits);
    CHECK(image.entry == 0x100000);
    REQUIRE(image.segments.size() == 1);
    CHECK(image.end == 0x102000);
}

TEST_CASE("empty, truncated and oversized files are rejected", "[elf]") {
    CHECK_THAT(rejection({}), Catch::Contains("empty"));
    auto file = ElfBuilder().build();
    CHECK_THAT(rejection({file.begin(), file.begin() + 20}), Catch::Contains("truncated"));
    // Program headers cut off.
    CHECK_THAT(rejection({file.begin(), file.begin() + 70}), Catch::Contains("truncated"));
    ElfLimits tiny = kLimits;
    tiny.max_file_size = 100;
    CHECK_THAT(rejection(file, tiny), Catch::Contains("larger than"));
}

TEST_CASE("wrong class, endianness, machine and type are rejected", "[elf]") {
    ElfBuilder b;
    b.eh.e_ident[EI_CLASS] = ELFCLASS32;
    CHECK_THAT(rejection(b.build()), Catch::Contains("wrong class"));
    ElfBuilder m;
    m.eh.e_machine = EM_AARCH64;
    CHECK_THAT(rejection(m.build()), Catch::Contains("wrong machine"));
    ElfBuilder t;
    t.eh.e_type = ET_DYN;
    CHECK_THAT(rejection(t.build()), Catch::Contains("ET_EXEC"));
    ElfBuilder magic;
    magic.eh.e_ident[0] = 'X';
    CHECK_THAT(rejection(magic.build()), Catch::Contains("magic"));
    ElfBuilder e;
    e.eh.e_ident[EI_DATA] = ELFDATA2MSB;
    CHECK_THAT(rejection(e.build()), Catch::Contains("little-endian"));
}

TEST_CASE("huge phnum and bad phentsize are rejected", "[elf]") {
    ElfBuilder b;
    auto file = b.build();
    reinterpret_cast<Elf64_Ehdr*>(file.data())->e_phnum = 0xffff;
    CHECK_THAT(rejection(file), Catch::Contains("too many program headers"));
    ElfBuilder s;
    s.eh.e_phentsize = 12;
    CHECK_THAT(rejection(s.build()), Catch::Contains("program header size"));
    ElfBuilder off;
    auto f2 = off.build();
    reinterpret_cast<Elf64_Ehdr*>(f2.data())->e_phoff = ~0ull - 8;
    CHECK_THAT(rejection(f2), Catch::Contains("truncated"));
}

TEST_CASE("segments outside RAM, overlapping or truncated are rejected", "[elf]") {
    ElfBuilder low;
    low.phdrs[0].p_vaddr = 0x1000;
    low.eh.e_entry = 0x1000;
    CHECK_THAT(rejection(low.build()), Catch::Contains("outside loadable RAM"));

    ElfBuilder high;
    high.phdrs[0].p_memsz = 64ull << 20;
    CHECK_THAT(rejection(high.build()), Catch::Contains("outside loadable RAM"));

    ElfBuilder wrap;
    wrap.phdrs[0].p_memsz = ~0ull - 0x1000;
    CHECK_THAT(rejection(wrap.build()), Catch::Contains("outside loadable RAM"));

    ElfBuilder overlap;
    Elf64_Phdr second = overlap.phdrs[0];
    second.p_vaddr = 0x101000;
    second.p_flags = PF_R | PF_W;
    overlap.phdrs.push_back(second);
    CHECK_THAT(rejection(overlap.build()), Catch::Contains("overlap"));

    ElfBuilder trunc;
    trunc.phdrs[0].p_filesz = 4096;
    CHECK_THAT(rejection(trunc.build()), Catch::Contains("truncated"));

    ElfBuilder fs;
    fs.phdrs[0].p_filesz = 64;
    fs.phdrs[0].p_memsz = 32;
    CHECK_THAT(rejection(fs.build()), Catch::Contains("file size exceeds"));
}

TEST_CASE("entry must lie in an executable loaded segment", "[elf]") {
    ElfBuilder b;
    b.eh.e_entry = 0x900000;
    CHECK_THAT(rejection(b.build()), Catch::Contains("entry point"));
    ElfBuilder nx;
    nx.phdrs[0].p_flags = PF_R | PF_W;
    CHECK_THAT(rejection(nx.build()), Catch::Contains("entry point"));
}

TEST_CASE("images without loadable segments or with an interpreter are rejected", "[elf]") {
    ElfBuilder b;
    b.phdrs[0].p_type = PT_NOTE;
    CHECK_THAT(rejection(b.build()), Catch::Contains("no loadable segments"));
    ElfBuilder interp;
    Elf64_Phdr p{};
    p.p_type = PT_INTERP;
    interp.phdrs.insert(interp.phdrs.begin(), p);
    CHECK_THAT(rejection(interp.build()), Catch::Contains("PT_INTERP"));
}

TEST_CASE("random corruption never crashes the parser", "[elf][fuzz]") {
    auto good = ElfBuilder().build();
    uint64_t state = 0x1234567;
    for (int iter = 0; iter < 20000; ++iter) {
        auto file = good;
        int flips = 1 + static_cast<int>(state % 8);
        for (int f = 0; f < flips; ++f) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            file[(state >> 33) % file.size()] = static_cast<uint8_t>(state >> 13);
        }
        if (state & 1) file.resize((state >> 40) % file.size());
        try {
            parse_elf(file, kLimits);
        } catch (const InvalidInput&) {
        }
    }
    SUCCEED("parser survived 20000 corrupted images");
}
