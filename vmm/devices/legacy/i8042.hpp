// The PS/2 controller, as much as a Linux guest touches: controller commands
// (configuration byte, self tests, output port), a keyboard that acknowledges
// commands, and the CPU reset line. A reset (command 0xfe, or clearing bit 0
// of the output port) ends the VM, which is how `reboot=k` and the ACPI reset
// register stop a guest. Answering the probe quickly matters: without it
// Linux's i8042 driver waits ~2 s for a controller that never responds.
#pragma once

#include "vmm/bus/port_io.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

namespace foldvm {

class I8042 final : public PortIoHandler {
  public:
    static constexpr uint16_t kDataPort = 0x60;
    static constexpr uint16_t kCommandPort = 0x64;
    static constexpr uint8_t kResetCommand = 0xfe;
    static constexpr uint32_t kKeyboardIrq = 1;

    // `keyboard_irq` pulses IRQ 1 when keyboard data becomes readable.
    explicit I8042(std::function<void()> keyboard_irq = {})
        : keyboard_irq_(std::move(keyboard_irq)) {}

    IoResult on_port_io(uint16_t port, bool is_write, uint8_t* data, uint32_t size) override;

    // Register-level access; write_* return true when the guest reset the machine.
    uint8_t read_status();
    uint8_t read_data();
    bool write_command(uint8_t command);
    bool write_data(uint8_t value);

  private:
    void push_controller(uint8_t v) { output_.push_back(v); }
    void push_keyboard(uint8_t v);

    std::function<void()> keyboard_irq_;
    std::mutex mutex_;
    std::deque<uint8_t> output_;
    uint8_t config_ = 0x45;      // keyboard interrupt, system flag, translation
    uint8_t output_port_ = 0x01; // bit 0 high: CPU not in reset
    uint8_t pending_ = 0;        // controller command waiting for its data byte
    bool last_was_command_ = false;
};

} // namespace foldvm
