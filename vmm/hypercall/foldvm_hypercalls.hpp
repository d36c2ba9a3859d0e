// The foldvm hypercall ABI (vmm/abi/foldvm_abi.h): console, exit, time,
// poll and boot info, with every guest pointer and length validated.
#pragma once

#include "guest_abi.hpp"
#include "vmm/bus/port_io.hpp"

namespace foldvm {

class GuestServices;

class FoldvmHypercalls : public PortIoHandler {
  public:
    explicit FoldvmHypercalls(GuestServices& services) : services_(services) {}
    IoResult on_port_io(uint16_t port, bool is_write, uint8_t* data, uint32_t size) override;

  private:
    GuestServices& services_;
};

class FoldvmAbi : public GuestAbi {
  public:
    const char* name() const override { return "foldvm"; }
    UnikernelBoot load(GuestMemory& memory, const UnikernelBootParams& params) override;
    void setup_vcpu(VcpuFd& vcpu, const UnikernelBoot& boot, int index, int guest_cpl) override;
    void attach(GuestServices& services) override;
};

} // namespace foldvm
