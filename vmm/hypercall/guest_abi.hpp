// A guest ABI is an opt-in module that claims hypercall ports on a VM,
// through the narrow GuestServices interface. The foldvm ABI is the default;
// Solo5 hvt can be added as another module without touching the machine.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace foldvm {

class GuestServices;

class GuestAbi {
  public:
    virtual ~GuestAbi() = default;
    virtual const char* name() const = 0;
    // Claims the ABI's ports; `services` outlives every handler it claims.
    virtual void attach(GuestServices& services) = 0;
};

// Known ABIs by name ("foldvm"); throws InvalidInput for unknown names.
std::shared_ptr<GuestAbi> make_guest_abi(const std::string& name);
std::vector<std::string> guest_abi_names();

} // namespace foldvm
