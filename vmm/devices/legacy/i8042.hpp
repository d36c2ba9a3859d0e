// The slice of the PS/2 controller a Linux guest uses to reboot: a write of
// 0xfe (pulse reset) to the command port ends the VM, as `reboot=k` and the
// ACPI reset register both do. Reads report an idle controller so the
// keyboard-wait loops in Linux's reboot path fall through immediately.
#pragma once

#include "vmm/machine/io_bus.hpp"

namespace foldvm {

class I8042 final : public PortIoHandler {
  public:
    static constexpr uint16_t kDataPort = 0x60;
    static constexpr uint16_t kCommandPort = 0x64;
    static constexpr uint8_t kResetCommand = 0xfe;

    IoResult on_port_io(Vm& vm, int vcpu, uint16_t port, bool is_write, uint8_t* data,
                        uint32_t size) override;
};

} // namespace foldvm
