#include "vmm/bus/mmio.hpp"
#include "vmm/bus/port_io.hpp"

#include <catch2/catch.hpp>

using namespace foldvm;

namespace {

struct NullPorts final : PortIoHandler {
    IoResult on_port_io(uint16_t, bool, uint8_t*, uint32_t) override { return IoResult::cont(); }
};

struct NullMmio final : MmioHandler {
    void mmio_read(uint64_t, uint8_t*, uint32_t) override {}
    void mmio_write(uint64_t, const uint8_t*, uint32_t) override {}
};

} // namespace

TEST_CASE("a bus finds the handler claiming an address and its offset", "[bus]") {
    MmioBus bus;
    auto a = std::make_shared<NullMmio>(), b = std::make_shared<NullMmio>();
    bus.add(0x1000, 0x100, a);
    bus.add(0x1100, 0x100, b); // adjacent claims are fine
    uint64_t offset = 0;
    CHECK(bus.find(0x0fff) == nullptr);
    CHECK(bus.find(0x1000, offset) == a.get());
    CHECK(offset == 0);
    CHECK(bus.find(0x10ff, offset) == a.get());
    CHECK(offset == 0xff);
    CHECK(bus.find(0x1100, offset) == b.get());
    CHECK(offset == 0);
    CHECK(bus.find(0x1200) == nullptr);
}

TEST_CASE("a bus refuses overlapping claims with both ranges in the error", "[bus]") {
    IoBus bus;
    auto serial = std::make_shared<NullPorts>();
    bus.add(0x3f8, 8, serial);
    auto overlaps = [&](uint16_t base, uint16_t count) {
        try {
            bus.add(base, count, std::make_shared<NullPorts>());
        } catch (const InvalidInput& e) {
            CHECK_THAT(e.what(), Catch::Contains("I/O port range") &&
                                     Catch::Contains("overlaps the range 0x3f8+0x8"));
            return true;
        }
        return false;
    };
    CHECK(overlaps(0x3f8, 8));     // the same range
    CHECK(overlaps(0x3f0, 9));     // the last port of a range below
    CHECK(overlaps(0x3ff, 1));     // the last port of the claim
    CHECK(overlaps(0x3fa, 1));     // inside the claim
    CHECK(overlaps(0x300, 0x200)); // around the claim
    CHECK_FALSE(overlaps(0x3f0, 8));
    CHECK_FALSE(overlaps(0x400, 1));
    // A refused claim changes nothing.
    CHECK(bus.find(0x3fa) == serial.get());
}

TEST_CASE("a bus refuses empty claims and claims past the end of its space", "[bus]") {
    IoBus ports;
    CHECK_THROWS_AS(ports.add(0x10, 0, std::make_shared<NullPorts>()), InvalidInput);
    CHECK_THROWS_AS(ports.add(0xfff0, 0x11, std::make_shared<NullPorts>()), InvalidInput);
    ports.add(0xfff0, 0x10, std::make_shared<NullPorts>()); // up to the last port
    CHECK(ports.find(0xffff) != nullptr);

    MmioBus mmio;
    CHECK_THROWS_AS(mmio.add(~0ull - 0xf, 0x11, std::make_shared<NullMmio>()), InvalidInput);
    mmio.add(~0ull - 0xf, 0x10, std::make_shared<NullMmio>());
    uint64_t offset = 0;
    CHECK(mmio.find(~0ull, offset) != nullptr);
    CHECK(offset == 0xf);
}
