// Linux boot pieces that need no KVM: bzImage validation, the memory map,
// ACPI tables and the AML encoder.
#include "vmm/boot/acpi_tables.hpp"
#include "vmm/boot/aml.hpp"
#include "vmm/boot/bzimage.hpp"
#include "vmm/boot/bzimage_payload.hpp"
#include "vmm/boot/linux_layout.hpp"
#include "vmm/boot/linux_loader.hpp"

#include "common/error.hpp"

#include <catch2/catch.hpp>
#include <lz4.h>

#include <cstring>
#include <string>
#include <vector>

using namespace foldvm;

namespace {

template <typename T> void put(std::vector<uint8_t>& b, size_t off, T v) {
    std::memcpy(b.data() + off, &v, sizeof v);
}
template <typename T> T get(const std::vector<uint8_t>& b, size_t off) {
    T v;
    std::memcpy(&v, b.data() + off, sizeof v);
    return v;
}

// A minimal image with a well-formed boot protocol 2.15 header: 4 setup
// sectors, then `kernel_bytes` of "protected-mode kernel".
std::vector<uint8_t> fake_bzimage(size_t kernel_bytes = 64 * 1024) {
    std::vector<uint8_t> b(5 * 512 + kernel_bytes, 0x90);
    b[0x1f1] = 4;                                                      // setup_sects
    put<uint32_t>(b, 0x1f4, static_cast<uint32_t>(kernel_bytes / 16)); // syssize
    put<uint16_t>(b, 0x1fe, 0xaa55);
    b[0x200] = 0xeb;
    b[0x201] = 0x6a; // header runs to 0x26c
    std::memcpy(b.data() + 0x202, "HdrS", 4);
    put<uint16_t>(b, 0x206, 0x020f);
    b[0x211] = 0x01;                     // loadflags: LOADED_HIGH
    put<uint32_t>(b, 0x22c, 0x7fffffff); // initrd_addr_max
    put<uint32_t>(b, 0x230, 0x200000);   // kernel_alignment
    b[0x234] = 1;                        // relocatable
    put<uint16_t>(b, 0x236, 0x3);        // xloadflags: KERNEL_64 | CAN_BE_LOADED_ABOVE_4G
    put<uint32_t>(b, 0x238, 2047);       // cmdline_size
    put<uint64_t>(b, 0x258, 0x1000000);  // pref_address
    put<uint32_t>(b, 0x260, static_cast<uint32_t>(kernel_bytes * 4)); // init_size
    return b;
}

void expect_reject(const std::vector<uint8_t>& image, const std::string& fragment) {
    try {
        parse_bzimage(image);
        FAIL("accepted an image that should fail with: " << fragment);
    } catch (const InvalidInput& e) {
        INFO(e.what());
        CHECK(std::string(e.what()).find(fragment) != std::string::npos);
    }
}

} // namespace

TEST_CASE("a well-formed bzImage header is accepted", "[linux][bzimage]") {
    auto img = fake_bzimage();
    REQUIRE(looks_like_boot_image(img));
    BzImage bz = parse_bzimage(img);
    CHECK(bz.protocol == 0x020f);
    CHECK(bz.kernel_offset == 5 * 512);
    CHECK(bz.kernel_size == 64 * 1024);
    CHECK(bz.relocatable);
    CHECK(bz.cmdline_max == 2047);
    CHECK(bz.setup_header.size() == 0x26c - 0x1f1);
}

