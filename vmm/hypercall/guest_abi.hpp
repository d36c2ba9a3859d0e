// A guest ABI is an opt-in module: it loads its images into guest RAM, sets
// the vCPUs' entry state, and claims hypercall ports on a VM through the
// narrow GuestServices interface. The foldvm ABI is the default; Solo5 hvt
// is added as another module (and a row in the registry in guest_abi.cpp)
// without touching the machine.
#pragma once

#include "vmm/boot/unikernel_boot.hpp"

#include <memory>
#include <string>
#include <vector>

namespace foldvm {

class GuestMemory;
class GuestServices;
class VcpuFd;

class GuestAbi {
  public:
    virtual ~GuestAbi() = default;
    virtual const char* name() const = 0;
    // Loads the image and writes this ABI's boot structures into guest RAM.
    // Throws InvalidInput for an image the ABI cannot run.
    virtual UnikernelBoot load(GuestMemory& memory, const UnikernelBootParams& params) = 0;
    // Sets vCPU `index`'s registers to enter the loaded image.
    virtual void setup_vcpu(VcpuFd& vcpu, const UnikernelBoot& boot, int index, int guest_cpl) = 0;
    // Claims the ABI's ports; `services` outlives every handler it claims.
    virtual void attach(GuestServices& services) = 0;
};

// Known ABIs by name ("foldvm"); throws InvalidInput for unknown names.
std::shared_ptr<GuestAbi> make_guest_abi(const std::string& name);
std::vector<std::string> guest_abi_names();

} // namespace foldvm
