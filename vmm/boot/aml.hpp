// Just enough of the ACPI Machine Language encoder to describe foldvm's
// devices in a DSDT (ACPI 6.4, section 20): scopes, devices, named strings,
// integers and resource-template buffers. Each function returns the
// encoded bytes of one term, so terms nest by concatenation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace foldvm::aml {

using Bytes = std::vector<uint8_t>;

// PkgLength prefix followed by `body` (the length counts its own bytes).
Bytes package_length_prefixed(const Bytes& body);
Bytes name_seg(const std::string& name); // 4 characters, padded with '_'
Bytes integer(uint64_t value);
Bytes string(const std::string& text);
Bytes buffer(const Bytes& data);
Bytes name(const std::string& seg, const Bytes& value);  // Name(XXXX, value)
Bytes device(const std::string& seg, const Bytes& body); // Device(XXXX) { body }
Bytes scope(const std::string& path, const Bytes& body); // Scope(\_SB_) { body }

// EisaId("PNP0501"): the compressed 32-bit form of a PNP id.
Bytes eisa_id(const std::string& id);

// Resource descriptors (section 6.4) for a _CRS buffer.
Bytes memory32_fixed(uint32_t base, uint32_t length, bool writable);
// A 16-bit-decoded I/O port range.
Bytes io_port(uint16_t base, uint8_t length);
// A 16-bit-decoded I/O port range.
Bytes io_port(uint16_t base, uint8_t length);
// One edge- or level-triggered, active-high, exclusive interrupt.
Bytes extended_interrupt(uint32_t gsi, bool edge_triggered);
Bytes resource_template(const Bytes& descriptors); // adds the end tag, wraps in a Buffer

Bytes concat(std::initializer_list<Bytes> parts);

} // namespace foldvm::aml
