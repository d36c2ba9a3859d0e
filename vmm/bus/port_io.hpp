// Port-I/O dispatch. Hypercall ABIs and legacy devices claim port ranges
// here, so a second guest ABI is a new handler, not a change to the vCPU loop.
#pragma once

#include "range_map.hpp"

#include <cstdint>
#include <string>

namespace foldvm {

// What the vCPU does after a port access.
struct IoResult {
    enum class Outcome { Continue, Exit, Fault } outcome = Outcome::Continue;
    int status = 0;      // exit status for Exit
    std::string message; // reason for Fault

    static IoResult cont() { return {}; }
    static IoResult exit(int status) { return {Outcome::Exit, status, {}}; }
    static IoResult fault(std::string why) { return {Outcome::Fault, 0, std::move(why)}; }
};

class PortIoHandler {
  public:
    virtual ~PortIoHandler() = default;
    // `data` holds `size` bytes: the value written, or the buffer to fill on
    // a read. Handlers get only the access; whatever else they need (console,
    // guest memory, interrupt lines) they are given when they are built.
    virtual IoResult on_port_io(uint16_t port, bool is_write, uint8_t* data, uint32_t size) = 0;
};

class IoBus : public RangeMap<uint16_t, PortIoHandler> {
  public:
    IoBus() : RangeMap("I/O port") {}
};

} // namespace foldvm
