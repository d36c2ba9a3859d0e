// A guest ABI is an opt-in module that attaches port handlers to a VM. The
// foldvm ABI is the default; Solo5 hvt could be added as another module.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace foldvm {

class Vm;

class GuestAbi {
  public:
    virtual ~GuestAbi() = default;
    virtual const char* name() const = 0;
    virtual void attach(Vm& vm) = 0;
};

// Known ABIs by name ("foldvm"); throws InvalidInput for unknown names.
std::shared_ptr<GuestAbi> make_guest_abi(const std::string& name);
std::vector<std::string> guest_abi_names();

} // namespace foldvm