TEST_CASE("hostile or foreign bzImages are rejected with a reason", "[linux][bzimage]") {
    expect_reject({}, "truncated");
    expect_reject(std::vector<uint8_t>(600, 0), "truncated");
    auto img = fake_bzimage();
    SECTION("boot flag") {
        put<uint16_t>(img, 0x1fe, 0);
        expect_reject(img, "boot flag");
    }
    SECTION("magic") {
        img[0x203] = 'X';
        expect_reject(img, "HdrS");
    }
    SECTION("old protocol") {
        put<uint16_t>(img, 0x206, 0x0204);
        expect_reject(img, "older than 2.12");
    }
    SECTION("no 64-bit entry") {
        put<uint16_t>(img, 0x236, 0);
        expect_reject(img, "64-bit entry");
    }
    SECTION("zImage") {
        img[0x211] = 0;
        expect_reject(img, "load high");
    }
    SECTION("setup past the end") {
        img[0x1f1] = 200;
        expect_reject(img, "past the end");
    }
    SECTION("truncated kernel") {
        img.resize(img.size() - 4096);
        expect_reject(img, "truncated");
    }
    SECTION("alignment") {
        put<uint32_t>(img, 0x230, 0x300000);
        expect_reject(img, "power of two");
    }
    SECTION("init_size") {
        put<uint32_t>(img, 0x260, 16);
        expect_reject(img, "init_size");
    }
    SECTION("huge init_size") {
        put<uint32_t>(img, 0x260, 0xffffffff);
        expect_reject(img, "exceeds");
    }
    SECTION("no command line") {
        put<uint32_t>(img, 0x238, 0);
        expect_reject(img, "cmdline_size");
    }
    SECTION("non-relocatable at a silly address") {
        img[0x234] = 0;
        put<uint64_t>(img, 0x258, 0x1000);
        expect_reject(img, "non-relocatable");
    }
    SECTION("an ELF file is not a bzImage") {
        std::vector<uint8_t> elf(4096, 0);
        std::memcpy(elf.data(),
                    "\x7f"
                    "ELF",
                    4);
        CHECK_FALSE(looks_like_boot_image(elf));
    }
}

TEST_CASE("random corruption of a bzImage never escapes as anything but InvalidInput",
          "[linux][bzimage]") {
    auto good = fake_bzimage(8192);
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    for (int round = 0; round < 5000; ++round) {
        auto img = good;
        for (int k = 0; k < 4; ++k) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            img[0x1f0 + seed % 0x80] = static_cast<uint8_t>(seed >> 32);
        }
        if (seed % 7 == 0) img.resize(seed % img.size());
        try {
            BzImage bz = parse_bzimage(img);
            CHECK(bz.kernel_offset + bz.kernel_size == img.size());
            CHECK(bz.init_size >= bz.kernel_size);
        } catch (const InvalidInput&) {
        }
    }
}

TEST_CASE("the e820 map covers RAM without touching the BIOS holes", "[linux]") {
    auto map = linux_e820(256ull << 20);
    uint64_t ram = 0;
    for (auto& e : map)
        if (e.type == 1) ram += e.size;
    CHECK(ram == (256ull << 20) - (0x100000 - linux_layout::kEbda));
    CHECK(map.back().addr + map.back().size == 256ull << 20);
}

TEST_CASE("AML package lengths use the right number of bytes", "[linux][acpi]") {
    CHECK(aml::package_length_prefixed(std::vector<uint8_t>(10)).size() == 11);
    auto two = aml::package_length_prefixed(std::vector<uint8_t>(100));
    CHECK(two.size() == 102);
    CHECK((two[0] >> 6) == 1);
    CHECK(((two[0] & 0xf) | (two[1] << 4)) == 102);
    auto three = aml::package_length_prefixed(std::vector<uint8_t>(5000));
    CHECK((three[0] >> 6) == 2);
    CHECK(((three[0] & 0xf) | (three[1] << 4) | (three[2] << 12)) == 5003);
    CHECK(aml::eisa_id("PNP0501") == aml::integer(0x0105d041));
}

