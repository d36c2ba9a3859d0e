// The foldvm hypercall ABI (vmm/abi/foldvm_abi.h): console, exit, time,
// poll and boot info, with every guest pointer and length validated.
#pragma once

#include "guest_abi.hpp"
#include "vmm/machine/io_bus.hpp"

namespace foldvm {

class FoldvmHypercalls : public PortIoHandler {
  public:
    IoResult on_port_io(Vm& vm, int vcpu, uint16_t port, bool is_write, uint8_t* data,
                        uint32_t size) override;
};

class FoldvmAbi : public GuestAbi {
  public:
    const char* name() const override { return "foldvm"; }
    void attach(Vm& vm) override;
};

} // namespace foldvm
