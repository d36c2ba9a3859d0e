// The registry of guest ABI modules: one row per ABI.
#include "guest_abi.hpp"

#include "foldvm_hypercalls.hpp"

#include "common/error.hpp"

#include <functional>

namespace foldvm {

namespace {

struct AbiEntry {
    const char* name;
    std::function<std::shared_ptr<GuestAbi>()> make;
};

const std::vector<AbiEntry>& registry() {
    static const std::vector<AbiEntry> entries = {
        {"foldvm", [] { return std::make_shared<FoldvmAbi>(); }},
    };
    return entries;
}

} // namespace

std::shared_ptr<GuestAbi> make_guest_abi(const std::string& name) {
    for (const auto& entry : registry())
        if (name == entry.name) return entry.make();
    std::string known;
    for (const auto& entry : registry())
        known += (known.empty() ? "" : ", ") + std::string(entry.name);
    throw InvalidInput("unknown guest ABI '" + name + "' (known: " + known + ")");
}

std::vector<std::string> guest_abi_names() {
    std::vector<std::string> names;
    for (const auto& entry : registry())
        names.emplace_back(entry.name);
    return names;
}

} // namespace foldvm
