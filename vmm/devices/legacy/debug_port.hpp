// Two guest-to-monitor signals on I/O ports for Linux guests:
//   0x600  boot marker: the guest's init writes a byte (123 by convention,
//          as with Firecracker's boot timer) and the monitor records the
//          time since VM creation, to measure time to init;
//   0x601  exit: the byte written becomes the VM's exit status, so a
//          command's status reaches the host without parsing the console.
#pragma once

#include "vmm/bus/port_io.hpp"

#include <functional>

namespace foldvm {

class DebugPort final : public PortIoHandler {
  public:
    static constexpr uint16_t kBase = 0x600;
    static constexpr uint16_t kBootMarker = 0x600;
    static constexpr uint16_t kExit = 0x601;
    static constexpr uint16_t kPortCount = 2;

    explicit DebugPort(std::function<void(uint8_t)> on_marker) : on_marker_(std::move(on_marker)) {}

    IoResult on_port_io(uint16_t port, bool is_write, uint8_t* data, uint32_t size) override;

  private:
    std::function<void(uint8_t)> on_marker_;
};

} // namespace foldvm
