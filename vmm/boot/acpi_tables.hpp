// ACPI tables for Linux guests: RSDP → XSDT → FADT (hardware-reduced) →
// DSDT, plus a MADT for the in-kernel LAPICs and IOAPIC. The DSDT lists
// virtio-mmio devices as LNRO0005, which stock distribution kernels probe
// without a custom command line (virtio_mmio.device= needs a kernel option
// Debian's cloud kernel lacks).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace foldvm {

struct AcpiMmioDevice {
    uint64_t base;
    uint64_t size;
    uint32_t gsi;
};

struct AcpiPlatform {
    int vcpus = 1;
    std::vector<AcpiMmioDevice> virtio_devices;
    uint64_t lapic_base = 0;
    uint64_t ioapic_base = 0;
    // Legacy UART (COM1). In hardware-reduced ACPI Linux has no legacy PIC
    // and no ISA IRQs, so the port only gets its interrupt through a PNP0501
    // device in the DSDT.
    uint16_t serial_port = 0; // 0 = none
    uint32_t serial_gsi = 0;
    uint16_t reset_port = 0; // FADT reset register (I/O space)
    uint8_t reset_value = 0;
};

struct AcpiBlob {
    uint64_t gpa = 0;      // where `bytes` must be placed
    uint64_t rsdp_gpa = 0; // the RSDP (start of the blob)
    std::vector<uint8_t> bytes;
};

// Lays the tables out from `base`; throws if they would pass `limit`.
AcpiBlob build_acpi_tables(const AcpiPlatform& platform, uint64_t base, uint64_t limit);

// Byte sum of `data` (a table is valid when its sum is 0 mod 256).
uint8_t acpi_checksum(const uint8_t* data, size_t size);

} // namespace foldvm
