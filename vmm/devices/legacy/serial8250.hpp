// A 16550A UART (the 8250 family Linux drives as ttyS0): transmit goes to
// the VM's console, receive is fed from the host (stdin), and the interrupt
// line follows the enabled conditions, as on a PC where COM1 is IRQ 4.
// Transmit is instantaneous, so THR is always empty and a THRE interrupt is
// pending whenever the driver enables it.
#pragma once

#include "vmm/bus/port_io.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

namespace foldvm {

class Serial8250 final : public PortIoHandler {
  public:
    static constexpr uint16_t kCom1Base = 0x3f8;
    static constexpr uint32_t kCom1Irq = 4;
    static constexpr uint16_t kPortCount = 8;

    // `output` receives transmitted bytes; `set_irq` drives the line level.
    Serial8250(std::function<void(const char*, size_t)> output, std::function<void(bool)> set_irq);

    IoResult on_port_io(uint16_t port, bool is_write, uint8_t* data, uint32_t size) override;
    // Host input for the guest (any thread). Drops bytes beyond the FIFO
    // budget rather than growing without bound.
    void receive(const uint8_t* data, size_t size);

    // Register access by offset (for tests and the handler).
    uint8_t read(uint8_t offset);
    void write(uint8_t offset, uint8_t value);

  private:
    uint8_t read_locked(uint8_t offset);
    void write_locked(uint8_t offset, uint8_t value);
    void update_irq_locked();

    std::function<void(const char*, size_t)> output_;
    std::function<void(bool)> set_irq_;
    std::mutex mutex_;
    std::deque<uint8_t> rx_;
    bool thre_pending_ = false;
    bool irq_level_ = false;
    uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0x08, fcr_ = 0, scr_ = 0, dll_ = 0x0c, dlm_ = 0;
};

} // namespace foldvm
