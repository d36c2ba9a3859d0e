#include "aml.hpp"

#include <stdexcept>

namespace foldvm::aml {

namespace {

constexpr uint8_t kZeroOp = 0x00, kOneOp = 0x01, kByteOp = 0x0a, kWordOp = 0x0b, kDWordOp = 0x0c,
                  kQWordOp = 0x0e, kStringOp = 0x0d, kBufferOp = 0x11, kNameOp = 0x08,
                  kScopeOp = 0x10, kExtOpPrefix = 0x5b, kDeviceOp = 0x82, kRootChar = 0x5c;

void append_le(Bytes& out, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i)
        out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

} // namespace

Bytes concat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const Bytes& p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}

Bytes package_length_prefixed(const Bytes& body) {
    // One byte holds up to 63; longer lengths spread over 2-4 bytes, the
    // first carrying the count in bits 7:6 and the low nibble.
    Bytes out;
    size_t n = body.size();
    if (n + 1 <= 0x3f) {
        out.push_back(static_cast<uint8_t>(n + 1));
    } else {
        int extra = 1;
        while (extra < 3 && n + 1 + extra > (1ull << (4 + 8 * extra)) - 1)
            ++extra;
        uint64_t total = n + 1 + static_cast<uint64_t>(extra);
        if (total > (1ull << (4 + 8 * extra)) - 1) throw std::length_error("AML package too long");
        out.push_back(static_cast<uint8_t>((extra << 6) | (total & 0x0f)));
        append_le(out, total >> 4, extra);
    }
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

Bytes name_seg(const std::string& name) {
    if (name.empty() || name.size() > 4) throw std::invalid_argument("AML name segment: " + name);
    Bytes out(name.begin(), name.end());
    out.resize(4, '_');
    return out;
}

Bytes integer(uint64_t v) {
    if (v == 0) return {kZeroOp};
    if (v == 1) return {kOneOp};
    int width = v <= 0xff ? 1 : v <= 0xffff ? 2 : v <= 0xffffffff ? 4 : 8;
    uint8_t op = width == 1 ? kByteOp : width == 2 ? kWordOp : width == 4 ? kDWordOp : kQWordOp;
    Bytes out;
    out.reserve(9);
    out.push_back(op);
    append_le(out, v, width);
    return out;
}

Bytes string(const std::string& text) {
    Bytes out;
    out.reserve(text.size() + 2);
    out.push_back(kStringOp);
    for (char c : text)
        out.push_back(static_cast<uint8_t>(c));
    out.push_back(0);
    return out;
}

Bytes buffer(const Bytes& data) {
    Bytes out{kBufferOp};
    Bytes body = concat({integer(data.size()), data});
    Bytes pkg = package_length_prefixed(body);
    out.insert(out.end(), pkg.begin(), pkg.end());
    return out;
}

Bytes name(const std::string& seg, const Bytes& value) {
    return concat({{kNameOp}, name_seg(seg), value});
}

Bytes device(const std::string& seg, const Bytes& body) {
    return concat(
        {{kExtOpPrefix, kDeviceOp}, package_length_prefixed(concat({name_seg(seg), body}))});
}

Bytes scope(const std::string& path, const Bytes& body) {
    // Only absolute single-segment paths ("\_SB_") are needed.
    if (path.size() != 5 || path[0] != '\\') throw std::invalid_argument("AML scope: " + path);
    return concat({{kScopeOp},
                   package_length_prefixed(concat({{kRootChar}, name_seg(path.substr(1)), body}))});
}

Bytes eisa_id(const std::string& id) {
    if (id.size() != 7) throw std::invalid_argument("EISA id must be 7 characters: " + id);
    auto letter = [&](int i) {
        return static_cast<uint32_t>(id[static_cast<size_t>(i)] - '@') & 0x1f;
    };
    auto hex = [&](int i) {
        char c = id[static_cast<size_t>(i)];
        return static_cast<uint32_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10) & 0xf;
    };
    // Three 5-bit letters and four hex digits, stored big-endian.
    uint32_t v = (letter(0) << 26) | (letter(1) << 21) | (letter(2) << 16) | (hex(3) << 12) |
                 (hex(4) << 8) | (hex(5) << 4) | hex(6);
    return integer(__builtin_bswap32(v));
}

Bytes io_port(uint16_t base, uint8_t length) {
    Bytes out{0x47, 0x01};
    append_le(out, base, 2); // minimum
    append_le(out, base, 2); // maximum
    out.push_back(1);        // alignment
    out.push_back(length);
    return out;
}

Bytes memory32_fixed(uint32_t base, uint32_t length, bool writable) {
    Bytes out{0x86, 9, 0, static_cast<uint8_t>(writable ? 1 : 0)};
    append_le(out, base, 4);
    append_le(out, length, 4);
    return out;
}

Bytes extended_interrupt(uint32_t gsi, bool edge_triggered) {
    // Flags: bit 0 consumer, bit 1 edge, bit 2 active-low (no), bit 3 shared (no).
    uint8_t flags = static_cast<uint8_t>(0x01 | (edge_triggered ? 0x02 : 0));
    Bytes out{0x89, 6, 0, flags, 1};
    append_le(out, gsi, 4);
    return out;
}

Bytes resource_template(const Bytes& descriptors) {
    // End tag with a zero checksum, which means "treat as correct".
    return buffer(concat({descriptors, {0x79, 0x00}}));
}

} // namespace foldvm::aml
