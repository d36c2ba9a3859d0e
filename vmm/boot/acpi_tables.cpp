#include "acpi_tables.hpp"

#include "aml.hpp"

#include <cstring>
#include <stdexcept>

namespace foldvm {

namespace {

using Bytes = std::vector<uint8_t>;

constexpr char kOemId[] = "FOLDVM";      // 6 bytes
constexpr char kOemTable[] = "FOLDVMMV"; // 8 bytes
constexpr uint32_t kFadtHwReducedAcpi = 1u << 20;
constexpr uint32_t kFadtResetRegSupported = 1u << 10;
constexpr uint16_t kBootArchVgaNotPresent = 1u << 2;
constexpr uint16_t kBootArchCmosRtcNotPresent = 1u << 5;
constexpr uint32_t kMadtPcatCompat = 1;
constexpr size_t kHeaderSize = 36;

template <typename T> void put(Bytes& b, size_t offset, T v) {
    std::memcpy(b.data() + offset, &v, sizeof v);
}

// A table with its standard 36-byte header; length and checksum are set by seal().
Bytes table(const char signature[4], uint8_t revision, size_t size) {
    Bytes b(size, 0);
    std::memcpy(b.data(), signature, 4);
    b[8] = revision;
    std::memcpy(b.data() + 10, kOemId, 6);
    std::memcpy(b.data() + 16, kOemTable, 8);
    put<uint32_t>(b, 24, 1);               // OEM revision
    std::memcpy(b.data() + 28, "FVMM", 4); // creator id
    put<uint32_t>(b, 32, 1);               // creator revision
    return b;
}

void seal(Bytes& b) {
    put<uint32_t>(b, 4, static_cast<uint32_t>(b.size()));
    b[9] = 0;
    b[9] = static_cast<uint8_t>(-acpi_checksum(b.data(), b.size()));
}

// Generic Address Structure for a byte-wide I/O port.
void put_io_gas(Bytes& b, size_t offset, uint16_t port) {
    b[offset] = 1;     // system I/O space
    b[offset + 1] = 8; // bit width
    b[offset + 2] = 0; // bit offset
    b[offset + 3] = 1; // byte access
    put<uint64_t>(b, offset + 4, port);
}

Bytes dsdt(const AcpiPlatform& p) {
    aml::Bytes devices;
    if (p.serial_port) {
        aml::Bytes crs = aml::resource_template(aml::concat(
            {aml::io_port(p.serial_port, 8), aml::extended_interrupt(p.serial_gsi, true)}));
        devices = aml::device(
            "COM1", aml::concat({aml::name("_HID", aml::eisa_id("PNP0501")),
                                 aml::name("_UID", aml::integer(0)), aml::name("_CRS", crs)}));
    }
    for (size_t i = 0; i < p.virtio_devices.size(); ++i) {
        const AcpiMmioDevice& d = p.virtio_devices[i];
        if (i > 999) throw std::length_error("ACPI: too many devices");
        char seg[16];
        std::snprintf(seg, sizeof seg, "V%03u", static_cast<unsigned>(i));
        // Edge-triggered: the device pulses its line per notification
        // (irqfd), as Firecracker does for virtio-mmio.
        aml::Bytes crs = aml::resource_template(
            aml::concat({aml::memory32_fixed(static_cast<uint32_t>(d.base),
                                             static_cast<uint32_t>(d.size), true),
                         aml::extended_interrupt(d.gsi, true)}));
        devices =
            aml::concat({devices, aml::device(seg, aml::concat({
                                                       aml::name("_HID", aml::string("LNRO0005")),
                                                       aml::name("_UID", aml::integer(i)),
                                                       aml::name("_CRS", crs),
                                                   }))});
    }
    aml::Bytes body = aml::scope("\\_SB_", devices);
    Bytes t = table("DSDT", 2, kHeaderSize);
    t.insert(t.end(), body.begin(), body.end());
    seal(t);
    return t;
}

Bytes fadt(const AcpiPlatform& p, uint64_t dsdt_gpa) {
    Bytes t = table("FACP", 6, 276);
    put<uint32_t>(t, 40, static_cast<uint32_t>(dsdt_gpa));
    put<uint16_t>(t, 109, kBootArchVgaNotPresent | kBootArchCmosRtcNotPresent);
    uint32_t flags = kFadtHwReducedAcpi;
    if (p.reset_port) {
        flags |= kFadtResetRegSupported;
        put_io_gas(t, 116, p.reset_port);
        t[128] = p.reset_value;
    }
    put<uint32_t>(t, 112, flags);
    t[131] = 4; // FADT minor version (6.4)
    put<uint64_t>(t, 140, dsdt_gpa);
    std::memcpy(t.data() + 268, "FOLDVMVM", 8); // hypervisor vendor identity
    seal(t);
    return t;
}

Bytes madt(const AcpiPlatform& p) {
    Bytes t = table("APIC", 5, kHeaderSize + 8);
    put<uint32_t>(t, 36, static_cast<uint32_t>(p.lapic_base));
    put<uint32_t>(t, 40, kMadtPcatCompat);
    for (int cpu = 0; cpu < p.vcpus; ++cpu) {
        // Processor Local APIC: type 0, length 8, UID, APIC id, enabled.
        Bytes e{0, 8, static_cast<uint8_t>(cpu), static_cast<uint8_t>(cpu), 1, 0, 0, 0};
        t.insert(t.end(), e.begin(), e.end());
    }
    // I/O APIC: type 1, length 12, id, reserved, address, GSI base 0.
    Bytes io(12, 0);
    io[0] = 1;
    io[1] = 12;
    io[2] = static_cast<uint8_t>(p.vcpus); // an id no LAPIC uses
    put<uint32_t>(io, 4, static_cast<uint32_t>(p.ioapic_base));
    t.insert(t.end(), io.begin(), io.end());
    seal(t);
    return t;
}

size_t align16(size_t v) {
    return (v + 15) & ~size_t{15};
}

} // namespace

uint8_t acpi_checksum(const uint8_t* data, size_t size) {
    uint8_t sum = 0;
    for (size_t i = 0; i < size; ++i)
        sum = static_cast<uint8_t>(sum + data[i]);
    return sum;
}

AcpiBlob build_acpi_tables(const AcpiPlatform& p, uint64_t base, uint64_t limit) {
    if (p.vcpus < 1 || p.vcpus > 254) throw std::invalid_argument("ACPI: vCPU count out of range");
    constexpr size_t kRsdpSize = 36;
    size_t xsdt_off = align16(kRsdpSize);
    size_t fadt_off = align16(xsdt_off + kHeaderSize + 2 * 8);
    size_t madt_off = align16(fadt_off + 276);
    Bytes madt_t = madt(p);
    size_t dsdt_off = align16(madt_off + madt_t.size());
    Bytes fadt_t = fadt(p, base + dsdt_off);
    Bytes dsdt_t = dsdt(p);

    Bytes xsdt_t = table("XSDT", 1, kHeaderSize + 2 * 8);
    put<uint64_t>(xsdt_t, 36, base + fadt_off);
    put<uint64_t>(xsdt_t, 44, base + madt_off);
    seal(xsdt_t);

    Bytes rsdp(kRsdpSize, 0);
    std::memcpy(rsdp.data(), "RSD PTR ", 8);
    std::memcpy(rsdp.data() + 9, kOemId, 6);
    rsdp[15] = 2; // ACPI 2.0+: XSDT
    put<uint32_t>(rsdp, 20, static_cast<uint32_t>(kRsdpSize));
    put<uint64_t>(rsdp, 24, base + xsdt_off);
    rsdp[8] = static_cast<uint8_t>(-acpi_checksum(rsdp.data(), 20));
    rsdp[32] = static_cast<uint8_t>(-acpi_checksum(rsdp.data(), kRsdpSize));

    AcpiBlob out;
    out.gpa = base;
    out.rsdp_gpa = base;
    out.bytes.resize(dsdt_off + dsdt_t.size(), 0);
    if (base + out.bytes.size() > limit)
        throw std::length_error("ACPI tables do not fit below " + std::to_string(limit));
    auto place = [&](size_t off, const Bytes& b) {
        std::memcpy(out.bytes.data() + off, b.data(), b.size());
    };
    place(0, rsdp);
    place(xsdt_off, xsdt_t);
    place(fadt_off, fadt_t);
    place(madt_off, madt_t);
    place(dsdt_off, dsdt_t);
    return out;
}

} // namespace foldvm
