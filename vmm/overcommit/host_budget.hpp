// The default memory budget when none is given: what the host can spare now.
#pragma once

#include <cstdint>
#include <string>

namespace foldvm::overcommit {

struct DerivedBudget {
    uint64_t bytes = 0;
    std::string why; // for the log: the inputs it came from
};

// 90% of MemAvailable, and 75% when /proc/pressure/memory shows stalls
// already (some avg10 >= 5%): a host under pressure gets more headroom.
DerivedBudget derive_budget();

} // namespace foldvm::overcommit
