// The PC devices Linux guests drive, at register level: the 16550A UART's
// interrupt behaviour (what Linux's 8250 driver tests at startup) and the
// PS/2 controller's probe answers and reset line.
#include "vmm/devices/legacy/i8042.hpp"
#include "vmm/devices/legacy/serial8250.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace foldvm;

namespace {
constexpr uint8_t THR = 0, IER = 1, IIR = 2, LCR = 3, MCR = 4, LSR = 5;
}

TEST_CASE("8250: transmit reaches the host and THRE interrupts follow IER", "[legacy][serial]") {
    std::string out;
    std::vector<bool> irq;
    Serial8250 uart([&](const char* d, size_t n) { out.append(d, n); },
                    [&](bool level) { irq.push_back(level); });
    CHECK((uart.read(IIR) & 0x01) == 1);    // no interrupt pending
    CHECK((uart.read(LSR) & 0x60) == 0x60); // THR and shifter empty

    uart.write(IER, 0x02); // enable THRE: an idle transmitter interrupts at once
    REQUIRE(irq == std::vector<bool>{true});
    CHECK((uart.read(IIR) & 0x0f) == 0x02);
    CHECK(irq == std::vector<bool>{true, false}); // reading IIR acknowledged it
    CHECK((uart.read(IIR) & 0x01) == 1);

    uart.write(THR, 'h');
    uart.write(THR, 'i');
    CHECK(out == "hi");
    CHECK(irq.back() == true); // transmitter empty again
    uart.write(IER, 0);
    CHECK(irq.back() == false);
}

TEST_CASE("8250: receive, loopback and the divisor latch", "[legacy][serial]") {
    std::string out;
    bool level = false;
    Serial8250 uart([&](const char* d, size_t n) { out.append(d, n); }, [&](bool l) { level = l; });
    uart.write(IER, 0x01);
    const uint8_t input[] = {'o', 'k'};
    uart.receive(input, 2);
    CHECK(level);
    CHECK((uart.read(IIR) & 0x0f) == 0x04);
    CHECK((uart.read(LSR) & 0x01) == 1);
    CHECK(uart.read(THR) == 'o');
    CHECK(uart.read(THR) == 'k');
    CHECK_FALSE(level);
    CHECK((uart.read(LSR) & 0x01) == 0);

    uart.write(MCR, 0x10); // loopback: transmitted bytes come back, nothing leaves
    uart.write(THR, 'x');
    CHECK(out.empty());
    CHECK(uart.read(THR) == 'x');

    uart.write(LCR, 0x80); // DLAB: offsets 0 and 1 are the divisor
    uart.write(0, 0x01);
    uart.write(1, 0x00);
    CHECK(uart.read(0) == 0x01);
    uart.write(LCR, 0x03);
    CHECK(uart.read(IER) == 0x01); // IER untouched by divisor writes
}

TEST_CASE("i8042: probe answers, configuration byte and reset", "[legacy][i8042]") {
    int irqs = 0;
    I8042 kbc([&] { ++irqs; });
    CHECK((kbc.read_status() & 0x01) == 0);
    CHECK_FALSE(kbc.write_command(0xaa)); // self test
    CHECK((kbc.read_status() & 0x01) == 1);
    CHECK(kbc.read_data() == 0x55);
    CHECK_FALSE(kbc.write_command(0x20));
    uint8_t config = kbc.read_data();
    CHECK_FALSE(kbc.write_command(0x60));
    CHECK_FALSE(kbc.write_data(static_cast<uint8_t>(config & ~0x01)));
    CHECK_FALSE(kbc.write_command(0x20));
    CHECK(kbc.read_data() == (config & ~0x01));
    CHECK_FALSE(kbc.write_data(0xff)); // keyboard reset: ACK then self-test passed
    CHECK(kbc.read_data() == 0xfa);
    CHECK(kbc.read_data() == 0xaa);
    CHECK(irqs == 0); // keyboard interrupts disabled in the config byte

    CHECK(kbc.write_command(0xfe)); // pulse reset
    CHECK_FALSE(kbc.write_command(0xd1));
    CHECK(kbc.write_data(0x00)); // output port bit 0 low: reset
}