TEST_CASE("ACPI tables are consistent and checksummed", "[linux][acpi]") {
    AcpiPlatform p;
    p.vcpus = 2;
    p.lapic_base = linux_layout::kLapic;
    p.ioapic_base = linux_layout::kIoApic;
    p.serial_port = 0x3f8;
    p.serial_gsi = 4;
    p.reset_port = 0x64;
    p.reset_value = 0xfe;
    p.virtio_devices = {{0xd0000000, 0x1000, 5}, {0xd0001000, 0x1000, 6}};
    const uint64_t base = linux_layout::kAcpiTables;
    AcpiBlob blob = build_acpi_tables(p, base, linux_layout::kAcpiTablesEnd);
    const auto& b = blob.bytes;
    REQUIRE(std::memcmp(b.data(), "RSD PTR ", 8) == 0);
    CHECK(acpi_checksum(b.data(), 20) == 0);
    CHECK(acpi_checksum(b.data(), 36) == 0);

    auto table_at = [&](uint64_t gpa, const char* sig) {
        REQUIRE(gpa >= base);
        size_t off = gpa - base;
        REQUIRE(std::memcmp(b.data() + off, sig, 4) == 0);
        uint32_t len = get<uint32_t>(b, off + 4);
        REQUIRE(off + len <= b.size());
        CHECK(acpi_checksum(b.data() + off, len) == 0);
        return off;
    };
    size_t xsdt = table_at(get<uint64_t>(b, 24), "XSDT");
    size_t fadt = table_at(get<uint64_t>(b, xsdt + 36), "FACP");
    size_t madt = table_at(get<uint64_t>(b, xsdt + 44), "APIC");
    size_t dsdt = table_at(get<uint64_t>(b, fadt + 140), "DSDT");
    CHECK(get<uint32_t>(b, fadt + 112) & (1u << 20)); // hardware-reduced
    CHECK(get<uint64_t>(b, fadt + 120) == 0x64);      // reset register port
    CHECK(get<uint32_t>(b, madt + 4) == 36 + 8 + 2 * 8 + 12);

    std::string dsdt_text(b.begin() + static_cast<long>(dsdt), b.end());
    size_t first = dsdt_text.find("LNRO0005");
    CHECK(first != std::string::npos);
    CHECK(dsdt_text.find("LNRO0005", first + 1) != std::string::npos);
    CHECK(dsdt_text.find("COM1") != std::string::npos);
    CHECK_THROWS(build_acpi_tables(p, base, base + 64)); // does not fit
}

TEST_CASE("an LZ4 bzImage payload is inflated on the host; others are left to the guest",
          "[linux][bzimage]") {
    // Payload: legacy LZ4 frame of an "ELF" blob.
    std::vector<uint8_t> elf(100000, 0);
    std::memcpy(elf.data(),
                "\x7f"
                "ELF",
                4);
    for (size_t i = 4; i < elf.size(); ++i)
        elf[i] = static_cast<uint8_t>(i * 7 / 1000);
    std::vector<uint8_t> block(LZ4_compressBound(static_cast<int>(elf.size())));
    int n = LZ4_compress_default(reinterpret_cast<const char*>(elf.data()),
                                 reinterpret_cast<char*>(block.data()),
                                 static_cast<int>(elf.size()), static_cast<int>(block.size()));
    REQUIRE(n > 0);
    std::vector<uint8_t> payload(8 + static_cast<size_t>(n));
    put<uint32_t>(payload, 0, 0x184c2102);
    put<uint32_t>(payload, 4, static_cast<uint32_t>(n));
    std::memcpy(payload.data() + 8, block.data(), static_cast<size_t>(n));

    auto img = fake_bzimage(4096 + payload.size() + 16 - (payload.size() % 16));
    put<uint32_t>(img, 0x248, 0x100);                                 // payload_offset
    put<uint32_t>(img, 0x24c, static_cast<uint32_t>(payload.size())); // payload_length
    std::memcpy(img.data() + 5 * 512 + 0x100, payload.data(), payload.size());
    BzImage bz = parse_bzimage(img);
    auto out = decompress_bzimage_payload(img, bz);
    REQUIRE(out);
    CHECK(*out == elf);

    SECTION("a corrupt block is refused") {
        img[5 * 512 + 0x100 + 8 + 2] ^= 0xff;
        img[5 * 512 + 0x100 + 8 + 3] ^= 0xff;
        img[5 * 512 + 0x100 + 8] = 0xff;
        CHECK_THROWS_AS(decompress_bzimage_payload(img, parse_bzimage(img)), InvalidInput);
    }
    SECTION("gzip is left to the guest") {
        img[5 * 512 + 0x100] = 0x1f;
        img[5 * 512 + 0x100 + 1] = 0x8b;
        CHECK_FALSE(decompress_bzimage_payload(img, parse_bzimage(img)));
    }
    SECTION("a payload outside the file is refused") {
        put<uint32_t>(img, 0x24c, 0x7fffffff);
        CHECK_THROWS_AS(decompress_bzimage_payload(img, parse_bzimage(img)), InvalidInput);
    }
}
